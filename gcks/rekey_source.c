/* The source address of GSA_REKEY, remembered for GK_RSRC_TTL_MS (rekey_source.h). */
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>
#include "rekey_source.h"
#include "addr.h"

static bool same_dst(const struct sockaddr *a, const struct sockaddr_storage *b)
{
	if (a->sa_family != b->ss_family)
		return false;
	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
	return x->sin6_port == y->sin6_port && x->sin6_scope_id == y->sin6_scope_id &&
	       !memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr));
}

gk_status gk_rsrc_get(gk_rsrc_cache *c, int64_t now_ms, const struct sockaddr *dst, uint16_t sport,
		      const char *iface, gk_rsrc_probe probe, void *ctx, struct sockaddr_storage *src)
{
	const char *ifn = iface ? iface : "";
	bool cacheable = (dst->sa_family == AF_INET || dst->sa_family == AF_INET6) && strlen(ifn) < IF_NAMESIZE;
	gk_rsrc_entry *victim = &c->e[0];
	for (size_t i = 0; cacheable && i < GK_RSRC_SLOTS; i++) {
		gk_rsrc_entry *e = &c->e[i];
		if (e->until && e->sport == sport && same_dst(dst, &e->dst) && !strcmp(e->iface, ifn)) {
			if (now_ms < e->until) {
				*src = e->src;
				return GK_OK;
			}
			victim = e; /* expired: probed again, in its own slot */
			break;
		}
		if (e->until < victim->until)
			victim = e; /* free (0) or expiring first */
	}
	c->probes++;
	gk_status st = probe(ctx, dst, sport, ifn, src);
	if (st || !cacheable)
		return st;
	memset(victim, 0, sizeof(*victim));
	memcpy(&victim->dst, dst, gk_addr_len(dst));
	victim->sport = sport;
	strcpy(victim->iface, ifn);
	victim->src = *src;
	victim->until = now_ms + GK_RSRC_TTL_MS;
	return GK_OK;
}
