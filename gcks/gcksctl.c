/* gcksctl: the admin CLI of the GCKS. Works on the database directly (init, policy, group,
 * member) and asks the running daemon over its control socket (status, rekey, evict, and the
 * reload that follows a policy load).
 * Exit codes: 0 ok, 1 usage error, 2 validation error, 3 daemon not reachable, 4 other failure. */
#include <config.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include "auth.h"
#include "iana.h"
#include "json.h"
#include "policy_yaml.h"
#include "storage.h"
#include "gcks_keyrules.h"
#include "gcks.h"

/* gcksctl(8) EXIT STATUS; EXIT_IN_USE is gcksd's GK_EXIT_IN_USE (lockfile.h). */
enum { EXIT_OK = 0, EXIT_USAGE = 1, EXIT_INVALID = 2, EXIT_DAEMON = 3, EXIT_FAIL = 4, EXIT_IN_USE = 6 };

#define DEFAULT_DB GK_STATEDIR "/gcks.db"
#define DEFAULT_CONTROL GK_RUNSTATEDIR "/gcksd.sock"

typedef struct ctl {
	const char *db, *control;
	bool json;
	const char *who;
} ctl;

static void usage(FILE *f)
{
	fputs("usage: gcksctl [--db PATH] [--control PATH] [--json] COMMAND\n"
	      "       gcksctl --help | --version\n"
	      "(tables and messages for people; --json: JSON for programs)\n"
	      "commands:\n"
	      "  init [--id ID] [--key FILE] [--key-type ecdsa-p256|ecdsa-p384|ed25519|rsa]\n"
	      "       [--cert FILE] [--ca FILE]      create the database and the GCKS signing key\n"
	      "  policy check FILE...                validate policy files, change nothing\n"
	      "  policy load [--dry-run] FILE...     validate, then store the groups and tell gcksd\n"
	      "  policy export [GROUP]               print policies in the file format (with secrets)\n"
	      "  group list | group show GROUP | group delete GROUP\n"
	      "  member list [--behind] GROUP        registered members (--behind: those that missed the last rekey)\n"
	      "  audit [N]                           the last N admin changes (default 20)\n"
	      "  status [--watch]                    the running gcksd: groups, members, rekeys, SAs\n"
	      "                                      (--watch: redrawn every 2 s until Ctrl-C)\n"
	      "  rekey GROUP | evict GROUP MEMBER    ask the running gcksd\n"
	      "  key rotate                          new signing key, announced to members first\n"
	      "  log-level [SUBSYSTEM|all LEVEL]     the running gcksd's log levels, or set one\n"
	      "  backup FILE                         a consistent copy of the database (through gcksd if it runs)\n"
	      "  restore FILE                        replace the database by a backup (gcksd stopped)\n"
	      "  restored SOURCE                     mark the database restored by other tools (pg_restore)\n", f);
}

/* A usage error: one line on stderr naming the problem (the full usage is for --help). */
static int __attribute__((format(printf, 1, 2))) usage_error(const char *fmt, ...)
{
	va_list ap;
	fputs("gcksctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (gcksctl --help lists the commands)\n", stderr);
	return EXIT_USAGE;
}

static int open_store(const ctl *c, bool create, gk_store **s)
{
	char err[GK_STORE_ERR_MAX];
	if (gk_store_open(c->db, create, s, err, sizeof(err))) {
		fprintf(stderr, "gcksctl: %s\n", err);
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

/* "2026-11-27T00:13:28Z": when, in the tables and the JSON alike */
static void utc_text(int64_t at, char *buf, size_t len)
{
	time_t t = (time_t)at;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- control socket ---- */

/* Sends one request line and copies the one-line answer to *answer (malloc'd). */
static int ask_daemon(const ctl *c, const char *request, char **answer)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	if (strlen(c->control) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "gcksctl: control socket path too long\n");
		return EXIT_USAGE;
	}
	strcpy(sun.sun_path, c->control);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
		fprintf(stderr, "gcksctl: gcksd not reachable at %s: %s\n", c->control, strerror(errno));
		if (fd >= 0)
			close(fd);
		return EXIT_DAEMON;
	}
	size_t len = strlen(request);
	char *buf = malloc(1 << 20);
	size_t got = 0;
	int rc = EXIT_DAEMON;
	if (!buf || write(fd, request, len) != (ssize_t)len || write(fd, "\n", 1) != 1)
		goto out;
	for (;;) {
		ssize_t n = read(fd, buf + got, (1 << 20) - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		if (memchr(buf, '\n', got) || got == (1 << 20) - 1)
			break;
	}
	if (!got)
		goto out;
	buf[got] = 0;
	*answer = buf;
	buf = NULL;
	rc = EXIT_OK;
out:
	if (rc)
		fprintf(stderr, "gcksctl: no answer from gcksd at %s\n", c->control);
	free(buf);
	close(fd);
	return rc;
}

static bool answer_ok(const char *a)
{
	return strstr(a, "\"ok\":true") != NULL;
}

/* The string value of "key" in a one-line answer of gcksd's own JSON writer (common/base/json.c
 * escapes only these), malloc'd; NULL when absent. */
static char *answer_str(const char *a, const char *key)
{
	char pat[32];
	snprintf(pat, sizeof(pat), "\"%s\":\"", key);
	const char *p = strstr(a, pat);
	if (!p)
		return NULL;
	p += strlen(pat);
	char *out = malloc(strlen(p) + 1), *w = out;
	if (!out)
		return NULL;
	for (; *p && *p != '"'; p++) {
		if (*p != '\\') {
			*w++ = *p;
			continue;
		}
		switch (*++p) {
		case 'n': *w++ = '\n'; break;
		case 'r': *w++ = '\r'; break;
		case 't': *w++ = '\t'; break;
		case 'u': {
			unsigned v = 0;
			if (sscanf(p + 1, "%4x", &v) == 1 && v < 0x20) {
				*w++ = (char)v;
				p += 4;
			}
			break;
		}
		case 0: p--; break;
		default: *w++ = *p; break;
		}
	}
	*w = 0;
	return out;
}

/* Asks gcksd; prints its JSON answer with --json, else the answer's text for people: the
 * field `text` (status) or `message` (rekey, evict, key rotate). */
static int cmd_daemon(const ctl *c, const char *request)
{
	char *a = NULL;
	int rc = ask_daemon(c, request, &a);
	if (rc)
		return rc;
	rc = answer_ok(a) ? EXIT_OK : EXIT_FAIL;
	char *text = rc || c->json ? NULL : answer_str(a, strstr(a, "\"text\":") ? "text" : "message");
	if (text) {
		fputs(text, stdout);
		if (!*text || text[strlen(text) - 1] != '\n')
			fputc('\n', stdout);
	} else if (!rc) {
		fputs(a, stdout);
		if (!strchr(a, '\n'))
			fputc('\n', stdout);
	}
	if (rc) {
		char *e = answer_str(a, "error");
		fprintf(stderr, "gcksctl: %s\n", e ? e : "gcksd refused the request");
		free(e);
	}
	free(text);
	free(a);
	return rc;
}

/* An identity is written TYPE:VALUE (keyid:video-1). A name given without its type that names
 * an existing group as keyid:NAME gets a hint; s is the open store, or NULL to ask gcksd. */
static void group_hint(const ctl *c, gk_store *s, const char *name)
{
	char cand[GK_IDENT_TEXT_MAX + 8], pat[GK_IDENT_TEXT_MAX + 24];
	bool exists = false;
	if (!name || strchr(name, ':') || strlen(name) >= GK_IDENT_TEXT_MAX)
		return;
	snprintf(cand, sizeof(cand), "keyid:%s", name);
	if (s) {
		int64_t gen;
		exists = gk_store_group_generation(s, cand, &gen) == GK_OK;
	} else {
		char *a = NULL;
		snprintf(pat, sizeof(pat), "\"group\":\"%s\"", cand);
		if (ask_daemon(c, "status", &a) == EXIT_OK)
			exists = strstr(a, pat) != NULL;
		free(a);
	}
	if (exists)
		fprintf(stderr, "gcksctl: did you mean %s?\n", cand);
}

/* A member named without its type (screen-2.example.net) that the group lists under one
 * (fqdn:screen-2.example.net) gets a hint; read from the database when gcksctl can open it. */
static void member_hint(const ctl *c, const char *group, const char *member)
{
	gk_store *s = NULL;
	gk_group_policy g;
	char why[GK_STORE_ERR_MAX], t[GK_IDENT_TEXT_MAX];
	if (!member || strchr(member, ':') || gk_store_open(c->db, false, &s, why, sizeof(why)))
		return;
	if (gk_store_group_get(s, group, &g) == GK_OK) {
		for (size_t i = 0; i < g.nmembers; i++) {
			gk_ident id;
			const char *colon = strchr(gk_ident_text(gk_member_policy_id(&g.members[i], &id), t), ':');
			if (colon && !strcmp(colon + 1, member)) {
				fprintf(stderr, "gcksctl: did you mean %s?\n", t);
				break;
			}
		}
		gk_group_policy_free(&g);
	}
	gk_store_close(s);
}

/* cmd_daemon for a request about group: a refusal gets group_hint. */
static int cmd_daemon_group(const ctl *c, const char *request, const char *group)
{
	int rc = cmd_daemon(c, request);
	if (rc == EXIT_FAIL)
		group_hint(c, NULL, group);
	return rc;
}

/* ---- status --watch: the status redrawn in place ---- */

#define WATCH_INTERVAL_S 2

static volatile sig_atomic_t watch_stop;

static void on_watch_stop(int sig)
{
	(void)sig;
	watch_stop = 1;
}

/* One frame: on a terminal the screen is cleared and the cursor put home first (ECMA-48 ED
 * and CUP), so the view stays in place; into a pipe frames follow one another. --json: one
 * status object per line. */
static int watch_frame(const ctl *c, bool tty)
{
	char *a = NULL, when[32];
	int rc = ask_daemon(c, c->json ? "status" : "status text", &a);
	if (rc)
		return rc;
	if (!answer_ok(a)) {
		char *e = answer_str(a, "error");
		fprintf(stderr, "gcksctl: %s\n", e ? e : "gcksd refused the request");
		free(e);
		free(a);
		return EXIT_FAIL;
	}
	if (c->json) {
		fputs(a, stdout);
	} else {
		char *text = answer_str(a, "text");
		utc_text((int64_t)time(NULL), when, sizeof(when));
		printf("%sgcksctl status --watch: %s, every %d s, Ctrl-C to stop\n\n%s%s", tty ? "\033[H\033[2J" : "", when,
		       WATCH_INTERVAL_S, text ? text : "", tty ? "" : "\n");
		free(text);
	}
	free(a);
	return fflush(stdout) ? EXIT_FAIL : EXIT_OK;
}

/* status --watch: frames until SIGINT or SIGTERM (exit 0), or until gcksd goes away (exit 3). */
static int cmd_status_watch(const ctl *c, int argc, char **argv)
{
	static const struct option opts[] = { { "watch", no_argument, NULL, 'w' }, { 0 } };
	int o;
	optind = 1;
	while ((o = getopt_long(argc, argv, "+", opts, NULL)) != -1)
		if (o != 'w')
			return usage_error("status: unknown option %s", argv[optind - 1]);
	if (optind != argc)
		return usage_error("status: no arguments besides --watch");
	struct sigaction sa = { .sa_handler = on_watch_stop };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	bool tty = isatty(STDOUT_FILENO);
	int rc = EXIT_OK;
	while (!watch_stop && !(rc = watch_frame(c, tty))) {
		struct timespec ts = { WATCH_INTERVAL_S, 0 };
		while (!watch_stop && nanosleep(&ts, &ts) && errno == EINTR)
			;
	}
	return watch_stop ? EXIT_OK : rc;
}

/* ---- init ---- */

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	char chunk[4096];
	size_t n;
	while (m && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		fwrite(chunk, 1, n, m);
	fclose(f);
	if (m)
		fclose(m);
	return buf;
}

static char *key_pem(EVP_PKEY *k)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *out = NULL;
	if (b && PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL)) {
		char *p;
		long n = BIO_get_mem_data(b, &p);
		out = malloc((size_t)n + 1);
		if (out) {
			memcpy(out, p, (size_t)n);
			out[n] = 0;
		}
	}
	BIO_free(b);
	return out;
}

