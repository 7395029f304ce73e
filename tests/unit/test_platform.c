/*
 * The PC platform devices a guest talks to through port I/O, driven exactly
 * as a guest drives them (lpc_init() on a fake VM, then emulate_inout()):
 *  - ACPI fixed hardware (src/hw/acpi_pm.c): PM1 status/enable/control, the
 *    SCI, the PM timer, and every way a guest powers off or reboots;
 *  - the MC146818 RTC and CMOS RAM (src/hw/rtc.c).
 *
 * The VM's exit request is first-wins and process-global, so every test
 * that may request an exit runs the guest's accesses in a forked child and
 * reads the outcome from its exit status. The SCI is observed by
 * interposing ioctl(): KVM_IRQ_LINE on the fake VM's fd (-1) is recorded,
 * then fails with EBADF just as the real call does.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/inout.h"
#include "core/vmm.h"
#include "hw/isa_irq.h"
#include "hw/platform.h"
#include "lib/vmmapi.h"
#include "x86/acpi.h"

#define PM1_STS ACPI_PM1A_EVT_PORT
#define PM1_EN (ACPI_PM1A_EVT_PORT + 2)
#define PM1_CNT ACPI_PM1A_CNT_PORT
#define PM_TMR ACPI_PM_TMR_PORT
#define PWRBTN (1u << 8)
#define SLP_EN (1u << 13)
#define SLP_TYP(n) ((uint32_t)(n) << 10)
#define PM_TIMER_HZ 3579545ull
#define RTC_INDEX 0x70
#define RTC_DATA 0x71

/* ---- the SCI, seen through KVM_IRQ_LINE -------------------------------- */

static int irq_calls;
static int sci_level = -1;

int ioctl(int fd, unsigned long request, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (fd == -1 && request == KVM_IRQ_LINE) {
		const struct kvm_irq_level *irq = arg;

		irq_calls++;
		if (irq->irq == ACPI_SCI_IRQ)
			sci_level = (int)irq->level;
		errno = EBADF;
		return -1;
	}
	return (int)syscall(SYS_ioctl, fd, request, arg);
}

/* ---- fixture -------------------------------------------------------------- */

static struct vmctx ctx = { .kvm_fd = -1, .vm_fd = -1 };

static int init_platform(bool localtime)
{
	config_init();
	if (set_config_bool("rtc.use_localtime", localtime) < 0 || init_inout() < 0 ||
	    lpc_init(&ctx) < 0)
		return -1;
	/* isa_irq's line state outlives a test: start each one with the SCI low. */
	isa_irq_set(&ctx, ACPI_SCI_IRQ, 0, false);
	irq_calls = 0;
	sci_level = 0;
	return 0;
}

static int setup(void **state)
{
	return init_platform(false);
}

static int teardown(void **state)
{
	config_free();
	return 0;
}

static uint32_t in(uint16_t port, int bytes)
{
	uint32_t v = 0x5a5a5a5a;

	assert_int_equal(emulate_inout(&ctx, true, port, bytes, &v), 0);
	return v;
}

static void out(uint16_t port, int bytes, uint32_t v)
{
	assert_int_equal(emulate_inout(&ctx, false, port, bytes, &v), 0);
}

/* ---- guest accesses in a child process, for the exit request ------------- */

#define NO_EXIT 100
#define CHILD_FAILED 101

struct io_op {
	uint16_t port;
	int bytes;
	uint32_t val;
};

#define OPS(...) (const struct io_op[]){ __VA_ARGS__ }, \
	sizeof((const struct io_op[]){ __VA_ARGS__ }) / sizeof(struct io_op)

/* Writes ops in a child; returns its vm_exit_code(), or NO_EXIT. */
static int exit_after_writes(const struct io_op *ops, size_t n)
{
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* No cmocka asserts here: a failure must not resume the test run in the child. */
		for (size_t i = 0; i < n; i++) {
			uint32_t v = ops[i].val;

			if (emulate_inout(&ctx, false, ops[i].port, ops[i].bytes, &v) != 0)
				_exit(CHILD_FAILED);
		}
		_exit(vm_exit_requested() ? (int)vm_exit_code() : NO_EXIT);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_not_equal(WEXITSTATUS(status), CHILD_FAILED);
	return WEXITSTATUS(status);
}

