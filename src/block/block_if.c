/*
 * Block backends over io_uring (see block_if.h for the model and options).
 *
 * Every submitted request owns a slot of a per-backend array sized to the
 * ring's depth; the slot is the SQE's user_data and holds what a request
 * needs beyond the caller's struct: where its transfer stands after a short
 * read/write, and the bounce buffer of an unaligned O_DIRECT request. Slots
 * come from a free stack, so the common submit/complete path neither
 * allocates nor locks. Since at most "depth" requests exist at once and each
 * has at most one SQE queued or in flight, the SQ never fills up and the CQ
 * (twice the SQ) never overflows.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <liburing.h>

#include "block/block_if.h"
#include "core/config.h"

#define BLOCKIF_DEPTH     128
#define BLOCKIF_MIN_SECT  512
#define BLOCKIF_MAX_SECT  32768
#define BLOCKIF_SUBMIT_RETRIES 100

struct blockif_slot {
	struct blockif_req *req;
	uint64_t total;         /* READ/WRITE: bytes the request moves */
	/* What the next SQE transfers: req->iov, a private copy, or &biov. */
	struct iovec *iov;
	int iovcnt;
	struct iovec *copy;     /* malloc'ed after a short transfer */
	void *bounce;           /* aligned buffer of an unaligned O_DIRECT request */
	struct iovec biov;      /* the part of the bounce buffer still to move */
};

struct blockif_ctxt {
	struct io_uring ring;
	int fd;
	int sqe_fd;             /* index 0 when the file is registered, else fd */
	uint8_t sqe_flags;      /* IOSQE_FIXED_FILE when registered */
	int efd;
	uint64_t size;
	uint32_t sectsz, psectsz;
	uint32_t dio_align;     /* O_DIRECT buffer alignment (nocache only) */
	bool ro, candelete, nocache;
	unsigned depth;
	unsigned nfree;
	unsigned free_stack[BLOCKIF_DEPTH];
	struct blockif_slot slots[BLOCKIF_DEPTH];
};

/*
 * Source of the WRITE_ZEROES fallback. Aligned so that it also serves
 * O_DIRECT backends (their alignment is at most a page in practice).
 */
static const char zero_buf[64 * 1024] __attribute__((aligned(4096)));

static void __attribute__((format(printf, 2, 3)))
bi_err(const char *ident, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "khyve: %s: ", ident);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- options ------------------------------------------------------------ */

struct blockif_opts {
	const char *path;
	bool ro, nocache, sync, nodelete, discard;
	uint32_t sectsz, psectsz;       /* 0: not given */
};

/*
 * A flag: bare options arrive as "true". Parsed here rather than with
 * get_config_bool_node_default() so that a bad value fails the open with
 * the device named instead of exiting.
 */
static int opt_bool(const struct cfg_node *node, const char *ident, const char *name,
    bool def, bool *out)
{
	const char *v = get_config_value_node(node, name);

	*out = def;
	if (v == NULL)
		return 0;
	if (config_parse_bool(v, out) != 0) {
		bi_err(ident, "%s: '%s' is not a boolean", name, v);
		return -1;
	}
	return 0;
}

static bool valid_sectsz(unsigned long v)
{
	return v >= BLOCKIF_MIN_SECT && v <= BLOCKIF_MAX_SECT && (v & (v - 1)) == 0;
}

/* Parse one decimal sector size; *end is where it stopped. */
static int parse_sect(const char *s, char **end, uint32_t *out)
{
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, end, 10);
	if (errno != 0 || !valid_sectsz(v))
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* sectorsize=L or L/P: powers of two in 512..32768, P >= L. */
static int parse_sectorsize(const char *s, uint32_t *l, uint32_t *p)
{
	char *end;

	if (parse_sect(s, &end, l) != 0)
		return -1;
	*p = *l;
	if (*end == '/' && parse_sect(end + 1, &end, p) != 0)
		return -1;
	if (*end != '\0' || *p < *l)
		return -1;
	return 0;
}

