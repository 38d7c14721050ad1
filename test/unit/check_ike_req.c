/* The IKE request engine (RFC 7296 2.1, 2.2): retransmission schedule under loss, give-up,
 * responses that match or not (duplicates, reordering, other exchanges), the peer's Message ID
 * window and the cached response (resent for identical copies only, rate-limited), and
 * building a fragmented request on an IKE SA. */
#include <stdlib.h>
#include <string.h>
#include "testutil.h"
#include "samples.h"
#include <openssl/evp.h>
#include "ike_req.h"
#include "sk.h"

/* A request of n datagrams whose first octet tells them apart. */
static void fake_dgrams(gk_dgrams *d, size_t n, uint8_t tag)
{
	memset(d, 0, sizeof(*d));
	for (size_t i = 0; i < n; i++) {
		gk_wbuf_init(&d->d[i], 64);
		gk_wbuf_u8(&d->d[i], tag);
		gk_wbuf_u8(&d->d[i], (uint8_t)i);
	}
	d->n = n;
}

static const gk_ike_req_sched member_sched = { .first_ms = 500, .tries = 6 };

/* Every datagram lost: retransmissions at 500, 1000, 2000 ... ms after each other, exactly,
 * then give-up after the last wait; nothing more after that. */
START_TEST(backoff_exact_then_give_up)
{
	gk_ike_req r;
	gk_dgrams d;
	memset(&r, 0, sizeof(r));
	fake_dgrams(&d, 2, 7);
	int64_t t = 1000;
	gk_ike_req_start(&r, &d, GK_EXCH_GSA_REGISTRATION, 3, member_sched, t);
	ck_assert_uint_eq(d.n, 0);
	ck_assert_uint_eq(r.d.n, 2);
	ck_assert_int_eq(gk_ike_req_next(&r), 1500);
	const int64_t at[] = { 1500, 2500, 4500, 8500, 16500, 32500 };
	for (size_t i = 0; i < 6; i++) {
		ck_assert_int_eq(gk_ike_req_next(&r), at[i]);
		ck_assert_int_eq(gk_ike_req_tick(&r, at[i] - 1), GK_REQ_IDLE);
		ck_assert_int_eq(gk_ike_req_tick(&r, at[i]), GK_REQ_RESEND);
		ck_assert_uint_eq(r.sent, i + 1);
	}
	ck_assert_int_eq(gk_ike_req_next(&r), 64500);
	ck_assert_int_eq(gk_ike_req_tick(&r, 64499), GK_REQ_IDLE);
	ck_assert(gk_ike_req_answers(&r, GK_EXCH_GSA_REGISTRATION, 3));
	ck_assert_int_eq(gk_ike_req_tick(&r, 64500), GK_REQ_GIVE_UP);
	ck_assert(!gk_ike_req_answers(&r, GK_EXCH_GSA_REGISTRATION, 3)); /* too late */
	ck_assert_int_eq(gk_ike_req_next(&r), 0);
	ck_assert_int_eq(gk_ike_req_tick(&r, 1000000), GK_REQ_IDLE);
	ck_assert_uint_eq(r.d.n, 2); /* kept until cleared */
	gk_ike_req_clear(&r);
	ck_assert_uint_eq(r.d.n, 0);
	ck_assert(!gk_ike_req_answers(&r, GK_EXCH_GSA_REGISTRATION, 3));
}
END_TEST

/* The GCKS's schedule: 1 s doubling, 5 retransmissions; a late tick resends once and the next
 * wait counts from that tick. */
