#!/bin/sh
# Boot the test guest, which reports and powers off: khyve exits 1.
. "$(dirname "$0")/../lib.sh"

run_action_guest 60 1 "kt.action=poweroff"
expect_exit 1
expect_guest_sane
expect_log '^KT: nproc=1$'
expect_log '^KT: action=poweroff'
expect_log 'reboot: Power down'
pass
