/*
 * The virtio-pci modern transport (virtio 1.1 section 4.1): capabilities
 * pointing into BAR 4 (common config, ISR, device config, notifications),
 * MSI-X vectors in BAR 1, INTx + ISR for drivers without MSI-X. Transitional
 * devices also have the legacy registers in BAR 0 (virtio_pci_legacy.c).
 *
 * Notifications: each queue has its own notify address (multiplier 4) bound
 * to an eventfd with KVM_IOEVENTFD, so a guest kick is an eventfd signal the
 * event loop picks up -- the vCPU never exits to khyve for it. Writes that
 * do not match the ioeventfd (other sizes) arrive as MMIO and signal the
 * same eventfd.
 *
 * The notify area is offered twice: in I/O BAR 2 (listed first, so Linux,
 * FreeBSD and SeaBIOS, which take the first notify capability, use it) and
 * in BAR 4. KVM completes an OUT from the exit information alone, while a
 * write to MMIO makes it fetch and emulate the guest's instruction (on AMD
 * without decode assists, as in nested guests, by walking the guest's page
 * tables): a port kick is the cheaper exit. Both capabilities have the
 * same multiplier because SeaBIOS reads it from the last one. The config
 * key notify=mmio leaves the port area out.
 */
#include "virtio/virtio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/config.h"
#include "core/mevent.h"
#include "lib/vmmapi.h"
#include "pci/pci.h"
#include "virtio/virtio_pci_impl.h"

/* Capability types (virtio 1.1 section 4.1.4). */
#define CAP_COMMON_CFG 1
#define CAP_NOTIFY_CFG 2
#define CAP_ISR_CFG 3
#define CAP_DEVICE_CFG 4
#define CAP_PCI_CFG 5

#define VIRTIO_PCI_VENDOR 0x1af4
#define VIRTIO_PCI_MODERN_BASE 0x1040

/* Common configuration structure layout. */
#define CC_DFSELECT 0x00
#define CC_DF 0x04
#define CC_GFSELECT 0x08
#define CC_GF 0x0c
#define CC_MSIX_CONFIG 0x10
#define CC_NUM_QUEUES 0x12
#define CC_STATUS 0x14
#define CC_CFGGEN 0x15
#define CC_Q_SELECT 0x16
#define CC_Q_SIZE 0x18
#define CC_Q_MSIX 0x1a
#define CC_Q_ENABLE 0x1c
#define CC_Q_NOFF 0x1e
#define CC_Q_DESC 0x20
#define CC_Q_AVAIL 0x28
#define CC_Q_USED 0x30
#define CC_SIZE 0x38

#define ISR_QUEUE 0x1
#define ISR_CONFIG 0x2

/* Features the transport handles for every device. */
#define TRANSPORT_FEATURES ((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_EVENT_IDX) | \
			    (1ull << VIRTIO_F_INDIRECT_DESC))

void virtio_lock(struct virtio_softc *vs)
{
	pthread_mutex_lock(&vs->lock);
}

void virtio_unlock(struct virtio_softc *vs)
{
	pthread_mutex_unlock(&vs->lock);
}

bool virtio_has_feature(const struct virtio_softc *vs, unsigned bit)
{
	return bit < 64 && (vs->negotiated & (1ull << bit));
}

bool virtio_driver_ok(const struct virtio_softc *vs)
{
	return (vs->status & VIRTIO_STATUS_DRIVER_OK) && !(vs->status & VIRTIO_STATUS_NEEDS_RESET);
}

struct virtqueue *virtio_vq(struct virtio_softc *vs, int q)
{
	return &vs->queues[q].vq;
}

uint64_t virtio_offered_features(const struct virtio_softc *vs)
{
	return vs->ops->features | TRANSPORT_FEATURES;
}

/* ---- Interrupts ---------------------------------------------------------- */

static void raise_interrupt(struct virtio_softc *vs, uint16_t vector, uint8_t isr_bit)
{
	if (pci_msix_enabled(vs->pi)) {
		if (vector != VIRTIO_NO_VECTOR)
			pci_generate_msix(vs->pi, vector);
		return;
	}
	vs->isr |= isr_bit;
	pci_intx_assert(vs->pi);
}

