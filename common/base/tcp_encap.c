#define GK_LOG_SUBSYS GK_SUB_NET /* log.h */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include "tcp_encap.h"
#include "addr.h"
#include "log.h"

#define MAX_LISTENERS 16
#define DIGESTS 4      /* frames remembered per connection (a fragmented message has several) */
#define DIGEST_LEN 16
#define READ_BUF 65536

typedef struct pending {
	struct pending *next;
	size_t len;
	uint8_t data[];
} pending;

typedef struct conn {
	uv_tcp_t h;
	uv_timer_t idle;
	int handles;                   /* still open: the memory goes when this reaches 0 */
	struct gk_tcp_server *srv;     /* the responder's side, NULL for a client */
	struct gk_tcp_client *cli;
	struct conn *prev, *next;      /* the server's list */
	uint64_t id;
	struct sockaddr_storage peer, local;
	gk_tcp_deframer df;
	uint8_t sent[DIGESTS][DIGEST_LEN];
	unsigned nsent;
	bool closing;
} conn;

struct gk_tcp_server {
	uv_loop_t *loop;
	gk_tcp_limits lim;
	gk_tcp_server_cb cb;
	void *ctx;
	uv_tcp_t *listeners[MAX_LISTENERS];
	struct sockaddr_storage local[MAX_LISTENERS];
	size_t nlisteners;
	conn *conns;
	uint64_t next_id;
	gk_tcp_stats st;
	/* what one read delivers, consumed before the next: one buffer for every connection, so
	 * that an open connection holds no more than its deframer's partial frame */
	uint8_t rbuf[READ_BUF];
};

struct gk_tcp_client {
	conn *c;
	uv_connect_t creq;
	bool connected;
	pending *queue, **tail;
	gk_tcp_client_cb cb;
	gk_tcp_client_closed_cb closed;
	void *ctx;
	uint64_t dups;
	uint8_t rbuf[READ_BUF];
};

typedef struct wreq {
	uv_write_t req;
	uint8_t data[];
} wreq;

/* ---- a connection, either role ---- */

static void conn_release(uv_handle_t *h)
{
	conn *c = h->data;
	if (--c->handles)
		return;
	gk_tcp_deframer_free(&c->df);
	free(c->cli);
	free(c);
}

static void conn_close(conn *c, const char *why)
{
	char at[64];
	if (c->closing)
		return;
	c->closing = true;
	gk_tcp_server *s = c->srv;
	if (s) {
		if (c->prev)
			c->prev->next = c->next;
		else
			s->conns = c->next;
		if (c->next)
			c->next->prev = c->prev;
		s->st.open--;
		gk_info("tcp: closed connection from %s: %s", gk_addr_text((struct sockaddr *)&c->peer, at, sizeof(at)), why);
	} else if (c->cli) {
		gk_info("tcp: connection to %s closed: %s", gk_addr_text((struct sockaddr *)&c->peer, at, sizeof(at)), why);
		gk_tcp_client *cl = c->cli;
		for (pending *p = cl->queue, *n; p; p = n) {
			n = p->next;
			free(p);
		}
		cl->queue = NULL;
		if (cl->closed)
			cl->closed(cl->ctx, cl, why);
	}
	uv_close((uv_handle_t *)&c->h, conn_release);
	uv_close((uv_handle_t *)&c->idle, conn_release);
}

/* RFC 9329 7.2: an initiator does not retransmit over a reliable stream. gmd's core does not
 * know its stream: a frame whose digest is among the last DIGESTS this client sent on this
 * connection is a copy of ours, not sent again. (gcksd's request engine knows its stream and
 * sends nothing twice on one, common/ike/ike_req.h.) */
static bool seen_before(conn *c, const uint8_t *data, size_t len)
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL))
		return false;
	for (unsigned i = 0; i < c->nsent && i < DIGESTS; i++)
		if (!memcmp(c->sent[i], md, DIGEST_LEN))
			return true;
	memcpy(c->sent[c->nsent++ % DIGESTS], md, DIGEST_LEN);
	if (c->nsent == 2 * DIGESTS)
		c->nsent = DIGESTS;
	return false;
}

static void on_written(uv_write_t *req, int status)
{
	(void)status; /* a broken stream shows in the read callback too */
	free(req->data);
}

