/* The member's registration state machine, its retries after failures and the liveness check
 * of IKE SAs kept for inband rekeys. */
#define GK_LOG_SUBSYS GK_SUB_IKE /* log.h */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/x509v3.h>
#include "gm.h"
#include "algs.h"
#include "auth.h"
#include "exchange_rules.h"
#include "ike_req.h"
#include "ike_sa.h"
#include "intermediate.h"
#include "key_path.h"
#include "log.h"
#include "message.h"
#include "msgdump.h"
#include "ppk.h"

#define NONCE_LEN 32
/* COOKIE answers taken per IKE_SA_INIT attempt: a new cookie (the GCKS's secret changed) or the
 * same one again (the answer to a retransmitted request) is sent back, a few times only
 * (RFC 7296 2.6: the initiator limits its cookie exchanges). */
#define COOKIE_ROUNDS 4

/* An IKE SA replaced by a rekey, kept until its Delete: ours (req holds it, retransmitted until
 * answered) or the GCKS's (req empty; dropped at `at` if none comes). */
typedef struct gm_gone {
	gk_ike_sa sa;               /* spi_i 0 = free slot */
	gk_ike_req req;
	int64_t at;
} gm_gone;

/* How long a replaced SA the GCKS is to delete waits for that Delete. */
#define GONE_WAIT_MS 30000

typedef enum gm_state {
	GM_IDLE, GM_INIT_SENT, GM_INT_SENT, GM_AUTH_SENT, GM_REG_SENT, GM_ESTABLISHED, GM_DONE_FAILED, GM_CLOSED,
	GM_LEAVE_SENT, GM_PROBE_SENT, GM_REJECT_SENT, GM_REKEY_SENT
} gm_state;

/* Waits after a refused IKE SA rekey before the next try (RFC 7296 2.25: not at once). */
#define REKEY_RETRY_MS 60000

struct gk_gm {
	gk_gm_config cfg;
	gk_gm_env env;
	gk_ike_sa ike;
	gk_ident peer_id;           /* the GCKS's identity, once authenticated */
	gm_state state;
	size_t cur;                 /* group being registered */
	gk_ike_req req;             /* last request (or its fragments) and its retransmissions */
	uint8_t cookie[64];
	size_t cookie_len;
	unsigned cookie_rounds;     /* COOKIE answers taken in this attempt */
	bool nat_t;                 /* moved to port 4500 (RFC 7296 2.23) */
	uint16_t ke_group;
	gk_group_state *gs;         /* scratch for decoding, wiped after each use */
	size_t nreg;                /* groups registered in this attempt */
	uint16_t refusal;           /* the last refusal notify in this attempt */
	unsigned fails;             /* failed attempts in a row: the backoff exponent */
	int64_t retry_at;           /* next attempt, 0 = none planned */
	bool inband;                /* a group registered here has no Rekey SA: rekeys come on this SA */
	uint32_t inband_groups;     /* which (bit per config index): excluded when the SA closes */
	int64_t last_rx;            /* last authenticated message on the IKE SA */
	int64_t live_wait;          /* silence before a liveness check, jitter included; 0 = none */
	/* IKE SA rekeying (RFC 7296 1.3.2, 2.18) of the SA kept for inband rekeys */
	int64_t rekey_at;           /* when to rekey it, 0 = not planned */
	uint16_t rekey_ke;          /* KE group of the next rekey (INVALID_KE_PAYLOAD may change it) */
	gk_ike_sa next;             /* the SA our CREATE_CHILD_SA makes, until the answer */
	gm_gone gone[2];            /* replaced SAs until their Delete (the old one, a collision's loser) */
	gk_ike_sa crossed;          /* the SA the GCKS made by rekeying ours while our rekey was out
				     * (RFC 7296 2.8.2), until ours is answered; spi_i 0 = none */
	uint8_t crossed_ni[256], crossed_nr[NONCE_LEN]; /* its exchange's nonces */
	size_t crossed_ni_len;
	int64_t last_tx;            /* last datagram sent to the GCKS */
	int64_t ka_wait;            /* quiet time before a NAT-keepalive, jitter included; 0 = none */
	size_t server;              /* the key server of the caller's list we talk to */
	size_t tried;               /* key servers moved on from in this round of failover */
	/* RFC 8784: the GCKS answered USE_PPK; our GSA_AUTH's AUTH is under the PPK's keys, and until
	 * the answer keys_noppk holds the keys without it (for a GCKS that falls back) */
	bool ppk_offered;
	bool ppk_pending;
	gk_ike_keys keys_noppk;
};

typedef void (*gm_handler)(gk_gm *gm, const gk_msg *m);
static bool nat_detected(const gk_gm *gm, const gk_msg *m);
static void on_init_resp(gk_gm *gm, const gk_msg *m);
static void on_auth_resp(gk_gm *gm, const gk_msg *m);
static void on_int_resp(gk_gm *gm, const gk_msg *m);
static void on_reg_resp(gk_gm *gm, const gk_msg *m);
static void on_leave_resp(gk_gm *gm, const gk_msg *m);
static void on_probe_resp(gk_gm *gm, const gk_msg *m);
static void on_reject_resp(gk_gm *gm, const gk_msg *m);
static void on_rekey_resp(gk_gm *gm, const gk_msg *m);
static void plan_rekey(gk_gm *gm, int64_t after_ms);
static void switch_sa(gk_gm *gm, gk_ike_sa *n, bool we_delete);
static uint16_t rekey_request(gk_gm *gm, const gk_msg *m, gk_arena *a, gk_out_pl *pl, size_t *npl,
			      gk_ike_sa *made);

/* The responses a member waits for, on one screen: (state, exchange) -> handler. Requests from
 * the GCKS (INFORMATIONAL) are answered in on_request. */
static const struct {
	gm_state state;
	uint8_t exchange;
	gm_handler fn;
} responses[] = {
	{ GM_INIT_SENT, GK_EXCH_IKE_SA_INIT, on_init_resp },
	{ GM_INT_SENT, GK_EXCH_IKE_INTERMEDIATE, on_int_resp },
	{ GM_AUTH_SENT, GK_EXCH_GSA_AUTH, on_auth_resp },
	{ GM_REG_SENT, GK_EXCH_GSA_REGISTRATION, on_reg_resp },
	{ GM_LEAVE_SENT, GK_EXCH_GSA_REGISTRATION, on_leave_resp },
	{ GM_PROBE_SENT, GK_EXCH_INFORMATIONAL, on_probe_resp },
	{ GM_REJECT_SENT, GK_EXCH_GSA_REGISTRATION, on_reject_resp },
	{ GM_REKEY_SENT, GK_EXCH_CREATE_CHILD_SA, on_rekey_resp },
};

void gk_gm_config_default(gk_gm_config *c)
{
	memset(c, 0, sizeof(*c));
	gk_ike_offer_default(&c->offer);
	c->offer.kwa_required = true;
	c->send_sag = true;
	c->retransmit_ms = 500;
	c->retransmit_tries = 6;
	c->keepalive_ms = 20000; /* RFC 3948 4: the default keepalive interval */
}

static int64_t now(const gk_gm *gm) { return gk_clock_now_ms(&gm->env.clock); }

static void emit(gk_gm *gm, gk_gm_event_type t, uint16_t notify, const char *why)
{
	gk_gm_event ev = { .type = t, .group = gm->cur, .notify = notify, .why = why };
	if (gm->env.event)
		gm->env.event(gm->env.event_ctx, &ev);
}

/* Refusals an admin has to fix: asking again soon would only load the GCKS. */
static bool permanent(uint16_t notify)
{
	return notify == GK_N_AUTHORIZATION_FAILED || notify == GK_N_INVALID_GROUP_ID ||
	       notify == GK_N_AUTHENTICATION_FAILED;
}

int64_t gk_gm_retry_delay(const gk_gm_config *cfg, const gk_rand *rnd, unsigned attempt, uint16_t notify)
{
	uint32_t r = 0;
	if (!cfg->retry_ms)
		return 0;
	int64_t cap = cfg->retry_max_ms > cfg->retry_ms ? cfg->retry_max_ms : cfg->retry_ms;
	int64_t d = cfg->retry_ms;
	for (unsigned i = 0; i < attempt && d < cap; i++)
		d *= 2;
	if (d > cap || permanent(notify))
		d = cap;
	/* jitter below the doubling: members that failed together come back spread, and each
	 * wait is still longer than the one before */
	if (gk_rand_bytes(rnd, (uint8_t *)&r, sizeof(r)) != GK_OK)
		r = 0;
	return d - (int64_t)(r % (uint64_t)(d / 4 + 1));
}

/* To key server idx of the caller's list (env.server). */
static void to_server(gk_gm *gm, size_t idx, const char *why)
{
	if (!gm->env.server || gm->cfg.nservers < 2 || idx == gm->server)
		return;
	gm->env.server(gm->env.send_ctx, idx, why, &gm->cfg.local, &gm->cfg.gcks); /* sees the old one */
	gm->server = idx;
}

/* Plans the next attempt (when retries are on) and reports the failure. With several key
 * servers, the next attempt starts again with the first: the preferred one, back or not. */
static void fail(gk_gm *gm, uint16_t notify, const char *why)
{
	gm->state = GM_DONE_FAILED;
	gk_ike_req_stop(&gm->req);
	gm->live_wait = 0;
	gm->tried = 0;
	to_server(gm, 0, why);
	gk_gm_event ev = { .type = GK_GM_FAILED, .group = gm->cur, .notify = notify, .why = why };
	if (gm->cfg.retry_ms) {
		ev.retry_ms = gk_gm_retry_delay(&gm->cfg, gm->env.rnd, gm->fails++, notify);
		gm->retry_at = now(gm) + ev.retry_ms;
	}
	if (gm->env.event)
		gm->env.event(gm->env.event_ctx, &ev);
}

/* Failover among several key servers (RFC 9838 leaves it to the member): a registration that
 * has registered no group yet moves to the next key server at once when the current one did not
 * answer a request (IKE_SA_INIT, GSA_AUTH, GSA_REGISTRATION) through every retransmission, or
 * answered IKE_SA_INIT or GSA_AUTH with TEMPORARY_FAILURE (RFC 7296 2.25: try later). Any other
 * refusal is the key servers' common policy and is not asked of another. When every key server
 * was tried, fail() applies the usual backoff. false: no key server left to try. */
static bool failover(gk_gm *gm, const char *why)
{
	if (!gm->env.server || gm->cfg.nservers < 2 || gm->nreg || gm->tried + 1 >= gm->cfg.nservers)
		return false;
	gm->state = GM_DONE_FAILED;
	gk_ike_req_stop(&gm->req);
	gm->live_wait = 0;
	gm->tried++;
	to_server(gm, (gm->server + 1) % gm->cfg.nservers, why);
	int64_t t = now(gm);
	gm->retry_at = t > 0 ? t : 1; /* the next tick starts it */
	return true;
}

/* The next liveness check waits for liveness_ms of silence plus jitter, so the members of a
 * big group do not all ask at once. Only SAs that carry inband rekeys are checked. */
static void arm_liveness(gk_gm *gm)
{
	uint32_t r = 0;
	gm->live_wait = 0;
	if (!gm->cfg.liveness_ms || !gm->inband || gm->state != GM_ESTABLISHED)
		return;
	if (gk_rand_bytes(gm->env.rnd, (uint8_t *)&r, sizeof(r)) != GK_OK)
		r = 0;
	gm->live_wait = (int64_t)gm->cfg.liveness_ms + r % (gm->cfg.liveness_ms / 4 + 1);
}

