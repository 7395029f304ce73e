/*
 * PVH direct boot (Xen's x86/HVM direct boot ABI, which Linux implements for
 * any hypervisor under CONFIG_PVH): khyve decompresses the kernel's XZ
 * payload itself, loads the vmlinux ELF at its physical addresses and enters
 * it in 32-bit protected mode at the XEN_ELFNOTE_PHYS32_ENTRY note, with EBX
 * pointing at a struct hvm_start_info. The guest skips its own
 * decompression, which is the slowest part of a bzImage boot.
 *
 * Every function that looks at the kernel file treats it as untrusted input:
 * they return NULL on success or a static sentence saying why PVH cannot be
 * used, and the caller then falls back to the bzImage boot.
 */
#ifndef KHYVE_X86_PVH_BOOT_H
#define KHYVE_X86_PVH_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "lib/vmmapi.h"
#include "x86/linux_boot.h"

#define XEN_HVM_START_MAGIC 0x336ec578u
#define XEN_ELFNOTE_PHYS32_ENTRY 18

/* xen/include/public/arch-x86/hvm/start_info.h, version 1. */
struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;   /* version >= 1 */
	uint32_t memmap_entries; /* version >= 1 */
	uint32_t reserved;
};

struct hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};

struct hvm_memmap_table_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;           /* e820 types */
	uint32_t reserved;
};

#define PVH_MAX_SEGMENTS 16

/* A PT_LOAD segment: file bytes [offset, offset+filesz) go to paddr, zeros up to memsz. */
struct pvh_segment {
	uint64_t paddr;
	uint64_t offset;
	uint64_t filesz;
	uint64_t memsz;
};

struct pvh_kernel {
	struct pvh_segment seg[PVH_MAX_SEGMENTS];
	int nseg;
	uint32_t entry;          /* 32-bit physical entry point */
	uint64_t start, end;     /* lowest and highest (exclusive) loaded address */
};

/*
 * The vmlinux inside a bzImage (img, len; setup_size from bzimage_parse):
 * the setup header's payload must be an XZ stream, decompressed into a
 * malloc'ed buffer (*elf, *elf_len) that the caller frees.
 */
const char *pvh_extract_vmlinux(const uint8_t *img, size_t len, size_t setup_size, uint8_t **elf,
				size_t *elf_len);

/*
 * Parse an x86-64 ELF executable: its PT_LOAD segments (disjoint, from 1 MiB
 * to below the 32-bit PCI hole, inside the file) and the PVH entry note.
 */
const char *pvh_elf_parse(const uint8_t *elf, size_t len, struct pvh_kernel *k);

/*
 * The "Xen" note of type XEN_ELFNOTE_PHYS32_ENTRY in the note area
 * [notes, notes+len), entries padded to "align" bytes (4 or 8).
 * NULL and *entry set if found.
 */
const char *pvh_find_entry_note(const uint8_t *notes, size_t len, size_t align, uint32_t *entry);

/* Copy the segments into guest RAM; the caller checked k->end <= ctx->lowmem. */
void pvh_load_segments(struct vmctx *ctx, const uint8_t *elf, const struct pvh_kernel *k);

struct pvh_start {
	uint64_t cmdline_paddr;  /* 0: none */
	uint64_t initrd_paddr;   /* 0: no initrd */
	uint64_t initrd_size;
	uint64_t rsdp_paddr;     /* 0: none */
};

/*
 * Write hvm_start_info, the module list (the initrd as module 0, as Linux
 * expects) and the e820 memory map at their places in layout.h.
 * Returns the start info's guest address, or 0 if the memory map does not fit.
 */
uint64_t pvh_write_start_info(struct vmctx *ctx, const struct pvh_start *s);

/*
 * The guest-memory half of pvh_boot_load() (unit-testable without a vCPU):
 * kernel segments, initrd, command line, start info. Returns 0 with the entry
 * point and start info address set, -1 after printing an error, or 1 with
 * *why set when this kernel cannot boot the PVH way (guest memory untouched).
 */
int pvh_boot_place(struct vmctx *ctx, const struct linux_boot *lb, uint32_t *entry,
		   uint64_t *start_info, const char **why);

/* pvh_boot_place(), then vCPU 0 in 32-bit protected mode at the entry point. Same returns. */
int pvh_boot_load(struct vmctx *ctx, struct vcpu *bsp, const struct linux_boot *lb,
		  const char **why);

#endif
