/*
 * SMBIOS 2.8 structures (DSP0134): BIOS (0), system (1), baseboard (2),
 * chassis (3), one processor per socket (4), the memory array (16), its
 * device (17) and address ranges (19), boot status (32), end (127).
 */
#include "x86/smbios.h"

#include <md5.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/grow.h"
#include "core/options.h"
#include "hw/fw_cfg.h"
#include "x86/le.h"

#define MAX_STRINGS 8
#define HANDLE_NONE 0xffff
#define HANDLE_NOT_PROVIDED 0xfffe

/* The structure table, built one structure at a time. */
struct builder {
	uint8_t *buf;
	size_t len, cap;
	uint16_t count;
	uint16_t max_size;
	bool failed;
};

/* A structure's strings: its formatted area refers to them by number (1-based). */
struct strings {
	const char *s[MAX_STRINGS];
	int n;
};

static uint8_t str_ref(struct strings *st, const char *s)
{
	if (s == NULL || *s == '\0' || st->n == MAX_STRINGS)
		return 0; /* "no string" */
	st->s[st->n++] = s;
	return (uint8_t)st->n;
}

static void append(struct builder *b, const void *data, size_t len)
{
	uint8_t *p;

	if (b->failed)
		return;
	p = grow_buffer(b->buf, &b->cap, b->len + len, 1024);
	if (p == NULL) {
		b->failed = true;
		return;
	}
	b->buf = p;
	memcpy(b->buf + b->len, data, len);
	b->len += len;
}

/*
 * One structure: its formatted area f (f[1] its length; the handle is
 * assigned here, in order from 0) and its strings. Returns the handle.
 */
static uint16_t add(struct builder *b, uint8_t *f, const struct strings *st)
{
	size_t start = b->len, size;
	uint16_t handle = b->count++;

	put16(f + 2, handle);
	append(b, f, f[1]);
	for (int i = 0; i < st->n; i++)
		append(b, st->s[i], strlen(st->s[i]) + 1);
	/* The string set ends with a second NUL (two when it is empty). */
	append(b, "\0", st->n > 0 ? 1 : 2);
	size = b->len - start;
	if (size > b->max_size)
		b->max_size = (uint16_t)size;
	return handle;
}

static void header(uint8_t *f, size_t cap, uint8_t type, uint8_t len)
{
	memset(f, 0, cap);
	f[0] = type;
	f[1] = len;
}

static const char *key(const char *name, const char *def)
{
	const char *v = get_config_value(name);

	return v != NULL ? v : def;
}

/* ---- the structures ------------------------------------------------------- */

/* Fields 4-7 of types 1 and 2: PREFIX.manufacturer, product_name, version, serial_number. */
static void put_identity(uint8_t *f, struct strings *st, const char *prefix)
{
	static const char *const names[] = { "manufacturer", "product_name", "version",
					     "serial_number" };
	static const char *const defaults[] = { "khyve", "khyve", "1.0", "None" };
	char name[48];

	for (int i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "%s.%s", prefix, names[i]);
		f[0x04 + i] = str_ref(st, key(name, defaults[i]));
	}
}

static void add_bios(struct builder *b)
{
	uint8_t f[0x18];
	struct strings st = { 0 };

	header(f, sizeof(f), 0, sizeof(f));
	f[0x04] = str_ref(&st, key("bios.vendor", "khyve"));
	f[0x05] = str_ref(&st, key("bios.version", "1.0"));
	put16(f + 0x06, 0xe800);               /* segment of the (nominal) BIOS image */
	f[0x08] = str_ref(&st, key("bios.release_date", "12/01/2026"));
	put64(f + 0x0a, 1ull << 7);            /* PCI */
	f[0x12] = 0x01;                           /* ACPI */
	f[0x13] = 0x10;                           /* the system is a virtual machine */
	f[0x14] = f[0x15] = f[0x16] = f[0x17] = 0xff; /* no release numbers, no EC */
	add(b, f, &st);
}

static void add_system(struct builder *b, const uint8_t uuid[16])
{
	uint8_t f[0x1b];
	struct strings st = { 0 };

	header(f, sizeof(f), 1, sizeof(f));
	put_identity(f, &st, "system");
	/* Since 2.6 the first three fields are little-endian. */
	f[0x08] = uuid[3], f[0x09] = uuid[2], f[0x0a] = uuid[1], f[0x0b] = uuid[0];
	f[0x0c] = uuid[5], f[0x0d] = uuid[4], f[0x0e] = uuid[7], f[0x0f] = uuid[6];
	memcpy(f + 0x10, uuid + 8, 8);
	f[0x18] = 0x06;                           /* woken by the power switch */
	f[0x19] = str_ref(&st, key("system.sku", "None"));
	f[0x1a] = str_ref(&st, key("system.family_name", "Virtual Machine"));
	add(b, f, &st);
}

