/*
 * COM1-COM4: the 16550 model (uart_emul.c) on its legacy port and ISA IRQ,
 * connected to a host backend named by lpc.comN.path:
 *   stdio          the terminal khyve runs in (raw mode while the VM runs)
 *   /dev/nmdmNA    a pty pair users attach to and detach from (console.c)
 *   socket,PATH    a unix socket server, one client at a time (console.c)
 *   tcp=IP:PORT    the same on TCP (console.c)
 *   /dev/...       an existing terminal device (e.g. a pty slave)
 *
 * stdio and devices lose no byte: guest output is written out before the THR
 * write completes. The attachable consoles never make the guest wait: what
 * nobody reads waits in console.c's ring, the oldest dropped. In the other
 * direction host input waits in a buffer here, and the backend is only read
 * while that buffer has room, so a slow guest back-pressures the host side
 * instead of overrunning its FIFO.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "core/coalesce.h"
#include "core/config.h"
#include "core/control.h"
#include "core/inout.h"
#include "core/mevent.h"
#include "hw/console.h"
#include "hw/isa_irq.h"
#include "hw/platform.h"
#include "hw/uart_emul.h"
#include "x86/acpi.h"

#define NCOM 4
#define RX_BUF_SIZE 4096

struct com_port {
	const char *name;
	uint16_t port;
	uint8_t irq;
	bool active;
	struct vmctx *ctx;
	struct uart_emul *emul;
	pthread_mutex_t lock;
	const char *path;     /* lpc.comN.path */
	struct console *con;  /* an attachable console; else in_fd/out_fd */
	int in_fd, out_fd;
	struct mevent *rx_ev;
	bool rx_ev_enabled, rx_eof;
	uint8_t rx_buf[RX_BUF_SIZE];
	size_t rx_head, rx_len;
	/* Terminal state to restore, when the backend is a tty we switched to raw. */
	int tty_fd;
	struct termios saved_tio;
	bool tty_saved;
};

static struct com_port coms[NCOM] = {
	{ .name = "com1", .port = 0x3f8, .irq = 4 },
	{ .name = "com2", .port = 0x2f8, .irq = 3 },
	{ .name = "com3", .port = 0x3e8, .irq = 4 },
	{ .name = "com4", .port = 0x2e8, .irq = 3 },
};

static bool stdio_taken;

/* ---- guest -> host ---- */

static void write_all(int fd, const uint8_t *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
		} else if (n < 0 && errno == EAGAIN) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };

			(void)poll(&pfd, 1, -1);
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else {
			return; /* backend gone (EIO on a closed pty, EPIPE): output is dropped */
		}
	}
}

static void com_tx_byte(void *arg, uint8_t byte)
{
	struct com_port *cp = arg;

	if (cp->con != NULL)
		console_write(cp->con, &byte, 1);
	else
		write_all(cp->out_fd, &byte, 1);
}

static void com_tx_bytes(void *arg, const uint8_t *buf, size_t len)
{
	struct com_port *cp = arg;

	if (cp->con != NULL)
		console_write(cp->con, buf, len);
	else
		write_all(cp->out_fd, buf, len);
}

static void com_set_irq(void *arg, bool level)
{
	struct com_port *cp = arg;

	isa_irq_set(cp->ctx, cp->irq, (int)(cp - coms), level);
}

/* ---- host -> guest ---- */

/* Move buffered host bytes into the guest FIFO. Called locked. */
static void feed_guest(struct com_port *cp)
{
	while (cp->rx_len > 0) {
		size_t chunk = cp->rx_len;
		size_t taken;

		if (cp->rx_head + chunk > RX_BUF_SIZE)
			chunk = RX_BUF_SIZE - cp->rx_head;
		taken = uart_emul_rx_push(cp->emul, cp->rx_buf + cp->rx_head, chunk);
		cp->rx_head = (cp->rx_head + taken) % RX_BUF_SIZE;
		cp->rx_len -= taken;
		if (taken < chunk)
			break;
	}
}

/* Read the backend only while there is room; re-armed when the guest drains. Called locked. */
static void update_rx_event(struct com_port *cp)
{
	bool want = !cp->rx_eof && cp->rx_len < RX_BUF_SIZE;

	if (cp->rx_ev == NULL || want == cp->rx_ev_enabled)
		return;
	if (want)
		mevent_enable(cp->rx_ev);
	else
		mevent_disable(cp->rx_ev);
	cp->rx_ev_enabled = want;
}

