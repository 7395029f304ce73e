#!/bin/sh
# Two VMs with different names: both in `khyvectl --list` and in
# `ls RUNDIR/vmm`; --get-stats counts exits, --get-rip reads a kernel
# address from a halted vCPU; --destroy ends one (khyve exits 4, as bhyve
# does when bhyvectl --destroy removes its VM) and its entries vanish while
# the other VM runs on.
# e2e-weight: 2 (guest boots)
# e2e-pin: yes
. "$(dirname "$0")/../lib.sh"

[ "$VMM" = qemu ] && skip "khyvectl talks to khyve only"
KHYVECTL=${KHYVECTL:-$(dirname "$KHYVE")/khyvectl}
[ -x "$KHYVECTL" ] || fail "no khyvectl binary at $KHYVECTL"
export KHYVE_RUNDIR=$KT_TMP/run

boot_waiting() {
	start_khyve 240 "$KT_TMP/$1" -m 256M -c "$2" -l com1,stdio \
		-o boot.kernel="$GUEST_KERNEL" -o boot.initrd="$GUEST_INITRD" \
		-o "boot.cmdline=$GUEST_CONSOLE kt.action=wait" "$(vm_name "$1")"
}

boot_waiting a 1
a_pid=$VM_PID a_wd=$VM_WD a_log=$VM_LOG
boot_waiting b 2
b_pid=$VM_PID b_wd=$VM_WD b_log=$VM_LOG
wait_log '^KT: waiting' 120 "$a_log" "$a_pid" || fail "VM a never reported KT: waiting"
wait_log '^KT: waiting' 120 "$b_log" "$b_pid" || fail "VM b never reported KT: waiting"
a=$(vm_name a) b=$(vm_name b)

list=$("$KHYVECTL" --list) || fail "khyvectl --list failed: $list"
_kt_info "khyvectl --list:"
echo "$list" | sed 's/^/    /'
echo "$list" | grep -Eq "^$a +$a_pid +1 +256M +[0-9:-]+ running\$" || fail "--list lacks VM a as $a $a_pid 1 256M running"
echo "$list" | grep -Eq "^$b +$b_pid +2 +256M +[0-9:-]+ running\$" || fail "--list lacks VM b as $b $b_pid 2 256M running"
vmm=$(ls -al "$KHYVE_RUNDIR/vmm")
echo "$vmm" | grep -q " $a -> \.\./$a\$" || fail "ls -al RUNDIR/vmm lacks $a: $vmm"
echo "$vmm" | grep -q " $b -> \.\./$b\$" || fail "ls -al RUNDIR/vmm lacks $b: $vmm"

stats=$("$KHYVECTL" --vm="$a" --get-stats) || fail "--get-stats failed: $stats"
_kt_info "--get-stats:"
echo "$stats" | sed 's/^/    /'
io=$(echo "$stats" | sed -n 's/^ *port I\/O exits handled by khyve *//p')
[ "${io:-0}" -gt 0 ] || fail "--get-stats shows no port I/O exits: $stats"

# vCPU 1 of b is an AP idling in HLT: its thread sleeps in KVM_RUN and must be kicked.
for cpu in 0 1; do
	t0=$(_kt_now)
	rip=$("$KHYVECTL" --vm="$b" --cpu=$cpu --get-rip) || fail "--get-rip --cpu=$cpu failed: $rip"
	_kt_info "$rip (khyvectl took $(_kt_since "$t0") s)"
	echo "$rip" | grep -Eq "^rip\[$cpu\] +0xffffffff[89ab][0-9a-f]{7}\$" ||
		fail "--get-rip --cpu=$cpu is not a kernel text address: $rip"
done
all=$("$KHYVECTL" --vm="$b" --get-all) || fail "--get-all failed"
for r in rax rsp rflags cr0 cr3 cr4 efer cs; do
	echo "$all" | grep -Eq "^$r\[0\] +0x[0-9a-f]{16}\$" || fail "--get-all lacks $r: $all"
done
"$KHYVECTL" --vm="$b" --cpu=2 --get-rip 2>"$KT_TMP/cpu2.err" && fail "--cpu=2 of a 2-vCPU VM succeeded"
grep -q "no vCPU 2" "$KT_TMP/cpu2.err" || fail "--cpu=2: $(cat "$KT_TMP/cpu2.err")"

"$KHYVECTL" --vm="$a" --destroy || fail "khyvectl --destroy exited $?"
# khyvectl returns once khyve is gone: its entries are already removed.
[ -e "$KHYVE_RUNDIR/vmm/$a" ] || [ -L "$KHYVE_RUNDIR/vmm/$a" ] && fail "vmm/$a still exists after --destroy"
[ -e "$KHYVE_RUNDIR/$a" ] && fail "$KHYVE_RUNDIR/$a still exists after --destroy"
wait_khyve "$a_pid" "$a_wd" "$a_log"
expect_exit 4
grep -q "destroyed" "$a_log.err" || fail "khyve does not say it was destroyed: $(cat "$a_log.err")"
list=$("$KHYVECTL" --list)
echo "$list" | grep -q "^$a " && fail "--list still shows the destroyed VM: $list"
echo "$list" | grep -q "^$b " || fail "--list lost VM b: $list"

_kt_alive "$b_pid" || fail "VM b died with a"
power_button "$b_pid"
wait_khyve "$b_pid" "$b_wd" "$b_log"
expect_exit 1
[ -e "$KHYVE_RUNDIR/vmm/$b" ] && fail "vmm/$b still exists after power-off"
pass
