#!/usr/bin/env bash
# Integration test of `gmd status` through the real gcksd and gmd on loopback (a network
# namespace of its own, multicast routed to lo):
#   - gmd --control PATH makes a socket 0660; `gmd status` and `gmd status --json` answer with
#     the group, the key server, the registration time, the SAs with SPIs, states and lifetimes,
#     the Rekey SA and its Message IDs, and the counters;
#   - across a GSA_REKEY: a receiver's replaced SA goes from active to draining_dtd, the new one
#     is active at once; a sender's new SA waits for ATD (waiting_atd), then is active; the Rekey
#     SA changes and rekeys_accepted / last_accepted_message_id move;
#   - gmd --metrics: the same counters in the Prometheus text format, scraped before and after the
#     rekey (rekeys_accepted moves, registrations do not); 404, 405 and 431 for other requests;
#   - another user reaching the socket (its mode widened by the test) gets no answer, and gmd
#     logs the refusal with the uid (SO_PEERCRED); a request longer than 64 octets is closed;
#     an unknown request gets an error.
# Needs root (exits 77 otherwise), iproute2, python3 and setpriv (util-linux).
set -euo pipefail

B=${GK_BUILDDIR:-$(pwd)}
GCKSD=$B/gcks/gcksd GCKSCTL=$B/gcks/gcksctl GMD=$B/member/gmd
. "$(dirname "$0")/tap.sh"

[ "$(id -u)" = 0 ] || skip "gmd_status.sh needs root to make a network namespace"
command -v ip >/dev/null || skip "iproute2 (ip) is not installed"
for t in python3 timeout setpriv; do
	command -v "$t" >/dev/null || { echo "not ok - $t is needed (tools/deps installs it)"; exit 99; }
done
for p in "$GCKSD" "$GCKSCTL" "$GMD"; do
	[ -x "$p" ] || { echo "not ok - $p is not built"; exit 99; }
done
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
unset GIKEV2_DB GIKEV2_CONTROL JOURNAL_STREAM

W=$(mktemp -d "${TMPDIR:-/tmp}/gk-gmst.XXXXXX")
chmod 755 "$W"
NS=gkst$$
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

ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" link set lo multicast on
ip -n "$NS" route add 224.0.0.0/4 dev lo

mkdir -p "$W/keys"
for m in m1 m2; do
	(umask 077 && python3 -c 'import os; print("0x" + os.urandom(32).hex())' >"$W/keys/$m.psk")
done
GPORT=1500
cat >"$W/groups.yaml" <<EOF
groups:
  - id: keyid:st-mc
    activation-delay: 2s
    deactivation-delay: 30s
    rekey:
      transport: multicast
      key-wrap: kw-5649-256
      address: 239.192.0.78
      port: 1849
    sas:
      - name: video
        destination: 239.192.78.1
    members:
      - id: keyid:m1
        psk-file: keys/m1.psk
      - id: keyid:m2
        psk-file: keys/m2.psk
        role: sender
EOF
DB=$W/gcks.db CTL=$W/gcksd.sock
"$GCKSCTL" --db "$DB" init --id fqdn:gcks.example >/dev/null
"$GCKSCTL" --db "$DB" policy load "$W/groups.yaml" >/dev/null
# (started with `ip netns exec` itself, which execs them: $! is theirs)
ip netns exec "$NS" "$GCKSD" --db "$DB" --listen "127.0.0.1:$GPORT" --control "$CTL" --foreground 2>"$W/gcksd.log" &
pids+=("$!")
wait_for 15 grep -q 'gcksd ready' "$W/gcksd.log" || { not_ok "gcksd starts"; exit 1; }
for m in m1 m2; do
	extra=()
	[ "$m" = m2 ] && extra=(--sender)
	[ "$m" = m1 ] && extra=(--metrics 127.0.0.1:9101)
	ip netns exec "$NS" "$GMD" --gcks "127.0.0.1:$GPORT" --id "keyid:$m" --psk-file "$W/keys/$m.psk" \
		--group keyid:st-mc --sa-backend none --json --control "$W/$m.sock" "${extra[@]}" \
		>"$W/$m.out" 2>"$W/$m.log" &
	pids+=("$!")
