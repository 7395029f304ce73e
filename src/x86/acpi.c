/*
 * ACPI tables for the guest (layouts from ACPI 6.4 chapter 5), built with
 * explicit little-endian writers (aml_put_*) so no struct packing is needed.
 *
 * acpi_build() produces every table with its pointer fields zero and its
 * checksums uncomputed, recording where each pointer and checksum lives;
 * acpi_install() places the tables, resolves pointers, then checksums. The
 * fw_cfg linker/loader path will replay the same records in firmware.
 */
#include "x86/acpi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "x86/aml.h"

#define OEM_ID "KHYVE "         /* 6 bytes */
#define OEM_TABLE_ID "KHYVEVM " /* 8 bytes */
#define OEM_REVISION 1
#define CREATOR_ID "KHYV"       /* 4 bytes */
#define CREATOR_REVISION 1

/* Tables, in the order acpi_install() lays them out; the RSDP must be first. */
enum table_index { T_RSDP, T_XSDT, T_RSDT, T_FADT, T_FACS, T_DSDT, T_MADT, T_MCFG, T_COUNT };

/* Tables the RSDT/XSDT list; the DSDT and FACS are reached through the FADT. */
static const int listed_tables[] = { T_FADT, T_MADT, T_MCFG };

/* Every System Description Table starts with this 36-byte header. */
#define SDT_HEADER_LEN 36
#define SDT_LENGTH_OFFSET 4
#define SDT_CHECKSUM_OFFSET 9
#define SDT_ALIGN 8 /* not required, but keeps 64-bit fields naturally aligned */

#define RSDP_LEN 36
#define RSDP_V1_LEN 20 /* range of the first checksum */
#define RSDP_CHECKSUM_OFFSET 8
#define RSDP_EXT_CHECKSUM_OFFSET 32
#define RSDP_ALIGN 16 /* OSPM scans for it on 16-byte boundaries */

#define FACS_LEN 64
#define FACS_ALIGN 64

#define FADT_LEN 276 /* FADT major version 6 */
#define FADT_REVISION 6
#define FADT_MINOR_REVISION 4
#define MADT_REVISION 5
#define DSDT_REVISION 2 /* 64-bit AML integers */

/* FADT Flags (ACPI 6.4 table 5.10). */
#define FADT_WBINVD (1u << 0)
#define FADT_PROC_C1 (1u << 2)
#define FADT_SLP_BUTTON (1u << 5)   /* set: there is no sleep button */
#define FADT_RESET_REG_SUP (1u << 10)
/* PWR_BUTTON (bit 4) stays clear: the power button is a fixed feature. */
/* TMR_VAL_EXT (bit 8) stays clear: the PM timer counts 24 bits. */

/* FADT IA-PC boot architecture flags (ACPI 6.4 table 5.11). */
#define IAPC_LEGACY_DEVICES (1u << 0) /* ISA devices (the COM ports) exist */
#define IAPC_VGA_NOT_PRESENT (1u << 2)
/* 8042 (bit 1) clear: no keyboard controller, so guests need not probe one. */
/* MSI_NOT_SUPPORTED (bit 3) and CMOS_RTC_NOT_PRESENT (bit 5) clear. */

/* C2/C3 latencies above these values mean "state not supported". */
#define FADT_C2_NOT_SUPPORTED 101
#define FADT_C3_NOT_SUPPORTED 1001

/* Generic Address Structure (ACPI 6.4 section 5.2.3.2). */
#define GAS_SYSTEM_IO 1
#define GAS_ACCESS_BYTE 1
#define GAS_ACCESS_WORD 2
#define GAS_ACCESS_DWORD 3
#define GAS_LEN 12

/* MADT (ACPI 6.4 section 5.2.12). */
#define MADT_PCAT_COMPAT (1u << 0) /* dual 8259s present: mask them */
#define MADT_LAPIC 0
#define MADT_IOAPIC 1
#define MADT_INT_SRC_OVERRIDE 2
#define MADT_LAPIC_NMI 4
#define MADT_X2APIC 9
#define MADT_X2APIC_NMI 10
#define MADT_ENABLED (1u << 0)
#define MADT_ALL_PROCESSORS_UID8 0xff
#define MADT_ALL_PROCESSORS_UID32 0xffffffffu
#define MADT_MAX_XAPIC_ID 254 /* 255 is broadcast: larger IDs need x2APIC entries */
#define MPS_ACTIVE_HIGH 0x1
#define MPS_LEVEL 0xc
#define LINT1 1

