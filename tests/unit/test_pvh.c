/*
 * PVH direct boot (src/x86/pvh_boot.c): the vmlinux ELF parser on synthetic
 * files, well-formed and broken in every way a kernel file can be (it is user
 * input), the "Xen" entry note lookup, XZ extraction from a synthetic bzImage
 * (plain and with the x86 BCJ filter, as the kernel builds it), the start info
 * a guest finds in memory, and segment loading into a fake vmctx. When the
 * test bed fetched a real Debian kernel (.cache/guest/current or
 * $GUEST_KERNEL), it is decompressed, parsed and placed too; else skipped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <elf.h>
#include <fcntl.h>
#include <lzma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/vmmapi.h"
#include "x86/acpi.h"
#include "x86/e820.h"
#include "x86/layout.h"
#include "x86/linux_boot.h"
#include "x86/pvh_boot.h"

#define MiB (1024ull * 1024)
#define REAL_KERNEL (getenv("GUEST_KERNEL") ?: ".cache/guest/current/vmlinuz")
#define REAL_INITRD (getenv("GUEST_INITRD") ?: ".cache/guest/current/initrd.img")

/* ---- Helpers --------------------------------------------------------------- */

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

/* Append one note (4-byte padding, as Linux emits them) at p; returns its size. */
static size_t put_note(uint8_t *p, const char *name, uint32_t type, const void *desc,
		       uint32_t descsz)
{
	uint32_t namesz = (uint32_t)strlen(name) + 1;
	size_t name_pad = (namesz + 3) & ~3u, desc_pad = (descsz + 3) & ~3u;

	put32(p, namesz);
	put32(p + 4, descsz);
	put32(p + 8, type);
	memset(p + 12, 0, name_pad + desc_pad);
	memcpy(p + 12, name, namesz);
	memcpy(p + 12 + name_pad, desc, descsz);
	return 12 + name_pad + desc_pad;
}

/*
 * A small vmlinux lookalike: ELF header, 4 program headers (text at 16 MiB,
 * data + bss at 18 MiB, a PT_NOTE, a PT_NULL spare), a section header table
 * with one SHT_NOTE over the same notes, then the notes and segment bytes.
 */
#define ELF_LEN 0x3000
#define PH_TEXT 0
#define PH_DATA 1
#define PH_NOTE 2
#define PH_SPARE 3
#define NPHDRS 4
#define SH_OFF 0x400
#define NOTES_OFF 0x800
#define TEXT_OFF 0x1000
#define DATA_OFF 0x2000
#define TEXT_PADDR (16 * MiB)
#define DATA_PADDR (18 * MiB)
#define ENTRY (TEXT_PADDR + 0x40)

struct elf_file {
	uint8_t b[ELF_LEN];
	size_t notes_len;
};

static Elf64_Ehdr *ehdr(struct elf_file *f)
{
	return (Elf64_Ehdr *)f->b;
}

static Elf64_Phdr *phdr(struct elf_file *f, int i)
{
	return (Elf64_Phdr *)(f->b + sizeof(Elf64_Ehdr)) + i;
}

static Elf64_Shdr *shdr(struct elf_file *f, int i)
{
	return (Elf64_Shdr *)(f->b + SH_OFF) + i;
}

