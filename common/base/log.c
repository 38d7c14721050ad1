#include <config.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#ifdef HAVE_LIBSYSTEMD
/* the location would be log.c's own, for every message */
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>
#endif
#include "log.h"

static const char *prog_name = "gikev2";
static gk_log_level levels[GK_SUB_COUNT] = { GK_LOG_INFO, GK_LOG_INFO, GK_LOG_INFO, GK_LOG_INFO,
					     GK_LOG_INFO, GK_LOG_INFO, GK_LOG_INFO, GK_LOG_INFO };
static unsigned subs_known = (1u << GK_SUB_COUNT) - 1;
static gk_log_target target = GK_LOG_TO_STDERR;
static const char *const level_names[GK_LOG_LEVELS] = { "error", "warning", "notice", "info", "debug" };
static const int priorities[GK_LOG_LEVELS] = { LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG };
static const char *const sub_names[GK_SUB_COUNT] = { "daemon", "net", "ike", "reg", "rekey", "store", "ctl",
						     "kernel" };
static const char *const target_names[] = { "stderr", "journal", "syslog" };
static gk_log_sink sink;
static void *sink_ctx;

void gk_log_set_sink(gk_log_sink fn, void *ctx)
{
	sink = fn;
	sink_ctx = ctx;
}

/* Printable ASCII stays, everything else becomes \xNN; out holds 4 * strlen(in) + 1. (The
 * backslash stays: text escaped before, such as gk_ident_text's, reads the same.) Returns the
 * end of out (its terminating NUL). */
static char *escape(const char *in, char *out)
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
	return out;
}

void gk_log_init(const char *prog, gk_log_level level)
{
	prog_name = prog;
	subs_known = (1u << GK_SUB_COUNT) - 1;
	target = GK_LOG_TO_STDERR;
	gk_log_set_level(GK_SUB_COUNT, level);
}

void gk_log_subsystems(unsigned mask)
{
	subs_known = mask & ((1u << GK_SUB_COUNT) - 1);
}

int gk_log_level_parse(const char *s)
{
	if (s && !strcmp(s, "warn"))
		return GK_LOG_WARN; /* the name before there were five levels */
	for (int i = 0; i < GK_LOG_LEVELS; i++)
		if (s && strcmp(s, level_names[i]) == 0)
			return i;
	return -1;
}

const char *gk_log_level_name(gk_log_level l)
{
	return (unsigned)l < GK_LOG_LEVELS ? level_names[l] : "?";
}

int gk_log_subsys_parse(const char *s)
{
	for (int i = 0; i < GK_SUB_COUNT; i++)
		if (s && (subs_known & (1u << i)) && strcmp(s, sub_names[i]) == 0)
			return i;
	return -1;
}

const char *gk_log_subsys_name(gk_log_subsys s)
{
	return (unsigned)s < GK_SUB_COUNT ? sub_names[s] : "?";
}

int gk_log_priority(gk_log_level l)
{
	return (unsigned)l < GK_LOG_LEVELS ? priorities[l] : LOG_DEBUG;
}

bool gk_log_enabled(gk_log_subsys s, gk_log_level l)
{
	return (unsigned)s < GK_SUB_COUNT && l <= levels[s];
}

gk_log_level gk_log_get_level(gk_log_subsys s)
{
	return (unsigned)s < GK_SUB_COUNT ? levels[s] : GK_LOG_ERROR;
}

void gk_log_set_level(gk_log_subsys s, gk_log_level l)
{
	if ((unsigned)l >= GK_LOG_LEVELS)
		return;
	for (int i = 0; i < GK_SUB_COUNT; i++)
		if (s == GK_SUB_COUNT || (int)s == i)
			levels[i] = l;
}

/* Names of this program's subsystems, "daemon, net, ...", for error messages. */
static void known_names(char *buf, size_t len)
{
	size_t o = 0;
	buf[0] = 0;
	for (int i = 0; i < GK_SUB_COUNT && o < len; i++)
		if (subs_known & (1u << i))
			o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? ", " : "", sub_names[i]);
}

