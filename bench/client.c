/*
 * One client process of `tsfuse bench`'s concurrent small-file workloads
 * (bench/clients.ts; bench/client.ts is the same in Node).
 *
 *   client PHASE DIR COUNT SIZE     PHASE: create | read | stat
 *
 * create: open(O_CREAT|O_TRUNC|O_WRONLY) + write SIZE bytes + close, for DIR/f0 … DIR/f<COUNT-1>;
 * read:   open(O_RDONLY) + one read of SIZE bytes + close of each;
 * stat:   stat(2) of each.
 *
 * It prints "ready", waits for one byte on stdin, does its COUNT operations
 * and prints "<start ns> <end ns>" on CLOCK_MONOTONIC, the clock Node's
 * process.hrtime() reads: the driver takes the first start and the last end of
 * all clients, so starting the processes is not timed and every client runs
 * against the others from its first operation. A failed operation: a message
 * on stderr and exit 1.
 *
 * Compiled by the bench at run time (cc -O2): plain syscalls, no buffering, so
 * what is timed is the filesystem, not the client.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void fail(const char *op, const char *path, const char *why) {
	fprintf(stderr, "%s %s: %s\n", op, path, why);
	exit(1);
}

int main(int argc, char **argv) {
	if (argc != 5) {
		fprintf(stderr, "usage: client create|read|stat DIR COUNT SIZE\n");
		return 2;
	}
	const char *phase = argv[1];
	const char *dir = argv[2];
	long count = strtol(argv[3], NULL, 10);
	long size = strtol(argv[4], NULL, 10);
	int create = strcmp(phase, "create") == 0, read_ = strcmp(phase, "read") == 0, stat_ = strcmp(phase, "stat") == 0;
	if (!(create || read_ || stat_) || count < 1 || size < 1 || size > (1 << 20)) {
		fprintf(stderr, "client: bad arguments\n");
		return 2;
	}
	char *buf = malloc(size);
	if (buf == NULL) fail("malloc", "", strerror(errno));
	memset(buf, 'x', size);
	char path[4096];

	printf("ready\n");
	fflush(stdout);
	char go;
	if (read(0, &go, 1) != 1) return 1; /* the driver gave up: do nothing */

	long long start = now_ns();
	for (long i = 0; i < count; i++) {
		snprintf(path, sizeof path, "%s/f%ld", dir, i);
		if (stat_) {
			struct stat st;
			if (stat(path, &st) != 0) fail("stat", path, strerror(errno));
			continue;
		}
		int fd = open(path, create ? O_WRONLY | O_CREAT | O_TRUNC : O_RDONLY, 0644);
		if (fd < 0) fail("open", path, strerror(errno));
		ssize_t n = create ? write(fd, buf, size) : read(fd, buf, size);
		if (n != size) fail(create ? "write" : "read", path, n < 0 ? strerror(errno) : "short");
		if (close(fd) != 0) fail("close", path, strerror(errno));
	}
	long long end = now_ns();
	printf("%lld %lld\n", start, end);
	return 0;
}
