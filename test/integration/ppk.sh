#!/usr/bin/env bash
# Post-quantum preshared keys (RFC 8784) between the real gcksd and gmd:
#   - a group with `ppk: required`: gmd with the member's PPK (--ppk-file, --ppk-id) registers on
#     an IKE SA keyed with it; without a PPK, or with a wrong one, it is refused
#     (AUTHENTICATION_FAILED), and gcksd says why;
#   - a group with `ppk: optional`: a member without a PPK registers; one whose PPK_ID gcksd does
#     not know registers through NO_PPK_AUTH, gmd warning that the registration is not protected;
#     with --ppk-required it is refused instead;
#   - no PPK ever appears in a log, at debug level.
# Needs python3 (and the programs of the build tree: GK_BUILDDIR, GK_SRCDIR).
set -euo pipefail

B=${GK_BUILDDIR:-$(pwd)}
GCKSD=$B/gcks/gcksd GCKSCTL=$B/gcks/gcksctl GMD=$B/member/gmd
for p in "$GCKSD" "$GCKSCTL" "$GMD"; do
	[ -x "$p" ] || { echo "not ok - $p is not built"; exit 99; }
done
command -v python3 >/dev/null || { echo "not ok - python3 is needed"; exit 99; }
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

W=$(mktemp -d "${TMPDIR:-/tmp}/gk-ppk.XXXXXX")
gpid=
fails=0
cleanup() {
	[ -n "$gpid" ] && { kill "$gpid" 2>/dev/null || true; wait "$gpid" 2>/dev/null || true; }
	if [ "$fails" -ne 0 ]; then
		for f in "$W"/*.log "$W"/*.err; do
			[ -f "$f" ] || continue
			echo "# ---- $(basename "$f") (last 20 lines)"
			tail -n 20 "$f" | sed 's/^/# /'
		done
	fi
	rm -rf "$W"
}
trap cleanup EXIT
. "$(dirname "$0")/tap.sh"

mkdir -p "$W/keys"
key() { # FILE CONTENT
	(umask 077 && printf '%s\n' "$2" >"$W/keys/$1")
}
key m1.psk "the pre-shared key of member one"
key m2.psk "the pre-shared key of member two"
key m1.ppk "PQ-PPK-of-member-one-7f3a9c"
key wrong.ppk "PQ-PPK-not-the-right-one-0b1d"
key m2.ppk "PQ-PPK-of-member-two-c41e22"

cat >"$W/ppk.yaml" <<EOF
groups:
  - id: keyid:ppk-req
    ppk: required
    rekey:
      transport: multicast
      key-wrap: kw-5649-256
      address: 239.192.0.81
    sas:
      - name: data
        destination: 239.192.3.81
    members:
      - id: fqdn:m1.example.net
        psk-file: keys/m1.psk
        ppk-file: keys/m1.ppk
        ppk-id: m1-ppk
  - id: keyid:ppk-opt
    ppk: optional
    rekey:
      transport: multicast
      key-wrap: kw-5649-256
      address: 239.192.0.82
    sas:
      - name: data
        destination: 239.192.3.82
    members:
      - id: fqdn:m1.example.net
        psk-file: keys/m1.psk
        ppk-file: keys/m1.ppk
        ppk-id: m1-ppk
      - id: fqdn:m2.example.net
        psk-file: keys/m2.psk
EOF

DB=$W/gcks.db CTL=$W/ctl.sock
"$GCKSCTL" --db "$DB" init --id fqdn:gcks.example >/dev/null
rc=0
"$GCKSCTL" --db "$DB" --control "$CTL" policy load "$W/ppk.yaml" >"$W/load.out" 2>"$W/load.err" || rc=$?
check "gcksctl loads groups with ppk: required and optional (exit $rc)" test "$rc" -eq 0

port=
for try in 1 2 3 4 5; do
	port=$(free_port)
	"$GCKSD" --db "$DB" --listen "127.0.0.1:$port" --control "$CTL" --foreground --log-level debug \
		2>"$W/gcksd.log" &
	gpid=$!
	if wait_for 15 grep -q 'gcksd ready' "$W/gcksd.log"; then
		break
	fi
	kill "$gpid" 2>/dev/null || true
	wait "$gpid" 2>/dev/null || true
	gpid=
done
[ -n "$gpid" ] || { not_ok "gcksd starts"; exit 1; }

# gm NAME MEMBER GROUP [gmd options]: one registration attempt, JSON in NAME.json
gm() {
	local name=$1 m=$2 g=$3 rc=0
	shift 3
	timeout 40 "$GMD" --gcks "127.0.0.1:$port" --once --json --sa-backend none \
		--log-level debug --id "fqdn:$m.example.net" --psk-file "$W/keys/$m.psk" --group "keyid:$g" \
		"$@" >"$W/$name.json" 2>"$W/$name.err" || rc=$?
	echo "$rc" >"$W/$name.rc"
}
status_is() { # NAME STATUS
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["groups"][0]["status"] == sys.argv[2], d' \
		"$W/$1.json" "$2"
}

gm req-ppk m1 ppk-req --ppk-file "$W/keys/m1.ppk" --ppk-id m1-ppk
check "ppk: required, gmd with the member's PPK: registered (exit $(cat "$W/req-ppk.rc"))" status_is req-ppk registered
check "... on an IKE SA keyed with the PPK (gmd: PPK_IDENTITY came back)" \
	grep -q 'IKE SA keyed with our PPK (RFC 8784)' "$W/req-ppk.err"

gm req-none m1 ppk-req
check "ppk: required, gmd without a PPK: AUTHENTICATION_FAILED, nothing registered" \
	bash -c '[ "$(cat "$1.rc")" -ne 0 ] && grep -q AUTHENTICATION_FAILED "$1.json" && ! grep -q "\"registered\"" "$1.json"' \
	_ "$W/req-none"
check "... gcksd: the group requires a PPK; the member uses none" \
	grep -q 'GSA_AUTH: authentication of fqdn:m1.example.net failed the group requires a PPK; the member uses none' "$W/gcksd.log"

gm req-wrong m1 ppk-req --ppk-file "$W/keys/wrong.ppk" --ppk-id m1-ppk
check "ppk: required, gmd with a wrong PPK under the right PPK_ID: AUTHENTICATION_FAILED" \
	bash -c '[ "$(cat "$1.rc")" -ne 0 ] && grep -q AUTHENTICATION_FAILED "$1.json"' _ "$W/req-wrong"
check "... gcksd: authentication failed with its PPK" \
	grep -q 'GSA_AUTH: authentication of fqdn:m1.example.net failed with its PPK' "$W/gcksd.log"

gm opt-none m2 ppk-opt
check "ppk: optional, gmd without a PPK: registered" status_is opt-none registered

gm opt-unknown m2 ppk-opt --ppk-file "$W/keys/m2.ppk" --ppk-id m2-ppk
check "ppk: optional, a PPK_ID gcksd does not know: registered through NO_PPK_AUTH" status_is opt-unknown registered
check "... gmd warns that the registration is not protected by the PPK" \
	grep -q 'registering without the PPK (NO_PPK_AUTH)' "$W/opt-unknown.err"

gm opt-required m2 ppk-opt --ppk-file "$W/keys/m2.ppk" --ppk-id m2-ppk --ppk-required
check "... the same with --ppk-required: AUTHENTICATION_FAILED" \
	bash -c '[ "$(cat "$1.rc")" -ne 0 ] && grep -q AUTHENTICATION_FAILED "$1.json"' _ "$W/opt-required"

gm opt-ppk m1 ppk-opt --ppk-file "$W/keys/m1.ppk" --ppk-id m1-ppk --ppk-required
check "ppk: optional, gmd with its PPK and --ppk-required: registered" status_is opt-ppk registered

chmod 640 "$W/keys/m2.ppk"
rc=0
timeout 20 "$GMD" --gcks "127.0.0.1:$port" --once --sa-backend none --id fqdn:m2.example.net \
	--psk-file "$W/keys/m2.psk" --ppk-file "$W/keys/m2.ppk" --ppk-id m2-ppk --group keyid:ppk-opt \
	>/dev/null 2>"$W/open-ppk.err" || rc=$?
check "gmd refuses a PPK file its group may read, naming it (exit $rc)" \
	bash -c '[ "$1" -eq 1 ] && grep -q "ppk-file .*keys/m2.ppk: .*mode 0640" "$2"' _ "$rc" "$W/open-ppk.err"

leaks=0
for f in "$W"/*.err "$W"/*.json "$W/gcksd.log"; do
	for k in m1 wrong m2; do
		grep -q -- "$(cat "$W/keys/$k.ppk")" "$f" && leaks=$((leaks + 1))
	done
done
check "no PPK appears in any log or output at debug level ($leaks found)" test "$leaks" -eq 0

kill -TERM "$gpid"
rc=0
wait "$gpid" || rc=$?
gpid=
check "gcksd exits with status 0 on SIGTERM (got $rc)" test "$rc" -eq 0
sanitizer_check "no sanitizer report in gcksd.log" "$W/gcksd.log"
[ "$fails" -eq 0 ]
