/* gmd's group manager (member/gm_groups.c) following an LKH key tree (RFC 9838 3.3, Appendix A)
 * with 256 members in one process: each member is its own group manager, registered with the
 * Working Key Path the member core gives it, and every GSA_REKEY is a real datagram (GSA and KD
 * payloads, encrypted under the Rekey SA) handed to all of them. The GCKS side is a small
 * binary key tree built here as Appendix A.4 builds it: on each exclusion every key above the
 * excluded leaves is replaced, each new key is wrapped under the keys of the children that
 * stay, and the new Rekey SA key under the top keys. After each step every remaining member
 * must accept a GSA_REKEY under the new Rekey SA, every excluded member must have excluded
 * itself, and no key an excluded member ever held opens anything the exclusion sent. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include "testutil.h"
#include "algs.h"
#include "arena.h"
#include "group_sa.h"
#include "ikekeys.h"
#include "keywrap.h"
#include "log.h"
#include "rand.h"
#include "rekey_msg.h"
#include "member/gm_groups.h"

#define DEPTH 8                     /* 256 leaves */
#define LEAVES (1u << DEPTH)
#define NODES (2 * LEAVES)          /* heap order: 1 = the SA key, 2..3 the top keys, leaves last */
#define KWA GK_KWA_KW_5649_256
#define MAX_HELD 64

static int64_t clock_ms;
static int64_t fake_now(void *ctx) { (void)ctx; return clock_ms; }

/* The GCKS's tree. */
static uint32_t key_id[NODES];
static uint8_t key_val[NODES][32];
static bool gone[NODES];            /* a leaf whose member was excluded */
static uint32_t next_id;
static gk_group_sa kek_cur;         /* the current Rekey SA */
static uint8_t kek_seed;
static uint32_t msg_id;

/* The members. */
typedef struct member {
	gk_gm_groups *g;
	FILE *events;
	long pos;
	bool excluded;
	uint8_t held[MAX_HELD][32];     /* every intermediate key it was ever given */
	size_t nheld;
} member;
static member mem[LEAVES];

static void fresh_key(uint32_t n)
{
	key_id[n] = next_id++;
	gk_rand_bytes(gk_rand_system(), key_val[n], 32);
}

static void new_kek(gk_group_sa *k)
{
	memset(k, 0, sizeof(*k));
	k->proto = GK_PROTO_GIKE_UPDATE;
	memset(k->spi, ++kek_seed, 16);
	k->spi_len = 16;
	k->dst = (gk_ts_spec){ .family = 4, .start = { 239, 0, 0, 1 }, .end = { 239, 0, 0, 1 }, .ip_proto = 17,
			       .port_lo = 848, .port_hi = 848 };
	k->src = k->dst;
	k->encr = GK_ENCR_AES_CBC;
	k->encr_key_bits = 256;
	k->integ = GK_INTEG_HMAC_SHA2_256_128;
	k->kwa = KWA;
	k->gcauth = GK_GCAUTH_IMPLICIT; /* at registration; rekeys carry no GCAUTH */
	k->lifetime = 86400;
	k->keymat_len = gk_group_keymat_len(k->proto, k->encr, k->encr_key_bits, k->integ, k->kwa);
	gk_rand_bytes(gk_rand_system(), k->keymat, k->keymat_len);
}

/* The path of leaf m as the member keeps it: the top key first, its own leaf key last. */
static void path_of(unsigned m, gk_key_path *p)
{
	uint32_t nodes[DEPTH];
	size_t n = 0;
	for (uint32_t x = LEAVES + m; x > 1; x /= 2)
		nodes[n++] = x;
	p->n = 0;
	for (size_t i = n; i-- > 0;) {
		gk_kh_key *k = &p->keys[p->n++];
		k->id = key_id[nodes[i]];
		k->len = 32;
		memcpy(k->key, key_val[nodes[i]], 32);
	}
}

static void remember(member *mb, const uint8_t *k)
{
	for (size_t i = 0; i < mb->nheld; i++)
		if (!memcmp(mb->held[i], k, 32))
			return;
	ck_assert_uint_lt(mb->nheld, MAX_HELD);
	memcpy(mb->held[mb->nheld++], k, 32);
}