static void make_elf(struct elf_file *f)
{
	uint8_t entry[8];
	Elf64_Ehdr *eh = ehdr(f);

	memset(f, 0, sizeof(*f));
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_entry = TEXT_PADDR;
	eh->e_phoff = sizeof(Elf64_Ehdr);
	eh->e_ehsize = sizeof(Elf64_Ehdr);
	eh->e_phentsize = sizeof(Elf64_Phdr);
	eh->e_phnum = NPHDRS;
	eh->e_shoff = SH_OFF;
	eh->e_shentsize = sizeof(Elf64_Shdr);
	eh->e_shnum = 2;

	/* Other Xen notes first, as in Linux, then the 8-byte entry note. */
	put64(entry, ENTRY);
	f->notes_len = put_note(f->b + NOTES_OFF, "Xen", 6, "linux", 6);
	f->notes_len += put_note(f->b + NOTES_OFF + f->notes_len, "GNU", 3, "abcdefgh", 8);
	f->notes_len += put_note(f->b + NOTES_OFF + f->notes_len, "Xen",
				 XEN_ELFNOTE_PHYS32_ENTRY, entry, 8);

	*phdr(f, PH_TEXT) = (Elf64_Phdr){ .p_type = PT_LOAD, .p_offset = TEXT_OFF,
					  .p_vaddr = 0xffffffff81000000ull, .p_paddr = TEXT_PADDR,
					  .p_filesz = 0x1000, .p_memsz = 0x1000, .p_align = 0x1000 };
	*phdr(f, PH_DATA) = (Elf64_Phdr){ .p_type = PT_LOAD, .p_offset = DATA_OFF,
					  .p_paddr = DATA_PADDR, .p_filesz = 0x800,
					  .p_memsz = 0x3000, .p_align = 0x1000 };
	*phdr(f, PH_NOTE) = (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = NOTES_OFF,
					  .p_filesz = f->notes_len, .p_memsz = f->notes_len,
					  .p_align = 4 };
	*shdr(f, 1) = (Elf64_Shdr){ .sh_type = SHT_NOTE, .sh_offset = NOTES_OFF,
				    .sh_size = f->notes_len, .sh_addralign = 4 };
	memset(f->b + TEXT_OFF, 0x90, 0x1000);
	memset(f->b + DATA_OFF, 0x5a, 0x800);
}

static void expect_parse_error(struct elf_file *f, size_t len, const char *needle)
{
	struct pvh_kernel k;
	const char *err = pvh_elf_parse(f->b, len, &k);

	assert_non_null(err);
	if (strstr(err, needle) == NULL)
		fail_msg("expected an error with \"%s\", got \"%s\"", needle, err);
}

static uint8_t *slurp(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return NULL;
	assert_int_equal(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size);
	assert_non_null(buf);
	assert_int_equal(read(fd, buf, (size_t)st.st_size), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

static void fake_vm(struct vmctx *ctx, uint64_t lowmem)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->kvm_fd = ctx->vm_fd = -1;
	ctx->lowmem = lowmem;
	ctx->ram_map_len = lowmem;
	ctx->ram = calloc(1, lowmem);
	assert_non_null(ctx->ram);
}

/* ---- The ELF parser ------------------------------------------------------------- */

static void test_elf_good(void **state)
{
	struct elf_file f;
	struct pvh_kernel k;

	make_elf(&f);
	assert_null(pvh_elf_parse(f.b, ELF_LEN, &k));
	assert_int_equal(k.nseg, 2);
	assert_int_equal(k.entry, ENTRY);
	assert_int_equal(k.start, TEXT_PADDR);
	assert_int_equal(k.end, DATA_PADDR + 0x3000);
	assert_int_equal(k.seg[1].offset, DATA_OFF);
	assert_int_equal(k.seg[1].filesz, 0x800);
	assert_int_equal(k.seg[1].memsz, 0x3000);
}

static void test_elf_truncated_header(void **state)
{
	struct elf_file f;

	make_elf(&f);
	expect_parse_error(&f, 0, "truncated ELF header");
	expect_parse_error(&f, sizeof(Elf64_Ehdr) - 1, "truncated ELF header");
	/* Header complete, program headers cut off. */
	expect_parse_error(&f, sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr), "beyond the end");
}

static void test_elf_not_x86_64(void **state)
{
	struct elf_file f;

	make_elf(&f);
	f.b[0] = 'X';
	expect_parse_error(&f, ELF_LEN, "not an ELF file");
	make_elf(&f);
	ehdr(&f)->e_ident[EI_CLASS] = ELFCLASS32;
	expect_parse_error(&f, ELF_LEN, "not an x86-64 ELF");
	make_elf(&f);
	ehdr(&f)->e_machine = EM_AARCH64;
	expect_parse_error(&f, ELF_LEN, "not an x86-64 ELF");
	make_elf(&f);
	ehdr(&f)->e_type = ET_REL;
	expect_parse_error(&f, ELF_LEN, "not an x86-64 ELF");
}

