/*
 * The slirp backend: user-mode networking with libslirp, no privileges.
 * The guest network is QEMU's: 10.0.2.0/24, gateway 10.0.2.2, DNS 10.0.2.3,
 * DHCP from 10.0.2.15 (IPv6: fec0::/64, gateway fec0::2, DNS fec0::3).
 *
 * Threads. libslirp is not thread-safe, so one mutex ("lock") covers every
 * slirp_* call and everything libslirp calls back into (timers included).
 * A private thread polls slirp's host sockets and runs its timers; the main
 * thread feeds guest frames with slirp_input and then wakes the thread,
 * since that may have opened sockets, queued data or armed a timer that the
 * sleeping poll() does not know about. Frames for the guest (send_packet,
 * called from either thread with lock held) go into a bounded FIFO under
 * its own mutex and an eventfd tells the main loop (mevent -> rx_ready).
 * Lock order: lock, then fifo_lock.
 *
 * libslirp is loaded with dlopen() when the first slirp NIC opens: it pulls
 * in GLib and PCRE2, which would otherwise be mapped into, and relocated by,
 * every khyve process -- most of which never use slirp.
 *
 * SIGPIPE: a host peer closing while libslirp writes must not kill us, and
 * we do not count on libslirp passing MSG_NOSIGNAL: khyve ignores SIGPIPE
 * process-wide, and this thread blocks every signal anyway.
 */
#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <slirp/libslirp.h>

#include "core/config.h"
#include "core/mevent.h"
#include "net/net_backend_impl.h"

#define LIBSLIRP_SONAME "libslirp.so.0"

/* The libslirp entry points khyve uses, resolved at the first slirp NIC. */
static struct {
	bool loaded;
	Slirp *(*new)(const SlirpConfig *cfg, const SlirpCb *callbacks, void *opaque);
	void (*cleanup)(Slirp *slirp);
	void (*input)(Slirp *slirp, const uint8_t *pkt, int pkt_len);
	int (*add_hostfwd)(Slirp *slirp, int is_udp, struct in_addr host_addr, int host_port,
			   struct in_addr guest_addr, int guest_port);
	void (*pollfds_fill)(Slirp *slirp, uint32_t *timeout, SlirpAddPollCb add_poll,
			     void *opaque);
	void (*pollfds_poll)(Slirp *slirp, int select_error, SlirpGetREventsCb get_revents,
			     void *opaque);
} lib;

static bool resolve(void *h, const char *sym, void *fnp)
{
	void *f = dlsym(h, sym);

	memcpy(fnp, &f, sizeof(f)); /* object pointer to function pointer, as POSIX allows */
	return f != NULL;
}

/* 0, or -1 after one error line. Main thread only (device init). */
static int load_libslirp(const char *ident, const char *name)
{
	void *h;

	if (lib.loaded)
		return 0;
	h = dlopen(LIBSLIRP_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		netbe_err(ident, name, "cannot load %s (install Debian's libslirp0): %s",
			  LIBSLIRP_SONAME, dlerror());
		return -1;
	}
	if (!resolve(h, "slirp_new", &lib.new) || !resolve(h, "slirp_cleanup", &lib.cleanup) ||
	    !resolve(h, "slirp_input", &lib.input) ||
	    !resolve(h, "slirp_add_hostfwd", &lib.add_hostfwd) ||
	    !resolve(h, "slirp_pollfds_fill", &lib.pollfds_fill) ||
	    !resolve(h, "slirp_pollfds_poll", &lib.pollfds_poll)) {
		netbe_err(ident, name, "%s lacks a needed function: %s", LIBSLIRP_SONAME,
			  dlerror());
		dlclose(h);
		return -1;
	}
	lib.loaded = true; /* kept loaded: the handle lives as long as khyve */
	return 0;
}

#define SLIRP_FIFO_FRAMES 256
#define SLIRP_FIFO_BYTES  (1024 * 1024)
#define SLIRP_DHCP_START  "10.0.2.15"

struct slirp_timer {
	struct slirp_timer *next;
	SlirpTimerCb cb;
	void *cb_opaque;
	int64_t expire_ms;      /* -1: not armed */
};

/* A frame for the guest, in the FIFO's byte ring. */
struct rx_frame {
	size_t off;
	size_t len;
};

