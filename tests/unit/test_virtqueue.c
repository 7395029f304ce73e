/*
 * Split virtqueue, device side (src/virtio/virtqueue.c). The test plays the
 * driver: it lays out descriptor table, avail and used rings in a fake guest
 * RAM (a malloc'd buffer, so ASan catches any access beyond it) and checks
 * what the device sees -- well-formed chains, notification and interrupt
 * suppression, 16-bit index wraparound -- and that every malformed ring a
 * hostile guest can build breaks the queue instead of reaching host memory.
 */
#include <endian.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/mman.h>
#include <cmocka.h>

#include "lib/vmmapi.h"
#include "virtio/virtio_ring.h"
#include "virtio/virtqueue.h"

#define RAM_SIZE  (1u << 20)
#define DESC_GPA  0x1000ull   /* up to 16 KiB for 1024 entries */
#define AVAIL_GPA 0x5000ull
#define USED_GPA  0x6000ull   /* up to 0x8006 */
#define BUF_GPA   0x10000ull  /* buffers the chains point at */
#define TABLE_GPA 0x80000ull  /* indirect tables */

#define R 0                       /* device-readable */
#define W VIRTQ_DESC_F_WRITE      /* device-writable */
#define N VIRTQ_DESC_F_NEXT
#define I VIRTQ_DESC_F_INDIRECT

struct fx {
	struct vmctx ctx;
	struct virtqueue vq;
	struct vq_chain c;
	uint16_t avail_idx;     /* driver's next avail index */
	bool mmapped;
};

static struct fx *fx_new_ram(uint16_t size, bool event_idx, bool indirect, uint64_t ram)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	if (ram > RAM_SIZE) {
		/* Only the pages the test touches are ever backed. */
		f->ctx.ram = mmap(NULL, ram, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		assert_true(f->ctx.ram != MAP_FAILED);
		f->mmapped = true;
	} else {
		f->ctx.ram = aligned_alloc(4096, ram);
		assert_non_null(f->ctx.ram);
		memset(f->ctx.ram, 0, ram);
	}
	f->ctx.ram_map_len = ram;
	f->ctx.lowmem = ram;
	f->ctx.highmem = 0;
	f->vq.ctx = &f->ctx;
	f->vq.size = size;
	f->vq.desc_gpa = DESC_GPA;
	f->vq.avail_gpa = AVAIL_GPA;
	f->vq.used_gpa = USED_GPA;
	f->vq.event_idx = event_idx;
	f->vq.indirect = indirect;
	return f;
}

/* A queue of size entries, enabled. */
static struct fx *fx_new(uint16_t size, bool event_idx, bool indirect)
{
	struct fx *f = fx_new_ram(size, event_idx, indirect, RAM_SIZE);

	assert_int_equal(vq_enable(&f->vq), 0);
	assert_true(vq_enabled(&f->vq));
	assert_false(vq_broken(&f->vq));
	return f;
}

static void fx_free(struct fx *f)
{
	if (f->mmapped)
		munmap(f->ctx.ram, f->ctx.ram_map_len);
	else
		free(f->ctx.ram);
	free(f);
}

static void *gpa(struct fx *f, uint64_t addr)
{
	return f->ctx.ram + addr;
}

/* Descriptor i of the table at table_gpa (need not be aligned). */
static void set_desc_at(struct fx *f, uint64_t table_gpa, unsigned int i, uint64_t addr,
			uint32_t len, uint16_t flags, uint16_t next)
{
	struct vring_desc_le d = {
		.addr = htole64(addr), .len = htole32(len),
		.flags = htole16(flags), .next = htole16(next),
	};

	memcpy(gpa(f, table_gpa + 16ull * i), &d, sizeof(d));
}

static void set_desc(struct fx *f, unsigned int i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	set_desc_at(f, DESC_GPA, i, addr, len, flags, next);
}

static struct vring_avail_le *avail(struct fx *f)
{
	return gpa(f, f->vq.avail_gpa);
}

static struct vring_used_le *used(struct fx *f)
{
	return gpa(f, f->vq.used_gpa);
}

static uint16_t *used_event(struct fx *f)
{
	return &avail(f)->ring[f->vq.size];
}

static uint16_t avail_event(struct fx *f)
{
	return le16toh(*(uint16_t *)&used(f)->ring[f->vq.size]);
}

/* Driver: make the chain at head available. */
static void offer(struct fx *f, uint16_t head)
{
	avail(f)->ring[f->avail_idx % f->vq.size] = htole16(head);
	f->avail_idx++;
	avail(f)->idx = htole16(f->avail_idx);
}

/* A one-descriptor writable chain at descriptor i. */
static void offer_simple(struct fx *f, uint16_t i)
{
	set_desc(f, i, BUF_GPA + 0x100ull * i, 64, W, 0);
	offer(f, i);
}

static void assert_broken(struct fx *f)
{
	assert_int_equal(vq_pop(&f->vq, &f->c), -1);
	assert_true(vq_broken(&f->vq));
	/* And stays so. */
	assert_int_equal(vq_pop(&f->vq, &f->c), -1);
	assert_false(vq_has_work(&f->vq));
}

static void assert_iov(struct fx *f, unsigned int k, uint64_t addr, size_t len)
{
	assert_ptr_equal(f->c.iov[k].iov_base, gpa(f, addr));
	assert_int_equal(f->c.iov[k].iov_len, len);
}

/* The driver-side check of virtio 1.1 2.7.10 (for the tests' own use). */
static bool driver_need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

/* ---- well-formed chains ---- */

