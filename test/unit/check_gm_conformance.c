/* RFC 9838 rules of gmd's group manager (member/gm_groups.c) that no other test asserts:
 * re-registration before a Data-Security SA or the Rekey SA ends (2.4.1.4), GSA_REKEY messages
 * that carry what a rekey must not (GM_SENDER_ID, 4.5.3.3; GCAUTH, 4.4.2.1.1) refused whole with
 * nothing installed, and Message ID 0 as the first expected one without GSA_INITIAL_MESSAGE_ID
 * (2.4.1.4). As in check_gm_groups.c, the group manager runs on its env (a clock the test moves
 * by hours, no multicast listener) and what it did is read from its JSON event lines; the SA
 * sink's entry points are replaced at link time to record what is installed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include "testutil.h"
#include "algs.h"
#include "group_sa.h"
#include "ikekeys.h"
#include "log.h"
#include "rand.h"
#include "rekey_msg.h"
#include "member/gm_groups.h"

gk_status __wrap_gk_sasink_add(gk_sasink *s, const gk_sa_install *in, char *err, size_t errlen);
gk_status __wrap_gk_sasink_activate_out(gk_sasink *s, const gk_ident *group, const gk_group_sa *sa, char *err,
					size_t errlen);
gk_status __wrap_gk_sasink_del(gk_sasink *s, const gk_ident *group, uint8_t proto, const uint8_t *spi,
			       size_t spi_len, char *err, size_t errlen);
gk_status __wrap_gk_sasink_flush_group(gk_sasink *s, const gk_ident *group, char *err, size_t errlen);

static int64_t clock_ms;   /* the group manager's clock */

static int64_t fake_now(void *ctx)
{
	(void)ctx;
	return clock_ms;
}

/* A kernel SA sink that records what the group manager gives it (the SAs' protocols and
 * directions), for the tests that open the group manager with a sink. */
static uint64_t fake_sink;
static struct {
	uint8_t proto[32];
	unsigned dirs[32];
	size_t n;
	unsigned activations, activated_gike;
} sink;

gk_status __wrap_gk_sasink_add(gk_sasink *s, const gk_sa_install *in, char *err, size_t errlen)
{
	(void)s, (void)err, (void)errlen;
	if (sink.n < 32) {
		sink.proto[sink.n] = in->sa->proto;
		sink.dirs[sink.n++] = in->dirs;
	}
	return GK_OK;
}

gk_status __wrap_gk_sasink_activate_out(gk_sasink *s, const gk_ident *group, const gk_group_sa *sa, char *err,
					size_t errlen)
{
	(void)s, (void)group, (void)err, (void)errlen;
	sink.activations++;
	sink.activated_gike += sa->proto == GK_PROTO_GIKE_UPDATE;
	return GK_OK;
}

gk_status __wrap_gk_sasink_del(gk_sasink *s, const gk_ident *group, uint8_t proto, const uint8_t *spi,
			       size_t spi_len, char *err, size_t errlen)
{
	(void)s, (void)group, (void)proto, (void)spi, (void)spi_len, (void)err, (void)errlen;
	return GK_OK;
}

gk_status __wrap_gk_sasink_flush_group(gk_sasink *s, const gk_ident *group, char *err, size_t errlen)
{
	(void)s, (void)group, (void)err, (void)errlen;
	return GK_OK;
}

static FILE *events;
static gk_gm_groups *groups;
static unsigned reregistrations;

static void on_reregister(void *ctx, size_t group)
{
	(void)ctx;
	ck_assert_uint_eq(group, 0);
	reregistrations++;
}

static void setup(void)
{
	gk_log_init("check_gm_conformance", getenv("GK_TEST_DEBUG") ? GK_LOG_DEBUG : GK_LOG_ERROR);
	events = tmpfile();
	ck_assert_ptr_nonnull(events);
	clock_ms = 0;
	reregistrations = 0;
	gk_ident g;
	const char *why = NULL;
	ck_assert_int_eq(gk_ident_parse("keyid:grp-1", &g, &why), GK_OK);
	gk_gm_groups_env env = { .now_ms = fake_now, .events = events, .reregister = on_reregister };
	ck_assert_int_eq(gk_gm_groups_new(&env, &g, 1, &groups), GK_OK);
}

