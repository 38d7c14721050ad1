/* The GCKS core: the input pipeline (header, Message ID window, decryption,
 * payload rules) and the table of exchanges it answers; the answers held for the group commit
 * (gk_gcks_flush); the tick, which visits only the IKE SAs with a timer due (gcks_timers.h);
 * the work spread over loop turns (gk_gcks_continue). */
#define GK_LOG_SUBSYS GK_SUB_IKE /* log.h */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "gcks_state.h"
#include "gcks_auth.h"
#include "gcks_creds.h"
#include "gcks_groups.h"
#include "gcks_cluster.h"
#include "gcks_ikerekey.h"
#include "gcks_init.h"
#include "gcks_intermediate.h"
#include "gcks_keyhash.h"
#include "gcks_keyroll.h"
#include "gcks_peers.h"
#include "gcks_refusal.h"
#include "gcks_reg.h"
#include "gcks_rekey.h"
#include "gcks_dh_cache.h"
#include "gcks_resp.h"
#include "gcks_sa_table.h"
#include "gcks_sources.h"
#include "gcks_timers.h"
#include "exchange_rules.h"
#include "log.h"
#include "msgdump.h"

typedef void (*gcks_handler)(gk_gcks *g, gcks_sa *sa, const gk_msg *m, gcks_resp *r);

/* The whole protocol the GCKS answers, on one screen: (exchange, SA state) -> handler.
 * IKE_SA_INIT is handled before an SA exists (gcks_ike_sa_init). */
static const struct {
	uint8_t exchange;
	gk_ike_state state;
	gcks_handler fn;
} exchanges[] = {
	{ GK_EXCH_IKE_INTERMEDIATE, GK_IKE_INIT_DONE, gcks_ike_intermediate },
	{ GK_EXCH_GSA_AUTH, GK_IKE_INIT_DONE, gcks_gsa_auth },
	{ GK_EXCH_IKE_AUTH, GK_IKE_INIT_DONE, gcks_ike_auth },
	{ GK_EXCH_GSA_REGISTRATION, GK_IKE_ESTABLISHED, gcks_gsa_registration },
	{ GK_EXCH_INFORMATIONAL, GK_IKE_ESTABLISHED, gcks_informational },
	{ GK_EXCH_CREATE_CHILD_SA, GK_IKE_ESTABLISHED, gcks_create_child_sa },
};

void gk_gcks_config_default(gk_gcks_config *c)
{
	memset(c, 0, sizeof(*c));
	gk_ike_offer_default(&c->offer);
	c->dh_reuse_s = 10; /* with dh_reuse: gcksd --dh-reuse-seconds */
	/* RFC 9370: a member may propose additional key exchanges with the groups we take for the
	 * first one; whether a group requires them is its policy (checked in GSA_AUTH) */
	for (size_t i = 0; i < GK_ADDKE_MAX && c->offer.nke < GK_OFFER_MAX; i++) {
		memcpy(c->offer.addke[i], c->offer.ke, c->offer.nke * sizeof(c->offer.ke[0]));
		c->offer.addke[i][c->offer.nke] = GK_KE_NONE;
		c->offer.naddke[i] = c->offer.nke + 1;
	}
	strcpy(c->server_id, "localhost:500"); /* gcksd: the host name and its port */
	c->cookie_threshold = 1000;
	c->cookie_rate = 100;
	c->cookie_per_source = 2;
	c->half_open_max = 20000;
	c->half_open_per_source = 8;
	c->half_open_timeout_ms = 30000;
	c->costly_ke_rate = 100;
	c->costly_ke_per_source = 4;
	c->init_resend_max = 6;
	c->init_resend_interval_ms = 500;
	c->max_sas = 200000;
	c->ike_idle_timeout_s = 60;
	c->max_sender_ids_default = 4;
	c->max_sas_per_identity = 8;
	c->init_req_max = 3000; /* RFC 7296 2: what every implementation SHOULD process */
	c->frag_sa_max = GK_FRAG_MAX * 2048; /* the largest message a member fragments at 1232 */
	c->frag_source_max = 2 * c->frag_sa_max; /* two members behind one address at once */
	c->frag_total_max = 4u << 20;
	c->frag_timeout_ms = 5000;
	c->rtx_resend_max = 3;
	c->rtx_window_ms = 1000;
	c->ike_rekey_min_interval_s = 60;
	c->ike_lifetime_s = 14400;
}

