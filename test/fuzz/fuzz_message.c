/* Fuzzes whole IKEv2 messages as a daemon receives them: header and outer payload chain,
 * the exchange rules, the log summary, and, when SK/SKF is present, decryption with the fixed
 * fuzz keys and the inner payload chain. The suite is the low bit of the Message ID (see
 * fuzz_keys.h), so sealed seeds made by gen_corpus decrypt and reach the inner parsers.
 * Any mutation of a sealed message breaks its ICV, so when SK does not open its body is also
 * taken as inner payloads already in the clear: the path reassembled fragments take through
 * gk_msg_add_inner. The "plain-" seeds of gen_corpus carry their inner chain that way. */
#include <string.h>
#include "fuzz.h"
#include "fuzz_keys.h"
#include "message.h"
#include "exchange_rules.h"
#include "msgdump.h"

static void summarize(const gk_msg *m)
{
	char line[512];
	gk_msg_summary(m, line, sizeof(line));
	FUZZ_ASSERT(strlen(line) < sizeof(line));
}

/* What a handler does with a message that passed parsing. */
static void inspect(gk_msg *m)
{
	uint8_t bad = 0;
	summarize(m);
	gk_exchange_rules_check(m, &bad);
	gk_msg_find_error(m);
	gk_msg_find_notify(m, GK_N_GROUP_SENDER);
	for (const gk_payload *p = NULL; (p = gk_msg_next(m, p, GK_PL_NOTIFY));)
		FUZZ_ASSERT(p->body != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > GK_MAX_MESSAGE)
		return 0;
	gk_msg m;
	gk_status st = gk_msg_parse(&m, GK_CHUNK(data, size));
	/* Daemons log what they drop, so the summary must cope with half-parsed messages. */
	summarize(&m);
	if (st == GK_OK) {
		inspect(&m);
		if (m.sk_index != SIZE_MAX) {
			gk_sk_keys k = fk_sk_keys(m.hdr.msg_id & 1);
			const gk_payload *sk = &m.pl.items[m.sk_index];
			gk_chunk body = sk->type == GK_PL_SKF ? sk->body->skf.data : sk->body->sk.data;
			st = gk_msg_decrypt(&m, &k);
			if (st == GK_OK) {
				FUZZ_ASSERT(m.decrypted);
				/* A second decryption is a caller error, not a second parse. */
				FUZZ_ASSERT(gk_msg_decrypt(&m, &k) == GK_E_STATE);
			} else if (!m.decrypted) {
				gk_msg_add_inner(&m, m.sk_first, body);
			}
			inspect(&m);
		}
	}
	/* The datagram, the plaintext and two payload chains, each within the parse bound. */
	FUZZ_ASSERT(m.arena.total <= 3 * FUZZ_ARENA_BOUND(size));
	gk_msg_free(&m);
	return 0;
}