static int cmd_init(const ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "id", required_argument, NULL, 'i' }, { "key", required_argument, NULL, 'k' },
		{ "key-type", required_argument, NULL, 't' }, { "cert", required_argument, NULL, 'c' },
		{ "ca", required_argument, NULL, 'a' }, { 0 },
	};
	const char *id_text = "fqdn:gcks.local", *key = NULL, *type = "ecdsa-p256", *cert = NULL, *ca = NULL;
	char why[GK_ERR_MAX] = "", shown[4200];
	int o;
	optind = 1;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'i': id_text = optarg; break;
		case 'k': key = optarg; break;
		case 't': type = optarg; break;
		case 'c': cert = optarg; break;
		case 'a': ca = optarg; break;
		default: return usage_error("init: unknown option or missing value: %s", argv[optind - 1]);
		}
	}
	gk_gcks_identity id;
	memset(&id, 0, sizeof(id));
	if (gk_ident_parse(id_text, &id.id, why, sizeof(why))) {
		fprintf(stderr, "gcksctl: --id %s: %s\n", id_text, why);
		return EXIT_USAGE;
	}
	gk_store *s = NULL;
	int rc = open_store(c, true, &s);
	if (rc)
		return rc;
	gk_gcks_identity old;
	memset(&old, 0, sizeof(old));
	if (gk_store_identity_get(s, &old) == GK_OK && !key && !cert && !ca) {
		gk_gcks_identity_free(&old);
		fprintf(stderr, "gcksctl: %s is already initialized\n", gk_store_locator_text(c->db, shown, sizeof(shown)));
		gk_store_close(s);
		return EXIT_OK;
	}
	gk_gcks_identity_free(&old);
	rc = EXIT_FAIL;
	EVP_PKEY *k = NULL;
	if (key) {
		if (gk_privkey_load_pem(key, &k)) {
			fprintf(stderr, "gcksctl: --key %s: cannot read the private key\n", key);
			goto out;
		}
	} else if (!(k = gk_privkey_generate(type))) {
		fprintf(stderr, "gcksctl: --key-type %s: use ecdsa-p256, ecdsa-p384, ed25519 or rsa\n", type);
		rc = EXIT_USAGE;
		goto out;
	}
	id.sign_key_pem = key_pem(k);
	if (cert && !(id.cert_pem = read_file(cert))) {
		fprintf(stderr, "gcksctl: --cert %s: cannot read\n", cert);
		goto out;
	}
	if (ca && !(id.ca_pem = read_file(ca))) {
		fprintf(stderr, "gcksctl: --ca %s: cannot read\n", ca);
		goto out;
	}
	if (!id.sign_key_pem || gk_store_identity_set(s, &id, c->who, (int64_t)time(NULL))) {
		fprintf(stderr, "gcksctl: cannot store the GCKS identity\n");
		goto out;
	}
	printf("initialized %s as %s (%s signing key)\n", gk_store_locator_text(c->db, shown, sizeof(shown)), id_text,
	       key ? "imported" : type);
	rc = EXIT_OK;
out:
	EVP_PKEY_free(k);
	gk_gcks_identity_free(&id);
	gk_store_close(s);
	return rc;
}

/* ---- policy ---- */

