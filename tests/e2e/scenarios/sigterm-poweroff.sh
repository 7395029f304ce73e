#!/bin/sh
# SIGTERM to khyve presses the ACPI power button (as bhyve does); the guest's
# acpid powers it off cleanly and khyve exits 1.
. "$(dirname "$0")/../lib.sh"

start_khyve 90 "$KT_TMP/console" -m 256M -c 1 -l com1,stdio \
	-o boot.kernel="$GUEST_KERNEL" -o boot.initrd="$GUEST_INITRD" \
	-o "boot.cmdline=$GUEST_CONSOLE kt.action=wait" "$(vm_name)"
wait_log '^KT: waiting' 60 || { wait_khyve; fail "guest never reported KT: waiting"; }
expect_log '^KT: acpid=started'
# acpid has just been started; give it a moment to open the input devices.
sleep 1
power_button
wait_khyve
expect_exit 1
expect_log '^KT: power-button'
expect_log 'reboot: Power down'
pass
