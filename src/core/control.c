/*
 * The control socket server (control.h). Non-blocking throughout: the
 * listening socket and every connection are mevent fds on the main thread,
 * each connection has a bounded line buffer, and a reply that does not fit
 * in the socket's send buffer (a client that never reads) closes that
 * connection rather than stalling the VM's event loop. The only wait is a
 * register read, bounded by CONTROL_REGS_TIMEOUT_MS (see vm_vcpu_read_regs).
 */
#include "core/control.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/json.h"
#include "core/mevent.h"
#include "core/registry.h"
#include "core/vmm.h"

struct control_conn {
	struct control_conn *prev, *next; /* every open connection, for control_stop */
	int fd;
	struct mevent *ev;
	size_t len;
	char buf[CONTROL_LINE_MAX];
};

static struct control_params params;
static struct timespec started;
static bool stopping;
static int nclients;
static struct control_conn *conns;
static int listen_fd = -1;
static struct mevent *listen_ev;
static void (*describe_consoles)(struct json_out *o);

void control_configure(const struct control_params *p)
{
	params = *p;
	clock_gettime(CLOCK_MONOTONIC, &started);
	stopping = false;
}

void control_note_stopping(void)
{
	stopping = true;
}

void control_set_consoles(void (*describe)(struct json_out *o))
{
	describe_consoles = describe;
}

/* ---- replies ------------------------------------------------------------ */

static void begin_reply(struct json_out *o, bool ok)
{
	json_out_init(o);
	json_begin_object(o, NULL);
	json_i64(o, "version", CONTROL_PROTOCOL_VERSION);
	json_bool(o, "ok", ok);
}

static char *finish_reply(struct json_out *o)
{
	json_end_object(o);
	return json_out_finish(o, NULL);
}

static char *error_reply(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *error_reply(const char *fmt, ...)
{
	struct json_out o;
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	begin_reply(&o, false);
	json_string(&o, "error", msg);
	return finish_reply(&o);
}

static uint64_t uptime_ms(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)(now.tv_sec - started.tv_sec) * 1000 +
	       (uint64_t)((now.tv_nsec - started.tv_nsec) / 1000000);
}

static char *reply_info(void)
{
	struct json_out o;

	begin_reply(&o, true);
	json_string(&o, "name", params.name != NULL ? params.name : "");
	json_i64(&o, "pid", (int64_t)getpid());
	json_i64(&o, "cpus", vm_vcpu_count());
	json_u64(&o, "memory", params.memory);
	json_u64(&o, "uptime_ms", uptime_ms());
	json_string(&o, "state", stopping ? "stopping" : "running");
	json_begin_array(&o, "consoles");
	if (describe_consoles != NULL)
		describe_consoles(&o);
	json_end_array(&o);
	return finish_reply(&o);
}

/*
 * A thread's CPU time and the part of it spent in the guest, from
 * /proc/self/task/TID/stat (utime + stime, and guest_time which Linux also
 * counts in utime): free on the vCPU's hot path, unlike timing each KVM_RUN.
 */
static int thread_times_ms(pid_t tid, uint64_t *cpu_ms, uint64_t *guest_ms)
{
	char path[64], line[1024], *p;
	unsigned long long utime, stime, guest;
	long hz = sysconf(_SC_CLK_TCK);
	FILE *f;
	int n;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	p = fgets(line, sizeof(line), f);
	fclose(f);
	if (p == NULL || (p = strrchr(line, ')')) == NULL || hz <= 0)
		return -1;
	/* After "pid (comm)": field 3 on; utime, stime are 14, 15; guest_time is 43. */
	n = sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d "
			  "%*d %*d %*u %*u %*d %*u %*u %*u %*u %*u %*u %*u %*u %*u %*u %*u %*u %*u %*d "
			  "%*d %*u %*u %*u %llu", &utime, &stime, &guest);
	if (n != 3)
		return -1;
	*cpu_ms = (utime + stime) * 1000 / (unsigned long long)hz;
	*guest_ms = guest * 1000 / (unsigned long long)hz;
	return 0;
}

