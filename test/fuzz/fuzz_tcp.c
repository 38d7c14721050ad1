/* Fuzzes the TCP-encapsulated IKE stream parser (common/base/tcp_frame.c, RFC 9329 3, 4) as the
 * socket feeds it. The first octet picks the role (prefix expected or not) and a split step;
 * the stream is fed whole and then in pieces of that size. Both ways must give the same
 * messages and the same verdict, each message within the frame limit, the messages' octets
 * never more than the input's, and a verdict that stops the stream (the caller closes it). */
#include <string.h>
#include "fuzz.h"
#include "tcp_frame.h"

#define MAX_FRAME 1024

typedef struct acc {
	size_t n, octets;
	uint64_t sum; /* a position-weighted sum of every octet delivered */
} acc;

static void on_msg(void *ctx, const uint8_t *ike, size_t len)
{
	acc *a = ctx;
	FUZZ_ASSERT(len <= MAX_FRAME - GK_TCP_FRAME_MIN);
	a->n++;
	a->octets += len;
	for (size_t i = 0; i < len; i++)
		a->sum = a->sum * 31 + ike[i] + i;
}

static gk_status feed(const uint8_t *p, size_t n, bool prefix, size_t step, acc *a, uint64_t *esp, uint64_t *shrt)
{
	gk_tcp_deframer d;
	gk_status st = GK_OK;
	char err[128];
	gk_tcp_deframer_init(&d, MAX_FRAME, prefix);
	for (size_t at = 0; at < n && st == GK_OK; at += step) {
		size_t k = n - at < step ? n - at : step;
		st = gk_tcp_deframe(&d, p + at, k, on_msg, a, err, sizeof(err));
		if (st)
			FUZZ_ASSERT(err[0]);
	}
	*esp = d.esp_dropped;
	*shrt = d.short_dropped;
	gk_tcp_deframer_free(&d);
	return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	bool prefix = data[0] & 1;
	size_t step = (size_t)(data[0] >> 1) + 1;
	data++;
	size--;
	acc whole = { 0 }, split = { 0 };
	uint64_t esp1, esp2, s1, s2;
	gk_status a = feed(data, size, prefix, size ? size : 1, &whole, &esp1, &s1);
	gk_status b = feed(data, size, prefix, step, &split, &esp2, &s2);
	FUZZ_ASSERT(a == b);
	FUZZ_ASSERT(a == GK_OK || a == GK_E_MALFORMED || a == GK_E_TOO_BIG);
	FUZZ_ASSERT(whole.n == split.n && whole.octets == split.octets && whole.sum == split.sum);
	FUZZ_ASSERT(esp1 == esp2 && s1 == s2);
	FUZZ_ASSERT(whole.octets + whole.n * GK_TCP_FRAME_MIN <= size);
	return 0;
}
