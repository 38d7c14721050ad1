/* The GCKS's credentials: its identity, signing key and certificate from the store, the trust
 * anchors for member certificates (and the key ID CERTREQ names, RFC 7296 3.7), and the
 * verification of a member's X.509 certificate chain (RFC 7296 3.6). */
#include <stdio.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include "gcks_creds.h"

gk_status gcks_creds_load(gk_gcks *g, char *err, size_t errlen)
{
	gk_gcks_identity id;
	memset(&id, 0, sizeof(id));
	gk_status st = gk_store_identity_get(g->env.store, &id);
	if (st) {
		snprintf(err, errlen, "the database has no GCKS identity (run gcksctl init)");
		return st;
	}
	g->id = id.id;
	st = GK_E_INVAL;
	BIO *b = id.sign_key_pem ? BIO_new_mem_buf(id.sign_key_pem, -1) : NULL;
	g->sign_key = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	if (!g->sign_key || gk_sig_scheme_for_key(g->sign_key, &g->sign_scheme)) {
		snprintf(err, errlen, "the GCKS signing key in the database is missing or unusable");
		goto out;
	}
	gk_wbuf w;
	gk_wbuf_init(&w, sizeof(g->spki));
	if (gk_pubkey_to_spki(g->sign_key, &w) == GK_OK) {
		memcpy(g->spki, w.data, w.len);
		g->spki_len = w.len;
	}
	gk_wbuf_free(&w);
	if (id.cert_pem) {
		b = BIO_new_mem_buf(id.cert_pem, -1);
		X509 *c = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
		BIO_free(b);
		int n = c ? i2d_X509(c, &g->cert_der) : -1;
		X509_free(c);
		if (n <= 0) {
			snprintf(err, errlen, "the GCKS certificate in the database cannot be read");
			goto out;
		}
		g->cert_der_len = (size_t)n;
	}
	if (id.ca_pem) {
		b = BIO_new_mem_buf(id.ca_pem, -1);
		g->ca = X509_STORE_new();
		X509 *c;
		bool first = true;
		while (b && g->ca && (c = PEM_read_bio_X509(b, NULL, NULL, NULL))) {
			X509_STORE_add_cert(g->ca, c);
			if (first) {
				unsigned char *der = NULL;
				int n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(c), &der);
				unsigned int hl = 20;
				g->have_ca_keyid = n > 0 && EVP_Digest(der, (size_t)n, g->ca_keyid, &hl, EVP_sha1(), NULL);
				OPENSSL_free(der);
				first = false;
			}
			X509_free(c);
		}
		BIO_free(b);
	}
	st = GK_OK;
out:
	gk_gcks_identity_free(&id);
	return st;
}

/* The public key of an X.509 leaf certificate, verified to our CA and matching the ID. */
gk_status gcks_creds_peer_key(const gk_gcks *g, const gk_msg *m, const gk_payload *cp, const gk_ident *id,
			      EVP_PKEY **out)
{
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
	if (!st && !gk_cert_matches_id(leaf, id->type, GK_CHUNK(id->data, id->len)))
		st = GK_E_AUTH;
	if (!st && !(*out = X509_get_pubkey(leaf)))
		st = GK_E_AUTH;
	X509_free(leaf);
	sk_X509_pop_free(chain, X509_free);
	return st;
}

void gcks_creds_free(gk_gcks *g)
{
	EVP_PKEY_free(g->sign_key);
	OPENSSL_free(g->cert_der);
	X509_STORE_free(g->ca);
	g->sign_key = NULL;
	g->cert_der = NULL;
	g->ca = NULL;
}
