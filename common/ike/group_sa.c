#include <arpa/inet.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <openssl/crypto.h>
#include "group_sa.h"
#include "algs.h"
#include "ikekeys.h"
#include "keywrap.h"

size_t gk_ts_addr_len(uint8_t family)
{
	return family == 4 ? 4 : 16;
}

bool gk_ts_eq(const gk_ts_spec *a, const gk_ts_spec *b)
{
	size_t n = gk_ts_addr_len(a->family);
	return a->family == b->family && !memcmp(a->start, b->start, n) && !memcmp(a->end, b->end, n) &&
	       a->ip_proto == b->ip_proto && a->port_lo == b->port_lo && a->port_hi == b->port_hi;
}

/* ---- traffic selector specs ---- */

void gk_ts_spec_to_ts(const gk_ts_spec *t, gk_ts *out)
{
	size_t n = t->family == 6 ? 16 : 4;
	out->type = t->family == 6 ? GK_TS_IPV6_ADDR_RANGE : GK_TS_IPV4_ADDR_RANGE;
	out->ip_proto = t->ip_proto;
	out->start_port = t->port_lo;
	out->end_port = t->port_hi;
	out->start_addr = GK_CHUNK(t->start, n);
	out->end_addr = GK_CHUNK(t->end, n);
}

gk_status gk_ts_spec_from_ts(const gk_ts *ts, gk_ts_spec *out)
{
	memset(out, 0, sizeof(*out));
	size_t n = ts->type == GK_TS_IPV6_ADDR_RANGE ? 16 : 4;
	if ((ts->type != GK_TS_IPV4_ADDR_RANGE && ts->type != GK_TS_IPV6_ADDR_RANGE) ||
	    ts->start_addr.len != n || ts->end_addr.len != n)
		return GK_E_MALFORMED;
	out->family = n == 16 ? 6 : 4;
	memcpy(out->start, ts->start_addr.ptr, n);
	memcpy(out->end, ts->end_addr.ptr, n);
	out->ip_proto = ts->ip_proto;
	out->port_lo = ts->start_port;
	out->port_hi = ts->end_port;
	return GK_OK;
}

/* Prefix length when [start, end] is exactly one CIDR block, else -1. */
static int cidr_len(const gk_ts_spec *t)
{
	size_t n = t->family == 6 ? 16 : 4, i = 0;
	int bits = 0;
	for (; i < n && t->start[i] == t->end[i]; i++)
		bits += 8;
	if (i == n)
		return bits;
	uint8_t diff = t->start[i] ^ t->end[i];
	int host = 0;
	while (host < 8 && (diff & (1u << host)))
		host++;
	if (diff != (uint8_t)((1u << host) - 1) || (t->start[i] & diff) || (t->end[i] & diff) != diff)
		return -1;
	bits += 8 - host;
	for (i++; i < n; i++)
		if (t->start[i] != 0 || t->end[i] != 0xff)
			return -1;
	return bits;
}

char *gk_ts_spec_text(const gk_ts_spec *t, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?", b[INET6_ADDRSTRLEN] = "?";
	int af = t->family == 6 ? AF_INET6 : AF_INET;
	inet_ntop(af, t->start, a, sizeof(a));
	int plen = cidr_len(t);
	if (plen >= 0) {
		snprintf(buf, len, "%s/%d", a, plen);
	} else {
		inet_ntop(af, t->end, b, sizeof(b));
		snprintf(buf, len, "%s-%s", a, b);
	}
	return buf;
}

/* ---- encoding ---- */

/* The payloads must not point into the caller's group state, which may be wiped before they
 * are built: every octet string goes into the arena. */
static gk_chunk adup(gk_arena *a, const void *p, size_t n)
{
	void *d = n ? gk_arena_dup(a, p, n) : NULL;
	return GK_CHUNK(d, d ? n : 0);
}

static gk_status ts_to_arena(gk_arena *a, const gk_ts_spec *t, gk_ts *out)
{
	gk_ts_spec_to_ts(t, out);
	out->start_addr = adup(a, out->start_addr.ptr, out->start_addr.len);
	out->end_addr = adup(a, out->end_addr.ptr, out->end_addr.len);
	return out->start_addr.ptr && out->end_addr.ptr ? GK_OK : GK_E_NOMEM;
}

static gk_attr *attr_u32(gk_arena *a, gk_attr *at, uint16_t type, uint32_t v)
{
	uint8_t *p = gk_arena_alloc(a, 4);
	if (!p)
		return NULL;
	gk_put_u32(p, v);
	*at = (gk_attr){ .type = type, .value = GK_CHUNK(p, 4) };
	return at;
}