static void emit_vcpu_stats(struct json_out *o, int id)
{
	struct vcpu_stats st;
	uint64_t cpu_ms, guest_ms;
	pid_t tid = vm_vcpu_tid(id);

	vm_vcpu_stats(id, &st);
	json_begin_object(o, NULL);
	json_i64(o, "cpu", id);
	json_u64(o, "exits_io", st.exits_io);
	json_u64(o, "exits_mmio", st.exits_mmio);
	json_u64(o, "exits_intr", st.exits_intr);
	json_u64(o, "exits_other", st.exits_other);
	if (tid > 0 && thread_times_ms(tid, &cpu_ms, &guest_ms) == 0) {
		json_u64(o, "cpu_time_ms", cpu_ms);
		json_u64(o, "guest_time_ms", guest_ms);
	}
	json_end_object(o);
}

static char *reply_stats(void)
{
	struct json_out o;

	begin_reply(&o, true);
	json_begin_array(&o, "vcpus");
	for (int i = 0; i < vm_vcpu_count(); i++)
		emit_vcpu_stats(&o, i);
	json_end_array(&o);
	return finish_reply(&o);
}

static void emit_segment(struct json_out *o, const char *name, const struct kvm_segment *seg)
{
	char key[16];

	snprintf(key, sizeof(key), "%s", name);
	json_hex(o, key, seg->selector);
	snprintf(key, sizeof(key), "%s_base", name);
	json_hex(o, key, seg->base);
}

static void emit_regs(struct json_out *o, const struct vcpu_regs *r)
{
	const struct kvm_regs *g = &r->regs;
	const struct kvm_sregs *s = &r->sregs;
	const struct {
		const char *name;
		uint64_t value;
	} gprs[] = {
		{ "rax", g->rax }, { "rbx", g->rbx }, { "rcx", g->rcx }, { "rdx", g->rdx },
		{ "rsi", g->rsi }, { "rdi", g->rdi }, { "rbp", g->rbp }, { "rsp", g->rsp },
		{ "r8", g->r8 },   { "r9", g->r9 },   { "r10", g->r10 }, { "r11", g->r11 },
		{ "r12", g->r12 }, { "r13", g->r13 }, { "r14", g->r14 }, { "r15", g->r15 },
		{ "rip", g->rip }, { "rflags", g->rflags },
		{ "cr0", s->cr0 }, { "cr2", s->cr2 }, { "cr3", s->cr3 }, { "cr4", s->cr4 },
		{ "cr8", s->cr8 }, { "efer", s->efer },
	};

	json_begin_object(o, "regs");
	for (size_t i = 0; i < sizeof(gprs) / sizeof(gprs[0]); i++)
		json_hex(o, gprs[i].name, gprs[i].value);
	emit_segment(o, "cs", &s->cs);
	emit_segment(o, "ds", &s->ds);
	emit_segment(o, "es", &s->es);
	emit_segment(o, "fs", &s->fs);
	emit_segment(o, "gs", &s->gs);
	emit_segment(o, "ss", &s->ss);
	emit_segment(o, "tr", &s->tr);
	json_hex(o, "gdtr_base", s->gdt.base);
	json_hex(o, "idtr_base", s->idt.base);
	json_end_object(o);
}

static char *reply_regs(const struct json_value *req)
{
	struct vcpu_regs regs;
	struct json_out o;
	int64_t cpu;
	int rc;

	if (json_get(req, "cpu") == NULL)
		return error_reply("\"regs\" needs \"cpu\": the vCPU number");
	if (json_get_int(req, "cpu", INT32_MIN, INT32_MAX, &cpu) < 0)
		return error_reply("\"cpu\" must be an integer");
	if (cpu < 0 || cpu >= vm_vcpu_count())
		return error_reply("no vCPU %lld: this VM has %d", (long long)cpu, vm_vcpu_count());
	rc = vm_vcpu_read_regs((int)cpu, &regs, CONTROL_REGS_TIMEOUT_MS);
	if (rc == -ETIMEDOUT)
		return error_reply("vCPU %d did not answer within %d ms", (int)cpu,
				   CONTROL_REGS_TIMEOUT_MS);
	if (rc < 0)
		return error_reply("cannot read the registers of vCPU %d: %s", (int)cpu, strerror(-rc));
	begin_reply(&o, true);
	json_i64(&o, "cpu", cpu);
	emit_regs(&o, &regs);
	return finish_reply(&o);
}

