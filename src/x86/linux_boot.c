/*
 * The Linux/x86 boot protocol (Documentation/arch/x86/boot.rst), 64-bit entry:
 * the protected-mode kernel is loaded at 1 MiB and entered at +0x200 in long
 * mode with identity-mapped paging, RSI pointing at the zero page
 * (struct boot_params), interrupts off.
 */
#include "x86/linux_boot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "x86/e820.h"
#include "x86/le.h"
#include "x86/layout.h"
#include "x86/pvh_boot.h"

/* Offsets into the boot sector / zero page (struct boot_params). */
#define BP_ACPI_RSDP_ADDR 0x070
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE 0x0c4
#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_E820_ENTRIES 0x1e8
#define BP_SETUP_HEADER 0x1f1
#define BP_SETUP_SECTS 0x1f1
#define BP_VID_MODE 0x1fa
#define BP_BOOT_FLAG 0x1fe
#define BP_JUMP 0x200
#define BP_HEADER_MAGIC 0x202
#define BP_VERSION 0x206
#define BP_TYPE_OF_LOADER 0x210
#define BP_LOADFLAGS 0x211
#define BP_RAMDISK_IMAGE 0x218
#define BP_RAMDISK_SIZE 0x21c
#define BP_HEAP_END_PTR 0x224
#define BP_CMD_LINE_PTR 0x228
#define BP_INITRD_ADDR_MAX 0x22c
#define BP_KERNEL_ALIGNMENT 0x230
#define BP_RELOCATABLE_KERNEL 0x234
#define BP_XLOADFLAGS 0x236
#define BP_CMDLINE_SIZE 0x238
#define BP_PREF_ADDRESS 0x258
#define BP_INIT_SIZE 0x260
#define BP_E820_TABLE 0x2d0
#define BP_E820_MAX 128
#define BOOT_PARAMS_SIZE 0x1000

#define LOADFLAG_CAN_USE_HEAP 0x80
#define XLF_KERNEL_64 0x1
#define LOADER_TYPE_UNDEFINED 0xff
#define ENTRY_64_OFFSET 0x200

#define CR0_PE 0x1ull
#define CR0_ET 0x10ull
#define CR0_PG 0x80000000ull
#define CR4_PAE 0x20ull
#define EFER_LME 0x100ull
#define EFER_LMA 0x400ull
#define PTE_PRESENT 0x1ull
#define PTE_RW 0x2ull
#define PTE_PS 0x80ull

#define GDT_CODE_SEL 0x10
#define GDT_DATA_SEL 0x18

/*
 * The kernel's runtime start address (boot.rst, "init_size"): a relocatable
 * kernel loaded below pref_address moves up to it (the 64-bit entry does so
 * before decompressing), aligned to kernel_alignment; any other runs at
 * pref_address. init_size counts from there, not from the 1 MiB load address.
 */
static uint64_t runtime_start(const uint8_t *img)
{
	uint64_t start = get64(img + BP_PREF_ADDRESS);
	uint64_t align = get32(img + BP_KERNEL_ALIGNMENT);

	if (img[BP_RELOCATABLE_KERNEL]) {
		if (start < KERNEL_LOAD_ADDR)
			start = KERNEL_LOAD_ADDR;
		if (align != 0 && (align & (align - 1)) == 0 && start <= UINT64_MAX - align)
			start = (start + align - 1) & ~(align - 1);
	}
	return start < KERNEL_LOAD_ADDR ? KERNEL_LOAD_ADDR : start;
}

