/*
 * The AHCI controller (src/pci/pci_ahci.c, ahci_ata.c, ahci_atapi.c) driven
 * as a guest driver would: ABAR registers through MMIO exits, command lists,
 * tables and PRDTs in fake guest RAM, the received-FIS area, MSI deliveries.
 * Port 0 is a SATA disk (a 4 MiB image with a known pattern), port 1 an
 * ATAPI CD-ROM (1 MiB). Half the tests behave like Linux's libahci; the
 * other half like a hostile guest (huge PRDT, PRDs and tables outside RAM,
 * wrong FIS type, out-of-range LBAs, writes to the CD) and check the error
 * reaches the guest (Task File / Host Bus Fatal Error) and nothing breaks
 * (ASan): the port restarts and works again.
 *
 * The event loop runs on its own thread, as khyve's main thread; the test is
 * the vCPU. The generic parts (fake VM, MMIO, config space, MSI recording)
 * come from virtio_driver.h.
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"

#include "virtio_driver.h"

#define RAM_SIZE (16u << 20)
#define IMG_SIZE (4u << 20)
#define CD_SIZE (1u << 20)
#define SLOT 3
#define SERIAL "KHYVE-AHCI-SERIAL"
#define MODEL "Unit Test Disk"

/* AHCI registers (AHCI 1.3.1 section 3). */
#define CAP 0x00
#define GHC 0x04
#define HIS 0x08
#define PI 0x0c
#define VS 0x10
#define P_CLB 0x00
#define P_CLBU 0x04
#define P_FB 0x08
#define P_FBU 0x0c
#define P_IS 0x10
#define P_IE 0x14
#define P_CMD 0x18
#define P_TFD 0x20
#define P_SIG 0x24
#define P_SSTS 0x28
#define P_SCTL 0x2c
#define P_SERR 0x30
#define P_SACT 0x34
#define P_CI 0x38
#define IS_DHRS (1u << 0)
#define IS_PSS (1u << 1)
#define IS_SDBS (1u << 3)
#define IS_HBFS (1u << 29)
#define IS_TFES (1u << 30)
#define CMD_ST 1u
#define CMD_FRE (1u << 4)
#define CMD_FR (1u << 14)
#define CMD_CR (1u << 15)

/* Guest RAM: per port a command list, FIS area and 32 tables; data buffers. */
#define PORT_AREA(n) (0x100000u + (n) * 0x20000u)
#define CLB(n) PORT_AREA(n)
#define FB(n) (PORT_AREA(n) + 0x400)
#define CT(n, s) (PORT_AREA(n) + 0x1000 + (s) * 0x800)
#define MAX_TEST_PRD ((0x800 - 0x80) / 16)
#define BUF 0x400000u  /* up to 8 MiB of data buffers */

static char *img_path, *cd_path;
static uint64_t abar;
static struct pci_devinst *pi;

/* ---- Images -------------------------------------------------------------------- */

static uint8_t pattern(uint64_t off)
{
	return (uint8_t)(off * 37 + (off >> 11) + 3);
}

static void write_image(const char *path, size_t size)
{
	uint8_t *buf = malloc(size);
	int fd = open(path, O_WRONLY | O_CREAT, 0600);

	assert_non_null(buf);
	assert_true(fd >= 0);
	for (size_t i = 0; i < size; i++)
		buf[i] = pattern(i);
	assert_int_equal(pwrite(fd, buf, size, 0), (ssize_t)size);
	close(fd);
	free(buf);
}

static char *make_image(const char *name, size_t size)
{
	const char *dir = getenv("TMPDIR");
	char *path;
	int fd;

	assert_true(asprintf(&path, "%s/%s.XXXXXX", dir && *dir ? dir : "/tmp", name) > 0);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	write_image(path, size);
	return path;
}

