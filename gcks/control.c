#define GK_LOG_SUBSYS GK_SUB_CTL /* log.h */
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "control.h"
#include "addr.h"
#include "iana.h"
#include "json.h"
#include "log.h"

#define LINE_MAX_LEN 1024
#define MAX_GROUPS_REPORTED 4096
/* Refusals written to the audit log per minute: a local user looping on connect() must not
 * fill the database; the others are counted in the log. */
#define REFUSALS_AUDITED_PER_MIN 10

struct gk_control {
	uv_pipe_t server;
	gk_control_hooks hooks;
	char path[108];
	int64_t refusal_window;       /* unix seconds when the current minute of refusals began */
	unsigned refusals_audited, refusals_unaudited;
};

typedef struct client {
	uv_pipe_t pipe;
	gk_control *ctl;
	char line[LINE_MAX_LEN];
	size_t len;
	bool closing;
	bool allowed;                 /* the peer's credentials passed gk_control_authorized */
	uid_t uid;
	char who[64];                 /* the peer's user (SO_PEERCRED), for the audit log */
} client;

static void reply_error(FILE *out, const char *msg)
{
	gk_json j;
	gk_json_init(&j, out);
	gk_json_obj(&j);
	gk_json_kbool(&j, "ok", false);
	gk_json_kstr(&j, "error", msg);
	gk_json_obj_end(&j);
	fputc('\n', out);
}

/* How a multicast GSA_REKEY of the group goes out (RFC 9838 2.4.1.2). */
static const char *rekey_frag(const gk_gcks_group_info *gi)
{
	if (!gi->pol->kek.frag_mtu)
		return "disabled";        /* the policy's fragment-mtu is 0 */
	return gi->members_frag ? "allowed" : "whole";
}

static uint64_t refused_sum(const gk_group_refusals *r)
{
	uint64_t n = 0;
	for (size_t k = 0; k < GK_GROUP_REFUSAL_KINDS; k++)
		n += r->count[k];
	return n;
}

/* The group's rekeys and counters since gcksd started (status, status GROUP). */
static void group_rekey_json(gk_json *j, const gk_gcks_group_info *gi, int64_t now)
{
	const gk_group_counters *c = gi->ctr;
	bool inband = gi->pol->rekey_transport == GK_REKEY_INBAND;
	gk_json_key(j, "last_rekey");
	if (!c->last_rekey) {
		gk_json_null(j);
	} else {
		gk_json_obj(j);
		gk_json_kint(j, "time", c->last_rekey);
		if (!inband)
			gk_json_kint(j, "message_id", c->last_msgid);
		gk_json_kint(j, inband ? "members" : "copies", c->last_copies);
		gk_json_kstr(j, "reason", c->last_reason);
		gk_json_obj_end(j);
	}
	gk_json_key(j, "next_rekey");
	if (!gi->next_rekey) {
		gk_json_null(j);
	} else {
		gk_json_obj(j);
		gk_json_kint(j, "in", gi->next_rekey - now);
		gk_json_kstr(j, "reason", gi->next_reason);
		gk_json_obj_end(j);
	}
	gk_json_key(j, "counters");
	gk_json_obj(j);
	gk_json_kint(j, "registrations", (long long)c->registrations);
	gk_json_kint(j, "registrations_refused", (long long)refused_sum(&c->refused));
	if (inband) {
		gk_json_kint(j, "inband_rekeys_sent", (long long)c->inband_sent);
		gk_json_kint(j, "inband_rekeys_acknowledged", (long long)c->inband_acked);
		gk_json_kint(j, "inband_rekeys_failed", (long long)c->inband_failed);
	} else {
		gk_json_kint(j, "rekey_messages", (long long)c->rekey_messages);
		gk_json_kint(j, "rekey_copies", (long long)c->rekey_copies);
	}
	gk_json_obj_end(j);
}

/* Keeps only the group named (NULL: all); returns how many are left. */
static size_t only_group(gk_gcks_group_info *gi, size_t n, const char *group)
{
	if (!group)
		return n;
	for (size_t i = 0; i < n; i++)
		if (!strcmp(gi[i].pol->name, group)) {
			gi[0] = gi[i];
			return 1;
		}
	return 0;
}

/* ---- several servers on one shared store: who is alive, who leads which group ---- */

/* "servers": every server in the store's servers table (alive when its heartbeat is younger
 * than a lease), this one first; on a store one gcksd holds alone, this one. "database": ok, or
 * lost while this server fails closed. */
