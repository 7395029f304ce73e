/*
 * SMBIOS tables (src/x86/smbios.c): every structure well formed (header,
 * handles in order, string sets ending in a double NUL, string numbers in
 * range), the entry point's counts, lengths and both checksums, the fields
 * a guest reads (UUID byte order, bhyve's string keys, memory size and
 * ranges, one processor per socket), and an independent reading by
 * dmidecode --from-dump of the bytes smbios_install lays out.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/config.h"
#include "x86/smbios.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)

static const char *const uuid_text = "01234567-89ab-cdef-0011-223344556677";

static struct smbios_config base_config(void)
{
	struct smbios_config c = { .sockets = 2, .cores_per_socket = 2, .threads_per_core = 1,
				   .lowmem = 512 * MiB, .highmem = 0 };

	assert_int_equal(smbios_vm_uuid(uuid_text, "vm", c.uuid), 0);
	return c;
}

static int setup(void **state)
{
	config_init();
	return 0;
}

static int teardown(void **state)
{
	config_free();
	return 0;
}

static uint16_t u16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t u32(const uint8_t *p) { return u16(p) | (uint32_t)u16(p + 2) << 16; }

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n-- > 0)
		s = (uint8_t)(s + *p++);
	return s;
}

/* Walks the table; returns how many structures, checks each on the way. */
static int walk(const struct smbios_tables *t, uint16_t *max_size)
{
	size_t off = 0;
	int n = 0;

	*max_size = 0;
	while (off < t->len) {
		const uint8_t *s = t->structs + off;
		size_t end, nstr = 0;

		assert_true(off + 4 <= t->len);
		assert_true(s[1] >= 4 && off + s[1] + 2 <= t->len);
		assert_int_equal(u16(s + 2), n); /* handles in order */
		end = off + s[1];
		if (t->structs[end] == 0) {
			assert_int_equal(t->structs[end + 1], 0);
			end += 2;
		} else {
			while (t->structs[end] != 0) {
				end += strnlen((const char *)t->structs + end, t->len - end) + 1;
				nstr++;
				assert_true(end < t->len);
			}
			end++;
		}
		/* String references in the formatted area we fill stay in range. */
		if (s[0] == 1)
			for (int f = 4; f <= 7; f++)
				assert_true(s[f] <= nstr);
		if (end - off > *max_size)
			*max_size = (uint16_t)(end - off);
		off = end;
		n++;
		if (s[0] == 127)
			break;
	}
	assert_int_equal(off, t->len);
	return n;
}

static const uint8_t *find(const struct smbios_tables *t, uint8_t type, int nth)
{
	size_t off = 0;

	while (off < t->len) {
		const uint8_t *s = t->structs + off;
		size_t end = off + s[1];

		if (s[0] == type && nth-- == 0)
			return s;
		while (t->structs[end] != 0 || t->structs[end + 1] != 0)
			end++;
		off = end + 2;
	}
	return NULL;
}

static const char *string(const uint8_t *s, int number)
{
	const char *p = (const char *)s + s[1];

	assert_true(number > 0);
	while (--number > 0)
		p += strlen(p) + 1;
	return p;
}

static void test_entry_point(void **state)
{
	struct smbios_config c = base_config();
	struct smbios_tables t;
	uint16_t max_size;
	int n;

	assert_int_equal(smbios_build(&c, &t), 0);
	n = walk(&t, &max_size);
	assert_memory_equal(t.anchor, "_SM_", 4);
	assert_memory_equal(t.anchor + 0x10, "_DMI_", 5);
	assert_int_equal(t.anchor[0x05], 31);
	assert_int_equal(sum(t.anchor, 31), 0);
	assert_int_equal(sum(t.anchor + 0x10, 15), 0);
	assert_int_equal(u16(t.anchor + 0x16), t.len);
	assert_int_equal(u16(t.anchor + 0x1c), n);
	assert_int_equal(u16(t.anchor + 0x08), max_size);
	/* 0, 1, 2, 3, two processors, 16, 17, 19 (low RAM only), 32, 127 */
	assert_int_equal(n, 11);
	smbios_free(&t);
}

