/*
 * PVH direct boot: the bzImage's XZ payload is decompressed here, on the
 * host, into the vmlinux ELF, whose PT_LOAD segments go to their physical
 * addresses; vCPU 0 starts in 32-bit protected mode, paging off, at the
 * 32-bit entry point of the "Xen" note XEN_ELFNOTE_PHYS32_ENTRY, with EBX
 * pointing at struct hvm_start_info (Xen's docs/misc/pvh.pandoc, Linux's
 * arch/x86/platform/pvh/). The kernel file is user input: every offset and
 * size read from it is checked against the buffer it points into.
 *
 * The start info, module list and memory map sit in e820 RAM below 0x7000;
 * Linux copies the start info with its first instructions and reads the rest
 * before its allocator runs, and never hands out the first MiB anyway.
 */
#include "x86/pvh_boot.h"

#include <elf.h>
#include <errno.h>
#include <lzma.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "x86/kernel_cache.h"

#include "x86/e820.h"
#include "x86/layout.h"
#include "x86/le.h"

/* Setup header fields (boot protocol >= 2.08), relative to the boot sector. */
#define BP_PAYLOAD_OFFSET 0x248 /* from the start of the protected-mode code */
#define BP_PAYLOAD_LENGTH 0x24c

/* The kernel's XZ uses a 32 MiB dictionary; 128 MiB bounds a hostile stream. */
#define XZ_MEMLIMIT (128ull << 20)
/* A stripped vmlinux is tens of MiB; refuse to inflate a bogus payload without bound. */
#define VMLINUX_MAX ((size_t)1 << 30)
#define MAX_PHDRS 64
#define MAX_SHDRS 4096
/* Linux accepts at most 127 memory map entries (its zero page holds 128, it adds one). */
#define MEMMAP_MAX 64

#define NOTE_HEADER_SIZE 12 /* namesz, descsz, type */

#define CR0_PE 0x1ull
#define CR0_ET 0x10ull

/* The GDT khyve leaves for the kernel (which loads its own straight away). */
#define PVH_CODE_SEL 0x08
#define PVH_DATA_SEL 0x10
#define PVH_TSS_SEL 0x18
#define GDT_ENTRIES 4

_Static_assert(sizeof(struct hvm_start_info) == 56, "hvm_start_info layout");
_Static_assert(sizeof(struct hvm_modlist_entry) == 32, "hvm_modlist_entry layout");
_Static_assert(sizeof(struct hvm_memmap_table_entry) == 24, "hvm_memmap_table_entry layout");
_Static_assert(PVH_START_INFO_ADDR + sizeof(struct hvm_start_info) <= PVH_MODLIST_ADDR &&
		       PVH_MODLIST_ADDR + sizeof(struct hvm_modlist_entry) <= PVH_MEMMAP_ADDR &&
		       PVH_MEMMAP_ADDR + MEMMAP_MAX * sizeof(struct hvm_memmap_table_entry) <=
			       BOOT_ZERO_PAGE_ADDR,
	       "PVH boot data overlaps in layout.h");

static const char no_entry_note[] =
	"no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY): kernel built without CONFIG_PVH";

/* Is [off, off + size) inside a buffer of len bytes? Overflow-safe. */
static bool in_buffer(uint64_t off, uint64_t size, size_t len)
{
	return off <= len && size <= len - off;
}