static void status_servers_json(const gk_control_hooks *h, gk_json *j)
{
	gk_gcks_cluster c;
	gk_server_row *rows = NULL;
	size_t n = 0;
	gk_gcks_cluster_info(h->gcks, &c);
	if (c.shared && c.store_ok)
		gk_store_servers(h->store, &rows, &n);
	gk_json_kstr(j, "server", c.server_id);
	gk_json_kstr(j, "database", c.store_ok ? "ok" : "lost");
	gk_json_key(j, "servers");
	gk_json_arr(j);
	gk_json_obj(j);
	gk_json_kstr(j, "id", c.server_id);
	gk_json_kbool(j, "alive", c.store_ok);
	gk_json_obj_end(j);
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(rows[i].id, c.server_id))
			continue;
		gk_json_obj(j);
		gk_json_kstr(j, "id", rows[i].id);
		gk_json_kbool(j, "alive", rows[i].age <= GK_CLUSTER_LEASE_S);
		gk_json_kint(j, "last_seen_ago", rows[i].age);
		gk_json_obj_end(j);
	}
	gk_json_arr_end(j);
	free(rows);
}

/* The server that leads the group's rekeys: this one, the lease's holder while it is valid, or
 * nobody (lease expired, or never taken). */
static const char *group_leader(const gk_control_hooks *h, const char *group, char *buf, size_t len)
{
	gk_gcks_cluster c;
	gk_lease l;
	bool found = false;
	gk_gcks_cluster_info(h->gcks, &c);
	if (gk_gcks_group_leads(h->gcks, group))
		return c.server_id;
	if (!c.shared || !c.store_ok || gk_store_lease_get(h->store, group, &l, &found) || !found || l.remaining <= 0)
		return NULL;
	snprintf(buf, len, "%s", l.holder);
	return buf;
}

static void status_leader_json(const gk_control_hooks *h, gk_json *j, const char *group)
{
	char buf[GK_SERVER_ID_MAX];
	const char *who = group_leader(h, group, buf, sizeof(buf));
	gk_json_key(j, "leader");
	if (who)
		gk_json_str(j, who);
	else
		gk_json_null(j);
}

static void status_servers_text(const gk_control_hooks *h, FILE *t, const gk_gcks_group_info *gi, size_t ngi)
{
	gk_gcks_cluster c;
	gk_server_row *rows = NULL;
	size_t n = 0;
	char buf[GK_SERVER_ID_MAX];
	gk_gcks_cluster_info(h->gcks, &c);
	if (!c.shared)
		return;
	fprintf(t, "\nserver %s, database %s\n", c.server_id, c.store_ok ? "ok" : "LOST: no keys issued, no rekeys sent");
	if (c.store_ok && !gk_store_servers(h->store, &rows, &n))
		for (size_t i = 0; i < n; i++)
			fprintf(t, "  %-40s %s (heartbeat %llds ago)\n", rows[i].id,
				rows[i].age <= GK_CLUSTER_LEASE_S ? "alive" : "dead", (long long)rows[i].age);
	free(rows);
	for (size_t i = 0; i < ngi; i++) {
		const char *who = group_leader(h, gi[i].pol->name, buf, sizeof(buf));
		fprintf(t, "  %s led by %s\n", gi[i].pol->name, who ? who : "nobody (lease free)");
	}
}

