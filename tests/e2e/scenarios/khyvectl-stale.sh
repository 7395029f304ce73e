#!/bin/sh
# A SIGKILLed khyve leaves its entries behind: khyvectl says no such VM is
# running (nonzero), --list skips it, and the next khyve with that name
# reclaims the entry. khyvectl on a name never used fails with a clear line.
# e2e-weight: 2 (guest boots)
. "$(dirname "$0")/../lib.sh"

[ "$VMM" = qemu ] && skip "khyvectl talks to khyve only"
KHYVECTL=${KHYVECTL:-$(dirname "$KHYVE")/khyvectl}
[ -x "$KHYVECTL" ] || fail "no khyvectl binary at $KHYVECTL"
export KHYVE_RUNDIR=$KT_TMP/run
name=$(vm_name)

out=$("$KHYVECTL" --vm=nosuch --destroy 2>&1) && fail "--destroy of a VM that does not exist succeeded"
_kt_info "nosuch: $out"
echo "$out" | grep -q "no VM named 'nosuch'" || fail "unclear error for a missing VM: $out"

boot_waiting() {
	start_khyve 240 "$KT_TMP/$1" -m 256M -c 1 -l com1,stdio \
		-o boot.kernel="$GUEST_KERNEL" -o boot.initrd="$GUEST_INITRD" \
		-o "boot.cmdline=$GUEST_CONSOLE kt.action=wait" "$name"
	wait_log '^KT: waiting' 120 || { wait_khyve; fail "$1: guest never reported KT: waiting"; }
}

boot_waiting first
kill -KILL "$VM_PID"
wait_khyve
[ -L "$KHYVE_RUNDIR/vmm/$name" ] || fail "no stale vmm/$name after SIGKILL (test premise)"
[ -S "$KHYVE_RUNDIR/$name/control.sock" ] || fail "no stale control.sock after SIGKILL (test premise)"
out=$("$KHYVECTL" --vm="$name" --get-stats 2>&1) && fail "khyvectl reached a killed VM"
_kt_info "stale: $out"
echo "$out" | grep -q "stale" || fail "unclear error for a stale entry: $out"
"$KHYVECTL" --list | grep -q "^$name " && fail "--list shows a killed VM"

boot_waiting second
"$KHYVECTL" --list | grep -Eq "^$name +$VM_PID " || fail "the restarted VM is not listed with its pid"
[ "$(cat "$KHYVE_RUNDIR/$name/pid")" = "$VM_PID" ] || fail "pid file not rewritten"
[ "$(readlink "$KHYVE_RUNDIR/vmm/$name")" = "../$name" ] || fail "vmm/$name not recreated"
"$KHYVECTL" --vm="$name" --destroy || fail "--destroy of the restarted VM exited $?"
wait_khyve
expect_exit 4
[ -e "$KHYVE_RUNDIR/$name" ] && fail "entries left after --destroy: $(ls -a "$KHYVE_RUNDIR/$name")"
pass
