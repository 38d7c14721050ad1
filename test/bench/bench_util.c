/* What the benchmarks read about gcksd from outside (bench_util.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>
#include "bench_util.h"

double bench_now(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double bench_proc_cpu(int pid)
{
	char path[64], buf[2048];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')'); /* the command name may hold spaces */
	if (!p)
		return -1;
	unsigned long ut = 0, st = 0;
	/* after ")": state(3) ... utime is field 14, stime 15 */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

long bench_proc_kb(int pid, const char *field)
{
	char path[64], line[256];
	size_t fl = strlen(field);
	long kb = -1;
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, fl) && line[fl] == ':') {
			kb = strtol(line + fl + 1, NULL, 10);
			break;
		}
	fclose(f);
	return kb;
}

long bench_udp_rcvbuf_errors(void)
{
	FILE *f = fopen("/proc/net/snmp", "r");
	char names[1024], values[1024];
	long v = -1;
	if (!f)
		return -1;
	while (fgets(names, sizeof(names), f) && fgets(values, sizeof(values), f)) {
		if (strncmp(names, "Udp:", 4) || strncmp(values, "Udp:", 4))
			continue;
		char *sn, *sv, *n = strtok_r(names + 4, " \n", &sn), *val = strtok_r(values + 4, " \n", &sv);
		for (; n && val; n = strtok_r(NULL, " \n", &sn), val = strtok_r(NULL, " \n", &sv))
			if (!strcmp(n, "RcvbufErrors"))
				v = atol(val);
		break;
	}
	fclose(f);
	return v;
}

int bench_control(const char *path, const char *request, char *buf, size_t len)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	if (!path || strlen(path) >= sizeof(sun.sun_path) || len < 2)
		return -1;
	strcpy(sun.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	/* gcksd answers between two event-loop turns, which can take long under load: wait (within
	 * a bound) rather than leave first, for a gcksd whose answer meets a closed socket may be
	 * killed by SIGPIPE */
	struct timeval tv = { .tv_sec = 600 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	size_t got = 0, rl = strlen(request);
	int rc = -1;
	buf[0] = 0;
	if (!connect(fd, (struct sockaddr *)&sun, sizeof(sun)) && write(fd, request, rl) == (ssize_t)rl &&
	    write(fd, "\n", 1) == 1) {
		ssize_t r;
		/* a signal (SIGCHLD of a child libuv spawned, say) must not end the wait early */
		while (got < len - 1 && ((r = read(fd, buf + got, len - 1 - got)) > 0 || (r < 0 && errno == EINTR))) {
			if (r < 0)
				continue;
			got += (size_t)r;
			if (memchr(buf, '\n', got))
				break;
		}
		buf[got] = 0;
		rc = got ? 0 : -1;
	}
	close(fd);
	return rc;
}

long bench_json_long(const char *json, const char *key, long dflt)
{
	char k[128];
	snprintf(k, sizeof(k), "\"%s\":", key);
	const char *p = strstr(json, k);
	return p ? strtol(p + strlen(k), NULL, 10) : dflt;
}
