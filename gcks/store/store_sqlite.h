/* The SQLite backend of the store (the default): one database file, mode 0600, WAL, foreign
 * keys, busy timeout. Reached through gk_store_open(); see storage.h for the contract. */
#ifndef GK_STORE_SQLITE_H
#define GK_STORE_SQLITE_H

#include "gcks/storage.h"

/* Opens (create = make the file if missing, mode 0600) and migrates the database at path. */
gk_status gk_store_sqlite_open(const char *path, bool create, gk_store **out, char *err, size_t errlen);
/* Backups and restores (store_sqlite_backup.c), as gk_store_backup_* and gk_store_restore_*. */
gk_status gk_store_sqlite_check_file(const char *path, int *version, char *err, size_t errlen);
gk_status gk_store_sqlite_backup_save(const uint8_t *bytes, size_t len, const char *path, char *err, size_t errlen);
gk_status gk_store_sqlite_restore_stage(const char *backup, const char *path, char *staged, size_t len,
					int *version, char *err, size_t errlen);
gk_status gk_store_sqlite_restore_install(const char *staged, const char *path, char *err, size_t errlen);

#endif
