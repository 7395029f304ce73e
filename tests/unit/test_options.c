/*
 * Unit tests for bhyve's command line -> configuration tree
 * (src/core/options.c): every option, the legacy -s conversions, the VM
 * name rules, and the "exactly one line on stderr" error contract, checked
 * by capturing fd 2 around each parse.  Also: -k at its place in the
 * option order and the dump -> -k round trip.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/options.h"

#include "capture.h"

/* ---- helpers ------------------------------------------------------------- */

static char *last_err; /* stderr of the last parse() */
static char *last_out; /* stdout of the last parse() */

static int setup(void **state)
{
	config_init();
	return 0;
}

static int teardown(void **state)
{
	config_free();
	free(last_err);
	free(last_out);
	last_err = last_out = NULL;
	return 0;
}

/* Parse "khyve" + the NULL-terminated arguments; stdout/stderr kept. */
static int parse(const char *first, ...)
{
	char *argv[64];
	struct capture out, err;
	va_list ap;
	int argc = 0, rc;
	const char *a;

	argv[argc++] = "khyve";
	va_start(ap, first);
	for (a = first; a != NULL; a = va_arg(ap, const char *)) {
		assert_true(argc < 63);
		argv[argc++] = (char *)a;
	}
	va_end(ap);
	argv[argc] = NULL;
	free(last_err);
	free(last_out);
	capture_start(&out, 1);
	capture_start(&err, 2);
	rc = khyve_parse_options(argc, argv);
	last_err = capture_end(&err);
	last_out = capture_end(&out);
	return rc;
}

#define PARSE(...) parse(__VA_ARGS__, (const char *)NULL)

/* The run was accepted silently. */
static void assert_ok(int rc)
{
	if (rc != OPTS_RUN || last_err[0] != '\0')
		fail_msg("rc %d, stderr \"%s\"", rc, last_err);
	assert_string_equal(last_out, "");
}

/* The run failed with exactly one stderr line equal to want. */
static void assert_error_line(int rc, const char *want)
{
	assert_int_equal(rc, OPTS_ERROR);
	assert_int_equal(count_lines(last_err), 1);
	if (strcmp(last_err, want) != 0)
		fail_msg("got \"%s\", want \"%s\"", last_err, want);
	assert_string_equal(last_out, "");
}

/* The run failed with exactly one "khyve: " stderr line containing want. */
static void assert_error_has(int rc, const char *want)
{
	assert_int_equal(rc, OPTS_ERROR);
	assert_int_equal(count_lines(last_err), 1);
	assert_true(strncmp(last_err, "khyve: ", 7) == 0);
	if (strstr(last_err, want) == NULL)
		fail_msg("got \"%s\", want it to contain \"%s\"", last_err, want);
}

