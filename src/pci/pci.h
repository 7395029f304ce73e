/*
 * The PCI bus: root bus 0 of segment 0, configuration space through ports
 * 0xcf8/0xcfc and ECAM, BARs placed by khyve (as firmware would) and moved
 * by the guest, INTx on IOAPIC pins 16-23 (the DSDT's _PRT), MSI and MSI-X
 * delivered with KVM_SIGNAL_MSI.
 *
 * A device model is one file that registers a struct pci_devemu with
 * PCI_EMUL_SET(); "-s 4,virtio-blk,..." (config node pci.0.4.0, key
 * device=virtio-blk) finds it by name and calls its init with the node.
 *
 * Locking: configuration space and BAR placement are guarded by one PCI
 * lock, taken on config accesses (rare: probing, BAR moves, MSI set-up).
 * BAR accesses go straight to the device's barread/barwrite without it:
 * devices lock what they share. MSI-X tables have their own lock so a
 * device thread raising a vector never waits for a config access.
 */
#ifndef KHYVE_PCI_H
#define KHYVE_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/linker_set.h"

struct vmctx;
struct cfg_node;
struct pci_devinst;

#define PCI_CFG_SIZE 4096 /* PCIe extended configuration space */
#define PCI_MAX_BARS 6
#define PCI_MAX_FUNCS 8

/* Standard header offsets (PCI Local Bus 3.0, section 6.1). */
#define PCIR_VENDOR 0x00
#define PCIR_DEVICE 0x02
#define PCIR_COMMAND 0x04
#define PCIR_STATUS 0x06
#define PCIR_REVID 0x08
#define PCIR_PROGIF 0x09
#define PCIR_SUBCLASS 0x0a
#define PCIR_CLASS 0x0b
#define PCIR_HDRTYPE 0x0e
#define PCIR_BAR0 0x10
#define PCIR_SUBVEND 0x2c
#define PCIR_SUBDEV 0x2e
#define PCIR_CAP_PTR 0x34
#define PCIR_INTLINE 0x3c
#define PCIR_INTPIN 0x3d

#define PCIM_CMD_PORTEN 0x0001
#define PCIM_CMD_MEMEN 0x0002
#define PCIM_CMD_BUSMASTER 0x0004
#define PCIM_CMD_INTX_DISABLE 0x0400
#define PCIM_STATUS_INTR 0x0008
#define PCIM_STATUS_CAPLIST 0x0010
#define PCIM_HDRTYPE_MULTIFUNC 0x80

#define PCIY_MSI 0x05
#define PCIY_VENDOR 0x09
#define PCIY_MSIX 0x11

#define PCIC_BRIDGE 0x06
#define PCIS_BRIDGE_HOST 0x00
#define PCIS_BRIDGE_ISA 0x01

enum pci_bar_type {
	PCI_BAR_NONE,
	PCI_BAR_IO,
	PCI_BAR_MEM32,
	PCI_BAR_MEM64,   /* occupies this BAR and the next */
	PCI_BAR_MEM64_HI,/* the upper half of the previous BAR */
};

struct pci_bar {
	enum pci_bar_type type;
	uint64_t size;   /* power of two */
	uint64_t addr;   /* as the guest programmed it */
	bool mapped;     /* registered in the port / MMIO dispatch tables */
};

struct pci_devemu {
	const char *name;
	/* Set up the device from its config node; 0, or -1 after one error line. */
	int (*init)(struct pci_devinst *pi, const struct cfg_node *node);
	/*
	 * Device-specific config registers (optional): return 0 if handled,
	 * -1 to let the core apply its default (stored bytes, read-only).
	 */
	int (*cfgread)(struct pci_devinst *pi, unsigned off, int bytes, uint32_t *val);
	int (*cfgwrite)(struct pci_devinst *pi, unsigned off, int bytes, uint32_t val);
	/* BAR accesses, off within the BAR, bytes 1/2/4/8 (not the MSI-X table). */
	uint64_t (*barread)(struct pci_devinst *pi, int bar, uint64_t off, int bytes);
	void (*barwrite)(struct pci_devinst *pi, int bar, uint64_t off, int bytes,
			 uint64_t val);
	/* A BAR started or stopped decoding at addr (optional; ioeventfds move). */
	void (*bar_mapped)(struct pci_devinst *pi, int bar, bool mapped, uint64_t addr);
	/*
	 * The guest changed the MSI-X table or its enable/mask bits (optional;
	 * vCPU thread, no PCI lock held): interrupts bypassing
	 * pci_generate_msix (irqfds) must follow.
	 */
	void (*msix_changed)(struct pci_devinst *pi);
};

#define PCI_EMUL_SET(x) DATA_SET(pci_devemu_set, x)

struct msix_entry {
	uint64_t addr;
	uint32_t data;
	uint32_t vector_control; /* bit 0: masked */
};

struct pci_bar_ref {
	struct pci_devinst *pi;
	int idx;
};

struct pci_devinst {
	const struct pci_devemu *emu;
	struct vmctx *ctx;
	uint8_t bus, slot, func;
	char ident[64];          /* "pci 0:4:0 virtio-blk", for messages */
	void *softc;
	uint8_t cfg[PCI_CFG_SIZE];
	struct pci_bar bar[PCI_MAX_BARS];
	struct pci_bar_ref bar_ref[PCI_MAX_BARS];
	unsigned next_cap;       /* offset for the next capability */
	unsigned last_cap;       /* offset of the last one added (0: none) */

