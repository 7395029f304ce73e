#!/bin/sh
# Tests of the systemd unit systemd/khyve@.service.in: systemd-analyze
# verify when systemd is installed (not started: the check is offline); its
# restart/stop policy matches khyve's exit statuses; its ExecStart, run
# with the fake khyve, passes /etc/khyve/NAME.conf and the name; the real
# khyve reads the example config that way. TAP lines; exit 1 if any failed.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/kt-systemd.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
	n=$((n + 1)); failed=1
	echo "not ok $n - $1"
	shift
	for l; do printf '%s\n' "$l" | sed 's/^/#   /'; done
}
skip_test() { n=$((n + 1)); echo "ok $n # SKIP $1"; }

# The unit as `make install` makes it, khyve being the fake one.
mkdir -p "$TMP/sbin" "$TMP/units"
cp "$ROOT/tests/vmrun/fake-khyve" "$TMP/sbin/khyve"
unit=$TMP/units/khyve@vm1.service
sed "s|@SBINDIR@|$TMP/sbin|g" "$ROOT/systemd/khyve@.service.in" >"$TMP/units/khyve@.service"
cp "$TMP/units/khyve@.service" "$unit"

if command -v systemd-analyze >/dev/null 2>&1; then
	# Documentation= is checked with man(1): point it at this tree's pages.
	mkdir -p "$TMP/man/man5" "$TMP/man/man8"
	for p in "$ROOT"/man/*.[58]; do ln -s "$p" "$TMP/man/man${p##*.}/"; done
	# Only what concerns our unit: a host without a running systemd has other complaints.
	out=$(MANPATH=$TMP/man systemd-analyze verify "$unit" 2>&1 | grep -i 'khyve@')
	if [ -z "$out" ]; then ok "systemd-analyze verify khyve@vm1.service"; else
		not_ok "systemd-analyze verify khyve@vm1.service" "$out"; fi
else
	skip_test "systemd-analyze verify (systemd-analyze not installed)"
fi

# key VALUE: the unit sets key=VALUE.
has_setting() {
	if grep -qx "$1=$2" "$unit"; then ok "$3 ($1=$2)"; else not_ok "$3 ($1=$2)" "$(grep "^$1=" "$unit")"; fi
}
has_setting RestartForceExitStatus 0 "a guest reboot (exit 0) starts the VM again"
has_setting SuccessExitStatus "1 2" "power-off and halt are a clean stop"
has_setting KillSignal SIGTERM "systemctl stop presses the power button (SIGTERM)"
has_setting KillMode mixed "the power button goes to khyve alone"
has_setting TimeoutStopSec 120 "then SIGKILL after a timeout"
has_setting WantedBy multi-user.target "systemctl enable starts it at boot"
if grep -q '^Restart=' "$unit"; then
	not_ok "no Restart= (a triple fault or an error must not loop)" "$(grep '^Restart=' "$unit")"
else
	ok "no Restart= (a triple fault or an error must not loop)"
fi

# ExecStart as systemd runs it (%i = vm1), with the fake khyve.
exec_start=$(sed -n 's/^ExecStart=//p' "$unit" | sed 's/%i/vm1/g')
FAKE_LOG=$TMP/runs FAKE_CODES=0 sh -c "$exec_start"
rc=$?
if [ "$rc" = 0 ] && [ "$(cat "$TMP/runs")" = "-k /etc/khyve/vm1.conf vm1" ]; then
	ok "ExecStart runs khyve -k /etc/khyve/NAME.conf NAME"
else
	not_ok "ExecStart runs khyve -k /etc/khyve/NAME.conf NAME" "status $rc, args: $(cat "$TMP/runs")"
fi
# The stop path: SIGTERM to a running khyve (the fake powers off: status 1).
rm -f "$TMP/runs"
FAKE_LOG=$TMP/runs FAKE_SLEEP=30 sh -c "exec $exec_start" &
pid=$!
i=0
while [ ! -s "$TMP/runs" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
sleep 0.3
kill -TERM $pid
wait $pid
rc=$?
if [ "$rc" = 1 ] && grep -q "power button" "$TMP/runs.signals"; then
	ok "stop: SIGTERM to ExecStart's process, which exits 1 (a success status)"
else
	not_ok "stop: SIGTERM to ExecStart's process, which exits 1" "status $rc"
fi

# The real khyve reads the example config the way the unit passes it.
if [ -x "$ROOT/build/khyve" ]; then
	out=$("$ROOT/build/khyve" -k "$ROOT/systemd/example.conf" -o config.dump=1 vm1 2>&1)
	if echo "$out" | grep -qx 'name=vm1' && echo "$out" | grep -qx 'lpc.com1.path=/dev/nmdm0A'; then
		ok "khyve -k example.conf NAME: the config and the name"
	else
		not_ok "khyve -k example.conf NAME" "$out"
	fi
else
	skip_test "khyve -k example.conf (build/khyve not built)"
fi
# make install puts everything in place (into a scratch DESTDIR).
if make -s -C "$ROOT" install DESTDIR="$TMP/root" PREFIX=/usr >"$TMP/install.out" 2>&1; then
	missing=
	for f in /usr/sbin/khyve /usr/sbin/khyvectl /usr/sbin/vmrun /usr/lib/systemd/system/khyve@.service \
		/usr/share/man/man8/khyve.8 /usr/share/man/man8/khyvectl.8 /usr/share/man/man8/vmrun.8 \
		/usr/share/man/man5/khyve_config.5 /usr/share/examples/khyve/NAME.conf \
		/usr/share/examples/bhyve/vmrun.sh /etc/khyve; do
		[ -e "$TMP/root$f" ] || [ -L "$TMP/root$f" ] || missing="$missing $f"
	done
	if [ -z "$missing" ] && grep -qx 'ExecStart=/usr/sbin/khyve -k /etc/khyve/%i.conf %i' \
		"$TMP/root/usr/lib/systemd/system/khyve@.service"; then
		ok "make install: programs, vmrun, the unit (naming the installed khyve), man pages"
	else
		not_ok "make install" "missing:$missing" "$(grep ExecStart "$TMP/root/usr/lib/systemd/system/khyve@.service")"
	fi
else
	not_ok "make install" "$(tail -n 5 "$TMP/install.out")"
fi
echo "1..$n"
exit $failed
