#!/bin/sh
# Tests of make bench's table makers on made-up "BENCH ..." lines: the exit
# census (census-table.awk: exit codes to classes for SVM and VMX, rates per
# second of the window, medians) and the disk table's ratios
# (disk-table.awk). Prints TAP lines; exit status 1 if any failed.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
n=0
failed=0

check() { # check DESCRIPTION EXPECTED ACTUAL
	n=$((n + 1))
	if [ "$2" = "$3" ]; then
		echo "ok $n - $1"
	else
		failed=1
		echo "not ok $n - $1"
		echo "#   expected: $2"
		echo "#   got:      $3"
	fi
}

census() { # CONFIGS: the table from stdin
	awk -v configs="$1" -f "$HERE/bench-stats.awk" -f "$HERE/census-table.awk"
}

# One row's fields after its "job, VMM" label (two words).
row() { grep "^$1" | sed "s/^$1 *//"; }

# SVM: 0x7b port I/O, 0x400 NPF, 0x7c MSR, 0x60 INTR, 0x64 VINTR, 0x78 HLT;
# 0x72 (CPUID) is "other". 2 s window: every count halves.
out=$(census "khyve" <<'L'
BENCH disk-exits cfg=khyve i=1 job=randread1 secs=2.0 isa=svm exit:7b=200 exit:400=20 exit:7c=40 exit:60=60 exit:64=80 exit:78=100 exit:72=10 user:2=6 user:10=2 irq:24=5 cpu:guest=1.00 cpu:vmm-user=0.20 cpu:vmm-sys=0.40 cpu:host-busy=2 cpu:host-idle=2
L
)
check "SVM codes sorted into classes, per second" \
	"255 100 10 20 30 40 50 5 4 0.50 0.10 0.20" "$(echo "$out" | row "disk randread1, khyve" | tr -s ' ')"

# VMX: 30 (0x1e) I/O, 48 (0x30) EPT violation, 32 (0x20) WRMSR, 1 external
# interrupt, 7 interrupt window, 12 (0xc) HLT.
out=$(census "khyve" <<'L'
BENCH net-exits cfg=khyve i=1 job=tx secs=1.0 isa=vmx exit:1e=7 exit:30=3 exit:20=5 exit:1=2 exit:7=1 exit:c=4 exit:a=9 cpu:guest=0.5 cpu:vmm-user=0 cpu:vmm-sys=0.1 cpu:host-busy=1 cpu:host-idle=1
L
)
check "VMX codes sorted into classes" \
	"31 7 3 5 2 1 4 9 0 0.50 0.00 0.10" "$(echo "$out" | row "net tx, khyve" | tr -s ' ')"

# Three runs: the median of each column, rows in the configurations' order.
out=$(census "qemu khyve" <<'L'
BENCH disk-exits cfg=khyve i=1 job=seqread secs=1 isa=svm exit:7b=10 cpu:guest=0.1
BENCH disk-exits cfg=qemu i=1 job=seqread secs=1 isa=svm exit:400=7 cpu:guest=0.9
BENCH disk-exits cfg=khyve i=2 job=seqread secs=1 isa=svm exit:7b=30 cpu:guest=0.3
BENCH disk-exits cfg=khyve i=3 job=seqread secs=1 isa=svm exit:7b=20 cpu:guest=0.2
L
)
check "median of three runs" "20 20 0 0 0 0 0 0 0 0.20 0.00 0.00" \
	"$(echo "$out" | row "disk seqread, khyve" | tr -s ' ')"
check "rows follow the configurations' order" "qemu khyve" \
	"$(echo "$out" | sed -n 's/^disk seqread, \([a-z]*\) .*/\1/p' | tr '\n' ' ' | sed 's/ $//')"

# The disk table: ratios of medians, khyve over each other configuration.
out=$(awk -v runs=1 -v configs="khyve qemu-uring" -f "$HERE/bench-stats.awk" -f "$HERE/disk-table.awk" <<'L'
BENCH disk cfg=khyve i=1 status=ok rc=1 seqread=300 seqwrite=100 randread1=1000 randread32=1500
BENCH disk cfg=qemu-uring i=1 status=ok rc=0 seqread=250 seqwrite=200 randread1=500 randread32=1500
L
)
check "disk table: khyve / QEMU ratios" "1.20 0.50 2.00 1.00" \
	"$(echo "$out" | sed -n 's/^khyve \/ QEMU aio=io_uring *//p' | tr -s ' ')"

echo "1..$n"
exit $failed
