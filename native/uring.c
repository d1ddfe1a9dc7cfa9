/* FUSE over io_uring (Linux 6.14+): the io_uring syscalls the transport needs, and nothing of
 * FUSE beyond the command block. Raw syscalls, not liburing: users' machines lack it, and four
 * calls do not need a library. Decoding, dispatch and replies stay in TypeScript
 * (src/kernel/uring.ts), which owns the ring entries' buffers.
 *
 * The ring is set up with 128-byte SQEs (IORING_SETUP_SQE128): the kernel refuses FUSE's
 * commands in a 64-byte SQE, whose command area is too small for struct fuse_uring_cmd_req.
 * Completions are announced on an eventfd (IORING_REGISTER_EVENTFD) that the event loop polls,
 * so that the thread never blocks in io_uring_enter while handlers are pending. */
#include <errno.h>
#include <linux/io_uring.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include "sys.h"

/* include/uapi/linux/fuse.h (Linux 6.18), enum fuse_uring_cmd and struct fuse_uring_cmd_req:
 * the distribution's headers may predate them (Linux 6.14). */
#define FUSE_IO_URING_CMD_REGISTER 1
#define FUSE_IO_URING_CMD_COMMIT_AND_FETCH 2
struct fuse_uring_cmd_req {
	uint64_t flags;
	uint64_t commit_id; /* the unique of the request being answered */
	uint16_t qid;
	uint8_t padding[6];
};

#define SQE_SIZE 128

typedef struct {
	int fd;
	int eventfd;
	unsigned sq_entries;
	void *sq_map;
	size_t sq_map_len;
	void *cq_map;
	size_t cq_map_len;
	char *sqes;
	size_t sqes_len;
	unsigned *sq_head, *sq_tail, *sq_array, sq_mask;
	unsigned *cq_head, *cq_tail, cq_mask;
	struct io_uring_cqe *cqes;
	unsigned queued; /* SQEs written and not yet submitted */
	bool deferred;   /* IORING_SETUP_DEFER_TASKRUN: completions are made in io_uring_enter */
	/* REGISTER passes an iovec array (header, payload) by address; it is read when the command
	 * is issued, and kept here so that it outlives a submission deferred by the kernel. */
	struct iovec *iov;
	unsigned iov_slots;
} ring_t;

static void ring_free(ring_t *r)
{
	if (r->sqes != NULL && r->sqes != MAP_FAILED)
		munmap(r->sqes, r->sqes_len);
	if (r->cq_map != NULL && r->cq_map != MAP_FAILED && r->cq_map != r->sq_map)
		munmap(r->cq_map, r->cq_map_len);
	if (r->sq_map != NULL && r->sq_map != MAP_FAILED)
		munmap(r->sq_map, r->sq_map_len);
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	r->sqes = NULL;
	r->sq_map = r->cq_map = NULL;
	free(r->iov);
	r->iov = NULL;
}

static void ring_finalize(napi_env env, void *data, void *hint)
{
	(void)env;
	(void)hint;
	ring_free(data);
	free(data);
}

static ring_t *get_ring(napi_env env, napi_value v)
{
	void *p = NULL;
	if (napi_get_value_external(env, v, &p) != napi_ok || p == NULL) {
		throw_type(env, "not an io_uring ring");
		return NULL;
	}
	ring_t *r = p;
	if (r->fd < 0) {
		throw_errno(env, EBADF, "io_uring_enter", NULL);
		return NULL;
	}
	return r;
}

/* uringSetup(entries, slots) -> [ring, eventfd]: a ring of `entries` SQEs, room for `slots`
 * registered FUSE ring entries, and the eventfd its completions signal (non-blocking). */
