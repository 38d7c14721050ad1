#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "policy.h"
#include "payloads.h"
#include "algs.h"

static void secret_unref(gk_secret_held *h, size_t len)
{
	if (h && --h->refs == 0) {
		OPENSSL_cleanse(h, sizeof(*h) + len); /* the PSK and its key pad */
		free(h);
	}
}

void gk_member_policy_wipe(gk_member_policy *m)
{
	if (m->psk_held)
		secret_unref(m->psk_held, m->psk_len);
	else if (m->psk) {
		OPENSSL_cleanse(m->psk, m->psk_len);
		free(m->psk);
	}
	if (m->ppk) {
		OPENSSL_cleanse(m->ppk, m->ppk_len);
		free(m->ppk);
	}
	free(m->ppk_id);
	free(m->pubkey);
	gk_ident_held_unref(m->id);
	memset(m, 0, sizeof(*m));
}

void gk_group_policy_free(gk_group_policy *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->nmembers; i++)
		gk_member_policy_wipe(&g->members[i]);
	free(g->members);
	free(g->teks);
	memset(g, 0, sizeof(*g));
}

static uint8_t *dup_bytes(const uint8_t *p, size_t n)
{
	if (!p || !n)
		return NULL;
	uint8_t *d = malloc(n);
	if (d)
		memcpy(d, p, n);
	return d;
}

gk_status gk_group_policy_copy(const gk_group_policy *src, gk_group_policy *dst)
{
	*dst = *src;
	dst->teks = NULL;
	dst->members = NULL;
	dst->nteks = dst->nmembers = 0;
	if (src->nteks) {
		dst->teks = malloc(src->nteks * sizeof(*dst->teks));
		if (!dst->teks)
			goto nomem;
		memcpy(dst->teks, src->teks, src->nteks * sizeof(*dst->teks));
		dst->nteks = src->nteks;
	}
	if (src->nmembers) {
		dst->members = calloc(src->nmembers, sizeof(*dst->members));
		if (!dst->members)
			goto nomem;
		for (size_t i = 0; i < src->nmembers; i++) {
			gk_member_policy *m = &dst->members[i];
			*m = src->members[i];
			gk_ident_held_ref(m->id);
			if (m->psk_held)
				m->psk_held->refs++;
			else
				m->psk = dup_bytes(src->members[i].psk, src->members[i].psk_len);
			m->pubkey = dup_bytes(src->members[i].pubkey, src->members[i].pubkey_len);
			m->ppk = dup_bytes(src->members[i].ppk, src->members[i].ppk_len);
			m->ppk_id = dup_bytes(src->members[i].ppk_id, src->members[i].ppk_id_len);
			dst->nmembers = i + 1;
			if ((m->psk_len && !m->psk) || (m->pubkey_len && !m->pubkey) || (m->ppk_len && !m->ppk) ||
			    (m->ppk_id_len && !m->ppk_id))
				goto nomem;
		}
	}
	return GK_OK;
nomem:
	gk_group_policy_free(dst);
	return GK_E_NOMEM;
}

const gk_member_policy *gk_group_policy_member(const gk_group_policy *g, const gk_ident *id)
{
	for (size_t i = 0; i < g->nmembers; i++)
		if (gk_member_policy_is(&g->members[i], id))
			return &g->members[i];
	return NULL;
}

gk_status gk_member_policy_share_psk(gk_member_policy *m, gk_member_policy *prev)
{
	if (!prev || !m->psk || m->psk_held || !prev->psk || prev->psk_len != m->psk_len ||
	    CRYPTO_memcmp(prev->psk, m->psk, m->psk_len))
		return GK_OK;
	if (!prev->psk_held) {
		gk_secret_held *h = malloc(sizeof(*h) + prev->psk_len);
		if (!h)
			return GK_E_NOMEM;
		*h = (gk_secret_held){ .refs = 1 };
		memcpy(h->data, prev->psk, prev->psk_len);
		OPENSSL_cleanse(prev->psk, prev->psk_len);
		free(prev->psk);
		prev->psk_held = h;
		prev->psk = h->data;
	}
	OPENSSL_cleanse(m->psk, m->psk_len);
	free(m->psk);
	m->psk_held = prev->psk_held;
	m->psk_held->refs++;
	m->psk = m->psk_held->data;
	return GK_OK;
}

gk_status gk_member_policy_set_id(gk_member_policy *m, const gk_ident *id)
{
	gk_ident_held *h = gk_ident_hold(id);
	if (!h)
		return GK_E_NOMEM;
	gk_ident_held_unref(m->id);
	m->id = h;
	return GK_OK;
}

const gk_ident *gk_member_policy_id(const gk_member_policy *m, gk_ident *out)
{
	return gk_ident_held_get(m->id, out);
}

bool gk_member_policy_is(const gk_member_policy *m, const gk_ident *id)
{
	return gk_ident_held_eq(m->id, id);
}

bool gk_kek_src_is_gcks(const gk_ts_spec *src)
{
	static const uint8_t zero[16];
	size_t n = src->family == 6 ? 16 : 4;
	return (src->family == 4 || src->family == 6) && !memcmp(src->start, zero, n) && !memcmp(src->end, zero, n);
}

bool gk_group_policy_counter_mode(const gk_group_policy *g)
{
	for (size_t i = 0; i < g->nteks; i++) {
		const gk_encr_info *e = gk_encr_lookup(g->teks[i].encr);
		if (e && e->counter_mode)
			return true;
	}
	return false;
}

