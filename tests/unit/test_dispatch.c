/*
 * Exit dispatch: port I/O (src/core/inout.c) and MMIO (src/core/mem.c).
 * Registration keeps ranges exclusive; a guest access reaches exactly the
 * handler covering it, with the access size and direction intact; anything
 * unclaimed reads as all ones of the access size and swallows writes (or,
 * with x86.strictio, is reported). Boundaries are checked at base,
 * base + size - 1 and base + size, with many ranges so the binary search
 * is exercised.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/inout.h"
#include "core/mem.h"

/* ---- recording handlers ----------------------------------------------- */

struct rec {
	int calls;
	bool in;       /* port I/O: direction; MMIO: !write */
	uint64_t addr;
	int bytes;
	uint64_t val;  /* value written, or returned on reads */
	int rc;        /* what the handler returns */
};

static int io_handler(struct vmctx *ctx, bool in, uint16_t port, int bytes, uint32_t *val,
		      void *arg)
{
	struct rec *r = arg;

	r->calls++;
	r->in = in;
	r->addr = port;
	r->bytes = bytes;
	if (in)
		*val = (uint32_t)r->val;
	else
		r->val = *val;
	return r->rc;
}

static int mem_handler(struct vmctx *ctx, bool write, uint64_t gpa, int size, uint64_t *val,
		       void *arg)
{
	struct rec *r = arg;

	r->calls++;
	r->in = !write;
	r->addr = gpa;
	r->bytes = size;
	if (write)
		r->val = *val;
	else
		*val = r->val;
	return r->rc;
}

static struct inout_port io(uint16_t port, uint16_t size, int flags, struct rec *r)
{
	return (struct inout_port){ "test", port, size, flags, io_handler, r };
}

static uint32_t in(uint16_t port, int bytes)
{
	uint32_t v = 0x5a5a5a5a;

	assert_int_equal(emulate_inout(NULL, true, port, bytes, &v), 0);
	return v;
}

static void out(uint16_t port, int bytes, uint32_t v)
{
	assert_int_equal(emulate_inout(NULL, false, port, bytes, &v), 0);
}

/* ---- a port from the INOUT_PORT() linker set ------------------------------ */

#define SET_PORT 0xfff0 /* far from anything a device model uses */

static struct rec set_rec;

static int set_port_handler(struct vmctx *ctx, bool is_in, uint16_t port, int bytes,
			    uint32_t *val, void *arg)
{
	return io_handler(ctx, is_in, port, bytes, val, &set_rec);
}

INOUT_PORT(test_set_port, SET_PORT, IOPORT_F_INOUT, set_port_handler);

static int setup(void **state)
{
	config_init();
	memset(&set_rec, 0, sizeof(set_rec));
	return init_inout();
}

static int teardown(void **state)
{
	config_free();
	return 0;
}

/* ---- port I/O ----------------------------------------------------------- */

static void test_io_reaches_handler(void **state)
{
	struct rec r = { .val = 0xcafef00d };
	struct inout_port p = io(0x3f8, 8, IOPORT_F_INOUT, &r);

	assert_int_equal(register_inout(&p), 0);
	out(0x3fb, 1, 0x83);
	assert_int_equal(r.calls, 1);
	assert_false(r.in);
	assert_int_equal(r.addr, 0x3fb);
	assert_int_equal(r.bytes, 1);
	assert_int_equal(r.val, 0x83);
	r.val = 0xcafef00d;
	assert_int_equal(in(0x3f8, 4), 0xcafef00d);
	assert_int_equal(r.calls, 2);
	assert_true(r.in);
	assert_int_equal(r.addr, 0x3f8);
	assert_int_equal(r.bytes, 4);
}

static void test_io_read_masked_to_access_size(void **state)
{
	struct rec r = { .val = 0xdeadbeef };
	struct inout_port p = io(0x100, 4, IOPORT_F_INOUT, &r);

	assert_int_equal(register_inout(&p), 0);
	assert_int_equal(in(0x100, 1), 0xef);
	assert_int_equal(in(0x100, 2), 0xbeef);
	assert_int_equal(in(0x100, 4), 0xdeadbeef);
}

