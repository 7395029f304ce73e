/*
 * ACPI tables: the AML emitter's encodings, the tables' layout as a guest sees
 * it after acpi_install() (found by following pointers from the RSDP, as
 * OSPM does), and an independent check by ACPICA's iasl: every table must
 * disassemble without complaint, and the DSDT must re-assemble to the very
 * same AML.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "x86/acpi.h"
#include "x86/aml.h"

#define BOOT_GPA 0xe0000ull /* direct kernel boot: where Linux scans for the RSDP */
#define AREA_LEN 0x10000    /* 0xe0000-0xeffff */

/* ---- Little helpers -------------------------------------------------- */

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)le16(p) | (uint32_t)le16(p + 2) << 16;
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static uint8_t byte_sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s = (uint8_t)(s + *p++);
	return s;
}

static const struct acpi_uart test_uarts[ACPI_MAX_UARTS] = {
	{ "COM1", 0x3f8, 4 },
	{ "COM2", 0x2f8, 3 },
	{ "COM3", 0x3e8, 4 },
	{ "COM4", 0x2e8, 3 },
};

/* APIC IDs deliberately differ from CPU indices, so the two can't be confused. */
static void make_config(struct acpi_config *cfg, int ncpus, int nuarts)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->ncpus = ncpus;
	for (int i = 0; i < ncpus; i++)
		cfg->apic_ids[i] = (uint32_t)(2 * i + 1);
	cfg->ioapic_id = 0;
	cfg->nuarts = nuarts;
	for (int i = 0; i < nuarts; i++)
		cfg->uarts[i] = test_uarts[i];
}

/* Guest RAM at BOOT_GPA with the tables installed. */
struct image {
	uint8_t *mem;
	size_t used;
};

static struct image install(const struct acpi_config *cfg)
{
	struct acpi_tables t;
	struct image img = { .mem = calloc(1, AREA_LEN) };

	assert_non_null(img.mem);
	assert_int_equal(acpi_build(cfg, &t), 0);
	img.used = acpi_install(&t, img.mem, BOOT_GPA, AREA_LEN);
	acpi_tables_free(&t);
	assert_true(img.used > 0 && img.used <= AREA_LEN);
	return img;
}

/* Guest-physical to host pointer, asserting [gpa, gpa + len) was installed. */
static const uint8_t *at_gpa(const struct image *img, uint64_t gpa, uint64_t len)
{
	assert_true(gpa >= BOOT_GPA && gpa + len <= BOOT_GPA + img->used);
	return img->mem + (gpa - BOOT_GPA);
}

/* A System Description Table at "gpa": right signature, length, checksum. */
static const uint8_t *sdt_at(const struct image *img, uint64_t gpa, const char *sig)
{
	const uint8_t *p = at_gpa(img, gpa, 36);
	uint32_t len = le32(p + 4);

	assert_memory_equal(p, sig, 4);
	assert_true(len >= 36);
	p = at_gpa(img, gpa, len);
	assert_int_equal(byte_sum(p, len), 0);
	assert_memory_equal(p + 10, "KHYVE ", 6);
	assert_memory_equal(p + 16, "KHYVEVM ", 8);
	assert_memory_equal(p + 28, "KHYV", 4);
	return p;
}

static const uint8_t *rsdp(const struct image *img)
{
	return at_gpa(img, BOOT_GPA, 36);
}

static const uint8_t *xsdt(const struct image *img)
{
	return sdt_at(img, le64(rsdp(img) + 24), "XSDT");
}

/* Find a table the XSDT lists, as OSPM would. */
static const uint8_t *find_sdt(const struct image *img, const char *sig)
{
	const uint8_t *x = xsdt(img);

	for (uint32_t off = 36; off + 8 <= le32(x + 4); off += 8) {
		const uint8_t *p = at_gpa(img, le64(x + off), 4);

		if (memcmp(p, sig, 4) == 0)
			return sdt_at(img, le64(x + off), sig);
	}
	fail_msg("%s not in the XSDT", sig);
	return NULL;
}

/* ---- AML emitter ----------------------------------------------------- */

static void assert_aml(struct aml *a, const uint8_t *want, size_t len)
{
	assert_int_equal(aml_finish(a), 0);
	assert_int_equal(a->len, len);
	assert_memory_equal(a->buf, want, len);
	aml_free(a);
}

static void check_integer(uint64_t v, const uint8_t *want, size_t len)
{
	struct aml a;

	aml_init(&a);
	aml_integer(&a, v);
	assert_aml(&a, want, len);
}

static void test_aml_integer_shortest_encoding(void **state)
{
	check_integer(0, (const uint8_t[]){ 0x00 }, 1);
	check_integer(1, (const uint8_t[]){ 0x01 }, 1);
	check_integer(2, (const uint8_t[]){ 0x0a, 0x02 }, 2);
	check_integer(0xff, (const uint8_t[]){ 0x0a, 0xff }, 2);
	check_integer(0x100, (const uint8_t[]){ 0x0b, 0x00, 0x01 }, 3);
	check_integer(0xffff, (const uint8_t[]){ 0x0b, 0xff, 0xff }, 3);
	check_integer(0x10000, (const uint8_t[]){ 0x0c, 0x00, 0x00, 0x01, 0x00 }, 5);
	check_integer(0xfee00000, (const uint8_t[]){ 0x0c, 0x00, 0x00, 0xe0, 0xfe }, 5);
	check_integer(0x100000000ull,
		      (const uint8_t[]){ 0x0e, 0, 0, 0, 0, 1, 0, 0, 0 }, 9);
	check_integer(UINT64_MAX, (const uint8_t[]){ 0x0e, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
						     0xff, 0xff }, 9);
}