/* ---- Recording tables and pointers ---------------------------------- */

/*
 * Emit a zero pointer field of "size" bytes at the current end of table
 * "src" and record that it must point at table "dst".
 */
static void put_pointer(struct aml *a, struct acpi_tables *t, int src, int dst,
			uint8_t size)
{
	size_t n = sizeof(t->pointers) / sizeof(t->pointers[0]);

	if ((size_t)t->npointers >= n) {
		a->failed = true;
		return;
	}
	t->pointers[t->npointers++] = (struct acpi_pointer){
		.src_table = src, .offset = (uint32_t)a->len, .size = size, .dst_table = dst
	};
	if (size == 8)
		aml_put_u64(a, 0);
	else
		aml_put_u32(a, 0);
}

/* Move the finished bytes into t->tables[idx]. NULL if anything failed. */
static struct acpi_table *store_table(struct acpi_tables *t, int idx, const char *name,
				     struct aml *a, uint32_t align)
{
	struct acpi_table *tbl = &t->tables[idx];
	size_t len;

	if (aml_finish(a) < 0 || a->len > UINT32_MAX) {
		aml_free(a);
		return NULL;
	}
	memset(tbl, 0, sizeof(*tbl));
	snprintf(tbl->name, sizeof(tbl->name), "%s", name);
	tbl->data = aml_take(a, &len);
	tbl->len = (uint32_t)len;
	tbl->align = align;
	return tbl;
}

static void put_sdt_header(struct aml *a, const char *signature, uint8_t revision)
{
	aml_put_bytes(a, signature, 4);
	aml_put_u32(a, 0); /* Length, set by store_sdt() */
	aml_put_u8(a, revision);
	aml_put_u8(a, 0);  /* Checksum, computed when installed */
	aml_put_bytes(a, OEM_ID, 6);
	aml_put_bytes(a, OEM_TABLE_ID, 8);
	aml_put_u32(a, OEM_REVISION);
	aml_put_bytes(a, CREATOR_ID, 4);
	aml_put_u32(a, CREATOR_REVISION);
}

/* Finish a table that starts with put_sdt_header(): length and checksum. */
static int store_sdt(struct acpi_tables *t, int idx, struct aml *a)
{
	char name[5] = "";
	struct acpi_table *tbl;

	if (a->len >= SDT_HEADER_LEN) {
		memcpy(name, a->buf, 4);
		aml_patch_u32(a, SDT_LENGTH_OFFSET, (uint32_t)a->len);
	}
	tbl = store_table(t, idx, name, a, SDT_ALIGN);
	if (!tbl)
		return -1;
	tbl->has_checksum = true;
	tbl->csum_offset = SDT_CHECKSUM_OFFSET;
	tbl->csum_start = 0;
	tbl->csum_len = tbl->len;
	return 0;
}

/* ---- RSDP, RSDT, XSDT ------------------------------------------------ */

static int build_rsdp(struct acpi_tables *t)
{
	struct acpi_table *tbl;
	struct aml a;

	aml_init(&a);
	aml_put_bytes(&a, "RSD PTR ", 8);
	aml_put_u8(&a, 0); /* Checksum over the ACPI 1.0 part */
	aml_put_bytes(&a, OEM_ID, 6);
	aml_put_u8(&a, 2); /* Revision: ACPI 2.0+ layout, has an XSDT */
	put_pointer(&a, t, T_RSDP, T_RSDT, 4);
	aml_put_u32(&a, RSDP_LEN);
	put_pointer(&a, t, T_RSDP, T_XSDT, 8);
	aml_put_u8(&a, 0); /* Extended Checksum over the whole structure */
	aml_put_bytes(&a, "\0\0\0", 3);
	tbl = store_table(t, T_RSDP, "RSDP", &a, RSDP_ALIGN);
	if (!tbl)
		return -1;
	tbl->has_checksum = true;
	tbl->csum_offset = RSDP_CHECKSUM_OFFSET;
	tbl->csum_start = 0;
	tbl->csum_len = RSDP_V1_LEN;
	tbl->has_ext_checksum = true;
	tbl->ext_csum_offset = RSDP_EXT_CHECKSUM_OFFSET;
	tbl->ext_csum_len = RSDP_LEN;
	return 0;
}