static void status(const gk_control_hooks *h, const char *group, FILE *out)
{
	gk_gcks_stats st;
	gk_gcks_group_info *gi = calloc(MAX_GROUPS_REPORTED, sizeof(*gi));
	if (!gi) {
		reply_error(out, "out of memory");
		return;
	}
	size_t n = only_group(gi, gk_gcks_groups(h->gcks, gi, MAX_GROUPS_REPORTED), group);
	int64_t now = (int64_t)time(NULL);
	gk_gcks_stats_get(h->gcks, &st);
	if (group && !n) {
		free(gi);
		reply_error(out, "no such group");
		return;
	}
	gk_json j;
	gk_json_init(&j, out);
	gk_json_obj(&j);
	gk_json_kbool(&j, "ok", true);
	gk_json_kint(&j, "uptime", now - h->started);
	gk_json_kint(&j, "ike_sas_half_open", st.half_open);
	gk_json_kint(&j, "ike_sas_established", st.established);
	gk_json_kint(&j, "registrations", (long long)st.registrations);
	gk_json_kint(&j, "refusals", (long long)st.refusals);
	gk_json_key(&j, "groups");
	gk_json_arr(&j);
	for (size_t i = 0; i < n; i++) {
		gk_json_obj(&j);
		gk_json_kstr(&j, "group", gi[i].pol->name);
		gk_json_kint(&j, "members", gi[i].registered);
		gk_json_kint(&j, "capacity", gi[i].pol->capacity);
		gk_json_kstr(&j, "rekey", gi[i].pol->rekey_transport == GK_REKEY_INBAND ? "inband" : "multicast");
		if (gi[i].pol->rekey_transport == GK_REKEY_MULTICAST)
			gk_json_kstr(&j, "rekey_fragmentation", rekey_frag(&gi[i]));
		gk_json_key(&j, "sas");
		gk_json_arr(&j);
		for (size_t k = 0; k < gi[i].nkeys; k++) {
			const gk_sa_key *key = &gi[i].keys[k];
			uint8_t proto = key->tek_index < 0 ? GK_PROTO_GIKE_UPDATE
					: (size_t)key->tek_index < gi[i].pol->nteks ? gi[i].pol->teks[key->tek_index].proto : 0;
			gk_json_obj(&j);
			gk_json_kstr(&j, "protocol", gk_iana_str(GK_REG_PROTO, proto));
			if (key->tek_index >= 0 && (size_t)key->tek_index < gi[i].pol->nteks)
				gk_json_kstr(&j, "name", gi[i].pol->teks[key->tek_index].name);
			gk_json_key(&j, "spi");
			gk_json_hex(&j, key->spi, key->spi_len);
			gk_json_kint(&j, "remaining_lifetime", key->expires > now ? key->expires - now : 0);
			gk_json_obj_end(&j);
		}
		gk_json_arr_end(&j);
		group_rekey_json(&j, &gi[i], now);
		status_leader_json(h, &j, gi[i].pol->name);
		gk_json_obj_end(&j);
	}
	gk_json_arr_end(&j);
	status_servers_json(h, &j);
	gk_json_obj_end(&j);
	fputc('\n', out);
	free(gi);
}

