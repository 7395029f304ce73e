/*
 * 16550A UART register model. See uart_emul.h for the contract.
 *
 * Timing is not modelled: the transmitter drains instantly (THR and shift
 * register are always empty), and received bytes are visible at once. Every
 * status the guest can observe (LSR, IIR, the interrupt line) is derived from
 * the few pieces of state below, so they cannot drift out of step.
 */
#include "hw/uart_emul.h"

#include <stdlib.h>

/* Register offsets from the port base. */
enum {
	REG_DATA = 0, /* RBR (read) / THR (write); DLL when DLAB */
	REG_IER = 1,  /* DLM when DLAB */
	REG_IIR = 2,  /* IIR (read) / FCR (write) */
	REG_LCR = 3,
	REG_MCR = 4,
	REG_LSR = 5,
	REG_MSR = 6,
	REG_SCR = 7,
};

#define IER_ERBFI 0x01 /* received data available */
#define IER_ETBEI 0x02 /* transmitter holding register empty */
#define IER_ELSI 0x04  /* receiver line status */
#define IER_EDSSI 0x08 /* modem status */
#define IER_MASK 0x0f  /* bits 4-7 read as 0 on a 16550A */

#define IIR_NO_INT 0x01
#define IIR_ID_MODEM 0x00
#define IIR_ID_THRE 0x02
#define IIR_ID_RX_DATA 0x04
#define IIR_ID_LINE 0x06
#define IIR_ID_RX_TIMEOUT 0x0c
#define IIR_FIFOS_ON 0xc0

#define FCR_ENABLE 0x01
#define FCR_CLEAR_RX 0x02
#define FCR_TRIGGER_SHIFT 6

#define LCR_DLAB 0x80

#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define MCR_MASK 0x1f /* bits 5-7 read as 0 on a 16550A */

#define LSR_DR 0x01
#define LSR_OE 0x02
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

#define MSR_DCTS 0x01
#define MSR_DDSR 0x02
#define MSR_TERI 0x04
#define MSR_DDCD 0x08
#define MSR_DELTAS 0x0f
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80

/* A fresh 16550 after reset: 9600 baud from the 1.8432 MHz clock. */
#define DIVISOR_AT_RESET 12

struct uart_emul {
	struct uart_ops ops;
	void *arg;

	uint8_t rx_fifo[UART_FIFO_SIZE]; /* ring buffer */
	unsigned int rx_head;            /* index of the oldest byte */
	unsigned int rx_count;

	bool fifos_enabled;
	uint8_t rx_trigger; /* bytes; meaningful only with FIFOs on */
	bool overrun;       /* LSR.OE, sticky until LSR is read */
	bool thre_pending;  /* THR-empty interrupt not yet acknowledged */
	uint8_t msr;        /* modem input lines (7:4) + delta bits (3:0) */

	uint8_t ier, lcr, mcr, scr, dll, dlm;
	bool irq_level; /* last level reported through ops.set_irq */
};

/* ---- receive FIFO ---------------------------------------------------- */

/* With FIFOs off the 16550 behaves as a 16450: one holding register. */
static unsigned int rx_capacity(const struct uart_emul *u)
{
	return u->fifos_enabled ? UART_FIFO_SIZE : 1;
}

static bool rx_full(const struct uart_emul *u)
{
	return u->rx_count >= rx_capacity(u);
}

static void rx_enqueue(struct uart_emul *u, uint8_t byte)
{
	unsigned int tail = (u->rx_head + u->rx_count) % UART_FIFO_SIZE;

	u->rx_fifo[tail] = byte;
	u->rx_count++;
}

static uint8_t rx_dequeue(struct uart_emul *u)
{
	uint8_t byte = u->rx_fifo[u->rx_head];

	u->rx_head = (u->rx_head + 1) % UART_FIFO_SIZE;
	u->rx_count--;
	return byte;
}

static void rx_clear(struct uart_emul *u)
{
	u->rx_head = 0;
	u->rx_count = 0;
}

/*
 * A byte arriving from the serial line: when the FIFO is full the 16550
 * flags an overrun; the new byte is lost in FIFO mode and overwrites the
 * holding register in 16450 mode.
 */