static int read_opts(const struct cfg_node *node, const char *ident, struct blockif_opts *o)
{
	const char *ss;
	bool direct, sync_alias;

	memset(o, 0, sizeof(*o));
	o->path = get_config_value_node(node, "path");
	if (o->path == NULL || o->path[0] == '\0') {
		bi_err(ident, "path is required");
		return -1;
	}
	if (opt_bool(node, ident, "ro", false, &o->ro) != 0 ||
	    opt_bool(node, ident, "nocache", false, &o->nocache) != 0 ||
	    opt_bool(node, ident, "direct", false, &direct) != 0 ||
	    opt_bool(node, ident, "sync", false, &sync_alias) != 0 ||
	    opt_bool(node, ident, "nodelete", false, &o->nodelete) != 0 ||
	    opt_bool(node, ident, "discard", true, &o->discard) != 0)
		return -1;
	o->sync = direct || sync_alias;
	ss = get_config_value_node(node, "sectorsize");
	if (ss != NULL && parse_sectorsize(ss, &o->sectsz, &o->psectsz) != 0) {
		bi_err(ident, "sectorsize: '%s' is invalid (want L or L/P, powers of two "
		    "from %d to %d, P >= L)", ss, BLOCKIF_MIN_SECT, BLOCKIF_MAX_SECT);
		return -1;
	}
	return 0;
}

/* ---- opening ------------------------------------------------------------ */

static int open_image(const struct blockif_opts *o, const char *ident, bool *ro)
{
	struct stat st;
	int flags, fd;

	/*
	 * O_NONBLOCK: opening a FIFO by mistake must not hang; it is cleared
	 * again once the type is known (io_uring would return -EAGAIN to us
	 * instead of waiting for a nonblocking file).
	 */
	flags = O_CLOEXEC | O_NONBLOCK | (o->nocache ? O_DIRECT : 0) | (o->sync ? O_SYNC : 0);
	fd = open(o->path, flags | (*ro ? O_RDONLY : O_RDWR));
	/* Like bhyve: a block device that refuses writes is used read-only. */
	if (fd < 0 && !*ro && (errno == EROFS || errno == EACCES) &&
	    stat(o->path, &st) == 0 && S_ISBLK(st.st_mode)) {
		fd = open(o->path, flags | O_RDONLY);
		*ro = fd >= 0;
	}
	if (fd < 0) {
		if (errno == EINVAL && o->nocache)
			bi_err(ident, "%s: nocache (O_DIRECT) is not supported by its file system",
			    o->path);
		else
			bi_err(ident, "%s: %s", o->path, strerror(errno));
	}
	return fd;
}

static int lock_image(int fd, bool ro, const char *path, const char *ident)
{
	struct flock fl = {
		.l_type = ro ? F_RDLCK : F_WRLCK,
		.l_whence = SEEK_SET,
		.l_start = 0,
		.l_len = 0,     /* to the end, however the file grows */
	};

	if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
		return 0;
	if (errno == EAGAIN || errno == EACCES) {
		bi_err(ident, "%s: in use by another process (locked)", path);
		return -1;
	}
	/* Some file systems (old NFS...) cannot lock: usable, but say so. */
	bi_err(ident, "%s: warning: cannot lock: %s", path, strerror(errno));
	return 0;
}

static int setup_blockdev(struct blockif_ctxt *bc, const struct blockif_opts *o,
    const char *ident)
{
	uint64_t size;
	int dev_ro = 0, lsz = 0, psz = 0;

	if (ioctl(bc->fd, BLKGETSIZE64, &size) != 0 || ioctl(bc->fd, BLKSSZGET, &lsz) != 0) {
		bi_err(ident, "%s: cannot get the device's size: %s", o->path, strerror(errno));
		return -1;
	}
	if (ioctl(bc->fd, BLKPBSZGET, &psz) != 0 || psz < lsz)
		psz = lsz;
	if (ioctl(bc->fd, BLKROGET, &dev_ro) == 0 && dev_ro)
		bc->ro = true;
	if (lsz < BLOCKIF_MIN_SECT)
		lsz = BLOCKIF_MIN_SECT;
	bc->dio_align = (uint32_t)lsz;
	if (o->sectsz == 0) {
		bc->sectsz = valid_sectsz((unsigned)lsz) ? (uint32_t)lsz : BLOCKIF_MIN_SECT;
		bc->psectsz = valid_sectsz((unsigned)psz) && (uint32_t)psz >= bc->sectsz ?
		    (uint32_t)psz : bc->sectsz;
	} else if (o->sectsz % (uint32_t)lsz != 0) {
		/* Guest sectors must map onto whole device sectors. */
		bi_err(ident, "%s: sectorsize %u is not a multiple of the device's %d",
		    o->path, o->sectsz, lsz);
		return -1;
	}
	bc->size = size;
	return 0;
}

