/*
 * ATA commands of an AHCI port (ATA8-ACS / ACS-3): the disk's reads and
 * writes (DMA, PIO, NCQ), FLUSH, DATA SET MANAGEMENT (TRIM), IDENTIFY, READ
 * LOG EXT, and the power and feature commands a driver expects to succeed.
 * Dispatch is a table by opcode; each entry says whether a disk, an ATAPI
 * device or both accept it. Anything else is aborted (ABRT).
 */
#include <stdlib.h>
#include <string.h>

#include "pci/ahci.h"

#define DSM_MAX_BLOCKS 8u /* 512-byte blocks of TRIM ranges per command */
#define LOG_MAX_PAGES 16u

enum { ON_DISK = 1, ON_CD = 2 };

/* ---- Helpers ------------------------------------------------------------------- */

uint64_t ahci_ata_lba(const uint8_t *cfis, bool lba48)
{
	uint64_t lba = cfis[4] | (uint64_t)cfis[5] << 8 | (uint64_t)cfis[6] << 16;

	if (lba48)
		return lba | (uint64_t)cfis[8] << 24 | (uint64_t)cfis[9] << 32 |
		       (uint64_t)cfis[10] << 40;
	return lba | (uint64_t)(cfis[7] & 0xf) << 24;
}

static uint64_t nsectors(const struct ahci_port *p)
{
	return blockif_size(p->bc) / blockif_sectsz(p->bc);
}

static bool range_ok(const struct ahci_port *p, uint64_t lba, uint64_t count)
{
	uint64_t n = nsectors(p);

	return lba <= n && count <= n - lba;
}

/* ATA strings: two characters a word, the first in the high byte, space-padded. */
void ahci_ident_string(uint16_t *words, unsigned first, const char *s, unsigned len)
{
	size_t sl = strlen(s);

	for (unsigned i = 0; i < len; i += 2) {
		uint8_t a = i < sl ? (uint8_t)s[i] : ' ', b = i + 1 < sl ? (uint8_t)s[i + 1] : ' ';

		words[first + i / 2] = (uint16_t)(a << 8 | b);
	}
}

/* Word 255: signature 0xA5 and a checksum making all 512 bytes sum to zero. */
static void ident_checksum(uint16_t id[256])
{
	const uint8_t *b = (const uint8_t *)id;
	uint8_t sum = 0xa5;

	for (unsigned i = 0; i < 510; i++)
		sum = (uint8_t)(sum + b[i]);
	id[255] = (uint16_t)((uint8_t)-sum << 8 | 0xa5);
}

/* ---- IDENTIFY ------------------------------------------------------------------- */

