#!/usr/bin/env bash
# PSK files read the same way by gcksctl (policy psk-file) and gmd (--psk-file), both through
# common/crypto/psk_file.c: the same files give the same outcome on both sides.
#   - white space around the key (leading spaces, trailing newlines) is not part of it: gcksctl
#     loads such a file, gmd registers with it end to end against the real gcksd;
#   - 1024 octets are taken, 1025 refused by both (gcksctl exit 2, gmd exit 1), naming the file;
#   - a file its group or others may read (0644, 0640) is refused by both, naming the file.
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

W=$(mktemp -d "${TMPDIR:-/tmp}/gk-psk.XXXXXX")
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
key() { # NAME MODE CONTENT (printf format)
	(umask 077 && printf "$3" >"$W/keys/$1.psk")
	chmod "$2" "$W/keys/$1.psk"
}
k1024=$(head -c 1024 /dev/zero | tr '\0' k)
key lead 600 '  \tleading white space, a passphrase\n'
key trail 600 'trailing newlines, a passphrase\n\n\r\n'
key max 600 "$k1024"
key over 600 "${k1024}k"
key open 644 'a passphrase others may read\n'
key grp 640 'a passphrase its group may read\n'

# policy NAME MEMBER...: one group keyid:psk-NAME whose members use keys/MEMBER.psk
policy() {
	local name=$1 m
	shift
	cat >"$W/$name.yaml" <<EOF
groups:
  - id: keyid:psk-$name
    rekey:
      transport: multicast
      key-wrap: kw-5649-256
      address: 239.192.0.80
    sas:
      - name: data
        destination: 239.192.3.80
    members:
EOF
	for m in "$@"; do
		printf '      - id: fqdn:%s.example.net\n        psk-file: keys/%s.psk\n' "$m" "$m" >>"$W/$name.yaml"
	done
}

DB=$W/gcks.db CTL=$W/ctl.sock
"$GCKSCTL" --db "$DB" init --id fqdn:gcks.example >/dev/null
policy good lead trail max
rc=0
"$GCKSCTL" --db "$DB" --control "$CTL" policy load "$W/good.yaml" >"$W/load.out" 2>"$W/load.err" || rc=$?
check "gcksctl loads keys with white space around them and one of 1024 octets (exit $rc)" test "$rc" -eq 0

port=
for try in 1 2 3 4 5; do
	port=$(free_port)
	"$GCKSD" --db "$DB" --listen "127.0.0.1:$port" --control "$CTL" --foreground 2>"$W/gcksd.log" &
	gpid=$!
	for _ in $(seq 150); do
		grep -q 'gcksd ready' "$W/gcksd.log" && break 2
		kill -0 "$gpid" 2>/dev/null || break
		sleep 0.1
	done
	kill "$gpid" 2>/dev/null || true
	wait "$gpid" 2>/dev/null || true
	gpid=
done
[ -n "$gpid" ] || { not_ok "gcksd starts"; exit 1; }

for m in lead trail max; do
	rc=0
	timeout 40 "$GMD" --gcks "127.0.0.1:$port" --once --json --sa-backend none --id "fqdn:$m.example.net" \
		--psk-file "$W/keys/$m.psk" --group keyid:psk-good >"$W/gm-$m.json" 2>"$W/gm-$m.err" || rc=$?
	check "gmd registers with keys/$m.psk, the same key gcksctl read (exit $rc)" \
		python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["groups"][0]["status"] == "registered", d' \
		"$W/gm-$m.json"
done

# refused NAME WHY: gcksctl policy check exits 2 and gmd exits 1 (before any packet), each
# with a message naming the file and saying WHY
refused() {
	local m=$1 why=$2 rc=0 grc=0
	policy "bad-$m" "$m"
	"$GCKSCTL" policy check "$W/bad-$m.yaml" >/dev/null 2>"$W/check-$m.err" || rc=$?
	timeout 40 "$GMD" --gcks "127.0.0.1:$port" --once --sa-backend none --id "fqdn:$m.example.net" \
		--psk-file "$W/keys/$m.psk" --group keyid:psk-good >/dev/null 2>"$W/gm-$m.err" || grc=$?
	check "keys/$m.psk ($why): gcksctl refuses (exit $rc), gmd refuses (exit $grc), both naming the file" \
		bash -c '[ "$1" -eq 2 ] && [ "$2" -eq 1 ] && grep -q "keys/$3.psk: .*$4" "$5" && grep -q "keys/$3.psk: .*$4" "$6"' \
		_ "$rc" "$grc" "$m" "$why" "$W/check-$m.err" "$W/gm-$m.err"
}
refused over "PSK is 1025 octets; at most 1024 are allowed"
refused open "mode 0644: its group or others may access it"
refused grp "mode 0640: its group or others may access it"

kill -TERM "$gpid"
rc=0
wait "$gpid" || rc=$?
gpid=
check "gcksd exits with status 0 on SIGTERM (got $rc)" test "$rc" -eq 0
sanitizer_check "no sanitizer report in gcksd.log" "$W/gcksd.log"
[ "$fails" -eq 0 ]
