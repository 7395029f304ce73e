/*
 * AHCI controller internals shared by pci_ahci.c (HBA, ports, command list,
 * PRDT, FISes), ahci_ata.c (SATA disk commands) and ahci_atapi.c (ATAPI
 * CD-ROM commands). Register and structure layouts: AHCI 1.3.1; FIS layouts:
 * SATA 3.x section 10.5.
 */
#ifndef KHYVE_AHCI_H
#define KHYVE_AHCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "block/block_if.h"

#define AHCI_MAX_PORTS 32
#define AHCI_MAX_SLOTS 32
#define AHCI_MAX_PRD 512          /* PRDT entries accepted per command */
#define AHCI_PRD_MAX_BYTES (4u << 20)

/* HBA registers (AHCI 3.1). */
#define AHCI_CAP 0x00
#define AHCI_GHC 0x04
#define AHCI_IS 0x08
#define AHCI_PI 0x0c
#define AHCI_VS 0x10
#define AHCI_CAP2 0x24
#define AHCI_PORT_BASE 0x100
#define AHCI_PORT_SIZE 0x80

#define AHCI_CAP_SNCQ (1u << 30)
#define AHCI_CAP_S64A (1u << 31)
#define AHCI_CAP_SCLO (1u << 24)
#define AHCI_CAP_SAM (1u << 18)
#define AHCI_CAP_SSC (1u << 14)
#define AHCI_CAP_PSC (1u << 13)
#define AHCI_GHC_HR (1u << 0)
#define AHCI_GHC_IE (1u << 1)
#define AHCI_GHC_AE (1u << 31)

/* Port registers (AHCI 3.3), offsets within the port's 0x80 bytes. */
#define AHCI_P_CLB 0x00
#define AHCI_P_CLBU 0x04
#define AHCI_P_FB 0x08
#define AHCI_P_FBU 0x0c
#define AHCI_P_IS 0x10
#define AHCI_P_IE 0x14
#define AHCI_P_CMD 0x18
#define AHCI_P_TFD 0x20
#define AHCI_P_SIG 0x24
#define AHCI_P_SSTS 0x28
#define AHCI_P_SCTL 0x2c
#define AHCI_P_SERR 0x30
#define AHCI_P_SACT 0x34
#define AHCI_P_CI 0x38
#define AHCI_P_SNTF 0x3c

/* PxIS / PxIE bits. */
#define AHCI_PIS_DHRS (1u << 0)
#define AHCI_PIS_PSS (1u << 1)
#define AHCI_PIS_DSS (1u << 2)
#define AHCI_PIS_SDBS (1u << 3)
#define AHCI_PIS_DPS (1u << 5)
#define AHCI_PIS_PCS (1u << 6)
#define AHCI_PIS_IFS (1u << 27)
#define AHCI_PIS_HBFS (1u << 29)
#define AHCI_PIS_TFES (1u << 30)
#define AHCI_PIS_MASK 0xfd8000ffu

/* PxCMD bits. */
#define AHCI_PCMD_ST (1u << 0)
#define AHCI_PCMD_SUD (1u << 1)
#define AHCI_PCMD_POD (1u << 2)
#define AHCI_PCMD_CLO (1u << 3)
#define AHCI_PCMD_FRE (1u << 4)
#define AHCI_PCMD_CCS_SHIFT 8
#define AHCI_PCMD_FR (1u << 14)
#define AHCI_PCMD_CR (1u << 15)
#define AHCI_PCMD_ATAPI (1u << 24)
#define AHCI_PCMD_RW 0x0e020000u /* PMA, DLAE, ALPE, ASP: stored, no effect */

/* ATA status and error bits. */
#define ATA_S_ERR 0x01
#define ATA_S_DRQ 0x08
#define ATA_S_DSC 0x10
#define ATA_S_DRDY 0x40
#define ATA_S_BSY 0x80
#define ATA_E_ABRT 0x04
#define ATA_E_IDNF 0x10

#define AHCI_SIG_ATA 0x00000101u
#define AHCI_SIG_ATAPI 0xeb140101u

/* FIS types and the received-FIS area (AHCI 4.2.1). */
#define FIS_H2D 0x27
#define FIS_D2H 0x34
#define FIS_SDB 0xa1
#define FIS_PIO 0x5f
#define RFIS_PIO 0x20
#define RFIS_D2H 0x40
#define RFIS_SDB 0x58
#define RFIS_SIZE 0x100

