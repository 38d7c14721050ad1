/* RFC 9838 requirements of doc/conformance.md that no other test asserts, end to end on the fake
 * network (fakenet.h, regfix.h): what the GCKS makes of the member's SAg and IPCOMP_SUPPORTED
 * (2.3.3), what it leaves out with implicit authentication and with inband rekey (4.4.2.1.1,
 * 4.4.2.2, section 5), the exclusion of everyone when Sender-IDs run out (2.5.1), and what the
 * member core sends: its SAg (2.3.3, 4.5.4) and never a Delete of the IKE SA (2.3.3).
 * The member core's outgoing messages are seen before encryption: gk_msg_build_dgrams is
 * wrapped at link time (-Wl,--wrap) and records the inner payloads of every message built with
 * the Initiator flag (the member is the IKE SA's initiator; the GCKS never sets it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testutil.h"
#include "fakenet.h"
#include "rawike.h"
#include "regfix.h"
#include "gcks/storage.h"
#include "auth.h"
#include "frag.h"
#include "group_sa.h"
#include "ike_sa.h"
#include "ikekeys.h"
#include "log.h"
#include "message.h"
#include "rekey_msg.h"

/* ---- what the member cores send, before encryption ---- */

gk_status __real_gk_msg_build_dgrams(const gk_msg_out *o, const gk_sk_keys *k, const gk_rand *rnd, bool frag,
				     size_t frag_len, gk_dgrams *out);
gk_status __wrap_gk_msg_build_dgrams(const gk_msg_out *o, const gk_sk_keys *k, const gk_rand *rnd, bool frag,
				     size_t frag_len, gk_dgrams *out);

#define SENT_MAX 256
static struct {
	uint8_t exchange[SENT_MAX];
	unsigned ike_deletes[SENT_MAX];  /* Delete payloads of protocol IKE */
	unsigned deletes[SENT_MAX];      /* Delete payloads of any protocol */
	size_t n;
	/* the last SAg sent, copied */
	gk_proposal prop[8];
	gk_transform tr[8][40];
	size_t nprop, nsag;
} sent;

gk_status __wrap_gk_msg_build_dgrams(const gk_msg_out *o, const gk_sk_keys *k, const gk_rand *rnd, bool frag,
				     size_t frag_len, gk_dgrams *out)
{
	if ((o->hdr.flags & GK_FLAG_I) && sent.n < SENT_MAX) {
		size_t i = sent.n++;
		sent.exchange[i] = o->hdr.exchange;
		for (size_t p = 0; p < o->ninner; p++) {
			if (o->inner[p].type == GK_PL_DELETE) {
				const gk_pl_delete *d = o->inner[p].body;
				sent.deletes[i]++;
				sent.ike_deletes[i] += d->proto == GK_PROTO_IKE;
			}
			if (o->inner[p].type == GK_PL_SAg) {
				const gk_pl_sa *sa = o->inner[p].body;
				sent.nsag++;
				sent.nprop = sa->proposals.n < 8 ? sa->proposals.n : 8;
				for (size_t j = 0; j < sent.nprop; j++) {
					sent.prop[j] = sa->proposals.items[j];
					size_t nt = sent.prop[j].transforms.n < 40 ? sent.prop[j].transforms.n : 40;
					memcpy(sent.tr[j], sent.prop[j].transforms.items, nt * sizeof(gk_transform));
					sent.prop[j].transforms.items = sent.tr[j];
					sent.prop[j].transforms.n = nt;
					sent.prop[j].spi = GK_CHUNK(NULL, 0);
					for (size_t t = 0; t < nt; t++)
						sent.tr[j][t].attrs = (gk_attr_list){ NULL, 0 };
				}
			}
		}
	}
	return __real_gk_msg_build_dgrams(o, k, rnd, frag, frag_len, out);
}

/* ---- fixture ---- */

static void setup(void)
{
	rf_setup("check_conformance", "gk-conf");
	memset(&sent, 0, sizeof(sent));
}

static void teardown(void)
{
	rf_teardown();
}

/* GSA_REKEY datagrams the GCKS multicasts. */
#define MC_MAX 16
static struct {
	uint8_t *data[MC_MAX];
	size_t len[MC_MAX], n;
} mc;

static void mc_send(void *ctx, const struct sockaddr *dst, uint16_t sport, uint8_t ttl, const char *iface,
		    const uint8_t *data, size_t len)
{
	(void)ctx, (void)dst, (void)sport, (void)ttl, (void)iface;
	if (mc.n < MC_MAX) {
		mc.data[mc.n] = malloc(len);
		ck_assert_ptr_nonnull(mc.data[mc.n]);
		memcpy(mc.data[mc.n], data, len);
		mc.len[mc.n++] = len;
	}
}

static void mc_free(void)
{
	for (size_t i = 0; i < mc.n; i++)
		free(mc.data[i]);
	memset(&mc, 0, sizeof(mc));
}

static void start_mc_gcks(void)
{
	char err[256] = "";
	gk_gcks_env env = fn_gcks_env(&net, store);
	env.send_multicast = mc_send;
	ck_assert_msg(gk_gcks_new(&gcfg, &env, &net.gcks, err, sizeof(err)) == GK_OK, "%s", err);
}

static const gk_group_sa *kek_of(const gk_group_state *gs)
{
	for (size_t i = 0; i < gs->nsas; i++)
		if (gs->sas[i].proto == GK_PROTO_GIKE_UPDATE)
			return &gs->sas[i];
	ck_abort_msg("no Rekey SA");
	return NULL;
}

/* Tries to open the one-datagram GSA_REKEY mc.data[i] under the Rekey SA of gs (implicit
 * authentication when gs has no AUTH_KEY): GK_OK with the inner payloads in *m (gk_msg_free),
 * GK_E_NOT_FOUND when it is another Rekey SA's. */
