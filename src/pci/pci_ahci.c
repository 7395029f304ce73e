/*
 * AHCI 1.3.1 SATA controller: bhyve's "-s N,ahci,hd:disk.img,cd:dvd.iso"
 * (and ahci-hd / ahci-cd), config nodes port.N.{type,path,...}.
 *
 * An ICH8-style function (8086:2821, class 01.06.01), ABAR in BAR 5, one
 * MSI vector with INTx as the fallback. Each configured port holds a SATA
 * disk (hd) or an ATAPI CD-ROM (cd, read-only) on the io_uring block
 * backend.
 *
 * Threads: register accesses come from vCPU threads, and a write to PxCI
 * runs the new commands there and then, as a real HBA would start them:
 * they are read from guest memory, checked, and either answered at once
 * (IDENTIFY, TEST UNIT READY, REQUEST SENSE, INQUIRY...) or sent to the
 * backend; reads the page cache serves complete during that submission and
 * are reaped before the guest runs again. Firmware, which polls for each
 * command in turn, thus sees most of them done at its first look instead
 * of after a round trip through another thread. Other completions arrive
 * on the main thread. One controller lock covers registers, command state
 * and every call into the backend (which is not thread-safe by itself).
 *
 * Everything the guest wrote is checked before use: command list, received
 * FIS area, command tables and each PRD go through vm_map_gpa(); a bad one
 * fails the command (Task File Error or Host Bus Fatal Error) and the port
 * stops until the driver restarts it, as real HBAs do.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block/block_if.h"
#include "core/config.h"
#include "core/mevent.h"
#include "lib/vmmapi.h"
#include "pci/ahci.h"
#include "pci/pci.h"

#define AHCI_BAR 5
#define AHCI_BAR_SIZE (AHCI_PORT_BASE + AHCI_PORT_SIZE * AHCI_MAX_PORTS)
#define AHCI_VS_1_3 0x00010300u
#define SSTS_PRESENT 0x133u /* IPM active, Gen3 speed, device + PHY */

static void *guest(struct ahci_port *p, uint64_t gpa, uint64_t len)
{
	return vm_map_gpa(p->sc->pi->ctx, gpa, len);
}

/* ---- Interrupts ------------------------------------------------------------ */

static void update_intx(struct ahci_softc *sc)
{
	if (pci_msi_enabled(sc->pi))
		pci_intx_deassert(sc->pi);
	else if ((sc->ghc & AHCI_GHC_IE) && sc->is)
		pci_intx_assert(sc->pi);
	else
		pci_intx_deassert(sc->pi);
}

/* Port p has enabled events pending: flag it in IS and interrupt. */
static void port_signal(struct ahci_port *p)
{
	struct ahci_softc *sc = p->sc;

	if (!(p->is & p->ie))
		return;
	sc->is |= 1u << p->idx;
	if ((sc->ghc & AHCI_GHC_IE) && pci_msi_enabled(sc->pi))
		pci_generate_msi(sc->pi, 0);
	update_intx(sc);
}

static void port_event(struct ahci_port *p, uint32_t bits)
{
	uint32_t before = p->is & p->ie;

	p->is |= bits;
	if ((p->is & p->ie) & ~before || (bits & p->ie))
		port_signal(p);
}

/* ---- FISes into the received-FIS area ---------------------------------------- */

static uint8_t *rfis(struct ahci_port *p, unsigned off, unsigned len)
{
	if (!(p->cmd & AHCI_PCMD_FRE))
		return NULL;
	return guest(p, ((uint64_t)p->fbu << 32 | p->fb) + off, len);
}

static void write_d2h(struct ahci_port *p, uint8_t status, uint8_t error, const uint8_t *cfis)
{
	uint8_t *f = rfis(p, RFIS_D2H, 20);

	p->tfd = (uint32_t)error << 8 | status;
	if (f == NULL)
		return;
	memset(f, 0, 20);
	f[0] = FIS_D2H;
	f[1] = 0x40; /* I */
	f[2] = status;
	f[3] = error;
	if (cfis) {  /* echo the LBA/device/count registers */
		memcpy(f + 4, cfis + 4, 7);
		f[12] = cfis[12];
		f[13] = cfis[13];
	}
}

