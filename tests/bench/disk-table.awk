# The disk table of tests/bench/boot.sh, from the "BENCH disk ..." lines of
# tests/bench/l1-disk-bench.sh. Variables: runs (boots per configuration),
# configs (the configurations, in table order).

function range(c, k,   i, lo, hi) {
	if (!nok[c]) return "-"
	lo = hi = val[c, k, 1]
	for (i = 2; i <= nok[c]; i++) {
		if (val[c, k, i] < lo) lo = val[c, k, i]
		if (val[c, k, i] > hi) hi = val[c, k, i]
	}
	return sprintf("%.0f-%.0f", lo, hi)
}

function fmt(x, d) { return x == "" ? "-" : sprintf("%." d "f", x) }
BEGIN {
	label["khyve"] = "khyve"
	label["qemu-uring"] = "QEMU aio=io_uring"
	label["qemu-threads"] = "QEMU default (threads)"
	nc = split(configs, cfg, " ")
	for (i = 1; i <= nc; i++) # CFG@CPULIST: pinned with taskset
		if (split(cfg[i], p, "@") == 2) label[cfg[i]] = label[p[1]] " on CPU " p[2]
	nk = split("seqread seqwrite randread1 randread32", key, " ")
}

$2 == "disk" {
	kv()
	c = f["cfg"]
	nrep[c]++
	if (f["status"] != "ok") {
		bad[c] = bad[c] sprintf(" run %s: %s;", f["i"], f["status"] == "timeout" ? "HUNG (killed at its timeout)" : f["status"])
		next
	}
	n = ++nok[c]
	for (i = 1; i <= nk; i++) val[c, key[i], n] = f[key[i]] + 0
}

END {
	for (i = 1; i <= nc; i++)
		for (j = 1; j <= nk; j++) M[cfg[i], key[j]] = median(cfg[i], key[j])
	printf "%-32s %12s %12s %12s %12s\n", "disk, fio (median of " runs ")", "seq read", "seq write", "4k rand qd1", "4k rand qd32"
	printf "%-32s %12s %12s %12s %12s\n", "", "MiB/s", "MiB/s", "IOPS", "IOPS"
	for (i = 1; i <= nc; i++) {
		c = cfg[i]
		l = label[c]
		if (nok[c] != runs) l = l " (" (nok[c] + 0) " ok)"
		printf "%-32s %12s %12s %12s %12s\n", l, fmt(M[c, "seqread"], 1), fmt(M[c, "seqwrite"], 1),
			fmt(M[c, "randread1"], 0), fmt(M[c, "randread32"], 0)
	}
	for (i = 1; i <= nc; i++) {
		c = cfg[i]
		if (c == "khyve") continue
		printf "%-32s %12s %12s %12s %12s\n", "khyve / " label[c], ratio(M["khyve", "seqread"], M[c, "seqread"]),
			ratio(M["khyve", "seqwrite"], M[c, "seqwrite"]), ratio(M["khyve", "randread1"], M[c, "randread1"]),
			ratio(M["khyve", "randread32"], M[c, "randread32"])
	}
	printf "\n%-32s %12s %12s %12s %12s\n", "min-max", "seq read", "seq write", "4k rand qd1", "4k rand qd32"
	for (i = 1; i <= nc; i++) {
		c = cfg[i]
		printf "%-32s %12s %12s %12s %12s\n", label[c], range(c, "seqread"), range(c, "seqwrite"),
			range(c, "randread1"), range(c, "randread32")
	}
	print ""
	print "fio in the guest (1 vCPU, 512 MiB) on a virtio-blk disk, direct=1, libaio, each job"
	print "time-based after a 1 s ramp; the same raw image (host page cache, cache=writeback)"
	print "for every VMM. Ratios > 1: khyve faster."
	for (i = 1; i <= nc; i++) {
		c = cfg[i]
		if (nrep[c] < runs) bad[c] = bad[c] sprintf(" %d of %d runs never reported (L1 stopped);", runs - nrep[c], runs)
		if (bad[c] != "") print "FAILED " label[c] ":" bad[c]
	}
}