static gk_status mc_try_open(const gk_group_state *gs, size_t i, gk_msg *m)
{
	const gk_group_sa *kek = kek_of(gs);
	gk_group_keys k;
	ck_assert_int_eq(gk_group_keys_split(GK_CHUNK(kek->keymat, kek->keymat_len), kek->proto, kek->encr,
					     kek->encr_key_bits, kek->integ, kek->kwa, &k), GK_OK);
	gk_frag_reasm reasm;
	memset(&reasm, 0, sizeof(reasm));
	EVP_PKEY *auth_key = NULL;
	gk_sig_scheme want = GK_SIG_NONE;
	if (gs->auth_key_len) {
		ck_assert_int_eq(gk_pubkey_from_spki(GK_CHUNK(gs->auth_key, gs->auth_key_len), &auth_key), GK_OK);
		ck_assert_int_eq(gk_sig_scheme_from_algid(GK_CHUNK(kek->sig_algid, kek->sig_algid_len), &want), GK_OK);
	}
	gk_rekey_in in = { .kek = { .encr = kek->encr, .encr_key_bits = kek->encr_key_bits, .integ = kek->integ,
				    .enc = k.enc, .integ_key = k.integ },
			   .auth_key = auth_key, .want = want, .reasm = &reasm };
	memcpy(in.spi, kek->spi, 16);
	bool complete = false;
	memset(m, 0, sizeof(*m));
	ck_assert_uint_lt(i, mc.n);
	gk_status st = gk_rekey_open(&in, GK_CHUNK(mc.data[i], mc.len[i]), m, &complete);
	ck_assert(st != GK_OK || complete);
	if (st)
		gk_msg_free(m);
	gk_frag_reset(&reasm);
	EVP_PKEY_free(auth_key);
	return st;
}

static void mc_open(const gk_group_state *gs, size_t i, gk_msg *m)
{
	ck_assert_int_eq(mc_try_open(gs, i, m), GK_OK);
}

/* ---- a hand-made GSA_AUTH (rawike.h) with extra payloads ---- */

/* GSA_AUTH with a PSK (the identity text, as pol_member sets it) and the payloads `extra`
 * after IDg; the response in *m. */
static void raw_gsa_auth_with(raw_ike *r, const char *id, const char *group, const gk_out_pl *extra, size_t nextra,
			      gk_msg *m)
{
	gk_ident mid = ident(id), gid = ident(group);
	gk_pl_id idi = { .id_type = mid.type, .data = GK_CHUNK(mid.data, mid.len) };
	gk_pl_id idg = { .id_type = gid.type, .data = GK_CHUNK(gid.data, gid.len) };
	gk_wbuf body, octets;
	uint8_t mic[64];
	size_t miclen = sizeof(mic);
	gk_wbuf_init(&body, 1024);
	gk_wbuf_init(&octets, GK_MAX_MESSAGE * 2);
	ck_assert_int_eq(gk_codec_build(gk_payload_desc(GK_PL_IDi), &idi, &body), GK_OK);
	ck_assert_int_eq(gk_ike_sa_auth_octets(&r->ike, true, gk_wbuf_chunk(&body), &octets), GK_OK);
	ck_assert_int_eq(gk_auth_psk_compute(r->ike.suite.prf, GK_CHUNK(id, strlen(id)), gk_wbuf_chunk(&octets),
					     mic, &miclen), GK_OK);
	gk_pl_auth auth = { .method = GK_AUTH_SHARED_KEY_MIC, .data = GK_CHUNK(mic, miclen) };
	gk_out_pl pl[8] = { { GK_PL_IDi, false, &idi }, { GK_PL_AUTH, false, &auth }, { GK_PL_IDg, false, &idg } };
	ck_assert_uint_le(nextra, 5);
	if (nextra)
		memcpy(pl + 3, extra, nextra * sizeof(*extra));
	raw_send(r, GK_EXCH_GSA_AUTH, r->ike.msgid_out, pl, 3 + nextra);
	ck_assert_msg(raw_recv(r, m, true), "no GSA_AUTH response");
	ck_assert_uint_eq(m->hdr.msg_id, r->ike.msgid_out);
	r->ike.msgid_out++;
	gk_wbuf_free(&body);
	gk_wbuf_free(&octets);
}

/* One GSA_AUTH of `id` from a fresh raw initiator; the response in *m (gk_msg_free), r freed. */
static void raw_register(uint64_t seed, const char *id, const gk_out_pl *extra, size_t nextra, gk_msg *m)
{
	raw_ike r;
	raw_new(&r, seed);
	raw_sa_init(&r);
	raw_gsa_auth_with(&r, id, G1, extra, nextra, m);
	raw_free(&r);
}

/* The response registered the member: GSA and KD, no error notify. */
static void raw_accepted(const gk_msg *m)
{
	const gk_payload *err = gk_msg_find_error(m);
	ck_assert_msg(!err, "refused with %s", err ? gk_iana_str(GK_REG_NOTIFY, err->body->notify.type) : "");
	ck_assert_ptr_nonnull(gk_msg_find(m, GK_PL_GSA));
	ck_assert_ptr_nonnull(gk_msg_find(m, GK_PL_KD));
}

/* The response refused with exactly this notify, and carries no group policy or keys. */
static void raw_refused(const gk_msg *m, uint16_t notify)
{
	const gk_payload *err = gk_msg_find_error(m);
	ck_assert_ptr_nonnull(err);
	ck_assert_uint_eq(err->body->notify.type, notify);
	ck_assert_ptr_null(gk_msg_find(m, GK_PL_GSA));
	ck_assert_ptr_null(gk_msg_find(m, GK_PL_KD));
}

