/*
 * Coalesced port writes (src/core/coalesce.c): replaying the ring KVM
 * fills. Every write reaches its port's handler once, in the order the
 * guest made it; runs of byte writes to a port with a burst handler arrive
 * together; entries that cannot come from KVM (MMIO, bad lengths, ports past
 * 0xffff) and indices outside the ring are skipped, never followed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/coalesce.h"
#include "core/inout.h"
#include "core/mevent.h"
#include "lib/vmmapi.h"

#define PORT_PLAIN 0x5000 /* handler only */
#define PORT_BURST 0x5010 /* handler and burst handler */
#define RING_PAGE 4096

/* Everything the handlers saw, as one log of (port, value) in order. */
struct seen {
	uint16_t port[2048];
	uint32_t val[2048];
	int bytes[2048];
	int n;
	int burst_calls;
};

static struct seen seen;

static void log_write(uint16_t port, int bytes, uint32_t val)
{
	int n = __atomic_load_n(&seen.n, __ATOMIC_RELAXED);

	assert_true(n < 2048);
	seen.port[n] = port;
	seen.bytes[n] = bytes;
	seen.val[n] = val;
	__atomic_store_n(&seen.n, n + 1, __ATOMIC_RELEASE);
}

static int plain_handler(struct vmctx *ctx, bool in, uint16_t port, int bytes, uint32_t *val,
			 void *arg)
{
	assert_false(in);
	log_write(port, bytes, *val);
	return 0;
}

static void burst_handler(struct vmctx *ctx, uint16_t port, const uint8_t *data, size_t n,
			  void *arg)
{
	assert_true(n > 0);
	seen.burst_calls++;
	for (size_t i = 0; i < n; i++)
		log_write(port, 1, data[i]);
}

struct fake_ring {
	struct kvm_coalesced_mmio_ring *ring;
	uint32_t max;
};

static struct fake_ring fr;

static int setup(void **state)
{
	const struct inout_port plain = { "plain", PORT_PLAIN, 4, IOPORT_F_INOUT, plain_handler,
					  NULL };
	const struct inout_port bursty = { "bursty", PORT_BURST, 1, IOPORT_F_OUT, plain_handler,
					   NULL };

	memset(&seen, 0, sizeof(seen));
	assert_int_equal(init_inout(), 0);
	assert_int_equal(register_inout(&plain), 0);
	assert_int_equal(register_inout(&bursty), 0);
	assert_int_equal(inout_set_burst(PORT_BURST, burst_handler), 0);
	fr.ring = test_calloc(1, RING_PAGE);
	fr.max = (RING_PAGE - sizeof(*fr.ring)) / sizeof(struct kvm_coalesced_mmio);
	return 0;
}

static int teardown(void **state)
{
	test_free(fr.ring);
	return 0;
}

/* What KVM does for one guest OUT: fill the slot at "last", then move it. */
static void kvm_put(uint16_t port, uint32_t len, uint32_t val)
{
	struct kvm_coalesced_mmio *e = &fr.ring->coalesced_mmio[fr.ring->last];

	memset(e, 0, sizeof(*e));
	e->phys_addr = port;
	e->len = len;
	e->pio = 1;
	memcpy(e->data, &val, len <= 4 ? len : 4);
	fr.ring->last = (fr.ring->last + 1) % fr.max;
}

static size_t drain(void)
{
	return coalesce_drain_ring(NULL, fr.ring, fr.max);
}

static void assert_seen(int i, uint16_t port, int bytes, uint32_t val)
{
	assert_int_equal(seen.port[i], port);
	assert_int_equal(seen.bytes[i], bytes);
	assert_int_equal(seen.val[i], val);
}

static void test_empty_ring(void **state)
{
	assert_int_equal(drain(), 0);
	assert_int_equal(seen.n, 0);
}

/* Interleaved ports and sizes keep their order; runs become bursts. */
static void test_order_and_bursts(void **state)
{
	kvm_put(PORT_BURST, 1, 'h');
	kvm_put(PORT_BURST, 1, 'i');
	kvm_put(PORT_PLAIN, 4, 0xcafef00d);
	kvm_put(PORT_PLAIN, 1, 0x11);
	kvm_put(PORT_PLAIN + 2, 2, 0xbeef);
	kvm_put(PORT_BURST, 1, '!');
	assert_int_equal(drain(), 6);
	assert_int_equal(seen.n, 6);
	assert_seen(0, PORT_BURST, 1, 'h');
	assert_seen(1, PORT_BURST, 1, 'i');
	assert_seen(2, PORT_PLAIN, 4, 0xcafef00d);
	assert_seen(3, PORT_PLAIN, 1, 0x11);
	assert_seen(4, PORT_PLAIN + 2, 2, 0xbeef);
	assert_seen(5, PORT_BURST, 1, '!');
	assert_int_equal(seen.burst_calls, 2);
	assert_int_equal(fr.ring->first, fr.ring->last);
	assert_int_equal(drain(), 0);
}

/* A full ring (max - 1 entries) across its end, one long run. */
static void test_full_ring_wraps(void **state)
{
	uint32_t n = fr.max - 1;

	fr.ring->first = fr.ring->last = fr.max - 5;
	for (uint32_t i = 0; i < n; i++)
		kvm_put(PORT_BURST, 1, i & 0xff);
	assert_int_equal((fr.ring->last + 1) % fr.max, fr.ring->first);
	assert_int_equal(drain(), n);
	assert_int_equal(seen.n, (int)n);
	for (uint32_t i = 0; i < n; i++)
		assert_seen((int)i, PORT_BURST, 1, i & 0xff);
	assert_int_equal(fr.ring->first, fr.ring->last);
}

