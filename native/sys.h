/* Shared helpers of the tsfuse_sys addon: argument conversion and errno errors. */
#ifndef TSFUSE_SYS_H
#define TSFUSE_SYS_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <node_api.h>

/* Per-environment state (one per main thread or worker), so that workers never
 * share the scratch buffers. */
typedef struct {
	double *out;       /* results of stat-like calls, read by src/sys before the next call */
	uint64_t *out64;   /* exact dev and ino, for values above 2^53 */
	char *xattr;       /* XATTR_SIZE_MAX bytes: a value or a list is read here in one call */
} sys_state;

#define OUT_SLOTS 32   /* doubles; the u64 slots follow them in the same ArrayBuffer */
#define OUT64_SLOTS 2

sys_state *get_state(napi_env env);

/* Throws a Node-style Error: message "ENOENT: no such file or directory, openat 'x'",
 * .code = errno name, .errno = positive errno, .syscall, and .path when path != NULL.
 * Returns NULL so that callers can `return throw_errno(...)`. */
napi_value throw_errno(napi_env env, int err, const char *syscall, const char *path);
napi_value errno_error(napi_env env, int err, const char *syscall, const char *path);
napi_value throw_type(napi_env env, const char *msg);

/* A path or name argument: a string (UTF-8) or a Buffer (bytes as they are), copied
 * NUL-terminated into buf (PATH_MAX bytes). With allow_null, null/undefined gives NULL.
 * Returns false with an exception pending. */
bool get_path(napi_env env, napi_value v, char *buf, const char **out, bool allow_null,
	      const char *syscall);
bool get_int(napi_env env, napi_value v, int32_t *out);
bool get_u32(napi_env env, napi_value v, uint32_t *out);
bool get_i64(napi_env env, napi_value v, int64_t *out);
bool get_bool(napi_env env, napi_value v, bool *out);

napi_value make_number(napi_env env, double v);

struct flock;
/* argv[0..4] = type, whence, start, len, pid */
bool get_flock(napi_env env, napi_value *argv, struct flock *fl);

/* Fetches exactly n arguments into argv (missing ones are undefined). */
#define ARGS(n)                                                        \
	size_t argc = (n);                                             \
	napi_value argv[(n) > 0 ? (n) : 1];                            \
	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) \
		return NULL

void lock_wait_init(napi_env env, napi_value exports);
void commfd_init(napi_env env, napi_value exports);
void uring_init(napi_env env, napi_value exports);

#endif
