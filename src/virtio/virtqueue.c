/*
 * Split virtqueues, device side (virtio 1.1, 2.6-2.7). See virtqueue.h for
 * the contract; the layout is in virtio_ring.h.
 *
 * Every value taken from the rings is the guest's and may be hostile or
 * change under us: ring fields are loaded once (atomically, or as one copy
 * for descriptors) into locals, checked, and only then used. Guest addresses
 * become host pointers only through vm_map_gpa(), which refuses any range not
 * wholly inside guest RAM.
 */
#include <endian.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "lib/vmmapi.h"
#include "virtio/virtio_ring.h"
#include "virtio/virtqueue.h"

/* A chain's total length must fit the 32-bit used.len and the iov sums. */
#define VQ_MAX_CHAIN_BYTES UINT32_MAX

/* Bookkeeping while following one chain. */
struct walk {
	struct vq_chain *c;
	uint64_t total;         /* bytes so far, readable + writable */
	unsigned int count;     /* buffer descriptors so far (direct + indirect) */
	bool writable;          /* a writable descriptor was seen */
	bool in_indirect;       /* following an indirect table */
};

static int vq_fail(struct virtqueue *vq)
{
	vq->broken = true;
	return -1;
}

/* Ring fields shared with the guest: one relaxed atomic access each. */
static uint16_t ring_load16(const uint16_t *p)
{
	return le16toh(__atomic_load_n(p, __ATOMIC_RELAXED));
}

static void ring_store16(uint16_t *p, uint16_t v)
{
	__atomic_store_n(p, htole16(v), __ATOMIC_RELAXED);
}

static void ring_store32(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, htole32(v), __ATOMIC_RELAXED);
}

/*
 * avail->idx with acquire: the ring entries and descriptors the driver wrote
 * before publishing this index are visible to the loads that follow.
 */
static uint16_t avail_idx(const struct virtqueue *vq)
{
	return le16toh(__atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE));
}

/* used_event sits after the avail ring, avail_event after the used ring. */
static uint16_t *used_event_ptr(const struct virtqueue *vq)
{
	return &vq->avail->ring[vq->size];
}

static uint16_t *avail_event_ptr(const struct virtqueue *vq)
{
	return (uint16_t *)&vq->used->ring[vq->size];
}

/*
 * Copy a descriptor out of guest memory (an indirect table need not be
 * aligned, hence memcpy). The compiler barrier stops it from re-reading the
 * guest's copy later in place of ours: the guest may rewrite it meanwhile and
 * a second read could differ from what was checked.
 */
static void load_desc(const uint8_t *p, struct vring_desc_le *d)
{
	memcpy(d, p, sizeof(*d));
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	d->addr = le64toh(d->addr);
	d->len = le32toh(d->len);
	d->flags = le16toh(d->flags);
	d->next = le16toh(d->next);
}

static bool size_ok(uint16_t size)
{
	return size != 0 && size <= VQ_MAX_SIZE && (size & (size - 1)) == 0;
}

/* Host pointer for one ring part, or NULL if misaligned or outside RAM. */
static void *map_ring(struct vmctx *ctx, uint64_t gpa, uint64_t len, unsigned int align)
{
	void *p;

	if (gpa & (align - 1))
		return NULL;
	p = vm_map_gpa(ctx, gpa, len);
	/* The atomic ring accesses need the host side aligned too. */
	if (p == NULL || ((uintptr_t)p & (align - 1)))
		return NULL;
	return p;
}

void vq_reset(struct virtqueue *vq)
{
	vq->enabled = false;
	vq->broken = false;
	vq->desc = NULL;
	vq->avail = NULL;
	vq->used = NULL;
	vq->last_avail = 0;
	vq->used_idx = 0;
	vq->signalled_used = 0;
	vq->signalled_used_valid = false;
	vq->notify_disabled = false;
}

