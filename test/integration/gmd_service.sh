#!/usr/bin/env bash
# gmd as a service: its configuration file, key servers by name and in a failover list, SIGHUP
# and SIGTERM, with the real gcksd, gcksctl and gmd as processes on loopback (--sa-backend none;
# no root needed). Two gcksd (A, B) serve the same inband groups from two databases:
#   - --check-config: a good file says "FILE: ok" (exit 0); mistakes are listed as
#     FILE:LINE:COLUMN: key: message (exit 1); a command line option overrides the file;
#   - failover: the file lists A (not running) then B by host name ("localhost"): gmd gets no
#     answer from A, says so, registers with B;
#   - A comes back: nothing moves (gmd stays with B); B goes away (SIGKILL): gmd's liveness
#     check finds its IKE SA dead and the next registration starts with A, which answers;
#   - SIGHUP adding a group registers it, the SAs held stay; a broken file changes nothing
#     (the mistake is logged at its position); removing a group leaves it (its SA removed);
#     log-level changes at once;
#   - SIGTERM: every SA gmd holds is removed, exit 0;
#   - a registration retrying with a key server that does not answer starts over at once when
#     SIGHUP brings a new key server list.
# With root and network namespaces: a key server at a link-local IPv6 address named with its
# scope ([fe80::2%v0]:PORT, across a veth pair); with --sa-backend xfrm, SIGKILL leaves gmd's SAs in
# the kernel and the next gmd removes them when it starts (before any registration).
# Needs python3 and openssl (tools/deps).
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

