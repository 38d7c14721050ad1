/* Rekey benchmark (make bench): the time to build and sign one GSA_REKEY
 * for a group of 10, 1,000 and 100,000 members, and its size, for ECDSA P-256, Ed25519 and
 * RSA-3072 GCKS signing keys. Without eviction a GSA_REKEY carries the group's SAs and nothing
 * per member, so neither its time nor its size may grow with the member count: the ratios
 * against the 10-member group show it.
 *
 * For each member count a GCKS database is made (a multicast group with one ESP SA and that
 * many PSK members, loaded through the policy file loader as `gcksctl policy load` does), and
 * for each signing key a GCKS core is opened on it (gk_gcks_new, as gcksd does). Two timings:
 *   build+sign  GSA and KD encoded from the group's current keys (gk_group_state_encode, the
 *               way gcks_rekey.c does), then gk_rekey_build: the signature over A|P (RFC 9838
 *               2.4.1.1), encryption under the Rekey SA, fragmentation;
 *   rekey       gk_gcks_rekey, what `gcksctl rekey GROUP` runs in gcksd: new keys committed
 *               durably (SQLite, fsync) before the message leaves, then the message built,
 *               signed and handed to the multicast sender (captured here for its size).
 * Each cell gets --seconds (default 0.5) of repetitions, after 3 untimed ones; the member counts
 * take turns in 10 rounds so that a busy moment of the machine hits them alike, and the figure
 * is the median time of one message (fsync makes the rekey times jumpy).
 *
 *   bench_rekey [--members 10,1000,100000] [--seconds S] [--dir DIR]
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include "arena.h"
#include "auth.h"
#include "gcks/gcks.h"
#include "gcks/policy_yaml.h"
#include "gcks/storage.h"
#include "gcks/gcks_keyrules.h"
#include "group_sa.h"
#include "iana.h"
#include "ikekeys.h"
#include "log.h"
#include "rekey_msg.h"

#define GROUP "keyid:bench-rekey"
#define MAX_COUNTS 8

static const struct {
	const char *name, *alg, *param;
	size_t bits;
} keytypes[] = {
	{ "ECDSA P-256", "EC", "P-256", 0 },
	{ "Ed25519", "ED25519", NULL, 0 },
	{ "RSA-3072", "RSA", NULL, 3072 },
};
#define NKEYS (sizeof(keytypes) / sizeof(keytypes[0]))

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Median of the samples (sorts them). */
static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#define MAX_SAMPLES 100000
#define ROUNDS 10

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* ---- the GCKS environment: multicast sends are captured, not sent ---- */

typedef struct capture {
	size_t datagrams, octets, largest;
} capture;

static void mcast_capture(void *ctx, const struct sockaddr *dst, uint16_t sport, uint8_t ttl, const char *iface,
			  const uint8_t *data, size_t len)
{
	capture *c = ctx;
	(void)dst;
	(void)sport;
	(void)ttl;
	(void)iface;
	(void)data;
	c->datagrams++;
	c->octets += len;
	if (len > c->largest)
		c->largest = len;
}

static void unicast_none(void *ctx, const struct sockaddr *local, const struct sockaddr *peer,
			 const uint8_t *data, size_t len)
{
	(void)ctx;
	(void)local;
	(void)peer;
	(void)data;
	(void)len;
}

static int64_t clock_ms(void *ctx)
{
	(void)ctx;
	return (int64_t)(now_s() * 1000);
}

/* ---- setup ---- */

/* The group policy with n PSK members, through the policy file loader. */
static char *policy_yaml(unsigned long n, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	if (!f)
		return NULL;
	fputs("id: " GROUP "\n"
	      "activation-delay: 5s\n"
	      "deactivation-delay: 30s\n"
	      "rekey:\n"
	      "  transport: multicast\n"
	      "  key-wrap: kw-5649-256\n"
	      "  address: 239.192.0.1\n"
	      "  copies: 1\n"
	      "sas:\n"
	      "  - name: video\n"
	      "    encryption: aes-gcm-16\n"
	      "    key-length: 256\n"
	      "    source: 192.0.2.10\n"
	      "    destination: 239.192.1.1\n"
	      "    ip-protocol: udp\n"
	      "    ports: 5004\n"
	      "members:\n", f);
	for (unsigned long i = 0; i < n; i++)
		fprintf(f, "  - id: fqdn:gm-%lu.bench.example\n"
			   "    psk: 0x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n", i);
	fclose(f);
	return buf;
}

