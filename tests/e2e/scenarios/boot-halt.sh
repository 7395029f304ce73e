#!/bin/sh
# A guest that halts (Linux's "halt": every CPU stops with interrupts
# disabled) ends the VM with exit status 2, as bhyve's does: khyve notices
# within three seconds although KVM keeps HLT to itself. Two vCPUs: the second
# halts from the kernel's stop-CPUs IPI, the first last.
# e2e-pin: yes
. "$(dirname "$0")/../lib.sh"

run_action_guest 90 2 "kt.action=halt"
expect_exit 2
expect_guest_sane
expect_log '^KT: action=halt'
expect_log 'System halted'
grep -q "halted with interrupts disabled" "$VM_LOG.err" || fail "khyve does not say why it exited: $(cat "$VM_LOG.err")"
pass
