/* Unit tests of the TCP-encapsulated IKE stream (common/base/tcp_frame.c, RFC 9329 3 and 4) on
 * known octets laid out as the RFC draws them: the "IKETCP" prefix, then each frame a 16-bit
 * Length that counts itself, the four-octet Non-ESP Marker and the IKE message. The stream is
 * fed whole, one octet at a time, and split at every point; wrong prefixes, Lengths of 0, 1
 * and above the limit, short and ESP frames. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testutil.h"
#include "tcp_frame.h"

/* What the callback saw: the messages, concatenated, with their count and lengths. */
typedef struct seen {
	uint8_t data[4096];
	size_t len, n, lens[16];
} seen;

static void on_msg(void *ctx, const uint8_t *ike, size_t len)
{
	seen *s = ctx;
	ck_assert_uint_lt(s->n, 16);
	ck_assert_uint_le(s->len + len, sizeof(s->data));
	memcpy(s->data + s->len, ike, len);
	s->len += len;
	s->lens[s->n++] = len;
}

/* An IKE header's worth (28 octets) of recognizable bytes: SPIi 1..8, the rest 0xAA. */
static const uint8_t ike1[28] = { 1, 2, 3, 4, 5, 6, 7, 8, [8 ... 27] = 0xAA };
static const uint8_t ike2[30] = { 9, 9, 9, 9, 9, 9, 9, 9, [8 ... 29] = 0xBB };

/* "IKETCP", then frame(ike1), then frame(ike2): Length 0x0022 = 2 + 4 + 28, 0x0024 = 2 + 4 + 30. */
static size_t stream(uint8_t *out)
{
	size_t n = 0;
	memcpy(out, "\x49\x4b\x45\x54\x43\x50", 6); /* RFC 9329 4: "IKETCP" */
	n = 6;
	memcpy(out + n, "\x00\x22\x00\x00\x00\x00", 6);
	n += 6;
	memcpy(out + n, ike1, sizeof(ike1));
	n += sizeof(ike1);
	memcpy(out + n, "\x00\x24\x00\x00\x00\x00", 6);
	n += 6;
	memcpy(out + n, ike2, sizeof(ike2));
	n += sizeof(ike2);
	return n;
}

static void expect_both(const seen *s)
{
	ck_assert_uint_eq(s->n, 2);
	ck_assert_uint_eq(s->lens[0], 28);
	ck_assert_uint_eq(s->lens[1], 30);
	ck_assert_mem_eq(s->data, ike1, 28);
	ck_assert_mem_eq(s->data + 28, ike2, 30);
}

START_TEST(two_frames_in_one_read)
{
	uint8_t buf[128];
	size_t n = stream(buf);
	gk_tcp_deframer d;
	seen s = { 0 };
	char err[128] = "";
	gk_tcp_deframer_init(&d, 2048, true);
	ck_assert_int_eq(gk_tcp_deframe(&d, buf, n, on_msg, &s, err, sizeof(err)), GK_OK);
	expect_both(&s);
	ck_assert_ptr_null(d.buf); /* whole frames in one read are not copied */
	gk_tcp_deframer_free(&d);
}
END_TEST

START_TEST(octet_by_octet)
{
	uint8_t buf[128];
	size_t n = stream(buf);
	gk_tcp_deframer d;
	seen s = { 0 };
	gk_tcp_deframer_init(&d, 2048, true);
	for (size_t i = 0; i < n; i++) {
		ck_assert_int_eq(gk_tcp_deframe(&d, buf + i, 1, on_msg, &s, NULL, 0), GK_OK);
		/* nothing before a frame's last octet */
		ck_assert_uint_eq(s.n, i + 1 < 6 + 34 ? 0 : i + 1 < n ? 1 : 2);
	}
	expect_both(&s);
	gk_tcp_deframer_free(&d);
}
END_TEST

START_TEST(split_everywhere)
{
	uint8_t buf[128];
	size_t n = stream(buf);
	for (size_t cut = 0; cut <= n; cut++) {
		gk_tcp_deframer d;
		seen s = { 0 };
		gk_tcp_deframer_init(&d, 2048, true);
		ck_assert_int_eq(gk_tcp_deframe(&d, buf, cut, on_msg, &s, NULL, 0), GK_OK);
		ck_assert_int_eq(gk_tcp_deframe(&d, buf + cut, n - cut, on_msg, &s, NULL, 0), GK_OK);
		expect_both(&s);
		gk_tcp_deframer_free(&d);
	}
}
END_TEST

START_TEST(originator_reads_no_prefix)
{
	uint8_t buf[128];
	size_t n = stream(buf);
	gk_tcp_deframer d;
	seen s = { 0 };
	gk_tcp_deframer_init(&d, 2048, false);
	ck_assert_int_eq(gk_tcp_deframe(&d, buf + 6, n - 6, on_msg, &s, NULL, 0), GK_OK);
	expect_both(&s);
	gk_tcp_deframer_free(&d);
}
END_TEST