static void image_read(uint64_t off, void *buf, size_t len)
{
	int fd = open(img_path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static bool ram_is_pattern(uint64_t gpa, uint64_t off, size_t len)
{
	const uint8_t *p = ram(gpa);

	for (size_t i = 0; i < len; i++)
		if (p[i] != pattern(off + i))
			return false;
	return true;
}

/* ---- The driver ------------------------------------------------------------------ */

static uint32_t hba_rd(unsigned off)
{
	return (uint32_t)mmio_rd(abar + off, 4);
}

static void hba_wr(unsigned off, uint32_t v)
{
	mmio_wr(abar + off, 4, v);
}

static uint32_t prd(unsigned port, unsigned off)
{
	return hba_rd(0x100 + port * 0x80 + off);
}

static void pwr(unsigned port, unsigned off, uint32_t v)
{
	hba_wr(0x100 + port * 0x80 + off, v);
}

/* Linux's ahci_stop_engine + ahci_start_engine, with the FIS area and list set. */
static void port_restart(unsigned n)
{
	pwr(n, P_CMD, 0);
	assert_int_equal(prd(n, P_CMD) & (CMD_ST | CMD_CR | CMD_FR), 0);
	assert_int_equal(prd(n, P_CI), 0);
	pwr(n, P_CLB, CLB(n));
	pwr(n, P_CLBU, 0);
	pwr(n, P_FB, FB(n));
	pwr(n, P_FBU, 0);
	pwr(n, P_CMD, CMD_FRE);
	pwr(n, P_SERR, ~0u);
	pwr(n, P_IS, ~0u);
	pwr(n, P_IE, ~0u);
	pwr(n, P_CMD, CMD_FRE | CMD_ST);
	assert_int_equal(prd(n, P_CMD) & (CMD_ST | CMD_CR | CMD_FR), CMD_ST | CMD_CR | CMD_FR);
	hba_wr(HIS, ~0u);
}

struct prd_ent {
	uint64_t addr;
	uint32_t len;
};

/* H2D Register FIS for command op, LBA48 layout (LBA28 commands use the low bytes). */
static void put_cfis(uint8_t *cfis, uint8_t op, uint64_t lba, uint16_t count, uint16_t feat)
{
	memset(cfis, 0, 64);
	cfis[0] = 0x27;
	cfis[1] = 0x80;
	cfis[2] = op;
	cfis[3] = (uint8_t)feat;
	cfis[4] = (uint8_t)lba;
	cfis[5] = (uint8_t)(lba >> 8);
	cfis[6] = (uint8_t)(lba >> 16);
	cfis[7] = 0x40;
	cfis[8] = (uint8_t)(lba >> 24);
	cfis[9] = (uint8_t)(lba >> 32);
	cfis[10] = (uint8_t)(lba >> 40);
	cfis[11] = (uint8_t)(feat >> 8);
	cfis[12] = (uint8_t)count;
	cfis[13] = (uint8_t)(count >> 8);
}

/* Command header for slot s and its table; PRDs given (DBC = len - 1). */
static uint8_t *build(unsigned n, unsigned s, bool write, const uint8_t *cdb,
		      const struct prd_ent *p, unsigned nprd)
{
	uint8_t *h = ram(CLB(n) + s * 32), *ct = ram(CT(n, s));
	uint32_t dw0 = 5 | (write ? 1u << 6 : 0) | (cdb ? 1u << 5 : 0) | (uint32_t)nprd << 16;
	uint32_t ctba = CT(n, s), zero = 0;

	assert_true(nprd <= MAX_TEST_PRD);
	memset(h, 0, 32);
	memcpy(h, &dw0, 4);
	memcpy(h + 8, &ctba, 4);
	memset(ct, 0, 0x80);
	if (cdb)
		memcpy(ct + 0x40, cdb, 12);
	for (unsigned i = 0; i < nprd; i++) {
		uint8_t *e = ct + 0x80 + i * 16;
		uint32_t lo = (uint32_t)p[i].addr, hi = (uint32_t)(p[i].addr >> 32),
			 dbc = p[i].len - 1;

		memcpy(e, &lo, 4);
		memcpy(e + 4, &hi, 4);
		memcpy(e + 8, &zero, 4);
		memcpy(e + 12, &dbc, 4);
	}
	return ct; /* the caller writes the CFIS at ct[0] */
}

static uint32_t prdbc(unsigned n, unsigned s)
{
	uint32_t v;

	memcpy(&v, ram(CLB(n) + s * 32 + 4), 4);
	return v;
}

/* Issue slot s and wait until it completes or fails; true on success. */
static bool run(unsigned n, unsigned s)
{
	uint32_t bit = 1u << s;

	pwr(n, P_CI, bit);
	assert_true(WAIT_FOR((prd(n, P_CI) & bit) == 0 ||
			     (prd(n, P_IS) & (IS_TFES | IS_HBFS)) != 0));
	return (prd(n, P_CI) & bit) == 0 && !(prd(n, P_TFD) & 1);
}

/* A one-shot ATA command with one or more data PRDs. */
static bool ata(unsigned n, uint8_t op, uint64_t lba, uint16_t count, uint16_t feat,
		bool write, const struct prd_ent *p, unsigned nprd)
{
	uint8_t *ct = build(n, 0, write, NULL, p, nprd);

	put_cfis(ct, op, lba, count, feat);
	return run(n, 0);
}

static bool packet(const uint8_t *cdb, uint64_t buf, uint32_t len)
{
	struct prd_ent p = { buf, len };
	uint8_t *ct = build(1, 0, false, cdb, &p, len ? 1 : 0);

	put_cfis(ct, 0xa0, 0, 0, 1 /* DMA */);
	ct[5] = (uint8_t)len; /* byte count limit */
	ct[6] = (uint8_t)(len >> 8);
	return run(1, 0);
}

/* After an expected failure: the error bits, then restart as Linux's EH does. */
static void expect_error(unsigned n, uint32_t is_bit, uint8_t error)
{
	assert_true(prd(n, P_IS) & is_bit);
	assert_true(prd(n, P_TFD) & 1);
	if (error)
		assert_int_equal((prd(n, P_TFD) >> 8) & error, error);
	port_restart(n);
	assert_int_equal(prd(n, P_CI), 0);
}

static void ident_str(const uint16_t *id, unsigned first, unsigned len, char *out)
{
	for (unsigned i = 0; i < len / 2; i++) {
		out[2 * i] = (char)(id[first + i] >> 8);
		out[2 * i + 1] = (char)id[first + i];
	}
	out[len] = '\0';
	for (int i = (int)len - 1; i >= 0 && out[i] == ' '; i--)
		out[i] = '\0';
}

/* ---- Setup --------------------------------------------------------------------------- */

static void set(const char *key, const char *value)
{
	assert_int_equal(set_config_value(key, value), 0);
}

static void msi_enable(void)
{
	unsigned off = cfg_rd(SLOT, PCIR_CAP_PTR, 1);

	while (off && cfg_rd(SLOT, off, 1) != PCIY_MSI)
		off = cfg_rd(SLOT, off + 1, 1);
	assert_int_not_equal(off, 0);
	cfg_wr(SLOT, off + 4, 4, 0xfee00000u);
	cfg_wr(SLOT, off + 8, 4, 0);
	cfg_wr(SLOT, off + 12, 2, 0x41);
	cfg_wr(SLOT, off + 2, 2, cfg_rd(SLOT, off + 2, 2) | 1);
}

static int group_setup(void **state)
{
	vd_vm_init(RAM_SIZE);
	img_path = make_image("khyve-ahci", IMG_SIZE);
	cd_path = make_image("khyve-ahci-cd", CD_SIZE);
	config_init();
	set("pci.0.0.0.device", "hostbridge");
	set("pci.0.3.0.device", "ahci");
	set("pci.0.3.0.port.0.type", "hd");
	set("pci.0.3.0.port.0.path", img_path);
	set("pci.0.3.0.port.0.ser", SERIAL);
	set("pci.0.3.0.port.0.model", MODEL);
	set("pci.0.3.0.port.1.type", "cd");
	set("pci.0.3.0.port.1.path", cd_path);
	assert_int_equal(pci_init(&ctx), 0);
	pi = pci_find(0, SLOT, 0);
	assert_non_null(pi);
	abar = cfg_rd(SLOT, PCIR_BAR0 + 4 * 5, 4) & ~0xfu;
	assert_int_not_equal(abar, 0);
	cfg_wr(SLOT, PCIR_COMMAND, 2, PCIM_CMD_MEMEN | PCIM_CMD_BUSMASTER);
	vd_loop_start();
	return 0;
}

static int group_teardown(void **state)
{
	vd_loop_stop();
	unlink(img_path);
	unlink(cd_path);
	return 0;
}

static int setup(void **state)
{
	write_image(img_path, IMG_SIZE);
	msi_enable();
	hba_wr(GHC, 1u << 31 | 2); /* AE, IE */
	port_restart(0);
	port_restart(1);
	msi_clear();
	return 0;
}

/* ---- HBA and ports ------------------------------------------------------------------ */

static void test_pci_and_hba(void **state)
{
	uint32_t cap = hba_rd(CAP);

	assert_int_equal(cfg_rd(SLOT, PCIR_VENDOR, 2), 0x8086);
	assert_int_equal(cfg_rd(SLOT, PCIR_PROGIF, 1), 0x01);
	assert_int_equal(cfg_rd(SLOT, PCIR_SUBCLASS, 1), 0x06);
	assert_int_equal(cfg_rd(SLOT, PCIR_CLASS, 1), 0x01);
	assert_true(cap & (1u << 30)); /* NCQ */
	assert_true(cap & (1u << 31)); /* 64-bit */
	assert_int_equal((cap >> 8) & 0x1f, 31);
	assert_int_equal(cap & 0x1f, 1); /* two ports */
	assert_int_equal(hba_rd(PI), 3);
	assert_int_equal(hba_rd(VS), 0x00010300);
	assert_true(hba_rd(GHC) & (1u << 31));
	assert_int_equal(prd(0, P_SIG), 0x00000101);
	assert_int_equal(prd(1, P_SIG), 0xeb140101);
	assert_int_equal(prd(0, P_SSTS) & 0xf, 3);
	assert_int_equal((prd(0, P_SSTS) >> 8) & 0xf, 1);
	/* Sub-dword reads see the same register. */
	assert_int_equal(mmio_rd(abar + 0x100 + P_SIG + 2, 2), 0);
	assert_int_equal(mmio_rd(abar + 0x180 + P_SIG + 3, 1), 0xeb);
}

static void test_comreset(void **state)
{
	uint8_t *d2h = ram(FB(1) + 0x40);

	pwr(1, P_CMD, CMD_FRE); /* ST off, FIS receive on */
	memset(d2h, 0, 20);
	pwr(1, P_SCTL, 1);
	assert_int_equal(prd(1, P_SSTS) & 0xf, 0);
	pwr(1, P_SCTL, 0);
	assert_int_equal(prd(1, P_SSTS) & 0xf, 3);
	assert_int_equal(prd(1, P_SIG), 0xeb140101);
	assert_false(prd(1, P_TFD) & 0x88); /* not BSY, no DRQ */
	assert_true(prd(1, P_SERR) & (1u << 26));
	assert_int_equal(d2h[0], 0x34);
	assert_int_equal(d2h[5], 0x14);
	assert_int_equal(d2h[6], 0xeb);
	/* HBA reset: ports back to idle, GHC.AE stays. */
	hba_wr(GHC, 1);
	assert_int_equal(hba_rd(GHC) & 3, 0);
	assert_int_equal(prd(0, P_CMD) & CMD_ST, 0);
	assert_int_equal(prd(0, P_SIG), 0x00000101);
}

/* ---- SATA disk --------------------------------------------------------------------------- */

static void test_identify(void **state)
{
	struct prd_ent p = { BUF, 512 };
	uint16_t id[256];
	char s[41];
	uint8_t sum = 0;
	uint64_t n;

	memset(ram(BUF), 0xee, 1024);
	assert_true(ata(0, 0xec, 0, 0, 0, false, &p, 1));
	assert_int_equal(prdbc(0, 0), 512);
	assert_int_equal(*(uint8_t *)ram(BUF + 512), 0xee);
	memcpy(id, ram(BUF), 512);
	ident_str(id, 10, 20, s);
	assert_string_equal(s, SERIAL);
	ident_str(id, 27, 40, s);
	assert_string_equal(s, MODEL);
	ident_str(id, 23, 8, s);
	assert_string_equal(s, "001");
	n = id[100] | (uint64_t)id[101] << 16 | (uint64_t)id[102] << 32;
	assert_int_equal(n, IMG_SIZE / 512);
	assert_true(id[83] & (1u << 10));  /* LBA48 */
	assert_true(id[76] & (1u << 8));   /* NCQ */
	assert_int_equal(id[75], 31);
	assert_true(id[169] & 1);          /* TRIM: the image can punch holes */
	for (unsigned i = 0; i < 512; i++)
		sum = (uint8_t)(sum + ((uint8_t *)id)[i]);
	assert_int_equal(sum, 0);
	/* PIO Setup + D2H FISes, their interrupts, one MSI at least. */
	assert_int_equal(*(uint8_t *)ram(FB(0) + 0x20), 0x5f);
	assert_int_equal(*(uint8_t *)ram(FB(0) + 0x40), 0x34);
	assert_int_equal(*(uint8_t *)ram(FB(0) + 0x42), 0x50);
	assert_true(prd(0, P_IS) & IS_DHRS);
	assert_true(prd(0, P_IS) & IS_PSS);
	assert_true(hba_rd(HIS) & 1);
	assert_true(WAIT_FOR(msi_count() > 0));
	/* The disk refuses IDENTIFY PACKET DEVICE, which firmware (SeaBIOS) sends
	 * to every port first: the D2H Register FIS, with its I bit, raises DHRS
	 * beside TFES (firmware polls for DHRS), status ERR, error ABRT. */
	pwr(0, P_IS, ~0u);
	memset(ram(FB(0) + 0x40), 0, 20);
	assert_false(ata(0, 0xa1, 0, 0, 0, false, &p, 1));
	assert_true(prd(0, P_IS) & IS_DHRS);
	assert_int_equal(*(uint8_t *)ram(FB(0) + 0x40), 0x34);
	assert_int_equal(*(uint8_t *)ram(FB(0) + 0x42), 0x41);
	assert_int_equal(*(uint8_t *)ram(FB(0) + 0x43), 0x04);
	expect_error(0, IS_TFES, 0x04);
	/* The CD refuses IDENTIFY DEVICE and answers IDENTIFY PACKET DEVICE. */
	p.addr = BUF + 0x1000;
	assert_false(ata(1, 0xec, 0, 0, 0, false, &p, 1));
	expect_error(1, IS_TFES, 0x04);
	assert_true(ata(1, 0xa1, 0, 0, 0, false, &p, 1));
	memcpy(id, ram(BUF + 0x1000), 512);
	assert_int_equal(id[0] >> 14, 2);        /* ATAPI */
	assert_int_equal((id[0] >> 8) & 0x1f, 5); /* CD-ROM */
}

/*
 * The doorbell runs the command on the writing (vCPU) thread: with the
 * event loop stopped, commands that need no backend I/O, and an ATAPI read
 * the backend finishes during submission or not, are done by the time the
 * CI write returns or once the loop runs again. Firmware polling for each
 * command sees the first ones done at its first look.
 */
static void test_doorbell_runs_command(void **state)
{
	static const uint8_t tur[12] = { 0x00 }, inquiry[12] = { 0x12, 0, 0, 0, 36 };
	static const uint8_t read10[12] = { 0x28, 0, 0, 0, 0, 1, 0, 0, 1 }; /* LBA 1, 1 block */
	struct prd_ent p = { BUF, 512 }, cdp = { BUF + 0x1000, 36 }, rd = { BUF + 0x2000, 2048 };
	uint8_t *ct;

	vd_loop_stop();
	ct = build(0, 0, false, NULL, &p, 1);
	put_cfis(ct, 0xec, 0, 0, 0); /* IDENTIFY DEVICE */
	pwr(0, P_CI, 1);
	assert_int_equal(prd(0, P_CI), 0);
	assert_int_equal(prdbc(0, 0), 512);
	assert_true(prd(0, P_IS) & IS_DHRS);

	ct = build(1, 0, false, tur, NULL, 0);
	put_cfis(ct, 0xa0, 0, 0, 0);
	pwr(1, P_CI, 1);
	assert_int_equal(prd(1, P_CI), 0);
	assert_int_equal(prd(1, P_TFD) & 1, 0);
	memset(ram(BUF + 0x1000), 0, 36);
	ct = build(1, 0, false, inquiry, &cdp, 1);
	put_cfis(ct, 0xa0, 0, 0, 0);
	ct[5] = 36;
	pwr(1, P_CI, 1);
	assert_int_equal(prd(1, P_CI), 0);
	assert_int_equal(*(uint8_t *)ram(BUF + 0x1000), 0x05); /* CD-ROM */

	/* A read: done now (page cache) or by the main thread later; never lost. */
	ct = build(1, 0, false, read10, &rd, 1);
	put_cfis(ct, 0xa0, 0, 0, 1);
	ct[5] = 0;
	ct[6] = 8; /* byte count limit 2048 */
	pwr(1, P_CI, 1);
	vd_loop_start();
	assert_true(WAIT_FOR((prd(1, P_CI) & 1) == 0));
	assert_int_equal(prd(1, P_TFD) & 1, 0);
	assert_int_equal(prdbc(1, 0), 2048);
}

static void test_read_write_dma(void **state)
{
	/* 64 KiB at LBA 100 from three PRDs of different sizes. */
	struct prd_ent w[3] = { { BUF, 4096 }, { BUF + 0x10000, 0x8000 }, { BUF + 0x30000, 0x7000 } };
	struct prd_ent r[4] = { { BUF + 0x100000, 512 }, { BUF + 0x110000, 0x3e00 },
				{ BUF + 0x120000, 0x8000 }, { BUF + 0x130000, 0x6000 } };
	uint8_t *got = malloc(0x10000), *want = malloc(0x10000);
	size_t off = 0;

	for (unsigned i = 0; i < 3; i++) {
		for (uint32_t j = 0; j < w[i].len; j++)
			want[off + j] = (uint8_t)((off + j) * 7 + 1);
		memcpy(ram(w[i].addr), want + off, w[i].len);
		off += w[i].len;
	}
	assert_true(ata(0, 0x35, 100, 128, 0, true, w, 3)); /* WRITE DMA EXT */
	assert_int_equal(prdbc(0, 0), 0x10000);
	image_read(100 * 512, got, 0x10000);
	assert_memory_equal(got, want, 0x10000);
	/* Read it back with READ DMA (LBA28); the last PRD is larger than needed. */
	memset(ram(BUF + 0x130000), 0xcc, 0x6000);
	assert_true(ata(0, 0xc8, 100, 128, 0, false, r, 4));
	off = 0;
	for (unsigned i = 0; i < 4 && off < 0x10000; i++) {
		size_t n = r[i].len < 0x10000 - off ? r[i].len : 0x10000 - off;

		assert_memory_equal(ram(r[i].addr), want + off, n);
		off += n;
	}
	assert_int_equal(*(uint8_t *)ram(BUF + 0x130000 + 0x4000), 0xcc); /* not written */
	/* READ SECTORS (PIO) of untouched data: the image's pattern. */
	assert_true(ata(0, 0x24, 2000, 3, 0, false, r, 1) == false); /* PRDT too short */
	expect_error(0, IS_TFES, 0x04);
	r[1].addr = BUF + 0x200000;
	r[1].len = 0x1000;
	assert_true(ata(0, 0x24, 2000, 3, 0, false, r, 2));
	assert_true(ram_is_pattern(BUF + 0x100000, 2000 * 512, 512));
	assert_true(ram_is_pattern(BUF + 0x200000, 2001 * 512, 1024));
	free(got);
	free(want);
}

static void test_ncq(void **state)
{
	const unsigned tags = 8;
	uint32_t all = (1u << tags) - 1;
	uint8_t *sdb = ram(FB(0) + 0x58);

	/* Eight queued writes of 8 KiB each, to LBA 16*t, all outstanding together. */
	for (unsigned t = 0; t < tags; t++) {
		struct prd_ent p = { BUF + t * 0x10000, 8192 };
		uint8_t *ct = build(0, t, true, NULL, &p, 1);

		memset(ram(p.addr), 0x10 + t, 8192);
		put_cfis(ct, 0x61, 16 * t, (uint16_t)(t << 3), 16);
	}
	pwr(0, P_SACT, all);
	pwr(0, P_CI, all);
	assert_true(WAIT_FOR(prd(0, P_SACT) == 0 || (prd(0, P_IS) & IS_TFES)));
	assert_int_equal(prd(0, P_SACT), 0);
	assert_int_equal(prd(0, P_CI), 0);
	assert_true(prd(0, P_IS) & IS_SDBS);
	assert_int_equal(sdb[0], 0xa1);
	for (unsigned t = 0; t < tags; t++) {
		uint8_t got[8192], want[8192];

		image_read(16 * t * 512, got, sizeof(got));
		memset(want, 0x10 + t, sizeof(want));
		assert_memory_equal(got, want, sizeof(got));
	}
	/* And eight queued reads, in reverse slot order of LBAs. */
	for (unsigned t = 0; t < tags; t++) {
		struct prd_ent p = { BUF + 0x100000 + t * 0x10000, 4096 };
		uint8_t *ct = build(0, t, false, NULL, &p, 1);

		put_cfis(ct, 0x60, 16 * (tags - 1 - t), (uint16_t)(t << 3), 8);
	}
	pwr(0, P_SACT, all);
	pwr(0, P_CI, all);
	assert_true(WAIT_FOR(prd(0, P_SACT) == 0 || (prd(0, P_IS) & IS_TFES)));
	assert_int_equal(prd(0, P_SACT), 0);
	for (unsigned t = 0; t < tags; t++) {
		uint8_t want[4096];

		memset(want, 0x10 + (tags - 1 - t), sizeof(want));
		assert_memory_equal(ram(BUF + 0x100000 + t * 0x10000), want, sizeof(want));
	}
}

static void test_ncq_error_log(void **state)
{
	struct prd_ent p = { BUF, 4096 }, lp = { BUF + 0x10000, 512 };
	uint8_t *ct = build(0, 5, false, NULL, &p, 1);
	uint8_t *log = ram(BUF + 0x10000), sum = 0;

	put_cfis(ct, 0x60, IMG_SIZE / 512 - 4, 5 << 3, 8); /* runs past the end */
	pwr(0, P_SACT, 1u << 5);
	pwr(0, P_CI, 1u << 5);
	assert_true(WAIT_FOR(prd(0, P_IS) & IS_TFES));
	expect_error(0, IS_TFES, 0x10);
	assert_true(ata(0, 0x2f, 0x10, 1, 0, false, &lp, 1)); /* READ LOG EXT 10h */
	assert_int_equal(log[0], 5);
	for (unsigned i = 0; i < 512; i++)
		sum = (uint8_t)(sum + log[i]);
	assert_int_equal(sum, 0);
	assert_true(ata(0, 0x2f, 0x10, 1, 0, false, &lp, 1));
	assert_int_equal(log[0], 0x80); /* read: cleared */
}

static void test_flush_and_misc(void **state)
{
	assert_true(ata(0, 0xea, 0, 0, 0, false, NULL, 0));  /* FLUSH CACHE EXT */
	assert_true(ata(0, 0xe7, 0, 0, 0, false, NULL, 0));  /* FLUSH CACHE */
	assert_true(ata(0, 0xef, 0, 0, 0x02, false, NULL, 0)); /* SET FEATURES: cache on */
	assert_true(ata(0, 0xc6, 0, 16, 0, false, NULL, 0)); /* SET MULTIPLE */
	assert_true(ata(0, 0xe3, 0, 0, 0, false, NULL, 0));  /* IDLE */
	assert_true(ata(0, 0xe0, 0, 0, 0, false, NULL, 0));  /* STANDBY IMMEDIATE */
	assert_true(ata(0, 0x42, 10, 10, 0, false, NULL, 0)); /* READ VERIFY EXT */
	assert_true(ata(0, 0xe5, 0, 0, 0, false, NULL, 0));  /* CHECK POWER MODE */
	assert_int_equal(*(uint8_t *)ram(FB(0) + 0x40 + 12), 0xff);
	/* SECURITY UNLOCK, SMART, NOP: aborted; the port recovers. */
	assert_false(ata(0, 0xf2, 0, 0, 0, false, NULL, 0));
	expect_error(0, IS_TFES, 0x04);
	assert_false(ata(0, 0xb0, 0, 0, 0xd0, false, NULL, 0));
	expect_error(0, IS_TFES, 0x04);
	assert_false(ata(0, 0x00, 0, 0, 0, false, NULL, 0));
	expect_error(0, IS_TFES, 0x04);
	assert_true(ata(0, 0xea, 0, 0, 0, false, NULL, 0));
}

static void test_trim(void **state)
{
	struct prd_ent p = { BUF, 512 };
	uint64_t range[64] = { 0 };
	struct stat before, after;
	struct prd_ent r = { BUF + 0x1000, 0x1000 };
	uint8_t zero[0x1000] = { 0 };

	assert_int_equal(stat(img_path, &before), 0);
	range[0] = 0x1000 | (uint64_t)2048 << 48;       /* 1 MiB at LBA 4096 */
	range[2] = 0x1800 | (uint64_t)0x800 << 48;      /* and 1 MiB at 6144 */
	memcpy(ram(BUF), range, sizeof(range));
	assert_true(ata(0, 0x06, 0, 1, 1, true, &p, 1));
	assert_int_equal(stat(img_path, &after), 0);
	assert_true(after.st_blocks < before.st_blocks);
	assert_true(before.st_blocks - after.st_blocks >= (2 << 20) / 512);
	assert_true(ata(0, 0x25, 0x1000, 8, 0, false, &r, 1));
	assert_memory_equal(ram(r.addr), zero, sizeof(zero));
	/* A range past the end fails with IDNF; no TRIM bit: aborted. */
	range[0] = (IMG_SIZE / 512 - 1) | (uint64_t)2 << 48;
	memcpy(ram(BUF), range, 8);
	assert_false(ata(0, 0x06, 0, 1, 1, true, &p, 1));
	expect_error(0, IS_TFES, 0x10);
	assert_false(ata(0, 0x06, 0, 1, 0, true, &p, 1));
	expect_error(0, IS_TFES, 0x04);
}

/* ---- ATAPI ---------------------------------------------------------------------------------- */

static void test_atapi(void **state)
{
	uint8_t cdb[12] = { 0 };
	uint8_t *b = ram(BUF);

	cdb[0] = 0x00; /* TEST UNIT READY */
	assert_true(packet(cdb, 0, 0));
	memset(cdb, 0, 12);
	cdb[0] = 0x12; /* INQUIRY */
	cdb[4] = 36;
	assert_true(packet(cdb, BUF, 36));
	assert_int_equal(b[0], 5);
	assert_int_equal(b[1], 0x80);
	assert_memory_equal(b + 8, "KHYVE   ", 8);
	memset(cdb, 0, 12);
	cdb[0] = 0x25; /* READ CAPACITY(10) */
	assert_true(packet(cdb, BUF, 8));
	assert_int_equal(b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3], CD_SIZE / 2048 - 1);
	assert_int_equal(b[4] << 24 | b[5] << 16 | b[6] << 8 | b[7], 2048);
	memset(cdb, 0, 12);
	cdb[0] = 0x28; /* READ(10): 2 sectors at 3 */
	cdb[5] = 3;
	cdb[8] = 2;
	assert_true(packet(cdb, BUF, 4096));
	assert_int_equal(prdbc(1, 0), 4096);
	assert_true(ram_is_pattern(BUF, 3 * 2048, 4096));
	cdb[0] = 0xa8; /* READ(12) */
	cdb[8] = 0;
	cdb[9] = 1;
	assert_true(packet(cdb, BUF + 0x2000, 2048));
	assert_true(ram_is_pattern(BUF + 0x2000, 3 * 2048, 2048));
	/* READ TOC format 0: track 1 and the lead-out at the capacity. */
	memset(cdb, 0, 12);
	cdb[0] = 0x43;
	cdb[8] = 100;
	assert_true(packet(cdb, BUF, 20));
	assert_int_equal(b[1], 18);
	assert_int_equal(b[6], 1);
	assert_int_equal(b[14], 0xaa);
	assert_int_equal(b[18] << 8 | b[19], CD_SIZE / 2048);
	/* MODE SENSE(10) page 2A, GET EVENT STATUS, GET CONFIGURATION. */
	memset(cdb, 0, 12);
	cdb[0] = 0x5a;
	cdb[2] = 0x2a;
	cdb[8] = 28;
	assert_true(packet(cdb, BUF, 28));
	assert_int_equal(b[8], 0x2a);
	memset(cdb, 0, 12);
	cdb[0] = 0x4a;
	cdb[1] = 1;
	cdb[4] = 0x10;
	cdb[8] = 8;
	assert_true(packet(cdb, BUF, 8));
	assert_int_equal(b[5], 2);
	memset(cdb, 0, 12);
	cdb[0] = 0x46;
	cdb[8] = 28;
	assert_true(packet(cdb, BUF, 28));
	assert_int_equal(b[6] << 8 | b[7], 0x08);
}

static void test_atapi_sense(void **state)
{
	uint8_t cdb[12] = { 0xff };
	uint8_t *b = ram(BUF);

	assert_false(packet(cdb, 0, 0)); /* unknown opcode: CHECK CONDITION */
	expect_error(1, IS_TFES, 0x50);  /* sense key 5 in the error register */
	memset(cdb, 0, 12);
	cdb[0] = 0x03; /* REQUEST SENSE */
	cdb[4] = 18;
	assert_true(packet(cdb, BUF, 18));
	assert_int_equal(b[0], 0x70);
	assert_int_equal(b[2], 5);
	assert_int_equal(b[12], 0x20);
	assert_true(packet(cdb, BUF, 18));
	assert_int_equal(b[2], 0); /* consumed */
	/* READ(10) past the end: ILLEGAL REQUEST, LBA out of range. */
	memset(cdb, 0, 12);
	cdb[0] = 0x28;
	cdb[4] = 0x10;
	cdb[8] = 1;
	assert_false(packet(cdb, BUF, 2048));
	expect_error(1, IS_TFES, 0x50);
	memset(cdb, 0, 12);
	cdb[0] = 0x03;
	cdb[4] = 18;
	assert_true(packet(cdb, BUF, 18));
	assert_int_equal(b[12], 0x21);
}

static void test_cd_read_only(void **state)
{
	struct prd_ent p = { BUF, 2048 };
	uint8_t cdb[12] = { 0x2a, 0, 0, 0, 0, 0, 0, 0, 1 };
	uint8_t *b = ram(BUF);
	int fd;

	assert_false(ata(1, 0xca, 0, 4, 0, true, &p, 1)); /* WRITE DMA */
	expect_error(1, IS_TFES, 0x04);
	assert_false(ata(1, 0x61, 0, 8, 4, true, &p, 1));
	expect_error(1, IS_TFES, 0x04);
	assert_false(packet(cdb, BUF, 2048)); /* WRITE(10): DATA PROTECT */
	expect_error(1, IS_TFES, 0x70);
	memset(cdb, 0, 12);
	cdb[0] = 0x03;
	cdb[4] = 18;
	assert_true(packet(cdb, BUF, 18));
	assert_int_equal(b[2], 7);
	/* The image is untouched. */
	fd = open(cd_path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, b, 2048, 0), 2048);
	close(fd);
	assert_true(ram_is_pattern(BUF, 0, 2048));
}

