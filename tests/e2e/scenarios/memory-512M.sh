#!/bin/sh
# -m 512M: the guest's MemTotal is in (400, 512] MiB (the kernel keeps some).
. "$(dirname "$0")/../lib.sh"

run_khyve 60 "$KT_TMP/console" -m 512M -c 1 -l com1,stdio \
	-o boot.kernel="$GUEST_KERNEL" -o boot.initrd="$GUEST_INITRD" \
	-o "boot.cmdline=$GUEST_CONSOLE kt.action=poweroff" "$(vm_name)"
expect_exit 1
expect_guest_sane
kb=$(kt_value memtotal_kb)
case $kb in '' | *[!0-9]*) fail "guest reported no MemTotal" ;; esac
[ "$kb" -gt $((400 * 1024)) ] && [ "$kb" -le $((512 * 1024)) ] ||
	fail "MemTotal $kb kB not in (400, 512] MiB"
pass
