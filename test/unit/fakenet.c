/* Test-only in-memory network: see fakenet.h. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "fakenet.h"
#include "chunk.h"
#include "iana.h"
#include "message.h"

#define FN_FLUSH_LIMIT 100000 /* deliveries per flush: a loop between cores is a bug */

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q) {
		fprintf(stderr, "fakenet: out of memory\n");
		abort();
	}
	return q;
}

static void *xdup(const void *p, size_t n)
{
	void *q = xrealloc(NULL, n);
	if (n)
		memcpy(q, p, n);
	return q;
}

static struct sockaddr_in addr4(const char *ip, uint16_t port)
{
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons(port);
	inet_pton(AF_INET, ip, &a.sin_addr);
	return a;
}

static bool same(const struct sockaddr_in *a, const struct sockaddr *b)
{
	const struct sockaddr_in *c = (const void *)b;
	return b->sa_family == AF_INET && a->sin_port == c->sin_port && a->sin_addr.s_addr == c->sin_addr.s_addr;
}

void fn_init(fakenet *n)
{
	memset(n, 0, sizeof(*n));
	gk_clock_test_init(&n->clock, 1000000, INT64_C(1700000000));
	n->step_ms = 100;
	gk_rand_test_init(&n->gcks_rnd, 1);
	n->gcks_addr = addr4("127.0.0.1", 848);
}

static void event_free(fn_event *e)
{
	if (e->state)
		OPENSSL_clear_free(e->state, sizeof(*e->state));
	e->state = NULL;
}

void fn_free(fakenet *n)
{
	gk_gcks_free(n->gcks);
	n->gcks = NULL;
	for (size_t i = 0; i < n->ngroups; i++) {
		fn_groups *g = &n->groups[i];
		gk_gm_groups_free(g->m);
		fclose(g->events);
		free(g->ev_buf);
	}
	for (size_t i = 0; i < n->nmembers; i++) {
		fn_member *m = &n->members[i];
		gk_gm_free(m->gm);
		for (size_t j = 0; j < m->nev; j++)
			event_free(&m->ev[j]);
		free(m->ev);
	}
	for (size_t i = 0; i < n->nraws; i++) {
		for (size_t j = 0; j < n->raws[i].n; j++)
			free(n->raws[i].inbox[j].data);
		free(n->raws[i].inbox);
	}
	for (size_t i = 0; i < n->nq; i++)
		free(n->q[i].data);
	free(n->q);
	for (size_t i = 0; i < n->nheld; i++)
		free(n->held[i].data);
	free(n->held);
	for (size_t i = 0; i < n->ntrace; i++)
		free(n->trace[i].data);
	free(n->trace);
	memset(n, 0, sizeof(*n));
}


/* ---- the queue and impairments ---- */

fn_rule fn_rule_any(fn_action a)
{
	return (fn_rule){ .action = a, .dir = FN_ANY_DIR, .peer = -1, .exchange = -1, .response = -1,
			  .offset = -1 };
}

fn_rule *fn_impair(fakenet *n, const fn_rule *r)
{
	if (n->nrules == FN_MAX_RULES)
		abort();
	n->rules[n->nrules] = *r;
	n->rules[n->nrules].seen = n->rules[n->nrules].hits = 0;
	return &n->rules[n->nrules++];
}

void fn_impair_clear(fakenet *n) { n->nrules = 0; }

static void hdr_fields(const uint8_t *p, size_t len, uint8_t *exchange, uint8_t *flags, uint32_t *msg_id,
		       uint64_t *spi_i, uint64_t *spi_r)
{
	*exchange = *flags = 0;
	*msg_id = 0;
	*spi_i = *spi_r = 0;
	if (len < GK_HDR_LEN)
		return;
	*spi_i = gk_get_u64(p);
	*spi_r = gk_get_u64(p + 8);
	*exchange = p[18];
	*flags = p[19];
	*msg_id = gk_get_u32(p + 20);
}

