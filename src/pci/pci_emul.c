/*
 * PCI core: the device table, configuration space semantics shared by every
 * device (command register, BARs, capabilities, MSI, MSI-X, INTx) and the
 * two ways in: ports 0xcf8/0xcfc and the ECAM window.
 */
#include "pci/pci.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/inout.h"
#include "core/mem.h"
#include "hw/bootorder.h"
#include "lib/vmmapi.h"
#include "x86/acpi.h"

SET_DECLARE(pci_devemu_set, struct pci_devemu);

#define PCI_BUSES 1 /* root bus 0 only */
#define CONF1_ADDR_PORT 0xcf8
#define CONF1_DATA_PORT 0xcfc
#define CONF1_ENABLE 0x80000000u
#define BAR_IO_FLAG 0x1u
#define BAR_MEM64_FLAGS 0x4u
#define MSIX_ENTRY_SIZE 16
#define MSIX_VC_MASKED 0x1u
#define MSIX_CTRL_ENABLE 0x8000u
#define MSIX_CTRL_FMASK 0x4000u
#define MSI_CTRL_ENABLE 0x0001u
#define MSI_CTRL_64BIT 0x0080u

static struct pci_devinst *devices[PCI_SLOTS][PCI_MAX_FUNCS];
static pthread_mutex_t pci_lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t conf1_addr;
static int (*msi_sender)(struct vmctx *, uint64_t, uint32_t) = vm_signal_msi;

/* INTx lines are shared; a line is high while any device on it asserts. */
static unsigned intx_count[PCI_INTX_GSIS];
static pthread_mutex_t intx_lock = PTHREAD_MUTEX_INITIALIZER;

/* Bump allocators for BAR placement at start-up. */
static struct pci_windows windows = { PCI_MMIO32_BASE, PCI_MMIO32_END, true };
static uint64_t next_io = PCI_IO_BASE, next_mem32 = PCI_MMIO32_BASE;

void pci_set_windows(const struct pci_windows *w)
{
	windows = *w;
	next_mem32 = w->mmio32_base;
}

const struct pci_windows *pci_get_windows(void)
{
	return &windows;
}

void pci_set_msi_sender(int (*send)(struct vmctx *, uint64_t, uint32_t))
{
	msi_sender = send ? send : vm_signal_msi;
}

/* ---- Config space bytes ---------------------------------------------- */

void pci_set_cfg8(struct pci_devinst *pi, unsigned off, uint8_t v)
{
	pi->cfg[off] = v;
}

void pci_set_cfg16(struct pci_devinst *pi, unsigned off, uint16_t v)
{
	pi->cfg[off] = (uint8_t)v;
	pi->cfg[off + 1] = (uint8_t)(v >> 8);
}

void pci_set_cfg32(struct pci_devinst *pi, unsigned off, uint32_t v)
{
	pci_set_cfg16(pi, off, (uint16_t)v);
	pci_set_cfg16(pi, off + 2, (uint16_t)(v >> 16));
}

uint8_t pci_get_cfg8(const struct pci_devinst *pi, unsigned off)
{
	return pi->cfg[off];
}

uint16_t pci_get_cfg16(const struct pci_devinst *pi, unsigned off)
{
	return (uint16_t)(pi->cfg[off] | pi->cfg[off + 1] << 8);
}

uint32_t pci_get_cfg32(const struct pci_devinst *pi, unsigned off)
{
	return pci_get_cfg16(pi, off) | (uint32_t)pci_get_cfg16(pi, off + 2) << 16;
}

static uint32_t get_cfg(const struct pci_devinst *pi, unsigned off, int bytes)
{
	return bytes == 1 ? pci_get_cfg8(pi, off) :
	       bytes == 2 ? pci_get_cfg16(pi, off) : pci_get_cfg32(pi, off);
}

static void set_cfg(struct pci_devinst *pi, unsigned off, int bytes, uint32_t v)
{
	if (bytes == 1)
		pci_set_cfg8(pi, off, (uint8_t)v);
	else if (bytes == 2)
		pci_set_cfg16(pi, off, (uint16_t)v);
	else
		pci_set_cfg32(pi, off, v);
}

void pci_set_ids(struct pci_devinst *pi, uint16_t vendor, uint16_t device, uint8_t class,
		 uint8_t subclass, uint16_t subvendor, uint16_t subdevice, uint8_t revision)
{
	pci_set_cfg16(pi, PCIR_VENDOR, vendor);
	pci_set_cfg16(pi, PCIR_DEVICE, device);
	pci_set_cfg8(pi, PCIR_CLASS, class);
	pci_set_cfg8(pi, PCIR_SUBCLASS, subclass);
	pci_set_cfg16(pi, PCIR_SUBVEND, subvendor);
	pci_set_cfg16(pi, PCIR_SUBDEV, subdevice);
	pci_set_cfg8(pi, PCIR_REVID, revision);
}

/* ---- Capabilities ------------------------------------------------------ */

