/*
 * boot-baseline: the file I/O of one boot decision, and nothing else: the
 * floor that slot-boot is measured against in Benchmarks/boot.sh.
 *
 *   boot-baseline STATE_DIR RUN_DIR
 *
 * Takes the exclusive flock on STATE_DIR/lock, reads both state copies
 * (state.0, state.1) and their CRC32, rewrites the older copy (by mtime)
 * with the newer one's bytes through a temp file (write, fsync, rename,
 * fsync of the directory), reads it back and compares, writes RUN_DIR/booted
 * and prints the same kind of assignments slot-boot prints. It does not
 * parse a config, probe devices or interpret the state: whatever slot-boot
 * spends beyond this is its own overhead.
 *
 * Build: cc -O2 -static -o boot-baseline boot-baseline.c -lz
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static void die(const char *what, const char *path) {
	fprintf(stderr, "boot-baseline: %s %s: %s\n", what, path, strerror(errno));
	exit(2);
}

/* Read a whole file into a malloc'd buffer. */
static unsigned char *slurp(const char *path, size_t *len, struct stat *st) {
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) die("open", path);
	if (fstat(fd, st) < 0) die("stat", path);
	size_t cap = st->st_size > 0 ? (size_t)st->st_size : 1, n = 0;
	unsigned char *buf = malloc(cap);
	if (!buf) die("malloc", path);
	for (;;) {
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0) { if (errno == EINTR) continue; die("read", path); }
		if (r == 0) break;
		n += (size_t)r;
		if (n == cap) {
			cap *= 2;
			if (!(buf = realloc(buf, cap))) die("realloc", path);
		}
	}
	close(fd);
	*len = n;
	return buf;
}

static void write_all(int fd, const unsigned char *p, size_t n, const char *path) {
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) { if (errno == EINTR) continue; die("write", path); }
		p += w;
		n -= (size_t)w;
	}
}

int main(int argc, char **argv) {
	if (argc != 3) {
		fprintf(stderr, "usage: boot-baseline STATE_DIR RUN_DIR\n");
		return 64;
	}
	const char *dir = argv[1], *run = argv[2];
	char p0[4096], p1[4096], tmp[4104], lock[4096], booted[4096];
	snprintf(p0, sizeof p0, "%s/state.0", dir);
	snprintf(p1, sizeof p1, "%s/state.1", dir);
	snprintf(lock, sizeof lock, "%s/lock", dir);
	snprintf(booted, sizeof booted, "%s/booted", run);

	int lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lfd < 0) die("open", lock);
	if (flock(lfd, LOCK_EX) < 0) die("flock", lock);

	size_t n0, n1;
	struct stat s0, s1;
	unsigned char *b0 = slurp(p0, &n0, &s0), *b1 = slurp(p1, &n1, &s1);
	uLong c0 = crc32(crc32(0L, Z_NULL, 0), b0, (uInt)n0);
	uLong c1 = crc32(crc32(0L, Z_NULL, 0), b1, (uInt)n1);

	/* The newer copy is kept; the older one is rewritten. */
	int zero_newer = s0.st_mtim.tv_sec > s1.st_mtim.tv_sec ||
		(s0.st_mtim.tv_sec == s1.st_mtim.tv_sec && s0.st_mtim.tv_nsec >= s1.st_mtim.tv_nsec);
	const char *target = zero_newer ? p1 : p0;
	unsigned char *data = zero_newer ? b0 : b1;
	size_t len = zero_newer ? n0 : n1;
	uLong crc = crc32(crc32(0L, Z_NULL, 0), data, (uInt)len);

	snprintf(tmp, sizeof tmp, "%s.tmp", target);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) die("open", tmp);
	write_all(fd, data, len, tmp);
	if (fsync(fd) < 0) die("fsync", tmp);
	close(fd);
	if (rename(tmp, target) < 0) die("rename", tmp);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) die("open", dir);
	if (fsync(dfd) < 0) die("fsync", dir);
	close(dfd);

	/* slot-boot reads the new copy back from the medium, not from the page
	 * cache: drop the cached pages first, as it does. */
	int cfd = open(target, O_RDONLY | O_CLOEXEC);
	if (cfd < 0) die("open", target);
	posix_fadvise(cfd, 0, 0, POSIX_FADV_DONTNEED);
	close(cfd);

	size_t nb;
	struct stat sb;
	unsigned char *back = slurp(target, &nb, &sb);
	if (nb != len || memcmp(back, data, len) != 0 ||
	    crc32(crc32(0L, Z_NULL, 0), back, (uInt)nb) != crc) {
		fprintf(stderr, "boot-baseline: %s does not read back\n", target);
		return 3;
	}

	char out[256];
	int on = snprintf(out, sizeof out, "SLOT=A\nROOT=/dev/vda1\nFSTYPE=ext4\nSEQ=%lu\n",
			  (unsigned long)(c0 ^ c1) % 1000);
	mkdir(run, 0755);
	int bfd = open(booted, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (bfd < 0) die("open", booted);
	write_all(bfd, (const unsigned char *)out, (size_t)on, booted);
	close(bfd);
	fputs(out, stdout);
	free(b0); free(b1); free(back);
	close(lfd);
	return 0;
}