static gk_status raw_write(conn *c, const uint8_t *data, size_t len)
{
	wreq *w = malloc(sizeof(*w) + len);
	if (!w)
		return GK_E_NOMEM;
	memcpy(w->data, data, len);
	w->req.data = w;
	uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)len);
	if (uv_write(&w->req, (uv_stream_t *)&c->h, &b, 1, on_written)) {
		free(w);
		conn_close(c, "write failed");
		return GK_E_IO;
	}
	return GK_OK;
}

static gk_status frame_write(conn *c, const uint8_t *ike, size_t len)
{
	uint8_t hdr[GK_TCP_FRAME_MIN];
	if (gk_tcp_frame_header(len, hdr))
		return GK_E_TOO_BIG;
	wreq *w = malloc(sizeof(*w) + sizeof(hdr) + len);
	if (!w)
		return GK_E_NOMEM;
	memcpy(w->data, hdr, sizeof(hdr));
	memcpy(w->data + sizeof(hdr), ike, len);
	w->req.data = w;
	uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)(sizeof(hdr) + len));
	if (uv_write(&w->req, (uv_stream_t *)&c->h, &b, 1, on_written)) {
		free(w);
		conn_close(c, "write failed");
		return GK_E_IO;
	}
	return GK_OK;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	conn *c = h->data;
	(void)suggested;
	*b = uv_buf_init((char *)(c->srv ? c->srv->rbuf : c->cli->rbuf), READ_BUF);
}

static void on_frame(void *ctx, const uint8_t *ike, size_t len)
{
	conn *c = ctx;
	if (c->closing)
		return;
	if (c->srv) {
		c->srv->st.messages++;
		/* a complete IKE message: the connection is not idle (slowloris is) */
		uv_timer_again(&c->idle);
		c->srv->cb(c->srv->ctx, c->id, ike, len, (struct sockaddr *)&c->peer, (struct sockaddr *)&c->local);
	} else if (c->cli) {
		c->cli->cb(c->cli->ctx, ike, len, (struct sockaddr *)&c->peer);
	}
}

static void on_read(uv_stream_t *h, ssize_t n, const uv_buf_t *b)
{
	conn *c = h->data;
	char err[128];
	if (n == 0)
		return;
	if (n < 0) {
		conn_close(c, n == UV_EOF ? "closed by the peer" : uv_strerror((int)n));
		return;
	}
	uint64_t esp = c->df.esp_dropped, shrt = c->df.short_dropped;
	gk_status st = gk_tcp_deframe(&c->df, (const uint8_t *)b->base, (size_t)n, on_frame, c, err, sizeof(err));
	if (c->srv) {
		c->srv->st.esp_dropped += c->df.esp_dropped - esp;
		c->srv->st.short_dropped += c->df.short_dropped - shrt;
		if (c->df.esp_dropped > esp)
			gk_dbg("tcp: ESP frame dropped: a key server carries no ESP (RFC 9329 3.2)");
	}
	if (st && !c->closing) {
		if (c->srv && st == GK_E_TOO_BIG)
			c->srv->st.too_big++;
		else if (c->srv)
			c->srv->st.bad_stream++;
		conn_close(c, err);
	}
}

/* ---- the responder ---- */

/* The source a limit counts: an IPv4 address or an IPv6 /64, as for half-open SAs. */
static bool same_source(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return false;
	if (a->sa_family == AF_INET)
		return ((const struct sockaddr_in *)(const void *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)(const void *)b)->sin_addr.s_addr;
	return !memcmp(&((const struct sockaddr_in6 *)(const void *)a)->sin6_addr,
		       &((const struct sockaddr_in6 *)(const void *)b)->sin6_addr, 8);
}

static void on_idle(uv_timer_t *t)
{
	conn *c = t->data;
	c->srv->st.idle_closed++;
	conn_close(c, "no complete IKE message within the idle timeout");
}