START_TEST(backoff_from_late_tick)
{
	gk_ike_req r;
	gk_dgrams d;
	memset(&r, 0, sizeof(r));
	fake_dgrams(&d, 1, 1);
	gk_ike_req_start(&r, &d, GK_EXCH_GSA_INBAND_REKEY, 0, (gk_ike_req_sched){ 1000, 5 }, 0);
	ck_assert_int_eq(gk_ike_req_tick(&r, 1700), GK_REQ_RESEND);
	ck_assert_int_eq(gk_ike_req_next(&r), 3700);
	ck_assert_int_eq(gk_ike_req_tick(&r, 3700), GK_REQ_RESEND);
	ck_assert_int_eq(gk_ike_req_tick(&r, 7699), GK_REQ_IDLE);
	ck_assert_int_eq(gk_ike_req_tick(&r, 7700), GK_REQ_RESEND);
	ck_assert_int_eq(gk_ike_req_tick(&r, 15700), GK_REQ_RESEND);
	ck_assert_int_eq(gk_ike_req_tick(&r, 31700), GK_REQ_RESEND);
	ck_assert_int_eq(gk_ike_req_tick(&r, 63700), GK_REQ_GIVE_UP);
	gk_ike_req_clear(&r);
}
END_TEST

/* Some copies lost, then the answer: it stops the schedule; a duplicate of the answer, an
 * answer to an older request (reordered) or of another exchange match nothing. */
START_TEST(answer_after_loss_and_duplicates)
{
	gk_ike_req r;
	gk_dgrams d;
	memset(&r, 0, sizeof(r));
	ck_assert(!gk_ike_req_answers(&r, 0, 0)); /* nothing outstanding */
	fake_dgrams(&d, 1, 1);
	gk_ike_req_start(&r, &d, GK_EXCH_INFORMATIONAL, 4, member_sched, 0);
	ck_assert_int_eq(gk_ike_req_tick(&r, 500), GK_REQ_RESEND);
	ck_assert(!gk_ike_req_answers(&r, GK_EXCH_INFORMATIONAL, 3)); /* reordered: older */
	ck_assert(!gk_ike_req_answers(&r, GK_EXCH_INFORMATIONAL, 5));
	ck_assert(!gk_ike_req_answers(&r, GK_EXCH_GSA_REGISTRATION, 4));
	ck_assert(gk_ike_req_answers(&r, GK_EXCH_INFORMATIONAL, 4));
	gk_ike_req_stop(&r);
	ck_assert(!gk_ike_req_answers(&r, GK_EXCH_INFORMATIONAL, 4)); /* a duplicate of the answer */
	ck_assert_int_eq(gk_ike_req_next(&r), 0);
	ck_assert_int_eq(gk_ike_req_tick(&r, 100000), GK_REQ_IDLE);
	/* the next request replaces it; a late duplicate answer of the old one matches nothing */
	fake_dgrams(&d, 3, 2);
	gk_ike_req_start(&r, &d, GK_EXCH_INFORMATIONAL, 5, member_sched, 2000);
	ck_assert_uint_eq(r.d.n, 3);
	ck_assert_uint_eq(r.d.d[0].data[0], 2);
	ck_assert_uint_eq(r.sent, 0);
	ck_assert_int_eq(gk_ike_req_next(&r), 2500);
	ck_assert(!gk_ike_req_answers(&r, GK_EXCH_INFORMATIONAL, 4));
	ck_assert(gk_ike_req_answers(&r, GK_EXCH_INFORMATIONAL, 5));
	gk_ike_req_clear(&r);
}
END_TEST

/* The peer's window (RFC 7296 2.2): the expected ID is new, the last answered one a
 * retransmission (only while its answer is cached), older ones and future ones dropped. */
START_TEST(message_id_window)
{
	gk_ike_sa sa;
	memset(&sa, 0, sizeof(sa));
	ck_assert_int_eq(gk_ike_req_window(&sa, 0), GK_IN_NEW);
	ck_assert_int_eq(gk_ike_req_window(&sa, 1), GK_IN_DROP);
	ck_assert_int_eq(gk_ike_req_window(&sa, UINT32_MAX), GK_IN_DROP); /* no answer cached */
	gk_dgrams d;
	fake_dgrams(&d, 2, 9);
	gk_ike_req_answered(&sa, 0, &d);
	ck_assert_uint_eq(d.n, 0);
	ck_assert_uint_eq(sa.msgid_in, 1);
	ck_assert_ptr_nonnull(sa.last_resp);
	ck_assert_uint_eq(sa.last_resp->n, 2);
	ck_assert_int_eq(gk_ike_req_window(&sa, 0), GK_IN_RETRANSMIT);
	ck_assert_int_eq(gk_ike_req_window(&sa, 1), GK_IN_NEW);
	ck_assert_int_eq(gk_ike_req_window(&sa, 2), GK_IN_DROP); /* future */
	fake_dgrams(&d, 1, 10);
	gk_ike_req_answered(&sa, 1, &d);
	ck_assert_int_eq(gk_ike_req_window(&sa, 0), GK_IN_DROP); /* older than the last */
	ck_assert_int_eq(gk_ike_req_window(&sa, 1), GK_IN_RETRANSMIT);
	ck_assert_uint_eq(sa.last_resp->n, 1);
	ck_assert_uint_eq(sa.last_resp->d[0].ptr[0], 10);
	gk_ike_sa_free(&sa);
}
END_TEST

