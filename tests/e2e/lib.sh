# Helpers for the end-to-end scenarios (tests/e2e/scenarios/NAME.sh).
# POSIX sh: runs under busybox sh inside the L1 testbed and under
# bash/dash on the host.  A scenario does
#
#     . "$(dirname "$0")/../lib.sh"
#     run_khyve 30 "$KT_TMP/console" -m 256M -c 1 -l com1,stdio \
#         -o boot.kernel="$GUEST_KERNEL" -o boot.initrd="$GUEST_INITRD" \
#         -o "boot.cmdline=$GUEST_CONSOLE kt.action=poweroff" "$(vm_name)"
#     expect_exit 1
#     expect_log '^KT: init-start'
#     pass
#
# and ends having printed exactly one line "SCENARIO NAME PASS" or
# "SCENARIO NAME FAIL: reason" (on failure, after the tail of the console
# log).  Under VMM=qemu a scenario that cannot apply prints
# "SCENARIO NAME SKIP: reason".
#
# Environment (all optional; tests/e2e/run.sh and the L1 init set them):
#   KHYVE         the khyve binary (default: build/khyve of this checkout)
#   GUEST_KERNEL  L2 guest kernel, GUEST_INITRD its initramfs
#                 (default: .cache/guest/current/, see build-guest.sh)
#   VMM           khyve (default) or qemu: run QEMU with the equivalent
#                 command line instead (for validating scenarios and guest)
#   QEMU          the QEMU binary (default qemu-system-x86_64)
#   QEMU_DATADIR  passed to QEMU as -L (firmware copy inside L1)
#   QEMU_ACCEL    default kvm
#   QEMU_CPU      default host (with arch-capabilities off; see below)
#   TIMEOUT_SCALE multiply every timeout by this (integer; testbed: 4)
#   KT_WORKDIR    where logs go (default: a fresh directory under /tmp)
#   KT_LOUD=1     boot the guest without "quiet"
#   KT_VERBOSE=1  show the console tail of passing scenarios too
#   KT_TAIL_LINES lines of console shown (default 40)
#   KT_VMM_CPUMASK run khyve under "taskset MASK" in scenarios that say
#                 "# e2e-pin: yes" (several vCPUs or guests at once; the
#                 testbed sets 1, see tests/testbed/build-l1.sh)

SCENARIO=$(basename "$0" .sh)
_kt_libdir=$(cd "$(dirname "$0")/.." && pwd)
_kt_root=$(cd "$_kt_libdir/../.." 2>/dev/null && pwd)
VMM=${VMM:-khyve}
KHYVE=${KHYVE:-$_kt_root/build/khyve}
GUEST_KERNEL=${GUEST_KERNEL:-$_kt_root/.cache/guest/current/vmlinuz}
GUEST_INITRD=${GUEST_INITRD:-$_kt_root/.cache/guest/current/initrd.img}
QEMU=${QEMU:-qemu-system-x86_64}
QEMU_ACCEL=${QEMU_ACCEL:-kvm}
# -cpu host trips over MSR 0x10a (arch capabilities) on some nested hosts.
QEMU_CPU=${QEMU_CPU:-host,-arch-capabilities}
TIMEOUT_SCALE=${TIMEOUT_SCALE:-1}
# The guest's console arguments. "quiet" halves boot time in the testbed
# (every console byte is a port I/O exit through two hypervisors); errors,
# oopses and the power-off/restart messages still show. KT_LOUD=1: full log.
if [ "${KT_LOUD:-0}" = 1 ]; then
	GUEST_CONSOLE="console=ttyS0"
else
	GUEST_CONSOLE="console=ttyS0 quiet"
fi
_kt_pin=
grep -q '^# e2e-pin: yes' "$0" 2>/dev/null && _kt_pin=${KT_VMM_CPUMASK:-}
_kt_own_workdir=
if [ -z "${KT_WORKDIR:-}" ]; then
	# Run by hand: our own directory, removed if the scenario passes.
	KT_WORKDIR=$(mktemp -d "${TMPDIR:-/tmp}/kt-e2e.XXXXXX")
	_kt_own_workdir=$KT_WORKDIR
fi
KT_TMP=$KT_WORKDIR/$SCENARIO.$$
rm -rf "$KT_TMP"
mkdir -p "$KT_TMP"

# The last VM started/waited for.
VM_PID=
VM_WD=
VM_LOG=
KHYVE_RC=
KHYVE_TIMEDOUT=0
_kt_all_pids=
_kt_done=0

# A VM name unique to this run: vm_name [SUFFIX]
vm_name() { echo "kt-$SCENARIO-$$${1:+-$1}"; }

_kt_on_exit=
_kt_cleanup() {
	for _p in $_kt_all_pids; do
		kill -KILL "$_p" 2>/dev/null
	done
	# After the VMs: they may hold what is cleaned up (loop devices).
	[ -n "$_kt_on_exit" ] && eval "$_kt_on_exit"
	if [ "$_kt_done" = 0 ]; then
		echo "SCENARIO $SCENARIO FAIL: scenario ended without a verdict"
	fi
}
trap _kt_cleanup EXIT
trap 'exit 130' INT TERM

# Scale a timeout.
_kt_scale() { echo $(($1 * TIMEOUT_SCALE)); }

