/* The GCKS's metrics in the Prometheus text format (doc/metrics.md): names carry their unit,
 * counters end in _total, a group is the label "group". */
#include <stdlib.h>
#include "metrics.h"
#include "iana.h"
#include "prom.h"

#define MAX_GROUPS_REPORTED 4096
#define P "gikev2_gcks_"

typedef void (*group_sample)(FILE *f, const char *name, const gk_gcks_group_info *gi, int64_t now);

static void family_per_group(FILE *f, const char *name, const char *type, const char *help,
			     const gk_gcks_group_info *gi, size_t n, int64_t now, group_sample s)
{
	gk_prom_family(f, name, type, help);
	for (size_t i = 0; i < n; i++)
		s(f, name, &gi[i], now);
}

static gk_prom_label grp(const gk_gcks_group_info *gi)
{
	return (gk_prom_label){ "group", gi->pol->name };
}

static void s_members(FILE *f, const char *n, const gk_gcks_group_info *gi, int64_t now)
{
	gk_prom_label l = grp(gi);
	(void)now;
	gk_prom_u64(f, n, &l, 1, gi->registered);
}

static void s_capacity(FILE *f, const char *n, const gk_gcks_group_info *gi, int64_t now)
{
	gk_prom_label l = grp(gi);
	(void)now;
	if (gi->pol->capacity)
		gk_prom_u64(f, n, &l, 1, gi->pol->capacity);
}

#define COUNTER_SAMPLE(fn, field) \
	static void fn(FILE *f, const char *n, const gk_gcks_group_info *gi, int64_t now) \
	{ \
		gk_prom_label l = grp(gi); \
		(void)now; \
		gk_prom_u64(f, n, &l, 1, gi->ctr->field); \
	}
COUNTER_SAMPLE(s_rekey_msgs, rekey_messages)
COUNTER_SAMPLE(s_rekey_copies, rekey_copies)
COUNTER_SAMPLE(s_inband_sent, inband_sent)
COUNTER_SAMPLE(s_inband_acked, inband_acked)
COUNTER_SAMPLE(s_inband_failed, inband_failed)

static void s_last_rekey(FILE *f, const char *n, const gk_gcks_group_info *gi, int64_t now)
{
	gk_prom_label l = grp(gi);
	(void)now;
	if (gi->ctr->last_rekey)
		gk_prom_i64(f, n, &l, 1, gi->ctr->last_rekey);
}

static void s_rekey_age(FILE *f, const char *n, const gk_gcks_group_info *gi, int64_t now)
{
	gk_prom_label l = grp(gi);
	if (gi->ctr->last_rekey)
		gk_prom_i64(f, n, &l, 1, now > gi->ctr->last_rekey ? now - gi->ctr->last_rekey : 0);
}

static void s_next_rekey(FILE *f, const char *n, const gk_gcks_group_info *gi, int64_t now)
{
	gk_prom_label l = grp(gi);
	if (gi->next_rekey) /* negative: overdue, the scheduler has not caught up (a lag to alert on) */
		gk_prom_i64(f, n, &l, 1, gi->next_rekey - now);
}

static void refusals(FILE *f, const char *group, const gk_group_refusals *r)
{
	for (size_t k = 0; k < GK_GROUP_REFUSAL_KINDS; k++) {
		if (!r->count[k])
			continue;
		gk_prom_label l[3] = { { "group", group }, { "result", "refused" },
				       { "notify", r->notify[k] ? gk_iana_str(GK_REG_NOTIFY, r->notify[k]) : "other" } };
		gk_prom_u64(f, P "registrations_total", l, 3, r->count[k]);
	}
}

static void registrations(FILE *f, const gk_gcks_stats *st, const gk_gcks_group_info *gi, size_t n)
{
	gk_prom_family(f, P "registrations_total", "counter",
		       "GSA_REGISTRATION requests answered, by group and result (ok, or refused with notify)");
	for (size_t i = 0; i < n; i++) {
		gk_prom_label l[2] = { { "group", gi[i].pol->name }, { "result", "ok" } };
		gk_prom_u64(f, P "registrations_total", l, 2, gi[i].ctr->registrations);
		refusals(f, gi[i].pol->name, &gi[i].ctr->refused);
	}
	refusals(f, "(unknown)", &st->unknown_group_refused);
}