/* RFC 3948 4: behind a NAT, a keepalive after keepalive_ms without sending, less up to 1/4
 * jitter (never more: the NAT's timeout is what the interval is chosen for), so that members
 * behind one NAT do not send in step. */
static void arm_keepalive(gk_gm *gm)
{
	uint32_t r = 0;
	gm->ka_wait = 0;
	if (!gm->cfg.keepalive_ms || !gm->env.keepalive || !gm->nat_t)
		return;
	if (gk_rand_bytes(gm->env.rnd, (uint8_t *)&r, sizeof(r)) != GK_OK)
		r = 0;
	gm->ka_wait = (int64_t)gm->cfg.keepalive_ms - r % (gm->cfg.keepalive_ms / 4 + 1);
}

/* Keepalives only keep a mapping that something still uses: an IKE SA kept after registration
 * (inband rekeys, liveness checks, the GCKS's own requests). GSA_REKEY comes by multicast
 * (RFC 9838 4.4.2), never through the NAT. */
static bool keepalive_due(const gk_gm *gm)
{
	return gm->ka_wait && gm->ike.state == GK_IKE_ESTABLISHED && gm->state != GM_CLOSED &&
	       gm->state != GM_DONE_FAILED && gm->state != GM_IDLE;
}

static void send_dgram(gk_gm *gm, const uint8_t *data, size_t len)
{
	gm->env.send(gm->env.send_ctx, data, len);
	gm->last_tx = now(gm);
}

static void send_dgrams(gk_gm *gm, const gk_dgrams *d)
{
	for (size_t i = 0; i < d->n; i++)
		send_dgram(gm, d->d[i].data, d->d[i].len);
}

static void send_cached(gk_gm *gm, const gk_resp_cache *c)
{
	for (size_t i = 0; i < c->n; i++)
		send_dgram(gm, c->d[i].ptr, c->d[i].len);
}

static gk_ike_req_sched rtx_sched(const gk_gm *gm)
{
	return (gk_ike_req_sched){ .first_ms = gm->cfg.retransmit_ms, .tries = gm->cfg.retransmit_tries };
}

/* Sends a new request (already in gm->req.d) and arms retransmission. */
static void send_request(gk_gm *gm, uint8_t exchange)
{
	send_dgrams(gm, &gm->req.d);
	gk_ike_req_start(&gm->req, &gm->req.d, exchange,
			 exchange == GK_EXCH_IKE_SA_INIT ? 0 : gm->ike.msgid_out, rtx_sched(gm), now(gm));
}

/* ---- IKE_SA_INIT ---- */

static gk_status build_init(gk_gm *gm)
{
	gk_arena a;
	gk_arena_init(&a, 0);
	gk_pl_sa sa;
	gk_pl_ke ke = { .group = gm->ke_group };
	gk_pl_bytes nonce = { gk_ike_sa_ni(&gm->ike) };
	gk_pl_notify cookie = { .type = GK_N_COOKIE, .data = GK_CHUNK(gm->cookie, gm->cookie_len) };
	static const uint8_t hash_algs[] = { 0, GK_HASH_SHA2_256, 0, GK_HASH_SHA2_384, 0, GK_HASH_SHA2_512,
					     0, GK_HASH_IDENTITY };
	gk_pl_notify sigh = { .type = GK_N_SIGNATURE_HASH_ALGORITHMS, .data = GK_CHUNK(hash_algs, sizeof(hash_algs)) };
	gk_pl_notify frag = { .type = GK_N_IKEV2_FRAGMENTATION_SUPPORTED };
	/* RFC 7296 2.23: the responder SPI is zero in the request's header, and so in the hash */
	uint8_t natd_src[20], natd_dst[20];
	gk_pl_notify nsrc = { .type = GK_N_NAT_DETECTION_SOURCE_IP, .data = GK_CHUNK(natd_src, 20) };
	gk_pl_notify ndst = { .type = GK_N_NAT_DETECTION_DESTINATION_IP, .data = GK_CHUNK(natd_dst, 20) };
	bool natd = gm->cfg.local.ss_family && gm->cfg.gcks.ss_family &&
		    !gk_natd_hash(gm->ike.spi_i, 0, (const struct sockaddr *)&gm->cfg.local, natd_src) &&
		    !gk_natd_hash(gm->ike.spi_i, 0, (const struct sockaddr *)&gm->cfg.gcks, natd_dst);
	gk_pl_notify use_ppk = { .type = GK_N_USE_PPK };
	gk_pl_notify int_sup = { .type = GK_N_INTERMEDIATE_EXCHANGE_SUPPORTED };
	gk_out_pl pl[10];
	size_t n = 0;
	gk_wbuf pub;
	gk_wbuf_init(&pub, 1024);
	gk_status st = gk_ike_offer_to_sa(&gm->cfg.offer, &a, &sa);
	if (!st)
		st = gk_dh_public(gm->ike.dh, &pub);
	if (st)
		goto out;
	ke.data = gk_wbuf_chunk(&pub);
	if (gm->cookie_len)
		pl[n++] = (gk_out_pl){ GK_PL_NOTIFY, false, &cookie }; /* RFC 7296 2.6: first */
	pl[n++] = (gk_out_pl){ GK_PL_SA, false, &sa };
	pl[n++] = (gk_out_pl){ GK_PL_KE, false, &ke };
	pl[n++] = (gk_out_pl){ GK_PL_NONCE, false, &nonce };
	pl[n++] = (gk_out_pl){ GK_PL_NOTIFY, false, &frag };
	pl[n++] = (gk_out_pl){ GK_PL_NOTIFY, false, &sigh };
	if (gm->cfg.ppk) /* RFC 8784 3 */
		pl[n++] = (gk_out_pl){ GK_PL_NOTIFY, false, &use_ppk };
	if (gk_ike_offer_has_addke(&gm->cfg.offer)) /* RFC 9370 2.2.1 */
		pl[n++] = (gk_out_pl){ GK_PL_NOTIFY, false, &int_sup };
	if (natd) {
		pl[n++] = (gk_out_pl){ GK_PL_NOTIFY, false, &nsrc };
		pl[n++] = (gk_out_pl){ GK_PL_NOTIFY, false, &ndst };
	}
	gk_msg_out o = { .hdr = { .spi_i = gm->ike.spi_i, .exchange = GK_EXCH_IKE_SA_INIT, .flags = GK_FLAG_I },
			 .outer = pl, .nouter = n };
	gk_dgrams_free(&gm->req.d);
	gk_wbuf_init(&gm->req.d.d[0], GK_MAX_MESSAGE);
	gm->req.d.n = 1;
	st = gk_msg_build(&o, NULL, NULL, &gm->req.d.d[0]);
out:
	gk_wbuf_free(&pub);
	gk_arena_free(&a);
	return st;
}

static gk_status new_key_pair(gk_gm *gm)
{
	gk_dh_free(gm->ike.dh);
	gm->ike.dh = NULL;
	return gk_dh_new(gm->ke_group, &gm->ike.dh);
}

gk_status gk_gm_start(gk_gm *gm)
{
	uint8_t ni[NONCE_LEN];
	gk_status st;
	gk_ike_sa_free(&gm->ike);
	gk_ike_sa_free(&gm->next);
	gk_ike_sa_free(&gm->crossed);
	gm->ike.initiator = true;
	gm->cookie_len = 0;
	gm->cookie_rounds = 0;
	gm->cur = 0;
	gm->nreg = 0;
	gm->refusal = 0;
	gm->retry_at = 0;
	gm->inband = false;
	gm->inband_groups = 0;
	gm->live_wait = 0;
	gm->ppk_offered = gm->ppk_pending = false;
	OPENSSL_cleanse(&gm->keys_noppk, sizeof(gm->keys_noppk));
	gm->rekey_at = 0;
	gm->ke_group = gm->cfg.offer.ke[0];
	do {
		if ((st = gk_rand_bytes(gm->env.rnd, (uint8_t *)&gm->ike.spi_i, 8)) != GK_OK)
			return st;
	} while (gm->ike.spi_i == 0);
	if ((st = gk_rand_bytes(gm->env.rnd, ni, sizeof(ni))) != GK_OK ||
	    (st = gk_ike_sa_set_nonces(&gm->ike, GK_CHUNK(ni, sizeof(ni)), GK_CHUNK_EMPTY)) != GK_OK ||
	    (st = new_key_pair(gm)) != GK_OK || (st = build_init(gm)) != GK_OK)
		return st;
	gm->state = GM_INIT_SENT;
	send_request(gm, GK_EXCH_IKE_SA_INIT);
	return GK_OK;
}

/* Handles COOKIE and INVALID_KE_PAYLOAD answers; true when the request was sent again. */
static bool init_retry(gk_gm *gm, const gk_msg *m)
{
	const gk_payload *c = gk_msg_find_notify(m, GK_N_COOKIE);
	if (c && c->body->notify.data.len > 0 && c->body->notify.data.len <= sizeof(gm->cookie) &&
	    gm->cookie_rounds < COOKIE_ROUNDS) {
		memcpy(gm->cookie, c->body->notify.data.ptr, c->body->notify.data.len);
		gm->cookie_len = c->body->notify.data.len;
		gm->cookie_rounds++;
		if (build_init(gm) == GK_OK)
			send_request(gm, GK_EXCH_IKE_SA_INIT);
		return true;
	}
	const gk_payload *k = gk_msg_find_notify(m, GK_N_INVALID_KE_PAYLOAD);
	if (k && k->body->notify.data.len == 2) {
		uint16_t grp = gk_get_u16(k->body->notify.data.ptr);
		if (grp == gm->ke_group || !gk_ike_offer_has_ke(&gm->cfg.offer, grp))
			return false;
		gm->ke_group = grp;
		if (new_key_pair(gm) == GK_OK && build_init(gm) == GK_OK)
			send_request(gm, GK_EXCH_IKE_SA_INIT);
		return true;
	}
	return false;
}

static gk_status send_gsa_auth(gk_gm *gm);
static bool start_intermediate(gk_gm *gm, const gk_msg *m);

