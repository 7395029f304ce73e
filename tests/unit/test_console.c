/*
 * Unit tests for the attachable consoles (src/hw/console.c), driven as the
 * UART glue drives them but without KVM: guest output through
 * console_write, user input through the console_ops, a real event loop on a
 * thread of its own, and real clients (a process opening the nmdm B name,
 * a unix socket client).
 *
 * Covered: the nmdm names (B is the pty slave, A khyve's master) created and
 * removed, stale names replaced and live ones refused; output kept while
 * nobody is attached and delivered on attach; only the newest
 * CONSOLE_RING_SIZE bytes kept; console_write never blocks on a client that
 * does not read; detach and re-attach; input with back-pressure; the socket
 * server (one client, a second refused, reconnect); the control "info" members.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/json.h"
#include "core/mevent.h"
#include "hw/console.h"

/* ---- fixture: the UART glue's side and an event loop thread ------------- */

static atomic_size_t room;
static pthread_mutex_t input_lock = PTHREAD_MUTEX_INITIALIZER;
static uint8_t input_buf[4096];
static size_t input_len;

static size_t input_room(void *arg)
{
	return atomic_load(&room);
}

static void input(void *arg, const uint8_t *buf, size_t len)
{
	pthread_mutex_lock(&input_lock);
	assert_true(len <= atomic_load(&room));
	if (input_len + len <= sizeof(input_buf)) {
		memcpy(input_buf + input_len, buf, len);
		input_len += len;
	}
	atomic_fetch_sub(&room, len);
	pthread_mutex_unlock(&input_lock);
}

static const struct console_ops ops = { .input_room = input_room, .input = input };

static pthread_t loop_thread;
static char rundir[256];
static char nmdm_a[PATH_MAX], nmdm_b[PATH_MAX], sock_path[PATH_MAX], vm_dir[PATH_MAX];
/* The B name of the last console opened: in /dev, or RUNDIR/NAME for a user without /dev. */
static char user_b[PATH_MAX];

static void *loop_main(void *arg)
{
	mevent_dispatch();
	return NULL;
}

static int setup(void **state)
{
	static int n;

	config_init();
	set_config_value("name", "kt-console");
	snprintf(rundir, sizeof(rundir), "/tmp/kt-console-run.%d", (int)getpid());
	mkdir(rundir, 0755);
	set_config_value("rundir", rundir);
	n++;
	snprintf(nmdm_a, sizeof(nmdm_a), "/dev/nmdmkt%d.%dA", (int)getpid(), n);
	snprintf(nmdm_b, sizeof(nmdm_b), "/dev/nmdmkt%d.%dB", (int)getpid(), n);
	snprintf(sock_path, sizeof(sock_path), "%s/com1.sock", rundir);
	snprintf(vm_dir, sizeof(vm_dir), "%s/kt-console", rundir);
	mkdir(vm_dir, 0755); /* RUNDIR/NAME, as the registry makes it */
	atomic_store(&room, 4096);
	input_len = 0;
	assert_int_equal(mevent_init(), 0);
	assert_int_equal(pthread_create(&loop_thread, NULL, loop_main, NULL), 0);
	return 0;
}

/* Consoles are closed by the tests after this stopped the loop, as mevent_delete requires. */
static void stop_loop(void)
{
	mevent_stop();
	pthread_join(loop_thread, NULL);
}

static int teardown(void **state)
{
	unlink(nmdm_a);
	unlink(nmdm_b);
	unlink(sock_path);
	rmdir(vm_dir);
	rmdir(rundir);
	config_free();
	return 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A detached pty's hang-up must not keep the event loop busy. */
static void expect_idle(void)
{
	double cpu0 = cpu_s();

	usleep(300000);
	assert_true(cpu_s() - cpu0 < 0.1);
}

static bool wait_attached(struct console *c, bool want)
{
	for (int i = 0; i < 500; i++) {
		if (console_attached(c) == want)
			return true;
		usleep(10000);
	}
	return false;
}

/* Read exactly len bytes from fd within 5 s. */
static size_t read_exactly(int fd, uint8_t *buf, size_t len)
{
	size_t got = 0;
	double end = now_s() + 5;

	while (got < len && now_s() < end) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		n = read(fd, buf + got, len - got);
		if (n > 0)
			got += (size_t)n;
		else if (n == 0 || (errno != EAGAIN && errno != EINTR))
			break;
	}
	return got;
}

