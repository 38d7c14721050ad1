/* Authentication and authorization against outsiders and rogue members, end to end in one
 * process (a GCKS core and members over fakenet.h, as in check_registration.c): every test
 * performs an attack, mostly with hand-made messages (raw_*), and asserts what the attacker
 * got back (the notify, the payloads), that no IKE SA and no registration is left, and what
 * the log said. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/pem.h>
#include "testutil.h"
#include "certgen.h"
#include "fakenet.h"
#include "rawike.h"
#include "regfix.h"
#include "gcks/storage.h"
#include "algs.h"
#include "auth.h"
#include "dh.h"
#include "ike_sa.h"
#include "log.h"
#include "message.h"
#include "proposal.h"

/* ---- fixture (regfix.h, rawike.h) ---- */

static void setup(void)
{
	rf_setup("check_authz", "gk-authz");
}

static void teardown(void)
{
	rf_teardown();
}

/* ---- hand-made GSA_AUTH and IKE_AUTH ---- */

/* What a hand-made authentication request carries. */
typedef struct raw_cred {
	const char *id;                  /* IDi, or */
	const char *fqdn_bytes;          /* IDi of type FQDN with these octets as they are */
	const char *psk;                 /* PSK MIC with this key, or */
	EVP_PKEY *key;                   /* a Digital Signature with this key, */
	X509 *cert;                      /* and this certificate in CERT (NULL: none) */
	const char *group;               /* IDg: GSA_AUTH; NULL: IKE_AUTH */
	bool initial_contact;
} raw_cred;

/* Sends the request on a fresh IKE SA (raw_sa_init first) and takes the decrypted response. */
static void raw_auth(raw_ike *r, const raw_cred *c, gk_msg *m)
{
	gk_ident mid = { 0 }, gid;
	if (c->fqdn_bytes) {
		mid.type = GK_ID_FQDN;
		mid.len = (uint8_t)strlen(c->fqdn_bytes);
		memcpy(mid.data, c->fqdn_bytes, mid.len);
	} else {
		mid = ident(c->id);
	}
	gk_pl_id idi = { .id_type = mid.type, .data = GK_CHUNK(mid.data, mid.len) }, idg;
	gk_wbuf body, octets, sig;
	uint8_t mic[64], *der = NULL;
	size_t miclen = sizeof(mic);
	gk_pl_auth auth;
	gk_pl_cert cert;
	gk_pl_notify ic = { .type = GK_N_INITIAL_CONTACT };
	gk_out_pl pl[5];
	size_t n = 0;
	gk_wbuf_init(&body, 1024);
	gk_wbuf_init(&octets, GK_MAX_MESSAGE * 2);
	gk_wbuf_init(&sig, 4096);
	ck_assert_int_eq(gk_codec_build(gk_payload_desc(GK_PL_IDi), &idi, &body), GK_OK);
	ck_assert_int_eq(gk_ike_sa_auth_octets(&r->ike, true, gk_wbuf_chunk(&body), &octets), GK_OK);
	if (c->psk) {
		ck_assert_int_eq(gk_auth_psk_compute(r->ike.suite.prf, GK_CHUNK(c->psk, strlen(c->psk)),
						     gk_wbuf_chunk(&octets), mic, &miclen), GK_OK);
		auth = (gk_pl_auth){ .method = GK_AUTH_SHARED_KEY_MIC, .data = GK_CHUNK(mic, miclen) };
	} else {
		gk_sig_scheme scheme;
		ck_assert_int_eq(gk_sig_scheme_for_key(c->key, &scheme), GK_OK);
		ck_assert_int_eq(gk_auth_sig_sign(c->key, scheme, gk_wbuf_chunk(&octets), &sig), GK_OK);
		auth = (gk_pl_auth){ .method = GK_AUTH_DIGITAL_SIGNATURE, .data = gk_wbuf_chunk(&sig) };
	}
	pl[n++] = (gk_out_pl){ GK_PL_IDi, false, &idi };
	if (c->cert) {
		int len = i2d_X509(c->cert, &der);
		ck_assert_int_gt(len, 0);
		cert = (gk_pl_cert){ .encoding = GK_CERT_X509_SIGNATURE, .data = GK_CHUNK(der, (size_t)len) };
		pl[n++] = (gk_out_pl){ GK_PL_CERT, false, &cert };
	}
	pl[n++] = (gk_out_pl){ GK_PL_AUTH, false, &auth };
	if (c->group) {
		gid = ident(c->group);
		idg = (gk_pl_id){ .id_type = gid.type, .data = GK_CHUNK(gid.data, gid.len) };
		pl[n++] = (gk_out_pl){ GK_PL_IDg, false, &idg };
	}
	if (c->initial_contact)
		pl[n++] = (gk_out_pl){ GK_PL_NOTIFY, false, &ic };
	raw_send(r, c->group ? GK_EXCH_GSA_AUTH : GK_EXCH_IKE_AUTH, r->ike.msgid_out, pl, n);
	ck_assert_msg(raw_recv(r, m, true), "no answer to the authentication request");
	ck_assert_uint_eq(m->hdr.msg_id, r->ike.msgid_out);
	r->ike.msgid_out++;
	OPENSSL_free(der);
	gk_wbuf_free(&body);
	gk_wbuf_free(&octets);
	gk_wbuf_free(&sig);
}

/* A fresh hand-made peer (raw endpoint) that runs IKE_SA_INIT and the authentication. */
static raw_ike *raw_peer(raw_ike *r, uint64_t seed, const raw_cred *c, gk_msg *m)
{
	raw_new(r, seed);
	raw_sa_init(r);
	raw_auth(r, c, m);
	return r;
}

