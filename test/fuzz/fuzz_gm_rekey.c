/* Fuzzes the member's GSA_REKEY input (RFC 9838 2.4.1) as gmd's group manager receives it on
 * its Rekey SA listener: any sequence of datagrams (records  len (2 octets, big endian) |
 * datagram) for a group registered with the fixed state of fuzz_gm_state.h. Seeds from
 * gen_corpus are encrypted with that KEK and signed with the key its AUTH_KEY names, so they
 * pass reassembly, decryption and the signature check, and mutations reach the Message ID
 * checks, the GSA/KD decoders and what applies new SAs and deletions. With the top bit of len
 * set (SEAL) the record is  IKE header | first payload type | inner payloads  in the clear and
 * is signed and encrypted here (under the Rekey SA fg_kek(b) when the header's 16 SPI octets
 * are all b; fragmented at 300 octets when the flags octet's low bit is set), so the fuzzer
 * writes the contents behind the checks itself. No sockets: the group manager's env has a clock
 * that stands still and no multicast listener. */
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include "fuzz.h"
#include "fuzz_gm_state.h"
#include "log.h"
#include "rekey_msg.h"
#include "member/gm_groups.h"

static int64_t clock_ms(void *ctx)
{
	(void)ctx;
	return 0;
}

#define SEAL 0x8000

static bool uniform(const uint8_t *p, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if (p[i] != p[0])
			return false;
	return true;
}

/* Signs and encrypts a record written in the clear; false when it cannot be (then it goes in
 * as it is). */
static bool seal(EVP_PKEY *sign, gk_rand_test *rnd, const uint8_t *d, size_t len, gk_dgrams *out)
{
	gk_group_sa kek;
	gk_group_keys k;
	gk_msg m;
	gk_out_pl pl[32];
	size_t n = 0;
	bool ok = false;
	if (len < GK_HDR_LEN + 1 || !uniform(d, 16))
		return false;
	fg_kek(&kek, d[0]);
	if (gk_group_keys_split(GK_CHUNK(kek.keymat, kek.keymat_len), kek.proto, kek.encr, kek.encr_key_bits,
				kek.integ, kek.kwa, &k))
		return false;
	memset(&m, 0, sizeof(m));
	gk_arena_init(&m.arena, 0);
	m.sk_index = SIZE_MAX;
	if (gk_msg_add_inner(&m, d[GK_HDR_LEN], GK_CHUNK(d + GK_HDR_LEN + 1, len - GK_HDR_LEN - 1)) == GK_OK &&
	    m.pl.n <= sizeof(pl) / sizeof(pl[0])) {
		for (; n < m.pl.n; n++)
			pl[n] = (gk_out_pl){ m.pl.items[n].type, m.pl.items[n].critical, m.pl.items[n].body };
		gk_rekey_out r = { .msg_id = gk_get_u32(d + 20), .pl = pl, .npl = n, .sign_key = sign,
				   .scheme = GK_SIG_ECDSA_SHA256,
				   .kek = { .encr = kek.encr, .encr_key_bits = kek.encr_key_bits, .integ = kek.integ,
					    .enc = k.enc, .integ_key = k.integ },
				   .frag_mtu = d[19] & 1 ? 300 : 0 };
		memcpy(r.spi, kek.spi, 16);
		ok = gk_rekey_build(&r, &rnd->r, out) == GK_OK;
	}
	gk_msg_free(&m);
	return ok;
}

static void input(gk_gm_groups *gg, const uint8_t *data, size_t len)
{
	struct sockaddr_in gcks = { .sin_family = AF_INET, .sin_port = htons(848),
				    .sin_addr.s_addr = htonl(0xc0000201u) };
	uint8_t *copy = malloc(len ? len : 1); /* exact size, for ASan */
	FUZZ_ASSERT(copy);
	memcpy(copy, data, len);
	gk_gm_groups_rekey_input(gg, 0, copy, len, (const struct sockaddr *)&gcks);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* One group manager for the life of the process; each input starts from a fresh
	 * registration, which replaces all the group held. */
	static gk_gm_groups *gg;
	static gk_group_state gs;
	static EVP_PKEY *sign;
	static gk_rand_test rnd;
	if (!gg) {
		const uint8_t *p = fk_p256_priv;
		FUZZ_ASSERT((sign = d2i_AutoPrivateKey(NULL, &p, sizeof(fk_p256_priv))));
		gk_log_init("fuzz_gm_rekey", getenv("GK_FUZZ_DEBUG") ? GK_LOG_DEBUG : GK_LOG_ERROR);
		gk_ident id;
		const char *why = NULL;
		FUZZ_ASSERT(gk_ident_parse(FG_GROUP, &id, &why) == GK_OK);
		gk_gm_groups_env env = { .now_ms = clock_ms };
		FUZZ_ASSERT(gk_gm_groups_new(&env, &id, 1, &gg) == GK_OK);
		fg_registered_state(&gs);
	}
	if (size > 1u << 17)
		return 0;
	gk_gm_groups_registered(gg, 0, &gs, false);
	gk_rand_test_init(&rnd, 1);
	for (size_t off = 0; off + 2 <= size;) {
		size_t hdr = (size_t)data[off] << 8 | data[off + 1], len = hdr & ~(size_t)SEAL;
		gk_dgrams d = { .n = 0 };
		off += 2;
		if (len > size - off)
			len = size - off;
		if ((hdr & SEAL) && seal(sign, &rnd, data + off, len, &d))
			for (size_t i = 0; i < d.n; i++)
				input(gg, d.d[i].data, d.d[i].len);
		else
			input(gg, data + off, len);
		gk_dgrams_free(&d);
		off += len;
	}
	return 0;
}
