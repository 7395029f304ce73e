/*
 * Unit tests for the 16550A register model (src/hw/uart_emul.c): register
 * semantics, interrupts, FIFO behaviour, loopback, the Linux 8250 probe
 * sequence, and a random register-access fuzz loop checking invariants.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "hw/uart_emul.h"

enum { RBR = 0, THR = 0, DLL = 0, IER = 1, DLM = 1, IIR = 2, FCR = 2,
       LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7 };

#define IIR_NONE 0x01
#define IIR_MODEM 0x00
#define IIR_THRE 0x02
#define IIR_RDA 0x04
#define IIR_LINE 0x06
#define IIR_TIMEOUT 0x0c
#define IIR_FIFO 0xc0

/* ---- fixture: records everything the model reports ------------------- */

struct backend {
	struct uart_emul *uart;
	bool irq;
	int irq_changes;
	bool irq_repeated; /* set_irq called without a level change */
	uint8_t tx[512];
	size_t tx_len;
	int rx_space_calls;
	/* Host bytes waiting for room, pushed from rx_space like the glue. */
	const uint8_t *pending;
	size_t pending_len;
};

static void record_irq(void *arg, bool level)
{
	struct backend *b = arg;

	if (level == b->irq)
		b->irq_repeated = true;
	b->irq = level;
	b->irq_changes++;
}

static void record_tx(void *arg, uint8_t byte)
{
	struct backend *b = arg;

	if (b->tx_len < sizeof(b->tx))
		b->tx[b->tx_len++] = byte;
}

static void push_pending(struct backend *b)
{
	size_t n = uart_emul_rx_push(b->uart, b->pending, b->pending_len);

	b->pending += n;
	b->pending_len -= n;
}

static void record_rx_space(void *arg)
{
	struct backend *b = arg;

	b->rx_space_calls++;
	if (b->pending_len > 0)
		push_pending(b);
}

static const struct uart_ops recording_ops = {
	.set_irq = record_irq,
	.tx_byte = record_tx,
	.rx_space = record_rx_space,
};

static int setup(void **state)
{
	struct backend *b = test_calloc(1, sizeof(*b));

	b->uart = uart_emul_create(&recording_ops, b);
	if (b->uart == NULL)
		return -1;
	*state = b;
	return 0;
}

static int teardown(void **state)
{
	struct backend *b = *state;

	assert_false(b->irq_repeated);
	uart_emul_destroy(b->uart);
	test_free(b);
	return 0;
}

static uint8_t rd(struct backend *b, int offset)
{
	return uart_emul_read(b->uart, offset);
}

static void wr(struct backend *b, int offset, uint8_t value)
{
	uart_emul_write(b->uart, offset, value);
}

static size_t push_str(struct backend *b, const char *s)
{
	return uart_emul_rx_push(b->uart, (const uint8_t *)s, strlen(s));
}

/* ---- reset and plain registers ---------------------------------------- */

static void test_reset_values(void **state)
{
	struct backend *b = *state;

	assert_int_equal(rd(b, IER), 0x00);
	assert_int_equal(rd(b, IIR), 0x01);
	assert_int_equal(rd(b, LCR), 0x00);
	assert_int_equal(rd(b, MCR), 0x00);
	assert_int_equal(rd(b, LSR), 0x60);
	assert_int_equal(rd(b, MSR), 0xb0); /* DCD|DSR|CTS, no deltas */
	assert_int_equal(rd(b, SCR), 0x00);
	assert_int_equal(uart_emul_rx_room(b->uart), 1); /* FIFO off */
	assert_false(uart_emul_irq_level(b->uart));
	assert_int_equal(b->irq_changes, 0);
}

static void test_reset_restores_power_on_state(void **state)
{
	struct backend *b = *state;

	wr(b, FCR, 0xc7);
	wr(b, LCR, 0x1b);
	wr(b, SCR, 0x5a);
	wr(b, MCR, 0x0b);
	wr(b, IER, 0x0f);
	push_str(b, "abc");
	assert_true(b->irq);

	uart_emul_reset(b->uart);
	assert_false(b->irq); /* the line dropped through set_irq */
	assert_int_equal(rd(b, LCR), 0x00);
	assert_int_equal(rd(b, IER), 0x00);
	assert_int_equal(rd(b, MCR), 0x00);
	assert_int_equal(rd(b, IIR), 0x01);
	assert_int_equal(rd(b, LSR), 0x60);
	assert_int_equal(rd(b, SCR), 0x00);
	assert_int_equal(uart_emul_rx_room(b->uart), 1);
}

