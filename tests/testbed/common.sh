# Shared helpers for the testbed build scripts (sourced, POSIX sh; host only).
#
# Everything built here lives in $TB_CACHE (/work/main/.cache by default,
# gitignored), keyed by the Debian package versions and the contents of the
# scripts that produce it, so a rerun with nothing changed costs seconds.

# The sourcing script sets TB_ROOT (the checkout's top directory).
: "${TB_ROOT:?set TB_ROOT before sourcing common.sh}"
TB_DIR=$TB_ROOT/tests/testbed
TB_CACHE=${TB_CACHE:-$TB_ROOT/.cache}
mkdir -p "$TB_CACHE"

tb_log() { echo "testbed: $*" >&2; }
tb_die() { echo "testbed: error: $*" >&2; exit 1; }

# Run "$@" holding the cache lock, so two builds in one checkout do not
# trample each other's half-written files.
tb_locked() {
	(
		flock 9 || exit 1
		"$@"
	) 9>"$TB_CACHE/.lock"
}

# Hash of stdin, 16 hex digits.
tb_hash() { sha256sum | cut -c1-16; }

# Candidate version of a Debian package, from apt's lists (run apt-get update
# once if apt knows nothing). Prints nothing if the package is unknown.
tb_pkg_version() {
	v=$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ { print $2 }')
	if [ -z "$v" ] || [ "$v" = "(none)" ]; then
		if [ ! -e "$TB_CACHE/.apt-updated" ]; then
			tb_log "apt knows no $1; running apt-get update"
			if [ "$(id -u)" = 0 ]; then apt-get update -qq >&2; else sudo apt-get update -qq >&2; fi
			: >"$TB_CACHE/.apt-updated"
			v=$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ { print $2 }')
		fi
	fi
	[ "$v" = "(none)" ] && v=
	echo "$v"
}

# Installed version of a Debian package (empty if not installed).
tb_installed_version() {
	dpkg-query -W -f='${Version}' "$1" 2>/dev/null || true
}

