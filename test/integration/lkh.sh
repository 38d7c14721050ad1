#!/usr/bin/env bash
# Integration test of LKH eviction (RFC 9838 Appendix A) with real gcksd and gmd processes and
# real multicast between network namespaces: a switch (a bridge), the GCKS (10.98.0.1) and three
# members (10.98.0.11-13), each on the bridge by a veth pair with 224.0.0.0/4 routed to it. One
# group, keyid:lkh-1, with `rekey: key-management: lkh`:
#   - the three register (each gets its key path, RFC 9838 A.2);
#   - `gcksctl evict keyid:lkh-1 fqdn:m3.test` sends one GSA_REKEY through the key tree and one
#     more with the new Data-Security SA under the new Rekey SA: m1 and m2 take both and the same
#     new SA without registering again, m3 finds no Key Path and excludes itself;
#   - the next `gcksctl rekey` reaches m1 and m2 (still without registering again) and not m3;
#   - m3 registers again and is refused (it is no longer in the policy), holding no keys;
#   - gcksd killed with SIGKILL and restarted on the same database: the tree is in the store, so
#     `gcksctl rekey` and another eviction (m2) still reach m1 without a registration.
# Needs root (exits 77 otherwise), iproute2 and python3; programs from GK_BUILDDIR, else the
# current directory. Prints one line per check (ok - / not ok -); exit 0 when all pass.
set -euo pipefail

B=${GK_BUILDDIR:-$(pwd)}
GCKSD=$B/gcks/gcksd GCKSCTL=$B/gcks/gcksctl GMD=$B/member/gmd
. "$(dirname "$0")/tap.sh"

[ "$(id -u)" = 0 ] || skip "lkh.sh needs root to make network namespaces (ip netns add) with multicast between them"
command -v ip >/dev/null || skip "iproute2 (ip) is not installed"
command -v python3 >/dev/null || { echo "not ok - python3 is needed (tools/deps installs it)"; exit 99; }
for p in "$GCKSD" "$GCKSCTL" "$GMD"; do
	[ -x "$p" ] || { echo "not ok - $p is not built"; exit 99; }
done
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

W=$(mktemp -d "${TMPDIR:-/tmp}/gk-lkh.XXXXXX")
P=gklkh$$
export W P GCKSCTL PYTHONPATH="$W"
NODES="g m1 m2 m3"
declare -A ADDR=([g]=10.98.0.1 [m1]=10.98.0.11 [m2]=10.98.0.12 [m3]=10.98.0.13)
declare -A PIDS=()
gcksd_pid=
fails=0