void virtio_queue_done(struct virtio_softc *vs, int q)
{
	struct virtio_queue *vq = &vs->queues[q];

	if (vq_publish(&vq->vq))
		raise_interrupt(vs, vq->msix_vector, ISR_QUEUE);
}

void virtio_queue_interrupt(struct virtio_softc *vs, int q)
{
	raise_interrupt(vs, vs->queues[q].msix_vector, ISR_QUEUE);
}

bool virtio_queue_msi(struct virtio_softc *vs, int q, uint64_t *addr, uint32_t *data)
{
	uint16_t v = vs->queues[q].msix_vector;

	return v != VIRTIO_NO_VECTOR && pci_msix_route(vs->pi, v, addr, data);
}

void virtio_vectors_changed(struct virtio_softc *vs)
{
	if (vs->ops->interrupts_changed)
		vs->ops->interrupts_changed(vs);
}

void virtio_msix_changed(struct pci_devinst *pi)
{
	struct virtio_softc *vs = pi->softc;

	virtio_lock(vs);
	virtio_vectors_changed(vs);
	virtio_unlock(vs);
}

void virtio_queue_set_in_kernel(struct virtio_softc *vs, int q, bool on)
{
	struct virtio_queue *vq = &vs->queues[q];

	if (vq->in_kernel == on)
		return;
	vq->in_kernel = on;
	if (on)
		(void)mevent_disable(vq->kick_ev);
	else
		(void)mevent_enable(vq->kick_ev);
}

int virtio_queue_kick_fd(const struct virtio_softc *vs, int q)
{
	return vs->queues[q].kick_fd;
}

void virtio_config_changed(struct virtio_softc *vs)
{
	vs->config_generation++;
	if (vs->status & VIRTIO_STATUS_DRIVER_OK)
		raise_interrupt(vs, vs->msix_config, ISR_CONFIG);
}

void virtio_needs_reset(struct virtio_softc *vs)
{
	if (vs->status & VIRTIO_STATUS_NEEDS_RESET)
		return;
	fprintf(stderr, "khyve: %s: the guest driver broke a virtqueue; device needs reset\n",
		vs->pi->ident);
	vs->status |= VIRTIO_STATUS_NEEDS_RESET;
	if (vs->status & VIRTIO_STATUS_DRIVER_OK)
		raise_interrupt(vs, vs->msix_config, ISR_CONFIG);
}

/* ---- Reset ----------------------------------------------------------------- */

static void reset_transport(struct virtio_softc *vs)
{
	for (int i = 0; i < vs->ops->nqueues; i++) {
		struct virtio_queue *q = &vs->queues[i];

		vq_reset(&q->vq);
		q->vq.size = vs->ops->queue_size;
		q->vq.desc_gpa = q->vq.avail_gpa = q->vq.used_gpa = 0;
		q->msix_vector = VIRTIO_NO_VECTOR;
	}
	vs->negotiated = vs->driver_features = 0;
	vs->dfselect = vs->gfselect = 0;
	vs->queue_select = 0;
	vs->msix_config = VIRTIO_NO_VECTOR;
	vs->isr = 0;
	vs->status = 0;
	vs->legacy = false;
	pci_intx_deassert(vs->pi);
}

void virtio_reset_done(struct virtio_softc *vs)
{
	if (!vs->reset_pending)
		return;
	vs->reset_pending = false;
	reset_transport(vs);
}

static void device_reset(struct virtio_softc *vs)
{
	if (vs->ops->reset && !vs->ops->reset(vs)) {
		vs->reset_pending = true;
		vs->status |= VIRTIO_STATUS_NEEDS_RESET; /* reads non-zero until done */
		return;
	}
	reset_transport(vs);
}

/* ---- Status and queue set-up ------------------------------------------ */

void virtio_status_write(struct virtio_softc *vs, uint8_t val)
{
	if (val == 0) {
		device_reset(vs);
		return;
	}
	if (vs->reset_pending)
		return;
	/*
	 * FEATURES_OK sticks only for a subset of what we offer, with VERSION_1.
	 * (A legacy driver has no such step: its features count once written.)
	 */
	if ((val & VIRTIO_STATUS_FEATURES_OK) && !(vs->status & VIRTIO_STATUS_FEATURES_OK) &&
	    !vs->legacy) {
		uint64_t f = vs->driver_features;

		if ((f & ~virtio_offered_features(vs)) || !(f & (1ull << VIRTIO_F_VERSION_1)))
			val &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
		else
			vs->negotiated = f;
	}
	vs->status = (uint8_t)((vs->status & VIRTIO_STATUS_NEEDS_RESET) |
			       (val & ~VIRTIO_STATUS_NEEDS_RESET));
	if ((val & VIRTIO_STATUS_DRIVER_OK) && vs->ops->driver_ok)
		vs->ops->driver_ok(vs);
}