/* A request too big for one datagram goes as fragments when the peer allows them (RFC 7383),
 * each no larger than the default size, with our role's flags and the Message ID given. */
/* With a counter-mode cipher (here AES-GCM, RFC 5282) each datagram protected on an IKE SA takes
 * the SA's counter as its explicit IV, 0, 1, 2, ... (RFC 4106 3.1: it must never repeat under the
 * key, and SK_er is the responder's alone, RFC 7296 2.14): two messages, and the fragments of a
 * third, carry different IVs, each the one said, and open under the key. A counter that would
 * wrap refuses to protect. With AES-CBC the IV stays the generator's (unpredictable, RFC 7296
 * 3.14) and the counter is not touched. */
START_TEST(counter_ivs)
{
	static const uint8_t key[36] = { 9, 8, 7 };
	gk_rand_test rt;
	gk_rand_test_init(&rt, 3);
	gk_ike_sa sa;
	memset(&sa, 0, sizeof(sa));
	sa.spi_i = 1;
	sa.spi_r = 2;
	sa.suite.encr = GK_ENCR_AES_GCM_16;
	sa.suite.encr_key_bits = 256;
	gk_ike_keys k = { .e_len = 36 };
	memcpy(k.sk_er, key, 36);
	ck_assert_int_eq(gk_ike_sa_keys_set(&sa, &k), GK_OK);
	gk_sk_keys open = { .encr = GK_ENCR_AES_GCM_16, .encr_key_bits = 256, .enc = GK_CHUNK(key, 36) };
	static uint8_t big[3000];
	gk_pl_notify n = { .type = GK_N_TEMPORARY_FAILURE, .data = GK_CHUNK(big, 16) };
	gk_out_pl pl = { GK_PL_NOTIFY, false, &n };
	gk_dgrams d;
	uint8_t want[8] = { 0 };
	for (uint32_t m = 0; m < 2; m++) {
		ck_assert_int_eq(gk_ike_req_build(&sa, GK_EXCH_INFORMATIONAL, true, m, &pl, 1, &rt.r, &d), GK_OK);
		ck_assert_uint_eq(d.n, 1);
		want[7] = (uint8_t)m;
		ck_assert_mem_eq(d.d[0].data + 28 + 4, want, 8); /* IKE header, SK header, IV */
		gk_wbuf out;
		gk_wbuf_init(&out, 0);
		ck_assert_int_eq(gk_sk_open(&open, GK_CHUNK(d.d[0].data, d.d[0].len), 28, 4, &out), GK_OK);
		gk_wbuf_free(&out);
		gk_dgrams_free(&d);
	}
	ck_assert_uint_eq(sa.iv_next, 2);
	/* fragments (RFC 7383 2.5): one IV each, after the SKF header */
	sa.frag_ok = true;
	n.data = GK_CHUNK(big, sizeof(big));
	ck_assert_int_eq(gk_ike_req_build(&sa, GK_EXCH_INFORMATIONAL, false, 0, &pl, 1, &rt.r, &d), GK_OK);
	ck_assert_uint_gt(d.n, 2);
	for (size_t i = 0; i < d.n; i++) {
		want[7] = (uint8_t)(2 + i);
		ck_assert_mem_eq(d.d[i].data + 28 + 8, want, 8);
	}
	ck_assert_uint_eq(sa.iv_next, 2 + d.n);
	gk_dgrams_free(&d);
	n.data = GK_CHUNK(big, 16);
	sa.iv_next = UINT32_MAX;
	ck_assert_int_eq(gk_ike_req_build(&sa, GK_EXCH_INFORMATIONAL, true, 3, &pl, 1, &rt.r, &d), GK_E_STATE);
	ck_assert_uint_eq(sa.iv_next, UINT32_MAX);
	gk_ike_sa_free(&sa);

	/* AES-CBC with HMAC-SHA-256-128: the generator's IV */
	memset(&sa, 0, sizeof(sa));
	sa.spi_i = 1;
	sa.spi_r = 2;
	sa.suite.encr = GK_ENCR_AES_CBC;
	sa.suite.encr_key_bits = 256;
	sa.suite.integ = GK_INTEG_HMAC_SHA2_256_128;
	gk_ike_keys kc = { .e_len = 32, .a_len = 32 };
	memcpy(kc.sk_er, key, 32);
	ck_assert_int_eq(gk_ike_sa_keys_set(&sa, &kc), GK_OK);
	gk_rand_test_init(&rt, 4);
	ck_assert_int_eq(gk_ike_req_build(&sa, GK_EXCH_INFORMATIONAL, true, 0, &pl, 1, &rt.r, &d), GK_OK);
	uint8_t iv[16];
	gk_rand_test_init(&rt, 4);
	ck_assert_int_eq(gk_rand_bytes(&rt.r, iv, sizeof(iv)), GK_OK);
	ck_assert_mem_eq(d.d[0].data + 28 + 4, iv, 16);
	ck_assert_uint_eq(sa.iv_next, 0);
	gk_dgrams_free(&d);
	gk_ike_sa_free(&sa);
}
END_TEST

