#!/usr/bin/env bash
# gcksd and gcksctl on a PostgreSQL store, end to end (the real programs on loopback, a
# throwaway cluster from test/pg_cluster.sh): gcksctl init and policy load on
# postgresql://..., gcksd --db postgresql://..., two gmd members register to an inband group
# and a `gcksctl rekey` reaches both by GSA_INBAND_REKEY; the database holds their registrations
# and no SPI twice; gcksctl backup and restore refuse the PostgreSQL store and name pg_dump; a
# wrong password or an absent server is a clear failure that never shows the password.
# Needs python3, openssl and PostgreSQL; skips without PostgreSQL or without the backend in this
# build (fails instead with GK_REQUIRE_ALL=1).
set -uo pipefail

B=${GK_BUILDDIR:-$(pwd)}
GCKSD=$B/gcks/gcksd GCKSCTL=$B/gcks/gcksctl GMD=$B/member/gmd
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.sh"
. "$here/../pg_cluster.sh"
for p in "$GCKSD" "$GCKSCTL" "$GMD"; do
	[ -x "$p" ] || { echo "not ok - $p is not built"; exit 99; }
done
grep -q '^#define HAVE_POSTGRESQL 1' "$B/config.h" 2>/dev/null ||
	skip "gcksd on PostgreSQL: this build has no PostgreSQL backend (configure --with-postgresql, libpq-dev)"
pg_installed || skip "gcksd on PostgreSQL: PostgreSQL is not installed (apt-get install postgresql)"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

