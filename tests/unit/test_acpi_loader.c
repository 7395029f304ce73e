/*
 * The fw_cfg linker/loader script (src/x86/acpi_loader.c), replayed here the
 * way SeaBIOS's romfile_loader does it, into a fake guest memory. The result
 * must be the tables acpi_install() lays out for a direct boot: every byte
 * the same, except pointer fields (each must hold the address of the same
 * target table in its own layout) and checksums (each must make its range
 * sum to zero).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "hw/fw_cfg.h"
#include "x86/acpi.h"
#include "x86/acpi_loader.h"

#define MEM_SIZE 0x100000u
#define FSEG_BASE 0xf0000u
#define HIGH_BASE 0x80000u
#define INSTALL_GPA 0x10000u

struct replay {
	uint8_t *mem;
	uint64_t fseg_next, high_next;
	uint64_t rsdp_gpa, tables_gpa;
};

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_le(const uint8_t *p, int size)
{
	uint64_t v = 0;

	for (int i = 0; i < size; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static uint64_t *file_gpa(struct replay *r, const char *name)
{
	if (strcmp(name, ACPI_LOADER_RSDP_FILE) == 0)
		return &r->rsdp_gpa;
	assert_string_equal(name, ACPI_LOADER_TABLES_FILE);
	return &r->tables_gpa;
}

static void replay_allocate(struct replay *r, const struct acpi_loader_blobs *b,
			    const uint8_t *c)
{
	const char *name = (const char *)c + 4;
	uint32_t align = le32(c + 4 + LOADER_FILE_LEN);
	uint8_t zone = c[4 + LOADER_FILE_LEN + 4];
	uint64_t *next = zone == LOADER_ZONE_FSEG ? &r->fseg_next : &r->high_next;
	bool rsdp = strcmp(name, ACPI_LOADER_RSDP_FILE) == 0;
	uint32_t len = rsdp ? b->rsdp_len : b->tables_len;
	uint64_t at;

	assert_true(zone == LOADER_ZONE_FSEG || zone == LOADER_ZONE_HIGH);
	assert_true(align != 0 && (align & (align - 1)) == 0);
	at = (*next + align - 1) & ~(uint64_t)(align - 1);
	assert_true(at + len <= MEM_SIZE);
	memcpy(r->mem + at, rsdp ? b->rsdp : b->tables, len);
	*file_gpa(r, name) = at;
	*next = at + len;
}

static void replay_pointer(struct replay *r, const uint8_t *c)
{
	uint64_t dest = *file_gpa(r, (const char *)c + 4);
	uint64_t src = *file_gpa(r, (const char *)c + 4 + LOADER_FILE_LEN);
	uint32_t off = le32(c + 4 + 2 * LOADER_FILE_LEN);
	uint8_t size = c[4 + 2 * LOADER_FILE_LEN + 4];
	uint8_t *field = r->mem + dest + off;
	uint64_t v;

	assert_true(size == 4 || size == 8);
	v = get_le(field, size) + src;
	for (int i = 0; i < size; i++)
		field[i] = (uint8_t)(v >> (8 * i));
}

static void replay_checksum(struct replay *r, const uint8_t *c)
{
	uint64_t base = *file_gpa(r, (const char *)c + 4);
	uint32_t off = le32(c + 4 + LOADER_FILE_LEN), start = le32(c + 4 + LOADER_FILE_LEN + 4);
	uint32_t len = le32(c + 4 + LOADER_FILE_LEN + 8);
	uint8_t sum = 0;

	for (uint32_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + r->mem[base + start + i]);
	r->mem[base + off] = (uint8_t)(r->mem[base + off] - sum);
}

static void replay(struct replay *r, const struct acpi_loader_blobs *b)
{
	assert_int_equal(b->loader_len % LOADER_CMD_SIZE, 0);
	for (uint32_t i = 0; i < b->loader_len; i += LOADER_CMD_SIZE) {
		const uint8_t *c = b->loader + i;

		switch (le32(c)) {
		case LOADER_CMD_ALLOCATE: replay_allocate(r, b, c); break;
		case LOADER_CMD_ADD_POINTER: replay_pointer(r, c); break;
		case LOADER_CMD_ADD_CHECKSUM: replay_checksum(r, c); break;
		default: fail_msg("unknown loader command %u", le32(c));
		}
	}
}

static void make_config(struct acpi_config *cfg, int ncpus)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->ncpus = ncpus;
	for (int i = 0; i < ncpus; i++)
		cfg->apic_ids[i] = (uint32_t)(2 * i + 1);
	cfg->ioapic_id = (uint8_t)(2 * ncpus + 1);
	cfg->nuarts = 2;
	cfg->uarts[0] = (struct acpi_uart){ NULL, 0x3f8, 4 };
	cfg->uarts[1] = (struct acpi_uart){ NULL, 0x2f8, 3 };
}

/* Follow the recorded pointers from the RSDP to find every table in one image. */
static void find_tables(const struct acpi_tables *t, const uint8_t *mem, uint64_t rsdp,
			uint64_t *addr)
{
	bool progress = true;

	for (int i = 0; i < t->ntables; i++)
		addr[i] = UINT64_MAX;
	addr[0] = rsdp;
	while (progress) {
		progress = false;
		for (int i = 0; i < t->npointers; i++) {
			const struct acpi_pointer *p = &t->pointers[i];

			if (addr[p->src_table] == UINT64_MAX || addr[p->dst_table] != UINT64_MAX)
				continue;
			addr[p->dst_table] = get_le(mem + addr[p->src_table] + p->offset, p->size);
			assert_true(addr[p->dst_table] < MEM_SIZE);
			progress = true;
		}
	}
	for (int i = 0; i < t->ntables; i++)
		assert_true(addr[i] != UINT64_MAX);
}