static void on_connection(uv_stream_t *l, int status)
{
	gk_tcp_server *s = l->data;
	char at[64];
	if (status < 0)
		return;
	conn *c = calloc(1, sizeof(*c));
	if (!c)
		return;
	uv_tcp_init(s->loop, &c->h);
	c->h.data = c;
	c->handles = 1;
	if (uv_accept(l, (uv_stream_t *)&c->h)) {
		uv_close((uv_handle_t *)&c->h, conn_release);
		return;
	}
	int len = sizeof(c->peer);
	uv_tcp_getpeername(&c->h, (struct sockaddr *)&c->peer, &len);
	len = sizeof(c->local);
	uv_tcp_getsockname(&c->h, (struct sockaddr *)&c->local, &len);
	unsigned from_source = 0;
	for (conn *o = s->conns; o; o = o->next)
		from_source += same_source((struct sockaddr *)&o->peer, (struct sockaddr *)&c->peer);
	const char *refuse = NULL;
	if (s->st.open >= s->lim.max_conns) {
		s->st.refused_total++;
		refuse = "connections in all at the limit";
	} else if (from_source >= s->lim.max_per_source) {
		s->st.refused_source++;
		refuse = "connections of its source at the limit";
	}
	if (refuse) {
		/* reset, not a FIN: nothing to linger in TIME_WAIT on our side */
		gk_info("tcp: refused connection from %s: %s", gk_addr_text((struct sockaddr *)&c->peer, at, sizeof(at)),
			refuse);
		uv_tcp_close_reset(&c->h, conn_release);
		return;
	}
	c->srv = s;
	c->id = ++s->next_id;
	gk_tcp_deframer_init(&c->df, s->lim.max_frame, true);
	uv_timer_init(s->loop, &c->idle);
	c->idle.data = c;
	c->handles = 2;
	uv_timer_start(&c->idle, on_idle, s->lim.idle_ms, s->lim.idle_ms);
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->st.open++;
	s->st.accepted++;
	gk_dbg("tcp: connection %llu from %s", (unsigned long long)c->id,
	       gk_addr_text((struct sockaddr *)&c->peer, at, sizeof(at)));
	uv_tcp_nodelay(&c->h, 1);
	if (uv_read_start((uv_stream_t *)&c->h, on_alloc, on_read))
		conn_close(c, "cannot read");
}

gk_status gk_tcp_server_new(uv_loop_t *loop, const gk_tcp_limits *lim, gk_tcp_server_cb cb, void *ctx,
			    gk_tcp_server **out)
{
	gk_tcp_server *s = calloc(1, sizeof(*s));
	if (!s)
		return GK_E_NOMEM;
	s->loop = loop;
	s->lim = *lim;
	s->cb = cb;
	s->ctx = ctx;
	*out = s;
	return GK_OK;
}

static void free_handle(uv_handle_t *h)
{
	free(h);
}

gk_status gk_tcp_server_listen(gk_tcp_server *s, const struct sockaddr *addr, char *err, size_t errlen)
{
	char at[64];
	if (s->nlisteners == MAX_LISTENERS) {
		gk_seterr(err, errlen, "more than %d TCP listeners", MAX_LISTENERS);
		return GK_E_INVAL;
	}
	uv_tcp_t *t = calloc(1, sizeof(*t));
	if (!t)
		return GK_E_NOMEM;
	uv_tcp_init(s->loop, t);
	t->data = s;
	int len = sizeof(s->local[0]);
	int r = uv_tcp_bind(t, addr, addr->sa_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0);
	if (!r)
		r = uv_listen((uv_stream_t *)t, 128, on_connection);
	if (!r)
		r = uv_tcp_getsockname(t, (struct sockaddr *)&s->local[s->nlisteners], &len);
	if (r) {
		gk_seterr(err, errlen, "cannot listen on TCP %s: %s", gk_addr_text(addr, at, sizeof(at)), uv_strerror(r));
		uv_close((uv_handle_t *)t, free_handle);
		return GK_E_IO;
	}
	s->listeners[s->nlisteners++] = t;
	return GK_OK;
}

const struct sockaddr *gk_tcp_server_local(const gk_tcp_server *s, size_t i)
{
	return i < s->nlisteners ? (const struct sockaddr *)&s->local[i] : NULL;
}

gk_status gk_tcp_server_send(gk_tcp_server *s, uint64_t id, const uint8_t *ike, size_t len)
{
	conn *c = s->conns;
	while (c && c->id != id)
		c = c->next;
	if (!c)
		return GK_E_NOT_FOUND;
	/* a peer that does not read what we send cannot make us hold more than this */
	if (uv_stream_get_write_queue_size((uv_stream_t *)&c->h) + len > s->lim.max_queued) {
		s->st.queue_closed++;
		conn_close(c, "peer does not read its messages");
		return GK_E_IO;
	}
	return frame_write(c, ike, len);
}