static void add_board(struct builder *b, uint16_t chassis)
{
	uint8_t f[0x0f];
	struct strings st = { 0 };

	header(f, sizeof(f), 2, sizeof(f));
	put_identity(f, &st, "board");
	f[0x08] = str_ref(&st, key("board.asset_tag", "None"));
	f[0x09] = 0x01;                           /* a hosting board */
	f[0x0a] = str_ref(&st, key("board.location", "None"));
	put16(f + 0x0b, chassis);
	f[0x0d] = 0x0a;                           /* motherboard */
	add(b, f, &st);
}

static uint16_t add_chassis(struct builder *b)
{
	uint8_t f[0x16];
	struct strings st = { 0 };

	header(f, sizeof(f), 3, sizeof(f));
	f[0x04] = str_ref(&st, key("chassis.manufacturer", "khyve"));
	f[0x05] = 0x01;                           /* other */
	f[0x06] = str_ref(&st, key("chassis.version", "1.0"));
	f[0x07] = str_ref(&st, key("chassis.serial_number", "None"));
	f[0x08] = str_ref(&st, key("chassis.asset_tag", "None"));
	f[0x09] = f[0x0a] = f[0x0b] = 0x03;       /* boot-up, power, thermal: safe */
	f[0x0c] = 0x02;                           /* security: unknown */
	f[0x15] = str_ref(&st, key("chassis.sku", "None"));
	return add(b, f, &st);
}

static void add_processors(struct builder *b, const struct smbios_config *cfg)
{
	char names[64][16];
	int sockets = cfg->sockets < 64 ? cfg->sockets : 64;

	for (int i = 0; i < sockets; i++) {
		uint8_t f[0x2a];
		struct strings st = { 0 };
		int threads = cfg->cores_per_socket * cfg->threads_per_core;

		header(f, sizeof(f), 4, sizeof(f));
		snprintf(names[i], sizeof(names[i]), "CPU %d", i);
		f[0x04] = str_ref(&st, names[i]);
		f[0x05] = 0x03;                   /* central processor */
		f[0x06] = 0x01;                   /* family: other */
		f[0x07] = str_ref(&st, "khyve");
		f[0x18] = 0x41;                   /* socket populated, CPU enabled */
		f[0x19] = 0x01;                   /* upgrade: other */
		put16(f + 0x1a, HANDLE_NONE);  /* no cache information */
		put16(f + 0x1c, HANDLE_NONE);
		put16(f + 0x1e, HANDLE_NONE);
		f[0x23] = (uint8_t)(cfg->cores_per_socket < 255 ? cfg->cores_per_socket : 255);
		f[0x24] = f[0x23];
		f[0x25] = (uint8_t)(threads < 255 ? threads : 255);
		put16(f + 0x26, 0x0004);       /* 64-bit capable */
		put16(f + 0x28, 0x0001);
		add(b, f, &st);
	}
}

static void add_mapped_range(struct builder *b, uint16_t array, uint64_t start, uint64_t len)
{
	uint8_t f[0x1f];
	struct strings st = { 0 };
	uint64_t end = start + len - 1;

	header(f, sizeof(f), 19, sizeof(f));
	if (end >> 10 < 0xffffffffull) {
		put32(f + 0x04, (uint32_t)(start >> 10));
		put32(f + 0x08, (uint32_t)(end >> 10));
	} else {
		put32(f + 0x04, 0xffffffffu); /* see the extended addresses */
		put32(f + 0x08, 0xffffffffu);
		put64(f + 0x0f, start);
		put64(f + 0x17, end);
	}
	put16(f + 0x0c, array);
	f[0x0e] = 1;                              /* one device per row */
	add(b, f, &st);
}

static void add_memory(struct builder *b, const struct smbios_config *cfg)
{
	uint64_t total = cfg->lowmem + cfg->highmem, mib = total >> 20, kib = total >> 10;
	uint8_t a[0x17], d[0x28];
	struct strings none = { 0 }, st = { 0 };
	uint16_t array;

	header(a, sizeof(a), 16, sizeof(a));
	a[0x04] = 0x01;                           /* location: other */
	a[0x05] = 0x03;                           /* system memory */
	a[0x06] = 0x03;                           /* no error correction */
	if (kib < 0x80000000ull) {
		put32(a + 0x07, (uint32_t)kib);
	} else {
		put32(a + 0x07, 0x80000000u);  /* see the extended capacity */
		put64(a + 0x0f, total);
	}
	put16(a + 0x0b, HANDLE_NOT_PROVIDED);
	put16(a + 0x0d, 1);
	array = add(b, a, &none);

	header(d, sizeof(d), 17, sizeof(d));
	put16(d + 0x04, array);
	put16(d + 0x06, HANDLE_NOT_PROVIDED);
	put16(d + 0x08, 0xffff);               /* widths unknown */
	put16(d + 0x0a, 0xffff);
	if (mib < 0x7fff) {
		put16(d + 0x0c, (uint16_t)mib);
	} else {
		put16(d + 0x0c, 0x7fff);       /* see the extended size */
		put32(d + 0x1c, (uint32_t)mib);
	}
	d[0x0e] = 0x09;                           /* DIMM */
	d[0x10] = str_ref(&st, "DIMM 0");
	d[0x12] = 0x07;                           /* RAM */
	put16(d + 0x13, 0x0002);               /* unknown detail */
	d[0x17] = str_ref(&st, "khyve");
	add(b, d, &st);

	if (cfg->lowmem > 0)
		add_mapped_range(b, array, 0, cfg->lowmem);
	if (cfg->highmem > 0)
		add_mapped_range(b, array, 1ull << 32, cfg->highmem);
}