const char *bzimage_parse(const uint8_t *img, size_t len, struct bzimage_info *info)
{
	unsigned int setup_sects;

	if (len < BOOT_PARAMS_SIZE || get16(img + BP_BOOT_FLAG) != 0xaa55 ||
	    memcmp(img + BP_HEADER_MAGIC, "HdrS", 4) != 0)
		return "not a Linux bzImage (no boot sector / HdrS header)";
	info->version = get16(img + BP_VERSION);
	if (info->version < 0x020c)
		return "boot protocol older than 2.12: the kernel has no 64-bit entry point";
	info->xloadflags = get16(img + BP_XLOADFLAGS);
	if (!(info->xloadflags & XLF_KERNEL_64))
		return "not a 64-bit kernel (XLF_KERNEL_64 missing)";
	setup_sects = img[BP_SETUP_SECTS] ? img[BP_SETUP_SECTS] : 4;
	info->setup_size = (size_t)(setup_sects + 1) * 512;
	if (info->setup_size >= len)
		return "truncated bzImage (setup larger than the file)";
	info->payload_size = len - info->setup_size;
	info->init_size = get32(img + BP_INIT_SIZE);
	info->initrd_addr_max = get32(img + BP_INITRD_ADDR_MAX);
	info->cmdline_size = get32(img + BP_CMDLINE_SIZE);
	if (info->init_size < info->payload_size)
		info->init_size = (uint32_t)info->payload_size;
	info->runtime_start = runtime_start(img);
	return NULL;
}

/* Read a whole file (the kernel: a few MiB). */
uint8_t *linux_boot_read_file(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *buf = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0)
		goto out;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		goto out;
	}
	buf = malloc((size_t)st.st_size ? (size_t)st.st_size : 1);
	if (buf == NULL)
		goto out;
	if (pread(fd, buf, (size_t)st.st_size, 0) != st.st_size) {
		free(buf);
		buf = NULL;
		errno = EIO;
		goto out;
	}
	*len = (size_t)st.st_size;
out:
	if (fd >= 0)
		close(fd);
	return buf;
}

int linux_boot_load_initrd(struct vmctx *ctx, const char *path, uint64_t kernel_end,
			   const struct bzimage_info *info, uint64_t *addr, uint64_t *size)
{
	struct stat st;
	uint64_t limit, gpa;
	void *dst;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "khyve: boot.initrd: %s: %s\n", path, strerror(errno));
		goto fail;
	}
	/* Highest page-aligned spot the kernel accepts, below the PCI hole. */
	limit = ctx->lowmem;
	if (info->initrd_addr_max && (uint64_t)info->initrd_addr_max + 1 < limit)
		limit = (uint64_t)info->initrd_addr_max + 1;
	/* Rounded down to a page, it must still stay clear of the kernel. */
	if ((uint64_t)st.st_size > limit ||
	    ((limit - (uint64_t)st.st_size) & ~0xfffull) < kernel_end) {
		fprintf(stderr, "khyve: boot.initrd: %s (%lld MiB) does not fit in guest memory "
			"with the kernel: give the guest more memory (-m)\n", path,
			(long long)(st.st_size >> 20));
		goto fail;
	}
	gpa = (limit - (uint64_t)st.st_size) & ~0xfffull;
	dst = vm_map_gpa(ctx, gpa, (uint64_t)st.st_size);
	if (dst == NULL || pread(fd, dst, (size_t)st.st_size, 0) != st.st_size) {
		fprintf(stderr, "khyve: boot.initrd: %s: read failed\n", path);
		goto fail;
	}
	close(fd);
	*addr = gpa;
	*size = (uint64_t)st.st_size;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	return -1;
}

int linux_boot_write_cmdline(struct vmctx *ctx, const char *cmdline,
			     const struct bzimage_info *info)
{
	size_t len = cmdline ? strlen(cmdline) : 0;
	size_t max = info->cmdline_size ? info->cmdline_size : 255;
	char *dst = vm_map_gpa(ctx, BOOT_CMDLINE_ADDR, BOOT_CMDLINE_MAX);

	if (len > max || len >= BOOT_CMDLINE_MAX) {
		fprintf(stderr, "khyve: boot.cmdline is %zu bytes; this kernel accepts at most %zu\n",
			len, max);
		return -1;
	}
	memset(dst, 0, len + 1);
	if (len)
		memcpy(dst, cmdline, len);
	return 0;
}