/* The inner payloads of a response as text, e.g. "IDr AUTH N(INVALID_GROUP_ID)". */
static const char *shape(const gk_msg *m, char *buf, size_t len)
{
	size_t o = 0;
	buf[0] = 0;
	for (size_t i = 0; i < m->pl.n && o < len; i++) {
		const gk_payload *p = &m->pl.items[i];
		if (!p->encrypted)
			continue;
		if (p->type == GK_PL_NOTIFY)
			o += (size_t)snprintf(buf + o, len - o, "%sN(%s)", o ? " " : "",
					      gk_iana_str(GK_REG_NOTIFY, p->body->notify.type));
		else
			o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? " " : "", gk_iana_str(GK_REG_PAYLOAD, p->type));
	}
	return buf;
}

static void assert_shape(const gk_msg *m, const char *want)
{
	char got[256];
	ck_assert_str_eq(shape(m, got, sizeof(got)), want);
}

/* The GCKS's AUTH in a PSK response verifies with this PSK (it authenticated itself). */
static void assert_gcks_auth(const raw_ike *r, const gk_msg *m, const char *psk)
{
	const gk_payload *idr = gk_msg_find(m, GK_PL_IDr), *auth = gk_msg_find(m, GK_PL_AUTH);
	gk_wbuf body, octets;
	ck_assert(idr && auth);
	gk_wbuf_init(&body, 1024);
	gk_wbuf_init(&octets, GK_MAX_MESSAGE * 2);
	ck_assert_int_eq(gk_ike_sa_auth_octets((gk_ike_sa *)&r->ike, false, idr->raw, &octets), GK_OK);
	ck_assert_int_eq(gk_auth_psk_verify(r->ike.suite.prf, GK_CHUNK(psk, strlen(psk)), gk_wbuf_chunk(&octets),
					    auth->body->auth.data), GK_OK);
	gk_wbuf_free(&body);
	gk_wbuf_free(&octets);
}

/* Is the raw peer's IKE SA still there? An empty INFORMATIONAL on it is answered only if so. */
static bool raw_sa_alive(raw_ike *r)
{
	gk_msg m;
	raw_send(r, GK_EXCH_INFORMATIONAL, r->ike.msgid_out, NULL, 0);
	if (!raw_recv(r, &m, true))
		return false;
	ck_assert_uint_eq(m.hdr.msg_id, r->ike.msgid_out);
	r->ike.msgid_out++;
	gk_msg_free(&m);
	return true;
}

/* Length of the datagram the GCKS answered raw peer r's authentication request with. */
static size_t auth_response_len(const raw_ike *r, uint8_t exchange)
{
	const fn_trace *t = fn_trace_find(&net, FN_FROM_GCKS, r->ep->idx + FN_RAW_BASE, exchange, 1, 0);
	ck_assert_ptr_nonnull(t);
	return t->len;
}

/* ---- the log, as the tests see it ---- */

#define LOG_MAX 256
static char *log_lines[LOG_MAX];
static size_t nlog;

static void log_sink(void *ctx, gk_log_level level, const char *msg)
{
	(void)ctx;
	if (level <= GK_LOG_WARN && nlog < LOG_MAX)
		log_lines[nlog++] = strdup(msg);
}

static void log_capture(void)
{
	gk_log_init("check_authz", GK_LOG_WARN);
	gk_log_set_sink(log_sink, NULL);
}

static void log_release(void)
{
	gk_log_set_sink(NULL, NULL);
	for (size_t i = 0; i < nlog; i++)
		free(log_lines[i]);
	nlog = 0;
}

/* Captured warnings that contain `needle`. */
static size_t log_count(const char *needle)
{
	size_t n = 0;
	for (size_t i = 0; i < nlog; i++)
		n += strstr(log_lines[i], needle) != NULL;
	return n;
}

/* =========================================================================================
 * Outsiders: nothing about groups before authentication (RFC 9838 2.3.1, RFC 7296 2.21.2)
 * ========================================================================================= */

/* Wrong or no credentials, for groups that exist (with the identity listed there or not) and
 * for groups that do not: every answer is the same AUTHENTICATION_FAILED alone, of the same
 * length, and the GCKS keeps nothing. */
START_TEST(unauthenticated_probe_learns_nothing)
{
	standard_policies(0);
	start_gcks();
	static const raw_cred probes[] = {
		{ .id = "fqdn:r1.example", .psk = "not the key of r1", .group = G1 },
		{ .id = "fqdn:r1.example", .psk = "not the key of r1", .group = "keyid:no-such-group" },
		{ .id = "fqdn:r1.example", .psk = "not the key of r1", .group = G2 },
		{ .id = "fqdn:other.example", .psk = "not the key of other", .group = G1 },
		{ .id = "fqdn:stranger.example", .psk = "fqdn:stranger.example", .group = G1 },
		{ .id = "fqdn:stranger.example", .psk = "fqdn:stranger.example", .group = "keyid:no-such-group" },
	};
	size_t n = sizeof(probes) / sizeof(probes[0]), len0 = 0;
	for (size_t i = 0; i < n; i++) {
		raw_ike r;
		gk_msg m;
		raw_peer(&r, 50 + i, &probes[i], &m);
		assert_shape(&m, "N(AUTHENTICATION_FAILED)");
		size_t len = auth_response_len(&r, GK_EXCH_GSA_AUTH);
		if (i == 0)
			len0 = len;
		ck_assert_msg(len == len0, "probe %zu: %zu octets, probe 0: %zu", i, len, len0);
		gk_msg_free(&m);
		/* the SA is gone: nothing more is answered on it */
		ck_assert(!raw_sa_alive(&r));
		raw_free(&r);
	}
	gk_gcks_stats st = stats();
	ck_assert_uint_eq(st.half_open, 0);
	ck_assert_uint_eq(st.established, 0);
	ck_assert_uint_eq(st.registrations, 0);
	ck_assert_uint_eq(st.refusals, n);
	ck_assert_uint_eq(reg_count(G1), 0);
	ck_assert_uint_eq(reg_count(G2), 0);
}
END_TEST

