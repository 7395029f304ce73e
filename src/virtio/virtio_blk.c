/*
 * virtio-blk (virtio 1.1 section 5.2) on the io_uring block backend:
 * bhyve's "-s N,virtio-blk,PATH[,options]".
 *
 * A kick pops every available chain, turns each into a backend request
 * (data iovecs point straight into guest RAM) and submits the batch with one
 * syscall. Completions arrive on the backend's eventfd on the same (main)
 * thread; all of them are pushed to the used ring and the guest gets one
 * interrupt for the lot. Requests come from a fixed pool, one per queue
 * entry: nothing is allocated per request.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "block/block_if.h"
#include "core/config.h"
#include "core/mevent.h"
#include "pci/pci.h"
#include "virtio/virtio.h"

#define BLK_QUEUE_SIZE 256
#define BLK_SEG_MAX (BLK_QUEUE_SIZE - 2) /* data descriptors, besides header and status */
#define BLK_ID_BYTES 20
#define BLK_SECTOR 512ull
#define BLK_HDR_LEN 16
#define BLK_DISCARD_SEG_LEN 16
#define BLK_MAX_DISCARD_SECTORS 0x3fffffu /* per request: just under 2 GiB */

/* Feature bits (virtio 1.1 section 5.2.3). */
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_TOPOLOGY 10
#define VIRTIO_BLK_F_DISCARD 13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

/* Request types and status values. */
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_T_DISCARD 11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2
/* prepare(): the request goes to the backend (any other value: complete now with it). */
#define BLK_SUBMIT 0x100

/* Device configuration layout, little-endian (x86 host). */
struct blk_config {
	uint64_t capacity;            /* 512-byte sectors */
	uint32_t size_max;
	uint32_t seg_max;
	uint16_t cylinders;
	uint8_t heads, sectors;
	uint32_t blk_size;
	uint8_t physical_block_exp;
	uint8_t alignment_offset;
	uint16_t min_io_size;
	uint32_t opt_io_size;
	uint8_t writeback;
	uint8_t unused0[3];
	uint32_t max_discard_sectors;
	uint32_t max_discard_seg;
	uint32_t discard_sector_alignment;
	uint32_t max_write_zeroes_sectors;
	uint32_t max_write_zeroes_seg;
	uint8_t write_zeroes_may_unmap;
	uint8_t unused1[3];
} __attribute__((packed));

struct blk_softc;

struct blk_req {
	struct blockif_req br;
	struct blk_softc *sc;
	uint16_t head;
	uint8_t *status;          /* the status byte, in guest RAM */
	uint32_t written;         /* used.len to report on success */
	struct iovec iov[BLK_SEG_MAX];
};

struct blk_softc {
	struct virtio_softc vs;
	struct blockif_ctxt *bc;
	struct mevent *done_ev;
	struct blk_config cfg;
	char ident[BLK_ID_BYTES + 1]; /* GET_ID sends 20 bytes, NUL-padded */
	struct blk_req reqs[BLK_QUEUE_SIZE];
	struct blk_req *free[BLK_QUEUE_SIZE];
	unsigned nfree;
	unsigned inflight;
	bool stalled;             /* backend was full: resume after completions */
	uint64_t features;
	struct virtio_devops ops; /* per device: features depend on the backend */
};

/* ---- Chains -> request parts ------------------------------------------- */

/* Copy n bytes starting at byte "skip" of iov[0..cnt) into buf; false if short. */
static bool iov_copy_out(const struct iovec *iov, unsigned cnt, size_t skip, void *buf,
			 size_t n)
{
	uint8_t *p = buf;

	for (unsigned i = 0; i < cnt && n > 0; i++) {
		size_t len = iov[i].iov_len;

		if (skip >= len) {
			skip -= len;
			continue;
		}
		size_t take = len - skip < n ? len - skip : n;

		memcpy(p, (uint8_t *)iov[i].iov_base + skip, take);
		p += take;
		n -= take;
		skip = 0;
	}
	return n == 0;
}