W=$(mktemp -d "${TMPDIR:-/tmp}/gk-pgd.XXXXXX")
export W
gpid= m1= m2=
fails=0
cleanup() {
	local p
	for p in $gpid $m1 $m2; do kill "$p" 2>/dev/null || true; done
	for p in $gpid $m1 $m2; do wait "$p" 2>/dev/null || true; done
	if [ "$fails" -ne 0 ]; then
		for f in "$W"/*.log "$W"/*.json; do
			[ -f "$f" ] || continue
			echo "# ---- $(basename "$f") (last 30 lines)"
			tail -n 30 "$f" | sed 's/^/# /'
		done
	fi
	pg_cluster_stop
	rm -rf "$W"
}
trap cleanup EXIT
pg_cluster_start || { echo "not ok - the throwaway PostgreSQL cluster did not start"; exit 1; }
DB=$PG_LOCATOR CTL=$W/ctl.sock

cat >"$W/ck.py" <<'EOF'
import json, os, sys, time
W = os.environ['W']
def events(m, kind=None):
    out = []
    with open(f'{W}/{m}.json') as f:
        for line in f:
            line = line.strip()
            if line:
                e = json.loads(line)
                if kind is None or e['event'] == kind:
                    out.append(e)
    return out
def wait(fn, timeout):
    end = time.time() + timeout
    while True:
        try:
            return fn()
        except AssertionError:
            if time.time() > end:
                raise
            time.sleep(0.1)
exec(compile(sys.stdin.read(), 'check', 'exec'))
EOF
pyck() { check "$1" python3 "$W/ck.py"; }

mkdir -p "$W/keys"
for m in m1 m2; do (umask 077 && printf '0x%s\n' "$(openssl rand -hex 32)" >"$W/keys/$m.psk"); done
cat >"$W/inband.yaml" <<'EOF'
groups:
  - id: keyid:pg-1
    rekey:
      transport: inband
    sas:
      - name: data
        protocol: esp
        encryption: aes-gcm-16
        key-length: 256
        destination: 239.192.4.1
        ip-protocol: udp
        ports: 7000
        lifetime: 1h
    members:
      - id: fqdn:m1.example.net
        psk-file: keys/m1.psk
      - id: fqdn:m2.example.net
        psk-file: keys/m2.psk
EOF

rc=0
"$GCKSCTL" --db "$DB" policy load "$W/inband.yaml" >"$W/noinit.out" 2>&1 || rc=$?
check "gcksctl on an empty PostgreSQL database: fails, says to run gcksctl init" \
	sh -c "[ $rc -ne 0 ] && grep -q 'gcksctl init' '$W/noinit.out'"
# the cluster trusts loopback: the password is not checked, only never shown
check "gcksctl init and policy load on postgresql://; init shows the connection string without its password" \
	sh -c "'$GCKSCTL' --db '${DB/postgres@/postgres:pw-n0t-shown@}' init --id fqdn:gcks.example >'$W/init.out' &&
	       grep -q 'postgres:\*\*\*@' '$W/init.out' && ! grep -q pw-n0t-shown '$W/init.out' &&
	       '$GCKSCTL' --db '$DB' policy load '$W/inband.yaml'"
schema=$(sed -n 's/^#define GK_SCHEMA_VERSION \([0-9]*\)$/\1/p' "$here/../../gcks/storage.h")
check "the schema is at version $schema (GK_SCHEMA_VERSION) in the database" \
	test "$(pg_psql gikev2 'SELECT version FROM gikev2_schema')" = "$schema"

port=$(python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$GCKSD" --db "$DB" --listen "127.0.0.1:$port" --control "$CTL" --foreground --log-level debug 2>"$W/gcksd.log" &
gpid=$!
for _ in $(seq 150); do
	grep -q 'gcksd ready' "$W/gcksd.log" && break
	kill -0 "$gpid" 2>/dev/null || break
	sleep 0.1
done
grep -q 'gcksd ready' "$W/gcksd.log" || { not_ok "gcksd --db postgresql://... starts"; exit 1; }
ok "gcksd --db postgresql://... starts on 127.0.0.1:$port"

for m in m1 m2; do
	"$GMD" --gcks "127.0.0.1:$port" --id "fqdn:$m.example.net" --psk-file "$W/keys/$m.psk" \
		--group keyid:pg-1 --json --sa-backend none >"$W/$m.json" 2>"$W/$m.log" &
	eval "$m=\$!"
done
pyck "both members register (one ESP SA each, the same)" <<'EOF'
def reg():
    for m in ('m1', 'm2'):
        assert events(m, 'registered'), f'{m} not registered yet'
wait(reg, 20)
a = [e['spi'] for e in events('m1', 'sa_added')]
b = [e['spi'] for e in events('m2', 'sa_added')]
assert len(a) == 1 and a == b, (a, b)
EOF
check "the database holds both registrations" \
	test "$(pg_psql gikev2 "SELECT string_agg(member, ',' ORDER BY member) FROM registrations")" = \
	"fqdn:m1.example.net,fqdn:m2.example.net"

rc=0
"$GCKSCTL" --control "$CTL" --json rekey keyid:pg-1 >"$W/rekey.out" 2>"$W/rekey.log" || rc=$?
check "gcksctl --json rekey keyid:pg-1 exits 0" test "$rc" -eq 0
pyck "the rekey reaches both members by GSA_INBAND_REKEY with a new SA" <<'EOF'
def got():
    for m in ('m1', 'm2'):
        assert events(m, 'inband_rekey'), f'no inband_rekey at {m} yet'
        assert len(events(m, 'sa_added')) == 2, events(m)
wait(got, 15)
EOF
check "the database: the old and the new key of the group, no SPI twice" \
	test "$(pg_psql gikev2 "SELECT count(*) || '/' || count(DISTINCT spi) FROM sa_keys")" = "2/2"

rc=0
"$GCKSCTL" --db "$DB" backup "$W/b.db" >"$W/backup.out" 2>&1 || rc=$?
check "gcksctl backup of a PostgreSQL store: exit 4, names pg_dump, writes nothing" \
	sh -c "[ $rc -eq 4 ] && grep -q pg_dump '$W/backup.out' && [ ! -e '$W/b.db' ]"
echo x >"$W/old.db"
rc=0
"$GCKSCTL" --db "$DB" restore "$W/old.db" >"$W/restore.out" 2>&1 || rc=$?
check "gcksctl restore into a PostgreSQL store: exit 4, names pg_restore" \
	sh -c "[ $rc -eq 4 ] && grep -q pg_restore '$W/restore.out'"

rc=0
"$GCKSCTL" --db "postgresql://gcks:n0t-th1s-pw@127.0.0.1:1/gikev2?connect_timeout=5" audit \
	>"$W/nosrv.out" 2>&1 || rc=$?
check "no server there: gcksctl fails, says it cannot connect, never shows the password" \
	sh -c "[ $rc -ne 0 ] && grep -q 'cannot connect' '$W/nosrv.out' && ! grep -q n0t-th1s-pw '$W/nosrv.out'"
sanitizer_check "no sanitizer report" "$W"/*.log
[ "$fails" -eq 0 ]