static void test_elf_phdr_table_out_of_bounds(void **state)
{
	struct elf_file f;

	make_elf(&f);
	ehdr(&f)->e_phoff = ELF_LEN - 100;
	expect_parse_error(&f, ELF_LEN, "beyond the end of the file");
	make_elf(&f);
	ehdr(&f)->e_phoff = UINT64_MAX - 8; /* offset + size wraps around */
	expect_parse_error(&f, ELF_LEN, "beyond the end of the file");
	make_elf(&f);
	ehdr(&f)->e_phentsize = 32;
	expect_parse_error(&f, ELF_LEN, "bad program header table");
	make_elf(&f);
	ehdr(&f)->e_phnum = 0;
	expect_parse_error(&f, ELF_LEN, "bad program header table");
	make_elf(&f);
	ehdr(&f)->e_phnum = PN_XNUM;
	expect_parse_error(&f, ELF_LEN, "bad program header table");
}

static void test_elf_segment_beyond_file(void **state)
{
	struct elf_file f;

	make_elf(&f);
	phdr(&f, PH_DATA)->p_filesz = 0x1001; /* one byte past the end */
	phdr(&f, PH_DATA)->p_memsz = 0x1001;
	expect_parse_error(&f, ELF_LEN, "PT_LOAD segment beyond the end of the file");
	make_elf(&f);
	phdr(&f, PH_DATA)->p_offset = UINT64_MAX - 0x100;
	expect_parse_error(&f, ELF_LEN, "PT_LOAD segment beyond the end of the file");
	make_elf(&f);
	phdr(&f, PH_DATA)->p_filesz = 0x4000; /* more file than memory */
	expect_parse_error(&f, ELF_LEN, "more file bytes than memory bytes");
}

static void test_elf_huge_memsz(void **state)
{
	struct elf_file f;

	make_elf(&f);
	phdr(&f, PH_DATA)->p_memsz = UINT64_MAX; /* paddr + memsz wraps */
	expect_parse_error(&f, ELF_LEN, "above the 32-bit PCI hole");
	make_elf(&f);
	phdr(&f, PH_DATA)->p_memsz = VM_LOWMEM_LIMIT; /* ends inside the hole */
	expect_parse_error(&f, ELF_LEN, "above the 32-bit PCI hole");
	make_elf(&f);
	phdr(&f, PH_DATA)->p_paddr = VM_HIGHMEM_BASE;
	expect_parse_error(&f, ELF_LEN, "above the 32-bit PCI hole");
}

static void test_elf_segment_in_low_memory(void **state)
{
	struct elf_file f;

	/* khyve's GDT, start info, command line, ACPI tables live below 1 MiB. */
	make_elf(&f);
	phdr(&f, PH_DATA)->p_paddr = PVH_START_INFO_ADDR;
	expect_parse_error(&f, ELF_LEN, "below 1 MiB");
	make_elf(&f);
	phdr(&f, PH_DATA)->p_paddr = KERNEL_LOAD_ADDR - 1;
	expect_parse_error(&f, ELF_LEN, "below 1 MiB");
}

static void test_elf_overlapping_segments(void **state)
{
	struct elf_file f;

	make_elf(&f);
	phdr(&f, PH_DATA)->p_paddr = TEXT_PADDR + 0xfff; /* last byte of text */
	expect_parse_error(&f, ELF_LEN, "overlapping PT_LOAD");
	make_elf(&f);
	phdr(&f, PH_DATA)->p_paddr = TEXT_PADDR - 0x1000; /* its bss covers the text */
	expect_parse_error(&f, ELF_LEN, "overlapping PT_LOAD");
	/* Adjacent is fine. */
	make_elf(&f);
	phdr(&f, PH_DATA)->p_paddr = TEXT_PADDR + 0x1000;
	assert_null(pvh_elf_parse(f.b, ELF_LEN, &(struct pvh_kernel){ 0 }));
}