static void rx_receive_from_line(struct uart_emul *u, uint8_t byte)
{
	if (!rx_full(u)) {
		rx_enqueue(u, byte);
		return;
	}
	u->overrun = true;
	if (!u->fifos_enabled)
		u->rx_fifo[u->rx_head] = byte;
}

/* ---- interrupts ------------------------------------------------------ */

static bool loopback(const struct uart_emul *u)
{
	return (u->mcr & MCR_LOOP) != 0;
}

/* Bytes needed before "received data available" replaces the timeout. */
static unsigned int rx_trigger_level(const struct uart_emul *u)
{
	return u->fifos_enabled ? u->rx_trigger : 1;
}

/*
 * Highest-priority enabled interrupt, as the IIR identification bits.
 * With no timer, a FIFO holding fewer bytes than the trigger level reports
 * the character timeout at once; otherwise a guest waiting for the trigger
 * would never see a lone keystroke.
 */
static uint8_t pending_interrupt(const struct uart_emul *u)
{
	if ((u->ier & IER_ELSI) && u->overrun)
		return IIR_ID_LINE;
	if ((u->ier & IER_ERBFI) && u->rx_count > 0)
		return u->rx_count >= rx_trigger_level(u) ? IIR_ID_RX_DATA
							  : IIR_ID_RX_TIMEOUT;
	if ((u->ier & IER_ETBEI) && u->thre_pending)
		return IIR_ID_THRE;
	if ((u->ier & IER_EDSSI) && (u->msr & MSR_DELTAS))
		return IIR_ID_MODEM;
	return IIR_NO_INT;
}

/*
 * PC serial boards drive the IRQ through a buffer enabled by the OUT2 pin.
 * Loopback mode forces the OUT pins inactive, which closes that gate too.
 */
static bool irq_gate_open(const struct uart_emul *u)
{
	return (u->mcr & MCR_OUT2) && !loopback(u);
}

static bool compute_irq_level(const struct uart_emul *u)
{
	return pending_interrupt(u) != IIR_NO_INT && irq_gate_open(u);
}

/* Report the interrupt line only on a change of level. */
static void sync_irq(struct uart_emul *u)
{
	bool level = compute_irq_level(u);

	if (level == u->irq_level)
		return;
	u->irq_level = level;
	if (u->ops.set_irq != NULL)
		u->ops.set_irq(u->arg, level);
}

/* Tell the backend it may push again, if the guest-visible room grew. */
static void notify_if_room_grew(struct uart_emul *u, size_t room_before)
{
	if (uart_emul_rx_room(u) > room_before && u->ops.rx_space != NULL)
		u->ops.rx_space(u->arg);
}

/* ---- modem lines ----------------------------------------------------- */

/*
 * The modem inputs the guest sees: in loopback the MCR outputs are wired
 * back to the inputs (the 8250 driver's probe checks exactly this);
 * otherwise a connected, ready peer that never rings.
 */
static uint8_t modem_inputs(const struct uart_emul *u)
{
	uint8_t in = 0;

	if (!loopback(u))
		return MSR_DCD | MSR_DSR | MSR_CTS;
	if (u->mcr & MCR_DTR)
		in |= MSR_DSR;
	if (u->mcr & MCR_RTS)
		in |= MSR_CTS;
	if (u->mcr & MCR_OUT1)
		in |= MSR_RI;
	if (u->mcr & MCR_OUT2)
		in |= MSR_DCD;
	return in;
}

/* Delta bits for a change of modem inputs; RI flags only its falling edge. */
static uint8_t modem_deltas(uint8_t old_in, uint8_t new_in)
{
	uint8_t changed = old_in ^ new_in;
	uint8_t deltas = 0;

	if (changed & MSR_CTS)
		deltas |= MSR_DCTS;
	if (changed & MSR_DSR)
		deltas |= MSR_DDSR;
	if ((old_in & MSR_RI) && !(new_in & MSR_RI))
		deltas |= MSR_TERI;
	if (changed & MSR_DCD)
		deltas |= MSR_DDCD;
	return deltas;
}

