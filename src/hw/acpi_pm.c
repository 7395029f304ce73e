/*
 * ACPI fixed hardware (the FADT's PM1a event/control blocks and PM timer),
 * plus the ways a PC guest resets itself. This is how a guest leaves:
 *  - poweroff: SLP_TYPa = _S5 value with SLP_EN in PM1a_CNT  -> exit 1
 *  - reboot:   the FADT reset register (0xcf9), or the 8042 pulse -> exit 0
 * and how the host asks it to leave: the fixed-feature power button raises
 * PWRBTN_STS and the SCI, and the guest's ACPI driver shuts down cleanly.
 */
#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "core/coalesce.h"
#include "core/inout.h"
#include "core/vmm.h"
#include "hw/isa_irq.h"
#include "hw/platform.h"
#include "x86/acpi.h"

#define PM1_TMR_STS (1u << 0)
#define PM1_PWRBTN_STS (1u << 8)
#define PM1_WAK_STS (1u << 15)
#define PM1_STS_W1C_MASK 0x8f31u /* bits a guest may clear (write 1) */
#define PM1_EN_MASK 0x0521u      /* TMR_EN, GBL_EN, PWRBTN_EN, RTC_EN */
#define PM1_CNT_SCI_EN (1u << 0)
#define PM1_CNT_SLP_TYP_SHIFT 10
#define PM1_CNT_SLP_TYP_MASK (7u << PM1_CNT_SLP_TYP_SHIFT)
#define PM1_CNT_SLP_EN (1u << 13)
#define PM_TIMER_HZ 3579545ull
#define RESET_CPU_BIT 0x04
#define KBC_CMD_PORT 0x64
#define KBC_CMD_PULSE_RESET 0xfe
#define POST_PORT 0x80
#define SYSCTRL_PORT 0x92 /* PS/2 "system control port A" */
#define SYSCTRL_FAST_RESET 0x01
#define SYSCTRL_A20 0x02
#define SCI_SOURCE 0

static struct {
	pthread_mutex_t lock;
	uint16_t sts, en, cnt;
	uint8_t reset_reg;
} pm = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* SCI is level-triggered: asserted while any enabled status bit is set. Call locked. */
static void update_sci(struct vmctx *ctx)
{
	isa_irq_set(ctx, ACPI_SCI_IRQ, SCI_SOURCE, (pm.sts & pm.en) != 0);
}

static uint32_t read_pm1_evt(uint16_t offset)
{
	/* PM1_STS at +0, PM1_EN at +2; 2- and 4-byte reads both happen. */
	uint32_t both = (uint32_t)pm.sts | (uint32_t)pm.en << 16;

	return both >> (8 * offset);
}

static void write_pm1_evt(uint16_t offset, int bytes, uint32_t val)
{
	for (int i = 0; i < bytes && offset + i < 4; i++) {
		uint8_t b = (uint8_t)(val >> (8 * i));
		int reg_byte = offset + i;

		if (reg_byte < 2)
			pm.sts &= (uint16_t)~(((uint16_t)b << (8 * reg_byte)) & PM1_STS_W1C_MASK);
		else {
			uint16_t shift = (uint16_t)(8 * (reg_byte - 2));

			pm.en = (uint16_t)((pm.en & ~(0xffu << shift)) | ((uint16_t)b << shift));
			pm.en &= PM1_EN_MASK;
		}
	}
}

static int pm1_evt_handler(struct vmctx *ctx, bool in, uint16_t port, int bytes, uint32_t *val,
			   void *arg)
{
	uint16_t offset = port - ACPI_PM1A_EVT_PORT;

	pthread_mutex_lock(&pm.lock);
	if (in)
		*val = read_pm1_evt(offset);
	else
		write_pm1_evt(offset, bytes, *val);
	update_sci(ctx);
	pthread_mutex_unlock(&pm.lock);
	return 0;
}

/* SLP_TYP 0 is S5 on QEMU's PIIX4, and stock OVMF powers off with it. */
#define PIIX4_S5_SLP_TYP 0

static void enter_sleep_state(unsigned int slp_typ)
{
	/*
	 * Only S5 exists here (the DSDT's value, or PIIX4's for firmware built
	 * for QEMU); other sleep types are ignored as on hardware without them.
	 */
	if (slp_typ == ACPI_S5_SLP_TYP || slp_typ == PIIX4_S5_SLP_TYP)
		vm_request_exit(VM_EXIT_POWEROFF);
}

