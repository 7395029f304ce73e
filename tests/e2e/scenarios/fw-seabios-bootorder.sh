#!/bin/sh
# e2e-weight: 2
# Firmware boot order (bootindex=, fw_cfg "bootorder"): one machine with two
# bootable media -- the GRUB rescue ISO on an AHCI CD-ROM and the BIOS disk
# image on virtio-blk (tests/testbed/build-grub.sh) -- booted twice by
# Debian's SeaBIOS. bootindex=1 on the disk and 2 on the CD: SeaBIOS boots
# the hard disk and never tries the CD; indices swapped: it boots the CD and
# never tries the disk. Each time GRUB's menu and the guest's init show on
# COM1 and the guest powers off (exit 1).
#
# Without a bootorder SeaBIOS tries hard disks before CDs here (khyve's CMOS
# names no boot device), so the second boot is the one only a working
# bootorder file can produce; the first shows the file's order is followed.
. "$(dirname "$0")/../lib.sh"

[ "$VMM" = qemu ] && skip "lib.sh does not translate bootindex= for QEMU"
fw_seabios
fw_media grub.iso
iso=$FW_PATH
fw_media bios-disk.img
disk=$FW_PATH

# boot NAME DISK_INDEX CD_INDEX: both guests only read their media.
boot() {
	run_khyve 90 "$KT_TMP/console-$1" -m 256M -c 1 -s 0,hostbridge \
		-s 3,ahci-cd,"$iso",bootindex="$3" -s 4,virtio-blk,"$disk",bootindex="$2" \
		-s 31,lpc -l com1,stdio -l bootrom,"$FW_SEABIOS" "$(vm_name "$1")"
	expect_exit 1
	expect_log 'SeaBIOS \(version'
}

boot disk-first 1 2
expect_log 'Booting from Hard Disk'
expect_no_log 'Booting from DVD/CD'
expect_grub_boot

boot cd-first 2 1
expect_log 'Booting from DVD/CD'
expect_no_log 'Booting from Hard Disk'
expect_grub_boot
pass
