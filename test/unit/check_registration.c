/* Registration end to end, in one process: a GCKS core (gcks/gcks.h) and member cores
 * (member/gm.h) talk through the in-memory network of fakenet.h, with a fake clock and
 * deterministic random generators, and with impairments the tests switch on (drop, duplicate,
 * corrupt, truncate, reorder). Every test makes a fresh store in its own temporary directory,
 * writes the GCKS identity and group policies into it, and asserts through the members' events,
 * the store and what went over the wire, never through logs. A few tests speak to the GCKS
 * with hand-made messages (raw_*) to see what the member core would never send or show. */
#include <arpa/inet.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include <unistd.h>
#include <openssl/pem.h>
#include "testutil.h"
#include "certgen.h"
#include "fakenet.h"
#include "rawike.h"
#include "regfix.h"
#include "gcks/control.h"
#include "gcks/storage.h"
#include "gcks/gcks_keyrules.h"
#include "algs.h"
#include "auth.h"
#include "dh.h"
#include "ike_sa.h"
#include "ikekeys.h"
#include "log.h"
#include "message.h"
#include "proposal.h"
#include "rekey_msg.h"

/* ---- fixture (regfix.h) ---- */

static void setup(void)
{
	rf_setup("check_registration", "gk-reg");
}

static void teardown(void)
{
	rf_teardown();
}

static void same_sas(const gk_group_state *a, const gk_group_state *b)
{
	ck_assert_uint_eq(a->nsas, b->nsas);
	for (size_t i = 0; i < a->nsas; i++) {
		ck_assert_uint_eq(a->sas[i].proto, b->sas[i].proto);
		ck_assert_uint_eq(a->sas[i].spi_len, b->sas[i].spi_len);
		ck_assert_mem_eq(a->sas[i].spi, b->sas[i].spi, a->sas[i].spi_len);
		ck_assert_uint_eq(a->sas[i].keymat_len, b->sas[i].keymat_len);
		ck_assert_uint_gt(a->sas[i].keymat_len, 0);
		ck_assert_mem_eq(a->sas[i].keymat, b->sas[i].keymat, a->sas[i].keymat_len);
	}
}

/* ---- store ---- */

static bool reg_get(const char *group, const char *member, gk_registration *out)
{
	gk_registration *list = NULL;
	size_t n = 0;
	bool found = false;
	ck_assert_int_eq(gk_store_registrations(store, group, &list, &n), GK_OK);
	for (size_t i = 0; i < n; i++)
		if (!strcmp(list[i].member, member)) {
			*out = list[i];
			found = true;
		}
	free(list);
	return found;
}

/* ---- the wire ---- */

/* Parses an unprotected datagram of the trace (IKE_SA_INIT); caller frees with gk_msg_free. */
static void parse_plain(const fn_trace *t, gk_msg *m)
{
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(gk_msg_parse(m, GK_CHUNK(t->data, t->len)), GK_OK);
}

static bool same_bytes(const fn_trace *a, const fn_trace *b)
{
	return a && b && a->len == b->len && !memcmp(a->data, b->data, a->len);
}

/* ---- a hand-made initiator (rawike.h), for what the member core never sends ---- */

/* GSA_AUTH with a PSK (the identity text, as pol_member sets it); the response in *m. */
static void raw_gsa_auth(raw_ike *r, const char *id, const char *group, gk_msg *m)
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
	gk_out_pl pl[] = { { GK_PL_IDi, false, &idi }, { GK_PL_AUTH, false, &auth }, { GK_PL_IDg, false, &idg } };
	raw_send(r, GK_EXCH_GSA_AUTH, r->ike.msgid_out, pl, 3);
	ck_assert_msg(raw_recv(r, m, true), "no GSA_AUTH response");
	ck_assert_uint_eq(m->hdr.msg_id, r->ike.msgid_out);
	r->ike.msgid_out++;
	gk_wbuf_free(&body);
	gk_wbuf_free(&octets);
}

/* The attribute of a policy in a GSA payload: the policy of `proto` (0 = group-wide). */
static const gk_attr *gsa_attr(const gk_msg *m, uint8_t proto, uint16_t type)
{
	const gk_payload *p = gk_msg_find(m, GK_PL_GSA);
	ck_assert_ptr_nonnull(p);
	for (size_t i = 0; i < p->body->gsa.policies.n; i++) {
		const gk_gsa_policy *pol = &p->body->gsa.policies.items[i];
		if (pol->proto == proto)
			return gk_attr_find(&pol->attrs, type);
	}
	return NULL;
}

/* =========================================================================================
 * Registration of receivers and senders
 * ========================================================================================= */

START_TEST(two_receivers_one_sender)
{
	standard_policies(0);
	start_gcks();
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	fn_member *r1 = join(&c);
	c = gm_psk("fqdn:r2.example", G1);
	fn_member *r2 = join(&c);
	c = gm_psk("fqdn:s1.example", G1);
	c.sender = true;
	c.sender_ids = 2;
	fn_member *s1 = join(&c);
	run_all();

	const gk_group_state *a = registered(r1, 0), *b = registered(r2, 0), *s = registered(s1, 0);
	for (size_t i = 0; i < 3; i++)
		ck_assert_uint_eq(fn_count(&net.members[i], GK_GM_DONE), 1);
	/* one TEK and the Rekey SA, identical for everyone and equal to what the GCKS holds */
	ck_assert_uint_eq(a->nsas, 2);
	ck_assert_uint_eq(a->sas[0].proto, GK_PROTO_ESP);
	ck_assert_uint_eq(a->sas[0].spi_len, 4);
	ck_assert_uint_eq(a->sas[0].keymat_len, 36); /* AES-GCM-16/256: key and salt */
	ck_assert_uint_eq(a->sas[1].proto, GK_PROTO_GIKE_UPDATE);
	ck_assert_uint_eq(a->sas[1].spi_len, 16);
	same_sas(a, b);
	same_sas(a, s);
	gk_gcks_group_info info[4];
	size_t ng = gk_gcks_groups(net.gcks, info, 4);
	const gk_gcks_group_info *g1 = NULL;
	for (size_t i = 0; i < ng; i++)
		if (!strcmp(info[i].pol->name, G1))
			g1 = &info[i];
	ck_assert_ptr_nonnull(g1);
	ck_assert_uint_eq(g1->nkeys, 2);
	ck_assert_uint_eq(g1->registered, 3);
	for (size_t i = 0; i < 2; i++) {
		ck_assert_mem_eq(a->sas[i].spi, g1->keys[i].spi, a->sas[i].spi_len);
		ck_assert_uint_eq(a->sas[i].keymat_len, g1->keys[i].keymat_len);
		ck_assert_mem_eq(a->sas[i].keymat, g1->keys[i].keymat, a->sas[i].keymat_len);
	}
	/* GSA_INITIAL_MESSAGE_ID is 0 before any rekey (its absence on the wire: rekey_msgid_on_wire) */
	ck_assert_uint_eq(a->sas[1].initial_msgid, 0);
	ck_assert_uint_gt(a->auth_key_len, 0);

	/* RFC 9838 2.5.1: Sender-IDs start at zero, as many as asked; receivers get none, and
	 * GWP_SENDER_ID_BITS goes to senders only (4.5.3 notes) */
	ck_assert_uint_eq(s->nsender_ids, 2);
	ck_assert_uint_eq(s->sender_ids[0], 0);
	ck_assert_uint_eq(s->sender_ids[1], 1);
	ck_assert(s->has_sender_id_bits);
	ck_assert_uint_eq(s->sender_id_bits, 8);
	ck_assert_uint_eq(a->nsender_ids, 0);
	ck_assert_uint_eq(b->nsender_ids, 0);
	ck_assert_msg(!a->has_sender_id_bits && !b->has_sender_id_bits, "GWP_SENDER_ID_BITS sent to a receiver");
	ck_assert(a->has_atd && a->atd == 30 && a->has_dtd && a->dtd == 60);

	/* the store */
	gk_registration rg;
	ck_assert_uint_eq(reg_count(G1), 3);
	ck_assert(reg_get(G1, "fqdn:s1.example", &rg));
	ck_assert_int_eq(rg.role, GK_ROLE_SENDER);
	ck_assert_uint_eq(rg.sender_id_first, 0);
	ck_assert_uint_eq(rg.sender_id_count, 2);
	ck_assert_str_eq(rg.peer, "127.0.0.12:10002");
	ck_assert(reg_get(G1, "fqdn:r1.example", &rg));
	ck_assert_int_eq(rg.role, GK_ROLE_RECEIVER);
	ck_assert_uint_eq(rg.sender_id_count, 0);
	ck_assert_uint_eq(reg_count(G2), 0);

	/* the same sender registers again: fresh Sender-IDs, never the ones it had */
	c = gm_psk("fqdn:s1.example", G1);
	c.sender = true;
	c.sender_ids = 2;
	fn_member *s1b = join(&c);
	run_member(s1b);
	s = registered(s1b, 0);
	ck_assert_uint_eq(s->nsender_ids, 2);
	ck_assert_uint_eq(s->sender_ids[0], 2);
	ck_assert_uint_eq(s->sender_ids[1], 3);
	same_sas(a, s);
	ck_assert_uint_eq(reg_count(G1), 3);
	ck_assert(reg_get(G1, "fqdn:s1.example", &rg));
	ck_assert_uint_eq(rg.sender_id_first, 2);
	ck_assert_uint_eq(rg.sender_id_count, 2);

	/* more than the policy allows is cut to the bound; no request count means one */
	c = gm_psk("fqdn:s2.example", G1);
	c.sender = true;
	c.sender_ids = 50;
	fn_member *s2 = join(&c);
	run_member(s2);
	s = registered(s2, 0);
	ck_assert_uint_eq(s->nsender_ids, 4);
	ck_assert_uint_eq(s->sender_ids[0], 4);
	c.sender_ids = 0;
	fn_member *s2b = join(&c);
	run_member(s2b);
	s = registered(s2b, 0);
	ck_assert_uint_eq(s->nsender_ids, 1);
	ck_assert_uint_eq(s->sender_ids[0], 8);
	gk_gcks_stats st = stats();
	ck_assert_uint_eq(st.registrations, 6);
	ck_assert_uint_eq(st.refusals, 0);
}
END_TEST

/* What the member core cannot show: GSA_INITIAL_MESSAGE_ID absent while the rekey counter is 0,
 * present once it is not. */
START_TEST(rekey_msgid_on_wire)
{
	standard_policies(0);
	start_gcks();
	raw_ike r;
	gk_msg m;
	raw_new(&r, 7);
	raw_sa_init(&r);
	raw_gsa_auth(&r, "fqdn:r1.example", G1, &m);
	ck_assert_ptr_null(gk_msg_find_error(&m));
	ck_assert_ptr_nonnull(gk_msg_find(&m, GK_PL_KD));
	ck_assert_ptr_null(gsa_attr(&m, GK_PROTO_GIKE_UPDATE, GK_GSAA_GSA_INITIAL_MESSAGE_ID));
	ck_assert_ptr_nonnull(gsa_attr(&m, GK_PROTO_GIKE_UPDATE, GK_GSAA_GSA_KEY_LIFETIME));
	ck_assert_ptr_null(gsa_attr(&m, 0, GK_GWPA_GWP_SENDER_ID_BITS));
	ck_assert_ptr_nonnull(gsa_attr(&m, 0, GK_GWPA_GWP_ATD));
	gk_msg_free(&m);
	raw_free(&r);

	uint32_t id;
	ck_assert_int_eq(gk_keys_rekey_msgid_next(store, G1, &id), GK_OK);
	ck_assert_int_eq(gk_keys_rekey_msgid_next(store, G1, &id), GK_OK);
	raw_new(&r, 8);
	raw_sa_init(&r);
	raw_gsa_auth(&r, "fqdn:r2.example", G1, &m);
	const gk_attr *a = gsa_attr(&m, GK_PROTO_GIKE_UPDATE, GK_GSAA_GSA_INITIAL_MESSAGE_ID);
	ck_assert_ptr_nonnull(a);
	ck_assert_uint_eq(a->value.len, 4);
	ck_assert_uint_eq(gk_get_u32(a->value.ptr), 2);
	gk_msg_free(&m);
	raw_free(&r);

	/* and the member core reads it */
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	fn_member *r1 = join(&c);
	run_member(r1);
	ck_assert_uint_eq(registered(r1, 0)->sas[1].initial_msgid, 2);
}
END_TEST

/* =========================================================================================
 * Refusals
 * ========================================================================================= */

START_TEST(refuse_unknown_group)
{
	standard_policies(0);
	start_gcks();
	gk_gm_config c = gm_psk("fqdn:r1.example", "keyid:no-such-group");
	fn_member *m = join(&c);
	run_member(m);
	/* RFC 9838 2.3.1: authenticated first (IDr, AUTH, N), so the member verified the GCKS */
	refused(m, GK_N_INVALID_GROUP_ID);
	ck_assert_uint_eq(fn_count(m, GK_GM_FAILED), 0);
	ck_assert_uint_eq(fn_count(m, GK_GM_DONE), 1);
	gk_gcks_stats st = stats();
	ck_assert_uint_eq(st.half_open, 0);
	ck_assert_uint_eq(st.established, 1); /* until idle close */
	ck_assert_uint_eq(st.registrations, 0);
	ck_assert_uint_eq(reg_count(G1), 0);
}
END_TEST

START_TEST(refuse_identity_of_another_group)
{
	standard_policies(0);
	start_gcks();
	/* listed in G2 only: authenticated, not authorized for G1 */
	gk_gm_config c = gm_psk("fqdn:other.example", G1);
	fn_member *m = join(&c);
	/* listed nowhere: no credentials, so no authentication */
	c = gm_psk("fqdn:stranger.example", G1);
	fn_member *x = join(&c);
	run_all();
	refused(m, GK_N_AUTHORIZATION_FAILED);
	ck_assert_uint_eq(fn_count(m, GK_GM_DONE), 1);
	failed(x, GK_N_AUTHENTICATION_FAILED);
	ck_assert_uint_eq(reg_count(G1), 0);
	ck_assert_uint_eq(reg_count(G2), 0);
	ck_assert_uint_eq(stats().registrations, 0);
}
END_TEST

START_TEST(refuse_wrong_psk)
{
	standard_policies(0);
	start_gcks();
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	c.psk = (const uint8_t *)"not the key";
	c.psk_len = strlen("not the key");
	fn_member *m = join(&c);
	run_member(m);
	failed(m, GK_N_AUTHENTICATION_FAILED);
	gk_gcks_stats st = stats();
	ck_assert_uint_eq(st.half_open, 0); /* the failed SA was removed */
	ck_assert_uint_eq(st.established, 0);
	ck_assert_uint_eq(reg_count(G1), 0);
	/* the same GSA_AUTH again finds no SA: dropped, unanswered */
	const fn_trace *req = fn_trace_find(&net, FN_TO_GCKS, 0, GK_EXCH_GSA_AUTH, 0, 0);
	ck_assert_ptr_nonnull(req);
	size_t answers = fn_trace_count(&net, FN_FROM_GCKS, -1, -1, -1);
	uint64_t dropped = st.dropped;
	fn_raw *ep = fn_add_raw(&net);
	fn_raw_send(ep, req->data, req->len);
	fn_flush(&net);
	ck_assert_uint_eq(fn_trace_count(&net, FN_FROM_GCKS, -1, -1, -1), answers);
	ck_assert_uint_eq(stats().dropped, dropped + 1);
}
END_TEST

START_TEST(refuse_receiver_as_sender)
{
	standard_policies(0);
	start_gcks();
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	c.sender = true;
	fn_member *m = join(&c);
	run_member(m);
	refused(m, GK_N_AUTHORIZATION_FAILED);
	ck_assert_uint_eq(reg_count(G1), 0);
	/* no Sender-ID was spent on it */
	c = gm_psk("fqdn:s1.example", G1);
	c.sender = true;
	fn_member *s = join(&c);
	run_member(s);
	const gk_group_state *gs = registered(s, 0);
	ck_assert_uint_eq(gs->nsender_ids, 1);
	ck_assert_uint_eq(gs->sender_ids[0], 0);
}
END_TEST

START_TEST(refuse_capacity)
{
	standard_policies(2);
	start_gcks();
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	fn_member *r1 = join(&c);
	run_member(r1);
	c = gm_psk("fqdn:r2.example", G1);
	fn_member *r2 = join(&c);
	run_member(r2);
	registered(r1, 0);
	registered(r2, 0);
	c = gm_psk("fqdn:s1.example", G1);
	c.sender = true;
	fn_member *s1 = join(&c);
	run_member(s1);
	refused(s1, GK_N_REGISTRATION_FAILED);
	ck_assert_uint_eq(reg_count(G1), 2);
	/* a member already registered may register again */
	c = gm_psk("fqdn:r1.example", G1);
	fn_member *again = join(&c);
	run_member(again);
	same_sas(registered(again, 0), registered(r1, 0));
	ck_assert_uint_eq(reg_count(G1), 2);
	/* and the GCKS's count did not grow with it: still full */
	c = gm_psk("fqdn:s1.example", G1);
	fn_member *s1b = join(&c);
	run_member(s1b);
	refused(s1b, GK_N_REGISTRATION_FAILED);
}
END_TEST

START_TEST(refuse_sag_without_group_cipher)
{
	standard_policies(0);
	start_gcks();
	/* knows the Rekey SA's AES-CBC-256, not the TEK's AES-GCM-16 */
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	c.sag_encr[0] = (gk_encr_choice){ GK_ENCR_AES_CBC, 256 };
	c.nsag_encr = 1;
	fn_member *m = join(&c);
	/* knows both */
	c = gm_psk("fqdn:r2.example", G1);
	c.sag_encr[0] = (gk_encr_choice){ GK_ENCR_AES_GCM_16, 256 };
	c.sag_encr[1] = (gk_encr_choice){ GK_ENCR_AES_CBC, 256 };
	c.nsag_encr = 2;
	fn_member *ok = join(&c);
	/* knows AES-GCM-16 with the wrong key size only */
	c = gm_psk("fqdn:s1.example", G1);
	c.sag_encr[0] = (gk_encr_choice){ GK_ENCR_AES_GCM_16, 128 };
	c.sag_encr[1] = (gk_encr_choice){ GK_ENCR_AES_CBC, 256 };
	c.nsag_encr = 2;
	fn_member *small = join(&c);
	run_all();
	refused(m, GK_N_NO_PROPOSAL_CHOSEN);
	refused(small, GK_N_NO_PROPOSAL_CHOSEN);
	registered(ok, 0);
	ck_assert_uint_eq(reg_count(G1), 1);
}
END_TEST

/* =========================================================================================
 * Certificates and raw public keys
 * ========================================================================================= */

static X509 *issue_eku(const char *cn, const char *san, const char *eku, bool ca, EVP_PKEY *key, X509 *issuer,
		       EVP_PKEY *issuer_key, long serial)
{
	cg_cert_opts o = { .cn = cn, .san = san, .ca = ca, .eku = eku, .not_before = -3600, .not_after = 86400,
			   .serial = serial };
	X509 *x = cg_cert_issue(&o, key, issuer, issuer_key);
	ck_assert_ptr_nonnull(x);
	return x;
}

START_TEST(certificates_both_ways)
{
	make_pki();
	set_identity(gcks_cert, ca_cert);
	gk_group_policy g;
	pol_init(&g, G1);
	pol_member(&g, "fqdn:m1.example", GK_MAUTH_CERT, GK_ROLE_SENDER);
	pol_member(&g, "fqdn:m2.example", GK_MAUTH_CERT, GK_ROLE_RECEIVER);
	pol_member(&g, "fqdn:m3.example", GK_MAUTH_CERT, GK_ROLE_RECEIVER);
	pol_member(&g, "fqdn:m4.example", GK_MAUTH_CERT, GK_ROLE_RECEIVER);
	pol_member(&g, "fqdn:r1.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_put(&g);
	start_gcks();
	EVP_PKEY *k;
	X509 *x;
	member_cert("DNS:m1.example", false, &k, &x);
	gk_gm_config c = gm_cert("fqdn:m1.example", G1, k, x, ca_store);
	c.sender = true;
	fn_member *good = join(&c);
	member_cert("DNS:m2.example", true, &k, &x);          /* issued by a CA the GCKS does not trust */
	c = gm_cert("fqdn:m2.example", G1, k, x, ca_store);
	fn_member *rogue = join(&c);
	member_cert("DNS:someone-else.example", false, &k, &x); /* the certificate names another identity */
	c = gm_cert("fqdn:m3.example", G1, k, x, ca_store);
	fn_member *misnamed = join(&c);
	member_cert("DNS:m4.example", false, &k, &x);         /* does not trust the GCKS's CA */
	c = gm_cert("fqdn:m4.example", G1, k, x, rogue_store);
	fn_member *distrust = join(&c);
	c = gm_psk("fqdn:r1.example", G1);                    /* PSK members still work beside them */
	fn_member *psk = join(&c);
	run_all();

	const gk_group_state *gs = registered(good, 0);
	ck_assert_uint_eq(gs->nsender_ids, 1);
	same_sas(gs, registered(psk, 0));
	failed(rogue, GK_N_AUTHENTICATION_FAILED);
	failed(misnamed, GK_N_AUTHENTICATION_FAILED);
	/* the member refuses a GCKS it cannot verify (the GCKS had no way to know) */
	failed(distrust, GK_N_AUTHENTICATION_FAILED);
	gk_registration rg;
	ck_assert(reg_get(G1, "fqdn:m1.example", &rg));
	ck_assert(!reg_get(G1, "fqdn:m2.example", &rg));
	ck_assert(!reg_get(G1, "fqdn:m3.example", &rg));
}
END_TEST

/* The member pins its GCKS: a GCKS that authenticates as another identity (with the right
 * PSK) gets no registration, and nothing is reported for the group. */
START_TEST(gcks_id_pinned)
{
	standard_policies(0);
	start_gcks();
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	c.gcks_id = ident("fqdn:gcks-2.example");
	fn_member *pinned_elsewhere = join(&c);
	c = gm_psk("fqdn:r2.example", G1);
	c.gcks_id = ident(GCKS_ID);
	fn_member *pinned_right = join(&c);
	c = gm_psk("fqdn:s1.example", G1);
	c.gcks_id = ident("keyid:gcks.example"); /* same text, another ID type */
	fn_member *wrong_type = join(&c);
	run_all();
	failed(pinned_elsewhere, GK_N_AUTHENTICATION_FAILED);
	ck_assert_str_eq(fn_find(pinned_elsewhere, GK_GM_FAILED, 0)->why,
			 "the GCKS authenticated as fqdn:gcks.example, not as the pinned GCKS ID fqdn:gcks-2.example");
	ck_assert_uint_eq(fn_count(pinned_elsewhere, GK_GM_REFUSED), 0);
	failed(wrong_type, GK_N_AUTHENTICATION_FAILED);
	registered(pinned_right, 0);
}
END_TEST

/* Members share the CA with the GCKS. A member that turns its own valid certificate (and key)
 * into a GCKS gets nowhere: its name is not the pinned one, and even a member pinned to that
 * name (a misconfiguration) refuses a certificate without extendedKeyUsage serverAuth. A
 * server certificate of another name is refused by the pin alone, one without the purpose by
 * the purpose alone. */
START_TEST(member_certificate_as_gcks)
{
	make_pki();
	EVP_PKEY *mk, *k;
	X509 *mx, *x;
	member_cert("DNS:m9.example", false, &mk, &mx); /* the rogue member's own, clientAuth */
	struct {
		const char *gid, *pin;
		EVP_PKEY *key;
		X509 *cert;
		uint16_t notify;
		const char *why;
	} cases[] = {
		{ "fqdn:m9.example", GCKS_ID, mk, mx, GK_N_AUTHENTICATION_FAILED, "the GCKS failed to authenticate" },
		{ "fqdn:m9.example", "fqdn:m9.example", mk, mx, GK_N_AUTHENTICATION_FAILED,
		  "the GCKS failed to authenticate" },
		{ "fqdn:gcks-2.example", GCKS_ID, gcks_key, NULL, GK_N_AUTHENTICATION_FAILED,
		  "the GCKS authenticated as fqdn:gcks-2.example, not as the pinned GCKS ID fqdn:gcks.example" },
		{ GCKS_ID, GCKS_ID, gcks_key, NULL, GK_N_AUTHENTICATION_FAILED, "the GCKS failed to authenticate" },
		{ GCKS_ID, GCKS_ID, gcks_key, NULL, 0, NULL },
	};
	/* server certificates: another name; the right name without EKU, with anyExtendedKeyUsage
	 * only (no better than none); and the real one */
	cases[2].cert = issue_eku("gcks-2", "DNS:gcks-2.example", "serverAuth", false, gcks_key, ca_cert, ca_key, 90);
	cases[3].cert = issue_eku("gcks", "DNS:gcks.example", "anyExtendedKeyUsage", false, gcks_key, ca_cert, ca_key, 91);
	cases[4].cert = gcks_cert;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		set_identity_as(cases[i].gid, cases[i].key, cases[i].cert, ca_cert);
		gk_group_policy g;
		pol_init(&g, G1);
		pol_member(&g, "fqdn:m1.example", GK_MAUTH_CERT, GK_ROLE_RECEIVER);
		pol_put(&g);
		start_gcks();
		member_cert("DNS:m1.example", false, &k, &x);
		gk_gm_config c = gm_cert("fqdn:m1.example", G1, k, x, ca_store);
		c.gcks_id = ident(cases[i].pin);
		fn_member *m = join(&c);
		run_member(m);
		if (!cases[i].why) {
			registered(m, 0);
		} else {
			failed(m, cases[i].notify);
			ck_assert_str_eq(fn_find(m, GK_GM_FAILED, 0)->why, cases[i].why);
		}
		fn_free(&net);
		fn_init(&net);
	}
	X509_free(cases[2].cert);
	X509_free(cases[3].cert);
}
END_TEST