START_TEST(build_fragments)
{
	static const uint8_t key[36] = { 1, 2, 3 };
	gk_rand_test rt;
	gk_rand_test_init(&rt, 1);
	gk_ike_sa sa;
	memset(&sa, 0, sizeof(sa));
	sa.spi_i = 1;
	sa.spi_r = 2;
	sa.initiator = false;
	sa.suite.encr = GK_ENCR_AES_GCM_16;
	sa.suite.encr_key_bits = 256;
	gk_ike_keys k = { .e_len = 36 };
	memcpy(k.sk_er, key, 36);
	ck_assert_int_eq(gk_ike_sa_keys_set(&sa, &k), GK_OK);
	static uint8_t big[3000];
	gk_pl_notify n = { .type = GK_N_TEMPORARY_FAILURE, .data = GK_CHUNK(big, sizeof(big)) };
	gk_out_pl pl[3] = { { GK_PL_GSA, false, sample_gsa() }, { GK_PL_KD, false, sample_kd() },
			    { GK_PL_NOTIFY, false, &n } };
	gk_dgrams d;
	for (int frag = 0; frag < 2; frag++) {
		sa.frag_ok = frag;
		ck_assert_int_eq(gk_ike_req_build(&sa, GK_EXCH_GSA_INBAND_REKEY, false, 7, pl, 3, &rt.r, &d), GK_OK);
		ck_assert_uint_eq(d.n > 1, (unsigned)frag);
		for (size_t i = 0; i < d.n; i++) {
			gk_hdr h;
			ck_assert_int_eq(gk_hdr_parse(GK_CHUNK(d.d[i].data, d.d[i].len), &h), GK_OK);
			ck_assert_uint_eq(h.msg_id, 7);
			ck_assert_uint_eq(h.flags, 0);
			ck_assert_uint_eq(h.next_payload, frag ? GK_PL_SKF : GK_PL_SK);
			if (frag)
				ck_assert_uint_le(d.d[i].len, GK_FRAG_DEFAULT_SIZE);
		}
		gk_dgrams_free(&d);
	}
	gk_ike_sa_free(&sa);
}
END_TEST

/* A retransmitted request gets the cached answer only when byte-identical to one of the
 * datagrams noted for it (any of its fragments); a forgery reusing the Message ID does not. */