/* Member m registers as the member core reports it (gk_key_path_open_state at GSA_AUTH gave it
 * its path, tested in check_key_path): the current Rekey SA and its Working Key Path. */
static void register_member(unsigned m)
{
	member *mb = &mem[m];
	gk_group_state *gs = calloc(1, sizeof(*gs));
	ck_assert_ptr_nonnull(gs);
	gs->sas[gs->nsas++] = kek_cur;
	path_of(m, &gs->wkp);
	for (size_t i = 0; i < gs->wkp.n; i++)
		remember(mb, gs->wkp.keys[i].key);
	gk_gm_groups_registered(mb->g, 0, gs, false);
	gk_group_state_wipe(gs);
	free(gs);
	mb->excluded = false;
}

static void setup(void)
{
	gk_log_init("check_gm_lkh", getenv("GK_TEST_DEBUG") ? GK_LOG_DEBUG : GK_LOG_ERROR);
	gk_ident g;
	char why[GK_ERR_MAX] = "";
	ck_assert_int_eq(gk_ident_parse("keyid:lkh-1", &g, why, sizeof(why)), GK_OK);
	memset(gone, 0, sizeof(gone));
	next_id = 1;
	kek_seed = 0;
	msg_id = 0;
	for (uint32_t n = 2; n < NODES; n++)
		fresh_key(n);
	new_kek(&kek_cur);
	for (unsigned m = 0; m < LEAVES; m++) {
		member *mb = &mem[m];
		memset(mb, 0, sizeof(*mb));
		mb->events = tmpfile();
		ck_assert_ptr_nonnull(mb->events);
		gk_gm_groups_env env = { .clock = { .now_ms = fake_now }, .events = mb->events };
		ck_assert_int_eq(gk_gm_groups_new(&env, &g, 1, &mb->g), GK_OK);
		register_member(m);
	}
}

static void teardown(void)
{
	for (unsigned m = 0; m < LEAVES; m++) {
		gk_gm_groups_free(mem[m].g);
		fclose(mem[m].events);
	}
}

/* Member m's event lines since the last call (static buffer). */
static const char *events_of(unsigned m)
{
	static char buf[32768];
	member *mb = &mem[m];
	size_t n = 0;
	fflush(mb->events);
	fseek(mb->events, mb->pos, SEEK_SET);
	while (n + 1 < sizeof(buf) && fgets(buf + n, (int)(sizeof(buf) - n), mb->events))
		n += strlen(buf + n);
	buf[n] = 0;
	mb->pos = ftell(mb->events);
	return buf;
}

static bool live(uint32_t n)
{
	if (n >= LEAVES)
		return !gone[n];
	return live(2 * n) || live(2 * n + 1);
}

typedef struct msg {
	gk_arena ar;
	gk_attr sa[2 * DEPTH + 2];
	size_t nsa;
	gk_attr wrap[4 * LEAVES];
	size_t nwrap;
} msg;

static gk_chunk wrap_into(msg *mg, uint32_t key, uint32_t kwk, const uint8_t *kwk_val, const uint8_t *val, size_t len)
{
	gk_wbuf w;
	gk_wbuf_init(&w, 0);
	ck_assert_int_eq(gk_wrapped_key_build(KWA, GK_CHUNK(kwk_val, 32), key, kwk, GK_CHUNK(val, len), &w), GK_OK);
	gk_chunk c = GK_CHUNK(gk_arena_dup(&mg->ar, w.data, w.len), w.len);
	gk_wbuf_free(&w);
	return c;
}

/* One GSA_REKEY under the current Rekey SA with the new one (next) in GSA and KD as built in
 * mg, sent to every member. */