/* ---- ACPI PM1 event block ------------------------------------------------- */

static void test_pm1_reset_state(void **state)
{
	assert_int_equal(in(PM1_STS, 2), 0);
	assert_int_equal(in(PM1_EN, 2), 0);
	assert_int_equal(in(PM1_STS, 4), 0);
}

static void test_power_button_sets_pwrbtn_sts(void **state)
{
	acpi_pm_power_button(&ctx);
	assert_int_equal(in(PM1_STS, 2), PWRBTN);
	assert_int_equal(in(PM1_STS + 1, 1), 0x01);
	/* Pressed again: still just the one bit. */
	acpi_pm_power_button(&ctx);
	assert_int_equal(in(PM1_STS, 2), PWRBTN);
}

static void test_pm1_sts_write_one_to_clear(void **state)
{
	acpi_pm_power_button(&ctx);
	out(PM1_STS, 2, 0);              /* writing 0 changes nothing */
	assert_int_equal(in(PM1_STS, 2), PWRBTN);
	out(PM1_STS, 2, ~PWRBTN & 0xffff); /* other bits: still set */
	assert_int_equal(in(PM1_STS, 2), PWRBTN);
	out(PM1_STS, 2, PWRBTN);
	assert_int_equal(in(PM1_STS, 2), 0);
	/* Byte write to the high half clears it too. */
	acpi_pm_power_button(&ctx);
	out(PM1_STS + 1, 1, 0x01);
	assert_int_equal(in(PM1_STS, 2), 0);
}

static void test_pm1_sts_guest_cannot_set_bits(void **state)
{
	out(PM1_STS, 2, 0xffff);
	out(PM1_STS, 4, 0xffff);
	assert_int_equal(in(PM1_STS, 2), 0);
}

static void test_pm1_en_masked(void **state)
{
	out(PM1_EN, 2, 0xffff);
	assert_int_equal(in(PM1_EN, 2), 0x0521); /* TMR, GBL, PWRBTN, RTC */
	out(PM1_EN, 2, 0);
	assert_int_equal(in(PM1_EN, 2), 0);
	out(PM1_EN + 1, 1, 0x01);               /* byte write to the high half */
	assert_int_equal(in(PM1_EN, 2), PWRBTN);
	out(PM1_EN, 1, 0x21);                   /* low half keeps the high one */
	assert_int_equal(in(PM1_EN, 2), PWRBTN | 0x21);
}

static void test_pm1_dword_access_covers_sts_and_en(void **state)
{
	acpi_pm_power_button(&ctx);
	out(PM1_STS, 4, 0x01000000);            /* EN = PWRBTN_EN, STS untouched */
	assert_int_equal(in(PM1_STS, 4), PWRBTN | PWRBTN << 16);
	out(PM1_STS, 4, PWRBTN);                /* clear STS, EN = 0 */
	assert_int_equal(in(PM1_STS, 4), 0);
}

static void test_pm1_odd_offsets_and_sizes(void **state)
{
	out(PM1_EN, 2, 0x0521);
	assert_int_equal(in(PM1_STS + 3, 1), 0x05);
	assert_int_equal(in(PM1_STS + 3, 2), 0x05); /* the rest is past the block */
	assert_int_equal(in(PM1_STS + 3, 4), 0x05);
	assert_int_equal(in(PM1_STS + 2, 4), 0x0521);
	out(PM1_STS + 3, 4, 0xffffff00);            /* only EN's high byte is in reach */
	assert_int_equal(in(PM1_EN, 2), 0x0021);
	out(PM1_STS + 1, 4, 0);
	assert_int_equal(in(PM1_EN, 2), 0);
}

static void test_sci_follows_enabled_status(void **state)
{
	acpi_pm_power_button(&ctx);
	assert_int_equal(sci_level, 0);           /* not enabled: no interrupt */
	out(PM1_EN, 2, PWRBTN);
	assert_int_equal(sci_level, 1);           /* enabling a pending event raises it */
	out(PM1_STS, 2, PWRBTN);
	assert_int_equal(sci_level, 0);           /* acknowledged: lowered */
	acpi_pm_power_button(&ctx);
	assert_int_equal(sci_level, 1);           /* enabled and pressed: raised at once */
	out(PM1_EN, 2, 0);
	assert_int_equal(sci_level, 0);
}

