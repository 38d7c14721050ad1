/* LKH eviction benchmark (make bench, make bench-lkh): evicting one member from a group of
 * 1,000, 100,000 and 1,000,000 members whose key tree (gcks/gcks_lkh.c) is built directly, for
 * tree degrees 2 and 4. For each cell:
 *   gcks CPU    the eviction in memory (keys on the path replaced), the wrapped keys, the GSA and
 *               KD payloads (gk_group_state_encode) and the signed, encrypted, fragmented
 *               GSA_REKEY (gk_rekey_build), as gcks_rekey.c builds it;
 *   message     its size in octets, the wrapped keys it carries and its datagrams at the
 *               default fragment-mtu of 1280;
 *   store tx    gk_keys_lkh_evict on a SQLite store holding the whole tree: the new Rekey SA
 *               key, the Message ID and the tree's changed rows in one durable transaction
 *               (fsync), as gcksd commits before sending; beside it the time to write the whole
 *               tree (once) and to read it back (gcksd's first use of the tree after a start),
 *               and a new member's leaf (gk_keys_lkh_join: its own durable transaction);
 *   build       the tree built in memory (gk_lkh_build: keys for every node);
 *   member CPU  what a remaining member does with it: open every datagram (decrypt, reassemble,
 *               verify the signature: gk_rekey_open), decode (gk_group_state_decode_kh) and
 *               find its Key Path (gk_key_path_open_state, RFC 9838 3.3).
 * The CPU figures are process CPU time (medians of --repeat evictions of different members);
 * the store transaction is wall-clock time (it waits for fsync).
 * Floors measured in the same run, openssl-speed style (CPU time): one RFC 5649 key wrap of a 32-octet key
 * under KW_5649_256, one ECDSA P-256 signature and one verification; each figure is also given
 * as a multiple of them. Beside each eviction: the current way (every member excluded, N
 * registrations) at the registration rate given with --reg-rate (make bench passes the one
 * bench_register measured), else at the crypto bound of one registration measured here (one
 * X25519 key generation and agreement on each side: an upper bound of the rate).
 *
 *   bench_lkh [--members 1000,100000,1000000] [--degrees 2,4] [--repeat 20] [--store-max N]
 *             [--reg-rate R] [--dir DIR]
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include "arena.h"
#include "auth.h"
#include "gcks/gcks_keyrules.h"
#include "gcks/gcks_lkh.h"
#include "gcks/storage.h"
#include "group_sa.h"
#include "iana.h"
#include "ikekeys.h"
#include "key_path.h"
#include "keywrap.h"
#include "log.h"
#include "rand.h"
#include "rekey_msg.h"

#define GROUP "keyid:bench-lkh"
#define KWA GK_KWA_KW_5649_256
#define MAX_CELLS 8

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n ? v[n / 2] : 0;
}

static void die(const char *what, gk_status st)
{
	fprintf(stderr, "bench_lkh: %s: %s\n", what, gk_status_str(st));
	exit(1);
}

/* ---- floors ---- */

typedef struct floors {
	double wrap_us, sign_us, verify_us, reg_us;
} floors;

/* CPU microseconds per operation, like the cells' CPU figures. */
static double per_op(double (*fn)(void *), void *ctx)
{
	double t0 = cpu_s(), n = 0;
	while (cpu_s() - t0 < 0.5)
		n += fn(ctx);
	return (cpu_s() - t0) * 1e6 / n;
}

static double op_wrap(void *ctx)
{
	(void)ctx;
	uint8_t kek[32] = { 1 }, key[32] = { 2 };
	gk_wbuf w;
	for (int i = 0; i < 100; i++) {
		gk_wbuf_init(&w, 0);
		if (gk_kw_wrap(KWA, GK_CHUNK(kek, 32), GK_CHUNK(key, 32), &w))
			die("key wrap", GK_E_CRYPTO);
		gk_wbuf_free(&w);
	}
	return 100;
}

typedef struct sig_ctx {
	EVP_PKEY *k;
	gk_wbuf sig;
} sig_ctx;

static double op_sign(void *ctx)
{
	sig_ctx *c = ctx;
	uint8_t data[256] = { 3 };
	gk_wbuf_free(&c->sig);
	gk_wbuf_init(&c->sig, 0);
	if (gk_auth_sig_sign(c->k, GK_SIG_ECDSA_SHA256, GK_CHUNK(data, sizeof(data)), &c->sig))
		die("sign", GK_E_CRYPTO);
	return 1;
}