struct virtio_queue *virtio_selected_queue(struct virtio_softc *vs)
{
	return vs->queue_select < vs->ops->nqueues ? &vs->queues[vs->queue_select] : NULL;
}

void virtio_queue_enable(struct virtio_softc *vs, struct virtio_queue *q)
{
	if (vq_enabled(&q->vq))
		return;
	q->vq.event_idx = virtio_has_feature(vs, VIRTIO_F_EVENT_IDX);
	q->vq.indirect = virtio_has_feature(vs, VIRTIO_F_INDIRECT_DESC);
	if (vq_enable(&q->vq) < 0)
		virtio_needs_reset(vs);
	else if (vq_has_work(&q->vq))
		(void)eventfd_write(q->kick_fd, 1); /* kicked before enabling */
}

bool virtio_valid_vector(const struct virtio_softc *vs, uint16_t v)
{
	return v == VIRTIO_NO_VECTOR || v < vs->pi->msix.nvec;
}

/* ---- Common configuration registers ------------------------------------ */

/* A 64-bit queue address register, written in 32-bit halves or at once. */
static void set_addr_part(uint64_t *addr, unsigned off, int bytes, uint32_t val64lo,
			  uint64_t val)
{
	if (bytes == 8)
		*addr = val;
	else if (off & 4)
		*addr = (*addr & 0xffffffffull) | (uint64_t)val64lo << 32;
	else
		*addr = (*addr & ~0xffffffffull) | val64lo;
}

static uint64_t *queue_addr(struct virtio_queue *q, unsigned reg)
{
	return reg == CC_Q_DESC ? &q->vq.desc_gpa :
	       reg == CC_Q_AVAIL ? &q->vq.avail_gpa : &q->vq.used_gpa;
}

static void queue_write(struct virtio_softc *vs, unsigned off, int bytes, uint64_t val)
{
	struct virtio_queue *q = virtio_selected_queue(vs);

	if (q == NULL || vs->reset_pending)
		return;
	switch (off) {
	case CC_Q_SIZE:
		/*
		 * Only before the queue runs, and never above what the device
		 * offers (its request pools are sized for that); a size that is
		 * not a power of two fails at enable time.
		 */
		if (!vq_enabled(&q->vq) && val <= vs->ops->queue_size)
			q->vq.size = (uint16_t)val;
		break;
	case CC_Q_MSIX:
		q->msix_vector = virtio_valid_vector(vs, (uint16_t)val) ? (uint16_t)val : VIRTIO_NO_VECTOR;
		virtio_vectors_changed(vs);
		break;
	case CC_Q_ENABLE:
		if (val == 1)
			virtio_queue_enable(vs, q);
		break;
	default:
		if (off >= CC_Q_DESC && off < CC_SIZE && !vq_enabled(&q->vq))
			set_addr_part(queue_addr(q, off & ~7u), off, bytes, (uint32_t)val, val);
		break;
	}
}

static void common_write(struct virtio_softc *vs, unsigned off, int bytes, uint64_t val)
{
	switch (off) {
	case CC_DFSELECT:
		vs->dfselect = (uint32_t)val;
		break;
	case CC_GFSELECT:
		vs->gfselect = (uint32_t)val;
		break;
	case CC_GF:
		if (vs->gfselect < 2 && !(vs->status & VIRTIO_STATUS_FEATURES_OK)) {
			unsigned shift = 32 * vs->gfselect;

			vs->driver_features = (vs->driver_features & ~(0xffffffffull << shift)) |
					      ((val & 0xffffffffull) << shift);
		}
		break;
	case CC_MSIX_CONFIG:
		vs->msix_config = virtio_valid_vector(vs, (uint16_t)val) ? (uint16_t)val : VIRTIO_NO_VECTOR;
		break;
	case CC_STATUS:
		virtio_status_write(vs, (uint8_t)val);
		break;
	case CC_Q_SELECT:
		vs->queue_select = (uint16_t)val;
		break;
	default:
		queue_write(vs, off, bytes, val);
		break;
	}
}