/* Without a burst handler a run still reaches the port byte by byte. */
static void test_plain_port_run(void **state)
{
	for (int i = 0; i < 40; i++)
		kvm_put(PORT_PLAIN, 1, (uint32_t)i);
	assert_int_equal(drain(), 40);
	assert_int_equal(seen.burst_calls, 0);
	for (int i = 0; i < 40; i++)
		assert_seen(i, PORT_PLAIN, 1, (uint32_t)i);
}

/* Entries KVM would never write are dropped; the rest still arrive. */
static void test_malformed_entries_skipped(void **state)
{
	struct kvm_coalesced_mmio *e;

	kvm_put(PORT_BURST, 1, 'a');
	kvm_put(PORT_PLAIN, 1, 1);
	fr.ring->coalesced_mmio[fr.ring->last - 1].pio = 0; /* an MMIO entry */
	kvm_put(PORT_PLAIN, 0, 0);                          /* zero length */
	kvm_put(PORT_PLAIN, 8, 0);
	e = &fr.ring->coalesced_mmio[fr.ring->last - 1];
	e->len = 9;                                         /* longer than data[] */
	kvm_put(0xffff, 2, 0);                              /* past the last port */
	kvm_put(PORT_PLAIN, 1, 2);
	fr.ring->coalesced_mmio[fr.ring->last - 1].phys_addr = 0x100000000ull + PORT_PLAIN;
	kvm_put(PORT_BURST, 1, 'b');
	assert_int_equal(drain(), 7);
	assert_int_equal(seen.n, 2);
	assert_seen(0, PORT_BURST, 1, 'a');
	assert_seen(1, PORT_BURST, 1, 'b');
	assert_int_equal(fr.ring->first, fr.ring->last);
}

/* Indices past the ring's end are not followed (nor is anything replayed). */
static void test_indices_out_of_range(void **state)
{
	fr.ring->first = 0;
	fr.ring->last = fr.max + 7;
	assert_int_equal(drain(), 0);
	fr.ring->first = 0xffffffffu;
	fr.ring->last = 3;
	assert_int_equal(drain(), 0);
	assert_int_equal(seen.n, 0);
}

/* Long runs are split (the burst buffer is bounded) without losing a byte. */
static void test_long_run_split(void **state)
{
	for (int i = 0; i < 150; i++)
		kvm_put(PORT_BURST, 1, (uint32_t)(i * 7) & 0xff);
	assert_int_equal(drain(), 150);
	for (int i = 0; i < 150; i++)
		assert_seen(i, PORT_BURST, 1, (uint32_t)(i * 7) & 0xff);
	assert_int_equal(seen.burst_calls, 3); /* 64 + 64 + 22 */
}

/* ---- the timer: writes no exit follows still arrive ----------------------- */

static void *loop_main(void *arg)
{
	mevent_dispatch();
	return NULL;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Seconds until the handlers have seen n writes, or -1 after limit seconds. */
static double wait_seen(int n, double limit)
{
	double start = now();

	while (__atomic_load_n(&seen.n, __ATOMIC_ACQUIRE) < n) {
		if (now() - start > limit)
			return -1;
		usleep(2000);
	}
	return now() - start;
}

static void test_timer_drains_without_exits(void **state)
{
	struct vmctx ctx = { .coalesced_ring = fr.ring, .coalesced_max = fr.max };
	pthread_t loop;
	double t;

	assert_int_equal(mevent_init(), 0);
	assert_int_equal(coalesce_start_timer(&ctx), 0);
	assert_int_equal(pthread_create(&loop, NULL, loop_main, NULL), 0);
	/* A guest that writes and then never exits: the slow tick (1 s). */
	kvm_put(PORT_BURST, 1, 'x');
	t = wait_seen(1, 3.0);
	assert_true(t >= 0);
	/*
	 * A vCPU that found writes at its exit makes the timer tick fast:
	 * the tail written after that exit arrives well within the slow tick,
	 * every time (by luck of the slow tick's phase, 5 times in a row
	 * under 0.3 s: 0.3^5).
	 */
	for (int round = 0; round < 5; round++) {
		int n = __atomic_load_n(&seen.n, __ATOMIC_ACQUIRE);

		kvm_put(PORT_BURST, 1, 'y');
		coalesce_drain(&ctx);
		assert_int_equal(__atomic_load_n(&seen.n, __ATOMIC_ACQUIRE), n + 1);
		kvm_put(PORT_BURST, 1, 'z');
		t = wait_seen(n + 2, 3.0);
		assert_true(t >= 0 && t < 0.3);
		usleep(100000); /* quiet: the timer may drop back to the slow tick */
	}
	mevent_stop();
	pthread_join(loop, NULL);
	coalesce_stop_timer();
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_empty_ring),
		T(test_order_and_bursts),
		T(test_full_ring_wraps),
		T(test_plain_port_run),
		T(test_malformed_entries_skipped),
		T(test_indices_out_of_range),
		T(test_long_run_split),
		T(test_timer_drains_without_exits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
