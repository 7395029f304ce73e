/*
 * PCI core (src/pci/pci_emul.c) seen from a hostile guest: configuration
 * space through both entry paths (ports 0xcf8/0xcfc and ECAM), BAR sizing,
 * moving, overlapping and decode control, the capability list, MSI and
 * MSI-X (table, PBA, masking) and config-time errors.
 *
 * pci_init() registers global port and MMIO ranges, so it runs once for the
 * whole binary (group setup) with one bus holding every device the tests
 * need; each test puts back what it changes. Besides the real models
 * (hostbridge, lpc, virtio-rnd) a test-only device, registered here with
 * PCI_EMUL_SET, provides what no real model has yet: an I/O BAR, a 64-bit
 * BAR and plain MSI.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/inout.h"
#include "core/mem.h"
#include "core/mevent.h"
#include "lib/vmmapi.h"
#include "pci/pci.h"
#include "virtio/virtio.h"
#include "x86/acpi.h"

#include "capture.h"

#define RAM_SIZE (1u << 20)

/* Where the devices live. */
#define SLOT_HB 0      /* hostbridge */
#define SLOT_MF 3      /* virtio-rnd, functions 0 and 1 */
#define SLOT_RND 5     /* virtio-rnd: BAR and MSI-X tests */
#define SLOT_TD 6      /* the test device below */
#define SLOT_ABSENT 7
#define SLOT_LPC 31

/* Free guest addresses to move BARs to (inside the 32-bit PCI window). */
#define FREE_MMIO32 0xd0000000u
#define FREE_MMIO64 0x140000000ull
#define FREE_PORT 0x8000u

/* BAR 4 of a virtio device: common config register num_queues. */
#define CC_NUM_QUEUES 0x12

static struct vmctx ctx;

/* ---- A test-only device: I/O BAR 0, 64-bit BAR 2, MSI, INTx -------------- */

#define TD_IO_SIZE 0x100
#define TD_MEM_SIZE 0x10000

struct td_state {
	struct pci_devinst *pi;
	int writes;
	int last_bar;
	uint64_t last_off, last_val;
	int mapped_calls;
	bool last_mapped;
	uint64_t last_mapped_addr;
};

static struct td_state td;

/* Reads return where they landed, so a test can tell who answered. */
static uint64_t td_pattern(int bar, uint64_t off)
{
	return 0xa0000000u | (uint64_t)bar << 24 | off;
}

static int td_init(struct pci_devinst *pi, const struct cfg_node *node)
{
	td.pi = pi;
	pci_set_ids(pi, 0x1234, 0x5678, 0xff, 0x00, 0x1234, 0x0001, 7);
	if (pci_alloc_bar(pi, 0, PCI_BAR_IO, TD_IO_SIZE) < 0 ||
	    pci_alloc_bar(pi, 2, PCI_BAR_MEM64, TD_MEM_SIZE) < 0 || pci_add_msi(pi, 2) < 0)
		return -1;
	pci_add_intx(pi);
	return 0;
}

static uint64_t td_barread(struct pci_devinst *pi, int bar, uint64_t off, int bytes)
{
	return td_pattern(bar, off);
}

static void td_barwrite(struct pci_devinst *pi, int bar, uint64_t off, int bytes, uint64_t val)
{
	td.writes++;
	td.last_bar = bar;
	td.last_off = off;
	td.last_val = val;
}

static void td_bar_mapped(struct pci_devinst *pi, int bar, bool mapped, uint64_t addr)
{
	if (bar != 2)
		return;
	td.mapped_calls++;
	td.last_mapped = mapped;
	td.last_mapped_addr = addr;
}

static const struct pci_devemu td_emu = {
	.name = "unit-test-dev",
	.init = td_init,
	.barread = td_barread,
	.barwrite = td_barwrite,
	.bar_mapped = td_bar_mapped,
};
PCI_EMUL_SET(td_emu);

/* ---- MSI deliveries ------------------------------------------------------- */

#define MSI_LOG 16

static struct {
	pthread_mutex_t lock;
	int n;
	uint64_t addr[MSI_LOG];
	uint32_t data[MSI_LOG];
} msi_log = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int record_msi(struct vmctx *c, uint64_t addr, uint32_t data)
{
	pthread_mutex_lock(&msi_log.lock);
	if (msi_log.n < MSI_LOG) {
		msi_log.addr[msi_log.n] = addr;
		msi_log.data[msi_log.n] = data;
	}
	msi_log.n++;
	pthread_mutex_unlock(&msi_log.lock);
	return 0;
}

static void msi_clear(void)
{
	pthread_mutex_lock(&msi_log.lock);
	msi_log.n = 0;
	pthread_mutex_unlock(&msi_log.lock);
}

static void assert_one_msi(uint64_t addr, uint32_t data)
{
	assert_int_equal(msi_log.n, 1);
	assert_int_equal(msi_log.addr[0], addr);
	assert_int_equal(msi_log.data[0], data);
	msi_clear();
}

/* ---- Guest-side accessors ------------------------------------------------- */

static uint32_t cfg_rd(unsigned slot, unsigned func, unsigned off, int bytes)
{
	uint32_t v = 0x5a5a5a5a;

	pci_cfg_access(0, (uint8_t)slot, (uint8_t)func, off, bytes, false, &v);
	return v;
}

static void cfg_wr(unsigned slot, unsigned func, unsigned off, int bytes, uint32_t v)
{
	pci_cfg_access(0, (uint8_t)slot, (uint8_t)func, off, bytes, true, &v);
}

static uint32_t conf1_addr(unsigned slot, unsigned func, unsigned off)
{
	return 0x80000000u | slot << 11 | func << 8 | (off & 0xfc);
}

/* Mechanism #1 as a guest does it: latch the address, then touch 0xcfc + (off & 3). */
static uint32_t conf1_rd(unsigned slot, unsigned func, unsigned off, int bytes)
{
	uint32_t a = conf1_addr(slot, func, off), v = 0;

	assert_int_equal(emulate_inout(&ctx, false, 0xcf8, 4, &a), 0);
	assert_int_equal(emulate_inout(&ctx, true, (uint16_t)(0xcfc + (off & 3)), bytes, &v), 0);
	return v;
}

static void conf1_wr(unsigned slot, unsigned func, unsigned off, int bytes, uint32_t v)
{
	uint32_t a = conf1_addr(slot, func, off);

	assert_int_equal(emulate_inout(&ctx, false, 0xcf8, 4, &a), 0);
	assert_int_equal(emulate_inout(&ctx, false, (uint16_t)(0xcfc + (off & 3)), bytes, &v), 0);
}

static uint64_t ecam_gpa(unsigned bus, unsigned slot, unsigned func, unsigned off)
{
	return PCI_ECAM_BASE + ((uint64_t)bus << 20 | slot << 15 | func << 12 | off);
}

static uint64_t mmio_rd(uint64_t gpa, int size)
{
	uint64_t v = 0;

	assert_int_equal(emulate_mem(&ctx, false, gpa, size, &v), 0);
	return size == 8 ? v : v & ((1ull << (8 * size)) - 1);
}

static void mmio_wr(uint64_t gpa, int size, uint64_t v)
{
	assert_int_equal(emulate_mem(&ctx, true, gpa, size, &v), 0);
}

static uint32_t ecam_rd(unsigned bus, unsigned slot, unsigned func, unsigned off, int bytes)
{
	return (uint32_t)mmio_rd(ecam_gpa(bus, slot, func, off), bytes);
}

static uint32_t port_rd(uint16_t port, int bytes)
{
	uint32_t v = 0;

	assert_int_equal(emulate_inout(&ctx, true, port, bytes, &v), 0);
	return v;
}

static uint32_t bar_reg(unsigned slot, unsigned idx)
{
	return cfg_rd(slot, 0, PCIR_BAR0 + 4 * idx, 4);
}