static void test_pio_write(void **state)
{
	struct prd_ent p[2] = { { BUF, 1024 }, { BUF + 0x8000, 512 } };
	uint8_t got[1536];
	uint8_t *ps = ram(FB(0) + 0x20);

	memset(ram(BUF), 0x5a, 1024);
	memset(ram(BUF + 0x8000), 0xa5, 512);
	assert_true(ata(0, 0x34, 300, 3, 0, true, p, 2)); /* WRITE SECTORS EXT */
	assert_int_equal(ps[0], 0x5f);
	assert_int_equal(ps[1] & 0x20, 0); /* D: host to device */
	image_read(300 * 512, got, sizeof(got));
	assert_memory_equal(got, ram(BUF), 1024);
	assert_memory_equal(got + 1024, ram(BUF + 0x8000), 512);
	assert_true(ata(0, 0xc4, 300, 2, 0, false, p, 1)); /* READ MULTIPLE */
	assert_int_equal(ps[1] & 0x20, 0x20);
}

static void test_is_rearmed(void **state)
{
	struct prd_ent p = { BUF, 512 };

	assert_true(ata(0, 0xec, 0, 0, 0, false, &p, 1));
	assert_true(hba_rd(HIS) & 1);
	msi_clear();
	/* The driver clears the HBA bit before the port's: it comes back, with an MSI. */
	hba_wr(HIS, 1);
	assert_true(hba_rd(HIS) & 1);
	assert_int_equal(msi_count(), 1);
	pwr(0, P_IS, ~0u);
	hba_wr(HIS, 1);
	assert_int_equal(hba_rd(HIS) & 1, 0);
	assert_int_equal(msi_count(), 1);
	/* IE masks: an event without its enable bit raises nothing. */
	pwr(0, P_IE, 0);
	assert_true(ata(0, 0xec, 0, 0, 0, false, &p, 1));
	assert_int_equal(hba_rd(HIS) & 1, 0);
	assert_int_equal(msi_count(), 1);
	pwr(0, P_IE, IS_DHRS); /* enabling a pending event raises it */
	assert_true(hba_rd(HIS) & 1);
	assert_int_equal(msi_count(), 2);
}