/* "3d04h", "2h05m", "59m12s", "7s": remaining lifetimes and uptime at a glance */
static const char *dur(int64_t s, char *buf, size_t len)
{
	if (s < 0)
		s = 0;
	if (s >= 86400)
		snprintf(buf, len, "%lldd%02lldh", (long long)(s / 86400), (long long)(s % 86400 / 3600));
	else if (s >= 3600)
		snprintf(buf, len, "%lldh%02lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
	else if (s >= 60)
		snprintf(buf, len, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
	else
		snprintf(buf, len, "%llds", (long long)s);
	return buf;
}

static void utc(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, len, "?");
}

/* Two lines under a group's header: its last and next rekey, and its counters. */
static void group_rekey_text(FILE *t, const gk_gcks_group_info *gi, int64_t now)
{
	const gk_group_counters *c = gi->ctr;
	bool inband = gi->pol->rekey_transport == GK_REKEY_INBAND;
	char when[32], d[32];
	if (c->last_rekey) {
		utc(c->last_rekey, when, sizeof(when));
		if (inband)
			fprintf(t, "  last rekey %s (%s): GSA_INBAND_REKEY to %u member%s", when, c->last_reason,
				c->last_copies, c->last_copies == 1 ? "" : "s");
		else
			fprintf(t, "  last rekey %s (%s): GSA_REKEY message %u, %u cop%s", when, c->last_reason,
				c->last_msgid, c->last_copies, c->last_copies == 1 ? "y" : "ies");
	} else {
		fprintf(t, "  last rekey: none since gcksd started");
	}
	if (gi->next_rekey)
		fprintf(t, "; next %s%s (%s)\n", gi->next_rekey > now ? "in " : "now",
			gi->next_rekey > now ? dur(gi->next_rekey - now, d, sizeof(d)) : "", gi->next_reason);
	else
		fprintf(t, "; none planned\n");
	fprintf(t, "  registrations %llu, refused %llu; ", (unsigned long long)c->registrations,
		(unsigned long long)refused_sum(&c->refused));
	if (inband)
		fprintf(t, "GSA_INBAND_REKEY sent %llu, acknowledged %llu, failed %llu\n",
			(unsigned long long)c->inband_sent, (unsigned long long)c->inband_acked,
			(unsigned long long)c->inband_failed);
	else
		fprintf(t, "GSA_REKEY messages %llu, copies %llu\n", (unsigned long long)c->rekey_messages,
			(unsigned long long)c->rekey_copies);
}

#define LIFE_BAR 20

/* An SA's lifetime at a glance: "[#############|......]", '#' for the share of its lifetime
 * left, '.' for what has passed, '|' where gcksd rekeys it (its rekey margin, a share of the
 * lifetime before the end). */
static void life_bar(int64_t remaining, uint32_t lifetime, unsigned margin_pct, char out[LIFE_BAR + 3])
{
	int64_t left = lifetime ? (remaining * LIFE_BAR + lifetime - 1) / (int64_t)lifetime : 0;
	size_t mark = (size_t)margin_pct * LIFE_BAR / 100;
	out[0] = '[';
	for (size_t i = 0; i < LIFE_BAR; i++)
		out[1 + i] = (int64_t)i < left ? '#' : '.';
	if (mark > 0 && mark < LIFE_BAR)
		out[1 + mark] = '|';
	out[LIFE_BAR + 1] = ']';
	out[LIFE_BAR + 2] = 0;
}

/* The status as a table for people (gcksctl status without --json). */
static void status_table(const gk_control_hooks *h, FILE *t, const gk_gcks_group_info *gi, size_t n)
{
	gk_gcks_stats st;
	char d1[32];
	int64_t now = (int64_t)time(NULL);
	gk_gcks_stats_get(h->gcks, &st);
	fprintf(t, "gcksd up %s: %zu group%s, IKE SAs %u established, %u half-open; "
		"%llu registration%s, %llu refused since start\n",
		dur(now - h->started, d1, sizeof(d1)), n, n == 1 ? "" : "s", st.established, st.half_open,
		(unsigned long long)st.registrations, st.registrations == 1 ? "" : "s",
		(unsigned long long)st.refusals);
	for (size_t i = 0; i < n; i++) {
		const gk_group_policy *pol = gi[i].pol;
		fprintf(t, "\n%s  rekey %s, members %u", pol->name,
			pol->rekey_transport == GK_REKEY_INBAND ? "inband" : "multicast", gi[i].registered);
		if (pol->capacity)
			fprintf(t, " of %u", pol->capacity);
		if (pol->rekey_transport == GK_REKEY_MULTICAST) {
			const char *f = rekey_frag(&gi[i]);
			if (!strcmp(f, "allowed"))
				fprintf(t, "; GSA_REKEY fragmented above %u octets", pol->kek.frag_mtu);
			else if (!strcmp(f, "whole"))
				fprintf(t, "; GSA_REKEY sent whole: a member lacks IKE fragmentation");
			else
				fprintf(t, "; GSA_REKEY never fragmented");
		}
		fputc('\n', t);
		group_rekey_text(t, &gi[i], now);
		fprintf(t, "  %-16s %-12s %-34s %-9s %s\n", "SA", "PROTOCOL", "SPI", "REMAINING", "LIFETIME");
		for (size_t k = 0; k < gi[i].nkeys; k++) {
			const gk_sa_key *key = &gi[i].keys[k];
			bool tek = key->tek_index >= 0 && (size_t)key->tek_index < pol->nteks;
			char spi[40];
			for (size_t b = 0; b < key->spi_len && b < 16; b++)
				snprintf(spi + 2 * b, 3, "%02x", key->spi[b]);
			if (!key->spi_len)
				snprintf(spi, sizeof(spi), "-");
			char bar[LIFE_BAR + 3];
			life_bar(key->expires - now, tek ? pol->teks[key->tek_index].lifetime : pol->kek.lifetime,
				 pol->rekey_margin_pct ? pol->rekey_margin_pct : 20, bar);
			fprintf(t, "  %-16s %-12s %-34s %-9s %s\n", tek ? pol->teks[key->tek_index].name : "(rekey SA)",
				gk_iana_str(GK_REG_PROTO, tek ? pol->teks[key->tek_index].proto : GK_PROTO_GIKE_UPDATE),
				spi, dur(key->expires - now, d1, sizeof(d1)), bar);
		}
	}
}

static void status_text(const gk_control_hooks *h, const char *group, FILE *out)
{
	char *buf = NULL;
	size_t len = 0;
	gk_gcks_group_info *gi = calloc(MAX_GROUPS_REPORTED, sizeof(*gi));
	FILE *t = gi ? open_memstream(&buf, &len) : NULL;
	if (!t) {
		free(gi);
		reply_error(out, "out of memory");
		return;
	}
	size_t n = only_group(gi, gk_gcks_groups(h->gcks, gi, MAX_GROUPS_REPORTED), group);
	if (group && !n) {
		fclose(t);
		free(buf);
		free(gi);
		reply_error(out, "no such group");
		return;
	}
	status_table(h, t, gi, n);
	status_servers_text(h, t, gi, n);
	fclose(t);
	gk_json j;
	gk_json_init(&j, out);
	gk_json_obj(&j);
	gk_json_kbool(&j, "ok", true);
	gk_json_kstr(&j, "text", buf);
	gk_json_obj_end(&j);
	fputc('\n', out);
	free(buf);
	free(gi);
}

typedef struct {
	gk_json *j;
	int64_t now;
} members_walk;

static void member_json(void *ctx, const gk_gcks_member_info *m)
{
	members_walk *w = ctx;
	char id[GK_IDENT_TEXT_MAX], at[64];
	gk_json_obj(w->j);
	gk_json_kstr(w->j, "member", gk_ident_text(m->id, id));
	gk_json_kstr(w->j, "peer", gk_addr_text(m->peer, at, sizeof(at)));
	gk_json_kint(w->j, "last_seen", m->last_seen);
	gk_json_kbool(w->j, "rekey_pending", m->rekey_pending);
	gk_json_obj_end(w->j);
}

/* members GROUP: the IKE SAs registered to the group now, with when each member was last heard
 * and whether a GSA_INBAND_REKEY to it waits for its answer; the group's last exclusion, from
 * which every member must have registered again. */
static void members(const gk_control_hooks *h, const char *group, FILE *out)
{
	gk_gcks_group_info *gi = calloc(MAX_GROUPS_REPORTED, sizeof(*gi));
	size_t n = gi ? only_group(gi, gk_gcks_groups(h->gcks, gi, MAX_GROUPS_REPORTED), group) : 0;
	if (!n) {
		free(gi);
		reply_error(out, gi ? "no such group" : "out of memory");
		return;
	}
	gk_json j;
	members_walk w = { &j, (int64_t)time(NULL) };
	gk_json_init(&j, out);
	gk_json_obj(&j);
	gk_json_kbool(&j, "ok", true);
	gk_json_kstr(&j, "group", gi[0].pol->name);
	gk_json_kstr(&j, "rekey", gi[0].pol->rekey_transport == GK_REKEY_INBAND ? "inband" : "multicast");
	gk_json_kint(&j, "last_rekey", gi[0].ctr->last_rekey);
	gk_json_kint(&j, "last_exclusion", gi[0].ctr->last_exclusion);
	gk_json_key(&j, "members");
	gk_json_arr(&j);
	gk_gcks_members(h->gcks, group, member_json, &w);
	gk_json_arr_end(&j);
	gk_json_obj_end(&j);
	fputc('\n', out);
	free(gi);
}

/* log-level [SUBSYS|all LEVEL]: the levels of gcksd's subsystems, after setting one or all of
 * them for the running process (no restart; a restart goes back to --log-level). */
static void log_level(const gk_control_hooks *h, const char *who, const char *sub, const char *level, FILE *out)
{
	char spec[80], levels[256], err[GK_ERR_MAX] = "give one SUBSYSTEM (or all) and one LEVEL";
	if (sub) {
		snprintf(spec, sizeof(spec), "%s=%s", sub, level);
		if (strpbrk(sub, "=,") || strpbrk(level, "=,") || gk_log_set_levels(spec, err, sizeof(err))) {
			reply_error(out, err);
			return;
		}
		gk_notice("log level %s, set by %s", spec, who);
		if (h->store && gk_store_audit(h->store, who, "log-level", spec, (int64_t)time(NULL)))
			gk_warn("audit record of log-level: %s", gk_store_errmsg(h->store));
	}
	gk_log_levels_text(levels, sizeof(levels));
	gk_json j;
	gk_json_init(&j, out);
	gk_json_obj(&j);
	gk_json_kbool(&j, "ok", true);
	gk_json_key(&j, "levels");
	gk_json_obj(&j);
	for (gk_log_subsys i = 0; i < GK_SUB_COUNT; i++)
		if (gk_log_subsys_parse(gk_log_subsys_name(i)) == (int)i) /* one of gcksd's */
			gk_json_kstr(&j, gk_log_subsys_name(i), gk_log_level_name(gk_log_get_level(i)));
	gk_json_obj_end(&j);
	gk_json_kstr(&j, "message", levels);
	gk_json_obj_end(&j);
	fputc('\n', out);
}

void gk_control_handle(const gk_control_hooks *h, const char *who, const char *line, FILE *out)
{
	char cmd[32] = "", a1[GK_IDENT_TEXT_MAX] = "", a2[GK_IDENT_TEXT_MAX] = "";
	int n = sscanf(line, "%31s %599s %599s", cmd, a1, a2);
	if (n == 1 && !strcmp(cmd, "status")) {
		status(h, NULL, out);
	} else if (n == 2 && !strcmp(cmd, "status") && !strcmp(a1, "text")) {
		status_text(h, NULL, out);
	} else if (n == 2 && !strcmp(cmd, "status")) {
		status(h, a1, out);
	} else if (n == 3 && !strcmp(cmd, "status") && !strcmp(a1, "text")) {
		status_text(h, a2, out);
	} else if (n == 2 && !strcmp(cmd, "members")) {
		members(h, a1, out);
	} else if (n == 1 && !strcmp(cmd, "reload")) {
		gk_status st = gk_gcks_reload(h->gcks);
		if (st) {
			reply_error(out, gk_status_str(st));
			return;
		}
		gk_gcks_stats s;
		gk_gcks_stats_get(h->gcks, &s);
		fprintf(out, "{\"ok\":true,\"groups\":%u}\n", s.groups);
		gk_info("policies reloaded: %u groups", s.groups);
	} else if ((n == 2 && !strcmp(cmd, "rekey")) || (n == 3 && !strcmp(cmd, "evict")) ||
		   (n == 1 && !strcmp(cmd, "rotate-key"))) {
		char msg[1024];
		gk_status st = n == 1 ? gk_gcks_rotate_key(h->gcks, msg, sizeof(msg))
			     : n == 2 ? gk_gcks_rekey(h->gcks, a1, msg, sizeof(msg))
				      : gk_gcks_evict(h->gcks, a1, a2, msg, sizeof(msg));
		if (st) {
			reply_error(out, msg);
			return;
		}
		/* who asked, for `gcksctl audit` (eviction's policy change is audited by the store too) */
		if (h->store && gk_store_audit(h->store, who, cmd, msg, (int64_t)time(NULL)))
			gk_warn("audit record of %s: %s", cmd, gk_store_errmsg(h->store));
		gk_json j;
		gk_json_init(&j, out);
		gk_json_obj(&j);
		gk_json_kbool(&j, "ok", true);
		gk_json_kstr(&j, "message", msg);
		gk_json_obj_end(&j);
		fputc('\n', out);
	} else if ((n == 1 || n == 3) && !strcmp(cmd, "log-level")) {
		log_level(h, who, n == 3 ? a1 : NULL, a2, out);
	} else {
		reply_error(out, "unknown request (use: status [text] [GROUP], members GROUP, reload, rekey GROUP, evict GROUP MEMBER, rotate-key, "
			    "log-level [SUBSYSTEM|all LEVEL], backup)");
	}
}

static void on_client_closed(uv_handle_t *h)
{
	free(h->data);
}

static void close_client(client *c)
{
	if (!c->closing) {
		c->closing = true;
		uv_close((uv_handle_t *)&c->pipe, on_client_closed);
	}
}

static void on_written(uv_write_t *w, int status)
{
	(void)status;
	free(w->data);
	free(w);
}

/* The request's first word, printable, for the audit record of a refusal. */
static void request_word(const char *line, char *out, size_t len)
{
	size_t o = 0;
	for (; *line && *line != ' ' && o + 1 < len; line++)
		out[o++] = (*line >= 'a' && *line <= 'z') || *line == '-' ? *line : '?';
	out[o] = 0;
}

static void audit_refusal(client *c, const char *line)
{
	gk_control *ctl = c->ctl;
	int64_t now = (int64_t)time(NULL);
	char word[24], detail[160];
	if (now - ctl->refusal_window >= 60) {
		if (ctl->refusals_unaudited)
			gk_warn("control socket: %u more refused requests in the last minute (not audited)",
				ctl->refusals_unaudited);
		ctl->refusal_window = now;
		ctl->refusals_audited = ctl->refusals_unaudited = 0;
	}
	if (ctl->refusals_audited == REFUSALS_AUDITED_PER_MIN) {
		ctl->refusals_unaudited++;
		return;
	}
	ctl->refusals_audited++;
	request_word(line, word, sizeof(word));
	snprintf(detail, sizeof(detail), "control request \"%s\": uid %u is not root, gcksd's user or in the "
		 "admin group", word, (unsigned)c->uid);
	gk_warn("control socket: refused %s: %s", c->who, detail);
	if (ctl->hooks.store && gk_store_audit(ctl->hooks.store, c->who, "refused", detail, now))
		gk_warn("audit record of a refusal: %s", gk_store_errmsg(ctl->hooks.store));
}

/* ---- backup: the store's bytes, for gcksctl backup ---- */

typedef struct wiped_write {
	uv_write_t w;
	uint8_t *buf;
	size_t len;
} wiped_write;

static void on_wiped_written(uv_write_t *w, int status)
{
	wiped_write *x = (wiped_write *)w;
	(void)status;
	gk_store_bytes_free(x->buf, x->len);
	free(x);
}

/* Sends len octets of buf (taken, wiped once sent: they hold keys). */
static void send_wiped(client *c, uint8_t *buf, size_t len)
{
	wiped_write *x = calloc(1, sizeof(*x));
	if (!x || len > UINT_MAX) {
		gk_store_bytes_free(buf, len);
		free(x);
		return;
	}
	x->buf = buf;
	x->len = len;
	uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);
	if (uv_write(&x->w, (uv_stream_t *)&c->pipe, &b, 1, on_wiped_written)) {
		gk_store_bytes_free(buf, len);
		free(x);
	}
}

