/*
 * 16550A UART register model (uart_emul.c). Pure device logic: no file
 * descriptors, no threads. The LPC glue (uart_lpc.c) maps it at a COM port,
 * wires its interrupt to an ISA IRQ and connects a host backend.
 *
 * Locking: the model has no lock of its own; callers (vCPU threads doing port
 * I/O, the event loop feeding received bytes) serialise through the glue's
 * per-port mutex.
 */
#ifndef KHYVE_UART_EMUL_H
#define KHYVE_UART_EMUL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UART_IO_BAR_SIZE 8
#define UART_FIFO_SIZE 16

struct uart_ops {
	/* Interrupt line level changed (true = asserted). */
	void (*set_irq)(void *arg, bool level);
	/* Guest transmitted one byte (THR write, not in loopback mode). */
	void (*tx_byte)(void *arg, uint8_t byte);
	/* Several, from uart_emul_write_thr_burst. May be NULL (tx_byte each). */
	void (*tx_bytes)(void *arg, const uint8_t *buf, size_t len);
	/*
	 * The receive FIFO gained room (guest read RBR or reset FIFO): the
	 * backend may push more bytes. May be NULL.
	 */
	void (*rx_space)(void *arg);
};

struct uart_emul;

struct uart_emul *uart_emul_create(const struct uart_ops *ops, void *arg);
void uart_emul_destroy(struct uart_emul *u);
/* Back to power-on state (IER=0, LCR=0, FIFOs empty, ...). */
void uart_emul_reset(struct uart_emul *u);

/* Register access; offset 0..7 relative to the port base, DLAB honoured. */
uint8_t uart_emul_read(struct uart_emul *u, int offset);
void uart_emul_write(struct uart_emul *u, int offset, uint8_t value);
/*
 * len writes to offset 0 in a row (what a coalesced port queued): the same
 * as len uart_emul_write calls, with the bytes sent together.
 */
void uart_emul_write_thr_burst(struct uart_emul *u, const uint8_t *buf, size_t len);

/*
 * Free room in the receive FIFO (0 when full). Also 0 while the guest has the
 * UART in loopback mode, where the receiver is disconnected from the line;
 * rx_space fires when it leaves loopback.
 */
size_t uart_emul_rx_room(const struct uart_emul *u);
/*
 * Host bytes arriving for the guest. Returns how many were accepted (stops at
 * a full FIFO: the caller keeps the rest and retries after rx_space).
 */
size_t uart_emul_rx_push(struct uart_emul *u, const uint8_t *buf, size_t len);

/*
 * Current level of the interrupt output, as last reported through set_irq
 * (e.g. for the glue to re-assert a line after re-wiring).
 */
bool uart_emul_irq_level(const struct uart_emul *u);

#endif