static void test_io_overlap_rejected(void **state)
{
	struct rec a = { 0 }, b = { .val = 0x11 };
	struct inout_port p = io(0x100, 8, IOPORT_F_INOUT, &a);

	assert_int_equal(register_inout(&p), 0);
	p = io(0x104, 8, IOPORT_F_INOUT, &b);   /* tail overlaps */
	assert_int_equal(register_inout(&p), -1);
	p = io(0xfc, 5, IOPORT_F_INOUT, &b);    /* last port is 0x100 */
	assert_int_equal(register_inout(&p), -1);
	p = io(0x102, 1, IOPORT_F_INOUT, &b);   /* inside */
	assert_int_equal(register_inout(&p), -1);
	p = io(0x80, 0x100, IOPORT_F_INOUT, &b); /* around */
	assert_int_equal(register_inout(&p), -1);
	/* A rejected range leaves nothing half-registered behind. */
	assert_int_equal(in(0x10b, 1), 0xff);
	assert_int_equal(in(0xfc, 1), 0xff);
	assert_int_equal(b.calls, 0);
	/* Neighbours on both sides are fine. */
	p = io(0x108, 8, IOPORT_F_INOUT, &b);
	assert_int_equal(register_inout(&p), 0);
	p = io(0xf8, 8, IOPORT_F_INOUT, &b);
	assert_int_equal(register_inout(&p), 0);
	assert_int_equal(in(0x108, 1), 0x11);
	assert_int_equal(in(0xff, 1), 0x11);
}

static void test_io_bad_registrations_rejected(void **state)
{
	struct rec r = { 0 };
	struct inout_port p = io(0x200, 0, IOPORT_F_INOUT, &r);

	assert_int_equal(register_inout(&p), -1);   /* empty */
	p = io(0xfff8, 9, IOPORT_F_INOUT, &r);      /* runs past 0xffff */
	assert_int_equal(register_inout(&p), -1);
	p = io(0x1, 0xffff, IOPORT_F_INOUT, &r);
	assert_int_equal(register_inout(&p), -1);
	p = io(0x200, 1, IOPORT_F_INOUT, &r);
	p.handler = NULL;
	assert_int_equal(register_inout(&p), -1);
	p = io(0xffff, 1, IOPORT_F_INOUT, &r);      /* the very last port is fine */
	assert_int_equal(register_inout(&p), 0);
	r.val = 0x1234;
	assert_int_equal(in(0xffff, 2), 0x1234);
	assert_int_equal(r.calls, 1);
}

static void test_io_unregister(void **state)
{
	struct rec r = { .val = 0x42 };
	struct inout_port p = io(0x500, 4, IOPORT_F_INOUT, &r);

	assert_int_equal(register_inout(&p), 0);
	assert_int_equal(in(0x502, 1), 0x42);
	assert_int_equal(unregister_inout(0x500, 4), 0);
	assert_int_equal(in(0x502, 1), 0xff);
	out(0x502, 1, 0);
	assert_int_equal(r.calls, 1);
	/* And the ports can be taken again. */
	assert_int_equal(register_inout(&p), 0);
	assert_int_equal(in(0x503, 1), 0x42);
	/* Out-of-range requests are refused without touching anything. */
	assert_int_equal(unregister_inout(0xfffe, 4), -1);
	assert_int_equal(unregister_inout(0xffff, 1), 0);
	assert_int_equal(unregister_inout(0x600, 0), 0);
	assert_int_equal(in(0x500, 1), 0x42);
}

static void test_io_unclaimed_reads_all_ones(void **state)
{
	assert_int_equal(in(0x1234, 1), 0xff);
	assert_int_equal(in(0x1234, 2), 0xffff);
	assert_int_equal(in(0x1234, 4), 0xffffffff);
	assert_int_equal(in(0x0000, 1), 0xff);
	assert_int_equal(in(0xffff, 2), 0xffff);
}

static void test_io_unclaimed_writes_dropped(void **state)
{
	uint32_t v = 0x12345678;

	assert_int_equal(emulate_inout(NULL, false, 0x1234, 4, &v), 0);
	assert_int_equal(v, 0x12345678);
	out(0x80, 1, 0x55);
}

static void test_io_handler_failure_reads_all_ones(void **state)
{
	struct rec r = { .val = 0x1234, .rc = -1 };
	struct inout_port p = io(0x700, 2, IOPORT_F_INOUT, &r);

	assert_int_equal(register_inout(&p), 0);
	assert_int_equal(in(0x700, 1), 0xff);
	assert_int_equal(in(0x700, 2), 0xffff);
	assert_int_equal(in(0x701, 4), 0xffffffff);
	out(0x700, 2, 0x9999);
	assert_int_equal(r.calls, 4);
}