/*
 * The bytes of iov[0..cnt) between "skip" from the start and "trim" from the
 * end, as a new iovec list (pointers into the same guest memory).
 * Returns the number of entries, or -1 if they do not fit in max.
 */
static int iov_slice(const struct iovec *iov, unsigned cnt, size_t skip, size_t len,
		     struct iovec *out, unsigned max)
{
	unsigned n = 0;

	for (unsigned i = 0; i < cnt && len > 0; i++) {
		size_t l = iov[i].iov_len;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		if (n == max)
			return -1;
		size_t take = l - skip < len ? l - skip : len;

		out[n].iov_base = (uint8_t *)iov[i].iov_base + skip;
		out[n].iov_len = take;
		n++;
		len -= take;
		skip = 0;
	}
	return (int)n;
}

/* The last writable byte is the status (the last iovec is never empty). */
static uint8_t *status_byte(const struct vq_chain *c)
{
	const struct iovec *last;

	if (c->writable_len == 0)
		return NULL;
	last = &c->iov[c->niov - 1];
	return (uint8_t *)last->iov_base + last->iov_len - 1;
}

/* ---- Completion ---------------------------------------------------------- */

static void finish(struct blk_softc *sc, struct blk_req *r, uint8_t status)
{
	*r->status = status;
	vq_push(virtio_vq(&sc->vs, 0), r->head, status == VIRTIO_BLK_S_OK ? r->written : 1);
}

static void put_req(struct blk_softc *sc, struct blk_req *r)
{
	sc->free[sc->nfree++] = r;
}

static void blk_done(struct blockif_req *br, int64_t result)
{
	struct blk_req *r = br->param;
	struct blk_softc *sc = r->sc;

	sc->inflight--;
	/* After a reset the queue is gone: the result has nowhere to go. */
	if (!sc->vs.reset_pending)
		finish(sc, r, result < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK);
	put_req(sc, r);
}

static void blk_process(struct blk_softc *sc);

static void on_completion(int fd, enum ev_type type, void *arg)
{
	struct blk_softc *sc = arg;

	virtio_lock(&sc->vs);
	blockif_complete(sc->bc);
	if (sc->vs.reset_pending) {
		if (sc->inflight == 0)
			virtio_reset_done(&sc->vs);
	} else {
		virtio_queue_done(&sc->vs, 0);
		if (sc->stalled) {
			sc->stalled = false;
			blk_process(sc);
		}
	}
	virtio_unlock(&sc->vs);
}

/* ---- Requests ------------------------------------------------------------- */

/* A sector range of len bytes must lie inside the disk and be block-aligned. */
static bool range_ok(const struct blk_softc *sc, uint64_t sector, uint64_t len)
{
	uint64_t size = blockif_size(sc->bc), off;
	uint32_t bs = blockif_sectsz(sc->bc);

	if (sector > size / BLK_SECTOR)
		return false;
	off = sector * BLK_SECTOR;
	return len <= size - off && off % bs == 0 && len % bs == 0;
}

static int prepare_rw(struct blk_softc *sc, struct blk_req *r, const struct vq_chain *c,
			  uint32_t type, uint64_t sector)
{
	bool in = type == VIRTIO_BLK_T_IN;
	/* IN: writable data then the status byte; OUT: readable data after the header. */
	uint64_t len = in ? c->writable_len - 1 : c->readable_len - BLK_HDR_LEN;
	int n = in ? iov_slice(c->iov + c->nreadable, c->niov - c->nreadable, 0, len, r->iov,
			       BLK_SEG_MAX)
		   : iov_slice(c->iov, c->nreadable, BLK_HDR_LEN, len, r->iov, BLK_SEG_MAX);

	if (n < 0 || !range_ok(sc, sector, len))
		return VIRTIO_BLK_S_IOERR;
	if (!in && blockif_is_ro(sc->bc))
		return VIRTIO_BLK_S_IOERR;
	r->br.op = in ? BLOCKIF_READ : BLOCKIF_WRITE;
	r->br.offset = sector * BLK_SECTOR;
	r->br.iov = r->iov;
	r->br.iovcnt = n;
	r->written = in ? (uint32_t)len + 1 : 1;
	return len == 0 ? VIRTIO_BLK_S_OK : BLK_SUBMIT; /* nothing to transfer: done */
}