static bool selects(int dir, int peer, int exchange, int response, const fn_dgram *d)
{
	uint8_t ex, fl;
	uint32_t id;
	uint64_t si, sr;
	hdr_fields(d->data, d->len, &ex, &fl, &id, &si, &sr);
	if (dir == FN_TO_GCKS && !d->to_gcks)
		return false;
	if (dir == FN_FROM_GCKS && d->to_gcks)
		return false;
	if (peer >= 0 && peer != d->peer)
		return false;
	if (exchange >= 0 && (d->len < GK_HDR_LEN || exchange != ex))
		return false;
	if (response >= 0 && (d->len < GK_HDR_LEN || response != !!(fl & GK_FLAG_R)))
		return false;
	return true;
}

static bool rule_selects(const fn_rule *r, const fn_dgram *d)
{
	return selects((int)r->dir, r->peer, r->exchange, r->response, d);
}

static void push(fn_dgram **arr, size_t *n, size_t *cap, const fn_dgram *d)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		*arr = xrealloc(*arr, *cap * sizeof(**arr));
	}
	(*arr)[(*n)++] = *d;
}

static void enqueue(fakenet *n, const fn_dgram *d) { push(&n->q, &n->nq, &n->capq, d); }

/* Releases held datagrams that were waiting for this one's filter (after it: the swap), or
 * whose time has come. */
static void release_held(fakenet *n, const fn_dgram *after)
{
	size_t k = 0;
	for (size_t i = 0; i < n->nheld; i++) {
		fn_dgram *h = &n->held[i];
		bool go = n->clock.now_ms >= h->release_ms ||
			  (after && selects(h->hold_dir, h->hold_peer, h->hold_exchange, h->hold_response, after));
		if (go)
			enqueue(n, h);
		else
			n->held[k++] = *h;
	}
	n->nheld = k;
}

static void record(fakenet *n, const fn_dgram *d, unsigned fates)
{
	if (n->ntrace == n->captrace) {
		n->captrace = n->captrace ? n->captrace * 2 : 64;
		n->trace = xrealloc(n->trace, n->captrace * sizeof(*n->trace));
	}
	fn_trace *t = &n->trace[n->ntrace++];
	memset(t, 0, sizeof(*t));
	t->at_ms = n->clock.now_ms;
	t->to_gcks = d->to_gcks;
	t->peer = d->peer;
	hdr_fields(d->data, d->len, &t->exchange, &t->flags, &t->msg_id, &t->spi_i, &t->spi_r);
	t->data = xdup(d->data, d->len);
	t->len = d->len;
	t->fates = fates;
	t->from_port = ntohs(d->from.sin_port);
	t->to_port = ntohs(d->to.sin_port);
}

/* A datagram leaves its sender: impairments apply, then it joins the queue. */
static void transmit(fakenet *n, bool to_gcks, int peer, struct sockaddr_in from, struct sockaddr_in to,
		     const uint8_t *data, size_t len)
{
	fn_dgram d = { .to_gcks = to_gcks, .peer = peer, .from = from, .to = to,
		       .data = xdup(data, len), .len = len };
	unsigned fates = 0;
	bool drop = false, dup = false, hold = false;
	int64_t hold_ms = 5000;
	for (size_t i = 0; i < n->nrules; i++) {
		fn_rule *r = &n->rules[i];
		if (r->until_ms && n->clock.now_ms >= r->until_ms)
			continue;
		if (!rule_selects(r, &d))
			continue;
		if (++r->seen <= r->skip || (r->count && r->hits >= r->count))
			continue;
		r->hits++;
		switch (r->action) {
		case FN_DROP:
			drop = true;
			fates |= 1u << FN_DROPPED;
			break;
		case FN_DUP:
			dup = true;
			fates |= 1u << FN_DUPLICATED;
			break;
		case FN_CORRUPT:
			if (d.len) {
				long off = r->offset < 0 ? (long)d.len + r->offset : r->offset;
				if (off < 0)
					off = 0;
				if ((size_t)off >= d.len)
					off = (long)d.len - 1;
				d.data[off] ^= 0x5a;
			}
			fates |= 1u << FN_CORRUPTED;
			break;
		case FN_TRUNCATE:
			if (r->keep < d.len)
				d.len = r->keep;
			fates |= 1u << FN_TRUNCATED;
			break;
		case FN_REORDER:
			hold = true;
			if (r->hold_ms)
				hold_ms = r->hold_ms;
			d.hold_dir = (int)r->dir;
			d.hold_peer = r->peer;
			d.hold_exchange = r->exchange;
			d.hold_response = r->response;
			fates |= 1u << FN_REORDERED;
			break;
		}
	}
	/* the trace keeps what the sender sent */
	fn_dgram orig = d;
	orig.data = (uint8_t *)data;
	orig.len = len;
	record(n, &orig, fates);
	if (drop) {
		free(d.data);
		return;
	}
	if (hold) {
		d.release_ms = n->clock.now_ms + hold_ms;
		push(&n->held, &n->nheld, &n->capheld, &d);
		return;
	}
	enqueue(n, &d);
	if (dup) {
		fn_dgram c = d;
		c.data = xdup(d.data, d.len);
		enqueue(n, &c);
	}
	release_held(n, &d);
}

