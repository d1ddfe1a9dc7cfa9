/* tsfuse_sys: the Linux syscalls Node's fs lacks, one thin wrapper each.
 * Results that are records (stat, statx, statfs, flock) are written as doubles into a
 * per-environment scratch ArrayBuffer that src/sys turns into objects: building the
 * object in JS measured faster than napi_set_named_property per field (bench/sys.ts). */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include "sys.h"

#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452 /* the same number on every architecture, Linux 6.6 */
#endif
#ifndef XATTR_SIZE_MAX
#define XATTR_SIZE_MAX 65536 /* linux/limits.h: also the largest list the kernel returns */
#endif

/* An optional last argument `true` asks a call to return -errno instead of throwing: for the
 * failures that are ordinary answers (src/sys says which calls take it), where even an Error
 * without a stack, thrown and caught, cost more than the syscall. */
static bool wants_errno(napi_env env, napi_value v)
{
	bool b = false;
	napi_get_value_bool(env, v, &b); /* undefined: false */
	return b;
}

/* errnoError(errno, syscall, path?): the error a call would have thrown. */
static napi_value js_errno_error(napi_env env, napi_callback_info info)
{
	char buf[PATH_MAX];
	const char *path = NULL;
	char syscall[64];
	size_t len;
	int32_t err;
	ARGS(3);
	if (!get_int(env, argv[0], &err))
		return NULL;
	if (napi_get_value_string_utf8(env, argv[1], syscall, sizeof syscall, &len) != napi_ok)
		return throw_type(env, "syscall must be a string");
	if (!get_path(env, argv[2], buf, &path, true, syscall))
		return NULL;
	return errno_error(env, err, syscall, path);
}

/* ---- files and directories ---- */

static napi_value js_openat(napi_env env, napi_callback_info info)
{
	char buf[PATH_MAX];
	const char *name;
	int32_t dirfd, flags;
	uint32_t mode;
	ARGS(5);
	if (!get_int(env, argv[0], &dirfd) || !get_path(env, argv[1], buf, &name, false, "openat") ||
	    !get_int(env, argv[2], &flags) || !get_u32(env, argv[3], &mode))
		return NULL;
	/* Like libuv's open: no descriptor may leak into spawned children (mount, umount). */
	int fd = openat(dirfd, name, flags | O_CLOEXEC, mode);
	if (fd < 0)
		return wants_errno(env, argv[4]) ? make_number(env, -errno) : throw_errno(env, errno, "openat", name);
	return make_number(env, fd);
}

static void fill_stat(sys_state *s, const struct stat *st)
{
	double *o = s->out;
	o[0] = st->st_dev;
	o[1] = st->st_ino;
	o[2] = st->st_mode;
	o[3] = st->st_nlink;
	o[4] = st->st_uid;
	o[5] = st->st_gid;
	o[6] = st->st_rdev;
	o[7] = st->st_size;
	o[8] = st->st_blksize;
	o[9] = st->st_blocks;
	o[10] = st->st_atim.tv_sec;
	o[11] = st->st_atim.tv_nsec;
	o[12] = st->st_mtim.tv_sec;
	o[13] = st->st_mtim.tv_nsec;
	o[14] = st->st_ctim.tv_sec;
	o[15] = st->st_ctim.tv_nsec;
	s->out64[0] = st->st_dev;
	s->out64[1] = st->st_ino;
}

static napi_value js_fstatat(napi_env env, napi_callback_info info)
{
	char buf[PATH_MAX];
	const char *name;
	int32_t dirfd, flags;
	struct stat st;
	ARGS(3);
	if (!get_int(env, argv[0], &dirfd) || !get_path(env, argv[1], buf, &name, false, "fstatat") ||
	    !get_int(env, argv[2], &flags))
		return NULL;
	if (fstatat(dirfd, name, &st, flags) < 0)
		return throw_errno(env, errno, "fstatat", name);
	fill_stat(get_state(env), &st);
	return NULL;
}

static napi_value js_fstat(napi_env env, napi_callback_info info)
{
	int32_t fd;
	struct stat st;
	ARGS(1);
	if (!get_int(env, argv[0], &fd))
		return NULL;
	if (fstat(fd, &st) < 0)
		return throw_errno(env, errno, "fstat", NULL);
	fill_stat(get_state(env), &st);
	return NULL;
}