static int write_zero_page(struct vmctx *ctx, const uint8_t *img, uint64_t initrd_addr,
			   uint64_t initrd_size, uint64_t rsdp)
{
	uint8_t *bp = vm_map_gpa(ctx, BOOT_ZERO_PAGE_ADDR, BOOT_PARAMS_SIZE);
	size_t hdr_end = BP_JUMP + 2 + img[BP_JUMP + 1];
	struct e820_entry map[BP_E820_MAX];
	int n = e820_build(ctx->lowmem, ctx->highmem, map, BP_E820_MAX);

	if (n < 0) {
		fprintf(stderr, "khyve: guest memory too small for a Linux boot\n");
		return -1;
	}
	memset(bp, 0, BOOT_PARAMS_SIZE);
	if (hdr_end > BOOT_PARAMS_SIZE)
		hdr_end = BOOT_PARAMS_SIZE;
	memcpy(bp + BP_SETUP_HEADER, img + BP_SETUP_HEADER, hdr_end - BP_SETUP_HEADER);
	put16(bp + BP_VID_MODE, 0xffff);
	bp[BP_TYPE_OF_LOADER] = LOADER_TYPE_UNDEFINED;
	bp[BP_LOADFLAGS] |= LOADFLAG_CAN_USE_HEAP;
	put16(bp + BP_HEAP_END_PTR, 0xfe00);
	put32(bp + BP_CMD_LINE_PTR, (uint32_t)BOOT_CMDLINE_ADDR);
	put32(bp + BP_EXT_CMD_LINE_PTR, 0);
	put32(bp + BP_RAMDISK_IMAGE, (uint32_t)initrd_addr);
	put32(bp + BP_RAMDISK_SIZE, (uint32_t)initrd_size);
	put32(bp + BP_EXT_RAMDISK_IMAGE, (uint32_t)(initrd_addr >> 32));
	put32(bp + BP_EXT_RAMDISK_SIZE, (uint32_t)(initrd_size >> 32));
	put64(bp + BP_ACPI_RSDP_ADDR, rsdp);
	bp[BP_E820_ENTRIES] = (uint8_t)n;
	memcpy(bp + BP_E820_TABLE, map, (size_t)n * sizeof(map[0]));
	return 0;
}

/* Identity-map the first 4 GiB with 2 MiB pages: enough for the kernel's early code. */
static void write_page_tables(struct vmctx *ctx)
{
	uint64_t *pml4 = vm_map_gpa(ctx, BOOT_PML4_ADDR, 4096);
	uint64_t *pdpt = vm_map_gpa(ctx, BOOT_PDPT_ADDR, 4096);
	uint64_t *pd = vm_map_gpa(ctx, BOOT_PD_ADDR, 4 * 4096);

	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	pml4[0] = BOOT_PDPT_ADDR | PTE_PRESENT | PTE_RW;
	for (int i = 0; i < 4; i++)
		pdpt[i] = (BOOT_PD_ADDR + (uint64_t)i * 4096) | PTE_PRESENT | PTE_RW;
	for (uint64_t i = 0; i < 4 * 512; i++)
		pd[i] = (i << 21) | PTE_PRESENT | PTE_RW | PTE_PS;
}

static void write_gdt(struct vmctx *ctx)
{
	uint64_t *gdt = vm_map_gpa(ctx, BOOT_GDT_ADDR, 4 * sizeof(uint64_t));

	gdt[0] = 0;
	gdt[1] = 0;
	gdt[2] = 0x00af9b000000ffffull; /* 0x10: 64-bit code, present, DPL 0 */
	gdt[3] = 0x00cf93000000ffffull; /* 0x18: flat data */
}

static struct kvm_segment flat_segment(uint16_t selector, bool code)
{
	return (struct kvm_segment){
		.base = 0,
		.limit = 0xffffffff,
		.selector = selector,
		.type = code ? 0xb : 0x3,
		.present = 1,
		.dpl = 0,
		.db = code ? 0 : 1,
		.s = 1,
		.l = code ? 1 : 0,
		.g = 1,
	};
}