static void write_pio_setup(struct ahci_port *p, uint32_t count, bool to_host)
{
	uint8_t *f = rfis(p, RFIS_PIO, 20);

	if (f == NULL)
		return;
	memset(f, 0, 20);
	f[0] = FIS_PIO;
	f[1] = (to_host ? 0x20 : 0) | 0x40; /* D (direction), I */
	f[2] = ATA_S_DRDY | ATA_S_DSC | ATA_S_DRQ;
	f[15] = ATA_S_DRDY | ATA_S_DSC; /* E_Status */
	f[16] = (uint8_t)count;
	f[17] = (uint8_t)(count >> 8);
}

static void write_sdb(struct ahci_port *p, uint32_t done, uint8_t status, uint8_t error)
{
	uint8_t *f = rfis(p, RFIS_SDB, 8);

	p->tfd = (uint32_t)error << 8 | status;
	if (f == NULL)
		return;
	f[0] = FIS_SDB;
	f[1] = 0x40; /* I */
	f[2] = status & 0x77;
	f[3] = error;
	memcpy(f + 4, &done, 4);
}

/* The signature FIS a device sends after reset (SATA 11.3). */
static void write_signature(struct ahci_port *p)
{
	uint8_t *f = rfis(p, RFIS_D2H, 20);

	if (f == NULL || !p->present)
		return;
	memset(f, 0, 20);
	f[0] = FIS_D2H;
	f[2] = (uint8_t)p->tfd;
	f[12] = (uint8_t)p->sig;         /* count */
	f[4] = (uint8_t)(p->sig >> 8);   /* LBA low */
	f[5] = (uint8_t)(p->sig >> 16);  /* LBA mid */
	f[6] = (uint8_t)(p->sig >> 24);  /* LBA high */
}

/* ---- Completion --------------------------------------------------------------- */

static void set_prdbc(struct ahci_cmd *c)
{
	struct ahci_port *p = c->p;
	uint8_t *h = guest(p, ((uint64_t)p->clbu << 32 | p->clb) + c->slot * CH_SIZE, CH_SIZE);

	if (h)
		memcpy(h + 4, &c->xfer, 4);
}

enum ahci_res ahci_cmd_ok(struct ahci_cmd *c)
{
	struct ahci_port *p = c->p;
	uint32_t bit = 1u << c->slot;

	if (c->ncq) {
		p->sdb_done |= bit;
		return AHCI_DONE;
	}
	set_prdbc(c);
	if (c->pio) {
		write_pio_setup(p, c->xfer, !c->write);
		p->is |= AHCI_PIS_PSS;
	}
	write_d2h(p, ATA_S_DRDY | ATA_S_DSC, 0, c->cfis);
	p->ci &= ~bit;
	port_event(p, AHCI_PIS_DHRS);
	return AHCI_DONE;
}

/* Report an error: the slot stays in CI/SACT, the port halts until restarted. */
enum ahci_res ahci_cmd_error(struct ahci_cmd *c, uint8_t error)
{
	struct ahci_port *p = c->p;
	uint8_t st = ATA_S_DRDY | ATA_S_ERR;

	p->halted = true;
	p->err_status = st;
	p->err_error = error;
	if (c->ncq) {
		p->err_tag = (int)c->slot;
		write_sdb(p, 0, st, error);
		port_event(p, AHCI_PIS_TFES);
	} else {
		/* The D2H Register FIS has its I bit: DHRS as well as TFES
		 * (SeaBIOS waits for DHRS when its IDENTIFY PACKET DEVICE
		 * probe of a disk is refused). */
		write_d2h(p, st, error, c->cfis);
		port_event(p, AHCI_PIS_DHRS | AHCI_PIS_TFES);
	}
	return AHCI_DONE;
}

/* Unusable command list / table: Host Bus Fatal Error. */
static void fatal_error(struct ahci_port *p)
{
	p->halted = true;
	p->tfd = (uint32_t)ATA_E_ABRT << 8 | ATA_S_DRDY | ATA_S_ERR;
	port_event(p, AHCI_PIS_HBFS);
}