static double op_verify(void *ctx)
{
	sig_ctx *c = ctx;
	uint8_t data[256] = { 3 };
	if (gk_auth_sig_verify(c->k, GK_SIG_ECDSA_SHA256, GK_CHUNK(c->sig.data, c->sig.len), GK_CHUNK(data, sizeof(data))))
		die("verify", GK_E_CRYPTO);
	return 1;
}

/* One registration's unavoidable key exchange: X25519 key generation and agreement on each side. */
static double op_x25519(void *ctx)
{
	(void)ctx;
	for (int side = 0; side < 2; side++) {
		EVP_PKEY *a = EVP_PKEY_Q_keygen(NULL, NULL, "X25519"), *b = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
		EVP_PKEY_CTX *d = a && b ? EVP_PKEY_CTX_new(a, NULL) : NULL;
		uint8_t out[32];
		size_t len = sizeof(out);
		if (!d || EVP_PKEY_derive_init(d) <= 0 || EVP_PKEY_derive_set_peer(d, b) <= 0 ||
		    EVP_PKEY_derive(d, out, &len) <= 0)
			die("X25519", GK_E_CRYPTO);
		EVP_PKEY_CTX_free(d);
		EVP_PKEY_free(a);
		EVP_PKEY_free(b);
	}
	return 1;
}

/* ---- the group ---- */

static void policy(gk_group_policy *g, unsigned degree)
{
	char why[GK_ERR_MAX];
	memset(g, 0, sizeof(*g));
	snprintf(g->name, sizeof(g->name), "%s", GROUP);
	gk_ident_parse(GROUP, &g->id, why, sizeof(why));
	g->rekey_transport = GK_REKEY_MULTICAST;
	g->atd = 5;
	g->dtd = 30;
	g->rekey_margin_pct = 10;
	gk_kek_policy *k = &g->kek;
	k->present = true;
	k->encr = GK_ENCR_AES_GCM_16;
	k->encr_key_bits = 256;
	k->kwa = KWA;
	k->gcauth = GK_GCAUTH_DIGITAL_SIGNATURE;
	k->sig_scheme = GK_SIG_ECDSA_SHA256;
	k->src.family = k->dst.family = 4;
	k->dst.start[0] = k->dst.end[0] = 239;
	k->dst.ip_proto = k->src.ip_proto = 17;
	k->dst.port_lo = k->dst.port_hi = k->src.port_lo = k->src.port_hi = 848;
	k->lifetime = 86400;
	k->ttl = 8;
	k->copies = 1;
	k->frag_mtu = 1280;
	k->key_mgmt = GK_KEYMGMT_LKH;
	k->lkh_degree = (uint8_t)degree;
	g->nteks = 1;
	g->teks = calloc(1, sizeof(*g->teks));
	gk_tek_policy *t = &g->teks[0];
	snprintf(t->name, sizeof(t->name), "video");
	t->proto = GK_PROTO_ESP;
	t->encr = GK_ENCR_AES_GCM_16;
	t->encr_key_bits = 256;
	t->sn = GK_SN_UNSPEC32;
	t->src.family = t->dst.family = 4;
	t->dst.start[0] = t->dst.end[0] = 239;
	t->dst.start[3] = t->dst.end[3] = 1;
	t->src.end[0] = t->src.end[1] = t->src.end[2] = t->src.end[3] = 255;
	t->src.port_hi = t->dst.port_hi = 65535;
	t->lifetime = 3600;
}

static char **member_names(size_t n)
{
	char **v = calloc(n, sizeof(*v));
	for (size_t i = 0; v && i < n; i++) {
		char buf[64];
		snprintf(buf, sizeof(buf), "fqdn:screen-%zu.bench.example", i);
		if (!(v[i] = strdup(buf)))
			return NULL;
	}
	return v;
}

static void names_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* ---- one eviction, as gcks_rekey.c sends it ---- */

typedef struct kek_keys {
	uint8_t spi[16];
	uint8_t keymat[GK_KEYMAT_MAX];
	size_t len;
} kek_keys;

static size_t kek_len(void)
{
	return gk_group_keymat_len(GK_PROTO_GIKE_UPDATE, GK_ENCR_AES_GCM_16, 256, 0, KWA);
}

static void kek_new(kek_keys *k)
{
	k->len = kek_len();
	gk_rand_bytes(gk_rand_system(), k->spi, 16);
	gk_rand_bytes(gk_rand_system(), k->keymat, k->len);
}

