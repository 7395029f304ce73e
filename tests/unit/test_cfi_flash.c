/*
 * The UEFI variable flash (src/hw/cfi_flash.c) driven as edk2's
 * QemuFlashFvbServicesRuntimeDxe drives it -- the probe, byte programs,
 * block erases -- plus what a hostile guest may do, and what lands in the
 * VARS file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hw/cfi_flash.h"

#define BLOCKS 4
#define SIZE (BLOCKS * CFI_FLASH_BLOCK_SIZE)

struct fixture {
	char dir[64];
	char path[96];
	struct cfi_flash *f;
	int romd_calls;
	bool mapped;
};

static void romd_hook(void *arg, bool mapped)
{
	struct fixture *fx = arg;

	fx->romd_calls++;
	fx->mapped = mapped;
}

/* A VARS file whose byte i is (i * 7 + 3) mod 251, never 0x00/0x50/0x70 at 0. */
static void write_vars_file(const char *path, size_t size)
{
	FILE *fp = fopen(path, "wb");

	assert_non_null(fp);
	for (size_t i = 0; i < size; i++)
		fputc((int)((i * 7 + 3) % 251), fp);
	assert_int_equal(fclose(fp), 0);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	strcpy(fx->dir, "/tmp/khyve-cfi-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->path, sizeof(fx->path), "%s/VARS.fd", fx->dir);
	write_vars_file(fx->path, SIZE);
	fx->f = cfi_flash_open(fx->path);
	assert_non_null(fx->f);
	fx->mapped = true;
	cfi_flash_set_romd_hook(fx->f, romd_hook, fx);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	cfi_flash_close(fx->f);
	unlink(fx->path);
	rmdir(fx->dir);
	free(fx);
	return 0;
}

static uint8_t rd(struct fixture *fx, uint64_t off)
{
	return (uint8_t)cfi_flash_read(fx->f, off, 1);
}

static void wr(struct fixture *fx, uint64_t off, uint8_t v)
{
	cfi_flash_write(fx->f, off, 1, v);
}

static uint8_t file_byte(struct fixture *fx, off_t off)
{
	uint8_t b = 0;
	int fd = open(fx->path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, off), 1);
	close(fd);
	return b;
}

/* edk2's QemuFlashDetected(): RAM and ROM answers differ; a flash says 0x00 after 0x70. */
static void test_probe_sees_flash(void **state)
{
	struct fixture *fx = *state;
	uint8_t orig = rd(fx, 0);

	assert_int_equal(orig, 3);
	wr(fx, 0, 0x50);
	assert_int_equal(rd(fx, 0), orig); /* not RAM: the command byte is not stored */
	wr(fx, 0, 0x70);
	assert_false(fx->mapped);          /* status reads must exit */
	assert_int_equal(rd(fx, 0), 0x00); /* CLEARED_ARRAY_STATUS: "FD behaves as FLASH" */
	wr(fx, 0, 0xff);
	assert_false(fx->mapped);          /* until the next array read */
	assert_int_equal(rd(fx, 0), orig);
	assert_true(fx->mapped);
	assert_int_equal(file_byte(fx, 0), orig); /* probing changes nothing */
}

/* QemuFlashWrite(): 0x10 + data per byte, then 0xff on the last address. */
static void test_program_bytes_persist(void **state)
{
	struct fixture *fx = *state;
	const uint8_t data[] = { 0xaa, 0x55, 0x00, 0x12 };
	uint64_t at = CFI_FLASH_BLOCK_SIZE + 100;

	for (unsigned i = 0; i < sizeof(data); i++) {
		wr(fx, at + i, 0x10);
		assert_false(fx->mapped);
		wr(fx, at + i, data[i]);
		assert_int_equal(rd(fx, at + i) & 0x80, 0x80); /* status: ready */
	}
	wr(fx, at + sizeof(data) - 1, 0xff);
	assert_int_equal(fx->romd_calls, 1); /* unmapped once for all the bytes */
	for (unsigned i = 0; i < sizeof(data); i++) {
		assert_int_equal(rd(fx, at + i), data[i]);
		assert_int_equal(((uint8_t *)cfi_flash_array(fx->f))[at + i], data[i]);
		/* Back in read-array mode the store is in the file already. */
		assert_int_equal(file_byte(fx, (off_t)(at + i)), data[i]);
	}
	assert_int_equal(rd(fx, at + sizeof(data)), (uint8_t)(((at + 4) * 7 + 3) % 251));
}

