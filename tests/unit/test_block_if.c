/*
 * Unit tests for the io_uring block backend (src/block/block_if.c), on real
 * files under $TMPDIR (default /tmp): option parsing and open errors (one
 * stderr line, image untouched), OFD locking, size rounding, read-only,
 * batched multi-iovec writes read back through the backend and pread(),
 * flush, discard (holes shrink st_blocks), write-zeroes, the depth limit,
 * short reads resubmitted without touching the caller's iovecs, unaligned
 * buffers with nocache (O_DIRECT bounce), and close waiting for I/O.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "block/block_if.h"
#include "core/config.h"

#include "capture.h"

#define IDENT "pci 0:4:0 virtio-blk"
#define MiB (1024 * 1024)

/* ---- helpers ----------------------------------------------------------- */

struct result {
	int calls;
	int64_t res;
};

static int total_done;

static void done_cb(struct blockif_req *req, int64_t res)
{
	struct result *r = req->param;

	r->calls++;
	r->res = res;
	total_done++;
}

static int setup(void **state)
{
	config_init();
	total_done = 0;
	return 0;
}

static int teardown(void **state)
{
	config_free();
	return 0;
}

static const char *tmp_dir(void)
{
	const char *dir = getenv("TMPDIR");

	return dir != NULL && dir[0] != '\0' ? dir : "/tmp";
}

static char *temp_path_in(const char *dir, const char *name)
{
	char *path;

	assert_true(asprintf(&path, "%s/%s.XXXXXX", dir, name) > 0);
	return path;
}

static char *temp_path(const char *name)
{
	return temp_path_in(tmp_dir(), name);
}

/* A temporary file of size bytes, byte i = pattern(i) (or zero). */
static uint8_t pattern(uint64_t i)
{
	return (uint8_t)(i * 7 + (i >> 9) * 13 + 1);
}

static char *make_file_in(const char *dir, uint64_t size, bool fill)
{
	char *path = temp_path_in(dir, "test_block_if");
	int fd = mkstemp(path);
	uint8_t *buf;
	uint64_t i;

	assert_true(fd >= 0);
	if (fill) {
		buf = malloc(size);
		for (i = 0; i < size; i++)
			buf[i] = pattern(i);
		assert_int_equal(pwrite(fd, buf, size, 0), (ssize_t)size);
		free(buf);
	} else
		assert_int_equal(ftruncate(fd, (off_t)size), 0);
	assert_int_equal(fsync(fd), 0);
	close(fd);
	return path;
}

static char *make_file(uint64_t size, bool fill)
{
	return make_file_in(tmp_dir(), size, fill);
}

static void drop_file(char *path)
{
	unlink(path);
	free(path);
}

/* The device's config node with path and "k=v,k=v" extra options. */
static struct cfg_node *dev_node(const char *path, const char *opts)
{
	struct cfg_node *node = create_config_node("pci.0.4.0");
	char *copy, *tok, *save, *eq;

	assert_non_null(node);
	if (path != NULL)
		assert_int_equal(set_config_value_node(node, "path", path), 0);
	if (opts == NULL)
		return node;
	copy = strdup(opts);
	for (tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		eq = strchr(tok, '=');
		if (eq != NULL)
			*eq++ = '\0';
		/* A bare flag is stored as "true", as the option parser does. */
		assert_int_equal(set_config_value_node(node, tok, eq ? eq : "true"), 0);
	}
	free(copy);
	return node;
}

static struct blockif_ctxt *open_ok(const char *path, const char *opts)
{
	struct blockif_ctxt *bc = blockif_open(dev_node(path, opts), IDENT);

	assert_non_null(bc);
	return bc;
}

/* Open expected to fail: returns its stderr (exactly one line). */
static char *open_fails(const char *path, const char *opts)
{
	struct cfg_node *node = dev_node(path, opts);
	struct capture c;
	struct blockif_ctxt *bc;
	char *err;

	capture_start(&c, 2);
	bc = blockif_open(node, IDENT);
	err = capture_end(&c);
	assert_null(bc);
	assert_int_equal(count_lines(err), 1);
	assert_true(strncmp(err, "khyve: " IDENT ": ", strlen("khyve: " IDENT ": ")) == 0);
	return err;
}