static gk_sk_keys sk_of(const kek_keys *k, gk_group_keys *gk)
{
	if (gk_group_keys_split(GK_CHUNK(k->keymat, k->len), GK_PROTO_GIKE_UPDATE, GK_ENCR_AES_GCM_16, 256, 0, KWA, gk))
		die("key split", GK_E_CRYPTO);
	return (gk_sk_keys){ .encr = GK_ENCR_AES_GCM_16, .encr_key_bits = 256, .enc = gk->enc, .integ_key = gk->integ };
}

typedef struct built {
	gk_dgrams d;
	size_t octets, nwraps, ntops;
} built;

/* The message evicting e under the old Rekey SA, announcing nk. */
static void build_msg(const gk_lkh *t, const gk_lkh_evicted *e, const kek_keys *old, const kek_keys *nk,
		      EVP_PKEY *sign, uint32_t msgid, built *b)
{
	gk_group_state *gs = OPENSSL_zalloc(sizeof(*gs));
	gk_arena a;
	gk_kh_wrapped *w, *s;
	size_t nw, ns;
	gk_group_keys gk;
	gk_sk_keys sk = sk_of(old, &gk);
	gk_arena_init(&a, 0);
	gk_group_sa *sa = &gs->sas[gs->nsas++];
	sa->proto = GK_PROTO_GIKE_UPDATE;
	sa->spi_len = 16;
	memcpy(sa->spi, nk->spi, 16);
	sa->src.family = sa->dst.family = 4;
	sa->dst.start[0] = sa->dst.end[0] = 239;
	sa->encr = GK_ENCR_AES_GCM_16;
	sa->encr_key_bits = 256;
	sa->kwa = KWA;
	sa->lifetime = 86400;
	memcpy(sa->keymat, nk->keymat, nk->len);
	sa->keymat_len = nk->len;
	gs->atd = 5;
	gs->has_atd = true;
	gs->dtd = 30;
	gs->has_dtd = true;
	gk_status st = gk_lkh_evict_wraps(t, e, KWA, GK_CHUNK(nk->keymat, nk->len), &a, &w, &nw, &s, &ns);
	if (st)
		die("wraps", st);
	gs->wrap_keys = w;
	gs->nwrap_keys = nw;
	gs->kh_sa_keys = s;
	gs->nkh_sa_keys = ns;
	gk_pl_gsa *gsa = gk_arena_alloc(&a, sizeof(*gsa));
	gk_pl_kd *kd = gk_arena_alloc(&a, sizeof(*kd));
	if ((st = gk_group_state_encode(gs, GK_GSA_REKEY, KWA, gk.wrap, &a, gsa, kd)))
		die("encode", st);
	gk_out_pl pl[2] = { { GK_PL_GSA, false, gsa }, { GK_PL_KD, false, kd } };
	gk_rekey_out o = { .msg_id = msgid, .pl = pl, .npl = 2, .frag_mtu = gk_rekey_frag_len(1280, 4, false),
			   .sign_key = sign, .scheme = GK_SIG_ECDSA_SHA256, .kek = sk };
	memcpy(o.spi, old->spi, 16);
	if ((st = gk_rekey_build(&o, gk_rand_system(), &b->d)))
		die("rekey build", st);
	b->octets = 0;
	for (size_t i = 0; i < b->d.n; i++)
		b->octets += b->d.d[i].len;
	b->nwraps = nw;
	b->ntops = ns;
	gk_arena_free(&a);
	OPENSSL_clear_free(gs, sizeof(*gs));
}

/* The member's Working Key Path: its path, top first (gk_key_path's order). */
static void wkp_of(const gk_lkh *t, uint32_t leaf, gk_key_path *p)
{
	uint32_t path[GK_LKH_MAX_DEPTH];
	size_t n = gk_lkh_path(t, leaf, path);
	memset(p, 0, sizeof(*p));
	for (size_t i = 0; i < n; i++) {
		const gk_lkh_node *nd = &t->nodes[path[n - 1 - i]];
		p->keys[i].id = nd->key_id;
		memcpy(p->keys[i].key, nd->key, t->key_len);
		p->keys[i].len = t->key_len;
	}
	p->n = n;
}

