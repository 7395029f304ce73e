/*
 * Firmware boot order: bhyve's per-device bootindex= becomes QEMU's fw_cfg
 * file "bootorder", which SeaBIOS (src/boot.c) and OVMF (QemuBootOrderLib)
 * read. Devices register an OpenFirmware device path with their index while
 * they are created; once every device exists, bootorder_publish() writes the
 * paths, lowest index first, one per line.
 *
 * The file has QEMU's layout: lines separated by '\n', the last one ended by
 * a NUL that is part of the file (OVMF rejects a file whose last byte is not
 * NUL; SeaBIOS stops at it).
 *
 * Without fw_cfg (no boot ROM, no -l fwcfg,qemu) indices are still checked,
 * then unused: only firmware reads them.
 */
#ifndef KHYVE_BOOTORDER_H
#define KHYVE_BOOTORDER_H

#include <stddef.h>

/* A bootindex value: a decimal integer 0..2147483647 (QEMU's int32). 0 or -1. */
int bootorder_parse(const char *value, unsigned *index);

/*
 * Add path at index; "who" names the device in messages. Returns 0, or -1
 * after one error line (the index is already taken, out of memory).
 */
int bootorder_add(unsigned index, const char *path, const char *who);

/* The file's bytes (NUL included, counted in *len), or NULL if nothing was added. */
char *bootorder_file(size_t *len);

/* Add the file to fw_cfg when there is both an entry and fw_cfg. 0, or -1 after one line. */
int bootorder_publish(void);

/* Forget every entry (tests). */
void bootorder_reset(void);

#endif