/* Wait (poll on the event fd) until total_done reaches target. */
static void wait_done(struct blockif_ctxt *bc, int target)
{
	struct pollfd pfd = { .fd = blockif_event_fd(bc), .events = POLLIN };

	while (total_done < target) {
		assert_int_equal(poll(&pfd, 1, 10000), 1);
		blockif_complete(bc);
	}
}

/* Submit one request, kick, wait; returns its result. */
static int64_t run_req(struct blockif_ctxt *bc, struct blockif_req *req)
{
	struct result r = { 0 };
	int target = total_done + 1;

	req->done = done_cb;
	req->param = &r;
	assert_int_equal(blockif_submit(bc, req), 0);
	blockif_kick(bc);
	wait_done(bc, target);
	assert_int_equal(r.calls, 1);
	return r.res;
}

static int64_t rw(struct blockif_ctxt *bc, enum blockif_op op, uint64_t off, void *buf,
    size_t len)
{
	struct iovec iov = { buf, len };
	struct blockif_req req = { .op = op, .offset = off, .iov = &iov, .iovcnt = 1 };

	return run_req(bc, &req);
}

static int64_t op_range(struct blockif_ctxt *bc, enum blockif_op op, uint64_t off,
    uint64_t len, bool unmap)
{
	struct blockif_req req = { .op = op, .offset = off, .len = len, .unmap = unmap };

	return run_req(bc, &req);
}

static void check_pattern(const uint8_t *buf, uint64_t off, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (buf[i] != pattern(off + i))
			fail_msg("byte %llu: %#x, want %#x", (unsigned long long)(off + i),
			    buf[i], pattern(off + i));
}

static bool all_zero(const uint8_t *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (buf[i] != 0)
			return false;
	return true;
}

static void pread_file(const char *path, void *buf, size_t len, off_t off)
{
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, off), (ssize_t)len);
	close(fd);
}

/* ---- open errors and options ------------------------------------------- */

static void test_open_missing_file(void **state)
{
	char *dir = temp_path("test_block_if_dir");
	char *path, *err, *want;

	assert_non_null(mkdtemp(dir));
	assert_true(asprintf(&path, "%s/nope.img", dir) > 0);
	err = open_fails(path, NULL);
	assert_true(asprintf(&want, "khyve: " IDENT ": %s: No such file or directory\n",
	    path) > 0);
	assert_string_equal(err, want);
	/* Not created. */
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(errno, ENOENT);
	/* Same read-only. */
	free(err);
	config_init();
	free(open_fails(path, "ro"));
	assert_int_equal(access(path, F_OK), -1);
	free(want);
	free(path);
	assert_int_equal(rmdir(dir), 0);
	free(dir);
}

static void test_open_no_path(void **state)
{
	char *err = open_fails(NULL, "ro");

	assert_non_null(strstr(err, "path is required"));
	free(err);
}

static void test_open_directory(void **state)
{
	char *dir = temp_path("test_block_if_dir");
	char *err;

	assert_non_null(mkdtemp(dir));
	err = open_fails(dir, NULL);
	assert_non_null(strstr(err, "Is a directory"));
	free(err);
	config_init();
	err = open_fails(dir, "ro");
	assert_non_null(strstr(err, "Is a directory"));
	free(err);
	rmdir(dir);
	free(dir);
}

static void test_open_fifo_does_not_hang(void **state)
{
	char *dir = temp_path("test_block_if_dir");
	char *path, *err;

	assert_non_null(mkdtemp(dir));
	assert_true(asprintf(&path, "%s/fifo", dir) > 0);
	assert_int_equal(mkfifo(path, 0600), 0);
	err = open_fails(path, "ro");
	assert_non_null(strstr(err, "not a regular file or a block device"));
	free(err);
	unlink(path);
	free(path);
	rmdir(dir);
	free(dir);
}

static void test_bad_boolean(void **state)
{
	char *path = make_file(4096, false);
	char *err = open_fails(path, "ro=maybe");

	assert_non_null(strstr(err, "ro: 'maybe' is not a boolean"));
	free(err);
	drop_file(path);
}

