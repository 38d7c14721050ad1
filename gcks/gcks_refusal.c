/* Refusals in the log: one warning line per refused request, with the peer's address and the
 * reason, through a token bucket so that a flood of refused requests cannot flood the log. */
#define GK_LOG_SUBSYS GK_SUB_REG /* log.h */
#include <stdarg.h>
#include <stdio.h>
#include "gcks_refusal.h"
#include "addr.h"
#include "log.h"

void gcks_refusal(gk_gcks *g, const struct sockaddr *peer, const char *fmt, ...)
{
	int64_t now = gcks_now(g);
	char why[1024], a[64], more[64] = "";
	g->stats.refusals++;
	/* bucket of GCKS_REFUSAL_BURST lines, refilled with GCKS_REFUSAL_PER_S lines a second
	 * (counted in thousandths of a line) */
	if (!g->refusal_started)
		g->refusal_tokens = GCKS_REFUSAL_BURST * 1000;
	else if (now > g->refusal_ms)
		g->refusal_tokens += (uint64_t)(now - g->refusal_ms) * GCKS_REFUSAL_PER_S;
	if (g->refusal_tokens > GCKS_REFUSAL_BURST * 1000)
		g->refusal_tokens = GCKS_REFUSAL_BURST * 1000;
	g->refusal_started = true;
	g->refusal_ms = now;
	if (g->refusal_tokens < 1000) {
		g->refusals_unlogged++;
		return;
	}
	g->refusal_tokens -= 1000;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (g->refusals_unlogged)
		snprintf(more, sizeof(more), " (%llu more refusals not logged)",
			 (unsigned long long)g->refusals_unlogged);
	g->refusals_unlogged = 0;
	gk_warn("refused %s: %s%s", peer ? gk_addr_text(peer, a, sizeof(a)) : "?", why, more);
}
