#!/usr/bin/env bash
# Integration test of gcksd --metrics, through the real programs on loopback: the scrape
# endpoint (Prometheus text format over HTTP/1.1) is scraped with python's urllib before and
# after registrations, a refusal and rekeys of a multicast and an inband group, and every
# counter must move by exactly what happened; then the endpoint is attacked as a hostile
# client would: wrong method and path, an oversized target and head, a slow sender (answered
# 408 after 5 s, others served meanwhile), more connections than it keeps; gcksd stays up.
# Needs python3 (tools/deps); finds the programs through GK_BUILDDIR.
set -euo pipefail

B=${GK_BUILDDIR:-$(pwd)}
GCKSD=$B/gcks/gcksd GCKSCTL=$B/gcks/gcksctl GMD=$B/member/gmd
for t in python3 timeout; do
	command -v "$t" >/dev/null || { echo "not ok - $t is needed (tools/deps installs it)"; exit 99; }
done
for p in "$GCKSD" "$GCKSCTL" "$GMD"; do
	[ -x "$p" ] || { echo "not ok - $p is not built"; exit 99; }
done
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
unset GIKEV2_DB GIKEV2_CONTROL JOURNAL_STREAM

W=$(mktemp -d "${TMPDIR:-/tmp}/gk-metrics.XXXXXX")
export W
pids=()
fails=0
cleanup() {
	local p
	for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null || true; kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	if [ "$fails" -ne 0 ]; then
		show_logs "$W"/*.log
	fi
	rm -rf "$W"
}
trap cleanup EXIT
. "$(dirname "$0")/tap.sh"


mkdir -p "$W/keys"
for m in m1 m2 m3; do
	(umask 077 && python3 -c 'import os; print("0x" + os.urandom(32).hex())' >"$W/keys/$m.psk")
done
cat >"$W/groups.yaml" <<EOF
groups:
  - id: keyid:met-mc
    rekey:
      transport: multicast
      key-wrap: kw-5649-256
      address: 239.192.0.79
      port: 848
      copies: 3
      interval: 100ms
    sas:
      - name: video
        destination: 239.192.79.1
    members:
      - id: keyid:m1
        psk-file: keys/m1.psk
      - id: keyid:m3
        psk-file: keys/m3.psk
  - id: keyid:met-in
    rekey:
      transport: inband
    sas:
      - name: chat
        destination: 239.192.80.1
    members:
      - id: keyid:m2
        psk-file: keys/m2.psk
EOF
DB=$W/gcks.db CTL=$W/gcksd.sock
"$GCKSCTL" --db "$DB" init --id fqdn:gcks.example >/dev/null
"$GCKSCTL" --db "$DB" policy load "$W/groups.yaml" >/dev/null
port=$(free_port SOCK_DGRAM)
mport=$(free_port SOCK_STREAM)
export MPORT=$mport
"$GCKSD" --db "$DB" --listen "127.0.0.1:$port" --control "$CTL" --foreground --metrics "$mport" \
	2>"$W/gcksd.log" &
gpid=$!
pids+=("$gpid")
if ! wait_for 15 grep -q 'gcksd ready' "$W/gcksd.log"; then
	not_ok "gcksd starts with --metrics $mport"
	exit 1
fi
ok "gcksd starts with --metrics $mport"
check "it says where: loopback when only a port is given" \
	grep -q "metrics on http://127.0.0.1:$mport/metrics$" "$W/gcksd.log"
ctl() { "$GCKSCTL" --control "$CTL" "$@"; }

# scrape NAME: GET /metrics into $W/NAME.prom; the status and Content-Type checked
cat >"$W/scrape.py" <<'EOF'
import os, sys, urllib.request
r = urllib.request.urlopen(f"http://127.0.0.1:{os.environ['MPORT']}/metrics", timeout=10)
assert r.status == 200, r.status
ct = r.headers['Content-Type']
assert ct == 'text/plain; version=0.0.4; charset=utf-8', ct
open(os.path.join(os.environ['W'], sys.argv[1] + '.prom'), 'wb').write(r.read())
EOF
scrape() { python3 "$W/scrape.py" "$1"; }
# delta A B <<EOF: lines "SAMPLE DELTA"; every other sample of the families named must not move
cat >"$W/delta.py" <<'EOF'
import os, re, sys
def parse(name):
    s = {}
    for line in open(os.path.join(os.environ['W'], name + '.prom')):
        if line.startswith('#') or not line.strip():
            continue
        k, v = line.rstrip('\n').rsplit(' ', 1)
        s[k] = float(v)
    return s
a, b = parse(sys.argv[1]), parse(sys.argv[2])
want = {}
for line in sys.stdin:
    if line.strip():
        k, v = line.rsplit(' ', 1)
        want[k] = float(v)
fams = set(re.sub(r'\{.*', '', k) for k in want)
bad = []
for k in sorted(set(a) | set(b)):
    if re.sub(r'\{.*', '', k) not in fams:
        continue
    d = b.get(k, 0) - a.get(k, 0)
    if d != want.get(k, 0):
        bad.append(f'{k}: moved by {d:g}, expected {want.get(k, 0):g}')
bad += [f'{k}: missing' for k in want if k not in b]
print('\n'.join(bad))
sys.exit(1 if bad else 0)
EOF
delta() { python3 "$W/delta.py" "$@"; }

if scrape s0; then ok "a scrape answers 200 with the exposition format's Content-Type"; else not_ok "a scrape answers 200"; fi
check "every sample's family has HELP and TYPE before it; counters end in _total" python3 - "$W/s0.prom" <<'EOF'
import re, sys
helped, typed = set(), {}
for line in open(sys.argv[1]):
    m = re.match(r'# HELP (\S+) .+$', line)
    if m:
        helped.add(m.group(1))
        continue
    m = re.match(r'# TYPE (\S+) (counter|gauge|histogram)$', line)
    if m:
        typed[m.group(1)] = m.group(2)
        continue
    name = re.match(r'[a-zA-Z_:][a-zA-Z0-9_:]*', line).group(0)
    fam = re.sub(r'_(bucket|sum|count)$', '', name) if name not in typed else name
    assert fam in helped and fam in typed, name
    assert (typed[fam] == 'counter') == fam.endswith('_total'), name
    assert typed[fam] == 'histogram' or fam == name, name
EOF
check "no member yet: members 0 in each group, no rekey yet, the next one in the future" bash -c '
	grep -qxF "gikev2_gcks_group_members{group=\"keyid:met-mc\"} 0" "$1" &&
	grep -qxF "gikev2_gcks_group_members{group=\"keyid:met-in\"} 0" "$1" &&
	! grep -q "^gikev2_gcks_last_rekey_timestamp_seconds{" "$1" &&
	grep -qE "^gikev2_gcks_next_rekey_seconds\{group=\"keyid:met-mc\"\} [1-9][0-9]*$" "$1"' _ "$W/s0.prom"
check "process metrics: CPU seconds, resident memory, start time" bash -c '
	grep -qE "^process_cpu_seconds_total [0-9.e+-]+$" "$1" && grep -qE "^process_resident_memory_bytes [1-9][0-9]*$" "$1" &&
	grep -qE "^process_start_time_seconds [0-9]+$" "$1"' _ "$W/s0.prom"
check "UDP: nothing the kernel refused to send" grep -qxF "gikev2_gcks_udp_send_dropped_total 0" "$W/s0.prom"
check "store: up, never lost; a server alone (SQLite) leads every group" bash -c '
	grep -qxF "gikev2_gcks_store_up 1" "$1" && grep -qxF "gikev2_gcks_store_lost_total 0" "$1" &&
	grep -qxF "gikev2_gcks_group_leader{group=\"keyid:met-mc\"} 1" "$1" &&
	grep -qxF "gikev2_gcks_group_leader{group=\"keyid:met-in\"} 1" "$1"' _ "$W/s0.prom"
check "IKE SAs: none established, none half-open" bash -c '
	grep -qxF "gikev2_gcks_ike_sas{state=\"established\"} 0" "$1" && grep -qxF "gikev2_gcks_ike_sas{state=\"half_open\"} 0" "$1"' _ "$W/s0.prom"

# --- registrations: m1 to the multicast group (ok), m3 to the inband group (refused) ---
timeout 40 "$GMD" --gcks "127.0.0.1:$port" --once --id keyid:m1 --psk-file "$W/keys/m1.psk" \
	--group keyid:met-mc --sa-backend none 2>"$W/gmd-m1.log" >/dev/null
rc=0
timeout 40 "$GMD" --gcks "127.0.0.1:$port" --once --id keyid:m3 --psk-file "$W/keys/m3.psk" \
	--group keyid:met-in --sa-backend none 2>"$W/gmd-m3.log" || rc=$?
check "gmd m3 to met-in is refused (exit 2)" test "$rc" = 2
scrape s1
check "registrations: one ok in met-mc, one AUTHORIZATION_FAILED in met-in, members 1; nothing else moved" \
	delta s0 s1 <<'EOF'
gikev2_gcks_registrations_total{group="keyid:met-mc",result="ok"} 1
gikev2_gcks_registrations_total{group="keyid:met-in",result="refused",notify="AUTHORIZATION_FAILED"} 1
gikev2_gcks_group_members{group="keyid:met-mc"} 1
gikev2_gcks_rekey_messages_total{group="keyid:met-mc"} 0
gikev2_gcks_inband_rekeys_sent_total{group="keyid:met-in"} 0
gikev2_gcks_refusals_total 1
EOF

check "store transactions: a histogram per kind, cumulative, +Inf equal to the count, more than before" python3 - "$W/s0.prom" "$W/s1.prom" <<'EOF'
import re, sys
def hist(path):
    h = {}
    for line in open(path):
        m = re.match(r'gikev2_gcks_store_transaction_duration_seconds_(bucket|sum|count)\{kind="(\w+)"(?:,le="([^"]+)")?\} (\S+)$', line)
        if m:
            h.setdefault(m.group(2), {}).setdefault(m.group(1), []).append((m.group(3), float(m.group(4))))
    return h
a, b = hist(sys.argv[1]), hist(sys.argv[2])
assert sorted(b) == ['durable', 'read', 'write'], sorted(b)
for k, v in b.items():
    counts = [c for _, c in v['bucket']]
    assert counts == sorted(counts), (k, counts)
    assert v['bucket'][-1][0] == '+Inf' and v['bucket'][-1][1] == v['count'][0][1], (k, v)
    assert v['sum'][0][1] >= 0, v
total = lambda h: sum(v['count'][0][1] for v in h.values())
assert total(b) > total(a), (total(a), total(b))
EOF

# --- a multicast rekey: one GSA_REKEY, three copies ---
ctl rekey keyid:met-mc >/dev/null
check "the rekey's third copy went out" \
	wait_for 5 grep -q "GSA_REKEY message 0 resent to 239.192.0.79:848 (copy 3 of 3)" "$W/gcksd.log"
scrape s2
check "a multicast rekey: rekey messages +1, copies +3, no inband rekey" delta s1 s2 <<'EOF'
gikev2_gcks_rekey_messages_total{group="keyid:met-mc"} 1
gikev2_gcks_rekey_copies_total{group="keyid:met-mc"} 3
gikev2_gcks_inband_rekeys_sent_total{group="keyid:met-in"} 0
gikev2_gcks_registrations_total{group="keyid:met-mc",result="ok"} 0
EOF
check "the last rekey: its time now, age 0-2 s, the next one in the future" python3 - "$W/s2.prom" <<'EOF'
import re, sys, time
t = open(sys.argv[1]).read()
last = int(re.search(r'^gikev2_gcks_last_rekey_timestamp_seconds\{group="keyid:met-mc"\} (\d+)$', t, re.M).group(1))
age = int(re.search(r'^gikev2_gcks_rekey_age_seconds\{group="keyid:met-mc"\} (\d+)$', t, re.M).group(1))
nxt = int(re.search(r'^gikev2_gcks_next_rekey_seconds\{group="keyid:met-mc"\} (-?\d+)$', t, re.M).group(1))
assert abs(last - time.time()) < 5, last
assert 0 <= age <= 2, age
assert nxt > 0, nxt
assert 'gikev2_gcks_last_rekey_timestamp_seconds{group="keyid:met-in"}' not in t
EOF

# --- the same through gcksctl: status, group show, member list ---
ctl status >"$W/status.out"
check "gcksctl status: the multicast group's last rekey, next rekey and counters, exact lines" python3 - "$W/status.out" <<'EOF'
import re, sys
lines = open(sys.argv[1]).read().splitlines()
i = [n for n, l in enumerate(lines) if l.startswith('keyid:met-mc  ')][0]
assert re.fullmatch(r'  last rekey \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(requested\): GSA_REKEY message 0, 3 copies; next in \d+[dhm]\d\d[hms] \(lifetime\)', lines[i + 1]), lines[i + 1]
assert lines[i + 2] == '  registrations 1, refused 0; GSA_REKEY messages 1, copies 3', lines[i + 2]
j = [n for n, l in enumerate(lines) if l.startswith('keyid:met-in  ')][0]
assert re.fullmatch(r'  last rekey: none since gcksd started; next in \d+[dhm]\d\d[hms] \(lifetime\)', lines[j + 1]), lines[j + 1]
assert lines[j + 2] == '  registrations 0, refused 1; GSA_INBAND_REKEY sent 0, acknowledged 0, failed 0', lines[j + 2]
EOF
ctl --json status >"$W/status.json"
check "gcksctl --json status: last_rekey, next_rekey and counters of each group" python3 - "$W/status.json" <<'EOF'
import json, sys, time
d = json.load(open(sys.argv[1]))
g = {x['group']: x for x in d['groups']}
mc, ib = g['keyid:met-mc'], g['keyid:met-in']
lr = mc['last_rekey']
assert lr['message_id'] == 0 and lr['copies'] == 3 and lr['reason'] == 'requested' and abs(lr['time'] - time.time()) < 10, lr
assert mc['next_rekey']['reason'] == 'lifetime' and mc['next_rekey']['in'] > 0, mc['next_rekey']
assert mc['counters'] == {'registrations': 1, 'registrations_refused': 0, 'rekey_messages': 1, 'rekey_copies': 3}, mc['counters']
assert ib['last_rekey'] is None, ib
assert ib['counters'] == {'registrations': 0, 'registrations_refused': 1, 'inband_rekeys_sent': 0,
                          'inband_rekeys_acknowledged': 0, 'inband_rekeys_failed': 0}, ib['counters']
EOF
"$GCKSCTL" --db "$DB" --control "$CTL" group show keyid:met-mc >"$W/show.out"
check "gcksctl group show: the running gcksd's rekey lines after the policy" bash -c '
	grep -qE "^  last rekey [0-9TZ:-]+ \(requested\): GSA_REKEY message 0, 3 copies; next in [0-9]+[dhm][0-9]{2}[hms] \(lifetime\)$" "$1" &&
	grep -qxF "  registrations 1, refused 0; GSA_REKEY messages 1, copies 3" "$1"' _ "$W/show.out"
"$GCKSCTL" --db "$DB" --control "$CTL" --json group show keyid:met-mc >"$W/show.json"
check "gcksctl --json group show: the policy and the daemon's object of the group" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["group"] == "keyid:met-mc" and d["daemon"]["group"] == "keyid:met-mc", d
assert d["daemon"]["counters"]["rekey_copies"] == 3, d' "$W/show.json"
"$GCKSCTL" --db "$DB" --control "$W/none.sock" --json group show keyid:met-mc >"$W/show-nod.json"
check "... without gcksd: daemon is null" python3 -c '
import json, sys
assert json.load(open(sys.argv[1]))["daemon"] is None' "$W/show-nod.json"
rc=0
"$GCKSCTL" --db "$DB" --control "$W/none.sock" member list --behind keyid:met-mc >"$W/nod.out" 2>&1 || rc=$?
check "member list --behind without gcksd: exit 3, why" test "$rc:$(cat "$W/nod.out")" = \
	"3:gcksctl: --behind needs the running gcksd (control socket $W/none.sock)"
HEADER="MEMBER                               ROLE     FROM                     REGISTERED           SENDER-IDS TRANSPORT REKEY        LAST-SEEN"
check "member list --behind after a multicast rekey: nobody (no acknowledgement to miss)" \
	test "$("$GCKSCTL" --db "$DB" --control "$CTL" member list --behind keyid:met-mc)" = "$HEADER"

# --- inband: m2 registers and stays; one rekey acknowledged; one to a stopped member resent ---
"$GMD" --gcks "127.0.0.1:$port" --id keyid:m2 --psk-file "$W/keys/m2.psk" --group keyid:met-in \
	--sa-backend none --json >"$W/gmd-m2.json" 2>"$W/gmd-m2.log" &
m2pid=$!
pids+=("$m2pid")
if wait_for 20 grep -q '"event":"registered"' "$W/gmd-m2.json"; then
	ok "gmd m2 registers to the inband group and stays"
else
	not_ok "gmd m2 registers to the inband group and stays"
fi
scrape s3
ctl rekey keyid:met-in >/dev/null
check "m2 takes the inband rekey" wait_for 10 grep -q '"event":"inband_rekey"' "$W/gmd-m2.json"
scrape s4
check "an inband rekey: sent +1, acknowledged +1, failed 0, no retransmission" delta s3 s4 <<'EOF'
gikev2_gcks_inband_rekeys_sent_total{group="keyid:met-in"} 1
gikev2_gcks_inband_rekeys_acknowledged_total{group="keyid:met-in"} 1
gikev2_gcks_inband_rekeys_failed_total{group="keyid:met-in"} 0
gikev2_gcks_request_retransmissions_total 0
gikev2_gcks_rekey_messages_total{group="keyid:met-mc"} 0
EOF
kill -STOP "$m2pid"
ctl rekey keyid:met-in >/dev/null
check "a stopped member: the GSA_INBAND_REKEY is resent" \
	wait_for 5 grep -q "GSA_INBAND_REKEY message [0-9]* resent to keyid:m2 .*(retransmission 1 of 5)" "$W/gcksd.log"
scrape s5
"$GCKSCTL" --db "$DB" --control "$CTL" member list --behind keyid:met-in >"$W/behind.out"
check "member list --behind: m2, inband, its rekey pending, seen seconds ago" python3 - "$W/behind.out" "$HEADER" <<'EOF'
import re, sys
lines = open(sys.argv[1]).read().splitlines()
assert lines[0] == sys.argv[2], lines[0]
assert len(lines) == 2, lines
f = lines[1].split()
assert f[0] == 'keyid:m2' and f[1] == 'receiver' and re.fullmatch(r'127\.0\.0\.1:\d+', f[2]) and f[4] == '-', f
assert f[5:7] == ['inband', 'pending'] and re.fullmatch(r'[0-9]s', f[7]) and f[8] == 'ago', f
EOF
"$GCKSCTL" --db "$DB" --control "$CTL" --json member list keyid:met-in >"$W/members.json"
check "--json member list: transport, last_seen, rekey_acknowledged false, behind true" python3 -c '
import json, sys
(m,) = json.load(open(sys.argv[1]))
assert m["member"] == "keyid:m2" and m["transport"] == "inband" and m["rekey_acknowledged"] is False and m["behind"] is True, m
assert m["last_seen"].endswith("Z"), m' "$W/members.json"
check "... sent +1, not acknowledged, one retransmission" delta s4 s5 <<'EOF'
gikev2_gcks_inband_rekeys_sent_total{group="keyid:met-in"} 1
gikev2_gcks_inband_rekeys_acknowledged_total{group="keyid:met-in"} 0
gikev2_gcks_request_retransmissions_total 1
EOF
kill -CONT "$m2pid"
check "the member answers once it runs again" \
	wait_for 10 bash -c '[ "$(grep -c "\"event\":\"inband_rekey\"" "$1")" -ge 2 ]' _ "$W/gmd-m2.json"
scrape s6
check "member list --behind once it answered: nobody" \
	test "$("$GCKSCTL" --db "$DB" --control "$CTL" member list --behind keyid:met-in)" = "$HEADER"
check "member list: m2 acknowledged" bash -c '"$1" --db "$2" --control "$3" member list keyid:met-in | awk "NR == 2 { print \$6, \$7 }" | grep -qxF "inband acknowledged"' \
	_ "$GCKSCTL" "$DB" "$CTL"
# an exclusion of every member of the multicast group (evicting m3 from it): m1 is behind
# until it registers again
ctl evict keyid:met-mc keyid:m3 >/dev/null
check "after an exclusion, member list --behind: m1, excluded" bash -c '"$1" --db "$2" --control "$3" member list --behind keyid:met-mc | awk "NR == 2 { print \$1, \$6, \$7 }" | grep -qxF "keyid:m1 multicast excluded"' \
	_ "$GCKSCTL" "$DB" "$CTL"
check "... acknowledged +1 then" delta s5 s6 <<'EOF'
gikev2_gcks_inband_rekeys_acknowledged_total{group="keyid:met-in"} 1
EOF

# --- gcksctl status --watch as an operator sees it: on a terminal (script(1) gives it a pty) ---
# exec: script(1) runs the command with $SHELL or /bin/sh; dash would stay between script and
# gcksctl and take the SIGINT meant for gcksctl.
TERM=xterm script -qefc "exec $GCKSCTL --control $CTL status --watch" "$W/watch.tty" </dev/null >/dev/null 2>&1 &
spid=$!
pids+=("$spid")
check "status --watch on a terminal: a second frame after 2 s" \
	wait_for 10 bash -c '[ "$(grep -c "gcksctl status --watch: " "$1")" -ge 2 ]' _ "$W/watch.tty"
wpid=$(cat "/proc/$spid/task/$spid/children" 2>/dev/null | awk '{ print $1 }')
check "script's child is gcksctl itself" test -n "$wpid"
[ -n "$wpid" ] && kill -INT "$wpid"
# bounded: a watcher that ignored the signal must fail this check, not stall the suite
wait_for 5 bash -c '! kill -0 "$1" 2>/dev/null' _ "$spid" || kill -KILL "$spid" 2>/dev/null || true
rc=0
wait "$spid" || rc=$?
check "Ctrl-C (SIGINT) ends it with exit 0" test "$rc" = 0
check "each frame clears the screen and redraws the same view in place" python3 - "$W/watch.tty" <<'EOF'
import re, sys
raw = open(sys.argv[1], encoding='utf-8', errors='replace').read()
frames = raw.split('\x1b[H\x1b[2J')[1:]
assert len(frames) >= 2, len(frames)
screen = frames[-1].replace('\r', '').splitlines()
assert re.fullmatch(r'gcksctl status --watch: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ, every 2 s, Ctrl-C to stop', screen[0]), screen[0]
assert screen[1] == '', screen[1]
assert screen[2].startswith('gcksd up '), screen[2]
i = screen.index('keyid:met-in  rekey inband, members 1')
assert re.fullmatch(r'  last rekey \S+Z \(requested\): GSA_INBAND_REKEY to 1 member; next in \d+[dhm]\d\d[hms] \(lifetime\)', screen[i + 1]), screen[i + 1]
assert screen[i + 2] == '  registrations 1, refused 1; GSA_INBAND_REKEY sent 2, acknowledged 2, failed 0', screen[i + 2]
assert screen[i + 3].split() == ['SA', 'PROTOCOL', 'SPI', 'REMAINING', 'LIFETIME'], screen[i + 3]
# a fresh SA: every cell left, the rekey mark at 20 % of its lifetime
assert re.fullmatch(r'  chat +ESP +[0-9a-f]{8} +\d+[dhm]\d\d[hms] +\[####\|###############\]', screen[i + 4]), screen[i + 4]
EOF

# --- the endpoint under hostile input: exact status lines, gcksd unharmed ---
cat >"$W/raw.py" <<'EOF'
import os, socket, sys, time, urllib.request
PORT = int(os.environ['MPORT'])
def conn():
    return socket.create_connection(('127.0.0.1', PORT), timeout=10)
def drain(s):
    out = b''
    while True:
        b = s.recv(65536)
        if not b:
            return out
        out += b
def ask(data):
    s = conn()
    for chunk in data:
        s.sendall(chunk)
    return drain(s).split(b'\r\n', 1)[0].decode()
case = sys.argv[1]
if case == 'post':
    print(ask([b'POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n']))
elif case == 'path':
    print(ask([b'GET /debug HTTP/1.1\r\n\r\n']))
elif case == 'version':
    print(ask([b'GET /metrics HTTP/2.0\r\n\r\n']))
elif case == 'target':
    print(ask([b'GET /' + b'a' * 300]))
elif case == 'head':
    # exactly the 4096 octets gcksd reads, with no end of the head (more would be left
    # unread, and closing on unread data resets the connection before the answer is read)
    h = b'GET /metrics HTTP/1.1\r\nX-Pad: '
    print(ask([h + b'p' * (4096 - len(h))]))
elif case == 'garbage':
    print(ask([b'\x16\x03\x01\x00\xa5\x01\x00']))
elif case == 'head-method':
    s = conn()
    s.sendall(b'HEAD /metrics HTTP/1.1\r\n\r\n')
    head, _, body = drain(s).partition(b'\r\n\r\n')
    print(head.split(b'\r\n')[0].decode(), len(body))
elif case == 'flood':
    # 12 connections that send nothing: 8 are kept, the 4 beyond are closed unread
    socks = [conn() for _ in range(12)]
    closed = 0
    deadline = time.time() + 3
    for s in socks:
        s.settimeout(max(0.05, deadline - time.time()) if closed < 4 else 0.05)
        try:
            if s.recv(1) == b'':
                closed += 1
        except socket.timeout:
            pass
        except ConnectionResetError:
            closed += 1
    print(closed)
elif case == 'slow':
    # slowloris: 7 connections trickle a request; a scrape is served meanwhile; the trickler
    # gets 408 when its 5 s are up
    t0 = time.time()
    slow = [conn() for _ in range(7)]
    for s in slow:
        s.sendall(b'G')
    r = urllib.request.urlopen(f'http://127.0.0.1:{PORT}/metrics', timeout=10)
    print('scrape', r.status)
    s = slow[0]
    out = b''
    for ch in b'ET /metrics HTTP/1.1\r\n':
        s.settimeout(1)
        try:
            out += s.recv(65536)
            break
        except socket.timeout:
            pass
        try:
            s.sendall(bytes([ch]))
        except OSError:
            break
    s.settimeout(10)
    out += drain(s)
    print(out.split(b'\r\n', 1)[0].decode(), round(time.time() - t0))
EOF
raw() { python3 "$W/raw.py" "$1"; }
check "POST /metrics: 405 Method Not Allowed" test "$(raw post)" = "HTTP/1.1 405 Method Not Allowed"
check "GET /debug: 404 Not Found" test "$(raw path)" = "HTTP/1.1 404 Not Found"
check "HTTP/2.0: 505" test "$(raw version)" = "HTTP/1.1 505 HTTP Version Not Supported"
check "a target of 300 octets: 414 before its line ends" test "$(raw target)" = "HTTP/1.1 414 URI Too Long"
check "a head of 4 KiB without its end: 431" test "$(raw head)" = "HTTP/1.1 431 Request Header Fields Too Large"
check "TLS or other binary: 400" test "$(raw garbage)" = "HTTP/1.1 400 Bad Request"
check "HEAD /metrics: 200, no body" test "$(raw head-method)" = "HTTP/1.1 200 OK 0"
check "12 idle connections at once: the 4 beyond 8 are closed unread" test "$(raw flood)" = 4
raw slow >"$W/slow.out" 2>&1 || true
check "7 slow senders at once: a scrape is still served" grep -qxF "scrape 200" "$W/slow.out"
check "a byte a second: answered 408 Request Timeout after 5 s" \
	grep -qxE "HTTP/1.1 408 Request Timeout [56]" "$W/slow.out"
# Callers that close before their answer: gcksd's write meets a closed socket (EPIPE); it must
# not die of SIGPIPE. A burst on the control socket and on the metrics endpoint.
cat >"$W/hangup.py" <<'EOF2'
import os, socket, sys
for _ in range(30):
    c = socket.socket(socket.AF_UNIX)
    c.connect(sys.argv[1])
    c.sendall(b'status\n')
    c.close()
    t = socket.create_connection(('127.0.0.1', int(os.environ['MPORT'])), timeout=5)
    t.sendall(b'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n')
    t.close()
EOF2
timeout 30 python3 "$W/hangup.py" "$CTL" || true
check "30 control and 30 metrics callers that hang up before their answer: gcksd is still up" \
	wait_for 5 bash -c 'kill -0 "$1" && "$2" --control "$3" status >/dev/null' _ "$gpid" "$GCKSCTL" "$CTL"
check "gcksd is still up and scrapes still work" bash -c 'kill -0 "$1" && python3 "$2" s8' _ "$gpid" "$W/scrape.py"

# gcksd stops cleanly with a scrape connection open (its handles closed with the server)
python3 -c 'import os, socket, sys, time
s = socket.create_connection(("127.0.0.1", int(os.environ["MPORT"])))
s.sendall(b"GET /met")
print("connected", flush=True)
time.sleep(30)' >"$W/idle.out" 2>/dev/null &
idle=$!
pids+=("$idle")
wait_for 5 grep -q connected "$W/idle.out" || true
kill "$gpid"
wait_for 10 bash -c '! kill -0 "$1" 2>/dev/null' _ "$gpid" || kill -KILL "$gpid" 2>/dev/null || true
rc=0
wait "$gpid" 2>/dev/null || rc=$?
check "SIGTERM with a scrape connection open: gcksd exits 0" test "$rc" = 0
kill "$idle" 2>/dev/null || true
sanitizer_check "no sanitizer report from gcksd" "$W/gcksd.log"
[ "$fails" -eq 0 ]