/* Command header (AHCI 4.2.2) and table (4.2.3). */
#define CH_SIZE 32
#define CH_CFL_MASK 0x1f
#define CH_ATAPI (1u << 5)
#define CH_WRITE (1u << 6)
#define CT_ACMD 0x40
#define CT_PRDT 0x80
#define PRD_SIZE 16

/* What a command handler did with its command. */
enum ahci_res {
	AHCI_DONE,      /* completed (success or error FIS written) */
	AHCI_SUBMITTED, /* I/O queued; completes on the main thread */
	AHCI_STALL,     /* backend full: retry after completions */
};

struct ahci_port;
struct ahci_softc;

struct ahci_cmd {
	struct blockif_req br;
	struct ahci_port *p;
	unsigned slot;
	uint32_t gen;             /* port generation when issued */
	uint8_t cfis[20];         /* copy of the H2D Register FIS */
	uint8_t acmd[16];         /* copy of the ATAPI command */
	uint64_t ctba;            /* command table address (validated) */
	unsigned prdtl;
	bool write;               /* header's W bit */
	bool ncq;
	bool pio;                 /* send a PIO Setup FIS before the D2H */
	bool busy;                /* submitted to the backend */
	bool cont;                /* done() asked for the next step (DSM) */
	int64_t result;
	uint32_t xfer;            /* bytes transferred, for PRDBC */
	struct iovec *iov;        /* AHCI_MAX_PRD entries (per command) */
	int iovcnt;
	/* DATA SET MANAGEMENT: ranges still to discard. */
	uint8_t *dsm;
	unsigned dsm_n, dsm_i;
};

struct ahci_port {
	struct ahci_softc *sc;
	unsigned idx;
	bool present, atapi;
	struct blockif_ctxt *bc;
	struct mevent *done_ev;
	char ser[21], model[41], rev[9];
	unsigned nmrr;

	uint32_t clb, clbu, fb, fbu, is, ie, cmd, tfd, sig, ssts, sctl, serr, sact, ci;
	uint32_t pending;         /* CI bits not started yet */
	uint32_t busy;            /* slots with I/O in the backend */
	uint32_t sdb_done;        /* NCQ tags finished since the last SDB FIS */
	uint32_t gen;             /* bumped when the port stops: late results dropped */
	bool halted;              /* error: no commands until ST goes 1 -> 0 */
	bool stalled;
	uint8_t err_status, err_error; /* for the NCQ error log */
	int err_tag;              /* -1: none */
	/* ATAPI: sense of the last command, medium lock. */
	uint8_t sense_key, asc, ascq;
	bool prevent;
	struct ahci_cmd cmds[AHCI_MAX_SLOTS];
};

struct ahci_softc {
	struct pci_devinst *pi;
	pthread_mutex_t lock;     /* everything below and every port */
	unsigned nports;
	uint32_t cap, ghc, is, pi_mask;
	struct ahci_port port[AHCI_MAX_PORTS];
};

/* pci_ahci.c: data movement and completion for the command handlers. */
/* Map the PRDT so that c->iov covers exactly len bytes; 0, or -1 if it cannot. */
int ahci_prdt_map(struct ahci_cmd *c, uint64_t len);
/* Copy len bytes to (from) the PRDT; false if the PRDT is bad or short. */
bool ahci_copy_to_guest(struct ahci_cmd *c, const void *buf, size_t len);
bool ahci_copy_from_guest(struct ahci_cmd *c, void *buf, size_t len);
/* Complete now: success (status DRDY|DSC), or an error with ATA error bits. */
enum ahci_res ahci_cmd_ok(struct ahci_cmd *c);
enum ahci_res ahci_cmd_error(struct ahci_cmd *c, uint8_t error);
/* Send c->br (op/offset/len or c->iov set by the caller) to the backend. */
enum ahci_res ahci_submit(struct ahci_cmd *c);

/* ahci_ata.c */
enum ahci_res ahci_ata_cmd(struct ahci_cmd *c);
/* Next step after a backend completion (DSM ranges); false when the command is over. */
bool ahci_ata_continue(struct ahci_cmd *c);
uint64_t ahci_ata_lba(const uint8_t *cfis, bool lba48);

/* ahci_atapi.c */
enum ahci_res ahci_atapi_packet(struct ahci_cmd *c);
void ahci_atapi_io_error(struct ahci_cmd *c);
void ahci_ident_string(uint16_t *words, unsigned first, const char *s, unsigned len);
void ahci_identify_packet(const struct ahci_port *p, uint16_t id[256]);

#endif
