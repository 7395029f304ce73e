/*
 * The LPC (ISA) bridge function, bhyve's "-s 31,lpc": an Intel 82371SB
 * (PIIX3) ISA bridge in configuration space. The legacy devices behind it
 * (COM ports, RTC, ACPI PM: hw/) exist whether or not the bridge is
 * configured, so "-l com1,stdio" alone works as before; bhyve's rule that
 * there is at most one LPC bridge, on bus 0, is kept.
 */
#include <stdio.h>

#include "pci/pci.h"

static bool lpc_present;

static int lpc_init(struct pci_devinst *pi, const struct cfg_node *node)
{
	if (lpc_present) {
		fprintf(stderr, "khyve: %s: only one LPC bridge is allowed\n", pi->ident);
		return -1;
	}
	lpc_present = true;
	pci_set_ids(pi, 0x8086, 0x7000, PCIC_BRIDGE, PCIS_BRIDGE_ISA, 0, 0, 0);
	return 0;
}

static const struct pci_devemu lpc = { .name = "lpc", .init = lpc_init };
PCI_EMUL_SET(lpc);
