/* Unit tests of the base modules: status names, byte buffers, IANA registry. */
#include <stdlib.h>
#include <string.h>
#include "testutil.h"
#include "status.h"
#include "chunk.h"
#include "iana.h"
#include "rand.h"
#include "json.h"
#include "clock.h"
#include "addr.h"
#include "arena.h"
#include <net/if.h>
#include <sys/wait.h>
#include <unistd.h>
#include <netinet/in.h>

START_TEST(addr_parse_forms)
{
	struct sockaddr_storage ss;
	char err[128], t[80];
	ck_assert_int_eq(gk_addr_parse("192.0.2.1:500", 848, &ss, err, sizeof(err)), GK_OK);
	ck_assert_str_eq(gk_addr_text((struct sockaddr *)&ss, t, sizeof(t)), "192.0.2.1:500");
	ck_assert_int_eq(gk_addr_parse("192.0.2.1", 848, &ss, err, sizeof(err)), GK_OK);
	ck_assert_str_eq(gk_addr_text((struct sockaddr *)&ss, t, sizeof(t)), "192.0.2.1:848");
	ck_assert_int_eq(gk_addr_parse("[2001:db8::1]:4500", 848, &ss, err, sizeof(err)), GK_OK);
	ck_assert_str_eq(gk_addr_text((struct sockaddr *)&ss, t, sizeof(t)), "[2001:db8::1]:4500");
	ck_assert_int_eq(gk_addr_parse("2001:db8::1", 848, &ss, err, sizeof(err)), GK_OK);
	ck_assert_str_eq(gk_addr_text((struct sockaddr *)&ss, t, sizeof(t)), "[2001:db8::1]:848");
	ck_assert_uint_eq(((struct sockaddr_in6 *)&ss)->sin6_scope_id, 0);
	/* IPv4 is put together by hand: every port width, and a short buffer cut as snprintf cuts */
	static const struct { const char *in, *out; } v4[] = {
		{ "255.255.255.255:65535", "255.255.255.255:65535" }, { "10.1.2.3:9", "10.1.2.3:9" }, { "10.1.2.3:10", "10.1.2.3:10" }, { "198.51.100.7:4500", "198.51.100.7:4500" },
	};
	for (size_t i = 0; i < sizeof(v4) / sizeof(v4[0]); i++) {
		ck_assert_int_eq(gk_addr_parse(v4[i].in, 848, &ss, err, sizeof(err)), GK_OK);
		ck_assert_str_eq(gk_addr_text((struct sockaddr *)&ss, t, sizeof(t)), v4[i].out);
	}
	struct sockaddr_in zero = { .sin_family = AF_INET }; /* port 0: gk_addr_parse refuses it */
	ck_assert_str_eq(gk_addr_text((struct sockaddr *)&zero, t, sizeof(t)), "0.0.0.0:0");
	char s22[22], s21[21], s5[5];
	ck_assert_int_eq(gk_addr_parse("255.255.255.255:65535", 848, &ss, err, sizeof(err)), GK_OK);
	ck_assert_str_eq(gk_addr_text((struct sockaddr *)&ss, s22, sizeof(s22)), "255.255.255.255:65535");
	ck_assert_str_eq(gk_addr_text((struct sockaddr *)&ss, s21, sizeof(s21)), "255.255.255.255:6553");
	ck_assert_str_eq(gk_addr_text((struct sockaddr *)&ss, s5, sizeof(s5)), "255.");
}
END_TEST

START_TEST(addr_parse_refusals)
{
	struct sockaddr_storage ss;
	char err[128];
	ck_assert_int_eq(gk_addr_parse("192.0.2.1:0", 848, &ss, err, sizeof(err)), GK_E_INVAL);
	ck_assert_str_eq(err, "port must be a number from 1 to 65535");
	ck_assert_int_eq(gk_addr_parse("192.0.2.1:65536", 848, &ss, err, sizeof(err)), GK_E_INVAL);
	ck_assert_int_eq(gk_addr_parse("[2001:db8::1", 848, &ss, err, sizeof(err)), GK_E_INVAL);
	ck_assert_str_eq(err, "missing ] in IPv6 address");
	ck_assert_int_eq(gk_addr_parse("gcks.example:848", 848, &ss, err, sizeof(err)), GK_E_INVAL);
	ck_assert_str_eq(err, "not a numeric IPv4 or IPv6 address");
	ck_assert_int_eq(gk_addr_parse("[fe80::1%no-such-if0]:848", 848, &ss, err, sizeof(err)), GK_E_INVAL);
	ck_assert_str_eq(err, "unknown network interface \"no-such-if0\" after %");
	ck_assert_int_eq(gk_addr_parse("[fe80::1%]:848", 848, &ss, err, sizeof(err)), GK_E_INVAL);
	ck_assert_str_eq(err, "unknown network interface \"\" after %");
	ck_assert_int_eq(gk_addr_parse("192.0.2.1%lo:848", 848, &ss, err, sizeof(err)), GK_E_INVAL);
	ck_assert_str_eq(err, "a zone (%) follows only an IPv6 address");
}
END_TEST

