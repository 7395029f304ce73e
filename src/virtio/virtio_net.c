/*
 * virtio-net (virtio 1.1 section 5.1): bhyve's "-s N,virtio-net,BACKEND".
 * Queues: 0 receive, 1 transmit, 2 control.
 *
 * Transmit: each chain is one frame (12-byte virtio_net_hdr_v1 first) and
 * goes to the backend by writev straight from guest memory; with a tap the
 * header travels along, so checksum and TSO offloads are the host kernel's.
 * Backends without a header (slirp) get the bare frame, and the device then
 * offers no offloads.
 *
 * Receive: guest buffers are popped ahead into a reserve, so a frame is
 * never read before there is room for it, and the backend reads each frame
 * straight into them (readv on a tap: no copy in khyve), over as many
 * buffers as it needs (mergeable receive buffers); num_buffers is filled in
 * afterwards. When the guest has no buffers, the backend's notifications
 * are switched off until the guest kicks the receive queue: no busy polling.
 *
 * A legacy driver that takes no mergeable buffers uses a 10-byte header
 * (no num_buffers): the device inserts or drops those 2 bytes between the
 * guest and the backend, which always speaks the 12-byte one; its frames
 * go through a bounce buffer.
 *
 * vhost-net: with a tap, and /dev/vhost-net usable, the kernel moves frames
 * on queues 0 and 1 once the driver is ready (vhost=off: never; vhost=on:
 * required, an error if impossible). khyve still owns the device: features,
 * config space, the control queue, and interrupts: the kernel signals an
 * eventfd per queue, which KVM turns into the queue's MSI-X message (irqfd)
 * while that vector is unmasked, and khyve reads otherwise (INTx, masked
 * vectors: the transport keeps the pending bits).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/eventfd.h>
#include <unistd.h>

#include "core/config.h"
#include "core/mevent.h"
#include "lib/vmmapi.h"
#include "net/net_backend.h"
#include "net/vhost_net.h"
#include "pci/pci.h"
#include "virtio/virtio.h"

#define NET_QUEUE_SIZE 256
#define NET_RXQ 0
#define NET_TXQ 1
#define NET_CTRLQ 2
#define NET_RX_BATCH 64           /* frames per wakeup before yielding the loop */
#define NET_RESERVE_IOV 64        /* iovecs kept per reserved receive chain */
#define NET_RX_IOV 1024           /* iovecs one receive may scatter over (readv's IOV_MAX) */
#define NET_HDR_LEN NETBE_VNET_HDR_LEN
#define NET_HDR_LEN_LEGACY 10     /* no num_buffers: legacy driver without MRG_RXBUF */
#define NET_HDR_NUM_BUFFERS 10    /* offset of num_buffers in the header */
#define ETH_OVERHEAD (14 + 4)     /* header + VLAN tag */

/* Feature bits (virtio 1.1 section 5.1.3). */
#define VIRTIO_NET_F_CSUM 0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_MTU 3
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_GUEST_ECN 9
#define VIRTIO_NET_F_HOST_TSO4 11
#define VIRTIO_NET_F_HOST_TSO6 12
#define VIRTIO_NET_F_HOST_ECN 13
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_NET_F_STATUS 16
#define VIRTIO_NET_F_CTRL_VQ 17
#define VIRTIO_NET_F_CTRL_RX 18
#define VIRTIO_NET_F_CTRL_MAC_ADDR 23

#define VIRTIO_NET_S_LINK_UP 1

/* Control queue classes, commands and acks (section 5.1.6.5). */
#define VIRTIO_NET_CTRL_RX 0
#define VIRTIO_NET_CTRL_MAC 1
#define VIRTIO_NET_CTRL_MAC_TABLE_SET 0
#define VIRTIO_NET_CTRL_MAC_ADDR_SET 1
#define VIRTIO_NET_OK 0
#define VIRTIO_NET_ERR 1

#define BIT(n) (1ull << (n))

struct net_config {
	uint8_t mac[6];
	uint16_t status;
	uint16_t max_virtqueue_pairs;
	uint16_t mtu;
} __attribute__((packed));

/* A receive chain popped ahead of need. */
struct rx_buffer {
	uint16_t head;
	uint16_t ndesc;              /* ring descriptors it holds */
	uint16_t niov;
	uint32_t capacity;
	struct iovec iov[NET_RESERVE_IOV];
};