/* ---- endpoints ---- */

static void gcks_send(void *ctx, const struct sockaddr *local, const struct sockaddr *peer,
		      const uint8_t *data, size_t len)
{
	fakenet *n = ctx;
	struct sockaddr_in nat = n->gcks_addr;
	nat.sin_port = htons(4500);
	if (!same(&n->gcks_addr, local) && !same(&nat, local)) {
		fprintf(stderr, "fakenet: the GCKS sent from an address it does not have\n");
		abort();
	}
	const struct sockaddr_in *from = (const struct sockaddr_in *)(const void *)local;
	for (size_t i = 0; i < n->nmembers; i++)
		if (same(&n->members[i].addr, peer) || (n->members[i].nat_t && same(&n->members[i].nat_addr, peer))) {
			if (n->members[i].stream) {
				fprintf(stderr, "fakenet: the GCKS sent a datagram to a member on a stream\n");
				abort();
			}
			transmit(n, false, (int)i, *from, *(const struct sockaddr_in *)(const void *)peer, data, len);
			return;
		}
	for (size_t i = 0; i < n->nraws; i++)
		if (same(&n->raws[i].addr, peer)) {
			transmit(n, false, FN_RAW_BASE + (int)i, n->gcks_addr, n->raws[i].addr, data, len);
			return;
		}
	if (n->sink && peer->sa_family == AF_INET) {
		fn_dgram d = { .to_gcks = false, .peer = FN_SINK, .from = n->gcks_addr,
			       .to = *(const struct sockaddr_in *)(const void *)peer, .data = xdup(data, len), .len = len };
		enqueue(n, &d);
		return;
	}
	fprintf(stderr, "fakenet: the GCKS sent to an unknown address\n");
	abort();
}

void fn_send_from(fakenet *n, const struct sockaddr_in *from, const uint8_t *data, size_t len)
{
	fn_dgram d = { .to_gcks = true, .peer = FN_SINK, .from = *from, .to = n->gcks_addr,
		       .data = xdup(data, len), .len = len };
	enqueue(n, &d);
}

void fn_set_sink(fakenet *n, fn_sink_fn fn, void *ctx)
{
	n->sink = fn;
	n->sink_ctx = ctx;
}

void fn_set_server(fakenet *n, fn_server_fn fn, void *ctx)
{
	n->server = fn;
	n->server_ctx = ctx;
}

/* GSA_REKEY to a group (RFC 9838 2.4.1), from the GCKS's address and the Rekey SA's port. */
static void gcks_send_multicast(void *ctx, const struct sockaddr *dst, uint16_t sport, uint8_t ttl,
				const char *iface, const uint8_t *data, size_t len)
{
	fakenet *n = ctx;
	(void)ttl, (void)iface;
	if (dst->sa_family != AF_INET) {
		fprintf(stderr, "fakenet: multicast to a family it does not carry\n");
		abort();
	}
	struct sockaddr_in from = n->gcks_addr;
	if (sport)
		from.sin_port = htons(sport);
	transmit(n, false, FN_MCAST, from, *(const struct sockaddr_in *)(const void *)dst, data, len);
}