/* RFC 4007 11: a link-local address means nothing without its zone; logs and JSON keep it. */
START_TEST(addr_zone_round_trip)
{
	struct sockaddr_storage ss;
	char err[128], t[80];
	unsigned lo = if_nametoindex("lo");
	ck_assert_uint_ne(lo, 0);
	ck_assert_int_eq(gk_addr_parse("[fe80::1%lo]:848", 500, &ss, err, sizeof(err)), GK_OK);
	ck_assert_uint_eq(((struct sockaddr_in6 *)&ss)->sin6_scope_id, lo);
	ck_assert_str_eq(gk_addr_text((struct sockaddr *)&ss, t, sizeof(t)), "[fe80::1%lo]:848");
	char byindex[32];
	snprintf(byindex, sizeof(byindex), "fe80::2%%%u", lo);
	ck_assert_int_eq(gk_addr_parse(byindex, 500, &ss, err, sizeof(err)), GK_OK);
	ck_assert_uint_eq(((struct sockaddr_in6 *)&ss)->sin6_scope_id, lo);
	ck_assert_str_eq(gk_addr_text((struct sockaddr *)&ss, t, sizeof(t)), "[fe80::2%lo]:500");
	/* an index no interface has: shown as the number */
	((struct sockaddr_in6 *)&ss)->sin6_scope_id = 4000000;
	ck_assert_str_eq(gk_addr_text((struct sockaddr *)&ss, t, sizeof(t)), "[fe80::2%4000000]:500");
}
END_TEST

START_TEST(status_names)
{
	for (int i = 0; i < GK_STATUS_COUNT; i++)
		ck_assert_str_ne(gk_status_str((gk_status)i), "unknown status");
	ck_assert_str_eq(gk_status_str(GK_STATUS_COUNT), "unknown status");
}
END_TEST

START_TEST(wbuf_grows_and_bounds)
{
	gk_wbuf w;
	gk_wbuf_init(&w, 10);
	gk_wbuf_u32(&w, 0x01020304);
	gk_wbuf_u16(&w, 0x0506);
	gk_wbuf_set_u16(&w, 0, 0xa0b0);
	ck_assert_int_eq(w.err, GK_OK);
	ck_assert_mem_hex(w.data, w.len, "a0b0030405 06");
	gk_wbuf_u64(&w, 1); /* 6 + 8 > 10 */
	ck_assert_int_eq(w.err, GK_E_TOO_BIG);
	ck_assert_uint_eq(w.len, 6);
	gk_wbuf_u8(&w, 1); /* sticky error */
	ck_assert_uint_eq(w.len, 6);
	gk_wbuf_free(&w);
	/* a full buffer at its bound takes not one octet more, even where it needs no growing */
	uint8_t mem[8];
	gk_wbuf f = { .data = mem, .cap = sizeof(mem), .max = sizeof(mem) };
	gk_wbuf_u64(&f, 0x0102030405060708ull);
	ck_assert_int_eq(f.err, GK_OK);
	gk_wbuf_u8(&f, 9);
	ck_assert_int_eq(f.err, GK_E_TOO_BIG);
	ck_assert_uint_eq(f.len, 8);
	ck_assert_mem_hex(mem, sizeof(mem), "0102030405060708");
}
END_TEST

START_TEST(iana_names_and_values)
{
	ck_assert_str_eq(gk_iana_name(GK_REG_EXCHANGE, GK_EXCH_GSA_AUTH), "GSA_AUTH");
	ck_assert_int_eq(GK_EXCH_GSA_AUTH, 39);
	ck_assert_int_eq(GK_PL_KD, 52);
	ck_assert_int_eq(GK_PL_GSA, 51);
	ck_assert_int_eq(GK_PL_IDg, 50);
	ck_assert_int_eq(GK_TT_KWA, 13);
	ck_assert_int_eq(GK_TT_GCAUTH, 14);
	ck_assert_int_eq(GK_TATTR_SIG_ALG_ID, 18);
	ck_assert_int_eq(GK_N_REGISTRATION_FAILED, 49);
	ck_assert_int_eq(GK_N_GROUP_SENDER, 16429);
	ck_assert_int_eq(GK_PROTO_GIKE_UPDATE, 6);
	ck_assert_str_eq(gk_iana_str(GK_REG_ENCR, 20), "AES_GCM_16");
	ck_assert_str_eq(gk_iana_str(GK_REG_ENCR, 999), "UNKNOWN(999)");
	unsigned v = 0;
	ck_assert_int_eq(gk_iana_value(GK_REG_NOTIFY, "INVALID_GROUP_ID", &v), 0);
	ck_assert_uint_eq(v, 45);
	ck_assert_int_eq(gk_iana_value(GK_REG_NOTIFY, "NOPE", &v), -1);
	ck_assert_int_eq(gk_iana_transform_registry(GK_TT_KWA), GK_REG_KWA);
	ck_assert_int_eq(gk_iana_transform_registry(99), GK_REG_COUNT);
}
END_TEST

