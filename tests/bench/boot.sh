#!/bin/sh
# make bench: boot time and memory of khyve against QEMU.
#
#   tests/bench/boot.sh [--auto|--direct|--testbed]
#
# Runs tests/bench/l1-boot-bench.sh where a usable /dev/kvm is: directly on
# this machine (--direct), or (--testbed, what --auto picks when
# tests/testbed/kvmprobe finds /dev/kvm missing or too slow) inside ONE boot
# of the L1 testbed VM of the e2e tests (QEMU/TCG, emulated AMD SVM, kvm-amd),
# with QEMU packed into L1 too. Configurations, each booting the e2e test
# guest (Debian kernel, busybox initramfs) that reboots right after its init:
#   khyve PVH       khyve (default boot: PVH entry, kernel decompressed by khyve)
#   khyve bzImage   khyve -o boot.pvh=false
#   QEMU -M pc      qemu-system-x86_64 -accel kvm -M pc (SeaBIOS, linuxboot ROM)
#   QEMU -M microvm qemu-system-x86_64 -accel kvm -M microvm (qboot)
# and prints the table (medians; min-max; ratios to QEMU -M pc; the goals:
# total <= 0.8x QEMU pc, outside the guest <= 0.5x, VMM memory < 3 MiB),
# also written to build/bench-boot.txt. Then, in the same L1, the disk
# section (tests/bench/l1-disk-bench.sh): fio inside the guest on virtio-blk
# (sequential 1 MiB read and write, 4 KiB random reads at iodepth 1 and 32)
# under khyve, QEMU aio=io_uring and QEMU's default on one raw image, with
# the ratios khyve/QEMU. Then the network section (tests/bench/l1-net-bench.sh):
# iperf3 TCP guest->host and host->guest and ping round trips, over a tap on a
# bridge under khyve, QEMU vhost=off and (if vhost_net loads) QEMU vhost=on,
# and through libslirp under khyve and QEMU -netdev user, with the ratios
# khyve/QEMU. Then the firmware section (tests/bench/l1-fw-bench.sh): time
# from start to the guest's init, and to exit, booting the GRUB ISO of
# tests/testbed/build-grub.sh on an AHCI CD through Debian's SeaBIOS under
# khyve and QEMU -M pc (same bios-256k.bin), with the ratios khyve/QEMU; OVMF
# the same way only with BENCH_FW_OVMF=1 (L0's QEMU in the testbed aborts on
# nested OVMF), else the table says it was not measured.
#
# Environment: BENCH_RUNS (boots per configuration, 3), BENCH_CONFIGS (subset
# of khyve-pvh khyve-bzimage qemu-pc qemu-microvm), BENCH_RUN_TIMEOUT
# (seconds for one VMM run; 180 in L1, 60 direct), BENCH_OUT (the table
# file), BENCH_KEEP=1 (keep the work directory), KHYVE (build/khyve),
# BENCH_DISK=0 (no disk section), BENCH_DISK_RUNS (boots per disk
# configuration, 3), BENCH_DISK_CONFIGS (subset of khyve qemu-uring
# qemu-threads), BENCH_FIO_RUNTIME (seconds per fio job, 5), BENCH_NET=0 (no
# network section), BENCH_NET_RUNS (boots per network configuration, 3),
# BENCH_NET_CONFIGS (subset of khyve-tap khyve-vhost qemu-tap qemu-vhost khyve-slirp
# qemu-user), BENCH_IPERF_TIME (seconds per iperf3 test, 5), BENCH_FW=0 (no
# firmware section), BENCH_FW_RUNS (boots per firmware configuration, 3),
# BENCH_FW_CONFIGS (subset of khyve-seabios qemu-seabios khyve-ovmf
# qemu-ovmf; the OVMF ones only with BENCH_FW_OVMF=1), BENCH_BOOT=0 (no boot
# section), BENCH_EXITS=1 (during each disk and network job, count the
# guest's exits by reason from KVM's trace events and the CPU time of the
# guest, the VMM and the host; adds the census table, census-table.awk),
# L1_TIMEOUT (seconds for the whole L1 boot; default 120 + 90 per VMM run),
# L1_BOOT_TIMEOUT (90), L1_STALL_TIMEOUT (seconds of console silence after
# which L1 counts as hung; BENCH_RUN_TIMEOUT + 60), L1_IDLE_TIMEOUT (60, as
# for tests/e2e/run.sh), BENCH_L1_RETRY (fresh
# L1s to try after one hangs; 2), L1_SMP, L1_MEM, L1_APPEND as for
# tests/e2e/run.sh.
#
# Exit status: 0 if every run worked (whether the goals are met or not is
# reported, not an error), 1 otherwise.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BENCH=$ROOT/tests/bench
mode=auto
case ${1:-} in
--auto | "") ;;
--direct) mode=direct ;;
--testbed) mode=testbed ;;
-h | --help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
*) echo "boot.sh: unknown argument $1" >&2; exit 2 ;;
esac