void fn_mcast_send(fakenet *n, const struct sockaddr_in *from, const struct sockaddr_in *group,
		   const uint8_t *data, size_t len)
{
	transmit(n, false, FN_MCAST, *from, *group, data, len);
}

/* An IKE message on a stream (gk_gcks_env.send_path): to the member on it now, else lost. */
static void gcks_send_path(void *ctx, uint64_t path, const uint8_t *data, size_t len)
{
	fakenet *n = ctx;
	for (size_t i = 0; i < n->nmembers; i++)
		if (n->members[i].stream == path) {
			n->members[i].stream_rx++;
			transmit(n, false, (int)i, n->gcks_addr, n->members[i].addr, data, len);
			return;
		}
	n->stream_lost++;
}

gk_gcks_env fn_gcks_env(fakenet *n, gk_store *store)
{
	return (gk_gcks_env){ .rnd = &n->gcks_rnd.r, .clock = gk_clock_test_clock(&n->clock), .send = gcks_send,
			      .send_path = gcks_send_path, .send_ctx = n, .store = store,
			      .send_multicast = n->multicast ? gcks_send_multicast : NULL };
}

static void member_send(void *ctx, const uint8_t *data, size_t len)
{
	fn_member *m = ctx;
	struct sockaddr_in to = m->net->gcks_addr;
	if (m->nat_t)
		to.sin_port = htons(4500);
	transmit(m->net, true, m->idx, m->nat_t ? m->nat_addr : m->addr, to, data, len);
}

static void member_nat_t(void *ctx)
{
	fn_member *m = ctx;
	m->nat_t++;
	m->nat_addr = m->addr;
	m->nat_addr.sin_port = htons((uint16_t)(ntohs(m->addr.sin_port) + 30000));
}

static void member_keepalive(void *ctx)
{
	fn_member *m = ctx;
	if (m->keepalives < sizeof(m->keepalive_at) / sizeof(m->keepalive_at[0]))
		m->keepalive_at[m->keepalives] = m->net->clock.now_ms;
	m->keepalives++;
}

/* As gmd hands the core's reports on to its group manager. */
static void follow_event(fn_member *m, const gk_gm_event *ev)
{
	fn_groups *g = m->follow;
	if (!g || ev->group >= GK_GM_MAX_GROUPS)
		return;
	size_t gi = m->follow_map[ev->group];
	switch (ev->type) {
	case GK_GM_REGISTERED:
		gk_gm_groups_registered(g->m, gi, ev->state, ev->transport_mode);
		break;
	case GK_GM_REKEYED:
		gk_gm_groups_inband(g->m, ev);
		break;
	case GK_GM_EXCLUDED:
		gk_gm_groups_excluded(g->m, gi, ev->why);
		break;
	case GK_GM_REFUSED:
	case GK_GM_FAILED: /* a refusal of the whole exchange loses the group; silence does not */
		if (ev->type == GK_GM_REFUSED || ev->notify) {
			char why[256]; /* "NOTIFY: why", as gmd reports it */
			snprintf(why, sizeof(why), "%s%s%s", ev->notify ? gk_iana_str(GK_REG_NOTIFY, ev->notify) : "",
				 ev->notify && ev->why ? ": " : "", ev->why ? ev->why : "");
			gk_gm_groups_lost(g->m, gi, why);
		}
		break;
	default:
		break;
	}
}

