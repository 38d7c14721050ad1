/* Authentication of members: GSA_AUTH (RFC 9838 2.3.1) and childless IKE_AUTH (RFC 7296 1.2,
 * RFC 6023) for plain IKEv2 peers. PSK MIC or Digital Signature (RFC 7427) with X.509
 * certificates or raw public keys (RFC 7670). */
#define GK_LOG_SUBSYS GK_SUB_IKE /* log.h */
#include <string.h>
#include <openssl/crypto.h>
#include "gcks_auth.h"
#include "gcks_creds.h"
#include "gcks_groups.h"
#include "gcks_ikerekey.h"
#include "gcks_peers.h"
#include "gcks_refusal.h"
#include "gcks_reg.h"
#include "gcks_resp.h"
#include "gcks_sa_table.h"
#include "log.h"
#include "ppk.h"
#include "gcks_intermediate.h"

/* What the peer authenticated with, so we answer in kind. */
typedef struct peer_auth {
	gk_ident id;
	bool psk;
	gcks_group *wanted;             /* the group GSA_AUTH asks for, NULL if unknown (IKE_AUTH) */
	const gk_member_policy *cred;   /* the policy entry whose credential verified */
	gk_prf_keyed *psk_pad;          /* PSK: its key pad (RFC 7296 2.15), for our AUTH; owned */
	bool ppk;                       /* authenticated with the PPK's keys (RFC 8784 3) */
	const char *ppk_why;            /* why a PPK decided a failure, for the log; NULL if not */
} peer_auth;

/* The key pad (RFC 7296 2.15) of mp's PSK on *work, as gk_auth_psk_key. A PSK that several
 * listed members share (one psk-file, gk_member_policy_share_psk) keeps its key pad beside it
 * under the last PRF it was used with (policy.h: as secret as the PSK, wiped and freed with it,
 * never logged): every member after the first skips prf(PSK, "Key Pad for IKEv2"), about
 * 12,600 instructions of each registration. A PSK of one member's own is used as before. */
_Static_assert(GK_PSK_PAD_MAX == EVP_MAX_MD_SIZE, "a kept key pad holds any PRF's output");

static gk_status psk_key(uint16_t prf, const gk_member_policy *mp, gk_prf_keyed **work)
{
	gk_secret_held *h = mp->psk_held;
	gk_chunk psk = GK_CHUNK(mp->psk, mp->psk_len);
	if (!h)
		return gk_auth_psk_key(prf, psk, work);
	if (h->pad_prf != prf) {
		size_t len = 0;
		OPENSSL_cleanse(h->pad, sizeof(h->pad));
		h->pad_prf = 0;
		h->pad_len = 0;
		gk_status st = gk_auth_psk_pad(prf, psk, work, h->pad, &len);
		if (st)
			return st;
		h->pad_prf = prf;
		h->pad_len = (uint8_t)len;
	}
	return gk_auth_psk_key_from_pad(prf, GK_CHUNK(h->pad, h->pad_len), work);
}

/* PSK MIC: against each PSK the policy holds for the identity (groups may give it different
 * ones), the entry of the group asked for first, each key pad made on *work (the PRF context of
 * the MACed ID). The key pad of the PSK that verified stays for our AUTH under the same PSK. */
static gk_status verify_psk(gk_gcks *g, gcks_sa *sa, const gk_pl_auth *auth, const gk_auth_octets *octets,
			    gk_prf_keyed **work, peer_auth *pa)
{
	const gk_member_policy *mp;
	pa->psk = true;
	for (size_t pos = 0; (mp = gcks_member_next_cred(g, &pa->id, pa->wanted, GK_MAUTH_PSK, &pos));) {
		if (!mp->psk || psk_key(sa->ike.suite.prf, mp, work))
			continue;
		if (gk_auth_psk_check(*work, octets, auth->data) == GK_OK) {
			gk_prf_keyed_free(pa->psk_pad);
			pa->psk_pad = *work;
			*work = NULL;
			pa->cred = mp;
			return GK_OK;
		}
	}
	return GK_E_AUTH;
}

/* Digital Signature (RFC 7427): with a certificate only for an identity the policy lists as
 * `auth: certificate`; else with a raw public key the policy holds for the identity (in CERT,
 * RFC 7670, or not sent). A credential of another kind never stands in for the listed one. */