static char *reply_ok(void)
{
	struct json_out o;

	begin_reply(&o, true);
	return finish_reply(&o);
}

/* ---- requests ----------------------------------------------------------- */

static const struct {
	const char *command;
	enum control_action action;
} actions[] = {
	{ "destroy", CONTROL_DESTROY },
	{ "force-reset", CONTROL_FORCE_RESET },
	{ "force-poweroff", CONTROL_FORCE_POWEROFF },
	{ "shutdown", CONTROL_POWER_BUTTON },
};

static char *dispatch(const struct json_value *req, const char *command, enum control_action *action)
{
	if (strcmp(command, "info") == 0)
		return reply_info();
	if (strcmp(command, "stats") == 0)
		return reply_stats();
	if (strcmp(command, "regs") == 0)
		return reply_regs(req);
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
		if (strcmp(command, actions[i].command) == 0) {
			*action = actions[i].action;
			return reply_ok();
		}
	}
	return error_reply("unknown command '%.64s' (info, stats, regs, destroy, force-reset, "
			   "force-poweroff, shutdown)", command);
}

static char *check_version(const struct json_value *req)
{
	int64_t version;

	if (json_get(req, "version") == NULL)
		return NULL; /* absent: version 1, for hand-typed requests */
	if (json_get_int(req, "version", 0, INT32_MAX, &version) < 0)
		return error_reply("\"version\" must be an integer");
	if (version != CONTROL_PROTOCOL_VERSION)
		return error_reply("unsupported protocol version %lld (this khyve speaks %d)",
				   (long long)version, CONTROL_PROTOCOL_VERSION);
	return NULL;
}

char *control_handle_request(const char *line, size_t len, enum control_action *action)
{
	struct json_value *req;
	const char *err = NULL, *command;
	char *reply;

	*action = CONTROL_NONE;
	req = json_parse(line, len, &err);
	if (req == NULL)
		return error_reply("malformed JSON: %s", err);
	if (req->type != JSON_OBJECT) {
		reply = error_reply("a request is a JSON object");
	} else if ((reply = check_version(req)) != NULL) {
		/* reply says why */
	} else if ((command = json_get_string(req, "command")) == NULL) {
		reply = error_reply("missing \"command\" (a string)");
	} else {
		reply = dispatch(req, command, action);
	}
	json_free(req);
	return reply;
}

/* ---- connections -------------------------------------------------------- */

static void close_conn(struct control_conn *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	mevent_delete(c->ev);
	close(c->fd);
	free(c);
	nclients--;
}

/* The whole reply at once, or give up on this client (it is not reading). */
static bool send_reply(int fd, const char *reply)
{
	size_t len = strlen(reply);
	ssize_t n = send(fd, reply, len, MSG_NOSIGNAL | MSG_DONTWAIT);

	return n == (ssize_t)len;
}

static void take_action(enum control_action action)
{
	switch (action) {
	case CONTROL_NONE:
		break;
	case CONTROL_DESTROY:
		/* bhyve(8) exits 4 when bhyvectl --destroy removes its VM. */
		fprintf(stderr, "khyve: %s: destroyed through the control socket\n", params.name);
		vm_request_exit(VM_EXIT_ERROR);
		break;
	case CONTROL_FORCE_RESET:
		vm_request_exit(VM_EXIT_REBOOT);
		break;
	case CONTROL_FORCE_POWEROFF:
		vm_request_exit(VM_EXIT_POWEROFF);
		break;
	case CONTROL_POWER_BUTTON:
		stopping = true;
		if (params.power_button != NULL)
			params.power_button();
		break;
	}
}