static int load_files(int n, char **files, gk_group_policy ***groups, size_t **counts)
{
	gk_diag d;
	int rc = EXIT_OK;
	gk_diag_init(&d);
	*groups = calloc((size_t)n, sizeof(**groups));
	*counts = calloc((size_t)n, sizeof(**counts));
	if (!*groups || !*counts)
		return EXIT_FAIL;
	for (int i = 0; i < n; i++) {
		gk_status st = gk_policy_yaml_load(files[i], &(*groups)[i], &(*counts)[i], &d);
		if (st == GK_E_INVAL)
			rc = EXIT_INVALID;
		else if (st && rc == EXIT_OK)
			rc = EXIT_FAIL;
	}
	gk_diag_print(&d, stderr); /* with "(N more messages not shown)" past GK_DIAG_MAX */
	gk_diag_free(&d);
	return rc;
}

static void free_loaded(int n, gk_group_policy **groups, size_t *counts)
{
	for (int i = 0; groups && i < n; i++)
		gk_policy_yaml_free(groups[i], counts ? counts[i] : 0);
	free(groups);
	free(counts);
}

static int cmd_policy_check(int argc, char **argv)
{
	gk_group_policy **g = NULL;
	size_t *cnt = NULL;
	if (argc < 1)
		return usage_error("policy check: give at least one FILE");
	int rc = load_files(argc, argv, &g, &cnt);
	if (!rc)
		for (int i = 0; i < argc; i++)
			printf("%s: ok (%zu group%s)\n", argv[i], cnt[i], cnt[i] == 1 ? "" : "s");
	free_loaded(argc, g, cnt);
	return rc;
}

/* What the members see, in the words of the summary. */
static const char *effect_text(const gk_group_plan *p)
{
	switch (p->effect) {
	case GK_EFFECT_REKEY:
		return p->keys == GK_PUT_NEW_KEYS ? "rekey (new keys for every SA)"
						  : "rekey (a removed member holds keys)";
	case GK_EFFECT_EXCLUDE_ALL:
		return p->keys == GK_PUT_NEW_KEYS ? "exclude everyone (new keys; members register again)"
						  : "exclude everyone (a removed member holds keys; members register again)";
	case GK_EFFECT_LKH_EVICT:
		return "evict the removed members through the key tree (one GSA_REKEY; the others keep their registrations)";
	case GK_EFFECT_NONE:
		break;
	}
	return "nothing sent to members (keys kept)";
}

static const char *keys_word(gk_put_keys k)
{
	return k == GK_PUT_UNCHANGED ? "unchanged" : k == GK_PUT_ADDED ? "added" : k == GK_PUT_KEEP_KEYS ? "keys kept"
													     : "new keys";
}

static const char *effect_word(gk_put_effect e)
{
	return e == GK_EFFECT_REKEY ? "rekey" : e == GK_EFFECT_EXCLUDE_ALL ? "exclude everyone"
	       : e == GK_EFFECT_LKH_EVICT ? "evict through the key tree" : "nothing";
}

/* Member lines shown per list for people (JSON has them all). */
#define PLAN_MEMBERS_SHOWN 20

/* One group's summary: for people on stdout, with --json as an object; a member let back after
 * an eviction is a warning on stderr either way. */
static void plan_print(const ctl *c, gk_json *j, const char *file, const gk_group_plan *p)
{
	for (size_t i = 0; i < p->nadded; i++)
		if (p->added[i].evicted)
			fprintf(stderr, "gcksctl: warning: %s: %s was evicted from %s; this load lets it register again\n",
				file, p->added[i].member, p->group);
	if (c->json) {
		gk_json_obj(j);
		gk_json_kstr(j, "group", p->group);
		gk_json_kstr(j, "file", file);
		gk_json_kstr(j, "change", keys_word(p->keys));
		gk_json_kstr(j, "members_see", effect_word(p->effect));
		gk_json_key(j, "members_added");
		gk_json_arr(j);
		for (size_t i = 0; i < p->nadded; i++) {
			gk_json_obj(j);
			gk_json_kstr(j, "member", p->added[i].member);
			gk_json_kbool(j, "evicted_earlier", p->added[i].evicted);
			gk_json_obj_end(j);
		}
		gk_json_arr_end(j);
		gk_json_key(j, "members_removed");
		gk_json_arr(j);
		for (size_t i = 0; i < p->nremoved; i++) {
			gk_json_obj(j);
			gk_json_kstr(j, "member", p->removed[i].member);
			gk_json_kbool(j, "registered", p->removed[i].registered);
			gk_json_obj_end(j);
		}
		gk_json_arr_end(j);
		gk_json_obj_end(j);
		return;
	}
	if (p->keys == GK_PUT_UNCHANGED)
		printf("%s: unchanged\n", p->group);
	else if (p->keys == GK_PUT_ADDED)
		printf("%s: added (new group, %zu member%s)\n", p->group, p->nadded, p->nadded == 1 ? "" : "s");
	else
		printf("%s: changed: %s\n", p->group, effect_text(p));
	if (p->keys == GK_PUT_ADDED)
		return;
	for (size_t i = 0; i < p->nadded && i < PLAN_MEMBERS_SHOWN; i++)
		printf("  member added: %s%s\n", p->added[i].member, p->added[i].evicted ? " (evicted earlier)" : "");
	if (p->nadded > PLAN_MEMBERS_SHOWN)
		printf("  ... and %zu more members added\n", p->nadded - PLAN_MEMBERS_SHOWN);
	for (size_t i = 0; i < p->nremoved && i < PLAN_MEMBERS_SHOWN; i++)
		printf("  member removed: %s%s\n", p->removed[i].member,
		       p->removed[i].registered ? " (registered: its keys are taken back)" : "");
	if (p->nremoved > PLAN_MEMBERS_SHOWN)
		printf("  ... and %zu more members removed\n", p->nremoved - PLAN_MEMBERS_SHOWN);
}

/* policy load [--dry-run] FILE...: validates every file, then stores each group (or, with
 * --dry-run, only says what storing it would do: the same decision, gk_keys_group_plan, and
 * nothing written, gcksd not asked) and prints per group what changes for its members. */
/* A notice to the key servers sharing the store: "gcksctl GROUP" (gcksd's own are "SERVER-ID
 * GROUP"; a server id has no white space, so no server takes this one for its own). */
static const char *notice_text(const char *group, char *buf, size_t len)
{
	snprintf(buf, len, "gcksctl %s", group);
	return buf;
}

static int cmd_policy_load(const ctl *c, int argc, char **argv)
{
	gk_group_policy **g = NULL;
	size_t *cnt = NULL;
	gk_store *s = NULL;
	static const struct option opts[] = { { "dry-run", no_argument, NULL, 'n' }, { 0 } };
	bool dry = false;
	int o;
	optind = 0; /* a fresh scan that permutes: --dry-run may come before or after the files */
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o != 'n')
			return usage_error("policy load: unknown option: %s", argv[optind - 1]);
		dry = true;
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		return usage_error("policy load: give at least one FILE");
	/* the JSON document is written whole or not at all (an error is its own document) */
	char *doc = NULL;
	size_t doclen = 0;
	FILE *out = c->json ? open_memstream(&doc, &doclen) : stdout;
	if (!out)
		return EXIT_FAIL;
	gk_json j;
	gk_json_init(&j, out);
	char note[GK_IDENT_TEXT_MAX + 16];
	int rc = load_files(argc, argv, &g, &cnt);
	if (!rc)
		rc = open_store(c, false, &s);
	if (!rc && c->json) {
		gk_json_obj(&j);
		gk_json_kbool(&j, "dry_run", dry);
		gk_json_key(&j, "groups");
		gk_json_arr(&j);
	}
	for (int i = 0; !rc && i < argc; i++) {
		for (size_t k = 0; !rc && k < cnt[i]; k++) {
			gk_group_plan p;
			gk_status st = dry ? gk_keys_group_plan(s, &g[i][k], &p)
					   : gk_keys_group_apply(s, &g[i][k], c->who, argv[i], (int64_t)time(NULL), &p);
			if (st) {
				fprintf(stderr, "gcksctl: %s: group %s: cannot %s: %s\n", argv[i], g[i][k].name,
					dry ? "read the stored policy" : "store", gk_store_errmsg(s));
				rc = EXIT_FAIL;
			} else {
				plan_print(c, &j, argv[i], &p);
				/* every gcksd sharing the store reloads the group (LISTEN/NOTIFY) */
				if (!dry && gk_store_notify(s, notice_text(g[i][k].name, note, sizeof(note))))
					fprintf(stderr, "gcksctl: group %s: stored, but the key servers were not told: "
						"they reload it at their next start or reload\n", g[i][k].name);
			}
			gk_group_plan_free(&p);
		}
	}
	gk_store_close(s);
	free_loaded(argc, g, cnt);
	if (rc) {
		if (c->json) {
			fclose(out);
			free(doc);
		}
		return rc;
	}
	char *a = NULL;
	struct stat stt;
	const char *daemon;
	if (dry)
		daemon = "dry run: nothing stored, gcksd not asked";
	else if (stat(c->control, &stt) == 0 && ask_daemon(c, "reload", &a) == EXIT_OK)
		daemon = answer_ok(a) ? "reloaded" : a;
	else
		daemon = NULL;
	if (c->json) {
		gk_json_arr_end(&j);
		gk_json_kstr(&j, "gcksd", daemon ? daemon : "not running: the policy applies when it starts");
		gk_json_obj_end(&j);
		fclose(out);
		fwrite(doc, 1, doclen, stdout);
		putchar('\n');
		free(doc);
	} else if (dry) {
		printf("%s\n", daemon);
	} else if (daemon) {
		printf("gcksd: %s", answer_ok(a) ? "policies reloaded\n" : a);
	} else {
		printf("gcksd not running at %s: the policy applies when it starts\n", c->control);
	}
	free(a);
	return EXIT_OK;
}

