# shellcheck shell=bash
# A throwaway PostgreSQL cluster for one test (sourced; shared/notes: initdb as postgres, a
# private socket directory owned by postgres, a random loopback port, stopped with -m immediate).
#
#   pg_cluster_start     starts it; sets PG_URL (postgresql://postgres@127.0.0.1:PORT, no
#                        database), PG_LOCATOR ($PG_URL/gikev2, created empty), PG_PORT, PG_DIR,
#                        PG_BIN; returns 77 when PostgreSQL is not installed, 1 when it fails
#   pg_cluster_stop      stops it and removes its directory (safe to call twice; call it from
#                        the test's EXIT trap)
#   pg_psql DB SQL       runs SQL on database DB (unaligned, tuples only) and prints the result
#
# fsync is off (PG_FSYNC=on for measurements): the cluster dies with the test, and it keeps
# each CREATE DATABASE fast. gikev2's own durability needs fsync on in production (README,
# "Several key servers").
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
PG_DIR=""

pg_installed() {
	[ -n "$PG_BIN" ] && [ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/pg_ctl" ] && getent passwd postgres >/dev/null
}

pg_as() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

pg_cluster_start() {
	pg_installed || return 77
	PG_DIR=$(mktemp -d /tmp/gk-pg-XXXXXX) || return 1
	chmod 755 "$PG_DIR"
	mkdir "$PG_DIR/data" "$PG_DIR/run"
	[ "$(id -u)" = 0 ] && chown postgres: "$PG_DIR/data" "$PG_DIR/run"
	pg_as "$PG_BIN/initdb" -D "$PG_DIR/data" -A trust -U postgres -E UTF8 --locale=C >"$PG_DIR/initdb.log" 2>&1 ||
		{ cat "$PG_DIR/initdb.log" >&2; return 1; }
	local try
	for try in 1 2 3 4 5; do
		PG_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
		if pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -w -t 60 -l "$PG_DIR/run/pg.log" \
			-o "-p $PG_PORT -k $PG_DIR/run -c listen_addresses=127.0.0.1 -c fsync=${PG_FSYNC:-off} -c max_connections=100" \
			start >/dev/null 2>&1; then
			PG_URL="postgresql://postgres@127.0.0.1:$PG_PORT"
			PG_LOCATOR="$PG_URL/gikev2"
			pg_as "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres gikev2 || return 1
			export PG_URL PG_LOCATOR PG_PORT PG_DIR
			return 0
		fi
		echo "# PostgreSQL did not start on port $PG_PORT (try $try):" >&2
		tail -n 5 "$PG_DIR/run/pg.log" >&2 2>/dev/null
	done
	return 1
}

pg_cluster_stop() {
	[ -n "$PG_DIR" ] && [ -d "$PG_DIR" ] || return 0
	pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" stop -m immediate >/dev/null 2>&1
	rm -rf "$PG_DIR"
	PG_DIR=""
}

pg_psql() {
	"$PG_BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d "$1" -c "$2"
}