/*
 * A queue the kernel drives: where it signals used buffers. While the queue's
 * MSI-X vector is unmasked, call_fd is an irqfd on an MSI route (gsi) and the
 * guest is interrupted without khyve; otherwise khyve reads call_fd and
 * interrupts through the transport (INTx, masking, pending bits).
 */
struct vhost_queue {
	struct net_softc *sc;
	int index;
	int call_fd;
	struct mevent *call_ev;
	int gsi;                     /* MSI route, -1 before the first */
	bool irqfd;                  /* call_fd is bound to gsi */
};

struct net_softc {
	struct virtio_softc vs;
	struct net_backend *be;
	struct net_config cfg;
	uint8_t mac[6];              /* mac= or the default: cfg.mac again at reset */
	bool vnet_hdr;               /* backend frames carry the header */
	bool rx_on;                  /* backend notifications enabled */
	struct virtio_devops ops;
	/* Receive reserve: a ring of chains popped but not yet used. */
	struct rx_buffer reserve[NET_QUEUE_SIZE];
	unsigned res_head, res_count;
	unsigned res_desc;           /* ring descriptors the reserve holds */
	uint64_t res_capacity;       /* bytes in the reserve */
	uint8_t *frame;              /* bounce buffer, NET_HDR_LEN + NETBE_MAX_FRAME */
	struct iovec rx_iov[NET_RX_IOV]; /* where the next frame goes */
	/* In-kernel data path (NULL: khyve moves every frame). */
	struct vhost_net *vhost;
	bool vhost_running;          /* queues 0 and 1 are the kernel's now */
	struct vhost_queue vhq[VHOST_NET_NQUEUES];
};

/* ---- Receive ------------------------------------------------------------ */

static bool mergeable(const struct net_softc *sc)
{
	return virtio_has_feature(&sc->vs, VIRTIO_NET_F_MRG_RXBUF);
}

/* The guest's header: with num_buffers (virtio 1.x, or mergeable buffers) or without. */
static unsigned guest_hdr_len(const struct net_softc *sc)
{
	bool num_buffers = virtio_has_feature(&sc->vs, VIRTIO_F_VERSION_1) || mergeable(sc);

	return num_buffers ? NET_HDR_LEN : NET_HDR_LEN_LEGACY;
}

/* The largest frame (with header) this guest can be handed, given its features. */
static uint64_t rx_max_frame(const struct net_softc *sc)
{
	const struct virtio_softc *vs = &sc->vs;

	if (virtio_has_feature(vs, VIRTIO_NET_F_GUEST_TSO4) ||
	    virtio_has_feature(vs, VIRTIO_NET_F_GUEST_TSO6))
		return NETBE_MAX_FRAME;
	return NET_HDR_LEN + ETH_OVERHEAD + (sc->cfg.mtu ? sc->cfg.mtu : 1500);
}

static void rx_backend(struct net_softc *sc, bool on)
{
	if (sc->rx_on != on) {
		sc->rx_on = on;
		netbe_rx_enable(sc->be, on);
	}
}

/* Take one chain into the reserve: 1 done, 0 none available, -1 malformed. */
static int reserve_one(struct net_softc *sc)
{
	struct vq_chain *c = sc->vs.chain;
	struct rx_buffer *b;
	int rc = vq_pop(virtio_vq(&sc->vs, NET_RXQ), c);

	if (rc <= 0)
		return rc;
	if (c->nreadable != 0 || c->writable_len < NET_HDR_LEN)
		return -1; /* receive buffers are device-writable and hold a header */
	b = &sc->reserve[(sc->res_head + sc->res_count) % NET_QUEUE_SIZE];
	b->head = c->head;
	b->ndesc = c->ndesc;
	b->niov = c->niov < NET_RESERVE_IOV ? c->niov : NET_RESERVE_IOV;
	b->capacity = 0;
	for (unsigned i = 0; i < b->niov; i++) {
		b->iov[i] = c->iov[i];
		b->capacity += (uint32_t)c->iov[i].iov_len;
	}
	sc->res_count++;
	sc->res_desc += b->ndesc;
	sc->res_capacity += b->capacity;
	return 1;
}

/*
 * Make room for the largest frame: enough reserved bytes (mergeable), or
 * one big enough chain. false: wait for the guest to add buffers.
 */
