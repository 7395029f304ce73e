/*
 * Unit tests for the configuration tree (src/core/config.c): keys and
 * nodes, leaf/node conflicts, %() expansion and its errors, typed parsing,
 * the getters' exit(4) on malformed values (checked in a forked child),
 * dump_config() and the -k loader, including the dump -> load round trip.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.h"

#include "capture.h"

/* ---- helpers ----------------------------------------------------------- */

/* Tests run under ASan; a forked child that exit()s must not report leaks. */
extern void __lsan_disable(void) __attribute__((weak));

static int setup(void **state)
{
	config_init();
	return 0;
}

static int teardown(void **state)
{
	config_free();
	return 0;
}

static char *dump_to_string(void)
{
	FILE *fp = tmpfile();
	char *text;

	dump_config(fp);
	text = read_stream(fp);
	fclose(fp);
	return text;
}

static char *write_temp_file(const char *contents)
{
	char *path = strdup("/tmp/test_config.XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, contents, strlen(contents)), (ssize_t)strlen(contents));
	close(fd);
	return path;
}

/* Load contents through config_load_file; returns rc, stderr in *err. */
static int load_string(const char *contents, char **err, char **path_out)
{
	char *path = write_temp_file(contents);
	struct capture c;
	int rc;

	capture_start(&c, 2);
	rc = config_load_file(path);
	*err = capture_end(&c);
	if (path_out != NULL)
		*path_out = path;
	else {
		unlink(path);
		free(path);
	}
	return rc;
}

typedef void (*child_fn)(void);

/* Run fn in a child; expect exit(4) and exactly one stderr line containing want. */
static void expect_exit4(child_fn fn, const char *want)
{
	FILE *err = tmpfile();
	int status;
	pid_t pid;
	char *text;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (__lsan_disable != NULL)
			__lsan_disable();
		dup2(fileno(err), 2);
		fn();
		_exit(0); /* the getter returned: wrong */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 4);
	text = read_stream(err);
	fclose(err);
	assert_int_equal(count_lines(text), 1);
	assert_non_null(strstr(text, want));
	assert_true(strncmp(text, "khyve: ", 7) == 0);
	free(text);
}

/* ---- keys, nodes and values ------------------------------------------- */

static void test_set_get_simple(void **state)
{
	assert_null(get_config_value("name"));
	assert_int_equal(set_config_value("name", "vm0"), 0);
	assert_string_equal(get_config_value("name"), "vm0");
	assert_int_equal(set_config_value("name", "vm1"), 0);
	assert_string_equal(get_config_value("name"), "vm1");
	assert_string_equal(get_config_value_default("nope", "dflt"), "dflt");
	assert_string_equal(get_config_value_default("name", "dflt"), "vm1");
}

static void test_nested_keys_and_nodes(void **state)
{
	struct cfg_node *pci, *dev;

	assert_int_equal(set_config_value("pci.0.3.0.device", "virtio-blk"), 0);
	assert_int_equal(set_config_value("pci.0.3.0.path", "/img"), 0);
	pci = find_config_node("pci");
	assert_non_null(pci);
	assert_string_equal(config_node_name(pci), "pci");
	dev = find_relative_config_node(pci, "0.3.0");
	assert_non_null(dev);
	assert_ptr_equal(dev, find_config_node("pci.0.3.0"));
	assert_string_equal(config_node_name(dev), "0");
	assert_string_equal(get_config_value_node(dev, "path"), "/img");
	assert_string_equal(get_config_value_node(pci, "0.3.0.device"), "virtio-blk");
	assert_null(find_config_node("pci.0.3.0.path")); /* a leaf, not a node */
	assert_null(find_config_node("pci.1"));
	assert_null(get_config_value("pci.0.3")); /* a node, not a leaf */
}

