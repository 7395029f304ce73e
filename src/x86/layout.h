/*
 * Where khyve puts things in low guest memory for a direct kernel boot.
 * Everything below 1 MiB that is not RAM for the guest is marked reserved in
 * the e820 map, so the guest never reuses it.
 */
#ifndef KHYVE_X86_LAYOUT_H
#define KHYVE_X86_LAYOUT_H

#define BOOT_GDT_ADDR 0x500ull
#define PVH_START_INFO_ADDR 0x6000ull   /* PVH: struct hvm_start_info (56 bytes) */
#define PVH_MODLIST_ADDR 0x6040ull      /* PVH: module list, the initrd (32 bytes) */
#define PVH_MEMMAP_ADDR 0x6080ull       /* PVH: memory map, up to the zero page's address */
#define BOOT_ZERO_PAGE_ADDR 0x7000ull   /* struct boot_params */
#define BOOT_PML4_ADDR 0x9000ull
#define BOOT_PDPT_ADDR 0xa000ull
#define BOOT_PD_ADDR 0xb000ull          /* 4 page directories: 0xb000-0xefff, 4 GiB of 2 MiB pages */
#define BOOT_CMDLINE_ADDR 0x20000ull
#define BOOT_CMDLINE_MAX 0x10000ull
#define EBDA_START 0x9fc00ull
#define BIOS_AREA_START 0xe0000ull       /* reserved up to 1 MiB; ACPI tables live here */
#define BIOS_AREA_END 0x100000ull
#define ACPI_TABLES_ADDR BIOS_AREA_START
#define KERNEL_LOAD_ADDR 0x100000ull

#endif
