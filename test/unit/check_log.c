/* Unit tests of the log (common/base/log.c): levels per subsystem and their settings, the
 * target picked from the environment, the syslog priorities, and what reaches each target:
 * stderr as written, syslog(3) and the journal as datagrams on sockets this test binds at
 * /dev/log and /run/systemd/journal/socket in a mount namespace of its own (the host's are
 * not touched). */
#include <config.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include "testutil.h"
#include "log.h"

#define MAX_LINES 16
static char lines[MAX_LINES][512];
static gk_log_level line_level[MAX_LINES];
static int nlines;

static void sink(void *ctx, gk_log_level level, const char *msg)
{
	(void)ctx;
	if (nlines < MAX_LINES) {
		snprintf(lines[nlines], sizeof(lines[0]), "%s", msg);
		line_level[nlines++] = level;
	}
}

static void start(unsigned subsystems)
{
	gk_log_init("check_log", GK_LOG_INFO);
	gk_log_subsystems(subsystems);
	gk_log_set_sink(sink, NULL);
	nlines = 0;
}

START_TEST(level_names)
{
	ck_assert_int_eq(gk_log_level_parse("error"), GK_LOG_ERROR);
	ck_assert_int_eq(gk_log_level_parse("warning"), GK_LOG_WARN);
	ck_assert_int_eq(gk_log_level_parse("warn"), GK_LOG_WARN);
	ck_assert_int_eq(gk_log_level_parse("notice"), GK_LOG_NOTICE);
	ck_assert_int_eq(gk_log_level_parse("info"), GK_LOG_INFO);
	ck_assert_int_eq(gk_log_level_parse("debug"), GK_LOG_DEBUG);
	ck_assert_int_eq(gk_log_level_parse("Debug"), -1);
	ck_assert_int_eq(gk_log_level_parse(""), -1);
	ck_assert_int_eq(gk_log_level_parse(NULL), -1);
	ck_assert_str_eq(gk_log_level_name(GK_LOG_WARN), "warning");
	ck_assert_int_eq(gk_log_target_parse("syslog"), GK_LOG_TO_SYSLOG);
	ck_assert_int_eq(gk_log_target_parse("journal"), GK_LOG_TO_JOURNAL);
	ck_assert_int_eq(gk_log_target_parse("stderr"), GK_LOG_TO_STDERR);
	ck_assert_int_eq(gk_log_target_parse("file"), -1);
}
END_TEST

/* syslog(3) priorities, which the journal's PRIORITY and the "<N>" prefix use too */
START_TEST(priorities)
{
	ck_assert_int_eq(gk_log_priority(GK_LOG_ERROR), LOG_ERR);
	ck_assert_int_eq(gk_log_priority(GK_LOG_WARN), LOG_WARNING);
	ck_assert_int_eq(gk_log_priority(GK_LOG_NOTICE), LOG_NOTICE);
	ck_assert_int_eq(gk_log_priority(GK_LOG_INFO), LOG_INFO);
	ck_assert_int_eq(gk_log_priority(GK_LOG_DEBUG), LOG_DEBUG);
	ck_assert_int_eq(LOG_ERR, 3);
	ck_assert_int_eq(LOG_DEBUG, 7);
}
END_TEST

START_TEST(levels_filter_per_subsystem)
{
	char err[GK_ERR_MAX] = "";
	start(GK_SUBS_GCKSD);
	ck_assert_int_eq(gk_log_set_levels("reg=debug,net=warning", err, sizeof(err)), GK_OK);
	gk_logs(GK_SUB_REG, GK_LOG_DEBUG, "reg debug");
	gk_logs(GK_SUB_NET, GK_LOG_INFO, "net info");
	gk_logs(GK_SUB_NET, GK_LOG_WARN, "net warning");
	gk_logs(GK_SUB_IKE, GK_LOG_INFO, "ike info");
	gk_logs(GK_SUB_IKE, GK_LOG_DEBUG, "ike debug");
	ck_assert_int_eq(nlines, 3);
	ck_assert_str_eq(lines[0], "reg debug");
	ck_assert_int_eq(line_level[0], GK_LOG_DEBUG);
	ck_assert_str_eq(lines[1], "net warning");
	ck_assert_str_eq(lines[2], "ike info");
	ck_assert(gk_log_enabled(GK_SUB_REG, GK_LOG_DEBUG));
	ck_assert(!gk_log_enabled(GK_SUB_NET, GK_LOG_NOTICE));
	ck_assert(gk_log_enabled(GK_SUB_NET, GK_LOG_WARN));
	ck_assert(!gk_log_enabled(GK_SUB_COUNT, GK_LOG_ERROR));
	gk_log_set_sink(NULL, NULL);
}
END_TEST

