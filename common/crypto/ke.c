/* The key exchange method table (ke.h): the Diffie-Hellman groups of dh.c as entries. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dh.h"
#include "iana.h"
#include "ke.h"

struct gk_ke_state {
	const gk_ke_method *m;
	gk_dh *dh;      /* DH methods */
	void *kem_key;  /* KEM methods: their decapsulation key (an EVP_PKEY with OpenSSL 3.5) */
};

static gk_status dh_start(const gk_ke_method *m, gk_ke_state **out, gk_wbuf *ours)
{
	gk_ke_state *st = calloc(1, sizeof(*st));
	gk_status s = st ? gk_dh_new(m->id, &st->dh) : GK_E_NOMEM;
	if (!s)
		s = gk_dh_public(st->dh, ours);
	if (s) {
		gk_ke_state_free(st);
		return s;
	}
	st->m = m;
	*out = st;
	return GK_OK;
}

static gk_status dh_finish(gk_ke_state *st, gk_chunk theirs, gk_wbuf *shared)
{
	return gk_dh_derive(st->dh, theirs, shared);
}

/* A DH responder is a start and a finish with the initiator's value. */
static gk_status dh_respond(const gk_ke_method *m, gk_chunk theirs, gk_wbuf *ours, gk_wbuf *shared)
{
	gk_ke_state *st = NULL;
	gk_status s = dh_start(m, &st, ours);
	if (!s)
		s = dh_finish(st, theirs, shared);
	gk_ke_state_free(st);
	return s;
}

#define DH(id, name, len) { GK_KE_##id, name, len, len, false, dh_start, dh_respond, dh_finish }

static const gk_ke_method methods[] = {
	DH(CURVE25519, "x25519", 32),
	DH(CURVE448, "x448", 56),
	DH(ECP_256, "p256", 64),
	DH(ECP_384, "p384", 96),
	DH(ECP_521, "p521", 132),
	DH(MODP_2048, "modp2048", 256),
	DH(MODP_3072, "modp3072", 384),
	DH(MODP_4096, "modp4096", 512),
	/* A KEM is one more entry. ML-KEM-768 (draft-ietf-ipsecme-ikev2-mlkem: Transform ID 36,
	 * encapsulation key 1184 octets in KEi, ciphertext 1088 octets in KEr), once OpenSSL 3.5 is
	 * the floor, would read
	 *   { GK_KE_MLKEM768, "mlkem768", 1184, 1088, true, kem_start, kem_respond, kem_finish },
	 * with kem_start = EVP_PKEY_Q_keygen(NULL, NULL, "ML-KEM-768") and
	 * EVP_PKEY_get_octet_string_param(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY) into ours,
	 * kem_respond = EVP_PKEY_new_raw_public_key_ex(.., "ML-KEM-768", theirs) then
	 * EVP_PKEY_encapsulate_init/EVP_PKEY_encapsulate (ciphertext into ours, secret into shared),
	 * kem_finish = EVP_PKEY_decapsulate_init/EVP_PKEY_decapsulate with the kept key. The
	 * IKE_INTERMEDIATE code, the key update (intermediate.h) and the policy names need no change. */
};

const gk_ke_method *gk_ke_at(size_t i)
{
	return i < sizeof(methods) / sizeof(methods[0]) ? &methods[i] : NULL;
}

const gk_ke_method *gk_ke_by_id(uint16_t id)
{
	for (size_t i = 0; gk_ke_at(i); i++)
		if (methods[i].id == id)
			return &methods[i];
	return NULL;
}

const gk_ke_method *gk_ke_by_name(const char *name)
{
	for (size_t i = 0; name && gk_ke_at(i); i++)
		if (!strcmp(methods[i].name, name))
			return &methods[i];
	return NULL;
}

gk_status gk_ke_parse_list(const char *text, uint16_t *out, size_t max, size_t *n, char *err, size_t errlen)
{
	char name[32];
	*n = 0;
	for (const char *p = text; p && *p;) {
		size_t len = strcspn(p, ",");
		const gk_ke_method *m = NULL;
		if (len && len < sizeof(name)) {
			memcpy(name, p, len);
			name[len] = 0;
			m = gk_ke_by_name(name);
		}
		if (!m) {
			gk_seterr(err, errlen, "unknown key exchange method '%.*s' (x25519, x448, p256, p384, p521, "
				  "modp2048, modp3072, modp4096)", (int)(len < 32 ? len : 32), p);
			return GK_E_INVAL;
		}
		if (*n == max) {
			gk_seterr(err, errlen, "at most %zu additional key exchanges (RFC 9370 2.2.1)", max);
			return GK_E_INVAL;
		}
		out[(*n)++] = m->id;
		p += len;
		if (*p == ',' && !*++p) {
			gk_seterr(err, errlen, "empty item at the end of '%s'", text);
			return GK_E_INVAL;
		}
	}
	if (!*n) {
		gk_seterr(err, errlen, "no key exchange method given");
		return GK_E_INVAL;
	}
	return GK_OK;
}

bool gk_ke_list_text(const uint16_t *m, size_t n, char *buf, size_t len)
{
	size_t o = 0;
	if (!len)
		return false;
	buf[0] = 0;
	for (size_t i = 0; i < n; i++) {
		const gk_ke_method *km = gk_ke_by_id(m[i]);
		int w = km ? snprintf(buf + o, len - o, "%s%s", i ? "," : "", km->name) : -1;
		if (w < 0 || (size_t)w >= len - o)
			return false;
		o += (size_t)w;
	}
	return true;
}

gk_status gk_ke_start(const gk_ke_method *m, gk_ke_state **st, gk_wbuf *ours)
{
	if (!m || !st || !ours)
		return GK_E_INVAL;
	return m->start(m, st, ours);
}

gk_status gk_ke_respond(const gk_ke_method *m, gk_chunk theirs, gk_wbuf *ours, gk_wbuf *shared)
{
	if (!m || !ours || !shared)
		return GK_E_INVAL;
	if (theirs.len != m->init_len)
		return GK_E_BAD_KE; /* RFC 9370 2.2.2: a KE payload of the wrong size is invalid */
	return m->respond(m, theirs, ours, shared);
}

gk_status gk_ke_finish(gk_ke_state *st, gk_chunk theirs, gk_wbuf *shared)
{
	if (!st || !shared)
		return GK_E_INVAL;
	if (theirs.len != st->m->resp_len)
		return GK_E_BAD_KE;
	return st->m->finish(st, theirs, shared);
}

void gk_ke_state_free(gk_ke_state *st)
{
	if (!st)
		return;
	gk_dh_free(st->dh);
	free(st);
}
