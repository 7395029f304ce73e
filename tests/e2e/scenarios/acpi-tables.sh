#!/bin/sh
# The guest finds the ACPI tables it needs: MADT (APIC), DSDT, FADT (FACP).
# e2e-pin: yes
. "$(dirname "$0")/../lib.sh"

run_khyve 60 "$KT_TMP/console" -m 256M -c 2 -l com1,stdio \
	-o boot.kernel="$GUEST_KERNEL" -o boot.initrd="$GUEST_INITRD" \
	-o "boot.cmdline=$GUEST_CONSOLE kt.action=poweroff" "$(vm_name)"
expect_exit 1
expect_guest_sane
tables=" $(kt_value acpi_tables) "
for t in APIC DSDT FACP; do
	case $tables in
	*" $t "*) ;;
	*) fail "ACPI table $t missing (guest sees:$tables)" ;;
	esac
done
# The power button needs ACPI to work: the guest's button driver found it.
expect_log '^KT: input=.*Power_Button'
pass