# One bhyve -s slot,emulation[,conf] as QEMU arguments, one per line:
#   hostbridge, lpc        nothing (QEMU's pc machine has its own)
#   virtio-rnd             -device virtio-rng-pci
#   virtio-blk,PATH[,ro][,ser=S][,sectorsize=L[/P]][,nocache][,direct][,nodelete]
#                          -drive (raw, cache mode from nocache/direct,
#                          discard=unmap unless nodelete) + -device virtio-blk-pci
#   virtio-net,tapN[,mac=M][,mtu=N]
#                          -netdev tap,ifname=tapN,script=no,downscript=no
#                          (vhost=on if QEMU_VHOST=1) + -device virtio-net-pci
#   virtio-net,slirp[,hostfwd=tcp::H-:G[;...]][,mac=M][,mtu=N]
#                          -netdev user[,hostfwd=...] + -device virtio-net-pci
#                          (without mac=, bhyve's default MAC, computed here:
#                          QEMU's would be the same for every VM)
#   ahci,hd:PATH,cd:PATH, ahci-hd,PATH, ahci-cd,PATH
#                          -device ahci + one ide-hd/ide-cd (-drive raw; CDs
#                          read-only) per port
# The slot ("slot", "slot:func" or "bus:slot:func", decimal) becomes addr=.
_kt_qemu_slot() {
	_sl=${1%%,*}; _em=${1#*,}; _op=
	case $_em in *,*) _op=${_em#*,}; _em=${_em%%,*} ;; esac
	_fn=0
	case $_sl in
	*:*:*) _sl=${_sl#*:}; _fn=${_sl#*:}; _sl=${_sl%%:*} ;;
	*:*) _fn=${_sl#*:}; _sl=${_sl%%:*} ;;
	esac
	_ad=$(printf '0x%x.%x' "$_sl" "$_fn")
	case $_em in
	hostbridge | lpc) ;;
	virtio-rnd) printf '%s\n' -device "virtio-rng-pci,addr=$_ad" ;;
	virtio-blk)
		_path=; _ro=0; _ser=; _ss=; _nocache=0; _direct=0; _nodel=0
		_ifs=$IFS; IFS=,
		for _o in $_op; do
			case $_o in
			ro) _ro=1 ;;
			nocache) _nocache=1 ;;
			direct) _direct=1 ;;
			nodelete) _nodel=1 ;;
			ser=*) _ser=${_o#ser=} ;;
			sectorsize=*) _ss=${_o#sectorsize=} ;;
			path=*) _path=${_o#path=} ;;
			*=*) echo "lib.sh: VMM=qemu: cannot translate virtio-blk option $_o" >&2 ;;
			*) [ -z "$_path" ] && _path=$_o || echo "lib.sh: VMM=qemu: cannot translate virtio-blk option $_o" >&2 ;;
			esac
		done
		IFS=$_ifs
		# bhyve: nocache = O_DIRECT, direct = O_SYNC.
		case $_nocache$_direct in
		00) _cache=writeback ;;
		10) _cache=none ;;
		01) _cache=writethrough ;;
		11) _cache=directsync ;;
		esac
		_dr="file=$_path,if=none,id=d$_sl.$_fn,format=raw,cache=$_cache"
		_dv="virtio-blk-pci,drive=d$_sl.$_fn,addr=$_ad"
		if [ $_ro = 1 ]; then
			_dr="$_dr,readonly=on"
			_dv="$_dv,discard=off"
		elif [ $_nodel = 1 ]; then
			_dr="$_dr,discard=ignore"
			_dv="$_dv,discard=off"
		else
			_dr="$_dr,discard=unmap"
		fi
		[ -n "$_ser" ] && _dv="$_dv,serial=$_ser"
		if [ -n "$_ss" ]; then
			_lbs=${_ss%%/*}; _pbs=${_ss#*/}
			_dv="$_dv,logical_block_size=$_lbs,physical_block_size=$_pbs"
		fi
		printf '%s\n' -drive "$_dr" -device "$_dv"
		;;
	virtio-net)
		_be=; _mac=; _mtu=; _fw=
		_ifs=$IFS; IFS=,
		for _o in $_op; do
			case $_o in
			mac=*) _mac=${_o#mac=} ;;
			mtu=*) _mtu=${_o#mtu=} ;;
			hostfwd=*) _fw=${_o#hostfwd=} ;;
			*=*) echo "lib.sh: VMM=qemu: cannot translate virtio-net option $_o" >&2 ;;
			*) [ -z "$_be" ] && _be=$_o || echo "lib.sh: VMM=qemu: cannot translate virtio-net option $_o" >&2 ;;
			esac
		done
		IFS=$_ifs
		_id=n$_sl.$_fn
		case $_be in
		tap[0-9]*)
			_nd="tap,id=$_id,ifname=$_be,script=no,downscript=no"
			[ "${QEMU_VHOST:-0}" = 1 ] && _nd="$_nd,vhost=on"
			;;
		slirp)
			_nd="user,id=$_id"
			# bhyve: hostfwd=tcp::H-:G;udp::H2-:G2 -> one hostfwd= each.
			_ifs=$IFS; IFS=';'
			for _r in $_fw; do _nd="$_nd,hostfwd=$_r"; done
			IFS=$_ifs
			;;
		*) echo "lib.sh: VMM=qemu: cannot translate virtio-net backend $_be" >&2 ;;
		esac
		# romfile=: no PXE option ROM (the firmware copy in L1 has none).
		_dv="virtio-net-pci,netdev=$_id,addr=$_ad,romfile="
		# bhyve's net_genmac: 00:a0:98 + MD5("slot-func-vmname")[0..2].
		[ -n "$_mac" ] || _mac=00:a0:98:$(printf '%d-%d-%s' "$_sl" "$_fn" "${_kt_qname:-}" | md5sum |
			sed 's/^\(..\)\(..\)\(..\).*/\1:\2:\3/')
		_dv="$_dv,mac=$_mac"
		[ -n "$_mtu" ] && _dv="$_dv,host_mtu=$_mtu"
		printf '%s\n' -netdev "$_nd" -device "$_dv"
		;;
	ahci | ahci-hd | ahci-cd)
		# One AHCI controller; each hd:PATH / cd:PATH (or the PATH of
		# ahci-hd/ahci-cd) on its own port. Options (ser=, ...) are
		# not translated.
		_id=a$_sl.$_fn
		printf '%s\n' -device "ahci,id=$_id,addr=$_ad"
		_pt=0
		_ifs=$IFS; IFS=,
		for _o in $_op; do
			_kind=
			case $_em:$_o in
			*:hd:*) _kind=hd; _o=${_o#hd:} ;;
			*:cd:*) _kind=cd; _o=${_o#cd:} ;;
			*:*=*) echo "lib.sh: VMM=qemu: cannot translate ahci option $_o" >&2; continue ;;
			ahci-hd:*) _kind=hd ;;
			ahci-cd:*) _kind=cd ;;
			*) echo "lib.sh: VMM=qemu: cannot translate ahci port $_o" >&2; continue ;;
			esac
			if [ $_kind = cd ]; then
				printf '%s\n' -drive "file=$_o,if=none,id=$_id.$_pt,format=raw,media=cdrom,readonly=on" \
					-device "ide-cd,drive=$_id.$_pt,bus=$_id.$_pt"
			else
				printf '%s\n' -drive "file=$_o,if=none,id=$_id.$_pt,format=raw" \
					-device "ide-hd,drive=$_id.$_pt,bus=$_id.$_pt"
			fi
			_pt=$((_pt + 1))
		done
		IFS=$_ifs
		;;
	*) echo "lib.sh: VMM=qemu: cannot translate -s $1" >&2 ;;
	esac
}

