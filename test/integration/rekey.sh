#!/usr/bin/env bash
# Integration test of group rekeying, with real multicast between network namespaces.
# The test makes its own namespaces: a switch (a bridge), the GCKS (10.97.0.1), three members
# (10.97.0.11-13) and a spy (10.97.0.99) that captures the GSA_REKEY datagrams and injects
# forged ones; each hangs on the bridge by a veth pair, with 224.0.0.0/4 routed to it. One gcksd,
# and one gmd (--json --sa-backend none) per member and group. Every check reads gmd's JSON
# events and gcksctl, not gcksd's log:
#   - video-1 (multicast): `gcksctl rekey` moves all three members to the same new SA (SPI and
#     keymat_sha256, as gcksctl status reports it); the copies are bitwise identical; the old SA
#     goes after the deactivation delay, not before;
#   - v6-1 (multicast over IPv6, ff15::97:1): the GSA_REKEY reaches all three over IPv6;
#   - frag-1 (multicast, fragment-mtu 576, six SAs): the rekey goes out as SKF fragments and
#     every member accepts it;
#   - sched-1 (multicast, 1m lifetime, 90% margin): the lifetime scheduler rekeys under one Rekey
#     SA with increasing Message IDs; then a replayed message (old Message ID), a captured one
#     with a flipped byte, two truncated ones, one signed with another key (built by rekey_forge
#     under the real Rekey SA read from the database) and an unsigned one are all rejected and
#     change nothing: the next scheduled rekey is still accepted;
#   - sched-1, a rogue member's GSA_REKEY datagrams on the announced next Rekey SA (GSA_NEXT_SPI):
#     each member re-registers once for the first five, not at all for five more;
#   - sched-1, a GSA_REKEY signed with the GCKS's key whose new SA names 0.0.0.0/0: refused whole;
#   - chat-1 (inband): rekey by GSA_INBAND_REKEY to all three; `gcksctl evict` of m3: m1 and m2
#     get new keys inband, m3 nothing;
#   - video-1 eviction of m3: everyone is excluded, m1 and m2 re-register and hold the new keys,
#     m3's re-registration is refused (AUTHORIZATION_FAILED) and gcksctl says that forward access
#     control for multicast groups needs LKH;
#   - gcksd killed with SIGKILL and restarted on the same database: members keep their SAs, the
#     scheduler's next GSA_REKEY under the same Rekey SA has a greater Message ID and is
#     accepted, and `gcksctl rekey` is accepted under the Rekey SA the last message announced.
#   - policy changes loaded while gcksd runs (frag-1): new Rekey SA transforms and key wrap and a
#     new SA cipher reach every member under the Rekey SA they hold; multicast -> inband ->
#     multicast rekey transport: members are excluded, re-register, and follow the new transport;
#     m3 removed from the policy: everyone excluded, m1 and m2 get new keys, m3 is refused.
# Needs root (exits 77 otherwise), iproute2, python3 and sqlite3; programs from GK_BUILDDIR,
# else the current directory. Prints one line per check (ok - / not ok -); exit 0 when all pass.
set -euo pipefail

