/*
 * fw_cfg (src/hw/fw_cfg.c) driven as firmware drives it: selector and data
 * ports through emulate_inout(), DMA requests laid out in a fake guest RAM.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <endian.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/config.h"
#include "core/inout.h"
#include "hw/fw_cfg.h"
#include "hw/platform.h"
#include "lib/vmmapi.h"

#define RAM_SIZE (1u << 20)
#define REQ_GPA 0x1000u
#define BUF_GPA 0x2000u

static struct vmctx ctx;

static int setup(void **state)
{
	ctx = (struct vmctx){ .ram = calloc(1, RAM_SIZE), .lowmem = RAM_SIZE,
			      .ram_map_len = RAM_SIZE };
	assert_non_null(ctx.ram);
	return fw_cfg_setup(&ctx);
}

static int teardown(void **state)
{
	fw_cfg_teardown();
	free(ctx.ram);
	return 0;
}

static void select_key(uint16_t key)
{
	uint32_t v = key;

	assert_int_equal(emulate_inout(&ctx, false, FW_CFG_PORT_SEL, 2, &v), 0);
}

static uint8_t data_byte(void)
{
	uint32_t v = 0xdeadbeef;

	assert_int_equal(emulate_inout(&ctx, true, FW_CFG_PORT_DATA, 1, &v), 0);
	return (uint8_t)v;
}

static void read_bytes(uint16_t key, void *buf, size_t len)
{
	select_key(key);
	for (size_t i = 0; i < len; i++)
		((uint8_t *)buf)[i] = data_byte();
}

/* Write a DMA request at REQ_GPA and start it as SeaBIOS does (two be32 halves). */
static uint32_t dma_at(uint64_t req_gpa, uint32_t control, uint32_t len, uint64_t addr)
{
	uint8_t *req = ctx.ram + REQ_GPA;
	uint32_t c = htobe32(control), l = htobe32(len);
	uint64_t a = htobe64(addr);
	uint32_t hi = htole32(htobe32((uint32_t)(req_gpa >> 32)));
	uint32_t lo = htole32(htobe32((uint32_t)req_gpa));

	memcpy(req, &c, 4);
	memcpy(req + 4, &l, 4);
	memcpy(req + 8, &a, 8);
	assert_int_equal(emulate_inout(&ctx, false, FW_CFG_PORT_DMA, 4, &hi), 0);
	assert_int_equal(emulate_inout(&ctx, false, FW_CFG_PORT_DMA + 4, 4, &lo), 0);
	memcpy(&c, req, 4);
	return be32toh(c);
}

static uint32_t dma(uint32_t control, uint32_t len, uint64_t addr)
{
	return dma_at(REQ_GPA, control, len, addr);
}

static void test_signature_and_features(void **state)
{
	char sig[4];
	uint32_t id;
	uint32_t v = 0;

	read_bytes(FW_CFG_SIGNATURE, sig, 4);
	assert_memory_equal(sig, "QEMU", 4);
	read_bytes(FW_CFG_ID, &id, 4);
	assert_int_equal(le32toh(id), FW_CFG_ID_TRADITIONAL | FW_CFG_ID_DMA);
	/* The DMA register reads back "QEMU CFG". */
	assert_int_equal(emulate_inout(&ctx, true, FW_CFG_PORT_DMA, 4, &v), 0);
	assert_memory_equal(&v, "QEMU", 4);
}

static void test_legacy_keys(void **state)
{
	uint16_t n;
	uint64_t ram;
	uint8_t uuid[16];

	static const uint8_t id[16] = { 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
					0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77 };

	assert_int_equal(fw_cfg_add_machine(3, 4, 512ull << 20, id), 0);
	read_bytes(FW_CFG_NB_CPUS, &n, 2);
	assert_int_equal(le16toh(n), 3);
	read_bytes(FW_CFG_MAX_CPUS, &n, 2);
	assert_int_equal(le16toh(n), 4);
	read_bytes(FW_CFG_NOGRAPHIC, &n, 2);
	assert_int_equal(le16toh(n), 1);
	read_bytes(FW_CFG_RAM_SIZE, &ram, 8);
	assert_int_equal(le64toh(ram), 512ull << 20);
	read_bytes(FW_CFG_UUID, uuid, 16);
	assert_int_equal(uuid[0], 0x01);
	assert_int_equal(uuid[15], 0x77);
	/* File keys are not legacy keys. */
	assert_int_equal(fw_cfg_add_u32(FW_CFG_FILE_DIR, 1), -1);
	assert_int_equal(fw_cfg_add_u32(0x30, 1), -1);
}

struct dirent_be {
	uint32_t size;
	uint16_t select, reserved;
	char name[56];
};

