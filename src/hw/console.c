/*
 * Console endpoints (console.h): a pty pair named like nmdm(4), a unix
 * socket or a TCP server, each serving one client at a time, with the
 * guest's output kept in a ring while nobody reads it.
 *
 * Attach and detach: a pty master reports POLLHUP once its slave's last
 * user closed it, and epoll reports HUP even on a disabled event, so while
 * nobody is attached the master is not in the event loop at all; inotify's
 * IN_OPEN on the slave says when somebody opens it again. Output written to
 * a master whose slave is closed would still be queued by the kernel, so
 * khyve stops writing while detached and keeps that output in its ring,
 * where "drop the oldest" is under its control. Sockets attach on accept
 * and detach on end of file or an error.
 */
#include "hw/console.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "core/config.h"
#include "core/mevent.h"
#include "core/registry.h"

#define NMDM_PREFIX "/dev/nmdm"
#define SOCKET_PREFIX "socket,"
#define TCP_PREFIX "tcp="
/* How often a pty is checked for a new user when inotify is unavailable. */
#define ATTACH_POLL_MS 500
#define INPUT_CHUNK 4096

enum console_kind { CONSOLE_NMDM, CONSOLE_UNIX, CONSOLE_TCP };

struct console {
	pthread_mutex_t lock;
	enum console_kind kind;
	char port[16];
	const struct console_ops *ops;
	void *arg;
	char user_path[PATH_MAX]; /* what the user opens: B link, socket path, IP:PORT */

	/* nmdm: the master stays open for the VM's lifetime. */
	int master_fd;
	char pts[64];
	char own_link[PATH_MAX], own_target[64];
	int inotify_fd;
	struct mevent *open_ev;

	/* socket servers */
	int listen_fd;
	struct mevent *accept_ev;

	/* the attached client; peer_wfd is a dup of peer_fd for the write event */
	bool attached, input_paused, write_armed;
	int peer_fd, peer_wfd;
	struct mevent *read_ev, *write_ev;

	/* guest output the client has not taken yet */
	size_t ring_head, ring_len;
	uint64_t dropped;
	uint8_t ring[CONSOLE_RING_SIZE];
};

bool console_spec_matches(const char *spec)
{
	return strncmp(spec, NMDM_PREFIX, strlen(NMDM_PREFIX)) == 0 ||
	       strncmp(spec, SOCKET_PREFIX, strlen(SOCKET_PREFIX)) == 0 ||
	       strncmp(spec, TCP_PREFIX, strlen(TCP_PREFIX)) == 0;
}

/* ---- the output ring (called locked) -------------------------------------- */

static void ring_push(struct console *c, const uint8_t *buf, size_t len)
{
	size_t excess, tail, first;

	if (len > CONSOLE_RING_SIZE) {
		c->dropped += len - CONSOLE_RING_SIZE;
		buf += len - CONSOLE_RING_SIZE;
		len = CONSOLE_RING_SIZE;
	}
	excess = c->ring_len + len > CONSOLE_RING_SIZE ? c->ring_len + len - CONSOLE_RING_SIZE : 0;
	c->ring_head = (c->ring_head + excess) % CONSOLE_RING_SIZE;
	c->ring_len -= excess;
	c->dropped += excess;
	tail = (c->ring_head + c->ring_len) % CONSOLE_RING_SIZE;
	first = len < CONSOLE_RING_SIZE - tail ? len : CONSOLE_RING_SIZE - tail;
	memcpy(c->ring + tail, buf, first);
	memcpy(c->ring, buf + first, len - first);
	c->ring_len += len;
}

