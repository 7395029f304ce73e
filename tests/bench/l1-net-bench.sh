#!/bin/sh
# Network benchmark, the part that runs where /dev/kvm is (inside the L1
# testbed VM, packed by tests/bench/boot.sh next to l1-boot-bench.sh, or
# directly on a host with a usable /dev/kvm, as root). POSIX sh (busybox sh
# in L1).
#
# iperf3 between the test guest (booted with iperf3 in its initramfs, 1
# vCPU, 256 MiB) and an iperf3 server on this host, under each configuration:
#   khyve-tap     -s 3,virtio-net,TAP,vhost=off  (khyve's userspace virtio-net)
#   khyve-vhost   -s 3,virtio-net,TAP,vhost=on   (khyve with vhost-net; only
#                                               if /dev/vhost-net exists)
#   qemu-tap      -netdev tap,...,vhost=off    (QEMU's userspace virtio-net)
#   qemu-vhost    -netdev tap,...,vhost=on     (in-kernel vhost-net; only if
#                                               /dev/vhost-net exists)
#   khyve-slirp   -s 3,virtio-net,slirp        (libslirp)
#   qemu-user     -netdev user                 (QEMU's libslirp)
# The tap is a port of a bridge with 10.99.0.1/24 (the guest is 10.99.0.2);
# under slirp the guest is 10.0.2.15 and reaches the server through the
# gateway 10.0.2.2 (this host's loopback). The guest runs, each for
# BENCH_IPERF_TIME seconds (5) after a 1 s warm-up left out (-O 1):
#   tx   TCP guest -> host    (iperf3 -c, Mbit/s at the receiver)
#   rx   TCP host -> guest    (iperf3 -c -R)
#   rtt  ping, 10 echoes 0.2 s apart, average round trip (ms)
# BENCH_NET_RUNS (3) boots per configuration, interleaved.
#
# Output (tests/bench/boot.sh makes the table with net-table.awk):
#   BENCH net cfg=CFG i=N status=ok|timeout|rc=N|no-iperf|skipped tx=MBPS
#        rx=MBPS rtt=MS
# and a final "SCENARIO l1-net-bench PASS|FAIL" line for the L1 init.
#
# Environment: BENCH_NET_RUNS, BENCH_NET_CONFIGS, BENCH_IPERF_TIME,
# BENCH_RUN_TIMEOUT (seconds per VMM run; 180), GUEST_INITRD_NET (the guest
# initramfs with iperf3; default: GUEST_INITRD + GUEST_NET_PART, see
# lib.sh's kt_net_guest), and lib.sh's KHYVE, QEMU, QEMU_DATADIR, QEMU_CPU,
# GUEST_KERNEL. In L1 this script is /e2e/scenarios/l1-net-bench.sh with its
# settings from the host in l1-net-bench.conf next to it.
_bench_dir=$(dirname "$0")
if [ -f "$_bench_dir/../lib.sh" ]; then
	. "$_bench_dir/../lib.sh"
else
	. "$_bench_dir/../e2e/lib.sh"
fi
[ -f "$_bench_dir/l1-net-bench.conf" ] && . "$_bench_dir/l1-net-bench.conf"
# Our timeouts are absolute: TIMEOUT_SCALE only sized L1's backstop.
TIMEOUT_SCALE=1
RUNS=${BENCH_NET_RUNS:-3}
CONFIGS=${BENCH_NET_CONFIGS:-khyve-tap khyve-vhost qemu-tap qemu-vhost khyve-slirp qemu-user}
T=${BENCH_IPERF_TIME:-5}
RUN_TIMEOUT=${BENCH_RUN_TIMEOUT:-180}
if [ -n "${GUEST_INITRD_NET:-}" ]; then
	GUEST_INITRD=$GUEST_INITRD_NET
else
	kt_net_guest
fi
kt_need iperf3

bench() { echo "BENCH $*"; }

br=ktbr$$
tap=tap$$
kt_bridge "$br" 10.99.0.1/24
kt_tap "$tap" "$br"
have_vhost=0
[ -c /dev/vhost-net ] && have_vhost=1

# The guest: "KT: iperf tx|rx MBPS" (the receiver's bit rate) and "KT: rtt MS".
# $1 its address, $2 the server's.
guest_script() {
	echo "ip link set eth0 up; ip addr add $1/24 dev eth0; ip route add default via $2;
ping -c 1 -W 5 $2 >/dev/null;
f() { echo KT: iperf-start \$1; sleep 1; r=\$(timeout $((T * 4 + 20)) iperf3 -c $2 -p 5201 -t $T -O 1 -f m \$2 2>&1 | awk '/receiver/ { for (i = 2; i <= NF; i++) if (\$i ~ /^Mbits/) print \$(i - 1) }');
echo KT: iperf \$1 \${r:-failed}; sleep 1; };
f tx; f rx -R;
echo KT: rtt \$(ping -c 10 -i 0.2 -q $2 | awk -F/ '/min.avg/ { print \$4 }')" | tr '\n' ' '
}

