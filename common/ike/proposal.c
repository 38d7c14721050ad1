#include <stdio.h>
#include <string.h>
#include "proposal.h"
#include "algs.h"

void gk_ike_offer_default(gk_ike_offer *o)
{
	static const gk_ike_offer def = {
		.encr = { { GK_ENCR_AES_GCM_16, 256 }, { GK_ENCR_AES_GCM_16, 128 },
			  { GK_ENCR_CHACHA20_POLY1305, 0 }, { GK_ENCR_AES_CBC, 256 }, { GK_ENCR_AES_CBC, 128 } },
		.nencr = 5,
		.prf = { GK_PRF_HMAC_SHA2_256, GK_PRF_HMAC_SHA2_384, GK_PRF_HMAC_SHA2_512 },
		.nprf = 3,
		.integ = { GK_INTEG_HMAC_SHA2_256_128, GK_INTEG_HMAC_SHA2_384_192, GK_INTEG_HMAC_SHA2_512_256 },
		.ninteg = 3,
		/* no MODP: its key exchange costs a responder milliseconds per unauthenticated
		 * request, ten to a hundred times the elliptic curves (measured in make bench) */
		.ke = { GK_KE_CURVE25519, GK_KE_ECP_256, GK_KE_ECP_384, GK_KE_ECP_521, GK_KE_CURVE448 },
		.nke = 5,
		.kwa = { GK_KWA_KW_5649_256, GK_KWA_KW_5649_128, GK_KWA_KW_5649_192 },
		.nkwa = 3,
		.kwa_required = false,
	};
	*o = def;
}

static bool is_aead(uint16_t encr)
{
	const gk_encr_info *e = gk_encr_lookup(encr);
	return e && e->aead;
}

static uint16_t key_bits_of(const gk_transform *t)
{
	const gk_attr *a = gk_attr_find(&t->attrs, GK_TATTR_KEY_LENGTH);
	return a && a->tv ? a->tv_value : 0;
}

static gk_status set_key_length(gk_arena *a, gk_transform *t, uint16_t bits)
{
	if (!bits)
		return GK_OK;
	gk_attr *attr = gk_arena_alloc(a, sizeof(*attr));
	if (!attr)
		return GK_E_NOMEM;
	*attr = (gk_attr){ .type = GK_TATTR_KEY_LENGTH, .tv = true, .tv_value = bits };
	t->attrs.items = attr;
	t->attrs.n = 1;
	return GK_OK;
}

/* Appends the transforms of one proposal of the offer: aead selects which ENCRs go in. */
static gk_status fill_proposal(const gk_ike_offer *o, bool aead, gk_arena *a, gk_proposal *p)
{
	size_t max = o->nencr + o->nprf + o->ninteg + o->nke + o->nkwa;
	for (size_t i = 0; i < GK_ADDKE_MAX; i++)
		max += o->naddke[i];
	gk_transform *t = gk_arena_calloc(a, max ? max : 1, sizeof(*t));
	size_t n = 0;
	if (!t)
		return GK_E_NOMEM;
	for (size_t i = 0; i < o->nencr; i++) {
		if (is_aead(o->encr[i].id) != aead)
			continue;
		t[n] = (gk_transform){ .type = GK_TT_ENCR, .id = o->encr[i].id };
		if (set_key_length(a, &t[n++], o->encr[i].key_bits))
			return GK_E_NOMEM;
	}
	if (n == 0)
		return GK_E_NOT_FOUND;
	for (size_t i = 0; i < o->nprf; i++)
		t[n++] = (gk_transform){ .type = GK_TT_PRF, .id = o->prf[i] };
	for (size_t i = 0; !aead && i < o->ninteg; i++)
		t[n++] = (gk_transform){ .type = GK_TT_INTEG, .id = o->integ[i] };
	for (size_t i = 0; i < o->nke; i++)
		t[n++] = (gk_transform){ .type = GK_TT_KE, .id = o->ke[i] };
	for (size_t i = 0; i < o->nkwa; i++)
		t[n++] = (gk_transform){ .type = GK_TT_KWA, .id = o->kwa[i] };
	for (size_t i = 0; i < GK_ADDKE_MAX; i++)
		for (size_t j = 0; j < o->naddke[i]; j++)
			t[n++] = (gk_transform){ .type = (uint8_t)(GK_TT_ADDKE1 + i), .id = o->addke[i][j] };
	p->proto = GK_PROTO_IKE;
	p->transforms.items = t;
	p->transforms.n = n;
	return GK_OK;
}

