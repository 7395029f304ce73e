/*
 * Unit tests for the control socket: the JSON parser and emitter
 * (src/core/json.c), request handling (control_handle_request: commands,
 * versions, malformed input), the registry's files (socket, vmm/NAME link,
 * reclaim after a killed owner) and, end to end on a real unix socket
 * served by mevent, line buffering, over-long lines, many clients and a
 * destroy that stops the event loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/control.h"
#include "core/json.h"
#include "core/mevent.h"
#include "core/registry.h"
#include "core/vmm.h"

extern void __lsan_disable(void) __attribute__((weak));

/* ---- JSON parser ---------------------------------------------------------- */

static struct json_value *parse(const char *s)
{
	const char *err = NULL;

	return json_parse(s, strlen(s), &err);
}

static const char *parse_error(const char *s)
{
	const char *err = NULL;
	struct json_value *v = json_parse(s, strlen(s), &err);

	json_free(v);
	return v == NULL ? err : NULL;
}

static void test_parse_values(void **state)
{
	struct json_value *v = parse(" {\"a\": [1, -2.5e3, true, false, null], \"b\": {\"c\": \"d\"},"
				     " \"e\": \"\", \"a2\": 0} ");
	const struct json_value *a;
	int64_t n;

	assert_non_null(v);
	assert_int_equal(v->type, JSON_OBJECT);
	a = json_get(v, "a");
	assert_non_null(a);
	assert_int_equal(a->type, JSON_ARRAY);
	assert_int_equal(a->count, 5);
	assert_true(a->items[0].number == 1.0);
	assert_true(a->items[1].number == -2500.0);
	assert_true(a->items[2].type == JSON_BOOL && a->items[2].boolean);
	assert_true(a->items[3].type == JSON_BOOL && !a->items[3].boolean);
	assert_int_equal(a->items[4].type, JSON_NULL);
	assert_string_equal(json_get_string(json_get(v, "b"), "c"), "d");
	assert_string_equal(json_get_string(v, "e"), "");
	assert_null(json_get(v, "nope"));
	assert_int_equal(json_get_int(v, "a2", 0, 10, &n), 0);
	assert_int_equal(n, 0);
	json_free(v);
}

static void test_parse_strings(void **state)
{
	struct json_value *v = parse("[\"q\\\"b\\\\s\\/\\b\\f\\n\\r\\t\", \"\\u00e9\\u20ac\", "
				     "\"\\ud83d\\ude00\", \"caf\xc3\xa9\"]");

	assert_non_null(v);
	assert_string_equal(v->items[0].string, "q\"b\\s/\b\f\n\r\t");
	assert_string_equal(v->items[1].string, "\xc3\xa9\xe2\x82\xac");
	assert_string_equal(v->items[2].string, "\xf0\x9f\x98\x80");
	assert_string_equal(v->items[3].string, "caf\xc3\xa9");
	json_free(v);
}

static void test_parse_rejects(void **state)
{
	static const char *const bad[] = {
		"", "   ", "{", "}", "[1,]", "[,1]", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{a:1}",
		"'x'", "\"unterminated", "\"bad \\x escape\"", "\"\\u12\"", "\"\\ud800\"",
		"\"\\udc00\"", "\"\\u0000\"", "\"tab\tinside\"", "01", "1.", ".5", "-", "1e",
		"+1", "tru", "nul", "truex", "{} {}", "[1] x", "NaN", "Infinity",
		"123456789012345678901234567890123456789012345678901234567890123456789",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *err = parse_error(bad[i]);

		if (err == NULL)
			fail_msg("accepted malformed JSON: %s", bad[i]);
	}
}

static void test_parse_embedded_nul_and_length(void **state)
{
	const char text[] = "{\"command\":\"info\"}\0garbage";
	const char *err = NULL;
	struct json_value *v;

	/* The length is what counts: a NUL inside the text is a bad character. */
	assert_null(json_parse(text, sizeof(text) - 1, &err));
	assert_non_null(err);
	v = json_parse(text, strlen(text), &err);
	assert_non_null(v);
	json_free(v);
	/* Not NUL-terminated at len: the parser must stop at len. */
	v = json_parse("[1]]]]", 3, &err);
	assert_non_null(v);
	json_free(v);
}