START_TEST(rand_test_is_deterministic)
{
	gk_rand_test a, b;
	uint8_t x[40], y[40];
	gk_rand_test_init(&a, 7);
	gk_rand_test_init(&b, 7);
	ck_assert_int_eq(gk_rand_bytes(&a.r, x, sizeof(x)), GK_OK);
	ck_assert_int_eq(gk_rand_bytes(&b.r, y, sizeof(y)), GK_OK);
	ck_assert_mem_eq(x, y, sizeof(x));
	ck_assert_int_eq(gk_rand_bytes(gk_rand_system(), x, sizeof(x)), GK_OK);
}
END_TEST

/* The system generator is OpenSSL's public DRBG, called directly: successive draws differ, a
 * draw longer than one DRBG request (64 KiB for CTR-DRBG) is whole, and a forked child, whose
 * copy of the DRBG equals the parent's, still draws other octets than the parent (OpenSSL's
 * fork check reseeds it). */
START_TEST(rand_system_draws_and_forks)
{
	uint8_t x[32], y[32];
	const gk_rand *r = gk_rand_system();
	ck_assert_int_eq(gk_rand_bytes(r, x, sizeof(x)), GK_OK);
	ck_assert_int_eq(gk_rand_bytes(r, y, sizeof(y)), GK_OK);
	ck_assert(memcmp(x, y, sizeof(x)) != 0);
	size_t big = 70000;
	uint8_t *b = calloc(1, big), zero[64] = { 0 };
	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(gk_rand_bytes(r, b, big), GK_OK);
	ck_assert(memcmp(b + big - sizeof(zero), zero, sizeof(zero)) != 0);
	free(b);

	int fd[2];
	ck_assert_int_eq(pipe(fd), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		uint8_t c[32];
		_exit(gk_rand_bytes(r, c, sizeof(c)) == GK_OK && write(fd[1], c, sizeof(c)) == (ssize_t)sizeof(c) ? 0 : 1);
	}
	close(fd[1]);
	ck_assert_int_eq(gk_rand_bytes(r, x, sizeof(x)), GK_OK);
	ck_assert_int_eq(read(fd[0], y, sizeof(y)), (ssize_t)sizeof(y));
	close(fd[0]);
	int status = 0;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert(memcmp(x, y, sizeof(x)) != 0);
}
END_TEST

/* gmd's event lines carry RFC 3339 UTC time stamps with milliseconds */
START_TEST(json_time_stamps)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	gk_json j;
	gk_json_init(&j, f);
	gk_json_obj(&j);
	gk_json_ktime(&j, "a", 0);
	gk_json_ktime(&j, "b", 1796645449043LL);
	gk_json_ktime(&j, "c", 951868799999LL); /* the last millisecond of 2000-02-29 */
	gk_json_obj_end(&j);
	fclose(f);
	ck_assert_str_eq(buf, "{\"a\":\"1970-01-01T00:00:00.000Z\",\"b\":\"2026-12-07T12:10:49.043Z\","
			      "\"c\":\"2000-02-29T23:59:59.999Z\"}");
	free(buf);
	gk_clock_test t;
	gk_clock_test_init(&t, 5000, 1796645449);
	gk_clock c = gk_clock_test_clock(&t);
	ck_assert_int_eq(gk_clock_wall_ms(&c), 1796645449000LL);
}
END_TEST

/* A freed arena is wiped up to what it handed out; its block is kept for the next arena, which
 * gets it back wiped (the octets beyond its first allocation are still the kept block's). A block
 * larger than the standard one is freed, not kept. */
START_TEST(arena_wiped_block_kept)
{
	gk_arena a;
	gk_arena_init(&a, 0);
	uint8_t *p = gk_arena_alloc(&a, 100);
	ck_assert_ptr_nonnull(p);
	memset(p, 0x5a, 100);
	gk_arena_free(&a);
	ck_assert_ptr_null(a.head);
	ck_assert_uint_eq(a.total, 0);
	gk_arena_init(&a, 0);
	uint8_t *q = gk_arena_alloc(&a, 1);
	ck_assert_ptr_eq(q, p);
	static const uint8_t zero[100];
	ck_assert_mem_eq(q, zero, sizeof(zero));
	uint8_t *big = gk_arena_alloc(&a, 10000);
	ck_assert_ptr_nonnull(big);
	memset(big, 0x77, 10000);
	gk_arena_free(&a);
	gk_arena_init(&a, 0);
	ck_assert_ptr_eq(gk_arena_alloc(&a, 1), p); /* the standard block, not the large one */
	gk_arena_free(&a);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("base");
	TCase *ta = tcase_create("addr");
	tcase_add_test(ta, addr_parse_forms);
	tcase_add_test(ta, addr_parse_refusals);
	tcase_add_test(ta, addr_zone_round_trip);
	suite_add_tcase(s, ta);
	TCase *tc = tcase_create("base");
	tcase_add_test(tc, status_names);
	tcase_add_test(tc, wbuf_grows_and_bounds);
	tcase_add_test(tc, arena_wiped_block_kept);
	tcase_add_test(tc, iana_names_and_values);
	tcase_add_test(tc, rand_test_is_deterministic);
	tcase_add_test(tc, rand_system_draws_and_forks);
	tcase_add_test(tc, json_time_stamps);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
