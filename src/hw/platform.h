/*
 * Platform (LPC) devices: the fixed parts of the PC every VM has (UARTs, ACPI
 * power management, RTC). Each registers itself with LPC_DEV_SET() and is
 * initialised in link order by lpc_init(); a device reads its own config keys.
 */
#ifndef KHYVE_PLATFORM_H
#define KHYVE_PLATFORM_H

#include <stdint.h>

#include "core/linker_set.h"

struct vmctx;
struct acpi_config;

struct lpc_dev {
	const char *name;
	/* Returns 0, or -1 after printing one error line. */
	int (*init)(struct vmctx *ctx);
	/* Describe the device to the ACPI builder (may be NULL). */
	void (*acpi)(struct acpi_config *cfg);
	/* Undo what init did to the host (terminal modes...); may be NULL. */
	void (*cleanup)(void);
};

#define LPC_DEV_SET(x) DATA_SET(lpc_dev_set, x)

int lpc_init(struct vmctx *ctx);
void lpc_acpi(struct acpi_config *cfg);
void lpc_cleanup(void);

/* RTC: CMOS memory-size bytes for firmware (call after lpc_init). */
void rtc_set_memory(uint64_t lowmem, uint64_t highmem);

/* ACPI PM: press the power button (SIGTERM). */
void acpi_pm_power_button(struct vmctx *ctx);

#endif
