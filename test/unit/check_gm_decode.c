/* The member's decoder of GSA and KD payloads (common/ike/group_sa.c gk_group_state_decode) refuses
 * what RFC 9838 4.4.2.1, 4.4.2.1.1, 2.7, 4.5.2.1, 4.5.3.2 and 4.5.3.3 forbid. Each test encodes a
 * valid group state as the GCKS would, breaks exactly one thing in the payloads, and asserts the
 * precise refusal: GK_E_MALFORMED, the reason text, and an output left all zero (nothing of a
 * refused payload reaches the member's state). Also the RESERVED octets of these payloads
 * (4.4.3, 4.5.3) and the Encrypted payload header a member reconstructs from the fragments of
 * a GSA_REKEY before it checks the signature (2.4.1.2). */
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include "testutil.h"
#include "algs.h"
#include "arena.h"
#include "auth.h"
#include "group_sa.h"
#include "ikekeys.h"
#include "keywrap.h"
#include "payloads.h"
#include "frag.h"
#include "message.h"
#include "rand.h"
#include "rekey_msg.h"
#include "sk.h"

static gk_arena ar;
static uint8_t kwk[32];
static gk_group_state *gs;   /* the state the tests encode */
static gk_group_state *out;  /* what the decoder gives back */
static gk_pl_gsa gsa;
static gk_pl_kd kd;

/* index of the Rekey SA, the ESP SA in gs and in the encoded payloads (same order) */
enum { KEK = 0, TEK = 1 };

static void fill_keys(gk_group_sa *sa, uint8_t seed)
{
	sa->keymat_len = gk_group_keymat_len(sa->proto, sa->encr, sa->encr_key_bits, sa->integ, sa->kwa);
	ck_assert_uint_gt(sa->keymat_len, 0);
	for (size_t i = 0; i < sa->keymat_len; i++)
		sa->keymat[i] = (uint8_t)(seed + 3 * i);
}

static void ts4(gk_ts_spec *t, uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	*t = (gk_ts_spec){ .family = 4, .start = { a, b, c, d }, .end = { a, b, c, d }, .ip_proto = 17,
			   .port_lo = 848, .port_hi = 848 };
}

/* A Rekey SA signed with ECDSA-P256 and one ESP SA in a counter mode for a sender with two
 * Sender-IDs: everything a registration can carry. */
static void setup(void)
{
	gk_arena_init(&ar, 0);
	for (size_t i = 0; i < sizeof(kwk); i++)
		kwk[i] = (uint8_t)(0x40 + i);
	gs = calloc(1, sizeof(*gs));
	out = calloc(1, sizeof(*out));
	ck_assert_ptr_nonnull(gs);
	ck_assert_ptr_nonnull(out);
	gk_group_sa *k = &gs->sas[KEK];
	k->proto = GK_PROTO_GIKE_UPDATE;
	memset(k->spi, 0xa1, 16);
	k->spi_len = 16;
	ts4(&k->src, 192, 0, 2, 1);
	ts4(&k->dst, 239, 0, 0, 1);
	k->encr = GK_ENCR_AES_CBC;
	k->encr_key_bits = 256;
	k->integ = GK_INTEG_HMAC_SHA2_256_128;
	k->kwa = GK_KWA_KW_5649_256;
	k->gcauth = GK_GCAUTH_DIGITAL_SIGNATURE;
	gk_chunk alg = gk_sig_algid(GK_SIG_ECDSA_SHA256);
	memcpy(k->sig_algid, alg.ptr, alg.len);
	k->sig_algid_len = alg.len;
	k->lifetime = 3600;
	k->initial_msgid = 1;
	fill_keys(k, 0x11);
	gk_group_sa *t = &gs->sas[TEK];
	t->proto = GK_PROTO_ESP;
	memcpy(t->spi, "\x12\x34\x56\x78", 4);
	t->spi_len = 4;
	ts4(&t->src, 192, 0, 2, 1);
	ts4(&t->dst, 239, 1, 1, 1);
	t->encr = GK_ENCR_AES_GCM_16;
	t->encr_key_bits = 256;
	t->sn = GK_SN_UNSPEC32;
	t->lifetime = 600;
	fill_keys(t, 0x22);
	gs->nsas = 2;
	gs->has_sender_id_bits = true;
	gs->sender_id_bits = 8;
	gs->sender_ids[0] = 1;
	gs->sender_ids[1] = 2;
	gs->nsender_ids = 2;
	memset(gs->auth_key, 0x30, 91); /* the decoder keeps AUTH_KEY as it is; gk_gm_state_check parses it */
	gs->auth_key_len = 91;
}

