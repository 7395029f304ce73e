# The table of tests/bench/boot.sh, from the "BENCH run|mem ..." lines of
# tests/bench/l1-boot-bench.sh. Variables: runs (boots per configuration),
# configs (the configurations, in table order).

function fmt(x, d) { return x == "" ? "-" : sprintf("%." d "f", x) }
function range(c, k) { return nok[c] ? fmt(stat(c, k, "min"), 2) "-" fmt(stat(c, k, "max"), 2) : "-" }

BEGIN {
	label["khyve-pvh"] = "khyve PVH"
	label["khyve-bzimage"] = "khyve bzImage"
	label["qemu-pc"] = "QEMU -M pc"
	label["qemu-microvm"] = "QEMU -M microvm"
	nc = split(configs, cfg, " ")
}

$2 == "run" {
	kv()
	c = f["cfg"]
	nrep[c]++
	if (f["status"] != "ok") {
		bad[c] = bad[c] sprintf(" run %s: %s;", f["i"], f["status"] == "timeout" ? "HUNG (killed at its timeout)" : f["status"])
		next
	}
	n = ++nok[c]
	val[c, "total", n] = f["total"] + 0
	val[c, "guest", n] = f["guest"] + 0
	val[c, "outside", n] = f["total"] - f["guest"]
	if ("guest_start" in f) {
		tr[c] = 1
		val[c, "start", n] = f["start"] + 0
		val[c, "vm_created", n] = f["vm_created"] + 0
		val[c, "guest_start", n] = f["guest_start"] + 0
		val[c, "exit_after", n] = f["exit"] - f["guest_stopped"]
		val[c, "reaped_after", n] = f["total"] - f["exit"]
	}
}

$2 == "mem" {
	kv()
	c = f["cfg"]
	memrep[c] = 1
	if (f["status"] != "ok") {
		bad[c] = bad[c] " memory run: " f["status"] ";"
		next
	}
	memok[c] = 1
	mem[c] = f["overhead_kib"] / 1024
	anon[c] = f["anon_kib"] / 1024
	file[c] = f["file_kib"] / 1024
	hwm[c] = f["hwm_kib"] / 1024
	grss[c] = f["guest_rss_kib"] / 1024
	gmap[c] = f["guest_map_kib"] / 1024
}

END {
	for (i = 1; i <= nc; i++) {
		c = cfg[i]
		T[c] = stat(c, "total"); G[c] = stat(c, "guest"); O[c] = stat(c, "outside")
	}
	ref = "qemu-pc"
	printf "%-22s %8s %9s %11s %13s   %s\n", "boot (median of " runs ")", "total s", "guest s",
		"outside s", "VMM mem MiB", "vs QEMU pc total / outside"
	for (i = 1; i <= nc; i++) {
		c = cfg[i]
		l = label[c]
		if (nok[c] != runs) l = l " (" (nok[c] + 0) " ok)"
		printf "%-22s %8s %9s %11s %13s   %s\n", l, fmt(T[c], 2), fmt(G[c], 2), fmt(O[c], 2),
			(c in memok) ? fmt(mem[c], 2) : "-", ratio(T[c], T[ref]) " / " ratio(O[c], O[ref])
	}
	printf "\n%-22s %13s %13s %13s %11s %9s %9s %9s\n", "min-max", "total s", "guest s", "outside s",
		"VmHWM MiB", "anon MiB", "file MiB", "guest MiB"
	for (i = 1; i <= nc; i++) {
		c = cfg[i]
		printf "%-22s %13s %13s %13s %11s %9s %9s %9s\n", label[c],
			range(c, "total"), range(c, "guest"), range(c, "outside"),
			(c in memok) ? fmt(hwm[c], 1) : "-", (c in memok) ? fmt(anon[c], 2) : "-",
			(c in memok) ? fmt(file[c], 2) : "-", (c in memok) ? fmt(grss[c], 1) "/" fmt(gmap[c], 0) : "-"
	}
	print ""
	print "total: VMM process start to exit (L1 clock); guest: the guest's uptime when its"
	print "/init reported, just before reboot; outside = total - guest (VMM start-up,"
	print "firmware, kernel decompression, the guest's reboot, VMM exit). Each column"
	print "is its own median, so total is not guest + outside in that row."
	print "VMM mem: Rss of every mapping but the guest RAM, sampled while a guest waits"
	print "(anon + file-backed: code and libraries); VmHWM: peak RSS up to then, guest RAM"
	print "included; guest MiB: resident/size of the guest RAM mapping."
	for (i = 1; i <= nc; i++) {
		c = cfg[i]
		if (!tr[c]) continue
		if (!hdr++) print "\nkhyve start-up trace (median s after the process was started):"
		printf "  %-16s exec'd %.3f  VM created %.3f  guest started %.3f  exit %.3f after the guest stopped\n",
			label[c], stat(c, "start"), stat(c, "vm_created"), stat(c, "guest_start"), stat(c, "exit_after")
	}
	for (i = 1; i <= nc; i++) {
		c = cfg[i]
		if (nrep[c] < runs) bad[c] = bad[c] sprintf(" %d of %d runs never reported (L1 stopped);", runs - nrep[c], runs)
		if (!(c in memrep)) bad[c] = bad[c] " memory run never reported;"
		if (bad[c] != "") print "FAILED " label[c] ":" bad[c]
	}
	c = "khyve-pvh"
	if (("khyve-pvh" in T) && T[c] != "" && T[ref] != "") {
		print "\ngoals (khyve PVH, the default, against QEMU -M pc; medians):"
		r = T[c] / T[ref]
		printf "  total <= 0.8x QEMU pc            %5.2fx     %s\n", r, r <= 0.8 ? "met" : "NOT met"
		r = O[c] / O[ref]
		printf "  outside the guest <= 0.5x        %5.2fx     %s\n", r, r <= 0.5 ? "met" : "NOT met"
		if (c in memok)
			printf "  VMM memory overhead < 3 MiB      %5.2f MiB  %s\n", mem[c], mem[c] < 3 ? "met" : "NOT met"
		else
			print "  VMM memory overhead < 3 MiB      not measured"
	}
}
