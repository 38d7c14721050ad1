#!/usr/bin/env bash
# The flood benchmark behind `make bench` (after run.sh) and `make bench-flood`: a half-open
# flood answering COOKIE challenges from many loopback sources against a real gcksd while listed
# members register (test/bench/bench_flood.c). For each source count it starts a fresh gcksd on
# 127.0.0.1 with default limits and reports registrations/s during the flood as a fraction of
# the rate without it (target >= 0.5), gcksd's peak RSS and its CPU per flood datagram.
# Everything stays on 127.0.0.0/8 and stops by itself: three phases of FLOOD_SECONDS each per
# source count.
#
# Knobs (environment or make variables): FLOOD_SOURCES ("64 640"), FLOOD_RATE (2400 IKE_SA_INIT/s),
# FLOOD_SECONDS (10), FLOOD_MEMBERS (20000 listed), FLOOD_CONCURRENCY (32), BENCH_KEEP=1 keeps
# the work directory.
set -euo pipefail
build=${1:?usage: flood.sh BUILDDIR SRCDIR}
src=${2:?usage: flood.sh BUILDDIR SRCDIR}
sources=${FLOOD_SOURCES:-64 640}
rate=${FLOOD_RATE:-2400}
seconds=${FLOOD_SECONDS:-10}
members=${FLOOD_MEMBERS:-20000}
concurrency=${FLOOD_CONCURRENCY:-32}
work=$(mktemp -d /tmp/gikev2-flood.XXXXXX)
gcksd_pid=
stop_gcksd() {
	if [ -n "$gcksd_pid" ]; then kill "$gcksd_pid" 2>/dev/null || true; wait "$gcksd_pid" 2>/dev/null || true; fi
	gcksd_pid=
}
cleanup() {
	stop_gcksd
	if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "work directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
db=$work/gcks.db ctl=$work/gcksd.sock

( umask 077; printf 'flood-%s\n' "$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')" > "$work/bench.psk" )
. "$src/test/bench/policy.sh"
policy "$work/bench.yaml" keyid:bench-1 "$members" 0 multicast
"$build/gcks/gcksctl" --db "$db" init --id fqdn:gcks.example >/dev/null
"$build/gcks/gcksctl" --db "$db" --control "$ctl" policy load "$work/bench.yaml" 2>&1 | grep -v 'not running' || true

rc=0
for n in $sources; do
	port=$(( 20000 + RANDOM % 20000 ))
	echo "== flood from $n sources: gcksd on 127.0.0.1:$port"
	rm -f "$ctl"
	"$build/gcks/gcksd" --db "$db" --listen "127.0.0.1:$port" --control "$ctl" --log-level warn \
		--foreground 2>"$work/gcksd-$n.log" &
	gcksd_pid=$!
	for _ in $(seq 600); do [ -S "$ctl" ] && break; kill -0 "$gcksd_pid" 2>/dev/null || break; sleep 0.1; done
	[ -S "$ctl" ] || { echo "gcksd did not start:"; cat "$work/gcksd-$n.log"; exit 1; }
	"$build/test/bench/bench_flood" --gcks "127.0.0.1:$port" --pid "$gcksd_pid" --control "$ctl" \
		--psk-file "$work/bench.psk" --members "$members" --sources "$n" --rate "$rate" \
		--seconds "$seconds" --concurrency "$concurrency" || rc=1
	stop_gcksd
done
exit "$rc"
