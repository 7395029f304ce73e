#!/bin/sh
# Two VMs on one bridge, each through its own tap (tapA, tapB as ports of
# the bridge), talking to each other, not to the host; B's NIC uses vhost-net
# (when /dev/vhost-net exists), A's has vhost=off (khyve moves its frames):
#   - their default MAC addresses differ (bhyve's rule hashes the VM name);
#   - each pings the other;
#   - KT_NET_MIB MiB (100; 16 in the testbed) of TCP (busybox nc) from A
#     to B, checksummed on the way out and on the way in (neither side
#     stores it), match.
# e2e-weight: 4
# e2e-pin: yes
. "$(dirname "$0")/../lib.sh"
# 100 MiB on real KVM; 16 in the nested testbed, where the two guests share
# one emulated L1 CPU (e2e-pin) and move about 0.2 MiB/s (32 MiB: 156-175 s).
case ${KT_MODE:-direct} in
testbed) mib=${KT_NET_MIB:-16} ;;
*) mib=${KT_NET_MIB:-100} ;;
esac
br=ktbr$$
tapa=tap$$
tapb=tap$(($$ + 1))
kt_bridge "$br" 10.99.0.1/24
kt_tap "$tapa" "$br"
kt_tap "$tapb" "$br"

# ping_loop IP: ping until the other VM answers (it may boot later), 120 tries.
ping_loop="i=0; until ping -c 1 -W 1 \$1 >/dev/null 2>&1; do i=\$((i + 1)); [ \$i -ge 120 ] && return 1; sleep 1; done;"
st="echo KT: tcp=\$(grep Tcp: /proc/net/snmp | tail -n1 | tr ' ' ,); echo KT: eth=\$(cat /sys/class/net/eth0/statistics/rx_packets),\$(cat /sys/class/net/eth0/statistics/tx_packets),\$(cat /sys/class/net/eth0/statistics/rx_dropped)"
# B: the listener is up before B has its address, so A's first answered
# ping means B listens.
scriptb="p() { $ping_loop }; mkfifo /tmp/h;
nc -l -p 7000 <>/tmp/h | sha256sum >/tmp/s & n=\$!; sleep 1;
echo KT: mac=\$(cat /sys/class/net/eth0/address);
ip link set eth0 up; ip addr add 10.99.0.12/24 dev eth0;
p 10.99.0.11; echo KT: ping=\$?; wait \$n; echo KT: sha=\$(cut -c1-64 /tmp/s);
echo KT: t=\$(cut -d' ' -f1 /proc/uptime); $st"
scripta="p() { $ping_loop }; mkfifo /tmp/p;
echo KT: mac=\$(cat /sys/class/net/eth0/address);
ip link set eth0 up; ip addr add 10.99.0.11/24 dev eth0;
p 10.99.0.12; echo KT: ping=\$?;
sha256sum </tmp/p >/tmp/s & n=\$!; echo KT: t0=\$(cut -d' ' -f1 /proc/uptime);
dd if=/dev/urandom bs=1M count=$mib 2>/dev/null | tee /tmp/p | nc 10.99.0.12 7000; echo KT: nc=\$?;
wait \$n; echo KT: t1=\$(cut -d' ' -f1 /proc/uptime); echo KT: sha=\$(cut -c1-64 /tmp/s); $st"

KT_VM=b start_script_guest 130 "$KT_TMP/b" "$scriptb" -s 3,virtio-net,"$tapb"
b_pid=$VM_PID b_wd=$VM_WD b_log=$VM_LOG
KT_VM=a start_script_guest 130 "$KT_TMP/a" "$scripta" -s 3,virtio-net,"$tapa",vhost=off
a_pid=$VM_PID
# While both run: B's frames go through the kernel (vhost-net, when there is
# one), A's through khyve itself (vhost=off).
vhost=none
if [ -c /dev/vhost-net ] && wait_log '^KT: ping=' 110; then
	kt_vhost_worker "$b_pid" && vhost=b
	kt_vhost_worker "$a_pid" && vhost="$vhost+a"
fi
wait_khyve
a_log=$VM_LOG a_rc=$KHYVE_RC a_to=$KHYVE_TIMEDOUT
# If A died (e.g. a triple fault), B would wait minutes for it: end B now.
[ "$a_rc" = "$(_kt_expected_rc 1)" ] || kill -KILL "$b_pid" 2>/dev/null
wait_khyve "$b_pid" "$b_wd" "$b_log"
# A failure shows both consoles, B's then A's.
fail() {
	VM_LOG=$b_log _kt_show_tail
	VM_LOG=$a_log _kt_show_tail
	kt_verdict_fail "$@"
}
expect_script_ok
VM_LOG=$a_log KHYVE_RC=$a_rc KHYVE_TIMEDOUT=$a_to
expect_script_ok
expect_value ping 0 "$a_log"
expect_value ping 0 "$b_log"
expect_value nc 0 "$a_log"
maca=$(kt_value mac "$a_log") macb=$(kt_value mac "$b_log")
[ -n "$maca" ] && [ "$maca" != "$macb" ] || fail "the two guests' MAC addresses are '$maca' and '$macb'"
case $vhost in
none | b) ;;
*) fail "vhost-net workers: expected one for B only, saw '$vhost'" ;;
esac
[ -c /dev/vhost-net ] && [ "$vhost" = none ] && fail "/dev/vhost-net exists but B (vhost default) has no vhost worker"
_kt_info "vhost-net worker for: ${vhost}"
shaa=$(kt_value sha "$a_log") shab=$(kt_value sha "$b_log")
case $shaa in
[0-9a-f]*) ;;
*) fail "guest A reported no checksum of what it sent" ;;
esac
[ "$shaa" = "$shab" ] || fail "A sent $mib MiB with sha256 $shaa, B received sha256 $shab"
_kt_info "A ($maca) -> B ($macb): $mib MiB in $(awk -v a="$(kt_value t0 "$a_log")" -v b="$(kt_value t1 "$a_log")" 'BEGIN { printf "%.1f", b - a }') s (urandom and sha256 included)"
# Where the time went, if it was long: TCP retransmissions (the 13th field
# of /proc/net/snmp's Tcp line), frames each guest's NIC saw and dropped.
for g in A B; do
	[ $g = A ] && l=$a_log || l=$b_log
	_kt_info "$g: TCP segments retransmitted $(kt_value tcp "$l" | cut -d, -f13); eth0 rx,tx,rx_dropped $(kt_value eth "$l")"
done
pass
