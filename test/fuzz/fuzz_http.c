/* Fuzzes the request head parser of the metrics endpoints (common/base/http.c) as the socket
 * feeds it: every prefix of the input, as a slow sender would deliver it, then the answer. The
 * status is one the responder knows, a complete 200 head ends in a line feed within the input,
 * and once a prefix is judged the responder stops reading: later octets never matter. */
#include <string.h>
#include "fuzz.h"
#include "http.h"

static int known(int st)
{
	return st == 0 || st == 200 || st == 400 || st == 404 || st == 405 || st == 414 || st == 431 || st == 505;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > GK_HTTP_HEAD_MAX)
		size = GK_HTTP_HEAD_MAX; /* the responder reads no more */
	char *buf = malloc(size ? size : 1); /* exact size for ASan */
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	gk_http_req req = { 0 };
	int st = 0;
	size_t at = 0;
	for (at = 1; at <= size && !st; at++)
		st = gk_http_request(buf, at, "/metrics", &req);
	FUZZ_ASSERT(known(st));
	if (st == 200) {
		FUZZ_ASSERT(req.head_len >= 4 && req.head_len <= at - 1);
		FUZZ_ASSERT(buf[req.head_len - 1] == '\n');
		FUZZ_ASSERT(!memcmp(buf, req.head ? "HEAD /metrics" : "GET /metrics", req.head ? 13 : 12));
	}
	if (size == GK_HTTP_HEAD_MAX)
		FUZZ_ASSERT(st != 0); /* a full buffer always gets an answer */
	char *out = NULL;
	size_t n = gk_http_answer(st ? st : 408, NULL, "x\n", 2, req.head, &out);
	FUZZ_ASSERT(n > 0 && out && !memcmp(out, "HTTP/1.1 ", 9));
	free(out);
	free(buf);
	return 0;
}