static void refresh_modem_status(struct uart_emul *u)
{
	uint8_t old_in = u->msr & ~MSR_DELTAS;
	uint8_t new_in = modem_inputs(u);

	u->msr = new_in | (u->msr & MSR_DELTAS) | modem_deltas(old_in, new_in);
}

/* ---- register reads -------------------------------------------------- */

static bool dlab(const struct uart_emul *u)
{
	return (u->lcr & LCR_DLAB) != 0;
}

static uint8_t read_rbr(struct uart_emul *u)
{
	size_t room_before = uart_emul_rx_room(u);
	uint8_t byte;

	if (u->rx_count == 0)
		return 0;
	byte = rx_dequeue(u);
	sync_irq(u);
	notify_if_room_grew(u, room_before);
	return byte;
}

/* Reading IIR while it names THR-empty acknowledges that interrupt. */
static uint8_t read_iir(struct uart_emul *u)
{
	uint8_t id = pending_interrupt(u);

	if (id == IIR_ID_THRE) {
		u->thre_pending = false;
		sync_irq(u);
	}
	return id | (u->fifos_enabled ? IIR_FIFOS_ON : 0);
}

/* The transmitter never holds data: THRE and TEMT are always set. */
static uint8_t read_lsr(struct uart_emul *u)
{
	uint8_t lsr = LSR_THRE | LSR_TEMT;

	if (u->rx_count > 0)
		lsr |= LSR_DR;
	if (u->overrun) {
		lsr |= LSR_OE;
		u->overrun = false;
		sync_irq(u);
	}
	return lsr;
}

static uint8_t read_msr(struct uart_emul *u)
{
	uint8_t msr = u->msr;

	if (msr & MSR_DELTAS) {
		u->msr &= ~MSR_DELTAS;
		sync_irq(u);
	}
	return msr;
}

uint8_t uart_emul_read(struct uart_emul *u, int offset)
{
	switch (offset) {
	case REG_DATA:
		return dlab(u) ? u->dll : read_rbr(u);
	case REG_IER:
		return dlab(u) ? u->dlm : u->ier;
	case REG_IIR:
		return read_iir(u);
	case REG_LCR:
		return u->lcr;
	case REG_MCR:
		return u->mcr;
	case REG_LSR:
		return read_lsr(u);
	case REG_MSR:
		return read_msr(u);
	case REG_SCR:
		return u->scr;
	default:
		return 0xff; /* nothing decodes there: an open ISA bus */
	}
}

/* ---- register writes ------------------------------------------------- */

/*
 * The byte leaves at once (or loops back), so THR is empty again straight
 * away and a fresh THR-empty interrupt is due.
 */
static void write_thr(struct uart_emul *u, uint8_t byte)
{
	if (loopback(u))
		rx_receive_from_line(u, byte);
	else if (u->ops.tx_byte != NULL)
		u->ops.tx_byte(u->arg, byte);
	u->thre_pending = true;
	sync_irq(u);
}

/*
 * Enabling ETBEI while THR is empty raises THRE at once: Linux's 8250
 * startup tests and relies on this edge.
 */
static void write_ier(struct uart_emul *u, uint8_t value)
{
	uint8_t ier = value & IER_MASK;

	if ((ier & IER_ETBEI) && !(u->ier & IER_ETBEI))
		u->thre_pending = true;
	if (!(ier & IER_ETBEI))
		u->thre_pending = false;
	u->ier = ier;
	sync_irq(u);
}

static uint8_t trigger_bytes(uint8_t fcr)
{
	static const uint8_t levels[4] = {1, 4, 8, 14};

	return levels[(fcr >> FCR_TRIGGER_SHIFT) & 3];
}

/*
 * Switching between FIFO and 16450 mode empties the FIFOs; the clear and
 * trigger bits only take effect while FIFOs are (being) enabled. The TX
 * clear bit needs no action: the transmitter is always empty.
 */
