#!/bin/sh
# virtio-blk without MSI-X: a guest booted with pci=nomsi uses the legacy
# INTx interrupt (no PCI-MSI in /proc/interrupts) and still does I/O: it
# writes 8 MiB the host checks, and reads them back.
. "$(dirname "$0")/../lib.sh"

img=$KT_TMP/disk.img
kt_image "$img" 16
dd if=/dev/urandom of="$img" bs=1M seek=8 count=8 conv=notrunc 2>/dev/null || fail "cannot fill the image"
src=$(kt_sha "$img" 8 8)
script='dd if=/dev/vda of=/dev/vda bs=1M skip=8 count=8 oflag=direct conv=notrunc,fsync 2>/dev/null; echo KT: copy=$?;
echo KT: back=$(dd if=/dev/vda bs=1M count=8 iflag=direct 2>/dev/null | sha256sum | cut -c1-64);
echo KT: msi=$(grep -c PCI-MSI /proc/interrupts);
echo KT: virtio-irq=$(grep virtio /proc/interrupts | head -n1 | tr -s \  | cut -d\  -f2-)'
KT_CMDLINE_EXTRA=pci=nomsi run_script_guest 60 "$KT_TMP/console" "$script" -s 4,virtio-blk,"$img"
expect_script_ok
expect_value copy 0
expect_value msi 0
irq=$(kt_value virtio-irq)
[ -n "$irq" ] || fail "no virtio interrupt in the guest's /proc/interrupts"
_kt_info "virtio interrupt: $irq"
[ "$(kt_sha "$img" 0 8)" = "$src" ] || fail "MiB 0-7 of the image are not the guest's copy"
expect_value back "$src"
pass