static void assert_value(const char *key, const char *want)
{
	const char *v = get_config_value(key);

	if (v == NULL)
		fail_msg("%s is unset, want \"%s\"", key, want);
	assert_string_equal(v, want);
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

static void assert_dump(const char *want)
{
	char *text = dump_to_string();

	if (strcmp(text, want) != 0)
		fail_msg("dump:\n%s\nwant:\n%s", text, want);
	free(text);
}

static char *write_temp_file(const char *contents)
{
	char *path = strdup("/tmp/test_options.XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, contents, strlen(contents)), (ssize_t)strlen(contents));
	close(fd);
	return path;
}

/* ---- basics ---------------------------------------------------------------- */

static void test_name_only_writes_no_defaults(void **state)
{
	assert_ok(PARSE("vm0"));
	assert_dump("name=vm0\n");
}

static void test_flags(void **state)
{
	static const struct {
		const char *flag, *key, *value;
	} flags[] = {
		{ "-A", "acpi_tables", "true" },
		{ "-a", "x86.x2apic", "false" },
		{ "-C", "memory.guest_in_core", "true" },
		{ "-D", "destroy_on_poweroff", "true" },
		{ "-e", "x86.strictio", "true" },
		{ "-H", "x86.vmexit_on_hlt", "true" },
		{ "-P", "x86.vmexit_on_pause", "true" },
		{ "-S", "memory.wired", "true" },
		{ "-u", "rtc.use_localtime", "false" },
		{ "-W", "virtio_msix", "false" },
		{ "-w", "x86.strictmsr", "false" },
		{ "-x", "x86.x2apic", "true" },
		{ "-Y", "x86.mptable", "false" },
	};
	size_t i;

	for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		char expected[128];

		config_init();
		assert_ok(PARSE(flags[i].flag, "vm"));
		snprintf(expected, sizeof(expected), "%s=%s\nname=vm\n", flags[i].key,
		    flags[i].value);
		assert_dump(expected);
	}
}

static void test_combined_flags_last_wins(void **state)
{
	assert_ok(PARSE("-xaHP", "-I", "-x", "vm"));
	assert_dump("x86.x2apic=true\nx86.vmexit_on_hlt=true\nx86.vmexit_on_pause=true\n"
		    "name=vm\n");
}

static void test_capital_i_is_a_no_op(void **state)
{
	assert_ok(PARSE("-I", "vm"));
	assert_dump("name=vm\n");
}

static void test_help(void **state)
{
	assert_int_equal(PARSE("-h"), OPTS_EXIT_OK);
	assert_true(strncmp(last_out, "Usage: khyve ", 13) == 0);
	assert_string_equal(last_err, "");
	assert_non_null(strstr(last_out, "-s  add a PCI device"));
	/* Stops at once: later mistakes are not reported. */
	assert_int_equal(PARSE("-h", "-c", "abc"), OPTS_EXIT_OK);
}

static void test_unknown_and_missing(void **state)
{
	assert_error_line(PARSE("-Z", "vm"), "khyve: -Z: unknown option (see khyve -h)\n");
	assert_error_line(PARSE("-g", "1234", "vm"), "khyve: -g: unknown option (see khyve -h)\n");
	assert_error_line(PARSE("-c"), "khyve: -c: missing argument\n");
	assert_error_line(PARSE("vm", "-m"), "khyve: '-m': unexpected argument after the VM name "
	    "'vm'\n");
	assert_error_has(PARSE("--help"), "'--help': unknown option");
	assert_error_has(PARSE("-H", "--memory=1G", "vm"), "'--memory=1G': unknown option");
}

static void test_parse_twice_resets_getopt(void **state)
{
	assert_ok(PARSE("-c", "2", "vm"));
	config_init();
	assert_ok(PARSE("-c", "4", "vm2"));
	assert_dump("cpus=4\nname=vm2\n");
}

/* ---- -c ---------------------------------------------------------------------- */

static void test_cpus_forms(void **state)
{
	struct khyve_topology t;
	char why[256];

	assert_ok(PARSE("-c", "2", "vm"));
	assert_dump("cpus=2\nname=vm\n");
	assert_int_equal(khyve_config_topology(&t, why, sizeof(why)), 0);
	assert_int_equal(t.cpus, 2);
	assert_int_equal(t.sockets, 2); /* bhyve: sockets default to cpus */
	assert_int_equal(t.cores, 1);
	assert_int_equal(t.threads, 1);

	config_init();
	assert_ok(PARSE("-c", "cpus=8,sockets=2,cores=2,threads=2", "vm"));
	assert_dump("cpus=8\nsockets=2\ncores=2\nthreads=2\nname=vm\n");

	config_init();
	assert_ok(PARSE("-c", "sockets=2,cores=4", "vm"));
	assert_dump("sockets=2\ncores=4\nname=vm\n"); /* cpus is computed, not written */
	assert_int_equal(khyve_config_topology(&t, why, sizeof(why)), 0);
	assert_int_equal(t.cpus, 8);

	config_init();
	assert_ok(PARSE("-c", "", "vm"));
	assert_dump("cpus=1\nsockets=1\ncores=1\nthreads=1\nname=vm\n");

	config_init();
	assert_ok(PARSE("-c", "0x4", "vm")); /* strtol syntax, as bhyve */
	assert_int_equal(khyve_config_topology(&t, why, sizeof(why)), 0);
	assert_int_equal(t.cpus, 4);

	config_init();
	assert_ok(PARSE("-c", "256", "vm"));
	config_init();
	assert_ok(PARSE("-c", "2", "-c", "threads=2,cores=2,cpus=4", "vm")); /* last wins */
	assert_int_equal(khyve_config_topology(&t, why, sizeof(why)), 0);
	assert_int_equal(t.sockets, 1);
	assert_int_equal(t.cpus, 4);

	config_init();
	assert_int_equal(khyve_config_topology(&t, why, sizeof(why)), 0); /* empty tree */
	assert_int_equal(t.cpus + t.sockets + t.cores + t.threads, 4);
	assert_ok(PARSE("-c", "cores=2,threads=2", "vm"));
	assert_int_equal(khyve_config_topology(&t, why, sizeof(why)), 0);
	assert_int_equal(t.sockets, 1);
	assert_int_equal(t.cpus, 4);

	/* No socket count: sockets = cpus / (cores * threads) (bhyve would refuse). */
	config_init();
	assert_ok(PARSE("-c", "8,cores=2", "vm"));
	assert_int_equal(khyve_config_topology(&t, why, sizeof(why)), 0);
	assert_int_equal(t.sockets, 4);
	assert_int_equal(t.cores, 2);
	assert_int_equal(t.threads, 1);
	assert_int_equal(t.cpus, 8);
}

static void test_cpus_errors(void **state)
{
	assert_error_line(PARSE("-c", "abc", "vm"), "khyve: -c: 'abc' is not a valid CPU count\n");
	assert_error_line(PARSE("-c", "0", "vm"), "khyve: -c: '0' is not a valid CPU count (1-256)\n");
	assert_error_line(PARSE("-c", "257", "vm"),
	    "khyve: -c: '257' is not a valid CPU count (1-256)\n");
	assert_error_line(PARSE("-c", "99999999999999999999999", "vm"),
	    "khyve: -c: '99999999999999999999999' is not a valid CPU count (1-256)\n");
	assert_error_line(PARSE("-c", "-2", "vm"), "khyve: -c: '-2' is not a valid CPU count\n");
	assert_error_line(PARSE("-c", "2x", "vm"), "khyve: -c: '2x' is not a valid CPU count\n");
	assert_error_line(PARSE("-c", "sockets=x", "vm"),
	    "khyve: -c: 'x' is not a valid socket count\n");
	assert_error_line(PARSE("-c", "cores=0", "vm"),
	    "khyve: -c: '0' is not a valid core count (1-256)\n");
	assert_error_line(PARSE("-c", "threads=", "vm"),
	    "khyve: -c: '' is not a valid thread count\n");
	assert_error_line(PARSE("-c", "dies=2", "vm"),
	    "khyve: -c: 'dies' is not a topology setting (cpus, sockets, cores, threads)\n");
	assert_error_line(PARSE("-c", "2,", "vm"), "khyve: -c: '2,' has an empty item\n");
	assert_error_line(PARSE("-c", "4,sockets=3", "vm"),
	    "khyve: -c: '4,sockets=3': inconsistent topology: 3 sockets x 1 cores x 1 threads = "
	    "3 vCPUs, but cpus is 4\n");
	config_init();
	assert_error_line(PARSE("-c", "cpus=5,cores=2", "vm"),
	    "khyve: -c: 'cpus=5,cores=2': inconsistent topology: 5 vCPUs do not divide into "
	    "sockets of 2 cores x 1 threads\n");
	config_init();
	assert_error_line(PARSE("-c", "sockets=16,cores=16,threads=2", "vm"),
	    "khyve: -c: 'sockets=16,cores=16,threads=2': inconsistent topology: 16 sockets x 16 "
	    "cores x 2 threads = 512 vCPUs, more than the maximum of 256\n");
}

static void test_topology_checked_after_o_and_k(void **state)
{
	assert_error_line(PARSE("-c", "4", "-o", "sockets=3", "vm"),
	    "khyve: config: 3 sockets x 1 cores x 1 threads = 3 vCPUs, but cpus is 4\n");
	config_init();
	assert_error_line(PARSE("-o", "cpus=abc", "vm"),
	    "khyve: config: cpus: 'abc' is not a valid CPU count\n");
	config_init();
	assert_ok(PARSE("-o", "cpus=%(n)", "-o", "n=2", "vm"));
}

/* ---- -m ---------------------------------------------------------------------- */

static void test_memory(void **state)
{
	assert_ok(PARSE("-m", "512", "vm"));
	assert_dump("memory.size=512\nname=vm\n"); /* stored as given */
	assert_int_equal(get_config_memsize_default("memory.size", 0), 512ULL << 20);

	static const struct {
		const char *arg;
		uint64_t bytes;
	} good[] = {
		{ "1G", 1ULL << 30 }, { "1g", 1ULL << 30 }, { "2048M", 2ULL << 30 },
		{ "2048m", 2ULL << 30 }, { "1T", 1ULL << 40 }, { "1t", 1ULL << 40 },
		{ "65536K", 64ULL << 20 }, { "65536k", 64ULL << 20 },
		{ "1073741824", 1ULL << 30 },
	};
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		config_init();
		assert_ok(PARSE("-m", good[i].arg, "vm"));
		assert_int_equal(get_config_memsize_default("memory.size", 0), good[i].bytes);
	}
}

