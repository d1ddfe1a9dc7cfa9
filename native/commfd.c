/* The receiving end of fusermount3's protocol: fusermount3 (setuid root) opens /dev/fuse,
 * mounts it, and sends the fd back as SCM_RIGHTS ancillary data over the unix socket named by
 * the environment variable _FUSE_COMMFD. Node cannot receive it: child_process drops the
 * control message on a 'pipe' and aborts on an unexpected fd on 'ipc' (Node 20). */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "sys.h"

/* socketpair() -> [fd, fd], AF_UNIX stream, both close-on-exec: the end given to a helper is
 * placed at its fd 3 by spawn (dup2 clears the flag there), and no other child may inherit
 * either end, or the helper would never see the socket close (the auto_unmount watchdog waits
 * for that). */
static napi_value js_socketpair(napi_env env, napi_callback_info info)
{
	int sv[2];
	napi_value arr, v;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return throw_errno(env, errno, "socketpair", NULL);
	napi_create_array_with_length(env, 2, &arr);
	for (uint32_t i = 0; i < 2; i++) {
		napi_create_int32(env, sv[i], &v);
		napi_set_element(env, arr, i, v);
	}
	return arr;
}

/* recvFd(sock, timeoutMs) -> the fd received (close-on-exec), or -1 when the peer closed the
 * socket without sending one (fusermount3 failed and exited). Blocks up to timeoutMs
 * (ETIMEDOUT after that); 0: only what is already queued. */
static napi_value js_recv_fd(napi_env env, napi_callback_info info)
{
	int32_t sock, timeout;
	ARGS(2);
	if (!get_int(env, argv[0], &sock) || !get_int(env, argv[1], &timeout))
		return NULL;
	struct pollfd pfd = { .fd = sock, .events = POLLIN };
	int n;
	do
		n = poll(&pfd, 1, timeout);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return throw_errno(env, errno, "poll", NULL);
	if (n == 0)
		return throw_errno(env, ETIMEDOUT, "recvmsg", NULL);

	char byte;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control.buf,
		.msg_controllen = sizeof control.buf,
	};
	ssize_t got;
	do
		got = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (got < 0 && errno == EINTR);
	if (got < 0)
		return throw_errno(env, errno, "recvmsg", NULL);
	int fd = -1;
	struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
	if (cmsg != NULL && cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS &&
	    cmsg->cmsg_len == CMSG_LEN(sizeof(int)))
		memcpy(&fd, CMSG_DATA(cmsg), sizeof fd);
	if (fd < 0 && got > 0)
		return throw_errno(env, (msg.msg_flags & MSG_CTRUNC) ? EMSGSIZE : EPROTO, "recvmsg", NULL);
	return make_number(env, fd);
}

void commfd_init(napi_env env, napi_value exports)
{
	napi_property_descriptor fns[] = {
		{ "socketpair", NULL, js_socketpair, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "recvFd", NULL, js_recv_fd, NULL, NULL, NULL, napi_enumerable, NULL },
	};
	napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns);
}