static void test_sectorsize(void **state)
{
	static const struct {
		const char *opt;
		uint32_t l, p;
	} good[] = {
		{ "sectorsize=512", 512, 512 },
		{ "sectorsize=4096", 4096, 4096 },
		{ "sectorsize=512/4096", 512, 4096 },
		{ "sectorsize=4096/4096", 4096, 4096 },
		{ "sectorsize=32768/32768", 32768, 32768 },
	};
	static const char *const bad[] = {
		"sectorsize=4096/512", "sectorsize=1000", "sectorsize=256", "sectorsize=65536",
		"sectorsize=", "sectorsize=4096/", "sectorsize=abc", "sectorsize=512x",
		"sectorsize=-512", "sectorsize=512/1000", "sectorsize= 512",
	};
	char *path = make_file(MiB, false);
	struct blockif_ctxt *bc;
	char *err;
	size_t i;

	bc = open_ok(path, NULL);
	assert_int_equal(blockif_sectsz(bc), 512);
	assert_int_equal(blockif_psectsz(bc), 512);
	blockif_close(bc);
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		config_init();
		bc = open_ok(path, good[i].opt);
		assert_int_equal(blockif_sectsz(bc), good[i].l);
		assert_int_equal(blockif_psectsz(bc), good[i].p);
		blockif_close(bc);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		config_init();
		err = open_fails(path, bad[i]);
		assert_non_null(strstr(err, "sectorsize"));
		free(err);
	}
	drop_file(path);
}

static void test_size_rounded_down(void **state)
{
	char *path = make_file(MiB + 100, false);
	struct blockif_ctxt *bc;
	struct stat st;

	bc = open_ok(path, NULL);
	assert_int_equal(blockif_size(bc), MiB);
	assert_false(blockif_is_ro(bc));
	assert_true(blockif_candelete(bc));
	assert_true(blockif_event_fd(bc) >= 0);
	assert_true(blockif_queue_depth(bc) >= 32);
	assert_true(blockif_can_submit(bc));
	blockif_close(bc);
	config_init();
	bc = open_ok(path, "sectorsize=4096");
	assert_int_equal(blockif_size(bc), MiB);
	blockif_close(bc);
	assert_int_equal(truncate(path, 3 * 4096 + 4095), 0);
	config_init();
	bc = open_ok(path, "sectorsize=4096/4096");
	assert_int_equal(blockif_size(bc), 3 * 4096);
	blockif_close(bc);
	/* Opening never changed the file. */
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 3 * 4096 + 4095);
	drop_file(path);
}

/* ---- read-only ---------------------------------------------------------- */

static void test_ro(void **state)
{
	char *path = make_file(64 * 1024, true);
	uint8_t buf[4096], before[64 * 1024], after[64 * 1024];
	struct iovec iov = { buf, sizeof(buf) };
	struct blockif_req req = { .op = BLOCKIF_WRITE, .offset = 0, .iov = &iov, .iovcnt = 1,
		.done = done_cb };
	struct result r = { 0 };
	struct blockif_ctxt *bc;

	pread_file(path, before, sizeof(before), 0);
	bc = open_ok(path, "ro");
	assert_true(blockif_is_ro(bc));
	assert_false(blockif_candelete(bc));
	req.param = &r;
	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(blockif_submit(bc, &req), -EROFS);
	req.op = BLOCKIF_DISCARD;
	req.len = 4096;
	assert_int_equal(blockif_submit(bc, &req), -EROFS);
	req.op = BLOCKIF_WRITE_ZEROES;
	assert_int_equal(blockif_submit(bc, &req), -EROFS);
	blockif_kick(bc);
	assert_int_equal(blockif_complete(bc), 0);
	assert_int_equal(r.calls, 0);
	/* Reads and flushes work. */
	assert_int_equal(rw(bc, BLOCKIF_READ, 4096, buf, sizeof(buf)), sizeof(buf));
	check_pattern(buf, 4096, sizeof(buf));
	assert_int_equal(op_range(bc, BLOCKIF_FLUSH, 0, 0, false), 0);
	blockif_close(bc);
	pread_file(path, after, sizeof(after), 0);
	assert_memory_equal(before, after, sizeof(before));
	drop_file(path);
}

