/* Member-side cost of an LKH exclusion (RFC 9838 3.3, Appendix A.4): the CPU gmd spends on one
 * GSA_REKEY that excludes one member of a binary key tree of 2^depth members, for the member
 * with the most work (the excluded member's sibling: every key of its path but its own leaf key
 * is new, so its new key path is depth - 1 keys long), and for one in the other half of the
 * tree (an empty new path: the new Rekey SA key under its top key).
 *
 * The message is what the GCKS sends for it (each replaced key wrapped under the keys of its
 * children that stay, the new Rekey SA key under both top keys: 2 (depth - 1) - 1 WRAP_KEYs and
 * 2 SA_KEYs), signed with ECDSA P-256 and encrypted under the Rekey SA, fragmented at 1200
 * octets. Two timings, each the median over --seconds of repetitions:
 *   gm_rekey   gk_gm_groups_rekey_input for every datagram, what gmd does with it: reassembly,
 *              decryption, the signature check, decoding, the key path, the new Rekey SA
 *              (the member is registered again, untimed, before each repetition);
 *   key_path   gk_key_path_open alone on the decoded attributes.
 *
 *   bench_gm_lkh [--depth 10,17,20] [--seconds S]
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include "arena.h"
#include "auth.h"
#include "group_sa.h"
#include "ikekeys.h"
#include "key_path.h"
#include "keywrap.h"
#include "log.h"
#include "rand.h"
#include "rekey_msg.h"
#include "member/gm_groups.h"

#define KWA GK_KWA_KW_5649_256
#define MAX_DEPTH 24

static int64_t now_ms(void *ctx) { (void)ctx; return 0; }

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_gm_lkh: %s\n", what);
	exit(1);
}

static void kek(gk_group_sa *k, uint8_t seed)
{
	memset(k, 0, sizeof(*k));
	k->proto = GK_PROTO_GIKE_UPDATE;
	memset(k->spi, seed, 16);
	k->spi_len = 16;
	k->dst = (gk_ts_spec){ .family = 4, .start = { 239, 0, 0, 1 }, .end = { 239, 0, 0, 1 }, .ip_proto = 17,
			       .port_lo = 848, .port_hi = 848 };
	k->src = k->dst;
	k->encr = GK_ENCR_AES_CBC;
	k->encr_key_bits = 256;
	k->integ = GK_INTEG_HMAC_SHA2_256_128;
	k->kwa = KWA;
	k->lifetime = 86400;
	k->keymat_len = gk_group_keymat_len(k->proto, k->encr, k->encr_key_bits, k->integ, k->kwa);
	gk_rand_bytes(gk_rand_system(), k->keymat, k->keymat_len);
}

/* One exclusion in a tree of 2^depth leaves (heap order, node 1 the SA key): leaf 0 goes. */
typedef struct bench {
	unsigned depth;
	uint32_t nodes;
	uint32_t *id;
	uint8_t (*val)[32];
	gk_group_sa old, next;
	gk_arena ar;
	gk_attr sa[2], wrap[2 * MAX_DEPTH];
	gk_kh_wrapped ksa[2], kwrap[2 * MAX_DEPTH];
	size_t nwrap;
	gk_dgrams d;
	size_t octets;
} bench;

static uint32_t key_id_of(const bench *b, uint32_t n) { (void)b; return n; }

static void wrap_attr(bench *b, gk_attr *at, gk_kh_wrapped *kw, uint16_t type, uint32_t key, uint32_t kwk,
		      const uint8_t *kwk_val, const uint8_t *val, size_t len)
{
	gk_wbuf w;
	gk_wbuf_init(&w, 0);
	if (gk_wrapped_key_build(KWA, GK_CHUNK(kwk_val, 32), key, kwk, GK_CHUNK(val, len), &w))
		die("wrap");
	gk_chunk c = GK_CHUNK(gk_arena_dup(&b->ar, w.data, w.len), w.len);
	gk_wbuf_free(&w);
	*at = (gk_attr){ .type = type, .value = c };
	*kw = (gk_kh_wrapped){ .key_id = key, .kwk_id = kwk, .value = c };
}