START_TEST(resend_only_identical_copies)
{
	gk_ike_resend c;
	gk_ike_sa sa;
	gk_rand_test rt;
	gk_ike_resend_key *k = NULL;
	gk_rand_test_init(&rt, 7);
	ck_assert_int_eq(gk_ike_resend_key_new(&rt.r, &k), GK_OK);
	memset(&c, 0, sizeof(c));
	memset(&sa, 0, sizeof(sa));
	static const uint8_t a[] = "request 5, fragment 1", b[] = "request 5, fragment 2", f[] = "request 5, forged";
	static const uint8_t old[] = "request 4";
	sa.msgid_in = 5;
	gk_ike_resend_note(&c, k, 4, GK_CHUNK(old, sizeof(old)));
	sa.msgid_in = 6; /* request 5 answered, but not noted */
	ck_assert_int_eq(gk_ike_resend_copy(&c, k, &sa, GK_CHUNK(old, sizeof(old))), GK_COPY_UNKNOWN);
	gk_ike_resend_note(&c, k, 5, GK_CHUNK(a, sizeof(a)));
	gk_ike_resend_note(&c, k, 5, GK_CHUNK(b, sizeof(b)));
	ck_assert_uint_eq(c.n, 2);
	ck_assert_int_eq(gk_ike_resend_copy(&c, k, &sa, GK_CHUNK(a, sizeof(a))), GK_COPY_SAME);
	ck_assert_int_eq(gk_ike_resend_copy(&c, k, &sa, GK_CHUNK(b, sizeof(b))), GK_COPY_SAME);
	ck_assert_int_eq(gk_ike_resend_copy(&c, k, &sa, GK_CHUNK(f, sizeof(f))), GK_COPY_OTHER);
	ck_assert_int_eq(gk_ike_resend_copy(&c, k, &sa, GK_CHUNK(a, sizeof(a) - 1)), GK_COPY_OTHER);
	ck_assert_int_eq(gk_ike_resend_copy(&c, k, &sa, GK_CHUNK(old, sizeof(old))), GK_COPY_OTHER);
	/* at most 4 datagrams are noted per request */
	for (int i = 0; i < 5; i++)
		gk_ike_resend_note(&c, k, 5, GK_CHUNK(f, sizeof(f)));
	ck_assert_uint_eq(c.n, 4);
	/* the next request starts a new list */
	gk_ike_resend_note(&c, k, 6, GK_CHUNK(f, sizeof(f)));
	ck_assert_uint_eq(c.n, 1);
	ck_assert_uint_eq(c.msg_id, 6);
	sa.msgid_in = 7;
	ck_assert_int_eq(gk_ike_resend_copy(&c, k, &sa, GK_CHUNK(a, sizeof(a))), GK_COPY_OTHER);
	ck_assert_int_eq(gk_ike_resend_copy(&c, k, &sa, GK_CHUNK(f, sizeof(f))), GK_COPY_SAME);
	/* a datagram that cannot be hashed (no key) is not noted, and is no copy */
	gk_ike_resend_note(&c, NULL, 6, GK_CHUNK(a, sizeof(a)));
	ck_assert_uint_eq(c.n, 1);
	ck_assert_int_eq(gk_ike_resend_copy(&c, NULL, &sa, GK_CHUNK(f, sizeof(f))), GK_COPY_OTHER);
	/* the noted value is GMAC (RFC 4543): the GCM tag of the datagram as additional data under
	 * the key drawn from the generator, with the all-zero nonce */
	uint8_t key[16], tag[16];
	int n = 0;
	gk_rand_test_init(&rt, 7);
	ck_assert_int_eq(gk_rand_bytes(&rt.r, key, sizeof(key)), GK_OK);
	static const uint8_t nonce[12];
	EVP_CIPHER_CTX *g = EVP_CIPHER_CTX_new();
	ck_assert_int_eq(EVP_EncryptInit_ex2(g, EVP_aes_128_gcm(), key, nonce, NULL), 1);
	ck_assert_int_eq(EVP_EncryptUpdate(g, NULL, &n, f, (int)sizeof(f)), 1);
	ck_assert_int_eq(EVP_EncryptFinal_ex(g, tag, &n), 1);
	ck_assert_int_eq(EVP_CIPHER_CTX_ctrl(g, EVP_CTRL_AEAD_GET_TAG, 16, tag), 1);
	EVP_CIPHER_CTX_free(g);
	ck_assert_mem_eq(c.hash[0], tag, 16);
	/* and the empty datagram has one too (GHASH of nothing: the mask alone) */
	gk_ike_resend_note(&c, k, 7, GK_CHUNK_EMPTY);
	ck_assert_uint_eq(c.n, 1);
	gk_ike_resend_key_free(k);
}
END_TEST