static void test_memory_errors(void **state)
{
	static const char *const bad[] = {
		"", "0", "0M", "abc", "1Q", "1GB", "1.5G", "-1", "+1", " 1G", "G",
		"99999999999999999999", "16777216T", "16E", "17179869184G",
	};
	char want[128];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		config_init();
		snprintf(want, sizeof(want), "khyve: -m: '%s' is not a valid memory size\n", bad[i]);
		assert_error_line(PARSE("-m", bad[i], "vm"), want);
	}
	config_init();
	assert_error_line(PARSE("-o", "memory.size=lots", "vm"),
	    "khyve: config: memory.size: 'lots' is not a valid memory size\n");
}

/* ---- -s ---------------------------------------------------------------------- */

static void test_slot_addresses(void **state)
{
	assert_ok(PARSE("-s", "0,hostbridge", "-s", "3:2,virtio-rnd", "-s", "1:31:7,virtio-rnd",
	    "-s", "255:0:0,virtio-rnd", "-s", "31,lpc", "vm"));
	assert_dump("pci.0.0.0.device=hostbridge\n"
		    "pci.0.3.2.device=virtio-rnd\n"
		    "pci.0.31.0.device=lpc\n"
		    "pci.1.31.7.device=virtio-rnd\n"
		    "pci.255.0.0.device=virtio-rnd\n"
		    "name=vm\n");
}

static void test_slot_errors(void **state)
{
	assert_error_line(PARSE("-s", "32,virtio-blk", "vm"),
	    "khyve: -s: '32' is not a valid PCI slot number (0-31)\n");
	assert_error_line(PARSE("-s", "1:8,virtio-blk", "vm"),
	    "khyve: -s: '8' is not a valid PCI function number (0-7)\n");
	assert_error_line(PARSE("-s", "256:0:0,virtio-blk", "vm"),
	    "khyve: -s: '256' is not a valid PCI bus number (0-255)\n");
	assert_error_line(PARSE("-s", "-1,virtio-blk", "vm"),
	    "khyve: -s: '-1' is not a valid PCI slot number (0-31)\n");
	assert_error_line(PARSE("-s", "a,virtio-blk", "vm"),
	    "khyve: -s: 'a' is not a valid PCI slot number (0-31)\n");
	assert_error_line(PARSE("-s", "3x,virtio-blk", "vm"),
	    "khyve: -s: '3x' is not a valid PCI slot number (0-31)\n");
	assert_error_line(PARSE("-s", "1:2:3:4,virtio-blk", "vm"),
	    "khyve: -s: '1:2:3:4,virtio-blk' is not a PCI slot (slot, slot:func or "
	    "bus:slot:func)\n");
	assert_error_line(PARSE("-s", ",virtio-blk", "vm"),
	    "khyve: -s: ',virtio-blk' is not a PCI slot (slot, slot:func or bus:slot:func)\n");
	assert_error_line(PARSE("-s", "3", "vm"), "khyve: -s: '3' is not of the form "
	    "slot,emulation[,conf]\n");
	assert_error_line(PARSE("-s", "3,", "vm"), "khyve: -s: '3,' is not of the form "
	    "slot,emulation[,conf]\n");
	assert_error_line(PARSE("-s", "3,virtio-foo", "vm"),
	    "khyve: -s: 'virtio-foo' is not a known PCI emulation (see -s help)\n");
	config_init();
	assert_error_line(PARSE("-s", "3,virtio-blk,/a", "-s", "3:0,virtio-rnd", "vm"),
	    "khyve: -s: '0:3:0' is already occupied\n");
	config_init();
	assert_error_line(PARSE("-s", "2:1,virtio-rnd", "-s", "0:2:1,virtio-rnd", "vm"),
	    "khyve: -s: '0:2:1' is already occupied\n");
	config_init();
	assert_error_line(PARSE("-o", "pci.0.4.0.path=/x", "-s", "4,virtio-blk", "vm"),
	    "khyve: -s: '0:4:0' is already occupied\n");
}

static void test_lpc_placement(void **state)
{
	assert_error_line(PARSE("-s", "1:31:0,lpc", "vm"),
	    "khyve: -s: '1:31:0,lpc': the lpc bridge must be on bus 0\n");
	config_init();
	assert_error_line(PARSE("-s", "31,lpc", "-s", "30,lpc", "vm"),
	    "khyve: -s: '30,lpc': only one lpc bridge is allowed\n");
}

static void test_slot_help(void **state)
{
	static const char *const names[] = {
		"hostbridge", "amd_hostbridge", "lpc", "virtio-net", "virtio-blk", "virtio-rnd",
		"virtio-scsi", "virtio-9p", "virtio-console", "virtio-input", "ahci", "ahci-hd",
		"ahci-cd", "nvme", "e1000", "uart", "passthru", "fbuf", "xhci", "hda",
	};
	char listing[1024], line[64];
	size_t i;

	assert_int_equal(PARSE("-s", "help"), OPTS_EXIT_OK);
	assert_string_equal(last_err, "");
	assert_int_equal(count_lines(last_out), (int)(sizeof(names) / sizeof(names[0])));
	snprintf(listing, sizeof(listing), "\n%s", last_out);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(line, sizeof(line), "\n%s\n", names[i]);
		if (strstr(listing, line) == NULL)
			fail_msg("-s help does not list %s", names[i]);
	}
	/* Every listed name is accepted by -s. */
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char arg[64];

		config_init();
		snprintf(arg, sizeof(arg), "5,%s%s", names[i],
		    strcmp(names[i], "virtio-input") == 0 ? ",/dev/input/event0" : "");
		assert_ok(PARSE("-s", arg, "vm"));
	}
}

