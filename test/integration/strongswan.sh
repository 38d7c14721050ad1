#!/usr/bin/env bash
# shellcheck disable=SC2317 # functions run indirectly (traps, check)
# Interop with a real IKEv2 stack: strongSwan's charon (Debian charon-systemd +
# strongswan-swanctl) initiates a childless IKE SA (RFC 6023) to gcksd, once with a pre-shared
# key and once with X.509 certificates, and the result is read from swanctl --list-sas. Then
# one PSK IKE SA per IKE proposal of PROPOSALS below (AES-GCM, AES-CBC + HMAC-SHA2,
# ChaCha20-Poly1305; X25519 and ECP-256), each checked to be the one negotiated on both sides:
# strongSwan's swanctl --list-sas, and the SA payload of gcksd's IKE_SA_INIT response on the
# wire (tshark). Also: a post-quantum preshared key (RFC 8784; ppk_id, ppk_required) shared with
# gcksd, and NO_PPK_AUTH for a PPK_ID gcksd does not know; raw public keys (RFC 7670; swanctl
# pubkeys) on both sides.
#
# Everything runs in two network namespaces made here, joined by a veth pair:
#   gcksd   10.99.0.1 (UDP 500 and 4500)  <->  10.99.0.2 charon-systemd (own strongswan.conf,
#   own VICI socket, own swanctl directory, file log)
# so port 500 and kernel state never touch the host. Needs root; without root or without the
# packages it skips (exit 77), unless GK_REQUIRE_ALL=1 (CI; or GK_REQUIRE_INTEROP) is set, when that is an error.
#
# Binaries come from GK_BUILDDIR, else from the current directory (the build directory under
# make check). The test makes its own CA, certificates, PSK and policy: it needs nothing from
# the source tree. Knobs for trying variants by hand: SS_FRAGMENTATION, SS_CERT_KEY, SS_PROPOSAL
# below; GK_KEEP_WORK=1 keeps the temporary directory with both daemons' logs.
set -euo pipefail
. "$(dirname "$0")/tap.sh"

# strongSwan's IKE fragmentation (RFC 7383) on the connections: yes, no, accept or force.
SS_FRAGMENTATION=${SS_FRAGMENTATION:-yes}
# The strongSwan member's certificate key (openssl genpkey): RSA 3072 makes its IKE_AUTH larger
# than strongSwan's 1280-octet fragment size, so with fragmentation on it arrives as SKF fragments.
SS_CERT_KEY=${SS_CERT_KEY:-rsa}
# The IKE proposal strongSwan offers (one gcksd accepts, without a KWA transform).
SS_PROPOSAL=${SS_PROPOSAL:-aes256gcm16-prfsha256-x25519}
# Each IKE proposal strongSwan offers alone on a connection of its own, as
#   strongSwan proposal | what swanctl --list-sas shows | what gcksd's IKE_SA_INIT response
#   chose: ENCR / Key Length / INTEG / PRF / KE transform IDs (RFC 7296 3.3.2, IANA numbers),
#   "-" where the transform or attribute is absent.
PROPOSALS=(
	"aes256gcm16-prfsha256-x25519|AES_GCM_16-256/PRF_HMAC_SHA2_256/CURVE_25519|20/256/-/5/31"
	"aes128-sha256-prfsha256-ecp256|AES_CBC-128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/ECP_256|12/128/12/5/19"
	"chacha20poly1305-prfsha512-x25519|CHACHA20_POLY1305/PRF_HMAC_SHA2_512/CURVE_25519|28/-/-/7/31"
	"aes256-sha512-prfsha384-ecp256|AES_CBC-256/HMAC_SHA2_512_256/PRF_HMAC_SHA2_384/ECP_256|12/256/14/6/19"
)

GCKS_IP=10.99.0.1
SS_IP=10.99.0.2
GROUP=keyid:interop-1
GCKS_ID=gcks.example
PSK_ID=strongswan-psk.example
CERT_ID=strongswan-cert.example
PPK_MEMBER_ID=strongswan-ppk.example
RPK_ID=strongswan-rpk.example
PPK_ID=ss-ppk

# GK_REQUIRE_INTEROP forces this test alone: tap.sh's skip is then a failure, as with GK_REQUIRE_ALL.
[ -z "${GK_REQUIRE_INTEROP:-}" ] || GK_REQUIRE_ALL=1