static int cmd_policy_export(const ctl *c, int argc, char **argv)
{
	gk_store *s = NULL;
	char **names = NULL;
	size_t n = 0;
	int rc = open_store(c, false, &s);
	if (rc)
		return rc;
	if (argc > 1) {
		rc = usage_error("policy export: at most one GROUP");
		goto out;
	}
	/* The export holds PSKs: a file it is redirected to becomes 0600 (policies/README). */
	struct stat out_st;
	if (fstat(STDOUT_FILENO, &out_st) == 0 && S_ISREG(out_st.st_mode) && (out_st.st_mode & 077) &&
	    fchmod(STDOUT_FILENO, out_st.st_mode & 0600)) {
		fprintf(stderr, "gcksctl: cannot make the export file mode 0600 (it holds keys): %s\n", strerror(errno));
		rc = EXIT_FAIL;
		goto out;
	}
	if (argc == 1) {
		names = calloc(1, sizeof(*names));
		if (names && (names[0] = strdup(argv[0])))
			n = 1;
	} else if (gk_store_group_names(s, &names, &n)) {
		rc = EXIT_FAIL;
		goto out;
	}
	gk_group_policy *g = calloc(n ? n : 1, sizeof(*g));
	size_t got = 0;
	for (size_t i = 0; g && i < n; i++, got++)
		if (gk_store_group_get(s, names[i], &g[i])) {
			fprintf(stderr, "gcksctl: no group %s\n", names[i]);
			group_hint(c, s, names[i]);
			rc = EXIT_FAIL;
			break;
		}
	if (!rc && gk_policy_yaml_export(g, got, stdout))
		rc = EXIT_FAIL;
	for (size_t i = 0; g && i < got; i++)
		gk_group_policy_free(&g[i]);
	free(g);
out:
	gk_store_names_free(names, n);
	gk_store_close(s);
	return rc;
}

/* ---- group / member ---- */

static const char *rekey_name(const gk_group_policy *g)
{
	return g->rekey_transport == GK_REKEY_INBAND ? "inband" : "multicast";
}

static int cmd_group_list(const ctl *c)
{
	gk_store *s = NULL;
	char **names = NULL;
	size_t n = 0;
	int rc = open_store(c, false, &s);
	if (rc)
		return rc;
	if (gk_store_group_names(s, &names, &n)) {
		gk_store_close(s);
		return EXIT_FAIL;
	}
	gk_json j;
	gk_json_init(&j, stdout);
	if (c->json)
		gk_json_arr(&j);
	else
		printf("%-32s %-9s %8s %8s %4s\n", "GROUP", "REKEY", "MEMBERS", "CAPACITY", "SAS");
	for (size_t i = 0; i < n; i++) {
		gk_group_policy g;
		uint32_t reg = 0;
		if (gk_store_group_get(s, names[i], &g))
			continue;
		gk_store_registration_count(s, names[i], &reg);
		if (c->json) {
			gk_json_obj(&j);
			gk_json_kstr(&j, "group", g.name);
			gk_json_kstr(&j, "rekey", rekey_name(&g));
			gk_json_kint(&j, "members", reg);
			gk_json_kint(&j, "capacity", g.capacity);
			gk_json_kint(&j, "sas", (long long)g.nteks);
			gk_json_obj_end(&j);
		} else {
			printf("%-32s %-9s %8u %8u %4zu\n", g.name, rekey_name(&g), reg, g.capacity, g.nteks);
		}
		gk_group_policy_free(&g);
	}
	if (c->json) {
		gk_json_arr_end(&j);
		putchar('\n');
	}
	gk_store_names_free(names, n);
	gk_store_close(s);
	return EXIT_OK;
}

static void sa_line(const gk_tek_policy *t)
{
	char src[96], dst[96];
	gk_ts_spec_text(&t->src, src, sizeof(src));
	gk_ts_spec_text(&t->dst, dst, sizeof(dst));
	printf("  sa %-12s %-3s %s%s%s %s %s -> %s lifetime %us\n", t->name, gk_iana_str(GK_REG_PROTO, t->proto),
	       t->encr ? gk_iana_str(GK_REG_ENCR, t->encr) : "", t->integ ? " " : "",
	       t->integ ? gk_iana_str(GK_REG_INTEG, t->integ) : "", gk_iana_str(GK_REG_SN, t->sn), src, dst,
	       t->lifetime);
}

/* The running gcksd's answer to a request about one group, when its control socket exists
 * (NULL otherwise, quietly: group show and member list work without gcksd). */
static char *daemon_group(const ctl *c, const char *request, const char *group)
{
	char req[1400], *a = NULL;
	struct stat st;
	if (stat(c->control, &st))
		return NULL;
	snprintf(req, sizeof(req), "%s %s", request, group);
	if (ask_daemon(c, req, &a) != EXIT_OK)
		return NULL;
	if (!answer_ok(a)) {
		free(a);
		return NULL;
	}
	return a;
}

/* The end of the JSON array or object that starts at p (the bracket closing p[0]), skipping
 * strings; NULL when it does not end. */
static char *json_close(char *p)
{
	int depth = 0;
	bool str = false;
	for (; *p; p++) {
		if (str) {
			if (*p == '\\' && p[1])
				p++;
			else if (*p == '"')
				str = false;
		} else if (*p == '"') {
			str = true;
		} else if (*p == '[' || *p == '{') {
			depth++;
		} else if ((*p == ']' || *p == '}') && --depth == 0) {
			return p;
		}
	}
	return NULL;
}

/* group show: the running gcksd's last and next rekey and counters of the group. */
static void group_show_daemon(const ctl *c, const char *name, gk_json *j)
{
	char *a = daemon_group(c, j ? "status" : "status text", name);
	if (j) {
		/* the group's object from {"ok":true,...,"groups":[{...}]}, as gcksd wrote it */
		char *o = a ? strstr(a, "\"groups\":[{") : NULL, *e = o ? json_close(o + strlen("\"groups\":")) : NULL;
		gk_json_key(j, "daemon");
		if (o && e) {
			*e = 0;
			fputs(o + strlen("\"groups\":["), stdout);
		} else {
			gk_json_null(j);
		}
	} else {
		char *t = a ? answer_str(a, "text") : NULL;
		for (char *l = t ? strtok(t, "\n") : NULL; l; l = strtok(NULL, "\n"))
			if (!strncmp(l, "  last rekey", 12) || !strncmp(l, "  registrations ", 16))
				printf("%s\n", l);
		if (!t)
			printf("  gcksd not running at %s: no rekey state\n", c->control);
		free(t);
	}
	free(a);
}