static void check_name_string(const char *path, const uint8_t *want, size_t len)
{
	struct aml a;

	aml_init(&a);
	aml_name_string(&a, path);
	assert_aml(&a, want, len);
}

static void test_aml_name_strings(void **state)
{
	check_name_string("_S5", (const uint8_t *)"_S5_", 4);
	check_name_string("\\_SB", (const uint8_t *)"\\_SB_", 5);
	check_name_string("\\_SB.COM1", (const uint8_t *)"\\\x2e_SB_COM1", 10);
	check_name_string("\\_SB.PCI0.ISA", (const uint8_t *)"\\\x2f\x03_SB_PCI0ISA_", 15);
	check_name_string("^^C1", (const uint8_t *)"^^C1__", 6);
	check_name_string("\\", (const uint8_t *)"\\\0", 2);
}

static void test_aml_eisaid(void **state)
{
	struct aml a;

	aml_init(&a);
	aml_eisaid(&a, "PNP0501");
	aml_eisaid(&a, "PNP0A03");
	assert_aml(&a, (const uint8_t[]){ 0x0c, 0x41, 0xd0, 0x05, 0x01, 0x0c, 0x41, 0xd0, 0x0a, 0x03 },
		   10);
}

static void test_aml_package_counts_elements(void **state)
{
	struct aml a;

	aml_init(&a);
	aml_name(&a, "\\_S5");
	aml_package_begin(&a);
	aml_integer(&a, 5);
	aml_integer(&a, 5);
	aml_package_begin(&a); /* a nested package is one element */
	aml_string(&a, "A");
	aml_end(&a);
	aml_integer(&a, 0);
	aml_end(&a);
	assert_aml(&a,
		   (const uint8_t[]){ 0x08, '\\', '_', 'S', '5', '_', 0x12, 0x0d, 0x04, 0x0a, 5, 0x0a,
				      5, 0x12, 0x05, 0x01, 0x0d, 'A', 0, 0x00 },
		   20);
}

/* PkgLength as ACPI 6.4 section 20.2.4 defines it. */
static size_t decode_pkglength(const uint8_t *p, size_t *nbytes)
{
	size_t n = (size_t)(p[0] >> 6) + 1, v;

	*nbytes = n;
	if (n == 1)
		return p[0] & 0x3f;
	v = p[0] & 0x0f;
	for (size_t i = 1; i < n; i++)
		v |= (size_t)p[i] << (4 + 8 * (i - 1));
	return v;
}

/* A Buffer of n bytes: PkgLength covers itself, BufferSize and the bytes. */
static void check_buffer_of(size_t n, size_t want_pkg_bytes)
{
	uint8_t *data = calloc(1, n);
	size_t pkg_bytes, len;
	struct aml a;

	assert_non_null(data);
	aml_init(&a);
	aml_buffer_begin(&a);
	aml_put_bytes(&a, data, n);
	aml_end(&a);
	assert_int_equal(aml_finish(&a), 0);
	assert_int_equal(a.buf[0], 0x11);
	len = decode_pkglength(a.buf + 1, &pkg_bytes);
	assert_int_equal(pkg_bytes, want_pkg_bytes);
	assert_int_equal(len, a.len - 1);
	aml_free(&a);
	free(data);
}

static void test_aml_pkglength_boundaries(void **state)
{
	check_buffer_of(0, 1);
	check_buffer_of(1, 1);
	check_buffer_of(60, 1);   /* 1 + 2 + 60 = 63: the largest one-byte length */
	check_buffer_of(61, 2);   /* 64 */
	check_buffer_of(4000, 2); /* 2 + 3 + 4000 < 4096 */
	check_buffer_of(4092, 3); /* crosses 4095 */
	check_buffer_of(1u << 20, 4);
}

static void test_aml_resource_descriptors(void **state)
{
	const uint32_t gsis[] = { 5, 0x20 };
	struct aml a;

	aml_init(&a);
	aml_resource_template_begin(&a);
	aml_io(&a, true, 0x3f8, 0x3f8, 1, 8);
	aml_irq_noflags(&a, 4);
	aml_memory32_fixed(&a, true, 0xfec00000, 0x1000);
	aml_interrupt(&a, AML_LEVEL, AML_ACTIVE_LOW, true, gsis, 2);
	aml_resource_template_end(&a);
	assert_aml(&a,
		   (const uint8_t[]){
			   0x11, 0x29, 0x0a, 0x26,                         /* Buffer (38) */
			   0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08, /* IO */
			   0x22, 0x10, 0x00,                               /* IRQNoFlags {4} */
			   0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0xc0, 0xfe, 0x00, 0x10, 0x00, 0x00,
			   0x89, 0x0a, 0x00, 0x0d, 0x02, 0x05, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00,
			   0x79, 0x00, /* EndTag */
		   },
		   42);
}

