#!/bin/sh
# Build (or find in .cache/) the boot media of the firmware scenarios (fw-*):
# the test guest (build-guest.sh's kernel and initramfs, gzipped) behind
# Debian's GRUB, as firmware finds it on real media.
#
#   build-grub.sh
#
# Prints, on stdout, shell assignments for the caller to eval:
#   FW_GRUB_ISO=...    grub-mkrescue ISO 9660 image, hybrid: El Torito for
#                      BIOS (i386-pc), an EFI system image (x86_64-efi), and
#                      an MBR so that it also boots as a disk
#   FW_BIOS_DISK=...   raw disk: MBR partition table, GRUB's boot.img in
#                      sector 0, core.img in the gap after it, one FAT
#                      partition (active) with /boot/grub/grub.cfg, the kernel
#                      and the initramfs
#   FW_UEFI_DISK=...   raw disk: GPT with an EFI system partition (FAT) holding
#                      \EFI\BOOT\BOOTX64.EFI (GRUB, x86_64-efi), its grub.cfg,
#                      the kernel and the initramfs
# All three use the same menu: GRUB on the serial port (COM1, 115200) and on
# the console, a one-second timeout, and one entry, "khyve test guest", that
# boots the guest with console=ttyS0 kt.action=poweroff.
#
# No root, no loop devices: sfdisk writes the partition tables into the image
# files, mtools fills the FAT file systems at an offset (IMAGE@@OFFSET), and
# GRUB's BIOS boot code is placed with dd as grub-bios-setup would (see
# bios_disk below). Cached in .cache/grub/<key>/ (key: the Debian package
# versions, the guest, this script), .cache/grub/current -> the newest.
# Progress and errors go to stderr.
set -eu
TB_ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$TB_ROOT/tests/testbed/common.sh"

# grub-mkrescue needs both GRUB platforms, xorriso, and mformat (mtools) for
# the EFI system image; sfdisk is in fdisk.
FW_PKGS="grub-common grub-pc-bin grub-efi-amd64-bin xorriso mtools fdisk"
tb_ensure_pkg $FW_PKGS
eval "$("$TB_DIR/build-guest.sh")"

key=$( {
	for p in $FW_PKGS; do echo "$p=$(tb_installed_version "$p")"; done
	echo "gzip=$(tb_installed_version gzip)"
	echo "$GUEST_KERNEL $GUEST_INITRD"
	cat "$TB_DIR/build-grub.sh" "$TB_DIR/common.sh"
} | tb_hash)
out=$TB_CACHE/grub/$key

MENU_TITLE="khyve test guest"
# GRUB prefixes the command line with BOOT_IMAGE=<path>, which the guest
# reports (KT: cmdline=): the scenarios see that GRUB booted it. It also
# dumps its ACPI tables (kt.acpidump=1) for the scenarios to disassemble.
GUEST_ARGS="console=ttyS0 quiet kt.acpidump=1 kt.action=poweroff"

# grub_cfg KERNEL INITRD: the menu, on stdout.
grub_cfg() {
	cat <<EOF
# khyve firmware scenarios (tests/testbed/build-grub.sh)
serial --unit=0 --speed=115200
terminal_input serial console
# UEFI firmware may copy its console to the serial port already: GRUB's
# own serial output alone there, else every line shows twice.
if [ "\$grub_platform" = efi ]; then
	terminal_output serial
else
	terminal_output serial console
fi
set timeout=1
set default=0
menuentry '$MENU_TITLE' {
	echo 'GRUB: loading the kernel'
	linux $1 $GUEST_ARGS
	echo 'GRUB: loading the initramfs'
	initrd $2
}
EOF
}

# The modules every GRUB image here embeds: no module is loaded from the
# media afterwards (the disks carry none).
GRUB_MODS="normal configfile echo test linux serial terminfo fat part_msdos part_gpt search search_fs_file"

# fat_image IMG OFFSET_MIB SIZE_MIB LABEL: a FAT file system (mtools picks
# FAT12/16/32 by size) of SIZE_MIB MiB at OFFSET_MIB MiB into IMG.
fat_image() {
	mformat -i "$1@@$(($2 * 1048576))" -T $(($3 * 2048)) -h 64 -s 32 -H $(($2 * 2048)) -v "$4" :: ||
		tb_die "mformat on $1 failed"
}