static char *key_pem(EVP_PKEY *k)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *out = NULL, *p;
	if (b && PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL)) {
		long n = BIO_get_mem_data(b, &p);
		if ((out = malloc((size_t)n + 1))) {
			memcpy(out, p, (size_t)n);
			out[n] = 0;
		}
	}
	BIO_free(b);
	return out;
}

static EVP_PKEY *keygen(size_t i)
{
	if (keytypes[i].bits)
		return EVP_PKEY_Q_keygen(NULL, NULL, keytypes[i].alg, keytypes[i].bits);
	if (keytypes[i].param)
		return EVP_PKEY_Q_keygen(NULL, NULL, keytypes[i].alg, keytypes[i].param);
	return EVP_PKEY_Q_keygen(NULL, NULL, keytypes[i].alg);
}

static int make_store(const char *path, unsigned long members, double *load_s)
{
	gk_store *s;
	gk_store_err err;
	gk_diag diag;
	gk_group_policy *groups = NULL;
	size_t ngroups = 0, len = 0;
	bool changed;
	int rc = -1;
	unlink(path);
	if (gk_store_open(path, true, &s, &err)) {
		fprintf(stderr, "bench_rekey: %s\n", err.msg);
		return -1;
	}
	char *yaml = policy_yaml(members, &len);
	gk_diag_init(&diag);
	double t0 = now_s();
	if (yaml && gk_policy_yaml_load_buf("bench.yaml", yaml, len, &groups, &ngroups, &diag) == GK_OK &&
	    ngroups == 1 && gk_keys_group_put(s, &groups[0], "bench", "bench_rekey", (int64_t)time(NULL), &changed) == GK_OK) {
		rc = 0;
	} else {
		gk_diag_print(&diag, stderr);
		fprintf(stderr, "bench_rekey: cannot store the policy: %s\n", gk_store_errmsg(s));
	}
	*load_s = now_s() - t0;
	gk_diag_free(&diag);
	gk_policy_yaml_free(groups, ngroups);
	free(yaml);
	gk_store_close(s);
	return rc;
}

static int set_identity(const char *path, EVP_PKEY *k)
{
	gk_store *s;
	gk_store_err err;
	gk_gcks_identity id;
	const char *why;
	memset(&id, 0, sizeof(id));
	if (gk_store_open(path, false, &s, &err)) {
		fprintf(stderr, "bench_rekey: %s\n", err.msg);
		return -1;
	}
	gk_ident_parse("fqdn:gcks.bench.example", &id.id, &why);
	id.sign_key_pem = key_pem(k);
	int rc = id.sign_key_pem && gk_store_identity_set(s, &id, "bench", (int64_t)time(NULL)) == GK_OK ? 0 : -1;
	free(id.sign_key_pem);
	gk_store_close(s);
	return rc;
}

/* ---- build+sign, as gcks_rekey.c does it ---- */

/* The group's current SAs as a rekey announces them: every TEK and a new Rekey SA. */
static void group_state(const gk_gcks_group_info *gi, gk_chunk sig_algid, gk_group_state *gs)
{
	const gk_group_policy *pol = gi->pol;
	memset(gs, 0, sizeof(*gs));
	for (size_t j = 0; j < gi->nkeys && gs->nsas < GK_GROUP_MAX_SAS; j++) {
		const gk_sa_key *k = &gi->keys[j];
		gk_group_sa *sa = &gs->sas[gs->nsas++];
		sa->spi_len = k->spi_len;
		memcpy(sa->spi, k->spi, k->spi_len);
		memcpy(sa->keymat, k->keymat, k->keymat_len);
		sa->keymat_len = k->keymat_len;
		sa->lifetime = 3600;
		if (k->tek_index >= 0) {
			const gk_tek_policy *t = &pol->teks[k->tek_index];
			sa->proto = t->proto;
			sa->src = t->src;
			sa->dst = t->dst;
			sa->encr = t->encr;
			sa->encr_key_bits = t->encr_key_bits;
			sa->integ = t->integ;
			sa->sn = t->sn;
		} else {
			const gk_kek_policy *p = &pol->kek;
			sa->proto = GK_PROTO_GIKE_UPDATE;
			sa->src = p->src;
			sa->dst = p->dst;
			sa->encr = p->encr;
			sa->encr_key_bits = p->encr_key_bits;
			sa->integ = p->integ;
			sa->kwa = p->kwa;
			sa->gcauth = p->gcauth;
			memcpy(sa->sig_algid, sig_algid.ptr, sig_algid.len);
			sa->sig_algid_len = sig_algid.len;
		}
	}
	gs->atd = pol->atd;
	gs->has_atd = pol->atd != 0;
	gs->dtd = pol->dtd;
	gs->has_dtd = pol->dtd != 0;
}

