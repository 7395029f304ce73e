#!/bin/sh
# Disk benchmark, the part that runs where /dev/kvm is (inside the L1 testbed
# VM, packed by tests/bench/boot.sh next to l1-boot-bench.sh, or directly on
# a host with a usable /dev/kvm). POSIX sh (busybox sh in L1).
#
# fio inside the test guest (booted with fio in its initramfs) on a virtio-blk
# disk backed by one raw image (BENCH_DISK_MIB, 128 MiB, fully allocated) in
# this host's /tmp, under each configuration:
#   khyve          -s 4,virtio-blk,IMG (io_uring backend, host page cache)
#   qemu-uring     QEMU -drive ...,format=raw,aio=io_uring + virtio-blk-pci
#   qemu-threads   QEMU -drive ...,format=raw (its default: aio=threads)
# Any of them as CFG@CPULIST (khyve@0) runs under taskset -c CPULIST, every
# thread of the VMM on those L1 CPUs (is it the I/O thread's wake-ups?);
# all with the host page cache (cache=writeback; the image may be on tmpfs,
# which has no O_DIRECT). The guest runs, on /dev/vda with direct=1:
#   seqread   sequential 1 MiB reads,  iodepth 1  (MiB/s)
#   seqwrite  sequential 1 MiB writes, iodepth 1  (MiB/s)
#   randread1  4 KiB random reads, iodepth 1  (IOPS)
#   randread32 4 KiB random reads, iodepth 32 (IOPS)
# each for BENCH_FIO_RUNTIME seconds (5) with ioengine=libaio. BENCH_DISK_RUNS
# (3) boots per configuration, interleaved.
#
# Output (tests/bench/boot.sh makes the table with disk-table.awk):
#   BENCH disk cfg=CFG i=N status=ok|timeout|rc=N|no-fio seqread=MIBS
#        seqwrite=MIBS randread1=IOPS randread32=IOPS
# and a final "SCENARIO l1-disk-bench PASS|FAIL" line for the L1 init.
#
# Environment: BENCH_DISK_RUNS, BENCH_DISK_CONFIGS (khyve qemu-uring
# qemu-threads), BENCH_FIO_RUNTIME, BENCH_DISK_MIB, BENCH_RUN_TIMEOUT (seconds
# per VMM run; 180), GUEST_INITRD_FIO (the guest initramfs with fio; default
# GUEST_INITRD with -fio before .img), and lib.sh's KHYVE, QEMU, QEMU_DATADIR,
# QEMU_CPU, GUEST_KERNEL. In L1 this script is /e2e/scenarios/l1-disk-bench.sh
# with its settings from the host in l1-disk-bench.conf next to it.
_bench_dir=$(dirname "$0")
if [ -f "$_bench_dir/../lib.sh" ]; then
	. "$_bench_dir/../lib.sh"
else
	. "$_bench_dir/../e2e/lib.sh"
fi
[ -f "$_bench_dir/l1-disk-bench.conf" ] && . "$_bench_dir/l1-disk-bench.conf"
# Our timeouts are absolute: TIMEOUT_SCALE only sized L1's backstop.
TIMEOUT_SCALE=1
RUNS=${BENCH_DISK_RUNS:-3}
CONFIGS=${BENCH_DISK_CONFIGS:-khyve qemu-uring qemu-threads}
RUNTIME=${BENCH_FIO_RUNTIME:-5}
RUN_TIMEOUT=${BENCH_RUN_TIMEOUT:-180}
DISK_MIB=${BENCH_DISK_MIB:-128}
INITRD=${GUEST_INITRD_FIO:-${GUEST_INITRD%.img}-fio.img}
[ -f "$INITRD" ] || fail "no guest initramfs with fio at $INITRD"

bench() { echo "BENCH $*"; }

# The guest: one fio job per line "KT: fio NAME BW_KIB IOPS" (terse output
# v3: field 7/8 read bandwidth KiB/s and IOPS, 48/49 the same for writes).
fio_script="f() { n=\$1; shift; echo KT: fio-start \$n; sleep 1; if r=\$(fio --name=\$n --filename=/dev/vda --direct=1 --ioengine=libaio
 --runtime=$RUNTIME --time_based --ramp_time=1 --output-format=terse --terse-version=3 \$@ 2>/tmp/fio.err);
 then echo KT: fio \$n \$(echo \$r | cut -d\\; -f7,8,48,49 | tr \\; \\ );
 else echo KT: fio-failed \$n \$(tail -n1 /tmp/fio.err); fi; sleep 1; };
f seqread --rw=read --bs=1M --iodepth=1;
f seqwrite --rw=write --bs=1M --iodepth=1;
f randread1 --rw=randread --bs=4k --iodepth=1;
f randread32 --rw=randread --bs=4k --iodepth=32"