int pci_add_cap(struct pci_devinst *pi, const uint8_t *cap, unsigned len)
{
	unsigned off = pi->next_cap ? pi->next_cap : 0x40;
	unsigned padded = (len + 3) & ~3u;

	if (len < 2 || off + padded > 0x100)
		return -1;
	memcpy(pi->cfg + off, cap, len);
	memset(pi->cfg + off + len, 0, padded - len);
	pi->cfg[off + 1] = 0;
	if (pi->last_cap)
		pi->cfg[pi->last_cap + 1] = (uint8_t)off;
	else
		pci_set_cfg8(pi, PCIR_CAP_PTR, (uint8_t)off);
	pci_set_cfg16(pi, PCIR_STATUS, pci_get_cfg16(pi, PCIR_STATUS) | PCIM_STATUS_CAPLIST);
	pi->last_cap = off;
	pi->next_cap = off + padded;
	return (int)off;
}

int pci_add_msi(struct pci_devinst *pi, unsigned nvec_log2)
{
	uint8_t cap[16] = { PCIY_MSI };
	int off;

	if (nvec_log2 > 5 || pi->msi.cap)
		return -1;
	cap[2] = (uint8_t)(MSI_CTRL_64BIT | nvec_log2 << 1);
	off = pci_add_cap(pi, cap, 14);
	if (off < 0)
		return -1;
	pi->msi.cap = (unsigned)off;
	pi->msi.nvec_log2 = nvec_log2;
	return 0;
}

int pci_add_msix(struct pci_devinst *pi, unsigned nvec, int bar)
{
	uint8_t cap[12] = { PCIY_MSIX };
	uint32_t table_size = nvec * MSIX_ENTRY_SIZE;
	uint32_t pba_off = (table_size + 4095) & ~4095u;
	uint32_t pba_size = ((nvec + 63) / 64) * 8;
	int off;

	if (nvec == 0 || nvec > 2048 || pi->msix.cap || bar < 0 || bar >= PCI_MAX_BARS)
		return -1;
	pi->msix.table = calloc(nvec, sizeof(*pi->msix.table));
	pi->msix.pba = calloc((nvec + 63) / 64, sizeof(uint64_t));
	if (!pi->msix.table || !pi->msix.pba)
		return -1;
	for (unsigned i = 0; i < nvec; i++)
		pi->msix.table[i].vector_control = MSIX_VC_MASKED;
	cap[2] = (uint8_t)(nvec - 1);
	cap[3] = (uint8_t)((nvec - 1) >> 8);
	cap[4] = (uint8_t)bar; /* table offset 0 */
	cap[8] = (uint8_t)(bar | pba_off);
	cap[9] = (uint8_t)(pba_off >> 8);
	cap[10] = (uint8_t)(pba_off >> 16);
	cap[11] = (uint8_t)(pba_off >> 24);
	off = pci_add_cap(pi, cap, sizeof(cap));
	if (off < 0 || pci_alloc_bar(pi, bar, PCI_BAR_MEM32, pba_off + pba_size) < 0)
		return -1;
	pthread_mutex_init(&pi->msix.lock, NULL);
	pi->msix.cap = (unsigned)off;
	pi->msix.nvec = nvec;
	pi->msix.bar = bar;
	pi->msix.table_off = 0;
	pi->msix.pba_off = pba_off;
	return 0;
}

void pci_add_intx(struct pci_devinst *pi)
{
	pi->intx.pin = 1;
	pi->intx.gsi = acpi_pci_intx_gsi(pi->slot, 1);
	pci_set_cfg8(pi, PCIR_INTPIN, 1);
	pci_set_cfg8(pi, PCIR_INTLINE, (uint8_t)pi->intx.gsi);
}

/* ---- Interrupts -------------------------------------------------------- */

bool pci_msi_enabled(const struct pci_devinst *pi)
{
	return pi->msi.cap && (pci_get_cfg16(pi, pi->msi.cap + 2) & MSI_CTRL_ENABLE);
}

bool pci_msix_enabled(const struct pci_devinst *pi)
{
	return pi->msix.cap && __atomic_load_n(&pi->msix.enabled, __ATOMIC_ACQUIRE);
}

void pci_generate_msi(struct pci_devinst *pi, unsigned v)
{
	unsigned c = pi->msi.cap;
	uint16_t ctrl;
	unsigned nvec;

	if (!c)
		return;
	ctrl = pci_get_cfg16(pi, c + 2);
	nvec = 1u << ((ctrl >> 4) & 7);
	if (!(ctrl & MSI_CTRL_ENABLE) || v >= nvec)
		return;
	uint64_t addr = pci_get_cfg32(pi, c + 4) | (uint64_t)pci_get_cfg32(pi, c + 8) << 32;
	uint32_t data = (pci_get_cfg16(pi, c + 12) & ~(nvec - 1)) | v;

	(void)msi_sender(pi->ctx, addr, data);
}

