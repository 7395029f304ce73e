# The SIGKILL durability test of disk-durability.sh and ahci-durability.sh
# (sourced by them after lib.sh): durability_test EMULATION GUEST_DEVICE,
# e.g. "virtio-blk /dev/vda" or "ahci-hd /dev/sda". See disk-durability.sh
# for what it checks.

durability_test() { # EMULATION GUEST_DEVICE
	BOOTS=${DURABILITY_BOOTS:-4}
	ROUNDS=${DURABILITY_ROUNDS:-5}
	img=$KT_TMP/disk.img
	# Boot B writes from MiB 2B on (below): room for every boot.
	kt_image "$img" $((2 * BOOTS + 4))
	# check_writes WHEN PATTERN: every acknowledged write in $KT_TMP/done whose
	# line matches PATTERN holds its text in the image.
	check_writes() {
		grep "$2" "$KT_TMP/done" | while read -r bb ii; do
			got=$(dd if="$img" bs=4096 skip=$((bb * 512 + ii)) count=1 2>/dev/null | head -n1)
			[ "$got" = "kt-dur $bb $ii" ] || {
				echo "$1: block of write $bb/$ii holds '$got' after the kill, expected 'kt-dur $bb $ii'"
				exit 1 # (the loop is a subshell)
			}
		done >"$KT_TMP/bad" || fail "$(cat "$KT_TMP/bad")"
	}

	# Block of boot B, round I: 4 KiB block number B * 512 + I (I < 512).
	: >"$KT_TMP/done"
	b=1
	while [ $b -le "$BOOTS" ]; do
		want=$((ROUNDS + (b - 1) % 4))
		script="i=0; while [ \$i -lt 500 ]; do
printf 'kt-dur %d %d\\n' $b \$i | dd of=$2 bs=4096 seek=\$(($b * 512 + i)) conv=sync,notrunc,fsync 2>/dev/null || break;
echo KT: done $b \$i; i=\$((i + 1)); done; echo KT: stopped $b \$i"
		KT_VM=$b start_script_guest 90 "$KT_TMP/console-$b" "$script" -s 4,"$1","$img"
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
		check_writes "boot $b" "^$b "
		b=$((b + 1))
	done
	# And nothing a later boot did undid an earlier one's.
	check_writes "after boot $BOOTS" .
	n=$(wc -l <"$KT_TMP/done")
	[ "$n" -ge $((BOOTS * ROUNDS)) ] || fail "only $n writes checked"
	_kt_info "$n acknowledged writes found in the image after $BOOTS kills"
}