B=${GK_BUILDDIR:-$(pwd)}
S=${GK_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
GCKSD=$B/gcks/gcksd GCKSCTL=$B/gcks/gcksctl GMD=$B/member/gmd FORGE=$B/test/integration/rekey_forge
. "$(dirname "$0")/tap.sh"

[ "$(id -u)" = 0 ] || skip "rekey.sh needs root to make network namespaces (ip netns add) with multicast between them"
command -v ip >/dev/null || skip "iproute2 (ip) is not installed"
for t in python3 sqlite3 timeout; do
	command -v "$t" >/dev/null || { echo "not ok - $t is needed (tools/deps installs it)"; exit 99; }
done
for p in "$GCKSD" "$GCKSCTL" "$GMD" "$FORGE"; do
	[ -x "$p" ] || { echo "not ok - $p is not built"; exit 99; }
done
# Sanitizer builds: leaks count too, and a report must end the process.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

W=$(mktemp -d "${TMPDIR:-/tmp}/gk-rekey.XXXXXX")
P=gkrk$$
export W P GCKSCTL FORGE PYTHONPATH="$W"
NODES="g m1 m2 m3 spy"
declare -A ADDR=([g]=10.97.0.1 [m1]=10.97.0.11 [m2]=10.97.0.12 [m3]=10.97.0.13 [spy]=10.97.0.99)
declare -A PIDS=()
gcksd_pid=
spy_pid=
fails=0
t_start=$(date +%s)

cleanup() {
	local p
	for p in ${PIDS[@]+"${PIDS[@]}"} $gcksd_pid $spy_pid; do kill "$p" 2>/dev/null || true; done
	for p in ${PIDS[@]+"${PIDS[@]}"} $gcksd_pid $spy_pid; do wait "$p" 2>/dev/null || true; done
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

# pyck DESC <<'EOF' python EOF: the helpers of ck.py are in scope; an exception fails the check.
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
# (background processes are started with `ip netns exec` itself, which execs them: $! is theirs)
nsx() { local n=$1; shift; ip netns exec "$P-$n" "$@"; }
# mark NAME: remembers how many event lines each gmd has written so far
mark() { python3 -c "import ck; ck.mark('$1')"; }

# ---- helpers in python ----

cat >"$W/ck.py" <<'EOF'
import json, os, subprocess, sys, time
W = os.environ['W']
MEMBERS = ['m1', 'm2', 'm3']
GROUPS = {'video': 'keyid:video-1', 'sched': 'keyid:sched-1', 'chat': 'keyid:chat-1', 'frag': 'keyid:frag-1',
          'v6': 'keyid:v6-1'}
PORTS = {'video': 1848, 'sched': 1849, 'frag': 1850}
GCKS_ADDR = '10.97.0.1'

def _lines(path):
    try:
        with open(path, 'rb') as f:
            data = f.read().decode('utf-8', 'replace')
    except FileNotFoundError:
        return []
    return data.split('\n')[:-1]  # complete lines only

def mark(name):
    m = {}
    for f in os.listdir(W):
        if f.endswith('.out'):
            m[f[:-4]] = len(_lines(f'{W}/{f}'))
    with open(f'{W}/mark-{name}.json', 'w') as f:
        json.dump(m, f)

def events(inst, since=None, kind=None):
    """gmd instance inst's JSON events (after mark `since`), of one kind or a tuple of kinds."""
    lines = _lines(f'{W}/{inst}.out')
    if since:
        with open(f'{W}/mark-{since}.json') as f:
            lines = lines[json.load(f).get(inst, 0):]
    out = []
    for l in lines:
        if not l.startswith('{'):
            continue
        e = json.loads(l)
        if kind is None or e.get('event') in ((kind,) if isinstance(kind, str) else kind):
            out.append(e)
    return out

def held(inst):
    """ESP SAs the member holds now: SPI -> keymat_sha256, from sa_added / sa_deleted."""
    h = {}
    for e in events(inst, kind=('sa_added', 'sa_deleted')):
        if e.get('protocol') != 'ESP':
            continue
        if e['event'] == 'sa_added':
            h[e['spi']] = e.get('keymat_sha256')
        else:
            h.pop(e['spi'], None)
    return h

def rekey_sa(inst):
    """The Rekey SA the member holds: (SPI, initial Message ID or None after a rekey)."""
    cur = None
    for e in events(inst, kind=('registered', 'rekey_sa_replaced')):
        if e['event'] == 'registered':
            r = e['state'].get('rekey_sa')
            cur = (r['spi'], r['initial_message_id']) if r else None
        else:
            cur = (e['spi'], 0)
    return cur

def wait(fn, timeout, step=0.1):
    """Calls fn until it does not raise AssertionError; returns its value."""
    end = time.time() + timeout
    while True:
        try:
            return fn()
        except AssertionError:
            if time.time() > end:
                raise
        time.sleep(step)

def ctl(*args):
    r = subprocess.run([os.environ['GCKSCTL'], '--db', f'{W}/gcks.db', '--control', f'{W}/gcksd.sock', '--json', *args],
                       capture_output=True, text=True)
    assert r.returncode == 0, f'gcksctl {" ".join(args)}: rc {r.returncode}: {r.stdout} {r.stderr}'
    return r.stdout

def status_spis(group):
    """What gcksd says the group's SAs are: protocol -> [SPI, ...]."""
    st = json.loads(ctl('status'))
    for g in st['groups']:
        if g['group'] == GROUPS[group]:
            out = {}
            for sa in g['sas']:
                out.setdefault(sa['protocol'], []).append(sa['spi'])
            return out
    raise AssertionError(f'{GROUPS[group]} not in gcksctl status')

def spy(port=None, src=GCKS_ADDR):
    """Datagrams the spy captured: dicts t, src, port, data (bytes) and the IKE header fields."""
    out = []
    for l in _lines(f'{W}/spy.jsonl'):
        d = json.loads(l)
        if (port and d['port'] != port) or (src and d['src'] != src):
            continue
        b = bytes.fromhex(d['hex'])
        d['data'] = b
        if len(b) >= 28:
            d['spi'] = b[:16].hex()
            d['np'] = b[16]
            d['exch'] = b[18]
            d['msgid'] = int.from_bytes(b[20:24], 'big')
        out.append(d)
    return out

def inject(port, group_addr, datagrams, gap=0.15):
    """Sends datagrams (bytes) to the rekey group from the spy's namespace."""
    hexes = [d.hex() for d in datagrams]
    r = subprocess.run(['ip', 'netns', 'exec', os.environ['P'] + '-spy', 'python3', f'{W}/inject.py',
                        group_addr, str(port), str(gap), *hexes], capture_output=True, text=True)
    assert r.returncode == 0, f'inject: {r.stderr}'

def save(key, value):
    s = load_all()
    s[key] = value
    with open(f'{W}/state.json', 'w') as f:
        json.dump(s, f)

def load_all():
    try:
        with open(f'{W}/state.json') as f:
            return json.load(f)
    except FileNotFoundError:
        return {}

def load(key):
    return load_all()[key]

def load_summary(path):
    """The JSON document gcksctl --json policy load wrote (its warnings share the file)."""
    for line in open(path):
        if line.startswith('{'):
            return json.loads(line)
    raise AssertionError(open(path).read())

def same_new_sas(group, since, old, count, via='rekey_accepted', fields=('keymat_sha256',)):
    """Every member reported `via` since the mark and added the same `count` new ESP SAs (not
    in `old`): SPI -> the tuple of `fields` of their sa_added events."""
    news = []
    for m in MEMBERS:
        assert events(f'{group}-{m}', since, via), f'{group}-{m}: no {via}'
        new = {e['spi']: tuple(e.get(f) for f in fields)
               for e in events(f'{group}-{m}', since, 'sa_added') if e['spi'] not in old}
        assert len(new) == count, f'{group}-{m}: {len(new)} new SAs'
        news.append(new)
    assert all(n == news[0] for n in news), f'members disagree: {news}'
    return news[0]

def reregistered(group, since):
    """Every member was excluded since the mark and registered again: member -> its new state."""
    out = {}
    for m in MEMBERS:
        assert events(f'{group}-{m}', since, 'excluded'), f'{group}-{m} not excluded'
        reg = events(f'{group}-{m}', since, 'registered')
        assert reg, f'{group}-{m} not registered again'
        out[m] = reg[-1]['state']
    return out

def same_new_sa(group, since, old, members=MEMBERS, kind='sa_added'):
    """Every member added the same one new ESP SA since the mark (not one of `old`): its SPI
    and keymat_sha256."""
    seen = {}
    for m in members:
        adds = [e for e in events(f'{group}-{m}', since, kind) if e.get('protocol') == 'ESP' and e['spi'] not in old]
        assert adds, f'{group}-{m}: no new ESP SA yet'
        assert len(adds) == 1, f'{group}-{m}: {len(adds)} new ESP SAs: {adds}'
        seen[m] = (adds[0]['spi'], adds[0].get('keymat_sha256'))
    vals = set(seen.values())
    assert len(vals) == 1, f'members disagree: {seen}'
    spi, km = vals.pop()
    assert km, 'no keymat_sha256'
    return spi, km
EOF

cat >"$W/spy.py" <<'EOF'
# Captures GSA_REKEY datagrams sent to the rekey groups, one JSON line each.
import json, select, socket, struct, sys, time
out = open(sys.argv[1], 'a', buffering=1)
socks = []
for spec in sys.argv[2:]:
    addr, port = spec.split(':')
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, int(port)))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                 struct.pack('4s4s', socket.inet_aton(addr), socket.inet_aton('10.97.0.99')))
    socks.append((s, int(port)))
print('ready', flush=True)
while True:
    r, _, _ = select.select([s for s, _ in socks], [], [])
    for s, port in socks:
        if s in r:
            data, src = s.recvfrom(65535)
            out.write(json.dumps({'t': time.time(), 'src': src[0], 'port': port, 'hex': data.hex()}) + '\n')
EOF

cat >"$W/inject.py" <<'EOF'
import socket, sys, time
addr, port, gap = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
for h in sys.argv[4:]:
    s.sendto(bytes.fromhex(h), (addr, port))
    time.sleep(gap)
EOF

# ---- network: a bridge in its own namespace, every node on it by a veth pair ----

ip netns add "$P-sw" 2>"$W/netns.err" || skip "cannot make network namespaces here: $(cat "$W/netns.err")"
ip -n "$P-sw" link set lo up
ip -n "$P-sw" link add br0 type bridge
# no IGMP snooping: the bridge floods multicast to every port, as a plain switch would
ip -n "$P-sw" link set br0 type bridge mcast_snooping 0
ip -n "$P-sw" link set br0 up
for n in $NODES; do
	ip netns add "$P-$n"
	ip -n "$P-sw" link add "v$n" type veth peer name eth0 netns "$P-$n"
	ip -n "$P-sw" link set "v$n" master br0 up
	ip -n "$P-$n" link set lo up
	ip -n "$P-$n" addr add "${ADDR[$n]}/24" dev eth0
	ip -n "$P-$n" addr add "fd97::${ADDR[$n]##*.}/64" dev eth0 nodad
	ip -n "$P-$n" link set eth0 up
	ip -n "$P-$n" route add 224.0.0.0/4 dev eth0
done
# wait for the links (and DAD-free IPv4) to be usable
for _ in $(seq 50); do
	nsx m1 ping -c1 -W1 10.97.0.1 >/dev/null 2>&1 && break
	sleep 0.1
done

# ---- GCKS database and policy ----

for m in m1 m2 m3; do
	( umask 077; printf 'rekey-test-psk-%s-%s\n' "$m" "$(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')" >"$W/$m.psk" )