static bool msix_vector_masked(const struct pci_devinst *pi, unsigned v)
{
	return pi->msix.function_masked || (pi->msix.table[v].vector_control & MSIX_VC_MASKED);
}

/* Called with msix.lock held: send, or remember it in the PBA while masked. */
static void msix_fire_locked(struct pci_devinst *pi, unsigned v)
{
	if (msix_vector_masked(pi, v)) {
		pi->msix.pba[v / 64] |= 1ull << (v % 64);
		return;
	}
	(void)msi_sender(pi->ctx, pi->msix.table[v].addr, pi->msix.table[v].data);
}

bool pci_msix_route(struct pci_devinst *pi, unsigned v, uint64_t *addr, uint32_t *data)
{
	bool ok;

	if (!pci_msix_enabled(pi) || v >= pi->msix.nvec)
		return false;
	pthread_mutex_lock(&pi->msix.lock);
	ok = pi->msix.enabled && !msix_vector_masked(pi, v);
	if (ok) {
		*addr = pi->msix.table[v].addr;
		*data = pi->msix.table[v].data;
	}
	pthread_mutex_unlock(&pi->msix.lock);
	return ok;
}

static void msix_notify(struct pci_devinst *pi)
{
	if (pi->emu->msix_changed)
		pi->emu->msix_changed(pi);
}

void pci_generate_msix(struct pci_devinst *pi, unsigned v)
{
	if (!pci_msix_enabled(pi) || v >= pi->msix.nvec)
		return;
	pthread_mutex_lock(&pi->msix.lock);
	if (pi->msix.enabled)
		msix_fire_locked(pi, v);
	pthread_mutex_unlock(&pi->msix.lock);
}

/* Unmasking delivers what was pending (PCI 3.0 6.8.2.9). msix.lock held. */
static void msix_deliver_pending_locked(struct pci_devinst *pi)
{
	for (unsigned v = 0; v < pi->msix.nvec; v++) {
		uint64_t bit = 1ull << (v % 64);

		if ((pi->msix.pba[v / 64] & bit) && !msix_vector_masked(pi, v)) {
			pi->msix.pba[v / 64] &= ~bit;
			msix_fire_locked(pi, v);
		}
	}
}

/* Recompute what this device drives onto its shared line. */
static void intx_update(struct pci_devinst *pi)
{
	bool drive = pi->intx.asserted &&
		     !(pci_get_cfg16(pi, PCIR_COMMAND) & PCIM_CMD_INTX_DISABLE);
	unsigned line = pi->intx.gsi - PCI_INTX_GSI_BASE;

	if (drive == pi->intx.driven)
		return;
	pi->intx.driven = drive;
	if (drive ? intx_count[line]++ == 0 : --intx_count[line] == 0)
		(void)vm_set_irq_line(pi->ctx, pi->intx.gsi, drive);
}

static void intx_set(struct pci_devinst *pi, bool level)
{
	uint16_t status;

	if (!pi->intx.pin)
		return;
	pthread_mutex_lock(&intx_lock);
	pi->intx.asserted = level;
	status = pci_get_cfg16(pi, PCIR_STATUS) & ~PCIM_STATUS_INTR;
	pci_set_cfg16(pi, PCIR_STATUS, status | (level ? PCIM_STATUS_INTR : 0));
	intx_update(pi);
	pthread_mutex_unlock(&intx_lock);
}

void pci_intx_assert(struct pci_devinst *pi)
{
	intx_set(pi, true);
}

void pci_intx_deassert(struct pci_devinst *pi)
{
	intx_set(pi, false);
}

/* ---- MSI-X table and PBA (in a BAR) ----------------------------------- */

static bool msix_in_bar(const struct pci_devinst *pi, int bar, uint64_t off)
{
	return pi->msix.cap && bar == pi->msix.bar &&
	       (off < (uint64_t)pi->msix.nvec * MSIX_ENTRY_SIZE ||
		(off >= pi->msix.pba_off && off < pi->msix.pba_off + ((pi->msix.nvec + 63) / 64) * 8));
}

static uint64_t msix_read(struct pci_devinst *pi, uint64_t off, int bytes)
{
	uint64_t v = 0;
	uint8_t raw[16];

	if ((bytes != 4 && bytes != 8) || (off & (uint64_t)(bytes - 1)))
		return ~0ull;
	pthread_mutex_lock(&pi->msix.lock);
	if (off >= pi->msix.pba_off) {
		memcpy(raw, (uint8_t *)pi->msix.pba + ((off - pi->msix.pba_off) & ~7ull), 8);
		memcpy(&v, raw + (off & 7), (size_t)bytes);
	} else {
		const struct msix_entry *e = &pi->msix.table[off / MSIX_ENTRY_SIZE];

		memcpy(raw, &e->addr, 8);
		memcpy(raw + 8, &e->data, 4);
		memcpy(raw + 12, &e->vector_control, 4);
		memcpy(&v, raw + (off % MSIX_ENTRY_SIZE), (size_t)bytes);
	}
	pthread_mutex_unlock(&pi->msix.lock);
	return v;
}