static void teardown(void)
{
	gk_arena_free(&ar);
	gk_group_state_wipe(gs);
	free(gs);
	free(out);
}

static void encode(gk_gsa_context ctx)
{
	ck_assert_int_eq(gk_group_state_encode(gs, ctx, GK_KWA_KW_5649_256, GK_CHUNK(kwk, sizeof(kwk)), &ar,
					       &gsa, &kd), GK_OK);
}

static gk_status decode(gk_gsa_context ctx, char *why, size_t whylen)
{
	memset(out, 0x5a, sizeof(*out)); /* so that "left all zero" means wiped, not untouched */
	return gk_group_state_decode(&gsa, &kd, ctx, GK_KWA_KW_5649_256, GK_CHUNK(kwk, sizeof(kwk)), out, why,
				     whylen);
}

static bool all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

/* The decoder refuses with exactly this reason and leaves nothing in its output. */
static void refused(gk_gsa_context ctx, const char *reason)
{
	char why[GK_ERR_MAX] = "";
	ck_assert_int_eq(decode(ctx, why, sizeof(why)), GK_E_MALFORMED);
	ck_assert_str_eq(why, reason);
	ck_assert_msg(all_zero(out, sizeof(*out)), "a refused payload left state behind");
}

static void accepted(gk_gsa_context ctx)
{
	char why[GK_ERR_MAX] = "?";
	gk_status st = decode(ctx, why, sizeof(why));
	ck_assert_msg(st == GK_OK, "refused: %s", why);
	ck_assert_str_eq(why, ""); /* no stale reason after a success */
	gk_group_state_wipe(out);
}

/* The policy of SA i (gsa lists the SAs first, in gs order, then the GW policy). */
static gk_gsa_policy *pol(size_t i)
{
	ck_assert_uint_lt(i, gsa.policies.n);
	return &gsa.policies.items[i];
}

static gk_transform *find_tt(gk_gsa_policy *p, uint8_t type)
{
	for (size_t i = 0; i < p->transforms.n; i++)
		if (p->transforms.items[i].type == type)
			return &p->transforms.items[i];
	ck_abort_msg("no transform of type %u", type);
	return NULL;
}

/* Appends a transform to policy p (a copy of the list in the arena). */
static void add_transform(gk_gsa_policy *p, gk_transform t)
{
	gk_transform *n = gk_arena_calloc(&ar, p->transforms.n + 1, sizeof(*n));
	ck_assert_ptr_nonnull(n);
	memcpy(n, p->transforms.items, p->transforms.n * sizeof(*n));
	n[p->transforms.n] = t;
	p->transforms.items = n;
	p->transforms.n++;
}

static void drop_transform(gk_gsa_policy *p, uint8_t type)
{
	size_t j = 0;
	for (size_t i = 0; i < p->transforms.n; i++)
		if (p->transforms.items[i].type != type)
			p->transforms.items[j++] = p->transforms.items[i];
	ck_assert_uint_eq(j + 1, p->transforms.n);
	p->transforms.n = j;
}

static void add_attr(gk_attr_list *l, gk_attr a)
{
	gk_attr *n = gk_arena_calloc(&ar, l->n + 1, sizeof(*n));
	ck_assert_ptr_nonnull(n);
	memcpy(n, l->items, l->n * sizeof(*n));
	n[l->n] = a;
	l->items = n;
	l->n++;
}

/* The Member Key Bag (proto 0) of the KD payload. */
static gk_key_bag *member_bag(void)
{
	for (size_t i = 0; i < kd.bags.n; i++)
		if (kd.bags.items[i].proto == 0)
			return &kd.bags.items[i];
	ck_abort_msg("no member key bag");
	return NULL;
}

/* The unmodified encodings decode: the refusals below are each about the one change made. */
START_TEST(valid_state_decodes)
{
	encode(GK_GSA_REGISTRATION);
	accepted(GK_GSA_REGISTRATION);
	gk_group_state_wipe(out);
	ck_assert_int_eq(decode(GK_GSA_REGISTRATION, NULL, 0), GK_OK);
	ck_assert_uint_eq(out->nsas, 2);
	ck_assert_uint_eq(out->nsender_ids, 2);
	ck_assert_uint_eq(out->auth_key_len, 91);
	ck_assert_uint_eq(out->sas[KEK].gcauth, GK_GCAUTH_DIGITAL_SIGNATURE);
	gk_group_state_wipe(out);
	/* the same SAs as a rekey carries them: no GCAUTH, no Sender-IDs */
	gk_arena_free(&ar);
	gk_arena_init(&ar, 0);
	encode(GK_GSA_REKEY);
	accepted(GK_GSA_REKEY);
}
END_TEST