build=${GK_BUILDDIR:-$PWD}
gcksd=$build/gcks/gcksd
gcksctl=$build/gcks/gcksctl
if ! [ -x "$gcksd" ] || ! [ -x "$gcksctl" ]; then
	echo "not ok - gcksd/gcksctl not found under $build (set GK_BUILDDIR)"
	exit 99
fi
[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, port 500)"
for t in ip openssl swanctl /usr/sbin/charon-systemd timeout tshark dumpcap; do
	command -v "$t" >/dev/null || skip "$t not installed (apt-get install charon-systemd strongswan-swanctl iproute2 openssl tshark)"
done
getent passwd gikev2 >/dev/null || skip "no user gikev2 for gcksd to drop privileges to (tools/deps creates it)"

work=$(mktemp -d /tmp/gikev2-strongswan.XXXXXX)
W=$work # tap.sh's check keeps a command's output there
ns_gcks=gk-gcks-$$
ns_ss=gk-ss-$$
veth_g=gkg$$
veth_s=gks$$
gcksd_pid=
charon_pid=
dumpcap_pid=
fails=0
started=$SECONDS

logs() {
	for f in "$work"/gcks/gcksd.log "$work"/charon.log; do
		[ -s "$f" ] || continue
		echo "---- $f (last 60 lines)"
		tail -n 60 "$f"
	done
}
stop() { # pid: SIGTERM, up to 5 s, then SIGKILL; returns the exit status
	local pid=$1 rc=0
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || rc=$?
	return "$rc"
}
cleanup() {
	local rc=$?
	if [ "$rc" != 0 ] && [ "$rc" != 77 ]; then
		[ "$fails" -gt 0 ] || echo "not ok - stopped at an unexpected error (exit status $rc)"
		logs | sed 's/^/# /'
	fi
	[ -z "$charon_pid" ] || stop "$charon_pid" || true
	[ -z "$dumpcap_pid" ] || stop "$dumpcap_pid" || true
	[ -z "$gcksd_pid" ] || stop "$gcksd_pid" || true
	ip netns del "$ns_ss" 2>/dev/null || true
	ip netns del "$ns_gcks" 2>/dev/null || true
	ip link del "$veth_g" 2>/dev/null || true
	if [ -n "${GK_KEEP_WORK:-}" ]; then echo "# kept $work"; else rm -rf "$work"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fatal() { not_ok "$*"; exit 1; }
trap 'not_ok "line $LINENO failed: $BASH_COMMAND"' ERR

# ---- network: two namespaces joined by a veth pair ----
ip netns add "$ns_gcks"
ip netns add "$ns_ss"
ip link add "$veth_g" type veth peer name "$veth_s"
ip link set "$veth_g" netns "$ns_gcks"
ip link set "$veth_s" netns "$ns_ss"
ip -n "$ns_gcks" link set lo up
ip -n "$ns_ss" link set lo up
ip -n "$ns_gcks" addr add "$GCKS_IP/24" dev "$veth_g"
ip -n "$ns_ss" addr add "$SS_IP/24" dev "$veth_s"
ip -n "$ns_gcks" link set "$veth_g" up
ip -n "$ns_ss" link set "$veth_s" up
ok "namespaces $ns_gcks ($GCKS_IP) and $ns_ss ($SS_IP) joined by a veth pair"

# ---- credentials: a CA, a certificate for the GCKS and one for the strongSwan member ----
pki=$work/pki
mkdir -p "$pki"
psk=0x$(openssl rand -hex 32)
new_cert() { # name id keyalg
	local name=$1 id=$2
	case $3 in
		rsa) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out "$pki/$name.key" 2>/dev/null ;;
		ec) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$pki/$name.key" 2>/dev/null ;;
		*) fatal "unknown key type $3" ;;
	esac
	openssl req -new -key "$pki/$name.key" -subj "/O=gikev2 interop/CN=$id" -out "$pki/$name.csr" 2>/dev/null
	printf 'basicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature\nsubjectAltName = DNS:%s\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n' \
		"$id" >"$pki/$name.ext"
	openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -set_serial "0x$(openssl rand -hex 8)" \
		-days 2 -sha256 -extfile "$pki/$name.ext" -out "$pki/$name.crt" 2>/dev/null
}
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$pki/ca.key" 2>/dev/null
openssl req -new -x509 -key "$pki/ca.key" -subj "/O=gikev2 interop/CN=gikev2 interop CA" -days 2 -sha256 \
	-addext "basicConstraints = critical, CA:TRUE" -addext "keyUsage = critical, keyCertSign, cRLSign" \
	-addext "subjectKeyIdentifier = hash" -out "$pki/ca.crt" 2>/dev/null
