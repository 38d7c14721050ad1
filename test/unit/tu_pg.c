/* Test databases on a PostgreSQL server (tu_pg.h). */
#include "config.h"
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <check.h>
#include "tu_pg.h"
#ifdef HAVE_POSTGRESQL
#include <libpq-fe.h>

static char dbname[64];

/* Runs sql on database name; the result is the caller's. */
static PGresult *exec_on(const char *name, const char *sql)
{
	char loc[512];
	snprintf(loc, sizeof(loc), "%s/%s", tu_pg_url(), name);
	PGconn *c = PQconnectdb(loc);
	ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
	PGresult *r = PQexec(c, sql);
	ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", sql,
		      PQresultErrorMessage(r));
	PQfinish(c);
	return r;
}

const char *tu_pg_url(void)
{
	const char *u = getenv("GK_TEST_PG");
	return u && *u ? u : NULL;
}

bool tu_pg_db(char *loc, size_t len)
{
	char sql[128];
	if (!tu_pg_url())
		return false;
	snprintf(dbname, sizeof(dbname), "gk_test_%ld", (long)getpid());
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", dbname);
	PQclear(exec_on("postgres", sql));
	snprintf(loc, len, "%s/%s", tu_pg_url(), dbname);
	return true;
}

void tu_pg_db_drop(void)
{
	char sql[128];
	if (!dbname[0])
		return;
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", dbname);
	PQclear(exec_on("postgres", sql));
	dbname[0] = '\0';
}

void tu_pg_exec(const char *sql)
{
	PQclear(exec_on(dbname, sql));
}

int64_t tu_pg_int(const char *sql)
{
	PGresult *r = exec_on(dbname, sql);
	ck_assert_int_eq(PQntuples(r), 1);
	int64_t v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return v;
}

/* One connection kept open, for a transaction another connection must wait for. */
static PGconn *held;

void tu_pg_hold(const char *sql)
{
	char loc[512];
	ck_assert_ptr_null(held);
	snprintf(loc, sizeof(loc), "%s/%s", tu_pg_url(), dbname);
	held = PQconnectdb(loc);
	ck_assert_msg(PQstatus(held) == CONNECTION_OK, "%s", PQerrorMessage(held));
	PGresult *r = PQexec(held, sql);
	ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s: %s", sql, PQresultErrorMessage(r));
	PQclear(r);
}

void tu_pg_release(const char *sql)
{
	ck_assert_ptr_nonnull(held);
	PGresult *r = PQexec(held, sql);
	ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s: %s", sql, PQresultErrorMessage(r));
	PQclear(r);
	PQfinish(held);
	held = NULL;
}
#else
const char *tu_pg_url(void)
{
	return NULL;
}

bool tu_pg_db(char *loc, size_t len)
{
	(void)loc;
	(void)len;
	return false;
}

void tu_pg_db_drop(void)
{
}

void tu_pg_exec(const char *sql)
{
	ck_abort_msg("no PostgreSQL: %s", sql);
}

int64_t tu_pg_int(const char *sql)
{
	ck_abort_msg("no PostgreSQL: %s", sql);
	return 0;
}
void tu_pg_hold(const char *sql)
{
	ck_abort_msg("no PostgreSQL: %s", sql);
}

void tu_pg_release(const char *sql)
{
	ck_abort_msg("no PostgreSQL: %s", sql);
}
#endif