static void build(bench *b, EVP_PKEY *sign)
{
	uint32_t leaves = 1u << b->depth;
	b->nodes = 2 * leaves;
	b->id = calloc(b->nodes, sizeof(*b->id));
	b->val = calloc(b->nodes, sizeof(*b->val));
	if (!b->id || !b->val)
		die("out of memory");
	/* only the nodes the bench touches get keys: the paths of leaf 0 and of the last leaf, and
	 * their siblings */
	for (uint32_t start = leaves; start <= 2 * leaves - 1; start += leaves - 1)
		for (uint32_t x = start; x > 1; x /= 2)
			for (uint32_t n = x & ~1u; n <= (x | 1u); n++)
				if (!b->id[n]) {
					b->id[n] = key_id_of(b, n);
					gk_rand_bytes(gk_rand_system(), b->val[n], 32);
				}
	gk_arena_init(&b->ar, 0);
	kek(&b->old, 1);
	kek(&b->next, 2);
	/* bottom up, as Appendix A.4: each key above leaf 0 is new, under its children that stay */
	uint32_t next_id = b->nodes;
	for (uint32_t n = leaves / 2; n > 1; n /= 2) {
		b->id[n] = next_id++;
		gk_rand_bytes(gk_rand_system(), b->val[n], 32);
		for (uint32_t c = 2 * n; c <= 2 * n + 1; c++) {
			if (c == leaves) /* the excluded leaf */
				continue;
			wrap_attr(b, &b->wrap[b->nwrap], &b->kwrap[b->nwrap], GK_MKBA_WRAP_KEY, b->id[n], b->id[c], b->val[c],
				  b->val[n], 32);
			b->nwrap++;
		}
	}
	for (uint32_t c = 2; c <= 3; c++)
		wrap_attr(b, &b->sa[c - 2], &b->ksa[c - 2], GK_GKBA_SA_KEY, 0, b->id[c], b->val[c], b->next.keymat,
			  b->next.keymat_len);
	gk_group_state *gs = calloc(1, sizeof(*gs));
	gk_pl_gsa gsa;
	gk_pl_kd kd0;
	gk_group_keys cur;
	if (!gs || gk_group_keys_split(GK_CHUNK(b->old.keymat, b->old.keymat_len), b->old.proto, b->old.encr,
				       b->old.encr_key_bits, b->old.integ, b->old.kwa, &cur))
		die("keys");
	gs->sas[gs->nsas++] = b->next;
	if (gk_group_state_encode(gs, GK_GSA_REKEY, KWA, cur.wrap, &b->ar, &gsa, &kd0))
		die("encode");
	free(gs);
	gk_key_bag bags[2] = {
		{ .proto = GK_PROTO_GIKE_UPDATE, .spi_size = 16, .spi = GK_CHUNK(b->next.spi, 16), .attrs = { b->sa, 2 } },
		{ .proto = 0, .attrs = { b->wrap, b->nwrap } },
	};
	gk_pl_kd kd = { .bags = { bags, 2 } };
	gk_out_pl pl[] = { { GK_PL_GSA, false, &gsa }, { GK_PL_KD, false, &kd } };
	gk_rekey_out o = { .msg_id = 1, .pl = pl, .npl = 2, .frag_mtu = 1200, .sign_key = sign,
			   .scheme = GK_SIG_ECDSA_SHA256,
			   .kek = { .encr = b->old.encr, .encr_key_bits = b->old.encr_key_bits, .integ = b->old.integ,
				    .enc = cur.enc, .integ_key = cur.integ } };
	memcpy(o.spi, b->old.spi, 16);
	if (gk_rekey_build(&o, gk_rand_system(), &b->d))
		die("GSA_REKEY build");
	for (size_t i = 0; i < b->d.n; i++)
		b->octets += b->d.d[i].len;
}

/* The registration the member core would report for member m: the current Rekey SA with the
 * GCKS's signing key, and its Working Key Path (from before the exclusion). */
