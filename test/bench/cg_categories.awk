# Groups callgrind's self instructions of gcksd (or of the load generator) into the categories
# of categories.awk (test/bench/profile.sh). Input lines: "COUNT<TAB>OBJECT<TAB>FUNCTION".
# Variable: n = registrations.
{ k = cat_of($2, $3); ins[k] += $1; tot += $1; if (!(k in top) || $1 > topc[k]) { top[k] = $3; topc[k] = $1 } }
END {
	if (tot <= 0) { print "callgrind: no instructions"; exit }
	m = 0
	for (k in ins) keys[++m] = k
	for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (ins[keys[j]] > ins[keys[i]]) { x = keys[i]; keys[i] = keys[j]; keys[j] = x }
	rest = 0
	for (i = 1; i <= m; i++) {
		k = keys[i]
		if (ins[k] * 1000 < tot) { rest += ins[k]; continue }
		printf "  %-48s %5.1f %%  %9d   (top: %s)\n", k, ins[k] * 100 / tot, ins[k] / n, substr(top[k], 1, 40)
	}
	if (rest > 0)
		printf "  %-48s %5.1f %%  %9d\n", "(each below 0.1 %)", rest * 100 / tot, rest / n
}
