#!/usr/bin/env bash
# Integration test of gcksctl and the control socket, through the real programs:
#   - every example policy (policies/*.yaml) passes `policy check`, loads, and round-trips:
#     export -> load changes nothing (gcksctl says "unchanged", the sqlite3 dump is identical)
#     and export -> load -> export gives the same text; an export file is mode 0600;
#   - a table of bad policy files, one per validation rule plus one with several
#     errors and one with more errors than are kept: the exact FILE:LINE:COLUMN: field: message
#     lines on stderr, exit code 2 from `policy check` and `policy load`, the database unchanged;
#   - exit codes (1 usage, 3 daemon not reachable), one stderr line per problem;
#   - the database: created 0600 by `init`, refused when others can read it;
#   - --json on every read command; group delete; the audit log (who, when, what);
#   - with gcksd running: control socket mode 0660, status (uptime, groups, members, SAs with
#     remaining lifetime), a loaded policy picked up without restart, rekey GROUP;
#   - concurrent `policy load` of two versions of a policy while gmd registrations run: every
#     registration gets exactly one of the two versions, never a mix, and none fails.
# Needs python3 and sqlite3 (tools/deps); finds the programs through GK_BUILDDIR, the sources
# through GK_SRCDIR. Prints one line per check (ok - / not ok -); exit 0 when all pass.
set -euo pipefail