static ssize_t peer_send(struct console *c, const uint8_t *buf, size_t len)
{
	if (c->kind == CONSOLE_NMDM)
		return write(c->peer_fd, buf, len);
	return send(c->peer_fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* Hand the client as much as it takes now: 0, or -1 if it is gone. */
static int ring_flush(struct console *c)
{
	while (c->ring_len > 0) {
		size_t chunk = c->ring_len;
		ssize_t n;

		if (chunk > CONSOLE_RING_SIZE - c->ring_head)
			chunk = CONSOLE_RING_SIZE - c->ring_head;
		n = peer_send(c, c->ring + c->ring_head, chunk);
		if (n > 0) {
			c->ring_head = (c->ring_head + (size_t)n) % CONSOLE_RING_SIZE;
			c->ring_len -= (size_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else {
			return n < 0 && errno == EAGAIN ? 0 : -1;
		}
	}
	c->ring_head = 0;
	return 0;
}

static void arm_write(struct console *c)
{
	if (!c->write_armed && c->write_ev != NULL && mevent_enable(c->write_ev) == 0)
		c->write_armed = true;
}

void console_write(struct console *c, const uint8_t *buf, size_t len)
{
	pthread_mutex_lock(&c->lock);
	/* Straight to a client that keeps up; behind older bytes otherwise. */
	while (c->attached && c->ring_len == 0 && len > 0) {
		ssize_t n = peer_send(c, buf, len);

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
		} else if (!(n < 0 && errno == EINTR)) {
			break; /* full (EAGAIN) or gone: the event loop finds out which */
		}
	}
	if (len > 0) {
		ring_push(c, buf, len);
		if (c->attached)
			arm_write(c);
	}
	pthread_mutex_unlock(&c->lock);
}

/* ---- attach and detach (event loop thread) -------------------------------- */

static void on_peer_readable(int fd, enum ev_type type, void *arg);
static void on_peer_writable(int fd, enum ev_type type, void *arg);

static bool hung_up(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLHUP | POLLERR)) != 0;
}

static void detach(struct console *c)
{
	pthread_mutex_lock(&c->lock);
	if (c->attached) {
		c->attached = false;
		mevent_delete(c->read_ev);
		mevent_delete(c->write_ev);
		c->read_ev = c->write_ev = NULL;
		close(c->peer_wfd);
		if (c->kind != CONSOLE_NMDM)
			close(c->peer_fd); /* the pty master stays: the next user's */
		c->peer_fd = c->peer_wfd = -1;
		c->write_armed = c->input_paused = false;
	}
	pthread_mutex_unlock(&c->lock);
}

/*
 * The write event starts enabled: its first call hands over the ring. A
 * socket's fd is the console's from here on, attached or closed.
 */
static int attach(struct console *c, int fd)
{
	int wfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);

	if (wfd < 0) {
		if (c->kind != CONSOLE_NMDM)
			close(fd);
		return -1;
	}
	pthread_mutex_lock(&c->lock);
	c->peer_fd = fd;
	c->peer_wfd = wfd;
	c->read_ev = mevent_add(fd, EVF_READ, on_peer_readable, c);
	c->write_ev = mevent_add(wfd, EVF_WRITE, on_peer_writable, c);
	c->attached = c->read_ev != NULL && c->write_ev != NULL;
	c->write_armed = c->attached;
	pthread_mutex_unlock(&c->lock);
	if (c->attached)
		return 0;
	c->attached = true; /* let detach undo the half-made attachment */
	detach(c);
	return -1;
}

static void pause_input(struct console *c)
{
	pthread_mutex_lock(&c->lock);
	c->input_paused = true;
	if (c->read_ev != NULL)
		mevent_disable(c->read_ev);
	pthread_mutex_unlock(&c->lock);
	/* The consumer may have drained in between, missing our pause: look again. */
	if (c->ops->input_room(c->arg) > 0)
		console_input_ready(c);
}

void console_input_ready(struct console *c)
{
	pthread_mutex_lock(&c->lock);
	if (c->input_paused && c->read_ev != NULL) {
		c->input_paused = false;
		mevent_enable(c->read_ev);
	}
	pthread_mutex_unlock(&c->lock);
}