/* DISCARD / WRITE_ZEROES: exactly one segment {sector, num_sectors, flags}. */
static int prepare_ranged(struct blk_softc *sc, struct blk_req *r, const struct vq_chain *c,
			      uint32_t type)
{
	uint8_t seg[BLK_DISCARD_SEG_LEN];
	uint64_t sector, len;
	uint32_t nsect, flags;

	if (!virtio_has_feature(&sc->vs, type == VIRTIO_BLK_T_DISCARD ? VIRTIO_BLK_F_DISCARD :
				VIRTIO_BLK_F_WRITE_ZEROES))
		return VIRTIO_BLK_S_UNSUPP;
	if (c->readable_len != BLK_HDR_LEN + BLK_DISCARD_SEG_LEN ||
	    !iov_copy_out(c->iov, c->nreadable, BLK_HDR_LEN, seg, sizeof(seg)))
		return VIRTIO_BLK_S_UNSUPP; /* more segments than max_*_seg */
	memcpy(&sector, seg, 8);
	memcpy(&nsect, seg + 8, 4);
	memcpy(&flags, seg + 12, 4);
	len = (uint64_t)nsect * BLK_SECTOR;
	/* Unknown flags, or unmap on a discard: "unsupported" (virtio 1.1 5.2.6.2). */
	if ((flags & ~1u) || (type == VIRTIO_BLK_T_DISCARD && flags))
		return VIRTIO_BLK_S_UNSUPP;
	if (nsect == 0 || !range_ok(sc, sector, len) || blockif_is_ro(sc->bc))
		return VIRTIO_BLK_S_IOERR;
	r->br.op = type == VIRTIO_BLK_T_DISCARD ? BLOCKIF_DISCARD : BLOCKIF_WRITE_ZEROES;
	r->br.offset = sector * BLK_SECTOR;
	r->br.len = len;
	r->br.unmap = flags & 1;
	r->written = 1;
	return BLK_SUBMIT;
}

static int get_id(struct blk_softc *sc, struct blk_req *r, const struct vq_chain *c)
{
	size_t room = c->writable_len - 1;
	size_t n = room < BLK_ID_BYTES ? room : BLK_ID_BYTES;
	struct iovec out[BLK_SEG_MAX];
	int cnt = iov_slice(c->iov + c->nreadable, c->niov - c->nreadable, 0, n, out, BLK_SEG_MAX);
	size_t done = 0;

	for (int i = 0; i < cnt; i++) {
		memcpy(out[i].iov_base, sc->ident + done, out[i].iov_len);
		done += out[i].iov_len;
	}
	r->written = (uint32_t)n + 1;
	return VIRTIO_BLK_S_OK;
}

/*
 * Turn a chain into a request. Returns a status to complete with at once,
 * or BLK_SUBMIT when r->br is ready for the backend.
 */
static int prepare(struct blk_softc *sc, struct blk_req *r, const struct vq_chain *c)
{
	uint8_t hdr[BLK_HDR_LEN];
	uint32_t type;
	uint64_t sector;

	if (!iov_copy_out(c->iov, c->nreadable, 0, hdr, sizeof(hdr)))
		return VIRTIO_BLK_S_IOERR;
	memcpy(&type, hdr, 4);
	memcpy(&sector, hdr + 8, 8);
	r->written = 1;
	switch (type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		return prepare_rw(sc, r, c, type, sector);
	case VIRTIO_BLK_T_FLUSH:
		r->br.op = BLOCKIF_FLUSH;
		return BLK_SUBMIT;
	case VIRTIO_BLK_T_GET_ID:
		return get_id(sc, r, c);
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		return prepare_ranged(sc, r, c, type);
	default:
		return VIRTIO_BLK_S_UNSUPP;
	}
}