static void msix_write(struct pci_devinst *pi, uint64_t off, int bytes, uint64_t val)
{
	uint8_t raw[16];
	struct msix_entry *e;

	/* The PBA is read-only; misaligned or odd-sized accesses are dropped. */
	if (off >= pi->msix.pba_off || (bytes != 4 && bytes != 8) || (off & (uint64_t)(bytes - 1)))
		return;
	pthread_mutex_lock(&pi->msix.lock);
	e = &pi->msix.table[off / MSIX_ENTRY_SIZE];
	memcpy(raw, &e->addr, 8);
	memcpy(raw + 8, &e->data, 4);
	memcpy(raw + 12, &e->vector_control, 4);
	memcpy(raw + (off % MSIX_ENTRY_SIZE), &val, (size_t)bytes);
	memcpy(&e->addr, raw, 8);
	memcpy(&e->data, raw + 8, 4);
	memcpy(&e->vector_control, raw + 12, 4);
	e->vector_control &= MSIX_VC_MASKED;
	msix_deliver_pending_locked(pi);
	pthread_mutex_unlock(&pi->msix.lock);
	msix_notify(pi);
}

/* ---- BAR access and placement ------------------------------------------ */

static uint64_t bar_read(struct pci_devinst *pi, int idx, uint64_t off, int bytes)
{
	if (msix_in_bar(pi, idx, off))
		return msix_read(pi, off, bytes);
	return pi->emu->barread ? pi->emu->barread(pi, idx, off, bytes) : ~0ull;
}

static void bar_write(struct pci_devinst *pi, int idx, uint64_t off, int bytes, uint64_t val)
{
	if (msix_in_bar(pi, idx, off))
		msix_write(pi, off, bytes, val);
	else if (pi->emu->barwrite)
		pi->emu->barwrite(pi, idx, off, bytes, val);
}

/*
 * The dispatch tables call these with the absolute address; the BAR may
 * have moved since the lookup, so the offset is re-checked against it.
 */
static int bar_mem_handler(struct vmctx *ctx, bool write, uint64_t gpa, int size,
			   uint64_t *val, void *arg)
{
	struct pci_bar_ref *ref = arg;
	struct pci_bar *b = &ref->pi->bar[ref->idx];
	uint64_t off = gpa - b->addr;

	if (gpa < b->addr || off >= b->size || (uint64_t)size > b->size - off)
		return -1;
	if (write)
		bar_write(ref->pi, ref->idx, off, size, *val);
	else
		*val = bar_read(ref->pi, ref->idx, off, size);
	return 0;
}

static int bar_io_handler(struct vmctx *ctx, bool in, uint16_t port, int bytes, uint32_t *val,
			  void *arg)
{
	uint64_t v = *val;
	int rc = bar_mem_handler(ctx, !in, port, bytes, &v, arg);

	*val = (uint32_t)v;
	return rc;
}

static bool bar_decodes(const struct pci_devinst *pi, const struct pci_bar *b)
{
	uint16_t cmd = pci_get_cfg16(pi, PCIR_COMMAND);

	if (b->type == PCI_BAR_IO)
		return (cmd & PCIM_CMD_PORTEN) && b->addr + b->size <= 0x10000;
	return (cmd & PCIM_CMD_MEMEN) && b->addr != 0;
}

static void bar_unmap(struct pci_devinst *pi, int idx)
{
	struct pci_bar *b = &pi->bar[idx];

	if (!b->mapped)
		return;
	if (b->type == PCI_BAR_IO)
		unregister_inout((uint16_t)b->addr, (uint16_t)b->size);
	else
		unregister_mem(b->addr);
	b->mapped = false;
	if (pi->emu->bar_mapped)
		pi->emu->bar_mapped(pi, idx, false, b->addr);
}

/* A guest may program overlapping or absurd addresses: such a BAR just stays unmapped. */
static void bar_map(struct pci_devinst *pi, int idx)
{
	struct pci_bar *b = &pi->bar[idx];
	int rc;

	if (b->mapped || !bar_decodes(pi, b))
		return;
	if (b->type == PCI_BAR_IO) {
		struct inout_port iop = { pi->ident, (uint16_t)b->addr, (uint16_t)b->size,
					  IOPORT_F_INOUT, bar_io_handler, &pi->bar_ref[idx] };
		rc = b->addr == 0 ? -1 : register_inout(&iop);
	} else {
		struct mem_range mr = { pi->ident, b->addr, b->size, bar_mem_handler,
					&pi->bar_ref[idx] };
		rc = register_mem(&mr);
	}
	if (rc != 0)
		return;
	b->mapped = true;
	if (pi->emu->bar_mapped)
		pi->emu->bar_mapped(pi, idx, true, b->addr);
}