static uint64_t align_up(uint64_t v, uint64_t align)
{
	return (v + align - 1) & ~(align - 1);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ---- The compressed payload ------------------------------------------------------ */

/* Why a payload that is not XZ cannot boot the PVH way (the guest can decompress it). */
static const char *not_xz_reason(const uint8_t *p, size_t len)
{
	static const struct {
		const char *magic;
		size_t len;
		const char *reason;
	} known[] = {
		{ "\x1f\x8b", 2, "kernel payload is gzip-compressed, not XZ" },
		{ "\x28\xb5\x2f\xfd", 4, "kernel payload is zstd-compressed, not XZ" },
		{ "\x02\x21\x4c\x18", 4, "kernel payload is LZ4-compressed, not XZ" },
		{ "BZh", 3, "kernel payload is bzip2-compressed, not XZ" },
		{ "\x89LZO", 4, "kernel payload is LZO-compressed, not XZ" },
		{ "\x7f" "ELF", 4, "kernel payload is uncompressed" },
	};

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (len >= known[i].len && memcmp(p, known[i].magic, known[i].len) == 0)
			return known[i].reason;
	return "kernel payload is not XZ-compressed";
}

/* The kernel build appends the uncompressed size (le32) to every compressed payload. */
static size_t output_size_hint(const uint8_t *payload, size_t len)
{
	size_t hint = get32(payload + len - 4);

	if (hint < len || hint > VMLINUX_MAX)
		hint = len < VMLINUX_MAX / 4 ? len * 4 : VMLINUX_MAX;
	/* Room past the exact size, so the decoder never stops just short of its footer. */
	return hint + 4096 < VMLINUX_MAX ? hint + 4096 : VMLINUX_MAX;
}

/* More output room for the decoder: the first buffer, or twice the last one. */
static const char *grow_output(lzma_stream *strm, uint8_t **buf, size_t *cap, size_t first)
{
	size_t used = (size_t)strm->total_out, size = *buf == NULL ? first : *cap * 2;
	uint8_t *nbuf;

	if (*buf != NULL && *cap >= VMLINUX_MAX)
		return "decompressed kernel is larger than 1 GiB";
	if (size > VMLINUX_MAX)
		size = VMLINUX_MAX;
	nbuf = realloc(*buf, size);
	if (nbuf == NULL)
		return "out of memory decompressing the kernel";
	*buf = nbuf;
	*cap = size;
	strm->next_out = nbuf + used;
	strm->avail_out = size - used;
	return NULL;
}

static const char *xz_error(lzma_ret ret)
{
	switch (ret) {
	case LZMA_MEMLIMIT_ERROR:
		return "kernel's XZ stream needs more than 128 MiB to decompress";
	case LZMA_MEM_ERROR:
		return "out of memory decompressing the kernel";
	case LZMA_OPTIONS_ERROR:
		return "kernel's XZ stream uses options or filters liblzma does not support";
	default:
		return "kernel's XZ stream is corrupt or truncated";
	}
}

/*
 * One plain .xz stream (the kernel's: LZMA2 with the x86 BCJ filter, CRC32),
 * which liblzma's stream decoder handles whole, checks included. What follows
 * the stream (the 4-byte size) is left alone: no LZMA_CONCATENATED.
 */
static const char *xz_decode(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len)
{
	lzma_stream strm = LZMA_STREAM_INIT;
	size_t cap = 0, first = output_size_hint(in, len);
	uint8_t *buf = NULL;
	const char *err = NULL;
	lzma_ret ret;

	ret = lzma_stream_decoder(&strm, XZ_MEMLIMIT, 0);
	if (ret != LZMA_OK)
		return xz_error(ret);
	strm.next_in = in;
	strm.avail_in = len;
	for (;;) {
		if (strm.avail_out == 0 && (err = grow_output(&strm, &buf, &cap, first)) != NULL)
			break;
		ret = lzma_code(&strm, LZMA_FINISH);
		if (ret == LZMA_STREAM_END)
			break;
		if (ret != LZMA_OK) {
			err = xz_error(ret);
			break;
		}
	}
	*out_len = (size_t)strm.total_out;
	lzma_end(&strm);
	if (err != NULL) {
		free(buf);
		return err;
	}
	*out = buf;
	return NULL;
}

const char *pvh_extract_vmlinux(const uint8_t *img, size_t len, size_t setup_size, uint8_t **elf,
				size_t *elf_len)
{
	static const uint8_t xz_magic[6] = { 0xfd, '7', 'z', 'X', 'Z', 0x00 };
	const uint8_t *payload;
	uint32_t off, plen;

	if (len < BP_PAYLOAD_LENGTH + 4 || setup_size > len)
		return "truncated bzImage setup header";
	off = get32(img + BP_PAYLOAD_OFFSET);
	plen = get32(img + BP_PAYLOAD_LENGTH);
	if (!in_buffer(off, plen, len - setup_size))
		return "setup header's payload lies outside the kernel file";
	payload = img + setup_size + off;
	if (plen < sizeof(xz_magic) || memcmp(payload, xz_magic, sizeof(xz_magic)) != 0)
		return not_xz_reason(payload, plen);
	return xz_decode(payload, plen, elf, elf_len);
}

/* ---- The vmlinux ELF ----------------------------------------------------------- */

static const char *check_ehdr(const uint8_t *elf, size_t len, Elf64_Ehdr *eh)
{
	if (len < sizeof(*eh))
		return "vmlinux: truncated ELF header";
	memcpy(eh, elf, sizeof(*eh));
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0)
		return "vmlinux: not an ELF file";
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh->e_machine != EM_X86_64 || eh->e_type != ET_EXEC)
		return "vmlinux: not an x86-64 ELF executable";
	if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0 || eh->e_phnum > MAX_PHDRS)
		return "vmlinux: bad program header table";
	if (!in_buffer(eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr), len))
		return "vmlinux: program header table beyond the end of the file";
	return NULL;
}