new_cert gcks "$GCKS_ID" ec
new_cert member "$CERT_ID" "$SS_CERT_KEY"
ok "CA, GCKS certificate (ECDSA P-256) and strongSwan certificate ($SS_CERT_KEY) made with openssl"
# RFC 8784: the PPK strongSwan and gcksd share for PPK_ID $PPK_ID, and the PSK of that member
ppk=0x$(openssl rand -hex 32)
ppk_unknown=0x$(openssl rand -hex 32)
psk_ppk=0x$(openssl rand -hex 32)
# RFC 7670: a raw key pair for a strongSwan member (no certificate), and the GCKS's public key
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$pki/rpk.key" 2>/dev/null
openssl pkey -in "$pki/rpk.key" -pubout -out "$pki/rpk.pub" 2>/dev/null
openssl pkey -in "$pki/gcks.key" -pubout -out "$pki/gcks.pub" 2>/dev/null

# ---- GCKS: database, policy, gcksd in its namespace ----
# gcksd drops privileges to gikev2 after binding port 500 and handing it the database; the
# directory stays root's (gcksd refuses one that others may write to).
chmod 755 "$work"
mkdir -p "$work/gcks"
db=$work/gcks/gcks.db ctl=$work/gcks/gcksd.sock
umask 077
cat >"$work/gcks/interop.yaml" <<EOF
# The group of the strongSwan interop test. strongSwan only sets up the IKE SA (childless
# IKE_AUTH); it never registers, but its identities are members like any other.
id: $GROUP
capacity: 10
ppk: optional
sas:
  - name: data
    protocol: esp
    encryption: aes-gcm-16
    key-length: 256
    sequence-numbers: sequential-32
    source: 192.0.2.10
    destination: 239.192.9.1
    ip-protocol: udp
    ports: 5004
    lifetime: 1h
members:
  - id: fqdn:$PSK_ID
    auth: psk
    psk: $psk
    role: receiver
  - id: fqdn:$CERT_ID
    auth: certificate
    role: receiver
  - id: fqdn:$PPK_MEMBER_ID
    auth: psk
    psk: $psk_ppk
    ppk: $ppk
    ppk-id: $PPK_ID
    role: receiver
  - id: fqdn:$RPK_ID
    auth: pubkey
    pubkey: |
$(sed 's/^/      /' "$pki/rpk.pub")
    role: receiver
EOF
umask 022
"$gcksctl" --db "$db" init --id "fqdn:$GCKS_ID" --key "$pki/gcks.key" --cert "$pki/gcks.crt" --ca "$pki/ca.crt" \
	>"$work/gcks/gcksctl.log" 2>&1 || { cat "$work/gcks/gcksctl.log"; fatal "gcksctl init"; }
"$gcksctl" --db "$db" policy load "$work/gcks/interop.yaml" >>"$work/gcks/gcksctl.log" 2>&1 ||
	{ cat "$work/gcks/gcksctl.log"; fatal "gcksctl policy load"; }
ip netns exec "$ns_gcks" "$gcksd" --db "$db" --listen "$GCKS_IP:500" --listen "$GCKS_IP:4500" \
	--control "$ctl" --log-level debug --foreground >"$work/gcks/gcksd.log" 2>&1 &
gcksd_pid=$!
for _ in $(seq 100); do
	[ -S "$ctl" ] && break
	kill -0 "$gcksd_pid" 2>/dev/null || break
	sleep 0.05
done
[ -S "$ctl" ] || fatal "gcksd did not start"
ok "gcksd listening on $GCKS_IP:500 and $GCKS_IP:4500 in $ns_gcks"