static napi_value js_uring_setup(napi_env env, napi_callback_info info)
{
	uint32_t entries, slots;
	ARGS(2);
	if (!get_u32(env, argv[0], &entries) || !get_u32(env, argv[1], &slots))
		return NULL;
	ring_t *r = calloc(1, sizeof *r);
	if (r == NULL)
		return throw_errno(env, ENOMEM, "io_uring_setup", NULL);
	r->fd = -1;
	r->eventfd = -1;
	struct io_uring_params p;
	memset(&p, 0, sizeof p);
	/* DEFER_TASKRUN (Linux 6.1+): the kernel's work for a completion (here: copying a FUSE request
	 * into the entry's buffers) waits until this thread asks for completions, instead of
	 * interrupting whatever the thread is doing, and the eventfd still says that work is waiting.
	 * It needs SINGLE_ISSUER: only the thread that set the ring up submits to it. */
	p.flags = IORING_SETUP_SQE128 | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	int fd = syscall(__NR_io_uring_setup, entries, &p);
	r->deferred = fd >= 0;
	if (fd < 0 && errno == EINVAL) {
		memset(&p, 0, sizeof p);
		p.flags = IORING_SETUP_SQE128;
		fd = syscall(__NR_io_uring_setup, entries, &p);
	}
	if (fd < 0) {
		int err = errno;
		free(r);
		return throw_errno(env, err, "io_uring_setup", NULL);
	}
	r->fd = fd;
	r->sq_entries = p.sq_entries;
	r->sq_map_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
	r->cq_map_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	int err = 0;
	if (p.features & IORING_FEAT_SINGLE_MMAP) {
		if (r->cq_map_len > r->sq_map_len)
			r->sq_map_len = r->cq_map_len;
		r->cq_map_len = r->sq_map_len;
	}
	r->sq_map = mmap(NULL, r->sq_map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
			 IORING_OFF_SQ_RING);
	if (r->sq_map == MAP_FAILED) {
		err = errno;
		goto fail;
	}
	if (p.features & IORING_FEAT_SINGLE_MMAP) {
		r->cq_map = r->sq_map;
	} else {
		r->cq_map = mmap(NULL, r->cq_map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
				 fd, IORING_OFF_CQ_RING);
		if (r->cq_map == MAP_FAILED) {
			err = errno;
			goto fail;
		}
	}
	r->sqes_len = (size_t)p.sq_entries * SQE_SIZE;
	r->sqes = mmap(NULL, r->sqes_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
		       IORING_OFF_SQES);
	if (r->sqes == MAP_FAILED) {
		err = errno;
		goto fail;
	}
	char *sq = r->sq_map, *cq = r->cq_map;
	r->sq_head = (unsigned *)(sq + p.sq_off.head);
	r->sq_tail = (unsigned *)(sq + p.sq_off.tail);
	r->sq_mask = *(unsigned *)(sq + p.sq_off.ring_mask);
	r->sq_array = (unsigned *)(sq + p.sq_off.array);
	r->cq_head = (unsigned *)(cq + p.cq_off.head);
	r->cq_tail = (unsigned *)(cq + p.cq_off.tail);
	r->cq_mask = *(unsigned *)(cq + p.cq_off.ring_mask);
	r->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
	r->iov = calloc(slots ? slots * 2 : 2, sizeof(struct iovec));
	r->iov_slots = slots;
	if (r->iov == NULL) {
		err = ENOMEM;
		goto fail;
	}
	r->eventfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (r->eventfd < 0) {
		err = errno;
		goto fail;
	}
	if (syscall(__NR_io_uring_register, fd, IORING_REGISTER_EVENTFD, &r->eventfd, 1) < 0) {
		err = errno;
		close(r->eventfd);
		goto fail;
	}
	napi_value ext, efd, out;
	napi_create_external(env, r, ring_finalize, NULL, &ext);
	napi_create_int32(env, r->eventfd, &efd);
	napi_create_array_with_length(env, 2, &out);
	napi_set_element(env, out, 0, ext);
	napi_set_element(env, out, 1, efd);
	return out;
fail:
	ring_free(r);
	free(r);
	return throw_errno(env, err, "io_uring_setup", NULL);
}

/* The next free SQE, zeroed; NULL when the submission queue is full. Published by sqe_push. */
static struct io_uring_sqe *sqe_next(ring_t *r)
{
	unsigned head = __atomic_load_n(r->sq_head, __ATOMIC_ACQUIRE);
	unsigned tail = *r->sq_tail;
	if (tail - head >= r->sq_entries)
		return NULL;
	struct io_uring_sqe *sqe = (struct io_uring_sqe *)(r->sqes + (size_t)(tail & r->sq_mask) * SQE_SIZE);
	memset(sqe, 0, SQE_SIZE);
	return sqe;
}

