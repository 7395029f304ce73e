#!/bin/sh
# virtio-net on a tap interface that is a port of a bridge, the usual way
# to put a VM on a host's network (the tap made beforehand with
# "ip tuntap add", as bhyve users make theirs):
#   - the guest (10.99.0.2) pings the host's bridge address (10.99.0.1) and
#     the host pings the guest;
#   - TCP (busybox nc) guest -> host and host -> guest, KT_NET_MIB MiB (32)
#     each way, arrive intact (sha256 on both sides), with the guest's
#     checksum and segmentation offloads on (khyve passes them to the tap in
#     the vnet header) and again with them off (ethtool -K tx off tso off gso
#     off: the guest checksums and segments itself);
#   - UDP (iperf3 -u at 10 Mbit/s, 3 s) each way: datagrams arrive and fewer
#     than 10% are lost;
#   - with /dev/vhost-net (as in the testbed), frames take the kernel's path:
#     a vhost worker serves khyve while the guest runs; with KT_NET_VHOST=off
#     (net-tap-vhost-off) they take khyve's own, and no worker runs.
# e2e-weight: 4
. "$(dirname "$0")/../lib.sh"
kt_need iperf3
kt_net_guest
mib=${KT_NET_MIB:-32}
br=ktbr$$
tap=tap$$

kt_bridge "$br" 10.99.0.1/24
kt_tap "$tap" "$br"
dd if=/dev/urandom of="$KT_TMP/h2g" bs=1M count="$mib" 2>/dev/null || fail "cannot make the $mib MiB file"
h2g_sha=$(kt_sha "$KT_TMP/h2g")
# Receivers: their stdin (a FIFO opened read-write) never ends, or busybox
# nc would half-close at once and the sender stop early.
mkfifo "$KT_TMP/hold"
busybox nc -l -p 5001 <>"$KT_TMP/hold" >"$KT_TMP/g2h1" &
nc1=$!
busybox nc -l -p 5002 <>"$KT_TMP/hold" >"$KT_TMP/g2h2" &
nc2=$!
iperf3 -s -p 5201 >"$KT_TMP/iperf3.log" 2>&1 &
ip3=$!
_kt_all_pids="$_kt_all_pids $nc1 $nc2 $ip3"

# In the guest: x N = send a fresh file to port 500N and report its sha256,
# then receive one on port 600N and report its sha256; u [-R] = iperf3 UDP,
# reported as LOST/TOTAL datagrams (the field before "(N%)").
script="t() { cut -d' ' -f1 /proc/uptime; };
x() { dd if=/dev/urandom of=/tmp/o bs=1M count=$mib 2>/dev/null; echo KT: g2h\$1-sha=\$(sha256sum </tmp/o | cut -c1-64);
echo KT: g2h\$1-t0=\$(t); nc 10.99.0.1 500\$1 </tmp/o; echo KT: g2h\$1-nc=\$?; echo KT: g2h\$1-t1=\$(t); rm -f /tmp/o;
nc -l -p 600\$1 <>/tmp/h >/tmp/i & n=\$!; sleep 1; echo KT: h2g\$1-ready; wait \$n;
echo KT: h2g\$1-sha=\$(sha256sum </tmp/i | cut -c1-64); rm -f /tmp/i; };
u() { iperf3 -c 10.99.0.1 -p 5201 -u -b 10M -t 3 -l 1400 \$1 >/tmp/u 2>&1;
echo KT: udp\$1=\$(awk '/receiver/ { for (i = 2; i <= NF; i++) if (\$i ~ /^[(]/) print \$(i - 1) }' /tmp/u);
echo KT: udp\$1-stats \$(grep '^Udp:' /proc/net/snmp | tail -n1) rx_dropped=\$(cat /sys/class/net/eth0/statistics/rx_dropped); };
o() { ethtool -k eth0 | grep -E '^(tx-checksumming|tcp-segmentation-offload|rx-checksumming):' | tr -d ' ' | tr '\n' ,; };
mkfifo /tmp/h; ip link set eth0 up; ip addr add 10.99.0.2/24 dev eth0;
echo KT: mac=\$(cat /sys/class/net/eth0/address);
ping -c 3 -W 5 10.99.0.1 >/dev/null; echo KT: ping=\$?;
echo KT: offloads1=\$(o); x 1;
ethtool -K eth0 tx off tso off gso off; echo KT: offloads2=\$(o); x 2;
u; u -R"
start_script_guest 130 "$KT_TMP/console" "$script" -s 3,virtio-net,"$tap"${KT_NET_VHOST:+,vhost=$KT_NET_VHOST}