static void test_sci_only_changes_on_edges(void **state)
{
	out(PM1_EN, 2, PWRBTN);
	acpi_pm_power_button(&ctx);
	assert_int_equal(irq_calls, 1);
	acpi_pm_power_button(&ctx);
	in(PM1_STS, 2);
	out(PM1_EN, 2, PWRBTN);
	assert_int_equal(irq_calls, 1);
}

/* ---- PM1 control: sleep states ------------------------------------------- */

static void test_pm1_cnt_reads_sci_en(void **state)
{
	assert_int_equal(in(PM1_CNT, 2), 0x0001);
	out(PM1_CNT, 2, 0);                      /* no SMM: cannot leave ACPI mode */
	assert_int_equal(in(PM1_CNT, 2), 0x0001);
	out(PM1_CNT, 2, SLP_TYP(3));
	assert_int_equal(in(PM1_CNT, 2), SLP_TYP(3) | 1);
	assert_int_equal(in(PM1_CNT + 1, 1), SLP_TYP(3) >> 8);
}

static void test_s5_with_slp_en_powers_off(void **state)
{
	assert_int_equal(exit_after_writes(OPS({ PM1_CNT, 2, SLP_TYP(ACPI_S5_SLP_TYP) | SLP_EN })),
			 VM_EXIT_POWEROFF);
	/* As Linux writes it: SLP_TYP first, then SLP_EN on top, SCI_EN kept. */
	assert_int_equal(exit_after_writes(OPS({ PM1_CNT, 2, SLP_TYP(5) | 1 },
					       { PM1_CNT, 2, SLP_TYP(5) | SLP_EN | 1 })),
			 VM_EXIT_POWEROFF);
	/* Byte write to the high half. */
	assert_int_equal(exit_after_writes(OPS({ PM1_CNT + 1, 1, (SLP_TYP(5) | SLP_EN) >> 8 })),
			 VM_EXIT_POWEROFF);
	assert_int_equal(exit_after_writes(OPS({ PM1_CNT, 4, 0xffff0000 | SLP_TYP(5) | SLP_EN })),
			 VM_EXIT_POWEROFF);
	/* Stock OVMF's shutdown: SLP_TYP 0 (QEMU's PIIX4 S5), then SLP_EN. */
	assert_int_equal(exit_after_writes(OPS({ PM1_CNT, 2, SLP_TYP(0) | 1 },
					       { PM1_CNT, 2, SLP_TYP(0) | SLP_EN | 1 })),
			 VM_EXIT_POWEROFF);
}

static void test_other_sleep_requests_ignored(void **state)
{
	assert_int_equal(exit_after_writes(OPS({ PM1_CNT, 2, SLP_TYP(5) })), NO_EXIT);
	for (uint32_t typ = 0; typ < 8; typ++)
		if (typ != ACPI_S5_SLP_TYP && typ != 0)
			assert_int_equal(exit_after_writes(OPS({ PM1_CNT, 2, SLP_TYP(typ) | SLP_EN })),
					 NO_EXIT);
	/* SLP_EN never reads back as set. */
	out(PM1_CNT, 2, SLP_TYP(1) | SLP_EN);
	assert_int_equal(in(PM1_CNT, 2) & SLP_EN, 0);
}

static void test_first_exit_request_wins(void **state)
{
	assert_int_equal(exit_after_writes(OPS({ PM1_CNT, 2, SLP_TYP(5) | SLP_EN },
					       { ACPI_RESET_PORT, 1, ACPI_RESET_VALUE })),
			 VM_EXIT_POWEROFF);
	assert_int_equal(exit_after_writes(OPS({ ACPI_RESET_PORT, 1, ACPI_RESET_VALUE },
					       { PM1_CNT, 2, SLP_TYP(5) | SLP_EN })),
			 VM_EXIT_REBOOT);
}

/* ---- resets --------------------------------------------------------------- */

