/* IKEv2 authentication: shared key MIC (RFC 7296 2.15) and Digital Signature (RFC 7427)
 * with RSA-PSS, ECDSA P-256/P-384/P-521, Ed25519 and Ed448 (RFC 8420); X.509 chains and raw
 * public keys (RFC 7670). */
#ifndef GK_AUTH_H
#define GK_AUTH_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include "chunk.h"
#include "prf.h"

/* Signature schemes, each with exactly one RFC 7427 AlgorithmIdentifier. */
typedef enum gk_sig_scheme {
	GK_SIG_NONE = 0,
	GK_SIG_RSA_PSS_SHA256,
	GK_SIG_RSA_PSS_SHA384,
	GK_SIG_RSA_PSS_SHA512,
	GK_SIG_RSA_PKCS1_SHA256,  /* verify-only interop with older peers */
	GK_SIG_ECDSA_SHA256,      /* P-256 */
	GK_SIG_ECDSA_SHA384,      /* P-384 */
	GK_SIG_ECDSA_SHA512,      /* P-521 */
	GK_SIG_ED25519,
	GK_SIG_ED448,
	GK_SIG_COUNT
} gk_sig_scheme;

const char *gk_sig_scheme_name(gk_sig_scheme s);
/* DER AlgorithmIdentifier of a scheme (static storage). */
gk_chunk gk_sig_algid(gk_sig_scheme s);
/* Exact match against the known AlgorithmIdentifiers; GK_E_UNSUPPORTED if none. */
gk_status gk_sig_scheme_from_algid(gk_chunk der, gk_sig_scheme *s);
/* The scheme gikev2 uses by default for a key (RSA -> PSS-SHA256, or the hash an id-RSASSA-PSS
 * key is pinned to; P-256/P-384/P-521 -> ECDSA-SHA256/384/512; Ed25519, Ed448).
 * GK_E_UNSUPPORTED for other key types and curves. */
gk_status gk_sig_scheme_for_key(EVP_PKEY *key, gk_sig_scheme *s);

/* InitiatorSignedOctets/ResponderSignedOctets = RealMessage | NonceData | prf(SK_p, RestOfIDPayload)
 * (RFC 7296 2.15), and after IKE_INTERMEDIATE exchanges IntAuth_i | IntAuth_r | IKE_AUTH_MID
 * (RFC 9242 3.3.2), as the list of their parts in order: they point into the message, the nonce
 * and this struct (the MACed ID, the Message ID), so nothing copies the message; a PSK MIC runs
 * over the parts as they are, a signature over their concatenation (gk_auth_octets_flat).
 * Holds no pointer it owns; gk_auth_octets_wipe clears it. */
#define GK_AUTH_PARTS_MAX 6
typedef struct gk_auth_octets {
	gk_chunk part[GK_AUTH_PARTS_MAX];
	size_t n;
	uint8_t maced_id[EVP_MAX_MD_SIZE];
	uint8_t msgid[4];
} gk_auth_octets;
/* The first three parts: RealMessage, NonceData, prf(SK_p, RestOfIDPayload). With work not NULL
 * the PRF runs on *work (made when NULL, else re-keyed), which stays keyed with SK_p for the
 * caller to re-key (gk_auth_psk_key) or free: one context for the MACed ID and the MIC. */
gk_status gk_auth_octets_make(gk_auth_octets *o, uint16_t prf, gk_chunk real_message, gk_chunk peer_nonce,
			      gk_chunk sk_p, gk_chunk id_payload_body, gk_prf_keyed **work);
/* One more part (GK_E_INVAL beyond GK_AUTH_PARTS_MAX). */
gk_status gk_auth_octets_add(gk_auth_octets *o, gk_chunk part);
/* Appends the concatenation of the parts to out. */
gk_status gk_auth_octets_flat(const gk_auth_octets *o, gk_wbuf *out);
void gk_auth_octets_wipe(gk_auth_octets *o);
/* The concatenated octets appended to out (gk_auth_octets_make, then _flat). */
gk_status gk_auth_signed_octets(uint16_t prf, gk_chunk real_message, gk_chunk peer_nonce,
				gk_chunk sk_p, gk_chunk id_payload_body, gk_wbuf *out);

/* The key of PSK AUTH payloads (RFC 7296 2.15): a PRF keyed with prf(Shared Secret, "Key Pad for
 * IKEv2"), so that the peer's AUTH and ours under one shared secret cost one key pad, and each
 * MIC starts from its keyed state. *pad is NULL for a new PRF context, or a context of the same
 * PRF to re-key (the one gk_auth_octets_make ran on). GK_E_INVAL for an empty PSK or a context
 * of another PRF, GK_E_UNSUPPORTED for an unknown PRF; on failure *pad is freed and NULL.
 * gk_prf_keyed_free wipes it. */
