/*
 * Split virtqueues (virtio 1.x, section 2.7), device side. Pure ring logic:
 * no PCI, no threads. Everything read from guest memory is untrusted; a
 * malformed ring (bad address, loop, overlong chain, bad index...) marks the
 * queue broken and the transport then sets DEVICE_NEEDS_RESET. Nothing a
 * guest writes can make these functions touch host memory outside guest RAM,
 * loop forever or crash.
 *
 * Threading: one thread at a time per queue (the device's I/O thread); the
 * guest runs concurrently, so ring fields are read once into locals and
 * ordered with the barriers the spec asks for.
 */
#ifndef KHYVE_VIRTQUEUE_H
#define KHYVE_VIRTQUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

struct vmctx;

#define VQ_MAX_SIZE 1024 /* largest queue size a device may offer */

/* Descriptor chain handed to a device: readable iovecs first, then writable. */
struct vq_chain {
	uint16_t head;          /* pass back to vq_push() */
	uint16_t niov;          /* iov[0..nreadable) driver->device, rest device->driver */
	uint16_t nreadable;
	uint32_t readable_len;  /* sum of readable lengths */
	uint32_t writable_len;  /* sum of writable lengths */
	uint16_t ndesc;         /* ring descriptors it holds (an indirect table counts one) */
	struct iovec iov[VQ_MAX_SIZE];
};

struct virtqueue {
	/* Set by the transport (guest-programmed), then vq_enable(). */
	struct vmctx *ctx;
	uint16_t size;          /* entries, power of two, 1..VQ_MAX_SIZE */
	uint64_t desc_gpa, avail_gpa, used_gpa;
	bool event_idx;         /* VIRTIO_RING_F_EVENT_IDX negotiated */
	bool indirect;          /* VIRTIO_RING_F_INDIRECT_DESC negotiated */

	/* Private to virtqueue.c. */
	bool enabled, broken;
	struct vring_desc_le *desc;
	struct vring_avail_le *avail;
	struct vring_used_le *used;
	uint16_t last_avail;    /* next avail entry to consume */
	uint16_t used_idx;      /* next used entry to fill (shadow of used->idx) */
	uint16_t signalled_used;/* used_idx at the last vq_publish() */
	bool signalled_used_valid;
	bool notify_disabled;   /* between vq_disable_notify() and vq_enable_notify() */
};

/*
 * Map the three rings (checked against guest RAM, alignment and size) and
 * start at index 0. Returns 0, or -1 (queue left disabled and broken) when a
 * ring lies outside guest RAM or size is not a power of two <= VQ_MAX_SIZE.
 */
int vq_enable(struct virtqueue *vq);
/* Forget rings and indices (device reset or queue reset). */
void vq_reset(struct virtqueue *vq);
bool vq_enabled(const struct virtqueue *vq);
bool vq_broken(const struct virtqueue *vq);
/* The next avail entry vq_pop() would take (where an in-kernel backend starts). */
uint16_t vq_next_avail(const struct virtqueue *vq);
/* The rings as mapped (and checked) by vq_enable(), for an in-kernel backend. */
void *vq_host_desc(const struct virtqueue *vq);
void *vq_host_avail(const struct virtqueue *vq);
void *vq_host_used(const struct virtqueue *vq);

/* True if the driver has made chains available that vq_pop() has not taken. */
bool vq_has_work(struct virtqueue *vq);

/*
 * Take the next available chain: 1 and *c filled; 0 if none; -1 if the ring
 * or chain is malformed (queue is now broken; nothing of it may be used).
 * Follows VIRTQ_DESC_F_NEXT and, if negotiated, one level of indirect table
 * (at the end of a chain, possibly after direct descriptors).
 * Malformed: avail idx more than size ahead of last_avail, head or next >=
 * size (or >= indirect table entries), a chain of more than size buffer
 * descriptors, direct and indirect together (loops; the descriptor pointing
 * at an indirect table is not counted, so a table of size entries is fine),
 * an address+length outside guest RAM or overflowing, an indirect descriptor
 * when not negotiated, nested indirect, indirect with NEXT set, indirect
 * table length 0 or not a multiple of 16, a readable descriptor after a
 * writable one, total length above 4 GiB - 1. Zero-length descriptors are
 * allowed and skipped (no iovec).
 * Outside vq_disable_notify()/vq_enable_notify(), a 0 return also re-arms
 * the driver's notification (EVENT_IDX: avail_event) and re-checks, so a
 * device that pops until 0 on each kick never misses one.
 */
int vq_pop(struct virtqueue *vq, struct vq_chain *c);
/* Give back a chain popped last (e.g. out of backend resources): it will be popped again. */
void vq_unpop(struct virtqueue *vq);

/* Put head (from vq_pop) on the used ring with "written" bytes; the driver sees it after vq_publish(). */
void vq_push(struct virtqueue *vq, uint16_t head, uint32_t written);
/*
 * After one or more vq_push(): publish used->idx (release) and return true if
 * the driver wants an interrupt now (EVENT_IDX: used_event crossed; else
 * !VRING_AVAIL_F_NO_INTERRUPT). The transport then raises it.
 */
bool vq_publish(struct virtqueue *vq);

/*
 * Driver->device notification suppression while the device is busy:
 * vq_disable_notify() before draining, vq_enable_notify() after; the latter
 * returns true if chains arrived meanwhile (pop again), avoiding lost kicks.
 */
void vq_disable_notify(struct virtqueue *vq);
bool vq_enable_notify(struct virtqueue *vq);

#endif
