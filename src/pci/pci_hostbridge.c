/*
 * Host bridges, as bhyve's: "hostbridge" (bhyve's own IDs) and
 * "amd_hostbridge" (an AMD one, for guests that look for it; "-s" turns it
 * into device=hostbridge with AMD pcireg.* values, as bhyve does). Nothing
 * but configuration space; the ACPI DSDT describes what the bridge decodes.
 * Config keys pcireg.vendor, pcireg.device, pcireg.revid, pcireg.subvendor
 * and pcireg.subdevice override the IDs.
 */
#include <stdio.h>
#include <stdlib.h>

#include "core/config.h"
#include "pci/pci.h"

static int id_key(const struct cfg_node *node, const char *key, unsigned def, unsigned max,
		  const char *ident, unsigned *out)
{
	const char *s = get_config_value_node(node, key);
	int64_t v;

	*out = def;
	if (s == NULL)
		return 0;
	if (config_parse_int(s, &v) < 0 || v < 0 || (uint64_t)v > max) {
		fprintf(stderr, "khyve: %s: invalid %s '%s'\n", ident, key, s);
		return -1;
	}
	*out = (unsigned)v;
	return 0;
}

static int hostbridge_setup(struct pci_devinst *pi, const struct cfg_node *node,
			    unsigned vendor, unsigned device)
{
	unsigned rev, subv, subd;

	if (id_key(node, "pcireg.vendor", vendor, 0xffff, pi->ident, &vendor) < 0 ||
	    id_key(node, "pcireg.device", device, 0xffff, pi->ident, &device) < 0 ||
	    id_key(node, "pcireg.revid", 0, 0xff, pi->ident, &rev) < 0 ||
	    id_key(node, "pcireg.subvendor", 0, 0xffff, pi->ident, &subv) < 0 ||
	    id_key(node, "pcireg.subdevice", 0, 0xffff, pi->ident, &subd) < 0)
		return -1;
	pci_set_ids(pi, (uint16_t)vendor, (uint16_t)device, PCIC_BRIDGE, PCIS_BRIDGE_HOST,
		    (uint16_t)subv, (uint16_t)subd, (uint8_t)rev);
	return 0;
}

static int hostbridge_init(struct pci_devinst *pi, const struct cfg_node *node)
{
	return hostbridge_setup(pi, node, 0x1275, 0x1275);
}

static int amd_hostbridge_init(struct pci_devinst *pi, const struct cfg_node *node)
{
	return hostbridge_setup(pi, node, 0x1022, 0x7432);
}

static const struct pci_devemu hostbridge = { .name = "hostbridge", .init = hostbridge_init };
static const struct pci_devemu amd_hostbridge = { .name = "amd_hostbridge",
						  .init = amd_hostbridge_init };
PCI_EMUL_SET(hostbridge);
PCI_EMUL_SET(amd_hostbridge);