static void registration(const bench *b, const uint32_t *old_id, uint8_t (*old_val)[32], uint32_t m,
			 const uint8_t *spki, size_t spki_len, gk_group_state *gs)
{
	memset(gs, 0, sizeof(*gs));
	gs->sas[0] = b->old;
	gs->sas[0].gcauth = GK_GCAUTH_DIGITAL_SIGNATURE;
	gs->sas[0].initial_msgid = 1;
	gk_chunk alg = gk_sig_algid(GK_SIG_ECDSA_SHA256);
	memcpy(gs->sas[0].sig_algid, alg.ptr, alg.len);
	gs->sas[0].sig_algid_len = alg.len;
	gs->nsas = 1;
	memcpy(gs->auth_key, spki, spki_len);
	gs->auth_key_len = spki_len;
	uint32_t path[MAX_DEPTH];
	size_t n = 0;
	for (uint32_t x = (1u << b->depth) + m; x > 1; x /= 2)
		path[n++] = x;
	for (size_t i = n; i-- > 0;) {
		gk_kh_key *k = &gs->wkp.keys[gs->wkp.n++];
		k->id = old_id[path[i]];
		k->len = 32;
		memcpy(k->key, old_val[path[i]], 32);
	}
}

static double median(double *t, size_t n)
{
	qsort(t, n, sizeof(*t), cmp_double);
	return n ? t[n / 2] : 0;
}