/* 4.4.2.1: "Exactly one instance of each mandatory transform type and at most one instance of
 * each optional transform type MUST be present". */
START_TEST(repeated_transform_refused)
{
	static const uint8_t types[] = { GK_TT_ENCR, GK_TT_SN };
	for (size_t i = 0; i < 2; i++) { /* mandatory ESP transforms, repeated with the same value */
		encode(GK_GSA_REGISTRATION);
		add_transform(pol(TEK), *find_tt(pol(TEK), types[i]));
		refused(GK_GSA_REGISTRATION, "transform type repeated in GSA policy");
	}
	/* an optional one (INTEG of ESP) twice */
	gs->sas[TEK].encr = GK_ENCR_AES_CBC;
	gs->sas[TEK].encr_key_bits = 128;
	gs->sas[TEK].integ = GK_INTEG_HMAC_SHA2_256_128;
	fill_keys(&gs->sas[TEK], 0x22);
	encode(GK_GSA_REGISTRATION);
	accepted(GK_GSA_REGISTRATION);
	add_transform(pol(TEK), *find_tt(pol(TEK), GK_TT_INTEG));
	refused(GK_GSA_REGISTRATION, "transform type repeated in GSA policy");
	/* the Rekey SA's KWA and GCAUTH */
	encode(GK_GSA_REGISTRATION);
	add_transform(pol(KEK), *find_tt(pol(KEK), GK_TT_KWA));
	refused(GK_GSA_REGISTRATION, "transform type repeated in GSA policy");
	encode(GK_GSA_REGISTRATION);
	add_transform(pol(KEK), *find_tt(pol(KEK), GK_TT_GCAUTH));
	refused(GK_GSA_REGISTRATION, "transform type repeated in GSA policy");
}
END_TEST

/* 4.4.2.1: the mandatory types of each protocol; a missing one is refused. */
START_TEST(missing_transform_refused)
{
	encode(GK_GSA_REGISTRATION);
	drop_transform(pol(TEK), GK_TT_SN);
	refused(GK_GSA_REGISTRATION, "ESP policy needs ENCR and SN, and no KWA or GCAUTH");
	encode(GK_GSA_REGISTRATION);
	drop_transform(pol(TEK), GK_TT_ENCR);
	refused(GK_GSA_REGISTRATION, "ESP policy needs ENCR and SN, and no KWA or GCAUTH");
	encode(GK_GSA_REGISTRATION);
	drop_transform(pol(KEK), GK_TT_KWA);
	refused(GK_GSA_REGISTRATION, "Rekey SA policy needs ENCR and KWA and no SN");
	encode(GK_GSA_REGISTRATION);
	drop_transform(pol(KEK), GK_TT_ENCR);
	refused(GK_GSA_REGISTRATION, "Rekey SA policy needs ENCR and KWA and no SN");
	/* INTEG is mandatory for a Rekey SA with a non-AEAD cipher (the (*) of the table) */
	encode(GK_GSA_REGISTRATION);
	drop_transform(pol(KEK), GK_TT_INTEG);
	refused(GK_GSA_REGISTRATION, "Rekey SA with a non-AEAD cipher needs an integrity transform");
	/* GCAUTH: mandatory at registration (the (**) of the table) */
	encode(GK_GSA_REGISTRATION);
	drop_transform(pol(KEK), GK_TT_GCAUTH);
	refused(GK_GSA_REGISTRATION, "Rekey SA policy at registration needs a GCAUTH transform");
	/* AH: INTEG and SN */
	gk_group_sa *t = &gs->sas[TEK];
	t->proto = GK_PROTO_AH;
	t->encr = 0;
	t->encr_key_bits = 0;
	t->integ = GK_INTEG_HMAC_SHA2_256_128;
	t->sn = GK_SN_SEQ32;
	fill_keys(t, 0x33);
	encode(GK_GSA_REGISTRATION);
	accepted(GK_GSA_REGISTRATION);
	drop_transform(pol(TEK), GK_TT_INTEG);
	refused(GK_GSA_REGISTRATION, "AH policy needs INTEG and SN only");
	encode(GK_GSA_REGISTRATION);
	drop_transform(pol(TEK), GK_TT_SN);
	refused(GK_GSA_REGISTRATION, "AH policy needs INTEG and SN only");
}
END_TEST

