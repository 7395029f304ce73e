/*
 * Firmware boot order (src/hw/bootorder.c and the devices' bootindex=): the
 * fw_cfg "bootorder" file as firmware reads it -- through the fw_cfg
 * directory, byte for byte -- after pci_init() created real devices from a
 * config tree; the errors a user sees for a bad or duplicate bootindex.
 *
 * pci_init() registers global ranges once per process, so each config runs
 * in a child; the child sends back pci_init's result, the file (if any) and
 * what it printed on stderr.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/config.h"
#include "core/inout.h"
#include "core/mevent.h"
#include "hw/bootorder.h"
#include "hw/fw_cfg.h"
#include "lib/vmmapi.h"
#include "pci/pci.h"

#include "capture.h"

#define RAM_SIZE (1u << 20)
#define IMG_SIZE (1u << 20)

static struct vmctx ctx;
static char *img_hd, *img_cd;

/* ---- the registry alone ------------------------------------------------------ */

static void test_parse(void **state)
{
	const char *bad[] = { "", "-1", "+1", " 1", "1 ", "1x", "x", "0x10", "2147483648",
			      "99999999999999999999" };
	unsigned v = 77;

	assert_int_equal(bootorder_parse("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(bootorder_parse("007", &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(bootorder_parse("2147483647", &v), 0);
	assert_int_equal(v, 2147483647u);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 77;
		assert_int_equal(bootorder_parse(bad[i], &v), -1);
		assert_int_equal(v, 77); /* untouched */
	}
}

/* Sorted by index whatever the order of registration; QEMU's NUL-terminated layout. */
static void test_file_sorted(void **state)
{
	static const char want[] = "/b\n/c\n/a"; /* sizeof includes the NUL */
	size_t len = 0;
	char *text;

	bootorder_reset();
	assert_null(bootorder_file(&len));
	assert_int_equal(bootorder_add(20, "/a", "dev a"), 0);
	assert_int_equal(bootorder_add(0, "/b", "dev b"), 0);
	assert_int_equal(bootorder_add(7, "/c", "dev c"), 0);
	text = bootorder_file(&len);
	assert_non_null(text);
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(text, want, sizeof(want));
	free(text);
	bootorder_reset();
}

static void test_duplicate(void **state)
{
	struct capture c;
	char *err;
	size_t len;
	char *text;

	bootorder_reset();
	assert_int_equal(bootorder_add(1, "/a", "dev a"), 0);
	capture_start(&c, 2);
	assert_int_equal(bootorder_add(1, "/b", "dev b"), -1);
	err = capture_end(&c);
	assert_string_equal(err, "khyve: dev b: bootindex 1 is taken by dev a\n");
	free(err);
	text = bootorder_file(&len); /* the refused one left no trace */
	assert_int_equal(len, 3);
	assert_memory_equal(text, "/a", 3);
	free(text);
	bootorder_reset();
}

/* ---- through pci_init, as khyve starts ---------------------------------------- */

struct outcome {
	int rc;           /* pci_init's */
	bool has_file;
	char file[512];
	size_t len;
	char *err;        /* stderr */
};

static void set(const char *key, const char *value)
{
	assert_int_equal(set_config_value(key, value), 0);
}

static uint8_t data_byte(void)
{
	uint32_t v = 0;

	(void)emulate_inout(&ctx, true, FW_CFG_PORT_DATA, 1, &v);
	return (uint8_t)v;
}

static void select_key(uint16_t key)
{
	uint32_t v = key;

	(void)emulate_inout(&ctx, false, FW_CFG_PORT_SEL, 2, &v);
}

static uint32_t read_be32(void)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++)
		v = v << 8 | data_byte();
	return v;
}

/* Look "bootorder" up in the directory and read it, as SeaBIOS's romfile code does. */
static bool firmware_read(struct outcome *o)
{
	uint32_t count;

	select_key(FW_CFG_FILE_DIR);
	count = read_be32();
	for (uint32_t i = 0; i < count; i++) {
		uint32_t size = read_be32();
		uint16_t sel = (uint16_t)(data_byte() << 8);
		char name[FW_CFG_NAME_LEN];

		sel |= data_byte();
		(void)data_byte();
		(void)data_byte();
		for (int k = 0; k < FW_CFG_NAME_LEN; k++)
			name[k] = (char)data_byte();
		if (strcmp(name, "bootorder") != 0 || size > sizeof(o->file))
			continue;
		select_key(sel);
		for (uint32_t k = 0; k < size; k++)
			o->file[k] = (char)data_byte();
		o->len = size;
		return true;
	}
	return false;
}