/* RSDT (32-bit entries, for ACPI 1.0 guests) and XSDT (64-bit) list the same tables. */
static int build_sdt_list(struct acpi_tables *t, int idx, const char *signature,
			  uint8_t entry_size)
{
	struct aml a;

	aml_init(&a);
	put_sdt_header(&a, signature, 1);
	for (size_t i = 0; i < sizeof(listed_tables) / sizeof(listed_tables[0]); i++)
		if (listed_tables[i] < t->ntables)
			put_pointer(&a, t, idx, listed_tables[i], entry_size);
	return store_sdt(t, idx, &a);
}

/* ---- FADT and FACS ---------------------------------------------------- */

static void put_gas_io(struct aml *a, uint16_t port, uint8_t bit_width, uint8_t access)
{
	aml_put_u8(a, GAS_SYSTEM_IO);
	aml_put_u8(a, bit_width);
	aml_put_u8(a, 0); /* bit offset */
	aml_put_u8(a, access);
	aml_put_u64(a, port);
}

static void put_gas_none(struct aml *a)
{
	aml_put_bytes(a, (const uint8_t[GAS_LEN]){ 0 }, GAS_LEN);
}

/* The ACPI 1.0 part: 32-bit addresses of the fixed hardware blocks. */
static void put_fadt_legacy_blocks(struct aml *a, struct acpi_tables *t)
{
	put_pointer(a, t, T_FADT, T_FACS, 4); /* FIRMWARE_CTRL */
	put_pointer(a, t, T_FADT, T_DSDT, 4); /* DSDT */
	aml_put_u8(a, 0);                     /* reserved (ACPI 1.0 INT_MODEL) */
	aml_put_u8(a, 0);                     /* Preferred_PM_Profile: unspecified */
	aml_put_u16(a, ACPI_SCI_IRQ);
	/*
	 * SMI_CMD, ACPI_ENABLE, ACPI_DISABLE zero: there is no SMM, the
	 * hardware is always in ACPI mode (SCI_EN reads as set).
	 */
	aml_put_u32(a, 0);
	aml_put_u8(a, 0);
	aml_put_u8(a, 0);
	aml_put_u8(a, 0);                  /* S4BIOS_REQ */
	aml_put_u8(a, 0);                  /* PSTATE_CNT */
	aml_put_u32(a, ACPI_PM1A_EVT_PORT); /* PM1a_EVT_BLK */
	aml_put_u32(a, 0);                 /* PM1b_EVT_BLK */
	aml_put_u32(a, ACPI_PM1A_CNT_PORT); /* PM1a_CNT_BLK */
	aml_put_u32(a, 0);                 /* PM1b_CNT_BLK */
	aml_put_u32(a, 0);                 /* PM2_CNT_BLK */
	aml_put_u32(a, ACPI_PM_TMR_PORT);   /* PM_TMR_BLK */
	aml_put_u32(a, 0);                 /* GPE0_BLK: no GPEs */
	aml_put_u32(a, 0);                 /* GPE1_BLK */
	aml_put_u8(a, 4);                  /* PM1_EVT_LEN */
	aml_put_u8(a, 2);                  /* PM1_CNT_LEN */
	aml_put_u8(a, 0);                  /* PM2_CNT_LEN */
	aml_put_u8(a, 4);                  /* PM_TMR_LEN */
	aml_put_u8(a, 0);                  /* GPE0_BLK_LEN */
	aml_put_u8(a, 0);                  /* GPE1_BLK_LEN */
	aml_put_u8(a, 0);                  /* GPE1_BASE */
	aml_put_u8(a, 0);                  /* CST_CNT: no _CST support */
	aml_put_u16(a, FADT_C2_NOT_SUPPORTED); /* P_LVL2_LAT */
	aml_put_u16(a, FADT_C3_NOT_SUPPORTED); /* P_LVL3_LAT */
	aml_put_u16(a, 0);                 /* FLUSH_SIZE: unused with WBINVD */
	aml_put_u16(a, 0);                 /* FLUSH_STRIDE */
	aml_put_u8(a, 0);                  /* DUTY_OFFSET */
	aml_put_u8(a, 0);                  /* DUTY_WIDTH: no throttling */
	aml_put_u8(a, 0);                  /* DAY_ALRM: not supported */
	aml_put_u8(a, 0);                  /* MON_ALRM */
	aml_put_u8(a, ACPI_RTC_CENTURY_INDEX); /* CENTURY: CMOS index */
}

