#!/bin/sh
# reboot=t makes Linux reset by triple fault (it loads an empty IDT and
# raises an exception): khyve exits 3.
. "$(dirname "$0")/../lib.sh"

run_khyve 60 "$KT_TMP/console" -m 256M -c 1 -l com1,stdio \
	-o boot.kernel="$GUEST_KERNEL" -o boot.initrd="$GUEST_INITRD" \
	-o "boot.cmdline=$GUEST_CONSOLE reboot=t kt.action=reboot" "$(vm_name)"
expect_exit 3
expect_guest_sane
expect_log '^KT: action=reboot'
expect_log 'reboot: Restarting system'
pass