/* The child: config already set by the caller; fw_cfg as lpc_init would make it. */
static void child_run(bool with_fw_cfg, int out)
{
	struct outcome o = { 0 };

	ctx = (struct vmctx){ .vm_fd = -1, .kvm_fd = -1, .lowmem = RAM_SIZE,
			      .ram_map_len = RAM_SIZE, .ram = calloc(1, RAM_SIZE) };
	if (mevent_init() < 0 || (with_fw_cfg && fw_cfg_setup(&ctx) < 0))
		_exit(99);
	o.rc = pci_init(&ctx);
	if (with_fw_cfg)
		o.has_file = firmware_read(&o);
	fflush(stderr);
	if (write(out, &o, sizeof(o)) != (ssize_t)sizeof(o))
		_exit(98);
	_exit(0);
}

/* Run pci_init on the current config in a child; config is reset afterwards. */
static struct outcome run(bool with_fw_cfg)
{
	struct outcome o;
	FILE *err = tmpfile();
	int pipefd[2], status;
	pid_t pid;

	assert_non_null(err);
	assert_int_equal(pipe(pipefd), 0);
	fflush(stderr);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fileno(err), 2);
		child_run(with_fw_cfg, pipefd[1]);
	}
	close(pipefd[1]);
	assert_int_equal(read(pipefd[0], &o, sizeof(o)), (ssize_t)sizeof(o));
	close(pipefd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	o.err = read_stream(err);
	fclose(err);
	config_init();
	return o;
}

static void expect_file(const struct outcome *o, const char *want, size_t len)
{
	assert_string_equal(o->err, "");
	assert_int_equal(o->rc, 0);
	assert_true(o->has_file);
	assert_int_equal(o->len, len);
	assert_memory_equal(o->file, want, len);
}

static char *make_image(const char *name)
{
	const char *dir = getenv("TMPDIR");
	char *path;
	int fd;

	assert_true(asprintf(&path, "%s/%s.XXXXXX", dir && *dir ? dir : "/tmp", name) > 0);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, IMG_SIZE), 0);
	close(fd);
	return path;
}

static void drop_images(void)
{
	if (img_hd == NULL)
		return;
	unlink(img_hd);
	unlink(img_cd);
	free(img_hd);
	free(img_cd);
	img_hd = img_cd = NULL;
}

/*
 * Fresh images for every config: a child's io_uring may let go of its image
 * (and so of the image's lock) only after the child is gone.
 */
static void base_config(void)
{
	drop_images();
	img_hd = make_image("khyve-bootorder-hd");
	img_cd = make_image("khyve-bootorder-cd");
	config_init();
	set("pci.0.0.0.device", "hostbridge");
}

/* The e2e scenario's machine: the disk first, then the CD; and swapped. */
static void test_disk_and_cd(void **state)
{
	static const char disk_first[] = "/pci@i0cf8/scsi@4/disk@0,0\n"
					 "/pci@i0cf8/pci8086,2821@3/drive@0/disk@0";
	static const char cd_first[] = "/pci@i0cf8/pci8086,2821@3/drive@0/disk@0\n"
				       "/pci@i0cf8/scsi@4/disk@0,0";
	struct outcome o;

	for (int swap = 0; swap < 2; swap++) {
		base_config();
		set("pci.0.3.0.device", "ahci");
		set("pci.0.3.0.port.0.type", "cd");
		set("pci.0.3.0.port.0.path", img_cd);
		set("pci.0.3.0.port.0.bootindex", swap ? "1" : "2");
		set("pci.0.4.0.device", "virtio-blk");
		set("pci.0.4.0.path", img_hd);
		set("pci.0.4.0.bootindex", swap ? "2" : "1");
		o = run(true);
		if (swap)
			expect_file(&o, cd_first, sizeof(cd_first));
		else
			expect_file(&o, disk_first, sizeof(disk_first));
		free(o.err);
	}
}

/* Slots and functions in hex (",F" only when F != 0), AHCI ports, a NIC, index 0. */
static void test_paths(void **state)
{
	static const char want[] = "/pci@i0cf8/ethernet@1e,2/ethernet-phy@0\n"
				   "/pci@i0cf8/pci8086,2821@a/drive@1f/disk@0\n"
				   "/pci@i0cf8/scsi@b,7/disk@0,0\n"
				   "/pci@i0cf8/pci8086,2821@a/drive@0/disk@0";
	struct outcome o;

	base_config();
	set("pci.0.10.0.device", "ahci");
	set("pci.0.10.0.port.0.type", "hd");
	set("pci.0.10.0.port.0.path", img_hd);
	set("pci.0.10.0.port.0.bootindex", "40");
	set("pci.0.10.0.port.31.type", "cd");
	set("pci.0.10.0.port.31.path", img_cd);
	set("pci.0.10.0.port.31.bootindex", "5");
	set("pci.0.11.7.device", "virtio-blk");
	set("pci.0.11.7.path", img_cd);
	set("pci.0.11.7.ro", "true");
	set("pci.0.11.7.bootindex", "39");
	set("pci.0.11.0.device", "hostbridge"); /* function 7 needs a function 0 */
	set("pci.0.30.2.device", "virtio-net");
	set("pci.0.30.2.backend", "slirp");
	set("pci.0.30.2.bootindex", "0");
	set("pci.0.30.0.device", "hostbridge");
	o = run(true);
	expect_file(&o, want, sizeof(want));
	free(o.err);
}