static void test_aml_method_and_device(void **state)
{
	struct aml a;

	aml_init(&a);
	aml_device_begin(&a, "DEV0");
	aml_method_begin(&a, "_STA", 0, false);
	aml_return(&a);
	aml_integer(&a, 0xf);
	aml_end(&a);
	aml_end(&a);
	assert_aml(&a,
		   (const uint8_t[]){ 0x5b, 0x82, 0x0f, 'D', 'E', 'V', '0', 0x14, 0x09, '_', 'S', 'T',
				      'A', 0x00, 0xa4, 0x0a, 0x0f },
		   17);
}

/* Each broken input must make aml_finish() fail, and free cleanly. */
static void test_aml_errors_are_sticky(void **state)
{
	static const char *bad_names[] = { "com1", "COM12", "1COM", "", "\\_SB..X", "A-B" };
	struct aml a;

	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		aml_init(&a);
		aml_device_begin(&a, bad_names[i]);
		aml_end(&a);
		assert_int_equal(aml_finish(&a), -1);
		aml_free(&a);
	}
	aml_init(&a);
	aml_end(&a); /* nothing open */
	assert_int_equal(aml_finish(&a), -1);
	aml_free(&a);

	aml_init(&a);
	aml_scope_begin(&a, "\\_SB"); /* never closed */
	assert_int_equal(aml_finish(&a), -1);
	aml_free(&a);

	aml_init(&a);
	aml_irq_noflags(&a, 16);
	assert_int_equal(aml_finish(&a), -1);
	aml_free(&a);

	aml_init(&a);
	aml_eisaid(&a, "PNP05G1");
	assert_int_equal(aml_finish(&a), -1);
	aml_free(&a);

	aml_init(&a);
	aml_package_begin(&a);
	for (int i = 0; i < 256; i++)
		aml_integer(&a, 0);
	aml_end(&a);
	assert_int_equal(aml_finish(&a), -1);
	aml_free(&a);

	aml_init(&a);
	for (int i = 0; i <= AML_MAX_DEPTH; i++)
		aml_scope_begin(&a, "X");
	assert_int_equal(aml_finish(&a), -1);
	aml_free(&a);
}

/* ---- Tables as installed --------------------------------------------- */

static const struct {
	int ncpus, nuarts;
} layouts[] = { { 1, 1 }, { 2, 2 }, { 4, 2 }, { 4, 0 }, { ACPI_MAX_CPUS, ACPI_MAX_UARTS } };

#define NLAYOUTS (sizeof(layouts) / sizeof(layouts[0]))

static void check_rsdp(const struct image *img)
{
	const uint8_t *p = rsdp(img);

	assert_memory_equal(p, "RSD PTR ", 8);
	assert_int_equal(byte_sum(p, 20), 0);
	assert_int_equal(byte_sum(p, 36), 0);
	assert_memory_equal(p + 9, "KHYVE ", 6);
	assert_int_equal(p[15], 2);
	assert_int_equal(le32(p + 20), 36);
	(void)sdt_at(img, le32(p + 16), "RSDT");
	(void)sdt_at(img, le64(p + 24), "XSDT");
}

static void test_rsdp(void **state)
{
	struct acpi_config cfg;

	for (size_t i = 0; i < NLAYOUTS; i++) {
		struct image img;

		make_config(&cfg, layouts[i].ncpus, layouts[i].nuarts);
		img = install(&cfg);
		check_rsdp(&img);
		free(img.mem);
	}
}

/* RSDT and XSDT list FACP and APIC, at the same addresses. */
static void check_root_tables(const struct image *img)
{
	const uint8_t *x = xsdt(img);
	const uint8_t *r = sdt_at(img, le32(rsdp(img) + 16), "RSDT");
	static const char *want[] = { "FACP", "APIC", "MCFG" };

	assert_int_equal(le32(x + 4), 36 + 8 * 3);
	assert_int_equal(le32(r + 4), 36 + 4 * 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(le64(x + 36 + 8 * i), le32(r + 36 + 4 * i));
		(void)sdt_at(img, le64(x + 36 + 8 * i), want[i]);
	}
}

static void test_root_tables_and_checksums(void **state)
{
	struct acpi_config cfg;

	for (size_t i = 0; i < NLAYOUTS; i++) {
		struct image img;

		make_config(&cfg, layouts[i].ncpus, layouts[i].nuarts);
		img = install(&cfg);
		check_root_tables(&img); /* sdt_at() checks every checksum */
		free(img.mem);
	}
}

static void check_gas_io(const uint8_t *gas, uint8_t width, uint8_t access, uint64_t port)
{
	assert_int_equal(gas[0], 1); /* SystemIO */
	assert_int_equal(gas[1], width);
	assert_int_equal(gas[2], 0);
	assert_int_equal(gas[3], access);
	assert_int_equal(le64(gas + 4), port);
}

