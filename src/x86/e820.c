#include "x86/e820.h"

#include "lib/vmmapi.h"
#include "x86/acpi.h"
#include "x86/layout.h"

static int add(struct e820_entry *out, int n, int max, uint64_t addr, uint64_t size, uint32_t type)
{
	if (n < 0 || n >= max)
		return -1;
	out[n] = (struct e820_entry){ addr, size, type };
	return n + 1;
}

/* RAM below the EBDA and from 1 MiB to lowmem: the part both maps share. */
static int add_low(uint64_t lowmem, struct e820_entry *out, int max)
{
	int n = 0;

	/* A guest this small cannot even hold the kernel; let the loader say so. */
	if (lowmem < BIOS_AREA_END)
		return -1;
	n = add(out, n, max, 0, EBDA_START, E820_RAM);
	n = add(out, n, max, EBDA_START, 0xa0000 - EBDA_START, E820_RESERVED);
	n = add(out, n, max, BIOS_AREA_START, BIOS_AREA_END - BIOS_AREA_START, E820_RESERVED);
	if (lowmem > BIOS_AREA_END)
		n = add(out, n, max, BIOS_AREA_END, lowmem - BIOS_AREA_END, E820_RAM);
	return n;
}

int e820_build(uint64_t lowmem, uint64_t highmem, struct e820_entry *out, int max)
{
	int n = add_low(lowmem, out, max);

	/* Linux uses the MCFG's ECAM area only if the firmware marks it reserved. */
	n = add(out, n, max, PCI_ECAM_BASE, PCI_ECAM_SIZE, E820_RESERVED);
	if (highmem > 0)
		n = add(out, n, max, VM_HIGHMEM_BASE, highmem, E820_RAM);
	return n;
}

int e820_build_firmware(uint64_t lowmem, uint64_t highmem, struct e820_entry *out, int max)
{
	int n = add_low(lowmem, out, max);

	/* KVM's own pages (Intel: real-mode TSS, identity map): nobody may map them. */
	n = add(out, n, max, KVM_PRIVATE_BASE, KVM_PRIVATE_SIZE, E820_RESERVED);
	if (highmem > 0)
		n = add(out, n, max, VM_HIGHMEM_BASE, highmem, E820_RAM);
	return n;
}
