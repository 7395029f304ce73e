#!/bin/sh
# Build (or find in .cache/) the L2 test guest: Debian's kernel and a
# busybox-static initramfs whose /init is tests/testbed/guest-init.
#
#   build-guest.sh [--fio] [--net]
#
# Prints, on stdout, shell assignments for the caller to eval:
#   GUEST_KERNEL=/.../vmlinuz  GUEST_INITRD=/.../initrd.img
# and with --fio also GUEST_FIO_PART=/.../fio.cpio: Debian's fio with its
# shared libraries (about 70 MiB, so not in every guest), a newc archive to
# append to GUEST_INITRD for the disk benchmark; with --net also
# GUEST_NET_PART=/.../net.cpio: Debian's iperf3 and ethtool with their
# libraries (about 7 MiB), to append for the network scenarios and benchmark.
# Progress and errors go to stderr.
set -eu
TB_ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$TB_ROOT/tests/testbed/common.sh"
want_fio=0
want_net=0
for a; do
	case $a in
	--fio) want_fio=1 ;;
	--net) want_net=1 ;;
	*) tb_die "build-guest.sh: unknown argument $a" ;;
	esac
done

# Modules the guest loads, in groups its /init loads only when some device
# (or the firmware) needs them, each group in this order (dependencies are
# added): "base" the ACPI power button; "virtio" virtio over PCI (modern and
# legacy); "blk", "rng", "net" its drivers; "fs" ext4 (crc32c_generic
# first: ext4 and jbd2 ask the crypto API for "crc32c" and the guest has no
# modprobe to load it on demand); "ahci" AHCI disks and CD-ROMs (libata, sd,
# sr) with iso9660; "efi" efivarfs.
GUEST_MODULE_GROUPS="base:button,evdev virtio:virtio_pci blk:virtio_blk rng:virtio_rng net:virtio_net fs:crc32c_generic,ext4 ahci:scsi_mod,libata,libahci,ahci,sd_mod,cdrom,sr_mod,isofs efi:efivarfs"
GUEST_MODULES=$(for g in $GUEST_MODULE_GROUPS; do echo "${g#*:}"; done | tr ',\n' '  ')
# Programs of the guest beyond busybox (whose mke2fs makes no ext4), from
# Debian packages installed on this machine, with their shared libraries.
GUEST_PKGS="e2fsprogs"
GUEST_PROGS="/sbin/mke2fs"

tb_kernel
tb_ensure_pkg $GUEST_PKGS
key=$( {
	echo "$KPKG $KPKGVER busybox=$(tb_installed_version busybox-static) modules=$GUEST_MODULE_GROUPS"
	for p in $GUEST_PKGS; do echo "$p=$(tb_installed_version "$p")"; done
	echo "programs=$GUEST_PROGS"
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
	mkdir -p "$root/proc" "$root/sys" "$root/dev" "$root/tmp" "$root/run" "$root/root" "$root/mnt" \
		"$root/etc/acpi/PWRF" "$root/var/run" "$root/var/log"
	# Config options the guest needs built in, or as modules we copy.
	for opt in SERIAL_8250 SERIAL_8250_CONSOLE DEVTMPFS BLK_DEV_INITRD ACPI; do
		[ "$(tb_kconfig $opt)" = y ] || tb_die "guest kernel lacks CONFIG_$opt=y"
	done
	# PCI (with MSI: virtio's interrupts) and the hardware RNG core are
	# built into Debian's kernel; check, since nothing loads them.
	for opt in PCI PCI_MSI HW_RANDOM; do
		[ "$(tb_kconfig $opt)" = y ] || tb_die "guest kernel lacks CONFIG_$opt=y"
	done
	for m in $GUEST_MODULES; do
		case $m in
		button) opt=ACPI_BUTTON ;;
		evdev) opt=INPUT_EVDEV ;;
		virtio_pci) opt=VIRTIO_PCI ;;
		virtio_blk) opt=VIRTIO_BLK ;;
		virtio_rng) opt=HW_RANDOM_VIRTIO ;;
		ext4) opt=EXT4_FS ;;
		*) opt= ;;
		esac
		[ -n "$opt" ] && tb_log "CONFIG_$opt=$(tb_kconfig $opt)"
	done
	for g in $GUEST_MODULE_GROUPS; do
		TB_MODULES_LIST=modules.${g%%:*} tb_add_modules "$root" $(echo "${g#*:}" | tr , ' ')
	done
	for p in $GUEST_PROGS; do
		tb_add_elf "$root" "$p"
	done
	# mke2fs is mkfs.ext4 (the name picks the defaults); its configuration.
	for n in mkfs.ext4 mkfs.ext2; do
		rm -f "$root/sbin/$n"
		ln -s mke2fs "$root/sbin/$n"
	done
	cp /etc/mke2fs.conf "$root/etc/mke2fs.conf"
	cp "$TB_DIR/guest-init" "$root/init"
	cp "$TB_DIR/acpi-power" "$root/etc/acpi/PWRF/00000080"
	chmod 755 "$root/init" "$root/etc/acpi/PWRF/00000080"
	# acpid's default action file; the built-in table says the same.
	echo "PWRF PWRF/00000080" >"$root/etc/acpid.conf"
	echo "root:x:0:0:root:/root:/bin/sh" >"$root/etc/passwd"
	echo "root:x:0:" >"$root/etc/group"
	# What busybox udhcpc runs to apply a lease (it does nothing itself):
	# address, default route, DNS servers. Debian's busybox looks in /etc,
	# upstream's in /usr/share.
	mkdir -p "$root/etc/udhcpc" "$root/usr/share/udhcpc"
	cat >"$root/etc/udhcpc/default.script" <<'EOF'