static void test_elf_too_many_segments(void **state)
{
	static uint8_t big[0x2000];
	Elf64_Ehdr *eh = (Elf64_Ehdr *)big;
	struct elf_file f;

	make_elf(&f);
	memcpy(big, f.b, sizeof(*eh));
	eh->e_phnum = PVH_MAX_SEGMENTS + 1;
	eh->e_shoff = 0;
	eh->e_shnum = 0;
	for (int i = 0; i < PVH_MAX_SEGMENTS + 1; i++)
		((Elf64_Phdr *)(big + sizeof(*eh)))[i] = (Elf64_Phdr){
			.p_type = PT_LOAD, .p_paddr = TEXT_PADDR + (uint64_t)i * 0x1000,
			.p_memsz = 0x1000,
		};
	assert_non_null(strstr(pvh_elf_parse(big, sizeof(big), &(struct pvh_kernel){ 0 }),
			       "too many PT_LOAD"));
}

static void test_elf_no_load_segment(void **state)
{
	struct elf_file f;

	make_elf(&f);
	phdr(&f, PH_TEXT)->p_type = PT_NULL;
	phdr(&f, PH_DATA)->p_memsz = 0; /* empty segments are skipped */
	phdr(&f, PH_DATA)->p_filesz = 0;
	expect_parse_error(&f, ELF_LEN, "no PT_LOAD");
}

/* ---- Notes -------------------------------------------------------------------- */

static void test_note_lookup(void **state)
{
	uint8_t notes[256];
	uint32_t entry = 0, e32 = 0x1234567;
	uint64_t e64 = 0x1000850;
	size_t len;

	/* A 4-byte entry, as the ABI documents it, after unrelated notes. */
	len = put_note(notes, "Linux", XEN_ELFNOTE_PHYS32_ENTRY, "xx", 2);
	len += put_note(notes + len, "Xen", 5, "xen-3.0", 8);
	len += put_note(notes + len, "Xen", XEN_ELFNOTE_PHYS32_ENTRY, &e32, 4);
	assert_null(pvh_find_entry_note(notes, len, 4, &entry));
	assert_int_equal(entry, e32);
	/* An 8-byte one, as Linux x86-64 emits it. */
	len = put_note(notes, "Xen", XEN_ELFNOTE_PHYS32_ENTRY, &e64, 8);
	assert_null(pvh_find_entry_note(notes, len, 4, &entry));
	assert_int_equal(entry, e64);
	/* No trailing padding after the last descriptor is tolerated. */
	len = put_note(notes, "Xen", XEN_ELFNOTE_PHYS32_ENTRY, &e32, 4);
	assert_null(pvh_find_entry_note(notes, len, 4, &entry));
	/* Only other notes, an empty area, less than a note header. */
	len = put_note(notes, "Xen", 5, "xen-3.0", 8);
	assert_non_null(strstr(pvh_find_entry_note(notes, len, 4, &entry), "CONFIG_PVH"));
	assert_non_null(strstr(pvh_find_entry_note(notes, 0, 4, &entry), "CONFIG_PVH"));
	assert_non_null(strstr(pvh_find_entry_note(notes, 11, 4, &entry), "CONFIG_PVH"));
	/* "Xe" is not the Xen owner. */
	len = put_note(notes, "Xe", XEN_ELFNOTE_PHYS32_ENTRY, &e32, 4);
	assert_non_null(strstr(pvh_find_entry_note(notes, len, 4, &entry), "CONFIG_PVH"));
}

static void test_note_bad_lengths(void **state)
{
	uint8_t notes[64];
	uint32_t entry, e32 = 0x100000, big[3] = { 0x100000, 0, 0 };
	uint64_t above_4g = 0x100000000ull;
	size_t len;

	/* namesz runs past the area (and, aligned up, would wrap a 32-bit sum). */
	len = put_note(notes, "Xen", XEN_ELFNOTE_PHYS32_ENTRY, &e32, 4);
	put32(notes, 0xffffffff);
	assert_non_null(strstr(pvh_find_entry_note(notes, len, 4, &entry), "malformed"));
	/* descsz runs past the area. */
	len = put_note(notes, "Xen", XEN_ELFNOTE_PHYS32_ENTRY, &e32, 4);
	put32(notes + 4, 0xfffffffe);
	assert_non_null(strstr(pvh_find_entry_note(notes, len, 4, &entry), "malformed"));
	/* The descriptor cut short by the area's end. */
	len = put_note(notes, "Xen", XEN_ELFNOTE_PHYS32_ENTRY, &e32, 4);
	assert_non_null(strstr(pvh_find_entry_note(notes, len - 1, 4, &entry), "malformed"));
	/* An entry that is neither 4 nor 8 bytes, or does not fit 32 bits. */
	len = put_note(notes, "Xen", XEN_ELFNOTE_PHYS32_ENTRY, big, 12);
	assert_non_null(strstr(pvh_find_entry_note(notes, len, 4, &entry), "bad size"));
	len = put_note(notes, "Xen", XEN_ELFNOTE_PHYS32_ENTRY, &above_4g, 8);
	assert_non_null(strstr(pvh_find_entry_note(notes, len, 4, &entry), "above 4 GiB"));
}

