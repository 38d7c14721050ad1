#!/usr/bin/env bash
# IKE over TCP (RFC 9329) with the real gcksd, gcksctl and gmd on loopback (no root):
#   - gmd --transport tcp registers to an inband group over TCP only and gets its
#     GSA_INBAND_REKEY on that connection (gmd never sent gcksd a datagram: only the connection
#     can carry it); its liveness checks keep the connection within gcksd's idle timeout;
#   - gmd --transport auto toward a UDP port nobody answers falls back to TCP after two
#     unanswered retransmissions and registers;
#   - over TCP gmd does not retransmit (RFC 9329, Retransmissions): a TCP responder that never answers
#     receives the request once, and gmd still gives up after its retransmission schedule;
#   - the limits, each by performing the attack: a wrong prefix, a Length of 0, a Length above
#     --tcp-max-frame, a silent connection and a slowloris (a byte every 0.4 s) are closed, the
#     last two at --tcp-idle-timeout; connections beyond --tcp-max-per-source and
#     --tcp-max-conns are reset at once; an ESP frame is dropped, the connection kept;
#   - while the limits are full, gcksd still registers a member over UDP and still rekeys the
#     TCP member.
# Needs python3 and openssl (tools/deps). Prints ok / not ok lines; exit 0 when all pass.
set -euo pipefail

B=${GK_BUILDDIR:-$(pwd)}
GCKSD=$B/gcks/gcksd GCKSCTL=$B/gcks/gcksctl GMD=$B/member/gmd
for t in python3 openssl timeout; do
	command -v "$t" >/dev/null || { echo "not ok - $t is needed (tools/deps installs it)"; exit 99; }
done
for p in "$GCKSD" "$GCKSCTL" "$GMD"; do
	[ -x "$p" ] || { echo "not ok - $p is not built"; exit 99; }
done
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

