#!/bin/sh
# Firmware boot benchmark, the part that runs where /dev/kvm is (inside the L1
# testbed VM, packed by tests/bench/boot.sh next to l1-boot-bench.sh, or
# directly on a host with a usable /dev/kvm). POSIX sh (busybox sh in L1).
#
# The test guest behind GRUB on the ISO of tests/testbed/build-grub.sh
# (GRUB menu timeout 1 s, the guest powers off after its init), on an AHCI
# CD-ROM, booted by the same firmware file under khyve and under QEMU
# -accel kvm -M pc; 512 MiB, 1 vCPU, console on COM1 (stdio):
#   khyve-seabios  khyve -s 3,ahci-cd,grub.iso -l bootrom,bios-256k.bin
#   qemu-seabios   QEMU -bios bios-256k.bin (SeaBIOS's console on COM1 too,
#                  through fw_cfg's etc/sercon-port as khyve sets it),
#                  -device ahci + ide-cd with the same ISO
#   khyve-ovmf     khyve ... -l bootrom,OVMF.fd (Debian's stock OVMF)
#   qemu-ovmf      QEMU -bios OVMF.fd ...
# BENCH_FW_RUNS (3) boots per configuration, interleaved.
#
# Output (tests/bench/boot.sh makes the table with fw-table.awk):
#   BENCH fw cfg=CFG i=N status=ok|timeout|rc=N|no-init rc=N init=S total=S
#        [fw=S] [grub=S] [kernel=S] [linux=S]   (milestones: first console
#        line, GRUB starts loading the kernel, then the initramfs; Linux
#        starts, from the guest's own uptime)
# init: from just before the VMM is started until the guest's
# "KT: init-start" line came out of its console (L1 clock); total: until
# the VMM's exit was reaped. And a final "SCENARIO l1-fw-bench PASS|FAIL".
#
# Environment: BENCH_FW_RUNS, BENCH_FW_CONFIGS (khyve-seabios qemu-seabios),
# BENCH_RUN_TIMEOUT (seconds per VMM run; 180), and lib.sh's KHYVE, QEMU,
# QEMU_DATADIR, QEMU_CPU, FW_DIR (L1: /fw; else build-grub.sh makes
# the ISO). In L1 this script is
# /e2e/scenarios/l1-fw-bench.sh with its settings from the host in
# l1-fw-bench.conf next to it.
_bench_dir=$(dirname "$0")
if [ -f "$_bench_dir/../lib.sh" ]; then
	. "$_bench_dir/../lib.sh"
else
	. "$_bench_dir/../e2e/lib.sh"
fi
[ -f "$_bench_dir/l1-fw-bench.conf" ] && . "$_bench_dir/l1-fw-bench.conf"
# Our timeouts are absolute: TIMEOUT_SCALE only sized L1's backstop.
TIMEOUT_SCALE=1
RUNS=${BENCH_FW_RUNS:-3}
CONFIGS=${BENCH_FW_CONFIGS:-khyve-seabios qemu-seabios}
RUN_TIMEOUT=${BENCH_RUN_TIMEOUT:-180}

fw_seabios
if [ -n "${FW_DIR:-}" ]; then
	ISO=$FW_DIR/grub.iso OVMF=$FW_DIR/OVMF.fd
else
	eval "$("$_bench_dir/../testbed/build-grub.sh")" || fail "cannot build the GRUB ISO"
	ISO=$FW_GRUB_ISO OVMF=/usr/share/ovmf/OVMF.fd
fi
[ -r "$ISO" ] || fail "no $ISO"
case $CONFIGS in *ovmf*) [ -r "$OVMF" ] || fail "no $OVMF (package ovmf)" ;; esac
# SeaBIOS's console on COM1 under QEMU (khyve sets etc/sercon-port itself).
printf '\370\003\0\0\0\0\0\0' >"$KT_TMP/sercon-port"
# The console goes through awk, which notes when the init line passes.
# mawk (Debian's awk) would wait to fill its input buffer: busybox's does not.
AWK=awk
busybox awk 'BEGIN {}' 2>/dev/null && AWK="busybox awk"

bench() { echo "BENCH $*"; }