static void test_node_relative_set(void **state)
{
	struct cfg_node *port = create_config_node("pci.0.1.0.port.0");

	assert_non_null(port);
	assert_int_equal(set_config_value_node(port, "type", "hd"), 0);
	assert_int_equal(set_config_value_node(port, "opts.ro", "true"), 0);
	assert_int_equal(set_config_bool_node(port, "nocache", false), 0);
	assert_string_equal(get_config_value("pci.0.1.0.port.0.type"), "hd");
	assert_string_equal(get_config_value("pci.0.1.0.port.0.opts.ro"), "true");
	assert_false(get_config_bool_node_default(port, "nocache", true));
	assert_true(get_config_bool_node_default(port, "absent", true));
	assert_ptr_equal(create_config_node("pci.0.1.0.port.0"), port);
	assert_ptr_equal(create_relative_config_node(find_config_node("pci.0.1.0"), "port.0"),
	    port);
	/* NULL node means the root. */
	assert_int_equal(set_config_value_node(NULL, "top", "1"), 0);
	assert_string_equal(get_config_value_node(NULL, "top"), "1");
}

static void test_bad_keys(void **state)
{
	static const char *const bad[] = {
		"", ".", "a..b", ".a", "a.", "a b", "a=b", "#a", "a.#b", "a\tb", "a.\x01",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(set_config_value(bad[i], "x"), -1);
		assert_true(strlen(config_last_error()) > 0);
		assert_null(create_config_node(bad[i]));
	}
	assert_int_equal(set_config_value("a..b", "x"), -1);
	assert_non_null(strstr(config_last_error(), "empty component"));
	assert_int_equal(set_config_value(NULL, "x"), -1);
	/* Nothing was created by the failures. */
	assert_null(find_config_node("a"));
}

static void test_value_with_newline_rejected(void **state)
{
	assert_int_equal(set_config_value("a", "x\ny"), -1);
	assert_non_null(strstr(config_last_error(), "newline"));
	assert_int_equal(set_config_value("a", NULL), -1);
	assert_null(get_config_value("a"));
	/* Empty values are fine. */
	assert_int_equal(set_config_value("a", ""), 0);
	assert_string_equal(get_config_value("a"), "");
}

static void test_leaf_node_conflicts(void **state)
{
	assert_int_equal(set_config_value("a", "1"), 0);
	assert_int_equal(set_config_value("a.b", "2"), -1);
	assert_non_null(strstr(config_last_error(), "'a' holds a value"));
	assert_null(create_config_node("a.c"));
	assert_null(create_config_node("a"));

	assert_int_equal(set_config_value("x.y.z", "1"), 0);
	assert_int_equal(set_config_value("x.y", "2"), -1);
	assert_non_null(strstr(config_last_error(), "'x.y' has keys below it"));
	assert_int_equal(set_config_value("x", "2"), -1);
	assert_string_equal(get_config_value("x.y.z"), "1");

	/* An empty node made by create_config_node is still a node. */
	assert_non_null(create_config_node("empty.node"));
	assert_int_equal(set_config_value("empty.node", "v"), -1);
}

static void test_set_if_unset(void **state)
{
	struct cfg_node *n = create_config_node("lpc.tpm");

	assert_int_equal(set_config_value_if_unset("k", "first"), 0);
	assert_int_equal(set_config_value_if_unset("k", "second"), 0);
	assert_string_equal(get_config_value("k"), "first");
	assert_int_equal(set_config_value_node_if_unset(n, "version", "2.0"), 0);
	assert_int_equal(set_config_value_node_if_unset(n, "version", "1.2"), 0);
	assert_string_equal(get_config_value("lpc.tpm.version"), "2.0");
	/* Conflicts are still errors. */
	assert_int_equal(set_config_value_if_unset("lpc", "x"), -1);
}

static void test_init_resets_and_free_is_reusable(void **state)
{
	assert_int_equal(set_config_value("a.b", "1"), 0);
	config_init();
	assert_null(get_config_value("a.b"));
	config_free();
	/* The tree comes back on first use after config_free(). */
	assert_int_equal(set_config_value("c", "2"), 0);
	assert_string_equal(get_config_value("c"), "2");
}

/* ---- parsing helpers ---------------------------------------------------- */

