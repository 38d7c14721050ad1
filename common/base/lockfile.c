#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>
#include "lockfile.h"

/* The pid the holder wrote, 0 when unreadable. */
static long holder_pid(int fd)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	return strtol(buf, NULL, 10);
}

void gk_lockfile_repid(int fd)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == 0 && pwrite(fd, buf, (size_t)n, 0) != n)
		return; /* the pid is only for messages: the lock itself is what counts */
}

gk_status gk_lockfile_take(const char *path, int *fd, char *err, size_t errlen)
{
	*fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
	if (*fd < 0) {
		snprintf(err, errlen, "%s: cannot open the lock file: %s", path, strerror(errno));
		return GK_E_IO;
	}
	if (flock(*fd, LOCK_EX | LOCK_NB)) {
		int e = errno;
		long pid = holder_pid(*fd);
		if (e == EWOULDBLOCK && pid > 0)
			snprintf(err, errlen, "%s is held by another gcksd (pid %ld)", path, pid);
		else if (e == EWOULDBLOCK)
			snprintf(err, errlen, "%s is held by another gcksd", path);
		else
			snprintf(err, errlen, "%s: cannot lock: %s", path, strerror(e));
		close(*fd);
		*fd = -1;
		return e == EWOULDBLOCK ? GK_E_STATE : GK_E_IO;
	}
	gk_lockfile_repid(*fd);
	return GK_OK;
}