static void test_reset_register_reboots(void **state)
{
	assert_int_equal(exit_after_writes(OPS({ ACPI_RESET_PORT, 1, ACPI_RESET_VALUE })),
			 VM_EXIT_REBOOT);
	assert_int_equal(exit_after_writes(OPS({ ACPI_RESET_PORT, 1, 0x0e })), VM_EXIT_REBOOT);
	/* Linux's "reboot=pci": 0x02 (set up a hard reset), then 0x06. */
	assert_int_equal(exit_after_writes(OPS({ ACPI_RESET_PORT, 1, 0x02 })), NO_EXIT);
	assert_int_equal(exit_after_writes(OPS({ ACPI_RESET_PORT, 1, 0x02 },
					       { ACPI_RESET_PORT, 1, 0x06 })),
			 VM_EXIT_REBOOT);
}

static void test_reset_register_reads_back(void **state)
{
	out(ACPI_RESET_PORT, 1, 0x02);
	assert_int_equal(in(ACPI_RESET_PORT, 1), 0x02);
}

static void test_keyboard_controller_pulse_reboots(void **state)
{
	assert_int_equal(exit_after_writes(OPS({ 0x64, 1, 0xfe })), VM_EXIT_REBOOT);
	assert_int_equal(exit_after_writes(OPS({ 0x64, 1, 0xd1 }, { 0x64, 1, 0xaa })), NO_EXIT);
	/* No controller: its status reads float, so a guest polling it sees 0xff. */
	assert_int_equal(in(0x64, 1), 0xff);
}

/* Port 0x92: A20 reads as enabled; setting bit 0 is a fast reset. */
static void test_port_92(void **state)
{
	assert_int_equal(in(0x92, 1), 0x02);
	/* What SeaBIOS and Linux write to turn A20 on: read, set bit 1, clear bit 0. */
	assert_int_equal(exit_after_writes(OPS({ 0x92, 1, 0x02 }, { 0x92, 1, 0x00 })), NO_EXIT);
	assert_int_equal(exit_after_writes(OPS({ 0x92, 1, 0x03 })), VM_EXIT_REBOOT);
}

static void test_post_port_swallows(void **state)
{
	assert_int_equal(exit_after_writes(OPS({ 0x80, 1, 0x00 }, { 0x80, 1, 0xff })), NO_EXIT);
	assert_int_equal(in(0x80, 1), 0xff);
}

/* ---- PM timer ------------------------------------------------------------- */

static uint32_t ticks_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint32_t)(((unsigned __int128)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec) *
			  PM_TIMER_HZ / 1000000000ull) & 0xffffff;
}

static void test_pm_timer_is_monotonic_clock_mod_2_24(void **state)
{
	for (int i = 0; i < 1000; i++) {
		uint32_t before = ticks_now(), v = in(PM_TMR, 4), after = ticks_now();

		assert_true(v <= 0xffffff);
		/* Between the two readings, counting modulo 2^24. */
		assert_true(((v - before) & 0xffffff) <= ((after - before) & 0xffffff));
	}
}

static void test_pm_timer_advances_at_3_58_mhz(void **state)
{
	uint32_t a = in(PM_TMR, 4), b;
	struct timespec ten_ms = { 0, 10000000 };

	nanosleep(&ten_ms, NULL);
	b = in(PM_TMR, 4);
	/* At least 10 ms worth, and not absurdly more (1 s). */
	assert_true(((b - a) & 0xffffff) >= 35795);
	assert_true(((b - a) & 0xffffff) < 3579545);
}

static void test_pm_timer_wraps_at_24_bits(void **state)
{
	uint32_t prev = in(PM_TMR, 4), v = prev;
	uint64_t elapsed = 0;
	struct timespec one_ms = { 0, 1000000 };

	/* The counter wraps every 4.69 s: watch it happen (bounded at 6 s). */
	for (int i = 0; i < 6000; i++) {
		nanosleep(&one_ms, NULL);
		v = in(PM_TMR, 4);
		elapsed += (v - prev) & 0xffffff;
		if (v < prev)
			break;
		prev = v;
	}
	assert_true(v < prev);
	assert_true(v <= 0xffffff);
	assert_true(elapsed < (1u << 24)); /* one wrap, not a jump */
}

