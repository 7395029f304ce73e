/*
 * Direct Linux boot (boot.kernel / boot.initrd / boot.cmdline): the x86 boot
 * protocol's 64-bit entry, as a boot loader would do it, without firmware.
 */
#ifndef KHYVE_X86_LINUX_BOOT_H
#define KHYVE_X86_LINUX_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "lib/vmmapi.h"

struct bzimage_info {
	uint16_t version;       /* boot protocol version, e.g. 0x020f */
	size_t setup_size;      /* bytes of real-mode setup incl. boot sector */
	size_t payload_size;    /* protected-mode kernel bytes */
	uint32_t init_size;     /* memory the kernel needs from runtime_start */
	uint64_t runtime_start; /* where it decompresses itself (boot protocol, >= 1 MiB) */
	uint32_t initrd_addr_max;
	uint32_t cmdline_size;  /* max command line length, without the NUL */
	uint16_t xloadflags;
};

/* Validate a bzImage held in memory; returns NULL or a static error message. */
const char *bzimage_parse(const uint8_t *img, size_t len, struct bzimage_info *info);

struct linux_boot {
	const char *kernel;
	const char *initrd;   /* may be NULL */
	const char *cmdline;  /* may be NULL */
	uint64_t rsdp_addr;   /* 0: none */
	bool pvh;             /* boot.pvh: PVH entry when the kernel has one (pvh_boot.h) */
	bool trace;           /* say on stderr which boot path was taken and why */
	bool kernel_cache;    /* boot.kernel_cache: reuse decompressed kernels (kernel_cache.h) */
};

/*
 * Load kernel, initrd and command line into guest memory, write the zero
 * page, e820 map, GDT and identity page tables, and put vCPU 0 at the
 * kernel's 64-bit entry. Prints one error line and returns -1 on failure.
 */
int linux_boot_load(struct vmctx *ctx, struct vcpu *bsp, const struct linux_boot *lb);

/* Shared with the PVH boot: the whole file, malloc'ed (errno set on failure). */
uint8_t *linux_boot_read_file(const char *path, size_t *len);
/* The initrd at the top of low RAM, above kernel_end. */
int linux_boot_load_initrd(struct vmctx *ctx, const char *path, uint64_t kernel_end,
			   const struct bzimage_info *info, uint64_t *addr, uint64_t *size);
/* The command line, NUL-terminated, at BOOT_CMDLINE_ADDR. */
int linux_boot_write_cmdline(struct vmctx *ctx, const char *cmdline,
			     const struct bzimage_info *info);
/*
 * The guest-memory half of linux_boot_load() (unit-testable without a vCPU):
 * everything but the vCPU state. Stores the 64-bit entry point in *entry.
 * Prints one error line and returns -1 on failure.
 */
int linux_boot_place(struct vmctx *ctx, const struct linux_boot *lb, uint64_t *entry);

#endif