static napi_value js_statx(napi_env env, napi_callback_info info)
{
	char buf[PATH_MAX];
	const char *name;
	int32_t dirfd, flags;
	uint32_t mask;
	struct statx st;
	ARGS(4);
	if (!get_int(env, argv[0], &dirfd) || !get_path(env, argv[1], buf, &name, false, "statx") ||
	    !get_int(env, argv[2], &flags) || !get_u32(env, argv[3], &mask))
		return NULL;
	if (statx(dirfd, name, flags, mask, &st) < 0)
		return throw_errno(env, errno, "statx", name);
	sys_state *s = get_state(env);
	double *o = s->out;
	o[0] = st.stx_mask;
	o[1] = st.stx_blksize;
	o[2] = st.stx_attributes;
	o[3] = st.stx_nlink;
	o[4] = st.stx_uid;
	o[5] = st.stx_gid;
	o[6] = st.stx_mode;
	o[7] = st.stx_ino;
	o[8] = st.stx_size;
	o[9] = st.stx_blocks;
	o[10] = st.stx_attributes_mask;
	o[11] = st.stx_atime.tv_sec;
	o[12] = st.stx_atime.tv_nsec;
	o[13] = st.stx_btime.tv_sec;
	o[14] = st.stx_btime.tv_nsec;
	o[15] = st.stx_ctime.tv_sec;
	o[16] = st.stx_ctime.tv_nsec;
	o[17] = st.stx_mtime.tv_sec;
	o[18] = st.stx_mtime.tv_nsec;
	o[19] = makedev(st.stx_rdev_major, st.stx_rdev_minor);
	o[20] = makedev(st.stx_dev_major, st.stx_dev_minor);
	s->out64[0] = makedev(st.stx_dev_major, st.stx_dev_minor);
	s->out64[1] = st.stx_ino;
	return NULL;
}

static napi_value js_mkdirat(napi_env env, napi_callback_info info)
{
	char buf[PATH_MAX];
	const char *name;
	int32_t dirfd;
	uint32_t mode;
	ARGS(3);
	if (!get_int(env, argv[0], &dirfd) || !get_path(env, argv[1], buf, &name, false, "mkdirat") ||
	    !get_u32(env, argv[2], &mode))
		return NULL;
	if (mkdirat(dirfd, name, mode) < 0)
		return throw_errno(env, errno, "mkdirat", name);
	return NULL;
}

static napi_value js_mknodat(napi_env env, napi_callback_info info)
{
	char buf[PATH_MAX];
	const char *name;
	int32_t dirfd;
	uint32_t mode;
	int64_t dev;
	ARGS(4);
	if (!get_int(env, argv[0], &dirfd) || !get_path(env, argv[1], buf, &name, false, "mknodat") ||
	    !get_u32(env, argv[2], &mode) || !get_i64(env, argv[3], &dev))
		return NULL;
	if (mknodat(dirfd, name, mode, (dev_t)dev) < 0)
		return throw_errno(env, errno, "mknodat", name);
	return NULL;
}

static napi_value js_symlinkat(napi_env env, napi_callback_info info)
{
	char tbuf[PATH_MAX], buf[PATH_MAX];
	const char *target, *name;
	int32_t dirfd;
	ARGS(3);
	if (!get_path(env, argv[0], tbuf, &target, false, "symlinkat") ||
	    !get_int(env, argv[1], &dirfd) || !get_path(env, argv[2], buf, &name, false, "symlinkat"))
		return NULL;
	if (symlinkat(target, dirfd, name) < 0)
		return throw_errno(env, errno, "symlinkat", name);
	return NULL;
}

static napi_value js_readlinkat(napi_env env, napi_callback_info info)
{
	char buf[PATH_MAX], target[PATH_MAX];
	const char *name;
	int32_t dirfd;
	napi_value result;
	ARGS(2);
	if (!get_int(env, argv[0], &dirfd) || !get_path(env, argv[1], buf, &name, false, "readlinkat"))
		return NULL;
	ssize_t n = readlinkat(dirfd, name, target, sizeof target);
	if (n < 0)
		return throw_errno(env, errno, "readlinkat", name);
	/* A full buffer may be a truncated target; the kernel keeps targets below PATH_MAX. */
	if (n == sizeof target)
		return throw_errno(env, ENAMETOOLONG, "readlinkat", name);
	napi_create_buffer_copy(env, n, target, NULL, &result);
	return result;
}

