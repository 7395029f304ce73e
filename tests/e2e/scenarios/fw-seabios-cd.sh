#!/bin/sh
# Firmware boot from a CD: Debian's SeaBIOS (-l bootrom) boots a GRUB rescue
# ISO (grub-mkrescue, tests/testbed/build-grub.sh) on an AHCI CD-ROM
# (-s 3,ahci-cd,grub.iso) through El Torito. COM1 shows SeaBIOS booting from
# the CD, GRUB's menu, GRUB booting its entry, and the test guest's init with
# GRUB's command line; the guest powers off (exit 1). With -c 2 the guest
# finds both vCPUs and the ACPI tables SeaBIOS installed from fw_cfg, which
# checksum and disassemble (iasl -d) as the guest got them, and khyve's
# SMBIOS tables (-U's UUID, system.product_name).
# e2e-pin: yes
. "$(dirname "$0")/../lib.sh"

fw_seabios
fw_media grub.iso
uuid=3d8e5a10-7c42-4b6f-a1e9-05c7d2b4f816
run_khyve 90 "$KT_TMP/console" -m 256M -c 2 -s 0,hostbridge -s 3,ahci-cd,"$FW_PATH" -s 31,lpc \
	-U "$uuid" -o "system.product_name=Firmware Box" \
	-l com1,stdio -l bootrom,"$FW_SEABIOS" "$(vm_name)"
expect_exit 1
expect_log 'SeaBIOS \(version'
expect_log 'Booting from DVD/CD'
expect_grub_boot
expect_value nproc 2
# khyve's SMBIOS through fw_cfg, with SeaBIOS's own BIOS information.
expect_value dmi "$uuid|khyve|Firmware Box|SeaBIOS"
tables=" $(kt_value acpi_tables) "
for t in APIC DSDT FACP; do
	case $tables in
	*" $t "*) ;;
	*) fail "ACPI table $t missing (guest sees:$tables)" ;;
	esac
done
# As the firmware's loader left them: checksums, iasl -d, every vCPU.
expect_acpi_disassembles 2 APIC DSDT FACP
pass