static int pm1_cnt_handler(struct vmctx *ctx, bool in, uint16_t port, int bytes, uint32_t *val,
			   void *arg)
{
	uint16_t offset = port - ACPI_PM1A_CNT_PORT;

	pthread_mutex_lock(&pm.lock);
	if (in) {
		/* No SMM: the platform is always in ACPI mode, so SCI_EN always reads 1. */
		*val = (uint32_t)(pm.cnt | PM1_CNT_SCI_EN) >> (8 * offset);
	} else {
		uint16_t v = offset == 0 ? (uint16_t)*val : (uint16_t)((*val & 0xff) << 8 | (pm.cnt & 0xff));

		pm.cnt = v & (uint16_t)~PM1_CNT_SLP_EN;
		if (v & PM1_CNT_SLP_EN)
			enter_sleep_state((v & PM1_CNT_SLP_TYP_MASK) >> PM1_CNT_SLP_TYP_SHIFT);
	}
	pthread_mutex_unlock(&pm.lock);
	return 0;
}

static uint32_t pm_timer_now(void)
{
	struct timespec ts;
	unsigned __int128 ticks;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ticks = ((unsigned __int128)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec) *
		PM_TIMER_HZ / 1000000000ull;
	return (uint32_t)ticks & 0xffffff;
}

static int pm_tmr_handler(struct vmctx *ctx, bool in, uint16_t port, int bytes, uint32_t *val,
			  void *arg)
{
	if (in)
		*val = pm_timer_now() >> (8 * (port - ACPI_PM_TMR_PORT));
	return 0;
}

static int reset_handler(struct vmctx *ctx, bool in, uint16_t port, int bytes, uint32_t *val,
			 void *arg)
{
	if (in) {
		*val = pm.reset_reg;
		return 0;
	}
	pm.reset_reg = (uint8_t)*val;
	if (pm.reset_reg & RESET_CPU_BIT)
		vm_request_exit(VM_EXIT_REBOOT);
	return 0;
}

static int kbc_handler(struct vmctx *ctx, bool in, uint16_t port, int bytes, uint32_t *val,
		       void *arg)
{
	if (in)
		return -1; /* no keyboard controller: reads float */
	if ((*val & 0xff) == KBC_CMD_PULSE_RESET)
		vm_request_exit(VM_EXIT_REBOOT);
	return 0;
}

/* A20 is always on (there is no wrap at 1 MiB to mask); bit 0 resets the machine. */
static int sysctrl_handler(struct vmctx *ctx, bool in, uint16_t port, int bytes, uint32_t *val,
			   void *arg)
{
	if (in)
		*val = SYSCTRL_A20;
	else if (*val & SYSCTRL_FAST_RESET)
		vm_request_exit(VM_EXIT_REBOOT);
	return 0;
}

static int post_handler(struct vmctx *ctx, bool in, uint16_t port, int bytes, uint32_t *val,
			void *arg)
{
	/* POST codes and Linux's io_delay land here: accepted and dropped. */
	if (in)
		*val = 0xff;
	return 0;
}

void acpi_pm_power_button(struct vmctx *ctx)
{
	pthread_mutex_lock(&pm.lock);
	pm.sts |= PM1_PWRBTN_STS;
	update_sci(ctx);
	pthread_mutex_unlock(&pm.lock);
}

static int acpi_pm_init(struct vmctx *ctx)
{
	const struct inout_port ports[] = {
		{ "pm1a_evt", ACPI_PM1A_EVT_PORT, 4, IOPORT_F_INOUT, pm1_evt_handler, NULL },
		{ "pm1a_cnt", ACPI_PM1A_CNT_PORT, 2, IOPORT_F_INOUT, pm1_cnt_handler, NULL },
		{ "pm_tmr", ACPI_PM_TMR_PORT, 4, IOPORT_F_IN, pm_tmr_handler, NULL },
		{ "reset", ACPI_RESET_PORT, 1, IOPORT_F_INOUT, reset_handler, NULL },
		{ "kbc", KBC_CMD_PORT, 1, IOPORT_F_INOUT, kbc_handler, NULL },
		{ "post", POST_PORT, 1, IOPORT_F_INOUT, post_handler, NULL },
		{ "sysctrl", SYSCTRL_PORT, 1, IOPORT_F_INOUT, sysctrl_handler, NULL },
	};

	pm.sts = pm.en = pm.cnt = 0;
	for (size_t i = 0; i < sizeof(ports) / sizeof(ports[0]); i++)
		if (register_inout(&ports[i]) < 0)
			return -1;
	/* Writes there do nothing: let KVM queue them instead of exiting. */
	(void)coalesce_port_writes(ctx, POST_PORT, NULL);
	return 0;
}

static struct lpc_dev acpi_pm_dev = { .name = "acpi-pm", .init = acpi_pm_init };
LPC_DEV_SET(acpi_pm_dev);