static uint64_t mem_bar(unsigned slot, unsigned idx)
{
	return bar_reg(slot, idx) & ~0xfu;
}

static void set_command(unsigned slot, uint16_t cmd)
{
	cfg_wr(slot, 0, PCIR_COMMAND, 2, cmd);
}

/* Offset of the first capability with this ID at or after the list head, or 0. */
static unsigned find_cap(unsigned slot, unsigned func, uint8_t id)
{
	unsigned off = cfg_rd(slot, func, PCIR_CAP_PTR, 1);

	for (int n = 0; off != 0 && n < 64; n++) {
		if (cfg_rd(slot, func, off, 1) == id)
			return off;
		off = cfg_rd(slot, func, off + 1, 1);
	}
	return 0;
}

/* ---- Setup ---------------------------------------------------------------- */

static void set(const char *key, const char *value)
{
	assert_int_equal(set_config_value(key, value), 0);
}

static int group_setup(void **state)
{
	ctx = (struct vmctx){ .vm_fd = -1, .kvm_fd = -1, .lowmem = RAM_SIZE };
	ctx.ram = aligned_alloc(4096, RAM_SIZE);
	assert_non_null(ctx.ram);
	memset(ctx.ram, 0, RAM_SIZE);
	ctx.ram_map_len = RAM_SIZE;
	assert_int_equal(mevent_init(), 0);
	config_init();
	set("pci.0.0.0.device", "hostbridge");
	set("pci.0.3.0.device", "virtio-rnd");
	set("pci.0.3.1.device", "virtio-rnd");
	set("pci.0.5.0.device", "virtio-rnd");
	set("pci.0.6.0.device", "unit-test-dev");
	set("pci.0.31.0.device", "lpc");
	assert_int_equal(pci_check_config(), 0);
	assert_int_equal(pci_init(&ctx), 0);
	pci_set_msi_sender(record_msi);
	return 0;
}

/* ---- Configuration space basics ------------------------------------------ */

static void test_absent_slot_all_ones(void **state)
{
	uint32_t a, v;

	assert_int_equal(cfg_rd(SLOT_ABSENT, 0, 0, 4), 0xffffffffu);
	assert_int_equal(cfg_rd(SLOT_ABSENT, 0, 0, 2), 0xffffu);
	assert_int_equal(cfg_rd(SLOT_ABSENT, 0, 0x0e, 1), 0xffu);
	assert_int_equal(cfg_rd(SLOT_MF, 2, 0, 4), 0xffffffffu);  /* function 2 absent */
	assert_int_equal(conf1_rd(SLOT_ABSENT, 0, 0, 4), 0xffffffffu);
	assert_int_equal(conf1_rd(SLOT_ABSENT, 0, 2, 2), 0xffffu);
	assert_int_equal(ecam_rd(0, SLOT_ABSENT, 0, 0, 4), 0xffffffffu);
	assert_int_equal(ecam_rd(1, 0, 0, 0, 4), 0xffffffffu);     /* bus 1: none */
	assert_int_equal(ecam_rd(255, 31, 7, 0xffc, 4), 0xffffffffu);

	/* Enable bit clear: no configuration cycle, even for a present device. */
	a = conf1_addr(SLOT_HB, 0, 0) & ~0x80000000u;
	assert_int_equal(emulate_inout(&ctx, false, 0xcf8, 4, &a), 0);
	v = 0;
	assert_int_equal(emulate_inout(&ctx, true, 0xcfc, 4, &v), 0);
	assert_int_equal(v, 0xffffffffu);
	v = 0x12345678; /* and writes go nowhere */
	assert_int_equal(emulate_inout(&ctx, false, 0xcfc, 4, &v), 0);
	assert_int_equal(cfg_rd(SLOT_HB, 0, 0, 4), 0x12751275u);

	/* Writes to absent functions vanish. */
	conf1_wr(SLOT_ABSENT, 0, PCIR_COMMAND, 2, 0xffff);
	mmio_wr(ecam_gpa(0, SLOT_ABSENT, 0, 0x10), 4, 0xffffffff);
	assert_int_equal(cfg_rd(SLOT_ABSENT, 0, 0, 4), 0xffffffffu);

	assert_null(pci_find(0, SLOT_ABSENT, 0));
	assert_null(pci_find(1, 0, 0));
	assert_null(pci_find(0, 32, 0));
	assert_null(pci_find(0, 0, 8));
	assert_non_null(pci_find(0, SLOT_HB, 0));
}

static void check_ids(unsigned slot, uint16_t vendor, uint16_t device, uint8_t class,
		      uint8_t subclass)
{
	uint32_t id = (uint32_t)device << 16 | vendor;

	assert_int_equal(conf1_rd(slot, 0, 0, 4), id);
	assert_int_equal(conf1_rd(slot, 0, 0, 2), vendor);
	assert_int_equal(conf1_rd(slot, 0, 2, 2), device);
	assert_int_equal(conf1_rd(slot, 0, PCIR_CLASS, 1), class);
	assert_int_equal(conf1_rd(slot, 0, PCIR_SUBCLASS, 1), subclass);
	assert_int_equal(ecam_rd(0, slot, 0, 0, 4), id);
	assert_int_equal(ecam_rd(0, slot, 0, 2, 2), device);
	assert_int_equal(ecam_rd(0, slot, 0, PCIR_CLASS, 1), class);
	assert_int_equal(ecam_rd(0, slot, 0, 8, 4) >> 16, (uint32_t)class << 8 | subclass);
	assert_int_equal(ecam_rd(0, slot, 0, PCIR_HDRTYPE, 1) & 0x7f, 0); /* type 0 header */
}

static void test_bridge_ids(void **state)
{
	check_ids(SLOT_HB, 0x1275, 0x1275, PCIC_BRIDGE, PCIS_BRIDGE_HOST);
	check_ids(SLOT_LPC, 0x8086, 0x7000, PCIC_BRIDGE, PCIS_BRIDGE_ISA);
	/* A transitional virtio device's ID: entropy is 0x1005 (0x1044 if modern only). */
	check_ids(SLOT_RND, 0x1af4, 0x1005, 0xff, 0x00);
}

static void test_multifunction_bit(void **state)
{
	assert_true(conf1_rd(SLOT_MF, 0, PCIR_HDRTYPE, 1) & PCIM_HDRTYPE_MULTIFUNC);
	assert_int_equal(conf1_rd(SLOT_MF, 1, 0, 4), 0x10051af4u);
	assert_false(conf1_rd(SLOT_RND, 0, PCIR_HDRTYPE, 1) & PCIM_HDRTYPE_MULTIFUNC);
	assert_false(conf1_rd(SLOT_HB, 0, PCIR_HDRTYPE, 1) & PCIM_HDRTYPE_MULTIFUNC);
	assert_false(conf1_rd(SLOT_LPC, 0, PCIR_HDRTYPE, 1) & PCIM_HDRTYPE_MULTIFUNC);
}

