#!/bin/sh
# Install the Debian packages khyve builds and tests with (see README
# "Dependencies" for why each is there). Does nothing when all are present.
set -eu
PKGS="build-essential pkg-config libcmocka-dev liblzma-dev acpica-tools dmidecode
      qemu-system-x86 busybox-static cpio xz-utils kmod ca-certificates mandoc
      liburing-dev libslirp-dev libmd-dev seabios ovmf
      grub-common grub-pc-bin grub-efi-amd64-bin xorriso mtools fdisk"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "install-deps: installing:$missing"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