/* ---- locking ------------------------------------------------------------ */

static void test_lock(void **state)
{
	char *path = make_file(MiB, false);
	struct blockif_ctxt *a, *b, *c;
	uint8_t buf[4096] = { 0 };
	char *err, *want;
	int i;

	assert_true(asprintf(&want, "khyve: " IDENT ": %s: in use by another process (locked)\n",
	    path) > 0);
	/* OFD locks conflict between open file descriptions of one process. */
	a = open_ok(path, NULL);
	err = open_fails(path, NULL);
	assert_string_equal(err, want);
	free(err);
	config_init();
	err = open_fails(path, "ro");
	assert_string_equal(err, want);
	free(err);
	blockif_close(a);
	config_init();
	b = open_ok(path, NULL);
	blockif_close(b);
	/* Readers share; a writer is then refused. */
	config_init();
	b = open_ok(path, "ro");
	c = open_ok(path, "ro");
	config_init();
	err = open_fails(path, NULL);
	assert_string_equal(err, want);
	free(err);
	blockif_close(b);
	blockif_close(c);
	/*
	 * close() releases the lock at once, even right after I/O (a file
	 * the kernel still held for the ring would keep it locked).
	 */
	for (i = 0; i < 20; i++) {
		config_init();
		a = open_ok(path, NULL);
		assert_int_equal(rw(a, BLOCKIF_WRITE, 4096 * (uint64_t)i, buf, sizeof(buf)),
		    sizeof(buf));
		assert_int_equal(op_range(a, BLOCKIF_FLUSH, 0, 0, false), 0);
		assert_int_equal(rw(a, BLOCKIF_READ, 0, buf, sizeof(buf)), sizeof(buf));
		blockif_close(a);
	}
	free(want);
	drop_file(path);
}

/* ---- data path ---------------------------------------------------------- */

#define NREQ 16
#define REQ_BYTES (3 * 4096)

static void test_write_flush_read(void **state)
{
	char *path = make_file(MiB, false);
	/* Three iovecs of uneven (but sector-multiple) sizes per request. */
	static const size_t parts[3] = { 1024, 7 * 1024, 4096 };
	struct blockif_req reqs[NREQ];
	struct iovec iovs[NREQ][3], saved[NREQ][3];
	struct result res[NREQ];
	struct blockif_ctxt *bc;
	uint8_t *data, *back;
	uint64_t off;
	int i, j;

	data = malloc(NREQ * REQ_BYTES);
	back = calloc(1, NREQ * REQ_BYTES);
	bc = open_ok(path, NULL);
	/* Requests at scattered offsets, all in flight at once. */
	for (i = 0; i < NREQ; i++) {
		off = (uint64_t)((i * 5) % NREQ) * REQ_BYTES + 8192;
		for (j = 0; j < REQ_BYTES; j++)
			data[i * REQ_BYTES + j] = pattern(off + (uint64_t)j);
		iovs[i][0] = (struct iovec){ data + i * REQ_BYTES, parts[0] };
		iovs[i][1] = (struct iovec){ data + i * REQ_BYTES + parts[0], parts[1] };
		iovs[i][2] = (struct iovec){ data + i * REQ_BYTES + parts[0] + parts[1], parts[2] };
		memcpy(saved[i], iovs[i], sizeof(saved[i]));
		reqs[i] = (struct blockif_req){ .op = BLOCKIF_WRITE, .offset = off,
			.iov = iovs[i], .iovcnt = 3, .done = done_cb, .param = &res[i] };
		res[i] = (struct result){ 0 };
		assert_int_equal(blockif_submit(bc, &reqs[i]), 0);
	}
	/* Nothing reaches the kernel before the kick. */
	assert_int_equal(blockif_complete(bc), 0);
	assert_int_equal(total_done, 0);
	blockif_kick(bc);
	wait_done(bc, NREQ);
	for (i = 0; i < NREQ; i++) {
		assert_int_equal(res[i].calls, 1);
		assert_int_equal(res[i].res, REQ_BYTES);
		assert_memory_equal(iovs[i], saved[i], sizeof(saved[i]));
	}
	assert_int_equal(op_range(bc, BLOCKIF_FLUSH, 0, 0, false), 0);

	/* Back through the backend, in one multi-iovec read... */
	{
		struct iovec riov[2] = { { back, 5000 }, { back + 5000, NREQ * REQ_BYTES - 5000 } };
		struct blockif_req rq = { .op = BLOCKIF_READ, .offset = 8192, .iov = riov,
			.iovcnt = 2 };

		assert_int_equal(run_req(bc, &rq), NREQ * REQ_BYTES);
	}
	check_pattern(back, 8192, NREQ * REQ_BYTES);
	/* ...and with pread(). */
	memset(back, 0, NREQ * REQ_BYTES);
	pread_file(path, back, NREQ * REQ_BYTES, 8192);
	check_pattern(back, 8192, NREQ * REQ_BYTES);
	/* Before and after the written range: untouched zeroes. */
	pread_file(path, back, 8192, 0);
	assert_true(all_zero(back, 8192));
	blockif_close(bc);
	free(data);
	free(back);
	drop_file(path);
}

