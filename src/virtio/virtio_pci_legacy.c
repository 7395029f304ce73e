/*
 * The legacy interface of a transitional virtio-pci device (virtio 1.1
 * section 4.1.4.8, and virtio 0.9.5): a block of registers in I/O BAR 0, for
 * drivers older than virtio 1.0 -- FreeBSD 12, Linux 3.x, edk2's
 * VirtioPciDeviceDxe -- and Linux's virtio_pci.force_legacy=1.
 *
 * It drives the same device state as the modern interface. What differs:
 * only feature bits 0-31 exist, and those the driver writes count at once
 * (there is no FEATURES_OK step, and never VERSION_1); a queue has the
 * device's size and lives at one page frame, with the rings in the legacy
 * layout (avail right after the descriptors, used at the next 4 KiB);
 * MSI-X vectors are registers that shift the device config by 4 bytes while
 * MSI-X is on. Each queue's notifications at BAR 0 + 0x10 (the queue index
 * written) go to its eventfd through a data-matched ioeventfd.
 */
#include <stdio.h>

#include "lib/vmmapi.h"
#include "pci/pci.h"
#include "virtio/virtio_pci_impl.h"

#define LG_HOST_FEATURES 0x00
#define LG_GUEST_FEATURES 0x04
#define LG_QUEUE_PFN 0x08
#define LG_QUEUE_NUM 0x0c
#define LG_QUEUE_SEL 0x0e
#define LG_QUEUE_NOTIFY 0x10
#define LG_STATUS 0x12
#define LG_ISR 0x13
#define LG_MSIX_CONFIG 0x14     /* these two only while MSI-X is on */
#define LG_MSIX_QUEUE 0x16
#define LG_DEVCFG 0x14
#define LG_DEVCFG_MSIX 0x18

#define LG_PAGE_SHIFT 12        /* the queue address is a 4 KiB page frame number */
#define LG_RING_ALIGN 4096

static uint64_t devcfg_offset(const struct virtio_softc *vs)
{
	return pci_msix_enabled(vs->pi) ? LG_DEVCFG_MSIX : LG_DEVCFG;
}

/* The register at off, if the access is exactly its width. */
static bool reg_access(const struct virtio_softc *vs, uint64_t off, int bytes, unsigned *reg)
{
	static const struct {
		uint8_t off, size;
	} regs[] = {
		{ LG_HOST_FEATURES, 4 }, { LG_GUEST_FEATURES, 4 }, { LG_QUEUE_PFN, 4 },
		{ LG_QUEUE_NUM, 2 }, { LG_QUEUE_SEL, 2 }, { LG_QUEUE_NOTIFY, 2 },
		{ LG_STATUS, 1 }, { LG_ISR, 1 }, { LG_MSIX_CONFIG, 2 }, { LG_MSIX_QUEUE, 2 },
	};

	for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++) {
		if (regs[i].off >= devcfg_offset(vs))
			break;
		if (off == regs[i].off && (unsigned)bytes == regs[i].size) {
			*reg = regs[i].off;
			return true;
		}
	}
	return false;
}

/* The legacy ring layout (virtio 1.1 section 2.7.2, "Legacy Interfaces"). */
static void set_rings(struct virtqueue *vq, uint32_t pfn)
{
	uint64_t n = vq->size;

	vq->desc_gpa = (uint64_t)pfn << LG_PAGE_SHIFT;
	vq->avail_gpa = vq->desc_gpa + 16 * n;
	vq->used_gpa = (vq->avail_gpa + 6 + 2 * n + LG_RING_ALIGN - 1) & ~(uint64_t)(LG_RING_ALIGN - 1);
}

static void pfn_write(struct virtio_softc *vs, uint32_t pfn)
{
	struct virtio_queue *q = virtio_selected_queue(vs);

	if (q == NULL || vs->reset_pending)
		return;
	if (pfn == 0) {
		vq_reset(&q->vq); /* the driver deleted the queue */
		q->vq.desc_gpa = q->vq.avail_gpa = q->vq.used_gpa = 0;
		return;
	}
	if (vq_enabled(&q->vq))
		return; /* set once; a new address needs a reset or a 0 first */
	set_rings(&q->vq, pfn);
	virtio_queue_enable(vs, q);
}