/* Misaligned, odd-sized and out-of-range accesses: all ones, writes dropped. */
static void test_odd_config_accesses(void **state)
{
	uint16_t cmd = (uint16_t)cfg_rd(SLOT_RND, 0, PCIR_COMMAND, 2);
	uint32_t v, latch;

	assert_int_equal(cfg_rd(SLOT_RND, 0, 0, 3), 0xffffffu);
	assert_int_equal(cfg_rd(SLOT_RND, 0, 3, 4), 0xffffffffu);
	assert_int_equal(cfg_rd(SLOT_RND, 0, 1, 2), 0xffffu);
	assert_int_equal(cfg_rd(SLOT_RND, 0, 2, 4), 0xffffffffu);
	assert_int_equal(cfg_rd(SLOT_RND, 0, 0, 8), 0xffffffffu);
	assert_int_equal(cfg_rd(SLOT_RND, 0, PCI_CFG_SIZE, 1), 0xffu);
	assert_int_equal(cfg_rd(SLOT_RND, 0, PCI_CFG_SIZE - 2, 2), 0); /* extended space: zero */

	cfg_wr(SLOT_RND, 0, PCIR_COMMAND + 1, 2, 0xffff);
	cfg_wr(SLOT_RND, 0, PCIR_COMMAND, 3, 0);
	cfg_wr(SLOT_RND, 0, PCIR_COMMAND + 2, 4, 0);
	cfg_wr(SLOT_RND, 0, PCI_CFG_SIZE, 4, 0);
	assert_int_equal(cfg_rd(SLOT_RND, 0, PCIR_COMMAND, 2), cmd);

	/* Port 0xcfc + n: n selects the byte; crossing the dword is refused. */
	assert_int_equal(conf1_rd(SLOT_RND, 0, 1, 2), 0xffffu);
	assert_int_equal(conf1_rd(SLOT_RND, 0, 2, 4), 0xffffffffu);
	assert_int_equal(conf1_rd(SLOT_RND, 0, 3, 2), 0xffffu);
	assert_int_equal(conf1_rd(SLOT_RND, 0, 1, 1), 0x1a); /* vendor 0x1af4, high byte */
	conf1_wr(SLOT_RND, 0, PCIR_COMMAND + 1, 2, 0);
	assert_int_equal(cfg_rd(SLOT_RND, 0, PCIR_COMMAND, 2), cmd);

	/* The address latch takes dwords only; reserved bits read as zero. */
	latch = 0xffffffffu;
	assert_int_equal(emulate_inout(&ctx, false, 0xcf8, 4, &latch), 0);
	assert_int_equal(port_rd(0xcf8, 4), 0x80fffffcu);
	v = 0;
	assert_int_equal(emulate_inout(&ctx, false, 0xcf8, 2, &v), 0);
	assert_int_equal(emulate_inout(&ctx, false, 0xcf8, 1, &v), 0);
	assert_int_equal(port_rd(0xcf8, 4), 0x80fffffcu);
	assert_int_equal(port_rd(0xcf8, 1), 0xffu);
	assert_int_equal(port_rd(0xcf8, 2), 0xffffu);

	/* ECAM: no 64-bit registers, no misaligned or odd sizes. */
	assert_int_equal(mmio_rd(ecam_gpa(0, SLOT_RND, 0, 0), 8), ~0ull);
	assert_int_equal(ecam_rd(0, SLOT_RND, 0, 1, 2), 0xffffu);
	assert_int_equal(ecam_rd(0, SLOT_RND, 0, 2, 4), 0xffffffffu);
	assert_int_equal(ecam_rd(0, SLOT_RND, 0, 0, 3), 0xffffffu);
	mmio_wr(ecam_gpa(0, SLOT_RND, 0, PCIR_COMMAND), 8, 0);
	mmio_wr(ecam_gpa(0, SLOT_RND, 0, PCIR_COMMAND + 1), 2, 0);
	assert_int_equal(cfg_rd(SLOT_RND, 0, PCIR_COMMAND, 2), cmd);
}

/* Identification, header type, capability pointer, status: read-only to the guest. */
static void test_readonly_registers(void **state)
{
	uint8_t before[0x100], after[0x100];
	static const struct {
		unsigned off;
		int bytes;
	} ro[] = {
		{ 0x00, 4 }, { 0x00, 2 }, { 0x02, 2 }, { 0x01, 1 }, { 0x06, 2 }, { 0x08, 4 },
		{ 0x0b, 1 }, { 0x0e, 1 }, { 0x0c, 4 }, { 0x28, 4 }, { 0x2c, 4 }, { 0x2e, 2 },
		{ 0x30, 4 }, { 0x34, 4 }, { 0x34, 1 }, { 0x3c, 4 }, { 0x3c, 2 }, { 0x3d, 1 },
		{ 0x3e, 2 },
	};
	unsigned slots[] = { SLOT_HB, SLOT_RND, SLOT_TD, SLOT_LPC };

	for (size_t s = 0; s < sizeof(slots) / sizeof(slots[0]); s++) {
		for (unsigned i = 0; i < sizeof(before); i++)
			before[i] = (uint8_t)cfg_rd(slots[s], 0, i, 1);
		for (size_t i = 0; i < sizeof(ro) / sizeof(ro[0]); i++) {
			cfg_wr(slots[s], 0, ro[i].off, ro[i].bytes, 0xffffffffu);
			cfg_wr(slots[s], 0, ro[i].off, ro[i].bytes, 0);
		}
		for (unsigned i = 0; i < sizeof(after); i++)
			after[i] = (uint8_t)cfg_rd(slots[s], 0, i, 1);
		assert_memory_equal(before, after, sizeof(before));
	}
	/* The interrupt line is the OS's scratch byte. */
	cfg_wr(SLOT_RND, 0, PCIR_INTLINE, 1, 0x55);
	assert_int_equal(cfg_rd(SLOT_RND, 0, PCIR_INTLINE, 1), 0x55);
	assert_int_equal(cfg_rd(SLOT_RND, 0, PCIR_INTPIN, 1), 1);
	cfg_wr(SLOT_RND, 0, PCIR_INTLINE, 1, before[PCIR_INTLINE]);
}

static void test_command_register(void **state)
{
	uint16_t cmd = (uint16_t)cfg_rd(SLOT_RND, 0, PCIR_COMMAND, 2);

	assert_int_equal(cmd & (PCIM_CMD_PORTEN | PCIM_CMD_MEMEN),
			 PCIM_CMD_PORTEN | PCIM_CMD_MEMEN);
	/* Only the implemented bits stick; the dword write leaves status alone. */
	cfg_wr(SLOT_RND, 0, PCIR_COMMAND, 4, 0xffffffffu);
	assert_int_equal(cfg_rd(SLOT_RND, 0, PCIR_COMMAND, 2), 0x0547);
	assert_int_equal(cfg_rd(SLOT_RND, 0, PCIR_STATUS, 2) & ~PCIM_STATUS_INTR,
			 PCIM_STATUS_CAPLIST);
	/* High byte alone. */
	cfg_wr(SLOT_RND, 0, PCIR_COMMAND + 1, 1, 0);
	assert_int_equal(cfg_rd(SLOT_RND, 0, PCIR_COMMAND, 2), 0x0047);
	set_command(SLOT_RND, cmd);
	assert_int_equal(cfg_rd(SLOT_RND, 0, PCIR_COMMAND, 2), cmd);
	assert_int_equal(mmio_rd(mem_bar(SLOT_RND, 4) + CC_NUM_QUEUES, 2), 1);
}

/* ---- Capabilities --------------------------------------------------------- */

/* Walk the list as a paranoid OS would: in bounds, aligned, finite, ends at 0. */
static unsigned walk_caps(unsigned slot, unsigned func, unsigned *ids, unsigned max)
{
	bool seen[0x100] = { false };
	unsigned off = conf1_rd(slot, func, PCIR_CAP_PTR, 1), n = 0;
	bool caplist = conf1_rd(slot, func, PCIR_STATUS, 2) & PCIM_STATUS_CAPLIST;

	assert_int_equal(caplist, off != 0);
	while (off != 0) {
		assert_true(off >= 0x40 && off <= 0xfc);
		assert_int_equal(off & 3, 0);
		assert_false(seen[off]);
		seen[off] = true;
		assert_true(n < max);
		ids[n++] = conf1_rd(slot, func, off, 1);
		off = conf1_rd(slot, func, off + 1, 1);
	}
	return n;
}

