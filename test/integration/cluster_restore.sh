#!/usr/bin/env bash
# A PostgreSQL store put back from a pg_dump never issues again what was issued after the dump
# (gcksctl restored, gcksctl(8)): two gcksd (s1, s2) on one throwaway PostgreSQL
# (test/pg_cluster.sh) send GSA_REKEYs of a multicast group whose TEK is replaced every ~6 s
# under one Rekey SA; the database is dumped (pg_dump -Fc), another GSA_REKEY follows, every
# server is stopped and the dump restored (pg_restore --clean):
#   - gcksctl restored refuses (exit 6, the server named) while a server's heartbeat is fresh;
#   - then it marks the epoch (exit 0): both servers start again, the group's leader alone
#     excludes every member once with a Delete whose Rekey SA Message ID is 2^24 beyond the
#     dump's, above every Message ID sent before (none sent twice under that Rekey SA); the
#     rekeys go on under the new Rekey SA; the audit log has "database restore" and "restore
#     excluded".
# Needs root (gcksd hands its files to its account), PostgreSQL (postgresql package), python3
# and openssl; skips otherwise (a failure with GK_REQUIRE_ALL=1).
set -uo pipefail

B=${GK_BUILDDIR:-$(pwd)}
here=$(cd "$(dirname "$0")" && pwd)
GCKSD=$B/gcks/gcksd GCKSCTL=$B/gcks/gcksctl
. "$here/tap.sh"
. "$here/../pg_cluster.sh"
grep -q '^#define HAVE_POSTGRESQL 1' "$B/config.h" 2>/dev/null ||
	skip "restore epoch: this build has no PostgreSQL backend (configure --with-postgresql)"
pg_installed || skip "restore epoch: PostgreSQL is not installed (apt-get install postgresql)"
[ "$(id -u)" = 0 ] || skip "restore epoch: needs root (gcksd runs as its own account)"
for p in "$GCKSD" "$GCKSCTL"; do
	[ -x "$p" ] || { echo "not ok - $p is not built"; exit 99; }
done
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
unset GIKEV2_DB GIKEV2_CONTROL JOURNAL_STREAM

