#!/bin/sh
# Boot benchmark, the part that runs where /dev/kvm is: inside the L1 testbed
# VM (tests/bench/boot.sh packs it into L1 as /bench/, next to /e2e/) or
# directly on a host with a usable /dev/kvm. POSIX sh (busybox sh in L1).
#
# For each configuration, BENCH_RUNS boots of the test guest with
# kt.action=reboot (the guest reboots as soon as its /init has reported;
# khyve exits 0, QEMU with -no-reboot exits 0), interleaved so that drift of
# the (emulated) clock spreads evenly; then one boot per configuration with
# kt.action=wait to sample the VMM's memory while the guest is up.
#
# Output, one line per measurement (tests/bench/boot.sh makes the table):
#   BENCH run cfg=CFG i=N status=ok|timeout|rc=N|no-uptime rc=N total=S guest=S
#             [vm_created=S guest_start=S guest_stopped=S exit=S]   (khyve)
#   BENCH mem cfg=CFG status=ok|... overhead_kib=N anon_kib=N file_kib=N
#             guest_map_kib=N guest_rss_kib=N hwm_kib=N maps=N
#   BENCH info ...
# and a final "SCENARIO l1-boot-bench PASS|FAIL" line for the L1 init.
#
# total: from just before the VMM is started until its exit was reaped, on
# this (L1) clock. guest: the guest's own uptime when it reported
# "KT: uptime=" just before rebooting. The trace phases (khyve only, from
# KHYVE_TRACE_STARTUP) are seconds after the start of total.
#
# Environment: BENCH_RUNS (3), BENCH_CONFIGS (khyve-pvh khyve-bzimage qemu-pc
# qemu-microvm), BENCH_RUN_TIMEOUT (seconds per VMM run; 180), BENCH_MEM
# (guest memory, MiB; 256), BENCH_MICROVM_APPEND (added to the command line
# under -M microvm; "reboot=a", see below), and lib.sh's KHYVE, QEMU, QEMU_DATADIR,
# QEMU_CPU, GUEST_KERNEL, GUEST_INITRD.
# In L1 this script is /e2e/scenarios/l1-boot-bench.sh, with its settings
# from the host in l1-boot-bench.conf next to it.
_bench_dir=$(dirname "$0")
if [ -f "$_bench_dir/../lib.sh" ]; then
	. "$_bench_dir/../lib.sh"
else
	. "$_bench_dir/../e2e/lib.sh"
fi
[ -f "$_bench_dir/l1-boot-bench.conf" ] && . "$_bench_dir/l1-boot-bench.conf"
# Our timeouts are absolute: TIMEOUT_SCALE only sized L1's backstop.
TIMEOUT_SCALE=1
# khyve's start-up phases on stderr (QEMU ignores it).
export KHYVE_TRACE_STARTUP=1
RUNS=${BENCH_RUNS:-3}
CONFIGS=${BENCH_CONFIGS:-khyve-pvh khyve-bzimage qemu-pc qemu-microvm}
RUN_TIMEOUT=${BENCH_RUN_TIMEOUT:-180}
MEM=${BENCH_MEM:-256}
# With Linux's default reboot a microvm did not end: the guest went on to a
# jump into qboot's reset vector, where L1's KVM stopped on an emulation
# failure. reboot=a (the ACPI reset register, which microvm has through its
# GED device) resets it, so QEMU (-no-reboot) exits.
MICROVM_APPEND=${BENCH_MICROVM_APPEND-reboot=a}
CMDLINE_BASE=$GUEST_CONSOLE

bench() { echo "BENCH $*"; }

