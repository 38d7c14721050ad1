#!/usr/bin/env bash
# Several key servers that lose their database fail closed (gcks/gcks_cluster.c states the
# bounds), and server ids are unique. Two gcksd (s1, s2) share one throwaway PostgreSQL
# (test/pg_cluster.sh), each through its own TCP relay (a python3 script below), so that one
# server's path to the database can be cut like a partition: SIGSTOP on its relay, and the
# packets vanish (no RST, no FIN: the kernel still takes them), SIGCONT heals it.
#   - a second gcksd under a live server's id refuses to start (exit 7, the id named); a server
#     killed with SIGKILL and started again at once under its id waits for its old heartbeat
#     to go stale and starts within a lease (6 s, plus slack);
#   - the leader L of a multicast group that is rekeyed every ~6 s is cut off: within 10 s
#     (bound 7.25 s, plus slack for a loaded machine) it logs "database lost", its metrics say
#     store_up 0, store_lost_total 1, group_leader 0, `gcksctl status` says the database is lost;
#     gmd --once aimed at it is refused with TEMPORARY_FAILURE (exit 2); it sends no GSA_REKEY
#     and registers nobody while cut off; the other server leads within 10 s of the cut and its
#     next GSA_REKEY continues the Message ID sequence;
#     while cut off its event loop keeps going: for 6 s (a whole reconnection attempt into
#     the silence) every metrics scrape is answered within 1 s;
#   - a policy load made while L is cut off reaches the other server at once, not L;
#   - healed, L says "database back" within 8 s, without a restart: status ok, store_up 1,
#     registrations accepted, the member whose IKE SA it holds gets the missed policy change
#     by GSA_INBAND_REKEY, and no GSA_REKEY comes from L (the other keeps the lease);
#   - PostgreSQL stopped under both (pg_ctl stop -m immediate): both fail closed (refusals,
#     store_up 0), then, PostgreSQL started again, both come back and rekeys go on;
#   - no SPI, Sender-ID or Rekey SA Message ID was issued twice (database and logs).
# Needs root (gcksd hands its files to its account), PostgreSQL (postgresql package), python3
# and openssl; skips otherwise (a failure with GK_REQUIRE_ALL=1).
set -uo pipefail

B=${GK_BUILDDIR:-$(pwd)}
here=$(cd "$(dirname "$0")" && pwd)
GCKSD=$B/gcks/gcksd GCKSCTL=$B/gcks/gcksctl GMD=$B/member/gmd
. "$here/tap.sh"
. "$here/../pg_cluster.sh"
grep -q '^#define HAVE_POSTGRESQL 1' "$B/config.h" 2>/dev/null ||
	skip "fail closed: this build has no PostgreSQL backend (configure --with-postgresql)"
pg_installed || skip "fail closed: PostgreSQL is not installed (apt-get install postgresql)"
[ "$(id -u)" = 0 ] || skip "fail closed: needs root (gcksd runs as its own account)"
for p in "$GCKSD" "$GCKSCTL" "$GMD"; do
	[ -x "$p" ] || { echo "not ok - $p is not built"; exit 99; }
done
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
unset GIKEV2_DB GIKEV2_CONTROL JOURNAL_STREAM

