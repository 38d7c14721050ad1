#!/usr/bin/env bash
# The inband rekey scenario of `make bench` (`make bench-inband` alone; README "Performance"):
# INBAND_MEMBERS members register to an inband group and keep their IKE SAs
# (test/bench/bench_inband, the member library gmd runs); a second generator
# (test/bench/bench_register --rate) keeps registering members of a multicast group at
# INBAND_PROBE_RATE a second; then `gcksctl rekey` sends a GSA_INBAND_REKEY to every inband
# member. Prints the time until every one is acknowledged (gcksd's status counters), gcksd's
# CPU per member, retransmissions (gcksd's metric and the datagrams the members saw), and the
# latency of the second generator's registrations during the rekey beside the rest of its run.
# Knobs: INBAND_MEMBERS (10000), INBAND_PROBE_RATE (100 registrations/s),
# INBAND_PROBE_SECONDS (how long the second generator runs, default 10), INBAND_TIMEOUT (300 s
# for the acknowledgements), BENCH_LOG_LEVEL, BENCH_GCKSD_ARGS, BENCH_KEEP.
set -euo pipefail
build=${1:?usage: inband.sh BUILDDIR SRCDIR}
src=${2:?usage: inband.sh BUILDDIR SRCDIR}
members=${INBAND_MEMBERS:-10000}
probe_rate=${INBAND_PROBE_RATE:-100}
probe_seconds=${INBAND_PROBE_SECONDS:-10}
timeout_s=${INBAND_TIMEOUT:-300}
. "$src/test/bench/lib.sh"
probe_members=$(( probe_rate * probe_seconds ))
[ "$probe_members" -ge 2 ] || probe_members=2
probe_first=1000000
mport=$(( port + 1 ))
inband_pid= probe_pid=
inband_cleanup() {
	for p in $inband_pid $probe_pid; do kill "$p" 2>/dev/null || true; done
	bench_cleanup
}
trap inband_cleanup EXIT

policy "$work/inband.yaml" keyid:inband-1 "$members" 0 inband
policy "$work/probe.yaml" keyid:probe-1 "$probe_members" "$probe_first" multicast
"$build/gcks/gcksctl" --db "$db" init --id fqdn:gcks.example >/dev/null
"$build/gcks/gcksctl" --db "$db" policy load "$work/inband.yaml" "$work/probe.yaml" >/dev/null
gcksd_start --metrics "127.0.0.1:$mport"

# metric NAME: its value from gcksd --metrics (HTTP/1.0 through bash's /dev/tcp), summed over
# labels; empty when it cannot be read
metric() {
	local m
	m=$(timeout 10 bash -c 'exec 3<>/dev/tcp/127.0.0.1/'"$mport"' && printf "GET /metrics HTTP/1.0\r\n\r\n" >&3 && cat <&3' 2>/dev/null) || return 0
	printf '%s\n' "$m" | awk -v n="$1" '$1 == n || index($1, n "{") == 1 { s += $2; found = 1 } END { if (found) print s }'
}

echo "== inband: $members members register to keyid:inband-1 and keep their IKE SAs"
rekey_cmd="'$build/gcks/gcksctl' --db '$db' --control '$ctl' rekey keyid:inband-1 >/dev/null"
"$build/test/bench/bench_inband" --gcks "127.0.0.1:$port" --pid "$gcksd_pid" --control "$ctl" \
	--psk-file "$work/bench.psk" --members "$members" --wait-signal --timeout "$timeout_s" \
	--rekey-cmd "$rekey_cmd" >"$work/inband.out" 2>&1 &
inband_pid=$!
# registration at a few hundred a second on a busy machine: bounded by the timeout as well
for _ in $(seq $(( (timeout_s + members / 50) * 10 ))); do
	grep -q '^holding' "$work/inband.out" && break
	gcksd_check || break
	[ -d "/proc/$inband_pid" ] || break
	sleep 0.1
done
cat "$work/inband.out"
grep -q '^holding' "$work/inband.out" || { echo "bench_inband did not register its members"; tail -n 20 "$work/gcksd.log"; exit 1; }

echo "== second generator: $probe_members registrations to keyid:probe-1, $probe_rate a second, for about $probe_seconds s"
"$build/test/bench/bench_register" --gcks "127.0.0.1:$port" --pid "$gcksd_pid" --control "$ctl" \
	--psk-file "$work/bench.psk" --members "$probe_members" --first "$probe_first" --group keyid:probe-1 \
	--concurrency 64 --rate "$probe_rate" --latency-log "$work/probe.lat" >"$work/probe.out" 2>&1 &
probe_pid=$!
# a quarter of its run before the rekey, for the latency without it
for _ in $(seq 600); do grep -q '^load:' "$work/probe.out" && break; [ -d "/proc/$probe_pid" ] || break; sleep 0.1; done
sleep "$(awk -v s="$probe_seconds" 'BEGIN { print s / 4 }')"
retx0=$(metric gikev2_gcks_request_retransmissions_total)

echo "== gcksctl rekey keyid:inband-1"
kill -USR1 "$inband_pid"
rc=0
wait_pid "$inband_pid" $(( timeout_s + 30 )) || rc=$?
inband_pid=
gcksd_check || rc=1
retx1=$(metric gikev2_gcks_request_retransmissions_total)
sed -n '/^rekey window/,$p' "$work/inband.out"
if [ -n "$retx0" ] && [ -n "$retx1" ]; then
	echo "gcksd request retransmissions during the rekey: $(( retx1 - retx0 )) (gikev2_gcks_request_retransmissions_total)"
fi
wait_pid "$probe_pid" $(( probe_seconds * 2 + 60 )) || rc=$?
probe_pid=
grep -E '^(registrations|COOKIE|latency)' "$work/probe.out" | sed 's/^/second generator: /'
# its registrations due during the rekey window, and the others
read -r w0 w1 <<<"$(awk '/^rekey window/ { print $(NF - 1), $NF }' "$work/inband.out")"
for side in during outside; do
	awk -v a="$w0" -v b="$w1" -v side="$side" '
		{ d = $1 >= a && $1 <= b; if ((side == "during") == d) { v[++n] = ($2 - $1) * 1000; if (!$3) bad++ } }
		END {
			if (!n) { printf "second generator, registrations due %s the rekey: none\n", side; exit }
			for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
			for (i = 1; i <= n; i++) s += v[i]
			p99 = int(n * 0.99) + 1; if (p99 > n) p99 = n
			printf "second generator, registrations due %s the rekey: %d (%d failed), latency mean %.1f ms, p50 %.1f, p99 %.1f, max %.1f ms\n",
				side, n, bad + 0, s / n, v[int(n / 2) + 1], v[p99], v[n] }' "$work/probe.lat"
done
if [ "$rc" != 0 ] && [ -s "$work/gcksd.log" ]; then
	echo "== last lines of the gcksd log"
	tail -n 20 "$work/gcksd.log"
fi
exit "$rc"