#!/bin/sh
# busybox udhcpc: $1 = deconfig|bound|renew|leasefail|nak; $interface $ip
# $mask (prefix length) $router $dns from the lease.
case $1 in
deconfig)
	ip -4 addr flush dev "$interface"
	ip link set "$interface" up
	;;
bound | renew)
	ip -4 addr flush dev "$interface"
	ip addr add "$ip/${mask:-24}" dev "$interface"
	if [ -n "$router" ]; then
		while ip route del default dev "$interface" 2>/dev/null; do :; done
		for r in $router; do
			ip route add default via "$r" dev "$interface" && break
		done
	fi
	: >/etc/resolv.conf
	for d in $dns; do echo "nameserver $d" >>/etc/resolv.conf; done
	;;
esac
exit 0
EOF
	chmod 755 "$root/etc/udhcpc/default.script"
	ln -s /etc/udhcpc/default.script "$root/usr/share/udhcpc/default.script"
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

if [ $want_net = 1 ]; then
	# iperf3 and ethtool, downloaded (with the libraries this machine
	# lacks) into the cache.
	tb_net_tools
	net_part=$out/net-$(basename "$NET_ROOT").cpio
	build_net() {
		[ -e "$net_part" ] && return 0
		tb_log "building the guest's network part in $net_part"
		nroot=$out/net.tmp
		rm -rf "$nroot"
		(
			export LD_LIBRARY_PATH="$NET_LIBPATH"
			tb_add_elf "$nroot" "$NET_ROOT/usr/bin/iperf3" /usr/bin/iperf3 "$NET_ROOT"
			tb_add_elf "$nroot" "$NET_ROOT/sbin/ethtool" /usr/sbin/ethtool "$NET_ROOT"
			"$NET_ROOT/usr/bin/iperf3" --version >/dev/null || tb_die "the downloaded iperf3 does not run"
		) || exit 1
		tb_cpio "$nroot" "$net_part"
		rm -rf "$nroot"
	}
	tb_locked build_net
	[ -e "$net_part" ] || tb_die "network part build failed"
	echo "GUEST_NET_PART=$net_part"
fi
[ $want_fio = 1 ] || exit 0

# fio, downloaded (with the libraries this machine lacks) into the cache.
tb_fio
fio_part=$out/fio-$(basename "$FIO_ROOT").cpio
build_fio() {
	[ -e "$fio_part" ] && return 0
	tb_log "building the guest's fio part in $fio_part"
	froot=$out/fio.tmp
	rm -rf "$froot"
	(
		export LD_LIBRARY_PATH="$FIO_LIBPATH"
		tb_add_elf "$froot" "$FIO_ROOT/usr/bin/fio" /usr/bin/fio "$FIO_ROOT"
		"$FIO_ROOT/usr/bin/fio" --version >/dev/null || tb_die "the downloaded fio does not run"
	) || exit 1
	tb_cpio "$froot" "$fio_part"
	rm -rf "$froot"
}
tb_locked build_fio
[ -e "$fio_part" ] || tb_die "fio part build failed"
echo "GUEST_FIO_PART=$fio_part"