/* Once authenticated, a member learns why it is refused, after the GCKS's IDr and AUTH: the
 * shape of RFC 9838 2.3.1, with no GSA and no KD. */
START_TEST(refusals_after_authentication)
{
	standard_policies(0);
	start_gcks();
	raw_ike a, b;
	gk_msg m;
	raw_cred c = { .id = "fqdn:r1.example", .psk = "fqdn:r1.example", .group = "keyid:no-such-group" };
	raw_peer(&a, 60, &c, &m);
	assert_shape(&m, "IDr AUTH N(INVALID_GROUP_ID)");
	assert_gcks_auth(&a, &m, c.psk);
	gk_msg_free(&m);
	c = (raw_cred){ .id = "fqdn:other.example", .psk = "fqdn:other.example", .group = G1 };
	raw_peer(&b, 61, &c, &m);
	assert_shape(&m, "IDr AUTH N(AUTHORIZATION_FAILED)");
	assert_gcks_auth(&b, &m, c.psk);
	gk_msg_free(&m);
	/* authenticated IKE SAs, nothing registered */
	gk_gcks_stats st = stats();
	ck_assert_uint_eq(st.established, 2);
	ck_assert_uint_eq(st.registrations, 0);
	ck_assert_uint_eq(reg_count(G1), 0);
	ck_assert_uint_eq(reg_count(G2), 0);
	ck_assert(raw_sa_alive(&a));
	raw_free(&a);
	raw_free(&b);
}
END_TEST

/* =========================================================================================
 * The credential the policy lists, and no other
 * ========================================================================================= */

/* A certificate from the GCKS's own CA does not stand in for a PSK or a raw public key the
 * policy lists, a PSK not for a certificate; an identity listed nowhere gets no IKE SA, also
 * through plain IKE_AUTH. */
