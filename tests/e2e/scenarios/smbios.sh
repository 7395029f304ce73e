#!/bin/sh
# SMBIOS on a direct kernel boot: Linux finds khyve's tables in the 0xF0000
# segment and shows -U's UUID and bhyve's system.* strings in
# /sys/class/dmi/id; without -U the UUID is, as bhyve's, a digest of the
# VM and host names (here an RFC 4122 version 3 one), the same at every boot.
# e2e-weight: 2
. "$(dirname "$0")/../lib.sh"

uuid=6a5f1c2e-0b7d-4e39-9c1a-2f4b8d6e0a13
run_khyve 60 "$KT_TMP/console" -m 256M -c 1 -U "$uuid" -o "system.product_name=Test Box" \
	-o system.manufacturer=Acme -l com1,stdio \
	-o boot.kernel="$GUEST_KERNEL" -o boot.initrd="$GUEST_INITRD" \
	-o "boot.cmdline=$GUEST_CONSOLE kt.action=poweroff" "$(vm_name)"
expect_exit 1
expect_guest_sane
expect_value dmi "$uuid|Acme|Test Box|khyve"

name=$(vm_name)-default
run_khyve 60 "$KT_TMP/console2" -m 256M -c 1 -l com1,stdio \
	-o boot.kernel="$GUEST_KERNEL" -o boot.initrd="$GUEST_INITRD" \
	-o "boot.cmdline=$GUEST_CONSOLE kt.action=poweroff" "$name"
expect_exit 1
d=$(printf '%s%s' "$name" "$(hostname)" | md5sum | cut -c1-32)
variant=$(printf '%x' $(( (0x$(echo "$d" | cut -c17) & 3) | 8 )))
want=$(echo "$d" | cut -c1-8)-$(echo "$d" | cut -c9-12)-3$(echo "$d" | cut -c14-16)-$variant$(echo "$d" | cut -c18-20)-$(echo "$d" | cut -c21-32)
expect_value dmi "$want|khyve|khyve|khyve" "$KT_TMP/console2"
pass