static void test_pm_timer_byte_reads_and_writes(void **state)
{
	uint32_t full = in(PM_TMR, 4), hi = in(PM_TMR + 2, 1), top = in(PM_TMR + 3, 1);

	assert_int_equal(top, 0);                /* 24 bits: the top byte is always 0 */
	assert_true(((hi - (full >> 16)) & 0xff) <= 1);
	assert_true(in(PM_TMR + 1, 2) <= 0xffff);
	/* Read-only: writes are dropped and do not disturb the count. */
	out(PM_TMR, 4, 0);
	assert_true(((in(PM_TMR, 4) - full) & 0xffffff) < 3579545);
}

/* ---- RTC ---------------------------------------------------------------- */

enum { SEC = 0, MIN = 2, HOUR = 4, WDAY = 6, MDAY = 7, MONTH = 8, YEAR = 9,
       REG_A = 0x0a, REG_B = 0x0b, REG_C = 0x0c, REG_D = 0x0d, CENTURY = 0x32 };

#define B_SET 0x80
#define B_BINARY 0x04
#define B_24H 0x02

static uint8_t cmos_read(uint8_t reg)
{
	out(RTC_INDEX, 1, reg);
	return (uint8_t)in(RTC_DATA, 1);
}

static void cmos_write(uint8_t reg, uint8_t val)
{
	out(RTC_INDEX, 1, reg);
	out(RTC_DATA, 1, val);
}

static int bcd(uint8_t v)
{
	assert_true((v & 0xf) <= 9 && (v >> 4) <= 9);
	return (v >> 4) * 10 + (v & 0xf);
}

static uint8_t to_bcd(int v)
{
	return (uint8_t)((v / 10) << 4 | v % 10);
}

struct rtc_time {
	int sec, min, hour, wday, mday, month, year; /* year: full, e.g. 2026 */
};

/* Read the clock in the current mode of register B (24-hour assumed). */
static struct rtc_time rtc_now(void)
{
	bool binary = cmos_read(REG_B) & B_BINARY;
	struct rtc_time t;

#define DEC(reg) (binary ? cmos_read(reg) : bcd(cmos_read(reg)))
	t.sec = DEC(SEC);
	t.min = DEC(MIN);
	t.hour = DEC(HOUR);
	t.wday = DEC(WDAY);
	t.mday = DEC(MDAY);
	t.month = DEC(MONTH);
	t.year = DEC(CENTURY) * 100 + DEC(YEAR);
#undef DEC
	return t;
}

/* The RTC's time and the host's (UTC or local), read within the same second. */
static void rtc_and_host(struct rtc_time *rt, struct tm *host, bool localtime)
{
	for (;;) {
		time_t t0 = time(NULL), t1;

		*rt = rtc_now();
		t1 = time(NULL);
		if (t0 != t1)
			continue;
		if (localtime)
			localtime_r(&t0, host);
		else
			gmtime_r(&t0, host);
		return;
	}
}

static void assert_same_time(const struct rtc_time *rt, const struct tm *tm)
{
	assert_int_equal(rt->sec, tm->tm_sec > 59 ? 59 : tm->tm_sec);
	assert_int_equal(rt->min, tm->tm_min);
	assert_int_equal(rt->hour, tm->tm_hour);
	assert_int_equal(rt->wday, tm->tm_wday + 1);
	assert_int_equal(rt->mday, tm->tm_mday);
	assert_int_equal(rt->month, tm->tm_mon + 1);
	assert_int_equal(rt->year, tm->tm_year + 1900);
}

static void test_rtc_reset_registers(void **state)
{
	assert_int_equal(cmos_read(REG_A), 0x26);
	assert_int_equal(cmos_read(REG_B), B_24H);
	assert_int_equal(cmos_read(REG_C), 0);
	assert_int_equal(cmos_read(REG_D), 0x80); /* valid RAM and time */
}

static void test_rtc_bcd_time_is_host_utc(void **state)
{
	struct rtc_time rt;
	struct tm tm;

	rtc_and_host(&rt, &tm, false);
	assert_same_time(&rt, &tm);
}