static napi_value js_unlinkat(napi_env env, napi_callback_info info)
{
	char buf[PATH_MAX];
	const char *name;
	int32_t dirfd, flags;
	ARGS(3);
	if (!get_int(env, argv[0], &dirfd) || !get_path(env, argv[1], buf, &name, false, "unlinkat") ||
	    !get_int(env, argv[2], &flags))
		return NULL;
	if (unlinkat(dirfd, name, flags) < 0)
		return throw_errno(env, errno, "unlinkat", name);
	return NULL;
}

static napi_value js_linkat(napi_env env, napi_callback_info info)
{
	char obuf[PATH_MAX], nbuf[PATH_MAX];
	const char *oldname, *newname;
	int32_t olddirfd, newdirfd, flags;
	ARGS(5);
	if (!get_int(env, argv[0], &olddirfd) ||
	    !get_path(env, argv[1], obuf, &oldname, false, "linkat") ||
	    !get_int(env, argv[2], &newdirfd) ||
	    !get_path(env, argv[3], nbuf, &newname, false, "linkat") || !get_int(env, argv[4], &flags))
		return NULL;
	if (linkat(olddirfd, oldname, newdirfd, newname, flags) < 0)
		return throw_errno(env, errno, "linkat", newname);
	return NULL;
}

static napi_value js_renameat2(napi_env env, napi_callback_info info)
{
	char obuf[PATH_MAX], nbuf[PATH_MAX];
	const char *oldname, *newname;
	int32_t olddirfd, newdirfd;
	uint32_t flags;
	ARGS(5);
	if (!get_int(env, argv[0], &olddirfd) ||
	    !get_path(env, argv[1], obuf, &oldname, false, "renameat2") ||
	    !get_int(env, argv[2], &newdirfd) ||
	    !get_path(env, argv[3], nbuf, &newname, false, "renameat2") || !get_u32(env, argv[4], &flags))
		return NULL;
	if (renameat2(olddirfd, oldname, newdirfd, newname, flags) < 0)
		return throw_errno(env, errno, "renameat2", oldname);
	return NULL;
}

static napi_value js_fchownat(napi_env env, napi_callback_info info)
{
	char buf[PATH_MAX];
	const char *name;
	int32_t dirfd, flags;
	int64_t uid, gid;
	ARGS(5);
	/* uid/gid -1 leave the owner or group unchanged, as in chown(2). */
	if (!get_int(env, argv[0], &dirfd) || !get_path(env, argv[1], buf, &name, false, "fchownat") ||
	    !get_i64(env, argv[2], &uid) || !get_i64(env, argv[3], &gid) || !get_int(env, argv[4], &flags))
		return NULL;
	if (fchownat(dirfd, name, (uid_t)uid, (gid_t)gid, flags) < 0)
		return throw_errno(env, errno, "fchownat", name);
	return NULL;
}

/* The fchmodat syscall has no flags argument; fchmodat2 (Linux 6.6) honours AT_EMPTY_PATH,
 * which is how an O_PATH descriptor is chmod'ed, and AT_SYMLINK_NOFOLLOW. Without it
 * (ENOSYS, or EPERM from older container seccomp profiles), AT_EMPTY_PATH goes through
 * /proc/self/fd/N (as passthrough_hp does) and AT_SYMLINK_NOFOLLOW through glibc's
 * emulation (EOPNOTSUPP on a symlink). */