static void flush_sdb(struct ahci_port *p)
{
	if (!p->sdb_done)
		return;
	p->sact &= ~p->sdb_done;
	/* Commands that succeeded beside a failed one: the error stays in TFD. */
	if (p->halted)
		write_sdb(p, p->sdb_done, p->err_status, p->err_error);
	else
		write_sdb(p, p->sdb_done, ATA_S_DRDY | ATA_S_DSC, 0);
	p->sdb_done = 0;
	port_event(p, AHCI_PIS_SDBS);
}

/* ---- PRDT -------------------------------------------------------------------- */

int ahci_prdt_map(struct ahci_cmd *c, uint64_t len)
{
	struct ahci_port *p = c->p;
	const uint8_t *prdt;
	uint64_t left = len;

	c->iovcnt = 0;
	c->xfer = 0;
	if (len == 0)
		return 0;
	if (c->prdtl == 0 || c->prdtl > AHCI_MAX_PRD)
		return -1;
	prdt = guest(p, c->ctba + CT_PRDT, (uint64_t)c->prdtl * PRD_SIZE);
	if (prdt == NULL)
		return -1;
	for (unsigned i = 0; i < c->prdtl && left > 0; i++) {
		uint32_t lo, hi, dw3;
		uint64_t dba, n;
		uint8_t *host;

		memcpy(&lo, prdt + i * PRD_SIZE, 4);
		memcpy(&hi, prdt + i * PRD_SIZE + 4, 4);
		memcpy(&dw3, prdt + i * PRD_SIZE + 12, 4);
		dba = (uint64_t)hi << 32 | lo;
		n = (dw3 & (AHCI_PRD_MAX_BYTES - 1)) + 1;
		if ((dw3 & 0x7fc00000u) || (n & 1) || (dba & 1))
			return -1; /* reserved bits, odd byte count or address */
		if (n > left)
			n = left;
		host = guest(p, dba, n);
		if (host == NULL)
			return -1;
		if (c->iovcnt > 0 && (uint8_t *)c->iov[c->iovcnt - 1].iov_base +
		    c->iov[c->iovcnt - 1].iov_len == host) {
			c->iov[c->iovcnt - 1].iov_len += n;
		} else {
			c->iov[c->iovcnt].iov_base = host;
			c->iov[c->iovcnt].iov_len = n;
			c->iovcnt++;
		}
		left -= n;
	}
	if (left)
		return -1; /* the PRDT is shorter than the transfer */
	c->xfer = (uint32_t)len;
	return 0;
}

bool ahci_copy_to_guest(struct ahci_cmd *c, const void *buf, size_t len)
{
	const uint8_t *s = buf;

	if (ahci_prdt_map(c, len) != 0)
		return false;
	for (int i = 0; i < c->iovcnt; i++) {
		memcpy(c->iov[i].iov_base, s, c->iov[i].iov_len);
		s += c->iov[i].iov_len;
	}
	return true;
}

bool ahci_copy_from_guest(struct ahci_cmd *c, void *buf, size_t len)
{
	uint8_t *d = buf;

	if (ahci_prdt_map(c, len) != 0)
		return false;
	for (int i = 0; i < c->iovcnt; i++) {
		memcpy(d, c->iov[i].iov_base, c->iov[i].iov_len);
		d += c->iov[i].iov_len;
	}
	return true;
}

/* ---- Backend requests ----------------------------------------------------------- */

static void cmd_done(struct blockif_req *br, int64_t result)
{
	struct ahci_cmd *c = br->param;

	c->busy = false;
	c->p->busy &= ~(1u << c->slot);
	c->result = result;
	c->cont = true; /* finished in port_done(), after blockif_complete() */
}

enum ahci_res ahci_submit(struct ahci_cmd *c)
{
	struct ahci_port *p = c->p;
	int rc;

	c->br.iov = c->iov;
	c->br.iovcnt = c->iovcnt;
	rc = blockif_submit(p->bc, &c->br);
	if (rc == -EAGAIN)
		return AHCI_STALL;
	if (rc < 0) {
		if (p->atapi)
			ahci_atapi_io_error(c);
		return ahci_cmd_error(c, ATA_E_ABRT);
	}
	c->busy = true;
	c->gen = p->gen;
	p->busy |= 1u << c->slot;
	return AHCI_SUBMITTED;
}

