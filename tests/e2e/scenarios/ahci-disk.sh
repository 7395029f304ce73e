#!/bin/sh
# AHCI as Linux's ahci/libata sees it, bhyve's "-s 3,ahci,hd:IMG,cd:ISO":
# the disk is sda with its size, model= and ser= (VPD page 80h); bytes cross
# it both ways (the guest reads random data the host wrote, copies it with
# direct I/O, the host finds the copy); blkdiscard (TRIM) punches a hole in
# the image that reads back as zeroes; the CD is sr0, read-only, 2048-byte
# blocks, and mounts as iso9660 with a text file and a random file whose
# sha256 the host knows. The ISO is written here byte by byte (ISO 9660 with
# one directory, two files), since neither xorriso nor genisoimage need be
# installed.
. "$(dirname "$0")/../lib.sh"

img=$KT_TMP/disk.img iso=$KT_TMP/cd.iso data=$KT_TMP/data.bin
kt_image "$img" 64
dd if=/dev/urandom of="$img" bs=1M seek=8 count=24 conv=notrunc 2>/dev/null ||
	fail "cannot write the pattern"
src=$(kt_sha "$img" 8 8)
a1=$(kt_alloc_kib "$img")
zero16=$(head -c 16777216 /dev/zero | sha256sum | cut -d' ' -f1)

# ---- A minimal ISO 9660 image: 1024 sectors of 2048 bytes ----------------------
# bytes N...: the bytes with these values.
bytes() {
	for _b; do
		printf "\\$(printf %03o "$_b")"
	done
}
le32() { bytes $(($1 & 255)) $(($1 >> 8 & 255)) $(($1 >> 16 & 255)) $(($1 >> 24 & 255)); }
be32() { bytes $(($1 >> 24 & 255)) $(($1 >> 16 & 255)) $(($1 >> 8 & 255)) $(($1 & 255)); }
both32() { le32 "$1"; be32 "$1"; }
both16() { bytes $(($1 & 255)) $(($1 >> 8 & 255)) $(($1 >> 8 & 255)) $(($1 & 255)); }
spaces() { printf "%$1s" ""; }
zeros() { head -c "$1" /dev/zero; }
# dirrec EXTENT SIZE FLAGS NAME: a directory record (NAME "\0" / "\1": . / ..).
dirrec() {
	case $4 in
	'\0' | '\1') _nl=1 ;;
	*) _nl=${#4} ;;
	esac
	_len=$((33 + _nl + (_nl + 1) % 2))
	bytes "$_len" 0
	both32 "$1"
	both32 "$2"
	bytes 126 1 1 0 0 0 0 "$3" 0 0
	both16 1
	bytes "$_nl"
	case $4 in
	'\0') bytes 0 ;;
	'\1') bytes 1 ;;
	*) printf '%s' "$4" ;;
	esac
	[ $((_nl % 2)) = 0 ] && bytes 0
	return 0
}
# put SECTOR: stdin into the image at that sector.
put() { dd of="$iso" bs=2048 seek="$1" conv=notrunc 2>/dev/null; }

