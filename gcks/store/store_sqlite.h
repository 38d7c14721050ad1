/* The SQLite backend of the store (the default): one database file, mode 0600, WAL, foreign
 * keys, busy timeout. Reached through gk_store_open(); see storage.h for the contract. */
#ifndef GK_STORE_SQLITE_H
#define GK_STORE_SQLITE_H

#include "gcks/storage.h"

/* Opens (create = make the file if missing, mode 0600) and migrates the database at path. */
gk_status gk_store_sqlite_open(const char *path, bool create, gk_store **out, gk_store_err *err);

#endif