/* A backend completion: finish the command (unless the port was stopped meanwhile). */
static void finish_io(struct ahci_cmd *c)
{
	struct ahci_port *p = c->p;

	c->cont = false;
	if (c->gen != p->gen)
		return;
	if (c->result < 0) {
		if (p->atapi)
			ahci_atapi_io_error(c);
		ahci_cmd_error(c, c->br.op == BLOCKIF_READ || c->br.op == BLOCKIF_WRITE ?
			       ATA_E_ABRT | ATA_E_IDNF : ATA_E_ABRT);
		return;
	}
	if (!p->atapi && ahci_ata_continue(c))
		return;
	if (p->atapi) {
		p->sense_key = 0;
		p->asc = p->ascq = 0;
	}
	ahci_cmd_ok(c);
}

/* ---- Command issue --------------------------------------------------------------- */

static enum ahci_res start_cmd(struct ahci_port *p, unsigned slot)
{
	struct ahci_cmd *c = &p->cmds[slot];
	uint64_t clb = (uint64_t)p->clbu << 32 | p->clb;
	const uint8_t *h = guest(p, clb + slot * CH_SIZE, CH_SIZE), *ct;
	uint32_t dw0, lo, hi;

	if (h == NULL) {
		fatal_error(p);
		return AHCI_DONE;
	}
	memcpy(&dw0, h, 4);
	memcpy(&lo, h + 8, 4);
	memcpy(&hi, h + 12, 4);
	c->ctba = ((uint64_t)hi << 32 | lo) & ~0x7full;
	c->prdtl = dw0 >> 16;
	c->write = dw0 & CH_WRITE;
	c->ncq = false;
	c->pio = false;
	c->xfer = 0;
	c->iovcnt = 0;
	ct = guest(p, c->ctba, CT_PRDT);
	if (ct == NULL) {
		fatal_error(p);
		return AHCI_DONE;
	}
	memcpy(c->cfis, ct, sizeof(c->cfis));
	memcpy(c->acmd, ct + CT_ACMD, sizeof(c->acmd));
	set_prdbc(c);
	/* Only H2D Register FISes carrying a command (C bit) are understood. */
	if (c->cfis[0] != FIS_H2D || !(c->cfis[1] & 0x80) || (dw0 & CH_CFL_MASK) < 5)
		return ahci_cmd_error(c, ATA_E_ABRT);
	return ahci_ata_cmd(c);
}

/* Start every issued slot that is not still busy from before a restart. */
static void port_process(struct ahci_port *p)
{
	uint32_t todo;

	if (!p->present || !(p->cmd & AHCI_PCMD_ST) || p->halted)
		return;
	p->stalled = false;
	todo = p->pending & ~p->busy;
	while (todo && !p->halted) {
		unsigned slot = (unsigned)__builtin_ctz(todo);
		uint32_t bit = 1u << slot;

		todo &= ~bit;
		p->pending &= ~bit;
		if (start_cmd(p, slot) == AHCI_STALL) {
			p->pending |= bit;
			p->stalled = true;
			break;
		}
	}
	flush_sdb(p);
	blockif_kick(p->bc);
}

/*
 * Lock held. Finish the commands whose backend requests completed, send
 * what they queued, then start what the guest issued meanwhile.
 */
static void port_reap(struct ahci_port *p)
{
	blockif_complete(p->bc);
	for (unsigned s = 0; s < AHCI_MAX_SLOTS; s++)
		if (p->cmds[s].cont)
			finish_io(&p->cmds[s]);
	flush_sdb(p);
	blockif_kick(p->bc);
	if (p->pending & ~p->busy)
		port_process(p);
}

static void port_done(int fd, enum ev_type type, void *arg)
{
	struct ahci_port *p = arg;
	struct ahci_softc *sc = p->sc;

	pthread_mutex_lock(&sc->lock);
	port_reap(p);
	pthread_mutex_unlock(&sc->lock);
}