static void identify_device(const struct ahci_port *p, uint16_t id[256])
{
	uint64_t n = nsectors(p);
	uint32_t ss = blockif_sectsz(p->bc), pss = blockif_psectsz(p->bc);
	uint64_t chs = n < 16383ull * 16 * 63 ? n : 16383ull * 16 * 63;
	uint32_t lba28 = n < 0x0fffffff ? (uint32_t)n : 0x0fffffff;

	memset(id, 0, 512);
	id[0] = 0x0040;                      /* fixed device */
	id[1] = (uint16_t)(chs / (16 * 63));  /* cylinders, heads, sectors */
	id[3] = 16;
	id[6] = 63;
	ahci_ident_string(id, 10, p->ser, 20);
	ahci_ident_string(id, 23, p->rev, 8);
	ahci_ident_string(id, 27, p->model, 40);
	id[47] = 0x8000 | 128;               /* READ/WRITE MULTIPLE: 128 sectors */
	id[49] = 0x0f00;                     /* DMA, LBA, IORDY */
	id[50] = 0x4000;
	id[53] = 0x0006;                     /* words 64-70 and 88 valid */
	id[54] = id[1];
	id[55] = 16;
	id[56] = 63;
	id[57] = (uint16_t)chs;
	id[58] = (uint16_t)(chs >> 16);
	id[59] = 0x0100 | 128;
	id[60] = (uint16_t)lba28;
	id[61] = (uint16_t)(lba28 >> 16);
	id[63] = 0x0007;                     /* multiword DMA 0-2 */
	id[64] = 0x0003;                     /* PIO 3-4 */
	id[65] = id[66] = id[67] = id[68] = 120;
	id[75] = AHCI_MAX_SLOTS - 1;         /* NCQ queue depth - 1 */
	id[76] = 0x010e;                     /* NCQ; SATA Gen1-3 */
	id[80] = 0x01f0;                     /* ATA/ATAPI-4 .. ATA8-ACS */
	id[82] = 0x0060;                     /* write cache, look-ahead */
	id[83] = 0x7400;                     /* FLUSH CACHE (EXT), LBA48 */
	id[84] = 0x4020;                     /* general purpose logging */
	id[85] = 0x0060;                     /* write cache, look-ahead enabled */
	id[86] = 0x3400;
	id[87] = 0x4020;
	id[88] = 0x407f;                     /* UDMA 0-6, 6 selected */
	id[100] = (uint16_t)n;
	id[101] = (uint16_t)(n >> 16);
	id[102] = (uint16_t)(n >> 32);
	id[103] = (uint16_t)(n >> 48);
	id[106] = 0x4000;
	if (pss > ss)
		id[106] |= 0x2000 | (uint16_t)(__builtin_ctz(pss) - __builtin_ctz(ss));
	if (ss > 512) {
		id[106] |= 0x1000;
		id[117] = (uint16_t)(ss / 2);
		id[118] = (uint16_t)(ss / 2 >> 16);
	}
	if (blockif_candelete(p->bc) && !blockif_is_ro(p->bc)) {
		id[69] = 0x4020;             /* deterministic, zeroed after TRIM */
		id[105] = DSM_MAX_BLOCKS;
		id[169] = 0x0001;            /* DSM TRIM */
	}
	id[217] = (uint16_t)p->nmrr;
	ident_checksum(id);
}

void ahci_identify_packet(const struct ahci_port *p, uint16_t id[256])
{
	memset(id, 0, 512);
	id[0] = 0x85c0;  /* ATAPI, CD-ROM, removable, DRQ in 50 us, 12-byte packets */
	ahci_ident_string(id, 10, p->ser, 20);
	ahci_ident_string(id, 23, p->rev, 8);
	ahci_ident_string(id, 27, p->model, 40);
	id[49] = 0x0f00;
	id[50] = 0x4000;
	id[53] = 0x0006;
	id[63] = 0x0007;
	id[64] = 0x0003;
	id[65] = id[66] = id[67] = id[68] = 120;
	id[76] = 0x000e;
	id[80] = 0x01f0;
	id[82] = 0x0210;  /* PACKET, DEVICE RESET */
	id[83] = 0x4000;
	id[84] = 0x4000;
	id[85] = 0x0210;
	id[87] = 0x4000;
	id[88] = 0x407f;
	ident_checksum(id);
}

static enum ahci_res cmd_identify(struct ahci_cmd *c)
{
	uint16_t id[256];

	identify_device(c->p, id);
	c->pio = true;
	if (!ahci_copy_to_guest(c, id, sizeof(id)))
		return ahci_cmd_error(c, ATA_E_ABRT);
	return ahci_cmd_ok(c);
}

static enum ahci_res cmd_identify_packet(struct ahci_cmd *c)
{
	uint16_t id[256];

	ahci_identify_packet(c->p, id);
	c->pio = true;
	if (!ahci_copy_to_guest(c, id, sizeof(id)))
		return ahci_cmd_error(c, ATA_E_ABRT);
	return ahci_cmd_ok(c);
}

/* ---- Reads and writes ---------------------------------------------------------------- */

static enum ahci_res cmd_rw(struct ahci_cmd *c)
{
	struct ahci_port *p = c->p;
	uint8_t op = c->cfis[2];
	bool write, lba48, ncq = op == 0x60 || op == 0x61;
	uint64_t lba, count;
	uint32_t ss = blockif_sectsz(p->bc);
	enum ahci_res r;

