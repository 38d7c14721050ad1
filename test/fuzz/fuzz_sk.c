/* Fuzzes SK/SKF unprotection (gk_sk_open) on raw messages with the fixed fuzz keys.
 * Input: one selector octet, then the message. Selector bit 0: suite (fuzz_keys.h); bit 1:
 * SKF (8-octet header) instead of SK (4); bits 2-7: the SK header sits at 28 + 4 * that value.
 * When a message opens, its plaintext is sealed again and must open to the same octets. */
#include <string.h>
#include "fuzz.h"
#include "fuzz_keys.h"

static gk_status fixed_bytes(void *ctx, uint8_t *out, size_t n)
{
	(void)ctx;
	memset(out, 0xa5, n); /* deterministic IVs keep crashes reproducible */
	return GK_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 0xffff + 1)
		return 0;
	uint8_t sel = data[0];
	gk_sk_keys k = fk_sk_keys(sel & 1);
	size_t hdr_len = sel & 2 ? 8 : 4, sk_off = 28 + 4 * (size_t)(sel >> 2);
	size_t n = size - 1;
	/* gk_sk_open wants a non-NULL message even when empty; a heap copy also lets ASan see
	 * any read past the end. */
	uint8_t *msg = malloc(n ? n : 1);
	if (!msg)
		return 0;
	memcpy(msg, data + 1, n);

	gk_wbuf plain;
	gk_wbuf_init(&plain, 0);
	gk_status st = gk_sk_open(&k, GK_CHUNK(msg, n), sk_off, hdr_len, &plain);
	FUZZ_ASSERT(st != GK_OK || plain.len < n);
	if (st == GK_OK) {
		/* Round trip: the same header, sealed again around the plaintext. */
		gk_rand rnd = { fixed_bytes, NULL };
		gk_wbuf again, plain2;
		gk_wbuf_init(&again, 0);
		gk_wbuf_init(&plain2, 0);
		gk_wbuf_put(&again, msg, sk_off + hdr_len);
		FUZZ_ASSERT(gk_sk_seal(&k, &rnd, &again, sk_off, gk_wbuf_chunk(&plain)) == GK_OK);
		FUZZ_ASSERT(gk_sk_open(&k, gk_wbuf_chunk(&again), sk_off, hdr_len, &plain2) == GK_OK);
		FUZZ_ASSERT(plain2.len == plain.len && memcmp(plain2.data, plain.data, plain.len) == 0);
		gk_wbuf_free(&again);
		gk_wbuf_free(&plain2);
	} else {
		FUZZ_ASSERT(plain.len == 0);
	}
	gk_wbuf_free(&plain);
	free(msg);
	return 0;
}