static napi_value js_fchmodat(napi_env env, napi_callback_info info)
{
	char buf[PATH_MAX];
	const char *name;
	int32_t dirfd, flags;
	uint32_t mode;
	ARGS(4);
	if (!get_int(env, argv[0], &dirfd) || !get_path(env, argv[1], buf, &name, false, "fchmodat") ||
	    !get_u32(env, argv[2], &mode) || !get_int(env, argv[3], &flags))
		return NULL;
	int r = flags == 0 ? fchmodat(dirfd, name, mode, 0)
			   : syscall(SYS_fchmodat2, dirfd, name, mode, flags);
	if (r < 0 && flags != 0 && (errno == ENOSYS || errno == EPERM)) {
		if ((flags & AT_EMPTY_PATH) && name[0] == '\0') {
			char proc[64];
			snprintf(proc, sizeof proc, "/proc/self/fd/%d", dirfd);
			r = chmod(proc, mode);
		} else {
			r = fchmodat(dirfd, name, mode, flags & ~AT_EMPTY_PATH);
		}
	}
	if (r < 0)
		return throw_errno(env, errno, "fchmodat", name);
	return NULL;
}

static bool get_timespec(napi_env env, napi_value sec, napi_value nsec, struct timespec *ts)
{
	int64_t s, ns;
	if (!get_i64(env, sec, &s) || !get_i64(env, nsec, &ns))
		return false;
	ts->tv_sec = s;
	ts->tv_nsec = ns;
	return true;
}

static napi_value js_utimensat(napi_env env, napi_callback_info info)
{
	char buf[PATH_MAX];
	const char *name;
	int32_t dirfd, flags;
	struct timespec ts[2];
	ARGS(7);
	/* name null: the file dirfd refers to (Linux-only); not for O_PATH fds, use "" and
	 * AT_EMPTY_PATH for those. */
	if (!get_int(env, argv[0], &dirfd) || !get_path(env, argv[1], buf, &name, true, "utimensat") ||
	    !get_timespec(env, argv[2], argv[3], &ts[0]) ||
	    !get_timespec(env, argv[4], argv[5], &ts[1]) || !get_int(env, argv[6], &flags))
		return NULL;
	/* glibc's utimensat refuses a NULL name (EINVAL) that the kernel takes, as futimens. */
	int r = name != NULL ? utimensat(dirfd, name, ts, flags)
		: flags == 0 ? futimens(dirfd, ts)
			     : (errno = EINVAL, -1);
	if (r < 0)
		return throw_errno(env, errno, "utimensat", name);
	return NULL;
}

static napi_value js_futimens(napi_env env, napi_callback_info info)
{
	int32_t fd;
	struct timespec ts[2];
	ARGS(5);
	if (!get_int(env, argv[0], &fd) || !get_timespec(env, argv[1], argv[2], &ts[0]) ||
	    !get_timespec(env, argv[3], argv[4], &ts[1]))
		return NULL;
	if (futimens(fd, ts) < 0)
		return throw_errno(env, errno, "futimens", NULL);
	return NULL;
}

/* ---- file contents and file systems ---- */

static napi_value js_fallocate(napi_env env, napi_callback_info info)
{
	int32_t fd, mode;
	int64_t offset, len;
	ARGS(4);
	if (!get_int(env, argv[0], &fd) || !get_int(env, argv[1], &mode) ||
	    !get_i64(env, argv[2], &offset) || !get_i64(env, argv[3], &len))
		return NULL;
	if (fallocate(fd, mode, offset, len) < 0)
		return throw_errno(env, errno, "fallocate", NULL);
	return NULL;
}

static napi_value js_lseek(napi_env env, napi_callback_info info)
{
	int32_t fd, whence;
	int64_t offset;
	ARGS(3);
	if (!get_int(env, argv[0], &fd) || !get_i64(env, argv[1], &offset) ||
	    !get_int(env, argv[2], &whence))
		return NULL;
	off_t r = lseek(fd, offset, whence);
	if (r < 0)
		return throw_errno(env, errno, "lseek", NULL);
	return make_number(env, r);
}

static bool get_optional_offset(napi_env env, napi_value v, loff_t *off, loff_t **ptr)
{
	napi_valuetype type;
	int64_t n;
	napi_typeof(env, v, &type);
	if (type == napi_null || type == napi_undefined) {
		*ptr = NULL;
		return true;
	}
	if (!get_i64(env, v, &n))
		return false;
	*off = n;
	*ptr = off;
	return true;
}