static Elf64_Phdr read_phdr(const uint8_t *elf, const Elf64_Ehdr *eh, unsigned int i)
{
	Elf64_Phdr ph;

	memcpy(&ph, elf + eh->e_phoff + (uint64_t)i * sizeof(ph), sizeof(ph));
	return ph;
}

static bool overlaps(const struct pvh_kernel *k, uint64_t start, uint64_t end)
{
	for (int i = 0; i < k->nseg; i++)
		if (start < k->seg[i].paddr + k->seg[i].memsz && k->seg[i].paddr < end)
			return true;
	return false;
}

/* One PT_LOAD: inside the file, between 1 MiB and the PCI hole, clear of the others. */
static const char *add_segment(struct pvh_kernel *k, const Elf64_Phdr *ph, size_t len)
{
	uint64_t end;

	if (ph->p_filesz > ph->p_memsz)
		return "vmlinux: PT_LOAD with more file bytes than memory bytes";
	if (!in_buffer(ph->p_offset, ph->p_filesz, len))
		return "vmlinux: PT_LOAD segment beyond the end of the file";
	/* Below 1 MiB are khyve's GDT, start info, command line, ACPI tables. */
	if (ph->p_paddr < KERNEL_LOAD_ADDR)
		return "vmlinux: PT_LOAD segment below 1 MiB";
	if (__builtin_add_overflow(ph->p_paddr, ph->p_memsz, &end) || end > VM_LOWMEM_LIMIT)
		return "vmlinux: PT_LOAD segment above the 32-bit PCI hole";
	if (k->nseg == PVH_MAX_SEGMENTS)
		return "vmlinux: too many PT_LOAD segments";
	if (overlaps(k, ph->p_paddr, end))
		return "vmlinux: overlapping PT_LOAD segments";
	k->seg[k->nseg++] = (struct pvh_segment){ ph->p_paddr, ph->p_offset, ph->p_filesz,
						  ph->p_memsz };
	if (k->nseg == 1 || ph->p_paddr < k->start)
		k->start = ph->p_paddr;
	if (end > k->end)
		k->end = end;
	return NULL;
}

static const char *parse_segments(const uint8_t *elf, size_t len, const Elf64_Ehdr *eh,
				  struct pvh_kernel *k)
{
	const char *err;

	for (unsigned int i = 0; i < eh->e_phnum; i++) {
		Elf64_Phdr ph = read_phdr(elf, eh, i);

		if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue;
		err = add_segment(k, &ph, len);
		if (err != NULL)
			return err;
	}
	return k->nseg ? NULL : "vmlinux: no PT_LOAD segment";
}

static const char *read_entry(const uint8_t *desc, uint32_t descsz, uint32_t *entry)
{
	uint64_t v;

	/* Linux emits the entry as a pointer-sized value (8 bytes on x86-64), the ABI says 4. */
	if (descsz == 4)
		v = get32(desc);
	else if (descsz == 8)
		v = get64(desc);
	else
		return "vmlinux: PVH entry note of bad size";
	if (v > UINT32_MAX)
		return "vmlinux: PVH entry point above 4 GiB";
	*entry = (uint32_t)v;
	return NULL;
}

