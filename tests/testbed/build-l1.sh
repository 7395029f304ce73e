#!/bin/sh
# Build the initramfs of the L1 testbed VM.
#
#   build-l1.sh OUT.cpio SCENARIO...
#
# Environment: VMM (khyve or qemu; qemu packs QEMU into L1), KHYVE (the
# binary to pack, default build/khyve), TIMEOUT_SCALE (exported to the
# scenarios inside L1), L1_QEMU=1 (pack QEMU even for VMM=khyve), L1_NET=1
# (pack the network tools even without net-* scenarios or others with a
# "# e2e-needs: net" line), L1_FW=1 (pack the
# firmware boot media even without fw-* scenarios).
#
# The initramfs is concatenated newc archives: a cached base (busybox,
# the KVM modules, kvmprobe, the L2 guest kernel + initramfs, /init), a cached
# QEMU part (only if needed), a cached network part (only for net-* scenarios
# or L1_NET=1: iproute2's ip, iperf3, /guest/net.cpio = the guest's iperf3
# and ethtool, see build-guest.sh --net), a cached firmware part (only for
# fw-* scenarios: /fw = build-grub.sh's boot media and Debian's OVMF files)
# and a small part made fresh on every
# call (khyve with its shared libraries, tests/e2e/, /etc/testbed.conf).
# Prints L1_KERNEL=... and L1_INITRD=... on stdout.
set -eu
TB_ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$TB_ROOT/tests/testbed/common.sh"

[ $# -ge 1 ] || tb_die "usage: build-l1.sh OUT.cpio SCENARIO..."
out=$1; shift
VMM=${VMM:-khyve}
KHYVE=${KHYVE:-$TB_ROOT/build/khyve}

eval "$("$TB_DIR/build-guest.sh")"
tb_kernel

# The L1 host's KVM: kvm-amd pulls in irqbypass, kvm, ccp (in that order);
# loop: block-device backends for the disk scenarios (losetup); tun, bridge,
# veth, vhost_net: the network scenarios and benchmark (taps on a bridge,
# QEMU's vhost=on).
L1_MODULES="kvm-amd loop tun bridge veth vhost_net"
# Host-side tools of the disk scenarios beyond busybox (whose losetup, stat,
# sha256sum, dd and truncate they use): checking and making ext4 images.
L1_PKGS="e2fsprogs"
L1_PROGS="/sbin/e2fsck /sbin/mke2fs /sbin/debugfs"
tb_ensure_pkg $L1_PKGS

probe=$(tb_kvmprobe)

base_key=$( {
	echo "$KPKG $KPKGVER busybox=$(tb_installed_version busybox-static) modules=$L1_MODULES"
	for p in $L1_PKGS; do echo "$p=$(tb_installed_version "$p")"; done
	echo "$GUEST_KERNEL $GUEST_INITRD $probe"
	cat "$TB_DIR/l1-init" "$TB_DIR/build-l1.sh" "$TB_DIR/common.sh"
} | tb_hash)
base=$TB_CACHE/l1/base-$base_key.cpio

build_base() {
	[ -e "$base" ] && return 0
	tb_log "building L1 base initramfs in $base"
	root=$TB_CACHE/l1/base.tmp
	rm -rf "$root"
	mkdir -p "$root/proc" "$root/sys" "$root/dev" "$root/tmp" "$root/run" "$root/etc" "$root/guest" "$root/root"
	tb_add_busybox "$root"
	for opt in KVM KVM_AMD BLK_DEV_LOOP TUN BRIDGE VETH VHOST_NET; do
		[ "$(tb_kconfig $opt)" != n ] || tb_die "kernel lacks CONFIG_$opt"
	done
	tb_add_modules "$root" $L1_MODULES
	for p in $L1_PROGS; do
		tb_add_elf "$root" "$p"
	done
	for n in mkfs.ext4 fsck.ext4; do
		rm -f "$root/sbin/$n"
	done
	ln -s mke2fs "$root/sbin/mkfs.ext4"
	ln -s e2fsck "$root/sbin/fsck.ext4"
	cp /etc/mke2fs.conf "$root/etc/mke2fs.conf"
	cp "$TB_DIR/l1-init" "$root/init"
	chmod 755 "$root/init"
	if ldd "$probe" >/dev/null 2>&1; then
		tb_add_elf "$root" "$probe" /sbin/kvmprobe
	else
		cp "$probe" "$root/sbin/kvmprobe"
	fi
	cp "$GUEST_KERNEL" "$root/guest/vmlinuz"
	cp "$GUEST_INITRD" "$root/guest/initrd.img"
	echo "root:x:0:0:root:/root:/bin/sh" >"$root/etc/passwd"
	mkdir -p "$TB_CACHE/l1"
	tb_cpio "$root" "$base"
	rm -rf "$root"
}
tb_locked build_base

parts=$base
# Firmware scenarios (fw-*) boot the SeaBIOS image the QEMU part carries.
for s in "$@"; do
	case $s in fw-*) L1_QEMU=1 ;; esac