done
members_yaml() {
	local m
	for m in m1 m2 m3; do printf '      - id: fqdn:%s.test\n        psk-file: %s.psk\n' "$m" "$m"; done
}
{
	cat <<'YAML'
groups:
  - id: keyid:video-1
    activation-delay: 1s
    deactivation-delay: 6s  # wide enough that a loaded machine still sees the old SA kept
    rekey:
      transport: multicast
      key-wrap: kw-5649-256
      address: 239.192.0.1
      port: 1848
      copies: 2
      interval: 200ms
      interface: eth0
    sas:
      - name: video
        encryption: aes-gcm-16
        source: 10.97.0.50
        destination: 239.192.1.1
        ip-protocol: udp
        ports: 5004
    members:
YAML
	members_yaml
	cat <<'YAML'
  - id: keyid:sched-1
    activation-delay: 1s
    deactivation-delay: 1s
    rekey-margin: 90%
    rekey:
      transport: multicast
      key-wrap: kw-5649-256
      address: 239.192.0.2
      port: 1849
      copies: 2
      interval: 200ms
    sas:
      - name: sched
        encryption: aes-gcm-16
        source: 10.97.0.50
        destination: 239.192.1.2
        ip-protocol: udp
        ports: 5004
        lifetime: 1m
    members:
YAML
	members_yaml
	cat <<'YAML'
  - id: keyid:chat-1
    activation-delay: 1s
    deactivation-delay: 2s
    sas:
      - name: chat
        encryption: aes-cbc
        integrity: hmac-sha2-256-128
        source: 10.97.0.0/24
        destination: 239.192.1.3
        ip-protocol: udp
        ports: 5006
    members:
YAML
	members_yaml
	cat <<'YAML'
  - id: keyid:frag-1
    activation-delay: 1s
    deactivation-delay: 2s
    rekey:
      transport: multicast
      key-wrap: kw-5649-256
      address: 239.192.0.3
      port: 1850
      copies: 2
      interval: 200ms
      fragment-mtu: 576
    sas:
YAML
	for i in 0 1 2 3 4 5; do
		printf '      - name: f%s\n        encryption: aes-gcm-16\n        source: 10.97.0.50\n' "$i"
		printf '        destination: 239.192.2.%s\n        ip-protocol: udp\n        ports: 600%s\n' "$i" "$i"
	done
	echo "    members:"
	members_yaml
	cat <<'YAML'
  - id: keyid:v6-1
    activation-delay: 1s
    deactivation-delay: 1s
    rekey:
      transport: multicast
      key-wrap: kw-5649-256
      address: ff15::97:1
      port: 1851
      copies: 2
      interval: 200ms
      interface: eth0
    sas:
      - name: v6video
        encryption: aes-gcm-16
        source: fd97::50
        destination: ff15::97:2
        ip-protocol: udp
        ports: 5004
    members:
YAML
	members_yaml
} >"$W/groups.yaml"

"$GCKSCTL" --db "$W/gcks.db" init --id fqdn:gcks.test >"$W/init.log" 2>&1
"$GCKSCTL" --db "$W/gcks.db" policy load "$W/groups.yaml" >"$W/policy.log" 2>&1 ||
	{ not_ok "gcksctl policy load"; cat "$W/policy.log"; exit 1; }

start_gcksd() {
	rm -f "$W/gcksd.sock"
	ip netns exec "$P-g" "$GCKSD" --db "$W/gcks.db" --listen 10.97.0.1:848 --control "$W/gcksd.sock" \
		--foreground >>"$W/gcksd.log" 2>&1 &
	gcksd_pid=$!
	for _ in $(seq 100); do [ -S "$W/gcksd.sock" ] && return 0; sleep 0.05; done
	return 1
}
start_gcksd || { not_ok "gcksd starts"; exit 1; }

ip netns exec "$P-spy" python3 "$W/spy.py" "$W/spy.jsonl" 239.192.0.1:1848 239.192.0.2:1849 239.192.0.3:1850 \
	>"$W/spy.log" 2>&1 &
spy_pid=$!
for _ in $(seq 50); do grep -q ready "$W/spy.log" 2>/dev/null && break; sleep 0.1; done

for grp in video sched chat frag v6; do
	for m in m1 m2 m3; do
		ip netns exec "$P-$m" "$GMD" --gcks 10.97.0.1:848 --id "fqdn:$m.test" --group "keyid:$grp-1" --psk-file "$W/$m.psk" \
			--json --sa-backend none --mcast-iface eth0 --rereg-delay 3 >"$W/$grp-$m.out" 2>"$W/$grp-$m.log" &
		PIDS[$grp-$m]=$!
	done
done

# ---- registration ----

pyck "three members registered to each of video-1, sched-1, chat-1 and frag-1, with the same SAs" <<'EOF' || true
from ck import *
def registered():
    for g in GROUPS:
        for m in MEMBERS:
            assert events(f'{g}-{m}', kind='registered'), f'{g}-{m} not registered yet'
        hs = [held(f'{g}-{m}') for m in MEMBERS]
        assert hs[0] and all(h == hs[0] for h in hs), f'{g}: members hold {hs}'
        want = 6 if g == 'frag' else 1
        assert len(hs[0]) == want, f'{g}: {len(hs[0])} SAs'
        if g != 'chat':
            ks = {rekey_sa(f'{g}-{m}') for m in MEMBERS}
            assert len(ks) == 1 and None not in ks, f'{g}: Rekey SAs {ks}'
    return True
wait(registered, 20)
EOF

# ---- multicast rekey (video-1) ----

mark video1
python3 -c "
import ck
ck.save('video_old', list(ck.held('video-m1')))
ck.save('video_kek_before', ck.rekey_sa('video-m1'))"
ctl rekey keyid:video-1 >"$W/rekey-video.out" 2>&1 || true
pyck "gcksctl rekey keyid:video-1 answers ok" <<'EOF' || true
from ck import *
r = json.loads(open(f'{W}/rekey-video.out').read())
assert r['ok'] is True, r
assert 'GSA_REKEY' in r['message'], r
EOF
pyck "video-1: all three accept the GSA_REKEY and add the same new SA (SPI, keymat_sha256) gcksctl status reports" <<'EOF' || true
from ck import *
old = load('video_old')
def moved():
    for m in MEMBERS:
        acc = events(f'video-{m}', 'video1', 'rekey_accepted')
        assert len(acc) == 1, f'video-{m}: {len(acc)} rekey_accepted'
        assert events(f'video-{m}', 'video1', 'rekey_sa_replaced'), f'video-{m}: Rekey SA not replaced'
    return same_new_sa('video', 'video1', old)
spi, km = wait(moved, 10)
save('video_new', spi)
assert spi not in old
st = status_spis('video')
assert st['ESP'] == [spi], f'gcksctl status: {st}, members: {spi}'
kek = {rekey_sa(f'video-{m}') for m in MEMBERS}
assert len(kek) == 1, kek
assert kek.pop()[0] == st['GIKE_UPDATE'][0], 'the new Rekey SA is not the one gcksctl status reports'
# the Message ID: the one the Rekey SA the members held announced, or later
ids = {events(f'video-{m}', 'video1', 'rekey_accepted')[0]['message_id'] for m in MEMBERS}
assert len(ids) == 1 and ids.pop() >= load('video_kek_before')[1], ids
print(f'new SPI {spi}')
EOF
pyck "video-1: the old SA is kept during the deactivation delay, deleted after it" <<'EOF' || true
from ck import *
old = load('video_old')
for m in MEMBERS:
    dels = [e for e in events(f'video-{m}', 'video1', 'sa_deleted') if e['spi'] in old]
    assert not dels, f'video-{m}: old SA deleted at once'
    assert set(old) <= set(held(f'video-{m}')), f'video-{m}: old SA gone early'