vmm_argv() { # CFG
	case $1 in
	khyve-*)
		_fw=$FW_SEABIOS
		[ "$1" = khyve-ovmf ] && _fw=$OVMF
		_kt_argv_q "$KHYVE" -m 512M -c 1 -s 0,hostbridge -s 3,ahci-cd,"$ISO" -s 31,lpc \
			-l com1,stdio -l bootrom,"$_fw" "bench-fw-$$-$_n"
		;;
	qemu-*)
		set -- "$QEMU" -accel kvm -M pc -cpu "$QEMU_CPU" -m 512M -smp 1 \
			-nodefaults -no-user-config -display none -serial stdio -no-reboot
		[ -n "${QEMU_DATADIR:-}" ] && set -- "$@" -L "$QEMU_DATADIR"
		if [ "$1" = qemu-ovmf ]; then
			set -- "$@" -bios "$OVMF"
		else
			set -- "$@" -bios "$FW_SEABIOS" -fw_cfg "name=etc/sercon-port,file=$KT_TMP/sercon-port"
		fi
		_kt_argv_q "$@" -device ahci,id=ahci,addr=0x3 \
			-drive "if=none,id=cd,file=$ISO,format=raw,media=cdrom,readonly=on" \
			-device ide-cd,bus=ahci.0,drive=cd
		;;
	*) fail "unknown configuration $1" ;;
	esac
}

one_run() { # CFG I
	_n=$2
	_log=$KT_TMP/$1-$2
	vmm_argv "$1"
	rm -f "$_log.marks" "$_log.fifo"
	mkfifo "$_log.fifo"
	# The console through a FIFO to an awk that notes when init starts (the
	# VMM's open of the FIFO waits for the awk's).
	kt_launch "$RUN_TIMEOUT" "$_log" "$_log.fifo"
	# Milestones on the way (L1 uptime when each first shows): the
	# firmware's first line, GRUB starting the entry, GRUB done with the
	# kernel (now the initramfs), init; and when Linux started (the guest's
	# "KT: uptime=S" line, S seconds after its kernel started).
	$AWK -v marks="$_log.marks" '{ print }
		function mark(name, ago) {
			if (name in seen) return
			getline t <"/proc/uptime"; close("/proc/uptime"); split(t, u, " ")
			printf "%s %.3f\n", name, u[1] - ago >>marks; fflush(marks); seen[name] = 1
		}
		NR == 1 { mark("fw", 0) }
		/GRUB: loading the kernel/ { mark("grub", 0) }
		/GRUB: loading the initramfs/ { mark("kernel", 0) }
		/KT: init-start/ { mark("init", 0) }
		/^KT: uptime=[0-9.]+/ { v = $2; sub(/^uptime=/, "", v); mark("linux", v + 0) }' <"$_log.fifo" >"$_log" &
	_awk=$!
	_kt_all_pids="$_kt_all_pids $_awk"
	kt_reap "$_log"
	_rc=$KT_RC _t0=$KT_T0 _t1=$KT_T1
	wait "$_awk" 2>/dev/null
	rm -f "$_log.fifo"
	# A powered-off guest: khyve exits 1, QEMU 0.
	_want=0
	case $1 in khyve-*) _want=1 ;; esac
	# Seconds from the start: to init, and " fw=S grub=S ..." for the other
	# milestones seen.
	_init=$(awk -v a="$_t0" '$1 == "init" { printf "%.3f", $2 - a }' "$_log.marks" 2>/dev/null)
	_init=${_init:--}
	_marks=$(awk -v a="$_t0" '$1 != "init" { printf " %s=%.3f", $1, $2 - a }' "$_log.marks" 2>/dev/null)
	if [ -e "$_log.timeout" ]; then
		_st=timeout
	elif [ "$_rc" != "$_want" ]; then
		_st="rc=$_rc"
	elif [ "$_init" = - ]; then
		_st=no-init
	else
		_st=ok
	fi
	bench "fw cfg=$1 i=$2 status=$_st rc=$_rc init=$_init total=$(awk -v a="$_t0" -v b="$_t1" 'BEGIN { printf "%.3f", b - a }')$_marks"
	if [ "$_st" != ok ]; then
		nbad=$((nbad + 1))
		VM_LOG=$_log _kt_show_tail
	fi
}

nbad=0
bench "info fw runs=$RUNS configs=$(echo $CONFIGS | tr ' ' ,) iso=$(basename "$ISO") seabios=$FW_SEABIOS"
i=1
while [ $i -le "$RUNS" ]; do
	for c in $CONFIGS; do
		one_run "$c" $i
	done
	i=$((i + 1))
done
[ "$nbad" = 0 ] || fail "$nbad of $(($(echo $CONFIGS | wc -w) * RUNS)) firmware benchmark runs failed"
pass