/* The ACPI 2.0+ part: flags, reset register, 64-bit (X_) addresses. */
static void put_fadt_extended_blocks(struct aml *a, struct acpi_tables *t)
{
	aml_put_u16(a, IAPC_LEGACY_DEVICES | IAPC_VGA_NOT_PRESENT);
	aml_put_u8(a, 0); /* reserved */
	aml_put_u32(a, FADT_WBINVD | FADT_PROC_C1 | FADT_SLP_BUTTON | FADT_RESET_REG_SUP);
	put_gas_io(a, ACPI_RESET_PORT, 8, GAS_ACCESS_BYTE); /* RESET_REG */
	aml_put_u8(a, ACPI_RESET_VALUE);
	aml_put_u16(a, 0); /* ARM_BOOT_ARCH */
	aml_put_u8(a, FADT_MINOR_REVISION);
	/*
	 * Both the 32- and 64-bit FACS/DSDT pointers are filled with the same
	 * address; ACPICA accepts that and old guests only read the former.
	 */
	put_pointer(a, t, T_FADT, T_FACS, 8); /* X_FIRMWARE_CTRL */
	put_pointer(a, t, T_FADT, T_DSDT, 8); /* X_DSDT */
	/* PM1 status/enable and control are 16-bit registers, the timer 32. */
	put_gas_io(a, ACPI_PM1A_EVT_PORT, 32, GAS_ACCESS_WORD); /* X_PM1a_EVT_BLK */
	put_gas_none(a);                                       /* X_PM1b_EVT_BLK */
	put_gas_io(a, ACPI_PM1A_CNT_PORT, 16, GAS_ACCESS_WORD); /* X_PM1a_CNT_BLK */
	put_gas_none(a);                                       /* X_PM1b_CNT_BLK */
	put_gas_none(a);                                       /* X_PM2_CNT_BLK */
	put_gas_io(a, ACPI_PM_TMR_PORT, 32, GAS_ACCESS_DWORD);  /* X_PM_TMR_BLK */
	put_gas_none(a);                                       /* X_GPE0_BLK */
	put_gas_none(a);                                       /* X_GPE1_BLK */
	put_gas_none(a); /* SLEEP_CONTROL_REG: only for hardware-reduced ACPI */
	put_gas_none(a); /* SLEEP_STATUS_REG */
	aml_put_u64(a, 0); /* Hypervisor Vendor Identity */
}

/* FADT: fixed-hardware ACPI (not hardware-reduced), so PM1 and the PM timer exist. */
static int build_fadt(struct acpi_tables *t)
{
	struct aml a;

	aml_init(&a);
	put_sdt_header(&a, "FACP", FADT_REVISION);
	put_fadt_legacy_blocks(&a, t);
	put_fadt_extended_blocks(&a, t);
	if (a.len != FADT_LEN)
		a.failed = true;
	return store_sdt(t, T_FADT, &a);
}

/* FACS: firmware/OS shared memory (wake vector, global lock). No checksum. */
static int build_facs(struct acpi_tables *t)
{
	struct aml a;

	aml_init(&a);
	aml_put_bytes(&a, "FACS", 4);
	aml_put_u32(&a, FACS_LEN);
	aml_put_u32(&a, 0); /* Hardware Signature */
	aml_put_u32(&a, 0); /* Firmware Waking Vector: no S3 */
	aml_put_u32(&a, 0); /* Global Lock */
	aml_put_u32(&a, 0); /* Flags */
	aml_put_u64(&a, 0); /* X_Firmware_Waking_Vector */
	aml_put_u8(&a, 2);  /* Version */
	aml_put_bytes(&a, "\0\0\0", 3);
	aml_put_u32(&a, 0); /* OSPM Flags */
	aml_put_bytes(&a, (const uint8_t[24]){ 0 }, 24);
	return store_table(t, T_FACS, "FACS", &a, FACS_ALIGN) ? 0 : -1;
}

/* ---- MADT ------------------------------------------------------------ */

static void put_lapic(struct aml *a, uint8_t uid, uint8_t apic_id)
{
	aml_put_u8(a, MADT_LAPIC);
	aml_put_u8(a, 8);
	aml_put_u8(a, uid);
	aml_put_u8(a, apic_id);
	aml_put_u32(a, MADT_ENABLED);
}

static void put_x2apic(struct aml *a, uint32_t uid, uint32_t apic_id)
{
	aml_put_u8(a, MADT_X2APIC);
	aml_put_u8(a, 16);
	aml_put_u16(a, 0); /* reserved */
	aml_put_u32(a, apic_id);
	aml_put_u32(a, MADT_ENABLED);
	aml_put_u32(a, uid);
}