/* One chain: true if handled (completed or submitted), false if the backend is full. */
static bool handle_chain(struct blk_softc *sc, struct blk_req *r, const struct vq_chain *c)
{
	int st, rc;

	r->head = c->head;
	r->status = status_byte(c);
	if (r->status == NULL) { /* nowhere to say how it went: the chain is malformed */
		virtio_needs_reset(&sc->vs);
		return true;
	}
	st = prepare(sc, r, c);
	if (st != BLK_SUBMIT) {
		finish(sc, r, (uint8_t)st);
		return true;
	}
	rc = blockif_submit(sc->bc, &r->br);
	if (rc == -EAGAIN)
		return false;
	if (rc < 0) {
		finish(sc, r, rc == -EOPNOTSUPP ? VIRTIO_BLK_S_UNSUPP : VIRTIO_BLK_S_IOERR);
		return true;
	}
	sc->nfree--;
	sc->inflight++;
	return true;
}

/* Submit what the driver made available, until the ring is empty or we are stalled. */
static void submit_available(struct blk_softc *sc)
{
	struct virtqueue *vq = virtio_vq(&sc->vs, 0);
	struct vq_chain *c = sc->vs.chain;
	int rc = 0;

	do {
		vq_disable_notify(vq);
		while (sc->nfree > 0 && (rc = vq_pop(vq, c)) > 0) {
			if (!handle_chain(sc, sc->free[sc->nfree - 1], c)) {
				vq_unpop(vq);
				sc->stalled = true;
				break;
			}
		}
		if (rc < 0 || sc->vs.status & VIRTIO_STATUS_NEEDS_RESET) {
			virtio_needs_reset(&sc->vs);
			break;
		}
		if (sc->nfree == 0)
			sc->stalled = true;
	} while (!sc->stalled && vq_enable_notify(vq));
	blockif_kick(sc->bc);
}

/*
 * Reads the page cache can serve complete while they are submitted: collect
 * them in this same wakeup, under the same interrupt, instead of on the next
 * turn of the event loop. Completions that free room for a stalled queue
 * let it go on.
 */
static void blk_process(struct blk_softc *sc)
{
	for (;;) {
		submit_available(sc);
		if (sc->inflight == 0 || blockif_complete(sc->bc) == 0 || !sc->stalled ||
		    (sc->vs.status & VIRTIO_STATUS_NEEDS_RESET))
			break;
		sc->stalled = false;
	}
	virtio_queue_done(&sc->vs, 0);
}

static void blk_notify(struct virtio_softc *vs, int q)
{
	blk_process((struct blk_softc *)vs);
}

static bool blk_reset(struct virtio_softc *vs)
{
	struct blk_softc *sc = (struct blk_softc *)vs;

	sc->stalled = false;
	return sc->inflight == 0;
}

/* ---- Set-up ----------------------------------------------------------------- */

/* bhyve-style default serial when ser= is not given: stable per image path. */
static void default_ident(struct blk_softc *sc, const char *path)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	for (const char *p = path; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ull;
	snprintf(sc->ident, sizeof(sc->ident), "KHYVE-%04X-%04X-%04X", (unsigned)(h >> 48),
		 (unsigned)(h >> 32) & 0xffff, (unsigned)(h >> 16) & 0xffff);
}

