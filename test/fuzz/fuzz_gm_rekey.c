/* Fuzzes the member's GSA_REKEY input (RFC 9838 2.4.1) as gmd's group manager receives it on
 * its Rekey SA listener: any sequence of datagrams (records  len (2 octets, big endian) |
 * datagram) for a group registered with the fixed state of fuzz_gm_state.h. Seeds from
 * gen_corpus are encrypted with that KEK and signed with the key its AUTH_KEY names, so they
 * pass reassembly, decryption and the signature check, and mutations reach the Message ID
 * checks, the GSA/KD decoders and what applies new SAs and deletions. No sockets: the libuv
 * listener is replaced at link time (-Wl,--wrap) by stubs. */
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <uv.h>
#include "fuzz.h"
#include "fuzz_gm_state.h"
#include "log.h"
#include "udp.h"
#include "member/gm_groups.h"

gk_status __wrap_gk_udp_open_shared(uv_loop_t *loop, const struct sockaddr *addr, gk_udp_recv_cb cb, void *ctx,
				    gk_udp **out, char *err, size_t errlen);
gk_status __wrap_gk_udp_join(gk_udp *u, const struct sockaddr *group, unsigned ifindex);
void __wrap_gk_udp_close(gk_udp *u);

static uint64_t fake_socket;

gk_status __wrap_gk_udp_open_shared(uv_loop_t *loop, const struct sockaddr *addr, gk_udp_recv_cb cb, void *ctx,
				    gk_udp **out, char *err, size_t errlen)
{
	(void)loop, (void)addr, (void)cb, (void)ctx, (void)err, (void)errlen;
	*out = (gk_udp *)(void *)&fake_socket;
	return GK_OK;
}

gk_status __wrap_gk_udp_join(gk_udp *u, const struct sockaddr *group, unsigned ifindex)
{
	(void)u, (void)group, (void)ifindex;
	return GK_OK;
}

void __wrap_gk_udp_close(gk_udp *u)
{
	(void)u;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* One group manager for the life of the process (its timer handle lives in the loop);
	 * each input starts from a fresh registration, which replaces all the group held. */
	static uv_loop_t loop;
	static gk_gm_groups *gg;
	static gk_group_state gs;
	if (!gg) {
		gk_log_init("fuzz_gm_rekey", getenv("GK_FUZZ_DEBUG") ? GK_LOG_DEBUG : GK_LOG_ERROR);
		gk_ident id;
		const char *why = NULL;
		FUZZ_ASSERT(uv_loop_init(&loop) == 0);
		FUZZ_ASSERT(gk_ident_parse(FG_GROUP, &id, &why) == GK_OK);
		gk_gm_groups_env env = { .loop = &loop };
		FUZZ_ASSERT(gk_gm_groups_new(&env, &id, 1, &gg) == GK_OK);
		fg_registered_state(&gs);
	}
	if (size > 1u << 17)
		return 0;
	gk_gm_groups_registered(gg, 0, &gs, false);
	struct sockaddr_in gcks = { .sin_family = AF_INET, .sin_port = htons(848),
				    .sin_addr.s_addr = htonl(0xc0000201u) };
	for (size_t off = 0; off + 2 <= size;) {
		size_t len = (size_t)data[off] << 8 | data[off + 1];
		off += 2;
		if (len > size - off)
			len = size - off;
		uint8_t *copy = malloc(len ? len : 1); /* exact size, for ASan */
		FUZZ_ASSERT(copy);
		memcpy(copy, data + off, len);
		gk_gm_groups_rekey_input(gg, 0, copy, len, (const struct sockaddr *)&gcks);
		free(copy);
		off += len;
	}
	return 0;
}