static void test_rtc_binary_mode(void **state)
{
	struct rtc_time rt;
	struct tm tm;

	cmos_write(REG_B, B_24H | B_BINARY);
	rtc_and_host(&rt, &tm, false);
	assert_same_time(&rt, &tm);
}

static void test_rtc_localtime(void **state)
{
	struct rtc_time rt;
	struct tm tm;
	char *saved = getenv("TZ") ? strdup(getenv("TZ")) : NULL;

	/* A zone far from UTC, so local and UTC hours differ. */
	setenv("TZ", "IST-5:30", 1);
	tzset();
	assert_int_equal(init_platform(true), 0);
	rtc_and_host(&rt, &tm, true);
	assert_same_time(&rt, &tm);
	if (saved != NULL)
		setenv("TZ", saved, 1);
	else
		unsetenv("TZ");
	free(saved);
	tzset();
}

/* Set the clock as Linux's mc146818_set_time() does: SET, fields, SET off. */
static void rtc_set(int year, int month, int mday, int hour, int min, int sec, uint8_t mode)
{
	bool binary = mode & B_BINARY;
#define ENC(v) (binary ? (uint8_t)(v) : to_bcd(v))
	cmos_write(REG_B, mode | B_SET);
	cmos_write(SEC, ENC(sec));
	cmos_write(MIN, ENC(min));
	if (mode & B_24H)
		cmos_write(HOUR, ENC(hour));
	else
		cmos_write(HOUR, (uint8_t)(ENC(hour % 12 ? hour % 12 : 12) | (hour >= 12 ? 0x80 : 0)));
	cmos_write(MDAY, ENC(mday));
	cmos_write(MONTH, ENC(month));
	cmos_write(YEAR, ENC(year % 100));
	cmos_write(CENTURY, ENC(year / 100));
	cmos_write(REG_B, mode);
#undef ENC
}

static void test_rtc_guest_sets_time(void **state)
{
	struct rtc_time rt;

	rtc_set(2030, 6, 15, 13, 45, 30, B_24H);
	rt = rtc_now();
	assert_int_equal(rt.year, 2030);
	assert_int_equal(rt.month, 6);
	assert_int_equal(rt.mday, 15);
	assert_int_equal(rt.wday, 7);  /* a Saturday */
	assert_int_equal(rt.hour, 13);
	assert_int_equal(rt.min, 45);
	assert_true(rt.sec >= 30 && rt.sec <= 32);
}

static void test_rtc_guest_time_keeps_running(void **state)
{
	struct rtc_time a, b;
	struct timespec t = { 1, 100000000 };

	rtc_set(1999, 12, 31, 23, 59, 59, B_24H);
	a = rtc_now();
	assert_true(a.year == 1999 || a.sec == 0); /* unless the second just ticked */
	nanosleep(&t, NULL);
	b = rtc_now();
	/* Into the new millennium, century register included. */
	assert_int_equal(b.year, 2000);
	assert_int_equal(b.month, 1);
	assert_int_equal(b.mday, 1);
	assert_int_equal(b.hour, 0);
}

static void test_rtc_guest_sets_time_binary(void **state)
{
	struct rtc_time rt;

	rtc_set(2041, 2, 28, 7, 8, 9, B_24H | B_BINARY);
	rt = rtc_now();
	assert_int_equal(rt.year, 2041);
	assert_int_equal(rt.month, 2);
	assert_int_equal(rt.mday, 28);
	assert_int_equal(rt.hour, 7);
	assert_int_equal(rt.min, 8);
}

static void test_rtc_12_hour_mode(void **state)
{
	rtc_set(2030, 1, 1, 13, 0, 0, B_24H);
	cmos_write(REG_B, 0);
	assert_int_equal(cmos_read(HOUR), 0x81);         /* 1 PM */
	rtc_set(2030, 1, 1, 0, 30, 0, B_24H);
	cmos_write(REG_B, 0);
	assert_int_equal(cmos_read(HOUR), 0x12);         /* 12 AM */
	rtc_set(2030, 1, 1, 12, 30, 0, B_24H);
	cmos_write(REG_B, 0);
	assert_int_equal(cmos_read(HOUR), 0x92);         /* 12 PM */
	cmos_write(REG_B, B_BINARY);
	assert_int_equal(cmos_read(HOUR), 0x80 | 12);
}