START_TEST(levels_settings)
{
	char err[GK_ERR_MAX] = "", text[256];
	start(GK_SUBS_GCKSD);
	gk_log_levels_text(text, sizeof(text));
	ck_assert_str_eq(text, "daemon=info,net=info,ike=info,reg=info,rekey=info,store=info,ctl=info");
	/* a level alone: every subsystem */
	ck_assert_int_eq(gk_log_set_levels("warning", err, sizeof(err)), GK_OK);
	gk_log_levels_text(text, sizeof(text));
	ck_assert_str_eq(text, "daemon=warning,net=warning,ike=warning,reg=warning,rekey=warning,store=warning,"
			       "ctl=warning");
	/* left to right: all first, then one */
	ck_assert_int_eq(gk_log_set_levels("all=error,rekey=debug", err, sizeof(err)), GK_OK);
	gk_log_levels_text(text, sizeof(text));
	ck_assert_str_eq(text, "daemon=error,net=error,ike=error,reg=error,rekey=debug,store=error,ctl=error");
	/* all or nothing: a bad entry after a good one changes nothing */
	ck_assert_int_eq(gk_log_set_levels("reg=debug,ike=loud", err, sizeof(err)), GK_E_INVAL);
	ck_assert_str_eq(err, "loud: not a level (error, warning, notice, info, debug)");
	ck_assert_int_eq(gk_log_get_level(GK_SUB_REG), GK_LOG_ERROR);
	/* a subsystem another program has (gmd's kernel) is not gcksd's */
	ck_assert_int_eq(gk_log_set_levels("kernel=debug", err, sizeof(err)), GK_E_INVAL);
	ck_assert_str_eq(err, "kernel: not a subsystem (all, daemon, net, ike, reg, rekey, store, ctl)");
	ck_assert_int_eq(gk_log_set_levels("reg", err, sizeof(err)), GK_E_INVAL);
	ck_assert_str_eq(err, "reg: not a level (error, warning, notice, info, debug)");
	ck_assert_int_eq(gk_log_set_levels("reg=debug,", err, sizeof(err)), GK_OK); /* empty entries: none */
	ck_assert_int_eq(gk_log_set_levels("info,reg=notice", err, sizeof(err)), GK_OK); /* LEVEL: all=LEVEL */
	ck_assert_int_eq(gk_log_get_level(GK_SUB_CTL), GK_LOG_INFO);
	ck_assert_int_eq(gk_log_get_level(GK_SUB_REG), GK_LOG_NOTICE);
	ck_assert_int_eq(gk_log_set_levels("all=error,reg=debug,rekey=debug", err, sizeof(err)), GK_OK);
	ck_assert_int_eq(gk_log_set_levels("=debug", err, sizeof(err)), GK_E_INVAL);
	ck_assert_int_eq(gk_log_set_levels("", err, sizeof(err)), GK_E_INVAL);
	ck_assert_int_eq(gk_log_set_levels(NULL, err, sizeof(err)), GK_E_INVAL);
	gk_log_levels_text(text, sizeof(text));
	ck_assert_str_eq(text, "daemon=error,net=error,ike=error,reg=debug,rekey=debug,store=error,ctl=error");
	/* gmd's set */
	gk_log_subsystems(GK_SUBS_GMD);
	ck_assert_int_eq(gk_log_set_levels("kernel=notice", err, sizeof(err)), GK_OK);
	ck_assert_int_eq(gk_log_subsys_parse("ctl"), -1);
	gk_log_levels_text(text, sizeof(text));
	ck_assert_str_eq(text, "daemon=error,net=error,ike=error,reg=debug,rekey=debug,kernel=notice");
	/* a buffer too short is cut, never overrun */
	char small[8];
	memset(small, 'x', sizeof(small));
	gk_log_levels_text(small, 5);
	ck_assert_str_eq(small, "daem");
	ck_assert_int_eq(small[5], 'x');
}
END_TEST

