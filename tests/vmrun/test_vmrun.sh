#!/bin/sh
# Tests of scripts/vmrun against a fake khyve (fake-khyve): the reboot
# loop, the khyve command line it builds from vmrun.sh's options, the
# messages for each exit status and for the options khyve cannot honour
# (the handbook's ISO install among them), SIGTERM passed on as the power
# button. Prints TAP lines ("ok N - ...", "not ok N - ..."); exit status 1
# if any failed.
# shellcheck disable=SC2016,SC2086 # sh -c scripts take $1..; $K is two options
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
VMRUN=$ROOT/scripts/vmrun
TMP=$(mktemp -d "${TMPDIR:-/tmp}/kt-vmrun.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
export KHYVE="$HERE/fake-khyve" FAKE_LOG="$TMP/runs"
n=0
failed=0

ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
	n=$((n + 1)); failed=1
	echo "not ok $n - $1"
	shift
	for l; do printf '%s\n' "$l" | sed 's/^/#   /'; done
}
check() { # check DESCRIPTION CONDITION-COMMAND...
	_d=$1; shift
	if "$@"; then ok "$_d"; else not_ok "$_d" "output: $(cat "$TMP/out" 2>/dev/null)" "runs: $(cat "$FAKE_LOG" 2>/dev/null)"; fi
}
# run_vmrun ARGS...: sets rc; output in $TMP/out; fresh run log.
run_vmrun() {
	rm -f "$FAKE_LOG" "$FAKE_LOG.signals"
	sh "$VMRUN" "$@" >"$TMP/out" 2>&1 </dev/null
	rc=$?
}
runs() { if [ -e "$FAKE_LOG" ]; then wc -l <"$FAKE_LOG" | tr -d ' '; else echo 0; fi; }

K="-k /boot/vmlinuz -r /boot/initrd.img"

# Reboot, reboot, power off: three runs, then stop with khyve's status.
FAKE_CODES="0 0 1" run_vmrun $K vm1
check "reboots twice, powers off: three runs" [ "$(runs)" = 3 ]
check "exits with the power-off status 1" [ "$rc" = 1 ]
check "says each reboot and the power-off" \
	sh -c '[ "$(grep -c "vm1 rebooted; starting it again" "$1")" = 2 ] && grep -q "vm1 powered off" "$1"' sh "$TMP/out"