static int setup_bsp(struct vcpu *bsp, uint64_t entry)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs = { .rip = entry, .rsi = BOOT_ZERO_PAGE_ADDR, .rflags = 0x2 };
	struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };

	if (vm_vcpu_get_sregs(bsp, &sregs) < 0)
		return -1;
	sregs.cs = flat_segment(GDT_CODE_SEL, true);
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = flat_segment(GDT_DATA_SEL, false);
	sregs.gdt.base = BOOT_GDT_ADDR;
	sregs.gdt.limit = 4 * sizeof(uint64_t) - 1;
	sregs.cr3 = BOOT_PML4_ADDR;
	sregs.cr4 |= CR4_PAE;
	sregs.cr0 |= CR0_PE | CR0_PG | CR0_ET;
	sregs.efer |= EFER_LME | EFER_LMA;
	if (vm_vcpu_set_sregs(bsp, &sregs) < 0 || vm_vcpu_set_regs(bsp, &regs) < 0)
		return -1;
	return vm_vcpu_set_fpu(bsp, &fpu);
}

int linux_boot_place(struct vmctx *ctx, const struct linux_boot *lb, uint64_t *entry)
{
	struct bzimage_info info;
	uint64_t initrd_addr = 0, initrd_size = 0, kernel_end;
	size_t len;
	const char *err;
	uint8_t *img = linux_boot_read_file(lb->kernel, &len), *dst;
	int rc = -1;

	if (img == NULL) {
		fprintf(stderr, "khyve: boot.kernel: %s: %s\n", lb->kernel, strerror(errno));
		return -1;
	}
	err = bzimage_parse(img, len, &info);
	if (err != NULL) {
		fprintf(stderr, "khyve: boot.kernel: %s: %s\n", lb->kernel, err);
		goto out;
	}
	/* Loaded at 1 MiB; it then needs init_size bytes from its runtime start. */
	if (__builtin_add_overflow(info.runtime_start, info.init_size, &kernel_end))
		kernel_end = UINT64_MAX;
	dst = vm_map_gpa(ctx, KERNEL_LOAD_ADDR, info.payload_size);
	if (dst == NULL || kernel_end > ctx->lowmem) {
		fprintf(stderr, "khyve: boot.kernel: %s needs %llu MiB to start; give the guest more "
			"memory (-m)\n", lb->kernel, (unsigned long long)(kernel_end >> 20) +
			((kernel_end & 0xfffff) != 0));
		goto out;
	}
	memcpy(dst, img + info.setup_size, info.payload_size);
	if (lb->initrd != NULL &&
	    linux_boot_load_initrd(ctx, lb->initrd, kernel_end, &info, &initrd_addr,
				   &initrd_size) < 0)
		goto out;
	if (linux_boot_write_cmdline(ctx, lb->cmdline, &info) < 0 ||
	    write_zero_page(ctx, img, initrd_addr, initrd_size, lb->rsdp_addr) < 0)
		goto out;
	write_page_tables(ctx);
	write_gdt(ctx);
	*entry = KERNEL_LOAD_ADDR + ENTRY_64_OFFSET;
	rc = 0;
out:
	free(img);
	return rc;
}

int linux_boot_load(struct vmctx *ctx, struct vcpu *bsp, const struct linux_boot *lb)
{
	const char *why = "boot.pvh is false";
	uint64_t entry;

	/* PVH first when allowed: > 0 means this kernel cannot boot that way. */
	if (lb->pvh) {
		int rc = pvh_boot_load(ctx, bsp, lb, &why);

		if (rc <= 0)
			return rc;
	}
	if (lb->trace)
		fprintf(stderr, "khyve: boot: bzImage protocol (%s)\n", why);
	if (linux_boot_place(ctx, lb, &entry) < 0)
		return -1;
	if (setup_bsp(bsp, entry) < 0) {
		fprintf(stderr, "khyve: cannot set up the boot vCPU: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}
