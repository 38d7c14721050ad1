#!/usr/bin/env bash
# Integration test of registration: the real gcksctl, gcksd and gmd as processes on
# loopback. A test policy (written here, not taken from policies/) with PSK members, then one
# with certificate members (CA, GCKS and member certificates made with the openssl CLI):
#   - two receivers and one sender register to one group and get the same SAs and keys; the
#     sender gets Sender-IDs (as many as asked, up to max-sender-ids), receivers none;
#   - refusals carry the right notify, in gmd's exit code and JSON: AUTHORIZATION_FAILED
#     (authenticated but not listed for the group), INVALID_GROUP_ID, AUTHENTICATION_FAILED,
#     NO_PROPOSAL_CHOSEN (SAg without the group's cipher);
#   - one gmd joins two groups (GSA_AUTH, then GSA_REGISTRATION on the same IKE SA);
#   - every signing key type of gcksctl init (ecdsa-p256, ecdsa-p384, ed25519, rsa): a member
#     registers and holds the Rekey SA's signature algorithm and AUTH_KEY;
#   - gcksctl member list / status report the members; the database is mode 0600;
#   - gcksd exits cleanly on SIGTERM, with no sanitizer report in its log.
# Needs python3, openssl (and the programs of the build tree: GK_BUILDDIR, GK_SRCDIR).
# Prints one line per check (ok - / not ok -); exit 0 when all pass.
set -euo pipefail