/* SAg proposals covering pol_init's policy: the TEK (ESP AES-GCM-16/256, unspecified-32 SN)
 * and the Rekey SA (AES-CBC-256, HMAC-SHA2-256-128, KW-256, Digital Signature). Proposal
 * numbers, and which ones cover their SA, are the test's. */
static gk_attr kl256 = { .type = GK_TATTR_KEY_LENGTH, .tv = true, .tv_value = 256 };
static gk_transform esp_ok[] = { { GK_TT_ENCR, GK_ENCR_AES_GCM_16, { &kl256, 1 } }, { GK_TT_SN, GK_SN_UNSPEC32, { 0 } } };
static gk_transform esp_bad[] = { { GK_TT_ENCR, GK_ENCR_AES_CBC, { &kl256, 1 } }, { GK_TT_SN, GK_SN_UNSPEC32, { 0 } } };
static gk_transform kek_ok[] = { { GK_TT_ENCR, GK_ENCR_AES_CBC, { &kl256, 1 } },
				 { GK_TT_INTEG, GK_INTEG_HMAC_SHA2_256_128, { 0 } },
				 { GK_TT_KWA, GK_KWA_KW_5649_256, { 0 } },
				 { GK_TT_GCAUTH, GK_GCAUTH_DIGITAL_SIGNATURE, { 0 } } };
static gk_transform kek_bad[] = { { GK_TT_ENCR, GK_ENCR_AES_GCM_16, { &kl256, 1 } },
				  { GK_TT_KWA, GK_KWA_KW_5649_256, { 0 } },
				  { GK_TT_GCAUTH, GK_GCAUTH_DIGITAL_SIGNATURE, { 0 } } };

static gk_proposal prop(uint8_t num, uint8_t proto, gk_transform *t, size_t n)
{
	return (gk_proposal){ .num = num, .proto = proto, .transforms = { t, n } };
}
#define ESP(num, t) prop(num, GK_PROTO_ESP, t, sizeof(t) / sizeof(t[0]))
#define KEK(num, t) prop(num, GK_PROTO_GIKE_UPDATE, t, sizeof(t) / sizeof(t[0]))

static void sag_register(uint64_t seed, const char *id, gk_proposal *p, size_t n, gk_msg *m)
{
	gk_pl_sa sag = { .proposals = { p, n } };
	gk_out_pl pl[] = { { GK_PL_SAg, false, &sag } };
	raw_register(seed, id, pl, 1, m);
}