done
for m in m1 m2; do
	wait_for 20 grep -q '"event":"registered"' "$W/$m.out" || { not_ok "gmd $m registers"; exit 1; }
done
ok "gmd m1 (receiver) and m2 (sender) register"
check "the control socket is 0660" test "$(stat -c %a "$W/m1.sock")" = 660
# http METHOD PATH [HEADER-OCTETS]: the status code, then the body (python3: no curl needed)
http() {
	ip netns exec "$NS" python3 -c '
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", 9101, timeout=5)
c.putrequest(sys.argv[1], sys.argv[2])
if int(sys.argv[3]):
    c.putheader("X-Big", "a" * int(sys.argv[3]))
c.endheaders()
r = c.getresponse()
print(r.status)
sys.stdout.write(r.read().decode())
' "$1" "$2" "${3:-0}"
}
scrape() { http GET /metrics | tail -n +2; }
sample() { grep -E "^$1\{group=\"keyid:st-mc\"\} " "$W/$2" | cut -d' ' -f2; }
scrape >"$W/metrics-before.txt"
check "gmd --metrics: registered 1, one registration, no rekeys yet, with HELP and TYPE lines" \
	bash -c '[ "$(grep -E "^gmd_registered\{group=\"keyid:st-mc\"\} " "$1")" = "gmd_registered{group=\"keyid:st-mc\"} 1" ] &&
		grep -qx "gmd_registrations_total{group=\"keyid:st-mc\"} 1" "$1" &&
		grep -qx "gmd_rekeys_accepted_total{group=\"keyid:st-mc\"} 0" "$1" &&
		grep -qx "# TYPE gmd_rekeys_accepted_total counter" "$1" && ! grep -q "gmd_last_rekey_message_id{" "$1"' _ "$W/metrics-before.txt"

st() { "$GMD" status --control "$W/$1.sock" ${2:+"$2"}; }
st m1 >"$W/m1-before.txt"
st m1 --json >"$W/m1-before.json"
st m2 --json >"$W/m2-before.json"
check "gmd status (text): the group, the key server, registration time, the SA active, the Rekey SA" \
	bash -c 'head -1 "$1" | grep -qE "^keyid:st-mc: registered with 127\.0\.0\.1:1500 since [0-9-]{10}T[0-9:]{8}Z$" &&
		grep -qE "^  ESP SPI [0-9a-f]{8} active, lifetime [0-9]+s left$" "$1" &&
		grep -qE "^  Rekey SA SPI [0-9a-f]{32}, lifetime [0-9]+s left$" "$1" &&
		grep -qE "^  rekeys accepted 0 \(inband 0\), rejected 0; registrations 1, re-registrations 0, exclusions 0$" "$1"' _ "$W/m1-before.txt"

cat >"$W/ck.py" <<'EOF'
import json, sys
def load(p):
    d = json.load(open(p))
    assert d['ok'] is True, d
    assert len(d['groups']) == 1, d
    return d['groups'][0]
EOF
check "gmd status --json: the SPIs gmd reported at registration, state, lifetimes, counters" \
	python3 -c '
import json, sys
sys.path.insert(0, sys.argv[1])
from ck import load
g = load(sys.argv[1] + "/m1-before.json")
reg = next(json.loads(l) for l in open(sys.argv[1] + "/m1.out") if "\"registered\"" in l)["state"]
assert g["group"] == "keyid:st-mc" and g["status"] == "registered" and g["key_server"] == "127.0.0.1:1500", g
assert g["registered_at"].endswith("Z"), g
assert [s["spi"] for s in g["sas"]] == [reg["sas"][0]["spi"]], (g, reg)
assert g["sas"][0]["state"] == "active" and 3500 < g["sas"][0]["lifetime_remaining"] <= 3600, g
assert g["rekey_sa"]["spi"] == reg["rekey_sa"]["spi"] and g["rekey_sa"]["next_message_id"] == 0, g
assert (g["registrations"], g["rekeys_accepted"], g["rekeys_rejected"], g["reregistrations"]) == (1, 0, 0, 0), g
' "$W"