static void on_init_resp(gk_gm *gm, const gk_msg *m)
{
	uint8_t bad;
	if (init_retry(gm, m))
		return;
	const gk_payload *err = gk_msg_find_error(m);
	if (err) {
		if (err->body->notify.type == GK_N_TEMPORARY_FAILURE && failover(gm, "TEMPORARY_FAILURE to IKE_SA_INIT"))
			return;
		fail(gm, err->body->notify.type, "the GCKS refused IKE_SA_INIT");
		return;
	}
	if (gk_exchange_rules_check(m, &bad)) {
		fail(gm, 0, "malformed IKE_SA_INIT response");
		return;
	}
	/* the rules let a COOKIE answer go without SA, KE and Nonce; one not taken above (empty,
	 * too long, or one too many) ends the attempt */
	if (!gk_msg_find(m, GK_PL_SA) || !gk_msg_find(m, GK_PL_KE) || !gk_msg_find(m, GK_PL_NONCE)) {
		fail(gm, 0, "IKE_SA_INIT answered by a COOKIE that cannot be used");
		return;
	}
	gk_ike_suite suite;
	const gk_pl_ke *ke = &gk_msg_find(m, GK_PL_KE)->body->ke;
	gk_chunk nr = gk_msg_find(m, GK_PL_NONCE)->body->bytes.data;
	if (gk_ike_suite_from_sa(&gk_msg_find(m, GK_PL_SA)->body->sa, &gm->cfg.offer, &suite) ||
	    suite.ke != gm->ke_group || ke->group != gm->ke_group || nr.len < 16 || nr.len > 256) {
		fail(gm, 0, "the GCKS chose a proposal we did not offer");
		return;
	}
	if (!suite.kwa) {
		fail(gm, GK_N_NO_PROPOSAL_CHOSEN, "the GCKS did not negotiate a key wrap algorithm");
		return;
	}
	gk_wbuf shared;
	gk_wbuf_init(&shared, 1024);
	gm->ike.suite = suite;
	gm->ike.spi_r = m->hdr.spi_r;
	gm->ike.frag_ok = gk_msg_find_notify(m, GK_N_IKEV2_FRAGMENTATION_SUPPORTED) != NULL;
	gm->ppk_offered = gm->cfg.ppk && gk_msg_find_notify(m, GK_N_USE_PPK) != NULL;
	if (gm->cfg.ppk && !gm->ppk_offered && gm->cfg.ppk_required) {
		/* RFC 8784 3: a PPK is mandatory for us and the responder does not use PPKs */
		fail(gm, 0, "the GCKS does not use PPKs (no USE_PPK) and a PPK is required");
		return;
	}
	gk_status st = gk_dh_derive(gm->ike.dh, ke->data, &shared);
	gk_chunk ni = gk_ike_sa_ni(&gm->ike);
	if (!st)
		st = gk_ike_sa_set_nonces(&gm->ike, ni, nr);
	if (!st)
		st = gk_ike_sa_keep_init(&gm->ike, gk_wbuf_chunk(&gm->req.d.d[0]), m->data);
	if (!st)
		st = gk_ike_sa_derive(&gm->ike, gk_wbuf_chunk(&shared));
	if (!st) /* a debugging aid, off unless --ike-keylog */
		gk_ike_sa_keylog(gm->env.keylog, &gm->ike);
	gk_wbuf_free(&shared);
	if (st) {
		fail(gm, 0, st == GK_E_BAD_KE ? "the GCKS sent an invalid KE value" : "IKE key derivation failed");
		return;
	}
	gm->ike.state = GK_IKE_INIT_DONE;
	gm->ike.msgid_out = 1;
	if (!gm->nat_t && gm->env.nat_t && nat_detected(gm, m)) {
		/* RFC 7296 2.23: GSA_AUTH and all that follows go to port 4500 with the marker */
		gk_info("NAT detected between us and the GCKS: moving to UDP 4500");
		gm->nat_t = true;
		gm->env.nat_t(gm->env.send_ctx);
		arm_keepalive(gm);
	}
	if (start_intermediate(gm, m))
		return;
	if (send_gsa_auth(gm) != GK_OK)
		fail(gm, 0, "cannot build GSA_AUTH");
}

/* ---- IKE_INTERMEDIATE: additional key exchanges (RFC 9242, RFC 9370) ---- */

/* Sends KEi(n) for the next negotiated additional key exchange; IntAuth_i(n) is taken now, under
 * the keys the exchange runs with (RFC 9242 3.3.2). */
static gk_status send_intermediate(gk_gm *gm)
{
	gk_ike_int *ii = gm->ike.intermediate;
	const gk_ke_method *km = gk_ke_by_id(ii->addke[ii->done]);
	gk_wbuf pub;
	gk_wbuf_init(&pub, 4096);
	gk_ke_state_free(ii->ke);
	ii->ke = NULL;
	gk_status st = km ? gk_ke_start(km, &ii->ke, &pub) : GK_E_UNSUPPORTED;
	gk_pl_ke ke = { .group = km ? km->id : 0, .data = gk_wbuf_chunk(&pub) };
	gk_out_pl pl[1] = { { GK_PL_KE, false, &ke } };
	if (!st) {
		gk_dgrams_free(&gm->req.d);
		st = gk_ike_req_build(&gm->ike, GK_EXCH_IKE_INTERMEDIATE, false, gm->ike.msgid_out, pl, 1, gm->env.rnd,
				      &gm->req.d);
	}
	if (!st)
		st = gk_ike_sa_intauth_add_sent(&gm->ike, true, &gm->req.d, pl, 1);
	if (!st) {
		gm->state = GM_INT_SENT;
		send_request(gm, GK_EXCH_IKE_INTERMEDIATE);
	}
	gk_wbuf_free(&pub);
	return st;
}

/* After IKE_SA_INIT: true when additional key exchanges were negotiated and the first one is out
 * (or the SA failed). The responder must have announced IKE_INTERMEDIATE (RFC 9242 3.2). */
static bool start_intermediate(gk_gm *gm, const gk_msg *m)
{
	gk_ike_int ii = { 0 };
	if (!gk_ike_int_plan(&ii, gm->ike.suite.addke)) {
		fail(gm, GK_N_NO_PROPOSAL_CHOSEN, "the GCKS chose an additional key exchange we do not have");
		return true;
	}
	if (!ii.naddke)
		return false;
	if (!gk_msg_find_notify(m, GK_N_INTERMEDIATE_EXCHANGE_SUPPORTED)) {
		fail(gm, 0, "the GCKS chose additional key exchanges without IKE_INTERMEDIATE support");
		return true;
	}
	if (!(gm->ike.intermediate = calloc(1, sizeof(*gm->ike.intermediate)))) {
		fail(gm, 0, "out of memory");
		return true;
	}
	*gm->ike.intermediate = ii;
	if (send_intermediate(gm) != GK_OK)
		fail(gm, 0, "cannot build IKE_INTERMEDIATE");
	return true;
}

static void on_int_resp(gk_gm *gm, const gk_msg *m)
{
	gk_ike_int *ii = gm->ike.intermediate;
	const gk_payload *err = gk_msg_find_error(m);
	const gk_payload *kp = gk_msg_find(m, GK_PL_KE);
	gk_wbuf shared;
	if (err) {
		fail(gm, err->body->notify.type, "the GCKS refused IKE_INTERMEDIATE");
		return;
	}
	if (!kp || kp->body->ke.group != ii->addke[ii->done]) {
		fail(gm, 0, "IKE_INTERMEDIATE response without the KE of its exchange (RFC 9370 2.2.2)");
		return;
	}
	gk_wbuf_init(&shared, 4096);
	gk_status st = gk_ke_finish(ii->ke, kp->body->ke.data, &shared);
	if (!st)
		st = gk_ike_sa_intauth_add_received(&gm->ike, false, m);
	if (!st)
		st = gk_ike_sa_addke_update(&gm->ike, gk_wbuf_chunk(&shared));
	gk_wbuf_free(&shared);
	gk_ke_state_free(ii->ke);
	ii->ke = NULL;
	if (st) {
		fail(gm, 0, st == GK_E_BAD_KE ? "the GCKS sent an invalid KE value" : "IKE_INTERMEDIATE key update failed");
		return;
	}
	ii->done++;
	gk_ike_sa_keylog(gm->env.keylog, &gm->ike);
	gk_info("additional key exchange %zu/%zu (%s) done: IKE SA keys updated (RFC 9370)", ii->done, ii->naddke,
		gk_ke_by_id(ii->addke[ii->done - 1])->name);
	if (ii->done < ii->naddke)
		st = send_intermediate(gm);
	else
		st = send_gsa_auth(gm);
	if (st)
		fail(gm, 0, "cannot build the next request after IKE_INTERMEDIATE");
}

/* RFC 7296 2.23: a NAT_DETECTION_DESTINATION_IP that is not the hash of our address and port
 * means a NAT in front of us, a NAT_DETECTION_SOURCE_IP that is not the hash of the GCKS's
 * means one in front of the GCKS. Without our own NAT-D the GCKS's are not looked at. */
static bool nat_detected(const gk_gm *gm, const gk_msg *m)
{
	if (!gm->cfg.local.ss_family || !gm->cfg.gcks.ss_family)
		return false;
	const struct sockaddr *mine[2] = { (const struct sockaddr *)&gm->cfg.local,
					   (const struct sockaddr *)&gm->cfg.gcks };
	const uint16_t types[2] = { GK_N_NAT_DETECTION_DESTINATION_IP, GK_N_NAT_DETECTION_SOURCE_IP };
	for (int k = 0; k < 2; k++) {
		uint8_t h[20];
		bool seen = false, match = false;
		if (gk_natd_hash(gm->ike.spi_i, gm->ike.spi_r, mine[k], h))
			return false;
		/* several SOURCE_IP notifies are allowed (a multihomed responder): any match will do */
		for (size_t i = 0; i < m->pl.n; i++) {
			const gk_payload *p = &m->pl.items[i];
			if (p->type != GK_PL_NOTIFY || p->body->notify.type != types[k])
				continue;
			seen = true;
			match |= p->body->notify.data.len == 20 && !CRYPTO_memcmp(p->body->notify.data.ptr, h, 20);
		}
		if (seen && !match)
			return true;
	}
	return false;
}

/* ---- protected requests ---- */

/* Encrypts the inner payloads as a request with the next Message ID and sends it. */
static gk_status send_protected(gk_gm *gm, uint8_t exchange, const gk_out_pl *pl, size_t n)
{
	/* the I flag follows our role: after the GCKS rekeyed the SA, it is the original initiator
	 * (RFC 7296 2.18) */
	gk_dgrams_free(&gm->req.d);
	gk_status st = gk_ike_req_build(&gm->ike, exchange, false, gm->ike.msgid_out, pl, n, gm->env.rnd, &gm->req.d);
	if (st)
		return st;
	send_request(gm, exchange);
	return GK_OK;
}

/* SAg (RFC 9838 2.3.3): one proposal per protocol, all numbered 1 (no dependencies). */
static gk_status build_sag(gk_gm *gm, gk_arena *a, gk_pl_sa *out)
{
	static const uint16_t encrs_all[][2] = {
		{ GK_ENCR_AES_GCM_16, 128 }, { GK_ENCR_AES_GCM_16, 256 }, { GK_ENCR_AES_CBC, 128 },
		{ GK_ENCR_AES_CBC, 256 }, { GK_ENCR_CHACHA20_POLY1305, 0 }, { GK_ENCR_AES_CTR, 128 },
		{ GK_ENCR_AES_CTR, 256 }, { GK_ENCR_AES_GCM_8, 128 }, { GK_ENCR_AES_GCM_12, 128 },
		{ GK_ENCR_NULL_AUTH_AES_GMAC, 128 }, { GK_ENCR_NULL_AUTH_AES_GMAC, 256 },
	};
	static const uint16_t integs[] = { GK_INTEG_HMAC_SHA2_256_128, GK_INTEG_HMAC_SHA2_384_192,
					   GK_INTEG_HMAC_SHA2_512_256, GK_INTEG_HMAC_SHA1_96 };
	const uint8_t protos[] = { GK_PROTO_ESP, GK_PROTO_AH, GK_PROTO_GIKE_UPDATE };
	gk_proposal *p = gk_arena_calloc(a, 3, sizeof(*p));
	if (!p)
		return GK_E_NOMEM;
	for (size_t pi = 0; pi < 3; pi++) {
		gk_transform *t = gk_arena_calloc(a, 32, sizeof(*t));
		size_t n = 0;
		if (!t)
			return GK_E_NOMEM;
		size_t ne = gm->cfg.nsag_encr ? gm->cfg.nsag_encr : sizeof(encrs_all) / sizeof(encrs_all[0]);
		for (size_t i = 0; protos[pi] != GK_PROTO_AH && i < ne && n < 16; i++) {
			uint16_t id = gm->cfg.nsag_encr ? gm->cfg.sag_encr[i].id : encrs_all[i][0];
			uint16_t bits = gm->cfg.nsag_encr ? gm->cfg.sag_encr[i].key_bits : encrs_all[i][1];
			t[n] = (gk_transform){ .type = GK_TT_ENCR, .id = id };
			if (bits) {
				gk_attr *kl = gk_arena_alloc(a, sizeof(*kl));
				if (!kl)
					return GK_E_NOMEM;
				*kl = (gk_attr){ .type = GK_TATTR_KEY_LENGTH, .tv = true, .tv_value = bits };
				t[n].attrs = (gk_attr_list){ kl, 1 };
			}
			n++;
		}
		for (size_t i = 0; i < sizeof(integs) / sizeof(integs[0]); i++)
			t[n++] = (gk_transform){ .type = GK_TT_INTEG, .id = integs[i] };
		if (protos[pi] == GK_PROTO_GIKE_UPDATE) {
			for (size_t i = 0; i < gm->cfg.offer.nkwa; i++)
				t[n++] = (gk_transform){ .type = GK_TT_KWA, .id = gm->cfg.offer.kwa[i] };
			t[n++] = (gk_transform){ .type = GK_TT_GCAUTH, .id = GK_GCAUTH_DIGITAL_SIGNATURE };
			t[n++] = (gk_transform){ .type = GK_TT_GCAUTH, .id = GK_GCAUTH_IMPLICIT };
		} else {
			t[n++] = (gk_transform){ .type = GK_TT_SN, .id = GK_SN_SEQ32 };
			t[n++] = (gk_transform){ .type = GK_TT_SN, .id = GK_SN_UNSPEC32 };
		}
		p[pi] = (gk_proposal){ .num = 1, .proto = protos[pi], .transforms = { t, n } };
	}
	out->proposals.items = p;
	out->proposals.n = 3;
	return GK_OK;
}

