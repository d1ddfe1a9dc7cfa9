/* Blocking locks: flock without LOCK_NB, F_SETLKW and F_OFD_SETLKW, settled as a Promise.
 *
 * A wait gets a thread of its own rather than napi_async_work: it can last forever, and
 * async work would hold one of libuv's threadpool threads (4 by default) that Node's async
 * fs, and so a server's /dev/fuse reads, need too (measured on Linux 6.18: 4 blocked reads stalled an
 * unrelated fs.stat for seconds). A few waits could then keep the server from ever reading
 * the request that releases the lock they wait for.
 *
 * A wait can be cancelled (FUSE INTERRUPT): the thread is sent CANCEL_SIGNAL, whose handler
 * is installed without SA_RESTART so that the syscall returns EINTR. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include "sys.h"

/* A real-time signal that Node, libuv and V8 leave alone. */
#define CANCEL_SIGNAL (SIGRTMIN + 6)
#define WAIT_STACK_SIZE (64 * 1024)

typedef struct {
	/* One for the JS handle, one for the thread (handed on to settle), one for the
	 * threadsafe function's finalizer. */
	atomic_int refs;
	int fd;
	bool is_flock;
	int op;               /* flock operation, or fcntl command in its blocking form */
	struct flock fl;
	atomic_bool cancelled;
	pthread_mutex_t mu;
	bool waiting;         /* under mu: the thread may still be in the syscall */
	bool tsfn_gone;       /* under mu: Node destroyed tsfn (environment teardown) */
	pthread_t thread;
	int err;
	napi_deferred deferred;
	napi_threadsafe_function tsfn;
} lock_wait;

static pthread_once_t signal_once = PTHREAD_ONCE_INIT;
static bool can_cancel;

static void on_cancel_signal(int sig)
{
	(void)sig;
}

static void install_cancel_signal(void)
{
	struct sigaction old, sa;
	/* Never take over a handler someone else installed: without ours, the signal would
	 * kill the process, so cancelling is then simply unavailable. */
	if (sigaction(CANCEL_SIGNAL, NULL, &old) < 0 || old.sa_handler != SIG_DFL)
		return;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_cancel_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART */
	can_cancel = sigaction(CANCEL_SIGNAL, &sa, NULL) == 0;
}

static void unref(lock_wait *w)
{
	if (atomic_fetch_sub(&w->refs, 1) == 1) {
		pthread_mutex_destroy(&w->mu);
		free(w);
	}
}

static const char *syscall_name(bool is_flock)
{
	return is_flock ? "flock" : "fcntl";
}

static void settle(napi_env env, napi_value js_cb, void *context, void *data)
{
	(void)js_cb;
	(void)context;
	lock_wait *w = data;
	if (env != NULL) { /* NULL when the environment is being torn down */
		napi_value undefined;
		napi_get_undefined(env, &undefined);
		if (w->err == 0)
			napi_resolve_deferred(env, w->deferred, undefined);
		else
			napi_reject_deferred(env, w->deferred,
					     errno_error(env, w->err, syscall_name(w->is_flock), NULL));
	}
	unref(w);
}

static void *wait_thread(void *arg)
{
	lock_wait *w = arg;
	sigset_t set;
	int err;

	sigemptyset(&set);
	sigaddset(&set, CANCEL_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	for (;;) {
		if (atomic_load(&w->cancelled)) {
			err = EINTR;
			break;
		}
		int r = w->is_flock ? flock(w->fd, w->op) : fcntl(w->fd, w->op, &w->fl);
		if (r == 0) {
			err = 0;
			break;
		}
		if (errno != EINTR) {
			err = errno;
			break;
		}
	}
	/* Node deletes a threadsafe function when its environment goes away (a worker exits)
	 * even while threads still hold it, so it is used only under mu, before that. */
	bool delivered = false;
	pthread_mutex_lock(&w->mu);
	w->waiting = false;
	w->err = err;
	if (!w->tsfn_gone) {
		delivered = napi_call_threadsafe_function(w->tsfn, w, napi_tsfn_nonblocking) == napi_ok;
		napi_release_threadsafe_function(w->tsfn, napi_tsfn_release);
	}
	pthread_mutex_unlock(&w->mu);
	if (!delivered)
		unref(w);
	return NULL;
}

static void tsfn_finalized(napi_env env, void *data, void *hint)
{
	(void)env;
	(void)hint;
	lock_wait *w = data;
	pthread_mutex_lock(&w->mu);
	w->tsfn_gone = true;
	pthread_mutex_unlock(&w->mu);
	unref(w);
}

static void finalize_handle(napi_env env, void *data, void *hint)
{
	(void)env;
	(void)hint;
	unref(data);
}

static napi_value pair(napi_env env, napi_value a, napi_value b)
{
	napi_value arr;
	napi_create_array_with_length(env, 2, &arr);
	napi_set_element(env, arr, 0, a);
	napi_set_element(env, arr, 1, b);
	return arr;
}

/* Starts the wait on its thread; returns false with w->err set if it could not. */
static bool start_thread(napi_env env, lock_wait *w)
{
	napi_value name;
	pthread_attr_t attr;
	sigset_t all, old;

	napi_create_string_utf8(env, "tsfuse:lockWait", NAPI_AUTO_LENGTH, &name);
	if (napi_create_threadsafe_function(env, NULL, NULL, name, 0, 1, w, tsfn_finalized, NULL,
					    settle, &w->tsfn) != napi_ok) {
		w->err = ENOMEM;
		atomic_fetch_sub(&w->refs, 2); /* no thread, no finalizer */
		return false;
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, WAIT_STACK_SIZE);
	/* Process-directed signals (SIGINT, SIGCHLD...) must keep going to Node's threads. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	w->err = pthread_create(&w->thread, &attr, wait_thread, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (w->err != 0) {
		/* No thread: drop its reference; tsfn_finalized drops its own. */
		atomic_fetch_sub(&w->refs, 1);
		napi_release_threadsafe_function(w->tsfn, napi_tsfn_abort);
		return false;
	}
	return true;
}

