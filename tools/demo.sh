#!/usr/bin/env bash
# The main job (make demo): an admin sets up a GCKS database with the example video group,
# gcksd serves it on loopback, two receivers and one sender register with gmd, and each prints
# what it received. No root, no editing; everything lives in a temporary directory.
set -euo pipefail
build=${1:?usage: demo.sh BUILDDIR SRCDIR}
src=${2:?usage: demo.sh BUILDDIR SRCDIR}
work=$(mktemp -d /tmp/gikev2-demo.XXXXXX)
gcksd_pid=
cleanup() {
	[ -n "$gcksd_pid" ] && kill "$gcksd_pid" 2>/dev/null && wait "$gcksd_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
port=$(( 20000 + RANDOM % 20000 ))
db=$work/gcks.db ctl=$work/gcksd.sock
keys=$src/policies/keys

say() { printf '\n== %s\n' "$*"; }

say "gcksctl init: a new database with the GCKS identity and signing key"
"$build/gcks/gcksctl" --db "$db" init --id fqdn:gcks.example
say "chmod 600 policies/keys/*.psk (git keeps no file modes; gcksctl and gmd refuse key files others can read)"
chmod 600 "$keys"/*.psk
say "gcksctl policy load policies/video-multicast.yaml"
"$build/gcks/gcksctl" --db "$db" --control "$ctl" policy load "$src/policies/video-multicast.yaml"
say "gcksd on 127.0.0.1:$port"
"$build/gcks/gcksd" --db "$db" --listen "127.0.0.1:$port" --control "$ctl" --foreground 2>"$work/gcksd.log" &
gcksd_pid=$!
for _ in $(seq 50); do [ -S "$ctl" ] && break; sleep 0.1; done

gm() { # name role
	local args=(--gcks "127.0.0.1:$port" --id "fqdn:$1.example.net" --group keyid:video-1
		    --psk-file "$keys/$1.psk" --once --json)
	[ "$2" = sender ] && args+=(--sender)
	say "gmd: $1 registers as $2"
	"$build/member/gmd" "${args[@]}" 2>>"$work/gmd.log" | python3 -m json.tool
}
gm screen-1 receiver
gm screen-2 receiver
gm camera-1 sender

say "gcksctl member list keyid:video-1"
"$build/gcks/gcksctl" --db "$db" member list keyid:video-1
say "gcksctl status (from the running gcksd)"
"$build/gcks/gcksctl" --db "$db" --control "$ctl" status
say "gcksd log"
cat "$work/gcksd.log"
