#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "log.h"

static const char *prog_name = "gikev2";
static gk_log_level cur_level = GK_LOG_INFO;
static const char *const names[] = { "error", "warn", "info", "debug" };

void gk_log_init(const char *prog, gk_log_level level)
{
	prog_name = prog;
	cur_level = level;
}

int gk_log_level_parse(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (s && strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

gk_log_level gk_log_get_level(void) { return cur_level; }

void gk_log(gk_log_level level, const char *fmt, ...)
{
	if (level > cur_level)
		return;
	char line[2048], ts[32];
	struct timespec now;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* one write per line so concurrent processes do not interleave within a line */
	fprintf(stderr, "%s.%03ldZ %s %s: %s\n", ts, now.tv_nsec / 1000000, prog_name, names[level], line);
}
