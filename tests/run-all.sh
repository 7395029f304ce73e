#!/bin/sh
# The `make check` driver (run after `make all unit`):
#   1. every unit test binary, build/asan/tests/test_X for each
#      tests/unit/test_X.c, with cmocka's TAP output; each test case counts;
#   2. the end-to-end scenarios: tests/e2e/run.sh --auto (all of them);
#   (plus: the script tests tests/vmrun/test_*.sh, tests/systemd/test_*.sh and tests/bench/test_*.sh,
#   TAP, each "ok" line counts; and every man page passes mandoc -Tlint)
#   3. if /dev/kvm was usable and the scenarios ran directly, a testbed
#      smoke run too (tests/e2e/run.sh --testbed boot-poweroff), so that
#      the nested path is exercised on every `make check`.
# Ends with exactly one line "N passed, N failed"; exit status 1 if anything
# failed. Environment: KT_E2E=0 skips 2 and 3; KT_SMOKE="scenario..."
# changes the testbed smoke subset (empty: none).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kt-check.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

npass=0
nfail=0
failures=
second_runs=

add_fail() {
	nfail=$((nfail + 1))
	failures="$failures
  $1"
}

# The test guest (Debian kernel + initramfs; cached): the e2e scenarios boot
# it, and unit tests that parse a real kernel use it (they skip without).
if guest=$(tests/testbed/build-guest.sh); then
	eval "$guest"
	export GUEST_KERNEL GUEST_INITRD
else
	echo "run-all: could not build the test guest; unit tests needing it will skip"
fi

# --- unit tests ------------------------------------------------------------
for src in tests/unit/test_*.c; do
	[ -e "$src" ] || continue
	name=$(basename "$src" .c)
	bin=build/asan/tests/$name
	if [ ! -x "$bin" ]; then
		echo "not ok - $name: $bin was not built"
		add_fail "$name (not built)"
		continue
	fi
	out=$WORK/$name.tap
	CMOCKA_MESSAGE_OUTPUT=TAP ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
		timeout -k 10 300 "$bin" >"$out" 2>"$WORK/$name.err" </dev/null
	rc=$?
	# cmocka TAP: "1..N" per group, then "ok N - test", "not ok N - test",
	# or for skip(), "not ok N # SKIP test".
	planned=$(awk '/^[0-9]+\.\.[0-9]+/ { split($1, a, "\\.\\."); n += a[2] } END { print n + 0 }' "$out")
	ok=$(grep -c '^ok ' "$out")
	skipped=$(grep -c '^not ok [0-9]* # SKIP' "$out")
	notok=$(grep '^not ok ' "$out" | grep -vc '^not ok [0-9]* # SKIP')
	npass=$((npass + ok))
	grep '^not ok ' "$out" | grep -v '^not ok [0-9]* # SKIP' | while read -r l; do echo "$name: $l"; done
	for t in $(grep '^not ok ' "$out" | grep -v '# SKIP' | sed -n 's/^not ok [0-9]* - //p'); do
		add_fail "$name: $t"
	done
	missing=$((planned - ok - notok - skipped))
	if [ "$missing" -gt 0 ]; then
		echo "$name: $missing of $planned test cases did not report (crashed? status $rc)"
		nfail=$((nfail + missing))
		failures="$failures
  $name: $missing test cases did not report (status $rc)"
	elif [ $rc != 0 ] && [ "$notok" = 0 ]; then
		echo "$name: exited $rc with no failing test case"
		add_fail "$name (exit status $rc)"
	fi
	if [ "$notok" != 0 ] || [ $rc != 0 ]; then
		sed 's/^/  | /' "$out" | grep -v '^  | ok ' | tail -n 30
		[ -s "$WORK/$name.err" ] && tail -n 40 "$WORK/$name.err" | sed 's/^/  ! /'
	fi
	if [ "$skipped" != 0 ]; then
		echo "unit: $name: $ok passed, $notok failed, $skipped skipped"
	else
		echo "unit: $name: $ok passed, $notok failed"
	fi
done

