#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "control.h"
#include "iana.h"
#include "json.h"
#include "log.h"

#define LINE_MAX_LEN 1024
#define MAX_GROUPS_REPORTED 4096

struct gk_control {
	uv_pipe_t server;
	gk_control_hooks hooks;
	char path[108];
};

typedef struct client {
	uv_pipe_t pipe;
	gk_control *ctl;
	char line[LINE_MAX_LEN];
	size_t len;
	bool closing;
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

static void status(const gk_control_hooks *h, FILE *out)
{
	gk_gcks_stats st;
	gk_gcks_group_info *gi = calloc(MAX_GROUPS_REPORTED, sizeof(*gi));
	if (!gi) {
		reply_error(out, "out of memory");
		return;
	}
	size_t n = gk_gcks_groups(h->gcks, gi, MAX_GROUPS_REPORTED);
	int64_t now = (int64_t)time(NULL);
	gk_gcks_stats_get(h->gcks, &st);
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
		gk_json_obj_end(&j);
	}
	gk_json_arr_end(&j);
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
		fprintf(t, "\n  %-16s %-12s %-34s %s\n", "SA", "PROTOCOL", "SPI", "REMAINING");
		for (size_t k = 0; k < gi[i].nkeys; k++) {
			const gk_sa_key *key = &gi[i].keys[k];
			bool tek = key->tek_index >= 0 && (size_t)key->tek_index < pol->nteks;
			char spi[40];
			for (size_t b = 0; b < key->spi_len && b < 16; b++)
				snprintf(spi + 2 * b, 3, "%02x", key->spi[b]);
			if (!key->spi_len)
				snprintf(spi, sizeof(spi), "-");
			fprintf(t, "  %-16s %-12s %-34s %s\n", tek ? pol->teks[key->tek_index].name : "(rekey SA)",
				gk_iana_str(GK_REG_PROTO, tek ? pol->teks[key->tek_index].proto : GK_PROTO_GIKE_UPDATE),
				spi, dur(key->expires - now, d1, sizeof(d1)));
		}
	}
}

static void status_text(const gk_control_hooks *h, FILE *out)
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
	status_table(h, t, gi, gk_gcks_groups(h->gcks, gi, MAX_GROUPS_REPORTED));
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

void gk_control_handle(const gk_control_hooks *h, const char *who, const char *line, FILE *out)
{
	char cmd[32] = "", a1[GK_IDENT_TEXT_MAX] = "", a2[GK_IDENT_TEXT_MAX] = "";
	int n = sscanf(line, "%31s %599s %599s", cmd, a1, a2);
	if (n == 1 && !strcmp(cmd, "status")) {
		status(h, out);
	} else if (n == 2 && !strcmp(cmd, "status") && !strcmp(a1, "text")) {
		status_text(h, out);
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
		if (h->store && gk_store_audit(h->store, who, cmd, msg))
			gk_warn("audit record of %s: %s", cmd, gk_store_errmsg(h->store));
		gk_json j;
		gk_json_init(&j, out);
		gk_json_obj(&j);
		gk_json_kbool(&j, "ok", true);
		gk_json_kstr(&j, "message", msg);
		gk_json_obj_end(&j);
		fputc('\n', out);
	} else {
		reply_error(out, "unknown request (use: status [text], reload, rekey GROUP, evict GROUP MEMBER, rotate-key)");
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

static void answer(client *c, const char *line)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len);
	if (!mem)
		return;
	gk_control_handle(&c->ctl->hooks, c->who, line, mem);
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
	while ((nl = strchr(c->line, '\n'))) {
		*nl = 0;
		answer(c, c->line);
		size_t rest = c->len - (size_t)(nl + 1 - c->line);
		memmove(c->line, nl + 1, rest + 1);
		c->len = rest;
	}
	if (c->len == sizeof(c->line) - 1) {
		close_client(c); /* a request line this long is not one of ours */
	}
}

static void peer_user(uv_pipe_t *p, char *who, size_t len)
{
	uv_os_fd_t fd;
	struct ucred cr;
	socklen_t crlen = sizeof(cr);
	snprintf(who, len, "control socket");
	if (uv_fileno((uv_handle_t *)p, &fd) || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crlen))
		return;
	struct passwd pw, *res = NULL;
	char buf[1024];
	if (!getpwuid_r(cr.uid, &pw, buf, sizeof(buf), &res) && res)
		snprintf(who, len, "%s (pid %d)", res->pw_name, (int)cr.pid);
	else
		snprintf(who, len, "uid %u (pid %d)", (unsigned)cr.uid, (int)cr.pid);
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
	if (uv_accept(server, (uv_stream_t *)&c->pipe) || uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read)) {
		close_client(c);
		return;
	}
	peer_user(&c->pipe, c->who, sizeof(c->who));
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
	unlink(path); /* a stale socket from a previous run */
	mode_t old = umask(0117);
	int r = uv_pipe_bind(&c->server, path);
	umask(old);
	if (!r)
		r = uv_listen((uv_stream_t *)&c->server, 16, on_connection);
	if (!r)
		r = chmod(path, 0660) ? uv_translate_sys_error(errno) : 0;
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
