#!/bin/sh
# The guest reboots (reboot -f, Linux's default reset method): khyve exits 0.
. "$(dirname "$0")/../lib.sh"

run_action_guest 60 1 "kt.action=reboot"
expect_exit 0
expect_guest_sane
expect_log '^KT: action=reboot'
expect_log 'reboot: Restarting system'
# khyve must not boot the guest a second time.
[ "$(tr -d '\r' <"$VM_LOG" | grep -c '^KT: init-start')" = 1 ] || fail "guest booted more than once"
pass