struct slirp_be {
	struct net_backend be;  /* first: the dispatcher's view */

	pthread_mutex_t lock;   /* libslirp and the timer list */
	Slirp *slirp;
	struct slirp_timer *timers;
	struct pollfd *pfd;     /* built by the thread for each poll() */
	size_t npfd, pfd_cap;
	bool stopping;
	pthread_t thread;
	bool thread_started;
	int wake_fd;            /* eventfd: poll() again */
	atomic_bool wake_pending;

	/*
	 * Frames for the guest: copied by libslirp's callback (either thread)
	 * into a ring of SLIRP_FIFO_BYTES allocated once, read by the main
	 * thread, which frees a frame's bytes only after copying them out.
	 */
	pthread_mutex_t fifo_lock;
	struct rx_frame fifo[SLIRP_FIFO_FRAMES];
	unsigned head, count;
	uint8_t *ring;
	size_t ring_start;      /* the oldest frame's bytes */
	size_t bytes;           /* in the ring, from ring_start */
	int rx_fd;              /* eventfd: the FIFO went from empty to not */
	struct mevent *mev;

	uint8_t *txbuf;         /* main thread: a guest frame in one piece */
};

static struct slirp_be *to_slirp(struct net_backend *be)
{
	return (struct slirp_be *)be;
}

/* Set in the slirp thread: it needs no wake-up from itself. */
static __thread bool in_slirp_thread;

static void wake_thread(struct slirp_be *s)
{
	uint64_t one = 1;

	/*
	 * One write per sleep is enough: the thread clears the flag after
	 * draining the eventfd, then takes the lock and sees what we did.
	 */
	if (!in_slirp_thread && !atomic_exchange(&s->wake_pending, true))
		(void)!write(s->wake_fd, &one, sizeof(one));
}

static void drain(int fd)
{
	uint64_t v;

	(void)!read(fd, &v, sizeof(v));
}

/* ---- frames to the guest: the FIFO -------------------------------------- */

/* Of len bytes at off in the ring, how many come before it wraps. */
static size_t ring_before_wrap(size_t off, size_t len)
{
	return SLIRP_FIFO_BYTES - off < len ? SLIRP_FIFO_BYTES - off : len;
}

/* len bytes into the ring at off, wrapping at its end. */
static void ring_put(struct slirp_be *s, size_t off, const uint8_t *src, size_t len)
{
	size_t first = ring_before_wrap(off, len);

	memcpy(s->ring + off, src, first);
	memcpy(s->ring, src + first, len - first);
}

/* libslirp's send_packet: lock held, either thread. Full FIFO: drop, as a NIC does. */
static ssize_t cb_send_packet(const void *buf, size_t len, void *opaque)
{
	struct slirp_be *s = opaque;
	bool was_empty;
	uint64_t one = 1;
	size_t off;

	pthread_mutex_lock(&s->fifo_lock);
	if (s->count == SLIRP_FIFO_FRAMES || s->bytes + len > SLIRP_FIFO_BYTES) {
		pthread_mutex_unlock(&s->fifo_lock);
		return (ssize_t)len;
	}
	off = (s->ring_start + s->bytes) % SLIRP_FIFO_BYTES;
	ring_put(s, off, buf, len);
	s->fifo[(s->head + s->count) % SLIRP_FIFO_FRAMES] = (struct rx_frame){ off, len };
	was_empty = s->count++ == 0;
	s->bytes += len;
	pthread_mutex_unlock(&s->fifo_lock);
	/*
	 * Only the first frame needs a signal: the device reads until the FIFO
	 * is empty, or stops early and gets a signal again from rx_enable.
	 */
	if (was_empty)
		(void)!write(s->rx_fd, &one, sizeof(one));
	return (ssize_t)len;
}

static bool fifo_empty(struct slirp_be *s)
{
	bool empty;

	pthread_mutex_lock(&s->fifo_lock);
	empty = s->count == 0;
	pthread_mutex_unlock(&s->fifo_lock);
	return empty;
}

/* ---- libslirp's other callbacks (lock held) ----------------------------- */

/* Guest misbehaviour is not the host's problem; libslirp already drops it. */
static void cb_guest_error(const char *msg, void *opaque)
{
}

