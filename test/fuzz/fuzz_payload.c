/* Fuzzes the codec engine on one payload body: the first octet picks the payload type, the
 * rest is the body. Whatever parses must build, and the build must be a fixed point:
 * parse(build(parse(x))) builds to the same octets (the round-trip property of the codec). */
#include <stdlib.h>
#include <string.h>
#include "fuzz.h"
#include "payloads.h"

/* Every type gk_payload_desc knows; an unknown first octet is mapped onto this list so that
 * every input exercises some table. */
static const uint8_t known[] = {
	GK_PL_SA, GK_PL_KE, GK_PL_IDi, GK_PL_IDr, GK_PL_CERT, GK_PL_CERTREQ, GK_PL_AUTH,
	GK_PL_NONCE, GK_PL_NOTIFY, GK_PL_DELETE, GK_PL_VENDOR, GK_PL_TSi, GK_PL_TSr, GK_PL_SK,
	GK_PL_CP, GK_PL_EAP, GK_PL_IDg, GK_PL_GSA, GK_PL_KD, GK_PL_SKF,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A payload body is at most 65535 - 4 octets inside a message. */
	if (size < 1 || size > 0xffff - 4 + 1)
		return 0;
	const gk_desc *d = gk_payload_desc(data[0]);
	if (!d)
		d = gk_payload_desc(known[data[0] % sizeof(known)]);
	/* A heap copy of exactly the body, so that ASan sees any read past its end. */
	size_t n = size - 1;
	uint8_t *body = malloc(n ? n : 1);
	if (!body)
		return 0;
	memcpy(body, data + 1, n);

	gk_arena ar;
	gk_arena_init(&ar, 0);
	gk_payload_body a, b;
	gk_wbuf w1, w2;
	gk_wbuf_init(&w1, 0);
	gk_wbuf_init(&w2, 0);
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	gk_codec_err err;
	gk_status st = gk_codec_parse(d, GK_CHUNK(body, n), &ar, &a, &err);
	FUZZ_ASSERT(ar.total <= FUZZ_ARENA_BOUND(n));
	if (st == GK_OK) {
		FUZZ_ASSERT(err.where == NULL);
		/* What parsed must encode again, to the same size (only reserved and
		 * Last-Substruc octets may change), and then be a fixed point. */
		FUZZ_ASSERT(gk_codec_build(d, &a, &w1) == GK_OK);
		FUZZ_ASSERT(w1.len == n);
		FUZZ_ASSERT(gk_codec_parse(d, gk_wbuf_chunk(&w1), &ar, &b, NULL) == GK_OK);
		FUZZ_ASSERT(gk_codec_build(d, &b, &w2) == GK_OK);
		FUZZ_ASSERT(w1.len == w2.len && (w1.len == 0 || memcmp(w1.data, w2.data, w1.len) == 0));
	} else {
		FUZZ_ASSERT(err.where != NULL);
	}
	gk_wbuf_free(&w1);
	gk_wbuf_free(&w2);
	gk_arena_free(&ar);
	free(body);
	return 0;
}