/* IDg, [SAg], [N(GROUP_SENDER)]: the part GSA_AUTH and GSA_REGISTRATION share. */
static gk_status add_registration(gk_gm *gm, gk_arena *a, gk_out_pl *pl, size_t *n)
{
	gk_pl_id *idg = gk_arena_alloc(a, sizeof(*idg));
	gk_pl_sa *sag = gk_arena_alloc(a, sizeof(*sag));
	gk_pl_notify *snd = gk_arena_alloc(a, sizeof(*snd));
	uint8_t *cnt = gk_arena_alloc(a, 4);
	if (!idg || !sag || !snd || !cnt)
		return GK_E_NOMEM;
	const gk_ident *g = &gm->cfg.groups[gm->cur];
	*idg = (gk_pl_id){ .id_type = g->type, .data = GK_CHUNK(g->data, g->len) };
	pl[(*n)++] = (gk_out_pl){ GK_PL_IDg, false, idg };
	if (gm->cfg.send_sag) {
		gk_status st = build_sag(gm, a, sag);
		if (st)
			return st;
		pl[(*n)++] = (gk_out_pl){ GK_PL_SAg, false, sag };
	}
	if (gm->cfg.sender) {
		gk_put_u32(cnt, gm->cfg.sender_ids ? gm->cfg.sender_ids : 1);
		*snd = (gk_pl_notify){ .type = GK_N_GROUP_SENDER, .data = GK_CHUNK(cnt, 4) };
		pl[(*n)++] = (gk_out_pl){ GK_PL_NOTIFY, false, snd };
	}
	return GK_OK;
}

static gk_status our_auth(gk_gm *gm, gk_chunk id_body, gk_arena *a, gk_pl_auth *auth)
{
	gk_wbuf octets, data;
	gk_wbuf_init(&octets, GK_MAX_MESSAGE * 2);
	gk_wbuf_init(&data, 4096);
	gk_status st = gk_ike_sa_auth_octets(&gm->ike, true, id_body, &octets);
	if (!st && gm->cfg.psk) {
		uint8_t mic[64];
		size_t len = sizeof(mic);
		st = gk_auth_psk_compute(gm->ike.suite.prf, GK_CHUNK(gm->cfg.psk, gm->cfg.psk_len),
					 gk_wbuf_chunk(&octets), mic, &len);
		if (!st)
			gk_wbuf_put(&data, mic, len);
		OPENSSL_cleanse(mic, sizeof(mic));
		auth->method = GK_AUTH_SHARED_KEY_MIC;
	} else if (!st) {
		gk_sig_scheme s;
		st = gk_sig_scheme_for_key(gm->cfg.key, &s);
		if (!st)
			st = gk_auth_sig_sign(gm->cfg.key, s, gk_wbuf_chunk(&octets), &data);
		auth->method = GK_AUTH_DIGITAL_SIGNATURE;
	}
	if (!st) {
		auth->data = GK_CHUNK(gk_arena_dup(a, data.data, data.len), data.len);
		st = auth->data.ptr ? GK_OK : GK_E_NOMEM;
	}
	gk_wbuf_free(&octets);
	gk_wbuf_free(&data);
	return st;
}

/* ---- PPK (RFC 8784 3) ---- */

/* Before our AUTH: switches the SA to the PPK's keys (SK_d', SK_pi', SK_pr'), keeping the ones
 * without it until the GCKS answers; unless the PPK is required, NO_PPK_AUTH carries our AUTH
 * data under the original SK_pi (its method is the AUTH payload's). */
static gk_status ppk_begin(gk_gm *gm, gk_chunk id_body, gk_arena *a, gk_pl_notify *no_auth, gk_pl_notify *pid)
{
	gk_wbuf w;
	gk_pl_auth plain = { 0 };
	gk_status st = GK_OK;
	if (!gm->ppk_offered)
		return GK_OK;
	if (!gm->cfg.ppk_required && (st = our_auth(gm, id_body, a, &plain)) != GK_OK)
		return st;
	gk_wbuf_init(&w, 512);
	st = gk_ppk_identity_build(GK_CHUNK(gm->cfg.ppk_id, gm->cfg.ppk_id_len), &w);
	uint8_t *d = st ? NULL : gk_arena_dup(a, w.data, w.len);
	*pid = (gk_pl_notify){ .type = GK_N_PPK_IDENTITY, .data = GK_CHUNK(d, w.len) };
	gk_wbuf_free(&w);
	if (st || !d)
		return st ? st : GK_E_NOMEM;
	*no_auth = (gk_pl_notify){ .type = GK_N_NO_PPK_AUTH, .data = plain.data };
	gk_ike_sa_keys_get(&gm->ike, &gm->keys_noppk);
	if ((st = gk_ike_sa_ppk_update(&gm->ike, GK_CHUNK(gm->cfg.ppk, gm->cfg.ppk_len))) != GK_OK) {
		OPENSSL_cleanse(&gm->keys_noppk, sizeof(gm->keys_noppk));
		return st;
	}
	gm->ppk_pending = true;
	return GK_OK;
}

/* The GCKS's answer: PPK_IDENTITY confirms it used our PPK; without it the GCKS took
 * NO_PPK_AUTH and authenticated with the keys without the PPK, which we return to (or refuse,
 * when the PPK is required). false: the registration fails (done here). */
static bool ppk_settle(gk_gm *gm, const gk_msg *m)
{
	bool used = gk_msg_find_notify(m, GK_N_PPK_IDENTITY) != NULL;
	if (!gm->ppk_pending)
		return true;
	gm->ppk_pending = false;
	if (!used && !gm->cfg.ppk_required) {
		gk_warn("the GCKS does not know our PPK_ID: registering without the PPK (NO_PPK_AUTH), "
			"not protected against a quantum computer (RFC 8784 6)");
		(void)gk_ike_sa_keys_set(&gm->ike, &gm->keys_noppk); /* the same lengths: in place */
	}
	OPENSSL_cleanse(&gm->keys_noppk, sizeof(gm->keys_noppk));
	if (!used && gm->cfg.ppk_required) {
		fail(gm, GK_N_AUTHENTICATION_FAILED, "the GCKS did not use our PPK and a PPK is required");
		return false;
	}
	if (used)
		gk_info("IKE SA keyed with our PPK (RFC 8784)");
	return true;
}

static gk_status send_gsa_auth(gk_gm *gm)
{
	gk_arena a;
	gk_out_pl pl[8];
	size_t n = 0;
	gk_wbuf idbody, cert;
	gk_pl_id idi = { .id_type = gm->cfg.id.type, .data = GK_CHUNK(gm->cfg.id.data, gm->cfg.id.len) };
	gk_pl_cert cp = { 0 };
	gk_pl_auth auth = { 0 };
	gk_pl_notify no_ppk_auth = { 0 }, ppk_identity = { 0 };
	gk_arena_init(&a, 0);
	gk_wbuf_init(&idbody, 1024);
	gk_wbuf_init(&cert, 16384);
	gk_status st = gk_codec_build(gk_payload_desc(GK_PL_IDi), &idi, &idbody);
	if (!st)
		st = ppk_begin(gm, gk_wbuf_chunk(&idbody), &a, &no_ppk_auth, &ppk_identity);
	if (!st)
		st = our_auth(gm, gk_wbuf_chunk(&idbody), &a, &auth);
	if (st)
		goto out;
	pl[n++] = (gk_out_pl){ GK_PL_IDi, false, &idi };
	if (!gm->cfg.psk && gm->cfg.cert) {
		unsigned char *der = NULL;
		int len = i2d_X509(gm->cfg.cert, &der);
		if (len > 0)
			gk_wbuf_put(&cert, der, (size_t)len);
		OPENSSL_free(der);
		cp = (gk_pl_cert){ .encoding = GK_CERT_X509_SIGNATURE, .data = gk_wbuf_chunk(&cert) };
		pl[n++] = (gk_out_pl){ GK_PL_CERT, false, &cp };
	}
	pl[n++] = (gk_out_pl){ GK_PL_AUTH, false, &auth };
	gk_pl_notify ic = { .type = GK_N_INITIAL_CONTACT };
	if (gm->cfg.initial_contact)
		pl[n++] = (gk_out_pl){ GK_PL_NOTIFY, false, &ic };
	if (ppk_identity.type)
		pl[n++] = (gk_out_pl){ GK_PL_NOTIFY, false, &ppk_identity };
	if (no_ppk_auth.data.len)
		pl[n++] = (gk_out_pl){ GK_PL_NOTIFY, false, &no_ppk_auth };
	if ((st = add_registration(gm, &a, pl, &n)) != GK_OK)
		goto out;
	gm->state = GM_AUTH_SENT;
	st = send_protected(gm, GK_EXCH_GSA_AUTH, pl, n);
out:
	gk_wbuf_free(&idbody);
	gk_wbuf_free(&cert);
	gk_arena_free(&a);
	return st;
}

static void next_group(gk_gm *gm)
{
	gk_arena a;
	gk_out_pl pl[4];
	size_t n = 0;
	gm->cur++;
	if (gm->cur >= gm->cfg.ngroups) {
		gk_ike_req_stop(&gm->req);
		gm->cur = 0;
		if (gm->cfg.retry_ms && !gm->nreg) {
			/* every group refused: the attempt failed as a whole and is retried */
			fail(gm, gm->refusal, "no group registered");
			return;
		}
		gm->state = GM_ESTABLISHED;
		arm_liveness(gm);
		emit(gm, GK_GM_DONE, 0, NULL);
		return;
	}
	gk_arena_init(&a, 0);
	gm->state = GM_REG_SENT;
	if (add_registration(gm, &a, pl, &n) || send_protected(gm, GK_EXCH_GSA_REGISTRATION, pl, n))
		fail(gm, 0, "cannot build GSA_REGISTRATION");
	gk_arena_free(&a);
}