/* A GCKS that hands out a unicast selector (here: traffic to one host of the member's own
 * network) gets nothing installed: the group is refused before it is reported. With the
 * prefix allowed locally, the same group registers. */
START_TEST(unicast_selector_refused)
{
	gk_group_policy g;
	pol_init(&g, G1);
	ts(&g.teks[0].dst, "192.0.2.50", "192.0.2.50", 17, 5004, 5004);
	pol_member(&g, "fqdn:r1.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_member(&g, "fqdn:r2.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_member(&g, "fqdn:s1.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_put(&g);
	pol_init(&g, G2);
	ts(&g.teks[0].dst, "0.0.0.0", "255.255.255.255", 0, 0, 65535);
	pol_member(&g, "fqdn:r1.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_put(&g);
	start_gcks();
	gk_prefix allow[2];
	char why[GK_ERR_MAX] = "";
	ck_assert_int_eq(gk_prefix_parse("198.51.100.0/24", &allow[0], why, sizeof(why)), GK_OK);
	ck_assert_int_eq(gk_prefix_parse("192.0.2.0/26", &allow[1], why, sizeof(why)), GK_OK);
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	fn_member *plain = join(&c);
	c = gm_psk("fqdn:r2.example", G1);
	c.allow = allow;
	c.nallow = 2;
	fn_member *allowed = join(&c);
	c = gm_psk("fqdn:s1.example", G1);
	c.allow = allow;
	c.nallow = 1;                    /* another prefix only */
	fn_member *other_prefix = join(&c);
	run_all();
	refused(plain, 0);
	ck_assert_str_eq(fn_find(plain, GK_GM_REFUSED, 0)->why,
			 "ESP SA destination 192.0.2.50/32 is neither multicast nor inside a prefix allowed with "
			 "--allow-selector");
	refused(other_prefix, 0);
	registered(allowed, 0);
	/* everything: refused even with prefixes allowed */
	c = gm_psk("fqdn:r1.example", G2);
	c.allow = allow;
	c.nallow = 2;
	fn_member *wide = join(&c);
	run_member(wide);
	refused(wide, 0);
	ck_assert_str_eq(fn_find(wide, GK_GM_REFUSED, 0)->why,
			 "ESP SA destination 0.0.0.0/0 is neither multicast nor inside a prefix allowed with "
			 "--allow-selector");
}
END_TEST

static gk_member_policy *pol_pubkey(gk_group_policy *g, const char *id, EVP_PKEY *key)
{
	gk_member_policy *m = pol_member(g, id, GK_MAUTH_PUBKEY, GK_ROLE_RECEIVER);
	gk_wbuf w;
	gk_wbuf_init(&w, 4096);
	ck_assert_int_eq(gk_pubkey_to_spki(key, &w), GK_OK);
	m->pubkey = malloc(w.len);
	ck_assert_ptr_nonnull(m->pubkey);
	memcpy(m->pubkey, w.data, w.len);
	m->pubkey_len = w.len;
	gk_wbuf_free(&w);
	return m;
}

START_TEST(raw_public_keys)
{
	EVP_PKEY *k1 = cg_key_ed25519(), *k2 = cg_key_ec("P-256"), *other = cg_key_ed25519();
	EVP_PKEY *gcks_pub = NULL, *wrong_gcks = cg_key_ec("P-256");
	ck_assert(k1 && k2 && other && wrong_gcks);
	gk_wbuf w;
	gk_wbuf_init(&w, 4096);
	ck_assert_int_eq(gk_pubkey_to_spki(gcks_key, &w), GK_OK);
	ck_assert_int_eq(gk_pubkey_from_spki(gk_wbuf_chunk(&w), &gcks_pub), GK_OK);
	gk_wbuf_free(&w);
	gk_group_policy g;
	pol_init(&g, G1);
	pol_pubkey(&g, "fqdn:k1.example", k1);
	pol_pubkey(&g, "fqdn:k2.example", k2);
	pol_pubkey(&g, "fqdn:k3.example", k1);
	pol_pubkey(&g, "fqdn:k4.example", k2);
	pol_put(&g);
	start_gcks();
	gk_gm_config c = gm_cert("fqdn:k1.example", G1, k1, NULL, NULL);
	c.gcks_pubkey = gcks_pub;
	fn_member *a = join(&c);
	c = gm_cert("fqdn:k2.example", G1, k2, NULL, NULL);
	c.gcks_pubkey = gcks_pub;
	fn_member *b = join(&c);
	c = gm_cert("fqdn:k3.example", G1, other, NULL, NULL); /* not the key the policy holds */
	c.gcks_pubkey = gcks_pub;
	fn_member *bad = join(&c);
	c = gm_cert("fqdn:k4.example", G1, k2, NULL, NULL);    /* expects another GCKS key */
	c.gcks_pubkey = wrong_gcks;
	fn_member *wrong = join(&c);
	run_all();
	same_sas(registered(a, 0), registered(b, 0));
	failed(bad, GK_N_AUTHENTICATION_FAILED);
	failed(wrong, GK_N_AUTHENTICATION_FAILED);
	ck_assert(!reg_get(G1, "fqdn:k3.example", &(gk_registration){ 0 }));
	fn_free(&net); /* the members hold the keys until here */
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
	EVP_PKEY_free(other);
	EVP_PKEY_free(gcks_pub);
	EVP_PKEY_free(wrong_gcks);
}
END_TEST

/* =========================================================================================
 * GSA_REGISTRATION: more groups over one IKE SA, and leaving
 * ========================================================================================= */

START_TEST(two_groups_one_sa_and_leave)
{
	standard_policies(0);
	/* G2 holds one member at most, so a leave must make room */
	gk_group_policy g;
	ck_assert_int_eq(gk_store_group_get(store, G2, &g), GK_OK);
	g.capacity = 1;
	pol_member(&g, "fqdn:r2.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_put(&g);
	start_gcks();
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	c.groups[1] = ident(G2);
	c.ngroups = 2;
	fn_member *m = join(&c);
	ck_assert_int_eq(gk_gm_leave(m->gm, 0), GK_E_STATE); /* not registered yet */
	run_member(m);
	const gk_group_state *s1 = registered(m, 0), *s2 = registered(m, 1);
	ck_assert_uint_eq(fn_count(m, GK_GM_DONE), 1);
	ck_assert_ptr_nonnull(s1);
	ck_assert(memcmp(s1->sas[0].spi, s2->sas[0].spi, 4) != 0); /* each group its own keys */
	/* one IKE SA: one IKE_SA_INIT, one GSA_AUTH, one GSA_REGISTRATION */
	ck_assert_uint_eq(fn_trace_count(&net, FN_TO_GCKS, 0, GK_EXCH_IKE_SA_INIT, 0), 1);
	ck_assert_uint_eq(fn_trace_count(&net, FN_TO_GCKS, 0, GK_EXCH_GSA_AUTH, 0), 1);
	ck_assert_uint_eq(fn_trace_count(&net, FN_TO_GCKS, 0, GK_EXCH_GSA_REGISTRATION, 0), 1);
	gk_gcks_stats st = stats();
	ck_assert_uint_eq(st.established, 1);
	ck_assert_uint_eq(st.registrations, 2);
	ck_assert_uint_eq(reg_count(G1), 1);
	ck_assert_uint_eq(reg_count(G2), 1);

	/* G2 is full */
	gk_gm_config c2 = gm_psk("fqdn:r2.example", G2);
	fn_member *r2 = join(&c2);
	run_member(r2);
	refused(r2, GK_N_REGISTRATION_FAILED);

	/* leave G2 (RFC 9838 2.3.2: IDg and NO_PROPOSAL_CHOSEN); the member core reports the
	 * GCKS's (empty) answer as DONE for that group */
	ck_assert_int_eq(gk_gm_leave(m->gm, 5), GK_E_STATE); /* no group 5 */
	ck_assert_int_eq(gk_gm_leave(m->gm, 1), GK_OK);
	ck_assert_int_eq(gk_gm_leave(m->gm, 0), GK_E_STATE); /* one exchange at a time */
	fn_advance(&net, 100);
	const fn_event *e = fn_find(m, GK_GM_DONE, 1);
	ck_assert_ptr_nonnull(e);
	ck_assert_uint_eq(e->group, 1);
	ck_assert_uint_eq(e->notify, 0);
	ck_assert_uint_eq(reg_count(G2), 0);
	ck_assert_uint_eq(reg_count(G1), 1);
	ck_assert_uint_eq(fn_count(m, GK_GM_FAILED), 0);
	ck_assert_uint_eq(fn_count(m, GK_GM_REFUSED), 0);

	/* room again in G2 */
	fn_member *r2b = join(&c2);
	run_member(r2b);
	same_sas(registered(r2b, 0), s2);

	/* leave G1 too; the IKE SA stays */
	unsigned established = stats().established;
	ck_assert_int_eq(gk_gm_leave(m->gm, 0), GK_OK);
	fn_advance(&net, 100);
	ck_assert_uint_eq(fn_count(m, GK_GM_DONE), 3);
	ck_assert_uint_eq(fn_find(m, GK_GM_DONE, 2)->group, 0);
	ck_assert_uint_eq(reg_count(G1), 0);
	ck_assert_uint_eq(stats().established, established);
	ck_assert_uint_eq(fn_trace_count(&net, FN_TO_GCKS, 0, GK_EXCH_GSA_REGISTRATION, 0), 3);
}
END_TEST

/* =========================================================================================
 * IKE_SA_INIT: COOKIE and INVALID_KE_PAYLOAD
 * ========================================================================================= */

static void assert_cookie_round(int member)
{
	gk_msg m;
	parse_plain(fn_trace_find(&net, FN_FROM_GCKS, member, GK_EXCH_IKE_SA_INIT, 1, 0), &m);
	const gk_payload *ck = gk_msg_find_notify(&m, GK_N_COOKIE);
	ck_assert_ptr_nonnull(ck);
	ck_assert_ptr_null(gk_msg_find(&m, GK_PL_KE)); /* no state, no key exchange yet */
	gk_chunk cookie = ck->body->notify.data;
	gk_msg r;
	parse_plain(fn_trace_find(&net, FN_TO_GCKS, member, GK_EXCH_IKE_SA_INIT, 0, 1), &r);
	ck_assert_uint_gt(r.pl.n, 0);
	ck_assert_uint_eq(r.pl.items[0].type, GK_PL_NOTIFY); /* RFC 7296 2.6: first */
	ck_assert_uint_eq(r.pl.items[0].body->notify.type, GK_N_COOKIE);
	ck_assert(gk_chunk_eq(r.pl.items[0].body->notify.data, cookie));
	gk_msg_free(&r);
	gk_msg_free(&m);
}

START_TEST(cookie_always)
{
	standard_policies(0);
	gcfg.cookie_threshold = 0;
	start_gcks();
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	fn_member *m = join(&c);
	run_member(m);
	registered(m, 0);
	ck_assert_uint_eq(fn_trace_count(&net, FN_TO_GCKS, 0, GK_EXCH_IKE_SA_INIT, 0), 2);
	assert_cookie_round(0);
	/* the cookie is bound to the initiator: another's request with it gets a new one */
	const fn_trace *t = fn_trace_find(&net, FN_TO_GCKS, 0, GK_EXCH_IKE_SA_INIT, 0, 1);
	unsigned half = stats().half_open;
	fn_raw *ep = fn_add_raw(&net);
	fn_raw_send(ep, t->data, t->len);
	fn_flush(&net);
	fn_dgram d;
	ck_assert(fn_raw_take(ep, &d));
	gk_msg resp;
	ck_assert_int_eq(gk_msg_parse(&resp, GK_CHUNK(d.data, d.len)), GK_OK);
	ck_assert_ptr_nonnull(gk_msg_find_notify(&resp, GK_N_COOKIE));
	ck_assert_ptr_null(gk_msg_find(&resp, GK_PL_KE));
	gk_msg_free(&resp);
	free(d.data);
	ck_assert_uint_eq(stats().half_open, half);
}
END_TEST

START_TEST(cookie_above_threshold)
{
	standard_policies(0);
	gcfg.cookie_threshold = 1;
	start_gcks();
	/* the first member stays half-open: its GSA_AUTH never arrives */
	fn_rule r = fn_rule_any(FN_DROP);
	r.dir = FN_TO_GCKS;
	r.peer = 0;
	r.exchange = GK_EXCH_GSA_AUTH;
	fn_impair(&net, &r);
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	join(&c);
	fn_flush(&net);
	ck_assert_uint_eq(stats().half_open, 1);
	ck_assert_uint_eq(fn_trace_count(&net, FN_TO_GCKS, 0, GK_EXCH_IKE_SA_INIT, 0), 1);
	c = gm_psk("fqdn:r2.example", G1);
	fn_member *m = join(&c);
	run_member(m);
	registered(m, 0);
	ck_assert_uint_eq(fn_trace_count(&net, FN_TO_GCKS, 1, GK_EXCH_IKE_SA_INIT, 0), 2);
	assert_cookie_round(1);
}
END_TEST

START_TEST(invalid_ke_payload)
{
	standard_policies(0);
	gcfg.offer.ke[0] = GK_KE_ECP_384;
	gcfg.offer.ke[1] = GK_KE_MODP_2048;
	gcfg.offer.nke = 2;
	start_gcks();
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	ck_assert_uint_eq(c.offer.ke[0], GK_KE_CURVE25519);
	fn_member *m = join(&c);
	/* a member whose groups the GCKS accepts none of */
	c = gm_psk("fqdn:r2.example", G1);
	c.offer.ke[0] = GK_KE_CURVE25519;
	c.offer.ke[1] = GK_KE_ECP_256;
	c.offer.nke = 2;
	fn_member *none = join(&c);
	run_all();
	registered(m, 0);
	failed(none, GK_N_NO_PROPOSAL_CHOSEN);
	/* Curve25519, then the named group, then that again with the COOKIE its cost asks for */
	ck_assert_uint_eq(fn_trace_count(&net, FN_TO_GCKS, 0, GK_EXCH_IKE_SA_INIT, 0), 3);
	gk_msg a, b;
	parse_plain(fn_trace_find(&net, FN_FROM_GCKS, 0, GK_EXCH_IKE_SA_INIT, 1, 0), &a);
	const gk_payload *n = gk_msg_find_notify(&a, GK_N_INVALID_KE_PAYLOAD);
	ck_assert_ptr_nonnull(n);
	ck_assert_uint_eq(n->body->notify.data.len, 2);
	uint16_t grp = gk_get_u16(n->body->notify.data.ptr);
	ck_assert_msg(grp == GK_KE_ECP_384 || grp == GK_KE_MODP_2048, "GCKS named group %u", grp);
	parse_plain(fn_trace_find(&net, FN_TO_GCKS, 0, GK_EXCH_IKE_SA_INIT, 0, 1), &b);
	ck_assert_uint_eq(gk_msg_find(&b, GK_PL_KE)->body->ke.group, grp);
	gk_msg_free(&a);
	gk_msg_free(&b);
	ck_assert_uint_eq(stats().half_open, 0);
}
END_TEST

/* Both at once: the cookie is kept through the INVALID_KE_PAYLOAD retry. */
START_TEST(cookie_then_invalid_ke)
{
	standard_policies(0);
	gcfg.cookie_threshold = 0;
	gcfg.offer.ke[0] = GK_KE_ECP_256;
	gcfg.offer.nke = 1;
	start_gcks();
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	fn_member *m = join(&c);
	run_member(m);
	registered(m, 0);
	ck_assert_uint_eq(fn_trace_count(&net, FN_TO_GCKS, 0, GK_EXCH_IKE_SA_INIT, 0), 3);
	assert_cookie_round(0);
	gk_msg a, b;
	parse_plain(fn_trace_find(&net, FN_FROM_GCKS, 0, GK_EXCH_IKE_SA_INIT, 1, 1), &a);
	const gk_payload *n = gk_msg_find_notify(&a, GK_N_INVALID_KE_PAYLOAD);
	ck_assert_ptr_nonnull(n);
	ck_assert_uint_eq(gk_get_u16(n->body->notify.data.ptr), GK_KE_ECP_256);
	parse_plain(fn_trace_find(&net, FN_TO_GCKS, 0, GK_EXCH_IKE_SA_INIT, 0, 2), &b);
	ck_assert_uint_eq(b.pl.items[0].type, GK_PL_NOTIFY);
	ck_assert_uint_eq(b.pl.items[0].body->notify.type, GK_N_COOKIE);
	ck_assert_uint_eq(gk_msg_find(&b, GK_PL_KE)->body->ke.group, GK_KE_ECP_256);
	gk_msg_free(&a);
	gk_msg_free(&b);
}
END_TEST

/* =========================================================================================
 * Retransmission under loss, duplication, corruption, truncation, reordering
 * ========================================================================================= */

static fn_rule *impair_auth(fn_action a, bool response, unsigned count)
{
	fn_rule r = fn_rule_any(a);
	r.dir = response ? FN_FROM_GCKS : FN_TO_GCKS;
	r.peer = 0;
	r.exchange = GK_EXCH_GSA_AUTH;
	r.response = response;
	r.count = count;
	return fn_impair(&net, &r);
}

/* A sender whose first GSA_AUTH answer is lost: the cached answer is sent again, and the GCKS
 * registered it once and spent its Sender-IDs once. */
START_TEST(rtx_lost_response)
{
	standard_policies(0);
	start_gcks();
	fn_rule *r = impair_auth(FN_DROP, true, 1);
	gk_gm_config c = gm_psk("fqdn:s1.example", G1);
	c.sender = true;
	c.sender_ids = 3;
	fn_member *m = join(&c);
	run_member(m);
	ck_assert_uint_eq(r->hits, 1);
	const gk_group_state *gs = registered(m, 0);
	ck_assert_uint_eq(gs->nsender_ids, 3);
	ck_assert_uint_eq(gs->sender_ids[0], 0);
	ck_assert_uint_eq(fn_trace_count(&net, FN_TO_GCKS, 0, GK_EXCH_GSA_AUTH, 0), 2);
	ck_assert_uint_eq(fn_trace_count(&net, FN_FROM_GCKS, 0, GK_EXCH_GSA_AUTH, 1), 2);
	const fn_trace *t0 = fn_trace_find(&net, FN_FROM_GCKS, 0, GK_EXCH_GSA_AUTH, 1, 0);
	const fn_trace *t1 = fn_trace_find(&net, FN_FROM_GCKS, 0, GK_EXCH_GSA_AUTH, 1, 1);
	ck_assert_msg(same_bytes(t0, t1), "the retransmitted answer differs from the first");
	ck_assert_int_ge(t1->at_ms - t0->at_ms, c.retransmit_ms);
	gk_gcks_stats st = stats();
	ck_assert_uint_eq(st.registrations, 1);
	ck_assert_uint_eq(reg_count(G1), 1);
	gk_registration rg;
	ck_assert(reg_get(G1, "fqdn:s1.example", &rg));
	ck_assert_uint_eq(rg.sender_id_first, 0);
	ck_assert_uint_eq(rg.sender_id_count, 3);
	/* the next sender continues after the three */
	c = gm_psk("fqdn:s2.example", G1);
	c.sender = true;
	fn_member *s2 = join(&c);
	run_member(s2);
	ck_assert_uint_eq(registered(s2, 0)->sender_ids[0], 3);
}
END_TEST

START_TEST(rtx_duplicates)
{
	standard_policies(0);
	start_gcks();
	fn_rule d = fn_rule_any(FN_DUP);
	d.dir = FN_TO_GCKS;
	d.peer = 0;
	d.count = 2; /* IKE_SA_INIT and GSA_AUTH, once each */
	fn_impair(&net, &d);
	gk_gm_config c = gm_psk("fqdn:s1.example", G1);
	c.sender = true;
	fn_member *m = join(&c);
	run_member(m);
	registered(m, 0);
	/* the IKE_SA_INIT copy came sooner than init_resend_interval_ms after the answer: left
	 * unanswered (a replay must not make the GCKS a reflector); GSA_AUTH answered twice */
	ck_assert_uint_eq(fn_trace_count(&net, FN_FROM_GCKS, 0, GK_EXCH_IKE_SA_INIT, 1), 1);
	ck_assert_uint_eq(stats().resends_limited, 1);
	ck_assert_uint_eq(fn_trace_count(&net, FN_FROM_GCKS, 0, GK_EXCH_GSA_AUTH, 1), 2);
	ck_assert(same_bytes(fn_trace_find(&net, FN_FROM_GCKS, 0, GK_EXCH_GSA_AUTH, 1, 0),
			     fn_trace_find(&net, FN_FROM_GCKS, 0, GK_EXCH_GSA_AUTH, 1, 1)));
	/* the member sent each request once, and the GCKS made one SA and one registration */
	ck_assert_uint_eq(fn_trace_count(&net, FN_TO_GCKS, 0, GK_EXCH_IKE_SA_INIT, 0), 1);
	ck_assert_uint_eq(fn_trace_count(&net, FN_TO_GCKS, 0, GK_EXCH_GSA_AUTH, 0), 1);
	gk_gcks_stats st = stats();
	ck_assert_uint_eq(st.established, 1);
	ck_assert_uint_eq(st.half_open, 0);
	ck_assert_uint_eq(st.registrations, 1);
	gk_registration rg;
	ck_assert(reg_get(G1, "fqdn:s1.example", &rg));
	ck_assert_uint_eq(rg.sender_id_count, 1);
}
END_TEST

START_TEST(rtx_corrupt_request)
{
	standard_policies(0);
	start_gcks();
	impair_auth(FN_CORRUPT, false, 1); /* last octet: the ICV */
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	fn_member *m = join(&c);
	/* a flipped octet in the middle of another member's request */
	fn_rule r = fn_rule_any(FN_CORRUPT);
	r.dir = FN_TO_GCKS;
	r.peer = 1;
	r.exchange = GK_EXCH_GSA_AUTH;
	r.count = 1;
	r.offset = 60;
	fn_impair(&net, &r);
	c = gm_psk("fqdn:r2.example", G1);
	fn_member *m2 = join(&c);
	run_all();
	registered(m, 0);
	registered(m2, 0);
	for (int i = 0; i < 2; i++) {
		ck_assert_uint_eq(fn_trace_count(&net, FN_TO_GCKS, i, GK_EXCH_GSA_AUTH, 0), 2);
		/* the corrupted one was not answered at all */
		ck_assert_uint_eq(fn_trace_count(&net, FN_FROM_GCKS, i, GK_EXCH_GSA_AUTH, 1), 1);
	}
	gk_gcks_stats st = stats();
	ck_assert_uint_ge(st.dropped, 2);
	ck_assert_uint_eq(st.registrations, 2);
	ck_assert_uint_eq(st.refusals, 0);
}
END_TEST

START_TEST(rtx_corrupt_response)
{
	standard_policies(0);
	start_gcks();
	impair_auth(FN_CORRUPT, true, 1);
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	fn_member *m = join(&c);
	run_member(m);
	registered(m, 0);
	ck_assert_uint_eq(fn_trace_count(&net, FN_TO_GCKS, 0, GK_EXCH_GSA_AUTH, 0), 2);
	ck_assert_uint_eq(fn_trace_count(&net, FN_FROM_GCKS, 0, GK_EXCH_GSA_AUTH, 1), 2);
	ck_assert_uint_eq(stats().registrations, 1);
}
END_TEST

START_TEST(rtx_truncated)
{
	standard_policies(0);
	start_gcks();
	fn_rule *a = impair_auth(FN_TRUNCATE, false, 1);
	a->keep = 100;
	fn_rule *b = impair_auth(FN_TRUNCATE, true, 1);
	b->keep = 27; /* the first answer arrives cut: the member asks again, the cache answers */
	fn_rule i = fn_rule_any(FN_TRUNCATE);
	i.dir = FN_TO_GCKS;
	i.exchange = GK_EXCH_IKE_SA_INIT;
	i.count = 1;
	i.keep = 200;
	fn_impair(&net, &i);
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	fn_member *m = join(&c);
	run_member(m);
	registered(m, 0);
	ck_assert_uint_eq(fn_trace_count(&net, FN_TO_GCKS, 0, GK_EXCH_IKE_SA_INIT, 0), 2);
	ck_assert_uint_eq(fn_trace_count(&net, FN_FROM_GCKS, 0, GK_EXCH_IKE_SA_INIT, 1), 1);
	ck_assert_uint_eq(fn_trace_count(&net, FN_TO_GCKS, 0, GK_EXCH_GSA_AUTH, 0), 3);
	ck_assert_uint_eq(fn_trace_count(&net, FN_FROM_GCKS, 0, GK_EXCH_GSA_AUTH, 1), 2);
	ck_assert(same_bytes(fn_trace_find(&net, FN_FROM_GCKS, 0, GK_EXCH_GSA_AUTH, 1, 0),
			     fn_trace_find(&net, FN_FROM_GCKS, 0, GK_EXCH_GSA_AUTH, 1, 1)));
	ck_assert_uint_eq(stats().registrations, 1);
}
END_TEST

/* The first GSA_AUTH arrives after its retransmission: answered from the cache; and two
 * members' IKE_SA_INIT requests swapped. */
START_TEST(rtx_reordered)
{
	standard_policies(0);
	start_gcks();
	fn_rule *r = impair_auth(FN_REORDER, false, 1);
	r->hold_ms = 10000;
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	fn_member *m = join(&c);
	run_member(m);
	registered(m, 0);
	fn_advance(&net, 1000);
	ck_assert_uint_eq(r->hits, 1);
	ck_assert_uint_eq(fn_trace_count(&net, FN_TO_GCKS, 0, GK_EXCH_GSA_AUTH, 0), 2);
	ck_assert_uint_eq(fn_trace_count(&net, FN_FROM_GCKS, 0, GK_EXCH_GSA_AUTH, 1), 2);
	ck_assert(same_bytes(fn_trace_find(&net, FN_FROM_GCKS, 0, GK_EXCH_GSA_AUTH, 1, 0),
			     fn_trace_find(&net, FN_FROM_GCKS, 0, GK_EXCH_GSA_AUTH, 1, 1)));
	ck_assert_uint_eq(fn_count(m, GK_GM_REGISTERED), 1);
	ck_assert_uint_eq(stats().registrations, 1);

	fn_impair_clear(&net);
	fn_rule h = fn_rule_any(FN_REORDER);
	h.dir = FN_TO_GCKS;
	h.exchange = GK_EXCH_IKE_SA_INIT;
	h.count = 1;
	fn_rule *hr = fn_impair(&net, &h);
	c = gm_psk("fqdn:r2.example", G1);
	fn_member *a = fn_add_member(&net, &c);
	c = gm_psk("fqdn:s1.example", G1);
	fn_member *b = fn_add_member(&net, &c);
	ck_assert(a && b);
	/* a's request is held; b's goes first and a's right after it */
	ck_assert_int_eq(gk_gm_start(a->gm), GK_OK);
	ck_assert_int_eq(gk_gm_start(b->gm), GK_OK);
	fn_flush(&net);
	ck_assert_uint_eq(hr->hits, 1);
	const fn_trace *ra = fn_trace_find(&net, FN_FROM_GCKS, a->idx, GK_EXCH_IKE_SA_INIT, 1, 0);
	const fn_trace *rb = fn_trace_find(&net, FN_FROM_GCKS, b->idx, GK_EXCH_IKE_SA_INIT, 1, 0);
	ck_assert(ra && rb && rb < ra); /* answered in the swapped order */
	run_all();
	same_sas(registered(a, 0), registered(b, 0));
	ck_assert_uint_eq(fn_trace_count(&net, FN_TO_GCKS, a->idx, GK_EXCH_IKE_SA_INIT, 0), 1);
}
END_TEST

/* Every datagram in both directions is lost for four seconds: the member's retransmissions
 * carry it over the outage. */
START_TEST(rtx_outage)
{
	standard_policies(0);
	start_gcks();
	fn_rule r = fn_rule_any(FN_DROP);
	r.until_ms = net.clock.now_ms + 4000;
	fn_rule *out = fn_impair(&net, &r);
	int64_t t0 = net.clock.now_ms;
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	fn_member *m = join(&c);
	run_member(m);
	registered(m, 0);
	ck_assert_uint_eq(out->hits, 4); /* sent at 0, 0.5, 1.5 and 3.5 s */
	ck_assert_uint_eq(fn_trace_count(&net, FN_TO_GCKS, 0, GK_EXCH_IKE_SA_INIT, 0), 5);
	const fn_trace *first = fn_trace_find(&net, FN_FROM_GCKS, 0, -1, 1, 0);
	ck_assert_ptr_nonnull(first);
	ck_assert_int_eq(first->at_ms - t0, 7500);
	ck_assert_uint_eq(stats().half_open, 0);
	ck_assert_uint_eq(stats().established, 1);
}
END_TEST

START_TEST(rtx_give_up)
{
	standard_policies(0);
	start_gcks();
	fn_rule r = fn_rule_any(FN_DROP);
	r.dir = FN_TO_GCKS;
	fn_impair(&net, &r);
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	int64_t t0 = net.clock.now_ms;
	fn_member *m = join(&c);
	run_member(m);
	failed(m, 0);
	/* the first try and six retransmissions, each wait twice the one before */
	ck_assert_uint_eq(fn_trace_count(&net, FN_TO_GCKS, 0, GK_EXCH_IKE_SA_INIT, 0), 1 + c.retransmit_tries);
	int64_t wait = c.retransmit_ms;
	for (unsigned i = 1; i <= c.retransmit_tries; i++, wait *= 2) {
		int64_t d = fn_trace_find(&net, FN_TO_GCKS, 0, -1, 0, i)->at_ms -
			    fn_trace_find(&net, FN_TO_GCKS, 0, -1, 0, i - 1)->at_ms;
		ck_assert_msg(d >= wait && d < wait + net.step_ms, "retransmission %u after %lld ms", i, (long long)d);
		ck_assert(same_bytes(fn_trace_find(&net, FN_TO_GCKS, 0, -1, 0, i),
				     fn_trace_find(&net, FN_TO_GCKS, 0, -1, 0, 0)));
	}
	int64_t failed_at = fn_find(m, GK_GM_FAILED, 0)->at_ms;
	/* ... and after the last one, the member waits once more before it gives up */
	ck_assert_int_ge(failed_at - t0, 2 * wait - c.retransmit_ms);
	ck_assert_int_lt(failed_at - t0, 2 * wait - c.retransmit_ms + net.step_ms);
	ck_assert_int_eq(gk_gm_next_timeout(m->gm), -1);
	size_t sent = fn_trace_count(&net, FN_TO_GCKS, 0, -1, -1);
	fn_advance(&net, 60000);
	ck_assert_uint_eq(fn_trace_count(&net, FN_TO_GCKS, 0, -1, -1), sent); /* quiet after giving up */

	/* the same after IKE_SA_INIT: GSA_AUTH unanswered */
	fn_impair_clear(&net);
	fn_rule *a = impair_auth(FN_DROP, false, 0);
	a->peer = 1;
	c = gm_psk("fqdn:r2.example", G1);
	fn_member *m2 = join(&c);
	run_member(m2);
	failed(m2, 0);
	ck_assert_uint_eq(fn_trace_count(&net, FN_TO_GCKS, 1, GK_EXCH_GSA_AUTH, 0), 1 + c.retransmit_tries);
	ck_assert_uint_eq(reg_count(G1), 0);
}
END_TEST

/* =========================================================================================
 * Timers: idle IKE SAs, half-open SAs
 * ========================================================================================= */

/* The Delete that closes an idle IKE SA is a request (RFC 7296 2.4): lost, it is sent again and
 * the SA goes once the member answers; a member that never answers loses it after the retries. */
START_TEST(idle_close_delete_retransmitted)
{
	gk_group_policy g;
	pol_init(&g, G1);
	g.ike_idle_timeout = 20;
	pol_member(&g, "fqdn:r1.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_member(&g, "fqdn:r2.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_put(&g);
	start_gcks();
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	fn_member *m = join(&c);
	c = gm_psk("fqdn:r2.example", G1);
	fn_member *m2 = join(&c);
	run_all();
	registered(m, 0);
	registered(m2, 0);
	fn_rule r = fn_rule_any(FN_DROP); /* the first Delete to m is lost */
	r.dir = FN_FROM_GCKS;
	r.peer = 0;
	r.exchange = GK_EXCH_INFORMATIONAL;
	r.response = 0;
	r.count = 1;
	fn_impair(&net, &r);
	fn_rule r2 = fn_rule_any(FN_DROP); /* m2 never hears any */
	r2.dir = FN_FROM_GCKS;
	r2.peer = 1;
	r2.exchange = GK_EXCH_INFORMATIONAL;
	r2.response = 0;
	fn_impair(&net, &r2);
	fn_advance(&net, 21000);
	ck_assert_uint_eq(fn_trace_count(&net, FN_FROM_GCKS, 0, GK_EXCH_INFORMATIONAL, 0), 1);
	ck_assert_uint_eq(fn_count(m, GK_GM_CLOSED), 0);
	ck_assert_uint_eq(stats().established, 2); /* both wait for an answer */
	fn_advance(&net, 1500);
	ck_assert_uint_eq(fn_trace_count(&net, FN_FROM_GCKS, 0, GK_EXCH_INFORMATIONAL, 0), 2);
	ck_assert_uint_eq(fn_count(m, GK_GM_CLOSED), 1);
	ck_assert_uint_eq(stats().established, 1); /* m answered: its SA is gone at once */
	fn_advance(&net, 70000);
	ck_assert_uint_eq(stats().established, 0);
	/* the first Delete and five retransmissions with growing waits, then the SA went anyway */
	ck_assert_uint_eq(fn_trace_count(&net, FN_FROM_GCKS, 1, GK_EXCH_INFORMATIONAL, 0), 6);
	ck_assert_uint_eq(fn_count(m2, GK_GM_CLOSED), 0);
	const fn_trace *t[6];
	for (size_t i = 0; i < 6; i++)
		t[i] = fn_trace_find(&net, FN_FROM_GCKS, 1, GK_EXCH_INFORMATIONAL, 0, i);
	for (size_t i = 2; i < 6; i++)
		ck_assert_int_gt(t[i]->at_ms - t[i - 1]->at_ms, t[i - 1]->at_ms - t[i - 2]->at_ms);
}
END_TEST

START_TEST(idle_close_multicast_group)
{
	gk_group_policy g;
	pol_init(&g, G1);
	g.ike_idle_timeout = 20;
	pol_member(&g, "fqdn:r1.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_put(&g);
	pol_init(&g, G2); /* no timeout of its own: the GCKS's default */
	pol_member(&g, "fqdn:r2.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_put(&g);
	gcfg.ike_idle_timeout_s = 45;
	start_gcks();
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	fn_member *m = join(&c);
	c = gm_psk("fqdn:r2.example", G2);
	fn_member *m2 = join(&c);
	run_all();
	registered(m, 0);
	registered(m2, 0);
	int64_t t0 = net.clock.now_ms;
	ck_assert_uint_eq(stats().established, 2);
	fn_advance(&net, 19000);
	ck_assert_uint_eq(fn_count(m, GK_GM_CLOSED), 0);
	ck_assert_uint_eq(stats().established, 2);
	fn_advance(&net, 2000);
	ck_assert_uint_eq(fn_count(m, GK_GM_CLOSED), 1);
	ck_assert_uint_eq(fn_count(m2, GK_GM_CLOSED), 0);
	ck_assert_uint_eq(stats().established, 1);
	const fn_trace *del = fn_trace_find(&net, FN_FROM_GCKS, 0, GK_EXCH_INFORMATIONAL, 0, 0);
	ck_assert_ptr_nonnull(del);
	ck_assert_int_ge(del->at_ms - t0, 19000);
	ck_assert_uint_eq(fn_trace_count(&net, FN_TO_GCKS, 0, GK_EXCH_INFORMATIONAL, 1), 1); /* acknowledged */
	fn_advance(&net, 25000);
	ck_assert_uint_eq(fn_count(m2, GK_GM_CLOSED), 1);
	ck_assert_uint_eq(stats().established, 0);
	/* registrations outlive the IKE SA */
	ck_assert_uint_eq(reg_count(G1), 1);
	ck_assert_uint_eq(reg_count(G2), 1);
}
END_TEST

START_TEST(inband_group_keeps_sa)
{
	gk_group_policy g;
	pol_init(&g, G1);
	g.rekey_transport = GK_REKEY_INBAND;
	g.ike_idle_timeout = 20;
	pol_member(&g, "fqdn:r1.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_put(&g);
	start_gcks();
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	fn_member *m = join(&c);
	run_member(m);
	const gk_group_state *gs = registered(m, 0);
	ck_assert_uint_eq(gs->nsas, 1); /* no Rekey SA: updates come over this IKE SA */
	fn_advance(&net, 600000);
	ck_assert_uint_eq(fn_count(m, GK_GM_CLOSED), 0);
	ck_assert_uint_eq(stats().established, 1);
}
END_TEST

/* A restarted member says INITIAL_CONTACT with its first IKE SA (RFC 7296 2.4): the GCKS
 * drops the SA it still holds for that identity instead of keeping both until the idle
 * timeout. A second SA opened without it (another run of the same gmd) leaves the first. */
START_TEST(initial_contact_replaces_earlier_sa)
{
	gk_group_policy g;
	pol_init(&g, G1);
	g.rekey_transport = GK_REKEY_INBAND;
	pol_member(&g, "fqdn:r1.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_put(&g);
	start_gcks();
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	c.initial_contact = true;
	fn_member *before = join(&c);
	run_member(before);
	registered(before, 0);
	ck_assert_uint_eq(stats().established, 1);
	c.initial_contact = false;
	fn_member *second_run = join(&c);
	run_member(second_run);
	registered(second_run, 0);
	ck_assert_uint_eq(stats().established, 2);
	c.initial_contact = true; /* gmd started again */
	fn_member *restarted = join(&c);
	run_member(restarted);
	registered(restarted, 0);
	ck_assert_uint_eq(stats().established, 1);
	ck_assert_uint_eq(fn_trace_count(&net, FN_TO_GCKS, restarted->idx, GK_EXCH_GSA_AUTH, 0), 1);
}
END_TEST

/* =========================================================================================
 * Retries after failed registrations, liveness of IKE SAs kept for inband rekeys
 * ========================================================================================= */

/* The member config of a daemon: retries on, a short give-up so tests stay fast. */
static gk_gm_config gm_daemon(const char *id, const char *group)
{
	gk_gm_config c = gm_psk(id, group);
	c.retransmit_tries = 2; /* 0.5 + 1 + 2 s: an attempt fails 3.5 s after it starts */
	c.retry_ms = 2000;
	c.retry_max_ms = 30000;
	return c;
}

static bool registered_n(fakenet *n, void *ctx)
{
	(void)n;
	const fn_member *m = ctx;
	return fn_count(m, GK_GM_REGISTERED) >= 1;
}

/* Times at which member `peer` started an attempt: IKE_SA_INIT requests with a new SPI. */
static size_t attempt_starts(int peer, int64_t *at, size_t max)
{
	size_t n = 0;
	uint64_t spi = 0;
	for (size_t i = 0; n < max; i++) {
		const fn_trace *t = fn_trace_find(&net, FN_TO_GCKS, peer, GK_EXCH_IKE_SA_INIT, 0, i);
		if (!t)
			break;
		if (t->spi_i != spi)
			at[n++] = t->at_ms;
		spi = t->spi_i;
	}
	return n;
}

/* A re-registration during a 30 s outage fails, is tried again after growing, jittered waits,
 * and succeeds once the GCKS is reachable; a permanent refusal is retried at the slow cap. */
START_TEST(reregistration_retried_with_backoff)
{
	standard_policies(0);
	start_gcks();
	gk_gm_config c = gm_daemon("fqdn:r1.example", G1);
	fn_member *m = join(&c);
	ck_assert(fn_run_until(&net, registered_n, m, 10000));
	registered(m, 0);
	/* the outage, then the re-registration (gmd starts a new member core for it) */
	fn_rule r = fn_rule_any(FN_DROP);
	r.until_ms = net.clock.now_ms + 30000;
	fn_impair(&net, &r);
	int64_t outage_end = r.until_ms;
	fn_member *re = join(&c);
	ck_assert(fn_run_until(&net, registered_n, re, 120000));
	ck_assert_int_ge(net.clock.now_ms, outage_end);
	size_t nf = fn_count(re, GK_GM_FAILED);
	ck_assert_uint_eq(nf, 4); /* attempts at about 0, 5.5, 12.5 and 23 s fail; the fifth is after */
	int64_t starts[16];
	size_t ns = attempt_starts(re->idx, starts, 16);
	ck_assert_uint_eq(ns, nf + 1);
	int64_t prev = 0, base = c.retry_ms;
	for (size_t i = 0; i < nf; i++, base *= 2) {
		const fn_event *f = fn_find(re, GK_GM_FAILED, i);
		ck_assert_uint_eq(f->notify, 0);
		ck_assert_str_eq(f->why, "no answer from the GCKS");
		/* retry_ms doubled each time, minus at most a quarter of jitter */
		ck_assert_msg(f->retry_ms > prev && f->retry_ms <= base && f->retry_ms >= base - base / 4,
			      "failure %zu: retry in %lld ms after %lld", i, (long long)f->retry_ms, (long long)prev);
		prev = f->retry_ms;
		/* each attempt fails 3.5 s after it started, and the next starts when it said */
		ck_assert_int_ge(f->at_ms - starts[i], 3500);
		ck_assert_int_lt(f->at_ms - starts[i], 3500 + net.step_ms);
		ck_assert_int_ge(starts[i + 1] - f->at_ms, f->retry_ms);
		ck_assert_int_lt(starts[i + 1] - f->at_ms, f->retry_ms + net.step_ms);
	}
	ck_assert_uint_eq(fn_count(re, GK_GM_REGISTERED), 1);
	same_sas(fn_find(m, GK_GM_REGISTERED, 0)->state, fn_find(re, GK_GM_REGISTERED, 0)->state);
	ck_assert_uint_eq(reg_count(G1), 1);
	/* registered: nothing more is planned */
	size_t sent = fn_trace_count(&net, FN_TO_GCKS, re->idx, GK_EXCH_IKE_SA_INIT, 0);
	fn_advance(&net, 120000);
	ck_assert_uint_eq(fn_trace_count(&net, FN_TO_GCKS, re->idx, GK_EXCH_IKE_SA_INIT, 0), sent);
	ck_assert_uint_eq(fn_count(re, GK_GM_FAILED), nf);

	/* authenticated but not authorized for G1: a policy matter, asked again only at the cap */
	gk_gm_config o = gm_daemon("fqdn:other.example", G1);
	fn_member *x = join(&o);
	fn_advance(&net, 100000);
	ck_assert_uint_eq(fn_count(x, GK_GM_REGISTERED), 0);
	ck_assert_uint_eq(fn_count(x, GK_GM_DONE), 0); /* with retries, all refused is a failure */
	ck_assert_uint_eq(fn_count(x, GK_GM_FAILED), 4); /* at 0, about 30, 60 and 90 s */
	for (size_t i = 0; i < 4; i++) {
		const fn_event *f = fn_find(x, GK_GM_FAILED, i);
		ck_assert_uint_eq(f->notify, GK_N_AUTHORIZATION_FAILED);
		ck_assert_int_le(f->retry_ms, o.retry_max_ms);
		ck_assert_int_ge(f->retry_ms, o.retry_max_ms - o.retry_max_ms / 4);
	}
	ck_assert_uint_eq(fn_count(x, GK_GM_REFUSED), 4);
	ck_assert_uint_eq(reg_count(G1), 1);
}
END_TEST

/* G1 with its rekeys inband, r1 and r2 receivers. */
static void inband_policy(void)
{
	gk_group_policy g;
	pol_init(&g, G1);
	g.rekey_transport = GK_REKEY_INBAND;
	pol_member(&g, "fqdn:r1.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_member(&g, "fqdn:r2.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_put(&g);
}

static bool registered_twice(fakenet *n, void *ctx)
{
	(void)n;
	return fn_count(ctx, GK_GM_REGISTERED) >= 2;
}

/* gcksd restarts (a new core on the same database): it lost the IKE SA the member kept for
 * GSA_INBAND_REKEY. The member's liveness check goes unanswered, it registers again after a
 * randomized delay, and the next inband rekey reaches it. */
START_TEST(inband_liveness_after_gcks_restart)
{
	inband_policy();
	start_gcks();
	gk_gm_config c = gm_daemon("fqdn:r1.example", G1);
	c.liveness_ms = 5000;
	fn_member *m = join(&c);
	ck_assert(fn_run_until(&net, registered_n, m, 10000));
	const gk_group_state *gs = registered(m, 0);
	ck_assert_uint_eq(gs->nsas, 1);
	uint64_t old_spi = fn_trace_find(&net, FN_TO_GCKS, m->idx, GK_EXCH_IKE_SA_INIT, 0, 0)->spi_i;
	/* the restart: every IKE SA is gone, registrations and keys stay in the store */
	gk_gcks_free(net.gcks);
	net.gcks = NULL;
	start_gcks();
	int64_t t0 = net.clock.now_ms;
	ck_assert(fn_run_until(&net, registered_twice, m, 60000));
	ck_assert_uint_eq(fn_count(m, GK_GM_DEAD), 1);
	ck_assert_uint_eq(fn_count(m, GK_GM_FAILED), 0);
	const fn_event *dead = fn_find(m, GK_GM_DEAD, 0);
	/* the check: silent 5 to 6.25 s, then unanswered through its retransmissions */
	const fn_trace *probe = fn_trace_find(&net, FN_TO_GCKS, m->idx, GK_EXCH_INFORMATIONAL, 0, 0);
	ck_assert_ptr_nonnull(probe);
	ck_assert_uint_eq(probe->spi_i, old_spi);
	ck_assert_int_le(probe->at_ms - t0, 6250 + net.step_ms);
	ck_assert_uint_eq(fn_trace_count(&net, FN_TO_GCKS, m->idx, GK_EXCH_INFORMATIONAL, 0), 1 + c.retransmit_tries);
	ck_assert_uint_eq(fn_trace_count(&net, FN_FROM_GCKS, m->idx, GK_EXCH_INFORMATIONAL, 1), 0);
	ck_assert_int_ge(dead->at_ms - probe->at_ms, 3500);
	ck_assert_int_lt(dead->at_ms - probe->at_ms, 3500 + net.step_ms);
	ck_assert_int_ge(dead->retry_ms, c.retry_ms - c.retry_ms / 4);
	ck_assert_int_le(dead->retry_ms, c.retry_ms);
	/* the new registration: a new IKE SA, after the randomized delay, with the same keys */
	const fn_trace *init = fn_trace_find(&net, FN_TO_GCKS, m->idx, GK_EXCH_IKE_SA_INIT, 0, 1);
	ck_assert_ptr_nonnull(init);
	ck_assert_uint_ne(init->spi_i, old_spi);
	ck_assert_int_ge(init->at_ms - dead->at_ms, dead->retry_ms);
	ck_assert_int_lt(init->at_ms - dead->at_ms, dead->retry_ms + net.step_ms);
	same_sas(fn_find(m, GK_GM_REGISTERED, 0)->state, fn_find(m, GK_GM_REGISTERED, 1)->state);
	ck_assert_uint_eq(stats().established, 1);
	/* the restarted GCKS reaches the member on its new IKE SA */
	char msg[256];
	ck_assert_int_eq(gk_gcks_rekey(net.gcks, G1, msg, sizeof(msg)), GK_OK);
	fn_advance(&net, 1000);
	ck_assert_msg(fn_count(m, GK_GM_REKEYED) == 1, "%s", msg);
	const fn_event *rk = fn_find(m, GK_GM_REKEYED, 0);
	ck_assert_ptr_nonnull(rk->state);
	ck_assert_uint_eq(rk->state->nsas, 1);
	ck_assert_mem_ne(rk->state->sas[0].spi, gs->sas[0].spi, gs->sas[0].spi_len);
	ck_assert_uint_eq(fn_count(m, GK_GM_DEAD), 1);
}
END_TEST

/* Two members of the inband group G1: r1 plain, r2 allowing unicast 192.0.2.0/24 (allow must
 * outlive them), both registered. mk makes their config (gm_psk, gm_daemon). */
static void join_plain_and_allowed(gk_gm_config (*mk)(const char *, const char *), gk_prefix *allow,
				   fn_member **plain, fn_member **allowed)
{
	char why[GK_ERR_MAX] = "";
	ck_assert_int_eq(gk_prefix_parse("192.0.2.0/24", allow, why, sizeof(why)), GK_OK);
	gk_gm_config c = mk("fqdn:r1.example", G1);
	*plain = join(&c);
	c = mk("fqdn:r2.example", G1);
	c.allow = allow;
	c.nallow = 1;
	*allowed = join(&c);
	run_all();
	registered(*plain, 0);
	registered(*allowed, 0);
}

/* G1 (inband, r1 and r2) changes its SA to the unicast destination 192.0.2.50 in the store. */
static void policy_to_unicast(void)
{
	gk_group_policy g;
	pol_init(&g, G1);
	g.rekey_transport = GK_REKEY_INBAND;
	ts(&g.teks[0].dst, "192.0.2.50", "192.0.2.50", 17, 5004, 5004);
	pol_member(&g, "fqdn:r1.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_member(&g, "fqdn:r2.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_put(&g);
}

/* The GCKS's policy changes to a unicast destination while members hold the group on their IKE
 * SAs: the GSA_INBAND_REKEY that brings it is refused whole by a member that did not allow the
 * prefix (nothing reported, so nothing installed); one that allowed it takes the new SA. */
START_TEST(inband_rekey_unicast_selector_refused)
{
	inband_policy();
	start_gcks();
	gk_prefix allow;
	fn_member *plain, *allowed;
	join_plain_and_allowed(gm_daemon, &allow, &plain, &allowed);
	policy_to_unicast();
	ck_assert_int_eq(gk_gcks_reload(net.gcks), GK_OK);
	char msg[256];
	ck_assert_int_eq(gk_gcks_rekey(net.gcks, G1, msg, sizeof(msg)), GK_OK);
	fn_advance(&net, 2000);
	/* both got the same GSA_INBAND_REKEY (and answered it) */
	ck_assert_uint_ge(fn_trace_count(&net, FN_FROM_GCKS, plain->idx, GK_EXCH_GSA_INBAND_REKEY, 0), 1);
	ck_assert_uint_ge(fn_trace_count(&net, FN_FROM_GCKS, allowed->idx, GK_EXCH_GSA_INBAND_REKEY, 0), 1);
	bool unicast_seen = false;
	for (size_t i = 0; i < fn_count(plain, GK_GM_REKEYED); i++) {
		const gk_group_state *st = fn_find(plain, GK_GM_REKEYED, i)->state;
		for (size_t k = 0; st && k < st->nsas; k++)
			unicast_seen |= st->sas[k].dst.start[0] == 192;
	}
	ck_assert_msg(!unicast_seen, "the member without --allow-selector was given the unicast SA");
	bool taken = false;
	for (size_t i = 0; i < fn_count(allowed, GK_GM_REKEYED); i++) {
		const gk_group_state *st = fn_find(allowed, GK_GM_REKEYED, i)->state;
		for (size_t k = 0; st && k < st->nsas; k++)
			taken |= st->sas[k].dst.start[0] == 192 && st->sas[k].dst.start[3] == 50;
	}
	ck_assert_msg(taken, "%s", msg);
}
END_TEST

/* On a healthy SA the check is answered and changes nothing; the GCKS's own messages count as
 * signs of life; a member of a multicast group (no SA kept for rekeys) is never checked. */
START_TEST(inband_liveness_answered)
{
	inband_policy();
	gk_group_policy g;
	pol_init(&g, G2);
	pol_member(&g, "fqdn:other.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_put(&g);
	start_gcks();
	gk_gm_config c = gm_daemon("fqdn:r1.example", G1);
	c.liveness_ms = 5000;
	fn_member *m = join(&c);
	gk_gm_config mc = gm_daemon("fqdn:other.example", G2);
	mc.liveness_ms = 5000;
	fn_member *mm = join(&mc);
	run_all();
	registered(m, 0);
	registered(mm, 0);
	int64_t t0 = net.clock.now_ms;
	fn_advance(&net, 60000);
	size_t probes = fn_trace_count(&net, FN_TO_GCKS, m->idx, GK_EXCH_INFORMATIONAL, 0);
	/* one every 5 to 6.25 s, each answered at once */
	ck_assert_uint_ge(probes, 9);
	ck_assert_uint_le(probes, 12);
	ck_assert_uint_eq(fn_trace_count(&net, FN_FROM_GCKS, m->idx, GK_EXCH_INFORMATIONAL, 1), probes);
	int64_t last = t0;
	for (size_t i = 0; i < probes; i++) {
		const fn_trace *p = fn_trace_find(&net, FN_TO_GCKS, m->idx, GK_EXCH_INFORMATIONAL, 0, i);
		ck_assert_int_ge(p->at_ms - last, 5000);
		ck_assert_int_le(p->at_ms - last, 6250 + net.step_ms);
		last = p->at_ms;
		/* a new Message ID each time: each is a new request, not a retransmission */
		ck_assert_uint_eq(p->msg_id, 2 + i); /* after GSA_AUTH (1) */
	}
	ck_assert_uint_eq(fn_count(m, GK_GM_DEAD), 0);
	ck_assert_uint_eq(fn_count(m, GK_GM_FAILED), 0);
	ck_assert_uint_eq(fn_count(m, GK_GM_REGISTERED), 1);
	ck_assert_uint_eq(fn_trace_count(&net, FN_TO_GCKS, m->idx, GK_EXCH_IKE_SA_INIT, 0), 1);
	ck_assert_uint_eq(fn_trace_count(&net, FN_TO_GCKS, mm->idx, GK_EXCH_INFORMATIONAL, 0), 0);
	/* an inband rekey is news from the GCKS: the next check waits a whole interval after it */
	char msg[256];
	int64_t before = fn_trace_find(&net, FN_TO_GCKS, m->idx, GK_EXCH_INFORMATIONAL, 0, probes - 1)->at_ms;
	fn_advance(&net, before + 4000 - net.clock.now_ms);
	ck_assert_int_eq(gk_gcks_rekey(net.gcks, G1, msg, sizeof(msg)), GK_OK);
	int64_t rekey_at = net.clock.now_ms;
	fn_advance(&net, 10000);
	ck_assert_uint_eq(fn_count(m, GK_GM_REKEYED), 1);
	const fn_trace *next = fn_trace_find(&net, FN_TO_GCKS, m->idx, GK_EXCH_INFORMATIONAL, 0, probes);
	ck_assert_ptr_nonnull(next);
	ck_assert_int_ge(next->at_ms - rekey_at, 5000);
	/* the multicast member's SA went at the GCKS's idle timeout; the inband one stays */
	ck_assert_uint_eq(fn_count(mm, GK_GM_CLOSED), 1);
	ck_assert_uint_eq(fn_count(m, GK_GM_CLOSED), 0);
	ck_assert_uint_eq(stats().established, 1);
}
END_TEST

static void drop_gsa_auth_all(void)
{
	fn_rule r = fn_rule_any(FN_DROP);
	r.dir = FN_TO_GCKS;
	r.exchange = GK_EXCH_GSA_AUTH;
	fn_impair(&net, &r);
}

START_TEST(half_open_expire)
{
	standard_policies(0);
	gcfg.half_open_timeout_ms = 3000;
	start_gcks();
	drop_gsa_auth_all();
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	join(&c);
	fn_flush(&net);
	ck_assert_uint_eq(stats().half_open, 1);
	fn_advance(&net, 2800);
	ck_assert_uint_eq(stats().half_open, 1);
	fn_advance(&net, 400);
	ck_assert_uint_eq(stats().half_open, 0);
	ck_assert_uint_eq(stats().established, 0);
}
END_TEST

START_TEST(half_open_bounded)
{
	standard_policies(0);
	gcfg.half_open_max = 3;
	gcfg.half_open_timeout_ms = 3000;
	start_gcks();
	drop_gsa_auth_all();
	const char *ids[] = { "fqdn:r1.example", "fqdn:r2.example", "fqdn:s1.example", "fqdn:s2.example",
			      "fqdn:other.example" };
	gk_gm_config c[5];
	for (size_t i = 0; i < 5; i++) {
		c[i] = gm_psk(ids[i], i == 4 ? G2 : G1);
		join(&c[i]);
	}
	fn_flush(&net);
	/* every request is answered; the newest evict the oldest half-open SAs */
	ck_assert_uint_eq(stats().half_open, 3);
	ck_assert_uint_eq(stats().half_open_evicted, 2);
	for (int i = 0; i < 5; i++)
		ck_assert_uint_eq(fn_trace_count(&net, FN_FROM_GCKS, i, GK_EXCH_IKE_SA_INIT, 1), 1);
	/* the newest three continue; the two evicted get no answer */
	fn_impair_clear(&net);
	run_all();
	failed(&net.members[0], 0);
	failed(&net.members[1], 0);
	for (int i = 2; i < 5; i++)
		registered(&net.members[i], 0);
	ck_assert_uint_le(stats().half_open, 3);
}
END_TEST

/* An IKE SA is bound to the address of authentic requests only (RFC 7296 2.23): a datagram
 * that fails integrity, from elsewhere, must not redirect what the GCKS sends on the SA. */
START_TEST(forged_datagram_does_not_move_sa)
{
	gk_group_policy g;
	pol_init(&g, G1);
	g.ike_idle_timeout = 20;
	pol_member(&g, "fqdn:r1.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_put(&g);
	start_gcks();
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	fn_member *m = join(&c);
	run_member(m);
	registered(m, 0);
	/* the member's GSA_AUTH with the next Message ID: right SPIs and window, broken ICV */
	const fn_trace *t = fn_trace_find(&net, FN_TO_GCKS, 0, GK_EXCH_GSA_AUTH, 0, 0);
	ck_assert_ptr_nonnull(t);
	uint8_t *forged = malloc(t->len);
	ck_assert_ptr_nonnull(forged);
	memcpy(forged, t->data, t->len);
	gk_put_u32(forged + 20, 2);
	uint64_t dropped = stats().dropped;
	fn_raw *ep = fn_add_raw(&net);
	fn_raw_send(ep, forged, t->len);
	free(forged);
	fn_flush(&net);
	ck_assert_uint_eq(stats().dropped, dropped + 1);
	/* the idle close still reaches the member, and nothing went to the forger */
	fn_advance(&net, 21000);
	ck_assert_uint_eq(fn_trace_count(&net, FN_FROM_GCKS, FN_RAW_BASE, -1, -1), 0);
	ck_assert_uint_eq(fn_count(m, GK_GM_CLOSED), 1);
}
END_TEST

/* Further groups over the same SA can be refused one by one; the SA and the other groups stay. */
START_TEST(gsa_registration_refusals)
{
	standard_policies(0);
	start_gcks();
	gk_gm_config c = gm_psk("fqdn:other.example", G2);
	c.groups[1] = ident(G1);                     /* not listed there */
	c.groups[2] = ident("keyid:no-such-group");
	c.groups[3] = ident(G2);                     /* again: a re-registration */
	c.ngroups = 4;
	fn_member *m = join(&c);
	run_member(m);
	char d[1024];
	describe(m, d, sizeof(d));
	ck_assert_msg(m->nev == 5, "%s", d);
	ck_assert(m->ev[0].type == GK_GM_REGISTERED && m->ev[0].group == 0);
	ck_assert(m->ev[1].type == GK_GM_REFUSED && m->ev[1].group == 1 && m->ev[1].notify == GK_N_AUTHORIZATION_FAILED);
	ck_assert(m->ev[2].type == GK_GM_REFUSED && m->ev[2].group == 2 && m->ev[2].notify == GK_N_INVALID_GROUP_ID);
	ck_assert(m->ev[3].type == GK_GM_REGISTERED && m->ev[3].group == 3);
	ck_assert(m->ev[4].type == GK_GM_DONE);
	same_sas(m->ev[0].state, m->ev[3].state);
	ck_assert_uint_eq(fn_trace_count(&net, FN_TO_GCKS, 0, GK_EXCH_GSA_REGISTRATION, 0), 3);
	gk_gcks_stats st = stats();
	ck_assert_uint_eq(st.established, 1);
	ck_assert_uint_eq(st.registrations, 2);
	ck_assert_uint_eq(st.refusals, 2);
	ck_assert_uint_eq(reg_count(G2), 1);
	ck_assert_uint_eq(reg_count(G1), 0);
}
END_TEST

/* max_sas bounds IKE SAs in all; idle closes make room again. */
START_TEST(max_sas_bounded)
{
	standard_policies(0);
	gcfg.max_sas = 2;
	gcfg.ike_idle_timeout_s = 10;
	start_gcks();
	gk_gm_config c[3] = { gm_psk("fqdn:r1.example", G1), gm_psk("fqdn:r2.example", G1),
			      gm_psk("fqdn:s1.example", G1) };
	fn_member *a = join(&c[0]), *b = join(&c[1]);
	run_all();
	registered(a, 0);
	registered(b, 0);
	fn_member *x = join(&c[2]);
	fn_advance(&net, 5000);
	ck_assert_uint_eq(fn_trace_count(&net, FN_FROM_GCKS, x->idx, GK_EXCH_IKE_SA_INIT, 1), 0);
	ck_assert_uint_ge(fn_trace_count(&net, FN_TO_GCKS, x->idx, GK_EXCH_IKE_SA_INIT, 0), 3);
	ck_assert_uint_eq(stats().established, 2);
	run_member(x);
	registered(x, 0);
	ck_assert_uint_eq(fn_count(a, GK_GM_CLOSED), 1);
	ck_assert_uint_eq(fn_count(b, GK_GM_CLOSED), 1);
}
END_TEST

/* =========================================================================================
 * Message ID window (window size 1)
 * ========================================================================================= */

START_TEST(message_id_window)
{
	standard_policies(0);
	start_gcks();
	raw_ike r;
	gk_msg m;
	raw_new(&r, 9);
	raw_sa_init(&r);
	raw_gsa_auth(&r, "fqdn:r1.example", G1, &m);
	ck_assert_ptr_nonnull(gk_msg_find(&m, GK_PL_GSA));
	gk_msg_free(&m);
	ck_assert_uint_eq(stats().established, 1);
	size_t answers = fn_trace_count(&net, FN_FROM_GCKS, -1, -1, -1);
	uint64_t dropped = stats().dropped;

	/* a future Message ID (authentic, but outside the window): dropped, unanswered */
	raw_send(&r, GK_EXCH_INFORMATIONAL, 3, NULL, 0);
	ck_assert(!raw_recv(&r, &m, true));
	raw_send(&r, GK_EXCH_INFORMATIONAL, 0x7fffffff, NULL, 0);
	ck_assert(!raw_recv(&r, &m, true));
	ck_assert_uint_eq(fn_trace_count(&net, FN_FROM_GCKS, -1, -1, -1), answers);
	ck_assert_uint_eq(stats().dropped, dropped + 2);
	/* an old one, before the last: dropped too */
	raw_send(&r, GK_EXCH_INFORMATIONAL, 0, NULL, 0);
	ck_assert(!raw_recv(&r, &m, true));
	/* another message reusing the last Message ID is no retransmission: unanswered */
	raw_send(&r, GK_EXCH_GSA_AUTH, 1, NULL, 0);
	ck_assert(!raw_recv(&r, &m, true));
	/* the last request again, byte for byte: the cached answer (RFC 7296 2.1) */
	const fn_trace *first = fn_trace_find(&net, FN_FROM_GCKS, FN_RAW_BASE, GK_EXCH_GSA_AUTH, 1, 0);
	const fn_trace *req = fn_trace_find(&net, FN_TO_GCKS, FN_RAW_BASE, GK_EXCH_GSA_AUTH, 0, 0);
	ck_assert_ptr_nonnull(req);
	fn_raw_send(r.ep, req->data, req->len);
	fn_flush(&net);
	const fn_trace *again = fn_trace_find(&net, FN_FROM_GCKS, FN_RAW_BASE, GK_EXCH_GSA_AUTH, 1, 1);
	ck_assert(same_bytes(first, again));
	fn_dgram d;
	while (fn_raw_take(r.ep, &d))
		free(d.data);
	/* the next one is answered, and the window moves */
	raw_send(&r, GK_EXCH_INFORMATIONAL, 2, NULL, 0);
	ck_assert(raw_recv(&r, &m, true));
	ck_assert_uint_eq(m.hdr.msg_id, 2);
	ck_assert(m.hdr.flags & GK_FLAG_R);
	gk_msg_free(&m);
	raw_send(&r, GK_EXCH_INFORMATIONAL, 4, NULL, 0);
	ck_assert(!raw_recv(&r, &m, true));
	raw_send(&r, GK_EXCH_INFORMATIONAL, 3, NULL, 0);
	ck_assert(raw_recv(&r, &m, true));
	ck_assert_uint_eq(m.hdr.msg_id, 3);
	gk_msg_free(&m);
	ck_assert_uint_eq(reg_count(G1), 1);
	raw_free(&r);
}
END_TEST

/* =========================================================================================
 * RFC 9838 conformance: registration
 * ========================================================================================= */

/* GSA_REGISTRATION on the raw SA with these extra payloads after IDg; the response in *m. */
static void raw_registration(raw_ike *r, const char *group, const gk_out_pl *extra, size_t nextra, gk_msg *m)
{
	gk_ident gid = ident(group);
	gk_pl_id idg = { .id_type = gid.type, .data = GK_CHUNK(gid.data, gid.len) };
	gk_out_pl pl[8] = { { GK_PL_IDg, false, &idg } };
	ck_assert_uint_le(nextra, 7);
	for (size_t i = 0; i < nextra; i++)
		pl[1 + i] = extra[i];
	raw_send(r, GK_EXCH_GSA_REGISTRATION, r->ike.msgid_out, pl, 1 + nextra);
	ck_assert_msg(raw_recv(r, m, true), "no GSA_REGISTRATION response");
	ck_assert_uint_eq(m->hdr.msg_id, r->ike.msgid_out);
	r->ike.msgid_out++;
}

/* RFC 9838 4.7.4: the GROUP_SENDER count MUST be 4 octets. Any other length (none at all, too
 * short, too long) is malformed: INVALID_SYNTAX (RFC 7296 3.10.1), no GSA, no KD, no Sender-ID
 * and no registration; a well-formed count then registers on the same SA. */
START_TEST(group_sender_length)
{
	standard_policies(0);
	start_gcks();
	raw_ike r;
	gk_msg m;
	raw_new(&r, 11);
	raw_sa_init(&r);
	raw_gsa_auth(&r, "fqdn:s1.example", G2 /* not listed there */, &m);
	gk_msg_free(&m);
	static const uint8_t data[5] = { 0, 0, 0, 2, 0 };
	static const size_t lens[] = { 0, 3, 5 };
	for (size_t i = 0; i < 3; i++) {
		gk_pl_notify n = { .type = GK_N_GROUP_SENDER, .data = GK_CHUNK(data, lens[i]) };
		gk_out_pl pl[] = { { GK_PL_NOTIFY, false, &n } };
		raw_registration(&r, G1, pl, 1, &m);
		const gk_payload *e = gk_msg_find_error(&m);
		ck_assert_msg(e && e->body->notify.type == GK_N_INVALID_SYNTAX, "length %zu", lens[i]);
		ck_assert_ptr_null(gk_msg_find(&m, GK_PL_GSA));
		ck_assert_ptr_null(gk_msg_find(&m, GK_PL_KD));
		gk_msg_free(&m);
		ck_assert_uint_eq(reg_count(G1), 0);
	}
	gk_pl_notify n = { .type = GK_N_GROUP_SENDER, .data = GK_CHUNK(data, 4) };
	gk_out_pl pl[] = { { GK_PL_NOTIFY, false, &n } };
	raw_registration(&r, G1, pl, 1, &m);
	ck_assert_ptr_null(gk_msg_find_error(&m));
	ck_assert_ptr_nonnull(gk_msg_find(&m, GK_PL_KD));
	gk_msg_free(&m);
	gk_registration reg;
	ck_assert(reg_get(G1, "fqdn:s1.example", &reg));
	ck_assert_int_eq(reg.role, GK_ROLE_SENDER);
	ck_assert_uint_eq(reg.sender_id_count, 2);
	raw_free(&r);
}
END_TEST

/* RFC 9838 2.3.1, 2.3.3: a member that finds the policy unacceptable (here a unicast TEK
 * destination member/gm_check.c refuses) says so with GSA_REGISTRATION {IDg,
 * N(NO_PROPOSAL_CHOSEN)}, and the GCKS removes it from the group (2.3.2); the member whose
 * policy check passes stays registered. */
START_TEST(unacceptable_policy_reported)
{
	gk_group_policy g;
	pol_init(&g, G1);
	ts(&g.teks[0].dst, "192.0.2.50", "192.0.2.50", 17, 5004, 5004);
	pol_member(&g, "fqdn:r1.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_member(&g, "fqdn:r2.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_put(&g);
	start_gcks();
	gk_prefix allow;
	char why[GK_ERR_MAX] = "";
	ck_assert_int_eq(gk_prefix_parse("192.0.2.0/26", &allow, why, sizeof(why)), GK_OK);
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	fn_member *refusing = join(&c);
	c = gm_psk("fqdn:r2.example", G1);
	c.allow = &allow;
	c.nallow = 1;
	fn_member *allowed = join(&c);
	run_all();
	refused(refusing, 0);
	ck_assert_uint_eq(fn_count(refusing, GK_GM_DONE), 1);
	registered(allowed, 0);
	/* the refusal went to the GCKS and was answered; the accepting member sent none */
	ck_assert_uint_eq(fn_trace_count(&net, FN_TO_GCKS, refusing->idx, GK_EXCH_GSA_REGISTRATION, 0), 1);
	ck_assert_uint_eq(fn_trace_count(&net, FN_FROM_GCKS, refusing->idx, GK_EXCH_GSA_REGISTRATION, 1), 1);
	ck_assert_uint_eq(fn_trace_count(&net, FN_TO_GCKS, allowed->idx, GK_EXCH_GSA_REGISTRATION, 0), 0);
	gk_registration reg;
	ck_assert(!reg_get(G1, "fqdn:r1.example", &reg));
	ck_assert(reg_get(G1, "fqdn:r2.example", &reg));
	ck_assert_uint_eq(reg_count(G1), 1);
}
END_TEST

/* A member that offers no Key Wrap Algorithm in IKE_SA_INIT (it would refuse the SA itself). */
static gk_gm_config gm_no_kwa(const char *id, const char *group)
{
	gk_gm_config c = gm_psk(id, group);
	c.offer.nkwa = 0;
	c.offer.kwa_required = false;
	return c;
}

/* raw_sa_init for an offer without KWA: a plain IKEv2 initiator. */
static void raw_sa_init_plain(raw_ike *r)
{
	r->offer.nkwa = 0;
	r->offer.kwa_required = false;
	raw_sa_init(r);
}

/* RFC 9838 4.5.4: the KWA MUST be negotiated in IKE_SA_INIT. By default the GCKS cannot tell a
 * G-IKEv2 initiator from a plain IKEv2 one there, so it accepts the SA and refuses GSA_AUTH
 * with NO_PROPOSAL_CHOSEN: no GSA, no KD, nothing registered. */
START_TEST(no_kwa_refused_at_gsa_auth)
{
	standard_policies(0);
	start_gcks();
	raw_ike r;
	gk_msg m;
	raw_new(&r, 12);
	raw_sa_init_plain(&r);
	raw_gsa_auth(&r, "fqdn:r1.example", G1, &m);
	const gk_payload *e = gk_msg_find_error(&m);
	ck_assert(e && e->body->notify.type == GK_N_NO_PROPOSAL_CHOSEN);
	ck_assert_ptr_nonnull(gk_msg_find(&m, GK_PL_AUTH));
	ck_assert_ptr_null(gk_msg_find(&m, GK_PL_GSA));
	ck_assert_ptr_null(gk_msg_find(&m, GK_PL_KD));
	gk_msg_free(&m);
	ck_assert_uint_eq(stats().established, 1);
	ck_assert_uint_eq(stats().registrations, 0);
	ck_assert_uint_eq(reg_count(G1), 0);
	raw_free(&r);
}
END_TEST

/* gcksd --require-kwa: IKE_SA_INIT without a KWA transform is answered NO_PROPOSAL_CHOSEN, no
 * IKE SA comes up and no GSA_AUTH is sent; a member offering KWA still registers. */
START_TEST(require_kwa_in_sa_init)
{
	standard_policies(0);
	gcfg.offer.kwa_required = true;
	start_gcks();
	gk_gm_config c = gm_no_kwa("fqdn:r1.example", G1);
	fn_member *m = join(&c);
	run_member(m);
	failed(m, GK_N_NO_PROPOSAL_CHOSEN);
	ck_assert_uint_eq(fn_trace_count(&net, FN_TO_GCKS, m->idx, GK_EXCH_GSA_AUTH, 0), 0);
	const fn_trace *t = fn_trace_find(&net, FN_FROM_GCKS, m->idx, GK_EXCH_IKE_SA_INIT, 1, 0);
	gk_msg resp;
	parse_plain(t, &resp);
	const gk_payload *e = gk_msg_find_error(&resp);
	ck_assert(e && e->body->notify.type == GK_N_NO_PROPOSAL_CHOSEN);
	ck_assert_ptr_null(gk_msg_find(&resp, GK_PL_KE));
	gk_msg_free(&resp);
	ck_assert_uint_eq(stats().established, 0);
	c = gm_psk("fqdn:r2.example", G1);
	fn_member *ok = join(&c);
	run_member(ok);
	registered(ok, 0);
}
END_TEST

/* RFC 9838 3.1: the KWK "SHOULD NOT be less than the size of the key for the Encryption
 * Algorithm transform for the Rekey SA and for all Data-Security SAs in the group". The group
 * is not known in IKE_SA_INIT, so the GCKS takes the strongest KWA of the chosen proposal,
 * whatever the order the member lists them in. */
START_TEST(kwa_strongest_preferred)
{
	standard_policies(0);
	start_gcks();
	raw_ike r;
	gk_msg m;
	raw_new(&r, 13);
	r.offer.kwa[0] = GK_KWA_KW_5649_128;
	r.offer.kwa[1] = GK_KWA_KW_5649_256;
	r.offer.kwa[2] = GK_KWA_KW_5649_192;
	r.offer.nkwa = 3;
	raw_sa_init(&r);
	ck_assert_uint_eq(r.ike.suite.kwa, GK_KWA_KW_5649_256);
	raw_gsa_auth(&r, "fqdn:r1.example", G1, &m);
	ck_assert_ptr_nonnull(gk_msg_find(&m, GK_PL_KD));
	gk_msg_free(&m);
	ck_assert_uint_eq(stats().weak_kwk, 0);
	raw_free(&r);
}
END_TEST

/* ... but only among the KWAs the GCKS accepts (its offer): KW-256 is not taken from a member
 * that lists it when the GCKS is configured without it. */
START_TEST(kwa_strongest_within_offer)
{
	standard_policies(0);
	gcfg.offer.kwa[0] = GK_KWA_KW_5649_128;
	gcfg.offer.kwa[1] = GK_KWA_KW_5649_192;
	gcfg.offer.nkwa = 2;
	start_gcks();
	raw_ike r;
	raw_new(&r, 15);
	r.offer.kwa[0] = GK_KWA_KW_5649_128;
	r.offer.kwa[1] = GK_KWA_KW_5649_256;
	r.offer.kwa[2] = GK_KWA_KW_5649_192;
	r.offer.nkwa = 3;
	raw_sa_init(&r);
	ck_assert_uint_eq(r.ike.suite.kwa, GK_KWA_KW_5649_192);
	raw_free(&r);
}
END_TEST

/* A member offering only a weaker KWA (KW-128 for a group of 256-bit keys) still registers (a
 * SHOULD NOT), but the GCKS warns and counts it (weak_kwk); a group whose keys fit does not. */
START_TEST(kwa_weaker_than_group_warned)
{
	gk_group_policy g;
	pol_init(&g, G1);
	pol_member(&g, "fqdn:r1.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_put(&g);
	pol_init(&g, G2);
	g.teks[0].encr_key_bits = 128;
	g.kek.encr_key_bits = 128;
	g.kek.kwa = GK_KWA_KW_5649_128;
	pol_member(&g, "fqdn:r1.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_put(&g);
	start_gcks();
	raw_ike r;
	gk_msg m;
	raw_new(&r, 14);
	r.offer.kwa[0] = GK_KWA_KW_5649_128;
	r.offer.nkwa = 1;
	raw_sa_init(&r);
	ck_assert_uint_eq(r.ike.suite.kwa, GK_KWA_KW_5649_128);
	raw_gsa_auth(&r, "fqdn:r1.example", G2, &m);
	ck_assert_ptr_nonnull(gk_msg_find(&m, GK_PL_KD));
	gk_msg_free(&m);
	ck_assert_uint_eq(stats().weak_kwk, 0);
	raw_registration(&r, G1, NULL, 0, &m);
	ck_assert_ptr_null(gk_msg_find_error(&m));
	ck_assert_ptr_nonnull(gk_msg_find(&m, GK_PL_KD));
	gk_msg_free(&m);
	ck_assert_uint_eq(stats().weak_kwk, 1);
	ck_assert_uint_eq(reg_count(G1), 1);
	raw_free(&r);
}
END_TEST

/* GSA_REKEY datagrams the GCKS multicasts, kept for the tests that open them. */
#define MC_MAX 16
static struct {
	uint8_t *data[MC_MAX];
	size_t len[MC_MAX], n;
	uint16_t sport[MC_MAX];
} mc;

static void mc_send(void *ctx, const struct sockaddr *dst, uint16_t sport, uint8_t ttl, const char *iface,
		    const uint8_t *data, size_t len)
{
	(void)ctx, (void)dst, (void)ttl, (void)iface;
	if (mc.n < MC_MAX) {
		mc.sport[mc.n] = sport;
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

/* Every signing key type gcksctl init offers (gk_key_types), end to end: a member that knows
 * the GCKS by its raw public key registers (the GCKS signs GSA_AUTH with it), the Rekey SA
 * policy names the key's RFC 7427 AlgorithmIdentifier (RFC 9838 4.4.2.1.1; RSASSA-PSS for RSA
 * went out empty, and members refused the registration), AUTH_KEY holds the key, and a signed
 * GSA_REKEY opens and verifies under what the member received; altered, it does not. */
START_TEST(key_types_end_to_end)
{
	const char *type = gk_key_types[_i];
	EVP_PKEY *key = gk_privkey_generate(type), *pub = NULL, *mkey = cg_key_ed25519();
	ck_assert_msg(key && mkey, "%s", type);
	EVP_PKEY_free(gcks_key);
	gcks_key = key; /* freed by teardown */
	set_identity(NULL, NULL);
	gk_sig_scheme scheme;
	ck_assert_int_eq(gk_sig_scheme_for_key(key, &scheme), GK_OK);
	gk_wbuf w;
	gk_wbuf_init(&w, 4096);
	ck_assert_int_eq(gk_pubkey_to_spki(key, &w), GK_OK);
	ck_assert_int_eq(gk_pubkey_from_spki(gk_wbuf_chunk(&w), &pub), GK_OK);
	gk_group_policy g;
	pol_init(&g, G1);
	pol_pubkey(&g, "fqdn:k1.example", mkey);
	pol_put(&g);
	char err[256] = "";
	gk_gcks_env env = fn_gcks_env(&net, store);
	env.send_multicast = mc_send;
	ck_assert_msg(gk_gcks_new(&gcfg, &env, &net.gcks, err, sizeof(err)) == GK_OK, "%s", err);
	gk_gm_config c = gm_cert("fqdn:k1.example", G1, mkey, NULL, NULL);
	c.gcks_pubkey = pub;
	fn_member *m = join(&c);
	run_member(m);
	const gk_group_state *gs = registered(m, 0);
	const gk_group_sa *kek = NULL;
	for (size_t i = 0; i < gs->nsas; i++)
		if (gs->sas[i].proto == GK_PROTO_GIKE_UPDATE)
			kek = &gs->sas[i];
	ck_assert_ptr_nonnull(kek);
	gk_chunk algid = gk_sig_algid(scheme);
	ck_assert_uint_eq(kek->sig_algid_len, algid.len);
	ck_assert_mem_eq(kek->sig_algid, algid.ptr, algid.len);
	ck_assert_uint_eq(gs->auth_key_len, w.len);
	ck_assert_mem_eq(gs->auth_key, w.data, w.len);

	char msg[256];
	mc_free();
	ck_assert_int_eq(gk_gcks_rekey(net.gcks, G1, msg, sizeof(msg)), GK_OK);
	ck_assert_uint_ge(mc.n, 1);
	gk_group_keys k;
	ck_assert_int_eq(gk_group_keys_split(GK_CHUNK(kek->keymat, kek->keymat_len), kek->proto, kek->encr,
					     kek->encr_key_bits, kek->integ, kek->kwa, &k), GK_OK);
	gk_frag_reasm reasm;
	memset(&reasm, 0, sizeof(reasm));
	EVP_PKEY *auth_key = NULL;
	ck_assert_int_eq(gk_pubkey_from_spki(GK_CHUNK(gs->auth_key, gs->auth_key_len), &auth_key), GK_OK);
	gk_sig_scheme want = GK_SIG_NONE;
	ck_assert_int_eq(gk_sig_scheme_from_algid(GK_CHUNK(kek->sig_algid, kek->sig_algid_len), &want), GK_OK);
	ck_assert_int_eq(want, scheme);
	gk_rekey_in in = { .kek = { .encr = kek->encr, .encr_key_bits = kek->encr_key_bits, .integ = kek->integ,
				    .enc = k.enc, .integ_key = k.integ },
			   .auth_key = auth_key, .want = want, .reasm = &reasm };
	memcpy(in.spi, kek->spi, 16);
	gk_msg rk;
	bool complete = false;
	memset(&rk, 0, sizeof(rk));
	ck_assert_int_eq(gk_rekey_open(&in, GK_CHUNK(mc.data[0], mc.len[0]), &rk, &complete), GK_OK);
	ck_assert(complete);
	ck_assert_ptr_nonnull(gk_msg_find(&rk, GK_PL_GSA));
	ck_assert_ptr_nonnull(gk_msg_find(&rk, GK_PL_KD));
	gk_msg_free(&rk);
	/* signed by another key of the same type: refused */
	EVP_PKEY *other = gk_privkey_generate(type);
	ck_assert_ptr_nonnull(other);
	in.auth_key = other;
	memset(&rk, 0, sizeof(rk));
	ck_assert_int_eq(gk_rekey_open(&in, GK_CHUNK(mc.data[0], mc.len[0]), &rk, &complete), GK_E_AUTH);
	gk_msg_free(&rk);
	gk_frag_reset(&reasm);
	mc_free();
	fn_free(&net); /* the members hold the keys until here */
	EVP_PKEY_free(other);
	EVP_PKEY_free(auth_key);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(mkey);
	gk_wbuf_free(&w);
}
END_TEST

/* =========================================================================================
 * Group membership and exclusion (RFC 9838 2.3.2, 2.3.3, 2.4.3, 4.6)
 * ========================================================================================= */

/* RFC 9838 2.3.2: a member that leaves is removed from the group, not only from the store: its
 * IKE SA no longer carries the group's GSA_INBAND_REKEY, while the member that stays gets it. */
START_TEST(leave_stops_inband_rekey)
{
	inband_policy();
	start_gcks();
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	fn_member *gone = join(&c);
	c = gm_psk("fqdn:r2.example", G1);
	fn_member *stays = join(&c);
	run_all();
	registered(gone, 0);
	registered(stays, 0);
	ck_assert_uint_eq(reg_count(G1), 2);
	ck_assert_int_eq(gk_gm_leave(gone->gm, 0), GK_OK);
	fn_advance(&net, 100);
	ck_assert_uint_eq(fn_count(gone, GK_GM_DONE), 2);
	ck_assert_uint_eq(reg_count(G1), 1);
	char msg[256];
	ck_assert_int_eq(gk_gcks_rekey(net.gcks, G1, msg, sizeof(msg)), GK_OK);
	fn_advance(&net, 2000);
	ck_assert_uint_eq(fn_trace_count(&net, FN_FROM_GCKS, gone->idx, GK_EXCH_GSA_INBAND_REKEY, 0), 0);
	ck_assert_uint_eq(fn_count(gone, GK_GM_REKEYED), 0);
	ck_assert_uint_eq(fn_trace_count(&net, FN_FROM_GCKS, stays->idx, GK_EXCH_GSA_INBAND_REKEY, 0), 1);
	ck_assert_uint_eq(fn_count(stays, GK_GM_REKEYED), 1);
	/* and again: the one that stayed keeps getting them */
	ck_assert_int_eq(gk_gcks_rekey(net.gcks, G1, msg, sizeof(msg)), GK_OK);
	fn_advance(&net, 2000);
	ck_assert_uint_eq(fn_count(stays, GK_GM_REKEYED), 2);
	ck_assert_uint_eq(fn_trace_count(&net, FN_FROM_GCKS, gone->idx, GK_EXCH_GSA_INBAND_REKEY, 0), 0);
	/* the IKE SA itself stays (the member may register again over it) */
	ck_assert_uint_eq(stats().established, 2);
}
END_TEST

/* ---- the log, as the tests of this part see it (warnings and errors) ---- */

#define MLOG_MAX 64
static char *mlog_lines[MLOG_MAX];
static size_t nmlog;

static void mlog_sink(void *ctx, gk_log_level level, const char *msg)
{
	(void)ctx;
	if (level <= GK_LOG_WARN && nmlog < MLOG_MAX)
		mlog_lines[nmlog++] = strdup(msg);
}

static void mlog_capture(void)
{
	gk_log_init("check_registration", GK_LOG_WARN);
	gk_log_set_sink(mlog_sink, NULL);
}

/* How many captured lines contain text. */
static size_t mlog_count(const char *text)
{
	size_t n = 0;
	for (size_t i = 0; i < nmlog; i++)
		n += strstr(mlog_lines[i], text) != NULL;
	return n;
}

static void mlog_release(void)
{
	gk_log_set_sink(NULL, NULL);
	for (size_t i = 0; i < nmlog; i++)
		free(mlog_lines[i]);
	nmlog = 0;
}

/* A member that refuses a GSA_INBAND_REKEY answers with an error notify, NO_PROPOSAL_CHOSEN for
 * a policy it does not accept (as in GSA_REGISTRATION, RFC 9838 2.3.3), not an empty success.
 * The GCKS logs it, drops the member's registration and closes its IKE SA, so that the member
 * registers again (2.3.3); the member that took the update keeps its SA and its rekeys. */
START_TEST(inband_rekey_refusal_excludes)
{
	inband_policy();
	start_gcks();
	gk_prefix allow;
	fn_member *plain, *allowed;
	join_plain_and_allowed(gm_psk, &allow, &plain, &allowed);
	ck_assert_uint_eq(reg_count(G1), 2);
	policy_to_unicast();
	mlog_capture();
	/* the reload sends the new policy over GSA_INBAND_REKEY */
	ck_assert_int_eq(gk_gcks_reload(net.gcks), GK_OK);
	fn_advance(&net, 3000);
	/* one refusal, answered at once (no retransmission of the update), with the notify */
	ck_assert_uint_eq(fn_trace_count(&net, FN_FROM_GCKS, plain->idx, GK_EXCH_GSA_INBAND_REKEY, 0), 1);
	ck_assert_uint_eq(fn_trace_count(&net, FN_TO_GCKS, plain->idx, GK_EXCH_GSA_INBAND_REKEY, 1), 1);
	ck_assert_uint_eq(fn_count(plain, GK_GM_REKEYED), 0);
	ck_assert_uint_eq(mlog_count("fqdn:r1.example at 127.0.0.10:10000 refused GSA_INBAND_REKEY of keyid:grp-1 "
				     "with NO_PROPOSAL_CHOSEN: excluded"), 1);
	ck_assert_uint_eq(mlog_count("refused GSA_INBAND_REKEY"), 1);
	/* excluded: registration gone, IKE SA closed by a Delete the member answered */
	ck_assert_uint_eq(reg_count(G1), 1);
	gk_registration left;
	ck_assert(!reg_get(G1, "fqdn:r1.example", &left));
	ck_assert_uint_eq(fn_count(plain, GK_GM_CLOSED), 1);
	ck_assert_uint_eq(fn_count(plain, GK_GM_EXCLUDED), 1); /* and registers again (2.3.3) */
	ck_assert_uint_eq(fn_trace_count(&net, FN_FROM_GCKS, plain->idx, GK_EXCH_INFORMATIONAL, 0), 1);
	ck_assert_uint_eq(stats().established, 1);
	/* the other took it and stays */
	ck_assert_uint_eq(fn_count(allowed, GK_GM_REKEYED), 1);
	ck_assert_uint_eq(fn_count(allowed, GK_GM_CLOSED), 0);
	ck_assert_uint_eq(mlog_count("fqdn:r2.example"), 0);
	char msg[256];
	ck_assert_int_eq(gk_gcks_rekey(net.gcks, G1, msg, sizeof(msg)), GK_OK);
	fn_advance(&net, 2000);
	ck_assert_uint_eq(fn_count(allowed, GK_GM_REKEYED), 2);
	ck_assert_uint_eq(fn_trace_count(&net, FN_FROM_GCKS, plain->idx, GK_EXCH_GSA_INBAND_REKEY, 0), 1);
	mlog_release();
}
END_TEST

static uint32_t g1_registered(void)
{
	gk_gcks_group_info gi[4];
	size_t n = gk_gcks_groups(net.gcks, gi, 4);
	for (size_t i = 0; i < n; i++)
		if (!strcmp(gi[i].pol->name, G1))
			return gi[i].registered;
	ck_abort_msg("no group %s", G1);
	return 0;
}

/* gcksctl evict of a listed member of an inband group that never registered leaves the
 * registered count (the capacity check reads it) where it was; evicting a registered one
 * lowers it by one. */
START_TEST(evict_unregistered_keeps_count)
{
	inband_policy();
	start_gcks();
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	fn_member *r1 = join(&c);
	run_all();
	registered(r1, 0);
	ck_assert_uint_eq(g1_registered(), 1);
	char msg[512];
	ck_assert_msg(gk_gcks_evict(net.gcks, G1, "fqdn:r2.example", msg, sizeof(msg)) == GK_OK, "%s", msg);
	ck_assert_uint_eq(g1_registered(), 1);
	ck_assert_uint_eq(reg_count(G1), 1);
	ck_assert_int_eq(gk_gcks_evict(net.gcks, G1, "fqdn:r1.example", msg, sizeof(msg)), GK_OK);
	ck_assert_uint_eq(g1_registered(), 0);
	ck_assert_uint_eq(reg_count(G1), 0);
}
END_TEST

/* RFC 9838 2.3.3: an IKE SA closed when no GIKE_UPDATE policy came with the registration
 * excludes the member from the group. The GCKS evicts r1 from the inband group (its IKE SA
 * goes with a Delete): r1 learns its exclusion, once, before the close; r2 gets the new keys
 * and no exclusion. A member of a multicast group (it holds a Rekey SA) whose SA the GCKS
 * closes at the idle timeout is not excluded. */
START_TEST(inband_sa_closed_excludes)
{
	inband_policy();
	gk_group_policy g;
	pol_init(&g, G2);
	g.ike_idle_timeout = 30;
	pol_member(&g, "fqdn:other.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_put(&g);
	start_gcks();
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	fn_member *r1 = join(&c);
	c = gm_psk("fqdn:r2.example", G1);
	fn_member *r2 = join(&c);
	c = gm_psk("fqdn:other.example", G2);
	fn_member *multi = join(&c);
	run_all();
	registered(r1, 0);
	registered(r2, 0);
	registered(multi, 0);
	char msg[512];
	ck_assert_int_eq(gk_gcks_evict(net.gcks, G1, "fqdn:r1.example", msg, sizeof(msg)), GK_OK);
	fn_advance(&net, 3000);
	ck_assert_uint_eq(fn_count(r1, GK_GM_EXCLUDED), 1);
	const fn_event *ex = fn_find(r1, GK_GM_EXCLUDED, 0);
	ck_assert_uint_eq(ex->group, 0);
	ck_assert_str_eq(ex->why, "the GCKS closed the IKE SA that carried its rekeys");
	ck_assert_uint_eq(fn_count(r1, GK_GM_CLOSED), 1);
	/* the exclusion comes first: the group manager flushes before the run ends */
	size_t iex = SIZE_MAX, icl = SIZE_MAX;
	for (size_t i = 0; i < r1->nev; i++) {
		if (r1->ev[i].type == GK_GM_EXCLUDED)
			iex = i;
		if (r1->ev[i].type == GK_GM_CLOSED)
			icl = i;
	}
	ck_assert_uint_lt(iex, icl);
	ck_assert_uint_eq(fn_count(r2, GK_GM_REKEYED), 1);
	ck_assert_uint_eq(fn_count(r2, GK_GM_EXCLUDED), 0);
	ck_assert_uint_eq(fn_count(r2, GK_GM_CLOSED), 0);
	/* the multicast member's SA closes at the idle timeout: it holds a Rekey SA, no exclusion */
	fn_advance(&net, 40000);
	ck_assert_uint_eq(fn_count(multi, GK_GM_CLOSED), 1);
	ck_assert_uint_eq(fn_count(multi, GK_GM_EXCLUDED), 0);
	ck_assert_uint_eq(fn_count(r2, GK_GM_EXCLUDED), 0);
}
END_TEST

/* A member that left the inband group is not excluded from it when the SA closes later. */
START_TEST(inband_left_not_excluded)
{
	inband_policy();
	start_gcks();
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	fn_member *r1 = join(&c);
	run_member(r1);
	registered(r1, 0);
	ck_assert_int_eq(gk_gm_leave(r1->gm, 0), GK_OK);
	fn_advance(&net, 100);
	ck_assert_uint_eq(fn_count(r1, GK_GM_DONE), 2);
	char msg[512];
	ck_assert_int_eq(gk_gcks_evict(net.gcks, G1, "fqdn:r1.example", msg, sizeof(msg)), GK_OK);
	fn_advance(&net, 3000);
	ck_assert_uint_eq(fn_count(r1, GK_GM_CLOSED), 1);
	ck_assert_uint_eq(fn_count(r1, GK_GM_EXCLUDED), 0);
}
END_TEST

/* The GCKS's IKE SA tables, to send a GSA_INBAND_REKEY of the test's own making. */
#include "gcks/gcks_groups.h"
#include "gcks/gcks_rekey.h"
#include "gcks/gcks_sa_table.h"
#include "gcks/metrics.h"

struct sa_of_walk {
	int idx;
	gcks_sa *found;
};

static void sa_of_one(gk_gcks *g, gcks_sa *sa, void *ctx)
{
	struct sa_of_walk *w = ctx;
	const struct sockaddr_in *in = (const struct sockaddr_in *)&sa->ike.peer;
	(void)g;
	if (!w->found && sa->ike.state == GK_IKE_ESTABLISHED && ntohs(in->sin_port) == 10000 + w->idx)
		w->found = sa;
}

/* The established GCKS SA of the member at 127.0.0.(10+idx). */
static gcks_sa *gcks_sa_of(int idx)
{
	struct sa_of_walk w = { idx, NULL };
	gcks_sa_foreach(net.gcks, sa_of_one, &w);
	return w.found;
}

/* What is only needed until authentication (nonces, both IKE_SA_INIT messages, the key pair,
 * SK_pi and SK_pr: RFC 7296 2.15) is gone from an established IKE SA on both sides, SK_pi/SK_pr
 * wiped; the SA keeps SK_d (rekeys, 2.18), SK_e, GSK_w and the member's identity in an
 * allocation of its own length. An inband group keeps one such SA per member for its life. */
START_TEST(established_sa_keeps_only_what_it_needs)
{
	inband_policy();
	start_gcks();
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	fn_member *m = join(&c);
	run_all();
	registered(m, 0);
	gcks_sa *sa = gcks_sa_of(m->idx);
	ck_assert_ptr_nonnull(sa);
	const gk_ike_sa *sides[] = { &sa->ike, gk_gm_ike_sa(m->gm) };
	for (size_t i = 0; i < 2; i++) {
		const gk_ike_sa *s = sides[i];
		ck_assert_int_eq(s->state, GK_IKE_ESTABLISHED);
		ck_assert_ptr_null(s->pre); /* nonces and IKE_SA_INIT messages */
		ck_assert_ptr_null(s->dh);
		/* SK_pi and SK_pr gone from the key block, which is as long as the rest:
		 * SK_d, SK_e and GSK_w of HMAC-SHA-256 and AES-GCM-256 (no SK_a: AEAD) */
		ck_assert_uint_eq(s->kp_len, 0);
		ck_assert_uint_eq(s->kd_len, 32);
		ck_assert_uint_eq(s->ka_len, 0);
		ck_assert_uint_eq(s->ke_len, 36);
		ck_assert_uint_eq(s->kw_len, 32);
		ck_assert_uint_eq(malloc_usable_size(s->kb), 136);
	}
	ck_assert_ptr_nonnull(sa->peer_id);
	ck_assert_uint_eq(sa->peer_id->type, GK_ID_FQDN);
	ck_assert_uint_eq(sa->peer_id->len, strlen("r1.example"));
	ck_assert_mem_eq(sa->peer_id->data, "r1.example", strlen("r1.example"));
	/* The budget of an open IKE SA (README "Performance": at most 1.5 KB of gcksd memory each,
	 * the cached last response included): the struct holds no 257-octet identity and no holes
	 * between its flags. A field added here must pay for itself (the RFC 9370 methods an SA ran
	 * are kept in its suite: a group may require them at every GSA_REGISTRATION). */
	ck_assert_uint_le(sizeof(gcks_sa), 600);
	ck_assert_uint_le(sizeof(gk_ike_sa), 216);
	/* the SA still works: the member leaves over it and the GCKS answers */
	fn_advance(&net, 1000);
	ck_assert_uint_eq(fn_count(m, GK_GM_CLOSED), 0);
}
END_TEST

/* RFC 7296 2.1: the answer to the member's last request is kept for its retransmissions, then
 * forgotten GK_RESP_FORGET_MS after that request ("responders are allowed to forget the response
 * after a timeout of several minutes"): an inband member's idle IKE SA holds no copy of its
 * GSA_AUTH answer for life. The request retransmitted after that is ignored (no new answer is
 * made), and the SA stays. */
START_TEST(cached_response_forgotten)
{
	inband_policy();
	start_gcks();
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	c.liveness_ms = 0; /* no request of the member's own after GSA_AUTH */
	fn_member *m = join(&c);
	run_all();
	registered(m, 0);
	gcks_sa *sa = gcks_sa_of(m->idx);
	ck_assert_ptr_nonnull(sa);
	const fn_trace *t = fn_trace_find(&net, FN_TO_GCKS, m->idx, GK_EXCH_GSA_AUTH, 0, 0);
	ck_assert_ptr_nonnull(t);
	size_t len = t->len;
	uint8_t *req = malloc(len);
	ck_assert_ptr_nonnull(req);
	memcpy(req, t->data, len);
	raw_ike r;
	raw_new(&r, 9);
	size_t answers = fn_trace_count(&net, FN_FROM_GCKS, -1, GK_EXCH_GSA_AUTH, 1);
	/* shortly before: the retransmission gets the cached answer */
	fn_advance(&net, GK_RESP_FORGET_MS - 2000);
	ck_assert_ptr_nonnull(sa->ike.last_resp);
	fn_raw_send(r.ep, req, len);
	fn_flush(&net);
	ck_assert_uint_eq(fn_trace_count(&net, FN_FROM_GCKS, -1, GK_EXCH_GSA_AUTH, 1), answers + 1);
	/* after: forgotten, and the retransmission is ignored */
	fn_advance(&net, 3000);
	ck_assert_ptr_null(sa->ike.last_resp);
	uint64_t established = stats().established;
	fn_raw_send(r.ep, req, len);
	fn_flush(&net);
	ck_assert_uint_eq(fn_trace_count(&net, FN_FROM_GCKS, -1, GK_EXCH_GSA_AUTH, 1), answers + 1);
	ck_assert_ptr_eq(gcks_sa_of(m->idx), sa);
	ck_assert_uint_eq(stats().established, established);
	ck_assert_uint_eq(fn_count(m, GK_GM_CLOSED), 0);
	free(req);
	raw_free(&r);
}
END_TEST

/* A GSA_INBAND_REKEY whose keys the member cannot unwrap (wrapped under another KWK) is refused
 * with INVALID_SYNTAX (RFC 7296 3.10.1: a value out of range), nothing of it applied; the GCKS
 * excludes the member as for any refusal. */
START_TEST(inband_rekey_undecodable_invalid_syntax)
{
	inband_policy();
	start_gcks();
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	fn_member *m = join(&c);
	c = gm_psk("fqdn:r2.example", G1);
	fn_member *other = join(&c);
	run_all();
	const gk_group_state *reg = registered(m, 0);
	registered(other, 0);
	gcks_sa *sa = gcks_sa_of(m->idx);
	ck_assert_ptr_nonnull(sa);
	gk_group_state *gs = calloc(1, sizeof(*gs));
	ck_assert_ptr_nonnull(gs);
	gs->sas[0] = reg->sas[0];
	gs->sas[0].spi[0] ^= 0xff; /* a new SA */
	gs->nsas = 1;
	uint8_t wrong_kwk[64];
	memset(wrong_kwk, 0x5a, sizeof(wrong_kwk));
	gk_arena a;
	gk_arena_init(&a, 0);
	gk_pl_gsa gsa;
	gk_pl_kd kd;
	ck_assert_int_eq(gk_group_state_encode(gs, GK_GSA_REKEY, sa->ike.suite.kwa,
					       GK_CHUNK(wrong_kwk, sa->ike.kw_len), &a, &gsa, &kd), GK_OK);
	gk_out_pl pl[2] = { { GK_PL_GSA, false, &gsa }, { GK_PL_KD, false, &kd } };
	mlog_capture();
	ck_assert_int_eq(gcks_request(net.gcks, sa, GK_EXCH_GSA_INBAND_REKEY, pl, 2), GK_OK);
	sa->out_group = gcks_name_hash(G1);
	gk_arena_free(&a);
	free(gs);
	fn_advance(&net, 3000);
	ck_assert_uint_eq(fn_count(m, GK_GM_REKEYED), 0);
	ck_assert_uint_eq(fn_trace_count(&net, FN_TO_GCKS, m->idx, GK_EXCH_GSA_INBAND_REKEY, 1), 1);
	ck_assert_uint_eq(mlog_count("GSA_INBAND_REKEY refused: "), 1);
	ck_assert_uint_eq(mlog_count("fqdn:r1.example at 127.0.0.10:10000 refused GSA_INBAND_REKEY of keyid:grp-1 "
				     "with INVALID_SYNTAX: excluded"), 1);
	ck_assert_uint_eq(fn_count(m, GK_GM_EXCLUDED), 1);
	ck_assert_uint_eq(reg_count(G1), 1);
	ck_assert_uint_eq(fn_count(other, GK_GM_CLOSED), 0);
	mlog_release();
}
END_TEST

/* =========================================================================================
 * Rekey transport (RFC 9838 2.4.1.2)
 * ========================================================================================= */

/* G1 with PSK receivers r1, r2, r3 and 12 Data-Security SAs, so that a GSA_REKEY (about 2300
 * octets) takes two datagrams at fragment-mtu 1280; the Rekey SA goes to a multicast group of
 * `family` with this fragment-mtu. The GCKS multicasts into mc. */
static void big_multicast_gcks(int family, uint16_t frag_mtu)
{
	enum { NTEKS = 12 };
	gk_group_policy g;
	pol_init(&g, G1);
	gk_tek_policy *t = realloc(g.teks, NTEKS * sizeof(*t));
	ck_assert_ptr_nonnull(t);
	g.teks = t;
	for (size_t i = 1; i < NTEKS; i++) {
		t[i] = t[0];
		snprintf(t[i].name, sizeof(t[i].name), "video%zu", i);
		t[i].dst.port_lo = t[i].dst.port_hi = (uint16_t)(5004 + 2 * i);
	}
	g.nteks = NTEKS;
	if (family == 6) {
		gk_ts_spec *k[2] = { &g.kek.src, &g.kek.dst };
		const char *a[2] = { "2001:db8::1", "ff0e::848" };
		for (size_t i = 0; i < 2; i++) {
			k[i]->family = 6;
			ck_assert_int_eq(inet_pton(AF_INET6, a[i], k[i]->start), 1);
			memcpy(k[i]->end, k[i]->start, 16);
		}
	}
	g.kek.frag_mtu = frag_mtu;
	pol_member(&g, "fqdn:r1.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_member(&g, "fqdn:r2.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_member(&g, "fqdn:r3.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_put(&g);
	char err[256] = "";
	gk_gcks_env env = fn_gcks_env(&net, store);
	env.send_multicast = mc_send;
	ck_assert_msg(gk_gcks_new(&gcfg, &env, &net.gcks, err, sizeof(err)) == GK_OK, "%s", err);
}

/* What gcksctl status reports: every registered member of G1 negotiated IKE fragmentation. */
static bool g1_members_frag(void)
{
	gk_gcks_group_info info[4];
	size_t ng = gk_gcks_groups(net.gcks, info, 4);
	for (size_t i = 0; i < ng; i++)
		if (!strcmp(info[i].pol->name, G1))
			return info[i].members_frag;
	ck_abort_msg("no %s", G1);
	return false;
}

/* The answer of the control socket to `line` (gcksctl status, --json or not); caller frees. */
static char *ctl_answer(const char *line)
{
	gk_control_hooks h = { .gcks = net.gcks, .store = store };
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	ck_assert_ptr_nonnull(f);
	gk_control_handle(&h, "tester", line, f);
	fclose(f);
	return buf;
}

/* Opens the datagrams in mc, in order, with the Rekey SA of gs: the message is complete at the
 * last one exactly, and verifies. */
static void mc_opens(const gk_group_state *gs)
{
	const gk_group_sa *kek = NULL;
	for (size_t i = 0; i < gs->nsas; i++)
		if (gs->sas[i].proto == GK_PROTO_GIKE_UPDATE)
			kek = &gs->sas[i];
	ck_assert_ptr_nonnull(kek);
	gk_group_keys k;
	ck_assert_int_eq(gk_group_keys_split(GK_CHUNK(kek->keymat, kek->keymat_len), kek->proto, kek->encr,
					     kek->encr_key_bits, kek->integ, kek->kwa, &k), GK_OK);
	gk_frag_reasm reasm;
	memset(&reasm, 0, sizeof(reasm));
	EVP_PKEY *auth_key = NULL;
	ck_assert_int_eq(gk_pubkey_from_spki(GK_CHUNK(gs->auth_key, gs->auth_key_len), &auth_key), GK_OK);
	gk_sig_scheme want = GK_SIG_NONE;
	ck_assert_int_eq(gk_sig_scheme_from_algid(GK_CHUNK(kek->sig_algid, kek->sig_algid_len), &want), GK_OK);
	gk_rekey_in in = { .kek = { .encr = kek->encr, .encr_key_bits = kek->encr_key_bits, .integ = kek->integ,
				    .enc = k.enc, .integ_key = k.integ },
			   .auth_key = auth_key, .want = want, .reasm = &reasm };
	memcpy(in.spi, kek->spi, 16);
	for (size_t i = 0; i < mc.n; i++) {
		gk_msg rk;
		bool complete = false;
		memset(&rk, 0, sizeof(rk));
		ck_assert_int_eq(gk_rekey_open(&in, GK_CHUNK(mc.data[i], mc.len[i]), &rk, &complete), GK_OK);
		ck_assert_msg(complete == (i + 1 == mc.n), "datagram %zu of %zu", i, mc.n);
		if (complete) {
			ck_assert_ptr_nonnull(gk_msg_find(&rk, GK_PL_GSA));
			ck_assert_ptr_nonnull(gk_msg_find(&rk, GK_PL_KD));
			ck_assert_ptr_nonnull(gk_msg_find(&rk, GK_PL_AUTH));
		}
		gk_msg_free(&rk);
	}
	gk_frag_reset(&reasm);
	EVP_PKEY_free(auth_key);
}

/* RFC 9838 2.4.1.2 with RFC 7383 2.5.1: every member negotiated IKE fragmentation, so a large
 * GSA_REKEY goes out as SKF fragments, each IP datagram (20 + 8 octets of headers on IPv4,
 * 40 + 8 on IPv6) within the 1280 of fragment-mtu, all but the last full to within a cipher
 * block; the members reassemble and verify it. */
START_TEST(rekey_fragmented_when_all_members_support)
{
	int family = _i ? 6 : 4;
	size_t hdrs = family == 4 ? 28 : 48;
	big_multicast_gcks(family, 1280);
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	fn_member *r1 = join(&c);
	c = gm_psk("fqdn:r2.example", G1);
	fn_member *r2 = join(&c);
	run_all();
	const gk_group_state *gs = registered(r1, 0);
	registered(r2, 0);
	ck_assert(g1_members_frag());
	char msg[256];
	mc_free();
	ck_assert_int_eq(gk_gcks_rekey(net.gcks, G1, msg, sizeof(msg)), GK_OK);
	ck_assert_uint_eq(mc.n, 2);
	size_t total = 0;
	for (size_t i = 0; i < mc.n; i++) {
		ck_assert_uint_eq(mc.data[i][16], GK_PL_SKF);
		ck_assert_msg(mc.len[i] + hdrs <= 1280, "datagram %zu: %zu + %zu octets", i, mc.len[i], hdrs);
		if (i + 1 < mc.n)
			ck_assert_msg(mc.len[i] + hdrs > 1280 - 16, "datagram %zu: %zu octets", i, mc.len[i]);
		total += mc.len[i];
	}
	ck_assert_uint_gt(total, 1280 - hdrs);
	mc_opens(gs);
	mc_free();
}
END_TEST

static int64_t gcks_wall_now(void)
{
	gk_clock c = gk_clock_test_clock(&net.clock);
	return gk_clock_wall(&c);
}

/* The metrics text of the GCKS (gcksd --metrics) now; caller frees. */
static char *metrics_text_with(int64_t udp_send_dropped)
{
	gk_metrics_proc p = { -1, -1, 0, udp_send_dropped };
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	ck_assert_ptr_nonnull(f);
	gk_metrics_write(net.gcks, store, &p, gcks_wall_now(), f);
	fclose(f);
	return buf;
}

static char *metrics_text(void)
{
	return metrics_text_with(-1);
}

static void has_line(const char *text, const char *line)
{
	char *want = NULL;
	ck_assert_int_gt(asprintf(&want, "\n%s\n", line), 0);
	ck_assert_msg(strstr(text, want), "no line \"%s\" in:\n%s", line, text);
	free(want);
}

/* The counters in the core as gcksd --metrics writes them: a registration, a registration to a
 * group the GCKS does not serve (counted without its name: a peer's choice is never a label),
 * a multicast rekey and each of its copies; no process metrics (nor UDP send drops) when the
 * daemon measured none. */
START_TEST(metrics_count_registrations_and_rekeys)
{
	big_multicast_gcks(4, 1280);
	gk_gcks_group_info gi[4];
	ck_assert_uint_eq(gk_gcks_groups(net.gcks, gi, 4), 1);
	unsigned copies = gi[0].pol->kek.copies ? gi[0].pol->kek.copies : 1;
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	fn_member *r1 = join(&c);
	run_all();
	registered(r1, 0);
	raw_ike r;
	gk_msg m;
	raw_new(&r, 22);
	raw_sa_init(&r);
	raw_gsa_auth(&r, "fqdn:r3.example", "keyid:no-such-group\"\n", &m);
	ck_assert_ptr_nonnull(gk_msg_find_notify(&m, GK_N_INVALID_GROUP_ID));
	gk_msg_free(&m);
	char *t = metrics_text();
	has_line(t, "gikev2_gcks_registrations_total{group=\"keyid:grp-1\",result=\"ok\"} 1");
	has_line(t, "gikev2_gcks_registrations_total{group=\"(unknown)\",result=\"refused\",notify=\"INVALID_GROUP_ID\"} 1");
	ck_assert_ptr_null(strstr(t, "no-such-group"));
	has_line(t, "gikev2_gcks_group_members{group=\"keyid:grp-1\"} 1");
	has_line(t, "gikev2_gcks_rekey_messages_total{group=\"keyid:grp-1\"} 0");
	has_line(t, "gikev2_gcks_ike_sas{state=\"established\"} 2");
	ck_assert_ptr_null(strstr(t, "gikev2_gcks_last_rekey_timestamp_seconds{"));
	ck_assert_ptr_null(strstr(t, "\nprocess_"));
	ck_assert_ptr_null(strstr(t, "udp_send_dropped"));
	free(t);
	/* what the daemon's sockets could not send, when it counted it */
	t = metrics_text_with(7);
	has_line(t, "gikev2_gcks_udp_send_dropped_total 7");
	free(t);

	char msg[256], line[160];
	mc_free();
	ck_assert_int_eq(gk_gcks_rekey(net.gcks, G1, msg, sizeof(msg)), GK_OK);
	t = metrics_text();
	has_line(t, "gikev2_gcks_rekey_messages_total{group=\"keyid:grp-1\"} 1");
	has_line(t, "gikev2_gcks_rekey_copies_total{group=\"keyid:grp-1\"} 1"); /* the first leaves at once */
	snprintf(line, sizeof(line), "gikev2_gcks_last_rekey_timestamp_seconds{group=\"keyid:grp-1\"} %lld",
		 (long long)gcks_wall_now());
	has_line(t, line);
	has_line(t, "gikev2_gcks_rekey_age_seconds{group=\"keyid:grp-1\"} 0");
	free(t);
	fn_advance(&net, 10000);
	t = metrics_text();
	snprintf(line, sizeof(line), "gikev2_gcks_rekey_copies_total{group=\"keyid:grp-1\"} %u", copies);
	has_line(t, line);
	free(t);
	mc_free();
	raw_free(&r);
}
END_TEST

/* RFC 9838 2.4.1.2: one member registered over an IKE SA without IKEV2_FRAGMENTATION_SUPPORTED
 * (a hand-made initiator that does not announce it) and the GSA_REKEY goes out whole, one SK
 * datagram larger than fragment-mtu that every member can open; status says so. When that
 * member is evicted, the group's GSA_REKEY is fragmented again. */
START_TEST(rekey_whole_when_a_member_lacks_frag)
{
	big_multicast_gcks(4, 1280);
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	fn_member *r1 = join(&c);
	run_all();
	registered(r1, 0);
	ck_assert(g1_members_frag());
	raw_ike r;
	gk_msg m;
	raw_new(&r, 21);
	raw_sa_init(&r);
	ck_assert(!r.ike.frag_ok);
	raw_gsa_auth(&r, "fqdn:r3.example", G1, &m);
	ck_assert_ptr_null(gk_msg_find_error(&m));
	ck_assert_ptr_nonnull(gk_msg_find(&m, GK_PL_KD));
	gk_msg_free(&m);
	ck_assert_uint_eq(reg_count(G1), 2);
	ck_assert(!g1_members_frag());
	char *st = ctl_answer("status");
	ck_assert_msg(strstr(st, "\"group\":\"keyid:grp-1\",\"members\":2,\"capacity\":0,\"rekey\":\"multicast\","
			     "\"rekey_fragmentation\":\"whole\""), "%s", st);
	free(st);
	st = ctl_answer("status text");
	ck_assert_msg(strstr(st, "keyid:grp-1  rekey multicast, members 2; GSA_REKEY sent whole: a member lacks IKE "
			     "fragmentation\\n"), "%s", st);
	free(st);

	char msg[256];
	mc_free();
	mlog_capture();
	ck_assert_int_eq(gk_gcks_rekey(net.gcks, G1, msg, sizeof(msg)), GK_OK);
	ck_assert_uint_eq(mc.n, 1);
	char want[256];
	snprintf(want, sizeof(want), "group keyid:grp-1: GSA_REKEY of %zu octets sent whole, its IP datagram "
		 "above fragment-mtu 1280: a registered member did not negotiate IKE fragmentation", mc.len[0]);
	ck_assert_uint_eq(mlog_count(want), 1);
	mlog_release();
	ck_assert_uint_eq(mc.data[0][16], GK_PL_SK);
	ck_assert_uint_gt(mc.len[0] + 28, 1280);
	/* r1's Rekey SA is still the one the message goes under */
	mc_opens(registered(r1, 0));
	mc_free();

	ck_assert_int_eq(gk_gcks_evict(net.gcks, G1, "fqdn:r3.example", msg, sizeof(msg)), GK_OK);
	fn_advance(&net, 1000);
	ck_assert_uint_eq(reg_count(G1), 1);
	ck_assert(g1_members_frag());
	st = ctl_answer("status");
	ck_assert_msg(strstr(st, "\"rekey_fragmentation\":\"allowed\""), "%s", st);
	free(st);
	st = ctl_answer("status text");
	ck_assert_msg(strstr(st, "keyid:grp-1  rekey multicast, members 1; GSA_REKEY fragmented above 1280 octets\\n"),
		      "%s", st);
	free(st);
	mc_free();
	ck_assert_int_eq(gk_gcks_rekey(net.gcks, G1, msg, sizeof(msg)), GK_OK);
	ck_assert_uint_eq(mc.n, 2);
	for (size_t i = 0; i < mc.n; i++) {
		ck_assert_uint_eq(mc.data[i][16], GK_PL_SKF);
		ck_assert_uint_le(mc.len[i] + 28, 1280);
	}
	mc_free();
	raw_free(&r);
}
END_TEST

/* fragment-mtu 0: GSA_REKEY is never fragmented, members or not, and that is no warning;
 * status says so. */
START_TEST(rekey_frag_disabled)
{
	big_multicast_gcks(4, 0);
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	fn_member *r1 = join(&c);
	run_all();
	registered(r1, 0);
	ck_assert(g1_members_frag());
	char *st = ctl_answer("status");
	ck_assert_msg(strstr(st, "\"rekey_fragmentation\":\"disabled\""), "%s", st);
	free(st);
	st = ctl_answer("status text");
	ck_assert_msg(strstr(st, "keyid:grp-1  rekey multicast, members 1; GSA_REKEY never fragmented\\n"), "%s", st);
	free(st);
	char msg[256];
	mc_free();
	mlog_capture();
	ck_assert_int_eq(gk_gcks_rekey(net.gcks, G1, msg, sizeof(msg)), GK_OK);
	ck_assert_uint_eq(mlog_count("GSA_REKEY"), 0);
	mlog_release();
	ck_assert_uint_eq(mc.n, 1);
	ck_assert_uint_eq(mc.data[0][16], GK_PL_SK);
	ck_assert_uint_gt(mc.len[0] + 28, 1280);
	mc_opens(registered(r1, 0));
	mc_free();
}
END_TEST

/* ---- NAT traversal (RFC 7296 2.23, RFC 9838 2.1.1) ---- */

static bool holds(const fn_trace *t, const uint8_t *h, size_t n)
{
	for (size_t i = 0; i + n <= t->len; i++)
		if (!memcmp(t->data + i, h, n))
			return true;
	return false;
}

/* A member that knows its own and the GCKS's address (as gmd does) and its single receiver
 * registration; local/gcks as the member believes them. */
static fn_member *nat_member(const char *local, uint16_t lport, const char *gcks, uint16_t gport)
{
	single_member_policy("fqdn:m1.example");
	start_gcks();
	gk_gm_config c = gm_psk("fqdn:m1.example", G1);
	struct sockaddr_in *l = (struct sockaddr_in *)&c.local, *g = (struct sockaddr_in *)&c.gcks;
	l->sin_family = g->sin_family = AF_INET;
	inet_pton(AF_INET, local, &l->sin_addr);
	inet_pton(AF_INET, gcks, &g->sin_addr);
	l->sin_port = htons(lport);
	g->sin_port = htons(gport);
	fn_member *m = join(&c);
	run_all();
	registered(m, 0);
	return m;
}

/* Every datagram after IKE_SA_INIT, both ways, is on the GCKS's port 4500 (or on none of it). */
static void after_init_on(const fn_member *m, bool on_4500)
{
	size_t n = 0;
	for (size_t i = 0; i < net.ntrace; i++) {
		const fn_trace *t = &net.trace[i];
		if (t->peer != m->idx)
			continue;
		uint16_t gport = t->to_gcks ? t->to_port : t->from_port;
		if (t->exchange == GK_EXCH_IKE_SA_INIT) {
			ck_assert_uint_eq(gport, 848);
			continue;
		}
		n++;
		ck_assert_uint_eq(gport, on_4500 ? 4500 : 848);
		/* the GCKS answers where the request came from: the member's NAT-T mapping */
		uint16_t mport = t->to_gcks ? t->from_port : t->to_port;
		ck_assert_uint_eq(mport, on_4500 ? ntohs(m->nat_addr.sin_port) : ntohs(m->addr.sin_port));
	}
	ck_assert_uint_ge(n, 2); /* GSA_AUTH request and response */
}

/* A NAT in front of the member: the GCKS's NAT_DETECTION_DESTINATION_IP is not the hash of the
 * member's own address, so GSA_AUTH goes to 4500 and the GCKS answers there. */
START_TEST(nat_member_behind_nat_moves_to_4500)
{
	fn_member *m = nat_member("192.168.1.2", 500, "127.0.0.1", 848);
	ck_assert_uint_eq(m->nat_t, 1);
	ck_assert_uint_eq(stats().nat_detected, 1); /* the GCKS sees it from the member's hashes */
	after_init_on(m, true);
	/* the request carried both NAT-D notifies, the hashes with a zero responder SPI */
	const fn_trace *t = fn_trace_find(&net, FN_TO_GCKS, m->idx, GK_EXCH_IKE_SA_INIT, 0, 0);
	ck_assert_ptr_nonnull(t);
	uint8_t src[20], dst[20];
	struct sockaddr_in l = { .sin_family = AF_INET, .sin_port = htons(500) };
	inet_pton(AF_INET, "192.168.1.2", &l.sin_addr);
	ck_assert_int_eq(gk_natd_hash(t->spi_i, 0, (struct sockaddr *)&l, src), GK_OK);
	ck_assert_int_eq(gk_natd_hash(t->spi_i, 0, (struct sockaddr *)&net.gcks_addr, dst), GK_OK);
	ck_assert(holds(t, src, 20));
	ck_assert(holds(t, dst, 20));
}
END_TEST

/* A NAT in front of the GCKS (the member reaches it at a public address): the
 * NAT_DETECTION_SOURCE_IP does not match, and the member moves as well. */
START_TEST(nat_gcks_behind_nat_moves_to_4500)
{
	fn_member *m = nat_member("127.0.0.10", 10000, "203.0.113.1", 500);
	ck_assert_uint_eq(m->nat_t, 1);
	ck_assert_uint_eq(stats().nat_detected, 1);
	after_init_on(m, true);
}
END_TEST

/* No NAT: both hashes match, everything stays on the port IKE_SA_INIT used (848 here: the
 * behaviour must not depend on it, RFC 9838 2.1.1). */
START_TEST(nat_none_stays)
{
	fn_member *m = nat_member("127.0.0.10", 10000, "127.0.0.1", 848);
	ck_assert_uint_eq(m->nat_t, 0);
	ck_assert_uint_eq(stats().nat_detected, 0);
	after_init_on(m, false);
}
END_TEST

/* A member that does not know its address sends no NAT-D and does not move. */
START_TEST(nat_no_natd_without_address)
{
	single_member_policy("fqdn:m1.example");
	start_gcks();
	gk_gm_config c = gm_psk("fqdn:m1.example", G1);
	fn_member *m = join(&c);
	run_all();
	registered(m, 0);
	ck_assert_uint_eq(m->nat_t, 0);
	ck_assert_uint_eq(stats().nat_detected, 0);
	const fn_trace *t = fn_trace_find(&net, FN_TO_GCKS, m->idx, GK_EXCH_IKE_SA_INIT, 0, 0);
	ck_assert_ptr_nonnull(t);
	uint8_t type[2] = { GK_N_NAT_DETECTION_SOURCE_IP >> 8, GK_N_NAT_DETECTION_SOURCE_IP & 0xff };
	ck_assert(!holds(t, type, 2));
	after_init_on(m, false);
}
END_TEST

/* After the move, what the GCKS starts on the IKE SA (here its idle close) also goes from 4500
 * to the member's NAT-T mapping: the SA follows the last authentic request. */
START_TEST(nat_gcks_requests_follow_to_4500)
{
	gk_group_policy g;
	pol_init(&g, G1);
	g.ike_idle_timeout = 20;
	pol_member(&g, "fqdn:m1.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_put(&g);
	start_gcks();
	gk_gm_config c = gm_psk("fqdn:m1.example", G1);
	struct sockaddr_in *l = (struct sockaddr_in *)&c.local;
	l->sin_family = AF_INET;
	inet_pton(AF_INET, "192.168.1.2", &l->sin_addr);
	l->sin_port = htons(500);
	memcpy(&c.gcks, &net.gcks_addr, sizeof(net.gcks_addr));
	fn_member *m = join(&c);
	run_member(m);
	registered(m, 0);
	ck_assert_uint_eq(m->nat_t, 1);
	fn_advance(&net, 21000);
	ck_assert_uint_eq(fn_count(m, GK_GM_CLOSED), 1);
	const fn_trace *t = fn_trace_find(&net, FN_FROM_GCKS, m->idx, GK_EXCH_INFORMATIONAL, 0, 0);
	ck_assert_ptr_nonnull(t);
	ck_assert_uint_eq(t->from_port, 4500);
	ck_assert_uint_eq(t->to_port, ntohs(m->nat_addr.sin_port));
}
END_TEST

/* =========================================================================================
 * Group commit (storage.h): the registrations of one turn share one transaction, and their
 * answers leave only after its commit
 * ========================================================================================= */

static uint64_t write_txs(void)
{
	gk_store_tx_stats t;
	uint64_t n = 0;
	gk_store_tx_stats_get(store, &t);
	for (size_t i = 0; i <= GK_STORE_TX_BUCKETS; i++)
		n += t.count[GK_TX_WRITE][i];
	return n;
}

static fn_member *run_one(const gk_gm_config *c)
{
	fn_member *m = join(c);
	run_member(m);
	return m;
}

/* Three members whose GSA_AUTH requests reach the GCKS together (one turn of its loop). */
static void three_together(fn_member *m[3])
{
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	m[0] = join(&c);
	c = gm_psk("fqdn:r2.example", G1);
	m[1] = join(&c);
	c = gm_psk("fqdn:other.example", G2);
	m[2] = join(&c);
	run_all();
	const fn_trace *a[3];
	for (int i = 0; i < 3; i++)
		ck_assert_ptr_nonnull(a[i] = fn_trace_find(&net, FN_TO_GCKS, m[i]->idx, GK_EXCH_GSA_AUTH, 0, 0));
	/* consecutive in the trace: nothing was delivered between them */
	ck_assert(a[1] == a[0] + 1 && a[2] == a[1] + 1);
}

START_TEST(group_commit_one_transaction)
{
	fn_member *m[3];
	standard_policies(0);
	start_gcks();
	/* the groups' keys are made on first use, in transactions of their own: made first */
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	registered(run_one(&c), 0);
	c = gm_psk("fqdn:other.example", G2);
	registered(run_one(&c), 0);
	uint64_t before = write_txs();
	three_together(m);
	for (int i = 0; i < 3; i++)
		registered(m[i], 0);
	/* a shared store (PostgreSQL, check_storage_pg.sh) commits each registration at once */
	ck_assert_uint_eq(write_txs() - before, gk_store_shared(store) ? 0 : 1);
	ck_assert_uint_eq(reg_count(G1), 2);
	ck_assert_uint_eq(reg_count(G2), 1);
	ck_assert_uint_eq(stats().registrations, 5);
}
END_TEST

static void db_exec(const char *sql)
{
	sqlite3 *db = NULL;
	ck_assert_int_eq(sqlite3_open(rf_db_path(), &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, msg ? msg : "?");
	sqlite3_free(msg);
	sqlite3_close(db);
}

/* The batch's COMMIT fails (a deferred foreign key the test adds to the database breaks it at
 * COMMIT, after every row went in): each member of the turn gets what a failed write gives,
 * REGISTRATION_FAILED, none is recorded anywhere, and nothing in memory counts them (the
 * capacity of 1 is free again afterwards). */
START_TEST(group_commit_lost)
{
	fn_member *m[3];
	if (gk_store_shared(store))
		return; /* SQLite's batches; a shared store (PostgreSQL) batches nothing */
	standard_policies(1);
	db_exec("CREATE TABLE commit_breaker (g INTEGER REFERENCES groups (id) DEFERRABLE INITIALLY DEFERRED);"
		"CREATE TRIGGER commit_breaker AFTER INSERT ON registrations "
		"BEGIN INSERT INTO commit_breaker VALUES (-1); END;");
	start_gcks();
	three_together(m);
	for (int i = 0; i < 3; i++)
		refused(m[i], GK_N_REGISTRATION_FAILED);
	ck_assert_uint_eq(reg_count(G1), 0);
	ck_assert_uint_eq(reg_count(G2), 0);
	ck_assert_uint_eq(stats().registrations, 0);
	db_exec("DROP TRIGGER commit_breaker; DROP TABLE commit_breaker;");
	gk_gm_config c = gm_psk("fqdn:r2.example", G1);
	fn_member *again = join(&c);
	run_member(again);
	registered(again, 0);
	ck_assert_uint_eq(reg_count(G1), 1);
}
END_TEST

/* =========================================================================================
 * Sender-IDs and single-sender counter-mode keys (RFC 9838 2.5, doc/sender-iv.md)
 * ========================================================================================= */

/* Added to the first Sender-ID of the next allocation, then cleared: the test's stand-in for a
 * GCKS that hands out a Sender-ID beyond the GWP_SENDER_ID_BITS it announces (linked with
 * -Wl,--wrap=gk_keys_sender_ids_alloc; see mk/tests-fakenet.am). */
static uint32_t sid_shift;

gk_status __real_gk_keys_sender_ids_alloc(gk_store *s, const char *group, uint32_t n, uint16_t bits,
					   uint32_t *first);
gk_status __wrap_gk_keys_sender_ids_alloc(gk_store *s, const char *group, uint32_t n, uint16_t bits,
					   uint32_t *first);

gk_status __wrap_gk_keys_sender_ids_alloc(gk_store *s, const char *group, uint32_t n, uint16_t bits,
					   uint32_t *first)
{
	gk_status st = __real_gk_keys_sender_ids_alloc(s, group, n, bits, first);
	if (!st)
		*first += sid_shift;
	sid_shift = 0;
	return st;
}

/* RFC 9838 2.5.2: a Sender-ID that does not fit GWP_SENDER_ID_BITS is "a fatal error" of the
 * registration and the member "re-register[s]": nothing of it is reported (so nothing is
 * installed), no leave is sent (no GSA_REGISTRATION with NO_PROPOSAL_CHOSEN), and the retry
 * registers with a Sender-ID that fits. */
START_TEST(sender_id_too_wide_is_fatal)
{
	gk_group_policy g;
	pol_init(&g, G1); /* AES-GCM, GWP_SENDER_ID_BITS 8 */
	pol_member(&g, "fqdn:s1.example", GK_MAUTH_PSK, GK_ROLE_SENDER);
	pol_put(&g);
	start_gcks();
	gk_gm_config c = gm_daemon("fqdn:s1.example", G1);
	c.sender = true;
	sid_shift = 256;
	fn_member *m = join(&c);
	ck_assert(fn_run_until(&net, registered_n, m, 20000));
	ck_assert_uint_eq(fn_count(m, GK_GM_REFUSED), 1);
	const fn_event *ref = fn_find(m, GK_GM_REFUSED, 0);
	ck_assert_uint_eq(ref->notify, 0);
	ck_assert_str_eq(ref->why, "Sender-ID 256 does not fit GWP_SENDER_ID_BITS 8 (RFC 9838 2.5.2)");
	ck_assert_uint_eq(fn_count(m, GK_GM_FAILED), 1);
	ck_assert_int_gt(fn_find(m, GK_GM_FAILED, 0)->retry_ms, 0);
	ck_assert_uint_eq(fn_trace_count(&net, FN_TO_GCKS, m->idx, GK_EXCH_GSA_REGISTRATION, 0), 0);
	ck_assert_uint_eq(fn_count(m, GK_GM_REGISTERED), 1);
	const gk_group_state *gs = fn_find(m, GK_GM_REGISTERED, 0)->state;
	ck_assert_uint_eq(gs->nsender_ids, 1);
	ck_assert_uint_eq(gs->sender_ids[0], 1);
	ck_assert_uint_eq(gs->sender_id_bits, 8);
}
END_TEST

/* G1 with one single-sender AES-GCM TEK (32-bit Sequential Numbers): sender s1, receiver r1.
 * The GCKS multicasts into mc. */
static void single_sender_gcm_policy(void)
{
	gk_group_policy g;
	pol_init(&g, G1);
	g.teks[0].sn = GK_SN_SEQ32;
	pol_member(&g, "fqdn:s1.example", GK_MAUTH_PSK, GK_ROLE_SENDER);
	pol_member(&g, "fqdn:r1.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_put(&g);
}

static void start_mc_gcks(void)
{
	char err[256] = "";
	gk_gcks_env env = fn_gcks_env(&net, store);
	env.send_multicast = mc_send;
	ck_assert_msg(gk_gcks_new(&gcfg, &env, &net.gcks, err, sizeof(err)) == GK_OK, "%s", err);
}

/* One registration of `id` (a fresh member core: gmd started again); the TEK's SPI as a number. */
static uint32_t tek_spi_of(const char *id, bool sender)
{
	gk_gm_config c = gm_psk(id, G1);
	c.sender = sender;
	fn_member *m = join(&c);
	run_member(m);
	const gk_group_state *gs = registered(m, 0);
	ck_assert_uint_eq(gs->sas[0].proto, GK_PROTO_ESP);
	return gk_get_u32(gs->sas[0].spi);
}

/* Linux derives the IVs of a single-sender counter-mode SA from its sequence number, which
 * starts at 1 again when the SA is installed again (doc/sender-iv.md). A sender that may hold
 * the TEK (handed at registration, or sent by a rekey while it was registered) and registers
 * again gets a rekeyed group: new keys for it, announced by GSA_REKEY that the receiver opens;
 * a receiver registering again changes nothing. The record is in the store: it holds across a
 * GCKS restart, and covers keys a rekey distributed. */
START_TEST(sender_reregistration_gets_fresh_counter_key)
{
	single_sender_gcm_policy();
	start_mc_gcks();
	uint32_t t1 = tek_spi_of("fqdn:s1.example", true);
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	fn_member *r1 = join(&c);
	run_member(r1);
	ck_assert_uint_eq(gk_get_u32(registered(r1, 0)->sas[0].spi), t1);
	ck_assert_uint_eq(tek_spi_of("fqdn:r1.example", false), t1);
	ck_assert_uint_eq(mc.n, 0);
	ck_assert_uint_eq(stats().sender_rekeys, 0);
	/* the sender again: the group is rekeyed first, r1 is told under the Rekey SA it holds */
	uint32_t t2 = tek_spi_of("fqdn:s1.example", true);
	ck_assert_uint_ne(t2, t1);
	ck_assert_uint_eq(stats().sender_rekeys, 1);
	ck_assert_uint_eq(mc.n, 1);
	mc_opens(registered(r1, 0));
	mc_free();
	/* a GCKS restart forgets nothing: after the rate limit, the next registration rekeys again */
	gk_gcks_free(net.gcks);
	net.gcks = NULL;
	start_mc_gcks();
	fn_advance(&net, 60000);
	uint32_t t3 = tek_spi_of("fqdn:s1.example", true);
	ck_assert_uint_ne(t3, t2);
	ck_assert_uint_eq(stats().sender_rekeys, 1); /* counted since this start */
	ck_assert_uint_eq(mc.n, 1);
	mc_free();
	/* keys a rekey sent to the group count as held by its registered sender */
	char msg[256];
	ck_assert_int_eq(gk_gcks_rekey(net.gcks, G1, msg, sizeof(msg)), GK_OK);
	ck_assert_uint_eq(mc.n, 1);
	mc_free();
	uint32_t t4 = tek_spi_of("fqdn:r1.example", false);
	ck_assert_uint_ne(t4, t3);
	fn_advance(&net, 60000);
	uint32_t t5 = tek_spi_of("fqdn:s1.example", true);
	ck_assert_uint_ne(t5, t4);
	ck_assert_uint_eq(stats().sender_rekeys, 2);
	mc_free();
}
END_TEST

/* The attack: an authenticated sender registers again and again to make the GCKS rekey the
 * group each time. One rekey per identity per GK_SENDER_REKEY_INTERVAL_S (60 s); the other
 * registrations are refused with TEMPORARY_FAILURE and get no keys at all (never the old ones),
 * no GSA_REKEY goes out for them; after the interval one more is allowed. */
START_TEST(sender_reregistration_loop_bounded)
{
	single_sender_gcm_policy();
	start_mc_gcks();
	uint32_t t1 = tek_spi_of("fqdn:s1.example", true);
	uint32_t t2 = tek_spi_of("fqdn:s1.example", true);
	ck_assert_uint_ne(t2, t1);
	ck_assert_uint_eq(mc.n, 1);
	for (int i = 0; i < 10; i++) {
		gk_gm_config c = gm_psk("fqdn:s1.example", G1);
		c.sender = true;
		fn_member *m = join(&c);
		run_member(m);
		refused(m, GK_N_TEMPORARY_FAILURE);
		fn_advance(&net, 5000);
	}
	ck_assert_uint_eq(stats().sender_rekeys, 1);
	ck_assert_uint_eq(stats().sender_rekeys_refused, 10);
	ck_assert_uint_eq(mc.n, 1);
	/* the receiver is not held up meanwhile, and still gets t2 */
	ck_assert_uint_eq(tek_spi_of("fqdn:r1.example", false), t2);
	fn_advance(&net, 10000); /* 60 s after the forced rekey */
	uint32_t t3 = tek_spi_of("fqdn:s1.example", true);
	ck_assert_uint_ne(t3, t2);
	ck_assert_uint_eq(stats().sender_rekeys, 2);
	ck_assert_uint_eq(mc.n, 2);
}
END_TEST

/* A member (at 192.168.1.2:500 behind a NAT, or at its own address without one) registered to
 * a group whose IKE SA the GCKS keeps for `idle` s, with NAT-keepalives every `ka_ms`. */
static fn_member *kept_sa_member(bool behind_nat, unsigned ka_ms, uint32_t idle)
{
	gk_group_policy g;
	pol_init(&g, G1);
	g.ike_idle_timeout = idle;
	pol_member(&g, "fqdn:m1.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_put(&g);
	start_gcks();
	net.step_ms = 1; /* keepalive times to the millisecond */
	gk_gm_config c = gm_psk("fqdn:m1.example", G1);
	c.keepalive_ms = ka_ms;
	struct sockaddr_in *l = (struct sockaddr_in *)&c.local;
	l->sin_family = AF_INET;
	inet_pton(AF_INET, behind_nat ? "192.168.1.2" : "127.0.0.10", &l->sin_addr);
	l->sin_port = htons(behind_nat ? 500 : 10000);
	memcpy(&c.gcks, &net.gcks_addr, sizeof(net.gcks_addr));
	fn_member *m = join(&c);
	run_member(m);
	registered(m, 0);
	ck_assert_uint_eq(m->nat_t, behind_nat ? 1 : 0);
	return m;
}

static int64_t last_sent_at(const fn_member *m)
{
	int64_t at = -1;
	for (size_t i = 0; i < net.ntrace; i++)
		if (net.trace[i].to_gcks && net.trace[i].peer == m->idx)
			at = net.trace[i].at_ms;
	return at;
}

/* RFC 3948 4: behind a NAT the member keeps the mapping of its kept IKE SA with a keepalive
 * after each 20 s (less up to 1/4 jitter) in which it sent nothing; none once the SA is gone. */
START_TEST(nat_keepalives_while_ike_sa_kept)
{
	fn_member *m = kept_sa_member(true, 20000, 120);
	int64_t prev = last_sent_at(m);
	ck_assert_int_ge(prev, 0);
	ck_assert_uint_eq(m->keepalives, 0);
	fn_advance(&net, 100000);
	/* five or six 15..20 s gaps in 100 s; the GCKS has not closed the SA (idle 120 s) */
	ck_assert_uint_ge(m->keepalives, 5);
	ck_assert_uint_le(m->keepalives, 6);
	ck_assert_uint_eq(fn_count(m, GK_GM_CLOSED), 0);
	ck_assert_int_eq(last_sent_at(m), prev); /* keepalives were all it sent */
	bool jitter = false;
	for (unsigned i = 0; i < m->keepalives; i++) {
		int64_t gap = m->keepalive_at[i] - prev;
		ck_assert_int_ge(gap, 15000);
		ck_assert_int_le(gap, 20000);
		jitter |= i > 0 && gap != m->keepalive_at[i - 1] - (i > 1 ? m->keepalive_at[i - 2] : last_sent_at(m));
		prev = m->keepalive_at[i];
	}
	ck_assert(jitter);
	/* the GCKS closes the idle SA: no mapping to keep any more */
	fn_advance(&net, 25000);
	ck_assert_uint_eq(fn_count(m, GK_GM_CLOSED), 1);
	unsigned n = m->keepalives;
	fn_advance(&net, 60000);
	ck_assert_uint_eq(m->keepalives, n);
}
END_TEST

/* Without a NAT, or with keepalives off, none are sent over the same 100 s. */
START_TEST(nat_no_keepalives_without_nat_or_when_off)
{
	fn_member *m = kept_sa_member(_i == 0, _i == 0 ? 0 : 20000, 120);
	fn_advance(&net, 100000);
	ck_assert_uint_eq(fn_count(m, GK_GM_CLOSED), 0);
	ck_assert_uint_eq(m->keepalives, 0);
}
END_TEST

/* A NAT-keepalive that reaches the GCKS core (on 500 or 848, where no marker is stripped) is one
 * octet that is no IKE header: dropped, no IKE SA, nothing answered. On 4500 the transport
 * drops it before the core (common/base/udp.c). */
START_TEST(gcks_ignores_keepalive)
{
	single_member_policy("fqdn:m1.example");
	start_gcks();
	fn_raw *r = fn_add_raw(&net);
	const uint8_t ka = 0xff;
	uint64_t dropped = stats().dropped;
	for (int i = 0; i < 1000; i++)
		fn_raw_send(r, &ka, 1);
	fn_flush(&net);
	ck_assert_uint_eq(stats().dropped, dropped + 1000);
	ck_assert_uint_eq(stats().half_open + stats().established, 0);
	ck_assert_uint_eq(r->n, 0);
}
END_TEST

/* What the GCKS asked gcksd about the source of GSA_REKEY. */
static struct {
	unsigned calls;
	struct sockaddr_in dst;
	uint16_t sport;
	char iface[16];
} rs;

static gk_status fake_rekey_source(void *ctx, const struct sockaddr *dst, uint16_t sport, const char *iface,
				   struct sockaddr_storage *src)
{
	(void)ctx;
	rs.calls++;
	memcpy(&rs.dst, dst, sizeof(rs.dst));
	rs.sport = sport;
	snprintf(rs.iface, sizeof(rs.iface), "%s", iface);
	struct sockaddr_in *in = (struct sockaddr_in *)src;
	memset(src, 0, sizeof(*src));
	in->sin_family = AF_INET;
	inet_pton(AF_INET, "192.0.2.77", &in->sin_addr);
	in->sin_port = htons(sport);
	return GK_OK;
}

/* RFC 9838 4.4.2: the Rekey SA's source selector in the GSA a member receives at registration
 * (decoded by the member from the wire) is one address, UDP, one port. 0: the policy's default
 * (source: gcks) becomes the address gcksd sends GSA_REKEY from, and GSA_REKEY goes out from the
 * port it names; 1: gcksd cannot tell the address: any address, the port still one; 2: an
 * address the policy gives is sent as it is, without asking. */
START_TEST(rekey_source_selector_in_gsa)
{
	gk_group_policy g;
	pol_init(&g, G1);
	if (_i < 2) {
		memset(&g.kek.src, 0, sizeof(g.kek.src));
		g.kek.src.family = 4; /* source: gcks */
		g.kek.src.ip_proto = 17;
		g.kek.src.port_lo = g.kek.src.port_hi = 848;
	}
	snprintf(g.kek.iface, sizeof(g.kek.iface), "eth7");
	pol_member(&g, "fqdn:m1.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_put(&g);
	memset(&rs, 0, sizeof(rs));
	char err[256] = "";
	gk_gcks_env env = fn_gcks_env(&net, store);
	env.send_multicast = mc_send;
	if (_i != 1)
		env.rekey_source = fake_rekey_source;
	ck_assert_msg(gk_gcks_new(&gcfg, &env, &net.gcks, err, sizeof(err)) == GK_OK, "%s", err);
	gk_gm_config c = gm_psk("fqdn:m1.example", G1);
	fn_member *m = join(&c);
	run_member(m);
	const gk_group_state *gs = registered(m, 0);
	const gk_group_sa *kek = NULL;
	for (size_t i = 0; i < gs->nsas; i++)
		if (gs->sas[i].proto == GK_PROTO_GIKE_UPDATE)
			kek = &gs->sas[i];
	ck_assert_ptr_nonnull(kek);
	ck_assert_uint_eq(kek->src.family, 4);
	ck_assert_uint_eq(kek->src.ip_proto, 17);
	ck_assert_uint_eq(kek->src.port_lo, 848);
	ck_assert_uint_eq(kek->src.port_hi, 848);
	static const char *const want_start[] = { "c000024d", "00000000", "c0000201" };
	static const char *const want_end[] = { "c000024d", "ffffffff", "c0000201" };
	ck_assert_mem_hex(kek->src.start, 4, want_start[_i]);
	ck_assert_mem_hex(kek->src.end, 4, want_end[_i]);
	if (_i == 0) {
		ck_assert_uint_eq(rs.calls, 1);
		ck_assert_uint_eq(ntohl(rs.dst.sin_addr.s_addr), 0xef000001); /* 239.0.0.1 */
		ck_assert_uint_eq(ntohs(rs.dst.sin_port), 848);
		ck_assert_uint_eq(rs.sport, 848);
		ck_assert_str_eq(rs.iface, "eth7");
	} else {
		ck_assert_uint_eq(rs.calls, 0);
	}
	char msg[256];
	mc_free();
	ck_assert_int_eq(gk_gcks_rekey(net.gcks, G1, msg, sizeof(msg)), GK_OK);
	ck_assert_uint_ge(mc.n, 1);
	for (size_t i = 0; i < mc.n; i++)
		ck_assert_uint_eq(mc.sport[i], 848); /* sent from the port the selector names */
	mc_free();
}
END_TEST

/* Multi-sender counter-mode TEKs rely on Sender-IDs, fresh at every registration (RFC 9838
 * 2.5.1): a sender registering again gets the same keys with new Sender-IDs, no rekey. */
START_TEST(multi_sender_reregistration_keeps_keys)
{
	gk_group_policy g;
	pol_init(&g, G1); /* AES-GCM with 32-bit Unspecified Numbers */
	pol_member(&g, "fqdn:s1.example", GK_MAUTH_PSK, GK_ROLE_SENDER);
	pol_put(&g);
	start_mc_gcks();
	uint32_t t1 = tek_spi_of("fqdn:s1.example", true);
	ck_assert_uint_eq(tek_spi_of("fqdn:s1.example", true), t1);
	ck_assert_uint_eq(stats().sender_rekeys, 0);
	ck_assert_uint_eq(mc.n, 0);
}
END_TEST

/* One test case per subject, each with the fixture and the time limit of the whole suite. */
static TCase *subject(Suite *su, const char *name)
{
	TCase *tc = tcase_create(name);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(su, tc);
	return tc;
}

int main(void)
{
	Suite *su = suite_create("registration");
	TCase *tc;
	size_t nkey_types = 0;
	while (gk_key_types[nkey_types])
		nkey_types++;
	/* membership, refusals by policy, groups and leaving */
	tc = subject(su, "registration");
	tcase_add_test(tc, two_receivers_one_sender);
	tcase_add_test(tc, group_commit_one_transaction);
	tcase_add_test(tc, group_commit_lost);
	tcase_add_test(tc, refuse_unknown_group);
	tcase_add_test(tc, refuse_identity_of_another_group);
	tcase_add_test(tc, refuse_receiver_as_sender);
	tcase_add_test(tc, refuse_sag_without_group_cipher);
	tcase_add_test(tc, unicast_selector_refused);
	tcase_add_test(tc, two_groups_one_sa_and_leave);
	tcase_add_test(tc, gsa_registration_refusals);
	tcase_add_test(tc, group_sender_length);
	tcase_add_test(tc, unacceptable_policy_reported);
	/* authentication: PSK, certificates, raw keys, the pinned GCKS, key types */
	tc = subject(su, "auth");
	tcase_add_test(tc, refuse_wrong_psk);
	tcase_add_test(tc, certificates_both_ways);
	tcase_add_test(tc, gcks_id_pinned);
	tcase_add_test(tc, member_certificate_as_gcks);
	tcase_add_test(tc, raw_public_keys);
	tcase_add_loop_test(tc, key_types_end_to_end, 0, (int)nkey_types);
	/* key wrap algorithm negotiation */
	tc = subject(su, "kwa");
	tcase_add_test(tc, no_kwa_refused_at_gsa_auth);
	tcase_add_test(tc, require_kwa_in_sa_init);
	tcase_add_test(tc, kwa_strongest_preferred);
	tcase_add_test(tc, kwa_strongest_within_offer);
	tcase_add_test(tc, kwa_weaker_than_group_warned);
	/* COOKIE and INVALID_KE_PAYLOAD round trips */
	tc = subject(su, "cookies");
	tcase_add_test(tc, cookie_always);
	tcase_add_test(tc, cookie_above_threshold);
	tcase_add_test(tc, invalid_ke_payload);
	tcase_add_test(tc, cookie_then_invalid_ke);
	/* loss, duplicates, corruption, reordering, outage and give-up; Message IDs */
	tc = subject(su, "retransmission");
	tcase_add_test(tc, rtx_lost_response);
	tcase_add_test(tc, rtx_duplicates);
	tcase_add_test(tc, rtx_corrupt_request);
	tcase_add_test(tc, rtx_corrupt_response);
	tcase_add_test(tc, rtx_truncated);
	tcase_add_test(tc, rtx_reordered);
	tcase_add_test(tc, rtx_outage);
	tcase_add_test(tc, rtx_give_up);
	tcase_add_test(tc, forged_datagram_does_not_move_sa);
	tcase_add_test(tc, message_id_window);
	/* idle IKE SAs, liveness checks, INITIAL_CONTACT, re-registration, NAT keepalives */
	tc = subject(su, "liveness");
	tcase_add_test(tc, idle_close_multicast_group);
	tcase_add_test(tc, idle_close_delete_retransmitted);
	tcase_add_test(tc, inband_group_keeps_sa);
	tcase_add_test(tc, initial_contact_replaces_earlier_sa);
	tcase_add_test(tc, reregistration_retried_with_backoff);
	tcase_add_test(tc, inband_liveness_after_gcks_restart);
	tcase_add_test(tc, inband_liveness_answered);
	tcase_add_test(tc, nat_keepalives_while_ike_sa_kept);
	tcase_add_loop_test(tc, nat_no_keepalives_without_nat_or_when_off, 0, 2);
	tcase_add_test(tc, gcks_ignores_keepalive);
	/* capacity, half-open and IKE SA bounds */
	tc = subject(su, "limits");
	tcase_add_test(tc, refuse_capacity);
	tcase_add_test(tc, half_open_expire);
	tcase_add_test(tc, half_open_bounded);
	tcase_add_test(tc, max_sas_bounded);
	/* inband rekeys, leaving and exclusion */
	tc = subject(su, "inband");
	tcase_add_test(tc, inband_rekey_unicast_selector_refused);
	tcase_add_test(tc, leave_stops_inband_rekey);
	tcase_add_test(tc, inband_rekey_refusal_excludes);
	tcase_add_test(tc, inband_sa_closed_excludes);
	tcase_add_test(tc, evict_unregistered_keeps_count);
	tcase_add_test(tc, inband_left_not_excluded);
	tcase_add_test(tc, inband_rekey_undecodable_invalid_syntax);
	/* multicast GSA_REKEY as the GCKS sends it: Message IDs, fragmentation, source selector */
	tc = subject(su, "rekey");
	tcase_add_test(tc, rekey_msgid_on_wire);
	tcase_add_loop_test(tc, rekey_fragmented_when_all_members_support, 0, 2);
	tcase_add_test(tc, rekey_whole_when_a_member_lacks_frag);
	tcase_add_test(tc, metrics_count_registrations_and_rekeys);
	tcase_add_test(tc, rekey_frag_disabled);
	tcase_add_loop_test(tc, rekey_source_selector_in_gsa, 0, 3);
	/* NAT detection and the move to port 4500 */
	tc = subject(su, "nat");
	tcase_add_test(tc, nat_member_behind_nat_moves_to_4500);
	tcase_add_test(tc, nat_gcks_behind_nat_moves_to_4500);
	tcase_add_test(tc, nat_none_stays);
	tcase_add_test(tc, nat_no_natd_without_address);
	tcase_add_test(tc, nat_gcks_requests_follow_to_4500);
	/* Sender-IDs and counter-mode keys of senders */
	tc = subject(su, "senders");
	tcase_add_test(tc, sender_id_too_wide_is_fatal);
	tcase_add_test(tc, sender_reregistration_gets_fresh_counter_key);
	tcase_add_test(tc, sender_reregistration_loop_bounded);
	tcase_add_test(tc, multi_sender_reregistration_keeps_keys);
	tcase_add_test(tc, established_sa_keeps_only_what_it_needs);
	tcase_add_test(tc, cached_response_forgotten);
	return tu_run(su);
}
