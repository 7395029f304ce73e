#!/bin/sh
# shellcheck disable=SC2016 # the commands typed are for the guest shell to expand
# The handbook's null-modem console: khyve -l com1,/dev/nmdm0A. A real
# client, busybox microcom, opens /dev/nmdm0B, sees the guest's shell, types
# a command and reads its output, then detaches (Control-X); the guest
# prints while nobody is attached; khyvectl --console attaches again and
# gets that output first, types another command; after the guest powers
# off, khyvectl ends by itself and both names are gone.
# e2e-weight: 2 (one boot, but waits while detached)
. "$(dirname "$0")/../lib.sh"

[ "$VMM" = qemu ] && skip "nmdm consoles are khyve's"
command -v microcom >/dev/null 2>&1 || fail "no microcom (busybox applet) here"
KHYVECTL=${KHYVECTL:-$(dirname "$KHYVE")/khyvectl}
[ -x "$KHYVECTL" ] || fail "no khyvectl binary at $KHYVECTL"
export KHYVE_RUNDIR=$KT_TMP/run
# If a client dies, writes to its FIFO must fail, not kill this script.
trap '' PIPE

# The handbook's names, unless a VM of the user has them.
n=0
if [ -e /dev/nmdm0A ] || [ -L /dev/nmdm0A ]; then n=$$; fi
A=/dev/nmdm${n}A B=/dev/nmdm${n}B
name=$(vm_name)
MC=$KT_TMP/microcom.out KC=$KT_TMP/khyvectl.out

# On failure, show what each client saw.
failc() {
	for f in "$MC" "$KC" "$KC.err"; do
		[ -s "$f" ] || continue
		echo "--- $SCENARIO: $f (last 15 lines):"
		tail -n 15 "$f" | tr -d '\r' | sed 's/^/  | /'
	done
	fail "$*"
}

start_khyve 300 "$KT_TMP/khyve" -m 256M -c 1 -l "com1,$A" \
	-o boot.kernel="$GUEST_KERNEL" -o boot.initrd="$GUEST_INITRD" \
	-o "boot.cmdline=$GUEST_CONSOLE kt.action=shell" "$name"
i=0
while [ ! -L "$B" ] && [ $i -lt 100 ] && _kt_alive "$VM_PID"; do sleep 0.1; i=$((i + 1)); done
[ -L "$B" ] || failc "khyve made no $B"
case $(readlink "$B") in /dev/pts/*) ;; *) failc "$B -> $(readlink "$B"): not a pty slave" ;; esac
case $(readlink "$A") in "/proc/$VM_PID/fd/"*) ;; *) failc "$A -> $(readlink "$A"): not khyve's master" ;; esac
_kt_info "$B -> $(readlink "$B"), $A -> $(readlink "$A")"

# 1. microcom on the B side: the shell, a command and its output.
mkdir -p /var/lock 2>/dev/null
mkfifo "$KT_TMP/mc.in"
microcom -t 600000 "$B" <"$KT_TMP/mc.in" >"$MC" 2>&1 &
mc_pid=$!
_kt_all_pids="$_kt_all_pids $mc_pid"
exec 7>"$KT_TMP/mc.in"
wait_log '^KT: shell-ready' 150 "$MC" "$VM_PID" || failc "microcom never saw KT: shell-ready"
sleep 1
echo 'echo hello-$((6*7))' >&7
wait_log 'hello-42' 60 "$MC" "$VM_PID" || failc "no hello-42 through microcom"
# Output for later: printed a few seconds after microcom has gone.
echo '(sleep 3; echo late-$((7*6)); echo late-done) &' >&7
sleep 1
printf '\030' >&7 # Control-X: microcom leaves
i=0
while _kt_alive $mc_pid && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
_kt_alive $mc_pid && failc "microcom did not exit on Control-X"
exec 7>&-
_kt_info "microcom detached; the guest prints while nobody is attached"

# 2. Nobody attached: the guest goes on printing (into khyve's ring).
sleep "$(_kt_scale 10)"
_kt_alive "$VM_PID" || failc "khyve died while nobody was attached"
grep -q 'late-42' "$MC" && failc "late-42 reached microcom, which had detached"

# 3. khyvectl --console attaches again: the output of the detached time first.
mkfifo "$KT_TMP/kc.in"
"$KHYVECTL" --vm="$name" --console com1 <"$KT_TMP/kc.in" >"$KC" 2>"$KC.err" &
kc_pid=$!
_kt_all_pids="$_kt_all_pids $kc_pid"
exec 8>"$KT_TMP/kc.in"
wait_log 'late-done' 30 "$KC" "$VM_PID" || failc "khyvectl did not get what the guest printed while detached"
grep -q 'late-42' "$KC" || failc "late-42 missing after re-attach"
grep -q 'hello-42' "$KC" && failc "output already read by microcom came again"
echo 'echo again-$((5*5))' >&8
wait_log 'again-25' 60 "$KC" "$VM_PID" || failc "no again-25 through khyvectl --console"
echo 'poweroff -f' >&8
wait_khyve
expect_exit 1
i=0
while _kt_alive $kc_pid && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
_kt_alive $kc_pid && failc "khyvectl --console still runs after the VM exited"
wait $kc_pid
kc_rc=$?
exec 8>&-
[ $kc_rc = 0 ] || failc "khyvectl --console exited $kc_rc"
grep -q 'Connected to' "$KC.err" || failc "khyvectl did not say it connected"
if [ -L "$A" ] || [ -L "$B" ]; then failc "$A or $B left behind after khyve exited"; fi
pass
