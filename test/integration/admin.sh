#!/usr/bin/env bash
# Admin safety, with the real gcksctl, gcksd and gmd as processes on loopback:
#   - policy load --dry-run prints per group what a load would do (the decision of
#     gcks_keyrules.c) and changes nothing: the database byte-identical, its dump identical,
#     no connection to the control socket; a load prints the same summary and does it;
#   - a load that lists a member evicted earlier warns, naming member and group;
#   - --json anywhere; failures as one JSON object; "did you mean keyid:NAME?";
#   - backup through the running gcksd while members register (SQLite online backup API), a
#     restore refused while gcksd holds the database (exit 6), a restore into a new place:
#     gcksd starts on it, excludes every member once with new keys under a Rekey SA Message ID
#     above every one sent before, and members register again with SPIs never used before;
#   - backups that are not intact, not ours or of a newer schema are refused (exit 2).
# Needs python3 and sqlite3 (and the programs of the build tree: GK_BUILDDIR, GK_SRCDIR).
set -euo pipefail

B=${GK_BUILDDIR:-$(pwd)}
GCKSD=$B/gcks/gcksd GCKSCTL=$B/gcks/gcksctl GMD=$B/member/gmd
for p in "$GCKSD" "$GCKSCTL" "$GMD"; do
	[ -x "$p" ] || { echo "not ok - $p is not built"; exit 99; }
done
for t in python3 sqlite3 timeout; do
	command -v "$t" >/dev/null || { echo "not ok - $t is needed (tools/deps installs it)"; exit 99; }
done
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

