#!/bin/sh
# UEFI boot from a CD: Debian's stock OVMF (OVMF.fd, -l bootrom) on khyve's
# i440FX platform boots the GRUB rescue ISO (build-grub.sh) from an AHCI
# CD-ROM through its El Torito EFI image: COM1 shows OVMF's boot manager
# starting the CD, GRUB's menu, and the test guest's init with GRUB's command
# line. The guest runs as a UEFI guest (EFI system table, runtime services)
# and sees ACPI tables that came through fw_cfg's linker/loader, never
# written by khyve into its memory: FACP, APIC and DSDT (which checksum and
# disassemble with iasl -d as the guest got them), no MCFG (an i440FX has
# no ECAM), and khyve's SMBIOS tables. It powers off (exit 1).
#
# One vCPU: Debian 12's QEMU, the testbed's L0, can abort when a nested
# guest writes CR8 while an interrupt waits (OVMF's interrupt return does),
# and a second vCPU makes that likelier; run.sh re-runs such a crash (KT_CRASH_TRIES).
. "$(dirname "$0")/../lib.sh"

[ "$VMM" = qemu ] && skip "QEMU is compared on this in make bench"
fw_media OVMF.fd
ovmf=$FW_PATH
fw_media grub.iso
uuid=9b1f0e3c-5a27-4d86-b0c4-e2a7f9136d58
run_khyve 150 "$KT_TMP/console" -m 512M -c 1 -s 0,hostbridge -s 3,ahci-cd,"$FW_PATH" -s 31,lpc \
	-U "$uuid" -o "system.product_name=UEFI Box" \
	-l com1,stdio -l bootrom,"$ovmf" "$(vm_name)"
expect_exit 1
expect_log 'BdsDxe: starting Boot0'
expect_grub_boot
expect_value efi yes
# khyve's SMBIOS through fw_cfg (OVMF adds its own BIOS information).
case "$(kt_value dmi)" in
"$uuid|khyve|UEFI Box|"?*) ;;
*) fail "the guest's SMBIOS says '$(kt_value dmi)', not khyve's UUID and product" ;;
esac
tables=" $(kt_value acpi_tables) "
for t in APIC DSDT FACP; do
	case $tables in
	*" $t "*) ;;
	*) fail "ACPI table $t missing (guest sees:$tables)" ;;
	esac
done
case $tables in *" MCFG "*) fail "an i440FX guest sees an MCFG (tables:$tables)" ;; esac
# As the firmware's loader left them: checksums, iasl -d, every vCPU.
expect_acpi_disassembles 1 APIC DSDT FACP
pass