static void test_parse_depth_limit(void **state)
{
	char deep[2 * (JSON_MAX_DEPTH + 2) + 1];
	int d = JSON_MAX_DEPTH + 1;

	memset(deep, '[', (size_t)d);
	memset(deep + d, ']', (size_t)d);
	deep[2 * d] = '\0';
	assert_non_null(parse_error(deep));
	deep[0] = ' ';
	deep[2 * d - 1] = ' '; /* exactly JSON_MAX_DEPTH levels */
	assert_null(parse_error(deep));
}

static void test_get_int(void **state)
{
	struct json_value *v = parse("{\"a\":1.5,\"b\":\"1\",\"c\":-3,\"d\":1e3,\"e\":1e300}");
	int64_t n;

	assert_int_equal(json_get_int(v, "a", 0, 10, &n), -1);
	assert_int_equal(json_get_int(v, "b", 0, 10, &n), -1);
	assert_int_equal(json_get_int(v, "c", 0, 10, &n), -1);
	assert_int_equal(json_get_int(v, "c", -5, 10, &n), 0);
	assert_int_equal(n, -3);
	assert_int_equal(json_get_int(v, "d", 0, 10000, &n), 0);
	assert_int_equal(n, 1000);
	assert_int_equal(json_get_int(v, "e", INT64_MIN, INT64_MAX, &n), -1);
	json_free(v);
}

/* ---- JSON emitter --------------------------------------------------------- */

static void test_emit(void **state)
{
	struct json_out o;
	struct json_value *back;
	size_t len;
	char *s;

	json_out_init(&o);
	json_begin_object(&o, NULL);
	json_i64(&o, "version", 1);
	json_bool(&o, "ok", true);
	json_string(&o, "esc", "a\"b\\c\n\x01");
	json_begin_array(&o, "list");
	json_u64(&o, NULL, UINT64_MAX);
	json_begin_object(&o, NULL);
	json_end_object(&o);
	json_begin_array(&o, NULL);
	json_end_array(&o);
	json_end_array(&o);
	json_hex(&o, "rip", 0xffffffff81000000ull);
	json_end_object(&o);
	s = json_out_finish(&o, &len);
	assert_non_null(s);
	if (strcmp(s, "{\"version\":1,\"ok\":true,\"esc\":\"a\\\"b\\\\c\\n\\u0001\","
		      "\"list\":[18446744073709551615,{},[]],\"rip\":\"0xffffffff81000000\"}\n") != 0) {
		free(s);
		fail_msg("unexpected JSON text");
	}
	assert_int_equal(len, strlen(s));
	back = json_parse(s, len, &(const char *){ NULL });
	assert_non_null(back);
	assert_string_equal(json_get_string(back, "esc"), "a\"b\\c\n\x01");
	json_free(back);
	free(s);
}

static void test_emit_unbalanced_fails(void **state)
{
	struct json_out o;

	json_out_init(&o);
	json_begin_object(&o, NULL);
	assert_null(json_out_finish(&o, NULL));
	assert_null(o.buf); /* and freed */
}

/* ---- requests ------------------------------------------------------------- */

static struct json_value *request(const char *line, enum control_action *action)
{
	char *reply = control_handle_request(line, strlen(line), action);
	struct json_value *v;
	size_t len;

	assert_non_null(reply);
	len = strlen(reply);
	assert_true(len > 0 && reply[len - 1] == '\n');
	assert_null(memchr(reply, '\n', len - 1)); /* exactly one line */
	v = json_parse(reply, len, &(const char *){ NULL });
	assert_non_null(v);
	free(reply);
	return v;
}

static bool reply_ok(const struct json_value *v)
{
	const struct json_value *ok = json_get(v, "ok");
	int64_t version;

	assert_int_equal(json_get_int(v, "version", 0, 100, &version), 0);
	assert_int_equal(version, CONTROL_PROTOCOL_VERSION);
	assert_non_null(ok);
	assert_int_equal(ok->type, JSON_BOOL);
	if (!ok->boolean)
		assert_non_null(json_get_string(v, "error"));
	return ok->boolean;
}

static void expect_error(const char *line, const char *needle)
{
	enum control_action action;
	struct json_value *v = request(line, &action);

	assert_false(reply_ok(v));
	assert_int_equal(action, CONTROL_NONE);
	if (strstr(json_get_string(v, "error"), needle) == NULL)
		fail_msg("request %s: error '%s' lacks '%s'", line, json_get_string(v, "error"), needle);
	json_free(v);
}