static void test_ncq_error_among_successes(void **state)
{
	/* Tags 0-2 read fine, tag 3 runs past the end: SACT keeps only tag 3, TFD ERR. */
	for (unsigned t = 0; t < 4; t++) {
		struct prd_ent p = { BUF + t * 0x10000, 4096 };
		uint8_t *ct = build(0, t, false, NULL, &p, 1);

		put_cfis(ct, 0x60, t == 3 ? IMG_SIZE / 512 - 1 : t * 8, (uint16_t)(t << 3), 8);
	}
	pwr(0, P_SACT, 0xf);
	pwr(0, P_CI, 0xf);
	assert_true(WAIT_FOR(prd(0, P_SACT) == 0x8));
	assert_true(prd(0, P_IS) & IS_TFES);
	assert_true(prd(0, P_TFD) & 1);
	for (unsigned t = 0; t < 3; t++)
		assert_true(ram_is_pattern(BUF + t * 0x10000, t * 8 * 512, 4096));
	expect_error(0, IS_TFES, 0x10);
	assert_int_equal(prd(0, P_SACT), 0);
}

/* ---- A hostile guest ---------------------------------------------------------------------- */

static void test_bad_prdt(void **state)
{
	struct prd_ent p[2] = { { BUF, 4096 }, { RAM_SIZE - 512, 4096 } };
	uint8_t *h = ram(CLB(0)), *ct;
	uint32_t dw0;

	/* PRDTL = 65535: beyond what the HBA accepts. */
	ct = build(0, 0, false, NULL, p, 1);
	put_cfis(ct, 0x25, 0, 8, 0);
	dw0 = 5 | 0xffffu << 16;
	memcpy(h, &dw0, 4);
	assert_false(run(0, 0));
	expect_error(0, IS_TFES, 0x04);
	/* Second PRD runs off the end of RAM. */
	assert_false(ata(0, 0x25, 0, 16, 0, false, p, 2));
	expect_error(0, IS_TFES, 0x04);
	/* A PRD entirely outside RAM. */
	p[0].addr = 1ull << 40;
	assert_false(ata(0, 0x25, 0, 8, 0, false, p, 1));
	expect_error(0, IS_TFES, 0x04);
	/* DBC = 0 (one byte: odd), and a PRD larger than the transfer (fine). */
	p[0] = (struct prd_ent){ BUF, 1 };
	assert_false(ata(0, 0x25, 0, 1, 0, false, p, 1));
	expect_error(0, IS_TFES, 0x04);
	p[0] = (struct prd_ent){ BUF, 4u << 20 };
	assert_true(ata(0, 0x25, 0, 1, 0, false, p, 1));
	assert_int_equal(prdbc(0, 0), 512);
	/* Zero PRDs for a data command. */
	assert_false(ata(0, 0x25, 0, 1, 0, false, p, 0));
	expect_error(0, IS_TFES, 0x04);
}