static void put_ioapic(struct aml *a, uint8_t id)
{
	aml_put_u8(a, MADT_IOAPIC);
	aml_put_u8(a, 12);
	aml_put_u8(a, id);
	aml_put_u8(a, 0); /* reserved */
	aml_put_u32(a, IOAPIC_BASE);
	aml_put_u32(a, 0); /* Global System Interrupt base */
}

static void put_irq_override(struct aml *a, uint8_t isa_irq, uint32_t gsi, uint16_t flags)
{
	aml_put_u8(a, MADT_INT_SRC_OVERRIDE);
	aml_put_u8(a, 10);
	aml_put_u8(a, 0); /* bus: ISA */
	aml_put_u8(a, isa_irq);
	aml_put_u32(a, gsi);
	aml_put_u16(a, flags);
}

/* LINT1 of every processor is wired to NMI (flags 0: bus defaults, edge/high). */
static void put_nmi(struct aml *a, bool x2apic)
{
	if (x2apic) {
		aml_put_u8(a, MADT_X2APIC_NMI);
		aml_put_u8(a, 12);
		aml_put_u16(a, 0);
		aml_put_u32(a, MADT_ALL_PROCESSORS_UID32);
		aml_put_u8(a, LINT1);
		aml_put_bytes(a, "\0\0\0", 3);
		return;
	}
	aml_put_u8(a, MADT_LAPIC_NMI);
	aml_put_u8(a, 6);
	aml_put_u8(a, MADT_ALL_PROCESSORS_UID8);
	aml_put_u16(a, 0);
	aml_put_u8(a, LINT1);
}

static int build_madt(const struct acpi_config *cfg, struct acpi_tables *t)
{
	bool any_x2apic = false;
	struct aml a;

	aml_init(&a);
	put_sdt_header(&a, "APIC", MADT_REVISION);
	aml_put_u32(&a, LAPIC_BASE);
	aml_put_u32(&a, MADT_PCAT_COMPAT);
	/* The processor UID is the CPU index; the DSDT's C### devices use it too. */
	for (int i = 0; i < cfg->ncpus; i++) {
		if (cfg->apic_ids[i] > MADT_MAX_XAPIC_ID) {
			put_x2apic(&a, (uint32_t)i, cfg->apic_ids[i]);
			any_x2apic = true;
		} else {
			put_lapic(&a, (uint8_t)i, (uint8_t)cfg->apic_ids[i]);
		}
	}
	put_ioapic(&a, cfg->ioapic_id);
	/*
	 * Only the SCI needs an override (it is level/active-high, not ISA
	 * edge). IRQ 0 needs none: KVM routes ISA IRQ n to IOAPIC pin n.
	 */
	put_irq_override(&a, ACPI_SCI_IRQ, ACPI_SCI_IRQ, MPS_LEVEL | MPS_ACTIVE_HIGH);
	put_nmi(&a, false);
	if (any_x2apic)
		put_nmi(&a, true);
	return store_sdt(t, T_MADT, &a);
}

/* ---- MCFG (PCI Firmware Specification 3.2, section 4.1.2) ------------ */

#define MCFG_REVISION 1

static int build_mcfg(struct acpi_tables *t)
{
	struct aml a;

	aml_init(&a);
	put_sdt_header(&a, "MCFG", MCFG_REVISION);
	aml_put_u64(&a, 0); /* reserved */
	/* One allocation: segment 0, buses 0..PCI_ECAM_BUSES-1. */
	aml_put_u64(&a, PCI_ECAM_BASE);
	aml_put_u16(&a, 0);
	aml_put_u8(&a, 0);
	aml_put_u8(&a, PCI_ECAM_BUSES - 1);
	aml_put_u32(&a, 0);
	return store_sdt(t, T_MCFG, &a);
}

/* ---- DSDT ------------------------------------------------------------ */

/* \_S5: SLP_TYPa, SLP_TYPb and two reserved values for soft-off. */
static void put_s5(struct aml *a)
{
	aml_name(a, "\\_S5");
	aml_package_begin(a);
	aml_integer(a, ACPI_S5_SLP_TYP);
	aml_integer(a, ACPI_S5_SLP_TYP);
	aml_integer(a, 0);
	aml_integer(a, 0);
	aml_end(a);
}

/*
 * ACPI 6 processor devices. Guests bring CPUs up from the MADT alone, but
 * these let OSPM bind its processor driver (idle states, etc.); _UID
 * matches the MADT processor UID.
 */