/* Lock held, on the vCPU thread that rang the doorbell (see the top). */
static void port_doorbell(struct ahci_port *p)
{
	port_process(p);
	if (p->busy)
		port_reap(p); /* reads the page cache already served */
}

/* ---- Port state ---------------------------------------------------------------- */

/* The device's state after power-on or COMRESET: signature, ready. */
static void device_reset(struct ahci_port *p)
{
	if (!p->present) {
		p->ssts = 0;
		p->sig = 0xffffffffu;
		p->tfd = 0x7f;
		return;
	}
	p->ssts = SSTS_PRESENT;
	p->sig = p->atapi ? AHCI_SIG_ATAPI : AHCI_SIG_ATA;
	p->tfd = ATA_S_DRDY | ATA_S_DSC;
	p->sense_key = 0;
	p->asc = p->ascq = 0;
	p->prevent = false;
	p->serr |= 1u << 26; /* DIAG.X: COMINIT received */
	write_signature(p);
	port_event(p, AHCI_PIS_DHRS);
}

/* ST cleared (or reset): commands dropped, in-flight results discarded. */
static void port_stop(struct ahci_port *p)
{
	p->ci = 0;
	p->sact = 0;
	p->pending = 0;
	p->sdb_done = 0;
	p->halted = false;
	p->gen++;
	p->cmd &= ~(AHCI_PCMD_CR | (0x1fu << AHCI_PCMD_CCS_SHIFT));
}

static void port_init_regs(struct ahci_port *p)
{
	port_stop(p);
	p->clb = p->clbu = p->fb = p->fbu = 0;
	p->is = p->ie = p->serr = p->sctl = 0;
	p->cmd = AHCI_PCMD_SUD | AHCI_PCMD_POD | (p->atapi ? AHCI_PCMD_ATAPI : 0);
	p->err_tag = -1;
	device_reset(p);
	p->is = 0;
	p->serr = 0;
}

static void hba_reset(struct ahci_softc *sc)
{
	sc->ghc = AHCI_GHC_AE;
	sc->is = 0;
	for (unsigned i = 0; i < sc->nports; i++)
		port_init_regs(&sc->port[i]);
	update_intx(sc);
}

static void write_cmd(struct ahci_port *p, uint32_t v)
{
	uint32_t old = p->cmd;

	p->cmd = (old & ~(AHCI_PCMD_ST | AHCI_PCMD_FRE | AHCI_PCMD_ATAPI | AHCI_PCMD_RW)) |
		 (v & (AHCI_PCMD_ST | AHCI_PCMD_FRE | AHCI_PCMD_ATAPI | AHCI_PCMD_RW));
	p->cmd |= AHCI_PCMD_SUD | AHCI_PCMD_POD;
	if (p->cmd & AHCI_PCMD_FRE)
		p->cmd |= AHCI_PCMD_FR;
	else
		p->cmd &= ~AHCI_PCMD_FR;
	if ((v & AHCI_PCMD_CLO)) /* command list override: clear BSY and DRQ */
		p->tfd &= ~(uint32_t)(ATA_S_BSY | ATA_S_DRQ);
	if (p->cmd & AHCI_PCMD_ST) {
		if (!(old & AHCI_PCMD_ST))
			p->halted = false;
		p->cmd |= AHCI_PCMD_CR;
	} else if (old & AHCI_PCMD_ST) {
		port_stop(p);
	}
}

static void write_sctl(struct ahci_port *p, uint32_t v)
{
	uint32_t olddet = p->sctl & 0xf;

	if (p->cmd & AHCI_PCMD_ST)
		return; /* SCTL is only writable while the port is idle */
	p->sctl = v;
	if ((v & 0xf) == 1) {
		p->ssts = 0; /* COMRESET in progress: no device */
		p->tfd = ATA_S_BSY;
	} else if (olddet == 1 && (v & 0xf) == 0) {
		port_stop(p);
		device_reset(p);
	}
}

/* ---- BAR 5 --------------------------------------------------------------------- */