# Rewrite the khyve command line in "$@" into the equivalent QEMU one;
# the result is left in _kt_argv (quoted) for the caller to eval.
# Options: -m SIZE, -c N|cpus=N,sockets=S,cores=C,threads=T, -l com1,stdio,
# -l bootrom,PATH (-bios PATH, SeaBIOS's serial console on COM1),
# -o boot.kernel=|boot.initrd=|boot.cmdline=, -s (see _kt_qemu_slot), and
# the VM name.
_kt_qemu_argv() {
	_n=$#
	# The VM name, the last argument (for the default MAC addresses).
	eval "_kt_qname=\${$#}"
	_want=
	set -- "$@" "$QEMU" -accel "$QEMU_ACCEL" -cpu "$QEMU_CPU" -nodefaults -no-user-config \
		-display none -no-reboot
	[ -n "${QEMU_DATADIR:-}" ] && set -- "$@" -L "$QEMU_DATADIR"
	[ -n "${_kt_monitor:-}" ] && set -- "$@" -monitor "pipe:$_kt_monitor"
	_i=0
	for _a; do
		_i=$((_i + 1))
		[ $_i -gt $_n ] && break
		case $_want in
		m) set -- "$@" -m "$_a"; _want=; continue ;;
		s)
			# One argument per line; no globbing of them.
			_sa=$(_kt_qemu_slot "$_a")
			_ifs=$IFS; IFS='
'
			set -f
			set -- "$@" $_sa
			set +f
			IFS=$_ifs
			_want=; continue ;;
		c) set -- "$@" -smp "$_a"; _want=; continue ;;
		U) set -- "$@" -uuid "$_a"; _want=; continue ;;
		l)
			case $_a in
			com1,stdio) set -- "$@" -serial stdio ;;
			bootrom,*)
				# QEMU's SeaBIOS prints on COM1 as khyve's does when
				# fw_cfg names the port (etc/sercon-port: 8 bytes LE).
				printf '\370\003\0\0\0\0\0\0' >"$KT_TMP/sercon-port"
				set -- "$@" -bios "${_a#bootrom,}" \
					-fw_cfg "name=etc/sercon-port,file=$KT_TMP/sercon-port" ;;
			*) echo "lib.sh: VMM=qemu: cannot translate -l $_a" >&2 ;;
			esac
			_want=; continue ;;
		o)
			case $_a in
			boot.kernel=*) set -- "$@" -kernel "${_a#boot.kernel=}" ;;
			boot.initrd=*) set -- "$@" -initrd "${_a#boot.initrd=}" ;;
			boot.cmdline=*) set -- "$@" -append "${_a#boot.cmdline=}" ;;
			system.product_name=*) set -- "$@" -smbios "type=1,product=${_a#*=}" ;;
			system.manufacturer=*) set -- "$@" -smbios "type=1,manufacturer=${_a#*=}" ;;
			*) echo "lib.sh: VMM=qemu: cannot translate -o $_a" >&2 ;;
			esac
			_want=; continue ;;
		esac
		case $_a in
		-m | -c | -l | -o | -s | -U) _want=${_a#-} ;;
		-*) echo "lib.sh: VMM=qemu: cannot translate $_a" >&2 ;;
		*) set -- "$@" -name "$_a" ;;
		esac
	done
	shift $_n
	# Pinned like khyve would be, so that the two compare.
	[ -n "$_kt_pin" ] && set -- taskset "$_kt_pin" "$@"
	_kt_argv_q "$@"
}

# Quote "$@" for eval into _kt_argv.
_kt_argv_q() {
	_kt_argv=
	for _a; do
		_q=$(printf '%s' "$_a" | sed "s/'/'\\\\''/g")
		_kt_argv="$_kt_argv '$_q'"
	done
}

