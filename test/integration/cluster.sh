#!/usr/bin/env bash
# Several key servers on one PostgreSQL (a throwaway cluster, test/pg_cluster.sh): three gcksd on
# loopback ports share one database, three gmd of an inband group register, each to the first
# key server of its own --gcks list, so the registrations spread over the servers:
#   - every server is alive in every server's `gcksctl status`, and all name the same leader
#     for each group;
#   - a policy load (gcksctl on the database, no control socket) reaches every member, each by
#     GSA_INBAND_REKEY from its own server (LISTEN/NOTIFY);
#   - the leader of a multicast group whose TEK is replaced every ~6 s (lifetime 1m, margin 90%)
#     is killed with SIGKILL at random points, again and again (GK_CLUSTER_KILLS, default 3):
#     each time another server leads within the bound (lease 6 s, renewed every 2 s: 8 s, plus
#     2 s of slack for a loaded machine) and goes on rekeying; the killed one comes back;
#   - the member whose key server was killed finds the next one on its --gcks list after its
#     liveness check fails, registers there and keeps its installed SAs meanwhile;
#   - in the database and the servers' logs, no SPI, Rekey SA Message ID or Sender-ID was
#     issued twice.
# Needs root (gcksd hands its files to its account), PostgreSQL (postgresql package), python3
# and openssl; skips otherwise (a failure with GK_REQUIRE_ALL=1).
set -uo pipefail

B=${GK_BUILDDIR:-$(pwd)}
here=$(cd "$(dirname "$0")" && pwd)
GCKSD=$B/gcks/gcksd GCKSCTL=$B/gcks/gcksctl GMD=$B/member/gmd
. "$here/tap.sh"
. "$here/../pg_cluster.sh"
grep -q '^#define HAVE_POSTGRESQL 1' "$B/config.h" 2>/dev/null ||
	skip "several key servers: this build has no PostgreSQL backend (configure --with-postgresql)"
pg_installed || skip "several key servers: PostgreSQL is not installed (apt-get install postgresql)"
for p in "$GCKSD" "$GCKSCTL" "$GMD"; do
	[ -x "$p" ] || { echo "not ok - $p is not built"; exit 99; }
done
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
KILLS=${GK_CLUSTER_KILLS:-3}

