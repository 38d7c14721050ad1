/* The scrape endpoint of gmd --metrics (gm_metrics.h), the responder of gcksd's
 * gcks/metrics_http.c with gmd's writer. Everything from the socket is
 * hostile: the request head is bounded and parsed by gk_http_request, a connection that has not
 * sent a complete head within METRICS_TIMEOUT_MS is answered 408 and closed (a slow sender
 * holds one of METRICS_CONN_MAX places for that long at most), and connections beyond
 * METRICS_CONN_MAX are closed at once without reading. */
#define GK_LOG_SUBSYS GK_SUB_DAEMON /* log.h */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "gm_metrics.h"
#include "addr.h"
#include "http.h"
#include "log.h"
#include "prom.h"

#define METRICS_CONN_MAX 8
#define METRICS_TIMEOUT_MS 5000

typedef struct conn conn;

/* Freed once its server and every connection are closed (connections count on it until then). */
struct gm_metrics {
	uv_tcp_t server;
	const gk_gm_groups *groups;   /* not owned */
	int64_t started;
	unsigned nconn;
	conn *conns;                  /* open connections, closed with the server */
	bool server_closed;
};

struct conn {
	conn *next, **pprev;
	uv_tcp_t tcp;
	uv_timer_t timer;
	gm_metrics *m;
	char buf[GK_HTTP_HEAD_MAX + 1];
	size_t len;
	bool answered;
	int closing;                  /* handles still to close */
};

static void on_conn_closed(uv_handle_t *h)
{
	conn *c = h->data;
	gm_metrics *m = c->m;
	if (--c->closing)
		return;
	if ((*c->pprev = c->next))
		c->next->pprev = c->pprev;
	free(c);
	if (--m->nconn == 0 && m->server_closed)
		free(m);
}

static void conn_close(conn *c)
{
	if (c->closing)
		return;
	c->closing = 2;
	uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *)&c->timer, on_conn_closed);
	uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

/* The member facts of `gmd status` as Prometheus samples, one series per group. */
static void write_metrics(const gm_metrics *m, FILE *f)
{
	static const struct {
		const char *name, *help;
		size_t off;
	} ctr[] = {
		{ "gmd_registrations_total", "Registrations accepted by the GCKS (GSA_AUTH, GSA_REGISTRATION).",
		  offsetof(gk_gm_group_counters, registrations) },
		{ "gmd_reregistrations_total", "Re-registrations started (SA or Rekey SA ending, exclusion, lost rekey).",
		  offsetof(gk_gm_group_counters, reregistrations) },
		{ "gmd_exclusions_total", "Exclusions from the group by the GCKS.", offsetof(gk_gm_group_counters, exclusions) },
		{ "gmd_rekeys_accepted_total", "GSA_REKEY and GSA_INBAND_REKEY messages accepted.",
		  offsetof(gk_gm_group_counters, rekeys_accepted) },
		{ "gmd_inband_rekeys_total", "GSA_INBAND_REKEY messages accepted.",
		  offsetof(gk_gm_group_counters, inband_rekeys) },
	};
	for (size_t k = 0; k < sizeof(ctr) / sizeof(ctr[0]); k++) {
		gk_prom_family(f, ctr[k].name, "counter", ctr[k].help);
		for (size_t i = 0; m->groups && i < GK_GM_MAX_GROUPS; i++) {
			const char *name;
			bool reg;
			const gk_gm_group_counters *c = gk_gm_groups_counters(m->groups, i, &name, &reg);
			if (!c)
				continue;
			gk_prom_label l = { "group", name };
			gk_prom_u64(f, ctr[k].name, &l, 1, *(const unsigned long *)((const char *)c + ctr[k].off));
		}
	}
	gk_prom_family(f, "gmd_rekeys_rejected_total", "counter",
		       "GSA_REKEY messages rejected or refused, by reason (the first 7 reasons, then other).");
	for (size_t i = 0; m->groups && i < GK_GM_MAX_GROUPS; i++) {
		const char *name;
		bool reg;
		const gk_gm_group_counters *c = gk_gm_groups_counters(m->groups, i, &name, &reg);
		for (size_t r = 0; c && r < c->nreasons; r++) {
			gk_prom_label l[2] = { { "group", name }, { "reason", c->reasons[r].reason } };
			gk_prom_u64(f, "gmd_rekeys_rejected_total", l, 2, c->reasons[r].count);
		}
	}
	/* a family's samples follow its own HELP and TYPE lines: one pass per family */
	for (int fam = 0; fam < 2; fam++) {
		if (fam == 0)
			gk_prom_family(f, "gmd_registered", "gauge", "1 while the group is registered, else 0.");
		else
			gk_prom_family(f, "gmd_last_rekey_message_id", "gauge", "Message ID of the last rekey accepted.");
		for (size_t i = 0; m->groups && i < GK_GM_MAX_GROUPS; i++) {
			const char *name;
			bool reg;
			const gk_gm_group_counters *c = gk_gm_groups_counters(m->groups, i, &name, &reg);
			if (!c)
				continue;
			gk_prom_label l = { "group", name };
			if (fam == 0)
				gk_prom_u64(f, "gmd_registered", &l, 1, reg);
			else if (c->have_msgid)
				gk_prom_u64(f, "gmd_last_rekey_message_id", &l, 1, c->last_msgid);
		}
	}
	gk_prom_family(f, "gmd_start_time_seconds", "gauge", "Unix time gmd started.");
	gk_prom_i64(f, "gmd_start_time_seconds", NULL, 0, m->started);
}