/* The group manager again, now with the recording sink (sender: it sends to the group). */
static void reopen_with_sink(bool sender)
{
	gk_gm_groups_free(groups);
	memset(&sink, 0, sizeof(sink));
	gk_ident g;
	const char *why = NULL;
	ck_assert_int_eq(gk_ident_parse("keyid:grp-1", &g, &why), GK_OK);
	gk_gm_groups_env env = { .now_ms = fake_now, .events = events, .reregister = on_reregister,
				 .sink = (gk_sasink *)(void *)&fake_sink, .sender = sender };
	ck_assert_int_eq(gk_gm_groups_new(&env, &g, 1, &groups), GK_OK);
}

static void teardown(void)
{
	gk_gm_groups_free(groups);
	fclose(events);
}

/* The event lines written since the last call, one string (static). */
static const char *new_events(void)
{
	static char buf[16384];
	static long pos;
	size_t n = 0;
	fflush(events);
	if (ftell(events) < pos)
		pos = 0; /* a new file (the next test) */
	fseek(events, pos, SEEK_SET);
	while (n + 1 < sizeof(buf) && fgets(buf + n, (int)(sizeof(buf) - n), events))
		n += strlen(buf + n);
	buf[n] = 0;
	pos = ftell(events);
	return buf;
}

/* How many lines of ev contain both strings (b may be NULL). */
static unsigned lines_with(const char *ev, const char *a, const char *b)
{
	unsigned n = 0;
	for (const char *l = ev; *l;) {
		const char *end = strchr(l, '\n');
		size_t len = end ? (size_t)(end - l) : strlen(l);
		char line[2048];
		snprintf(line, sizeof(line), "%.*s", (int)len, l);
		n += strstr(line, a) && (!b || strstr(line, b));
		l += len + (end != NULL);
	}
	return n;
}

/* Moves the group manager's clock to `at_ms` after the test's start and lets its timer run once. */
static void clock_at(int64_t at_ms)
{
	clock_ms = at_ms;
	gk_gm_groups_tick(groups);
}

/* A Rekey SA (implicit GCAUTH) with SPI and keys from seed. */
static void kek(gk_group_sa *k, uint8_t seed, uint32_t lifetime, uint32_t initial_msgid)
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
	k->kwa = GK_KWA_KW_5649_256;
	k->gcauth = GK_GCAUTH_IMPLICIT;
	k->lifetime = lifetime;
	k->initial_msgid = initial_msgid;
	k->keymat_len = gk_group_keymat_len(k->proto, k->encr, k->encr_key_bits, k->integ, k->kwa);
	for (size_t i = 0; i < k->keymat_len; i++)
		k->keymat[i] = (uint8_t)(seed + 7 * i);
}

/* An ESP SA (AES-CBC-256 with HMAC-SHA2-256, a receiver's) to 239.1.1.1 with SPI 0xee0000<seed>. */
static void tek(gk_group_sa *t, uint8_t seed, uint32_t lifetime)
{
	memset(t, 0, sizeof(*t));
	t->proto = GK_PROTO_ESP;
	memcpy(t->spi, (uint8_t[]){ 0xee, 0, 0, seed }, 4);
	t->spi_len = 4;
	t->src = (gk_ts_spec){ .family = 4, .start = { 192, 0, 2, 1 }, .end = { 192, 0, 2, 1 }, .ip_proto = 17,
			       .port_lo = 0, .port_hi = 65535 };
	t->dst = (gk_ts_spec){ .family = 4, .start = { 239, 1, 1, 1 }, .end = { 239, 1, 1, 1 }, .ip_proto = 17,
			       .port_lo = 5004, .port_hi = 5004 };
	t->encr = GK_ENCR_AES_CBC;
	t->encr_key_bits = 256;
	t->integ = GK_INTEG_HMAC_SHA2_256_128;
	t->sn = GK_SN_SEQ32;
	t->lifetime = lifetime;
	t->keymat_len = gk_group_keymat_len(t->proto, t->encr, t->encr_key_bits, t->integ, 0);
	for (size_t i = 0; i < t->keymat_len; i++)
		t->keymat[i] = (uint8_t)(seed + 5 * i);
}

