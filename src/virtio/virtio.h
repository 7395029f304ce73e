/*
 * Virtio devices over PCI (virtio 1.x transport, section 4.1: the modern
 * interface, plus the legacy one for device types that have a transitional
 * ID), and the API device models use. A device model is its virtio_devops, a softc
 * that starts with struct virtio_softc, and a notify callback:
 *
 *	static void rnd_notify(struct virtio_softc *vs, int q)
 *	{
 *		while (vq_pop(vq, chain) > 0) { ...fill...; vq_push(vq, head, n); }
 *		virtio_queue_done(vs, q);   // publish + interrupt if wanted
 *	}
 *
 * Threads: guest register accesses run on vCPU threads; queue kicks arrive
 * through ioeventfds on the event loop (main) thread, where notify() runs.
 * Both hold vs->lock, so a device model never sees a reset in the middle of
 * processing a queue. Device code running on the main thread for other
 * reasons (backend completions) takes it with virtio_lock()/virtio_unlock().
 */
#ifndef KHYVE_VIRTIO_H
#define KHYVE_VIRTIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtio/virtqueue.h"

struct cfg_node;
struct pci_devinst;
struct mevent;
struct virtio_softc;

/* Device IDs (virtio 1.1 section 5). */
#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG 4

/* Transport feature bits the core offers itself. */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32

#define VIRTIO_NO_VECTOR 0xffff

/* device_status bits */
#define VIRTIO_STATUS_ACKNOWLEDGE 0x01
#define VIRTIO_STATUS_DRIVER 0x02
#define VIRTIO_STATUS_DRIVER_OK 0x04
#define VIRTIO_STATUS_FEATURES_OK 0x08
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED 0x80

struct virtio_devops {
	const char *name;
	uint16_t device_id;
	uint8_t pci_class, pci_subclass;
	uint16_t nqueues;
	uint16_t queue_size;      /* largest size offered (power of two) */
	uint64_t features;        /* device-specific feature bits */
	/*
	 * Reset (vs->lock held, any thread): drop device state. Return true
	 * when done; false if requests are still in flight -- the device then
	 * calls virtio_reset_done() when they have finished, and until then the
	 * guest reads a non-zero device_status (it waits for 0, as the spec asks).
	 */
	bool (*reset)(struct virtio_softc *vs);
	/* Queue q was kicked (main thread, vs->lock held). */
	void (*notify)(struct virtio_softc *vs, int q);
	/* Device config space writes (optional; reads come from devcfg bytes). */
	void (*cfg_write)(struct virtio_softc *vs, unsigned off, int bytes, uint32_t val);
	/* The driver set DRIVER_OK (optional, vs->lock held). */
	void (*driver_ok)(struct virtio_softc *vs);
	/*
	 * Where queue interrupts go may have changed: MSI-X table, masks,
	 * enable, or a queue's vector (optional, vs->lock held). For devices
	 * whose interrupts bypass khyve (irqfd), see virtio_queue_msi().
	 */
	void (*interrupts_changed)(struct virtio_softc *vs);
};

struct virtio_queue {
	struct virtqueue vq;
	uint16_t msix_vector;
	int kick_fd;               /* eventfd: ioeventfd target and fallback */
	struct mevent *kick_ev;
	struct virtio_softc *vs;
	int index;
	bool in_kernel;            /* kicks go to an in-kernel backend (vhost) */
};

struct virtio_softc {
	const struct virtio_devops *ops;
	struct pci_devinst *pi;
	pthread_mutex_t lock;
	const void *devcfg;        /* device config space, little-endian bytes */
	size_t devcfg_size;
	uint64_t negotiated;       /* driver features accepted (FEATURES_OK) */
	uint64_t driver_features;  /* as being written */
	uint32_t dfselect, gfselect;
	uint16_t queue_select;
	uint16_t msix_config;
	uint8_t status;
	uint8_t isr;
	uint8_t config_generation;
	bool reset_pending;
	bool legacy;               /* the driver uses the legacy interface (BAR 0) */
	uint64_t notify_base;      /* guest address of the notify area (0: unmapped) */
	bool port_notify;          /* notify area in I/O BAR 2 too, listed first */
	unsigned pci_cfg_cap;      /* VIRTIO_PCI_CAP_PCI_CFG offset */
	struct virtio_queue *queues;
	struct vq_chain *chain;    /* scratch for device models (main thread) */
};