/* What a member does with the datagrams; returns its CPU seconds. */
static double member_follows(const built *b, const kek_keys *old, EVP_PKEY *pub, const gk_key_path *wkp,
			     const kek_keys *nk)
{
	gk_group_keys gk;
	gk_sk_keys sk = sk_of(old, &gk);
	gk_frag_reasm re;
	memset(&re, 0, sizeof(re));
	gk_rekey_in in = { .kek = sk, .auth_key = pub, .want = GK_SIG_ECDSA_SHA256, .reasm = &re };
	memcpy(in.spi, old->spi, 16);
	gk_msg m;
	bool complete = false;
	char err[GK_ERR_MAX];
	double t0 = cpu_s();
	gk_status st = GK_OK;
	for (size_t i = 0; i < b->d.n && !st && !complete; i++)
		st = gk_rekey_open(&in, GK_CHUNK(b->d.d[i].data, b->d.d[i].len), &m, &complete);
	if (st || !complete)
		die("member: open", st ? st : GK_E_STATE);
	gk_group_state *gs = OPENSSL_zalloc(sizeof(*gs));
	gk_arena a;
	gk_arena_init(&a, 0);
	const gk_payload *gsa = gk_msg_find(&m, GK_PL_GSA), *kd = gk_msg_find(&m, GK_PL_KD);
	st = gk_group_state_decode_kh(&gsa->body->gsa, &kd->body->kd, GK_GSA_REKEY, KWA, gk.wrap, &a, gs, err,
				      sizeof(err));
	if (!st)
		st = gk_key_path_open_state(gs, wkp, gk.wrap, KWA, KWA, false, err, sizeof(err));
	double t = cpu_s() - t0;
	if (st)
		fprintf(stderr, "bench_lkh: member: %s\n", err), die("member: key path", st);
	if (gs->sas[0].keymat_len != nk->len || memcmp(gs->sas[0].keymat, nk->keymat, nk->len))
		die("member: wrong Rekey SA key", GK_E_STATE);
	gk_group_state_wipe(gs);
	OPENSSL_free(gs);
	gk_arena_free(&a);
	gk_msg_free(&m);
	gk_frag_reset(&re);
	return t;
}

/* ---- a cell: n members, degree d ---- */

typedef struct cell {
	size_t n;
	unsigned d;
	double build_s, gcks_us, member_us, store_ms, store_load_s, store_read_s, join_ms;
	size_t octets, dgrams, nwraps, depth;
	bool store;
} cell;

