/* khyvectl --console; see console.h. */
#include "khyvectl/console.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "core/json.h"
#include "khyvectl/client.h"

struct endpoint {
	char port[16], type[16], path[4096];
};

/* ---- finding the console ---------------------------------------------------- */

static bool attachable(const char *type)
{
	return strcmp(type, "nmdm") == 0 || strcmp(type, "socket") == 0 || strcmp(type, "tcp") == 0;
}

static void copy_member(const struct json_value *obj, const char *key, char *dst, size_t len)
{
	const char *s = json_get_string(obj, key);

	snprintf(dst, len, "%s", s != NULL ? s : "");
}

/* The chosen port from the VM's "info"; prints why not and returns -1. */
static int pick_console(const char *vm, const struct json_value *info, const char *port,
			struct endpoint *ep)
{
	const struct json_value *list = json_get(info, "consoles");

	if (list == NULL || list->type != JSON_ARRAY) {
		fprintf(stderr, "khyvectl: %s: this khyve does not list its consoles\n", vm);
		return -1;
	}
	for (size_t i = 0; i < list->count; i++) {
		const struct json_value *con = &list->items[i];
		const struct json_value *attached = json_get(con, "attached");

		copy_member(con, "port", ep->port, sizeof(ep->port));
		copy_member(con, "type", ep->type, sizeof(ep->type));
		copy_member(con, "path", ep->path, sizeof(ep->path));
		if (port != NULL ? strcmp(ep->port, port) != 0 : !attachable(ep->type))
			continue;
		if (!attachable(ep->type)) {
			fprintf(stderr, "khyvectl: %s: %s is on %s (%s), not a console to attach to "
				"(use -l %s,/dev/nmdm0A or socket,PATH)\n", vm, ep->port, ep->type,
				ep->path, ep->port);
			return -1;
		}
		if (attached != NULL && attached->type == JSON_BOOL && attached->boolean) {
			fprintf(stderr, "khyvectl: %s: %s already has a client attached (%s)\n", vm,
				ep->port, ep->path);
			return -1;
		}
		if (strcmp(ep->type, "nmdm") == 0)
			copy_member(con, "pty", ep->path, sizeof(ep->path));
		return 0;
	}
	if (port != NULL)
		fprintf(stderr, "khyvectl: %s: no %s (see -l %s,... in khyve(8))\n", vm, port, port);
	else
		fprintf(stderr, "khyvectl: %s: no COM port with an nmdm or socket console\n", vm);
	return -1;
}

static int find_console(const char *vm, const char *port, struct endpoint *ep)
{
	char err[512];
	struct json_value *info;
	int fd, stale, rc;

	fd = ctl_connect(vm, err, sizeof(err), &stale);
	if (fd < 0) {
		fprintf(stderr, "khyvectl: %s\n", err);
		return -1;
	}
	info = ctl_request(fd, "info", -1, err, sizeof(err));
	close(fd);
	if (info == NULL) {
		fprintf(stderr, "khyvectl: %s: %s\n", vm, err);
		return -1;
	}
	rc = pick_console(vm, info, port, ep);
	json_free(info);
	return rc;
}

/* ---- connecting ------------------------------------------------------------- */

static int open_pty(const char *path)
{
	struct termios tio;
	int fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);

	if (fd >= 0 && tcgetattr(fd, &tio) == 0) {
		cfmakeraw(&tio);
		tcsetattr(fd, TCSANOW, &tio);
	}
	return fd;
}

static int connect_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static int connect_tcp(const char *addr)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *ai;
	char host[256];
	const char *colon = strrchr(addr, ':');
	int fd;

	if (colon == NULL || (size_t)(colon - addr) >= sizeof(host)) {
		errno = EINVAL;
		return -1;
	}
	snprintf(host, sizeof(host), "%.*s", (int)(colon - addr), addr);
	if (host[0] == '[') {
		memmove(host, host + 1, strlen(host));
		host[strcspn(host, "]")] = '\0';
	}
	/* A server bound to any address is reached on this host's loopback. */
	if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0)
		snprintf(host, sizeof(host), "%s", host[0] == ':' ? "::1" : "127.0.0.1");
	if (getaddrinfo(host, colon + 1, &hints, &ai) != 0) {
		errno = EINVAL;
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

static int connect_endpoint(const struct endpoint *ep)
{
	if (strcmp(ep->type, "nmdm") == 0)
		return open_pty(ep->path);
	if (strcmp(ep->type, "socket") == 0)
		return connect_unix(ep->path);
	return connect_tcp(ep->path);
}

/* ---- the terminal ------------------------------------------------------------ */

static struct termios saved_tio;
static bool tio_saved;

static void restore_terminal(void)
{
	if (tio_saved)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tio);
	tio_saved = false;
}

