/*
 * Direct Linux boot (src/x86/linux_boot.c): bzimage_parse() on synthetic
 * headers (good, truncated, too old, 32-bit only, not a kernel at all), and
 * linux_boot_place() end to end against a fake vmctx whose RAM is a plain
 * buffer: where the kernel, initrd and command line land, what the zero page
 * tells the kernel, and the errors a user sees when something does not fit.
 * When a real Debian kernel was fetched (.cache/guest/current, or
 * $GUEST_KERNEL / $GUEST_INITRD), it is parsed and placed too; else those
 * two cases are skipped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/vmmapi.h"
#include "x86/e820.h"
#include "x86/layout.h"
#include "x86/linux_boot.h"
#include "x86/le.h"

#define MiB (1024ull * 1024)

/* Boot protocol offsets (Documentation/arch/x86/boot.rst). */
#define OFF_ACPI_RSDP 0x070
#define OFF_EXT_RAMDISK_IMAGE 0x0c0
#define OFF_EXT_RAMDISK_SIZE 0x0c4
#define OFF_EXT_CMD_LINE_PTR 0x0c8
#define OFF_E820_ENTRIES 0x1e8
#define OFF_SETUP_SECTS 0x1f1
#define OFF_VID_MODE 0x1fa
#define OFF_BOOT_FLAG 0x1fe
#define OFF_JUMP 0x200
#define OFF_HDRS 0x202
#define OFF_VERSION 0x206
#define OFF_TYPE_OF_LOADER 0x210
#define OFF_LOADFLAGS 0x211
#define OFF_RAMDISK_IMAGE 0x218
#define OFF_RAMDISK_SIZE 0x21c
#define OFF_HEAP_END_PTR 0x224
#define OFF_CMD_LINE_PTR 0x228
#define OFF_INITRD_ADDR_MAX 0x22c
#define OFF_KERNEL_ALIGNMENT 0x230
#define OFF_RELOCATABLE 0x234
#define OFF_XLOADFLAGS 0x236
#define OFF_CMDLINE_SIZE 0x238
#define OFF_PREF_ADDRESS 0x258
#define OFF_INIT_SIZE 0x260
#define OFF_E820_TABLE 0x2d0

/* The e2e guest (tests/e2e/lib.sh): same defaults, same overrides. */
#define REAL_KERNEL (getenv("GUEST_KERNEL") ?: ".cache/guest/current/vmlinuz")
#define REAL_INITRD (getenv("GUEST_INITRD") ?: ".cache/guest/current/initrd.img")

/* ---- synthetic bzImage ----------------------------------------------- */

#define JUMP_OFFSET 0x6a /* header ends at 0x26c, as in 6.x kernels */

/*
 * A plausible modern 64-bit bzImage: setup_sects sectors of setup plus the
 * boot sector, then payload_len bytes of payload holding a byte pattern.
 */
static uint8_t *make_bzimage(int setup_sects, size_t payload_len, size_t *len)
{
	size_t setup = (size_t)((setup_sects ? setup_sects : 4) + 1) * 512;
	uint8_t *img = calloc(1, setup + payload_len);

	assert_non_null(img);
	img[OFF_SETUP_SECTS] = (uint8_t)setup_sects;
	put16(img + OFF_BOOT_FLAG, 0xaa55);
	img[OFF_JUMP] = 0xeb;
	img[OFF_JUMP + 1] = JUMP_OFFSET;
	memcpy(img + OFF_HDRS, "HdrS", 4);
	put16(img + OFF_VERSION, 0x020f);
	img[OFF_LOADFLAGS] = 0x01; /* LOADED_HIGH */
	put32(img + OFF_INITRD_ADDR_MAX, 0x7fffffff);
	put32(img + OFF_KERNEL_ALIGNMENT, 0x200000);
	img[OFF_RELOCATABLE] = 1;
	put16(img + OFF_XLOADFLAGS, 0x7f);
	put32(img + OFF_CMDLINE_SIZE, 0x7ff);
	put64(img + OFF_PREF_ADDRESS, 0x1000000);
	put32(img + OFF_INIT_SIZE, 4 * MiB);
	/* Header bytes beyond what the loader sets, to see them copied. */
	img[0x250] = 0x5a;
	img[0x26b] = 0xa5;
	for (size_t i = 0; i < payload_len; i++)
		img[setup + i] = (uint8_t)(i * 7 + 3);
	*len = setup + payload_len;
	return img;
}

static void test_parse_good_image(void **state)
{
	size_t len;
	uint8_t *img = make_bzimage(27, 100000, &len);
	struct bzimage_info info;

	assert_null(bzimage_parse(img, len, &info));
	assert_int_equal(info.version, 0x020f);
	assert_int_equal(info.setup_size, 28 * 512);
	assert_int_equal(info.payload_size, 100000);
	assert_int_equal(info.init_size, 4 * MiB);
	assert_int_equal(info.initrd_addr_max, 0x7fffffff);
	assert_int_equal(info.cmdline_size, 0x7ff);
	assert_int_equal(info.xloadflags, 0x7f);
	assert_int_equal(info.runtime_start, 16 * MiB); /* pref_address */
	free(img);
}

