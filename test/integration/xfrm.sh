#!/usr/bin/env bash
# Integration test of the kernel SA sink: gmd --sa-backend xfrm installs the group SAs
# it registers for into the Linux kernel (XFRM) and removes them again.
#
# Network namespaces made here, all on one bridge (br0 in the namespace gk-br-$$):
#   gcks  10.98.0.1   gcksd (UDP 848), group keyid:xfrm-1 with one ESP AES-GCM-16 SA
#                     10.98.0.10 -> 239.98.1.1 udp/5004 (one sender, sequential-32)
#   snd   10.98.0.10  gmd --sender
#   r1    10.98.0.21  gmd (receiver)
#   r2    10.98.0.22  gmd (receiver)
#   r3    10.98.0.23  gmd in group keyid:xfrm-wide, whose SA names the LAN 10.98.0.0/24 as
#                     destination: refused, nothing in the kernel; with --allow-selector it goes in.
#                     Then gmd --sender in keyid:xfrm-multi, an AES-CBC SA with several senders
#                     (unspecified-32, source 10.98.0.0/24): a sender that also receives the
#                     others' traffic, so in, fwd and out policies (RFC 9838 2.3.3)
# Before gmd starts, r1 gets a "stale" policy carrying gmd's marker (reqid 0x4749xxxx and priority
# 450000, as a killed gmd would leave it) and two that are not gmd's (another reqid; gmd's reqid
# range with another priority): gmd must remove only the first.
#
# The kernel decides what can be checked. A probe adds an ESP AES-GCM SA with `ip xfrm state add`
# in a scratch namespace:
#   - ESP works: SAs in `ip xfrm state` (SPI, rfc4106(gcm(aes))), policies in `ip xfrm policy`
#     (in + fwd on receivers, out with the SPI on the sender, the group's selectors), multicast
#     from snd to r1 and r2 is ESP on the wire (tshark on snd's bridge port, capture filter esp)
#     and arrives in clear at both receivers; on SIGTERM everything gmd installed disappears.
#   - no ESP (a kernel without CONFIG_INET_ESP): gmd reports the kernel's refusal naming the
#     group, SPI and algorithm, rolls the group back (no policy is left pointing at a missing
#     SA) and keeps running; the data-path part is not run, and the output says so and why.
# On every kernel: r3 joins keyid:xfrm-two (two SAs) while an admin's fwd policy already holds
# the second SA's selectors; the kernel refuses that policy (EEXIST; without ESP it refuses the
# SAs first) and gmd rolls the whole group back, leaving the admin's policy alone. The output
# names the kernel-dependent checks that ran ("# ran: ...") and skipped ("ok ... # SKIP why").
# Needs root (exit 77 otherwise), ip, python3, openssl; tshark for the wire check.
set -euo pipefail

B=${GK_BUILDDIR:-$(pwd)}
GCKSD=$B/gcks/gcksd GCKSCTL=$B/gcks/gcksctl GMD=$B/member/gmd
. "$(dirname "$0")/tap.sh"

[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, veth, a bridge and XFRM state of its own)"
for t in ip python3 openssl timeout; do
	command -v "$t" >/dev/null || { echo "not ok - $t is needed (tools/deps installs it)"; exit 99; }
done
for p in "$GCKSD" "$GCKSCTL" "$GMD"; do
	[ -x "$p" ] || { echo "not ok - $p is not built (set GK_BUILDDIR)"; exit 99; }
done
for u in gikev2 gikev2-gmd; do # gcksd's and gmd's accounts (tools/deps creates them)
	getent passwd "$u" >/dev/null || skip "no user $u for gcksd or gmd to drop privileges to"
done
ip netns add "gk-probe-$$" 2>/dev/null || skip "cannot create network namespaces here"
ip netns del "gk-probe-$$"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