static void check_virtio_caps(unsigned slot, unsigned func)
{
	unsigned ids[48], types[8] = { 0 }, n = walk_caps(slot, func, ids, 48);
	unsigned off = cfg_rd(slot, func, PCIR_CAP_PTR, 1), msix = 0, notify_bars[2] = { 0 };

	for (unsigned i = 0; i < n; i++, off = cfg_rd(slot, func, off + 1, 1)) {
		unsigned len = cfg_rd(slot, func, off + 2, 1), type;

		if (ids[i] == PCIY_MSIX)
			msix++;
		if (ids[i] != PCIY_VENDOR)
			continue;
		type = cfg_rd(slot, func, off + 3, 1);
		assert_true(type >= 1 && type <= 5);
		types[type]++;
		assert_true(len >= 16 && off + len <= 0x100);
		if (type == 1) { /* common config: BAR 4, offset 0, whole structure */
			assert_int_equal(cfg_rd(slot, func, off + 4, 1), 4);
			assert_int_equal(cfg_rd(slot, func, off + 8, 4), 0);
			assert_true(cfg_rd(slot, func, off + 12, 4) >= 0x38);
		}
		if (type == 2) { /* notify: has the multiplier (the same in both) */
			assert_true(len >= 20);
			assert_int_equal(cfg_rd(slot, func, off + 16, 4), 4);
			notify_bars[types[2] - 1] = cfg_rd(slot, func, off + 4, 1);
		}
	}
	assert_int_equal(msix, 1);
	assert_int_equal(types[1], 1);
	/* Notifications in I/O BAR 2 first (drivers take the first), then BAR 4. */
	assert_int_equal(types[2], 2);
	assert_int_equal(notify_bars[0], VIRTIO_PORT_NOTIFY_BAR);
	assert_int_equal(notify_bars[1], VIRTIO_BAR);
	assert_int_equal(types[3], 1);
	assert_int_equal(types[4], 0); /* virtio-rnd has no device config */
	assert_int_equal(types[5], 1);
}

static void test_capability_lists(void **state)
{
	unsigned ids[48];

	assert_int_equal(walk_caps(SLOT_HB, 0, ids, 48), 0);
	assert_int_equal(walk_caps(SLOT_LPC, 0, ids, 48), 0);
	assert_int_equal(walk_caps(SLOT_TD, 0, ids, 48), 1);
	assert_int_equal(ids[0], PCIY_MSI);
	check_virtio_caps(SLOT_MF, 0);
	check_virtio_caps(SLOT_MF, 1);
	check_virtio_caps(SLOT_RND, 0);
}

/* ---- BARs ----------------------------------------------------------------- */

/* The sizing protocol: write all ones, read the size mask and flags, put it back. */
static uint32_t size_bar(unsigned slot, unsigned idx)
{
	uint32_t saved = bar_reg(slot, idx), mask;

	cfg_wr(slot, 0, PCIR_BAR0 + 4 * idx, 4, 0xffffffffu);
	mask = bar_reg(slot, idx);
	cfg_wr(slot, 0, PCIR_BAR0 + 4 * idx, 4, saved);
	assert_int_equal(bar_reg(slot, idx), saved);
	return mask;
}

static void check_virtio_bars_work(void)
{
	uint64_t bar1 = mem_bar(SLOT_RND, 1), bar4 = mem_bar(SLOT_RND, 4);

	assert_int_equal(mmio_rd(bar4 + CC_NUM_QUEUES, 2), 1);
	assert_int_equal(mmio_rd(bar1 + 12, 4), 1); /* MSI-X vector 0 starts masked */
}

static void test_bar_sizing(void **state)
{
	struct pci_devinst *pi = pci_find(0, SLOT_RND, 0);
	uint16_t cmd = (uint16_t)cfg_rd(SLOT_RND, 0, PCIR_COMMAND, 2);
	uint64_t size1 = pi->bar[1].size;

	assert_int_equal(pi->bar[4].size, 0x4000);
	assert_true(size1 >= 0x1000 && (size1 & (size1 - 1)) == 0);
	/* As Linux does it: decode off around the probe... */
	set_command(SLOT_RND, cmd & ~PCIM_CMD_MEMEN);
	assert_int_equal(size_bar(SLOT_RND, 4), ~(0x4000u - 1));
	assert_int_equal(size_bar(SLOT_RND, 1), ~(uint32_t)(size1 - 1));
	set_command(SLOT_RND, cmd);
	check_virtio_bars_work();
	/* ...and as a careless guest does, with decode on. */
	assert_int_equal(size_bar(SLOT_RND, 4), ~(0x4000u - 1));
	assert_int_equal(size_bar(SLOT_RND, 1), ~(uint32_t)(size1 - 1));
	check_virtio_bars_work();
	/* BAR 0: the legacy registers, 32 bytes of I/O space. */
	/* All 32 bits read back (SeaBIOS sizes from them); bit 0: I/O. */
	assert_int_equal(size_bar(SLOT_RND, 0), ~(32u - 1) | 1);
	/* BAR 2: one queue's notify address in I/O space (4 bytes, the minimum). */
	assert_int_equal(size_bar(SLOT_RND, 2), ~(4u - 1) | 1);
	/* Unimplemented BARs read zero whatever is written. */
	assert_int_equal(size_bar(SLOT_RND, 3), 0);
	assert_int_equal(size_bar(SLOT_RND, 5), 0);
	assert_int_equal(size_bar(SLOT_HB, 0), 0);
	/* Partial writes (16-bit halves) are merged like dwords. */
	cfg_wr(SLOT_RND, 0, PCIR_BAR0 + 16 + 2, 2, 0xffff);
	assert_int_equal(bar_reg(SLOT_RND, 4) >> 16, 0xffff);
	cfg_wr(SLOT_RND, 0, PCIR_BAR0 + 16, 4, (uint32_t)pi->bar[4].addr);
	check_virtio_bars_work();
}

static void test_bar_move(void **state)
{
	struct pci_devinst *pi = pci_find(0, SLOT_RND, 0);
	uint64_t old = mem_bar(SLOT_RND, 4);

	cfg_wr(SLOT_RND, 0, PCIR_BAR0 + 16, 4, FREE_MMIO32);
	assert_int_equal(bar_reg(SLOT_RND, 4), FREE_MMIO32);
	assert_true(pi->bar[4].mapped);
	assert_int_equal(mmio_rd(old + CC_NUM_QUEUES, 2), 0xffff);
	assert_int_equal(mmio_rd(FREE_MMIO32 + CC_NUM_QUEUES, 2), 1);
	/* Low bits below the size are not address bits. */
	cfg_wr(SLOT_RND, 0, PCIR_BAR0 + 16, 4, FREE_MMIO32 + 0x10000 + 0x3fff);
	assert_int_equal(bar_reg(SLOT_RND, 4), FREE_MMIO32 + 0x10000);
	assert_int_equal(mmio_rd(FREE_MMIO32 + CC_NUM_QUEUES, 2), 0xffff);
	assert_int_equal(mmio_rd(FREE_MMIO32 + 0x10000 + CC_NUM_QUEUES, 2), 1);
	/* An access running off the end of the BAR is not the device's. */
	assert_int_equal(mmio_rd(FREE_MMIO32 + 0x10000 + 0x3ffe, 4), 0xffffffffu);
	cfg_wr(SLOT_RND, 0, PCIR_BAR0 + 16, 4, (uint32_t)old);
	assert_int_equal(mmio_rd(old + CC_NUM_QUEUES, 2), 1);
	assert_int_equal(mmio_rd(FREE_MMIO32 + 0x10000 + CC_NUM_QUEUES, 2), 0xffff);
}