# --- across a rekey ---
"$GCKSCTL" --control "$CTL" rekey keyid:st-mc >/dev/null
for m in m1 m2; do
	wait_for 20 grep -q '"event":"rekey_accepted"' "$W/$m.out" || { not_ok "gmd $m takes the GSA_REKEY"; exit 1; }
done
ok "both take the GSA_REKEY"
scrape >"$W/metrics-after.txt"
check "metrics after the rekey: rekeys_accepted 0 -> 1, last Message ID 0, still one registration" \
	test "$(sample gmd_rekeys_accepted_total metrics-before.txt) $(sample gmd_rekeys_accepted_total metrics-after.txt) $(sample gmd_last_rekey_message_id metrics-after.txt) $(sample gmd_registrations_total metrics-after.txt)" = "0 1 0 1"
check "every family's samples follow its own TYPE line (the exposition format)" \
	python3 -c '
import sys
fam = None
for l in open(sys.argv[1]):
    if l.startswith("# TYPE "):
        fam = l.split()[2]
    elif not l.startswith("#"):
        name = l.split("{")[0].split(" ")[0]
        assert name == fam, (name, fam)
' "$W/metrics-after.txt"
check "the metrics endpoint: another path 404, another method 405, a head over 4096 octets 431" \
	test "$(http GET /other | head -1) $(http POST /metrics | head -1) $(http GET /metrics 5000 | head -1)" = "404 405 431"
st m1 --json >"$W/m1-after.json"
st m2 --json >"$W/m2-after.json"
st m2 >"$W/m2-after.txt"
check "receiver: the old SA draining for DTD (about 30 s), the new one active; new Rekey SA; counters moved" \
	python3 -c '
import sys
sys.path.insert(0, sys.argv[1])
from ck import load
b, a = load(sys.argv[1] + "/m1-before.json"), load(sys.argv[1] + "/m1-after.json")
old = b["sas"][0]["spi"]
st = {s["spi"]: s for s in a["sas"]}
assert len(st) == 2 and st[old]["state"] == "draining_dtd" and 25 <= st[old]["state_ends_in"] <= 30, a
new = [s for k, s in st.items() if k != old][0]
assert new["state"] == "active", a
assert a["rekey_sa"]["spi"] != b["rekey_sa"]["spi"], a
assert a["old_rekey_sa"]["spi"] == b["rekey_sa"]["spi"] and a["old_rekey_sa"]["state"] == "draining_dtd", a
assert a["rekeys_accepted"] == 1 and a["last_accepted_message_id"] == 0 and a["rekeys_rejected"] == 0, a
' "$W"
check "sender: the new SA waits for ATD (2 s), the old one drains" \
	python3 -c '
import sys
sys.path.insert(0, sys.argv[1])
from ck import load
a = load(sys.argv[1] + "/m2-after.json")
states = sorted(s["state"] for s in a["sas"])
assert states == ["draining_dtd", "waiting_atd"], a
w = [s for s in a["sas"] if s["state"] == "waiting_atd"][0]
assert 1 <= w["state_ends_in"] <= 2 and w["directions"] == ["out"], a
' "$W"
check "... in the text: waiting for ATD, draining (DTD)" \
	bash -c 'grep -qE "^  ESP SPI [0-9a-f]{8} waiting for ATD [12]s, lifetime" "$1" && grep -qE "^  ESP SPI [0-9a-f]{8} draining \(DTD\) [0-9]+s, lifetime" "$1"' _ "$W/m2-after.txt"