static gk_status encode_transforms(const gk_group_sa *sa, gk_gsa_context ctx, gk_arena *a,
				   gk_transform_list *out)
{
	gk_transform *t = gk_arena_calloc(a, 5, sizeof(*t));
	gk_attr *kl = gk_arena_calloc(a, 2, sizeof(*kl));
	size_t n = 0;
	if (!t || !kl)
		return GK_E_NOMEM;
	if (sa->proto != GK_PROTO_AH) {
		t[n] = (gk_transform){ .type = GK_TT_ENCR, .id = sa->encr };
		if (sa->encr_key_bits) {
			kl[0] = (gk_attr){ .type = GK_TATTR_KEY_LENGTH, .tv = true, .tv_value = sa->encr_key_bits };
			t[n].attrs = (gk_attr_list){ &kl[0], 1 };
		}
		n++;
	}
	if (sa->integ)
		t[n++] = (gk_transform){ .type = GK_TT_INTEG, .id = sa->integ };
	if (sa->proto == GK_PROTO_GIKE_UPDATE) {
		t[n++] = (gk_transform){ .type = GK_TT_KWA, .id = sa->kwa };
		if (ctx == GK_GSA_REGISTRATION && sa->gcauth) {
			t[n] = (gk_transform){ .type = GK_TT_GCAUTH, .id = sa->gcauth };
			if (sa->gcauth == GK_GCAUTH_DIGITAL_SIGNATURE) {
				/* RFC 9838 4.4.2.1.1: the attribute names the algorithm; an empty one
				 * would only make every member refuse the policy */
				if (!sa->sig_algid_len)
					return GK_E_INVAL;
				kl[1] = (gk_attr){ .type = GK_TATTR_SIG_ALG_ID,
						   .value = adup(a, sa->sig_algid, sa->sig_algid_len) };
				t[n].attrs = (gk_attr_list){ &kl[1], 1 };
			}
			n++;
		}
	} else {
		t[n++] = (gk_transform){ .type = GK_TT_SN, .id = sa->sn };
	}
	out->items = t;
	out->n = n;
	return GK_OK;
}

static gk_status encode_policy(const gk_group_sa *sa, gk_gsa_context ctx, gk_arena *a, gk_gsa_policy *p)
{
	gk_attr *at = gk_arena_calloc(a, 2 + GK_GROUP_MAX_NEXT_SPI, sizeof(*at));
	size_t n = 0;
	if (!at)
		return GK_E_NOMEM;
	p->proto = sa->proto;
	p->spi_size = (uint8_t)sa->spi_len;
	p->spi = adup(a, sa->spi, sa->spi_len);
	gk_status st = ts_to_arena(a, &sa->src, &p->src);
	if (!st)
		st = ts_to_arena(a, &sa->dst, &p->dst);
	if (!st)
		st = encode_transforms(sa, ctx, a, &p->transforms);
	if (st)
		return st;
	if (sa->lifetime && !attr_u32(a, &at[n++], GK_GSAA_GSA_KEY_LIFETIME, sa->lifetime))
		return GK_E_NOMEM;
	if (sa->proto == GK_PROTO_GIKE_UPDATE && sa->initial_msgid &&
	    !attr_u32(a, &at[n++], GK_GSAA_GSA_INITIAL_MESSAGE_ID, sa->initial_msgid))
		return GK_E_NOMEM;
	for (size_t i = 0; i < sa->n_next_spi && i < GK_GROUP_MAX_NEXT_SPI; i++)
		at[n++] = (gk_attr){ .type = GK_GSAA_GSA_NEXT_SPI, .value = adup(a, sa->next_spi[i], sa->spi_len) };
	p->attrs = (gk_attr_list){ at, n };
	return GK_OK;
}

static gk_status encode_gw(const gk_group_state *gs, gk_arena *a, gk_gsa_policy *p)
{
	gk_attr *at = gk_arena_calloc(a, 3, sizeof(*at));
	size_t n = 0;
	if (!at)
		return GK_E_NOMEM;
	if (gs->has_atd)
		at[n++] = (gk_attr){ .type = GK_GWPA_GWP_ATD, .tv = true, .tv_value = gs->atd };
	if (gs->has_dtd)
		at[n++] = (gk_attr){ .type = GK_GWPA_GWP_DTD, .tv = true, .tv_value = gs->dtd };
	if (gs->has_sender_id_bits)
		at[n++] = (gk_attr){ .type = GK_GWPA_GWP_SENDER_ID_BITS, .tv = true, .tv_value = gs->sender_id_bits };
	*p = (gk_gsa_policy){ .proto = 0, .attrs = { at, n } };
	return GK_OK;
}

