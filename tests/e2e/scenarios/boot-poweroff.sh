#!/bin/sh
# Boot the test guest, which reports and powers off: khyve exits 1.
. "$(dirname "$0")/../lib.sh"

run_khyve 60 "$KT_TMP/console" -m 256M -c 1 -l com1,stdio \
	-o boot.kernel="$GUEST_KERNEL" -o boot.initrd="$GUEST_INITRD" \
	-o "boot.cmdline=$GUEST_CONSOLE kt.action=poweroff" "$(vm_name)"
expect_exit 1
expect_guest_sane
expect_log '^KT: nproc=1$'
expect_log '^KT: action=poweroff'
expect_log 'reboot: Power down'
pass