export BENCH_RUNS=${BENCH_RUNS:-3}
export BENCH_CONFIGS=${BENCH_CONFIGS:-khyve-pvh khyve-bzimage qemu-pc qemu-microvm}
export BENCH_DISK=${BENCH_DISK:-1}
export BENCH_DISK_RUNS=${BENCH_DISK_RUNS:-3}
export BENCH_DISK_CONFIGS=${BENCH_DISK_CONFIGS:-khyve qemu-uring qemu-threads}
export BENCH_FIO_RUNTIME=${BENCH_FIO_RUNTIME:-5}
export BENCH_BOOT=${BENCH_BOOT:-1}
export BENCH_NET=${BENCH_NET:-1}
export BENCH_NET_RUNS=${BENCH_NET_RUNS:-3}
export BENCH_NET_CONFIGS=${BENCH_NET_CONFIGS:-khyve-tap khyve-vhost qemu-tap qemu-vhost khyve-slirp qemu-user}
export BENCH_IPERF_TIME=${BENCH_IPERF_TIME:-5}
export BENCH_EXITS=${BENCH_EXITS:-0}
export BENCH_FW=${BENCH_FW:-1}
export BENCH_FW_RUNS=${BENCH_FW_RUNS:-3}
export BENCH_FW_OVMF=${BENCH_FW_OVMF:-0}
BENCH_FW_CONFIGS=${BENCH_FW_CONFIGS:-khyve-seabios qemu-seabios khyve-ovmf qemu-ovmf}
[ "$BENCH_FW_OVMF" = 1 ] || BENCH_FW_CONFIGS=$(echo $BENCH_FW_CONFIGS | tr ' ' '\n' | grep -v ovmf | tr '\n' ' ')
export BENCH_FW_CONFIGS=${BENCH_FW_CONFIGS% }
export KHYVE=${KHYVE:-$ROOT/build/khyve}
export TB_CACHE=${TB_CACHE:-$ROOT/.cache}
OUT=${BENCH_OUT:-$ROOT/build/bench-boot.txt}
nconf=$(echo $BENCH_CONFIGS | wc -w)
nvm=$((nconf * (BENCH_RUNS + 1)))
[ "$BENCH_BOOT" = 1 ] || nvm=0
# A disk run (a guest boot and four fio jobs) counts as two boot runs.
ndisk=0
[ "$BENCH_DISK" = 1 ] && ndisk=$(($(echo $BENCH_DISK_CONFIGS | wc -w) * BENCH_DISK_RUNS))
nvm=$((nvm + 2 * ndisk))
# A network run (a guest boot and two iperf3 tests) counts as two boot runs.
nnet=0
[ "$BENCH_NET" = 1 ] && nnet=$(($(echo $BENCH_NET_CONFIGS | wc -w) * BENCH_NET_RUNS))
nvm=$((nvm + 2 * nnet))
# A firmware run counts as one boot run.
nfw=0
[ "$BENCH_FW" = 1 ] && nfw=$(($(echo $BENCH_FW_CONFIGS | wc -w) * BENCH_FW_RUNS))
nvm=$((nvm + nfw))
scen=
[ "$BENCH_BOOT" = 1 ] && scen=l1-boot-bench
[ "$BENCH_DISK" = 1 ] && scen="$scen l1-disk-bench"
[ "$BENCH_NET" = 1 ] && scen="$scen l1-net-bench"
[ "$BENCH_FW" = 1 ] && scen="$scen l1-fw-bench"