static void sqe_push(ring_t *r)
{
	unsigned tail = *r->sq_tail;
	r->sq_array[tail & r->sq_mask] = tail & r->sq_mask;
	__atomic_store_n(r->sq_tail, tail + 1, __ATOMIC_RELEASE);
	r->queued++;
}

/* Submits what is queued and, with DEFER_TASKRUN, makes the completions that are waiting;
 * returns 0 or -errno. Never waits for a completion. */
static int submit(ring_t *r, bool get_events)
{
	unsigned flags = get_events && r->deferred ? IORING_ENTER_GETEVENTS : 0;
	if (r->queued == 0 && flags == 0)
		return 0;
	for (;;) {
		int n = syscall(__NR_io_uring_enter, r->fd, r->queued, 0, flags, NULL, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		r->queued -= (unsigned)n < r->queued ? (unsigned)n : r->queued;
		if (r->queued == 0)
			return 0;
		if (n == 0)
			return -EAGAIN;
	}
}

static bool fuse_cmd(napi_env env, ring_t *r, int32_t devfd, uint32_t op, uint32_t qid,
		     double commit_id, double user_data, const struct iovec *iov)
{
	struct io_uring_sqe *sqe = sqe_next(r);
	if (sqe == NULL) {
		int err = submit(r, false);
		if (err < 0) {
			throw_errno(env, -err, "io_uring_enter", NULL);
			return false;
		}
		sqe = sqe_next(r);
		if (sqe == NULL) {
			throw_errno(env, EBUSY, "io_uring_enter", NULL);
			return false;
		}
	}
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = devfd;
	sqe->cmd_op = op;
	sqe->user_data = (uint64_t)user_data;
	if (iov != NULL) {
		sqe->addr = (uint64_t)(uintptr_t)iov;
		sqe->len = 2;
	}
	struct fuse_uring_cmd_req req = { .flags = 0, .commit_id = (uint64_t)commit_id, .qid = (uint16_t)qid };
	memcpy(sqe->cmd, &req, sizeof req);
	sqe_push(r);
	return true;
}

/* uringRegister(ring, devfd, qid, slot, header, payload): queues FUSE_IO_URING_CMD_REGISTER of
 * one ring entry; its completion (user_data = slot) carries the entry's first request. */
static napi_value js_uring_register(napi_env env, napi_callback_info info)
{
	int32_t devfd;
	uint32_t qid, slot;
	void *hdr, *payload;
	size_t hdr_len, payload_len;
	ARGS(6);
	ring_t *r = get_ring(env, argv[0]);
	if (r == NULL || !get_int(env, argv[1], &devfd) || !get_u32(env, argv[2], &qid) ||
	    !get_u32(env, argv[3], &slot))
		return NULL;
	if (slot >= r->iov_slots)
		return throw_type(env, "ring entry slot out of range");
	if (napi_get_buffer_info(env, argv[4], &hdr, &hdr_len) != napi_ok ||
	    napi_get_buffer_info(env, argv[5], &payload, &payload_len) != napi_ok)
		return throw_type(env, "header and payload must be Buffers");
	struct iovec *iov = &r->iov[slot * 2];
	iov[0].iov_base = hdr;
	iov[0].iov_len = hdr_len;
	iov[1].iov_base = payload;
	iov[1].iov_len = payload_len;
	if (!fuse_cmd(env, r, devfd, FUSE_IO_URING_CMD_REGISTER, qid, 0, slot, iov))
		return NULL;
	return NULL;
}

/* uringCommit(ring, devfd, qid, slot, unique, now): queues FUSE_IO_URING_CMD_COMMIT_AND_FETCH for
 * the reply written in the entry's buffers; `now` submits it (and anything queued) at once. */
static napi_value js_uring_commit(napi_env env, napi_callback_info info)
{
	int32_t devfd;
	uint32_t qid, slot;
	double unique;
	bool now = false;
	ARGS(6);
	ring_t *r = get_ring(env, argv[0]);
	if (r == NULL || !get_int(env, argv[1], &devfd) || !get_u32(env, argv[2], &qid) ||
	    !get_u32(env, argv[3], &slot))
		return NULL;
	if (napi_get_value_double(env, argv[4], &unique) != napi_ok)
		return throw_type(env, "unique must be a number");
	napi_get_value_bool(env, argv[5], &now);
	if (!fuse_cmd(env, r, devfd, FUSE_IO_URING_CMD_COMMIT_AND_FETCH, qid, unique, slot, NULL))
		return NULL;
	if (now) {
		int err = submit(r, false);
		if (err < 0)
			return throw_errno(env, -err, "io_uring_enter", NULL);
	}
	return NULL;
}

/* uringSubmit(ring): submits the queued commands. */
static napi_value js_uring_submit(napi_env env, napi_callback_info info)
{
	ARGS(1);
	ring_t *r = get_ring(env, argv[0]);
	if (r == NULL)
		return NULL;
	int err = submit(r, false);
	if (err < 0)
		return throw_errno(env, -err, "io_uring_enter", NULL);
	return NULL;
}

/* uringReap(ring, out: Float64Array) -> n: submits what is queued, then moves up to
 * out.length / 2 completions into out as (user_data, res) pairs. */
static napi_value js_uring_reap(napi_env env, napi_callback_info info)
{
	napi_typedarray_type type;
	size_t length;
	void *data;
	ARGS(2);
	ring_t *r = get_ring(env, argv[0]);
	if (r == NULL)
		return NULL;
	if (napi_get_typedarray_info(env, argv[1], &type, &length, &data, NULL, NULL) != napi_ok ||
	    type != napi_float64_array)
		return throw_type(env, "out must be a Float64Array");
	double *out = data;
	int err = submit(r, true);
	if (err < 0)
		return throw_errno(env, -err, "io_uring_enter", NULL);
	unsigned head = *r->cq_head;
	unsigned tail = __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE);
	size_t n = 0;
	while (head != tail && n * 2 + 1 < length) {
		const struct io_uring_cqe *cqe = &r->cqes[head & r->cq_mask];
		out[n * 2] = (double)cqe->user_data;
		out[n * 2 + 1] = cqe->res;
		head++;
		n++;
	}
	__atomic_store_n(r->cq_head, head, __ATOMIC_RELEASE);
	return make_number(env, (double)n);
}

