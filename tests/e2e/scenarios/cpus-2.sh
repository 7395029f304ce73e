#!/bin/sh
# -c 2: the guest sees two CPUs.
# e2e-pin: yes
. "$(dirname "$0")/../lib.sh"

run_khyve 60 "$KT_TMP/console" -m 256M -c 2 -l com1,stdio \
	-o boot.kernel="$GUEST_KERNEL" -o boot.initrd="$GUEST_INITRD" \
	-o "boot.cmdline=$GUEST_CONSOLE kt.action=poweroff" "$(vm_name)"
expect_exit 1
expect_guest_sane
expect_value nproc 2
expect_value online 0-1
pass