int vq_enable(struct virtqueue *vq)
{
	unsigned int n = vq->size;

	vq_reset(vq);
	if (vq->ctx == NULL || !size_ok(vq->size))
		return vq_fail(vq);
	vq->desc = map_ring(vq->ctx, vq->desc_gpa, vring_desc_bytes(n), VIRTQ_DESC_ALIGN);
	vq->avail = map_ring(vq->ctx, vq->avail_gpa, vring_avail_bytes(n), VIRTQ_AVAIL_ALIGN);
	vq->used = map_ring(vq->ctx, vq->used_gpa, vring_used_bytes(n), VIRTQ_USED_ALIGN);
	if (vq->desc == NULL || vq->avail == NULL || vq->used == NULL) {
		vq->desc = NULL;
		vq->avail = NULL;
		vq->used = NULL;
		return vq_fail(vq);
	}
	/*
	 * The used ring is ours: start it clean whatever the guest left there,
	 * with avail_event 0 so the driver kicks for its first buffer. Only with
	 * EVENT_IDX: without it the ring ends at its last entry, and what
	 * follows is the driver's (SeaBIOS keeps its ring's size there).
	 */
	ring_store16(&vq->used->flags, 0);
	if (vq->event_idx)
		ring_store16(avail_event_ptr(vq), 0);
	__atomic_store_n(&vq->used->idx, 0, __ATOMIC_RELEASE);
	/* Index 0 is where the driver starts too: nothing owed to it yet. */
	vq->signalled_used_valid = true;
	vq->enabled = true;
	return 0;
}

bool vq_enabled(const struct virtqueue *vq)
{
	return vq->enabled;
}

bool vq_broken(const struct virtqueue *vq)
{
	return vq->broken;
}

uint16_t vq_next_avail(const struct virtqueue *vq)
{
	return vq->last_avail;
}

void *vq_host_desc(const struct virtqueue *vq)
{
	return vq->desc;
}

void *vq_host_avail(const struct virtqueue *vq)
{
	return vq->avail;
}

void *vq_host_used(const struct virtqueue *vq)
{
	return vq->used;
}

bool vq_has_work(struct virtqueue *vq)
{
	if (!vq->enabled || vq->broken)
		return false;
	return avail_idx(vq) != vq->last_avail;
}

/* One buffer descriptor: order, range and length checks, then an iovec. */
static int add_buffer(struct virtqueue *vq, struct walk *w, const struct vring_desc_le *d)
{
	struct vq_chain *c = w->c;
	bool writable = d->flags & VIRTQ_DESC_F_WRITE;
	void *p;

	/* Bounds the walk: with no chain over size descriptors, loops end. */
	if (++w->count > vq->size)
		return -1;
	/* Device-readable buffers all come before device-writable ones (2.7.4). */
	if (w->writable && !writable)
		return -1;
	w->writable |= writable;
	if (d->len == 0)
		return 0;
	w->total += d->len;
	if (w->total > VQ_MAX_CHAIN_BYTES)
		return -1;
	p = vm_map_gpa(vq->ctx, d->addr, d->len);
	if (p == NULL)
		return -1;
	/* count <= size <= VQ_MAX_SIZE, so the iov array cannot overflow. */
	c->iov[c->niov].iov_base = p;
	c->iov[c->niov].iov_len = d->len;
	c->niov++;
	if (writable) {
		c->writable_len += d->len;
	} else {
		c->nreadable++;
		c->readable_len += d->len;
	}
	return 0;
}

/*
 * Switch the walk to the indirect table d points at. It ends the outer chain
 * (no NEXT), is not itself a buffer, and may appear only once (2.7.5.3).
 */
static int enter_indirect(struct virtqueue *vq, struct walk *w, const struct vring_desc_le *d,
			  const uint8_t **table, uint32_t *entries)
{
	const uint8_t *t;

	if (!vq->indirect || w->in_indirect || (d->flags & VIRTQ_DESC_F_NEXT))
		return -1;
	if (d->len == 0 || d->len % sizeof(struct vring_desc_le) != 0)
		return -1;
	t = vm_map_gpa(vq->ctx, d->addr, d->len);
	if (t == NULL)
		return -1;
	*table = t;
	*entries = d->len / sizeof(struct vring_desc_le);
	w->in_indirect = true;
	return 0;
}

/*
 * Follow the chain at head into c. Terminates: every pass either adds a
 * buffer descriptor (at most size of them) or enters the one indirect table.
 */
static int walk_chain(struct virtqueue *vq, uint16_t head, struct vq_chain *c)
{
	const uint8_t *table = (const uint8_t *)vq->desc;
	uint32_t entries = vq->size;
	uint32_t i = head;
	struct walk w = { .c = c };

	c->niov = 0;
	c->nreadable = 0;
	c->readable_len = 0;
	c->writable_len = 0;
	c->ndesc = 0;
	for (;;) {
		struct vring_desc_le d;

		load_desc(table + (size_t)i * sizeof(d), &d);
		if (!w.in_indirect)
			c->ndesc++;
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			if (enter_indirect(vq, &w, &d, &table, &entries) < 0)
				return -1;
			i = 0;
			continue;
		}
		if (add_buffer(vq, &w, &d) < 0)
			return -1;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		if (d.next >= entries)
			return -1;
		i = d.next;
	}
}