static void run_cell(cell *c, size_t repeat, const char *dir, size_t store_max, EVP_PKEY *sign)
{
	gk_lkh t;
	char **names = member_names(c->n);
	gk_status st;
	double *g = calloc(repeat, sizeof(*g)), *mm = calloc(repeat, sizeof(*mm));
	if (!names || !g || !mm)
		die("memory", GK_E_NOMEM);
	double t0 = now_s();
	if ((st = gk_lkh_init(&t, c->d, gk_kwa_key_len(KWA), c->n)) ||
	    (st = gk_lkh_build(&t, gk_rand_system(), (const char *const *)names, c->n)))
		die("tree", st);
	gk_lkh_touched_clear(&t);
	c->build_s = now_s() - t0;
	c->depth = t.depth;
	kek_keys old, nk;
	kek_new(&old);
	for (size_t r = 0; r < repeat; r++) {
		/* members spread over the tree; the one after it stays and follows */
		size_t victim = (r * 7919 + 13) % c->n, stay = (victim + c->n / 2 + 1) % c->n;
		gk_key_path wkp;
		wkp_of(&t, gk_lkh_find(&t, names[stay]), &wkp);
		kek_new(&nk);
		gk_lkh_evicted e;
		built b;
		memset(&b, 0, sizeof(b));
		const char *who[1] = { names[victim] };
		double c0 = cpu_s();
		if ((st = gk_lkh_evict(&t, gk_rand_system(), who, 1, &e)))
			die("evict", st);
		build_msg(&t, &e, &old, &nk, sign, (uint32_t)r, &b);
		g[r] = cpu_s() - c0;
		gk_lkh_touched_clear(&t);
		mm[r] = member_follows(&b, &old, sign, &wkp, &nk);
		c->octets = b.octets;
		c->dgrams = b.d.n;
		c->nwraps = b.nwraps + b.ntops;
		gk_dgrams_free(&b.d);
		gk_lkh_evicted_free(&e);
		gk_key_path_wipe(&wkp);
		old = nk;
	}
	c->gcks_us = median(g, repeat) * 1e6;
	c->member_us = median(mm, repeat) * 1e6;
	/* the store: the whole tree in SQLite, then durable evictions */
	c->store = c->n <= store_max;
	if (c->store) {
		char path[4096], err[GK_STORE_ERR_MAX];
		gk_store *s;
		gk_group_policy pol;
		bool changed;
		snprintf(path, sizeof(path), "%s/bench-lkh-%zu-%u.db", dir, c->n, c->d);
		unlink(path);
		policy(&pol, c->d);
		if ((st = gk_store_open(path, true, &s, err, sizeof(err))))
			fprintf(stderr, "bench_lkh: %s\n", err), die("store", st);
		if ((st = gk_keys_group_put(s, &pol, "bench", "bench_lkh", (int64_t)time(NULL), &changed)))
			fprintf(stderr, "bench_lkh: %s\n", gk_store_errmsg(s)), die("policy", st);
		double l0 = now_s();
		if ((st = gk_keys_lkh_store_all(s, &pol, &t)))
			die("tree to the store", st);
		c->store_load_s = now_s() - l0;
		size_t rs = repeat < 10 ? repeat : 10;
		for (size_t r = 0; r < rs; r++) {
			size_t victim = (r * 104729 + 101) % c->n;
			if (!gk_lkh_find(&t, names[victim]))
				victim = (victim + 1) % c->n;
			gk_sa_key prev[2], keys[2];
			size_t nk2;
			uint32_t msgid;
			gk_lkh_evicted e;
			const char *who[1] = { names[victim] };
			double s0 = now_s();
			if ((st = gk_keys_lkh_evict(s, &pol, &t, gk_rand_system(), (int64_t)time(NULL), who, 1, NULL, &e, prev,
						    keys, &nk2, &msgid)))
				fprintf(stderr, "bench_lkh: %s\n", gk_store_errmsg(s)), die("store eviction", st);
			g[r] = now_s() - s0;
			gk_lkh_evicted_free(&e);
			OPENSSL_cleanse(keys, sizeof(keys));
			OPENSSL_cleanse(prev, sizeof(prev));
		}
		c->store_ms = median(g, rs) * 1e3;
		/* a registration of an identity new to the tree: its leaf, durably, before its keys leave */
		for (size_t r = 0; r < rs; r++) {
			char who[64];
			uint32_t pos;
			snprintf(who, sizeof(who), "fqdn:new-%zu.bench.example", r);
			double j0 = now_s();
			if ((st = gk_keys_lkh_join(s, &pol, &t, gk_rand_system(), who, &pos)))
				die("store join", st);
			g[r] = now_s() - j0;
		}
		c->join_ms = median(g, rs) * 1e3;
		/* what gcksd reads on the first use of the tree after a start */
		gk_lkh back;
		double r0 = now_s();
		if ((st = gk_keys_lkh_load(s, &pol, &back)))
			die("tree from the store", st);
		c->store_read_s = now_s() - r0;
		if (back.nmembers != t.nmembers)
			die("tree from the store: members", GK_E_STATE);
		gk_lkh_free(&back);
		gk_group_policy_free(&pol);
		gk_store_close(s);
		unlink(path);
		snprintf(path, sizeof(path), "%s/bench-lkh-%zu-%u.db-wal", dir, c->n, c->d);
		unlink(path);
		snprintf(path, sizeof(path), "%s/bench-lkh-%zu-%u.db-shm", dir, c->n, c->d);
		unlink(path);
	}
	gk_lkh_free(&t);
	names_free(names, c->n);
	free(g);
	free(mm);
}

static size_t parse_list(const char *s, size_t *out, size_t max)
{
	size_t n = 0;
	for (char *end; *s && n < max; s = *end ? end + 1 : end)
		out[n++] = strtoul(s, &end, 10);
	return n;
}