const char *pvh_find_entry_note(const uint8_t *notes, size_t len, size_t align, uint32_t *entry)
{
	static const char xen[4] = "Xen"; /* with its NUL, as namesz counts it */
	uint64_t pos = 0;

	if (align != 8)
		align = 4;
	while (len - pos >= NOTE_HEADER_SIZE) {
		uint32_t namesz = get32(notes + pos), descsz = get32(notes + pos + 4);
		uint32_t type = get32(notes + pos + 8);
		uint64_t name = pos + NOTE_HEADER_SIZE, desc = name + align_up(namesz, align);

		if (!in_buffer(desc, descsz, len))
			return "vmlinux: malformed ELF note (sizes beyond the note area)";
		if (type == XEN_ELFNOTE_PHYS32_ENTRY && namesz == sizeof(xen) &&
		    memcmp(notes + name, xen, sizeof(xen)) == 0)
			return read_entry(notes + desc, descsz, entry);
		pos = desc + align_up(descsz, align);
		if (pos >= len)
			break;
	}
	return no_entry_note;
}

/* The entry note in the PT_NOTE segments; NULL, no_entry_note, or a malformed-file reason. */
static const char *entry_from_phdrs(const uint8_t *elf, size_t len, const Elf64_Ehdr *eh,
				    uint32_t *entry)
{
	for (unsigned int i = 0; i < eh->e_phnum; i++) {
		Elf64_Phdr ph = read_phdr(elf, eh, i);
		const char *err;

		if (ph.p_type != PT_NOTE)
			continue;
		if (!in_buffer(ph.p_offset, ph.p_filesz, len))
			return "vmlinux: PT_NOTE beyond the end of the file";
		err = pvh_find_entry_note(elf + ph.p_offset, ph.p_filesz, ph.p_align == 8 ? 8 : 4,
					  entry);
		if (err != no_entry_note)
			return err;
	}
	return no_entry_note;
}

/* The same in SHT_NOTE sections, for files whose notes have no PT_NOTE. */
static const char *entry_from_sections(const uint8_t *elf, size_t len, const Elf64_Ehdr *eh,
				       uint32_t *entry)
{
	if (eh->e_shoff == 0 || eh->e_shnum == 0)
		return no_entry_note;
	if (eh->e_shentsize != sizeof(Elf64_Shdr) || eh->e_shnum > MAX_SHDRS ||
	    !in_buffer(eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr), len))
		return "vmlinux: bad section header table";
	for (unsigned int i = 0; i < eh->e_shnum; i++) {
		Elf64_Shdr sh;
		const char *err;

		memcpy(&sh, elf + eh->e_shoff + (uint64_t)i * sizeof(sh), sizeof(sh));
		if (sh.sh_type != SHT_NOTE)
			continue;
		if (!in_buffer(sh.sh_offset, sh.sh_size, len))
			return "vmlinux: SHT_NOTE section beyond the end of the file";
		err = pvh_find_entry_note(elf + sh.sh_offset, sh.sh_size,
					  sh.sh_addralign == 8 ? 8 : 4, entry);
		if (err != no_entry_note)
			return err;
	}
	return no_entry_note;
}

/* The entry must be kernel code khyve loads from the file. */
static bool entry_in_segments(const struct pvh_kernel *k)
{
	for (int i = 0; i < k->nseg; i++)
		if (k->entry >= k->seg[i].paddr && k->entry - k->seg[i].paddr < k->seg[i].filesz)
			return true;
	return false;
}

const char *pvh_elf_parse(const uint8_t *elf, size_t len, struct pvh_kernel *k)
{
	Elf64_Ehdr eh;
	const char *err;

	memset(k, 0, sizeof(*k));
	err = check_ehdr(elf, len, &eh);
	if (err == NULL)
		err = parse_segments(elf, len, &eh, k);
	if (err == NULL)
		err = entry_from_phdrs(elf, len, &eh, &k->entry);
	if (err == no_entry_note)
		err = entry_from_sections(elf, len, &eh, &k->entry);
	if (err == NULL && !entry_in_segments(k))
		err = "vmlinux: PVH entry point outside the loaded segments";
	return err;
}

/* ---- Guest memory ---------------------------------------------------------------- */

