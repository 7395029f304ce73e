/*
 * Split virtqueue layout in guest memory (virtio 1.1, section 2.7), written
 * from the spec. All fields are little-endian. Private to virtqueue.c and its
 * tests: devices see chains as iovecs, never these structures.
 */
#ifndef KHYVE_VIRTIO_RING_H
#define KHYVE_VIRTIO_RING_H

#include <stdint.h>

/* Descriptor flags (2.7.5). */
#define VIRTQ_DESC_F_NEXT	1	/* chain continues at "next" */
#define VIRTQ_DESC_F_WRITE	2	/* device writes this buffer */
#define VIRTQ_DESC_F_INDIRECT	4	/* buffer is a table of descriptors */

/* avail->flags (2.7.6): driver asks for no used-buffer interrupts. */
#define VIRTQ_AVAIL_F_NO_INTERRUPT	1
/* used->flags (2.7.8): device asks for no available-buffer notifications. */
#define VIRTQ_USED_F_NO_NOTIFY		1

/* Alignment the spec requires of each part (2.7, table "Virtqueue Part"). */
#define VIRTQ_DESC_ALIGN	16
#define VIRTQ_AVAIL_ALIGN	2
#define VIRTQ_USED_ALIGN	4

struct vring_desc_le {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

/* Followed by le16 used_event (ring[size]) -- part of the ring's size always. */
struct vring_avail_le {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[];
};

struct vring_used_elem_le {
	uint32_t id;    /* head of the chain (32 bits on the ring, < size) */
	uint32_t len;   /* bytes the device wrote */
};

/* Followed by le16 avail_event (after ring[size-1]). */
struct vring_used_le {
	uint16_t flags;
	uint16_t idx;
	struct vring_used_elem_le ring[];
};

_Static_assert(sizeof(struct vring_desc_le) == 16, "descriptor is 16 bytes");
_Static_assert(sizeof(struct vring_used_elem_le) == 8, "used element is 8 bytes");

/* Bytes of each part for a queue of n entries, event fields included. */
static inline uint64_t vring_desc_bytes(unsigned int n)
{
	return 16ull * n;
}

static inline uint64_t vring_avail_bytes(unsigned int n)
{
	return 6 + 2ull * n;
}

static inline uint64_t vring_used_bytes(unsigned int n)
{
	return 6 + 8ull * n;
}

#endif