static int64_t cb_clock_get_ns(void *opaque)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *cb_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
	struct slirp_be *s = opaque;
	struct slirp_timer *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->cb = cb;
	t->cb_opaque = cb_opaque;
	t->expire_ms = -1;
	t->next = s->timers;
	s->timers = t;
	return t;
}

static void cb_timer_free(void *timer, void *opaque)
{
	struct slirp_be *s = opaque;

	for (struct slirp_timer **p = &s->timers; *p != NULL; p = &(*p)->next)
		if (*p == timer) {
			*p = ((struct slirp_timer *)timer)->next;
			free(timer);
			return;
		}
}

/* expire_time: milliseconds on cb_clock_get_ns's clock. */
static void cb_timer_mod(void *timer, int64_t expire_time, void *opaque)
{
	((struct slirp_timer *)timer)->expire_ms = expire_time < 0 ? 0 : expire_time;
	wake_thread(opaque); /* it may be sleeping past the new deadline */
}

/* Polled sets are rebuilt on every loop (slirp_pollfds_fill): nothing to keep. */
static void cb_register_poll_fd(int fd, void *opaque)
{
}

static void cb_unregister_poll_fd(int fd, void *opaque)
{
}

/* A socket can take more data from the guest: poll() with the new interest. */
static void cb_notify(void *opaque)
{
	wake_thread(opaque);
}

static const SlirpCb slirp_callbacks = {
	.send_packet = cb_send_packet,
	.guest_error = cb_guest_error,
	.clock_get_ns = cb_clock_get_ns,
	.timer_new = cb_timer_new,
	.timer_free = cb_timer_free,
	.timer_mod = cb_timer_mod,
	.register_poll_fd = cb_register_poll_fd,
	.unregister_poll_fd = cb_unregister_poll_fd,
	.notify = cb_notify,
};

/* ---- the slirp thread --------------------------------------------------- */

static int64_t now_ms(void)
{
	return cb_clock_get_ns(NULL) / 1000000;
}

/*
 * Run expired timers (lock held), then return the milliseconds until the
 * next one or UINT32_MAX. A callback may re-arm or free any timer, so the
 * scan restarts after each; there are only a few (IPv6 router adverts).
 */
static uint32_t run_timers(struct slirp_be *s)
{
	int64_t now = now_ms(), next = -1;
	struct slirp_timer *t;

again:
	for (t = s->timers; t != NULL; t = t->next)
		if (t->expire_ms >= 0 && t->expire_ms <= now) {
			t->expire_ms = -1;
			t->cb(t->cb_opaque);
			now = now_ms();
			goto again;
		}
	for (t = s->timers; t != NULL; t = t->next)
		if (t->expire_ms >= 0 && (next < 0 || t->expire_ms < next))
			next = t->expire_ms;
	if (next < 0 || next - now >= UINT32_MAX)
		return UINT32_MAX;
	return (uint32_t)(next - now);
}

static int to_poll_events(int ev)
{
	return (ev & SLIRP_POLL_IN ? POLLIN : 0) | (ev & SLIRP_POLL_OUT ? POLLOUT : 0) |
	       (ev & SLIRP_POLL_PRI ? POLLPRI : 0) | (ev & SLIRP_POLL_ERR ? POLLERR : 0) |
	       (ev & SLIRP_POLL_HUP ? POLLHUP : 0);
}

static int from_poll_events(int ev)
{
	return (ev & POLLIN ? SLIRP_POLL_IN : 0) | (ev & POLLOUT ? SLIRP_POLL_OUT : 0) |
	       (ev & POLLPRI ? SLIRP_POLL_PRI : 0) | (ev & POLLERR ? SLIRP_POLL_ERR : 0) |
	       (ev & POLLHUP ? SLIRP_POLL_HUP : 0) | (ev & POLLNVAL ? SLIRP_POLL_ERR : 0);
}

/* Append to the poll set; returns the index, or -1 (libslirp then skips the fd). */
static int add_pollfd(struct slirp_be *s, int fd, short events)
{
	if (s->npfd == s->pfd_cap) {
		size_t cap = s->pfd_cap * 2;
		struct pollfd *p = realloc(s->pfd, cap * sizeof(*p));

		if (p == NULL)
			return -1;
		s->pfd = p;
		s->pfd_cap = cap;
	}
	s->pfd[s->npfd] = (struct pollfd){ .fd = fd, .events = events };
	return (int)s->npfd++;
}

