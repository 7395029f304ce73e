# The firmware table of tests/bench/boot.sh, from the "BENCH fw ..." lines of
# tests/bench/l1-fw-bench.sh. Variables: runs (boots per configuration),
# configs (the configurations run, in table order), ovmf (1: the OVMF
# configurations were asked for; else they are listed as not measured).

function fmt(x) { return x == "" ? "-" : sprintf("%.2f", x) }
function range(c, k) { return nok[c] ? fmt(stat(c, k, "min")) "-" fmt(stat(c, k, "max")) : "-" }
# The QEMU configuration with the same firmware.
function ref(c) { sub(/^khyve-/, "qemu-", c); return c }
function mark(c, k) { return (c, k) in nomark ? "-" : fmt(stat(c, k)) }

BEGIN {
	label["khyve-seabios"] = "khyve SeaBIOS"
	label["qemu-seabios"] = "QEMU -M pc SeaBIOS"
	label["khyve-ovmf"] = "khyve OVMF"
	label["qemu-ovmf"] = "QEMU -M pc OVMF"
	nc = split(configs, cfg, " ")
	milestone["fw"]; milestone["grub"]; milestone["kernel"]; milestone["linux"]
	if (ovmf != 1) {
		cfg[++nc] = "khyve-ovmf"; skipped["khyve-ovmf"] = 1
		cfg[++nc] = "qemu-ovmf"; skipped["qemu-ovmf"] = 1
	}
}

$2 == "fw" {
	kv()
	c = f["cfg"]
	nrep[c]++
	if (f["status"] != "ok") {
		bad[c] = bad[c] sprintf(" run %s: %s;", f["i"], f["status"] == "timeout" ? "HUNG (killed at its timeout)" : f["status"])
		next
	}
	n = ++nok[c]
	val[c, "init", n] = f["init"] + 0
	val[c, "total", n] = f["total"] + 0
	# Milestones (older runs lack them: "-").
	for (k in milestone)
		if (k in f) val[c, k, n] = f[k] + 0; else nomark[c, k] = 1
}

END {
	for (i = 1; i <= nc; i++) {
		c = cfg[i]
		I[c] = stat(c, "init"); T[c] = stat(c, "total")
	}
	printf "%-28s %10s %9s   %s\n", "firmware boot (median of " runs ")", "to init s", "total s",
		"vs QEMU, same firmware: init / total"
	for (i = 1; i <= nc; i++) {
		c = cfg[i]
		if (c in skipped) {
			printf "%-28s %s\n", label[c], "not measured (L0 QEMU's nested-SVM bug, see below)"
			continue
		}
		l = label[c]
		if (nok[c] != runs) l = l " (" (nok[c] + 0) " ok)"
		printf "%-28s %10s %9s   %s\n", l, fmt(I[c]), fmt(T[c]),
			ratio(I[c], I[ref(c)]) " / " ratio(T[c], T[ref(c)])
	}
	printf "\n%-28s %13s %13s\n", "min-max", "to init s", "total s"
	for (i = 1; i <= nc; i++) {
		c = cfg[i]
		if (!(c in skipped))
			printf "%-28s %13s %13s\n", label[c], range(c, "init"), range(c, "total")
	}
	printf "\n%-28s %9s %9s %9s %9s %9s\n", "seconds to (medians)", "firmware", "GRUB", "kernel", "Linux", "init"
	for (i = 1; i <= nc; i++) {
		c = cfg[i]
		if (c in skipped || !nok[c]) continue
		printf "%-28s %9s %9s %9s %9s %9s\n", label[c], mark(c, "fw"), mark(c, "grub"), mark(c, "kernel"),
			mark(c, "linux"), fmt(I[c])
	}
	print "(firmware: its first line on COM1; GRUB: the menu entry starts loading the kernel;"
	print "kernel: GRUB has read it and starts on the initramfs; Linux: the kernel starts, by"
	print "the guest's own uptime; init: the guest's init)"
	print ""
	print "The test guest behind GRUB (build-grub.sh's ISO, menu timeout 1 s) on an AHCI"
	print "CD-ROM, 512 MiB, 1 vCPU, console on COM1; the same firmware file and ISO under"
	print "both VMMs. to init: VMM process start to the guest's \"KT: init-start\" line on"
	print "the console (L1 clock); total: until the VMM exited after the guest powered off."
	if (ovmf != 1) {
		print "OVMF is not measured by default (BENCH_FW_OVMF=1 tries): Debian 12's QEMU, the"
		print "testbed's L0, aborts when a nested guest runs OVMF for more than a few seconds"
		print "(its nested-SVM CR8 bug, see tests/e2e/run.sh), under khyve and QEMU alike."
	}
	for (i = 1; i <= nc; i++) {
		c = cfg[i]
		if (c in skipped) continue
		if (nrep[c] < runs) bad[c] = bad[c] sprintf(" %d of %d runs never reported (L1 stopped);", runs - nrep[c], runs)
		if (bad[c] != "") print "FAILED " label[c] ":" bad[c]
	}
	print "\ngoal (khyve against QEMU -M pc with the same firmware; medians):"
	split("seabios ovmf", fw, " ")
	for (i = 1; i <= 2; i++) {
		c = "khyve-" fw[i]
		l = sprintf("  %-32s", (fw[i] == "ovmf" ? "OVMF" : "SeaBIOS") ": to init <= 0.8x QEMU")
		r = ratio(I[c], I[ref(c)])
		if (r == "-") print l " not measured"
		else printf "%s%5.2fx     %s\n", l, r, r + 0 <= 0.8 ? "met" : "NOT met"
	}
}