/* 4.4.2.1: only the types of the table; a known IKEv2 type outside it (PRF, KE), a G-IKEv2 type
 * of another protocol, and an unknown type number are refused. */
START_TEST(foreign_transform_refused)
{
	encode(GK_GSA_REGISTRATION);
	add_transform(pol(TEK), (gk_transform){ .type = GK_TT_PRF, .id = 5 });
	refused(GK_GSA_REGISTRATION, "transform type not allowed in GSA policy");
	encode(GK_GSA_REGISTRATION);
	add_transform(pol(KEK), (gk_transform){ .type = GK_TT_KE, .id = 19 });
	refused(GK_GSA_REGISTRATION, "transform type not allowed in GSA policy");
	encode(GK_GSA_REGISTRATION);
	add_transform(pol(TEK), (gk_transform){ .type = GK_TT_KWA, .id = GK_KWA_KW_5649_256 });
	refused(GK_GSA_REGISTRATION, "ESP policy needs ENCR and SN, and no KWA or GCAUTH");
	encode(GK_GSA_REGISTRATION);
	add_transform(pol(KEK), (gk_transform){ .type = GK_TT_SN, .id = GK_SN_SEQ32 });
	refused(GK_GSA_REGISTRATION, "Rekey SA policy needs ENCR and KWA and no SN");
	encode(GK_GSA_REGISTRATION);
	add_transform(pol(TEK), (gk_transform){ .type = 200, .id = 1 });
	refused(GK_GSA_REGISTRATION, "unknown transform type in GSA policy");
}
END_TEST

/* 4.4.2.1 (*): with an AEAD cipher INTEG "either MUST NOT be specified or MUST contain value
 * NONE"; the member refuses an AEAD Rekey SA or ESP SA with a real integrity transform. */
START_TEST(aead_with_integ_refused)
{
	encode(GK_GSA_REGISTRATION);
	add_transform(pol(TEK), (gk_transform){ .type = GK_TT_INTEG, .id = GK_INTEG_HMAC_SHA2_256_128 });
	refused(GK_GSA_REGISTRATION, "AEAD cipher with an integrity transform");
	/* INTEG NONE with AEAD is allowed */
	encode(GK_GSA_REGISTRATION);
	add_transform(pol(TEK), (gk_transform){ .type = GK_TT_INTEG, .id = GK_INTEG_NONE });
	accepted(GK_GSA_REGISTRATION);
	/* the Rekey SA with AES-GCM: without INTEG fine, with one refused */
	gk_group_sa *k = &gs->sas[KEK];
	k->encr = GK_ENCR_AES_GCM_16;
	k->integ = 0;
	fill_keys(k, 0x44);
	encode(GK_GSA_REGISTRATION);
	accepted(GK_GSA_REGISTRATION);
	add_transform(pol(KEK), (gk_transform){ .type = GK_TT_INTEG, .id = GK_INTEG_HMAC_SHA2_256_128 });
	refused(GK_GSA_REGISTRATION, "AEAD cipher with an integrity transform");
}
END_TEST

/* 2.7: implicit-IV transforms "MUST NOT be used for any G-IKEv2 SA": refused for a Data-Security
 * SA and for the Rekey SA. */
START_TEST(implicit_iv_refused)
{
	static const uint16_t iiv[] = { GK_ENCR_AES_GCM_16_IIV, GK_ENCR_CHACHA20_POLY1305_IIV };
	for (size_t i = 0; i < 2; i++) {
		encode(GK_GSA_REGISTRATION);
		gk_transform *e = find_tt(pol(TEK), GK_TT_ENCR);
		e->id = iiv[i];
		if (iiv[i] == GK_ENCR_CHACHA20_POLY1305_IIV)
			e->attrs.n = 0; /* fixed key length: no Key Length attribute */
		refused(GK_GSA_REGISTRATION, "implicit-IV encryption transforms are not allowed (RFC 9838 2.7)");
		encode(GK_GSA_REKEY);
		e = find_tt(pol(KEK), GK_TT_ENCR);
		e->id = iiv[i];
		if (iiv[i] == GK_ENCR_CHACHA20_POLY1305_IIV)
			e->attrs.n = 0;
		drop_transform(pol(KEK), GK_TT_INTEG);
		refused(GK_GSA_REKEY, "implicit-IV encryption transforms are not allowed (RFC 9838 2.7)");
	}
}
END_TEST

