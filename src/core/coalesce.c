/*
 * Coalesced port writes (see coalesce.h): draining KVM's ring, and the timer
 * that drains it when no exit comes.
 */
#include "core/coalesce.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "core/config.h"
#include "core/mevent.h"
#include "lib/vmmapi.h"

/* A run of byte writes to one port handed to its burst handler at once. */
#define BURST_MAX 64
#define FAST_TICK_MS 10
#define SLOW_TICK_MS 1000

static pthread_mutex_t drain_lock = PTHREAD_MUTEX_INITIALIZER;

static struct {
	struct vmctx *ctx;
	int fd;        /* timerfd, -1 until the first port is coalesced */
	struct mevent *ev;
	bool fast;     /* ticking every FAST_TICK_MS */
	bool recent;   /* a vCPU drained writes since the last tick */
	pthread_mutex_t lock;
} timer = { .fd = -1, .lock = PTHREAD_MUTEX_INITIALIZER };

/* ---- replaying the ring ---------------------------------------------------- */

/* KVM writes the ring; khyve still checks what it reads before acting on it. */
static bool entry_valid(const struct kvm_coalesced_mmio *e)
{
	return e->pio == 1 && e->len >= 1 && e->len <= 4 && e->phys_addr + e->len <= 0x10000;
}

static void replay_one(struct vmctx *ctx, const struct kvm_coalesced_mmio *e)
{
	uint32_t val = 0;

	for (uint32_t i = 0; i < e->len; i++)
		val |= (uint32_t)e->data[i] << (8 * i);
	(void)emulate_inout(ctx, false, (uint16_t)e->phys_addr, (int)e->len, &val);
}

size_t coalesce_drain_ring(struct vmctx *ctx, struct kvm_coalesced_mmio_ring *ring, uint32_t max)
{
	uint8_t burst[BURST_MAX];
	size_t done = 0;
	uint32_t first, last;

	pthread_mutex_lock(&drain_lock);
	first = __atomic_load_n(&ring->first, __ATOMIC_RELAXED);
	/* Acquire: the entries KVM filled before it moved "last" are visible. */
	last = __atomic_load_n(&ring->last, __ATOMIC_ACQUIRE);
	while (first != last && first < max && last < max) {
		const struct kvm_coalesced_mmio *e = &ring->coalesced_mmio[first];
		uint16_t port = (uint16_t)e->phys_addr;
		size_t n = 0;

		if (!entry_valid(e)) {
			first = (first + 1) % max;
		} else if (e->len != 1) {
			replay_one(ctx, e);
			first = (first + 1) % max;
		} else {
			/* Gather the run of byte writes to this port. */
			do {
				burst[n++] = e->data[0];
				first = (first + 1) % max;
				e = &ring->coalesced_mmio[first];
			} while (first != last && n < BURST_MAX && entry_valid(e) && e->len == 1 &&
				 e->phys_addr == port);
			emulate_out_burst(ctx, port, burst, n);
		}
		done += n > 0 ? n : 1;
		/* Release: KVM reuses these slots only after we are done with them. */
		__atomic_store_n(&ring->first, first, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&drain_lock);
	return done;
}

/* ---- the timer ------------------------------------------------------------- */

static void set_tick(int ms)
{
	struct itimerspec its = {
		.it_interval = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L },
		.it_value = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L },
	};

	if (timerfd_settime(timer.fd, 0, &its, NULL) < 0)
		perror("khyve: coalesced I/O timer");
}

/* A vCPU found writes: make sure the tail of them is not left for a second. */
static void go_fast(void)
{
	pthread_mutex_lock(&timer.lock);
	if (!__atomic_load_n(&timer.fast, __ATOMIC_SEQ_CST)) {
		__atomic_store_n(&timer.fast, true, __ATOMIC_SEQ_CST);
		set_tick(FAST_TICK_MS);
	}
	pthread_mutex_unlock(&timer.lock);
}

static void on_tick(int fd, enum ev_type type, void *arg)
{
	struct vmctx *ctx = timer.ctx;
	uint64_t expirations;
	size_t n = 0;

	if (read(fd, &expirations, sizeof(expirations)) < 0) {
		/* EAGAIN: a re-arm raced with this wakeup; drain anyway */
	}
	if (ctx->coalesced_ring != NULL)
		n = coalesce_drain_ring(ctx, ctx->coalesced_ring, ctx->coalesced_max);
	if (n > 0 || __atomic_exchange_n(&timer.recent, false, __ATOMIC_SEQ_CST))
		return;
	pthread_mutex_lock(&timer.lock);
	if (__atomic_load_n(&timer.fast, __ATOMIC_SEQ_CST)) {
		__atomic_store_n(&timer.fast, false, __ATOMIC_SEQ_CST);
		set_tick(SLOW_TICK_MS);
		/* A vCPU that saw "fast" just before it went: tick fast again. */
		if (__atomic_load_n(&timer.recent, __ATOMIC_SEQ_CST)) {
			__atomic_store_n(&timer.fast, true, __ATOMIC_SEQ_CST);
			set_tick(FAST_TICK_MS);
		}
	}
	pthread_mutex_unlock(&timer.lock);
}

int coalesce_start_timer(struct vmctx *ctx)
{
	if (timer.fd >= 0)
		return 0;
	timer.ctx = ctx;
	timer.fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (timer.fd < 0)
		return -1;
	timer.ev = mevent_add(timer.fd, EVF_READ, on_tick, NULL);
	if (timer.ev == NULL) {
		close(timer.fd);
		timer.fd = -1;
		return -1;
	}
	set_tick(SLOW_TICK_MS);
	return 0;
}

void coalesce_stop_timer(void)
{
	if (timer.fd < 0)
		return;
	mevent_delete(timer.ev);
	close(timer.fd);
	timer.ev = NULL;
	timer.fd = -1;
	timer.fast = false;
}

/* ---- the interface ----------------------------------------------------------- */

int coalesce_port_writes(struct vmctx *ctx, uint16_t port, inout_burst_func_t burst)
{
	if (!get_config_bool_default("x86.coalesced_io", true))
		return -1;
	if (burst != NULL && inout_set_burst(port, burst) < 0)
		return -1;
	if (coalesce_start_timer(ctx) < 0 || vm_coalesce_pio(ctx, port, 1) < 0) {
		(void)inout_set_burst(port, NULL);
		return -1;
	}
	return 0;
}

void coalesce_drain(struct vmctx *ctx)
{
	struct kvm_coalesced_mmio_ring *ring = ctx->coalesced_ring;

	if (ring == NULL ||
	    __atomic_load_n(&ring->first, __ATOMIC_RELAXED) ==
		    __atomic_load_n(&ring->last, __ATOMIC_RELAXED))
		return;
	if (coalesce_drain_ring(ctx, ring, ctx->coalesced_max) == 0)
		return;
	__atomic_store_n(&timer.recent, true, __ATOMIC_SEQ_CST);
	if (!__atomic_load_n(&timer.fast, __ATOMIC_SEQ_CST))
		go_fast();
}