for case in "2 halted" "3 triple fault" "4 khyve failed with exit status 4" "5 exit status 5"; do
	code=${case%% *} why=${case#* }
	FAKE_CODES="0 $code" run_vmrun $K vm1
	check "status $code: two runs, exit $code, says '$why'" \
		sh -c '[ "$1" = 2 ] && [ "$2" = "$3" ] && grep -q "$4" "$5"' sh "$(runs)" "$rc" "$code" "$why" "$TMP/out"
done

# The khyve command line, vmrun.sh's device layout.
FAKE_CODES=1 run_vmrun -c 4 -m 1024M -t tap0 -t tap1 -d "$TMP/guest.img" -d "$TMP/data.img,ro" \
	-C /dev/nmdm0A -u -k /boot/vmlinuz -r /boot/initrd.img -K "console=ttyS0 root=/dev/vda1" \
	-o memory.wired=true linuxguest
want="-c 4 -m 1024M -u -H -A -P -s 0:0,hostbridge -s 1:0,lpc -s 2:0,virtio-net,tap0 -s 3:0,virtio-net,tap1 -s 4:0,virtio-blk,$TMP/guest.img -s 5:0,virtio-blk,$TMP/data.img,ro -l com1,/dev/nmdm0A -o boot.kernel=/boot/vmlinuz -o boot.initrd=/boot/initrd.img -o boot.cmdline=console=ttyS0 root=/dev/vda1 -o memory.wired=true linuxguest"
if [ "$(cat "$FAKE_LOG")" = "$want" ]; then ok "khyve command line"; else
	not_ok "khyve command line" "got:  $(cat "$FAKE_LOG")" "want: $want"; fi
check "missing disk images are created sparse, 8G (as vmrun.sh)" \
	sh -c '[ "$(stat -c %s "$1")" = 8589934592 ] && [ "$(stat -c %b "$1")" = 0 ]' sh "$TMP/guest.img"
check "defaults: 2 vCPUs, 512M, console on stdio, no NIC, no disk" \
	sh -c 'FAKE_CODES=1 sh "$1" -k /k vm >/dev/null 2>&1 </dev/null; grep -qx -- "-c 2 -m 512M -H -A -P -s 0:0,hostbridge -s 1:0,lpc -l com1,stdio -o boot.kernel=/k vm" "$2"' \
	sh "$VMRUN" "$FAKE_LOG"

# What khyve cannot do yet: one clear line, status 4, khyve never started.
refused() { # refused DESCRIPTION PATTERN ARGS...
	_d=$1 _p=$2; shift 2
	run_vmrun "$@"
	check "$_d" sh -c '[ "$1" = 4 ] && [ "$2" = 0 ] && grep -q "$3" "$4"' sh "$rc" "$(runs)" "$_p" "$TMP/out"
}
# The handbook's two vmrun.sh command lines: firmware boot (SeaBIOS), the
# ISO as an AHCI CD-ROM after the disk in the boot order (-i: before it).
BIOS=$TMP/bios.bin UEFI=$TMP/OVMF.fd ISO=$TMP/install.iso
: >"$BIOS"; : >"$UEFI"; : >"$ISO"
# cmdline_is DESCRIPTION WANT ARGS...: vmrun ARGS starts khyve with WANT.
cmdline_is() {
	_d=$1 _w=$2; shift 2
	FAKE_CODES=1 run_vmrun "$@"
	if [ "$rc" = 1 ] && [ "$(cat "$FAKE_LOG")" = "$_w" ]; then ok "$_d"; else
		not_ok "$_d" "status $rc, output: $(cat "$TMP/out")" "got:  $(cat "$FAKE_LOG" 2>/dev/null)" "want: $_w"; fi
}
base="-c 1 -m 1024M -H -A -P -s 0:0,hostbridge -s 1:0,lpc -s 2:0,virtio-net,tap0"
cmdline_is "handbook ISO install (-i -I): SeaBIOS, the CD first" \
	"$base -s 3:0,virtio-blk,$TMP/freebsdguest.img,bootindex=1 -s 4:0,ahci-cd,$ISO,bootindex=0 -l com1,stdio -l bootrom,$BIOS freebsd" \
	-c 1 -m 1024M -t tap0 -d "$TMP/freebsdguest.img" -f "$BIOS" -i -I "$ISO" freebsd
cmdline_is "-I without -i: the disk first, the CD next" \
	"$base -s 3:0,virtio-blk,$TMP/freebsdguest.img,bootindex=0 -s 4:0,ahci-cd,$ISO,bootindex=1 -l com1,stdio -l bootrom,$BIOS freebsd" \
	-c 1 -m 1024M -t tap0 -d "$TMP/freebsdguest.img" -f "$BIOS" -I "$ISO" freebsd
cmdline_is "handbook disk boot without -k: firmware boots the disk" \
	"-c 4 -m 1024M -H -A -P -s 0:0,hostbridge -s 1:0,lpc -s 2:0,virtio-net,tap0 -s 3:0,virtio-blk,$TMP/freebsdguest.img -l com1,stdio -l bootrom,$BIOS freebsd" \
	-c 4 -m 1024M -t tap0 -d "$TMP/freebsdguest.img" -f "$BIOS" freebsd
cmdline_is "-E -A: UEFI firmware, AHCI disks" \
	"-c 2 -m 512M -H -A -P -s 0:0,hostbridge -s 1:0,lpc -s 2:0,ahci-hd,$TMP/freebsdguest.img -l com1,stdio -l bootrom,$UEFI vm" \
	-E -A -f "$UEFI" -d "$TMP/freebsdguest.img" vm
refused "missing firmware: says which package" "firmware /nonexistent/bios.bin not found.*seabios" \
	-f /nonexistent/bios.bin -d "$TMP/freebsdguest.img" vm
refused "missing ISO" "installation CD image /nonexistent.iso not found" -I /nonexistent.iso $K vm
refused "-i without -I" "i: no installation CD image" -i -f "$BIOS" vm
refused "-E with -k" "UEFI boot and -k" -E $K vm
refused "-F (VNC framebuffer): not implemented yet" "framebuffer (VNC) is not implemented" -F 1 $K vm
refused "-p (passthrough)" "PCI passthrough" -p 1/0/0 $K vm
refused "-e (bhyveload)" "bhyveload" -e foo=bar $K vm
refused "-n e1000" "only virtio-net" -n e1000 $K vm
refused "no VM name" "virtual machine name not specified" $K
run_vmrun -h
check "-h: usage, status 0" sh -c '[ "$1" = 0 ] && grep -q "^Usage: vmrun" "$2"' sh "$rc" "$TMP/out"

# SIGTERM to vmrun: the power button for khyve, and no restart afterwards.
rm -f "$FAKE_LOG" "$FAKE_LOG.signals"
FAKE_CODES="0 0" FAKE_SLEEP=30 sh "$VMRUN" $K vm1 >"$TMP/out" 2>&1 </dev/null &
vpid=$!
i=0
while [ ! -s "$FAKE_LOG" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
sleep 0.3
kill -TERM $vpid
wait $vpid
rc=$?
check "SIGTERM: passed to khyve as the power button, one run, exit 1" \
	sh -c '[ "$1" = 1 ] && [ "$2" = 1 ] && grep -q "power button" "$3" && grep -q "vm1 powered off" "$4"' \
	sh "$rc" "$(runs)" "$FAKE_LOG.signals" "$TMP/out"

# The console on stdio: khyve gets vmrun's stdin, not /dev/null.
rm -f "$FAKE_LOG"
cat >"$TMP/stdin-khyve" <<'EOS'
#!/bin/sh
read -r line
echo "$line" >>"$FAKE_LOG"
exit 1
EOS
chmod +x "$TMP/stdin-khyve"
echo "typed into the console" | KHYVE=$TMP/stdin-khyve sh "$VMRUN" $K vm1 >"$TMP/out" 2>&1
check "khyve reads vmrun's stdin (the stdio console)" grep -qx "typed into the console" "$FAKE_LOG"

if command -v shellcheck >/dev/null 2>&1; then
	if out=$(shellcheck -s sh "$VMRUN" "$HERE/fake-khyve" 2>&1); then ok "shellcheck scripts/vmrun"; else
		not_ok "shellcheck scripts/vmrun" "$out"; fi
fi
echo "1..$n"
exit $failed
