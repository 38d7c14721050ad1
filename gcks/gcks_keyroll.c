/* Rollover of the GCKS signing key (RFC 9838 2.4.1): the new public key goes to the members in
 * AUTH_KEY inside a GSA_REKEY signed with the current key, and only then signs. The new key is
 * stored first (schema 2: next_sign_key_pem), so a rollover a crash interrupted is announced
 * again and completed when gcksd starts. */
#define GK_LOG_SUBSYS GK_SUB_STORE /* log.h */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include "gcks_keyroll.h"
#include "gcks_rekey.h"
#include "log.h"

/* A fresh key of the same kind as the current one. */
static EVP_PKEY *same_kind(EVP_PKEY *cur)
{
	char curve[64];
	size_t len;
	switch (EVP_PKEY_get_base_id(cur)) {
	case EVP_PKEY_EC:
		if (!EVP_PKEY_get_utf8_string_param(cur, OSSL_PKEY_PARAM_GROUP_NAME, curve, sizeof(curve), &len))
			return NULL;
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
	case EVP_PKEY_ED25519:
		return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	case EVP_PKEY_ED448:
		return EVP_PKEY_Q_keygen(NULL, NULL, "ED448");
	case EVP_PKEY_RSA:
	case EVP_PKEY_RSA_PSS:
		return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)EVP_PKEY_get_bits(cur));
	default:
		return NULL;
	}
}

static char *to_pem(EVP_PKEY *k)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *out = NULL, *p;
	if (b && PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL)) {
		long n = BIO_get_mem_data(b, &p);
		if (n > 0 && (out = malloc((size_t)n + 1))) {
			memcpy(out, p, (size_t)n);
			out[n] = 0;
		}
	}
	BIO_free_all(b);
	return out;
}

static EVP_PKEY *from_pem(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	return k;
}

/* Announces next (AUTH_KEY in a rekey of every multicast group signing its rekeys), then makes it
 * the signing key, in memory and in the store. */
static gk_status complete(gk_gcks *g, gk_gcks_identity *id, EVP_PKEY *next, unsigned *groups)
{
	gk_wbuf w;
	gk_sig_scheme scheme;
	gk_status st = gk_sig_scheme_for_key(next, &scheme);
	if (st)
		return st;
	gk_wbuf_init(&w, sizeof(g->announce_spki));
	st = gk_pubkey_to_spki(next, &w);
	if (!st) {
		memcpy(g->announce_spki, w.data, w.len);
		g->announce_spki_len = w.len;
	}
	gk_wbuf_free(&w);
	*groups = 0;
	for (size_t i = 0; !st && i < g->ngroups; i++) {
		gcks_group *grp = &g->groups[i];
		if (grp->pol.rekey_transport != GK_REKEY_MULTICAST || !grp->pol.kek.present ||
		    grp->pol.kek.gcauth != GK_GCAUTH_DIGITAL_SIGNATURE)
			continue;
		/* the message is built and signed now with the current key; its copies are ready */
		if ((st = gcks_rekey_group(g, grp, true, NULL, "signing key rollover")) == GK_OK)
			(*groups)++;
	}
	g->announce_spki_len = 0;
	if (st)
		return st;
	char *old = id->sign_key_pem;
	id->sign_key_pem = id->next_sign_key_pem;
	id->next_sign_key_pem = NULL;
	st = gk_store_identity_set(g->env.store, id, "gcksd key rollover", gcks_wall(g));
	if (old) {
		OPENSSL_cleanse(old, strlen(old));
		free(old);
	}
	if (st)
		return st;
	EVP_PKEY_free(g->sign_key);
	g->sign_key = next;
	EVP_PKEY_up_ref(next);
	g->sign_scheme = scheme;
	gk_wbuf_init(&w, sizeof(g->spki));
	if (gk_pubkey_to_spki(next, &w) == GK_OK) {
		memcpy(g->spki, w.data, w.len);
		g->spki_len = w.len;
	}
	gk_wbuf_free(&w);
	return GK_OK;
}

gk_status gk_gcks_rotate_key(gk_gcks *g, char *msg, size_t msglen)
{
	gk_gcks_identity id;
	unsigned groups = 0;
	EVP_PKEY *next = same_kind(g->sign_key);
	gk_status st = next ? gk_store_identity_get(g->env.store, &id) : GK_E_CRYPTO;
	if (st) {
		EVP_PKEY_free(next);
		snprintf(msg, msglen, "cannot make a new signing key");
		return st;
	}
	if (id.next_sign_key_pem) {
		OPENSSL_cleanse(id.next_sign_key_pem, strlen(id.next_sign_key_pem));
		free(id.next_sign_key_pem);
	}
	/* durable before anything announces it */
	id.next_sign_key_pem = to_pem(next);
	st = id.next_sign_key_pem ? gk_store_identity_set(g->env.store, &id, "gcksd key rollover", gcks_wall(g)) : GK_E_NOMEM;
	if (!st)
		st = complete(g, &id, next, &groups);
	if (st)
		snprintf(msg, msglen, "signing key rollover failed: %s", gk_status_str(st));
	else
		snprintf(msg, msglen, "new signing key in use; AUTH_KEY announced in GSA_REKEY to %u multicast group%s",
			 groups, groups == 1 ? "" : "s");
	gk_info("%s", msg);
	EVP_PKEY_free(next);
	gk_gcks_identity_free(&id);
	return st;
}

gk_status gcks_keyroll_resume(gk_gcks *g)
{
	gk_gcks_identity id;
	unsigned groups = 0;
	gk_status st = gk_store_identity_get(g->env.store, &id);
	if (st || !id.next_sign_key_pem) {
		gk_gcks_identity_free(&id);
		return st == GK_E_NOT_FOUND ? GK_OK : st;
	}
	EVP_PKEY *next = from_pem(id.next_sign_key_pem);
	st = next ? complete(g, &id, next, &groups) : GK_E_CRYPTO;
	gk_info("interrupted signing key rollover completed (%u group%s): %s", groups, groups == 1 ? "" : "s",
		gk_status_str(st));
	EVP_PKEY_free(next);
	gk_gcks_identity_free(&id);
	return st;
}