static uint32_t bar_flags(const struct pci_bar *b)
{
	return b->type == PCI_BAR_IO ? BAR_IO_FLAG : b->type == PCI_BAR_MEM64 ? BAR_MEM64_FLAGS : 0;
}

/* The BAR registers as the guest reads them: address bits, then type flags. */
static void bar_update_cfg(struct pci_devinst *pi, int idx)
{
	const struct pci_bar *b = &pi->bar[idx];

	pci_set_cfg32(pi, PCIR_BAR0 + 4 * (unsigned)idx, (uint32_t)b->addr | bar_flags(b));
	if (b->type == PCI_BAR_MEM64)
		pci_set_cfg32(pi, PCIR_BAR0 + 4 * (unsigned)idx + 4, (uint32_t)(b->addr >> 32));
}

int pci_alloc_bar(struct pci_devinst *pi, int idx, enum pci_bar_type type, uint64_t size)
{
	uint64_t min = type == PCI_BAR_IO ? 4 : 4096;
	uint64_t *next = type == PCI_BAR_IO ? &next_io : &next_mem32;
	uint64_t limit = type == PCI_BAR_IO ? PCI_IO_END : windows.mmio32_end;
	uint64_t addr;

	if (idx < 0 || idx >= PCI_MAX_BARS || pi->bar[idx].type != PCI_BAR_NONE ||
	    (type == PCI_BAR_MEM64 && (idx == PCI_MAX_BARS - 1 || pi->bar[idx + 1].type)) ||
	    type == PCI_BAR_NONE || type == PCI_BAR_MEM64_HI || size == 0 || size > (1ull << 30))
		return -1;
	if (size < min)
		size = min;
	size = 1ull << (64 - __builtin_clzll(size - 1));
	addr = (*next + size - 1) & ~(size - 1);
	if (addr + size > limit) {
		fprintf(stderr, "khyve: %s: no room for BAR %d (%llu bytes)\n", pi->ident, idx,
			(unsigned long long)size);
		return -1;
	}
	*next = addr + size;
	pi->bar[idx] = (struct pci_bar){ .type = type, .size = size, .addr = addr };
	pi->bar_ref[idx] = (struct pci_bar_ref){ pi, idx };
	if (type == PCI_BAR_MEM64)
		pi->bar[idx + 1].type = PCI_BAR_MEM64_HI;
	bar_update_cfg(pi, idx);
	return 0;
}

/* A write to a BAR register: only the address bits above the size stick. */
static void bar_write_cfg(struct pci_devinst *pi, unsigned off, int bytes, uint32_t val)
{
	int idx = (int)(off - PCIR_BAR0) / 4;
	unsigned reg = PCIR_BAR0 + 4 * (unsigned)idx;
	uint32_t cur = pci_get_cfg32(pi, reg);
	bool hi = pi->bar[idx].type == PCI_BAR_MEM64_HI;
	struct pci_bar *b = hi ? &pi->bar[idx - 1] : &pi->bar[idx];
	uint64_t addr;

	if (b->type == PCI_BAR_NONE)
		return; /* unimplemented BARs read as zero */
	/* Merge a partial write into the 32-bit register. */
	memcpy((uint8_t *)&cur + (off - reg), &val, (size_t)bytes);
	if (hi)
		addr = (b->addr & 0xffffffffull) | ((uint64_t)cur << 32);
	else
		addr = (b->addr & ~0xffffffffull) | (cur & (b->type == PCI_BAR_IO ? ~0x3u : ~0xfu));
	addr &= ~(b->size - 1);
	/*
	 * An I/O BAR keeps all 32 bits, as real devices do: SeaBIOS sizes it
	 * from the full register (16 bits would read as a 4 GiB BAR); one
	 * above 64 KiB simply does not decode.
	 */
	if (b->type == PCI_BAR_IO || b->type == PCI_BAR_MEM32)
		addr &= 0xffffffffull;
	idx = hi ? idx - 1 : idx;
	if (addr != b->addr) {
		bar_unmap(pi, idx);
		b->addr = addr;
		bar_map(pi, idx);
	}
	bar_update_cfg(pi, idx);
}

static void bars_remap(struct pci_devinst *pi)
{
	for (int i = 0; i < PCI_MAX_BARS; i++) {
		if (pi->bar[i].type == PCI_BAR_NONE || pi->bar[i].type == PCI_BAR_MEM64_HI)
			continue;
		if (bar_decodes(pi, &pi->bar[i]))
			bar_map(pi, i);
		else
			bar_unmap(pi, i);
	}
}

/* ---- Config writes the core understands -------------------------------- */

#define CMD_WRITABLE (PCIM_CMD_PORTEN | PCIM_CMD_MEMEN | PCIM_CMD_BUSMASTER | 0x0040 | \
		      0x0100 | PCIM_CMD_INTX_DISABLE)

