/*
 * AML byte-code emitter; see aml.h. Encodings follow ACPI 6.4 chapter 20
 * (AML grammar) and section 6.4 (resource descriptors).
 */
#include "x86/aml.h"

#include <stdlib.h>
#include <string.h>

#include "core/grow.h"

/* AML opcodes and prefixes (ACPI 6.4 section 20.3). */
enum {
	AML_ZERO_OP = 0x00,
	AML_ONE_OP = 0x01,
	AML_NAME_OP = 0x08,
	AML_BYTE_PREFIX = 0x0a,
	AML_WORD_PREFIX = 0x0b,
	AML_DWORD_PREFIX = 0x0c,
	AML_STRING_PREFIX = 0x0d,
	AML_QWORD_PREFIX = 0x0e,
	AML_SCOPE_OP = 0x10,
	AML_BUFFER_OP = 0x11,
	AML_PACKAGE_OP = 0x12,
	AML_METHOD_OP = 0x14,
	AML_DUAL_NAME_PREFIX = 0x2e,
	AML_MULTI_NAME_PREFIX = 0x2f,
	AML_EXT_OP_PREFIX = 0x5b,
	AML_DEVICE_OP = 0x82, /* after AML_EXT_OP_PREFIX */
	AML_ROOT_CHAR = 0x5c,
	AML_PARENT_PREFIX_CHAR = 0x5e,
	AML_NULL_NAME = 0x00,
	AML_RETURN_OP = 0xa4,
};

/* Resource descriptor tags (ACPI 6.4 section 6.4). */
enum {
	RES_IRQ_NOFLAGS = 0x22,     /* small item 0x04, length 2 */
	RES_IO = 0x47,              /* small item 0x08, length 7 */
	RES_END_TAG = 0x79,         /* small item 0x0f, length 1 */
	RES_MEMORY32_FIXED = 0x86,  /* large item */
	RES_EXTENDED_IRQ = 0x89,    /* large item */
	RES_DWORD_ADDRESS = 0x87,   /* large item */
	RES_WORD_ADDRESS = 0x88,    /* large item */
	RES_QWORD_ADDRESS = 0x8a,   /* large item */
};

#define NAMESEG_LEN 4
#define PKGLENGTH_MAX ((1u << 28) - 1)

void aml_init(struct aml *a)
{
	memset(a, 0, sizeof(*a));
}

void aml_free(struct aml *a)
{
	free(a->buf);
	aml_init(a);
}

int aml_finish(const struct aml *a)
{
	return a->failed || a->depth != 0 ? -1 : 0;
}

uint8_t *aml_take(struct aml *a, size_t *len)
{
	uint8_t *buf = a->buf;

	*len = a->len;
	aml_init(a);
	return buf;
}

static bool reserve(struct aml *a, size_t n)
{
	uint8_t *p;

	if (a->failed)
		return false;
	p = grow_buffer(a->buf, &a->cap, a->len + n, 256);
	if (p == NULL) {
		a->failed = true;
		return false;
	}
	a->buf = p;
	return true;
}

void aml_put_bytes(struct aml *a, const void *p, size_t n)
{
	if (n == 0 || !reserve(a, n))
		return;
	memcpy(a->buf + a->len, p, n);
	a->len += n;
}

void aml_put_u8(struct aml *a, uint8_t v)
{
	aml_put_bytes(a, &v, 1);
}

static void le_store(uint8_t *dst, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = (uint8_t)(v >> (8 * i));
}

static void put_le(struct aml *a, uint64_t v, size_t n)
{
	uint8_t b[8];

	le_store(b, v, n);
	aml_put_bytes(a, b, n);
}

void aml_put_u16(struct aml *a, uint16_t v)
{
	put_le(a, v, 2);
}

void aml_put_u32(struct aml *a, uint32_t v)
{
	put_le(a, v, 4);
}

void aml_put_u64(struct aml *a, uint64_t v)
{
	put_le(a, v, 8);
}

