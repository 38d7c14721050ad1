#!/usr/bin/env bash
# The unit tests that open a store on the PostgreSQL backend: the storage tests
# (test/unit/check_storage) and the GCKS's registration and LKH tests over a fake network
# (check_registration, check_gcks_lkh, through test/unit/regfix.c). A throwaway cluster
# (test/pg_cluster.sh), one database per test. Skips (fails with GK_REQUIRE_ALL=1) when
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
rc=0
for t in check_storage check_registration check_gcks_lkh; do
	GK_TEST_PG=$PG_URL "${GK_BUILDDIR:-.}/test/unit/$t" || rc=1
done
exit $rc