/* ---- input ---- */

static void send_raw(gk_gcks *g, const gcks_sa *sa, const uint8_t *p, size_t n)
{
	gcks_send(g, sa->path, (const struct sockaddr *)&sa->ike.local, (const struct sockaddr *)&sa->ike.peer, p, n);
}

static void send_dgrams(gk_gcks *g, const gcks_sa *sa, const gk_dgrams *l)
{
	for (size_t i = 0; i < l->n; i++)
		send_raw(g, sa, l->d[i].data, l->d[i].len);
}

/* A replayed copy of a real request passes the check below: resending is limited per SA so
 * that replays cannot multiply our traffic toward a spoofed address. */
static bool resend_allowed(gk_gcks *g, gcks_sa *sa)
{
	if (gk_ike_resend_allowed(&sa->resend, gcks_now(g), g->cfg.rtx_resend_max, g->cfg.rtx_window_ms))
		return true;
	g->stats.rtx_limited++;
	return false;
}

/* RFC 7296 2.1: a retransmitted request gets the cached response, sent where the retransmission
 * came from (2.11). Only a datagram identical to one of the request's verified ones counts, so
 * a forged datagram reusing the Message ID is no way to have responses reflected anywhere. */
static void retransmitted(gk_gcks *g, gcks_sa *sa, gk_chunk d, const struct sockaddr *peer,
			  const struct sockaddr *local)
{
	gk_ike_copy c = gk_ike_resend_copy(&sa->resend, g->resend_key, &sa->ike, d);
	if (c == GK_COPY_OTHER)
		g->stats.dropped++;
	if (c != GK_COPY_SAME || gk_ike_req_stream_answered(g->in_path, sa->path) || !resend_allowed(g, sa))
		return; /* RFC 9329 7.2: a stream that carried the answer is not given it again */
	for (size_t k = 0; k < sa->ike.last_resp->n; k++)
		gcks_send(g, g->in_path, local, peer, sa->ike.last_resp->d[k].ptr, sa->ike.last_resp->d[k].len);
}

/* Encrypts (fragmenting when the member allows it), caches for retransmissions, and sends the
 * response to request (exchange, msg_id). */
static void respond_to(gk_gcks *g, gcks_sa *sa, uint8_t exchange, uint32_t msg_id, gcks_resp *r)
{
	gk_dgrams d;
	if (r->sent)
		return;
	gk_status st = gk_ike_req_build(&sa->ike, exchange, true, msg_id, r->pl, r->n, g->env.rnd, &d);
	if (st) {
		gk_err("cannot build %s response: %s", gk_iana_str(GK_REG_EXCHANGE, exchange), gk_status_str(st));
		return;
	}
	send_dgrams(g, sa, &d);
	gk_ike_req_answered(&sa->ike, msg_id, &d);
	gcks_timers_touch(g, sa); /* its cached response is forgotten in time (RFC 7296 2.1) */
}

static void respond(gk_gcks *g, gcks_sa *sa, const gk_msg *m, gcks_resp *r)
{
	respond_to(g, sa, m->hdr.exchange, m->hdr.msg_id, r);
}

/* ---- group commit (storage.h): responses held until the store's batch is committed ---- */

void gk_gcks_flush(gk_gcks *g)
{
	if (!g->nheld)
		return;
	gk_store_batch_commit(g->env.store); /* its failure: each held registration is told below */
	for (size_t i = 0; i < g->nheld; i++) {
		gcks_held *h = &g->held[i];
		gcks_sa *sa = gcks_sa_find(g, h->spi);
		gcks_reg_settle(g, sa, h->r.wait, gk_store_batch_committed(g->env.store, h->r.wait->seq), &h->r);
		if (sa) /* else the SA went meanwhile: the member starts over */
			respond_to(g, sa, h->exchange, h->msg_id, &h->r);
		gk_arena_free(&h->r.arena);
	}
	g->nheld = 0;
	gk_store_batch_reset(g->env.store);
}

/* Takes r (its arena) to answer at gk_gcks_flush; false when it cannot be held. */
static bool hold(gk_gcks *g, gcks_sa *sa, const gk_msg *m, gcks_resp *r)
{
	if (!g->held && !(g->held = OPENSSL_zalloc(GCKS_HELD_MAX * sizeof(*g->held))))
		return false;
	g->held[g->nheld++] = (gcks_held){ gcks_our_spi(sa), m->hdr.exchange, m->hdr.msg_id, *r };
	if (g->nheld == GCKS_HELD_MAX)
		gk_gcks_flush(g);
	return true;
}

