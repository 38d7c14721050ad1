#!/usr/bin/env bash
# Integration test of NAT traversal (RFC 7296 2.23, RFC 9838 2.1.1): gmd registers through a
# real NAT and moves to UDP 4500 with the non-ESP marker after IKE_SA_INIT, over IPv4 and over
# IPv6 (NAT66 masquerade); a gmd that stays keeps the NAT mapping with NAT-keepalives
# (RFC 3948 2.3, 4), which gcksd ignores.
#
# Network namespaces (names end in $$):
#   gcks    10.99.1.1/24     gcksd with its default listeners (UDP 500, 4500 and 848)
#           fd99:1::1/64
#   router  10.99.1.254/24   nftables masquerade of 192.168.99.0/24 and fd99:99::/64 toward the GCKS
#           192.168.99.254/24, fd99:1::fe/64, fd99:99::fe/64
#   member  192.168.99.2/24  gmd --gcks 10.99.1.1 (no port: the default, 500); also with --local,
#           fd99:99::2/64    with --gcks 10.99.1.1:4500, with --no-nat-t (stays on 500), over
#                            IPv6 (--gcks fd99:1::1), and as a daemon with --nat-keepalive 1
# nft counters in the GCKS's namespace count what arrives: IKE_SA_INIT on 500, and on 4500
# datagrams that start with the marker (four zero octets) followed by an IKE header, by exchange
# type, and NAT-keepalives (one octet 0xFF) from the NAT; and what leaves, by source port.
# Everything is from the router's address (the NAT).
# Needs root (exit 77 otherwise), ip, nft (Debian package nftables), openssl, python3.
set -euo pipefail

B=${GK_BUILDDIR:-$(pwd)}
GCKSD=$B/gcks/gcksd GCKSCTL=$B/gcks/gcksctl GMD=$B/member/gmd
. "$(dirname "$0")/tap.sh"

[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, veth, nftables)"
for t in ip nft openssl python3 timeout; do
	command -v "$t" >/dev/null || skip "$t is needed (tools/deps installs it)"
done
for p in "$GCKSD" "$GCKSCTL" "$GMD"; do
	[ -x "$p" ] || { echo "not ok - $p is not built (set GK_BUILDDIR)"; exit 99; }
done
for u in gikev2 gikev2-gmd; do # gcksd's and gmd's accounts (tools/deps creates them)
	getent passwd "$u" >/dev/null || skip "no user $u for gcksd or gmd to drop privileges to"
done
ip netns add "gk-nprobe-$$" 2>/dev/null || skip "cannot create network namespaces here"
if ! ip netns exec "gk-nprobe-$$" nft add table ip probe 2>/dev/null; then
	ip netns del "gk-nprobe-$$"
	skip "nftables does not work here"
fi
ip netns del "gk-nprobe-$$"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

GROUP=keyid:nat-1
GCKS_IP=10.99.1.1 NAT_IP=10.99.1.254 MEMBER_IP=192.168.99.2
GCKS_IP6=fd99:1::1 NAT_IP6=fd99:1::fe MEMBER_IP6=fd99:99::2
NETS="gcks router member"
ns() { echo "gk-nat$1-$$"; }

