#!/usr/bin/env bash
# Integration test of gcksd's default listeners, bound to the wildcard addresses (0.0.0.0 and ::,
# UDP 500, 4500, 848), with no NAT in the way: gcksd hashes the address a member sent to, not
# the wildcard, into its NAT_DETECTION_SOURCE_IP, and reads the member's DESTINATION_IP against
# it (RFC 7296 2.23), so neither side detects a NAT and the member stays on UDP 500; and each
# answer leaves from the address its request came to (RFC 7296 2.11), also when that is the
# second address of gcksd's interface, which the kernel's route would not pick.
#
# Network namespaces (names end in $$), one link between them:
#   gcks    10.98.1.1/24 and 10.98.1.2/24     gcksd with its default listeners
#           fd98:1::1/64 and fd98:1::2/64
#   member  10.98.1.10/24, fd98:1::10/64      gmd --gcks each of the four addresses in turn
# nft counters in the member's namespace count what arrives from UDP 500 by source address, and
# any datagram to or from UDP 4500.
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
ip netns add "gk-wprobe-$$" 2>/dev/null || skip "cannot create network namespaces here"
if ! ip netns exec "gk-wprobe-$$" nft add table ip probe 2>/dev/null; then
	ip netns del "gk-wprobe-$$"
	skip "nftables does not work here"
fi
ip netns del "gk-wprobe-$$"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

GROUP=keyid:wild-1
GCKS_IP=10.98.1.1 GCKS_IP_2=10.98.1.2 MEMBER_IP=10.98.1.10
GCKS_IP6=fd98:1::1 GCKS_IP6_2=fd98:1::2 MEMBER_IP6=fd98:1::10
NETS="gcks member"
ns() { echo "gk-wild$1-$$"; }

