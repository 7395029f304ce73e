# The network table of tests/bench/boot.sh, from the "BENCH net ..." lines of
# tests/bench/l1-net-bench.sh. Variables: runs (boots per configuration),
# configs (the configurations, in table order).

function range(c, k, d,   i, lo, hi) {
	if (!nok[c]) return "-"
	lo = hi = val[c, k, 1]
	for (i = 2; i <= nok[c]; i++) {
		if (val[c, k, i] < lo) lo = val[c, k, i]
		if (val[c, k, i] > hi) hi = val[c, k, i]
	}
	return sprintf("%." d "f-%." d "f", lo, hi)
}

function fmt(x, d) { return x == "" ? "-" : sprintf("%." d "f", x) }
BEGIN {
	label["khyve-tap"] = "khyve tap"
	label["qemu-tap"] = "QEMU tap, vhost=off"
	label["qemu-vhost"] = "QEMU tap, vhost=on"
	label["khyve-slirp"] = "khyve slirp"
	label["qemu-user"] = "QEMU -netdev user"
	label["khyve-vhost"] = "khyve tap, vhost=on"
	# The comparisons: khyve configuration, QEMU configuration.
	np = split("khyve-tap:qemu-tap khyve-vhost:qemu-tap khyve-vhost:qemu-vhost khyve-slirp:qemu-user", pair, " ")
	nc = split(configs, cfg, " ")
	nk = split("tx rx rtt", key, " ")
}

$2 == "net" {
	kv()
	c = f["cfg"]
	nrep[c]++
	if (f["status"] == "skipped") {
		skipped[c] = 1
		next
	}
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
	printf "%-44s %14s %14s %12s\n", "network, iperf3 (median of " runs ")", "guest->host", "host->guest", "ping rtt"
	printf "%-44s %14s %14s %12s\n", "", "Mbit/s", "Mbit/s", "ms"
	for (i = 1; i <= nc; i++) {
		c = cfg[i]
		l = label[c]
		if (skipped[c]) { printf "%-44s %14s\n", l, "(no /dev/vhost-net: not run)"; continue }
		if (nok[c] != runs) l = l " (" (nok[c] + 0) " ok)"
		printf "%-44s %14s %14s %12s\n", l, fmt(M[c, "tx"], 0), fmt(M[c, "rx"], 0), fmt(M[c, "rtt"], 3)
	}
	for (i = 1; i <= np; i++) {
		split(pair[i], kc, ":")
		k = kc[1]; c = kc[2]
		if (!(k in nrep) || !(c in nrep) || skipped[k] || skipped[c]) continue
		printf "%-44s %14s %14s %12s\n", label[k] " / " label[c], ratio(M[k, "tx"], M[c, "tx"]),
			ratio(M[k, "rx"], M[c, "rx"]), ratio(M[k, "rtt"], M[c, "rtt"])
	}
	printf "\n%-44s %14s %14s %12s\n", "min-max", "guest->host", "host->guest", "ping rtt"
	for (i = 1; i <= nc; i++) {
		c = cfg[i]
		if (skipped[c]) continue
		printf "%-44s %14s %14s %12s\n", label[c], range(c, "tx", 0), range(c, "rx", 0), range(c, "rtt", 3)
	}
	print ""
	print "iperf3 TCP in the guest (1 vCPU, 256 MiB, virtio-net) against a server on the VMM's"
	print "host: over a tap on a bridge, and through user-mode networking (libslirp) to the"
	print "host's loopback; the receiver's rate after a 1 s warm-up. Ratios of bit rates > 1:"
	print "khyve faster; of round trips < 1: khyve quicker."
	for (i = 1; i <= nc; i++) {
		c = cfg[i]
		if (nrep[c] < runs) bad[c] = bad[c] sprintf(" %d of %d runs never reported (L1 stopped);", runs - nrep[c], runs)
		if (bad[c] != "") print "FAILED " label[c] ":" bad[c]
	}
}