static int cb_add_poll(int fd, int events, void *opaque)
{
	return add_pollfd(opaque, fd, (short)to_poll_events(events));
}

static int cb_get_revents(int idx, void *opaque)
{
	struct slirp_be *s = opaque;

	return from_poll_events(s->pfd[idx].revents);
}

static void *slirp_thread(void *arg)
{
	struct slirp_be *s = arg;

	in_slirp_thread = true;
	pthread_mutex_lock(&s->lock);
	while (!s->stopping) {
		uint32_t timeout = run_timers(s);
		int n;

		s->npfd = 0;
		add_pollfd(s, s->wake_fd, POLLIN); /* index 0; the initial capacity holds it */
		lib.pollfds_fill(s->slirp, &timeout, cb_add_poll, s);
		pthread_mutex_unlock(&s->lock);

		n = poll(s->pfd, s->npfd, timeout == UINT32_MAX ? -1 : (int)timeout);
		if (n > 0 && s->pfd[0].revents != 0) {
			drain(s->wake_fd);
			atomic_store(&s->wake_pending, false);
		}
		pthread_mutex_lock(&s->lock);
		/* After a failed poll() revents mean nothing; slirp then only runs its timers. */
		lib.pollfds_poll(s->slirp, n < 0, cb_get_revents, s);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* With every signal blocked: they belong to the main thread's signalfds. */
static int start_thread(struct slirp_be *s)
{
	sigset_t all, old;
	int err;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&s->thread, NULL, slirp_thread, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err != 0)
		return err;
	pthread_setname_np(s->thread, "slirp");
	s->thread_started = true;
	return 0;
}

static void stop_thread(struct slirp_be *s)
{
	uint64_t one = 1;

	if (!s->thread_started)
		return;
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	pthread_mutex_unlock(&s->lock);
	(void)!write(s->wake_fd, &one, sizeof(one));
	pthread_join(s->thread, NULL);
	s->thread_started = false;
}

/* ---- host port forwards ------------------------------------------------- */

struct hostfwd {
	bool udp;
	struct in_addr haddr, gaddr;
	int hport, gport;
};

/* "addr:port": empty addr = def; port 1-65535. Modifies s. */
static int parse_endpoint(char *s, struct in_addr def, struct in_addr *addr, int *port)
{
	char *colon = strrchr(s, ':'), *end;
	long p;

	if (colon == NULL)
		return -1;
	*colon = '\0';
	if (*s == '\0')
		*addr = def;
	else if (inet_pton(AF_INET, s, addr) != 1)
		return -1;
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (colon[1] < '0' || colon[1] > '9' || *end != '\0' || errno != 0 || p < 1 || p > 65535)
		return -1;
	*port = (int)p;
	return 0;
}

/* bhyve's rule: proto:haddr:hport-gaddr:gport (haddr empty = any, gaddr = the guest). */
static int parse_hostfwd(const char *rule, struct hostfwd *f)
{
	char buf[128], *host, *guest;
	struct in_addr any = { .s_addr = htonl(INADDR_ANY) }, guest_def;

	if (strlen(rule) >= sizeof(buf))
		return -1;
	strcpy(buf, rule);
	inet_pton(AF_INET, SLIRP_DHCP_START, &guest_def);
	host = strchr(buf, ':');
	if (host == NULL)
		return -1;
	*host++ = '\0';
	if (strcmp(buf, "tcp") == 0)
		f->udp = false;
	else if (strcmp(buf, "udp") == 0)
		f->udp = true;
	else
		return -1;
	guest = strchr(host, '-');
	if (guest == NULL)
		return -1;
	*guest++ = '\0';
	if (parse_endpoint(host, any, &f->haddr, &f->hport) != 0 ||
	    parse_endpoint(guest, guest_def, &f->gaddr, &f->gport) != 0)
		return -1;
	return 0;
}

/* Every ';'-separated rule of hostfwd=, before the thread runs. */
static int add_hostfwds(struct slirp_be *s, const char *ident, const char *name,
			const char *value)
{
	char *copy = strdup(value), *rest = copy, *rule;
	char haddr[INET_ADDRSTRLEN];
	struct hostfwd f;
	int ret = 0;

	if (copy == NULL) {
		netbe_err(ident, name, "out of memory");
		return -1;
	}
	while (ret == 0 && (rule = strsep(&rest, ";")) != NULL) {
		if (*rule == '\0')
			continue; /* "a;b;" */
		if (parse_hostfwd(rule, &f) != 0) {
			netbe_err(ident, name, "hostfwd '%s' is invalid (want "
				  "tcp|udp:[hostaddr]:hostport-[guestaddr]:guestport)", rule);
			ret = -1;
			continue;
		}
		errno = 0;
		if (lib.add_hostfwd(s->slirp, f.udp, f.haddr, f.hport, f.gaddr, f.gport) < 0) {
			inet_ntop(AF_INET, &f.haddr, haddr, sizeof(haddr));
			netbe_err(ident, name, "hostfwd '%s': cannot listen on %s %s:%d: %s", rule,
				  f.udp ? "udp" : "tcp", haddr, f.hport,
				  errno != 0 ? strerror(errno) : "failed");
			ret = -1;
		}
	}
	free(copy);
	return ret;
}

/* ---- opening and closing ------------------------------------------------ */

static Slirp *new_slirp(struct slirp_be *s)
{
	SlirpConfig cfg = {
		.version = 4,
		.restricted = 0,
		.in_enabled = true,
		.in6_enabled = true,
		.vprefix_len = 64,
	};

	inet_pton(AF_INET, "10.0.2.0", &cfg.vnetwork);
	inet_pton(AF_INET, "255.255.255.0", &cfg.vnetmask);
	inet_pton(AF_INET, "10.0.2.2", &cfg.vhost);
	inet_pton(AF_INET, SLIRP_DHCP_START, &cfg.vdhcp_start);
	inet_pton(AF_INET, "10.0.2.3", &cfg.vnameserver);
	inet_pton(AF_INET6, "fec0::", &cfg.vprefix_addr6);
	inet_pton(AF_INET6, "fec0::2", &cfg.vhost6);
	inet_pton(AF_INET6, "fec0::3", &cfg.vnameserver6);
	return lib.new(&cfg, &slirp_callbacks, s);
}

static void slirp_rx_readable(int fd, enum ev_type type, void *arg)
{
	struct net_backend *be = arg;

	drain(fd); /* before the device reads: a frame queued after this signals again */
	be->rx_cb(be->rx_arg);
}

static void slirp_close(struct net_backend *be)
{
	struct slirp_be *s = to_slirp(be);

	stop_thread(s);
	if (s->mev != NULL)
		mevent_delete(s->mev);
	if (s->slirp != NULL)
		lib.cleanup(s->slirp); /* frees its timers through cb_timer_free */
	while (s->timers != NULL)
		cb_timer_free(s->timers, s);
	free(s->ring);
	if (s->wake_fd >= 0)
		close(s->wake_fd);
	if (s->rx_fd >= 0)
		close(s->rx_fd);
	pthread_mutex_destroy(&s->fifo_lock);
	pthread_mutex_destroy(&s->lock);
	free(s->pfd);
	free(s->txbuf);
	free(s);
}

static struct slirp_be *slirp_alloc(void)
{
	struct slirp_be *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->fifo_lock, NULL);
	s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	s->rx_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	s->pfd_cap = 16;
	s->pfd = malloc(s->pfd_cap * sizeof(*s->pfd));
	s->txbuf = malloc(NETBE_MAX_FRAME);
	s->ring = malloc(SLIRP_FIFO_BYTES);
	if (s->wake_fd < 0 || s->rx_fd < 0 || s->pfd == NULL || s->txbuf == NULL ||
	    s->ring == NULL) {
		slirp_close(&s->be);
		return NULL;
	}
	return s;
}