static void on_peer_readable(int fd, enum ev_type type, void *arg)
{
	struct console *c = arg;
	uint8_t buf[INPUT_CHUNK];
	size_t room = c->ops->input_room(c->arg);
	ssize_t n;

	if (room == 0) {
		/* A hang-up is reported even on a paused event: act on it, or spin. */
		if (hung_up(fd))
			detach(c);
		else
			pause_input(c);
		return;
	}
	n = read(fd, buf, room < sizeof(buf) ? room : sizeof(buf));
	if (n > 0)
		c->ops->input(c->arg, buf, (size_t)n);
	else if (n == 0 || (errno != EAGAIN && errno != EINTR))
		detach(c); /* EIO: the pty's last user closed it; 0: the socket's client left */
}

static void on_peer_writable(int fd, enum ev_type type, void *arg)
{
	struct console *c = arg;
	int rc;

	/* A pty master stays writable with nobody on the slave: keep output in the ring then. */
	if (hung_up(fd)) {
		detach(c);
		return;
	}
	pthread_mutex_lock(&c->lock);
	rc = c->attached ? ring_flush(c) : 0;
	if (rc == 0 && c->ring_len == 0 && c->write_armed) {
		mevent_disable(c->write_ev);
		c->write_armed = false;
	}
	pthread_mutex_unlock(&c->lock);
	if (rc < 0)
		detach(c);
}

/* ---- nmdm: a pty pair ------------------------------------------------------ */

static void check_pty_user(struct console *c)
{
	if (!console_attached(c) && !hung_up(c->master_fd))
		attach(c, c->master_fd);
}

static void on_slave_opened(int fd, enum ev_type type, void *arg)
{
	char events[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

	if (type != EVF_TIMER)
		while (read(fd, events, sizeof(events)) > 0)
			;
	check_pty_user(arg);
}

static int open_pty(struct console *c)
{
	struct termios tio;
	int slave;

	c->master_fd = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (c->master_fd < 0 || grantpt(c->master_fd) < 0 || unlockpt(c->master_fd) < 0 ||
	    ptsname_r(c->master_fd, c->pts, sizeof(c->pts)) != 0)
		return -1;
	/* Raw, so that guest output is not echoed back as input while nobody is attached. */
	if (tcgetattr(c->master_fd, &tio) == 0) {
		cfmakeraw(&tio);
		tcsetattr(c->master_fd, TCSANOW, &tio);
	}
	/*
	 * A slave that was never opened does not report POLLHUP on the master,
	 * one opened and closed does: start from "nobody attached".
	 */
	slave = open(c->pts, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (slave < 0)
		return -1;
	close(slave);
	return 0;
}

static int watch_pty(struct console *c)
{
	c->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (c->inotify_fd >= 0 && inotify_add_watch(c->inotify_fd, c->pts, IN_OPEN) >= 0) {
		c->open_ev = mevent_add(c->inotify_fd, EVF_READ, on_slave_opened, c);
		if (c->open_ev != NULL)
			return 0;
	}
	/* No inotify (a restricted sandbox): look for a user twice a second. */
	c->open_ev = mevent_add(ATTACH_POLL_MS, EVF_TIMER, on_slave_opened, c);
	return c->open_ev != NULL ? 0 : -1;
}

/* A link khyve made, and whose khyve still runs: "/proc/PID/fd/N" that resolves. */
static bool link_in_use(const char *path)
{
	char target[PATH_MAX];
	struct stat st;
	ssize_t n = readlink(path, target, sizeof(target) - 1);

	if (n <= 0)
		return false;
	target[n] = '\0';
	if (strncmp(target, "/proc/", 6) != 0)
		return false;
	return stat(target, &st) == 0 || errno == EACCES;
}

/* A name we may (re)place: absent, or a link left by a khyve that is gone. */
static int check_name(const char *port, const char *path, const char *other)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISLNK(st.st_mode)) {
		fprintf(stderr, "khyve: %s: %s exists and is not a console link of khyve\n", port,
			path);
		return -EEXIST;
	}
	if (link_in_use(path) || link_in_use(other)) {
		fprintf(stderr, "khyve: %s: %s is in use by another khyve\n", port, path);
		return -EBUSY;
	}
	return 0;
}