static void add_fixed(struct builder *b, uint8_t type, uint8_t len)
{
	uint8_t f[0x0b];
	struct strings st = { 0 };

	header(f, sizeof(f), type, len); /* boot status 0: no errors; 127: the end */
	add(b, f, &st);
}

/* ---- the entry point, the UUID, placing ------------------------------------ */

static uint8_t checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;

	while (len-- > 0)
		sum = (uint8_t)(sum + *p++);
	return (uint8_t)-sum;
}

/* Both checksums, over the structure table address set (or 0 for firmware). */
static void anchor_seal(uint8_t *ep, uint32_t table_addr)
{
	put32(ep + 0x18, table_addr);
	ep[0x15] = 0;
	ep[0x15] = checksum(ep + 0x10, 0x0f);
	ep[0x04] = 0;
	ep[0x04] = checksum(ep, SMBIOS_EP_LEN);
}

static void make_anchor(uint8_t *ep, const struct builder *b)
{
	memset(ep, 0, SMBIOS_EP_LEN);
	memcpy(ep, "_SM_", 4);
	ep[0x05] = SMBIOS_EP_LEN;
	ep[0x06] = 2;
	ep[0x07] = 8;
	put16(ep + 0x08, b->max_size);
	memcpy(ep + 0x10, "_DMI_", 5);
	put16(ep + 0x16, (uint16_t)b->len);
	put16(ep + 0x1c, b->count);
	ep[0x1e] = 0x28;                          /* BCD revision 2.8 */
	anchor_seal(ep, 0);
}

/* As bhyve: a digest of the VM and host names (here an RFC 4122 version 3 UUID). */
static void default_uuid(const char *vm_name, uint8_t uuid[16])
{
	char host[256] = "";
	MD5_CTX ctx;

	(void)gethostname(host, sizeof(host) - 1);
	MD5Init(&ctx);
	MD5Update(&ctx, (const uint8_t *)vm_name, strlen(vm_name));
	MD5Update(&ctx, (const uint8_t *)host, strlen(host));
	MD5Final(uuid, &ctx);
	uuid[6] = (uint8_t)((uuid[6] & 0x0f) | 0x30);
	uuid[8] = (uint8_t)((uuid[8] & 0x3f) | 0x80);
}

int smbios_vm_uuid(const char *uuid, const char *vm_name, uint8_t out[16])
{
	if (uuid == NULL) {
		default_uuid(vm_name != NULL ? vm_name : "", out);
		return 0;
	}
	if (khyve_parse_uuid(uuid, out) < 0) {
		fprintf(stderr, "khyve: uuid: '%s' is not a UUID\n", uuid);
		return -1;
	}
	return 0;
}

int smbios_build(const struct smbios_config *cfg, struct smbios_tables *out)
{
	struct builder b = { 0 };
	uint16_t chassis_handle;

	memset(out, 0, sizeof(*out));
	/* As QEMU: SeaBIOS and OVMF add their own BIOS information. */
	if (!cfg->firmware)
		add_bios(&b);
	add_system(&b, cfg->uuid);
	/* Type 2 names its chassis, which comes right after it. */
	chassis_handle = (uint16_t)(b.count + 1);
	add_board(&b, chassis_handle);
	add_chassis(&b);
	add_processors(&b, cfg);
	add_memory(&b, cfg);
	add_fixed(&b, 32, 0x0b);
	add_fixed(&b, 127, 0x04);
	if (b.failed || b.len > 0xffff) {
		free(b.buf);
		fprintf(stderr, "khyve: cannot build the SMBIOS tables\n");
		return -1;
	}
	make_anchor(out->anchor, &b);
	out->structs = b.buf;
	out->len = b.len;
	return 0;
}

void smbios_free(struct smbios_tables *t)
{
	free(t->structs);
	t->structs = NULL;
	t->len = 0;
}

size_t smbios_install(const struct smbios_tables *t, void *dst, uint64_t gpa, size_t room)
{
	/* The entry point on a 16-byte boundary, the structures right after it. */
	size_t table_off = 0x20, used = table_off + t->len;
	uint8_t *p = dst;

	if (dst == NULL || used > room || gpa + table_off + t->len > 0x100000)
		return 0;
	memcpy(p, t->anchor, SMBIOS_EP_LEN);
	anchor_seal(p, (uint32_t)(gpa + table_off));
	memcpy(p + table_off, t->structs, t->len);
	return used;
}

int smbios_add_fw_cfg(const struct smbios_tables *t)
{
	if (fw_cfg_add_file("etc/smbios/smbios-anchor", t->anchor, SMBIOS_EP_LEN) < 0 ||
	    fw_cfg_add_file("etc/smbios/smbios-tables", t->structs, (uint32_t)t->len) < 0)
		return -1;
	return 0;
}