/* Nothing more arrives within 200 ms. */
static void expect_quiet(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	uint8_t b;

	if (poll(&pfd, 1, 200) > 0 && (pfd.revents & POLLIN))
		assert_int_equal(read(fd, &b, 1), -1);
}

static void expect_read(int fd, const char *want)
{
	char buf[256];
	size_t len = strlen(want);

	assert_true(len < sizeof(buf));
	assert_int_equal(read_exactly(fd, (uint8_t *)buf, len), len);
	buf[len] = '\0';
	assert_string_equal(buf, want);
}

static void say(struct console *c, const char *s)
{
	console_write(c, (const uint8_t *)s, strlen(s));
}

static int open_b(void)
{
	int fd = open(user_b, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);

	assert_true(fd >= 0);
	return fd;
}

static struct console *open_nmdm(void)
{
	struct console *c = console_open("com1", nmdm_a, &ops, NULL);

	assert_non_null(c);
	snprintf(user_b, sizeof(user_b), "%s", console_user_path(c));
	return c;
}

/* Tests of the names in /dev itself need to be allowed to write there. */
static void need_dev(void)
{
	if (access("/dev", W_OK) != 0) {
		stop_loop();
		skip();
	}
}

/* ---- nmdm ------------------------------------------------------------------ */

static void test_spec_matches(void **state)
{
	assert_true(console_spec_matches("/dev/nmdm0A"));
	assert_true(console_spec_matches("socket,/tmp/x"));
	assert_true(console_spec_matches("tcp=127.0.0.1:4000"));
	assert_false(console_spec_matches("stdio"));
	assert_false(console_spec_matches("/dev/ttyS0"));
	assert_false(console_spec_matches("/dev/pts/3"));
	stop_loop();
}