typedef struct result {
	double *build, *rekey;         /* samples, seconds per message */
	size_t nbuild, nrekey;
	double build_s, rekey_s;       /* medians */
	size_t build_dgrams;
	capture rk;                    /* of one gk_gcks_rekey */
} result;

static gk_status build_once(const gk_gcks_group_info *gi, EVP_PKEY *key, gk_sig_scheme scheme, uint32_t msgid,
			    gk_dgrams *d)
{
	const gk_kek_policy *kp = &gi->pol->kek;
	const gk_sa_key *kek = NULL;
	for (size_t j = 0; j < gi->nkeys; j++)
		if (gi->keys[j].tek_index < 0)
			kek = &gi->keys[j];
	if (!kek)
		return GK_E_STATE;
	gk_group_keys gk;
	gk_status st = gk_group_keys_split(GK_CHUNK(kek->keymat, kek->keymat_len), GK_PROTO_GIKE_UPDATE, kp->encr,
					   kp->encr_key_bits, kp->integ, kp->kwa, &gk);
	if (st)
		return st;
	gk_group_state *gs = OPENSSL_zalloc(sizeof(*gs));
	if (!gs)
		return GK_E_NOMEM;
	group_state(gi, gk_sig_algid(scheme), gs);
	/* the Delete of the replaced ESP SA a rekey carries */
	static const uint8_t old_spi[4] = { 0x12, 0x34, 0x56, 0x78 };
	gk_chunk del_spi = GK_CHUNK(old_spi, 4);
	gk_pl_delete del = { .proto = GK_PROTO_ESP, .spi_size = 4, .spis = { &del_spi, 1 } };
	gk_arena a;
	gk_arena_init(&a, 0);
	gk_pl_gsa gsa;
	gk_pl_kd kd;
	st = gk_group_state_encode(gs, GK_GSA_REKEY, kp->kwa, gk.wrap, &a, &gsa, &kd);
	if (!st) {
		gk_out_pl pl[3] = { { GK_PL_GSA, false, &gsa }, { GK_PL_KD, false, &kd }, { GK_PL_DELETE, false, &del } };
		gk_rekey_out o = { .msg_id = msgid, .pl = pl, .npl = 3, .frag_mtu = kp->frag_mtu, .sign_key = key,
				   .scheme = scheme,
				   .kek = { .encr = kp->encr, .encr_key_bits = kp->encr_key_bits, .integ = kp->integ,
					    .enc = gk.enc, .integ_key = gk.integ } };
		memcpy(o.spi, kek->spi, 16);
		st = gk_rekey_build(&o, gk_rand_system(), d);
	}
	gk_arena_free(&a);
	OPENSSL_clear_free(gs, sizeof(*gs));
	return st;
}

/* One GCKS core on one database (one member count). */
typedef struct cell {
	gk_store *store;
	gk_gcks *g;
	gk_gcks_group_info gi;
	capture cap;
	uint32_t msgid;
} cell;

static int cell_open(cell *c, const char *db)
{
	gk_store_err err;
	char msg[512];
	memset(c, 0, sizeof(*c));
	if (gk_store_open(db, false, &c->store, &err)) {
		fprintf(stderr, "bench_rekey: %s\n", err.msg);
		return -1;
	}
	gk_gcks_config cfg;
	gk_gcks_config_default(&cfg);
	gk_gcks_env env = { .rnd = gk_rand_system(), .now_ms = clock_ms, .send = unicast_none, .store = c->store,
			    .send_multicast = mcast_capture, .send_ctx = &c->cap };
	if (gk_gcks_new(&cfg, &env, &c->g, msg, sizeof(msg)) || gk_gcks_groups(c->g, &c->gi, 1) != 1) {
		fprintf(stderr, "bench_rekey: %s\n", c->g ? "no group" : msg);
		return -1;
	}
	return 0;
}

