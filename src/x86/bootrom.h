/*
 * Firmware boot (-l bootrom,FILE[,VARS]): the image mapped read-only so that it
 * ends at 4 GiB, where the CPU's reset vector fetches from; KVM's reset state
 * starts vCPU 0 there. What the firmware needs to know about the machine it
 * reads from fw_cfg (etc/e820, the ACPI loader files, etc/sercon-port) and
 * CMOS.
 */
#ifndef KHYVE_BOOTROM_H
#define KHYVE_BOOTROM_H

#include <stdint.h>

struct vmctx;

#define BOOTROM_MAX_SIZE (16u << 20)
/* Images this small are SeaBIOS-like: their last 128 KiB also sit below 1 MiB. */
#define BOOTROM_LEGACY_MAX (256u << 10)
#define BOOTROM_LEGACY_COPY (128u << 10)

/*
 * Map the image and, if vars_path is not NULL, the variable store below it
 * (a CFI flash, hw/cfi_flash.h); hand firmware its fw_cfg items.
 * Returns 0, or -1 after one error line.
 */
int bootrom_setup(struct vmctx *ctx, const char *path, const char *vars_path);
/* Save and release the variable store (at exit). */
void bootrom_cleanup(void);

#endif