static uint64_t queue_read(struct virtio_softc *vs, unsigned off)
{
	struct virtio_queue *q = virtio_selected_queue(vs);

	if (q == NULL)
		return 0; /* size 0: "no such queue" */
	switch (off) {
	case CC_Q_SIZE:
		return q->vq.size;
	case CC_Q_MSIX:
		return q->msix_vector;
	case CC_Q_ENABLE:
		return vq_enabled(&q->vq);
	case CC_Q_NOFF:
		return (uint64_t)q->index;
	default:
		return *queue_addr(q, off & ~7u) >> (off & 4 ? 32 : 0);
	}
}

static uint64_t common_read(struct virtio_softc *vs, unsigned off)
{
	switch (off) {
	case CC_DFSELECT:
		return vs->dfselect;
	case CC_DF:
		return vs->dfselect < 2 ?
		       (uint32_t)(virtio_offered_features(vs) >> (32 * vs->dfselect)) : 0;
	case CC_GFSELECT:
		return vs->gfselect;
	case CC_GF:
		return vs->gfselect < 2 ? (uint32_t)(vs->driver_features >> (32 * vs->gfselect)) : 0;
	case CC_MSIX_CONFIG:
		return vs->msix_config;
	case CC_NUM_QUEUES:
		return vs->ops->nqueues;
	case CC_STATUS:
		return vs->status;
	case CC_CFGGEN:
		return vs->config_generation;
	case CC_Q_SELECT:
		return vs->queue_select;
	default:
		return queue_read(vs, off);
	}
}

/* Register widths of the common structure: accesses must fit one register. */
static int common_reg(unsigned off, int bytes, unsigned *reg)
{
	static const struct {
		uint8_t off, size;
	} regs[] = {
		{ CC_DFSELECT, 4 }, { CC_DF, 4 }, { CC_GFSELECT, 4 }, { CC_GF, 4 },
		{ CC_MSIX_CONFIG, 2 }, { CC_NUM_QUEUES, 2 }, { CC_STATUS, 1 }, { CC_CFGGEN, 1 },
		{ CC_Q_SELECT, 2 }, { CC_Q_SIZE, 2 }, { CC_Q_MSIX, 2 }, { CC_Q_ENABLE, 2 },
		{ CC_Q_NOFF, 2 }, { CC_Q_DESC, 8 }, { CC_Q_AVAIL, 8 }, { CC_Q_USED, 8 },
	};

	for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++) {
		unsigned start = regs[i].off, size = regs[i].size;

		if (off == start && (unsigned)bytes == size) {
			*reg = off;
			return 0;
		}
		/* 64-bit registers also take 32-bit halves. */
		if (size == 8 && bytes == 4 && (off == start || off == start + 4)) {
			*reg = off;
			return 0;
		}
	}
	return -1;
}

/* ---- BAR 4 ---------------------------------------------------------------- */

uint64_t virtio_devcfg_read(const struct virtio_softc *vs, uint64_t off, int bytes)
{
	uint64_t v = 0;

	if (off >= vs->devcfg_size || (uint64_t)bytes > vs->devcfg_size - off)
		return 0;
	memcpy(&v, (const uint8_t *)vs->devcfg + off, (size_t)bytes);
	return v;
}

void virtio_devcfg_write(struct virtio_softc *vs, uint64_t off, int bytes, uint32_t val)
{
	if (off < vs->devcfg_size && vs->ops->cfg_write)
		vs->ops->cfg_write(vs, (unsigned)off, bytes, val);
}

uint8_t virtio_isr_read(struct virtio_softc *vs)
{
	uint8_t v = vs->isr;

	vs->isr = 0;
	pci_intx_deassert(vs->pi);
	return v;
}