static bool rx_room(struct net_softc *sc)
{
	struct virtqueue *vq = virtio_vq(&sc->vs, NET_RXQ);
	uint64_t need = rx_max_frame(sc);

	for (;;) {
		if (mergeable(sc) ? sc->res_capacity >= need : sc->res_count > 0)
			return true;
		if (sc->res_desc >= vq->size)
			return true; /* every descriptor of the ring the driver chose: all it can give */
		int rc = reserve_one(sc);

		if (rc < 0) {
			virtio_needs_reset(&sc->vs);
			return false;
		}
		if (rc == 0 && !vq_enable_notify(vq))
			return false;
	}
}

/* The bytes of in[0..nin) from skip on, as at most max iovecs in out; returns how many. */
static unsigned iov_from(const struct iovec *in, unsigned nin, size_t skip, struct iovec *out,
			 unsigned max)
{
	unsigned n = 0;

	for (unsigned i = 0; i < nin && n < max; i++) {
		if (skip >= in[i].iov_len) {
			skip -= in[i].iov_len;
			continue;
		}
		out[n].iov_base = (uint8_t *)in[i].iov_base + skip;
		out[n].iov_len = in[i].iov_len - skip;
		skip = 0;
		n++;
	}
	return n;
}

/* Copy bytes into one reserved chain from offset off on; returns bytes copied. */
static size_t chain_write(const struct rx_buffer *b, size_t off, const uint8_t *src, size_t len)
{
	return netbe_iov_fill(b->iov, b->niov, off, src, len);
}

static struct rx_buffer *reserve_take(struct net_softc *sc)
{
	struct rx_buffer *b = &sc->reserve[sc->res_head];

	sc->res_head = (sc->res_head + 1) % NET_QUEUE_SIZE;
	sc->res_count--;
	sc->res_desc -= b->ndesc;
	sc->res_capacity -= b->capacity;
	return b;
}

/* How many reserved chains, from the oldest, a frame of len bytes fills. */
static uint16_t buffers_needed(const struct net_softc *sc, size_t len)
{
	uint64_t have = 0;
	uint16_t n = 0;

	while (have < len && n < sc->res_count)
		have += sc->reserve[(sc->res_head + n++) % NET_QUEUE_SIZE].capacity;
	return n;
}

/* Give the guest nbufs reserved chains holding a frame of len bytes (header included). */
static void rx_push(struct net_softc *sc, uint16_t nbufs, size_t len)
{
	struct virtqueue *vq = virtio_vq(&sc->vs, NET_RXQ);
	size_t off = 0;

	for (uint16_t i = 0; i < nbufs; i++) {
		struct rx_buffer *b = reserve_take(sc);
		size_t n = len - off < b->capacity ? len - off : b->capacity;

		vq_push(vq, b->head, (uint32_t)n);
		off += n;
	}
}

/*
 * The guest's buffers for the next frame, as iovecs in rx_iov: the oldest
 * reserved chain (all of them as needed, with mergeable buffers), skip
 * bytes in. Returns how many; *room is the bytes they hold. One entry is
 * left for the overflow tail.
 */
static int rx_guest_iov(struct net_softc *sc, size_t skip, uint64_t *room)
{
	unsigned chains = mergeable(sc) ? sc->res_count : 1;
	uint64_t want = rx_max_frame(sc), have = 0;
	unsigned n = 0;

	for (unsigned c = 0; c < chains && have < want && n < NET_RX_IOV - 1; c++) {
		const struct rx_buffer *b = &sc->reserve[(sc->res_head + c) % NET_QUEUE_SIZE];
		unsigned k = iov_from(b->iov, b->niov, skip, sc->rx_iov + n, NET_RX_IOV - 1 - n);

		have += netbe_iov_len(sc->rx_iov + n, (int)k);
		n += k;
		skip = skip > b->capacity ? skip - b->capacity : 0;
	}
	*room = have;
	return (int)n;
}

/*
 * One frame from the backend straight into the guest's buffers, for a
 * guest with the 12-byte header. The bounce buffer follows them as an
 * overflow tail: the backend always has room for its largest frame, and a
 * frame that reaches the tail did not fit the guest's buffers and is
 * dropped (without mergeable buffers the buffer comes back empty). Without
 * a vnet header from the backend (slirp) the header is ours to write, and
 * the frame goes in after it. Returns 1 for a frame, 0 for none waiting.
 */