/* ---- responses to GSA_AUTH / GSA_REGISTRATION ---- */

/* A certificate from the shared CA also authenticates every member: only one whose
 * extendedKeyUsage names id-kp-serverAuth (RFC 5280 4.2.1.12) may act as the GCKS. RFC 4945
 * 5.1.3.12's id-kp-ipsecIKE names both IKE peers, so it cannot tell the server apart; members'
 * certificates carry clientAuth (or no EKU) and are refused here. anyExtendedKeyUsage is not
 * enough, nor is a certificate without the extension. */
static bool gcks_purpose(X509 *leaf)
{
	return (X509_get_extension_flags(leaf) & EXFLAG_XKUSAGE) &&
	       (X509_get_extended_key_usage(leaf) & XKU_SSL_SERVER);
}

static gk_status verify_gcks_sig(gk_gm *gm, const gk_msg *m, const gk_payload *idr, gk_chunk octets,
				 const gk_pl_auth *auth)
{
	const gk_payload *cp = gk_msg_find(m, GK_PL_CERT);
	EVP_PKEY *pub = NULL;
	gk_status st = GK_E_AUTH;
	if (cp && cp->body->cert.encoding == GK_CERT_X509_SIGNATURE && gm->cfg.ca) {
		X509 *leaf = NULL;
		st = gk_cert_from_der(cp->body->cert.data, &leaf);
		if (!st)
			st = gk_cert_verify(leaf, NULL, gm->cfg.ca, 0);
		if (!st && !gk_cert_matches_id(leaf, idr->body->id.id_type, idr->body->id.data))
			st = GK_E_AUTH;
		if (!st && !gcks_purpose(leaf)) {
			gk_warn("the GCKS certificate lacks the key server purpose (extendedKeyUsage serverAuth): "
				"a member's certificate cannot act as the GCKS");
			st = GK_E_AUTH;
		}
		if (!st && !(pub = X509_get_pubkey(leaf)))
			st = GK_E_AUTH;
		X509_free(leaf);
	} else if (gm->cfg.gcks_pubkey) {
		pub = gm->cfg.gcks_pubkey;
		EVP_PKEY_up_ref(pub);
		st = GK_OK;
	}
	if (!st)
		st = gk_auth_sig_verify(pub, GK_SIG_NONE, auth->data, octets);
	EVP_PKEY_free(pub);
	return st;
}

static gk_status verify_gcks(gk_gm *gm, const gk_msg *m)
{
	const gk_payload *idr = gk_msg_find(m, GK_PL_IDr);
	const gk_payload *ap = gk_msg_find(m, GK_PL_AUTH);
	gk_wbuf octets;
	if (!idr || !ap)
		return GK_E_AUTH;
	gk_wbuf_init(&octets, GK_MAX_MESSAGE * 2);
	gk_status st = gk_ike_sa_auth_octets(&gm->ike, false, idr->raw, &octets);
	const gk_pl_auth *auth = &ap->body->auth;
	if (!st) {
		if (gm->cfg.psk && auth->method == GK_AUTH_SHARED_KEY_MIC)
			st = gk_auth_psk_verify(gm->ike.suite.prf, GK_CHUNK(gm->cfg.psk, gm->cfg.psk_len),
						gk_wbuf_chunk(&octets), auth->data);
		else if (!gm->cfg.psk && auth->method == GK_AUTH_DIGITAL_SIGNATURE)
			st = verify_gcks_sig(gm, m, idr, gk_wbuf_chunk(&octets), auth);
		else
			st = GK_E_AUTH;
	}
	if (!st)
		gk_ident_from_payload(idr->body->id.id_type, idr->body->id.data, &gm->peer_id);
	gk_wbuf_free(&octets);
	return st;
}

/* RFC 9838 2.3.1, 2.3.3: a member that finds the policy unacceptable "SHOULD inform the GCKS
 * about this by initiating the GSA_REGISTRATION exchange with the IDg payload and the
 * NO_PROPOSAL_CHOSEN notification"; the GCKS then removes it from the group (2.3.2). */
static gk_status reject_policy(gk_gm *gm)
{
	const gk_ident *g = &gm->cfg.groups[gm->cur];
	gk_pl_id idg = { .id_type = g->type, .data = GK_CHUNK(g->data, g->len) };
	gk_pl_notify n = { .type = GK_N_NO_PROPOSAL_CHOSEN };
	gk_out_pl pl[] = { { GK_PL_IDg, false, &idg }, { GK_PL_NOTIFY, false, &n } };
	gm->state = GM_REJECT_SENT;
	return send_protected(gm, GK_EXCH_GSA_REGISTRATION, pl, 2);
}

static void on_reject_resp(gk_gm *gm, const gk_msg *m)
{
	(void)m;
	next_group(gm);
}

/* GSA + KD (or an error notify) for the current group. */
static void registration_result(gk_gm *gm, const gk_msg *m)
{
	const gk_payload *err = gk_msg_find_error(m);
	if (err) {
		gm->refusal = err->body->notify.type;
		emit(gm, GK_GM_REFUSED, err->body->notify.type, "the GCKS refused the registration");
		next_group(gm);
		return;
	}
	const gk_payload *gsa = gk_msg_find(m, GK_PL_GSA), *kd = gk_msg_find(m, GK_PL_KD);
	char why[GK_ERR_MAX] = "no GSA and KD payloads";
	gk_status st = GK_E_MALFORMED;
	gk_arena kh;
	gk_arena_init(&kh, 0);
	gk_chunk gsk_w = gk_ike_sa_gsk_w(&gm->ike);
	if (gsa && kd)
		st = gk_group_state_decode_kh(&gsa->body->gsa, &kd->body->kd, GK_GSA_REGISTRATION,
					      gm->ike.suite.kwa, gsk_w, &kh, gm->gs, why, sizeof(why));
	/* RFC 9838 3.3: the Rekey SA key through a Key Path ending at GSK_w; its keys become the
	 * group's first Working Key Path */
	if (!st)
		st = gk_key_path_open_state(gm->gs, NULL, gsk_w, gm->ike.suite.kwa, 0, true, why, sizeof(why));
	gk_arena_free(&kh);
	if (!st && gk_gm_state_check(gm->gs, GK_GSA_REGISTRATION, gm->cfg.allow, gm->cfg.nallow, why, sizeof(why))) {
		/* nothing of it is reported, so nothing is installed */
		gk_warn("registration to the group refused: %s", why);
		st = GK_E_UNSUPPORTED;
	}
	bool fatal = false;
	if (!st && gk_gm_sender_ids_check(gm->gs, gm->cfg.sender, why, sizeof(why))) {
		/* RFC 9838 2.5.2, 2.4.1.4: a fatal error of this registration, not a policy to leave over:
		 * nothing of it is reported (nothing installed) and the group is registered again
		 * (the retry that follows a refusal) */
		gk_warn("registration to the group failed: %s", why);
		st = GK_E_MALFORMED;
		fatal = true;
	}
	if (st) {
		emit(gm, GK_GM_REFUSED, 0, why);
		gk_group_state_wipe(gm->gs);
		if (gsa && kd && !fatal && reject_policy(gm) == GK_OK)
			return; /* next_group() when the GCKS has answered */
		next_group(gm);
		return;
	}
	gk_gm_event ev = { .type = GK_GM_REGISTERED, .group = gm->cur, .state = gm->gs,
			   .transport_mode = gk_msg_find_notify(m, GK_N_USE_TRANSPORT_MODE) != NULL };
	bool rekey_sa = false;
	for (size_t i = 0; i < gm->gs->nsas; i++)
		rekey_sa |= gm->gs->sas[i].proto == GK_PROTO_GIKE_UPDATE;
	gm->inband |= !rekey_sa; /* no Rekey SA: the GCKS rekeys this group on our IKE SA */
	if (!rekey_sa)
		gm->inband_groups |= 1u << gm->cur;
	else
		gm->inband_groups &= ~(1u << gm->cur);
	gm->nreg++;
	gm->fails = 0;
	gm->tried = 0;
	if (gm->env.event)
		gm->env.event(gm->env.event_ctx, &ev);
	gk_group_state_wipe(gm->gs);
	next_group(gm);
}

static void on_auth_resp(gk_gm *gm, const gk_msg *m)
{
	const gk_payload *err = gk_msg_find_error(m);
	if (!gk_msg_find(m, GK_PL_AUTH)) {
		uint16_t n = err ? err->body->notify.type : 0;
		if (n == GK_N_INVALID_GROUP_ID)
			emit(gm, GK_GM_REFUSED, n, "unknown group");
		if (n != GK_N_TEMPORARY_FAILURE || !failover(gm, "TEMPORARY_FAILURE to GSA_AUTH"))
			fail(gm, n, "the GCKS refused GSA_AUTH");
		gm->state = GM_CLOSED;
		return;
	}
	if (!ppk_settle(gm, m))
		return;
	if (verify_gcks(gm, m) != GK_OK) {
		fail(gm, GK_N_AUTHENTICATION_FAILED, "the GCKS failed to authenticate");
		return;
	}
	if (gm->cfg.gcks_id.type && !gk_ident_eq(&gm->peer_id, &gm->cfg.gcks_id)) {
		char why[2 * GK_IDENT_TEXT_MAX + 64], got[GK_IDENT_TEXT_MAX], want[GK_IDENT_TEXT_MAX];
		snprintf(why, sizeof(why), "the GCKS authenticated as %s, not as the pinned GCKS ID %s",
			 gk_ident_text(&gm->peer_id, got), gk_ident_text(&gm->cfg.gcks_id, want));
		fail(gm, GK_N_AUTHENTICATION_FAILED, why);
		return;
	}
	gm->ike.state = GK_IKE_ESTABLISHED;
	gk_ike_sa_auth_done(&gm->ike);
	plan_rekey(gm, 0);
	registration_result(gm, m);
}

static void on_reg_resp(gk_gm *gm, const gk_msg *m)
{
	registration_result(gm, m);
}

/* ---- input ---- */

/* GSA_INBAND_REKEY (RFC 9838 2.4.2.2): processed like a registration's GSA and KD, plus
 * Delete payloads. Returns the error notify for the response when the update is refused (then
 * nothing of it is applied), 0 when it was taken: GSA and KD that cannot be decoded are
 * INVALID_SYNTAX (RFC 7296 3.10.1), a policy the member does not accept is NO_PROPOSAL_CHOSEN,
 * as in GSA_REGISTRATION (RFC 9838 2.3.3). */
