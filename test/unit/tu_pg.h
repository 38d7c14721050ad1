/* Test databases on a PostgreSQL server (GK_TEST_PG=postgresql://USER@HOST:PORT, no database:
 * test/pg_cluster.sh starts a throwaway one), for the tests that open a store: with it set they
 * run on the PostgreSQL backend, one database per test process. */
#ifndef GK_TU_PG_H
#define GK_TU_PG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The server GK_TEST_PG names, NULL when unset or this build has no PostgreSQL backend. */
const char *tu_pg_url(void);
/* Makes a database for this process (gk_test_PID) and writes its locator to loc; false (loc
 * untouched) without a server. Fails the test when the server refuses. */
bool tu_pg_db(char *loc, size_t len);
/* Drops the database tu_pg_db made, if any. */
void tu_pg_db_drop(void);
/* On that database: runs sql; reads the one integer sql returns. */
void tu_pg_exec(const char *sql);
int64_t tu_pg_int(const char *sql);
/* On a connection of its own, kept open: runs sql (e.g. "BEGIN; INSERT ..."), which may leave
 * a transaction open; tu_pg_release runs its last statements (e.g. "COMMIT") and closes it. */
void tu_pg_hold(const char *sql);
void tu_pg_release(const char *sql);

#endif