static void test_legacy_virtio_blk(void **state)
{
	assert_ok(PARSE("-s", "2,virtio-blk,/img,ro,sectorsize=512/4096,ser=abc", "vm"));
	assert_dump("pci.0.2.0.device=virtio-blk\n"
		    "pci.0.2.0.path=/img\n"
		    "pci.0.2.0.ro=true\n"
		    "pci.0.2.0.sectorsize=512/4096\n"
		    "pci.0.2.0.ser=abc\n"
		    "name=vm\n");
	config_init();
	assert_ok(PARSE("-s", "2,virtio-blk,/img,nocache,direct,nodelete,bootindex=1,", "vm"));
	assert_value("pci.0.2.0.nocache", "true");
	assert_value("pci.0.2.0.direct", "true");
	assert_value("pci.0.2.0.nodelete", "true");
	assert_value("pci.0.2.0.bootindex", "1");
	config_init();
	assert_ok(PARSE("-s", "2,virtio-blk", "vm")); /* no backend yet: allowed */
	assert_dump("pci.0.2.0.device=virtio-blk\nname=vm\n");
	config_init();
	assert_ok(PARSE("-s", "2,virtio-blk,/a=b.img,ro", "vm")); /* first item is the path */
	assert_value("pci.0.2.0.path", "/a=b.img");
}

static void test_legacy_net(void **state)
{
	assert_ok(PARSE("-s", "3,virtio-net,tap0", "vm"));
	assert_dump("pci.0.3.0.device=virtio-net\n"
		    "pci.0.3.0.backend=tap0\n"
		    "pci.0.3.0.type=tap\n"
		    "name=vm\n");
	config_init();
	assert_ok(PARSE("-s", "3,virtio-net,slirp,hostfwd=tcp::2222-:22", "vm"));
	assert_dump("pci.0.3.0.device=virtio-net\n"
		    "pci.0.3.0.backend=slirp\n"
		    "pci.0.3.0.hostfwd=tcp::2222-:22\n"
		    "pci.0.3.0.type=slirp\n"
		    "name=vm\n");
	config_init();
	assert_ok(PARSE("-s", "3,virtio-net,tap1,mac=00:be:fa:76:45:00,mtu=9000", "-s",
	    "4,e1000,vmnet2", "-s", "5,virtio-net,netgraph,path=ng0:,peerhook=link0", "-s",
	    "6,virtio-net,netmap:em0", "-s", "7,virtio-net,vale0:1", "-s",
	    "8,virtio-net,eth0,type=tap", "-s", "9,virtio-net", "vm"));
	assert_value("pci.0.3.0.mac", "00:be:fa:76:45:00");
	assert_value("pci.0.3.0.mtu", "9000");
	assert_value("pci.0.4.0.device", "e1000");
	assert_value("pci.0.4.0.type", "tap");
	assert_value("pci.0.5.0.type", "netgraph");
	assert_value("pci.0.5.0.path", "ng0:");
	assert_value("pci.0.5.0.peerhook", "link0");
	assert_value("pci.0.6.0.type", "netmap");
	assert_value("pci.0.7.0.type", "vale");
	assert_value("pci.0.8.0.type", "tap");
	assert_null(get_config_value("pci.0.9.0.backend"));
	config_init();
	assert_error_has(PARSE("-s", "3,virtio-net,eth0", "vm"),
	    "khyve: -s: 'eth0' is not a known network backend");
}

static void test_legacy_ahci(void **state)
{
	assert_ok(PARSE("-s", "4,ahci,hd:/d1.img,hd:/d2.img,nmrr=1,ser=X1,cd:/install.iso,ro",
	    "vm"));
	assert_dump("pci.0.4.0.device=ahci\n"
		    "pci.0.4.0.port.0.type=hd\n"
		    "pci.0.4.0.port.0.path=/d1.img\n"
		    "pci.0.4.0.port.1.type=hd\n"
		    "pci.0.4.0.port.1.path=/d2.img\n"
		    "pci.0.4.0.port.1.nmrr=1\n"
		    "pci.0.4.0.port.1.ser=X1\n"
		    "pci.0.4.0.port.2.type=cd\n"
		    "pci.0.4.0.port.2.path=/install.iso\n"
		    "pci.0.4.0.port.2.ro=true\n"
		    "name=vm\n");
	config_init();
	assert_ok(PARSE("-s", "4,ahci-hd,disk.img,model=Disk", "-s", "5,ahci-cd,x.iso", "vm"));
	assert_dump("pci.0.4.0.device=ahci\n"
		    "pci.0.4.0.port.0.type=hd\n"
		    "pci.0.4.0.port.0.path=disk.img\n"
		    "pci.0.4.0.port.0.model=Disk\n"
		    "pci.0.5.0.device=ahci\n"
		    "pci.0.5.0.port.0.type=cd\n"
		    "pci.0.5.0.port.0.path=x.iso\n"
		    "name=vm\n");
	config_init();
	assert_error_line(PARSE("-s", "4,ahci,/disk.img", "vm"),
	    "khyve: -s: '/disk.img' needs an hd: or cd: prefix\n");
	config_init();
	/* bhyve's bootindex is a block option: per port on AHCI. */
	assert_ok(PARSE("-s", "4,ahci,hd:/d.img,bootindex=2,cd:/i.iso,bootindex=1", "vm"));
	assert_dump("pci.0.4.0.device=ahci\n"
		    "pci.0.4.0.port.0.type=hd\n"
		    "pci.0.4.0.port.0.path=/d.img\n"
		    "pci.0.4.0.port.0.bootindex=2\n"
		    "pci.0.4.0.port.1.type=cd\n"
		    "pci.0.4.0.port.1.path=/i.iso\n"
		    "pci.0.4.0.port.1.bootindex=1\n"
		    "name=vm\n");
}

static void test_legacy_ahci_port_limit(void **state)
{
	char arg[1024] = "4,ahci";
	int i;

	for (i = 0; i < 32; i++)
		snprintf(arg + strlen(arg), sizeof(arg) - strlen(arg), ",hd:/d%d", i);
	assert_ok(PARSE("-s", arg, "vm"));
	assert_value("pci.0.4.0.port.31.path", "/d31");
	config_init();
	strcat(arg, ",cd:/one-too-many");
	assert_error_has(PARSE("-s", arg, "vm"), "more than 32 AHCI ports");
}

static void test_legacy_amd_hostbridge(void **state)
{
	assert_ok(PARSE("-s", "0,amd_hostbridge", "vm"));
	assert_dump("pci.0.0.0.device=hostbridge\n"
		    "pci.0.0.0.pcireg.vendor=0x1022\n"
		    "pci.0.0.0.pcireg.device=0x7432\n"
		    "name=vm\n");
	config_init();
	assert_ok(PARSE("-s", "0,hostbridge,pcireg.vendor=0x8086", "vm"));
	assert_value("pci.0.0.0.pcireg.vendor", "0x8086");
}