static void test_readable_writable_chain(void **state)
{
	struct fx *f = fx_new(8, false, false);

	assert_int_equal(vq_pop(&f->vq, &f->c), 0);
	assert_false(vq_has_work(&f->vq));
	set_desc(f, 5, BUF_GPA, 16, R | N, 2);
	set_desc(f, 2, BUF_GPA + 0x100, 100, R | N, 7);
	set_desc(f, 7, BUF_GPA + 0x1000, 512, W, 0);
	offer(f, 5);
	assert_true(vq_has_work(&f->vq));
	assert_int_equal(vq_pop(&f->vq, &f->c), 1);
	assert_int_equal(f->c.head, 5);
	assert_int_equal(f->c.niov, 3);
	assert_int_equal(f->c.nreadable, 2);
	assert_int_equal(f->c.readable_len, 116);
	assert_int_equal(f->c.writable_len, 512);
	assert_iov(f, 0, BUF_GPA, 16);
	assert_iov(f, 1, BUF_GPA + 0x100, 100);
	assert_iov(f, 2, BUF_GPA + 0x1000, 512);
	assert_false(vq_has_work(&f->vq));
	assert_int_equal(vq_pop(&f->vq, &f->c), 0);

	vq_push(&f->vq, 5, 300);
	assert_int_equal(le16toh(used(f)->idx), 0); /* not before publish */
	assert_true(vq_publish(&f->vq));
	assert_int_equal(le16toh(used(f)->idx), 1);
	assert_int_equal(le32toh(used(f)->ring[0].id), 5);
	assert_int_equal(le32toh(used(f)->ring[0].len), 300);
	assert_false(vq_broken(&f->vq));
	fx_free(f);
}

static void test_readable_only_and_writable_only(void **state)
{
	struct fx *f = fx_new(4, false, false);

	set_desc(f, 0, BUF_GPA, 10, R, 0);
	set_desc(f, 1, BUF_GPA, 20, W | N, 2);
	set_desc(f, 2, BUF_GPA + 20, 30, W, 0);
	offer(f, 0);
	offer(f, 1);
	assert_int_equal(vq_pop(&f->vq, &f->c), 1);
	assert_int_equal(f->c.niov, 1);
	assert_int_equal(f->c.nreadable, 1);
	assert_int_equal(f->c.writable_len, 0);
	assert_int_equal(vq_pop(&f->vq, &f->c), 1);
	assert_int_equal(f->c.head, 1);
	assert_int_equal(f->c.niov, 2);
	assert_int_equal(f->c.nreadable, 0);
	assert_int_equal(f->c.readable_len, 0);
	assert_int_equal(f->c.writable_len, 50);
	fx_free(f);
}

/* Several chains in flight, completed out of order. */
static void test_out_of_order_completion(void **state)
{
	struct fx *f = fx_new(4, false, false);

	for (uint16_t i = 0; i < 4; i++)
		offer_simple(f, i);
	for (uint16_t i = 0; i < 4; i++) {
		assert_int_equal(vq_pop(&f->vq, &f->c), 1);
		assert_int_equal(f->c.head, i);
	}
	assert_int_equal(vq_pop(&f->vq, &f->c), 0);
	vq_push(&f->vq, 2, 1);
	vq_push(&f->vq, 0, 2);
	vq_push(&f->vq, 3, 3);
	vq_push(&f->vq, 1, 4);
	assert_true(vq_publish(&f->vq));
	assert_int_equal(le16toh(used(f)->idx), 4);
	assert_int_equal(le32toh(used(f)->ring[0].id), 2);
	assert_int_equal(le32toh(used(f)->ring[3].id), 1);
	assert_int_equal(le32toh(used(f)->ring[3].len), 4);
	fx_free(f);
}

static void test_zero_length_skipped(void **state)
{
	struct fx *f = fx_new(8, false, false);

	/* A zero-length descriptor's address is never used, even if garbage. */
	set_desc(f, 0, BUF_GPA, 10, R | N, 1);
	set_desc(f, 1, UINT64_MAX, 0, R | N, 2);
	set_desc(f, 2, BUF_GPA + 0x100, 20, W | N, 3);
	set_desc(f, 3, 0xdead00000000ull, 0, W, 0);
	offer(f, 0);
	assert_int_equal(vq_pop(&f->vq, &f->c), 1);
	assert_int_equal(f->c.niov, 2);
	assert_int_equal(f->c.nreadable, 1);
	assert_iov(f, 0, BUF_GPA, 10);
	assert_iov(f, 1, BUF_GPA + 0x100, 20);
	assert_int_equal(f->c.readable_len, 10);
	assert_int_equal(f->c.writable_len, 20);

	/* A chain of nothing but a zero-length descriptor: no iovec at all. */
	set_desc(f, 4, 0, 0, R, 0);
	offer(f, 4);
	assert_int_equal(vq_pop(&f->vq, &f->c), 1);
	assert_int_equal(f->c.niov, 0);
	assert_false(vq_broken(&f->vq));
	fx_free(f);
}

/* A buffer ending exactly at the end of RAM is fine. */
static void test_buffer_at_end_of_ram(void **state)
{
	struct fx *f = fx_new(4, false, false);

	set_desc(f, 0, RAM_SIZE - 10, 10, W, 0);
	offer(f, 0);
	assert_int_equal(vq_pop(&f->vq, &f->c), 1);
	assert_iov(f, 0, RAM_SIZE - 10, 10);
	fx_free(f);
}

/* A chain of exactly size descriptors is the longest allowed. */
static void test_chain_of_size_descriptors(void **state)
{
	struct fx *f = fx_new(8, false, false);

	for (uint16_t i = 0; i < 8; i++)
		set_desc(f, i, BUF_GPA + 8 * i, 8, R | (i < 7 ? N : 0), (uint16_t)(i + 1));
	offer(f, 0);
	assert_int_equal(vq_pop(&f->vq, &f->c), 1);
	assert_int_equal(f->c.niov, 8);
	assert_int_equal(f->c.readable_len, 64);
	fx_free(f);
}