static uint32_t port_read(struct ahci_port *p, unsigned off)
{
	switch (off) {
	case AHCI_P_CLB: return p->clb;
	case AHCI_P_CLBU: return p->clbu;
	case AHCI_P_FB: return p->fb;
	case AHCI_P_FBU: return p->fbu;
	case AHCI_P_IS: return p->is;
	case AHCI_P_IE: return p->ie;
	case AHCI_P_CMD: {
		uint32_t v = p->cmd & ~(0x1fu << AHCI_PCMD_CCS_SHIFT);

		if (p->ci | p->sact) /* a slot being processed */
			v |= (uint32_t)__builtin_ctz(p->ci | p->sact) << AHCI_PCMD_CCS_SHIFT;
		return v;
	}
	case AHCI_P_TFD: return p->tfd;
	case AHCI_P_SIG: return p->sig;
	case AHCI_P_SSTS: return p->ssts;
	case AHCI_P_SCTL: return p->sctl;
	case AHCI_P_SERR: return p->serr;
	case AHCI_P_SACT: return p->sact;
	case AHCI_P_CI: return p->ci;
	default: return 0;
	}
}

static void port_write(struct ahci_port *p, unsigned off, uint32_t v)
{
	switch (off) {
	case AHCI_P_CLB: p->clb = v & ~0x3ffu; break;
	case AHCI_P_CLBU: p->clbu = v; break;
	case AHCI_P_FB: p->fb = v & ~0xffu; break;
	case AHCI_P_FBU: p->fbu = v; break;
	case AHCI_P_IS:
		p->is &= ~v;
		break;
	case AHCI_P_IE:
		p->ie = v & AHCI_PIS_MASK;
		port_signal(p);
		break;
	case AHCI_P_CMD: write_cmd(p, v); break;
	case AHCI_P_SCTL: write_sctl(p, v); break;
	case AHCI_P_SERR: p->serr &= ~v; break;
	case AHCI_P_SACT:
		if (p->cmd & AHCI_PCMD_ST)
			p->sact |= v;
		break;
	case AHCI_P_CI:
		if (!(p->cmd & AHCI_PCMD_ST) || !p->present)
			break;
		v &= ~p->ci;
		p->ci |= v;
		p->pending |= v;
		if (v)
			port_doorbell(p);
		break;
	default:
		break;
	}
}

static uint32_t hba_read(struct ahci_softc *sc, unsigned off)
{
	switch (off) {
	case AHCI_CAP: return sc->cap;
	case AHCI_GHC: return sc->ghc;
	case AHCI_IS: return sc->is;
	case AHCI_PI: return sc->pi_mask;
	case AHCI_VS: return AHCI_VS_1_3;
	default: return 0;
	}
}

static void hba_write(struct ahci_softc *sc, unsigned off, uint32_t v)
{
	switch (off) {
	case AHCI_GHC:
		if (v & AHCI_GHC_HR) {
			hba_reset(sc);
			break;
		}
		sc->ghc = AHCI_GHC_AE | (v & AHCI_GHC_IE);
		for (unsigned i = 0; i < sc->nports; i++)
			if (sc->port[i].is & sc->port[i].ie)
				port_signal(&sc->port[i]);
		update_intx(sc);
		break;
	case AHCI_IS:
		sc->is &= ~v;
		/* Ports with events still pending keep (and re-raise) their bit. */
		for (unsigned i = 0; i < sc->nports; i++)
			if ((v >> i & 1) && (sc->port[i].is & sc->port[i].ie))
				port_signal(&sc->port[i]);
		update_intx(sc);
		break;
	default:
		break;
	}
}

static uint32_t reg_read(struct ahci_softc *sc, uint64_t off)
{
	if (off < AHCI_PORT_BASE)
		return hba_read(sc, (unsigned)off);
	unsigned n = (unsigned)(off - AHCI_PORT_BASE) / AHCI_PORT_SIZE;

	if (n >= sc->nports)
		return 0;
	return port_read(&sc->port[n], (unsigned)(off - AHCI_PORT_BASE) % AHCI_PORT_SIZE);
}