/* Is the answer to this SA's last request held? Until it is sent the request's Message ID is
 * still the one expected (RFC 7296 2.1), so a copy of the request would be taken as new. */
static bool answer_held(const gk_gcks *g, const gcks_sa *sa)
{
	for (size_t i = 0; i < g->nheld; i++)
		if (g->held[i].spi == gcks_our_spi(sa))
			return true;
	return false;
}

static void handle_protected(gk_gcks *g, gcks_sa *sa, gk_chunk data, const struct sockaddr *peer,
			     const struct sockaddr *local)
{
	gk_msg m;
	gcks_resp r = { 0 };
	gk_arena_init(&r.arena, 0);
	bool complete = true;
	gk_status st = gk_msg_parse(&m, data);
	if (st == GK_OK)
		st = gk_ike_sa_open_at(&sa->ike, &m, gcks_now(g), &complete);
	if (st == GK_OK || (st == GK_E_UNSUPPORTED_CRITICAL && m.decrypted)) {
		gk_ike_resend_note(&sa->resend, g->resend_key, m.hdr.msg_id, data);
		sa->last_seen_ms = gcks_now(g); /* authenticated: a forger cannot make a member look alive */
		/* the peer may have moved (NAT rebinding): answer where the request came from, but
		 * only once it passed its integrity check (RFC 7296 2.23), or a forged message
		 * would move the SA to the forger's address */
		memcpy(&sa->ike.peer, peer, peer->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
		memcpy(&sa->ike.local, local, local->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
		sa->path = g->in_path; /* and on the stream it came on, if any (RFC 9329) */
	}
	if (st == GK_OK && !complete)
		goto out; /* a fragment kept until the others arrive */
	if (st == GK_E_UNSUPPORTED_CRITICAL && m.decrypted) {
		uint8_t t = m.bad_critical;
		gcks_resp_notify(&r, GK_N_UNSUPPORTED_CRITICAL_PAYLOAD, GK_CHUNK(gk_arena_dup(&r.arena, &t, 1), 1));
		respond(g, sa, &m, &r);
		goto out;
	}
	if (st) {
		/* RFC 7296 2.21.1: messages that fail integrity or parsing are dropped silently */
		gk_dbg("dropped message on SA %016llx: %s", (unsigned long long)sa->ike.spi_r, gk_status_str(st));
		g->stats.dropped++;
		goto out;
	}
	gcks_log_msg(g, "received", &m, (const struct sockaddr *)&sa->ike.peer);
	uint8_t bad;
	if (gk_exchange_rules_check(&m, &bad) != GK_OK) {
		gcks_refusal(g, peer, "%s request breaks its payload rules (%s)",
			     gk_iana_str(GK_REG_EXCHANGE, m.hdr.exchange),
			     bad ? gk_iana_str(GK_REG_PAYLOAD, bad) : "payload combination");
		gcks_resp_notify(&r, GK_N_INVALID_SYNTAX, GK_CHUNK_EMPTY);
		r.close_after = sa->ike.state != GK_IKE_ESTABLISHED;
		respond(g, sa, &m, &r);
		goto out;
	}
	gcks_handler fn = NULL;
	if (sa->superseded && m.hdr.exchange != GK_EXCH_INFORMATIONAL) {
		/* RFC 7296 2.18, 2.25: a rekeyed SA only waits for its Delete; new work goes to the
		 * new SA */
		gcks_resp_notify(&r, GK_N_TEMPORARY_FAILURE, GK_CHUNK_EMPTY);
		respond(g, sa, &m, &r);
		goto out;
	}
	for (size_t i = 0; i < sizeof(exchanges) / sizeof(exchanges[0]); i++)
		if (exchanges[i].exchange == m.hdr.exchange && exchanges[i].state == sa->ike.state)
			fn = exchanges[i].fn;
	if (!fn) {
		gk_dbg("no handler for %s in state %d", gk_iana_str(GK_REG_EXCHANGE, m.hdr.exchange), sa->ike.state);
		g->stats.dropped++;
		goto out;
	}
	sa->ike.used_ms = gcks_now(g);
	fn(g, sa, &m, &r);
	if (r.wait && !r.sent && hold(g, sa, &m, &r)) {
		gk_msg_free(&m);
		return; /* r is the held one's now */
	}
	if (r.wait) { /* cannot be held: settled at once */
		gcks_reg_settle(g, sa, r.wait, gk_store_batch_commit(g->env.store) == GK_OK &&
				gk_store_batch_committed(g->env.store, r.wait->seq), &r);
		if (!g->nheld) /* else the held ones were in the lost batch too: settled at the flush */
			gk_store_batch_reset(g->env.store);
	}
	respond(g, sa, &m, &r);
out:
	if (r.close_after)
		gcks_sa_close(g, sa);
	gk_arena_free(&r.arena);
	gk_msg_free(&m);
}

/* A response to a request of ours (GSA_INBAND_REKEY, CREATE_CHILD_SA, INFORMATIONAL). Its I
 * flag says whether the member is the SA's original initiator (RFC 7296 3.1): always, except
 * for an SA we made by rekeying (RFC 7296 2.18). */
static void handle_response(gk_gcks *g, const gk_hdr *h, gk_chunk data)
{
	gcks_sa *sa = gcks_sa_for(g, h);
	gk_msg m;
	bool complete;
	if (!sa || !sa->out_req || h->msg_id != sa->out_req->msg_id) {
		g->stats.dropped++;
		return;
	}
	if (gk_msg_parse(&m, data) == GK_OK && gk_ike_sa_open_at(&sa->ike, &m, gcks_now(g), &complete) == GK_OK &&
	    complete) {
		gcks_log_msg(g, "received", &m, (const struct sockaddr *)&sa->ike.peer);
		if (m.hdr.exchange == GK_EXCH_CREATE_CHILD_SA)
			gcks_ike_rekey_response(g, sa, &m);
		else
			gcks_inband_response(g, sa, &m);
	}
	gk_msg_free(&m);
	if (sa->closing && !sa->out_req)
		gcks_sa_close(g, sa); /* our Delete is answered */
}

void gk_gcks_input(gk_gcks *g, const uint8_t *data, size_t len, const struct sockaddr *peer,
		   const struct sockaddr *local)
{
	gk_hdr h;
	gk_chunk in = GK_CHUNK(data, len);
	gk_status st = gk_hdr_parse(in, &h);
	if (st == GK_E_UNSUPPORTED || st == GK_E_TRUNCATED || st == GK_E_MALFORMED || h.length != len) {
		/* INVALID_MAJOR_VERSION would only help a peer we cannot talk to anyway */
		g->stats.dropped++;
		return;
	}
	if (h.flags & GK_FLAG_R) {
		handle_response(g, &h, in);
		return;
	}
	if (h.exchange == GK_EXCH_IKE_SA_INIT) {
		/* kept until authentication: bounded, and dropped silently like any message we cannot
		 * take (an error notify to an unverified source would only help reflection) */
		if (h.spi_r != 0 || h.msg_id != 0 || len > g->cfg.init_req_max) {
			g->stats.dropped++;
			return;
		}
		gcks_ike_sa_init(g, in, peer, local);
		return;
	}
	gcks_sa *sa = gcks_sa_for(g, &h);
	if (!sa) {
		g->stats.dropped++;
		return;
	}
	gcks_timers_touch(g, sa); /* what follows may set its timers: due time computed again */
	if (g->nheld && answer_held(g, sa))
		gk_gcks_flush(g); /* the answer goes first: what follows may be its retransmission */
	gk_ike_in win = gk_ike_req_window(&sa->ike, h.msg_id);
	if (win == GK_IN_RETRANSMIT) {
		/* answer once per retransmitted request, on its first fragment (RFC 7383 2.6.1) */
		bool later_fragment = h.next_payload == GK_PL_SKF && len >= GK_HDR_LEN + 8 &&
				      gk_get_u16(data + GK_HDR_LEN + 4) != 1;
		if (!later_fragment)
			retransmitted(g, sa, in, peer, local);
		return;
	}
	if (win == GK_IN_DROP) {
		g->stats.dropped++;
		return;
	}
	handle_protected(g, sa, in, peer, local);
}

void gk_gcks_input_path(gk_gcks *g, const uint8_t *data, size_t len, const struct sockaddr *peer,
			const struct sockaddr *local, uint64_t path)
{
	g->in_path = path;
	gk_gcks_input(g, data, len, peer, local);
	g->in_path = 0;
}

/* ---- timers ---- */

/* RFC 9838 2.3.3: by convention the GCKS closes registration IKE SAs it does not need. The
 * Delete is a request like any other: retransmitted until answered (the SA goes then) or until
 * the member is deemed gone. True when the Delete is out and the SA stays until then. */
static bool close_idle(gk_gcks *g, gcks_sa *sa)
{
	gk_pl_delete d = { .proto = GK_PROTO_IKE };
	gk_out_pl pl = { GK_PL_DELETE, false, &d };
	sa->closing = true;
	if (gcks_request(g, sa, GK_EXCH_INFORMATIONAL, &pl, 1) != GK_OK)
		return false;
	sa->deadline_ms = 0;
	return true;
}

static int64_t earliest(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

/* When scan_sa has something to do on sa, exactly: the minimum of its timers. */
static int64_t sa_due(const gk_gcks *g, const gcks_sa *sa)
{
	int64_t due = gcks_ike_rekey_due(g, sa);
	if (sa->out_req && sa->out_req->at)
		due = earliest(due, sa->out_req->at);
	const gk_ike_sa *ike = &sa->ike;
	if (ike->reasm && ike->reasm->active && ike->frag_timeout_ms)
		due = earliest(due, ike->frag_started_ms + ike->frag_timeout_ms);
	if (ike->last_resp)
		due = earliest(due, ike->used_ms + GK_RESP_FORGET_MS);
	if (sa->deadline_ms)
		due = earliest(due, sa->deadline_ms);
	return due;
}

/* One SA at the scan: retransmission, our rekey, fragment expiry, expiry. Then its next due
 * time; at the earliest the next scan (each SA is visited once a scan, as when every SA was). */
static void scan_sa(gk_gcks *g, gcks_sa *sa, int64_t now)
{
	g->stats.sa_visits++;
	gcks_outgoing_tick(g, sa, now);
	gcks_ike_rekey_tick(g, sa, now);
	gk_ike_sa_expire(&sa->ike, now);
	if (sa->deadline_ms && now >= sa->deadline_ms &&
	    (sa->ike.state != GK_IKE_ESTABLISHED || sa->closing || sa->superseded || !close_idle(g, sa))) {
		gcks_sa_close(g, sa);
		return;
	}
	int64_t due = sa_due(g, sa);
	gcks_timers_set(g, sa, due > now ? due : now + 1);
}

void gk_gcks_tick(gk_gcks *g)
{
	int64_t now = gcks_now(g);
	if (now - g->cookie_rotated_ms > 120000) {
		memcpy(g->cookie_prev, g->cookie_secret, sizeof(g->cookie_secret));
		gk_prf_keyed_free(g->cookie_mac_prev);
		g->cookie_mac_prev = g->cookie_mac;
		g->cookie_mac = NULL; /* keyed again at its first use */
		gk_rand_bytes(g->env.rnd, g->cookie_secret, sizeof(g->cookie_secret));
		g->cookie_rotated_ms = now;
	}
	gcks_cluster_tick(g, now);
	gcks_rekey_tick(g, now);
	if (now - g->sa_scan_ms < 1000 && g->sa_scan_ms)
		return;
	g->sa_scan_ms = now;
	gcks_sources_sweep(g);
	/* only the SAs with a timer due (gcks_timers.h), not every SA */
	for (gcks_sa *sa; (sa = gcks_timers_due(g, now));)
		scan_sa(g, sa, now);
}

bool gk_gcks_busy(gk_gcks *g)
{
	return gcks_inband_pending(g);
}

void gk_gcks_continue(gk_gcks *g)
{
	gcks_inband_continue(g);
	gcks_dh_cache_expire(g);
}

/* ---- life cycle ---- */

gk_status gk_gcks_new(const gk_gcks_config *cfg, const gk_gcks_env *env, gk_gcks **out,
		      char *err, size_t errlen)
{
	gk_gcks *g = calloc(1, sizeof(*g));
	gk_status st = GK_E_NOMEM;
	if (!g)
		return st;
	g->cfg = *cfg;
	g->env = *env;
	g->frag_pool.max = cfg->frag_total_max;
	if (gcks_sa_table_init(g) != GK_OK) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if ((st = gk_rand_bytes(env->rnd, g->cookie_secret, sizeof(g->cookie_secret))) != GK_OK)
		goto fail;
	g->cookie_rotated_ms = gcks_now(g);
	if ((st = gcks_keyhash_init(g)) != GK_OK || (st = gcks_sources_init(g)) != GK_OK ||
	    (st = gk_ike_resend_key_new(env->rnd, &g->resend_key)) != GK_OK) {
		snprintf(err, errlen, "cannot set up the SA tables: %s", gk_status_str(st));
		goto fail;
	}
	if ((st = gcks_creds_load(g, err, errlen)) != GK_OK)
		goto fail;
	if ((st = gcks_groups_load(g)) != GK_OK) {
		snprintf(err, errlen, "cannot load group policies: %s", gk_status_str(st));
		goto fail;
	}
	gcks_cluster_round_now(g); /* lead what nobody leads before the first packet */
	if (gcks_keyroll_resume(g) != GK_OK)
		gk_warn("the interrupted signing key rollover could not be completed; it is retried at the next start");
	*out = g;
	return GK_OK;
fail:
	gk_gcks_free(g);
	return st;
}

static void close_sa(gk_gcks *g, gcks_sa *sa, void *ctx)
{
	(void)ctx;
	gcks_sa_close(g, sa);
}

void gk_gcks_free(gk_gcks *g)
{
	if (!g)
		return;
	/* held answers are not sent: the sockets may be gone (gcksd flushes every turn) */
	gk_store_batch_commit(g->env.store);
	for (size_t i = 0; i < g->nheld; i++)
		gk_arena_free(&g->held[i].r.arena);
	OPENSSL_free(g->held);
	gcks_sa_foreach(g, close_sa, NULL);
	gcks_sa_table_free(g);
	gcks_timers_free(g);
	gcks_sources_free(g);
	gcks_keyhash_free(g);
	gk_ike_resend_key_free(g->resend_key);
	gcks_peers_free(g);
	gcks_groups_free(g);
	gcks_pending_free(g);
	gcks_inband_free(g);
	gcks_dh_cache_free(g);
	gcks_creds_free(g);
	OPENSSL_cleanse(g->cookie_secret, sizeof(g->cookie_secret));
	OPENSSL_cleanse(g->cookie_prev, sizeof(g->cookie_prev));
	gk_prf_keyed_free(g->cookie_mac);
	gk_prf_keyed_free(g->cookie_mac_prev);
	free(g);
}

void gk_gcks_stats_get(const gk_gcks *g, gk_gcks_stats *st)
{
	*st = g->stats;
	st->half_open = (unsigned)g->nhalf;
	st->established = (unsigned)(g->nsas - g->nhalf);
	st->groups = (unsigned)g->ngroups;
	st->frag_bytes = g->frag_pool.used;
	st->frag_evicted = g->frag_pool.evicted;
}

typedef struct {
	uint64_t hash;
	gk_gcks_member_fn fn;
	void *ctx;
	int64_t now_ms, wall;
} member_walk;

static void member_one(gk_gcks *g, gcks_sa *sa, void *ctx)
{
	member_walk *w = ctx;
	(void)g;
	if (sa->half_open || sa->closing || sa->superseded || sa->ike.state != GK_IKE_ESTABLISHED ||
	    !gcks_sa_in_group(sa, w->hash))
		return;
	gk_ident id;
	gk_gcks_member_info m = {
		.id = gk_ident_held_get(sa->peer_id, &id), .peer = (const struct sockaddr *)&sa->ike.peer,
		.last_seen = sa->last_seen_ms ? w->wall - (w->now_ms - sa->last_seen_ms) / 1000 : 0,
		.rekey_pending = (sa->out_req && sa->out_req->exchange == GK_EXCH_GSA_INBAND_REKEY &&
				  sa->out_group == w->hash) || (sa->rekey_queued && sa->queued_group == w->hash),
	};
	w->fn(w->ctx, &m);
}

gk_status gk_gcks_members(gk_gcks *g, const char *group, gk_gcks_member_fn fn, void *ctx)
{
	for (size_t i = 0; i < g->ngroups; i++) {
		if (strcmp(g->groups[i].pol.name, group))
			continue;
		member_walk w = { g->groups[i].hash, fn, ctx, gcks_now(g), gcks_wall(g) };
		gcks_sa_foreach(g, member_one, &w);
		return GK_OK;
	}
	return GK_E_NOT_FOUND;
}