gk_status gk_ike_offer_to_sa(const gk_ike_offer *o, gk_arena *a, gk_pl_sa *out)
{
	gk_proposal *p = gk_arena_calloc(a, 2, sizeof(*p));
	size_t n = 0;
	if (!p)
		return GK_E_NOMEM;
	for (int aead = 1; aead >= 0; aead--) {
		gk_status st = fill_proposal(o, aead, a, &p[n]);
		if (st == GK_E_NOT_FOUND)
			continue;
		if (st)
			return st;
		p[n].num = (uint8_t)(n + 1);
		n++;
	}
	if (n == 0)
		return GK_E_INVAL;
	out->proposals.items = p;
	out->proposals.n = n;
	return GK_OK;
}

static bool accept_encr(const gk_ike_offer *o, uint16_t id, uint16_t bits)
{
	for (size_t i = 0; i < o->nencr; i++)
		if (o->encr[i].id == id && (o->encr[i].key_bits == bits ||
					    (id == GK_ENCR_CHACHA20_POLY1305 && bits == 256)))
			return true;
	return false;
}

static bool in_list(const uint16_t *l, size_t n, uint16_t v)
{
	for (size_t i = 0; i < n; i++)
		if (l[i] == v)
			return true;
	return false;
}

static bool ike_type(uint8_t type)
{
	return type == GK_TT_ENCR || type == GK_TT_PRF || type == GK_TT_INTEG || type == GK_TT_KE ||
	       type == GK_TT_KWA || GK_TT_IS_ADDKE(type);
}

/* Tries one proposal; GK_OK with *s filled when every transform type in it has an acceptable
 * choice and the mandatory ones are there. */
static gk_status try_proposal(const gk_proposal *p, const gk_ike_offer *acc, gk_ike_suite *s)
{
	bool have[16] = { 0 }, seen[16] = { 0 };
	memset(s, 0, sizeof(*s));
	if (p->proto != GK_PROTO_IKE || p->spi_size != 0)
		return GK_E_NOT_FOUND;
	for (size_t i = 0; i < p->transforms.n; i++) {
		const gk_transform *t = &p->transforms.items[i];
		if (!ike_type(t->type))
			return GK_E_NOT_FOUND; /* unknown or not for IKE: reject the proposal (3.3.6) */
		seen[t->type] = true;
		if (have[t->type])
			continue;
		bool ok = false;
		switch (t->type) {
		case GK_TT_ENCR:
			ok = accept_encr(acc, t->id, key_bits_of(t));
			if (ok) { s->encr = t->id; s->encr_key_bits = key_bits_of(t); }
			break;
		case GK_TT_PRF:
			ok = in_list(acc->prf, acc->nprf, t->id);
			if (ok) s->prf = t->id;
			break;
		case GK_TT_INTEG:
			ok = t->id == GK_INTEG_NONE || in_list(acc->integ, acc->ninteg, t->id);
			if (ok) s->integ = t->id;
			break;
		case GK_TT_KE:
			ok = in_list(acc->ke, acc->nke, t->id);
			if (ok) s->ke = t->id;
			break;
		case GK_TT_KWA:
			ok = in_list(acc->kwa, acc->nkwa, t->id);
			if (ok) s->kwa = t->id;
			break;
		default: { /* RFC 9370 2.2.1: ADDKE i, NONE being a choice only where listed */
			size_t slot = (size_t)(t->type - GK_TT_ADDKE1);
			ok = in_list(acc->addke[slot], acc->naddke[slot], t->id);
			if (ok) s->addke[slot] = t->id;
			s->addke_present |= (uint8_t)(1u << slot);
			break;
		}
		}
		have[t->type] = ok;
	}
	for (int ty = 1; ty < 16; ty++)
		if (seen[ty] && !have[ty])
			return GK_E_NOT_FOUND;
	if (!have[GK_TT_ENCR] || !have[GK_TT_PRF] || !have[GK_TT_KE])
		return GK_E_NOT_FOUND;
	if (acc->kwa_required && !have[GK_TT_KWA])
		return GK_E_NOT_FOUND;
	/* RFC 9370 2.2.1: an additional key exchange accepted without NONE is required */
	for (size_t i = 0; i < GK_ADDKE_MAX; i++)
		if (acc->naddke[i] && !have[GK_TT_ADDKE1 + i] && !in_list(acc->addke[i], acc->naddke[i], GK_KE_NONE))
			return GK_E_NOT_FOUND;
	if (is_aead(s->encr) ? s->integ != GK_INTEG_NONE : s->integ == GK_INTEG_NONE)
		return GK_E_NOT_FOUND;
	return GK_OK;
}