W=$(mktemp -d "${TMPDIR:-/tmp}/gk-gmdsvc.XXXXXX")
export W
declare -A gpid=()
mpid= NS= NS2=
fails=0
cleanup() {
	local p
	for p in "${gpid[@]}" $mpid; do kill "$p" 2>/dev/null || true; done
	for p in "${gpid[@]}" $mpid; do wait "$p" 2>/dev/null || true; done
	[ -z "$NS" ] || ip netns del "$NS" 2>/dev/null || true
	[ -z "$NS2" ] || ip netns del "$NS2" 2>/dev/null || true
	if [ "$fails" -ne 0 ]; then
		show_logs "$W"/*.log "$W"/gm.json
	fi
	rm -rf "$W"
}
trap cleanup EXIT

. "$(dirname "$0")/tap.sh"
# pyck DESC <<'EOF' python EOF: events(kind, since) reads gmd's JSON event lines; wait(fn, s)
# retries fn until it stops raising AssertionError; log() is gmd's log.
cat >"$W/ck.py" <<'EOF'
import json, os, subprocess, sys, time
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
    with open(f'{W}/gmd.log', errors='replace') as f:
        l = len(f.readlines())
    with open(f'{W}/mark-{name}', 'w') as f:
        f.write(f'{n} {l}')
def since(name):
    with open(f'{W}/mark-{name}') as f:
        return int(f.read().split()[0])
def log(since_mark=None):
    with open(f'{W}/gmd.log', errors='replace') as f:
        lines = f.readlines()
    if since_mark:
        with open(f'{W}/mark-{since_mark}') as f:
            lines = lines[int(f.read().split()[1]):]
    return [l.rstrip('\n') for l in lines]
def held(group=None):
    h = set()
    for e in events(('sa_added', 'sa_deleted')):
        if group and e['group'] != group:
            continue
        (h.add if e['event'] == 'sa_added' else h.discard)(e['spi'])
    return h
def members(db):
    out = subprocess.run([os.environ['GCKSCTL'], '--db', db, '--json', 'member', 'list', 'keyid:svc-1'],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)
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
export GCKSCTL
pyck() { check "$1" python3 "$W/ck.py"; }
mark() { python3 "$W/ck.py" <<<"mark('$1')"; }

PA=$(free_port) PB=$(free_port)
# "localhost" as gmd resolves it (getaddrinfo, AI_ADDRCONFIG): gcksd listens on that address
LH=$(python3 -c 'import socket; print(socket.getaddrinfo("localhost", 1, type=socket.SOCK_DGRAM, flags=socket.AI_ADDRCONFIG)[0][4][0])')
case $LH in *:*) LHB="[$LH]" ;; *) LHB=$LH ;; esac

mkdir -p "$W/a" "$W/b" "$W/conf"
(umask 077 && printf '0x%s\n' "$(openssl rand -hex 32)" >"$W/conf/m1.psk")
# started as root, gmd drops to its account and reads its file again on SIGHUP as that account:
# the layout of gmd.conf(5) (directory 0750 and file 0640 with the account's group)
if [ "$(id -u)" = 0 ]; then
	gmd_user=$("$GMD" --help | sed -n 's/.*runs as USER (default \([^)]*\)).*/\1/p')
	chmod 0711 "$W"
	chgrp "$gmd_user" "$W/conf" && chmod 0750 "$W/conf"
fi
conf_perms() { [ "$(id -u)" != 0 ] || { chgrp "$gmd_user" "$@" && chmod 0640 "$@"; }; }
for s in a b; do
	cp "$W/conf/m1.psk" "$W/$s/m1.psk"
	cat >"$W/$s/groups.yaml" <<'EOF'
groups:
  - id: keyid:svc-1
    ike-idle-timeout: 5m
    rekey:
      transport: inband
    sas:
      - name: data
        protocol: esp
        encryption: aes-gcm-16
        key-length: 256
        destination: 239.192.4.1
        ip-protocol: udp
        ports: 7000
        lifetime: 1h
    members:
      - id: fqdn:m1.example.net
        psk-file: m1.psk
  - id: keyid:svc-2
    ike-idle-timeout: 5m
    rekey:
      transport: inband
    sas:
      - name: data
        protocol: esp
        encryption: aes-gcm-16
        key-length: 256
        destination: 239.192.4.2
        ip-protocol: udp
        ports: 7000
        lifetime: 1h
    members:
      - id: fqdn:m1.example.net
        psk-file: m1.psk
EOF
	check "gcksctl init and policy load for gcksd $s" sh -c "'$GCKSCTL' --db '$W/$s/gcks.db' init --id fqdn:gcks.example && \
'$GCKSCTL' --db '$W/$s/gcks.db' policy load '$W/$s/groups.yaml'"
done
# start_gcksd a|b N: gcksd A on PA or B on PB (at the address localhost resolves to), log gcksd-a-N.log
start_gcksd() {
	local s=$1 port=$PA log=$W/gcksd-$1-$2.log
	[ "$s" = b ] && port=$PB
	"$GCKSD" --db "$W/$s/gcks.db" --listen "$LHB:$port" --control "$W/$s/ctl.sock" --foreground \
		--log-level debug 2>"$log" &
	gpid[$s]=$!
	for _ in $(seq 150); do
		grep -q 'gcksd ready' "$log" && return 0
		kill -0 "${gpid[$s]}" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
kill_gcksd() {
	kill -KILL "${gpid[$1]}"
	wait "${gpid[$1]}" 2>/dev/null || true
	unset "gpid[$1]"
}

# ---- --check-config ----
cat >"$W/conf/m1.conf" <<EOF
# gmd's settings for the test: A first, B second (by name)
gcks:
  - "$LHB:$PA"
  - localhost:$PB
id: fqdn:m1.example.net
group: keyid:svc-1
psk-file: m1.psk
sa-backend: none
json: true
log-level: info
liveness: 1
retry: 1:2
retransmit: 200:1
EOF
conf_perms "$W/conf/m1.conf"
rc=0
out=$("$GMD" --config "$W/conf/m1.conf" --check-config 2>&1) || rc=$?
check "--check-config on a good file: '$W/conf/m1.conf: ok', exit 0 (got $rc: $out)" \
	test "$rc:$out" = "0:$W/conf/m1.conf: ok"
cat >"$W/conf/bad.conf" <<'EOF'
gcks: localhost
id: fqdn:m1.example.net
group: [keyid:svc-1, keyid:svc-1]
psk-file: m1.psk
retry: soon
colour: blue
EOF
rc=0
"$GMD" --config "$W/conf/bad.conf" --check-config >"$W/check.stdout" 2>"$W/check.err" || rc=$?
printf '%s\n' "$W/conf/bad.conf:3:22: group: keyid:svc-1 is listed twice" \
	"$W/conf/bad.conf:5:8: retry: use SECONDS[:MAX], 1 to 86400" \
	"$W/conf/bad.conf:6:1: colour: unknown setting (gmd.conf(5) lists them)" >"$W/check.want"
check "--check-config on a file with three mistakes: each at FILE:LINE:COLUMN on stderr, exit 1" \
	bash -c '[ "$1" = 1 ] && [ ! -s "$2" ] && diff "$3" "$4"' _ "$rc" "$W/check.stdout" "$W/check.want" "$W/check.err"
rc=0
"$GMD" --config "$W/conf/bad.conf" --check-config --retry 3 --group keyid:svc-1 >"$W/check.stdout" 2>"$W/check.err" || rc=$?
check "options on the command line do not hide the file's mistakes (the same three lines, exit 1)" \
	bash -c '[ "$1" = 1 ] && diff "$2" "$3"' _ "$rc" "$W/check.want" "$W/check.err"
rc=0
out=$("$GMD" --config "$W/conf/none.conf" --check-config 2>&1) || rc=$?
check "a missing file: 'FILE: cannot read: ...', exit 1" \
	test "$rc:$out" = "1:$W/conf/none.conf: cannot read: No such file or directory"
rc=0
out=$("$GMD" --config "$W/conf/m1.conf" --check-config --gcks no-such-host.invalid 2>&1) || rc=$?
check "a key server name that does not resolve: 'gmd: --gcks no-such-host.invalid: cannot resolve ...', exit 1" \
	bash -c '[ "$1" = 1 ] && [[ "$2" == "gmd: --gcks no-such-host.invalid: cannot resolve no-such-host.invalid: "* ]]' _ "$rc" "$out"
if [ "$(cat /sys/class/net/lo/ifindex 2>/dev/null)" ] && [ -e /proc/net/if_inet6 ]; then
	rc=0
	out=$("$GMD" --check-config --gcks 'fe80::1%lo' --gcks '[fe80::2%lo]:848' --id fqdn:m1.example.net \
		--group keyid:svc-1 --psk-file "$W/conf/m1.psk" 2>&1) || rc=$?
	check "IPv6 link-local key servers with a scope (fe80::1%lo, [fe80::2%lo]:848) are accepted" \
		test "$rc:$out" = "0:command line: ok"
	rc=0
	out=$("$GMD" --check-config --gcks 'fe80::1%no-such-if0' --id fqdn:m1.example.net \
		--group keyid:svc-1 --psk-file "$W/conf/m1.psk" 2>&1) || rc=$?
	check "an unknown scope (interface) is refused, exit 1" \
		bash -c '[ "$1" = 1 ] && [[ "$2" == "gmd: --gcks fe80::1%no-such-if0: cannot resolve "* ]]' _ "$rc" "$out"
fi

# ---- failover: A is down, B answers ----
start_gcksd b 1 || { not_ok "gcksd B starts"; exit 1; }
ok "gcksd B listens on $LHB:$PB; A ($LHB:$PA) is not running"
rc=0
"$GMD" --config "$W/conf/m1.conf" --once --gcks "localhost:$PB" --log-level warn >"$W/once.json" 2>"$W/once.log" || rc=$?
check "options on the command line override the file: --once --gcks localhost:$PB registers with B alone, exit 0" \
	python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["gcks"] == sys.argv[2] and d["groups"][0]["status"] == "registered", d; assert sys.argv[3] == "0"' \
	"$W/once.json" "$LHB:$PB" "$rc"
"$GMD" --config "$W/conf/m1.conf" >"$W/gm.json" 2>"$W/gmd.log" &
mpid=$!
pyck "gmd gets no answer from A, says so, and registers with B (found as localhost:$PB)" <<EOF
def reg():
    r = events('registered')
    assert len(r) == 1, r
    assert r[0]['state']['group'] == 'keyid:svc-1', r
wait(reg, 15)
want = 'key server $LHB:$PA: no answer: trying key server $LHB:$PB'
assert any(l.endswith(want) for l in log()), log()
m = members('$W/b/gcks.db')
assert 'fqdn:m1.example.net' in json.dumps(m), m
EOF
check "the start is logged with the key server list" grep -q "started: 1 group(s), 2 key server(s), first $LHB:$PA, settings from $W/conf/m1.conf" "$W/gmd.log"

# ---- A comes back: gmd stays with B until its next registration ----
mark a_back
start_gcksd a 1 || { not_ok "gcksd A starts"; exit 1; }
# two liveness checks of gmd answered by B since A came back: gmd stayed active meanwhile
infos() { grep -c 'INFORMATIONAL request' "$W/gcksd-b-1.log" || true; }
n0=$(infos)
two_more() { for _ in $(seq 100); do [ "$(infos)" -ge $((n0 + 2)) ] && return 0; sleep 0.1; done; return 1; }
check "gmd's liveness checks keep going to B after A came back" two_more
pyck "A is back: nothing moves, gmd stays registered with B (A has no member)" <<'EOF'
s = since('a_back')
assert not events(since=s), events(since=s)
m = members(f'{W}/a/gcks.db')
assert 'm1.example.net' not in json.dumps(m), m
EOF
mark b_gone
kill_gcksd b
pyck "B is killed: gmd's liveness check finds the IKE SA dead, the next registration starts with A and succeeds; the SA held stays" <<'EOF'
s = since('b_gone')
def moved():
    assert events('ike_sa_dead', s), 'no ike_sa_dead yet'
    assert events('registered', s), 'not registered again yet'
wait(moved, 20)
m = members(f'{W}/a/gcks.db')
assert 'fqdn:m1.example.net' in json.dumps(m), m
assert not any('trying key server' in l for l in log('b_gone')), log('b_gone')
assert not events('group_lost', s), events(since=s)
assert len(held('keyid:svc-1')) >= 1, held()
EOF

# ---- SIGHUP: a group added ----
cp -p "$W/conf/m1.conf" "$W/conf/m1.orig"
python3 - "$W/conf/m1.conf" <<'EOF'
import sys
p = sys.argv[1]
s = open(p).read().replace('group: keyid:svc-1\n', 'group: [keyid:svc-1, keyid:svc-2]\n')
open(p, 'w').write(s)
EOF
mark hup_add
python3 "$W/ck.py" <<<"import json; json.dump(sorted(held('keyid:svc-1')), open(f'{W}/held-1', 'w'))"
kill -HUP "$mpid"
pyck "SIGHUP with keyid:svc-2 added: it is registered; keyid:svc-1's SAs stay untouched" <<'EOF'
s = since('hup_add')
def added():
    r = [e for e in events('registered', s) if e['state']['group'] == 'keyid:svc-2']
    assert r, 'keyid:svc-2 not registered yet'
wait(added, 15)
assert not [e for e in events(('sa_deleted', 'group_lost', 'registered'), s) if e.get('group', e.get('state', {}).get('group')) == 'keyid:svc-1'], events(since=s)
assert sorted(held('keyid:svc-1')) == json.load(open(f'{W}/held-1'))
assert held('keyid:svc-2'), held()
l = log('hup_add')
assert any(x.endswith('group keyid:svc-2: added to the configuration: registering') for x in l), l
assert any(x.endswith(f'{W}/conf/m1.conf: reloaded') for x in l), l
EOF

# ---- SIGHUP: a broken file changes nothing ----
cp -p "$W/conf/m1.conf" "$W/conf/m1.good"
printf 'nat-keepalive: never\n' >>"$W/conf/m1.conf"
mark hup_bad
held_all=$(python3 "$W/ck.py" <<<"print(sorted(held()))")
kill -HUP "$mpid"
pyck "SIGHUP with a mistake in the file: the mistake is logged at its position, the running settings stay" <<EOF
def logged():
    l = log('hup_bad')
    assert any(x.endswith('$W/conf/m1.conf: not reloaded: the running configuration stays') for x in l), l
    return l
l = wait(logged, 10)
assert any(x.endswith('$W/conf/m1.conf:14:16: nat-keepalive: use SECONDS, 0 to 3600 (0 = off)') for x in l), l
assert not events(since=since('hup_bad')), events(since=since('hup_bad'))
assert str(sorted(held())) == """$held_all"""
EOF
check "gmd keeps running after the broken reload" kill -0 "$mpid"

# ---- SIGHUP: a group removed, log level raised ----
python3 - "$W/conf/m1.good" "$W/conf/m1.conf" <<'EOF'
import sys
s = open(sys.argv[1]).read().replace('group: [keyid:svc-1, keyid:svc-2]\n', 'group: keyid:svc-1\n')
s = s.replace('log-level: info\n', 'log-level: debug\nnat-keepalive: 30\n')
open(sys.argv[2], 'w').write(s)
EOF
mark hup_del
kill -HUP "$mpid"
pyck "SIGHUP with keyid:svc-2 removed: it is left, its SA removed; keyid:svc-1 stays; debug logging starts; the other change waits for a restart" <<EOF
s = since('hup_del')
def left():
    assert events('group_left', s), 'no group_left yet'
wait(left, 10)
g = events('group_left', s)
assert len(g) == 1 and g[0]['group'] == 'keyid:svc-2', g
assert not held('keyid:svc-2'), held()
assert [e for e in events('sa_deleted', s) if e['group'] == 'keyid:svc-2'], events(since=s)
assert not [e for e in events(since=s) if e.get('group') == 'keyid:svc-1'], events(since=s)
assert held('keyid:svc-1')
def debug():
    assert any(' debug [' in x for x in log('hup_del')), 'no debug line yet'
wait(debug, 10)
l = log('hup_del')
assert any(x.endswith('$W/conf/m1.conf: nat-keepalive changed: takes effect when gmd restarts') for x in l), l
EOF

# ---- SIGTERM: everything held goes ----
mark term
rc=0
kill -TERM "$mpid"
wait "$mpid" || rc=$?
mpid=
check "gmd exits 0 on SIGTERM (got $rc)" test "$rc" = 0
pyck "on SIGTERM every SA gmd held is removed" <<'EOF'
assert events('sa_deleted', since('term')), events(since=since('term'))
assert not held(), held()
EOF

# ---- SIGHUP with a new key server list: a registration still looking for one starts over ----
python3 - "$W/conf/m1.orig" "$W/conf/m2.conf" "$LHB:$PB" <<'EOF'
import sys
s = open(sys.argv[1]).read().split('\n')
i = s.index('gcks:')
s[i + 1:i + 3] = ['  - "' + sys.argv[3] + '"']
s = '\n'.join(s).replace('retry: 1:2', 'retry: 2:60')
open(sys.argv[2], 'w').write(s)
EOF
conf_perms "$W/conf/m2.conf"
"$GMD" --config "$W/conf/m2.conf" >"$W/gm.json" 2>"$W/gmd.log" &
mpid=$!
pyck "gmd with B (down) as its only key server: the registration fails and is retried" <<'EOF'
def failing():
    assert events('registration_failed'), 'no failure yet'
wait(failing, 10)
assert not events('registered')
EOF
mark hup_gcks
sed -i "s|^  - \"$LHB:$PB\"|  - \"$LHB:$PA\"|" "$W/conf/m2.conf"
kill -HUP "$mpid"
pyck "SIGHUP with A as the key server: the retrying registration starts over with A at once and registers" <<'EOF'
s = since('hup_gcks')
def reg():
    assert events('registered', s), 'not registered yet'
# the backoff (2 s doubling up to 60 s) would come later, and to B, which never answers
wait(reg, 4)
m = members(f'{W}/a/gcks.db')
assert 'fqdn:m1.example.net' in json.dumps(m), m
EOF
kill -TERM "$mpid"
wait "$mpid" || true
mpid=

# ---- in a network namespace (root): a link-local key server with its scope; xfrm: SIGKILL
# leaves gmd's SAs, the next gmd removes them when it starts ----
# ns_gcksd LOG LISTEN: gcksd A's database in the namespace
ns_gcksd() {
	ip netns exec "$NS" "$GCKSD" --db "$W/a/gcks.db" --listen "$2" --control "$W/a/ctl2.sock" \
		--foreground --log-level debug 2>"$W/$1" &
	gpid[ns]=$!
	for _ in $(seq 150); do grep -q 'gcksd ready' "$W/$1" && return 0; sleep 0.1; done
	return 1
}
scope_case() {
	kill_gcksd a
	NS=gk-gmdsvc-$$ NS2=gk-gmdsvc2-$$
	ip netns add "$NS" && ip netns add "$NS2" || return 1
	ip -n "$NS" link set lo up && ip -n "$NS2" link set lo up || return 1
	# the key server across a veth pair at a link-local address: reachable only with the
	# interface named
	ip link add v0 netns "$NS" type veth peer name v1 netns "$NS2" &&
		ip -n "$NS" addr add fe80::1/64 dev v0 nodad && ip -n "$NS2" addr add fe80::2/64 dev v1 nodad &&
		ip -n "$NS" link set v0 up && ip -n "$NS2" link set v1 up || return 1
	local save=$NS
	NS=$NS2
	ns_gcksd gcksd-scope.log "[::]:$PA" || { NS=$save; return 1; }
	NS=$save
	# gcksd on the wildcard address learns the link-local address it was reached at, with its
	# interface, hashes it into NAT_DETECTION_SOURCE_IP and answers from it (RFC 7296 2.11, 2.23)
	rc=0
	timeout 30 ip netns exec "$NS" "$GMD" --gcks "[fe80::2%v0]:$PA" --id fqdn:m1.example.net --group keyid:svc-1 \
		--psk-file "$W/conf/m1.psk" --once --json --retransmit 200:2 --log-level debug >"$W/scope.json" 2>"$W/scope.log" || rc=$?
	check "a key server at a link-local address with its scope ([fe80::2%v0]:$PA): registered, exit 0" \
		python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["groups"][0]["status"] == "registered", d; assert sys.argv[2] == "0"' \
		"$W/scope.json" "$rc"
	check "... with NAT detection on, neither side saw a NAT" \
		sh -c '! grep "NAT detected" "$1" && ! grep "a NAT lies between us" "$2"' sh "$W/scope.log" "$W/gcksd-scope.log"
	kill -KILL "${gpid[ns]}"
	wait "${gpid[ns]}" 2>/dev/null || true
	unset "gpid[ns]"
	ip netns del "$NS2"
}
xfrm_case() {
	ns_gcksd gcksd-ns.log "127.0.0.1:$PA" || return 1
	cp -p "$W/conf/m1.orig" "$W/conf/x.conf"
	sed -i -e "s|^  - \"$LHB:$PA\"|  - 127.0.0.1:$PA|" -e '/^  - localhost:/d' -e 's|^sa-backend: none|sa-backend: xfrm|' \
		"$W/conf/x.conf"
	ip netns exec "$NS" "$GMD" --config "$W/conf/x.conf" >"$W/gm.json" 2>"$W/gmd.log" &
	mpid=$!
}
if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null; then
	echo "ok - a link-local key server with its scope; xfrm: SIGKILL leaves SAs, the next gmd removes them # SKIP needs root and ip (network namespaces)"
elif ! ip netns add "gk-probe-$$" 2>/dev/null; then
	echo "ok - a link-local key server with its scope; xfrm: SIGKILL leaves SAs, the next gmd removes them # SKIP cannot create network namespaces here"
else
	ip netns del "gk-probe-$$"
	scope_case || not_ok "a network namespace with a veth pair and a link-local address"
	xfrm_case || not_ok "gcksd in the namespace"
	xstates() { ip -n "$NS" xfrm state | grep -c '^src' || true; }
	xmarked() { ip -n "$NS" xfrm state | grep -c 'reqid 0x4749' || true; }
	pyck "xfrm: gmd registers in the namespace" <<'EOF'
def reg():
    assert events('registered'), 'not registered yet'
wait(reg, 15)
EOF
	if [ "$(xmarked)" -ge 1 ]; then
		ok "xfrm: the group's SA is in the kernel with gmd's mark (reqid 0x4749....)"
		kill -KILL "$mpid"
		wait "$mpid" 2>/dev/null || true
		mpid=
		check "xfrm: after SIGKILL gmd's SA is still in the kernel (nothing ran)" test "$(xmarked)" -ge 1
		kill -KILL "${gpid[ns]}"
		wait "${gpid[ns]}" 2>/dev/null || true
		unset "gpid[ns]"
		# the next gmd, whose key server does not answer: it removes the stale SA before registering
		ip netns exec "$NS" "$GMD" --config "$W/conf/x.conf" >"$W/gm.json" 2>"$W/gmd-2.log" &
		mpid=$!
		gone() { for _ in $(seq 100); do grep -q 'SA backend: xfrm' "$W/gmd-2.log" && [ "$(xstates)" = 0 ] && return 0; sleep 0.1; done; return 1; }
		check "xfrm: the next gmd removes the SA left behind when it starts, with no registration" gone
		rc=0
		kill -TERM "$mpid"
		wait "$mpid" || rc=$?
		mpid=
		check "xfrm: that gmd exits 0 on SIGTERM" test "$rc" = 0
	else
		echo "ok - xfrm: SIGKILL leaves SAs, the next gmd removes them # SKIP no SA in the kernel: it cannot hold the group's ESP AES-GCM SA (ip xfrm state add: $(ip -n "$NS" xfrm state add src 10.0.0.1 dst 239.1.1.1 proto esp spi 0x100 mode tunnel aead 'rfc4106(gcm(aes))' 0x0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f2021222324 128 2>&1 | head -1))"
	fi
fi

sanitizer_check "no sanitizer report in gmd's or gcksd's logs" "$W"/*.log
[ "$fails" -eq 0 ]