static void test_legacy_other_devices(void **state)
{
	assert_ok(PARSE("-s", "6,nvme,ram=1024,maxq=4", "-s", "7,nvme,/dev/zvol/x,ser=S",
	    "-s", "8,virtio-scsi,/dev/cam/ctl1.1,iid=2", "-s", "9,virtio-9p,share=/srv,ro",
	    "-s", "10,virtio-console,port1=/tmp/a.sock,port2=/tmp/b.sock",
	    "-s", "11,virtio-input,/dev/input/event3", "-s", "12,uart,tcp=127.0.0.1:4000",
	    "-s", "13,passthru,ppt0,rom=/x.rom", "-s", "14,passthru,2/3/1",
	    "-s", "15,passthru,pci4:5:6", "-s", "29,fbuf,tcp=0.0.0.0:5900,w=800,h=600,wait",
	    "-s", "30,xhci,tablet", "-s", "16,hda,play=/dev/dsp0,rec=/dev/dsp0", "vm"));
	assert_value("pci.0.6.0.ram", "1024");
	assert_value("pci.0.6.0.maxq", "4");
	assert_value("pci.0.7.0.path", "/dev/zvol/x");
	assert_value("pci.0.7.0.ser", "S");
	assert_value("pci.0.8.0.dev", "/dev/cam/ctl1.1");
	assert_value("pci.0.8.0.iid", "2");
	assert_value("pci.0.9.0.sharename", "share");
	assert_value("pci.0.9.0.path", "/srv");
	assert_value("pci.0.9.0.ro", "true");
	assert_value("pci.0.10.0.port.0.name", "port1");
	assert_value("pci.0.10.0.port.0.path", "/tmp/a.sock");
	assert_value("pci.0.10.0.port.1.name", "port2");
	assert_value("pci.0.11.0.path", "/dev/input/event3");
	assert_value("pci.0.12.0.path", "tcp=127.0.0.1:4000");
	assert_value("pci.0.13.0.pptdev", "ppt0");
	assert_value("pci.0.13.0.rom", "/x.rom");
	assert_value("pci.0.14.0.bus", "2");
	assert_value("pci.0.14.0.slot", "3");
	assert_value("pci.0.14.0.func", "1");
	assert_value("pci.0.15.0.bus", "4");
	assert_value("pci.0.29.0.tcp", "0.0.0.0:5900");
	assert_value("pci.0.29.0.wait", "true");
	assert_value("pci.0.30.0.slot.1.device", "tablet");
	assert_value("pci.0.16.0.play", "/dev/dsp0");
}

static void test_legacy_errors(void **state)
{
	assert_error_line(PARSE("-s", "3,virtio-blk,/x,device=foo", "vm"),
	    "khyve: -s: '3,virtio-blk,/x,device=foo': 'device' cannot be set in device options\n");
	config_init();
	assert_error_has(PARSE("-s", "3,virtio-blk,/x,a..b=1", "vm"), "has an empty component");
	config_init();
	assert_error_has(PARSE("-s", "3,virtio-blk,/x,ro,ro.sub=1", "vm"), "'pci.0.3.0.ro' holds");
	config_init();
	assert_error_line(PARSE("-s", "3,virtio-input", "vm"),
	    "khyve: -s: '3,virtio-input': virtio-input needs an event device (/dev/input/eventN)\n");
	config_init();
	assert_error_line(PARSE("-s", "3,virtio-console,port1", "vm"),
	    "khyve: -s: 'port1' is not of the form name=/path/to/socket\n");
	config_init();
	assert_error_line(PARSE("-s", "3,virtio-9p,a=/x,b=/y", "vm"),
	    "khyve: -s: 'b=/y': more than one share given\n");
	config_init();
	assert_error_line(PARSE("-s", "3,passthru,2/0", "vm"),
	    "khyve: -s: '2/0' is not a host PCI device (pptN, bus/slot/func or pciB:S:F)\n");
	config_init();
	assert_error_has(PARSE("-s", "3,passthru,pci1:32:0", "vm"), "is not a host PCI device");
	config_init();
	assert_error_line(PARSE("-s", "3,xhci,mouse", "vm"),
	    "khyve: -s: 'mouse' is not a known USB device (tablet)\n");
	config_init();
	assert_error_line(PARSE("-s", "3,nvme,ram=lots", "vm"),
	    "khyve: -s: 'lots' is not a valid RAM disk size in MiB\n");
}

/* ---- -l ---------------------------------------------------------------------- */

static void test_lpc_devices(void **state)
{
	assert_ok(PARSE("-l", "com1,stdio", "-l", "COM2,/dev/ttyS1", "-l", "com3,tcp=127.0.0.1:9",
	    "-l", "com4,/dev/nmdm0A", "-l", "bootrom,/fw/CODE.fd,/vm/VARS.fd", "-l",
	    "fwcfg,qemu", "-l", "tpm,swtpm,/run/swtpm.sock,version=2.0", "-l", "pc-testdev",
	    "vm"));
	assert_dump("lpc.com1.path=stdio\n"
		    "lpc.com2.path=/dev/ttyS1\n"
		    "lpc.com3.path=tcp=127.0.0.1:9\n"
		    "lpc.com4.path=/dev/nmdm0A\n"
		    "lpc.bootrom=/fw/CODE.fd\n"
		    "lpc.bootvars=/vm/VARS.fd\n"
		    "lpc.fwcfg=qemu\n"
		    "lpc.tpm.type=swtpm\n"
		    "lpc.tpm.path=/run/swtpm.sock\n"
		    "lpc.tpm.version=2.0\n"
		    "lpc.pc-testdev=true\n"
		    "name=vm\n");
	config_init();
	assert_ok(PARSE("-l", "bootrom,/fw/OVMF.fd", "-l", "fwcfg,bhyve", "-l",
	    "tpm,passthru,/dev/tpm0", "vm"));
	assert_dump("lpc.bootrom=/fw/OVMF.fd\nlpc.fwcfg=bhyve\nlpc.tpm.type=passthru\n"
		    "lpc.tpm.path=/dev/tpm0\nname=vm\n");
}

