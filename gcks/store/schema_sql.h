/* The SQL schema steps compiled into gcksd and gcksctl. gcks/store/schema_sql.c is generated at
 * build time from schema/NNN_*.sql (see gcks/store/store.am), so the .sql files stay the single source.
 * Step i moves a database from user_version steps[i].version - 1 to steps[i].version. */
#ifndef GK_SCHEMA_SQL_H
#define GK_SCHEMA_SQL_H

#include <stddef.h>

typedef struct gk_schema_step {
	int version;
	const char *name;        /* file name, for messages */
	const char *sql;
} gk_schema_step;

extern const gk_schema_step gk_schema_steps[];
extern const size_t gk_schema_nsteps;
/* The same steps for PostgreSQL (schema/pg/NNN_*.sql, gcks/store/schema_pg_sql.c), built with
 * the PostgreSQL backend. */
extern const gk_schema_step gk_schema_pg_steps[];
extern const size_t gk_schema_pg_nsteps;

#endif