static void member_event(void *ctx, const gk_gm_event *ev)
{
	fn_member *m = ctx;
	follow_event(m, ev);
	if (m->nev == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 8;
		m->ev = xrealloc(m->ev, m->cap * sizeof(*m->ev));
	}
	fn_event *e = &m->ev[m->nev++];
	memset(e, 0, sizeof(*e));
	e->type = ev->type;
	e->group = ev->group;
	e->notify = ev->notify;
	snprintf(e->why, sizeof(e->why), "%s", ev->why ? ev->why : "");
	e->transport_mode = ev->transport_mode;
	for (size_t i = 0; i < ev->ndel && e->ndel < sizeof(e->dels) / sizeof(e->dels[0]); i++)
		e->dels[e->ndel++] = ev->dels[i];
	e->retry_ms = ev->retry_ms;
	e->at_ms = m->net->clock.now_ms;
	if (ev->state) {
		e->state = OPENSSL_malloc(sizeof(*e->state));
		if (!e->state)
			abort();
		memcpy(e->state, ev->state, sizeof(*e->state));
	}
}

fn_member *fn_add_member(fakenet *n, const gk_gm_config *cfg)
{
	if (n->nmembers == FN_MAX_MEMBERS)
		return NULL;
	fn_member *m = &n->members[n->nmembers];
	char ip[32];
	memset(m, 0, sizeof(*m));
	m->net = n;
	m->idx = (int)n->nmembers;
	snprintf(ip, sizeof(ip), "127.0.0.%d", 10 + m->idx);
	m->addr = addr4(ip, (uint16_t)(10000 + m->idx));
	gk_rand_test_init(&m->rnd, 100 + (uint64_t)m->idx);
	gk_gm_env env = { .rnd = &m->rnd.r, .clock = gk_clock_test_clock(&n->clock), .send = member_send,
			  .send_ctx = m, .event = member_event, .event_ctx = m, .nat_t = member_nat_t,
			  .keepalive = member_keepalive, .keylog = n->member_keylog };
	if (gk_gm_new(cfg, &env, &m->gm) != GK_OK)
		return NULL;
	n->nmembers++;
	return m;
}

void fn_follow(fn_member *m, fn_groups *g)
{
	m->follow = g;
	for (size_t i = 0; i < GK_GM_MAX_GROUPS; i++)
		m->follow_map[i] = i;
}

/* ---- member group managers and multicast ---- */

static gk_status groups_join(void *ctx, size_t group, const struct sockaddr *dst, char *err, size_t errlen)
{
	fn_groups *g = ctx;
	if (group >= g->n || dst->sa_family != AF_INET) {
		snprintf(err, errlen, "fakenet: no such group or family");
		return GK_E_INVAL;
	}
	if (g->joined[group]) {
		fprintf(stderr, "fakenet: a group manager joined twice without leaving\n");
		abort();
	}
	g->joined[group] = true;
	memcpy(&g->mcast[group], dst, sizeof(g->mcast[group]));
	g->joins++;
	return GK_OK;
}

static void groups_leave(void *ctx, size_t group)
{
	fn_groups *g = ctx;
	if (group < g->n && g->joined[group]) {
		g->joined[group] = false;
		g->leaves++;
	}
}

/* The group manager asks to register again: with rereg_cfg, a member core does (gmd's run). */
static void groups_reregister(void *ctx, size_t group)
{
	fn_groups *g = ctx;
	if (group >= g->n)
		return;
	g->rereg[group]++;
	if (!g->rereg_cfg)
		return;
	gk_gm_config c = *g->rereg_cfg;
	c.groups[0] = g->rereg_cfg->groups[group];
	c.ngroups = 1;
	fn_member *m = fn_add_member(g->net, &c);
	if (!m) {
		fprintf(stderr, "fakenet: no room for a re-registering member\n");
		abort();
	}
	fn_follow(m, g);
	m->follow_map[0] = group;
	if (gk_gm_start(m->gm) != GK_OK)
		abort();
}