static void test_parse_runtime_start(void **state)
{
	size_t len;
	uint8_t *img = make_bzimage(4, 4096, &len);
	struct bzimage_info info;

	/* Relocatable, no preference: the load address rounded up to the alignment. */
	put64(img + OFF_PREF_ADDRESS, 0);
	assert_null(bzimage_parse(img, len, &info));
	assert_int_equal(info.runtime_start, 2 * MiB);
	put32(img + OFF_KERNEL_ALIGNMENT, 0x1000);
	assert_null(bzimage_parse(img, len, &info));
	assert_int_equal(info.runtime_start, 1 * MiB);
	/* Relocatable, preferring an unaligned 17 MiB: aligned up to 18 MiB. */
	put32(img + OFF_KERNEL_ALIGNMENT, 0x200000);
	put64(img + OFF_PREF_ADDRESS, 17 * MiB);
	assert_null(bzimage_parse(img, len, &info));
	assert_int_equal(info.runtime_start, 18 * MiB);
	/* Not relocatable: exactly pref_address. */
	img[OFF_RELOCATABLE] = 0;
	assert_null(bzimage_parse(img, len, &info));
	assert_int_equal(info.runtime_start, 17 * MiB);
	/* Nonsense alignment and a huge preference: no overflow, no crash. */
	img[OFF_RELOCATABLE] = 1;
	put32(img + OFF_KERNEL_ALIGNMENT, 0x12345);
	put64(img + OFF_PREF_ADDRESS, UINT64_MAX - 10);
	assert_null(bzimage_parse(img, len, &info));
	assert_true(info.runtime_start >= UINT64_MAX - 10);
	free(img);
}

static void test_parse_setup_sects_zero_means_four(void **state)
{
	size_t len;
	uint8_t *img = make_bzimage(0, 4096, &len);
	struct bzimage_info info;

	assert_null(bzimage_parse(img, len, &info));
	assert_int_equal(info.setup_size, 5 * 512);
	assert_int_equal(info.payload_size, 4096);
	free(img);
}

static void test_parse_init_size_at_least_payload(void **state)
{
	size_t len;
	uint8_t *img = make_bzimage(4, 3 * MiB, &len);
	struct bzimage_info info;

	put32(img + OFF_INIT_SIZE, 1 * MiB); /* smaller than the payload itself */
	assert_null(bzimage_parse(img, len, &info));
	assert_int_equal(info.init_size, 3 * MiB);
	put32(img + OFF_INIT_SIZE, 0);
	assert_null(bzimage_parse(img, len, &info));
	assert_int_equal(info.init_size, 3 * MiB);
	free(img);
}

static void expect_parse_error(const uint8_t *img, size_t len, const char *words)
{
	struct bzimage_info info;
	const char *err = bzimage_parse(img, len, &info);

	assert_non_null(err);
	if (strstr(err, words) == NULL)
		fail_msg("error \"%s\" does not mention \"%s\"", err, words);
}

static void test_parse_bad_boot_flag(void **state)
{
	size_t len;
	uint8_t *img = make_bzimage(4, 4096, &len);

	put16(img + OFF_BOOT_FLAG, 0x55aa);
	expect_parse_error(img, len, "not a Linux bzImage");
	free(img);
}

static void test_parse_bad_hdrs_magic(void **state)
{
	size_t len;
	uint8_t *img = make_bzimage(4, 4096, &len);

	memcpy(img + OFF_HDRS, "HdrZ", 4);
	expect_parse_error(img, len, "not a Linux bzImage");
	free(img);
}

static void test_parse_random_file(void **state)
{
	uint8_t junk[8192];

	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 131 + 17);
	expect_parse_error(junk, sizeof(junk), "not a Linux bzImage");
	memset(junk, 0, sizeof(junk));
	expect_parse_error(junk, sizeof(junk), "not a Linux bzImage");
}

static void test_parse_old_protocol(void **state)
{
	size_t len;
	uint8_t *img = make_bzimage(4, 4096, &len);
	struct bzimage_info info;

	put16(img + OFF_VERSION, 0x020b);
	expect_parse_error(img, len, "older than 2.12");
	put16(img + OFF_VERSION, 0x0200);
	expect_parse_error(img, len, "older than 2.12");
	put16(img + OFF_VERSION, 0x020c); /* the first one with a 64-bit entry */
	assert_null(bzimage_parse(img, len, &info));
	free(img);
}

