#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "log.h"

static const char *prog_name = "gikev2";
static gk_log_level cur_level = GK_LOG_INFO;
static const char *const names[] = { "error", "warn", "info", "debug" };
static gk_log_sink sink;
static void *sink_ctx;

void gk_log_set_sink(gk_log_sink fn, void *ctx)
{
	sink = fn;
	sink_ctx = ctx;
}

/* Printable ASCII stays, everything else becomes \xNN; out holds 4 * strlen(in) + 1. (The
 * backslash stays: text escaped before, such as gk_ident_text's, reads the same.) */
static void escape(const char *in, char *out)
{
	static const char hex[] = "0123456789abcdef";
	for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
		if (*p >= 0x20 && *p < 0x7f) {
			*out++ = (char)*p;
			continue;
		}
		*out++ = '\\';
		*out++ = 'x';
		*out++ = hex[*p >> 4];
		*out++ = hex[*p & 15];
	}
	*out = 0;
}

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
	char line[2048], esc[4 * sizeof(line)], ts[32];
	struct timespec now;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	escape(line, esc);
	if (sink) {
		sink(sink_ctx, level, esc);
		return;
	}
	/* one write per line so concurrent processes do not interleave within a line */
	fprintf(stderr, "%s.%03ldZ %s %s: %s\n", ts, now.tv_nsec / 1000000, prog_name, names[level], esc);
}