static uint16_t inband_rekey(gk_gm *gm, const gk_msg *m)
{
	gk_gm_delete dels[32];
	size_t ndel = 0;
	for (const gk_payload *p = NULL; (p = gk_msg_next(m, p, GK_PL_DELETE));) {
		if (p->body->del.proto == 0 && ndel < 32) /* the whole group SA (RFC 9838 4.6): no SPIs */
			dels[ndel++] = (gk_gm_delete){ .proto = 0 };
		for (size_t i = 0; p->body->del.proto && i < p->body->del.spis.n && ndel < 32; i++) {
			gk_chunk spi = p->body->del.spis.items[i];
			if (spi.len > 16)
				continue;
			dels[ndel].proto = p->body->del.proto;
			memcpy(dels[ndel].spi, spi.ptr, spi.len);
			dels[ndel++].spi_len = spi.len;
		}
	}
	const gk_payload *gsa = gk_msg_find(m, GK_PL_GSA), *kd = gk_msg_find(m, GK_PL_KD);
	char why[GK_ERR_MAX];
	memset(gm->gs, 0, sizeof(*gm->gs));
	/* RFC 9838 4.5.3.1: no WRAP_KEY for a member rekeyed inband, and 4.5.2.1: exactly one SA_KEY,
	 * under GSK_w: the decoder without an arena refuses key hierarchies */
	if (gsa && kd &&
	    gk_group_state_decode(&gsa->body->gsa, &kd->body->kd, GK_GSA_REKEY, gm->ike.suite.kwa,
				  gk_ike_sa_gsk_w(&gm->ike), gm->gs, why, sizeof(why))) {
		gk_warn("GSA_INBAND_REKEY refused: %s", why);
		gk_group_state_wipe(gm->gs);
		return GK_N_INVALID_SYNTAX;
	}
	char bad[256];
	if (gk_gm_state_check(gm->gs, GK_GSA_REKEY, gm->cfg.allow, gm->cfg.nallow, bad, sizeof(bad))) {
		gk_warn("GSA_INBAND_REKEY refused: %s", bad);
		gk_group_state_wipe(gm->gs);
		return GK_N_NO_PROPOSAL_CHOSEN;
	}
	gk_gm_event ev = { .type = GK_GM_REKEYED, .group = SIZE_MAX, .state = gm->gs, .dels = dels,
			   .ndel = ndel, .msg_id = m->hdr.msg_id };
	if (gm->env.event)
		gm->env.event(gm->env.event_ctx, &ev);
	gk_group_state_wipe(gm->gs);
	return 0;
}

/* RFC 9838 2.3.3: "If for some reason the IKE SA is closed and no GIKE_UPDATE policy is
 * received during the registration process, the GM MUST consider itself excluded from the
 * group." Groups with a Rekey SA go on without this SA. */
static void closed_by_gcks(gk_gm *gm)
{
	for (size_t i = 0; i < gm->cfg.ngroups; i++)
		if (gm->inband_groups & (1u << i)) {
			gm->cur = i;
			emit(gm, GK_GM_EXCLUDED, 0, "the GCKS closed the IKE SA that carried its rekeys");
		}
	gm->inband_groups = 0;
	emit(gm, GK_GM_CLOSED, 0, "the GCKS closed the IKE SA");
}

static void on_request(gk_gm *gm, const gk_msg *m)
{
	gk_ike_in in = gk_ike_req_window(&gm->ike, m->hdr.msg_id);
	if (in == GK_IN_RETRANSMIT) {
		send_cached(gm, gm->ike.last_resp);
		return;
	}
	if (in == GK_IN_DROP ||
	    (m->hdr.exchange != GK_EXCH_INFORMATIONAL && m->hdr.exchange != GK_EXCH_GSA_INBAND_REKEY &&
	     m->hdr.exchange != GK_EXCH_CREATE_CHILD_SA))
		return;
	bool closed = false;
	for (const gk_payload *p = NULL; (p = gk_msg_next(m, p, GK_PL_DELETE));)
		closed |= p->body->del.proto == GK_PROTO_IKE;
	gk_arena a;
	gk_out_pl rpl[3];
	size_t nrpl = 0;
	gk_ike_sa made;
	memset(&made, 0, sizeof(made));
	gk_arena_init(&a, 0);
	uint16_t refused = 0;
	if (m->hdr.exchange == GK_EXCH_GSA_INBAND_REKEY)
		refused = inband_rekey(gm, m);
	else if (m->hdr.exchange == GK_EXCH_CREATE_CHILD_SA)
		refused = rekey_request(gm, m, &a, rpl, &nrpl, &made);
	/* a refused update is answered with its error, not an empty success: the GCKS must learn
	 * that the member does not hold the new keys */
	uint8_t grp[2];
	gk_put_u16(grp, gm->ike.suite.ke);
	gk_pl_notify err = { .type = refused,
			     .data = refused == GK_N_INVALID_KE_PAYLOAD ? GK_CHUNK(grp, 2) : GK_CHUNK_EMPTY };
	gk_out_pl pl[1] = { { GK_PL_NOTIFY, false, &err } };
	gk_dgrams d;
	if (gk_ike_req_build(&gm->ike, m->hdr.exchange, true, m->hdr.msg_id, refused ? pl : nrpl ? rpl : NULL,
			     refused ? 1 : nrpl, gm->env.rnd, &d) == GK_OK) {
		send_dgrams(gm, &d);
		gk_ike_req_answered(&gm->ike, m->hdr.msg_id, &d);
	} else if (made.spi_i) {
		gk_ike_sa_free(&made); /* the GCKS gets no answer and keeps the old SA */
	}
	gk_arena_free(&a);
	if (made.spi_i && gm->state == GM_REKEY_SENT) {
		gk_ike_sa_free(&gm->crossed);
		gm->crossed = made; /* RFC 7296 2.8.2: decided when our rekey is answered */
	} else if (made.spi_i) {
		switch_sa(gm, &made, false); /* the GCKS, the rekey's initiator, deletes the old SA */
	}
	if (closed) {
		gm->state = GM_CLOSED;
		gk_ike_req_stop(&gm->req); /* a liveness check in flight has its answer */
		gm->live_wait = 0;
		if (!gm->retry_at) /* with an attempt planned, this SA was given up already */
			closed_by_gcks(gm);
	}
}

bool gk_gm_owns(const gk_gm *gm, const uint8_t *data, size_t len)
{
	if (len < GK_HDR_LEN)
		return false;
	uint64_t spi = gk_get_u64(data);
	if (!spi)
		return false;
	return spi == gm->ike.spi_i || spi == gm->gone[0].sa.spi_i || spi == gm->gone[1].sa.spi_i;
}

gk_status gk_gm_leave(gk_gm *gm, size_t group)
{
	gk_arena a;
	gk_out_pl pl[2];
	if (gm->state != GM_ESTABLISHED || group >= gm->cfg.ngroups)
		return GK_E_STATE;
	gk_arena_init(&a, 0);
	gk_pl_id idg = { .id_type = gm->cfg.groups[group].type,
			 .data = GK_CHUNK(gm->cfg.groups[group].data, gm->cfg.groups[group].len) };
	gk_pl_notify n = { .type = GK_N_NO_PROPOSAL_CHOSEN };
	pl[0] = (gk_out_pl){ GK_PL_IDg, false, &idg };
	pl[1] = (gk_out_pl){ GK_PL_NOTIFY, false, &n };
	gm->cur = group;
	gm->state = GM_LEAVE_SENT;
	gk_status st = send_protected(gm, GK_EXCH_GSA_REGISTRATION, pl, 2);
	gk_arena_free(&a);
	return st;
}

static void on_leave_resp(gk_gm *gm, const gk_msg *m)
{
	(void)m;
	gm->inband_groups &= ~(1u << gm->cur); /* left: nothing to be excluded from */
	gm->state = GM_ESTABLISHED;
	arm_liveness(gm);
	emit(gm, GK_GM_DONE, 0, "left");
}

/* ---- IKE SA rekeying (RFC 7296 1.3.2, 2.18) ---- */

/* The kept SA is rekeyed before its lifetime ends: at lifetime minus a margin of 10 % and up
 * to 10 % more at random, so that members registered together do not rekey together. after_ms
 * > 0 plans a retry instead. Only SAs that carry inband rekeys are kept, so only they are
 * rekeyed (the check is made when the time comes). */
static void plan_rekey(gk_gm *gm, int64_t after_ms)
{
	uint32_t r = 0;
	int64_t life = (int64_t)gm->cfg.ike_lifetime_s * 1000;
	gm->rekey_at = 0;
	if (!life)
		return;
	if (gk_rand_bytes(gm->env.rnd, (uint8_t *)&r, sizeof(r)) != GK_OK)
		r = 0;
	if (after_ms)
		gm->rekey_at = now(gm) + after_ms + (int64_t)(r % (uint64_t)(after_ms / 4 + 1));
	else
		gm->rekey_at = now(gm) + life - life / 10 - (int64_t)(r % (uint64_t)(life / 10 + 1));
}

/* CREATE_CHILD_SA: SA (IKE proposals with our new SPI), Ni, KE (RFC 7296 1.3.2). */
static gk_status send_rekey(gk_gm *gm)
{
	uint8_t ni[NONCE_LEN];
	gk_arena a;
	gk_pl_sa sa;
	gk_wbuf pub;
	gk_status st;
	gk_arena_init(&a, 0);
	gk_wbuf_init(&pub, 1024);
	gk_ike_sa_free(&gm->next);
	gm->next.initiator = true;
	if (!gm->rekey_ke)
		gm->rekey_ke = gm->ike.suite.ke;
	do {
		if ((st = gk_rand_bytes(gm->env.rnd, (uint8_t *)&gm->next.spi_i, 8)) != GK_OK)
			goto out;
	} while (gm->next.spi_i == 0 || gm->next.spi_i == gm->ike.spi_i);
	if ((st = gk_rand_bytes(gm->env.rnd, ni, sizeof(ni))) ||
	    (st = gk_ike_sa_set_nonces(&gm->next, GK_CHUNK(ni, sizeof(ni)), GK_CHUNK_EMPTY)) ||
	    (st = gk_dh_new(gm->rekey_ke, &gm->next.dh)) || (st = gk_dh_public(gm->next.dh, &pub)) ||
	    (st = gk_ike_offer_to_sa(&gm->cfg.offer, &a, &sa)) ||
	    (st = gk_sa_set_ike_spi(&sa, &a, gm->next.spi_i)))
		goto out;
	gk_pl_bytes nonce = { gk_ike_sa_ni(&gm->next) };
	gk_pl_ke ke = { .group = gm->rekey_ke, .data = gk_wbuf_chunk(&pub) };
	gk_out_pl pl[] = { { GK_PL_SA, false, &sa }, { GK_PL_NONCE, false, &nonce }, { GK_PL_KE, false, &ke } };
	gm->state = GM_REKEY_SENT;
	st = send_protected(gm, GK_EXCH_CREATE_CHILD_SA, pl, 3);
	if (st)
		gm->state = GM_ESTABLISHED;
out:
	OPENSSL_cleanse(ni, sizeof(ni));
	gk_wbuf_free(&pub);
	gk_arena_free(&a);
	return st;
}

static void gone_free(gm_gone *x)
{
	gk_ike_sa_free(&x->sa);
	gk_ike_req_clear(&x->req);
	memset(x, 0, sizeof(*x));
}

/* Keeps a replaced SA (taken over from *sa, which is emptied) until its Delete. RFC 7296 2.18:
 * the rekey's initiator deletes the old SA; we_delete sends our Delete now. */
static void gone_add(gk_gm *gm, gk_ike_sa *sa, bool we_delete)
{
	gm_gone *x = gm->gone[0].sa.spi_i ? &gm->gone[1] : &gm->gone[0];
	gone_free(x);
	x->sa = *sa;
	memset(sa, 0, sizeof(*sa));
	x->at = now(gm) + GONE_WAIT_MS;
	if (!we_delete)
		return;
	gk_pl_delete d = { .proto = GK_PROTO_IKE };
	gk_out_pl pl = { GK_PL_DELETE, false, &d };
	if (gk_ike_req_build(&x->sa, GK_EXCH_INFORMATIONAL, false, x->sa.msgid_out, &pl, 1, gm->env.rnd, &x->req.d)) {
		gone_free(x);
		return;
	}
	send_dgrams(gm, &x->req.d);
	gk_ike_req_start(&x->req, &x->req.d, GK_EXCH_INFORMATIONAL, x->sa.msgid_out, rtx_sched(gm), now(gm));
}