static int cmd_group_show(const ctl *c, const char *name)
{
	gk_store *s = NULL;
	gk_group_policy g;
	int rc = open_store(c, false, &s);
	if (rc)
		return rc;
	if (gk_store_group_get(s, name, &g)) {
		fprintf(stderr, "gcksctl: no group %s\n", name);
		group_hint(c, s, name);
		gk_store_close(s);
		return EXIT_FAIL;
	}
	uint32_t reg = 0;
	int64_t gen = 0;
	gk_store_registration_count(s, name, &reg);
	gk_store_group_generation(s, name, &gen);
	if (c->json) {
		gk_json j;
		gk_json_init(&j, stdout);
		gk_json_obj(&j);
		gk_json_kstr(&j, "group", g.name);
		gk_json_kint(&j, "generation", gen);
		gk_json_kstr(&j, "rekey", rekey_name(&g));
		gk_json_kint(&j, "capacity", g.capacity);
		gk_json_kint(&j, "members_registered", reg);
		gk_json_kint(&j, "members_authorized", (long long)g.nmembers);
		gk_json_kstr(&j, "mode", g.transport_mode ? "transport" : "tunnel");
		gk_json_key(&j, "sas");
		gk_json_arr(&j);
		for (size_t i = 0; i < g.nteks; i++) {
			char src[96], dst[96];
			gk_json_obj(&j);
			gk_json_kstr(&j, "name", g.teks[i].name);
			gk_json_kstr(&j, "protocol", gk_iana_str(GK_REG_PROTO, g.teks[i].proto));
			if (g.teks[i].encr)
				gk_json_kstr(&j, "encryption", gk_iana_str(GK_REG_ENCR, g.teks[i].encr));
			if (g.teks[i].integ)
				gk_json_kstr(&j, "integrity", gk_iana_str(GK_REG_INTEG, g.teks[i].integ));
			gk_json_kstr(&j, "source", gk_ts_spec_text(&g.teks[i].src, src, sizeof(src)));
			gk_json_kstr(&j, "destination", gk_ts_spec_text(&g.teks[i].dst, dst, sizeof(dst)));
			gk_json_kint(&j, "lifetime", g.teks[i].lifetime);
			gk_json_obj_end(&j);
		}
		gk_json_arr_end(&j);
		group_show_daemon(c, name, &j);
		gk_json_obj_end(&j);
		putchar('\n');
	} else {
		printf("group %s (generation %lld)\n  rekey %s, mode %s, capacity %u, %u registered, %zu authorized\n",
		       g.name, (long long)gen, rekey_name(&g), g.transport_mode ? "transport" : "tunnel", g.capacity,
		       reg, g.nmembers);
		for (size_t i = 0; i < g.nteks; i++)
			sa_line(&g.teks[i]);
		if (g.kek.present)
			printf("  rekey sa %s%s%s %s\n", gk_iana_str(GK_REG_ENCR, g.kek.encr), g.kek.integ ? " " : "",
			       g.kek.integ ? gk_iana_str(GK_REG_INTEG, g.kek.integ) : "", gk_iana_str(GK_REG_KWA, g.kek.kwa));
		group_show_daemon(c, name, NULL);
	}
	gk_group_policy_free(&g);
	gk_store_close(s);
	return EXIT_OK;
}

static int cmd_group_delete(const ctl *c, const char *name)
{
	gk_store *s = NULL;
	int rc = open_store(c, false, &s);
	if (rc)
		return rc;
	gk_status st = gk_store_group_delete(s, name, c->who, (int64_t)time(NULL));
	if (st) {
		fprintf(stderr, "gcksctl: cannot delete group %s: %s\n", name, gk_status_str(st));
		group_hint(c, s, name);
	}
	gk_store_close(s);
	if (st)
		return EXIT_FAIL;
	printf("deleted %s\n", name);
	char *a = NULL;
	struct stat stt;
	if (stat(c->control, &stt) == 0 && ask_daemon(c, "reload", &a) == EXIT_OK)
		free(a);
	return EXIT_OK;
}

/* What the running gcksd knows of one registered member (member list). */
typedef struct member_live {
	bool known;                   /* gcksd answered */
	bool inband;
	bool has_sa;                  /* an IKE SA registered to the group is up */
	int64_t last_seen;            /* 0 = not known */
	bool pending;                 /* a GSA_INBAND_REKEY to it waits for its answer */
	bool behind;
} member_live;

/* The integer after "key": in [a, end), or def. */
static long long answer_int_in(const char *a, const char *end, const char *key, long long def)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	const char *p = strstr(a, pat);
	return p && p < end ? strtoll(p + strlen(pat), NULL, 10) : def;
}

/* Fills l for member m from gcksd's answer a to `members GROUP` (NULL: not running).
 * Behind, as far as gcksd can know: an inband member whose last GSA_INBAND_REKEY is not
 * acknowledged or that holds no IKE SA to receive the next one; a multicast member registered
 * before the group's last exclusion of every member (RFC 9838 2.4.3), which it had to answer by
 * registering again. A multicast GSA_REKEY has no acknowledgement: a member that registered
 * since and missed one cannot be told from one that did not. */
static void member_state(const char *a, const gk_registration *r, member_live *l)
{
	memset(l, 0, sizeof(*l));
	if (!a)
		return;
	l->known = true;
	l->inband = strstr(a, "\"rekey\":\"inband\"") != NULL;
	char *pat = NULL;
	size_t plen = 0;
	FILE *f = open_memstream(&pat, &plen);
	if (f) {
		gk_json j;
		gk_json_init(&j, f);
		fputs("{\"member\":", f);
		gk_json_str(&j, r->member);
		fclose(f);
	}
	const char *o = pat ? strstr(a, pat) : NULL, *end = o ? strchr(o, '}') : NULL;
	free(pat);
	if (o && end) {
		l->has_sa = true;
		l->last_seen = answer_int_in(o, end, "last_seen", 0);
		l->pending = strstr(o, "\"rekey_pending\":true") && strstr(o, "\"rekey_pending\":true") < end;
	}
	if (l->inband)
		l->behind = !l->has_sa || l->pending;
	else
		l->behind = r->registered_at < answer_int_in(a, a + strlen(a), "last_exclusion", 0);
}

static const char *rekey_state(const member_live *l)
{
	if (!l->known)
		return "?";
	if (!l->inband)
		return l->behind ? "excluded" : "-";
	return !l->has_sa ? "no-sa" : l->pending ? "pending" : "acknowledged";
}

