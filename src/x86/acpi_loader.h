/*
 * The ACPI tables for firmware boot: QEMU's fw_cfg linker/loader
 * (QEMU hw/acpi/bios-linker-loader.c). Firmware (SeaBIOS, OVMF) reads the
 * file etc/table-loader, a list of 128-byte commands, and replays it:
 * allocate etc/acpi/rsdp (FSEG) and etc/acpi/tables (high memory), patch each
 * pointer field by adding the address its target file landed at, and fix
 * each checksum. The blobs come from the same acpi_build() as acpi_install()
 * and the commands from the pointers and checksums it recorded, so both boot
 * paths give the guest the same tables.
 */
#ifndef KHYVE_ACPI_LOADER_H
#define KHYVE_ACPI_LOADER_H

#include <stdint.h>

#include "x86/acpi.h"

#define ACPI_LOADER_RSDP_FILE "etc/acpi/rsdp"
#define ACPI_LOADER_TABLES_FILE "etc/acpi/tables"
#define ACPI_LOADER_FILE "etc/table-loader"

#define LOADER_CMD_ALLOCATE 1
#define LOADER_CMD_ADD_POINTER 2
#define LOADER_CMD_ADD_CHECKSUM 3
#define LOADER_CMD_SIZE 128
#define LOADER_FILE_LEN 56
#define LOADER_ZONE_HIGH 1
#define LOADER_ZONE_FSEG 2
#define ACPI_LOADER_TABLES_ALIGN 64

struct acpi_loader_blobs {
	uint8_t *rsdp, *tables, *loader;
	uint32_t rsdp_len, tables_len, loader_len;
};

/*
 * Lay tables[1..] out in one blob (pointer fields hold the target's offset
 * within its file, checksums zero) and write the commands. Returns 0, or -1
 * for tables it cannot describe (as acpi_install() refuses them).
 */
int acpi_loader_build(const struct acpi_tables *t, struct acpi_loader_blobs *out);
void acpi_loader_free(struct acpi_loader_blobs *b);
/* Build and hand the three files to fw_cfg. Returns 0, or -1. */
int acpi_loader_add_fw_cfg(const struct acpi_tables *t);

#endif
