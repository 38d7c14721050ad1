#!/usr/bin/env bash
# Integration test of gmd's robustness against a GCKS that goes away (the real gcksd, gcksctl
# and gmd as processes on loopback, no root): a gmd of an inband group (GSA_INBAND_REKEY on its
# registration IKE SA) with a short --liveness, --retry and --retransmit:
#   - on a healthy SA its liveness checks are answered and change nothing;
#   - gcksd is killed with SIGKILL and restarted on the same database: the IKE SA is gone, the
#     check goes unanswered, gmd reports ike_sa_dead, registers again, and a
#     `gcksctl --json rekey` reaches it by GSA_INBAND_REKEY;
#   - gcksd is killed and stays away: gmd's re-registration fails, is retried with growing
#     waits (registration_failed events with retry_in), and succeeds once gcksd is back;
#   - gmd killed and started again with --initial-contact: gcksd drops the IKE SA it left;
#   - gmd keeps the SA it holds through all of this, and exits 0 on SIGTERM.
# Everything is checked through gmd's --json events and gcksctl, not logs.
# Needs python3 and openssl (tools/deps). Prints ok / not ok lines; exit 0 when all pass.
set -euo pipefail

B=${GK_BUILDDIR:-$(pwd)}
GCKSD=$B/gcks/gcksd GCKSCTL=$B/gcks/gcksctl GMD=$B/member/gmd
for t in python3 openssl; do
	command -v "$t" >/dev/null || { echo "not ok - $t is needed (tools/deps installs it)"; exit 99; }
done
for p in "$GCKSD" "$GCKSCTL" "$GMD"; do
	[ -x "$p" ] || { echo "not ok - $p is not built"; exit 99; }
done
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