W=$(mktemp -d "${TMPDIR:-/tmp}/gk-failclosed.XXXXXX")
chmod 755 "$W"
export W
declare -A gpid rpid port mport rport
fails=0
cleanup() {
	local p
	for p in "${rpid[@]}"; do kill -CONT "$p" 2>/dev/null; kill "$p" 2>/dev/null; done
	for p in "${gpid[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${gpid[@]}" "${rpid[@]}"; do wait "$p" 2>/dev/null; done
	pg_cluster_stop
	[ "$fails" -ne 0 ] && show_logs "$W"/*.log "$W"/*.out
	rm -rf "$W"
}
trap cleanup EXIT

pg_cluster_start || { echo "not ok - the throwaway PostgreSQL cluster did not start"; exit 1; }
DB=$PG_LOCATOR


# ---- the relays: one process per server, every connection to PostgreSQL through it ----
cat >"$W/relay.py" <<'EOF'
import os, selectors, socket, sys
portfile, upstream = sys.argv[1], int(sys.argv[2])
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(('127.0.0.1', 0))
ls.listen(64)
with open(portfile + '.tmp', 'w') as f:
    f.write(str(ls.getsockname()[1]))
os.rename(portfile + '.tmp', portfile)
sel = selectors.DefaultSelector()
sel.register(ls, selectors.EVENT_READ)
peer = {}
def close(s):
    for x in (s, peer.pop(s, None)):
        if x is not None:
            peer.pop(x, None)
            try:
                sel.unregister(x)
            except (KeyError, ValueError):
                pass
            x.close()
while True:
    for key, _ in sel.select():
        s = key.fileobj
        if s is ls:
            c, _ = ls.accept()
            try:
                u = socket.create_connection(('127.0.0.1', upstream), timeout=5)
                u.settimeout(None)
            except OSError:
                c.close()
                continue
            peer[c], peer[u] = u, c
            sel.register(c, selectors.EVENT_READ)
            sel.register(u, selectors.EVENT_READ)
            continue
        if s not in peer:
            continue
        try:
            d = s.recv(65536)
            if d:
                peer[s].sendall(d)
        except OSError:
            d = b''
        if not d:
            close(s)
EOF
for s in s1 s2; do
	python3 "$W/relay.py" "$W/relay-$s.port" "$PG_PORT" 2>"$W/relay-$s.log" &
	rpid[$s]=$!
	wait_for 10 test -s "$W/relay-$s.port" || { not_ok "the relay of $s starts"; exit 1; }
	rport[$s]=$(cat "$W/relay-$s.port")
	port[$s]=$(free_port)
	mport[$s]=$(free_port SOCK_STREAM)
done

mkdir -p "$W/keys"
for m in m1 m2; do (umask 077 && printf '0x%s\n' "$(openssl rand -hex 32)" >"$W/keys/$m.psk"); done
cat >"$W/policy.yaml" <<'EOF'
groups:
  - id: keyid:in-1
    rekey:
      transport: inband
    sas:
      - name: data
        destination: 239.192.4.1
        ip-protocol: udp
        ports: 7000
        lifetime: 1h
    members:
      - id: fqdn:m1.example.net
        psk-file: keys/m1.psk
      - id: fqdn:m2.example.net
        psk-file: keys/m2.psk
  - id: keyid:mc-1
    rekey-margin: 90%
    rekey:
      transport: multicast
      key-wrap: kw-5649-256
      address: 239.192.4.9
      port: 848
      ttl: 1
      lifetime: 30d
    sas:
      - name: video
        destination: 239.192.4.2
        ip-protocol: udp
        ports: 7002
        lifetime: 1m
    members:
      - id: fqdn:m1.example.net
        psk-file: keys/m1.psk
EOF
check "gcksctl init and policy load on PostgreSQL" \
	sh -c "'$GCKSCTL' --db '$DB' init --id fqdn:gcks.example >'$W/init.out' 2>&1 && '$GCKSCTL' --db '$DB' policy load '$W/policy.yaml' >>'$W/init.out' 2>&1"

start_gcksd() { # start_gcksd NAME: through its relay; log NAME.log; waits for "gcksd ready"
	local log=$W/$1.log n
	n=$(grep -c 'gcksd ready' "$log" 2>/dev/null)
	"$GCKSD" --db "postgresql://postgres@127.0.0.1:${rport[$1]}/gikev2" --listen "127.0.0.1:${port[$1]}" \
		--control "$W/$1.sock" --metrics "${mport[$1]}" --server-id "$1" --foreground --log-level info 2>>"$log" &
	gpid[$1]=$!
	for _ in $(seq 150); do
		[ "$(grep -c 'gcksd ready' "$log" 2>/dev/null)" -gt "${n:-0}" ] && return 0
		kill -0 "${gpid[$1]}" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
for s in s1 s2; do
	start_gcksd "$s" || { not_ok "gcksd $s starts on PostgreSQL through its relay"; exit 1; }
done
ok "two gcksd (s1, s2) on one PostgreSQL database, each through its own relay"

cat >"$W/ck.py" <<'EOF'
import json, os, re, subprocess, sys, time, urllib.request
W = os.environ['W']
CTL = os.environ['GCKSCTL']
def status(s):
    r = subprocess.run([CTL, '--control', f'{W}/{s}.sock', '--json', 'status'], capture_output=True, text=True,
                       timeout=20)
    assert r.returncode == 0, (s, r.stdout, r.stderr)
    return json.loads(r.stdout)
def leader(s, group):
    return [g for g in status(s)['groups'] if g['group'] == group][0]['leader']
def metrics(s):
    port = os.environ['MPORT_' + s]
    body = urllib.request.urlopen(f'http://127.0.0.1:{port}/metrics', timeout=10).read().decode()
    out = {}
    for line in body.splitlines():
        if line and not line.startswith('#'):
            k, v = line.rsplit(' ', 1)
            out[k] = float(v)
    return out
def log(s):
    with open(f'{W}/{s}.log', errors='replace') as f:
        return f.read().splitlines()
def msgids(group, s=None, lines=None):
    """Message IDs of the GSA_REKEYs server s (every server when None) made for group."""
    out = []
    for srv in ((s,) if s else ('s1', 's2')):
        for l in (lines if lines is not None else log(srv)):
            m = re.search(r'group (\S+) rekeyed \([^)]*\): GSA_REKEY message (\d+)', l)
            if m and m.group(1) == group:
                out.append(int(m.group(2)))
    return out
def wait(fn, timeout):
    end = time.time() + timeout
    while True:
        try:
            return fn()
        except AssertionError:
            if time.time() > end:
                raise
            time.sleep(0.1)
def gmd_once(s, m='m1', group='keyid:in-1'):
    """gmd --once --json to server s alone: (exit code, the group's JSON result)."""
    r = subprocess.run([os.environ['GMD'], '--gcks', f"127.0.0.1:{os.environ['PORT_' + s]}", '--once', '--json',
                        '--id', f'fqdn:{m}.example.net', '--psk-file', f'{W}/keys/{m}.psk', '--group', group,
                        '--sa-backend', 'none', '--retransmit', '200:3'], capture_output=True, text=True, timeout=40)
    doc = json.loads(r.stdout) if r.stdout.strip() else {}
    res = [g for g in doc.get('groups', []) if g.get('group') == group]
    return r.returncode, (res[0] if res else doc)
def events(m, kind, skip=0):
    out = []
    with open(f'{W}/{m}.json') as f:
        for line in f.read().splitlines()[skip:]:
            if line.strip():
                e = json.loads(line)
                if e['event'] == kind:
                    out.append(e)
    return out
def need(cond, what=''):
    assert cond, what
    return cond
def since(s, mark):
    """Lines of s's log after the line count saved in mark."""
    return log(s)[int(open(f'{W}/{mark}').read()):]
def save(s, mark):
    open(f'{W}/{mark}', 'w').write(str(len(log(s))))
exec(compile(sys.stdin.read(), 'check', 'exec'))
EOF
export GCKSCTL GMD MPORT_s1=${mport[s1]} MPORT_s2=${mport[s2]} PORT_s1=${port[s1]} PORT_s2=${port[s2]}
pyck() { check "$1" timeout 120 python3 "$W/ck.py"; }

pyck "both servers alive and the same leader of keyid:mc-1; metrics: store_up 1, store_lost_total 0, one leader" <<'EOF'
def same():
    ls = {leader(s, 'keyid:mc-1') for s in ('s1', 's2')}
    assert len(ls) == 1 and ls <= {'s1', 's2'}, ls
    for s in ('s1', 's2'):
        st = status(s)
        assert st['database'] == 'ok' and sorted(x['id'] for x in st['servers'] if x['alive']) == ['s1', 's2'], st
    m = {s: metrics(s) for s in ('s1', 's2')}
    for s in ('s1', 's2'):
        assert m[s]['gikev2_gcks_store_up'] == 1 and m[s]['gikev2_gcks_store_lost_total'] == 0, m[s]
    lead = [m[s]['gikev2_gcks_group_leader{group="keyid:mc-1"}'] for s in ('s1', 's2')]
    assert sorted(lead) == [0, 1], lead
    assert {s for s in ('s1', 's2') if m[s]['gikev2_gcks_group_leader{group="keyid:mc-1"}'] == 1} == ls, (lead, ls)
wait(same, 15)
EOF

# ---- server ids: a live one's id is refused, a crashed one's taken back within a lease ----
p3=$(free_port)
t0=$(date +%s%N)
timeout 30 "$GCKSD" --db "$DB" --listen "127.0.0.1:$p3" --control "$W/dup.sock" --server-id s1 --foreground \
	--log-level info 2>"$W/dup.log"
rc=$?
took=$((($(date +%s%N) - t0) / 1000000))
check "a second gcksd under s1's id while s1 lives: exit 7 within 10 s (took $took ms), the id named" \
	sh -c "[ $rc = 7 ] && [ $took -le 10000 ] && grep -q 'server id s1 is in use by another live gcksd on this database' '$W/dup.log' && ! grep -q 'gcksd ready' '$W/dup.log'"
check "s1 went on undisturbed (no database lost)" sh -c "! grep -q 'database lost' '$W/s1.log'"
kill -KILL "${gpid[s2]}"
wait "${gpid[s2]}" 2>/dev/null
t0=$(date +%s%N)
start_gcksd s2
rc=$?
took=$((($(date +%s%N) - t0) / 1000000))
check "s2 killed with SIGKILL and started again at once under its id: it waits for its old heartbeat and is ready within 9 s (took $took ms)" \
	sh -c "[ $rc = 0 ] && [ $took -le 9000 ] && grep -q 'server id s2: a gcksd under this id beat' '$W/s2.log'"

# ---- the leader of keyid:mc-1 cut off from the database ----
L=$(timeout 60 python3 "$W/ck.py" <<<"print(wait(lambda: need(leader('s1', 'keyid:mc-1') in ('s1', 's2')) and leader('s1', 'keyid:mc-1'), 15))")
case $L in s1) O=s2 ;; s2) O=s1 ;; *) not_ok "a leader of keyid:mc-1 (got '$L')"; exit 1 ;; esac
export L O
"$GMD" --gcks "127.0.0.1:${port[$L]}" --id fqdn:m1.example.net --psk-file "$W/keys/m1.psk" --group keyid:in-1 \
	--json --sa-backend none --log-level info >"$W/m1.json" 2>"$W/gmd-m1.log" &
gpid[m1]=$!
pyck "member m1 registers to keyid:in-1 on $L (its IKE SA kept for inband rekeys)" <<'EOF'
wait(lambda: need(events('m1', 'registered'), 'not yet'), 20)
EOF
pyck "the leader $L sends GSA_REKEYs of keyid:mc-1 before the cut" <<'EOF'
wait(lambda: need(msgids('keyid:mc-1', os.environ['L']), 'none yet'), 15)
EOF
python3 "$W/ck.py" <<<"save(os.environ['L'], 'mark-cut'); open(f'{W}/mark-m1', 'w').write(str(len(open(f'{W}/m1.json').readlines())))"
export before_max
before_max=$(python3 "$W/ck.py" <<<"print(max(msgids('keyid:mc-1')))")
kill -STOP "${rpid[$L]}"
export tcut
tcut=$(date +%s.%N)
pyck "$L cut off (its relay stopped): it logs 'database lost' within 10 s (bound 7.25 s)" <<'EOF'
L = os.environ['L']
def gone():
    ls = [l for l in since(L, 'mark-cut') if 'database lost' in l]
    assert ls, 'not yet'
    return ls[0]
line = wait(gone, 10)
took = time.time() - float(os.environ['tcut'])
assert took <= 10, took
assert 'no keys issued and no rekeys sent until it is back' in line, line
open(f'{W}/took', 'w').write(f'{took:.1f}')
EOF
echo "# $L: database lost $(cat "$W/took" 2>/dev/null) s after the cut"
pyck "$L cut off: status says the database is lost, metrics store_up 0, store_lost_total 1, group_leader 0" <<'EOF'
L = os.environ['L']
st = status(L)
assert st['database'] == 'lost', st
assert [g['leader'] for g in st['groups'] if g['group'] == 'keyid:mc-1'] == [None], st['groups']
m = metrics(L)
assert m['gikev2_gcks_store_up'] == 0, m['gikev2_gcks_store_up']
assert m['gikev2_gcks_store_lost_total'] == 1, m['gikev2_gcks_store_lost_total']
assert m['gikev2_gcks_group_leader{group="keyid:mc-1"}'] == 0
assert m['gikev2_gcks_group_leader{group="keyid:in-1"}'] == 0
EOF
pyck "$L cut off: gmd --once aimed at it is refused with TEMPORARY_FAILURE (exit 2), and its log says why" <<'EOF'
L = os.environ['L']
t0 = time.time()
rc, res = gmd_once(L, 'm2')
took = time.time() - t0
assert rc == 2 and res.get('error') == 'TEMPORARY_FAILURE', (rc, res)
assert took < 3, took
assert any('TEMPORARY_FAILURE' in l and 'lost its database' in l for l in since(L, 'mark-cut')), 'no refusal logged'
m = metrics(L)
assert m['gikev2_gcks_registrations_total{group="keyid:in-1",result="refused",notify="TEMPORARY_FAILURE"}'] == 1
EOF
pyck "$O leads keyid:mc-1 within 10 s of the cut and its next GSA_REKEY continues the Message ID sequence" <<'EOF'
O = os.environ['O']
def led():
    assert leader(O, 'keyid:mc-1') == O
wait(led, 10)
took = time.time() - float(os.environ['tcut'])
assert took <= 10.5, took
def rekeyed():
    new = [i for i in msgids('keyid:mc-1', O) if i > int(os.environ['before_max'])]
    assert new, 'no GSA_REKEY from the new leader yet'
    return new
new = wait(rekeyed, 12)
assert min(new) == int(os.environ['before_max']) + 1, (new, os.environ['before_max'])
assert metrics(O)['gikev2_gcks_group_leader{group="keyid:mc-1"}'] == 1
EOF
pyck "$L cut off: for 6 s its event loop answers every metrics scrape within 1 s, store_up 0 throughout" <<'EOF'
L = os.environ['L']
end = time.time() + 6
while time.time() < end:
    t0 = time.time()
    up = metrics(L)['gikev2_gcks_store_up']
    assert time.time() - t0 < 1, time.time() - t0
    assert up == 0, up
    time.sleep(0.2)
EOF
sed 's/lifetime: 1h/lifetime: 2h/' "$W/policy.yaml" >"$W/policy2.yaml"
check "gcksctl policy load of a new TEK lifetime while $L is cut off (on the database)" \
	"$GCKSCTL" --db "$DB" --control "$W/none.sock" policy load "$W/policy2.yaml"
pyck "the change reaches $O at once, not $L: m1 (on $L) has no GSA_INBAND_REKEY yet" <<'EOF'
O = os.environ['O']
wait(lambda: need(any('changed on another server: gcksctl keyid:in-1' in l for l in log(O)), 'no notice'), 10)
time.sleep(1)
assert not events('m1', 'inband_rekey', int(open(f'{W}/mark-m1').read())), 'rekeyed while cut off'
EOF
pyck "$L, still cut off, sent no GSA_REKEY and registered nobody since the cut" <<'EOF'
L = os.environ['L']
lines = since(L, 'mark-cut')
lost = [i for i, l in enumerate(lines) if 'database lost' in l][0]
after = lines[lost + 1:]
assert not msgids('keyid:mc-1', L, after), [l for l in after if 'GSA_REKEY' in l]
# The remaining copies of a GSA_REKEY sent before the loss still go out (RFC 9838 2.4.1.3: the
# same message, its Message ID taken under the lease): nothing new, and members that missed the
# first copy still get it.
cut = int(open(f'{W}/mark-cut').read())
before = set(re.findall(r'GSA_REKEY message (\d+) sent to', '\n'.join(log(L)[:cut + lost + 1])))
def new_rekey(l):
    m = re.search(r'GSA_REKEY message (\d+) resent to .* \(copy \d+ of \d+\)', l)
    return 'GSA_REKEY message' in l and not (m and m.group(1) in before)
assert not [l for l in after if ' registered to ' in l or new_rekey(l)], after
assert not [l for l in lines if 'database back' in l], 'back while cut off'
EOF

# ---- healed: L comes back without a restart ----
python3 "$W/ck.py" <<<"save(os.environ['L'], 'mark-heal'); save(os.environ['O'], 'mark-heal-o')"
kill -CONT "${rpid[$L]}"
export theal
theal=$(date +%s.%N)
pyck "$L healed: 'database back' within 8 s, then it reads the groups again: m1 gets the policy change it missed by GSA_INBAND_REKEY from $L" <<'EOF'
L = os.environ['L']
wait(lambda: need(any('database back' in l for l in since(L, 'mark-heal')), 'not yet'), 8)
open(f'{W}/took', 'w').write(f'{time.time() - float(os.environ["theal"]):.1f}')
# before any registration, which would read the group's generation and reload it anyway
wait(lambda: need(events('m1', 'inband_rekey', int(open(f'{W}/mark-m1').read())), 'no GSA_INBAND_REKEY'), 10)
assert not events('m1', 'ike_sa_dead'), 'm1 lost its IKE SA'
# from the reload at "database back", not from the next notice of another server (its rekeys
# of keyid:mc-1 make this server read every group too)
lines = since(L, 'mark-heal')
rekeyed = [i for i, l in enumerate(lines) if 'group keyid:in-1 rekeyed (policy changed)' in l]
notice = [i for i, l in enumerate(lines) if 'changed on another server' in l] + [len(lines)]
assert rekeyed and rekeyed[0] < notice[0], lines
EOF
pyck "$L healed: status ok, store_up 1, store_lost_total still 1; registrations accepted" <<'EOF'
L = os.environ['L']
assert status(L)['database'] == 'ok'
m = metrics(L)
assert m['gikev2_gcks_store_up'] == 1 and m['gikev2_gcks_store_lost_total'] == 1, m
rc, res = gmd_once(L)
assert rc == 0 and res.get('status') == 'registered', (rc, res)
assert any(' registered to keyid:in-1' in l for l in since(L, 'mark-heal')), 'no registration logged'
EOF
echo "# $L: database back $(cat "$W/took" 2>/dev/null) s after the heal"
pyck "$L healed sends no stale GSA_REKEY: $O keeps the lease and rekeys on, $L none" <<'EOF'
L, O = os.environ['L'], os.environ['O']
def more():
    assert msgids('keyid:mc-1', O, since(O, 'mark-heal-o')), f'no GSA_REKEY from {O} since the heal'
wait(more, 12)
assert not msgids('keyid:mc-1', L, since(L, 'mark-heal')), 'GSA_REKEY from the healed server'
assert leader(L, 'keyid:mc-1') == O
EOF

# ---- PostgreSQL itself stopped under both servers, then started again ----
for s in s1 s2; do python3 "$W/ck.py" <<<"save('$s', 'mark-stop-$s')"; done
pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" stop -m immediate >/dev/null 2>&1
pyck "PostgreSQL stopped: both servers log 'database lost' within 10 s, status lost, store_up 0, and refuse registrations with TEMPORARY_FAILURE" <<'EOF'
for s in ('s1', 's2'):
    wait(lambda: need(any('database lost' in l for l in since(s, f'mark-stop-{s}')), s), 10)
for s in ('s1', 's2'):
    assert status(s)['database'] == 'lost', s
    m = metrics(s)
    assert m['gikev2_gcks_store_up'] == 0, (s, m['gikev2_gcks_store_up'])
    assert m['gikev2_gcks_group_leader{group="keyid:mc-1"}'] == 0, s
    rc, res = gmd_once(s, 'm2')
    assert rc == 2 and res.get('error') == 'TEMPORARY_FAILURE', (s, rc, res)
lost = {s: metrics(s)['gikev2_gcks_store_lost_total'] for s in ('s1', 's2')}
assert lost == {os.environ['L']: 2, os.environ['O']: 1}, lost
EOF
for s in s1 s2; do python3 "$W/ck.py" <<<"save('$s', 'mark-start-$s')"; done
pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -w -t 60 -l "$PG_DIR/run/pg.log" \
	-o "-p $PG_PORT -k $PG_DIR/run -c listen_addresses=127.0.0.1 -c fsync=${PG_FSYNC:-off} -c max_connections=100" \
	start >/dev/null 2>&1
check "PostgreSQL starts again on its port" pg_psql gikev2 "SELECT 1"
pyck "PostgreSQL back: both servers log 'database back' within 8 s, accept registrations, one leads and rekeys go on" <<'EOF'
for s in ('s1', 's2'):
    wait(lambda: need(any('database back' in l for l in since(s, f'mark-start-{s}')), s), 8)
for s in ('s1', 's2'):
    assert status(s)['database'] == 'ok', s
    assert metrics(s)['gikev2_gcks_store_up'] == 1, s
    rc, res = gmd_once(s, 'm2')
    assert rc == 0 and res.get('status') == 'registered', (s, rc, res)
def one_leader():
    lead = [metrics(s)['gikev2_gcks_group_leader{group="keyid:mc-1"}'] for s in ('s1', 's2')]
    assert sorted(lead) == [0, 1], lead
wait(one_leader, 10)
def rekeyed():
    assert any(msgids('keyid:mc-1', s, since(s, f'mark-start-{s}')) for s in ('s1', 's2')), 'no GSA_REKEY yet'
wait(rekeyed, 12)
EOF

# ---- nothing issued twice ----
pyck "no Rekey SA Message ID of keyid:mc-1 was issued twice (servers' logs)" <<'EOF'
ids = msgids('keyid:mc-1')
assert len(ids) >= 3 and len(ids) == len(set(ids)), sorted(ids)
EOF
dups=$(pg_psql gikev2 "SELECT count(*) FROM (SELECT spi FROM sa_keys GROUP BY spi HAVING count(*) > 1) d")
check "no SPI issued twice in the database (got $dups duplicates)" test "$dups" = 0
dups=$(pg_psql gikev2 "SELECT count(*) FROM (SELECT group_id, sender_id_first FROM registrations WHERE sender_id_count > 0 GROUP BY 1, 2 HAVING count(*) > 1) d")
check "no Sender-ID issued twice in the database (got $dups duplicates)" test "$dups" = 0
sanitizer_check "no sanitizer report in the logs" "$W"/*.log
[ "$fails" -eq 0 ]