GROUP=keyid:xfrm-1
MCAST=239.98.1.1
PORT=5004
NETS="gcks snd r1 r2 r3"
declare -A IP=([gcks]=10.98.0.1 [snd]=10.98.0.10 [r1]=10.98.0.21 [r2]=10.98.0.22 [r3]=10.98.0.23)
ns() { echo "gk-$1-$$"; }
BR=$(ns br)

W=$(mktemp -d "${TMPDIR:-/tmp}/gk-xfrm.XXXXXX")
chmod 755 "$W"
pids=()
fails=0
cleanup() {
	local rc=$? p n
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	if [ "$fails" -ne 0 ] || { [ "$rc" != 0 ] && [ "$rc" != 77 ]; }; then
		for f in "$W"/*.log "$W"/gcks/*.log; do
			[ -s "$f" ] || continue
			echo "# ---- $(basename "$f") (last 30 lines)"
			tail -n 30 "$f" | sed 's/^/# /'
		done
	fi
	for n in $NETS br scratch; do ip netns del "$(ns "$n")" 2>/dev/null || true; done
	if [ -n "${GK_KEEP_WORK:-}" ]; then echo "# kept $W"; else rm -rf "$W"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fatal() { echo "not ok - $*"; exit 1; }
# wait_for SECONDS COMMAND...: until the command succeeds
wait_for() {
	local t=$1 i
	shift
	for ((i = 0; i < t * 10; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

# ---- network: four namespaces on one bridge ----
ip netns add "$BR"
ip -n "$BR" link set lo up
ip -n "$BR" link add br0 type bridge mcast_snooping 0
ip -n "$BR" link set br0 up
for n in $NETS; do
	ip netns add "$(ns "$n")"
	ip -n "$(ns "$n")" link set lo up
	ip link add "gk$n$$" type veth peer name eth0 netns "$(ns "$n")"
	ip link set "gk$n$$" netns "$BR"
	ip -n "$BR" link set "gk$n$$" master br0 up
	ip -n "$(ns "$n")" addr add "${IP[$n]}/24" dev eth0
	ip -n "$(ns "$n")" link set eth0 up
	ip -n "$(ns "$n")" route add 224.0.0.0/4 dev eth0
done
for n in $NETS; do
	wait_for 5 sh -c "ip -n $(ns "$n") link show eth0 | grep -q LOWER_UP" || fatal "eth0 of $n is not up"
done
ok "namespaces gcks, snd, r1, r2, r3 on bridge br0 (10.98.0.0/24)"

# ---- the kernel: ESP or not ----
ip netns add "$(ns scratch)"
esp_probe=$(ip -n "$(ns scratch)" xfrm state add src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x100 mode tunnel \
	aead 'rfc4106(gcm(aes))' 0x0102030405060708090a0b0c0d0e0f1011121314 128 2>&1) && esp=1 || esp=0
ip netns del "$(ns scratch)"
if [ "$esp" = 1 ]; then
	echo "# kernel probe: ESP with rfc4106(gcm(aes)) is supported: the data path is checked"
else
	echo "# kernel probe: 'ip xfrm state add ... proto esp ... aead rfc4106(gcm(aes))' said: ${esp_probe:-failed}"
	echo "# this kernel cannot hold the group's ESP SA (no CONFIG_INET_ESP or no GCM): checking gmd's error and rollback"
fi

# ---- GCKS ----
mkdir -p "$W/gcks"
umask 077
for m in sender-1 recv-1 recv-2 recv-3 multi-1 multi-2; do
	echo "0x$(openssl rand -hex 32)" >"$W/$m.psk"
done
cat >"$W/gcks/xfrm.yaml" <<EOF
# The group of the XFRM integration test: one sender, two receivers, ESP AES-GCM-16.
id: $GROUP
capacity: 10
mode: tunnel
activation-delay: 1s
deactivation-delay: 2s
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
    sequence-numbers: sequential-32
    source: ${IP[snd]}
    destination: $MCAST
    ip-protocol: udp
    ports: $PORT
    lifetime: 1h
members:
  - id: fqdn:sender-1.example
    psk: $(cat "$W/sender-1.psk")
    role: sender
  - id: fqdn:recv-1.example
    psk: $(cat "$W/recv-1.psk")
    role: receiver
  - id: fqdn:recv-2.example
    psk: $(cat "$W/recv-2.psk")
    role: receiver
EOF
# A GCKS that steers unicast traffic: its SA names the members' own LAN as destination.
cat >"$W/gcks/wide.yaml" <<EOF
id: keyid:xfrm-wide
rekey:
  transport: multicast
  key-wrap: kw-5649-256
  address: 239.98.0.2
  port: 848
  ttl: 1
sas:
  - name: lan
    protocol: esp
    encryption: aes-gcm-16
    key-length: 256
    source: any
    destination: 10.98.0.0/24
    lifetime: 1h
members:
  - id: fqdn:recv-3.example
    psk: $(cat "$W/recv-3.psk")
    role: receiver
EOF
# Two SAs; an admin's fwd policy in r3 already holds the second one's selectors, so the kernel
# refuses that policy on any kernel: gmd must roll the whole group back (with ESP: the first SA
# and its policies, installed by then; without ESP the SAs themselves are refused first).
cat >"$W/gcks/two.yaml" <<EOF
id: keyid:xfrm-two
rekey:
  transport: multicast
  key-wrap: kw-5649-256
  address: 239.98.0.3
  port: 848
  ttl: 1
sas:
  - name: first
    protocol: esp
    encryption: aes-gcm-16
    key-length: 256
    source: ${IP[snd]}
    destination: 239.98.2.1
    lifetime: 1h
  - name: second
    protocol: esp
    encryption: aes-gcm-16
    key-length: 256
    source: ${IP[snd]}
    destination: 239.98.2.2
    lifetime: 1h
members:
  - id: fqdn:recv-3.example
    psk: $(cat "$W/recv-3.psk")
    role: receiver
EOF
# Several senders on one SA, and a sender is a listener of the others (RFC 9838 2.3.3).
cat >"$W/gcks/multi.yaml" <<EOF
id: keyid:xfrm-multi
rekey:
  transport: multicast
  key-wrap: kw-5649-256
  address: 239.98.0.3
  port: 848
  ttl: 1
sas:
  - name: chat
    protocol: esp
    encryption: aes-cbc
    key-length: 128
    integrity: hmac-sha2-256-128
    sequence-numbers: unspecified-32
    source: 10.98.0.0/24
    destination: 239.98.1.3
    ip-protocol: udp
    ports: 5006
    lifetime: 1h
members:
  - id: fqdn:multi-1.example
    psk: $(cat "$W/multi-1.psk")
    role: sender
  - id: fqdn:multi-2.example
    psk: $(cat "$W/multi-2.psk")
    role: sender
EOF
umask 022
db=$W/gcks/gcks.db ctl=$W/gcks/gcksd.sock
"$GCKSCTL" --db "$db" init --id fqdn:gcks.example >"$W/gcksctl.log" 2>&1 || fatal "gcksctl init"
"$GCKSCTL" --db "$db" policy load "$W/gcks/xfrm.yaml" "$W/gcks/wide.yaml" "$W/gcks/two.yaml" "$W/gcks/multi.yaml" >>"$W/gcksctl.log" 2>&1 || fatal "gcksctl policy load"
ip netns exec "$(ns gcks)" "$GCKSD" --db "$db" --listen "${IP[gcks]}:848" --control "$ctl" --foreground \
	--log-level debug >"$W/gcks/gcksd.log" 2>&1 &
pids+=($!)
wait_for 10 test -S "$ctl" || fatal "gcksd did not start"
ok "gcksd serves $GROUP on ${IP[gcks]}:848"

# ---- entries that are not gmd's, and one stale entry of a previous gmd ----
R1=$(ns r1)
ip -n "$R1" xfrm policy add src 10.98.0.99/32 dst 239.98.9.9/32 dir in priority 450000 \
	tmpl src 10.98.0.99 dst 239.98.9.9 proto esp reqid 0x47490005 mode tunnel   # stale: gmd's marker
ip -n "$R1" xfrm policy add src 10.98.0.98/32 dst 239.98.9.8/32 dir in priority 450000 \
	tmpl src 10.98.0.98 dst 239.98.9.8 proto esp reqid 7 mode tunnel            # an admin's
ip -n "$R1" xfrm policy add src 10.98.0.97/32 dst 239.98.9.7/32 dir out priority 100 \
	tmpl src 10.98.0.97 dst 239.98.9.7 proto esp reqid 0x47490006 mode tunnel   # reqid alone is not enough
[ "$(ip -n "$R1" xfrm policy | grep -c '^src')" = 3 ] || fatal "could not set up the foreign policies"

# ---- gmd in each member namespace ----
start_gmd() { # nsname id [--sender]
	local n=$1 id=$2
	shift 2
	ip netns exec "$(ns "$n")" "$GMD" --gcks "${IP[gcks]}:848" --id "fqdn:$id.example" --group "$GROUP" \
		--psk-file "$W/$id.psk" --local "${IP[$n]}" --mcast-iface eth0 --sa-backend xfrm --json \
		--log-level debug "$@" >"$W/gmd-$n.json" 2>"$W/gmd-$n.log" &
	gmd_pid[$n]=$!
	pids+=($!)
}
declare -A gmd_pid
start_gmd r1 recv-1
start_gmd r2 recv-2
start_gmd snd sender-1 --sender

# gmd's JSON lines: `ev FILE EVENT` succeeds when the event is there; `ev FILE spi` prints the
# group SA's SPI from the registration
cat >"$W/ev.py" <<'PY'
import json, sys
path, what = sys.argv[1], sys.argv[2]
events = []
for line in open(path):
    try:
        events.append(json.loads(line))
    except ValueError:
        pass
if what == "spi":
    for e in events:
        if e.get("event") == "registered":
            for sa in e["state"]["sas"]:
                print(sa["spi"])
                sys.exit(0)
    sys.exit(1)
sys.exit(0 if any(e.get("event") == what for e in events) else 1)
PY
ev() { python3 "$W/ev.py" "$@"; }
acted() { ev "$1" sa_added || ev "$1" sa_install_failed; }
# policies of a namespace, one line each
policies() {
	ip -n "$(ns "$1")" xfrm policy |
		awk '/^src/ { if (p) print p; p = $0; next } { p = p " " $0 } END { if (p) print p }' | tr -s ' \t' ' '
}
has_policy() { policies "$1" | grep -qE -- "$2"; }
no_policy() { ! policies "$1" | grep -qE -- "$2"; }
state_of() { ip -n "$(ns "$1")" xfrm state | tr -s ' \t\n' ' '; }
has_state() { state_of "$1" | grep -qE -- "$2"; }
kernel_empty() { [ -z "$(ip -n "$(ns "$1")" xfrm policy)" ] && [ -z "$(ip -n "$(ns "$1")" xfrm state)" ]; }

# each gmd answers one way or the other: SAs added, or the kernel's refusal
for n in r1 r2 snd; do
	wait_for 15 acted "$W/gmd-$n.json" || not_ok "gmd in $n registered and acted on the group's SA"
done
check "gmd (r1) removed the stale policy carrying its marker" no_policy r1 'dst 239\.98\.9\.9/32'
check "gmd (r1) left the admin's policies alone (other reqid; gmd's reqid range without gmd's priority)" \
	sh -c "ip -n $R1 xfrm policy | grep -q 'dst 239.98.9.8/32' && ip -n $R1 xfrm policy | grep -q 'dst 239.98.9.7/32'"
ip -n "$R1" xfrm policy delete src 10.98.0.98/32 dst 239.98.9.8/32 dir in
ip -n "$R1" xfrm policy delete src 10.98.0.97/32 dst 239.98.9.7/32 dir out

# ---- a group whose SA would capture the LAN's unicast traffic (r3) ----
ip netns exec "$(ns r3)" "$GMD" --gcks "${IP[gcks]}:848" --id fqdn:recv-3.example --group keyid:xfrm-wide \
	--psk-file "$W/recv-3.psk" --local "${IP[r3]}" --sa-backend xfrm --json --log-level debug \
	>"$W/gmd-r3.json" 2>"$W/gmd-r3.log" &
r3_pid=$!
pids+=($r3_pid)
wide_msg="registration to keyid:xfrm-wide refused: ESP SA destination 10.98.0.0/24 is neither multicast nor inside a prefix allowed with --allow-selector"
check "r3: gmd refuses the group whose SA names 10.98.0.0/24, saying why" wait_for 15 grep -qF "$wide_msg" "$W/gmd-r3.log"
check "r3: nothing installed (no sa_added or sa_install_failed event), the kernel has no policy and no SA" \
	sh -c "! python3 $W/ev.py $W/gmd-r3.json sa_added && ! python3 $W/ev.py $W/gmd-r3.json sa_install_failed && [ -z \"\$(ip -n $(ns r3) xfrm policy)\" ] && [ -z \"\$(ip -n $(ns r3) xfrm state)\" ]"
kill -TERM "$r3_pid"
wait "$r3_pid" || true
# the operator allows the prefix: the same group now reaches the kernel (installed, or refused
# by a kernel without ESP), so the check above is what stopped it
ip netns exec "$(ns r3)" "$GMD" --gcks "${IP[gcks]}:848" --id fqdn:recv-3.example --group keyid:xfrm-wide \
	--psk-file "$W/recv-3.psk" --local "${IP[r3]}" --sa-backend xfrm --json --log-level debug \
	--allow-selector 10.98.0.0/24 >"$W/gmd-r3a.json" 2>"$W/gmd-r3a.log" &
r3_pid=$!
pids+=($r3_pid)
check "r3 with --allow-selector 10.98.0.0/24: the group's SA goes to the kernel" wait_for 15 acted "$W/gmd-r3a.json"
kill -TERM "$r3_pid"
wait "$r3_pid" || true
check "r3: nothing left after SIGTERM" kernel_empty r3

# ---- a refusal on any kernel: the group's second SA meets an admin's policy (r3) ----
ip -n "$(ns r3)" xfrm policy add src ${IP[snd]}/32 dst 239.98.2.2/32 dir fwd priority 100 \
	tmpl src ${IP[snd]} dst 239.98.2.2 proto esp reqid 7 mode tunnel
ip netns exec "$(ns r3)" "$GMD" --gcks "${IP[gcks]}:848" --id fqdn:recv-3.example --group keyid:xfrm-two \
	--psk-file "$W/recv-3.psk" --local "${IP[r3]}" --sa-backend xfrm --json --log-level debug \
	>"$W/gmd-r3b.json" 2>"$W/gmd-r3b.log" &
r3_pid=$!
pids+=($r3_pid)
only_admin() { # the admin's policy alone, no SA
	[ -z "$(ip -n "$(ns r3)" xfrm state)" ] && [ "$(policies r3 | grep -c .)" = 1 ] && policies r3 | grep -q 'reqid 7 '
}
check "r3 (two SAs, an admin's fwd policy on the second): gmd reports sa_install_failed and group_rolled_back" \
	wait_for 15 sh -c "python3 $W/ev.py $W/gmd-r3b.json sa_install_failed && python3 $W/ev.py $W/gmd-r3b.json group_rolled_back"
if [ "$esp" = 1 ]; then
	check "r3: the kernel refused the second SA's fwd policy (File exists), after the first SA went in" \
		sh -c "grep -qF 'the kernel refused the fwd policy of ESP SA' $W/gmd-r3b.log && grep -qF 'a policy with these selectors already exists' $W/gmd-r3b.log && python3 $W/ev.py $W/gmd-r3b.json sa_added"
	echo "# ran: the rollback of a group whose first SA and policies were installed before its second was refused"
else
	check "r3: the kernel refused the group's SAs (no ESP here)" \
		grep -qE "group keyid:xfrm-two: the kernel refused ESP SA spi 0x[0-9a-f]{8} \(AES_GCM_16/256\) to 239\.98\.2\.1" "$W/gmd-r3b.log"
	echo "ok - r3: the rollback of SAs and policies installed before the refusal # SKIP no ESP in this kernel: nothing could be installed (check_xfrm runs that rollback on the recording backend)"
fi
check "r3: rolled back: no SA, no policy of gmd's; the admin's policy stays" only_admin
check "r3: gmd keeps running after the refusal" kill -0 "$r3_pid"
kill -TERM "$r3_pid"
rc=0
wait "$r3_pid" || rc=$?
check "r3: gmd exits 0 on SIGTERM after the rollback (got $rc)" [ "$rc" = 0 ]
ip -n "$(ns r3)" xfrm policy delete src ${IP[snd]}/32 dst 239.98.2.2/32 dir fwd

# ---- a sender that also receives: keyid:xfrm-multi in r3 (AES-CBC, which more kernels have) ----
ip netns add "$(ns scratch)"
cbc_probe=$(ip -n "$(ns scratch)" xfrm state add src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x100 mode tunnel \
	enc 'cbc(aes)' 0x0102030405060708090a0b0c0d0e0f10 \
	auth-trunc 'hmac(sha256)' 0x0102030405060708090a0b0c0d0e0f100102030405060708090a0b0c0d0e0f10 128 2>&1) &&
	cbc=1 || cbc=0
ip netns del "$(ns scratch)"
if [ "$cbc" = 1 ]; then
	ip netns exec "$(ns r3)" "$GMD" --gcks "${IP[gcks]}:848" --id fqdn:multi-1.example --group keyid:xfrm-multi \
		--psk-file "$W/multi-1.psk" --local "${IP[r3]}" --mcast-iface eth0 --sa-backend xfrm --json \
		--log-level debug --sender >"$W/gmd-r3m.json" 2>"$W/gmd-r3m.log" &
	r3_pid=$!
	pids+=($r3_pid)
	check "r3 (sender of keyid:xfrm-multi): the SA is installed" wait_for 15 ev "$W/gmd-r3m.json" sa_added
	mspi=$(ev "$W/gmd-r3m.json" spi) || mspi=none
	msel_re='src 10\.98\.0\.0/24 dst 239\.98\.1\.3/32 proto udp dport 5006'
	check "r3: ESP SA 0x$mspi with cbc(aes) in ip xfrm state" has_state r3 \
		"proto esp spi 0x$mspi reqid [0-9]+ mode tunnel .*enc cbc\(aes\)"
	check "r3: out policy with template ESP SPI 0x$mspi (it sends)" has_policy r3 \
		"^$msel_re dir out priority 450000 .*proto esp spi 0x$mspi reqid [0-9]+ mode tunnel"
	check "r3: in policy for the same selectors (it receives the other senders' traffic)" has_policy r3 \
		"^$msel_re dir in priority 450000 .*proto esp"
	check "r3: fwd policy for the same selectors" has_policy r3 "^$msel_re dir fwd priority 450000 .*proto esp"
	kill -TERM "$r3_pid"
	wait "$r3_pid" || true
	check "r3: nothing left after SIGTERM" kernel_empty r3
else
	echo "# kernel probe: 'ip xfrm state add ... enc cbc(aes) auth-trunc hmac(sha256)' said: ${cbc_probe:-failed}"
	echo "ok - r3: a sender that also receives gets in, fwd and out policies # SKIP this kernel cannot hold an ESP AES-CBC SA (check_xfrm groups_sender_also_receives runs it on the recording backend)"
fi

spi=$(ev "$W/gmd-r1.json" spi) || fatal "no registration (and no SPI) in gmd's JSON output"
echo "# group SA: ESP SPI 0x$spi"
sel="src ${IP[snd]}/32 dst $MCAST/32 proto udp dport $PORT"
sel_re=${sel//./\\.}
mc_re=${MCAST//./\\.}
snd_re=${IP[snd]//./\\.}

if [ "$esp" = 1 ]; then
	# ---- SAs and policies in the kernel ----
	for n in r1 r2 snd; do
		check "$n: ESP SA 0x$spi with rfc4106(gcm(aes))/128 to $MCAST (tunnel) in ip xfrm state" has_state "$n" \
			"src $snd_re dst $mc_re proto esp spi 0x$spi reqid [0-9]+ mode tunnel .*aead rfc4106\(gcm\(aes\)\) 0x[0-9a-f]+ 128"
	done
	for n in r1 r2; do
		check "$n (receiver): in policy for $sel, template esp ${IP[snd]} -> $MCAST, any SPI of the set" has_policy "$n" \
			"^$sel_re dir in priority 450000 .*tmpl src $snd_re dst $mc_re proto esp reqid [0-9]+ mode tunnel"
		check "$n (receiver): fwd policy for the same selectors" has_policy "$n" "^$sel_re dir fwd priority 450000 .*proto esp"
		check "$n (receiver): no out policy" no_policy "$n" "dir out"
	done
	check "snd (sender): out policy for $sel with template ESP SPI 0x$spi" has_policy snd \
		"^$sel_re dir out priority 450000 .*tmpl src $snd_re dst $mc_re proto esp spi 0x$spi reqid [0-9]+ mode tunnel"
	check "snd (sender): no in or fwd policy" no_policy snd "dir (in|fwd)"
	echo "# ran: SAs and policies in the kernel (the ESP-on-the-wire check follows)"
	echo "ok - the kernel's refusal of the group's ESP SA (no ESP) # SKIP this kernel has ESP: a refusal is provoked above (r3, keyid:xfrm-two) and in check_xfrm"
else
	# ---- the kernel refused: clear error, rollback, gmd still running ----
	for n in r1 r2 snd; do
		check "$n: gmd reports the kernel's refusal naming the group, SPI and algorithm" \
			grep -qE "group $GROUP: the kernel refused ESP SA spi 0x$spi \(AES_GCM_16/256\) to $mc_re: .+ \[kernel algorithms: rfc4106\(gcm\(aes\)\)" "$W/gmd-$n.log"
		check "$n: JSON events sa_install_failed and group_rolled_back" \
			sh -c "python3 $W/ev.py $W/gmd-$n.json sa_install_failed && python3 $W/ev.py $W/gmd-$n.json group_rolled_back"
		check "$n: rolled back: no policy and no SA left in the kernel" kernel_empty "$n"
		check "$n: gmd keeps running after the refusal" kill -0 "${gmd_pid[$n]}"
	done
	echo "# ran: the kernel's refusal of the group's ESP SA and gmd's rollback (r1, r2, snd)"
	echo "ok - SAs and policies in the kernel, ESP on the wire, clear text at the receivers # SKIP this kernel has no ESP (probe: ${esp_probe:-failed}); they run on kernels with CONFIG_INET_ESP and CONFIG_CRYPTO_GCM"
fi

if [ "$esp" = 1 ]; then
	# ---- the data path: ESP on the wire, clear text at both receivers ----
	cat >"$W/listen.py" <<'EOF'
import socket, struct, sys, time
group, port, local, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((group, port))
s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton(group) + socket.inet_aton(local))
s.settimeout(1.0)
end = time.time() + 15
with open(out, "w") as f:
    while time.time() < end:
        try:
            data, peer = s.recvfrom(2000)
        except socket.timeout:
            continue
        f.write("%s %s\n" % (peer[0], data.decode(errors="replace")))
        f.flush()
EOF
	cat >"$W/send.py" <<'EOF'
import socket, sys, time
group, port, local = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((local, 0))
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(local))
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 4)
for i in range(5):
    s.sendto(("gikev2-clear-%d" % i).encode(), (group, port))
    time.sleep(0.2)
EOF
	have_tshark=0
	if command -v tshark >/dev/null; then
		have_tshark=1
		ip netns exec "$BR" timeout 20 tshark -q -i "gksnd$$" -f esp -w "$W/esp.pcap" >"$W/tshark.log" 2>&1 &
		tshark_pid=$!
		pids+=($tshark_pid)
		ip netns exec "$BR" timeout 20 tshark -q -i "gksnd$$" -f "udp port $PORT" -w "$W/clear.pcap" >"$W/tshark-clear.log" 2>&1 &
		tshark_clear_pid=$!
		pids+=($tshark_clear_pid)
		wait_for 10 grep -q "Capturing on" "$W/tshark.log" || true
		wait_for 10 grep -q "Capturing on" "$W/tshark-clear.log" || true
	fi
	for n in r1 r2; do
		ip netns exec "$(ns "$n")" python3 "$W/listen.py" "$MCAST" "$PORT" "${IP[$n]}" "$W/recv-$n.txt" &
		pids+=($!)
	done
	sleep 1
	ip netns exec "$(ns snd)" python3 "$W/send.py" "$MCAST" "$PORT" "${IP[snd]}"
	for n in r1 r2; do
		check "$n received the 5 datagrams in clear from ${IP[snd]}" \
			wait_for 10 sh -c "[ \$(grep -c '^${IP[snd]} gikev2-clear-' $W/recv-$n.txt) -ge 5 ]"
	done
	if [ "$have_tshark" = 1 ]; then
		sleep 1
		kill -INT "$tshark_pid" "$tshark_clear_pid" 2>/dev/null || true
		wait "$tshark_pid" "$tshark_clear_pid" 2>/dev/null || true
		check "ESP with SPI 0x$spi from ${IP[snd]} to $MCAST on the sender's bridge port (tshark, capture filter esp)" sh -c "
			n=\$(tshark -r $W/esp.pcap -Y 'esp.spi == 0x$spi && ip.src == ${IP[snd]} && ip.dst == $MCAST' 2>/dev/null | wc -l)
			echo \"\$n ESP packets\"; [ \"\$n\" -ge 5 ]"
		check "no clear UDP to port $PORT on the sender's bridge port" sh -c "
			n=\$(tshark -r $W/clear.pcap 2>/dev/null | wc -l); echo \"\$n clear packets\"; [ \"\$n\" = 0 ]"
	else
		not_ok "tshark is not installed: the ESP-on-the-wire check cannot run (tools/deps installs it)"
	fi
fi

# ---- SIGTERM: gmd removes what it installed ----
for n in r1 r2 snd; do
	kill -TERM "${gmd_pid[$n]}"
done
for n in r1 r2 snd; do
	rc=0
	timeout 10 tail --pid="${gmd_pid[$n]}" -f /dev/null || true
	wait "${gmd_pid[$n]}" || rc=$?
	check "$n: gmd exits cleanly on SIGTERM" [ "$rc" = 0 ]
	check "$n: nothing of gmd's left in ip xfrm policy / ip xfrm state" kernel_empty "$n"
done
sanitizer_check "no sanitizer report in the logs of gmd and gcksd" "$W"/gmd-*.log "$W/gcks/gcksd.log"

if [ "$fails" -ne 0 ]; then
	echo "# $fails check(s) failed"
	exit 1
fi
echo "# all checks passed"