static void test_command_disables_decode(void **state)
{
	struct pci_devinst *pi = pci_find(0, SLOT_RND, 0);
	uint16_t cmd = (uint16_t)cfg_rd(SLOT_RND, 0, PCIR_COMMAND, 2);
	uint64_t bar1 = mem_bar(SLOT_RND, 1), bar4 = mem_bar(SLOT_RND, 4);

	set_command(SLOT_RND, cmd & ~PCIM_CMD_MEMEN);
	assert_false(pi->bar[4].mapped);
	assert_false(pi->bar[1].mapped);
	assert_int_equal(mmio_rd(bar4 + CC_NUM_QUEUES, 2), 0xffff);
	assert_int_equal(mmio_rd(bar1 + 12, 4), 0xffffffffu);
	assert_int_equal(bar_reg(SLOT_RND, 4), bar4); /* the register keeps its value */

	/* Moved while off: decodes at the new place only once enabled. */
	cfg_wr(SLOT_RND, 0, PCIR_BAR0 + 16, 4, FREE_MMIO32);
	assert_false(pi->bar[4].mapped);
	assert_int_equal(mmio_rd(FREE_MMIO32 + CC_NUM_QUEUES, 2), 0xffff);
	set_command(SLOT_RND, cmd);
	assert_int_equal(mmio_rd(FREE_MMIO32 + CC_NUM_QUEUES, 2), 1);
	assert_int_equal(mmio_rd(bar4 + CC_NUM_QUEUES, 2), 0xffff);
	cfg_wr(SLOT_RND, 0, PCIR_BAR0 + 16, 4, (uint32_t)bar4);
	check_virtio_bars_work();

	/* I/O decode off leaves memory BARs alone. */
	set_command(SLOT_RND, cmd & ~PCIM_CMD_PORTEN);
	check_virtio_bars_work();
	set_command(SLOT_RND, cmd);
}

/* Overlaps: the newcomer stays unmapped, the incumbent keeps decoding. */
static void test_bar_overlap(void **state)
{
	struct pci_devinst *rnd = pci_find(0, SLOT_RND, 0);
	uint64_t bar4 = mem_bar(SLOT_RND, 4), tdbar = mem_bar(SLOT_TD, 2);
	uint64_t onto = bar4 & ~(uint64_t)(TD_MEM_SIZE - 1);

	assert_int_equal(mmio_rd(tdbar + 0x40, 4), td_pattern(2, 0x40) & 0xffffffffu);

	/* The test device's 64 KiB BAR over virtio-rnd's BAR 4. */
	cfg_wr(SLOT_TD, 0, PCIR_BAR0 + 8, 4, (uint32_t)onto);
	assert_false(td.pi->bar[2].mapped);
	assert_int_equal(mmio_rd(bar4 + CC_NUM_QUEUES, 2), 1);
	assert_int_equal(mmio_rd(tdbar + 0x40, 4), 0xffffffffu);
	cfg_wr(SLOT_TD, 0, PCIR_BAR0 + 8, 4, (uint32_t)tdbar);
	assert_true(td.pi->bar[2].mapped);
	assert_int_equal(mmio_rd(tdbar + 0x40, 4), td_pattern(2, 0x40) & 0xffffffffu);

	/* virtio-rnd's BAR 4 over the test device's BAR. */
	cfg_wr(SLOT_RND, 0, PCIR_BAR0 + 16, 4, (uint32_t)tdbar + 0x4000);
	assert_false(rnd->bar[4].mapped);
	assert_int_equal(mmio_rd(tdbar + 0x4000 + 8, 4), td_pattern(2, 0x4008) & 0xffffffffu);

	/* Over ECAM, over the device's own MSI-X BAR, over another device's BAR 4. */
	cfg_wr(SLOT_RND, 0, PCIR_BAR0 + 16, 4, (uint32_t)PCI_ECAM_BASE);
	assert_false(rnd->bar[4].mapped);
	assert_int_equal(ecam_rd(0, SLOT_HB, 0, 0, 4), 0x12751275u);
	cfg_wr(SLOT_RND, 0, PCIR_BAR0 + 16, 4, (uint32_t)mem_bar(SLOT_RND, 1));
	assert_false(rnd->bar[4].mapped);
	assert_int_equal(mmio_rd(mem_bar(SLOT_RND, 1) + 12, 4), 1);
	cfg_wr(SLOT_RND, 0, PCIR_BAR0 + 16, 4, (uint32_t)mem_bar(SLOT_MF, 4));
	assert_false(rnd->bar[4].mapped);

	/* At 0: "not placed", never decoded. */
	cfg_wr(SLOT_RND, 0, PCIR_BAR0 + 16, 4, 0);
	assert_false(rnd->bar[4].mapped);

	cfg_wr(SLOT_RND, 0, PCIR_BAR0 + 16, 4, (uint32_t)bar4);
	assert_true(rnd->bar[4].mapped);
	check_virtio_bars_work();
	assert_int_equal(mmio_rd(mem_bar(SLOT_MF, 4) + CC_NUM_QUEUES, 2), 1);
}

static void test_bar_mem64(void **state)
{
	uint32_t lo = bar_reg(SLOT_TD, 2), hi = bar_reg(SLOT_TD, 3);
	uint16_t cmd = (uint16_t)cfg_rd(SLOT_TD, 0, PCIR_COMMAND, 2);

	assert_int_equal(lo & 0xf, 0x4); /* 64-bit, non-prefetchable */
	assert_int_equal(hi, 0);
	set_command(SLOT_TD, cmd & ~PCIM_CMD_MEMEN);
	cfg_wr(SLOT_TD, 0, PCIR_BAR0 + 8, 4, 0xffffffffu);
	cfg_wr(SLOT_TD, 0, PCIR_BAR0 + 12, 4, 0xffffffffu);
	assert_int_equal(bar_reg(SLOT_TD, 2), ~(uint32_t)(TD_MEM_SIZE - 1) | 0x4);
	assert_int_equal(bar_reg(SLOT_TD, 3), 0xffffffffu);
	assert_false(td.pi->bar[2].mapped);

	/* Above 4 GiB, then decode on: the device answers there and is told so. */
	cfg_wr(SLOT_TD, 0, PCIR_BAR0 + 8, 4, (uint32_t)FREE_MMIO64);
	cfg_wr(SLOT_TD, 0, PCIR_BAR0 + 12, 4, (uint32_t)(FREE_MMIO64 >> 32));
	td.mapped_calls = 0;
	set_command(SLOT_TD, cmd);
	assert_int_equal(td.mapped_calls, 1);
	assert_true(td.last_mapped);
	assert_int_equal(td.last_mapped_addr, FREE_MMIO64);
	assert_int_equal(mmio_rd(FREE_MMIO64 + 0x100, 8), td_pattern(2, 0x100));
	assert_int_equal(mmio_rd(lo & ~0xfu, 4), 0xffffffffu);
	td.writes = 0;
	mmio_wr(FREE_MMIO64 + 0x10, 2, 0xbeef);
	assert_int_equal(td.writes, 1);
	assert_int_equal(td.last_bar, 2);
	assert_int_equal(td.last_off, 0x10);
	assert_int_equal(td.last_val, 0xbeef);

	/* The top of the address space: a BAR that would wrap is never mapped. */
	cfg_wr(SLOT_TD, 0, PCIR_BAR0 + 8, 4, 0xffff0000u);
	cfg_wr(SLOT_TD, 0, PCIR_BAR0 + 12, 4, 0xffffffffu);
	assert_false(td.pi->bar[2].mapped);

	/* Back home, high half first as an OS restoring a BAR does. */
	cfg_wr(SLOT_TD, 0, PCIR_BAR0 + 12, 4, hi);
	cfg_wr(SLOT_TD, 0, PCIR_BAR0 + 8, 4, lo);
	assert_int_equal(bar_reg(SLOT_TD, 2), lo);
	assert_int_equal(bar_reg(SLOT_TD, 3), hi);
	assert_true(td.pi->bar[2].mapped);
	assert_false(td.last_mapped && td.last_mapped_addr != (lo & ~0xfu));
	assert_int_equal(mmio_rd((lo & ~0xfu) + 0x100, 4), td_pattern(2, 0x100) & 0xffffffffu);
	assert_int_equal(mmio_rd(FREE_MMIO64 + 0x100, 4), 0xffffffffu);
}