fn_groups *fn_add_groups(fakenet *n, const gk_gm_groups_env *base, const gk_ident *ids, size_t nids)
{
	if (n->ngroups == FN_MAX_MEMBERS || nids > GK_GM_MAX_GROUPS)
		return NULL;
	fn_groups *g = &n->groups[n->ngroups];
	memset(g, 0, sizeof(*g));
	g->net = n;
	g->idx = (int)n->ngroups;
	g->n = nids;
	gk_rand_test_init(&g->rnd, 200 + (uint64_t)g->idx);
	g->events = open_memstream(&g->ev_buf, &g->ev_len);
	if (!g->events)
		return NULL;
	gk_gm_groups_env env = { .clock = gk_clock_test_clock(&n->clock), .rnd = &g->rnd.r, .mcast_join = groups_join,
				 .mcast_leave = groups_leave, .mcast_ctx = g, .events = g->events,
				 .reregister = groups_reregister, .ctx = g };
	if (base) {
		env.sink = base->sink;
		env.sender = base->sender;
		env.rereg_max_ms = base->rereg_max_ms;
		env.allow = base->allow;
		env.nallow = base->nallow;
	}
	if (gk_gm_groups_new(&env, ids, nids, &g->m) != GK_OK) {
		fclose(g->events);
		free(g->ev_buf);
		return NULL;
	}
	n->ngroups++;
	return g;
}

size_t fn_groups_events(fn_groups *g, const char *event, const char *with)
{
	char key[96];
	size_t c = 0;
	fflush(g->events);
	snprintf(key, sizeof(key), "\"event\":\"%s\"", event);
	for (const char *l = g->ev_buf; l && *l;) {
		const char *end = strchr(l, '\n');
		size_t len = end ? (size_t)(end - l) : strlen(l);
		char line[4096];
		snprintf(line, sizeof(line), "%.*s", (int)len, l);
		c += strstr(line, key) && (!with || strstr(line, with));
		l += len + (end != NULL);
	}
	return c;
}

/* Every group manager listening on the datagram's group address and port gets a copy. */
static void mcast_deliver(fakenet *n, const fn_dgram *d)
{
	for (size_t k = 0; k < n->ngroups; k++) {
		fn_groups *g = &n->groups[k];
		for (size_t i = 0; i < g->n; i++)
			if (g->joined[i] && same(&d->to, (const struct sockaddr *)&g->mcast[i]))
				gk_gm_groups_rekey_input(g->m, i, d->data, d->len, (const struct sockaddr *)&d->from);
	}
}

fn_raw *fn_add_raw(fakenet *n)
{
	if (n->nraws == FN_MAX_RAW)
		return NULL;
	fn_raw *r = &n->raws[n->nraws];
	char ip[32];
	memset(r, 0, sizeof(*r));
	r->net = n;
	r->idx = (int)n->nraws;
	snprintf(ip, sizeof(ip), "127.0.1.%d", 10 + r->idx);
	r->addr = addr4(ip, (uint16_t)(20000 + r->idx));
	n->nraws++;
	return r;
}

void fn_raw_send(fn_raw *r, const uint8_t *data, size_t len)
{
	transmit(r->net, true, FN_RAW_BASE + r->idx, r->addr, r->net->gcks_addr, data, len);
}

bool fn_raw_take(fn_raw *r, fn_dgram *d)
{
	if (!r->n)
		return false;
	*d = r->inbox[0];
	memmove(r->inbox, r->inbox + 1, (r->n - 1) * sizeof(*r->inbox));
	r->n--;
	return true;
}

/* ---- delivery and time ---- */

static void deliver(fakenet *n, fn_dgram *d)
{
	n->delivered++;
	if (d->to_gcks) {
		if (n->gcks) {
			gk_gcks_input_path(n->gcks, d->data, d->len, (const struct sockaddr *)&d->from,
					   (const struct sockaddr *)&d->to,
					   d->peer >= 0 && d->peer < (int)n->nmembers ? n->members[d->peer].stream : 0);
			/* the end of a turn of gcksd's loop: what arrived together is committed together */
			if (!n->nq || !n->q[0].to_gcks)
				gk_gcks_flush(n->gcks);
		} else if (n->server)
			n->server(n->server_ctx, &d->from, d->data, d->len);
		free(d->data);
	} else if (d->peer == FN_MCAST) {
		mcast_deliver(n, d);
		free(d->data);
	} else if (d->peer == FN_SINK) {
		n->sink(n->sink_ctx, &d->to, d->data, d->len);
		free(d->data);
	} else if (d->peer >= FN_RAW_BASE) {
		fn_raw *r = &n->raws[d->peer - FN_RAW_BASE];
		push(&r->inbox, &r->n, &r->cap, d);
	} else {
		gk_gm_input(n->members[d->peer].gm, d->data, d->len);
		free(d->data);
	}
}