static struct net_backend *slirp_open(const struct netbe_args *a)
{
	const char *name = a->name != NULL ? a->name : "slirp";
	const char *fwd = get_config_value_node(a->node, "hostfwd");
	struct slirp_be *s;
	int err;

	if (load_libslirp(a->ident, name) < 0)
		return NULL;
	s = slirp_alloc();
	if (s == NULL) {
		netbe_err(a->ident, name, "cannot allocate: %s", strerror(errno));
		return NULL;
	}
	s->slirp = new_slirp(s);
	if (s->slirp == NULL) {
		netbe_err(a->ident, name, "cannot create the libslirp instance");
		goto fail;
	}
	if (fwd != NULL && add_hostfwds(s, a->ident, name, fwd) != 0)
		goto fail;
	s->mev = mevent_add(s->rx_fd, EVF_READ, slirp_rx_readable, &s->be);
	if (s->mev == NULL || mevent_disable(s->mev) < 0) {
		netbe_err(a->ident, name, "cannot watch the slirp queue: %s", strerror(errno));
		goto fail;
	}
	err = start_thread(s);
	if (err != 0) {
		netbe_err(a->ident, name, "cannot start the slirp thread: %s", strerror(err));
		goto fail;
	}
	return &s->be;
fail:
	slirp_close(&s->be);
	return NULL;
}

