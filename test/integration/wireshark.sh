#!/usr/bin/env bash
# Integration test of what tshark sees of gikev2's traffic, through the real programs in a
# network namespace of its own (loopback with multicast routed to it):
#   - --ike-keylog: gcksd and gmd refuse an existing key log that is group-readable, a symbolic
#     link and a file owned by another user (exit 1, the reason); they create it 0600, log a
#     warning at start, and write the same IKE SA record; gmd adds its Rekey SAs;
#   - a registration (IKE_SA_INIT, GSA_AUTH) and a GSA_REKEY captured with tshark on loopback and
#     decoded with contrib/wireshark/gikev2.lua and the key log as Wireshark's IKEv2 decryption
#     table: exchange names, the group ID, the SPIs gmd reported, the transforms, the Key ID /
#     KWK ID of the wrapped keys, and no Malformed mark or Lua error; without the key log the
#     exchanges are still named but nothing inside SK is shown.
# Needs root (exits 77 otherwise), iproute2, python3 and tshark (tools/deps).
set -euo pipefail

B=${GK_BUILDDIR:-$(pwd)}
S=${GK_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
GCKSD=$B/gcks/gcksd GCKSCTL=$B/gcks/gcksctl GMD=$B/member/gmd LUA=$S/contrib/wireshark/gikev2.lua
. "$(dirname "$0")/tap.sh"

[ "$(id -u)" = 0 ] || skip "wireshark.sh needs root to capture and to make a network namespace"
command -v ip >/dev/null || skip "iproute2 (ip) is not installed"
command -v tshark >/dev/null || skip "tshark is not installed"
for t in python3 timeout; do
	command -v "$t" >/dev/null || { echo "not ok - $t is needed (tools/deps installs it)"; exit 99; }
done
for p in "$GCKSD" "$GCKSCTL" "$GMD"; do
	[ -x "$p" ] || { echo "not ok - $p is not built"; exit 99; }
done
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
unset GIKEV2_DB GIKEV2_CONTROL JOURNAL_STREAM

W=$(mktemp -d "${TMPDIR:-/tmp}/gk-ws.XXXXXX")
chmod 755 "$W" # gcksd and gmd drop to their accounts; the key logs stay open
NS=gkws$$
pids=()
fails=0
cleanup() {
	local p
	for p in ${pids[@]+"${pids[@]}"}; do kill "$p" 2>/dev/null || true; done
	for p in ${pids[@]+"${pids[@]}"}; do wait "$p" 2>/dev/null || true; done
	ip netns del "$NS" 2>/dev/null || true
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

# (background processes are started with `ip netns exec` itself, which execs them: $! is theirs)
nsx() { ip netns exec "$NS" "$@"; }

ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" link set lo multicast on
ip -n "$NS" route add 224.0.0.0/4 dev lo

mkdir -p "$W/keys"
(umask 077 && python3 -c 'import os; print("0x" + os.urandom(32).hex())' >"$W/keys/m1.psk")
GPORT=1500 RPORT=1848
cat >"$W/groups.yaml" <<EOF
groups:
  - id: keyid:ws-mc
    rekey:
      transport: multicast
      key-wrap: kw-5649-256
      address: 239.192.0.77
      port: $RPORT
    sas:
      - name: video
        destination: 239.192.77.1
    members:
      - id: keyid:m1
        psk-file: keys/m1.psk
EOF
DB=$W/gcks.db CTL=$W/gcksd.sock
"$GCKSCTL" --db "$DB" init --id fqdn:gcks.example >/dev/null
"$GCKSCTL" --db "$DB" policy load "$W/groups.yaml" >/dev/null
gcksd_args=(--db "$DB" --listen "127.0.0.1:$GPORT" --control "$CTL" --foreground)
gmd_args=(--gcks "127.0.0.1:$GPORT" --id keyid:m1 --psk-file "$W/keys/m1.psk" --group keyid:ws-mc --sa-backend none)

# --- the key log's refusals: nothing starts ---
refused() { # refused NAME EXPECTED-TEXT FILE: gcksd and gmd both exit 1 with the reason
	local rc1=0 rc2=0
	timeout 10 "$GCKSD" "${gcksd_args[@]}" --ike-keylog "$3" >"$W/ref-g.log" 2>&1 || rc1=$?
	timeout 10 "$GMD" "${gmd_args[@]}" --once --ike-keylog "$3" >"$W/ref-m.log" 2>&1 || rc2=$?
	check "$1: gcksd exits 1 ($rc1)" test "$rc1" = 1
	check "... with the reason" grep -qF -- "--ike-keylog: $3: $2" "$W/ref-g.log"
	check "... gmd too ($rc2)" test "$rc2" = 1
	check "... with the reason" grep -qF -- "--ike-keylog: $3: $2" "$W/ref-m.log"
}
touch "$W/open.keylog" && chmod 640 "$W/open.keylog"
refused "an existing key log the group can read" "mode 0640, group or others can access it (want 0600)" "$W/open.keylog"
ln -s "$W/target.keylog" "$W/link.keylog"
refused "a symbolic link" "Too many levels of symbolic links" "$W/link.keylog"
check "... nothing was created through it" test ! -e "$W/target.keylog"
(umask 077 && touch "$W/theirs.keylog") && chown 65534 "$W/theirs.keylog"
refused "a key log owned by another user" "owned by uid 65534, not by us" "$W/theirs.keylog"
check "... and nobody wrote to the refused files" \
	test ! -s "$W/open.keylog" -a ! -s "$W/theirs.keylog"

# --- capture a registration and a GSA_REKEY ---
t0=$(date +%s)
ip netns exec "$NS" tshark -i lo -f "udp port $GPORT or udp port $RPORT" -w "$W/cap.pcapng" >"$W/tshark.out" 2>"$W/tshark.log" &
tpid=$!
pids+=("$tpid")
wait_for 20 grep -q "Capturing on" "$W/tshark.log" || { not_ok "tshark captures on loopback"; exit 1; }
ok "tshark captures on loopback"

ip netns exec "$NS" "$GCKSD" "${gcksd_args[@]}" --ike-keylog "$W/gcksd.keylog" 2>"$W/gcksd.log" &
pids+=("$!")
wait_for 15 grep -q 'gcksd ready' "$W/gcksd.log" || { not_ok "gcksd starts"; exit 1; }
check "gcksd --ike-keylog: a warning at start, with the file" \
	grep -qE "gcksd warning \[daemon\]: WARNING: --ike-keylog: gcksd writes the keys .* to $W/gcksd.keylog; anyone who reads it can decrypt" "$W/gcksd.log"
check "... the file is created 0600" test "$(stat -c %a "$W/gcksd.keylog")" = 600
ip netns exec "$NS" "$GMD" "${gmd_args[@]}" --json --ike-keylog "$W/gmd.keylog" >"$W/gmd.out" 2>"$W/gmd.log" &
pids+=("$!")
wait_for 20 grep -q '"event":"registered"' "$W/gmd.out" || { not_ok "gmd registers"; exit 1; }
ok "gmd registers"
check "gmd --ike-keylog: a warning too, 0600" \
	bash -c 'grep -q "gmd warning \[daemon\]: WARNING: --ike-keylog" "$1" && test "$(stat -c %a "$2")" = 600' _ "$W/gmd.log" "$W/gmd.keylog"
"$GCKSCTL" --control "$CTL" rekey keyid:ws-mc >/dev/null
wait_for 20 grep -q '"event":"rekey_sa_replaced"' "$W/gmd.out" || { not_ok "gmd takes the GSA_REKEY"; exit 1; }
ok "gmd takes the GSA_REKEY"
# dumpcap writes each packet out as it comes; stop once the file holds the GSA_REKEY
captured() { tshark -r "$W/cap.pcapng" -d "udp.port==$RPORT,isakmp" -Y "isakmp.exchangetype == 41" 2>/dev/null | grep -q .; }
check "the capture holds a GSA_REKEY" wait_for 20 captured
kill -TERM "$tpid"
wait "$tpid" 2>/dev/null || true

python3 - "$W" >"$W/facts.out" <<'EOF'
import json, sys
W = sys.argv[1]
ev = [json.loads(l) for l in open(f'{W}/gmd.out') if l.startswith('{')]
reg = next(e for e in ev if e['event'] == 'registered')['state']
new = [e for e in ev if e['event'] == 'sa_added' and e['protocol'] == 'ESP'][-1]
rk = next(e for e in ev if e['event'] == 'rekey_sa_replaced')
print(reg['sas'][0]['spi'], reg['rekey_sa']['spi'], new['spi'], rk['spi'])
EOF
read -r ESP1 KEK1 ESP2 KEK2 <"$W/facts.out"
check "every event line has its time: RFC 3339 UTC with milliseconds, within the test's run" \
	python3 -c '
import datetime, json, re, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
assert len(lines) >= 5, len(lines)
for e in lines:
    t = e["time"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", t), t
    s = datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp()
    assert int(sys.argv[2]) - 1 <= s <= int(sys.argv[3]) + 1, (t, sys.argv[2:])
' "$W/gmd.out" "$t0" "$(date +%s)"

check "both key logs hold the same IKE SA record (SPIs, SK_e, algorithms)" \
	test "$(head -1 "$W/gcksd.keylog")" = "$(head -1 "$W/gmd.keylog")"
check "... in the decryption table's format: 8 fields, AES-GCM-256 by Wireshark's name" \
	grep -qE '^[0-9a-f]{16},[0-9a-f]{16},[0-9a-f]{72},[0-9a-f]{72},"AES-GCM-256 with 16 octet ICV \[RFC5282\]",,,"NONE \[RFC4306\]"$' "$W/gcksd.keylog"
check "gmd's key log adds both Rekey SAs (SPI = SPIi | SPIr of GSA_REKEY)" \
	bash -c 'grep -q "^${1:0:16},${1:16:16}," "$3" && grep -q "^${2:0:16},${2:16:16}," "$3"' _ "$KEK1" "$KEK2" "$W/gmd.keylog"

# --- decode ---
uat=()
while read -r l; do uat+=(-o "uat:ikev2_decryption_table:$l"); done <"$W/gmd.keylog"
ts() { tshark -r "$W/cap.pcapng" -d "udp.port==$GPORT,isakmp" -d "udp.port==$RPORT,isakmp" -X "lua_script:$LUA" "$@" 2>>"$W/tshark-read.log"; }
ts "${uat[@]}" >"$W/summary.out"
ts "${uat[@]}" -V >"$W/verbose.out"
ts >"$W/nokeys.out"
ts -V >"$W/nokeys-verbose.out"
check "the Info column names the exchanges: IKE_SA_INIT, GSA_AUTH request and response, GSA_REKEY" \
	bash -c 'grep -c "IKE_SA_INIT" "$1" | grep -qx 2 && grep -c "GSA_AUTH MID=01" "$1" | grep -qx 2 && grep -q "GSA_REKEY MID=00 Responder Request" "$1" && ! grep -q "Unknown 39\|Unknown 41" "$1"' _ "$W/summary.out"
fields() { ts "${uat[@]}" -T fields -E separator=/ "$@"; }
check "the group ID from IDg (inside SK)" \
	test "$(fields -Y 'gikev2.idg' -e gikev2.idg)" = "ws-mc"
check "the GSA_AUTH response: the ESP and Rekey SA SPIs gmd reported ($ESP1, $KEK1), in GSA and KD" \
	test "$(fields -Y 'gikev2.exchange == 39 && gikev2.spi' -e gikev2.spi)" = "$ESP1,$KEK1,$ESP1,$KEK1"
check "the GSA_REKEY: the new SPIs ($ESP2, $KEK2), in GSA and KD" \
	test "$(fields -Y 'gikev2.exchange == 41' -e gikev2.spi | head -1)" = "$ESP2,$KEK2,$ESP2,$KEK2"
check "transforms: ENCR AES_GCM_16 (256), KWA KW_5649_256, GCAUTH Digital Signature; GWP ATD/DTD" \
	bash -c 'for t in "Transform: ENCR AES_GCM_16 (20)" "Attribute: Key Length (14): 256" "Transform: KWA KW_5649_256 (3)" "Transform: GCAUTH Digital Signature (2)" "Activation time delay (s): 5" "Deactivation time delay (s): 30"; do grep -qF "$t" "$1" || { echo "missing: $t"; exit 1; }; done' _ "$W/verbose.out"
check "KD: the wrapped key headers (Key ID 0, KWK ID 0), the lengths, never the keys" \
	bash -c 'grep -qF "Attribute: SA_KEY (1): Key ID 0, KWK ID 0" "$1" && grep -qF "Wrapped key octets (not shown): 48" "$1" && grep -qF "AUTH_KEY octets (not shown)" "$1"' _ "$W/verbose.out"
check "no Malformed mark, no Lua error, nothing on tshark's stderr but its root notice" \
	bash -c '! grep -qi "malformed\|lua error" "$1" "$2" && ! grep -v "Running as user" "$3" | grep -q .' _ "$W/verbose.out" "$W/nokeys-verbose.out" "$W/tshark-read.log"
check "without the key log: exchanges still named, nothing from inside SK" \
	bash -c 'grep -q "GSA_REKEY" "$1" && ! grep -q "Payload: IDg\|Payload: GSA\|Payload: KD" "$2"' _ "$W/nokeys.out" "$W/nokeys-verbose.out"

[ "$fails" -eq 0 ]