t0 = time.time()
def deleted():
    for m in MEMBERS:
        gone = {e['spi'] for e in events(f'video-{m}', 'video1', 'sa_deleted')}
        assert set(old) <= gone, f'video-{m}: old SA not deleted yet'
        assert list(held(f'video-{m}')) == [load('video_new')], f'video-{m} holds {held(f"video-{m}")}'
wait(deleted, 15)
print(f'deleted {time.time() - t0:.1f}s after the members accepted (deactivation delay 6s)')
EOF
pyck "video-1: the GSA_REKEY went out twice (copies: 2), bitwise identical, as one unfragmented datagram" <<'EOF' || true
from ck import *
d = [x for x in spy(PORTS['video']) if x.get('exch') == 41]
assert len(d) == 2, f'{len(d)} datagrams'
assert d[0]['data'] == d[1]['data'], 'copies differ'
assert d[0]['np'] == 46, f'first payload {d[0]["np"]} (SK expected)'
assert 0.1 < d[1]['t'] - d[0]['t'] < 1.0, f'interval {d[1]["t"] - d[0]["t"]:.3f}s'
EOF

# ---- IPv6 multicast rekey (v6-1) ----

mark v61
python3 -c "import ck; ck.save('v6_old', list(ck.held('v6-m1')))"
ctl rekey keyid:v6-1 >"$W/rekey-v6.out" 2>&1 || true
pyck "v6-1: the Rekey SA is on ff15::97:1 port 1851; all three accept the GSA_REKEY sent there over IPv6 and add the same new SA" <<'EOF' || true
from ck import *
for m in MEMBERS:
    r = events(f'v6-{m}', kind='registered')[0]['state']['rekey_sa']
    assert r['destination']['address'] == 'ff15::97:1/128' and r['destination']['port_low'] == 1851, r
def moved():
    for m in MEMBERS:
        assert events(f'v6-{m}', 'v61', 'rekey_accepted'), f'v6-{m}: nothing accepted'
    return same_new_sa('v6', 'v61', load('v6_old'))
spi, km = wait(moved, 8)
assert status_spis('v6')['ESP'] == [spi], 'not what gcksctl status reports'
EOF

# ---- fragmented GSA_REKEY (frag-1) ----

mark frag1
python3 -c "import ck; ck.save('frag_old', list(ck.held('frag-m1')))"
ctl rekey keyid:frag-1 >"$W/rekey-frag.out" 2>&1 || true
pyck "frag-1: the GSA_REKEY exceeds fragment-mtu 576 and goes out as SKF fragments, each at most 576 octets" <<'EOF' || true
from ck import *
def frags():
    # every fragment in both copies (copies: 2), the second 200 ms after the first
    d = [x for x in spy(PORTS['frag']) if x.get('exch') == 41]
    n = len({x['data'] for x in d})
    assert n >= 2 and len(d) == 2 * n, f'{len(d)} datagrams for {n} distinct fragments (2 copies each expected)'
    return d, n
d, n = wait(frags, 5)
assert all(x['np'] == 53 for x in d), f'payload types {[x["np"] for x in d]}'
assert all(len(x['data']) <= 576 for x in d), [len(x['data']) for x in d]
print(f'{n} fragments, sizes {sorted({len(x["data"]) for x in d})}')
EOF
pyck "frag-1: every member reassembles, verifies and accepts it: the same six new SAs on all three" <<'EOF' || true
from ck import *
new = wait(lambda: same_new_sas('frag', 'frag1', set(load('frag_old')), 6), 8)
assert sorted(status_spis('frag')['ESP']) == sorted(new), 'not what gcksctl status reports'
EOF

# ---- a policy change loaded while gcksd runs (frag-1) ----
# The Rekey SA's key wrap (256 -> 128 bits) and one SA's transforms (AES-GCM -> AES-CBC with
# HMAC) change: the GSA_REKEY that tells the members goes out under the Rekey SA they hold,
# protected as the old policy says, and brings the new Rekey SA and the new SA.

python3 - "$W/groups.yaml" "$W/groups-changed.yaml" <<'EOF'
import sys
src = open(sys.argv[1]).read()
head, frag = src.split('  - id: keyid:frag-1\n')
frag = frag.replace('key-wrap: kw-5649-256', 'key-wrap: kw-5649-128', 1)
frag = frag.replace('- name: f0\n        encryption: aes-gcm-16\n',
                    '- name: f0\n        encryption: aes-cbc\n        integrity: hmac-sha2-256-128\n', 1)
assert 'kw-5649-128' in frag and 'aes-cbc' in frag
open(sys.argv[2], 'w').write(head + '  - id: keyid:frag-1\n' + frag)
EOF
mark reload1
python3 -c "
import ck
ck.save('reload_old', list(ck.held('frag-m1')))
ck.save('reload_kek_before', ck.rekey_sa('frag-m1'))"
ctl policy load "$W/groups-changed.yaml" >"$W/reload.out" 2>&1 || true
pyck "policy load with gcksd running: frag-1 loaded, the other groups unchanged, gcksd reloaded" <<'EOF' || true
from ck import *
d = load_summary(f'{W}/reload.out')
g = {x['group']: x for x in d['groups']}
assert g['keyid:frag-1']['change'] == 'new keys' and g['keyid:frag-1']['members_see'] == 'rekey', d
for n in ('video-1', 'sched-1', 'chat-1'):
    assert g[f'keyid:{n}']['change'] == 'unchanged', d
assert d['gcksd'] == 'reloaded', d
EOF
pyck "frag-1 after the change: every member accepts the GSA_REKEY, takes the new Rekey SA and the same new SAs, f0 now AES-CBC" <<'EOF' || true
from ck import *
def got():
    new = same_new_sas('frag', 'reload1', set(load('reload_old')), 6,
                       fields=('keymat_sha256', 'encryption', 'integrity'))
    keks = set()
    for m in MEMBERS:
        assert events(f'frag-{m}', 'reload1', 'rekey_sa_replaced'), f'frag-{m}: Rekey SA not replaced'
        keks.add(rekey_sa(f'frag-{m}'))
    assert len(keks) == 1 and keks.pop()[0] != load('reload_kek_before')[0], 'Rekey SA not new'
    return new
new = wait(got, 8)
cbc = [v for v in new.values() if v[1] == 'AES_CBC' and v[2] == 'HMAC_SHA2_256_128']
assert len(cbc) == 1, sorted(new.values())
def settled():
    want = sorted(status_spis('frag')['ESP'])
    for m in MEMBERS:
        assert sorted(held(f'frag-{m}')) == want, f'frag-{m} holds {sorted(held(f"frag-{m}"))}, gcksd {want}'
    return True
wait(settled, 8)
print(f'six new SAs, one of them {cbc[0][1]} + {cbc[0][2]}')
EOF

# ---- scheduler and forged / replayed / truncated GSA_REKEY (sched-1) ----

pyck "sched-1: the lifetime scheduler rekeys under one Rekey SA with increasing Message IDs" <<'EOF' || true
from ck import *
def two():
    for m in MEMBERS:
        acc = events(f'sched-{m}', kind='rekey_accepted')
        assert len(acc) >= 2, f'sched-{m}: {len(acc)} scheduled rekeys so far'
        assert not events(f'sched-{m}', kind='rekey_sa_replaced'), 'the Rekey SA changed'
        ids = [e['message_id'] for e in acc]
        assert ids == sorted(set(ids)), f'sched-{m}: Message IDs {ids}'
    return True
wait(two, 20)
print('Message IDs', [e['message_id'] for e in events('sched-m1', kind='rekey_accepted')])
EOF

