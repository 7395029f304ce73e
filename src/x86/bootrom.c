/* Firmware boot: see bootrom.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/mem.h"
#include "hw/cfi_flash.h"
#include "hw/fw_cfg.h"
#include "hw/platform.h"
#include "lib/vmmapi.h"
#include "x86/bootrom.h"
#include "x86/e820.h"

#define FOUR_GIB 0x100000000ull
#define LEGACY_BIOS_END 0x100000u
#define COM1_PORT 0x3f8

/* The variable store, when there is one (-l bootrom,CODE,VARS). */
static struct {
	struct cfi_flash *flash;
	struct vmctx *ctx;
	int slot;
	uint64_t gpa;
} vars = { .slot = -1 };

/* The file, privately mapped for the life of the VM (KVM reads it from there). */
static void *map_image(const char *path, uint64_t *size)
{
	struct stat st;
	void *p;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "khyve: lpc.bootrom: %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	if (!S_ISREG(st.st_mode) || st.st_size == 0 || st.st_size % 4096 != 0 ||
	    st.st_size > BOOTROM_MAX_SIZE) {
		fprintf(stderr, "khyve: lpc.bootrom: %s: not a firmware image (a whole number of "
			"4 KiB pages, at most 16 MiB)\n", path);
		close(fd);
		return NULL;
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		fprintf(stderr, "khyve: lpc.bootrom: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	*size = (uint64_t)st.st_size;
	return p;
}

/* etc/e820 (QEMU's format is e820_entry's: le64 address, le64 length, le32 type). */
static int add_e820(struct vmctx *ctx)
{
	struct e820_entry map[16];
	int n = e820_build_firmware(ctx->lowmem, ctx->highmem, map, 16);

	if (n < 0)
		return -1;
	return fw_cfg_add_file("etc/e820", map, (uint32_t)(n * (int)sizeof(map[0])));
}

static int add_fw_cfg_items(struct vmctx *ctx)
{
	uint16_t sercon = COM1_PORT; /* SeaBIOS: the screen goes to COM1 (little-endian) */

	if (!fw_cfg_active()) {
		fprintf(stderr, "khyve: lpc.bootrom: no fw_cfg device\n");
		return -1;
	}
	if (add_e820(ctx) < 0 || fw_cfg_add_file("etc/sercon-port", &sercon, sizeof(sercon)) < 0) {
		fprintf(stderr, "khyve: lpc.bootrom: cannot add the fw_cfg files\n");
		return -1;
	}
	return 0;
}

/* The flash's reads stop exiting while it is in read-array mode. */
static void vars_romd(void *arg, bool mapped)
{
	void *array = cfi_flash_array(vars.flash);
	uint64_t len = mapped ? cfi_flash_size(vars.flash) : 0;

	if (vm_set_rom(vars.ctx, vars.slot, vars.gpa, array, len) < 0)
		fprintf(stderr, "khyve: lpc.bootvars: cannot %s the variable store: %s\n",
			mapped ? "map" : "unmap", strerror(errno));
}

static int vars_mmio(struct vmctx *ctx, bool write, uint64_t gpa, int size, uint64_t *val,
		     void *arg)
{
	if (write)
		cfi_flash_write(vars.flash, gpa - vars.gpa, size, *val);
	else
		*val = cfi_flash_read(vars.flash, gpa - vars.gpa, size);
	return 0;
}

/* The variable store goes right below the code, as QEMU's and bhyve's do. */
static int map_vars(struct vmctx *ctx, const char *path, uint64_t code_size)
{
	struct mem_range mr = { "bootvars", 0, 0, vars_mmio, NULL };

	vars.flash = cfi_flash_open(path);
	if (vars.flash == NULL)
		return -1;
	mr.size = cfi_flash_size(vars.flash);
	if (code_size + mr.size > BOOTROM_MAX_SIZE) {
		fprintf(stderr, "khyve: lpc.bootvars: %s: firmware and variables exceed 16 MiB\n",
			path);
		return -1;
	}
	vars.ctx = ctx;
	vars.gpa = mr.base = FOUR_GIB - code_size - mr.size;
	vars.slot = vm_add_rom(ctx, vars.gpa, cfi_flash_array(vars.flash), mr.size);
	if (vars.slot < 0 || register_mem(&mr) < 0) {
		fprintf(stderr, "khyve: lpc.bootvars: cannot map the variable store: %s\n",
			strerror(errno));
		return -1;
	}
	cfi_flash_set_romd_hook(vars.flash, vars_romd, NULL);
	return 0;
}

/*
 * A legacy BIOS runs from F000:xxxx after its first far jump: what a chipset
 * aliases below 1 MiB is here a copy in RAM (which the BIOS may then write,
 * as it does once its PAM registers open the shadow RAM).
 */
static int shadow_legacy_bios(struct vmctx *ctx, const uint8_t *image, uint64_t size)
{
	uint64_t n = size < BOOTROM_LEGACY_COPY ? size : BOOTROM_LEGACY_COPY;
	uint8_t *low = vm_map_gpa(ctx, LEGACY_BIOS_END - n, n);

	if (low == NULL) {
		fprintf(stderr, "khyve: lpc.bootrom: no RAM below 1 MiB for the BIOS\n");
		return -1;
	}
	memcpy(low, image + size - n, n);
	return 0;
}

int bootrom_setup(struct vmctx *ctx, const char *path, const char *vars_path)
{
	uint64_t size;
	void *image = map_image(path, &size);

	if (image == NULL)
		return -1;
	if (vm_add_rom(ctx, FOUR_GIB - size, image, size) < 0) {
		fprintf(stderr, "khyve: lpc.bootrom: cannot map the ROM read-only: %s\n",
			strerror(errno));
		return -1;
	}
	if (vars_path != NULL && map_vars(ctx, vars_path, size) < 0)
		return -1;
	if (size <= BOOTROM_LEGACY_MAX && shadow_legacy_bios(ctx, image, size) < 0)
		return -1;
	rtc_set_memory(ctx->lowmem, ctx->highmem);
	return add_fw_cfg_items(ctx);
}

void bootrom_cleanup(void)
{
	cfi_flash_close(vars.flash); /* saves what the guest wrote last */
	vars.flash = NULL;
}
