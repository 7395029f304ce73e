/*
 * The power-management function of an Intel 82371AB (PIIX4), 8086:7113, as
 * QEMU's i440FX machine has it at 00:01.3. Stock OVMF finds its ACPI PM timer
 * -- which every delay of the firmware counts on -- through this function's
 * PMBA register, and so does SeaBIOS; khyve adds the function at 0:1.3 when
 * it runs such firmware (see main.c), under whatever sits at 1.0.
 *
 * The PM registers themselves are khyve's fixed ACPI block (hw/acpi_pm.c, at
 * ACPI_PM1A_EVT_PORT): PMBA reads as that base with its I/O decode already
 * on (PMREGMISC.PMIOSE), which both firmwares take as "configured" and keep.
 * Their writes to PMBA, PMREGMISC, DEVACTB and the SMBus registers are ignored (the
 * core's default for device registers): the block does not move, so the
 * FADT khyve built stays true.
 */
#include "pci/pci.h"
#include "x86/acpi.h"

#define PIIX4_PM_DEVICE 0x7113
#define PIIX4_PM_REVISION 0x03
#define PCIC_BRIDGE_OTHER 0x80
#define PIIX4_PMBA 0x40
#define PIIX4_PMBA_RTE 0x01 /* "resource type: I/O" bit, reads as 1 */
#define PIIX4_PMREGMISC 0x80
#define PIIX4_PMIOSE 0x01
#define PIIX4_DEVACTB 0x58
#define PIIX4_DEVACTB_APMC_EN (1u << 25)

static int piix4_pm_init(struct pci_devinst *pi, const struct cfg_node *node)
{
	(void)node;
	pci_set_ids(pi, 0x8086, PIIX4_PM_DEVICE, PCIC_BRIDGE, PCIC_BRIDGE_OTHER, 0, 0,
		    PIIX4_PM_REVISION);
	pci_set_cfg32(pi, PIIX4_PMBA, ACPI_PM1A_EVT_PORT | PIIX4_PMBA_RTE);
	pci_set_cfg8(pi, PIIX4_PMREGMISC, PIIX4_PMIOSE);
	/*
	 * There is no SMM here. SeaBIOS installs an SMI handler through this
	 * function unless APM-port SMIs are already on ("SMM init is already
	 * done"), then waits on port 0xb3 for the handler to have run: with
	 * nothing behind that port it would wait forever.
	 */
	pci_set_cfg32(pi, PIIX4_DEVACTB, PIIX4_DEVACTB_APMC_EN);
	pci_set_cfg16(pi, PCIR_COMMAND, PCIM_CMD_PORTEN);
	return 0;
}

static const struct pci_devemu piix4_pm = {
	.name = "piix4-pm",
	.init = piix4_pm_init,
};
PCI_EMUL_SET(piix4_pm);