static void put_processors(struct aml *a, int ncpus)
{
	char name[16];

	for (int i = 0; i < ncpus; i++) {
		snprintf(name, sizeof(name), "C%03X", (unsigned)i);
		aml_device_begin(a, name);
		aml_name_str(a, "_HID", "ACPI0007");
		aml_name_integer(a, "_UID", (uint64_t)i);
		aml_end(a);
	}
}

#define UART_NAME_SIZE 16

/* The configured name, "COM<index + 1>" if none. Too long = invalid, later. */
static void uart_name(const struct acpi_config *cfg, int i, char name[UART_NAME_SIZE])
{
	if (cfg->uarts[i].name)
		snprintf(name, UART_NAME_SIZE, "%s", cfg->uarts[i].name);
	else
		snprintf(name, UART_NAME_SIZE, "COM%d", i + 1);
}

/* "COMn" gets _UID n, like on PCs; other names their 1-based position. */
static unsigned uart_uid(const struct acpi_config *cfg, int i)
{
	char name[UART_NAME_SIZE];

	uart_name(cfg, i, name);
	if (strncmp(name, "COM", 3) == 0 && name[3] >= '1' && name[3] <= '9' && !name[4])
		return (unsigned)(name[3] - '0');
	return (unsigned)i + 1;
}

/* A 16550 on the ISA bus: 8 I/O ports, one edge-triggered ISA IRQ. */
static void put_uart(struct aml *a, const char *name, unsigned uid,
		     const struct acpi_uart *u)
{
	aml_device_begin(a, name);
	aml_name_eisaid(a, "_HID", "PNP0501");
	aml_name_integer(a, "_UID", uid);
	aml_name_integer(a, "_STA", 0xf); /* present, enabled, shown, working */
	aml_name_resource_template_begin(a, "_CRS");
	aml_io(a, true, u->port, u->port, 1, 8);
	aml_irq_noflags(a, u->irq);
	aml_resource_template_end(a);
	aml_end(a);
}

unsigned acpi_pci_intx_gsi(unsigned slot, unsigned pin)
{
	return PCI_INTX_GSI_BASE + (slot + pin - 1) % PCI_INTX_GSIS;
}

/*
 * _PRT: every slot's INTA-INTD straight to an IOAPIC pin (no link devices),
 * which Linux programs level-triggered, active-low.
 */
static void put_pci_routing(struct aml *a)
{
	aml_name(a, "_PRT");
	aml_package_begin(a);
	for (unsigned slot = 0; slot < PCI_SLOTS; slot++) {
		for (unsigned pin = 1; pin <= 4; pin++) {
			aml_package_begin(a);
			aml_integer(a, ((uint64_t)slot << 16) | 0xffff); /* any function */
			aml_integer(a, pin - 1);
			aml_integer(a, 0);
			aml_integer(a, acpi_pci_intx_gsi(slot, pin));
			aml_end(a);
		}
	}
	aml_end(a);
}

/* What the host bridge decodes for its bus: config ports aside, all the rest. */
static void put_pci_windows(struct aml *a, const struct acpi_config *cfg)
{
	uint64_t base = cfg->mmio32_end ? cfg->mmio32_base : PCI_MMIO32_BASE;
	uint64_t end = cfg->mmio32_end ? cfg->mmio32_end : PCI_MMIO32_END;

	aml_name_resource_template_begin(a, "_CRS");
	aml_word_bus_number(a, 0, PCI_ECAM_BUSES - 1);
	aml_io(a, true, 0xcf8, 0xcf8, 1, 8);
	aml_word_io(a, 0x0000, 0x0cf7);
	aml_word_io(a, 0x0d00, 0xffff);
	aml_dword_memory(a, true, 0xa0000, 0xbffff); /* legacy VGA */
	aml_dword_memory(a, false, (uint32_t)base, (uint32_t)(end - 1));
	aml_resource_template_end(a);
}

/* PCIe host bridge (so Linux uses ECAM from the MCFG), PCI-compatible. */
static void put_pci_host_bridge(struct aml *a, const struct acpi_config *cfg)
{
	aml_device_begin(a, "PCI0");
	aml_name_eisaid(a, "_HID", "PNP0A08");
	aml_name_eisaid(a, "_CID", "PNP0A03");
	aml_name_integer(a, "_UID", 0);
	aml_name_integer(a, "_BBN", 0);
	aml_name_integer(a, "_SEG", 0);
	put_pci_windows(a, cfg);
	put_pci_routing(a);
	aml_end(a);
}