# ---- strongSwan: charon-systemd with its own configuration in the other namespace ----
ss=$work/strongswan
sw=$ss/swanctl
mkdir -p "$sw/x509" "$sw/x509ca" "$sw/private"
cp "$pki/ca.crt" "$sw/x509ca/ca.crt"
cp "$pki/rpk.key" "$sw/private/rpk.key"
# the raw public keys stay out of swanctl/pubkey: a trusted GCKS key loaded from there (or with
# the connection gcks-rpk) stands in for the CA chain of gcks-cert, which then fails its CA
# constraint; gcks-rpk is loaded after the certificate checks
cp "$pki/rpk.pub" "$pki/gcks.pub" "$ss/"
cp "$pki/member.crt" "$sw/x509/member.crt"
cp "$pki/member.key" "$sw/private/member.key"
vici=unix://$ss/charon.vici
cat >"$ss/strongswan.conf" <<EOF
charon-systemd {
	load_modular = no
	load = random nonce kdf openssl pem pkcs1 pkcs8 x509 pubkey curve25519 hmac sha2 gcm aes kernel-netlink socket-default vici
	port = 500
	port_nat_t = 4500
	install_routes = no
	install_virtual_ip = no
	retransmit_tries = 3
	retransmit_timeout = 1.0
	threads = 8
	filelog {
		main {
			path = $work/charon.log
			default = 1
			ike = 2
			enc = 1
			time_format = %H:%M:%S
			flush_line = yes
		}
	}
	journal {
		default = -1
	}
	plugins {
		vici {
			socket = $vici
		}
	}
}
swanctl {
	load = random openssl pem pkcs1 pkcs8 x509 pubkey
}
EOF
# One PSK connection per entry of PROPOSALS: gcks-p1, gcks-p2, ...
prop_conns=
for i in "${!PROPOSALS[@]}"; do
	prop_conns+="
	gcks-p$((i + 1)) {
		version = 2
		local_addrs = $SS_IP
		remote_addrs = $GCKS_IP
		proposals = ${PROPOSALS[$i]%%|*}
		childless = force
		rekey_time = 0
		dpd_delay = 0
		local {
			auth = psk
			id = fqdn:$PSK_ID
		}
		remote {
			auth = psk
			id = fqdn:$GCKS_ID
		}
	}"
done
cat >"$sw/swanctl.conf" <<EOF
connections {$prop_conns
	gcks-psk {
		version = 2
		local_addrs = $SS_IP
		remote_addrs = $GCKS_IP
		proposals = $SS_PROPOSAL
		childless = force
		fragmentation = $SS_FRAGMENTATION
		rekey_time = 0
		dpd_delay = 0
		local {
			auth = psk
			id = fqdn:$PSK_ID
		}
		remote {
			auth = psk
			id = fqdn:$GCKS_ID
		}
	}
	gcks-rekey {
		version = 2
		local_addrs = $SS_IP
		remote_addrs = $GCKS_IP
		proposals = $SS_PROPOSAL
		childless = force
		fragmentation = $SS_FRAGMENTATION
		rekey_time = 5s
		over_time = 1m
		rand_time = 0
		reauth_time = 0
		dpd_delay = 0
		local {
			auth = psk
			id = fqdn:$PSK_ID
		}
		remote {
			auth = psk
			id = fqdn:$GCKS_ID
		}
	}
	gcks-cert {
		version = 2
		local_addrs = $SS_IP
		remote_addrs = $GCKS_IP
		proposals = $SS_PROPOSAL
		childless = force
		fragmentation = $SS_FRAGMENTATION
		rekey_time = 0
		dpd_delay = 0
		send_certreq = yes
		local {
			auth = pubkey
			certs = member.crt
			id = fqdn:$CERT_ID
		}
		remote {
			auth = pubkey
			id = fqdn:$GCKS_ID
			cacerts = ca.crt
		}
	}
	gcks-ppk {
		version = 2
		local_addrs = $SS_IP
		remote_addrs = $GCKS_IP
		proposals = $SS_PROPOSAL
		childless = force
		rekey_time = 0
		dpd_delay = 0
		ppk_id = $PPK_ID
		ppk_required = yes
		local {
			auth = psk
			id = fqdn:$PPK_MEMBER_ID
		}
		remote {
			auth = psk
			id = fqdn:$GCKS_ID
		}
	}
	gcks-ppk-fallback {
		version = 2
		local_addrs = $SS_IP
		remote_addrs = $GCKS_IP
		proposals = $SS_PROPOSAL
		childless = force
		rekey_time = 0
		dpd_delay = 0
		ppk_id = ss-unknown
		ppk_required = no
		local {
			auth = psk
			id = fqdn:$PPK_MEMBER_ID
		}
		remote {
			auth = psk
			id = fqdn:$GCKS_ID
		}
	}
}
secrets {
	ike-gcks {
		id-1 = fqdn:$PSK_ID
		id-2 = fqdn:$GCKS_ID
		secret = $psk
	}
	ike-ppk-member {
		id-1 = fqdn:$PPK_MEMBER_ID
		id-2 = fqdn:$GCKS_ID
		secret = $psk_ppk
	}
	ppk-gcks {
		id = $PPK_ID
		secret = $ppk
	}
	ppk-unknown {
		id = ss-unknown
		secret = $ppk_unknown
	}
	private-rpk {
		file = rpk.key
	}
}
EOF
ip netns exec "$ns_ss" env STRONGSWAN_CONF="$ss/strongswan.conf" /usr/sbin/charon-systemd >"$ss/charon.out" 2>&1 &
charon_pid=$!
swan() { STRONGSWAN_CONF=$ss/strongswan.conf SWANCTL_DIR=$sw timeout 30 swanctl "$@" --uri "$vici"; }
for _ in $(seq 100); do
	[ -S "$ss/charon.vici" ] && swan --stats >/dev/null 2>&1 && break
	kill -0 "$charon_pid" 2>/dev/null || break
	sleep 0.05