static void test_unpop(void **state)
{
	struct fx *f = fx_new(4, false, false);

	offer_simple(f, 3);
	offer_simple(f, 1);
	assert_int_equal(vq_pop(&f->vq, &f->c), 1);
	assert_int_equal(f->c.head, 3);
	vq_unpop(&f->vq);
	assert_true(vq_has_work(&f->vq));
	assert_int_equal(vq_pop(&f->vq, &f->c), 1);
	assert_int_equal(f->c.head, 3);
	assert_int_equal(vq_pop(&f->vq, &f->c), 1);
	assert_int_equal(f->c.head, 1);
	vq_unpop(&f->vq);
	assert_int_equal(vq_pop(&f->vq, &f->c), 1);
	assert_int_equal(f->c.head, 1);
	assert_int_equal(vq_pop(&f->vq, &f->c), 0);
	fx_free(f);
}

/* The avail ring may hold exactly size outstanding chains. */
static void test_full_avail_ring(void **state)
{
	struct fx *f = fx_new(4, false, false);

	for (uint16_t i = 0; i < 4; i++)
		offer_simple(f, i);
	for (int i = 0; i < 4; i++)
		assert_int_equal(vq_pop(&f->vq, &f->c), 1);
	assert_int_equal(vq_pop(&f->vq, &f->c), 0);
	fx_free(f);
}

/* ---- indirect descriptors ---- */

static void test_indirect_table(void **state)
{
	struct fx *f = fx_new(4, false, true);

	set_desc_at(f, TABLE_GPA, 0, BUF_GPA, 16, R | N, 2);
	set_desc_at(f, TABLE_GPA, 2, BUF_GPA + 0x100, 32, R | N, 1);
	set_desc_at(f, TABLE_GPA, 1, BUF_GPA + 0x200, 64, W, 0);
	/* WRITE on the descriptor that points at the table is ignored (2.7.5.3.2). */
	set_desc(f, 3, TABLE_GPA, 3 * 16, I | W, 0);
	offer(f, 3);
	assert_int_equal(vq_pop(&f->vq, &f->c), 1);
	assert_int_equal(f->c.head, 3);
	assert_int_equal(f->c.niov, 3);
	assert_int_equal(f->c.nreadable, 2);
	assert_int_equal(f->c.readable_len, 48);
	assert_int_equal(f->c.writable_len, 64);
	assert_iov(f, 0, BUF_GPA, 16);
	assert_iov(f, 1, BUF_GPA + 0x100, 32);
	assert_iov(f, 2, BUF_GPA + 0x200, 64);
	fx_free(f);
}

/* Direct descriptors followed by one indirect one (2.7.5.3.2 allows it). */
static void test_direct_then_indirect(void **state)
{
	struct fx *f = fx_new(4, false, true);

	set_desc(f, 0, BUF_GPA, 16, R | N, 1);
	set_desc(f, 1, TABLE_GPA, 2 * 16, I, 0);
	set_desc_at(f, TABLE_GPA, 0, BUF_GPA + 0x100, 32, R | N, 1);
	set_desc_at(f, TABLE_GPA, 1, BUF_GPA + 0x200, 64, W, 0);
	offer(f, 0);
	assert_int_equal(vq_pop(&f->vq, &f->c), 1);
	assert_int_equal(f->c.niov, 3);
	assert_int_equal(f->c.nreadable, 2);
	assert_int_equal(f->c.writable_len, 64);
	fx_free(f);
}

/* A table of size entries: Linux builds those (virtio-blk, seg_max = size - 2). */
static void test_indirect_table_of_size_entries(void **state)
{
	struct fx *f = fx_new(8, false, true);

	for (uint16_t i = 0; i < 8; i++)
		set_desc_at(f, TABLE_GPA, i, BUF_GPA + 16 * i, 16, W | (i < 7 ? N : 0),
			    (uint16_t)(i + 1));
	set_desc(f, 0, TABLE_GPA, 8 * 16, I, 0);
	offer(f, 0);
	assert_int_equal(vq_pop(&f->vq, &f->c), 1);
	assert_int_equal(f->c.niov, 8);
	assert_int_equal(f->c.writable_len, 128);
	fx_free(f);
}

/* The spec does not make drivers align indirect tables. */
static void test_indirect_table_unaligned(void **state)
{
	struct fx *f = fx_new(4, false, true);

	set_desc_at(f, TABLE_GPA + 3, 0, BUF_GPA, 16, R | N, 1);
	set_desc_at(f, TABLE_GPA + 3, 1, BUF_GPA + 0x100, 32, W, 0);
	set_desc(f, 0, TABLE_GPA + 3, 32, I, 0);
	offer(f, 0);
	assert_int_equal(vq_pop(&f->vq, &f->c), 1);
	assert_int_equal(f->c.niov, 2);
	assert_int_equal(f->c.writable_len, 32);
	fx_free(f);
}

/* ---- interrupt suppression (used buffer notifications) ---- */

/* Pop and complete one offered chain; returns what vq_publish() said. */
static bool complete_one(struct fx *f)
{
	assert_int_equal(vq_pop(&f->vq, &f->c), 1);
	vq_push(&f->vq, f->c.head, 0);
	return vq_publish(&f->vq);
}

static void test_no_interrupt_flag(void **state)
{
	struct fx *f = fx_new(4, false, false);

	avail(f)->flags = htole16(VIRTQ_AVAIL_F_NO_INTERRUPT);
	offer_simple(f, 0);
	assert_false(complete_one(f));
	assert_int_equal(le16toh(used(f)->idx), 1); /* published all the same */
	avail(f)->flags = 0;
	offer_simple(f, 1);
	assert_true(complete_one(f));
	/* Nothing new since the last publish: no interrupt. */
	assert_false(vq_publish(&f->vq));
	fx_free(f);
}

/*
 * Without EVENT_IDX the used ring ends with its last entry: a driver may keep
 * its own data right after it (SeaBIOS keeps its ring's size there), which
 * enabling the queue and completing buffers must leave alone.
 */
static void test_no_event_idx_no_avail_event(void **state)
{
	struct fx *f = fx_new_ram(4, false, false, RAM_SIZE);
	uint16_t *after = gpa(f, USED_GPA + vring_used_bytes(4) - 2);

	*after = 0xbeef;
	assert_int_equal(vq_enable(&f->vq), 0);
	assert_int_equal(*after, 0xbeef);
	offer_simple(f, 0);
	assert_true(complete_one(f));
	assert_int_equal(le16toh(used(f)->idx), 1);
	assert_int_equal(*after, 0xbeef);
	fx_free(f);
}