gk_status gk_ike_select(const gk_pl_sa *peer, const gk_ike_offer *accept, gk_ike_suite *chosen,
			uint8_t *prop_num)
{
	for (size_t i = 0; i < peer->proposals.n; i++) {
		if (try_proposal(&peer->proposals.items[i], accept, chosen) == GK_OK) {
			*prop_num = peer->proposals.items[i].num;
			return GK_OK;
		}
	}
	return GK_E_NOT_FOUND;
}

gk_status gk_ike_suite_to_sa(const gk_ike_suite *s, uint8_t prop_num, gk_arena *a, gk_pl_sa *out)
{
	gk_proposal *p = gk_arena_calloc(a, 1, sizeof(*p));
	gk_transform *t = gk_arena_calloc(a, 5 + GK_ADDKE_MAX, sizeof(*t));
	size_t n = 0;
	if (!p || !t)
		return GK_E_NOMEM;
	t[n] = (gk_transform){ .type = GK_TT_ENCR, .id = s->encr };
	if (set_key_length(a, &t[n++], s->encr_key_bits))
		return GK_E_NOMEM;
	t[n++] = (gk_transform){ .type = GK_TT_PRF, .id = s->prf };
	if (s->integ)
		t[n++] = (gk_transform){ .type = GK_TT_INTEG, .id = s->integ };
	t[n++] = (gk_transform){ .type = GK_TT_KE, .id = s->ke };
	if (s->kwa)
		t[n++] = (gk_transform){ .type = GK_TT_KWA, .id = s->kwa };
	for (size_t i = 0; i < GK_ADDKE_MAX; i++) /* each proposed ADDKE type is answered, NONE too */
		if (s->addke_present & (1u << i))
			t[n++] = (gk_transform){ .type = (uint8_t)(GK_TT_ADDKE1 + i), .id = s->addke[i] };
	*p = (gk_proposal){ .num = prop_num, .proto = GK_PROTO_IKE, .transforms = { t, n } };
	out->proposals.items = p;
	out->proposals.n = 1;
	return GK_OK;
}

gk_status gk_ike_suite_from_sa(const gk_pl_sa *sa, const gk_ike_offer *offered, gk_ike_suite *out)
{
	if (sa->proposals.n != 1)
		return GK_E_MALFORMED;
	const gk_proposal *p = &sa->proposals.items[0];
	unsigned count[16] = { 0 };
	for (size_t i = 0; i < p->transforms.n; i++) {
		uint8_t ty = p->transforms.items[i].type;
		if (ty >= 16 || ++count[ty] > 1)
			return GK_E_MALFORMED; /* a choice has one transform of each type */
	}
	return try_proposal(p, offered, out) == GK_OK ? GK_OK : GK_E_MALFORMED;
}

/* RFC 7296 3.3.1: a proposal that rekeys an IKE SA carries the sender's new 8-octet SPI. */
static gk_status rekey_spi(const gk_proposal *p, uint64_t *spi)
{
	if (p->spi_size != 8 || p->spi.len != 8 || !(*spi = gk_get_u64(p->spi.ptr)))
		return GK_E_MALFORMED;
	return GK_OK;
}

