#!/bin/sh
# The guest reboots (reboot -f, Linux's default reset method): khyve exits 0.
. "$(dirname "$0")/../lib.sh"

run_khyve 60 "$KT_TMP/console" -m 256M -c 1 -l com1,stdio \
	-o boot.kernel="$GUEST_KERNEL" -o boot.initrd="$GUEST_INITRD" \
	-o "boot.cmdline=$GUEST_CONSOLE kt.action=reboot" "$(vm_name)"
expect_exit 0
expect_guest_sane
expect_log '^KT: action=reboot'
expect_log 'reboot: Restarting system'
# khyve must not boot the guest a second time.
[ "$(tr -d '\r' <"$VM_LOG" | grep -c '^KT: init-start')" = 1 ] || fail "guest booted more than once"
pass