static int setup_control(void **state)
{
	control_configure(&(struct control_params){ .name = "unit", .memory = 256ull << 20 });
	return 0;
}

static void test_info(void **state)
{
	enum control_action action;
	struct json_value *v = request("{\"version\":1,\"command\":\"info\"}", &action);
	int64_t n;

	assert_true(reply_ok(v));
	assert_int_equal(action, CONTROL_NONE);
	assert_string_equal(json_get_string(v, "name"), "unit");
	assert_string_equal(json_get_string(v, "state"), "running");
	assert_int_equal(json_get_int(v, "pid", 1, INT32_MAX, &n), 0);
	assert_int_equal(n, getpid());
	assert_int_equal(json_get_int(v, "memory", 0, INT64_MAX / 2, &n), 0);
	assert_int_equal(n, 256 << 20);
	assert_int_equal(json_get_int(v, "cpus", 0, 1000, &n), 0);
	assert_int_equal(json_get_int(v, "uptime_ms", 0, 60000, &n), 0);
	json_free(v);

	control_note_stopping();
	v = request("{\"command\":\"info\"}", &action); /* version may be left out */
	assert_true(reply_ok(v));
	assert_string_equal(json_get_string(v, "state"), "stopping");
	json_free(v);
}

static void test_stats_without_vcpus(void **state)
{
	enum control_action action;
	struct json_value *v = request("{\"command\":\"stats\",\"version\":1}", &action);
	const struct json_value *vcpus;

	assert_true(reply_ok(v));
	vcpus = json_get(v, "vcpus");
	assert_non_null(vcpus);
	assert_int_equal(vcpus->type, JSON_ARRAY);
	assert_int_equal(vcpus->count, 0);
	json_free(v);
}

static void test_actions(void **state)
{
	static const struct {
		const char *command;
		enum control_action action;
	} cases[] = {
		{ "destroy", CONTROL_DESTROY },
		{ "force-reset", CONTROL_FORCE_RESET },
		{ "force-poweroff", CONTROL_FORCE_POWEROFF },
		{ "shutdown", CONTROL_POWER_BUTTON },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char line[128];
		enum control_action action;
		struct json_value *v;

		snprintf(line, sizeof(line), "{\"version\":1,\"command\":\"%s\"}", cases[i].command);
		v = request(line, &action);
		assert_true(reply_ok(v));
		assert_int_equal(action, cases[i].action);
		json_free(v);
	}
}

static void test_bad_requests(void **state)
{
	expect_error("", "malformed JSON");
	expect_error("{\"command\":\"info\"", "malformed JSON");
	expect_error("\x01\xff garbage", "malformed JSON");
	expect_error("[\"info\"]", "JSON object");
	expect_error("\"info\"", "JSON object");
	expect_error("{}", "missing \"command\"");
	expect_error("{\"command\":42}", "missing \"command\"");
	expect_error("{\"command\":\"reboot-the-universe\"}", "unknown command");
	expect_error("{\"version\":2,\"command\":\"info\"}", "unsupported protocol version 2");
	expect_error("{\"version\":\"1\",\"command\":\"info\"}", "\"version\" must be an integer");
	expect_error("{\"version\":1.5,\"command\":\"info\"}", "\"version\" must be an integer");
	expect_error("{\"command\":\"regs\"}", "needs \"cpu\"");
	expect_error("{\"command\":\"regs\",\"cpu\":\"0\"}", "must be an integer");
	expect_error("{\"command\":\"regs\",\"cpu\":-1}", "no vCPU -1");
	expect_error("{\"command\":\"regs\",\"cpu\":0}", "no vCPU 0"); /* no vCPUs here */
	expect_error("{\"command\":\"regs\",\"cpu\":1e30}", "must be an integer");
}

static void test_long_command_name_is_cut(void **state)
{
	char line[CONTROL_LINE_MAX];
	enum control_action action;
	struct json_value *v;

	snprintf(line, sizeof(line), "{\"command\":\"%0*d\"}", 3000, 0);
	v = request(line, &action);
	assert_false(reply_ok(v));
	assert_true(strlen(json_get_string(v, "error")) < 300);
	json_free(v);
}

/* ---- registry ------------------------------------------------------------- */