static gk_status verify_sig(gk_gcks *g, const gk_msg *m, const gk_pl_auth *auth, gk_chunk octets, peer_auth *pa)
{
	const gk_payload *cp = gk_msg_find(m, GK_PL_CERT);
	const gk_member_policy *mp;
	EVP_PKEY *pub = NULL;
	gk_status st = GK_E_AUTH;
	size_t pos = 0;
	if (cp && cp->body->cert.encoding == GK_CERT_X509_SIGNATURE) {
		if (!(mp = gcks_member_next_cred(g, &pa->id, pa->wanted, GK_MAUTH_CERT, &pos)))
			return GK_E_AUTH;
		st = gcks_creds_peer_key(g, m, cp, &pa->id, &pub);
		if (!st)
			st = gk_auth_sig_verify(pub, GK_SIG_NONE, auth->data, octets);
		EVP_PKEY_free(pub);
		pa->cred = st ? NULL : mp;
		return st;
	}
	if (cp && cp->body->cert.encoding != GK_CERT_RAW_PUBLIC_KEY)
		return GK_E_AUTH;
	while (st && (mp = gcks_member_next_cred(g, &pa->id, pa->wanted, GK_MAUTH_PUBKEY, &pos))) {
		gk_chunk stored = GK_CHUNK(mp->pubkey, mp->pubkey_len);
		if (!mp->pubkey || (cp && !gk_chunk_eq(cp->body->cert.data, stored)))
			continue;
		st = gk_pubkey_from_spki(stored, &pub);
		if (!st)
			st = gk_auth_sig_verify(pub, GK_SIG_NONE, auth->data, octets);
		EVP_PKEY_free(pub);
		pub = NULL;
		if (!st)
			pa->cred = mp;
	}
	return st;
}

/* Verifies the peer's AUTH payload with a credential the policy lists for its identity, under
 * the SA's current keys. */
static gk_status verify_auth(gk_gcks *g, gcks_sa *sa, const gk_msg *m, const gk_pl_auth *auth, peer_auth *pa)
{
	const gk_payload *idp = gk_msg_find(m, GK_PL_IDi);
	gk_prf_keyed *work = NULL;
	gk_auth_octets parts;
	gk_wbuf octets;
	gk_status st;
	gk_wbuf_init(&octets, GK_MAX_MESSAGE * 2);
	/* a PSK MIC runs over the parts in place; a signature needs them in one buffer */
	st = gk_ike_sa_auth_parts(&sa->ike, true, idp->raw, &work, &parts);
	if (st)
		goto out;
	if (auth->method == GK_AUTH_SHARED_KEY_MIC)
		st = verify_psk(g, sa, auth, &parts, &work, pa);
	else if (auth->method == GK_AUTH_DIGITAL_SIGNATURE && !(st = gk_auth_octets_flat(&parts, &octets)))
		st = verify_sig(g, m, auth, gk_wbuf_chunk(&octets), pa);
	else if (!st)
		st = GK_E_AUTH;
out:
	gk_prf_keyed_free(work);
	gk_auth_octets_wipe(&parts);
	gk_wbuf_free(&octets);
	return st;
}

/* RFC 8784 3 on the responder: with the PPK the policy holds for the peer's PPK_ID, AUTH is
 * checked under SK_pi' and the SA keeps SK_d', SK_pi', SK_pr' (NO_PPK_AUTH is then ignored: a
 * wrong PPK fails). Without one, NO_PPK_AUTH (the AUTH data under the original SK_pi, the method
 * of the AUTH payload) stands in for AUTH, unless the group asked for requires a PPK; a peer
 * that sent no PPK_IDENTITY authenticates as usual, unless that group requires one. */