/*
 * Queue looked empty with notifications on: make sure the driver kicks for
 * its next buffer (EVENT_IDX: avail_event, which is not updated while
 * popping). Returns the avail idx re-read after that, so a buffer that raced
 * with it is seen now instead of waiting for a kick that will not come.
 */
static uint16_t rearm(struct virtqueue *vq, uint16_t idx)
{
	if (!vq->event_idx || vq->notify_disabled)
		return idx;
	ring_store16(avail_event_ptr(vq), vq->last_avail);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return avail_idx(vq);
}

int vq_pop(struct virtqueue *vq, struct vq_chain *c)
{
	uint16_t idx, head;

	if (vq->broken)
		return -1;
	if (!vq->enabled)
		return 0;
	idx = avail_idx(vq);
	if (idx == vq->last_avail) {
		idx = rearm(vq, idx);
		if (idx == vq->last_avail)
			return 0;
	}
	/* More than a ring's worth outstanding: the driver lied (or went back). */
	if ((uint16_t)(idx - vq->last_avail) > vq->size)
		return vq_fail(vq);
	head = ring_load16(&vq->avail->ring[vq->last_avail & (vq->size - 1)]);
	if (head >= vq->size)
		return vq_fail(vq);
	if (walk_chain(vq, head, c) < 0)
		return vq_fail(vq);
	c->head = head;
	vq->last_avail++;
	return 1;
}

void vq_unpop(struct virtqueue *vq)
{
	if (vq->enabled && !vq->broken)
		vq->last_avail--;
}

void vq_push(struct virtqueue *vq, uint16_t head, uint32_t written)
{
	struct vring_used_elem_le *e;

	if (!vq->enabled || vq->broken)
		return;
	e = &vq->used->ring[vq->used_idx & (vq->size - 1)];
	ring_store32(&e->id, head);
	ring_store32(&e->len, written);
	vq->used_idx++;
}

/* virtio 1.1 2.7.10: has new_idx passed event since old (mod 2^16)? */
static bool need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

bool vq_publish(struct virtqueue *vq)
{
	uint16_t old = vq->signalled_used, new_idx = vq->used_idx;
	bool valid = vq->signalled_used_valid;

	if (!vq->enabled || vq->broken)
		return false;
	/* Release: the used elements are visible before the index that covers them. */
	__atomic_store_n(&vq->used->idx, htole16(new_idx), __ATOMIC_RELEASE);
	/*
	 * Store idx, then load the driver's interrupt request: pairs with the
	 * driver's barrier between writing used_event (or flags) and re-reading
	 * used->idx, so one of us sees the other and no interrupt is lost.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	vq->signalled_used = new_idx;
	vq->signalled_used_valid = true;
	if (valid && old == new_idx)
		return false;
	if (!vq->event_idx)
		return !(ring_load16(&vq->avail->flags) & VIRTQ_AVAIL_F_NO_INTERRUPT);
	if (!valid)
		return true;
	return need_event(ring_load16(used_event_ptr(vq)), new_idx, old);
}

void vq_disable_notify(struct virtqueue *vq)
{
	if (!vq->enabled || vq->broken)
		return;
	vq->notify_disabled = true;
	/* With EVENT_IDX the stale avail_event already keeps the driver quiet. */
	if (!vq->event_idx)
		ring_store16(&vq->used->flags, VIRTQ_USED_F_NO_NOTIFY);
}

bool vq_enable_notify(struct virtqueue *vq)
{
	if (!vq->enabled || vq->broken)
		return false;
	vq->notify_disabled = false;
	if (vq->event_idx)
		ring_store16(avail_event_ptr(vq), vq->last_avail);
	else
		ring_store16(&vq->used->flags, 0);
	/*
	 * Pairs with the driver's barrier between publishing avail->idx and
	 * reading avail_event / flags: either it sees notifications on and
	 * kicks, or we see its new buffers here.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return avail_idx(vq) != vq->last_avail;
}
