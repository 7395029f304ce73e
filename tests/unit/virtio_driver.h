/*
 * A virtio 1.x PCI driver for unit tests of virtio device models, shared by
 * test_virtio_*.c (each test file is its own binary, so a header of static
 * functions is the simplest way to share it).
 *
 * What it gives a test: a fake VM (ctx) whose guest RAM is a plain buffer
 * and whose MMIO goes through emulate_mem() as a vCPU exit would; PCI config
 * accesses; the capability walk a driver does to find the virtio structures
 * in BAR 4 and the MSI-X table; the status/feature handshake; split
 * virtqueues laid out in guest RAM, with descriptor/avail writers, kicks
 * through the notify address (no KVM: an MMIO write that signals the queue's
 * eventfd) and readers of the used ring; the legacy interface of a
 * transitional device (I/O BAR 0, page-frame queues, port kicks) as Linux's
 * virtio_pci_legacy drives it; MSIs recorded through
 * pci_set_msi_sender(); the event loop on its own thread, as khyve's main
 * thread, while the test plays the vCPU.
 *
 * The test owns everything else: its config, pci_init() (once per process:
 * it registers global port ranges), where each device's rings and buffers
 * live in guest RAM.
 */
#ifndef KHYVE_TEST_VIRTIO_DRIVER_H
#define KHYVE_TEST_VIRTIO_DRIVER_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/inout.h"
#include "core/mem.h"
#include "core/mevent.h"
#include "lib/vmmapi.h"
#include "pci/pci.h"
#include "virtio/virtio.h"
#include "virtio/virtio_ring.h"

/* Common configuration registers (virtio 1.1, 4.1.4.3). */
#define CC_DFSELECT 0x00
#define CC_DF 0x04
#define CC_GFSELECT 0x08
#define CC_GF 0x0c
#define CC_MSIX_CONFIG 0x10
#define CC_NUM_QUEUES 0x12
#define CC_STATUS 0x14
#define CC_Q_SELECT 0x16
#define CC_Q_SIZE 0x18
#define CC_Q_MSIX 0x1a
#define CC_Q_ENABLE 0x1c
#define CC_Q_NOFF 0x1e
#define CC_Q_DESC 0x20
#define CC_Q_AVAIL 0x28
#define CC_Q_USED 0x30

#ifndef BIT
#define BIT(n) (1ull << (n))
#endif

/* Bytes of guest RAM dq_layout() gives one queue (rings of up to 1024 entries). */
#define DQ_AREA 0x10000

static struct vmctx ctx;
static pthread_t vd_loop;

/* ---- MSI deliveries ------------------------------------------------------- */

static struct {
	pthread_mutex_t lock;
	int n;
	uint64_t addr;
	uint32_t data;
	unsigned per_vector[8];   /* by the low 3 bits of data (msix_program's) */
} msis = { .lock = PTHREAD_MUTEX_INITIALIZER };

static inline int record_msi(struct vmctx *c, uint64_t addr, uint32_t data)
{
	pthread_mutex_lock(&msis.lock);
	msis.n++;
	msis.addr = addr;
	msis.data = data;
	msis.per_vector[data & 7]++;
	pthread_mutex_unlock(&msis.lock);
	return 0;
}

static inline int msi_count(void)
{
	int n;

	pthread_mutex_lock(&msis.lock);
	n = msis.n;
	pthread_mutex_unlock(&msis.lock);
	return n;
}

static inline unsigned msi_vector_count(unsigned v)
{
	unsigned n;

	pthread_mutex_lock(&msis.lock);
	n = msis.per_vector[v & 7];
	pthread_mutex_unlock(&msis.lock);
	return n;
}

static inline void msi_clear(void)
{
	pthread_mutex_lock(&msis.lock);
	msis.n = 0;
	memset(msis.per_vector, 0, sizeof(msis.per_vector));
	pthread_mutex_unlock(&msis.lock);
}

/* ---- Time ----------------------------------------------------------------- */

static inline void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Poll cond (the event loop thread makes it true) for up to 5 s. */
#define WAIT_FOR(cond)                                                          \
	({                                                                      \
		int __ms = 0;                                                   \
		while (!(cond) && __ms < 5000) {                                \
			sleep_ms(1);                                            \
			__ms++;                                                 \
		}                                                               \
		(cond);                                                         \
	})