static void test_lpc_errors(void **state)
{
	assert_error_line(PARSE("-l", "com1", "vm"),
	    "khyve: -l: 'com1' needs a backend (stdio, a device path or tcp=ip:port)\n");
	assert_error_line(PARSE("-l", "com1,", "vm"),
	    "khyve: -l: 'com1' needs a backend (stdio, a device path or tcp=ip:port)\n");
	assert_error_line(PARSE("-l", "com5,stdio", "vm"),
	    "khyve: -l: 'com5' is not a known LPC device (see -l help)\n");
	assert_error_line(PARSE("-l", "bootrom", "vm"), "khyve: -l: 'bootrom' needs a ROM file\n");
	assert_error_line(PARSE("-l", "fwcfg", "vm"),
	    "khyve: -l: '' is not a fwcfg type (bhyve, qemu)\n");
	assert_error_line(PARSE("-l", "fwcfg,seabios", "vm"),
	    "khyve: -l: 'seabios' is not a fwcfg type (bhyve, qemu)\n");
	assert_error_line(PARSE("-l", "tpm,emulated,/x", "vm"),
	    "khyve: -l: 'emulated' is not a TPM type (passthru, swtpm)\n");
	assert_error_line(PARSE("-l", "tpm,swtpm", "vm"),
	    "khyve: -l: 'tpm,swtpm' needs a device or socket path\n");
	assert_error_line(PARSE("-l", "pc-testdev,on", "vm"),
	    "khyve: -l: 'pc-testdev,on' takes no options\n");
	assert_error_line(PARSE("-l", "", "vm"),
	    "khyve: -l: '' is not a known LPC device (see -l help)\n");
}

static void test_lpc_help(void **state)
{
	assert_int_equal(PARSE("-l", "help"), OPTS_EXIT_OK);
	assert_string_equal(last_out,
	    "bootrom\ncom1\ncom2\ncom3\ncom4\nfwcfg\ntpm\npc-testdev\n");
	assert_string_equal(last_err, "");
}

/* ---- -p, -U, -G, -K, -r, -f, -n --------------------------------------------------- */

static void test_pinning(void **state)
{
	assert_ok(PARSE("-p", "0:12", "-p", "1:13", "-p", "0:14", "vm"));
	assert_dump("vcpu.0.cpuset=12,14\nvcpu.1.cpuset=13\nname=vm\n");
	config_init();
	assert_ok(PARSE("-p", "255:1023", "vm"));
}

static void test_pinning_errors(void **state)
{
	assert_error_line(PARSE("-p", "garbage", "vm"),
	    "khyve: -p: 'garbage' is not of the form vcpu:hostcpu\n");
	assert_error_line(PARSE("-p", "0:x", "vm"),
	    "khyve: -p: 'x' is not a valid host CPU number (0-1023)\n");
	assert_error_line(PARSE("-p", "x:0", "vm"),
	    "khyve: -p: 'x' is not a valid vCPU number (0-255)\n");
	assert_error_line(PARSE("-p", "256:0", "vm"),
	    "khyve: -p: '256' is not a valid vCPU number (0-255)\n");
	assert_error_line(PARSE("-p", "0:1024", "vm"),
	    "khyve: -p: '1024' is not a valid host CPU number (0-1023)\n");
	assert_error_line(PARSE("-p", "0:", "vm"),
	    "khyve: -p: '' is not a valid host CPU number (0-1023)\n");
	assert_error_line(PARSE("-p", ":1", "vm"),
	    "khyve: -p: '' is not a valid vCPU number (0-255)\n");
	assert_error_line(PARSE("-p", "0:1:2", "vm"),
	    "khyve: -p: '1:2' is not a valid host CPU number (0-1023)\n");
	assert_error_line(PARSE("-p", "-1:2", "vm"),
	    "khyve: -p: '-1' is not a valid vCPU number (0-255)\n");
	assert_error_line(PARSE("-p", "99999999999999999999:2", "vm"),
	    "khyve: -p: '99999999999999999999' is not a valid vCPU number (0-255)\n");
}

static void test_uuid(void **state)
{
	static const char *const bad[] = {
		"1234", "12345678-1234-1234-1234-123456789ab", "12345678-1234-1234-1234-123456789abcd",
		"1234567-81234-1234-1234-123456789abc", "g2345678-1234-1234-1234-123456789abc",
		"12345678_1234_1234_1234_123456789abc", "12345678-1234-1234-1234-123456789abc ", "",
	};
	char want[160];
	size_t i;

	assert_ok(PARSE("-U", "12345678-9abc-DEF0-1234-56789abcdef0", "vm"));
	assert_value("uuid", "12345678-9abc-DEF0-1234-56789abcdef0");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		config_init();
		snprintf(want, sizeof(want),
		    "khyve: -U: '%s' is not a valid UUID (8-4-4-4-12 hex digits)\n", bad[i]);
		assert_error_line(PARSE("-U", bad[i], "vm"), want);
	}
	config_init();
	assert_error_line(PARSE("-o", "uuid=nope", "vm"),
	    "khyve: config: uuid: 'nope' is not a valid UUID\n");
}

static void test_gdb(void **state)
{
	assert_ok(PARSE("-G", "1234", "vm"));
	assert_dump("gdb.port=1234\nname=vm\n");
	config_init();
	assert_ok(PARSE("-G", "w127.0.0.1:1234", "vm"));
	assert_dump("gdb.port=1234\ngdb.address=127.0.0.1\ngdb.wait=true\nname=vm\n");
	config_init();
	assert_ok(PARSE("-G", "::1:5555", "vm")); /* address = all before the last ':' */
	assert_value("gdb.address", "::1");
	assert_error_line(PARSE("-G", "0", "vm"), "khyve: -G: '0' is not a valid TCP port "
	    "(1-65535)\n");
	assert_error_line(PARSE("-G", "65536", "vm"), "khyve: -G: '65536' is not a valid TCP port "
	    "(1-65535)\n");
	assert_error_line(PARSE("-G", "w", "vm"), "khyve: -G: '' is not a valid TCP port "
	    "(1-65535)\n");
	assert_error_line(PARSE("-G", "host:", "vm"), "khyve: -G: '' is not a valid TCP port "
	    "(1-65535)\n");
	assert_error_line(PARSE("-G", ":80", "vm"), "khyve: -G: ':80' has an empty bind address\n");
}

static void test_keyboard_and_restore(void **state)
{
	assert_ok(PARSE("-K", "fr", "-r", "/snap/vm0", "vm"));
	assert_dump("keyboard.layout=fr\nrestore=/snap/vm0\nname=vm\n");
	assert_error_line(PARSE("-K", "", "vm"), "khyve: -K: '' is not a valid keyboard layout\n");
	assert_error_line(PARSE("-r", "", "vm"), "khyve: -r: '' is not a valid snapshot file\n");
}