/* A Rekey SA whose keying material travels under intermediate keys (RFC 9838 3.3, A.2, A.4):
 * one SA_KEY per key that wraps it, none under the default KWK, whose holders may include
 * evicted members. */
static gk_status encode_kh_bag(const gk_group_state *gs, const gk_group_sa *sa, gk_arena *a, gk_key_bag *b)
{
	gk_attr *at = gk_arena_calloc(a, gs->nkh_sa_keys, sizeof(*at));
	if (!at)
		return GK_E_NOMEM;
	for (size_t i = 0; i < gs->nkh_sa_keys; i++)
		at[i] = (gk_attr){ .type = GK_GKBA_SA_KEY,
				   .value = adup(a, gs->kh_sa_keys[i].value.ptr, gs->kh_sa_keys[i].value.len) };
	*b = (gk_key_bag){ .proto = sa->proto, .spi_size = (uint8_t)sa->spi_len,
			   .spi = adup(a, sa->spi, sa->spi_len), .attrs = { at, gs->nkh_sa_keys } };
	return GK_OK;
}

/* The SA's key wrapped under the KWK (w, set up once for every SA of the message) straight into
 * the message's arena. */
static gk_status encode_bag(const gk_group_sa *sa, gk_kw_wrapper *w, gk_arena *a, gk_key_bag *b)
{
	if (!sa->keymat_len || sa->keymat_len > GK_WRAP_MAX_KEY)
		return sa->keymat_len ? GK_E_TOO_BIG : GK_E_INVAL;
	size_t len = gk_wrapped_key_len(sa->keymat_len);
	gk_attr *at = gk_arena_alloc(a, sizeof(*at));
	uint8_t *v = gk_arena_alloc(a, len);
	if (!at || !v)
		return GK_E_NOMEM;
	gk_status st = gk_kw_wrapper_build(w, 0, 0, GK_CHUNK(sa->keymat, sa->keymat_len), v);
	if (st)
		return st;
	*at = (gk_attr){ .type = GK_GKBA_SA_KEY, .value = GK_CHUNK(v, len) };
	*b = (gk_key_bag){ .proto = sa->proto, .spi_size = (uint8_t)sa->spi_len,
			   .spi = adup(a, sa->spi, sa->spi_len), .attrs = { at, 1 } };
	return GK_OK;
}

static gk_status encode_member_bag(const gk_group_state *gs, gk_gsa_context ctx, gk_arena *a, gk_key_bag *b)
{
	gk_attr *at = gk_arena_calloc(a, 1 + gs->nsender_ids + gs->nwrap_keys, sizeof(*at));
	size_t n = 0;
	if (!at)
		return GK_E_NOMEM;
	/* WRAP_KEY: the member's key path at registration (A.2), replaced keys in a GSA_REKEY that
	 * evicts members (A.4) */
	for (size_t i = 0; i < gs->nwrap_keys; i++)
		at[n++] = (gk_attr){ .type = GK_MKBA_WRAP_KEY,
				     .value = adup(a, gs->wrap_keys[i].value.ptr, gs->wrap_keys[i].value.len) };
	if (gs->auth_key_len)
		at[n++] = (gk_attr){ .type = GK_MKBA_AUTH_KEY, .value = adup(a, gs->auth_key, gs->auth_key_len) };
	for (size_t i = 0; ctx == GK_GSA_REGISTRATION && i < gs->nsender_ids; i++)
		if (!attr_u32(a, &at[n++], GK_MKBA_GM_SENDER_ID, gs->sender_ids[i]))
			return GK_E_NOMEM;
	*b = (gk_key_bag){ .proto = 0, .attrs = { at, n } };
	return GK_OK;
}