W=$(mktemp -d "${TMPDIR:-/tmp}/gk-admin.XXXXXX")
export W
pids=()
fails=0
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	if [ "$fails" -ne 0 ]; then
		for f in "$W"/*.log "$W"/*.err; do
			[ -f "$f" ] || continue
			echo "# ---- $(basename "$f") (last 30 lines)"
			tail -n 30 "$f" | sed 's/^/# /'
		done
	fi
	rm -rf "$W"
}
trap cleanup EXIT
. "$(dirname "$0")/tap.sh"

# start_gcksd DB CTL LOG: sets $port and $gpid
start_gcksd() {
	local db=$1 ctl=$2 log=$3 try
	for try in 1 2 3 4 5; do
		port=$(free_port)
		"$GCKSD" --db "$db" --listen "127.0.0.1:$port" --control "$ctl" --foreground 2>"$log" &
		gpid=$!
		pids+=("$gpid")
		for _ in $(seq 150); do
			grep -qs 'gcksd ready' "$log" && return 0
			kill -0 "$gpid" 2>/dev/null || break
			sleep 0.1
		done
		kill "$gpid" 2>/dev/null || true
		wait "$gpid" 2>/dev/null || true
		grep -qi 'in use' "$log" || { cat "$log"; return 1; }
	done
	return 1
}
stop_gcksd() { # LOG
	local rc=0
	kill -TERM "$gpid"
	wait "$gpid" || rc=$?
	check "gcksd exits with status 0 on SIGTERM (got $rc)" test "$rc" -eq 0
	sanitizer_check "no sanitizer report in $(basename "$1")" "$1"
}
# gm NAME MEMBER: gmd --once --json for fqdn:MEMBER.example.net; $W/NAME.json, .rc
gm() {
	local rc=0
	timeout 40 "$GMD" --gcks "127.0.0.1:$port" --once --json --sa-backend none --id "fqdn:$2.example.net" \
		--psk-file "$W/keys/$2.psk" --group keyid:adm-1 >"$W/$1.json" 2>"$W/$1.err" || rc=$?
	echo "$rc" >"$W/$1.rc"
}
registered() { # NAME
	check "$1 registers" python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["groups"][0]["status"] == "registered", d' "$W/$1.json"
}
# ctl NAME ARGS...: gcksctl; $W/NAME.out, .err, $rc
ctl() {
	local name=$1
	shift
	rc=0
	"$GCKSCTL" "$@" >"$W/$name.out" 2>"$W/$name.err" || rc=$?
}

mkdir -p "$W/keys"
for m in m1 m2 m3 m4; do (umask 077 && printf '0x%s\n' "$(openssl rand -hex 32)" >"$W/keys/$m.psk"); done
policy() { # FILE MEMBER...
	local f=$1 m
	shift
	cat >"$f" <<EOF
groups:
  - id: keyid:adm-1
    rekey:
      transport: multicast
      key-wrap: kw-5649-256
      address: 239.192.0.90
    sas:
      - name: data
        destination: 239.192.4.90
    members:
EOF
	for m in "$@"; do
		printf '      - id: fqdn:%s.example.net\n        psk-file: keys/%s.psk\n' "$m" "$m" >>"$f"
	done
}
policy "$W/v1.yaml" m1 m2 m3
policy "$W/v2.yaml" m1 m2 m4

A=$W/a.db CA=$W/a.sock
"$GCKSCTL" --db "$A" init --id fqdn:gcks.example >/dev/null
ctl load1 --db "$A" --control "$CA" policy load "$W/v1.yaml"
check "policy load of a new group: exit 0, \"added (new group, 3 members)\"" \
	bash -c '[ "$1" -eq 0 ] && grep -qx "keyid:adm-1: added (new group, 3 members)" "$2"' _ "$rc" "$W/load1.out"
start_gcksd "$A" "$CA" "$W/gcksd-a.log" || { not_ok "gcksd starts"; exit 1; }
gm r1 m1
gm r3 m3
registered r1
registered r3

# =================================================================================
# 1. --dry-run: the summary, and nothing changed
# =================================================================================
# on a copy of the database with a control socket that only listens: no connection may come
D=$W/d.db CD=$W/d.sock
"$GCKSCTL" --db "$A" --control "$CA" backup "$D" >/dev/null
sqlite3 "$D" "PRAGMA journal_mode = WAL" >/dev/null   # as a live database is
python3 - "$CD" >"$W/listener.out" 2>&1 <<'EOF' &
import os, socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(4)
s.settimeout(0.2)
open(sys.argv[1] + '.ready', 'w').close()
got = 0
while not os.path.exists(sys.argv[1] + '.stop'):
    try:
        c, _ = s.accept()
        got += 1
        c.close()
    except socket.timeout:
        pass
print('connections', got)
EOF
lpid=$!
for _ in $(seq 100); do [ -e "$CD.ready" ] && break; sleep 0.05; done
sqlite3 "$D" .dump >"$W/dump-before"
sum_before=$(sha256sum <"$D")
ctl dry --db "$D" --control "$CD" policy load --dry-run "$W/v2.yaml"
sum_after=$(sha256sum <"$D")
sqlite3 "$D" .dump >"$W/dump-after"
touch "$CD.stop"
wait "$lpid" || true
check "dry run: exit 0 ($rc), the summary of a registered member removed and one added" \
	bash -c '[ "$1" -eq 0 ] && diff -u - "$2"' _ "$rc" "$W/dry.out" <<'EOF'
keyid:adm-1: changed: exclude everyone (a removed member holds keys; members register again)
  member added: fqdn:m4.example.net
  member removed: fqdn:m3.example.net (registered: its keys are taken back)
dry run: nothing stored, gcksd not asked
EOF
check "dry run: the database file byte-identical" test "$sum_before" = "$sum_after"
check "dry run: the database dump identical" diff -u "$W/dump-before" "$W/dump-after"
check "dry run: no connection to the control socket" grep -qx "connections 0" "$W/listener.out"

# with gcksd running: the same decision, then the load does it and says the same
ctl dry-a --db "$A" --control "$CA" policy load --dry-run "$W/v2.yaml"
check "dry run with gcksd running: gcksd not asked (no reload in its log)" \
	bash -c '! grep -q "policies reloaded" "$1"' _ "$W/gcksd-a.log"
ctl load2 --db "$A" --control "$CA" policy load "$W/v2.yaml"
check "a load prints the dry run's summary, then gcksd reloads" \
	bash -c '[ "$1" -eq 0 ] && diff -u <(head -n -1 "$2") <(head -n -1 "$3") && tail -n 1 "$3" | grep -qx "gcksd: policies reloaded"' \
	_ "$rc" "$W/dry-a.out" "$W/load2.out"
check "gcksd did what the summary said: everyone excluded" \
	grep -q "group keyid:adm-1 \(rekeyed\|excluded every member\) (members removed from the policy)" "$W/gcksd-a.log"
ctl dry-json --db "$A" policy load "$W/v2.yaml" --dry-run --json
check "--json after the command: the summary as JSON" python3 - "$W/dry-json.out" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert d['dry_run'] is True and d['groups'][0]['change'] == 'unchanged', d
EOF

# =================================================================================
# 2. a load that lets an evicted member back warns
# =================================================================================
ctl evict --db "$A" --control "$CA" evict keyid:adm-1 fqdn:m2.example.net
check "evict fqdn:m2 (exit $rc)" test "$rc" -eq 0
ctl readd-dry --db "$A" --control "$CA" --json policy load --dry-run "$W/v2.yaml"
check "dry run listing the evicted member again: a warning naming member and group, evicted_earlier in JSON" \
	python3 - "$W/readd-dry.out" "$W/readd-dry.err" "$W/v2.yaml" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
added = d['groups'][0]['members_added']
assert added == [{'member': 'fqdn:m2.example.net', 'evicted_earlier': True}], added
err = open(sys.argv[2]).read()
want = f'gcksctl: warning: {sys.argv[3]}: fqdn:m2.example.net was evicted from keyid:adm-1; this load lets it register again\n'
assert err == want, err
EOF
ctl readd --db "$A" --control "$CA" policy load "$W/v2.yaml"
check "the load warns too, and lists the member as evicted earlier" \
	bash -c '[ "$1" -eq 0 ] && grep -q "was evicted from keyid:adm-1" "$2" && grep -qx "  member added: fqdn:m2.example.net (evicted earlier)" "$3"' \
	_ "$rc" "$W/readd.err" "$W/readd.out"
policy "$W/v3.yaml" m1 m4
"$GCKSCTL" --db "$A" --control "$CA" policy load "$W/v3.yaml" >/dev/null
ctl readd2 --db "$A" --control "$CA" policy load "$W/v2.yaml"
check "removed and listed again by ordinary loads: no warning any more" \
	bash -c '[ "$1" -eq 0 ] && ! grep -q "evicted" "$2" "$3"' _ "$rc" "$W/readd2.err" "$W/readd2.out"
check "the audit log says how the eviction is known: member evict, member readmit" \
	bash -c '"$1" --db "$2" audit 30 | grep -q "member evict .*fqdn:m2.example.net in keyid:adm-1" &&
		 "$1" --db "$2" audit 30 | grep -q "member readmit .*fqdn:m2.example.net in keyid:adm-1"' _ "$GCKSCTL" "$A"

# =================================================================================
# 3. --json failures and the keyid: hint
# =================================================================================
ctl hint --db "$A" --control "$CA" rekey adm-1 --json
check "rekey adm-1 --json: exit 4, one JSON object with the hint" python3 - "$rc" "$W/hint.out" <<'EOF'
import json, sys
assert sys.argv[1] == '4', sys.argv[1]
d = json.load(open(sys.argv[2]))
assert d['ok'] is False and d['exit'] == 4 and d['status'] == 'failure', d
assert d['error'] == 'no group adm-1', d
assert 'did you mean keyid:adm-1?' in d['messages'], d
EOF
ctl hint2 --db "$A" member list adm-1
check "member list adm-1: exit 4, did you mean keyid:adm-1?" \
	bash -c '[ "$1" -eq 4 ] && grep -qx "gcksctl: did you mean keyid:adm-1?" "$2"' _ "$rc" "$W/hint2.err"
ctl hint3 --db "$A" --control "$CA" evict keyid:adm-1 m4.example.net
check "evict with a member named without its type: exit 4, did you mean fqdn:m4.example.net?" \
	bash -c '[ "$1" -eq 4 ] && grep -qx "gcksctl: did you mean fqdn:m4.example.net?" "$2"' _ "$rc" "$W/hint3.err"
ctl usage --json no-such-command
check "a usage error with --json: exit 1, JSON with status usage" python3 - "$rc" "$W/usage.out" <<'EOF'
import json, sys
assert sys.argv[1] == '1'
d = json.load(open(sys.argv[2]))
assert d['exit'] == 1 and d['status'] == 'usage' and 'unknown command' in d['error'], d
EOF

# =================================================================================
# 4. backup through the running gcksd while members register
# =================================================================================
"$GCKSCTL" --db "$A" --control "$CA" rekey keyid:adm-1 >/dev/null
( for i in 1 2 3 4 5; do gm loop-$i m1; done ) &
loop=$!
ctl backup --db "$A" --control "$CA" backup "$W/b1.bak"
wait "$loop"
check "backup while gcksd runs and members register: exit 0, through gcksd" \
	bash -c '[ "$1" -eq 0 ] && grep -q "^backup of .* written to .*b1.bak (.*from the running gcksd)$" "$2"' _ "$rc" "$W/backup.out"
check "the backup is 0600, one file (no -wal), no temporary file left" \
	bash -c '[ "$(stat -c %a "$1")" = 600 ] && ! ls "$1"-wal "$1".tmp-* 2>/dev/null' _ "$W/b1.bak"
check "the members registered meanwhile" bash -c 'for i in 1 2 3 4 5; do [ "$(cat "$1/loop-$i.rc")" = 0 ] || exit 1; done' _ "$W"
check "gcksd audited the backup" bash -c '"$1" --db "$2" audit 5 | grep -q "backup *through the control socket"' _ "$GCKSCTL" "$A"
ctl inuse --db "$A" restore "$W/b1.bak"
check "restore while gcksd holds the database: exit 6, it names gcksd's pid" \
	bash -c '[ "$1" -eq 6 ] && grep -q "is in use by gcksd (pid $2): stop it before a restore" "$3" && [ ! -s "$4" ]' \
	_ "$rc" "$gpid" "$W/inuse.err" "$W/inuse.out"
ctl inuse-json --db "$A" --json restore "$W/b1.bak"
check "... with --json: status \"database in use\"" \
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["exit"] == 6 and d["status"] == "database in use", d' "$W/inuse-json.out"
# more Rekey SA messages after the backup: the restored store does not know them
"$GCKSCTL" --db "$A" --control "$CA" rekey keyid:adm-1 >/dev/null
"$GCKSCTL" --db "$A" --control "$CA" rekey keyid:adm-1 >/dev/null
stop_gcksd "$W/gcksd-a.log"
maxid=$(sed -n 's/.*GSA_REKEY message \([0-9]*\).*/\1/p' "$W/gcksd-a.log" | sort -n | tail -n 1)
sqlite3 "$A" "SELECT hex(spi) FROM sa_keys" | sort -u >"$W/spis-a"
check "(gcksd A sent GSA_REKEY messages up to $maxid and used $(wc -l <"$W/spis-a") SPIs)" test -n "$maxid" -a -s "$W/spis-a"

