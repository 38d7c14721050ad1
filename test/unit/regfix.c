/* The fixture shared by the GCKS tests on the fake network: see regfix.h. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/pem.h>
#include "testutil.h"
#include "tu_pg.h"
#include "certgen.h"
#include "regfix.h"
#include "gcks/gcks_keyrules.h"
#include "algs.h"
#include "auth.h"
#include "log.h"

gk_store *store;
fakenet net;
gk_gcks_config gcfg;
EVP_PKEY *gcks_key;
EVP_PKEY *ca_key, *rogue_key;
X509 *ca_cert, *rogue_cert, *gcks_cert;
X509_STORE *ca_store, *rogue_store;

static char dir[64];
static char db[256];
#define MAX_CERTS 8
static EVP_PKEY *member_keys[MAX_CERTS];
static X509 *member_certs[MAX_CERTS];
static size_t nmember_certs;

/* ---- helpers: identities, PEM ---- */

gk_ident ident(const char *text)
{
	gk_ident id;
	char why[GK_ERR_MAX] = "";
	ck_assert_msg(gk_ident_parse(text, &id, why, sizeof(why)) == GK_OK, "%s: %s", text, why);
	return id;
}

char *key_pem(EVP_PKEY *k)
{
	BIO *b = BIO_new(BIO_s_mem());
	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL), 1);
	char *p = NULL;
	long n = BIO_get_mem_data(b, &p);
	char *s = strndup(p, (size_t)n);
	BIO_free(b);
	return s;
}

char *cert_pem(X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(PEM_write_bio_X509(b, x), 1);
	char *p = NULL;
	long n = BIO_get_mem_data(b, &p);
	char *s = strndup(p, (size_t)n);
	BIO_free(b);
	return s;
}

/* The GCKS identity: its ID and signing key, and optionally its certificate and the CA of
 * members. */
void set_identity_as(const char *gid, EVP_PKEY *key, X509 *cert, X509 *ca)
{
	gk_gcks_identity id;
	memset(&id, 0, sizeof(id));
	id.id = ident(gid);
	id.sign_key_pem = key_pem(key);
	id.cert_pem = cert ? cert_pem(cert) : NULL;
	id.ca_pem = ca ? cert_pem(ca) : NULL;
	ck_assert_int_eq(gk_store_identity_set(store, &id, "test", (int64_t)time(NULL)), GK_OK);
	free(id.sign_key_pem);
	free(id.cert_pem);
	free(id.ca_pem);
}

void set_identity(X509 *cert, X509 *ca)
{
	set_identity_as(GCKS_ID, gcks_key, cert, ca);
}

/* ---- fixture ---- */

void rf_setup(const char *prog, const char *tmp_prefix)
{
	gk_log_init(prog, getenv("GK_TEST_DEBUG") ? GK_LOG_DEBUG : GK_LOG_ERROR);
	snprintf(dir, sizeof(dir), "/tmp/%s-XXXXXX", tmp_prefix);
	ck_assert_ptr_nonnull(tu_mkdtemp(dir));
	snprintf(db, sizeof(db), "%s/gcks.db", dir);
	tu_pg_db(db, sizeof(db)); /* GK_TEST_PG: on PostgreSQL, a database of this test's own */
	char err[GK_STORE_ERR_MAX];
	ck_assert_msg(gk_store_open(db, true, &store, err, sizeof(err)) == GK_OK, "%s", err);
	fn_init(&net);
	gk_gcks_config_default(&gcfg);
	gcks_key = cg_key_ec("P-256");
	ck_assert_ptr_nonnull(gcks_key);
	set_identity(NULL, NULL);
}

const char *rf_db_path(void)
{
	return db;
}