gk_status gk_ike_select_rekey(const gk_pl_sa *peer, const gk_ike_offer *accept_all, bool need_kwa,
			      gk_ike_suite *chosen, uint8_t *prop_num, uint64_t *spi)
{
	gk_ike_offer acc;
	const gk_ike_offer *accept = &acc;
	gk_ike_offer_no_addke(accept_all, &acc);
	for (size_t i = 0; i < peer->proposals.n; i++) {
		gk_proposal p = peer->proposals.items[i];
		if (p.proto != GK_PROTO_IKE)
			continue;
		if (rekey_spi(&p, spi))
			return GK_E_MALFORMED;
		p.spi_size = 0;
		if (try_proposal(&p, accept, chosen) == GK_OK && (!need_kwa || chosen->kwa)) {
			*prop_num = p.num;
			return GK_OK;
		}
	}
	return GK_E_NOT_FOUND;
}

gk_status gk_ike_suite_from_rekey_sa(const gk_pl_sa *sa, const gk_ike_offer *offered, gk_ike_suite *out,
				     uint64_t *spi)
{
	if (sa->proposals.n != 1 || rekey_spi(&sa->proposals.items[0], spi))
		return GK_E_MALFORMED;
	gk_proposal p = sa->proposals.items[0];
	p.spi_size = 0;
	gk_pl_sa one = { .proposals = { &p, 1 } };
	gk_ike_offer acc;
	gk_ike_offer_no_addke(offered, &acc);
	return gk_ike_suite_from_sa(&one, &acc, out);
}

gk_status gk_sa_set_ike_spi(gk_pl_sa *sa, gk_arena *a, uint64_t spi)
{
	uint8_t *b = gk_arena_alloc(a, 8);
	if (!b)
		return GK_E_NOMEM;
	gk_put_u64(b, spi);
	for (size_t i = 0; i < sa->proposals.n; i++) {
		gk_proposal *p = &sa->proposals.items[i];
		size_t n = 0; /* a rekey carries no ADDKE: that needs IKE_FOLLOWUP_KE (RFC 9370 2.2.4) */
		for (size_t j = 0; j < p->transforms.n; j++)
			if (!GK_TT_IS_ADDKE(p->transforms.items[j].type))
				p->transforms.items[n++] = p->transforms.items[j];
		p->transforms.n = n;
		sa->proposals.items[i].spi_size = 8;
		sa->proposals.items[i].spi = GK_CHUNK(b, 8);
	}
	return GK_OK;
}

void gk_ike_offer_require_addke(gk_ike_offer *o, const uint16_t *m, size_t n)
{
	for (size_t i = 0; i < GK_ADDKE_MAX; i++) {
		o->naddke[i] = i < n ? 1 : 0;
		o->addke[i][0] = i < n ? m[i] : GK_KE_NONE;
	}
}

void gk_ike_offer_no_addke(const gk_ike_offer *o, gk_ike_offer *out)
{
	*out = *o;
	memset(out->naddke, 0, sizeof(out->naddke));
}

bool gk_ike_offer_has_addke(const gk_ike_offer *o)
{
	for (size_t i = 0; i < GK_ADDKE_MAX; i++)
		if (o->naddke[i])
			return true;
	return false;
}

bool gk_ike_offer_has_ke(const gk_ike_offer *o, uint16_t group)
{
	return in_list(o->ke, o->nke, group);
}

char *gk_ike_suite_text(const gk_ike_suite *s, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s", gk_iana_str(GK_REG_ENCR, s->encr));
	if (s->encr_key_bits && n >= 0 && (size_t)n < len)
		n += snprintf(buf + n, len - (size_t)n, "/%u", s->encr_key_bits);
	if (s->integ && n >= 0 && (size_t)n < len)
		n += snprintf(buf + n, len - (size_t)n, " %s", gk_iana_str(GK_REG_INTEG, s->integ));
	if (n >= 0 && (size_t)n < len)
		n += snprintf(buf + n, len - (size_t)n, " %s %s", gk_iana_str(GK_REG_PRF, s->prf),
			      gk_iana_str(GK_REG_KE, s->ke));
	if (s->kwa && n >= 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, " %s", gk_iana_str(GK_REG_KWA, s->kwa));
	return buf;
}