done
if [ "$VMM" = qemu ] || [ "${L1_QEMU:-0}" = 1 ]; then
	qemu_bin=$(command -v qemu-system-x86_64) || tb_die "qemu-system-x86_64 not installed"
	qemu_key=$( {
		echo "qemu=$(tb_installed_version qemu-system-x86) seabios=$(tb_installed_version seabios)"
		cat "$TB_DIR/build-l1.sh" "$TB_DIR/common.sh"
	} | tb_hash)
	qpart=$TB_CACHE/l1/qemu-$qemu_key.cpio
	build_qemu() {
		[ -e "$qpart" ] && return 0
		tb_log "building L1 QEMU part in $qpart"
		root=$TB_CACHE/l1/qemu.tmp
		rm -rf "$root"
		mkdir -p "$root/usr/share/kt-qemu/keymaps"
		tb_add_elf "$root" "$qemu_bin" /usr/bin/qemu-system-x86_64
		# The firmware a -nodefaults PC with -kernel needs; QEMU in L1
		# gets -L /usr/share/kt-qemu (QEMU_DATADIR).
		cp /usr/share/seabios/bios-256k.bin "$root/usr/share/kt-qemu/"
		for f in kvmvapic.bin linuxboot_dma.bin linuxboot.bin multiboot_dma.bin pvh.bin; do
			[ -e "/usr/share/qemu/$f" ] && cp -L "/usr/share/qemu/$f" "$root/usr/share/kt-qemu/"
		done
		cp /usr/share/qemu/keymaps/en-us "$root/usr/share/kt-qemu/keymaps/" 2>/dev/null || true
		tb_cpio "$root" "$qpart"
		rm -rf "$root"
	}
	tb_locked build_qemu
	parts="$parts $qpart"
fi

# Firmware scenarios (fw-*) also get the boot media of build-grub.sh (GRUB
# ISO, BIOS and UEFI disk images) and Debian's OVMF, in /fw (FW_DIR).
want_fw=${L1_FW:-0}
for s in "$@"; do
	case $s in fw-*) want_fw=1 ;; esac
done
if [ "$want_fw" = 1 ]; then
	tb_ensure_pkg ovmf
	eval "$("$TB_DIR/build-grub.sh")" || tb_die "cannot build the firmware boot media"
	FW_OVMF="/usr/share/ovmf/OVMF.fd /usr/share/OVMF/OVMF_CODE_4M.fd /usr/share/OVMF/OVMF_VARS_4M.fd"
	fw_key=$( {
		echo "ovmf=$(tb_installed_version ovmf) acpica=$(tb_installed_version acpica-tools) $FW_GRUB_ISO $FW_BIOS_DISK $FW_UEFI_DISK"
		cat "$TB_DIR/build-l1.sh" "$TB_DIR/common.sh"
	} | tb_hash)
	fpart=$TB_CACHE/l1/fw-$fw_key.cpio
	build_fw() {
		[ -e "$fpart" ] && return 0
		tb_log "building L1 firmware part in $fpart"
		root=$TB_CACHE/l1/fw.tmp
		rm -rf "$root"
		mkdir -p "$root/fw"
		cp "$FW_GRUB_ISO" "$FW_BIOS_DISK" "$FW_UEFI_DISK" "$root/fw/"
		for f in $FW_OVMF; do
			cp "$f" "$root/fw/" || tb_die "no $f (package ovmf)"
		done
		# The scenarios disassemble the ACPI tables the guest was given.
		iasl_bin=$(command -v iasl) || tb_die "no iasl (package acpica-tools)"
		tb_add_elf "$root" "$iasl_bin" /usr/bin/iasl
		tb_cpio "$root" "$fpart"
		rm -rf "$root"
	}
	tb_locked build_fw
	parts="$parts $fpart"
fi

want_net=${L1_NET:-0}
for s in "$@"; do
	case $s in net-*) want_net=1 ;; esac
	# Other scenarios that need them say so: "# e2e-needs: net".
	grep -q '^# e2e-needs:.*net' "$TB_ROOT/tests/e2e/scenarios/$s.sh" 2>/dev/null && want_net=1