void aml_patch_u32(struct aml *a, size_t offset, uint32_t v)
{
	if (a->failed || offset + 4 > a->len) {
		a->failed = true;
		return;
	}
	le_store(a->buf + offset, v, 4);
}

static void insert_bytes(struct aml *a, size_t at, const uint8_t *p, size_t n)
{
	if (!reserve(a, n))
		return;
	memmove(a->buf + at + n, a->buf + at, a->len - at);
	memcpy(a->buf + at, p, n);
	a->len += n;
}

/* A data object that sits directly in a Package is one of its elements. */
static void count_element(struct aml *a)
{
	if (a->depth > 0 && a->open[a->depth - 1].kind == AML_BLOCK_PACKAGE)
		a->open[a->depth - 1].nelems++;
}

/* Shortest integer encoding; returns its size (at most 9 bytes). */
static size_t encode_integer(uint64_t v, uint8_t out[9])
{
	size_t n;

	if (v == 0 || v == 1) {
		out[0] = v ? AML_ONE_OP : AML_ZERO_OP;
		return 1;
	}
	/*
	 * OnesOp is deliberately not used for all-ones: its width depends on
	 * the DSDT revision, a QWord does not.
	 */
	if (v <= UINT8_MAX) {
		out[0] = AML_BYTE_PREFIX;
		n = 1;
	} else if (v <= UINT16_MAX) {
		out[0] = AML_WORD_PREFIX;
		n = 2;
	} else if (v <= UINT32_MAX) {
		out[0] = AML_DWORD_PREFIX;
		n = 4;
	} else {
		out[0] = AML_QWORD_PREFIX;
		n = 8;
	}
	le_store(out + 1, v, n);
	return n + 1;
}

/*
 * PkgLength counts its own bytes plus everything after it: 1 byte holds up
 * to 63; otherwise the lead byte holds the extra byte count in bits 7:6 and
 * the low nibble, each following byte 8 more bits. Returns 0 if too long.
 */