W=$(mktemp -d "${TMPDIR:-/tmp}/gk-nat.XXXXXX")
chmod 755 "$W"
pids=()
fails=0
cleanup() {
	local rc=$? p n
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	if [ "$fails" -ne 0 ] || { [ "$rc" != 0 ] && [ "$rc" != 77 ]; }; then
		for f in "$W"/*.log "$W"/*.json "$W"/nft.txt; do
			[ -s "$f" ] || continue
			echo "# ---- $(basename "$f") (last 30 lines)"
			tail -n 30 "$f" | sed 's/^/# /'
		done
	fi
	for n in $NETS; do ip netns del "$(ns "$n")" 2>/dev/null || true; done
	if [ -n "${GK_KEEP_WORK:-}" ]; then echo "# kept $W"; else rm -rf "$W"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fatal() { echo "not ok - $*"; exit 1; }
wait_for() { # SECONDS COMMAND...: until the command succeeds
	local t=$1 i
	shift
	for ((i = 0; i < t * 10; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

# ---- network: member -- router (NAT) -- gcks ----
for n in $NETS; do
	ip netns add "$(ns "$n")"
	ip -n "$(ns "$n")" link set lo up
done
ip -n "$(ns router)" link add wan type veth peer name eth1 netns "$(ns gcks)"
ip -n "$(ns router)" link add lan type veth peer name eth1 netns "$(ns member)"
ip -n "$(ns gcks)" addr add "$GCKS_IP/24" dev eth1
ip -n "$(ns member)" addr add "$MEMBER_IP/24" dev eth1
ip -n "$(ns router)" addr add "$NAT_IP/24" dev wan
ip -n "$(ns router)" addr add 192.168.99.254/24 dev lan
# IPv6 (nodad: usable at once)
ip -n "$(ns gcks)" addr add "$GCKS_IP6/64" dev eth1 nodad
ip -n "$(ns member)" addr add "$MEMBER_IP6/64" dev eth1 nodad
ip -n "$(ns router)" addr add "$NAT_IP6/64" dev wan nodad
ip -n "$(ns router)" addr add fd99:99::fe/64 dev lan nodad
for l in "gcks eth1" "member eth1" "router wan" "router lan"; do
	set -- $l
	ip -n "$(ns "$1")" link set "$2" up
done
ip -n "$(ns member)" route add default via 192.168.99.254
ip -n "$(ns member)" -6 route add default via fd99:99::fe
ip netns exec "$(ns router)" sysctl -qw net.ipv4.ip_forward=1
ip netns exec "$(ns router)" sysctl -qw net.ipv6.conf.all.forwarding=1
ip netns exec "$(ns router)" nft -f - <<EOF
table ip nat {
	chain post {
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr 192.168.99.0/24 oifname "wan" masquerade
	}
}
table ip6 nat {
	chain post {
		type nat hook postrouting priority srcnat; policy accept;
		ip6 saddr fd99:99::/64 oifname "wan" masquerade
	}
}
EOF
# th offsets in bits from the UDP header: the IKE header's exchange type is octet 18 of it (0-based)
ip netns exec "$(ns gcks)" nft -f - <<EOF
table ip count {
	counter init500 {}
	counter other500 {}
	counter marker4500 {}
	counter auth4500 {}
	counter init4500 {}
	counter nomarker4500 {}
	counter notnat {}
	counter out500 {}
	counter out4500 {}
	counter keepalive4500 {}
	chain in {
		type filter hook input priority 0; policy accept;
		udp dport { 500, 4500 } ip saddr != $NAT_IP counter name notnat
		udp dport 500 @th,208,8 34 counter name init500
		udp dport 500 @th,208,8 != 34 counter name other500
		udp dport 4500 @th,64,32 0 counter name marker4500
		udp dport 4500 @th,64,32 0 @th,240,8 39 counter name auth4500
		udp dport 4500 @th,64,32 0 @th,240,8 34 counter name init4500
		udp dport 4500 @th,64,32 != 0 counter name nomarker4500
		udp dport 4500 udp length 9 @th,64,8 255 ip saddr $NAT_IP counter name keepalive4500
	}
	chain out {
		type filter hook output priority 0; policy accept;
		udp sport 500 counter name out500
		udp sport 4500 @th,64,32 0 counter name out4500
	}
}
table ip6 count6 {
	counter init500 {}
	counter auth4500 {}
	counter nomarker4500 {}
	counter notnat {}
	chain in {
		type filter hook input priority 0; policy accept;
		udp dport { 500, 4500 } ip6 saddr != $NAT_IP6 counter name notnat
		udp dport 500 @th,208,8 34 counter name init500
		udp dport 4500 @th,64,32 0 @th,240,8 39 counter name auth4500
		udp dport 4500 @th,64,32 != 0 counter name nomarker4500
	}
}
EOF
for l in "gcks eth1" "member eth1" "router wan" "router lan"; do
	set -- $l
	wait_for 5 sh -c "ip -n $(ns "$1") link show $2 | grep -q LOWER_UP" || fatal "$2 of $1 is not up"
done
ok "member $MEMBER_IP, GCKS $GCKS_IP, between them a masquerading router ($NAT_IP); the same over IPv6"

# ---- GCKS ----
umask 077
(umask 077 && echo "0x$(openssl rand -hex 32)" >"$W/m1.psk")
cat >"$W/nat.yaml" <<EOF
id: $GROUP
rekey:
  transport: multicast
  key-wrap: kw-5649-256
  address: 239.99.0.1
  port: 848
  ttl: 1
sas:
  - name: stream
    protocol: esp
    encryption: aes-gcm-16
    key-length: 256
    destination: 239.99.1.1
    ip-protocol: udp
    ports: 5004
    lifetime: 1h
members:
  - id: fqdn:m1.example
    psk: $(cat "$W/m1.psk")
    role: receiver
EOF
umask 022
db=$W/gcks.db ctl=$W/gcksd.sock
"$GCKSCTL" --db "$db" init --id fqdn:gcks.example >"$W/gcksctl.log" 2>&1 || fatal "gcksctl init"
"$GCKSCTL" --db "$db" policy load "$W/nat.yaml" >>"$W/gcksctl.log" 2>&1 || fatal "gcksctl policy load"
ip netns exec "$(ns gcks)" "$GCKSD" --db "$db" --control "$ctl" --foreground --log-level debug \
	>"$W/gcksd.log" 2>&1 &
pids+=($!)
wait_for 10 test -S "$ctl" || fatal "gcksd did not start"
for p in 500 4500 848; do
	grep -q "listening on 0.0.0.0:$p" "$W/gcksd.log" || fatal "gcksd listens on UDP $p by default"
done
ok "gcksd listens on UDP 500, 4500 and 848 by default"

# ---- gmd behind the NAT: the kernel's source address, then one given with --local ----
run_gmd() { # TAG GCKS ARGS...
	local tag=$1 gcks=$2 rc=0
	shift 2
	timeout 30 ip netns exec "$(ns member)" "$GMD" --gcks "$gcks" --id fqdn:m1.example --group "$GROUP" \
		--psk-file "$W/m1.psk" --sa-backend none --once --json --log-level debug "$@" \
		>"$W/gmd-$tag.json" 2>"$W/gmd-$tag.log" || rc=$?
	if [ "$rc" = 0 ] && python3 - "$W/gmd-$tag.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
sys.exit(0 if any(g.get("status") == "registered" for g in doc["groups"]) else 1)
PY
	then ok "gmd ($tag) registered through the NAT (exit 0, a registered group)"
	else not_ok "gmd ($tag) registered through the NAT (exit $rc)"
	fi
	if grep -q "NAT detected" "$W/gmd-$tag.log"; then ok "gmd ($tag) detected the NAT from the NAT_DETECTION hashes"
	else not_ok "gmd ($tag) detected the NAT from the NAT_DETECTION hashes"
	fi
}
run_gmd route "$GCKS_IP"
run_gmd local "$GCKS_IP" --local "$MEMBER_IP"
# on 4500 from the start: the marker from IKE_SA_INIT on (RFC 7296 2.23 allows it)
run_gmd 4500 "$GCKS_IP:4500"
if grep -q "a NAT lies between us and the initiator at $NAT_IP" "$W/gcksd.log"; then ok "gcksd detected the NAT too"
else not_ok "gcksd detected the NAT too"
fi

# ---- the wire, as the GCKS's namespace saw it ----
ip netns exec "$(ns gcks)" nft list counters table ip count >"$W/nft.txt"
pk() { awk -v n="$1" '$1 == "counter" && $2 == n { c = 1 } c && $1 == "packets" { print $2; exit }' "$W/nft.txt"; }
check_count() { # DESC NAME OP N
	local v
	v=$(pk "$2")
	if [ -n "$v" ] && [ "$v" "$3" "$4" ]; then ok "$1 ($2: $v)"; else not_ok "$1 ($2: ${v:-none}, wanted $3 $4)"; fi
}
check_count "IKE_SA_INIT arrived on UDP 500 (the default port)" init500 -ge 2
check_count "nothing but IKE_SA_INIT arrived on UDP 500" other500 -eq 0
check_count "GSA_AUTH arrived on UDP 4500 after the non-ESP marker" auth4500 -ge 3
check_count "IKE_SA_INIT arrived on UDP 4500 after the marker (gmd --gcks HOST:4500)" init4500 -ge 1
check_count "every datagram on 4500 carried the marker" nomarker4500 -eq 0
check_count "every datagram came from the NAT's address" notnat -eq 0
check_count "the GCKS answered on 500 (IKE_SA_INIT) ..." out500 -ge 1
check_count "... and on 4500 with the marker" out4500 -ge 1
[ "$(pk init500)" = "$(pk out500)" ] && ok "as many answers from 500 as IKE_SA_INIT requests" ||
	not_ok "as many answers from 500 as IKE_SA_INIT requests"

# ---- --no-nat-t: no NAT_DETECTION, everything on the first port (a one-port relay) ----
rc=0
timeout 30 ip netns exec "$(ns member)" "$GMD" --gcks "$GCKS_IP" --id fqdn:m1.example --group "$GROUP" \
	--psk-file "$W/m1.psk" --sa-backend none --once --json --log-level debug --no-nat-t \
	>"$W/gmd-nonat.json" 2>"$W/gmd-nonat.log" || rc=$?
ip netns exec "$(ns gcks)" nft list counters table ip count >"$W/nft.txt"
if [ "$rc" = 0 ] && grep -q '"status":"registered"' "$W/gmd-nonat.json" && ! grep -q "NAT detected" "$W/gmd-nonat.log" &&
	[ "$(pk other500)" -ge 1 ]; then
	ok "gmd --no-nat-t registers through the NAT with GSA_AUTH on 500 (other500: $(pk other500))"
else
	not_ok "gmd --no-nat-t registers through the NAT with GSA_AUTH on 500 (exit $rc, other500: $(pk other500))"
fi

# ---- the marker on 4500 (RFC 3948 2.2): an IKE_SA_INIT without it is not IKE there ----
cat >"$W/probe.py" <<'PY'
import os, socket, struct, sys
def t(last, ttype, tid, attr=b''):
    body = struct.pack('>BBH', ttype, 0, tid) + attr
    return struct.pack('>BBH', 0 if last else 3, 0, 4 + len(body)) + body
# AES-GCM-16/256, PRF-HMAC-SHA2-256, X25519: a proposal gcksd accepts
trs = t(0, 1, 20, struct.pack('>HH', 0x800e, 256)) + t(0, 2, 5) + t(1, 4, 31)
prop = struct.pack('>BBHBBBB', 0, 0, 8 + len(trs), 1, 1, 0, 3) + trs
body = (struct.pack('>BBH', 34, 0, 4 + len(prop)) + prop +
        struct.pack('>BBHHH', 40, 0, 40, 31, 0) + os.urandom(32) + struct.pack('>BBH', 0, 0, 36) + os.urandom(32))
def init(spi):
    return spi + bytes(8) + bytes([33, 0x20, 34, 0x08]) + struct.pack('>II', 0, 28 + len(body)) + body
bare, marked = os.urandom(8), os.urandom(8)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(10)
# the bare one first, then the marked one from the same socket: gcksd reads them in that order,
# so by the time the marked one is answered an answer to the bare one would have come before it
s.sendto(init(bare), (sys.argv[1], 4500))
s.sendto(bytes(4) + init(marked), (sys.argv[1], 4500))
try:
    while True:
        r = s.recv(4096)
        ike = r[4:] if r[:4] == bytes(4) else r
        if ike[:8] == bare:
            sys.exit(1)
        if ike[:8] == marked:
            sys.exit(0 if r[:4] == bytes(4) and ike[18] == 34 else 2)  # a marked IKE_SA_INIT response
except socket.timeout:
    sys.exit(3)
PY
prc=0
ip netns exec "$(ns gcks)" python3 "$W/probe.py" "$GCKS_IP" || prc=$?
[ "$prc" = 0 ] || [ "$prc" = 2 ] && ok "an IKE_SA_INIT on 4500 without the marker gets no answer (none before the marked one's)" ||
	not_ok "an IKE_SA_INIT on 4500 without the marker gets no answer (probe exit $prc)"
[ "$prc" = 0 ] && ok "the same with the marker is answered, with the marker" ||
	not_ok "the same with the marker is answered, with the marker (probe exit $prc)"

# ---- IPv6: the same through a NAT66 masquerade ----
run_gmd ipv6 "$GCKS_IP6"
if grep -q "a NAT lies between us and the initiator at \[$NAT_IP6\]" "$W/gcksd.log"; then ok "gcksd detected the IPv6 NAT"
else not_ok "gcksd detected the IPv6 NAT"
fi
ip netns exec "$(ns gcks)" nft list counters table ip6 count6 >"$W/nft.txt"
check_count "IPv6: IKE_SA_INIT arrived on UDP 500" init500 -ge 1
check_count "IPv6: GSA_AUTH arrived on UDP 4500 after the non-ESP marker" auth4500 -ge 1
check_count "IPv6: every datagram on 4500 carried the marker" nomarker4500 -eq 0
check_count "IPv6: every datagram came from the NAT's address" notnat -eq 0

# ---- NAT-keepalives (RFC 3948 2.3, 4): a gmd that stays keeps its mapping to 4500 alive ----
ka() { ip netns exec "$(ns gcks)" nft list counter ip count keepalive4500 | awk '$1 == "packets" { print $2 }'; }
ka_at_least() { [ "$(ka)" -ge "$1" ]; }
ka_before=$(ka)
ip netns exec "$(ns member)" "$GMD" --gcks "$GCKS_IP" --id fqdn:m1.example --group "$GROUP" \
	--psk-file "$W/m1.psk" --sa-backend none --json --log-level debug --nat-keepalive 1 \
	>"$W/gmd-ka.json" 2>"$W/gmd-ka.log" &
kapid=$!
pids+=($kapid)
wait_for 20 grep -q '"event":"registered"' "$W/gmd-ka.json" || not_ok "gmd (daemon) registered through the NAT"
# the GCKS keeps the IKE SA for its ike-idle-timeout (60 s): a keepalive every 0.75..1 s till then
if wait_for 15 ka_at_least $((ka_before + 3)); then
	ok "gmd's NAT-keepalives (one octet 0xFF, no marker) reached the GCKS's 4500 from the NAT's address ($(($(ka) - ka_before)))"
else
	not_ok "gmd's NAT-keepalives reached the GCKS's 4500 through the NAT ($(($(ka) - ka_before)), wanted >= 3)"
fi
grep -q "NAT-keepalive to $GCKS_IP:4500" "$W/gmd-ka.log" && ok "gmd logged its keepalives to $GCKS_IP:4500" ||
	not_ok "gmd logged its keepalives to $GCKS_IP:4500"
kill "$kapid" 2>/dev/null || true
wait "$kapid" 2>/dev/null || true

# ---- a flood of keepalives costs gcksd no state and no log line: it answers as before ----
lines=$(wc -l <"$W/gcksd.log")
ip netns exec "$(ns gcks)" python3 - "$GCKS_IP" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(20000):
    s.sendto(b"\xff", (sys.argv[1], 4500))
PY
prc=0
ip netns exec "$(ns gcks)" python3 "$W/probe.py" "$GCKS_IP" marked || prc=$?
[ "$prc" = 0 ] && ok "gcksd answers IKE on 4500 after a flood of 20000 keepalives" ||
	not_ok "gcksd answers IKE on 4500 after a flood of 20000 keepalives (probe exit $prc)"
if tail -n +"$((lines + 1))" "$W/gcksd.log" | grep -v "IKE_SA_INIT\|half-open\|NAT lies" | grep -q .; then
	not_ok "gcksd logged nothing about the keepalives (debug level)"
else
	ok "gcksd logged nothing about the keepalives (debug level)"
fi

[ "$fails" -eq 0 ] || exit 1