void rf_teardown(void)
{
	static const char *const suffixes[] = { "", "-wal", "-shm", "-journal" };
	char p[300];
	fn_free(&net);
	gk_store_close(store);
	store = NULL;
	tu_pg_db_drop();
	for (size_t i = 0; i < 4; i++) {
		snprintf(p, sizeof(p), "%s%s", db, suffixes[i]);
		unlink(p);
	}
	rmdir(dir);
	EVP_PKEY_free(gcks_key);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(rogue_key);
	X509_free(ca_cert);
	X509_free(rogue_cert);
	X509_free(gcks_cert);
	X509_STORE_free(ca_store);
	X509_STORE_free(rogue_store);
	for (size_t i = 0; i < nmember_certs; i++) {
		EVP_PKEY_free(member_keys[i]);
		X509_free(member_certs[i]);
	}
	gcks_key = ca_key = rogue_key = NULL;
	ca_cert = rogue_cert = gcks_cert = NULL;
	ca_store = rogue_store = NULL;
	nmember_certs = 0;
}

/* ---- group policies, built in C ---- */

void ts(gk_ts_spec *t, const char *lo, const char *hi, uint8_t proto, uint16_t plo, uint16_t phi)
{
	memset(t, 0, sizeof(*t));
	t->family = 4;
	ck_assert_int_eq(inet_pton(AF_INET, lo, t->start), 1);
	ck_assert_int_eq(inet_pton(AF_INET, hi, t->end), 1);
	t->ip_proto = proto;
	t->port_lo = plo;
	t->port_hi = phi;
}

/* One ESP TEK in a counter mode (AES-GCM-16/256, multi-sender SN) and a multicast Rekey SA. */
void pol_init(gk_group_policy *g, const char *name)
{
	memset(g, 0, sizeof(*g));
	snprintf(g->name, sizeof(g->name), "%s", name);
	g->id = ident(name);
	g->rekey_transport = GK_REKEY_MULTICAST;
	g->atd = 30;
	g->dtd = 60;
	g->sender_id_bits = 8;
	g->rekey_margin_pct = 10;
	gk_kek_policy *k = &g->kek;
	k->present = true;
	k->encr = GK_ENCR_AES_CBC;
	k->encr_key_bits = 256;
	k->integ = GK_INTEG_HMAC_SHA2_256_128;
	k->kwa = GK_KWA_KW_5649_256;
	k->gcauth = GK_GCAUTH_DIGITAL_SIGNATURE;
	k->sig_scheme = GK_SIG_ECDSA_SHA256;
	ts(&k->src, "192.0.2.1", "192.0.2.1", 17, 848, 848);
	ts(&k->dst, "239.0.0.1", "239.0.0.1", 17, 848, 848);
	k->lifetime = 86400;
	k->ttl = 8;
	k->copies = 1;
	g->nteks = 1;
	g->teks = calloc(1, sizeof(*g->teks));
	ck_assert_ptr_nonnull(g->teks);
	gk_tek_policy *t = &g->teks[0];
	snprintf(t->name, sizeof(t->name), "video");
	t->proto = GK_PROTO_ESP;
	t->encr = GK_ENCR_AES_GCM_16;
	t->encr_key_bits = 256;
	t->sn = GK_SN_UNSPEC32;
	ts(&t->src, "192.0.2.0", "192.0.2.255", 17, 0, 65535);
	ts(&t->dst, "239.1.1.1", "239.1.1.1", 17, 5004, 5004);
	t->lifetime = 3600;
}

gk_member_policy *pol_member(gk_group_policy *g, const char *id, gk_member_auth auth, gk_role role)
{
	gk_member_policy *n = realloc(g->members, (g->nmembers + 1) * sizeof(*n));
	ck_assert_ptr_nonnull(n);
	g->members = n;
	gk_member_policy *m = &g->members[g->nmembers++];
	memset(m, 0, sizeof(*m));
	gk_ident mid = ident(id);
	ck_assert_int_eq(gk_member_policy_set_id(m, &mid), GK_OK);
	m->auth = auth;
	m->role = role;
	if (auth == GK_MAUTH_PSK) {
		/* every PSK member's key is its own identity text: psk_of() */
		m->psk_len = strlen(id);
		m->psk = malloc(m->psk_len);
		ck_assert_ptr_nonnull(m->psk);
		memcpy(m->psk, id, m->psk_len);
	}
	return m;
}