/* offIn/offOut null: use and advance the descriptor's file position. */
static napi_value js_copy_file_range(napi_env env, napi_callback_info info)
{
	int32_t fd_in, fd_out;
	uint32_t flags;
	int64_t len;
	loff_t off_in, off_out, *p_in, *p_out;
	ARGS(6);
	if (!get_int(env, argv[0], &fd_in) || !get_optional_offset(env, argv[1], &off_in, &p_in) ||
	    !get_int(env, argv[2], &fd_out) || !get_optional_offset(env, argv[3], &off_out, &p_out) ||
	    !get_i64(env, argv[4], &len) || !get_u32(env, argv[5], &flags))
		return NULL;
	if (len < 0) /* as size_t it would mean "copy everything" */
		return throw_errno(env, EINVAL, "copy_file_range", NULL);
	ssize_t n = copy_file_range(fd_in, p_in, fd_out, p_out, len, flags);
	if (n < 0)
		return throw_errno(env, errno, "copy_file_range", NULL);
	return make_number(env, n);
}

/*
 * Raises RLIMIT_NOFILE to `want` (soft and, where needed and allowed, hard) and
 * returns the soft limit now in force. A loopback holds one O_PATH fd per
 * inode the kernel knows, as passthrough_hp does, so the default 1024/20000
 * limits end a mirror of a large tree with EMFILE.
 */
static napi_value js_raise_nofile_limit(napi_env env, napi_callback_info info)
{
	int64_t want;
	struct rlimit rl;
	ARGS(1);
	if (!get_i64(env, argv[0], &want))
		return NULL;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return throw_errno(env, errno, "getrlimit", NULL);
	if ((rlim_t)want > rl.rlim_cur) {
		struct rlimit next = rl;
		next.rlim_cur = (rlim_t)want;
		if (next.rlim_max < next.rlim_cur)
			next.rlim_max = next.rlim_cur;
		if (setrlimit(RLIMIT_NOFILE, &next) < 0) {
			/* Without CAP_SYS_RESOURCE the hard limit is the ceiling. */
			next.rlim_cur = rl.rlim_max;
			next.rlim_max = rl.rlim_max;
			if (setrlimit(RLIMIT_NOFILE, &next) < 0)
				return throw_errno(env, errno, "setrlimit", NULL);
		}
		if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
			return throw_errno(env, errno, "getrlimit", NULL);
	}
	return make_number(env, (double)rl.rlim_cur);
}

static napi_value js_syncfs(napi_env env, napi_callback_info info)
{
	int32_t fd;
	ARGS(1);
	if (!get_int(env, argv[0], &fd))
		return NULL;
	if (syncfs(fd) < 0)
		return throw_errno(env, errno, "syncfs", NULL);
	return NULL;
}

static napi_value js_fstatfs(napi_env env, napi_callback_info info)
{
	int32_t fd;
	struct statfs st;
	ARGS(1);
	if (!get_int(env, argv[0], &fd))
		return NULL;
	if (fstatfs(fd, &st) < 0)
		return throw_errno(env, errno, "fstatfs", NULL);
	double *o = get_state(env)->out;
	o[0] = st.f_bsize;
	o[1] = st.f_frsize;
	o[2] = st.f_blocks;
	o[3] = st.f_bfree;
	o[4] = st.f_bavail;
	o[5] = st.f_files;
	o[6] = st.f_ffree;
	o[7] = st.f_namelen;
	o[8] = st.f_type;
	o[9] = st.f_flags;
	return NULL;
}

/* ---- extended attributes ----
 * Each family is one function: target is an fd (f*xattr) or a path, followed
 * (*xattr, needed for /proc/self/fd/N) or not (l*xattr). */

typedef struct {
	bool is_fd;
	int fd;
	const char *path;
	bool follow;
} xattr_target;

static bool get_target(napi_env env, napi_value target, napi_value follow, char *buf,
		       xattr_target *t, const char *syscall)
{
	napi_valuetype type;
	napi_typeof(env, target, &type);
	t->is_fd = type == napi_number;
	t->fd = -1;
	t->path = NULL;
	t->follow = false;
	if (t->is_fd)
		return get_int(env, target, &t->fd);
	return get_path(env, target, buf, &t->path, false, syscall) && get_bool(env, follow, &t->follow);
}

static const char *xattr_syscall(const xattr_target *t, const char *fname, const char *name,
				 const char *lname)
{
	return t->is_fd ? fname : t->follow ? name : lname;
}