static void test_system_uuid_and_strings(void **state)
{
	struct smbios_config c = base_config();
	struct smbios_tables t;
	const uint8_t *s1, *s0;
	static const uint8_t want[16] = { 0x67, 0x45, 0x23, 0x01, 0xab, 0x89, 0xef, 0xcd,
					  0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77 };

	set_config_value("system.product_name", "Test Product");
	set_config_value("system.serial_number", "SN-42");
	set_config_value("bios.vendor", "Test BIOS");
	assert_int_equal(smbios_build(&c, &t), 0);
	s1 = find(&t, 1, 0);
	assert_non_null(s1);
	assert_int_equal(s1[1], 0x1b);
	/* SMBIOS 2.6+: time_low, time_mid, time_hi little-endian. */
	assert_memory_equal(s1 + 8, want, 16);
	assert_string_equal(string(s1, s1[5]), "Test Product");
	assert_string_equal(string(s1, s1[7]), "SN-42");
	assert_string_equal(string(s1, s1[4]), "khyve");
	s0 = find(&t, 0, 0);
	assert_non_null(s0);
	assert_string_equal(string(s0, s0[4]), "Test BIOS");
	assert_int_equal(s0[0x13] & 0x10, 0x10); /* a virtual machine */
	smbios_free(&t);
}

static void test_firmware_has_no_bios_info(void **state)
{
	struct smbios_config c = base_config();
	struct smbios_tables t;
	uint16_t max_size;

	c.firmware = true;
	assert_int_equal(smbios_build(&c, &t), 0);
	assert_null(find(&t, 0, 0));
	assert_non_null(find(&t, 1, 0));
	assert_int_equal(walk(&t, &max_size), 10);
	smbios_free(&t);
}

static void test_memory_and_processors(void **state)
{
	struct smbios_config c = base_config();
	struct smbios_tables t;
	const uint8_t *a, *d, *r0, *r1, *p;

	c.sockets = 3;
	c.cores_per_socket = 4;
	c.threads_per_core = 2;
	c.lowmem = 3 * GiB;
	c.highmem = 61 * GiB; /* 64 GiB in all: past the 16-bit MiB size field */
	assert_int_equal(smbios_build(&c, &t), 0);
	a = find(&t, 16, 0);
	d = find(&t, 17, 0);
	assert_int_equal(u32(a + 7), 64 * GiB >> 10);
	assert_int_equal(u16(d + 4), u16(a + 2)); /* the device is in the array */
	assert_int_equal(u16(d + 0x0c), 0x7fff);
	assert_int_equal(u32(d + 0x1c), 64 * 1024);
	r0 = find(&t, 19, 0);
	r1 = find(&t, 19, 1);
	assert_int_equal(u32(r0 + 4), 0);
	assert_int_equal(u32(r0 + 8), (3 * GiB >> 10) - 1);
	assert_int_equal(u32(r1 + 4), 4 * GiB >> 10);
	assert_int_equal(u32(r1 + 8), (65 * GiB >> 10) - 1);
	assert_null(find(&t, 19, 2));
	for (int i = 0; i < 3; i++) {
		p = find(&t, 4, i);
		assert_non_null(p);
		assert_int_equal(p[0x23], 4);
		assert_int_equal(p[0x25], 8);
		assert_int_equal(p[0x18], 0x41);
	}
	assert_null(find(&t, 4, 3));
	smbios_free(&t);
}