static void test_io_direction_flags(void **state)
{
	struct rec r = { .val = 0x77 }, w = { .val = 0x66 };
	struct inout_port p = io(0x800, 1, IOPORT_F_IN, &r);

	assert_int_equal(register_inout(&p), 0);
	p = io(0x801, 1, IOPORT_F_OUT, &w);
	assert_int_equal(register_inout(&p), 0);
	/* Read-only port: writes never reach it. */
	out(0x800, 1, 0x12);
	assert_int_equal(r.calls, 0);
	assert_int_equal(in(0x800, 1), 0x77);
	/* Write-only port: reads float high without asking the handler. */
	assert_int_equal(in(0x801, 1), 0xff);
	assert_int_equal(w.calls, 0);
	out(0x801, 1, 0x34);
	assert_int_equal(w.calls, 1);
	assert_int_equal(w.val, 0x34);
}

static void test_io_linker_set_port_registered(void **state)
{
	set_rec.val = 0xab;
	assert_int_equal(in(SET_PORT, 1), 0xab);
	out(SET_PORT, 1, 0xcd);
	assert_int_equal(set_rec.calls, 2);
	assert_int_equal(set_rec.val, 0xcd);
	/* INOUT_PORT() claims exactly one port. */
	assert_int_equal(in(SET_PORT + 1, 1), 0xff);
	assert_int_equal(set_rec.calls, 2);
}

static void test_io_init_resets_table(void **state)
{
	struct rec r = { .val = 1 };
	struct inout_port p = io(0x900, 1, IOPORT_F_INOUT, &r);

	assert_int_equal(register_inout(&p), 0);
	assert_int_equal(init_inout(), 0);
	assert_int_equal(in(0x900, 1), 0xff);
	/* The linker-set port is back, not registered twice. */
	set_rec.val = 0x3c;
	assert_int_equal(in(SET_PORT, 1), 0x3c);
}

static void test_io_only_the_linker_set_after_init(void **state)
{
	int claimed = 0;

	for (uint32_t port = 0; port <= 0xffff; port++) {
		uint32_t v = 0;

		set_rec.val = 0;
		assert_int_equal(emulate_inout(NULL, true, (uint16_t)port, 1, &v), 0);
		if (v != 0xff)
			claimed++;
	}
	assert_int_equal(claimed, 1); /* SET_PORT, reading 0 */
}

static void test_io_strictio_reports_unclaimed(void **state)
{
	struct rec r = { .val = 0x12 }, f = { .rc = -1 };
	struct inout_port p = io(0xa00, 1, IOPORT_F_INOUT, &r);
	uint32_t v = 0;

	assert_int_equal(set_config_value("x86.strictio", "true"), 0);
	assert_int_equal(init_inout(), 0);
	assert_int_equal(register_inout(&p), 0);
	p = io(0xa01, 1, IOPORT_F_IN, &f);
	assert_int_equal(register_inout(&p), 0);
	assert_int_equal(emulate_inout(NULL, true, 0xa00, 1, &v), 0);
	assert_int_equal(v, 0x12);
	/* Unclaimed, failing handler, wrong direction: all errors, reads still all ones. */
	assert_int_equal(emulate_inout(NULL, true, 0xb00, 2, &v), -1);
	assert_int_equal(v, 0xffff);
	assert_int_equal(emulate_inout(NULL, false, 0xb00, 1, &v), -1);
	assert_int_equal(emulate_inout(NULL, true, 0xa01, 1, &v), -1);
	assert_int_equal(v, 0xff);
	assert_int_equal(emulate_inout(NULL, false, 0xa01, 1, &v), -1);
	/* Back to the default on the next init. */
	assert_int_equal(set_config_value("x86.strictio", "false"), 0);
	assert_int_equal(init_inout(), 0);
	assert_int_equal(emulate_inout(NULL, true, 0xb00, 2, &v), 0);
}

/* ---- MMIO ---------------------------------------------------------------- */

#define MAX_TEST_RANGES 256

static uint64_t mem_bases[MAX_TEST_RANGES];
static int nmem;

static int reg_mem(uint64_t base, uint64_t size, struct rec *r)
{
	struct mem_range mr = { "test", base, size, mem_handler, r };
	int rc = register_mem(&mr);

	if (rc == 0) {
		assert_true(nmem < MAX_TEST_RANGES);
		mem_bases[nmem++] = base;
	}
	return rc;
}

