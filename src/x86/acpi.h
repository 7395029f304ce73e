/*
 * ACPI tables, built in C (acpi.c, AML helpers in aml.c). One generator serves
 * both boot paths:
 *  - direct kernel boot: acpi_install() lays the tables out in guest RAM at a
 *    fixed address with every pointer and checksum resolved;
 *  - firmware boot (later issue): the same blobs are handed to firmware through
 *    QEMU's fw_cfg linker/loader, which needs to know where pointers and
 *    checksums are -- so the builder records them instead of assuming an
 *    address.
 */
#ifndef KHYVE_ACPI_H
#define KHYVE_ACPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ACPI_MAX_CPUS 256
#define ACPI_MAX_UARTS 4

/* Fixed platform resources (also used by the device models in hw/). */
#define ACPI_PM1A_EVT_PORT 0x600 /* 4 bytes: PM1_STS (2), PM1_EN (2) */
#define ACPI_PM1A_CNT_PORT 0x604 /* 2 bytes */
#define ACPI_PM_TMR_PORT 0x608   /* 4 bytes, 24-bit counter at 3.579545 MHz */
#define ACPI_RESET_PORT 0xcf9
#define ACPI_RESET_VALUE 0x06
#define ACPI_SCI_IRQ 9
#define ACPI_S5_SLP_TYP 5 /* value the DSDT's _S5 gives for SLP_TYPa */
#define ACPI_RTC_CENTURY_INDEX 0x32 /* CMOS register holding the century (FADT) */
#define IOAPIC_BASE 0xfec00000u

/*
 * PCI segment 0, root bus 0: config space through ports 0xcf8/0xcfc and
 * ECAM (MCFG); the windows the host bridge decodes for BARs; INTx lines on
 * IOAPIC pins 16-23, swizzled by slot as a PC does (the DSDT's _PRT).
 */
#define PCI_ECAM_BASE 0xe0000000ull
/*
 * Only the buses there are (bus 0). Linux takes the MCFG's last bus as the
 * highest to probe for peer host bridges: with 256 it reads the vendor ID
 * of 8160 absent devices through 0xcf8/0xcfc at boot, 16320 exits (~1 s
 * in the nested testbed).
 */
#define PCI_ECAM_BUSES 1
#define PCI_ECAM_SIZE ((uint64_t)PCI_ECAM_BUSES << 20)
#define PCI_MMIO32_BASE 0xc0000000ull /* = VM_LOWMEM_LIMIT: right above low RAM */
#define PCI_MMIO32_END PCI_ECAM_BASE  /* exclusive */
#define PCI_IO_BASE 0x2000u           /* BARs are placed from here... */
#define PCI_IO_END 0x10000u           /* ...to the end of port space */
#define PCI_INTX_GSI_BASE 16
#define PCI_INTX_GSIS 8
#define PCI_SLOTS 32
#define LAPIC_BASE 0xfee00000u

struct acpi_uart {
	/*
	 * DSDT device name: 1-4 of A-Z 0-9 _ ("COM1"); NULL = "COM<index+1>".
	 * "COMn" gets _UID n, any other name its 1-based index.
	 */
	const char *name;
	uint16_t port;
	uint8_t irq;
};

struct acpi_config {
	int ncpus;
	uint32_t apic_ids[ACPI_MAX_CPUS];
	uint8_t ioapic_id;
	int nuarts;
	struct acpi_uart uarts[ACPI_MAX_UARTS];
	/*
	 * PCI: the 32-bit MMIO window (both 0: PCI_MMIO32_BASE..PCI_MMIO32_END)
	 * and, unless no_ecam, the ECAM area at PCI_ECAM_BASE with its MCFG.
	 */
	uint64_t mmio32_base, mmio32_end;
	bool no_ecam;
	/* OEM strings: "KHYVE " / "KHYVEVM " style, padded by the builder. */
};

/* A pointer field inside one table that refers to another table. */
struct acpi_pointer {
	int src_table;       /* index of the table holding the pointer field */
	uint32_t offset;     /* offset of the field within src_table */
	uint8_t size;        /* 4 or 8 bytes */
	int dst_table;       /* index of the table pointed to */
};

struct acpi_table {
	char name[8];        /* "RSDP", "XSDT", "FACP", "DSDT", "APIC", "FACS"... */
	uint8_t *data;
	uint32_t len;
	uint32_t align;      /* required alignment (FACS: 64) */
	/* Offset of the checksum byte, and the range it covers. */
	bool has_checksum;
	uint32_t csum_offset, csum_start, csum_len;
	/* RSDP v2 also has an extended checksum over the whole structure. */
	bool has_ext_checksum;
	uint32_t ext_csum_offset, ext_csum_len;
};

struct acpi_tables {
	int ntables;
	struct acpi_table tables[16]; /* tables[0] is the RSDP */
	int npointers;
	struct acpi_pointer pointers[64];
};

/*
 * Build every table (pointer fields zero, checksums not yet computed): RSDP,
 * XSDT, RSDT, FACP, FACS, DSDT, APIC, MCFG, in that order. Returns 0, or -1 for a
 * config it cannot describe: ncpus outside 1..ACPI_MAX_CPUS, nuarts outside
 * 0..ACPI_MAX_UARTS, duplicate (or all-ones) APIC IDs, UART names that are not
 * valid and unique, UART IRQs above 15. On failure *out is left empty, so
 * acpi_tables_free() is optional.
 */
int acpi_build(const struct acpi_config *cfg, struct acpi_tables *out);
void acpi_tables_free(struct acpi_tables *t);

/*
 * Lay the tables out contiguously starting at guest-physical "gpa" (host
 * buffer "mem" maps it, "len" bytes available), resolve pointers and
 * checksums. The RSDP is placed first, so its address is "gpa".
 * Returns bytes used, or 0 if it does not fit -- also when "gpa" is not
 * aligned for the RSDP (16 bytes) or a table would land beyond the 4 GiB
 * that the RSDT's and FADT's 32-bit pointers can reach.
 */
/* IOAPIC pin (GSI) of a bus-0 device's INTx pin (1 = INTA .. 4 = INTD), as the _PRT says. */
unsigned acpi_pci_intx_gsi(unsigned slot, unsigned pin);

size_t acpi_install(const struct acpi_tables *t, uint8_t *mem, uint64_t gpa, size_t len);

#endif