/* A datagram on a replaced SA: the answer to our Delete, or the GCKS's request on it (its
 * Delete is answered and ends it; anything else gets TEMPORARY_FAILURE, RFC 7296 2.25). */
static void gone_input(gk_gm *gm, gm_gone *x, gk_msg *m)
{
	bool complete, response = m->hdr.flags & GK_FLAG_R;
	gk_ike_in in = response ? GK_IN_DROP : gk_ike_req_window(&x->sa, m->hdr.msg_id);
	if (in == GK_IN_RETRANSMIT) {
		/* our answer to the rekey that replaced it was lost: the same answer again (2.1) */
		if (gk_ike_sa_open(&x->sa, m, &complete) || !complete)
			return;
		send_cached(gm, x->sa.last_resp);
		return;
	}
	/* any exchange answers our Delete, the only request made on a replaced SA */
	if (response ? (!x->req.d.n || m->hdr.msg_id != x->req.msg_id) : in != GK_IN_NEW)
		return;
	if (gk_ike_sa_open(&x->sa, m, &complete) || !complete)
		return;
	if (response) {
		gone_free(x);
		return;
	}
	bool deleted = false;
	for (const gk_payload *p = NULL; (p = gk_msg_next(m, p, GK_PL_DELETE));)
		deleted |= p->body->del.proto == GK_PROTO_IKE;
	gk_pl_notify busy = { .type = GK_N_TEMPORARY_FAILURE };
	gk_out_pl pl = { GK_PL_NOTIFY, false, &busy };
	bool info = m->hdr.exchange == GK_EXCH_INFORMATIONAL;
	gk_dgrams d;
	if (gk_ike_req_build(&x->sa, m->hdr.exchange, true, m->hdr.msg_id, info ? NULL : &pl, info ? 0 : 1,
			     gm->env.rnd, &d) == GK_OK) {
		send_dgrams(gm, &d);
		gk_dgrams_free(&d);
	}
	x->sa.msgid_in = m->hdr.msg_id + 1;
	if (deleted && !x->req.d.n)
		gone_free(x);
}

static void gone_tick(gk_gm *gm, int64_t t)
{
	for (size_t i = 0; i < 2; i++) {
		gm_gone *x = &gm->gone[i];
		if (!x->sa.spi_i)
			continue;
		if (!x->req.d.n) {
			if (t >= x->at)
				gone_free(x); /* the GCKS did not delete it: it dropped it by itself */
			continue;
		}
		gk_ike_req_due due = gk_ike_req_tick(&x->req, t);
		if (due == GK_REQ_GIVE_UP)
			gone_free(x); /* the GCKS drops an undeleted replaced SA by itself */
		else if (due == GK_REQ_RESEND)
			send_dgrams(gm, &x->req.d);
	}
}

/* The new SA n (taken over, emptied) replaces the current one, which is kept until its Delete
 * (ours when we_delete). Message IDs start at 0 (RFC 7296 2.18). */
static void switch_sa(gk_gm *gm, gk_ike_sa *n, bool we_delete)
{
	gk_ike_sa old = gm->ike;
	gm->ike = *n;
	memset(n, 0, sizeof(*n));
	gm->ike.state = GK_IKE_ESTABLISHED;
	gm->ike.msgid_in = gm->ike.msgid_out = 0;
	gm->ike.frag_ok = old.frag_ok;
	gk_ike_sa_auth_done(&gm->ike);
	gm->state = GM_ESTABLISHED;
	gm->last_rx = now(gm);
	arm_liveness(gm);
	plan_rekey(gm, 0);
	gk_info("IKE SA rekeyed by %s: %016llx_%016llx replaces %016llx_%016llx",
		gm->ike.initiator ? "us" : "the GCKS", (unsigned long long)gm->ike.spi_i,
		(unsigned long long)gm->ike.spi_r, (unsigned long long)old.spi_i, (unsigned long long)old.spi_r);
	gone_add(gm, &old, we_delete);
}

/* A refused rekey leaves the current SA as it is; the rekey is tried again later
 * (TEMPORARY_FAILURE: RFC 7296 2.25 says not at once), at once with the group the GCKS asked
 * for after INVALID_KE_PAYLOAD (RFC 7296 1.3). */
static void rekey_refused(gk_gm *gm, uint16_t notify, const char *why)
{
	gk_ike_sa_free(&gm->next);
	gm->state = GM_ESTABLISHED;
	arm_liveness(gm);
	if (gm->crossed.spi_i) {
		switch_sa(gm, &gm->crossed, false); /* the GCKS's crossing rekey stands */
		return;
	}
	if (notify == GK_N_INVALID_KE_PAYLOAD) {
		gm->rekey_at = now(gm);
		return;
	}
	gk_warn("IKE SA rekey not done: %s%s%s", why, notify ? ": " : "",
		notify ? gk_iana_str(GK_REG_NOTIFY, notify) : "");
	plan_rekey(gm, REKEY_RETRY_MS);
}

/* Lexicographic order of two nonces, a shorter one first when it is a prefix of the other. */
static int nonce_cmp(gk_chunk a, gk_chunk b)
{
	int c = memcmp(a.ptr, b.ptr, a.len < b.len ? a.len : b.len);
	return c ? c : (a.len > b.len) - (a.len < b.len);
}

static gk_chunk nonce_min(gk_chunk a, gk_chunk b)
{
	return nonce_cmp(a, b) <= 0 ? a : b;
}

/* Our rekey is done (gm->next holds the new SA). RFC 7296 2.8.2: if the GCKS's crossed it, the
 * new SA created with the lowest of the four nonces is deleted by its initiator, and the old
 * one by the initiator of the survivor. */
static void rekey_done(gk_gm *gm, gk_chunk nr)
{
	if (!gm->crossed.spi_i) {
		switch_sa(gm, &gm->next, true);
		return;
	}
	gk_chunk mine = nonce_min(gk_ike_sa_ni(&gm->next), nr);
	gk_chunk other = nonce_min(GK_CHUNK(gm->crossed_ni, gm->crossed_ni_len), GK_CHUNK(gm->crossed_nr, NONCE_LEN));
	bool we_lose = nonce_cmp(mine, other) < 0;
	gk_info("simultaneous rekeys of the IKE SA: the %s one stays", we_lose ? "GCKS's" : "member's");
	if (we_lose) {
		switch_sa(gm, &gm->crossed, false);
		gk_ike_sa_auth_done(&gm->next);
		gone_add(gm, &gm->next, true);
	} else {
		switch_sa(gm, &gm->next, true);
		gk_ike_sa_auth_done(&gm->crossed);
		gone_add(gm, &gm->crossed, false);
	}
}

static void on_rekey_resp(gk_gm *gm, const gk_msg *m)
{
	const gk_payload *err = gk_msg_find_error(m);
	if (err) {
		uint16_t n = err->body->notify.type;
		const gk_payload *k = gk_msg_find_notify(m, GK_N_INVALID_KE_PAYLOAD);
		if (k) {
			uint16_t grp = k->body->notify.data.len == 2 ? gk_get_u16(k->body->notify.data.ptr) : 0;
			if (grp == gm->rekey_ke || !gk_ike_offer_has_ke(&gm->cfg.offer, grp)) {
				rekey_refused(gm, 0, "the GCKS asks for a KE group we do not offer");
				return;
			}
			gm->rekey_ke = grp;
		}
		rekey_refused(gm, n, "the GCKS refused it");
		return;
	}
	gk_ike_suite suite;
	uint64_t spi_r;
	const gk_payload *kep = gk_msg_find(m, GK_PL_KE);
	gk_chunk nr = gk_msg_find(m, GK_PL_NONCE)->body->bytes.data;
	if (gk_ike_suite_from_rekey_sa(&gk_msg_find(m, GK_PL_SA)->body->sa, &gm->cfg.offer, &suite, &spi_r) ||
	    !suite.kwa || suite.ke != gm->rekey_ke || !kep || kep->body->ke.group != gm->rekey_ke ||
	    nr.len < 16 || nr.len > 256) {
		rekey_refused(gm, 0, "the GCKS answered with what we did not offer");
		return;
	}
	gk_wbuf shared;
	gk_wbuf_init(&shared, 1024);
	gk_chunk ni = gk_ike_sa_ni(&gm->next);
	gk_status st = gk_dh_derive(gm->next.dh, kep->body->ke.data, &shared);
	if (!st)
		st = gk_ike_sa_rekey_keys(&gm->next, &suite, &gm->ike, ni, nr, gk_wbuf_chunk(&shared),
					  gm->next.spi_i, spi_r);
	gk_wbuf_free(&shared);
	gk_dh_free(gm->next.dh);
	gm->next.dh = NULL;
	if (st) {
		rekey_refused(gm, 0, "the new keys cannot be derived");
		return;
	}
	gm->next.spi_r = spi_r;
	gm->next.suite = suite;
	gk_ike_sa_keylog(gm->env.keylog, &gm->next); /* a debugging aid, off unless --ike-keylog */
	rekey_done(gm, nr);
}

/* Does proposal prop_num of the SA payload list this KE group? */
static bool proposal_offers_ke(const gk_pl_sa *sap, uint8_t prop_num, uint16_t group)
{
	for (size_t i = 0; i < sap->proposals.n; i++) {
		const gk_proposal *p = &sap->proposals.items[i];
		for (size_t j = 0; p->num == prop_num && j < p->transforms.n; j++)
			if (p->transforms.items[j].type == GK_TT_KE && p->transforms.items[j].id == group)
				return true;
	}
	return false;
}

/* The GCKS rekeys our IKE SA (CREATE_CHILD_SA request; it becomes the new SA's initiator).
 * Returns the error notify for the answer, or 0 with the answer's payloads in pl (from the
 * arena) and the new SA in *made. A Child SA is refused (RFC 9838 2.3: none between a member
 * and the GCKS); while our own request other than a rekey is out, TEMPORARY_FAILURE (RFC 7296
 * 2.25), as the SA cannot change under it. */