# Right after the next scheduled rekey: six seconds before the one after.
mark sched0
pyck "sched-1: the next scheduled rekey arrives" <<'EOF' || true
from ck import *
def fresh():
    for m in MEMBERS:
        assert events(f'sched-{m}', 'sched0', 'rekey_accepted'), f'sched-{m}'
    mid = events('sched-m1', 'sched0', 'rekey_accepted')[0]['message_id']
    # its copy too (copies: 2), so that the copy is not mistaken for an injection
    n = len([x for x in spy(PORTS['sched']) if x.get('exch') == 41 and x['msgid'] == mid])
    assert n == 2, f'{n} copies of Message ID {mid} seen'
    return mid
last = wait(fresh, 10)
save('sched_last', last)
EOF
mark sched1
python3 - >"$W/forge.out" 2>&1 <<'EOF' || true
from ck import *
last = load('sched_last')
caught = [x for x in spy(PORTS['sched']) if x.get('exch') == 41]
by_id = {}
for x in caught:
    by_id.setdefault(x['msgid'], x['data'])
assert last in by_id and last - 1 in by_id, f'captured Message IDs {sorted(by_id)}'
cur = by_id[last]
flipped = bytearray(cur)
flipped[len(cur) - 20] ^= 0x01           # inside the encrypted part / ICV
cut = cur[:len(cur) - 30]                # truncated: shorter than its header says
cut_fixed = bytearray(cur[:len(cur) - 30])
cut_fixed[24:28] = len(cut_fixed).to_bytes(4, 'big')   # truncated with a consistent length
# the real Rekey SA, from the GCKS database (sa_keys), signed with a key that is not the GCKS's
r = subprocess.run(['sqlite3', '-readonly', f'{W}/gcks.db',
                    "SELECT hex(k.spi), hex(k.keymat) FROM sa_keys k JOIN groups g ON g.id = k.group_id "
                    "WHERE g.name = 'keyid:sched-1' AND k.tek_index = -1 AND k.state = 'current'"],
                   capture_output=True, text=True, check=True)
spi, keymat = r.stdout.strip().split('|')
assert spi.lower() == rekey_sa('sched-m1')[0], f'database Rekey SA {spi} is not the members\' {rekey_sa("sched-m1")}'
def forge(*args):
    r = subprocess.run([os.environ['FORGE'], '--spi', spi, '--keymat', keymat, '--msgid', str(last + 10), *args],
                       capture_output=True, text=True, check=True)
    return [bytes.fromhex(l) for l in r.stdout.split()]
wrong_sig = forge('--sign', 'ecdsa-p256')
unsigned = forge('--sign', 'none')
assert len(wrong_sig) == 1 and wrong_sig[0][:16].hex() == spi.lower()
inject(PORTS['sched'], '239.192.0.2', [by_id[last - 1], bytes(flipped), cut, bytes(cut_fixed)] + wrong_sig + unsigned)
print('injected: replay of', last - 1, 'flipped, truncated x2, wrong signature, unsigned')
EOF
pyck "sched-1: forged GSA_REKEY built and injected (replay, flipped byte, 2 truncated, wrong signature, unsigned)" <<'EOF' || true
from ck import *
out = open(f'{W}/forge.out').read()
assert 'injected' in out, out
EOF
pyck "sched-1: each member rejects them all: replay, integrity, truncation, authentication (x2)" <<'EOF' || true
from ck import *
# one rejection per injected datagram, in the order sent; the last one is also the marker that
# every injected datagram has been read (the next check relies on it)
want = ['old Message ID (replay)', 'integrity check failed', 'truncated', 'truncated',
        'authentication failed', 'authentication failed']
def rejected():
    for m in MEMBERS:
        rs = [e['reason'] for e in events(f'sched-{m}', 'sched1', 'rekey_rejected')]
        assert len(rs) >= len(want), f'sched-{m}: rejected so far {rs}'
        assert rs == want, f'sched-{m}: rejected {rs}, expected {want}'
wait(rejected, 6)
EOF
pyck "sched-1: the forgeries changed nothing (no rekey_accepted, no SA added or replaced after them)" <<'EOF' || true
from ck import *
last = load('sched_last')
for m in MEMBERS:
    # up to the next legitimate scheduled rekey (Message ID last+1), if it came already
    evs = []
    for e in events(f'sched-{m}', 'sched1'):
        if e['event'] == 'rekey_accepted' and e['message_id'] == last + 1:
            break
        evs.append(e)
    bad = [e for e in evs if e['event'] in
           ('rekey_accepted', 'sa_added', 'rekey_sa_replaced', 'excluded', 'reregistering', 'group_lost')]
    assert not bad, f'sched-{m}: {bad}'
    assert not [e for e in events(f'sched-{m}') if e.get('spi') == 'deadbeef'], f'sched-{m}: the forged SA'
EOF
pyck "sched-1: the next scheduled GSA_REKEY is still accepted (Message ID last+1, not spoiled by the forged last+10)" <<'EOF' || true
from ck import *
last = load('sched_last')
def nxt():
    ids = []
    for m in MEMBERS:
        acc = events(f'sched-{m}', 'sched1', 'rekey_accepted')
        assert acc, f'sched-{m}: waiting for the next scheduled rekey'
        ids.append(acc[0]['message_id'])
    return ids
ids = wait(nxt, 10)
assert ids == [last + 1] * 3, f'{ids}, last {last}'
EOF

# ---- GSA_NEXT_SPI re-registration storm (sched-1) ----
# A rogue member knows the SPI the GCKS announced for the next Rekey SA (GSA_NEXT_SPI in its own
# registration). A GSA_REKEY on that SPI tells members they missed a rekey (RFC 9838 4.4.2.2.3),
# and nobody can verify it. The rogue sends such datagrams again and again: every member
# re-registers once (the trigger works once per Rekey SA and once per 600 s), not once per
# datagram, and not again after its re-registration gave it the same Rekey SA.
mark storm0
python3 - >"$W/storm.out" 2>&1 <<'EOF' || true
from ck import *
import struct
nxt = None
for e in events('sched-m1', kind='registered'):
    nxt = e['state']['rekey_sa'].get('next_spis')
assert nxt, 'sched-m1 was told no GSA_NEXT_SPI'
spi = bytes.fromhex(nxt[0])
body = bytes([33, 0]) + (64).to_bytes(2, 'big') + bytes(60)   # an SK payload, well-formed
hdr = spi + bytes([46, 0x20, 41, 0x08]) + struct.pack('>II', 5, 28 + len(body))
save('storm_spi', nxt[0])
inject(PORTS['sched'], '239.192.0.2', [hdr + body] * 5)
print('injected 5 GSA_REKEY on the announced next Rekey SA', nxt[0])
EOF
pyck "sched-1 storm: a rogue member's GSA_REKEY datagrams on the announced next Rekey SA, injected (5)" <<'EOF' || true
from ck import *
out = open(f'{W}/storm.out').read()
assert 'injected 5' in out, out
EOF
pyck "sched-1 storm: each member re-registers exactly once for 5 datagrams, and gets the same Rekey SA" <<'EOF' || true
from ck import *
def again():
    for m in MEMBERS:
        rr = [e for e in events(f'sched-{m}', 'storm0', 'reregistering') if 'next Rekey SA' in e.get('reason', '')]
        assert len(rr) == 1, f'sched-{m}: {len(rr)} re-registrations'
        assert events(f'sched-{m}', 'storm0', 'registered'), f'sched-{m}: not registered again yet'
    return True
wait(again, 15)
for m in MEMBERS:
    assert rekey_sa(f'sched-{m}')[0] == rekey_sa('sched-m1')[0]