static void process(FILE *f, const gk_metrics_proc *p)
{
	if (p->cpu_seconds >= 0) {
		gk_prom_family(f, "process_cpu_seconds_total", "counter", "User and system CPU time spent in seconds.");
		gk_prom_double(f, "process_cpu_seconds_total", NULL, 0, p->cpu_seconds);
	}
	if (p->rss_bytes >= 0) {
		gk_prom_family(f, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
		gk_prom_double(f, "process_resident_memory_bytes", NULL, 0, p->rss_bytes);
	}
	if (p->start_time > 0) {
		gk_prom_family(f, "process_start_time_seconds", "gauge",
			       "Start time of the process since unix epoch in seconds.");
		gk_prom_i64(f, "process_start_time_seconds", NULL, 0, p->start_time);
	}
	if (p->udp_send_dropped >= 0) {
		gk_prom_family(f, P "udp_send_dropped_total", "counter", "Datagrams (answers, requests) the kernel "
			       "did not take from gcksd's UDP sockets: a full socket buffer, a refused address.");
		gk_prom_i64(f, P "udp_send_dropped_total", NULL, 0, p->udp_send_dropped);
	}
}

static void globals(FILE *f, const gk_gcks_stats *st)
{
	gk_prom_label est = { "state", "established" }, ho = { "state", "half_open" };
	gk_prom_family(f, P "ike_sas", "gauge", "IKE SAs held now, by state");
	gk_prom_u64(f, P "ike_sas", &est, 1, st->established);
	gk_prom_u64(f, P "ike_sas", &ho, 1, st->half_open);
	gk_prom_family(f, P "cookies_sent_total", "counter", "IKE_SA_INIT requests answered with a COOKIE (RFC 7296 2.6)");
	gk_prom_u64(f, P "cookies_sent_total", NULL, 0, st->cookies_sent);
	gk_prom_family(f, P "ke_pairs_made_total", "counter",
		       "Key-exchange key pairs made for IKE_SA_INIT responses (fewer than responses with --dh-reuse)");
	gk_prom_u64(f, P "ke_pairs_made_total", NULL, 0, st->ke_pairs_made);
	gk_prom_family(f, P "refusals_total", "counter",
		       "Requests refused with an error notify (registrations and every other exchange)");
	gk_prom_u64(f, P "refusals_total", NULL, 0, st->refusals);
	gk_prom_family(f, P "dropped_messages_total", "counter", "Datagrams dropped unanswered (malformed, "
		       "failed integrity, outside the window, over a limit)");
	gk_prom_u64(f, P "dropped_messages_total", NULL, 0, st->dropped);
	gk_prom_family(f, P "request_retransmissions_total", "counter",
		       "Our requests (GSA_INBAND_REKEY, CREATE_CHILD_SA) sent again for want of an answer");
	gk_prom_u64(f, P "request_retransmissions_total", NULL, 0, st->req_retransmits);
	gk_prom_family(f, P "delete_retransmissions_total", "counter",
		       "Our Delete requests (INFORMATIONAL closing an IKE SA) sent again for want of an answer");
	gk_prom_u64(f, P "delete_retransmissions_total", NULL, 0, st->delete_retransmits);
	gk_prom_family(f, P "ike_sa_rekeys_total", "counter", "IKE SAs rekeyed by CREATE_CHILD_SA");
	gk_prom_u64(f, P "ike_sa_rekeys_total", NULL, 0, st->ike_rekeys);
}

/* A Prometheus histogram per kind of transaction: cumulative buckets, sum and count. */
static void store_latency(FILE *f, const gk_store *store)
{
	static const char *const kinds[] = { "read", "write", "durable" };
	gk_store_tx_stats st;
	const char *n = P "store_transaction_duration_seconds";
	gk_store_tx_stats_get(store, &st);
	gk_prom_family(f, n, "histogram", "Store transactions from begin to commit or rollback, by kind "
		       "(durable: synced before it returns)");
	for (size_t k = 0; k < 3; k++) {
		uint64_t cum = 0;
		char le[32];
		for (size_t i = 0; i <= GK_STORE_TX_BUCKETS; i++) {
			cum += st.count[k][i];
			if (i < GK_STORE_TX_BUCKETS)
				snprintf(le, sizeof(le), "%g", gk_store_tx_bounds[i]);
			else
				snprintf(le, sizeof(le), "+Inf");
			gk_prom_label l[2] = { { "kind", kinds[k] }, { "le", le } };
			gk_prom_u64(f, P "store_transaction_duration_seconds_bucket", l, 2, cum);
		}
		gk_prom_label l = { "kind", kinds[k] };
		gk_prom_double(f, P "store_transaction_duration_seconds_sum", &l, 1, st.sum[k]);
		gk_prom_u64(f, P "store_transaction_duration_seconds_count", &l, 1, cum);
	}
}

/* The store as this server sees it (gcks_cluster.c: fail closed while it is lost), and which
 * groups' rekeys it leads (a store one gcksd holds alone: every group). */
static void store_state(FILE *f, const gk_gcks *g, const gk_gcks_group_info *gi, size_t n)
{
	gk_gcks_cluster c;
	gk_gcks_cluster_info(g, &c);
	gk_prom_family(f, P "store_up", "gauge",
		       "1 while this server can use its store, 0 while it lost it (no keys issued, no rekeys sent)");
	gk_prom_u64(f, P "store_up", NULL, 0, c.store_ok ? 1 : 0);
	gk_prom_family(f, P "store_lost_total", "counter", "Times this server lost its shared store (fail closed)");
	gk_prom_u64(f, P "store_lost_total", NULL, 0, c.lost);
	gk_prom_family(f, P "group_leader", "gauge", "1 if this server leads the group's rekeys now, else 0");
	for (size_t i = 0; i < n; i++) {
		gk_prom_label l = grp(&gi[i]);
		gk_prom_u64(f, P "group_leader", &l, 1, gk_gcks_group_leads(g, gi[i].pol->name) ? 1 : 0);
	}
}

void gk_metrics_write(const gk_gcks *g, const gk_store *store, const gk_metrics_proc *proc, int64_t now, FILE *f)
{
	gk_gcks_stats st;
	gk_gcks_group_info *gi = calloc(MAX_GROUPS_REPORTED, sizeof(*gi));
	size_t n = gi ? gk_gcks_groups(g, gi, MAX_GROUPS_REPORTED) : 0;
	gk_gcks_stats_get(g, &st);
	globals(f, &st);
	registrations(f, &st, gi, n);
	family_per_group(f, P "group_members", "gauge", "Members registered to the group", gi, n, now, s_members);
	family_per_group(f, P "group_capacity", "gauge", "Members the group admits (its policy's capacity)", gi, n,
			 now, s_capacity);
	family_per_group(f, P "rekey_messages_total", "counter", "GSA_REKEY messages built for the group (multicast)",
			 gi, n, now, s_rekey_msgs);
	family_per_group(f, P "rekey_copies_total", "counter",
			 "GSA_REKEY copies sent to the group's multicast address (RFC 9838 2.4.1.3)", gi, n, now,
			 s_rekey_copies);
	family_per_group(f, P "inband_rekeys_sent_total", "counter", "GSA_INBAND_REKEY requests sent, one per member",
			 gi, n, now, s_inband_sent);
	family_per_group(f, P "inband_rekeys_acknowledged_total", "counter",
			 "GSA_INBAND_REKEY requests a member answered without an error", gi, n, now, s_inband_acked);
	family_per_group(f, P "inband_rekeys_failed_total", "counter",
			 "GSA_INBAND_REKEY requests answered with an error or never answered", gi, n, now,
			 s_inband_failed);
	family_per_group(f, P "last_rekey_timestamp_seconds", "gauge",
			 "When the group's last rekey was sent (unix seconds); absent before the first", gi, n, now,
			 s_last_rekey);
	family_per_group(f, P "rekey_age_seconds", "gauge", "Seconds since the group's last rekey was sent", gi, n,
			 now, s_rekey_age);
	family_per_group(f, P "next_rekey_seconds", "gauge",
			 "Seconds until the scheduler rekeys the group (negative: overdue)", gi, n, now, s_next_rekey);
	store_state(f, g, gi, n);
	if (store)
		store_latency(f, store);
	process(f, proc);
	free(gi);
}