gk_status gk_auth_psk_key(uint16_t prf, gk_chunk psk, gk_prf_keyed **pad);
/* gk_auth_psk_key in two steps, for a caller that keeps the key pad of a PSK it uses often:
 * the key pad prf(psk, "Key Pad for IKEv2") into out (the PRF's output length, at most
 * EVP_MAX_MD_SIZE, stored in *out_len), computed on *work as gk_auth_psk_key does (on failure
 * out is wiped and *work freed and NULL). As secret as the PSK: the caller wipes it. */
gk_status gk_auth_psk_pad(uint16_t prf, gk_chunk psk, gk_prf_keyed **work, uint8_t *out, size_t *out_len);
/* Then *pad keyed with that key pad (of exactly the PRF's output length, else GK_E_INVAL), as
 * gk_auth_psk_key leaves it. */
gk_status gk_auth_psk_key_from_pad(uint16_t prf, gk_chunk kpad, gk_prf_keyed **pad);
/* AUTH = prf(key pad, octets): out holds gk_prf_keyed_len(pad) octets, stored in *out_len. */
gk_status gk_auth_psk_mic(gk_prf_keyed *pad, const gk_auth_octets *o, uint8_t *out, size_t *out_len);
/* Constant-time comparison with the received AUTH data; GK_E_AUTH on mismatch. */
gk_status gk_auth_psk_check(gk_prf_keyed *pad, const gk_auth_octets *o, gk_chunk auth_data);

/* The same over octets given whole, with the PSK itself (the key pad made each time): AUTH =
 * prf(prf(PSK, "Key Pad for IKEv2"), octets). out holds the PRF output length, which is stored
 * in *out_len. GK_E_INVAL for an empty PSK, GK_E_UNSUPPORTED for an unknown PRF. */
gk_status gk_auth_psk_compute(uint16_t prf, gk_chunk psk, gk_chunk octets, uint8_t *out, size_t *out_len);
/* Constant-time comparison with the received AUTH data; GK_E_AUTH on mismatch. */
gk_status gk_auth_psk_verify(uint16_t prf, gk_chunk psk, gk_chunk octets, gk_chunk auth_data);

/* RFC 7427 Authentication Data: ASN.1 length octet | AlgorithmIdentifier | signature, appended
 * to auth_data (left unchanged on failure). GK_E_UNSUPPORTED for GK_SIG_NONE and the
 * verify-only PKCS#1 scheme, GK_E_INVAL if the key cannot make this scheme. */
gk_status gk_auth_sig_sign(EVP_PKEY *priv, gk_sig_scheme s, gk_chunk octets, gk_wbuf *auth_data);
/* Checks that the AlgorithmIdentifier fits the key type, then verifies. GK_E_AUTH on a bad
 * signature, GK_E_UNSUPPORTED on an unknown algorithm, GK_E_MALFORMED on bad framing.
 * If want != GK_SIG_NONE the AlgorithmIdentifier must be exactly that scheme's (else GK_E_AUTH,
 * as is an AlgorithmIdentifier that does not fit the key). */
gk_status gk_auth_sig_verify(EVP_PKEY *pub, gk_sig_scheme want, gk_chunk auth_data, gk_chunk octets);

/* Raw public keys (RFC 7670) and AUTH_KEY attributes: DER SubjectPublicKeyInfo.
 * from_spki: GK_E_MALFORMED on bad DER or trailing octets, GK_E_UNSUPPORTED on an unknown key
 * algorithm. */
gk_status gk_pubkey_from_spki(gk_chunk der, EVP_PKEY **out);
gk_status gk_pubkey_to_spki(EVP_PKEY *key, gk_wbuf *out);

/* X.509: parse a DER certificate (CERT payload encoding 4). */
gk_status gk_cert_from_der(gk_chunk der, X509 **out);
/* Verifies leaf (with optional untrusted intermediates) against the trust store at time
 * `now` (0 = current time). GK_E_AUTH if the chain does not verify. */
gk_status gk_cert_verify(X509 *leaf, STACK_OF(X509) *untrusted, X509_STORE *trust, time_t now);
/* Does the certificate carry this identity (SAN dNSName/rfc822Name/iPAddress, or the subject
 * DN for ID_DER_ASN1_DN)? id_type is a GK_ID_* value. */
bool gk_cert_matches_id(X509 *cert, uint8_t id_type, gk_chunk id_data);

/* The signing key types a GCKS can be initialized with (gcksctl init --key-type), NULL-ended,
 * and a fresh key of one of them (NULL for an unknown name). RSA is 3072 bits and signs with
 * RSASSA-PSS (RFC 7427). */
extern const char *const gk_key_types[];
EVP_PKEY *gk_privkey_generate(const char *type);

/* PEM loading helpers (files given to gcksd/gmd). GK_E_NOT_FOUND / GK_E_IO if the file cannot
 * be opened, GK_E_MALFORMED if it does not parse; encrypted keys are refused, never prompted for.
 * The trust file holds one or more CA certificates. */
gk_status gk_privkey_load_pem(const char *path, EVP_PKEY **out);
gk_status gk_cert_load_pem(const char *path, X509 **out);
gk_status gk_trust_load_pem(const char *path, X509_STORE **out);

#endif