	struct {
		int pin;         /* 1 = INTA ... 0: none */
		unsigned gsi;
		bool asserted;   /* the device's level */
		bool driven;     /* what this device contributes to the line now */
	} intx;
	struct {
		unsigned cap;    /* 0: no MSI capability */
		unsigned nvec_log2;
	} msi;
	struct {
		unsigned cap;    /* 0: no MSI-X capability */
		unsigned nvec;
		int bar;
		uint32_t table_off, pba_off;
		bool enabled, function_masked;
		struct msix_entry *table;
		uint64_t *pba;
		pthread_mutex_t lock;
	} msix;
};

/*
 * What the host bridge decodes besides config ports: the 32-bit MMIO window
 * BARs live in and whether there is an ECAM area (PCI_ECAM_BASE). khyve's own
 * layout (direct kernel boot) has ECAM right above the window; an i440FX, as
 * QEMU's firmware expects, has none and a window the firmware fills itself.
 */
struct pci_windows {
	uint64_t mmio32_base, mmio32_end; /* end exclusive */
	bool ecam;
};

/* Before pci_init: replace the default windows (PCI_MMIO32_BASE..PCI_ECAM_BASE, ECAM). */
void pci_set_windows(const struct pci_windows *w);
const struct pci_windows *pci_get_windows(void);

/* Create every device of the config tree, place and map BARs, ports 0xcf8/0xcfc, ECAM. */
int pci_init(struct vmctx *ctx);
/* Config-time check: every "-s" names a known device on an existing bus (one error line). */
int pci_check_config(void);

/* Config space helpers for device init (little-endian, unchecked offsets). */
void pci_set_cfg8(struct pci_devinst *pi, unsigned off, uint8_t v);
void pci_set_cfg16(struct pci_devinst *pi, unsigned off, uint16_t v);
void pci_set_cfg32(struct pci_devinst *pi, unsigned off, uint32_t v);
uint8_t pci_get_cfg8(const struct pci_devinst *pi, unsigned off);
uint16_t pci_get_cfg16(const struct pci_devinst *pi, unsigned off);
uint32_t pci_get_cfg32(const struct pci_devinst *pi, unsigned off);
/*
 * bhyve's bootindex=: if node has one, put the device in the firmware boot
 * order (hw/bootorder.h) under the OpenFirmware path QEMU would give it on
 * an i440FX: "/pci@i0cf8/NAME@SLOT[,FUNC]CHILD", slot and function in hex,
 * the function only when not 0. NAME NULL: "pciVVVV,DDDD" from the IDs
 * already set (QEMU's name for a class it has no word for). "who" names
 * the device in messages. Returns 0 (also without bootindex), or -1 after
 * one error line (not a non-negative integer, index already taken).
 */
int pci_add_boot_device(struct pci_devinst *pi, const struct cfg_node *node, const char *name,
			const char *child, const char *who);

/* Vendor, device, class, subclass, prog-if, subsystem vendor and id, revision. */
void pci_set_ids(struct pci_devinst *pi, uint16_t vendor, uint16_t device, uint8_t class,
		 uint8_t subclass, uint16_t subvendor, uint16_t subdevice, uint8_t revision);

/* Declare BAR idx (size rounded up to a power of two); placed at pci_init. */
int pci_alloc_bar(struct pci_devinst *pi, int idx, enum pci_bar_type type, uint64_t size);
/*
 * Append a capability (cap[0] = ID; the next pointer, cap[1], is filled in).
 * Returns its config offset, or -1 if it does not fit below 0x100.
 */
int pci_add_cap(struct pci_devinst *pi, const uint8_t *cap, unsigned len);
/* MSI capability with 2^nvec_log2 vectors (64-bit addresses). */
int pci_add_msi(struct pci_devinst *pi, unsigned nvec_log2);
/* MSI-X capability, table at offset 0 of BAR "bar" (allocated here), PBA after it. */
int pci_add_msix(struct pci_devinst *pi, unsigned nvec, int bar);
/* INTx pin INTA, routed as the DSDT's _PRT says. */
void pci_add_intx(struct pci_devinst *pi);

bool pci_msi_enabled(const struct pci_devinst *pi);
bool pci_msix_enabled(const struct pci_devinst *pi);
/*
 * Where vector v's message goes, for delivery that bypasses
 * pci_generate_msix (an irqfd): false while MSI-X is off, the function or
 * the vector masked, or v out of range -- then use pci_generate_msix, which
 * keeps the PBA.
 */
bool pci_msix_route(struct pci_devinst *pi, unsigned v, uint64_t *addr, uint32_t *data);
/* Raise vector v (ignored if that kind of interrupt is off or v is out of range). */
void pci_generate_msi(struct pci_devinst *pi, unsigned v);
void pci_generate_msix(struct pci_devinst *pi, unsigned v);
/* Level of the device's INTx line (shared lines are OR-ed). */
void pci_intx_assert(struct pci_devinst *pi);
void pci_intx_deassert(struct pci_devinst *pi);

/*
 * One configuration access, as from 0xcfc or ECAM (off aligned to bytes;
 * absent functions read all ones). Exposed for the unit tests.
 */
void pci_cfg_access(uint8_t bus, uint8_t slot, uint8_t func, unsigned off, int bytes,
		    bool write, uint32_t *val);
struct pci_devinst *pci_find(uint8_t bus, uint8_t slot, uint8_t func);
/* Unit tests: observe MSI delivery instead of calling KVM. */
void pci_set_msi_sender(int (*send)(struct vmctx *ctx, uint64_t addr, uint32_t data));

#endif