static void test_bar_io(void **state)
{
	uint32_t reg = bar_reg(SLOT_TD, 0);
	uint16_t port = (uint16_t)(reg & ~3u);
	uint16_t cmd = (uint16_t)cfg_rd(SLOT_TD, 0, PCIR_COMMAND, 2);
	uint32_t v;

	assert_int_equal(reg & 3, 1);
	assert_true(port >= PCI_IO_BASE && port % TD_IO_SIZE == 0);
	assert_true(td.pi->bar[0].mapped);
	assert_int_equal(port_rd(port + 4, 4), (uint32_t)td_pattern(0, 4));
	assert_int_equal(port_rd(port + 9, 1), (uint32_t)td_pattern(0, 9) & 0xff);

	/* Sizing: the low 16 bits carry the size (x86 has 64 Ki ports). */
	cfg_wr(SLOT_TD, 0, PCIR_BAR0, 4, 0xffffffffu);
	assert_int_equal(bar_reg(SLOT_TD, 0) & 0xffff, (uint32_t)(0x10000 - TD_IO_SIZE) | 1);

	/* Onto the configuration ports: refused, mechanism #1 still works. */
	cfg_wr(SLOT_TD, 0, PCIR_BAR0, 4, 0xcf8);
	assert_int_equal(bar_reg(SLOT_TD, 0), 0xc01);
	assert_false(td.pi->bar[0].mapped);
	assert_int_equal(conf1_rd(SLOT_HB, 0, 0, 4), 0x12751275u);

	/* A free range, then decode off and on. */
	cfg_wr(SLOT_TD, 0, PCIR_BAR0, 4, FREE_PORT);
	assert_int_equal(port_rd(FREE_PORT, 2), (uint32_t)td_pattern(0, 0) & 0xffff);
	assert_int_equal(port_rd(port, 2), 0xffff);
	set_command(SLOT_TD, cmd & ~PCIM_CMD_PORTEN);
	assert_int_equal(port_rd(FREE_PORT, 2), 0xffff);
	td.writes = 0;
	v = 1;
	assert_int_equal(emulate_inout(&ctx, false, FREE_PORT, 1, &v), 0);
	assert_int_equal(td.writes, 0);
	set_command(SLOT_TD, cmd);
	assert_int_equal(emulate_inout(&ctx, false, FREE_PORT + 3, 1, &v), 0);
	assert_int_equal(td.writes, 1);
	assert_int_equal(td.last_bar, 0);
	assert_int_equal(td.last_off, 3);

	/* Port 0 is "not placed". */
	cfg_wr(SLOT_TD, 0, PCIR_BAR0, 4, 0);
	assert_false(td.pi->bar[0].mapped);
	cfg_wr(SLOT_TD, 0, PCIR_BAR0, 4, reg);
	assert_true(td.pi->bar[0].mapped);
	assert_int_equal(port_rd(port + 4, 4), (uint32_t)td_pattern(0, 4));
}

/* ---- INTx ----------------------------------------------------------------- */

static void test_intx_status(void **state)
{
	uint16_t cmd = (uint16_t)cfg_rd(SLOT_TD, 0, PCIR_COMMAND, 2);

	assert_int_equal(cfg_rd(SLOT_TD, 0, PCIR_INTPIN, 1), 1);
	assert_int_equal(cfg_rd(SLOT_TD, 0, PCIR_INTLINE, 1), acpi_pci_intx_gsi(SLOT_TD, 1));
	assert_int_equal(cfg_rd(SLOT_HB, 0, PCIR_INTPIN, 1), 0);
	pci_intx_assert(td.pi);
	assert_true(cfg_rd(SLOT_TD, 0, PCIR_STATUS, 2) & PCIM_STATUS_INTR);
	assert_true(td.pi->intx.driven);
	/* Interrupt Disable masks the line, not the status bit. */
	set_command(SLOT_TD, cmd | PCIM_CMD_INTX_DISABLE);
	assert_false(td.pi->intx.driven);
	assert_true(cfg_rd(SLOT_TD, 0, PCIR_STATUS, 2) & PCIM_STATUS_INTR);
	set_command(SLOT_TD, cmd);
	assert_true(td.pi->intx.driven);
	pci_intx_deassert(td.pi);
	assert_false(td.pi->intx.driven);
	assert_false(cfg_rd(SLOT_TD, 0, PCIR_STATUS, 2) & PCIM_STATUS_INTR);
	/* Status writes cannot clear (or set) it. */
	cfg_wr(SLOT_TD, 0, PCIR_STATUS, 2, 0xffff);
	assert_false(cfg_rd(SLOT_TD, 0, PCIR_STATUS, 2) & PCIM_STATUS_INTR);
}

/* ---- MSI ------------------------------------------------------------------ */

static void test_msi(void **state)
{
	unsigned c = find_cap(SLOT_TD, 0, PCIY_MSI);
	uint16_t ctrl;

	assert_int_equal(c, td.pi->msi.cap);
	ctrl = (uint16_t)cfg_rd(SLOT_TD, 0, c + 2, 2);
	assert_int_equal(ctrl, 0x0080 | 2 << 1); /* 64-bit, 4 vectors capable, off */
	/* Program it the way Linux does: address, data, then control. */
	cfg_wr(SLOT_TD, 0, c + 4, 4, 0xfee01003u);
	cfg_wr(SLOT_TD, 0, c + 8, 4, 0);
	cfg_wr(SLOT_TD, 0, c + 12, 2, 0x4050);
	assert_int_equal(cfg_rd(SLOT_TD, 0, c + 4, 4), 0xfee01000u); /* dword aligned */
	msi_clear();
	pci_generate_msi(td.pi, 0);
	assert_int_equal(msi_log.n, 0);
	assert_false(pci_msi_enabled(td.pi));

	cfg_wr(SLOT_TD, 0, c + 2, 2, 1 | 2 << 4);
	assert_true(pci_msi_enabled(td.pi));
	assert_int_equal(cfg_rd(SLOT_TD, 0, c + 2, 2), 0x0080 | 2 << 4 | 2 << 1 | 1);
	pci_generate_msi(td.pi, 3);
	assert_one_msi(0xfee01000u, 0x4053);
	pci_generate_msi(td.pi, 4);
	pci_generate_msi(td.pi, 0xffffffffu);
	assert_int_equal(msi_log.n, 0);

	/* More vectors than offered: clamped; one vector: data used as is. */
	cfg_wr(SLOT_TD, 0, c + 2, 2, 0xffff);
	assert_int_equal(cfg_rd(SLOT_TD, 0, c + 2, 2), 0x0080 | 2 << 4 | 2 << 1 | 1);
	cfg_wr(SLOT_TD, 0, c + 2, 2, 1);
	pci_generate_msi(td.pi, 1);
	assert_int_equal(msi_log.n, 0);
	pci_generate_msi(td.pi, 0);
	assert_one_msi(0xfee01000u, 0x4050);

	/* ID and next pointer are read-only; so is everything past the data. */
	cfg_wr(SLOT_TD, 0, c, 1, 0x77);
	cfg_wr(SLOT_TD, 0, c + 1, 1, 0x77);
	assert_int_equal(cfg_rd(SLOT_TD, 0, c, 2), PCIY_MSI);

	cfg_wr(SLOT_TD, 0, c + 2, 2, 0);
	pci_generate_msi(td.pi, 0);
	assert_int_equal(msi_log.n, 0);
}