# The VMM command line of configuration $1 for a guest doing kt.action=$2,
# into "$@"-style _kt_argv (quoted for eval).
vmm_argv() {
	_cmd="$CMDLINE_BASE kt.action=$2"
	case $1 in
	khyve-pvh | khyve-bzimage)
		_pvh=true
		[ "$1" = khyve-bzimage ] && _pvh=false
		_kt_argv_q "$KHYVE" -m "${MEM}M" -c 1 -l com1,stdio \
			-o boot.kernel="$GUEST_KERNEL" -o boot.initrd="$GUEST_INITRD" \
			-o boot.pvh=$_pvh -o "boot.cmdline=$_cmd" "bench-$1-$$-$_n"
		;;
	qemu-pc | qemu-microvm)
		_m=pc
		if [ "$1" = qemu-microvm ]; then
			# No PCI, no option ROMs (qboot loads the kernel itself
			# from fw_cfg), the ISA serial port for ttyS0, an RTC
			# like pc has.
			_m=microvm,x-option-roms=off,isa-serial=on,rtc=on
			_cmd="$_cmd $MICROVM_APPEND"
		fi
		set -- "$QEMU" -accel kvm -M "$_m" -cpu "$QEMU_CPU" -m "$MEM" -smp 1 \
			-nodefaults -no-user-config -display none -serial stdio -no-reboot
		[ -n "${QEMU_DATADIR:-}" ] && set -- "$@" -L "$QEMU_DATADIR"
		_kt_argv_q "$@" -kernel "$GUEST_KERNEL" -initrd "$GUEST_INITRD" -append "$_cmd"
		;;
	*) fail "unknown configuration $1" ;;
	esac
}

# khyve's startup trace, relative to KT_T0: " vm_created=S guest_start=S ..."
trace_phases() {
	tr -d '\r' <"$1.err" | awk -v t0="$KT_T0" '
		# Phase lines are "khyve: trace SECONDS PHASE"; "khyve: trace exits ..." is not one.
		$1 == "khyve:" && $2 == "trace" && $3 ~ /^[0-9.]+$/ && $4 != "start" {
			p = $4; gsub("-", "_", p)
			printf " %s=%.3f", p, $3 - t0
		}
		$1 == "khyve:" && $2 == "trace" && $4 == "start" { printf " start=%.3f", $3 - t0 }'
}

show_failure() { # LOG
	if [ -s "$1.err" ]; then
		echo "--- $SCENARIO: stderr ($1.err, first 5 lines):"
		head -n 5 "$1.err" | tr -d '\r' | sed 's/^/  | /'
	fi
	VM_LOG=$1 _kt_show_tail
}

one_run() { # CFG I
	_n=$2
	_log=$KT_TMP/$1-$2
	vmm_argv "$1" reboot
	kt_launch "$RUN_TIMEOUT" "$_log"
	kt_reap "$_log"
	_up=$(kt_value uptime "$_log")
	_total=$(awk -v a="$KT_T0" -v b="$KT_T1" 'BEGIN { printf "%.3f", b - a }')
	if [ "$KT_TIMEDOUT" = 1 ]; then
		_st="timeout"
	elif [ "$KT_RC" != 0 ]; then
		_st="rc=$KT_RC"
	elif [ -z "$_up" ]; then
		_st="no-uptime"
	else
		_st=ok
	fi
	_tr=
	case $1 in khyve-*) _tr=$(trace_phases "$_log") ;; esac
	bench "run cfg=$1 i=$2 status=$_st rc=$KT_RC total=$_total guest=${_up:--}$_tr"
	if [ "$_st" != ok ]; then
		nbad=$((nbad + 1))
		[ "$_st" = timeout ] && echo "  bench: $1 run $2 HUNG: killed after $RUN_TIMEOUT s"
		show_failure "$_log"
	fi
	case $1 in
	khyve-*) sed -n 's/^khyve: boot: /  bench: '"$1"' run '"$2"': /p' "$_log.err" ;;
	esac
}

