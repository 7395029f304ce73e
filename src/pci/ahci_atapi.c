/*
 * ATAPI CD-ROM behind an AHCI port: the PACKET command's SCSI/MMC commands
 * (SPC-3, MMC-6) that Linux's sr/cdrom, firmware and boot loaders use on a
 * read-only disc of 2048-byte sectors, one data track. A table by opcode;
 * anything else fails with CHECK CONDITION, sense ILLEGAL REQUEST / INVALID
 * COMMAND OPERATION CODE, which REQUEST SENSE then returns.
 */
#include <string.h>

#include "pci/ahci.h"

#define CD_SECTOR 2048u

#define SK_NONE 0x00
#define SK_MEDIUM_ERROR 0x03
#define SK_ILLEGAL_REQUEST 0x05
#define SK_DATA_PROTECT 0x07
#define ASC_INVALID_OPCODE 0x20
#define ASC_LBA_OUT_OF_RANGE 0x21
#define ASC_INVALID_FIELD 0x24
#define ASC_WRITE_PROTECTED 0x27
#define ASC_READ_ERROR 0x11

static uint16_t be16(const uint8_t *b)
{
	return (uint16_t)(b[0] << 8 | b[1]);
}

static uint32_t be32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static void put16(uint8_t *b, unsigned v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}

static void put32(uint8_t *b, uint32_t v)
{
	put16(b, v >> 16);
	put16(b + 2, v & 0xffff);
}

static uint32_t capacity(const struct ahci_port *p)
{
	uint64_t n = blockif_size(p->bc) / CD_SECTOR;

	return n > 0xffffffffu ? 0xffffffffu : (uint32_t)n;
}

/* LBA to MSF (the first sector is 00:02:00). */
static void put_msf(uint8_t *b, uint32_t lba)
{
	lba += 150;
	b[0] = 0;
	b[1] = (uint8_t)(lba / (60 * 75));
	b[2] = (uint8_t)(lba / 75 % 60);
	b[3] = (uint8_t)(lba % 75);
}

/* ---- Status ------------------------------------------------------------------------ */

static enum ahci_res check_condition(struct ahci_cmd *c, uint8_t key, uint8_t asc)
{
	struct ahci_port *p = c->p;

	p->sense_key = key;
	p->asc = asc;
	p->ascq = 0;
	c->cfis[12] = 3; /* interrupt reason: I/O, C/D */
	return ahci_cmd_error(c, (uint8_t)(key << 4));
}

static enum ahci_res good(struct ahci_cmd *c)
{
	struct ahci_port *p = c->p;

	p->sense_key = SK_NONE;
	p->asc = p->ascq = 0;
	c->cfis[12] = 3;
	return ahci_cmd_ok(c);
}

/* Send min(len, alloc) bytes of buf to the host, then GOOD status. */
static enum ahci_res reply(struct ahci_cmd *c, const void *buf, size_t len, size_t alloc)
{
	size_t n = len < alloc ? len : alloc;

	if (n && !ahci_copy_to_guest(c, buf, n)) /* a PRDT that cannot hold it */
		return ahci_cmd_error(c, ATA_E_ABRT);
	return good(c);
}

void ahci_atapi_io_error(struct ahci_cmd *c)
{
	c->p->sense_key = SK_MEDIUM_ERROR;
	c->p->asc = ASC_READ_ERROR;
	c->p->ascq = 0;
}

/* ---- Commands ---------------------------------------------------------------------- */

static enum ahci_res scsi_ok(struct ahci_cmd *c, const uint8_t *cdb)
{
	return good(c);
}

static enum ahci_res scsi_request_sense(struct ahci_cmd *c, const uint8_t *cdb)
{
	struct ahci_port *p = c->p;
	uint8_t buf[18] = { 0x70 };

	buf[2] = p->sense_key;
	buf[7] = 10;
	buf[12] = p->asc;
	buf[13] = p->ascq;
	return reply(c, buf, sizeof(buf), cdb[4]);
}

static enum ahci_res scsi_inquiry(struct ahci_cmd *c, const uint8_t *cdb)
{
	struct ahci_port *p = c->p;
	uint8_t buf[36] = { 0x05, 0x80, 0x05, 0x02, 31 }; /* CD-ROM, removable, SPC-3 */
	if (cdb[1] & 1) /* EVPD: no vital product data pages */
		return check_condition(c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
	memcpy(buf + 8, "KHYVE   ", 8);
	memset(buf + 16, ' ', 20);
	memcpy(buf + 16, p->model, strnlen(p->model, 16));
	memcpy(buf + 32, p->rev, strnlen(p->rev, 4));
	return reply(c, buf, sizeof(buf), be16(cdb + 3));
}

static enum ahci_res scsi_read_capacity(struct ahci_cmd *c, const uint8_t *cdb)
{
	uint8_t buf[8];
	uint32_t n = capacity(c->p);