W=$(mktemp -d "${TMPDIR:-/tmp}/gk-cluster.XXXXXX")
chmod 755 "$W"
export W
declare -A gpid
mpids=""
fails=0
cleanup() {
	local p
	for p in "${gpid[@]}" $mpids; do kill "$p" 2>/dev/null || true; done
	for p in "${gpid[@]}" $mpids; do wait "$p" 2>/dev/null || true; done
	pg_cluster_stop
	if [ "$fails" -ne 0 ]; then
		for f in "$W"/*.log "$W"/*.json; do
			[ -f "$f" ] || continue
			echo "# ---- $(basename "$f") (last 30 lines)"
			tail -n 30 "$f" | sed 's/^/# /'
		done
	fi
	rm -rf "$W"
}
trap cleanup EXIT

pg_cluster_start || { echo "not ok - the throwaway PostgreSQL cluster did not start"; exit 1; }
DB=$PG_LOCATOR

freeport() {
	python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
declare -A port
for s in s1 s2 s3; do port[$s]=$(freeport); done

mkdir -p "$W/keys"
for m in m1 m2 m3; do (umask 077 && printf '0x%s\n' "$(openssl rand -hex 32)" >"$W/keys/$m.psk"); done
policy() { # policy LIFETIME: the inband group's TEK lifetime (a change is a rekey)
	cat <<EOF
groups:
  - id: keyid:in-1
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
        lifetime: $1
    members:
      - id: fqdn:m1.example.net
        psk-file: keys/m1.psk
      - id: fqdn:m2.example.net
        psk-file: keys/m2.psk
      - id: fqdn:m3.example.net
        psk-file: keys/m3.psk
  - id: keyid:mc-1
    rekey-margin: 90%
    rekey:
      transport: multicast
      encryption: aes-gcm-16
      key-length: 256
      key-wrap: kw-5649-256
      address: 239.192.3.9
      port: 848
      ttl: 1
      lifetime: 30d
    sas:
      - name: video
        protocol: esp
        encryption: aes-gcm-16
        key-length: 256
        destination: 239.192.3.2
        ip-protocol: udp
        ports: 7002
        lifetime: 1m
    members:
      - id: fqdn:m1.example.net
        psk-file: keys/m1.psk
EOF
}
policy 1h >"$W/policy.yaml"
check "gcksctl init and policy load on PostgreSQL" \
	sh -c "'$GCKSCTL' --db '$DB' init --id fqdn:gcks.example >'$W/init.log' 2>&1 && '$GCKSCTL' --db '$DB' policy load '$W/policy.yaml' >>'$W/init.log' 2>&1"

start_gcksd() { # start_gcksd NAME: server id NAME, its own port and control socket; log NAME.log
	local log=$W/$1.log n
	n=$(grep -c 'gcksd ready' "$log" 2>/dev/null)
	"$GCKSD" --db "$DB" --listen "127.0.0.1:${port[$1]}" --control "$W/$1.sock" --server-id "$1" \
		--foreground --log-level info 2>>"$log" &
	gpid[$1]=$!
	for _ in $(seq 150); do
		[ "$(grep -c 'gcksd ready' "$log" 2>/dev/null)" -gt "${n:-0}" ] && return 0
		kill -0 "${gpid[$1]}" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
for s in s1 s2 s3; do
	start_gcksd "$s" || { not_ok "gcksd $s starts on PostgreSQL"; exit 1; }
done
ok "three gcksd (s1, s2, s3) on one PostgreSQL database"

cat >"$W/ck.py" <<'EOF'
import json, os, re, subprocess, sys, time
W = os.environ['W']
CTL = os.environ['GCKSCTL']
def status(s):
    r = subprocess.run([CTL, '--control', f'{W}/{s}.sock', '--json', 'status'], capture_output=True, text=True)
    assert r.returncode == 0, (s, r.stdout, r.stderr)
    return json.loads(r.stdout)
def leader(s, group):
    return [g for g in status(s)['groups'] if g['group'] == group][0]['leader']
def events(m, kind=None, since=0):
    out = []
    with open(f'{W}/{m}.json') as f:
        for line in f.readlines()[since:]:
            line = line.strip()
            if line:
                e = json.loads(line)
                if kind is None or e['event'] == kind or (isinstance(kind, tuple) and e['event'] in kind):
                    out.append(e)
    return out
def count(m):
    with open(f'{W}/{m}.json') as f:
        return len(f.readlines())
def wait(fn, timeout):
    end = time.time() + timeout
    while True:
        try:
            return fn()
        except AssertionError:
            if time.time() > end:
                raise
            time.sleep(0.1)
def msgids(group):
    """(server, Message ID) of every GSA_REKEY the servers' logs say they made for group."""
    out = []
    for s in ('s1', 's2', 's3'):
        with open(f'{W}/{s}.log', errors='replace') as f:
            for l in f:
                m = re.search(r'group (\S+) rekeyed \([^)]*\): GSA_REKEY message (\d+)', l)
                if m and m.group(1) == group:
                    out.append((s, int(m.group(2))))
    return out
exec(compile(sys.stdin.read(), 'check', 'exec'))
EOF
export GCKSCTL
pyck() { check "$1" python3 "$W/ck.py"; }
alive_servers() { python3 "$W/ck.py" <<<"print(' '.join(s for s in ('s1','s2','s3') if os.path.exists(f'{W}/{s}.alive')))"; }

pyck "every server sees the three alive and names the same leader of each group" <<'EOF'
def same():
    for s in ('s1', 's2', 's3'):
        st = status(s)
        assert st['server'] == s and st['database'] == 'ok', st
        alive = sorted(x['id'] for x in st['servers'] if x['alive'])
        assert alive == ['s1', 's2', 's3'], (s, st['servers'])
    for g in ('keyid:in-1', 'keyid:mc-1'):
        ls = {leader(s, g) for s in ('s1', 's2', 's3')}
        assert len(ls) == 1 and None not in ls, (g, ls)
wait(same, 15)
EOF

# each member asks its own server first: m1 s1, m2 s2, m3 s3
declare -A first=([m1]=s1 [m2]=s2 [m3]=s3)
start_gmd() {
	local m=$1 a b c
	case $m in m1) a=s1 b=s2 c=s3 ;; m2) a=s2 b=s3 c=s1 ;; m3) a=s3 b=s1 c=s2 ;; esac
	"$GMD" --gcks "127.0.0.1:${port[$a]}" --gcks "127.0.0.1:${port[$b]}" --gcks "127.0.0.1:${port[$c]}" \
		--id "fqdn:$m.example.net" --psk-file "$W/keys/$m.psk" --group keyid:in-1 --json --sa-backend none \
		--log-level info --liveness 1 --retry 1:4 --retransmit 200:2 >"$W/$m.json" 2>"$W/gmd-$m.log" &
	mpids="$mpids $!"
}
for m in m1 m2 m3; do start_gmd "$m"; done
pyck "the registrations spread over the servers: one IKE SA on each" <<'EOF'
def spread():
    for m in ('m1', 'm2', 'm3'):
        assert events(m, 'registered'), f'{m} not registered yet'
    n = [status(s)['ike_sas_established'] for s in ('s1', 's2', 's3')]
    assert n == [1, 1, 1], n
wait(spread, 20)
EOF

# ---- a policy load on the database reaches the members of every server ----
python3 "$W/ck.py" <<<"[open(f'{W}/mark-{m}', 'w').write(str(count(m))) for m in ('m1', 'm2', 'm3')]"
policy 2h >"$W/policy.yaml"
check "gcksctl policy load of a new TEK lifetime, on the database alone (no control socket)" \
	"$GCKSCTL" --db "$DB" --control "$W/none.sock" policy load "$W/policy.yaml"
pyck "every member gets the new keys by GSA_INBAND_REKEY from its own server" <<'EOF'
def got():
    for m in ('m1', 'm2', 'm3'):
        s = int(open(f'{W}/mark-{m}').read())
        assert events(m, 'inband_rekey', s), f'{m}: {[e["event"] for e in events(m, since=s)]}'
wait(got, 15)
for s, m in (('s1', 'm1'), ('s2', 'm2'), ('s3', 'm3')):
    text = open(f'{W}/{s}.log', errors='replace').read()
    assert 'changed on another server: gcksctl keyid:in-1' in text, s
EOF

# ---- the multicast group's leader killed at random points, KILLS times ----
for s in s1 s2 s3; do touch "$W/$s.alive"; done
for i in $(seq "$KILLS"); do
	L=$(python3 "$W/ck.py" <<<"print(leader('s1' if os.path.exists(f'{W}/s1.alive') else 's2', 'keyid:mc-1'))")
	case $L in s1|s2|s3) ;; *) not_ok "kill $i: a leader of keyid:mc-1 before the kill (got $L)"; break ;; esac
	sleep "$(python3 -c 'import random; print(round(random.uniform(0, 6), 2))')"
	kill -KILL "${gpid[$L]}"
	wait "${gpid[$L]}" 2>/dev/null
	rm -f "$W/$L.alive"
	t0=$(date +%s.%N)
	export L t0
	pyck "kill $i: $L (the leader of keyid:mc-1) killed with SIGKILL; another server leads within 10 s and rekeys on" <<'EOF'
L = os.environ['L']
t0 = float(os.environ['t0'])
others = [s for s in ('s1', 's2', 's3') if s != L and os.path.exists(f'{W}/{s}.alive')]
before = {s: sum(1 for x in msgids('keyid:mc-1') if x[0] == s) for s in ('s1', 's2', 's3')}
def led():
    ls = {leader(s, 'keyid:mc-1') for s in others}
    assert len(ls) == 1 and ls != {None} and ls != {L}, ls
    return ls.pop()
new = wait(led, 10)
took = time.time() - t0
assert took <= 10, took
def rekeyed():
    after = sum(1 for x in msgids('keyid:mc-1') if x[0] == new)
    assert after > before[new], f'no GSA_REKEY from {new} yet'
wait(rekeyed, 10)
open(f'{W}/took', 'w').write(f'{new} leads {took:.1f} s after the kill')
EOF
	[ -f "$W/took" ] && echo "# kill $i: $(cat "$W/took")" && rm -f "$W/took"
	start_gcksd "$L" || { not_ok "kill $i: $L starts again"; break; }
	touch "$W/$L.alive"
done

# ---- members: the one whose server went away moved on and kept its SAs ----
pyck "members whose server was killed found another on their --gcks list and kept their current SAs" <<'EOF'
def kept():
    moved = 0
    for m in ('m1', 'm2', 'm3'):
        ev = events(m)
        assert not events(m, ('group_lost', 'excluded')), (m, ev)
        moved += len(events(m, 'ike_sa_dead')) > 0
        # only an SA a rekey had replaced may go (at the next registration, which no longer
        # lists it); the newest SA is never taken out for a lost key server
        newest = None
        for e in ev:
            if e['event'] == 'sa_added':
                newest = e['spi']
            if e['event'] == 'sa_deleted':
                assert e['spi'] != newest, (m, 'deleted its current SA', ev)
        assert len(events(m, 'registered')) >= 1 + len(events(m, 'ike_sa_dead')), (m, 'not registered again yet')
    assert moved >= 1, 'no member lost its key server'
wait(kept, 20)
EOF

# ---- nothing issued twice ----
pyck "no Rekey SA Message ID of keyid:mc-1 was issued twice (servers' logs), and some were issued by each leader" <<'EOF'
ids = msgids('keyid:mc-1')
assert len(ids) >= 2, ids
n = [i for _, i in ids]
assert len(n) == len(set(n)), sorted(n)
EOF
dups=$(pg_psql gikev2 "SELECT count(*) FROM (SELECT spi FROM sa_keys GROUP BY spi HAVING count(*) > 1) d")
check "no SPI issued twice in the database (got $dups duplicates)" test "$dups" = 0
dups=$(pg_psql gikev2 "SELECT count(*) FROM (SELECT group_id, sender_id_first FROM registrations WHERE sender_id_count > 0 GROUP BY 1, 2 HAVING count(*) > 1) d")
check "no Sender-ID issued twice in the database (got $dups duplicates)" test "$dups" = 0
sanitizer_check "no sanitizer report in the logs" "$W"/*.log
[ "$fails" -eq 0 ]