# =================================================================================
# 5. restore into a new place; gcksd continues without repeating
# =================================================================================
C=$W/restored/c.db CC=$W/c.sock
mkdir -m 700 "$W/restored"
ctl restore --db "$C" restore "$W/b1.bak"
check "restore into a new place: exit 0, it says what happens at the next start" \
	bash -c '[ "$1" -eq 0 ] && grep -q "^restored .*c.db from .*b1.bak (schema version [0-9]*): 1 group; when gcksd starts, every member is excluded" "$2" && [ "$(stat -c %a "$3")" = 600 ] && ! ls "$3".restore-* "$3".lock 2>/dev/null' \
	_ "$rc" "$W/restore.out" "$C"
start_gcksd "$C" "$CC" "$W/gcksd-c.log" || { not_ok "gcksd starts on the restored database"; exit 1; }
check "gcksd on the restored database excludes the group once, with new keys" \
	grep -q "keyid:adm-1: restored from a backup: every member excluded, new keys for every SA" "$W/gcksd-c.log"
cid=$(sed -n 's/.*GSA_REKEY message \([0-9]*\).*/\1/p' "$W/gcksd-c.log" | head -n 1)
check "its GSA_REKEY Message ID ($cid) is above every one gcksd A sent ($maxid)" \
	bash -c '[ -n "$1" ] && [ "$1" -gt "$2" ] && [ "$1" -ge 16777216 ]' _ "$cid" "$maxid"
