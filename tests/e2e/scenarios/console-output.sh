#!/bin/sh
# Everything the guest writes to COM1 arrives, in order, whichever way it
# writes: the kernel's polled console (printk), the interrupt-driven tty,
# and bare OUTs to the data register with no status check (through
# /dev/port), whose bytes must show up while the guest sleeps. KVM queues
# THR writes (coalesced) and khyve replays them at the guest's next exit
# or from its timer, whichever comes first (the timer alone is checked by
# test_coalesce: an idle Linux guest still exits now and then).
. "$(dirname "$0")/../lib.sh"

ALPHA=ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789
# Markers are built in the guest, so that the command line the guest
# echoes (KT: script=...) never matches them.
script="up() { read a b </proc/uptime; echo \$a; };
t0=\$(up); i=0; while [ \$i -lt 300 ]; do echo \\<2\\>KT-kmsg-\$i-$ALPHA >/dev/kmsg; i=\$((i+1)); done; t1=\$(up);
i=0; while [ \$i -lt 400 ]; do echo KT-tty-\$i-$ALPHA$ALPHA; i=\$((i+1)); done >/dev/ttyS0; t2=\$(up);
echo KT: kmsg-s=\$t0 \$t1; echo KT: tty-s=\$t1 \$t2;
m=blind; echo KT: \${m}-start;
for c in K T : _ b l i n d - o k; do printf %s \$c | dd of=/dev/port bs=1 seek=1016 count=1 2>/dev/null; done;
sleep 8; echo; echo KT: \${m}-slept"
start_script_guest 120 "$KT_TMP/console" "$script"
wait_log '^KT: blind-start' 90 || { power_button; wait_khyve; fail "the guest never reached its blind writes"; }
# 13 processes to spawn, then 8 s of sleep: the bytes come within it.
wait_log 'KT:_blind-ok' 6 || { power_button; wait_khyve; fail "bytes written to COM1 without an exit after them never arrived"; }
tr -d '\r' <"$KT_TMP/console" | grep -q '^KT: blind-slept' &&
	fail "the blind writes arrived only after the guest woke up"
wait_khyve
expect_script_ok

# in_order KIND COUNT: the numbered lines of KIND are there, whole, once each, in order.
in_order() {
	tr -d '\r' <"$KT_TMP/console" | grep -o "KT-$1-[0-9]*-[A-Z0-9]*" |
		sed -n "s/^KT-$1-\([0-9]*\)-$3\$/\1/p" >"$KT_TMP/$1.seen"
	seq 0 $(($2 - 1)) >"$KT_TMP/$1.want"
	cmp -s "$KT_TMP/$1.seen" "$KT_TMP/$1.want" ||
		fail "$1 lines: $(wc -l <"$KT_TMP/$1.seen") of $2 whole and in order (first difference: $(diff "$KT_TMP/$1.want" "$KT_TMP/$1.seen" | sed -n 2p))"
}
in_order kmsg 300 "$ALPHA"
in_order tty 400 "$ALPHA$ALPHA"
set -- $(kt_value kmsg-s) $(kt_value tty-s)
_kt_info "printk: 300 lines in $(awk "BEGIN { print $2 - $1 }") s; tty: 400 lines in $(awk "BEGIN { print $4 - $3 }") s"
pass
