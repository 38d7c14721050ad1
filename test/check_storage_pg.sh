#!/usr/bin/env bash
# The storage unit tests (test/unit/check_storage) on the PostgreSQL backend: a throwaway
# cluster (test/pg_cluster.sh), one database per test. Skips (fails with GK_REQUIRE_ALL=1) when
# PostgreSQL is not installed or the build has no PostgreSQL backend.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/integration/tap.sh"
. "$here/pg_cluster.sh"
grep -q '^#define HAVE_POSTGRESQL 1' "${GK_BUILDDIR:-.}/config.h" 2>/dev/null ||
	skip "PostgreSQL store tests: this build has no PostgreSQL backend (configure --with-postgresql, libpq-dev)"
pg_installed || skip "PostgreSQL store tests: PostgreSQL is not installed (apt-get install postgresql)"
trap pg_cluster_stop EXIT
pg_cluster_start || { echo "not ok - the throwaway PostgreSQL cluster did not start"; exit 1; }
GK_TEST_PG=$PG_URL "${GK_BUILDDIR:-.}/test/unit/check_storage"