B=${GK_BUILDDIR:-$(pwd)}
S=${GK_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
GCKSD=$B/gcks/gcksd GCKSCTL=$B/gcks/gcksctl GMD=$B/member/gmd
for t in python3 sqlite3 timeout; do
	command -v "$t" >/dev/null || { echo "not ok - $t is needed (tools/deps installs it)"; exit 99; }
done
for p in "$GCKSD" "$GCKSCTL" "$GMD"; do
	[ -x "$p" ] || { echo "not ok - $p is not built"; exit 99; }
done
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
# The audit log names the real uid's account (and the login uid's when it differs), never what
# the environment claims.
export USER=gk-spoofed SUDO_USER=gk-spoofed LOGNAME=gk-spoofed
unset GIKEV2_DB GIKEV2_CONTROL
umask 022                       # what gcksctl makes 0600 must not depend on a strict umask

W=$(mktemp -d "${TMPDIR:-/tmp}/gk-ctl.XXXXXX")
export W
pids=()
fails=0
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	if [ "$fails" -ne 0 ]; then
		for f in "$W"/*.log; do
			[ -f "$f" ] || continue
			echo "# ---- $(basename "$f") (last 30 lines)"
			tail -n 30 "$f" | sed 's/^/# /'
		done
	fi
	rm -rf "$W"
}
trap cleanup EXIT

. "$(dirname "$0")/tap.sh"
# pyck DESC <<'EOF' python EOF: load(path) reads JSON; files under $W.
cat >"$W/ck.py" <<'EOF'
import json, os, pwd, sys
W = os.environ['W']
def load(path):
    with open(path if path.startswith('/') else f'{W}/{path}') as f:
        return json.load(f)
def text(path):
    with open(path if path.startswith('/') else f'{W}/{path}') as f:
        return f.read()
def name_of(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f'uid {uid}'
def actor():
    """who gcksctl's local changes are audited as: this process's real uid, and its login uid"""
    me = name_of(os.getuid())
    lu = int(text('/proc/self/loginuid'))
    return me if lu in (4294967295, os.getuid()) else f'{me} (login {name_of(lu)})'
exec(compile(sys.stdin.read(), 'check', 'exec'))
EOF
pyck() { check "$1" python3 "$W/ck.py"; }

# run NAME ARGS...: gcksctl ARGS with stdout in $W/NAME.out, stderr in $W/NAME.err, status in $rc
run() {
	local name=$1
	shift
	rc=0
	"$GCKSCTL" "$@" >"$W/$name.out" 2>"$W/$name.err" || rc=$?
	cat "$W/$name.err" >>"$W/gcksctl.log"
}
dump() { sqlite3 "$1" .dump; }
same_files() { # A B: identical, with a diff as diagnostics
	diff -u "$1" "$2"
}

# =================================================================================
# 1. init: the database is created 0600 (umask 022)
# =================================================================================
DB=$W/gcks.db
run init --db "$DB" init --id fqdn:gcks.example
check "gcksctl init exits 0" test "$rc" -eq 0
check "init creates the database mode 0600 (umask 022), its WAL files too" \
	bash -c 'n=0; for f in "$1" "$1"-wal "$1"-shm; do [ -e "$f" ] || continue; n=$((n+1)); m=$(stat -c %a "$f"); echo "$f $m"; [ "$m" = 600 ] || exit 1; done; [ $n -ge 1 ]' _ "$DB"

# =================================================================================
# 2. the examples: check, load, export -> load changes nothing, export is stable
# =================================================================================
# a copy with the key files 0600 as an admin keeps them (git keeps no modes, and gcksctl
# refuses a key file others may read)
mkdir -p "$W/examples"
cp "$S"/policies/*.yaml "$W/examples/" 2>/dev/null || true
cp -r "$S/policies/keys" "$W/examples/keys"
chmod 600 "$W"/examples/keys/*.psk
shopt -s nullglob
examples=("$W"/examples/*.yaml)
shopt -u nullglob
if [ ${#examples[@]} -eq 0 ]; then
	not_ok "policies/*.yaml: no examples found under $S"
fi
ngroups=0
for f in "${examples[@]}"; do
	n=$(basename "$f")
	run "check-$n" policy check "$f"
	check "policy check $n: exit 0, says ok" \
		bash -c '[ "$1" -eq 0 ] && grep -q ": ok (" "$2"' _ "$rc" "$W/check-$n.out"
	ngroups=$((ngroups + $(sed -n 's/.*: ok (\([0-9]*\) group.*/\1/p' "$W/check-$n.out" | head -n 1)))
done
run load-examples --db "$DB" --control "$W/none.sock" policy load "${examples[@]}"
check "policy load of every example: exit 0, each group loaded" \
	bash -c '[ "$1" -eq 0 ] && [ "$(grep -c ": added (new group, " "$2")" -eq "$3" ]' _ "$rc" "$W/load-examples.out" "$ngroups"
check "policy load without gcksd says it applies when gcksd starts" \
	grep -q "gcksd not running at $W/none.sock" "$W/load-examples.out"

run export1 --db "$DB" policy export
check "policy export exits 0" test "$rc" -eq 0
cp "$W/export1.out" "$W/export1.yaml"
dump "$DB" >"$W/dump-before-reload"
run reload-export --db "$DB" --control "$W/none.sock" policy load "$W/export1.yaml"
check "policy load of the export: exit 0, every group \"unchanged\"" \
	bash -c '[ "$1" -eq 0 ] && [ "$(grep -c ": unchanged$" "$2")" -eq "$3" ] && ! grep -q ": changed: \|: added (" "$2"' \
	_ "$rc" "$W/reload-export.out" "$ngroups"
dump "$DB" >"$W/dump-after-reload"
check "policy load of the export changes nothing (sqlite3 .dump identical)" \
	same_files "$W/dump-before-reload" "$W/dump-after-reload"
run export2 --db "$DB" policy export
check "export -> load -> export gives identical text" same_files "$W/export1.out" "$W/export2.out"

# each example on its own, in a fresh database: its export loads as "unchanged", per group too
for f in "${examples[@]}"; do
	n=$(basename "$f" .yaml)
	db=$W/ex-$n.db
	"$GCKSCTL" --db "$db" init >/dev/null 2>>"$W/gcksctl.log"
	"$GCKSCTL" --db "$db" --control "$W/none.sock" policy load "$f" >/dev/null 2>>"$W/gcksctl.log"
	grp=$("$GCKSCTL" --db "$db" --json group list | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["group"])')
	"$GCKSCTL" --db "$db" policy export "$grp" >"$W/ex-$n.yaml"
	dump "$db" >"$W/ex-$n.dump1"
	run "ex-$n-reload" --db "$db" --control "$W/none.sock" policy load "$W/ex-$n.yaml"
	dump "$db" >"$W/ex-$n.dump2"
	"$GCKSCTL" --db "$db" policy export "$grp" >"$W/ex-$n.yaml2"
	check "$n.yaml: export of $grp reloads \"unchanged\", dump identical, second export identical" \
		bash -c '[ "$1" -eq 0 ] && grep -qx "$2: unchanged" "$3" && diff -u "$4" "$5" && diff -u "$6" "$7"' \
		_ "$rc" "$grp" "$W/ex-$n-reload.out" "$W/ex-$n.dump1" "$W/ex-$n.dump2" "$W/ex-$n.yaml" "$W/ex-$n.yaml2"
done

# policies/README: "gcksctl writes it with mode 0600" (the export holds PSKs)
rm -f "$W/export-file.yaml"
"$GCKSCTL" --db "$DB" policy export >"$W/export-file.yaml" 2>>"$W/gcksctl.log"
check "policy export > FILE leaves FILE mode 0600 (it holds PSKs; umask 022)" \
	bash -c 'm=$(stat -c %a "$1"); echo "mode $m"; [ "$m" = 600 ]' _ "$W/export-file.yaml"

# =================================================================================
# 3. bad policy files: exact messages, exit 2, database unchanged
# =================================================================================
# Each file names a group that is loaded (keyid:video-1), so a partial write would show.
mkdir -p "$W/bad"
bad_names=()
# bad NAME 'YAML' 'EXPECTED STDERR'
bad() {
	bad_names+=("$1")
	printf '%s' "$2" >"$W/bad/$1.yaml"
	printf '%s\n' "$3" >"$W/bad/$1.expect"
}
BASE=$'id: keyid:video-1\nsas:\n  - name: video\n    destination: 239.192.1.1\n'

bad unknown-key "$BASE"$'    lifetim: 1h\n' \
	"bad/unknown-key.yaml:5:5: sas[0].lifetim: unknown key (did you mean 'lifetime'?)"
bad wrong-type "$BASE"$'capacity: lots\n' \
	"bad/wrong-type.yaml:5:11: capacity: expected a whole number, got 'lots'"
bad aead-integrity "$BASE"$'    encryption: aes-gcm-16\n    integrity: hmac-sha2-256-128\n' \
	"bad/aead-integrity.yaml:6:16: sas[0].integrity: AES_GCM_16 is a combined-mode (AEAD) transform: integrity must be none or absent"
bad esn "$BASE"$'    sequence-numbers: esn\n' \
	"bad/esn.yaml:5:23: sas[0].sequence-numbers: esn must not be used for group SAs, which are multicast (RFC 9838 4.4.2.1.3); use sequential-32 or unspecified-32"
bad implicit-iv "$BASE"$'    encryption: aes-gcm-16-iiv\n' \
	"bad/implicit-iv.yaml:5:17: sas[0].encryption: AES_GCM_16_IIV uses an implicit IV, which RFC 9838 2.7 forbids for group SAs"
bad counter-no-sender-id-bits "$BASE"$'members:\n  - id: keyid:s1\n    role: sender\n  - id: keyid:s2\n    role: sender\n' \
	"bad/counter-no-sender-id-bits.yaml:1:1: sender-id-bits: required: sas[0] uses counter-mode AES_GCM_16 and 2 members have role sender (RFC 9838 2.5)"
bad lifetime "$BASE"$'    lifetime: 31d\n' \
	"bad/lifetime.yaml:5:15: sas[0].lifetime: must be between 1m and 30d, got 31d"
bad esp-ah-overlap $'id: keyid:video-1\nsas:\n  - name: esp\n    destination: 239.192.1.0/24\n    ip-protocol: udp\n  - name: auth\n    protocol: ah\n    integrity: sha256\n    destination: 239.192.1.7\n' \
	"bad/esp-ah-overlap.yaml:6:5: sas[1]: AH SA overlaps the traffic selectors of ESP SA sas[0] 'esp': RFC 9838 4.4.2 forbids ESP and AH for the same traffic"
bad rekey-not-multicast "$BASE"$'rekey:\n  transport: multicast\n  key-wrap: kw-5649-256\n  address: 192.0.2.1\n' \
	"bad/rekey-not-multicast.yaml:8:12: rekey.address: 192.0.2.1 is not a multicast address (IPv4 224.0.0.0/4, IPv6 ff00::/8)"
# gcksd holds a group's SAs (TEKs and the Rekey SA) in GK_GROUP_MAX_SAS (16) slots
bad too-many-sas "id: keyid:video-1
sas:
$(for i in $(seq 1 16); do printf '  - name: s%d\n    destination: 239.192.1.%d\n' "$i" "$i"; done)
" \
	"bad/too-many-sas.yaml:3:3: sas: 16 SAs; a group has at most 15"
bad several $'groups:\n  - id: keyid:video-1\n    capacity: -1\n    rekey:\n      transport: multicast\n      address: 10.1.1.1\n      key-wrap: kw-5649-256\n    sas:\n      - name: video\n        encryption: aes-gcm-16-iiv\n        destination: 239.192.1.1\n        sequence-numbers: esn\n        lifetime: 10s\n    members:\n      - id: keyid:s1\n        role: sender\n        colour: blue\n' \
	"bad/several.yaml:3:15: groups[0].capacity: expected a whole number, got '-1'
bad/several.yaml:10:21: groups[0].sas[0].encryption: AES_GCM_16_IIV uses an implicit IV, which RFC 9838 2.7 forbids for group SAs
bad/several.yaml:12:27: groups[0].sas[0].sequence-numbers: esn must not be used for group SAs, which are multicast (RFC 9838 4.4.2.1.3); use sequential-32 or unspecified-32
bad/several.yaml:13:19: groups[0].sas[0].lifetime: must be between 1m and 30d, got 10s
bad/several.yaml:17:9: groups[0].members[0].colour: unknown key (expected one of: id, auth, psk, psk-file, pubkey, pubkey-file, role, max-sender-ids, ppk, ppk-file, ppk-id)
bad/several.yaml:6:16: groups[0].rekey.address: 10.1.1.1 is not a multicast address (IPv4 224.0.0.0/4, IPv6 ff00::/8)"

dump "$DB" >"$W/dump-good"
for n in "${bad_names[@]}"; do
	for op in check load; do
		rc=0
		(cd "$W" && "$GCKSCTL" --db "$DB" --control "$W/none.sock" policy "$op" "bad/$n.yaml") \
			>"$W/bad/$n.$op.out" 2>"$W/bad/$n.$op.err" || rc=$?
		dump "$DB" >"$W/dump-now"
		check "bad policy $n: policy $op exits 2 ($rc), exact message(s) on stderr, nothing on stdout, database unchanged" \
			bash -c '[ "$1" -eq 2 ] && diff -u "$2" "$3" && [ ! -s "$4" ] && diff -u "$5" "$6" >/dev/null' \
			_ "$rc" "$W/bad/$n.expect" "$W/bad/$n.$op.err" "$W/bad/$n.$op.out" "$W/dump-good" "$W/dump-now"
	done
done

# a good file (a changed video-1) and a bad one in one load: nothing of either is stored
sed 's/^capacity: 500 /capacity: 400 /' "$S/policies/video-multicast.yaml" >"$W/video-changed.yaml"
cp -r "$S/policies/keys" "$W/keys" 2>/dev/null || true
chmod 600 "$W"/keys/* 2>/dev/null || true
run changed-check policy check "$W/video-changed.yaml"
check "(the changed good file is valid)" test "$rc" -eq 0
rc=0
(cd "$W" && "$GCKSCTL" --db "$DB" --control "$W/none.sock" policy load video-changed.yaml bad/esn.yaml) \
	>"$W/mixed.out" 2>"$W/mixed.err" || rc=$?
dump "$DB" >"$W/dump-now"
check "policy load GOOD BAD: exit 2, the bad file's message, the good file not stored either" \
	bash -c '[ "$1" -eq 2 ] && diff -u "$2" "$3" && diff -u "$4" "$5" >/dev/null' \
	_ "$rc" "$W/bad/esn.expect" "$W/mixed.err" "$W/dump-good" "$W/dump-now"

# authentication: implicit is allowed but flagged (any member could forge GSA_REKEY)
printf '%s' "$BASE"$'rekey:\n  transport: multicast\n  key-wrap: kw-5649-256\n  address: 239.0.0.1\n  authentication: implicit\n' \
	>"$W/implicit.yaml"
rc=0
(cd "$W" && "$GCKSCTL" --db "$DB" policy check implicit.yaml) >"$W/implicit.out" 2>"$W/implicit.err" || rc=$?
check "policy check with authentication: implicit: exit 0, a FILE:LINE:COLUMN warning that members can forge rekeys" \
	bash -c '[ "$1" -eq 0 ] && grep -q ": ok (" "$2" && [ "$(cat "$3")" = "implicit.yaml:9:19: rekey.authentication: warning: implicit: every group member holds the Rekey SA key and can forge GSA_REKEY messages (RFC 9838 2.4.1.1); use signature unless all members are trusted alike" ]' \
	_ "$rc" "$W/implicit.out" "$W/implicit.err"

# more errors than gcksctl keeps (gk_diag keeps 1000): the rest is counted, not lost silently
{ printf '%s' "$BASE"; for i in $(seq 1100); do echo "x$i: 1"; done; } >"$W/bad/many.yaml"
rc=0
(cd "$W" && "$GCKSCTL" --db "$DB" policy check bad/many.yaml) >/dev/null 2>"$W/many.err" || rc=$?
check "1100 errors: exit 2, 1000 messages, then \"(100 more messages not shown)\"" \
	bash -c '[ "$1" -eq 2 ] && [ "$(wc -l <"$2")" -eq 1001 ] &&
		[ "$(sed -n 1000p "$2")" = "bad/many.yaml:1004:1: x1000: unknown key (expected one of: id, capacity, mode, activation-delay, deactivation-delay, sender-id-bits, rekey-margin, ike-idle-timeout, max-packet-rate, rekey, sas, members, ppk, additional-key-exchanges)" ] &&
		[ "$(tail -n 1 "$2")" = "(100 more messages not shown)" ] || { tail -n 2 "$2"; exit 1; }' _ "$rc" "$W/many.err"

# =================================================================================
# 4. exit codes and one stderr line per problem
# =================================================================================
usage_case() { # DESC ARGS...
	local desc=$1
	shift
	run usage "$@"
	check "usage error ($desc): exit 1 ($rc), one line on stderr" \
		bash -c '[ "$1" -eq 1 ] && [ ! -s "$2" ] && { [ "$(wc -l <"$3")" -eq 1 ] && grep -q "^gcksctl: " "$3" || { cat "$3"; exit 1; }; }' \
		_ "$rc" "$W/usage.out" "$W/usage.err"
}
usage_case "no command" --db "$DB"
usage_case "unknown command" --db "$DB" frobnicate
usage_case "unknown option" --db "$DB" --frobnicate group list
usage_case "policy check without a file" --db "$DB" policy check
usage_case "policy load without a file" --db "$DB" policy load
usage_case "unknown policy subcommand" --db "$DB" policy frobnicate
usage_case "group show without a group" --db "$DB" group show
usage_case "member list without a group" --db "$DB" member list
usage_case "rekey without a group" --db "$DB" --control "$W/none.sock" rekey
usage_case "evict without a member" --db "$DB" --control "$W/none.sock" evict keyid:video-1
usage_case "init with an unknown option" --db "$W/other.db" init --frobnicate
check "--help: exit 0, usage on stdout" bash -c '"$1" --help | grep -q "^usage: gcksctl"' _ "$GCKSCTL"

for args in "status" "rekey keyid:video-1" "evict keyid:video-1 fqdn:screen-1.example.net"; do
	# shellcheck disable=SC2086
	run daemon --db "$DB" --control "$W/none.sock" $args
	check "$args without gcksd: exit 3 ($rc), one line on stderr" \
		bash -c '[ "$1" -eq 3 ] && { [ "$(wc -l <"$2")" -eq 1 ] && grep -q "^gcksctl: gcksd not reachable at " "$2" || { cat "$2"; exit 1; }; }' \
		_ "$rc" "$W/daemon.err"
done
run noexist --db "$W/no-such.db" group list
check "a database that does not exist: exit 4 ($rc), one line, not created" \
	bash -c '[ "$1" -eq 4 ] && [ ! -e "$2" ] && { [ "$(wc -l <"$3")" -eq 1 ] || { cat "$3"; exit 1; }; }' \
	_ "$rc" "$W/no-such.db" "$W/noexist.err"
run noexist --db "$DB" group show keyid:no-such-group
check "group show of an unknown group: exit 4 ($rc), one line on stderr" \
	bash -c '[ "$1" -eq 4 ] && { [ "$(wc -l <"$2")" -eq 1 ] || { cat "$2"; exit 1; }; }' \
	_ "$rc" "$W/noexist.err"

# =================================================================================
# 5. a database others can read is refused
# =================================================================================
# the policy's key files 0600 as an admin keeps them (a clean clone has them 0644,
# git keeps no modes), so the only complaint left is the database's mode
cp "$S/policies/video-multicast.yaml" "$W/video-perm.yaml"
for mode in 644 640 604; do
	chmod "$mode" "$DB"
	for cmdline in "group list" "policy load $W/video-perm.yaml"; do
		# shellcheck disable=SC2086
		run perm --db "$DB" --control "$W/none.sock" $cmdline
		check "database mode $mode: gcksctl ${cmdline%% /*} refuses (exit 4: $rc), one clear line" \
			bash -c '[ "$1" -eq 4 ] && [ ! -s "$2" ] && [ "$(wc -l <"$3")" -eq 1 ] && grep -q "chmod 600" "$3" || { cat "$3"; exit 1; }' \
			_ "$rc" "$W/perm.out" "$W/perm.err"
	done
done
chmod 600 "$DB"
check "database mode back to 0600: unchanged by the refused commands" \
	bash -c 'sqlite3 "$1" .dump | diff -u "$2" - >/dev/null' _ "$DB" "$W/dump-good"

# =================================================================================
# 6. --json on the read commands; group delete; the audit log
# =================================================================================
run json-list --db "$DB" --json group list
run json-show --db "$DB" --json group show keyid:video-1
run json-members --db "$DB" --json member list keyid:video-1
pyck "--json group list / group show / member list parse, with the loaded groups" <<'EOF'
gl = load('json-list.out')
names = sorted(g['group'] for g in gl)
assert {'fqdn:telemetry.example.net', 'keyid:control-room', 'keyid:video-1'} <= set(names), names
json.dump(names, open(f'{W}/groups-before-delete.json', 'w'))
for g in gl:
    assert set(g) >= {'group', 'rekey', 'members', 'capacity', 'sas'}, g
gs = load('json-show.out')
assert gs['group'] == 'keyid:video-1' and gs['capacity'] == 500 and gs['rekey'] == 'multicast', gs
assert [s['name'] for s in gs['sas']] == ['video'], gs
assert gs['sas'][0]['encryption'] == 'AES_GCM_16' and gs['sas'][0]['lifetime'] == 3600, gs
assert load('json-members.out') == [], 'no member registered yet'
EOF
run human-list --db "$DB" group list
check "group list without --json is a table, not JSON" \
	bash -c 'head -n 1 "$1" | grep -q "^GROUP " && grep -q "^keyid:video-1 " "$1"' _ "$W/human-list.out"

t0=$(date +%s)
run delete --db "$DB" --control "$W/none.sock" group delete keyid:control-room
t1=$(date +%s)
check "group delete keyid:control-room exits 0" test "$rc" -eq 0
run json-list2 --db "$DB" --json group list
run show-deleted --db "$DB" group show keyid:control-room
pyck "after group delete: group list no longer shows it, group show fails" <<'EOF'
names = sorted(g['group'] for g in load('json-list2.out'))
before = load('groups-before-delete.json')
assert names == [n for n in before if n != 'keyid:control-room'], (before, names)
EOF
check "group show of the deleted group: exit 4 ($rc)" test "$rc" -eq 4
run delete-again --db "$DB" group delete keyid:control-room
check "group delete of a group that does not exist: exit 4 ($rc), one line" \
	bash -c '[ "$1" -eq 4 ] && [ "$(wc -l <"$2")" -eq 1 ]' _ "$rc" "$W/delete-again.err"
sqlite3 -json "$DB" 'SELECT at, who, action, detail FROM audit ORDER BY id' >"$W/audit.json"
T0=$t0 T1=$t1 pyck "audit log: who/when/what of init, every load (with its file) and the delete; nothing for refused or unchanged loads" <<'EOF'
rows = load('audit.json')
acts = [(r['action'], r['detail'].split(' ')[0]) for r in rows]
loaded = sorted(load('groups-before-delete.json'))
assert acts[0] == ('identity set', 'fqdn:gcks.example'), acts
assert sorted(acts[1:-1]) == [('policy load', n) for n in loaded], acts
assert acts[-1] == ('group delete', 'keyid:control-room'), acts
for r in rows:
    assert r['who'] == actor() and 'gk-spoofed' not in r['who'], (r, actor())
    assert isinstance(r['at'], int) and r['at'] > 1_600_000_000, r
(v,) = [r for r in rows if r['action'] == 'policy load' and r['detail'].startswith('keyid:video-1 ')]
assert 'video-multicast.yaml' in v['detail'], v
d = rows[-1]
assert int(os.environ['T0']) <= d['at'] <= int(os.environ['T1']), (d, os.environ['T0'], os.environ['T1'])
EOF

# =================================================================================
# 7. gcksd: control socket, status, a policy load picked up without restart, rekey
# =================================================================================
# start_gcksd DB CTL LOG: sets $port and $gpid; retries when the chosen port was taken meanwhile.
start_gcksd() {
	local db=$1 ctl=$2 log=$3
	for _ in 1 2 3 4 5; do
		port=$(free_port)
		"$GCKSD" --db "$db" --listen "127.0.0.1:$port" --control "$ctl" --foreground \
			--log-level debug 2>"$log" &
		gpid=$!
		pids+=("$gpid")
		for _ in $(seq 150); do
			grep -q 'gcksd ready' "$log" && return 0
			kill -0 "$gpid" 2>/dev/null || break
			sleep 0.1
		done
		kill "$gpid" 2>/dev/null || true
		wait "$gpid" 2>/dev/null || true
		grep -qi 'in use' "$log" || { cat "$log"; return 1; }
	done
	return 1
}
# gm NAME MEMBER: gmd --once --json for MEMBER (m1..m4) to keyid:ctl-test; $W/gm/NAME.json, .log, .rc
mkdir -p "$W/gm" "$W/keys-ctl"
for m in m1 m2 m3 m4; do
	(umask 077 && python3 -c 'import os; print("0x" + os.urandom(32).hex())' >"$W/keys-ctl/$m.psk")
done
gm() {
	local rc=0
	timeout 40 "$GMD" --gcks "127.0.0.1:$port" --once --json --id "keyid:$2" \
		--psk-file "$W/keys-ctl/$2.psk" --group keyid:ctl-test >"$W/gm/$1.json" 2>"$W/gm/$1.log" || rc=$?
	echo "$rc" >"$W/gm/$1.rc"
}
# policy VERSION: the test group in one of two versions that differ in many fields at once:
# SA name, cipher, traffic selectors, lifetime, and the Rekey SA's key wrap, address and port.
# (AES-GCM-16 and -12 with 128-bit keys: keys of the same length, so a key made for one version
# would fit the other; gmd offers both by default.)
policy() {
	local name encr dst ports life kw raddr rport
	if [ "$1" = A ]; then
		name=video-a encr=aes-gcm-16 dst=239.192.10.1 ports=5004 life=1h kw=kw-5649-256 raddr=239.192.0.10 rport=848
	else
		name=video-b encr=aes-gcm-12 dst=239.192.20.2 ports=6000-6001 life=2h kw=kw-5649-128 raddr=239.192.0.20 rport=1848
	fi
	cat <<EOF
id: keyid:ctl-test
ike-idle-timeout: 10s
rekey:
  transport: multicast
  key-wrap: $kw
  address: $raddr
  port: $rport
  copies: 1
sas:
  - name: $name
    encryption: $encr
    key-length: 128
    source: 192.0.2.0/24
    destination: $dst
    ip-protocol: udp
    ports: $ports
    lifetime: $life
members:
EOF
	for m in m1 m2 m3 m4; do
		printf '  - id: keyid:%s\n    psk-file: keys-ctl/%s.psk\n' "$m" "$m"
	done
}
policy A >"$W/ctl-A.yaml"
policy B >"$W/ctl-B.yaml"
DB2=$W/gcksd.db CTL=$W/gcksd.sock
"$GCKSCTL" --db "$DB2" init --id fqdn:gcks.example >/dev/null 2>>"$W/gcksctl.log"
run load-A --db "$DB2" --control "$CTL" policy load "$W/ctl-A.yaml"
check "policy load of the test group (version A) before gcksd starts" test "$rc" -eq 0
# the most SAs a group may have (15 and the Rekey SA): gcksd holds them all
{
	printf 'id: keyid:ctl-max\nrekey:\n  transport: multicast\n  key-wrap: kw-5649-256\n  address: 239.192.0.99\nsas:\n'
	for i in $(seq 1 15); do printf '  - name: s%d\n    destination: 239.192.99.%d\n' "$i" "$i"; done
} >"$W/ctl-max.yaml"
run load-max --db "$DB2" --control "$CTL" policy load "$W/ctl-max.yaml"
check "policy load of a group with 15 SAs and a Rekey SA (the most allowed)" test "$rc" -eq 0
if ! start_gcksd "$DB2" "$CTL" "$W/gcksd.log"; then
	not_ok "gcksd starts on loopback"
	exit 1
fi
ok "gcksd starts on 127.0.0.1:$port with --control"
check "control socket is a socket of mode 0660" \
	bash -c '[ -S "$1" ] && m=$(stat -c %a "$1") && echo "mode $m" && [ "$m" = 660 ]' _ "$CTL"

gm first m1
run status1 --db "$DB2" --control "$CTL" --json status
check "--json status exits 0" test "$rc" -eq 0
pyck "status: uptime, the groups (one registered member; 16 SAs of ctl-max), SAs with remaining lifetime" <<'EOF'
assert load('gm/first.rc') == 0, text('gm/first.log')
st = load('status1.out')
assert st['ok'] is True and isinstance(st['uptime'], int) and 0 <= st['uptime'] < 600, st
(g,) = [g for g in st['groups'] if g['group'] == 'keyid:ctl-test']
assert g['members'] == 1 and g['rekey'] == 'multicast', g
assert g['rekey_fragmentation'] == 'allowed', g  # gmd announces IKE fragmentation
protos = sorted(s['protocol'] for s in g['sas'])
assert protos == ['ESP', 'GIKE_UPDATE'], g
esp = [s for s in g['sas'] if s['protocol'] == 'ESP'][0]
assert esp['name'] == 'video-a', esp
assert 3000 < esp['remaining_lifetime'] <= 3600, esp
kek = [s for s in g['sas'] if s['protocol'] == 'GIKE_UPDATE'][0]
assert 80000 < kek['remaining_lifetime'] <= 86400, kek
(mx,) = [g for g in st['groups'] if g['group'] == 'keyid:ctl-max']
assert len(mx['sas']) == 16 and all(s['remaining_lifetime'] > 0 for s in mx['sas']), mx
mine = load('gm/first.json')['groups'][0]
assert [s['spi'] for s in mine['sas']] == [esp['spi']], (mine['sas'], esp)
EOF

run members1 --db "$DB2" --json member list keyid:ctl-test
pyck "member list: the member registered, with the IKE fragmentation its IKE_SA_INIT announced" <<'EOF'
(m,) = load('members1.out')
assert m['ike_fragmentation'] is True and m['role'] == 'receiver', m
EOF

run load-B --db "$DB2" --control "$CTL" policy load "$W/ctl-B.yaml"
check "policy load of version B with gcksd running: loaded, gcksd says it reloaded" \
	bash -c '[ "$1" -eq 0 ] && grep -q "^keyid:ctl-test: changed: " "$2" && grep -qx "gcksd: policies reloaded" "$2"' \
	_ "$rc" "$W/load-B.out"
gm second m2
run status2 --db "$DB2" --control "$CTL" --json status
pyck "without restart: status and a new registration show version B's SA" <<'EOF'
assert load('gm/second.rc') == 0, text('gm/second.log')
st = load('status2.out')
(g,) = [g for g in st['groups'] if g['group'] == 'keyid:ctl-test']
esp = [s for s in g['sas'] if s['protocol'] == 'ESP']
assert [s['name'] for s in esp] == ['video-b'], g
assert 6000 < esp[0]['remaining_lifetime'] <= 7200, esp
(sa,) = [s for s in load('gm/second.json')['groups'][0]['sas'] if s['protocol'] == 'ESP']
assert sa['spi'] == esp[0]['spi'] and sa['encryption'] == 'AES_GCM_12', sa
assert sa['destination']['address'] == '239.192.20.2/32', sa
EOF
run status-table --db "$DB2" --control "$CTL" status
pyck "status without --json: a table for people, one block per group with its SAs and remaining lifetimes" <<'EOF'
t = text('status-table.out')
lines = t.splitlines()
assert lines[0].startswith('gcksd up ') and 'IKE SAs' in lines[0] and 'registration' in lines[0], lines[0]
i = lines.index([l for l in lines if l.startswith('keyid:ctl-test  ')][0])
assert 'rekey multicast' in lines[i] and 'members 2' in lines[i], lines[i]
assert lines[i].endswith('; GSA_REKEY fragmented above 1280 octets'), lines[i]
import re
assert re.fullmatch(r'  last rekey: none since gcksd started; next in \d+h\d\dm \(lifetime\)', lines[i + 1]) or \
    re.fullmatch(r'  last rekey \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(.+\): GSA_REKEY message \d+, 1 copy; next in \d+h\d\dm \(lifetime\)', lines[i + 1]), lines[i + 1]
assert re.fullmatch(r'  registrations \d+, refused \d+; GSA_REKEY messages \d+, copies \d+', lines[i + 2]), lines[i + 2]
assert lines[i + 3].split() == ['SA', 'PROTOCOL', 'SPI', 'REMAINING', 'LIFETIME'], lines[i + 3]
rows = [l.split() for l in lines[i + 4:i + 6]]
assert rows[0][:2] == ['video-b', 'ESP'] and len(rows[0][2]) == 8 and rows[0][3].endswith('m'), rows
assert rows[1][:3] == ['(rekey', 'SA)', 'GIKE_UPDATE'] and len(rows[1][3]) == 32, rows
assert '{' not in t, t
EOF
run rekey-human --db "$DB2" --control "$CTL" rekey keyid:ctl-test
check "rekey without --json: exit 0, one line of text saying what was sent" \
	bash -c '[ "$1" -eq 0 ] && [ "$(wc -l <"$2")" -eq 1 ] && grep -q "^keyid:ctl-test rekeyed (GSA_REKEY)$" "$2" || { cat "$2"; exit 1; }' \
	_ "$rc" "$W/rekey-human.out"
run rekey --db "$DB2" --control "$CTL" --json rekey keyid:ctl-test
pyck "rekey keyid:ctl-test: exit 0, the answer is {\"ok\": true, \"message\": ...}" <<'EOF'
a = load('rekey.out')
assert a['ok'] is True and isinstance(a['message'], str) and a['message'], a
EOF
check "(rekey exit code 0)" test "$rc" -eq 0
run rekey-none --db "$DB2" --control "$CTL" rekey keyid:no-such-group
check "rekey of an unknown group: exit 4 ($rc), one line on stderr" \
	bash -c '[ "$1" -eq 4 ] && [ "$(wc -l <"$2")" -eq 1 ] || { cat "$2"; exit 1; }' _ "$rc" "$W/rekey-none.err"
run audit-json --db "$DB2" --json audit 3
run audit-table --db "$DB2" audit
pyck "gcksctl audit: the rekeys asked over the control socket, with the asking user, newest last; a table without --json" <<'EOF'
rows = load('audit-json.out')
assert len(rows) == 3, rows
assert [r['action'] for r in rows[-2:]] == ['rekey', 'rekey'], rows
me = pwd.getpwuid(os.getuid()).pw_name
assert all(r['who'].startswith(me + ' (pid ') for r in rows[-2:]), rows
assert rows[-1]['detail'] == 'keyid:ctl-test rekeyed (GSA_REKEY)', rows
t = text('audit-table.out').splitlines()
assert t[0].split() == ['WHEN', 'WHO', 'ACTION', 'DETAIL'], t[0]
assert 'policy load' in text('audit-table.out') and t[-1].endswith('keyid:ctl-test rekeyed (GSA_REKEY)'), t
EOF

# =================================================================================
# 8. concurrent policy loads while members register: never half a policy
# =================================================================================
run load-A2 --db "$DB2" --control "$CTL" policy load "$W/ctl-A.yaml"
check "(back to version A)" test "$rc" -eq 0
# Two admins load at the same time (one starting with B, the other with A), so that a load can
# commit while gcksd is re-reading the policy after the other one; three members register all
# along. GK_CONC_LOADS / GK_CONC_REGS make it longer for stress runs.
LOADS=${GK_CONC_LOADS:-5} REGS=${GK_CONC_REGS:-10} REGS_MAX=${GK_CONC_REGS_MAX:-60}
export LOADS REGS REGS_MAX
# A loader alternates A and B at least LOADS times and goes on until the registrations are over,
# so that they see both versions however the machine schedules the processes.
loader() { # NAME FIRST-VERSION
	local i=0 v=$2
	while [ "$i" -lt "$LOADS" ] || [ ! -e "$W/conc-done" ]; do
		i=$((i + 1))
		"$GCKSCTL" --db "$DB2" --control "$CTL" policy load "$W/ctl-$v.yaml" >"$W/conc-load-$1-$i.out" 2>&1
		echo "$?" >"$W/conc-load-$1-$i.rc"
		if [ "$v" = A ]; then v=B; else v=A; fi
		sleep 0.0$((RANDOM % 10))
	done
}
# A worker registers REGS times, and goes on (up to REGS_MAX) until the registrations have seen
# both versions: a fixed count alone can end within one or two loads when loads are slow (each
# commits to the database and gcksd re-reads it, registrations waiting meanwhile), and then every
# registration sees the same version. Which version a registration got: its ESP SA's destination.
worker() { # MEMBER
	local i=0
	while [ "$i" -lt "$REGS" ] || { [ "$i" -lt "$REGS_MAX" ] && ! { [ -e "$W/conc-seen-A" ] && [ -e "$W/conc-seen-B" ]; }; }; do
		i=$((i + 1))
		gm "conc-$1-$i" "$1"
		grep -q '"address":"239.192.10.1/32"' "$W/gm/conc-$1-$i.json" && touch "$W/conc-seen-A"
		grep -q '"address":"239.192.20.2/32"' "$W/gm/conc-$1-$i.json" && touch "$W/conc-seen-B"
	done
	echo "$i" >"$W/conc-regs-$1"
}
lpids=() wpids=()
loader l1 B &
lpids+=($!)
loader l2 A &
lpids+=($!)
for m in m1 m2 m3; do
	worker "$m" &
	wpids+=($!)
done
pids+=("${lpids[@]}" "${wpids[@]}")
wait "${wpids[@]}" || true
touch "$W/conc-done"
wait "${lpids[@]}" || true
run load-final --db "$DB2" --control "$CTL" policy load "$W/ctl-B.yaml"
gm conc-final m4   # after a last load (version B), alone
pyck "concurrent policy loads (two admins, A and B alternating, at least $LOADS each) all succeed and reach gcksd" <<'EOF'
import glob
for l in ('l1', 'l2'):
    n = len(glob.glob(f'{W}/conc-load-{l}-*.rc'))
    assert n >= int(os.environ['LOADS']), (l, n)
    for i in range(1, n + 1):
        rc, out = text(f'conc-load-{l}-{i}.rc').strip(), text(f'conc-load-{l}-{i}.out')
        assert rc == '0', (l, i, out)
        assert 'gcksd: policies reloaded' in out, (l, i, out)
        assert 'keyid:ctl-test: changed: ' in out or 'keyid:ctl-test: unchanged' in out, (l, i, out)
EOF
pyck "$((3 * REGS)) or more registrations during the loads: none fails, each sees exactly version A or B (never a mix)" <<'EOF'
A = dict(encryption='AES_GCM_16', key_length=128, dst='239.192.10.1/32', ports=(5004, 5004),
         life=(1, 3600), kwa='KW_5649_256', raddr='239.192.0.10/32', rport=848)
B = dict(encryption='AES_GCM_12', key_length=128, dst='239.192.20.2/32', ports=(6000, 6001),
         life=(3601, 7200), kwa='KW_5649_128', raddr='239.192.0.20/32', rport=1848)
def seen(name):
    assert load(f'gm/{name}.rc') == 0, f'{name}: exit {load(f"gm/{name}.rc")}: {text(f"gm/{name}.log")[-2000:]}'
    (g,) = load(f'gm/{name}.json')['groups']
    assert g['status'] == 'registered', (name, g)
    esp = [s for s in g['sas'] if s['protocol'] == 'ESP']
    assert len(esp) == 1, (name, g['sas'])
    s, r = esp[0], g['rekey_sa']
    return dict(encryption=s['encryption'], key_length=s['key_length'], dst=s['destination']['address'],
                ports=(s['destination']['port_low'], s['destination']['port_high']), life=s['lifetime'],
                kwa=r['key_wrap'], raddr=r['destination']['address'], rport=r['destination']['port_low'])
def matches(got, v):
    return all(got[k] == v[k] for k in v if k != 'life') and v['life'][0] <= got['life'] <= v['life'][1]
count = {'A': 0, 'B': 0}
for m in ('m1', 'm2', 'm3'):
    n = int(text(f'conc-regs-{m}'))
    assert int(os.environ['REGS']) <= n <= int(os.environ['REGS_MAX']), (m, n)
    for i in range(1, n + 1):
        got = seen(f'conc-{m}-{i}')
        which = [n for n, v in (('A', A), ('B', B)) if matches(got, v)]
        assert len(which) == 1, f'conc-{m}-{i}: a mix of A and B: {got}'
        count[which[0]] += 1
json.dump(count, open(f'{W}/conc-count.json', 'w'))
final = seen('conc-final')
assert matches(final, B), f'after a last load of B, alone: {final}'
EOF
pyck "the registrations saw both versions (A and B), within $REGS_MAX registrations per member" <<'EOF'
c = load('conc-count.json')
assert c['A'] > 0 and c['B'] > 0, c
EOF
echo "# versions seen by the concurrent registrations: $(cat "$W/conc-count.json" 2>/dev/null)"

rc=0
kill -TERM "$gpid"
wait "$gpid" || rc=$?
check "gcksd exits with status 0 on SIGTERM (got $rc)" test "$rc" -eq 0
sanitizer_check "no sanitizer report (gcksd, gcksctl, gmd)" "$W"/*.log "$W"/gm/*.log
[ "$fails" -eq 0 ]