done
if [ "$want_net" = 1 ]; then
	# iproute2's ip (busybox ip has no bridge, tuntap or veth), iperf3
	# (downloaded with the guest's), and the guest's part with them.
	tb_ensure_pkg iproute2
	g=$("$TB_DIR/build-guest.sh" --net) || tb_die "cannot build the guest's network part"
	eval "$g"
	tb_net_tools
	ip_bin=$(command -v ip) || tb_die "no ip (iproute2)"
	net_key=$( {
		echo "iproute2=$(tb_installed_version iproute2) $GUEST_NET_PART $NET_ROOT"
		cat "$TB_DIR/build-l1.sh" "$TB_DIR/common.sh"
	} | tb_hash)
	npart=$TB_CACHE/l1/net-$net_key.cpio
	build_net() {
		[ -e "$npart" ] && return 0
		tb_log "building L1 network part in $npart"
		root=$TB_CACHE/l1/net.tmp
		rm -rf "$root"
		mkdir -p "$root/guest"
		(
			export LD_LIBRARY_PATH="$NET_LIBPATH"
			tb_add_elf "$root" "$ip_bin" /sbin/ip
			tb_add_elf "$root" "$NET_ROOT/usr/bin/iperf3" /usr/bin/iperf3 "$NET_ROOT"
		) || exit 1
		cp "$GUEST_NET_PART" "$root/guest/net.cpio"
		tb_cpio "$root" "$npart"
		rm -rf "$root"
	}
	tb_locked build_net
	parts="$parts $npart"
fi

# The part made fresh every time.
fresh=$(mktemp -d "${TMPDIR:-/tmp}/kt-l1.XXXXXX")
trap 'rm -rf "$fresh"' EXIT
mkdir -p "$fresh/e2e" "$fresh/etc" "$fresh/khyve"
cp "$TB_ROOT/tests/e2e/lib.sh" "$TB_ROOT/tests/e2e/durability.sh" "$fresh/e2e/"
cp -r "$TB_ROOT/tests/e2e/scenarios" "$TB_ROOT/tests/e2e/interactive" "$fresh/e2e/"
if [ -x "$KHYVE" ]; then
	tb_add_elf "$fresh" "$KHYVE" /khyve/khyve
	# khyvectl next to khyve, where the khyvectl-* scenarios look for it.
	if [ -x "$(dirname "$KHYVE")/khyvectl" ]; then tb_add_elf "$fresh" "$(dirname "$KHYVE")/khyvectl" /khyve/khyvectl; fi
	# vmrun too (a shell script), for the fw-vmrun-* scenarios.
	cp "$TB_ROOT/scripts/vmrun" "$fresh/khyve/vmrun"
	# khyve dlopen()s libslirp for slirp NICs, so ldd does not list it: pack it and its libraries.
	slirp_lib=$(ldconfig -p | awk '/libslirp\.so\.0 .*x86-64/ { print $NF; exit }')
	if [ -n "$slirp_lib" ]; then tb_add_elf "$fresh" "$slirp_lib"; fi
else
	tb_log "warning: no khyve binary at $KHYVE"
fi
# KT_VMM_CPUMASK (default 1): scenarios marked "# e2e-pin: yes" (several
# vCPUs or guests at once) run khyve on L1's first CPU only.
# L2 guests running on both L1 CPUs at once (two VMs, or one with several
# vCPUs) triple-fault now and then (about one boot in five with two guests
# booting together), and L1's own kernel has died of it: L0's nested-SVM
# emulation under multi-threaded TCG (see tests/e2e/run.sh). Pinned: none in
# 20 such boots. The second CPU still serves L1's own work (bridges, nc,
# iperf3, io_uring workers). KT_VMM_CPUMASK= (empty) lifts it.
cat >"$fresh/etc/testbed.conf" <<EOF
SCENARIOS="$*"
VMM=$VMM
KHYVE=/khyve/khyve
QEMU=/usr/bin/qemu-system-x86_64
QEMU_DATADIR=/usr/share/kt-qemu
GUEST_KERNEL=/guest/vmlinuz
GUEST_INITRD=/guest/initrd.img
$([ "$want_net" = 1 ] && echo GUEST_NET_PART=/guest/net.cpio)
$([ "$want_fw" = 1 ] && echo FW_DIR=/fw)
TIMEOUT_SCALE=${TIMEOUT_SCALE:-2}
KT_WORKDIR=/tmp/kt
KT_MODE=testbed
KT_VERBOSE=${KT_VERBOSE:-0}
KT_TAIL_LINES=${KT_TAIL_LINES:-40}
KT_LOUD=${KT_LOUD:-0}
KT_VMM_CPUMASK=${KT_VMM_CPUMASK-1}
KVM_AMD_PARAMS="${KVM_AMD_PARAMS:-}"
$([ -n "${DURABILITY_BOOTS:-}" ] && echo "DURABILITY_BOOTS=$DURABILITY_BOOTS")
$([ -n "${DURABILITY_ROUNDS:-}" ] && echo "DURABILITY_ROUNDS=$DURABILITY_ROUNDS")
EOF
tb_cpio "$fresh" "$fresh.cpio"
cat $parts "$fresh.cpio" >"$out.tmp"
rm -f "$fresh.cpio"
mv "$out.tmp" "$out"
# Old cached parts from earlier keys.
for f in "$TB_CACHE"/l1/*.cpio; do
	case " $parts " in *" $f "*) continue ;; esac
	[ -n "$(find "$f" -mtime +1 2>/dev/null)" ] && rm -f "$f"
done
touch $parts
echo "L1_KERNEL=$KIMAGE"
echo "L1_INITRD=$out"