/* The cached answer goes again at most 3 times in each second (the GCKS's limits), the
 * window starting at the first resend after the previous one ended. */
START_TEST(resend_rate_limit)
{
	gk_ike_resend c;
	memset(&c, 0, sizeof(c));
	int64_t t = 10000;
	for (int i = 0; i < 3; i++)
		ck_assert(gk_ike_resend_allowed(&c, t + i, 3, 1000));
	ck_assert(!gk_ike_resend_allowed(&c, t + 500, 3, 1000));
	ck_assert(!gk_ike_resend_allowed(&c, t + 999, 3, 1000));
	ck_assert_uint_eq(c.sent, 3);
	ck_assert(gk_ike_resend_allowed(&c, t + 1000, 3, 1000));
	ck_assert_int_eq(c.window_ms, t + 1000);
	ck_assert(gk_ike_resend_allowed(&c, t + 1999, 3, 1000));
	ck_assert(gk_ike_resend_allowed(&c, t + 1999, 3, 1000));
	ck_assert(!gk_ike_resend_allowed(&c, t + 1999, 3, 1000));
	ck_assert(gk_ike_resend_allowed(&c, t + 2000, 3, 1000));
	ck_assert(!gk_ike_resend_allowed(&c, t + 5000, 0, 1000)); /* max 0: never */
}
END_TEST

/* RFC 9329 7.2: a request goes at most once on a stream; datagrams go every time; a new stream
 * takes it once; a new request starts afresh. A responder's answer is not resent on the stream
 * that carried it. */
START_TEST(stream_sends_once)
{
	gk_ike_req r;
	gk_dgrams d;
	memset(&r, 0, sizeof(r));
	fake_dgrams(&d, 1, 1);
	gk_ike_req_start(&r, &d, GK_EXCH_GSA_INBAND_REKEY, 1, member_sched, 0);
	ck_assert(gk_ike_req_send_on(&r, 0));
	ck_assert(gk_ike_req_send_on(&r, 0));
	ck_assert(gk_ike_req_send_on(&r, 5));
	ck_assert(!gk_ike_req_send_on(&r, 5));
	ck_assert(!gk_ike_req_send_on(&r, 5));
	ck_assert(gk_ike_req_send_on(&r, 6));
	ck_assert(!gk_ike_req_send_on(&r, 6));
	fake_dgrams(&d, 1, 2);
	gk_ike_req_start(&r, &d, GK_EXCH_GSA_INBAND_REKEY, 2, member_sched, 0);
	ck_assert(gk_ike_req_send_on(&r, 6));
	ck_assert(!gk_ike_req_send_on(&r, 6));
	gk_ike_req_clear(&r);
	ck_assert(!gk_ike_req_stream_answered(0, 0));
	ck_assert(!gk_ike_req_stream_answered(0, 5));
	ck_assert(!gk_ike_req_stream_answered(6, 5));
	ck_assert(gk_ike_req_stream_answered(5, 5));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ike_req");
	TCase *tc = tcase_create("ike_req");
	tcase_add_test(tc, backoff_exact_then_give_up);
	tcase_add_test(tc, backoff_from_late_tick);
	tcase_add_test(tc, answer_after_loss_and_duplicates);
	tcase_add_test(tc, message_id_window);
	tcase_add_test(tc, build_fragments);
	tcase_add_test(tc, counter_ivs);
	tcase_add_test(tc, resend_only_identical_copies);
	tcase_add_test(tc, resend_rate_limit);
	tcase_add_test(tc, stream_sends_once);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