gm c1 m1
gm c2 m2
registered c1
registered c2
check "members registering after the restore get SPIs gcksd A never used" python3 - "$W/c1.json" "$W/spis-a" <<'EOF'
import json, sys
used = set(l.strip().lower() for l in open(sys.argv[2]))
sas = json.load(open(sys.argv[1]))['groups'][0]['sas']
assert sas, sas
for sa in sas:
    assert sa['spi'].lower() not in used, sa
EOF
"$GCKSCTL" --db "$C" --control "$CC" rekey keyid:adm-1 >/dev/null
stop_gcksd "$W/gcksd-c.log"
sqlite3 "$C" "SELECT hex(spi) FROM sa_keys" | sort -u >"$W/spis-c"
sqlite3 "$A" "SELECT hex(spi) FROM sa_keys WHERE created <= (SELECT max(at) FROM audit WHERE action = 'backup')" | sort -u >"$W/spis-backup"
check "every SPI made after the restore is new to gcksd A" \
	bash -c 'comm -12 <(comm -23 "$1" "$2") "$3" | { ! grep -q .; }' _ "$W/spis-c" "$W/spis-backup" "$W/spis-a"
start_gcksd "$C" "$CC" "$W/gcksd-c2.log" || { not_ok "gcksd starts again"; exit 1; }
check "the next start excludes nobody: the restore was handled once" \
	bash -c '! grep -q "restored from a backup" "$1"' _ "$W/gcksd-c2.log"
