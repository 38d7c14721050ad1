/* CREATE_CHILD_SA as responder: IKE SA rekeying (RFC 7296 1.3.2, 2.18) of the kept IKE SAs of
 * inband groups (RFC 9838 2.3.3), and the refusal of Child SAs, which G-IKEv2 members do not
 * make with the GCKS. The new SA takes over everything bound to the old one; the initiator
 * deletes the old one (RFC 7296 2.18), or the GCKS does after GCKS_REKEY_DELETE_WAIT_MS. */
#include <string.h>
#include <openssl/crypto.h>
#include "gcks_int.h"
#include "log.h"

#define NONCE_LEN 32
/* An old SA whose initiator never sends the Delete goes this long after the rekey, so that a
 * member cannot keep old SAs (outside its per-identity count) by rekeying without deleting. */
#define GCKS_REKEY_DELETE_WAIT_MS 30000

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
	if (sa->out_req)
		return "a request of ours is outstanding on the IKE SA";
	if (sa->rekeyed_ms && gcks_now(g) - sa->rekeyed_ms < (int64_t)g->cfg.ike_rekey_min_interval_s * 1000)
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
		st = gk_ike_keys_rekey(&n->ike.keys, &n->ike.suite, &old->ike.keys, ni, GK_CHUNK(nr, NONCE_LEN),
				       gk_wbuf_chunk(&shared), n->ike.spi_i, n->ike.spi_r);
	gk_wbuf_free(&shared);
	gk_dh_free(n->ike.dh);
	n->ike.dh = NULL;
	return st;
}

/* Moves what the old SA carried to the new one: group tags (inband rekeys go there now), the
 * identity and credential, the place in the per-identity index (so the pair counts once), and
 * the peer's address and features. Message IDs start at 0 (RFC 7296 2.18). */
static void take_over(gk_gcks *g, gcks_sa *old, gcks_sa *n)
{
	n->ike.state = GK_IKE_ESTABLISHED;
	n->ike.peer_id = old->ike.peer_id;
	n->ike.peer = old->ike.peer;
	n->ike.local = old->ike.local;
	n->ike.frag_ok = old->ike.frag_ok;
	n->ike.msgid_in = n->ike.msgid_out = 0;
	n->g_ikev2 = old->g_ikev2;
	n->psk_auth = old->psk_auth;
	n->cred_auth = old->cred_auth;
	memcpy(n->cred_hash, old->cred_hash, sizeof(n->cred_hash));
	memcpy(n->groups, old->groups, sizeof(n->groups));
	memset(old->groups, 0, sizeof(old->groups));
	n->deadline_ms = old->deadline_ms;
	n->rekeyed_ms = gcks_now(g);
	gcks_peer_replace(g, old, n);
	old->superseded = true;
	old->deadline_ms = gcks_now(g) + GCKS_REKEY_DELETE_WAIT_MS;
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
	gcks_sa *n = gcks_sa_new(g);
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
		gk_ike_sa_free(&n->ike);
		free(n);
		r->n = 0;
		refuse(g, sa, r, st == GK_E_BAD_KE ? GK_N_INVALID_SYNTAX : GK_N_TEMPORARY_FAILURE, GK_CHUNK_EMPTY,
		       st == GK_E_BAD_KE ? "invalid KE value" : gk_status_str(st));
		goto out;
	}
	take_over(g, sa, n);
	g->stats.ike_rekeys++;
	char idt[GK_IDENT_TEXT_MAX];
	gk_info("IKE SA %016llx of %s rekeyed: new SA %016llx", (unsigned long long)sa->ike.spi_r,
		gk_ident_text(&n->ike.peer_id, idt), (unsigned long long)n->ike.spi_r);
out:
	OPENSSL_cleanse(nr, sizeof(nr));
	gk_wbuf_free(&pub);
}