void pol_put(gk_group_policy *g)
{
	bool changed = false;
	gk_status st = gk_keys_group_put(store, g, "test", NULL, (int64_t)time(NULL), &changed);
	ck_assert_msg(st == GK_OK, "group put: %s (%s)", gk_status_str(st), gk_store_errmsg(store));
	gk_group_policy_free(g);
}

/* G1 with receivers r1, r2 and sender s1; G2 with other and r1. */
void standard_policies(uint32_t g1_capacity)
{
	gk_group_policy g;
	pol_init(&g, G1);
	g.capacity = g1_capacity;
	pol_member(&g, "fqdn:r1.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_member(&g, "fqdn:r2.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_member(&g, "fqdn:s1.example", GK_MAUTH_PSK, GK_ROLE_SENDER)->max_sender_ids = 4;
	pol_member(&g, "fqdn:s2.example", GK_MAUTH_PSK, GK_ROLE_SENDER)->max_sender_ids = 4;
	pol_put(&g);
	pol_init(&g, G2);
	g.teks[0].dst.start[3] = g.teks[0].dst.end[3] = 2;
	pol_member(&g, "fqdn:other.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_member(&g, "fqdn:r1.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_put(&g);
}

/* G1 with the one PSK receiver `member`. */
void single_member_policy(const char *member)
{
	gk_group_policy g;
	pol_init(&g, G1);
	pol_member(&g, member, GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_put(&g);
}

void start_gcks(void)
{
	char err[256] = "";
	gk_gcks_env env = fn_gcks_env(&net, store);
	gk_status st = gk_gcks_new(&gcfg, &env, &net.gcks, err, sizeof(err));
	ck_assert_msg(st == GK_OK, "gk_gcks_new: %s: %s", gk_status_str(st), err);
}

gk_gcks_stats stats(void)
{
	gk_gcks_stats s;
	gk_gcks_stats_get(net.gcks, &s);
	return s;
}

/* ---- members ---- */

/* A PSK member of one group; its PSK is its identity text (see pol_member). */
gk_gm_config gm_psk(const char *id, const char *group)
{
	gk_gm_config c;
	gk_gm_config_default(&c);
	c.id = ident(id);
	c.groups[0] = ident(group);
	c.ngroups = 1;
	c.psk = (const uint8_t *)id;
	c.psk_len = strlen(id);
	return c;
}

fn_member *join(const gk_gm_config *c)
{
	fn_member *m = fn_add_member(&net, c);
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(gk_gm_start(m->gm), GK_OK);
	return m;
}

static bool member_finished(fakenet *n, void *ctx)
{
	(void)n;
	return fn_member_finished(ctx);
}

void run_member(fn_member *m)
{
	ck_assert_msg(fn_run_until(&net, member_finished, m, 120000), "member %d did not finish", m->idx);
}

void run_all(void)
{
	ck_assert_msg(fn_run_until(&net, fn_all_finished, NULL, 120000), "members did not finish");
}

void describe(const fn_member *m, char *buf, size_t len)
{
	size_t o = 0;
	buf[0] = 0;
	for (size_t i = 0; i < m->nev && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "[%d g%zu %s %s] ", m->ev[i].type, m->ev[i].group,
				      m->ev[i].notify ? gk_iana_str(GK_REG_NOTIFY, m->ev[i].notify) : "-",
				      m->ev[i].why);
}

/* The member registered to group index gi exactly once, and finished without failure. */
const gk_group_state *registered(const fn_member *m, size_t gi)
{
	char d[1024];
	describe(m, d, sizeof(d));
	size_t n = 0;
	const gk_group_state *gs = NULL;
	for (size_t i = 0; i < m->nev; i++)
		if (m->ev[i].type == GK_GM_REGISTERED && m->ev[i].group == gi) {
			n++;
			gs = m->ev[i].state;
		}
	ck_assert_msg(n == 1, "member %d: %zu registrations to group %zu: %s", m->idx, n, gi, d);
	ck_assert_msg(fn_count(m, GK_GM_FAILED) == 0 && fn_count(m, GK_GM_REFUSED) == 0, "member %d: %s", m->idx, d);
	ck_assert_ptr_nonnull(gs);
	return gs;
}

/* The member was refused with this notify and registered nowhere. */
void refused(const fn_member *m, uint16_t notify)
{
	char d[1024];
	describe(m, d, sizeof(d));
	const fn_event *e = fn_find(m, GK_GM_REFUSED, 0);
	ck_assert_msg(e && e->notify == notify, "member %d: expected REFUSED %s: %s", m->idx,
		      gk_iana_str(GK_REG_NOTIFY, notify), d);
	ck_assert_msg(fn_count(m, GK_GM_REGISTERED) == 0, "member %d: %s", m->idx, d);
}

/* The member failed as a whole with this notify (0: no answer). */
void failed(const fn_member *m, uint16_t notify)
{
	char d[1024];
	describe(m, d, sizeof(d));
	const fn_event *e = fn_find(m, GK_GM_FAILED, 0);
	ck_assert_msg(e && e->notify == notify, "member %d: expected FAILED %s: %s", m->idx,
		      notify ? gk_iana_str(GK_REG_NOTIFY, notify) : "(no notify)", d);
	ck_assert_msg(fn_count(m, GK_GM_REGISTERED) == 0, "member %d: %s", m->idx, d);
}
/* ---- store ---- */

uint32_t reg_count(const char *group)
{
	uint32_t n = 99;
	ck_assert_int_eq(gk_store_registration_count(store, group, &n), GK_OK);
	return n;
}

/* ---- certificates ---- */

X509 *issue(const char *cn, const char *san, bool ca, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key,
		   long serial)
{
	const char *eku = ca ? NULL : strcmp(cn, "gcks") ? "clientAuth" : "serverAuth";
	cg_cert_opts o = { .cn = cn, .san = san, .ca = ca, .eku = eku, .not_before = -3600, .not_after = 86400,
			   .serial = serial };
	X509 *x = cg_cert_issue(&o, key, issuer, issuer_key);
	ck_assert_ptr_nonnull(x);
	return x;
}

void make_pki(void)
{
	ca_key = cg_key_ec("P-256");
	rogue_key = cg_key_ec("P-256");
	ck_assert(ca_key && rogue_key);
	ca_cert = issue("test CA", NULL, true, ca_key, NULL, NULL, 1);
	rogue_cert = issue("rogue CA", NULL, true, rogue_key, NULL, NULL, 2);
	gcks_cert = issue("gcks", "DNS:gcks.example", false, gcks_key, ca_cert, ca_key, 3);
	ca_store = X509_STORE_new();
	rogue_store = X509_STORE_new();
	ck_assert(ca_store && rogue_store);
	ck_assert_int_eq(X509_STORE_add_cert(ca_store, ca_cert), 1);
	ck_assert_int_eq(X509_STORE_add_cert(rogue_store, rogue_cert), 1);
}

/* A member key and certificate; kept until teardown. */
void member_cert(const char *san, bool rogue, EVP_PKEY **key, X509 **cert)
{
	ck_assert_uint_lt(nmember_certs, MAX_CERTS);
	EVP_PKEY *k = cg_key_ed25519();
	ck_assert_ptr_nonnull(k);
	X509 *x = issue("member", san, false, k, rogue ? rogue_cert : ca_cert, rogue ? rogue_key : ca_key,
			10 + (long)nmember_certs);
	member_keys[nmember_certs] = k;
	member_certs[nmember_certs++] = x;
	*key = k;
	*cert = x;
}

gk_gm_config gm_cert(const char *id, const char *group, EVP_PKEY *key, X509 *cert, X509_STORE *trust)
{
	gk_gm_config c = gm_psk(id, group);
	c.psk = NULL;
	c.psk_len = 0;
	c.key = key;
	c.cert = cert;
	c.ca = trust;
	return c;
}
