#!/bin/sh
# A VM name is in use while that VM runs: a second khyve with the same name
# exits 4 with an error naming it; the first one carries on.
. "$(dirname "$0")/../lib.sh"

[ "$VMM" = qemu ] && skip "QEMU has no notion of a VM name in use"

name=$(vm_name)
start_khyve 120 "$KT_TMP/first" -m 256M -c 1 -l com1,stdio \
	-o boot.kernel="$GUEST_KERNEL" -o boot.initrd="$GUEST_INITRD" \
	-o "boot.cmdline=$GUEST_CONSOLE kt.action=wait" "$name"
first_pid=$VM_PID first_wd=$VM_WD first_log=$VM_LOG
wait_log '^KT: waiting' 60 || { wait_khyve; fail "first guest never reported KT: waiting"; }

run_khyve 15 "$KT_TMP/second" -m 256M -c 1 -l com1,stdio \
	-o boot.kernel="$GUEST_KERNEL" -o boot.initrd="$GUEST_INITRD" \
	-o "boot.cmdline=$GUEST_CONSOLE kt.action=poweroff" "$name"
second_rc=$KHYVE_RC second_to=$KHYVE_TIMEDOUT
second_err=$(cat "$VM_LOG.err")
expect_no_log '^KT: init-start'
[ "$second_to" = 0 ] || fail "second khyve with the same name did not exit"
[ "$second_rc" = 4 ] || fail "second khyve with the same name exited $second_rc, expected 4"
case $second_err in
*"$name"*) _kt_info "second khyve: $second_err" ;;
*) fail "second khyve's error does not name the VM: $second_err" ;;
esac

_kt_alive "$first_pid" || fail "first khyve died"
power_button "$first_pid"
wait_khyve "$first_pid" "$first_wd" "$first_log"
expect_exit 1
expect_log 'reboot: Power down'
pass