# --- script tests: vmrun against a fake khyve, the systemd unit, the bench tables
for t in tests/vmrun/test_*.sh tests/systemd/test_*.sh tests/bench/test_*.sh; do
	[ -e "$t" ] || continue
	name=${t#tests/}
	out=$WORK/$(echo "$name" | tr / _).tap
	timeout -k 10 300 sh "$t" >"$out" 2>"$out.err" </dev/null
	rc=$?
	# "ok N - test", "not ok N - test", and "ok N # SKIP why" (counted as neither).
	skipped=$(grep -c '^ok [0-9]* # SKIP' "$out")
	ok=$(($(grep -c '^ok ' "$out") - skipped))
	notok=$(grep -c '^not ok ' "$out")
	npass=$((npass + ok))
	while read -r l; do
		[ -n "$l" ] || continue
		echo "$name: $l"
		add_fail "$name: ${l#not ok * - }"
	done <<EOF
$(grep '^not ok ' "$out")
EOF
	if [ $rc != 0 ] && [ "$notok" = 0 ]; then
		echo "$name: exited $rc with no failing test"
		add_fail "$name (exit status $rc)"
	fi
	if [ "$notok" != 0 ] || [ $rc != 0 ]; then
		grep '^#' "$out" | tail -n 30 | sed 's/^/  | /'
		[ -s "$out.err" ] && tail -n 20 "$out.err" | sed 's/^/  ! /'
	fi
	echo "script: $name: $ok passed, $notok failed, $skipped skipped"
done

# --- man pages: they are what users read, so they must render cleanly ------
for page in man/*.[0-9]; do
	# "referenced manual not found" (bhyve(8) and friends) is not a defect.
	if out=$(mandoc -Tlint -Wwarning "$page" 2>&1 | grep -v 'referenced manual not found\|mandoc.db'); [ -z "$out" ]; then
		echo "ok - man: $page"
		npass=$((npass + 1))
	else
		echo "not ok - man: $page"
		echo "$out" | sed 's/^/  | /'
		add_fail "man: $page"
	fi
done

# --- end-to-end scenarios -----------------------------------------------------
# A scenario's last verdict counts: in the testbed run.sh runs a failed one
# once more in a fresh L1 (see retry_failures there).
final_verdicts() {
	awk '$1 == "SCENARIO" && ($3 == "PASS" || $3 == "FAIL:" || $3 == "SKIP:") {
		if (!($2 in v)) order[++n] = $2
		v[$2] = $3
	}
	END { for (i = 1; i <= n; i++) print order[i], v[order[i]] }' "$1"
}

count_e2e() {
	p=$(final_verdicts "$1" | grep -c ' PASS$')
	f=$(final_verdicts "$1" | grep -c ' FAIL:$')
	npass=$((npass + p))
	nfail=$((nfail + f))
	for t in $(final_verdicts "$1" | sed -n 's/ FAIL:$//p'); do
		failures="$failures
  e2e $2: $t"
	done
	# Passed, but only on the second run: not a failure, yet worth seeing.
	for t in $(grep '^SCENARIO [^ ]* FAIL: ' "$1" | cut -d' ' -f2 | sort -u); do
		final_verdicts "$1" | grep -qx "$t PASS" && second_runs="$second_runs $t"
	done
	if [ "$3" != 0 ] && [ "$f" = 0 ]; then
		nfail=$((nfail + 1))
		failures="$failures
  e2e $2: runner failed (status $3)"
	fi
}

if [ "${KT_E2E:-1}" != 0 ]; then
	tests/e2e/run.sh --auto 2>&1 | tee "$WORK/e2e.out"
	# The pipeline's status is tee's; the runner's summary line says it all.
	rc=0
	grep -q '^e2e: [a-z]*: [0-9]* passed, 0 failed' "$WORK/e2e.out" || rc=1
	count_e2e "$WORK/e2e.out" auto $rc
	if grep -q '^e2e: mode direct' "$WORK/e2e.out" && [ -n "${KT_SMOKE-boot-poweroff}" ]; then
		# shellcheck disable=SC2086
		tests/e2e/run.sh --testbed ${KT_SMOKE-boot-poweroff} 2>&1 | tee "$WORK/smoke.out"
		rc=0
		grep -q '^e2e: [a-z]*: [0-9]* passed, 0 failed' "$WORK/smoke.out" || rc=1
		count_e2e "$WORK/smoke.out" testbed-smoke $rc
	fi
fi

[ -n "$second_runs" ] && echo "passed on their second run (the testbed's faults, see tests/e2e/run.sh):$second_runs"
if [ $nfail != 0 ]; then
	echo "failed:$failures"
fi
echo "$npass passed, $nfail failed"
[ $nfail = 0 ]