static void test_bad_tables(void **state)
{
	struct prd_ent p = { BUF, 512 };
	uint8_t *h = ram(CLB(0)), *ct;
	uint32_t v;

	/* Command table outside RAM. */
	build(0, 0, false, NULL, &p, 1);
	v = 0xfff00000u;
	memcpy(h + 8, &v, 4);
	assert_false(run(0, 0));
	expect_error(0, IS_HBFS, 0);
	/* The table fits at the end of RAM but its PRDT does not: the command fails. */
	build(0, 0, false, NULL, &p, 1);
	v = RAM_SIZE - 0x80;
	memcpy(h + 8, &v, 4);
	put_cfis(ram(v), 0xec, 0, 0, 0);
	assert_false(run(0, 0));
	expect_error(0, IS_TFES, 0x04);
	/* Command list outside RAM. */
	pwr(0, P_CMD, 0);
	pwr(0, P_CLBU, 0x10);
	pwr(0, P_CMD, CMD_FRE | CMD_ST);
	assert_false(run(0, 0));
	expect_error(0, IS_HBFS, 0);
	/* FIS area outside RAM: the command still runs, nothing is written. */
	pwr(0, P_CMD, 0);
	pwr(0, P_FBU, 0x10);
	pwr(0, P_CMD, CMD_FRE | CMD_ST);
	ct = build(0, 0, false, NULL, &p, 1);
	put_cfis(ct, 0xec, 0, 0, 0);
	assert_true(run(0, 0));
	port_restart(0);
	/* Wrong FIS type; no C bit. */
	ct = build(0, 0, false, NULL, &p, 1);
	put_cfis(ct, 0xec, 0, 0, 0);
	ct[0] = 0x34;
	assert_false(run(0, 0));
	expect_error(0, IS_TFES, 0x04);
	ct = build(0, 0, false, NULL, &p, 1);
	put_cfis(ct, 0xec, 0, 0, 0);
	ct[1] = 0;
	assert_false(run(0, 0));
	expect_error(0, IS_TFES, 0x04);
	/* After all that the port still works. */
	assert_true(ata(0, 0xec, 0, 0, 0, false, &p, 1));
}