typedef struct out_write {
	uv_write_t w;
	char *buf;                    /* owned, freed once written */
} out_write;

static void on_written(uv_write_t *w, int status)
{
	out_write *o = (out_write *)w;
	(void)status;
	conn_close(w->data);
	free(o->buf);
	free(o);
}

/* Sends one answer and closes once it is out. */
static void answer(conn *c, int status, bool head)
{
	char *body = NULL, *out = NULL;
	size_t blen = 0;
	const char *ctype = NULL;
	c->answered = true;
	uv_read_stop((uv_stream_t *)&c->tcp);
	if (status == 200) {
		FILE *f = open_memstream(&body, &blen);
		if (f) {
			write_metrics(c->m, f);
			fclose(f);
		}
		if (!body)
			status = 503;
		ctype = GK_PROM_CONTENT_TYPE;
	}
	if (status != 200) {
		free(body);
		blen = (size_t)asprintf(&body, "%d %s\n", status, gk_http_reason(status));
		if ((int)blen < 0) {
			body = NULL;
			blen = 0;
		}
	}
	size_t n = gk_http_answer(status, ctype, body, blen, head, &out);
	free(body);
	out_write *o = n ? calloc(1, sizeof(*o)) : NULL;
	if (!o) {
		free(out);
		conn_close(c);
		return;
	}
	o->buf = out;
	o->w.data = c;
	uv_buf_t b = uv_buf_init(out, (unsigned)n);
	if (uv_write(&o->w, (uv_stream_t *)&c->tcp, &b, 1, on_written)) {
		free(out);
		free(o);
		conn_close(c);
	}
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	conn *c = h->data;
	(void)suggested;
	*b = uv_buf_init(c->buf + c->len, (unsigned)(GK_HTTP_HEAD_MAX - c->len));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	conn *c = s->data;
	gk_http_req req;
	(void)b;
	if (c->answered || c->closing)
		return;
	if (n < 0) {
		conn_close(c);
		return;
	}
	c->len += (size_t)n;
	int st = gk_http_request(c->buf, c->len, "/metrics", &req);
	if (st)
		answer(c, st, req.head && st == 200);
}

static void on_timeout(uv_timer_t *t)
{
	conn *c = t->data;
	if (!c->answered)
		answer(c, 408, false);
	else
		conn_close(c); /* the answer is not taken: the peer does not read */
}

static void on_connection(uv_stream_t *server, int status)
{
	gm_metrics *m = server->data;
	if (status < 0)
		return;
	conn *c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->m = m;
	m->nconn++;
	if ((c->next = m->conns))
		c->next->pprev = &c->next;
	c->pprev = &m->conns;
	m->conns = c;
	uv_tcp_init(server->loop, &c->tcp);
	uv_timer_init(server->loop, &c->timer);
	c->tcp.data = c->timer.data = c;
	if (uv_accept(server, (uv_stream_t *)&c->tcp) || m->nconn > METRICS_CONN_MAX) {
		conn_close(c); /* over the limit: closed unread, the scraper tries again */
		return;
	}
	uv_timer_start(&c->timer, on_timeout, METRICS_TIMEOUT_MS, METRICS_TIMEOUT_MS);
	if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read))
		conn_close(c);
}

static void on_server_closed(uv_handle_t *h)
{
	gm_metrics *m = h->data;
	m->server_closed = true;
	if (!m->nconn)
		free(m);
}

gk_status gm_metrics_open(uv_loop_t *loop, const char *spec, const gk_gm_groups *groups, int64_t started,
			  gm_metrics **out, char *err, size_t errlen)
{
	struct sockaddr_storage ss = { 0 };
	char text[80], aerr[128];
	size_t i = 0;
	while (spec[i] >= '0' && spec[i] <= '9')
		i++;
	/* a port alone: loopback, metrics are for the local scraper unless asked otherwise */
	snprintf(text, sizeof(text), spec[i] || !i ? "%s" : "127.0.0.1:%s", spec);
	*out = NULL;
	if (gk_addr_parse(text, 0, &ss, aerr, sizeof(aerr)) || !gk_addr_port((struct sockaddr *)&ss)) {
		snprintf(err, errlen, "--metrics %s: %s", spec, gk_addr_port((struct sockaddr *)&ss) ? aerr :
			 "give ADDR:PORT or PORT");
		return GK_E_INVAL;
	}
	gm_metrics *m = calloc(1, sizeof(*m));
	if (!m)
		return GK_E_NOMEM;
	m->groups = groups;
	m->started = started;
	uv_tcp_init(loop, &m->server);
	m->server.data = m;
	int r = uv_tcp_bind(&m->server, (struct sockaddr *)&ss, 0);
	if (!r)
		r = uv_listen((uv_stream_t *)&m->server, 16, on_connection);
	if (r) {
		snprintf(err, errlen, "--metrics %s: %s", text, uv_strerror(r));
		uv_close((uv_handle_t *)&m->server, on_server_closed);
		return GK_E_IO;
	}
	gk_info("metrics on http://%s/metrics", text);
	*out = m;
	return GK_OK;
}

void gm_metrics_close(gm_metrics *m)
{
	if (!m)
		return;
	for (conn *c = m->conns; c; c = c->next)
		conn_close(c);
	uv_close((uv_handle_t *)&m->server, on_server_closed);
}