static int cmd_member_list(const ctl *c, const char *group, bool behind_only)
{
	gk_store *s = NULL;
	gk_registration *r = NULL;
	size_t n = 0;
	int rc = open_store(c, false, &s);
	if (rc)
		return rc;
	if (gk_store_registrations(s, group, &r, &n)) {
		fprintf(stderr, "gcksctl: no group %s\n", group);
		group_hint(c, s, group);
		gk_store_close(s);
		return EXIT_FAIL;
	}
	gk_store_close(s);
	char *live = daemon_group(c, "members", group);
	if (behind_only && !live) {
		fprintf(stderr, "gcksctl: --behind needs the running gcksd (control socket %s)\n", c->control);
		free(r);
		return EXIT_DAEMON;
	}
	int64_t now = (int64_t)time(NULL);
	gk_json j;
	gk_json_init(&j, stdout);
	if (c->json)
		gk_json_arr(&j);
	else
		printf("%-36s %-8s %-24s %-20s %-10s %-9s %-12s %s\n", "MEMBER", "ROLE", "FROM", "REGISTERED", "SENDER-IDS",
		       "TRANSPORT", "REKEY", "LAST-SEEN");
	for (size_t i = 0; i < n; i++) {
		char when[32], seen[32] = "-";
		member_live l;
		member_state(live, &r[i], &l);
		if (behind_only && !l.behind)
			continue;
		utc_text(r[i].registered_at, when, sizeof(when));
		if (l.last_seen)
			snprintf(seen, sizeof(seen), "%llds ago", (long long)(now > l.last_seen ? now - l.last_seen : 0));
		const char *role = r[i].role == GK_ROLE_SENDER ? "sender" : "receiver";
		const char *transport = !l.known ? "?" : l.inband ? "inband" : "multicast";
		if (c->json) {
			gk_json_obj(&j);
			gk_json_kstr(&j, "member", r[i].member);
			gk_json_kstr(&j, "role", role);
			gk_json_kstr(&j, "peer", r[i].peer);
			gk_json_kstr(&j, "registered", when);
			/* false also for a registration older than schema version 3: not known */
			gk_json_kbool(&j, "ike_fragmentation", r[i].frag_ok);
			gk_json_key(&j, "sender_ids");
			gk_json_arr(&j);
			for (uint32_t k = 0; k < r[i].sender_id_count; k++)
				gk_json_int(&j, r[i].sender_id_first + k);
			gk_json_arr_end(&j);
			if (l.known) { /* what the running gcksd knows */
				gk_json_kstr(&j, "transport", transport);
				gk_json_key(&j, "last_seen");
				if (l.last_seen) {
					utc_text(l.last_seen, seen, sizeof(seen));
					gk_json_str(&j, seen);
				} else {
					gk_json_null(&j);
				}
				if (l.inband)
					gk_json_kbool(&j, "rekey_acknowledged", l.has_sa && !l.pending);
				gk_json_kbool(&j, "behind", l.behind);
			}
			gk_json_obj_end(&j);
		} else {
			char ids[64] = "-";
			if (r[i].sender_id_count == 1)
				snprintf(ids, sizeof(ids), "%u", r[i].sender_id_first);
			else if (r[i].sender_id_count > 1)
				snprintf(ids, sizeof(ids), "%u-%u", r[i].sender_id_first,
					 r[i].sender_id_first + r[i].sender_id_count - 1);
			printf("%-36s %-8s %-24s %-20s %-10s %-9s %-12s %s\n", r[i].member, role, r[i].peer, when, ids,
			       transport, rekey_state(&l), seen);
		}
	}
	if (c->json) {
		gk_json_arr_end(&j);
		putchar('\n');
	}
	free(live);
	free(r);
	return EXIT_OK;
}

/* member list [--behind] GROUP */
static int cmd_member_list_args(const ctl *c, int argc, char **argv)
{
	static const struct option opts[] = { { "behind", no_argument, NULL, 'b' }, { 0 } };
	bool behind = false;
	int o;
	optind = 1;
	while ((o = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		if (o != 'b')
			return usage_error("member list: unknown option %s", argv[optind - 1]);
		behind = true;
	}
	if (optind != argc - 1)
		return usage_error("member list: give one GROUP");
	return cmd_member_list(c, argv[optind], behind);
}

/* audit [N]: the last N (default 20) admin changes, oldest first */
static int cmd_audit(const ctl *c, int argc, char **argv)
{
	size_t last = 20;
	if (argc > 1) {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(argv[1], &end, 10);
		if (errno || *end || !v || argv[1][0] == '-')
			return usage_error("audit %s: the count must be a positive number", argv[1]);
		last = (size_t)v;
	}
	gk_store *s = NULL;
	gk_audit_row *r = NULL;
	size_t n = 0;
	int rc = open_store(c, false, &s);
	if (rc)
		return rc;
	if (gk_store_audit_list(s, last, &r, &n)) {
		fprintf(stderr, "gcksctl: cannot read the audit log: %s\n", gk_store_errmsg(s));
		gk_store_close(s);
		return EXIT_FAIL;
	}
	gk_json j;
	gk_json_init(&j, stdout);
	if (c->json)
		gk_json_arr(&j);
	else
		printf("%-20s %-20s %-16s %s\n", "WHEN", "WHO", "ACTION", "DETAIL");
	for (size_t i = 0; i < n; i++) {
		char when[32];
		utc_text(r[i].at, when, sizeof(when));
		if (c->json) {
			gk_json_obj(&j);
			gk_json_kstr(&j, "at", when);
			gk_json_kstr(&j, "who", r[i].who);
			gk_json_kstr(&j, "action", r[i].action);
			gk_json_kstr(&j, "detail", r[i].detail);
			gk_json_obj_end(&j);
		} else {
			printf("%-20s %-20s %-16s %s\n", when, r[i].who, r[i].action, r[i].detail);
		}
	}
	if (c->json) {
		gk_json_arr_end(&j);
		putchar('\n');
	}
	free(r);
	gk_store_close(s);
	return EXIT_OK;
}

/* ---- backup and restore ---- */

/* A backup gcksd sends is read into memory: at most this many octets. */
#define BACKUP_BYTES_MAX ((size_t)1 << 32)

/* Is the database held by a gcksd (an flock on DB.lock, lockfile.h)? With take, the lock is
 * ours while *fd stays open (*created: the file was made for it; remove it after). Returns 1
 * held (*pid the holder's, from the file), 0 not held, -1 on error (said on stderr). */
static int db_lock(const ctl *c, bool take, int *fd, bool *created, long *pid)
{
	char path[4200];
	*fd = -1;
	*created = false;
	*pid = 0;
	if (gk_store_locator_shared(c->db))
		return 0; /* no lock file: several gcksd share it */
	if ((size_t)snprintf(path, sizeof(path), "%s.lock", c->db) >= sizeof(path)) {
		fprintf(stderr, "gcksctl: %s: path too long\n", c->db);
		return -1;
	}
	int f = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (f < 0 && errno == ENOENT && !take)
		return 0;
	if (f < 0 && errno == ENOENT && (f = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) >= 0)
		*created = true;
	if (f < 0) {
		fprintf(stderr, "gcksctl: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (flock(f, LOCK_EX | LOCK_NB)) {
		char buf[32] = "";
		ssize_t n = errno == EWOULDBLOCK ? pread(f, buf, sizeof(buf) - 1, 0) : -1;
		close(f);
		if (n < 0) {
			fprintf(stderr, "gcksctl: %s: %s\n", path, strerror(errno));
			return -1;
		}
		buf[n] = 0;
		*pid = strtol(buf, NULL, 10);
		return 1;
	}
	if (take)
		*fd = f;
	else
		close(f);
	return 0;
}

static void db_unlock(const ctl *c, int fd, bool created)
{
	char path[4200];
	if (fd < 0)
		return;
	if (created && (size_t)snprintf(path, sizeof(path), "%s.lock", c->db) < sizeof(path))
		unlink(path); /* made by this gcksctl (maybe as root): gcksd makes its own */
	close(fd);
}

/* Reads exactly n octets. */
static bool read_full(int fd, uint8_t *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		got += (size_t)r;
	}
	return true;
}

/* gcksd's backup over the control socket (CONTROL.md "backup"), saved at file. */
static int backup_via_daemon(const ctl *c, const char *file, size_t *size)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char head[256], err[GK_STORE_ERR_MAX];
	size_t hl = 0, n = 0;
	uint8_t *db = NULL;
	int rc = EXIT_DAEMON;
	if (strlen(c->control) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "gcksctl: control socket path too long\n");
		return EXIT_USAGE;
	}
	strcpy(sun.sun_path, c->control);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
		fprintf(stderr, "gcksctl: gcksd not reachable at %s: %s\n", c->control, strerror(errno));
		goto out;
	}
	if (write(fd, "backup\n", 7) != 7)
		goto noanswer;
	/* one line, then the octets it announces */
	while (hl < sizeof(head) - 1 && read(fd, head + hl, 1) == 1 && head[hl] != '\n')
		hl++;
	head[hl] = 0;
	if (!hl)
		goto noanswer;
	const char *b = strstr(head, "\"bytes\":");
	unsigned long long v = b ? strtoull(b + 8, NULL, 10) : 0;
	if (!answer_ok(head) || !v) {
		char *e = answer_str(head, "error");
		fprintf(stderr, "gcksctl: %s\n", e ? e : "gcksd refused the backup");
		free(e);
		rc = EXIT_FAIL;
		goto out;
	}
	if (v > BACKUP_BYTES_MAX || !(db = malloc((size_t)v))) {
		fprintf(stderr, "gcksctl: a backup of %llu octets is more than gcksctl takes\n", v);
		rc = EXIT_FAIL;
		goto out;
	}
	n = (size_t)v;
	if (!read_full(fd, db, n))
		goto noanswer;
	rc = EXIT_FAIL;
	if (gk_store_backup_save(c->db, db, n, file, err, sizeof(err))) {
		fprintf(stderr, "gcksctl: %s\n", err);
		goto out;
	}
	*size = n;
	rc = EXIT_OK;
	goto out;
