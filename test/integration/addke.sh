#!/usr/bin/env bash
# IKE_INTERMEDIATE and multiple key exchanges (RFC 9242, RFC 9370) between the real gcksd and gmd:
#   - gcksd as shipped: gmd --addke p384 registers after one IKE_INTERMEDIATE, --addke p384,x448
#     after two (the GCKS keys the SA anew after each, and GSA_AUTH covers both);
#   - a group with additional-key-exchanges: [p384]: a gmd without --addke gets NO_PROPOSAL_CHOSEN
#     for it, with --addke p384 it registers;
#   - gcksd --addke p384: a gmd without it, or with another method, gets NO_PROPOSAL_CHOSEN;
#     with it, registered;
#   - the same over TCP (RFC 9329: gcksd --listen-tcp, gmd --transport tcp);
#   - a misspelt method: both programs exit 1 naming it.
# Needs python3 (and the programs of the build tree: GK_BUILDDIR, GK_SRCDIR).
set -euo pipefail

B=${GK_BUILDDIR:-$(pwd)}
GCKSD=$B/gcks/gcksd GCKSCTL=$B/gcks/gcksctl GMD=$B/member/gmd
for p in "$GCKSD" "$GCKSCTL" "$GMD"; do
	[ -x "$p" ] || { echo "not ok - $p is not built"; exit 99; }
done
command -v python3 >/dev/null || { echo "not ok - python3 is needed"; exit 99; }
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