hping=
for p in 1 2; do
	if ! wait_log "^KT: (h2g$p-ready|script-status)" 110; then
		wait_khyve
		fail "the guest never reported KT: h2g$p-ready"
	fi
	if [ -z "$hping" ]; then
		ping -c 3 -W 5 10.99.0.2 >/dev/null
		hping=$?
		vhost=none
		if [ -c /dev/vhost-net ]; then
			vhost=no
			kt_vhost_worker "$VM_PID" && vhost=yes
		fi
	fi
	t0=$(_kt_now)
	i=0
	# The guest's listener may not be up yet: connection refused, retry.
	until timeout 60 busybox nc 10.99.0.2 600$p <"$KT_TMP/h2g" 2>"$KT_TMP/nc.err"; do
		i=$((i + 1))
		[ $i -ge 5 ] && { wait_khyve; fail "cannot send to the guest's port 600$p (or not within 60 s): $(cat "$KT_TMP/nc.err")"; }
		sleep 1
	done
	_kt_info "host -> guest $p: $mib MiB in $(_kt_since "$t0") s"
done
wait_khyve
expect_script_ok
for pid in $nc1 $nc2 $ip3; do
	kill "$pid" 2>/dev/null
done
expect_value ping 0
[ "$hping" = 0 ] || fail "the host cannot ping the guest (10.99.0.2)"
if [ "${KT_NET_VHOST:-}" = off ]; then
	[ "$vhost" != yes ] || fail "vhost=off, yet the kernel runs a vhost worker for khyve (pid $VM_PID)"
else
	[ "$vhost" != no ] || fail "/dev/vhost-net exists but khyve (pid $VM_PID) has no vhost worker"
fi
_kt_info "vhost-net worker: $vhost"
_kt_info "guest MAC $(kt_value mac); offloads on: $(kt_value offloads1); off: $(kt_value offloads2)"
for p in 1 2; do
	expect_value "g2h$p-nc" 0
	got=$(kt_sha "$KT_TMP/g2h$p")
	[ "$got" = "$(kt_value "g2h$p-sha")" ] ||
		fail "guest -> host $p: the host received $(stat -c %s "$KT_TMP/g2h$p") bytes with sha256 $got, the guest sent $(kt_value "g2h$p-sha")"
	_kt_info "guest -> host $p: $mib MiB in $(awk -v a="$(kt_value "g2h$p-t0")" -v b="$(kt_value "g2h$p-t1")" 'BEGIN { printf "%.1f", b - a }') s"
	expect_value "h2g$p-sha" "$h2g_sha"
done
case $(kt_value offloads1) in
*tx-checksumming:on*) ;;
*) fail "the guest's virtio-net offers no tx checksum offload on a tap: $(kt_value offloads1)" ;;
esac
case $(kt_value offloads2) in
*tx-checksumming:off*) ;;
*) fail "ethtool -K eth0 tx off did not take: $(kt_value offloads2)" ;;
esac
for d in udp udp-R; do
	v=$(kt_value "$d")
	lost=${v%/*} total=${v#*/}
	case $v in
	[0-9]*/[0-9]*) ;;
	*) fail "$d: iperf3 gave no receiver report ('$v')" ;;
	esac
	[ "$total" -gt 0 ] && [ $((lost * 10)) -lt "$total" ] ||
		fail "$d: $lost of $total datagrams lost (guest: $(tr -d '\r' <"$VM_LOG" | sed -n "s/^KT: $d-stats //p"); $tap tx_dropped $(cat /sys/class/net/$tap/statistics/tx_dropped))"
	_kt_info "$d: $lost/$total datagrams lost; guest $(tr -d '\r' <"$VM_LOG" | sed -n "s/^KT: $d-stats //p")"
done
_kt_info "$tap: $(cat /sys/class/net/$tap/statistics/tx_dropped) frames to the guest dropped (queue full)"
pass