static void send_rekey(msg *mg, const gk_group_sa *next)
{
	gk_group_state *gs = calloc(1, sizeof(*gs));
	gk_pl_gsa gsa;
	gk_pl_kd kd_default;
	ck_assert_ptr_nonnull(gs);
	gs->sas[gs->nsas++] = *next;
	gk_group_keys cur;
	ck_assert_int_eq(gk_group_keys_split(GK_CHUNK(kek_cur.keymat, kek_cur.keymat_len), kek_cur.proto, kek_cur.encr,
					     kek_cur.encr_key_bits, kek_cur.integ, kek_cur.kwa, &cur), GK_OK);
	ck_assert_int_eq(gk_group_state_encode(gs, GK_GSA_REKEY, KWA, cur.wrap, &mg->ar, &gsa, &kd_default), GK_OK);
	gk_group_state_wipe(gs);
	free(gs);
	/* KD: the new Rekey SA's key only under the keys of the tree, and the WRAP_KEYs */
	gk_key_bag bags[2] = {
		{ .proto = GK_PROTO_GIKE_UPDATE, .spi_size = 16, .spi = GK_CHUNK(next->spi, 16),
		  .attrs = { mg->sa, mg->nsa } },
		{ .proto = 0, .attrs = { mg->wrap, mg->nwrap } },
	};
	gk_pl_kd kd = { .bags = { bags, mg->nwrap ? 2 : 1 } };
	gk_out_pl pl[] = { { GK_PL_GSA, false, &gsa }, { GK_PL_KD, false, &kd } };
	gk_rekey_out o = { .msg_id = msg_id++, .pl = pl, .npl = 2, .frag_mtu = 1200,
			   .kek = { .encr = kek_cur.encr, .encr_key_bits = kek_cur.encr_key_bits, .integ = kek_cur.integ,
				    .enc = cur.enc, .integ_key = cur.integ } };
	memcpy(o.spi, kek_cur.spi, 16);
	gk_dgrams d;
	ck_assert_int_eq(gk_rekey_build(&o, gk_rand_system(), &d), GK_OK);
	struct sockaddr_in peer = { .sin_family = AF_INET };
	for (unsigned m = 0; m < LEAVES; m++)
		for (size_t i = 0; i < d.n; i++)
			gk_gm_groups_rekey_input(mem[m].g, 0, d.d[i].data, d.d[i].len, (struct sockaddr *)&peer);
	gk_dgrams_free(&d);
}

/* No key an excluded member ever held opens any wrapped key of the message. */
static void nothing_opens_for(unsigned m, const msg *mg)
{
	const member *mb = &mem[m];
	for (size_t h = 0; h < mb->nheld; h++) {
		gk_wbuf w;
		gk_wbuf_init(&w, 0);
		for (size_t i = 0; i < mg->nsa; i++)
			ck_assert_int_ne(gk_wrapped_key_open(KWA, GK_CHUNK(mb->held[h], 32), mg->sa[i].value, NULL, NULL, &w),
					 GK_OK);
		for (size_t i = 0; i < mg->nwrap; i++)
			ck_assert_int_ne(gk_wrapped_key_open(KWA, GK_CHUNK(mb->held[h], 32), mg->wrap[i].value, NULL, NULL,
							     &w), GK_OK);
		gk_wbuf_free(&w);
	}
}