/* own -> /proc/PID/fd/MASTER (khyve's end, for show), peer -> the slave. Returns -errno. */
static int make_links(struct console *c, const char *own, const char *peer)
{
	int rc;

	if ((rc = check_name(c->port, own, peer)) < 0 || (rc = check_name(c->port, peer, own)) < 0)
		return rc;
	unlink(own);
	unlink(peer);
	snprintf(c->own_target, sizeof(c->own_target), "/proc/%ld/fd/%d", (long)getpid(),
		 c->master_fd);
	if (symlink(c->own_target, own) < 0)
		return -errno;
	if (symlink(c->pts, peer) < 0) {
		rc = -errno;
		unlink(own);
		return rc;
	}
	snprintf(c->own_link, sizeof(c->own_link), "%s", own);
	snprintf(c->user_path, sizeof(c->user_path), "%s", peer);
	return 0;
}

static void peer_name(const char *own, char *peer, size_t len)
{
	snprintf(peer, len, "%s", own);
	peer[strlen(peer) - 1] = own[strlen(own) - 1] == 'A' ? 'B' : 'A';
}

/* The names in /dev, else (not writable there) in RUNDIR/NAME. */
static int name_pty(struct console *c, const char *spec)
{
	char own[PATH_MAX], peer[PATH_MAX];
	const char *vm = get_config_value("name");
	const char *base = strrchr(spec, '/') + 1;
	int rc;

	peer_name(spec, peer, sizeof(peer));
	rc = make_links(c, spec, peer);
	if (rc == 0)
		return 0;
	if (rc != -EACCES && rc != -EPERM && rc != -EROFS) {
		if (rc != -EEXIST && rc != -EBUSY)
			fprintf(stderr, "khyve: %s: cannot create %s: %s\n", c->port, spec, strerror(-rc));
		return -1;
	}
	snprintf(own, sizeof(own), "%s/%s/%s", registry_rundir(), vm ? vm : "", base);
	peer_name(own, peer, sizeof(peer));
	if (make_links(c, own, peer) < 0) {
		fprintf(stderr, "khyve: %s: cannot create %s (%s) nor %s\n", c->port, spec,
			strerror(-rc), own);
		return -1;
	}
	fprintf(stderr, "khyve: %s: %s is not writable (%s): the console is %s\n", c->port,
		spec, strerror(-rc), c->user_path);
	return 0;
}

static int open_nmdm(struct console *c, const char *spec)
{
	char last = spec[strlen(spec) - 1];

	c->kind = CONSOLE_NMDM;
	if ((last != 'A' && last != 'B') || strlen(spec) <= strlen(NMDM_PREFIX) + 1) {
		fprintf(stderr, "khyve: %s: %s: an nmdm name is a pair's end, e.g. /dev/nmdm0A "
			"(khyve's) and /dev/nmdm0B (the user's)\n", c->port, spec);
		return -1;
	}
	if (open_pty(c) < 0) {
		fprintf(stderr, "khyve: %s: cannot create a pty: %s\n", c->port, strerror(errno));
		return -1;
	}
	if (name_pty(c, spec) < 0)
		return -1;
	if (watch_pty(c) < 0) {
		fprintf(stderr, "khyve: %s: cannot watch %s: %s\n", c->port, c->pts, strerror(errno));
		return -1;
	}
	return 0;
}

/* ---- socket servers --------------------------------------------------------- */

