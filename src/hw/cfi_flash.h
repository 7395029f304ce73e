/*
 * A parallel NOR flash with the Intel/Sharp command set (CFI command set 1),
 * as QEMU's pflash and bhyve's bootvars give UEFI firmware its variable
 * store: -l bootrom,CODE.fd,VARS.fd. Stock OVMF probes the store for this
 * behaviour and, finding it, keeps its variables there; they persist in the
 * VARS file across VM restarts.
 *
 * While the flash is in read-array mode the guest reads it as memory (a
 * read-only KVM slot: no exits); any write exits to cfi_flash_write, and
 * once a command is in progress the slot is taken away so reads exit too
 * and see the status register (it returns on the next array read).
 *
 * The file is never written in place: each time the firmware finishes a
 * sequence of program/erase commands (the flash returns to read-array mode)
 * a complete snapshot is written to a temporary file, synced, and renamed
 * over the VARS file. A crash at any moment leaves either the old or the new
 * store, never a torn one.
 */
#ifndef KHYVE_CFI_FLASH_H
#define KHYVE_CFI_FLASH_H

#include <stdbool.h>
#include <stdint.h>

struct cfi_flash;

#define CFI_FLASH_BLOCK_SIZE 4096u /* erase block, as OVMF's PcdOvmfFirmwareBlockSize */

/*
 * Open and lock the VARS file (a whole number of blocks). Returns NULL after
 * one error line (missing, wrong size, read-only, used by another VM).
 */
struct cfi_flash *cfi_flash_open(const char *path);
uint64_t cfi_flash_size(const struct cfi_flash *f);
/* The bytes the guest reads in read-array mode (cfi_flash_size() bytes). */
void *cfi_flash_array(struct cfi_flash *f);
/*
 * Called with false when reads must start to exit (a command began) and with
 * true when the array may be mapped again (the first read in read-array
 * mode after that). Set by whoever maps the flash; it starts mapped.
 */
void cfi_flash_set_romd_hook(struct cfi_flash *f, void (*hook)(void *arg, bool mapped), void *arg);

/* Guest accesses at offset off (1-8 bytes); out-of-range bytes are ignored / read all ones. */
uint64_t cfi_flash_read(struct cfi_flash *f, uint64_t off, int bytes);
void cfi_flash_write(struct cfi_flash *f, uint64_t off, int bytes, uint64_t val);

/* Write the store out now if it changed (also done on cfi_flash_close). 0 or -1. */
int cfi_flash_sync(struct cfi_flash *f);
void cfi_flash_close(struct cfi_flash *f);

#endif