int main(int argc, char **argv)
{
	unsigned depths[8] = { 10, 17, 20 };
	size_t ndepth = 3;
	double seconds = 0.5;
	int c;
	while ((c = getopt_long(argc, argv, "", (const struct option[]){ { "depth", 1, NULL, 'd' },
									  { "seconds", 1, NULL, 's' }, { 0 } },
				NULL)) != -1) {
		if (c == 'd') {
			ndepth = 0;
			for (char *p = strtok(optarg, ","); p && ndepth < 8; p = strtok(NULL, ","))
				depths[ndepth++] = (unsigned)atoi(p);
		} else if (c == 's') {
			seconds = atof(optarg);
		} else {
			fprintf(stderr, "usage: bench_gm_lkh [--depth 10,17,20] [--seconds S]\n");
			return 1;
		}
	}
	gk_log_init("bench_gm_lkh", GK_LOG_ERROR);
	EVP_PKEY *sign = EVP_EC_gen("P-256");
	unsigned char *spki = NULL;
	int spki_len = sign ? i2d_PUBKEY(sign, &spki) : -1;
	if (spki_len <= 0)
		die("P-256 key");
	gk_ident g;
	char why[GK_ERR_MAX];
	if (gk_ident_parse("keyid:bench-lkh", &g, why, sizeof(why)))
		die("group id");
	printf("%-8s %-10s %-8s %-6s %-8s %-14s %-14s\n", "members", "member", "wrapped", "dgrams", "octets",
	       "gm_rekey (ms)", "key_path (ms)");
	for (size_t di = 0; di < ndepth; di++) {
		bench b;
		memset(&b, 0, sizeof(b));
		b.depth = depths[di];
		if (b.depth < 2 || b.depth > MAX_DEPTH)
			die("--depth: 2 to 24");
		/* the keys before the exclusion, for the members' Working Key Paths */
		uint32_t nodes = 2u << b.depth;
		uint32_t *old_id = calloc(nodes, sizeof(*old_id));
		uint8_t (*old_val)[32] = calloc(nodes, 32);
		if (!old_id || !old_val)
			die("out of memory");
		build(&b, sign);
		/* build() replaced the keys above leaf 0 in place: rebuild the old ones from a copy
		 * taken before would need the whole tree; the ids of the replaced nodes moved on, so
		 * the old ones are the node numbers with the values kept here */
		memcpy(old_id, b.id, nodes * sizeof(*old_id));
		memcpy(old_val, b.val, (size_t)nodes * 32);
		for (uint32_t x = (1u << b.depth) / 2; x > 1; x /= 2) {
			old_id[x] = x; /* replaced: the member held key x with some value nobody needs */
			gk_rand_bytes(gk_rand_system(), old_val[x], 32);
		}
		uint32_t who[2] = { 1, (1u << b.depth) - 1 }; /* the sibling; one in the other half */
		for (size_t wi = 0; wi < 2; wi++) {
			gk_gm_groups *gm;
			gk_group_state *gs = calloc(1, sizeof(*gs));
			struct sockaddr_in peer = { .sin_family = AF_INET };
			/* first, untimed, with events: the member takes the new Rekey SA */
			FILE *ev = tmpfile();
			gk_gm_groups_env env = { .clock = { .now_ms = now_ms }, .events = ev };
			if (!gs || !ev || gk_gm_groups_new(&env, &g, 1, &gm))
				die("group manager");
			registration(&b, old_id, old_val, who[wi], spki, (size_t)spki_len, gs);
			gk_gm_groups_registered(gm, 0, gs, false);
			for (size_t i = 0; i < b.d.n; i++)
				gk_gm_groups_rekey_input(gm, 0, b.d.d[i].data, b.d.d[i].len, (struct sockaddr *)&peer);
			char line[4096];
			bool replaced = false;
			rewind(ev);
			while (fgets(line, sizeof(line), ev)) {
				if (strstr(line, "rejected") || strstr(line, "excluded") || strstr(line, "refused"))
					die(line);
				replaced |= strstr(line, "rekey_sa_replaced") != NULL;
			}
			if (!replaced)
				die("the member did not take the new Rekey SA");
			gk_gm_groups_free(gm);
			fclose(ev);
			env.events = NULL;
			if (gk_gm_groups_new(&env, &g, 1, &gm))
				die("group manager");
			size_t cap = 100000, n = 0, nk = 0;
			double *t = calloc(cap, sizeof(double)), *tk = calloc(cap, sizeof(double));
			if (!t || !tk)
				die("out of memory");
			double until = now_s() + seconds;
			for (int rep = 0; (rep < 3 || now_s() < until) && n < cap; rep++) {
				registration(&b, old_id, old_val, who[wi], spki, (size_t)spki_len, gs);
				gk_gm_groups_registered(gm, 0, gs, false);
				double t0 = now_s();
				for (size_t i = 0; i < b.d.n; i++)
					gk_gm_groups_rekey_input(gm, 0, b.d.d[i].data, b.d.d[i].len, (struct sockaddr *)&peer);
				double t1 = now_s();
				if (rep >= 3)
					t[n++] = (t1 - t0) * 1e3;
			}
			/* the key path alone */
			registration(&b, old_id, old_val, who[wi], spki, (size_t)spki_len, gs);
			until = now_s() + seconds;
			uint8_t km[GK_KEYMAT_MAX] = { 0 };
			gk_key_path out;
			for (int rep = 0; (rep < 3 || now_s() < until) && nk < cap; rep++) {
				gk_key_path_in in = { .wkp = &gs->wkp, .gsk_w = GK_CHUNK(km, 32), .kwa_w = KWA, .kwa = KWA,
						      .wrap_keys = b.kwrap, .nwrap = b.nwrap, .sa_keys = b.ksa, .nsa = 2,
						      .keymat_len = b.next.keymat_len };
				double t0 = now_s();
				gk_status st = gk_key_path_open(&in, km, &out, why, sizeof(why));
				double t1 = now_s();
				if (st)
					die(why);
				if (rep >= 3)
					tk[nk++] = (t1 - t0) * 1e3;
			}
			printf("%-8u %-10s %-8zu %-6zu %-8zu %-14.3f %-14.4f\n", 1u << b.depth, wi ? "far" : "sibling",
			       b.nwrap + 2, b.d.n, b.octets, median(t, n), median(tk, nk));
			gk_group_state_wipe(gs);
			free(gs);
			free(t);
			free(tk);
			gk_gm_groups_free(gm);
		}
		gk_dgrams_free(&b.d);
		gk_arena_free(&b.ar);
		OPENSSL_clear_free(b.val, (size_t)b.nodes * 32);
		OPENSSL_clear_free(old_val, (size_t)nodes * 32);
		free(b.id);
		free(old_id);
	}
	OPENSSL_free(spki);
	EVP_PKEY_free(sign);
	return 0;
}
