/* Fuzzes the RFC 9838 4.5.4 Wrapped Key format and RFC 5649 unwrapping with fixed KWKs
 * (KW_5649_128 and KW_5649_256). RFC 5649 wrapping is deterministic, so a value that opens
 * must be rebuilt byte for byte from its IDs and key. */
#include <string.h>
#include "fuzz.h"
#include "fuzz_keys.h"
#include "keywrap.h"

static void try_open(uint16_t kwa, gk_chunk kwk, gk_chunk value)
{
	uint32_t key_id = 0x5a5a5a5a, kwk_id = 0x5a5a5a5a;
	gk_wbuf key, again;
	gk_wbuf_init(&key, 0);
	gk_wbuf_init(&again, 0);
	gk_status st = gk_wrapped_key_open(kwa, kwk, value, &key_id, &kwk_id, &key);
	if (st == GK_OK) {
		FUZZ_ASSERT(key.len >= 1 && key.len <= GK_WRAP_MAX_KEY);
		FUZZ_ASSERT(gk_wrapped_key_build(kwa, kwk, key_id, kwk_id, gk_wbuf_chunk(&key),
						 &again) == GK_OK);
		FUZZ_ASSERT(again.len == value.len && memcmp(again.data, value.ptr, value.len) == 0);
	} else {
		/* The IDs are set only on success and nothing is appended on failure. */
		FUZZ_ASSERT(key.len == 0 && key_id == 0x5a5a5a5a && kwk_id == 0x5a5a5a5a);
	}
	gk_wbuf_free(&key);
	gk_wbuf_free(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 0xffff)
		return 0;
	uint8_t *copy = malloc(size ? size : 1); /* exact-size heap copy for ASan */
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	gk_chunk value = GK_CHUNK(copy, size);
	uint32_t key_id, kwk_id;
	if (gk_wrapped_key_ids(value, &key_id, &kwk_id) == GK_OK)
		FUZZ_ASSERT(size >= 24);
	try_open(GK_KWA_KW_5649_128, GK_CHUNK(fk_kwk128, sizeof(fk_kwk128)), value);
	try_open(GK_KWA_KW_5649_256, GK_CHUNK(fk_kwk256, sizeof(fk_kwk256)), value);
	free(copy);
	return 0;
}