START_TEST(wrong_prefix)
{
	static const char *bad[] = { "IKETCQ", "iketcp", "GET / ", "\x00\x22\x00\x00\x00\x00" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		gk_tcp_deframer d;
		seen s = { 0 };
		char err[128] = "";
		gk_tcp_deframer_init(&d, 2048, true);
		ck_assert_int_eq(gk_tcp_deframe(&d, (const uint8_t *)bad[i], 6, on_msg, &s, err, sizeof(err)), GK_E_MALFORMED);
		ck_assert_str_eq(err, "stream does not start with the IKETCP prefix");
		ck_assert_uint_eq(s.n, 0);
		gk_tcp_deframer_free(&d);
	}
	/* found wrong at its first differing octet, even when fed one at a time */
	gk_tcp_deframer d;
	seen s = { 0 };
	gk_tcp_deframer_init(&d, 2048, true);
	ck_assert_int_eq(gk_tcp_deframe(&d, (const uint8_t *)"IKE", 3, on_msg, &s, NULL, 0), GK_OK);
	ck_assert_int_eq(gk_tcp_deframe(&d, (const uint8_t *)"X", 1, on_msg, &s, NULL, 0), GK_E_MALFORMED);
	gk_tcp_deframer_free(&d);
}
END_TEST

START_TEST(length_zero_and_one)
{
	for (int len = 0; len < 2; len++) {
		uint8_t b[2] = { 0, (uint8_t)len };
		gk_tcp_deframer d;
		seen s = { 0 };
		char err[128] = "", want[128];
		gk_tcp_deframer_init(&d, 2048, false);
		ck_assert_int_eq(gk_tcp_deframe(&d, b, 2, on_msg, &s, err, sizeof(err)), GK_E_MALFORMED);
		snprintf(want, sizeof(want), "frame length %d is below its own 2 octets", len);
		ck_assert_str_eq(err, want);
		gk_tcp_deframer_free(&d);
	}
}
END_TEST

START_TEST(length_over_limit)
{
	/* refused from the Length alone, before any of the body is held */
	uint8_t b[2] = { 0x08, 0x01 }; /* 2049 */
	gk_tcp_deframer d;
	seen s = { 0 };
	char err[128] = "";
	gk_tcp_deframer_init(&d, 2048, false);
	ck_assert_int_eq(gk_tcp_deframe(&d, b, 2, on_msg, &s, err, sizeof(err)), GK_E_TOO_BIG);
	ck_assert_str_eq(err, "frame length 2049 is above the limit 2048");
	ck_assert_ptr_null(d.buf);
	gk_tcp_deframer_free(&d);
	/* exactly the limit is taken */
	uint8_t *big = calloc(1, 2048);
	big[0] = 0x08;
	big[1] = 0x00;
	gk_tcp_deframer_init(&d, 2048, false);
	ck_assert_int_eq(gk_tcp_deframe(&d, big, 1000, on_msg, &s, NULL, 0), GK_OK);
	ck_assert_int_eq(gk_tcp_deframe(&d, big + 1000, 1048, on_msg, &s, NULL, 0), GK_OK);
	ck_assert_uint_eq(s.n, 1);
	ck_assert_uint_eq(s.lens[0], 2048 - 6);
	gk_tcp_deframer_free(&d);
	free(big);
}
END_TEST

START_TEST(short_and_esp_frames_dropped)
{
	/* Length 2 (empty), 5 (three octets: neither marker nor SPI), an ESP frame (SPI 0x1001),
	 * then an IKE frame: only the last reaches the callback, the stream stays in step */
	static const uint8_t b[] = { 0x00, 0x02,
				     0x00, 0x05, 0x00, 0x00, 0x00,
				     0x00, 0x0e, 0x00, 0x00, 0x10, 0x01, 0, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef,
				     0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x42, 0x43 };
	gk_tcp_deframer d;
	seen s = { 0 };
	gk_tcp_deframer_init(&d, 2048, false);
	ck_assert_int_eq(gk_tcp_deframe(&d, b, sizeof(b), on_msg, &s, NULL, 0), GK_OK);
	ck_assert_uint_eq(s.n, 1);
	ck_assert_uint_eq(s.lens[0], 2);
	ck_assert_mem_eq(s.data, "\x42\x43", 2);
	ck_assert_uint_eq(d.frames, 4);
	ck_assert_uint_eq(d.short_dropped, 2);
	ck_assert_uint_eq(d.esp_dropped, 1);
	gk_tcp_deframer_free(&d);
}
END_TEST

START_TEST(frame_header)
{
	uint8_t h[GK_TCP_FRAME_MIN];
	ck_assert_int_eq(gk_tcp_frame_header(28, h), GK_OK);
	ck_assert_mem_eq(h, "\x00\x22\x00\x00\x00\x00", 6);
	ck_assert_int_eq(gk_tcp_frame_header(65535 - 6, h), GK_OK);
	ck_assert_mem_eq(h, "\xff\xff\x00\x00\x00\x00", 6);
	ck_assert_int_eq(gk_tcp_frame_header(65535 - 5, h), GK_E_TOO_BIG);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tcp_frame");
	TCase *tc = tcase_create("tcp_frame");
	tcase_add_test(tc, two_frames_in_one_read);
	tcase_add_test(tc, octet_by_octet);
	tcase_add_test(tc, split_everywhere);
	tcase_add_test(tc, originator_reads_no_prefix);
	tcase_add_test(tc, wrong_prefix);
	tcase_add_test(tc, length_zero_and_one);
	tcase_add_test(tc, length_over_limit);
	tcase_add_test(tc, short_and_esp_frames_dropped);
	tcase_add_test(tc, frame_header);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