static void test_dlab_divisor_latch(void **state)
{
	struct backend *b = *state;

	wr(b, IER, 0x05);
	wr(b, LCR, 0x83);
	wr(b, DLL, 0x01);
	wr(b, DLM, 0x02);
	assert_int_equal(rd(b, DLL), 0x01);
	assert_int_equal(rd(b, DLM), 0x02);
	assert_int_equal(b->tx_len, 0); /* DLL write was not a THR write */

	wr(b, LCR, 0x03);
	assert_int_equal(rd(b, IER), 0x05); /* IER untouched by DLM */
	assert_int_equal(rd(b, LCR), 0x03);

	wr(b, LCR, 0x80); /* the latch keeps its value */
	assert_int_equal(rd(b, DLL), 0x01);
	assert_int_equal(rd(b, DLM), 0x02);
}

static void test_dlab_read_does_not_drain_rbr(void **state)
{
	struct backend *b = *state;

	push_str(b, "x");
	wr(b, LCR, 0x80);
	rd(b, DLL);
	wr(b, LCR, 0x00);
	assert_int_equal(rd(b, LSR) & 0x01, 0x01);
	assert_int_equal(rd(b, RBR), 'x');
}

static void test_scratch_register(void **state)
{
	struct backend *b = *state;

	for (int v = 0; v < 256; v++) {
		wr(b, SCR, (uint8_t)v);
		assert_int_equal(rd(b, SCR), v);
	}
}

static void test_ier_upper_bits_read_zero(void **state)
{
	struct backend *b = *state;

	/* Linux would take a writable IER bit 6 for an XScale UART. */
	wr(b, IER, 0xff);
	assert_int_equal(rd(b, IER), 0x0f);
}

static void test_mcr_upper_bits_read_zero(void **state)
{
	struct backend *b = *state;

	wr(b, MCR, 0xef);
	assert_int_equal(rd(b, MCR), 0x0f);
}

static void test_lcr_full_width(void **state)
{
	struct backend *b = *state;

	wr(b, LCR, 0x7f);
	assert_int_equal(rd(b, LCR), 0x7f);
}

static void test_lsr_msr_writes_ignored(void **state)
{
	struct backend *b = *state;

	wr(b, LSR, 0x00);
	wr(b, MSR, 0x00);
	assert_int_equal(rd(b, LSR), 0x60);
	assert_int_equal(rd(b, MSR), 0xb0);
}

static void test_bad_offsets(void **state)
{
	struct backend *b = *state;
	const int bad[] = {-1, 8, 9, 100, -1000, 1 << 30};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(rd(b, bad[i]), 0xff);
		wr(b, bad[i], 0x00);
		wr(b, bad[i], 0xff);
	}
	assert_int_equal(rd(b, LSR), 0x60);
	assert_int_equal(rd(b, IIR), 0x01);
	assert_int_equal(b->tx_len, 0);
	assert_int_equal(b->irq_changes, 0);
}

/* ---- transmit and THR-empty interrupt --------------------------------- */

static void test_thr_write_calls_tx_byte(void **state)
{
	struct backend *b = *state;

	wr(b, THR, 'h');
	wr(b, THR, 'i');
	wr(b, THR, 0x00);
	assert_int_equal(b->tx_len, 3);
	assert_memory_equal(b->tx, "hi\0", 3);
	assert_int_equal(rd(b, LSR), 0x60); /* instantly empty again */
}

static void test_thre_raised_on_etbei_set(void **state)
{
	struct backend *b = *state;

	wr(b, IER, 0x02);
	assert_int_equal(rd(b, IIR), IIR_THRE);
	/* That read acknowledged it. */
	assert_int_equal(rd(b, IIR), IIR_NONE);
}

static void test_thre_not_reraised_by_rewriting_ier(void **state)
{
	struct backend *b = *state;

	wr(b, IER, 0x02);
	rd(b, IIR);
	wr(b, IER, 0x02); /* no 0->1 edge */
	assert_int_equal(rd(b, IIR), IIR_NONE);
}

static void test_thre_reraised_after_ier_toggle(void **state)
{
	struct backend *b = *state;

	/* Linux 8250 startup: without this it sets UART_BUG_THRE. */
	wr(b, IER, 0x02);
	assert_int_equal(rd(b, IIR) & 0x01, 0);
	wr(b, IER, 0x00);
	wr(b, IER, 0x02);
	assert_int_equal(rd(b, IIR), IIR_THRE);
}

static void test_thre_raised_by_thr_write(void **state)
{
	struct backend *b = *state;

	wr(b, IER, 0x02);
	rd(b, IIR);
	wr(b, THR, 'a');
	assert_int_equal(rd(b, IIR), IIR_THRE);
	assert_int_equal(rd(b, IIR), IIR_NONE);
}

static void test_thre_dropped_when_etbei_cleared(void **state)
{
	struct backend *b = *state;

	wr(b, MCR, 0x08);
	wr(b, IER, 0x02);
	assert_true(b->irq);
	wr(b, IER, 0x00);
	assert_false(b->irq);
	assert_int_equal(rd(b, IIR), IIR_NONE);
}

