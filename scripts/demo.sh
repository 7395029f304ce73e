#!/bin/sh
# make demo: boot the test guest under khyve with its console on this
# terminal. Directly when /dev/kvm is usable; otherwise inside the nested
# testbed (QEMU/TCG L1 with a real /dev/kvm), whose serial console is this
# terminal, so typing reaches the guest's shell through L1's khyve.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
eval "$(tests/testbed/build-guest.sh)"
export GUEST_KERNEL GUEST_INITRD KHYVE="$ROOT/build/khyve"
probe=$(TB_ROOT=$ROOT; . tests/testbed/common.sh; tb_kvmprobe)
if timeout 5 "$probe" >/dev/null 2>&1; then
	echo "demo: /dev/kvm is usable here: running khyve directly"
	exec tests/e2e/interactive/demo.sh
fi
echo "demo: /dev/kvm is missing or unusable here: booting the nested testbed"
echo "demo: (QEMU/TCG emulating an AMD CPU with SVM; L1 loads kvm-amd, then runs khyve)"
work=$(mktemp -d "${TMPDIR:-/tmp}/khyve-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT
# The backstop timeout of L1's scenario loop scales with TIMEOUT_SCALE: make it hours.
eval "$(TIMEOUT_SCALE=200 tests/testbed/build-l1.sh "$work/l1.cpio" ../interactive/demo)"
echo "demo: L1 is booting (about 10 s), then the guest (about 20 s under emulation)..."
# -serial stdio puts the terminal in raw mode; Ctrl-C still stops QEMU.
(TB_ROOT=$ROOT; . tests/testbed/common.sh; tb_run_l1 "$L1_KERNEL" "$L1_INITRD")
