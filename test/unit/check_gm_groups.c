/* gmd's group manager (member/gm_groups.c) through its env: a clock that stands still and no
 * multicast listener; registrations are handed in as the member core reports them, and
 * GSA_REKEY datagrams are built here under the Rekey SA's keys. What the group manager did is
 * read from its JSON event lines. */
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
#include "member/gm_check.h"
#include "member/gm_groups.h"

static int64_t clock_ms;

static int64_t fake_now(void *ctx)
{
	(void)ctx;
	return clock_ms;
}

static FILE *events;
static gk_gm_groups *groups;

static void setup(void)
{
	gk_log_init("check_gm_groups", getenv("GK_TEST_DEBUG") ? GK_LOG_DEBUG : GK_LOG_ERROR);
	events = tmpfile();
	ck_assert_ptr_nonnull(events);
	gk_ident g;
	const char *why = NULL;
	ck_assert_int_eq(gk_ident_parse("keyid:grp-1", &g, &why), GK_OK);
	gk_gm_groups_env env = { .now_ms = fake_now, .events = events };
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
	static long pos;
	static char buf[16384];
	size_t n = 0;
	fflush(events);
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

/* A Rekey SA (implicit GCAUTH) with SPI and keys from seed. */
static void kek(gk_group_sa *k, uint8_t seed, uint32_t initial_msgid)
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
	k->lifetime = 86400;
	k->initial_msgid = initial_msgid;
	k->keymat_len = gk_group_keymat_len(k->proto, k->encr, k->encr_key_bits, k->integ, k->kwa);
	for (size_t i = 0; i < k->keymat_len; i++)
		k->keymat[i] = (uint8_t)(seed + 7 * i);
}

static void register_with(const gk_group_sa *k)
{
	new_events();
	gk_group_state *gs = calloc(1, sizeof(*gs));
	ck_assert_ptr_nonnull(gs);
	gs->sas[gs->nsas++] = *k;
	gk_gm_groups_registered(groups, 0, gs, false);
	free(gs);
}

/* One GSA_REKEY under k with this Message ID deleting an ESP SPI the member does not hold. */
static void rekey(const gk_group_sa *k, uint32_t msg_id)
{
	gk_group_keys gk;
	ck_assert_int_eq(gk_group_keys_split(GK_CHUNK(k->keymat, k->keymat_len), k->proto, k->encr, k->encr_key_bits,
					     k->integ, k->kwa, &gk), GK_OK);
	static const uint8_t spi[4] = { 0xde, 0xad, 0, 1 };
	gk_chunk spis[1] = { GK_CHUNK(spi, 4) };
	gk_pl_delete del = { GK_PROTO_ESP, 4, { spis, 1 } };
	gk_out_pl pl[] = { { GK_PL_DELETE, false, &del } };
	gk_rekey_out o = { .msg_id = msg_id, .pl = pl, .npl = 1,
			   .kek = { .encr = k->encr, .encr_key_bits = k->encr_key_bits, .integ = k->integ,
				    .enc = gk.enc, .integ_key = gk.integ } };
	memcpy(o.spi, k->spi, 16);
	gk_dgrams d;
	ck_assert_int_eq(gk_rekey_build(&o, gk_rand_system(), &d), GK_OK);
	ck_assert_uint_eq(d.n, 1);
	struct sockaddr_in peer = { .sin_family = AF_INET };
	gk_gm_groups_rekey_input(groups, 0, d.d[0].data, d.d[0].len, (struct sockaddr *)&peer);
	gk_dgrams_free(&d);
}

static void accepted(const gk_group_sa *k, uint32_t msg_id)
{
	char want[64];
	snprintf(want, sizeof(want), "\"message_id\":%u", msg_id);
	rekey(k, msg_id);
	const char *ev = new_events();
	ck_assert_msg(lines_with(ev, "rekey_accepted", want) == 1, "Message ID %u not accepted: %s", msg_id, ev);
}

static void replay_refused(const gk_group_sa *k, uint32_t msg_id)
{
	rekey(k, msg_id);
	const char *ev = new_events();
	ck_assert_msg(lines_with(ev, "rekey_accepted", NULL) == 0 &&
		      lines_with(ev, "rekey_rejected", "old Message ID (replay)") == 1, "Message ID %u: %s", msg_id, ev);
}

/* RFC 9838 2.3.3: GSA_INITIAL_MESSAGE_ID "MUST be checked by a GM against any previously
 * received Message ID for this group. If it is less than the previously received number, it
 * should be considered stale and MUST be ignored": a re-registration under the same Rekey SA
 * does not reopen Message IDs already received, a higher one raises the floor, and a new Rekey
 * SA starts from its own value. */