static size_t encode_pkglength(size_t body_len, uint8_t out[4])
{
	if (body_len + 1 <= 0x3f) {
		out[0] = (uint8_t)(body_len + 1);
		return 1;
	}
	for (size_t n = 2; n <= 4; n++) {
		size_t total = body_len + n;

		if (total >= ((size_t)1 << (4 + 8 * (n - 1))) || total > PKGLENGTH_MAX)
			continue;
		out[0] = (uint8_t)(((n - 1) << 6) | (total & 0x0f));
		for (size_t i = 1; i < n; i++)
			out[i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
		return n;
	}
	return 0;
}

void aml_integer(struct aml *a, uint64_t v)
{
	uint8_t b[9];

	count_element(a);
	aml_put_bytes(a, b, encode_integer(v, b));
}

void aml_string(struct aml *a, const char *s)
{
	count_element(a);
	aml_put_u8(a, AML_STRING_PREFIX);
	aml_put_bytes(a, s, strlen(s) + 1);
}

static bool is_upper(char c)
{
	return c >= 'A' && c <= 'Z';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int hex_value(char c)
{
	if (is_digit(c))
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * EISA ids pack three letters in 5 bits each ('A' = 1) and four hex digits
 * into a big-endian DWord; AML stores those four bytes in that order.
 */
void aml_eisaid(struct aml *a, const char *id)
{
	uint8_t b[4];
	int hex[4];

	if (strlen(id) != 7 || !is_upper(id[0]) || !is_upper(id[1]) || !is_upper(id[2])) {
		a->failed = true;
		return;
	}
	for (int i = 0; i < 4; i++) {
		hex[i] = hex_value(id[3 + i]);
		if (hex[i] < 0) {
			a->failed = true;
			return;
		}
	}
	b[0] = (uint8_t)(((id[0] - 0x40) << 2) | ((id[1] - 0x40) >> 3));
	b[1] = (uint8_t)((((id[1] - 0x40) & 7) << 5) | (id[2] - 0x40));
	b[2] = (uint8_t)(hex[0] << 4 | hex[1]);
	b[3] = (uint8_t)(hex[2] << 4 | hex[3]);
	count_element(a);
	aml_put_u8(a, AML_DWORD_PREFIX);
	aml_put_bytes(a, b, 4);
}

/* One NameSeg of "len" characters, padded with '_' to four. */
static bool put_nameseg(struct aml *a, const char *s, size_t len)
{
	char seg[NAMESEG_LEN] = { '_', '_', '_', '_' };

	if (len == 0 || len > NAMESEG_LEN || !(is_upper(s[0]) || s[0] == '_'))
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!is_upper(s[i]) && !is_digit(s[i]) && s[i] != '_')
			return false;
		seg[i] = s[i];
	}
	aml_put_bytes(a, seg, NAMESEG_LEN);
	return true;
}

static size_t count_segments(const char *path)
{
	size_t n = *path ? 1 : 0;

	for (; *path; path++)
		n += *path == '.';
	return n;
}

/*
 * NameString = [RootChar | ParentPrefixChar...] NamePath (ACPI 6.4 20.2.2).
 * An empty NamePath (NullName) only makes sense after a prefix, as in "\\".
 */
static void put_name_string(struct aml *a, const char *path)
{
	size_t nsegs;

	if (*path == '\0') {
		a->failed = true;
		return;
	}
	if (*path == '\\') {
		aml_put_u8(a, AML_ROOT_CHAR);
		path++;
	} else {
		for (; *path == '^'; path++)
			aml_put_u8(a, AML_PARENT_PREFIX_CHAR);
	}
	nsegs = count_segments(path);
	if (nsegs == 0) {
		aml_put_u8(a, AML_NULL_NAME);
		return;
	}
	if (nsegs > UINT8_MAX) {
		a->failed = true;
		return;
	}
	if (nsegs == 2) {
		aml_put_u8(a, AML_DUAL_NAME_PREFIX);
	} else if (nsegs > 2) {
		aml_put_u8(a, AML_MULTI_NAME_PREFIX);
		aml_put_u8(a, (uint8_t)nsegs);
	}
	while (nsegs--) {
		size_t len = strcspn(path, ".");

		if (!put_nameseg(a, path, len)) {
			a->failed = true;
			return;
		}
		path += len + (path[len] == '.');
	}
}

void aml_name_string(struct aml *a, const char *path)
{
	count_element(a);
	put_name_string(a, path);
}

void aml_name(struct aml *a, const char *name)
{
	aml_put_u8(a, AML_NAME_OP);
	put_name_string(a, name);
}

void aml_name_integer(struct aml *a, const char *name, uint64_t v)
{
	aml_name(a, name);
	aml_integer(a, v);
}

void aml_name_str(struct aml *a, const char *name, const char *s)
{
	aml_name(a, name);
	aml_string(a, s);
}

void aml_name_eisaid(struct aml *a, const char *name, const char *id)
{
	aml_name(a, name);
	aml_eisaid(a, id);
}

void aml_return(struct aml *a)
{
	aml_put_u8(a, AML_RETURN_OP);
}

/* Called right after the opcode: the PkgLength will be inserted here. */
static void open_block(struct aml *a, enum aml_block_kind kind)
{
	if (a->depth == AML_MAX_DEPTH) {
		a->failed = true;
		return;
	}
	a->open[a->depth++] = (struct aml_block){ .kind = kind, .start = a->len };
}

void aml_scope_begin(struct aml *a, const char *path)
{
	aml_put_u8(a, AML_SCOPE_OP);
	open_block(a, AML_BLOCK_SCOPE);
	put_name_string(a, path);
}

void aml_device_begin(struct aml *a, const char *name)
{
	aml_put_u8(a, AML_EXT_OP_PREFIX);
	aml_put_u8(a, AML_DEVICE_OP);
	open_block(a, AML_BLOCK_DEVICE);
	put_name_string(a, name);
}

void aml_method_begin(struct aml *a, const char *name, unsigned nargs, bool serialized)
{
	if (nargs > 7) {
		a->failed = true;
		return;
	}
	aml_put_u8(a, AML_METHOD_OP);
	open_block(a, AML_BLOCK_METHOD);
	put_name_string(a, name);
	/* MethodFlags: ArgCount in bits 2:0, SerializeFlag bit 3, SyncLevel 0. */
	aml_put_u8(a, (uint8_t)(nargs | (serialized ? 0x08 : 0)));
}

void aml_package_begin(struct aml *a)
{
	count_element(a);
	aml_put_u8(a, AML_PACKAGE_OP);
	open_block(a, AML_BLOCK_PACKAGE);
	aml_put_u8(a, 0); /* NumElements, patched by aml_end() */
}

void aml_buffer_begin(struct aml *a)
{
	count_element(a);
	aml_put_u8(a, AML_BUFFER_OP);
	open_block(a, AML_BLOCK_BUFFER);
}

/*
 * Close the innermost block: insert its PkgLength at the recorded start. A
 * Buffer's BufferSize follows the PkgLength and is counted in it, so both
 * are inserted together.
 */
void aml_end(struct aml *a)
{
	struct aml_block *b;
	uint8_t prefix[4 + 9];
	uint8_t size[9];
	size_t nsize = 0, npkg;

	if (a->failed)
		return;
	if (a->depth == 0) {
		a->failed = true;
		return;
	}
	b = &a->open[--a->depth];
	if (b->kind == AML_BLOCK_PACKAGE) {
		/* More needs VarPackageOp, which nothing here uses yet. */
		if (b->nelems > UINT8_MAX) {
			a->failed = true;
			return;
		}
		a->buf[b->start] = (uint8_t)b->nelems;
	}
	if (b->kind == AML_BLOCK_BUFFER)
		nsize = encode_integer(a->len - b->start, size);
	npkg = encode_pkglength(a->len - b->start + nsize, prefix);
	if (npkg == 0) {
		a->failed = true;
		return;
	}
	memcpy(prefix + npkg, size, nsize);
	insert_bytes(a, b->start, prefix, npkg + nsize);
}

void aml_resource_template_begin(struct aml *a)
{
	aml_buffer_begin(a);
}

void aml_name_resource_template_begin(struct aml *a, const char *name)
{
	aml_name(a, name);
	aml_resource_template_begin(a);
}

void aml_resource_template_end(struct aml *a)
{
	if (a->depth == 0 || a->open[a->depth - 1].kind != AML_BLOCK_BUFFER) {
		a->failed = true;
		return;
	}
	/*
	 * A zero checksum means "treat as valid" (ACPI 6.4 6.4.2.9); it is
	 * what iasl emits, so disassembly round-trips byte for byte.
	 */
	aml_put_u8(a, RES_END_TAG);
	aml_put_u8(a, 0);
	aml_end(a);
}

void aml_io(struct aml *a, bool decode16, uint16_t min, uint16_t max, uint8_t align,
	    uint8_t len)
{
	aml_put_u8(a, RES_IO);
	aml_put_u8(a, decode16 ? 1 : 0);
	aml_put_u16(a, min);
	aml_put_u16(a, max);
	aml_put_u8(a, align);
	aml_put_u8(a, len);
}

void aml_irq_noflags(struct aml *a, unsigned irq)
{
	if (irq >= 16) {
		a->failed = true;
		return;
	}
	aml_put_u8(a, RES_IRQ_NOFLAGS);
	aml_put_u16(a, (uint16_t)(1u << irq));
}

/* Large resource items: tag, 16-bit length of what follows, data. */
static void put_large_item(struct aml *a, uint8_t tag, uint16_t len)
{
	aml_put_u8(a, tag);
	aml_put_u16(a, len);
}

void aml_interrupt(struct aml *a, enum aml_irq_trigger trigger,
		   enum aml_irq_polarity polarity, bool shared, const uint32_t *irqs,
		   unsigned nirqs)
{
	/* Flags: bit 0 consumer, bit 1 edge, bit 2 active-low, bit 3 shared. */
	uint8_t flags = 0x01 | (uint8_t)(trigger << 1) | (uint8_t)(polarity << 2) |
			(shared ? 0x08 : 0);

	if (nirqs == 0 || nirqs > UINT8_MAX) {
		a->failed = true;
		return;
	}
	put_large_item(a, RES_EXTENDED_IRQ, (uint16_t)(2 + 4 * nirqs));
	aml_put_u8(a, flags);
	aml_put_u8(a, (uint8_t)nirqs);
	for (unsigned i = 0; i < nirqs; i++)
		aml_put_u32(a, irqs[i]);
}

void aml_memory32_fixed(struct aml *a, bool writeable, uint32_t base, uint32_t len)
{
	put_large_item(a, RES_MEMORY32_FIXED, 9);
	aml_put_u8(a, writeable ? 1 : 0);
	aml_put_u32(a, base);
	aml_put_u32(a, len);
}

/*
 * Address space descriptors (ACPI 6.4 section 6.4.3.5): the windows a host
 * bridge passes on to its bus. General flags: MinFixed | MaxFixed, positive
 * decode, "produces and consumes" (bit 0 clear), as iasl writes for
 * ResourceProducer.
 */
#define ADDR_SPACE_MEMORY 0
#define ADDR_SPACE_IO 1
#define ADDR_SPACE_BUS 2
#define ADDR_FLAGS_FIXED 0x0c
#define ADDR_IO_ENTIRE_RANGE 0x03
#define ADDR_MEM_RW 0x01
#define ADDR_MEM_CACHEABLE 0x02

/* Granularity, min, max, translation offset, length: each "width" bytes. */
static void put_address(struct aml *a, uint8_t tag, uint8_t type, uint8_t type_flags,
			unsigned width, uint64_t min, uint64_t max)
{
	const uint64_t fields[5] = { 0, min, max, 0, max - min + 1 };

	if (max < min || (width < 8 && max >> (8 * width))) {
		a->failed = true;
		return;
	}
	put_large_item(a, tag, (uint16_t)(3 + 5 * width));
	aml_put_u8(a, type);
	aml_put_u8(a, ADDR_FLAGS_FIXED);
	aml_put_u8(a, type_flags);
	for (int i = 0; i < 5; i++) {
		if (width == 2)
			aml_put_u16(a, (uint16_t)fields[i]);
		else if (width == 4)
			aml_put_u32(a, (uint32_t)fields[i]);
		else
			aml_put_u64(a, fields[i]);
	}
}

void aml_word_bus_number(struct aml *a, uint16_t min, uint16_t max)
{
	put_address(a, RES_WORD_ADDRESS, ADDR_SPACE_BUS, 0, 2, min, max);
}

void aml_word_io(struct aml *a, uint16_t min, uint16_t max)
{
	put_address(a, RES_WORD_ADDRESS, ADDR_SPACE_IO, ADDR_IO_ENTIRE_RANGE, 2, min, max);
}

static uint8_t memory_flags(bool cacheable)
{
	return ADDR_MEM_RW | (cacheable ? ADDR_MEM_CACHEABLE : 0);
}

void aml_dword_memory(struct aml *a, bool cacheable, uint32_t min, uint32_t max)
{
	put_address(a, RES_DWORD_ADDRESS, ADDR_SPACE_MEMORY, memory_flags(cacheable), 4, min, max);
}

void aml_qword_memory(struct aml *a, bool cacheable, uint64_t min, uint64_t max)
{
	put_address(a, RES_QWORD_ADDRESS, ADDR_SPACE_MEMORY, memory_flags(cacheable), 8, min, max);
}
