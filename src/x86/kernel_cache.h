/*
 * A cache of decompressed kernels for the PVH boot. Decompressing an XZ
 * bzImage costs about a second of host CPU; a VM that reboots (vmrun,
 * systemd restarts) boots the same file again and again, so the vmlinux is
 * kept in a file keyed by the kernel file's identity (device, inode, size,
 * modification time). Directory: $KHYVE_CACHE_DIR, else /var/cache/khyve
 * (root) or $XDG_CACHE_HOME/khyve, ~/.cache/khyve. Cached bytes are parsed
 * as carefully as fresh ones, so a damaged cache file only costs a fallback.
 */
#ifndef KHYVE_X86_KERNEL_CACHE_H
#define KHYVE_X86_KERNEL_CACHE_H

#include <stddef.h>
#include <stdint.h>

/* The cached vmlinux for this kernel file (a read-only mapping), or NULL. */
const uint8_t *kernel_cache_lookup(const char *kernel_path, size_t *len);
void kernel_cache_release(const uint8_t *vmlinux, size_t len);
/* Best effort: failures (read-only file system, no space) are silent. */
void kernel_cache_store(const char *kernel_path, const uint8_t *vmlinux, size_t len);

#endif