	switch (op) {
	case 0x20: case 0xc4: case 0xc8: write = false; lba48 = false; break;
	case 0x24: case 0x29: case 0x25: case 0x60: write = false; lba48 = true; break;
	case 0x30: case 0xc5: case 0xca: write = true; lba48 = false; break;
	default: write = true; lba48 = true; break; /* 0x34 0x39 0x35 0x61 */
	}
	c->pio = op == 0x20 || op == 0x24 || op == 0x29 || op == 0xc4 ||
		 op == 0x30 || op == 0x34 || op == 0x39 || op == 0xc5;
	if (ncq) {
		count = c->cfis[3] | (uint64_t)c->cfis[11] << 8;
		if (count == 0)
			count = 65536;
		c->ncq = true;
		p->sact |= 1u << c->slot;
	} else if (lba48) {
		count = c->cfis[12] | (uint64_t)c->cfis[13] << 8;
		if (count == 0)
			count = 65536;
	} else {
		count = c->cfis[12] ? c->cfis[12] : 256;
	}
	lba = ahci_ata_lba(c->cfis, lba48);
	if (!range_ok(p, lba, count))
		return ahci_cmd_error(c, ATA_E_IDNF | ATA_E_ABRT);
	if (write && blockif_is_ro(p->bc))
		return ahci_cmd_error(c, ATA_E_ABRT);
	if (ahci_prdt_map(c, count * ss) != 0)
		return ahci_cmd_error(c, ATA_E_ABRT);
	c->br.op = write ? BLOCKIF_WRITE : BLOCKIF_READ;
	c->br.offset = lba * ss;
	r = ahci_submit(c);
	if (r == AHCI_SUBMITTED && ncq)
		p->ci &= ~(1u << c->slot); /* the device has the command: BSY released */
	return r;
}

static enum ahci_res cmd_flush(struct ahci_cmd *c)
{
	c->iovcnt = 0;
	c->br.op = BLOCKIF_FLUSH;
	return ahci_submit(c);
}

static enum ahci_res cmd_verify(struct ahci_cmd *c)
{
	bool lba48 = c->cfis[2] == 0x42;
	uint64_t count = lba48 ? (c->cfis[12] | (uint64_t)c->cfis[13] << 8) : c->cfis[12];

	if (count == 0)
		count = lba48 ? 65536 : 256;
	if (!range_ok(c->p, ahci_ata_lba(c->cfis, lba48), count))
		return ahci_cmd_error(c, ATA_E_IDNF | ATA_E_ABRT);
	return ahci_cmd_ok(c);
}

/* ---- DATA SET MANAGEMENT (TRIM) ---------------------------------------------------------- */

/* Submit the next non-empty range; AHCI_DONE when none is left (command completed). */
static enum ahci_res dsm_next(struct ahci_cmd *c)
{
	struct ahci_port *p = c->p;

	while (c->dsm_i < c->dsm_n) {
		uint64_t e;
		uint64_t lba, n;

		memcpy(&e, c->dsm + c->dsm_i * 8, 8);
		lba = e & 0xffffffffffffull;
		n = e >> 48;
		if (n == 0) {
			c->dsm_i++;
			continue;
		}
		if (!range_ok(p, lba, n))
			return ahci_cmd_error(c, ATA_E_IDNF | ATA_E_ABRT);
		c->iovcnt = 0;
		c->br.op = BLOCKIF_DISCARD;
		c->br.offset = lba * blockif_sectsz(p->bc);
		c->br.len = n * blockif_sectsz(p->bc);
		enum ahci_res r = ahci_submit(c);

		if (r == AHCI_SUBMITTED)
			c->dsm_i++;
		return r;
	}
	c->xfer = c->dsm_n * 8;
	return ahci_cmd_ok(c);
}

static enum ahci_res cmd_dsm(struct ahci_cmd *c)
{
	struct ahci_port *p = c->p;
	unsigned blocks = c->cfis[12] | (unsigned)c->cfis[13] << 8;

