/* Unit tests of the scrape endpoint's request parser and answers (common/base/http.c) and of the
 * Prometheus text writer (common/base/prom.c): every status the parser can give, for the input
 * that gives it, whole and fed one octet at a time as a slow sender would. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "testutil.h"
#include "http.h"
#include "prom.h"

static int req(const char *s, gk_http_req *r)
{
	return gk_http_request(s, strlen(s), "/metrics", r);
}

/* The status after each prefix of s: 0 until the last octet (or until the answer, which must not
 * change once given). */
static int trickle(const char *s, size_t *at)
{
	gk_http_req r;
	for (size_t i = 1; i <= strlen(s); i++) {
		int st = gk_http_request(s, i, "/metrics", &r);
		if (st) {
			*at = i;
			return st;
		}
	}
	*at = 0;
	return 0;
}

START_TEST(http_get_metrics)
{
	gk_http_req r;
	const char *ok = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9100\r\nAccept: text/plain\r\n\r\n";
	ck_assert_int_eq(req(ok, &r), 200);
	ck_assert(!r.head);
	ck_assert_uint_eq(r.head_len, strlen(ok));
	ck_assert_int_eq(req("HEAD /metrics HTTP/1.0\n\n", &r), 200);
	ck_assert(r.head);
	ck_assert_int_eq(req("GET /metrics?name[]=x HTTP/1.1\r\n\r\n", &r), 200);
	size_t at;
	ck_assert_int_eq(trickle(ok, &at), 200);
	ck_assert_uint_eq(at, strlen(ok)); /* only once the head is complete */
}
END_TEST

START_TEST(http_incomplete_waits)
{
	gk_http_req r;
	ck_assert_int_eq(req("", &r), 0);
	ck_assert_int_eq(req("GE", &r), 0);
	ck_assert_int_eq(req("GET /metrics HTTP/1.1\r\nHost: x\r\n", &r), 0);
	ck_assert_int_eq(req("GET /metrics HTTP/1.1\r\n\r", &r), 0);
}
END_TEST

START_TEST(http_wrong_method_path_version)
{
	gk_http_req r;
	size_t at;
	ck_assert_int_eq(req("POST /metrics HTTP/1.1\r\n\r\n", &r), 405);
	ck_assert_int_eq(req("DELETE /metrics HTTP/1.1\r\n", &r), 405); /* judged at the request line */
	ck_assert_int_eq(req("get /metrics HTTP/1.1\r\n", &r), 405);     /* methods are case-sensitive */
	ck_assert_int_eq(req("GET / HTTP/1.1\r\n\r\n", &r), 404);
	ck_assert_int_eq(req("GET /metricsx HTTP/1.1\r\n\r\n", &r), 404);
	ck_assert_int_eq(req("GET /metric HTTP/1.1\r\n\r\n", &r), 404);
	ck_assert_int_eq(req("GET http://x/metrics HTTP/1.1\r\n\r\n", &r), 404);
	ck_assert_int_eq(req("GET /metrics HTTP/2.0\r\n\r\n", &r), 505);
	ck_assert_int_eq(req("GET /metrics HTTP/0.9\r\n\r\n", &r), 505);
	/* a slow sender of a wrong method is answered when its line ends, not at the head's end */
	ck_assert_int_eq(trickle("PUT /metrics HTTP/1.1\r\nX: y\r\n\r\n", &at), 405);
	ck_assert_uint_eq(at, strlen("PUT /metrics HTTP/1.1\r\n"));
}
END_TEST

