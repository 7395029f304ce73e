/*
 * Block backends for guest disks (virtio-blk now, AHCI later): a regular
 * file, a block device (loop, zvol, partition...) -- anything that opens as
 * one -- driven asynchronously through io_uring (liburing).
 *
 * Model: the device submits requests from its I/O thread; they are queued as
 * SQEs and sent to the kernel in one io_uring_submit() per batch
 * (blockif_kick). Completions are signalled on an eventfd the device watches
 * (blockif_event_fd); blockif_complete() reaps every finished request and
 * calls each one's done() callback on the calling thread -- so one wakeup can
 * complete many requests and the device raises one interrupt for them.
 * No locks inside: calls for one backend come from one thread at a time
 * (virtio-blk: the main thread; AHCI: vCPU and main threads under its
 * controller lock).
 *
 * Options (bhyve's block_if, keys of the device's config node):
 *   path=FILE         required
 *   ro                read-only (guest writes fail); file opened O_RDONLY
 *   nocache           O_DIRECT
 *   direct            O_SYNC (bhyve's name; "sync" accepted as an alias)
 *   sectorsize=L[/P]  logical / physical sector size (512..32768, powers of
 *                     two, P >= L); default 512, or the block device's own
 *   nodelete          do not offer discard; "discard" forces it on (the
 *                     default is on when the backend can punch holes),
 *                     "discard=false" turns it off; nodelete wins. Never on
 *                     read-only backends.
 * A block device that is read-only (BLKROGET, or refusing a read-write open)
 * is used read-only, as bhyve does.
 * Locking: the image is locked (OFD lock on the whole file: write lock, or
 * read lock for ro) so two VMs cannot open it read-write; a locked image is
 * refused with an error naming the path.
 */
#ifndef KHYVE_BLOCK_IF_H
#define KHYVE_BLOCK_IF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct cfg_node;
struct blockif_ctxt;

enum blockif_op {
	BLOCKIF_READ,
	BLOCKIF_WRITE,
	BLOCKIF_FLUSH,        /* fdatasync: completes after data is durable */
	BLOCKIF_DISCARD,      /* punch a hole (file) / discard (block device) */
	BLOCKIF_WRITE_ZEROES, /* range reads back as zeroes afterwards */
};

struct blockif_req {
	enum blockif_op op;
	uint64_t offset;          /* bytes */
	/* READ/WRITE: the buffers (guest memory, already validated by the caller). */
	struct iovec *iov;
	int iovcnt;
	/* DISCARD/WRITE_ZEROES: length in bytes. WRITE_ZEROES: may unmap (punch). */
	uint64_t len;
	bool unmap;
	/*
	 * Called from blockif_complete() (or blockif_close()), never from
	 * blockif_submit(): result = bytes transferred (READ/WRITE), 0 for
	 * other ops, or -errno. A short read/write is retried internally until
	 * complete or an error. The caller checks ranges against blockif_size()
	 * before submitting (blockif_submit() refuses them with -EINVAL too).
	 * The iov array and req must stay valid until done() is called; the
	 * array itself is never modified.
	 */
	void (*done)(struct blockif_req *req, int64_t result);
	void *param;
	/* Private to block_if.c. */
	uint64_t _done_bytes;
};

/*
 * Open the backend described by "node" (keys above); "ident" names the device
 * in error messages ("pci 0:4:0 virtio-blk"). On failure prints one line to
 * stderr (missing file, permission, locked by another process, bad option)
 * and returns NULL; the image is never modified by a failed open.
 */
struct blockif_ctxt *blockif_open(const struct cfg_node *node, const char *ident);
void blockif_close(struct blockif_ctxt *bc); /* waits for in-flight requests */

uint64_t blockif_size(const struct blockif_ctxt *bc);      /* bytes, multiple of sectsz */
uint32_t blockif_sectsz(const struct blockif_ctxt *bc);    /* logical sector size */
uint32_t blockif_psectsz(const struct blockif_ctxt *bc);   /* physical sector size */
bool blockif_is_ro(const struct blockif_ctxt *bc);
bool blockif_candelete(const struct blockif_ctxt *bc);
/* Room for more requests right now (in-flight below the ring's depth). */
bool blockif_can_submit(const struct blockif_ctxt *bc);
unsigned blockif_queue_depth(const struct blockif_ctxt *bc);

/*
 * Queue one request. 0: queued (done() called later); -EAGAIN: no room,
 * nothing queued (retry after completions); otherwise done() is NOT called
 * and the caller reports the error itself: -EROFS (write, discard or
 * write-zeroes on a read-only backend), -EOPNOTSUPP (discard when
 * !blockif_candelete()), -EINVAL (range beyond blockif_size(), zero-length
 * discard/write-zeroes, bad op or iovcnt), -ENOMEM (no bounce buffer for an
 * unaligned nocache request). With nocache, buffers not aligned for O_DIRECT
 * are moved through an aligned bounce buffer.
 */
int blockif_submit(struct blockif_ctxt *bc, struct blockif_req *req);
/* Send every queued request to the kernel (one syscall for the batch). */
void blockif_kick(struct blockif_ctxt *bc);

/* eventfd that becomes readable when requests complete (for the event loop). */
int blockif_event_fd(const struct blockif_ctxt *bc);
/* Reap finished requests, calling done() for each; returns how many. Non-blocking. */
int blockif_complete(struct blockif_ctxt *bc);

#endif