uint64_t virtio_barread(struct pci_devinst *pi, int bar, uint64_t off, int bytes)
{
	struct virtio_softc *vs = pi->softc;
	uint64_t v = 0;
	unsigned reg;

	if (bar == VIRTIO_PORT_NOTIFY_BAR && vs->port_notify)
		return 0; /* like the notify area in BAR 4 */
	if (bar != VIRTIO_BAR && bar != VIRTIO_LEGACY_BAR)
		return ~0ull;
	virtio_lock(vs);
	if (bar == VIRTIO_LEGACY_BAR) {
		v = virtio_legacy_read(vs, off, bytes);
	} else if (off < CC_SIZE) {
		v = common_reg((unsigned)off, bytes, &reg) == 0 ? common_read(vs, reg) : 0;
	} else if (off == VIRTIO_ISR_OFF && bytes == 1) {
		v = virtio_isr_read(vs);
	} else if (off >= VIRTIO_DEVCFG_OFF && off < VIRTIO_NOTIFY_OFF) {
		v = virtio_devcfg_read(vs, off - VIRTIO_DEVCFG_OFF, bytes);
	}
	virtio_unlock(vs);
	return v;
}

void virtio_kick(struct virtio_softc *vs, uint64_t q)
{
	if (q < vs->ops->nqueues)
		(void)eventfd_write(vs->queues[q].kick_fd, 1);
}

void virtio_barwrite(struct pci_devinst *pi, int bar, uint64_t off, int bytes,
			    uint64_t val)
{
	struct virtio_softc *vs = pi->softc;
	unsigned reg;

	if (bar == VIRTIO_PORT_NOTIFY_BAR && vs->port_notify) {
		virtio_kick(vs, off / VIRTIO_NOTIFY_MULT);
		return;
	}
	if (bar != VIRTIO_BAR && bar != VIRTIO_LEGACY_BAR)
		return;
	if (bar == VIRTIO_BAR && off >= VIRTIO_NOTIFY_OFF) {
		virtio_kick(vs, (off - VIRTIO_NOTIFY_OFF) / VIRTIO_NOTIFY_MULT);
		return;
	}
	virtio_lock(vs);
	if (bar == VIRTIO_LEGACY_BAR)
		virtio_legacy_write(vs, off, bytes, val);
	else if (off < CC_SIZE && common_reg((unsigned)off, bytes, &reg) == 0)
		common_write(vs, reg, bytes, val);
	else if (off >= VIRTIO_DEVCFG_OFF && off < VIRTIO_NOTIFY_OFF)
		virtio_devcfg_write(vs, off - VIRTIO_DEVCFG_OFF, bytes, (uint32_t)val);
	virtio_unlock(vs);
}

/* Each queue's notify address in the area at base to its eventfd (or unbound). */
static void bind_kicks(struct virtio_softc *vs, uint64_t base, bool port, bool bind)
{
	for (int i = 0; i < vs->ops->nqueues; i++) {
		uint64_t a = base + (uint64_t)i * VIRTIO_NOTIFY_MULT;

		/* On failure the trapped write still delivers the kick, just slower. */
		(void)vm_ioeventfd(vs->pi->ctx, a, 2, port, vs->queues[i].kick_fd, !bind);
	}
}

/* A BAR moved: each queue's notify address moves with it. */
void virtio_bar_mapped(struct pci_devinst *pi, int bar, bool mapped, uint64_t addr)
{
	struct virtio_softc *vs = pi->softc;

	if (bar == VIRTIO_LEGACY_BAR)
		virtio_legacy_mapped(vs, mapped, addr);
	if (bar == VIRTIO_PORT_NOTIFY_BAR && vs->port_notify)
		bind_kicks(vs, addr, true, mapped);
	if (bar != VIRTIO_BAR)
		return;
	bind_kicks(vs, addr + VIRTIO_NOTIFY_OFF, false, mapped);
	vs->notify_base = mapped ? addr + VIRTIO_NOTIFY_OFF : 0;
}

/* ---- VIRTIO_PCI_CAP_PCI_CFG: BAR access through config space --------- */

static bool pci_cfg_window(struct virtio_softc *vs, unsigned off, int bytes, uint64_t *baroff,
			   int *barlen)
{
	unsigned c = vs->pci_cfg_cap;
	uint32_t len;

	if (!c || off != c + 16)
		return false;
	len = pci_get_cfg32(vs->pi, c + 12);
	*baroff = pci_get_cfg32(vs->pi, c + 8);
	*barlen = (len == 1 || len == 2 || len == 4) && (int)len <= bytes ? (int)len : 0;
	return pci_get_cfg8(vs->pi, c + 4) == VIRTIO_BAR;
}