static void check_fadt_pointers(const struct image *img, const uint8_t *f)
{
	const uint8_t *facs;

	/* 32- and 64-bit forms agree. */
	assert_int_equal(le32(f + 36), le64(f + 132));
	assert_int_equal(le32(f + 40), le64(f + 140));
	(void)sdt_at(img, le64(f + 140), "DSDT");
	assert_int_equal(le64(f + 132) % 64, 0);
	facs = at_gpa(img, le64(f + 132), 64);
	assert_memory_equal(facs, "FACS", 4);
	assert_int_equal(le32(facs + 4), 64);
	assert_int_equal(facs[32], 2); /* version */
}

static void check_fadt_fixed_hardware(const uint8_t *f)
{
	uint32_t flags = le32(f + 112);

	assert_int_equal(le16(f + 46), ACPI_SCI_IRQ);
	assert_int_equal(le32(f + 48), 0); /* SMI_CMD: always in ACPI mode */
	assert_int_equal(le32(f + 56), ACPI_PM1A_EVT_PORT);
	assert_int_equal(le32(f + 64), ACPI_PM1A_CNT_PORT);
	assert_int_equal(le32(f + 76), ACPI_PM_TMR_PORT);
	assert_int_equal(f[88], 4);  /* PM1_EVT_LEN */
	assert_int_equal(f[89], 2);  /* PM1_CNT_LEN */
	assert_int_equal(f[91], 4);  /* PM_TMR_LEN */
	assert_int_equal(le16(f + 109) & 0x02, 0); /* no 8042 */
	assert_int_equal(le16(f + 109) & 0x04, 0x04); /* no VGA */
	assert_int_equal(le16(f + 109) & 0x28, 0); /* MSI ok, CMOS RTC present */
	assert_int_equal(flags & (1u << 0), 1u << 0);   /* WBINVD */
	assert_int_equal(flags & (1u << 2), 1u << 2);   /* PROC_C1 */
	assert_int_equal(flags & (1u << 4), 0);         /* power button: fixed */
	assert_int_equal(flags & (1u << 5), 1u << 5);   /* no sleep button */
	assert_int_equal(flags & (1u << 8), 0);         /* 24-bit PM timer */
	assert_int_equal(flags & (1u << 10), 1u << 10); /* RESET_REG_SUP */
	assert_int_equal(flags & (1u << 20), 0);        /* not hardware-reduced */
	check_gas_io(f + 116, 8, 1, ACPI_RESET_PORT);
	assert_int_equal(f[128], ACPI_RESET_VALUE);
	check_gas_io(f + 148, 32, 2, ACPI_PM1A_EVT_PORT);
	check_gas_io(f + 172, 16, 2, ACPI_PM1A_CNT_PORT);
	check_gas_io(f + 208, 32, 3, ACPI_PM_TMR_PORT);
}

static void test_fadt(void **state)
{
	struct acpi_config cfg;
	struct image img;
	const uint8_t *f;

	make_config(&cfg, 2, 2);
	img = install(&cfg);
	f = find_sdt(&img, "FACP");
	assert_int_equal(le32(f + 4), 276);
	assert_int_equal(f[8], 6);
	check_fadt_pointers(&img, f);
	check_fadt_fixed_hardware(f);
	free(img.mem);
}

/* Walk the MADT's entries, checking each CPU's against the config. */
static void check_madt(const struct image *img, const struct acpi_config *cfg)
{
	const uint8_t *m = find_sdt(img, "APIC");
	uint32_t len = le32(m + 4);
	int cpus = 0, ioapics = 0, sci_overrides = 0, nmis = 0, x2nmis = 0;
	bool any_x2apic = false;

	assert_int_equal(le32(m + 36), LAPIC_BASE);
	assert_int_equal(le32(m + 40), 1); /* PCAT_COMPAT */
	for (uint32_t off = 44; off < len; off += m[off + 1]) {
		const uint8_t *e = m + off;

		assert_true(e[1] >= 2 && off + e[1] <= len);
		switch (e[0]) {
		case 0: /* Processor Local APIC */
			assert_int_equal(e[2], cpus);
			assert_int_equal(e[3], cfg->apic_ids[cpus]);
			assert_int_equal(le32(e + 4), 1);
			cpus++;
			break;
		case 9: /* Processor Local x2APIC */
			assert_true(cfg->apic_ids[cpus] >= 255);
			assert_int_equal(le32(e + 4), cfg->apic_ids[cpus]);
			assert_int_equal(le32(e + 8), 1);
			assert_int_equal(le32(e + 12), cpus);
			any_x2apic = true;
			cpus++;
			break;
		case 1: /* I/O APIC */
			assert_int_equal(e[2], cfg->ioapic_id);
			assert_int_equal(le32(e + 4), IOAPIC_BASE);
			assert_int_equal(le32(e + 8), 0);
			ioapics++;
			break;
		case 2: /* Interrupt Source Override: only the SCI's */
			assert_int_equal(e[3], ACPI_SCI_IRQ);
			assert_int_equal(le32(e + 4), ACPI_SCI_IRQ);
			assert_int_equal(le16(e + 8), 0x000d);
			sci_overrides++;
			break;
		case 4: /* Local APIC NMI */
			assert_int_equal(e[2], 0xff);
			assert_int_equal(e[5], 1);
			nmis++;
			break;
		case 10: /* Local x2APIC NMI */
			assert_int_equal(le32(e + 4), 0xffffffffu);
			assert_int_equal(e[8], 1);
			x2nmis++;
			break;
		default:
			fail_msg("unexpected MADT entry type %u", e[0]);
		}
	}
	assert_int_equal(cpus, cfg->ncpus);
	assert_int_equal(ioapics, 1);
	assert_int_equal(sci_overrides, 1);
	assert_int_equal(nmis, 1);
	assert_int_equal(x2nmis, any_x2apic ? 1 : 0);
}

