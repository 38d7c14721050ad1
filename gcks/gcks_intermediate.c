/* IKE_INTERMEDIATE as responder (RFC 9242) with one additional key exchange per exchange
 * (RFC 9370 2.2.2): the shared secret SK(n) updates every key of the half-open SA, and IntAuth
 * collects both messages for the AUTH of GSA_AUTH (RFC 9242 3.3.2). The SA stays half-open through
 * these exchanges: its deadline and the half-open limits do not move. */
#define GK_LOG_SUBSYS GK_SUB_IKE /* log.h */
#include <stdlib.h>
#include <string.h>
#include "gcks_init.h"
#include "gcks_intermediate.h"
#include "gcks_refusal.h"
#include "intermediate.h"
#include "keylog.h"
#include "log.h"

bool gcks_int_complete(const gcks_sa *sa)
{
	const gk_ike_int *ii = sa->ike.intermediate;
	return !ii || ii->done == ii->naddke;
}

bool gcks_int_satisfies(const gk_group_policy *pol, const gcks_sa *sa)
{
	for (size_t i = 0; i < pol->naddke; i++) {
		bool ran = false;
		for (size_t j = 0; j < GK_ADDKE_MAX; j++)
			ran |= sa->ike.suite.addke[j] == pol->addke[i];
		if (!ran)
			return false;
	}
	return true;
}

/* An IKE_INTERMEDIATE we cannot take ends the half-open SA with this notify. */
static void refuse(gk_gcks *g, gcks_sa *sa, gcks_resp *r, uint16_t notify, const char *why)
{
	gcks_refusal(g, (const struct sockaddr *)&sa->ike.peer, "IKE_INTERMEDIATE: %s (%s)", why,
		     gk_iana_str(GK_REG_NOTIFY, notify));
	gcks_resp_notify(r, notify, GK_CHUNK_EMPTY);
	r->close_after = true;
}

/* Builds, sends and caches the response under the keys of this exchange, then IntAuth_r. */
static gk_status answer(gk_gcks *g, gcks_sa *sa, const gk_msg *m, gcks_resp *r)
{
	gk_dgrams d = { 0 };
	gk_status st = gk_ike_req_build(&sa->ike, m->hdr.exchange, true, m->hdr.msg_id, r->pl, r->n, g->env.rnd, &d);
	if (!st)
		st = gk_ike_sa_intauth_add_sent(&sa->ike, false, &d, r->pl, r->n);
	if (st) {
		gk_dgrams_free(&d);
		return st;
	}
	for (size_t i = 0; i < d.n; i++)
		gcks_send(g, sa->path, (const struct sockaddr *)&sa->ike.local, (const struct sockaddr *)&sa->ike.peer,
			  d.d[i].data, d.d[i].len);
	gk_ike_req_answered(&sa->ike, m->hdr.msg_id, &d);
	r->sent = true;
	return GK_OK;
}

void gcks_ike_intermediate(gk_gcks *g, gcks_sa *sa, const gk_msg *m, gcks_resp *r)
{
	gk_ike_int *ii = sa->ike.intermediate;
	const gk_payload *kp = gk_msg_find(m, GK_PL_KE);
	gk_wbuf ours, shared;
	gk_status st;
	if (!ii || ii->done >= ii->naddke) {
		/* RFC 9370 2.2.2: one exchange per negotiated ADDKE, no more */
		refuse(g, sa, r, GK_N_INVALID_SYNTAX, "no additional key exchange is due");
		return;
	}
	const gk_ke_method *km = gk_ke_by_id(ii->addke[ii->done]);
	if (!kp || kp->body->ke.group != km->id) {
		/* RFC 9370 2.2.2: KEi(n) with the n-th negotiated method */
		refuse(g, sa, r, GK_N_INVALID_SYNTAX, kp ? "KE of another method" : "no KE payload");
		return;
	}
	if (gcks_costly_ke(km->id) && !gcks_costly_charge(g, (const struct sockaddr *)&sa->ike.peer)) {
		/* the same budget as in IKE_SA_INIT: the member retransmits */
		g->stats.costly_limited++;
		g->stats.dropped++;
		r->sent = true;
		return;
	}
	gk_wbuf_init(&ours, 4096);
	gk_wbuf_init(&shared, 4096);
	st = gk_ke_respond(km, kp->body->ke.data, &ours, &shared);
	if (st == GK_E_BAD_KE) {
		refuse(g, sa, r, GK_N_INVALID_SYNTAX, "invalid KE value (RFC 6989)");
		goto out;
	}
	gk_pl_ke *ke = gk_arena_alloc(&r->arena, sizeof(*ke));
	uint8_t *pub = st ? NULL : gk_arena_dup(&r->arena, ours.data, ours.len);
	if (!st && (!ke || !pub))
		st = GK_E_NOMEM;
	if (!st) {
		*ke = (gk_pl_ke){ .group = km->id, .data = GK_CHUNK(pub, ours.len) };
		st = gcks_resp_add(r, GK_PL_KE, ke) ? GK_OK : GK_E_NOMEM;
	}
	/* IntAuth_i(n), IntAuth_r(n) under the keys this exchange ran with, then SK(n) changes them */
	if (!st)
		st = gk_ike_sa_intauth_add_received(&sa->ike, true, m);
	if (!st)
		st = answer(g, sa, m, r);
	if (!st)
		st = gk_ike_sa_addke_update(&sa->ike, gk_wbuf_chunk(&shared));
	if (st) {
		gk_err("IKE_INTERMEDIATE: %s", gk_status_str(st));
		r->sent = true; /* nothing usable to answer: the SA goes */
		r->close_after = true;
		goto out;
	}
	ii->done++;
	gk_ike_sa_keylog(g->env.keylog, &sa->ike);
	gk_dbg("IKE_INTERMEDIATE %zu/%zu: %s done, keys updated (RFC 9370 2.2.2)", ii->done, ii->naddke, km->name);
out:
	gk_wbuf_free(&ours);
	gk_wbuf_free(&shared);
}
