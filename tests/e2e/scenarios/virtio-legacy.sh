#!/bin/sh
# Transitional virtio devices through their legacy interface: the guest is
# booted with virtio_pci.force_legacy=1, so its drivers behave as pre-1.0
# ones do (FreeBSD 12, Linux 3.x): I/O BAR 0, no VERSION_1 on any device.
#   - the four devices are transitional (0x1000 twice, 0x1001, 0x1005;
#     revision 0) and none negotiated VERSION_1;
#   - virtio-blk: the guest copies 8 MiB within the disk (the host checks
#     the bytes) and reads them back;
#   - virtio-net on slirp (khyve moves the frames): a DHCP lease, then a
#     1 MiB file fetched from an HTTP server on this host, intact;
#   - virtio-net on a tap (with /dev/vhost-net, as in the testbed, the
#     kernel's vhost worker moves them, on the legacy driver's rings): the
#     same file from the host's bridge address, intact;
#   - virtio-rnd: 4 KiB from /dev/hwrng.
# e2e-needs: net
. "$(dirname "$0")/../lib.sh"
br=ktbr$$
tap=tap$$
kt_bridge "$br" 10.98.0.1/24
kt_tap "$tap" "$br"

img=$KT_TMP/disk.img
kt_image "$img" 16
dd if=/dev/urandom of="$img" bs=1M seek=8 count=8 conv=notrunc 2>/dev/null || fail "cannot fill the image"
src=$(kt_sha "$img" 8 8)

port=$((20000 + $$ % 10000))
mkdir -p "$KT_TMP/www"
dd if=/dev/urandom of="$KT_TMP/www/blob" bs=1M count=1 2>/dev/null || fail "cannot make the file"
want=$(kt_sha "$KT_TMP/www/blob")
busybox httpd -f -p "127.0.0.1:$port" -h "$KT_TMP/www" &
_kt_all_pids="$_kt_all_pids $!"
busybox httpd -f -p "10.98.0.1:$port" -h "$KT_TMP/www" &
_kt_all_pids="$_kt_all_pids $!"

script="echo KT: force_legacy=\$(cat /sys/module/virtio_pci/parameters/force_legacy);
echo KT: ids=\$(cat /sys/bus/pci/devices/*/uevent | sed -n 's/^PCI_ID=1AF4://p' | sort | tr '\n' ' ');
echo KT: revs=\$(for d in /sys/bus/pci/devices/*; do [ \$(cat \$d/vendor) = 0x1af4 ] && cat \$d/revision; done | sort -u);
echo KT: version1=\$(for f in /sys/bus/virtio/devices/*/features; do cut -c33 \$f; done | tr -d '\n');
dd if=/dev/vda of=/dev/vda bs=1M skip=8 count=8 oflag=direct conv=notrunc,fsync 2>/dev/null; echo KT: copy=\$?;
echo KT: back=\$(dd if=/dev/vda bs=1M count=8 iflag=direct 2>/dev/null | sha256sum | cut -c1-64);
ip link set eth0 up; timeout 60 udhcpc -i eth0 -n -q -t 5 -T 3 >/tmp/dhcp.log 2>&1; echo KT: udhcpc=\$?;
timeout 60 wget -q -O /tmp/blob http://10.0.2.2:$port/blob; echo KT: wget=\$?;
echo KT: sha=\$(sha256sum </tmp/blob | cut -c1-64);
ip link set eth1 up; ip addr add 10.98.0.2/24 dev eth1;
timeout 60 wget -q -O /tmp/blob2 http://10.98.0.1:$port/blob; echo KT: tap-wget=\$?;
echo KT: tap-sha=\$(sha256sum </tmp/blob2 | cut -c1-64); sleep 3;
echo KT: rng=\$(timeout 30 head -c 4096 /dev/hwrng | wc -c);"
KT_CMDLINE_EXTRA=virtio_pci.force_legacy=1 start_script_guest 120 "$KT_TMP/console" "$script" \
	-s 4,virtio-blk,"$img" -s 3,virtio-net,slirp -s 5,virtio-rnd -s 6,virtio-net,"$tap"
vhost=none
if wait_log '^KT: tap-sha=' 110 && [ -c /dev/vhost-net ]; then
	vhost=no
	kt_vhost_worker "$VM_PID" && vhost=yes
fi
wait_khyve
expect_script_ok
expect_value force_legacy Y
expect_value ids "1000 1000 1001 1005"
expect_value revs 0x00
expect_value version1 0000
expect_value copy 0
[ "$(kt_sha "$img" 0 8)" = "$src" ] || fail "MiB 0-7 of the image are not the guest's copy"
expect_value back "$src"
expect_value udhcpc 0
expect_value wget 0
expect_value sha "$want"
expect_value tap-wget 0
expect_value tap-sha "$want"
[ "$vhost" != no ] || fail "/dev/vhost-net exists but khyve (pid $VM_PID) has no vhost worker"
_kt_info "vhost-net worker: $vhost"
expect_value rng 4096
pass