static void unreg_mem(uint64_t base)
{
	assert_int_equal(unregister_mem(base), 0);
	for (int i = 0; i < nmem; i++)
		if (mem_bases[i] == base) {
			mem_bases[i] = mem_bases[--nmem];
			return;
		}
	fail_msg("0x%llx was not registered by the test", (unsigned long long)base);
}

/* The MMIO table is process-global: leave it empty for the next test. */
static int mem_teardown(void **state)
{
	while (nmem > 0)
		if (unregister_mem(mem_bases[--nmem]) != 0)
			return -1;
	return 0;
}

static uint64_t mread(uint64_t gpa, int size)
{
	uint64_t v = 0x5a5a5a5a5a5a5a5aull;

	assert_int_equal(emulate_mem(NULL, false, gpa, size, &v), 0);
	return v;
}

static void mwrite(uint64_t gpa, int size, uint64_t v)
{
	assert_int_equal(emulate_mem(NULL, true, gpa, size, &v), 0);
}

static void test_mem_reaches_handler(void **state)
{
	struct rec r = { .val = 0x1122334455667788ull };

	assert_int_equal(reg_mem(0xfee00000, 0x1000, &r), 0);
	assert_int_equal(mread(0xfee00030, 4), 0x1122334455667788ull);
	assert_true(r.in);
	assert_int_equal(r.addr, 0xfee00030);
	assert_int_equal(r.bytes, 4);
	mwrite(0xfee000b0, 8, 0xabcdef);
	assert_false(r.in);
	assert_int_equal(r.bytes, 8);
	assert_int_equal(r.val, 0xabcdef);
	assert_int_equal(r.calls, 2);
}

static void test_mem_boundaries(void **state)
{
	struct rec r = { .val = 7 };

	assert_int_equal(reg_mem(0xd0000000, 0x4000, &r), 0);
	assert_int_equal(mread(0xd0000000, 1), 7);
	assert_int_equal(mread(0xd0003fff, 1), 7);
	assert_int_equal(mread(0xd0004000, 1), ~0ull);
	assert_int_equal(mread(0xcfffffff, 1), ~0ull);
	assert_int_equal(r.calls, 2);
}

static void test_mem_overlap_rejected(void **state)
{
	struct rec a = { .val = 1 }, b = { .val = 2 };

	assert_int_equal(reg_mem(0x10000, 0x1000, &a), 0);
	assert_int_equal(reg_mem(0x10800, 0x1000, &b), -1);  /* tail */
	assert_int_equal(reg_mem(0xf800, 0x1000, &b), -1);   /* head */
	assert_int_equal(reg_mem(0x10400, 0x10, &b), -1);    /* inside */
	assert_int_equal(reg_mem(0x0, 0x100000, &b), -1);    /* around */
	assert_int_equal(reg_mem(0x10fff, 1, &b), -1);       /* last byte */
	assert_int_equal(reg_mem(0x11000, 0x1000, &b), 0);  /* adjacent above */
	assert_int_equal(reg_mem(0xf000, 0x1000, &b), 0);    /* adjacent below */
	assert_int_equal(mread(0x10fff, 1), 1);
	assert_int_equal(mread(0x11000, 1), 2);
	assert_int_equal(mread(0xffff, 1), 2);
}

static void test_mem_bad_registrations_rejected(void **state)
{
	struct rec r = { 0 };
	struct mem_range mr = { "null", 0x1000, 0x1000, NULL, &r };

	assert_int_equal(register_mem(&mr), -1);
	assert_int_equal(reg_mem(0x1000, 0, &r), -1);
	/* base + size wraps past 2^64. */
	assert_int_equal(reg_mem(0xfffffffffffff000ull, 0x2000, &r), -1);
	assert_int_equal(reg_mem(0x8000000000000000ull, 0x8000000000000001ull, &r), -1);
	assert_int_equal(reg_mem(1, UINT64_MAX, &r), -1);
	/* Nothing of those is reachable. */
	assert_int_equal(mread(0x1000, 4), ~0ull);
	assert_int_equal(mread(0xfffffffffffff800ull, 4), ~0ull);
	assert_int_equal(mread(0, 4), ~0ull);
	assert_int_equal(r.calls, 0);
	/* A huge range that does not wrap is fine. */
	assert_int_equal(reg_mem(0x8000000000000000ull, 0x7fffffffffffffffull, &r), 0);
	assert_int_equal(mread(0xfffffffffffffffeull, 1), 0);
	assert_int_equal(mread(UINT64_MAX, 1), ~0ull);
}