static void test_madt(void **state)
{
	struct acpi_config cfg;

	for (size_t i = 0; i < NLAYOUTS; i++) {
		struct image img;

		make_config(&cfg, layouts[i].ncpus, layouts[i].nuarts);
		img = install(&cfg);
		check_madt(&img, &cfg);
		free(img.mem);
	}
}

static void test_madt_x2apic_ids(void **state)
{
	struct acpi_config cfg;
	struct image img;

	make_config(&cfg, 4, 1);
	cfg.apic_ids[2] = 255;
	cfg.apic_ids[3] = 0x12345;
	img = install(&cfg);
	check_madt(&img, &cfg);
	free(img.mem);
}

/* Everything fits the 64 KiB direct-boot area, even the largest config. */
static void test_largest_config_fits(void **state)
{
	struct acpi_config cfg;
	struct image img;

	make_config(&cfg, ACPI_MAX_CPUS, ACPI_MAX_UARTS);
	img = install(&cfg);
	assert_true(img.used <= AREA_LEN);
	free(img.mem);
}

/* ---- Invalid input --------------------------------------------------- */

static void assert_build_fails(const struct acpi_config *cfg)
{
	struct acpi_tables t;

	assert_int_equal(acpi_build(cfg, &t), -1);
	acpi_tables_free(&t);
}

static void test_invalid_config(void **state)
{
	struct acpi_config cfg;

	make_config(&cfg, 0, 1);
	assert_build_fails(&cfg);
	make_config(&cfg, 1, 1);
	cfg.ncpus = -1;
	assert_build_fails(&cfg);
	cfg.ncpus = ACPI_MAX_CPUS + 1;
	assert_build_fails(&cfg);

	make_config(&cfg, 2, 1);
	cfg.nuarts = ACPI_MAX_UARTS + 1;
	assert_build_fails(&cfg);
	cfg.nuarts = -1;
	assert_build_fails(&cfg);

	make_config(&cfg, 2, 1);
	cfg.apic_ids[1] = cfg.apic_ids[0]; /* duplicate APIC ID */
	assert_build_fails(&cfg);

	make_config(&cfg, 2, 2);
	cfg.uarts[1].name = "COM1"; /* duplicate device name */
	assert_build_fails(&cfg);
	cfg.uarts[1].name = "com2"; /* not a valid AML NameSeg */
	assert_build_fails(&cfg);
	cfg.uarts[1].name = "SERIAL";
	assert_build_fails(&cfg);
	cfg.uarts[1].name = "COM2";
	cfg.uarts[1].irq = 16; /* not an ISA IRQ */
	assert_build_fails(&cfg);
}

static void test_unnamed_uart_defaults(void **state)
{
	struct acpi_config cfg;
	struct acpi_tables t;

	make_config(&cfg, 1, 2);
	cfg.uarts[0].name = NULL; /* becomes COM1 */
	assert_int_equal(acpi_build(&cfg, &t), 0);
	acpi_tables_free(&t);
	cfg.uarts[1].name = "COM1"; /* clashes with the default */
	assert_build_fails(&cfg);
}

static void test_install_failures(void **state)
{
	struct acpi_config cfg;
	struct acpi_tables t;
	uint8_t *mem = calloc(1, AREA_LEN);
	size_t used;

	assert_non_null(mem);
	make_config(&cfg, 4, 2);
	assert_int_equal(acpi_build(&cfg, &t), 0);
	used = acpi_install(&t, mem, BOOT_GPA, AREA_LEN);
	assert_true(used > 0);
	assert_int_equal(acpi_install(&t, mem, BOOT_GPA, used), used); /* exact fit */
	assert_int_equal(acpi_install(&t, mem, BOOT_GPA, used - 1), 0);
	assert_int_equal(acpi_install(&t, mem, BOOT_GPA, 16), 0);
	assert_int_equal(acpi_install(&t, mem, BOOT_GPA, 0), 0);
	/* The RSDP must be 16-byte aligned at the start. */
	assert_int_equal(acpi_install(&t, mem, BOOT_GPA + 8, AREA_LEN), 0);
	/* The RSDT and FADT hold 32-bit pointers: nothing above 4 GiB. */
	assert_int_equal(acpi_install(&t, mem, 0x100000000ull, AREA_LEN), 0);
	acpi_tables_free(&t);
	free(mem);
}

