/*
 * MC146818 RTC and CMOS RAM on ports 0x70/0x71. The clock reads the host's
 * time (UTC, or local time when rtc.use_localtime is true as in bhyve) plus an
 * offset the guest sets by writing the time registers. Reading never spins:
 * UIP is always clear, because the time is computed at read time. No alarm or
 * periodic interrupts (Linux uses the LAPIC timer and kvm-clock).
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "core/coalesce.h"
#include "core/config.h"
#include "core/inout.h"
#include "hw/platform.h"

#define RTC_INDEX_PORT 0x70
#define RTC_DATA_PORT 0x71
#define CMOS_SIZE 128
#define NMI_DISABLE_BIT 0x80

enum {
	RTC_SEC = 0x00, RTC_MIN = 0x02, RTC_HOUR = 0x04, RTC_WDAY = 0x06,
	RTC_MDAY = 0x07, RTC_MONTH = 0x08, RTC_YEAR = 0x09,
	RTC_REG_A = 0x0a, RTC_REG_B = 0x0b, RTC_REG_C = 0x0c, RTC_REG_D = 0x0d,
	RTC_CENTURY = 0x32,
};

#define REG_B_24H 0x02
#define REG_B_BINARY 0x04
#define REG_B_SET 0x80
#define REG_D_VRT 0x80

static struct {
	pthread_mutex_t lock;
	uint8_t index;
	uint8_t cmos[CMOS_SIZE];
	time_t offset;   /* guest time minus host time, in seconds */
	bool localtime;
} rtc = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* Two BCD digits: callers pass 0..99 (anything else keeps its last two digits). */
static uint8_t to_bcd(int v)
{
	v = (v % 100 + 100) % 100;
	return (uint8_t)(((v / 10) << 4) | (v % 10));
}

static int from_bcd(uint8_t v)
{
	return (v >> 4) * 10 + (v & 0xf);
}

static uint8_t encode(int v)
{
	return (rtc.cmos[RTC_REG_B] & REG_B_BINARY) ? (uint8_t)v : to_bcd(v);
}

static int decode(uint8_t v)
{
	return (rtc.cmos[RTC_REG_B] & REG_B_BINARY) ? v : from_bcd(v);
}

static void guest_tm(struct tm *tm)
{
	time_t now = time(NULL) + rtc.offset;

	if (rtc.localtime)
		localtime_r(&now, tm);
	else
		gmtime_r(&now, tm);
}

static uint8_t encode_hour(int hour)
{
	if (rtc.cmos[RTC_REG_B] & REG_B_24H)
		return encode(hour);
	/* 12-hour mode: 1..12 with bit 7 for PM. */
	return (uint8_t)(encode(hour % 12 ? hour % 12 : 12) | (hour >= 12 ? 0x80 : 0));
}

static uint8_t read_time_reg(uint8_t reg)
{
	struct tm tm;
	int year;

	guest_tm(&tm);
	/* The guest may have set any year, even before 1900 or before year 0. */
	year = tm.tm_year + 1900;
	switch (reg) {
	case RTC_SEC: return encode(tm.tm_sec > 59 ? 59 : tm.tm_sec);
	case RTC_MIN: return encode(tm.tm_min);
	case RTC_HOUR: return encode_hour(tm.tm_hour);
	case RTC_WDAY: return encode(tm.tm_wday + 1);
	case RTC_MDAY: return encode(tm.tm_mday);
	case RTC_MONTH: return encode(tm.tm_mon + 1);
	case RTC_YEAR: return encode((year % 100 + 100) % 100);
	default: return encode(year < 0 ? 0 : year / 100); /* RTC_CENTURY */
	}
}

static bool is_time_reg(uint8_t reg)
{
	return reg == RTC_SEC || reg == RTC_MIN || reg == RTC_HOUR || reg == RTC_WDAY ||
	       reg == RTC_MDAY || reg == RTC_MONTH || reg == RTC_YEAR || reg == RTC_CENTURY;
}

/* The guest set the clock: keep the difference to host time as an offset. */
static void commit_guest_time(void)
{
	struct tm tm;
	time_t host = time(NULL), guest;
	uint8_t hour = rtc.cmos[RTC_HOUR];
	int h = decode(hour & 0x7f);

	if (!(rtc.cmos[RTC_REG_B] & REG_B_24H))
		h = (h % 12) + ((hour & 0x80) ? 12 : 0);
	memset(&tm, 0, sizeof(tm));
	tm.tm_sec = decode(rtc.cmos[RTC_SEC]);
	tm.tm_min = decode(rtc.cmos[RTC_MIN]);
	tm.tm_hour = h;
	tm.tm_mday = decode(rtc.cmos[RTC_MDAY]);
	tm.tm_mon = decode(rtc.cmos[RTC_MONTH]) - 1;
	tm.tm_year = decode(rtc.cmos[RTC_CENTURY]) * 100 + decode(rtc.cmos[RTC_YEAR]) - 1900;
	tm.tm_isdst = -1;
	guest = rtc.localtime ? mktime(&tm) : timegm(&tm);
	if (guest != (time_t)-1)
		rtc.offset = guest - host;
}