static void test_rtc_guest_sets_time_in_12_hour_mode(void **state)
{
	rtc_set(2030, 3, 4, 23, 10, 0, 0);               /* written as 11 PM */
	cmos_write(REG_B, B_24H);
	assert_int_equal(bcd(cmos_read(HOUR)), 23);
	rtc_set(2030, 3, 4, 0, 10, 0, 0);                /* 12 AM */
	cmos_write(REG_B, B_24H);
	assert_int_equal(bcd(cmos_read(HOUR)), 0);
	assert_int_equal(bcd(cmos_read(MDAY)), 4);
}

static void test_rtc_set_bit_latches_time(void **state)
{
	struct rtc_time rt;
	struct tm tm;

	/* SET freezes the registers at the current time... */
	rtc_and_host(&rt, &tm, false);
	cmos_write(REG_B, B_24H | B_SET);
	assert_int_equal(bcd(cmos_read(HOUR)), tm.tm_hour);
	assert_int_equal(bcd(cmos_read(MDAY)), tm.tm_mday);
	assert_int_equal(bcd(cmos_read(CENTURY)) * 100 + bcd(cmos_read(YEAR)), tm.tm_year + 1900);
	/* ...and what the guest writes meanwhile reads back as written. */
	cmos_write(MIN, 0x42);
	assert_int_equal(cmos_read(MIN), 0x42);
	assert_int_equal(cmos_read(REG_B), B_24H | B_SET);
}

static void test_rtc_single_field_write_keeps_the_rest(void **state)
{
	struct rtc_time rt;
	struct tm tm;

	/* Without SET: change only the minutes; the date must not move. */
	rtc_and_host(&rt, &tm, false);
	cmos_write(MIN, to_bcd((tm.tm_min + 30) % 60));
	rt = rtc_now();
	assert_int_equal(rt.year, tm.tm_year + 1900);
	assert_int_equal(rt.month, tm.tm_mon + 1);
	assert_int_equal(rt.mday, tm.tm_mday);
	assert_true(rt.min == (tm.tm_min + 30) % 60 || rt.min == (tm.tm_min + 31) % 60);
}

static void test_rtc_register_a_uip_never_set(void **state)
{
	cmos_write(REG_A, 0xff);
	assert_int_equal(cmos_read(REG_A), 0x7f);
	for (int i = 0; i < 10000; i++)
		assert_int_equal(cmos_read(REG_A) & 0x80, 0);
	cmos_write(REG_A, 0x26);
	assert_int_equal(cmos_read(REG_A), 0x26);
}

static void test_rtc_register_c_and_d_read_only(void **state)
{
	cmos_write(REG_C, 0xff);
	assert_int_equal(cmos_read(REG_C), 0);
	assert_int_equal(cmos_read(REG_C), 0); /* read-to-clear: stays clear */
	cmos_write(REG_D, 0x00);
	assert_int_equal(cmos_read(REG_D), 0x80);
}

static void test_rtc_nvram_reads_back(void **state)
{
	for (int reg = 0x0e; reg <= 0x7f; reg++)
		if (reg != CENTURY)
			cmos_write((uint8_t)reg, (uint8_t)(reg * 7 + 1));
	for (int reg = 0x0e; reg <= 0x7f; reg++)
		if (reg != CENTURY)
			assert_int_equal(cmos_read((uint8_t)reg), (uint8_t)(reg * 7 + 1));
}

static void test_rtc_index_masks_nmi_bit_and_range(void **state)
{
	cmos_write(0x20, 0x11);
	cmos_write(0x7f, 0x22);
	out(RTC_INDEX, 1, 0x80 | 0x20);          /* NMI disable bit + index */
	assert_int_equal(in(RTC_DATA, 1), 0x11);
	assert_int_equal(in(RTC_INDEX, 1), 0x20);
	out(RTC_INDEX, 1, 0xff);
	assert_int_equal(in(RTC_INDEX, 1), 0x7f);
	assert_int_equal(in(RTC_DATA, 1), 0x22);
	out(RTC_INDEX, 4, 0xffffff20);           /* wide write: only the low byte counts */
	assert_int_equal(in(RTC_DATA, 1), 0x11);
	assert_int_equal(in(RTC_DATA, 4), 0x11);
}