static void write_fcr(struct uart_emul *u, uint8_t value)
{
	size_t room_before = uart_emul_rx_room(u);
	bool enable = (value & FCR_ENABLE) != 0;

	if (enable != u->fifos_enabled)
		rx_clear(u);
	u->fifos_enabled = enable;
	if (enable) {
		if (value & FCR_CLEAR_RX)
			rx_clear(u);
		u->rx_trigger = trigger_bytes(value);
	}
	sync_irq(u);
	notify_if_room_grew(u, room_before);
}

/* Loopback on/off changes the modem inputs, the IRQ gate and rx room. */
static void write_mcr(struct uart_emul *u, uint8_t value)
{
	size_t room_before = uart_emul_rx_room(u);

	u->mcr = value & MCR_MASK;
	refresh_modem_status(u);
	sync_irq(u);
	notify_if_room_grew(u, room_before);
}

void uart_emul_write(struct uart_emul *u, int offset, uint8_t value)
{
	switch (offset) {
	case REG_DATA:
		if (dlab(u))
			u->dll = value;
		else
			write_thr(u, value);
		break;
	case REG_IER:
		if (dlab(u))
			u->dlm = value;
		else
			write_ier(u, value);
		break;
	case REG_IIR:
		write_fcr(u, value); /* FCR is reachable whatever DLAB says */
		break;
	case REG_LCR:
		u->lcr = value;
		break;
	case REG_MCR:
		write_mcr(u, value);
		break;
	case REG_SCR:
		u->scr = value;
		break;
	default:
		break; /* LSR/MSR are read-only; out-of-range offsets ignored */
	}
}

void uart_emul_write_thr_burst(struct uart_emul *u, const uint8_t *buf, size_t len)
{
	/* The divisor latch and loopback give each byte its own effect. */
	if (dlab(u) || loopback(u) || u->ops.tx_bytes == NULL) {
		for (size_t i = 0; i < len; i++)
			uart_emul_write(u, REG_DATA, buf[i]);
		return;
	}
	if (len == 0)
		return;
	u->ops.tx_bytes(u->arg, buf, len);
	u->thre_pending = true;
	sync_irq(u);
}

/* ---- host side ------------------------------------------------------- */

/*
 * In loopback the receiver is cut off from the line, so the backend gets
 * no room until the guest leaves loopback (its bytes wait, rather than
 * mixing into the guest's self-test).
 */
size_t uart_emul_rx_room(const struct uart_emul *u)
{
	if (loopback(u))
		return 0;
	return rx_capacity(u) - u->rx_count;
}

size_t uart_emul_rx_push(struct uart_emul *u, const uint8_t *buf, size_t len)
{
	size_t room = uart_emul_rx_room(u);
	size_t accepted = len < room ? len : room;

	for (size_t i = 0; i < accepted; i++)
		rx_enqueue(u, buf[i]);
	if (accepted > 0)
		sync_irq(u);
	return accepted;
}

bool uart_emul_irq_level(const struct uart_emul *u)
{
	return u->irq_level;
}

/* ---- lifecycle ------------------------------------------------------- */

/* Power-on register state; reports nothing to the ops. */
static void reset_registers(struct uart_emul *u)
{
	rx_clear(u);
	u->fifos_enabled = false;
	u->rx_trigger = 1;
	u->overrun = false;
	u->thre_pending = false;
	u->ier = 0;
	u->lcr = 0;
	u->mcr = 0;
	u->scr = 0;
	u->dll = DIVISOR_AT_RESET;
	u->dlm = 0;
	u->msr = modem_inputs(u);
}

struct uart_emul *uart_emul_create(const struct uart_ops *ops, void *arg)
{
	struct uart_emul *u;

	if (ops == NULL)
		return NULL;
	u = calloc(1, sizeof(*u));
	if (u == NULL)
		return NULL;
	u->ops = *ops;
	u->arg = arg;
	reset_registers(u);
	return u;
}

void uart_emul_destroy(struct uart_emul *u)
{
	free(u);
}

void uart_emul_reset(struct uart_emul *u)
{
	size_t room_before = uart_emul_rx_room(u);

	reset_registers(u);
	sync_irq(u);
	notify_if_room_grew(u, room_before);
}