/* "backup": one line {"ok":true,"bytes":N}, then the N octets of a backup of the store, made on
 * gcksd's own connection between two of its transactions (so it holds every one it committed
 * or none of it). A backup holds every key and PSK, which the admin group does not otherwise
 * see: only root and gcksd's own user get one. */
static void backup_answer(client *c)
{
	const gk_control_hooks *h = &c->ctl->hooks;
	uint8_t *db = NULL, *out = NULL;
	size_t n = 0, hl = 0;
	char head[64], err[GK_STORE_ERR_MAX] = "no database";
	int64_t now = (int64_t)time(NULL);
	FILE *mem = NULL;
	char *text = NULL;
	size_t tlen = 0;
	if (c->uid != 0 && c->uid != h->daemon_uid) {
		snprintf(err, sizeof(err), "permission denied: a backup holds every key; only root and gcksd's "
			 "user may ask for one");
		if (h->store && gk_store_audit(h->store, c->who, "refused", "backup", now))
			gk_warn("audit record of a refusal: %s", gk_store_errmsg(h->store));
	} else if (h->store && !gk_store_backup_bytes(h->store, &db, &n, err, sizeof(err))) {
		hl = (size_t)snprintf(head, sizeof(head), "{\"ok\":true,\"bytes\":%zu}\n", n);
		if ((out = malloc(hl + n))) {
			memcpy(out, head, hl);
			memcpy(out + hl, db, n);
		}
		gk_store_bytes_free(db, n);
		if (out) {
			if (gk_store_audit(h->store, c->who, "backup", "through the control socket", now))
				gk_warn("audit record of a backup: %s", gk_store_errmsg(h->store));
			gk_info("backup of the database (%zu octets) sent to %s", n, c->who);
			send_wiped(c, out, hl + n);
			return;
		}
		snprintf(err, sizeof(err), "out of memory");
	}
	if (!(mem = open_memstream(&text, &tlen)))
		return;
	reply_error(mem, err);
	fclose(mem);
	send_wiped(c, (uint8_t *)text, tlen);
}