/* The ECAM area is a motherboard resource: Linux only trusts an MCFG area reserved here. */
static void put_ecam_reservation(struct aml *a)
{
	aml_device_begin(a, "MRES");
	aml_name_eisaid(a, "_HID", "PNP0C02");
	aml_name_integer(a, "_UID", 0);
	aml_name_resource_template_begin(a, "_CRS");
	aml_memory32_fixed(a, false, (uint32_t)PCI_ECAM_BASE, (uint32_t)PCI_ECAM_SIZE);
	aml_resource_template_end(a);
	aml_end(a);
}

static int build_dsdt(const struct acpi_config *cfg, struct acpi_tables *t)
{
	char name[UART_NAME_SIZE];
	struct aml a;

	aml_init(&a);
	put_sdt_header(&a, "DSDT", DSDT_REVISION);
	put_s5(&a);
	aml_scope_begin(&a, "\\_SB");
	put_processors(&a, cfg->ncpus);
	put_pci_host_bridge(&a, cfg);
	if (!cfg->no_ecam)
		put_ecam_reservation(&a);
	for (int i = 0; i < cfg->nuarts; i++) {
		uart_name(cfg, i, name);
		put_uart(&a, name, uart_uid(cfg, i), &cfg->uarts[i]);
	}
	aml_end(&a);
	return store_sdt(t, T_DSDT, &a);
}

/* ---- Build ------------------------------------------------------------ */

/* Names compare as the padded NameSegs AML would store. */
static bool same_nameseg(const char *x, const char *y)
{
	for (int i = 0; i < 4; i++) {
		char cx = *x ? *x++ : '_';
		char cy = *y ? *y++ : '_';

		if (cx != cy)
			return false;
	}
	return true;
}

static bool valid_uarts(const struct acpi_config *cfg)
{
	char name[UART_NAME_SIZE], other[UART_NAME_SIZE];

	if (cfg->nuarts < 0 || cfg->nuarts > ACPI_MAX_UARTS)
		return false;
	for (int i = 0; i < cfg->nuarts; i++) {
		/* IRQNoFlags holds ISA IRQs 0-15; the 8 ports must fit in I/O space. */
		if (cfg->uarts[i].irq >= 16 || cfg->uarts[i].port > 0xfff8)
			return false;
		uart_name(cfg, i, name);
		for (int j = 0; j < i; j++) {
			uart_name(cfg, j, other);
			if (same_nameseg(name, other) || uart_uid(cfg, i) == uart_uid(cfg, j))
				return false;
		}
	}
	return true; /* malformed names are caught by the AML emitter */
}

static bool valid_cpus(const struct acpi_config *cfg)
{
	if (cfg->ncpus < 1 || cfg->ncpus > ACPI_MAX_CPUS)
		return false;
	for (int i = 0; i < cfg->ncpus; i++) {
		/* All-ones is the x2APIC "all processors" id. */
		if (cfg->apic_ids[i] == UINT32_MAX)
			return false;
		for (int j = 0; j < i; j++)
			if (cfg->apic_ids[i] == cfg->apic_ids[j])
				return false;
	}
	return true;
}

int acpi_build(const struct acpi_config *cfg, struct acpi_tables *out)
{
	memset(out, 0, sizeof(*out));
	if (!valid_cpus(cfg) || !valid_uarts(cfg))
		return -1;
	/* MCFG comes last: without ECAM the list simply ends before it. */
	out->ntables = cfg->no_ecam ? T_MCFG : T_COUNT;
	if (build_rsdp(out) < 0 || build_sdt_list(out, T_XSDT, "XSDT", 8) < 0 ||
	    build_sdt_list(out, T_RSDT, "RSDT", 4) < 0 || build_fadt(out) < 0 ||
	    build_facs(out) < 0 || build_dsdt(cfg, out) < 0 || build_madt(cfg, out) < 0 ||
	    (!cfg->no_ecam && build_mcfg(out) < 0)) {
		acpi_tables_free(out);
		return -1;
	}
	return 0;
}

void acpi_tables_free(struct acpi_tables *t)
{
	for (int i = 0; i < t->ntables; i++)
		free(t->tables[i].data);
	memset(t, 0, sizeof(*t));
}

/* ---- Install ---------------------------------------------------------- */