static int rx_one_direct(struct net_softc *sc)
{
	size_t own_hdr = sc->vnet_hdr ? 0 : NET_HDR_LEN;
	uint8_t hdr[NET_HDR_LEN] = { 0 };
	uint64_t room;
	int niov = rx_guest_iov(sc, own_hdr, &room);
	ssize_t n;
	size_t len;
	uint16_t nbufs;

	/*
	 * Through the bounce buffer for now: with the tap reading straight into
	 * guest buffers, net-tap-vhost-off's guest triple-faulted in 3 of 5
	 * testbed runs (the bounce-buffer build: 2 of 2 passed). Not understood yet.
	 */
	n = netbe_recv(sc->be, &(struct iovec){ sc->frame, NET_HDR_LEN + NETBE_MAX_FRAME }, 1);
	if (n <= 0)
		return 0;
	len = (size_t)n + own_hdr;
	if ((uint64_t)n > room || len < NET_HDR_LEN) {
		if (!mergeable(sc))
			rx_push(sc, 1, 0);
		return 1;
	}
	(void)netbe_iov_fill(sc->rx_iov, niov, 0, sc->frame, (size_t)n);
	nbufs = mergeable(sc) ? buffers_needed(sc, len) : 1;
	hdr[NET_HDR_NUM_BUFFERS] = (uint8_t)nbufs;
	hdr[NET_HDR_NUM_BUFFERS + 1] = (uint8_t)(nbufs >> 8);
	if (own_hdr)
		(void)chain_write(&sc->reserve[sc->res_head], 0, hdr, NET_HDR_LEN);
	else
		(void)chain_write(&sc->reserve[sc->res_head], NET_HDR_NUM_BUFFERS,
				  hdr + NET_HDR_NUM_BUFFERS, 2);
	rx_push(sc, nbufs, len);
	return 1;
}

/*
 * One frame for a legacy driver (10-byte header, one buffer per frame):
 * read into the bounce buffer, the header narrowed, then copied. Returns
 * 1 for a frame, 0 for none waiting.
 */
static int rx_one_legacy(struct net_softc *sc)
{
	uint8_t *buf = sc->vnet_hdr ? sc->frame : sc->frame + NET_HDR_LEN;
	struct iovec iov = { buf, NETBE_MAX_FRAME };
	ssize_t n = netbe_recv(sc->be, &iov, 1);
	size_t len;

	if (n <= 0)
		return 0;
	if (!sc->vnet_hdr) {
		memset(sc->frame, 0, NET_HDR_LEN); /* no offloads: a plain frame */
		n += NET_HDR_LEN;
	} else if (n < NET_HDR_LEN) {
		return 1;
	}
	/* The header without num_buffers, right before the frame. */
	memmove(sc->frame + 2, sc->frame, NET_HDR_LEN_LEGACY);
	len = (size_t)n - 2;
	if (sc->reserve[sc->res_head].capacity < len)
		len = 0; /* too big for the buffer: it comes back empty */
	len = chain_write(&sc->reserve[sc->res_head], 0, sc->frame + 2, len);
	rx_push(sc, 1, len);
	return 1;
}

/* Receive what the backend has, as long as the guest has room. */
static void rx_process(struct net_softc *sc)
{
	int frames = 0;

	if (!virtio_driver_ok(&sc->vs)) {
		/* Broken (NEEDS_RESET): a level-triggered tap would call us back forever. */
		rx_backend(sc, false);
		return;
	}
	while (frames < NET_RX_BATCH) {
		if (!rx_room(sc)) {
			rx_backend(sc, false); /* until the guest kicks the receive queue */
			break;
		}
		rx_backend(sc, true);
		if ((guest_hdr_len(sc) == NET_HDR_LEN ? rx_one_direct(sc) : rx_one_legacy(sc)) == 0)
			break;
		frames++;
	}
	/*
	 * Yielding with frames maybe left: ask to be called again. slirp signals
	 * only when its queue turns non-empty, so otherwise they would wait for
	 * the next guest kick (with EVENT_IDX perhaps never).
	 */
	if (frames == NET_RX_BATCH)
		netbe_rx_enable(sc->be, true);
	virtio_queue_done(&sc->vs, NET_RXQ);
}

