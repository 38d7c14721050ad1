/* CREATE_CHILD_SA: IKE SA rekeying (RFC 7296 1.3.2, 2.18) of the kept IKE SAs of inband groups
 * (RFC 9838 2.3.3), as responder (the member rekeys) and as initiator (the member did not by
 * the end of cfg.ike_lifetime_s), with simultaneous rekeys resolved as RFC 7296 2.8.2 says;
 * and the refusal of Child SAs, which G-IKEv2 members do not make with the GCKS. The new SA
 * takes over everything bound to the old one; the rekey's initiator deletes the old one
 * (RFC 7296 2.18), or the GCKS drops it GCKS_REKEY_DELETE_WAIT_MS after the rekey. */
#define GK_LOG_SUBSYS GK_SUB_IKE /* log.h */
#include <string.h>
#include <openssl/crypto.h>
#include "gcks_ikerekey.h"
#include "gcks_init.h"
#include "gcks_peers.h"
#include "gcks_refusal.h"
#include "gcks_rekey.h"
#include "gcks_resp.h"
#include "gcks_sa_table.h"
#include "gcks_timers.h"
#include "addr.h"
#include "exchange_rules.h"
#include "log.h"

#define NONCE_LEN 32
/* An old SA whose initiator never sends the Delete goes this long after the rekey, so that a
 * member cannot keep old SAs (outside its per-identity count) by rekeying without deleting. */
#define GCKS_REKEY_DELETE_WAIT_MS 30000
/* Our refused rekey is tried again after this (RFC 7296 2.25: not at once). */
#define GCKS_REKEY_RETRY_MS 60000

/* Our rekey in flight: the SA it makes (not in the table until the answer), our nonce and key
 * pair, and the nonces of the member's rekey if one crossed ours (RFC 7296 2.8.2). Owned by
 * the old SA (rk). */
typedef struct gcks_ike_rekey {
	gcks_sa *n;
	uint8_t ni[NONCE_LEN];
	gk_dh *dh;
	uint8_t peer_ni[256], our_nr[NONCE_LEN]; /* the crossing rekey's nonces */
	size_t peer_ni_len;
} gcks_ike_rekey;

static void refuse(gk_gcks *g, gcks_sa *sa, gcks_resp *r, uint16_t type, gk_chunk data, const char *why)
{
	gcks_refusal(g, (const struct sockaddr *)&sa->ike.peer, "CREATE_CHILD_SA: %s (%s)", why,
		     gk_iana_str(GK_REG_NOTIFY, type));
	gcks_resp_notify(r, type, data);
}

/* A Child SA request (RFC 7296 1.3.1): an ESP/AH proposal or traffic selectors. */
static bool child_sa_request(const gk_msg *m, const gk_pl_sa *sap)
{
	if (gk_msg_find(m, GK_PL_TSi) || gk_msg_find(m, GK_PL_TSr))
		return true;
	for (size_t i = 0; i < sap->proposals.n; i++)
		if (sap->proposals.items[i].proto != GK_PROTO_IKE)
			return true;
	return false;
}

/* Does proposal prop_num of the peer's SA payload list this KE group? */
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

/* RFC 7296 2.25: TEMPORARY_FAILURE while our own request is out (a GSA_INBAND_REKEY or a
 * Delete) or the SA is already replaced; the member tries again later, on the new SA. An SA
 * rekeyed less than ike_rekey_min_interval_s ago is refused the same way: a key exchange per
 * request is the cost an authenticated member could make us pay in a loop. */
static const char *busy(gk_gcks *g, const gcks_sa *sa)
{
	if (sa->superseded || sa->closing)
		return "the IKE SA is being replaced or closed";
	if (sa->out_req && !sa->rk)
		return "a request of ours is outstanding on the IKE SA";
	if (sa->collided)
		return "the IKE SA was rekeyed twice at once already";
	if (sa->by_rekey && gcks_now(g) - sa->ike.created_ms < (int64_t)g->cfg.ike_rekey_min_interval_s * 1000)
		return "rekeyed too recently";
	return NULL;
}