static void test_irq_gated_by_out2(void **state)
{
	struct backend *b = *state;

	wr(b, IER, 0x02);
	assert_false(b->irq); /* pending, but OUT2 is off */
	assert_int_equal(b->irq_changes, 0);

	wr(b, MCR, 0x08);
	assert_true(b->irq);
	assert_true(uart_emul_irq_level(b->uart));

	wr(b, MCR, 0x00);
	assert_false(b->irq);
	wr(b, MCR, 0x0b);
	assert_true(b->irq);

	rd(b, IIR); /* acknowledge THRE */
	assert_false(b->irq);
	assert_int_equal(b->irq_changes, 4);
}

static void test_set_irq_only_on_change(void **state)
{
	struct backend *b = *state;

	wr(b, MCR, 0x08);
	wr(b, IER, 0x03);
	assert_int_equal(b->irq_changes, 1);
	push_str(b, "a"); /* RX joins THRE: still one asserted line */
	wr(b, SCR, 1);
	rd(b, LSR);
	assert_int_equal(b->irq_changes, 1);
	/* teardown checks no call repeated a level */
}

static void test_tx_txen_probe_sees_interrupt(void **state)
{
	struct backend *b = *state;

	/* Linux's UART_BUG_TXEN test: IER=THRI, read LSR then IIR. */
	wr(b, IER, 0x02);
	uint8_t lsr = rd(b, LSR);
	uint8_t iir = rd(b, IIR);
	wr(b, IER, 0x00);
	assert_true(lsr & 0x40);
	assert_int_equal(iir & 0x01, 0);
}

/* ---- receive ---------------------------------------------------------- */

static void test_rx_push_sets_dr(void **state)
{
	struct backend *b = *state;

	assert_int_equal(push_str(b, "k"), 1);
	assert_int_equal(rd(b, LSR), 0x61);
	assert_int_equal(rd(b, RBR), 'k');
	assert_int_equal(rd(b, LSR), 0x60);
}

static void test_rx_empty_read_returns_zero(void **state)
{
	struct backend *b = *state;

	assert_int_equal(rd(b, RBR), 0);
	assert_int_equal(b->rx_space_calls, 0);
}

static void test_rx_push_zero_length(void **state)
{
	struct backend *b = *state;

	assert_int_equal(uart_emul_rx_push(b->uart, NULL, 0), 0);
	assert_int_equal(rd(b, LSR), 0x60);
}

static void test_rx_fifo_off_holds_one_byte(void **state)
{
	struct backend *b = *state;

	assert_int_equal(push_str(b, "abc"), 1);
	assert_int_equal(uart_emul_rx_room(b->uart), 0);
	assert_int_equal(push_str(b, "d"), 0);
	assert_int_equal(rd(b, LSR) & 0x02, 0); /* no overrun: refused */
	assert_int_equal(rd(b, RBR), 'a');
}

static void test_rx_fifo_on_holds_sixteen(void **state)
{
	struct backend *b = *state;
	const char *s = "0123456789abcdefXYZ";

	wr(b, FCR, 0x01);
	assert_int_equal(uart_emul_rx_room(b->uart), 16);
	assert_int_equal(push_str(b, s), 16);
	assert_int_equal(uart_emul_rx_room(b->uart), 0);
	assert_int_equal(push_str(b, "Q"), 0);
	assert_int_equal(rd(b, LSR), 0x61);
}

static void test_rx_reads_drain_in_order(void **state)
{
	struct backend *b = *state;
	const char *s = "0123456789abcdef";

	wr(b, FCR, 0x01);
	push_str(b, s);
	for (int i = 0; i < 16; i++) {
		assert_int_equal(rd(b, LSR) & 0x01, 0x01);
		assert_int_equal(rd(b, RBR), s[i]);
	}
	assert_int_equal(rd(b, LSR) & 0x01, 0x00);
}

static void test_rx_ring_wraps(void **state)
{
	struct backend *b = *state;
	uint8_t next_in = 0, next_out = 0;

	wr(b, FCR, 0x01);
	for (int round = 0; round < 100; round++) {
		while (uart_emul_rx_room(b->uart) > 5) {
			assert_int_equal(uart_emul_rx_push(b->uart, &next_in, 1), 1);
			next_in++;
		}
		for (int i = 0; i < 7; i++)
			assert_int_equal(rd(b, RBR), next_out++);
	}
}

static void test_rx_interrupt_fifo_off(void **state)
{
	struct backend *b = *state;

	wr(b, MCR, 0x08);
	wr(b, IER, 0x01);
	assert_false(b->irq);
	push_str(b, "z");
	assert_true(b->irq);
	assert_int_equal(rd(b, IIR), IIR_RDA); /* no FIFO bits, no timeout */
	rd(b, RBR);
	assert_false(b->irq);
	assert_int_equal(rd(b, IIR), IIR_NONE);
}