static void refuse_client(struct console *c, int fd)
{
	char msg[128];
	int n = snprintf(msg, sizeof(msg), "khyve: the %s console is busy (another client is "
			 "attached)\r\n", c->port);

	(void)!send(fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	close(fd);
}

static void on_accept(int lfd, enum ev_type type, void *arg)
{
	struct console *c = arg;
	int fd, one = 1;

	while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		if (console_attached(c)) {
			refuse_client(c, fd);
			continue;
		}
		if (c->kind == CONSOLE_TCP)
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		attach(c, fd);
	}
}

/* A socket file left by a dead khyve refuses connections: only then is it replaced. */
static int claim_socket_path(const char *port, const struct sockaddr_un *sa)
{
	struct stat st;
	int fd, rc;

	if (lstat(sa->sun_path, &st) < 0)
		return 0;
	if (!S_ISSOCK(st.st_mode)) {
		fprintf(stderr, "khyve: %s: %s exists and is not a socket\n", port, sa->sun_path);
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	rc = fd >= 0 ? connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) : -1;
	if (fd >= 0)
		close(fd);
	if (rc == 0) {
		fprintf(stderr, "khyve: %s: %s is in use by a running server\n", port, sa->sun_path);
		return -1;
	}
	unlink(sa->sun_path);
	return 0;
}

static int listen_unix(struct console *c, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	c->kind = CONSOLE_UNIX;
	if (*path == '\0' || strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "khyve: %s: socket,PATH needs a path of 1 to %zu characters\n",
			c->port, sizeof(sa.sun_path) - 1);
		return -1;
	}
	strcpy(sa.sun_path, path);
	if (claim_socket_path(c->port, &sa) < 0)
		return -1;
	c->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	/* Owner only, as the control socket: the console is a root shell in many guests. */
	if (c->listen_fd < 0 || bind(c->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(path, 0600) < 0 || listen(c->listen_fd, 4) < 0) {
		fprintf(stderr, "khyve: %s: cannot listen on %s: %s\n", c->port, path,
			strerror(errno));
		return -1;
	}
	snprintf(c->user_path, sizeof(c->user_path), "%s", path);
	return 0;
}