/* A level changed while the program runs applies to the next message. */
START_TEST(levels_change_at_run_time)
{
	char err[GK_ERR_MAX];
	start(GK_SUBS_GMD);
	gk_logs(GK_SUB_KERNEL, GK_LOG_DEBUG, "before");
	ck_assert_int_eq(gk_log_set_levels("kernel=debug", err, sizeof(err)), GK_OK);
	gk_logs(GK_SUB_KERNEL, GK_LOG_DEBUG, "after");
	gk_log_set_level(GK_SUB_COUNT, GK_LOG_ERROR);
	gk_logs(GK_SUB_KERNEL, GK_LOG_WARN, "quiet");
	gk_log_set_level(GK_SUB_KERNEL, GK_LOG_WARN);
	gk_logs(GK_SUB_KERNEL, GK_LOG_WARN, "loud again");
	gk_logs(GK_SUB_REKEY, GK_LOG_WARN, "rekey still quiet");
	ck_assert_int_eq(nlines, 2);
	ck_assert_str_eq(lines[0], "after");
	ck_assert_str_eq(lines[1], "loud again");
	gk_log_set_sink(NULL, NULL);
}
END_TEST

/* The target from $JOURNAL_STREAM and what fd is. */
START_TEST(target_picked_from_environment)
{
	int p[2];
	struct stat st;
	char js[64];
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(fstat(p[1], &st), 0);
	snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
	/* the stream systemd connected: the journal, detached or not */
	ck_assert_int_eq(gk_log_target_pick(js, p[1], false), GK_LOG_TO_JOURNAL);
	ck_assert_int_eq(gk_log_target_pick(js, p[1], true), GK_LOG_TO_JOURNAL);
	/* a pipe or file in the foreground: stderr; detached: syslog */
	ck_assert_int_eq(gk_log_target_pick(NULL, p[1], false), GK_LOG_TO_STDERR);
	ck_assert_int_eq(gk_log_target_pick(NULL, p[1], true), GK_LOG_TO_SYSLOG);
	/* JOURNAL_STREAM naming another file (inherited from a parent under systemd): not ours */
	snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino + 1);
	ck_assert_int_eq(gk_log_target_pick(js, p[1], false), GK_LOG_TO_STDERR);
	snprintf(js, sizeof(js), "%llu:%llux", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
	ck_assert_int_eq(gk_log_target_pick(js, p[1], false), GK_LOG_TO_STDERR);
	ck_assert_int_eq(gk_log_target_pick("", p[1], false), GK_LOG_TO_STDERR);
	ck_assert_int_eq(gk_log_target_pick("garbage", p[1], false), GK_LOG_TO_STDERR);
	/* /dev/null or nothing at all: syslog */
	int null = open("/dev/null", O_WRONLY);
	ck_assert_int_ge(null, 0);
	ck_assert_int_eq(gk_log_target_pick(NULL, null, false), GK_LOG_TO_SYSLOG);
	close(null);
	ck_assert_int_eq(gk_log_target_pick(NULL, null, false), GK_LOG_TO_SYSLOG);
	/* a terminal: stderr */
	int m = posix_openpt(O_RDWR | O_NOCTTY);
	if (m >= 0 && !grantpt(m) && !unlockpt(m)) {
		int t = open(ptsname(m), O_RDWR | O_NOCTTY);
		ck_assert_int_ge(t, 0);
		ck_assert_int_eq(gk_log_target_pick(NULL, t, false), GK_LOG_TO_STDERR);
		close(t);
	} else {
		tu_skip("target_picked_from_environment: a terminal", "no pseudo-terminal");
	}
	if (m >= 0)
		close(m);
	close(p[0]);
	close(p[1]);
}
END_TEST

