/* A header comment in gcks_eventlog.h describes this file. */
#define GK_LOG_SUBSYS GK_SUB_REKEY /* log.h */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "gcks_eventlog.h"
#include "gcks_sa_table.h"
#include "addr.h"
#include "iana.h"
#include "log.h"

static const char *group_name(const gk_gcks *g, uint64_t hash)
{
	for (size_t i = 0; i < g->ngroups; i++)
		if (g->groups[i].hash == hash)
			return g->groups[i].pol.name;
	return "?";
}

void gcks_log_request(gk_gcks *g, const gcks_sa *sa)
{
	const gk_ike_req *r = sa->out_req;
	char at[64], mt[GK_IDENT_TEXT_MAX], again[48] = "";
	bool rekey = r->exchange == GK_EXCH_GSA_INBAND_REKEY;
	if (!gk_log_enabled(rekey ? GK_SUB_REKEY : GK_SUB_IKE, rekey ? GK_LOG_INFO : GK_LOG_DEBUG))
		return;
	gk_addr_text((const struct sockaddr *)&sa->ike.peer, at, sizeof(at));
	gcks_sa_peer_text(sa, mt);
	if (r->sent)
		snprintf(again, sizeof(again), " (retransmission %u of %u)", r->sent, r->sched.tries);
	if (rekey)
		gk_info("group %s: GSA_INBAND_REKEY message %u %s to %s at %s%s", group_name(g, sa->out_group),
			r->msg_id, r->sent ? "resent" : "sent", mt, at, again);
	else
		gk_logs(GK_SUB_IKE, GK_LOG_DEBUG, "%s request %u %s to %s at %s%s",
			gk_iana_str(GK_REG_EXCHANGE, r->exchange), r->msg_id, r->sent ? "resent" : "sent", mt, at,
			again);
}

void gcks_log_multicast(const gcks_pending *pd)
{
	char at[64];
	unsigned copy = pd->copies - pd->copies_left + 1;
	gk_addr_text((const struct sockaddr *)&pd->dst, at, sizeof(at));
	gk_info("group %s: GSA_REKEY message %u %s to %s (copy %u of %u)", pd->group, pd->msgid,
		copy > 1 ? "resent" : "sent", at, copy, pd->copies);
}

typedef struct {
	const gk_ident *member;
	const gcks_sa *first;
	unsigned n;
} member_find;

static void find_member(gk_gcks *g, gcks_sa *sa, void *ctx)
{
	member_find *f = ctx;
	(void)g;
	if (sa->ike.state != GK_IKE_ESTABLISHED || !gk_ident_held_eq(sa->peer_id, f->member))
		return;
	if (!f->first)
		f->first = sa;
	f->n++;
}

void gcks_log_member(gk_gcks *g, const gk_ident *member, const char *fmt, ...)
{
	char what[1200], at[64], more[48] = "";
	member_find f = { member, NULL, 0 };
	if (!gk_log_enabled(GK_SUB_REKEY, GK_LOG_NOTICE))
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	gcks_sa_foreach(g, find_member, &f);
	if (!f.first) {
		gk_notice("%s (the member holds no IKE SA)", what);
		return;
	}
	if (f.n > 1)
		snprintf(more, sizeof(more), " and %u more IKE SA%s", f.n - 1, f.n > 2 ? "s" : "");
	gk_notice("%s (the member at %s%s)", what,
		  gk_addr_text((const struct sockaddr *)&f.first->ike.peer, at, sizeof(at)), more);
}