# smaps of PID: everything but the guest RAM (the largest anonymous mapping
# of at least the guest memory size).
mem_sample() { # SMAPS STATUS
	awk -v guest_kib=$((MEM * 1024)) '
		/^[0-9a-f]+-[0-9a-f]+ / {
			n++; anon[n] = ($5 == 0 && $6 == ""); size[n] = 0; rss[n] = 0; next
		}
		$1 == "Size:" { size[n] = $2 }
		$1 == "Rss:" { rss[n] = $2 }
		END {
			g = 0
			for (i = 1; i <= n; i++)
				if (anon[i] && size[i] >= guest_kib && (g == 0 || size[i] > size[g]))
					g = i
			tot = 0; a = 0; f = 0
			for (i = 1; i <= n; i++) {
				tot += rss[i]
				if (i == g) continue
				if (anon[i]) a += rss[i]; else f += rss[i]
			}
			printf "overhead_kib=%d anon_kib=%d file_kib=%d guest_map_kib=%d guest_rss_kib=%d total_rss_kib=%d maps=%d",
				a + f, a, f, g ? size[g] : 0, g ? rss[g] : 0, tot, n
		}' "$1"
	awk '$1 == "VmHWM:" { printf " hwm_kib=%d", $2 }' "$2"
}

# The mappings with the most Rss (but the largest, the guest RAM), so that
# the memory column can be explained.
top_maps() { # CFG SMAPS
	awk '
		/^[0-9a-f]+-[0-9a-f]+ / { n++; name[n] = $6 == "" ? "[anon]" : $6; perm[n] = $2; next }
		$1 == "Size:" { size[n] = $2 }
		$1 == "Rss:" { rss[n] = $2 }
		$1 == "AnonHugePages:" { thp[n] = $2 }
		END {
			g = 1
			for (i = 1; i <= n; i++) if (size[i] > size[g]) g = i
			for (i = 1; i <= n; i++)
				if (i != g && rss[i] > 0)
					printf "%d %d %d %s %s\n", rss[i], size[i], thp[i], perm[i], name[i]
		}' "$2" | sort -rn | head -n "${BENCH_TOP_MAPS:-12}" |
		while read -r _r _s _h _p _name; do
			echo "  bench: $1 map rss=${_r}k size=${_s}k thp=${_h}k $_p $_name"
		done
}

mem_run() { # CFG
	_n=mem
	_log=$KT_TMP/$1-mem
	vmm_argv "$1" wait
	kt_launch "$RUN_TIMEOUT" "$_log"
	_st=ok
	_m=
	if wait_log '^KT: waiting' "$RUN_TIMEOUT" "$_log" "$KT_PID"; then
		# Let the guest settle (its init is idle in sleep).
		sleep 1
		if cat "/proc/$KT_PID/smaps" >"$_log.smaps" 2>/dev/null &&
			cat "/proc/$KT_PID/status" >"$_log.status" 2>/dev/null; then
			_m=$(mem_sample "$_log.smaps" "$_log.status")
			top_maps "$1" "$_log.smaps"
		else
			_st=exited
		fi
	elif [ -e "$_log.timeout" ]; then
		_st=timeout
	else
		_st=no-wait
	fi
	kill -KILL "$KT_PID" 2>/dev/null
	kt_reap "$_log"
	[ "$KT_TIMEDOUT" = 1 ] && _st=timeout
	bench "mem cfg=$1 status=$_st $_m"
	if [ "$_st" != ok ]; then
		nbad=$((nbad + 1))
		show_failure "$_log"
	fi
}

nbad=0
bench "info runs=$RUNS configs=$(echo $CONFIGS | tr ' ' ,) mem_mib=$MEM run_timeout=$RUN_TIMEOUT cpus=$(nproc)"
bench "info thp=$(sed -n 's/.*\[\(.*\)\].*/\1/p' /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null) kernel=$(uname -r) qemu=$("$QEMU" --version 2>/dev/null | head -n1 | sed 's/.*version \([^ ]*\).*/\1/')"
i=1
while [ $i -le "$RUNS" ]; do
	for c in $CONFIGS; do
		one_run "$c" $i
	done
	i=$((i + 1))
done
for c in $CONFIGS; do
	mem_run "$c"
done
[ "$nbad" = 0 ] || fail "$nbad of $(($(echo $CONFIGS | wc -w) * (RUNS + 1))) VMM runs failed or hung"
pass