/* Same config, same bytes: nothing depends on memory state or addresses. */
static void test_deterministic(void **state)
{
	struct acpi_config cfg;
	struct image a, b;

	make_config(&cfg, 4, 2);
	a = install(&cfg);
	b = install(&cfg);
	assert_int_equal(a.used, b.used);
	assert_memory_equal(a.mem, b.mem, a.used);
	free(a.mem);
	free(b.mem);
}

/* ---- iasl ------------------------------------------------------------ */

struct tmpdir {
	char path[64];
};

static void tmpdir_make(struct tmpdir *d)
{
	snprintf(d->path, sizeof(d->path), "/tmp/khyve-acpi-XXXXXX");
	assert_non_null(mkdtemp(d->path));
}

static void tmpdir_remove(struct tmpdir *d)
{
	DIR *dir = opendir(d->path);
	struct dirent *e;

	assert_non_null(dir);
	while ((e = readdir(dir)) != NULL) {
		char file[400];

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(file, sizeof(file), "%s/%s", d->path, e->d_name);
		unlink(file);
	}
	closedir(dir);
	assert_int_equal(rmdir(d->path), 0);
}

static void write_file(const struct tmpdir *d, const char *name, const void *p, size_t len)
{
	char file[128];
	FILE *f;

	snprintf(file, sizeof(file), "%s/%s", d->path, name);
	f = fopen(file, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* The whole file, NUL-terminated (binary files: see *len). Caller frees. */
static char *read_file(const struct tmpdir *d, const char *name, size_t *len)
{
	char file[128], *buf;
	struct stat st;
	FILE *f;

	snprintf(file, sizeof(file), "%s/%s", d->path, name);
	f = fopen(file, "rb");
	if (!f)
		fail_msg("cannot open %s", file);
	assert_int_equal(fstat(fileno(f), &st), 0);
	buf = calloc(1, (size_t)st.st_size + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)st.st_size, f), (size_t)st.st_size);
	fclose(f);
	if (len)
		*len = (size_t)st.st_size;
	return buf;
}

/*
 * Run iasl with "args" inside the temp dir, stdout and stderr captured in
 * iasl.log. Returns its exit status (-1 if it died); *log is malloc'ed.
 */