noanswer:
	fprintf(stderr, "gcksctl: no answer from gcksd at %s\n", c->control);
out:
	gk_store_bytes_free(db, n);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* backup FILE: through the running gcksd (which holds the database: its backup is taken between
 * its transactions), else directly from --db. */
static int cmd_backup(const ctl *c, const char *file)
{
	int fd, version = 0, rc;
	bool created;
	long pid;
	size_t size = 0;
	char err[GK_STORE_ERR_MAX];
	int held = db_lock(c, false, &fd, &created, &pid);
	if (held < 0)
		return EXIT_FAIL;
	if (held) {
		rc = backup_via_daemon(c, file, &size);
	} else {
		gk_store *s = NULL;
		if ((rc = open_store(c, false, &s)))
			return rc;
		if (gk_store_backup(s, file, err, sizeof(err))) {
			fprintf(stderr, "gcksctl: %s\n", err);
			rc = EXIT_FAIL;
		} else {
			gk_store_audit(s, c->who, "backup", file, (int64_t)time(NULL));
		}
		gk_store_close(s);
	}
	if (rc)
		return rc;
	struct stat st;
	if (gk_store_backup_check(c->db, file, &version, err, sizeof(err)) || stat(file, &st)) {
		fprintf(stderr, "gcksctl: %s\n", err);
		return EXIT_FAIL;
	}
	printf("backup of %s written to %s (%lld octets, schema version %d, %s)\n", c->db, file,
	       (long long)st.st_size, version, held ? "from the running gcksd" : "from the database file");
	return EXIT_OK;
}

/* restore FILE: the backup, checked, replaces --db, marked so that gcksd excludes every group
 * with new keys when it starts (gk_keys_restore_epoch). Refused while a gcksd holds --db. */
static int cmd_restore(const ctl *c, const char *file)
{
	int fd, version = 0, rc = EXIT_FAIL;
	bool created;
	long pid;
	size_t ngroups = 0;
	char staged[4200], err[GK_STORE_ERR_MAX];
	gk_store *s = NULL;
	int held = db_lock(c, true, &fd, &created, &pid);
	if (held < 0)
		return EXIT_FAIL;
	if (held) {
		fprintf(stderr, "gcksctl: %s is in use by gcksd (pid %ld): stop it before a restore "
			"(systemctl stop gcksd)\n", c->db, pid);
		return EXIT_IN_USE;
	}
	gk_status st = gk_store_restore_stage(file, c->db, staged, sizeof(staged), &version, err, sizeof(err));
	if (st) {
		fprintf(stderr, "gcksctl: %s\n", err);
		rc = st == GK_E_INVAL ? EXIT_INVALID : EXIT_FAIL;
		goto out;
	}
	/* opening migrates an older schema; then the restore is recorded in the copy itself */
	if (gk_store_open(staged, false, &s, err, sizeof(err)) ||
	    gk_keys_restore_epoch(s, c->who, file, (int64_t)time(NULL), &ngroups)) {
		fprintf(stderr, "gcksctl: %s: cannot prepare the restored database: %s\n", file,
			s ? gk_store_errmsg(s) : err);
		gk_store_close(s);
		unlink(staged);
		goto out;
	}
	gk_store_close(s);
	if (gk_store_restore_install(staged, c->db, err, sizeof(err))) {
		fprintf(stderr, "gcksctl: %s\n", err);
		goto out;
	}
	printf("restored %s from %s (schema version %d%s): %zu group%s; when gcksd starts, every member is "
	       "excluded and gets new keys by registering again, and Rekey SA Message IDs continue %u higher\n",
	       c->db, file, version, version < GK_SCHEMA_VERSION ? ", migrated" : "", ngroups,
	       ngroups == 1 ? "" : "s", (unsigned)GK_RESTORE_MSGID_SKIP);
	rc = EXIT_OK;
out:
	db_unlock(c, fd, created);
	return rc;
}

/* restored SOURCE: the database was just put back from SOURCE by other tools (pg_restore of a
 * pg_dump on PostgreSQL, a file copied back on SQLite): marks the restore epoch in it, as
 * restore does (gk_keys_restore_epoch), so that nothing issued after the dump is issued again.
 * SOURCE is only recorded. Refused while a gcksd holds --db (SQLite) or while any server's
 * heartbeat in it is fresh (a shared store: every server must be stopped). */