static void test_rx_trigger_level_and_timeout(void **state)
{
	struct backend *b = *state;

	wr(b, FCR, 0x81); /* trigger at 8 */
	wr(b, MCR, 0x08);
	wr(b, IER, 0x01);
	push_str(b, "1234567");
	assert_true(b->irq);
	assert_int_equal(rd(b, IIR), IIR_FIFO | IIR_TIMEOUT);
	push_str(b, "8");
	assert_int_equal(rd(b, IIR), IIR_FIFO | IIR_RDA);
	rd(b, RBR); /* back below trigger */
	assert_int_equal(rd(b, IIR), IIR_FIFO | IIR_TIMEOUT);
	for (int i = 0; i < 7; i++)
		rd(b, RBR);
	assert_int_equal(rd(b, IIR), IIR_FIFO | IIR_NONE);
	assert_false(b->irq);
}

static void test_rx_trigger_levels(void **state)
{
	struct backend *b = *state;
	const struct { uint8_t fcr; int level; } cases[] = {
		{0x01, 1}, {0x41, 4}, {0x81, 8}, {0xc1, 14},
	};

	wr(b, IER, 0x01);
	for (size_t c = 0; c < 4; c++) {
		wr(b, FCR, cases[c].fcr | 0x02);
		for (int n = 1; n <= 16; n++) {
			uint8_t byte = (uint8_t)n;
			uart_emul_rx_push(b->uart, &byte, 1);
			uint8_t want = n >= cases[c].level ? IIR_RDA
							    : IIR_TIMEOUT;
			assert_int_equal(rd(b, IIR), IIR_FIFO | want);
		}
	}
}

static void test_single_keystroke_reaches_linux(void **state)
{
	struct backend *b = *state;

	/* Linux default: FIFO on, trigger 8, RX interrupts, OUT2. */
	wr(b, FCR, 0x87);
	wr(b, MCR, 0x0b);
	wr(b, IER, 0x05);
	push_str(b, "q");
	assert_true(b->irq);
	assert_int_equal(rd(b, IIR) & 0x0f, IIR_TIMEOUT);
}

static void test_rx_space_after_read(void **state)
{
	struct backend *b = *state;

	push_str(b, "a");
	assert_int_equal(b->rx_space_calls, 0);
	rd(b, RBR);
	assert_int_equal(b->rx_space_calls, 1);
	rd(b, RBR); /* empty: nothing freed */
	assert_int_equal(b->rx_space_calls, 1);
}

static void test_rx_space_refill_from_callback(void **state)
{
	struct backend *b = *state;
	char text[41];
	char got[41] = {0};

	for (int i = 0; i < 40; i++)
		text[i] = (char)('A' + i % 26);
	text[40] = '\0';
	b->pending = (const uint8_t *)text;
	b->pending_len = 40;

	wr(b, FCR, 0x01);
	push_pending(b);
	for (int i = 0; i < 40; i++) {
		assert_int_equal(rd(b, LSR) & 0x01, 0x01);
		got[i] = (char)rd(b, RBR);
	}
	assert_string_equal(got, text);
	assert_int_equal(b->pending_len, 0);
	assert_int_equal(rd(b, LSR) & 0x01, 0x00);
}

static void test_fcr_clear_rx(void **state)
{
	struct backend *b = *state;

	wr(b, FCR, 0x01);
	wr(b, MCR, 0x08);
	wr(b, IER, 0x01);
	push_str(b, "abcdef");
	assert_true(b->irq);
	b->rx_space_calls = 0;
	wr(b, FCR, 0x03);
	assert_int_equal(rd(b, LSR), 0x60);
	assert_int_equal(uart_emul_rx_room(b->uart), 16);
	assert_int_equal(b->rx_space_calls, 1);
	assert_false(b->irq);
}

static void test_fcr_clear_ignored_without_enable(void **state)
{
	struct backend *b = *state;

	push_str(b, "a"); /* 16450 mode */
	wr(b, FCR, 0x02);
	assert_int_equal(rd(b, LSR) & 0x01, 0x01);
}

static void test_fcr_mode_switch_empties_fifo(void **state)
{
	struct backend *b = *state;

	wr(b, FCR, 0x01);
	push_str(b, "abcd");
	wr(b, FCR, 0x00);
	assert_int_equal(rd(b, LSR) & 0x01, 0x00);
	assert_int_equal(uart_emul_rx_room(b->uart), 1);
	assert_int_equal(rd(b, IIR) & IIR_FIFO, 0);

	push_str(b, "e");
	wr(b, FCR, 0x01);
	assert_int_equal(rd(b, LSR) & 0x01, 0x00);
	assert_int_equal(uart_emul_rx_room(b->uart), 16);
}