static bool sums_to_zero(const uint8_t *p, uint32_t len)
{
	uint8_t sum = 0;

	for (uint32_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + p[i]);
	return sum == 0;
}

/* Bytes that legitimately differ: pointer fields and checksums. */
static void mask_table(const struct acpi_tables *t, int i, uint8_t *mask)
{
	const struct acpi_table *tbl = &t->tables[i];

	memset(mask, 0, tbl->len);
	for (int k = 0; k < t->npointers; k++)
		if (t->pointers[k].src_table == i)
			memset(mask + t->pointers[k].offset, 1, t->pointers[k].size);
	if (tbl->has_checksum)
		mask[tbl->csum_offset] = 1;
	if (tbl->has_ext_checksum)
		mask[tbl->ext_csum_offset] = 1;
}

static void check_checksums(const struct acpi_table *tbl, const uint8_t *p)
{
	if (tbl->has_checksum)
		assert_true(sums_to_zero(p + tbl->csum_start, tbl->csum_len));
	if (tbl->has_ext_checksum)
		assert_true(sums_to_zero(p, tbl->ext_csum_len));
}

static void compare_images(const struct acpi_tables *t, const uint8_t *a, const uint64_t *aa,
			   const uint8_t *b, const uint64_t *ba)
{
	for (int i = 0; i < t->ntables; i++) {
		const struct acpi_table *tbl = &t->tables[i];
		uint8_t mask[65536];

		assert_true(tbl->len <= sizeof(mask));
		mask_table(t, i, mask);
		for (uint32_t k = 0; k < tbl->len; k++)
			if (!mask[k] && a[aa[i] + k] != b[ba[i] + k])
				fail_msg("table %.4s differs at offset %u", tbl->name, k);
		check_checksums(tbl, a + aa[i]);
		check_checksums(tbl, b + ba[i]);
		/* Alignment holds in both layouts (FACS: 64). */
		if (tbl->align)
			assert_int_equal(ba[i] % tbl->align, 0);
	}
}

static void check_against_install(int ncpus)
{
	struct acpi_config cfg;
	struct acpi_tables t;
	struct acpi_loader_blobs b;
	struct replay r = { .fseg_next = FSEG_BASE, .high_next = HIGH_BASE };
	uint8_t *direct = calloc(1, MEM_SIZE);
	uint64_t direct_addr[16], loader_addr[16];

	r.mem = calloc(1, MEM_SIZE);
	assert_non_null(direct);
	assert_non_null(r.mem);
	make_config(&cfg, ncpus);
	assert_int_equal(acpi_build(&cfg, &t), 0);
	assert_int_not_equal(acpi_install(&t, direct + INSTALL_GPA, INSTALL_GPA,
					  MEM_SIZE - INSTALL_GPA), 0);
	assert_int_equal(acpi_loader_build(&t, &b), 0);
	replay(&r, &b);
	assert_int_equal(r.rsdp_gpa % 16, 0);
	assert_true(r.rsdp_gpa >= FSEG_BASE);
	assert_int_equal(r.tables_gpa % ACPI_LOADER_TABLES_ALIGN, 0);
	find_tables(&t, direct, INSTALL_GPA, direct_addr);
	find_tables(&t, r.mem, r.rsdp_gpa, loader_addr);
	/* Every table was reached inside the right file. */
	for (int i = 1; i < t.ntables; i++)
		assert_true(loader_addr[i] >= r.tables_gpa &&
			    loader_addr[i] + t.tables[i].len <= r.tables_gpa + b.tables_len);
	compare_images(&t, direct, direct_addr, r.mem, loader_addr);
	acpi_loader_free(&b);
	acpi_tables_free(&t);
	free(direct);
	free(r.mem);
}