static void test_parse_no_64bit_entry(void **state)
{
	size_t len;
	uint8_t *img = make_bzimage(4, 4096, &len);

	put16(img + OFF_XLOADFLAGS, 0x7e);
	expect_parse_error(img, len, "XLF_KERNEL_64");
	free(img);
}

static void test_parse_truncated_file(void **state)
{
	size_t len;
	uint8_t *img = make_bzimage(30, 4096, &len);

	/* Cut inside the setup area, then exactly at its end: no payload. */
	expect_parse_error(img, 20 * 512, "truncated");
	expect_parse_error(img, 31 * 512, "truncated");
	free(img);
}

static void test_parse_setup_larger_than_file(void **state)
{
	size_t len;
	uint8_t *img = make_bzimage(4, 4096, &len);

	img[OFF_SETUP_SECTS] = 0xff; /* 128 KiB of setup in a 6.5 KiB file */
	expect_parse_error(img, len, "truncated");
	free(img);
}

static void test_parse_tiny_lengths(void **state)
{
	size_t len;
	uint8_t *img = make_bzimage(4, 4096, &len);
	uint8_t *copy;
	static const size_t lens[] = { 0, 1, 0x1ff, 0x200, 0x206, 0x264, 4095 };

	/* Each length in its own exactly-sized buffer: ASan catches any over-read. */
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		copy = malloc(lens[i] ? lens[i] : 1);
		assert_non_null(copy);
		memcpy(copy, img, lens[i]);
		expect_parse_error(copy, lens[i], "not a Linux bzImage");
		free(copy);
	}
	free(img);
}

/* ---- real kernel, when present --------------------------------------- */

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (f == NULL)
		return NULL;
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	rewind(f);
	buf = malloc((size_t)n);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static void test_parse_real_debian_kernel(void **state)
{
	size_t len;
	uint8_t *img = slurp(REAL_KERNEL, &len);
	struct bzimage_info info;

	if (img == NULL) {
		skip();
		return;
	}
	assert_null(bzimage_parse(img, len, &info));
	assert_true(info.version >= 0x020c);
	assert_true(info.xloadflags & 0x1);
	assert_int_equal(info.setup_size, (size_t)((img[OFF_SETUP_SECTS] ?: 4) + 1) * 512);
	assert_int_equal(info.setup_size + info.payload_size, len);
	assert_true(info.init_size >= info.payload_size);
	assert_true(info.cmdline_size >= 255);
	free(img);
}

/* ---- linux_boot_place() against a fake VM ------------------------------ */

struct fixture {
	struct vmctx ctx;
	char kernel[64];
	char initrd[64];
	char big[64];
	char dir[64];
	char err[64];
	uint8_t *img;   /* freed by teardown, also when a test fails */
	char *cmdline;  /* scratch buffer, same */
};

static struct fixture *fx;

static void fake_vm(struct vmctx *ctx, uint64_t lowmem)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->kvm_fd = ctx->vm_fd = -1;
	ctx->lowmem = lowmem;
	ctx->ram_map_len = lowmem;
	ctx->ram = calloc(1, lowmem);
	assert_non_null(ctx->ram);
}

static void write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

static uint8_t *kernel_image(int setup_sects, size_t payload_len, size_t *len)
{
	free(fx->img);
	fx->img = make_bzimage(setup_sects, payload_len, len);
	return fx->img;
}

static char *cmdline_buffer(size_t size)
{
	free(fx->cmdline);
	fx->cmdline = malloc(size);
	assert_non_null(fx->cmdline);
	return fx->cmdline;
}

static void write_kernel(const uint8_t *img, size_t len)
{
	write_file(fx->kernel, img, len);
}

static void make_temp(char *path, size_t size, const char *tag)
{
	int fd;

	snprintf(path, size, "/tmp/khyve-boot-%s-XXXXXX", tag);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
}

static int setup(void **state)
{
	fx = calloc(1, sizeof(*fx));
	if (fx == NULL)
		return -1;
	fake_vm(&fx->ctx, 64 * MiB);
	make_temp(fx->kernel, sizeof(fx->kernel), "kernel");
	make_temp(fx->initrd, sizeof(fx->initrd), "initrd");
	make_temp(fx->big, sizeof(fx->big), "big");
	make_temp(fx->err, sizeof(fx->err), "stderr");
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/khyve-boot-dir-XXXXXX");
	if (mkdtemp(fx->dir) == NULL)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	unlink(fx->kernel);
	unlink(fx->initrd);
	unlink(fx->big);
	unlink(fx->err);
	rmdir(fx->dir);
	free(fx->ctx.ram);
	free(fx->img);
	free(fx->cmdline);
	free(fx);
	fx = NULL;
	return 0;
}