static void answer(client *c, const char *line)
{
	char *buf = NULL;
	size_t len = 0;
	if (c->allowed && !strcmp(line, "backup")) {
		backup_answer(c);
		return;
	}
	FILE *mem = open_memstream(&buf, &len);
	if (!mem)
		return;
	if (c->allowed) {
		gk_control_handle(&c->ctl->hooks, c->who, line, mem);
	} else {
		audit_refusal(c, line);
		reply_error(mem, "permission denied: only root, gcksd's user and members of its admin group "
			    "may use the control socket");
	}
	fclose(mem);
	uv_write_t *w = malloc(sizeof(*w));
	if (!w) {
		free(buf);
		return;
	}
	w->data = buf;
	uv_buf_t b = uv_buf_init(buf, (unsigned)len);
	if (uv_write(w, (uv_stream_t *)&c->pipe, &b, 1, on_written)) {
		free(buf);
		free(w);
	}
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	client *c = h->data;
	(void)suggested;
	*b = uv_buf_init(c->line + c->len, (unsigned)(sizeof(c->line) - 1 - c->len));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	client *c = s->data;
	(void)b;
	if (n < 0) {
		close_client(c);
		return;
	}
	c->len += (size_t)n;
	c->line[c->len] = 0;
	char *nl;
	while (!c->closing && (nl = strchr(c->line, '\n'))) {
		*nl = 0;
		answer(c, c->line);
		if (!c->allowed) {
			/* one refusal per connection; libuv finishes the queued write before closing */
			uv_read_stop(s);
			close_client(c);
			return;
		}
		size_t rest = c->len - (size_t)(nl + 1 - c->line);
		memmove(c->line, nl + 1, rest + 1);
		c->len = rest;
	}
	if (c->len == sizeof(c->line) - 1) {
		close_client(c); /* a request line this long is not one of ours */
	}
}