static void test_directory_sorted(void **state)
{
	uint32_t count;
	struct dirent_be e[3];

	assert_int_equal(fw_cfg_add_file("opt/zeta", "zz", 2), 0);
	assert_int_equal(fw_cfg_add_file("etc/alpha", "a", 1), 0);
	assert_int_equal(fw_cfg_add_file("opt/mid", "mmm", 3), 0);
	assert_int_equal(fw_cfg_add_file("opt/mid", "x", 1), -1); /* duplicate */
	char longname[FW_CFG_NAME_LEN + 1];
	memset(longname, 'a', FW_CFG_NAME_LEN);
	longname[FW_CFG_NAME_LEN] = '\0';
	assert_int_equal(fw_cfg_add_file(longname, "x", 1), -1);
	longname[FW_CFG_NAME_LEN - 1] = '\0'; /* 55 characters fit */
	assert_int_equal(fw_cfg_add_file(longname, "x", 1), 0);

	select_key(FW_CFG_FILE_DIR);
	for (int i = 0; i < 4; i++)
		((uint8_t *)&count)[i] = data_byte();
	assert_int_equal(be32toh(count), 4);
	for (size_t i = 0; i < sizeof(e); i++)
		((uint8_t *)e)[i] = data_byte();
	assert_string_equal(e[0].name, longname);
	assert_string_equal(e[1].name, "etc/alpha");
	assert_int_equal(be32toh(e[1].size), 1);
	assert_int_equal(be16toh(e[1].select), FW_CFG_FILE_FIRST + 1);
	assert_string_equal(e[2].name, "opt/mid");
	assert_int_equal(be16toh(e[2].select), FW_CFG_FILE_FIRST + 2);
	assert_int_equal(e[2].reserved, 0);

	char got[3];
	read_bytes(FW_CFG_FILE_FIRST + 2, got, 3);
	assert_memory_equal(got, "mmm", 3);
}

static void test_read_past_end(void **state)
{
	assert_int_equal(fw_cfg_add_file("opt/two", "ab", 2), 0);
	select_key(FW_CFG_FILE_FIRST);
	assert_int_equal(data_byte(), 'a');
	assert_int_equal(data_byte(), 'b');
	assert_int_equal(data_byte(), 0);
	assert_int_equal(data_byte(), 0);
	/* Selecting again starts over; unknown keys and the write channel read 0. */
	select_key(FW_CFG_FILE_FIRST);
	assert_int_equal(data_byte(), 'a');
	select_key(0x1234);
	assert_int_equal(data_byte(), 0);
	select_key(0x4000 | FW_CFG_SIGNATURE);
	assert_int_equal(data_byte(), 0);
	/* A data port write is dropped. */
	uint32_t v = 0x55;
	assert_int_equal(emulate_inout(&ctx, false, FW_CFG_PORT_DATA, 1, &v), 0);
	select_key(FW_CFG_SIGNATURE);
	assert_int_equal(data_byte(), 'Q');
}

static void test_dma_read_skip_select(void **state)
{
	uint8_t *buf = ctx.ram + BUF_GPA;

	assert_int_equal(fw_cfg_add_file("opt/data", "0123456789", 10), 0);
	memset(buf, 0xee, 16);
	assert_int_equal(dma(FW_CFG_DMA_SELECT | FW_CFG_DMA_READ | (uint32_t)FW_CFG_FILE_FIRST << 16,
			     4, BUF_GPA), 0);
	assert_memory_equal(buf, "0123", 4);
	assert_int_equal(buf[4], 0xee);
	assert_int_equal(dma(FW_CFG_DMA_SKIP, 3, 0), 0);
	/* Reading past the end: what remains, then zeroes. */
	assert_int_equal(dma(FW_CFG_DMA_READ, 8, BUF_GPA), 0);
	assert_memory_equal(buf, "789\0\0\0\0\0", 8);
	/* The data port continues where DMA stopped. */
	assert_int_equal(dma(FW_CFG_DMA_SELECT | FW_CFG_DMA_SKIP | (uint32_t)FW_CFG_FILE_FIRST << 16,
			     9, 0), 0);
	assert_int_equal(data_byte(), '9');
	/* Select alone. */
	assert_int_equal(dma(FW_CFG_DMA_SELECT, 0, 0), 0);
	assert_int_equal(data_byte(), 'Q');
	/* Zero length read, address irrelevant. */
	assert_int_equal(dma(FW_CFG_DMA_READ, 0, 0), 0);
}