EOF
mark storm1
python3 - >"$W/storm2.out" 2>&1 <<'EOF' || true
from ck import *
import struct
spi = bytes.fromhex(load('storm_spi'))
body = bytes([33, 0]) + (64).to_bytes(2, 'big') + bytes(60)   # an SK payload, well-formed
hdr = spi + bytes([46, 0x20, 41, 0x08]) + struct.pack('>II', 6, 28 + len(body))
# then a probe on the same socket: the oldest captured GSA_REKEY of the current Rekey SA again,
# which every member reports as a replay once it has read the five before it
cur = rekey_sa('sched-m1')[0]
old = sorted((x for x in spy(PORTS['sched']) if x.get('exch') == 41 and x['spi'] == cur), key=lambda x: x['msgid'])
assert old, 'no captured GSA_REKEY under the current Rekey SA'
inject(PORTS['sched'], '239.192.0.2', [hdr + body] * 5 + [old[0]['data']])
print('injected 5 more, then the replayed Message ID', old[0]['msgid'])
EOF
pyck "sched-1 storm: 5 more after the re-registration change nothing (no re-registration by the time the replay behind them is rejected)" <<'EOF' || true
from ck import *
assert 'injected 5 more' in open(f'{W}/storm2.out').read(), open(f'{W}/storm2.out').read()
# a re-registration is announced (reregistering) when the datagram is read, before the probe
def probe_read():
    for m in MEMBERS:
        rs = [e['reason'] for e in events(f'sched-{m}', 'storm1', 'rekey_rejected')]
        assert rs == ['old Message ID (replay)'], f'sched-{m}: {rs}'
wait(probe_read, 8)
for m in MEMBERS:
    bad = [e for e in events(f'sched-{m}', 'storm1') if e['event'] in ('reregistering', 'registered', 'group_lost')]
    assert not bad, f'sched-{m}: {bad}'
EOF

# ---- eviction from a multicast group (video-1) ----

mark video2
python3 -c "import ck; ck.save('video_before_evict', list(ck.held('video-m1')))"
ctl evict keyid:video-1 fqdn:m3.test >"$W/evict-video.out" 2>&1 || true
pyck "video-1: gcksctl evict m3 answers, saying honestly that forward access control for multicast needs LKH" <<'EOF' || true
from ck import *
r = json.loads(open(f'{W}/evict-video.out').read())
assert r['ok'], r
assert 'LKH' in r['message'] and 'forward access control' in r['message'], r['message']
print(r['message'])
EOF
pyck "video-1: all three are excluded; m1 and m2 re-register and hold the same new SA, the old one gone" <<'EOF' || true
from ck import *
old = load('video_before_evict')
def excluded():
    for m in MEMBERS:
        assert events(f'video-{m}', 'video2', 'excluded'), f'video-{m} not excluded'
wait(excluded, 5)
def rereg():
    for m in ('m1', 'm2'):
        assert events(f'video-{m}', 'video2', 'registered'), f'video-{m} not registered again'
    hs = [held(f'video-{m}') for m in ('m1', 'm2')]
    assert hs[0] == hs[1] and len(hs[0]) == 1, hs
    return list(hs[0])[0]
spi = wait(rereg, 12)
assert spi not in old, 'still the old SA'
assert status_spis('video')['ESP'] == [spi], 'not what gcksctl status reports'
save('video_evict_new', spi)
EOF
pyck "video-1: m3's re-registration is refused with AUTHORIZATION_FAILED and m3 holds no keys of the group" <<'EOF' || true
from ck import *
def refused():
    ev = events('video-m3', 'video2', ('group_lost', 'registration_refused', 'registration_failed'))
    assert ev, 'no refusal reported by m3 yet'
    return ev
ev = wait(refused, 12)
assert any('AUTHORIZATION_FAILED' in json.dumps(e) for e in ev), ev
assert not events('video-m3', 'video2', 'registered'), 'm3 registered again'
assert held('video-m3') == {}, held('video-m3')
assert load('video_evict_new') not in held('video-m3')
EOF

# ---- inband rekey (chat-1) ----

mark chat1
python3 -c "import ck; ck.save('chat_old', list(ck.held('chat-m1')))"
ctl rekey keyid:chat-1 >"$W/rekey-chat.out" 2>&1 || true
pyck "chat-1 (inband): gcksctl rekey reaches every member by GSA_INBAND_REKEY with the same new SA (m3 too, though evicted from video-1)" <<'EOF' || true
from ck import *
r = json.loads(open(f'{W}/rekey-chat.out').read())
assert r['ok'] and 'INBAND' in r['message'], r
old = load('chat_old')
def moved():
    for m in MEMBERS:
        assert events(f'chat-{m}', 'chat1', 'inband_rekey'), f'chat-{m}: no inband_rekey'
    return same_new_sa('chat', 'chat1', old)
spi, km = wait(moved, 8)
assert status_spis('chat')['ESP'] == [spi]
save('chat_new', spi)
def deleted():
    for m in MEMBERS:
        assert list(held(f'chat-{m}')) == [spi], f'chat-{m}: {held(f"chat-{m}")}'
wait(deleted, 6)
EOF

mark chat2
ctl evict keyid:chat-1 fqdn:m3.test >"$W/evict-chat.out" 2>&1 || true
pyck "chat-1: after gcksctl evict of m3, m1 and m2 get new keys by GSA_INBAND_REKEY" <<'EOF' || true
from ck import *
r = json.loads(open(f'{W}/evict-chat.out').read())
assert r['ok'], r
print(r['message'])
old = [load('chat_new')]
def moved():
    for m in ('m1', 'm2'):
        assert events(f'chat-{m}', 'chat2', 'inband_rekey'), f'chat-{m}: no inband_rekey'
    return same_new_sa('chat', 'chat2', old, members=('m1', 'm2'))
spi, km = wait(moved, 8)
assert status_spis('chat')['ESP'] == [spi]
save('chat_evict_new', spi)
EOF
pyck "chat-1: gcksd closed the evicted m3's IKE SA, which carried its rekeys (no Rekey SA): m3 considers itself excluded (RFC 9838 2.3.3), removes the group's SA, registers again and is refused" <<'EOF' || true
from ck import *
def excluded():
    ev = events('chat-m3', 'chat2', 'excluded')
    assert len(ev) == 1, ev
    assert ev[0]['reason'] == 'the GCKS closed the IKE SA that carried its rekeys', ev
    assert held('chat-m3') == {}, held('chat-m3')
    assert events('chat-m3', 'chat2', 'reregistering'), 'no re-registration planned'
wait(excluded, 5)
def refused():
    ev = events('chat-m3', 'chat2', ('group_lost', 'registration_refused', 'registration_failed'))
    assert ev, 'no refusal reported by m3 yet'
    return ev
ev = wait(refused, 12)
assert any('AUTHORIZATION_FAILED' in json.dumps(e) for e in ev), ev
assert not events('chat-m3', 'chat2', 'registered')
for m in ('m1', 'm2'):
    assert not events(f'chat-{m}', 'chat2', 'excluded'), f'chat-{m} excluded'
EOF
# after m3's refused re-registration, a later exchange with gcksd: whatever gcksd sent m3 at the
# eviction has been read by now
pyck "chat-1: the evicted m3 received nothing new (no inband rekey, no SA) up to its refused re-registration" <<'EOF' || true
from ck import *
new = load('chat_evict_new')
ev = events('chat-m3', 'chat2', ('inband_rekey', 'sa_added', 'registered', 'rekey_accepted'))
assert not ev, ev
assert new not in held('chat-m3')
EOF