/* uringClose(ring): closes the ring; the kernel cancels its pending commands. */
static napi_value js_uring_close(napi_env env, napi_callback_info info)
{
	void *p = NULL;
	ARGS(1);
	if (napi_get_value_external(env, argv[0], &p) != napi_ok || p == NULL)
		return throw_type(env, "not an io_uring ring");
	ring_free(p);
	return NULL;
}

/* setAffinity(cpu): pins the calling thread to one CPU, so that a ring queue's requests (queued
 * on the CPU of the process that made them) are served where they were made. */
static napi_value js_set_affinity(napi_env env, napi_callback_info info)
{
	uint32_t cpu;
	ARGS(1);
	if (!get_u32(env, argv[0], &cpu))
		return NULL;
	if (cpu >= CPU_SETSIZE)
		return throw_errno(env, EINVAL, "sched_setaffinity", NULL);
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof set, &set) < 0)
		return throw_errno(env, errno, "sched_setaffinity", NULL);
	return NULL;
}

void uring_init(napi_env env, napi_value exports)
{
	napi_property_descriptor fns[] = {
#define F(name, fn) { name, NULL, fn, NULL, NULL, NULL, napi_enumerable, NULL }
		F("uringSetup", js_uring_setup),
		F("uringRegister", js_uring_register),
		F("uringCommit", js_uring_commit),
		F("uringSubmit", js_uring_submit),
		F("uringReap", js_uring_reap),
		F("uringClose", js_uring_close),
		F("setAffinity", js_set_affinity),
#undef F
	};
	napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns);
}