/* Run linux_boot_place with stderr captured; returns its result. */
static int place(const struct linux_boot *lb, uint64_t *entry, char *msg, size_t msglen)
{
	int fd = open(fx->err, O_RDWR | O_TRUNC);
	int saved = dup(2);
	ssize_t n;
	int rc;

	assert_true(fd >= 0 && saved >= 0);
	fflush(stderr);
	dup2(fd, 2);
	rc = linux_boot_place(&fx->ctx, lb, entry);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	n = pread(fd, msg, msglen - 1, 0);
	close(fd);
	msg[n > 0 ? n : 0] = '\0';
	return rc;
}

static void expect_place_error(const struct linux_boot *lb, const char *words)
{
	char msg[512];
	uint64_t entry = 0;

	assert_int_equal(place(lb, &entry, msg, sizeof(msg)), -1);
	if (strstr(msg, words) == NULL)
		fail_msg("error \"%s\" does not mention \"%s\"", msg, words);
	/* One line, prefixed like every khyve error. */
	assert_true(strncmp(msg, "khyve: ", 7) == 0);
	assert_non_null(strchr(msg, '\n'));
	assert_int_equal(strchr(msg, '\n') - msg, (ptrdiff_t)strlen(msg) - 1);
}

static uint8_t *gpa(uint64_t addr)
{
	assert_true(addr < fx->ctx.lowmem);
	return fx->ctx.ram + addr;
}

static uint8_t *zero_page(void)
{
	return gpa(BOOT_ZERO_PAGE_ADDR);
}

static uint8_t initrd_byte(size_t i)
{
	return (uint8_t)(i * 13 + 1);
}

static size_t make_initrd(size_t len)
{
	uint8_t *buf = malloc(len);

	assert_non_null(buf);
	for (size_t i = 0; i < len; i++)
		buf[i] = initrd_byte(i);
	write_file(fx->initrd, buf, len);
	free(buf);
	return len;
}

static void test_place_kernel_at_1m(void **state)
{
	size_t len;
	uint8_t *img = kernel_image(27, 300000, &len);
	struct linux_boot lb = { .kernel = fx->kernel };
	uint64_t entry = 0;
	char msg[256];

	write_kernel(img, len);
	assert_int_equal(place(&lb, &entry, msg, sizeof(msg)), 0);
	assert_string_equal(msg, "");
	assert_int_equal(entry, KERNEL_LOAD_ADDR + 0x200);
	assert_memory_equal(gpa(KERNEL_LOAD_ADDR), img + 28 * 512, 300000);
}

static void test_place_zero_page_header(void **state)
{
	size_t len;
	uint8_t *img = kernel_image(27, 8192, &len);
	struct linux_boot lb = { .kernel = fx->kernel };
	uint64_t entry;
	char msg[256];
	uint8_t *bp;

	memset(gpa(BOOT_ZERO_PAGE_ADDR), 0xcc, 4096); /* stale junk must go */
	write_kernel(img, len);
	assert_int_equal(place(&lb, &entry, msg, sizeof(msg)), 0);
	bp = zero_page();
	/* Setup header copied from the image (0x1f1 up to the jump's end). */
	assert_int_equal(bp[OFF_SETUP_SECTS], 27);
	assert_int_equal(get16(bp + OFF_BOOT_FLAG), 0xaa55);
	assert_memory_equal(bp + OFF_HDRS, "HdrS", 4);
	assert_int_equal(get16(bp + OFF_VERSION), 0x020f);
	assert_int_equal(get16(bp + OFF_XLOADFLAGS), 0x7f);
	assert_int_equal(get32(bp + OFF_INIT_SIZE), 4 * MiB);
	assert_int_equal(bp[0x250], 0x5a);
	assert_int_equal(bp[0x26b], 0xa5);
	/* Nothing beyond the header, nothing before it but what the loader sets. */
	for (size_t i = OFF_JUMP + 2 + JUMP_OFFSET; i < OFF_E820_TABLE; i++)
		assert_int_equal(bp[i], 0);
	for (size_t i = 0; i < OFF_ACPI_RSDP; i++)
		assert_int_equal(bp[i], 0);
	/* What a boot loader fills in. */
	assert_int_equal(bp[OFF_TYPE_OF_LOADER], 0xff);
	assert_int_equal(bp[OFF_LOADFLAGS], 0x81); /* LOADED_HIGH kept, CAN_USE_HEAP */
	assert_int_equal(get16(bp + OFF_VID_MODE), 0xffff);
	assert_int_equal(get16(bp + OFF_HEAP_END_PTR), 0xfe00);
	assert_int_equal(get32(bp + OFF_RAMDISK_IMAGE), 0);
	assert_int_equal(get32(bp + OFF_RAMDISK_SIZE), 0);
	assert_int_equal(get64(bp + OFF_ACPI_RSDP), 0);
}

