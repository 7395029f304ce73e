#!/bin/sh
# virtio-blk as the guest sees it: three disks (64 MiB with 512-byte sectors,
# 32 MiB with 4096-byte sectors, 16 MiB with 512/4096 and nodelete), each
# found by its serial (ser=) with its size in 512-byte units, logical and
# physical block sizes (sectorsize=), read-only flag 0, discard offered
# unless nodelete; and the first bytes the host put on each disk.
. "$(dirname "$0")/../lib.sh"

img1=$KT_TMP/a.img img2=$KT_TMP/b.img img3=$KT_TMP/c.img
kt_image "$img1" 64
kt_image "$img2" 32
kt_image "$img3" 16
for i in 1 2 3; do
	eval "f=\$img$i"
	printf 'kt-basic-marker-%s\n' "$i" | dd of="$f" conv=notrunc 2>/dev/null
done
# Per disk: serial, size, block sizes, ro, discard_max_bytes, first line.
script='for b in /sys/block/vd*; do d=${b##*/}; q=$b/queue;
echo KT: disk $(cat $b/serial) size=$(cat $b/size) lbs=$(cat $q/logical_block_size) pbs=$(cat $q/physical_block_size) ro=$(cat $b/ro) discard=$(cat $q/discard_max_bytes) head=$(head -n1 /dev/$d); done'
run_script_guest 60 "$KT_TMP/console" "$script" \
	-s 4,virtio-blk,"$img1",ser=KTBASIC1 \
	-s 5,virtio-blk,"$img2",ser=KTBASIC2,sectorsize=4096 \
	-s 6,virtio-blk,"$img3",ser=KTBASIC3,sectorsize=512/4096,nodelete
expect_script_ok
expect_value block "vda:131072 vdb:65536 vdc:32768"
# check SERIAL EXPECTED DISCARD: the guest's line about the disk, discard
# (discard_max_bytes) "yes" for > 0, "no" for 0.
check() {
	_got=$(tr -d '\r' <"$VM_LOG" | sed -n "s/^KT: disk $1 //p")
	_dis=$(echo "$_got" | sed -n 's/.* discard=\([0-9]*\) .*/\1/p')
	_got=$(echo "$_got" | sed 's/ discard=[0-9]* / /')
	[ "$_got" = "$2" ] || fail "disk $1: guest sees '$_got', expected '$2'"
	case $3:$_dis in
	yes:0 | yes: | no:[1-9]*) fail "disk $1: discard_max_bytes=$_dis, expected discard $3" ;;
	esac
}
check KTBASIC1 "size=131072 lbs=512 pbs=512 ro=0 head=kt-basic-marker-1" yes
check KTBASIC2 "size=65536 lbs=4096 pbs=4096 ro=0 head=kt-basic-marker-2" yes
check KTBASIC3 "size=32768 lbs=512 pbs=4096 ro=0 head=kt-basic-marker-3" no
pass