bool gk_control_authorized(const gk_control_hooks *h, uid_t uid, gid_t gid, const gid_t *groups,
			   size_t ngroups)
{
	if (uid == 0 || uid == h->daemon_uid)
		return true;
	if (!h->has_admin)
		return false;
	if (gid == h->admin_gid)
		return true;
	for (size_t i = 0; i < ngroups; i++)
		if (groups[i] == h->admin_gid)
			return true;
	return false;
}

/* The peer's supplementary groups as the kernel recorded them at connect() (SO_PEERGROUPS). */
static bool peer_in_admin_group(int fd, const gk_control_hooks *h, const struct ucred *cr)
{
	gid_t small[64], *g = small;
	socklen_t len = sizeof(small);
	bool ok = false;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len)) {
		if (errno != ERANGE || !(g = malloc(len)) || getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len))
			goto out;
	}
	ok = gk_control_authorized(h, cr->uid, cr->gid, g, len / sizeof(gid_t));
out:
	if (g != small)
		free(g);
	return ok;
}

/* Who is at the other end (SO_PEERCRED, the kernel's record, not anything the peer says) and
 * whether they may ask. No credentials, no requests. */
static void peer_user(client *c)
{
	uv_os_fd_t fd;
	struct ucred cr;
	socklen_t crlen = sizeof(cr);
	snprintf(c->who, sizeof(c->who), "control socket");
	c->allowed = false;
	if (uv_fileno((uv_handle_t *)&c->pipe, &fd) || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crlen))
		return;
	c->uid = cr.uid;
	c->allowed = gk_control_authorized(&c->ctl->hooks, cr.uid, cr.gid, NULL, 0) ||
		     peer_in_admin_group(fd, &c->ctl->hooks, &cr);
	struct passwd pw, *res = NULL;
	char buf[1024];
	if (!getpwuid_r(cr.uid, &pw, buf, sizeof(buf), &res) && res)
		snprintf(c->who, sizeof(c->who), "%s (pid %d)", res->pw_name, (int)cr.pid);
	else
		snprintf(c->who, sizeof(c->who), "uid %u (pid %d)", (unsigned)cr.uid, (int)cr.pid);
}

