/* Authentication of members: GSA_AUTH (RFC 9838 2.3.1) and childless IKE_AUTH (RFC 7296 1.2,
 * RFC 6023) for plain IKEv2 peers. PSK MIC or Digital Signature (RFC 7427) with X.509
 * certificates or raw public keys (RFC 7670). */
#include <string.h>
#include <openssl/crypto.h>
#include "gcks_int.h"
#include "log.h"

/* What the peer authenticated with, so we answer in kind. */
typedef struct peer_auth {
	gk_ident id;
	bool psk;
	const gk_member_policy *cred;   /* NULL for a certificate not listed anywhere */
} peer_auth;

/* The peer's public key: leaf certificate (verified to our CA and matching its ID), a raw
 * public key in CERT, or the key its policy entry holds. */
static gk_status peer_pubkey(gk_gcks *g, const gk_msg *m, const peer_auth *pa, EVP_PKEY **out)
{
	const gk_payload *cp = gk_msg_find(m, GK_PL_CERT);
	*out = NULL;
	if (cp && cp->body->cert.encoding == GK_CERT_X509_SIGNATURE) {
		X509 *leaf = NULL;
		STACK_OF(X509) *chain = sk_X509_new_null();
		gk_status st = gk_cert_from_der(cp->body->cert.data, &leaf);
		for (const gk_payload *p = cp; !st && (p = gk_msg_next(m, p, GK_PL_CERT));) {
			X509 *c = NULL;
			if (p->body->cert.encoding == GK_CERT_X509_SIGNATURE &&
			    gk_cert_from_der(p->body->cert.data, &c) == GK_OK)
				sk_X509_push(chain, c);
		}
		if (!st && !g->ca)
			st = GK_E_AUTH;
		if (!st)
			st = gk_cert_verify(leaf, chain, g->ca, 0);
		if (!st && !gk_cert_matches_id(leaf, pa->id.type, GK_CHUNK(pa->id.data, pa->id.len)))
			st = GK_E_AUTH;
		if (!st && !(*out = X509_get_pubkey(leaf)))
			st = GK_E_AUTH;
		X509_free(leaf);
		sk_X509_pop_free(chain, X509_free);
		return st;
	}
	if (!pa->cred || pa->cred->auth != GK_MAUTH_PUBKEY || !pa->cred->pubkey)
		return GK_E_AUTH;
	gk_chunk stored = GK_CHUNK(pa->cred->pubkey, pa->cred->pubkey_len);
	if (cp && (cp->body->cert.encoding != GK_CERT_RAW_PUBLIC_KEY || !gk_chunk_eq(cp->body->cert.data, stored)))
		return GK_E_AUTH;
	return gk_pubkey_from_spki(stored, out);
}

/* Verifies the peer's AUTH payload. */
static gk_status verify_peer(gk_gcks *g, gcks_sa *sa, const gk_msg *m, peer_auth *pa)
{
	const gk_payload *idg = gk_msg_find(m, GK_PL_IDg);
	gk_ident gid;
	bool have_gid = idg && gk_ident_from_payload(idg->body->id.id_type, idg->body->id.data, &gid) == GK_OK;
	const gk_payload *idp = gk_msg_find(m, GK_PL_IDi);
	const gk_pl_auth *auth = &gk_msg_find(m, GK_PL_AUTH)->body->auth;
	gk_wbuf octets;
	gk_status st;
	if (gk_ident_from_payload(idp->body->id.id_type, idp->body->id.data, &pa->id))
		return GK_E_AUTH;
	pa->cred = gcks_member_credentials(g, &pa->id, have_gid ? &gid : NULL);
	gk_wbuf_init(&octets, GK_MAX_MESSAGE * 2);
	st = gk_ike_sa_auth_octets(&sa->ike, true, idp->raw, &octets);
	if (st)
		goto out;
	if (auth->method == GK_AUTH_SHARED_KEY_MIC) {
		pa->psk = true;
		if (!pa->cred || pa->cred->auth != GK_MAUTH_PSK || !pa->cred->psk) {
			st = GK_E_AUTH;
			goto out;
		}
		st = gk_auth_psk_verify(sa->ike.suite.prf, GK_CHUNK(pa->cred->psk, pa->cred->psk_len),
					gk_wbuf_chunk(&octets), auth->data);
	} else if (auth->method == GK_AUTH_DIGITAL_SIGNATURE) {
		EVP_PKEY *pub = NULL;
		st = peer_pubkey(g, m, pa, &pub);
		if (!st)
			st = gk_auth_sig_verify(pub, GK_SIG_NONE, auth->data, gk_wbuf_chunk(&octets));
		EVP_PKEY_free(pub);
	} else {
		st = GK_E_AUTH;
	}
out:
	gk_wbuf_free(&octets);
	return st;
}