# mcopy_to IMG OFFSET_MIB SRC DEST: one file into the FAT file system.
mcopy_to() {
	mcopy -i "$1@@$(($2 * 1048576))" -o "$3" "::$4" || tb_die "mcopy $3 to $1:$4 failed"
}

# part_size_mib FILE...: MiB enough for the files plus 4 MiB of FAT and slack.
part_size_mib() {
	_b=$(cat "$@" | wc -c)
	echo $((_b / 1048576 + 5))
}

build_iso() {
	tb_log "building the GRUB rescue ISO"
	tree=$out.tmp/iso
	mkdir -p "$tree/boot/grub"
	cp "$GUEST_KERNEL" "$tree/boot/vmlinuz"
	cp "$out.tmp/initrd.gz" "$tree/boot/initrd.gz"
	grub_cfg /boot/vmlinuz /boot/initrd.gz >"$tree/boot/grub/grub.cfg"
	# Only the modules the menu needs on the ISO (all of them: ~12 MiB
	# more), and every partition map (GRUB's EFI image tries them all when
	# it searches for the ISO); no fonts, locales or themes.
	parts=$(cd /usr/lib/grub/x86_64-efi && ls part_*.mod | sed 's/\.mod$//' | tr '\n' ' ')
	grub-mkrescue -o "$out.tmp/grub.iso" \
		--install-modules="$GRUB_MODS iso9660 $parts" \
		--fonts= --locales= --themes= "$tree" >"$out.tmp/mkrescue.log" 2>&1 ||
		{ cat "$out.tmp/mkrescue.log" >&2; tb_die "grub-mkrescue failed"; }
	rm -rf "$tree"
}

# The BIOS disk, laid out as grub-install/grub-bios-setup would on a real
# disk (grub-bios-setup itself insists on a device it can probe):
#   sector 0      boot.img (first 440 bytes: code, kernel sector = 1,
#                 drive check on), then the MBR partition table
#   sector 1..    core.img: diskboot.img, whose block list (default: the
#                 rest of core.img from sector 2) loads the rest
#   1 MiB..       partition 1, active, FAT: /boot/grub/grub.cfg, /boot/vmlinuz,
#                 /boot/initrd.gz
build_bios_disk() {
	tb_log "building the BIOS disk image"
	img=$out.tmp/bios-disk.img
	psize=$(part_size_mib "$GUEST_KERNEL" "$out.tmp/initrd.gz")
	rm -f "$img"
	truncate -s $((psize + 1))M "$img"
	printf 'label: dos\nstart=2048, type=e, bootable\n' |
		sfdisk -q --no-reread --no-tell-kernel "$img" >&2 || tb_die "sfdisk (MBR) on $img failed"
	fat_image "$img" 1 "$psize" KTBIOS
	mmd -i "$img@@1M" ::/boot ::/boot/grub || tb_die "mmd on $img failed"
	grub_cfg /boot/vmlinuz /boot/initrd.gz >"$out.tmp/grub-bios.cfg"
	mcopy_to "$img" 1 "$out.tmp/grub-bios.cfg" /boot/grub/grub.cfg
	mcopy_to "$img" 1 "$GUEST_KERNEL" /boot/vmlinuz
	mcopy_to "$img" 1 "$out.tmp/initrd.gz" /boot/initrd.gz
	# The BIOS boots from the first disk (0x80): hd0.
	grub-mkimage -O i386-pc -o "$out.tmp/core.img" -p '(hd0,msdos1)/boot/grub' \
		biosdisk $GRUB_MODS || tb_die "grub-mkimage -O i386-pc failed"
	core_sectors=$((($(wc -c <"$out.tmp/core.img") + 511) / 512))
	[ $core_sectors -lt 2047 ] || tb_die "core.img ($core_sectors sectors) does not fit before the partition"
	dd if=/usr/lib/grub/i386-pc/boot.img of="$img" bs=440 count=1 conv=notrunc status=none ||
		tb_die "cannot write boot.img"
	# As grub-bios-setup for a hard disk: turn the drive-check jump
	# (offset 0x66) into two NOPs, so that a BIOS passing a bogus boot
	# drive gets 0x80.
	printf '\220\220' | dd of="$img" bs=1 seek=$((0x66)) conv=notrunc status=none
	dd if="$out.tmp/core.img" of="$img" bs=512 seek=1 conv=notrunc status=none ||
		tb_die "cannot write core.img"
	# Checks: boot.img reads core.img from sector 1, whose block list
	# reads the rest from sector 2; the MBR signature survived.
	[ "$(od -An -tu8 -j $((0x5c)) -N8 "$img" | tr -d ' ')" = 1 ] || tb_die "boot.img: kernel sector is not 1"
	[ "$(od -An -tu8 -j $((512 + 0x1f4)) -N8 "$img" | tr -d ' ')" = 2 ] || tb_die "diskboot.img: block list does not start at sector 2"
	[ "$(od -An -tx1 -j 510 -N2 "$img" | tr -d ' ')" = 55aa ] || tb_die "no MBR signature"
	mv "$img" "$out.tmp/bios-disk.img.done"
}