static void register_with(const gk_group_sa *k, const gk_group_sa *t)
{
	gk_group_state *gs = calloc(1, sizeof(*gs));
	ck_assert_ptr_nonnull(gs);
	if (t)
		gs->sas[gs->nsas++] = *t;
	gs->sas[gs->nsas++] = *k;
	gk_gm_groups_registered(groups, 0, gs, false);
	gk_group_state_wipe(gs);
	free(gs);
	new_events();
}

/* What a test adds to the Member Key Bag, or to the Rekey SA's policy, of a rekey's payloads. */
typedef enum { ADD_NOTHING, ADD_SENDER_ID, ADD_GCAUTH } rekey_extra;

/* One GSA_REKEY under k with this Message ID carrying the SAs of gs (GSA and KD, keys wrapped
 * under k's wrap key), `extra`, and a Delete of the ESP SA del_spi (NULL: none). */
static void rekey_del(const gk_group_sa *k, uint32_t msg_id, const gk_group_state *gs, rekey_extra extra,
		      const uint8_t *del_spi)
{
	gk_group_keys gk;
	ck_assert_int_eq(gk_group_keys_split(GK_CHUNK(k->keymat, k->keymat_len), k->proto, k->encr, k->encr_key_bits,
					     k->integ, k->kwa, &gk), GK_OK);
	gk_arena a;
	gk_arena_init(&a, 0);
	gk_pl_gsa gsa;
	gk_pl_kd kd;
	ck_assert_int_eq(gk_group_state_encode(gs, GK_GSA_REKEY, k->kwa, gk.wrap, &a, &gsa, &kd), GK_OK);
	if (extra == ADD_SENDER_ID) {
		uint8_t *v = gk_arena_alloc(&a, 4);
		ck_assert_ptr_nonnull(v);
		gk_put_u32(v, 0);
		gk_key_bag *b = gk_arena_calloc(&a, kd.bags.n + 1, sizeof(*b));
		ck_assert_ptr_nonnull(b);
		memcpy(b, kd.bags.items, kd.bags.n * sizeof(*b));
		gk_attr *sid = gk_arena_alloc(&a, sizeof(*sid));
		ck_assert_ptr_nonnull(sid);
		*sid = (gk_attr){ .type = GK_MKBA_GM_SENDER_ID, .value = GK_CHUNK(v, 4) };
		b[kd.bags.n] = (gk_key_bag){ .proto = 0, .attrs = { sid, 1 } };
		kd.bags.items = b;
		kd.bags.n++;
	} else if (extra == ADD_GCAUTH) {
		for (size_t i = 0; i < gsa.policies.n; i++) {
			gk_gsa_policy *p = &gsa.policies.items[i];
			if (p->proto != GK_PROTO_GIKE_UPDATE)
				continue;
			gk_transform *t = gk_arena_calloc(&a, p->transforms.n + 1, sizeof(*t));
			ck_assert_ptr_nonnull(t);
			memcpy(t, p->transforms.items, p->transforms.n * sizeof(*t));
			t[p->transforms.n] = (gk_transform){ .type = GK_TT_GCAUTH, .id = GK_GCAUTH_IMPLICIT };
			p->transforms.items = t;
			p->transforms.n++;
		}
	}
	gk_chunk spis[1] = { GK_CHUNK(del_spi, 4) };
	gk_pl_delete del = { GK_PROTO_ESP, 4, { spis, 1 } };
	gk_out_pl pl[] = { { GK_PL_GSA, false, &gsa }, { GK_PL_KD, false, &kd }, { GK_PL_DELETE, false, &del } };
	gk_rekey_out o = { .msg_id = msg_id, .pl = pl, .npl = del_spi ? 3 : 2,
			   .kek = { .encr = k->encr, .encr_key_bits = k->encr_key_bits, .integ = k->integ,
				    .enc = gk.enc, .integ_key = gk.integ } };
	memcpy(o.spi, k->spi, 16);
	gk_dgrams d;
	ck_assert_int_eq(gk_rekey_build(&o, gk_rand_system(), &d), GK_OK);
	ck_assert_uint_eq(d.n, 1);
	struct sockaddr_in peer = { .sin_family = AF_INET };
	gk_gm_groups_rekey_input(groups, 0, d.d[0].data, d.d[0].len, (struct sockaddr *)&peer);
	gk_dgrams_free(&d);
	gk_arena_free(&a);
}