/* size < 0: the whole value; size 0: its length (a number); size > 0: at most size bytes,
 * ERANGE if the value is longer (what FUSE_GETXATTR asks for). */
static napi_value js_getxattr(napi_env env, napi_callback_info info)
{
	char pbuf[PATH_MAX], nbuf[PATH_MAX];
	const char *name;
	xattr_target t;
	int64_t size;
	napi_value result;
	ARGS(5);
	if (!get_target(env, argv[0], argv[1], pbuf, &t, "getxattr") ||
	    !get_path(env, argv[2], nbuf, &name, false, "getxattr") || !get_i64(env, argv[3], &size))
		return NULL;
	char *value = size == 0 ? NULL : get_state(env)->xattr;
	size_t cap = size == 0 ? 0 : (size < 0 || size > XATTR_SIZE_MAX) ? XATTR_SIZE_MAX : size;
	ssize_t n = t.is_fd ? fgetxattr(t.fd, name, value, cap)
		  : t.follow  ? getxattr(t.path, name, value, cap)
			      : lgetxattr(t.path, name, value, cap);
	if (n < 0 && wants_errno(env, argv[4]))
		return make_number(env, -errno);
	if (n < 0)
		return throw_errno(env, errno, xattr_syscall(&t, "fgetxattr", "getxattr", "lgetxattr"),
				   t.path ? t.path : name);
	if (size == 0)
		return make_number(env, n);
	napi_create_buffer_copy(env, n, value, NULL, &result);
	return result;
}

static napi_value js_setxattr(napi_env env, napi_callback_info info)
{
	char pbuf[PATH_MAX], nbuf[PATH_MAX];
	const char *name;
	xattr_target t;
	void *value;
	size_t len;
	int32_t flags;
	bool is_buffer = false;
	ARGS(5);
	if (!get_target(env, argv[0], argv[1], pbuf, &t, "setxattr") ||
	    !get_path(env, argv[2], nbuf, &name, false, "setxattr") || !get_int(env, argv[4], &flags))
		return NULL;
	if (napi_is_buffer(env, argv[3], &is_buffer) != napi_ok || !is_buffer)
		return throw_type(env, "an xattr value must be a Buffer");
	napi_get_buffer_info(env, argv[3], &value, &len);
	int r = t.is_fd ? fsetxattr(t.fd, name, value, len, flags)
		: t.follow  ? setxattr(t.path, name, value, len, flags)
			    : lsetxattr(t.path, name, value, len, flags);
	if (r < 0)
		return throw_errno(env, errno, xattr_syscall(&t, "fsetxattr", "setxattr", "lsetxattr"),
				   t.path ? t.path : name);
	return NULL;
}

/* size as for getxattr; the list is the names, each followed by a NUL. */
static napi_value js_listxattr(napi_env env, napi_callback_info info)
{
	char pbuf[PATH_MAX];
	xattr_target t;
	int64_t size;
	napi_value result;
	ARGS(3);
	if (!get_target(env, argv[0], argv[1], pbuf, &t, "listxattr") || !get_i64(env, argv[2], &size))
		return NULL;
	char *list = size == 0 ? NULL : get_state(env)->xattr;
	size_t cap = size == 0 ? 0 : (size < 0 || size > XATTR_SIZE_MAX) ? XATTR_SIZE_MAX : size;
	ssize_t n = t.is_fd ? flistxattr(t.fd, list, cap)
		  : t.follow  ? listxattr(t.path, list, cap)
			      : llistxattr(t.path, list, cap);
	if (n < 0)
		return throw_errno(env, errno, xattr_syscall(&t, "flistxattr", "listxattr", "llistxattr"),
				   t.path);
	if (size == 0)
		return make_number(env, n);
	napi_create_buffer_copy(env, n, list, NULL, &result);
	return result;
}