static void com_rx_space(void *arg)
{
	struct com_port *cp = arg;

	/* Runs inside uart_emul_read(), i.e. with cp->lock held by the port handler. */
	feed_guest(cp);
	if (cp->con != NULL && cp->rx_len < RX_BUF_SIZE)
		console_input_ready(cp->con);
	else
		update_rx_event(cp);
}

/* The attachable consoles hand over what the user typed (console_ops). */
static size_t console_room(void *arg)
{
	struct com_port *cp = arg;
	size_t room;

	pthread_mutex_lock(&cp->lock);
	room = RX_BUF_SIZE - cp->rx_len;
	pthread_mutex_unlock(&cp->lock);
	return room;
}

static void console_input(void *arg, const uint8_t *buf, size_t len)
{
	struct com_port *cp = arg;

	pthread_mutex_lock(&cp->lock);
	while (len > 0 && cp->rx_len < RX_BUF_SIZE) {
		size_t tail = (cp->rx_head + cp->rx_len) % RX_BUF_SIZE;
		size_t chunk = RX_BUF_SIZE - tail;

		if (chunk > len)
			chunk = len;
		if (chunk > RX_BUF_SIZE - cp->rx_len)
			chunk = RX_BUF_SIZE - cp->rx_len;
		memcpy(cp->rx_buf + tail, buf, chunk);
		cp->rx_len += chunk;
		buf += chunk;
		len -= chunk;
	}
	feed_guest(cp);
	pthread_mutex_unlock(&cp->lock);
}

static const struct console_ops com_console_ops = {
	.input_room = console_room,
	.input = console_input,
};

static void com_backend_readable(int fd, enum ev_type type, void *arg)
{
	struct com_port *cp = arg;
	size_t tail, room;
	ssize_t n;

	pthread_mutex_lock(&cp->lock);
	tail = (cp->rx_head + cp->rx_len) % RX_BUF_SIZE;
	room = RX_BUF_SIZE - cp->rx_len;
	if (tail + room > RX_BUF_SIZE)
		room = RX_BUF_SIZE - tail;
	n = room ? read(cp->in_fd, cp->rx_buf + tail, room) : 0;
	if (n > 0)
		cp->rx_len += (size_t)n;
	else if (room && (n == 0 || (errno != EAGAIN && errno != EINTR)))
		cp->rx_eof = true; /* stdin closed: stop polling it, the guest keeps running */
	feed_guest(cp);
	update_rx_event(cp);
	pthread_mutex_unlock(&cp->lock);
}

/* ---- port I/O ---- */

static int com_io_handler(struct vmctx *ctx, bool in, uint16_t port, int bytes, uint32_t *val,
			  void *arg)
{
	struct com_port *cp = arg;
	uint32_t result = 0;

	pthread_mutex_lock(&cp->lock);
	/* Wider accesses are split into the byte registers they cover. */
	for (int i = 0; i < bytes; i++) {
		int offset = port - cp->port + i;

		if (offset >= UART_IO_BAR_SIZE)
			break;
		if (in)
			result |= (uint32_t)uart_emul_read(cp->emul, offset) << (8 * i);
		else
			uart_emul_write(cp->emul, offset, (uint8_t)(*val >> (8 * i)));
	}
	pthread_mutex_unlock(&cp->lock);
	if (in)
		*val = result;
	return 0;
}

/* THR writes KVM queued (coalesced): one burst to the backend. */
static void com_thr_burst(struct vmctx *ctx, uint16_t port, const uint8_t *data, size_t n,
			  void *arg)
{
	struct com_port *cp = arg;

	pthread_mutex_lock(&cp->lock);
	uart_emul_write_thr_burst(cp->emul, data, n);
	pthread_mutex_unlock(&cp->lock);
}

/* ---- backends ---- */

static int make_raw(struct com_port *cp, int fd)
{
	struct termios tio;

	if (!isatty(fd) || tcgetattr(fd, &cp->saved_tio) < 0)
		return 0;
	cp->tty_fd = fd;
	cp->tty_saved = true;
	tio = cp->saved_tio;
	cfmakeraw(&tio);
	/* Keep output post-processing off too: the guest sends its own CR/LF. */
	return tcsetattr(fd, TCSANOW, &tio);
}

