#!/bin/sh
# boot.pvh=false: the bzImage boot protocol (the guest decompresses itself),
# which PVH otherwise replaces; the guest reports and powers off: khyve exits 1.
. "$(dirname "$0")/../lib.sh"

[ "$VMM" = qemu ] && skip "boot.pvh is a khyve option"
export KHYVE_TRACE_STARTUP=1 # khyve says which boot path it took
run_khyve 60 "$KT_TMP/console" -m 256M -c 1 -l com1,stdio \
	-o boot.kernel="$GUEST_KERNEL" -o boot.initrd="$GUEST_INITRD" -o boot.pvh=false \
	-o "boot.cmdline=$GUEST_CONSOLE kt.action=poweroff" "$(vm_name)"
expect_exit 1
expect_guest_sane
expect_log '^KT: nproc=1$'
expect_log '^KT: action=poweroff'
expect_log 'reboot: Power down'
expect_log '^khyve: boot: bzImage protocol \(boot.pvh is false\)' "$VM_LOG.err"
pass
