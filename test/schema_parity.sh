#!/usr/bin/env bash
# The SQLite schema (schema/NNN_*.sql) and the PostgreSQL one (schema/pg/NNN_*.sql) are kept in
# step: the same steps (version numbers and names), and at the latest version the same tables
# with the same columns, read from each engine's catalog (PRAGMA table_info, information_schema).
# Needs sqlite3 and PostgreSQL (a throwaway cluster); skips without them (fails with
# GK_REQUIRE_ALL=1).
set -u
here=$(cd "$(dirname "$0")" && pwd)
src=${GK_SRCDIR:-$here/..}
. "$here/integration/tap.sh"
. "$here/pg_cluster.sh"
command -v sqlite3 >/dev/null || skip "schema parity: no sqlite3"
pg_installed || skip "schema parity: PostgreSQL is not installed (apt-get install postgresql)"
work=$(mktemp -d /tmp/gk-parity-XXXXXX)
W=$work
fails=0
trap 'pg_cluster_stop; rm -rf "$work"' EXIT
pg_cluster_start || { echo "not ok - the throwaway PostgreSQL cluster did not start"; exit 1; }

steps_sq=$(cd "$src/schema" && ls [0-9]*.sql)
steps_pg=$(cd "$src/schema/pg" && ls [0-9]*.sql)
check "the same schema steps for SQLite and PostgreSQL" test "$steps_sq" = "$steps_pg"

for f in $steps_sq; do cat "$src/schema/$f"; done | sqlite3 "$work/sq.db" || exit 1
for f in $steps_pg; do
	pg_psql gikev2 "$(cat "$src/schema/pg/$f")" >/dev/null || exit 1
done
latest=$(echo "$steps_sq" | tail -n 1 | sed 's/_.*//; s/^0*//')
want=$(sed -n 's/^#define GK_SCHEMA_VERSION \([0-9]*\).*/\1/p' "$src/gcks/storage.h")
check "the latest step is GK_SCHEMA_VERSION ($want)" test "$latest" = "$want"

sqlite3 "$work/sq.db" "SELECT m.name || '.' || p.name FROM sqlite_master m, pragma_table_info(m.name) p
	WHERE m.type = 'table' ORDER BY 1" | LC_ALL=C sort >"$work/sq.cols"
# gikev2_schema holds PostgreSQL's schema version (SQLite: PRAGMA user_version)
pg_psql gikev2 "SELECT table_name || '.' || column_name FROM information_schema.columns
	WHERE table_schema = 'public' AND table_name <> 'gikev2_schema'" | LC_ALL=C sort >"$work/pg.cols"
if diff -u "$work/sq.cols" "$work/pg.cols" >"$work/diff"; then
	ok "the same tables and columns ($(wc -l <"$work/sq.cols") columns)"
else
	not_ok "tables and columns differ (- SQLite, + PostgreSQL)"
	sed 's/^/# /' "$work/diff"
fi
[ "$fails" -eq 0 ]