START_TEST(target_option)
{
	char err[GK_ERR_MAX] = "";
	gk_log_init("check_log", GK_LOG_INFO);
	ck_assert_int_eq(gk_log_setup("file", false, err, sizeof(err)), GK_E_INVAL);
	ck_assert_str_eq(err, "file: use stderr, syslog or journal");
	ck_assert_int_eq(gk_log_target_get(), GK_LOG_TO_STDERR);
	gk_status st = gk_log_setup("journal", false, err, sizeof(err));
#ifdef HAVE_LIBSYSTEMD
	ck_assert_int_eq(st, GK_OK);
	ck_assert_int_eq(gk_log_target_get(), GK_LOG_TO_JOURNAL);
#else
	ck_assert_int_eq(st, GK_E_UNSUPPORTED);
	ck_assert_str_eq(err, "journal: built without libsystemd (configure --with-systemd); use syslog or stderr, "
			      "which journald reads under systemd");
	ck_assert_int_eq(gk_log_target_get(), GK_LOG_TO_STDERR);
#endif
	ck_assert_int_eq(gk_log_configure("check_log", GK_SUBS_GCKSD, "reg=loud", NULL, false, err, sizeof(err)),
			 GK_E_INVAL);
	ck_assert_str_eq(err, "--log-level loud: not a level (error, warning, notice, info, debug)");
	ck_assert_int_eq(gk_log_configure("check_log", GK_SUBS_GCKSD, NULL, "disk", false, err, sizeof(err)),
			 GK_E_INVAL);
	ck_assert_str_eq(err, "--log-target disk: use stderr, syslog or journal");
	ck_assert_int_eq(gk_log_configure("check_log", GK_SUBS_GCKSD, "debug", "stderr", false, err, sizeof(err)),
			 GK_OK);
	ck_assert_int_eq(gk_log_get_level(GK_SUB_CTL), GK_LOG_DEBUG);
}
END_TEST

/* stderr: time stamp, program, level, [subsystem], the message escaped; one line. */
START_TEST(stderr_line)
{
	char path[] = "/tmp/check_log.XXXXXX", buf[512] = "";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	unlink(path);
	fflush(stderr);
	int saved = dup(STDERR_FILENO);
	ck_assert_int_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	gk_log_init("gcksd", GK_LOG_INFO);
	gk_logs(GK_SUB_REG, GK_LOG_WARN, "refused %s", "fqdn:a\nb");
	gk_logs(GK_SUB_REG, GK_LOG_DEBUG, "not shown");
	gk_log_set_target(GK_LOG_TO_JOURNAL);
#ifndef HAVE_LIBSYSTEMD
	gk_logs(GK_SUB_REKEY, GK_LOG_NOTICE, "prefixed"); /* without libsystemd: sd-daemon(3) prefixes */
#endif
	gk_log_set_target(GK_LOG_TO_STDERR);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	ck_assert_int_gt(n, 0);
	buf[n] = 0;
	/* 2026-12-07T11:03:10.123Z */
	ck_assert_msg(strlen(buf) > 25 && buf[4] == '-' && buf[10] == 'T' && buf[19] == '.' && buf[23] == 'Z' &&
		      buf[24] == ' ', "%s", buf);
	const char *want = "gcksd warning [reg]: refused fqdn:a\\x0ab\n"
#ifndef HAVE_LIBSYSTEMD
			   "<5>[rekey] prefixed\n"
#endif
			   ;
	ck_assert_str_eq(buf + 25, want);
}
END_TEST

/* The time stamp is the wall clock's (UTC) at the line, also for lines in one second (it is
 * formatted once a second); the longest message (2047 octets, all escaped to 8188) is written
 * whole; a program name too long for the line buffer goes through the slow path, same format. */