/* No bootindex anywhere: no file at all (firmware keeps its own order). */
static void test_no_bootindex_no_file(void **state)
{
	struct outcome o;

	base_config();
	set("pci.0.4.0.device", "virtio-blk");
	set("pci.0.4.0.path", img_hd);
	o = run(true);
	assert_int_equal(o.rc, 0);
	assert_false(o.has_file);
	assert_string_equal(o.err, "");
	free(o.err);
}

/* Without fw_cfg (direct kernel boot) a bootindex is checked and accepted. */
static void test_without_fw_cfg(void **state)
{
	struct outcome o;

	base_config();
	set("pci.0.4.0.device", "virtio-blk");
	set("pci.0.4.0.path", img_hd);
	set("pci.0.4.0.bootindex", "1");
	o = run(false);
	assert_int_equal(o.rc, 0);
	assert_string_equal(o.err, "");
	free(o.err);
}

static void expect_error(const char *line)
{
	struct outcome o = run(true);

	assert_int_equal(o.rc, -1);
	assert_string_equal(o.err, line);
	free(o.err);
}

static void test_duplicate_across_devices(void **state)
{
	base_config();
	set("pci.0.4.0.device", "virtio-blk");
	set("pci.0.4.0.path", img_hd);
	set("pci.0.4.0.bootindex", "1");
	set("pci.0.3.0.device", "ahci");
	set("pci.0.3.0.port.0.type", "cd");
	set("pci.0.3.0.port.0.path", img_cd);
	set("pci.0.3.0.port.0.bootindex", "1");
	expect_error("khyve: pci 0:3:0 ahci port 0: bootindex 1 is taken by "
		     "pci 0:4:0 virtio-blk\n");
	/* Two ports of one controller. */
	base_config();
	set("pci.0.3.0.device", "ahci");
	set("pci.0.3.0.port.0.type", "hd");
	set("pci.0.3.0.port.0.path", img_hd);
	set("pci.0.3.0.port.0.bootindex", "0");
	set("pci.0.3.0.port.1.type", "cd");
	set("pci.0.3.0.port.1.path", img_cd);
	set("pci.0.3.0.port.1.bootindex", "0");
	expect_error("khyve: pci 0:3:0 ahci port 1: bootindex 0 is taken by "
		     "pci 0:3:0 ahci port 0\n");
}

static void test_invalid_value(void **state)
{
	base_config();
	set("pci.0.4.0.device", "virtio-blk");
	set("pci.0.4.0.path", img_hd);
	set("pci.0.4.0.bootindex", "-1");
	expect_error("khyve: pci 0:4:0 virtio-blk: bootindex '-1' is not a non-negative "
		     "integer\n");
	base_config();
	set("pci.0.3.0.device", "ahci");
	set("pci.0.3.0.port.0.type", "cd");
	set("pci.0.3.0.port.0.path", img_cd);
	set("pci.0.3.0.port.0.bootindex", "first");
	expect_error("khyve: pci 0:3:0 ahci port 0: bootindex 'first' is not a non-negative "
		     "integer\n");
	base_config();
	set("pci.0.5.0.device", "virtio-net");
	set("pci.0.5.0.backend", "slirp");
	set("pci.0.5.0.bootindex", "");
	expect_error("khyve: pci 0:5:0 virtio-net: bootindex '' is not a non-negative "
		     "integer\n");
}

/* ---- fixtures ------------------------------------------------------------------ */

static int group_teardown(void **state)
{
	drop_images();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_file_sorted),
		cmocka_unit_test(test_duplicate),
		cmocka_unit_test(test_disk_and_cd),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_no_bootindex_no_file),
		cmocka_unit_test(test_without_fw_cfg),
		cmocka_unit_test(test_duplicate_across_devices),
		cmocka_unit_test(test_invalid_value),
	};

	return cmocka_run_group_tests(tests, NULL, group_teardown);
}