static gk_status verify_ppk(gk_gcks *g, gcks_sa *sa, const gk_msg *m, const gk_pl_auth *auth, peer_auth *pa)
{
	const gk_payload *pid = sa->ppk_offered ? gk_msg_find_notify(m, GK_N_PPK_IDENTITY) : NULL;
	bool required = pa->wanted && pa->wanted->pol.ppk == GK_PPK_REQUIRED;
	const gk_member_policy *mp = NULL;
	gk_chunk ppk_id;
	if (pid && gk_ppk_identity_parse(pid->body->notify.data, &ppk_id) == GK_OK)
		mp = gcks_member_ppk(g, &pa->id, pa->wanted, ppk_id);
	if (mp) {
		gk_ike_keys orig;
		gk_ike_sa_keys_get(&sa->ike, &orig);
		gk_status st = gk_ike_sa_ppk_update(&sa->ike, GK_CHUNK(mp->ppk, mp->ppk_len));
		if (!st)
			st = verify_auth(g, sa, m, auth, pa);
		if (st) /* stays as IKE_SA_INIT made it (the same lengths: set in place) */
			(void)gk_ike_sa_keys_set(&sa->ike, &orig);
		gk_ike_keys_wipe(&orig);
		pa->ppk = st == GK_OK;
		pa->ppk_why = st ? "with its PPK" : NULL;
		return st;
	}
	if (required) {
		pa->ppk_why = pid ? "the group requires a PPK; none known for its PPK_ID"
				  : "the group requires a PPK; the member uses none";
		return GK_E_AUTH;
	}
	if (!pid)
		return verify_auth(g, sa, m, auth, pa);
	const gk_payload *no = gk_msg_find_notify(m, GK_N_NO_PPK_AUTH);
	pa->ppk_why = "without a PPK (NO_PPK_AUTH)";
	if (!no || !no->body->notify.data.len)
		return GK_E_AUTH;
	gk_pl_auth alt = { .method = auth->method, .data = no->body->notify.data };
	return verify_auth(g, sa, m, &alt, pa);
}

/* Verifies the peer's AUTH (or NO_PPK_AUTH) for its identity and the group it asks for. */
static gk_status verify_peer(gk_gcks *g, gcks_sa *sa, const gk_msg *m, peer_auth *pa)
{
	const gk_payload *idg = gk_msg_find(m, GK_PL_IDg);
	gk_ident gid;
	const gk_payload *idp = gk_msg_find(m, GK_PL_IDi);
	const gk_pl_auth *auth = &gk_msg_find(m, GK_PL_AUTH)->body->auth;
	if (gk_ident_from_payload(idp->body->id.id_type, idp->body->id.data, &pa->id))
		return GK_E_AUTH;
	if (idg && gk_ident_from_payload(idg->body->id.id_type, idg->body->id.data, &gid) == GK_OK)
		pa->wanted = gcks_group_find(g, &gid);
	return verify_ppk(g, sa, m, auth, pa);
}

/* Appends IDr, [CERT], AUTH: our side of the authentication, by the method the peer used. Frees
 * the PSK's key pad, which serves no other AUTH. */
static gk_status add_our_auth(gk_gcks *g, gcks_sa *sa, peer_auth *pa, gcks_resp *r)
{
	gk_pl_id *id = gk_arena_alloc(&r->arena, sizeof(*id));
	gk_pl_auth *auth = gk_arena_alloc(&r->arena, sizeof(*auth));
	gk_auth_octets parts;
	gk_wbuf body, octets, data;
	gk_status st = GK_E_NOMEM;
	gk_wbuf_init(&body, 1024);
	gk_wbuf_init(&octets, GK_MAX_MESSAGE * 2);
	gk_wbuf_init(&data, 4096);
	memset(&parts, 0, sizeof(parts));
	if (!id || !auth)
		goto out;
	*id = (gk_pl_id){ .id_type = g->id.type, .data = GK_CHUNK(g->id.data, g->id.len) };
	if ((st = gk_codec_build(gk_payload_desc(GK_PL_IDr), id, &body)) != GK_OK)
		goto out;
	if ((st = gk_ike_sa_auth_parts(&sa->ike, false, gk_wbuf_chunk(&body), NULL, &parts)) != GK_OK)
		goto out;
	if (pa->psk) {
		/* under the key pad of the PSK the member's AUTH verified with (RFC 7296 2.15) */
		uint8_t mic[64];
		size_t len = sizeof(mic);
		st = gk_auth_psk_mic(pa->psk_pad, &parts, mic, &len);
		if (!st)
			gk_wbuf_put(&data, mic, len);
		OPENSSL_cleanse(mic, sizeof(mic));
		auth->method = GK_AUTH_SHARED_KEY_MIC;
	} else {
		st = gk_auth_octets_flat(&parts, &octets);
		if (!st)
			st = gk_auth_sig_sign(g->sign_key, g->sign_scheme, gk_wbuf_chunk(&octets), &data);
		auth->method = GK_AUTH_DIGITAL_SIGNATURE;
	}
	if (st)
		goto out;
	auth->data = GK_CHUNK(gk_arena_dup(&r->arena, data.data, data.len), data.len);
	st = auth->data.ptr ? GK_OK : GK_E_NOMEM;
	gcks_resp_add(r, GK_PL_IDr, id);
	if (!pa->psk && g->cert_der) {
		gk_pl_cert *c = gk_arena_alloc(&r->arena, sizeof(*c));
		if (!c) {
			st = GK_E_NOMEM;
			goto out;
		}
		*c = (gk_pl_cert){ .encoding = GK_CERT_X509_SIGNATURE, .data = GK_CHUNK(g->cert_der, g->cert_der_len) };
		gcks_resp_add(r, GK_PL_CERT, c);
	}
	gcks_resp_add(r, GK_PL_AUTH, auth);
out:
	gk_prf_keyed_free(pa->psk_pad);
	pa->psk_pad = NULL;
	gk_auth_octets_wipe(&parts);
	gk_wbuf_free(&body);
	gk_wbuf_free(&octets);
	gk_wbuf_free(&data);
	return st;
}

