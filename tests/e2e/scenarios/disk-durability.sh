#!/bin/sh
# A write the guest saw completed and flushed is in the image even if the
# VMM is killed (SIGKILL) right after. In each of DURABILITY_BOOTS boots
# (default 4) the guest writes 4 KiB blocks "kt-dur B I" one after the other,
# each with fsync (virtio-blk FLUSH), and prints "KT: done B I" after each;
# once DURABILITY_ROUNDS (default 5) are reported, more at each boot, the
# scenario kills the VMM while the guest is still writing. Then every block
# the guest reported done (in this boot and all before) must be in the
# image. At least DURABILITY_BOOTS x DURABILITY_ROUNDS (20) checked writes,
# DURABILITY_BOOTS kills mid-stream.
# e2e-weight: 4 (guest boots)
. "$(dirname "$0")/../lib.sh"

BOOTS=${DURABILITY_BOOTS:-4}
ROUNDS=${DURABILITY_ROUNDS:-5}
img=$KT_TMP/disk.img
kt_image "$img" 16
# Block of boot B, round I: 4 KiB block number B * 512 + I (I < 512).
: >"$KT_TMP/done"
b=1
while [ $b -le "$BOOTS" ]; do
	want=$((ROUNDS + b - 1))
	script="i=0; while [ \$i -lt 500 ]; do
printf 'kt-dur %d %d\\n' $b \$i | dd of=/dev/vda bs=4096 seek=\$(($b * 512 + i)) conv=sync,notrunc,fsync 2>/dev/null || break;
echo KT: done $b \$i; i=\$((i + 1)); done; echo KT: stopped $b \$i"
	KT_VM=$b start_script_guest 90 "$KT_TMP/console-$b" "$script" -s 4,virtio-blk,"$img"
	if ! wait_log "^KT: done $b $((want - 1))\$" 80; then
		wait_khyve
		fail "boot $b: the guest did not report $want writes done"
	fi
	kill -KILL "$VM_PID"
	wait_khyve
	[ "$KHYVE_TIMEDOUT" = 1 ] && fail "boot $b: $VMM timed out"
	expect_no_log "^KT: stopped $b "
	# awk, not sed: the kill may cut the last line before its newline, and
	# sed would then leave the next boot's first entry glued to it.
	tr -d '\r' <"$VM_LOG" |
		awk -v b="$b" '$1 == "KT:" && $2 == "done" && $3 == b && $4 ~ /^[0-9]+$/ && NF == 4 { print b, $4 }' \
		>>"$KT_TMP/done"
	_kt_info "boot $b: killed after $(grep -c "^$b " "$KT_TMP/done") acknowledged writes"
	# Every acknowledged write so far, this boot's and the earlier ones'.
	while read -r bb ii; do
		got=$(dd if="$img" bs=4096 skip=$((bb * 512 + ii)) count=1 2>/dev/null | head -n1)
		[ "$got" = "kt-dur $bb $ii" ] ||
			fail "boot $b: block of write $bb/$ii holds '$got' after the kill, expected 'kt-dur $bb $ii'"
	done <"$KT_TMP/done"
	b=$((b + 1))
done
n=$(wc -l <"$KT_TMP/done")
[ "$n" -ge $((BOOTS * ROUNDS)) ] || fail "only $n writes checked"
_kt_info "$n acknowledged writes found in the image after $BOOTS kills"
pass