static void test_parse_bool(void **state)
{
	static const char *const yes[] = { "true", "TRUE", "on", "On", "yes", "YES", "1" };
	static const char *const no[] = { "false", "False", "off", "OFF", "no", "No", "0" };
	static const char *const bad[] = { "", "2", "tru", "yess", " true", "true ", "01" };
	size_t i;
	bool b;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		b = false;
		assert_int_equal(config_parse_bool(yes[i], &b), 0);
		assert_true(b);
	}
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		b = true;
		assert_int_equal(config_parse_bool(no[i], &b), 0);
		assert_false(b);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(config_parse_bool(bad[i], &b), -1);
	assert_int_equal(config_parse_bool(NULL, &b), -1);
}

static void test_parse_int(void **state)
{
	int64_t v;

	assert_int_equal(config_parse_int("42", &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(config_parse_int("0x10", &v), 0);
	assert_int_equal(v, 16);
	assert_int_equal(config_parse_int("010", &v), 0); /* strtol base 0: octal */
	assert_int_equal(v, 8);
	assert_int_equal(config_parse_int("-5", &v), 0);
	assert_int_equal(v, -5);
	assert_int_equal(config_parse_int("9223372036854775807", &v), 0);
	assert_int_equal(config_parse_int("9223372036854775808", &v), -1);
	assert_int_equal(config_parse_int("-9223372036854775809", &v), -1);
	assert_int_equal(config_parse_int("99999999999999999999999", &v), -1);
	assert_int_equal(config_parse_int("", &v), -1);
	assert_int_equal(config_parse_int(" 5", &v), -1);
	assert_int_equal(config_parse_int("5 ", &v), -1);
	assert_int_equal(config_parse_int("5x", &v), -1);
	assert_int_equal(config_parse_int("x", &v), -1);
	assert_int_equal(config_parse_int(NULL, &v), -1);
}

static void test_parse_size(void **state)
{
	uint64_t v;

	assert_int_equal(config_parse_size("4096", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(config_parse_size("512M", &v), 0);
	assert_int_equal(v, 512ULL << 20);
	assert_int_equal(config_parse_size("1g", &v), 0);
	assert_int_equal(v, 1ULL << 30);
	assert_int_equal(config_parse_size("2T", &v), 0);
	assert_int_equal(v, 2ULL << 40);
	assert_int_equal(config_parse_size("3k", &v), 0);
	assert_int_equal(v, 3072);
	assert_int_equal(config_parse_size("7b", &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(config_parse_size("1P", &v), 0);
	assert_int_equal(v, 1ULL << 50);
	assert_int_equal(config_parse_size("15E", &v), 0);
	assert_int_equal(v, 15ULL << 60);
	assert_int_equal(config_parse_size("0x10k", &v), 0);
	assert_int_equal(v, 16384);
	assert_int_equal(config_parse_size("18446744073709551615", &v), 0);
	assert_int_equal(v, UINT64_MAX);

	assert_int_equal(config_parse_size("16E", &v), -1);                  /* 2^64 */
	assert_int_equal(config_parse_size("17179869184G", &v), -1);         /* 2^64 */
	assert_int_equal(config_parse_size("18446744073709551616", &v), -1); /* 2^64 */
	assert_int_equal(config_parse_size("99999999999999999999999T", &v), -1);
	assert_int_equal(config_parse_size("1.5G", &v), -1);
	assert_int_equal(config_parse_size("1GB", &v), -1);
	assert_int_equal(config_parse_size("1Q", &v), -1);
	assert_int_equal(config_parse_size("M", &v), -1);
	assert_int_equal(config_parse_size("-1", &v), -1);
	assert_int_equal(config_parse_size("+1", &v), -1);
	assert_int_equal(config_parse_size(" 1", &v), -1);
	assert_int_equal(config_parse_size("", &v), -1);
	assert_int_equal(config_parse_size(NULL, &v), -1);
}

static void test_parse_memsize(void **state)
{
	uint64_t v;

	assert_int_equal(config_parse_memsize("512", &v), 0);
	assert_int_equal(v, 512ULL << 20); /* bare number: MiB, as bhyve */
	assert_int_equal(config_parse_memsize("1048575", &v), 0);
	assert_int_equal(v, 1048575ULL << 20);
	assert_int_equal(config_parse_memsize("1048576", &v), 0);
	assert_int_equal(v, 1048576); /* >= 1 MiB: bytes */
	assert_int_equal(config_parse_memsize("1G", &v), 0);
	assert_int_equal(v, 1ULL << 30);
	assert_int_equal(config_parse_memsize("256m", &v), 0);
	assert_int_equal(v, 256ULL << 20);
	assert_int_equal(config_parse_memsize("99999999999999999999", &v), -1);
	assert_int_equal(config_parse_memsize("16777216T", &v), -1);
	assert_int_equal(config_parse_memsize("1X", &v), -1);
	assert_int_equal(config_parse_memsize("", &v), -1);
}

/* ---- expansion ----------------------------------------------------------- */

static void test_expand_reference(void **state)
{
	set_config_value("name", "vm0");
	set_config_value("pci.0.2.0.path", "/dev/zvol/bhyve/%(name)");
	assert_string_equal(get_config_value("pci.0.2.0.path"), "/dev/zvol/bhyve/vm0");
	assert_string_equal(get_config_value_raw("pci.0.2.0.path"), "/dev/zvol/bhyve/%(name)");
	assert_string_equal(get_config_value_node_raw(find_config_node("pci.0.2.0"), "path"),
	    "/dev/zvol/bhyve/%(name)");
}

static void test_expand_nested_and_multiple(void **state)
{
	set_config_value("dir", "/vm/%(name)");
	set_config_value("name", "web");
	set_config_value("ext", "img");
	set_config_value("disk", "%(dir)/disk.%(ext)+%(name)");
	assert_string_equal(get_config_value("disk"), "/vm/web/disk.img+web");
}

static void test_expand_escapes(void **state)
{
	set_config_value("a", "100%%");
	set_config_value("b", "%%(name)");
	set_config_value("c", "50% off");
	set_config_value("d", "%");
	set_config_value("e", "%%%%");
	assert_string_equal(get_config_value("a"), "100%");
	assert_string_equal(get_config_value("b"), "%(name)");
	assert_string_equal(get_config_value("c"), "50% off");
	assert_string_equal(get_config_value("d"), "%");
	assert_string_equal(get_config_value("e"), "%%");
}

static void test_expand_cache_follows_changes(void **state)
{
	set_config_value("name", "one");
	set_config_value("p", "/x/%(name)");
	assert_string_equal(get_config_value("p"), "/x/one");
	set_config_value("name", "two");
	assert_string_equal(get_config_value("p"), "/x/two");
	set_config_value("p", "%(name)%(name)");
	assert_string_equal(get_config_value("p"), "twotwo");
	/* Repeated reads give the cached copy. */
	assert_ptr_equal(get_config_value("p"), get_config_value("p"));
}

static void expect_expand_error(const char *key, const char *want)
{
	const char *out = (const char *)1;

	assert_int_equal(config_get_expanded(key, &out), -1);
	assert_non_null(strstr(config_last_error(), want));
}

static void test_expand_errors(void **state)
{
	const char *out;

	set_config_value("self", "%(self)");
	set_config_value("a", "x%(b)");
	set_config_value("b", "y%(c)");
	set_config_value("c", "z%(a)");
	set_config_value("unset", "%(nope)");
	set_config_value("open", "%(name");
	set_config_value("empty", "%()");
	set_config_value("node", "%(pci)");
	set_config_value("pci.0.0.0.device", "hostbridge");

	expect_expand_error("self", "expansion loop");
	expect_expand_error("a", "expansion loop");
	expect_expand_error("b", "expansion loop");
	expect_expand_error("unset", "unset variable 'nope'");
	expect_expand_error("open", "unterminated reference");
	expect_expand_error("empty", "empty reference");
	expect_expand_error("node", "unset variable 'pci'");
	assert_int_equal(config_check_expansions(), -1);

	/* An unset key is not an error: out is NULL. */
	assert_int_equal(config_get_expanded("absent", &out), 0);
	assert_null(out);
	/* A failed expansion leaves no state behind: fixing it works. */
	set_config_value("c", "z");
	assert_int_equal(config_get_expanded("a", &out), 0);
	assert_string_equal(out, "xyz");
}

static void test_expand_diamond_is_not_a_loop(void **state)
{
	const char *out;

	set_config_value("base", "B");
	set_config_value("l", "%(base)");
	set_config_value("r", "%(base)");
	set_config_value("top", "%(l)-%(r)-%(base)");
	assert_int_equal(config_get_expanded("top", &out), 0);
	assert_string_equal(out, "B-B-B");
	assert_int_equal(config_check_expansions(), 0);
}

/* ---- typed getters --------------------------------------------------------- */

static void test_typed_getters_defaults(void **state)
{
	assert_true(get_config_bool_default("x86.mptable", true));
	assert_false(get_config_bool_default("x86.x2apic", false));
	set_config_bool("x86.x2apic", true);
	assert_true(get_config_bool("x86.x2apic"));
	set_config_value("x86.mptable", "off");
	assert_false(get_config_bool_default("x86.mptable", true));

	assert_int_equal(get_config_int_default("cpus", 1), 1);
	set_config_value("cpus", "0x8");
	assert_int_equal(get_config_int_default("cpus", 1), 8);

	assert_int_equal(get_config_size_default("memory.size", 256ULL << 20), 256ULL << 20);
	set_config_value("memory.size", "2G");
	assert_int_equal(get_config_size_default("memory.size", 0), 2ULL << 30);
	set_config_value("memory.size", "512");
	assert_int_equal(get_config_memsize_default("memory.size", 0), 512ULL << 20);
	assert_int_equal(get_config_size_default("memory.size", 0), 512);
	assert_int_equal(get_config_memsize_default("absent", 7), 7);

	/* Typed getters see expanded values. */
	set_config_value("n", "3");
	set_config_value("m", "%(n)");
	assert_int_equal(get_config_int_default("m", 0), 3);
}

static void read_bad_bool(void)
{
	set_config_value("x86.x2apic", "maybe");
	(void)get_config_bool_default("x86.x2apic", false);
}

static void read_unset_bool(void)
{
	(void)get_config_bool("acpi_tables");
}

static void read_bad_int(void)
{
	set_config_value("gdb.port", "12ab");
	(void)get_config_int_default("gdb.port", 0);
}

static void read_huge_int(void)
{
	set_config_value("gdb.port", "99999999999999999999");
	(void)get_config_int_default("gdb.port", 0);
}

static void read_bad_size(void)
{
	set_config_value("memory.size", "1Q");
	(void)get_config_size_default("memory.size", 0);
}

static void read_bad_memsize(void)
{
	set_config_value("memory.size", "16E");
	(void)get_config_memsize_default("memory.size", 0);
}

static void read_loop(void)
{
	set_config_value("a", "%(b)");
	set_config_value("b", "%(a)");
	(void)get_config_value("a");
}

static void read_bad_node_bool(void)
{
	set_config_value("pci.0.2.0.ro", "sure");
	(void)get_config_bool_node_default(find_config_node("pci.0.2.0"), "ro", false);
}

static void test_typed_getters_exit_4(void **state)
{
	expect_exit4(read_bad_bool, "khyve: config: x86.x2apic: 'maybe' is not a boolean");
	expect_exit4(read_unset_bool, "khyve: config: acpi_tables: not set");
	expect_exit4(read_bad_int, "khyve: config: gdb.port: '12ab' is not a number");
	expect_exit4(read_huge_int, "is not a number");
	expect_exit4(read_bad_size, "khyve: config: memory.size: '1Q' is not a size");
	expect_exit4(read_bad_memsize, "'16E' is not a size");
	expect_exit4(read_loop, "khyve: config: a: expansion loop");
	expect_exit4(read_bad_node_bool, "'sure' is not a boolean");
}

/* ---- walking and dumping --------------------------------------------------- */

struct walk_log {
	char text[256];
	int stop_after;
	int seen;
};

static int log_child(const char *name, struct cfg_node *child, const char *value, void *arg)
{
	struct walk_log *log = arg;
	size_t len = strlen(log->text);

	snprintf(log->text + len, sizeof(log->text) - len, "%s%s%s;", name,
	    child != NULL ? "/" : "=", value != NULL ? value : "");
	return ++log->seen == log->stop_after ? 7 : 0;
}

static void test_foreach_order_and_stop(void **state)
{
	struct walk_log log = { .stop_after = 0 };

	set_config_value("z", "1");
	set_config_value("a.x", "2");
	set_config_value("m", "%(z)");
	set_config_value("a.y", "3");
	assert_int_equal(config_foreach(NULL, log_child, &log), 0);
	assert_string_equal(log.text, "z=1;a/;m=%(z);"); /* raw values */

	memset(&log, 0, sizeof(log));
	assert_int_equal(config_foreach(find_config_node("a"), log_child, &log), 0);
	assert_string_equal(log.text, "x=2;y=3;");

	memset(&log, 0, sizeof(log));
	log.stop_after = 2;
	assert_int_equal(config_foreach(NULL, log_child, &log), 7);
	assert_string_equal(log.text, "z=1;a/;");
}

static void test_dump_format_and_order(void **state)
{
	char *text;

	set_config_value("name", "vm0");
	set_config_value("pci.0.2.0.device", "virtio-blk");
	set_config_value("cpus", "2");
	set_config_value("pci.0.2.0.path", "/x/%(name)");
	set_config_value("pci.0.0.0.device", "hostbridge");
	set_config_value("name", "vm1"); /* overwriting keeps the position */
	text = dump_to_string();
	assert_string_equal(text,
	    "name=vm1\n"
	    "pci.0.2.0.device=virtio-blk\n"
	    "pci.0.2.0.path=/x/%(name)\n"
	    "pci.0.0.0.device=hostbridge\n"
	    "cpus=2\n");
	free(text);
}

static void test_dump_empty_tree(void **state)
{
	char *text = dump_to_string();

	assert_string_equal(text, "");
	free(text);
}

static void test_dump_load_round_trip(void **state)
{
	char *first, *second, *path, *err;
	struct capture c;
	FILE *fp;

	set_config_value("name", "vm0");
	set_config_value("cpus", "2");
	set_config_value("memory.size", "1G");
	set_config_value("boot.cmdline", "console=ttyS0 root=/dev/vda rw quiet");
	set_config_value("boot.kernel", "/boot/vmlinuz-%(name)");
	set_config_value("pci.0.0.0.device", "hostbridge");
	set_config_value("pci.0.2.0.device", "virtio-blk");
	set_config_value("pci.0.2.0.path", "/img with spaces/#not a comment");
	set_config_value("pci.0.2.0.ser", "");
	set_config_value("pci.0.3.0.hostfwd", "tcp::2222-:22;udp::53-:53");
	set_config_value("weird", " leading space and 100%% = sign");
	set_config_value("lpc.com1.path", "stdio");
	first = dump_to_string();

	path = strdup("/tmp/test_config_dump.XXXXXX");
	close(mkstemp(path));
	fp = fopen(path, "w");
	dump_config(fp);
	fclose(fp);

	config_init();
	capture_start(&c, 2);
	assert_int_equal(config_load_file(path), 0);
	err = capture_end(&c);
	assert_string_equal(err, "");
	free(err);
	second = dump_to_string();
	assert_string_equal(first, second);
	assert_string_equal(get_config_value("boot.kernel"), "/boot/vmlinuz-vm0");
	assert_string_equal(get_config_value("weird"), " leading space and 100% = sign");
	unlink(path);
	free(path);
	free(first);
	free(second);
}

/* ---- -k files and -o -------------------------------------------------------- */

static void test_load_file_syntax(void **state)
{
	char *err;

	assert_int_equal(load_string(
	    "# a comment\n"
	    "\n"
	    "   \t\n"
	    "name=vm0\n"
	    "  cpus=2  \n"
	    "\tmemory.size=1G\r\n"
	    "   # indented comment\n"
	    "boot.cmdline=console=ttyS0 root=/dev/vda\n"
	    "empty=\n"
	    "last=no newline", &err, NULL), 0);
	assert_string_equal(err, "");
	free(err);
	assert_string_equal(get_config_value("name"), "vm0");
	assert_string_equal(get_config_value("cpus"), "2");
	assert_string_equal(get_config_value("memory.size"), "1G");
	assert_string_equal(get_config_value("boot.cmdline"), "console=ttyS0 root=/dev/vda");
	assert_string_equal(get_config_value("empty"), "");
	assert_string_equal(get_config_value("last"), "no newline");
}

static void expect_load_error(const char *contents, int line, const char *want)
{
	char *err, *path, expected[512];

	config_init();
	assert_int_equal(load_string(contents, &err, &path), -1);
	snprintf(expected, sizeof(expected), "khyve: %s:%d: %s", path, line, want);
	assert_int_equal(count_lines(err), 1);
	if (strncmp(err, expected, strlen(expected)) != 0)
		fail_msg("got \"%s\", want prefix \"%s\"", err, expected);
	unlink(path);
	free(path);
	free(err);
}

static void test_load_file_errors(void **state)
{
	expect_load_error("a=1\n\nno equals sign\n", 3, "expected key=value\n");
	expect_load_error("=value\n", 1, "expected key=value\n");
	expect_load_error("# c\n  =value\n", 2, "expected key=value\n");
	expect_load_error("a..b=1\n", 1, "key 'a..b' has an empty component");
	expect_load_error("key with space=1\n", 1, "key 'key with space' contains");
	expect_load_error("a=1\na.b=2\n", 2, "'a' holds a value");
	expect_load_error("a.b=1\na=2\n", 2, "'a' has keys below it");
	expect_load_error("x.=1\n", 1, "key 'x.' has an empty component");
}

static void test_load_file_missing(void **state)
{
	struct capture c;
	char *err;

	capture_start(&c, 2);
	assert_int_equal(config_load_file("/nonexistent/khyve.conf"), -1);
	err = capture_end(&c);
	assert_string_equal(err, "khyve: /nonexistent/khyve.conf: No such file or directory\n");
	free(err);
}

static void test_load_file_stops_at_first_error(void **state)
{
	char *err;

	assert_int_equal(load_string("a=1\nbad\nb=2\n", &err, NULL), -1);
	free(err);
	assert_string_equal(get_config_value("a"), "1");
	assert_null(get_config_value("b"));
}

static void test_set_assignment(void **state)
{
	struct capture c;
	char *err;

	assert_int_equal(config_set_assignment("boot.cmdline=console=ttyS0 root=/dev/vda"), 0);
	assert_string_equal(get_config_value("boot.cmdline"), "console=ttyS0 root=/dev/vda");
	assert_int_equal(config_set_assignment("k="), 0);
	assert_string_equal(get_config_value("k"), "");

	capture_start(&c, 2);
	assert_int_equal(config_set_assignment("novalue"), -1);
	err = capture_end(&c);
	assert_string_equal(err, "khyve: -o: 'novalue' is not of the form key=value\n");
	free(err);

	capture_start(&c, 2);
	assert_int_equal(config_set_assignment("=x"), -1);
	err = capture_end(&c);
	assert_string_equal(err, "khyve: -o: '=x' is not of the form key=value\n");
	free(err);

	capture_start(&c, 2);
	assert_int_equal(config_set_assignment("k.sub=1"), -1);
	err = capture_end(&c);
	assert_int_equal(count_lines(err), 1);
	assert_non_null(strstr(err, "khyve: -o: 'k.sub=1': 'k' holds a value"));
	free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_set_get_simple, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nested_keys_and_nodes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_node_relative_set, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_value_with_newline_rejected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_leaf_node_conflicts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_if_unset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_init_resets_and_free_is_reusable, setup,
		    teardown),
		cmocka_unit_test(test_parse_bool),
		cmocka_unit_test(test_parse_int),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_parse_memsize),
		cmocka_unit_test_setup_teardown(test_expand_reference, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expand_nested_and_multiple, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expand_escapes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expand_cache_follows_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expand_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expand_diamond_is_not_a_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_typed_getters_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_typed_getters_exit_4, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreach_order_and_stop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dump_format_and_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dump_empty_tree, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dump_load_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_file_syntax, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_file_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_file_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_file_stops_at_first_error, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_set_assignment, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