/* QemuFlashEraseBlock(): 0x20, 0xd0 at the block's start; the block reads 0xff. */
static void test_erase_block(void **state)
{
	struct fixture *fx = *state;
	uint64_t blk = 2 * CFI_FLASH_BLOCK_SIZE;

	wr(fx, blk, 0x20);
	wr(fx, blk, 0xd0);
	assert_int_equal(rd(fx, blk) & 0x80, 0x80);
	wr(fx, blk, 0xff);
	for (uint64_t i = 0; i < CFI_FLASH_BLOCK_SIZE; i += 511)
		assert_int_equal(rd(fx, blk + i), 0xff);
	assert_int_equal(rd(fx, blk - 1), (uint8_t)(((blk - 1) * 7 + 3) % 251));
	assert_int_equal(rd(fx, blk + CFI_FLASH_BLOCK_SIZE),
			 (uint8_t)(((blk + CFI_FLASH_BLOCK_SIZE) * 7 + 3) % 251));
	assert_int_equal(file_byte(fx, (off_t)blk + 17), 0xff);
}

/* An erase setup followed by anything but the confirm erases nothing. */
static void test_erase_needs_confirm(void **state)
{
	struct fixture *fx = *state;

	wr(fx, 0, 0x20);
	wr(fx, 0, 0x42);
	assert_int_not_equal(rd(fx, 0) & 0x30, 0); /* sequence error in the status */
	wr(fx, 0, 0x50);                           /* clear status: read array again */
	assert_int_equal(rd(fx, 0), 3);
	assert_int_equal(file_byte(fx, 0), 3);
}

/* Programs and erases outside the store, and odd access sizes, touch nothing. */
static void test_hostile_offsets(void **state)
{
	struct fixture *fx = *state;

	wr(fx, SIZE - 2, 0x10);
	cfi_flash_write(fx->f, SIZE - 2, 8, 0x1122334455667788ull); /* runs past the end */
	assert_int_not_equal(rd(fx, 0) & 0x10, 0);                  /* program error */
	wr(fx, 0, 0x50);
	assert_int_equal(rd(fx, SIZE - 2), (uint8_t)(((SIZE - 2) * 7 + 3) % 251));
	wr(fx, UINT64_MAX - 3, 0x20);
	wr(fx, UINT64_MAX - 3, 0xd0);
	wr(fx, 0, 0xff);
	assert_int_equal(cfi_flash_read(fx->f, SIZE, 4), 0xffffffffu);
	assert_int_equal(cfi_flash_read(fx->f, UINT64_MAX, 2), 0xffff);
	assert_int_equal(cfi_flash_read(fx->f, 0, 0), ~0ull);
	cfi_flash_write(fx->f, 0, 9, 0x10); /* ignored: no such access size */
	assert_int_equal(fx->f ? cfi_flash_read(fx->f, 0, 1) : 0, 3);
	assert_true(fx->mapped);
	for (uint64_t i = 0; i < SIZE; i += 4093)
		assert_int_equal(file_byte(fx, (off_t)i), (uint8_t)((i * 7 + 3) % 251));
}

/* Wide reads are little-endian, as the guest's loads see memory. */
static void test_wide_read(void **state)
{
	struct fixture *fx = *state;
	uint64_t v = cfi_flash_read(fx->f, 8, 4);

	assert_int_equal(v, (uint64_t)rd(fx, 8) | (uint64_t)rd(fx, 9) << 8 |
				    (uint64_t)rd(fx, 10) << 16 | (uint64_t)rd(fx, 11) << 24);
}

/* The file is replaced whole (rename), keeps its permissions, and stays locked. */
static void test_snapshot_replaces_file(void **state)
{
	struct fixture *fx = *state;
	struct stat before, after;
	struct cfi_flash *second;

	assert_int_equal(chmod(fx->path, 0640), 0);
	assert_int_equal(stat(fx->path, &before), 0);
	wr(fx, 5, 0x10);
	wr(fx, 5, 0xee);
	wr(fx, 5, 0xff);
	assert_int_equal(stat(fx->path, &after), 0);
	assert_int_not_equal(before.st_ino, after.st_ino);
	assert_int_equal(after.st_mode & 07777, 0640);
	assert_int_equal(after.st_size, SIZE);
	assert_int_equal(file_byte(fx, 5), 0xee);
	/* Another VM cannot take the store, before or after the rename. */
	second = cfi_flash_open(fx->path);
	assert_null(second);
}

static void test_open_rejects_bad_files(void **state)
{
	char dir[] = "/tmp/khyve-cfi-bad-XXXXXX", path[64];

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/odd.fd", dir);
	write_vars_file(path, CFI_FLASH_BLOCK_SIZE + 1);
	assert_null(cfi_flash_open(path));
	unlink(path);
	write_vars_file(path, 0);
	assert_null(cfi_flash_open(path));
	unlink(path);
	assert_null(cfi_flash_open(path)); /* missing */
	assert_null(cfi_flash_open(dir));  /* a directory */
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_probe_sees_flash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_program_bytes_persist, setup, teardown),
		cmocka_unit_test_setup_teardown(test_erase_block, setup, teardown),
		cmocka_unit_test_setup_teardown(test_erase_needs_confirm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_offsets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wide_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_replaces_file, setup, teardown),
		cmocka_unit_test(test_open_rejects_bad_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