static void test_mem_many_ranges_binary_search(void **state)
{
	static struct rec recs[200];
	int order[200];

	/* Registered in a scrambled order: the table must come out sorted. */
	for (int i = 0; i < 200; i++)
		order[i] = (i * 73) % 200;
	for (int i = 0; i < 200; i++) {
		int k = order[i];

		recs[k] = (struct rec){ .val = (uint64_t)k };
		assert_int_equal(reg_mem(0x100000000ull + (uint64_t)k * 0x3000, 0x1000 + k, &recs[k]),
				 0);
	}
	for (int k = 0; k < 200; k++) {
		uint64_t base = 0x100000000ull + (uint64_t)k * 0x3000, size = 0x1000 + k;

		assert_int_equal(mread(base, 4), k);
		assert_int_equal(mread(base + size - 1, 1), k);
		assert_int_equal(mread(base + size, 1), ~0ull);
		assert_int_equal(mread(base - 1, 1), ~0ull);
		assert_int_equal(recs[k].calls, 2);
	}
	/* Take every other one away; the rest must still be found. */
	for (int k = 0; k < 200; k += 2)
		unreg_mem(0x100000000ull + (uint64_t)k * 0x3000);
	for (int k = 0; k < 200; k++)
		assert_int_equal(mread(0x100000000ull + (uint64_t)k * 0x3000 + 5, 1),
				 k % 2 ? (uint64_t)k : ~0ull);
}

static void test_mem_table_full(void **state)
{
	static struct rec r;
	int i;

	for (i = 0; i < 1000; i++)
		if (reg_mem(0x200000000ull + (uint64_t)i * 0x1000, 0x1000, &r) < 0)
			break;
	assert_int_equal(i, 256);
	/* Freeing one slot makes room again. */
	unreg_mem(0x200000000ull);
	assert_int_equal(reg_mem(0x300000000ull, 0x1000, &r), 0);
}

static void test_mem_unregister(void **state)
{
	struct rec r = { .val = 9 };

	assert_int_equal(unregister_mem(0x12345000), -1);
	assert_int_equal(reg_mem(0x12345000, 0x1000, &r), 0);
	/* Only the exact base names a range. */
	assert_int_equal(unregister_mem(0x12345008), -1);
	assert_int_equal(mread(0x12345008, 4), 9);
	unreg_mem(0x12345000);
	assert_int_equal(mread(0x12345008, 4), ~0ull);
	assert_int_equal(unregister_mem(0x12345000), -1);
}

static void test_mem_handler_failure_and_unclaimed(void **state)
{
	struct rec r = { .val = 3, .rc = -1 };
	uint64_t v = 0x77;

	assert_int_equal(reg_mem(0xe0000000, 0x100, &r), 0);
	assert_int_equal(mread(0xe0000010, 4), ~0ull);
	mwrite(0xe0000010, 4, 1);
	assert_int_equal(r.calls, 2);
	/* Unclaimed writes vanish and leave the value alone. */
	assert_int_equal(emulate_mem(NULL, true, 0xe0001000, 4, &v), 0);
	assert_int_equal(v, 0x77);
	assert_int_equal(r.calls, 2);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
#define M(fn) cmocka_unit_test_teardown(fn, mem_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_io_reaches_handler),
		T(test_io_read_masked_to_access_size),
		T(test_io_overlap_rejected),
		T(test_io_bad_registrations_rejected),
		T(test_io_unregister),
		T(test_io_unclaimed_reads_all_ones),
		T(test_io_unclaimed_writes_dropped),
		T(test_io_handler_failure_reads_all_ones),
		T(test_io_direction_flags),
		T(test_io_linker_set_port_registered),
		T(test_io_init_resets_table),
		T(test_io_only_the_linker_set_after_init),
		T(test_io_strictio_reports_unclaimed),
		M(test_mem_reaches_handler),
		M(test_mem_boundaries),
		M(test_mem_overlap_rejected),
		M(test_mem_bad_registrations_rejected),
		M(test_mem_many_ranges_binary_search),
		M(test_mem_table_full),
		M(test_mem_unregister),
		M(test_mem_handler_failure_and_unclaimed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