static void test_elf_notes(void **state)
{
	struct elf_file f;
	struct pvh_kernel k;

	/* PT_NOTE beyond the file. */
	make_elf(&f);
	phdr(&f, PH_NOTE)->p_offset = ELF_LEN;
	expect_parse_error(&f, ELF_LEN, "PT_NOTE beyond the end");
	/* No PT_NOTE: the SHT_NOTE section is used. */
	make_elf(&f);
	phdr(&f, PH_NOTE)->p_type = PT_NULL;
	assert_null(pvh_elf_parse(f.b, ELF_LEN, &k));
	assert_int_equal(k.entry, ENTRY);
	/* ... unless it is broken too. */
	shdr(&f, 1)->sh_size = ELF_LEN;
	expect_parse_error(&f, ELF_LEN, "SHT_NOTE section beyond the end");
	make_elf(&f);
	phdr(&f, PH_NOTE)->p_type = PT_NULL;
	ehdr(&f)->e_shoff = ELF_LEN - 64;
	expect_parse_error(&f, ELF_LEN, "bad section header table");
	/* Neither: not a PVH kernel. */
	make_elf(&f);
	phdr(&f, PH_NOTE)->p_type = PT_NULL;
	ehdr(&f)->e_shnum = 0;
	expect_parse_error(&f, ELF_LEN, "CONFIG_PVH");
	/* A malformed note in the PT_NOTE. */
	make_elf(&f);
	put32(f.b + NOTES_OFF + 4, 0x7fffffff);
	expect_parse_error(&f, ELF_LEN, "malformed ELF note");
}

static void test_elf_entry_outside_segments(void **state)
{
	struct elf_file f;
	uint8_t *desc;

	make_elf(&f);
	desc = f.b + NOTES_OFF + f.notes_len - 8;
	assert_int_equal(le64(desc), ENTRY);
	put64(desc, DATA_PADDR + 0x1000); /* inside the data segment's bss: not code */
	expect_parse_error(&f, ELF_LEN, "entry point outside");
	put64(desc, 0x7000);
	expect_parse_error(&f, ELF_LEN, "entry point outside");
}

/* ---- XZ extraction from a bzImage --------------------------------------------- */

#define SETUP_SIZE 0x1000

/* A bzImage-shaped buffer: setup, then the payload at offset 0x100 plus the le32 size. */
static uint8_t *make_bzimage(const uint8_t *payload, size_t plen, uint32_t size_hint,
			     size_t *len)
{
	uint8_t *img;

	*len = SETUP_SIZE + 0x100 + plen + 4;
	img = calloc(1, *len);
	assert_non_null(img);
	put32(img + 0x248, 0x100);
	put32(img + 0x24c, (uint32_t)plen + 4);
	memcpy(img + SETUP_SIZE + 0x100, payload, plen);
	put32(img + SETUP_SIZE + 0x100 + plen, size_hint);
	return img;
}

/* XZ of data the way the kernel build makes it: x86 BCJ + LZMA2, CRC32. */
static uint8_t *xz_compress(const uint8_t *data, size_t len, bool bcj, size_t *out_len)
{
	lzma_options_lzma opt;
	lzma_filter filters[3];
	size_t cap = len + len / 2 + 1024, pos = 0;
	uint8_t *out = malloc(cap);
	int n = 0;

	assert_non_null(out);
	assert_false(lzma_lzma_preset(&opt, 6));
	if (bcj)
		filters[n++] = (lzma_filter){ .id = LZMA_FILTER_X86 };
	filters[n++] = (lzma_filter){ .id = LZMA_FILTER_LZMA2, .options = &opt };
	filters[n] = (lzma_filter){ .id = LZMA_VLI_UNKNOWN };
	assert_int_equal(lzma_stream_buffer_encode(filters, LZMA_CHECK_CRC32, NULL, data, len, out,
						   &pos, cap),
			 LZMA_OK);
	*out_len = pos;
	return out;
}