# The UEFI disk: GPT, one EFI system partition (FAT) with the removable-media
# path \EFI\BOOT\BOOTX64.EFI: GRUB with its prefix on that partition.
build_uefi_disk() {
	tb_log "building the UEFI disk image"
	img=$out.tmp/uefi-disk.img
	psize=$(part_size_mib "$GUEST_KERNEL" "$out.tmp/initrd.gz")
	rm -f "$img"
	# 1 MiB before the partition and 1 MiB for the backup GPT after it.
	truncate -s $((psize + 2))M "$img"
	printf 'label: gpt\nstart=2048, size=%d, type=U, name="EFI system partition"\n' $((psize * 2048)) |
		sfdisk -q --no-reread --no-tell-kernel "$img" >&2 || tb_die "sfdisk (GPT) on $img failed"
	fat_image "$img" 1 "$psize" KTUEFI
	mmd -i "$img@@1M" ::/EFI ::/EFI/BOOT ::/boot || tb_die "mmd on $img failed"
	# Without a device in the prefix, GRUB takes the partition it was
	# loaded from.
	grub-mkimage -O x86_64-efi -o "$out.tmp/BOOTX64.EFI" -p /EFI/BOOT $GRUB_MODS ||
		tb_die "grub-mkimage -O x86_64-efi failed"
	grub_cfg /boot/vmlinuz /boot/initrd.gz >"$out.tmp/grub-uefi.cfg"
	mcopy_to "$img" 1 "$out.tmp/BOOTX64.EFI" /EFI/BOOT/BOOTX64.EFI
	mcopy_to "$img" 1 "$out.tmp/grub-uefi.cfg" /EFI/BOOT/grub.cfg
	mcopy_to "$img" 1 "$GUEST_KERNEL" /boot/vmlinuz
	mcopy_to "$img" 1 "$out.tmp/initrd.gz" /boot/initrd.gz
	mv "$img" "$out.tmp/uefi-disk.img.done"
}

build() {
	[ -e "$out/.done" ] && return 0
	tb_log "building the firmware boot media in $out"
	rm -rf "$out.tmp"
	mkdir -p "$out.tmp"
	# Firmware reads the initramfs sector by sector: gzip it (10 -> ~4 MiB).
	gzip -n -6 <"$GUEST_INITRD" >"$out.tmp/initrd.gz"
	build_iso
	build_bios_disk
	build_uefi_disk
	mv "$out.tmp/bios-disk.img.done" "$out.tmp/bios-disk.img"
	mv "$out.tmp/uefi-disk.img.done" "$out.tmp/uefi-disk.img"
	grub_cfg /boot/vmlinuz /boot/initrd.gz >"$out.tmp/grub.cfg"
	rm -f "$out.tmp/initrd.gz" "$out.tmp/core.img" "$out.tmp/BOOTX64.EFI" "$out.tmp"/grub-*.cfg "$out.tmp/mkrescue.log"
	rm -rf "$out"
	mv "$out.tmp" "$out"
	: >"$out/.done"
	ln -sfn "$key" "$TB_CACHE/grub/current"
	# Builds from other keys, unused for a day.
	find "$TB_CACHE/grub" -mindepth 1 -maxdepth 1 -type d ! -name "$key" -mtime +0 \
		-exec rm -rf {} + 2>/dev/null || true
}
mkdir -p "$TB_CACHE/grub"
tb_locked build
[ -e "$out/.done" ] || tb_die "firmware media build failed"
echo "FW_GRUB_ISO=$out/grub.iso"
echo "FW_BIOS_DISK=$out/bios-disk.img"
echo "FW_UEFI_DISK=$out/uefi-disk.img"