static void on_rx_ready(void *arg)
{
	struct net_softc *sc = arg;

	virtio_lock(&sc->vs);
	rx_process(sc);
	virtio_unlock(&sc->vs);
}

/* ---- Transmit ------------------------------------------------------------ */

/* A 10-byte guest header to the backend's 12-byte one: num_buffers (0) appended. */
static unsigned widen_header(const struct vq_chain *c, struct iovec *out, unsigned max)
{
	static uint8_t hdr[NET_HDR_LEN]; /* main thread only */
	unsigned done = 0;

	memset(hdr, 0, sizeof(hdr));
	for (unsigned i = 0; i < c->nreadable && done < NET_HDR_LEN_LEGACY; i++) {
		size_t k = c->iov[i].iov_len;

		if (k > NET_HDR_LEN_LEGACY - done)
			k = NET_HDR_LEN_LEGACY - done;
		memcpy(hdr + done, c->iov[i].iov_base, k);
		done += (unsigned)k;
	}
	out[0] = (struct iovec){ hdr, NET_HDR_LEN };
	return 1 + iov_from(c->iov, c->nreadable, NET_HDR_LEN_LEGACY, out + 1, max - 1);
}

static void tx_one(struct net_softc *sc, const struct vq_chain *c)
{
	static struct iovec iov[VQ_MAX_SIZE + 1]; /* main thread only */
	unsigned hdr_len = guest_hdr_len(sc);

	/* A frame needs its header and must not be absurdly large; else drop it. */
	if (c->readable_len < hdr_len + 14 || c->readable_len - hdr_len > NETBE_MAX_FRAME - NET_HDR_LEN)
		return;
	if (!sc->vnet_hdr)
		(void)netbe_send(sc->be, iov,
				 (int)iov_from(c->iov, c->nreadable, hdr_len, iov, VQ_MAX_SIZE));
	else if (hdr_len == NET_HDR_LEN)
		(void)netbe_send(sc->be, c->iov, c->nreadable);
	else
		(void)netbe_send(sc->be, iov, (int)widen_header(c, iov, VQ_MAX_SIZE + 1));
}

static void tx_process(struct net_softc *sc)
{
	struct virtqueue *vq = virtio_vq(&sc->vs, NET_TXQ);
	struct vq_chain *c = sc->vs.chain;
	int rc;

	do {
		vq_disable_notify(vq);
		while ((rc = vq_pop(vq, c)) > 0) {
			tx_one(sc, c);
			vq_push(vq, c->head, 0);
		}
		if (rc < 0) {
			virtio_needs_reset(&sc->vs);
			return;
		}
	} while (vq_enable_notify(vq));
	virtio_queue_done(&sc->vs, NET_TXQ);
}

/* ---- Control queue --------------------------------------------------------- */

static uint8_t ctrl_command(struct net_softc *sc, const uint8_t *cmd, size_t len)
{
	if (len < 2)
		return VIRTIO_NET_ERR;
	switch (cmd[0]) {
	case VIRTIO_NET_CTRL_RX:
		/* Promiscuous/multicast modes: a tap already sees what the bridge sends it. */
		return len >= 3 ? VIRTIO_NET_OK : VIRTIO_NET_ERR;
	case VIRTIO_NET_CTRL_MAC:
		if (cmd[1] == VIRTIO_NET_CTRL_MAC_ADDR_SET && len == 2 + 6) {
			memcpy(sc->cfg.mac, cmd + 2, 6);
			return VIRTIO_NET_OK;
		}
		return cmd[1] == VIRTIO_NET_CTRL_MAC_TABLE_SET ? VIRTIO_NET_OK : VIRTIO_NET_ERR;
	default:
		return VIRTIO_NET_ERR;
	}
}

static void ctrl_process(struct net_softc *sc)
{
	struct virtqueue *vq = virtio_vq(&sc->vs, NET_CTRLQ);
	struct vq_chain *c = sc->vs.chain;
	uint8_t cmd[2 + 256];
	int rc;

	while ((rc = vq_pop(vq, c)) > 0) {
		size_t len = c->readable_len < sizeof(cmd) ? c->readable_len : sizeof(cmd);
		size_t done = 0;
		uint8_t ack;

		if (c->writable_len < 1) {
			virtio_needs_reset(&sc->vs);
			return;
		}
		for (unsigned i = 0; i < c->nreadable && done < len; i++) {
			size_t n = c->iov[i].iov_len < len - done ? c->iov[i].iov_len : len - done;

			memcpy(cmd + done, c->iov[i].iov_base, n);
			done += n;
		}
		ack = c->readable_len <= sizeof(cmd) ? ctrl_command(sc, cmd, len) : VIRTIO_NET_ERR;
		*(uint8_t *)c->iov[c->nreadable].iov_base = ack;
		vq_push(vq, c->head, 1);
	}
	if (rc < 0)
		virtio_needs_reset(&sc->vs);
	virtio_queue_done(&sc->vs, NET_CTRLQ);
}

