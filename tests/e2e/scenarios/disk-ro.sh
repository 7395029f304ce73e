#!/bin/sh
# virtio-blk with ,ro: the guest sees a read-only disk (/sys/block/vda/ro 1)
# whose contents it can read, its writes fail, and the image is unchanged.
. "$(dirname "$0")/../lib.sh"

img=$KT_TMP/disk.img
kt_image "$img" 16
dd if=/dev/urandom of="$img" bs=1M count=4 conv=notrunc 2>/dev/null || fail "cannot fill the image"
before=$(kt_sha "$img")
head=$(kt_sha "$img" 0 4)
script='echo KT: ro=$(cat /sys/block/vda/ro);
echo KT: read=$(dd if=/dev/vda bs=1M count=4 iflag=direct 2>/dev/null | sha256sum | cut -c1-64);
dd if=/dev/zero of=/dev/vda bs=4096 count=1 oflag=direct conv=notrunc,fsync 2>/tmp/e; echo KT: write-direct=$? $(head -n1 /tmp/e);
dd if=/dev/zero of=/dev/vda bs=4096 seek=1 count=1 conv=notrunc,fsync 2>/tmp/e; echo KT: write-buffered=$? $(head -n1 /tmp/e);
sync'
run_script_guest 60 "$KT_TMP/console" "$script" -s 4,virtio-blk,"$img",ro
expect_script_ok
expect_value ro 1
expect_value read "$head"
for w in write-direct write-buffered; do
	case $(kt_value $w) in
	0*) fail "the guest's $w write to the read-only disk succeeded" ;;
	"") fail "the guest did not report its $w write" ;;
	esac
	_kt_info "$w: $(kt_value $w)"
done
[ "$(kt_sha "$img")" = "$before" ] || fail "the read-only image changed"
pass