static void test_out_of_range(void **state)
{
	char *path = make_file(64 * 1024, false);
	uint8_t buf[8192];
	struct iovec iov[2] = { { buf, 4096 }, { buf + 4096, 4096 } };
	struct blockif_req req = { .op = BLOCKIF_READ, .offset = 60 * 1024, .iov = iov,
		.iovcnt = 2, .done = done_cb };
	struct blockif_ctxt *bc = open_ok(path, NULL);

	assert_int_equal(blockif_submit(bc, &req), -EINVAL);
	req.op = BLOCKIF_WRITE;
	assert_int_equal(blockif_submit(bc, &req), -EINVAL);
	req.offset = UINT64_MAX - 100;
	assert_int_equal(blockif_submit(bc, &req), -EINVAL);
	req.op = BLOCKIF_DISCARD;
	req.offset = 60 * 1024;
	req.len = 8192;
	assert_int_equal(blockif_submit(bc, &req), -EINVAL);
	req.op = BLOCKIF_WRITE_ZEROES;
	assert_int_equal(blockif_submit(bc, &req), -EINVAL);
	req.offset = 0;
	req.len = 0;
	assert_int_equal(blockif_submit(bc, &req), -EINVAL);
	req.op = (enum blockif_op)42;
	assert_int_equal(blockif_submit(bc, &req), -EINVAL);
	/* Up to the last byte is fine. */
	req.op = BLOCKIF_READ;
	req.offset = 56 * 1024;
	assert_int_equal(run_req(bc, &req), 8192);
	blockif_close(bc);
	drop_file(path);
}

static void test_discard_punches_hole(void **state)
{
	char *path = make_file(4 * MiB, true);
	struct blockif_ctxt *bc;
	struct stat before, after;
	uint8_t *buf = malloc(MiB + 8192);

	assert_int_equal(stat(path, &before), 0);
	bc = open_ok(path, NULL);
	assert_true(blockif_candelete(bc));
	assert_int_equal(op_range(bc, BLOCKIF_DISCARD, MiB, MiB, false), 0);
	assert_int_equal(stat(path, &after), 0);
	assert_int_equal(after.st_size, before.st_size);
	assert_true(before.st_blocks - after.st_blocks >= MiB / 512);
	/* A hole reads as zeroes; its neighbours are intact. */
	assert_int_equal(rw(bc, BLOCKIF_READ, MiB - 4096, buf, MiB + 8192), MiB + 8192);
	check_pattern(buf, MiB - 4096, 4096);
	assert_true(all_zero(buf + 4096, MiB));
	check_pattern(buf + 4096 + MiB, 2 * MiB, 4096);
	blockif_close(bc);
	free(buf);
	drop_file(path);
}

static void test_nodelete(void **state)
{
	char *path = make_file(MiB, false);
	struct blockif_req req = { .op = BLOCKIF_DISCARD, .offset = 0, .len = 4096,
		.done = done_cb };
	struct blockif_ctxt *bc;

	bc = open_ok(path, "nodelete");
	assert_false(blockif_candelete(bc));
	assert_int_equal(blockif_submit(bc, &req), -EOPNOTSUPP);
	blockif_close(bc);
	config_init();
	bc = open_ok(path, "discard=false");
	assert_false(blockif_candelete(bc));
	blockif_close(bc);
	config_init();
	bc = open_ok(path, "discard");
	assert_true(blockif_candelete(bc));
	blockif_close(bc);
	drop_file(path);
}