/* 4.4.2.1 (**) and 4.4.2.1.1: GCAUTH "MUST NOT appear in the rekey" (the authentication method
 * does not change by a rekey). */
START_TEST(gcauth_in_rekey_refused)
{
	encode(GK_GSA_REKEY);
	gk_transform ga = { .type = GK_TT_GCAUTH, .id = GK_GCAUTH_IMPLICIT };
	add_transform(pol(KEK), ga);
	refused(GK_GSA_REKEY, "GCAUTH must not appear in rekey messages");
	/* the same with Digital Signature and its algorithm (taken from a registration encoding) */
	encode(GK_GSA_REGISTRATION);
	gk_transform sig = *find_tt(pol(KEK), GK_TT_GCAUTH);
	encode(GK_GSA_REKEY);
	add_transform(pol(KEK), sig);
	refused(GK_GSA_REKEY, "GCAUTH must not appear in rekey messages");
}
END_TEST

/* 4.4.2.1.1: the Signature Algorithm Identifier attribute "MUST NOT be used with other transform
 * IDs" than Digital Signature, and Digital Signature needs it. */
START_TEST(sig_algid_only_with_signature)
{
	encode(GK_GSA_REGISTRATION);
	find_tt(pol(KEK), GK_TT_GCAUTH)->id = GK_GCAUTH_IMPLICIT;
	refused(GK_GSA_REGISTRATION, "Signature Algorithm Identifier goes with, and only with, Digital Signature");
	encode(GK_GSA_REGISTRATION);
	find_tt(pol(KEK), GK_TT_GCAUTH)->attrs.n = 0;
	refused(GK_GSA_REGISTRATION, "Signature Algorithm Identifier goes with, and only with, Digital Signature");
}
END_TEST

/* 4.5.3.2: "Multiple instances of the AUTH_KEY attributes MUST NOT be sent"; a second one is
 * refused, also when it holds the same key. */
START_TEST(second_auth_key_refused)
{
	encode(GK_GSA_REGISTRATION);
	gk_key_bag *b = member_bag();
	const gk_attr *ak = gk_attr_find(&b->attrs, GK_MKBA_AUTH_KEY);
	ck_assert_ptr_nonnull(ak);
	add_attr(&b->attrs, *ak);
	refused(GK_GSA_REGISTRATION, "bad or repeated AUTH_KEY");
	/* in a rekey (signing key rollover) as well */
	encode(GK_GSA_REKEY);
	b = member_bag();
	ak = gk_attr_find(&b->attrs, GK_MKBA_AUTH_KEY);
	ck_assert_ptr_nonnull(ak);
	add_attr(&b->attrs, *ak);
	refused(GK_GSA_REKEY, "bad or repeated AUTH_KEY");
}
END_TEST

/* 4.4.2.1.1, section 5: with implicit authentication "the GCKS MUST NOT include the AUTH_KEY
 * attribute"; the member refuses a registration that has both. */
START_TEST(auth_key_with_implicit_refused)
{
	gk_group_sa *k = &gs->sas[KEK];
	k->gcauth = GK_GCAUTH_IMPLICIT;
	k->sig_algid_len = 0;
	encode(GK_GSA_REGISTRATION);
	refused(GK_GSA_REGISTRATION, "AUTH_KEY sent with implicit rekey authentication");
	gs->auth_key_len = 0;
	encode(GK_GSA_REGISTRATION);
	accepted(GK_GSA_REGISTRATION);
	/* and Digital Signature without AUTH_KEY */
	k->gcauth = GK_GCAUTH_DIGITAL_SIGNATURE;
	gk_chunk alg = gk_sig_algid(GK_SIG_ECDSA_SHA256);
	memcpy(k->sig_algid, alg.ptr, alg.len);
	k->sig_algid_len = alg.len;
	encode(GK_GSA_REGISTRATION);
	refused(GK_GSA_REGISTRATION, "Digital Signature rekey authentication without AUTH_KEY");
}
END_TEST

/* 4.5.2.1: "the Key ID field MUST always be zero". */
START_TEST(sa_key_nonzero_key_id_refused)
{
	for (size_t i = 0; i < 2; i++) { /* the ESP SA's and the Rekey SA's SA_KEY */
		size_t which = i ? KEK : TEK;
		encode(GK_GSA_REGISTRATION);
		gk_wbuf w;
		gk_wbuf_init(&w, 0);
		ck_assert_int_eq(gk_wrapped_key_build(GK_KWA_KW_5649_256, GK_CHUNK(kwk, sizeof(kwk)), 7, 0,
						      GK_CHUNK(gs->sas[which].keymat, gs->sas[which].keymat_len),
						      &w), GK_OK);
		gk_key_bag *b = &kd.bags.items[which];
		ck_assert_uint_eq(b->proto, gs->sas[which].proto);
		ck_assert_uint_eq(b->attrs.n, 1);
		b->attrs.items[0].value = GK_CHUNK(gk_arena_dup(&ar, w.data, w.len), w.len);
		gk_wbuf_free(&w);
		refused(GK_GSA_REGISTRATION, "SA_KEY with a non-zero Key ID");
	}
}
END_TEST