gk_status gk_log_set_levels(const char *spec, char *err, size_t errlen)
{
	gk_log_level next[GK_SUB_COUNT];
	char buf[512], names[128];
	memcpy(next, levels, sizeof(next));
	if (!spec || !*spec || strlen(spec) >= sizeof(buf)) {
		gk_seterr(err, errlen, "give LEVEL or SUBSYSTEM=LEVEL[,...]");
		return GK_E_INVAL;
	}
	snprintf(buf, sizeof(buf), "%s", spec);
	char *save = NULL;
	for (char *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		/* a level alone is all=LEVEL */
		char *eq = strchr(item, '='), *lv = eq ? eq + 1 : item;
		if (eq)
			*eq = 0;
		int s = !eq || !strcmp(item, "all") ? GK_SUB_COUNT : gk_log_subsys_parse(item);
		int l = gk_log_level_parse(lv);
		if (s < 0) {
			known_names(names, sizeof(names));
			gk_seterr(err, errlen, "%s: not a subsystem (all, %s)", item, names);
			return GK_E_INVAL;
		}
		if (l < 0) {
			gk_seterr(err, errlen, "%s: not a level (error, warning, notice, info, debug)", lv);
			return GK_E_INVAL;
		}
		for (int i = 0; i < GK_SUB_COUNT; i++)
			if (s == GK_SUB_COUNT || s == i)
				next[i] = (gk_log_level)l;
	}
	memcpy(levels, next, sizeof(levels));
	return GK_OK;
}

void gk_log_levels_text(char *buf, size_t len)
{
	size_t o = 0;
	if (!len)
		return;
	buf[0] = 0;
	for (int i = 0; i < GK_SUB_COUNT && o < len; i++)
		if (subs_known & (1u << i))
			o += (size_t)snprintf(buf + o, len - o, "%s%s=%s", o ? "," : "", sub_names[i],
					      level_names[levels[i]]);
}

int gk_log_target_parse(const char *s)
{
	for (int i = 0; i < 3; i++)
		if (s && !strcmp(s, target_names[i]))
			return i;
	return -1;
}

const char *gk_log_target_name(gk_log_target t)
{
	return (unsigned)t < 3 ? target_names[t] : "?";
}

bool gk_log_have_journal(void)
{
#ifdef HAVE_LIBSYSTEMD
	return true;
#else
	return false;
#endif
}

gk_log_target gk_log_target_pick(const char *journal_stream, int fd, bool detached)
{
	struct stat st;
	bool open = fstat(fd, &st) == 0;
	unsigned long long dev, ino;
	int used = 0;
	/* systemd.exec(5): JOURNAL_STREAM is "DEVICE:INODE" of the stream it connected */
	if (open && journal_stream && sscanf(journal_stream, "%llu:%llu%n", &dev, &ino, &used) == 2 &&
	    !journal_stream[used] && dev == (unsigned long long)st.st_dev && ino == (unsigned long long)st.st_ino)
		return GK_LOG_TO_JOURNAL;
	if (detached || !open || (S_ISCHR(st.st_mode) && !isatty(fd)))
		return GK_LOG_TO_SYSLOG;
	return GK_LOG_TO_STDERR;
}

gk_log_target gk_log_target_get(void) { return target; }