static void test_fcr_enable_keeps_fifo_contents(void **state)
{
	struct backend *b = *state;

	wr(b, FCR, 0x01);
	push_str(b, "ab");
	wr(b, FCR, 0xc1); /* retune trigger only */
	assert_int_equal(rd(b, RBR), 'a');
}

static void test_iir_fifo_bits(void **state)
{
	struct backend *b = *state;

	assert_int_equal(rd(b, IIR) & IIR_FIFO, 0);
	wr(b, FCR, 0x01);
	assert_int_equal(rd(b, IIR), IIR_FIFO | IIR_NONE);
	wr(b, LCR, 0x80); /* FCR/IIR ignore DLAB */
	assert_int_equal(rd(b, IIR), IIR_FIFO | IIR_NONE);
	wr(b, FCR, 0x00);
	assert_int_equal(rd(b, IIR), IIR_NONE);
}

/* ---- priorities and line status --------------------------------------- */

static void test_priority_rx_over_thre(void **state)
{
	struct backend *b = *state;

	wr(b, IER, 0x03);
	push_str(b, "r");
	assert_int_equal(rd(b, IIR), IIR_RDA);
	assert_int_equal(rd(b, IIR), IIR_RDA); /* did not ack THRE */
	rd(b, RBR);
	assert_int_equal(rd(b, IIR), IIR_THRE);
	assert_int_equal(rd(b, IIR), IIR_NONE);
}

static void test_priority_thre_over_modem(void **state)
{
	struct backend *b = *state;

	wr(b, MCR, 0x10); /* loopback: inputs drop, deltas appear */
	wr(b, IER, 0x0a);
	assert_int_equal(rd(b, IIR), IIR_THRE);
	assert_int_equal(rd(b, IIR), IIR_MODEM);
	rd(b, MSR);
	assert_int_equal(rd(b, IIR), IIR_NONE);
}

static void fill_loopback_to_overrun(struct backend *b)
{
	wr(b, FCR, 0x01);
	wr(b, MCR, 0x10);
	for (int i = 0; i < 17; i++)
		wr(b, THR, (uint8_t)i);
}

static void test_loopback_overrun_sets_oe(void **state)
{
	struct backend *b = *state;

	fill_loopback_to_overrun(b);
	assert_int_equal(rd(b, LSR), 0x63);
	assert_int_equal(rd(b, LSR), 0x61); /* OE cleared by the read */
	for (int i = 0; i < 16; i++) /* the 17th byte was lost */
		assert_int_equal(rd(b, RBR), i);
	assert_int_equal(rd(b, LSR), 0x60);
}

static void test_overrun_16450_mode_overwrites(void **state)
{
	struct backend *b = *state;

	wr(b, MCR, 0x10);
	wr(b, THR, 'a');
	wr(b, THR, 'b');
	assert_int_equal(rd(b, LSR), 0x63);
	assert_int_equal(rd(b, RBR), 'b');
}

static void test_priority_line_status_first(void **state)
{
	struct backend *b = *state;

	fill_loopback_to_overrun(b);
	wr(b, IER, 0x0f);
	assert_int_equal(rd(b, IIR), IIR_FIFO | IIR_LINE);
	rd(b, LSR);
	assert_int_equal(rd(b, IIR), IIR_FIFO | IIR_RDA);
}

/* ---- loopback and modem status ---------------------------------------- */

static void test_loopback_echoes_thr(void **state)
{
	struct backend *b = *state;

	wr(b, FCR, 0x01);
	wr(b, MCR, 0x10);
	wr(b, THR, 'L');
	wr(b, THR, 'b');
	assert_int_equal(b->tx_len, 0);
	assert_int_equal(rd(b, LSR), 0x61);
	assert_int_equal(rd(b, RBR), 'L');
	assert_int_equal(rd(b, RBR), 'b');

	wr(b, MCR, 0x00);
	wr(b, THR, 'o');
	assert_int_equal(b->tx_len, 1);
	assert_int_equal(rd(b, LSR) & 0x01, 0x00);
}