static void setup_file(struct blockif_ctxt *bc, const struct stat *st)
{
	struct statx stx;

	bc->size = (uint64_t)st->st_size;
	bc->dio_align = BLOCKIF_MIN_SECT;
	if (bc->nocache && statx(bc->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
	    (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_mem_align > BLOCKIF_MIN_SECT)
		bc->dio_align = stx.stx_dio_mem_align;
}

static int setup_ring(struct blockif_ctxt *bc, const char *ident)
{
	int err;

	err = io_uring_queue_init(BLOCKIF_DEPTH, &bc->ring, 0);
	if (err < 0) {
		bi_err(ident, "io_uring: %s", strerror(-err));
		return -1;
	}
	bc->depth = BLOCKIF_DEPTH;
	bc->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (bc->efd < 0 || (err = io_uring_register_eventfd(&bc->ring, bc->efd)) < 0) {
		bi_err(ident, "io_uring eventfd: %s", strerror(bc->efd < 0 ? errno : -err));
		if (bc->efd >= 0)
			close(bc->efd);
		io_uring_queue_exit(&bc->ring);
		return -1;
	}
	/* A registered file saves a file reference per request; optional. */
	bc->sqe_fd = bc->fd;
	if (io_uring_register_files(&bc->ring, &bc->fd, 1) == 0) {
		bc->sqe_fd = 0;
		bc->sqe_flags = IOSQE_FIXED_FILE;
	}
	return 0;
}

static int setup_backend(struct blockif_ctxt *bc, const struct blockif_opts *o,
    const char *ident)
{
	struct stat st;
	int fl;

	if (fstat(bc->fd, &st) != 0) {
		bi_err(ident, "%s: %s", o->path, strerror(errno));
		return -1;
	}
	if (S_ISDIR(st.st_mode)) {
		bi_err(ident, "%s: %s", o->path, strerror(EISDIR));
		return -1;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		bi_err(ident, "%s: not a regular file or a block device", o->path);
		return -1;
	}
	fl = fcntl(bc->fd, F_GETFL);
	if (fl < 0 || fcntl(bc->fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
		bi_err(ident, "%s: %s", o->path, strerror(errno));
		return -1;
	}
	bc->sectsz = o->sectsz ? o->sectsz : BLOCKIF_MIN_SECT;
	bc->psectsz = o->sectsz ? o->psectsz : BLOCKIF_MIN_SECT;
	if (S_ISBLK(st.st_mode)) {
		if (setup_blockdev(bc, o, ident) != 0)
			return -1;
	} else
		setup_file(bc, &st);
	if (o->sectsz != 0) {
		bc->sectsz = o->sectsz;
		bc->psectsz = o->psectsz;
	}
	bc->size -= bc->size % bc->sectsz;
	/*
	 * Both regular files (fallocate PUNCH_HOLE) and block devices (the
	 * same call discards) can delete; a file system that cannot fails
	 * the request with EOPNOTSUPP.
	 */
	bc->candelete = o->discard && !o->nodelete && !bc->ro;
	return lock_image(bc->fd, bc->ro, o->path, ident);
}

struct blockif_ctxt *blockif_open(const struct cfg_node *node, const char *ident)
{
	struct blockif_opts o;
	struct blockif_ctxt *bc;
	unsigned i;

	if (read_opts(node, ident, &o) != 0)
		return NULL;
	bc = calloc(1, sizeof(*bc));
	if (bc == NULL) {
		bi_err(ident, "%s", strerror(ENOMEM));
		return NULL;
	}
	bc->ro = o.ro;
	bc->nocache = o.nocache;
	bc->fd = open_image(&o, ident, &bc->ro);
	if (bc->fd < 0)
		goto fail;
	if (setup_backend(bc, &o, ident) != 0 || setup_ring(bc, ident) != 0) {
		close(bc->fd);  /* drops the lock, if taken */
		goto fail;
	}
	for (i = 0; i < bc->depth; i++)
		bc->free_stack[i] = bc->depth - 1 - i;
	bc->nfree = bc->depth;
	return bc;
fail:
	free(bc);
	return NULL;
}

/* ---- accessors ---------------------------------------------------------- */

uint64_t blockif_size(const struct blockif_ctxt *bc)
{
	return bc->size;
}

uint32_t blockif_sectsz(const struct blockif_ctxt *bc)
{
	return bc->sectsz;
}

uint32_t blockif_psectsz(const struct blockif_ctxt *bc)
{
	return bc->psectsz;
}

bool blockif_is_ro(const struct blockif_ctxt *bc)
{
	return bc->ro;
}

bool blockif_candelete(const struct blockif_ctxt *bc)
{
	return bc->candelete;
}

bool blockif_can_submit(const struct blockif_ctxt *bc)
{
	return bc->nfree > 0;
}

unsigned blockif_queue_depth(const struct blockif_ctxt *bc)
{
	return bc->depth;
}

int blockif_event_fd(const struct blockif_ctxt *bc)
{
	return bc->efd;
}

/* ---- submission --------------------------------------------------------- */

static bool is_rw(enum blockif_op op)
{
	return op == BLOCKIF_READ || op == BLOCKIF_WRITE;
}

/* Errors that need no I/O to know; *total = bytes of a READ/WRITE. */
static int check_req(const struct blockif_ctxt *bc, const struct blockif_req *req,
    uint64_t *total)
{
	uint64_t len = 0;
	int i;

	switch (req->op) {
	case BLOCKIF_READ:
	case BLOCKIF_WRITE:
		if (req->iovcnt < 0 || req->iovcnt > IOV_MAX ||
		    (req->iovcnt > 0 && req->iov == NULL))
			return -EINVAL;
		for (i = 0; i < req->iovcnt; i++) {
			if (req->iov[i].iov_len > bc->size - len)
				return -EINVAL;
			len += req->iov[i].iov_len;
		}
		break;
	case BLOCKIF_DISCARD:
		if (!bc->candelete)
			return bc->ro ? -EROFS : -EOPNOTSUPP;
		/* fall through */
	case BLOCKIF_WRITE_ZEROES:
		len = req->len;
		if (len == 0)
			return -EINVAL; /* fallocate would say so too */
		break;
	case BLOCKIF_FLUSH:
		return 0;
	default:
		return -EINVAL;
	}
	if (bc->ro && req->op != BLOCKIF_READ)
		return -EROFS;
	if (len > bc->size || req->offset > bc->size - len)
		return -EINVAL;
	*total = len;
	return 0;
}

static bool iov_aligned(const struct iovec *iov, int cnt, uint32_t align)
{
	int i;

	for (i = 0; i < cnt; i++)
		if (((uintptr_t)iov[i].iov_base | iov[i].iov_len) & (align - 1))
			return false;
	return true;
}

/*
 * O_DIRECT needs aligned buffers; guest buffers need not be. Move the
 * request through an aligned copy instead (rare: guests align their I/O).
 */
static int bounce_setup(struct blockif_ctxt *bc, struct blockif_slot *s)
{
	const struct blockif_req *req = s->req;
	size_t align = bc->dio_align < 4096 ? 4096 : bc->dio_align;
	char *p;
	int i;

	if (posix_memalign(&s->bounce, align, s->total ? s->total : align) != 0)
		return -ENOMEM;
	if (req->op == BLOCKIF_WRITE)
		for (i = 0, p = s->bounce; i < req->iovcnt; p += req->iov[i].iov_len, i++)
			memcpy(p, req->iov[i].iov_base, req->iov[i].iov_len);
	s->biov.iov_base = s->bounce;
	s->biov.iov_len = s->total;
	s->iov = &s->biov;
	s->iovcnt = 1;
	return 0;
}

static void bounce_copy_out(const struct blockif_slot *s)
{
	const struct blockif_req *req = s->req;
	const char *p = s->bounce;
	int i;

	for (i = 0; i < req->iovcnt; p += req->iov[i].iov_len, i++)
		memcpy(req->iov[i].iov_base, p, req->iov[i].iov_len);
}

/* Queue the slot's (next) SQE. There is always room: see the top comment. */
static void prep_sqe(struct blockif_ctxt *bc, struct blockif_slot *s)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&bc->ring);
	const struct blockif_req *req = s->req;
	int mode;

	switch (req->op) {
	case BLOCKIF_READ:
		io_uring_prep_readv(sqe, bc->sqe_fd, s->iov, (unsigned)s->iovcnt,
		    req->offset + req->_done_bytes);
		break;
	case BLOCKIF_WRITE:
		io_uring_prep_writev(sqe, bc->sqe_fd, s->iov, (unsigned)s->iovcnt,
		    req->offset + req->_done_bytes);
		break;
	case BLOCKIF_FLUSH:
		/* DRAIN: start only after every earlier request (writes) finished. */
		io_uring_prep_fsync(sqe, bc->sqe_fd, IORING_FSYNC_DATASYNC);
		sqe->flags |= IOSQE_IO_DRAIN;
		break;
	case BLOCKIF_DISCARD:
	case BLOCKIF_WRITE_ZEROES:
		/* KEEP_SIZE: never grow a file; block devices insist on it. */
		if (req->op == BLOCKIF_DISCARD || (req->unmap && bc->candelete))
			mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
		else
			mode = FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
		io_uring_prep_fallocate(sqe, bc->sqe_fd, mode, req->offset, req->len);
		break;
	}
	sqe->flags |= bc->sqe_flags;
	io_uring_sqe_set_data(sqe, s);
}

int blockif_submit(struct blockif_ctxt *bc, struct blockif_req *req)
{
	struct blockif_slot *s;
	uint64_t total = 0;
	int err;

	err = check_req(bc, req, &total);
	if (err != 0)
		return err;
	if (bc->nfree == 0)
		return -EAGAIN;
	s = &bc->slots[bc->free_stack[--bc->nfree]];
	s->req = req;
	s->total = total;
	s->iov = req->iov;
	s->iovcnt = req->iovcnt;
	req->_done_bytes = 0;
	if (bc->nocache && is_rw(req->op) &&
	    !iov_aligned(req->iov, req->iovcnt, bc->dio_align) &&
	    bounce_setup(bc, s) != 0) {
		bc->nfree++;
		return -ENOMEM;
	}
	prep_sqe(bc, s);
	return 0;
}

/* Hand the queued SQEs to the kernel. */
static void submit_queued(struct blockif_ctxt *bc)
{
	int retries = 0, n;

	while (io_uring_sq_ready(&bc->ring) > 0) {
		n = io_uring_submit(&bc->ring);
		if (n > 0 || n == -EINTR)
			continue;
		/* EAGAIN/ENOMEM: the kernel is short of memory; try a little. */
		if ((n == -EAGAIN || n == -ENOMEM) && ++retries < BLOCKIF_SUBMIT_RETRIES)
			continue;
		/* Left queued: the next kick or completion sends them. */
		fprintf(stderr, "khyve: block: io_uring_submit: %s\n",
		    n < 0 ? strerror(-n) : "nothing submitted");
		break;
	}
}

void blockif_kick(struct blockif_ctxt *bc)
{
	submit_queued(bc);
}

/* ---- completion --------------------------------------------------------- */

/* WRITE_ZEROES where the file system cannot zero a range: write zeroes. */
static int write_zeroes_sync(struct blockif_ctxt *bc, uint64_t off, uint64_t len)
{
	ssize_t n;

	while (len > 0) {
		n = pwrite(bc->fd, zero_buf, len < sizeof(zero_buf) ? len : sizeof(zero_buf),
		    (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return 0;
}

/*
 * A short transfer moved n more bytes: point the slot at the rest. The
 * caller's iovec array is never modified: the first time, the slot takes a
 * private copy (the bounce iovec is private already).
 */
static int advance_iov(struct blockif_slot *s, size_t n)
{
	struct iovec *iov;

	if (s->iov == s->req->iov) {
		s->copy = malloc(sizeof(*s->copy) * (size_t)s->iovcnt);
		if (s->copy == NULL)
			return -ENOMEM;
		memcpy(s->copy, s->iov, sizeof(*s->copy) * (size_t)s->iovcnt);
		s->iov = s->copy;
	}
	iov = s->iov;
	while (s->iovcnt > 0 && n >= iov->iov_len) {
		n -= iov->iov_len;
		iov++;
		s->iovcnt--;
	}
	if (s->iovcnt > 0) {
		iov->iov_base = (char *)iov->iov_base + n;
		iov->iov_len -= n;
	}
	s->iov = iov;
	return 0;
}

/* Result of a READ/WRITE CQE: 1 = resubmitted, else the final result in *res. */
static int rw_progress(struct blockif_ctxt *bc, struct blockif_slot *s, int64_t *res)
{
	struct blockif_req *req = s->req;
	int err;

	if (*res == -EAGAIN || *res == -EINTR) {
		prep_sqe(bc, s);
		return 1;
	}
	if (*res < 0)
		return 0;
	req->_done_bytes += (uint64_t)*res;
	if (req->_done_bytes >= s->total) {
		if (s->bounce != NULL && req->op == BLOCKIF_READ)
			bounce_copy_out(s);
		*res = (int64_t)req->_done_bytes;
		return 0;
	}
	if (*res == 0) {
		/* End of file inside the disk: the image shrank under us. */
		*res = -EIO;
		return 0;
	}
	err = advance_iov(s, (size_t)*res);
	if (err != 0) {
		*res = err;
		return 0;
	}
	prep_sqe(bc, s);
	return 1;
}

/* One CQE of slot s: true if the request went back to the ring. */
static bool handle_cqe(struct blockif_ctxt *bc, struct blockif_slot *s, int64_t res)
{
	struct blockif_req *req = s->req;

	if (is_rw(req->op)) {
		if (rw_progress(bc, s, &res))
			return true;
	} else if (req->op == BLOCKIF_WRITE_ZEROES && res == -EOPNOTSUPP)
		res = write_zeroes_sync(bc, req->offset, req->len);
	free(s->copy);
	free(s->bounce);
	s->copy = NULL;
	s->bounce = NULL;
	s->req = NULL;
	/* Free the slot first: done() may submit the next request. */
	bc->free_stack[bc->nfree++] = (unsigned)(s - bc->slots);
	req->done(req, res);
	return false;
}

int blockif_complete(struct blockif_ctxt *bc)
{
	struct io_uring_cqe *cqe;
	struct blockif_slot *s;
	uint64_t cnt;
	bool resubmit = false;
	int n = 0, res;

	/* Clear first: a CQE posted after this read signals the eventfd again. */
	if (read(bc->efd, &cnt, sizeof(cnt)) < 0) {
		/* EAGAIN: nothing signalled, but reaping is harmless */
	}
	/* One CQE at a time, so that a done() calling back in is safe. */
	while (io_uring_peek_cqe(&bc->ring, &cqe) == 0) {
		s = io_uring_cqe_get_data(cqe);
		res = cqe->res;
		io_uring_cqe_seen(&bc->ring, cqe);
		if (handle_cqe(bc, s, res))
			resubmit = true;
		else
			n++;
	}
	if (resubmit)
		submit_queued(bc);
	return n;
}

/* ---- closing ------------------------------------------------------------ */

void blockif_close(struct blockif_ctxt *bc)
{
	struct io_uring_cqe *cqe;
	struct blockif_slot *s;
	int err, res;

	if (bc == NULL)
		return;
	while (bc->nfree < bc->depth) {
		/* Also what a done() below queued. */
		submit_queued(bc);
		err = io_uring_wait_cqe(&bc->ring, &cqe);
		if (err == -EINTR)
			continue;
		if (err < 0) {
			/* Should not happen; leaving beats hanging forever. */
			fprintf(stderr, "khyve: block: waiting for I/O: %s\n", strerror(-err));
			break;
		}
		s = io_uring_cqe_get_data(cqe);
		res = cqe->res;
		io_uring_cqe_seen(&bc->ring, cqe);
		handle_cqe(bc, s, res);
	}
	/*
	 * The ring is torn down asynchronously by the kernel: a file still
	 * registered with it would keep the image open -- and locked -- for a
	 * while after close(). Unregistering drops that reference now.
	 */
	if (bc->sqe_flags & IOSQE_FIXED_FILE)
		io_uring_unregister_files(&bc->ring);
	io_uring_unregister_eventfd(&bc->ring);
	io_uring_queue_exit(&bc->ring);
	close(bc->efd);
	close(bc->fd);  /* releases the OFD lock */
	free(bc);
}