gk_status gk_group_state_encode(const gk_group_state *gs, gk_gsa_context ctx, uint16_t kwa,
				gk_chunk kwk, gk_arena *a, gk_pl_gsa *gsa, gk_pl_kd *kd)
{
	gk_gsa_policy *pol = gk_arena_calloc(a, gs->nsas + 1, sizeof(*pol));
	gk_key_bag *bags = gk_arena_calloc(a, gs->nsas + 1, sizeof(*bags));
	size_t np = 0, nb = 0;
	gk_status st = GK_OK;
	gk_kw_wrapper w = { 0 };
	if (!pol || !bags)
		return GK_E_NOMEM;
	if (gs->nsas == 0 || gs->nsas > GK_GROUP_MAX_SAS)
		return GK_E_INVAL;
	for (size_t i = 0; i < gs->nsas; i++) {
		bool kh = gs->nkh_sa_keys && gs->sas[i].proto == GK_PROTO_GIKE_UPDATE;
		if ((st = encode_policy(&gs->sas[i], ctx, a, &pol[np++])) != GK_OK ||
		    (!kh && !w.ctx && (st = gk_kw_wrapper_init(&w, kwa, kwk)) != GK_OK))
			break;
		st = kh ? encode_kh_bag(gs, &gs->sas[i], a, &bags[nb++]) : encode_bag(&gs->sas[i], &w, a, &bags[nb++]);
		if (st != GK_OK)
			break;
	}
	gk_kw_wrapper_clear(&w); /* wipes the KWK's key schedule */
	if (st != GK_OK)
		return st;
	if ((gs->has_atd || gs->has_dtd || gs->has_sender_id_bits) &&
	    (st = encode_gw(gs, a, &pol[np++])) != GK_OK)
		return st;
	/* a member key bag: AUTH_KEY and Sender-IDs at registration; in rekeys only a new AUTH_KEY
	 * (RFC 9838 section 5) and the WRAP_KEYs of an eviction (Appendix A.4) */
	if ((gs->auth_key_len || gs->nwrap_keys || (ctx == GK_GSA_REGISTRATION && gs->nsender_ids)) &&
	    (st = encode_member_bag(gs, ctx, a, &bags[nb++])) != GK_OK)
		return st;
	gsa->policies.items = pol;
	gsa->policies.n = np;
	kd->bags.items = bags;
	kd->bags.n = nb;
	return GK_OK;
}

/* ---- decoding ---- */

#define FAIL(msg) do { gk_seterr(err, errlen, msg); return GK_E_MALFORMED; } while (0)

static gk_status decode_gw(const gk_gsa_policy *p, gk_group_state *gs, char *err, size_t errlen)
{
	if (gs->has_gw)
		FAIL("more than one GW policy");
	gs->has_gw = true;
	for (size_t i = 0; i < p->attrs.n; i++) {
		const gk_attr *a = &p->attrs.items[i];
		bool *has;
		uint16_t *v;
		switch (a->type) {
		case GK_GWPA_GWP_ATD: has = &gs->has_atd; v = &gs->atd; break;
		case GK_GWPA_GWP_DTD: has = &gs->has_dtd; v = &gs->dtd; break;
		case GK_GWPA_GWP_SENDER_ID_BITS: has = &gs->has_sender_id_bits; v = &gs->sender_id_bits; break;
		default: continue; /* unknown GW attributes carry nothing we act on */
		}
		if (!a->tv)
			FAIL("GW policy attribute must be in TV format");
		if (*has)
			FAIL("GW policy attribute repeated");
		*has = true;
		*v = a->tv_value;
	}
	return GK_OK;
}