static void test_event_idx_suppression(void **state)
{
	struct fx *f = fx_new(8, true, false);

	/* used_event 0: interrupt when used->idx goes past 0. */
	offer_simple(f, 0);
	assert_true(complete_one(f));
	/* used_event 3: not for used idx 2 ... */
	*used_event(f) = htole16(3);
	offer_simple(f, 1);
	assert_false(complete_one(f));
	/* ... but for a batch that takes it from 2 to 4. */
	offer_simple(f, 2);
	offer_simple(f, 3);
	assert_int_equal(vq_pop(&f->vq, &f->c), 1);
	vq_push(&f->vq, f->c.head, 0);
	assert_int_equal(vq_pop(&f->vq, &f->c), 1);
	vq_push(&f->vq, f->c.head, 0);
	assert_true(vq_publish(&f->vq));
	assert_int_equal(le16toh(used(f)->idx), 4);
	assert_false(vq_publish(&f->vq));
	/* used_event stays behind: no more interrupts. */
	offer_simple(f, 4);
	assert_false(complete_one(f));
	/* The flag means nothing with EVENT_IDX. */
	avail(f)->flags = htole16(VIRTQ_AVAIL_F_NO_INTERRUPT);
	*used_event(f) = htole16(5);
	offer_simple(f, 5);
	assert_true(complete_one(f));
	fx_free(f);
}

/* ---- driver notification suppression ---- */

static void test_enable_notify_race_event_idx(void **state)
{
	struct fx *f = fx_new(8, true, false);

	vq_disable_notify(&f->vq);
	offer_simple(f, 0);
	offer_simple(f, 1);
	assert_int_equal(vq_pop(&f->vq, &f->c), 1);
	assert_int_equal(vq_pop(&f->vq, &f->c), 1);
	/* Notifications off: an empty pop does not touch avail_event. */
	assert_int_equal(vq_pop(&f->vq, &f->c), 0);
	assert_int_equal(avail_event(f), 0);
	/* The driver adds one while the device is busy; avail_event 0 says no kick. */
	offer_simple(f, 2);
	assert_false(driver_need_event(avail_event(f), 3, 2));
	/* Re-enabling notices it instead of waiting for a kick. */
	assert_true(vq_enable_notify(&f->vq));
	assert_int_equal(avail_event(f), 2);
	assert_int_equal(vq_pop(&f->vq, &f->c), 1);
	assert_int_equal(f->c.head, 2);
	assert_false(vq_enable_notify(&f->vq));
	assert_int_equal(avail_event(f), 3);
	/* Now the driver's next buffer (idx 3 -> 4) is kicked. */
	assert_true(driver_need_event(avail_event(f), 4, 3));
	assert_int_equal(le16toh(used(f)->flags), 0);
	fx_free(f);
}

static void test_enable_notify_flags(void **state)
{
	struct fx *f = fx_new(4, false, false);

	vq_disable_notify(&f->vq);
	assert_int_equal(le16toh(used(f)->flags), VIRTQ_USED_F_NO_NOTIFY);
	assert_false(vq_enable_notify(&f->vq));
	assert_int_equal(le16toh(used(f)->flags), 0);
	vq_disable_notify(&f->vq);
	offer_simple(f, 0);
	assert_true(vq_enable_notify(&f->vq));
	assert_int_equal(le16toh(used(f)->flags), 0);
	assert_int_equal(vq_pop(&f->vq, &f->c), 1);
	fx_free(f);
}

/* A device that just pops until 0 on each kick still gets the next kick. */
static void test_pop_until_empty_rearms(void **state)
{
	struct fx *f = fx_new(8, true, false);

	offer_simple(f, 0);
	offer_simple(f, 1);
	assert_int_equal(vq_pop(&f->vq, &f->c), 1);
	assert_int_equal(vq_pop(&f->vq, &f->c), 1);
	assert_int_equal(vq_pop(&f->vq, &f->c), 0);
	assert_int_equal(avail_event(f), 2);
	assert_true(driver_need_event(avail_event(f), 3, 2));
	fx_free(f);
}

/* ---- 16-bit index wraparound ---- */

static void test_index_wraparound(void **state)
{
	struct fx *f = fx_new(4, true, false);
	uint16_t used_seen = 0;

	/* Far enough that both indices wrap, one chain at a time. */
	for (unsigned int n = 0; n < 65536 + 100; n++) {
		uint16_t head = (uint16_t)(n % 4);

		offer_simple(f, head);
		/* The driver wants an interrupt for every buffer. */
		*used_event(f) = htole16(used_seen);
		assert_true(complete_one(f));
		assert_int_equal(f->c.head, head);
		used_seen = le16toh(used(f)->idx);
		assert_int_equal(used_seen, (uint16_t)(n + 1));
		assert_int_equal(le32toh(used(f)->ring[n % 4].id), head);
	}
	/* Now a batch straddling 65535 -> 0. */
	while (f->avail_idx != 65534) {
		offer_simple(f, 0);
		complete_one(f);
	}
	used_seen = le16toh(used(f)->idx);
	assert_int_equal(used_seen, 65534);
	*used_event(f) = htole16(65535);
	for (uint16_t i = 0; i < 3; i++)
		offer_simple(f, i);
	assert_int_equal(f->avail_idx, 1);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(vq_pop(&f->vq, &f->c), 1);
		vq_push(&f->vq, f->c.head, 0);
	}
	assert_int_equal(vq_pop(&f->vq, &f->c), 0);
	assert_true(vq_publish(&f->vq));
	assert_int_equal(le16toh(used(f)->idx), 1);
	/* used_event 65535 is behind now. */
	offer_simple(f, 3);
	assert_false(complete_one(f));
	assert_false(vq_broken(&f->vq));
	fx_free(f);
}