	if (!(c->cfis[3] & 1) || blocks == 0 || blocks > DSM_MAX_BLOCKS ||
	    !blockif_candelete(p->bc) || blockif_is_ro(p->bc))
		return ahci_cmd_error(c, ATA_E_ABRT);
	if (c->dsm == NULL && (c->dsm = malloc(DSM_MAX_BLOCKS * 512)) == NULL)
		return ahci_cmd_error(c, ATA_E_ABRT);
	if (!ahci_copy_from_guest(c, c->dsm, blocks * 512u))
		return ahci_cmd_error(c, ATA_E_ABRT);
	c->dsm_n = blocks * 64;
	c->dsm_i = 0;
	return dsm_next(c);
}

bool ahci_ata_continue(struct ahci_cmd *c)
{
	enum ahci_res r;

	if (c->cfis[2] != 0x06 || c->dsm_i >= c->dsm_n)
		return false;
	r = dsm_next(c);
	if (r == AHCI_STALL) /* retried on the next completion */
		c->cont = true;
	return true;
}

/* ---- READ LOG (DMA) EXT ------------------------------------------------------------------- */

static enum ahci_res cmd_read_log(struct ahci_cmd *c)
{
	struct ahci_port *p = c->p;
	uint8_t log = c->cfis[4];
	unsigned page = c->cfis[5] | (unsigned)c->cfis[10] << 8;
	unsigned count = c->cfis[12] | (unsigned)c->cfis[13] << 8;
	uint8_t buf[LOG_MAX_PAGES * 512];
	size_t len = (size_t)count * 512;

	c->pio = c->cfis[2] == 0x2f;
	if (count == 0 || count > LOG_MAX_PAGES || page != 0)
		return ahci_cmd_error(c, ATA_E_ABRT);
	memset(buf, 0, len);
	switch (log) {
	case 0x00: /* log directory: version 1, one page of NCQ error log */
		buf[0] = 1;
		buf[0x10 * 2] = 1;
		break;
	case 0x10: { /* NCQ command error */
		uint8_t sum = 0;

		if (p->err_tag >= 0) {
			buf[0] = (uint8_t)p->err_tag;
			buf[2] = p->err_status;
			buf[3] = p->err_error;
		} else {
			buf[0] = 0x80; /* NQ: the last error was not a queued command */
		}
		for (unsigned i = 0; i < 511; i++)
			sum = (uint8_t)(sum + buf[i]);
		buf[511] = (uint8_t)-sum;
		p->err_tag = -1;
		break;
	}
	default:
		return ahci_cmd_error(c, ATA_E_ABRT);
	}
	if (!ahci_copy_to_guest(c, buf, len))
		return ahci_cmd_error(c, ATA_E_ABRT);
	return ahci_cmd_ok(c);
}

/* ---- Accepted without effect ----------------------------------------------------------------- */

static enum ahci_res cmd_nop_ok(struct ahci_cmd *c)
{
	return ahci_cmd_ok(c);
}

static enum ahci_res cmd_check_power(struct ahci_cmd *c)
{
	c->cfis[12] = 0xff; /* active or idle: returned in the count register */
	return ahci_cmd_ok(c);
}

static enum ahci_res cmd_set_features(struct ahci_cmd *c)
{
	switch (c->cfis[3]) {
	case 0x02: case 0x82: /* write cache on/off */
	case 0x03:            /* transfer mode */
	case 0x05: case 0x85: /* APM */
	case 0x10: case 0x90: /* SATA features */
	case 0x55: case 0xaa: /* read look-ahead */
	case 0x66: case 0xcc: /* reverting to power-on defaults */
		return ahci_cmd_ok(c);
	default:
		return ahci_cmd_error(c, ATA_E_ABRT);
	}
}

static enum ahci_res cmd_packet(struct ahci_cmd *c)
{
	return ahci_atapi_packet(c);
}

/* ---- Dispatch ---------------------------------------------------------------------------------- */