# tb_kernel: make sure the Debian kernel is downloaded and unpacked; sets
#   KPKG   real package name (linux-image-6.1.0-NN-amd64)
#   KPKGVER its version
#   KVER   kernel release (6.1.0-NN-amd64)
#   KROOT  unpacked package root (KROOT/boot/vmlinuz-$KVER, KROOT/lib/modules/$KVER)
#   KIMAGE the bzImage
# Offline with a cache: reuses the newest kernel already unpacked.
tb_kernel() {
	meta=linux-image-amd64
	memo=$TB_CACHE/kernel/resolved
	KPKG=
	# apt-cache is slow (~0.5 s a call): remember the answer until apt's
	# lists change.
	if [ -n "${TB_KERNEL_PKG:-}" ]; then
		KPKG=$TB_KERNEL_PKG
		KPKGVER=$(tb_pkg_version "$KPKG")
		[ -n "$KPKGVER" ] || tb_die "apt knows no $KPKG (TB_KERNEL_PKG)"
	elif [ -s "$memo" ] && [ -z "$(find /var/lib/apt/lists /var/lib/apt/lists/lock -maxdepth 0 -newer "$memo" 2>/dev/null)" ]; then
		read -r KPKG KPKGVER <"$memo"
	else
		metaver=$(tb_pkg_version $meta)
		if [ -n "$metaver" ]; then
			dep=$(apt-cache show "$meta=$metaver" 2>/dev/null | sed -n 's/^Depends: *//p' | head -n1)
			KPKG=$(echo "$dep" | tr ',' '\n' | sed -n 's/^ *\(linux-image-[0-9][^ ]*-amd64\).*/\1/p' | head -n1)
			KPKGVER=$(echo "$dep" | tr ',' '\n' | sed -n "s/^ *$KPKG (= \([^)]*\)).*/\1/p" | head -n1)
			[ -n "$KPKG" ] && [ -z "$KPKGVER" ] && KPKGVER=$(tb_pkg_version "$KPKG")
			if [ -n "$KPKG" ] && [ -n "$KPKGVER" ]; then
				mkdir -p "$TB_CACHE/kernel"
				echo "$KPKG $KPKGVER" >"$memo"
			fi
		fi
	fi
	if [ -n "$KPKG" ]; then
		KROOT=$TB_CACHE/kernel/${KPKG}_$KPKGVER
		[ -e "$KROOT/.done" ] || tb_locked tb_kernel_fetch "$KPKG" "$KPKGVER" "$KROOT"
	else
		# apt knows nothing (offline?): fall back to the newest cached kernel.
		KROOT=$(ls -d "$TB_CACHE"/kernel/linux-image-*/.done 2>/dev/null | sort -V | tail -n1)
		[ -n "$KROOT" ] || tb_die "cannot resolve $meta with apt and no kernel is cached"
		KROOT=${KROOT%/.done}
		KPKG=$(basename "$KROOT"); KPKGVER=${KPKG#*_}; KPKG=${KPKG%%_*}
		tb_log "apt cannot resolve $meta; using cached $KPKG $KPKGVER"
	fi
	[ -e "$KROOT/.done" ] || tb_die "kernel unpack failed"
	KVER=$(ls "$KROOT/lib/modules" | head -n1)
	KIMAGE=$KROOT/boot/vmlinuz-$KVER
	[ -f "$KIMAGE" ] || tb_die "no $KIMAGE"
}

tb_kernel_fetch() {
	[ -e "$3/.done" ] && return 0
	tb_log "downloading $1 $2"
	rm -rf "$3" "$3.tmp"
	mkdir -p "$3.tmp/dl"
	(cd "$3.tmp/dl" && apt-get download -q "$1=$2" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2) || true
	deb=$(ls "$3.tmp/dl/"*.deb 2>/dev/null | head -n1)
	[ -n "$deb" ] || tb_die "apt-get download $1=$2 failed"
	dpkg -x "$deb" "$3.tmp/root" || tb_die "dpkg -x $deb failed"
	kv=$(ls "$3.tmp/root/lib/modules" | head -n1)
	# The package ships no modules.dep: depmod generates it at install time.
	depmod -b "$3.tmp/root" "$kv" || tb_die "depmod failed"
	mv "$3.tmp/root" "$3"
	rm -rf "$3.tmp"
	: >"$3/.done"
	# Older kernels (400 MB unpacked each).
	for _old in "$TB_CACHE"/kernel/linux-image-*; do
		[ "$_old" = "$3" ] || [ ! -d "$_old" ] || { tb_log "removing old $_old"; rm -rf "$_old"; }
	done
}

# Is kernel config option $1 (without CONFIG_) =y, =m or unset?  Prints y, m or n.
tb_kconfig() {
	v=$(sed -n "s/^CONFIG_$1=\(.*\)/\1/p" "$KROOT/boot/config-$KVER")
	echo "${v:-n}"
}

# tb_add_modules DEST NAME...: copy the named modules and everything they
# depend on into DEST/lib/modules/, decompressing .ko.xz/.ko.gz/.ko.zst, and
# write DEST/etc/modules.load (or DEST/etc/$TB_MODULES_LIST): one line per
# module in load order, either "NAME PATH" (insmod PATH) or "NAME builtin".
# Needs tb_kernel.
tb_add_modules() {
	dest=$1; shift
	mdir=$KROOT/lib/modules/$KVER
	_tb_list=$dest/etc/${TB_MODULES_LIST:-modules.load}
	mkdir -p "$dest/lib/modules" "$dest/etc"
	: >"$_tb_list"
	for m in "$@"; do
		# Module names use - and _ interchangeably.
		pat=$(echo "$m" | sed 's/[-_]/[-_]/g')
		line=$(grep -E "(^|/)$pat\.ko(\.[a-z]+)?:" "$mdir/modules.dep" | head -n1)
		if [ -z "$line" ]; then
			if grep -qE "(^|/)$pat\.ko\$" "$mdir/modules.builtin"; then
				grep -q "^$m " "$_tb_list" || echo "$m builtin" >>"$_tb_list"
				continue
			fi
			tb_die "module $m neither in modules.dep nor modules.builtin of $KVER"
		fi
		# modules.dep lists direct and indirect dependencies, the one to
		# load first last.
		deps=$(echo "${line#*:}" | tr ' ' '\n' | grep . | awk '{ a[NR] = $0 } END { for (i = NR; i > 0; i--) print a[i] }')
		for f in $deps ${line%%:*}; do
			n=$(basename "$f"); n=${n%%.ko*}
			grep -q "^$n " "$_tb_list" && continue
			case $f in
			*.ko.xz) xz -dc "$mdir/$f" >"$dest/lib/modules/$n.ko" ;;
			*.ko.gz) gzip -dc "$mdir/$f" >"$dest/lib/modules/$n.ko" ;;
			*.ko.zst) zstd -qdc "$mdir/$f" >"$dest/lib/modules/$n.ko" ;;
			*) cp "$mdir/$f" "$dest/lib/modules/$n.ko" ;;
			esac
			echo "$n /lib/modules/$n.ko" >>"$_tb_list"
		done
	done
}