done
swan --stats >/dev/null 2>&1 || { cat "$ss/charon.out"; fatal "charon-systemd did not start"; }
ok "charon-systemd $(swan --version 2>/dev/null | sed -n 's/.*strongSwan swanctl \([^ ,]*\).*/\1/p') running in $ns_ss"
swan --load-all --file "$sw/swanctl.conf" >"$ss/load.out" 2>&1 ||
	{ cat "$ss/load.out"; fatal "swanctl --load-all"; }
ok "swanctl loaded the connections gcks-psk and gcks-cert (childless = force, fragmentation = $SS_FRAGMENTATION)"

# ---- the checks: initiate, then read the IKE SA from swanctl ----
# Here-strings, not pipes: under pipefail a grep -q that exits on its first match can make the
# writer of a pipe die of SIGPIPE and the check fail on a listing that matched. A few tries: a
# vici listing can come back empty while charon is still finishing the exchange's bookkeeping.
established() { # conn remote-id
	local out try
	for try in 1 2 3 4 5 6 7 8 9 10; do
		if out=$(swan --list-sas --ike "$1" 2>&1) &&
			grep -Eq "^$1: #[0-9]+, ESTABLISHED, IKEv2" <<<"$out" &&
			grep -Fq "remote '$2' @ $GCKS_IP" <<<"$out"; then
			return 0
		fi
		[ "$try" = 10 ] || sleep 0.2
	done
	printf '%s\n' "$out" | sed 's/^/# last listing: /'
	return 1
}
no_child() { # conn: childless means no CHILD_SA under the IKE SA
	! swan --list-sas --ike "$1" 2>/dev/null | grep -Eq '^  [^ ].*: #[0-9]+, reqid'
}
try() { # conn auth-description
	local conn=$1
	if swan --initiate --ike "$conn" --timeout 20 >"$ss/$conn.initiate" 2>&1; then
		ok "$2: swanctl --initiate --ike $conn succeeded"
	else
		not_ok "$2: swanctl --initiate --ike $conn failed"
		sed 's/^/# /' "$ss/$conn.initiate"
	fi
	swan --list-sas --ike "$conn" 2>&1 | sed 's/^/# /'
	check "$2: swanctl --list-sas shows $conn ESTABLISHED with remote '$GCKS_ID'" established "$conn" "$GCKS_ID"
	check "$2: no CHILD_SA (childless IKE SA)" no_child "$conn"
	check "$2: gcksd still running" kill -0 "$gcksd_pid"
}
try gcks-psk "PSK"
try gcks-cert "certificates"
# With fragmentation on and an RSA certificate, strongSwan's IKE_AUTH exceeds its 1280-octet
# fragment size: gcksd must have reassembled RFC 7383 fragments (read from charon's log).
sent_fragments() { grep -Eq 'generating IKE_AUTH request [0-9]+ \[ EF\(1/[0-9]+\) \]' "$work/charon.log"; }
if [ "$SS_FRAGMENTATION" != no ] && [ "$SS_CERT_KEY" = rsa ]; then
	check "certificates: strongSwan sent its IKE_AUTH as RFC 7383 fragments" sent_fragments