W=$(mktemp -d "${TMPDIR:-/tmp}/gk-live.XXXXXX")
export W
gpid= mpid=
fails=0
cleanup() {
	local p
	for p in $gpid $mpid; do kill "$p" 2>/dev/null || true; done
	for p in $gpid $mpid; do wait "$p" 2>/dev/null || true; done
	if [ "$fails" -ne 0 ]; then
		show_logs "$W"/*.log "$W"/gm.json
	fi
	rm -rf "$W"
}
trap cleanup EXIT

. "$(dirname "$0")/tap.sh"
# pyck DESC <<'EOF' python EOF: events(kind, since) reads gmd's JSON event lines; wait(fn, s)
# retries fn until it stops raising AssertionError.
cat >"$W/ck.py" <<'EOF'
import json, os, sys, time
W = os.environ['W']
def events(kind=None, since=0):
    out = []
    with open(f'{W}/gm.json') as f:
        for line in f.readlines()[since:]:
            line = line.strip()
            if not line:
                continue
            e = json.loads(line)
            if kind is None or e['event'] == kind or (isinstance(kind, tuple) and e['event'] in kind):
                out.append(e)
    return out
def mark(name):
    with open(f'{W}/gm.json') as f:
        n = len(f.readlines())
    with open(f'{W}/mark-{name}', 'w') as f:
        f.write(str(n))
def since(name):
    with open(f'{W}/mark-{name}') as f:
        return int(f.read())
def held():
    h = set()
    for e in events(('sa_added', 'sa_deleted')):
        (h.add if e['event'] == 'sa_added' else h.discard)(e['spi'])
    return h
def answered():
    """Liveness checks gcksd answered so far (gmd's debug log, one line each)."""
    with open(f'{W}/gmd.log', errors='replace') as f:
        return sum('received INFORMATIONAL response' in l for l in f)
def wait(fn, timeout):
    end = time.time() + timeout
    while True:
        try:
            return fn()
        except AssertionError:
            if time.time() > end:
                raise
            time.sleep(0.1)
exec(compile(sys.stdin.read(), 'check', 'exec'))
EOF
pyck() { check "$1" python3 "$W/ck.py"; }
mark() { python3 "$W/ck.py" <<<"mark('$1')"; }

port=$(python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
DB=$W/gcks.db CTL=$W/ctl.sock
# start_gcksd N: on the same port and database every time; log gcksd-N.log
start_gcksd() {
	local log=$W/gcksd-$1.log
	"$GCKSD" --db "$DB" --listen "127.0.0.1:$port" --control "$CTL" --foreground --log-level debug 2>"$log" &
	gpid=$!
	for _ in $(seq 150); do
		grep -q 'gcksd ready' "$log" && return 0
		kill -0 "$gpid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
kill_gcksd() {
	kill -KILL "$gpid"
	wait "$gpid" 2>/dev/null || true
	gpid=
}

mkdir -p "$W/keys"
(umask 077 && printf '0x%s\n' "$(openssl rand -hex 32)" >"$W/keys/m1.psk")
cat >"$W/inband.yaml" <<'EOF'
groups:
  - id: keyid:live-1
    ike-idle-timeout: 5m
    rekey:
      transport: inband
    sas:
      - name: data
        protocol: esp
        encryption: aes-gcm-16
        key-length: 256
        destination: 239.192.3.1
        ip-protocol: udp
        ports: 7000
        lifetime: 1h
    members:
      - id: fqdn:m1.example.net
        psk-file: keys/m1.psk
EOF
check "gcksctl init and policy load (an inband group)" \
	sh -c "'$GCKSCTL' --db '$DB' init --id fqdn:gcks.example && '$GCKSCTL' --db '$DB' policy load '$W/inband.yaml'"
start_gcksd 1 || { not_ok "gcksd starts on loopback"; exit 1; }
ok "gcksd starts on 127.0.0.1:$port"

# liveness after 1 s of silence (up to 1.25 s with jitter); a check is given up after
# 0.2 + 0.4 + 0.8 s; retries after 1, 2, 4 s (minus jitter)
"$GMD" --gcks "127.0.0.1:$port" --id fqdn:m1.example.net --psk-file "$W/keys/m1.psk" \
	--group keyid:live-1 --json --sa-backend none --log-level debug \
	--liveness 1 --retry 1:4 --retransmit 200:2 >"$W/gm.json" 2>"$W/gmd.log" &
mpid=$!

pyck "gmd registers to the inband group and holds one ESP SA" <<'EOF'
def reg():
    r = events('registered')
    assert len(r) == 1, r
    assert r[0]['state'].get('rekey_sa') is None, r[0]['state']
    assert len(held()) == 1, held()
wait(reg, 15)
EOF
pyck "on a healthy IKE SA the liveness checks are answered (3 of them): no ike_sa_dead, no new registration" <<'EOF'
# three answered checks take at least 3 s of silence each time: a check given up (1.4 s of
# retransmissions) would have been reported as ike_sa_dead before the third answer
def three():
    assert answered() >= 3, f'{answered()} liveness checks answered so far'
wait(three, 15)
assert not events(('ike_sa_dead', 'registration_failed')), events()
assert len(events('registered')) == 1
EOF
python3 "$W/ck.py" <<<"import json; json.dump(sorted(held()), open(f'{W}/held-1', 'w'))"

# ---- gcksd killed and restarted at once: its IKE SAs are gone ----
mark restart
kill_gcksd
start_gcksd 2 || { not_ok "gcksd restarts on the same database"; exit 1; }
ok "gcksd killed with SIGKILL and restarted on the same database"
pyck "gmd finds the IKE SA dead by its liveness check and registers again; it kept its SA meanwhile" <<'EOF'
s = since('restart')
def rereg():
    d = events('ike_sa_dead', s)
    assert d, 'no ike_sa_dead yet'
    assert d[0]['group'] == 'keyid:live-1' and d[0]['retry_in'] >= 1, d
    r = events('registered', s)
    assert r, 'not registered again yet'
wait(rereg, 20)
# the same SA again: it stayed installed, never taken out
assert not events(('sa_deleted', 'sa_added', 'group_lost'), s), events(since=s)
held_before = json.load(open(f'{W}/held-1'))
assert sorted(held()) == held_before, (held(), held_before)
EOF
mark rekey
rc=0
"$GCKSCTL" --control "$CTL" --json rekey keyid:live-1 >"$W/rekey.out" 2>"$W/gcksctl.log" || rc=$?
check "gcksctl --json rekey keyid:live-1 exits 0" test "$rc" -eq 0
pyck "the rekey reaches gmd by GSA_INBAND_REKEY on its new IKE SA" <<'EOF'
s = since('rekey')
old = json.load(open(f'{W}/held-1'))
def got():
    assert events('inband_rekey', s), 'no inband_rekey yet'
    new = [e['spi'] for e in events('sa_added', s) if e['spi'] not in old]
    assert len(new) == 1, events(since=s)
wait(got, 10)
EOF

# ---- gcksd killed and away for a while: re-registration retried with backoff ----
mark outage
kill_gcksd
pyck "with gcksd away, the re-registration fails and is retried with growing waits" <<'EOF'
s = since('outage')
def retried():
    assert events('ike_sa_dead', s), 'no ike_sa_dead yet'
    f = events('registration_failed', s)
    assert len(f) >= 2, f
    return f
f = wait(retried, 25)
waits = [e['retry_in'] for e in f]
assert waits == sorted(waits) and waits[-1] > waits[0], waits
assert all('no answer' in e['reason'] for e in f), f
assert held(), 'gmd dropped its SA during the outage'
EOF
mark back
start_gcksd 3 || { not_ok "gcksd starts again"; exit 1; }
pyck "once gcksd is back, gmd registers again and stops retrying" <<'EOF'
s = since('back')
def back():
    assert events('registered', s), 'not registered yet'
    return answered()
a = wait(back, 15)
n = len(events('registration_failed', s))
# a retry still planned would come at most 4 s (--retry 1:4) after the last failure: four
# liveness checks answered on the new IKE SA take longer than that (at least 1 s of silence each)
def four():
    assert answered() >= a + 4, f'{answered() - a} liveness checks answered since'
wait(four, 15)
assert len(events('registration_failed', s)) == n, events(since=s)
assert len(events('registered', s)) == 1, events(since=s)
EOF

# ---- gmd killed and started again: its INITIAL_CONTACT replaces the IKE SA it left behind ----
ike_sas() { "$GCKSCTL" --control "$CTL" --json status | python3 -c 'import json, sys; print(json.load(sys.stdin)["ike_sas_established"])'; }
n=$(ike_sas)
check "gcksd holds the one IKE SA of gmd (got $n)" test "$n" -eq 1
kill -KILL "$mpid"
wait "$mpid" 2>/dev/null || true
mark gmd2
"$GMD" --gcks "127.0.0.1:$port" --id fqdn:m1.example.net --psk-file "$W/keys/m1.psk" \
	--group keyid:live-1 --json --sa-backend none --log-level debug --initial-contact \
	--liveness 1 --retry 1:4 --retransmit 200:2 >>"$W/gm.json" 2>"$W/gmd-2.log" &
mpid=$!
pyck "gmd started again (--initial-contact) registers" <<'EOF'
def again():
    assert events('registered', since('gmd2')), 'not registered yet'
wait(again, 15)
EOF
n=$(ike_sas)
check "gcksd dropped the killed gmd's IKE SA at once: one established, not two (got $n)" test "$n" -eq 1

rc=0
kill -TERM "$mpid"
wait "$mpid" || rc=$?
mpid=
check "gmd exits with status 0 on SIGTERM (got $rc)" test "$rc" -eq 0
sanitizer_check "no sanitizer report in gmd's or gcksd's logs" "$W"/*.log
[ "$fails" -eq 0 ]
