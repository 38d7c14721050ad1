/* The PostgreSQL backend of the store (gcks/store/store_pg*.c), built when configure finds libpq
 * (--with-postgresql). gk_store_open() hands it postgres:// and postgresql:// locators. */
#ifndef GK_STORE_PG_H
#define GK_STORE_PG_H

#include "gcks/storage.h"

/* Connects with the libpq connection string locator and migrates the schema (create: an empty
 * database gets the schema; else an empty one is GK_E_NOT_FOUND). err never holds the locator,
 * which may carry a password. */
/* Why gcksctl backup and restore refuse a PostgreSQL store. */
#define GK_STORE_PG_BACKUP_MSG "gcksctl backup and restore handle SQLite stores only: back up a PostgreSQL " \
	"store with pg_dump and restore it with pg_restore, then run gcksctl restored"

gk_status gk_store_pg_open(const char *locator, bool create, gk_store **out, char *err, size_t errlen);

#endif