W=$(mktemp -d "${TMPDIR:-/tmp}/gk-addke.XXXXXX")
gpid=
fails=0
stop_gcksd() { # bounded: TERM, then KILL after 10 s
	[ -n "$gpid" ] || return 0
	kill -TERM "$gpid" 2>/dev/null || true
	for _ in $(seq 100); do
		[ -d "/proc/$gpid" ] || break
		sleep 0.1
	done
	kill -KILL "$gpid" 2>/dev/null || true
	wait "$gpid" 2>/dev/null || true
	gpid=
}
cleanup() {
	stop_gcksd
	if [ "$fails" -ne 0 ]; then
		for f in "$W"/*.log "$W"/*.err; do
			[ -f "$f" ] || continue
			echo "# ---- $(basename "$f") (last 20 lines)"
			tail -n 20 "$f" | sed 's/^/# /'
		done
	fi
	rm -rf "$W"
}
trap cleanup EXIT
. "$(dirname "$0")/tap.sh"

(umask 077 && printf '%s\n' "the pre-shared key of member one" >"$W/m1.psk")
cat >"$W/addke.yaml" <<EOF
groups:
  - id: keyid:pq
    rekey:
      transport: multicast
      key-wrap: kw-5649-256
      address: 239.192.0.91
    sas:
      - name: data
        destination: 239.192.3.91
    members:
      - id: fqdn:m1.example.net
        psk-file: m1.psk
  - id: keyid:pq-req
    additional-key-exchanges: [p384]
    rekey:
      transport: multicast
      key-wrap: kw-5649-256
      address: 239.192.0.92
    sas:
      - name: data
        destination: 239.192.3.92
    members:
      - id: fqdn:m1.example.net
        psk-file: m1.psk
EOF

DB=$W/gcks.db CTL=$W/ctl.sock
"$GCKSCTL" --db "$DB" init --id fqdn:gcks.example >/dev/null
rc=0
"$GCKSCTL" --db "$DB" --control "$CTL" policy load "$W/addke.yaml" >"$W/load.out" 2>"$W/load.err" || rc=$?
check "gcksctl loads the group (exit $rc)" test "$rc" -eq 0

port=
start_gcksd() { # LOG [gcksd options]
	local log=$1
	shift
	for try in 1 2 3 4 5; do
		port=$(free_port)
		"$GCKSD" --db "$DB" --listen "127.0.0.1:$port" --control "$CTL" --foreground --log-level debug \
			"$@" 2>"$W/$log" &
		gpid=$!
		if wait_for 15 grep -q 'gcksd ready' "$W/$log"; then
			return 0
		fi
		stop_gcksd
	done
	return 1
}

gm() { # NAME [gmd options]: one registration attempt, JSON in NAME.json (group keyid:pq unless
	# GROUP is set)
	local name=$1 rc=0
	shift
	timeout 40 "$GMD" --gcks "127.0.0.1:$port" --once --json --sa-backend none --log-level debug \
		--id fqdn:m1.example.net --psk-file "$W/m1.psk" --group "keyid:${GROUP:-pq}" "$@" \
		>"$W/$name.json" 2>"$W/$name.err" || rc=$?
	echo "$rc" >"$W/$name.rc"
}
status_is() { # NAME STATUS
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["groups"][0]["status"] == sys.argv[2], d' \
		"$W/$1.json" "$2"
}
refused_with() { # NAME NOTIFY
	[ "$(cat "$W/$1.rc")" -ne 0 ] && grep -q "$2" "$W/$1.json" && ! grep -q '"registered"' "$W/$1.json"
}

start_gcksd gcksd.log || { not_ok "gcksd starts"; exit 1; }
gm one --addke p384
check "gmd --addke p384: registered (exit $(cat "$W/one.rc"))" status_is one registered
check "... after one IKE_INTERMEDIATE that updated the keys" \
	grep -q 'additional key exchange 1/1 (p384) done: IKE SA keys updated (RFC 9370)' "$W/one.err"
check "... gcksd ran it" grep -q 'IKE_INTERMEDIATE 1/1: p384 done, keys updated' "$W/gcksd.log"
gm two --addke p384,x448
check "gmd --addke p384,x448: registered after two (exit $(cat "$W/two.rc"))" \
	bash -c 'grep -q "additional key exchange 2/2 (x448) done" "$1" && grep -q "IKE_INTERMEDIATE 2/2: x448 done" "$2"' \
	_ "$W/two.err" "$W/gcksd.log"
check "... and the registration stands" status_is two registered
gm none
check "gmd without --addke still registers where none is required" status_is none registered
GROUP=pq-req gm grp-none
check "a group with additional-key-exchanges: [p384], gmd without --addke: NO_PROPOSAL_CHOSEN" \
	refused_with grp-none NO_PROPOSAL_CHOSEN
check "... gcksd says why" grep -q 'the group requires additional key exchanges this IKE SA did not run' "$W/gcksd.log"
GROUP=pq-req gm grp-p384 --addke p384
check "... gmd --addke p384: registered" status_is grp-p384 registered
stop_gcksd

tport=$(free_port SOCK_STREAM)
start_gcksd gcksd-req.log --addke p384 --listen-tcp "127.0.0.1:$tport" || { not_ok "gcksd --addke p384 starts"; exit 1; }
gm req-none
check "gcksd --addke p384, gmd without it: NO_PROPOSAL_CHOSEN" refused_with req-none NO_PROPOSAL_CHOSEN
gm req-other --addke p256
check "gcksd --addke p384, gmd --addke p256: NO_PROPOSAL_CHOSEN" refused_with req-other NO_PROPOSAL_CHOSEN
gm req-p384 --addke p384
check "gcksd --addke p384, gmd --addke p384: registered" status_is req-p384 registered
gm req-tcp --addke p384 --transport "tcp:$tport"
check "... the same over TCP (RFC 9329): IKE_INTERMEDIATE on the stream, registered" \
	bash -c 'grep -q "\"registered\"" "$1.json" && grep -q "additional key exchange 1/1 (p384) done" "$1.err"' _ "$W/req-tcp"
stop_gcksd

rc=0
timeout 20 "$GCKSD" --db "$DB" --listen "127.0.0.1:$(free_port)" --addke p384,kyber >/dev/null 2>"$W/bad-gcksd.err" || rc=$?
check "gcksd --addke with an unknown method exits 1 naming it (exit $rc)" \
	bash -c '[ "$1" -eq 1 ] && grep -q "gcksd: --addke: unknown key exchange method .kyber." "$2"' _ "$rc" "$W/bad-gcksd.err"
rc=0
timeout 20 "$GMD" --gcks "127.0.0.1:$port" --once --sa-backend none --id fqdn:m1.example.net \
	--psk-file "$W/m1.psk" --group keyid:pq --addke p384,,x25519 >/dev/null 2>"$W/bad-gmd.err" || rc=$?
check "gmd --addke with an empty item exits 1 (exit $rc)" \
	bash -c '[ "$1" -eq 1 ] && grep -q "addke" "$2"' _ "$rc" "$W/bad-gmd.err"

sanitizer_check "no sanitizer report in gcksd.log" "$W/gcksd.log"
sanitizer_check "no sanitizer report in gcksd-req.log" "$W/gcksd-req.log"
[ "$fails" -eq 0 ]