elif sent_fragments; then
	echo "# strongSwan sent its IKE_AUTH as RFC 7383 fragments"
fi

# Both SAs end cleanly: strongSwan's INFORMATIONAL with Delete gets gcksd's answer.
answered_delete() { # conn
	local before after
	before=$(grep -c 'parsed INFORMATIONAL response' "$work/charon.log" || true)
	swan --terminate --ike "$1" --timeout 10 || return 1
	after=$(grep -c 'parsed INFORMATIONAL response' "$work/charon.log" || true)
	[ "$after" -gt "$before" ] || { echo "strongSwan got no INFORMATIONAL response"; return 1; }
}
for conn in gcks-psk gcks-cert; do
	check "$conn: swanctl --terminate: gcksd answers strongSwan's Delete" answered_delete "$conn"
done

# Post-quantum preshared keys (RFC 8784), strongSwan as the initiator of a childless IKE_AUTH:
# with ppk_required, strongSwan and gcksd use the PPK they share (USE_PPK both ways,
# PPK_IDENTITY both ways, AUTH under SK_pi'/SK_pr'), which the exchange only survives when both
# derived the same keys. With a PPK_ID gcksd does not know, strongSwan's NO_PPK_AUTH lets it in
# on the keys without a PPK (the group's ppk: optional).
try gcks-ppk "PPK (ppk_required)"
check "PPK: strongSwan used the PPK for PPK_ID '$PPK_ID' (charon.log)" \
	grep -q "using PPK for PPK_ID '$PPK_ID'" "$work/charon.log"
check "PPK: gcksd keyed the IKE SA with the member's PPK (gcksd.log)" \
	grep -q "IKE SA with fqdn:$PPK_MEMBER_ID established (IKE_AUTH, keyed with its PPK (RFC 8784)" "$work/gcks/gcksd.log"
check "gcks-ppk: swanctl --terminate: gcksd answers strongSwan's Delete (SK_e, SK_a agree)" answered_delete gcks-ppk
try gcks-ppk-fallback "PPK_ID unknown to gcksd (NO_PPK_AUTH)"
check "NO_PPK_AUTH: strongSwan sent it and gcksd accepted it (charon.log)" \
	grep -q "peer didn't use PPK for PPK_ID 'ss-unknown'" "$work/charon.log"
check "NO_PPK_AUTH: gcksd established the IKE SA without a PPK (gcksd.log)" \
	grep -q "IKE SA with fqdn:$PPK_MEMBER_ID established (IKE_AUTH, no key wrap" "$work/gcks/gcksd.log"
check "gcks-ppk-fallback: swanctl --terminate: gcksd answers strongSwan's Delete" answered_delete gcks-ppk-fallback

# Raw public keys (RFC 7670): strongSwan authenticates with a raw key pair (local pubkeys, no
# certificate) that gcksd's policy lists as auth: pubkey, and accepts gcksd by its raw public key
# (remote pubkeys). What strongSwan puts in CERT, if anything, is read from charon's log.
sed '/^connections {/r /dev/stdin' "$sw/swanctl.conf" >"$sw/swanctl-rpk.conf" <<EOF
	gcks-rpk {
		version = 2
		local_addrs = $SS_IP
		remote_addrs = $GCKS_IP
		proposals = $SS_PROPOSAL
		childless = force
		rekey_time = 0
		dpd_delay = 0
		local {
			auth = pubkey
			pubkeys = $ss/rpk.pub
			id = fqdn:$RPK_ID
		}
		remote {
			auth = pubkey
			pubkeys = $ss/gcks.pub
			id = fqdn:$GCKS_ID
		}
	}
EOF
swan --load-all --file "$sw/swanctl-rpk.conf" >"$ss/load-rpk.out" 2>&1 ||
	{ cat "$ss/load-rpk.out"; fatal "swanctl --load-all (gcks-rpk)"; }
