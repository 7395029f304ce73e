#!/bin/sh
# Build (or find in .cache/) the L2 test guest: Debian's kernel and a
# busybox-static initramfs whose /init is tests/testbed/guest-init.
#
# Prints, on stdout, shell assignments for the caller to eval:
#   GUEST_KERNEL=/.../vmlinuz  GUEST_INITRD=/.../initrd.img
# Progress and errors go to stderr.
set -eu
TB_ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$TB_ROOT/tests/testbed/common.sh"

# Modules the guest loads, in this order (dependencies are added).
GUEST_MODULES="button evdev"

tb_kernel
key=$( {
	echo "$KPKG $KPKGVER busybox=$(tb_installed_version busybox-static) modules=$GUEST_MODULES"
	cat "$TB_DIR/guest-init" "$TB_DIR/acpi-power" "$TB_DIR/build-guest.sh" "$TB_DIR/common.sh"
} | tb_hash)
out=$TB_CACHE/guest/$key

build() {
	[ -e "$out/initrd.img" ] && return 0
	tb_log "building guest initramfs ($KVER) in $out"
	rm -rf "$out.tmp"
	root=$out.tmp/root
	mkdir -p "$root"
	tb_add_busybox "$root"
	for a in acpid insmod setsid cttyhack poweroff reboot; do
		busybox --list | grep -qx $a || tb_die "busybox lacks the $a applet"
	done
	mkdir -p "$root/proc" "$root/sys" "$root/dev" "$root/tmp" "$root/run" "$root/root" \
		"$root/etc/acpi/PWRF" "$root/var/run" "$root/var/log"
	# Config options the guest needs built in, or as modules we copy.
	for opt in SERIAL_8250 SERIAL_8250_CONSOLE DEVTMPFS BLK_DEV_INITRD ACPI; do
		[ "$(tb_kconfig $opt)" = y ] || tb_die "guest kernel lacks CONFIG_$opt=y"
	done
	for m in $GUEST_MODULES; do
		case $m in
		button) opt=ACPI_BUTTON ;;
		evdev) opt=INPUT_EVDEV ;;
		*) opt= ;;
		esac
		[ -n "$opt" ] && tb_log "CONFIG_$opt=$(tb_kconfig $opt)"
	done
	tb_add_modules "$root" $GUEST_MODULES
	cp "$TB_DIR/guest-init" "$root/init"
	cp "$TB_DIR/acpi-power" "$root/etc/acpi/PWRF/00000080"
	chmod 755 "$root/init" "$root/etc/acpi/PWRF/00000080"
	# acpid's default action file; the built-in table says the same.
	echo "PWRF PWRF/00000080" >"$root/etc/acpid.conf"
	echo "root:x:0:0:root:/root:/bin/sh" >"$root/etc/passwd"
	echo "root:x:0:" >"$root/etc/group"
	tb_cpio "$root" "$out.tmp/initrd.img"
	cp "$KIMAGE" "$out.tmp/vmlinuz"
	echo "$KPKG $KPKGVER" >"$out.tmp/kernel-version"
	rm -rf "$root" "$out"
	mv "$out.tmp" "$out"
	ln -sfn "$key" "$TB_CACHE/guest/current"
	# Builds from other keys, unused for a day.
	find "$TB_CACHE/guest" -mindepth 1 -maxdepth 1 -type d ! -name "$key" -mtime +0 \
		-exec rm -rf {} + 2>/dev/null || true
}
tb_locked build
[ -e "$out/initrd.img" ] || tb_die "guest build failed"
echo "GUEST_KERNEL=$out/vmlinuz"
echo "GUEST_INITRD=$out/initrd.img"