cleanup() {
	local p
	for p in ${PIDS[@]+"${PIDS[@]}"} $gcksd_pid; do kill "$p" 2>/dev/null || true; done
	for p in ${PIDS[@]+"${PIDS[@]}"} $gcksd_pid; do wait "$p" 2>/dev/null || true; done
	for n in sw $NODES; do ip netns del "$P-$n" 2>/dev/null || true; done
	if [ "$fails" -ne 0 ]; then
		for f in "$W"/*.log "$W"/*.out; do
			[ -f "$f" ] || continue
			echo "# ---- $(basename "$f") (last 30 lines)"
			tail -n 30 "$f" | sed 's/^/# /'
		done
	fi
	if [ "${GK_KEEP:-0}" = 1 ]; then echo "# work directory kept: $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT

pyck() {
	local desc=$1
	if (cd "$W" && python3 - >"$W/check.out" 2>&1); then
		ok "$desc"
		[ -s "$W/check.out" ] && sed 's/^/#   /' "$W/check.out"
		return 0
	fi
	not_ok "$desc"
	sed 's/^/#   /' "$W/check.out"
	return 1
}
ctl() { "$GCKSCTL" --db "$W/gcks.db" --control "$W/gcksd.sock" --json "$@"; }
mark() { python3 -c "import ck; ck.mark('$1')"; }

cat >"$W/ck.py" <<'EOF'
import json, os, time
W = os.environ['W']
MEMBERS = ['m1', 'm2', 'm3']

def _lines(path):
    try:
        with open(path, 'rb') as f:
            data = f.read().decode('utf-8', 'replace')
    except FileNotFoundError:
        return []
    return data.split('\n')[:-1]

def mark(name):
    m = {f[:-4]: len(_lines(f'{W}/{f}')) for f in os.listdir(W) if f.endswith('.out')}
    with open(f'{W}/mark-{name}.json', 'w') as f:
        json.dump(m, f)

def events(m, since=None, kind=None):
    lines = _lines(f'{W}/{m}.out')
    if since:
        with open(f'{W}/mark-{since}.json') as f:
            lines = lines[json.load(f).get(m, 0):]
    out = []
    for l in lines:
        if l.startswith('{'):
            e = json.loads(l)
            if kind is None or e.get('event') in ((kind,) if isinstance(kind, str) else kind):
                out.append(e)
    return out

def held(m):
    h = {}
    for e in events(m, kind=('sa_added', 'sa_deleted')):
        if e.get('protocol') == 'ESP':
            if e['event'] == 'sa_added':
                h[e['spi']] = e.get('keymat_sha256')
            else:
                h.pop(e['spi'], None)
    return h

def wait(fn, timeout, step=0.1):
    end = time.time() + timeout
    while True:
        try:
            return fn()
        except AssertionError:
            if time.time() > end:
                raise
        time.sleep(step)

def new_sa(m, since):
    adds = [e for e in events(m, since, 'sa_added') if e.get('protocol') == 'ESP']
    assert adds, f'{m}: no new ESP SA yet'
    return adds[-1]['spi'], adds[-1].get('keymat_sha256')

def followed(members, since, n):
    """Each member took n GSA_REKEY since the mark, registered no more and was not excluded;
    they agree on the newest SA."""
    sas = set()
    for m in members:
        acc = events(m, since, 'rekey_accepted')
        assert len(acc) >= n, f'{m}: {len(acc)} rekey_accepted, not {n}'
        assert not events(m, since, ('registered', 'excluded', 'reregistering')), \
            f'{m}: {[e["event"] for e in events(m, since)]}'
        sas.add(new_sa(m, since))
    assert len(sas) == 1, f'members disagree: {sas}'
    return sas.pop()
EOF

# ---- network ----

ip netns add "$P-sw" 2>"$W/netns.err" || skip "cannot make network namespaces here: $(cat "$W/netns.err")"
ip -n "$P-sw" link set lo up
ip -n "$P-sw" link add br0 type bridge
ip -n "$P-sw" link set br0 type bridge mcast_snooping 0
ip -n "$P-sw" link set br0 up
for n in $NODES; do
	ip netns add "$P-$n"
	ip -n "$P-sw" link add "v$n" type veth peer name eth0 netns "$P-$n"
	ip -n "$P-sw" link set "v$n" master br0 up
	ip -n "$P-$n" link set lo up
	ip -n "$P-$n" addr add "${ADDR[$n]}/24" dev eth0
	ip -n "$P-$n" link set eth0 up
	ip -n "$P-$n" route add 224.0.0.0/4 dev eth0
done
for _ in $(seq 50); do
	ip netns exec "$P-m1" ping -c1 -W1 10.98.0.1 >/dev/null 2>&1 && break
	sleep 0.1
done

# ---- GCKS ----

for m in m1 m2 m3; do
	( umask 077; printf 'lkh-test-psk-%s-%s\n' "$m" "$(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')" >"$W/$m.psk" )
done
{
	cat <<'YAML'
id: keyid:lkh-1
activation-delay: 1s
deactivation-delay: 2s
rekey:
  transport: multicast
  key-wrap: kw-5649-256
  key-management: lkh
  degree: 2
  address: 239.193.0.1
  port: 1848
  copies: 2
  interval: 200ms
  interface: eth0
sas:
  - name: video
    encryption: aes-gcm-16
    source: 10.98.0.50
    destination: 239.193.1.1
    ip-protocol: udp
    ports: 5004
members:
YAML
	for m in m1 m2 m3; do printf '  - id: fqdn:%s.test\n    psk-file: %s.psk\n' "$m" "$m"; done
} >"$W/lkh.yaml"
"$GCKSCTL" --db "$W/gcks.db" init --id fqdn:gcks.test >"$W/init.log" 2>&1
"$GCKSCTL" --db "$W/gcks.db" policy load "$W/lkh.yaml" >"$W/policy.log" 2>&1 ||
	{ not_ok "gcksctl policy load"; cat "$W/policy.log"; exit 1; }

start_gcksd() {
	rm -f "$W/gcksd.sock"
	ip netns exec "$P-g" "$GCKSD" --db "$W/gcks.db" --listen 10.98.0.1:848 --control "$W/gcksd.sock" \
		--foreground >>"$W/gcksd.log" 2>&1 &
	gcksd_pid=$!
	for _ in $(seq 100); do [ -S "$W/gcksd.sock" ] && return 0; sleep 0.05; done
	return 1
}
start_gcksd || { not_ok "gcksd starts"; exit 1; }

for m in m1 m2 m3; do
	ip netns exec "$P-$m" "$GMD" --gcks 10.98.0.1:848 --id "fqdn:$m.test" --group keyid:lkh-1 --psk-file "$W/$m.psk" \
		--json --sa-backend none --mcast-iface eth0 --rereg-delay 2 >"$W/$m.out" 2>"$W/$m.log" &
	PIDS[$m]=$!
done

pyck "three members registered to keyid:lkh-1 with the same SA" <<'EOF' || true
from ck import *
def registered():
    for m in MEMBERS:
        assert events(m, kind='registered'), f'{m} not registered yet'
    hs = [held(m) for m in MEMBERS]
    assert hs[0] and all(h == hs[0] for h in hs), hs
wait(registered, 20)
EOF

# ---- eviction of m3 through the key tree ----

mark evict1
python3 -c "import ck, json; json.dump(list(ck.held('m1')), open(ck.W + '/held-evict1.json', 'w'))"
ctl evict keyid:lkh-1 fqdn:m3.test >"$W/evict.out" 2>&1 || true
pyck "gcksctl evict m3 answers ok: evicted through the key tree, the others keep their registrations" <<'EOF' || true
from ck import *
r = json.loads(open(f'{W}/evict.out').read())
assert r['ok'] is True, r
assert 'through the key tree' in r['message'], r['message']
print(r['message'])
EOF
pyck "m1 and m2 follow the eviction's two GSA_REKEY (new Rekey SA, then new SA) without registering again" <<'EOF' || true
from ck import *
old = json.load(open(f'{W}/held-evict1.json'))
spi = wait(lambda: followed(['m1', 'm2'], 'evict1', 2), 10)
assert spi[0] not in old, 'no new SA'
print(f'new SA {spi[0]}')
EOF
pyck "m3 finds no Key Path to the new Rekey SA key and excludes itself" <<'EOF' || true
from ck import *
def excluded():
    ex = events('m3', 'evict1', 'excluded')
    assert ex, 'm3 not excluded yet'
    return ex
ex = wait(excluded, 10)
assert not events('m3', 'evict1', 'rekey_accepted'), 'm3 took a GSA_REKEY'
print(ex[0])
EOF

mark rekey1
ctl rekey keyid:lkh-1 >"$W/rekey1.out" 2>&1 || true
pyck "the next gcksctl rekey reaches m1 and m2, still without a registration, and not m3" <<'EOF' || true
from ck import *
wait(lambda: followed(['m1', 'm2'], 'rekey1', 1), 10)
assert not events('m3', 'rekey1', 'rekey_accepted'), 'm3 took it'
EOF
pyck "m3's registration is refused (no longer in the policy) and it holds no keys of the group" <<'EOF' || true
from ck import *
def refused():
    ev = events('m3', 'evict1', ('group_lost', 'registration_refused', 'registration_failed'))
    assert ev, 'no refusal reported by m3 yet'
    return ev
ev = wait(refused, 15)
assert any('FAILED' in json.dumps(e) for e in ev), ev
assert not events('m3', 'evict1', 'registered'), 'm3 registered again'
assert held('m3') == {}, held('m3')
print(ev[0])
EOF

# ---- restart: the tree is in the store ----

kill -KILL "$gcksd_pid" 2>/dev/null || true
wait "$gcksd_pid" 2>/dev/null || true
gcksd_pid=
start_gcksd || not_ok "gcksd restarts on the same database"
mark restart
ctl rekey keyid:lkh-1 >"$W/rekey2.out" 2>&1 || true
pyck "after a SIGKILL and restart, gcksctl rekey reaches m1 and m2 without a registration" <<'EOF' || true
from ck import *
wait(lambda: followed(['m1', 'm2'], 'restart', 1), 10)
EOF
mark evict2
ctl evict keyid:lkh-1 fqdn:m2.test >"$W/evict2.out" 2>&1 || true
pyck "after the restart an eviction of m2 through the stored tree reaches m1 without a registration; m2 excludes itself" <<'EOF' || true
from ck import *
wait(lambda: followed(['m1'], 'evict2', 2), 10)
def excluded():
    assert events('m2', 'evict2', 'excluded'), 'm2 not excluded yet'
wait(excluded, 10)
assert not events('m2', 'evict2', 'rekey_accepted'), 'm2 took a GSA_REKEY'
EOF

kill -TERM "$gcksd_pid" 2>/dev/null || true
rc=0
wait "$gcksd_pid" 2>/dev/null || rc=$?
gcksd_pid=
[ "$rc" = 0 ] && ok "gcksd exits 0 on SIGTERM" || not_ok "gcksd exits 0 on SIGTERM (rc $rc)"
for k in "${!PIDS[@]}"; do kill -TERM "${PIDS[$k]}" 2>/dev/null || true; wait "${PIDS[$k]}" 2>/dev/null || true; done
PIDS=()
sanitizer_check "no sanitizer report in the logs of gcksd and gmd" "$W"/*.log
[ "$fails" -eq 0 ]
