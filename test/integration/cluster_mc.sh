#!/usr/bin/env bash
# Several key servers on one PostgreSQL, with members of a MULTICAST group on a real segment:
# network namespaces on a bridge (as rekey.sh), three gcksd (s1, s2, s3), each in its own
# namespace with its own address, all on one throwaway PostgreSQL (test/pg_cluster.sh) reached
# through its Unix socket (namespaces share the file system); four gmd receivers, each in its
# own namespace, register to a multicast group whose leader's scheduler rekeys every ~6 s, each
# asking another server first, so the registrations spread; a spy captures every GSA_REKEY
# datagram on the segment; after each round a sender registers once (gmd --once) with a random
# server, so that every server issues Sender-IDs. GK_CLUSTER_MC_ROUNDS times (default 4), at a
# random point of a rekey (right after `gcksctl rekey` on the leader returned, between the
# copies of its GSA_REKEY bringing a new Rekey SA; 0-80 ms after `gcksctl rekey` was started:
# before, inside or after the transaction that stores it, before or after its first copy;
# between the copies of a scheduled GSA_REKEY; 0-3 s after the previous round; the first four
# rounds take each once, in random order), the group's leader is killed with SIGKILL:
#   - another server leads within the bound (lease 6 s renewed every 2 s: 8 s, plus 2 s of slack
#     for a loaded machine), and its scheduler's next GSA_REKEY goes out by multicast from its
#     own address;
#   - every member accepts it: a Message ID greater than any it accepted before on its Rekey SA,
#     the same new SA for all, no replay refusal or any other rejection, no exclusion (when the
#     killed leader had stored a rekey bringing a new Rekey SA and sent none of it, the members
#     know the rekey was lost from the SPI promised for that Rekey SA, register again, and accept
#     the new leader's next GSA_REKEY);
#   - the killed server comes back, so that each round starts with three.
# With gdb, one more round stops the leader on a breakpoint after it stored a rekey bringing a new
# Rekey SA and kills it before it sent any of it: the next leader goes on under the new Rekey
# SA, on the SPI every server promised for it (GSA_NEXT_SPI), so each member knows the rekey was
# lost, registers again and follows the rekeys after. gmd takes that for a lost rekey once per
# 600 s per group (README, Security): when the "txn" round's kill fell between the commit of its
# rekey and the first copy, that round lost such a rekey and the members registered again then,
# so they would ignore this one; the round is not run (the recovery was checked in that round),
# and a later round kills inside a rekey transaction ("txn") only while the trigger is unused.
# After the rounds:
#   - on the wire, every GSA_REKEY came from one of the three servers, each leader's from its
#     own address; a Message ID was never sent twice with other contents or by two servers; on
#     each Rekey SA, Message IDs increase in the order they were first sent, across leaders, and
#     (a leader killed between copies of a scheduled rekey) one Rekey SA was used by two leaders;
#   - every member accepted the same Message IDs, strictly increasing on each Rekey SA, and
#     holds the group's current SA; no SPI the members were given names two keys; an SA a rekey
#     replaced stayed installed until its deactivation delay (DTD) passed, never less, whatever
#     key server died meanwhile;
#   - in the database, no SPI and no Sender-ID was issued twice, none of the Sender-IDs the
#     senders were given was given twice, and the group's Rekey SA Message ID counter is at
#     least the greatest Message ID sent on the current Rekey SA.
# Prints the measured takeover times (kill -> another server leads, as gcksctl status says;
# kill -> its first GSA_REKEY on the wire). Needs root (network namespaces), iproute2,
# PostgreSQL (postgresql package), python3 and openssl; skips otherwise (a failure with
# GK_REQUIRE_ALL=1).
set -uo pipefail

B=${GK_BUILDDIR:-$(pwd)}
here=$(cd "$(dirname "$0")" && pwd)
GCKSD=$B/gcks/gcksd GCKSCTL=$B/gcks/gcksctl GMD=$B/member/gmd
. "$here/tap.sh"
. "$here/../pg_cluster.sh"
[ "$(id -u)" = 0 ] || skip "cluster_mc.sh needs root to make network namespaces with multicast between them"
command -v ip >/dev/null || skip "iproute2 (ip) is not installed"
grep -q '^#define HAVE_POSTGRESQL 1' "$B/config.h" 2>/dev/null ||
	skip "several key servers: this build has no PostgreSQL backend (configure --with-postgresql)"
pg_installed || skip "several key servers: PostgreSQL is not installed (apt-get install postgresql)"
for t in python3 openssl timeout; do
	command -v "$t" >/dev/null || { echo "not ok - $t is needed (tools/deps installs it)"; exit 99; }