static void command_write(struct pci_devinst *pi, unsigned off, int bytes, uint32_t val)
{
	uint16_t cmd = pci_get_cfg16(pi, PCIR_COMMAND);
	uint16_t newcmd = cmd;

	memcpy((uint8_t *)&newcmd + (off - PCIR_COMMAND), &val,
	       (size_t)(bytes > 2 ? 2 : bytes));
	newcmd = (uint16_t)((cmd & ~CMD_WRITABLE) | (newcmd & CMD_WRITABLE));
	pci_set_cfg16(pi, PCIR_COMMAND, newcmd);
	if ((cmd ^ newcmd) & (PCIM_CMD_PORTEN | PCIM_CMD_MEMEN))
		bars_remap(pi);
	if ((cmd ^ newcmd) & PCIM_CMD_INTX_DISABLE) {
		pthread_mutex_lock(&intx_lock);
		if (pi->intx.pin)
			intx_update(pi);
		pthread_mutex_unlock(&intx_lock);
	}
}

static bool in_range(unsigned off, int bytes, unsigned start, unsigned len)
{
	return off >= start && off + (unsigned)bytes <= start + len;
}

/*
 * MSI (64-bit layout): control (enable, enabled vectors), address and data
 * are writable, in accesses of any width; ID, next pointer, the offered
 * vector count and the reserved word at +14 are not.
 */
#define MSI_CAP_LEN 16

static bool msi_write(struct pci_devinst *pi, unsigned off, int bytes, uint32_t val)
{
	unsigned c = pi->msi.cap;
	uint8_t cap[MSI_CAP_LEN];
	uint16_t ctrl, w;
	unsigned mme;

	if (!c || !in_range(off, bytes, c, MSI_CAP_LEN))
		return false;
	memcpy(cap, pi->cfg + c, MSI_CAP_LEN);
	memcpy(cap + (off - c), &val, (size_t)bytes);
	ctrl = pci_get_cfg16(pi, c + 2);
	w = (uint16_t)(cap[2] | cap[3] << 8);
	mme = (w >> 4) & 7;
	if (mme > pi->msi.nvec_log2)
		mme = pi->msi.nvec_log2;
	pci_set_cfg16(pi, c + 2, (uint16_t)((ctrl & ~0x71u) | (w & MSI_CTRL_ENABLE) | mme << 4));
	memcpy(pi->cfg + c + 4, cap + 4, 10); /* address (low bits kept 0), high, data */
	pci_set_cfg32(pi, c + 4, pci_get_cfg32(pi, c + 4) & ~3u);
	return true;
}

/* MSI-X: only the enable and function-mask bits of the control word. */
static bool msix_cap_write(struct pci_devinst *pi, unsigned off, int bytes, uint32_t val)
{
	unsigned c = pi->msix.cap;
	uint8_t dword[4];
	uint16_t ctrl, w;

	if (!c || !in_range(off, bytes, c, 12))
		return false;
	if (off + (unsigned)bytes <= c + 2 || off >= c + 4)
		return true; /* ID, next pointer, table and PBA offsets: read-only */
	memcpy(dword, pi->cfg + c, 4);
	memcpy(dword + (off - c), &val, (size_t)bytes);
	w = (uint16_t)(dword[2] | dword[3] << 8);
	ctrl = pci_get_cfg16(pi, c + 2);
	ctrl = (uint16_t)((ctrl & ~(MSIX_CTRL_ENABLE | MSIX_CTRL_FMASK)) |
			  (w & (MSIX_CTRL_ENABLE | MSIX_CTRL_FMASK)));
	pci_set_cfg16(pi, c + 2, ctrl);
	pthread_mutex_lock(&pi->msix.lock);
	pi->msix.function_masked = ctrl & MSIX_CTRL_FMASK;
	__atomic_store_n(&pi->msix.enabled, (ctrl & MSIX_CTRL_ENABLE) != 0, __ATOMIC_RELEASE);
	if (pi->msix.enabled)
		msix_deliver_pending_locked(pi);
	pthread_mutex_unlock(&pi->msix.lock);
	msix_notify(pi);
	return true;
}

static void cfg_write(struct pci_devinst *pi, unsigned off, int bytes, uint32_t val)
{
	if (pi->emu->cfgwrite && pi->emu->cfgwrite(pi, off, bytes, val) == 0)
		return;
	if (in_range(off, bytes, PCIR_COMMAND, 4)) {
		if (off < PCIR_STATUS)
			command_write(pi, off, bytes, val);
		/* Status bits are read-only or write-one-to-clear errors we never set. */
	} else if (in_range(off, bytes, PCIR_BAR0, 4 * PCI_MAX_BARS)) {
		bar_write_cfg(pi, off, bytes, val);
	} else if (in_range(off, bytes, 0x0c, 2) || in_range(off, bytes, PCIR_INTLINE, 1)) {
		set_cfg(pi, off, bytes, val); /* cache line size, latency timer, line */
	} else if (!msi_write(pi, off, bytes, val)) {
		(void)msix_cap_write(pi, off, bytes, val);
	}
	/* Anything else is read-only (the expansion ROM BAR reads as zero: none). */
}