void gk_tcp_server_stats(const gk_tcp_server *s, gk_tcp_stats *out)
{
	*out = s->st;
}

void gk_tcp_server_free(gk_tcp_server *s)
{
	if (!s)
		return;
	while (s->conns)
		conn_close(s->conns, "shutting down");
	for (size_t i = 0; i < s->nlisteners; i++)
		uv_close((uv_handle_t *)s->listeners[i], free_handle);
	free(s);
}

/* ---- the originator ---- */

static void on_connect(uv_connect_t *req, int status)
{
	gk_tcp_client *cl = req->data;
	conn *c = cl->c;
	if (c->closing)
		return;
	if (status < 0) {
		conn_close(c, uv_strerror(status));
		return;
	}
	cl->connected = true;
	int len = sizeof(c->local);
	uv_tcp_getsockname(&c->h, (struct sockaddr *)&c->local, &len);
	uv_tcp_nodelay(&c->h, 1);
	/* RFC 9329 4: the originator sends the prefix once, first */
	if (raw_write(c, (const uint8_t *)GK_TCP_PREFIX, GK_TCP_PREFIX_LEN) ||
	    uv_read_start((uv_stream_t *)&c->h, on_alloc, on_read)) {
		conn_close(c, "cannot start the stream");
		return;
	}
	while (cl->queue && !c->closing) {
		pending *p = cl->queue;
		cl->queue = p->next;
		frame_write(c, p->data, p->len);
		free(p);
	}
	cl->tail = &cl->queue;
}

gk_status gk_tcp_client_new(uv_loop_t *loop, const struct sockaddr *to, size_t max_frame, gk_tcp_client_cb cb,
			    gk_tcp_client_closed_cb closed, void *ctx, gk_tcp_client **out)
{
	conn *c = calloc(1, sizeof(*c));
	gk_tcp_client *cl = calloc(1, sizeof(*cl));
	if (!c || !cl) {
		free(c);
		free(cl);
		return GK_E_NOMEM;
	}
	c->cli = cl;
	cl->c = c;
	cl->cb = cb;
	cl->closed = closed;
	cl->ctx = ctx;
	cl->tail = &cl->queue;
	memcpy(&c->peer, to, gk_addr_len(to));
	gk_tcp_deframer_init(&c->df, max_frame, false);
	uv_tcp_init(loop, &c->h);
	uv_timer_init(loop, &c->idle); /* unused by the originator; closed with the connection */
	c->h.data = c->idle.data = c;
	c->handles = 2;
	cl->creq.data = cl;
	int r = uv_tcp_connect(&cl->creq, &c->h, to, on_connect);
	if (r) {
		cl->closed = NULL;
		conn_close(c, uv_strerror(r));
		return GK_E_IO;
	}
	*out = cl;
	return GK_OK;
}

gk_status gk_tcp_client_send(gk_tcp_client *cl, const uint8_t *ike, size_t len)
{
	conn *c = cl->c;
	if (c->closing)
		return GK_E_IO;
	if (len > GK_TCP_FRAME_MAX - GK_TCP_FRAME_MIN)
		return GK_E_TOO_BIG;
	if (seen_before(c, ike, len)) {
		cl->dups++;
		return GK_OK;
	}
	if (cl->connected)
		return frame_write(c, ike, len);
	pending *p = malloc(sizeof(*p) + len);
	if (!p)
		return GK_E_NOMEM;
	p->next = NULL;
	p->len = len;
	memcpy(p->data, ike, len);
	*cl->tail = p;
	cl->tail = &p->next;
	return GK_OK;
}

const struct sockaddr *gk_tcp_client_peer(const gk_tcp_client *cl)
{
	return (const struct sockaddr *)&cl->c->peer;
}

uint64_t gk_tcp_client_dups(const gk_tcp_client *cl)
{
	return cl->dups;
}

void gk_tcp_client_free(gk_tcp_client *cl)
{
	if (!cl)
		return;
	cl->closed = NULL;
	conn_close(cl->c, "closed");
}