/* lockWait(fd, isFlock, op, type, whence, start, len, pid) -> [promise, handle | undefined].
 * The lock is first tried without blocking, so that a free lock costs no thread. */
static napi_value js_lock_wait(napi_env env, napi_callback_info info)
{
	int32_t fd, op;
	bool is_flock;
	struct flock fl;
	napi_value promise, handle, undefined;
	napi_deferred deferred;
	int r;
	ARGS(8);
	if (!get_int(env, argv[0], &fd) || !get_bool(env, argv[1], &is_flock) ||
	    !get_int(env, argv[2], &op) || !get_flock(env, argv + 3, &fl))
		return NULL;
	if (is_flock) {
		op &= ~LOCK_NB;
		if (op != LOCK_SH && op != LOCK_EX)
			return throw_errno(env, EINVAL, "flock", NULL);
		r = flock(fd, op | LOCK_NB);
	} else {
		int nb = op == F_SETLKW ? F_SETLK : op == F_OFD_SETLKW ? F_OFD_SETLK : -1;
		if (nb < 0)
			return throw_errno(env, EINVAL, "fcntl", NULL);
		r = fcntl(fd, nb, &fl);
	}
	int err = r == 0 ? 0 : errno;

	napi_get_undefined(env, &undefined);
	napi_create_promise(env, &deferred, &promise);
	if (err != EAGAIN && err != EACCES) { /* EACCES: POSIX allows it for a conflict */
		if (err == 0)
			napi_resolve_deferred(env, deferred, undefined);
		else
			napi_reject_deferred(env, deferred, errno_error(env, err, syscall_name(is_flock), NULL));
		return pair(env, promise, undefined);
	}

	pthread_once(&signal_once, install_cancel_signal);
	lock_wait *w = calloc(1, sizeof *w);
	if (w == NULL) {
		napi_reject_deferred(env, deferred, errno_error(env, ENOMEM, syscall_name(is_flock), NULL));
		return pair(env, promise, undefined);
	}
	atomic_init(&w->refs, 3);
	atomic_init(&w->cancelled, false);
	pthread_mutex_init(&w->mu, NULL);
	w->fd = fd;
	w->is_flock = is_flock;
	w->op = op;
	w->fl = fl;
	w->waiting = true;
	w->deferred = deferred;
	if (!start_thread(env, w)) {
		napi_reject_deferred(env, deferred, errno_error(env, w->err, syscall_name(is_flock), NULL));
		unref(w); /* the handle's reference: no handle is made */
		return pair(env, promise, undefined);
	}
	napi_create_external(env, w, finalize_handle, NULL, &handle);
	return pair(env, promise, handle);
}

/* lockCancel(handle) -> true while the wait may still be in its syscall: a signal that
 * lands just before the thread enters it is lost, so the caller repeats until the promise
 * settles or this returns false. A lock granted before the signal still resolves. */
static napi_value js_lock_cancel(napi_env env, napi_callback_info info)
{
	lock_wait *w;
	napi_value result;
	ARGS(1);
	if (napi_get_value_external(env, argv[0], (void **)&w) != napi_ok)
		return throw_type(env, "expected a lock wait handle");
	atomic_store(&w->cancelled, true);
	pthread_mutex_lock(&w->mu);
	bool waiting = w->waiting && can_cancel;
	/* w->waiting guarantees the detached thread still exists. */
	if (waiting)
		pthread_kill(w->thread, CANCEL_SIGNAL);
	pthread_mutex_unlock(&w->mu);
	napi_get_boolean(env, waiting, &result);
	return result;
}

void lock_wait_init(napi_env env, napi_value exports)
{
	napi_property_descriptor fns[] = {
		{ "lockWait", NULL, js_lock_wait, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "lockCancel", NULL, js_lock_cancel, NULL, NULL, NULL, napi_enumerable, NULL },
	};
	napi_define_properties(env, exports, 2, fns);
}