static void rekey(const gk_group_sa *k, uint32_t msg_id, const gk_group_state *gs, rekey_extra extra)
{
	rekey_del(k, msg_id, gs, extra, NULL);
}

static void state_of(gk_group_state *gs, const gk_group_sa *sa)
{
	memset(gs, 0, sizeof(*gs));
	gs->sas[0] = *sa;
	gs->nsas = 1;
}

/* =========================================================================================
 * 2.4.1.4 re-registration before an SA ends
 * ========================================================================================= */

/* "If a Data-Security SA is not rekeyed yet and is about to expire ..., the GM SHOULD initiate
 * a registration": at 90 % of the ESP SA's 1000 s, not before; the re-registration starts after
 * the randomized delay (1 to 5 s), once. */
START_TEST(soft_lifetime_data_sa_reregisters)
{
	gk_group_sa k, t;
	kek(&k, 0xa1, 100000, 0);
	tek(&t, 0x01, 1000);
	register_with(&k, &t);
	clock_at(880000);
	ck_assert_str_eq(new_events(), "");
	clock_at(900100);
	const char *ev = new_events();
	ck_assert_msg(lines_with(ev, "\"reregistering\"", "an SA nears its end without replacement") == 1, "%s", ev);
	ck_assert_uint_eq(lines_with(ev, "\"event\"", NULL), 1);
	ck_assert_uint_eq(reregistrations, 0);
	clock_at(900100 + 5100);
	ck_assert_uint_eq(reregistrations, 1);
	/* once: the SA does not ask again */
	clock_at(990000);
	ck_assert_uint_eq(lines_with(new_events(), "\"reregistering\"", NULL), 0);
	ck_assert_uint_eq(reregistrations, 1);
}
END_TEST

/* "A GM SHOULD also initiate a registration request if a Rekey SA is about to expire and not
 * yet replaced with a new one": at 90 % of the Rekey SA's 1000 s, not before. */
START_TEST(soft_lifetime_rekey_sa_reregisters)
{
	gk_group_sa k, t;
	kek(&k, 0xa1, 1000, 0);
	tek(&t, 0x01, 100000);
	register_with(&k, &t);
	clock_at(880000);
	ck_assert_str_eq(new_events(), "");
	clock_at(900100);
	const char *ev = new_events();
	ck_assert_msg(lines_with(ev, "\"reregistering\"", "the Rekey SA nears its end without replacement") == 1,
		      "%s", ev);
	ck_assert_uint_eq(lines_with(ev, "\"event\"", NULL), 1);
	clock_at(900100 + 5100);
	ck_assert_uint_eq(reregistrations, 1);
}
END_TEST

/* A Data-Security SA that a rekey replaced (new SA, Delete of the old one) in time asks for
 * nothing at its 90 %, although it is still held then (DEACTIVATION_TIME_DELAY 450 s): the new
 * SA's lifetime counts, from when it arrived. */
