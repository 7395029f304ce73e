#!/bin/sh
# An idle guest costs (almost) no host CPU: halted vCPUs sleep in KVM and
# the event loop sleeps in epoll, nothing polls. Measured as khyve's CPU
# time (user + system) over 10 s while the guest idles.
# e2e-pin: yes
. "$(dirname "$0")/../lib.sh"

# utime + stime of PID, in clock ticks (fields 14 and 15 of /proc/PID/stat;
# the command name in field 2 has no blanks here).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

[ "$VMM" = qemu ] && skip "measures khyve's own process"
start_khyve 120 "$KT_TMP/console" -m 256M -c 2 -l com1,stdio \
	-o boot.kernel="$GUEST_KERNEL" -o boot.initrd="$GUEST_INITRD" \
	-o "boot.cmdline=$GUEST_CONSOLE kt.action=wait" "$(vm_name)"
wait_log '^KT: waiting' 90 || { wait_khyve; fail "guest never reported KT: waiting"; }
# Let the guest's boot-time work (module loading, acpid start) settle.
sleep 5
t0=$(cpu_ticks "$VM_PID")
sleep 10
t1=$(cpu_ticks "$VM_PID")
hz=$(getconf CLK_TCK 2>/dev/null || echo 100)
pct=$(( (t1 - t0) * 100 / (10 * hz) ))
_kt_info "khyve used $((t1 - t0)) ticks of $((10 * hz)) in 10 s idle (${pct}% of one CPU)"
power_button
wait_khyve
expect_exit 1
# Generous: in the testbed every guest timer interrupt is emulated twice over.
[ "$pct" -le 10 ] || fail "idle guest cost ${pct}% of a host CPU (limit 10%)"
pass