void gk_log_set_target(gk_log_target t)
{
	if (target == GK_LOG_TO_SYSLOG && t != GK_LOG_TO_SYSLOG)
		closelog();
	target = t;
	/* LOG_NDELAY: connect to /dev/log now, before privileges and file access are given up */
	if (t == GK_LOG_TO_SYSLOG)
		openlog(prog_name, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

gk_status gk_log_setup(const char *name, bool detached, char *err, size_t errlen)
{
	if (!name) {
		gk_log_set_target(gk_log_target_pick(getenv("JOURNAL_STREAM"), STDERR_FILENO, detached));
		return GK_OK;
	}
	int t = gk_log_target_parse(name);
	if (t < 0) {
		gk_seterr(err, errlen, "%s: use stderr, syslog or journal", name);
		return GK_E_INVAL;
	}
	if (t == GK_LOG_TO_JOURNAL && !gk_log_have_journal()) {
		gk_seterr(err, errlen, "journal: built without libsystemd (configure --with-systemd); use syslog or "
			  "stderr, which journald reads under systemd");
		return GK_E_UNSUPPORTED;
	}
	gk_log_set_target((gk_log_target)t);
	return GK_OK;
}

/* The journal: natively with the level as PRIORITY, else as a "<N>" prefix on the stream
 * journald reads (sd-daemon(3)). */
static void to_journal(gk_log_subsys s, gk_log_level level, const char *msg)
{
#ifdef HAVE_LIBSYSTEMD
	if (sd_journal_send("MESSAGE=[%s] %s", sub_names[s], msg, "PRIORITY=%d", priorities[level],
			    "SYSLOG_IDENTIFIER=%s", prog_name, "GIKEV2_SUBSYSTEM=%s", sub_names[s], NULL) >= 0)
		return;
#endif
	fprintf(stderr, "<%d>[%s] %s\n", priorities[level], sub_names[s], msg);
}

/* The time of day of a stderr line to the second, made again only when the second changes
 * (gmtime_r and strftime cost about 1,400 instructions, a quarter of a line). Per thread. */
static _Thread_local bool ts_made;
static _Thread_local time_t ts_sec;
static _Thread_local char ts_text[32];

static const char *ts_of(time_t sec)
{
	struct tm tm;
	if (!ts_made || sec != ts_sec) {
		gmtime_r(&sec, &tm);
		strftime(ts_text, sizeof(ts_text), "%Y-%m-%dT%H:%M:%S", &tm);
		ts_sec = sec;
		ts_made = true;
	}
	return ts_text;
}

/* Appends s at *n when it fits below cap; false when not. */
static bool put_str(char *buf, size_t cap, size_t *n, const char *s)
{
	size_t len = strlen(s);
	if (len >= cap - *n)
		return false;
	memcpy(buf + *n, s, len);
	*n += len;
	return true;
}

/* The stderr line "TIME.mmmZ PROG LEVEL [SUBSYS]: MSG\n", put together by hand and written in one
 * write(2) (fprintf's formatting of five strings cost about 2,400 instructions a line); one write
 * per line so concurrent processes do not interleave within a line. A line that does not fit the
 * buffer (a program name of hundreds of octets) goes through fprintf as before. */
static void to_stderr(const struct timespec *now, gk_log_subsys s, gk_log_level level, const char *esc,
		      size_t esc_len)
{
	char line[4 * 2048 + 256];
	size_t n = 0;
	const char *ts = ts_of(now->tv_sec);
	long ms = now->tv_nsec / 1000000;
	bool ok = esc_len < sizeof(line) - 192 && put_str(line, sizeof(line), &n, ts) && n + 6 < sizeof(line);
	if (ok) {
		line[n++] = '.';
		line[n++] = (char)('0' + ms / 100 % 10);
		line[n++] = (char)('0' + ms / 10 % 10);
		line[n++] = (char)('0' + ms % 10);
		line[n++] = 'Z';
		line[n++] = ' ';
		ok = put_str(line, sizeof(line), &n, prog_name) && put_str(line, sizeof(line), &n, " ") &&
		     put_str(line, sizeof(line), &n, level_names[level]) && put_str(line, sizeof(line), &n, " [") &&
		     put_str(line, sizeof(line), &n, sub_names[s]) && put_str(line, sizeof(line), &n, "]: ") &&
		     esc_len + 1 < sizeof(line) - n;
	}
	if (!ok) {
		fprintf(stderr, "%s.%03ldZ %s %s [%s]: %s\n", ts, ms, prog_name, level_names[level], sub_names[s], esc);
		return;
	}
	memcpy(line + n, esc, esc_len);
	n += esc_len;
	line[n++] = '\n';
	for (size_t off = 0; off < n;) {
		ssize_t w = write(STDERR_FILENO, line + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* as fprintf: a log line that cannot be written is lost */
		off += (size_t)w;
	}
}

void gk_logs(gk_log_subsys s, gk_log_level level, const char *fmt, ...)
{
	if (!gk_log_enabled(s, level))
		return;
	char line[2048], esc[4 * sizeof(line)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	const char *esc_end = escape(line, esc);
	if (sink) {
		sink(sink_ctx, level, esc);
		return;
	}
	if (target == GK_LOG_TO_SYSLOG) {
		syslog(priorities[level], "[%s] %s", sub_names[s], esc);
		return;
	}
	if (target == GK_LOG_TO_JOURNAL) {
		to_journal(s, level, esc);
		return;
	}
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	to_stderr(&now, s, level, esc, esc_end - esc);
}

gk_status gk_log_configure(const char *prog, unsigned subsystems, const char *spec, const char *target_name,
			   bool detached, char *err, size_t errlen)
{
	char why[GK_ERR_MAX];
	gk_log_init(prog, GK_LOG_INFO);
	gk_log_subsystems(subsystems);
	if (spec && gk_log_set_levels(spec, why, sizeof(why))) {
		gk_seterr(err, errlen, "--log-level %s", why);
		return GK_E_INVAL;
	}
	gk_status st = gk_log_setup(target_name, detached, why, sizeof(why));
	if (st)
		gk_seterr(err, errlen, "--log-target %s", why);
	return st;
}
