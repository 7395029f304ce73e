#!/bin/sh
# e2e-weight: 2
# Firmware boot from a hard disk: Debian's SeaBIOS (-l bootrom) boots a BIOS
# disk image (MBR, GRUB's boot.img and core.img, a FAT partition with the
# kernel; tests/testbed/build-grub.sh) twice: on virtio-blk, then on an
# AHCI disk. Each time COM1 shows SeaBIOS booting from the hard disk, GRUB's
# menu, GRUB booting its entry, and the test guest's init with GRUB's command
# line; the guest powers off (exit 1).
. "$(dirname "$0")/../lib.sh"

fw_seabios
fw_media bios-disk.img
disk=$FW_PATH
sectors=$(($(wc -c <"$disk") / 512))

# The guests only read the disk: each boot gets the same image.
run_khyve 90 "$KT_TMP/console-virtio" -m 256M -c 1 -s 0,hostbridge -s 4,virtio-blk,"$disk" -s 31,lpc \
	-l com1,stdio -l bootrom,"$FW_SEABIOS" "$(vm_name virtio)"
expect_exit 1
expect_log 'SeaBIOS \(version'
expect_log 'Booting from Hard Disk'
expect_grub_boot
# The disk it booted from, as the guest's virtio driver sees it.
expect_value block "vda:$sectors"

run_khyve 90 "$KT_TMP/console-ahci" -m 256M -c 1 -s 0,hostbridge -s 3,ahci-hd,"$disk" -s 31,lpc \
	-l com1,stdio -l bootrom,"$FW_SEABIOS" "$(vm_name ahci)"
expect_exit 1
expect_log 'SeaBIOS \(version'
expect_log 'Booting from Hard Disk'
expect_grub_boot
pass