static void reg_write(struct ahci_softc *sc, uint64_t off, uint32_t v)
{
	if (off < AHCI_PORT_BASE) {
		hba_write(sc, (unsigned)off, v);
		return;
	}
	unsigned n = (unsigned)(off - AHCI_PORT_BASE) / AHCI_PORT_SIZE;

	if (n < sc->nports) {
		struct ahci_port *p = &sc->port[n];

		port_write(p, (unsigned)(off - AHCI_PORT_BASE) % AHCI_PORT_SIZE, v);
		update_intx(sc);
	}
}

static uint64_t ahci_barread(struct pci_devinst *pi, int bar, uint64_t off, int bytes)
{
	struct ahci_softc *sc = pi->softc;
	uint64_t v;

	if (bar != AHCI_BAR || off >= AHCI_BAR_SIZE)
		return 0;
	pthread_mutex_lock(&sc->lock);
	v = reg_read(sc, off & ~3ull);
	if (bytes == 8)
		v |= (uint64_t)reg_read(sc, (off & ~3ull) + 4) << 32;
	pthread_mutex_unlock(&sc->lock);
	if (bytes < 4)
		v = (v >> (8 * (off & 3))) & ((1ull << (8 * bytes)) - 1);
	return v;
}

static void ahci_barwrite(struct pci_devinst *pi, int bar, uint64_t off, int bytes,
			  uint64_t val)
{
	struct ahci_softc *sc = pi->softc;

	if (bar != AHCI_BAR || off >= AHCI_BAR_SIZE || (off & 3) || bytes < 4)
		return; /* registers are dword-accessed (AHCI 3) */
	pthread_mutex_lock(&sc->lock);
	reg_write(sc, off, (uint32_t)val);
	if (bytes == 8)
		reg_write(sc, off + 4, (uint32_t)(val >> 32));
	pthread_mutex_unlock(&sc->lock);
}

/* ---- Set-up ---------------------------------------------------------------------- */

static void copy_opt(char *dst, size_t size, const struct cfg_node *node, const char *key,
		     const char *def)
{
	const char *v = get_config_value_node(node, key);

	snprintf(dst, size, "%s", v ? v : def);
}