int main(int argc, char **argv)
{
	size_t counts[MAX_CELLS] = { 1000, 100000, 1000000 }, ncounts = 3;
	size_t degrees[MAX_CELLS] = { 2, 4 }, ndeg = 2;
	size_t repeat = 20, store_max = 1000000;
	double reg_rate = 0;
	const char *dir = "/tmp";
	static const struct option opts[] = {
		{ "members", required_argument, NULL, 'm' }, { "degrees", required_argument, NULL, 'd' },
		{ "repeat", required_argument, NULL, 'r' }, { "store-max", required_argument, NULL, 's' },
		{ "reg-rate", required_argument, NULL, 'R' }, { "dir", required_argument, NULL, 'D' },
		{ NULL, 0, NULL, 0 },
	};
	for (int o; (o = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
		switch (o) {
		case 'm': ncounts = parse_list(optarg, counts, MAX_CELLS); break;
		case 'd': ndeg = parse_list(optarg, degrees, MAX_CELLS); break;
		case 'r': repeat = strtoul(optarg, NULL, 10); break;
		case 's': store_max = strtoul(optarg, NULL, 10); break;
		case 'R': reg_rate = strtod(optarg, NULL); break;
		case 'D': dir = optarg; break;
		default:
			fprintf(stderr, "usage: bench_lkh [--members N,...] [--degrees D,...] [--repeat R] [--store-max N] "
				"[--reg-rate R] [--dir DIR]\n");
			return 1;
		}
	}
	if (!repeat || !ncounts || !ndeg)
		return 1;
	gk_log_init("bench_lkh", GK_LOG_ERROR);
	floors f;
	sig_ctx sc = { gk_privkey_generate("ecdsa-p256"), { 0 } };
	if (!sc.k)
		die("signing key", GK_E_CRYPTO);
	gk_wbuf_init(&sc.sig, 0);
	f.wrap_us = per_op(op_wrap, NULL);
	f.sign_us = per_op(op_sign, &sc);
	f.verify_us = per_op(op_verify, &sc);
	f.reg_us = per_op(op_x25519, NULL);
	printf("floors (this machine, this run): RFC 5649 wrap of a 32-octet key under KW_5649_256 %.2f us, "
	       "ECDSA P-256 sign %.1f us, verify %.1f us; X25519 keygen+derive on both sides (a registration's "
	       "key exchange) %.1f us\n", f.wrap_us, f.sign_us, f.verify_us, f.reg_us);
	const char *rate_src = "measured by bench_register";
	if (reg_rate <= 0) {
		reg_rate = 1e6 / f.reg_us;
		rate_src = "crypto bound of one key exchange, an upper bound";
	}
	printf("registration rate for the current way: %.0f/s (%s)\n\n", reg_rate, rate_src);
	printf("%9s %3s %5s | %9s %7s %6s %5s %4s | %9s %6s | %9s %7s %7s | %7s | %s\n", "members", "d", "depth",
	       "gcks CPU", "x sign", "octets", "dgram", "keys", "member", "x vrfy", "store tx", "write", "read",
	       "build", "exclude everyone instead");
	for (size_t i = 0; i < ncounts; i++)
		for (size_t j = 0; j < ndeg; j++) {
			cell c = { .n = counts[i], .d = (unsigned)degrees[j] };
			run_cell(&c, repeat, dir, store_max, sc.k);
			char store[32] = "skipped", load[32] = "", rd[32] = "";
			if (c.store) {
				snprintf(store, sizeof(store), "%.2f ms", c.store_ms);
				snprintf(load, sizeof(load), "%.1f s", c.store_load_s);
				snprintf(rd, sizeof(rd), "%.1f s", c.store_read_s);
			}
			double excl_s = (double)c.n / reg_rate;
			printf("%9zu %3u %5zu | %6.0f us %6.2fx %6zu %5zu %4zu | %6.0f us %5.2fx | %9s %7s %7s | %6.2fs | "
			       "%zu registrations: %.1f s at that rate, %.0fx this eviction\n", c.n, c.d, c.depth,
			       c.gcks_us, c.gcks_us / f.sign_us, c.octets, c.dgrams, c.nwraps, c.member_us,
			       c.member_us / f.verify_us, store, load, rd, c.build_s, c.n, excl_s,
			       excl_s * 1e6 / (c.gcks_us + (c.store ? c.store_ms * 1e3 : 0)));
			printf("%9s %3s %5s |   wrapped keys %zu = %.0f us of key wrap (%.0f%% of the GCKS CPU)", "", "", "",
			       c.nwraps, c.nwraps * f.wrap_us, 100.0 * c.nwraps * f.wrap_us / c.gcks_us);
			if (c.store)
				printf("; a new member's leaf: %.2f ms (durable transaction)", c.join_ms);
			printf("\n");
		}
	printf("\ntargets (issue): message size and CPU grow with log N (a few KB and a few ms at a million "
	       "members); member CPU under 1 ms\n");
	gk_wbuf_free(&sc.sig);
	EVP_PKEY_free(sc.k);
	return 0;
}