int virtio_cfgread(struct pci_devinst *pi, unsigned off, int bytes, uint32_t *val)
{
	struct virtio_softc *vs = pi->softc;
	uint64_t baroff;
	int len;

	if (!pci_cfg_window(vs, off, bytes, &baroff, &len))
		return -1;
	*val = len ? (uint32_t)virtio_barread(pi, VIRTIO_BAR, baroff, len) : 0;
	return 0;
}

int virtio_cfgwrite(struct pci_devinst *pi, unsigned off, int bytes, uint32_t val)
{
	struct virtio_softc *vs = pi->softc;
	unsigned c = vs->pci_cfg_cap;
	uint64_t baroff;
	int len;

	if (!c || off < c + 4 || off >= c + 20)
		return -1;
	if (pci_cfg_window(vs, off, bytes, &baroff, &len)) {
		if (len)
			virtio_barwrite(pi, VIRTIO_BAR, baroff, len, val);
		return 0;
	}
	/* bar, offset and length are the driver's to set; the rest is read-only. */
	if ((off == c + 4 && bytes == 1) || ((off == c + 8 || off == c + 12) && bytes == 4))
		memcpy(pi->cfg + off, &val, (size_t)bytes);
	return 0;
}

/* ---- Set-up ------------------------------------------------------------ */

static int add_virtio_cap_in(struct pci_devinst *pi, uint8_t bar, uint8_t type, uint32_t off,
			     uint32_t len, uint32_t extra, unsigned caplen)
{
	uint8_t cap[20] = { PCIY_VENDOR, 0, (uint8_t)caplen, type, bar };

	if (type == CAP_PCI_CFG)
		cap[4] = 0;
	memcpy(cap + 8, &off, 4);
	memcpy(cap + 12, &len, 4);
	memcpy(cap + 16, &extra, 4);
	return pci_add_cap(pi, cap, caplen);
}

static int add_virtio_cap(struct pci_devinst *pi, uint8_t type, uint32_t off, uint32_t len,
			  uint32_t extra, unsigned caplen)
{
	return add_virtio_cap_in(pi, VIRTIO_BAR, type, off, len, extra, caplen);
}

static uint32_t notify_area_size(const struct virtio_softc *vs)
{
	return VIRTIO_NOTIFY_MULT * (uint32_t)vs->ops->nqueues;
}

static int add_caps(struct pci_devinst *pi, struct virtio_softc *vs)
{
	int pcicfg;

	if (vs->port_notify &&
	    add_virtio_cap_in(pi, VIRTIO_PORT_NOTIFY_BAR, CAP_NOTIFY_CFG, 0, notify_area_size(vs),
			      VIRTIO_NOTIFY_MULT, 20) < 0)
		return -1;
	if (add_virtio_cap(pi, CAP_COMMON_CFG, VIRTIO_COMMON_OFF, CC_SIZE, 0, 16) < 0 ||
	    add_virtio_cap(pi, CAP_ISR_CFG, VIRTIO_ISR_OFF, 1, 0, 16) < 0 ||
	    (vs->devcfg_size &&
	     add_virtio_cap(pi, CAP_DEVICE_CFG, VIRTIO_DEVCFG_OFF, (uint32_t)vs->devcfg_size, 0,
			    16) < 0) ||
	    add_virtio_cap(pi, CAP_NOTIFY_CFG, VIRTIO_NOTIFY_OFF, notify_area_size(vs),
			   VIRTIO_NOTIFY_MULT, 20) < 0)
		return -1;
	pcicfg = add_virtio_cap(pi, CAP_PCI_CFG, 0, 0, 0, 20);
	if (pcicfg < 0)
		return -1;
	vs->pci_cfg_cap = (unsigned)pcicfg;
	return 0;
}

static void on_kick(int fd, enum ev_type type, void *arg)
{
	struct virtio_queue *q = arg;
	struct virtio_softc *vs = q->vs;
	eventfd_t n;

	virtio_lock(vs);
	/* An in-kernel backend took the queue while this event was on its way. */
	if (q->in_kernel) {
		virtio_unlock(vs);
		return;
	}
	(void)eventfd_read(fd, &n);
	if (virtio_driver_ok(vs) && vq_enabled(&q->vq) && !vq_broken(&q->vq))
		vs->ops->notify(vs, q->index);
	virtio_unlock(vs);
}