static void test_place_command_line(void **state)
{
	size_t len;
	uint8_t *img = kernel_image(4, 8192, &len);
	const char *cmdline = "console=ttyS0 root=/dev/vda1 quiet";
	struct linux_boot lb = { .kernel = fx->kernel, .cmdline = cmdline };
	uint64_t entry;
	char msg[256];
	uint8_t *bp;
	uint64_t ptr;

	write_kernel(img, len);
	memset(gpa(BOOT_CMDLINE_ADDR), 'x', 4096);
	assert_int_equal(place(&lb, &entry, msg, sizeof(msg)), 0);
	bp = zero_page();
	ptr = get32(bp + OFF_CMD_LINE_PTR) | (uint64_t)get32(bp + OFF_EXT_CMD_LINE_PTR) << 32;
	assert_int_equal(ptr, BOOT_CMDLINE_ADDR);
	assert_string_equal((const char *)gpa(ptr), cmdline);
}

static void test_place_no_command_line_is_empty(void **state)
{
	size_t len;
	uint8_t *img = kernel_image(4, 8192, &len);
	struct linux_boot lb = { .kernel = fx->kernel };
	uint64_t entry;
	char msg[256];

	write_kernel(img, len);
	memset(gpa(BOOT_CMDLINE_ADDR), 'x', 16);
	assert_int_equal(place(&lb, &entry, msg, sizeof(msg)), 0);
	assert_int_equal(*gpa(get32(zero_page() + OFF_CMD_LINE_PTR)), 0);
}

static void test_place_command_line_limits(void **state)
{
	size_t len;
	uint8_t *img = kernel_image(4, 8192, &len);
	char *cmdline = cmdline_buffer(0x800 + 1);
	struct linux_boot lb = { .kernel = fx->kernel, .cmdline = cmdline };
	uint64_t entry;
	char msg[256];

	/* The kernel's cmdline_size (0x7ff) is the longest accepted, without NUL. */
	memset(cmdline, 'a', 0x7ff);
	cmdline[0x7ff] = '\0';
	write_kernel(img, len);
	assert_int_equal(place(&lb, &entry, msg, sizeof(msg)), 0);
	assert_int_equal(strlen((const char *)gpa(BOOT_CMDLINE_ADDR)), 0x7ff);
	strcat(cmdline, "b");
	expect_place_error(&lb, "2048 bytes; this kernel accepts at most 2047");
	/* A kernel that does not say (cmdline_size 0) gets the old 255. */
	put32(img + OFF_CMDLINE_SIZE, 0);
	write_kernel(img, len);
	cmdline[256] = '\0';
	expect_place_error(&lb, "256 bytes; this kernel accepts at most 255");
	cmdline[255] = '\0';
	assert_int_equal(place(&lb, &entry, msg, sizeof(msg)), 0);
}

static void test_place_command_line_longer_than_its_area(void **state)
{
	size_t len;
	uint8_t *img = kernel_image(4, 8192, &len);
	size_t n = BOOT_CMDLINE_MAX + 100;
	char *cmdline = cmdline_buffer(n + 1);
	struct linux_boot lb = { .kernel = fx->kernel, .cmdline = cmdline };

	/* A kernel claiming a 4 GiB command line must not overrun the 64 KiB area. */
	memset(cmdline, 'a', n);
	cmdline[n] = '\0';
	put32(img + OFF_CMDLINE_SIZE, 0xffffffff);
	write_kernel(img, len);
	expect_place_error(&lb, "boot.cmdline");
	cmdline[BOOT_CMDLINE_MAX] = '\0';
	expect_place_error(&lb, "boot.cmdline");
}

static void test_place_initrd(void **state)
{
	size_t len, ilen = make_initrd(1234567);
	uint8_t *img = kernel_image(4, 8192, &len);
	struct linux_boot lb = { .kernel = fx->kernel, .initrd = fx->initrd };
	uint64_t entry, addr, size;
	char msg[256];
	uint8_t *bp;

	write_kernel(img, len);
	assert_int_equal(place(&lb, &entry, msg, sizeof(msg)), 0);
	bp = zero_page();
	addr = get32(bp + OFF_RAMDISK_IMAGE) | (uint64_t)get32(bp + OFF_EXT_RAMDISK_IMAGE) << 32;
	size = get32(bp + OFF_RAMDISK_SIZE) | (uint64_t)get32(bp + OFF_EXT_RAMDISK_SIZE) << 32;
	assert_int_equal(size, ilen);
	assert_int_equal(addr & 0xfff, 0);
	assert_true(addr + size <= fx->ctx.lowmem);
	/* As high as it goes: less than a page of slack at the top. */
	assert_true(fx->ctx.lowmem - (addr + size) < 4096);
	for (size_t i = 0; i < ilen; i++)
		if (gpa(addr)[i] != initrd_byte(i))
			fail_msg("initrd byte %zu differs", i);
}

