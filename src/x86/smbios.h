/*
 * SMBIOS (DMTF DSP0134, version 2.8): what dmidecode and /sys/class/dmi show
 * a guest. One generator for both boot paths, as for ACPI:
 *  - direct kernel boot: smbios_install() writes the entry point and the
 *    structures at SMBIOS_ADDR, in the 0xF0000 segment Linux scans;
 *  - firmware: smbios_add_fw_cfg() offers them as QEMU's
 *    etc/smbios/smbios-anchor and etc/smbios/smbios-tables, which SeaBIOS
 *    and OVMF install in place of their own.
 * Strings come from bhyve's configuration keys (bios.*, system.*, board.*,
 * chassis.*) and the UUID from "uuid" (-U), else from the host and VM names.
 */
#ifndef KHYVE_SMBIOS_H
#define KHYVE_SMBIOS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SMBIOS_ADDR 0xf0000ull
#define SMBIOS_EP_LEN 31 /* the 2.x ("_SM_") entry point */

struct smbios_config {
	int sockets, cores_per_socket, threads_per_core;
	uint64_t lowmem, highmem; /* bytes of RAM below 4 GiB and from 4 GiB */
	uint8_t uuid[16];         /* smbios_vm_uuid's */
	bool firmware;            /* booted through firmware, which describes itself (type 0) */
};

struct smbios_tables {
	uint8_t anchor[SMBIOS_EP_LEN]; /* structure table address 0: filled by whoever places it */
	uint8_t *structs;
	size_t len;
};

/*
 * The VM's UUID in RFC 4122 (big-endian) order: uuid (-U, 8-4-4-4-12 hex
 * digits) if given, else, as bhyve, a digest of the VM and host names.
 * -1 (one line on stderr) when uuid is not a UUID.
 */
int smbios_vm_uuid(const char *uuid, const char *vm_name, uint8_t out[16]);
/* Build from cfg and the configuration's strings; -1 (one line on stderr) on failure. */
int smbios_build(const struct smbios_config *cfg, struct smbios_tables *out);
void smbios_free(struct smbios_tables *t);
/* Lay out at gpa (host view dst, room bytes): bytes used, 0 if it does not fit. */
size_t smbios_install(const struct smbios_tables *t, void *dst, uint64_t gpa, size_t room);
int smbios_add_fw_cfg(const struct smbios_tables *t);

#endif
