#!/bin/sh
# The handbook's installer command line, run with vmrun as a bhyve user
# would run vmrun.sh: `vmrun -c 1 -m 512M -d guest.img -i -I install.iso
# NAME` (plus -f, where the testbed keeps Debian's SeaBIOS). vmrun creates
# the missing 8 GiB disk, starts khyve with SeaBIOS, the disk and the ISO on
# an AHCI CD-ROM first in the boot order; SeaBIOS boots the CD (a GRUB
# rescue ISO), GRUB boots the test guest, which powers off: vmrun says so
# and exits 1.
# e2e-weight: 3 (firmware, GRUB and a guest boot under vmrun)
. "$(dirname "$0")/../lib.sh"

[ "$VMM" = qemu ] && skip "vmrun runs khyve"
VMRUN=$(dirname "$KHYVE")/vmrun
[ -r "$VMRUN" ] || VMRUN=$_kt_root/scripts/vmrun
fw_seabios
fw_media grub.iso
VM_LOG=$KT_TMP/console
disk=$KT_TMP/guest.img
KHYVE=$KHYVE sh "$VMRUN" -c 1 -m 512M -d "$disk" -f "$FW_SEABIOS" -i -I "$FW_PATH" \
	"$(vm_name)" >"$VM_LOG" 2>&1 </dev/null &
vpid=$!
_kt_all_pids="$_kt_all_pids $vpid"
i=0
while _kt_alive $vpid && [ $i -lt "$(_kt_scale 80)" ]; do sleep 1; i=$((i + 1)); done
if _kt_alive $vpid; then
	kill -KILL "$(cat "${KHYVE_RUNDIR:-/run/khyve}/$(vm_name)/pid" 2>/dev/null)" 2>/dev/null
	kill -KILL $vpid
	fail "vmrun still running after $i s"
fi
wait $vpid
rc=$?
_kt_info "vmrun exited $rc; $(grep -c 'Launching\|starting it again' "$VM_LOG") khyve run(s)"
[ "$rc" = 1 ] || fail "vmrun exited $rc, expected 1 (powered off)"
expect_log "Creating it"
[ "$(ls -ln "$disk" | awk '{ print $5 }')" = 8589934592 ] || fail "vmrun did not create the 8 GiB disk"
expect_log 'Booting from DVD/CD'
expect_grub_boot
expect_log "^vmrun: $(vm_name) powered off"
pass