static gk_status decode_transforms(const gk_gsa_policy *p, gk_gsa_context ctx, gk_group_sa *sa,
				   char *err, size_t errlen)
{
	unsigned cnt[16] = { 0 };
	for (size_t i = 0; i < p->transforms.n; i++) {
		const gk_transform *t = &p->transforms.items[i];
		if (t->type >= 16)
			FAIL("unknown transform type in GSA policy");
		if (++cnt[t->type] > 1)
			FAIL("transform type repeated in GSA policy");
		const gk_attr *kl = gk_attr_find(&t->attrs, GK_TATTR_KEY_LENGTH);
		switch (t->type) {
		case GK_TT_ENCR:
			sa->encr = t->id;
			sa->encr_key_bits = kl && kl->tv ? kl->tv_value : 0;
			break;
		case GK_TT_INTEG: sa->integ = t->id; break;
		case GK_TT_SN: sa->sn = t->id; break;
		case GK_TT_KWA: sa->kwa = t->id; break;
		case GK_TT_GCAUTH: {
			sa->gcauth = t->id;
			const gk_attr *alg = gk_attr_find(&t->attrs, GK_TATTR_SIG_ALG_ID);
			if (alg && (alg->tv || alg->value.len > sizeof(sa->sig_algid)))
				FAIL("bad Signature Algorithm Identifier attribute");
			if (alg) {
				memcpy(sa->sig_algid, alg->value.ptr, alg->value.len);
				sa->sig_algid_len = alg->value.len;
			}
			break;
		}
		default:
			FAIL("transform type not allowed in GSA policy");
		}
	}
	const gk_encr_info *e = sa->encr ? gk_encr_lookup(sa->encr) : NULL;
	bool aead = e && e->aead;
	if (sa->encr && (!e || !gk_encr_key_bits_ok(e, sa->encr_key_bits)))
		FAIL("unsupported encryption transform or key length");
	if (e && e->implicit_iv)
		FAIL("implicit-IV encryption transforms are not allowed (RFC 9838 2.7)");
	if (sa->integ && !gk_integ_lookup(sa->integ))
		FAIL("unsupported integrity transform");
	switch (sa->proto) {
	case GK_PROTO_GIKE_UPDATE:
		if (!cnt[GK_TT_ENCR] || !cnt[GK_TT_KWA] || cnt[GK_TT_SN])
			FAIL("Rekey SA policy needs ENCR and KWA and no SN");
		if (!aead && !sa->integ)
			FAIL("Rekey SA with a non-AEAD cipher needs an integrity transform");
		if (aead && sa->integ)
			FAIL("AEAD cipher with an integrity transform");
		if (!gk_kwa_supported(sa->kwa))
			FAIL("unsupported key wrap algorithm");
		if (ctx == GK_GSA_REGISTRATION && !cnt[GK_TT_GCAUTH])
			FAIL("Rekey SA policy at registration needs a GCAUTH transform");
		if (ctx == GK_GSA_REKEY && cnt[GK_TT_GCAUTH])
			FAIL("GCAUTH must not appear in rekey messages");
		if (cnt[GK_TT_GCAUTH] && sa->gcauth != GK_GCAUTH_IMPLICIT &&
		    sa->gcauth != GK_GCAUTH_DIGITAL_SIGNATURE)
			FAIL("unknown GCAUTH method");
		if ((sa->gcauth == GK_GCAUTH_DIGITAL_SIGNATURE) != (sa->sig_algid_len > 0))
			FAIL("Signature Algorithm Identifier goes with, and only with, Digital Signature");
		break;
	case GK_PROTO_ESP:
		if (!cnt[GK_TT_ENCR] || !cnt[GK_TT_SN] || cnt[GK_TT_KWA] || cnt[GK_TT_GCAUTH])
			FAIL("ESP policy needs ENCR and SN, and no KWA or GCAUTH");
		if (aead && sa->integ)
			FAIL("AEAD cipher with an integrity transform");
		break;
	case GK_PROTO_AH:
		if (cnt[GK_TT_ENCR] || !cnt[GK_TT_INTEG] || !sa->integ || !cnt[GK_TT_SN] ||
		    cnt[GK_TT_KWA] || cnt[GK_TT_GCAUTH])
			FAIL("AH policy needs INTEG and SN only");
		break;
	}
	if (sa->proto != GK_PROTO_GIKE_UPDATE && sa->sn != GK_SN_SEQ32 && sa->sn != GK_SN_UNSPEC32)
		FAIL("sequence numbers must be 32-bit (ESN is not allowed for multicast SAs)");
	return GK_OK;
}

static gk_status decode_attrs(const gk_gsa_policy *p, gk_group_sa *sa, char *err, size_t errlen)
{
	bool life = false, imid = false;
	for (size_t i = 0; i < p->attrs.n; i++) {
		const gk_attr *a = &p->attrs.items[i];
		switch (a->type) {
		case GK_GSAA_GSA_KEY_LIFETIME:
			if (life || a->tv || a->value.len != 4)
				FAIL("bad or repeated GSA_KEY_LIFETIME");
			life = true;
			sa->lifetime = gk_get_u32(a->value.ptr);
			break;
		case GK_GSAA_GSA_INITIAL_MESSAGE_ID:
			if (imid || a->tv || a->value.len != 4 || sa->proto != GK_PROTO_GIKE_UPDATE)
				FAIL("bad or misplaced GSA_INITIAL_MESSAGE_ID");
			imid = true;
			sa->initial_msgid = gk_get_u32(a->value.ptr);
			break;
		case GK_GSAA_GSA_NEXT_SPI:
			if (a->tv || a->value.len != sa->spi_len)
				FAIL("GSA_NEXT_SPI of the wrong size");
			if (sa->n_next_spi < GK_GROUP_MAX_NEXT_SPI)
				memcpy(sa->next_spi[sa->n_next_spi++], a->value.ptr, sa->spi_len);
			break;
		default:
			break; /* attributes we do not know do not change what we install */
		}
	}
	return GK_OK;
}