/* 4.5.2.1 and section 5: exactly one SA_KEY for an SA at registration (one under the KWK of the
 * IKE SA), and every SA has its keys. */
START_TEST(sa_key_count_refused)
{
	encode(GK_GSA_REGISTRATION);
	gk_key_bag *b = &kd.bags.items[TEK];
	add_attr(&b->attrs, b->attrs.items[0]);
	refused(GK_GSA_REGISTRATION, "more than one SA_KEY under the default KWK");
	encode(GK_GSA_REGISTRATION);
	kd.bags.items[TEK].attrs.n = 0;
	refused(GK_GSA_REGISTRATION, "key bag without an SA_KEY we can unwrap");
	/* the ESP SA's bag removed altogether */
	encode(GK_GSA_REGISTRATION);
	kd.bags.items[TEK] = kd.bags.items[kd.bags.n - 1];
	kd.bags.n--;
	refused(GK_GSA_REGISTRATION, "an SA in the GSA payload has no keys in the KD payload");
	/* two bags for the one SA */
	encode(GK_GSA_REGISTRATION);
	gk_key_bag *nb = gk_arena_calloc(&ar, kd.bags.n + 1, sizeof(*nb));
	ck_assert_ptr_nonnull(nb);
	memcpy(nb, kd.bags.items, kd.bags.n * sizeof(*nb));
	nb[kd.bags.n] = kd.bags.items[TEK];
	kd.bags.items = nb;
	kd.bags.n++;
	refused(GK_GSA_REGISTRATION, "two key bags for one SA");
}
END_TEST

/* 2.4.1, 4.5.3.3: "The GM_SENDER_ID attribute ... MUST NOT be part of the Rekey Exchange". The
 * encoder leaves it out of rekeys; a GSA_REKEY that carries one is refused whole. */
START_TEST(sender_id_in_rekey_refused)
{
	encode(GK_GSA_REKEY);
	gk_key_bag *b = member_bag();
	ck_assert_ptr_null(gk_attr_find(&b->attrs, GK_MKBA_GM_SENDER_ID));
	ck_assert_uint_eq(b->attrs.n, 1); /* AUTH_KEY only */
	/* take a GM_SENDER_ID as a registration encodes it */
	gk_arena reg;
	gk_arena_init(&reg, 0);
	gk_pl_gsa g2;
	gk_pl_kd k2;
	ck_assert_int_eq(gk_group_state_encode(gs, GK_GSA_REGISTRATION, GK_KWA_KW_5649_256,
					       GK_CHUNK(kwk, sizeof(kwk)), &reg, &g2, &k2), GK_OK);
	const gk_attr *sid = NULL;
	for (size_t i = 0; i < k2.bags.n && !sid; i++)
		if (k2.bags.items[i].proto == 0)
			sid = gk_attr_find(&k2.bags.items[i].attrs, GK_MKBA_GM_SENDER_ID);
	ck_assert_ptr_nonnull(sid);
	add_attr(&b->attrs, (gk_attr){ .type = sid->type, .value = GK_CHUNK(gk_arena_dup(&ar, sid->value.ptr, 4), 4) });
	gk_arena_free(&reg);
	refused(GK_GSA_REKEY, "GM_SENDER_ID in a rekey message (RFC 9838 4.5.3.3)");
	/* the encoder does not put Sender-IDs in a rekey even without AUTH_KEY: no member bag */
	gs->auth_key_len = 0;
	encode(GK_GSA_REKEY);
	for (size_t i = 0; i < kd.bags.n; i++)
		ck_assert_uint_ne(kd.bags.items[i].proto, 0);
}
END_TEST

/* 4.4.2.1.3: ESN "MUST NOT be used for multicast Data-Security SAs". */
START_TEST(esn_refused)
{
	encode(GK_GSA_REGISTRATION);
	find_tt(pol(TEK), GK_TT_SN)->id = GK_SN_ESN;
	refused(GK_GSA_REGISTRATION, "sequence numbers must be 32-bit (ESN is not allowed for multicast SAs)");
}
END_TEST