static void test_dma_errors(void **state)
{
	/* Destination outside RAM, or wrapping around. */
	assert_int_equal(dma(FW_CFG_DMA_SELECT | FW_CFG_DMA_READ, 4, RAM_SIZE - 2),
			 FW_CFG_DMA_ERROR);
	assert_int_equal(dma(FW_CFG_DMA_READ, 16, 0xfffffffffffffff8ull), FW_CFG_DMA_ERROR);
	assert_int_equal(dma(FW_CFG_DMA_READ, 0xffffffffu, BUF_GPA), FW_CFG_DMA_ERROR);
	/* Writes are refused. */
	assert_int_equal(dma(FW_CFG_DMA_SELECT | FW_CFG_DMA_WRITE, 4, BUF_GPA), FW_CFG_DMA_ERROR);
	/* Unknown control bits: nothing done, no error. */
	assert_int_equal(dma(0xffe0u, 4, BUF_GPA), 0);
	/* A request structure outside RAM is ignored (nowhere to report). */
	uint32_t lo = htole32(htobe32(RAM_SIZE - 8)), hi = 0;
	assert_int_equal(emulate_inout(&ctx, false, FW_CFG_PORT_DMA, 4, &hi), 0);
	assert_int_equal(emulate_inout(&ctx, false, FW_CFG_PORT_DMA + 4, 4, &lo), 0);
	hi = htole32(htobe32(0x10u));
	lo = 0;
	assert_int_equal(emulate_inout(&ctx, false, FW_CFG_PORT_DMA, 4, &hi), 0);
	assert_int_equal(emulate_inout(&ctx, false, FW_CFG_PORT_DMA + 4, 4, &lo), 0);
	/* Odd widths on the DMA register are dropped. */
	uint32_t b = 1;
	assert_int_equal(emulate_inout(&ctx, false, FW_CFG_PORT_DMA + 1, 1, &b), 0);
	/* After all this, the device still works. */
	assert_int_equal(dma(FW_CFG_DMA_SELECT | FW_CFG_DMA_READ, 4, BUF_GPA), 0);
	assert_memory_equal(ctx.ram + BUF_GPA, "QEMU", 4);
}

static void test_user_files(void **state)
{
	char got[5];

	config_init();
	assert_int_equal(set_config_value("fwcfg.user.0.name", "opt/khyve/s"), 0);
	assert_int_equal(set_config_value("fwcfg.user.0.string", "hello"), 0);
	assert_int_equal(set_config_value("fwcfg.user.1.name", "opt/khyve/f"), 0);
	assert_int_equal(set_config_value("fwcfg.user.1.file", "/proc/self/nonexistent"), 0);
	assert_int_equal(fw_cfg_add_user_files(), -1);
	read_bytes(FW_CFG_FILE_FIRST, got, 5);
	assert_memory_equal(got, "hello", 5);
	config_free();
}

/* CMOS byte through the RTC's ports; 0xffff... marks a failed access (no cmocka in children). */
static unsigned cmos(uint8_t reg)
{
	uint32_t v = reg;

	if (emulate_inout(&ctx, false, 0x70, 1, &v) != 0 ||
	    emulate_inout(&ctx, true, 0x71, 1, &v) != 0)
		return 0x10000;
	return (uint8_t)v;
}

static unsigned cmos16(uint8_t reg)
{
	return cmos(reg) | cmos((uint8_t)(reg + 1)) << 8;
}

/* In a child (lpc_init() is for good): the memory-size bytes as QEMU fills them. */
static bool cmos_memory_ok(void)
{
	config_init();
	if (lpc_init(&ctx) < 0)
		return false;
	rtc_set_memory(3ull << 30, 1ull << 30);
	if (cmos16(0x15) != 640 || cmos16(0x17) != 0xffff || cmos16(0x30) != 0xffff ||
	    cmos16(0x34) != ((3u << 30) - (16u << 20)) >> 16 ||
	    (cmos(0x5b) | cmos(0x5c) << 8 | cmos(0x5d) << 16) != (1u << 30) >> 16)
		return false;
	rtc_set_memory(8u << 20, 0);
	return cmos16(0x17) == 7 * 1024 && cmos16(0x34) == 0 && cmos(0x5b) == 0;
}

static void test_cmos_memory(void **state)
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(cmos_memory_ok() ? 0 : 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/*
 * lpc_init() registers every platform device's ports for good, so each
 * configuration is tried in a child. Returns the child's verdict:
 * 0 = lpc_init failed, 1 = fw_cfg absent, 2 = fw_cfg present.
 */
static int lpc_outcome(const char *key, const char *value, bool user_file)
{
	int status;
	pid_t pid;

	fw_cfg_teardown();
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		config_init();
		if (key != NULL)
			(void)set_config_value(key, value);
		if (user_file) {
			(void)set_config_value("fwcfg.user.0.name", "opt/x");
			(void)set_config_value("fwcfg.user.0.string", "y");
		}
		_exit(lpc_init(&ctx) < 0 ? 0 : fw_cfg_active() ? 2 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(fw_cfg_setup(&ctx), 0); /* for the fixture's teardown */
	return WEXITSTATUS(status);
}

/* The device is there with -l fwcfg,qemu or a boot ROM; -f files without it are refused. */
static void test_lpc_presence(void **state)
{
	assert_int_equal(lpc_outcome(NULL, NULL, false), 1);
	assert_int_equal(lpc_outcome("lpc.fwcfg", "qemu", false), 2);
	assert_int_equal(lpc_outcome("lpc.fwcfg", "qemu", true), 2);
	assert_int_equal(lpc_outcome("lpc.bootrom", "/rom", false), 2);
	assert_int_equal(lpc_outcome(NULL, NULL, true), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_signature_and_features, setup, teardown),
		cmocka_unit_test_setup_teardown(test_legacy_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_directory_sorted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_past_end, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dma_read_skip_select, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dma_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_user_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cmos_memory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lpc_presence, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