/* Appends IDr, [CERT], AUTH: our side of the authentication, by the method the peer used. */
static gk_status add_our_auth(gk_gcks *g, gcks_sa *sa, const peer_auth *pa, gcks_resp *r)
{
	gk_pl_id *id = gk_arena_alloc(&r->arena, sizeof(*id));
	gk_pl_auth *auth = gk_arena_alloc(&r->arena, sizeof(*auth));
	gk_wbuf body, octets, data;
	gk_status st = GK_E_NOMEM;
	if (!id || !auth)
		return st;
	*id = (gk_pl_id){ .id_type = g->id.type, .data = GK_CHUNK(g->id.data, g->id.len) };
	gk_wbuf_init(&body, 1024);
	gk_wbuf_init(&octets, GK_MAX_MESSAGE * 2);
	gk_wbuf_init(&data, 4096);
	if ((st = gk_codec_build(gk_payload_desc(GK_PL_IDr), id, &body)) != GK_OK)
		goto out;
	if ((st = gk_ike_sa_auth_octets(&sa->ike, false, gk_wbuf_chunk(&body), &octets)) != GK_OK)
		goto out;
	if (pa->psk) {
		uint8_t mic[64];
		size_t len = sizeof(mic);
		st = gk_auth_psk_compute(sa->ike.suite.prf, GK_CHUNK(pa->cred->psk, pa->cred->psk_len),
					 gk_wbuf_chunk(&octets), mic, &len);
		if (!st)
			gk_wbuf_put(&data, mic, len);
		OPENSSL_cleanse(mic, sizeof(mic));
		auth->method = GK_AUTH_SHARED_KEY_MIC;
	} else {
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
	gk_wbuf_free(&body);
	gk_wbuf_free(&octets);
	gk_wbuf_free(&data);
	return st;
}

/* Common part of GSA_AUTH and IKE_AUTH: authenticates the peer and answers with our AUTH.
 * Returns false (with the error notify in r) when authentication failed. */
static bool authenticate(gk_gcks *g, gcks_sa *sa, const gk_msg *m, gcks_resp *r, peer_auth *pa)
{
	char idt[GK_IDENT_TEXT_MAX];
	memset(pa, 0, sizeof(*pa));
	gk_status st = verify_peer(g, sa, m, pa);
	if (st) {
		gk_info("authentication of %s failed: %s", gk_ident_text(&pa->id, idt), gk_status_str(st));
		g->stats.refusals++;
		gcks_resp_notify(r, GK_N_AUTHENTICATION_FAILED, GK_CHUNK_EMPTY);
		r->close_after = true;
		return false;
	}
	if ((st = add_our_auth(g, sa, pa, r)) != GK_OK) {
		gk_err("cannot build our AUTH for %s: %s", gk_ident_text(&pa->id, idt), gk_status_str(st));
		r->n = 0;
		gcks_resp_notify(r, GK_N_AUTHENTICATION_FAILED, GK_CHUNK_EMPTY);
		r->close_after = true;
		return false;
	}
	sa->ike.peer_id = pa->id;
	sa->psk_auth = pa->psk;
	gcks_sa_established(g, sa);
	sa->deadline_ms = gcks_now(g) + (int64_t)g->cfg.ike_idle_timeout_s * 1000;
	return true;
}

void gcks_gsa_auth(gk_gcks *g, gcks_sa *sa, const gk_msg *m, gcks_resp *r)
{
	peer_auth pa;
	const gk_payload *idg = gk_msg_find(m, GK_PL_IDg);
	gk_ident gid;
	/* an unknown group leaves us without credentials to answer with: say so before AUTH */
	if (gk_ident_from_payload(idg->body->id.id_type, idg->body->id.data, &gid) ||
	    !gcks_group_find(g, &gid)) {
		g->stats.refusals++;
		gcks_resp_notify(r, GK_N_INVALID_GROUP_ID, GK_CHUNK_EMPTY);
		r->close_after = true;
		return;
	}
	if (!authenticate(g, sa, m, r, &pa))
		return;
	sa->g_ikev2 = true;
	if (!sa->ike.suite.kwa) {
		/* RFC 9838 4.5.4: without a negotiated KWA no key can be wrapped */
		gcks_resp_notify(r, GK_N_NO_PROPOSAL_CHOSEN, GK_CHUNK_EMPTY);
		return;
	}
	gcks_register(g, sa, &pa.id, idg, m, r);
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
	gk_info("IKE SA with %s established (IKE_AUTH%s)", gk_ident_text(&pa.id, idt),
		sa->ike.suite.kwa ? "" : ", no key wrap: registration not possible");
}

void gcks_informational(gk_gcks *g, gcks_sa *sa, const gk_msg *m, gcks_resp *r)
{
	(void)g;
	for (const gk_payload *p = NULL; (p = gk_msg_next(m, p, GK_PL_DELETE));)
		if (p->body->del.proto == GK_PROTO_IKE)
			r->close_after = true; /* answered with an empty INFORMATIONAL, then removed */
	if (!r->close_after)
		sa->deadline_ms = gcks_now(g) + (int64_t)g->cfg.ike_idle_timeout_s * 1000;
}