active_after_atd() {
	st m2 --json >"$W/m2-atd.json"
	python3 -c '
import sys
sys.path.insert(0, sys.argv[1])
from ck import load
a = load(sys.argv[1] + "/m2-atd.json")
assert sorted(s["state"] for s in a["sas"]) == ["active", "draining_dtd"], a
' "$W" 2>/dev/null
}
if wait_for 10 active_after_atd && grep -q '"event":"sa_activated"' "$W/m2.out"; then
	ok "... once ATD passed, the new SA is active (sa_activated)"
else
	not_ok "... once ATD passed, the new SA is active (sa_activated)"
	cat "$W/m2-atd.json"
fi

# --- hostile callers ---
chmod 666 "$W/m1.sock"
rc=0
setpriv --reuid=65534 --regid=65534 --clear-groups "$GMD" status --control "$W/m1.sock" >"$W/nobody.out" 2>&1 || rc=$?
check "another user gets no answer (exit 3)" test "$rc:$(cat "$W/nobody.out")" = "3:gmd status: $W/m1.sock: no answer (is the caller root or gmd's user?)"
check "... gmd logs the refusal with the uid" \
	wait_for 5 grep -qE "gmd warning \[daemon\]: control socket: uid 65534 \(pid [0-9]+\) refused$" "$W/m1.log"
long=$(python3 -c 'print("status" + "x" * 100)')
check "a request longer than 64 octets: closed without an answer, logged" \
	bash -c 'out=$(printf "%s\n" "$1" | timeout 5 python3 -c "
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.stdin.buffer.read())
try:
    print(len(s.recv(100)))
except ConnectionResetError:
    print(0)" "$2") && [ "$out" = 0 ] && grep -q "control socket: request longer than 64 octets: closed" "$3"' _ "$long" "$W/m1.sock" "$W/m1.log"
check "an unknown request: an error answer" \
	bash -c '[ "$(printf "stop\n" | timeout 5 python3 -c "
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.stdin.buffer.read())
print(s.recv(200).decode().strip())" "$1")" = "{\"ok\":false,\"error\":\"unknown request (status, status json)\"}" ]' _ "$W/m1.sock"
check "gmd still answers afterwards" bash -c '"$1" status --control "$2" | grep -q "^keyid:st-mc: registered"' _ "$GMD" "$W/m1.sock"
# callers that close before their answer: gmd's write meets a closed socket and must not kill it
timeout 20 python3 -c '
import socket, sys
for _ in range(30):
    c = socket.socket(socket.AF_UNIX)
    c.connect(sys.argv[1])
    c.sendall(b"status json\n")
    c.close()' "$W/m1.sock" || true
check "30 callers that hang up before their answer: gmd is still up and answers" \
	wait_for 5 bash -c '"$1" status --control "$2" | grep -q "^keyid:st-mc: registered"' _ "$GMD" "$W/m1.sock"
# 8 connections at a time (GM_CONTROL_CLIENTS): 8 idle ones are kept open, a 9th is closed
# unanswered even with a valid request; once the 8 go, status answers again.
check "9 connections at once: the first 8 stay open, the 9th is closed without an answer" \
	timeout 20 python3 - "$W/m1.sock" <<'EOF2'
import socket, sys, time
def conn():
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    return s
idle = [conn() for _ in range(8)]
time.sleep(0.3)
ninth = conn()
ninth.settimeout(5)
try:
    ninth.sendall(b'status\n')  # gmd may already have closed it: a broken pipe is that
    got = ninth.recv(100)
except (BrokenPipeError, ConnectionResetError):
    got = b''
assert got == b'', got
for s in idle:
    s.settimeout(0.2)
    try:
        assert s.recv(1) != b'', 'an idle connection within the limit was closed'
    except socket.timeout:
        pass
for s in idle:
    s.close()
EOF2
check "... and after they close, status answers again" \
	wait_for 5 bash -c '"$1" status --control "$2" | grep -q "^keyid:st-mc: registered"' _ "$GMD" "$W/m1.sock"

[ "$fails" -eq 0 ]
