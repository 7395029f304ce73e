#!/bin/sh
# The console is interactive: commands written to khyve's stdin (a pipe, not
# a tty) reach the guest's shell, and its output comes back.
. "$(dirname "$0")/../lib.sh"

# If the VMM dies, writes to the FIFO must fail, not kill this script.
trap '' PIPE
fifo=$KT_TMP/stdin
mkfifo "$fifo"
KT_STDIN=$fifo start_khyve 90 "$KT_TMP/console" -m 256M -c 1 -l com1,stdio \
	-o boot.kernel="$GUEST_KERNEL" -o boot.initrd="$GUEST_INITRD" \
	-o "boot.cmdline=$GUEST_CONSOLE kt.action=shell" "$(vm_name)"
# Opening the write end lets the VMM's open of the read end complete.
exec 7>"$fifo"
wait_log '^KT: shell-ready' 60 || { exec 7>&-; wait_khyve; fail "guest never reported KT: shell-ready"; }
sleep 1
echo 'echo hello-$((6*7))' >&7
wait_log 'hello-42' 30 || { exec 7>&-; power_button; wait_khyve; fail "no hello-42 from the guest shell"; }
echo 'poweroff -f' >&7
wait_khyve
exec 7>&-
expect_exit 1
expect_log 'hello-42'
pass