static const struct {
	uint8_t op;
	uint8_t on;
	enum ahci_res (*fn)(struct ahci_cmd *c);
} ata_cmds[] = {
	{ 0x06, ON_DISK, cmd_dsm },
	{ 0x08, ON_CD, cmd_nop_ok },            /* DEVICE RESET */
	{ 0x10, ON_DISK, cmd_nop_ok },          /* RECALIBRATE */
	{ 0x20, ON_DISK, cmd_rw },              /* READ SECTORS */
	{ 0x24, ON_DISK, cmd_rw },              /* READ SECTORS EXT */
	{ 0x25, ON_DISK, cmd_rw },              /* READ DMA EXT */
	{ 0x29, ON_DISK, cmd_rw },              /* READ MULTIPLE EXT */
	{ 0x2f, ON_DISK, cmd_read_log },        /* READ LOG EXT */
	{ 0x30, ON_DISK, cmd_rw },              /* WRITE SECTORS */
	{ 0x34, ON_DISK, cmd_rw },              /* WRITE SECTORS EXT */
	{ 0x35, ON_DISK, cmd_rw },              /* WRITE DMA EXT */
	{ 0x39, ON_DISK, cmd_rw },              /* WRITE MULTIPLE EXT */
	{ 0x40, ON_DISK, cmd_verify },          /* READ VERIFY SECTORS */
	{ 0x42, ON_DISK, cmd_verify },          /* READ VERIFY SECTORS EXT */
	{ 0x47, ON_DISK, cmd_read_log },        /* READ LOG DMA EXT */
	{ 0x60, ON_DISK, cmd_rw },              /* READ FPDMA QUEUED */
	{ 0x61, ON_DISK, cmd_rw },              /* WRITE FPDMA QUEUED */
	{ 0x91, ON_DISK, cmd_nop_ok },          /* INITIALIZE DEVICE PARAMETERS */
	{ 0xa0, ON_CD, cmd_packet },            /* PACKET */
	{ 0xa1, ON_CD, cmd_identify_packet },   /* IDENTIFY PACKET DEVICE */
	{ 0xc4, ON_DISK, cmd_rw },              /* READ MULTIPLE */
	{ 0xc5, ON_DISK, cmd_rw },              /* WRITE MULTIPLE */
	{ 0xc6, ON_DISK, cmd_nop_ok },          /* SET MULTIPLE MODE */
	{ 0xc8, ON_DISK, cmd_rw },              /* READ DMA */
	{ 0xca, ON_DISK, cmd_rw },              /* WRITE DMA */
	{ 0xe0, ON_DISK | ON_CD, cmd_nop_ok },  /* STANDBY IMMEDIATE */
	{ 0xe1, ON_DISK | ON_CD, cmd_nop_ok },  /* IDLE IMMEDIATE */
	{ 0xe2, ON_DISK | ON_CD, cmd_nop_ok },  /* STANDBY */
	{ 0xe3, ON_DISK | ON_CD, cmd_nop_ok },  /* IDLE */
	{ 0xe5, ON_DISK | ON_CD, cmd_check_power }, /* CHECK POWER MODE */
	{ 0xe7, ON_DISK, cmd_flush },           /* FLUSH CACHE */
	{ 0xea, ON_DISK, cmd_flush },           /* FLUSH CACHE EXT */
	{ 0xec, ON_DISK, cmd_identify },        /* IDENTIFY DEVICE */
	{ 0xef, ON_DISK | ON_CD, cmd_set_features },
};

enum ahci_res ahci_ata_cmd(struct ahci_cmd *c)
{
	uint8_t on = c->p->atapi ? ON_CD : ON_DISK;

	for (size_t i = 0; i < sizeof(ata_cmds) / sizeof(ata_cmds[0]); i++)
		if (ata_cmds[i].op == c->cfis[2])
			return ata_cmds[i].on & on ? ata_cmds[i].fn(c) :
			       ahci_cmd_error(c, ATA_E_ABRT);
	/* SECURITY *, SMART, NOP, unknown: command aborted. */
	return ahci_cmd_error(c, ATA_E_ABRT);
}
