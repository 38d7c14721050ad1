#!/usr/bin/env bash
# gcksd's options for the limits before authentication (--half-open-max, --half-open-per-source,
# --cookie-threshold, --cookie-rate, --costly-ke-rate, --costly-ke-per-source, and --require-kwa,
# RFC 9838 4.5.4): a value that is
# not a whole number from the option's least (1, or 0 where 0 means "always ask for a COOKIE")
# to 1000000 is refused with exit code 1 and one line naming the option, and so is a
# --half-open-max below --half-open-per-source; accepted values reach the core (gcksd logs the
# limits it runs with at start), and without options the defaults do.
# What the limits do is tested on the fake network (test/unit/check_flood.c).
# Finds the programs through GK_BUILDDIR. Prints one line per check; exit 0 when all pass.
set -euo pipefail

B=${GK_BUILDDIR:-$(pwd)}
GCKSD=$B/gcks/gcksd GCKSCTL=$B/gcks/gcksctl
for p in "$GCKSD" "$GCKSCTL"; do
	[ -x "$p" ] || { echo "not ok - $p is not built"; exit 99; }
done
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1"
W=$(mktemp -d "${TMPDIR:-/tmp}/gk-limits.XXXXXX")
chmod 755 "$W"
pid=
fails=0
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	rm -rf "$W"
}
trap cleanup EXIT
. "$(dirname "$0")/tap.sh"

opts="half-open-max:1 half-open-per-source:1 cookie-threshold:0 cookie-rate:0 costly-ke-rate:1 costly-ke-per-source:1 max-sas-per-identity:1"
for om in $opts; do
	o=${om%:*} min=${om#*:}
	bads="-1 x 12x 1000001 ''"
	[ "$min" = 1 ] && bads="0 $bads"
	for bad in $bads; do
		[ "$bad" = "''" ] && bad=
		rc=0
		"$GCKSD" --db "$W/none.db" "--$o" "$bad" --foreground >"$W/out" 2>&1 || rc=$?
		if [ "$rc" = 1 ] && [ "$(cat "$W/out")" = "gcksd: --$o: a number from $min to 1000000" ]; then
			ok "--$o '$bad' is refused (exit 1, one line)"
		else
			not_ok "--$o '$bad' is refused (exit 1, one line): exit $rc: $(cat "$W/out")"
		fi
	done
done
rc=0
"$GCKSD" --db "$W/none.db" --half-open-max 3 --half-open-per-source 4 --foreground >"$W/out" 2>&1 || rc=$?
if [ "$rc" = 1 ] && [ "$(cat "$W/out")" = "gcksd: --half-open-max (3) must be at least --half-open-per-source (4)" ]; then
	ok "--half-open-max below --half-open-per-source is refused (exit 1, one line)"
else
	not_ok "--half-open-max below --half-open-per-source is refused (exit 1, one line): exit $rc: $(cat "$W/out")"
fi

"$GCKSCTL" --db "$W/gcks.db" init --id fqdn:gcks.example >/dev/null
# run_gcksd LOG ARGS...: starts gcksd, waits until it is ready, stops it; its log in $W/LOG
run_gcksd() {
	local log=$1
	shift
	local port=$(( 20000 + RANDOM % 20000 ))
	"$GCKSD" --db "$W/gcks.db" --listen "127.0.0.1:$port" --foreground "$@" 2>"$W/$log" &
	pid=$!
	# the limits are logged before anything else, also when gcksd cannot go on (no account to run as)
	for _ in $(seq 100); do grep -q "gcksd ready" "$W/$log" && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	pid=
}
expect_line() {
	local desc=$1 log=$2 want=$3
	if grep -qF -- "$want" "$W/$log"; then
		ok "$desc"
	else
		not_ok "$desc"
		sed 's/^/#   /' "$W/$log"
	fi
}
run_gcksd set.log --half-open-max 7 --half-open-per-source 3 --cookie-threshold 5 --cookie-rate 11 \
	--costly-ke-rate 13 --costly-ke-per-source 2
expect_line "the values given reach the core" set.log \
	"limits before authentication: 7 half-open IKE SAs, 3 per source; COOKIE above 5 half-open or 11 IKE_SA_INIT/s; 13 costly key exchanges/s, 2 per source;"
run_gcksd equal.log --half-open-max 1 --half-open-per-source 1
expect_line "--half-open-max equal to --half-open-per-source is accepted" equal.log \
	"limits before authentication: 1 half-open IKE SAs, 1 per source;"
run_gcksd zero.log --cookie-threshold 0 --cookie-rate 0
expect_line "0 is accepted where it means always" zero.log "COOKIE above 0 half-open or 0 IKE_SA_INIT/s"
run_gcksd default.log
expect_line "the defaults without options" default.log \
	"limits before authentication: 20000 half-open IKE SAs, 8 per source; COOKIE above 1000 half-open or 100 IKE_SA_INIT/s; 100 costly key exchanges/s, 4 per source; fragments 65536 octets per SA, 131072 per source, 4194304 in all"
run_gcksd ident.log --max-sas-per-identity 3
expect_line "--max-sas-per-identity reaches the core" ident.log "IKE SAs: 200000 in all, 3 per member identity and credential"
expect_line "8 IKE SAs per identity by default" default.log "IKE SAs: 200000 in all, 8 per member identity and credential"
run_gcksd kwa.log --require-kwa
expect_line "--require-kwa reaches the core" kwa.log "key wrap algorithm: required in IKE_SA_INIT (--require-kwa)"
expect_line "without --require-kwa, plain IKEv2 SAs are accepted" default.log \
	"key wrap algorithm: plain IKEv2 SAs accepted, GSA_AUTH on them refused"
exit $(( fails ? 1 : 0 ))