done
for p in "$GCKSD" "$GCKSCTL" "$GMD"; do
	[ -x "$p" ] || { echo "not ok - $p is not built"; exit 99; }
done
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
ROUNDS=${GK_CLUSTER_MC_ROUNDS:-4}
[ "$ROUNDS" -ge 1 ] && [ "$ROUNDS" -le 8 ] || { echo "not ok - GK_CLUSTER_MC_ROUNDS: 1 to 8"; exit 99; }

W=$(mktemp -d "${TMPDIR:-/tmp}/gk-clmc.XXXXXX")
chmod 755 "$W"
P=gkcm$$
export W P GCKSCTL
SERVERS="s1 s2 s3"
MEMBERS="m1 m2 m3 m4"
SENDERS="x0 x1 x2 x3 x4 x5 x6 x7 x8"
NODES="$SERVERS $MEMBERS spy"
declare -A ADDR=([s1]=10.98.0.1 [s2]=10.98.0.2 [s3]=10.98.0.3 [m1]=10.98.0.11 [m2]=10.98.0.12
	[m3]=10.98.0.13 [m4]=10.98.0.14 [spy]=10.98.0.99)
declare -A gpid
mpids=""
spy_pid=""
fails=0
cleanup() {
	local p n
	for p in "${gpid[@]}" $mpids $spy_pid; do kill "$p" 2>/dev/null || true; done
	for p in "${gpid[@]}" $mpids $spy_pid; do timeout 10 tail --pid="$p" -f /dev/null 2>/dev/null || true; done
	for p in "${gpid[@]}" $mpids $spy_pid; do kill -KILL "$p" 2>/dev/null || true; done
	for n in sw $NODES; do ip netns del "$P-$n" 2>/dev/null || true; done
	pg_cluster_stop
	if [ "$fails" -ne 0 ]; then
		for f in "$W"/*.log "$W"/*.json; do
			[ -f "$f" ] || continue
			echo "# ---- $(basename "$f") (last 30 lines)"
			tail -n 30 "$f" | sed 's/^/# /'
		done
	fi
	if [ "${GK_KEEP:-0}" = 1 ]; then echo "# work directory kept: $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT

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
	ip -n "$P-$n" link set eth0 up
	ip -n "$P-$n" route add 224.0.0.0/4 dev eth0
done
for _ in $(seq 50); do
	ip netns exec "$P-m1" ping -c1 -W1 "${ADDR[s1]}" >/dev/null 2>&1 && break
	sleep 0.1
done

# ---- PostgreSQL: in the root namespace, reached by every namespace through its Unix socket ----
pg_cluster_start || { echo "not ok - the throwaway PostgreSQL cluster did not start"; exit 1; }
DB="postgresql://postgres@/gikev2?host=$PG_DIR/run&port=$PG_PORT"

mkdir -p "$W/keys"
for m in $MEMBERS $SENDERS; do (umask 077 && printf '0x%s\n' "$(openssl rand -hex 32)" >"$W/keys/$m.psk"); done
{
	cat <<'EOF'
groups:
  - id: keyid:mc-1
    sender-id-bits: 8            # AES-GCM is a counter mode: senders need Sender-IDs
    activation-delay: 1s
    deactivation-delay: 3s
    rekey-margin: 90%            # the leader's scheduler rekeys every ~6 s
    rekey:
      transport: multicast
      encryption: aes-gcm-16
      key-length: 256
      key-wrap: kw-5649-256
      address: 239.192.9.1
      port: 1848
      ttl: 1
      copies: 3
      interval: 400ms
      interface: eth0
      lifetime: 30d
    sas:
      - name: video
        protocol: esp
        encryption: aes-gcm-16
        key-length: 256
        sequence-numbers: unspecified-32   # several senders
        source: 10.98.0.0/24
        destination: 239.192.9.2
        ip-protocol: udp
        ports: 5004
        lifetime: 1m
    members:
EOF
	for m in $MEMBERS; do
		printf '      - id: fqdn:%s.example.net\n        psk-file: keys/%s.psk\n        role: receiver\n' "$m" "$m"
	done
	for x in $SENDERS; do
		printf '      - id: fqdn:%s.example.net\n        psk-file: keys/%s.psk\n' "$x" "$x"
		printf '        role: sender\n        max-sender-ids: 2\n'
	done
} >"$W/policy.yaml"
check "gcksctl init and policy load on PostgreSQL (through its Unix socket)" \
	sh -c "'$GCKSCTL' --db '$DB' init --id fqdn:gcks.example >'$W/init.log' 2>&1 && '$GCKSCTL' --db '$DB' policy load '$W/policy.yaml' >>'$W/init.log' 2>&1"

start_gcksd() { # start_gcksd NAME: in namespace NAME, on its own address; log NAME.log
	local log=$W/$1.log n
	n=$(grep -c 'gcksd ready' "$log" 2>/dev/null)
	rm -f "$W/$1.sock"
	ip netns exec "$P-$1" "$GCKSD" --db "$DB" --listen "${ADDR[$1]}:848" --control "$W/$1.sock" --server-id "$1" \
		--foreground --log-level info 2>>"$log" &
	gpid[$1]=$!
	for _ in $(seq 150); do
		[ "$(grep -c 'gcksd ready' "$log" 2>/dev/null)" -gt "${n:-0}" ] && return 0
		kill -0 "${gpid[$1]}" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
for s in $SERVERS; do
	start_gcksd "$s" || { not_ok "gcksd $s starts on PostgreSQL in its namespace"; exit 1; }
	touch "$W/$s.alive"
done
ok "three gcksd (s1, s2, s3), each in its own network namespace, on one PostgreSQL database"

cat >"$W/spy.py" <<'EOF'
# Captures every datagram sent to the rekey group, one JSON line each (time, source, bytes).
import json, socket, struct, sys, time
out = open(sys.argv[1], 'a', buffering=1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[2], int(sys.argv[3])))
s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, struct.pack('4s4s', socket.inet_aton(sys.argv[2]),
                                                                     socket.inet_aton(sys.argv[4])))
print('ready', flush=True)
while True:
    data, src = s.recvfrom(65535)
    out.write(json.dumps({'t': time.time(), 'src': src[0], 'hex': data.hex()}) + '\n')
EOF
ip netns exec "$P-spy" python3 "$W/spy.py" "$W/spy.jsonl" 239.192.9.1 1848 "${ADDR[spy]}" >"$W/spy.log" 2>&1 &
spy_pid=$!
for _ in $(seq 50); do grep -q ready "$W/spy.log" 2>/dev/null && break; sleep 0.1; done

cat >"$W/ck.py" <<EOF
ADDR = {$(for n in $SERVERS; do printf "'%s': '%s', " "$n" "${ADDR[$n]}"; done)}
EOF
cat >>"$W/ck.py" <<'EOF'
import json, os, subprocess, sys, time
W = os.environ['W']
CTL = os.environ['GCKSCTL']
SERVERS = ('s1', 's2', 's3')
MEMBERS = ('m1', 'm2', 'm3', 'm4')
GROUP = 'keyid:mc-1'
BY_ADDR = {a: s for s, a in ADDR.items()}
def alive():
    return [s for s in SERVERS if os.path.exists(f'{W}/{s}.alive')]
def ctl(s, *args, check=True):
    r = subprocess.run(['timeout', '10', CTL, '--control', f'{W}/{s}.sock', '--json', *args],
                       capture_output=True, text=True)
    if check:
        assert r.returncode == 0, (s, args, r.returncode, r.stdout, r.stderr)
    return r
def status(s):
    return json.loads(ctl(s, 'status').stdout)
def group(s):
    return [g for g in status(s)['groups'] if g['group'] == GROUP][0]
def leader(s):
    return group(s)['leader']
def esp_spis(s):
    return [sa['spi'] for sa in group(s)['sas'] if sa['protocol'] == 'ESP']
def _lines(path):
    try:
        with open(path, 'rb') as f:
            data = f.read().decode('utf-8', 'replace')
    except FileNotFoundError:
        return []
    return data.split('\n')[:-1]  # complete lines only
def events(m, kind=None, since=0):
    out = []
    for line in _lines(f'{W}/{m}.json')[since:]:
        if not line.startswith('{'):
            continue
        e = json.loads(line)
        if kind is None or e['event'] == kind or (isinstance(kind, tuple) and e['event'] in kind):
            out.append(e)
    return out
def count(m):
    return len(_lines(f'{W}/{m}.json'))
def ts(e):
    """An event's time (RFC 3339, UTC, milliseconds) in seconds since the epoch."""
    import datetime
    return datetime.datetime.strptime(e['time'], '%Y-%m-%dT%H:%M:%S.%fZ').replace(
        tzinfo=datetime.timezone.utc).timestamp()
def rekeys(since_t=0):
    """GSA_REKEY datagrams (exchange type 41) the spy captured: t, src (server), kek SPI, msgid, data."""
    out = []
    for l in _lines(f'{W}/spy.jsonl'):
        d = json.loads(l)
        b = bytes.fromhex(d['hex'])
        if d['t'] < since_t or len(b) < 28 or b[18] != 41:
            continue
        out.append({'t': d['t'], 'src': BY_ADDR.get(d['src'], d['src']), 'spi': b[:16].hex(),
                    'msgid': int.from_bytes(b[20:24], 'big'), 'data': b})
    return out
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
# gmd takes a GSA_REKEY on the SPI announced for the next Rekey SA (GSA_NEXT_SPI) for a lost
# rekey once per 600 s per group (GK_GM_NEXT_SPI_INTERVAL_S; README, Security): within that time
# it ignores another, and registers again only when an SA nears its end without replacement.
NEXT_SPI_INTERVAL = 600
def trigger_used(t):
    """The members that registered again for a lost rekey less than NEXT_SPI_INTERVAL s before t."""
    return sorted(m for m in MEMBERS if any('announced next Rekey SA' in e['reason'] and
                                            t - NEXT_SPI_INTERVAL < ts(e) <= t for e in events(m, 'reregistering')))
def wait(fn, timeout, step=0.1):
    end = time.time() + timeout
    while True:
        try:
            return fn()
        except AssertionError:
            if time.time() > end:
                raise
            time.sleep(step)
exec(compile(sys.stdin.read(), 'check', 'exec'))
EOF
pyck() { check "$1" python3 "$W/ck.py"; }
py() { python3 "$W/ck.py"; }

pyck "every server sees the three alive and names the same leader of the group" <<'EOF'
def same():
    for s in SERVERS:
        st = status(s)
        assert st['server'] == s and st['database'] == 'ok', st
        assert sorted(x['id'] for x in st['servers'] if x['alive']) == list(SERVERS), (s, st['servers'])
    ls = {leader(s) for s in SERVERS}
    assert len(ls) == 1 and None not in ls, ls
wait(same, 15)
EOF

# m1 asks s1 first, m2 s2, m3 s3, m4 s1 again: the registrations spread over the servers
start_gmd() {
	local m=$1 a b c
	case $m in m1|m4) a=s1 b=s2 c=s3 ;; m2) a=s2 b=s3 c=s1 ;; m3) a=s3 b=s1 c=s2 ;; esac
	ip netns exec "$P-$m" "$GMD" --gcks "${ADDR[$a]}:848" --gcks "${ADDR[$b]}:848" --gcks "${ADDR[$c]}:848" \
		--id "fqdn:$m.example.net" --psk-file "$W/keys/$m.psk" --group keyid:mc-1 --json \
		--sa-backend none --mcast-iface eth0 --log-level info --liveness 1 --retry 1:4 --retransmit 200:2 \
		--rereg-delay 2 >"$W/$m.json" 2>"$W/gmd-$m.log" &
	mpids="$mpids $!"
}
for m in $MEMBERS; do start_gmd "$m"; done
pyck "the four members (receivers) registered, spread over the three servers (2, 1, 1)" <<'EOF'
def spread():
    for m in MEMBERS:
        assert events(m, 'registered'), f'{m} not registered yet'
    n = [status(s)['ike_sas_established'] for s in SERVERS]
    assert n == [2, 1, 1], n
wait(spread, 20)
EOF

# register_sender NAME SERVER: a sender's one-shot registration (gmd --once, from the spy's
# namespace) with SERVER: Sender-IDs are issued by every server, before and after each failover
register_sender() {
	timeout 30 ip netns exec "$P-spy" "$GMD" --gcks "${ADDR[$2]}:848" --id "fqdn:$1.example.net" \
		--psk-file "$W/keys/$1.psk" --group keyid:mc-1 --sender 2 --once --json --sa-backend none \
		--retransmit 200:3 >"$W/$1-once.json" 2>"$W/gmd-$1.log"
	X=$1 S=$2 pyck "sender $1 registers with $2 and gets two Sender-IDs" <<'EOF'
doc = json.load(open(f"{W}/{os.environ['X']}-once.json"))
g = [g for g in doc['groups'] if g['group'] == GROUP][0]
assert len(g['sender_ids']) == 2, g
EOF
}
register_sender x0 s1

# ---- the leader killed at a random point of a rekey, ROUNDS times ----
# kill points: "rekey" (right after `gcksctl rekey` on the leader returns: its GSA_REKEY, which
# brings a new Rekey SA, went out once, the other two copies not yet), "txn" (0-80 ms after
# `gcksctl rekey` started: before, inside or after the transaction that stores that rekey,
# before or after its first copy), "sched" (after the first copy of a GSA_REKEY the leader's
# scheduler sent, before the others), "idle" (0-3 s after the previous round, wherever the
# scheduler is); the first four rounds take each once, in random order, later rounds any
points=$(printf 'rekey\nsched\nidle\ntxn\n' | shuf | tr '\n' ' ')
for i in $(seq "$ROUNDS"); do
	point=$(echo "$points" | cut -d' ' -f"$i")
	if [ -z "$point" ]; then
		# "txn" may lose a rekey with a new Rekey SA: only while the members would notice it
		used=$(py <<<"print(' '.join(trigger_used(time.time())))")
		point=$(printf 'rekey\nsched\nidle\ntxn\n' | { if [ -n "$used" ]; then grep -vx txn; else cat; fi; } | shuf -n 1)
	fi
	L=$(py <<<"print(leader(alive()[0]))")
	case $L in s1|s2|s3) ;; *) not_ok "round $i: a leader of keyid:mc-1 before the kill (got $L)"; break ;; esac
	py <<<"save('before', {m: count(m) for m in MEMBERS}); save('t_mark', time.time())"
	ctl_pid=""
	case $point in
	txn)
		d=$(python3 -c 'import random; print(round(random.uniform(0, 0.08), 3))')
		timeout 10 "$GCKSCTL" --control "$W/$L.sock" rekey keyid:mc-1 >"$W/rekey-$i.out" 2>&1 &
		ctl_pid=$!
		sleep "$d"
		;;
	rekey)
		timeout 10 "$GCKSCTL" --control "$W/$L.sock" rekey keyid:mc-1 >"$W/rekey-$i.out" 2>&1 ||
			not_ok "round $i: gcksctl rekey on the leader $L: $(cat "$W/rekey-$i.out")"
		;;
	sched)
		L=$L py >/dev/null 2>&1 <<'EOF'
def first_copy():
    assert [r for r in rekeys(load_all()['t_mark']) if r['src'] == os.environ['L']]
wait(first_copy, 10, 0.01)
EOF
		;;
	idle)
		sleep "$(python3 -c 'import random; print(round(random.uniform(0, 3), 2))')"
		;;
	esac
	# (gone once tail returns: the wait only collects it; the shell's "Killed" line goes nowhere)
	{
		kill -KILL "${gpid[$L]}"
		t0=$(date +%s.%N)
		timeout 10 tail --pid="${gpid[$L]}" -f /dev/null && wait "${gpid[$L]}"
		[ -z "$ctl_pid" ] || { timeout 10 tail --pid="$ctl_pid" -f /dev/null && wait "$ctl_pid"; }
	} 2>/dev/null
	rm -f "$W/$L.alive"
	echo "$point" >>"$W/points"
	export L t0 point i
	pyck "round $i ($point): $L, the leader, killed with SIGKILL; another server leads within 10 s and its scheduler's next GSA_REKEY goes out from its own address" <<'EOF'
L, t0 = os.environ['L'], float(os.environ['t0'])
others = alive()
def led():
    ls = {leader(s) for s in others}
    assert len(ls) == 1 and ls != {None} and ls != {L}, ls
    return ls.pop()
new = wait(led, 10, 0.05)
t_lead = time.time() - t0
assert new in others and t_lead <= 10, (new, t_lead)
def sent():
    mine = [r for r in rekeys(t0) if r['src'] == new]
    assert mine, f'no GSA_REKEY from {new} ({ADDR[new]}) on the wire yet'
    return mine[0]
first = wait(sent, 10, 0.05)
assert not [r for r in rekeys(t0 + 0.2) if r['src'] not in (new,)], 'a GSA_REKEY from another server after the kill'
save('round', {'new': new, 'msgid': first['msgid'], 'spi': first['spi'], 't': first['t'], 't0': t0})
save('leaders', load_all().get('leaders', []) + [new])
with open(f'{W}/took', 'a') as f:
    f.write(f"round {os.environ['i']} ({os.environ['point']}): {L} killed; {new} leads after {t_lead:.1f} s, "
            f"its GSA_REKEY (Message ID {first['msgid']}) on the wire after {first['t'] - t0:.1f} s\n")
EOF
	tail -n 1 "$W/took" 2>/dev/null | sed 's/^/# /'
	pyck "round $i: every member accepts the new leader's GSA_REKEY (the first, or after it registered again for a rekey lost with the leader, the next) and the same new SA; none rejects anything" <<'EOF'
st = load_all()
r = st['round']
def followed():
    mine = {x['msgid'] for x in rekeys(r['t0']) if x['src'] == r['new']}
    sas = {}
    for m in MEMBERS:
        since = st['before'][m]
        ev = events(m, ('rekey_accepted', 'sa_added', 'reregistering'), since)
        k = [j for j, e in enumerate(ev) if e['event'] == 'rekey_accepted' and e['message_id'] in mine
             and ts(e) >= r['t'] - 0.5]
        assert k, f"{m}: has accepted none of {r['new']}'s GSA_REKEY yet"
        first = ev[k[0]]
        if first['message_id'] != r['msgid']:
            # the first came under a Rekey SA the member never got: the GSA_REKEY bringing it
            # was stored by the killed leader and never sent
            lost = [e for e in ev[:k[0]] if e['event'] == 'reregistering' and 'announced next Rekey SA' in e['reason']]
            assert lost, (m, f"accepted Message ID {first['message_id']}, not the first ({r['msgid']})")
        new = [e['spi'] for e in ev[k[0] + 1:] if e['event'] == 'sa_added' and e.get('protocol') == 'ESP']
        assert new, f'{m}: no SA from it yet'
        sas.setdefault(first['message_id'], set()).add(new[0])
        bad = events(m, ('rekey_rejected', 'rekey_refused', 'rekey_sas_refused', 'excluded', 'group_lost'), since)
        # A member that registered again in the round (for a rekey lost with the leader, or
        # because its own server died and its liveness check moved it to another) may still
        # receive copies of a GSA_REKEY sent before (the policy sends 3): its new registration
        # starts past that Message ID, so they are replays, and rejecting them is right.
        back = [ts(e) for e in events(m, 'registered', since)]
        bad = [e for e in bad if not (e['event'] == 'rekey_rejected' and e['reason'] == 'old Message ID (replay)'
                                      and back and ts(e) >= back[0])]
        assert not bad, (m, bad)
    assert all(len(v) == 1 for v in sas.values()), f'members disagree on the new SA: {sas}'
    return sas
if r['msgid'] not in wait(followed, 15):
    with open(f'{W}/took', 'a') as f:
        f.write('  (the killed leader had stored a rekey with a new Rekey SA and sent none of it: '
                'every member registered again for the lost rekey)\n')
EOF
	start_gcksd "$L" || { not_ok "round $i: $L starts again"; break; }
	touch "$W/$L.alive"
	pyck "round $i: $L is back; the three servers see each other alive" <<'EOF'
def back():
    for s in SERVERS:
        st = status(s)
        assert sorted(x['id'] for x in st['servers'] if x['alive']) == list(SERVERS), (s, st['servers'])
wait(back, 10)
EOF
	register_sender "x$i" "$(printf 's1\ns2\ns3\n' | shuf -n 1)"
done

# ---- the leader killed after it stored a rekey bringing a new Rekey SA, before sending it ----
# (needs gdb, to stop it right there: a breakpoint on gcks_cluster_changed, which follows the
# store's commit and precedes the first copy; without gdb this part is reported skipped.) No
# member gets the new Rekey SA; the next leader's GSA_REKEY come under it, on the SPI every
# server promised for it in GSA_NEXT_SPI (RFC 9838 4.4.2.2.3): each member knows the rekey was
# lost, registers again (with any server) and follows the next leader's rekeys from there.
lost_round() {
	local L gdb_pid t0 used
	used=$(py <<<"print(' '.join(trigger_used(time.time())))")
	if [ -n "$used" ]; then
		ok "lost: not run: a round before lost a rekey bringing a new Rekey SA with its leader, and every member ($used) registered again for it; within 600 s they ignore another (README, Security)"
		echo "lost rekey: not run (the members' GSA_NEXT_SPI trigger was used less than 600 s before)" >>"$W/took"
		return
	fi
	L=$(py <<<"print(leader(alive()[0]))")
	py <<<"save('before', {m: count(m) for m in MEMBERS}); save('t_mark', time.time())"
	# just after a scheduled rekey of L: the breakpoint catches the rekey asked for below
	L=$L py >/dev/null 2>&1 <<'EOF'
def first_copy():
    assert [r for r in rekeys(load_all()['t_mark']) if r['src'] == os.environ['L']]
wait(first_copy, 10, 0.01)
EOF
	timeout 60 gdb -p "${gpid[$L]}" -batch -ex 'break gcks_cluster_changed' -ex continue -ex kill \
		>"$W/gdb.log" 2>&1 &
	gdb_pid=$!
	# attached (TracerPid) and running again (not in tracing stop): the breakpoint is in
	for _ in $(seq 300); do
		awk '/^TracerPid:/ { t = $2 } /^State:/ { s = $2 } END { exit !(t != 0 && s != "t") }' \
			"/proc/${gpid[$L]}/status" 2>/dev/null && break
		sleep 0.1
	done
	py <<<"save('t_ask', time.time())"
	{
		timeout 10 "$GCKSCTL" --control "$W/$L.sock" rekey keyid:mc-1 >"$W/rekey-lost.out" 2>&1
		timeout 20 tail --pid="${gpid[$L]}" -f /dev/null && wait "${gpid[$L]}"
		t0=$(date +%s.%N)
		timeout 20 tail --pid="$gdb_pid" -f /dev/null && wait "$gdb_pid"
	} 2>/dev/null
	rm -f "$W/$L.alive"
	echo lost >>"$W/points"
	check "lost: $L, the leader, stopped after storing a rekey with a new Rekey SA and killed before sending it" \
		grep -q 'Breakpoint 1, gcks_cluster_changed' "$W/gdb.log"
	L=$L t0=$t0 pyck "lost: nothing of that rekey went out; another server leads and goes on under the new Rekey SA; every member registers again for a lost rekey, then accepts its next GSA_REKEY" <<'EOF'
L, t0 = os.environ['L'], float(os.environ['t0'])
st = load_all()
# (copies of the scheduled rekey before may still come; nothing new)
before = {(r['spi'], r['msgid']) for r in rekeys() if r['t'] < st['t_ask']}
went = [r for r in rekeys(st['t_ask']) if r['src'] == L and (r['spi'], r['msgid']) not in before]
assert not went, ('the lost rekey went out', went)
others = alive()
def led():
    ls = {leader(s) for s in others}
    assert len(ls) == 1 and ls != {None} and ls != {L}, ls
    return ls.pop()
new = wait(led, 10, 0.05)
t_lead = time.time() - t0
def sent():
    mine = [r for r in rekeys(t0) if r['src'] == new]
    assert mine, f'no GSA_REKEY from {new} yet'
    return mine[0]
first = wait(sent, 10, 0.05)
def followed():
    for m in MEMBERS:
        ev = events(m, None, st['before'][m])
        k = [j for j, e in enumerate(ev) if e['event'] == 'reregistering' and 'announced next Rekey SA' in e['reason']]
        assert k, f'{m}: has not noticed the lost rekey yet'
        reg = [j for j, e in enumerate(ev) if e['event'] == 'registered' and j > k[0]]
        assert reg, f'{m}: not registered again yet'
        acc = [e for e in ev[reg[0]:] if e['event'] == 'rekey_accepted']
        assert acc, f'{m}: no GSA_REKEY accepted since it registered again'
        bad = [e for e in ev if e['event'] in ('rekey_rejected', 'rekey_refused', 'excluded', 'group_lost')]
        assert not bad, (m, bad)
wait(followed, 25)
with open(f'{W}/took', 'a') as f:
    f.write(f"lost rekey: {L} killed; {new} leads after {t_lead:.1f} s, its GSA_REKEY on the wire after "
            f"{first['t'] - t0:.1f} s; every member registered again and follows it\n")
EOF
	tail -n 1 "$W/took" 2>/dev/null | sed 's/^/# /'
	start_gcksd "$L" || { not_ok "lost: $L starts again"; return; }
	touch "$W/$L.alive"
}
if command -v gdb >/dev/null; then
	lost_round
elif [ "${GK_REQUIRE_ALL:-0}" = 1 ]; then
	not_ok "lost: the leader killed between storing and sending a rekey: gdb is not installed (GK_REQUIRE_ALL=1; tools/deps installs it)"
else
	ok "lost: the leader killed between storing and sending a rekey # SKIP gdb is not installed"
fi

# ---- after the rounds ----
pyck "on the wire: every GSA_REKEY came from a server's own address; no Message ID sent twice with other contents or by two servers; on each Rekey SA, Message IDs increase across leaders" <<'EOF'
rs = rekeys()
assert rs, 'no GSA_REKEY captured'
srcs = {r['src'] for r in rs}
assert srcs <= set(SERVERS), srcs
assert set(load_all()['leaders']) <= srcs, (load_all()['leaders'], srcs)
first = {}
for r in rs:
    k = (r['spi'], r['msgid'])
    if k in first:
        assert first[k]['data'] == r['data'] and first[k]['src'] == r['src'], f'Message ID {k} sent twice differently'
    else:
        first[k] = r
order = sorted(first.values(), key=lambda r: r['t'])
per = {}
for r in order:
    per.setdefault(r['spi'], []).append(r)
for spi, l in per.items():
    ids = [r['msgid'] for r in l]
    assert all(a < b for a, b in zip(ids, ids[1:])), (spi, ids)
    print(f'Rekey SA {spi[:8]}..: Message IDs (sender)', ' '.join(f"{r['msgid']}({r['src']})" for r in l))
# a leader killed between the copies of a scheduled GSA_REKEY: the next leader went on with the
# same Rekey SA and the next Message ID
if 'sched' in open(f'{W}/points').read().split():
    assert [l for l in per.values() if len({r['src'] for r in l}) >= 2], 'no Rekey SA used by two leaders'
save('last_kek', order[-1]['spi'])
save('last_kek_max', max(r['msgid'] for r in per[order[-1]['spi']]))
EOF
pyck "every member accepted the same Message IDs, increasing on each Rekey SA, and holds the group's current SA; no SPI given to two keys" <<'EOF'
cur = esp_spis(alive()[0])
seqs = {}
for m in MEMBERS:
    segs, seq = [[]], []
    for e in events(m, ('rekey_accepted', 'rekey_sa_replaced', 'registered')):
        if e['event'] == 'rekey_accepted':
            segs[-1].append(e['message_id'])
            seq.append(e['message_id'])
        else:
            segs.append([])
    for ids in segs:
        assert all(a < b for a, b in zip(ids, ids[1:])), (m, segs)
    seqs[m] = seq
    held = {}
    for e in events(m, ('sa_added', 'sa_deleted')):
        if e.get('protocol') != 'ESP':
            continue
        if e['event'] == 'sa_added':
            held[e['spi']] = 1
        else:
            held.pop(e['spi'], None)
    assert set(cur) <= set(held), (m, cur, held)
assert all(s == seqs['m1'] for s in seqs.values()), seqs
# an SPI never names two keys, over the whole run (the database keeps only the live ones)
keys = {}
for m in MEMBERS:
    for e in events(m, ('sa_added', 'rekey_sa_replaced', 'registered')):
        sas = [e] if e['event'] != 'registered' else e['state']['sas'] + [e['state']['rekey_sa']]
        for sa in sas:
            assert keys.setdefault(sa['spi'], sa['keymat_sha256']) == sa['keymat_sha256'], (m, sa['spi'])
print(len(keys), 'SPIs')
print(len(seqs['m1']), 'GSA_REKEY accepted by each member')
EOF
pyck "an SA a rekey replaced stayed until its deactivation delay (3 s) passed, across every failover" <<'EOF'
def check():
    for m in MEMBERS:
        adds, n, after_reg = [], 0, False
        for e in events(m, ('sa_added', 'sa_deleted', 'registered')):
            if e['event'] == 'registered':
                after_reg = True
                continue
            if e.get('protocol') != 'ESP':
                continue
            if e['event'] == 'sa_added':
                adds.append((e['spi'], ts(e)))
                after_reg = False
                continue
            k = [j for j, (spi, _) in enumerate(adds) if spi == e['spi']][-1]
            if k + 1 == len(adds) and after_reg:
                continue  # a registration dropped an SA no rekey had replaced (its GSA_REKEY was lost)
            n += 1
            assert k + 1 < len(adds), (m, 'the current SA was deleted', e)
            kept = ts(e) - adds[k + 1][1]
            assert kept >= 3 - 0.05, (m, e['spi'], f'deleted {kept:.2f} s after its replacement came')
        assert n >= 1, (m, 'no replaced SA deleted yet')
wait(check, 5)
EOF
dups=$(pg_psql gikev2 "SELECT count(*) FROM (SELECT spi FROM sa_keys GROUP BY spi HAVING count(*) > 1) d")
rows=$(pg_psql gikev2 "SELECT count(*) FROM sa_keys")
check "no SPI issued twice among the $rows of the database (got $dups duplicates)" test "$dups" = 0
dups=$(pg_psql gikev2 "SELECT count(*) FROM (SELECT group_id, sender_id_first FROM registrations WHERE sender_id_count > 0 GROUP BY 1, 2 HAVING count(*) > 1) d")
check "no Sender-ID issued twice in the database (got $dups duplicates)" test "$dups" = 0
pyck "no Sender-ID given to two senders, whichever server registered them" <<'EOF'
seen = {}
for f in sorted(os.listdir(W)):
    if f.endswith('-once.json'):
        x = f[:-len('-once.json')]
        for g in json.load(open(f'{W}/{f}'))['groups']:
            for sid in g['sender_ids']:
                assert sid not in seen, (sid, x, seen[sid])
                seen[sid] = x
assert len(seen) >= 4, seen
print('Sender-IDs', sorted(seen.items()))
EOF
msgid=$(pg_psql gikev2 "SELECT c.value FROM counters c JOIN groups g ON g.id = c.group_id WHERE g.name = 'keyid:mc-1' AND c.name = 'rekey_msgid'")
export msgid
pyck "the database's Rekey SA Message ID counter ($msgid) is at least the greatest Message ID sent on the current Rekey SA" <<'EOF'
assert int(os.environ['msgid']) >= load_all()['last_kek_max'], (os.environ['msgid'], load_all()['last_kek_max'])
EOF
[ -f "$W/took" ] && sed 's/^/# takeover: /' "$W/took"
sanitizer_check "no sanitizer report in the logs" "$W"/*.log
[ "$fails" -eq 0 ]