void pvh_load_segments(struct vmctx *ctx, const uint8_t *elf, const struct pvh_kernel *k)
{
	for (int i = 0; i < k->nseg; i++) {
		const struct pvh_segment *s = &k->seg[i];
		uint8_t *dst = vm_map_gpa(ctx, s->paddr, s->memsz);

		memcpy(dst, elf + s->offset, s->filesz);
		memset(dst + s->filesz, 0, s->memsz - s->filesz);
	}
}

uint64_t pvh_write_start_info(struct vmctx *ctx, const struct pvh_start *s)
{
	struct e820_entry map[MEMMAP_MAX];
	struct hvm_memmap_table_entry *memmap;
	struct hvm_start_info si = {
		.magic = XEN_HVM_START_MAGIC,
		.version = 1,
		.cmdline_paddr = s->cmdline_paddr,
		.rsdp_paddr = s->rsdp_paddr,
		.memmap_paddr = PVH_MEMMAP_ADDR,
	};
	int n = e820_build(ctx->lowmem, ctx->highmem, map, MEMMAP_MAX);

	if (n < 0)
		return 0;
	memmap = vm_map_gpa(ctx, PVH_MEMMAP_ADDR, (uint64_t)n * sizeof(*memmap));
	for (int i = 0; i < n; i++)
		memmap[i] = (struct hvm_memmap_table_entry){ map[i].addr, map[i].size, map[i].type, 0 };
	si.memmap_entries = (uint32_t)n;
	if (s->initrd_size != 0) {
		struct hvm_modlist_entry mod = { .paddr = s->initrd_paddr, .size = s->initrd_size };

		memcpy(vm_map_gpa(ctx, PVH_MODLIST_ADDR, sizeof(mod)), &mod, sizeof(mod));
		si.nr_modules = 1;
		si.modlist_paddr = PVH_MODLIST_ADDR;
	}
	memcpy(vm_map_gpa(ctx, PVH_START_INFO_ADDR, sizeof(si)), &si, sizeof(si));
	return PVH_START_INFO_ADDR;
}

static void write_gdt(struct vmctx *ctx)
{
	uint64_t *gdt = vm_map_gpa(ctx, BOOT_GDT_ADDR, GDT_ENTRIES * sizeof(uint64_t));

	gdt[0] = 0;
	gdt[1] = 0x00cf9b000000ffffull; /* 0x08: flat 32-bit code */
	gdt[2] = 0x00cf93000000ffffull; /* 0x10: flat data */
	gdt[3] = 0x00008b0000000067ull; /* 0x18: busy 32-bit TSS, base 0, limit 0x67 */
}

/* Kernel, initrd, command line, start info: guest memory is written only from here on. */
static int place_kernel(struct vmctx *ctx, const struct linux_boot *lb,
			const struct bzimage_info *info, const uint8_t *elf,
			const struct pvh_kernel *k, uint64_t *start_info)
{
	struct pvh_start s = { .cmdline_paddr = BOOT_CMDLINE_ADDR, .rsdp_paddr = lb->rsdp_addr };

	pvh_load_segments(ctx, elf, k);
	if (lb->initrd != NULL && linux_boot_load_initrd(ctx, lb->initrd, k->end, info,
							 &s.initrd_paddr, &s.initrd_size) < 0)
		return -1;
	if (linux_boot_write_cmdline(ctx, lb->cmdline, info) < 0)
		return -1;
	*start_info = pvh_write_start_info(ctx, &s);
	if (*start_info == 0) {
		fprintf(stderr, "khyve: guest memory too small for a Linux boot\n");
		return -1;
	}
	write_gdt(ctx);
	return 0;
}

/*
 * The vmlinux for the kernel in img, parsed into k: from the kernel cache
 * (a read-only mapping, *mapped set) or decompressed (*elf, malloc'ed).
 * NULL, or why it cannot boot the PVH way.
 */
static const char *prepare_kernel(struct vmctx *ctx, const struct linux_boot *lb,
				  const uint8_t *img, size_t len, struct bzimage_info *info,
				  uint8_t **elf, const uint8_t **mapped, size_t *mapped_len,
				  struct pvh_kernel *k)
{
	size_t elf_len;
	const char *why = bzimage_parse(img, len, info);