static uint32_t cfg_read(struct pci_devinst *pi, unsigned off, int bytes)
{
	uint32_t v;

	if (pi->emu->cfgread && pi->emu->cfgread(pi, off, bytes, &v) == 0)
		return v;
	return get_cfg(pi, off, bytes);
}

struct pci_devinst *pci_find(uint8_t bus, uint8_t slot, uint8_t func)
{
	if (bus >= PCI_BUSES || slot >= PCI_SLOTS || func >= PCI_MAX_FUNCS)
		return NULL;
	return devices[slot][func];
}

void pci_cfg_access(uint8_t bus, uint8_t slot, uint8_t func, unsigned off, int bytes,
		    bool write, uint32_t *val)
{
	struct pci_devinst *pi = pci_find(bus, slot, func);
	bool valid = (bytes == 1 || bytes == 2 || bytes == 4) && !(off & (unsigned)(bytes - 1)) &&
		     off < PCI_CFG_SIZE && (unsigned)bytes <= PCI_CFG_SIZE - off;

	if (pi == NULL || !valid) {
		if (!write)
			*val = bytes >= 4 ? 0xffffffffu : (1u << (8 * bytes)) - 1;
		return;
	}
	pthread_mutex_lock(&pci_lock);
	if (write)
		cfg_write(pi, off, bytes, *val);
	else
		*val = cfg_read(pi, off, bytes);
	pthread_mutex_unlock(&pci_lock);
}

/* ---- The two ways in: 0xcf8/0xcfc and ECAM ------------------------------ */

static int conf1_addr_handler(struct vmctx *ctx, bool in, uint16_t port, int bytes,
			      uint32_t *val, void *arg)
{
	/* Only dword accesses reach the address latch; 0xcf9 is the reset register. */
	if (bytes != 4)
		return -1;
	if (in)
		*val = __atomic_load_n(&conf1_addr, __ATOMIC_RELAXED);
	else
		__atomic_store_n(&conf1_addr, *val & 0x80fffffcu, __ATOMIC_RELAXED);
	return 0;
}

static int conf1_data_handler(struct vmctx *ctx, bool in, uint16_t port, int bytes,
			      uint32_t *val, void *arg)
{
	uint32_t a = __atomic_load_n(&conf1_addr, __ATOMIC_RELAXED);
	unsigned off = (a & 0xfc) + (port - CONF1_DATA_PORT);

	if (!(a & CONF1_ENABLE)) {
		if (in)
			*val = 0xffffffffu;
		return 0;
	}
	pci_cfg_access((uint8_t)(a >> 16), (a >> 11) & 0x1f, (a >> 8) & 7, off, bytes, !in, val);
	return 0;
}

static int ecam_handler(struct vmctx *ctx, bool write, uint64_t gpa, int size, uint64_t *val,
			void *arg)
{
	uint64_t off = gpa - PCI_ECAM_BASE;
	uint32_t v = (uint32_t)*val;

	if (size > 4) { /* config space has no 64-bit registers */
		if (!write)
			*val = ~0ull;
		return 0;
	}
	pci_cfg_access((uint8_t)(off >> 20), (off >> 15) & 0x1f, (off >> 12) & 7, off & 0xfff,
		       size, write, &v);
	if (!write)
		*val = v;
	return 0;
}

/* ---- Firmware boot order -------------------------------------------------- */

int pci_add_boot_device(struct pci_devinst *pi, const struct cfg_node *node, const char *name,
			const char *child, const char *who)
{
	const char *value = get_config_value_node(node, "bootindex");
	char ids[16], path[160];
	int n;
	unsigned index;

	if (value == NULL)
		return 0;
	if (bootorder_parse(value, &index) < 0) {
		fprintf(stderr, "khyve: %s: bootindex '%s' is not a non-negative integer\n", who,
			value);
		return -1;
	}
	if (name == NULL) {
		snprintf(ids, sizeof(ids), "pci%04x,%04x", pci_get_cfg16(pi, PCIR_VENDOR),
			 pci_get_cfg16(pi, PCIR_DEVICE));
		name = ids;
	}
	/* SeaBIOS's build_pci_path() and OVMF's parser both want hex, ",F" only for F != 0. */
	n = snprintf(path, sizeof(path), "/pci@i0cf8/%s@%x", name, pi->slot);
	if (pi->func != 0)
		n += snprintf(path + n, sizeof(path) - (size_t)n, ",%x", pi->func);
	snprintf(path + n, sizeof(path) - (size_t)n, "%s", child ? child : "");
	return bootorder_add(index, path, who);
}

/* ---- Creating devices from the config tree ------------------------------ */

static const struct pci_devemu *find_emu(const char *name)
{
	struct pci_devemu **pp;

	SET_FOREACH(pp, pci_devemu_set)
		if (strcmp((*pp)->name, name) == 0)
			return *pp;
	return NULL;
}