static void test_lba_out_of_range(void **state)
{
	struct prd_ent p = { BUF, 0x10000 };

	assert_false(ata(0, 0x25, IMG_SIZE / 512, 1, 0, false, &p, 1));
	expect_error(0, IS_TFES, 0x10);
	assert_false(ata(0, 0x35, IMG_SIZE / 512 - 1, 2, 0, true, &p, 1));
	expect_error(0, IS_TFES, 0x10);
	assert_false(ata(0, 0x25, ~0ull >> 16, 0, 0, false, &p, 1)); /* count 0 = 65536 */
	expect_error(0, IS_TFES, 0x10);
	assert_false(ata(0, 0x40, 0x0ffffff, 1, 0, false, NULL, 0));
	expect_error(0, IS_TFES, 0x10);
	assert_true(ata(0, 0x25, IMG_SIZE / 512 - 1, 1, 0, false, &p, 1));
	assert_true(ram_is_pattern(BUF, IMG_SIZE - 512, 512));
}

static void test_stop_with_io_in_flight(void **state)
{
	/* Queue several reads and stop the port at once: late results are dropped. */
	for (unsigned t = 0; t < 16; t++) {
		struct prd_ent p = { BUF + t * 0x10000, 0x10000 };
		uint8_t *ct = build(0, t, false, NULL, &p, 1);

		put_cfis(ct, 0x60, t * 128, (uint16_t)(t << 3), 128);
	}
	pwr(0, P_SACT, 0xffff);
	pwr(0, P_CI, 0xffff);
	pwr(0, P_CMD, CMD_FRE);
	assert_int_equal(prd(0, P_SACT), 0);
	assert_int_equal(prd(0, P_CI), 0);
	sleep_ms(50);
	port_restart(0);
	test_identify(state);
}