static gk_status decode_policy(const gk_gsa_policy *p, gk_gsa_context ctx, gk_group_state *gs,
			       char *err, size_t errlen)
{
	if (p->proto != GK_PROTO_ESP && p->proto != GK_PROTO_AH && p->proto != GK_PROTO_GIKE_UPDATE)
		FAIL("unknown protocol in GSA policy");
	if (gs->nsas == GK_GROUP_MAX_SAS)
		FAIL("too many SAs in GSA payload");
	size_t want = p->proto == GK_PROTO_GIKE_UPDATE ? 16 : 4;
	if (p->spi.len != want)
		FAIL("SPI size does not fit the protocol");
	for (size_t i = 0; i < gs->nsas; i++) {
		if (gs->sas[i].proto == p->proto && !memcmp(gs->sas[i].spi, p->spi.ptr, want))
			FAIL("SPI repeated in GSA payload");
		if (p->proto == GK_PROTO_GIKE_UPDATE && gs->sas[i].proto == GK_PROTO_GIKE_UPDATE)
			FAIL("more than one Rekey SA policy");
	}
	gk_group_sa *sa = &gs->sas[gs->nsas];
	memset(sa, 0, sizeof(*sa));
	sa->proto = p->proto;
	sa->spi_len = want;
	memcpy(sa->spi, p->spi.ptr, want);
	if (gk_ts_spec_from_ts(&p->src, &sa->src) || gk_ts_spec_from_ts(&p->dst, &sa->dst))
		FAIL("bad traffic selector in GSA policy");
	gk_status st = decode_transforms(p, ctx, sa, err, errlen);
	if (!st)
		st = decode_attrs(p, sa, err, errlen);
	if (!st)
		gs->nsas++;
	return st;
}

static gk_group_sa *find_sa(gk_group_state *gs, const gk_key_bag *b)
{
	for (size_t i = 0; i < gs->nsas; i++)
		if (gs->sas[i].proto == b->proto && b->spi.len == gs->sas[i].spi_len &&
		    !memcmp(gs->sas[i].spi, b->spi.ptr, b->spi.len))
			return &gs->sas[i];
	return NULL;
}

/* The wrapped keys of a key hierarchy as the decoder collects them: arrays in the caller's
 * arena (NULL: none are expected, gk_group_state_decode), at most GK_KH_MAX_WRAPPED in all. */
typedef struct kh_acc {
	gk_arena *arena;
	gk_kh_wrapped *wrap, *sa;
	size_t cap_wrap, cap_sa;
} kh_acc;

static gk_status kh_add(kh_acc *kh, gk_group_state *gs, bool wrap_key, uint32_t key_id, uint32_t kwk_id,
			gk_chunk value, char *err, size_t errlen)
{
	if (!kh->arena)
		FAIL("key hierarchy attributes (WRAP_KEY, SA_KEY under an intermediate KWK) where none are expected");
	if (gs->nwrap_keys + gs->nkh_sa_keys == GK_KH_MAX_WRAPPED) {
		gk_seterr(err, errlen, "more than %d wrapped keys (WRAP_KEY and SA_KEY under intermediate KWKs)",
			  GK_KH_MAX_WRAPPED);
		return GK_E_MALFORMED;
	}
	gk_kh_wrapped **arr = wrap_key ? &kh->wrap : &kh->sa;
	const gk_kh_wrapped *have = wrap_key ? gs->wrap_keys : gs->kh_sa_keys;
	size_t *n = wrap_key ? &gs->nwrap_keys : &gs->nkh_sa_keys, *cap = wrap_key ? &kh->cap_wrap : &kh->cap_sa;
	for (size_t i = 0; i < *n; i++)
		if (have[i].key_id == key_id && have[i].kwk_id == kwk_id) {
			gk_seterr(err, errlen, "%s %u under KWK ID %u repeated", wrap_key ? "WRAP_KEY" : "SA_KEY", key_id,
				  kwk_id);
			return GK_E_MALFORMED;
		}
	if (*n == *cap) {
		size_t ncap = *cap ? 2 * *cap : 16;
		gk_kh_wrapped *g = gk_arena_calloc(kh->arena, ncap, sizeof(*g));
		if (!g)
			return GK_E_NOMEM;
		if (*n)
			memcpy(g, *arr, *n * sizeof(*g));
		*arr = g;
		*cap = ncap;
	}
	(*arr)[(*n)++] = (gk_kh_wrapped){ .key_id = key_id, .kwk_id = kwk_id, .value = value };
	if (wrap_key)
		gs->wrap_keys = kh->wrap;
	else
		gs->kh_sa_keys = kh->sa;
	return GK_OK;
}

/* RFC 9838 4.5.2.1, 3.3: a Data-Security SA has exactly one SA_KEY, both IDs zero. The Rekey SA
 * has one at registration, under GSK_w or under an intermediate key (Appendix A.2), and in a
 * rekey one or more under different KWKs, all with the same keying material: the one under
 * GSK_w is opened here, the others are kept for gk_key_path_open_state. */
