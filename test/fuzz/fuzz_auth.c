/* Fuzzes what AUTH, CERT and AUTH_KEY carry from peers: RFC 7427 Authentication Data verified
 * with fixed P-256 and Ed25519 public keys over fixed octets, AlgorithmIdentifiers,
 * SubjectPublicKeyInfo (raw public keys, RFC 7670) and DER certificates. */
#include <string.h>
#include <openssl/x509.h>
#include "fuzz.h"
#include "fuzz_keys.h"
#include "auth.h"

static EVP_PKEY *load_pub(const uint8_t *der, size_t len)
{
	EVP_PKEY *k = NULL;
	FUZZ_ASSERT(gk_pubkey_from_spki(GK_CHUNK(der, len), &k) == GK_OK);
	return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Loaded once and kept for the life of the process, as a daemon keeps its peers' keys. */
	static EVP_PKEY *p256, *ed25519;
	if (!p256) {
		p256 = load_pub(fk_p256_spki, sizeof(fk_p256_spki));
		ed25519 = load_pub(fk_ed25519_spki, sizeof(fk_ed25519_spki));
	}
	if (size > 0xffff)
		return 0;
	uint8_t *copy = malloc(size ? size : 1); /* exact-size heap copy for ASan */
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	gk_chunk in = GK_CHUNK(copy, size);
	gk_chunk octets = GK_CHUNK(fk_signed_octets, sizeof(fk_signed_octets) - 1);

	/* AUTH method 14 data, checked as a GCKS checks a member (any scheme) and as a member
	 * checks a GSA_REKEY signed with an announced scheme. */
	gk_auth_sig_verify(p256, GK_SIG_NONE, in, octets);
	gk_auth_sig_verify(ed25519, GK_SIG_NONE, in, octets);
	gk_auth_sig_verify(p256, GK_SIG_ECDSA_SHA256, in, octets);
	gk_auth_sig_verify(ed25519, GK_SIG_ED25519, in, octets);

	gk_sig_scheme s = GK_SIG_NONE;
	if (gk_sig_scheme_from_algid(in, &s) == GK_OK) {
		gk_chunk again = gk_sig_algid(s);
		FUZZ_ASSERT(again.len == size && memcmp(again.ptr, copy, size) == 0);
	}

	EVP_PKEY *key = NULL;
	if (gk_pubkey_from_spki(in, &key) == GK_OK) {
		gk_wbuf w;
		gk_wbuf_init(&w, 0);
		gk_sig_scheme_for_key(key, &s);
		gk_pubkey_to_spki(key, &w);
		gk_auth_sig_verify(key, GK_SIG_NONE, in, octets);
		gk_wbuf_free(&w);
		EVP_PKEY_free(key);
	} else {
		FUZZ_ASSERT(key == NULL);
	}

	X509 *cert = NULL;
	if (gk_cert_from_der(in, &cert) == GK_OK) {
		static const char fqdn[] = "gm1.example", email[] = "gm1@example.org";
		static const uint8_t ip4[4] = { 192, 0, 2, 1 };
		gk_cert_matches_id(cert, GK_ID_FQDN, GK_CHUNK(fqdn, sizeof(fqdn) - 1));
		gk_cert_matches_id(cert, GK_ID_RFC822_ADDR, GK_CHUNK(email, sizeof(email) - 1));
		gk_cert_matches_id(cert, GK_ID_IPV4_ADDR, GK_CHUNK(ip4, 4));
		gk_cert_matches_id(cert, GK_ID_DER_ASN1_DN, in);
		EVP_PKEY *ck = X509_get0_pubkey(cert);
		if (ck)
			gk_sig_scheme_for_key(ck, &s);
		X509_free(cert);
	} else {
		FUZZ_ASSERT(cert == NULL);
	}
	free(copy);
	return 0;
}