static char rundir[64];

static int setup_rundir(void **state)
{
	snprintf(rundir, sizeof(rundir), "/tmp/kt-control.XXXXXX");
	assert_non_null(mkdtemp(rundir));
	setenv("KHYVE_RUNDIR", rundir, 1);
	config_init();
	return 0;
}

static int teardown_rundir(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", rundir);
	assert_int_equal(system(cmd), 0);
	config_free();
	return 0;
}

static bool exists(const char *fmt, const char *arg)
{
	char path[256];
	struct stat st;

	snprintf(path, sizeof(path), fmt, rundir, arg);
	return lstat(path, &st) == 0;
}

static void test_registry_files_and_reclaim(void **state)
{
	char link[256], target[64];
	pid_t child;
	int status;
	ssize_t n;

	/* A child claims the name and dies without cleaning up, like kill -9. */
	child = fork();
	if (child == 0) {
		if (__lsan_disable)
			__lsan_disable();
		if (registry_claim("vm1") < 0)
			_exit(1);
		close(open("/dev/null", 0)); /* nothing else: the lock dies with us */
		_exit(registry_control_addr("vm1", &(struct sockaddr_un){ 0 }, &(int){ 0 }) == 0 ? 0 : 2);
	}
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_true(exists("%s/%s/lock", "vm1"));
	assert_true(exists("%s/vmm/%s", "vm1"));

	/* The stale entry is taken over. */
	assert_int_equal(registry_claim("vm1"), 0);
	snprintf(link, sizeof(link), "%s/vmm/vm1", rundir);
	n = readlink(link, target, sizeof(target) - 1);
	assert_true(n > 0);
	target[n] = '\0';
	assert_string_equal(target, "../vm1");
	assert_true(exists("%s/%s/pid", "vm1"));
	registry_release();
	assert_false(exists("%s/vmm/%s", "vm1"));
	assert_false(exists("%s/%s", "vm1"));
	assert_true(exists("%s/%s", "vmm")); /* shared: stays */
}

static void test_registry_refuses_vmm(void **state)
{
	assert_int_equal(registry_claim("vmm"), -1);
}

static void test_registry_long_rundir(void **state)
{
	char deep[200], dir[256];
	struct sockaddr_un sa;
	int dir_fd;

	/* Longer than sun_path: the address goes through /proc/self/fd. */
	snprintf(deep, sizeof(deep), "%s/%0120d", rundir, 0);
	assert_int_equal(mkdir(deep, 0755), 0);
	setenv("KHYVE_RUNDIR", deep, 1);
	assert_int_equal(registry_claim("vm2"), 0);
	assert_int_equal(registry_control_addr("vm2", &sa, &dir_fd), 0);
	assert_true(dir_fd >= 0);
	assert_memory_equal(sa.sun_path, "/proc/self/fd/", 14);
	close(dir_fd);
	snprintf(dir, sizeof(dir), "%s/vm2", deep);
	assert_int_equal(access(dir, F_OK), 0);
	registry_release();
	assert_int_equal(registry_control_addr("vm2", &sa, &dir_fd), -1);
	assert_int_equal(errno, ENOENT);
	setenv("KHYVE_RUNDIR", rundir, 1);
}

/* ---- the socket, served by mevent ----------------------------------------- */

static int connect_vm(const char *name)
{
	struct sockaddr_un sa;
	int dir_fd, fd;

	assert_int_equal(registry_control_addr(name, &sa, &dir_fd), 0);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	if (dir_fd >= 0)
		close(dir_fd);
	return fd;
}

/* Read one reply line (blocking); NULL at end of stream. */
static char *read_reply(int fd)
{
	static char buf[65536];
	size_t len = 0;

	while (len < sizeof(buf) - 1) {
		ssize_t n = read(fd, buf + len, 1);

		if (n <= 0)
			return len ? buf : NULL;
		if (buf[len++] == '\n')
			break;
	}
	buf[len] = '\0';
	return buf;
}