static void g1_receivers(void)
{
	gk_group_policy g;
	pol_init(&g, G1);
	pol_member(&g, "fqdn:r1.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_member(&g, "fqdn:r2.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_member(&g, "fqdn:r3.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_put(&g);
}

/* =========================================================================================
 * 2.3.3 the member's SAg, as the GCKS reads it
 * ========================================================================================= */

/* "The GCKS MUST NOT use SPI length and SPI fields in the SAg payload": proposals that carry
 * SPIs of any size (which a GSA_AUTH has no use for) are matched on their transforms alone. */
START_TEST(sag_spi_fields_ignored)
{
	g1_receivers();
	start_gcks();
	static const uint8_t spi4[4] = { 0xde, 0xad, 0xbe, 0xef }, spi8[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	gk_proposal p[] = { ESP(1, esp_ok), KEK(1, kek_ok) };
	p[0].spi_size = 4;
	p[0].spi = GK_CHUNK(spi4, 4);
	p[1].spi_size = 8;
	p[1].spi = GK_CHUNK(spi8, 8);
	gk_msg m;
	sag_register(11, "fqdn:r1.example", p, 2, &m);
	raw_accepted(&m);
	gk_msg_free(&m);
	/* the SPIs decide nothing the other way either: with them, an SAg that misses the TEK's
	 * cipher is still refused */
	gk_proposal q[] = { ESP(1, esp_bad), KEK(1, kek_ok) };
	q[0].spi_size = 4;
	q[0].spi = GK_CHUNK(spi4, 4);
	sag_register(12, "fqdn:r2.example", q, 2, &m);
	raw_refused(&m, GK_N_NO_PROPOSAL_CHOSEN);
	gk_msg_free(&m);
	ck_assert_uint_eq(reg_count(G1), 1);
}
END_TEST

/* Proposals with the same Proposal Num are a set; the GCKS "MUST only use transforms from one of
 * the Proposals with the same value": the group's SAs must all fit within one number. */
START_TEST(sag_proposal_num_sets)
{
	g1_receivers();
	start_gcks();
	gk_msg m;
	/* the TEK is covered only by set 1, the Rekey SA only by set 2: refused */
	gk_proposal split[] = { ESP(1, esp_ok), KEK(1, kek_bad), ESP(2, esp_bad), KEK(2, kek_ok) };
	sag_register(21, "fqdn:r1.example", split, 4, &m);
	raw_refused(&m, GK_N_NO_PROPOSAL_CHOSEN);
	gk_msg_free(&m);
	/* each SA in a set of its own (numbers 1 and 2), nothing covering both: refused */
	gk_proposal apart[] = { ESP(1, esp_ok), KEK(2, kek_ok) };
	sag_register(22, "fqdn:r2.example", apart, 2, &m);
	raw_refused(&m, GK_N_NO_PROPOSAL_CHOSEN);
	gk_msg_free(&m);
	ck_assert_uint_eq(reg_count(G1), 0);
	/* set 2 covers both (set 1 does not): accepted */
	gk_proposal second[] = { ESP(1, esp_ok), KEK(1, kek_bad), ESP(2, esp_ok), KEK(2, kek_ok) };
	sag_register(23, "fqdn:r3.example", second, 4, &m);
	raw_accepted(&m);
	gk_msg_free(&m);
	ck_assert_uint_eq(reg_count(G1), 1);
}
END_TEST

/* IPCOMP_SUPPORTED in GSA_AUTH: "The CPI ... MUST be ignored by the GCKS". gcksd offers no
 * IPComp: the registration is the same as without it, and nothing of IPComp is sent back. */
START_TEST(ipcomp_cpi_ignored)
{
	g1_receivers();
	start_gcks();
	static const uint8_t cpi[3] = { 0x12, 0x34, 2 /* IPCOMP_DEFLATE */ };
	gk_pl_notify ipc = { .type = GK_N_IPCOMP_SUPPORTED, .data = GK_CHUNK(cpi, 3) };
	gk_out_pl pl[] = { { GK_PL_NOTIFY, false, &ipc } };
	gk_msg m, plain;
	raw_register(31, "fqdn:r1.example", pl, 1, &m);
	raw_accepted(&m);
	raw_register(32, "fqdn:r2.example", NULL, 0, &plain);
	raw_accepted(&plain);
	for (const gk_payload *p = NULL; (p = gk_msg_next(&m, p, GK_PL_NOTIFY));)
		ck_assert_uint_ne(p->body->notify.type, GK_N_IPCOMP_SUPPORTED);
	/* the same policy as the member without IPCOMP_SUPPORTED got */
	const gk_pl_gsa *a = &gk_msg_find(&m, GK_PL_GSA)->body->gsa, *b = &gk_msg_find(&plain, GK_PL_GSA)->body->gsa;
	ck_assert_uint_eq(a->policies.n, b->policies.n);
	for (size_t i = 0; i < a->policies.n; i++) {
		ck_assert_uint_eq(a->policies.items[i].proto, b->policies.items[i].proto);
		ck_assert_uint_eq(a->policies.items[i].transforms.n, b->policies.items[i].transforms.n);
		ck_assert_uint_eq(a->policies.items[i].attrs.n, b->policies.items[i].attrs.n);
	}
	gk_msg_free(&m);
	gk_msg_free(&plain);
	ck_assert_uint_eq(reg_count(G1), 2);
}
END_TEST

/* =========================================================================================
 * 2.3.3, 4.5.4 the member core's SAg; 2.3.3 the member never closes the IKE SA
 * ========================================================================================= */

/* SAg: ENCR, INTEG and SN for ESP and AH (no ENCR for AH), ENCR, INTEG, KWA and GCAUTH for
 * GIKE_UPDATE; "Other transform types SHOULD NOT be included" (2.3.3), and the SAg "MUST
 * indicate which key wrap algorithms are supported by the GM" (4.5.4): exactly the KWAs it
 * offered in IKE_SA_INIT. */
START_TEST(member_sag_transform_types)
{
	g1_receivers();
	start_gcks();
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	ck_assert(c.send_sag);
	ck_assert_uint_ge(c.offer.nkwa, 1);
	fn_member *m = join(&c);
	run_member(m);
	registered(m, 0);
	ck_assert_uint_eq(sent.nsag, 1);
	ck_assert_uint_eq(sent.nprop, 3);
	bool seen[8] = { 0 };
	for (size_t i = 0; i < sent.nprop; i++) {
		const gk_proposal *p = &sent.prop[i];
		unsigned cnt[16] = { 0 };
		bool kwa_listed[8] = { 0 };
		ck_assert_uint_eq(p->num, 1);
		ck_assert_uint_eq(p->spi_size, 0);
		ck_assert(p->proto == GK_PROTO_ESP || p->proto == GK_PROTO_AH || p->proto == GK_PROTO_GIKE_UPDATE);
		seen[p->proto] = true;
		for (size_t t = 0; t < p->transforms.n; t++) {
			const gk_transform *tr = &p->transforms.items[t];
			ck_assert_uint_lt(tr->type, 16);
			cnt[tr->type]++;
			if (p->proto == GK_PROTO_GIKE_UPDATE)
				ck_assert_msg(tr->type == GK_TT_ENCR || tr->type == GK_TT_INTEG || tr->type == GK_TT_KWA ||
					      tr->type == GK_TT_GCAUTH, "transform type %u in the GIKE_UPDATE proposal",
					      tr->type);
			else
				ck_assert_msg(tr->type == GK_TT_INTEG || tr->type == GK_TT_SN ||
					      (tr->type == GK_TT_ENCR && p->proto == GK_PROTO_ESP),
					      "transform type %u in the %s proposal", tr->type,
					      p->proto == GK_PROTO_AH ? "AH" : "ESP");
			if (tr->type == GK_TT_KWA) {
				size_t k = 0;
				while (k < c.offer.nkwa && c.offer.kwa[k] != tr->id)
					k++;
				ck_assert_msg(k < c.offer.nkwa, "KWA %u was not offered in IKE_SA_INIT", tr->id);
				kwa_listed[k] = true;
			}
		}
		ck_assert_uint_gt(cnt[GK_TT_INTEG], 0);
		if (p->proto == GK_PROTO_GIKE_UPDATE) {
			ck_assert_uint_gt(cnt[GK_TT_ENCR], 0);
			ck_assert_uint_eq(cnt[GK_TT_KWA], c.offer.nkwa);
			for (size_t k = 0; k < c.offer.nkwa; k++)
				ck_assert_msg(kwa_listed[k], "offered KWA %u missing from SAg", c.offer.kwa[k]);
			ck_assert_uint_eq(cnt[GK_TT_GCAUTH], 2);
		} else {
			ck_assert_uint_gt(cnt[GK_TT_SN], 0);
			ck_assert_uint_eq(cnt[GK_TT_ENCR] > 0, p->proto == GK_PROTO_ESP);
		}
	}
	ck_assert(seen[GK_PROTO_ESP] && seen[GK_PROTO_AH] && seen[GK_PROTO_GIKE_UPDATE]);
}
END_TEST

static bool closed(fakenet *n, void *ctx)
{
	(void)n;
	return fn_count(ctx, GK_GM_CLOSED) >= 1;
}

/* "By convention, the GCKS closes the IKE SA, the GM SHOULD NOT close it": across registration,
 * the GCKS's idle close of a multicast group's IKE SA, and an inband member that leaves its
 * group, the member core sends no Delete at all (of the IKE SA or of anything else); the only
 * Delete of the IKE SA comes from the GCKS, and the member's INFORMATIONAL is its answer. */
START_TEST(member_never_closes_ike_sa)
{
	g1_receivers();
	start_gcks();
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	fn_member *m = join(&c);
	run_member(m);
	registered(m, 0);
	ck_assert(fn_run_until(&net, closed, m, 120000));
	ck_assert_uint_ge(fn_trace_count(&net, FN_FROM_GCKS, m->idx, GK_EXCH_INFORMATIONAL, 0), 1);
	ck_assert_uint_eq(fn_trace_count(&net, FN_TO_GCKS, m->idx, GK_EXCH_INFORMATIONAL, 0), 0);
	ck_assert_uint_ge(fn_trace_count(&net, FN_TO_GCKS, m->idx, GK_EXCH_INFORMATIONAL, 1), 1);
	/* an inband member that leaves: GSA_REGISTRATION with NO_PROPOSAL_CHOSEN (2.3.2), no Delete */
	gk_group_policy g;
	pol_init(&g, G2);
	g.rekey_transport = GK_REKEY_INBAND;
	pol_member(&g, "fqdn:r2.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_put(&g);
	ck_assert_int_eq(gk_gcks_reload(net.gcks), GK_OK);
	c = gm_psk("fqdn:r2.example", G2);
	fn_member *in = join(&c);
	run_member(in);
	registered(in, 0);
	size_t before = fn_trace_count(&net, FN_TO_GCKS, in->idx, GK_EXCH_GSA_REGISTRATION, 0);
	gk_gm_leave(in->gm, 0);
	fn_advance(&net, 2000);
	ck_assert_uint_eq(fn_trace_count(&net, FN_TO_GCKS, in->idx, GK_EXCH_GSA_REGISTRATION, 0), before + 1);
	ck_assert_uint_eq(fn_trace_count(&net, FN_TO_GCKS, in->idx, GK_EXCH_INFORMATIONAL, 0), 0);
	/* nothing the member cores built held a Delete */
	ck_assert_uint_gt(sent.n, 0);
	for (size_t i = 0; i < sent.n; i++) {
		ck_assert_msg(sent.ike_deletes[i] == 0, "message %zu (exchange %u) deletes the IKE SA", i,
			      sent.exchange[i]);
		ck_assert_msg(sent.deletes[i] == 0, "message %zu (exchange %u) carries a Delete", i, sent.exchange[i]);
	}
}
END_TEST

/* =========================================================================================
 * 2.4.1, 4.4.2.1.1, section 5: implicit authentication
 * ========================================================================================= */

/* "If implicit authentication is used, then AUTH_KEY MUST NOT be sent to GMs", and the AUTH
 * payload MUST NOT be in GSA_REKEY: no Member Key Bag at registration (a receiver has no
 * Sender-IDs either), and a GSA_REKEY opens without a key and has neither AUTH nor AUTH_KEY.
 * With Digital Signature (the control) AUTH_KEY is there. */
START_TEST(implicit_auth_no_auth_key)
{
	gk_group_policy g;
	pol_init(&g, G1);
	g.kek.gcauth = GK_GCAUTH_IMPLICIT;
	pol_member(&g, "fqdn:r1.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_put(&g);
	pol_init(&g, G2);
	pol_member(&g, "fqdn:r1.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_put(&g);
	start_mc_gcks();
	gk_msg m;
	raw_register(41, "fqdn:r1.example", NULL, 0, &m);
	raw_accepted(&m);
	const gk_pl_kd *kd = &gk_msg_find(&m, GK_PL_KD)->body->kd;
	for (size_t i = 0; i < kd->bags.n; i++) {
		ck_assert_uint_ne(kd->bags.items[i].proto, 0);
		ck_assert_ptr_null(gk_attr_find(&kd->bags.items[i].attrs, GK_MKBA_AUTH_KEY));
	}
	gk_msg_free(&m);
	/* the control: G2 signs, and sends AUTH_KEY */
	raw_ike r;
	raw_new(&r, 42);
	raw_sa_init(&r);
	raw_gsa_auth_with(&r, "fqdn:r1.example", G2, NULL, 0, &m);
	raw_accepted(&m);
	kd = &gk_msg_find(&m, GK_PL_KD)->body->kd;
	const gk_attr *ak = NULL;
	for (size_t i = 0; i < kd->bags.n; i++)
		if (kd->bags.items[i].proto == 0) {
			ak = gk_attr_find(&kd->bags.items[i].attrs, GK_MKBA_AUTH_KEY);
			/* 4.5.3.2: "Multiple instances of the AUTH_KEY attributes MUST NOT be sent" */
			ck_assert_uint_eq(gk_attr_count(&kd->bags.items[i].attrs, GK_MKBA_AUTH_KEY), 1);
		}
	ck_assert_ptr_nonnull(ak);
	gk_msg_free(&m);
	raw_free(&r);
	/* GSA_REKEY of the implicit group, opened under the Rekey SA the member core got */
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	fn_member *mem = join(&c);
	run_member(mem);
	const gk_group_state *gs = registered(mem, 0);
	ck_assert_uint_eq(kek_of(gs)->gcauth, GK_GCAUTH_IMPLICIT);
	ck_assert_uint_eq(gs->auth_key_len, 0);
	mc_free();
	char msg[256];
	ck_assert_int_eq(gk_gcks_rekey(net.gcks, G1, msg, sizeof(msg)), GK_OK);
	ck_assert_uint_eq(mc.n, 1);
	mc_open(gs, 0, &m);
	ck_assert_ptr_nonnull(gk_msg_find(&m, GK_PL_GSA));
	ck_assert_ptr_null(gk_msg_find(&m, GK_PL_AUTH));
	kd = &gk_msg_find(&m, GK_PL_KD)->body->kd;
	for (size_t i = 0; i < kd->bags.n; i++)
		ck_assert_uint_ne(kd->bags.items[i].proto, 0);
	gk_msg_free(&m);
	/* a signing key rollover announces AUTH_KEY to the groups that sign (G2), never to G1:
	 * nothing in the rollover opens under G1's Rekey SA, or it has no AUTH_KEY */
	mc_free();
	ck_assert_int_eq(gk_gcks_rotate_key(net.gcks, msg, sizeof(msg)), GK_OK);
	ck_assert_msg(strstr(msg, "AUTH_KEY announced in GSA_REKEY to 1 multicast group") != NULL, "%s", msg);
	ck_assert_uint_ge(mc.n, 1);
	for (size_t i = 0; i < mc.n; i++) {
		if (mc_try_open(gs, i, &m) != GK_OK)
			continue;
		ck_assert_ptr_null(gk_msg_find(&m, GK_PL_AUTH));
		const gk_payload *p = gk_msg_find(&m, GK_PL_KD);
		for (size_t b = 0; p && b < p->body->kd.bags.n; b++)
			ck_assert_uint_ne(p->body->kd.bags.items[b].proto, 0);
		gk_msg_free(&m);
	}
	mc_free();
}
END_TEST

/* The GSA_REKEY in mc.data[0], opened under the Rekey SA of gs, deletes every ESP SA and the
 * Rekey SA (SPI zero: every SA of the protocol, RFC 9838 2.4.3, 4.6) and brings no policy or
 * keys: everyone is excluded and must register again. */
static void mc_is_exclusion(const gk_group_state *gs)
{
	ck_assert_uint_eq(mc.n, 1);
	gk_msg m;
	mc_open(gs, 0, &m);
	ck_assert_ptr_null(gk_msg_find(&m, GK_PL_GSA));
	ck_assert_ptr_null(gk_msg_find(&m, GK_PL_KD));
	static const uint8_t zero[16];
	bool tek_deleted = false, kek_deleted = false;
	for (const gk_payload *p = NULL; (p = gk_msg_next(&m, p, GK_PL_DELETE));) {
		const gk_pl_delete *d = &p->body->del;
		for (size_t i = 0; i < d->spis.n; i++) {
			tek_deleted |= d->proto == GK_PROTO_ESP && d->spis.items[i].len == 4 &&
				       !memcmp(d->spis.items[i].ptr, zero, 4);
			kek_deleted |= d->proto == GK_PROTO_GIKE_UPDATE && d->spis.items[i].len == 16 &&
				       !memcmp(d->spis.items[i].ptr, zero, 16);
		}
	}
	ck_assert_msg(tek_deleted && kek_deleted, "not an exclusion: the group's SAs are not all deleted");
	gk_msg_free(&m);
}

/* 4.4.2.1.1: "The authentication method MUST NOT change as a result of rekey operations", and
 * GCAUTH goes in registrations only: a policy reload that changes the method (Digital Signature
 * to implicit, and back) excludes everyone by a GSA_REKEY under the old Rekey SA and the old
 * method, so that members learn the new one by registering; a rekey with only new keys would
 * leave them checking for the old method. */
START_TEST(gcauth_change_excludes_all)
{
	gk_group_policy g;
	pol_init(&g, G1);
	pol_member(&g, "fqdn:r1.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_put(&g);
	start_mc_gcks();
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	fn_member *m1 = join(&c);
	run_member(m1);
	const gk_group_state *gs = registered(m1, 0);
	ck_assert_uint_eq(kek_of(gs)->gcauth, GK_GCAUTH_DIGITAL_SIGNATURE);
	pol_init(&g, G1);
	g.kek.gcauth = GK_GCAUTH_IMPLICIT;
	pol_member(&g, "fqdn:r1.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_put(&g);
	mc_free();
	ck_assert_int_eq(gk_gcks_reload(net.gcks), GK_OK);
	mc_is_exclusion(gs);
	/* registered again: implicit, and back to signatures the same way */
	c = gm_psk("fqdn:r1.example", G1);
	fn_member *m2 = join(&c);
	run_member(m2);
	gs = registered(m2, 0);
	ck_assert_uint_eq(kek_of(gs)->gcauth, GK_GCAUTH_IMPLICIT);
	pol_init(&g, G1);
	pol_member(&g, "fqdn:r1.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_put(&g);
	mc_free();
	ck_assert_int_eq(gk_gcks_reload(net.gcks), GK_OK);
	mc_is_exclusion(gs);
	mc_free();
}
END_TEST

/* =========================================================================================
 * 2.4.1 no window for GSA_REKEY; 2.5.1 unique keys
 * ========================================================================================= */

/* "the windowing mechanism ... MUST NOT be used for the Rekey messages": three rekeys in a row,
 * with nothing delivered in between (no member could have answered), all go out at once; each
 * opens under the Rekey SA the one before brought (a rekey renews the Rekey SA too, whose
 * Message IDs start at 0) or with the next Message ID under the same one; no member sends
 * anything because of them. */
START_TEST(rekey_without_window)
{
	g1_receivers();
	start_mc_gcks();
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	fn_member *m = join(&c);
	run_member(m);
	gk_group_state *cur = malloc(sizeof(*cur)), *next = malloc(sizeof(*next));
	ck_assert_ptr_nonnull(cur);
	ck_assert_ptr_nonnull(next);
	*cur = *registered(m, 0);
	size_t to_gcks = fn_trace_count(&net, FN_TO_GCKS, -1, -1, -1);
	char msg[256];
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(gk_gcks_rekey(net.gcks, G1, msg, sizeof(msg)), GK_OK);
	ck_assert_uint_eq(mc.n, 3);
	uint32_t expect = kek_of(cur)->initial_msgid;
	for (size_t i = 0; i < 3; i++) {
		gk_msg r;
		mc_open(cur, i, &r);
		ck_assert_uint_eq(r.hdr.exchange, GK_EXCH_GSA_REKEY);
		ck_assert_uint_eq(r.hdr.msg_id, expect);
		const gk_group_sa *k = kek_of(cur);
		gk_group_keys gk;
		ck_assert_int_eq(gk_group_keys_split(GK_CHUNK(k->keymat, k->keymat_len), k->proto, k->encr,
						     k->encr_key_bits, k->integ, k->kwa, &gk), GK_OK);
		ck_assert_int_eq(gk_group_state_decode(&gk_msg_find(&r, GK_PL_GSA)->body->gsa,
						       &gk_msg_find(&r, GK_PL_KD)->body->kd, GK_GSA_REKEY, k->kwa,
						       gk.wrap, next, NULL, 0), GK_OK);
		expect++;
		for (size_t s = 0; s < next->nsas; s++)
			if (next->sas[s].proto == GK_PROTO_GIKE_UPDATE) {
				gk_group_sa *old = (gk_group_sa *)kek_of(cur);
				uint16_t gcauth = old->gcauth;
				uint8_t algid[GK_SIG_ALGID_MAX];
				size_t alen = old->sig_algid_len;
				memcpy(algid, old->sig_algid, alen);
				*old = next->sas[s]; /* the method stays the registration's (4.4.2.1.1) */
				old->gcauth = gcauth;
				memcpy(old->sig_algid, algid, alen);
				old->sig_algid_len = alen;
				expect = 0;
			}
		gk_group_state_wipe(next);
		gk_msg_free(&r);
	}
	fn_advance(&net, 5000);
	ck_assert_uint_eq(fn_trace_count(&net, FN_TO_GCKS, -1, -1, -1), to_gcks);
	gk_group_state_wipe(cur);
	free(cur);
	free(next);
	mc_free();
}
END_TEST

static void add_tek(gk_group_policy *g, const char *name, const char *dst)
{
	gk_tek_policy *t = realloc(g->teks, (g->nteks + 1) * sizeof(*t));
	ck_assert_ptr_nonnull(t);
	g->teks = t;
	t[g->nteks] = t[0];
	snprintf(t[g->nteks].name, sizeof(t[g->nteks].name), "%s", name);
	ts(&t[g->nteks].dst, dst, dst, 17, 5004, 5004);
	g->nteks++;
}

/* 2.5.1: "A GCKS MUST distribute unique keys for each Data-Security SA including a counter-based
 * mode": two counter-mode SAs of the same transforms in one group, and one in another group,
 * each have their own SPI and keying material (and so do the Rekey SAs); a rekey gives new ones
 * again, none equal to any before. */
START_TEST(unique_keys_per_sa)
{
	gk_group_policy g;
	pol_init(&g, G1);
	add_tek(&g, "audio", "239.1.1.2");
	pol_member(&g, "fqdn:r1.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_put(&g);
	pol_init(&g, G2);
	pol_member(&g, "fqdn:r1.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_put(&g);
	start_mc_gcks();
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	c.groups[1] = ident(G2);
	c.ngroups = 2;
	fn_member *m = join(&c);
	run_member(m);
	const gk_group_sa *all[16];
	size_t n = 0;
	for (size_t gi = 0; gi < 2; gi++) {
		const gk_group_state *gs = registered(m, gi);
		ck_assert_uint_eq(gs->nsas, gi ? 2 : 3);
		for (size_t i = 0; i < gs->nsas; i++)
			all[n++] = &gs->sas[i];
	}
	char msg[256];
	ck_assert_int_eq(gk_gcks_rekey(net.gcks, G1, msg, sizeof(msg)), GK_OK);
	fn_advance(&net, 1000);
	c = gm_psk("fqdn:r1.example", G1);
	fn_member *again = join(&c);
	run_member(again);
	const gk_group_state *gs = registered(again, 0);
	for (size_t i = 0; i < gs->nsas; i++)
		if (gs->sas[i].proto == GK_PROTO_ESP)
			all[n++] = &gs->sas[i];
	ck_assert_uint_eq(n, 7);
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++) {
			ck_assert_msg(all[i]->proto != all[j]->proto || all[i]->spi_len != all[j]->spi_len ||
				      memcmp(all[i]->spi, all[j]->spi, all[i]->spi_len), "SAs %zu and %zu share an SPI", i, j);
			size_t len = all[i]->keymat_len < all[j]->keymat_len ? all[i]->keymat_len : all[j]->keymat_len;
			ck_assert_uint_gt(len, 0);
			ck_assert_msg(memcmp(all[i]->keymat, all[j]->keymat, len) != 0, "SAs %zu and %zu share keys", i, j);
		}
	mc_free();
}
END_TEST

/* =========================================================================================
 * 4.4.2.2 attributes with inband rekey
 * ========================================================================================= */

static void no_lifetime_no_next_spi(const gk_group_state *gs, const char *when)
{
	ck_assert_uint_ge(gs->nsas, 1);
	for (size_t i = 0; i < gs->nsas; i++) {
		ck_assert_msg(gs->sas[i].proto != GK_PROTO_GIKE_UPDATE, "%s: a Rekey SA with inband rekey", when);
		ck_assert_msg(gs->sas[i].lifetime == 0, "%s: GSA_KEY_LIFETIME %u sent with inband rekey", when,
			      gs->sas[i].lifetime);
		ck_assert_msg(gs->sas[i].n_next_spi == 0, "%s: GSA_NEXT_SPI sent with inband rekey", when);
	}
}

/* GSA_KEY_LIFETIME "SHOULD NOT be used if inband rekey is employed" and GSA_NEXT_SPI "MUST NOT
 * be used if inband rekey is employed" (4.4.2.2.1, 4.4.2.2.3): neither at registration nor in
 * GSA_INBAND_REKEY. The same policy with multicast rekey (the control) sends both. */
START_TEST(inband_no_lifetime_no_next_spi)
{
	gk_group_policy g;
	pol_init(&g, G1);
	g.rekey_transport = GK_REKEY_INBAND;
	pol_member(&g, "fqdn:r1.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_put(&g);
	pol_init(&g, G2);
	pol_member(&g, "fqdn:r2.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_put(&g);
	start_mc_gcks();
	gk_gm_config c = gm_psk("fqdn:r2.example", G2);
	fn_member *mc_member = join(&c);
	run_member(mc_member);
	const gk_group_state *mgs = registered(mc_member, 0);
	for (size_t i = 0; i < mgs->nsas; i++) {
		ck_assert_uint_gt(mgs->sas[i].lifetime, 0);
		ck_assert_uint_eq(mgs->sas[i].n_next_spi, 1);
	}
	c = gm_psk("fqdn:r1.example", G1);
	fn_member *m = join(&c);
	run_member(m);
	no_lifetime_no_next_spi(registered(m, 0), "registration");
	char msg[256];
	ck_assert_int_eq(gk_gcks_rekey(net.gcks, G1, msg, sizeof(msg)), GK_OK);
	fn_advance(&net, 2000);
	ck_assert_uint_ge(fn_trace_count(&net, FN_FROM_GCKS, m->idx, GK_EXCH_GSA_INBAND_REKEY, 0), 1);
	ck_assert_uint_ge(fn_count(m, GK_GM_REKEYED), 1);
	for (size_t i = 0; i < fn_count(m, GK_GM_REKEYED); i++) {
		const gk_group_state *gs = fn_find(m, GK_GM_REKEYED, i)->state;
		ck_assert_ptr_nonnull(gs);
		no_lifetime_no_next_spi(gs, "GSA_INBAND_REKEY");
	}
	mc_free();
}
END_TEST

/* =========================================================================================
 * 2.5.1 Sender-IDs exhausted
 * ========================================================================================= */

/* "Before distributing any new Sender-ID values, the GCKS MUST exclude all group members": with
 * 2-bit Sender-IDs (4 values) two senders of 2 each use them up; the next sender registration
 * excludes everyone first (a GSA_REKEY deleting the group's SAs, no new policy or keys in it),
 * gives the group new keys, and only then hands out Sender-IDs from 0 again. */
START_TEST(sender_ids_exhausted_excludes_all)
{
	gk_group_policy g;
	pol_init(&g, G1);
	g.sender_id_bits = 2;
	pol_member(&g, "fqdn:s1.example", GK_MAUTH_PSK, GK_ROLE_SENDER)->max_sender_ids = 2;
	pol_member(&g, "fqdn:s2.example", GK_MAUTH_PSK, GK_ROLE_SENDER)->max_sender_ids = 2;
	pol_member(&g, "fqdn:r1.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_put(&g);
	start_mc_gcks();
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	fn_member *r1 = join(&c);
	c = gm_psk("fqdn:s1.example", G1);
	c.sender = true;
	c.sender_ids = 2;
	fn_member *s1 = join(&c);
	c = gm_psk("fqdn:s2.example", G1);
	c.sender = true;
	c.sender_ids = 2;
	fn_member *s2 = join(&c);
	run_all();
	const gk_group_state *rgs = registered(r1, 0);
	const gk_group_state *a = registered(s1, 0), *b = registered(s2, 0);
	ck_assert_uint_eq(a->nsender_ids, 2);
	ck_assert_uint_eq(b->nsender_ids, 2);
	ck_assert_uint_eq(a->sender_ids[0] + a->sender_ids[1] + b->sender_ids[0] + b->sender_ids[1], 0 + 1 + 2 + 3);
	ck_assert_uint_eq(mc.n, 0);
	uint8_t old_tek[4];
	memcpy(old_tek, rgs->sas[0].spi, 4);
	/* s1 again (gmd restarted): no Sender-IDs left */
	c = gm_psk("fqdn:s1.example", G1);
	c.sender = true;
	c.sender_ids = 2;
	fn_member *s1b = join(&c);
	run_member(s1b);
	const gk_group_state *n = registered(s1b, 0);
	ck_assert_uint_eq(n->nsender_ids, 2);
	ck_assert_uint_eq(n->sender_ids[0], 0);
	ck_assert_uint_eq(n->sender_ids[1], 1);
	ck_assert_msg(memcmp(n->sas[0].spi, old_tek, 4) != 0, "the group kept its keys across the exclusion");
	/* everyone was excluded first, under the old Rekey SA */
	mc_is_exclusion(rgs);
	mc_free();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("conformance");
	TCase *tc = tcase_create("conformance");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, sag_spi_fields_ignored);
	tcase_add_test(tc, sag_proposal_num_sets);
	tcase_add_test(tc, ipcomp_cpi_ignored);
	tcase_add_test(tc, member_sag_transform_types);
	tcase_add_test(tc, member_never_closes_ike_sa);
	tcase_add_test(tc, implicit_auth_no_auth_key);
	tcase_add_test(tc, gcauth_change_excludes_all);
	tcase_add_test(tc, rekey_without_window);
	tcase_add_test(tc, unique_keys_per_sa);
	tcase_add_test(tc, inband_no_lifetime_no_next_spi);
	tcase_add_test(tc, sender_ids_exhausted_excludes_all);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