static int open_backend(struct com_port *cp, const char *path)
{
	if (strcmp(path, "stdio") == 0) {
		if (stdio_taken) {
			fprintf(stderr, "khyve: lpc.%s.path: stdio is already used by another port\n",
				cp->name);
			return -1;
		}
		stdio_taken = true;
		cp->in_fd = STDIN_FILENO;
		cp->out_fd = STDOUT_FILENO;
		return make_raw(cp, STDIN_FILENO);
	}
	if (console_spec_matches(path)) {
		cp->con = console_open(cp->name, path, &com_console_ops, cp);
		return cp->con != NULL ? 0 : -1;
	}
	cp->in_fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (cp->in_fd < 0) {
		fprintf(stderr, "khyve: lpc.%s.path: %s: %s\n", cp->name, path, strerror(errno));
		return -1;
	}
	cp->out_fd = cp->in_fd;
	return make_raw(cp, cp->in_fd);
}

static const struct uart_ops com_ops = {
	.set_irq = com_set_irq,
	.tx_byte = com_tx_byte,
	.tx_bytes = com_tx_bytes,
	.rx_space = com_rx_space,
};

static int com_port_init(struct vmctx *ctx, struct com_port *cp, const char *path)
{
	struct inout_port iop = {
		cp->name, cp->port, UART_IO_BAR_SIZE, IOPORT_F_INOUT, com_io_handler, cp,
	};

	cp->ctx = ctx;
	cp->tty_fd = -1;
	cp->path = path;
	pthread_mutex_init(&cp->lock, NULL);
	/* The model first: a console may hand over input as soon as it exists. */
	cp->emul = uart_emul_create(&com_ops, cp);
	if (cp->emul == NULL || register_inout(&iop) < 0) {
		fprintf(stderr, "khyve: %s: cannot set up the UART\n", cp->name);
		return -1;
	}
	if (open_backend(cp, path) < 0)
		return -1;
	/*
	 * THR writes need not exit: whoever writes the UART reads LSR or IIR
	 * (or writes IER) before it waits for anything, and that exit replays
	 * them first. Halves the exits of a polled console, removes most of
	 * an interrupt-driven one's. Without KVM support they just exit.
	 */
	(void)coalesce_port_writes(ctx, cp->port, com_thr_burst);
	cp->active = true;
	if (cp->con != NULL)
		return 0; /* it reads its clients itself */
	cp->rx_ev = mevent_add(cp->in_fd, EVF_READ, com_backend_readable, cp);
	if (cp->rx_ev == NULL) {
		/* Regular files and /dev/null can't be polled: treat as no input. */
		cp->rx_eof = true;
	}
	cp->rx_ev_enabled = cp->rx_ev != NULL;
	return 0;
}

/* The control socket's "info": one object per COM port. */
static void describe_consoles(struct json_out *o)
{
	for (int i = 0; i < NCOM; i++) {
		struct com_port *cp = &coms[i];

		if (!cp->active)
			continue;
		json_begin_object(o, NULL);
		json_string(o, "port", cp->name);
		if (cp->con != NULL) {
			console_describe(cp->con, o);
		} else {
			json_string(o, "type", strcmp(cp->path, "stdio") == 0 ? "stdio" : "device");
			json_string(o, "path", cp->path);
		}
		json_end_object(o);
	}
}

static int uart_lpc_init(struct vmctx *ctx)
{
	char key[32];

	for (int i = 0; i < NCOM; i++) {
		const char *path;

		snprintf(key, sizeof(key), "lpc.%s.path", coms[i].name);
		path = get_config_value(key);
		if (path != NULL && com_port_init(ctx, &coms[i], path) < 0)
			return -1;
	}
	control_set_consoles(describe_consoles);
	return 0;
}

static void uart_lpc_acpi(struct acpi_config *cfg)
{
	for (int i = 0; i < NCOM && cfg->nuarts < ACPI_MAX_UARTS; i++) {
		if (!coms[i].active)
			continue;
		cfg->uarts[cfg->nuarts++] = (struct acpi_uart){
			.name = i == 0 ? "COM1" : i == 1 ? "COM2" : i == 2 ? "COM3" : "COM4",
			.port = coms[i].port,
			.irq = coms[i].irq,
		};
	}
}

/* Give the user their terminal back and remove console names, on every way out of khyve. */
static void uart_lpc_cleanup(void)
{
	control_set_consoles(NULL);
	for (int i = 0; i < NCOM; i++) {
		console_close(coms[i].con);
		coms[i].con = NULL;
		if (coms[i].tty_saved) {
			tcsetattr(coms[i].tty_fd, TCSANOW, &coms[i].saved_tio);
			coms[i].tty_saved = false;
		}
	}
}

static struct lpc_dev uart_lpc_dev = {
	.name = "uart",
	.init = uart_lpc_init,
	.acpi = uart_lpc_acpi,
	.cleanup = uart_lpc_cleanup,
};
LPC_DEV_SET(uart_lpc_dev);