/*
 * MSI capability written in dwords (Linux uses words; other guests may
 * not): a dword at the header must still update the control word, and one
 * at c + 12 sets Message Data while the reserved word at c + 14 stays 0.
 */
static void test_msi_dword_writes(void **state)
{
	unsigned c = find_cap(SLOT_TD, 0, PCIY_MSI);

	cfg_wr(SLOT_TD, 0, c + 4, 4, 0xfee00000u);
	cfg_wr(SLOT_TD, 0, c + 8, 4, 0);
	cfg_wr(SLOT_TD, 0, c + 12, 4, 0x00004061u);
	assert_int_equal(cfg_rd(SLOT_TD, 0, c + 12, 2), 0x4061);
	cfg_wr(SLOT_TD, 0, c, 4, (uint32_t)1 << 16 | 0xffff);
	assert_true(pci_msi_enabled(td.pi));
	assert_int_equal(cfg_rd(SLOT_TD, 0, c, 2), PCIY_MSI);
	msi_clear();
	pci_generate_msi(td.pi, 0);
	assert_one_msi(0xfee00000u, 0x4061);
	cfg_wr(SLOT_TD, 0, c + 2, 2, 0);
}

/* ---- MSI-X ---------------------------------------------------------------- */

struct msix {
	struct pci_devinst *pi;
	unsigned cap, nvec;
	uint64_t table, pba;
};

static struct msix msix_get(void)
{
	struct msix m = { .pi = pci_find(0, SLOT_RND, 0) };
	uint32_t tbl, pba;

	m.cap = find_cap(SLOT_RND, 0, PCIY_MSIX);
	assert_int_not_equal(m.cap, 0);
	m.nvec = (cfg_rd(SLOT_RND, 0, m.cap + 2, 2) & 0x7ff) + 1;
	assert_int_equal(m.nvec, 2); /* one queue + config */
	tbl = cfg_rd(SLOT_RND, 0, m.cap + 4, 4);
	pba = cfg_rd(SLOT_RND, 0, m.cap + 8, 4);
	assert_int_equal(tbl & 7, 1);
	assert_int_equal(pba & 7, 1);
	m.table = mem_bar(SLOT_RND, 1) + (tbl & ~7u);
	m.pba = mem_bar(SLOT_RND, 1) + (pba & ~7u);
	return m;
}

static void msix_entry(const struct msix *m, unsigned v, uint64_t addr, uint32_t data,
		       uint32_t vc)
{
	mmio_wr(m->table + 16 * v, 4, (uint32_t)addr);
	mmio_wr(m->table + 16 * v + 4, 4, addr >> 32);
	mmio_wr(m->table + 16 * v + 8, 4, data);
	mmio_wr(m->table + 16 * v + 12, 4, vc);
}

static void msix_ctrl(const struct msix *m, uint16_t bits)
{
	cfg_wr(SLOT_RND, 0, m->cap + 2, 2, bits);
}

/* Both vectors programmed and unmasked, MSI-X on, log empty. */
static struct msix msix_ready(void)
{
	struct msix m = msix_get();

	msix_entry(&m, 0, 0xfee00000u, 0x4021, 0);
	msix_entry(&m, 1, 0xfee02000u, 0x4022, 0);
	msix_ctrl(&m, 0x8000);
	assert_true(pci_msix_enabled(m.pi));
	msi_clear();
	return m;
}

static void msix_off(const struct msix *m)
{
	msix_ctrl(m, 0);
	msix_entry(m, 0, 0, 0, 1);
	msix_entry(m, 1, 0, 0, 1);
	msi_clear();
}

static void test_msix_deliver(void **state)
{
	struct msix m = msix_ready();

	assert_int_equal(cfg_rd(SLOT_RND, 0, m.cap + 2, 2), 0x8000 | (m.nvec - 1));
	pci_generate_msix(m.pi, 1);
	assert_one_msi(0xfee02000u, 0x4022);
	pci_generate_msix(m.pi, 0);
	assert_one_msi(0xfee00000u, 0x4021);
	/* Reprogrammed while live: the next message uses the new values. */
	msix_entry(&m, 1, 0x1fee03000ull, 0x4030, 0);
	pci_generate_msix(m.pi, 1);
	assert_one_msi(0x1fee03000ull, 0x4030);
	msix_off(&m);
}

static void test_msix_masked_pending(void **state)
{
	struct msix m = msix_ready();

	mmio_wr(m.table + 12, 4, 1);
	pci_generate_msix(m.pi, 0);
	pci_generate_msix(m.pi, 0);
	assert_int_equal(msi_log.n, 0);
	assert_int_equal(mmio_rd(m.pba, 4), 1);
	assert_int_equal(mmio_rd(m.pba, 8), 1);
	/* Writing other entries does not release it. */
	mmio_wr(m.table + 16 + 8, 4, 0x4022);
	assert_int_equal(msi_log.n, 0);
	/* Unmasking delivers it once and clears the pending bit. */
	mmio_wr(m.table + 12, 4, 0);
	assert_one_msi(0xfee00000u, 0x4021);
	assert_int_equal(mmio_rd(m.pba, 4), 0);
	mmio_wr(m.table + 12, 4, 1);
	mmio_wr(m.table + 12, 4, 0);
	assert_int_equal(msi_log.n, 0);
	msix_off(&m);
}

static void test_msix_function_mask(void **state)
{
	struct msix m = msix_ready();

	msix_ctrl(&m, 0xc000);
	assert_true(pci_msix_enabled(m.pi));
	pci_generate_msix(m.pi, 1);
	assert_int_equal(msi_log.n, 0);
	assert_int_equal(mmio_rd(m.pba, 4), 2);
	/* Unmasking one vector's entry does not beat the function mask. */
	mmio_wr(m.table + 16 + 12, 4, 0);
	assert_int_equal(msi_log.n, 0);
	msix_ctrl(&m, 0x8000);
	assert_one_msi(0xfee02000u, 0x4022);
	assert_int_equal(mmio_rd(m.pba, 4), 0);
	msix_off(&m);
}

static void test_msix_disabled_or_out_of_range(void **state)
{
	struct msix m = msix_ready();

	pci_generate_msix(m.pi, m.nvec);
	pci_generate_msix(m.pi, 0x7ff);
	pci_generate_msix(m.pi, 0xffffffffu);
	assert_int_equal(msi_log.n, 0);
	assert_int_equal(mmio_rd(m.pba, 8), 0);
	/* Off: nothing sent, nothing left pending for later. */
	msix_ctrl(&m, 0);
	assert_false(pci_msix_enabled(m.pi));
	pci_generate_msix(m.pi, 0);
	assert_int_equal(msi_log.n, 0);
	msix_ctrl(&m, 0x8000);
	assert_int_equal(msi_log.n, 0);
	msix_off(&m);
}