/* Our half of the key exchange and the new keys (RFC 7296 2.18). */
static gk_status new_keys(gk_gcks *g, const gcks_sa *old, gcks_sa *n, const gk_pl_ke *ke, gk_chunk ni,
			  uint8_t nr[NONCE_LEN], gk_wbuf *pub)
{
	gk_wbuf shared;
	gk_status st = gk_dh_new(n->ike.suite.ke, &n->ike.dh);
	if (st)
		return st;
	gk_wbuf_init(&shared, 1024);
	st = gk_dh_derive(n->ike.dh, ke->data, &shared);
	if (!st)
		st = gk_dh_public(n->ike.dh, pub);
	if (!st)
		st = gk_rand_bytes(g->env.rnd, nr, NONCE_LEN);
	if (!st)
		st = gk_ike_sa_rekey_keys(&n->ike, &n->ike.suite, &old->ike, ni, GK_CHUNK(nr, NONCE_LEN),
					  gk_wbuf_chunk(&shared), n->ike.spi_i, n->ike.spi_r);
	if (!st) /* a debugging aid, off unless --ike-keylog: the new SA's SPIs and keys */
		gk_ike_sa_keylog(g->env.keylog, &n->ike);
	gk_wbuf_free(&shared);
	gk_dh_free(n->ike.dh);
	n->ike.dh = NULL;
	return st;
}

/* What the new SA knows of the peer from the old one: identity and credential, address and
 * features. Message IDs start at 0 (RFC 7296 2.18). */
static void copy_peer(gk_gcks *g, const gcks_sa *old, gcks_sa *n)
{
	n->ike.state = GK_IKE_ESTABLISHED;
	gk_ident_held_unref(n->peer_id);
	n->peer_id = gk_ident_held_ref(old->peer_id);
	n->ike.peer = old->ike.peer;
	n->ike.local = old->ike.local;
	n->path = old->path;
	n->ike.frag_ok = old->ike.frag_ok;
	n->ike.msgid_in = n->ike.msgid_out = 0;
	n->g_ikev2 = old->g_ikev2;
	n->psk_auth = old->psk_auth;
	n->ppk_used = old->ppk_used;
	n->cred_auth = old->cred_auth;
	memcpy(n->cred_hash, old->cred_hash, sizeof(n->cred_hash));
	n->by_rekey = true;
	n->ike.created_ms = gcks_now(g);
	n->deadline_ms = gcks_now(g) + GCKS_REKEY_DELETE_WAIT_MS; /* until it takes over */
}

/* The new SA takes over: group tags (inband rekeys go there now, a waiting one too), the
 * place in the per-identity index (so the pair counts once) and the old SA's expiry. The old
 * SA only waits for its Delete. */
static void take_over(gk_gcks *g, gcks_sa *old, gcks_sa *n)
{
	memcpy(n->groups, old->groups, sizeof(n->groups));
	memset(old->groups, 0, sizeof(old->groups));
	n->deadline_ms = old->deadline_ms;
	n->rekey_queued = old->rekey_queued;
	n->queued_group = old->queued_group;
	old->rekey_queued = false;
	gcks_inband_moved(g, gcks_our_spi(old), gcks_our_spi(n));
	gcks_peer_replace(g, old, n);
	old->superseded = true;
	old->deadline_ms = gcks_now(g) + GCKS_REKEY_DELETE_WAIT_MS;
	gcks_timers_touch(g, old);
	gcks_timers_touch(g, n);
	gcks_inband_send_queued(g, n);
}

/* We delete an IKE SA (the old one after our rekey, or ours that lost a collision). */
static void delete_sa(gk_gcks *g, gcks_sa *sa)
{
	gk_pl_delete d = { .proto = GK_PROTO_IKE };
	gk_out_pl pl = { GK_PL_DELETE, false, &d };
	sa->closing = true;
	sa->deadline_ms = gcks_now(g) + GCKS_REKEY_DELETE_WAIT_MS;
	if (gcks_request(g, sa, GK_EXCH_INFORMATIONAL, &pl, 1) != GK_OK)
		sa->deadline_ms = gcks_now(g); /* goes without a Delete at the next scan */
	gcks_timers_touch(g, sa);
}

