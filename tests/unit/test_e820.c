/*
 * The e820 memory map (src/x86/e820.c) for the memory sizes a user picks with
 * -m: RAM split at the 3-4 GiB hole the way vm_setup_memory() splits it,
 * entries sorted and disjoint, no RAM where the EBDA, the VGA/BIOS area or
 * the PCI hole are, and every byte of guest RAM reported exactly once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "lib/vmmapi.h"
#include "x86/acpi.h"
#include "x86/e820.h"
#include "x86/layout.h"

#define KiB 1024ull
#define MiB (1024 * KiB)
#define GiB (1024 * MiB)
#define MAX_ENTRIES 128

/* As vm_setup_memory() splits a size: up to 3 GiB low, the rest at 4 GiB. */
static void split(uint64_t size, uint64_t *lowmem, uint64_t *highmem)
{
	*lowmem = size < VM_LOWMEM_LIMIT ? size : VM_LOWMEM_LIMIT;
	*highmem = size - *lowmem;
}

static uint64_t ram_bytes(const struct e820_entry *m, int n)
{
	uint64_t sum = 0;

	for (int i = 0; i < n; i++)
		if (m[i].type == E820_RAM)
			sum += m[i].size;
	return sum;
}

/* Invariants every map must satisfy; returns the number of entries. */
static int build_and_check(uint64_t size)
{
	struct e820_entry m[MAX_ENTRIES];
	uint64_t lowmem, highmem;
	int n;

	split(size, &lowmem, &highmem);
	n = e820_build(lowmem, highmem, m, MAX_ENTRIES);
	assert_true(n > 0);
	for (int i = 0; i < n; i++) {
		uint64_t end = m[i].addr + m[i].size;

		assert_true(m[i].size > 0);
		assert_true(end > m[i].addr); /* no wrap */
		assert_true(m[i].type == E820_RAM || m[i].type == E820_RESERVED);
		if (i > 0)
			assert_true(m[i - 1].addr + m[i - 1].size <= m[i].addr); /* sorted, disjoint */
		if (m[i].type == E820_RAM) {
			/* Never over the EBDA / VGA / BIOS area, never in the PCI hole. */
			assert_true(end <= EBDA_START || m[i].addr >= BIOS_AREA_END);
			assert_true(end <= VM_LOWMEM_LIMIT || m[i].addr >= VM_HIGHMEM_BASE);
			/* And never beyond the RAM the VM has. */
			if (m[i].addr < VM_HIGHMEM_BASE)
				assert_true(end <= lowmem);
			else
				assert_true(end <= VM_HIGHMEM_BASE + highmem);
		}
	}
	/* Every byte of RAM but the 1 KiB EBDA and the 384 KiB legacy area, once. */
	assert_int_equal(ram_bytes(m, n), size - (BIOS_AREA_END - EBDA_START));
	return n;
}

static void test_16m(void **state)
{
	struct e820_entry m[MAX_ENTRIES];
	int n = e820_build(16 * MiB, 0, m, MAX_ENTRIES);

	assert_int_equal(n, 5);
	assert_int_equal(m[0].addr, 0);
	assert_int_equal(m[0].size, 0x9fc00);
	assert_int_equal(m[0].type, E820_RAM);
	assert_int_equal(m[1].addr, 0x9fc00);
	assert_int_equal(m[1].size, 0x400);
	assert_int_equal(m[1].type, E820_RESERVED);
	assert_int_equal(m[2].addr, 0xe0000);
	assert_int_equal(m[2].size, 0x20000);
	assert_int_equal(m[2].type, E820_RESERVED);
	assert_int_equal(m[3].addr, 1 * MiB);
	assert_int_equal(m[3].size, 15 * MiB);
	assert_int_equal(m[3].type, E820_RAM);
	/* The PCI ECAM area, reserved so that Linux trusts the MCFG: bus 0's MiB. */
	assert_int_equal(m[4].addr, PCI_ECAM_BASE);
	assert_int_equal(m[4].size, 1 * MiB);
	assert_int_equal(m[4].type, E820_RESERVED);
	assert_int_equal(build_and_check(16 * MiB), 5);
}

static void test_256m(void **state)
{
	struct e820_entry m[MAX_ENTRIES];
	int n = e820_build(256 * MiB, 0, m, MAX_ENTRIES);

	assert_int_equal(n, 5);
	assert_int_equal(m[3].addr, 1 * MiB);
	assert_int_equal(m[3].addr + m[3].size, 256 * MiB);
	assert_int_equal(build_and_check(256 * MiB), 5);
}

static void test_exactly_3g_has_nothing_above_4g(void **state)
{
	struct e820_entry m[MAX_ENTRIES];
	int n = e820_build(3 * GiB, 0, m, MAX_ENTRIES);

	assert_int_equal(n, 5);
	assert_int_equal(m[3].addr + m[3].size, 3 * GiB);
	for (int i = 0; i < n; i++)
		assert_true(m[i].addr < 4 * GiB);
	assert_int_equal(build_and_check(3 * GiB), 5);
}