static void test_extract_xz(void **state)
{
	struct elf_file f;
	size_t xlen, len, elf_len;
	uint8_t *xz, *img, *elf = NULL;

	make_elf(&f);
	for (int bcj = 0; bcj <= 1; bcj++) {
		xz = xz_compress(f.b, ELF_LEN, bcj, &xlen);
		/* The right size hint; one too small (the buffer grows); nonsense. */
		uint32_t hints[] = { ELF_LEN, (uint32_t)xlen + 4, 1 };

		for (size_t i = 0; i < sizeof(hints) / sizeof(hints[0]); i++) {
			img = make_bzimage(xz, xlen, hints[i], &len);
			assert_null(pvh_extract_vmlinux(img, len, SETUP_SIZE, &elf, &elf_len));
			assert_int_equal(elf_len, ELF_LEN);
			assert_memory_equal(elf, f.b, ELF_LEN);
			free(elf);
			free(img);
		}
		free(xz);
	}
}

static void test_extract_not_xz(void **state)
{
	static const uint8_t gzip[16] = { 0x1f, 0x8b, 8 }, zstd[16] = { 0x28, 0xb5, 0x2f, 0xfd };
	uint8_t *img, *elf = NULL;
	size_t len, elf_len;

	img = make_bzimage(gzip, sizeof(gzip), 1000, &len);
	assert_non_null(strstr(pvh_extract_vmlinux(img, len, SETUP_SIZE, &elf, &elf_len), "gzip"));
	free(img);
	img = make_bzimage(zstd, sizeof(zstd), 1000, &len);
	assert_non_null(strstr(pvh_extract_vmlinux(img, len, SETUP_SIZE, &elf, &elf_len), "zstd"));
	/* The payload fields pointing outside the file. */
	put32(img + 0x24c, (uint32_t)len);
	assert_non_null(strstr(pvh_extract_vmlinux(img, len, SETUP_SIZE, &elf, &elf_len),
			       "outside the kernel file"));
	put32(img + 0x248, 0xfffffff0);
	put32(img + 0x24c, 0x20);
	assert_non_null(strstr(pvh_extract_vmlinux(img, len, SETUP_SIZE, &elf, &elf_len),
			       "outside the kernel file"));
	assert_non_null(pvh_extract_vmlinux(img, 0x100, SETUP_SIZE, &elf, &elf_len));
	assert_null(elf);
	free(img);
}

static void test_extract_corrupt_xz(void **state)
{
	struct elf_file f;
	size_t xlen, len, elf_len;
	uint8_t *xz, *img, *elf = NULL;

	make_elf(&f);
	xz = xz_compress(f.b, ELF_LEN, true, &xlen);
	/* Truncated stream. */
	img = make_bzimage(xz, xlen / 2, ELF_LEN, &len);
	assert_non_null(strstr(pvh_extract_vmlinux(img, len, SETUP_SIZE, &elf, &elf_len),
			       "corrupt or truncated"));
	free(img);
	/* A flipped byte in the compressed data: caught by LZMA2 or the CRC32. */
	xz[xlen / 2] ^= 0x55;
	img = make_bzimage(xz, xlen, ELF_LEN, &len);
	assert_non_null(pvh_extract_vmlinux(img, len, SETUP_SIZE, &elf, &elf_len));
	assert_null(elf);
	free(img);
	free(xz);
}

/* ---- Guest memory --------------------------------------------------------------- */