static uint16_t rekey_request(gk_gm *gm, const gk_msg *m, gk_arena *a, gk_out_pl *pl, size_t *npl,
			      gk_ike_sa *made)
{
	const gk_pl_sa *sap = &gk_msg_find(m, GK_PL_SA)->body->sa;
	const gk_payload *kep = gk_msg_find(m, GK_PL_KE);
	gk_chunk ni = gk_msg_find(m, GK_PL_NONCE)->body->bytes.data;
	gk_ike_suite suite;
	uint8_t prop;
	uint64_t spi_i;
	bool child = gk_msg_find(m, GK_PL_TSi) || gk_msg_find(m, GK_PL_TSr);
	for (size_t i = 0; i < sap->proposals.n; i++)
		child |= sap->proposals.items[i].proto != GK_PROTO_IKE;
	if (child)
		return GK_N_NO_ADDITIONAL_SAS;
	if ((gm->state != GM_ESTABLISHED && gm->state != GM_REKEY_SENT) || gm->crossed.spi_i)
		return GK_N_TEMPORARY_FAILURE;
	if (!kep || ni.len < 16 || ni.len > 256)
		return GK_N_INVALID_SYNTAX;
	gk_status st = gk_ike_select_rekey(sap, &gm->cfg.offer, true, &suite, &prop, &spi_i);
	if (st)
		return st == GK_E_MALFORMED ? GK_N_INVALID_SYNTAX : GK_N_NO_PROPOSAL_CHOSEN;
	const gk_pl_ke *ke = &kep->body->ke;
	if (ke->group != suite.ke && proposal_offers_ke(sap, prop, ke->group) && gk_ike_offer_has_ke(&gm->cfg.offer, ke->group))
		suite.ke = ke->group;
	if (ke->group != suite.ke)
		return GK_N_INVALID_KE_PAYLOAD;
	uint8_t *nr = gk_arena_alloc(a, NONCE_LEN);
	gk_pl_sa *rsa = gk_arena_alloc(a, sizeof(*rsa));
	gk_pl_ke *rke = gk_arena_alloc(a, sizeof(*rke));
	gk_pl_bytes *rn = gk_arena_alloc(a, sizeof(*rn));
	gk_wbuf pub, shared;
	if (!nr || !rsa || !rke || !rn)
		return GK_N_TEMPORARY_FAILURE;
	memset(made, 0, sizeof(*made));
	made->initiator = false;
	made->spi_i = spi_i;
	made->suite = suite;
	do {
		if (gk_rand_bytes(gm->env.rnd, (uint8_t *)&made->spi_r, 8))
			return GK_N_TEMPORARY_FAILURE;
	} while (!made->spi_r);
	gk_wbuf_init(&pub, 1024);
	gk_wbuf_init(&shared, 1024);
	st = gk_rand_bytes(gm->env.rnd, nr, NONCE_LEN);
	if (!st)
		st = gk_dh_new(suite.ke, &made->dh);
	if (!st)
		st = gk_dh_derive(made->dh, ke->data, &shared);
	if (!st)
		st = gk_dh_public(made->dh, &pub);
	if (!st)
		st = gk_ike_sa_rekey_keys(made, &suite, &gm->ike, ni, GK_CHUNK(nr, NONCE_LEN),
					  gk_wbuf_chunk(&shared), spi_i, made->spi_r);
	if (!st) /* a debugging aid, off unless --ike-keylog */
		gk_ike_sa_keylog(gm->env.keylog, made);
	uint8_t *pubc = st ? NULL : gk_arena_dup(a, pub.data, pub.len);
	if (!st && !pubc)
		st = GK_E_NOMEM;
	if (!st)
		st = gk_ike_suite_to_sa(&suite, prop, a, rsa);
	if (!st)
		st = gk_sa_set_ike_spi(rsa, a, made->spi_r);
	if (!st && gm->state == GM_REKEY_SENT) {
		/* crossing our own rekey: kept aside with its nonces until ours is answered */
		memcpy(gm->crossed_ni, ni.ptr, ni.len);
		gm->crossed_ni_len = ni.len;
		memcpy(gm->crossed_nr, nr, NONCE_LEN);
	}
	*rke = (gk_pl_ke){ .group = suite.ke, .data = GK_CHUNK(pubc, pub.len) };
	*rn = (gk_pl_bytes){ GK_CHUNK(nr, NONCE_LEN) };
	gk_wbuf_free(&pub);
	gk_wbuf_free(&shared);
	gk_dh_free(made->dh);
	made->dh = NULL;
	if (st) {
		gk_ike_sa_free(made);
		return st == GK_E_BAD_KE ? GK_N_INVALID_SYNTAX : GK_N_TEMPORARY_FAILURE;
	}
	pl[0] = (gk_out_pl){ GK_PL_SA, false, rsa };
	pl[1] = (gk_out_pl){ GK_PL_NONCE, false, rn };
	pl[2] = (gk_out_pl){ GK_PL_KE, false, rke };
	*npl = 3;
	return 0;
}

/* ---- liveness (RFC 7296 2.4) ---- */

static void send_probe(gk_gm *gm)
{
	gk_dbg("no message from the GCKS for %lld ms: liveness check", (long long)(now(gm) - gm->last_rx));
	gm->state = GM_PROBE_SENT;
	if (send_protected(gm, GK_EXCH_INFORMATIONAL, NULL, 0) != GK_OK) {
		gm->state = GM_ESTABLISHED; /* out of memory: try again after another interval */
		gm->last_rx = now(gm);
	}
}

static void on_probe_resp(gk_gm *gm, const gk_msg *m)
{
	(void)m;
	gm->state = GM_ESTABLISHED;
	arm_liveness(gm);
}

/* The check went unanswered through every retransmission: the GCKS lost the IKE SA (a
 * restart) or is gone. Register again after a randomized delay (RFC 9838 2.4.3 advises
 * against everyone at once); the caller keeps what it installed until then. */
static void dead(gk_gm *gm)
{
	gm->state = GM_CLOSED;
	gk_ike_req_stop(&gm->req);
	gm->live_wait = 0;
	gk_gm_event ev = { .type = GK_GM_DEAD, .why = "no answer to a liveness check" };
	gm->tried = 0;
	to_server(gm, 0, ev.why);
	if (gm->cfg.retry_ms) {
		gm->fails = 0;
		ev.retry_ms = gk_gm_retry_delay(&gm->cfg, gm->env.rnd, 0, 0);
		gm->retry_at = now(gm) + ev.retry_ms;
	}
	if (gm->env.event)
		gm->env.event(gm->env.event_ctx, &ev);
}

void gk_gm_input(gk_gm *gm, const uint8_t *data, size_t len)
{
	gk_msg m;
	gk_status st = gk_msg_parse(&m, GK_CHUNK(data, len));
	for (size_t i = 0; !st && i < 2; i++)
		if (gm->gone[i].sa.spi_i && m.hdr.spi_i == gm->gone[i].sa.spi_i && m.hdr.spi_r == gm->gone[i].sa.spi_r) {
			gone_input(gm, &gm->gone[i], &m);
			goto out;
		}
	if (st || m.hdr.spi_i != gm->ike.spi_i)
		goto out;
	bool response = m.hdr.flags & GK_FLAG_R;
	if (m.hdr.exchange != GK_EXCH_IKE_SA_INIT) {
		if (m.hdr.spi_r != gm->ike.spi_r || gm->ike.state < GK_IKE_INIT_DONE)
			goto out;
		uint8_t bad;
		bool complete;
		if (gk_ike_sa_open(&gm->ike, &m, &complete) || !complete)
			goto out; /* unauthenticated, or a fragment kept for later */
		if (gk_exchange_rules_check(&m, &bad))
			goto out; /* malformed: drop (RFC 7296 2.21) */
		gm->last_rx = now(gm); /* authenticated: the GCKS holds the SA */
	}
	if (gk_log_enabled(GK_LOG_SUBSYS, GK_LOG_DEBUG)) {
		char s[512];
		gk_dbg("received %s", gk_msg_summary(&m, s, sizeof(s)));
	}
	if (!response) {
		if (gm->ike.state == GK_IKE_ESTABLISHED && gm->state != GM_CLOSED)
			on_request(gm, &m);
		goto out;
	}
	if (!gk_ike_req_answers(&gm->req, m.hdr.exchange, m.hdr.msg_id))
		goto out;
	for (size_t i = 0; i < sizeof(responses) / sizeof(responses[0]); i++) {
		if (responses[i].state != gm->state || responses[i].exchange != m.hdr.exchange)
			continue;
		gk_ike_req_stop(&gm->req);
		if (m.hdr.exchange != GK_EXCH_IKE_SA_INIT)
			gm->ike.msgid_out++;
		responses[i].fn(gm, &m);
		break;
	}
out:
	gk_msg_free(&m);
}

void gk_gm_tick(gk_gm *gm)
{
	int64_t t = now(gm);
	gone_tick(gm, t);
	if (gm->retry_at && t >= gm->retry_at) {
		gm->retry_at = 0;
		if (gk_gm_start(gm) != GK_OK)
			fail(gm, 0, "cannot start a registration");
		return;
	}
	if (gm->state == GM_ESTABLISHED && gm->inband && gm->rekey_at && t >= gm->rekey_at) {
		if (send_rekey(gm) != GK_OK)
			plan_rekey(gm, REKEY_RETRY_MS);
		return;
	}
	if (keepalive_due(gm) && t - gm->last_tx >= gm->ka_wait) {
		gm->env.keepalive(gm->env.send_ctx);
		gm->last_tx = t;
		arm_keepalive(gm);
	}
	if (gm->state == GM_ESTABLISHED && gm->live_wait && t - gm->last_rx >= gm->live_wait) {
		send_probe(gm);
		return;
	}
	gk_ike_req_due due = gk_ike_req_tick(&gm->req, t);
	if (due == GK_REQ_RESEND) {
		send_dgrams(gm, &gm->req.d);
	} else if (due == GK_REQ_GIVE_UP) {
		if (gm->state == GM_PROBE_SENT || gm->state == GM_REKEY_SENT)
			dead(gm);
		else if ((gm->state != GM_INIT_SENT && gm->state != GM_AUTH_SENT && gm->state != GM_REG_SENT) ||
			 !failover(gm, "no answer"))
			fail(gm, 0, "no answer from the GCKS");
	}
}

gk_status gk_gm_rekey_ike(gk_gm *gm)
{
	if (gm->state != GM_ESTABLISHED || !gm->inband)
		return GK_E_STATE;
	return send_rekey(gm);
}

size_t gk_gm_server(const gk_gm *gm)
{
	return gm->server;
}

const gk_ike_sa *gk_gm_ike_sa(const gk_gm *gm)
{
	return &gm->ike;
}

int64_t gk_gm_next_timeout(const gk_gm *gm)
{
	int64_t at = gk_ike_req_next(&gm->req);
	if (gm->retry_at && (!at || gm->retry_at < at))
		at = gm->retry_at;
	if (gm->state == GM_ESTABLISHED && gm->live_wait && (!at || gm->last_rx + gm->live_wait < at))
		at = gm->last_rx + gm->live_wait;
	if (gm->state == GM_ESTABLISHED && gm->inband && gm->rekey_at && (!at || gm->rekey_at < at))
		at = gm->rekey_at;
	for (size_t i = 0; i < 2; i++)
		if (gm->gone[i].sa.spi_i) {
			int64_t g = gm->gone[i].req.d.n ? gk_ike_req_next(&gm->gone[i].req) : gm->gone[i].at;
			if (!at || g < at)
				at = g;
		}
	if (keepalive_due(gm) && (!at || gm->last_tx + gm->ka_wait < at))
		at = gm->last_tx + gm->ka_wait;
	if (!at)
		return -1;
	int64_t d = at - now(gm);
	return d < 0 ? 0 : d;
}

gk_status gk_gm_new(const gk_gm_config *cfg, const gk_gm_env *env, gk_gm **out)
{
	if (!cfg->ngroups || cfg->ngroups > GK_GM_MAX_GROUPS || (!cfg->psk && !cfg->key))
		return GK_E_INVAL;
	gk_gm *gm = calloc(1, sizeof(*gm));
	if (!gm)
		return GK_E_NOMEM;
	gm->gs = OPENSSL_zalloc(sizeof(*gm->gs));
	if (!gm->gs) {
		free(gm);
		return GK_E_NOMEM;
	}
	gm->cfg = *cfg;
	gm->env = *env;
	*out = gm;
	return GK_OK;
}

void gk_gm_free(gk_gm *gm)
{
	if (!gm)
		return;
	gk_ike_sa_free(&gm->ike);
	gk_ike_sa_free(&gm->next);
	gk_ike_sa_free(&gm->crossed);
	gone_free(&gm->gone[0]);
	gone_free(&gm->gone[1]);
	OPENSSL_cleanse(&gm->keys_noppk, sizeof(gm->keys_noppk));
	gk_ike_req_clear(&gm->req);
	OPENSSL_clear_free(gm->gs, sizeof(*gm->gs));
	free(gm);
}