/* 4.4.3 and 4.5.3: the Group-wide policy and the Member Key Bag have Protocol zero (that is what
 * tells them from an SA's policy or key bag) and a RESERVED octet that "MUST be zero on
 * transmission, MUST be ignored on receipt": built, the octet is zero; received as 0xff, the
 * substructure parses to the same attributes and the group state decodes the same. */
START_TEST(reserved_zero_sent_ignored_received)
{
	encode(GK_GSA_REGISTRATION);
	gk_wbuf wg, wk;
	gk_wbuf_init(&wg, 0);
	gk_wbuf_init(&wk, 0);
	ck_assert_int_eq(gk_codec_build(gk_payload_desc(GK_PL_GSA), &gsa, &wg), GK_OK);
	ck_assert_int_eq(gk_codec_build(gk_payload_desc(GK_PL_KD), &kd, &wk), GK_OK);
	/* the GW policy is the last GSA substructure, the member bag the last KD one: find their
	 * starts by walking the 16-bit lengths at offset 2 */
	size_t gw = 0, mb = 0;
	for (size_t off = 0, i = 0; i < gsa.policies.n; i++) {
		gw = off;
		off += gk_get_u16(wg.data + off + 2);
	}
	for (size_t off = 0, i = 0; i < kd.bags.n; i++) {
		mb = off;
		off += gk_get_u16(wk.data + off + 2);
	}
	ck_assert_uint_eq(wg.data[gw], 0); /* Protocol */
	ck_assert_uint_eq(wg.data[gw + 1], 0); /* RESERVED */
	ck_assert_uint_eq(wk.data[mb], 0);
	ck_assert_uint_eq(wk.data[mb + 1], 0);
	wg.data[gw + 1] = 0xff;
	wk.data[mb + 1] = 0xff;
	gk_pl_gsa g2;
	gk_pl_kd k2;
	memset(&g2, 0, sizeof(g2));
	memset(&k2, 0, sizeof(k2));
	gk_codec_err err;
	ck_assert_int_eq(gk_codec_parse(gk_payload_desc(GK_PL_GSA), gk_wbuf_chunk(&wg), &ar, &g2, &err), GK_OK);
	ck_assert_int_eq(gk_codec_parse(gk_payload_desc(GK_PL_KD), gk_wbuf_chunk(&wk), &ar, &k2, &err), GK_OK);
	gsa = g2;
	kd = k2;
	ck_assert_int_eq(decode(GK_GSA_REGISTRATION, NULL, 0), GK_OK);
	ck_assert(out->has_sender_id_bits);
	ck_assert_uint_eq(out->sender_id_bits, 8);
	ck_assert_uint_eq(out->nsender_ids, 2);
	ck_assert_uint_eq(out->sender_ids[1], 2);
	ck_assert_uint_eq(out->auth_key_len, 91);
	gk_group_state_wipe(out);
	gk_wbuf_free(&wg);
	gk_wbuf_free(&wk);
}
END_TEST

/* ---- 2.4.1.2: the reconstructed Encrypted payload header of a fragmented GSA_REKEY ---- */

static const uint8_t gsk_e[36] = { 0x11, 0x22, 0x33, 0x44 };
static const uint8_t rekey_spi[16] = { 0xaa, 1, 2, 3, 4, 5, 6, 7, 0xbb, 1, 2, 3, 4, 5, 6, 7 };

/* Fragment d (one datagram of a fragmented GSA_REKEY) again with the flags octet of its
 * Encrypted Fragment payload header (C bit and RESERVED) set to flags, protected anew under k
 * as a sender that set them would have: the ICV is right, only the octet differs. */
static void reflag(gk_wbuf *d, const gk_sk_keys *k, uint8_t flags)
{
	gk_msg m;
	memset(&m, 0, sizeof(m));
	ck_assert_int_eq(gk_msg_parse(&m, gk_wbuf_chunk(d)), GK_OK);
	ck_assert_uint_ne(m.sk_index, SIZE_MAX);
	ck_assert_uint_eq(m.pl.items[m.sk_index].type, GK_PL_SKF);
	size_t off = m.pl.items[m.sk_index].offset;
	gk_msg_free(&m);
	gk_wbuf plain, w;
	gk_wbuf_init(&plain, 0);
	gk_wbuf_init(&w, 0);
	ck_assert_int_eq(gk_sk_open(k, gk_wbuf_chunk(d), off, 8, &plain), GK_OK);
	gk_wbuf_put(&w, d->data, off + 8);
	w.data[off + 1] = flags;
	ck_assert_int_eq(gk_sk_seal(k, gk_rand_system(), &w, off, gk_wbuf_chunk(&plain)), GK_OK);
	gk_wbuf_free(d);
	*d = w;
	gk_wbuf_free(&plain);
}