B=${GK_BUILDDIR:-$(pwd)}
S=${GK_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
GCKSD=$B/gcks/gcksd GCKSCTL=$B/gcks/gcksctl GMD=$B/member/gmd
for t in python3 openssl timeout; do
	command -v "$t" >/dev/null || { echo "not ok - $t is needed (tools/deps installs it)"; exit 99; }
done
for p in "$GCKSD" "$GCKSCTL" "$GMD"; do
	[ -x "$p" ] || { echo "not ok - $p is not built"; exit 99; }
done
# Sanitizer builds: leaks count too, and a report must end the process.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

W=$(mktemp -d "${TMPDIR:-/tmp}/gk-reg.XXXXXX")
export W
pids=()
fails=0
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	if [ "$fails" -ne 0 ]; then
		show_logs "$W"/*.log
	fi
	rm -rf "$W"
}
trap cleanup EXIT

# ---- reporting ----

. "$(dirname "$0")/tap.sh"
# pyck DESC <<'EOF' python assertions EOF: gm(NAME) is gmd's JSON, rc(NAME) its exit code.
cat >"$W/ck.py" <<'EOF'
import json, os, sys
W = os.environ['W']
def gm(name):
    with open(f'{W}/{name}.json') as f:
        return json.load(f)
def rc(name):
    with open(f'{W}/{name}.rc') as f:
        return int(f.read())
def group(name, gid=None):
    gs = gm(name)['groups']
    if gid is None:
        assert len(gs) == 1, f'{name}: {len(gs)} groups'
        return gs[0]
    m = [g for g in gs if g['group'] == gid]
    assert len(m) == 1, f'{name}: group {gid} appears {len(m)} times'
    return m[0]
def esp(name, gid=None):
    sas = [s for s in group(name, gid)['sas'] if s['protocol'] == 'ESP']
    assert len(sas) == 1, f'{name}: {len(sas)} ESP SAs'
    return sas[0]
def load(path):
    with open(path) as f:
        return json.load(f)
code = sys.stdin.read()
exec(compile(code, 'check', 'exec'))
EOF
pyck() { check "$1" python3 "$W/ck.py"; }

# ---- processes ----


# start_gcksd DB CTL LOG: sets $port and $gpid; retries when the chosen port was taken meanwhile.
start_gcksd() {
	local db=$1 ctl=$2 log=$3 try
	for try in 1 2 3 4 5; do
		port=$(free_port)
		"$GCKSD" --db "$db" --listen "127.0.0.1:$port" --control "$ctl" --foreground \
			--log-level debug 2>"$log" &
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

# stop_gcksd LOG: SIGTERM, clean exit, no sanitizer report.
stop_gcksd() {
	local log=$1 rc=0
	kill -TERM "$gpid"
	wait "$gpid" || rc=$?
	check "gcksd exits with status 0 on SIGTERM (got $rc)" test "$rc" -eq 0
	sanitizer_check "no sanitizer report in $(basename "$log")" "$log"
}

# gm NAME ARGS...: gmd --once --json against the running gcksd; $W/NAME.json, .log, .rc
gm() {
	local name=$1 rc=0
	shift
	timeout 40 "$GMD" --gcks "127.0.0.1:$port" --once --json "$@" >"$W/$name.json" 2>"$W/$name.log" || rc=$?
	echo "$rc" >"$W/$name.rc"
}
psk() { echo --id "fqdn:$1.example.net" --psk-file "$W/keys/$1.psk"; }

# registered NAME GROUP...: exit 0, every group registered
registered() {
	local name=$1
	shift
	NAME=$name GROUPS_WANTED="$*" pyck "$name registers to $*" <<'EOF'
name = os.environ['NAME']
assert rc(name) == 0, f'gmd exit code {rc(name)}'
want = os.environ['GROUPS_WANTED'].split()
got = [g['group'] for g in gm(name)['groups']]
assert sorted(got) == sorted(want), f'groups {got}'
for g in gm(name)['groups']:
    assert g['status'] == 'registered', g
EOF
}
# refused NAME NOTIFY WHY: exit code 2, the notify named in the JSON error field; the status is
# "failed" when the IKE SA itself was refused (AUTHENTICATION_FAILED), "refused" when the GCKS
# refused the group on an authenticated SA
refused() {
	NOTIFY=$2 NAME=$1 pyck "$3: $2 (exit 2, JSON error)" <<'EOF'
name, notify = os.environ['NAME'], os.environ['NOTIFY']
assert rc(name) == 2, f'gmd exit code {rc(name)}'
g = group(name)
assert g['status'] == ('failed' if notify == 'AUTHENTICATION_FAILED' else 'refused'), g
assert g['error'] == notify, g
assert 'sas' not in g, g
EOF
}
newpsk() { # NAME: a fresh 32-octet PSK, mode 0600
	(umask 077 && printf '0x%s\n' "$(openssl rand -hex 32)" >"$W/keys/$1.psk")
}

mkdir -p "$W/keys"

# =================================================================================
# 1. PSK members
# =================================================================================
for m in recv-1 recv-2 send-1 send-2 outsider; do newpsk "$m"; done
cat >"$W/psk.yaml" <<'EOF'
groups:
  - id: keyid:integ-video
    capacity: 10
    sender-id-bits: 8            # AES-GCM is a counter mode: senders need Sender-IDs
    ike-idle-timeout: 5m
    rekey:
      transport: multicast
      encryption: aes-gcm-16
      key-length: 256
      key-wrap: kw-5649-256
      authentication: signature
      address: 239.192.0.77
      port: 848
    sas:
      - name: video
        protocol: esp
        encryption: aes-gcm-16
        key-length: 256
        sequence-numbers: unspecified-32   # two senders
        source: 192.0.2.10
        destination: 239.192.1.77
        ip-protocol: udp
        ports: 5004
        lifetime: 1h
    members:
      - id: fqdn:recv-1.example.net
        auth: psk
        psk-file: keys/recv-1.psk
      - id: fqdn:recv-2.example.net
        psk-file: keys/recv-2.psk
        role: receiver
      - id: fqdn:send-1.example.net
        psk-file: keys/send-1.psk
        role: sender
        max-sender-ids: 4
      - id: fqdn:send-2.example.net
        psk-file: keys/send-2.psk
        role: sender                      # max-sender-ids: 1 (the default)
  - id: keyid:integ-audio
    ike-idle-timeout: 5m
    rekey:
      transport: multicast
      encryption: aes-cbc
      key-length: 128
      integrity: hmac-sha2-256-128
      key-wrap: kw-5649-128
      address: 239.192.0.78
    sas:
      - name: audio
        encryption: aes-cbc
        key-length: 128
        integrity: hmac-sha2-256-128
        destination: 239.192.2.78
        ip-protocol: udp
        ports: 6000
    members:
      - id: fqdn:recv-1.example.net
        psk-file: keys/recv-1.psk
      - id: fqdn:outsider.example.net
        psk-file: keys/outsider.psk
EOF

DB=$W/gcks.db CTL=$W/ctl.sock
check "gcksctl init (PSK database)" "$GCKSCTL" --db "$DB" init --id fqdn:gcks.example
check "gcksctl policy load (test policy, gcksd not running yet)" \
	"$GCKSCTL" --db "$DB" --control "$CTL" policy load "$W/psk.yaml"
if ! start_gcksd "$DB" "$CTL" "$W/gcksd-psk.log"; then
	not_ok "gcksd starts on loopback"
	exit 1
fi
ok "gcksd starts on 127.0.0.1:$port"

gm recv-1 $(psk recv-1) --group keyid:integ-video
gm recv-2 $(psk recv-2) --group keyid:integ-video
gm send-1 $(psk send-1) --group keyid:integ-video --sender 3
for m in recv-1 recv-2 send-1; do registered $m keyid:integ-video; done

pyck "receivers and the sender got the same ESP SA: SPI, transforms, selectors, keymat_sha256" <<'EOF'
a, b, s = esp('recv-1'), esp('recv-2'), esp('send-1')
for k in ('spi', 'encryption', 'key_length', 'source', 'destination', 'keymat_sha256', 'sequence_numbers'):
    assert a[k] == b[k] == s[k], f'{k}: {a[k]} / {b[k]} / {s[k]}'
# the remaining lifetime at each registration: the same but for the seconds between them
lives = [x['lifetime'] for x in (a, b, s)]
assert max(lives) <= 3600 and max(lives) - min(lives) <= 5, lives
assert a['encryption'] == 'AES_GCM_16' and a['key_length'] == 256, a
assert 'integrity' not in a, a
assert a['destination']['address'] == '239.192.1.77/32' and a['destination']['port_low'] == 5004, a
assert a['sequence_numbers'] == 'UNSPEC32', a
assert len(a['spi']) == 8 and len(a['keymat_sha256']) == 64, a
EOF
pyck "the Rekey SA (SPI, keymat_sha256, KWA, signature) and AUTH_KEY agree between members" <<'EOF'
a, b, s = (group(n)['rekey_sa'] for n in ('recv-1', 'recv-2', 'send-1'))
for k in ('spi', 'keymat_sha256', 'encryption', 'key_wrap', 'authentication', 'destination'):
    assert a[k] == b[k] == s[k], f'{k}: {a[k]} / {b[k]} / {s[k]}'
assert a['protocol'] == 'GIKE_UPDATE' and len(a['spi']) == 32, a
assert a['key_wrap'] == 'KW_5649_256' and a['authentication'] == 'DIGITAL_SIGNATURE', a
assert a['keymat_sha256'] != esp('recv-1')['keymat_sha256']
assert a['directions'] == ['in'], a
keys = {group(n)['auth_key_sha256'] for n in ('recv-1', 'recv-2', 'send-1')}
assert len(keys) == 1, keys
EOF
pyck "directions: receivers install the ESP SA inbound, the sender outbound" <<'EOF'
assert esp('recv-1')['directions'] == ['in'], esp('recv-1')
assert esp('recv-2')['directions'] == ['in'], esp('recv-2')
assert esp('send-1')['directions'] == ['out'], esp('send-1')
EOF
pyck "receivers got no Sender-IDs; the sender asked for 3 and got 3 distinct ones below 2^8" <<'EOF'
assert group('recv-1')['sender_ids'] == [] and group('recv-2')['sender_ids'] == []
ids = group('send-1')['sender_ids']
assert len(ids) == 3 and len(set(ids)) == 3, ids
assert all(0 <= i < 256 for i in ids), ids
assert group('send-1')['sender_id_bits'] == 8, group('send-1')
EOF

gm send-1b $(psk send-1) --group keyid:integ-video --sender 3
gm send-2 $(psk send-2) --group keyid:integ-video --sender 3
registered send-1b keyid:integ-video
registered send-2 keyid:integ-video
pyck "a sender's second registration gets fresh Sender-IDs (RFC 9838 2.5.1)" <<'EOF'
a, b = group('send-1')['sender_ids'], group('send-1b')['sender_ids']
assert len(b) == 3 and not set(a) & set(b), f'{a} then {b}'
assert esp('send-1b')['keymat_sha256'] == esp('send-1')['keymat_sha256']
EOF
pyck "--sender 3 is cut down to max-sender-ids (1), IDs not shared with another sender" <<'EOF'
ids = group('send-2')['sender_ids']
assert len(ids) == 1, ids
assert not set(ids) & (set(group('send-1')['sender_ids']) | set(group('send-1b')['sender_ids'])), ids
EOF

# refusals
gm outsider $(psk outsider) --group keyid:integ-video
refused outsider AUTHORIZATION_FAILED "identity listed (with its PSK) only in another group"
gm recv-2-send $(psk recv-2) --group keyid:integ-video --sender
refused recv-2-send AUTHORIZATION_FAILED "a receiver asking to send"
gm nogroup $(psk recv-1) --group keyid:no-such-group
refused nogroup INVALID_GROUP_ID "unknown group"
newpsk wrong
gm wrongpsk --id fqdn:recv-2.example.net --psk-file "$W/keys/wrong.psk" --group keyid:integ-video
refused wrongpsk AUTHENTICATION_FAILED "wrong PSK"
gm unknown --id fqdn:nobody.example.net --psk-file "$W/keys/wrong.psk" --group keyid:integ-video
refused unknown AUTHENTICATION_FAILED "identity unknown to the GCKS (no credentials)"
gm sag $(psk recv-2) --group keyid:integ-video --sag-encr aes_cbc/256
refused sag NO_PROPOSAL_CHOSEN "SAg without AES-GCM"
gm sag-keylen $(psk recv-2) --group keyid:integ-video --sag-encr aes_gcm_16/128
refused sag-keylen NO_PROPOSAL_CHOSEN "SAg with AES-GCM-16 but only 128-bit keys"

# two groups in one run
gm twogroups $(psk recv-1) --group keyid:integ-video --group keyid:integ-audio
registered twogroups keyid:integ-video keyid:integ-audio
pyck "two groups in one run: each its own SAs, the first unchanged" <<'EOF'
v, a = esp('twogroups', 'keyid:integ-video'), esp('twogroups', 'keyid:integ-audio')
assert v['spi'] == esp('recv-1')['spi'] and v['keymat_sha256'] == esp('recv-1')['keymat_sha256'], v
assert a['spi'] != v['spi'] and a['keymat_sha256'] != v['keymat_sha256'], a
assert a['encryption'] == 'AES_CBC' and a['key_length'] == 128, a
assert a['integrity'] == 'HMAC_SHA2_256_128', a
assert a['directions'] == ['in'], a
r = group('twogroups', 'keyid:integ-audio')['rekey_sa']
assert r['key_wrap'] == 'KW_5649_128' and r['encryption'] == 'AES_CBC', r
assert r['spi'] != group('twogroups', 'keyid:integ-video')['rekey_sa']['spi'], r
EOF
# Message ID 2: after IKE_SA_INIT (0) and GSA_AUTH (1) of the same IKE SA
check "the second group was joined with GSA_REGISTRATION on the same IKE SA (gcksd log: request 2)" \
	grep -qE '^[^ ]+ gcksd debug \[net\]: received 127\.0\.0\.1:[0-9]+ GSA_REGISTRATION request 2 \[ SK\{ IDg ' "$W/gcksd-psk.log"
gm outsider-2 $(psk outsider) --group keyid:integ-audio --group keyid:integ-video
pyck "a member of one group asking for two: registered to its group, AUTHORIZATION_FAILED for the other" <<'EOF'
assert rc('outsider-2') == 2, rc('outsider-2')
assert group('outsider-2', 'keyid:integ-audio')['status'] == 'registered'
g = group('outsider-2', 'keyid:integ-video')
assert g['status'] == 'refused' and g['error'] == 'AUTHORIZATION_FAILED', g
EOF

# what the GCKS reports
rc=0
"$GCKSCTL" --db "$DB" --json member list keyid:integ-video >"$W/members.json" 2>"$W/gcksctl.log" || rc=$?
check "gcksctl --json member list exits 0" test "$rc" -eq 0
pyck "member list: the four members with roles and the Sender-IDs of their last registration" <<'EOF'
ml = load(f'{W}/members.json')
by = {m['member']: m for m in ml}
assert sorted(by) == ['fqdn:recv-1.example.net', 'fqdn:recv-2.example.net',
                      'fqdn:send-1.example.net', 'fqdn:send-2.example.net'], sorted(by)
assert by['fqdn:recv-1.example.net']['role'] == 'receiver' and by['fqdn:recv-1.example.net']['sender_ids'] == []
assert by['fqdn:recv-2.example.net']['role'] == 'receiver' and by['fqdn:recv-2.example.net']['sender_ids'] == []
assert by['fqdn:send-1.example.net']['role'] == 'sender'
assert by['fqdn:send-1.example.net']['sender_ids'] == group('send-1b')['sender_ids'], by['fqdn:send-1.example.net']
assert by['fqdn:send-2.example.net']['sender_ids'] == group('send-2')['sender_ids'], by['fqdn:send-2.example.net']
for m in ml:
    assert m['peer'].startswith('127.0.0.1:'), m
EOF
rc=0
"$GCKSCTL" --db "$DB" --control "$CTL" --json status >"$W/status.json" 2>>"$W/gcksctl.log" || rc=$?
check "gcksctl status (control socket) exits 0" test "$rc" -eq 0
pyck "status: both groups with their member counts, registrations and refusals counted" <<'EOF'
st = load(f'{W}/status.json')
assert st['ok'] is True, st
by = {g['group']: g for g in st['groups']}
assert by['keyid:integ-video']['members'] == 4, by['keyid:integ-video']
assert by['keyid:integ-audio']['members'] == 2, by['keyid:integ-audio']
assert by['keyid:integ-video']['capacity'] == 10, by['keyid:integ-video']
esps = [s for s in by['keyid:integ-video']['sas'] if s['protocol'] == 'ESP']
assert esps and esps[0]['spi'] == esp('recv-1')['spi'], esps
assert st['registrations'] == 8 and st['refusals'] == 8, st
EOF
check "database file is mode 0600 (and its WAL files)" \
	bash -c 'for f in "$1"*; do m=$(stat -c %a "$f"); echo "$f $m"; [ "$m" = 600 ] || exit 1; done' _ "$DB"
stop_gcksd "$W/gcksd-psk.log"

# =================================================================================
# 2. certificate members
# =================================================================================
C=$W/pki
mkdir -p "$C"
cat >"$C/openssl.cnf" <<'EOF'
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused
[ ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ leaf ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:${ENV::SAN}
extendedKeyUsage = ${ENV::EKU}
EOF
# members' certificates say clientAuth; only the GCKS's says serverAuth, the purpose gmd
# requires of a key server (a member's certificate must not act as one)
export SAN=unused EKU=clientAuth
mkca() { # NAME
	openssl req -x509 -new -config "$C/openssl.cnf" -extensions ca -newkey ec \
		-pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$C/$1.key" -out "$C/$1.crt" -days 2 \
		-subj "/O=gikev2 test/CN=$1" 2>>"$C/openssl.log"
}
mkleaf() { # NAME DNSNAME CA
	SAN=$2 openssl req -new -config "$C/openssl.cnf" -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$C/$1.key" -out "$C/$1.csr" -subj "/O=gikev2 test/CN=$2" 2>>"$C/openssl.log" &&
	SAN=$2 openssl x509 -req -in "$C/$1.csr" -CA "$C/$3.crt" -CAkey "$C/$3.key" -CAcreateserial \
		-days 2 -extfile "$C/openssl.cnf" -extensions leaf -out "$C/$1.crt" 2>>"$C/openssl.log"
}
pki() {
	mkca ca && mkca rogue-ca &&
	EKU=serverAuth mkleaf gcks gcks.example ca &&
	for m in c-recv-1 c-recv-2 c-send c-other c-stranger; do mkleaf "$m" "$m.example.net" ca || return 1; done &&
	mkleaf rogue-recv-1 c-recv-1.example.net rogue-ca &&
	openssl verify -CAfile "$C/ca.crt" "$C/gcks.crt" "$C/c-recv-1.crt" "$C/c-stranger.crt"
}
check "openssl: a CA, the GCKS and member certificates (SAN DNS names), a rogue CA" pki

cat >"$W/cert.yaml" <<'EOF'
groups:
  - id: keyid:integ-cert
    sender-id-bits: 16
    ike-idle-timeout: 5m
    rekey:
      transport: multicast
      key-wrap: kw-5649-256
      address: 239.192.0.79
    sas:
      - name: telemetry
        encryption: aes-gcm-16
        key-length: 128
        source: 198.51.100.0/24
        destination: 239.192.3.79
        ip-protocol: udp
        ports: 7000-7001
    members:
      - id: fqdn:c-recv-1.example.net
        auth: certificate
      - id: fqdn:c-recv-2.example.net
        auth: certificate
      - id: fqdn:c-send.example.net
        auth: certificate
        role: sender
        max-sender-ids: 2
  - id: keyid:integ-cert-other
    rekey:
      transport: multicast
      key-wrap: kw-5649-256
      address: 239.192.0.80
    sas:
      - name: other
        destination: 239.192.3.80
    members:
      - id: fqdn:c-other.example.net
        auth: certificate
EOF
DB=$W/gcks-cert.db CTL=$W/ctl-cert.sock
check "gcksctl init --ca --cert --key (certificate database)" \
	"$GCKSCTL" --db "$DB" init --id fqdn:gcks.example --key "$C/gcks.key" --cert "$C/gcks.crt" --ca "$C/ca.crt"
check "gcksctl policy load (certificate members)" "$GCKSCTL" --db "$DB" --control "$CTL" policy load "$W/cert.yaml"
if ! start_gcksd "$DB" "$CTL" "$W/gcksd-cert.log"; then
	not_ok "gcksd starts (certificate database)"
	exit 1
fi
ok "gcksd starts on 127.0.0.1:$port (certificate database)"

crt() { # NAME [CERTNAME]: member credentials
	local c=${2:-$1}
	echo --id "fqdn:$1.example.net" --cert "$C/$c.crt" --key "$C/$c.key" --ca "$C/ca.crt" --gcks-id fqdn:gcks.example
}
gm c-recv-1 $(crt c-recv-1) --group keyid:integ-cert
gm c-recv-2 $(crt c-recv-2) --group keyid:integ-cert
gm c-send $(crt c-send) --group keyid:integ-cert --sender 3
for m in c-recv-1 c-recv-2 c-send; do registered $m keyid:integ-cert; done
pyck "certificates: same ESP and Rekey SAs for all three; directions; Sender-IDs (3 asked, 2 allowed)" <<'EOF'
a, b, s = esp('c-recv-1'), esp('c-recv-2'), esp('c-send')
for k in ('spi', 'keymat_sha256', 'encryption', 'key_length', 'destination'):
    assert a[k] == b[k] == s[k], f'{k}: {a[k]} / {b[k]} / {s[k]}'
assert a['encryption'] == 'AES_GCM_16' and a['key_length'] == 128, a
assert a['destination']['port_low'] == 7000 and a['destination']['port_high'] == 7001, a
assert a['sequence_numbers'] == 'SEQ32', a
ra, rb, rs = (group(n)['rekey_sa'] for n in ('c-recv-1', 'c-recv-2', 'c-send'))
assert ra['spi'] == rb['spi'] == rs['spi'] and ra['keymat_sha256'] == rb['keymat_sha256'] == rs['keymat_sha256']
assert a['directions'] == b['directions'] == ['in'] and s['directions'] == ['out']
assert group('c-recv-1')['sender_ids'] == group('c-recv-2')['sender_ids'] == []
ids = group('c-send')['sender_ids']
assert len(ids) == 2 and len(set(ids)) == 2 and all(0 <= i < 65536 for i in ids), ids
assert group('c-send')['sender_id_bits'] == 16
EOF
openssl pkey -in "$C/gcks.key" -pubout -outform DER 2>/dev/null | openssl dgst -sha256 -r | cut -d' ' -f1 >"$W/gcks-spki.sha256"
pyck "AUTH_KEY is the GCKS key imported with gcksctl init --key (Rekey SA: ecdsa-sha256)" <<'EOF'
want = open(f'{W}/gcks-spki.sha256').read().strip()
for n in ('c-recv-1', 'c-recv-2', 'c-send'):
    assert group(n)['auth_key_sha256'] == want, (n, group(n)['auth_key_sha256'], want)
assert group('c-recv-1')['rekey_sa']['signature_algorithm'] == 'ecdsa-sha256', group('c-recv-1')['rekey_sa']
EOF

gm c-other $(crt c-other) --group keyid:integ-cert
refused c-other AUTHORIZATION_FAILED "certificate member of another group"
gm c-stranger $(crt c-stranger) --group keyid:integ-cert
refused c-stranger AUTHENTICATION_FAILED "certificate chaining to the CA, identity in no group: no IKE SA"
gm c-nogroup $(crt c-recv-1) --group keyid:no-such-group
refused c-nogroup INVALID_GROUP_ID "unknown group (certificate)"
gm c-rogue $(crt c-recv-1 rogue-recv-1) --group keyid:integ-cert
refused c-rogue AUTHENTICATION_FAILED "certificate from another CA"
gm c-wrongid $(crt c-recv-2 c-recv-1) --group keyid:integ-cert
refused c-wrongid AUTHENTICATION_FAILED "certificate that does not name the member's ID"
gm c-wrongkey --id fqdn:c-recv-1.example.net --cert "$C/c-recv-1.crt" --key "$C/c-recv-2.key" \
	--ca "$C/ca.crt" --gcks-id fqdn:gcks.example --group keyid:integ-cert
refused c-wrongkey AUTHENTICATION_FAILED "private key that does not match the certificate"
gm c-sag $(crt c-recv-2) --group keyid:integ-cert --sag-encr aes_cbc/256,chacha20_poly1305
refused c-sag NO_PROPOSAL_CHOSEN "SAg without AES-GCM (certificate)"
gm c-gcksca --id fqdn:c-recv-2.example.net --cert "$C/c-recv-2.crt" --key "$C/c-recv-2.key" \
	--ca "$C/rogue-ca.crt" --gcks-id fqdn:gcks.example --group keyid:integ-cert
pyck "a member that does not trust the GCKS's CA does not register" <<'EOF'
assert rc('c-gcksca') == 2, rc('c-gcksca')
g = group('c-gcksca')
assert g['status'] == 'failed' and g['error'] == 'AUTHENTICATION_FAILED' and 'sas' not in g, g
EOF
gm c-pinned --id fqdn:c-recv-2.example.net --cert "$C/c-recv-2.crt" --key "$C/c-recv-2.key" \
	--ca "$C/ca.crt" --gcks-id fqdn:gcks-2.example --group keyid:integ-cert
refused c-pinned AUTHENTICATION_FAILED "the GCKS is not the one --gcks-id pins"
check "gmd: the pinned GCKS ID is named in the refusal" \
	grep -q "the GCKS authenticated as fqdn:gcks.example, not as the pinned GCKS ID fqdn:gcks-2.example" "$W/c-pinned.log"
gm c-nopin --id fqdn:c-recv-2.example.net --cert "$C/c-recv-2.crt" --key "$C/c-recv-2.key" \
	--ca "$C/ca.crt" --group keyid:integ-cert
check "gmd --ca without --gcks-id: exit 1 before anything is sent, says why" \
	bash -c '[ "$(cat "$1")" = 1 ] && grep -qx "gmd: --ca: needs --gcks-id: the identity the GCKS must authenticate as" "$2"' \
	_ "$W/c-nopin.rc" "$W/c-nopin.log"
gm c-two $(crt c-other) --group keyid:integ-cert-other --group keyid:integ-cert
pyck "certificates, two groups in one run: the listed one registered, the other AUTHORIZATION_FAILED" <<'EOF'
assert rc('c-two') == 2, rc('c-two')
assert group('c-two', 'keyid:integ-cert-other')['status'] == 'registered'
g = group('c-two', 'keyid:integ-cert')
assert g['status'] == 'refused' and g['error'] == 'AUTHORIZATION_FAILED' and 'sas' not in g, g
EOF

rc=0
"$GCKSCTL" --db "$DB" --json member list keyid:integ-cert >"$W/members-cert.json" 2>>"$W/gcksctl.log" || rc=$?
check "gcksctl --json member list (certificates) exits 0" test "$rc" -eq 0
pyck "member list (certificates): two receivers and the sender with its Sender-IDs" <<'EOF'
by = {m['member']: m for m in load(f'{W}/members-cert.json')}
assert sorted(by) == ['fqdn:c-recv-1.example.net', 'fqdn:c-recv-2.example.net', 'fqdn:c-send.example.net'], sorted(by)
assert by['fqdn:c-send.example.net']['role'] == 'sender'
assert by['fqdn:c-send.example.net']['sender_ids'] == group('c-send')['sender_ids']
assert by['fqdn:c-recv-1.example.net']['role'] == 'receiver'
EOF
rc=0
"$GCKSCTL" --db "$DB" --control "$CTL" --json status >"$W/status-cert.json" 2>>"$W/gcksctl.log" || rc=$?
check "gcksctl status (certificates) exits 0" test "$rc" -eq 0
pyck "status (certificates): member counts of both groups" <<'EOF'
by = {g['group']: g for g in load(f'{W}/status-cert.json')['groups']}
assert by['keyid:integ-cert']['members'] == 3, by['keyid:integ-cert']
assert by['keyid:integ-cert-other']['members'] == 1, by['keyid:integ-cert-other']
EOF
check "certificate database is mode 0600" bash -c '[ "$(stat -c %a "$1")" = 600 ]' _ "$DB"
stop_gcksd "$W/gcksd-cert.log"

# =================================================================================
# 2b. every signing key type gcksctl init offers: members accept the Rekey SA policy
#     (RFC 9838 4.4.2.1.1: the Signature Algorithm Identifier names the key's algorithm;
#     RSASSA-PSS did not fit and went out empty). Signed GSA_REKEY per type: check_registration.
# =================================================================================
for kt in ecdsa-p256:ecdsa-sha256 ecdsa-p384:ecdsa-sha384 ed25519:ed25519 rsa:rsa-pss-sha256; do
	t=${kt%%:*} alg=${kt#*:}
	KDB=$W/kt-$t.db KCTL=$W/kt-$t.sock
	check "gcksctl init --key-type $t" "$GCKSCTL" --db "$KDB" init --id fqdn:gcks.example --key-type "$t"
	check "gcksctl policy load (--key-type $t)" "$GCKSCTL" --db "$KDB" --control "$KCTL" policy load "$W/psk.yaml"
	if ! start_gcksd "$KDB" "$KCTL" "$W/gcksd-kt-$t.log"; then
		not_ok "gcksd starts (--key-type $t)"
		continue
	fi
	gm "kt-$t" $(psk recv-1) --group keyid:integ-video
	registered "kt-$t" keyid:integ-video
	NAME="kt-$t" ALG=$alg pyck "--key-type $t: the Rekey SA is signed with $alg, AUTH_KEY is there" <<'EOF'
r = group(os.environ['NAME'])['rekey_sa']
assert r['authentication'] == 'DIGITAL_SIGNATURE', r
assert r.get('signature_algorithm') == os.environ['ALG'], r
assert len(group(os.environ['NAME'])['auth_key_sha256']) == 64
EOF
	stop_gcksd "$W/gcksd-kt-$t.log"
done

# =================================================================================
# 3. the example policies load with gcksctl
# =================================================================================
# a copy with the key files 0600 as an admin keeps them (git keeps no modes)
mkdir -p "$W/examples"
cp "$S"/policies/*.yaml "$W/examples/" 2>/dev/null || true
cp -r "$S/policies/keys" "$W/examples/keys"
chmod 600 "$W"/examples/keys/*.psk
shopt -s nullglob
examples=("$W"/examples/*.yaml)
if [ ${#examples[@]} -gt 0 ]; then
	"$GCKSCTL" --db "$W/examples.db" init --id fqdn:gcks.example >/dev/null
	check "the example policies (policies/*.yaml) load with gcksctl policy load" \
		"$GCKSCTL" --db "$W/examples.db" --control "$W/none.sock" policy load "${examples[@]}"
else
	not_ok "the example policies load: no policies/*.yaml under $S"
fi

sanitizer_check "no sanitizer report from gmd or gcksctl" "$W"/*.log
[ "$fails" -eq 0 ]
