# Helpers shared by the tables of tests/bench/boot.sh (awk -f bench-stats.awk
# -f X-table.awk): the tables keep each ok run's values in val[cfg, key, i],
# i = 1..nok[cfg].

# f[name] = value for the "name=value" fields of the current line (from $3).
function kv(   i, p) {
	delete f
	for (i = 3; i <= NF; i++) {
		p = index($i, "=")
		if (p) f[substr($i, 1, p - 1)] = substr($i, p + 1)
	}
}

# Sorts a[1..n] in place (n is small; numbers, not strings).
function isort(a, n,   i, j, t) {
	for (i = 2; i <= n; i++) {
		t = a[i]
		for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]
		a[j + 1] = t
	}
}

# stat(cfg, key, what): median, min or max of the ok runs' values of key.
function stat(c, k, what,   i, n, a) {
	n = nok[c]
	if (n == 0) return ""
	for (i = 1; i <= n; i++) a[i] = val[c, k, i]
	isort(a, n)
	if (what == "min") return a[1]
	if (what == "max") return a[n]
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}

function median(c, k) { return stat(c, k, "median") }

function ratio(x, y) { return (x == "" || y == "" || y == 0) ? "-" : sprintf("%.2f", x / y) }
