#!/bin/sh
# A file system on virtio-blk: the guest makes ext4 on /dev/vda, mounts it,
# copies files onto it (busybox, mke2fs, the kernel modules), checks their
# sha256 against the originals, unmounts. The host then finds the file
# system clean (e2fsck -fn) and busybox on it byte for byte (debugfs); a
# second boot mounts it again and finds every file as written.
# e2e-weight: 2 (guest boots)
. "$(dirname "$0")/../lib.sh"

img=$KT_TMP/disk.img
kt_image "$img" 64
run_script_guest 120 "$KT_TMP/console-1" \
	'mkfs.ext4 -q -F -L ktext4 /dev/vda; echo KT: mkfs=$?;
mount -t ext4 /dev/vda /mnt || exit 1;
cp /bin/busybox /sbin/mke2fs /mnt/ && cp -r /lib/modules /mnt/ && echo KT: copied=yes;
cd /mnt && find busybox mke2fs modules -type f | sort | xargs sha256sum >SUMS;
echo KT: files=$(wc -l <SUMS);
cd /; echo 3 >/proc/sys/vm/drop_caches;
(cd / && sed s,modules/,lib/modules/, /mnt/SUMS | sed s,busybox,bin/busybox, | sed s,mke2fs,sbin/mke2fs, | sha256sum -c -s) && echo KT: sums=match;
umount /mnt; echo KT: umount=$?' \
	-s 4,virtio-blk,"$img"
expect_script_ok
expect_value mkfs 0
expect_value copied yes
expect_value sums match
expect_value umount 0
nfiles=$(kt_value files)
[ "${nfiles:-0}" -gt 10 ] || fail "the guest copied only '$nfiles' files"
fsck=$(e2fsck -fn "$img" 2>&1); rc=$?
[ $rc = 0 ] || { echo "$fsck" | tail -n 10 | sed 's/^/  e2fsck: /'; fail "e2fsck -fn exited $rc: the guest's ext4 is not clean"; }
bb=$(debugfs -R 'cat /busybox' "$img" 2>/dev/null | sha256sum | cut -d' ' -f1)
[ "$bb" = "$(kt_sha /bin/busybox)" ] || fail "busybox read back from the image by debugfs differs from the original"

run_script_guest 90 "$KT_TMP/console-2" \
	'mount -t ext4 -o ro /dev/vda /mnt || exit 1; cd /mnt && sha256sum -c -s SUMS && echo KT: sums2=match;
cd /; umount /mnt' \
	-s 4,virtio-blk,"$img"
expect_script_ok
expect_value sums2 match
_kt_info "$nfiles files written, checked by the guest twice and by e2fsck on the host"
pass
