#!/bin/sh
# Firmware boot: Debian's SeaBIOS (bios-256k.bin) from -l bootrom finds QEMU's
# interfaces (i440FX host bridge IDs, fw_cfg) and prints its banner on COM1
# through its serial console (fw_cfg etc/sercon-port). There is nothing to
# boot: it tries its boot devices, says there is no bootable device, and is
# stopped.
. "$(dirname "$0")/../lib.sh"

[ "$VMM" = qemu ] && skip "QEMU brings its own SeaBIOS"
bios=
for f in "${QEMU_DATADIR:-/nonexistent}/bios-256k.bin" /usr/share/seabios/bios-256k.bin; do
	[ -r "$f" ] && { bios=$f; break; }
done
[ -n "$bios" ] || fail "no SeaBIOS image (package seabios; in the testbed: L1_QEMU=1)"

start_khyve 120 "$KT_TMP/console" -m 256M -c 1 -s 0,hostbridge -s 31,lpc \
	-l com1,stdio -l bootrom,"$bios" "$(vm_name)"
banner=0
wait_log 'SeaBIOS \(version' 60 && banner=1
# Then it tries each boot device in turn and gives up until its retry.
tried=0
[ $banner = 1 ] && wait_log 'No bootable device' 60 && tried=1
kill -KILL "$VM_PID" 2>/dev/null
wait_khyve
cat "$VM_LOG.err" >&2
tr -d '\r' <"$VM_LOG" | grep -a -E 'SeaBIOS|Boot|boot' | sed 's/^/  console: /'
[ $banner = 1 ] || fail "no SeaBIOS banner on COM1"
expect_log 'SeaBIOS \(version'
[ $tried = 1 ] || fail "SeaBIOS never reached 'No bootable device'"
expect_log 'Booting from Hard Disk'
pass
