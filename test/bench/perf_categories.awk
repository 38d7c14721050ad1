# Groups `perf report --no-children --sort dso,sym --stdio -q` lines of gcksd into what a
# registration's time goes to (test/bench/run.sh). Input lines: "PCT%  DSO  [.|k]  SYMBOL".
# Variables: c = gcksd CPU per registration in ms, f = the floor in us (bench_floor).
# cat_of is in categories.awk (awk -f categories.awk -f perf_categories.awk).
# Each line is counted by its own samples (self time): what libcrypto does for SQLite, or the
# kernel for a write, is counted under libcrypto or the kernel.
/%/ {
	pct = $1; sub(/%/, "", pct)
	sym = ""
	for (i = 4; i <= NF; i++) sym = sym (i > 4 ? " " : "") $i
	k = cat_of($2, sym)
	share[k] += pct; total += pct
	if (!(k in top) || pct > toppct[k]) { top[k] = sym; toppct[k] = pct }
}
END {
	if (total <= 0) { print "perf: no samples of gcksd"; exit }
	n = 0
	for (k in share) keys[++n] = k
	# by share, largest first
	for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (share[keys[j]] > share[keys[i]]) { t = keys[i]; keys[i] = keys[j]; keys[j] = t }
	for (i = 1; i <= n; i++) {
		k = keys[i]
		printf "  %-48s %5.1f %%  %6.1f us   (top: %s)\n", k, share[k], share[k] / total * c * 1000, substr(top[k], 1, 40)
	}
	crypto = share["crypto: libcrypto"] / total * c * 1000
	printf "  crypto overhead = libcrypto time - floor: %.1f us - %.1f us = %.1f us per registration\n", crypto, f, crypto - f
}