static gk_status answer(gcks_resp *r, const gcks_sa *n, uint8_t prop_num, gk_chunk pub, const uint8_t *nr)
{
	gk_pl_sa *sap = gk_arena_alloc(&r->arena, sizeof(*sap));
	gk_pl_ke *ke = gk_arena_alloc(&r->arena, sizeof(*ke));
	gk_pl_bytes *nonce = gk_arena_alloc(&r->arena, sizeof(*nonce));
	uint8_t *pubc = gk_arena_dup(&r->arena, pub.ptr, pub.len);
	uint8_t *nrc = gk_arena_dup(&r->arena, nr, NONCE_LEN);
	gk_status st;
	if (!sap || !ke || !nonce || !pubc || !nrc)
		return GK_E_NOMEM;
	if ((st = gk_ike_suite_to_sa(&n->ike.suite, prop_num, &r->arena, sap)) ||
	    (st = gk_sa_set_ike_spi(sap, &r->arena, n->ike.spi_r)))
		return st;
	*ke = (gk_pl_ke){ .group = n->ike.suite.ke, .data = GK_CHUNK(pubc, pub.len) };
	*nonce = (gk_pl_bytes){ GK_CHUNK(nrc, NONCE_LEN) };
	if (!gcks_resp_add(r, GK_PL_SA, sap) || !gcks_resp_add(r, GK_PL_NONCE, nonce) ||
	    !gcks_resp_add(r, GK_PL_KE, ke))
		return GK_E_TOO_BIG;
	return GK_OK;
}

void gcks_create_child_sa(gk_gcks *g, gcks_sa *sa, const gk_msg *m, gcks_resp *r)
{
	const gk_pl_sa *sap = &gk_msg_find(m, GK_PL_SA)->body->sa;
	const gk_payload *kep = gk_msg_find(m, GK_PL_KE);
	gk_chunk ni = gk_msg_find(m, GK_PL_NONCE)->body->bytes.data;
	const struct sockaddr *peer = (const struct sockaddr *)&sa->ike.peer;
	uint8_t nr[NONCE_LEN], grp[2], prop_num;
	const char *why;
	gk_ike_suite suite;
	uint64_t spi_i;
	gk_wbuf pub;
	gk_wbuf_init(&pub, 1024);

	if (child_sa_request(m, sap)) {
		/* RFC 9838 2.3: G-IKEv2 makes no Child SAs between a member and the GCKS */
		refuse(g, sa, r, GK_N_NO_ADDITIONAL_SAS, GK_CHUNK_EMPTY, "Child SA requested");
		goto out;
	}
	if ((why = busy(g, sa))) {
		refuse(g, sa, r, GK_N_TEMPORARY_FAILURE, GK_CHUNK_EMPTY, why);
		goto out;
	}
	if (!kep || ni.len < 16 || ni.len > 256) {
		refuse(g, sa, r, GK_N_INVALID_SYNTAX, GK_CHUNK_EMPTY, "no KE or a bad nonce");
		goto out;
	}
	/* the same policy as IKE_SA_INIT, and a G-IKEv2 SA keeps its key wrap (GSK_w) */
	gk_status st = gk_ike_select_rekey(sap, &g->cfg.offer, sa->ike.suite.kwa != 0, &suite, &prop_num, &spi_i);
	if (st) {
		refuse(g, sa, r, st == GK_E_MALFORMED ? GK_N_INVALID_SYNTAX : GK_N_NO_PROPOSAL_CHOSEN,
		       GK_CHUNK_EMPTY, st == GK_E_MALFORMED ? "bad SPI in an IKE proposal" : "no acceptable proposal");
		goto out;
	}
	const gk_pl_ke *ke = &kep->body->ke;
	if (ke->group != suite.ke && proposal_offers_ke(sap, prop_num, ke->group) &&
	    gk_ike_offer_has_ke(&g->cfg.offer, ke->group))
		suite.ke = ke->group;
	if (ke->group != suite.ke) {
		gk_put_u16(grp, suite.ke);
		refuse(g, sa, r, GK_N_INVALID_KE_PAYLOAD, GK_CHUNK(grp, 2), "KE of another group");
		goto out;
	}
	if (gcks_costly_ke(suite.ke) && !gcks_costly_charge(g, peer)) {
		g->stats.costly_limited++;
		refuse(g, sa, r, GK_N_TEMPORARY_FAILURE, GK_CHUNK_EMPTY, "costly key exchanges over budget");
		goto out;
	}
	gcks_sa *n = gcks_sa_new(g, 0);
	if (!n) {
		refuse(g, sa, r, GK_N_TEMPORARY_FAILURE, GK_CHUNK_EMPTY, "the SA table is full");
		goto out;
	}
	n->ike.suite = suite;
	n->ike.spi_i = spi_i;
	st = new_keys(g, sa, n, ke, ni, nr, &pub);
	if (!st)
		st = answer(r, n, prop_num, gk_wbuf_chunk(&pub), nr);
	if (!st)
		st = gcks_sa_insert_established(g, n);
	if (st) {
		gcks_sa_free(n);
		r->n = 0;
		refuse(g, sa, r, st == GK_E_BAD_KE ? GK_N_INVALID_SYNTAX : GK_N_TEMPORARY_FAILURE, GK_CHUNK_EMPTY,
		       st == GK_E_BAD_KE ? "invalid KE value" : gk_status_str(st));
		goto out;
	}
	copy_peer(g, sa, n);
	g->stats.ike_rekeys++;
	if (sa->rk) {
		/* RFC 7296 2.8.2: our rekey of this SA is out too; which new SA stays is known when
		 * its answer comes */
		sa->collided = n;
		n->collision_of = sa;
		memcpy(sa->rk->peer_ni, ni.ptr, ni.len);
		sa->rk->peer_ni_len = ni.len;
		memcpy(sa->rk->our_nr, nr, NONCE_LEN);
		goto out;
	}
	take_over(g, sa, n);
	char idt[GK_IDENT_TEXT_MAX];
	gk_info("IKE SA %016llx of %s rekeyed: new SA %016llx", (unsigned long long)sa->ike.spi_r,
		gcks_sa_peer_text(n, idt), (unsigned long long)n->ike.spi_r);
out:
	OPENSSL_cleanse(nr, sizeof(nr));
	gk_wbuf_free(&pub);
}

