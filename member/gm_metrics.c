/* The scrape endpoint of gmd --metrics (gm_metrics.h): gmd's writer, served by the bounded
 * responder of common/base/http_server.c that gcksd's endpoint uses too. */
#include <stddef.h>
#include <stdlib.h>
#include "gm_metrics.h"
#include "http_server.h"
#include "prom.h"

struct gm_metrics {
	gk_http_server *srv;
	const gk_gm_groups *groups;   /* not owned */
	int64_t started;
};

/* The member facts of `gmd status` as Prometheus samples, one series per group. */
static void write_metrics(void *ctx, FILE *f)
{
	const gm_metrics *m = ctx;
	static const struct {
		const char *name, *help;
		size_t off;
	} ctr[] = {
		{ "gmd_registrations_total", "Registrations accepted by the GCKS (GSA_AUTH, GSA_REGISTRATION).",
		  offsetof(gk_gm_group_counters, registrations) },
		{ "gmd_reregistrations_total", "Re-registrations started (SA or Rekey SA ending, exclusion, lost rekey).",
		  offsetof(gk_gm_group_counters, reregistrations) },
		{ "gmd_exclusions_total", "Exclusions from the group by the GCKS.", offsetof(gk_gm_group_counters, exclusions) },
		{ "gmd_rekeys_accepted_total", "GSA_REKEY and GSA_INBAND_REKEY messages accepted.",
		  offsetof(gk_gm_group_counters, rekeys_accepted) },
		{ "gmd_inband_rekeys_total", "GSA_INBAND_REKEY messages accepted.",
		  offsetof(gk_gm_group_counters, inband_rekeys) },
	};
	for (size_t k = 0; k < sizeof(ctr) / sizeof(ctr[0]); k++) {
		gk_prom_family(f, ctr[k].name, "counter", ctr[k].help);
		for (size_t i = 0; m->groups && i < GK_GM_MAX_GROUPS; i++) {
			const char *name;
			bool reg;
			const gk_gm_group_counters *c = gk_gm_groups_counters(m->groups, i, &name, &reg);
			if (!c)
				continue;
			gk_prom_label l = { "group", name };
			gk_prom_u64(f, ctr[k].name, &l, 1, *(const unsigned long *)((const char *)c + ctr[k].off));
		}
	}
	gk_prom_family(f, "gmd_rekeys_rejected_total", "counter",
		       "GSA_REKEY messages rejected or refused, by reason (the first 7 reasons, then other).");
	for (size_t i = 0; m->groups && i < GK_GM_MAX_GROUPS; i++) {
		const char *name;
		bool reg;
		const gk_gm_group_counters *c = gk_gm_groups_counters(m->groups, i, &name, &reg);
		for (size_t r = 0; c && r < c->nreasons; r++) {
			gk_prom_label l[2] = { { "group", name }, { "reason", c->reasons[r].reason } };
			gk_prom_u64(f, "gmd_rekeys_rejected_total", l, 2, c->reasons[r].count);
		}
	}
	/* a family's samples follow its own HELP and TYPE lines: one pass per family */
	for (int fam = 0; fam < 2; fam++) {
		if (fam == 0)
			gk_prom_family(f, "gmd_registered", "gauge", "1 while the group is registered, else 0.");
		else
			gk_prom_family(f, "gmd_last_rekey_message_id", "gauge", "Message ID of the last rekey accepted.");
		for (size_t i = 0; m->groups && i < GK_GM_MAX_GROUPS; i++) {
			const char *name;
			bool reg;
			const gk_gm_group_counters *c = gk_gm_groups_counters(m->groups, i, &name, &reg);
			if (!c)
				continue;
			gk_prom_label l = { "group", name };
			if (fam == 0)
				gk_prom_u64(f, "gmd_registered", &l, 1, reg);
			else if (c->have_msgid)
				gk_prom_u64(f, "gmd_last_rekey_message_id", &l, 1, c->last_msgid);
		}
	}
	gk_prom_family(f, "gmd_start_time_seconds", "gauge", "Unix time gmd started.");
	gk_prom_i64(f, "gmd_start_time_seconds", NULL, 0, m->started);
}

gk_status gm_metrics_open(uv_loop_t *loop, const char *spec, const gk_gm_groups *groups, int64_t started,
			  gm_metrics **out, char *err, size_t errlen)
{
	gm_metrics *m = calloc(1, sizeof(*m));
	*out = NULL;
	if (!m)
		return GK_E_NOMEM;
	m->groups = groups;
	m->started = started;
	gk_status st = gk_http_server_open(loop, "--metrics", spec, "/metrics", GK_PROM_CONTENT_TYPE, write_metrics, m,
					   &m->srv, err, errlen);
	if (st) {
		free(m);
		return st;
	}
	*out = m;
	return GK_OK;
}

/* The server writes no body once closed: m goes at once. */
void gm_metrics_close(gm_metrics *m)
{
	if (!m)
		return;
	gk_http_server_close(m->srv);
	free(m);
}
