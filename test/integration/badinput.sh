#!/usr/bin/env bash
# Integration test: malformed, truncated and replayed GSA_AUTH messages do not crash
# gcksd and do not change its database.
#
# A UDP relay (python3) between gmd and gcksd records a real exchange. From another UDP socket
# (the "attacker") the test then sends:
#   - the message corpus of the fuzzer (test/fuzz/corpus/message/*) as it is, and with its
#     SPIs and Message IDs rewritten to reach live IKE SAs of gcksd;
#   - the recorded GSA_AUTH request replayed (old Message ID; stale SPIs of a closed SA; the
#     whole IKE_SA_INIT + GSA_AUTH exchange again on a new SA), truncated at every length,
#     with every single bit flipped, and randomly corrupted;
#   - the same against a half-open SA whose real GSA_AUTH the relay holds back: afterwards the
#     held message is let through and must still register the member;
# with gcksd answering a ping between batches. The SQLite dump taken just before the attack
# equals the one after it; gcksd still registers a fresh member and exits cleanly, without
# sanitizer reports. A forged message must not move an IKE SA to the attacker's address
# (RFC 7296 2.23): gcksd's Delete for an idle SA goes to the member, not the attacker.
# Needs python3 and sqlite3. Prints one line per check (ok - / not ok -).
set -euo pipefail

