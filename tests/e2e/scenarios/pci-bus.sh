#!/bin/sh
# The guest enumerates the PCI bus: bhyve's "-s 0,hostbridge -s 31,lpc"
# appear with their IDs and classes, config space is reached through ECAM
# (MCFG, reserved as a motherboard resource) and INTx routing comes from
# the DSDT's _PRT; no "pci=" hacks on the command line.
. "$(dirname "$0")/../lib.sh"

script='for d in /sys/bus/pci/devices/*; do echo KT: pcidev ${d##*/} $(cat $d/vendor) $(cat $d/device) $(cat $d/class); done; dmesg | grep -i -e ecam -e mmconfig -e config.space -e _PRT -e PCI:.Using -e root.bus.resource | sed s/^/KT:_dmesg_/'
run_khyve 60 "$KT_TMP/console" -m 256M -c 1 -s 0,hostbridge -s 5,virtio-rnd -s 6,amd_hostbridge -s 31,lpc -l com1,stdio \
	-o boot.kernel="$GUEST_KERNEL" -o boot.initrd="$GUEST_INITRD" \
	-o "boot.cmdline=$GUEST_CONSOLE kt.action=script kt.script=\"$script\"" "$(vm_name)"
expect_exit 1
expect_guest_sane
expect_log '^KT: pcidev 0000:00:00.0 0x1275 0x1275 0x060000'
expect_log '^KT: pcidev 0000:00:1f.0 0x8086 0x7000 0x060100'
# virtio-rnd, transitional: the legacy entropy ID.
expect_log '^KT: pcidev 0000:00:05.0 0x1af4 0x1005 0xff0000'
expect_log '^KT: pcidev 0000:00:06.0 0x1022 0x7432 0x060000'
expect_no_log '^KT: pcidev 0000:00:0[1-47-9]'
expect_no_log 'No config space access function found'
# Linux trusts the MCFG only when the area is reserved; then uses ECAM. It
# covers bus 0 alone (the one there is): with 256 buses Linux probed 8160
# absent devices on buses 1-255 for peer host bridges at every boot.
expect_log 'KT:_dmesg_.*MMCONFIG for domain 0000 \[bus 00-00\] at \[mem 0xe0000000-0xe00fffff\]'
expect_log 'KT:_dmesg_.*MMCONFIG at \[mem 0xe0000000-0xe00fffff\] reserved'
# The host bridge windows from the DSDT's _CRS.
expect_log 'KT:_dmesg_.*root bus resource \[mem 0xc0000000-0xdfffffff window\]'
expect_log 'KT:_dmesg_.*root bus resource \[bus 00\]'
expect_log 'KT:_dmesg_.*PCI: Using ACPI for IRQ routing'
pass
