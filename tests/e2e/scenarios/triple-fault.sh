#!/bin/sh
# reboot=t makes Linux reset by triple fault (it loads an empty IDT and
# raises an exception): khyve exits 3.
. "$(dirname "$0")/../lib.sh"

run_action_guest 60 1 "reboot=t kt.action=reboot"
expect_exit 3
expect_guest_sane
expect_log '^KT: action=reboot'
expect_log 'reboot: Restarting system'
pass