START_TEST(listed_credential_only)
{
	make_pki();
	set_identity(gcks_cert, ca_cert);
	EVP_PKEY *kkey = cg_key_ed25519();
	ck_assert_ptr_nonnull(kkey);
	gk_group_policy g;
	pol_init(&g, G1);
	pol_member(&g, "fqdn:r1.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_member(&g, "fqdn:m1.example", GK_MAUTH_CERT, GK_ROLE_RECEIVER);
	gk_member_policy *k1 = pol_member(&g, "fqdn:k1.example", GK_MAUTH_PUBKEY, GK_ROLE_RECEIVER);
	gk_wbuf w;
	gk_wbuf_init(&w, 4096);
	ck_assert_int_eq(gk_pubkey_to_spki(kkey, &w), GK_OK);
	k1->pubkey = malloc(w.len);
	ck_assert_ptr_nonnull(k1->pubkey);
	memcpy(k1->pubkey, w.data, w.len);
	k1->pubkey_len = w.len;
	gk_wbuf_free(&w);
	pol_put(&g);
	start_gcks();

	EVP_PKEY *k;
	X509 *x;
	/* attacks: a CA certificate for a PSK member and for a raw-key member, a PSK for a
	 * certificate member, a CA certificate for an identity listed nowhere */
	member_cert("DNS:r1.example", false, &k, &x);
	gk_gm_config c = gm_cert("fqdn:r1.example", G1, k, x, ca_store);
	fn_member *cert_for_psk = join(&c);
	member_cert("DNS:k1.example", false, &k, &x);
	c = gm_cert("fqdn:k1.example", G1, k, x, ca_store);
	fn_member *cert_for_key = join(&c);
	c = gm_psk("fqdn:m1.example", G1);
	fn_member *psk_for_cert = join(&c);
	member_cert("DNS:nobody.example", false, &k, &x);
	c = gm_cert("fqdn:nobody.example", G1, k, x, ca_store);
	fn_member *unlisted = join(&c);
	run_all();
	failed(cert_for_psk, GK_N_AUTHENTICATION_FAILED);
	failed(cert_for_key, GK_N_AUTHENTICATION_FAILED);
	failed(psk_for_cert, GK_N_AUTHENTICATION_FAILED);
	failed(unlisted, GK_N_AUTHENTICATION_FAILED);
	ck_assert_uint_eq(stats().established, 0);
	ck_assert_uint_eq(reg_count(G1), 0);

	/* plain IKE_AUTH (childless): the same */
	raw_ike r;
	gk_msg m;
	raw_cred rc = { .id = "fqdn:nobody.example", .key = k, .cert = x };
	raw_peer(&r, 70, &rc, &m);
	assert_shape(&m, "N(AUTHENTICATION_FAILED)");
	gk_msg_free(&m);
	raw_free(&r);
	member_cert("DNS:r1.example", false, &k, &x);
	rc = (raw_cred){ .id = "fqdn:r1.example", .key = k, .cert = x };
	raw_peer(&r, 71, &rc, &m);
	assert_shape(&m, "N(AUTHENTICATION_FAILED)");
	gk_msg_free(&m);
	raw_free(&r);
	rc = (raw_cred){ .id = "fqdn:nobody.example", .psk = "fqdn:nobody.example" };
	raw_peer(&r, 72, &rc, &m);
	assert_shape(&m, "N(AUTHENTICATION_FAILED)");
	gk_msg_free(&m);
	raw_free(&r);
	ck_assert_uint_eq(stats().established, 0);
	ck_assert_uint_eq(stats().half_open, 0);

	/* each with the credential it is listed with: all in, IKE_AUTH included */
	rc = (raw_cred){ .id = "fqdn:r1.example", .psk = "fqdn:r1.example" };
	raw_peer(&r, 73, &rc, &m);
	assert_shape(&m, "IDr AUTH");
	gk_msg_free(&m);
	raw_free(&r);
	member_cert("DNS:m1.example", false, &k, &x);
	c = gm_cert("fqdn:m1.example", G1, k, x, ca_store);
	fn_member *m1 = join(&c);
	c = gm_cert("fqdn:k1.example", G1, kkey, NULL, NULL);
	EVP_PKEY *gcks_pub = NULL;
	gk_wbuf_init(&w, 4096);
	ck_assert_int_eq(gk_pubkey_to_spki(gcks_key, &w), GK_OK);
	ck_assert_int_eq(gk_pubkey_from_spki(gk_wbuf_chunk(&w), &gcks_pub), GK_OK);
	gk_wbuf_free(&w);
	c.gcks_pubkey = gcks_pub;
	fn_member *kmember = join(&c);
	c = gm_psk("fqdn:r1.example", G1);
	fn_member *r1 = join(&c);
	run_all();
	registered(m1, 0);
	registered(kmember, 0);
	registered(r1, 0);
	ck_assert_uint_eq(reg_count(G1), 3);
	ck_assert_uint_eq(stats().established, 4);
	fn_free(&net); /* the members hold the keys until here */
	EVP_PKEY_free(kkey);
	EVP_PKEY_free(gcks_pub);
}
END_TEST

/* The member registered to its first group and was refused the second for authorization. */
static void registered_refused(const fn_member *m)
{
	char d[1024];
	describe(m, d, sizeof(d));
	ck_assert_msg(m->nev == 3, "%s", d);
	ck_assert_msg(m->ev[0].type == GK_GM_REGISTERED && m->ev[0].group == 0, "%s", d);
	ck_assert_msg(m->ev[1].type == GK_GM_REFUSED && m->ev[1].group == 1 &&
		      m->ev[1].notify == GK_N_AUTHORIZATION_FAILED, "%s", d);
	ck_assert_msg(m->ev[2].type == GK_GM_DONE, "%s", d);
}

#define PSK_A "the key group one gave to x"
#define PSK_B "the key group two gave to x"
#define G3 "keyid:grp-3"

static void member_with_psk(gk_group_policy *g, const char *id, const char *psk)
{
	gk_member_policy *mp = pol_member(g, id, GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	free(mp->psk);
	mp->psk_len = strlen(psk);
	mp->psk = malloc(mp->psk_len);
	ck_assert_ptr_nonnull(mp->psk);
	memcpy(mp->psk, psk, mp->psk_len);
}

/* x is listed in G1 with PSK_A, in G2 with PSK_B, in G3 with PSK_A again: logged in with
 * PSK_A it joins G1 and G3, never G2 (neither by GSA_REGISTRATION nor by asking in GSA_AUTH). */
/* A member's valid certificate of the CA, presented with a signature by another key (one who
 * copied the certificate, not its key): refused, and the certificate with its own key is taken. */
START_TEST(certificate_with_another_key)
{
	make_pki();
	set_identity(gcks_cert, ca_cert);
	gk_group_policy g;
	pol_init(&g, G1);
	pol_member(&g, "fqdn:m1.example", GK_MAUTH_CERT, GK_ROLE_RECEIVER);
	pol_put(&g);
	start_gcks();
	EVP_PKEY *k, *thief = cg_key_ed25519();
	X509 *x;
	ck_assert_ptr_nonnull(thief);
	member_cert("DNS:m1.example", false, &k, &x);
	gk_gm_config c = gm_cert("fqdn:m1.example", G1, thief, x, ca_store);
	fn_member *copied = join(&c);
	run_member(copied);
	failed(copied, GK_N_AUTHENTICATION_FAILED);
	ck_assert_uint_eq(stats().established, 0);
	ck_assert_uint_eq(reg_count(G1), 0);
	c = gm_cert("fqdn:m1.example", G1, k, x, ca_store);
	fn_member *owner = join(&c);
	run_member(owner);
	registered(owner, 0);
	ck_assert_uint_eq(reg_count(G1), 1);
	fn_free(&net); /* the members hold the keys until here */
	EVP_PKEY_free(thief);
}
END_TEST

/* a and b are listed with one PSK (gcksd holds it once, gk_member_policy_share_psk), c with
 * another: each authenticates with its own key, neither with the other's. */
START_TEST(shared_psk_authenticates_each)
{
	gk_group_policy g;
	pol_init(&g, G1);
	member_with_psk(&g, "fqdn:a.example", PSK_A);
	member_with_psk(&g, "fqdn:b.example", PSK_A);
	member_with_psk(&g, "fqdn:c.example", PSK_B);
	pol_put(&g);
	start_gcks();
	const char *ids[] = { "fqdn:a.example", "fqdn:b.example", "fqdn:c.example", "fqdn:b.example",
			      "fqdn:c.example" };
	const char *psks[] = { PSK_A, PSK_A, PSK_B, PSK_B, PSK_A };
	for (int i = 0; i < 5; i++) {
		gk_gm_config c = gm_psk(ids[i], G1);
		c.psk = (const uint8_t *)psks[i];
		c.psk_len = strlen(psks[i]);
		fn_member *m = join(&c);
		run_member(m);
		if (i < 3)
			registered(m, 0);
		else
			failed(m, GK_N_AUTHENTICATION_FAILED);
	}
	ck_assert_uint_eq(reg_count(G1), 3);
}
END_TEST

/* The key pad gcksd keeps beside a PSK that several members share (RFC 7296 2.15, policy.h) is
 * the one of the PRF each IKE SA negotiated: members alternating HMAC-SHA2-256 and -512 under
 * the shared PSK each authenticate, and the GCKS's own AUTH verifies under the PSK; a wrong PSK
 * after the pad is kept still fails, under either PRF. */
START_TEST(shared_psk_key_pad_per_prf)
{
	gk_group_policy g;
	pol_init(&g, G1);
	member_with_psk(&g, "fqdn:a.example", PSK_A);
	member_with_psk(&g, "fqdn:b.example", PSK_A);
	pol_put(&g);
	start_gcks();
	static const struct { const char *id, *psk; uint16_t prf; bool ok; } tries[] = {
		{ "fqdn:a.example", PSK_A, GK_PRF_HMAC_SHA2_256, true },
		{ "fqdn:b.example", PSK_A, GK_PRF_HMAC_SHA2_256, true },
		{ "fqdn:b.example", PSK_A, GK_PRF_HMAC_SHA2_512, true },
		{ "fqdn:a.example", PSK_A, GK_PRF_HMAC_SHA2_256, true },
		{ "fqdn:a.example", PSK_B, GK_PRF_HMAC_SHA2_256, false },
		{ "fqdn:b.example", PSK_B, GK_PRF_HMAC_SHA2_512, false },
		{ "fqdn:b.example", PSK_A, GK_PRF_HMAC_SHA2_512, true },
	};
	for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
		raw_ike r;
		gk_msg m;
		raw_new(&r, 90 + i);
		r.offer.prf[0] = tries[i].prf;
		r.offer.nprf = 1;
		raw_sa_init(&r);
		ck_assert_uint_eq(r.ike.suite.prf, tries[i].prf);
		raw_cred rc = { .id = tries[i].id, .psk = tries[i].psk };
		raw_auth(&r, &rc, &m);
		assert_shape(&m, tries[i].ok ? "IDr AUTH" : "N(AUTHENTICATION_FAILED)");
		if (tries[i].ok)
			assert_gcks_auth(&r, &m, PSK_A);
		gk_msg_free(&m);
		raw_free(&r);
	}
	ck_assert_uint_eq(stats().established, 5);
}
END_TEST

START_TEST(credential_authorizes_only_its_groups)
{
	gk_group_policy g;
	const char *names[] = { G1, G2, G3 }, *psks[] = { PSK_A, PSK_B, PSK_A };
	for (int i = 0; i < 3; i++) {
		pol_init(&g, names[i]);
		g.teks[0].dst.start[3] = g.teks[0].dst.end[3] = (uint8_t)(i + 1);
		member_with_psk(&g, "fqdn:x.example", psks[i]);
		pol_put(&g);
	}
	start_gcks();
	gk_gm_config c = gm_psk("fqdn:x.example", G1);
	c.psk = (const uint8_t *)PSK_A;
	c.psk_len = strlen(PSK_A);
	c.groups[1] = ident(G2);
	c.groups[2] = ident(G3);
	c.ngroups = 3;
	fn_member *m = join(&c);
	run_member(m);
	char d[1024];
	describe(m, d, sizeof(d));
	ck_assert_msg(m->nev == 4, "%s", d);
	ck_assert(m->ev[0].type == GK_GM_REGISTERED && m->ev[0].group == 0);
	ck_assert(m->ev[1].type == GK_GM_REFUSED && m->ev[1].group == 1 && m->ev[1].notify == GK_N_AUTHORIZATION_FAILED);
	ck_assert(m->ev[2].type == GK_GM_REGISTERED && m->ev[2].group == 2);
	ck_assert(m->ev[3].type == GK_GM_DONE);
	ck_assert_uint_eq(reg_count(G2), 0);
	/* no key material in the refusal: its GSA_REGISTRATION response is the bare notify */
	ck_assert_uint_eq(fn_trace_count(&net, FN_FROM_GCKS, m->idx, GK_EXCH_GSA_REGISTRATION, 1), 2);

	/* asking for G2 in GSA_AUTH with PSK_A: authenticated (G1 lists it), not authorized */
	raw_ike r;
	gk_msg msg;
	raw_cred rc = { .id = "fqdn:x.example", .psk = PSK_A, .group = G2 };
	raw_peer(&r, 80, &rc, &msg);
	assert_shape(&msg, "IDr AUTH N(AUTHORIZATION_FAILED)");
	assert_gcks_auth(&r, &msg, PSK_A);
	gk_msg_free(&msg);
	raw_free(&r);
	/* PSK_B opens G2 and only G2 */
	c.psk = (const uint8_t *)PSK_B;
	c.psk_len = strlen(PSK_B);
	c.groups[0] = ident(G2);
	c.groups[1] = ident(G1);
	c.ngroups = 2;
	fn_member *mb = join(&c);
	run_member(mb);
	registered_refused(mb);
	ck_assert_uint_eq(reg_count(G1), 1);
	ck_assert_uint_eq(reg_count(G2), 1);
	ck_assert_uint_eq(reg_count(G3), 1);
}
END_TEST

/* z holds a certificate for G1 and a PSK for G2: the certificate does not open G2. */
START_TEST(certificate_does_not_open_psk_group)
{
	make_pki();
	set_identity(gcks_cert, ca_cert);
	gk_group_policy g;
	pol_init(&g, G1);
	pol_member(&g, "fqdn:z.example", GK_MAUTH_CERT, GK_ROLE_RECEIVER);
	pol_put(&g);
	pol_init(&g, G2);
	g.teks[0].dst.start[3] = g.teks[0].dst.end[3] = 2;
	pol_member(&g, "fqdn:z.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_put(&g);
	start_gcks();
	EVP_PKEY *k;
	X509 *x;
	member_cert("DNS:z.example", false, &k, &x);
	gk_gm_config c = gm_cert("fqdn:z.example", G1, k, x, ca_store);
	c.groups[1] = ident(G2);
	c.ngroups = 2;
	fn_member *m = join(&c);
	run_member(m);
	registered_refused(m);
	ck_assert_uint_eq(reg_count(G1), 1);
	ck_assert_uint_eq(reg_count(G2), 0);
}
END_TEST

static void member_with_key(gk_group_policy *g, const char *id, EVP_PKEY *key)
{
	gk_member_policy *mp = pol_member(g, id, GK_MAUTH_PUBKEY, GK_ROLE_RECEIVER);
	gk_wbuf w;
	gk_wbuf_init(&w, 4096);
	ck_assert_int_eq(gk_pubkey_to_spki(key, &w), GK_OK);
	mp->pubkey = malloc(w.len);
	ck_assert_ptr_nonnull(mp->pubkey);
	memcpy(mp->pubkey, w.data, w.len);
	mp->pubkey_len = w.len;
	gk_wbuf_free(&w);
}

/* y has raw key K1 in G1 and K2 in G2: signed with K1, it joins G1 and not G2. */
START_TEST(raw_key_does_not_open_other_group)
{
	EVP_PKEY *k1 = cg_key_ed25519(), *k2 = cg_key_ed25519(), *gcks_pub = NULL;
	ck_assert(k1 && k2);
	gk_group_policy g;
	pol_init(&g, G1);
	member_with_key(&g, "fqdn:y.example", k1);
	pol_put(&g);
	pol_init(&g, G2);
	g.teks[0].dst.start[3] = g.teks[0].dst.end[3] = 2;
	member_with_key(&g, "fqdn:y.example", k2);
	pol_put(&g);
	start_gcks();
	gk_wbuf w;
	gk_wbuf_init(&w, 4096);
	ck_assert_int_eq(gk_pubkey_to_spki(gcks_key, &w), GK_OK);
	ck_assert_int_eq(gk_pubkey_from_spki(gk_wbuf_chunk(&w), &gcks_pub), GK_OK);
	gk_wbuf_free(&w);
	gk_gm_config c = gm_cert("fqdn:y.example", G1, k1, NULL, NULL);
	c.gcks_pubkey = gcks_pub;
	c.groups[1] = ident(G2);
	c.ngroups = 2;
	fn_member *m = join(&c);
	run_member(m);
	registered_refused(m);
	ck_assert_uint_eq(reg_count(G1), 1);
	ck_assert_uint_eq(reg_count(G2), 0);
	fn_free(&net); /* the member holds the keys until here */
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
	EVP_PKEY_free(gcks_pub);
}
END_TEST

/* =========================================================================================
 * The log: escaped, and bounded
 * ========================================================================================= */

/* An identity with a newline and a terminal escape: the refusal's log line shows them as
 * \xNN, and no captured line holds a control character. */
START_TEST(wire_identity_escaped_in_log)
{
	standard_policies(0);
	start_gcks();
	log_capture();
	raw_ike r;
	gk_msg m;
	raw_cred c = { .fqdn_bytes = "evil\n2026-01-01T00:00:00.000Z gcksd info: fake\x1b[2J", .psk = "guess", .group = G1 };
	raw_peer(&r, 90, &c, &m);
	assert_shape(&m, "N(AUTHENTICATION_FAILED)");
	gk_msg_free(&m);
	raw_free(&r);
	gk_log(GK_LOG_WARN, "direct: %s", "a\nb\x1b[31m\\c\xc2\x9b");
	ck_assert_uint_eq(log_count("refused 127.0.1.10:20000: GSA_AUTH: authentication of "
				    "fqdn:evil\\x0a2026-01-01T00:00:00.000Z\\x20gcksd\\x20info:\\x20fake\\x1b[2J failed"), 1);
	ck_assert_uint_eq(log_count("direct: a\\x0ab\\x1b[31m\\c\\xc2\\x9b"), 1);
	for (size_t i = 0; i < nlog; i++)
		for (const unsigned char *p = (const unsigned char *)log_lines[i]; *p; p++)
			ck_assert_msg(*p >= 0x20 && *p < 0x7f, "line %zu: octet %02x", i, *p);
	log_release();
	/* the identity's text form, also where it is not logged */
	gk_ident id = { .type = GK_ID_FQDN, .len = 4 };
	memcpy(id.data, "a\nb\x1b", 4);
	char t[GK_IDENT_TEXT_MAX];
	ck_assert_str_eq(gk_ident_text(&id, t), "fqdn:a\\x0ab\\x1b");
	/* a name holding the text of an escape reads differently from the escaped octet */
	id.len = 7;
	memcpy(id.data, "a\\x0ab\n", 7);
	ck_assert_str_eq(gk_ident_text(&id, t), "fqdn:a\\x5cx0ab\\x0a");
	/* the longest name of escapes stops at a whole escape inside the text buffer */
	id.len = GK_IDENT_MAX;
	memset(id.data, '\n', GK_IDENT_MAX);
	ck_assert_uint_eq(strlen(gk_ident_text(&id, t)), 5 + 148 * 4);
	ck_assert_str_eq(t + 5 + 147 * 4, "\\x0a");
	id.type = GK_ID_KEY_ID;
	memset(id.data, 0x01, GK_IDENT_MAX);
	ck_assert_uint_eq(strlen(gk_ident_text(&id, t)), 8 + 2 * GK_IDENT_MAX);
	ck_assert_str_eq(t + 8 + 2 * 254, "01");
	id.type = GK_ID_FQDN;
	char why[GK_ERR_MAX] = "";
	ck_assert_int_eq(gk_ident_parse("fqdn:a\\b", &id, why, sizeof(why)), GK_E_INVAL);
	ck_assert_str_eq(why, "identity contains spaces, control characters or a backslash");
	ck_assert_int_eq(gk_ident_parse("keyid:a\\b", &id, why, sizeof(why)), GK_OK);
	ck_assert_str_eq(gk_ident_text(&id, t), "keyid:0x615c62");
}
END_TEST

/* A member that sends refused requests without end: each refusal is counted, but the log gets
 * 20 lines at once and one a second after (token bucket), then says how many it left out. */
START_TEST(refusal_log_rate_limited)
{
	standard_policies(0);
	start_gcks();
	raw_ike r;
	gk_msg m;
	raw_cred c = { .id = "fqdn:r1.example", .psk = "fqdn:r1.example", .group = G1 };
	raw_peer(&r, 91, &c, &m);
	ck_assert_ptr_nonnull(gk_msg_find(&m, GK_PL_KD));
	gk_msg_free(&m);
	log_capture();
	gk_ident gid = ident("keyid:no-such-group");
	gk_pl_id idg = { .id_type = gid.type, .data = GK_CHUNK(gid.data, gid.len) };
	gk_out_pl pl[] = { { GK_PL_IDg, false, &idg } };
	for (int i = 0; i < 110; i++) {
		if (i == 100)
			fn_advance(&net, 5000);
		raw_send(&r, GK_EXCH_GSA_REGISTRATION, r.ike.msgid_out, pl, 1);
		ck_assert(raw_recv(&r, &m, true));
		r.ike.msgid_out++;
		assert_shape(&m, "N(INVALID_GROUP_ID)");
		gk_msg_free(&m);
	}
	ck_assert_uint_eq(stats().refusals, 110);
	/* 20 at once; 5 s later 5 more, the first saying how many were left out */
	ck_assert_uint_eq(log_count("refused 127.0.1.10:20000: registration of fqdn:r1.example to keyid:no-such-group "
				    "(INVALID_GROUP_ID): no such group"), 25);
	ck_assert_uint_eq(log_count("(80 more refusals not logged)"), 1);
	ck_assert_ptr_nonnull(strstr(log_lines[20], "(80 more refusals not logged)"));
	ck_assert_uint_eq(nlog, 25);
	log_release();
	raw_free(&r);
}
END_TEST

/* IKE_SA_INIT refusals are refusals too: NO_PROPOSAL_CHOSEN is logged once with the peer's
 * address; a COOKIE or INVALID_KE_PAYLOAD answer is negotiation, not logged at warning. */
START_TEST(init_refusal_logged)
{
	standard_policies(0);
	start_gcks();
	log_capture();
	raw_ike r;
	gk_wbuf req;
	uint8_t ni[32];
	gk_msg m;
	raw_new(&r, 93);
	r.offer.encr[0] = (gk_encr_choice){ GK_ENCR_AES_GCM_16, 192 }; /* not accepted */
	r.offer.nencr = 1;
	gk_wbuf_init(&req, GK_MAX_MESSAGE);
	raw_init_request(&r, &req, ni);
	ck_assert(raw_recv(&r, &m, false));
	ck_assert_uint_eq(m.pl.n, 1);
	ck_assert_ptr_nonnull(gk_msg_find_notify(&m, GK_N_NO_PROPOSAL_CHOSEN));
	gk_msg_free(&m);
	ck_assert_uint_eq(log_count("refused 127.0.1.10:20000: IKE_SA_INIT: NO_PROPOSAL_CHOSEN"), 1);
	ck_assert_uint_eq(nlog, 1);
	ck_assert_uint_eq(stats().refusals, 1);
	/* a COOKIE challenge is no refusal */
	gk_gcks_free(net.gcks);
	gcfg.cookie_threshold = 0;
	gcfg.cookie_rate = 0;
	start_gcks();
	gk_dh_free(r.ike.dh);
	r.ike.dh = NULL;
	gk_ike_offer_default(&r.offer);
	gk_wbuf_free(&req);
	gk_wbuf_init(&req, GK_MAX_MESSAGE);
	raw_init_request(&r, &req, ni);
	ck_assert(raw_recv(&r, &m, false));
	ck_assert_ptr_nonnull(gk_msg_find_notify(&m, GK_N_COOKIE));
	gk_msg_free(&m);
	ck_assert_uint_eq(nlog, 1);
	gk_wbuf_free(&req);
	log_release();
	raw_free(&r);
}
END_TEST

/* Requests that break the payload rules (here GSA_REGISTRATION without IDg), over and over on
 * one SA: each answered INVALID_SYNTAX, 20 of them logged. */
START_TEST(syntax_refusal_log_rate_limited)
{
	standard_policies(0);
	start_gcks();
	raw_ike r;
	gk_msg m;
	raw_cred c = { .id = "fqdn:r1.example", .psk = "fqdn:r1.example", .group = G1 };
	raw_peer(&r, 92, &c, &m);
	gk_msg_free(&m);
	log_capture();
	for (int i = 0; i < 50; i++) {
		raw_send(&r, GK_EXCH_GSA_REGISTRATION, r.ike.msgid_out, NULL, 0);
		ck_assert(raw_recv(&r, &m, true));
		r.ike.msgid_out++;
		assert_shape(&m, "N(INVALID_SYNTAX)");
		gk_msg_free(&m);
	}
	ck_assert_uint_eq(log_count("refused 127.0.1.10:20000: GSA_REGISTRATION request breaks its payload rules"), 20);
	ck_assert_uint_eq(nlog, 20);
	ck_assert_uint_eq(stats().refusals, 50);
	log_release();
	raw_free(&r);
}
END_TEST

/* =========================================================================================
 * Per-identity limits
 * ========================================================================================= */

/* A member that opens IKE SA after IKE SA keeps max_sas_per_identity: each new one replaces
 * its oldest; other identities' SAs stay. */
START_TEST(identity_sa_cap)
{
	gk_gcks_config def;
	gk_gcks_config_default(&def);
	ck_assert_uint_eq(def.max_sas_per_identity, 8);
	standard_policies(0);
	gcfg.max_sas_per_identity = 3;
	start_gcks();
	raw_ike r[6];
	gk_msg m;
	raw_cred c = { .id = "fqdn:r2.example", .psk = "fqdn:r2.example", .group = G1 };
	raw_peer(&r[5], 100, &c, &m);
	gk_msg_free(&m);
	c = (raw_cred){ .id = "fqdn:r1.example", .psk = "fqdn:r1.example", .group = G1 };
	for (int i = 0; i < 5; i++) {
		fn_advance(&net, 100);
		raw_peer(&r[i], 101 + (uint64_t)i, &c, &m);
		ck_assert_ptr_nonnull(gk_msg_find(&m, GK_PL_KD));
		gk_msg_free(&m);
		ck_assert_uint_eq(stats().established, 1 + (i < 3 ? i + 1 : 3));
	}
	ck_assert(!raw_sa_alive(&r[0]));
	ck_assert(!raw_sa_alive(&r[1]));
	for (int i = 2; i < 6; i++)
		ck_assert_msg(raw_sa_alive(&r[i]), "SA %d", i);
	ck_assert_uint_eq(stats().established, 4);
	for (int i = 0; i < 6; i++)
		raw_free(&r[i]);
}
END_TEST

/* INITIAL_CONTACT (RFC 7296 2.4) deletes the identity's earlier SAs, and only after
 * authentication: an outsider naming the identity deletes nothing. */
START_TEST(initial_contact_replaces)
{
	standard_policies(0);
	start_gcks();
	raw_ike r[6];
	gk_msg m;
	raw_cred c = { .id = "fqdn:r2.example", .psk = "fqdn:r2.example", .group = G1 };
	raw_peer(&r[5], 110, &c, &m);
	gk_msg_free(&m);
	c = (raw_cred){ .id = "fqdn:r1.example", .psk = "fqdn:r1.example", .group = G1 };
	for (int i = 0; i < 3; i++) {
		raw_peer(&r[i], 111 + (uint64_t)i, &c, &m);
		gk_msg_free(&m);
	}
	ck_assert_uint_eq(stats().established, 4);
	/* an outsider's INITIAL_CONTACT for r1 */
	raw_cred bad = c;
	bad.psk = "not the key";
	bad.initial_contact = true;
	raw_peer(&r[3], 114, &bad, &m);
	assert_shape(&m, "N(AUTHENTICATION_FAILED)");
	gk_msg_free(&m);
	ck_assert_uint_eq(stats().established, 4);
	/* r1 itself, restarted */
	c.initial_contact = true;
	raw_peer(&r[4], 115, &c, &m);
	ck_assert_ptr_nonnull(gk_msg_find(&m, GK_PL_KD));
	gk_msg_free(&m);
	ck_assert_uint_eq(stats().established, 2);
	for (int i = 0; i < 3; i++)
		ck_assert_msg(!raw_sa_alive(&r[i]), "SA %d", i);
	ck_assert(raw_sa_alive(&r[4]));
	ck_assert(raw_sa_alive(&r[5]));
	for (int i = 0; i < 6; i++)
		raw_free(&r[i]);
}
END_TEST

/* One identity, two credentials (PSK_A for G1, PSK_B for G2): the holder of PSK_A cannot close
 * the IKE SAs PSK_B authenticated, neither with INITIAL_CONTACT nor by logging in beyond the
 * per-identity cap: the limit and the replacement count per credential. */
START_TEST(identity_limit_per_credential)
{
	gk_group_policy g;
	const char *names[] = { G1, G2 }, *psks[] = { PSK_A, PSK_B };
	for (int i = 0; i < 2; i++) {
		pol_init(&g, names[i]);
		g.teks[0].dst.start[3] = g.teks[0].dst.end[3] = (uint8_t)(i + 1);
		member_with_psk(&g, "fqdn:x.example", psks[i]);
		pol_put(&g);
	}
	gcfg.max_sas_per_identity = 2;
	start_gcks();
	raw_ike b, a[4];
	gk_msg m;
	raw_cred cb = { .id = "fqdn:x.example", .psk = PSK_B, .group = G2 };
	raw_peer(&b, 120, &cb, &m);
	ck_assert_ptr_nonnull(gk_msg_find(&m, GK_PL_KD));
	gk_msg_free(&m);
	raw_cred ca = { .id = "fqdn:x.example", .psk = PSK_A, .group = G1, .initial_contact = true };
	for (int i = 0; i < 4; i++) {
		raw_peer(&a[i], 121 + (uint64_t)i, &ca, &m);
		ck_assert_ptr_nonnull(gk_msg_find(&m, GK_PL_KD));
		gk_msg_free(&m);
		ca.initial_contact = false;
	}
	ck_assert(raw_sa_alive(&b));
	ck_assert(!raw_sa_alive(&a[0]) && !raw_sa_alive(&a[1]));
	ck_assert(raw_sa_alive(&a[2]) && raw_sa_alive(&a[3]));
	ck_assert_uint_eq(stats().established, 3);
	raw_free(&b);
	for (int i = 0; i < 4; i++)
		raw_free(&a[i]);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("authz");
	TCase *tc = tcase_create("authz");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, unauthenticated_probe_learns_nothing);
	tcase_add_test(tc, refusals_after_authentication);
	tcase_add_test(tc, listed_credential_only);
	tcase_add_test(tc, certificate_with_another_key);
	tcase_add_test(tc, credential_authorizes_only_its_groups);
	tcase_add_test(tc, shared_psk_authenticates_each);
	tcase_add_test(tc, shared_psk_key_pad_per_prf);
	tcase_add_test(tc, certificate_does_not_open_psk_group);
	tcase_add_test(tc, raw_key_does_not_open_other_group);
	tcase_add_test(tc, wire_identity_escaped_in_log);
	tcase_add_test(tc, refusal_log_rate_limited);
	tcase_add_test(tc, syntax_refusal_log_rate_limited);
	tcase_add_test(tc, init_refusal_logged);
	tcase_add_test(tc, identity_sa_cap);
	tcase_add_test(tc, initial_contact_replaces);
	tcase_add_test(tc, identity_limit_per_credential);
	suite_add_tcase(su, tc);
	return tu_run(su);
}