static void on_connection(uv_stream_t *server, int status)
{
	gk_control *ctl = server->data;
	if (status < 0)
		return;
	client *c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->ctl = ctl;
	uv_pipe_init(server->loop, &c->pipe, 0);
	c->pipe.data = c;
	if (uv_accept(server, (uv_stream_t *)&c->pipe)) {
		close_client(c);
		return;
	}
	peer_user(c);
	if (uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read))
		close_client(c);
}

static void on_server_closed(uv_handle_t *h)
{
	free(h->data);
}

gk_status gk_control_open(uv_loop_t *loop, const char *path, const gk_control_hooks *hooks,
			  gk_control **out, char *err, size_t errlen)
{
	gk_control *c = calloc(1, sizeof(*c));
	if (!c)
		return GK_E_NOMEM;
	c->hooks = *hooks;
	snprintf(c->path, sizeof(c->path), "%s", path);
	uv_pipe_init(loop, &c->server, 0);
	c->server.data = c;
	unlink(path); /* a stale socket from a previous run (a link there goes, unfollowed) */
	/* bind() creates the socket 0660 under this umask: no chmod by path afterwards, which a
	 * link swapped in meanwhile would redirect */
	mode_t old = umask(0117);
	int r = uv_pipe_bind(&c->server, path);
	umask(old);
	if (!r)
		r = uv_listen((uv_stream_t *)&c->server, 16, on_connection);
	if (r) {
		snprintf(err, errlen, "control socket %s: %s", path, uv_strerror(r));
		uv_close((uv_handle_t *)&c->server, on_server_closed);
		*out = NULL;
		return GK_E_IO;
	}
	*out = c;
	return GK_OK;
}


void gk_control_close(gk_control *c)
{
	if (!c)
		return;
	unlink(c->path);
	uv_close((uv_handle_t *)&c->server, on_server_closed);
}
