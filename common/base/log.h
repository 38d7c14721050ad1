/* Logging: one line per event, with a level and a subsystem, to one of three targets:
 *   stderr   "2026-11-26T16:42:39.123Z gcksd info [reg]: ..." (a terminal, a file, a pipe)
 *   journal  the systemd journal with the level as PRIORITY (sd_journal_send when built with
 *            libsystemd, else "<N>" prefixes on the stderr stream journald reads, sd-daemon(3))
 *   syslog   syslog(3), facility LOG_DAEMON, ident the program name, with LOG_PID
 * Each subsystem has its own level (like strongSwan's charondebug), changeable at run time.
 * Never pass secrets to it. Messages often carry text from the network (identities, certificate
 * subjects): every octet outside printable ASCII is written as \xNN, so a message is always one
 * line and cannot carry terminal escape sequences.
 *
 * A source file names its subsystem with `#define GK_LOG_SUBSYS GK_SUB_REKEY` before its first
 * #include; gk_err, gk_warn, gk_notice, gk_info and gk_dbg log under it (default GK_SUB_DAEMON).
 * gk_logs names the subsystem explicitly. State is process-wide and not thread-safe: gcksd and
 * gmd log from their one event-loop thread. */
#ifndef GK_LOG_H
#define GK_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include "status.h"

/* syslog(3) order: a message is written when its level is at most its subsystem's level */
typedef enum gk_log_level { GK_LOG_ERROR, GK_LOG_WARN, GK_LOG_NOTICE, GK_LOG_INFO, GK_LOG_DEBUG } gk_log_level;
#define GK_LOG_LEVELS 5

/* The subsystems, a small fixed set named after what the code does:
 *   daemon  start, stop, signals, accounts and privileges, configuration
 *   net     sockets, datagrams in and out, NAT-T, fragments
 *   ike     IKE SAs: IKE_SA_INIT, authentication, IKE SA rekeys, liveness, Deletes
 *   reg     registration (GSA_AUTH, GSA_REGISTRATION), authorization, refusals
 *   rekey   group rekeys: GSA_REKEY, GSA_INBAND_REKEY, exclusion, eviction
 *   store   the database, policies, signing keys (gcksd)
 *   ctl     the control socket (gcksd)
 *   kernel  SAs and policies in the kernel (gmd) */
typedef enum gk_log_subsys {
	GK_SUB_DAEMON, GK_SUB_NET, GK_SUB_IKE, GK_SUB_REG, GK_SUB_REKEY, GK_SUB_STORE, GK_SUB_CTL, GK_SUB_KERNEL,
	GK_SUB_COUNT
} gk_log_subsys;
#define GK_SUB_BIT(s) (1u << (s))
#define GK_SUBS_GCKSD (GK_SUB_BIT(GK_SUB_DAEMON) | GK_SUB_BIT(GK_SUB_NET) | GK_SUB_BIT(GK_SUB_IKE) | \
		       GK_SUB_BIT(GK_SUB_REG) | GK_SUB_BIT(GK_SUB_REKEY) | GK_SUB_BIT(GK_SUB_STORE) | GK_SUB_BIT(GK_SUB_CTL))
#define GK_SUBS_GMD (GK_SUB_BIT(GK_SUB_DAEMON) | GK_SUB_BIT(GK_SUB_NET) | GK_SUB_BIT(GK_SUB_IKE) | \
		     GK_SUB_BIT(GK_SUB_REG) | GK_SUB_BIT(GK_SUB_REKEY) | GK_SUB_BIT(GK_SUB_KERNEL))

typedef enum gk_log_target { GK_LOG_TO_STDERR, GK_LOG_TO_JOURNAL, GK_LOG_TO_SYSLOG } gk_log_target;

/* Program name, every subsystem at level, target stderr, every subsystem known. */
void gk_log_init(const char *prog, gk_log_level level);
/* The subsystems this program has (GK_SUBS_GCKSD, GK_SUBS_GMD): the only ones a level setting
 * may name and gk_log_levels_text lists. */
