/* Argument conversion and errno errors shared by every syscall wrapper. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>
#include "sys.h"

sys_state *get_state(napi_env env)
{
	void *data = NULL;
	napi_get_instance_data(env, &data);
	return data;
}

/* The same names and texts Node's fs uses (libuv's table, e.g. ENOTSUP for 95), so that
 * code comparing err.code treats our errors and fs's alike. */
static void errno_name(int err, char *buf, size_t size)
{
	uv_err_name_r(-err, buf, size);
	if (strncmp(buf, "Unknown", 7) == 0) {
#ifdef __GLIBC__
		const char *name = strerrorname_np(err);
		if (name != NULL)
			snprintf(buf, size, "%s", name);
		else
#endif
			snprintf(buf, size, "E%d", err);
	}
}

/* Most errno errors are answers, not bugs: ENOENT for a LOOKUP of a name that does not exist,
 * ENODATA for the GETXATTR of security.capability the kernel sends before the first write to
 * every new file. Capturing a stack trace for them cost more than the syscall: on a 2-core VM
 * (Linux 6.18, Node 20) a failing openat took 24-41 us through this addon with the default
 * Error.stackTraceLimit of 10, 6 us in C, and `new Error()` in JS 10 us against 1.5 us with
 * the limit at 0. So the trace is left out (the message names the syscall and the path). */
static void create_error_without_stack(napi_env env, napi_value code, napi_value msg,
				       napi_value *error)
{
	napi_value global, ctor, limit, zero;
	bool saved = napi_get_global(env, &global) == napi_ok &&
		     napi_get_named_property(env, global, "Error", &ctor) == napi_ok &&
		     napi_get_named_property(env, ctor, "stackTraceLimit", &limit) == napi_ok &&
		     napi_create_int32(env, 0, &zero) == napi_ok &&
		     napi_set_named_property(env, ctor, "stackTraceLimit", zero) == napi_ok;
	napi_create_error(env, code, msg, error);
	if (saved)
		napi_set_named_property(env, ctor, "stackTraceLimit", limit);
}

napi_value errno_error(napi_env env, int err, const char *syscall, const char *path)
{
	char code[32], text[128], msg[PATH_MAX + 256];
	napi_value js_code, js_msg, error, v;

	errno_name(err, code, sizeof code);
	uv_strerror_r(-err, text, sizeof text);
	if (strncmp(text, "Unknown", 7) == 0)
		snprintf(text, sizeof text, "%s", strerror(err));
	if (path != NULL)
		snprintf(msg, sizeof msg, "%s: %s, %s '%s'", code, text, syscall, path);
	else
		snprintf(msg, sizeof msg, "%s: %s, %s", code, text, syscall);
	napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &js_code);
	napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &js_msg);
	create_error_without_stack(env, js_code, js_msg, &error);
	napi_create_int32(env, err, &v);
	napi_set_named_property(env, error, "errno", v);
	napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &v);
	napi_set_named_property(env, error, "syscall", v);
	if (path != NULL) {
		napi_create_string_utf8(env, path, NAPI_AUTO_LENGTH, &v);
		napi_set_named_property(env, error, "path", v);
	}
	return error;
}

napi_value throw_errno(napi_env env, int err, const char *syscall, const char *path)
{
	napi_throw(env, errno_error(env, err, syscall, path));
	return NULL;
}

napi_value throw_type(napi_env env, const char *msg)
{
	napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
	return NULL;
}

bool get_path(napi_env env, napi_value v, char *buf, const char **out, bool allow_null,
	      const char *syscall)
{
	napi_valuetype type;
	bool is_buffer = false;
	size_t len;

	napi_typeof(env, v, &type);
	if (allow_null && (type == napi_null || type == napi_undefined)) {
		*out = NULL;
		return true;
	}
	if (type == napi_string) {
		napi_get_value_string_utf8(env, v, buf, PATH_MAX, &len);
		/* A full buffer may mean a truncated copy: ask for the real length. */
		if (len == PATH_MAX - 1) {
			napi_get_value_string_utf8(env, v, NULL, 0, &len);
			if (len >= PATH_MAX) {
				throw_errno(env, ENAMETOOLONG, syscall, NULL);
				return false;
			}
		}
	} else if (napi_is_buffer(env, v, &is_buffer) == napi_ok && is_buffer) {
		void *data;
		napi_get_buffer_info(env, v, &data, &len);
		if (len >= PATH_MAX) {
			throw_errno(env, ENAMETOOLONG, syscall, NULL);
			return false;
		}
		memcpy(buf, data, len);
		buf[len] = '\0';
	} else {
		throw_type(env, "a path or name must be a string or a Buffer");
		return false;
	}
	/* An embedded NUL would silently name a different file. */
	if (strlen(buf) != len) {
		throw_errno(env, EINVAL, syscall, buf);
		return false;
	}
	*out = buf;
	return true;
}

bool get_int(napi_env env, napi_value v, int32_t *out)
{
	if (napi_get_value_int32(env, v, out) == napi_ok)
		return true;
	throw_type(env, "expected a number");
	return false;
}

bool get_u32(napi_env env, napi_value v, uint32_t *out)
{
	if (napi_get_value_uint32(env, v, out) == napi_ok)
		return true;
	throw_type(env, "expected a number");
	return false;
}

bool get_i64(napi_env env, napi_value v, int64_t *out)
{
	if (napi_get_value_int64(env, v, out) == napi_ok)
		return true;
	throw_type(env, "expected a number");
	return false;
}

bool get_bool(napi_env env, napi_value v, bool *out)
{
	if (napi_get_value_bool(env, v, out) == napi_ok)
		return true;
	throw_type(env, "expected a boolean");
	return false;
}

napi_value make_number(napi_env env, double v)
{
	napi_value result;
	napi_create_double(env, v, &result);
	return result;
}