START_TEST(soft_lifetime_rekeyed_in_time_quiet)
{
	gk_group_sa k, t, t2;
	kek(&k, 0xa1, 100000, 0);
	tek(&t, 0x01, 1000);
	gk_group_state gs;
	memset(&gs, 0, sizeof(gs));
	gs.sas[gs.nsas++] = t;
	gs.sas[gs.nsas++] = k;
	gs.dtd = 450;
	gs.has_dtd = true;
	gk_gm_groups_registered(groups, 0, &gs, false);
	new_events();
	clock_at(500000);
	tek(&t2, 0x02, 1000);
	state_of(&gs, &t2);
	rekey_del(&k, 0, &gs, ADD_NOTHING, t.spi);
	const char *ev = new_events();
	ck_assert_msg(lines_with(ev, "rekey_accepted", NULL) == 1 && lines_with(ev, "sa_added", "ee000002") == 1, "%s",
		      ev);
	clock_at(900100); /* the first SA's 90 %: still held until 950 s */
	ev = new_events();
	ck_assert_msg(lines_with(ev, "\"reregistering\"", NULL) == 0, "%s", ev);
	clock_at(950100); /* DTD passed: the first SA goes */
	ck_assert_uint_eq(lines_with(new_events(), "sa_deleted", "ee000001"), 1);
	clock_at(1400100); /* the second's 90 % */
	ck_assert_uint_eq(lines_with(new_events(), "\"reregistering\"", "an SA nears its end"), 1);
	gk_group_state_wipe(&gs);
}
END_TEST

/* =========================================================================================
 * GSA_REKEY content refused whole
 * ========================================================================================= */

/* 2.4.1, 4.5.3.3: "The GM_SENDER_ID attribute ... MUST NOT be part of the Rekey Exchange": a
 * GSA_REKEY with a new ESP SA and a GM_SENDER_ID is rejected with that reason; the SA is not
 * added, and the Message ID is not used up (the same Message ID without the attribute is then
 * accepted). 4.4.2.1.1: GCAUTH in a rekey, the same. */
START_TEST(rekey_with_sender_id_or_gcauth_refused)
{
	gk_group_sa k, t, t2;
	kek(&k, 0xa1, 100000, 0);
	tek(&t, 0x01, 100000);
	register_with(&k, &t);
	tek(&t2, 0x02, 100000);
	gk_group_state gs;
	state_of(&gs, &t2);
	rekey(&k, 0, &gs, ADD_SENDER_ID);
	const char *ev = new_events();
	ck_assert_msg(lines_with(ev, "rekey_rejected", "GM_SENDER_ID in a rekey message (RFC 9838 4.5.3.3)") == 1,
		      "%s", ev);
	ck_assert_uint_eq(lines_with(ev, "\"event\"", NULL), 1); /* nothing added, nothing accepted */
	/* GCAUTH on a new Rekey SA in the rekey */
	gk_group_sa k2;
	kek(&k2, 0xb2, 100000, 0);
	k2.gcauth = 0;
	gk_group_state gk2;
	state_of(&gk2, &k2);
	rekey(&k, 0, &gk2, ADD_GCAUTH);
	ev = new_events();
	ck_assert_msg(lines_with(ev, "rekey_rejected", "GCAUTH must not appear in rekey messages") == 1, "%s", ev);
	ck_assert_uint_eq(lines_with(ev, "\"event\"", NULL), 1);
	/* the same Message ID without them: accepted, and only now the SA is added */
	rekey(&k, 0, &gs, ADD_NOTHING);
	ev = new_events();
	ck_assert_msg(lines_with(ev, "rekey_accepted", "\"message_id\":0") == 1 &&
		      lines_with(ev, "sa_added", "ee000002") == 1, "%s", ev);
	gk_group_state_wipe(&gs);
	gk_group_state_wipe(&gk2);
}
END_TEST

/* 2.4.1.4: without GSA_INITIAL_MESSAGE_ID "the GM MUST assume zero as the first expected Message
 * ID": Message ID 0 is accepted once, then it is a replay; the same for a Rekey SA a rekey
 * brought. */