static void features_write(struct virtio_softc *vs, uint32_t val)
{
	if (vs->status & VIRTIO_STATUS_DRIVER_OK)
		return;
	vs->driver_features = val;
	vs->negotiated = val & (uint32_t)virtio_offered_features(vs);
}

static void reg_write(struct virtio_softc *vs, unsigned reg, uint32_t val)
{
	struct virtio_queue *q;

	vs->legacy = true;
	switch (reg) {
	case LG_GUEST_FEATURES:
		features_write(vs, val);
		break;
	case LG_QUEUE_PFN:
		pfn_write(vs, val);
		break;
	case LG_QUEUE_SEL:
		vs->queue_select = (uint16_t)val;
		break;
	case LG_QUEUE_NOTIFY:
		virtio_kick(vs, val);
		break;
	case LG_STATUS:
		virtio_status_write(vs, (uint8_t)val);
		break;
	case LG_MSIX_CONFIG:
		vs->msix_config = virtio_valid_vector(vs, (uint16_t)val) ? (uint16_t)val
									  : VIRTIO_NO_VECTOR;
		virtio_vectors_changed(vs);
		break;
	case LG_MSIX_QUEUE:
		q = virtio_selected_queue(vs);
		if (q != NULL) {
			q->msix_vector = virtio_valid_vector(vs, (uint16_t)val) ? (uint16_t)val
										: VIRTIO_NO_VECTOR;
			virtio_vectors_changed(vs);
		}
		break;
	}
}

static uint32_t reg_read(struct virtio_softc *vs, unsigned reg)
{
	struct virtio_queue *q = virtio_selected_queue(vs);

	switch (reg) {
	case LG_HOST_FEATURES:
		return (uint32_t)virtio_offered_features(vs);
	case LG_GUEST_FEATURES:
		return (uint32_t)vs->driver_features;
	case LG_QUEUE_PFN:
		return q != NULL ? (uint32_t)(q->vq.desc_gpa >> LG_PAGE_SHIFT) : 0;
	case LG_QUEUE_NUM:
		return q != NULL ? q->vq.size : 0; /* 0: no such queue */
	case LG_QUEUE_SEL:
		return vs->queue_select;
	case LG_STATUS:
		return vs->status;
	case LG_ISR:
		return virtio_isr_read(vs);
	case LG_MSIX_CONFIG:
		return vs->msix_config;
	case LG_MSIX_QUEUE:
		return q != NULL ? q->msix_vector : VIRTIO_NO_VECTOR;
	default:
		return 0;
	}
}

uint64_t virtio_legacy_read(struct virtio_softc *vs, uint64_t off, int bytes)
{
	unsigned reg;

	if (off >= devcfg_offset(vs))
		return virtio_devcfg_read(vs, off - devcfg_offset(vs), bytes);
	return reg_access(vs, off, bytes, &reg) ? reg_read(vs, reg) : 0;
}

void virtio_legacy_write(struct virtio_softc *vs, uint64_t off, int bytes, uint64_t val)
{
	unsigned reg;

	if (off >= devcfg_offset(vs))
		virtio_devcfg_write(vs, off - devcfg_offset(vs), bytes, (uint32_t)val);
	else if (reg_access(vs, off, bytes, &reg))
		reg_write(vs, reg, (uint32_t)val);
}

/* BAR 0 moved: a data-matched ioeventfd per queue at its notify register. */
void virtio_legacy_mapped(struct virtio_softc *vs, bool mapped, uint64_t port)
{
	for (int i = 0; i < vs->ops->nqueues; i++) {
		/* On failure the port exit still delivers the kick, just slower. */
		(void)vm_ioeventfd_match(vs->pi->ctx, port + LG_QUEUE_NOTIFY, 2, true, (uint64_t)i,
					 vs->queues[i].kick_fd, !mapped);
	}
}

int virtio_legacy_init(struct pci_devinst *pi, struct virtio_softc *vs)
{
	uint64_t size = 32;

	while (size < LG_DEVCFG_MSIX + vs->devcfg_size)
		size *= 2;
	return size > 256 ? -1 : pci_alloc_bar(pi, VIRTIO_LEGACY_BAR, PCI_BAR_IO, size);
}
