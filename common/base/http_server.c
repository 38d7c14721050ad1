/* A small HTTP/1.1 responder on a libuv loop (http_server.h) for the metrics endpoints of
 * gcksd and gmd. Everything from the socket is hostile: the request head is bounded and parsed
 * by gk_http_request, a connection that has not sent a complete head within
 * GK_HTTP_SERVER_TIMEOUT_MS is answered 408 and closed (a slow sender holds one of
 * GK_HTTP_SERVER_CONN_MAX places for that long at most), and connections beyond
 * GK_HTTP_SERVER_CONN_MAX are closed at once without reading. */
#define GK_LOG_SUBSYS GK_SUB_DAEMON /* log.h */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "http_server.h"
#include "addr.h"
#include "http.h"
#include "log.h"

typedef struct conn conn;

/* Freed once its server and every connection are closed (connections count on it until then). */
struct gk_http_server {
	uv_tcp_t server;
	const char *path;             /* the one path served */
	const char *ctype;            /* its content type */
	gk_http_body_fn body;         /* writes the answer's body */
	void *ctx;                    /* body's, not owned */
	unsigned nconn;
	conn *conns;                  /* open connections, closed with the server */
	bool server_closed;
};

struct conn {
	conn *next, **pprev;
	uv_tcp_t tcp;
	uv_timer_t timer;
	gk_http_server *m;
	char buf[GK_HTTP_HEAD_MAX + 1];
	size_t len;
	bool answered;
	int closing;                  /* handles still to close */
};

static void on_conn_closed(uv_handle_t *h)
{
	conn *c = h->data;
	gk_http_server *m = c->m;
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
			c->m->body(c->m->ctx, f);
			fclose(f);
		}
		if (!body)
			status = 503;
		ctype = c->m->ctype;
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
	int st = gk_http_request(c->buf, c->len, c->m->path, &req);
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
	gk_http_server *m = server->data;
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
	if (uv_accept(server, (uv_stream_t *)&c->tcp) || m->nconn > GK_HTTP_SERVER_CONN_MAX) {
		conn_close(c); /* over the limit: closed unread, the scraper tries again */
		return;
	}
	uv_timer_start(&c->timer, on_timeout, GK_HTTP_SERVER_TIMEOUT_MS, GK_HTTP_SERVER_TIMEOUT_MS);
	if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read))
		conn_close(c);
}

static void on_server_closed(uv_handle_t *h)
{
	gk_http_server *m = h->data;
	m->server_closed = true;
	if (!m->nconn)
		free(m);
}

gk_status gk_http_server_open(uv_loop_t *loop, const char *option, const char *spec, const char *path,
			      const char *ctype, gk_http_body_fn body, void *ctx, gk_http_server **out, char *err,
			      size_t errlen)
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
		snprintf(err, errlen, "%s %s: %s", option, spec, gk_addr_port((struct sockaddr *)&ss) ? aerr :
			 "give ADDR:PORT or PORT");
		return GK_E_INVAL;
	}
	gk_http_server *m = calloc(1, sizeof(*m));
	if (!m)
		return GK_E_NOMEM;
	m->path = path;
	m->ctype = ctype;
	m->body = body;
	m->ctx = ctx;
	uv_tcp_init(loop, &m->server);
	m->server.data = m;
	int r = uv_tcp_bind(&m->server, (struct sockaddr *)&ss, 0);
	if (!r)
		r = uv_listen((uv_stream_t *)&m->server, 16, on_connection);
	if (r) {
		snprintf(err, errlen, "%s %s: %s", option, text, uv_strerror(r));
		uv_close((uv_handle_t *)&m->server, on_server_closed);
		return GK_E_IO;
	}
	gk_info("%s on http://%s%s", option + (strncmp(option, "--", 2) ? 0 : 2), text, path);
	*out = m;
	return GK_OK;
}

void gk_http_server_close(gk_http_server *m)
{
	if (!m)
		return;
	for (conn *c = m->conns; c; c = c->next)
		conn_close(c);
	uv_close((uv_handle_t *)&m->server, on_server_closed);
}