static int setup_queues(struct virtio_softc *vs)
{
	vs->queues = calloc(vs->ops->nqueues, sizeof(*vs->queues));
	vs->chain = malloc(sizeof(*vs->chain));
	if (vs->queues == NULL || vs->chain == NULL)
		return -1;
	for (int i = 0; i < vs->ops->nqueues; i++) {
		struct virtio_queue *q = &vs->queues[i];

		q->vs = vs;
		q->index = i;
		q->vq.ctx = vs->pi->ctx;
		q->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (q->kick_fd < 0)
			return -1;
		q->kick_ev = mevent_add(q->kick_fd, EVF_READ, on_kick, q);
		if (q->kick_ev == NULL)
			return -1;
	}
	reset_transport(vs);
	return 0;
}

/* The PCI device ID of a transitional device (section 4.1.2.1), 0 if it has none. */
static uint16_t transitional_id(uint16_t device_id)
{
	static const uint16_t ids[] = {
		[VIRTIO_ID_NET] = 0x1000, [VIRTIO_ID_BLOCK] = 0x1001,
		[VIRTIO_ID_CONSOLE] = 0x1003, [VIRTIO_ID_RNG] = 0x1005,
	};

	return device_id < sizeof(ids) / sizeof(ids[0]) ? ids[device_id] : 0;
}

/*
 * Transitional when the device type has a legacy ID: revision 0 and the
 * legacy I/O BAR besides the capabilities, as QEMU's "pc" machine does;
 * drivers that know virtio 1.x use the capabilities (Linux >= 4.0, SeaBIOS,
 * FreeBSD >= 13), older ones (FreeBSD 12, Linux 3.x) and edk2's
 * VirtioPciDeviceDxe use the legacy registers. Otherwise modern only.
 */
static void set_ids(struct pci_devinst *pi, const struct virtio_devops *ops)
{
	uint16_t legacy = transitional_id(ops->device_id);

	pci_set_ids(pi, VIRTIO_PCI_VENDOR,
		    legacy ? legacy : (uint16_t)(VIRTIO_PCI_MODERN_BASE + ops->device_id),
		    ops->pci_class, ops->pci_subclass, VIRTIO_PCI_VENDOR, ops->device_id,
		    legacy ? 0 : 1);
}

/* The transport's config key: notify=port (default) or mmio. */
static int read_transport_options(struct pci_devinst *pi, const struct cfg_node *node,
				  struct virtio_softc *vs)
{
	const char *notify = node ? get_config_value_node(node, "notify") : NULL;

	vs->port_notify = notify == NULL || strcmp(notify, "port") == 0;
	if (notify != NULL && !vs->port_notify && strcmp(notify, "mmio") != 0) {
		fprintf(stderr, "khyve: %s: notify=%s: expected port or mmio\n", pi->ident, notify);
		return -1;
	}
	return 0;
}

int virtio_pci_init(struct pci_devinst *pi, const struct cfg_node *node, struct virtio_softc *vs,
		    const struct virtio_devops *ops, const void *devcfg, size_t devcfg_size)
{
	if (read_transport_options(pi, node, vs) < 0)
		return -1;
	vs->ops = ops;
	vs->pi = pi;
	vs->devcfg = devcfg;
	vs->devcfg_size = devcfg_size;
	pthread_mutex_init(&vs->lock, NULL);
	pi->softc = vs;
	set_ids(pi, ops);
	if (devcfg_size > VIRTIO_NOTIFY_OFF - VIRTIO_DEVCFG_OFF || add_caps(pi, vs) < 0 ||
	    (transitional_id(ops->device_id) && virtio_legacy_init(pi, vs) < 0) ||
	    pci_add_msix(pi, ops->nqueues + 1u, VIRTIO_MSIX_BAR) < 0 ||
	    pci_alloc_bar(pi, VIRTIO_BAR, PCI_BAR_MEM32, VIRTIO_BAR_SIZE) < 0 ||
	    (vs->port_notify &&
	     pci_alloc_bar(pi, VIRTIO_PORT_NOTIFY_BAR, PCI_BAR_IO, notify_area_size(vs)) < 0) ||
	    setup_queues(vs) < 0) {
		fprintf(stderr, "khyve: %s: cannot set up the virtio device: %s\n", pi->ident,
			strerror(errno ? errno : ENOMEM));
		return -1;
	}
	pci_add_intx(pi);
	return 0;
}