struct slot_walk {
	struct vmctx *ctx; /* NULL: only check the config */
	const char *bus, *slot;
};

static int parse_index(const char *s, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v >= max)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int create_device(struct vmctx *ctx, unsigned slot, unsigned func,
			 const struct pci_devemu *emu, const struct cfg_node *node)
{
	struct pci_devinst *pi = calloc(1, sizeof(*pi));

	if (pi == NULL)
		return -1;
	pi->emu = emu;
	pi->ctx = ctx;
	pi->slot = (uint8_t)slot;
	pi->func = (uint8_t)func;
	snprintf(pi->ident, sizeof(pi->ident), "pci 0:%u:%u %s", slot, func, emu->name);
	devices[slot][func] = pi;
	if (emu->init(pi, node) < 0)
		return -1;
	pci_set_cfg16(pi, PCIR_COMMAND,
		      pci_get_cfg16(pi, PCIR_COMMAND) | PCIM_CMD_PORTEN | PCIM_CMD_MEMEN);
	return 0;
}

static int walk_func(const char *func, struct cfg_node *node, const char *value, void *arg)
{
	struct slot_walk *w = arg;
	const char *name = node ? get_config_value_node(node, "device") : NULL;
	const struct pci_devemu *emu;
	unsigned s, f;

	if (parse_index(w->slot, PCI_SLOTS, &s) < 0 || parse_index(func, PCI_MAX_FUNCS, &f) < 0) {
		fprintf(stderr, "khyve: pci %s:%s:%s: invalid slot or function\n", w->bus,
			w->slot, func);
		return 1;
	}
	if (name == NULL) {
		fprintf(stderr, "khyve: pci %s:%s:%s: no device given\n", w->bus, w->slot, func);
		return 1;
	}
	emu = find_emu(name);
	if (emu == NULL) {
		fprintf(stderr, "khyve: pci %s:%s:%s: device '%s' is not implemented\n", w->bus,
			w->slot, func, name);
		return 1;
	}
	if (w->ctx && create_device(w->ctx, s, f, emu, node) < 0) {
		if (devices[s][f] == NULL)
			fprintf(stderr, "khyve: pci 0:%u:%u: out of memory\n", s, f);
		return 1;
	}
	return 0;
}

static int walk_slot(const char *slot, struct cfg_node *node, const char *value, void *arg)
{
	struct slot_walk w = *(struct slot_walk *)arg;

	w.slot = slot;
	return node ? config_foreach(node, walk_func, &w) : 0;
}

static int walk_bus(const char *bus, struct cfg_node *node, const char *value, void *arg)
{
	struct slot_walk w = { arg, bus, NULL };
	unsigned b;

	if (parse_index(bus, 256, &b) < 0 || b >= PCI_BUSES) {
		fprintf(stderr, "khyve: pci bus %s: only bus 0 is implemented\n", bus);
		return 1;
	}
	return node ? config_foreach(node, walk_slot, &w) : 0;
}

static int walk_config(struct vmctx *ctx)
{
	struct cfg_node *pci = find_config_node("pci");

	return pci && config_foreach(pci, walk_bus, ctx) != 0 ? -1 : 0;
}

int pci_check_config(void)
{
	return walk_config(NULL);
}

/* Functions 1-7 are only probed when function 0 says it is multi-function. */
static void mark_multifunction(void)
{
	for (int s = 0; s < PCI_SLOTS; s++) {
		bool more = false;

		for (int f = 1; f < PCI_MAX_FUNCS; f++)
			more |= devices[s][f] != NULL;
		if (more && devices[s][0])
			devices[s][0]->cfg[PCIR_HDRTYPE] |= PCIM_HDRTYPE_MULTIFUNC;
	}
}

static int register_config_access(void)
{
	struct inout_port addr = { "pci-conf1-addr", CONF1_ADDR_PORT, 1, IOPORT_F_INOUT,
				   conf1_addr_handler, NULL };
	struct inout_port data = { "pci-conf1-data", CONF1_DATA_PORT, 4, IOPORT_F_INOUT,
				   conf1_data_handler, NULL };
	struct mem_range ecam = { "pci-ecam", PCI_ECAM_BASE, PCI_ECAM_SIZE, ecam_handler, NULL };

	if (register_inout(&addr) < 0 || register_inout(&data) < 0 ||
	    (windows.ecam && register_mem(&ecam) < 0)) {
		fprintf(stderr, "khyve: cannot register the PCI configuration ports\n");
		return -1;
	}
	return 0;
}

int pci_init(struct vmctx *ctx)
{
	if (register_config_access() < 0 || walk_config(ctx) < 0)
		return -1;
	mark_multifunction();
	for (int s = 0; s < PCI_SLOTS; s++)
		for (int f = 0; f < PCI_MAX_FUNCS; f++)
			if (devices[s][f])
				bars_remap(devices[s][f]);
	/* Every device has registered its bootindex; fw_cfg (an LPC device) exists. */
	return bootorder_publish();
}