void fn_flush(fakenet *n)
{
	for (unsigned k = 0; n->nq || (n->gcks && !n->manual_turns && gk_gcks_busy(n->gcks)); k++) {
		if (!n->nq) {
			gk_gcks_continue(n->gcks);
			continue;
		}
		if (k > FN_FLUSH_LIMIT) {
			fprintf(stderr, "fakenet: datagrams keep coming; a loop between the cores?\n");
			abort();
		}
		fn_dgram d = n->q[0];
		memmove(n->q, n->q + 1, (n->nq - 1) * sizeof(*n->q));
		n->nq--;
		deliver(n, &d);
		if (!n->nq)
			release_held(n, NULL);
	}
}

static void tick_all(fakenet *n)
{
	for (size_t i = 0; i < n->nmembers; i++)
		gk_gm_tick(n->members[i].gm);
	for (size_t i = 0; i < n->ngroups; i++)
		gk_gm_groups_tick(n->groups[i].m);
	if (n->gcks)
		gk_gcks_tick(n->gcks);
	release_held(n, NULL);
}

void fn_advance(fakenet *n, int64_t ms)
{
	int64_t end = n->clock.now_ms + ms;
	fn_flush(n);
	while (n->clock.now_ms < end) {
		int64_t step = n->step_ms > 0 ? n->step_ms : 100;
		n->clock.now_ms = n->clock.now_ms + step > end ? end : n->clock.now_ms + step;
		tick_all(n);
		fn_flush(n);
	}
}

bool fn_run_until(fakenet *n, bool (*pred)(fakenet *n, void *ctx), void *ctx, int64_t limit_ms)
{
	int64_t end = n->clock.now_ms + limit_ms;
	fn_flush(n);
	while (!pred(n, ctx) && n->clock.now_ms < end)
		fn_advance(n, n->step_ms > 0 ? n->step_ms : 100);
	return pred(n, ctx);
}

/* ---- events and trace ---- */

size_t fn_count(const fn_member *m, gk_gm_event_type t)
{
	size_t c = 0;
	for (size_t i = 0; i < m->nev; i++)
		c += m->ev[i].type == t;
	return c;
}

const fn_event *fn_find(const fn_member *m, gk_gm_event_type t, size_t i)
{
	for (size_t j = 0; j < m->nev; j++)
		if (m->ev[j].type == t && i-- == 0)
			return &m->ev[j];
	return NULL;
}

bool fn_member_finished(const fn_member *m)
{
	return fn_count(m, GK_GM_DONE) + fn_count(m, GK_GM_FAILED) > 0;
}

bool fn_all_finished(fakenet *n, void *ctx)
{
	(void)ctx;
	for (size_t i = 0; i < n->nmembers; i++)
		if (!fn_member_finished(&n->members[i]))
			return false;
	return true;
}

static bool trace_matches(const fn_trace *t, fn_dir dir, int peer, int exchange, int response)
{
	return (dir == FN_ANY_DIR || (dir == FN_TO_GCKS) == t->to_gcks) && (peer < 0 || peer == t->peer) &&
	       (exchange < 0 || exchange == t->exchange) &&
	       (response < 0 || response == !!(t->flags & GK_FLAG_R));
}

size_t fn_trace_count(const fakenet *n, fn_dir dir, int peer, int exchange, int response)
{
	size_t c = 0;
	for (size_t i = 0; i < n->ntrace; i++)
		c += trace_matches(&n->trace[i], dir, peer, exchange, response);
	return c;
}

const fn_trace *fn_trace_find(const fakenet *n, fn_dir dir, int peer, int exchange, int response, size_t i)
{
	for (size_t j = 0; j < n->ntrace; j++)
		if (trace_matches(&n->trace[j], dir, peer, exchange, response) && i-- == 0)
			return &n->trace[j];
	return NULL;
}