static gk_status decode_group_bag(const gk_key_bag *b, gk_gsa_context ctx, uint16_t kwa, gk_chunk kwk,
				  gk_group_state *gs, kh_acc *kh, bool *have, char *err, size_t errlen)
{
	gk_group_sa *sa = find_sa(gs, b);
	if (!sa)
		FAIL("key bag for an SA the GSA payload does not list");
	size_t idx = (size_t)(sa - gs->sas);
	if (have[idx])
		FAIL("two key bags for one SA");
	const gk_attr *key = NULL;
	size_t nkeys = 0;
	for (size_t i = 0; i < b->attrs.n; i++) {
		const gk_attr *a = &b->attrs.items[i];
		if (a->type != GK_GKBA_SA_KEY)
			continue;
		uint32_t key_id, kwk_id;
		if (a->tv || gk_wrapped_key_ids(a->value, &key_id, &kwk_id))
			FAIL("malformed SA_KEY attribute");
		if (key_id != 0)
			FAIL("SA_KEY with a non-zero Key ID");
		if (kwk_id != 0 && sa->proto != GK_PROTO_GIKE_UPDATE)
			FAIL("SA_KEY of a Data-Security SA under an intermediate KWK (RFC 9838 4.5.2.1)");
		if (kwk_id == 0 && key)
			FAIL("more than one SA_KEY under the default KWK");
		if (++nkeys > 1 && ctx == GK_GSA_REGISTRATION)
			FAIL("more than one SA_KEY for the Rekey SA at registration (RFC 9838 4.5.2.1)");
		if (kwk_id == 0) {
			key = a;
			continue;
		}
		gk_status st = kh_add(kh, gs, false, key_id, kwk_id, a->value, err, errlen);
		if (st)
			return st;
	}
	if (!key && nkeys) {
		have[idx] = true; /* only under intermediate keys: gk_key_path_open_state opens it */
		return GK_OK;
	}
	if (!key)
		FAIL("key bag without an SA_KEY we can unwrap");
	gk_wbuf w;
	gk_wbuf_init(&w, GK_KEYMAT_MAX + 16);
	uint32_t key_id, kwk_id;
	gk_status st = gk_wrapped_key_open(kwa, kwk, key->value, &key_id, &kwk_id, &w);
	size_t need = gk_group_keymat_len(sa->proto, sa->encr, sa->encr_key_bits, sa->integ, sa->kwa);
	if (st == GK_OK && (w.len != need || need == 0 || need > GK_KEYMAT_MAX)) {
		gk_seterr(err, errlen, "keying material size does not match the SA's transforms");
		st = GK_E_MALFORMED;
	} else if (st) {
		gk_seterr(err, errlen, "%s",
			  st == GK_E_INTEGRITY ? "SA_KEY does not unwrap under the key wrap key" : "SA_KEY unwrap failed");
	} else {
		memcpy(sa->keymat, w.data, w.len);
		sa->keymat_len = w.len;
		have[idx] = true;
	}
	gk_wbuf_free(&w);
	return st;
}

/* RFC 9838 4.5.3.1: a WRAP_KEY carries an intermediate key (Key ID != 0), never to a member that
 * is rekeyed inband (no Rekey SA); its size is checked once unwrapped (gk_key_path_open). */
static gk_status decode_wrap_key(const gk_attr *a, gk_group_state *gs, kh_acc *kh, char *err, size_t errlen)
{
	uint32_t key_id, kwk_id;
	bool kek = false;
	for (size_t i = 0; i < gs->nsas; i++)
		kek |= gs->sas[i].proto == GK_PROTO_GIKE_UPDATE;
	if (a->tv || gk_wrapped_key_ids(a->value, &key_id, &kwk_id))
		FAIL("malformed WRAP_KEY attribute");
	if (a->value.len > 8 + GK_KH_KEY_MAX + 8)
		FAIL("WRAP_KEY longer than any wrapped key wrap key");
	if (key_id == 0)
		FAIL("WRAP_KEY with Key ID 0 (RFC 9838 4.5.3.1)");
	if (!kek)
		FAIL("WRAP_KEY without a Rekey SA (inband rekey, RFC 9838 4.5.3.1)");
	return kh_add(kh, gs, true, key_id, kwk_id, a->value, err, errlen);
}

static gk_status decode_member_bag(const gk_key_bag *b, gk_gsa_context ctx, gk_group_state *gs, kh_acc *kh,
				   bool *seen, char *err, size_t errlen)
{
	if (*seen)
		FAIL("more than one member key bag");
	*seen = true;
	for (size_t i = 0; i < b->attrs.n; i++) {
		const gk_attr *a = &b->attrs.items[i];
		switch (a->type) {
		case GK_MKBA_AUTH_KEY:
			if (gs->auth_key_len || a->tv || !a->value.len || a->value.len > sizeof(gs->auth_key))
				FAIL("bad or repeated AUTH_KEY");
			memcpy(gs->auth_key, a->value.ptr, a->value.len);
			gs->auth_key_len = a->value.len;
			break;
		case GK_MKBA_GM_SENDER_ID:
			if (ctx != GK_GSA_REGISTRATION)
				FAIL("GM_SENDER_ID in a rekey message (RFC 9838 4.5.3.3)");
			if (a->tv || a->value.len != 4)
				FAIL("GM_SENDER_ID must hold 4 octets");
			if (gs->nsender_ids == GK_GROUP_MAX_SENDER_IDS)
				FAIL("too many GM_SENDER_ID values");
			gs->sender_ids[gs->nsender_ids++] = gk_get_u32(a->value.ptr);
			break;
		case GK_MKBA_WRAP_KEY: {
			gk_status st = decode_wrap_key(a, gs, kh, err, errlen);
			if (st)
				return st;
			break;
		}
		default:
			break;
		}
	}
	return GK_OK;
}