static bool is_power_of_two(uint32_t x)
{
	return x && !(x & (x - 1));
}

/*
 * Place the tables one after the other from "gpa", each at its alignment
 * (in guest-physical terms). The RSDP goes first and must land on "gpa".
 */
static bool layout(const struct acpi_tables *t, uint64_t gpa, uint64_t *offsets,
		   uint64_t *end)
{
	uint64_t off = 0;
	int max = (int)(sizeof(t->tables) / sizeof(t->tables[0]));

	if (t->ntables < 1 || t->ntables > max)
		return false;
	for (int i = 0; i < t->ntables; i++) {
		const struct acpi_table *tbl = &t->tables[i];
		uint64_t align = tbl->align ? tbl->align : 1;
		uint64_t at;

		if (!tbl->data || !is_power_of_two((uint32_t)align))
			return false;
		if (gpa + off < gpa || gpa + off > UINT64_MAX - (align - 1))
			return false;
		at = ((gpa + off + align - 1) & ~(align - 1)) - gpa;
		if (i == 0 && at != 0)
			return false;
		offsets[i] = at;
		off = at + tbl->len;
	}
	*end = off;
	return true;
}

static bool valid_pointer(const struct acpi_tables *t, const struct acpi_pointer *p,
			  uint64_t dst_gpa)
{
	if (p->src_table < 0 || p->src_table >= t->ntables || p->dst_table < 0 ||
	    p->dst_table >= t->ntables)
		return false;
	if (p->size != 4 && p->size != 8)
		return false;
	if ((uint64_t)p->offset + p->size > t->tables[p->src_table].len)
		return false;
	return p->size == 8 || dst_gpa <= UINT32_MAX;
}

static bool resolve_pointers(const struct acpi_tables *t, uint8_t *mem, uint64_t gpa,
			     const uint64_t *offsets)
{
	int max = (int)(sizeof(t->pointers) / sizeof(t->pointers[0]));

	if (t->npointers < 0 || t->npointers > max)
		return false;
	for (int i = 0; i < t->npointers; i++) {
		const struct acpi_pointer *p = &t->pointers[i];
		uint64_t dst_gpa;
		uint8_t *field;

		if (p->dst_table < 0 || p->dst_table >= t->ntables)
			return false;
		dst_gpa = gpa + offsets[p->dst_table];
		if (!valid_pointer(t, p, dst_gpa))
			return false;
		field = mem + offsets[p->src_table] + p->offset;
		for (int b = 0; b < p->size; b++)
			field[b] = (uint8_t)(dst_gpa >> (8 * b));
	}
	return true;
}

/* Set mem[csum] so that the bytes of mem[start, start + len) sum to zero. */
static bool set_checksum(uint8_t *mem, uint32_t table_len, uint32_t csum,
			 uint32_t start, uint32_t len)
{
	uint8_t sum = 0;

	if (csum >= table_len || start > table_len || len > table_len - start ||
	    csum < start || csum >= start + len)
		return false;
	mem[csum] = 0;
	for (uint32_t i = start; i < start + len; i++)
		sum = (uint8_t)(sum + mem[i]);
	mem[csum] = (uint8_t)-sum;
	return true;
}

static bool checksum_table(const struct acpi_table *tbl, uint8_t *mem)
{
	if (tbl->has_checksum &&
	    !set_checksum(mem, tbl->len, tbl->csum_offset, tbl->csum_start, tbl->csum_len))
		return false;
	/* The extended checksum covers the first one, so it comes second. */
	if (tbl->has_ext_checksum &&
	    !set_checksum(mem, tbl->len, tbl->ext_csum_offset, 0, tbl->ext_csum_len))
		return false;
	return true;
}

size_t acpi_install(const struct acpi_tables *t, uint8_t *mem, uint64_t gpa, size_t len)
{
	uint64_t offsets[sizeof(t->tables) / sizeof(t->tables[0])];
	uint64_t end;

	if (!layout(t, gpa, offsets, &end) || end > len)
		return 0;
	memset(mem, 0, end);
	for (int i = 0; i < t->ntables; i++)
		memcpy(mem + offsets[i], t->tables[i].data, t->tables[i].len);
	if (!resolve_pointers(t, mem, gpa, offsets))
		return 0;
	/* Pointers are covered by checksums; the RSDP (table 0) goes last. */
	for (int i = t->ntables - 1; i >= 0; i--)
		if (!checksum_table(&t->tables[i], mem + offsets[i]))
			return 0;
	return end;
}