vmm_argv() { # CFG
	case $1 in
	*-tap | *-vhost) _addr=10.99.0.2 _srv=10.99.0.1 ;;
	*) _addr=10.0.2.15 _srv=10.0.2.2 ;;
	esac
	_cmd="$GUEST_CONSOLE kt.action=script kt.script=\"$(guest_script $_addr $_srv)\""
	case $1 in
	khyve-tap | khyve-vhost | khyve-slirp)
		case $1 in
		khyve-tap) _be=$tap,vhost=off ;;
		khyve-vhost) _be=$tap,vhost=on ;;
		khyve-slirp) _be=slirp ;;
		esac
		_kt_argv_q "$KHYVE" -m 256M -c 1 -s 0,hostbridge -s 31,lpc -s 3,virtio-net,"$_be" \
			-l com1,stdio -o boot.kernel="$GUEST_KERNEL" -o boot.initrd="$GUEST_INITRD" \
			-o "boot.cmdline=$_cmd" "bench-net-$$-$_n"
		;;
	qemu-tap | qemu-vhost | qemu-user)
		case $1 in
		qemu-tap) _nd="tap,id=n0,ifname=$tap,script=no,downscript=no,vhost=off" ;;
		qemu-vhost) _nd="tap,id=n0,ifname=$tap,script=no,downscript=no,vhost=on" ;;
		qemu-user) _nd="user,id=n0" ;;
		esac
		set -- "$QEMU" -accel kvm -M pc -cpu "$QEMU_CPU" -m 256 -smp 1 \
			-nodefaults -no-user-config -display none -serial stdio -no-reboot
		[ -n "${QEMU_DATADIR:-}" ] && set -- "$@" -L "$QEMU_DATADIR"
		_kt_argv_q "$@" -netdev "$_nd" -device virtio-net-pci,netdev=n0,addr=0x3,romfile= \
			-kernel "$GUEST_KERNEL" -initrd "$GUEST_INITRD" -append "$_cmd"
		;;
	*) fail "unknown configuration $1" ;;
	esac
}

# BENCH_EXITS=1: while the VMM runs, lib.sh's exit census of each iperf3 test:
#   BENCH net-exits cfg=CFG i=N job=tx|rx secs=S exit:CODE=N ... user:R=N ... irq:VEC=N ...
census_run() { # CFG I
	for _job in tx rx; do
		_c=$(kt_census "$_log" "KT: iperf-start $_job" "KT: iperf $_job ") || return
		bench "net-exits cfg=$1 i=$2 job=$_job $_c"
	done
}

one_run() { # CFG I
	_n=$2
	if { [ "$1" = qemu-vhost ] || [ "$1" = khyve-vhost ]; } && [ $have_vhost = 0 ]; then
		bench "net cfg=$1 i=$2 status=skipped"
		return
	fi
	_log=$KT_TMP/$1-$2
	# A server of its own per run: iperf3 -s serves one client at a time,
	# and one that died mid-test would hold it.
	iperf3 -s -p 5201 >"$_log.iperf3" 2>&1 &
	_srv=$!
	_kt_all_pids="$_kt_all_pids $_srv"
	vmm_argv "$1"
	kt_launch "$RUN_TIMEOUT" "$_log"
	[ "${BENCH_EXITS:-0}" = 1 ] && census_run "$1" "$2"
	kt_reap "$_log"
	_rc=$KT_RC
	kill "$_srv" 2>/dev/null
	wait "$_srv" 2>/dev/null
	_res=$(tr -d '\r' <"$_log" | awk '
		$1 == "KT:" && $2 == "iperf" && $4 ~ /^[0-9.]+$/ { v[$3] = $4 }
		$1 == "KT:" && $2 == "rtt" && $3 ~ /^[0-9.]+$/ { v["rtt"] = $3 }
		END {
			n = split("tx rx rtt", k, " ")
			for (i = 1; i <= n; i++) if (k[i] in v) printf " %s=%s", k[i], v[k[i]]; else miss = 1
			if (miss) printf " missing=1"
		}')
	if [ -e "$_log.timeout" ]; then
		_st=timeout
	elif [ "$_rc" != 0 ] && ! { [ "$_rc" = 1 ] && case $1 in khyve-*) true ;; *) false ;; esac; }; then
		_st="rc=$_rc"
	else
		case $_res in *missing=1*) _st=no-iperf ;; *) _st=ok ;; esac
	fi
	bench "net cfg=$1 i=$2 status=$_st rc=$_rc${_res% missing=1}"
	if [ "$_st" != ok ]; then
		nbad=$((nbad + 1))
		VM_LOG=$_log _kt_show_tail
	fi
}

nbad=0
[ "${BENCH_EXITS:-0}" = 1 ] && kt_census_setup
bench "info net runs=$RUNS configs=$(echo $CONFIGS | tr ' ' ,) iperf_time=$T vhost_net=$have_vhost"
i=1
while [ $i -le "$RUNS" ]; do
	for c in $CONFIGS; do
		one_run "$c" $i
	done
	i=$((i + 1))
done
[ "$nbad" = 0 ] || fail "$nbad of $(($(echo $CONFIGS | wc -w) * RUNS)) network benchmark runs failed"
pass