log() { echo "bench: $*"; }
since() { awk -v a="$1" '{ printf "%.1f", $1 - a }' /proc/uptime; }
now() { cut -d' ' -f1 /proc/uptime; }

[ -x "$KHYVE" ] || { log "no khyve binary at $KHYVE (make all)"; exit 1; }
command -v qemu-system-x86_64 >/dev/null || { log "qemu-system-x86_64 not installed (make deps)"; exit 1; }
t_start=$(now)
fio=
[ "$BENCH_DISK" = 1 ] && fio=--fio
[ "$BENCH_NET" = 1 ] && fio="$fio --net"
guest=$("$ROOT/tests/testbed/build-guest.sh" $fio) || { log "cannot build the test guest"; exit 1; }
eval "$guest"
export GUEST_KERNEL GUEST_INITRD

if [ $mode = auto ]; then
	probe=$(TB_ROOT=$ROOT; . "$ROOT/tests/testbed/common.sh"; tb_kvmprobe) || exit 1
	if timeout 5 "$probe" >/dev/null 2>&1; then mode=direct; else mode=testbed; fi
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/kt-bench.XXXXXX")
cleanup() {
	[ -n "${l1_pid:-}" ] && kill "$l1_pid" 2>/dev/null
	[ -n "${wd_pid:-}" ] && kill "$wd_pid" 2>/dev/null
	if [ "${BENCH_KEEP:-0}" = 1 ]; then log "logs kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
: >"$WORK/bench.log"
where=

run_direct() {
	where="directly on this machine ($(nproc) CPUs, $(uname -r))"
	log "mode direct (on this machine's /dev/kvm); $nvm VMM runs"
	export BENCH_RUN_TIMEOUT=${BENCH_RUN_TIMEOUT:-60}
	export KT_WORKDIR=$WORK/vm
	mkdir -p "$KT_WORKDIR"
	: >"$WORK/bench.log"
	if [ "$BENCH_BOOT" = 1 ]; then
		timeout -k 10 $((60 + nvm * BENCH_RUN_TIMEOUT)) sh "$BENCH/l1-boot-bench.sh" </dev/null 2>&1 |
			tee "$WORK/bench.log"
	fi
	if [ "$BENCH_NET" = 1 ]; then
		GUEST_NET_PART=$GUEST_NET_PART timeout -k 10 $((60 + 2 * nnet * BENCH_RUN_TIMEOUT)) \
			sh "$BENCH/l1-net-bench.sh" </dev/null 2>&1 | tee -a "$WORK/bench.log"
	fi
	if [ "$BENCH_FW" = 1 ]; then
		timeout -k 10 $((60 + nfw * BENCH_RUN_TIMEOUT)) sh "$BENCH/l1-fw-bench.sh" </dev/null 2>&1 |
			tee -a "$WORK/bench.log"
	fi
	[ "$BENCH_DISK" = 1 ] || return 0
	# The guest initramfs with fio appended.
	cat "$GUEST_INITRD" "$GUEST_FIO_PART" >"$WORK/initrd-fio.img"
	GUEST_INITRD_FIO=$WORK/initrd-fio.img timeout -k 10 $((60 + 2 * ndisk * BENCH_RUN_TIMEOUT)) \
		sh "$BENCH/l1-disk-bench.sh" </dev/null 2>&1 | tee -a "$WORK/bench.log"
}

run_testbed() {
	# Per L1 boot (a retry gets as much again).
	l1_timeout=${L1_TIMEOUT:-$((120 + 90 * nvm))}
	l1_boot_timeout=${L1_BOOT_TIMEOUT:-90}
	l1_stall_timeout=${L1_STALL_TIMEOUT:-$((${BENCH_RUN_TIMEOUT:-180} + 60))}
	n=$(nproc)
	L1_SMP=${L1_SMP:-$([ "$n" -gt 4 ] && echo 4 || { [ "$n" -lt 2 ] && echo 2 || echo "$n"; })}
	where="in the nested testbed: L1 = QEMU/TCG -cpu ${L1_CPU:-max,-erms,-fsrm} (emulated AMD SVM), $L1_SMP vCPUs, ${L1_MEM:-2G}, kvm-amd; host $(nproc) CPUs"
	log "mode testbed: /dev/kvm missing or too slow here; $nvm VMM runs in one L1 boot"
	t0=$(now)
	# The bench script is a scenario to L1's /init (whose backstop, 150 s
	# times TIMEOUT_SCALE, must outlast our own L1 timeout); QEMU goes in
	# too, plus the firmware of -M microvm, in a part of our own.
	l1=$(VMM=khyve L1_QEMU=1 L1_NET=$BENCH_NET L1_FW=$BENCH_FW TIMEOUT_SCALE=$((l1_timeout / 150 + 1)) \
		"$ROOT/tests/testbed/build-l1.sh" "$WORK/l1-e2e.cpio" $scen) || {
		log "cannot build the L1 initramfs"
		return 1
	}
	eval "$l1"
	part=$WORK/part
	mkdir -p "$part/e2e/scenarios" "$part/usr/share/kt-qemu"
	cp "$BENCH/l1-boot-bench.sh" "$part/e2e/scenarios/"
	cat >"$part/e2e/scenarios/l1-boot-bench.conf" <<EOF
BENCH_RUNS=$BENCH_RUNS
BENCH_CONFIGS="$BENCH_CONFIGS"
BENCH_RUN_TIMEOUT=${BENCH_RUN_TIMEOUT:-180}
${BENCH_MICROVM_APPEND+BENCH_MICROVM_APPEND=\"$BENCH_MICROVM_APPEND\"}
${BENCH_TOP_MAPS+BENCH_TOP_MAPS=$BENCH_TOP_MAPS}
EOF
	if [ "$BENCH_DISK" = 1 ]; then
		cp "$BENCH/l1-disk-bench.sh" "$part/e2e/scenarios/"
		cat >"$part/e2e/scenarios/l1-disk-bench.conf" <<EOF
BENCH_DISK_RUNS=$BENCH_DISK_RUNS
BENCH_DISK_CONFIGS="$BENCH_DISK_CONFIGS"
BENCH_FIO_RUNTIME=$BENCH_FIO_RUNTIME
BENCH_RUN_TIMEOUT=${BENCH_RUN_TIMEOUT:-180}
BENCH_EXITS=${BENCH_EXITS:-0}
GUEST_INITRD_FIO=/guest/initrd-fio.img
EOF
		# The guest initramfs with fio appended (newc archives concatenate).
		mkdir -p "$part/guest"
		cat "$GUEST_INITRD" "$GUEST_FIO_PART" >"$part/guest/initrd-fio.img"
	fi
	if [ "$BENCH_NET" = 1 ]; then
		cp "$BENCH/l1-net-bench.sh" "$part/e2e/scenarios/"
		cat >"$part/e2e/scenarios/l1-net-bench.conf" <<EOF
BENCH_NET_RUNS=$BENCH_NET_RUNS
BENCH_NET_CONFIGS="$BENCH_NET_CONFIGS"
BENCH_IPERF_TIME=$BENCH_IPERF_TIME
BENCH_RUN_TIMEOUT=${BENCH_RUN_TIMEOUT:-180}
BENCH_EXITS=${BENCH_EXITS:-0}
EOF
	fi
	if [ "$BENCH_FW" = 1 ]; then
		cp "$BENCH/l1-fw-bench.sh" "$part/e2e/scenarios/"
		cat >"$part/e2e/scenarios/l1-fw-bench.conf" <<EOF
BENCH_FW_RUNS=$BENCH_FW_RUNS
BENCH_FW_CONFIGS="$BENCH_FW_CONFIGS"
BENCH_RUN_TIMEOUT=${BENCH_RUN_TIMEOUT:-180}
EOF
	fi
	cp /usr/share/qemu/bios-microvm.bin "$part/usr/share/kt-qemu/" 2>/dev/null ||
		cp /usr/share/seabios/bios-microvm.bin "$part/usr/share/kt-qemu/" 2>/dev/null ||
		log "warning: no bios-microvm.bin: QEMU -M microvm will not start"
	(TB_ROOT=$ROOT; . "$ROOT/tests/testbed/common.sh"; tb_cpio "$part" "$WORK/part.cpio") || return 1
	cat "$L1_INITRD" "$WORK/part.cpio" >"$WORK/l1.cpio"
	rm -f "$L1_INITRD"
	log "L1 initramfs built in $(since "$t0") s"
	# The testbed's L1 (QEMU/TCG) now and then hangs on its own, more often
	# under load and the longer it runs. The table must come from one L1:
	# after a hang, start over in a fresh one.
	tries=0
	until boot_l1; do
		[ -e "$WORK/l1.hung" ] && [ $tries -lt "${BENCH_L1_RETRY:-2}" ] || return 1
		tries=$((tries + 1))
		cp "$WORK/l1.raw" "$WORK/l1-hung-$tries.raw"
		[ -e "$WORK/l1.state" ] && cp "$WORK/l1.state" "$WORK/l1-hung-$tries.state"
		log "L1 hung ($(cat "$WORK/l1.hung")): running the benchmark again in a fresh L1 ($tries of ${BENCH_L1_RETRY:-2})"
	done
}

# boot_l1: one boot of L1 running the benchmark; its console in l1.raw and
# bench.log. False if L1 did not finish it; l1.hung then says why if L1 hung.
boot_l1() {
	rm -f "$WORK/l1.timeout" "$WORK/l1.hung" "$WORK/l1.state"
	log "booting L1 (timeout $l1_timeout s; each VMM run ${BENCH_RUN_TIMEOUT:-180} s; L1 counts as hung after $l1_stall_timeout s without console output)"
	t0=$(now)
	(TB_ROOT=$ROOT L1_MONITOR=$WORK/l1.mon; . "$ROOT/tests/testbed/common.sh"; tb_run_l1 "$L1_KERNEL" "$WORK/l1.cpio") \
		</dev/null >"$WORK/l1.raw" 2>"$WORK/l1.err" &
	l1_pid=$!
	# L1 prints a line at least once per VMM run (each bounded inside L1):
	# a console silent for l1_stall_timeout means L1 hung, as do its vCPUs
	# all halted or a kernel lockup (tests/testbed/common.sh).
	(TB_ROOT=$ROOT; . "$ROOT/tests/testbed/common.sh"
	 tb_l1_watchdog $l1_pid "$WORK" "$l1_timeout" "$l1_boot_timeout" "$l1_stall_timeout" \
		"${L1_IDLE_TIMEOUT:-60}" output) >/dev/null 2>&1 &
	wd_pid=$!
	# L1's console from its /init on, as it comes (sed -u: awk and tr
	# would buffer it).
	tail -n +1 -f --pid=$l1_pid "$WORK/l1.raw" 2>/dev/null |
		sed -u -n 's/\r$//; /^TESTBED: l1-init/,$p'
	wait $l1_pid
	rc=$?
	l1_pid=
	kill $wd_pid 2>/dev/null
	wait $wd_pid 2>/dev/null
	tr -d '\r' <"$WORK/l1.raw" >"$WORK/bench.log"
	log "L1 exited $rc after $(since "$t0") s"
	if [ -e "$WORK/l1.timeout" ]; then
		log "FAIL: $(cat "$WORK/l1.timeout")"
		tail -n 20 "$WORK/bench.log" | sed 's/^/  | /'
		return 1
	fi
	if ! grep -q '^TESTBED: scenarios-done' "$WORK/bench.log"; then
		log "FAIL: L1 exited $rc before the benchmark was done"
		tail -n 20 "$WORK/bench.log" | sed 's/^/  | /'
		[ -s "$WORK/l1.err" ] && tail -n 5 "$WORK/l1.err" | sed 's/^/  | /'
		# L0's QEMU aborting (tests/e2e/run.sh: its nested-SVM CR8 bug, OVMF
		# boots): like a hang, worth a fresh L1.
		grep -q 'assertion failed' "$WORK/l1.err" 2>/dev/null &&
			echo "L1's QEMU aborted: $(grep -m1 -o 'assertion failed.*' "$WORK/l1.err")" >"$WORK/l1.hung"
		return 1
	fi
}

ok=0
case $mode in
direct) run_direct && ok=1 ;;
testbed) run_testbed && ok=1 ;;
esac
[ "$BENCH_BOOT" = 1 ] && ! grep -q '^SCENARIO l1-boot-bench PASS' "$WORK/bench.log" && ok=0
[ "$BENCH_DISK" = 1 ] && ! grep -q '^SCENARIO l1-disk-bench PASS' "$WORK/bench.log" && ok=0
[ "$BENCH_NET" = 1 ] && ! grep -q '^SCENARIO l1-net-bench PASS' "$WORK/bench.log" && ok=0
[ "$BENCH_FW" = 1 ] && ! grep -q '^SCENARIO l1-fw-bench PASS' "$WORK/bench.log" && ok=0