vmm_argv() { # CFG[@CPULIST]
	_pin=
	case $1 in *@*) _pin=${1#*@}; set -- "${1%@*}" ;; esac
	_cmd="$GUEST_CONSOLE kt.action=script kt.script=\"$(printf '%s\n' "$fio_script" | tr '\n' ' ')\""
	case $1 in
	khyve)
		_kt_argv_q "$KHYVE" -m 512M -c 1 -s 0,hostbridge -s 31,lpc -s 4,virtio-blk,"$IMG" \
			-l com1,stdio -o boot.kernel="$GUEST_KERNEL" -o boot.initrd="$INITRD" \
			-o "boot.cmdline=$_cmd" "bench-disk-$$-$_n"
		;;
	qemu-uring | qemu-threads)
		_aio=
		[ "$1" = qemu-uring ] && _aio=,aio=io_uring
		set -- "$QEMU" -accel kvm -M pc -cpu "$QEMU_CPU" -m 512 -smp 1 \
			-nodefaults -no-user-config -display none -serial stdio -no-reboot
		[ -n "${QEMU_DATADIR:-}" ] && set -- "$@" -L "$QEMU_DATADIR"
		_kt_argv_q "$@" -drive "file=$IMG,if=none,id=d0,format=raw,cache=writeback$_aio" \
			-device virtio-blk-pci,drive=d0,addr=0x4 \
			-kernel "$GUEST_KERNEL" -initrd "$INITRD" -append "$_cmd"
		;;
	*) fail "unknown configuration $1" ;;
	esac
	# CFG@CPULIST: the VMM and all its threads on those L1 CPUs (taskset -c).
	[ -z "$_pin" ] || _kt_argv="taskset -c $_pin $_kt_argv"
}

# BENCH_EXITS=1: while the VMM runs, lib.sh's exit census of each fio job:
#   BENCH disk-exits cfg=CFG i=N job=JOB secs=S exit:CODE=N ... user:R=N ... irq:VEC=N ...
census_run() { # CFG I
	for _job in seqread seqwrite randread1 randread32; do
		_c=$(kt_census "$_log" "KT: fio-start $_job" "KT: fio $_job " "KT: fio-failed $_job") || return
		bench "disk-exits cfg=$1 i=$2 job=$_job $_c"
	done
}

one_run() { # CFG I
	_n=$2
	_log=$KT_TMP/$1-$2
	vmm_argv "$1"
	kt_launch "$RUN_TIMEOUT" "$_log"
	[ "${BENCH_EXITS:-0}" = 1 ] && census_run "$1" "$2"
	kt_reap "$_log"
	_rc=$KT_RC
	_res=$(tr -d '\r' <"$_log" | awk '
		$1 == "KT:" && $2 == "fio" && NF >= 7 {
			# read KiB/s, read IOPS, write KiB/s, write IOPS
			if ($3 == "seqread") v["seqread"] = sprintf("%.1f", $4 / 1024)
			if ($3 == "seqwrite") v["seqwrite"] = sprintf("%.1f", $6 / 1024)
			if ($3 == "randread1") v["randread1"] = $5
			if ($3 == "randread32") v["randread32"] = $5
		}
		END {
			n = split("seqread seqwrite randread1 randread32", k, " ")
			for (i = 1; i <= n; i++) if (k[i] in v) printf " %s=%s", k[i], v[k[i]]; else miss = 1
			if (miss) printf " missing=1"
		}')
	if [ -e "$_log.timeout" ]; then
		_st=timeout
	elif [ "$_rc" != 0 ] && ! { [ "$_rc" = 1 ] && [ "${1%@*}" = khyve ]; }; then
		_st="rc=$_rc"
	else
		case $_res in *missing=1*) _st=no-fio ;; *) _st=ok ;; esac
	fi
	bench "disk cfg=$1 i=$2 status=$_st rc=$_rc${_res% missing=1}"
	if [ "$_st" != ok ]; then
		nbad=$((nbad + 1))
		VM_LOG=$_log _kt_show_tail
	fi
}

IMG=$KT_TMP/disk.img
# Fully allocated, so that reads are not of holes.
dd if=/dev/zero of="$IMG" bs=1M count="$DISK_MIB" 2>/dev/null || fail "cannot make the $DISK_MIB MiB image"
nbad=0
[ "${BENCH_EXITS:-0}" = 1 ] && kt_census_setup
bench "info disk runs=$RUNS configs=$(echo $CONFIGS | tr ' ' ,) fio_runtime=$RUNTIME image_mib=$DISK_MIB image_fs=$(stat -f -c %T "$KT_TMP" 2>/dev/null)"
i=1
while [ $i -le "$RUNS" ]; do
	for c in $CONFIGS; do
		one_run "$c" $i
	done
	i=$((i + 1))
done
rm -f "$IMG"
[ "$nbad" = 0 ] || fail "$nbad of $(($(echo $CONFIGS | wc -w) * RUNS)) disk benchmark runs failed"
pass