B=${GK_BUILDDIR:-$(pwd)}
S=${GK_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
GCKSD=$B/gcks/gcksd GCKSCTL=$B/gcks/gcksctl GMD=$B/member/gmd
for t in python3 sqlite3 openssl timeout; do
	command -v "$t" >/dev/null || { echo "not ok - $t is needed (tools/deps installs it)"; exit 99; }
done
for p in "$GCKSD" "$GCKSCTL" "$GMD"; do
	[ -x "$p" ] || { echo "not ok - $p is not built"; exit 99; }
done
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

W=$(mktemp -d "${TMPDIR:-/tmp}/gk-bad.XXXXXX")
pids=()
fails=0
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	if [ "$fails" -ne 0 ]; then
		for f in "$W"/*.log; do
			[ -f "$f" ] || continue
			echo "# ---- $(basename "$f") (last 30 lines)"
			tail -n 30 "$f" | sed 's/^/# /'
		done
	fi
	rm -rf "$W"
}
trap cleanup EXIT

. "$(dirname "$0")/tap.sh"
start_gcksd() { # DB CTL LOG: sets $port and $gpid
	local db=$1 ctl=$2 log=$3 try
	for try in 1 2 3 4 5; do
		port=$(free_port)
		"$GCKSD" --db "$db" --listen "127.0.0.1:$port" --control "$ctl" --foreground 2>"$log" &
		gpid=$!
		pids+=("$gpid")
		for _ in $(seq 150); do
			grep -q 'gcksd ready' "$log" && return 0
			kill -0 "$gpid" 2>/dev/null || break
			sleep 0.1
		done
		kill "$gpid" 2>/dev/null || true
		wait "$gpid" 2>/dev/null || true
		grep -qi 'in use' "$log" || { cat "$log"; return 1; }
	done
	return 1
}

mkdir -p "$W/keys"
for m in m1 m2 m3; do
	(umask 077 && printf '0x%s\n' "$(openssl rand -hex 32)" >"$W/keys/$m.psk")
done
cat >"$W/policy.yaml" <<'EOF'
groups:
  - id: keyid:bad-a
    sender-id-bits: 8
    ike-idle-timeout: 5m         # the attacked IKE SAs stay up during the test
    rekey:
      transport: multicast
      key-wrap: kw-5649-256
      address: 239.192.0.90
    sas:
      - name: a
        encryption: aes-gcm-16
        destination: 239.192.1.90
        ip-protocol: udp
        ports: 5004
    members:
      - id: fqdn:m1.example.net
        psk-file: keys/m1.psk
      - id: fqdn:m2.example.net
        psk-file: keys/m2.psk
        role: sender
      - id: fqdn:m3.example.net
        psk-file: keys/m3.psk
  - id: keyid:bad-b
    ike-idle-timeout: 10s        # gcksd closes this SA soon: where does its Delete go?
    rekey:
      transport: multicast
      key-wrap: kw-5649-256
      address: 239.192.0.91
    sas:
      - name: b
        destination: 239.192.1.91
    members:
      - id: fqdn:m1.example.net
        psk-file: keys/m1.psk
EOF
DB=$W/gcks.db CTL=$W/ctl.sock
check "gcksctl init and policy load" bash -c '"$1" --db "$2" init --id fqdn:gcks.example &&
	"$1" --db "$2" --control "$3" policy load "$4"' _ "$GCKSCTL" "$DB" "$CTL" "$W/policy.yaml"
if ! start_gcksd "$DB" "$CTL" "$W/gcksd.log"; then
	not_ok "gcksd starts on loopback"
	exit 1
fi
ok "gcksd starts on 127.0.0.1:$port"

cat >"$W/attack.py" <<'EOF'
import difflib, glob, os, random, select, socket, struct, subprocess, sys, threading, time

W, DB, GMD = os.environ['W'], os.environ['DB'], os.environ['GMD']
GCKS = ('127.0.0.1', int(os.environ['PORT']))
CORPUS = sorted(glob.glob(os.path.join(os.environ['S'], 'test/fuzz/corpus/message/*')))
SEED = int(os.environ.get('SEED', '4848'))
rng = random.Random(SEED)
IKE_SA_INIT, IKE_AUTH, INFORMATIONAL, GSA_AUTH, GSA_REGISTRATION = 34, 35, 37, 39, 40
F_I, F_R = 0x08, 0x20
fails = 0

def ok(desc):
    print(f'ok - {desc}', flush=True)
def not_ok(desc, why=''):
    global fails
    fails += 1
    print(f'not ok - {desc}', flush=True)
    for line in str(why).splitlines():
        print(f'#   {line}', flush=True)
def check(desc, cond, why=''):
    (ok(desc) if cond else not_ok(desc, why))

def hdr(d):
    if len(d) < 28:
        return None
    si, sr, np, ver, ex, fl, mid, ln = struct.unpack('!QQBBBBII', d[:28])
    return dict(spi_i=si, spi_r=sr, np=np, exch=ex, flags=fl, msgid=mid, length=ln)

def rewrite(d, spi_i=None, spi_r=None, msgid=None, exch=None, request=True, fixlen=True):
    """The header of d with other SPIs, Message ID or exchange (as an initiator's request)."""
    if len(d) < 28:
        return d
    si, sr, np, ver, ex, fl, mid, ln = struct.unpack('!QQBBBBII', d[:28])
    if request:
        fl = (fl | F_I) & ~F_R & 0xff
    h = struct.pack('!QQBBBBII', si if spi_i is None else spi_i, sr if spi_r is None else spi_r, np, ver,
                    ex if exch is None else exch, fl, mid if msgid is None else msgid,
                    len(d) if fixlen else ln)
    return h + d[28:]

def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('127.0.0.1', 0))
    return s

class Relay:
    """gmd <-> relay <-> gcksd, one upstream socket per member; records every datagram.
    While `hold` is set, GSA_AUTH requests from members are recorded but not passed on.
    Also listens on the attacker's socket (kind 's2a')."""
    def __init__(self):
        self.lsock, self.atk = udp(), udp()
        self.port = self.lsock.getsockname()[1]
        self.up, self.client_of = {}, {}
        self.events = []            # (kind, member address, datagram)
        self.cv = threading.Condition()
        self.hold, self.held = False, []
        self.stopping = False
        self.error = None
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def record(self, kind, who, data):
        with self.cv:
            self.events.append((kind, who, data))
            self.cv.notify_all()

    def run(self):
        try:
            while not self.stopping:
                socks = [self.lsock, self.atk] + list(self.client_of)
                r, _, _ = select.select(socks, [], [], 0.05)
                for s in r:
                    try:
                        data, addr = s.recvfrom(65536)
                    except OSError:
                        continue
                    if s is self.lsock:
                        up = self.up.get(addr)
                        if up is None:
                            up = udp()
                            self.up[addr] = up
                            self.client_of[up] = addr
                        self.record('c2s', addr, data)
                        h = hdr(data)
                        with self.cv:
                            if self.hold and h and h['exch'] == GSA_AUTH and not h['flags'] & F_R:
                                self.held.append((up, data))
                                continue
                        up.sendto(data, GCKS)
                    elif s is self.atk:
                        self.record('s2a', addr, data)
                    else:
                        client = self.client_of[s]
                        self.record('s2c', client, data)
                        self.lsock.sendto(data, client)
        except Exception as e:  # reported by the checks
            self.error = repr(e)

    def release(self):
        with self.cv:
            self.hold = False
            held, self.held = self.held, []
        for up, data in held:
            up.sendto(data, GCKS)

    def mark(self):
        with self.cv:
            return len(self.events)

    def wait_for(self, pred, timeout, since=0):
        end = time.monotonic() + timeout
        with self.cv:
            while True:
                for e in self.events[since:]:
                    if pred(e):
                        return e
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self.cv.wait(left)

    def member_msgs(self, member, kind):
        with self.cv:
            return [d for k, a, d in self.events if k == kind and a == member]

relay = Relay()

def gmd(name, group, extra=(), wait=True, psk=None):
    args = [GMD, '--gcks', f'127.0.0.1:{relay.port}', '--id', f'fqdn:{name}.example.net',
            '--psk-file', psk or f'{W}/keys/{name}.psk', '--group', group, '--once', '--json',
            '--no-nat-t', *extra]  # the relay is a NAT (RFC 7296 2.23) that forwards one port only
    log = open(f'{W}/gmd-{name}-{group.split(":")[1]}.log', 'a')
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, text=True)
    if not wait:
        return p
    out, _ = p.communicate(timeout=60)
    return p.returncode, out

def newest_member():
    with relay.cv:
        for k, a, d in reversed(relay.events):
            if k == 'c2s':
                return a

def request(member, exch):
    for d in relay.member_msgs(member, 'c2s'):
        h = hdr(d)
        if h and h['exch'] == exch and not h['flags'] & F_R:
            return d

def dump():
    r = subprocess.run(['sqlite3', DB, '.dump'], capture_output=True, text=True, timeout=30)
    return r.stdout if r.returncode == 0 else f'sqlite3 failed: {r.stderr}'

def integrity():
    r = subprocess.run(['sqlite3', DB, 'PRAGMA integrity_check;'], capture_output=True, text=True, timeout=30)
    return r.stdout.strip()

def same_dump(desc, before):
    after = dump()
    diff = '\n'.join(list(difflib.unified_diff(before.splitlines(), after.splitlines(), 'before', 'after',
                                               lineterm=''))[:40])
    check(desc, after == before and 'CREATE TABLE' in after, diff or after[:200])

# ---- pings: the recorded IKE_SA_INIT under a fresh SPI of ours each time, answered with an SA
# or, once our address holds half-open SAs, a COOKIE challenge (gcksd answers copies of one
# request only a few times, so the same request cannot serve as a ping) ----
PING_SPI = 0x5eed000000000000 | SEED
ping_req = None
pings = [0, 0]
ping_n = 0

def init_answer(spi, since):
    return relay.wait_for(lambda e: e[0] == 's2a' and hdr(e[2]) and hdr(e[2])['exch'] == IKE_SA_INIT
                          and hdr(e[2])['spi_i'] == spi, 10, since)

def ping():
    """True when gcksd answers; everything sent before it has been read by then."""
    global ping_n
    ping_n += 1
    spi = PING_SPI + ping_n
    since = relay.mark()
    relay.atk.sendto(rewrite(ping_req, spi_i=spi), GCKS)
    e = init_answer(spi, since)
    pings[0 if e else 1] += 1
    return e is not None

def with_cookie(req, cookie):
    """req with N(COOKIE) as its first payload (RFC 7296 2.6)."""
    n = struct.pack('!BBHBBH', req[16], 0, 8 + len(cookie), 0, 0, 16390) + cookie
    d = bytearray(req[:28] + n + req[28:])
    d[16] = 41
    struct.pack_into('!I', d, 24, len(d))
    return bytes(d)

def open_sa(spi):
    """The recorded IKE_SA_INIT under spi, answering a COOKIE challenge: gcksd's SPI or None."""
    req = rewrite(ping_req, spi_i=spi)
    for _ in range(2):
        since = relay.mark()
        relay.atk.sendto(req, GCKS)
        e = init_answer(spi, since)
        if not e:
            return None
        d = e[2]
        if hdr(d)['spi_r']:
            return hdr(d)['spi_r']
        if hdr(d)['np'] != 41 or len(d) < 36 or struct.unpack('!H', d[34:36])[0] != 16390:
            return None
        req = with_cookie(rewrite(ping_req, spi_i=spi), d[36:28 + struct.unpack('!H', d[30:32])[0]])
    return None

def barrage(msgs, batch=32):
    """Sends from the attacker's socket, pinging gcksd after every batch. Returns datagrams sent."""
    n = 0
    for i in range(0, len(msgs), batch):
        for m in msgs[i:i + batch]:
            try:
                relay.atk.sendto(m, GCKS)
                n += 1
            except OSError:
                pass            # e.g. a datagram too large: nothing reached gcksd
        if not ping():
            break
    return n

def replies(spi_i, since):
    """What gcksd sent (to the member or the attacker) on the IKE SA with this SPIi since the mark."""
    with relay.cv:
        return [d for k, a, d in relay.events[since:] if k in ('s2c', 's2a') and hdr(d) and hdr(d)['spi_i'] == spi_i]

def only(spi_i, since, allowed=()):
    """Nothing but byte-identical copies of `allowed` (a cached response) went out on that SA."""
    bad = [d for d in replies(spi_i, since) if d not in allowed]
    return not bad, f'{len(bad)} other answers on the SA, first: {bad[0][:40].hex() if bad else ""}'

def mutants(msg, spi=None, msgid=None, bitflips=True):
    """Truncations (as they are and with the length field fixed), single bit flips, random damage."""
    base = rewrite(msg, *(spi or (None, None)), msgid=msgid) if (spi or msgid is not None) else msg
    out = []
    for n in range(len(base)):
        out.append(base[:n])
        if n >= 28:
            out.append(rewrite(base[:n]))
    if bitflips:
        for bit in range(len(base) * 8):
            b = bytearray(base)
            b[bit // 8] ^= 1 << (bit % 8)
            out.append(bytes(b))
    for _ in range(200):
        b = bytearray(base)
        how = rng.randrange(5)
        if how == 0:            # a few random bytes
            for _ in range(rng.randrange(1, 8)):
                b[rng.randrange(len(b))] = rng.randrange(256)
        elif how == 1:          # garbage appended, length fixed
            b += bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
            b = bytearray(rewrite(bytes(b)))
        elif how == 2:          # payload header damaged: next payload / length of SK
            if len(b) > 32:
                b[28] = rng.randrange(256)
                b[30:32] = struct.pack('!H', rng.randrange(65536))
        elif how == 3:          # a chunk cut out of the middle, length fixed
            i = rng.randrange(28, len(b))
            j = min(len(b), i + rng.randrange(1, 32))
            b = bytearray(rewrite(bytes(b[:i] + b[j:])))
        else:                   # other exchange types under the same protection
            b[18] = rng.choice([IKE_SA_INIT, IKE_AUTH, 36, INFORMATIONAL, GSA_AUTH, GSA_REGISTRATION, 41, 42, 0, 255])
        out.append(bytes(b))
    # a "mutant" equal to a real message would be a legitimate (relayed) message
    return [m for m in out if m != base and m != msg]

def corpus(spi=None, msgid=None):
    out = []
    for f in CORPUS:
        with open(f, 'rb') as fh:
            d = fh.read()
        out.append(d if spi is None else rewrite(d, spi[0], spi[1], msgid=msgid))
    return out

# =============================================================================
# 1. record real exchanges through the relay
# =============================================================================
rc, out = gmd('m1', 'keyid:bad-a')
m1 = newest_member()
init1, auth1 = request(m1, IKE_SA_INIT), request(m1, GSA_AUTH)
resp1 = [d for d in relay.member_msgs(m1, 's2c') if hdr(d)['exch'] == GSA_AUTH]
check('m1 registers through the relay; its IKE_SA_INIT, GSA_AUTH and the response are recorded',
      rc == 0 and '"registered"' in out and init1 and auth1 and resp1, f'rc {rc}: {out}')
if not (init1 and auth1 and resp1):
    sys.exit(1)
H1 = hdr(auth1)
SA1 = (H1['spi_i'], H1['spi_r'])
ping_req = rewrite(init1, spi_i=PING_SPI, spi_r=0, msgid=0)

# the IKE SA gcksd closes after 10 s (group bad-b): target of a forged message from elsewhere
rc, out = gmd('m1', 'keyid:bad-b')
mh = newest_member()
authh = request(mh, GSA_AUTH)
check('m1 registers to a second group through the relay (IKE SA with a 10 s idle timeout)',
      rc == 0 and authh is not None, f'rc {rc}: {out}')
HH = hdr(authh)
t_hijack = time.monotonic()
for forged in (rewrite(authh[:-1] + bytes([authh[-1] ^ 1]), msgid=2),
               rewrite(authh, msgid=2, exch=INFORMATIONAL),
               rewrite(authh[:-16], msgid=2)):
    relay.atk.sendto(forged, GCKS)

# a refused exchange: gcksd closes that SA, so its GSA_AUTH has stale SPIs
with open(f'{W}/keys/wrong.psk', 'w') as f:
    f.write('0x' + '42' * 32 + '\n')
os.chmod(f'{W}/keys/wrong.psk', 0o600)
rc, out = gmd('m3', 'keyid:bad-a', psk=f'{W}/keys/wrong.psk')
auth_stale = request(newest_member(), GSA_AUTH)
check('a wrong-PSK exchange through the relay is refused (AUTHENTICATION_FAILED)',
      rc == 2 and 'AUTHENTICATION_FAILED' in out and auth_stale is not None, f'rc {rc}: {out}')

check('gcksd answers the ping (the recorded IKE_SA_INIT under a new SPI)', ping())

# =============================================================================
# 2. attack: nothing of it may change the database
# =============================================================================
before = dump()
check('sqlite3 .dump of the database before the attack', 'CREATE TABLE' in before, before[:300])
print(f'# corpus: {len(CORPUS)} files from test/fuzz/corpus/message; random seed {SEED}', flush=True)
if not CORPUS:
    print('# the corpus is empty: only the mutants made here are sent', flush=True)

n = barrage(corpus())
check(f'fuzz corpus as it is ({n} messages, stale SPIs): gcksd keeps answering', pings[1] == 0)
since = relay.mark()
n = barrage(corpus(SA1, 1) + corpus(SA1, 2) + corpus(SA1, 3))
quiet, why = only(SA1[0], since)
check(f'fuzz corpus rewritten to the SPIs of the live IKE SA, Message IDs 1-3 ({n} messages): no answer on the SA',
      pings[1] == 0 and quiet, why)

since = relay.mark()
relay.atk.sendto(auth1, GCKS)
e = relay.wait_for(lambda e: e[0] in ('s2c', 's2a') and e[2] == resp1[0], 10, since)
check('the recorded GSA_AUTH replayed (old Message ID) gets the cached response, byte for byte', e is not None)
since = relay.mark()
n = barrage([auth_stale] * 3 + [rewrite(auth_stale, msgid=2)])
quiet, why = only(hdr(auth_stale)['spi_i'], since)
check('the GSA_AUTH of a closed SA replayed (stale SPIs): no answer', pings[1] == 0 and quiet, why)

replay_spi_r = open_sa(PING_SPI)
since = relay.mark()
replay = rewrite(auth1, spi_i=PING_SPI, spi_r=replay_spi_r or 0, msgid=1)
relay.atk.sendto(replay, GCKS)
# the ping, sent after the replay, is answered after anything gcksd answered the replay with
pinged = ping()
e = relay.wait_for(lambda e: e[0] == 's2a' and hdr(e[2]) and hdr(e[2])['exch'] == GSA_AUTH, 0, since)
check('the whole exchange replayed (IKE_SA_INIT, then GSA_AUTH on the new SA) gets no GSA_AUTH answer',
      replay_spi_r is not None and pinged and e is None,
      'answered' if e else 'no answer to the ping' if not pinged else 'no SA from the replayed IKE_SA_INIT')

since = relay.mark()
n = barrage(mutants(auth1, SA1, 2))
quiet, why = only(SA1[0], since)
check(f'{n} mutants of the GSA_AUTH at the next Message ID of the live SA (truncated, bit flips, random): no answer',
      pings[1] == 0 and quiet, why)
hflips = []
for bit in range(28 * 8):
    b = bytearray(auth1)
    b[bit // 8] ^= 1 << (bit % 8)
    hflips.append(bytes(b))
since = relay.mark()
n = barrage(hflips + [auth1[:-1] + bytes([auth1[-1] ^ 0x80])])
quiet, why = only(SA1[0], since, resp1)
check(f'{n} header mutants of the recorded GSA_AUTH (old Message ID): no answer but the cached response',
      pings[1] == 0 and quiet, why)
same_dump('the database is unchanged by all of it (dump before = dump after)', before)

# =============================================================================
# 3. a half-open SA waiting for exactly this GSA_AUTH
# =============================================================================
relay.hold = True
since = relay.mark()
p2 = gmd('m2', 'keyid:bad-a', ['--sender'], wait=False)
e = relay.wait_for(lambda e: e[0] == 'c2s' and hdr(e[2]) and hdr(e[2])['exch'] == GSA_AUTH, 20, since)
check('the relay holds back m2\'s GSA_AUTH (gcksd has a half-open SA waiting for it)', e is not None)
if e is None:
    relay.release()
    p2.kill()
    sys.exit(1)
auth2 = e[2]
SA2 = (hdr(auth2)['spi_i'], hdr(auth2)['spi_r'])
# gcksd may resend its IKE_SA_INIT response to m2 (a copy of what m2 got), nothing else
init2 = relay.member_msgs(e[1], 's2c')
since = relay.mark()
n = barrage(corpus(SA2, 1))
quiet, why = only(SA2[0], since, init2)
check(f'fuzz corpus rewritten to the half-open SA ({n} messages, among them unprotected GSA_AUTH bodies): '
      'no answer on the SA', pings[1] == 0 and quiet, why)
since = relay.mark()
n = barrage([rewrite(auth2, exch=x) for x in (IKE_AUTH, INFORMATIONAL, GSA_REGISTRATION, 36, 41, 42)] +
            mutants(auth2))
quiet, why = only(SA2[0], since, init2)
check(f'{n} mutants of the held GSA_AUTH sent to its SA (truncated, bit flips, other exchanges, random): '
      'no answer on the SA', pings[1] == 0 and quiet, why)
same_dump('the database is unchanged (dump before the attack = dump now)', before)
relay.release()
try:
    out, _ = p2.communicate(timeout=90)
except subprocess.TimeoutExpired:
    p2.kill()
    out = ''
check('the held GSA_AUTH, let through after the attack, registers m2 (the half-open SA survived)',
      p2.returncode == 0 and '"registered"' in out and '"sender_ids":[' in out, f'rc {p2.returncode}: {out}')

# =============================================================================
# 4. where the Delete of the idle SA goes
# =============================================================================
left = max(1, 30 - (time.monotonic() - t_hijack))
e = relay.wait_for(lambda e: e[0] in ('s2c', 's2a') and hdr(e[2]) and hdr(e[2])['exch'] == INFORMATIONAL
                   and hdr(e[2])['spi_r'] == HH['spi_r'] and not hdr(e[2])['flags'] & F_R, left)
check('forged messages do not move an IKE SA to their address: the idle SA\'s Delete goes to the member',
      e is not None and e[0] == 's2c' and e[1] == mh,
      'no Delete within 30 s' if e is None else f'sent to the {"attacker" if e[0] == "s2a" else "member"}')

check(f'gcksd answered every ping ({pings[0]})', pings[1] == 0, f'{pings[1]} unanswered')
check('database integrity_check', integrity() == 'ok', integrity())
check('the relay ran without error', relay.error is None, relay.error)
relay.stopping = True
sys.exit(1 if fails else 0)
EOF

rc=0
W=$W DB=$DB GMD=$GMD S=$S PORT=$port python3 "$W/attack.py" || rc=$?
[ "$rc" -eq 0 ] || fails=$((fails + 1))

check "gcksd is still running" kill -0 "$gpid"
# a fresh registration, straight to gcksd
rc=0
timeout 40 "$GMD" --gcks "127.0.0.1:$port" --id fqdn:m3.example.net --psk-file "$W/keys/m3.psk" \
	--group keyid:bad-a --once --json >"$W/m3.json" 2>"$W/gmd-m3-fresh.log" || rc=$?
check "a fresh registration after the attack succeeds" \
	bash -c '[ "$1" -eq 0 ] && grep -q "\"status\":\"registered\"" "$2"' _ "$rc" "$W/m3.json"
check "gcksctl status answers" "$GCKSCTL" --db "$DB" --control "$CTL" status
rc=0
kill -TERM "$gpid"
wait "$gpid" || rc=$?
check "gcksd exits with status 0 on SIGTERM (got $rc)" test "$rc" -eq 0
sanitizer_check "no sanitizer report in the logs of gcksd and gmd" "$W"/*.log
[ "$fails" -eq 0 ]