# start_khyve TIMEOUT_S LOGFILE ARGS...: start the VMM in the background
# with ARGS (khyve syntax), stdout to LOGFILE, stderr to LOGFILE.err, stdin
# from $KT_STDIN (default /dev/null). After TIMEOUT_S (times TIMEOUT_SCALE)
# a watchdog sends SIGTERM, and 5 s later SIGKILL. Sets VM_PID, VM_WD, VM_LOG.
start_khyve() {
	_t=$(_kt_scale "$1"); VM_LOG=$2; shift 2
	rm -f "$VM_LOG" "$VM_LOG.err" "$VM_LOG.timeout"
	if [ "$VMM" = qemu ]; then
		_kt_monitor=$VM_LOG.mon
		rm -f "$_kt_monitor.in" "$_kt_monitor.out"
		mkfifo "$_kt_monitor.in" "$_kt_monitor.out"
		_kt_qemu_argv "$@"
	else
		[ -x "$KHYVE" ] || fail "no khyve binary at $KHYVE"
		if [ -n "$_kt_pin" ]; then
			_kt_argv_q taskset "$_kt_pin" "$KHYVE" "$@"
		else
			_kt_argv_q "$KHYVE" "$@"
		fi
	fi
	echo "$_kt_argv" >"$VM_LOG.cmd"
	_kt_now >"$VM_LOG.t0"
	# exec: VM_PID must be the VMM itself, not a subshell, so that signals
	# (the power button is SIGTERM) reach it.
	eval "exec $_kt_argv" <"${KT_STDIN:-/dev/null}" >"$VM_LOG" 2>"$VM_LOG.err" &
	VM_PID=$!
	_kt_all_pids="$_kt_all_pids $VM_PID"
	if [ "$VMM" = qemu ]; then
		# Drain QEMU's monitor output so it never blocks.
		cat "$_kt_monitor.out" >"$VM_LOG.monlog" 2>/dev/null &
		_kt_all_pids="$_kt_all_pids $!"
	fi
	# Not on our stdout: a leftover sleep would hold a pipe open.
	_kt_watchdog "$_t" "$VM_PID" "$VM_LOG.timeout" >/dev/null 2>&1 &
	VM_WD=$!
	_kt_all_pids="$_kt_all_pids $VM_WD"
}

# _kt_watchdog TIMEOUT PID LOG.timeout: SIGTERM, then SIGKILL, to PID after
# TIMEOUT s -- or as soon as the console (LOG) shows the guest panicked, for
# it never goes on from there; LOG.timeout says which. Looks every 5 s.
_kt_watchdog() {
	_wsp=
	trap 'kill $_wsp 2>/dev/null; exit 0' TERM
	_left=$1
	while [ "$_left" -gt 0 ]; do
		_step=$((_left < 5 ? _left : 5))
		sleep "$_step" &
		_wsp=$!
		wait $_wsp
		_left=$((_left - _step))
		if grep -qs 'Kernel panic - not syncing' "${3%.timeout}"; then
			echo "its guest panicked; stopped $(($1 - _left)) s after the start" >"$3"
			break
		fi
	done
	[ -e "$3" ] || echo "timed out after $1 s" >"$3"
	kill -TERM "$2" 2>/dev/null
	sleep 5 &
	_wsp=$!
	wait $_wsp
	kill -KILL "$2" 2>/dev/null
	exit 0
}

# kt_launch TIMEOUT LOG [OUT]: start the command vmm_argv built (_kt_argv)
# in the background for a measurement: stdout to OUT (default LOG), stderr to
# LOG.err, the command in LOG.cmd; a watchdog sends SIGTERM after TIMEOUT s
# (unscaled; LOG.timeout says it fired) and SIGKILL 5 s later. Sets KT_PID
# (the VMM itself), KT_WD and KT_T0 (L1 uptime, s).
kt_launch() {
	rm -f "$2" "$2.err" "$2.timeout"
	echo "$_kt_argv" >"$2.cmd"
	read -r KT_T0 _x </proc/uptime
	eval "exec $_kt_argv" </dev/null >"${3:-$2}" 2>"$2.err" &
	KT_PID=$!
	_kt_watchdog "$1" "$KT_PID" "$2.timeout" >/dev/null 2>&1 &
	KT_WD=$!
	_kt_all_pids="$_kt_all_pids $KT_PID $KT_WD"
}

# kt_reap LOG: wait for kt_launch's VMM; sets KT_RC, KT_T1 (uptime, s) and
# KT_TIMEDOUT (1 if the watchdog fired).
kt_reap() {
	wait "$KT_PID"
	KT_RC=$?
	read -r KT_T1 _x </proc/uptime
	kill -TERM "$KT_WD" 2>/dev/null
	wait "$KT_WD" 2>/dev/null
	KT_TIMEDOUT=0
	[ -e "$1.timeout" ] && KT_TIMEDOUT=1
}

# wait_khyve [PID WATCHDOG LOG]: wait for the VM (default: the last one
# started) to exit; sets KHYVE_RC, KHYVE_TIMEDOUT, VM_LOG.
wait_khyve() {
	_p=${1:-$VM_PID}; _w=${2:-$VM_WD}; VM_LOG=${3:-$VM_LOG}
	wait "$_p"
	KHYVE_RC=$?
	kill -TERM "$_w" 2>/dev/null
	wait "$_w" 2>/dev/null
	KHYVE_TIMEDOUT=0
	[ -e "$VM_LOG.timeout" ] && KHYVE_TIMEDOUT=1
	_up=$(kt_value uptime)
	_kt_info "$VMM exited $KHYVE_RC after $(_kt_since "$(cat "$VM_LOG.t0")") s${_up:+; guest uptime at action $_up s}"
	return 0
}

# Seconds since boot, with fractions (Linux /proc/uptime).
_kt_now() { cut -d' ' -f1 /proc/uptime; }
_kt_since() { awk -v a="$1" '{ printf "%.1f", $1 - a }' /proc/uptime; }

# Informational output: "  NAME: ..." (not a verdict line).
_kt_info() { echo "  $SCENARIO: $*"; }

# run_khyve TIMEOUT_S LOGFILE ARGS...: start_khyve + wait_khyve.
run_khyve() {
	start_khyve "$@"
	wait_khyve
}

# Is process PID alive?
_kt_alive() { kill -0 "$1" 2>/dev/null; }