static void on_signal(int signo)
{
	restore_terminal();
	signal(signo, SIG_DFL);
	raise(signo);
}

/* Raw, as cu(1): every key goes to the guest, ^C included. */
static void raw_terminal(void)
{
	struct termios tio;

	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_tio) < 0)
		return;
	tio_saved = true;
	atexit(restore_terminal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	tio = saved_tio;
	cfmakeraw(&tio);
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &tio);
}

/* ---- relaying ------------------------------------------------------------------ */

/*
 * cu(1)'s escape: "~." at the start of a line detaches, "~~" sends one "~",
 * "~" before anything else sends both.
 */
struct escape {
	bool line_start, tilde;
};

/* Filter typed bytes into out; true when the user asked to detach (out has what came before). */
static bool filter_input(struct escape *e, const char *in, size_t len, char *out, size_t *out_len)
{
	*out_len = 0;
	for (size_t i = 0; i < len; i++) {
		char b = in[i];

		if (e->tilde) {
			e->tilde = false;
			if (b == '.')
				return true;
			if (b != '~')
				out[(*out_len)++] = '~';
		} else if (e->line_start && b == '~') {
			e->tilde = true;
			continue;
		}
		out[(*out_len)++] = b;
		e->line_start = b == '\r' || b == '\n';
	}
	return false;
}

enum relay_end { RELAY_DETACHED, RELAY_CLOSED, RELAY_ERROR };

static enum relay_end relay(int peer)
{
	struct escape esc = { .line_start = true };
	bool stdin_open = true;
	char buf[4096], out[8192];

	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = peer, .events = POLLIN },
			{ .fd = stdin_open ? STDIN_FILENO : -1, .events = POLLIN },
		};
		size_t out_len;
		ssize_t n;

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return RELAY_ERROR;
		}
		if (pfd[0].revents) {
			n = read(peer, buf, sizeof(buf));
			/* EIO: khyve closed the pty's master, i.e. the VM is gone. */
			if (n <= 0)
				return n < 0 && errno != EIO && errno != ECONNRESET ? RELAY_ERROR : RELAY_CLOSED;
			if (client_write_all(STDOUT_FILENO, buf, (size_t)n) < 0)
				return RELAY_ERROR;
		}
		if (pfd[1].revents) {
			n = read(STDIN_FILENO, buf, sizeof(buf));
			if (n <= 0) {
				stdin_open = false; /* piped input ended: keep showing output */
				continue;
			}
			bool detach = filter_input(&esc, buf, (size_t)n, out, &out_len);

			/* What was typed before "~." still goes out. */
			if (client_write_all(peer, out, out_len) < 0)
				return RELAY_CLOSED;
			if (detach)
				return RELAY_DETACHED;
		}
	}
}

int ctl_console(const char *vm, const char *port)
{
	struct endpoint ep;
	enum relay_end end;
	int peer;

	if (find_console(vm, port, &ep) < 0)
		return 1;
	peer = connect_endpoint(&ep);
	if (peer < 0) {
		fprintf(stderr, "khyvectl: %s: cannot open %s's console %s: %s\n", vm, ep.port,
			ep.path, strerror(errno));
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	fprintf(stderr, "Connected to %s %s (%s); type ~. to detach\r\n", vm, ep.port, ep.path);
	raw_terminal();
	end = relay(peer);
	restore_terminal();
	close(peer);
	if (end == RELAY_DETACHED) {
		fprintf(stderr, "\r\n[detached from %s %s]\r\n", vm, ep.port);
		return 0;
	}
	if (end == RELAY_CLOSED) {
		fprintf(stderr, "\r\n[%s %s: the console closed (the VM exited)]\r\n", vm, ep.port);
		return 0;
	}
	fprintf(stderr, "\r\nkhyvectl: %s: console %s: %s\n", vm, ep.port, strerror(errno));
	return 1;
}
