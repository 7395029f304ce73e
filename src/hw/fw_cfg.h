/*
 * QEMU's fw_cfg interface (QEMU docs/specs/fw_cfg.rst): how stock firmware
 * (SeaBIOS, OVMF) learns about the machine -- CPU count, RAM size, ACPI
 * tables through the linker/loader, e820, user files from bhyve's -f.
 *
 * Ports: selector 0x510 (16-bit write), data 0x511 (byte reads, the offset
 * advancing; past the end of an item reads are 0), DMA address 0x514 (64-bit
 * big-endian, high half at 0x514, low half at 0x518; writing the low half
 * starts the transfer). The guest cannot write items.
 */
#ifndef KHYVE_FW_CFG_H
#define KHYVE_FW_CFG_H

#include <stdbool.h>
#include <stdint.h>

struct vmctx;

#define FW_CFG_PORT_SEL 0x510
#define FW_CFG_PORT_DATA 0x511
#define FW_CFG_PORT_DMA 0x514 /* 8 bytes: high half, then low half at 0x518 */

/* Legacy keys (QEMU's numbers). */
#define FW_CFG_SIGNATURE 0x00
#define FW_CFG_ID 0x01
#define FW_CFG_UUID 0x02
#define FW_CFG_RAM_SIZE 0x03
#define FW_CFG_NOGRAPHIC 0x04
#define FW_CFG_NB_CPUS 0x05
#define FW_CFG_BOOT_MENU 0x0e
#define FW_CFG_MAX_CPUS 0x0f
#define FW_CFG_FILE_DIR 0x19
#define FW_CFG_FILE_FIRST 0x20
#define FW_CFG_MAX_FILES 256

#define FW_CFG_ID_TRADITIONAL 0x1u
#define FW_CFG_ID_DMA 0x2u

/* The DMA control word (big-endian in guest memory). */
#define FW_CFG_DMA_ERROR 0x01u
#define FW_CFG_DMA_READ 0x02u
#define FW_CFG_DMA_SKIP 0x04u
#define FW_CFG_DMA_SELECT 0x08u
#define FW_CFG_DMA_WRITE 0x10u

#define FW_CFG_NAME_LEN 56 /* file name field, NUL included */

/*
 * Put the device at its ports with the items every machine has (signature,
 * feature bitmap, empty file directory). Returns 0, or -1 after one error
 * line. fw_cfg_teardown() frees everything and releases the ports.
 */
int fw_cfg_setup(struct vmctx *ctx);
void fw_cfg_teardown(void);
bool fw_cfg_active(void);

/* Items are copied. Returns 0, or -1 (duplicate name, name too long, full). */
int fw_cfg_add_file(const char *name, const void *data, uint32_t len);
int fw_cfg_add_bytes(uint16_t key, const void *data, uint32_t len);
int fw_cfg_add_u16(uint16_t key, uint16_t value); /* little-endian, as QEMU */
int fw_cfg_add_u32(uint16_t key, uint32_t value);
int fw_cfg_add_u64(uint16_t key, uint64_t value);

/* The legacy keys describing the machine (CPUs, RAM, UUID, console). */
int fw_cfg_add_machine(int ncpus, int maxcpus, uint64_t ram_size, const uint8_t uuid[16]);

/* bhyve's -f files (config fwcfg.user.N.{name,string,file}). Returns 0 or -1. */
int fw_cfg_add_user_files(void);

#endif