/* Excludes the members in out (LEAVES entries, true = out) in one GSA_REKEY, as A.4 does. */
static size_t exclude_members(const bool *out)
{
	msg *mg = calloc(1, sizeof(*mg));
	ck_assert_ptr_nonnull(mg);
	gk_arena_init(&mg->ar, 0);
	bool changed[NODES] = { false };
	for (unsigned m = 0; m < LEAVES; m++)
		if (out[m]) {
			gone[LEAVES + m] = true;
			for (uint32_t x = (LEAVES + m) / 2; x > 1; x /= 2)
				changed[x] = true;
		}
	/* bottom up: a replaced key goes to each child subtree that keeps members */
	for (uint32_t n = LEAVES - 1; n > 1; n--) {
		if (!changed[n] || !live(n))
			continue;
		fresh_key(n);
		for (uint32_t c = 2 * n; c <= 2 * n + 1; c++)
			if (live(c))
				mg->wrap[mg->nwrap++] = (gk_attr){ .type = GK_MKBA_WRAP_KEY,
					.value = wrap_into(mg, key_id[n], key_id[c], key_val[c], key_val[n], 32) };
	}
	gk_group_sa next;
	new_kek(&next);
	for (uint32_t c = 2; c <= 3; c++)
		if (live(c))
			mg->sa[mg->nsa++] = (gk_attr){ .type = GK_GKBA_SA_KEY,
				.value = wrap_into(mg, 0, key_id[c], key_val[c], next.keymat, next.keymat_len) };
	send_rekey(mg, &next);
	size_t nwrap = mg->nwrap;
	for (unsigned m = 0; m < LEAVES; m++) {
		if (out[m]) {
			nothing_opens_for(m, mg);
			const char *ev = events_of(m);
			if (!mem[m].excluded)
				ck_assert_msg(strstr(ev, "\"event\":\"excluded\"") &&
					      strstr(ev, "no key path to any SA_KEY: excluded"), "member %u: %s", m, ev);
			mem[m].excluded = true;
		}
	}
	kek_cur = next;
	/* the members that stay learnt the new keys on their path */
	for (unsigned m = 0; m < LEAVES; m++)
		if (!gone[LEAVES + m]) {
			gk_key_path p;
			path_of(m, &p);
			for (size_t i = 0; i < p.n; i++)
				remember(&mem[m], p.keys[i].key);
		}
	gk_arena_free(&mg->ar);
	free(mg);
	return nwrap;
}

/* Everyone still in follows a plain rekey under the new Rekey SA (A.3: GSK_w{K}); every
 * excluded member never sees it open. */
static void everyone_follows(void)
{
	msg *mg = calloc(1, sizeof(*mg));
	ck_assert_ptr_nonnull(mg);
	gk_arena_init(&mg->ar, 0);
	for (unsigned m = 0; m < LEAVES; m++)
		events_of(m);
	gk_group_sa next;
	new_kek(&next);
	gk_group_keys cur;
	ck_assert_int_eq(gk_group_keys_split(GK_CHUNK(kek_cur.keymat, kek_cur.keymat_len), kek_cur.proto, kek_cur.encr,
					     kek_cur.encr_key_bits, kek_cur.integ, kek_cur.kwa, &cur), GK_OK);
	gk_wbuf w;
	gk_wbuf_init(&w, 0);
	ck_assert_int_eq(gk_wrapped_key_build(KWA, cur.wrap, 0, 0, GK_CHUNK(next.keymat, next.keymat_len), &w), GK_OK);
	mg->sa[mg->nsa++] = (gk_attr){ .type = GK_GKBA_SA_KEY, .value = GK_CHUNK(gk_arena_dup(&mg->ar, w.data, w.len), w.len) };
	gk_wbuf_free(&w);
	msg_id = 0; /* a Rekey SA received in a rekey starts at Message ID 0 (RFC 9838 2.4.1.4) */
	send_rekey(mg, &next);
	for (unsigned m = 0; m < LEAVES; m++) {
		const char *ev = events_of(m);
		bool acc = strstr(ev, "\"event\":\"rekey_accepted\"") != NULL;
		ck_assert_msg(acc == !gone[LEAVES + m], "member %u (%s): %s", m, gone[LEAVES + m] ? "out" : "in", ev);
	}
	kek_cur = next;
	msg_id = 0;
	gk_arena_free(&mg->ar);
	free(mg);
}

/* One member out: 2 * (DEPTH - 1) - 1 WRAP_KEYs (each replaced key under its two children, but
 * the lowest under its one remaining leaf), everyone else follows, the member cannot. */
START_TEST(exclude_one)
{
	bool out[LEAVES] = { false };
	out[37] = true;
	ck_assert_uint_eq(exclude_members(out), 2 * (DEPTH - 1) - 1);
	everyone_follows();
}
END_TEST

/* Several at once in one message (a batch), a whole subtree (the 8 leaves under one key), the
 * last member of a subtree, and exclusions following each other on the paths left by the
 * previous ones (each member's Working Key Path is what the last exclusion made of it). */