/* ---- In-kernel data path (vhost-net) ------------------------------------------ */

static void on_vhost_call(int fd, enum ev_type type, void *arg)
{
	struct vhost_queue *q = arg;
	struct net_softc *sc = q->sc;
	eventfd_t n;

	(void)eventfd_read(fd, &n);
	virtio_lock(&sc->vs);
	if (sc->vhost_running && virtio_driver_ok(&sc->vs))
		virtio_queue_interrupt(&sc->vs, q->index);
	virtio_unlock(&sc->vs);
}

/* Send queue q's interrupts straight from the kernel (irqfd) when possible. */
static void vhost_route_interrupt(struct net_softc *sc, int q)
{
	struct vhost_queue *vq = &sc->vhq[q];
	struct vmctx *ctx = sc->vs.pi->ctx;
	uint64_t addr;
	uint32_t data;
	bool direct = sc->vhost_running && virtio_queue_msi(&sc->vs, q, &addr, &data);

	if (direct) {
		if (vq->gsi < 0)
			vq->gsi = vm_msi_route_add(ctx, addr, data);
		else if (vm_msi_route_set(ctx, vq->gsi, addr, data) < 0)
			direct = false;
		direct = direct && vq->gsi >= 0;
	}
	if (direct && !vq->irqfd) {
		(void)mevent_disable(vq->call_ev);
		vq->irqfd = vm_irqfd(ctx, (uint32_t)vq->gsi, vq->call_fd, false) == 0;
		if (!vq->irqfd)
			(void)mevent_enable(vq->call_ev);
	} else if (!direct && vq->irqfd) {
		(void)vm_irqfd(ctx, (uint32_t)vq->gsi, vq->call_fd, true);
		vq->irqfd = false;
		/* Level-triggered: a signal that raced the switch is read now. */
		(void)mevent_enable(vq->call_ev);
	}
}

static void net_interrupts_changed(struct virtio_softc *vs)
{
	struct net_softc *sc = (struct net_softc *)vs;

	if (sc->vhost == NULL)
		return;
	for (int q = 0; q < VHOST_NET_NQUEUES; q++)
		vhost_route_interrupt(sc, q);
}

/* The ring of queue q as the kernel needs it; false if it is not usable. */
static bool vhost_ring(struct net_softc *sc, int q, struct vhost_net_ring *r)
{
	struct virtqueue *vq = virtio_vq(&sc->vs, q);

	if (!vq_enabled(vq) || vq_broken(vq))
		return false;
	*r = (struct vhost_net_ring){
		.num = vq->size,
		.desc = vq_host_desc(vq),
		.avail = vq_host_avail(vq),
		.used = vq_host_used(vq),
		.last_avail = vq_next_avail(vq),
		.kick_fd = virtio_queue_kick_fd(&sc->vs, q),
		.call_fd = sc->vhq[q].call_fd,
	};
	return true;
}

static void vhost_release(struct net_softc *sc)
{
	vhost_net_stop(sc->vhost);
	sc->vhost_running = false;
	for (int q = 0; q < VHOST_NET_NQUEUES; q++) {
		virtio_queue_set_in_kernel(&sc->vs, q, false);
		vhost_route_interrupt(sc, q);
	}
}

/*
 * Driver ready: give queues 0 and 1 to the kernel. False (khyve keeps them)
 * if a queue is not set up, or the kernel refuses.
 */