try gcks-rpk "raw public keys"
rpk_auth_line=$(grep -E 'generating IKE_AUTH request [0-9]+ \[' "$work/charon.log" | tail -n 1 || true)
echo "# strongSwan's IKE_AUTH request with raw public keys: ${rpk_auth_line##*generating }"
# strongSwan 5.9.8 has no CERT encoding for a raw key (neither RFC 7670's Raw Public Key, 15, nor
# RFC 7296's Raw RSA Key, 11): it sends none, and gcksd verifies AUTH with the key its policy
# holds for the identity. Should a later strongSwan send CERT 15, gcksd compares it with that key.
check "raw public keys: strongSwan 5.9.8 sends no CERT for a raw key (charon.log)" \
	grep -q 'embedding PUBKEY certificate in payload failed' "$work/charon.log"
check "raw public keys: gcksd verified strongSwan's signature with the key its policy holds (gcksd.log)" \
	grep -q "IKE SA with fqdn:$RPK_ID established (IKE_AUTH" "$work/gcks/gcksd.log"
check "gcks-rpk: swanctl --terminate: gcksd answers strongSwan's Delete" answered_delete gcks-rpk

# IKE SA rekeying (RFC 7296 1.3.2, 2.18): strongSwan rekeys its IKE SA after 5 s with
# CREATE_CHILD_SA; gcksd answers with SA, Nr and KE, both derive the new keys from the old
# SK_d, strongSwan deletes the old SA, and its Delete of the new SA gets gcksd's answer (so the
# keys agree). After the others: a new IKE SA of the same identity may carry INITIAL_CONTACT.
try gcks-rekey "PSK, rekey_time 5 s"
ike_rekeyed() { # the new SA is up, the old one deleted (strongSwan's Delete answered)
	grep -Eq 'parsed CREATE_CHILD_SA response [0-9]+ \[ SA No KE \]' "$work/charon.log" &&
		grep -Eq 'IKE_SA gcks-rekey\[[0-9]+\] rekeyed between' "$work/charon.log" &&
		grep -Eq 'IKE_SA gcks-rekey\[[0-9]+\] state change: REKEYED => DELETING' "$work/charon.log" &&
		grep -q 'rekeyed: new SA' "$work/gcks/gcksd.log" &&
		[ "$(sed -n '/REKEYED => DELETING/,$p' "$work/charon.log" | grep -c 'parsed INFORMATIONAL response')" -ge 1 ]
}
for _ in $(seq 200); do ike_rekeyed && break; sleep 0.1; done
check "gcks-rekey: strongSwan rekeyed its IKE SA (CREATE_CHILD_SA answered with SA, Nr, KE)" ike_rekeyed
check "gcks-rekey: the rekeyed IKE SA is ESTABLISHED" established gcks-rekey "$GCKS_ID"
swan --list-sas --ike gcks-rekey 2>&1 | sed 's/^/# /'
check "gcks-rekey: swanctl --terminate on the new IKE SA: gcksd answers strongSwan's Delete" \
	answered_delete gcks-rekey

# ---- one IKE SA per proposal, each the one negotiated ----
# gcksd's choice is read from the wire: the SA payload of its IKE_SA_INIT response.
# dumpcap (tshark's capture engine) writes each packet as it comes, so none is lost on SIGTERM.
ip netns exec "$ns_gcks" dumpcap -q -i "$veth_g" -f 'udp port 500' -w "$work/ike.pcapng" \
	>"$work/dumpcap.out" 2>&1 &
dumpcap_pid=$!
for _ in $(seq 200); do
	grep -q 'Capturing on' "$work/dumpcap.out" 2>/dev/null && break
	kill -0 "$dumpcap_pid" 2>/dev/null || break
	sleep 0.05
done
grep -q 'Capturing on' "$work/dumpcap.out" || { cat "$work/dumpcap.out"; fatal "dumpcap did not start capturing"; }
# "Capturing on" can come before the capture sees packets: a probe datagram from strongSwan's
# side (gcksd drops it unanswered) must be in the file before the first proposal goes out.
captured() { [ "$(tshark -n -r "$work/ike.pcapng" 2>/dev/null | wc -l)" -ge 1 ]; }
for _ in $(seq 100); do
	ip netns exec "$ns_ss" bash -c "echo gk-capture-probe >/dev/udp/$GCKS_IP/500" 2>/dev/null || true
	captured && break
	sleep 0.05