# wait_log REGEX TIMEOUT_S [LOG [PID]]: wait until the console log has a line
# matching REGEX (grep -E); false if the VM exits, its guest panics, or time
# runs out first.
wait_log() {
	_re=$1; _t=$(_kt_scale "$2"); _l=${3:-$VM_LOG}; _p=${4:-$VM_PID}
	_end=$(($(date +%s) + _t))
	_n=0
	while :; do
		tr -d '\r' <"$_l" 2>/dev/null | grep -Eq -- "$_re" && return 0
		_kt_alive "$_p" || {
			tr -d '\r' <"$_l" 2>/dev/null | grep -Eq -- "$_re"
			return
		}
		[ "$(date +%s)" -ge "$_end" ] && return 1
		# A guest that panicked never gets there (its VMM runs on, halted):
		# give up now, not at the timeout. Looked for every 5 s only, as
		# each look is a process, which is slow in the testbed.
		_n=$((_n + 1))
		if [ $((_n % 25)) = 0 ] && grep -qs 'Kernel panic - not syncing' "$_l"; then
			_kt_info "the guest panicked: not waiting for $_re"
			return 1
		fi
		sleep 0.2
	done
}

# power_button [PID]: what bhyve users do to stop a VM: SIGTERM to khyve,
# which presses the ACPI power button. Under VMM=qemu: system_powerdown.
power_button() {
	if [ "$VMM" = qemu ]; then
		# Bounded: opening the monitor FIFO blocks if QEMU has gone.
		timeout 10 sh -c 'echo system_powerdown >"$1"' sh "$VM_LOG.mon.in"
	else
		kill -TERM "${1:-$VM_PID}"
	fi
}

# Translate an expected khyve exit status to QEMU's under VMM=qemu:
# QEMU exits 0 for poweroff, reset (with -no-reboot) and triple fault,
# and 1 for errors.
_kt_expected_rc() {
	if [ "$VMM" = qemu ]; then
		case $1 in 0 | 1 | 2 | 3) echo 0 ;; *) echo 1 ;; esac
	else
		echo "$1"
	fi
}

# expect_exit N: the last VM exited with khyve status N
# (0 rebooted, 1 powered off, 2 halted, 3 triple fault, 4 error).
expect_exit() {
	_e=$(_kt_expected_rc "$1")
	if [ "$KHYVE_TIMEDOUT" = 1 ]; then
		fail "$VMM timed out ($(cat "$VM_LOG.timeout")), status $KHYVE_RC; expected $_e"
	fi
	[ "$KHYVE_RC" = "$_e" ] || fail "$VMM exited $KHYVE_RC, expected $_e"
}

# expect_log REGEX [LOG]: the console log has a line matching REGEX.
expect_log() {
	tr -d '\r' <"${2:-$VM_LOG}" 2>/dev/null | grep -Eq -- "$1" ||
		fail "console log has no line matching /$1/"
}

# expect_no_log REGEX [LOG]
expect_no_log() {
	tr -d '\r' <"${2:-$VM_LOG}" 2>/dev/null | grep -Eq -- "$1" &&
		fail "console log has a line matching /$1/"
	return 0
}

# kt_value KEY [LOG]: the value of the guest's last "KT: KEY=VALUE" line.
kt_value() {
	tr -d '\r' <"${2:-$VM_LOG}" 2>/dev/null | sed -n "s/^KT: $1=//p" | tail -n1
}

# expect_value KEY VALUE [LOG]
expect_value() {
	_v=$(kt_value "$1" "${3:-$VM_LOG}")
	[ "$_v" = "$2" ] || fail "guest reports $1='$_v', expected '$2'"
}

_kt_show_tail() {
	_l=${1:-$VM_LOG}
	[ -n "$_l" ] || return 0
	if [ -e "$_l.cmd" ]; then
		echo "--- $SCENARIO: command:$(cat "$_l.cmd")"
	fi
	if [ -s "$_l.err" ]; then
		echo "--- $SCENARIO: stderr ($_l.err, last 10 lines):"
		tail -n 10 "$_l.err" | tr -d '\r' | sed 's/^/  | /'
	fi
	if [ -e "$_l" ]; then
		echo "--- $SCENARIO: console ($_l, last ${KT_TAIL_LINES:-40} lines):"
		# awk ends every line, even a last one cut off mid-line (firmware
		# text), so that the verdict starts a line of its own.
		tail -n "${KT_TAIL_LINES:-40}" "$_l" | tr -d '\r' | awk '{ print "  | " $0 }'
	fi
}

# fail REASON: print the console tail and the verdict; exit.
fail() {
	_kt_show_tail
	kt_verdict_fail "$@"
}

# kt_verdict_fail REASON: the FAIL line alone (fail() shows the console
# first). When a guest of this scenario triple-faulted, the line ends with
# "[guest triple fault]": in the nested testbed Linux guests that pass on
# their own occasionally triple-fault early in boot when L1 runs several
# vCPUs at once (L0's emulation of nested SVM; L1's own kernel has crashed
# the same way). tests/e2e/run.sh runs a failed scenario once more in the
# testbed, whatever the reason; the mark tells the reader why it may have failed.
kt_verdict_fail() {
	_kt_done=1
	_tf=
	grep -qs 'triple fault' "$KT_TMP"/*.err "$KT_TMP"/*/*.err && _tf=" [guest triple fault]"
	echo "SCENARIO $SCENARIO FAIL: $*$_tf"
	exit 1
}

pass() {
	[ "${KT_VERBOSE:-0}" = 1 ] && _kt_show_tail
	_kt_done=1
	echo "SCENARIO $SCENARIO PASS"
	_kt_rm_workdir
	exit 0
}

_kt_rm_workdir() {
	[ -n "$_kt_own_workdir" ] && [ "${KT_KEEP:-0}" != 1 ] || return 0
	for _p in $_kt_all_pids; do
		kill -KILL "$_p" 2>/dev/null
	done
	_kt_all_pids=
	rm -rf "$_kt_own_workdir"
}

