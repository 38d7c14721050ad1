/* Logging to stderr: one line per event, "2026-11-26T16:42:39.123Z gcksd info: ...".
 * Never pass secrets to it. Messages often carry text from the network (identities, certificate
 * subjects): every octet outside printable ASCII is written as \xNN, so a
 * message is always one line and cannot carry terminal escape sequences. */
#ifndef GK_LOG_H
#define GK_LOG_H

typedef enum gk_log_level { GK_LOG_ERROR, GK_LOG_WARN, GK_LOG_INFO, GK_LOG_DEBUG } gk_log_level;

void gk_log_init(const char *prog, gk_log_level level);
/* "error", "warn", "info", "debug"; returns -1 for anything else. */
int gk_log_level_parse(const char *s);
gk_log_level gk_log_get_level(void);
void gk_log(gk_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Sends each message (escaped, without time stamp and program name) to fn instead of stderr, for
 * tests that look at what was logged. NULL restores stderr. */
typedef void (*gk_log_sink)(void *ctx, gk_log_level level, const char *msg);
void gk_log_set_sink(gk_log_sink fn, void *ctx);

#define gk_err(...) gk_log(GK_LOG_ERROR, __VA_ARGS__)
#define gk_warn(...) gk_log(GK_LOG_WARN, __VA_ARGS__)
#define gk_info(...) gk_log(GK_LOG_INFO, __VA_ARGS__)
#define gk_dbg(...) do { if (gk_log_get_level() >= GK_LOG_DEBUG) gk_log(GK_LOG_DEBUG, __VA_ARGS__); } while (0)

#endif