static void test_start_info_layout(void **state)
{
	struct vmctx ctx;
	struct e820_entry map[16];
	struct pvh_start s = { .cmdline_paddr = BOOT_CMDLINE_ADDR, .initrd_paddr = 0x7000000,
			       .initrd_size = 0x123456, .rsdp_paddr = ACPI_TABLES_ADDR };
	const uint8_t *si, *mod, *mm;
	int n;

	fake_vm(&ctx, 256 * MiB);
	ctx.highmem = 0; /* no RAM above 4 GiB in the fake */
	assert_int_equal(pvh_write_start_info(&ctx, &s), PVH_START_INFO_ADDR);
	si = ctx.ram + PVH_START_INFO_ADDR;
	/* Offsets from xen/include/public/arch-x86/hvm/start_info.h. */
	assert_int_equal(le32(si + 0), XEN_HVM_START_MAGIC);
	assert_int_equal(le32(si + 4), 1);
	assert_int_equal(le32(si + 8), 0);
	assert_int_equal(le32(si + 12), 1);
	assert_int_equal(le64(si + 16), PVH_MODLIST_ADDR);
	assert_int_equal(le64(si + 24), BOOT_CMDLINE_ADDR);
	assert_int_equal(le64(si + 32), ACPI_TABLES_ADDR);
	assert_int_equal(le64(si + 40), PVH_MEMMAP_ADDR);
	n = e820_build(ctx.lowmem, ctx.highmem, map, 16);
	assert_int_equal(le32(si + 48), n);
	assert_int_equal(le32(si + 52), 0);
	mod = ctx.ram + PVH_MODLIST_ADDR;
	assert_int_equal(le64(mod), 0x7000000);
	assert_int_equal(le64(mod + 8), 0x123456);
	assert_int_equal(le64(mod + 16), 0);
	mm = ctx.ram + PVH_MEMMAP_ADDR;
	for (int i = 0; i < n; i++, mm += 24) {
		assert_int_equal(le64(mm), map[i].addr);
		assert_int_equal(le64(mm + 8), map[i].size);
		assert_int_equal(le32(mm + 16), map[i].type);
		assert_int_equal(le32(mm + 20), 0);
	}
	/* RAM from 1 MiB to the end of low memory, then the PCI ECAM area, reserved. */
	assert_int_equal(le64(mm - 48 + 8) + le64(mm - 48), 256 * MiB);
	assert_int_equal(le64(mm - 24), PCI_ECAM_BASE);
	assert_int_equal(le32(mm - 24 + 16), E820_RESERVED);
	/* Everything stays below the zero page's address. */
	assert_true(PVH_MEMMAP_ADDR + (uint64_t)n * 24 <= BOOT_ZERO_PAGE_ADDR);
	free(ctx.ram);
}

static void test_start_info_no_initrd(void **state)
{
	struct vmctx ctx;
	struct pvh_start s = { .cmdline_paddr = BOOT_CMDLINE_ADDR };
	const uint8_t *si;

	fake_vm(&ctx, 16 * MiB);
	assert_int_equal(pvh_write_start_info(&ctx, &s), PVH_START_INFO_ADDR);
	si = ctx.ram + PVH_START_INFO_ADDR;
	assert_int_equal(le32(si + 12), 0);  /* nr_modules */
	assert_int_equal(le64(si + 16), 0);  /* modlist_paddr: 0 means absent */
	assert_int_equal(le64(si + 32), 0);  /* no RSDP given */
	free(ctx.ram);
	/* Less than 1 MiB: no memory map, no start info. */
	fake_vm(&ctx, 512 * 1024);
	assert_int_equal(pvh_write_start_info(&ctx, &s), 0);
	free(ctx.ram);
}

static void test_load_segments(void **state)
{
	struct elf_file f;
	struct pvh_kernel k;
	struct vmctx ctx;
	uint8_t zeros[0x2800] = { 0 };

	make_elf(&f);
	assert_null(pvh_elf_parse(f.b, ELF_LEN, &k));
	fake_vm(&ctx, 32 * MiB);
	memset(ctx.ram + DATA_PADDR, 0xee, 0x4000); /* stale bytes where bss goes */
	pvh_load_segments(&ctx, f.b, &k);
	assert_memory_equal(ctx.ram + TEXT_PADDR, f.b + TEXT_OFF, 0x1000);
	assert_memory_equal(ctx.ram + DATA_PADDR, f.b + DATA_OFF, 0x800);
	assert_memory_equal(ctx.ram + DATA_PADDR + 0x800, zeros, sizeof(zeros));
	assert_int_equal(ctx.ram[DATA_PADDR + 0x3000], 0xee); /* nothing past memsz */
	free(ctx.ram);
}