START_TEST(exclude_several_and_subtrees)
{
	bool out[LEAVES] = { false };
	out[0] = out[1] = out[200] = true; /* two siblings and one far away */
	exclude_members(out);
	everyone_follows();
	memset(out, 0, sizeof(out));
	for (unsigned m = 64; m < 72; m++) /* the subtree of one key, 3 levels up */
		out[m] = true;
	exclude_members(out);
	everyone_follows();
	memset(out, 0, sizeof(out));
	out[3] = true; /* 2 and 3 share a parent: 2 first, then the last one */
	exclude_members(out);
	everyone_follows();
	memset(out, 0, sizeof(out));
	out[2] = true;
	exclude_members(out);
	everyone_follows();
	for (unsigned m = 0; m < LEAVES; m++)
		ck_assert(mem[m].excluded == gone[LEAVES + m]);
}
END_TEST

/* Exclusions interleaved with joins: a member excluded and registered again (on its old leaf
 * with a new leaf key and the current path) follows the next exclusion of someone else; the
 * keys it held while excluded open nothing new. */
START_TEST(rejoin_after_exclusion)
{
	bool out[LEAVES] = { false };
	out[100] = true;
	exclude_members(out);
	everyone_follows();
	/* the GCKS lets 100 in again: a fresh leaf key (new Key ID) on a live leaf */
	gone[LEAVES + 100] = false;
	fresh_key(LEAVES + 100);
	register_member(100);
	events_of(100);
	memset(out, 0, sizeof(out));
	out[101] = true; /* its sibling */
	exclude_members(out);
	everyone_follows();
	ck_assert(!mem[100].excluded);
	ck_assert(mem[101].excluded);
}
END_TEST

/* A member forges (implicit authentication: every member holds the Rekey SA's keys) a GSA_REKEY
 * whose new Rekey SA key comes under a key of its own making, given to everyone under the Rekey
 * SA's GSK_w: a new Working Key Path for all that only it chose. RFC 9838 3.3 has a path ending
 * at GSK_w only at registration: every member refuses the message whole, keeps its Rekey SA
 * and Working Key Path, and follows the GCKS's next exclusion. */
START_TEST(forged_gsk_w_path_refused)
{
	msg *mg = calloc(1, sizeof(*mg));
	ck_assert_ptr_nonnull(mg);
	gk_arena_init(&mg->ar, 0);
	gk_group_keys cur;
	ck_assert_int_eq(gk_group_keys_split(GK_CHUNK(kek_cur.keymat, kek_cur.keymat_len), kek_cur.proto, kek_cur.encr,
					     kek_cur.encr_key_bits, kek_cur.integ, kek_cur.kwa, &cur), GK_OK);
	uint8_t mine[32];
	memset(mine, 0x66, sizeof(mine));
	gk_group_sa forged;
	new_kek(&forged);
	mg->wrap[mg->nwrap++] = (gk_attr){ .type = GK_MKBA_WRAP_KEY, .value = wrap_into(mg, 5000, 0, cur.wrap.ptr, mine, 32) };
	mg->sa[mg->nsa++] = (gk_attr){ .type = GK_GKBA_SA_KEY,
				       .value = wrap_into(mg, 0, 5000, mine, forged.keymat, forged.keymat_len) };
	for (unsigned m = 0; m < LEAVES; m++)
		events_of(m);
	send_rekey(mg, &forged);
	for (unsigned m = 0; m < LEAVES; m++) {
		const char *ev = events_of(m);
		ck_assert_msg(strstr(ev, "\"event\":\"rekey_rejected\"") &&
			      strstr(ev, "a new key path ending at the default KWK outside registration") &&
			      !strstr(ev, "rekey_sa_replaced") && !strstr(ev, "excluded"), "member %u: %s", m, ev);
	}
	gk_arena_free(&mg->ar);
	free(mg);
	/* nothing changed: the GCKS's next exclusion reaches everyone else */
	bool out[LEAVES] = { false };
	out[9] = true;
	exclude_members(out);
	everyone_follows();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("gm_lkh");
	TCase *tc = tcase_create("lkh");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, exclude_one);
	tcase_add_test(tc, exclude_several_and_subtrees);
	tcase_add_test(tc, rejoin_after_exclusion);
	tcase_add_test(tc, forged_gsk_w_path_refused);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