static napi_value js_removexattr(napi_env env, napi_callback_info info)
{
	char pbuf[PATH_MAX], nbuf[PATH_MAX];
	const char *name;
	xattr_target t;
	ARGS(3);
	if (!get_target(env, argv[0], argv[1], pbuf, &t, "removexattr") ||
	    !get_path(env, argv[2], nbuf, &name, false, "removexattr"))
		return NULL;
	int r = t.is_fd ? fremovexattr(t.fd, name)
		: t.follow  ? removexattr(t.path, name)
			    : lremovexattr(t.path, name);
	if (r < 0)
		return throw_errno(env, errno,
				   xattr_syscall(&t, "fremovexattr", "removexattr", "lremovexattr"),
				   t.path ? t.path : name);
	return NULL;
}

/* ---- non-blocking locks (the blocking ones are in lock_wait.c) ---- */

static napi_value js_flock(napi_env env, napi_callback_info info)
{
	int32_t fd, op;
	ARGS(2);
	if (!get_int(env, argv[0], &fd) || !get_int(env, argv[1], &op))
		return NULL;
	/* Blocking here would stop the event loop; lockWait is the blocking form. */
	if (!(op & LOCK_NB) && !(op & LOCK_UN))
		return throw_errno(env, EINVAL, "flock", NULL);
	if (flock(fd, op) < 0)
		return throw_errno(env, errno, "flock", NULL);
	return NULL;
}

/* argv[0..4]: type, whence, start, len, pid */
bool get_flock(napi_env env, napi_value *argv, struct flock *fl)
{
	int32_t type, whence, pid;
	int64_t start, len;
	if (!get_int(env, argv[0], &type) || !get_int(env, argv[1], &whence) ||
	    !get_i64(env, argv[2], &start) || !get_i64(env, argv[3], &len) || !get_int(env, argv[4], &pid))
		return false;
	memset(fl, 0, sizeof *fl);
	fl->l_type = type;
	fl->l_whence = whence;
	fl->l_start = start;
	fl->l_len = len;
	fl->l_pid = pid;
	return true;
}

/* getlk(fd, cmd, type, whence, start, len, pid): cmd F_GETLK or F_OFD_GETLK. */
static napi_value js_getlk(napi_env env, napi_callback_info info)
{
	int32_t fd, cmd;
	struct flock fl;
	ARGS(7);
	if (!get_int(env, argv[0], &fd) || !get_int(env, argv[1], &cmd) || !get_flock(env, argv + 2, &fl))
		return NULL;
	if (cmd != F_GETLK && cmd != F_OFD_GETLK)
		return throw_errno(env, EINVAL, "fcntl", NULL);
	if (fcntl(fd, cmd, &fl) < 0)
		return throw_errno(env, errno, "fcntl", NULL);
	double *o = get_state(env)->out;
	o[0] = fl.l_type;
	o[1] = fl.l_whence;
	o[2] = fl.l_start;
	o[3] = fl.l_len;
	o[4] = fl.l_pid;
	return NULL;
}

/* setlk(fd, cmd, type, whence, start, len, pid): cmd F_SETLK or F_OFD_SETLK. */
static napi_value js_setlk(napi_env env, napi_callback_info info)
{
	int32_t fd, cmd;
	struct flock fl;
	ARGS(7);
	if (!get_int(env, argv[0], &fd) || !get_int(env, argv[1], &cmd) || !get_flock(env, argv + 2, &fl))
		return NULL;
	if (cmd != F_SETLK && cmd != F_OFD_SETLK)
		return throw_errno(env, EINVAL, "fcntl", NULL);
	if (fcntl(fd, cmd, &fl) < 0)
		return throw_errno(env, errno, "fcntl", NULL);
	return NULL;
}

/* ---- module ---- */

static void set_constant(napi_env env, napi_value obj, const char *name, double value)
{
	napi_set_named_property(env, obj, name, make_number(env, value));
}

