/*
 * vm_alloc_ram: guest RAM at a 2 MiB-aligned host address, so that THP and
 * KVM's large nested-page mappings can back it (see vmmapi.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <cmocka.h>

#include "lib/vmmapi.h"

static void test_ram_is_aligned_and_usable(void **state)
{
	static const size_t sizes[] = { 2u << 20, 256u << 20, (512u << 20) + 4096 };
	void *guard[3];

	/* Page-sized mappings first, so that the next free address is unlikely aligned. */
	for (int i = 0; i < 3; i++) {
		guard[i] = mmap(NULL, 4096 * (size_t)(i + 1), PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		assert_true(guard[i] != MAP_FAILED);
	}
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint8_t *ram = vm_alloc_ram(sizes[i], false);

		assert_true(ram != MAP_FAILED);
		assert_int_equal((uintptr_t)ram % VM_RAM_ALIGN, 0);
		ram[0] = 1;
		ram[sizes[i] - 1] = 2; /* the whole size is mapped */
		assert_int_equal(ram[0] + ram[sizes[i] - 1], 3);
		assert_int_equal(munmap(ram, sizes[i]), 0);
	}
	for (int i = 0; i < 3; i++)
		munmap(guard[i], 4096 * (size_t)(i + 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ram_is_aligned_and_usable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
