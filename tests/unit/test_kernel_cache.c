/* Decompressed-kernel cache: hits only for the same kernel file, misses after it changes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "x86/kernel_cache.h"

static char dir[64], kernel[96];

static int setup(void **state)
{
	FILE *f;

	snprintf(dir, sizeof(dir), "/tmp/kh-kcache.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(kernel, sizeof(kernel), "%s/vmlinuz", dir);
	f = fopen(kernel, "w");
	assert_non_null(f);
	fputs("not really a kernel", f);
	fclose(f);
	setenv("KHYVE_CACHE_DIR", dir, 1);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_miss_before_store(void **state)
{
	size_t len = 0;

	assert_null(kernel_cache_lookup(kernel, &len));
}

static void test_store_then_hit(void **state)
{
	const uint8_t data[] = "\x7f" "ELF payload";
	size_t len = 0;
	const uint8_t *got;

	kernel_cache_store(kernel, data, sizeof(data));
	got = kernel_cache_lookup(kernel, &len);
	assert_non_null(got);
	assert_int_equal(len, sizeof(data));
	assert_memory_equal(got, data, sizeof(data));
	kernel_cache_release(got, len);
}

static void test_changed_kernel_misses(void **state)
{
	const uint8_t data[] = "old";
	struct timespec times[2] = { { 1000, 0 }, { 1000, 0 } };
	size_t len = 0;

	kernel_cache_store(kernel, data, sizeof(data));
	/* A rebuilt kernel has another mtime: its old decompression must not be used. */
	assert_int_equal(utimensat(AT_FDCWD, kernel, times, 0), 0);
	assert_null(kernel_cache_lookup(kernel, &len));
}

static void test_missing_kernel_or_dir(void **state)
{
	size_t len = 0;

	assert_null(kernel_cache_lookup("/nonexistent/vmlinuz", &len));
	kernel_cache_store("/nonexistent/vmlinuz", (const uint8_t *)"x", 1); /* silently nothing */
	setenv("KHYVE_CACHE_DIR", "/proc/no-such-dir/cache", 1);
	kernel_cache_store(kernel, (const uint8_t *)"x", 1);
	assert_null(kernel_cache_lookup(kernel, &len));
	setenv("KHYVE_CACHE_DIR", dir, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_miss_before_store),
		cmocka_unit_test(test_store_then_hit),
		cmocka_unit_test(test_changed_kernel_misses),
		cmocka_unit_test(test_missing_kernel_or_dir),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
