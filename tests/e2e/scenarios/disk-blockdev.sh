#!/bin/sh
# A block device as the backend (a loop device on the host) works like an
# image file: the guest sees its size, reads what the host wrote to it and
# writes what the host then reads back.
. "$(dirname "$0")/../lib.sh"

back=$KT_TMP/back.img
kt_image "$back" 32
dev=$(losetup -f) || fail "no free loop device"
losetup "$dev" "$back" || fail "losetup $dev $back failed"
kt_on_exit "losetup -d $dev 2>/dev/null"
[ -b "$dev" ] || fail "$dev is not a block device"
dd if=/dev/urandom of="$dev" bs=1M seek=16 count=8 2>/dev/null && sync || fail "cannot write to $dev"
src=$(kt_sha "$dev" 16 8)
script='echo KT: src=$(dd if=/dev/vda bs=1M skip=16 count=8 iflag=direct 2>/dev/null | sha256sum | cut -c1-64);
dd if=/dev/vda of=/dev/vda bs=1M skip=16 count=8 oflag=direct conv=notrunc,fsync 2>/dev/null; echo KT: copy=$?'
run_script_guest 60 "$KT_TMP/console" "$script" -s 4,virtio-blk,"$dev"
expect_script_ok
expect_value block "vda:65536"
expect_value src "$src"
expect_value copy 0
[ "$(kt_sha "$dev" 0 8)" = "$src" ] || fail "MiB 0-7 of $dev are not the guest's copy"
losetup -d "$dev"
[ "$(kt_sha "$back" 0 8)" = "$src" ] || fail "MiB 0-7 of the loop device's file are not the guest's copy"
pass
