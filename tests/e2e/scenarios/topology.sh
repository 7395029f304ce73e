#!/bin/sh
# -c cpus=4,sockets=2,cores=2,threads=1: two packages of two cores each,
# one thread per core.
# e2e-pin: yes
. "$(dirname "$0")/../lib.sh"

run_khyve 60 "$KT_TMP/console" -m 256M -c cpus=4,sockets=2,cores=2,threads=1 -l com1,stdio \
	-o boot.kernel="$GUEST_KERNEL" -o boot.initrd="$GUEST_INITRD" \
	-o "boot.cmdline=$GUEST_CONSOLE kt.action=poweroff" "$(vm_name)"
expect_exit 1
expect_guest_sane
expect_value nproc 4
expect_value packages 2
expect_value cores_per_package "2 2"
expect_value threads_per_core 1
pass