# ---- GCKS killed and restarted ----

python3 -c "
import ck
ck.save('kill_held', {f'{g}-{m}': sorted(ck.held(f'{g}-{m}')) for g in ('video', 'sched') for m in ck.MEMBERS})
ck.save('video_kek_kill', ck.rekey_sa('video-m1'))"
mark kill
kill -KILL "$gcksd_pid"
wait "$gcksd_pid" 2>/dev/null || true
gcksd_pid=
sleep 0.5
start_gcksd || not_ok "gcksd restarts on the same database"
pyck "after SIGKILL and restart: gcksd serves the SAs the members hold" <<'EOF' || true
from ck import *
for m in ('m1', 'm2'):
    assert sorted(held(f'video-{m}')) == status_spis('video')['ESP'], f'video-{m}'
# sched-1 rekeys every 6 s: what the members hold includes what gcksd serves
for m in MEMBERS:
    assert set(status_spis('sched')['ESP']) <= set(held(f'sched-{m}')), f'sched-{m}'
EOF
python3 -c "
import ck
ck.save('sched_before_kill', max(e['message_id'] for e in ck.events('sched-m1', kind='rekey_accepted')))"
pyck "after restart: the scheduler's next GSA_REKEY under the same Rekey SA has a greater Message ID and is accepted" <<'EOF' || true
from ck import *
before = load('sched_before_kill')
def nxt():
    ids = []
    for m in MEMBERS:
        acc = [e for e in events(f'sched-{m}', 'kill', 'rekey_accepted') if e['message_id'] > before]
        assert acc, f'sched-{m}: waiting'
        ids.append(acc[0]['message_id'])
    return ids
ids = wait(nxt, 12)
for m in MEMBERS:
    rej = events(f'sched-{m}', 'kill', 'rekey_rejected')
    assert not rej, f'sched-{m}: {rej}'
    assert not events(f'sched-{m}', 'kill', 'rekey_sa_replaced')
print('Message ID', before, '->', ids[0])
EOF
mark video3
python3 -c "import ck; ck.save('video_before3', list(ck.held('video-m1')))"
ctl rekey keyid:video-1 >"$W/rekey-video3.out" 2>&1 || true
pyck "after restart: gcksctl rekey keyid:video-1 is accepted by m1 and m2 (Message ID from the announced Rekey SA on)" <<'EOF' || true
from ck import *
spi_before, initial = load('video_kek_kill')
old = load('video_before3')
def moved():
    ids = []
    for m in ('m1', 'm2'):
        acc = events(f'video-{m}', 'video3', 'rekey_accepted')
        assert acc, f'video-{m}: nothing accepted yet'
        ids.append(acc[0]['message_id'])
    spi, km = same_new_sa('video', 'video3', old, members=('m1', 'm2'))
    return ids, spi
ids, spi = wait(moved, 8)
assert ids[0] == ids[1] and ids[0] >= initial, f'Message IDs {ids}, Rekey SA initial ID {initial}'
assert status_spis('video')['ESP'] == [spi]
assert not events('video-m3', 'video3', ('rekey_accepted', 'sa_added')), 'the evicted m3 got it'
for m in ('m1', 'm2'):
    assert not events(f'video-{m}', 'video3', 'rekey_rejected'), events(f'video-{m}', 'video3', 'rekey_rejected')
print('Message ID', ids[0], 'under the Rekey SA announced with initial ID', initial)
EOF
# the GSA_REKEY messages accepted after the restart (scheduled for sched-1, asked for video-1)
# came after anything the restarted gcksd could have sent the members before them
pyck "after restart: up to and after those rekeys, no member was excluded, lost its group or re-registered" <<'EOF' || true
from ck import *
for inst in load('kill_held'):
    lost = [e for e in events(inst, 'kill', ('excluded', 'group_lost', 'reregistering'))]
    assert not lost, f'{inst}: {lost}'
EOF

# ---- rekey transport changed while gcksd runs (frag-1: multicast -> inband -> multicast) ----
# To inband: the GSA_REKEY under the old Rekey SA excludes everyone; members re-register and keep
# the IKE SA that GSA_INBAND_REKEY needs. Back to multicast: a GSA_INBAND_REKEY excludes them, and
# they re-register to learn the Rekey SA with its GCAUTH and AUTH_KEY (only registration carries
# them); the next rekey is a multicast GSA_REKEY every member accepts.

"$GCKSCTL" --db "$W/gcks.db" policy export keyid:frag-1 >"$W/frag-multicast.yaml" 2>"$W/export.log" ||
	not_ok "gcksctl policy export keyid:frag-1"
python3 - "$W/frag-multicast.yaml" "$W/frag-inband.yaml" <<'EOF'
import re, sys
src = open(sys.argv[1]).read()
# the export's rekey block (indented under the group) becomes `transport: inband` alone
out, n = re.subn(r'(?m)^(\s*)rekey:\n(?:\1\s+.*\n)+', lambda m: f'{m.group(1)}rekey:\n{m.group(1)}  transport: inband\n', src)
assert n == 1, n
open(sys.argv[2], 'w').write(out)
EOF
chmod 600 "$W"/frag-*.yaml
mark switch1
ctl policy load "$W/frag-inband.yaml" >"$W/switch1.out" 2>&1 || true
pyck "frag-1 switched to inband rekey: every member is excluded, re-registers, holds the same SAs gcksd serves and no Rekey SA" <<'EOF' || true
from ck import *
d = load_summary(f'{W}/switch1.out')
assert d['groups'][0]['members_see'] == 'exclude everyone' and d['gcksd'] == 'reloaded', d
def rereg():
    for st in reregistered('frag', 'switch1').values():
        assert not st.get('rekey_sa'), st.get('rekey_sa')
    want = sorted(status_spis('frag')['ESP'])
    for m in MEMBERS:
        assert sorted(held(f'frag-{m}')) == want, f'frag-{m}: {sorted(held(f"frag-{m}"))} != {want}'
    return want
save('switch_inband', wait(rereg, 15))
EOF
mark switch2
ctl rekey keyid:frag-1 >"$W/rekey-switch.out" 2>&1 || true
pyck "frag-1 (now inband): gcksctl rekey reaches all three by GSA_INBAND_REKEY" <<'EOF' || true
from ck import *
r = json.loads(open(f'{W}/rekey-switch.out').read())
assert r['ok'] and 'INBAND' in r['message'], r
new = wait(lambda: same_new_sas('frag', 'switch2', set(load('switch_inband')), 6, 'inband_rekey'), 8)
assert sorted(new) == sorted(status_spis('frag')['ESP']), 'not what gcksd serves'
EOF
mark switch3
ctl policy load "$W/frag-multicast.yaml" >"$W/switch3.out" 2>&1 || true
pyck "frag-1 back to multicast: members are excluded by GSA_INBAND_REKEY and re-register, all with the Rekey SA gcksd serves" <<'EOF' || true
from ck import *
d = load_summary(f'{W}/switch3.out')
assert d['groups'][0]['members_see'] == 'exclude everyone', d
def kek():
    reregistered('frag', 'switch3')
    ks = {rekey_sa(f'frag-{m}') for m in MEMBERS}
    assert len(ks) == 1 and None not in ks, ks
    return ks.pop()