/* Admits a freshly authenticated sa to the index by identity, first removing the identity's
 * other SAs (INITIAL_CONTACT) or its oldest ones beyond max_sas_per_identity, so that one
 * member's credentials cannot fill the SA table. */
static void admit(gk_gcks *g, gcks_sa *sa, bool initial_contact)
{
	char idt[GK_IDENT_TEXT_MAX];
	size_t n;
	unsigned cap = g->cfg.max_sas_per_identity ? g->cfg.max_sas_per_identity : 1;
	gcks_sa *old;
	/* RFC 7296 2.4: INITIAL_CONTACT says the peer has no other IKE SA with us (it restarted):
	 * the earlier ones are deleted, without a Delete to an SA the peer has forgotten. Otherwise
	 * the identity keeps at most `cap` SAs: the newest authentication wins, as the member that
	 * lost its SAs without INITIAL_CONTACT (a crash) is the likely one asking. */
	while ((old = gcks_peer_oldest(g, sa, &n)) && (initial_contact || n >= cap)) {
		gk_info("IKE SA %016llx of %s deleted: %s", (unsigned long long)old->ike.spi_r,
			gcks_sa_peer_text(old, idt),
			initial_contact ? "INITIAL_CONTACT" : "the identity's IKE SAs are at their limit");
		gcks_sa_close(g, old);
	}
	gcks_peer_link(g, sa);
}

/* Common part of GSA_AUTH and IKE_AUTH: authenticates the peer and answers with our AUTH.
 * Returns false (with the error notify in r) when authentication failed. Nothing that depends
 * on the group asked for is answered before this: a peer that does not authenticate gets
 * AUTHENTICATION_FAILED alone (RFC 7296 2.21.2), whatever group it named, so it learns
 * nothing about the groups. */