# tb_add_busybox DEST: busybox-static as DEST/bin/busybox plus one symlink
# per applet (never busybox itself), in the directories busybox names.
tb_add_busybox() {
	dest=$1
	bb=$(command -v busybox) || tb_die "busybox not installed (busybox-static)"
	ldd "$bb" >/dev/null 2>&1 && tb_die "$bb is dynamically linked; install busybox-static"
	mkdir -p "$dest/bin" "$dest/sbin" "$dest/usr/bin" "$dest/usr/sbin"
	cp "$bb" "$dest/bin/busybox"
	"$bb" --list-full | while read -r a; do
		case $a in
		*/busybox | "") continue ;;
		esac
		[ -e "$dest/$a" ] || [ -L "$dest/$a" ] || ln -s /bin/busybox "$dest/$a"
	done
}

# tb_add_elf DEST FILE [AS [LIBROOT]]: copy a dynamically linked program and
# every shared library ldd names (and the dynamic loader) under DEST, at the
# same absolute paths as on the host; the program goes to DEST/AS (default
# FILE). A library under LIBROOT (a Debian package unpacked there, found
# through LD_LIBRARY_PATH) goes to its path inside LIBROOT. A symlink at
# DEST/AS (a busybox applet) is replaced, never written through.
tb_add_elf() {
	dest=$1; file=$2; as=${3:-$2}; libroot=${4:-}
	mkdir -p "$dest$(dirname "$as")"
	rm -f "$dest$as"
	cp -L "$file" "$dest$as"
	ldd "$file" 2>/dev/null | awk '
		/=> not found/ { print "NOTFOUND " $1; next }
		/=> \// { print $3; next }
		/^[ \t]*\/[^ ]+ \(/ { print $1 }' | while read -r lib x; do
		[ "$lib" = NOTFOUND ] && tb_die "$file: shared library $x not found"
		to=$lib
		[ -n "$libroot" ] && case $lib in "$libroot"/*) to=${lib#"$libroot"} ;; esac
		[ -e "$dest$to" ] && continue
		mkdir -p "$dest$(dirname "$to")"
		cp -L "$lib" "$dest$to"
	done || exit 1
}

# tb_ensure_pkg PKG...: install the Debian packages that are missing (the
# testbed's host-side tools, e.g. e2fsprogs for the guest's mkfs.ext4).
tb_ensure_pkg() {
	_miss=
	for _p; do
		dpkg-query -W -f='${Status}' "$_p" 2>/dev/null | grep -q "ok installed" || _miss="$_miss $_p"
	done
	[ -z "$_miss" ] && return 0
	tb_log "installing:$_miss"
	_sudo=
	[ "$(id -u)" = 0 ] || _sudo=sudo
	$_sudo apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive $_sudo apt-get install -y -qq --no-install-recommends $_miss >&2 ||
		tb_die "apt-get install$_miss failed"
}

# tb_fio: Debian's fio, for the benchmark inside the guest, downloaded (not
# installed) into the cache with the library packages this machine lacks;
# sets FIO_ROOT (the unpacked packages: FIO_ROOT/usr/bin/fio) and FIO_LIBPATH
# (for LD_LIBRARY_PATH, so that ldd finds the unpacked libraries).
tb_fio() {
	_fv=$(tb_pkg_version fio)
	if [ -z "$_fv" ]; then
		FIO_ROOT=$(ls -d "$TB_CACHE"/fio/*/.done 2>/dev/null | sort -V | tail -n1)
		[ -n "$FIO_ROOT" ] || tb_die "apt knows no fio and none is cached"
		FIO_ROOT=${FIO_ROOT%/.done}
	else
		FIO_ROOT=$TB_CACHE/fio/$_fv
		[ -e "$FIO_ROOT/.done" ] || tb_locked tb_fio_fetch "$_fv" "$FIO_ROOT"
	fi
	[ -e "$FIO_ROOT/.done" ] || tb_die "fio download failed"
	FIO_LIBPATH=$(find "$FIO_ROOT" -name '*.so*' -exec dirname {} \; | sort -u | tr '\n' : | sed 's/:$//')
}