# skip REASON: only for VMM=qemu, for what QEMU cannot model.
skip() {
	_kt_done=1
	echo "SCENARIO $SCENARIO SKIP: $*"
	_kt_rm_workdir
	exit 0
}

# Guest must not report failures loading its modules or starting acpid.
expect_guest_sane() {
	expect_log '^KT: init-start'
	expect_no_log '^KT: module [^ ]*=failed'
}

# --- exit census ------------------------------------------------------------
# Where a guest's time goes, seen from KVM: histograms of KVM's trace events
# (tracefs hist triggers, system-wide, so one VM at a time) over a stretch
# of a run that the guest marks on its console. Benchmarks use it with
# BENCH_EXITS=1 to compare VMMs exit by exit.
KT_TRACEFS=/sys/kernel/tracing
# event:key -- kvm_exit by exit code (SVM or VMX), kvm_userspace_exit by
# KVM_EXIT_* reason, interrupts accepted into the local APIC by vector, MSR
# accesses by MSR (the TSC-deadline timer, x2APIC EOIs).
KT_CENSUS_EVENTS="kvm_exit:exit_reason kvm_userspace_exit:reason kvm_apic_accept_irq:vec kvm_msr:ecx"

kt_census_setup() {
	[ -d "$KT_TRACEFS/events/kvm" ] || mount -t tracefs nodev "$KT_TRACEFS" 2>/dev/null
	[ -w "$KT_TRACEFS/events/kvm/kvm_exit/trigger" ] || fail "the exit census needs tracefs with KVM's events"
	# Whose exit codes kvm_exit reports: AMD's (SVM) or Intel's (VMX).
	if grep -q -m1 -w svm /proc/cpuinfo; then KT_CENSUS_ISA=svm; else KT_CENSUS_ISA=vmx; fi
}

_kt_census_trigger() { # "" to start every histogram, "!" to drop them
	for _ev in $KT_CENSUS_EVENTS; do
		echo "$1hist:keys=${_ev#*:}" >"$KT_TRACEFS/events/kvm/${_ev%%:*}/trigger"
	done
}

_kt_census_read() { # " exit:CODE=N ... user:REASON=N ... irq:VEC=N ..." (codes in hex)
	for _ev in $KT_CENSUS_EVENTS; do
		awk -v ev="${_ev%%:*}" '
			/^\{/ { gsub(/[{},:]/, " "); k = $2; n = $NF
				if (ev == "kvm_exit") printf " exit:%x=%s", k, n
				else if (ev == "kvm_userspace_exit") printf " user:%s=%s", k, n
				else if (ev == "kvm_msr") printf " msr:%x=%s", k, n
				else printf " irq:%x=%s", k, n }' "$KT_TRACEFS/events/kvm/${_ev%%:*}/hist"
	done
}

# _kt_wait_log LOG PATTERN...: until LOG has one of the fixed strings, or
# kt_launch's VMM is gone (status 1).
_kt_wait_log() {
	_wl=$1; shift
	for _p; do set -- "$@" -e "$_p"; shift; done
	while ! grep -q -F "$@" "$_wl" 2>/dev/null; do
		kill -0 "$KT_PID" 2>/dev/null || return 1
		sleep 0.2
	done
}

# _kt_cpu_ticks PID: "VMM_USER VMM_SYS VMM_GUEST HOST_BUSY HOST_IDLE" in
# clock ticks: the VMM process's time (utime includes its vCPUs' guest
# time) and the whole host's, from /proc.
_kt_cpu_ticks() {
	{ cat "/proc/$1/stat" 2>/dev/null || echo; head -n1 /proc/stat; } | awk '
		NR == 1 { sub(/.*\) /, ""); u = $12; s = $13; g = $41 }
		NR == 2 { idle = $5 + $6; busy = $2 + $3 + $4 + $7 + $8 + $9 }
		END { print u + 0, s + 0, g + 0, busy, idle }'
}

# kt_census LOG START END [FAILED] (after kt_census_setup): counts KVM's events from when LOG shows
# START until it shows END (or FAILED); prints "secs=S isa=svm|vmx exit:...", then
# " cpu:guest=S cpu:vmm-user=S cpu:vmm-sys=S cpu:host-busy=S cpu:host-idle=S":
# the seconds of CPU the VMM's vCPUs spent in the guest, the VMM spent in
# user space (guest time taken out) and in the kernel (exit handling, I/O),
# and the whole host's busy and idle seconds (all CPUs). Status 1
# if the VMM exits first. Polls every 0.2 s: let the guest sleep a second
# around the stretch so the edges hold no work.
kt_census() {
	_kt_wait_log "$1" "$2" || return 1
	_kt_census_trigger ""
	read -r _c0 _x </proc/uptime
	_t0=$(_kt_cpu_ticks "$KT_PID")
	if ! _kt_wait_log "$1" "$3" ${4:+"$4"}; then
		_kt_census_trigger "!"
		return 1
	fi
	_t1=$(_kt_cpu_ticks "$KT_PID")
	read -r _c1 _x </proc/uptime
	printf 'secs=%s isa=%s%s%s\n' "$(awk -v a="$_c0" -v b="$_c1" 'BEGIN { printf "%.1f", b - a }')" \
		"$KT_CENSUS_ISA" "$(_kt_census_read)" \
		"$(echo "$_t0 $_t1" | awk -v hz="$(getconf CLK_TCK 2>/dev/null || echo 100)" '{
			printf " cpu:guest=%.2f cpu:vmm-user=%.2f cpu:vmm-sys=%.2f cpu:host-busy=%.2f cpu:host-idle=%.2f",
				($8 - $3) / hz, max0(($6 - $1) - ($8 - $3)) / hz, ($7 - $2) / hz, ($9 - $4) / hz, ($10 - $5) / hz }
			# utime and guest time tick apart: their difference can dip below 0.
			function max0(x) { return x < 0 ? 0 : x }')"
	_kt_census_trigger "!"
}