	put32(buf, n ? n - 1 : 0);
	put32(buf + 4, CD_SECTOR);
	return reply(c, buf, sizeof(buf), sizeof(buf));
}

static enum ahci_res scsi_read(struct ahci_cmd *c, const uint8_t *cdb)
{
	struct ahci_port *p = c->p;
	uint32_t lba = be32(cdb + 2);
	uint32_t n = cdb[0] == 0x28 ? be16(cdb + 7) : be32(cdb + 6);

	if ((uint64_t)lba + n > capacity(p))
		return check_condition(c, SK_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
	if (n == 0)
		return good(c);
	if (ahci_prdt_map(c, (uint64_t)n * CD_SECTOR) != 0)
		return ahci_cmd_error(c, ATA_E_ABRT);
	c->br.op = BLOCKIF_READ;
	c->br.offset = (uint64_t)lba * CD_SECTOR;
	c->cfis[12] = 3;
	return ahci_submit(c);
}

static enum ahci_res scsi_write(struct ahci_cmd *c, const uint8_t *cdb)
{
	return check_condition(c, SK_DATA_PROTECT, ASC_WRITE_PROTECTED);
}

static enum ahci_res scsi_read_toc(struct ahci_cmd *c, const uint8_t *cdb)
{
	uint8_t buf[4 + 11 * 4];
	bool msf = cdb[1] & 2;
	unsigned format = cdb[2] & 0xf, len;
	uint32_t end = capacity(c->p);