W=$(mktemp -d "${TMPDIR:-/tmp}/gk-restore.XXXXXX")
chmod 755 "$W"
declare -A gpid port
fails=0
cleanup() {
	local p
	for p in "${gpid[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${gpid[@]}"; do wait "$p" 2>/dev/null; done
	pg_cluster_stop
	[ "$fails" -ne 0 ] && show_logs "$W"/*.log "$W"/*.out
	rm -rf "$W"
}
trap cleanup EXIT

pg_cluster_start || { echo "not ok - the throwaway PostgreSQL cluster did not start"; exit 1; }
DB=$PG_LOCATOR
for s in s1 s2; do
	port[$s]=$(free_port)
done

mkdir -p "$W/keys"
(umask 077 && printf '0x%s\n' "$(openssl rand -hex 32)" >"$W/keys/m1.psk")
cat >"$W/policy.yaml" <<'EOF'
groups:
  - id: keyid:mc-r
    rekey-margin: 90%
    rekey:
      transport: multicast
      key-wrap: kw-5649-256
      address: 239.192.5.9
      port: 848
      ttl: 1
      lifetime: 30d
    sas:
      - name: video
        destination: 239.192.5.2
        lifetime: 1m
    members:
      - id: fqdn:m1.example.net
        psk-file: keys/m1.psk
EOF
check "gcksctl init and policy load on PostgreSQL" \
	sh -c "'$GCKSCTL' --db '$DB' init --id fqdn:gcks.example >'$W/init.out' 2>&1 && '$GCKSCTL' --db '$DB' policy load '$W/policy.yaml' >>'$W/init.out' 2>&1"

start_gcksd() { # start_gcksd NAME: waits for "gcksd ready" in NAME.log
	local log=$W/$1.log n
	n=$(grep -c 'gcksd ready' "$log" 2>/dev/null)
	"$GCKSD" --db "$DB" --listen "127.0.0.1:${port[$1]}" --control "$W/$1.sock" --server-id "$1" --foreground \
		--log-level info 2>>"$log" &
	gpid[$1]=$!
	for _ in $(seq 150); do
		[ "$(grep -c 'gcksd ready' "$log" 2>/dev/null)" -gt "${n:-0}" ] && return 0
		kill -0 "${gpid[$1]}" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
stop_gcksd() { # stop_gcksd NAME: SIGTERM, gone within 10 s
	local p=${gpid[$1]}
	kill -TERM "$p" 2>/dev/null
	wait_for 10 sh -c "! kill -0 $p 2>/dev/null" && wait "$p" 2>/dev/null
	unset "gpid[$1]"
}
# msgids: every "GSA_REKEY message N" of keyid:mc-r in the servers' logs, one a line, in order
# of time (all under the one Rekey SA the group keeps: its lifetime is 30 days)
msgids() { cat "$W"/s?.log | sort | sed -n 's/.*group keyid:mc-r [^:]*): GSA_REKEY message \([0-9]*\).*/\1/p'; }
more_than() { [ "$(msgids | wc -l)" -gt "$1" ]; }
rekeyed() { # rekeyed: waits 15 s at most for the next lifetime GSA_REKEY
	local n
	n=$(msgids | wc -l)
	wait_for 15 more_than "$n"
}
# under the restored Rekey SA: every Message ID up to the exclusion (which deletes that SA)
no_twice() { [ -z "$(msgids | sed '/^'"$first"'$/q' | sort | uniq -d)" ] && msgids | grep -qx "$first"; }
next_is() { rekeyed && [ "$(msgids | tail -n 1)" -eq "$1" ]; }
restored_ok() {
	"$GCKSCTL" --db "$DB" restored "$W/gikev2.dump" >"$W/restored2.out" 2>&1 &&
		grep -q "restored from $W/gikev2.dump: 1 group; when gcksd starts, every member is excluded" "$W/restored2.out"
}

start_gcksd s1 && start_gcksd s2
check "two gcksd on one PostgreSQL database" test -n "${gpid[s2]:-}"
check "a GSA_REKEY of keyid:mc-r (lifetime)" rekeyed
"$PG_BIN/pg_dump" -h 127.0.0.1 -p "$PG_PORT" -U postgres -Fc -f "$W/gikev2.dump" gikev2 2>"$W/dump.out"
check "pg_dump of the database" test -s "$W/gikev2.dump"
check "another GSA_REKEY after the dump" rekeyed
sent_max=$(msgids | sort -n | tail -n 1)

rc=0
"$GCKSCTL" --db "$DB" restored "$W/gikev2.dump" >"$W/restored1.out" 2>&1 || rc=$?
check "gcksctl restored while the servers run: exit 6, a running server named" \
	sh -c "[ $rc = 6 ] && grep -qE 'gcksd s[12] is running on the database' '$W/restored1.out'"
stop_gcksd s1
stop_gcksd s2
"$PG_BIN/pg_restore" -h 127.0.0.1 -p "$PG_PORT" -U postgres --clean --if-exists --single-transaction \
	-d gikev2 "$W/gikev2.dump" >"$W/pg_restore.out" 2>&1
check "pg_restore --clean of the dump" test "$?" = 0
dumped=$(pg_psql gikev2 "SELECT c.value FROM counters c JOIN groups g ON g.id = c.group_id WHERE c.name = 'rekey_msgid'")
check "gcksctl restored once the servers' heartbeats are stale: exit 0 within 10 s, 1 group marked" \
	wait_for 10 restored_ok
check "the message shows the connection string without secrets, the dump's name" grep -q "postgresql://postgres@127.0.0.1:$PG_PORT/gikev2" "$W/restored2.out"

start_gcksd s1 && start_gcksd s2
check "both servers start again on the restored database" test -n "${gpid[s2]:-}"
excl=$(cat "$W"/s?.log | grep -c 'keyid:mc-r: restored from a backup: every member excluded')
check "one server (the group's leader) excluded keyid:mc-r once (got $excl)" test "$excl" = 1
first=$(cat "$W"/s?.log | sed -n 's/.*group keyid:mc-r excluded every member ([^:]*): GSA_REKEY message \([0-9]*\).*/\1/p' | tail -n 1)
check "its Delete's Message ID ($first) is the dump's next ($dumped) plus 2^24, above every one sent ($sent_max)" \
	sh -c "[ -n '$first' ] && [ -n '$dumped' ] && [ '$first' -eq \$(($dumped + 16777216)) ] && [ '$first' -gt '$sent_max' ]"
check "no Message ID was sent twice under the restored Rekey SA" no_twice
check "rekeys go on under the new Rekey SA the exclusion made (Message ID 0)" next_is 0
"$GCKSCTL" --db "$DB" audit 50 >"$W/audit.out" 2>&1
check "the audit log: database restore from the dump, restore excluded" \
	sh -c "grep -q 'database restore' '$W/audit.out' && grep -q 'restore excluded' '$W/audit.out'"
sanitizer_check "no sanitizer report in the logs" "$W"/*.log
[ "$fails" -eq 0 ]