/* The boot protocol's runtime start: where the kernel decompresses itself. */
static uint64_t runtime_start(const uint8_t *img)
{
	uint64_t align = get32(img + OFF_KERNEL_ALIGNMENT);
	uint64_t start = get64(img + OFF_PREF_ADDRESS);

	if (!img[OFF_RELOCATABLE])
		return start;
	if (start < KERNEL_LOAD_ADDR)
		start = KERNEL_LOAD_ADDR;
	return (start + align - 1) & ~(align - 1);
}

static void test_place_initrd_clear_of_kernel_runtime_area(void **state)
{
	size_t len;
	uint8_t *img = kernel_image(4, 8192, &len);
	struct linux_boot lb = { .kernel = fx->kernel, .initrd = fx->initrd };
	uint64_t entry, addr, end;
	char msg[256];

	/*
	 * 64 MiB of RAM, a kernel that decompresses at 16 MiB and needs 40 MiB
	 * from there: the initrd must go above 56 MiB or the decompressor
	 * overwrites it.
	 */
	put32(img + OFF_INIT_SIZE, 40 * MiB);
	write_kernel(img, len);
	end = runtime_start(img) + 40 * MiB;
	assert_int_equal(end, 56 * MiB);
	make_initrd(7 * MiB);
	assert_int_equal(place(&lb, &entry, msg, sizeof(msg)), 0);
	addr = get32(zero_page() + OFF_RAMDISK_IMAGE);
	assert_true(addr >= end);
	/* 9 MiB does not fit above 56 MiB: an error, not a corrupted initrd. */
	make_initrd(9 * MiB);
	expect_place_error(&lb, "does not fit");
}

static void test_place_initrd_respects_initrd_addr_max(void **state)
{
	size_t len, ilen = make_initrd(100000);
	uint8_t *img = kernel_image(4, 8192, &len);
	struct linux_boot lb = { .kernel = fx->kernel, .initrd = fx->initrd };
	uint64_t entry, addr;
	char msg[256];

	put32(img + OFF_INITRD_ADDR_MAX, 48 * MiB - 1);
	write_kernel(img, len);
	assert_int_equal(place(&lb, &entry, msg, sizeof(msg)), 0);
	addr = get32(zero_page() + OFF_RAMDISK_IMAGE);
	assert_true(addr + ilen <= 48 * MiB);
	assert_true(addr >= 48 * MiB - ilen - 4096);
	assert_int_equal(gpa(addr)[99999], initrd_byte(99999));
}

static void test_place_initrd_unaligned_kernel_end(void **state)
{
	size_t len;
	uint8_t *img = kernel_image(4, 8192, &len);
	struct linux_boot lb = { .kernel = fx->kernel, .initrd = fx->initrd };
	uint64_t entry, addr, end;
	char msg[256];
	int rc;

	/*
	 * Odd init_size and an initrd that leaves less than a page above the
	 * kernel: rounding the initrd down to a page must not push it into
	 * the kernel's area.
	 */
	put32(img + OFF_INIT_SIZE, 40 * MiB + 0x801);
	write_kernel(img, len);
	end = runtime_start(img) + 40 * MiB + 0x801;
	make_initrd(64 * MiB - end - 0x10);
	rc = place(&lb, &entry, msg, sizeof(msg));
	if (rc == 0) {
		addr = get32(zero_page() + OFF_RAMDISK_IMAGE);
		assert_true(addr >= end);
	} else {
		assert_non_null(strstr(msg, "does not fit"));
	}
}

static void test_place_initrd_too_big(void **state)
{
	size_t len;
	uint8_t *img = kernel_image(4, 8192, &len);
	struct linux_boot lb = { .kernel = fx->kernel, .initrd = fx->initrd };
	int fd = open(fx->initrd, O_WRONLY | O_TRUNC);

	/* A sparse 3 GiB file: larger than all of the guest's memory. */
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 3072 * MiB), 0);
	close(fd);
	write_kernel(img, len);
	expect_place_error(&lb, "does not fit in guest memory");
	/* Exactly the guest's memory: still no room for the kernel. */
	fd = open(fx->initrd, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 64 * MiB), 0);
	close(fd);
	expect_place_error(&lb, "does not fit in guest memory");
}

static void test_place_e820_and_rsdp(void **state)
{
	size_t len;
	uint8_t *img = kernel_image(4, 8192, &len);
	struct linux_boot lb = { .kernel = fx->kernel, .rsdp_addr = 0xe0000 };
	struct e820_entry want[128];
	int n = e820_build(fx->ctx.lowmem, 0, want, 128);
	uint64_t entry;
	char msg[256];
	uint8_t *bp;

	write_kernel(img, len);
	assert_int_equal(place(&lb, &entry, msg, sizeof(msg)), 0);
	bp = zero_page();
	assert_true(n > 0);
	assert_int_equal(bp[OFF_E820_ENTRIES], n);
	assert_memory_equal(bp + OFF_E820_TABLE, want, (size_t)n * sizeof(want[0]));
	assert_int_equal(get64(bp + OFF_ACPI_RSDP), 0xe0000);
}