tb_fio_fetch() {
	[ -e "$2/.done" ] && return 0
	tb_log "downloading fio $1 and the libraries it needs"
	rm -rf "$2" "$2.tmp"
	mkdir -p "$2.tmp/dl"
	# fio and the packages apt would install with it here (those are the
	# libraries this machine lacks; ldd finds the others on the host).
	_pk=$(apt-get install -s --no-install-recommends "fio=$1" 2>/dev/null | awk '$1 == "Inst" { print $2 }')
	echo "$_pk" | grep -qx fio || tb_die "apt-get cannot resolve fio=$1"
	for _p in $_pk; do
		# Not interpreters and daemons fio's scripts want: only the program.
		case $_p in python3* | libpython3* | init-system-helpers) continue ;; esac
		(cd "$2.tmp/dl" && apt-get download -q "$_p" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2) || true
	done
	for _d in "$2.tmp/dl/"*.deb; do
		dpkg -x "$_d" "$2.tmp/root" || tb_die "dpkg -x $_d failed"
	done
	[ -x "$2.tmp/root/usr/bin/fio" ] || tb_die "apt-get download fio=$1 failed"
	mv "$2.tmp/root" "$2"
	rm -rf "$2.tmp"
	: >"$2/.done"
}

# tb_net_tools: Debian's iperf3 and ethtool, for the network scenarios and
# benchmark (in L1 and in the guest), downloaded (not installed) into the
# cache with the library packages this machine lacks, as tb_fio; sets
# NET_ROOT (the unpacked packages: NET_ROOT/usr/bin/iperf3,
# NET_ROOT/sbin/ethtool) and NET_LIBPATH (for LD_LIBRARY_PATH).
TB_NET_PKGS="iperf3 ethtool"
tb_net_tools() {
	_nv=
	for _p in $TB_NET_PKGS; do
		_v=$(tb_pkg_version "$_p")
		[ -n "$_v" ] || { _nv=; break; }
		_nv="$_nv $_p=$_v"
	done
	if [ -z "$_nv" ]; then
		NET_ROOT=$(ls -td "$TB_CACHE"/net/*/.done 2>/dev/null | head -n1)
		[ -n "$NET_ROOT" ] || tb_die "apt knows no $TB_NET_PKGS and none is cached"
		NET_ROOT=${NET_ROOT%/.done}
	else
		# A hash: versions have colons, which LD_LIBRARY_PATH cannot hold.
		NET_ROOT=$TB_CACHE/net/$(echo "$_nv" | tb_hash)
		[ -e "$NET_ROOT/.done" ] || tb_locked tb_net_fetch "$NET_ROOT" $_nv
	fi
	[ -e "$NET_ROOT/.done" ] || tb_die "download of $TB_NET_PKGS failed"
	NET_LIBPATH=$(find "$NET_ROOT" -name '*.so*' -exec dirname {} \; | sort -u | tr '\n' : | sed 's/:$//')
}

tb_net_fetch() { # DIR PKG=VERSION...
	_d=$1; shift
	[ -e "$_d/.done" ] && return 0
	tb_log "downloading$(printf ' %s' "$@") and the libraries they need"
	rm -rf "$_d" "$_d.tmp"
	mkdir -p "$_d.tmp/dl"
	# The packages (--reinstall: even if installed here) and those apt
	# would install with them (the libraries this machine lacks; ldd finds
	# the others on the host).
	_pk=$(apt-get install -s --reinstall --no-install-recommends "$@" 2>/dev/null | awk '$1 == "Inst" { print $2 }')
	[ -n "$_pk" ] || tb_die "apt-get cannot resolve$(printf ' %s' "$@")"
	for _p in $_pk; do
		(cd "$_d.tmp/dl" && apt-get download -q "$_p" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2) || true
	done
	for _x in "$_d.tmp/dl/"*.deb; do
		dpkg -x "$_x" "$_d.tmp/root" || tb_die "dpkg -x $_x failed"
	done
	for _x in usr/bin/iperf3 sbin/ethtool; do
		[ -x "$_d.tmp/root/$_x" ] || tb_die "no $_x in the downloaded packages"
	done
	echo "$*" >"$_d.tmp/root/.packages"
	mv "$_d.tmp/root" "$_d"
	rm -rf "$_d.tmp"
	: >"$_d/.done"
}

# tb_cpio DIR OUT: newc archive of DIR (uncompressed: fastest for the guest
# kernel to unpack, and archives can be concatenated).
tb_cpio() {
	(cd "$1" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) >"$2.tmp" &&
		mv "$2.tmp" "$2"
}

# tb_kvmprobe: build tests/testbed/kvmprobe.c (static if possible) into the
# cache and print its path.
tb_kvmprobe() {
	_pk=$TB_CACHE/kvmprobe-$(cat "$TB_DIR/kvmprobe.c" | tb_hash)
	if [ ! -x "$_pk" ]; then
		cc -O2 -Wall -static -o "$_pk.tmp.$$" "$TB_DIR/kvmprobe.c" 2>/dev/null ||
			cc -O2 -Wall -o "$_pk.tmp.$$" "$TB_DIR/kvmprobe.c" || tb_die "cannot build kvmprobe"
		mv "$_pk.tmp.$$" "$_pk"
	fi
	echo "$_pk"
}

# tb_run_l1 KERNEL INITRD: boot L1 (QEMU/TCG emulating an AMD CPU with SVM)
# with its serial console on stdio. Replaces the calling (sub)shell with QEMU,
# so "( . common.sh; tb_run_l1 K I ) &" leaves QEMU's pid in $!.
# L1_SMP (2), L1_MEM (2G), L1_APPEND: see tests/e2e/run.sh; L1_CPU: QEMU's
# -cpu (TB_L1_CPU, below). L1_MONITOR=PATH:
# QEMU's monitor on the FIFOs PATH.in and PATH.out (made here), to look at
# L1's vCPUs when it hangs.
# L1's CPU: everything TCG has, less ERMS/FSRM. With them L1's kernel copies
# with "rep movsb", which QEMU 7.2's TCG runs one byte per pass through a
# translated block; without them it takes "rep movsq" (REP_GOOD): reading
# 256 MiB from tmpfs took 0.75 s with, 0.20 s without (2026-12-03). Every
# copy in L1 (disk reads and writes, tap frames) and in the L2 guests, which
# inherit L1's CPUID, is that much cheaper, for every VMM alike.
TB_L1_CPU=${L1_CPU:-max,-erms,-fsrm}

tb_run_l1() {
	_mon=none
	if [ -n "${L1_MONITOR:-}" ]; then
		rm -f "$L1_MONITOR.in" "$L1_MONITOR.out"
		mkfifo "$L1_MONITOR.in" "$L1_MONITOR.out" && _mon=pipe:$L1_MONITOR
	fi
	exec "${L0_QEMU:-qemu-system-x86_64}" -accel "${L1_ACCEL:-tcg}" -cpu "$TB_L1_CPU" -smp "${L1_SMP:-2}" -m "${L1_MEM:-2G}" \
		-nodefaults -no-user-config -display none -monitor "$_mon" \
		-serial stdio -no-reboot \
		-kernel "$1" -initrd "$2" \
		-append "${L1_APPEND:-console=ttyS0 quiet loglevel=1 panic=-1 mitigations=off nokaslr}"
}

# tb_l1_monitor DIR SECONDS COMMANDS: send COMMANDS (printf format, one per
# line) to L1's QEMU monitor (the FIFOs DIR/l1.mon.in and .out, see
# tb_run_l1) and print what it answers within SECONDS; false if there is
# no monitor or it does not take them.
tb_l1_monitor() {
	[ -p "$1/l1.mon.in" ] || return 1
	timeout "$2" sh -c 'printf "$2" >"$1"' sh "$1/l1.mon.in" "$3" || return 1
	timeout "$2" cat "$1/l1.mon.out"
	return 0
}

# tb_l1_state DIR: what L1's vCPUs are doing (registers, the top of each
# stack -- at an exception's entry, the interrupted RIP -- local APICs). L1
# boots with nokaslr, so its RIPs are the addresses /proc/kallsyms shows in
# any L1 of the same kernel (Debian's System.map is a placeholder).
tb_l1_state() {
	tb_l1_monitor "$1" 5 'info registers -a\ncpu 0\nx/6gx $esp\ncpu 1\nx/6gx $esp\ninfo lapic 0\ninfo lapic 1\ninfo pic\n'
}

# tb_l1_spinning DIR: true if, right now, every L1 vCPU runs (not halted)
# with interrupts off (RFLAGS.IF clear), as read from the monitor.
tb_l1_spinning() {
	# IF is RFLAGS bit 9: the sixth of RFL's eight hex digits has bit 1 set.
	tb_l1_monitor "$1" 2 'info registers -a\n' | tr -d '\r' | awk '
		/^RIP=/ {
			n++
			for (i = 1; i <= NF; i++) {
				if ($i ~ /^RFL=/) f = substr($i, 5)
				if ($i == "HLT=1") h = 1
			}
			if (h || index("2367abef", substr(f, 6, 1)) > 0) ok = 1
			h = 0
		}
		END { exit !(n > 0 && !ok) }'
}

# tb_l1_watchdog PID DIR TOTAL BOOT STALL IDLE PROGRESS: watch L1 (its QEMU
# is PID, its console DIR/l1.raw) and stop it after TOTAL s, or as soon as
# it hangs:
#   - not at "TESTBED: scenarios-start" within BOOT s;
#   - no progress for STALL s: PROGRESS "scenarios" is another
#     "TESTBED: scenario " line, "output" any console output;
#   - its emulator used under 1% CPU for IDLE s: a hung L1 sits with every
#     vCPU halted and only QEMU's own timers tick (~0.2%), while one that
#     runs a guest or a scenario uses far more;
#   - its kernel reported a lockup or panicked (it does not recover);
#   - every vCPU spun with interrupts off at three looks 15 s apart: a
#     deadlock in L1's kernel, which its lockup detectors (they need timer
#     interrupts) never report.
# Why goes to DIR/l1.timeout, and if L1 hung also to DIR/l1.hung, with its
# vCPUs' state in DIR/l1.state. Run it in the background.
tb_l1_watchdog() {
	_pid=$1 _dir=$2 _total=$3 _boot=$4 _stall=$5 _idle=$6 _mode=$7
	_i=0 _booted=0 _progress= _last=0 _cpu_then=0 _cpu_since=0 _spins=0
	while kill -0 "$_pid" 2>/dev/null; do
		_hung=
		[ $_booted = 0 ] && grep -q '^TESTBED: scenarios-start' "$_dir/l1.raw" &&
			_booted=1 _last=$_i _cpu_since=$_i
		# Checked every 5 s: L1 is slow, and so is grep.
		if [ $_booted = 1 ] && [ $((_i % 5)) = 0 ]; then
			if [ "$_mode" = scenarios ]; then
				_p=$(grep -c '^TESTBED: scenario ' "$_dir/l1.raw")
			else
				_p=$(stat -c %s "$_dir/l1.raw")
			fi
			[ "$_p" != "$_progress" ] && _progress=$_p _last=$_i
			[ $((_i - _last)) -ge "$_stall" ] && _hung="made no progress for $_stall s"
			_cpu_now=$(awk '{ print $14 + $15 }' "/proc/$_pid/stat" 2>/dev/null)
			if [ -n "$_cpu_now" ]; then
				[ $((_cpu_now - _cpu_then)) -ge 5 ] && _cpu_since=$_i
				_cpu_then=$_cpu_now
			fi
			[ "$_idle" -gt 0 ] && [ $((_i - _cpu_since)) -ge "$_idle" ] &&
				_hung="stopped (its emulator used no CPU for $_idle s)"
			# Anchored: L1's own kernel messages, not guest logs a scenario quotes.
			_lockup=$(grep -m1 -o '^\[ *[0-9.]*\] \(watchdog: BUG: soft lockup\|rcu: INFO: rcu_[a-z]* self-detected stall\|Kernel panic\)' "$_dir/l1.raw")
			[ -n "$_lockup" ] && _hung="kernel hung (${_lockup#*] })"
		fi
		if [ $_booted = 1 ] && [ $((_i % 15)) = 0 ]; then
			if tb_l1_spinning "$_dir"; then _spins=$((_spins + 1)); else _spins=0; fi
			[ $_spins -ge 3 ] && _hung="spun with interrupts off on every vCPU for 30 s (a kernel deadlock)"
		fi
		[ $_booted = 0 ] && [ $_i -ge "$_boot" ] && _hung="did not reach its scenarios within $_boot s"
		_why=${_hung:+L1 $_hung}
		[ $_i -ge "$_total" ] && _why="L1 timed out after $_total s"
		if [ -n "$_why" ]; then
			echo "$_why" >"$_dir/l1.timeout"
			[ -n "$_hung" ] && echo "L1 $_hung" >"$_dir/l1.hung"
			tb_l1_state "$_dir" >"$_dir/l1.state" 2>&1
			kill "$_pid"
			sleep 10
			kill -KILL "$_pid" 2>/dev/null
			return 0
		fi
		sleep 1
		_i=$((_i + 1))
	done
}