static void test_loopback_msr_mirrors_mcr(void **state)
{
	struct backend *b = *state;
	const struct { uint8_t mcr, msr; } cases[] = {
		{0x10, 0x00}, {0x11, 0x20}, {0x12, 0x10}, {0x14, 0x40},
		{0x18, 0x80}, {0x1a, 0x90}, {0x1f, 0xf0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		wr(b, MCR, cases[i].mcr);
		assert_int_equal(rd(b, MSR) & 0xf0, cases[i].msr);
	}
	wr(b, MCR, 0x00);
	assert_int_equal(rd(b, MSR) & 0xf0, 0xb0);
}

static void test_msr_deltas(void **state)
{
	struct backend *b = *state;

	wr(b, MCR, 0x1f); /* all inputs up; DCD/DSR/CTS unchanged, RI rose */
	assert_int_equal(rd(b, MSR), 0xf0);
	wr(b, MCR, 0x10); /* all drop: RI trailing edge too */
	assert_int_equal(rd(b, MSR), 0x0f);
	assert_int_equal(rd(b, MSR), 0x00); /* read clears deltas */
	wr(b, MCR, 0x12);
	assert_int_equal(rd(b, MSR), 0x11);
}

static void test_modem_status_interrupt(void **state)
{
	struct backend *b = *state;

	wr(b, IER, 0x08);
	assert_int_equal(rd(b, IIR), IIR_NONE);
	wr(b, MCR, 0x18); /* loopback DCD stays up; DSR, CTS drop */
	assert_int_equal(rd(b, IIR), IIR_MODEM);
	assert_int_equal(rd(b, MSR), 0x83);
	assert_int_equal(rd(b, IIR), IIR_NONE);
}

static void test_loopback_gates_irq(void **state)
{
	struct backend *b = *state;

	wr(b, MCR, 0x08);
	wr(b, IER, 0x02);
	assert_true(b->irq);
	wr(b, MCR, 0x18); /* OUT2 pin forced inactive in loopback */
	assert_false(b->irq);
	assert_int_equal(rd(b, IIR), IIR_THRE); /* still pending inside */
	wr(b, THR, 'x');
	wr(b, MCR, 0x08);
	assert_true(b->irq);
}

static void test_loopback_refuses_host_bytes(void **state)
{
	struct backend *b = *state;

	wr(b, FCR, 0x01);
	wr(b, MCR, 0x10);
	b->rx_space_calls = 0;
	assert_int_equal(uart_emul_rx_room(b->uart), 0);
	assert_int_equal(push_str(b, "host"), 0);
	wr(b, THR, 'g');
	assert_int_equal(rd(b, RBR), 'g');
	assert_int_equal(b->rx_space_calls, 0);

	wr(b, MCR, 0x00); /* line reconnected: backend may push */
	assert_int_equal(b->rx_space_calls, 1);
	assert_int_equal(uart_emul_rx_room(b->uart), 16);
	assert_int_equal(push_str(b, "host"), 4);
}

/* ---- the Linux 8250 autoconfig sequence, end to end ------------------- */

static int linux_size_fifo(struct backend *b)
{
	int count = 0;

	wr(b, FCR, 0x07);
	wr(b, MCR, 0x10);
	wr(b, LCR, 0x80);
	wr(b, DLL, 0x01);
	wr(b, DLM, 0x00);
	wr(b, LCR, 0x03);
	for (int i = 0; i < 256; i++)
		wr(b, THR, (uint8_t)i);
	while ((rd(b, LSR) & 0x01) && count < 256) {
		rd(b, RBR);
		count++;
	}
	wr(b, MCR, 0x00);
	return count;
}

static void test_linux_autoconfig_finds_16550a(void **state)
{
	struct backend *b = *state;

	/* IER existence test */
	wr(b, IER, 0x00);
	assert_int_equal(rd(b, IER) & 0x0f, 0x00);
	wr(b, IER, 0x0f);
	assert_int_equal(rd(b, IER) & 0x0f, 0x0f);
	wr(b, IER, 0x00);

	/* loopback test */
	wr(b, MCR, 0x10 | 0x0a);
	assert_int_equal(rd(b, MSR) & 0xf0, 0x90);
	wr(b, MCR, 0x00);

	/* EFR init then FIFO type from IIR[7:6] */
	wr(b, LCR, 0xbf);
	wr(b, FCR, 0x00);
	wr(b, LCR, 0x00);
	wr(b, FCR, 0x01);
	assert_int_equal(rd(b, IIR) >> 6, 3);

	/* Not a 16650: EFR reads are IIR here, non-zero. */
	wr(b, LCR, 0x80);
	assert_int_not_equal(rd(b, IIR), 0);
	wr(b, LCR, 0xbf);
	assert_int_not_equal(rd(b, IIR), 0);

	/* Not a 16750: IIR bit 5 never reports a 64-byte FIFO. */
	wr(b, LCR, 0x00);
	wr(b, FCR, 0x21);
	assert_int_equal(rd(b, IIR) >> 5, 6);
	wr(b, FCR, 0x01);
	wr(b, LCR, 0x80);
	wr(b, FCR, 0x21);
	assert_int_equal(rd(b, IIR) >> 5, 6);
	wr(b, LCR, 0x00);

	/* Not an XScale: IER bit 6 does not stick. */
	wr(b, IER, 0x40);
	assert_int_equal(rd(b, IER) & 0x40, 0);
	wr(b, IER, 0x00);

	assert_int_equal(linux_size_fifo(b), 16);
	assert_int_equal(b->tx_len, 0); /* nothing leaked to the host */
}

/* ---- fuzz ------------------------------------------------------------- */

static uint32_t xorshift32(uint32_t *s)
{
	uint32_t x = *s;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*s = x;
	return x;
}

/*
 * IIR's returned value describes the state before the read's own side
 * effect, so it can be compared with the line level observed before it.
 */
static void check_irq_matches_iir(struct backend *b)
{
	uint8_t mcr = rd(b, MCR);
	bool level_before = b->irq;
	uint8_t iir = rd(b, IIR);
	bool expect = !(iir & 0x01) && (mcr & 0x08) && !(mcr & 0x10);

	assert_int_equal(level_before, expect);
	assert_int_equal(iir & 0x30, 0);
	assert_true((iir & 0xc0) == 0 || (iir & 0xc0) == 0xc0);
}

static void fuzz_step(struct backend *b, uint32_t *seed)
{
	uint32_t r = xorshift32(seed);
	int offset = (int)(r % 10) - 1; /* includes -1 and 8 */
	uint8_t value = (uint8_t)(r >> 8);
	uint8_t buf[24];
	size_t len, room, accepted;

	switch ((r >> 16) % 4) {
	case 0:
		uart_emul_write(b->uart, offset, value);
		break;
	case 1:
		uart_emul_read(b->uart, offset);
		break;
	case 2:
		len = (r >> 20) % sizeof(buf);
		memset(buf, value, len);
		room = uart_emul_rx_room(b->uart);
		accepted = uart_emul_rx_push(b->uart, buf, len);
		assert_int_equal(accepted, len < room ? len : room);
		break;
	default:
		check_irq_matches_iir(b);
		break;
	}
	if ((r >> 28) == 0 && (r & 0x3ff) == 0)
		uart_emul_reset(b->uart);
	assert_in_range(uart_emul_rx_room(b->uart), 0, UART_FIFO_SIZE);
	assert_int_equal(uart_emul_irq_level(b->uart), b->irq);
}

static void test_fuzz_register_access(void **state)
{
	struct backend *b = *state;
	uint32_t seed = 0x16550a;

	for (int i = 0; i < 100000; i++) {
		fuzz_step(b, &seed);
		b->tx_len = 0; /* keep the log from filling */
	}
	assert_false(b->irq_repeated);
}

/* ---- API edges -------------------------------------------------------- */

static void test_null_callbacks_tolerated(void **state)
{
	const struct uart_ops no_ops = {0};
	struct uart_emul *u = uart_emul_create(&no_ops, NULL);
	uint8_t byte = 'n';

	assert_non_null(u);
	uart_emul_write(u, MCR, 0x08);
	uart_emul_write(u, IER, 0x0f);
	uart_emul_write(u, THR, 'x');
	assert_int_equal(uart_emul_rx_push(u, &byte, 1), 1);
	assert_int_equal(uart_emul_read(u, RBR), 'n');
	assert_true(uart_emul_irq_level(u)); /* THRE */
	uart_emul_reset(u);
	assert_false(uart_emul_irq_level(u));
	uart_emul_destroy(u);
}

/* ---- coalesced THR writes (uart_emul_write_thr_burst) ------------------ */

static int tx_bytes_calls;

static void record_tx_bytes(void *arg, const uint8_t *buf, size_t len)
{
	struct backend *b = arg;

	tx_bytes_calls++;
	for (size_t i = 0; i < len && b->tx_len < sizeof(b->tx); i++)
		b->tx[b->tx_len++] = buf[i];
}

static const struct uart_ops burst_ops = {
	.set_irq = record_irq,
	.tx_byte = record_tx,
	.tx_bytes = record_tx_bytes,
	.rx_space = record_rx_space,
};

static int setup_burst(void **state)
{
	struct backend *b = test_calloc(1, sizeof(*b));

	tx_bytes_calls = 0;
	b->uart = uart_emul_create(&burst_ops, b);
	if (b->uart == NULL)
		return -1;
	*state = b;
	return 0;
}

static void burst(struct backend *b, const char *s)
{
	uart_emul_write_thr_burst(b->uart, (const uint8_t *)s, strlen(s));
}

/* A burst leaves the backend in one call, in order, and THR empty. */
static void test_burst_sends_once(void **state)
{
	struct backend *b = *state;

	burst(b, "hello, world");
	assert_int_equal(tx_bytes_calls, 1);
	assert_int_equal(b->tx_len, 12);
	assert_memory_equal(b->tx, "hello, world", 12);
	assert_int_equal(rd(b, LSR), 0x60);
	uart_emul_write_thr_burst(b->uart, NULL, 0);
	assert_int_equal(tx_bytes_calls, 1);
}

/* The interrupt a burst leaves is the one its last byte would. */
static void test_burst_raises_thre_like_writes(void **state)
{
	struct backend *b = *state;

	wr(b, MCR, 0x08); /* OUT2: the PC's interrupt gate */
	wr(b, IER, 0x02);
	assert_true(b->irq);
	assert_int_equal(rd(b, IIR) & 0x0f, IIR_THRE); /* reading IIR acknowledges THRE */
	assert_false(b->irq);
	burst(b, "abc");
	assert_true(b->irq);
	assert_int_equal(rd(b, IIR) & 0x0f, IIR_THRE);
	assert_false(b->irq);
	wr(b, IER, 0x00);
	burst(b, "d");
	assert_false(b->irq);
	assert_int_equal(rd(b, IIR) & 0x0f, IIR_NONE);
}

/* With the divisor latch open the bytes set DLL; none reaches the line. */
static void test_burst_under_dlab_sets_divisor(void **state)
{
	struct backend *b = *state;

	wr(b, LCR, 0x80);
	burst(b, "\x01\x0c");
	assert_int_equal(b->tx_len, 0);
	assert_int_equal(rd(b, DLL), 0x0c);
	wr(b, LCR, 0x03);
	burst(b, "x");
	assert_int_equal(b->tx_len, 1);
}

/* In loopback every byte comes back to the receiver, in order. */
static void test_burst_in_loopback_echoes(void **state)
{
	struct backend *b = *state;

	wr(b, FCR, 0x01);
	wr(b, MCR, 0x10);
	burst(b, "Lb!");
	assert_int_equal(b->tx_len, 0);
	assert_int_equal(tx_bytes_calls, 0);
	assert_int_equal(rd(b, RBR), 'L');
	assert_int_equal(rd(b, RBR), 'b');
	assert_int_equal(rd(b, RBR), '!');
	assert_int_equal(rd(b, LSR) & 0x01, 0x00);
}

/* A glue without tx_bytes gets the bytes one by one. */
static void test_burst_without_tx_bytes(void **state)
{
	struct backend *b = *state;

	burst(b, "one by one");
	assert_int_equal(b->tx_len, 10);
	assert_memory_equal(b->tx, "one by one", 10);
}

static void test_create_without_ops_fails(void **state)
{
	assert_null(uart_emul_create(NULL, NULL));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_reset_values),
		T(test_reset_restores_power_on_state),
		T(test_dlab_divisor_latch),
		T(test_dlab_read_does_not_drain_rbr),
		T(test_scratch_register),
		T(test_ier_upper_bits_read_zero),
		T(test_mcr_upper_bits_read_zero),
		T(test_lcr_full_width),
		T(test_lsr_msr_writes_ignored),
		T(test_bad_offsets),
		T(test_thr_write_calls_tx_byte),
		T(test_thre_raised_on_etbei_set),
		T(test_thre_not_reraised_by_rewriting_ier),
		T(test_thre_reraised_after_ier_toggle),
		T(test_thre_raised_by_thr_write),
		T(test_thre_dropped_when_etbei_cleared),
		T(test_irq_gated_by_out2),
		T(test_set_irq_only_on_change),
		T(test_tx_txen_probe_sees_interrupt),
		T(test_rx_push_sets_dr),
		T(test_rx_empty_read_returns_zero),
		T(test_rx_push_zero_length),
		T(test_rx_fifo_off_holds_one_byte),
		T(test_rx_fifo_on_holds_sixteen),
		T(test_rx_reads_drain_in_order),
		T(test_rx_ring_wraps),
		T(test_rx_interrupt_fifo_off),
		T(test_rx_trigger_level_and_timeout),
		T(test_rx_trigger_levels),
		T(test_single_keystroke_reaches_linux),
		T(test_rx_space_after_read),
		T(test_rx_space_refill_from_callback),
		T(test_fcr_clear_rx),
		T(test_fcr_clear_ignored_without_enable),
		T(test_fcr_mode_switch_empties_fifo),
		T(test_fcr_enable_keeps_fifo_contents),
		T(test_iir_fifo_bits),
		T(test_priority_rx_over_thre),
		T(test_priority_thre_over_modem),
		T(test_loopback_overrun_sets_oe),
		T(test_overrun_16450_mode_overwrites),
		T(test_priority_line_status_first),
		T(test_loopback_echoes_thr),
		T(test_loopback_msr_mirrors_mcr),
		T(test_msr_deltas),
		T(test_modem_status_interrupt),
		T(test_loopback_gates_irq),
		T(test_loopback_refuses_host_bytes),
		T(test_linux_autoconfig_finds_16550a),
		T(test_fuzz_register_access),
		cmocka_unit_test_setup_teardown(test_burst_sends_once, setup_burst, teardown),
		cmocka_unit_test_setup_teardown(test_burst_raises_thre_like_writes, setup_burst,
						teardown),
		cmocka_unit_test_setup_teardown(test_burst_under_dlab_sets_divisor, setup_burst,
						teardown),
		cmocka_unit_test_setup_teardown(test_burst_in_loopback_echoes, setup_burst, teardown),
		T(test_burst_without_tx_bytes),
		cmocka_unit_test(test_null_callbacks_tolerated),
		cmocka_unit_test(test_create_without_ops_fails),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