/* Every datagram of d, in order, into gk_rekey_open; the status of the last one. */
static gk_status open_fragments(const gk_rekey_in *in, gk_dgrams *d)
{
	gk_status st = GK_E_INVAL;
	for (size_t i = 0; i < d->n; i++) {
		gk_msg m;
		bool complete = false;
		memset(&m, 0, sizeof(m));
		st = gk_rekey_open(in, gk_wbuf_chunk(&d->d[i]), &m, &complete);
		gk_msg_free(&m);
		if (st)
			return st;
		ck_assert(complete == (i + 1 == d->n));
	}
	return st;
}

/* "The RESERVED field in the reconstructed Encrypted Payload header MUST be set to the value of
 * the RESERVED field in the Encrypted Fragment payload header from the first fragment": the
 * GCKS signed the whole message with zero flags; flags set in a later fragment leave the
 * reconstructed header (and so the signature) as signed, flags set in the first fragment
 * change it and the signature no longer verifies. The flags octet of each fragment is under
 * its own ICV, which stays right here. */
START_TEST(sk_flags_from_first_fragment)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	ck_assert_ptr_nonnull(key);
	encode(GK_GSA_REKEY);
	gk_out_pl pl[] = { { GK_PL_GSA, false, &gsa }, { GK_PL_KD, false, &kd } };
	gk_rekey_out o = { .msg_id = 3, .pl = pl, .npl = 2, .sign_key = key, .frag_mtu = 300,
			   .kek = { .encr = GK_ENCR_AES_GCM_16, .encr_key_bits = 256, .enc = GK_CHUNK(gsk_e, 36) } };
	memcpy(o.spi, rekey_spi, 16);
	ck_assert_int_eq(gk_sig_scheme_for_key(key, &o.scheme), GK_OK);
	gk_frag_reasm reasm;
	memset(&reasm, 0, sizeof(reasm));
	gk_rekey_in in = { .kek = o.kek, .auth_key = key, .want = o.scheme, .reasm = &reasm };
	memcpy(in.spi, rekey_spi, 16);
	for (int c = 0; c < 3; c++) {
		gk_dgrams d;
		ck_assert_int_eq(gk_rekey_build(&o, gk_rand_system(), &d), GK_OK);
		ck_assert_uint_ge(d.n, 3);
		gk_frag_reset(&reasm);
		if (c == 1) { /* the last and a middle fragment: the header stays as signed */
			reflag(&d.d[d.n - 1], &o.kek, 0x7f);
			reflag(&d.d[1], &o.kek, 0x01);
			ck_assert_int_eq(open_fragments(&in, &d), GK_OK);
		} else if (c == 2) { /* the first: the reconstructed header is not what was signed */
			reflag(&d.d[0], &o.kek, 0x01);
			ck_assert_int_eq(open_fragments(&in, &d), GK_E_AUTH);
		} else { /* as built */
			ck_assert_int_eq(open_fragments(&in, &d), GK_OK);
		}
		gk_dgrams_free(&d);
		o.msg_id++;
	}
	gk_frag_reset(&reasm);
	EVP_PKEY_free(key);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("gm_decode");
	TCase *tc = tcase_create("refusals");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, valid_state_decodes);
	tcase_add_test(tc, repeated_transform_refused);
	tcase_add_test(tc, missing_transform_refused);
	tcase_add_test(tc, foreign_transform_refused);
	tcase_add_test(tc, aead_with_integ_refused);
	tcase_add_test(tc, implicit_iv_refused);
	tcase_add_test(tc, gcauth_in_rekey_refused);
	tcase_add_test(tc, sig_algid_only_with_signature);
	tcase_add_test(tc, second_auth_key_refused);
	tcase_add_test(tc, auth_key_with_implicit_refused);
	tcase_add_test(tc, sa_key_nonzero_key_id_refused);
	tcase_add_test(tc, sa_key_count_refused);
	tcase_add_test(tc, sender_id_in_rekey_refused);
	tcase_add_test(tc, esn_refused);
	tcase_add_test(tc, reserved_zero_sent_ignored_received);
	tcase_add_test(tc, sk_flags_from_first_fragment);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