/* ---- malformed rings and chains ---- */

static void test_desc_loop(void **state)
{
	struct fx *f = fx_new(8, false, false);

	set_desc(f, 0, BUF_GPA, 8, R | N, 1);
	set_desc(f, 1, BUF_GPA, 8, R | N, 0);
	offer(f, 0);
	assert_broken(f);
	fx_free(f);
}

static void test_desc_self_loop_zero_length(void **state)
{
	struct fx *f = fx_new(8, false, false);

	/* No buffers at all, just spinning: still bounded. */
	set_desc(f, 3, 0, 0, R | N, 3);
	offer(f, 3);
	assert_broken(f);
	fx_free(f);
}

static void test_chain_longer_than_size_indirect(void **state)
{
	struct fx *f = fx_new(4, false, true);

	for (uint16_t i = 0; i < 5; i++)
		set_desc_at(f, TABLE_GPA, i, BUF_GPA, 8, R | (i < 4 ? N : 0), (uint16_t)(i + 1));
	set_desc(f, 0, TABLE_GPA, 5 * 16, I, 0);
	offer(f, 0);
	assert_broken(f);
	fx_free(f);
}

/* Direct and indirect descriptors count together against size. */
static void test_chain_longer_than_size_mixed(void **state)
{
	struct fx *f = fx_new(4, false, true);

	set_desc(f, 0, BUF_GPA, 8, R | N, 1);
	set_desc(f, 1, TABLE_GPA, 4 * 16, I, 0);
	for (uint16_t i = 0; i < 4; i++)
		set_desc_at(f, TABLE_GPA, i, BUF_GPA, 8, R | (i < 3 ? N : 0), (uint16_t)(i + 1));
	offer(f, 0);
	assert_broken(f);
	fx_free(f);
}

static void test_head_out_of_range(void **state)
{
	struct fx *f = fx_new(8, false, false);

	offer(f, 8);
	assert_broken(f);
	fx_free(f);
}

static void test_next_out_of_range(void **state)
{
	struct fx *f = fx_new(8, false, false);

	set_desc(f, 0, BUF_GPA, 8, R | N, 8);
	offer(f, 0);
	assert_broken(f);
	fx_free(f);
}

static void test_avail_idx_too_far_ahead(void **state)
{
	struct fx *f = fx_new(8, false, false);

	offer_simple(f, 0);
	avail(f)->idx = htole16(9);
	assert_broken(f);
	fx_free(f);
}

static void test_avail_idx_goes_back(void **state)
{
	struct fx *f = fx_new(8, false, false);

	offer_simple(f, 0);
	assert_int_equal(vq_pop(&f->vq, &f->c), 1);
	avail(f)->idx = 0;
	assert_broken(f);
	fx_free(f);
}

static void test_addr_beyond_ram(void **state)
{
	struct fx *f = fx_new(8, false, false);

	set_desc(f, 0, RAM_SIZE - 10, 11, W, 0);
	offer(f, 0);
	assert_broken(f);
	fx_free(f);
}

static void test_addr_far_beyond_ram(void **state)
{
	struct fx *f = fx_new(8, false, false);

	/* In the PCI hole, then at 4 GiB where this VM has no high memory. */
	set_desc(f, 0, BUF_GPA, 8, R | N, 1);
	set_desc(f, 1, 0xe0000000ull, 8, R, 0);
	offer(f, 0);
	assert_broken(f);
	fx_free(f);

	f = fx_new(8, false, false);
	set_desc(f, 0, 1ull << 32, 8, R, 0);
	offer(f, 0);
	assert_broken(f);
	fx_free(f);
}

static void test_addr_len_overflow(void **state)
{
	struct fx *f = fx_new(8, false, false);

	set_desc(f, 0, UINT64_MAX - 5, 10, R, 0);
	offer(f, 0);
	assert_broken(f);
	fx_free(f);
}

static void test_readable_after_writable(void **state)
{
	struct fx *f = fx_new(8, false, false);

	set_desc(f, 0, BUF_GPA, 8, W | N, 1);
	set_desc(f, 1, BUF_GPA, 8, R, 0);
	offer(f, 0);
	assert_broken(f);
	fx_free(f);
}

static void test_readable_after_writable_indirect(void **state)
{
	struct fx *f = fx_new(8, false, true);

	/* Writable direct descriptor, then a readable one in the table. */
	set_desc(f, 0, BUF_GPA, 8, W | N, 1);
	set_desc(f, 1, TABLE_GPA, 16, I, 0);
	set_desc_at(f, TABLE_GPA, 0, BUF_GPA, 8, R, 0);
	offer(f, 0);
	assert_broken(f);
	fx_free(f);

	/* Inside the table. */
	f = fx_new(8, false, true);
	set_desc(f, 0, TABLE_GPA, 32, I, 0);
	set_desc_at(f, TABLE_GPA, 0, BUF_GPA, 8, W | N, 1);
	set_desc_at(f, TABLE_GPA, 1, BUF_GPA, 8, R, 0);
	offer(f, 0);
	assert_broken(f);
	fx_free(f);
}

static void test_indirect_not_negotiated(void **state)
{
	struct fx *f = fx_new(8, false, false);

	set_desc_at(f, TABLE_GPA, 0, BUF_GPA, 8, R, 0);
	set_desc(f, 0, TABLE_GPA, 16, I, 0);
	offer(f, 0);
	assert_broken(f);
	fx_free(f);
}

static void test_indirect_nested(void **state)
{
	struct fx *f = fx_new(8, false, true);

	set_desc(f, 0, TABLE_GPA, 16, I, 0);
	set_desc_at(f, TABLE_GPA, 0, TABLE_GPA + 0x100, 16, I, 0);
	set_desc_at(f, TABLE_GPA + 0x100, 0, BUF_GPA, 8, R, 0);
	offer(f, 0);
	assert_broken(f);
	fx_free(f);

	/* A table pointing at itself. */
	f = fx_new(8, false, true);
	set_desc(f, 0, TABLE_GPA, 16, I, 0);
	set_desc_at(f, TABLE_GPA, 0, TABLE_GPA, 16, I, 0);
	offer(f, 0);
	assert_broken(f);
	fx_free(f);
}