static void send_str(int fd, const char *s)
{
	assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

/* The client side, on its own thread while the test's main thread dispatches. */
static void *client_thread(void *arg)
{
	int fds[8], big;
	char *reply, *huge;

	/* Many clients at once, each answered on its own connection. */
	for (int i = 0; i < 8; i++)
		fds[i] = connect_vm("vm3");
	for (int i = 7; i >= 0; i--) {
		send_str(fds[i], "{\"version\":1,\"command\":\"info\"}\n");
		reply = read_reply(fds[i]);
		assert_non_null(strstr(reply, "\"name\":\"vm3\""));
	}
	/* Two requests in one write, one split across writes. */
	send_str(fds[0], "{\"command\":\"info\"}\n{\"command\":\"stats\"}\n{\"comm");
	assert_non_null(strstr(read_reply(fds[0]), "\"state\""));
	assert_non_null(strstr(read_reply(fds[0]), "\"vcpus\":[]"));
	send_str(fds[0], "and\":\"bogus\"}\n");
	assert_non_null(strstr(read_reply(fds[0]), "unknown command"));
	/* Malformed JSON: an error reply, and the connection stays usable. */
	send_str(fds[0], "this is not json\n");
	assert_non_null(strstr(read_reply(fds[0]), "malformed JSON"));
	send_str(fds[0], "{\"command\":\"info\"}\n");
	assert_non_null(strstr(read_reply(fds[0]), "\"ok\":true"));
	/* A last request without newline, then a half-close: still answered. */
	send_str(fds[1], "{\"command\":\"info\"}");
	shutdown(fds[1], SHUT_WR);
	assert_non_null(strstr(read_reply(fds[1]), "\"ok\":true"));
	assert_null(read_reply(fds[1]));
	/* A line longer than the limit: an error, then the server hangs up. */
	big = connect_vm("vm3");
	huge = malloc(3 * CONTROL_LINE_MAX);
	memset(huge, ' ', 3 * CONTROL_LINE_MAX);
	(void)!send(big, huge, 3 * CONTROL_LINE_MAX, MSG_NOSIGNAL);
	free(huge);
	reply = read_reply(big);
	assert_non_null(reply);
	assert_non_null(strstr(reply, "longer than"));
	assert_null(read_reply(big));
	close(big);
	/* Destroy: acknowledged, then the VM stops (the event loop returns). */
	send_str(fds[2], "{\"version\":1,\"command\":\"destroy\"}\n");
	assert_non_null(strstr(read_reply(fds[2]), "\"ok\":true"));
	for (int i = 0; i < 8; i++)
		close(fds[i]);
	return NULL;
}

static void test_socket_end_to_end(void **state)
{
	pthread_t client;

	assert_int_equal(mevent_init(), 0);
	assert_int_equal(registry_claim("vm3"), 0);
	assert_int_equal(control_start(&(struct control_params){ .name = "vm3", .memory = 1 << 30 }),
			 0);
	assert_true(exists("%s/%s/control.sock", "vm3"));
	assert_int_equal(pthread_create(&client, NULL, client_thread, NULL), 0);
	mevent_dispatch(); /* until destroy */
	assert_int_equal(pthread_join(client, NULL), 0);
	assert_true(vm_exit_requested());
	assert_int_equal(vm_exit_code(), VM_EXIT_ERROR); /* bhyve exits 4 when destroyed */
	control_stop();
	registry_release();
	assert_false(exists("%s/%s/control.sock", "vm3"));
	assert_false(exists("%s/vmm/%s", "vm3"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_values),
		cmocka_unit_test(test_parse_strings),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_parse_embedded_nul_and_length),
		cmocka_unit_test(test_parse_depth_limit),
		cmocka_unit_test(test_get_int),
		cmocka_unit_test(test_emit),
		cmocka_unit_test(test_emit_unbalanced_fails),
		cmocka_unit_test_setup(test_info, setup_control),
		cmocka_unit_test_setup(test_stats_without_vcpus, setup_control),
		cmocka_unit_test_setup(test_actions, setup_control),
		cmocka_unit_test_setup(test_bad_requests, setup_control),
		cmocka_unit_test_setup(test_long_command_name_is_cut, setup_control),
		cmocka_unit_test_setup_teardown(test_registry_files_and_reclaim, setup_rundir,
						teardown_rundir),
		cmocka_unit_test_setup_teardown(test_registry_refuses_vmm, setup_rundir, teardown_rundir),
		cmocka_unit_test_setup_teardown(test_registry_long_rundir, setup_rundir, teardown_rundir),
		cmocka_unit_test_setup_teardown(test_socket_end_to_end, setup_rundir, teardown_rundir),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