static void test_fwcfg_files(void **state)
{
	assert_ok(PARSE("-f", "opt/org.example/greeting,string=hello, world", "-f",
	    "name=opt/com.x/blob,file=/etc/hostname", "vm"));
	assert_dump("fwcfg.user.0.name=opt/org.example/greeting\n"
		    "fwcfg.user.0.string=hello, world\n"
		    "fwcfg.user.1.name=opt/com.x/blob\n"
		    "fwcfg.user.1.file=/etc/hostname\n"
		    "name=vm\n");
	assert_error_line(PARSE("-f", "opt/org.example/greeting,string=again", "vm"),
	    "khyve: -f: 'opt/org.example/greeting' is already defined\n");
}

static void test_fwcfg_file_errors(void **state)
{
	char longname[80];

	assert_error_line(PARSE("-f", "opt/x", "vm"), "khyve: -f: 'opt/x' is not of the form "
	    "name,string=DATA or name,file=PATH\n");
	assert_error_line(PARSE("-f", "opt/x,data=1", "vm"), "khyve: -f: 'opt/x,data=1' is not of "
	    "the form name,string=DATA or name,file=PATH\n");
	assert_error_line(PARSE("-f", ",string=1", "vm"), "khyve: -f: ',string=1' is not of the "
	    "form name,string=DATA or name,file=PATH\n");
	assert_error_line(PARSE("-f", "opt/x,file=", "vm"), "khyve: -f: 'opt/x,file=' is not of "
	    "the form name,string=DATA or name,file=PATH\n");
	memset(longname, 'n', 56);
	strcpy(longname + 56, ",string=x");
	assert_error_has(PARSE("-f", longname, "vm"), "is longer than 55 characters");
	longname[55] = ',';
	strcpy(longname + 56, "string=x");
	assert_ok(PARSE("-f", longname, "vm"));
}

static void test_numa(void **state)
{
	assert_ok(PARSE("-n", "0,2G,0-1,prefer:0", "-n", "1,2048,2", "vm"));
	assert_dump("numa.0.size=2G\nnuma.0.cpus=0-1\nnuma.0.policy=prefer:0\n"
		    "numa.1.size=2048\nnuma.1.cpus=2\nname=vm\n");
	assert_error_line(PARSE("-n", "8,1G,0", "vm"),
	    "khyve: -n: '8' is not a valid NUMA domain id (0-7)\n");
	assert_error_line(PARSE("-n", "0,1G", "vm"),
	    "khyve: -n: '0,1G' is not of the form id,size,cpus[,domain_policy]\n");
	assert_error_line(PARSE("-n", "0,1G,0,p,extra", "vm"),
	    "khyve: -n: '0,1G,0,p,extra' is not of the form id,size,cpus[,domain_policy]\n");
	assert_error_line(PARSE("-n", "0,1G,0,", "vm"),
	    "khyve: -n: '0,1G,0,' is not of the form id,size,cpus[,domain_policy]\n");
	assert_error_line(PARSE("-n", "0,1X,0", "vm"), "khyve: -n: '1X' is not a valid memory size\n");
	assert_error_line(PARSE("-n", "0,1G,3-1", "vm"),
	    "khyve: -n: '3-1' is not a valid CPU range (N or N-M, 0-255)\n");
	assert_error_line(PARSE("-n", "0,1G,a", "vm"),
	    "khyve: -n: 'a' is not a valid CPU range (N or N-M, 0-255)\n");
}

/* ---- -o and -k ------------------------------------------------------------------ */

static void test_o_assignments(void **state)
{
	assert_ok(PARSE("-o", "boot.kernel=/boot/vmlinuz", "-o", "boot.initrd=/boot/initrd.img",
	    "-o", "boot.cmdline=console=ttyS0 root=/dev/vda rw", "-o", "cpus=2", "-o", "cpus=3",
	    "vm"));
	assert_dump("boot.kernel=/boot/vmlinuz\nboot.initrd=/boot/initrd.img\n"
		    "boot.cmdline=console=ttyS0 root=/dev/vda rw\ncpus=3\nname=vm\n");
	assert_error_line(PARSE("-o", "novalue", "vm"),
	    "khyve: -o: 'novalue' is not of the form key=value\n");
	assert_error_line(PARSE("-o", "=v", "vm"), "khyve: -o: '=v' is not of the form key=value\n");
	assert_error_line(PARSE("-o", "a..b=1", "vm"),
	    "khyve: -o: 'a..b=1': key 'a..b' has an empty component\n");
	assert_error_line(PARSE("-o", "boot.cmdline.x=1", "vm"),
	    "khyve: -o: 'boot.cmdline.x=1': 'boot.cmdline' holds a value, it cannot have "
	    "'boot.cmdline.x' below it\n");
	assert_error_line(PARSE("-o", "boot=1", "vm"),
	    "khyve: -o: 'boot=1': 'boot' has keys below it, it cannot hold a value\n");
}

static void test_k_loads_in_order(void **state)
{
	char *path = write_temp_file("# vm file\ncpus=4\nmemory.size=2G\nname=fromfile\n");

	/* -m before -k is overridden by the file; -c after -k overrides it. */
	assert_ok(PARSE("-m", "1G", "-k", path, "-c", "2", "vm"));
	assert_value("memory.size", "2G");
	assert_value("cpus", "2");
	assert_value("name", "vm"); /* the operand comes last */
	config_init();
	assert_ok(PARSE("-k", path));
	assert_value("name", "fromfile");
	unlink(path);
	free(path);
}

static void test_k_errors(void **state)
{
	char *path = write_temp_file("cpus=2\n\nthis line is wrong\n");
	char want[256];

	snprintf(want, sizeof(want), "khyve: %s:3: expected key=value\n", path);
	assert_error_line(PARSE("-k", path, "vm"), want);
	unlink(path);
	free(path);
	assert_error_line(PARSE("-k", "/nonexistent.conf", "vm"),
	    "khyve: /nonexistent.conf: No such file or directory\n");
}

/* ---- the VM name and final checks ------------------------------------------------ */