static void test_replay_matches_install(void **state)
{
	check_against_install(1);
	check_against_install(4);
	check_against_install(ACPI_MAX_CPUS);
}

static void test_script_shape(void **state)
{
	struct acpi_config cfg;
	struct acpi_tables t;
	struct acpi_loader_blobs b;
	int checksums = 0;

	make_config(&cfg, 2);
	assert_int_equal(acpi_build(&cfg, &t), 0);
	assert_int_equal(acpi_loader_build(&t, &b), 0);
	for (int i = 0; i < t.ntables; i++)
		checksums += t.tables[i].has_checksum + t.tables[i].has_ext_checksum;
	assert_int_equal(b.loader_len / LOADER_CMD_SIZE, 2 + t.npointers + checksums);
	/* First the RSDP in the FSEG (align 16), then the tables in high memory. */
	assert_int_equal(le32(b.loader), LOADER_CMD_ALLOCATE);
	assert_string_equal((const char *)b.loader + 4, ACPI_LOADER_RSDP_FILE);
	assert_int_equal(le32(b.loader + 4 + LOADER_FILE_LEN), 16);
	assert_int_equal(b.loader[4 + LOADER_FILE_LEN + 4], LOADER_ZONE_FSEG);
	assert_string_equal((const char *)b.loader + LOADER_CMD_SIZE + 4, ACPI_LOADER_TABLES_FILE);
	assert_int_equal(b.loader[LOADER_CMD_SIZE + 4 + LOADER_FILE_LEN + 4], LOADER_ZONE_HIGH);
	/* The RSDP's checksums come last, the extended one after the first. */
	const uint8_t *last = b.loader + b.loader_len - LOADER_CMD_SIZE;
	assert_int_equal(le32(last), LOADER_CMD_ADD_CHECKSUM);
	assert_string_equal((const char *)last + 4, ACPI_LOADER_RSDP_FILE);
	assert_int_equal(le32(last + 4 + LOADER_FILE_LEN), 32); /* extended checksum byte */
	assert_int_equal(le32(last - LOADER_CMD_SIZE + 4 + LOADER_FILE_LEN), 8);
	assert_int_equal(b.rsdp_len, 36);
	acpi_loader_free(&b);
	acpi_tables_free(&t);
}

static void test_bad_tables_refused(void **state)
{
	struct acpi_config cfg;
	struct acpi_tables t;
	struct acpi_loader_blobs b;

	make_config(&cfg, 1);
	assert_int_equal(acpi_build(&cfg, &t), 0);
	t.pointers[0].size = 3;
	assert_int_equal(acpi_loader_build(&t, &b), -1);
	assert_null(b.loader);
	t.pointers[0].size = 8;
	t.pointers[0].offset = t.tables[t.pointers[0].src_table].len - 4;
	assert_int_equal(acpi_loader_build(&t, &b), -1);
	t.pointers[0].offset = 16;
	t.pointers[0].dst_table = t.ntables;
	assert_int_equal(acpi_loader_build(&t, &b), -1);
	acpi_tables_free(&t);

	assert_int_equal(acpi_build(&cfg, &t), 0);
	t.tables[1].csum_offset = t.tables[1].len;
	assert_int_equal(acpi_loader_build(&t, &b), -1);
	acpi_tables_free(&t);

	assert_int_equal(acpi_build(&cfg, &t), 0);
	t.tables[2].align = 128;
	assert_int_equal(acpi_loader_build(&t, &b), -1);
	acpi_tables_free(&t);
}

static void test_fw_cfg_files(void **state)
{
	struct acpi_config cfg;
	struct acpi_tables t;

	make_config(&cfg, 2);
	assert_int_equal(acpi_build(&cfg, &t), 0);
	assert_int_equal(acpi_loader_add_fw_cfg(&t), 0);
	/* All three are there: adding any again is refused as a duplicate. */
	assert_int_equal(fw_cfg_add_file(ACPI_LOADER_RSDP_FILE, "x", 1), -1);
	assert_int_equal(fw_cfg_add_file(ACPI_LOADER_TABLES_FILE, "x", 1), -1);
	assert_int_equal(fw_cfg_add_file(ACPI_LOADER_FILE, "x", 1), -1);
	fw_cfg_teardown();
	acpi_tables_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replay_matches_install),
		cmocka_unit_test(test_script_shape),
		cmocka_unit_test(test_bad_tables_refused),
		cmocka_unit_test(test_fw_cfg_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