static int run_iasl(const struct tmpdir *d, const char *const *args, char **log)
{
	char *argv[8] = { "iasl" };
	int status, fd;
	pid_t pid;

	for (int i = 0; i < 6 && args[i]; i++)
		argv[i + 1] = (char *)args[i];
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (chdir(d->path) < 0)
			_exit(126);
		fd = open("iasl.log", O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(126);
		execvp("iasl", argv);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	*log = read_file(d, "iasl.log", NULL);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static bool have_iasl(void)
{
	struct tmpdir d;
	char *log;
	int rc;

	tmpdir_make(&d);
	rc = run_iasl(&d, (const char *const[]){ "-v", NULL }, &log);
	free(log);
	tmpdir_remove(&d);
	return rc == 0;
}

/* Words iasl uses when something is off (wrong checksum, bad opcode, ...). */
static void assert_no_complaints(const char *text, const char *what)
{
	static const char *bad[] = { "Error", "Warning", "Incorrect", "Invalid", "Unknown",
				     "**** " };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (strstr(text, bad[i])) {
			fprintf(stderr, "%s: iasl says \"%s\":\n", what, bad[i]);
			fputs(text, stderr);
			fail();
		}
	}
}

/* Disassemble "<sig>.dat"; the .dsl must be clean. Returns the .dsl text. */
static char *disassemble(const struct tmpdir *d, const char *sig, const uint8_t *p,
			 size_t len)
{
	char dat[16], dsl[16], *log, *text;
	int rc;

	snprintf(dat, sizeof(dat), "%s.dat", sig);
	snprintf(dsl, sizeof(dsl), "%s.dsl", sig);
	write_file(d, dat, p, len);
	rc = run_iasl(d, (const char *const[]){ "-d", dat, NULL }, &log);
	if (rc != 0 || (!strstr(log, "Formatted output") && !strstr(log, "ASL Output")))
		fail_msg("iasl -d %s: exit %d\n%s", dat, rc, log);
	assert_no_complaints(log, dat);
	free(log);
	text = read_file(d, dsl, NULL);
	assert_no_complaints(text, dsl);
	return text;
}

/* Every table reachable from the RSDP (iasl cannot read a bare RSDP). */
static void disassemble_all(const struct tmpdir *d, const struct image *img)
{
	const uint8_t *x = xsdt(img), *f = find_sdt(img, "FACP");
	const uint8_t *tables[8];
	int n = 0;

	tables[n++] = x;
	tables[n++] = at_gpa(img, le32(rsdp(img) + 16), 36);
	for (uint32_t off = 36; off < le32(x + 4); off += 8)
		tables[n++] = at_gpa(img, le64(x + off), 36);
	tables[n++] = at_gpa(img, le64(f + 140), 36);
	tables[n++] = at_gpa(img, le64(f + 132), 64);
	for (int i = 0; i < n; i++) {
		char sig[5] = "";

		memcpy(sig, tables[i], 4);
		free(disassemble(d, sig, tables[i], le32(tables[i] + 4))); /* FACS too */
	}
}

static void test_iasl_accepts_every_table(void **state)
{
	struct acpi_config cfg;

	if (!have_iasl())
		skip();
	for (size_t i = 0; i < NLAYOUTS; i++) {
		struct image img;
		struct tmpdir d;

		make_config(&cfg, layouts[i].ncpus, layouts[i].nuarts);
		img = install(&cfg);
		tmpdir_make(&d);
		disassemble_all(&d, &img);
		tmpdir_remove(&d);
		free(img.mem);
	}
}

static void assert_contains(const char *text, const char *s)
{
	if (!strstr(text, s)) {
		fprintf(stderr, "\"%s\" missing from:\n", s);
		fputs(text, stderr);
		fail();
	}
}

/*
 * Compile the disassembly back without optimizations: the AML (all but the
 * header, which names iasl as creator) must be ours byte for byte.
 */
static void assert_reassembles(const struct tmpdir *d, const uint8_t *dsdt, size_t len)
{
	char *log, *aml;
	size_t aml_len;
	int rc;

	rc = run_iasl(d, (const char *const[]){ "-oa", "DSDT.dsl", NULL }, &log);
	if (rc != 0 || !strstr(log, "0 Errors, 0 Warnings"))
		fail_msg("iasl DSDT.dsl: exit %d\n%s", rc, log);
	free(log);
	aml = read_file(d, "DSDT.aml", &aml_len);
	assert_int_equal(aml_len, len);
	assert_memory_equal(aml + 36, dsdt + 36, len - 36);
	free(aml);
}

static void test_iasl_dsdt_contents(void **state)
{
	struct acpi_config cfg;
	const uint8_t *dsdt;
	struct image img;
	struct tmpdir d;
	char *dsl;

	if (!have_iasl())
		skip();
	make_config(&cfg, 4, 2);
	img = install(&cfg);
	dsdt = sdt_at(&img, le64(find_sdt(&img, "FACP") + 140), "DSDT");
	tmpdir_make(&d);
	dsl = disassemble(&d, "DSDT", dsdt, le32(dsdt + 4));
	assert_contains(dsl, "Name (\\_S5, Package (0x04)");
	assert_contains(dsl, "_S5_");
	assert_contains(dsl, "Device (COM1)");
	assert_contains(dsl, "Device (COM2)");
	assert_contains(dsl, "EisaId (\"PNP0501\")");
	assert_contains(dsl, "0x02F8,             // Range Minimum");
	assert_contains(dsl, "IRQNoFlags ()\n                    {3}");
	assert_contains(dsl, "Device (C003)");
	assert_contains(dsl, "\"ACPI0007\"");
	/* PCI host bridge: PCIe-style for ECAM, windows, INTx routing. */
	assert_contains(dsl, "Device (PCI0)");
	assert_contains(dsl, "EisaId (\"PNP0A08\")");
	assert_contains(dsl, "EisaId (\"PNP0C02\")");
	assert_contains(dsl, "0xC0000000,         // Range Minimum");
	assert_contains(dsl, "0xDFFFFFFF,         // Range Maximum");
	assert_contains(dsl, "Name (_PRT, Package (0x80)");
	/* Slot 31 INTD: 16 + (31 + 3) % 8 = 18. */
	assert_contains(dsl, "0x001FFFFF, \n                    0x03, \n                    Zero, \n                    0x12");
	free(dsl);
	assert_reassembles(&d, dsdt, le32(dsdt + 4));
	tmpdir_remove(&d);
	free(img.mem);
}

/*
 * The i440FX layout firmware expects: no ECAM, so no MCFG in the root tables
 * and no PNP0C02 reservation; the DSDT's window is the firmware's PCI hole.
 */
static void test_firmware_layout_without_ecam(void **state)
{
	struct acpi_config cfg;
	const uint8_t *x, *dsdt;
	struct image img;
	struct tmpdir d;
	char *dsl;

	make_config(&cfg, 2, 1);
	cfg.no_ecam = true;
	cfg.mmio32_base = 0x10000000;
	cfg.mmio32_end = IOAPIC_BASE;
	img = install(&cfg);
	x = xsdt(&img);
	assert_int_equal(le32(x + 4), 36 + 8 * 2);
	(void)sdt_at(&img, le64(x + 36), "FACP");
	(void)sdt_at(&img, le64(x + 44), "APIC");
	assert_int_equal(le32(sdt_at(&img, le32(rsdp(&img) + 16), "RSDT") + 4), 36 + 4 * 2);
	if (!have_iasl()) {
		free(img.mem);
		skip();
	}
	dsdt = sdt_at(&img, le64(find_sdt(&img, "FACP") + 140), "DSDT");
	tmpdir_make(&d);
	dsl = disassemble(&d, "DSDT", dsdt, le32(dsdt + 4));
	assert_contains(dsl, "0x10000000,         // Range Minimum");
	assert_contains(dsl, "0xFEBFFFFF,         // Range Maximum");
	assert_null(strstr(dsl, "PNP0C02"));
	free(dsl);
	tmpdir_remove(&d);
	free(img.mem);
}

/* The biggest DSDT has multi-byte PkgLengths; it must round-trip too. */
static void test_iasl_largest_dsdt_reassembles(void **state)
{
	struct acpi_config cfg;
	const uint8_t *dsdt;
	struct image img;
	struct tmpdir d;

	if (!have_iasl())
		skip();
	make_config(&cfg, ACPI_MAX_CPUS, ACPI_MAX_UARTS);
	img = install(&cfg);
	dsdt = sdt_at(&img, le64(find_sdt(&img, "FACP") + 140), "DSDT");
	tmpdir_make(&d);
	free(disassemble(&d, "DSDT", dsdt, le32(dsdt + 4)));
	assert_reassembles(&d, dsdt, le32(dsdt + 4));
	tmpdir_remove(&d);
	free(img.mem);
}

/* The emitter's other constructs, checked against iasl the same way. */
static void test_iasl_emitter_constructs(void **state)
{
	const uint32_t gsis[] = { 16, 17 };
	struct acpi_config cfg;
	const uint8_t *real;
	struct image img;
	struct tmpdir d;
	uint8_t *dsdt;
	size_t len;
	struct aml a;

	if (!have_iasl())
		skip();
	/* Borrow a real header, then append AML the tables don't use yet. */
	make_config(&cfg, 1, 0);
	img = install(&cfg);
	real = sdt_at(&img, le64(find_sdt(&img, "FACP") + 140), "DSDT");
	aml_init(&a);
	aml_put_bytes(&a, real, 36);
	aml_scope_begin(&a, "\\_SB");
	aml_device_begin(&a, "DEV0");
	aml_name_eisaid(&a, "_HID", "PNP0A03");
	aml_name_integer(&a, "BIG_", 0x123456789ull);
	aml_name_str(&a, "STR_", "hello");
	aml_method_begin(&a, "_STA", 0, false);
	aml_return(&a);
	aml_integer(&a, 0xf);
	aml_end(&a);
	aml_method_begin(&a, "MTH2", 2, true);
	aml_return(&a);
	aml_name_string(&a, "\\_SB.DEV0.BIG");
	aml_end(&a);
	aml_name_resource_template_begin(&a, "_CRS");
	aml_memory32_fixed(&a, true, IOAPIC_BASE, 0x1000);
	aml_memory32_fixed(&a, false, 0xfed00000, 0x400);
	aml_interrupt(&a, AML_LEVEL, AML_ACTIVE_LOW, true, gsis, 2);
	aml_interrupt(&a, AML_EDGE, AML_ACTIVE_HIGH, false, gsis, 1);
	aml_io(&a, false, 0x60, 0x60, 0, 1);
	/* A 64-bit window, which the DSDT does not use yet. */
	aml_qword_memory(&a, false, 0x8000000000ull, 0xffffffffffull);
	aml_resource_template_end(&a);
	aml_name(&a, "PKG_");
	aml_package_begin(&a);
	aml_package_begin(&a);
	aml_integer(&a, 0xffff);
	aml_string(&a, "x");
	aml_end(&a);
	aml_integer(&a, 0x10000);
	aml_end(&a);
	aml_end(&a);
	aml_end(&a);
	assert_int_equal(aml_finish(&a), 0);
	dsdt = aml_take(&a, &len);
	for (int i = 0; i < 4; i++)
		dsdt[4 + i] = (uint8_t)(len >> (8 * i));
	dsdt[9] = 0;
	dsdt[9] = (uint8_t)-byte_sum(dsdt, len);

	tmpdir_make(&d);
	char *dsl = disassemble(&d, "DSDT", dsdt, len);

	assert_contains(dsl, "QWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, "
			     "NonCacheable, ReadWrite,");
	assert_contains(dsl, "0x000000FFFFFFFFFF, // Range Maximum");
	assert_contains(dsl, "0x0000008000000000, // Length");
	free(dsl);
	assert_reassembles(&d, dsdt, len);
	tmpdir_remove(&d);
	free(dsdt);
	free(img.mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_aml_integer_shortest_encoding),
		cmocka_unit_test(test_aml_name_strings),
		cmocka_unit_test(test_aml_eisaid),
		cmocka_unit_test(test_aml_package_counts_elements),
		cmocka_unit_test(test_aml_pkglength_boundaries),
		cmocka_unit_test(test_aml_resource_descriptors),
		cmocka_unit_test(test_aml_method_and_device),
		cmocka_unit_test(test_aml_errors_are_sticky),
		cmocka_unit_test(test_rsdp),
		cmocka_unit_test(test_root_tables_and_checksums),
		cmocka_unit_test(test_fadt),
		cmocka_unit_test(test_madt),
		cmocka_unit_test(test_madt_x2apic_ids),
		cmocka_unit_test(test_largest_config_fits),
		cmocka_unit_test(test_invalid_config),
		cmocka_unit_test(test_unnamed_uart_defaults),
		cmocka_unit_test(test_install_failures),
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_iasl_accepts_every_table),
		cmocka_unit_test(test_iasl_dsdt_contents),
		cmocka_unit_test(test_firmware_layout_without_ecam),
		cmocka_unit_test(test_iasl_largest_dsdt_reassembles),
		cmocka_unit_test(test_iasl_emitter_constructs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
