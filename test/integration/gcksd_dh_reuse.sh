#!/usr/bin/env bash
# gcksd --dh-reuse N and --dh-reuse-seconds S (RFC 7296 2.12, reuse of the IKE_SA_INIT
# key-exchange private value): a value that is not a whole number in the option's range
# (--dh-reuse 0 to 100000, --dh-reuse-seconds 1 to 300) is refused with exit code 1 and one
# line naming the option, and so is --dh-reuse-seconds without a --dh-reuse above 0; with
# --dh-reuse, gcksd warns at start that forward secrecy is shared by the IKE SAs of one value;
# without it, nothing is said. What the reuse does is tested on the fake network
# (test/unit/check_dh_reuse.c).
# Finds the programs through GK_BUILDDIR. Prints one line per check; exit 0 when all pass.
set -euo pipefail

B=${GK_BUILDDIR:-$(pwd)}
GCKSD=$B/gcks/gcksd GCKSCTL=$B/gcks/gcksctl
for p in "$GCKSD" "$GCKSCTL"; do
	[ -x "$p" ] || { echo "not ok - $p is not built"; exit 99; }
done
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1"
W=$(mktemp -d "${TMPDIR:-/tmp}/gk-dhreuse.XXXXXX")
chmod 755 "$W"
pid=
fails=0
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	rm -rf "$W"
}
trap cleanup EXIT
. "$(dirname "$0")/tap.sh"

# refused OUTPUT ARGS...: gcksd exits 1 with exactly that one line
refused() {
	local want=$1 rc=0
	shift
	timeout 20 "$GCKSD" --db "$W/none.db" --foreground "$@" >"$W/out" 2>&1 || rc=$?
	if [ "$rc" = 1 ] && [ "$(cat "$W/out")" = "$want" ]; then
		ok "$* is refused (exit 1, one line)"
	else
		not_ok "$* is refused (exit 1, one line): exit $rc: $(cat "$W/out")"
	fi
}
for bad in -1 x 3x 100001 ''; do
	refused "gcksd: --dh-reuse: a number from 0 to 100000" --dh-reuse "$bad"
done
for bad in 0 -1 x 301 ''; do
	refused "gcksd: --dh-reuse-seconds: a number from 1 to 300" --dh-reuse 64 --dh-reuse-seconds "$bad"
done
refused "gcksd: --dh-reuse-seconds needs --dh-reuse N with N from 1 to 100000" --dh-reuse-seconds 5
refused "gcksd: --dh-reuse-seconds needs --dh-reuse N with N from 1 to 100000" --dh-reuse 0 --dh-reuse-seconds 5

"$GCKSCTL" --db "$W/gcks.db" init --id fqdn:gcks.example >/dev/null
# run_gcksd LOG ARGS...: starts gcksd, waits until it is ready (or gone), stops it
run_gcksd() {
	local log=$1
	shift
	local port=$(( 20000 + RANDOM % 20000 ))
	"$GCKSD" --db "$W/gcks.db" --listen "127.0.0.1:$port" --foreground "$@" 2>"$W/$log" &
	pid=$!
	for _ in $(seq 100); do grep -q "gcksd ready" "$W/$log" && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill "$pid" 2>/dev/null || true
	timeout 20 tail --pid="$pid" -f /dev/null 2>/dev/null || kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	pid=
}
run_gcksd max.log --dh-reuse 100000 --dh-reuse-seconds 300
if grep -qF -- "--dh-reuse 100000: one key-exchange private value answers up to 100000 IKE_SA_INIT requests within 300 s; every IKE SA made under one value loses forward secrecy with it if it leaks before it is wiped" "$W/max.log"; then
	ok "the largest values are accepted and the forward-secrecy cost is logged"
else
	not_ok "the largest values are accepted and the forward-secrecy cost is logged"; sed 's/^/#   /' "$W/max.log"
fi
run_gcksd def.log --dh-reuse 64
if grep -qF -- "--dh-reuse 64: one key-exchange private value answers up to 64 IKE_SA_INIT requests within 10 s;" "$W/def.log"; then
	ok "--dh-reuse-seconds is 10 by default"
else
	not_ok "--dh-reuse-seconds is 10 by default"; sed 's/^/#   /' "$W/def.log"
fi
run_gcksd off.log --dh-reuse 0
if grep -q "limits before authentication" "$W/off.log" && ! grep -q "dh-reuse" "$W/off.log"; then
	ok "--dh-reuse 0 is accepted and says nothing (a fresh value per IKE SA)"
else
	not_ok "--dh-reuse 0 is accepted and says nothing"; sed 's/^/#   /' "$W/off.log"
fi
exit $(( fails ? 1 : 0 ))