static bool vhost_start(struct net_softc *sc)
{
	struct vhost_net_ring rings[VHOST_NET_NQUEUES];

	if (sc->vhost_running)
		return true;
	if (guest_hdr_len(sc) != NET_HDR_LEN)
		return false; /* the tap speaks the 12-byte header, the kernel would not adapt */
	for (int q = 0; q < VHOST_NET_NQUEUES; q++)
		if (!vhost_ring(sc, q, &rings[q]))
			return false;
	/* From now on kicks are the kernel's: khyve must not consume them. */
	for (int q = 0; q < VHOST_NET_NQUEUES; q++)
		virtio_queue_set_in_kernel(&sc->vs, q, true);
	sc->vhost_running = true;
	if (vhost_net_start(sc->vhost, sc->vs.pi->ctx, sc->vs.negotiated, rings,
			    netbe_kernel_fd(sc->be)) == 0) {
		net_interrupts_changed(&sc->vs);
		return true;
	}
	fprintf(stderr, "khyve: %s: vhost-net: cannot start the queues (%s); khyve moves the "
		"frames itself\n", sc->vs.pi->ident, strerror(errno));
	vhost_release(sc);
	return false;
}

/*
 * vhost= of the NIC: absent, use /dev/vhost-net when there is one; on,
 * required; off, never. Returns -1 (after one error line) only when required
 * and impossible.
 */
