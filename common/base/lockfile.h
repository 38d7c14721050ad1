/* One daemon per resource: an exclusive flock(2) on a lock file next to it, held for the life of
 * the process (the descriptor is never closed before exit, and survives daemon(3)'s fork: the
 * lock belongs to the open file description). The file holds the holder's pid, for the message
 * the next one prints. A lock left by a killed process goes with it: no stale locks to remove. */
#ifndef GK_LOCKFILE_H
#define GK_LOCKFILE_H

#include <stddef.h>
#include "status.h"

/* Exit status of gcksd when another gcksd holds its database or control socket. */
#define GK_EXIT_IN_USE 6

/* Takes the lock at `path` (created 0600 if missing, never through a symbolic link) and writes
 * our pid into it. *fd is the descriptor to keep open. GK_E_STATE when another process holds
 * it (err names the path and that process), GK_E_IO when the file cannot be opened. */
gk_status gk_lockfile_take(const char *path, int *fd, char *err, size_t errlen);

/* Writes the current pid into the lock file again (after daemon(3) changed it). */
void gk_lockfile_repid(int fd);

#endif