hello="kt-ahci-cd-hello"
head -c 262144 /dev/urandom >"$data"
data_sha=$(sha256sum "$data" | cut -c1-64)
rm -f "$iso"
truncate -s 2M "$iso"
{ # primary volume descriptor
	bytes 1; printf CD001; bytes 1 0
	spaces 32; printf '%-32s' KTCD
	zeros 8; both32 1024; zeros 32
	both16 1; both16 1; both16 2048
	both32 10; le32 18; le32 0; be32 19; be32 0
	dirrec 20 2048 2 '\0'
	spaces 623; zeros 68; bytes 1
} | put 16
{ bytes 255; printf CD001; bytes 1; } | put 17   # terminator
{ bytes 1 0; le32 20; bytes 1 0 0 0; } | put 18  # path tables (root only)
{ bytes 1 0; be32 20; bytes 0 1 0 0; } | put 19
{
	dirrec 20 2048 2 '\0'
	dirrec 20 2048 2 '\1'
	dirrec 21 $((${#hello} + 1)) 0 'HELLO.TXT;1'
	dirrec 32 262144 0 'DATA.BIN;1'
} | put 20
echo "$hello" | put 21
put 32 <"$data"

script='i=0; while { [ ! -b /dev/sda ] || [ ! -b /dev/sr0 ]; } && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done;
s() { sha256sum | cut -c1-64; }; d=/sys/block/sda/device;
echo KT: sda=$(cat /sys/block/sda/size) ro=$(cat /sys/block/sda/ro);
echo KT: model=$(cat $d/model);
echo KT: serial=$(dd if=$d/vpd_pg80 bs=1 skip=4 2>/dev/null | tr -dc A-Za-z0-9-);
echo KT: qdepth=$(cat $d/queue_depth);
echo KT: src=$(dd if=/dev/sda bs=1M skip=8 count=8 iflag=direct 2>/dev/null | s);
dd if=/dev/sda of=/dev/sda bs=1M skip=8 count=8 oflag=direct conv=notrunc,fsync 2>/dev/null && echo KT: copy=ok;
sync; echo 3 >/proc/sys/vm/drop_caches;
echo KT: dst=$(dd if=/dev/sda bs=64k count=128 iflag=direct 2>/dev/null | s);
echo KT: discard-max=$(cat /sys/block/sda/queue/discard_max_bytes);
blkdiscard -o 16777216 -l 16777216 /dev/sda; echo KT: blkdiscard=$?; sync;
echo KT: sr0=$(cat /sys/block/sr0/size) lbs=$(cat /sys/block/sr0/queue/logical_block_size);
echo KT: sr0-write=$(dd if=/dev/zero of=/dev/sr0 bs=2048 count=1 oflag=direct 2>/dev/null && echo written || echo refused);
mount -t iso9660 -o ro /dev/sr0 /mnt && echo KT: mount=ok;
echo KT: hello=$(cat /mnt/hello.txt);
echo KT: data=$(s </mnt/data.bin);
umount /mnt'
run_script_guest 120 "$KT_TMP/console" "$script" \
	-s 3,ahci,hd:"$img",ser=KTAHCISER1,model=KT-AHCI-DISK,cd:"$iso"
expect_script_ok
expect_value sda "131072 ro=0"
expect_value model "KT-AHCI-DISK"
expect_value serial "KTAHCISER1"
qd=$(kt_value qdepth)
[ "${qd:-0}" -gt 1 ] || fail "the disk's queue depth is '$qd': no NCQ"
expect_value src "$src"
expect_value copy ok
[ "$(kt_sha "$img" 0 8)" = "$src" ] || fail "MiB 0-7 of the image are not the guest's copy of MiB 8-15"
[ "$(kt_sha "$img" 8 8)" = "$src" ] || fail "MiB 8-15 of the image changed"
expect_value dst "$src"
[ "$(kt_value discard-max)" -gt 0 ] 2>/dev/null || fail "the guest sees no TRIM (discard_max_bytes $(kt_value discard-max))"
expect_value blkdiscard 0
a2=$(kt_alloc_kib "$img")
# The guest's copy allocated MiB 0-7; its discard freed MiB 16-31.
[ "$a2" -le $((a1 + 8 * 1024 - 15 * 1024)) ] ||
	fail "copy of 8 MiB, blkdiscard of 16 MiB: allocated went from $a1 to $a2 KiB"
[ "$(kt_sha "$img" 16 16)" = "$zero16" ] || fail "MiB 16-31 do not read back as zeroes after TRIM"
expect_value sr0 "4096 lbs=2048"
expect_value sr0-write refused
expect_value mount ok
expect_value hello "$hello"
expect_value data "$data_sha"
pass
