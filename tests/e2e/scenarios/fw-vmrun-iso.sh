#!/bin/sh
# The handbook's installer command line, run with vmrun as a bhyve user
# would run vmrun.sh: `vmrun -c 1 -m 512M -d guest.img -i -I install.iso
# NAME` (plus -f, where the testbed keeps Debian's SeaBIOS). vmrun creates
# the missing 8 GiB disk, starts khyve with SeaBIOS, the disk and the ISO on
# an AHCI CD-ROM first in the boot order; SeaBIOS boots the CD (a GRUB
# rescue ISO), GRUB boots the test guest, which powers off: vmrun says so
# and exits 1.
. "$(dirname "$0")/../lib.sh"

[ "$VMM" = qemu ] && skip "vmrun runs khyve"
VMRUN=$(dirname "$KHYVE")/vmrun
[ -r "$VMRUN" ] || VMRUN=$_kt_root/scripts/vmrun
fw_seabios
fw_media grub.iso
VM_LOG=$KT_TMP/console
disk=$KT_TMP/guest.img
KHYVE=$KHYVE timeout "$(_kt_scale 150)" sh "$VMRUN" -c 1 -m 512M -d "$disk" -f "$FW_SEABIOS" \
	-i -I "$FW_PATH" "$(vm_name)" >"$VM_LOG" 2>&1 </dev/null
rc=$?
_kt_info "vmrun exited $rc"
[ "$rc" = 1 ] || fail "vmrun exited $rc, expected 1 (powered off)"
expect_log "Creating it"
[ "$(wc -c <"$disk")" = 8589934592 ] || fail "vmrun did not create the 8 GiB disk"
expect_log 'Booting from DVD/CD'
expect_grub_boot
expect_log "^vmrun: $(vm_name) powered off"
pass