/* ---- The real kernel --------------------------------------------------------------- */

static void test_real_kernel(void **state)
{
	struct bzimage_info info;
	struct pvh_kernel k;
	size_t len, elf_len;
	uint8_t *img = slurp(REAL_KERNEL, &len), *elf = NULL;

	if (img == NULL) {
		skip();
		return;
	}
	assert_null(bzimage_parse(img, len, &info));
	assert_null(pvh_extract_vmlinux(img, len, info.setup_size, &elf, &elf_len));
	assert_null(pvh_elf_parse(elf, elf_len, &k));
	/* Linux loads at 16 MiB (LOAD_PHYSICAL_ADDR) and enters at pvh_start_xen in .head.text. */
	assert_int_equal(k.start, 16 * MiB);
	assert_true(k.entry >= k.start && k.entry < k.start + 2 * MiB);
	assert_true(k.end > k.start && k.end < 256 * MiB);
	free(elf);
	free(img);
}

static void test_real_kernel_place(void **state)
{
	struct linux_boot lb = { .kernel = REAL_KERNEL, .initrd = REAL_INITRD,
				 .cmdline = "console=ttyS0", .rsdp_addr = ACPI_TABLES_ADDR,
				 .pvh = true };
	struct vmctx ctx;
	size_t ilen;
	uint8_t *initrd = slurp(REAL_INITRD, &ilen);
	const uint8_t *si, *mod;
	const char *why = NULL;
	uint64_t start_info = 0;
	uint32_t entry = 0;

	if (initrd == NULL || access(REAL_KERNEL, R_OK) != 0) {
		free(initrd);
		skip();
		return;
	}
	fake_vm(&ctx, 256 * MiB);
	assert_int_equal(pvh_boot_place(&ctx, &lb, &entry, &start_info, &why), 0);
	assert_int_equal(start_info, PVH_START_INFO_ADDR);
	assert_true(entry > 16 * MiB);
	si = ctx.ram + start_info;
	assert_int_equal(le32(si), XEN_HVM_START_MAGIC);
	assert_string_equal((const char *)ctx.ram + le64(si + 24), "console=ttyS0");
	mod = ctx.ram + le64(si + 16);
	assert_int_equal(le64(mod + 8), ilen);
	assert_memory_equal(ctx.ram + le64(mod), initrd, ilen);
	/* Too small for the decompressed kernel: not an error, the bzImage path decides. */
	free(ctx.ram);
	fake_vm(&ctx, 32 * MiB);
	ctx.ram[PVH_START_INFO_ADDR] = 0xab;
	assert_int_equal(pvh_boot_place(&ctx, &lb, &entry, &start_info, &why), 1);
	assert_non_null(strstr(why, "does not fit"));
	assert_int_equal(ctx.ram[PVH_START_INFO_ADDR], 0xab); /* guest memory untouched */
	free(ctx.ram);
	free(initrd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_elf_good),
		cmocka_unit_test(test_elf_truncated_header),
		cmocka_unit_test(test_elf_not_x86_64),
		cmocka_unit_test(test_elf_phdr_table_out_of_bounds),
		cmocka_unit_test(test_elf_segment_beyond_file),
		cmocka_unit_test(test_elf_huge_memsz),
		cmocka_unit_test(test_elf_segment_in_low_memory),
		cmocka_unit_test(test_elf_overlapping_segments),
		cmocka_unit_test(test_elf_too_many_segments),
		cmocka_unit_test(test_elf_no_load_segment),
		cmocka_unit_test(test_note_lookup),
		cmocka_unit_test(test_note_bad_lengths),
		cmocka_unit_test(test_elf_notes),
		cmocka_unit_test(test_elf_entry_outside_segments),
		cmocka_unit_test(test_extract_xz),
		cmocka_unit_test(test_extract_not_xz),
		cmocka_unit_test(test_extract_corrupt_xz),
		cmocka_unit_test(test_start_info_layout),
		cmocka_unit_test(test_start_info_no_initrd),
		cmocka_unit_test(test_load_segments),
		cmocka_unit_test(test_real_kernel),
		cmocka_unit_test(test_real_kernel_place),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