	if (why != NULL)
		return why;
	*mapped = lb->kernel_cache ? kernel_cache_lookup(lb->kernel, mapped_len) : NULL;
	if (*mapped != NULL && pvh_elf_parse(*mapped, *mapped_len, k) != NULL) {
		/* A damaged cache entry: decompress again (and overwrite it). */
		kernel_cache_release(*mapped, *mapped_len);
		*mapped = NULL;
	}
	if (*mapped == NULL) {
		why = pvh_extract_vmlinux(img, len, info->setup_size, elf, &elf_len);
		if (why == NULL)
			why = pvh_elf_parse(*elf, elf_len, k);
		if (why == NULL && lb->kernel_cache)
			kernel_cache_store(lb->kernel, *elf, elf_len);
	}
	if (why == NULL && k->end > ctx->lowmem)
		why = "vmlinux does not fit in guest RAM below the PCI hole";
	return why;
}

int pvh_boot_place(struct vmctx *ctx, const struct linux_boot *lb, uint32_t *entry,
		   uint64_t *start_info, const char **why)
{
	struct bzimage_info info;
	struct pvh_kernel k;
	uint8_t *img, *elf = NULL;
	size_t len;
	double t0 = now_ms();
	const uint8_t *mapped = NULL;
	size_t mapped_len = 0;
	int rc = 1;

	img = linux_boot_read_file(lb->kernel, &len);
	if (img == NULL) {
		fprintf(stderr, "khyve: boot.kernel: %s: %s\n", lb->kernel, strerror(errno));
		return -1;
	}
	*why = prepare_kernel(ctx, lb, img, len, &info, &elf, &mapped, &mapped_len, &k);
	if (*why == NULL) {
		if (lb->trace)
			fprintf(stderr, "khyve: boot: PVH entry 0x%x (vmlinux %s in %.0f ms)\n",
				k.entry, mapped ? "from the kernel cache" :
				"decompressed from the XZ payload on the host", now_ms() - t0);
		rc = place_kernel(ctx, lb, &info, mapped ? mapped : elf, &k, start_info);
		*entry = k.entry;
	}
	kernel_cache_release(mapped, mapped_len);
	free(elf);
	free(img);
	return rc;
}

static struct kvm_segment flat32(uint16_t selector, uint8_t type)
{
	return (struct kvm_segment){
		.base = 0,
		.limit = 0xffffffff,
		.selector = selector,
		.type = type,
		.present = 1,
		.s = 1,
		.db = 1,
		.g = 1,
	};
}

/* The PVH ABI's initial state: flat 32-bit protected mode, no paging, EBX = start info. */
static int setup_bsp(struct vcpu *bsp, uint32_t entry, uint64_t start_info)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs = { .rip = entry, .rbx = start_info, .rflags = 0x2 };
	struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };

	if (vm_vcpu_get_sregs(bsp, &sregs) < 0)
		return -1;
	sregs.cs = flat32(PVH_CODE_SEL, 0xb);
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = flat32(PVH_DATA_SEL, 0x3);
	/* KVM (VMX) refuses to enter a guest without a usable, busy TSS. */
	sregs.tr = (struct kvm_segment){
		.limit = 0x67, .selector = PVH_TSS_SEL, .type = 0xb, .present = 1,
	};
	sregs.gdt.base = BOOT_GDT_ADDR;
	sregs.gdt.limit = GDT_ENTRIES * sizeof(uint64_t) - 1;
	/* Everything else cleared, caching (CD, NW) included. */
	sregs.cr0 = CR0_PE | CR0_ET;
	sregs.cr3 = 0;
	sregs.cr4 = 0;
	sregs.efer = 0;
	if (vm_vcpu_set_sregs(bsp, &sregs) < 0 || vm_vcpu_set_regs(bsp, &regs) < 0)
		return -1;
	return vm_vcpu_set_fpu(bsp, &fpu);
}

int pvh_boot_load(struct vmctx *ctx, struct vcpu *bsp, const struct linux_boot *lb,
		  const char **why)
{
	uint32_t entry;
	uint64_t start_info;
	int rc = pvh_boot_place(ctx, lb, &entry, &start_info, why);

	if (rc != 0)
		return rc;
	if (setup_bsp(bsp, entry, start_info) < 0) {
		fprintf(stderr, "khyve: cannot set up the boot vCPU: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}