static void test_rtc_garbage_time_fields_are_survivable(void **state)
{
	/* Non-BCD, out-of-range values everywhere, in both modes. */
	for (int mode = 0; mode < 2; mode++) {
		uint8_t b = mode ? (B_24H | B_BINARY) : B_24H;

		cmos_write(REG_B, b | B_SET);
		for (uint8_t reg = SEC; reg <= YEAR; reg++)
			cmos_write(reg, 0xff);
		cmos_write(CENTURY, 0xff);
		cmos_write(REG_B, b);
		cmos_write(REG_B, B_24H);
		(void)rtc_now();                  /* valid BCD digits whatever was written */
		cmos_write(REG_B, b | B_SET);
		for (uint8_t reg = SEC; reg <= YEAR; reg++)
			cmos_write(reg, 0);
		cmos_write(CENTURY, 0);
		cmos_write(REG_B, b);
		cmos_write(REG_B, B_24H);
		(void)rtc_now();
	}
}

static void test_rtc_years_before_1900(void **state)
{
	struct rtc_time rt;

	rtc_set(1850, 5, 5, 5, 5, 5, B_24H);
	rt = rtc_now();
	assert_int_equal(rt.year, 1850);
	assert_int_equal(rt.month, 5);
	rtc_set(99, 1, 1, 0, 0, 0, B_24H);
	rt = rtc_now();
	assert_int_equal(rt.year, 99);
	rtc_set(0, 1, 1, 0, 0, 0, B_24H);           /* year 0 */
	rt = rtc_now();
	assert_int_equal(rt.year, 0);
}

static void test_rtc_every_register_every_value(void **state)
{
	/* A hostile guest writing everything, everywhere: no crash, UIP still clear. */
	for (int reg = 0; reg < 0x80; reg++)
		for (int v = 0; v < 0x100; v += 0x11) {
			cmos_write((uint8_t)reg, (uint8_t)v);
			(void)cmos_read((uint8_t)reg);
		}
	assert_int_equal(cmos_read(REG_A) & 0x80, 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_pm1_reset_state),
		T(test_power_button_sets_pwrbtn_sts),
		T(test_pm1_sts_write_one_to_clear),
		T(test_pm1_sts_guest_cannot_set_bits),
		T(test_pm1_en_masked),
		T(test_pm1_dword_access_covers_sts_and_en),
		T(test_pm1_odd_offsets_and_sizes),
		T(test_sci_follows_enabled_status),
		T(test_sci_only_changes_on_edges),
		T(test_pm1_cnt_reads_sci_en),
		T(test_s5_with_slp_en_powers_off),
		T(test_other_sleep_requests_ignored),
		T(test_first_exit_request_wins),
		T(test_reset_register_reboots),
		T(test_reset_register_reads_back),
		T(test_keyboard_controller_pulse_reboots),
		T(test_port_92),
		T(test_post_port_swallows),
		T(test_pm_timer_is_monotonic_clock_mod_2_24),
		T(test_pm_timer_advances_at_3_58_mhz),
		T(test_pm_timer_wraps_at_24_bits),
		T(test_pm_timer_byte_reads_and_writes),
		T(test_rtc_reset_registers),
		T(test_rtc_bcd_time_is_host_utc),
		T(test_rtc_binary_mode),
		T(test_rtc_localtime),
		T(test_rtc_guest_sets_time),
		T(test_rtc_guest_time_keeps_running),
		T(test_rtc_guest_sets_time_binary),
		T(test_rtc_12_hour_mode),
		T(test_rtc_guest_sets_time_in_12_hour_mode),
		T(test_rtc_set_bit_latches_time),
		T(test_rtc_single_field_write_keeps_the_rest),
		T(test_rtc_register_a_uip_never_set),
		T(test_rtc_register_c_and_d_read_only),
		T(test_rtc_nvram_reads_back),
		T(test_rtc_index_masks_nmi_bit_and_range),
		T(test_rtc_garbage_time_fields_are_survivable),
		T(test_rtc_years_before_1900),
		T(test_rtc_every_register_every_value),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