START_TEST(no_initial_message_id_starts_at_zero)
{
	gk_group_sa k, t, t2;
	kek(&k, 0xa1, 100000, 0);
	tek(&t, 0x01, 100000);
	register_with(&k, &t);
	tek(&t2, 0x02, 100000);
	gk_group_state gs;
	state_of(&gs, &t2);
	rekey(&k, 0, &gs, ADD_NOTHING);
	const char *ev = new_events();
	ck_assert_msg(lines_with(ev, "rekey_accepted", "\"message_id\":0") == 1, "%s", ev);
	tek(&t2, 0x03, 100000);
	state_of(&gs, &t2);
	rekey(&k, 0, &gs, ADD_NOTHING); /* a second message 0 (not a copy: other content) */
	ev = new_events();
	ck_assert_uint_eq(lines_with(ev, "rekey_accepted", NULL), 0);
	ck_assert_uint_eq(lines_with(ev, "sa_added", "ee000003"), 0);
	/* a Rekey SA that a rekey brings has no GSA_INITIAL_MESSAGE_ID either: its first is 0 */
	gk_group_sa k2;
	kek(&k2, 0xb2, 100000, 0);
	k2.gcauth = 0;
	state_of(&gs, &k2);
	rekey(&k, 1, &gs, ADD_NOTHING);
	ev = new_events();
	ck_assert_msg(lines_with(ev, "rekey_sa_replaced", NULL) == 1, "%s", ev);
	state_of(&gs, &t2);
	rekey(&k2, 0, &gs, ADD_NOTHING);
	ev = new_events();
	ck_assert_msg(lines_with(ev, "rekey_accepted", "\"message_id\":0") == 1 &&
		      lines_with(ev, "sa_added", "ee000003") == 1, "%s", ev);
	gk_group_state_wipe(&gs);
}
END_TEST

/* 2.3.3: "Group members MUST install the Rekey SA only in the inbound direction": gmd holds the
 * Rekey SA itself, to open GSA_REKEY messages, and never gives it to the kernel, in either
 * direction, nor activates it for sending, for a receiver or for a sender; not at registration,
 * not when a rekey brings a new one. The ESP SA is installed (the control). */
START_TEST(rekey_sa_never_installed)
{
	for (int sender = 0; sender < 2; sender++) {
		reopen_with_sink(sender);
		gk_group_sa k, t, k2;
		kek(&k, 0xa1, 100000, 0);
		tek(&t, 0x01, 100000);
		register_with(&k, &t);
		kek(&k2, 0xb2, 100000, 0);
		k2.gcauth = 0; /* as a rekey carries it */
		gk_group_state gs;
		state_of(&gs, &k2);
		rekey(&k, 0, &gs, ADD_NOTHING);
		const char *ev = new_events();
		ck_assert_msg(lines_with(ev, "rekey_sa_replaced", NULL) == 1, "%s", ev);
		clock_at(60000); /* ATD and DTD pass: activations happen */
		ck_assert_uint_eq(sink.n, 1);
		ck_assert_uint_eq(sink.proto[0], GK_PROTO_ESP);
		ck_assert_uint_eq(sink.dirs[0], sender ? GK_DIR_OUT : GK_DIR_IN);
		ck_assert_uint_eq(sink.activated_gike, 0);
		gk_group_state_wipe(&gs);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("gm_conformance");
	TCase *tc = tcase_create("gm_conformance");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, soft_lifetime_data_sa_reregisters);
	tcase_add_test(tc, soft_lifetime_rekey_sa_reregisters);
	tcase_add_test(tc, soft_lifetime_rekeyed_in_time_quiet);
	tcase_add_test(tc, rekey_with_sender_id_or_gcauth_refused);
	tcase_add_test(tc, no_initial_message_id_starts_at_zero);
	tcase_add_test(tc, rekey_sa_never_installed);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