static int vhost_open(struct net_softc *sc, const struct cfg_node *node, const char *ident)
{
	const char *v = get_config_value_node(node, "vhost");
	bool want = true;

	if (v != NULL && config_parse_bool(v, &want) < 0) {
		fprintf(stderr, "khyve: %s: vhost=%s: say on or off\n", ident, v);
		return -1;
	}
	if (!want)
		return 0;
	if (netbe_kernel_fd(sc->be) < 0) {
		if (v == NULL)
			return 0;
		fprintf(stderr, "khyve: %s: vhost=on needs a tap backend\n", ident);
		return -1;
	}
	sc->vhost = vhost_net_open();
	if (sc->vhost == NULL) {
		if (v == NULL)
			return 0;
		fprintf(stderr, "khyve: %s: vhost=on: /dev/vhost-net: %s%s\n", ident,
			strerror(errno), errno == ENOENT ? " (modprobe vhost_net)" : "");
		return -1;
	}
	for (int q = 0; q < VHOST_NET_NQUEUES; q++) {
		struct vhost_queue *vq = &sc->vhq[q];

		vq->sc = sc;
		vq->index = q;
		vq->gsi = -1;
		vq->call_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (vq->call_fd < 0 ||
		    (vq->call_ev = mevent_add(vq->call_fd, EVF_READ, on_vhost_call, vq)) == NULL) {
			fprintf(stderr, "khyve: %s: vhost-net: %s\n", ident, strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* ---- Device ----------------------------------------------------------------- */

static void net_notify(struct virtio_softc *vs, int q)
{
	struct net_softc *sc = (struct net_softc *)vs;

	if (q == NET_RXQ)
		rx_process(sc); /* new buffers: receive again */
	else if (q == NET_TXQ)
		tx_process(sc);
	else
		ctrl_process(sc);
}

static unsigned guest_offloads(const struct virtio_softc *vs)
{
	unsigned o = 0;

	if (virtio_has_feature(vs, VIRTIO_NET_F_GUEST_CSUM))
		o |= NETBE_OFFLOAD_CSUM;
	if (virtio_has_feature(vs, VIRTIO_NET_F_GUEST_TSO4))
		o |= NETBE_OFFLOAD_TSO4;
	if (virtio_has_feature(vs, VIRTIO_NET_F_GUEST_TSO6))
		o |= NETBE_OFFLOAD_TSO6;
	if (virtio_has_feature(vs, VIRTIO_NET_F_GUEST_ECN))
		o |= NETBE_OFFLOAD_TSO_ECN;
	return o;
}

static void net_driver_ok(struct virtio_softc *vs)
{
	struct net_softc *sc = (struct net_softc *)vs;

	if (sc->vnet_hdr)
		(void)netbe_set_offloads(sc->be, guest_offloads(vs));
	if (sc->vhost != NULL && vhost_start(sc))
		return;
	rx_backend(sc, true);
}

static bool net_reset(struct virtio_softc *vs)
{
	struct net_softc *sc = (struct net_softc *)vs;

	if (sc->vhost_running)
		vhost_release(sc);
	rx_backend(sc, false);
	/* MAC_ADDR_SET lasts until reset: the next driver (kexec...) finds the NIC's own. */
	memcpy(sc->cfg.mac, sc->mac, sizeof(sc->mac));
	sc->res_head = sc->res_count = sc->res_desc = 0;
	sc->res_capacity = 0;
	return true;
}

static uint64_t net_features(const struct net_softc *sc)
{
	uint64_t f = BIT(VIRTIO_NET_F_MAC) | BIT(VIRTIO_NET_F_STATUS) | BIT(VIRTIO_NET_F_MRG_RXBUF) |
		     BIT(VIRTIO_NET_F_CTRL_VQ) | BIT(VIRTIO_NET_F_CTRL_RX) |
		     BIT(VIRTIO_NET_F_CTRL_MAC_ADDR);

	if (sc->cfg.mtu)
		f |= BIT(VIRTIO_NET_F_MTU);
	/* Offloads need the header to travel with the frame (tap). */
	if (sc->vnet_hdr)
		f |= BIT(VIRTIO_NET_F_CSUM) | BIT(VIRTIO_NET_F_GUEST_CSUM) |
		     BIT(VIRTIO_NET_F_HOST_TSO4) | BIT(VIRTIO_NET_F_HOST_TSO6) |
		     BIT(VIRTIO_NET_F_HOST_ECN) | BIT(VIRTIO_NET_F_GUEST_TSO4) |
		     BIT(VIRTIO_NET_F_GUEST_TSO6) | BIT(VIRTIO_NET_F_GUEST_ECN);
	return f;
}

static int net_config(struct net_softc *sc, struct pci_devinst *pi, const struct cfg_node *node)
{
	const char *mac = get_config_value_node(node, "mac");
	const char *mtu = get_config_value_node(node, "mtu");
	const char *name = get_config_value("name");
	int64_t v;

	if (mac != NULL && netbe_parse_mac(mac, sc->cfg.mac) < 0) {
		fprintf(stderr, "khyve: %s: invalid MAC address '%s'\n", pi->ident, mac);
		return -1;
	}
	if (mac == NULL)
		netbe_default_mac(name ? name : "", pi->slot, pi->func, sc->cfg.mac);
	memcpy(sc->mac, sc->cfg.mac, sizeof(sc->mac));
	if (mtu != NULL) {
		if (config_parse_int(mtu, &v) < 0 || v < 68 || v > 65535 - ETH_OVERHEAD) {
			fprintf(stderr, "khyve: %s: invalid MTU '%s' (68 to 65517)\n", pi->ident, mtu);
			return -1;
		}
		sc->cfg.mtu = (uint16_t)v;
	}
	sc->cfg.status = VIRTIO_NET_S_LINK_UP;
	sc->cfg.max_virtqueue_pairs = 1;
	return 0;
}

static int net_init(struct pci_devinst *pi, const struct cfg_node *node)
{
	struct net_softc *sc = calloc(1, sizeof(*sc));

	if (sc == NULL || (sc->frame = malloc(NET_HDR_LEN + NETBE_MAX_FRAME)) == NULL)
		return -1;
	if (net_config(sc, pi, node) < 0)
		return -1;
	/* QEMU's path for a virtio NIC; OVMF reads "ethernet@S" as Pci(S,F) (generic PCI). */
	if (pci_add_boot_device(pi, node, "ethernet", "/ethernet-phy@0", pi->ident) < 0)
		return -1;
	sc->be = netbe_open(node, pi->ident, on_rx_ready, sc);
	if (sc->be == NULL)
		return -1;
	sc->vnet_hdr = netbe_has_vnet_hdr(sc->be);
	if (vhost_open(sc, node, pi->ident) < 0)
		return -1;
	sc->ops = (struct virtio_devops){
		.name = "virtio-net",
		.device_id = VIRTIO_ID_NET,
		.pci_class = 0x02, /* network, Ethernet */
		.pci_subclass = 0x00,
		.nqueues = 3,
		.queue_size = NET_QUEUE_SIZE,
		.features = net_features(sc),
		.reset = net_reset,
		.notify = net_notify,
		.driver_ok = net_driver_ok,
		.interrupts_changed = net_interrupts_changed,
	};
	return virtio_pci_init(pi, node, &sc->vs, &sc->ops, &sc->cfg, sizeof(sc->cfg));
}

static const struct pci_devemu net_emu = {
	.name = "virtio-net",
	.init = net_init,
	VIRTIO_PCI_HOOKS,
};
PCI_EMUL_SET(net_emu);