done
captured || fatal "dumpcap captured nothing on $veth_g"
ispi() { # conn: the IKE SA's initiator SPI from swanctl --list-sas
	swan --list-sas --ike "$1" 2>/dev/null | sed -n "s/^$1: #[0-9]*, ESTABLISHED, IKEv2, \([0-9a-f]*\)_i.*/\1/p"
}
shows_proposal() { # conn text: swanctl --list-sas names the proposal
	swan --list-sas --ike "$1" 2>/dev/null | grep -Eq "^  $2\$"
}
declare -A spis
for i in "${!PROPOSALS[@]}"; do
	conn=gcks-p$((i + 1))
	IFS='|' read -r offer shown _ <<<"${PROPOSALS[$i]}"
	if swan --initiate --ike "$conn" --timeout 20 >"$ss/$conn.initiate" 2>&1; then
		ok "$offer: swanctl --initiate --ike $conn succeeded"
	else
		not_ok "$offer: swanctl --initiate --ike $conn failed"
		sed 's/^/# /' "$ss/$conn.initiate"
	fi
	check "$offer: swanctl --list-sas shows $conn ESTABLISHED with remote '$GCKS_ID'" established "$conn" "$GCKS_ID"
	check "$offer: strongSwan negotiated $shown" shows_proposal "$conn" "$shown"
	spis[$conn]=$(ispi "$conn")
	check "$offer: swanctl --terminate: gcksd answers strongSwan's Delete" answered_delete "$conn"
done
responses() { # IKE_SA_INIT responses with an SA payload captured so far
	tshark -n -r "$work/ike.pcapng" -Y 'isakmp.exchangetype == 34 && isakmp.flag_r == 1 && isakmp.tf.type' \
		2>/dev/null | wc -l
}
for _ in $(seq 100); do
	[ "$(responses)" -ge "${#PROPOSALS[@]}" ] && break
	sleep 0.05
done
stop "$dumpcap_pid" || true
dumpcap_pid=
chosen() { # initiator SPI: ENCR/Key Length/INTEG/PRF/KE of the IKE_SA_INIT response's SA payload
	tshark -n -r "$work/ike.pcapng" \
		-Y "isakmp.exchangetype == 34 && isakmp.flag_r == 1 && isakmp.ispi == $1 && isakmp.tf.type" \
		-T fields -E separator=, -E occurrence=a -E aggregator=';' \
		-e isakmp.tf.id.encr -e isakmp.ike2.attr.key_length -e isakmp.tf.id.integ \
		-e isakmp.tf.id.prf -e isakmp.tf.id.dh 2>"$work/tshark.err" |
		awk -F, -v OFS=/ '{ for (i = 1; i <= NF; i++) if ($i == "") $i = "-"; $1 = $1; print }'
}
gcksd_chose() { # conn expected
	local got
	[ -n "${spis[$1]}" ] || { echo "no SPI for $1"; return 1; }
	got=$(chosen "${spis[$1]}")
	[ "$got" = "$2" ] || { echo "gcksd chose $got"; return 1; }
}
for i in "${!PROPOSALS[@]}"; do
	IFS='|' read -r offer _ ids <<<"${PROPOSALS[$i]}"
	check "$offer: gcksd's IKE_SA_INIT response chose $ids (tshark)" gcksd_chose "gcks-p$((i + 1))" "$ids"
done
check "gcksd survived and answers on its control socket" \
	ip netns exec "$ns_gcks" "$gcksctl" --db "$db" --control "$ctl" status
check "gcksd process still running" kill -0 "$gcksd_pid"
# A clean stop: exit status 0 after SIGTERM (in a sanitizer build, also no leak or error report).
# Runs in this shell, which is gcksd's parent, so that wait sees its status.
gcksd_rc=0
stop "$gcksd_pid" || gcksd_rc=$?
gcksd_pid=
if [ "$gcksd_rc" = 0 ]; then
	ok "gcksd stops cleanly on SIGTERM (exit status 0)"
else
	not_ok "gcksd stops cleanly on SIGTERM (exit status $gcksd_rc)"
	tail -n 40 "$work/gcks/gcksd.log" | sed 's/^/# /'
fi
echo "# $((SECONDS - started)) s"
[ "$fails" -eq 0 ] || exit 1
