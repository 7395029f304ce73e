# The exit census table of tests/bench/boot.sh (BENCH_EXITS=1), from the
# "BENCH disk-exits ..." and "BENCH net-exits ..." lines of l1-disk-bench.sh
# and l1-net-bench.sh (lib.sh's kt_census): per job and configuration, the
# medians over the runs of each count per second of the job's window (the
# job and a second of idle guest either side). Variable: configs (table
# order, disk and network configurations together).

# The exit codes that matter here, SVM and VMX (kvm_exit's exit_reason, hex).
function exit_class(isa, code) {
	if (isa == "svm") {
		if (code == "60") return "intr"
		if (code == "64") return "irqwin"
		if (code == "78") return "hlt"
		if (code == "7b") return "io"
		if (code == "7c") return "msr"
		if (code == "400") return "npf"
	} else {
		if (code == "1") return "intr"
		if (code == "7") return "irqwin"
		if (code == "c") return "hlt"
		if (code == "1e") return "io"
		if (code == "1f" || code == "20") return "msr"
		if (code == "30" || code == "31") return "npf"
	}
	return "other"
}

function fmt(x, d) { return x == "" ? "-" : sprintf("%." d "f", x) }

BEGIN {
	nc = split(configs, cfg, " ")
	nm = split("exits io npf msr intr irqwin hlt other user guest vmmuser vmmsys", metric, " ")
}

$2 == "disk-exits" || $2 == "net-exits" {
	kv()
	job = ($2 == "disk-exits" ? "disk " : "net ") f["job"]
	if (!(job in seen)) { seen[job] = 1; jobs[++njobs] = job }
	c = f["cfg"] SUBSEP job
	n = ++nok[c]
	s = f["secs"] + 0
	if (s <= 0) s = 1
	delete m
	for (k in f) {
		if (k ~ /^exit:/) { m[exit_class(f["isa"], substr(k, 6))] += f[k]; m["exits"] += f[k] }
		else if (k ~ /^user:/) m["user"] += f[k]
	}
	m["guest"] = f["cpu:guest"]; m["vmmuser"] = f["cpu:vmm-user"]; m["vmmsys"] = f["cpu:vmm-sys"]
	for (i = 1; i <= nm; i++) val[c, metric[i], n] = m[metric[i]] / s
}

END {
	printf "exit census (BENCH_EXITS=1), per second of each job's window, median of runs\n"
	printf "%-28s %7s %6s %6s %6s %6s %6s %6s %6s %6s %6s %6s %6s\n", "", "exits", "io", "mmio", "msr",
		"intr", "irqwin", "hlt", "other", "user", "guest", "vmm", "vmm"
	printf "%-28s %7s %6s %6s %6s %6s %6s %6s %6s %6s %6s %6s %6s\n", "job, VMM", "", "", "", "", "", "", "", "",
		"exits", "CPU", "user", "sys"
	for (j = 1; j <= njobs; j++)
		for (i = 1; i <= nc; i++) {
			c = cfg[i] SUBSEP jobs[j]
			if (!nok[c]) continue
			printf "%-28s %7s", jobs[j] ", " cfg[i], fmt(median(c, "exits"), 0)
			for (k = 2; k <= 9; k++) printf " %6s", fmt(median(c, metric[k]), 0)
			for (k = 10; k <= 12; k++) printf " %6s", fmt(median(c, metric[k]), 2)
			printf "\n"
		}
	print ""
	print "exits: all of the guest's exits to the host kernel (KVM), by reason: io = port I/O"
	print "(kicks, consoles), mmio = nested page faults (MMIO, kicks on memory BARs), msr (timer,"
	print "EOI), intr = host interrupts while the guest ran (IPIs that deliver its interrupts,"
	print "the host's timer), irqwin = waits for the guest to take an interrupt, hlt = idle;"
	print "user: exits that reached the VMM's own code. CPU seconds per second: guest = in the"
	print "guest, vmm user/sys = the VMM's own code and the host kernel working for it (exit"
	print "handling, I/O, copies)."
}