START_TEST(initial_message_id_not_reset)
{
	gk_group_sa k;
	kek(&k, 0xa1, 5);
	register_with(&k);
	replay_refused(&k, 4);
	accepted(&k, 5);
	accepted(&k, 6);
	/* a re-registration that says 5 again (parallel GSA_AUTH, or replayed by the GCKS after a
	 * restart): stale, 5 and 6 stay used */
	register_with(&k);
	replay_refused(&k, 5);
	rekey(&k, 6); /* a copy of the last one received: dropped without a word (2.4.1.3) */
	ck_assert_str_eq(new_events(), "");
	accepted(&k, 7);
	/* a higher value is taken */
	k.initial_msgid = 20;
	register_with(&k);
	replay_refused(&k, 8);
	accepted(&k, 20);
	/* another Rekey SA: its own Message IDs */
	gk_group_sa k2;
	kek(&k2, 0xb2, 1);
	register_with(&k2);
	accepted(&k2, 1);
}
END_TEST

/* RFC 9838 2.5.2: "If the Sender-ID value doesn't fit into the number of bits from the
 * GWP_SENDER_ID_BITS attributes, then the GM MUST treat this as a fatal error": the check at the
 * edges (the largest value that fits, the smallest that does not, 0 and 32 bits), and without the
 * attribute (one sender, 4.4.3.1.2) nothing to fit. A sender given a counter-mode SA without a
 * Sender-ID (4.5.3.3, 2.4.1.4) is refused the same way. */
START_TEST(sender_ids_fit)
{
	gk_group_state gs;
	char why[128] = "";
	memset(&gs, 0, sizeof(gs));
	gs.sender_ids[0] = 0;
	gs.sender_ids[1] = 255;
	gs.nsender_ids = 2;
	ck_assert_int_eq(gk_gm_sender_ids_check(&gs, false, why, sizeof(why)), GK_OK); /* no attribute */
	gs.has_sender_id_bits = true;
	gs.sender_id_bits = 8;
	ck_assert_int_eq(gk_gm_sender_ids_check(&gs, false, why, sizeof(why)), GK_OK);
	gs.sender_ids[gs.nsender_ids++] = 256;
	ck_assert_int_eq(gk_gm_sender_ids_check(&gs, false, why, sizeof(why)), GK_E_MALFORMED);
	ck_assert_str_eq(why, "Sender-ID 256 does not fit GWP_SENDER_ID_BITS 8 (RFC 9838 2.5.2)");
	gs.sender_id_bits = 9;
	ck_assert_int_eq(gk_gm_sender_ids_check(&gs, false, why, sizeof(why)), GK_OK);
	gs.sender_id_bits = 0;
	gs.nsender_ids = 1; /* Sender-ID 0 in no bits */
	ck_assert_int_eq(gk_gm_sender_ids_check(&gs, false, why, sizeof(why)), GK_OK);
	gs.sender_ids[0] = 1;
	ck_assert_int_eq(gk_gm_sender_ids_check(&gs, false, why, sizeof(why)), GK_E_MALFORMED);
	gs.sender_ids[0] = UINT32_MAX;
	gs.sender_id_bits = 32;
	ck_assert_int_eq(gk_gm_sender_ids_check(&gs, false, why, sizeof(why)), GK_OK);
	gs.sender_id_bits = 31;
	ck_assert_int_eq(gk_gm_sender_ids_check(&gs, false, why, sizeof(why)), GK_E_MALFORMED);
	/* a sender given a counter-mode SA and no Sender-ID at all; a receiver, or an SA not in a
	 * counter mode, needs none */
	memset(&gs, 0, sizeof(gs));
	gs.sas[0].proto = GK_PROTO_ESP;
	gs.sas[0].encr = GK_ENCR_AES_CBC;
	gs.nsas = 1;
	ck_assert_int_eq(gk_gm_sender_ids_check(&gs, true, why, sizeof(why)), GK_OK);
	gs.sas[1].proto = GK_PROTO_ESP;
	gs.sas[1].encr = GK_ENCR_AES_GCM_16;
	gs.nsas = 2;
	ck_assert_int_eq(gk_gm_sender_ids_check(&gs, false, why, sizeof(why)), GK_OK);
	ck_assert_int_eq(gk_gm_sender_ids_check(&gs, true, why, sizeof(why)), GK_E_MALFORMED);
	ck_assert_str_eq(why, "a counter-mode SA for a sender without GM_SENDER_ID (RFC 9838 4.5.3.3)");
	gs.sender_ids[gs.nsender_ids++] = 0;
	ck_assert_int_eq(gk_gm_sender_ids_check(&gs, true, why, sizeof(why)), GK_OK);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("gm_groups");
	TCase *tc = tcase_create("gm_groups");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, initial_message_id_not_reset);
	tcase_add_test(tc, sender_ids_fit);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