# --- guests with devices --------------------------------------------------

# start_script_guest TIMEOUT_S LOGFILE SCRIPT [ARG...]: start_khyve with the
# test guest (1 vCPU, 256M, com1 on stdio, a hostbridge and an LPC bridge as
# bhyve users configure them, ARG... such as -s 4,virtio-blk,IMG) running
# SCRIPT through kt.action=script: guest shell commands, no double quotes,
# reporting in "KT: KEY=VALUE" lines; its newlines become blanks (the kernel
# command line is one line), so end commands with ";". KT_CMDLINE_EXTRA:
# more of the guest's kernel command line (e.g. pci=nomsi); KT_VM: a suffix
# of the VM name (two VMs at once).
start_script_guest() {
	_t=$1; _l=$2; _sc=$3; shift 3
	case $_sc in *'"'*) fail "guest script contains a double quote: $_sc" ;; esac
	_sc=$(printf '%s\n' "$_sc" | tr '\n\t' '  ')
	start_khyve "$_t" "$_l" -m 256M -c 1 -s 0,hostbridge -s 31,lpc "$@" -l com1,stdio \
		-o boot.kernel="$GUEST_KERNEL" -o boot.initrd="$GUEST_INITRD" \
		-o "boot.cmdline=$GUEST_CONSOLE ${KT_CMDLINE_EXTRA:+$KT_CMDLINE_EXTRA }kt.action=script kt.script=\"$_sc\"" \
		"$(vm_name ${KT_VM:-})"
}

# run_action_guest TIMEOUT_S CPUS CMDLINE: boot the test guest alone (no PCI
# devices, 256M, com1 on stdio, console in $KT_TMP/console) with CMDLINE
# added to its kernel command line (kt.action=... and the like), and wait.
run_action_guest() {
	run_khyve "$1" "$KT_TMP/console" -m 256M -c "$2" -l com1,stdio \
		-o boot.kernel="$GUEST_KERNEL" -o boot.initrd="$GUEST_INITRD" \
		-o "boot.cmdline=$GUEST_CONSOLE $3" "$(vm_name)"
}

# run_script_guest TIMEOUT_S LOGFILE SCRIPT [ARG...]: start_script_guest and
# wait for the VM; the guest powers off after SCRIPT (exit status 1).
run_script_guest() {
	start_script_guest "$@"
	wait_khyve
}

# expect_script_ok: the last VM powered off after its script ran to the end
# with status 0 and with every module loaded.
expect_script_ok() {
	expect_exit 1
	expect_guest_sane
	expect_value script-status 0
}

# kt_on_exit COMMAND: run COMMAND (eval) when the scenario exits, after its
# VMs are killed (detach loop devices, ...).
kt_on_exit() {
	_kt_on_exit="$_kt_on_exit
$1"
}