static void test_indirect_with_next(void **state)
{
	struct fx *f = fx_new(8, false, true);

	set_desc(f, 0, TABLE_GPA, 16, I | N, 1);
	set_desc(f, 1, BUF_GPA, 8, W, 0);
	set_desc_at(f, TABLE_GPA, 0, BUF_GPA, 8, R, 0);
	offer(f, 0);
	assert_broken(f);
	fx_free(f);
}

/* Indirect table descriptor of len bytes at addr: must break the queue. */
static void check_bad_indirect_table(uint64_t addr, uint32_t len)
{
	struct fx *f = fx_new(8, false, true);

	set_desc_at(f, TABLE_GPA, 0, BUF_GPA, 8, R, 0);
	set_desc(f, 0, addr, len, I, 0);
	offer(f, 0);
	assert_broken(f);
	fx_free(f);
}

static void test_indirect_bad_table(void **state)
{
	check_bad_indirect_table(TABLE_GPA, 0);
	check_bad_indirect_table(TABLE_GPA, 8);
	check_bad_indirect_table(TABLE_GPA, 17);
	check_bad_indirect_table(TABLE_GPA, 40);
	check_bad_indirect_table(RAM_SIZE - 16, 32);     /* runs off RAM */
	check_bad_indirect_table(RAM_SIZE, 16);          /* wholly outside */
	check_bad_indirect_table(UINT64_MAX - 15, 32);   /* wraps */
}

static void test_indirect_next_beyond_table(void **state)
{
	struct fx *f = fx_new(8, false, true);

	/* next 2 is a valid index of the ring, but not of this 2-entry table. */
	set_desc(f, 0, TABLE_GPA, 32, I, 0);
	set_desc_at(f, TABLE_GPA, 0, BUF_GPA, 8, R | N, 2);
	set_desc_at(f, TABLE_GPA, 1, BUF_GPA, 8, R, 0);
	set_desc_at(f, TABLE_GPA, 2, BUF_GPA, 8, R, 0);
	offer(f, 0);
	assert_broken(f);
	fx_free(f);
}

static void test_indirect_loop(void **state)
{
	struct fx *f = fx_new(8, false, true);

	set_desc(f, 0, TABLE_GPA, 32, I, 0);
	set_desc_at(f, TABLE_GPA, 0, BUF_GPA, 8, R | N, 1);
	set_desc_at(f, TABLE_GPA, 1, BUF_GPA, 8, R | N, 0);
	offer(f, 0);
	assert_broken(f);
	fx_free(f);
}

/* Totals: 4 GiB - 1 is the most a chain may describe. */
static void test_huge_total_length(void **state)
{
	const uint64_t ram = 2ull << 30;
	const uint32_t big = 0x7fff0000;
	struct fx *f;

	/* Two descriptors covering [64 KiB, 2 GiB) twice, plus 0x1ffff: 0xffffffff. */
	f = fx_new_ram(8, false, false, ram);
	assert_int_equal(vq_enable(&f->vq), 0);
	set_desc(f, 0, 0x10000, big, R | N, 1);
	set_desc(f, 1, 0x10000, big, R | N, 2);
	set_desc(f, 2, 0x10000, 0x1ffff, W, 0);
	offer(f, 0);
	assert_int_equal(vq_pop(&f->vq, &f->c), 1);
	assert_int_equal(f->c.readable_len, 2ull * big);
	assert_int_equal(f->c.writable_len, 0x1ffff);
	/* One byte more. */
	set_desc(f, 2, 0x10000, 0x20000, W, 0);
	offer(f, 0);
	assert_broken(f);
	fx_free(f);

	/* Writable side alone. */
	f = fx_new_ram(8, false, false, ram);
	assert_int_equal(vq_enable(&f->vq), 0);
	set_desc(f, 0, 0x10000, big, W | N, 1);
	set_desc(f, 1, 0x10000, big, W | N, 2);
	set_desc(f, 2, 0x10000, big, W, 0);
	offer(f, 0);
	assert_broken(f);
	fx_free(f);
}

/* ---- vq_enable refusals ---- */

static void check_enable_fails(uint16_t size, uint64_t desc, uint64_t avail_gpa, uint64_t used_gpa)
{
	struct fx *f = fx_new_ram(size, true, true, RAM_SIZE);

	f->vq.desc_gpa = desc;
	f->vq.avail_gpa = avail_gpa;
	f->vq.used_gpa = used_gpa;
	assert_int_equal(vq_enable(&f->vq), -1);
	assert_false(vq_enabled(&f->vq));
	assert_true(vq_broken(&f->vq));
	assert_int_equal(vq_pop(&f->vq, &f->c), -1);
	assert_false(vq_has_work(&f->vq));
	/* Everything else is a harmless no-op. */
	vq_push(&f->vq, 0, 0);
	assert_false(vq_publish(&f->vq));
	vq_disable_notify(&f->vq);
	assert_false(vq_enable_notify(&f->vq));
	fx_free(f);
}

static void test_enable_bad_size(void **state)
{
	check_enable_fails(0, DESC_GPA, AVAIL_GPA, USED_GPA);
	check_enable_fails(3, DESC_GPA, AVAIL_GPA, USED_GPA);
	check_enable_fails(96, DESC_GPA, AVAIL_GPA, USED_GPA);
	check_enable_fails(VQ_MAX_SIZE * 2, DESC_GPA, AVAIL_GPA, USED_GPA);
	check_enable_fails(VQ_MAX_SIZE + 1, DESC_GPA, AVAIL_GPA, USED_GPA);
	check_enable_fails(0xffff, DESC_GPA, AVAIL_GPA, USED_GPA);
}