static void test_intx(void **state)
{
	unsigned off = cfg_rd(SLOT, PCIR_CAP_PTR, 1);
	struct prd_ent p = { BUF, 512 };

	while (cfg_rd(SLOT, off, 1) != PCIY_MSI)
		off = cfg_rd(SLOT, off + 1, 1);
	cfg_wr(SLOT, off + 2, 2, cfg_rd(SLOT, off + 2, 2) & ~1u); /* MSI off */
	assert_true(ata(0, 0xec, 0, 0, 0, false, &p, 1));
	assert_true(pi->intx.asserted);
	pwr(0, P_IS, ~0u);
	hba_wr(HIS, ~0u);
	assert_false(pi->intx.asserted);
	/* GHC.IE off: no interrupt. */
	hba_wr(GHC, 1u << 31);
	assert_true(ata(0, 0xec, 0, 0, 0, false, &p, 1));
	assert_false(pi->intx.asserted);
	hba_wr(GHC, 1u << 31 | 2);
	assert_true(pi->intx.asserted);
	pwr(0, P_IS, ~0u);
	hba_wr(HIS, ~0u);
	assert_false(pi->intx.asserted);
}

#define T(f) cmocka_unit_test_setup(f, setup)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_pci_and_hba),
		T(test_comreset),
		T(test_identify),
		T(test_doorbell_runs_command),
		T(test_read_write_dma),
		T(test_ncq),
		T(test_ncq_error_log),
		T(test_ncq_error_among_successes),
		T(test_pio_write),
		T(test_is_rearmed),
		T(test_flush_and_misc),
		T(test_trim),
		T(test_atapi),
		T(test_atapi_sense),
		T(test_cd_read_only),
		T(test_bad_prdt),
		T(test_bad_tables),
		T(test_lba_out_of_range),
		T(test_stop_with_io_in_flight),
		T(test_intx),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