static void test_name_rules(void **state)
{
	char name64[65], name65[66];

	memset(name64, 'a', 64);
	name64[64] = '\0';
	memset(name65, 'a', 65);
	name65[65] = '\0';
	assert_ok(PARSE(name64));
	assert_ok(PARSE("Vm_0.test-1"));
	assert_ok(PARSE("0"));
	assert_true(khyve_valid_vm_name("a.b"));
	assert_false(khyve_valid_vm_name(name65));
	assert_false(khyve_valid_vm_name(""));
	assert_false(khyve_valid_vm_name(".hidden"));
	assert_false(khyve_valid_vm_name("-dash"));
	assert_false(khyve_valid_vm_name("a/b"));
	assert_false(khyve_valid_vm_name("a b"));
	assert_false(khyve_valid_vm_name("ü"));

	assert_error_line(PARSE("a/b"), "khyve: 'a/b' is not a valid VM name (1-64 characters "
	    "of A-Z a-z 0-9 . _ -, not starting with . or -)\n");
	assert_error_has(PARSE(".hidden"), "'.hidden' is not a valid VM name");
	assert_error_has(PARSE("--", "-dash"), "'-dash' is not a valid VM name");
	assert_error_has(PARSE(""), "'' is not a valid VM name");
	assert_error_has(PARSE(name65), "is not a valid VM name");
	assert_error_has(PARSE("../etc"), "is not a valid VM name");
}

static void test_name_required(void **state)
{
	assert_error_line(PARSE("-c", "2"), "khyve: missing VM name\n");
	assert_error_line(PARSE(NULL), "khyve: missing VM name\n");
	config_init();
	assert_ok(PARSE("-o", "config.dump=1", "-c", "2"));
	config_init();
	assert_ok(PARSE("-o", "name=fromopt"));
	assert_value("name", "fromopt");
	config_init();
	assert_ok(PARSE("-o", "name=fromopt", "vm"));
	assert_value("name", "vm");
	config_init();
	assert_error_line(PARSE("-o", "name=bad/name"), "khyve: config: name: 'bad/name' is not a "
	    "valid VM name (1-64 characters of A-Z a-z 0-9 . _ -, not starting with . or -)\n");
	config_init();
	assert_error_line(PARSE("a", "b"), "khyve: 'b': unexpected argument after the VM name "
	    "'a'\n");
	config_init();
	assert_error_line(PARSE("-o", "config.dump=sure"),
	    "khyve: config: config.dump: 'sure' is not a boolean\n");
}

static void test_final_checks(void **state)
{
	assert_error_line(PARSE("-o", "x86.x2apic=maybe", "vm"),
	    "khyve: config: x86.x2apic: 'maybe' is not a boolean\n");
	config_init();
	assert_error_line(PARSE("-o", "x86.coalesced_io=sometimes", "vm"),
	    "khyve: config: x86.coalesced_io: 'sometimes' is not a boolean\n");
	config_init();
	assert_error_line(PARSE("-o", "a=%(b)", "-o", "b=%(a)", "vm"),
	    "khyve: config: a: expansion loop through %(a)\n");
	config_init();
	assert_error_line(PARSE("-o", "disk=/%(nope)", "vm"),
	    "khyve: config: disk: reference to unset variable 'nope'\n");
	config_init();
	assert_ok(PARSE("-o", "base=vm", "-o", "name=%(base)1"));
	assert_value("name", "vm1");
	assert_int_equal(khyve_validate_config(), 0);
}

/* ---- round trip ------------------------------------------------------------------- */

static void test_dump_k_round_trip(void **state)
{
	char *first, *second, *path = strdup("/tmp/test_options_rt.XXXXXX");
	FILE *fp;

	assert_ok(PARSE("-c", "sockets=2,cores=2", "-m", "1G", "-AHPw", "-s", "0,amd_hostbridge",
	    "-s", "1,lpc", "-s", "2,virtio-blk,/img/%(name).raw,ro,sectorsize=512/4096,ser=abc",
	    "-s", "3,virtio-net,slirp,hostfwd=tcp::2222-:22,bootindex=3", "-s",
	    "4,ahci,hd:/d.img,bootindex=2,cd:/i.iso,bootindex=0", "-s", "5,ahci-cd,/j.iso,bootindex=1",
	    "-l", "com1,stdio", "-l", "bootrom,/fw.fd,/vars.fd",
	    "-p", "0:1", "-p", "0:2", "-U", "12345678-1234-1234-1234-123456789abc", "-f",
	    "opt/a.b/c,string=x=y", "-o", "boot.cmdline=console=ttyS0 root=/dev/vda", "vm0"));
	first = dump_to_string();

	close(mkstemp(path));
	fp = fopen(path, "w");
	dump_config(fp);
	fclose(fp);

	config_init();
	assert_ok(PARSE("-k", path));
	second = dump_to_string();
	assert_string_equal(first, second);
	assert_value("pci.0.2.0.path", "/img/vm0.raw");
	/* bootindex= stays with its device, and with its port on an AHCI controller. */
	assert_value("pci.0.3.0.bootindex", "3");
	assert_value("pci.0.4.0.port.0.bootindex", "2");
	assert_value("pci.0.4.0.port.1.bootindex", "0");
	assert_value("pci.0.5.0.port.0.bootindex", "1");
	unlink(path);
	free(path);
	free(first);
	free(second);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_name_only_writes_no_defaults),
		T(test_flags),
		T(test_combined_flags_last_wins),
		T(test_capital_i_is_a_no_op),
		T(test_help),
		T(test_unknown_and_missing),
		T(test_parse_twice_resets_getopt),
		T(test_cpus_forms),
		T(test_cpus_errors),
		T(test_topology_checked_after_o_and_k),
		T(test_memory),
		T(test_memory_errors),
		T(test_slot_addresses),
		T(test_slot_errors),
		T(test_lpc_placement),
		T(test_slot_help),
		T(test_legacy_virtio_blk),
		T(test_legacy_net),
		T(test_legacy_ahci),
		T(test_legacy_ahci_port_limit),
		T(test_legacy_amd_hostbridge),
		T(test_legacy_other_devices),
		T(test_legacy_errors),
		T(test_lpc_devices),
		T(test_lpc_errors),
		T(test_lpc_help),
		T(test_pinning),
		T(test_pinning_errors),
		T(test_uuid),
		T(test_gdb),
		T(test_keyboard_and_restore),
		T(test_fwcfg_files),
		T(test_fwcfg_file_errors),
		T(test_numa),
		T(test_o_assignments),
		T(test_k_loads_in_order),
		T(test_k_errors),
		T(test_name_rules),
		T(test_name_required),
		T(test_final_checks),
		T(test_dump_k_round_trip),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