static void test_enable_good_sizes(void **state)
{
	for (unsigned int size = 1; size <= VQ_MAX_SIZE; size *= 2) {
		struct fx *f = fx_new((uint16_t)size, true, true);

		offer_simple(f, (uint16_t)(size - 1));
		assert_int_equal(vq_pop(&f->vq, &f->c), 1);
		assert_int_equal(f->c.head, size - 1);
		fx_free(f);
	}
}

static void test_enable_rings_outside_ram(void **state)
{
	uint64_t end = RAM_SIZE;

	/* Each part running off the end of RAM by a little ... */
	check_enable_fails(8, end - 16 * 8 + 16, AVAIL_GPA, USED_GPA);
	check_enable_fails(8, DESC_GPA, end - (6 + 2 * 8) + 2, USED_GPA);
	check_enable_fails(8, DESC_GPA, AVAIL_GPA, end - (6 + 8 * 8) + 2);
	/* ... or lying far away, or wrapping around 2^64. */
	check_enable_fails(8, 1ull << 32, AVAIL_GPA, USED_GPA);
	check_enable_fails(8, DESC_GPA, 0xfee00000ull, USED_GPA);
	check_enable_fails(8, DESC_GPA, AVAIL_GPA, UINT64_MAX - 3);
	check_enable_fails(8, UINT64_MAX - 15, AVAIL_GPA, USED_GPA);
}

static void test_enable_rings_at_end_of_ram(void **state)
{
	struct fx *f = fx_new_ram(8, true, false, RAM_SIZE);

	/*
	 * used_event is part of the avail ring: ending exactly at the end of
	 * RAM is fine, and reading it stays inside (ASan would tell).
	 */
	f->vq.avail_gpa = RAM_SIZE - (6 + 2 * 8);
	f->vq.used_gpa = RAM_SIZE - 0x100;
	assert_int_equal(vq_enable(&f->vq), 0);
	*used_event(f) = 0;
	offer_simple(f, 1);
	assert_true(complete_one(f));
	assert_int_equal(le16toh(used(f)->idx), 1);
	fx_free(f);
}

static void test_enable_rings_misaligned(void **state)
{
	check_enable_fails(8, DESC_GPA + 8, AVAIL_GPA, USED_GPA);
	check_enable_fails(8, DESC_GPA, AVAIL_GPA + 1, USED_GPA);
	check_enable_fails(8, DESC_GPA, AVAIL_GPA, USED_GPA + 2);
}

static void test_enable_without_ctx(void **state)
{
	struct fx *f = fx_new_ram(8, false, false, RAM_SIZE);

	f->vq.ctx = NULL;
	assert_int_equal(vq_enable(&f->vq), -1);
	assert_true(vq_broken(&f->vq));
	fx_free(f);
}

/* ---- broken until reset ---- */

static void test_broken_until_reset(void **state)
{
	struct fx *f = fx_new(8, false, false);

	offer_simple(f, 0);
	assert_true(complete_one(f));
	set_desc(f, 1, BUF_GPA, 8, R | N, 1);
	offer(f, 1);
	assert_broken(f);

	/* Repairing the ring does not help, and the device side does nothing. */
	set_desc(f, 1, BUF_GPA, 8, R, 0);
	assert_int_equal(vq_pop(&f->vq, &f->c), -1);
	assert_false(vq_has_work(&f->vq));
	vq_push(&f->vq, 1, 8);
	assert_false(vq_publish(&f->vq));
	assert_int_equal(le16toh(used(f)->idx), 1);
	vq_disable_notify(&f->vq);
	assert_false(vq_enable_notify(&f->vq));
	vq_unpop(&f->vq);
	assert_int_equal(vq_pop(&f->vq, &f->c), -1);

	/* Reset: neither broken nor enabled; nothing to pop. */
	vq_reset(&f->vq);
	assert_false(vq_broken(&f->vq));
	assert_false(vq_enabled(&f->vq));
	assert_int_equal(vq_pop(&f->vq, &f->c), 0);
	assert_false(vq_has_work(&f->vq));

	/* The driver sets the rings up afresh and the queue works again. */
	memset(avail(f), 0, 0x1000);
	f->avail_idx = 0;
	assert_int_equal(vq_enable(&f->vq), 0);
	assert_int_equal(le16toh(used(f)->idx), 0);
	offer_simple(f, 1);
	assert_true(complete_one(f));
	assert_int_equal(f->c.head, 1);
	assert_int_equal(le16toh(used(f)->idx), 1);
	fx_free(f);
}

/* ---- hostile guest: random rings, then rings rewritten concurrently ---- */

