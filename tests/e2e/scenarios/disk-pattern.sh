#!/bin/sh
# Bytes cross virtio-blk intact, both ways. The host fills MiB 32-63 of a
# 64 MiB image with random data. The guest reads them (host -> guest: it
# prints their sha256), copies MiB 32-47 to MiB 0-15 with 1 MiB direct
# writes and MiB 48-63 to MiB 16-31 with buffered 4 KiB writes, syncs,
# powers off; then the host finds the copies (guest -> host), the source
# untouched, and the guest reports the copies' sha256 as read back.
. "$(dirname "$0")/../lib.sh"

img=$KT_TMP/disk.img
kt_image "$img" 64
dd if=/dev/urandom of="$img" bs=1M seek=32 count=32 conv=notrunc 2>/dev/null ||
	fail "cannot write the pattern"
src=$(kt_sha "$img" 32 32)
src_a=$(kt_sha "$img" 32 16)
src_b=$(kt_sha "$img" 48 16)
script='s() { sha256sum | cut -c1-64; };
echo KT: src=$(dd if=/dev/vda bs=1M skip=32 count=32 iflag=direct 2>/dev/null | s);
dd if=/dev/vda of=/dev/vda bs=1M skip=32 count=16 oflag=direct conv=notrunc,fsync 2>/dev/null && echo KT: copy-a=ok;
dd if=/dev/vda of=/dev/vda bs=4096 skip=12288 seek=4096 count=4096 conv=notrunc,fsync 2>/dev/null && echo KT: copy-b=ok;
sync; echo 3 >/proc/sys/vm/drop_caches;
echo KT: dst-a=$(dd if=/dev/vda bs=1M count=16 2>/dev/null | s);
echo KT: dst-b=$(dd if=/dev/vda bs=64k skip=256 count=256 iflag=direct 2>/dev/null | s)'
run_script_guest 90 "$KT_TMP/console" "$script" -s 4,virtio-blk,"$img"
expect_script_ok
expect_value src "$src"
expect_value copy-a ok
expect_value copy-b ok
[ "$(kt_sha "$img" 0 16)" = "$src_a" ] || fail "MiB 0-15 of the image are not the guest's copy of MiB 32-47"
[ "$(kt_sha "$img" 16 16)" = "$src_b" ] || fail "MiB 16-31 of the image are not the guest's copy of MiB 48-63"
[ "$(kt_sha "$img" 32 32)" = "$src" ] || fail "MiB 32-63 of the image changed"
expect_value dst-a "$src_a"
expect_value dst-b "$src_b"
pass