static uint8_t cmos_read(uint8_t reg)
{
	if (is_time_reg(reg) && !(rtc.cmos[RTC_REG_B] & REG_B_SET))
		return read_time_reg(reg);
	if (reg == RTC_REG_C) {
		uint8_t v = rtc.cmos[RTC_REG_C];

		rtc.cmos[RTC_REG_C] = 0; /* read-to-clear */
		return v;
	}
	return rtc.cmos[reg];
}

/* Copy the running time into the time registers, in register B's current format. */
static void latch_time(void)
{
	for (uint8_t r = 0; r <= RTC_YEAR; r++)
		if (is_time_reg(r))
			rtc.cmos[r] = read_time_reg(r);
	rtc.cmos[RTC_CENTURY] = read_time_reg(RTC_CENTURY);
}

static void cmos_write(uint8_t reg, uint8_t val)
{
	if (reg == RTC_REG_C || reg == RTC_REG_D)
		return; /* read-only */
	if (reg == RTC_REG_B) {
		bool was_set = rtc.cmos[RTC_REG_B] & REG_B_SET;

		if (!was_set && (val & REG_B_SET))
			latch_time();
		rtc.cmos[RTC_REG_B] = val;
		if (was_set && !(val & REG_B_SET))
			commit_guest_time();
		return;
	}
	if (reg == RTC_REG_A)
		val &= 0x7f; /* UIP is read-only and always clear */
	/*
	 * One field written while the clock runs: the others keep the running
	 * time, not whatever the registers last held.
	 */
	if (is_time_reg(reg) && !(rtc.cmos[RTC_REG_B] & REG_B_SET))
		latch_time();
	rtc.cmos[reg] = val;
	if (is_time_reg(reg) && !(rtc.cmos[RTC_REG_B] & REG_B_SET))
		commit_guest_time();
}

static int rtc_handler(struct vmctx *ctx, bool in, uint16_t port, int bytes, uint32_t *val,
		       void *arg)
{
	pthread_mutex_lock(&rtc.lock);
	if (port == RTC_INDEX_PORT) {
		if (in)
			*val = rtc.index;
		else
			rtc.index = (uint8_t)(*val & ~NMI_DISABLE_BIT) & (CMOS_SIZE - 1);
	} else if (in) {
		*val = cmos_read(rtc.index);
	} else {
		cmos_write(rtc.index, (uint8_t)*val);
	}
	pthread_mutex_unlock(&rtc.lock);
	return 0;
}

static int rtc_init(struct vmctx *ctx)
{
	const struct inout_port iop = { "rtc", RTC_INDEX_PORT, 2, IOPORT_F_INOUT, rtc_handler, NULL };

	memset(rtc.cmos, 0, sizeof(rtc.cmos));
	rtc.cmos[RTC_REG_A] = 0x26; /* 32.768 kHz time base, 1024 Hz rate */
	rtc.cmos[RTC_REG_B] = REG_B_24H;
	rtc.cmos[RTC_REG_D] = REG_D_VRT;
	rtc.localtime = get_config_bool_default("rtc.use_localtime", true);
	rtc.offset = 0;
	if (register_inout(&iop) < 0)
		return -1;
	/* Selecting a register has no effect until 0x71 is read or written. */
	(void)coalesce_port_writes(ctx, RTC_INDEX_PORT, NULL);
	return 0;
}

/*
 * The memory-size bytes a PC BIOS leaves in CMOS, which firmware such as
 * SeaBIOS reads when fw_cfg gives no e820 map (values as QEMU's pc_cmos_init).
 */
static void cmos_put16(uint8_t reg, uint64_t v)
{
	v = v > 0xffff ? 0xffff : v;
	rtc.cmos[reg] = (uint8_t)v;
	rtc.cmos[reg + 1] = (uint8_t)(v >> 8);
}

void rtc_set_memory(uint64_t lowmem, uint64_t highmem)
{
	uint64_t above_1m = lowmem > (1u << 20) ? (lowmem - (1u << 20)) >> 10 : 0;
	uint64_t above_16m = lowmem > (16u << 20) ? (lowmem - (16u << 20)) >> 16 : 0;
	uint64_t above_4g = highmem >> 16;

	cmos_put16(0x15, 640);       /* base memory, KiB */
	cmos_put16(0x17, above_1m);  /* extended memory, KiB */
	cmos_put16(0x30, above_1m);
	cmos_put16(0x34, above_16m); /* above 16 MiB, 64 KiB units */
	rtc.cmos[0x5b] = (uint8_t)above_4g; /* above 4 GiB, 64 KiB units, 3 bytes */
	rtc.cmos[0x5c] = (uint8_t)(above_4g >> 8);
	rtc.cmos[0x5d] = (uint8_t)(above_4g >> 16);
}

static struct lpc_dev rtc_dev = { .name = "rtc", .init = rtc_init };
LPC_DEV_SET(rtc_dev);