k = wait(kek, 15)
assert status_spis('frag')['GIKE_UPDATE'] == [k[0]], (k, status_spis('frag'))
EOF
mark switch4
ctl rekey keyid:frag-1 >"$W/rekey-switch4.out" 2>&1 || true
pyck "frag-1 (multicast again): the next gcksctl rekey is a GSA_REKEY every member accepts" <<'EOF' || true
from ck import *
r = json.loads(open(f'{W}/rekey-switch4.out').read())
assert r['ok'] and 'GSA_REKEY' in r['message'], r
def acc():
    for m in MEMBERS:
        assert events(f'frag-{m}', 'switch4', 'rekey_accepted'), f'frag-{m}: nothing accepted'
    want = sorted(status_spis('frag')['ESP'])
    for m in MEMBERS:
        new = {e['spi'] for e in events(f'frag-{m}', 'switch4', 'sa_added')}
        assert sorted(new) == want, f'frag-{m}: {sorted(new)} != {want}'
wait(acc, 8)
EOF

# ---- a member removed from the policy while gcksd runs (frag-1, multicast) ----
# Like gcksctl evict: m3 held the Rekey SA, so everyone is excluded under it and only m1 and m2
# can fetch the new keys by re-registering.

"$GCKSCTL" --db "$W/gcks.db" policy export keyid:frag-1 >"$W/frag-now.yaml" 2>>"$W/export.log"
python3 - "$W/frag-now.yaml" "$W/frag-no-m3.yaml" <<'EOF'
import re, sys
src = open(sys.argv[1]).read()
out, n = re.subn(r'(?m)^(\s*)- id: fqdn:m3\.test\n(?:\1  .*\n)*', '', src)
assert n == 1 and 'm3.test' not in out, n
open(sys.argv[2], 'w').write(out)
EOF
chmod 600 "$W/frag-no-m3.yaml"
mark remove1
python3 -c "import ck; ck.save('remove_old', list(ck.held('frag-m1')))"
ctl policy load "$W/frag-no-m3.yaml" >"$W/remove1.out" 2>&1 || true
pyck "frag-1 without m3 in the policy: all three excluded; m1 and m2 re-register and hold the same new SAs, m3 is refused and holds nothing" <<'EOF' || true
from ck import *
d = load_summary(f'{W}/remove1.out')
assert d['groups'][0]['members_see'] == 'exclude everyone', d
assert [m['registered'] for m in d['groups'][0]['members_removed']] == [True], d
old = set(load('remove_old'))
def done():
    for m in MEMBERS:
        assert events(f'frag-{m}', 'remove1', 'excluded'), f'frag-{m} not excluded'
    hs = []
    for m in ('m1', 'm2'):
        assert events(f'frag-{m}', 'remove1', 'registered'), f'frag-{m} not registered again'
        hs.append(held(f'frag-{m}'))
    assert hs[0] == hs[1] and len(hs[0]) == 6 and not set(hs[0]) & old, hs
    ev = events('frag-m3', 'remove1', ('group_lost', 'registration_refused', 'registration_failed'))
    assert any('AUTHORIZATION_FAILED' in json.dumps(e) for e in ev), ev
    return hs[0]
new = wait(done, 15)
assert sorted(new) == sorted(status_spis('frag')['ESP']), 'not what gcksd serves'
assert not events('frag-m3', 'remove1', 'registered') and held('frag-m3') == {}, held('frag-m3')
EOF

# ---- a signed GSA_REKEY whose SA would capture all traffic (sched-1) ----
# Signed with the GCKS's own key (read from its database, as a compromised or misconfigured key
# server would send it) and carrying a new ESP SA to 0.0.0.0-255.255.255.255: every member
# refuses the whole rekey and installs nothing of it.
mark wide0
python3 - >"$W/wide.out" 2>&1 <<'EOF' || true
from ck import *
q = lambda sql: subprocess.run(['sqlite3', '-readonly', f'{W}/gcks.db', sql], capture_output=True, text=True,
                               check=True).stdout.strip()
with open(f'{W}/gcks-sign.pem', 'w') as f:
    os.chmod(f'{W}/gcks-sign.pem', 0o600)
    f.write(q("SELECT sign_key_pem FROM gcks_identity WHERE id = 1") + '\n')
# sched-1's scheduler replaces the Rekey SA every few seconds: a message forged under one the
# members have already left is dropped unopened, so forge under the current one until every
# member has judged one (each attempt reads the Rekey SA again).
def all_judged():
    for m in MEMBERS:
        assert events(f'sched-{m}', 'wide0', 'rekey_refused'), m
# Bounded by time, not by a count of attempts: under load a member can take seconds to move to
# the scheduler's latest Rekey SA, and a sleep counted as an attempt ran out before it did.
deadline = time.time() + 30
attempt = 0
while time.time() < deadline:
    attempt += 1
    spi, keymat = q("SELECT hex(k.spi), hex(k.keymat) FROM sa_keys k JOIN groups g ON g.id = k.group_id "
                    "WHERE g.name = 'keyid:sched-1' AND k.tek_index = -1 AND k.state = 'current'").split('|')
    if spi.lower() != rekey_sa('sched-m1')[0]:
        time.sleep(0.3)
        continue
    r = subprocess.run([os.environ['FORGE'], '--spi', spi, '--keymat', keymat, '--msgid', str(1000000 + attempt),
                        '--sign', f'{W}/gcks-sign.pem', '--tek-spi', 'c0ffee00', '--tek-dst', '0.0.0.0-255.255.255.255'],
                       capture_output=True, text=True, check=True)
    inject(PORTS['sched'], '239.192.0.2', [bytes.fromhex(l) for l in r.stdout.split()])
    try:
        wait(all_judged, 3)
        break
    except AssertionError:
        pass
print('injected a signed rekey with a catch-all selector')
EOF
pyck "sched-1: a validly signed GSA_REKEY with an SA to 0.0.0.0/0 is refused whole: rekey_refused, nothing added" <<'EOF' || true
from ck import *
assert 'injected' in open(f'{W}/wide.out').read(), open(f'{W}/wide.out').read()
def refused():
    for m in MEMBERS:
        r = events(f'sched-{m}', 'wide0', 'rekey_refused')
        assert r and r[0]['reason'] == ('ESP SA destination 0.0.0.0/0 is neither multicast nor inside a prefix '
                                        'allowed with --allow-selector'), f'sched-{m}: {r}'
    return True
wait(refused, 5)
for m in MEMBERS:
    assert not [e for e in events(f'sched-{m}', 'wide0') if e['event'] in ('sa_added', 'rekey_accepted')], m
    assert 'c0ffee00' not in held(f'sched-{m}')
EOF

# ---- clean shutdown ----

kill -TERM "$gcksd_pid" 2>/dev/null || true
rc=0
wait "$gcksd_pid" 2>/dev/null || rc=$?
gcksd_pid=
[ "$rc" = 0 ] && ok "gcksd exits 0 on SIGTERM" || not_ok "gcksd exits 0 on SIGTERM (rc $rc)"
bad=
for k in "${!PIDS[@]}"; do
	kill -TERM "${PIDS[$k]}" 2>/dev/null || true
	rc=0
	wait "${PIDS[$k]}" 2>/dev/null || rc=$?
	# exit 2: a registration was refused (m3, evicted from video-1 and chat-1, removed from frag-1)
	case "$k" in video-m3|chat-m3|frag-m3) want=2 ;; *) want=0 ;; esac
	[ "$rc" = "$want" ] || bad="$bad $k:$rc (not $want)"
done
PIDS=()
[ -z "$bad" ] && ok "every gmd exits on SIGTERM: 2 for the three refused re-registrations of m3, else 0" ||
	not_ok "gmd exit codes:$bad"
sanitizer_check "no sanitizer report in the logs of gcksd and gmd" "$W"/*.log
echo "# run time $(( $(date +%s) - t_start ))s"
[ "$fails" -eq 0 ]