/* ---- The fake VM and its event loop ---------------------------------------- */

/* Guest RAM at GPA 0 and an event loop; then the test sets config and calls pci_init(). */
static inline void vd_vm_init(size_t ram_size)
{
	ctx = (struct vmctx){ .vm_fd = -1, .kvm_fd = -1, .lowmem = ram_size,
			      .ram_map_len = ram_size };
	ctx.ram = aligned_alloc(4096, ram_size);
	assert_non_null(ctx.ram);
	memset(ctx.ram, 0, ram_size);
	assert_int_equal(mevent_init(), 0);
}

static inline void *vd_loop_main(void *arg)
{
	mevent_dispatch();
	return NULL;
}

/* After pci_init(): MSIs are recorded, the event loop runs. */
static inline void vd_loop_start(void)
{
	pci_set_msi_sender(record_msi);
	assert_int_equal(pthread_create(&vd_loop, NULL, vd_loop_main, NULL), 0);
}

static inline void vd_loop_stop(void)
{
	mevent_stop();
	pthread_join(vd_loop, NULL);
}

/* CPU time the event loop thread has used: a device that busy-polls shows here. */
static inline uint64_t vd_loop_cpu_ns(void)
{
	struct timespec ts;
	clockid_t cid;

	assert_int_equal(pthread_getcpuclockid(vd_loop, &cid), 0);
	assert_int_equal(clock_gettime(cid, &ts), 0);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- Guest accesses ------------------------------------------------------- */

static inline uint64_t mmio_rd(uint64_t gpa, int size)
{
	uint64_t v = 0;

	assert_int_equal(emulate_mem(&ctx, false, gpa, size, &v), 0);
	return size == 8 ? v : v & ((1ull << (8 * size)) - 1);
}

static inline void mmio_wr(uint64_t gpa, int size, uint64_t v)
{
	assert_int_equal(emulate_mem(&ctx, true, gpa, size, &v), 0);
}

static inline void *ram(uint64_t gpa)
{
	return ctx.ram + gpa;
}

static inline uint32_t cfg_rd(unsigned slot, unsigned off, int bytes)
{
	uint32_t v;

	pci_cfg_access(0, (uint8_t)slot, 0, off, bytes, false, &v);
	return v;
}

static inline void cfg_wr(unsigned slot, unsigned off, int bytes, uint32_t v)
{
	pci_cfg_access(0, (uint8_t)slot, 0, off, bytes, true, &v);
}

/* ---- The device, as the driver found it ------------------------------------- */

struct vdev {
	unsigned slot;
	/* From the capabilities. */
	uint64_t common, isr, devcfg, notify;
	bool notify_port;          /* notify is an I/O port, not a guest address */
	uint32_t notify_mult, pcicfg_cap, msix_cap;
	uint64_t msix_table;
};

static inline uint64_t cc_rd(const struct vdev *v, unsigned off, int size)
{
	return mmio_rd(v->common + off, size);
}

static inline void cc_wr(const struct vdev *v, unsigned off, int size, uint64_t val)
{
	mmio_wr(v->common + off, size, val);
}

/* 64-bit registers in 32-bit halves, low first, as Linux writes them. */
static inline void wr64(const struct vdev *v, unsigned off, uint64_t val)
{
	cc_wr(v, off, 4, (uint32_t)val);
	cc_wr(v, off + 4, 4, val >> 32);
}

static inline uint8_t status(const struct vdev *v)
{
	return (uint8_t)cc_rd(v, CC_STATUS, 1);
}

static inline void set_status(const struct vdev *v, uint8_t s)
{
	cc_wr(v, CC_STATUS, 1, s);
}

static inline bool needs_reset(const struct vdev *v)
{
	return status(v) & VIRTIO_STATUS_NEEDS_RESET;
}

static inline bool cap_in_io_bar(unsigned slot, unsigned cap)
{
	return cfg_rd(slot, PCIR_BAR0 + 4 * cfg_rd(slot, cap + 4, 1), 4) & 1;
}

/* Where a virtio structure lives: BAR base + offset (a port for notify in BAR 2). */
static inline uint64_t cap_addr(unsigned slot, unsigned cap)
{
	unsigned bar = cfg_rd(slot, cap + 4, 1);

	if (cap_in_io_bar(slot, cap)) {
		assert_int_equal(bar, VIRTIO_PORT_NOTIFY_BAR);
		return (cfg_rd(slot, PCIR_BAR0 + 4 * bar, 4) & ~0x3u) + cfg_rd(slot, cap + 8, 4);
	}
	assert_int_equal(bar, VIRTIO_BAR);
	return (cfg_rd(slot, PCIR_BAR0 + 4 * bar, 4) & ~0xfu) + cfg_rd(slot, cap + 8, 4);
}

/* Walk the capability list as Linux's virtio_pci_modern does. */
static inline void find_caps(struct vdev *v)
{
	unsigned off = cfg_rd(v->slot, PCIR_CAP_PTR, 1);

	v->common = v->isr = v->devcfg = v->notify = 0;
	for (int n = 0; off != 0 && n < 48; n++, off = cfg_rd(v->slot, off + 1, 1)) {
		unsigned id = cfg_rd(v->slot, off, 1);

		if (id == PCIY_MSIX) {
			v->msix_cap = off;
			v->msix_table = (cfg_rd(v->slot, PCIR_BAR0 + 4 * VIRTIO_MSIX_BAR, 4) & ~0xfu) +
					(cfg_rd(v->slot, off + 4, 4) & ~7u);
			continue;
		}
		if (id != PCIY_VENDOR)
			continue;
		switch (cfg_rd(v->slot, off + 3, 1)) {
		case 1:
			v->common = cap_addr(v->slot, off);
			break;
		case 2: /* the first one, as Linux and FreeBSD take it */
			if (v->notify)
				break;
			v->notify = cap_addr(v->slot, off);
			v->notify_port = cap_in_io_bar(v->slot, off);
			v->notify_mult = cfg_rd(v->slot, off + 16, 4);
			break;
		case 3:
			v->isr = cap_addr(v->slot, off);
			break;
		case 4:
			v->devcfg = cap_addr(v->slot, off);
			break;
		case 5:
			v->pcicfg_cap = off;
			break;
		}
	}
	assert_true(v->common && v->isr && v->devcfg && v->notify && v->pcicfg_cap);
	assert_int_not_equal(v->msix_cap, 0);
}

static inline uint64_t device_features(const struct vdev *v)
{
	uint64_t f;

	cc_wr(v, CC_DFSELECT, 4, 0);
	f = cc_rd(v, CC_DF, 4);
	cc_wr(v, CC_DFSELECT, 4, 1);
	return f | cc_rd(v, CC_DF, 4) << 32;
}

static inline void driver_features(const struct vdev *v, uint64_t f)
{
	cc_wr(v, CC_GFSELECT, 4, 0);
	cc_wr(v, CC_GF, 4, (uint32_t)f);
	cc_wr(v, CC_GFSELECT, 4, 1);
	cc_wr(v, CC_GF, 4, f >> 32);
}

/* Reset and wait for it to finish (the spec's "driver MUST wait for 0"). */
static inline void drv_reset(const struct vdev *v)
{
	set_status(v, 0);
	assert_true(WAIT_FOR(status(v) == 0));
}

/* Reset, then up to FEATURES_OK; returns the status read back. */
static inline uint8_t drv_negotiate(const struct vdev *v, uint64_t features)
{
	drv_reset(v);
	set_status(v, VIRTIO_STATUS_ACKNOWLEDGE);
	set_status(v, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	driver_features(v, features);
	set_status(v, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
		   VIRTIO_STATUS_FEATURES_OK);
	return status(v);
}

/* Vectors 0..n-1 to distinct addresses, data 0x4030 + v; then MSI-X on. */
static inline void msix_program(const struct vdev *v, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		mmio_wr(v->msix_table + 16 * i, 4, 0xfee00000u + 0x1000 * i);
		mmio_wr(v->msix_table + 16 * i + 4, 4, 0);
		mmio_wr(v->msix_table + 16 * i + 8, 4, 0x4030 + i);
		mmio_wr(v->msix_table + 16 * i + 12, 4, 0);
	}
	cfg_wr(v->slot, v->msix_cap + 2, 2, 0x8000);
}

/* MSI-X off and vectors 0..n-1 masked, as after a guest reboot. */
static inline void msix_disable(const struct vdev *v, unsigned n)
{
	cfg_wr(v->slot, v->msix_cap + 2, 2, 0);
	for (unsigned i = 0; i < n; i++)
		mmio_wr(v->msix_table + 16 * i + 12, 4, 1);
}

/* ---- Virtqueues, as the driver keeps them ------------------------------------ */

struct dq {
	const struct vdev *dev;
	uint16_t index, size;
	uint64_t desc, avail, used;
	uint64_t notify;           /* its notify address, read at dq_setup() */
	bool legacy;               /* set up through the legacy interface: kicks go to BAR 0 */
	uint16_t avail_idx, used_seen, next_desc;
};

/* One chain element: a buffer the device reads, or writes (w). */
struct seg {
	uint64_t gpa;
	uint32_t len;
	bool w;
};

/* Queue index of v with its rings in [area, area + DQ_AREA), zeroed; indices from 0. */
static inline void dq_layout(struct dq *q, const struct vdev *v, uint16_t index, uint64_t area,
			     uint16_t size)
{
	*q = (struct dq){ .dev = v, .index = index, .size = size, .desc = area,
			  .avail = area + 0x4000, .used = area + 0x6000 };
	memset(ram(area), 0, DQ_AREA);
}

/* Program and enable the queue, as Linux's setup_vq does. */
static inline void dq_setup(struct dq *q, uint16_t vector)
{
	const struct vdev *v = q->dev;

	cc_wr(v, CC_Q_SELECT, 2, q->index);
	assert_int_not_equal(cc_rd(v, CC_Q_SIZE, 2), 0);
	q->notify = v->notify + cc_rd(v, CC_Q_NOFF, 2) * v->notify_mult;
	cc_wr(v, CC_Q_SIZE, 2, q->size);
	wr64(v, CC_Q_DESC, q->desc);
	wr64(v, CC_Q_AVAIL, q->avail);
	wr64(v, CC_Q_USED, q->used);
	cc_wr(v, CC_Q_MSIX, 2, vector);
	cc_wr(v, CC_Q_ENABLE, 2, 1);
}

static inline struct vring_avail_le *avail(const struct dq *q)
{
	return ram(q->avail);
}

static inline struct vring_used_le *used(const struct dq *q)
{
	return ram(q->used);
}

static inline void set_desc(const struct dq *q, uint16_t i, uint64_t addr, uint32_t len,
			    uint16_t flags, uint16_t next)
{
	struct vring_desc_le desc = { addr, len, flags, next };

	memcpy(ram(q->desc + 16ull * i), &desc, sizeof(desc));
}

/* Make head available (without kicking). */
static inline void offer(struct dq *q, uint16_t head)
{
	avail(q)->ring[q->avail_idx % q->size] = head;
	q->avail_idx++;
	__atomic_store_n(&avail(q)->idx, q->avail_idx, __ATOMIC_RELEASE);
}

/*
 * Chain n segments into consecutive descriptors (wrapping) and make it
 * available. Descriptors are reused round-robin: the test keeps fewer than
 * size of them outstanding.
 */
static inline uint16_t post(struct dq *q, const struct seg *s, unsigned n)
{
	uint16_t head = q->next_desc;

	for (unsigned i = 0; i < n; i++) {
		uint16_t idx = (uint16_t)((head + i) % q->size);
		uint16_t next = (uint16_t)((head + i + 1) % q->size);
		uint16_t flags = (s[i].w ? VIRTQ_DESC_F_WRITE : 0) |
				 (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0);

		set_desc(q, idx, s[i].gpa, s[i].len, flags, next);
	}
	q->next_desc = (uint16_t)((head + n) % q->size);
	offer(q, head);
	return head;
}

static inline void lg_wr(const struct vdev *v, unsigned off, int bytes, uint32_t val);

/* Notify through the queue's notify address (a trapped write: no ioeventfd here). */
static inline void kick(const struct dq *q)
{
	uint32_t v = q->index;

	if (q->legacy)
		lg_wr(q->dev, 0x10, 2, q->index);
	else if (q->dev->notify_port)
		assert_int_equal(emulate_inout(&ctx, false, (uint16_t)q->notify, 2, &v), 0);
	else
		mmio_wr(q->notify, 2, q->index);
}

static inline uint16_t used_idx(const struct dq *q)
{
	return __atomic_load_n(&used(q)->idx, __ATOMIC_ACQUIRE);
}

/* Used entries the test has not taken yet. */
static inline uint16_t used_pending(const struct dq *q)
{
	return (uint16_t)(used_idx(q) - q->used_seen);
}

/* Wait until exactly n more used entries than the test has taken are there. */
static inline bool wait_used(const struct dq *q, unsigned n)
{
	return WAIT_FOR(used_pending(q) == n);
}

/* Wait until at least n are (a device may publish several at once). */
static inline bool wait_used_min(const struct dq *q, unsigned n)
{
	return WAIT_FOR(used_pending(q) >= n);
}

/* The next used element. */
static inline struct vring_used_elem_le take_used(struct dq *q)
{
	return used(q)->ring[q->used_seen++ % q->size];
}

/* ---- The legacy interface (virtio 1.1 section 4.1.4.8) ----------------------- */

#define LG_HOST_FEATURES 0x00
#define LG_GUEST_FEATURES 0x04
#define LG_QUEUE_PFN 0x08
#define LG_QUEUE_NUM 0x0c
#define LG_QUEUE_SEL 0x0e
#define LG_QUEUE_NOTIFY 0x10
#define LG_STATUS 0x12
#define LG_ISR 0x13
#define LG_MSIX_CONFIG 0x14
#define LG_MSIX_QUEUE 0x16
#define LG_DEVCFG 0x14        /* 0x18 while MSI-X is on */

/* BAR 0, with I/O decoding on. */
static inline uint16_t lg_port(const struct vdev *v)
{
	uint32_t bar = cfg_rd(v->slot, PCIR_BAR0, 4);

	assert_int_equal(bar & 1, 1); /* an I/O BAR */
	cfg_wr(v->slot, PCIR_COMMAND, 2, cfg_rd(v->slot, PCIR_COMMAND, 2) | PCIM_CMD_PORTEN);
	return (uint16_t)(bar & ~3u);
}

static inline uint32_t lg_rd(const struct vdev *v, unsigned off, int bytes)
{
	uint32_t val = 0;

	assert_int_equal(emulate_inout(&ctx, true, (uint16_t)(lg_port(v) + off), bytes, &val), 0);
	return bytes == 4 ? val : val & ((1u << (8 * bytes)) - 1);
}

static inline void lg_wr(const struct vdev *v, unsigned off, int bytes, uint32_t val)
{
	assert_int_equal(emulate_inout(&ctx, false, (uint16_t)(lg_port(v) + off), bytes, &val), 0);
}

/* Reset (wait for 0), ACKNOWLEDGE | DRIVER, the features (32 bits), as Linux. */
static inline void lg_negotiate(const struct vdev *v, uint32_t features)
{
	lg_wr(v, LG_STATUS, 1, 0);
	assert_true(WAIT_FOR(lg_rd(v, LG_STATUS, 1) == 0));
	lg_wr(v, LG_STATUS, 1, VIRTIO_STATUS_ACKNOWLEDGE);
	lg_wr(v, LG_STATUS, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	lg_wr(v, LG_GUEST_FEATURES, 4, features);
}

/*
 * Queue index at area (4 KiB aligned) in the legacy layout, of the size the
 * device dictates: descriptors, then avail, used at the next page; then
 * its page frame number written, which starts it.
 */
static inline void lg_queue_setup(struct dq *q, const struct vdev *v, uint16_t index,
				  uint64_t area)
{
	uint16_t size;

	lg_wr(v, LG_QUEUE_SEL, 2, index);
	size = (uint16_t)lg_rd(v, LG_QUEUE_NUM, 2);
	assert_int_not_equal(size, 0);
	assert_int_equal(area & 4095, 0);
	*q = (struct dq){ .dev = v, .index = index, .size = size, .desc = area,
			  .avail = area + 16ull * size, .legacy = true };
	q->used = (q->avail + 6 + 2ull * size + 4095) & ~4095ull;
	memset(ram(area), 0, DQ_AREA);
	lg_wr(v, LG_QUEUE_PFN, 4, (uint32_t)(area >> 12));
}

static inline void lg_driver_ok(const struct vdev *v)
{
	lg_wr(v, LG_STATUS, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				       VIRTIO_STATUS_DRIVER_OK);
}

#endif