/* tcp=IP:PORT, IPv6 as [ADDR]:PORT. */
static int listen_tcp(struct console *c, const char *addr)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV };
	struct addrinfo *ai = NULL;
	char host[256];
	const char *colon = strrchr(addr, ':');
	int one = 1, rc;

	c->kind = CONSOLE_TCP;
	if (colon == NULL || colon == addr || (size_t)(colon - addr) >= sizeof(host) ||
	    colon[1] == '\0') {
		fprintf(stderr, "khyve: %s: tcp=%s: expected tcp=IP:PORT\n", c->port, addr);
		return -1;
	}
	snprintf(host, sizeof(host), "%.*s", (int)(colon - addr), addr);
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	rc = getaddrinfo(host, colon + 1, &hints, &ai);
	if (rc != 0) {
		fprintf(stderr, "khyve: %s: tcp=%s: %s\n", c->port, addr, gai_strerror(rc));
		return -1;
	}
	c->listen_fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->listen_fd >= 0)
		setsockopt(c->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	rc = c->listen_fd >= 0 && bind(c->listen_fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
	     listen(c->listen_fd, 4) == 0 ? 0 : -1;
	freeaddrinfo(ai);
	if (rc < 0) {
		fprintf(stderr, "khyve: %s: cannot listen on %s: %s\n", c->port, addr, strerror(errno));
		return -1;
	}
	snprintf(c->user_path, sizeof(c->user_path), "%s", addr);
	return 0;
}

static int open_server(struct console *c, const char *spec)
{
	int rc = strncmp(spec, TCP_PREFIX, strlen(TCP_PREFIX)) == 0
			 ? listen_tcp(c, spec + strlen(TCP_PREFIX))
			 : listen_unix(c, spec + strlen(SOCKET_PREFIX));

	if (rc < 0)
		return -1;
	c->accept_ev = mevent_add(c->listen_fd, EVF_READ, on_accept, c);
	if (c->accept_ev == NULL) {
		fprintf(stderr, "khyve: %s: cannot serve %s: %s\n", c->port, c->user_path,
			strerror(errno));
		return -1;
	}
	return 0;
}

/* ---- lifecycle ------------------------------------------------------------- */

struct console *console_open(const char *port, const char *spec, const struct console_ops *ops,
			     void *arg)
{
	struct console *c = calloc(1, sizeof(*c));
	int rc;

	if (c == NULL) {
		fprintf(stderr, "khyve: %s: out of memory\n", port);
		return NULL;
	}
	pthread_mutex_init(&c->lock, NULL);
	snprintf(c->port, sizeof(c->port), "%s", port);
	c->ops = ops;
	c->arg = arg;
	c->master_fd = c->inotify_fd = c->listen_fd = c->peer_fd = c->peer_wfd = -1;
	if (strncmp(spec, NMDM_PREFIX, strlen(NMDM_PREFIX)) == 0)
		rc = open_nmdm(c, spec);
	else
		rc = open_server(c, spec);
	if (rc < 0) {
		console_close(c);
		return NULL;
	}
	return c;
}

/* Remove a name only while it still is ours (a later khyve may have taken it over). */
static void unlink_if_target(const char *path, const char *target)
{
	char now[PATH_MAX];
	ssize_t n;

	if (path[0] == '\0')
		return;
	n = readlink(path, now, sizeof(now) - 1);
	if (n < 0)
		return;
	now[n] = '\0';
	if (strcmp(now, target) == 0)
		unlink(path);
}

static void remove_names(struct console *c)
{
	struct stat st;

	if (c->kind == CONSOLE_NMDM) {
		unlink_if_target(c->own_link, c->own_target);
		unlink_if_target(c->user_path, c->pts);
	} else if (c->kind == CONSOLE_UNIX && c->listen_fd >= 0 && c->user_path[0] != '\0' &&
		   lstat(c->user_path, &st) == 0 && S_ISSOCK(st.st_mode)) {
		unlink(c->user_path);
	}
}

void console_close(struct console *c)
{
	if (c == NULL)
		return;
	detach(c);
	remove_names(c);
	if (c->open_ev != NULL)
		mevent_delete(c->open_ev);
	if (c->accept_ev != NULL)
		mevent_delete(c->accept_ev);
	if (c->inotify_fd >= 0)
		close(c->inotify_fd);
	if (c->listen_fd >= 0)
		close(c->listen_fd);
	if (c->master_fd >= 0)
		close(c->master_fd);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* ---- queries ---------------------------------------------------------------- */

bool console_attached(struct console *c)
{
	bool attached;

	pthread_mutex_lock(&c->lock);
	attached = c->attached;
	pthread_mutex_unlock(&c->lock);
	return attached;
}

size_t console_buffered(struct console *c)
{
	size_t len;

	pthread_mutex_lock(&c->lock);
	len = c->ring_len;
	pthread_mutex_unlock(&c->lock);
	return len;
}

uint64_t console_dropped(struct console *c)
{
	uint64_t dropped;

	pthread_mutex_lock(&c->lock);
	dropped = c->dropped;
	pthread_mutex_unlock(&c->lock);
	return dropped;
}

const char *console_user_path(const struct console *c)
{
	return c->user_path;
}

void console_describe(struct console *c, struct json_out *o)
{
	static const char *const kinds[] = { "nmdm", "socket", "tcp" };

	pthread_mutex_lock(&c->lock);
	json_string(o, "type", kinds[c->kind]);
	json_string(o, "path", c->user_path);
	if (c->kind == CONSOLE_NMDM)
		json_string(o, "pty", c->pts);
	json_bool(o, "attached", c->attached);
	json_u64(o, "buffered", c->ring_len);
	json_u64(o, "dropped", c->dropped);
	pthread_mutex_unlock(&c->lock);
}