static int cmd_restored(const ctl *c, const char *source)
{
	int fd, rc = EXIT_FAIL;
	bool created;
	long pid;
	size_t ngroups = 0, n = 0;
	char err[GK_STORE_ERR_MAX];
	gk_server_row *rows = NULL;
	gk_store *s = NULL;
	int held = db_lock(c, true, &fd, &created, &pid);
	if (held < 0)
		return EXIT_FAIL;
	if (held) {
		fprintf(stderr, "gcksctl: %s is in use by gcksd (pid %ld): stop it first\n", c->db, pid);
		rc = EXIT_IN_USE;
		return rc;
	}
	if (gk_store_open(c->db, false, &s, err, sizeof(err))) {
		fprintf(stderr, "gcksctl: %s\n", err);
		goto out;
	}
	if (gk_store_servers(s, &rows, &n)) {
		fprintf(stderr, "gcksctl: %s: %s\n", c->db, gk_store_errmsg(s));
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (rows[i].age <= GK_CLUSTER_LEASE_S) {
			fprintf(stderr, "gcksctl: gcksd %s is running on the database (heartbeat %llds ago): stop every "
				"server before marking a restore\n", rows[i].id, (long long)rows[i].age);
			rc = EXIT_IN_USE;
			goto out;
		}
	if (gk_keys_restore_epoch(s, c->who, source, (int64_t)time(NULL), &ngroups)) {
		fprintf(stderr, "gcksctl: cannot mark the restore: %s\n", gk_store_errmsg(s));
		goto out;
	}
	char shown[512];
	printf("marked %s restored from %s: %zu group%s; when gcksd starts, every member is excluded and gets new "
	       "keys by registering again, and Rekey SA Message IDs continue %u higher\n",
	       gk_store_locator_text(c->db, shown, sizeof(shown)), source, ngroups,
	       ngroups == 1 ? "" : "s", (unsigned)GK_RESTORE_MSGID_SKIP);
	rc = EXIT_OK;
out:
	free(rows);
	gk_store_close(s);
	db_unlock(c, fd, created);
	return rc;
}

/* The account of a uid, or "uid N". */
static void uid_name(uid_t uid, char *buf, size_t len)
{
	struct passwd pw, *res = NULL;
	char tmp[1024];
	if (!getpwuid_r(uid, &pw, tmp, sizeof(tmp), &res) && res)
		snprintf(buf, len, "%s", res->pw_name);
	else
		snprintf(buf, len, "uid %u", (unsigned)uid);
}

/* Who makes a local change, for the audit log: the account of the real uid (the kernel's word;
 * $USER and $SUDO_USER are whatever the caller set), and the login uid when it differs (an
 * administrator who became root through sudo or su; only CAP_AUDIT_CONTROL can change it). */
static void local_actor(char *buf, size_t len)
{
	char me[256], login[256];
	unsigned long lu = (unsigned long)-1;
	FILE *f = fopen("/proc/self/loginuid", "r");
	if (f) {
		if (fscanf(f, "%lu", &lu) != 1)
			lu = (unsigned long)-1;
		fclose(f);
	}
	uid_name(getuid(), me, sizeof(me));
	if (lu == (unsigned long)(uid_t)-1 || lu == (unsigned long)getuid()) {
		snprintf(buf, len, "%s", me);
		return;
	}
	uid_name((uid_t)lu, login, sizeof(login));
	snprintf(buf, len, "%s (login %s)", me, login);
}

static int run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' }, { "control", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' }, { "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'v' }, { 0 },
	};
	ctl c = { .db = getenv("GIKEV2_DB") ? getenv("GIKEV2_DB") : DEFAULT_DB,
		  .control = getenv("GIKEV2_CONTROL") ? getenv("GIKEV2_CONTROL") : DEFAULT_CONTROL };
	int o;
	opterr = 0; /* usage_error() says what is wrong, in one line */
	while ((o = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (o) {
		case 'd': c.db = optarg; break;
		case 'c': c.control = optarg; break;
		case 'j': c.json = true; break;
		case 'h': usage(stdout); return EXIT_OK;
		case 'v': puts("gcksctl (" PACKAGE_NAME ") " PACKAGE_VERSION); return EXIT_OK;
		default: return usage_error("unknown option or missing value: %s", argv[optind - 1]);
		}
	}
	char who[600];
	local_actor(who, sizeof(who));
	c.who = who;
	argc -= optind;
	argv += optind;
	if (argc < 1)
		return usage_error("no command given");
	const char *cmd = argv[0], *sub = argc > 1 ? argv[1] : "";
	if (!strcmp(cmd, "init"))
		return cmd_init(&c, argc, argv);
	if (!strcmp(cmd, "policy") && !strcmp(sub, "check"))
		return cmd_policy_check(argc - 2, argv + 2);
	if (!strcmp(cmd, "policy") && !strcmp(sub, "load"))
		return cmd_policy_load(&c, argc - 1, argv + 1);
	if (!strcmp(cmd, "policy") && !strcmp(sub, "export"))
		return cmd_policy_export(&c, argc - 2, argv + 2);
	if (!strcmp(cmd, "group") && !strcmp(sub, "list") && argc == 2)
		return cmd_group_list(&c);
	if (!strcmp(cmd, "group") && !strcmp(sub, "show") && argc == 3)
		return cmd_group_show(&c, argv[2]);
	if (!strcmp(cmd, "group") && !strcmp(sub, "delete") && argc == 3)
		return cmd_group_delete(&c, argv[2]);
	if (!strcmp(cmd, "member") && !strcmp(sub, "list"))
		return cmd_member_list_args(&c, argc - 1, argv + 1);
	if (!strcmp(cmd, "backup") && argc == 2)
		return cmd_backup(&c, argv[1]);
	if (!strcmp(cmd, "restore") && argc == 2)
		return cmd_restore(&c, argv[1]);
	if (!strcmp(cmd, "restored") && argc == 2)
		return cmd_restored(&c, argv[1]);
	if (!strcmp(cmd, "audit") && argc <= 2)
		return cmd_audit(&c, argc, argv);
	if (!strcmp(cmd, "status") && argc == 1)
		return cmd_daemon(&c, c.json ? "status" : "status text");
	if (!strcmp(cmd, "status"))
		return cmd_status_watch(&c, argc, argv);
	if (!strcmp(cmd, "key") && !strcmp(sub, "rotate") && argc == 2)
		return cmd_daemon(&c, "rotate-key");
	char req[1400];
	if (!strcmp(cmd, "rekey") && argc == 2) {
		snprintf(req, sizeof(req), "rekey %s", argv[1]);
		return cmd_daemon_group(&c, req, argv[1]);
	}
	if (!strcmp(cmd, "evict") && argc == 3) {
		snprintf(req, sizeof(req), "evict %s %s", argv[1], argv[2]);
		int rc = cmd_daemon_group(&c, req, argv[1]);
		if (rc == EXIT_FAIL)
			member_hint(&c, argv[1], argv[2]);
		return rc;
	}
	if (!strcmp(cmd, "log-level") && (argc == 1 || argc == 3)) {
		snprintf(req, sizeof(req), "log-level %s %s", argc == 3 ? argv[1] : "", argc == 3 ? argv[2] : "");
		return cmd_daemon(&c, req);
	}
	return usage_error("%s%s%s: unknown command or wrong arguments", cmd, argc > 1 ? " " : "", argc > 1 ? sub : "");
}

/* ---- --json anywhere, and errors in JSON ---- */

/* The word for an exit status, in JSON errors (gcksctl(8) EXIT STATUS). */
static const char *exit_word(int rc)
{
	switch (rc) {
	case EXIT_USAGE: return "usage";
	case EXIT_INVALID: return "invalid";
	case EXIT_DAEMON: return "gcksd not reachable";
	case EXIT_IN_USE: return "database in use";
	default: return "failure";
	}
}

/* argv with every "--json" (before a "--") taken out and put first, where the option parser
 * reads it: --json may come anywhere, before or after the command. NULL when there is none
 * (or no memory: then --json is left where it was). */
static char **json_first(int argc, char **argv, int *nargc)
{
	char **a = calloc((size_t)argc + 2, sizeof(*a));
	bool json = false, rest = false;
	int n = 1;
	if (!a)
		return NULL;
	a[0] = argv[0];
	a[n++] = "--json";
	for (int i = 1; i < argc; i++) {
		rest |= !strcmp(argv[i], "--");
		if (!rest && !strcmp(argv[i], "--json"))
			json = true;
		else
			a[n++] = argv[i];
	}
	if (!json) {
		free(a);
		return NULL;
	}
	*nargc = n;
	return a;
}

/* With --json a failure is also one JSON object on stdout, {"ok":false,"error":FIRST LINE,
 * "messages":[EVERY LINE],"exit":STATUS,"status":WORD}: what gcksctl wrote to stderr (kept
 * there for people) is collected in a temporary file while the command runs. */
static int run_json(int argc, char **argv)
{
	FILE *cap = tmpfile();
	int saved = cap ? dup(STDERR_FILENO) : -1;
	if (saved < 0 || dup2(fileno(cap), STDERR_FILENO) < 0) {
		if (saved >= 0)
			close(saved);
		if (cap)
			fclose(cap);
		return run(argc, argv);
	}
	int rc = run(argc, argv);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(cap);
	char line[4096];
	gk_json j;
	gk_json_init(&j, stdout);
	if (rc) {
		fflush(stdout);
		gk_json_obj(&j);
		gk_json_kbool(&j, "ok", false);
	}
	bool first = true;
	while (fgets(line, sizeof(line), cap)) {
		fputs(line, stderr);
		if (!rc)
			continue;
		line[strcspn(line, "\n")] = '\0';
		const char *m = strncmp(line, "gcksctl: ", 9) ? line : line + 9;
		if (first) {
			gk_json_kstr(&j, "error", m);
			gk_json_key(&j, "messages");
			gk_json_arr(&j);
			first = false;
		}
		gk_json_str(&j, m);
	}
	if (rc) {
		if (first) {
			gk_json_kstr(&j, "error", exit_word(rc));
			gk_json_key(&j, "messages");
			gk_json_arr(&j);
		}
		gk_json_arr_end(&j);
		gk_json_kint(&j, "exit", rc);
		gk_json_kstr(&j, "status", exit_word(rc));
		gk_json_obj_end(&j);
		putchar('\n');
	}
	fclose(cap);
	return rc;
}

int main(int argc, char **argv)
{
	int n = 0;
	char **a = json_first(argc, argv, &n);
	if (!a)
		return run(argc, argv);
	int rc = run_json(n, a);
	free(a);
	return rc;
}