static void test_write_zeroes(void **state)
{
	char *path = make_file(MiB, true);
	struct blockif_ctxt *bc;
	uint8_t *buf = malloc(MiB);
	struct stat before, after;

	bc = open_ok(path, NULL);
	assert_int_equal(op_range(bc, BLOCKIF_WRITE_ZEROES, 64 * 1024, 64 * 1024, false), 0);
	assert_int_equal(stat(path, &before), 0);
	assert_int_equal(op_range(bc, BLOCKIF_WRITE_ZEROES, 512 * 1024, 256 * 1024, true), 0);
	assert_int_equal(stat(path, &after), 0);
	/* unmap: the range was deallocated. */
	assert_true(after.st_blocks < before.st_blocks);
	assert_int_equal(after.st_size, MiB);
	assert_int_equal(rw(bc, BLOCKIF_READ, 0, buf, MiB), MiB);
	check_pattern(buf, 0, 64 * 1024);
	assert_true(all_zero(buf + 64 * 1024, 64 * 1024));
	check_pattern(buf + 128 * 1024, 128 * 1024, 384 * 1024);
	assert_true(all_zero(buf + 512 * 1024, 256 * 1024));
	check_pattern(buf + 768 * 1024, 768 * 1024, 256 * 1024);
	blockif_close(bc);
	/* Without discard, unmap still zeroes (but does not punch). */
	config_init();
	bc = open_ok(path, "nodelete");
	assert_int_equal(rw(bc, BLOCKIF_WRITE, 0, memset(buf, 0x5a, 8192), 8192), 8192);
	assert_int_equal(op_range(bc, BLOCKIF_WRITE_ZEROES, 0, 8192, true), 0);
	pread_file(path, buf, 8192, 0);
	assert_true(all_zero(buf, 8192));
	blockif_close(bc);
	free(buf);
	drop_file(path);
}

/*
 * A file system without FALLOC_FL_ZERO_RANGE (tmpfs, in /dev/shm): zeroes
 * are written instead.
 */
static void test_write_zeroes_fallback(void **state)
{
	struct blockif_ctxt *bc;
	uint8_t *buf;
	char *path;
	int fd, rc;

	if (access("/dev/shm", W_OK) != 0)
		skip();
	path = make_file_in("/dev/shm", MiB, false);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	rc = fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 0, 4096);
	close(fd);
	drop_file(path);
	if (rc == 0 || errno != EOPNOTSUPP)
		skip();         /* ZERO_RANGE works there: nothing to fall back from */
	path = make_file_in("/dev/shm", MiB, true);
	buf = malloc(MiB);
	bc = open_ok(path, NULL);
	assert_int_equal(op_range(bc, BLOCKIF_WRITE_ZEROES, 4096, 300 * 1024, false), 0);
	assert_int_equal(rw(bc, BLOCKIF_READ, 0, buf, MiB), MiB);
	check_pattern(buf, 0, 4096);
	assert_true(all_zero(buf + 4096, 300 * 1024));
	check_pattern(buf + 4096 + 300 * 1024, 4096 + 300 * 1024, MiB - 4096 - 300 * 1024);
	blockif_close(bc);
	free(buf);
	drop_file(path);
}