/*
 * Make pi a virtio device: IDs, capabilities, BARs (MSI-X table in BAR 1,
 * virtio structures in BAR 4, notifications also in I/O BAR 2), INTx,
 * per-queue eventfds on the event loop. node: the device's config (the
 * transport's own key, "notify"). devcfg: the device's config structure
 * (read by the guest as is).
 */
int virtio_pci_init(struct pci_devinst *pi, const struct cfg_node *node, struct virtio_softc *vs,
		    const struct virtio_devops *ops, const void *devcfg, size_t devcfg_size);

/* The PCI side of every virtio device: put VIRTIO_PCI_HOOKS in its pci_devemu. */
uint64_t virtio_barread(struct pci_devinst *pi, int bar, uint64_t off, int bytes);
void virtio_barwrite(struct pci_devinst *pi, int bar, uint64_t off, int bytes, uint64_t val);
void virtio_bar_mapped(struct pci_devinst *pi, int bar, bool mapped, uint64_t addr);
int virtio_cfgread(struct pci_devinst *pi, unsigned off, int bytes, uint32_t *val);
int virtio_cfgwrite(struct pci_devinst *pi, unsigned off, int bytes, uint32_t val);
void virtio_msix_changed(struct pci_devinst *pi);
#define VIRTIO_PCI_HOOKS                                                        \
	.cfgread = virtio_cfgread, .cfgwrite = virtio_cfgwrite,                 \
	.barread = virtio_barread, .barwrite = virtio_barwrite,                 \
	.bar_mapped = virtio_bar_mapped, .msix_changed = virtio_msix_changed

void virtio_lock(struct virtio_softc *vs);
void virtio_unlock(struct virtio_softc *vs);
bool virtio_has_feature(const struct virtio_softc *vs, unsigned bit);
bool virtio_driver_ok(const struct virtio_softc *vs);
struct virtqueue *virtio_vq(struct virtio_softc *vs, int q);

/* After vq_push()es on queue q: publish and interrupt if the driver wants it. */
void virtio_queue_done(struct virtio_softc *vs, int q);
/*
 * An in-kernel backend (vhost) takes queue q's kicks (on) or gives them back
 * (off). While on, khyve never reads the queue's kick eventfd, which the
 * backend is given (virtio_queue_kick_fd), and notify() is not called for q.
 */
void virtio_queue_set_in_kernel(struct virtio_softc *vs, int q, bool on);
int virtio_queue_kick_fd(const struct virtio_softc *vs, int q);
/* Interrupt for queue q now: an in-kernel backend has already applied the
 * driver's interrupt suppression before signalling. */
void virtio_queue_interrupt(struct virtio_softc *vs, int q);
/*
 * The MSI message of queue q's vector when it may be sent directly (MSI-X on,
 * vector assigned and unmasked); false otherwise, and then interrupts must go
 * through virtio_queue_interrupt(), which handles INTx and masking.
 */
bool virtio_queue_msi(struct virtio_softc *vs, int q, uint64_t *addr, uint32_t *data);
/* A malformed ring or request: DEVICE_NEEDS_RESET + config interrupt; stops the device. */
void virtio_needs_reset(struct virtio_softc *vs);
/* The device config changed (capacity...): bump the generation, interrupt. */
void virtio_config_changed(struct virtio_softc *vs);
/* Finish a reset that reset() left pending. */
void virtio_reset_done(struct virtio_softc *vs);

/* BAR layout (BAR 4), exposed for tests. */
#define VIRTIO_BAR 4
#define VIRTIO_MSIX_BAR 1
#define VIRTIO_COMMON_OFF 0x0000
#define VIRTIO_ISR_OFF 0x1000
#define VIRTIO_DEVCFG_OFF 0x2000
#define VIRTIO_NOTIFY_OFF 0x3000
#define VIRTIO_NOTIFY_MULT 4
#define VIRTIO_PORT_NOTIFY_BAR 2   /* the same notify area in I/O space */
#define VIRTIO_BAR_SIZE 0x4000

#endif