void gk_log_subsystems(unsigned mask);
/* "error", "warning" ("warn"), "notice", "info", "debug"; returns -1 for anything else. */
int gk_log_level_parse(const char *s);
const char *gk_log_level_name(gk_log_level l);
/* A subsystem of this program by name; -1 for anything else. */
int gk_log_subsys_parse(const char *s);
const char *gk_log_subsys_name(gk_log_subsys s);
/* The syslog(3) priority of a level: LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG. */
int gk_log_priority(gk_log_level l);

bool gk_log_enabled(gk_log_subsys s, gk_log_level l);
gk_log_level gk_log_get_level(gk_log_subsys s);
/* One subsystem, or every one with s = GK_SUB_COUNT. */
void gk_log_set_level(gk_log_subsys s, gk_log_level l);
/* "SUBSYS=LEVEL[,SUBSYS=LEVEL...]" where SUBSYS may be "all", and a LEVEL alone means
 * all=LEVEL ("info,reg=debug"); applied left to right, all or nothing: a bad entry changes no level (error in err). The
 * setter behind --log-level, the control socket's log-level and a configuration reload. */
gk_status gk_log_set_levels(const char *spec, char *err, size_t errlen);
/* "daemon=info,net=info,...": this program's subsystems, in the form gk_log_set_levels takes. */
void gk_log_levels_text(char *buf, size_t len);

/* "stderr", "journal", "syslog"; -1 for anything else. */
int gk_log_target_parse(const char *s);
const char *gk_log_target_name(gk_log_target t);
/* Whether the journal is written natively (built with libsystemd). */
bool gk_log_have_journal(void);
/* The target when none is asked for: the journal when $JOURNAL_STREAM ("DEV:INODE") names fd
 * (systemd connected it to the journal); else syslog when the program detached or fd is not
 * open or is /dev/null (or another device that is not a terminal); else stderr. */
gk_log_target gk_log_target_pick(const char *journal_stream, int fd, bool detached);
gk_log_target gk_log_target_get(void);
void gk_log_set_target(gk_log_target t);
/* The program's target from its --log-target (NULL: none given, picked from the environment
 * and stderr with gk_log_target_pick). An unknown name, or "journal" in a build without
 * libsystemd, is refused with the reason in err and nothing changed. */
gk_status gk_log_setup(const char *target, bool detached, char *err, size_t errlen);
/* A program's logging from its options: gk_log_init(prog, info), its subsystems, --log-level
 * spec (NULL: info everywhere) and --log-target (NULL: picked). Errors name the option. */
gk_status gk_log_configure(const char *prog, unsigned subsystems, const char *spec, const char *target,
			   bool detached, char *err, size_t errlen);

void gk_logs(gk_log_subsys s, gk_log_level level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Sends each message (escaped, without time stamp and program name) to fn instead of the
 * target, for tests that look at what was logged. NULL restores the target. */
typedef void (*gk_log_sink)(void *ctx, gk_log_level level, const char *msg);
void gk_log_set_sink(gk_log_sink fn, void *ctx);

#ifndef GK_LOG_SUBSYS
#define GK_LOG_SUBSYS GK_SUB_DAEMON
#endif
#define gk_log(level, ...) gk_logs(GK_LOG_SUBSYS, level, __VA_ARGS__)
#define gk_err(...) gk_logs(GK_LOG_SUBSYS, GK_LOG_ERROR, __VA_ARGS__)
#define gk_warn(...) gk_logs(GK_LOG_SUBSYS, GK_LOG_WARN, __VA_ARGS__)
#define gk_notice(...) gk_logs(GK_LOG_SUBSYS, GK_LOG_NOTICE, __VA_ARGS__)
#define gk_info(...) gk_logs(GK_LOG_SUBSYS, GK_LOG_INFO, __VA_ARGS__)
#define gk_dbg(...) do { if (gk_log_enabled(GK_LOG_SUBSYS, GK_LOG_DEBUG)) gk_logs(GK_LOG_SUBSYS, GK_LOG_DEBUG, __VA_ARGS__); } while (0)

#endif