static void fill_config(struct blk_softc *sc)
{
	uint32_t bs = blockif_sectsz(sc->bc), pbs = blockif_psectsz(sc->bc);

	sc->cfg.capacity = blockif_size(sc->bc) / BLK_SECTOR;
	sc->cfg.seg_max = BLK_SEG_MAX;
	sc->cfg.blk_size = bs;
	sc->cfg.physical_block_exp = (uint8_t)(__builtin_ctz(pbs) - __builtin_ctz(bs));
	sc->cfg.min_io_size = 1;
	sc->cfg.max_discard_sectors = BLK_MAX_DISCARD_SECTORS;
	sc->cfg.max_discard_seg = 1;
	sc->cfg.discard_sector_alignment = bs / BLK_SECTOR;
	sc->cfg.max_write_zeroes_sectors = BLK_MAX_DISCARD_SECTORS;
	sc->cfg.max_write_zeroes_seg = 1;
	sc->cfg.write_zeroes_may_unmap = blockif_candelete(sc->bc);
}

static uint64_t blk_features(const struct blockif_ctxt *bc)
{
	uint64_t f = 1ull << VIRTIO_BLK_F_SEG_MAX | 1ull << VIRTIO_BLK_F_BLK_SIZE |
		     1ull << VIRTIO_BLK_F_FLUSH | 1ull << VIRTIO_BLK_F_TOPOLOGY;

	if (blockif_is_ro(bc))
		return f | 1ull << VIRTIO_BLK_F_RO;
	f |= 1ull << VIRTIO_BLK_F_WRITE_ZEROES;
	if (blockif_candelete(bc))
		f |= 1ull << VIRTIO_BLK_F_DISCARD;
	return f;
}

static int blk_init(struct pci_devinst *pi, const struct cfg_node *node)
{
	struct blk_softc *sc = calloc(1, sizeof(*sc));
	const char *ser = get_config_value_node(node, "ser");

	if (sc == NULL)
		return -1;
	sc->bc = blockif_open(node, pi->ident);
	if (sc->bc == NULL)
		return -1;
	/*
	 * QEMU's path for virtio-blk-pci (a SCSI-class function there): SeaBIOS
	 * matches its slot, OVMF's QemuBootOrderLib (TranslatePciOfwNodes) knows
	 * "scsi@S/disk@0,0" as a virtio-blk disk, Pci(S,F).
	 */
	if (pci_add_boot_device(pi, node, "scsi", "/disk@0,0", pi->ident) < 0)
		return -1;
	if (ser != NULL)
		memcpy(sc->ident, ser, strnlen(ser, BLK_ID_BYTES)); /* longer ones are cut */
	else
		default_ident(sc, get_config_value_node(node, "path"));
	for (unsigned i = 0; i < BLK_QUEUE_SIZE; i++) {
		sc->reqs[i].sc = sc;
		sc->reqs[i].br.param = &sc->reqs[i];
		sc->reqs[i].br.done = blk_done;
		sc->free[sc->nfree++] = &sc->reqs[i];
	}
	fill_config(sc);
	sc->ops = (struct virtio_devops){
		.name = "virtio-blk",
		.device_id = VIRTIO_ID_BLOCK,
		.pci_class = 0x01, /* mass storage, "other" */
		.pci_subclass = 0x80,
		.nqueues = 1,
		.queue_size = BLK_QUEUE_SIZE,
		.features = blk_features(sc->bc),
		.reset = blk_reset,
		.notify = blk_notify,
	};
	sc->done_ev = mevent_add(blockif_event_fd(sc->bc), EVF_READ, on_completion, sc);
	if (sc->done_ev == NULL) {
		fprintf(stderr, "khyve: %s: cannot watch I/O completions\n", pi->ident);
		return -1;
	}
	return virtio_pci_init(pi, node, &sc->vs, &sc->ops, &sc->cfg, sizeof(sc->cfg));
}

static const struct pci_devemu blk_emu = {
	.name = "virtio-blk",
	.init = blk_init,
	VIRTIO_PCI_HOOKS,
};
PCI_EMUL_SET(blk_emu);