static void test_place_page_tables_and_gdt(void **state)
{
	size_t len;
	uint8_t *img = kernel_image(4, 8192, &len);
	struct linux_boot lb = { .kernel = fx->kernel };
	uint64_t entry, e;
	char msg[256];
	const uint8_t *pd = gpa(BOOT_PD_ADDR);

	write_kernel(img, len);
	assert_int_equal(place(&lb, &entry, msg, sizeof(msg)), 0);
	assert_int_equal(get64(gpa(BOOT_PML4_ADDR)) & ~0xfffull, BOOT_PDPT_ADDR);
	assert_int_equal(get64(gpa(BOOT_PML4_ADDR)) & 1, 1);
	for (int i = 0; i < 4; i++)
		assert_int_equal(get64(gpa(BOOT_PDPT_ADDR) + 8 * i) & ~0xfffull,
				 BOOT_PD_ADDR + 4096ull * i);
	/* 2 MiB pages identity-mapping 0-4 GiB, present and writable. */
	for (uint64_t i = 0; i < 2048; i++) {
		e = get64(pd + 8 * i);
		assert_int_equal(e & ~0x1fffffull, i << 21);
		assert_int_equal(e & 0x83, 0x83);
	}
	/* The kernel's entry is mapped: it is inside the first 2 MiB page. */
	assert_true(entry < 2 * MiB);
	/* GDT: null, null, 64-bit code at 0x10, flat data at 0x18. */
	assert_int_equal(get64(gpa(BOOT_GDT_ADDR) + 0x10), 0x00af9b000000ffffull);
	assert_int_equal(get64(gpa(BOOT_GDT_ADDR) + 0x18), 0x00cf93000000ffffull);
}

static void test_place_kernel_too_big_for_memory(void **state)
{
	size_t len;
	uint8_t *img = kernel_image(4, 8192, &len);
	struct linux_boot lb = { .kernel = fx->kernel };

	put32(img + OFF_INIT_SIZE, 200 * MiB);
	write_kernel(img, len);
	expect_place_error(&lb, "give the guest more memory");
	put32(img + OFF_INIT_SIZE, 0xffffffff);
	write_kernel(img, len);
	expect_place_error(&lb, "give the guest more memory");
}

static void test_place_kernel_needs_its_runtime_area(void **state)
{
	size_t len;
	uint8_t *img = kernel_image(4, 8192, &len);
	struct linux_boot lb = { .kernel = fx->kernel };
	uint64_t entry;
	char msg[256];

	/*
	 * 1 MiB + 60 MiB fits in 64 MiB, but the kernel decompresses at its
	 * 16 MiB runtime start and needs 60 MiB from there.
	 */
	put32(img + OFF_INIT_SIZE, 60 * MiB);
	write_kernel(img, len);
	expect_place_error(&lb, "needs 76 MiB to start; give the guest more memory");
	put32(img + OFF_INIT_SIZE, 60 * MiB + 1);
	write_kernel(img, len);
	expect_place_error(&lb, "needs 77 MiB to start");
	put32(img + OFF_INIT_SIZE, 48 * MiB);
	write_kernel(img, len);
	assert_int_equal(place(&lb, &entry, msg, sizeof(msg)), 0);
}

static void test_place_kernel_with_absurd_pref_address(void **state)
{
	size_t len;
	uint8_t *img = kernel_image(4, 8192, &len);
	struct linux_boot lb = { .kernel = fx->kernel };

	/* runtime start + init_size wraps around: must not look small. */
	img[OFF_RELOCATABLE] = 0;
	put64(img + OFF_PREF_ADDRESS, UINT64_MAX - 1 * MiB);
	write_kernel(img, len);
	expect_place_error(&lb, "give the guest more memory");
}

static void test_place_bad_kernel_image(void **state)
{
	size_t len;
	uint8_t *img = kernel_image(4, 8192, &len);
	struct linux_boot lb = { .kernel = fx->kernel };

	put16(img + OFF_XLOADFLAGS, 0);
	write_kernel(img, len);
	expect_place_error(&lb, "XLF_KERNEL_64");
	write_kernel(img, 100);
	expect_place_error(&lb, "not a Linux bzImage");
	write_kernel(img, 0);
	expect_place_error(&lb, "not a Linux bzImage");
}

static void test_place_missing_files(void **state)
{
	size_t len;
	uint8_t *img = kernel_image(4, 8192, &len);
	struct linux_boot lb = { .kernel = "/nonexistent/vmlinuz" };

	expect_place_error(&lb, "/nonexistent/vmlinuz");
	lb.kernel = fx->dir; /* a directory is not a kernel */
	expect_place_error(&lb, "boot.kernel");
	write_kernel(img, len);
	lb.kernel = fx->kernel;
	lb.initrd = "/nonexistent/initrd.img";
	expect_place_error(&lb, "/nonexistent/initrd.img");
	lb.initrd = fx->dir;
	expect_place_error(&lb, "boot.initrd");
}