static void test_depth_limit(void **state)
{
	char *path = make_file(MiB, false);
	struct blockif_ctxt *bc = open_ok(path, NULL);
	unsigned depth = blockif_queue_depth(bc), i;
	struct blockif_req *reqs = calloc(depth + 1, sizeof(*reqs));
	struct result *res = calloc(depth + 1, sizeof(*res));
	uint8_t buf[512];
	struct iovec iov = { buf, sizeof(buf) };

	for (i = 0; i <= depth; i++)
		reqs[i] = (struct blockif_req){ .op = BLOCKIF_READ, .offset = 512 * (i % 64),
			.iov = &iov, .iovcnt = 1, .done = done_cb, .param = &res[i] };
	for (i = 0; i < depth; i++)
		assert_int_equal(blockif_submit(bc, &reqs[i]), 0);
	assert_false(blockif_can_submit(bc));
	assert_int_equal(blockif_submit(bc, &reqs[depth]), -EAGAIN);
	/* Still -EAGAIN once sent to the kernel (in flight counts too). */
	blockif_kick(bc);
	if (total_done == 0 && !blockif_can_submit(bc))
		assert_int_equal(blockif_submit(bc, &reqs[depth]), -EAGAIN);
	wait_done(bc, (int)depth);
	assert_true(blockif_can_submit(bc));
	assert_int_equal(blockif_submit(bc, &reqs[depth]), 0);
	blockif_kick(bc);
	wait_done(bc, (int)depth + 1);
	for (i = 0; i <= depth; i++) {
		assert_int_equal(res[i].calls, 1);
		assert_int_equal(res[i].res, 512);
	}
	blockif_close(bc);
	free(reqs);
	free(res);
	drop_file(path);
}

/*
 * The image shrinks under the backend: a read across the new end is short,
 * resubmitted for the rest (from a private iovec copy), then hits EOF: -EIO.
 */
static void test_short_read_then_eof(void **state)
{
	char *path = make_file(MiB, true);
	struct blockif_ctxt *bc = open_ok(path, NULL);
	uint8_t *buf = calloc(1, 64 * 1024);
	struct iovec iov[3] = { { buf, 4096 }, { buf + 4096, 28 * 1024 },
		{ buf + 32 * 1024, 32 * 1024 } }, saved[3];
	struct blockif_req req = { .op = BLOCKIF_READ, .offset = 512 * 1024 - 8192, .iov = iov,
		.iovcnt = 3 };

	memcpy(saved, iov, sizeof(saved));
	assert_int_equal(truncate(path, 512 * 1024), 0);
	assert_int_equal(run_req(bc, &req), -EIO);
	assert_memory_equal(iov, saved, sizeof(saved));
	check_pattern(buf, 512 * 1024 - 8192, 8192);
	/* Inside the remaining data all is well. */
	assert_int_equal(rw(bc, BLOCKIF_READ, 0, buf, 8192), 8192);
	check_pattern(buf, 0, 8192);
	blockif_close(bc);
	free(buf);
	drop_file(path);
}