static int port_open(struct ahci_softc *sc, struct ahci_port *p, struct cfg_node *node)
{
	const char *type = get_config_value_node(node, "type"), *path, *nmrr;
	char ident[96];
	uint64_t h = 1469598103934665603ull; /* FNV-1a of the path: a stable serial */
	char defser[21];

	if (type == NULL || (strcmp(type, "hd") != 0 && strcmp(type, "cd") != 0)) {
		fprintf(stderr, "khyve: %s: port %u: type must be hd or cd\n", sc->pi->ident, p->idx);
		return -1;
	}
	p->atapi = strcmp(type, "cd") == 0;
	if (p->atapi && set_config_value_node(node, "ro", "true") != 0)
		return -1;
	snprintf(ident, sizeof(ident), "%s port %u", sc->pi->ident, p->idx);
	p->bc = blockif_open(node, ident);
	if (p->bc == NULL)
		return -1;
	path = get_config_value_node(node, "path");
	for (const char *s = path ? path : ""; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	snprintf(defser, sizeof(defser), "KHYVE-%04X-%04X-%04X", (unsigned)(h >> 48),
		 (unsigned)(h >> 32) & 0xffff, (unsigned)(h >> 16) & 0xffff);
	copy_opt(p->ser, sizeof(p->ser), node, "ser", defser);
	copy_opt(p->rev, sizeof(p->rev), node, "rev", "001");
	copy_opt(p->model, sizeof(p->model), node, "model",
		 p->atapi ? "KHYVE SATA DVD ROM" : "KHYVE SATA DISK");
	nmrr = get_config_value_node(node, "nmrr");
	if (nmrr != NULL) {
		char *end;
		unsigned long v = strtoul(nmrr, &end, 0);

		if (*end != '\0' || v > 0xfffe) {
			fprintf(stderr, "khyve: %s: bad nmrr=%s\n", ident, nmrr);
			return -1;
		}
		p->nmrr = (unsigned)v;
	}
	for (unsigned s = 0; s < AHCI_MAX_SLOTS; s++) {
		struct ahci_cmd *c = &p->cmds[s];

		c->p = p;
		c->slot = s;
		c->br.param = c;
		c->br.done = cmd_done;
		c->iov = calloc(AHCI_MAX_PRD, sizeof(*c->iov));
		if (c->iov == NULL)
			return -1;
	}
	p->done_ev = mevent_add(blockif_event_fd(p->bc), EVF_READ, port_done, p);
	if (p->done_ev == NULL) {
		fprintf(stderr, "khyve: %s: cannot watch I/O completions\n", ident);
		return -1;
	}
	p->present = true;
	return 0;
}

/*
 * Ports with a bootindex, under QEMU's path for a SATA disk or CD on an AHCI
 * function it has no class name for: "pci8086,2821@S/drive@PORT/disk@0".
 * SeaBIOS (bootprio_find_ata_device, "*@S/drive@P/disk@0") orders each port;
 * OVMF's QemuBootOrderLib (TranslatePciOfwNodes) knows per-port SATA nodes
 * only for Q35's "pci8086,2922", so it reads ours as the generic Pci(S,F):
 * the controller, whichever port.
 */
static int register_boot_ports(struct ahci_softc *sc, struct cfg_node *dev)
{
	for (unsigned i = 0; i < sc->nports; i++) {
		char name[16], child[32], who[96];
		struct cfg_node *pn;

		snprintf(name, sizeof(name), "port.%u", i);
		pn = find_relative_config_node(dev, name);
		if (pn == NULL)
			continue;
		snprintf(child, sizeof(child), "/drive@%x/disk@0", i);
		snprintf(who, sizeof(who), "%s port %u", sc->pi->ident, i);
		if (pci_add_boot_device(sc->pi, pn, NULL, child, who) < 0)
			return -1;
	}
	return 0;
}

static int ahci_init(struct pci_devinst *pi, const struct cfg_node *node)
{
	struct ahci_softc *sc = calloc(1, sizeof(*sc));
	struct cfg_node *dev = (struct cfg_node *)node; /* port nodes get ro= (cd) */

	if (sc == NULL)
		return -1;
	pi->softc = sc;
	sc->pi = pi;
	pthread_mutex_init(&sc->lock, NULL);
	for (unsigned i = 0; i < AHCI_MAX_PORTS; i++) {
		char name[16];
		struct cfg_node *pn;

		snprintf(name, sizeof(name), "port.%u", i);
		pn = find_relative_config_node(dev, name);
		sc->port[i].sc = sc;
		sc->port[i].idx = i;
		if (pn == NULL)
			continue;
		if (port_open(sc, &sc->port[i], pn) != 0)
			return -1;
		sc->nports = i + 1;
	}
	if (sc->nports == 0)
		sc->nports = 1; /* a controller with one empty port */
	sc->pi_mask = sc->nports == 32 ? ~0u : (1u << sc->nports) - 1;
	sc->cap = AHCI_CAP_S64A | AHCI_CAP_SNCQ | AHCI_CAP_SCLO | AHCI_CAP_SAM | AHCI_CAP_SSC |
		  AHCI_CAP_PSC | 3u << 20 /* ISS: Gen3 */ | (AHCI_MAX_SLOTS - 1u) << 8 |
		  (sc->nports - 1);
	/* Intel ICH8 SATA AHCI, as bhyve's. */
	pci_set_ids(pi, 0x8086, 0x2821, 0x01, 0x06, 0x8086, 0x2821, 0);
	pci_set_cfg8(pi, PCIR_PROGIF, 0x01);
	if (register_boot_ports(sc, dev) < 0)
		return -1;
	if (pci_alloc_bar(pi, AHCI_BAR, PCI_BAR_MEM32, AHCI_BAR_SIZE) != 0 ||
	    pci_add_msi(pi, 0) < 0)
		return -1;
	pci_add_intx(pi);
	hba_reset(sc);
	return 0;
}

static const struct pci_devemu ahci_emu = {
	.name = "ahci",
	.init = ahci_init,
	.barread = ahci_barread,
	.barwrite = ahci_barwrite,
};
PCI_EMUL_SET(ahci_emu);