W=$(mktemp -d "${TMPDIR:-/tmp}/gk-wild.XXXXXX")
chmod 755 "$W"
pids=()
fails=0
cleanup() {
	local rc=$? p n
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	if [ "$fails" -ne 0 ] || { [ "$rc" != 0 ] && [ "$rc" != 77 ]; }; then
		show_logs "$W"/*.log "$W"/nft.txt
	fi
	for n in $NETS; do ip netns del "$(ns "$n")" 2>/dev/null || true; done
	if [ -n "${GK_KEEP_WORK:-}" ]; then echo "# kept $W"; else rm -rf "$W"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fatal() { echo "not ok - $*"; exit 1; }

# ---- network: member -- gcks, two addresses of each family on gcks's side ----
for n in $NETS; do
	ip netns add "$(ns "$n")"
	ip -n "$(ns "$n")" link set lo up
done
ip -n "$(ns gcks)" link add eth1 type veth peer name eth1 netns "$(ns member)"
# the kernel's route toward the member picks one address of each family as the source (here
# IPv4's first, IPv6's last added): answers from both addresses of a family show that gcksd set it
ip -n "$(ns gcks)" addr add "$GCKS_IP/24" dev eth1
ip -n "$(ns gcks)" addr add "$GCKS_IP_2/24" dev eth1
ip -n "$(ns gcks)" addr add "$GCKS_IP6/64" dev eth1 nodad
ip -n "$(ns gcks)" addr add "$GCKS_IP6_2/64" dev eth1 nodad
ip -n "$(ns member)" addr add "$MEMBER_IP/24" dev eth1
ip -n "$(ns member)" addr add "$MEMBER_IP6/64" dev eth1 nodad
for n in $NETS; do ip -n "$(ns "$n")" link set eth1 up; done
for n in $NETS; do
	wait_for 5 sh -c "ip -n $(ns "$n") link show eth1 | grep -q LOWER_UP" || fatal "eth1 of $n is not up"
done
ip netns exec "$(ns member)" nft -f - <<EOF
table inet count {
	counter from1 {}
	counter from2 {}
	counter from6_1 {}
	counter from6_2 {}
	counter in4500 {}
	counter out4500 {}
	chain in {
		type filter hook input priority 0; policy accept;
		udp sport 500 ip saddr $GCKS_IP counter name from1
		udp sport 500 ip saddr $GCKS_IP_2 counter name from2
		udp sport 500 ip6 saddr $GCKS_IP6 counter name from6_1
		udp sport 500 ip6 saddr $GCKS_IP6_2 counter name from6_2
		udp sport 4500 counter name in4500
	}
	chain out {
		type filter hook output priority 0; policy accept;
		udp dport 4500 counter name out4500
	}
}
EOF
ok "member $MEMBER_IP and $MEMBER_IP6; GCKS $GCKS_IP and $GCKS_IP_2, $GCKS_IP6 and $GCKS_IP6_2 on one link"

# ---- GCKS with its default listeners ----
umask 077
echo "0x$(openssl rand -hex 32)" >"$W/m1.psk"
cat >"$W/wild.yaml" <<EOF
id: $GROUP
rekey:
  transport: multicast
  key-wrap: kw-5649-256
  address: 239.98.0.1
  port: 848
  ttl: 1
sas:
  - name: stream
    protocol: esp
    encryption: aes-gcm-16
    key-length: 256
    destination: 239.98.1.1
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
"$GCKSCTL" --db "$db" policy load "$W/wild.yaml" >>"$W/gcksctl.log" 2>&1 || fatal "gcksctl policy load"
ip netns exec "$(ns gcks)" "$GCKSD" --db "$db" --control "$ctl" --foreground --log-level debug \
	>"$W/gcksd.log" 2>&1 &
pids+=($!)
wait_for 10 test -S "$ctl" || fatal "gcksd did not start"
for a in 0.0.0.0 "[::]"; do
	for p in 500 4500 848; do
		grep -qF "listening on $a:$p" "$W/gcksd.log" || fatal "gcksd listens on UDP $a:$p by default"
	done
done
ok "gcksd listens on UDP 500, 4500 and 848 of 0.0.0.0 and [::] by default"

# ---- one registration to each address ----
pk() { awk -v n="$1" '$1 == "counter" && $2 == n { c = 1 } c && $1 == "packets" { print $2; exit }' "$W/nft.txt"; }
counters() { ip netns exec "$(ns member)" nft list counters table inet count >"$W/nft.txt"; }
run_gmd() { # TAG GCKS-ADDRESS COUNTER-OF-IT OTHER-COUNTER
	local tag=$1 gcks=$2 mine=$3 other=$4 rc=0 m0 o0 m1 o1
	counters
	m0=$(pk "$mine") o0=$(pk "$other")
	timeout 30 ip netns exec "$(ns member)" "$GMD" --gcks "$gcks" --id fqdn:m1.example --group "$GROUP" \
		--psk-file "$W/m1.psk" --sa-backend none --once --json --log-level debug \
		>"$W/gmd-$tag.json" 2>"$W/gmd-$tag.log" || rc=$?
	if [ "$rc" = 0 ] && python3 - "$W/gmd-$tag.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
sys.exit(0 if any(g.get("status") == "registered" for g in doc["groups"]) else 1)
PY
	then ok "gmd ($tag) registered to $gcks (exit 0, a registered group)"
	else not_ok "gmd ($tag) registered to $gcks (exit $rc)"
	fi
	if grep -q "NAT detected" "$W/gmd-$tag.log"; then not_ok "gmd ($tag) detected no NAT from the NAT_DETECTION hashes"
	else ok "gmd ($tag) detected no NAT from the NAT_DETECTION hashes"
	fi
	counters
	m1=$(pk "$mine") o1=$(pk "$other")
	# IKE_SA_INIT's answer and GSA_AUTH's (on 500: no move to 4500), none from the other address
	if [ $((m1 - m0)) -ge 2 ] && [ "$o1" = "$o0" ]; then
		ok "gmd ($tag): every answer came from $gcks port 500 ($((m1 - m0)) datagrams)"
	else
		not_ok "gmd ($tag): every answer came from $gcks port 500 ($((m1 - m0)) from it, $((o1 - o0)) from the other address)"
	fi
}
run_gmd v4 "$GCKS_IP" from1 from2
run_gmd v4-second "$GCKS_IP_2" from2 from1
run_gmd v6 "$GCKS_IP6" from6_1 from6_2
run_gmd v6-second "$GCKS_IP6_2" from6_2 from6_1

counters
[ "$(pk in4500)" = 0 ] && [ "$(pk out4500)" = 0 ] &&
	ok "nothing went to or came from UDP 4500: every member stayed on 500" ||
	not_ok "nothing went to or came from UDP 4500: every member stayed on 500 (in $(pk in4500), out $(pk out4500))"
if grep -q "a NAT lies between us" "$W/gcksd.log"; then
	not_ok "gcksd detected no NAT (RFC 7296 2.23)"
	grep "a NAT lies between us" "$W/gcksd.log" | sed 's/^/#   /'
else
	ok "gcksd detected no NAT (RFC 7296 2.23)"
fi
sanitizer_check "no sanitizer report in gcksd's or gmd's logs" "$W"/gcksd.log "$W"/gmd-*.log

[ "$fails" -eq 0 ] || exit 1