static napi_value constants(napi_env env)
{
	napi_value c;
	napi_create_object(env, &c);
#define C(name) set_constant(env, c, #name, name)
	C(O_PATH); C(O_TMPFILE); C(O_NOFOLLOW); C(O_DIRECTORY); C(O_CLOEXEC); C(O_NOATIME);
	C(AT_FDCWD); C(AT_EMPTY_PATH); C(AT_SYMLINK_NOFOLLOW); C(AT_SYMLINK_FOLLOW);
	C(AT_REMOVEDIR); C(AT_NO_AUTOMOUNT);
	C(AT_STATX_SYNC_AS_STAT); C(AT_STATX_FORCE_SYNC); C(AT_STATX_DONT_SYNC);
	C(STATX_TYPE); C(STATX_MODE); C(STATX_NLINK); C(STATX_UID); C(STATX_GID);
	C(STATX_ATIME); C(STATX_MTIME); C(STATX_CTIME); C(STATX_INO); C(STATX_SIZE);
	C(STATX_BLOCKS); C(STATX_BASIC_STATS); C(STATX_BTIME);
	C(RENAME_NOREPLACE); C(RENAME_EXCHANGE); C(RENAME_WHITEOUT);
	C(FALLOC_FL_KEEP_SIZE); C(FALLOC_FL_PUNCH_HOLE); C(FALLOC_FL_NO_HIDE_STALE);
	C(FALLOC_FL_COLLAPSE_RANGE); C(FALLOC_FL_ZERO_RANGE); C(FALLOC_FL_INSERT_RANGE);
	C(FALLOC_FL_UNSHARE_RANGE);
	C(SEEK_SET); C(SEEK_CUR); C(SEEK_END); C(SEEK_DATA); C(SEEK_HOLE);
	C(XATTR_CREATE); C(XATTR_REPLACE);
	C(LOCK_SH); C(LOCK_EX); C(LOCK_UN); C(LOCK_NB);
	C(F_GETLK); C(F_SETLK); C(F_SETLKW); C(F_OFD_GETLK); C(F_OFD_SETLK); C(F_OFD_SETLKW);
	C(F_RDLCK); C(F_WRLCK); C(F_UNLCK);
	C(UTIME_NOW); C(UTIME_OMIT);
#undef C
	return c;
}

static void free_state(napi_env env, void *data, void *hint)
{
	(void)env;
	(void)hint;
	sys_state *s = data;
	free(s->xattr);
	free(s);
}

static napi_value init(napi_env env, napi_value exports)
{
	napi_property_descriptor fns[] = {
#define F(name, fn) { name, NULL, fn, NULL, NULL, NULL, napi_enumerable, NULL }
		F("errnoError", js_errno_error),
		F("openat", js_openat),
		F("fstatat", js_fstatat),
		F("fstat", js_fstat),
		F("statx", js_statx),
		F("mkdirat", js_mkdirat),
		F("mknodat", js_mknodat),
		F("symlinkat", js_symlinkat),
		F("readlinkat", js_readlinkat),
		F("unlinkat", js_unlinkat),
		F("linkat", js_linkat),
		F("renameat2", js_renameat2),
		F("fchownat", js_fchownat),
		F("fchmodat", js_fchmodat),
		F("utimensat", js_utimensat),
		F("futimens", js_futimens),
		F("fallocate", js_fallocate),
		F("lseek", js_lseek),
		F("copyFileRange", js_copy_file_range),
		F("syncfs", js_syncfs),
		F("raiseNofileLimit", js_raise_nofile_limit),
		F("fstatfs", js_fstatfs),
		F("getxattr", js_getxattr),
		F("setxattr", js_setxattr),
		F("listxattr", js_listxattr),
		F("removexattr", js_removexattr),
		F("flock", js_flock),
		F("getlk", js_getlk),
		F("setlk", js_setlk),
#undef F
	};
	napi_value scratch;
	void *data;
	sys_state *s = calloc(1, sizeof *s);
	if (s == NULL || (s->xattr = malloc(XATTR_SIZE_MAX)) == NULL) {
		napi_throw_error(env, "ENOMEM", "tsfuse_sys: out of memory");
		return NULL;
	}
	napi_ref keep;
	napi_create_arraybuffer(env, OUT_SLOTS * 8 + OUT64_SLOTS * 8, &data, &scratch);
	napi_create_reference(env, scratch, 1, &keep); /* s->out must outlive any JS reference */
	s->out = data;
	s->out64 = (uint64_t *)((char *)data + OUT_SLOTS * 8);
	napi_set_instance_data(env, s, free_state, NULL);

	napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns);
	napi_set_named_property(env, exports, "scratch", scratch);
	napi_set_named_property(env, exports, "constants", constants(env));
	lock_wait_init(env, exports);
	commfd_init(env, exports);
	uring_init(env, exports);
	return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
