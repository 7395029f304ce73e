#!/bin/sh
# khyvectl --force-poweroff stops the VM at once (khyve exits 1, powered
# off, without the guest's shutdown); --force-reset exits 0 (rebooted),
# as bhyve does after bhyvectl's vm_suspend. A name is free again as soon
# as khyvectl returns.
# e2e-weight: 2 (guest boots)
. "$(dirname "$0")/../lib.sh"

[ "$VMM" = qemu ] && skip "khyvectl talks to khyve only"
KHYVECTL=${KHYVECTL:-$(dirname "$KHYVE")/khyvectl}
[ -x "$KHYVECTL" ] || fail "no khyvectl binary at $KHYVECTL"
export KHYVE_RUNDIR=$KT_TMP/run

boot_waiting() {
	start_khyve 240 "$KT_TMP/$1" -m 256M -c 1 -l com1,stdio \
		-o boot.kernel="$GUEST_KERNEL" -o boot.initrd="$GUEST_INITRD" \
		-o "boot.cmdline=$GUEST_CONSOLE kt.action=wait" "$(vm_name)"
	wait_log '^KT: waiting' 120 || { wait_khyve; fail "$1: guest never reported KT: waiting"; }
}

boot_waiting poweroff
"$KHYVECTL" --vm="$(vm_name)" --force-poweroff || fail "--force-poweroff exited $?"
wait_khyve
expect_exit 1
expect_no_log 'reboot: Power down' # forced: the guest did not shut down itself

boot_waiting reset
"$KHYVECTL" --vm="$(vm_name)" --force-reset || fail "--force-reset exited $?"
wait_khyve
expect_exit 0
pass