static void test_uuid_parsing(void **state)
{
	uint8_t a[16], b[16];

	assert_int_equal(smbios_vm_uuid("01234567-89AB-cdef-0011-223344556677", "x", a), 0);
	assert_int_equal(a[0], 0x01);
	assert_int_equal(a[7], 0xef);
	assert_int_equal(a[15], 0x77);
	/* The one syntax -U and the config file accept: no bare 32 digits. */
	assert_int_equal(smbios_vm_uuid("0123456789ABCDEF0011223344556677", "x", a), -1);
	assert_int_equal(smbios_vm_uuid("01234567-89ab-cdef-0011-22334455667g", "x", a), -1);
	assert_int_equal(smbios_vm_uuid("not-a-uuid", "x", a), -1);
	assert_int_equal(smbios_vm_uuid("01234567-89ab-cdef-0011-22334455667", "x", a), -1);
	assert_int_equal(smbios_vm_uuid("01234567-89ab-cdef-0011-2233445566778", "x", a), -1);
	/* Without -U: stable per VM name, different between names, RFC 4122 v3. */
	assert_int_equal(smbios_vm_uuid(NULL, "vm1", a), 0);
	assert_int_equal(smbios_vm_uuid(NULL, "vm1", b), 0);
	assert_memory_equal(a, b, 16);
	assert_int_equal(a[6] >> 4, 3);
	assert_int_equal(a[8] >> 6, 2);
	assert_int_equal(smbios_vm_uuid(NULL, "vm2", b), 0);
	assert_memory_not_equal(a, b, 16);
}

static void test_install_bounds(void **state)
{
	struct smbios_config c = base_config();
	struct smbios_tables t;
	uint8_t mem[4096];

	assert_int_equal(smbios_build(&c, &t), 0);
	assert_int_equal(smbios_install(&t, mem, SMBIOS_ADDR, 16), 0);
	assert_int_equal(smbios_install(&t, mem, 0xfff00, sizeof(mem)), 0); /* past 1 MiB */
	assert_int_equal(smbios_install(&t, NULL, SMBIOS_ADDR, sizeof(mem)), 0);
	assert_int_equal(smbios_install(&t, mem, SMBIOS_ADDR, sizeof(mem)), 0x20 + t.len);
	assert_int_equal(u32(mem + 0x18), SMBIOS_ADDR + 0x20);
	assert_int_equal(sum(mem, 31), 0);
	assert_int_equal(sum(mem + 0x10, 15), 0);
	assert_memory_equal(mem + 0x20, t.structs, t.len);
	smbios_free(&t);
}

/* dmidecode's dump format is smbios_install's layout at address 0. */
static void test_dmidecode_reads_it(void **state)
{
	struct smbios_config c = base_config();
	struct smbios_tables t;
	char dir[] = "/tmp/kt-smbios.XXXXXX", path[64], cmd[256], out[8192];
	uint8_t mem[8192];
	size_t used, got;
	FILE *f;

	if (system("command -v dmidecode >/dev/null 2>&1") != 0)
		skip(); /* scripts/install-deps.sh installs it */
	set_config_value("system.product_name", "DMI Check");
	assert_int_equal(smbios_build(&c, &t), 0);
	used = smbios_install(&t, mem, 0, sizeof(mem));
	assert_true(used > 0);
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/dump", dir);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(mem, 1, used, f), used);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "dmidecode --from-dump %s 2>&1", path);
	f = popen(cmd, "r");
	assert_non_null(f);
	got = fread(out, 1, sizeof(out) - 1, f);
	out[got] = '\0';
	assert_int_equal(WEXITSTATUS(pclose(f)), 0);
	unlink(path);
	rmdir(dir);
	if (strstr(out, "UUID: 01234567-89ab-cdef-0011-223344556677") == NULL ||
	    strstr(out, "Product Name: DMI Check") == NULL ||
	    strstr(out, "11 structures occupying") == NULL || strstr(out, "Invalid") != NULL ||
	    strstr(out, "wrong") != NULL || strstr(out, "<OUT OF SPEC>") != NULL ||
	    strstr(out, "Size: 512 MB") == NULL)
		fail_msg("dmidecode says:\n%s", out);
	smbios_free(&t);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_entry_point),
		T(test_system_uuid_and_strings),
		T(test_firmware_has_no_bios_info),
		T(test_memory_and_processors),
		T(test_uuid_parsing),
		T(test_install_bounds),
		T(test_dmidecode_reads_it),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