/* ---- frames ------------------------------------------------------------- */

static ssize_t slirp_send(struct net_backend *be, const struct iovec *iov, int iovcnt)
{
	struct slirp_be *s = to_slirp(be);
	size_t len = netbe_iov_len(iov, iovcnt), off = 0;
	const uint8_t *pkt = s->txbuf;

	if (len > NETBE_MAX_FRAME)
		return -EMSGSIZE;
	if (iovcnt == 1) {
		pkt = iov[0].iov_base;
	} else {
		for (int i = 0; i < iovcnt; off += iov[i].iov_len, i++)
			memcpy(s->txbuf + off, iov[i].iov_base, iov[i].iov_len);
	}
	pthread_mutex_lock(&s->lock);
	lib.input(s->slirp, pkt, (int)len);
	pthread_mutex_unlock(&s->lock);
	wake_thread(s);
	return (ssize_t)len;
}

/*
 * The oldest frame, copied out of the ring before its bytes are given back
 * (the callback writes only past them meanwhile).
 */
static ssize_t slirp_recv(struct net_backend *be, const struct iovec *iov, int iovcnt)
{
	struct slirp_be *s = to_slirp(be);
	struct rx_frame f;
	size_t first;
	ssize_t rc;

	pthread_mutex_lock(&s->fifo_lock);
	if (s->count == 0) {
		pthread_mutex_unlock(&s->fifo_lock);
		return 0;
	}
	f = s->fifo[s->head];
	pthread_mutex_unlock(&s->fifo_lock);
	rc = (ssize_t)f.len;
	if (f.len > netbe_iov_len(iov, iovcnt)) {
		rc = -EMSGSIZE; /* dropped: iov is smaller than the contract's minimum */
	} else {
		first = ring_before_wrap(f.off, f.len);
		(void)netbe_iov_fill(iov, iovcnt, 0, s->ring + f.off, first);
		(void)netbe_iov_fill(iov, iovcnt, first, s->ring, f.len - first);
	}
	pthread_mutex_lock(&s->fifo_lock);
	s->head = (s->head + 1) % SLIRP_FIFO_FRAMES;
	s->count--;
	s->ring_start = (s->ring_start + f.len) % SLIRP_FIFO_BYTES;
	s->bytes -= f.len;
	pthread_mutex_unlock(&s->fifo_lock);
	return rc;
}

/*
 * The FIFO signals only when it stops being empty, so frames left behind
 * when the guest ran out of buffers need a signal of their own: the same
 * level-triggered behaviour as a tap.
 */
static void slirp_rx_enable(struct net_backend *be, bool on)
{
	struct slirp_be *s = to_slirp(be);
	uint64_t one = 1;

	if (!on) {
		mevent_disable(s->mev);
		return;
	}
	mevent_enable(s->mev);
	if (!fifo_empty(s))
		(void)!write(s->rx_fd, &one, sizeof(one));
}

/* No vnet header: the guest must hand us complete frames. */
static int slirp_set_offloads(struct net_backend *be, unsigned offloads)
{
	return offloads == 0 ? 0 : -1;
}

const struct netbe_ops netbe_slirp_ops = {
	.type = "slirp",
	.vnet_hdr = false,
	.open = slirp_open,
	.close = slirp_close,
	.send = slirp_send,
	.recv = slirp_recv,
	.rx_enable = slirp_rx_enable,
	.set_offloads = slirp_set_offloads,
};