START_TEST(http_malformed)
{
	gk_http_req r;
	size_t at;
	static const char *bad[] = {
		"GET /metrics\r\n\r\n",                 /* no version */
		"GET  /metrics HTTP/1.1\r\n\r\n",       /* empty target */
		"GET /metrics HTTP/1.1 \r\n\r\n",       /* junk after the version */
		"GET /met rics HTTP/1.1\r\n\r\n",
		"GET /metrics HTTP/1.10\r\n\r\n",
		"GET /metrics HTTX/1.1\r\n\r\n",
		" GET /metrics HTTP/1.1\r\n\r\n",
		"G(T /metrics HTTP/1.1\r\n\r\n",
		"GET /metrics HTTP/1.1\r\nNo colon\r\n\r\n",
		"GET /metrics HTTP/1.1\r\n: empty name\r\n\r\n",
		"GET /metrics HTTP/1.1\r\nBad name: x\r\n\r\n",
		"GET /metrics HTTP/1.1\r\nX: a\x01z\r\n\r\n",
		"GET /m\x7f HTTP/1.1\r\n\r\n",
		"\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(req(bad[i], &r) == 400, "case %zu: %d", i, req(bad[i], &r));
	/* a NUL in the head */
	ck_assert_int_eq(gk_http_request("GET /metrics HTTP/1.1\r\nX: \0\r\n\r\n", 31, "/metrics", &r), 400);
	/* binary garbage is refused at its first octet that cannot start a method */
	ck_assert_int_eq(trickle("\x16\x03\x01\x02\x00", &at), 400);
	ck_assert_uint_eq(at, 1);
	/* a method name longer than any: refused without waiting for a space */
	char m[64];
	memset(m, 'A', sizeof(m) - 1);
	m[sizeof(m) - 1] = 0;
	ck_assert_int_eq(trickle(m, &at), 400);
	ck_assert_uint_eq(at, 17);
}
END_TEST

START_TEST(http_oversized)
{
	gk_http_req r;
	size_t at;
	char *big = malloc(GK_HTTP_HEAD_MAX + 64);
	/* a target of GK_HTTP_TARGET_MAX octets passes (a 404), one more is 414, also while it trickles */
	strcpy(big, "GET /");
	memset(big + 5, 'a', GK_HTTP_TARGET_MAX - 1);
	strcpy(big + 4 + GK_HTTP_TARGET_MAX, " HTTP/1.1\r\n\r\n");
	ck_assert_int_eq(req(big, &r), 404);
	strcpy(big, "GET /");
	memset(big + 5, 'a', GK_HTTP_TARGET_MAX);
	strcpy(big + 5 + GK_HTTP_TARGET_MAX, " HTTP/1.1\r\n\r\n");
	ck_assert_int_eq(req(big, &r), 414);
	ck_assert_int_eq(trickle(big, &at), 414);
	ck_assert_uint_eq(at, 5 + GK_HTTP_TARGET_MAX); /* at the first octet too many */
	/* header fields that never end: 431 when the buffer is full */
	size_t n = (size_t)sprintf(big, "GET /metrics HTTP/1.1\r\n");
	while (n + 8 < GK_HTTP_HEAD_MAX)
		n += (size_t)sprintf(big + n, "X: abc\r\n");
	ck_assert_int_eq(gk_http_request(big, n, "/metrics", &r), 0);
	memset(big + n, 'x', GK_HTTP_HEAD_MAX - n);
	ck_assert_int_eq(gk_http_request(big, GK_HTTP_HEAD_MAX, "/metrics", &r), 431);
	ck_assert_int_eq(gk_http_request(big, GK_HTTP_HEAD_MAX - 1, "/metrics", &r), 0);
	free(big);
}
END_TEST

START_TEST(http_answers)
{
	char *out = NULL;
	size_t n = gk_http_answer(200, GK_PROM_CONTENT_TYPE, "a 1\n", 4, false, &out);
	const char *want = "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
			   "Content-Length: 4\r\nConnection: close\r\n\r\na 1\n";
	ck_assert_uint_eq(n, strlen(want));
	ck_assert_mem_eq(out, want, n);
	free(out);
	n = gk_http_answer(200, NULL, "a 1\n", 4, true, &out); /* HEAD: the length, no body */
	want = "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 4\r\n"
	       "Connection: close\r\n\r\n";
	ck_assert_uint_eq(n, strlen(want));
	ck_assert_mem_eq(out, want, n);
	free(out);
	n = gk_http_answer(405, NULL, "", 0, false, &out);
	want = "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 0\r\n"
	       "Allow: GET, HEAD\r\nConnection: close\r\n\r\n";
	ck_assert_uint_eq(n, strlen(want));
	ck_assert_mem_eq(out, want, n);
	free(out);
	ck_assert_str_eq(gk_http_reason(431), "Request Header Fields Too Large");
	ck_assert_str_eq(gk_http_reason(408), "Request Timeout");
	ck_assert_str_eq(gk_http_reason(599), "Error");
}
END_TEST

START_TEST(prom_exposition)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	gk_prom_label l[2] = { { "group", "keyid:a\"b\\c\nd" }, { "result", "ok" } };
	gk_prom_family(f, "x_total", "counter", "Things, with a \\ and a\nline");
	gk_prom_u64(f, "x_total", l, 2, 18446744073709551615ULL);
	gk_prom_u64(f, "x_total", NULL, 0, 0);
	gk_prom_family(f, "y_seconds", "gauge", "Y");
	gk_prom_i64(f, "y_seconds", l + 1, 1, -42);
	gk_prom_double(f, "y_seconds", NULL, 0, 0.25);
	gk_prom_double(f, "y_seconds", NULL, 0, NAN);
	gk_prom_double(f, "y_seconds", NULL, 0, INFINITY);
	gk_prom_double(f, "y_seconds", NULL, 0, -INFINITY);
	gk_prom_double(f, "y_seconds", NULL, 0, 1e21);
	fclose(f);
	ck_assert_str_eq(buf, "# HELP x_total Things, with a \\\\ and a\\nline\n"
			      "# TYPE x_total counter\n"
			      "x_total{group=\"keyid:a\\\"b\\\\c\\nd\",result=\"ok\"} 18446744073709551615\n"
			      "x_total 0\n"
			      "# HELP y_seconds Y\n"
			      "# TYPE y_seconds gauge\n"
			      "y_seconds{result=\"ok\"} -42\n"
			      "y_seconds 0.25\n"
			      "y_seconds NaN\n"
			      "y_seconds +Inf\n"
			      "y_seconds -Inf\n"
			      "y_seconds 1e+21\n");
	free(buf);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("http");
	TCase *tc = tcase_create("http");
	tcase_add_test(tc, http_get_metrics);
	tcase_add_test(tc, http_incomplete_waits);
	tcase_add_test(tc, http_wrong_method_path_version);
	tcase_add_test(tc, http_malformed);
	tcase_add_test(tc, http_oversized);
	tcase_add_test(tc, http_answers);
	tcase_add_test(tc, prom_exposition);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