static uint64_t rng_next(uint64_t *s)
{
	/* xorshift64: deterministic, good enough to shuffle fields. */
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* A plausible-looking but untrustworthy descriptor: near and across RAM's edge. */
static struct vring_desc_le random_desc(uint64_t *s, uint16_t size)
{
	uint64_t r = rng_next(s);
	struct vring_desc_le d;

	switch (r & 7) {
	case 0:
		d.addr = rng_next(s);
		break;
	case 1:
		d.addr = RAM_SIZE - (rng_next(s) & 0xff);
		break;
	default:
		d.addr = TABLE_GPA + (rng_next(s) & 0x3ff);
		break;
	}
	d.len = (r >> 8) & 1 ? (uint32_t)rng_next(s) : (uint32_t)((r >> 16) & 0xff);
	d.flags = (uint16_t)((r >> 32) & 7);
	d.next = (uint16_t)((r >> 40) % (size + 2u));
	d.addr = htole64(d.addr);
	d.len = htole32(d.len);
	d.flags = htole16(d.flags);
	d.next = htole16(d.next);
	return d;
}

/* What a popped chain must satisfy whatever the guest did. */
static void check_chain_sane(struct fx *f)
{
	uint64_t readable = 0, writable = 0;

	assert_true(f->c.head < f->vq.size);
	assert_true(f->c.niov <= f->vq.size);
	assert_true(f->c.nreadable <= f->c.niov);
	for (unsigned int k = 0; k < f->c.niov; k++) {
		uint8_t *p = f->c.iov[k].iov_base;
		size_t len = f->c.iov[k].iov_len;

		assert_true(len > 0);
		assert_true(p >= f->ctx.ram && p + len <= f->ctx.ram + RAM_SIZE);
		if (k < f->c.nreadable)
			readable += len;
		else
			writable += len;
	}
	assert_int_equal(readable, f->c.readable_len);
	assert_int_equal(writable, f->c.writable_len);
}

static void scribble(struct fx *f, uint64_t *s)
{
	uint16_t size = f->vq.size;
	uint64_t r = rng_next(s);
	struct vring_desc_le d = random_desc(s, size);

	switch (r & 3) {
	case 0:
		memcpy(gpa(f, DESC_GPA + 16 * ((r >> 8) % size)), &d, sizeof(d));
		break;
	case 1:
		memcpy(gpa(f, TABLE_GPA + ((r >> 8) & 0x3ff)), &d, sizeof(d));
		break;
	case 2:
		__atomic_store_n(&avail(f)->ring[(r >> 8) % size],
				 htole16((uint16_t)((r >> 24) % (size + 1u))), __ATOMIC_RELAXED);
		break;
	default:
		/* Mostly a few ahead of the device, sometimes anything. */
		__atomic_store_n(&avail(f)->idx,
				 htole16((uint16_t)(f->vq.last_avail + ((r >> 8) & 1 ?
						(r >> 16) % (size + 1u) : r >> 16))),
				 __ATOMIC_RELAXED);
		break;
	}
}

static void pop_some(struct fx *f, int rounds, unsigned int *popped, unsigned int *broken)
{
	for (int i = 0; i < rounds; i++) {
		int rc = vq_pop(&f->vq, &f->c);

		if (rc == 1) {
			check_chain_sane(f);
			vq_push(&f->vq, f->c.head, f->c.writable_len);
			vq_publish(&f->vq);
			(*popped)++;
		} else if (rc < 0) {
			(*broken)++;
			vq_reset(&f->vq);
			assert_int_equal(vq_enable(&f->vq), 0);
		}
	}
}

static void test_fuzz_random_rings(void **state)
{
	uint64_t s = 0x9e3779b97f4a7c15ull;
	unsigned int popped = 0, broken = 0;
	struct fx *f = fx_new(1, false, false);

	for (int round = 0; round < 5000; round++) {
		/* A fresh queue each round: rings and tables zeroed, random features. */
		memset(gpa(f, DESC_GPA), 0, USED_GPA + 0x2100 - DESC_GPA);
		memset(gpa(f, TABLE_GPA), 0, 0x1000);
		f->vq.size = (uint16_t)(1u << (rng_next(&s) % 6));
		f->vq.event_idx = rng_next(&s) & 1;
		f->vq.indirect = rng_next(&s) & 1;
		assert_int_equal(vq_enable(&f->vq), 0);
		for (int k = 0; k < 64; k++)
			scribble(f, &s);
		pop_some(f, 4, &popped, &broken);
	}
	fx_free(f);
	/* The fuzzer must reach both outcomes to mean anything. */
	assert_true(popped > 100);
	assert_true(broken > 100);
}

struct scribbler {
	struct fx *f;
	bool stop;
};

static void *scribbler_main(void *arg)
{
	struct scribbler *sc = arg;
	uint64_t s = 0x1234567887654321ull;

	while (!__atomic_load_n(&sc->stop, __ATOMIC_RELAXED))
		scribble(sc->f, &s);
	return NULL;
}

/* The guest rewrites everything while the device pops: still nothing outside RAM. */
static void test_concurrent_hostile_guest(void **state)
{
	struct fx *f = fx_new(16, true, true);
	struct scribbler sc = { .f = f };
	unsigned int popped = 0, broken = 0;
	pthread_t t;

	assert_int_equal(pthread_create(&t, NULL, scribbler_main, &sc), 0);
	pop_some(f, 1000000, &popped, &broken);
	__atomic_store_n(&sc.stop, true, __ATOMIC_RELAXED);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_true(popped + broken > 0);
	fx_free(f);
}

#define T(fn) cmocka_unit_test(fn)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_readable_writable_chain),
		T(test_readable_only_and_writable_only),
		T(test_out_of_order_completion),
		T(test_zero_length_skipped),
		T(test_buffer_at_end_of_ram),
		T(test_chain_of_size_descriptors),
		T(test_unpop),
		T(test_full_avail_ring),
		T(test_indirect_table),
		T(test_direct_then_indirect),
		T(test_indirect_table_of_size_entries),
		T(test_indirect_table_unaligned),
		T(test_no_interrupt_flag),
		T(test_no_event_idx_no_avail_event),
		T(test_event_idx_suppression),
		T(test_enable_notify_race_event_idx),
		T(test_enable_notify_flags),
		T(test_pop_until_empty_rearms),
		T(test_index_wraparound),
		T(test_desc_loop),
		T(test_desc_self_loop_zero_length),
		T(test_chain_longer_than_size_indirect),
		T(test_chain_longer_than_size_mixed),
		T(test_head_out_of_range),
		T(test_next_out_of_range),
		T(test_avail_idx_too_far_ahead),
		T(test_avail_idx_goes_back),
		T(test_addr_beyond_ram),
		T(test_addr_far_beyond_ram),
		T(test_addr_len_overflow),
		T(test_readable_after_writable),
		T(test_readable_after_writable_indirect),
		T(test_indirect_not_negotiated),
		T(test_indirect_nested),
		T(test_indirect_with_next),
		T(test_indirect_bad_table),
		T(test_indirect_next_beyond_table),
		T(test_indirect_loop),
		T(test_huge_total_length),
		T(test_enable_bad_size),
		T(test_enable_good_sizes),
		T(test_enable_rings_outside_ram),
		T(test_enable_rings_at_end_of_ram),
		T(test_enable_rings_misaligned),
		T(test_enable_without_ctx),
		T(test_broken_until_reset),
		T(test_fuzz_random_rings),
		T(test_concurrent_hostile_guest),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