/* nocache (O_DIRECT) on a file system that has it; guest buffers unaligned. */
static void test_nocache_unaligned(void **state)
{
	char *path = make_file(MiB, false);
	struct blockif_ctxt *bc;
	struct cfg_node *node = dev_node(path, "nocache");
	struct capture c;
	char *err;
	uint8_t *raw = malloc(3 * 16384 + 64), *wbuf = raw + 1, *rbuf = raw + 16384 + 3;
	uint8_t check[16384];
	struct statx stx;
	int i;

	capture_start(&c, 2);
	bc = blockif_open(node, IDENT);
	err = capture_end(&c);
	if (bc == NULL) {
		/* tmpfs before Linux 6.6 has no O_DIRECT: say so clearly and skip. */
		assert_non_null(strstr(err, "nocache (O_DIRECT) is not supported"));
		free(err);
		free(raw);
		drop_file(path);
		skip();
	}
	assert_string_equal(err, "");
	free(err);
	for (i = 0; i < 16384; i++)
		wbuf[i] = pattern(65536 + (uint64_t)i);
	{
		/* Unaligned bases and odd lengths (sum a sector multiple). */
		struct iovec wiov[2] = { { wbuf, 1000 }, { wbuf + 1000, 16384 - 1000 } };
		struct blockif_req req = { .op = BLOCKIF_WRITE, .offset = 65536, .iov = wiov,
			.iovcnt = 2 };

		assert_int_equal(run_req(bc, &req), 16384);
	}
	assert_int_equal(op_range(bc, BLOCKIF_FLUSH, 0, 0, false), 0);
	{
		struct iovec riov[3] = { { rbuf, 3 }, { rbuf + 3, 9000 },
			{ rbuf + 9003, 16384 - 9003 } };
		struct blockif_req req = { .op = BLOCKIF_READ, .offset = 65536, .iov = riov,
			.iovcnt = 3 };

		assert_int_equal(run_req(bc, &req), 16384);
	}
	check_pattern(rbuf, 65536, 16384);
	/* An aligned buffer goes straight through. */
	{
		void *al = NULL;

		assert_int_equal(posix_memalign(&al, 4096, 8192), 0);
		assert_int_equal(rw(bc, BLOCKIF_READ, 65536, al, 8192), 8192);
		check_pattern(al, 65536, 8192);
		/*
		 * The kernel's errors reach done(): O_DIRECT at an odd offset,
		 * where the file system minds (tmpfs does not).
		 */
		if (statx(AT_FDCWD, path, 0, STATX_DIOALIGN, &stx) == 0 &&
		    (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_offset_align > 100)
			assert_int_equal(rw(bc, BLOCKIF_READ, 65536 + 100, al, 4096), -EINVAL);
		free(al);
	}
	/* Write-zeroes also works with O_DIRECT. */
	assert_int_equal(op_range(bc, BLOCKIF_WRITE_ZEROES, 65536, 4096, false), 0);
	blockif_close(bc);
	pread_file(path, check, sizeof(check), 65536);
	assert_true(all_zero(check, 4096));
	check_pattern(check + 4096, 65536 + 4096, 16384 - 4096);
	free(raw);
	drop_file(path);
}

static void test_sync_option(void **state)
{
	char *path = make_file(MiB, false);
	uint8_t buf[4096];
	struct blockif_ctxt *bc;

	bc = open_ok(path, "direct");
	assert_int_equal(rw(bc, BLOCKIF_WRITE, 0, memset(buf, 0x11, sizeof(buf)), sizeof(buf)),
	    sizeof(buf));
	blockif_close(bc);
	config_init();
	bc = open_ok(path, "sync=on");
	assert_int_equal(rw(bc, BLOCKIF_READ, 0, buf, sizeof(buf)), sizeof(buf));
	assert_int_equal(buf[4095], 0x11);
	blockif_close(bc);
	drop_file(path);
}

/* close() waits for every request, queued or in flight, and completes it. */
static void test_close_waits(void **state)
{
	char *path = make_file(MiB, false);
	struct blockif_ctxt *bc = open_ok(path, NULL);
	static uint8_t data[8][65536];
	struct iovec iov[8];
	struct blockif_req reqs[9];
	struct result res[9] = { { 0 } };
	uint8_t back[65536];
	int i;

	for (i = 0; i < 8; i++) {
		memset(data[i], 'a' + i, sizeof(data[i]));
		iov[i] = (struct iovec){ data[i], sizeof(data[i]) };
		reqs[i] = (struct blockif_req){ .op = BLOCKIF_WRITE, .offset = (uint64_t)i * 65536,
			.iov = &iov[i], .iovcnt = 1, .done = done_cb, .param = &res[i] };
		assert_int_equal(blockif_submit(bc, &reqs[i]), 0);
		if (i == 3)
			blockif_kick(bc);
	}
	reqs[8] = (struct blockif_req){ .op = BLOCKIF_FLUSH, .done = done_cb, .param = &res[8] };
	assert_int_equal(blockif_submit(bc, &reqs[8]), 0);
	blockif_close(bc);      /* 4 in flight, 5 never kicked */
	assert_int_equal(total_done, 9);
	for (i = 0; i < 8; i++) {
		assert_int_equal(res[i].res, 65536);
		pread_file(path, back, sizeof(back), (off_t)i * 65536);
		assert_memory_equal(back, data[i], sizeof(back));
	}
	assert_int_equal(res[8].calls, 1);
	assert_int_equal(res[8].res, 0);
	drop_file(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_missing_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_no_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_directory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_fifo_does_not_hang, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_boolean, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sectorsize, setup, teardown),
		cmocka_unit_test_setup_teardown(test_size_rounded_down, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ro, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_flush_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_out_of_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_discard_punches_hole, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nodelete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_zeroes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_zeroes_fallback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_depth_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_short_read_then_eof, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nocache_unaligned, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_option, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_waits, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