W=$(mktemp -d "${TMPDIR:-/tmp}/gk-tcp.XXXXXX")
export W
gpid= mpid= hpid=
fails=0
cleanup() {
	local p
	for p in $hpid $mpid $gpid; do kill "$p" 2>/dev/null || true; done
	for p in $hpid $mpid $gpid; do timeout 10 tail --pid="$p" -f /dev/null 2>/dev/null || true; done
	if [ "$fails" -ne 0 ]; then
		show_logs "$W"/*.log "$W"/*.json "$W"/*.out
	fi
	rm -rf "$W"
}
trap cleanup EXIT
. "$(dirname "$0")/tap.sh"

cat >"$W/ck.py" <<'EOF'
import json, os, socket, struct, sys, time
W = os.environ['W']
def events(path, kind=None):
    """The complete event lines so far: none while the program (started in the background) has
    not made its output file yet, and not a line it is still writing."""
    out = []
    try:
        with open(f'{W}/{path}') as f:
            data = f.read()
    except FileNotFoundError:
        return out
    for line in data.split('\n')[:-1]:
        line = line.strip()
        if line:
            e = json.loads(line)
            if kind is None or e['event'] == kind:
                out.append(e)
    return out
def log(path):
    with open(f'{W}/{path}', errors='replace') as f:
        return f.read()
def wait(fn, timeout):
    end = time.time() + timeout
    while True:
        try:
            return fn()
        except AssertionError:
            if time.time() > end:
                raise
            time.sleep(0.1)
TPORT = int(os.environ['TPORT'])
def conn(src='127.0.0.1', prefix=True):
    s = socket.socket()
    s.bind((src, 0))
    s.connect(('127.0.0.1', TPORT))
    if prefix:
        try:
            s.sendall(b'IKETCP')
        except ConnectionResetError:
            pass # refused: closed_within tells
    return s
def closed_within(s, secs):
    """True when the peer closes or resets the connection within secs."""
    s.settimeout(secs)
    try:
        return s.recv(100) == b''
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False
exec(compile(sys.stdin.read(), 'check', 'exec'))
EOF
pyck() { check "$1" python3 "$W/ck.py"; }

uport=$(free_port) tport=$(free_port SOCK_STREAM) dead=$(free_port) mute=$(free_port SOCK_STREAM)
export dead
export TPORT=$tport
DB=$W/gcks.db CTL=$W/ctl.sock
mkdir -p "$W/keys"
for m in m1 m2 m3 m4; do (umask 077 && printf '0x%s\n' "$(openssl rand -hex 32)" >"$W/keys/$m.psk"); done
cat >"$W/policy.yaml" <<'EOF'
groups:
  - id: keyid:tcp-1
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
        psk-file: keys/m1.psk
      - id: fqdn:m2.example.net
        psk-file: keys/m2.psk
      - id: fqdn:m3.example.net
        psk-file: keys/m3.psk
      - id: fqdn:m4.example.net
        psk-file: keys/m4.psk
EOF
check "gcksctl init and policy load (an inband group)" \
	sh -c "'$GCKSCTL' --db '$DB' init --id fqdn:gcks.example && '$GCKSCTL' --db '$DB' policy load '$W/policy.yaml'"

"$GCKSD" --db "$DB" --listen "127.0.0.1:$uport" --listen-tcp "127.0.0.1:$tport" --control "$CTL" --foreground \
	--tcp-max-conns 6 --tcp-max-per-source 3 --tcp-idle-timeout 3 --tcp-max-frame 2048 2>"$W/gcksd.log" &
gpid=$!
wait_for 15 grep -q 'gcksd ready' "$W/gcksd.log" || { not_ok "gcksd starts"; exit 1; }
check "gcksd listens on TCP and logs its TCP limits" grep -qF \
	"limits of IKE over TCP: 6 connections, 3 per source; closed after 3 s without a complete IKE message or at a frame above 2048 octets" \
	"$W/gcksd.log"

# ---- registration and inband rekey over TCP ----
"$GMD" --gcks "127.0.0.1:$uport" --transport "tcp:$tport" --id fqdn:m1.example.net --psk-file "$W/keys/m1.psk" \
	--group keyid:tcp-1 --json --sa-backend none --log-level debug --liveness 1 >"$W/m1.json" 2>"$W/m1.log" &
mpid=$!
pyck "gmd --transport tcp registers over TCP" <<'EOF'
def reg():
    assert events('m1.json', 'registered'), 'not registered yet'
wait(reg, 15)
assert 'connecting to key server 127.0.0.1:%d over TCP' % TPORT in log('m1.log')
EOF
check "gcksctl rekey keyid:tcp-1" "$GCKSCTL" --control "$CTL" rekey keyid:tcp-1
pyck "the GSA_INBAND_REKEY reaches gmd on its TCP connection" <<'EOF'
wait(lambda: events('m1.json', 'inband_rekey') or (_ for _ in ()).throw(AssertionError('no inband_rekey')), 10)
EOF
pyck "gmd's liveness checks keep its connection past gcksd's idle timeout (3 s)" <<'EOF'
time.sleep(4.5)
assert 'tcp: closed connection from' not in log('gcksd.log'), log('gcksd.log')
assert 'tcp: connection to' not in log('m1.log')
EOF

# ---- auto: UDP unanswered, then TCP ----
"$GMD" --gcks "127.0.0.1:$dead" --transport "auto:$tport" --id fqdn:m2.example.net --psk-file "$W/keys/m2.psk" \
	--group keyid:tcp-1 --once --json --sa-backend none --retransmit 200:6 >"$W/m2.json" 2>"$W/m2.log" &
hpid=$!
pyck "gmd --transport auto: no answer on UDP, TCP after 2 retransmissions, registered" <<'EOF'
def reg():
    assert '"status":"registered"' in log('m2.json'), 'not registered yet'
wait(reg, 20)
assert 'key server 127.0.0.1:%s: no answer over UDP after 2 retransmissions: using TCP from now on (RFC 9329)' \
    % os.environ['dead'] in log('m2.log'), log('m2.log')
EOF
timeout 10 tail --pid="$hpid" -f /dev/null || true
hpid=

# ---- no retransmissions over TCP (RFC 9329, Retransmissions) ----
python3 - "$mute" >"$W/mute.out" 2>&1 <<'EOF' &
import socket, sys, time
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(('127.0.0.1', int(sys.argv[1]))); l.listen(4); l.settimeout(20)
print('listening', flush=True)
c, _ = l.accept(); c.settimeout(0.2)
data = b''; end = time.time() + 5
while time.time() < end:
    try:
        b = c.recv(65536)
        if not b:
            break
        data += b
    except socket.timeout:
        pass
assert data[:6] == b'IKETCP', data[:6]
n, at = 0, 6
while at + 2 <= len(data):
    at += int.from_bytes(data[at:at + 2], 'big'); n += 1
print('frames', n)
EOF
hpid=$!
wait_for 10 grep -q listening "$W/mute.out" || true
rc=0
timeout 30 "$GMD" --gcks "127.0.0.1:$uport" --transport "tcp:$mute" --id fqdn:m3.example.net --psk-file "$W/keys/m3.psk" \
	--group keyid:tcp-1 --once --json --sa-backend none --retransmit 200:3 >"$W/m3.json" 2>"$W/m3.log" || rc=$?
timeout 10 tail --pid="$hpid" -f /dev/null || true
hpid=
check "over TCP gmd sends its IKE_SA_INIT once (no retransmission, RFC 9329, Retransmissions) and gives up at its schedule (exit 3, no answer)" \
	sh -c "[ $rc = 3 ] && grep -qx 'frames 1' '$W/mute.out' && grep -q 'registration failed: no answer from the GCKS' '$W/m3.log'"

# ---- the limits, by attack ----
pyck "a stream that does not start with IKETCP is closed at once" <<'EOF'
s = conn(prefix=False); s.sendall(b'GET / HTTP/1.0\r\n\r\n')
assert closed_within(s, 2)
wait(lambda: 'stream does not start with the IKETCP prefix' in log('gcksd.log') or (_ for _ in ()).throw(AssertionError()), 3)
EOF
pyck "a frame Length of 0 closes the connection" <<'EOF'
s = conn(); s.sendall(b'\x00\x00')
assert closed_within(s, 2)
assert 'frame length 0 is below its own 2 octets' in log('gcksd.log')
EOF
pyck "a frame Length above --tcp-max-frame (2048) closes the connection before its body" <<'EOF'
s = conn(); s.sendall(struct.pack('>H', 2049))
assert closed_within(s, 2)
assert 'frame length 2049 is above the limit 2048' in log('gcksd.log')
EOF
pyck "an ESP frame is dropped (no ESP on a key server), the connection stays" <<'EOF'
s = conn(); s.sendall(struct.pack('>H', 14) + b'\x00\x00\x10\x01' + b'\x00' * 8)
assert not closed_within(s, 1)
s.close()
EOF
pyck "a silent connection is closed at --tcp-idle-timeout (3 s)" <<'EOF'
t = time.time(); s = conn()
assert closed_within(s, 8)
el = time.time() - t
assert 2.5 <= el <= 5, el
EOF
pyck "a slowloris (a byte every 0.4 s, never a complete frame) is closed at --tcp-idle-timeout" <<'EOF'
t = time.time(); s = conn()
frame = struct.pack('>H', 200) + b'\x00' * 198
gone = False
for b in frame:
    try:
        s.send(bytes([b]))
    except (BrokenPipeError, ConnectionResetError):
        gone = True; break
    if closed_within(s, 0.4):
        gone = True; break
el = time.time() - t
assert gone and 2.5 <= el <= 5, (gone, el)
EOF

# holds the limits full (3 from 127.0.0.2, 2 more from 127.0.0.3 besides m1's), checks the
# resets, then keeps them until told to stop
python3 "$W/ck.py" >"$W/hold.out" 2>&1 <<'EOF' &
def alive(ss):
    return sum(not closed_within(s, 0.2) for s in ss)
held = [conn('127.0.0.2') for _ in range(3)]
extra = conn('127.0.0.2')
print('per-source reset', closed_within(extra, 1), flush=True)
held += [conn('127.0.0.3') for _ in range(2)]
print('held', alive(held), flush=True)
over = conn('127.0.0.3')
print('total reset', closed_within(over, 1), flush=True)
print('holding', flush=True)
# stay: each connection sends a complete (junk) IKE frame every second, so the idle timeout
# does not free the slots
junk = struct.pack('>H', 34) + b'\x00' * 4 + b'\x01' * 28
end = time.time() + 20
while time.time() < end and not os.path.exists(f'{W}/stop'):
    for s in held:
        s.sendall(junk)
    time.sleep(1)
EOF
hpid=$!
wait_for 10 grep -q holding "$W/hold.out" || true
check "beyond --tcp-max-per-source (3) a connection is reset at once" grep -qx 'per-source reset True' "$W/hold.out"
check "beyond --tcp-max-conns (6) a connection is reset at once" grep -qx 'total reset True' "$W/hold.out"
check "gcksd logs both refusals" sh -c "grep -q 'refused connection from 127.0.0.2:[0-9]*: connections of its source at the limit' '$W/gcksd.log' && grep -q 'refused connection from 127.0.0.3:[0-9]*: connections in all at the limit' '$W/gcksd.log'"
rc=0
timeout 30 "$GMD" --gcks "127.0.0.1:$uport" --id fqdn:m4.example.net --psk-file "$W/keys/m4.psk" \
	--group keyid:tcp-1 --once --json --sa-backend none >"$W/m4.json" 2>"$W/m4.log" || rc=$?
check "with the TCP limits full, a member still registers over UDP" sh -c "[ $rc = 0 ] && grep -q '\"registered\"' '$W/m4.json'"
n=$(grep -c '"inband_rekey"' "$W/m1.json" || true)
check "gcksctl rekey with the TCP limits full" "$GCKSCTL" --control "$CTL" rekey keyid:tcp-1
pyck "... and the TCP member still gets its GSA_INBAND_REKEY" <<EOF
wait(lambda: len(events('m1.json', 'inband_rekey')) > $n or (_ for _ in ()).throw(AssertionError()), 10)
EOF
touch "$W/stop"
timeout 10 tail --pid="$hpid" -f /dev/null || true
hpid=
check "gmd (TCP) exits 0 on SIGTERM" sh -c "kill $mpid && timeout 10 tail --pid=$mpid -f /dev/null"
mpid=
check "gcksd exits 0 on SIGTERM" sh -c "kill $gpid && timeout 10 tail --pid=$gpid -f /dev/null"
gpid=
sanitizer_check "no sanitizer reports" "$W"/*.log
exit $(( fails ? 1 : 0 ))