static void cell_close(cell *c)
{
	gk_gcks_free(c->g);
	gk_store_close(c->store);
}

/* A batch of build+sign and of rekeys on one cell, about `seconds` each, samples appended. */
static int batch(cell *c, EVP_PKEY *key, gk_sig_scheme scheme, double seconds, bool warmup, result *r)
{
	char msg[512];
	double start = now_s();
	for (size_t k = 0; (warmup ? k < 3 : now_s() - start < seconds || k < 2) && r->nbuild < MAX_SAMPLES; k++) {
		gk_dgrams d = { 0 };
		/* the group's keys as the GCKS holds them now (a rekey below replaces them) */
		gk_gcks_groups(c->g, &c->gi, 1);
		double t0 = now_s();
		if (build_once(&c->gi, key, scheme, c->msgid++, &d)) {
			fprintf(stderr, "bench_rekey: gk_rekey_build failed\n");
			return -1;
		}
		double t = now_s() - t0;
		if (!warmup)
			r->build[r->nbuild++] = t;
		r->build_dgrams = d.n;
		gk_dgrams_free(&d);
	}
	start = now_s();
	for (size_t k = 0; (warmup ? k < 3 : now_s() - start < seconds || k < 2) && r->nrekey < MAX_SAMPLES; k++) {
		c->cap = (capture){ 0 };
		double t0 = now_s();
		if (gk_gcks_rekey(c->g, GROUP, msg, sizeof(msg))) {
			fprintf(stderr, "bench_rekey: gk_gcks_rekey: %s\n", msg);
			return -1;
		}
		double t = now_s() - t0;
		if (!warmup)
			r->rekey[r->nrekey++] = t;
		if (!c->cap.datagrams) {
			fprintf(stderr, "bench_rekey: gk_gcks_rekey sent nothing\n");
			return -1;
		}
		r->rk = c->cap;
	}
	return 0;
}