/* The table takes aligned dwords and qwords only; the PBA is read-only. */
static void test_msix_table_accesses(void **state)
{
	struct msix m = msix_get();
	uint64_t e = m.table + 16; /* entry 1 */
	uint64_t size = m.pi->bar[1].size;

	msix_entry(&m, 1, 0x11223344u, 0x55667788u, 1);
	mmio_wr(e + 8, 1, 0xaa);
	mmio_wr(e + 8, 2, 0xaaaa);
	mmio_wr(e + 2, 4, 0xaaaaaaaa);
	mmio_wr(e + 4, 8, 0xaaaaaaaaaaaaaaaaull);
	mmio_wr(e + 9, 1, 0xaa);
	assert_int_equal(mmio_rd(e, 4), 0x11223344u);
	assert_int_equal(mmio_rd(e + 4, 4), 0);
	assert_int_equal(mmio_rd(e + 8, 4), 0x55667788u);
	assert_int_equal(mmio_rd(e + 8, 1), 0xff);
	assert_int_equal(mmio_rd(e + 8, 2), 0xffff);
	assert_int_equal(mmio_rd(e + 2, 4), 0xffffffffu);
	assert_int_equal(mmio_rd(e + 4, 8), ~0ull);

	mmio_wr(e, 8, 0x00000001fee0c000ull);
	assert_int_equal(mmio_rd(e, 8), 0x00000001fee0c000ull);
	assert_int_equal(mmio_rd(e + 8, 8), 0x0000000155667788ull);
	/* Reserved vector control bits read as zero. */
	mmio_wr(e + 12, 4, 0xfffffffeu);
	assert_int_equal(mmio_rd(e + 12, 4), 0);
	mmio_wr(e + 12, 4, 0xffffffffu);
	assert_int_equal(mmio_rd(e + 12, 4), 1);

	/* PBA: writes ignored; odd reads all ones. */
	mmio_wr(m.pba, 4, 0xffffffffu);
	mmio_wr(m.pba, 8, ~0ull);
	assert_int_equal(mmio_rd(m.pba, 8), 0);
	assert_int_equal(mmio_rd(m.pba + 4, 4), 0);
	assert_int_equal(mmio_rd(m.pba + 2, 2), 0xffff);
	assert_int_equal(mmio_rd(m.pba + 1, 4), 0xffffffffu);

	/* Past the table, past the PBA, across the BAR's end: not MSI-X state. */
	assert_int_equal(mmio_rd(m.table + 16 * m.nvec, 4), 0xffffffffu);
	mmio_wr(m.table + 16 * m.nvec, 4, 0);
	assert_int_equal(mmio_rd(m.pba + 8, 4), 0xffffffffu);
	assert_int_equal(mmio_rd(mem_bar(SLOT_RND, 1) + size - 2, 4), 0xffffffffu);
	mmio_wr(mem_bar(SLOT_RND, 1) + size - 4, 8, 0);
	msix_off(&m);
}

/* Only Enable and Function Mask are writable in the MSI-X capability. */
static void test_msix_capability_writes(void **state)
{
	struct msix m = msix_get();
	uint32_t tbl = cfg_rd(SLOT_RND, 0, m.cap + 4, 4), pba = cfg_rd(SLOT_RND, 0, m.cap + 8, 4);
	uint32_t head = cfg_rd(SLOT_RND, 0, m.cap, 4);

	cfg_wr(SLOT_RND, 0, m.cap + 4, 4, 0xfffffff8u | 5);
	cfg_wr(SLOT_RND, 0, m.cap + 8, 4, 0);
	cfg_wr(SLOT_RND, 0, m.cap + 4, 1, 0);
	assert_int_equal(cfg_rd(SLOT_RND, 0, m.cap + 4, 4), tbl);
	assert_int_equal(cfg_rd(SLOT_RND, 0, m.cap + 8, 4), pba);

	cfg_wr(SLOT_RND, 0, m.cap + 2, 2, 0xffff);
	assert_int_equal(cfg_rd(SLOT_RND, 0, m.cap + 2, 2), 0xc000 | (m.nvec - 1));
	assert_true(m.pi->msix.function_masked);
	/* A dword write at the header: ID and next stay, control applies. */
	cfg_wr(SLOT_RND, 0, m.cap, 4, 0x8000ffffu);
	assert_int_equal(cfg_rd(SLOT_RND, 0, m.cap, 4), (head & 0xffff) | 0x8000u << 16 |
			 (m.nvec - 1) << 16);
	assert_false(m.pi->msix.function_masked);
	assert_true(pci_msix_enabled(m.pi));
	/* The high byte alone. */
	cfg_wr(SLOT_RND, 0, m.cap + 3, 1, 0);
	assert_false(pci_msix_enabled(m.pi));
	assert_int_equal(cfg_rd(SLOT_RND, 0, m.cap, 4), head);
	msix_off(&m);
}

/*
 * pci_add_cap reads exactly len bytes of the caller's buffer (ASan would
 * catch more) and zero-pads the capability to a dword.
 */
static void test_add_cap_reads_only_len(void **state)
{
	struct pci_devinst *pi;
	uint8_t *cap;

	pi = calloc(1, sizeof(*pi));
	cap = malloc(6); /* exact size, on the heap so ASan sees the end */
	assert_non_null(pi);
	assert_non_null(cap);
	memset(cap, 0xab, 6);
	cap[0] = PCIY_VENDOR;
	assert_int_equal(pci_add_cap(pi, cap, 6), 0x40);
	assert_int_equal(pci_get_cfg8(pi, 0x45), 0xab);
	assert_int_equal(pci_get_cfg16(pi, 0x46), 0);
	free(cap);
	free(pi);
}

/*
 * Offsets near UINT_MAX must not wrap the bounds check of the exported
 * pci_cfg_access (guests only produce offsets below 4 KiB).
 */
static void test_cfg_offset_wrap(void **state)
{
	assert_int_equal(cfg_rd(SLOT_RND, 0, 0xffffffffu, 1), 0xffu);
	assert_int_equal(cfg_rd(SLOT_RND, 0, 0xfffffffeu, 2), 0xffffu);
	cfg_wr(SLOT_RND, 0, 0xfffffffcu, 4, 0);
}

/* ---- Config-time errors: one line each ------------------------------------ */

static void check_config_error(const char *key, const char *value, const char *needle)
{
	struct capture cap;
	char *err;
	int rc;

	config_init();
	set("pci.0.0.0.device", "hostbridge");
	set(key, value);
	capture_start(&cap, 2);
	rc = pci_check_config();
	err = capture_end(&cap);
	assert_int_equal(rc, -1);
	assert_int_equal(count_lines(err), 1);
	assert_non_null(strstr(err, "khyve: "));
	assert_non_null(strstr(err, needle));
	free(err);
}

static void test_check_config(void **state)
{
	struct capture cap;
	char *err;

	check_config_error("pci.0.9.0.device", "no-such-device", "'no-such-device'");
	check_config_error("pci.0.9.0.device", "", "''");
	check_config_error("pci.1.0.0.device", "hostbridge", "only bus 0");
	check_config_error("pci.x.0.0.device", "hostbridge", "only bus 0");
	check_config_error("pci.0.32.0.device", "hostbridge", "invalid slot");
	check_config_error("pci.0.9.8.device", "hostbridge", "invalid slot");
	check_config_error("pci.0.-1.0.device", "hostbridge", "invalid slot");
	check_config_error("pci.0.9.0.path", "/dev/null", "no device given");

	config_init();
	set("pci.0.0.0.device", "hostbridge");
	set("pci.0.9.0.device", "virtio-blk");
	set("pci.0.9.1.device", "unit-test-dev");
	capture_start(&cap, 2);
	assert_int_equal(pci_check_config(), 0);
	err = capture_end(&cap);
	assert_string_equal(err, "");
	free(err);
	config_init();
}

#define T(f) cmocka_unit_test(f)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_absent_slot_all_ones),
		T(test_bridge_ids),
		T(test_multifunction_bit),
		T(test_odd_config_accesses),
		T(test_readonly_registers),
		T(test_command_register),
		T(test_capability_lists),
		T(test_bar_sizing),
		T(test_bar_move),
		T(test_command_disables_decode),
		T(test_bar_overlap),
		T(test_bar_mem64),
		T(test_bar_io),
		T(test_intx_status),
		T(test_msi),
		T(test_msi_dword_writes),
		T(test_msix_deliver),
		T(test_msix_masked_pending),
		T(test_msix_function_mask),
		T(test_msix_disabled_or_out_of_range),
		T(test_msix_table_accesses),
		T(test_msix_capability_writes),
		T(test_add_cap_reads_only_len),
		T(test_cfg_offset_wrap),
		T(test_check_config),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