# The table.
mkdir -p "$(dirname "$OUT")"
{
	echo "khyve $(git -C "$ROOT" describe --always --dirty 2>/dev/null) boot benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "run $where"
	grep '^BENCH info ' "$WORK/bench.log" | sed 's/^BENCH info /  /'
	echo
	[ "$BENCH_BOOT" = 1 ] &&
		grep '^BENCH ' "$WORK/bench.log" | awk -v runs="$BENCH_RUNS" -v configs="$BENCH_CONFIGS" -f "$BENCH/bench-stats.awk" -f "$BENCH/table.awk"
	if [ "$BENCH_DISK" = 1 ]; then
		echo
		grep '^BENCH disk ' "$WORK/bench.log" |
			awk -v runs="$BENCH_DISK_RUNS" -v configs="$BENCH_DISK_CONFIGS" -f "$BENCH/bench-stats.awk" -f "$BENCH/disk-table.awk"
	fi
	if [ "$BENCH_NET" = 1 ]; then
		echo
		grep '^BENCH net ' "$WORK/bench.log" |
			awk -v runs="$BENCH_NET_RUNS" -v configs="$BENCH_NET_CONFIGS" -f "$BENCH/bench-stats.awk" -f "$BENCH/net-table.awk"
	fi
	if [ "$BENCH_EXITS" = 1 ]; then
		echo
		grep -E '^BENCH (disk|net)-exits ' "$WORK/bench.log" | awk -v configs="$BENCH_DISK_CONFIGS $BENCH_NET_CONFIGS" \
			-f "$BENCH/bench-stats.awk" -f "$BENCH/census-table.awk"
	fi
	if [ "$BENCH_FW" = 1 ]; then
		echo
		grep '^BENCH fw ' "$WORK/bench.log" | awk -v runs="$BENCH_FW_RUNS" -v configs="$BENCH_FW_CONFIGS" \
			-v ovmf="$BENCH_FW_OVMF" -f "$BENCH/bench-stats.awk" -f "$BENCH/fw-table.awk"
	fi
	if [ $mode = testbed ]; then
		echo
		echo "In the testbed every layer ends up emulated by QEMU/TCG on the host: L1's"
		echo "user space (khyve's host-side XZ decompression for PVH, QEMU's start-up) as"
		echo "much as the L2 guest. The L1 clock is noisy (other load on the host): compare"
		echo "medians, and mind the min-max spread."
	fi
} >"$WORK/table.txt"
echo
cat "$WORK/table.txt"
if [ $ok = 1 ]; then
	cp "$WORK/table.txt" "$OUT"
	log "written to $OUT ($(since "$t_start") s in all)"
	exit 0
fi
cp "$WORK/table.txt" "$OUT.failed"
log "FAIL: some runs failed or hung (see above); partial table in $OUT.failed"
exit 1