gk_status gk_group_state_decode(const gk_pl_gsa *gsa, const gk_pl_kd *kd, gk_gsa_context ctx,
				uint16_t kwa, gk_chunk kwk, gk_group_state *out, char *err, size_t errlen)
{
	return gk_group_state_decode_kh(gsa, kd, ctx, kwa, kwk, NULL, out, err, errlen);
}

gk_status gk_group_state_decode_kh(const gk_pl_gsa *gsa, const gk_pl_kd *kd, gk_gsa_context ctx,
				   uint16_t kwa, gk_chunk kwk, gk_arena *arena, gk_group_state *out, char *err,
				   size_t errlen)
{
	bool have[GK_GROUP_MAX_SAS] = { 0 }, member_seen = false;
	kh_acc kh = { .arena = arena };
	gk_status st = GK_OK;
	gk_seterr(err, errlen, "%s", ""); /* a stale reason does not survive a success */
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < gsa->policies.n && !st; i++) {
		const gk_gsa_policy *p = &gsa->policies.items[i];
		st = p->proto == 0 ? decode_gw(p, out, err, errlen) : decode_policy(p, ctx, out, err, errlen);
	}
	if (!st && out->nsas == 0) {
		gk_seterr(err, errlen, "GSA payload without any SA policy");
		st = GK_E_MALFORMED;
	}
	for (size_t i = 0; i < kd->bags.n && !st; i++) {
		const gk_key_bag *b = &kd->bags.items[i];
		st = b->proto == 0 ? decode_member_bag(b, ctx, out, &kh, &member_seen, err, errlen)
				   : decode_group_bag(b, ctx, kwa, kwk, out, &kh, have, err, errlen);
	}
	for (size_t i = 0; i < out->nsas && !st; i++) {
		const gk_group_sa *sa = &out->sas[i];
		if (!have[i]) {
			gk_seterr(err, errlen, "an SA in the GSA payload has no keys in the KD payload");
			st = GK_E_MALFORMED;
		} else if (ctx == GK_GSA_REGISTRATION && sa->gcauth == GK_GCAUTH_DIGITAL_SIGNATURE &&
			   !out->auth_key_len) {
			gk_seterr(err, errlen, "Digital Signature rekey authentication without AUTH_KEY");
			st = GK_E_MALFORMED;
		} else if (sa->gcauth == GK_GCAUTH_IMPLICIT && out->auth_key_len) {
			gk_seterr(err, errlen, "AUTH_KEY sent with implicit rekey authentication");
			st = GK_E_MALFORMED;
		}
	}
	if (st)
		gk_group_state_wipe(out);
	return st;
}

void gk_group_state_wipe(gk_group_state *gs)
{
	OPENSSL_cleanse(gs, sizeof(*gs));
}

void gk_group_state_clear(gk_group_state *gs)
{
	/* the scalars between the SA slots and the Sender-ID array, then the ones after the arrays */
	memset(&gs->nsas, 0, offsetof(gk_group_state, sender_ids) - offsetof(gk_group_state, nsas));
	gs->nsender_ids = 0;
	gs->auth_key_len = 0;
	gs->wrap_keys = gs->kh_sa_keys = NULL;
	gs->nwrap_keys = gs->nkh_sa_keys = 0;
	gs->wkp.n = 0;
}

void gk_group_state_wipe_filled(gk_group_state *gs)
{
	size_t n = gs->nsas < GK_GROUP_MAX_SAS ? gs->nsas : GK_GROUP_MAX_SAS;
	OPENSSL_cleanse(gs->sas, n * sizeof(gs->sas[0]));
	OPENSSL_cleanse(&gs->nsas, offsetof(gk_group_state, sender_ids) - offsetof(gk_group_state, nsas));
	gs->nsender_ids = 0;
	gs->auth_key_len = 0;
	gs->wrap_keys = gs->kh_sa_keys = NULL;
	gs->nwrap_keys = gs->nkh_sa_keys = 0;
	gs->wkp.n = 0;
}