# kt_sha FILE [SKIP COUNT [BS]]: sha256 of FILE, or of COUNT blocks of BS
# bytes (default 1M) after SKIP of them.
kt_sha() {
	if [ $# -ge 3 ]; then
		dd if="$1" bs="${4:-1M}" skip="$2" count="$3" 2>/dev/null | sha256sum | cut -d' ' -f1
	else
		sha256sum <"$1" | cut -d' ' -f1
	fi
}

# kt_net_guest: the test guest with iperf3 and ethtool: GUEST_INITRD becomes
# a copy of itself with GUEST_NET_PART appended (build-guest.sh --net; in the
# testbed, L1 has it as /guest/net.cpio).
kt_net_guest() {
	if [ -z "${GUEST_NET_PART:-}" ]; then
		[ -x "$_kt_root/tests/testbed/build-guest.sh" ] || fail "no GUEST_NET_PART and no build-guest.sh"
		_g=$("$_kt_root/tests/testbed/build-guest.sh" --net) || fail "cannot build the guest's network part"
		GUEST_NET_PART=$(echo "$_g" | sed -n 's/^GUEST_NET_PART=//p')
	fi
	[ -f "$GUEST_NET_PART" ] || fail "no guest network part at $GUEST_NET_PART"
	case $GUEST_INITRD in "$KT_TMP"/*) return 0 ;; esac
	cat "$GUEST_INITRD" "$GUEST_NET_PART" >"$KT_TMP/initrd-net.img" || fail "cannot write $KT_TMP/initrd-net.img"
	GUEST_INITRD=$KT_TMP/initrd-net.img
}

# kt_need CMD...: fail unless each host command exists (L1 has them with
# the network part of build-l1.sh).
kt_need() {
	for _c; do
		command -v "$_c" >/dev/null 2>&1 || fail "no $_c on this host"
	done
}

# kt_ip ARG...: iproute2's ip (busybox sh runs its own ip applet, which has
# no bridge, tuntap or veth, for a plain "ip" whatever PATH says).
kt_ip() {
	if [ -z "${_kt_ipbin:-}" ]; then
		for _kt_ipbin in /sbin/ip /bin/ip /usr/sbin/ip /usr/bin/ip ""; do
			[ -n "$_kt_ipbin" ] && "$_kt_ipbin" -V 2>/dev/null | grep -q iproute2 && break
		done
		[ -n "$_kt_ipbin" ] || fail "no iproute2 ip on this host"
	fi
	"$_kt_ipbin" "$@"
}

# kt_bridge BRIDGE ADDR/LEN: a bridge with that address, up (removed at exit).
kt_bridge() {
	kt_ip -V >/dev/null
	kt_ip link add "$1" type bridge || fail "cannot create bridge $1"
	kt_on_exit "kt_ip link del $1 2>/dev/null"
	# No STP delays: ports forward as soon as they are up.
	kt_ip link set "$1" type bridge stp_state 0 forward_delay 0 2>/dev/null
	kt_ip addr add "$2" dev "$1" || fail "cannot give $1 the address $2"
	kt_ip link set "$1" up || fail "cannot bring $1 up"
}

# kt_vhost_worker PID: true if the kernel runs a vhost worker for process PID
# (what "ps" shows for a VMM using vhost-net: a kernel thread "vhost-PID",
# or since Linux 6.4 a thread of that name inside the process).
kt_vhost_worker() {
	grep -qx "vhost-$1" /proc/[0-9]*/comm /proc/"$1"/task/*/comm 2>/dev/null
}

# kt_tap TAP BRIDGE: a persistent tap (ip tuntap add), port of BRIDGE, up
# (removed at exit).
kt_tap() {
	kt_ip tuntap add "$1" mode tap || fail "cannot create tap $1"
	kt_on_exit "kt_ip link del $1 2>/dev/null"
	kt_ip link set "$1" master "$2" || fail "cannot add $1 to $2"
	kt_ip link set "$1" up || fail "cannot bring $1 up"
}

# kt_alloc_kib FILE: KiB of storage allocated to FILE (holes of a sparse
# file count for nothing).
kt_alloc_kib() {
	echo $(($(stat -c %b "$1") * $(stat -c %B "$1") / 1024))
}

# kt_image FILE MIB: a fresh sparse image of MIB MiB.
kt_image() {
	rm -f "$1"
	truncate -s "${2}M" "$1" || fail "cannot make a $2 MiB image $1"
}

# --- firmware boot ----------------------------------------------------------

# fw_seabios: set FW_SEABIOS to Debian's SeaBIOS image (bios-256k.bin; in
# the testbed, the copy in QEMU_DATADIR), or fail.
fw_seabios() {
	FW_SEABIOS=
	for _f in "${QEMU_DATADIR:-/nonexistent}/bios-256k.bin" /usr/share/seabios/bios-256k.bin; do
		[ -r "$_f" ] && { FW_SEABIOS=$_f; return 0; }
	done
	fail "no SeaBIOS image (package seabios; in the testbed: L1_QEMU=1)"
}

# fw_media NAME: set FW_PATH to a boot medium of tests/testbed/build-grub.sh
# (grub.iso, bios-disk.img, uefi-disk.img) or to a firmware file packed with
# them into L1 (OVMF.fd, OVMF_CODE_4M.fd, OVMF_VARS_4M.fd), or fail. FW_DIR:
# where they are (L1: /fw); on a host without it, build-grub.sh makes them
# (OVMF: Debian's own files).
fw_media() {
	if [ -n "${FW_DIR:-}" ]; then
		FW_PATH=$FW_DIR/$1
		[ -r "$FW_PATH" ] || fail "no $1 in $FW_DIR"
		return 0
	fi
	case $1 in
	OVMF.fd) _m=/usr/share/ovmf/OVMF.fd ;;
	OVMF_*) _m=/usr/share/OVMF/$1 ;;
	*)
		[ -x "$_kt_root/tests/testbed/build-grub.sh" ] || fail "no FW_DIR and no build-grub.sh"
		_g=$("$_kt_root/tests/testbed/build-grub.sh") || fail "cannot build the firmware boot media"
		_m=$(dirname "$(echo "$_g" | sed -n 's/^FW_GRUB_ISO=//p')")/$1
		;;
	esac
	[ -r "$_m" ] || fail "no $_m (package ovmf, or tests/testbed/build-grub.sh)"
	FW_PATH=$_m
}

# expect_grub_boot: the console shows GRUB's menu (build-grub.sh's), GRUB
# booting its entry and loading the kernel and initramfs, then the test
# guest's init with the command line GRUB gave it; every module loaded.
# expect_acpi_disassembles CPUS TABLE...: the guest (booted with
# kt.acpidump=1, as build-grub.sh's media do) dumped each TABLE as the
# firmware handed it over; each checksums to zero and disassembles with
# iasl -d, and the MADT names CPUS processors (enabled local APICs).
expect_acpi_disassembles() {
	_cpus=$1; shift
	command -v iasl >/dev/null || fail "no iasl here (package acpica-tools; the testbed packs it for fw-*)"
	for _t in "$@"; do
		_f=$KT_TMP/acpi.$_t
		tr -d '\r' <"$VM_LOG" | sed -n "s/^KT: acpidump $_t //p" | tail -n1 >"$_f.hex"
		[ -s "$_f.hex" ] || fail "the guest dumped no $_t table"
		xxd -r -p <"$_f.hex" >"$_f.dat"
		_sum=$(od -An -v -tu1 "$_f.dat" | awk '{ for (i = 1; i <= NF; i++) s += $i } END { print s % 256 }')
		[ "$_sum" = 0 ] || fail "ACPI $_t as the guest sees it: checksum off by $_sum"
		iasl -d "$_f.dat" >"$_f.iasl" 2>&1 || fail "iasl -d fails on the guest's $_t: $(tail -n3 "$_f.iasl" | tr '\n' ' ')"
		[ -s "$_f.dsl" ] || fail "iasl -d wrote nothing for $_t"
	done
	_n=$(grep -c 'Processor Enabled : 1' "$KT_TMP/acpi.APIC.dsl" 2>/dev/null)
	[ "$_n" = "$_cpus" ] || fail "the guest's MADT lists ${_n:-no} enabled processors, not $_cpus"
}

expect_grub_boot() {
	expect_log 'GNU GRUB +version'
	expect_log 'khyve test guest'
	expect_log "Booting .khyve test guest'"
	expect_log '^GRUB: loading the initramfs'
	expect_guest_sane
	expect_log '^KT: cmdline=BOOT_IMAGE=/boot/vmlinuz .*kt\.action=poweroff'
}
