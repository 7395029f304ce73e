#!/bin/sh
# Discard reaches the image: space the guest frees is given back to the
# host's file system (a sparse image's allocated blocks drop). Three boots
# on a 64 MiB sparse image: (1) the guest writes 32 MiB; (2) blkdiscard of
# the first 16 MiB: about 16 MiB fewer allocated, the next 16 MiB intact;
# (3) ext4 (made without discard), a 24 MiB file written and removed, then
# fstrim: the image ends up with less allocated than that file alone.
# e2e-weight: 3 (guest boots)
. "$(dirname "$0")/../lib.sh"

img=$KT_TMP/disk.img
kt_image "$img" 64
MiB=1024
run_script_guest 60 "$KT_TMP/console-1" \
	'echo KT: discard-max=$(cat /sys/block/vda/queue/discard_max_bytes);
yes kt-discard | dd of=/dev/vda bs=1M count=32 iflag=fullblock conv=notrunc,fsync 2>/dev/null; echo KT: wrote=$?' \
	-s 4,virtio-blk,"$img"
expect_script_ok
expect_value wrote 0
[ "$(kt_value discard-max)" -gt 0 ] 2>/dev/null || fail "the guest sees no discard support (discard_max_bytes $(kt_value discard-max))"
a1=$(kt_alloc_kib "$img")
_kt_info "after writing 32 MiB: $((a1 / MiB)) MiB allocated"
[ "$a1" -ge $((32 * MiB)) ] || fail "only $a1 KiB allocated after the guest wrote 32 MiB"
keep=$(kt_sha "$img" 16 16)

run_script_guest 60 "$KT_TMP/console-2" \
	'blkdiscard -o 0 -l 16777216 /dev/vda; echo KT: blkdiscard=$?; sync' \
	-s 4,virtio-blk,"$img"
expect_script_ok
expect_value blkdiscard 0
a2=$(kt_alloc_kib "$img")
_kt_info "after blkdiscard of 16 MiB: $((a2 / MiB)) MiB allocated"
[ "$a2" -le $((a1 - 15 * MiB)) ] || fail "blkdiscard of 16 MiB: allocated went from $a1 to $a2 KiB only"
[ "$(kt_sha "$img" 16 16)" = "$keep" ] || fail "MiB 16-31, not discarded, changed"

run_script_guest 120 "$KT_TMP/console-3" \
	'mkfs.ext4 -q -F -E nodiscard /dev/vda && mount -t ext4 /dev/vda /mnt && echo KT: mounted=yes;
yes kt-fstrim | dd of=/mnt/f bs=1M count=24 iflag=fullblock conv=fsync 2>/dev/null;
echo KT: file=$(stat -c %s /mnt/f); rm /mnt/f; sync;
fstrim -v /mnt; echo KT: fstrim=$?; umount /mnt; echo KT: umount=$?' \
	-s 4,virtio-blk,"$img"
expect_script_ok
expect_value mounted yes
expect_value file $((24 * 1024 * 1024))
expect_value fstrim 0
expect_value umount 0
a3=$(kt_alloc_kib "$img")
_kt_info "ext4, 24 MiB file written and removed, fstrim: $((a3 / MiB)) MiB allocated"
[ "$a3" -lt $((24 * MiB)) ] || fail "after fstrim $a3 KiB are still allocated (the removed file alone was 24 MiB)"
pass