/* B links to the pty slave users open, A to khyve's master; both go on close. */
static void test_nmdm_names(void **state)
{
	char target[PATH_MAX], proc_prefix[64];
	struct console *c;
	struct stat st;
	ssize_t n;

	need_dev();
	c = open_nmdm();

	assert_string_equal(console_user_path(c), nmdm_b);
	assert_int_equal(lstat(nmdm_b, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(stat(nmdm_b, &st), 0);
	assert_true(S_ISCHR(st.st_mode));
	n = readlink(nmdm_b, target, sizeof(target) - 1);
	assert_true(n > 0);
	target[n] = '\0';
	assert_memory_equal(target, "/dev/pts/", 9);
	n = readlink(nmdm_a, target, sizeof(target) - 1);
	assert_true(n > 0);
	target[n] = '\0';
	snprintf(proc_prefix, sizeof(proc_prefix), "/proc/%d/fd/", (int)getpid());
	assert_memory_equal(target, proc_prefix, strlen(proc_prefix));
	stop_loop();
	console_close(c);
	assert_int_equal(lstat(nmdm_a, &st), -1);
	assert_int_equal(lstat(nmdm_b, &st), -1);
}

static void test_nmdm_bad_name(void **state)
{
	assert_null(console_open("com1", "/dev/nmdm0C", &ops, NULL));
	assert_null(console_open("com1", "/dev/nmdmA", &ops, NULL));
	stop_loop();
}

/* Links of a killed khyve are replaced; those of a running one are not. */
static void test_nmdm_stale_and_busy(void **state)
{
	struct console *c, *other;

	need_dev();

	assert_int_equal(symlink("/proc/2147483646/fd/5", nmdm_a), 0);
	assert_int_equal(symlink("/dev/pts/4095", nmdm_b), 0);
	c = open_nmdm();
	other = console_open("com2", nmdm_a, &ops, NULL);
	assert_null(other);
	/* Naming the other end of a pair in use is refused too. */
	other = console_open("com2", nmdm_b, &ops, NULL);
	assert_null(other);
	stop_loop();
	console_close(c);
}

/* A name that is a real file is not khyve's to replace. */
static void test_nmdm_name_not_ours(void **state)
{
	int fd = open(nmdm_b, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);

	need_dev();

	assert_true(fd >= 0);
	close(fd);
	assert_null(console_open("com1", nmdm_a, &ops, NULL));
	stop_loop();
}

/* Output before anybody attached reaches the first client, in order. */
static void test_nmdm_buffered_until_attach(void **state)
{
	struct console *c = open_nmdm();
	int fd;

	say(c, "boot line 1\r\n");
	say(c, "login: ");
	assert_false(console_attached(c));
	assert_int_equal(console_buffered(c), strlen("boot line 1\r\nlogin: "));
	fd = open_b();
	assert_true(wait_attached(c, true));
	expect_read(fd, "boot line 1\r\nlogin: ");
	/* Attached: straight through. */
	say(c, "more");
	expect_read(fd, "more");
	expect_quiet(fd);
	close(fd);
	stop_loop();
	console_close(c);
}

/* Beyond the ring, the oldest bytes go: the client gets exactly the newest CONSOLE_RING_SIZE. */
static void test_nmdm_oldest_dropped(void **state)
{
	const size_t extra = 1000, total = CONSOLE_RING_SIZE + extra;
	struct console *c = open_nmdm();
	uint8_t *out = malloc(total), *in = malloc(CONSOLE_RING_SIZE);
	int fd;

	for (size_t i = 0; i < total; i++)
		out[i] = (uint8_t)(i * 7 + i / 251);
	/* In pieces, as a guest writes: one byte, then bigger chunks. */
	console_write(c, out, 1);
	for (size_t off = 1; off < total; off += 4093)
		console_write(c, out + off, total - off < 4093 ? total - off : 4093);
	assert_int_equal(console_buffered(c), CONSOLE_RING_SIZE);
	assert_int_equal(console_dropped(c), extra);
	fd = open_b();
	assert_int_equal(read_exactly(fd, in, CONSOLE_RING_SIZE), CONSOLE_RING_SIZE);
	assert_memory_equal(in, out + extra, CONSOLE_RING_SIZE);
	expect_quiet(fd);
	close(fd);
	stop_loop();
	console_close(c);
	free(out);
	free(in);
}

/* A client that never reads: 4 MiB of output still take no time and the newest stay. */
static void test_nmdm_guest_never_blocks(void **state)
{
	struct console *c = open_nmdm();
	uint8_t chunk[4096];
	double t0;
	int fd = open_b();

	assert_true(wait_attached(c, true));
	memset(chunk, 'x', sizeof(chunk));
	t0 = now_s();
	for (int i = 0; i < 1024; i++)
		console_write(c, chunk, sizeof(chunk));
	for (int i = 0; i < 4096; i++)
		console_write(c, (const uint8_t *)"y", 1);
	assert_true(now_s() - t0 < 2.0);
	assert_int_equal(console_buffered(c), CONSOLE_RING_SIZE);
	assert_true(console_dropped(c) > 0);
	close(fd);
	stop_loop();
	console_close(c);
}

/* Detach, output while nobody is there, re-attach: nothing lost, nothing twice. */
static void test_nmdm_reattach(void **state)
{
	struct console *c = open_nmdm();
	int fd = open_b();

	assert_true(wait_attached(c, true));
	say(c, "first\r\n");
	expect_read(fd, "first\r\n");
	close(fd);
	assert_true(wait_attached(c, false));
	expect_idle();
	say(c, "while detached\r\n");
	assert_int_equal(console_buffered(c), strlen("while detached\r\n"));
	fd = open_b();
	expect_read(fd, "while detached\r\n");
	say(c, "after\r\n");
	expect_read(fd, "after\r\n");
	expect_quiet(fd);
	close(fd);
	/* And once more, with a second client program. */
	assert_true(wait_attached(c, false));
	say(c, "third visit");
	fd = open_b();
	expect_read(fd, "third visit");
	close(fd);
	stop_loop();
	console_close(c);
}

/* What the user types reaches the consumer, which can hold it back. */
static void test_nmdm_input_backpressure(void **state)
{
	struct console *c = open_nmdm();
	int fd = open_b();

	assert_true(wait_attached(c, true));
	assert_int_equal(write(fd, "ls\r", 3), 3);
	for (int i = 0; i < 500 && input_len < 3; i++)
		usleep(10000);
	assert_int_equal(input_len, 3);
	assert_memory_equal(input_buf, "ls\r", 3);
	/* The consumer is full: input waits in the pty, then flows when room returns. */
	atomic_store(&room, 0);
	assert_int_equal(write(fd, "abcdef", 6), 6);
	usleep(200000);
	assert_int_equal(input_len, 3);
	atomic_store(&room, 4);
	console_input_ready(c);
	for (int i = 0; i < 500 && input_len < 7; i++)
		usleep(10000);
	assert_int_equal(input_len, 7);
	atomic_store(&room, 100);
	console_input_ready(c);
	for (int i = 0; i < 500 && input_len < 9; i++)
		usleep(10000);
	assert_int_equal(input_len, 9);
	assert_memory_equal(input_buf, "ls\rabcdef", 9);
	close(fd);
	/* A hang-up while input is paused detaches (no busy loop on the HUP). */
	atomic_store(&room, 0);
	fd = open_b();
	assert_true(wait_attached(c, true));
	assert_int_equal(write(fd, "z", 1), 1);
	usleep(100000);
	close(fd);
	assert_true(wait_attached(c, false));
	expect_idle();
	stop_loop();
	console_close(c);
}

/* The control socket's view of a console. */
static void test_nmdm_describe(void **state)
{
	struct console *c = open_nmdm();
	struct json_value *v;
	struct json_out o;
	const char *err;
	size_t len;
	char *text;

	say(c, "12345");
	json_out_init(&o);
	json_begin_object(&o, NULL);
	console_describe(c, &o);
	json_end_object(&o);
	text = json_out_finish(&o, &len);
	v = json_parse(text, len, &err);
	assert_non_null(v);
	assert_string_equal(json_get_string(v, "type"), "nmdm");
	assert_string_equal(json_get_string(v, "path"), user_b);
	assert_memory_equal(json_get_string(v, "pty"), "/dev/pts/", 9);
	assert_false(json_get(v, "attached")->boolean);
	assert_int_equal((int)json_get(v, "buffered")->number, 5);
	json_free(v);
	free(text);
	stop_loop();
	console_close(c);
}

/* As a user without write access to /dev: the names go to RUNDIR/NAME. */
static void test_nmdm_fallback_to_rundir(void **state)
{
	char want[PATH_MAX + 64];
	struct console *c;

	stop_loop();
	if (access("/dev", W_OK) == 0)
		skip();
	c = open_nmdm();
	snprintf(want, sizeof(want), "%s/%s", vm_dir, strrchr(nmdm_b, '/') + 1);
	assert_string_equal(console_user_path(c), want);
	console_close(c);
	assert_int_equal(access(want, F_OK), -1);
}

/* ---- socket ------------------------------------------------------------------ */

static int connect_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void test_socket_one_client(void **state)
{
	char spec[PATH_MAX + 8], buf[256];
	struct console *c;
	struct stat st;
	int fd, second;
	ssize_t n;

	snprintf(spec, sizeof(spec), "socket,%s", sock_path);
	c = console_open("com1", spec, &ops, NULL);
	assert_non_null(c);
	assert_int_equal(stat(sock_path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	say(c, "early");
	fd = connect_unix(sock_path);
	expect_read(fd, "early");
	assert_true(wait_attached(c, true));
	/* A second client is told so and let go. */
	second = connect_unix(sock_path);
	n = read_exactly(second, (uint8_t *)buf, 20);
	assert_true(n > 0);
	assert_memory_equal(buf, "khyve: the com1 cons", 20);
	close(second);
	assert_int_equal(write(fd, "typed", 5), 5);
	for (int i = 0; i < 500 && input_len < 5; i++)
		usleep(10000);
	assert_memory_equal(input_buf, "typed", 5);
	close(fd);
	assert_true(wait_attached(c, false));
	say(c, "later");
	fd = connect_unix(sock_path);
	expect_read(fd, "later");
	close(fd);
	/* A live socket path is refused to a second server. */
	assert_null(console_open("com2", spec, &ops, NULL));
	stop_loop();
	console_close(c);
	assert_int_equal(stat(sock_path, &st), -1);
}

static void test_socket_stale_replaced(void **state)
{
	char spec[PATH_MAX + 8];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct console *c;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(strlen(sock_path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd); /* a socket file nobody listens on: a killed khyve's */
	snprintf(spec, sizeof(spec), "socket,%s", sock_path);
	c = console_open("com1", spec, &ops, NULL);
	assert_non_null(c);
	stop_loop();
	console_close(c);
	assert_null(console_open("com1", "socket,", &ops, NULL));
	assert_null(console_open("com1", "tcp=nonsense", &ops, NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_spec_matches, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nmdm_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nmdm_bad_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nmdm_stale_and_busy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nmdm_name_not_ours, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nmdm_buffered_until_attach, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nmdm_oldest_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nmdm_guest_never_blocks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nmdm_reattach, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nmdm_input_backpressure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nmdm_describe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nmdm_fallback_to_rundir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_socket_one_client, setup, teardown),
		cmocka_unit_test_setup_teardown(test_socket_stale_replaced, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