	if (format == 0 && cdb[9] >> 6) /* the old place of the format field */
		format = cdb[9] >> 6;
	memset(buf, 0, sizeof(buf));
	buf[2] = buf[3] = 1; /* first / last track or session */
	switch (format) {
	case 0: /* TOC: track 1 and the lead-out */
		if (cdb[6] > 1 && cdb[6] != 0xaa)
			return check_condition(c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
		len = 4;
		if (cdb[6] <= 1) {
			buf[len + 1] = 0x14; /* ADR 1, data track */
			buf[len + 2] = 1;
			if (msf)
				put_msf(buf + len + 4, 0);
			len += 8;
		}
		buf[len + 1] = 0x14;
		buf[len + 2] = 0xaa;
		if (msf)
			put_msf(buf + len + 4, end);
		else
			put32(buf + len + 4, end);
		len += 8;
		break;
	case 1: /* session information: one session starting at track 1 */
		buf[5] = 0x14;
		buf[6] = 1;
		if (msf)
			put_msf(buf + 8, 0);
		len = 12;
		break;
	case 2: { /* full TOC: A0, A1, A2 and track 1, in MSF */
		static const uint8_t points[4] = { 0xa0, 0xa1, 0xa2, 0x01 };

		len = 4;
		for (unsigned i = 0; i < 4; i++, len += 11) {
			uint8_t *d = buf + len;

			d[0] = 1;            /* session */
			d[1] = 0x14;
			d[3] = points[i];
			if (points[i] == 0xa0) {
				d[8] = 1;    /* first track */
			} else if (points[i] == 0xa1) {
				d[8] = 1;    /* last track */
			} else {
				uint8_t m[4];

				put_msf(m, points[i] == 0xa2 ? end : 0);
				memcpy(d + 8, m + 1, 3);
			}
		}
		break;
	}
	default:
		return check_condition(c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
	}
	put16(buf, len - 2);
	return reply(c, buf, len, be16(cdb + 7));
}

static enum ahci_res scsi_get_configuration(struct ahci_cmd *c, const uint8_t *cdb)
{
	uint8_t buf[8 + 8 + 12];
	/* A DVD-sized image is a DVD-ROM; otherwise a CD-ROM. */
	unsigned profile = (uint64_t)capacity(c->p) * CD_SECTOR > 900ull << 20 ? 0x10 : 0x08;

	memset(buf, 0, sizeof(buf));
	put16(buf + 6, profile);
	/* Feature 0: profile list, one current profile. */
	buf[10] = 0x03;
	buf[11] = 4;
	put16(buf + 12, profile);
	buf[14] = 1;
	/* Feature 1: core, ATAPI interface. */
	put16(buf + 16, 1);
	buf[18] = 0x0b;
	buf[19] = 8;
	put32(buf + 20, 2);
	put32(buf, sizeof(buf) - 4);
	return reply(c, buf, sizeof(buf), be16(cdb + 7));
}

static enum ahci_res scsi_mode_sense(struct ahci_cmd *c, const uint8_t *cdb)
{
	uint8_t buf[8 + 20];
	unsigned page = cdb[2] & 0x3f;

	if ((cdb[2] >> 6) == 3) /* saved values */
		return check_condition(c, SK_ILLEGAL_REQUEST, 0x39);
	if (page != 0x2a && page != 0x3f)
		return check_condition(c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
	memset(buf, 0, sizeof(buf));
	put16(buf, sizeof(buf) - 2);
	/* CD/DVD capabilities and mechanical status page. */
	buf[8] = 0x2a;
	buf[9] = 18;
	buf[10] = 0x08 | (capacity(c->p) * (uint64_t)CD_SECTOR > 900ull << 20 ? 0x08 : 0);
	buf[12] = 0x70;             /* mode 2 forms, multi-session */
	buf[14] = 0x29 | (c->p->prevent ? 0x02 : 0); /* lock, eject, tray */
	put16(buf + 16, 706);       /* max read speed (KB/s) */
	put16(buf + 22, 706);       /* current read speed */
	return reply(c, buf, sizeof(buf), be16(cdb + 7));
}

static enum ahci_res scsi_event_status(struct ahci_cmd *c, const uint8_t *cdb)
{
	uint8_t buf[8] = { 0 };

	if (!(cdb[1] & 1)) /* only polled operation */
		return check_condition(c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
	buf[3] = 0x10;     /* supported: media class */
	if (cdb[4] & 0x10) {
		put16(buf, 6);
		buf[2] = 4;    /* media class */
		buf[5] = 0x02; /* media present, tray closed */
		return reply(c, buf, 8, be16(cdb + 7));
	}
	put16(buf, 2);
	buf[2] = 0x80;     /* NEA: no event of the requested classes */
	return reply(c, buf, 4, be16(cdb + 7));
}

static enum ahci_res scsi_prevent(struct ahci_cmd *c, const uint8_t *cdb)
{
	c->p->prevent = cdb[4] & 1;
	return good(c);
}

static enum ahci_res scsi_disc_info(struct ahci_cmd *c, const uint8_t *cdb)
{
	uint8_t buf[34] = { 0 };

	if (cdb[1] & 7) /* only standard disc information */
		return check_condition(c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
	put16(buf, sizeof(buf) - 2);
	buf[2] = 0x0e;  /* complete disc, complete last session */
	buf[3] = 1;     /* first track */
	buf[4] = 1;     /* sessions */
	buf[5] = 1;     /* first track in last session */
	buf[6] = 1;     /* last track in last session */
	buf[7] = 0x20;  /* unrestricted use */
	memset(buf + 16, 0xff, 8); /* no lead-in / lead-out times */
	return reply(c, buf, sizeof(buf), be16(cdb + 7));
}

static enum ahci_res scsi_mechanism_status(struct ahci_cmd *c, const uint8_t *cdb)
{
	uint8_t buf[8] = { 0 };

	return reply(c, buf, sizeof(buf), be16(cdb + 8));
}

static const struct {
	uint8_t op;
	enum ahci_res (*fn)(struct ahci_cmd *c, const uint8_t *cdb);
} scsi_cmds[] = {
	{ 0x00, scsi_ok },                /* TEST UNIT READY */
	{ 0x03, scsi_request_sense },
	{ 0x12, scsi_inquiry },
	{ 0x1b, scsi_ok },                /* START STOP UNIT */
	{ 0x1e, scsi_prevent },           /* PREVENT ALLOW MEDIUM REMOVAL */
	{ 0x25, scsi_read_capacity },
	{ 0x28, scsi_read },              /* READ(10) */
	{ 0x2a, scsi_write },             /* WRITE(10) */
	{ 0x2b, scsi_ok },                /* SEEK(10) */
	{ 0x43, scsi_read_toc },
	{ 0x46, scsi_get_configuration },
	{ 0x4a, scsi_event_status },      /* GET EVENT STATUS NOTIFICATION */
	{ 0x51, scsi_disc_info },         /* READ DISC INFORMATION */
	{ 0x5a, scsi_mode_sense },        /* MODE SENSE(10) */
	{ 0xa8, scsi_read },              /* READ(12) */
	{ 0xaa, scsi_write },             /* WRITE(12) */
	{ 0xbb, scsi_ok },                /* SET CD SPEED */
	{ 0xbd, scsi_mechanism_status },
};

enum ahci_res ahci_atapi_packet(struct ahci_cmd *c)
{
	const uint8_t *cdb = c->acmd;

	c->pio = !(c->cfis[3] & 1); /* features bit 0: DMA */
	for (size_t i = 0; i < sizeof(scsi_cmds) / sizeof(scsi_cmds[0]); i++)
		if (scsi_cmds[i].op == cdb[0])
			return scsi_cmds[i].fn(c, cdb);
	return check_condition(c, SK_ILLEGAL_REQUEST, ASC_INVALID_OPCODE);
}