START_TEST(stderr_line_time_and_long)
{
	char path[] = "/tmp/check_log.XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	unlink(path);
	fflush(stderr);
	int saved = dup(STDERR_FILENO);
	ck_assert_int_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	static char msg[3000], prog[400];
	memset(msg, 1, sizeof(msg) - 1);
	memset(prog, 'p', sizeof(prog) - 1);
	time_t before = time(NULL);
	gk_log_init("gcksd", GK_LOG_INFO);
	gk_logs(GK_SUB_REG, GK_LOG_INFO, "one");
	gk_logs(GK_SUB_REG, GK_LOG_INFO, "two");
	gk_logs(GK_SUB_NET, GK_LOG_ERROR, "%s", msg);
	gk_log_init(prog, GK_LOG_INFO);
	gk_logs(GK_SUB_CTL, GK_LOG_NOTICE, "long name");
	time_t after = time(NULL);
	gk_log_init("gcksd", GK_LOG_INFO);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	static char buf[16384];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	ck_assert_int_gt(n, 0);
	buf[n] = 0;
	char *ln[4], *save = NULL;
	size_t k = 0;
	for (char *l = strtok_r(buf, "\n", &save); l && k < 4; l = strtok_r(NULL, "\n", &save))
		ln[k++] = l;
	ck_assert_uint_eq(k, 4);
	ck_assert_ptr_null(strtok_r(NULL, "\n", &save));
	for (size_t i = 0; i < k; i++) {
		struct tm tm;
		memset(&tm, 0, sizeof(tm));
		char *end = strptime(ln[i], "%Y-%m-%dT%H:%M:%S", &tm);
		ck_assert_ptr_nonnull(end);
		ck_assert_int_eq(end - ln[i], 19);
		time_t t = timegm(&tm);
		ck_assert_int_ge(t, before);
		ck_assert_int_le(t, after);
		ck_assert(end[0] == '.' && end[1] >= '0' && end[1] <= '9' && end[2] >= '0' && end[2] <= '9' &&
			  end[3] >= '0' && end[3] <= '9' && end[4] == 'Z' && end[5] == ' ');
	}
	ck_assert_str_eq(ln[0] + 25, "gcksd info [reg]: one");
	ck_assert_str_eq(ln[1] + 25, "gcksd info [reg]: two");
	const char *head = "gcksd error [net]: ";
	ck_assert_int_eq(strncmp(ln[2] + 25, head, strlen(head)), 0);
	const char *e = ln[2] + 25 + strlen(head);
	ck_assert_uint_eq(strlen(e), 4 * 2047);
	for (size_t i = 0; i < 2047; i++)
		ck_assert_int_eq(memcmp(e + 4 * i, "\\x01", 4), 0);
	ck_assert_int_eq(strncmp(ln[3] + 25, prog, strlen(prog)), 0);
	ck_assert_str_eq(ln[3] + 25 + strlen(prog), " notice [ctl]: long name");
}
END_TEST

/* A mount namespace of this test's process (Check runs each test in a process of its own) with
 * an empty directory of ours bound over dir: the host's /dev and /run stay as they are. False
 * when that is not allowed (not root). */
static bool private_dir(const char *dir, char *tmp, size_t len)
{
	snprintf(tmp, len, "/tmp/check_log.XXXXXX");
	if (!tu_mkdtemp(tmp))
		return false;
	if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		return false;
	return mount(tmp, dir, NULL, MS_BIND, NULL) == 0;
}