stop_gcksd "$W/gcksd-c2.log"

# =================================================================================
# 6. backups that cannot be restored
# =================================================================================
printf 'not a database\n' >"$W/junk.bak"
cp "$W/b1.bak" "$W/newer.bak"
sqlite3 "$W/newer.bak" "PRAGMA user_version = 99"
head -c 20000 "$W/b1.bak" >"$W/short.bak"
# a page of sa_keys claiming more cells than it holds: SQLite opens it, integrity_check does not pass
cp "$W/b1.bak" "$W/corrupt.bak"
python3 - "$W/corrupt.bak" "$(sqlite3 "$W/b1.bak" "SELECT rootpage FROM sqlite_master WHERE name = 'sa_keys'")" \
	"$(sqlite3 "$W/b1.bak" "PRAGMA page_size")" <<'EOF'
import sys
with open(sys.argv[1], 'r+b') as f:
    f.seek((int(sys.argv[2]) - 1) * int(sys.argv[3]) + 3)
    f.write(b'\x00\x50')
EOF
chmod 600 "$W"/*.bak
cp "$C" "$W/c-before.db"
for b in junk newer short corrupt; do
	ctl "bad-$b" --db "$C" restore "$W/$b.bak"
	check "restore of $b.bak: exit 2 ($rc), one line saying why, the database untouched" \
		bash -c '[ "$1" -eq 2 ] && [ "$(wc -l <"$2")" -eq 1 ] && cmp -s "$3" "$4" && ! ls "$3".restore-* 2>/dev/null' \
		_ "$rc" "$W/bad-$b.err" "$C" "$W/c-before.db"
done
check "a newer schema is named as such" grep -q "schema version 99 is newer than this gcksctl's" "$W/bad-newer.err"
check "a damaged one by its integrity check" grep -q "corrupt.bak: integrity check failed: On tree page" "$W/bad-corrupt.err"
[ "$fails" -eq 0 ]