/* Answer every complete line in the buffer; false if the connection was closed. */
static bool serve_lines(struct control_conn *c)
{
	char *nl;

	while (!vm_exit_requested() && (nl = memchr(c->buf, '\n', c->len)) != NULL) {
		size_t line_len = (size_t)(nl - c->buf);
		enum control_action action;
		char *reply = control_handle_request(c->buf, line_len, &action);
		bool sent = reply != NULL && send_reply(c->fd, reply);

		free(reply);
		c->len -= line_len + 1;
		memmove(c->buf, nl + 1, c->len);
		take_action(action);
		if (!sent) {
			close_conn(c);
			return false;
		}
	}
	return true;
}

static void on_readable(int fd, enum ev_type type, void *arg)
{
	struct control_conn *c = arg;
	ssize_t n = read(fd, c->buf + c->len, sizeof(c->buf) - c->len);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n == 0 && c->len > 0) {
		/* The client shut down its side after a last line without newline: answer it. */
		c->buf[c->len++] = '\n';
		if (!serve_lines(c))
			return;
	}
	if (n <= 0) {
		close_conn(c);
		return;
	}
	c->len += (size_t)n;
	if (!serve_lines(c))
		return;
	if (c->len == sizeof(c->buf)) {
		char *reply = error_reply("request line longer than %d bytes", CONTROL_LINE_MAX - 1);

		if (reply != NULL)
			send_reply(c->fd, reply);
		free(reply);
		close_conn(c);
	}
}

static void refuse(int fd, const char *why)
{
	char *reply = error_reply("%s", why);

	if (reply != NULL)
		send_reply(fd, reply);
	free(reply);
	close(fd);
}

static void on_accept(int lfd, enum ev_type type, void *arg)
{
	int fd;

	while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		struct control_conn *c;

		if (nclients >= CONTROL_MAX_CLIENTS) {
			refuse(fd, "too many control connections");
			continue;
		}
		c = malloc(sizeof(*c));
		if (c == NULL) {
			refuse(fd, "out of memory");
			continue;
		}
		c->fd = fd;
		c->len = 0;
		c->ev = mevent_add(fd, EVF_READ, on_readable, c);
		if (c->ev == NULL) {
			free(c);
			close(fd);
			continue;
		}
		c->prev = NULL;
		c->next = conns;
		if (conns != NULL)
			conns->prev = c;
		conns = c;
		nclients++;
	}
}

static int listen_socket(const char *name)
{
	struct sockaddr_un sa;
	int dir_fd, fd = -1;

	if (registry_control_addr(name, &sa, &dir_fd) == 0) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		/* Owner only: the socket can stop the VM (root can always connect). */
		if (fd >= 0 && (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
				chmod(sa.sun_path, 0600) < 0 || listen(fd, 16) < 0)) {
			close(fd);
			fd = -1;
		}
	}
	if (dir_fd >= 0) {
		int saved = errno;

		close(dir_fd);
		errno = saved;
	}
	return fd;
}

int control_start(const struct control_params *p)
{
	control_configure(p);
	listen_fd = listen_socket(p->name);
	if (listen_fd >= 0)
		listen_ev = mevent_add(listen_fd, EVF_READ, on_accept, NULL);
	if (listen_ev == NULL) {
		fprintf(stderr, "khyve: cannot create the control socket %s/%s/%s: %s\n",
			registry_rundir(), p->name, REGISTRY_SOCKET, strerror(errno));
		control_stop();
		return -1;
	}
	return 0;
}

void control_stop(void)
{
	while (conns != NULL)
		close_conn(conns);
	if (listen_ev != NULL)
		mevent_delete(listen_ev);
	listen_ev = NULL;
	if (listen_fd >= 0)
		close(listen_fd);
	listen_fd = -1;
}