static void test_4g_puts_1g_above_4g(void **state)
{
	struct e820_entry m[MAX_ENTRIES];
	int n = e820_build(3 * GiB, 1 * GiB, m, MAX_ENTRIES);

	assert_int_equal(n, 6);
	assert_int_equal(m[3].addr + m[3].size, 3 * GiB);
	assert_int_equal(m[5].addr, 4 * GiB);
	assert_int_equal(m[5].size, 1 * GiB);
	assert_int_equal(m[5].type, E820_RAM);
	assert_int_equal(build_and_check(4 * GiB), 6);
}

static void test_64g(void **state)
{
	struct e820_entry m[MAX_ENTRIES];
	int n = e820_build(3 * GiB, 61 * GiB, m, MAX_ENTRIES);

	assert_int_equal(n, 6);
	assert_int_equal(m[5].addr, 4 * GiB);
	assert_int_equal(m[5].addr + m[5].size, 65 * GiB);
	assert_int_equal(build_and_check(64 * GiB), 6);
}

static void test_odd_sizes_keep_invariants(void **state)
{
	static const uint64_t sizes[] = {
		1 * MiB + 4 * KiB, 2 * MiB, 100 * MiB + 4 * KiB, 1 * GiB, 3 * GiB - 4 * KiB,
		3 * GiB + 4 * KiB, 5 * GiB, 1024 * GiB,
	};

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		build_and_check(sizes[i]);
}

static void test_exactly_1m_has_no_ram_above_1m(void **state)
{
	struct e820_entry m[MAX_ENTRIES];
	int n = e820_build(1 * MiB, 0, m, MAX_ENTRIES);

	assert_int_equal(n, 4);
	assert_int_equal(ram_bytes(m, n), 0x9fc00);
}

static void test_lowmem_below_1m_rejected(void **state)
{
	struct e820_entry m[MAX_ENTRIES];

	assert_int_equal(e820_build(0, 0, m, MAX_ENTRIES), -1);
	assert_int_equal(e820_build(640 * KiB, 0, m, MAX_ENTRIES), -1);
	assert_int_equal(e820_build(1 * MiB - 1, 0, m, MAX_ENTRIES), -1);
	/* High memory does not make up for missing low memory. */
	assert_int_equal(e820_build(512 * KiB, 4 * GiB, m, MAX_ENTRIES), -1);
}

static void test_max_too_small_rejected(void **state)
{
	struct e820_entry m[5] = { { 0 } };
	const struct e820_entry untouched = { 0 };

	assert_int_equal(e820_build(256 * MiB, 0, m, 0), -1);
	assert_int_equal(e820_build(256 * MiB, 0, m, 3), -1);
	assert_int_equal(e820_build(256 * MiB, 0, m, 4), -1);
	assert_int_equal(e820_build(3 * GiB, 1 * GiB, m, 5), -1);
	/* Nothing written past max (index 4 of a 4-entry limit). */
	m[4] = untouched;
	assert_int_equal(e820_build(3 * GiB, 1 * GiB, m, 4), -1);
	assert_memory_equal(&m[4], &untouched, sizeof(untouched));
	assert_int_equal(e820_build(256 * MiB, 0, m, 5), 5);
}

/* The firmware's map: no ECAM hole, KVM's private pages reserved, RAM as usual. */
static void test_firmware_map(void **state)
{
	struct e820_entry m[MAX_ENTRIES];
	int n = e820_build_firmware(3 * GiB, 1 * GiB, m, MAX_ENTRIES);

	assert_int_equal(n, 6);
	assert_int_equal(m[3].addr, 1 * MiB);
	assert_int_equal(m[3].size, 3 * GiB - 1 * MiB);
	assert_int_equal(m[4].addr, KVM_PRIVATE_BASE);
	assert_int_equal(m[4].size, KVM_PRIVATE_SIZE);
	assert_int_equal(m[4].type, E820_RESERVED);
	assert_int_equal(m[5].addr, 4 * GiB);
	assert_int_equal(m[5].size, 1 * GiB);
	for (int i = 0; i < n; i++)
		assert_false(m[i].addr < PCI_ECAM_BASE + PCI_ECAM_SIZE &&
			     PCI_ECAM_BASE < m[i].addr + m[i].size);
	assert_int_equal(e820_build_firmware(256 * MiB, 0, m, 4), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_firmware_map),
		cmocka_unit_test(test_16m),
		cmocka_unit_test(test_256m),
		cmocka_unit_test(test_exactly_3g_has_nothing_above_4g),
		cmocka_unit_test(test_4g_puts_1g_above_4g),
		cmocka_unit_test(test_64g),
		cmocka_unit_test(test_odd_sizes_keep_invariants),
		cmocka_unit_test(test_exactly_1m_has_no_ram_above_1m),
		cmocka_unit_test(test_lowmem_below_1m_rejected),
		cmocka_unit_test(test_max_too_small_rejected),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
