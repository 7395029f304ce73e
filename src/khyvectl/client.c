/* khyvectl's control-socket client; see client.h. */
#include "khyvectl/client.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/control.h"
#include "core/registry.h"

/* A reply is one line; stats of 256 vCPUs are about 40 KiB. */
#define CTL_REPLY_MAX (1 << 20)

int ctl_connect(const char *name, char *err, size_t errlen, int *stale)
{
	struct sockaddr_un sa;
	int dir_fd, fd, saved;

	*stale = 0;
	if (registry_control_addr(name, &sa, &dir_fd) < 0) {
		snprintf(err, errlen, "no VM named '%s' (%s/%s: %s)", name, registry_rundir(), name,
			 strerror(errno));
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		if (dir_fd >= 0)
			close(dir_fd);
		return fd;
	}
	saved = errno;
	if (fd >= 0)
		close(fd);
	if (dir_fd >= 0)
		close(dir_fd);
	if (saved == ENOENT)
		snprintf(err, errlen, "no VM named '%s' is running", name);
	else if (saved == ECONNREFUSED) {
		*stale = 1;
		snprintf(err, errlen, "no VM named '%s' is running (a stale entry left by a killed "
			 "khyve, reclaimed by the next start of that name)", name);
	} else
		snprintf(err, errlen, "cannot connect to VM '%s' (%s/%s/%s): %s", name,
			 registry_rundir(), name, REGISTRY_SOCKET, strerror(saved));
	return -1;
}

int client_write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		/* write(), not send(): also used for terminals; SIGPIPE is ignored in main(). */
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read up to the first newline, waiting at most timeout_ms between chunks. */
static char *read_line(int fd, int timeout_ms, size_t *len, const char **why)
{
	size_t cap = 4096;
	char *buf = malloc(cap);

	*len = 0;
	*why = "out of memory";
	while (buf != NULL) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (memchr(buf, '\n', *len) != NULL)
			return buf;
		if (*len == cap) {
			char *bigger = cap < CTL_REPLY_MAX ? realloc(buf, cap * 2) : NULL;

			*why = "reply too long";
			if (bigger == NULL)
				break;
			buf = bigger;
			cap *= 2;
		}
		if (poll(&pfd, 1, timeout_ms) <= 0) {
			*why = "no reply in time";
			break;
		}
		n = read(fd, buf + *len, cap - *len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			*why = "the VM closed the connection";
			break;
		}
		*len += (size_t)n;
	}
	free(buf);
	return NULL;
}

static struct json_value *check_reply(const char *line, size_t len, char *err, size_t errlen)
{
	const char *why = NULL;
	struct json_value *reply = json_parse(line, len, &why);
	const struct json_value *ok;

	if (reply == NULL) {
		snprintf(err, errlen, "malformed reply from the VM: %s", why);
		return NULL;
	}
	ok = json_get(reply, "ok");
	if (ok != NULL && ok->type == JSON_BOOL && ok->boolean)
		return reply;
	snprintf(err, errlen, "%s", json_get_string(reply, "error") ? json_get_string(reply, "error")
								      : "the VM refused the request");
	json_free(reply);
	return NULL;
}

struct json_value *ctl_request(int fd, const char *command, int cpu, char *err, size_t errlen)
{
	struct json_out o;
	struct json_value *reply;
	const char *why;
	size_t len;
	char *req, *line;

	json_out_init(&o);
	json_begin_object(&o, NULL);
	json_i64(&o, "version", CONTROL_PROTOCOL_VERSION);
	json_string(&o, "command", command);
	if (cpu >= 0)
		json_i64(&o, "cpu", cpu);
	json_end_object(&o);
	req = json_out_finish(&o, &len);
	if (req == NULL || client_write_all(fd, req, len) < 0) {
		snprintf(err, errlen, "cannot send the request: %s", req ? strerror(errno) : "out of memory");
		free(req);
		return NULL;
	}
	free(req);
	line = read_line(fd, CTL_REPLY_TIMEOUT_MS, &len, &why);
	if (line == NULL) {
		snprintf(err, errlen, "%s", why);
		return NULL;
	}
	reply = check_reply(line, (size_t)((char *)memchr(line, '\n', len) - line), err, errlen);
	free(line);
	return reply;
}

int ctl_wait_closed(int fd, int timeout_ms)
{
	char buf[256];

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, timeout_ms) <= 0)
			return -1;
		n = read(fd, buf, sizeof(buf));
		if (n == 0 || (n < 0 && errno != EINTR))
			return 0;
	}
}