static bool authenticate(gk_gcks *g, gcks_sa *sa, const gk_msg *m, gcks_resp *r, peer_auth *pa)
{
	char idt[GK_IDENT_TEXT_MAX];
	memset(pa, 0, sizeof(*pa));
	if (!gcks_int_complete(sa)) {
		/* RFC 9370 2.2.2: every negotiated additional key exchange comes first */
		gcks_refusal(g, (const struct sockaddr *)&sa->ike.peer, "%s before the additional key exchanges",
			     gk_iana_str(GK_REG_EXCHANGE, m->hdr.exchange));
		gcks_resp_notify(r, GK_N_INVALID_SYNTAX, GK_CHUNK_EMPTY);
		r->close_after = true;
		return false;
	}
	gk_status st = verify_peer(g, sa, m, pa);
	if (st) {
		gcks_refusal(g, (const struct sockaddr *)&sa->ike.peer, "%s: authentication of %s failed%s%s",
			     gk_iana_str(GK_REG_EXCHANGE, m->hdr.exchange), gk_ident_text(&pa->id, idt),
			     pa->ppk_why ? " " : "", pa->ppk_why ? pa->ppk_why : "");
		gcks_resp_notify(r, GK_N_AUTHENTICATION_FAILED, GK_CHUNK_EMPTY);
		r->close_after = true;
		return false;
	}
	/* RFC 8784 3: PPK_IDENTITY (no data) tells the initiator we used its PPK */
	if ((st = add_our_auth(g, sa, pa, r)) != GK_OK ||
	    (pa->ppk && (st = gcks_resp_notify(r, GK_N_PPK_IDENTITY, GK_CHUNK_EMPTY)) != GK_OK) ||
	    (st = gcks_sa_hold_peer(sa, &pa->id)) != GK_OK) {
		gk_err("cannot build our AUTH for %s: %s", gk_ident_text(&pa->id, idt), gk_status_str(st));
		r->n = 0;
		gcks_resp_notify(r, GK_N_AUTHENTICATION_FAILED, GK_CHUNK_EMPTY);
		r->close_after = true;
		return false;
	}
	sa->psk_auth = pa->psk;
	sa->ppk_used = pa->ppk;
	sa->cred_auth = (uint8_t)pa->cred->auth;
	gcks_member_cred_hash(pa->cred, sa->cred_hash);
	gcks_sa_established(g, sa);
	sa->deadline_ms = gcks_now(g) + (int64_t)g->cfg.ike_idle_timeout_s * 1000;
	admit(g, sa, gk_msg_find_notify(m, GK_N_INITIAL_CONTACT) != NULL);
	return true;
}

void gcks_gsa_auth(gk_gcks *g, gcks_sa *sa, const gk_msg *m, gcks_resp *r)
{
	peer_auth pa;
	const gk_payload *idg = gk_msg_find(m, GK_PL_IDg);
	/* RFC 9838 2.3.1: refusals (INVALID_GROUP_ID included) come after IDr and AUTH */
	if (!authenticate(g, sa, m, r, &pa))
		return;
	sa->g_ikev2 = true;
	if (!sa->ike.suite.kwa) {
		/* RFC 9838 4.5.4: without a negotiated KWA no key can be wrapped */
		gcks_refusal(g, (const struct sockaddr *)&sa->ike.peer, "GSA_AUTH: no key wrap algorithm negotiated");
		gcks_resp_notify(r, GK_N_NO_PROPOSAL_CHOSEN, GK_CHUNK_EMPTY);
		return;
	}
	gcks_register(g, sa, &pa.id, idg, m, r, pa.cred);
}

void gcks_ike_auth(gk_gcks *g, gcks_sa *sa, const gk_msg *m, gcks_resp *r)
{
	peer_auth pa;
	char idt[GK_IDENT_TEXT_MAX];
	if (!authenticate(g, sa, m, r, &pa))
		return;
	/* childless (RFC 6023): no Child SA is made; a requested one is refused */
	if (gk_msg_find(m, GK_PL_SA))
		gcks_resp_notify(r, GK_N_NO_PROPOSAL_CHOSEN, GK_CHUNK_EMPTY);
	gk_info("IKE SA with %s established (IKE_AUTH%s%s)", gk_ident_text(&pa.id, idt),
		sa->ppk_used ? ", keyed with its PPK (RFC 8784)" : "",
		sa->ike.suite.kwa ? "" : ", no key wrap: registration not possible");
}

void gcks_informational(gk_gcks *g, gcks_sa *sa, const gk_msg *m, gcks_resp *r)
{
	(void)g;
	for (const gk_payload *p = NULL; (p = gk_msg_next(m, p, GK_PL_DELETE));)
		if (p->body->del.proto == GK_PROTO_IKE)
			r->close_after = true; /* answered with an empty INFORMATIONAL, then removed */
	/* an SA kept for inband rekeys (no deadline) stays kept: a member's liveness check
	 * (RFC 7296 2.4) must not give it the idle timeout of a registration SA */
	if (!r->close_after && sa->deadline_ms)
		sa->deadline_ms = gcks_now(g) + (int64_t)g->cfg.ike_idle_timeout_s * 1000;
}
