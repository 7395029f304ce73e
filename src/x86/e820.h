/* The BIOS memory map (e820), shared by direct boot and (later) fw_cfg. */
#ifndef KHYVE_X86_E820_H
#define KHYVE_X86_E820_H

#include <stdint.h>

#define E820_RAM 1
#define E820_RESERVED 2
#define E820_ACPI 3

struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
} __attribute__((packed));

/*
 * Memory map for "lowmem" bytes of RAM at 0 and "highmem" bytes at 4 GiB.
 * Returns the number of entries written (at most max), or -1 if it does not fit.
 */
int e820_build(uint64_t lowmem, uint64_t highmem, struct e820_entry *out, int max);
/*
 * The map handed to firmware (fw_cfg etc/e820) on khyve's i440FX layout: no
 * ECAM area (the firmware owns the PCI hole), KVM's private pages reserved.
 */
int e820_build_firmware(uint64_t lowmem, uint64_t highmem, struct e820_entry *out, int max);

#endif