static int bind_dgram(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	int s = socket(AF_UNIX, SOCK_DGRAM, 0);
	ck_assert_int_ge(s, 0);
	ck_assert_int_eq(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	struct timeval tv = { .tv_sec = 5 };
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return s;
}

/* syslog: facility daemon, the level's priority, ident and pid, "[subsystem] message". */
START_TEST(syslog_datagram)
{
	char tmp[64], buf[1024], want[256];
	if (!private_dir("/dev", tmp, sizeof(tmp))) {
		tu_skip("syslog_datagram", "no mount namespace (needs root)");
		return;
	}
	int s = bind_dgram("/dev/log");
	gk_log_init("gcksd", GK_LOG_INFO);
	gk_log_set_target(GK_LOG_TO_SYSLOG);
	gk_logs(GK_SUB_REKEY, GK_LOG_DEBUG, "filtered");
	gk_logs(GK_SUB_REKEY, GK_LOG_NOTICE, "group keyid:g: fqdn:m at 192.0.2.1:500 evicted");
	ssize_t n = recv(s, buf, sizeof(buf) - 1, 0);
	ck_assert_int_gt(n, 0);
	buf[n] = 0;
	/* <29>: LOG_DAEMON (3 << 3) | LOG_NOTICE (5) */
	ck_assert_int_eq(LOG_DAEMON | LOG_NOTICE, 29);
	ck_assert_msg(!strncmp(buf, "<29>", 4), "%s", buf);
	snprintf(want, sizeof(want), "gcksd[%d]: [rekey] group keyid:g: fqdn:m at 192.0.2.1:500 evicted", (int)getpid());
	ck_assert_msg(strstr(buf, want) && !strcmp(strstr(buf, want), want), "got %s", buf);
	gk_logs(GK_SUB_REG, GK_LOG_ERROR, "second");
	n = recv(s, buf, sizeof(buf) - 1, 0);
	ck_assert_int_gt(n, 0);
	buf[n] = 0;
	ck_assert_msg(!strncmp(buf, "<27>", 4), "%s", buf); /* LOG_DAEMON | LOG_ERR */
	gk_log_set_target(GK_LOG_TO_STDERR);
	close(s);
}
END_TEST

#ifdef HAVE_LIBSYSTEMD
/* The journal's native protocol: PRIORITY, SYSLOG_IDENTIFIER, the subsystem, the message. */
START_TEST(journal_datagram)
{
	char tmp[64], buf[2048];
	if (!private_dir("/run", tmp, sizeof(tmp))) {
		tu_skip("journal_datagram", "no mount namespace (needs root)");
		return;
	}
	ck_assert_int_eq(mkdir("/run/systemd", 0755), 0);
	ck_assert_int_eq(mkdir("/run/systemd/journal", 0755), 0);
	int s = bind_dgram("/run/systemd/journal/socket");
	gk_log_init("gmd", GK_LOG_INFO);
	gk_log_set_target(GK_LOG_TO_JOURNAL);
	gk_logs(GK_SUB_REG, GK_LOG_WARN, "registration to keyid:g refused: AUTHORIZATION_FAILED");
	ssize_t n = recv(s, buf, sizeof(buf) - 1, 0);
	ck_assert_int_gt(n, 0);
	buf[n] = 0;
	ck_assert_msg(strstr(buf, "MESSAGE=[reg] registration to keyid:g refused: AUTHORIZATION_FAILED\n"), "%s", buf);
	ck_assert_msg(strstr(buf, "PRIORITY=4\n"), "%s", buf);
	ck_assert_msg(strstr(buf, "SYSLOG_IDENTIFIER=gmd\n"), "%s", buf);
	ck_assert_msg(strstr(buf, "GIKEV2_SUBSYSTEM=reg\n"), "%s", buf);
	ck_assert_msg(!strstr(buf, "CODE_FILE="), "%s", buf);
	gk_log_set_target(GK_LOG_TO_STDERR);
	close(s);
}
END_TEST
#endif

int main(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("log");
	tcase_add_test(tc, level_names);
	tcase_add_test(tc, priorities);
	tcase_add_test(tc, levels_filter_per_subsystem);
	tcase_add_test(tc, levels_settings);
	tcase_add_test(tc, levels_change_at_run_time);
	tcase_add_test(tc, target_picked_from_environment);
	tcase_add_test(tc, target_option);
	tcase_add_test(tc, stderr_line);
	tcase_add_test(tc, stderr_line_time_and_long);
	tcase_add_test(tc, syslog_datagram);
#ifdef HAVE_LIBSYSTEMD
	tcase_add_test(tc, journal_datagram);
#endif
	suite_add_tcase(s, tc);
	return tu_run(s);
}