static size_t parse_counts(const char *s, unsigned long *out)
{
	size_t n = 0;
	char *end;
	while (*s && n < MAX_COUNTS) {
		out[n++] = strtoul(s, &end, 10);
		s = *end == ',' ? end + 1 : end;
		if (end == s && *s)
			break;
	}
	return n;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "members", required_argument, NULL, 'm' }, { "seconds", required_argument, NULL, 's' },
		{ "dir", required_argument, NULL, 'd' }, { "help", no_argument, NULL, 'h' }, { 0 },
	};
	unsigned long counts[MAX_COUNTS] = { 10, 1000, 100000 };
	size_t ncounts = 3;
	double seconds = 0.5;
	const char *dir = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'm': ncounts = parse_counts(optarg, counts); break;
		case 's': seconds = atof(optarg); break;
		case 'd': dir = optarg; break;
		case 'h':
			puts("usage: bench_rekey [--members 10,1000,100000] [--seconds S] [--dir DIR]");
			return 0;
		default: return 2;
		}
	}
	if (!ncounts || counts[0] == 0) {
		fprintf(stderr, "bench_rekey: --members: a comma-separated list of member counts\n");
		return 2;
	}
	gk_log_init("bench_rekey", GK_LOG_WARN);
	char tmpl[] = "/tmp/gikev2-bench-rekey.XXXXXX";
	char made[4096] = "";
	if (!dir) {
		if (!mkdtemp(tmpl)) {
			perror("bench_rekey: mkdtemp");
			return 1;
		}
		dir = tmpl;
		snprintf(made, sizeof(made), "%s", tmpl);
	}

	EVP_PKEY *keys[NKEYS] = { 0 };
	for (size_t k = 0; k < NKEYS; k++)
		if (!(keys[k] = keygen(k))) {
			fprintf(stderr, "bench_rekey: cannot make a %s key\n", keytypes[k].name);
			return 1;
		}
	static result res[MAX_COUNTS][NKEYS];
	static char dbs[MAX_COUNTS][4300];
	int rc = 0;
	printf("== GSA_REKEY build and sign (one multicast group, 1 ESP SA + new Rekey SA, AES-GCM-16/256, "
	       "KW-5649-256; %.1f s per cell, member counts interleaved in %d rounds)\n", seconds, ROUNDS);
	for (size_t i = 0; i < ncounts && !rc; i++) {
		double load_s;
		snprintf(dbs[i], sizeof(dbs[i]), "%s/bench-rekey-%lu.db", dir, counts[i]);
		if (make_store(dbs[i], counts[i], &load_s)) {
			rc = 1;
			break;
		}
		printf("# %lu members: policy loaded and stored in %.2f s\n", counts[i], load_s);
		fflush(stdout);
	}
	for (size_t k = 0; k < NKEYS && !rc; k++) {
		cell cells[MAX_COUNTS];
		size_t opened = 0;
		gk_sig_scheme scheme;
		if (gk_sig_scheme_for_key(keys[k], &scheme))
			rc = 1;
		for (size_t i = 0; i < ncounts && !rc; i++) {
			result *r = &res[i][k];
			r->build = malloc(MAX_SAMPLES * sizeof(double));
			r->rekey = malloc(MAX_SAMPLES * sizeof(double));
			if (!r->build || !r->rekey || set_identity(dbs[i], keys[k]) || cell_open(&cells[i], dbs[i]))
				rc = 1;
			else
				opened++;
		}
		/* rounds over the member counts, so that a busy moment of the machine hits all alike */
		for (int round = -1; round < ROUNDS && !rc; round++)
			for (size_t i = 0; i < ncounts && !rc; i++)
				if (batch(&cells[i], keys[k], scheme, seconds / ROUNDS, round < 0, &res[i][k]))
					rc = 1;
		for (size_t i = 0; i < opened; i++)
			cell_close(&cells[i]);
		for (size_t i = 0; i < ncounts && !rc; i++) {
			res[i][k].build_s = median(res[i][k].build, res[i][k].nbuild);
			res[i][k].rekey_s = median(res[i][k].rekey, res[i][k].nrekey);
		}
		for (size_t i = 0; i < ncounts; i++) {
			free(res[i][k].build);
			free(res[i][k].rekey);
		}
	}
	if (!rc) {
		printf("%-12s %9s | %12s %7s | %12s %7s | %9s %6s\n", "signing key", "members", "build+sign", "ratio",
		       "rekey", "ratio", "octets", "dgrams");
		for (size_t k = 0; k < NKEYS; k++)
			for (size_t i = 0; i < ncounts; i++) {
				const result *r = &res[i][k], *r0 = &res[0][k];
				printf("%-12s %9lu | %9.1f us %6.2fx | %9.1f us %6.2fx | %9zu %6zu\n", keytypes[k].name,
				       counts[i], r->build_s * 1e6, r->build_s / r0->build_s, r->rekey_s * 1e6,
				       r->rekey_s / r0->rekey_s, r->rk.octets, r->rk.datagrams);
			}
		printf("build+sign: GSA/KD encoding + gk_rekey_build (signature over A|P, encryption) per message;\n"
		       "rekey: gk_gcks_rekey (gcksctl rekey): durable key rotation in SQLite, then build, sign, send;\n"
		       "octets/dgrams: the GSA_REKEY gk_gcks_rekey sent (fragment-mtu 1280). Ratios: against %lu members.\n",
		       counts[0]);
		/* the message must not depend on the member count */
		for (size_t k = 0; k < NKEYS; k++)
			for (size_t i = 1; i < ncounts; i++)
				if (res[i][k].build_dgrams != res[0][k].build_dgrams ||
				    res[i][k].rk.datagrams != res[0][k].rk.datagrams) {
					printf("NOTE: %s: the message changed shape with the member count\n", keytypes[k].name);
					rc = 1;
				}
	}
	for (size_t k = 0; k < NKEYS; k++)
		EVP_PKEY_free(keys[k]);
	for (size_t i = 0; i < ncounts; i++) {
		const char *sfx[] = { "", "-wal", "-shm" };
		for (size_t j = 0; j < 3 && dbs[i][0]; j++) {
			char p[4400];
			snprintf(p, sizeof(p), "%.4299s%s", dbs[i], sfx[j]);
			unlink(p);
		}
	}
	if (made[0])
		rmdir(made);
	return rc;
}