static void test_place_real_debian_kernel_and_initrd(void **state)
{
	struct linux_boot lb = {
		.kernel = REAL_KERNEL, .initrd = REAL_INITRD, .cmdline = "console=ttyS0",
	};
	size_t len, ilen;
	uint8_t *img, *initrd;
	struct bzimage_info info;
	uint64_t entry, addr;
	char msg[256];

	/* Both owned by the fixture, freed by teardown. */
	img = fx->img = slurp(REAL_KERNEL, &len);
	initrd = (uint8_t *)(fx->cmdline = (char *)slurp(REAL_INITRD, &ilen));
	if (img == NULL || initrd == NULL) {
		skip();
		return;
	}
	free(fx->ctx.ram);
	fake_vm(&fx->ctx, 256 * MiB);
	assert_null(bzimage_parse(img, len, &info));
	assert_int_equal(place(&lb, &entry, msg, sizeof(msg)), 0);
	assert_int_equal(entry, KERNEL_LOAD_ADDR + 0x200);
	assert_memory_equal(gpa(KERNEL_LOAD_ADDR), img + info.setup_size, info.payload_size);
	addr = get32(zero_page() + OFF_RAMDISK_IMAGE);
	assert_int_equal(get32(zero_page() + OFF_RAMDISK_SIZE), ilen);
	assert_true(addr >= runtime_start(img) + info.init_size);
	assert_memory_equal(gpa(addr), initrd, ilen);
	assert_string_equal((const char *)gpa(BOOT_CMDLINE_ADDR), "console=ttyS0");
}

static void test_place_real_kernel_memory_floor(void **state)
{
	struct linux_boot lb = { .kernel = REAL_KERNEL, .initrd = REAL_INITRD };
	size_t len, ilen;
	uint8_t *img, *initrd;
	uint64_t end, entry;
	char msg[256];

	img = fx->img = slurp(REAL_KERNEL, &len);
	initrd = (uint8_t *)(fx->cmdline = (char *)slurp(REAL_INITRD, &ilen));
	if (img == NULL || initrd == NULL) {
		skip();
		return;
	}
	/* Debian's kernel decompresses at 16 MiB: ~80 MiB, not 1 MiB + init_size. */
	end = runtime_start(img) + get32(img + OFF_INIT_SIZE);
	assert_true(end > KERNEL_LOAD_ADDR + get32(img + OFF_INIT_SIZE));
	free(fx->ctx.ram);
	fake_vm(&fx->ctx, (end & ~(MiB - 1)) - MiB);
	expect_place_error(&lb, "give the guest more memory");
	/* Just enough for kernel and initrd: accepted, the initrd above the kernel. */
	free(fx->ctx.ram);
	fake_vm(&fx->ctx, ((end + ilen + 4095) & ~(MiB - 1)) + MiB);
	assert_int_equal(place(&lb, &entry, msg, sizeof(msg)), 0);
	assert_true(get32(zero_page() + OFF_RAMDISK_IMAGE) >= end);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good_image),
		cmocka_unit_test(test_parse_runtime_start),
		cmocka_unit_test(test_parse_setup_sects_zero_means_four),
		cmocka_unit_test(test_parse_init_size_at_least_payload),
		cmocka_unit_test(test_parse_bad_boot_flag),
		cmocka_unit_test(test_parse_bad_hdrs_magic),
		cmocka_unit_test(test_parse_random_file),
		cmocka_unit_test(test_parse_old_protocol),
		cmocka_unit_test(test_parse_no_64bit_entry),
		cmocka_unit_test(test_parse_truncated_file),
		cmocka_unit_test(test_parse_setup_larger_than_file),
		cmocka_unit_test(test_parse_tiny_lengths),
		cmocka_unit_test(test_parse_real_debian_kernel),
		T(test_place_kernel_at_1m),
		T(test_place_zero_page_header),
		T(test_place_command_line),
		T(test_place_no_command_line_is_empty),
		T(test_place_command_line_limits),
		T(test_place_command_line_longer_than_its_area),
		T(test_place_initrd),
		T(test_place_initrd_clear_of_kernel_runtime_area),
		T(test_place_initrd_respects_initrd_addr_max),
		T(test_place_initrd_unaligned_kernel_end),
		T(test_place_initrd_too_big),
		T(test_place_e820_and_rsdp),
		T(test_place_page_tables_and_gdt),
		T(test_place_kernel_too_big_for_memory),
		T(test_place_kernel_needs_its_runtime_area),
		T(test_place_kernel_with_absurd_pref_address),
		T(test_place_bad_kernel_image),
		T(test_place_missing_files),
		T(test_place_real_debian_kernel_and_initrd),
		T(test_place_real_kernel_memory_floor),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
