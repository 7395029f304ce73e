#!/bin/sh
# Malformed command lines: khyve exits 4 and says why in exactly one line
# on stderr, without starting a guest.
. "$(dirname "$0")/../lib.sh"

[ "$VMM" = qemu ] && skip "khyve's option parsing; nothing to compare with QEMU"

k="-o boot.kernel=$GUEST_KERNEL"
i="-o boot.initrd=$GUEST_INITRD"
n=0
# check ARGS...: run khyve with ARGS; expect status 4 and one stderr line.
check() {
	n=$((n + 1))
	run_khyve 15 "$KT_TMP/bad$n" "$@"
	_args="$*"
	if [ "$KHYVE_TIMEDOUT" = 1 ]; then
		fail "khyve $_args: still running after the timeout"
	fi
	[ "$KHYVE_RC" = 4 ] || fail "khyve $_args: exit status $KHYVE_RC, expected 4"
	_lines=$(wc -l <"$VM_LOG.err")
	[ "$_lines" = 1 ] || fail "khyve $_args: $_lines lines on stderr, expected 1"
	_kt_info "khyve $_args: $(cat "$VM_LOG.err")"
}
check -m 256M -c 1 -l com1,stdio $k $i				# no VM name
check -m 12Q -c 1 -l com1,stdio $k $i "$(vm_name)"		# bad size
check -m 256M -c 0 -l com1,stdio $k $i "$(vm_name)"		# no CPUs
check -m 256M -c cpus=4,sockets=3,cores=2,threads=1 $k $i "$(vm_name)"	# 4 != 3*2*1
check -m 256M -c 1 -Z -l com1,stdio $k $i "$(vm_name)"		# unknown option
check -m 256M -c 1 -l com1,stdio -o boot.kernel="$KT_TMP/no-such-kernel" $i "$(vm_name)"	# missing kernel
check -m 256M -c 1 -l com1,stdio $k -o boot.initrd="$KT_TMP/no-such-initrd" "$(vm_name)"	# missing initrd
check -m 256M -c 1 -l com1,stdio -s 4,virtio-rnd,notify=bogus $k $i "$(vm_name)"	# bad virtio option
pass