/* ---- the GCKS rekeys ---- */

static void rekey_state_free(gk_gcks *g, gcks_sa *sa)
{
	if (sa->collided) { /* it may rekey again */
		sa->collided->collision_of = NULL;
		gcks_timers_touch(g, sa->collided);
	}
	if (sa->collision_of) {
		sa->collision_of->collided = NULL;
		gcks_timers_touch(g, sa->collision_of);
	}
	gcks_timers_touch(g, sa);
	sa->collided = sa->collision_of = NULL;
	if (!sa->rk)
		return;
	if (sa->rk->n) {
		gcks_sa_free(sa->rk->n);
	}
	gk_dh_free(sa->rk->dh);
	OPENSSL_clear_free(sa->rk, sizeof(*sa->rk));
	sa->rk = NULL;
}

static void ike_rekey_release(gk_gcks *g, gcks_sa *sa)
{
	if (sa->collided && !sa->superseded)
		take_over(g, sa, sa->collided);
	rekey_state_free(g, sa);
}

void gcks_sa_close(gk_gcks *g, gcks_sa *sa)
{
	ike_rekey_release(g, sa);
	gcks_sa_remove(g, sa);
}

gk_status gcks_ike_rekey_start(gk_gcks *g, gcks_sa *sa)
{
	gk_arena a;
	gk_pl_sa sap;
	gk_wbuf pub;
	gk_status st = GK_E_NOMEM;
	if (sa->out_req || sa->rk || sa->superseded || sa->closing || sa->ike.state != GK_IKE_ESTABLISHED)
		return GK_E_STATE;
	gk_arena_init(&a, 0);
	gk_wbuf_init(&pub, 1024);
	gcks_ike_rekey *rk = OPENSSL_zalloc(sizeof(*rk));
	gcks_sa *n = rk ? gcks_sa_new(g, 0) : NULL;
	if (!n)
		goto fail;
	rk->n = n;
	/* RFC 7296 2.18: we initiate the new SA, our SPI is its SPIi */
	n->ike.initiator = true;
	n->ike.spi_i = n->ike.spi_r;
	n->ike.spi_r = 0;
	if ((st = gk_rand_bytes(g->env.rnd, rk->ni, NONCE_LEN)) || (st = gk_dh_new(sa->ike.suite.ke, &rk->dh)) ||
	    (st = gk_dh_public(rk->dh, &pub)) || (st = gk_ike_offer_to_sa(&g->cfg.offer, &a, &sap)) ||
	    (st = gk_sa_set_ike_spi(&sap, &a, n->ike.spi_i)))
		goto fail;
	gk_pl_bytes nonce = { GK_CHUNK(rk->ni, NONCE_LEN) };
	gk_pl_ke ke = { .group = sa->ike.suite.ke, .data = gk_wbuf_chunk(&pub) };
	gk_out_pl pl[] = { { GK_PL_SA, false, &sap }, { GK_PL_NONCE, false, &nonce }, { GK_PL_KE, false, &ke } };
	sa->rk = rk;
	if ((st = gcks_request(g, sa, GK_EXCH_CREATE_CHILD_SA, pl, 3)) != GK_OK) {
		sa->rk = NULL;
		goto fail;
	}
	gk_wbuf_free(&pub);
	gk_arena_free(&a);
	return GK_OK;
fail:
	if (rk) {
		sa->rk = rk;
		rekey_state_free(g, sa);
	}
	gk_wbuf_free(&pub);
	gk_arena_free(&a);
	return st;
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

/* Our new SA n from the member's answer (RFC 7296 2.18). */
static gk_status our_new_sa(gk_gcks *g, gcks_sa *sa, const gk_msg *m, gk_chunk *nr)
{
	gcks_ike_rekey *rk = sa->rk;
	gcks_sa *n = rk->n;
	gk_ike_suite suite;
	uint64_t spi_r;
	gk_wbuf shared;
	uint8_t bad;
	if (gk_exchange_rules_check(m, &bad))
		return GK_E_MALFORMED; /* responses come here unchecked */
	const gk_payload *kep = gk_msg_find(m, GK_PL_KE);
	*nr = gk_msg_find(m, GK_PL_NONCE)->body->bytes.data;
	if (gk_ike_suite_from_rekey_sa(&gk_msg_find(m, GK_PL_SA)->body->sa, &g->cfg.offer, &suite, &spi_r) ||
	    (sa->ike.suite.kwa && !suite.kwa) || suite.ke != sa->ike.suite.ke || !kep ||
	    kep->body->ke.group != suite.ke || nr->len < 16 || nr->len > 256)
		return GK_E_MALFORMED;
	gk_wbuf_init(&shared, 1024);
	gk_status st = gk_dh_derive(rk->dh, kep->body->ke.data, &shared);
	n->ike.suite = suite;
	n->ike.spi_r = spi_r;
	if (!st)
		st = gk_ike_sa_rekey_keys(&n->ike, &suite, &sa->ike, GK_CHUNK(rk->ni, NONCE_LEN), *nr,
					  gk_wbuf_chunk(&shared), n->ike.spi_i, spi_r);
	gk_wbuf_free(&shared);
	if (!st) /* a debugging aid, off unless --ike-keylog */
		gk_ike_sa_keylog(g->env.keylog, &n->ike);
	if (!st)
		st = gcks_sa_insert_established(g, n);
	if (!st)
		rk->n = NULL; /* in the table now */
	return st;
}

/* RFC 7296 2.8.2: both sides rekeyed the SA at once. The new SA created with the lowest of the
 * four nonces is deleted by its initiator; the other one takes over, and the old SA is deleted
 * by the initiator of the survivor. Both sides reach the same verdict from the same nonces. */
static void resolve_collision(gk_gcks *g, gcks_sa *sa, gcks_sa *ours, gk_chunk nr)
{
	gcks_ike_rekey *rk = sa->rk;
	gcks_sa *theirs = sa->collided;
	gk_chunk mine = nonce_min(GK_CHUNK(rk->ni, NONCE_LEN), nr);
	gk_chunk other = nonce_min(GK_CHUNK(rk->peer_ni, rk->peer_ni_len), GK_CHUNK(rk->our_nr, NONCE_LEN));
	bool we_lose = nonce_cmp(mine, other) < 0;
	gk_info("simultaneous rekeys of IKE SA %016llx: the %s one stays", (unsigned long long)gcks_our_spi(sa),
		we_lose ? "member's" : "GCKS's");
	theirs->collision_of = NULL;
	sa->collided = NULL;
	if (we_lose) {
		take_over(g, sa, theirs); /* the member deletes the old SA */
		delete_sa(g, ours);
	} else {
		take_over(g, sa, ours); /* the member deletes its own new SA */
		delete_sa(g, sa);
	}
}

void gcks_ike_rekey_response(gk_gcks *g, gcks_sa *sa, const gk_msg *m)
{
	if (!sa->rk || !sa->out_req || !gk_ike_req_answers(sa->out_req, m->hdr.exchange, m->hdr.msg_id))
		return;
	gcks_request_done(sa);
	const gk_payload *err = gk_msg_find_error(m);
	gcks_sa *ours = sa->rk->n;
	gk_chunk nr = GK_CHUNK_EMPTY;
	gk_status st = err ? GK_E_STATE : our_new_sa(g, sa, m, &nr);
	if (st) {
		char at[64];
		gk_addr_text((const struct sockaddr *)&sa->ike.peer, at, sizeof(at));
		gk_info("our rekey of IKE SA %016llx with %s not done: %s", (unsigned long long)gcks_our_spi(sa), at,
			err ? gk_iana_str(GK_REG_NOTIFY, err->body->notify.type) : "unusable answer");
		gcks_sa *theirs = sa->collided;
		rekey_state_free(g, sa);
		if (theirs) {
			take_over(g, sa, theirs); /* the member's crossing rekey stands; it deletes the old SA */
		} else {
			sa->rekey_at_ms = gcks_now(g) + GCKS_REKEY_RETRY_MS;
			gcks_inband_send_queued(g, sa); /* an inband rekey that waited goes on this SA */
		}
		return;
	}
	char idt[GK_IDENT_TEXT_MAX];
	copy_peer(g, sa, ours);
	g->stats.ike_rekeys++;
	gk_info("IKE SA %016llx of %s rekeyed by us: new SA %016llx", (unsigned long long)gcks_our_spi(sa),
		gcks_sa_peer_text(ours, idt), (unsigned long long)gcks_our_spi(ours));
	if (sa->collided) {
		resolve_collision(g, sa, ours, nr);
	} else {
		take_over(g, sa, ours);
		delete_sa(g, sa);
	}
	rekey_state_free(g, sa);
}

/* An SA kept for the GSA_INBAND_REKEY of its groups (it carries a group tag). */
static bool kept_inband(const gcks_sa *sa)
{
	for (size_t i = 0; i < GCKS_SA_GROUPS; i++)
		if (sa->groups[i])
			return true;
	return false;
}

static bool rekeyable(const gcks_sa *sa)
{
	return sa->ike.state == GK_IKE_ESTABLISHED && !sa->superseded && !sa->closing && !sa->collided &&
	       !sa->collision_of && kept_inband(sa);
}

void gcks_ike_rekey_tick(gk_gcks *g, gcks_sa *sa, int64_t now_ms)
{
	int64_t life = (int64_t)g->cfg.ike_lifetime_s * 1000;
	if (!life || !rekeyable(sa))
		return;
	if (!sa->rekey_at_ms) {
		/* 0-10 % before the end, after the members' 10-20 %: a member that rekeys itself
		 * with the same lifetime always goes first. The point in that span only spreads the
		 * rekeys of SAs made together and needs no secrecy: it is taken from our SPI's high
		 * half, drawn at random when the SA was made (RFC 7296 2.6; the SA table uses the low
		 * bits), rather than from a DRBG draw of its own (6,000 instructions an SA). */
		uint32_t r = (uint32_t)(gcks_our_spi(sa) >> 32);
		sa->rekey_at_ms = sa->ike.created_ms + life - (int64_t)(r % (uint64_t)(life / 10 + 1));
	}
	if (now_ms < sa->rekey_at_ms || sa->out_req || sa->rk)
		return;
	if (gcks_ike_rekey_start(g, sa) != GK_OK)
		sa->rekey_at_ms = now_ms + GCKS_REKEY_RETRY_MS;
}

int64_t gcks_ike_rekey_due(const gk_gcks *g, const gcks_sa *sa)
{
	if (!g->cfg.ike_lifetime_s || !rekeyable(sa))
		return INT64_MAX;
	if (!sa->rekey_at_ms)
		return 0; /* planned at the next scan */
	if (sa->out_req || sa->rk)
		return INT64_MAX; /* their end touches the SA (gcks_timers_touch) */
	return sa->rekey_at_ms;
}

static void rekey_one(gk_gcks *g, gcks_sa *sa, void *ctx)
{
	if (rekeyable(sa) && gcks_ike_rekey_start(g, sa) == GK_OK)
		++*(unsigned *)ctx;
}

unsigned gk_gcks_rekey_ike_sas(gk_gcks *g)
{
	unsigned n = 0;
	gcks_sa_foreach(g, rekey_one, &n);
	return n;
}
