/* Group rekeying (RFC 9838 2.4): the scheduler that replaces SAs before their lifetime ends,
 * signed multicast GSA_REKEY with repeated identical copies (2.4.1), GSA_INBAND_REKEY over the
 * registration IKE SAs (2.4.2) sent in batches over loop turns (a later rekey merged into the one
 * being sent), deletion of replaced SAs and exclusion (2.4.3), and the rekey a policy change
 * makes. */
#define GK_LOG_SUBSYS GK_SUB_REKEY /* log.h */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "gcks_rekey.h"
#include "gcks_cluster.h"
#include "gcks_groups.h"
#include "gcks_sa_table.h"
#include "gcks_timers.h"
#include "gcks_sender_keys.h"
#include "gcks_eventlog.h"
#include "addr.h"
#include "iana.h"
#include "ikekeys.h"
#include "log.h"
#include "rekey_msg.h"
#include "gcks_keyrules.h"
#include "gcks_lkh.h"

/* Our requests on an IKE SA: retransmitted after 1 s, 2 s, 4 s, 8 s, 16 s, then 32 s more
 * without an answer and the member is deemed gone. */
static const gk_ike_req_sched request_sched = { .first_ms = 1000, .tries = 5 };

/* ---- what a rekey carries ---- */

typedef struct rekey_plan {
	gk_sa_key prev[GK_GROUP_MAX_SAS], keys[GK_GROUP_MAX_SAS];
	size_t n;
	uint32_t msgid;
	gk_pl_delete del[GK_GROUP_MAX_SAS + 2];
	gk_chunk del_spi[GK_GROUP_MAX_SAS + 2];
	uint8_t del_buf[GK_GROUP_MAX_SAS + 2][16]; /* the SPIs del_spi points to: a plan is copyable */
	size_t ndel;
	bool exclude;                     /* Delete everything: members must re-register */
	bool kek_changed;
} rekey_plan;

static const uint8_t zero_spi[16];

static void add_delete(rekey_plan *p, uint8_t proto, const uint8_t *spi, size_t len)
{
	if (p->ndel >= sizeof(p->del) / sizeof(p->del[0]) || len > sizeof(p->del_buf[0]))
		return;
	for (size_t i = 0; i < p->ndel; i++)
		if (p->del[i].proto == proto && p->del_spi[i].len == len && !memcmp(p->del_buf[i], spi, len))
			return; /* already there (plans merged by plan_merge) */
	memcpy(p->del_buf[p->ndel], spi, len);
	p->del_spi[p->ndel] = GK_CHUNK(p->del_buf[p->ndel], len);
	p->del[p->ndel] = (gk_pl_delete){ .proto = proto, .spi_size = (uint8_t)len,
					   .spis = { &p->del_spi[p->ndel], 1 } };
	p->ndel++;
}

/* Delete SPI 0 for each protocol of pol's SAs and for GIKE_UPDATE: everyone is excluded (2.4.3) */
static void plan_exclude(const gk_group_policy *pol, rekey_plan *p)
{
	p->exclude = true;
	for (size_t i = 0; i < pol->nteks; i++) {
		bool seen = false;
		for (size_t d = 0; d < p->ndel; d++)
			seen |= p->del[d].proto == pol->teks[i].proto;
		if (!seen)
			add_delete(p, pol->teks[i].proto, zero_spi, 4);
	}
	add_delete(p, GK_PROTO_GIKE_UPDATE, zero_spi, 16);
}

static uint8_t tek_proto(const gcks_group *grp, int idx)
{
	return idx >= 0 && (size_t)idx < grp->pol.nteks ? grp->pol.teks[idx].proto : GK_PROTO_GIKE_UPDATE;
}

/* New SAs: every current TEK (members keep what they have when the SPI is the same), the new
 * Rekey SA when it changed, and the group-wide policy. */
static void plan_state(gk_gcks *g, gcks_group *grp, const rekey_plan *p, gk_group_state *gs)
{
	int64_t now = gcks_wall(g);
	memset(gs, 0, sizeof(*gs));
	for (size_t j = 0; j < p->n; j++) {
		if (p->keys[j].tek_index >= 0 && (size_t)p->keys[j].tek_index < grp->pol.nteks)
			gcks_fill_tek(&grp->pol.teks[p->keys[j].tek_index], &p->keys[j], now, &gs->sas[gs->nsas++]);
		else if (p->kek_changed && grp->pol.rekey_transport == GK_REKEY_MULTICAST)
			gcks_fill_kek(g, grp, &p->keys[j], now, &gs->sas[gs->nsas++]);
	}
	for (size_t i = 0; i < gs->nsas; i++) {
		gs->sas[i].initial_msgid = 0; /* a new Rekey SA starts at 0 */
		if (grp->pol.rekey_transport == GK_REKEY_INBAND)
			gs->sas[i].lifetime = 0;
	}
	gs->atd = grp->pol.atd;
	gs->has_atd = grp->pol.atd != 0;
	gs->dtd = grp->pol.dtd;
	gs->has_dtd = grp->pol.dtd != 0;
	/* GWP_SENDER_ID_BITS goes with Sender-IDs at registration only (RFC 9838 section 5) */
	gcks_announce_next(grp, gs);
	if (g->announce_spki_len && grp->pol.kek.gcauth == GK_GCAUTH_DIGITAL_SIGNATURE &&
	    grp->pol.rekey_transport == GK_REKEY_MULTICAST) {
		/* the key that signs the following rekeys (RFC 9838 2.4.1, section 5: AUTH_KEY [S]) */
		memcpy(gs->auth_key, g->announce_spki, g->announce_spki_len);
		gs->auth_key_len = g->announce_spki_len;
	}
}

/* Payloads GSA, KD (keys wrapped under kwk) and Delete. */
static gk_status plan_payloads(const rekey_plan *p, const gk_group_state *gs, uint16_t kwa, gk_chunk kwk,
			       gk_arena *a, gk_out_pl *pl, size_t *n)
{
	*n = 0;
	if (!p->exclude && gs->nsas) {
		gk_pl_gsa *gsa = gk_arena_alloc(a, sizeof(*gsa));
		gk_pl_kd *kd = gk_arena_alloc(a, sizeof(*kd));
		if (!gsa || !kd)
			return GK_E_NOMEM;
		gk_status st = gk_group_state_encode(gs, GK_GSA_REKEY, kwa, kwk, a, gsa, kd);
		if (st)
			return st;
		pl[(*n)++] = (gk_out_pl){ GK_PL_GSA, false, gsa };
		pl[(*n)++] = (gk_out_pl){ GK_PL_KD, false, kd };
	}
	for (size_t i = 0; i < p->ndel; i++)
		pl[(*n)++] = (gk_out_pl){ GK_PL_DELETE, false, &p->del[i] };
	return *n ? GK_OK : GK_E_INVAL;
}

/* ---- multicast GSA_REKEY ---- */

static void pending_send(gk_gcks *g, gcks_pending *pd)
{
	gcks_group *grp = NULL;
	for (size_t i = 0; i < g->ngroups && !grp; i++)
		if (!strcmp(g->groups[i].pol.name, pd->group))
			grp = &g->groups[i];
	if (grp)
		grp->ctr.rekey_copies++;
	gcks_log_multicast(pd);
	for (size_t i = 0; i < pd->d.n; i++)
		g->env.send_multicast(g->env.send_ctx, (const struct sockaddr *)&pd->dst, pd->sport, pd->ttl,
				      pd->iface, pd->d.d[i].data, pd->d.d[i].len);
}

/* The copies of the group's earlier GSA_REKEY still due leave now, before the next message:
 * sent after it they reach members that expect a greater Message ID, and every member drops
 * them as replays (RFC 9838 2.4.1.4). Sent early they still serve a member that lost the
 * first copies (2.4.1.3: copies go "within a short time interval"). */
static void flush_earlier(gk_gcks *g, const char *group)
{
	for (size_t i = 0; i < GCKS_MAX_PENDING; i++) {
		gcks_pending *pd = g->pending[i];
		if (!pd || strcmp(pd->group, group))
			continue;
		for (; pd->copies_left; pd->copies_left--)
			pending_send(g, pd);
		gk_dgrams_free(&pd->d);
		free(pd);
		g->pending[i] = NULL;
	}
}

static void queue_copies(gk_gcks *g, const char *group, uint32_t msgid, const gk_kek_policy *k, gk_dgrams *d)
{
	flush_earlier(g, group);
	gcks_pending *pd = calloc(1, sizeof(*pd));
	if (!pd) {
		gk_dgrams_free(d);
		return;
	}
	pd->d = *d;
	memset(d, 0, sizeof(*d));
	gcks_kek_dst(k, &pd->dst);
	pd->sport = k->src.port_lo == k->src.port_hi ? k->src.port_lo : 0;
	pd->ttl = k->ttl ? k->ttl : 1;
	snprintf(pd->iface, sizeof(pd->iface), "%s", k->iface);
	pd->copies_left = pd->copies = k->copies ? k->copies : 1;
	snprintf(pd->group, sizeof(pd->group), "%s", group);
	pd->msgid = msgid;
	pd->interval_ms = k->interval_ms;
	for (size_t i = 0; i < g->ngroups; i++)
		if (!strcmp(g->groups[i].pol.name, group)) {
			g->groups[i].ctr.rekey_messages++;
			g->groups[i].ctr.last_copies = pd->copies;
		}
	/* the first copy leaves now; the others follow from the tick, bitwise identical */
	pending_send(g, pd);
	pd->copies_left--;
	pd->next_ms = gcks_now(g) + pd->interval_ms;
	for (size_t i = 0; i < GCKS_MAX_PENDING; i++)
		if (!g->pending[i]) {
			if (pd->copies_left)
				g->pending[i] = pd;
			else
				break;
			return;
		}
	gk_dgrams_free(&pd->d);
	free(pd);
}

/* IKE octets per GSA_REKEY datagram under kp's fragment-mtu, the IP datagram size: the IP and
 * UDP headers of the Rekey SA's family (and the non-ESP marker on port 4500) come off it. */
static size_t kek_frag_len(const gk_kek_policy *kp)
{
	return gk_rekey_frag_len(kp->frag_mtu, kp->dst.family, kp->dst.port_lo == GK_REKEY_NON_ESP_PORT);
}

/* A GSA_REKEY is fragmented only when every member registered to the group negotiated IKE
 * fragmentation (RFC 9838 2.4.1.2): a multicast message has no answer that could tell the GCKS
 * a member dropped the fragments. Not known (store error) counts as no. */
static bool members_frag(gk_gcks *g, const gcks_group *grp)
{
	bool all = false;
	return gk_store_registrations_frag_ok(g->env.store, grp->pol.name, &all) == GK_OK && all;
}

/* kp: the Rekey SA policy the members hold (the old one when a reload changed it): its
 * transforms protect the message and its address and port reach them. */
static gk_status send_multicast(gk_gcks *g, const gcks_group *grp, const gk_kek_policy *kp, const rekey_plan *p,
				const gk_sa_key *kek, const gk_group_state *gs)
{
	size_t limit = kek_frag_len(kp);
	bool frag = members_frag(g, grp);
	gk_group_keys gk;
	gk_arena a;
	gk_out_pl pl[GK_GROUP_MAX_SAS + 4];
	size_t n;
	gk_dgrams d;
	if (!g->env.send_multicast)
		return GK_E_UNSUPPORTED;
	gk_status st = gk_group_keys_split(GK_CHUNK(kek->keymat, kek->keymat_len), GK_PROTO_GIKE_UPDATE, kp->encr,
					   kp->encr_key_bits, kp->integ, kp->kwa, &gk);
	if (st)
		return st;
	gk_arena_init(&a, 0);
	st = plan_payloads(p, gs, kp->kwa, gk.wrap, &a, pl, &n);
	if (!st) {
		gk_rekey_out o = {
			.msg_id = p->msgid, .pl = pl, .npl = n, .frag_mtu = frag ? limit : 0,
			.sign_key = kp->gcauth == GK_GCAUTH_DIGITAL_SIGNATURE ? g->sign_key : NULL,
			.scheme = g->sign_scheme,
			.kek = { .encr = kp->encr, .encr_key_bits = kp->encr_key_bits, .integ = kp->integ,
				 .enc = gk.enc, .integ_key = gk.integ },
		};
		memcpy(o.spi, kek->spi, 16);
		st = gk_rekey_build(&o, g->env.rnd, &d);
	}
	if (!st && !frag && limit && d.d[0].len > limit)
		gk_warn("group %s: GSA_REKEY of %zu octets sent whole, its IP datagram above fragment-mtu %u: "
			"a registered member did not negotiate IKE fragmentation", grp->pol.name, d.d[0].len,
			kp->frag_mtu);
	if (!st)
		queue_copies(g, grp->pol.name, p->msgid, kp, &d);
	gk_arena_free(&a);
	return st;
}

/* ---- GSA_INBAND_REKEY ---- */

static gcks_group *group_by_hash(gk_gcks *g, uint64_t h);

static void out_send(gk_gcks *g, gcks_sa *sa)
{
	const gk_dgrams *d = &sa->out_req->d;
	gcks_log_request(g, sa);
	for (size_t i = 0; i < d->n; i++)
		gcks_send(g, sa->path, (const struct sockaddr *)&sa->ike.local, (const struct sockaddr *)&sa->ike.peer,
			  d->d[i].data, d->d[i].len);
}

gk_status gcks_request(gk_gcks *g, gcks_sa *sa, uint8_t exchange, const gk_out_pl *pl, size_t n)
{
	gk_dgrams d;
	if (sa->out_req)
		return GK_E_STATE;
	gk_status st = gk_ike_req_build(&sa->ike, exchange, false, sa->ike.msgid_out, pl, n, g->env.rnd, &d);
	if (st)
		return st;
	sa->out_req = calloc(1, sizeof(*sa->out_req));
	if (!sa->out_req) {
		gk_dgrams_free(&d);
		return GK_E_NOMEM;
	}
	gk_ike_req_start(sa->out_req, &d, exchange, sa->ike.msgid_out, request_sched, gcks_now(g));
	gcks_timers_touch(g, sa);
	gk_ike_req_send_on(sa->out_req, sa->path); /* the first send: always */
	out_send(g, sa);
	return GK_OK;
}

static gk_status send_inband(gk_gcks *g, gcks_sa *sa, uint64_t group, const rekey_plan *p,
			     const gk_group_state *gs)
{
	gk_arena a;
	gk_out_pl pl[GK_GROUP_MAX_SAS + 4];
	size_t n;
	if (sa->out_req)
		return GK_E_STATE;
	gk_arena_init(&a, 0);
	gk_status st = plan_payloads(p, gs, sa->ike.suite.kwa, gk_ike_sa_gsk_w(&sa->ike),
				     &a, pl, &n);
	sa->out_group = group; /* before the request: its log line names the group */
	if (!st)
		st = gcks_request(g, sa, GK_EXCH_GSA_INBAND_REKEY, pl, n);
	if (!st) {
		gcks_group *grp = group_by_hash(g, group);
		sa->out_group = group;
		if (grp)
			grp->ctr.inband_sent++;
	}
	gk_arena_free(&a);
	return st;
}

static void out_done(gcks_sa *sa)
{
	if (sa->out_req) {
		gk_ike_req_clear(sa->out_req);
		free(sa->out_req);
		sa->out_req = NULL;
	}
	sa->ike.msgid_out++;
}

/* An inband rekey being sent: GSA_INBAND_REKEY goes to GCKS_INBAND_BATCH IKE SAs per event-loop
 * turn (gcks_inband_continue), so that registrations arriving meanwhile are answered between
 * batches. spis: our SPIs of the group's established SAs when the rekey was made, in the order
 * they are sent; next_i: the first not yet sent. The plan and state are the group's newest: a
 * rekey made while this one is out merges into it (plan_merge), so a member never gets older
 * keys after newer ones. batch_lo, batch_ms: where and when the last batch began; the next
 * waits until most of it is answered (job_ready). Owned by the gcks (gk_gcks.inband_jobs), freed
 * when sent or at gk_gcks_free. */
struct gcks_inband_job {
	struct gcks_inband_job *next;
	uint64_t group;
	rekey_plan p;
	gk_group_state gs;
	uint64_t *spis;
	size_t n, next_i, batch_lo;
	int64_t batch_ms;
};

static gcks_inband_job *job_of(gk_gcks *g, uint64_t group)
{
	for (gcks_inband_job *j = g->inband_jobs; j; j = j->next)
		if (j->group == group)
			return j;
	return NULL;
}

static void job_free(gcks_inband_job *j)
{
	free(j->spis);
	OPENSSL_clear_free(j, sizeof(*j));
}

static void job_unlink(gk_gcks *g, gcks_inband_job *j)
{
	for (gcks_inband_job **pp = &g->inband_jobs; *pp; pp = &(*pp)->next)
		if (*pp == j) {
			*pp = j->next;
			break;
		}
	job_free(j);
}

static void plan_copy(rekey_plan *dst, const rekey_plan *src)
{
	memcpy(dst, src, sizeof(*dst));
	for (size_t i = 0; i < dst->ndel; i++) {
		dst->del_spi[i].ptr = dst->del_buf[i];
		dst->del[i].spis.items = &dst->del_spi[i];
	}
}

/* The members that have not had `old` yet get `nw` instead, with old's Deletes too: they still
 * hold the SAs old replaces, never the ones it brought (which nw deletes: harmless). An
 * exclusion stays an exclusion (RFC 9838 2.4.3): they must register again either way. */
static void plan_merge(rekey_plan *old, const rekey_plan *nw)
{
	rekey_plan *m = OPENSSL_zalloc(sizeof(*m));
	if (!m)
		return; /* keeps old's deletes, takes nw's keys below */
	plan_copy(m, nw);
	for (size_t i = 0; i < old->ndel; i++)
		add_delete(m, old->del[i].proto, old->del_buf[i], old->del_spi[i].len);
	m->exclude |= old->exclude;
	plan_copy(old, m);
	OPENSSL_clear_free(m, sizeof(*m));
}

typedef struct {
	gcks_inband_job *j;
	const uint64_t *skip;             /* sorted SPIs that keep their place in an earlier job */
	size_t nskip, cap;
	gk_status st;
} inband_walk;

static int spi_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void collect_one(gk_gcks *g, gcks_sa *sa, void *ctx)
{
	inband_walk *w = ctx;
	uint64_t spi = gcks_our_spi(sa);
	(void)g;
	if (w->st || sa->ike.state != GK_IKE_ESTABLISHED || !gcks_sa_in_group(sa, w->j->group) ||
	    (w->nskip && bsearch(&spi, w->skip, w->nskip, sizeof(spi), spi_cmp)))
		return;
	if (w->j->n == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 64;
		uint64_t *s = realloc(w->j->spis, cap * sizeof(*s));
		if (!s) {
			w->st = GK_E_NOMEM;
			return;
		}
		w->j->spis = s;
		w->cap = cap;
	}
	w->j->spis[w->j->n++] = spi;
}

/* Sends j's plan on sa, or queues it behind our outstanding request (window 1). */
static bool job_send_one(gk_gcks *g, gcks_inband_job *j, gcks_sa *sa)
{
	if (sa->ike.state != GK_IKE_ESTABLISHED || sa->closing || !gcks_sa_in_group(sa, j->group))
		return false; /* gone, closing, left or excluded since the rekey was made */
	if (sa->out_req) {
		/* one request at a time per IKE SA (window 1): send the newest later */
		sa->rekey_queued = true;
		sa->queued_group = j->group;
		return true;
	}
	return send_inband(g, sa, j->group, &j->p, &j->gs) == GK_OK;
}

/* The next batch may go: most of the last one is answered, or its first retransmission is due
 * (members that do not answer hold nothing up for long). Without this window the answers of
 * thousands of members queue on the socket ahead of registrations. */
static bool job_ready(gk_gcks *g, const gcks_inband_job *j)
{
	size_t out = 0;
	if (j->next_i == j->batch_lo || gcks_now(g) - j->batch_ms >= request_sched.first_ms)
		return true;
	for (size_t i = j->batch_lo; i < j->next_i; i++) {
		const gcks_sa *sa = gcks_sa_find(g, j->spis[i]);
		out += sa && sa->out_req && sa->out_req->exchange == GK_EXCH_GSA_INBAND_REKEY && sa->out_group == j->group;
	}
	return out <= (j->next_i - j->batch_lo) / 2;
}

/* One batch of j; true when j is done (and freed). */
static bool job_batch(gk_gcks *g, gcks_inband_job *j)
{
	j->batch_lo = j->next_i;
	j->batch_ms = gcks_now(g);
	for (size_t k = 0; k < GCKS_INBAND_BATCH && j->next_i < j->n; k++) {
		gcks_sa *sa = gcks_sa_find(g, j->spis[j->next_i++]);
		if (sa)
			job_send_one(g, j, sa);
	}
	if (j->next_i < j->n)
		return false;
	gcks_group *grp = group_by_hash(g, j->group);
	gk_dbg("group %s: GSA_INBAND_REKEY sent to all %zu IKE SAs", grp ? grp->pol.name : "?", j->n);
	job_unlink(g, j);
	return true;
}

/* Starts sending the plan to every member holding an IKE SA registered to the group (the first
 * batch now); returns how many SAs it goes to. A rekey of the group still being sent takes the
 * newest keys for the members it has not reached (plan_merge), and a new job sends p to the
 * others. */
static unsigned send_inband_all(gk_gcks *g, gcks_group *grp, const rekey_plan *p, const gk_group_state *gs)
{
	gcks_inband_job *j = OPENSSL_zalloc(sizeof(*j)), *old = job_of(g, grp->hash);
	inband_walk w = { j, NULL, 0, 0, GK_OK };
	uint64_t *rest = NULL;
	size_t nrest = 0;
	if (!j) {
		gk_err("group %s: no memory for GSA_INBAND_REKEY", grp->pol.name);
		return 0;
	}
	j->group = grp->hash;
	plan_copy(&j->p, p);
	memcpy(&j->gs, gs, sizeof(*gs));
	for (gcks_inband_job *o = old; o; o = o->next)
		if (o->group == grp->hash) {
			plan_merge(&o->p, p);
			memcpy(&o->gs, gs, sizeof(*gs));
			nrest += o->n - o->next_i;
		}
	if (nrest && (rest = malloc(nrest * sizeof(*rest))) != NULL) {
		size_t k = 0;
		for (gcks_inband_job *o = old; o; o = o->next)
			if (o->group == grp->hash) {
				memcpy(rest + k, o->spis + o->next_i, (o->n - o->next_i) * sizeof(*rest));
				k += o->n - o->next_i;
			}
		qsort(rest, nrest, sizeof(*rest), spi_cmp);
		w.skip = rest;
		w.nskip = nrest;
	} else if (nrest) {
		w.st = GK_E_NOMEM;
	}
	if (!w.st)
		gcks_sa_foreach(g, collect_one, &w);
	free(rest);
	if (w.st) {
		gk_err("group %s: no memory for GSA_INBAND_REKEY", grp->pol.name);
		job_free(j);
		return 0;
	}
	unsigned n = (unsigned)(j->n + nrest);
	if (!j->n) { /* all of them are still to be reached by an earlier job */
		job_free(j);
		return n;
	}
	/* after the jobs already out, so that their members are reached first */
	gcks_inband_job **pp = &g->inband_jobs;
	while (*pp)
		pp = &(*pp)->next;
	*pp = j;
	if (j == g->inband_jobs)
		job_batch(g, j);
	return n;
}

bool gcks_inband_pending(gk_gcks *g)
{
	return g->inband_jobs && job_ready(g, g->inband_jobs);
}

void gcks_inband_continue(gk_gcks *g)
{
	if (g->inband_jobs && job_ready(g, g->inband_jobs))
		job_batch(g, g->inband_jobs);
}

void gcks_inband_moved(gk_gcks *g, uint64_t old_spi, uint64_t new_spi)
{
	for (gcks_inband_job *j = g->inband_jobs; j; j = j->next)
		for (size_t i = j->next_i; i < j->n; i++)
			if (j->spis[i] == old_spi)
				j->spis[i] = new_spi;
}

void gcks_inband_free(gk_gcks *g)
{
	while (g->inband_jobs)
		job_unlink(g, g->inband_jobs);
}

static gcks_group *group_by_hash(gk_gcks *g, uint64_t h)
{
	for (size_t i = 0; i < g->ngroups; i++)
		if (g->groups[i].hash == h)
			return &g->groups[i];
	return NULL;
}

/* The member answered a GSA_INBAND_REKEY with an error: it does not hold the group's new keys,
 * and sending the same update again would be refused again. It is excluded: its registration
 * goes and its IKE SA is closed with a Delete, which a member with no Rekey SA takes as its
 * exclusion and answers by registering again (RFC 9838 2.3.3), receiving the current policy,
 * or saying NO_PROPOSAL_CHOSEN there (2.3.2). A GSA_INBAND_REKEY cannot name a group, so an
 * exclusion by Delete SPI 0 on the SA would be ambiguous when the SA serves several groups. */
static void inband_refused(gk_gcks *g, gcks_sa *sa, uint16_t notify)
{
	char at[64], mt[GK_IDENT_TEXT_MAX];
	gcks_group *grp = group_by_hash(g, sa->out_group);
	bool reg = false;
	if (grp)
		grp->ctr.inband_failed++;
	gk_addr_text((const struct sockaddr *)&sa->ike.peer, at, sizeof(at));
	gcks_sa_peer_text(sa, mt);
	gk_warn("%s at %s refused GSA_INBAND_REKEY of %s with %s: excluded, its IKE SA is closed so that it "
		"registers again", mt, at, grp ? grp->pol.name : "?", gk_iana_str(GK_REG_NOTIFY, notify));
	if (grp && gk_store_registration_exists(g->env.store, grp->pol.name, mt, &reg) == GK_OK && reg &&
	    gk_store_registration_delete(g->env.store, grp->pol.name, mt) == GK_OK && grp->registered)
		grp->registered--;
	memset(sa->groups, 0, sizeof(sa->groups));
	sa->rekey_queued = false;
	sa->deadline_ms = 1; /* the next scan sends Delete and removes it */
	gcks_timers_touch(g, sa);
}

void gcks_inband_response(gk_gcks *g, gcks_sa *sa, const gk_msg *m)
{
	if (!sa->out_req || !gk_ike_req_answers(sa->out_req, m->hdr.exchange, m->hdr.msg_id))
		return;
	out_done(sa);
	if (sa->closing)
		return; /* the member answered our Delete: the caller removes the SA */
	const gk_payload *err = m->hdr.exchange == GK_EXCH_GSA_INBAND_REKEY ? gk_msg_find_error(m) : NULL;
	if (err) {
		inband_refused(g, sa, err->body->notify.type);
		return;
	}
	if (m->hdr.exchange == GK_EXCH_GSA_INBAND_REKEY) {
		gcks_group *grp = group_by_hash(g, sa->out_group);
		if (grp)
			grp->ctr.inband_acked++;
	}
	gcks_inband_send_queued(g, sa);
}

void gcks_request_done(gcks_sa *sa)
{
	out_done(sa);
}

void gcks_inband_send_queued(gk_gcks *g, gcks_sa *sa)
{
	if (!sa->rekey_queued || sa->out_req)
		return;
	sa->rekey_queued = false;
	gcks_inband_job *j = job_of(g, sa->queued_group);
	if (j) { /* the newest plan, with its Deletes */
		job_send_one(g, j, sa);
		return;
	}
	for (size_t i = 0; i < g->ngroups; i++) {
		gcks_group *grp = &g->groups[i];
		if (grp->hash != sa->queued_group)
			continue;
		/* the member gets the group's current state: every SA, its current keys */
		rekey_plan *p = OPENSSL_zalloc(sizeof(*p));
		gk_group_state *gs = OPENSSL_zalloc(sizeof(*gs));
		if (p && gs) {
			p->n = grp->nkeys;
			memcpy(p->keys, grp->keys, grp->nkeys * sizeof(grp->keys[0]));
			plan_state(g, grp, p, gs);
			send_inband(g, sa, grp->hash, p, gs);
		}
		OPENSSL_clear_free(p, sizeof(*p));
		OPENSSL_clear_free(gs, sizeof(*gs));
	}
}

void gcks_outgoing_tick(gk_gcks *g, gcks_sa *sa, int64_t now)
{
	char at[64];
	if (!sa->out_req)
		return;
	gk_ike_req_due due = gk_ike_req_tick(sa->out_req, now);
	if (due == GK_REQ_RESEND && gk_ike_req_send_on(sa->out_req, sa->path)) {
		if (sa->closing && sa->out_req->exchange == GK_EXCH_INFORMATIONAL)
			g->stats.delete_retransmits++;
		else
			g->stats.req_retransmits++;
		out_send(g, sa);
	}
	if (due != GK_REQ_GIVE_UP)
		return;
	if (!sa->closing && sa->out_req->exchange == GK_EXCH_GSA_INBAND_REKEY) {
		gcks_group *grp = group_by_hash(g, sa->out_group);
		if (grp)
			grp->ctr.inband_failed++;
	}
	gk_addr_text((const struct sockaddr *)&sa->ike.peer, at, sizeof(at));
	if (sa->closing)
		gk_dbg("member at %s does not answer our Delete: IKE SA removed", at);
	else
		gk_warn("member at %s does not answer %s: closing its IKE SA", at,
			gk_iana_str(GK_REG_EXCHANGE, sa->out_req->exchange));
	sa->closing = true; /* an unresponsive peer's SA goes without a Delete (RFC 7296 2.4) */
	sa->deadline_ms = now; /* removed by the SA scan */
	out_done(sa);
}

/* ---- the rekey itself ---- */

static int kek_index(const rekey_plan *p)
{
	for (size_t j = 0; j < p->n; j++)
		if (p->keys[j].tek_index < 0)
			return (int)j;
	return -1;
}

/* Tells the members about p (keys already rotated in the store). prev_kek: the Rekey SA the
 * members hold now, under which a multicast message goes out; via: the policy they follow now
 * (the group's own, or before a reload the old one: its transport and Rekey SA reach them). */
static gk_status announce_via(gk_gcks *g, gcks_group *grp, const gk_group_policy *via, rekey_plan *p,
			      const gk_sa_key *prev_kek, const char *why)
{
	gk_group_state *gs = OPENSSL_zalloc(sizeof(*gs));
	gk_status st = GK_E_NOMEM;
	if (!gs)
		return st;
	plan_state(g, grp, p, gs);
	grp->ctr.last_rekey = gcks_wall(g);
	grp->ctr.last_msgid = via->rekey_transport == GK_REKEY_MULTICAST ? p->msgid : 0;
	if (p->exclude) /* members must register again: those who have not are behind */
		grp->ctr.last_exclusion = grp->ctr.last_rekey;
	snprintf(grp->ctr.last_reason, sizeof(grp->ctr.last_reason), "%s", why);
	if (!p->exclude) /* every registered sender may install these keys (doc/sender-iv.md) */
		gcks_sender_keys_note(g, grp, NULL);
	if (via->rekey_transport == GK_REKEY_MULTICAST) {
		st = prev_kek ? send_multicast(g, grp, &via->kek, p, prev_kek, gs) : GK_E_STATE;
		gk_logs(GK_SUB_REKEY, p->exclude ? GK_LOG_NOTICE : GK_LOG_INFO, "group %s %s (%s): GSA_REKEY message %u%s, "
			"%zu SA%s deleted: %s", grp->pol.name, p->exclude ? "excluded every member" : "rekeyed", why,
			p->msgid, p->kek_changed ? " with a new Rekey SA" : "", p->ndel, p->ndel == 1 ? "" : "s",
			gk_status_str(st));
	} else {
		unsigned n = send_inband_all(g, grp, p, gs);
		grp->ctr.last_copies = n;
		gk_logs(GK_SUB_REKEY, p->exclude ? GK_LOG_NOTICE : GK_LOG_INFO, "group %s %s (%s): GSA_INBAND_REKEY to "
			"%u member%s", grp->pol.name, p->exclude ? "excluded every member" : "rekeyed", why, n,
			n == 1 ? "" : "s");
		st = GK_OK;
	}
	OPENSSL_clear_free(gs, sizeof(*gs));
	return st;
}

static gk_status announce(gk_gcks *g, gcks_group *grp, rekey_plan *p, const gk_sa_key *prev_kek, const char *why)
{
	return announce_via(g, grp, &grp->pol, p, prev_kek, why);
}

static void plan_deletes(const gcks_group *grp, rekey_plan *p)
{
	for (size_t j = 0; j < p->n; j++) {
		const gk_sa_key *o = &p->prev[j], *k = &p->keys[j];
		if (!o->spi_len || (o->spi_len == k->spi_len && !memcmp(o->spi, k->spi, k->spi_len)))
			continue;
		if (o->tek_index < 0)
			p->kek_changed = true; /* the old Rekey SA goes after DTD without a Delete (2.4.1.4) */
		else
			add_delete(p, tek_proto(grp, o->tek_index), o->spi, o->spi_len);
	}
}

gk_status gcks_rekey_group(gk_gcks *g, gcks_group *grp, bool force, const gk_sa_key *prev_kek, const char *why)
{
	rekey_plan *p = OPENSSL_zalloc(sizeof(*p));
	bool changed = false;
	int64_t now = gcks_wall(g), margin = 0;
	gk_status st = GK_E_NOMEM;
	if (!p)
		return st;
	/* replace what expires within its margin (policy: a share of its lifetime) */
	uint32_t pct = grp->pol.rekey_margin_pct ? grp->pol.rekey_margin_pct : 20;
	for (size_t i = 0; i < grp->pol.nteks; i++)
		if ((int64_t)grp->pol.teks[i].lifetime * pct / 100 > margin)
			margin = (int64_t)grp->pol.teks[i].lifetime * pct / 100;
	if (grp->pol.kek.present && (int64_t)grp->pol.kek.lifetime * pct / 100 > margin)
		margin = (int64_t)grp->pol.kek.lifetime * pct / 100;
	st = gk_keys_group_rekey(g->env.store, &grp->pol, g->env.rnd, now, now + margin, force,
				  (const uint8_t(*)[16])grp->next_spi, p->prev, p->keys, &p->n, &changed, &p->msgid);
	if (st || !changed)
		goto out;
	gcks_cluster_changed(g, grp);
	memcpy(grp->keys, p->keys, p->n * sizeof(p->keys[0]));
	grp->nkeys = p->n;
	gcks_next_spis(g, grp);
	plan_deletes(grp, p);
	int ki = kek_index(p);
	st = announce(g, grp, p, prev_kek ? prev_kek : ki >= 0 ? &p->prev[ki] : NULL, why);
out:
	OPENSSL_clear_free(p, sizeof(*p));
	return st;
}

/* Keys changed by a policy reload: the old in-memory keys are what members hold, and the old
 * policy says how to reach them (its transport, Rekey SA transforms, address). A change of rekey
 * transport or of the Rekey SA's authentication method excludes everyone by the old path:
 * members re-register, to keep the IKE SA that inband rekeys need, or to learn GCAUTH and
 * AUTH_KEY, which only registration carries (RFC 9838 4.4.2.1). */
bool gcks_rekey_reloaded(gk_gcks *g, gcks_group *grp, const gcks_group *was)
{
	const gk_sa_key *old = was->keys;
	size_t nold = was->nkeys;
	bool sent = false;
	rekey_plan *p = OPENSSL_zalloc(sizeof(*p));
	if (!p)
		return false;
	p->n = grp->nkeys;
	memcpy(p->keys, grp->keys, grp->nkeys * sizeof(grp->keys[0]));
	/* pair old keys with new ones by SPI: an old SPI no longer served is deleted */
	const gk_sa_key *old_kek = NULL;
	for (size_t j = 0; j < nold; j++) {
		if (old[j].tek_index < 0)
			old_kek = &old[j];
		bool kept = false;
		for (size_t k = 0; k < p->n; k++)
			kept |= p->keys[k].spi_len == old[j].spi_len && !memcmp(p->keys[k].spi, old[j].spi, old[j].spi_len);
		if (!kept && old[j].tek_index >= 0)
			add_delete(p, tek_proto(was, old[j].tek_index), old[j].spi, old[j].spi_len);
		if (!kept && old[j].tek_index < 0)
			p->kek_changed = true;
	}
	bool any_new = p->ndel > 0 || p->kek_changed;
	for (size_t k = 0; k < p->n; k++) {
		bool known = false;
		for (size_t j = 0; j < nold; j++)
			known |= p->keys[k].spi_len == old[j].spi_len && !memcmp(p->keys[k].spi, old[j].spi, old[j].spi_len);
		any_new |= !known;
		if (!known && p->keys[k].tek_index < 0)
			p->kek_changed = true; /* a new Rekey SA (e.g. inband became multicast) */
	}
	if (!any_new || (old_kek && gk_keys_rekey_msgid_next(g->env.store, grp->pol.name, &p->msgid) != GK_OK))
		goto out;
	if (p->kek_changed)
		gk_keys_rekey_msgid_reset(g->env.store, grp->pol.name);
	/* RFC 9838 4.4.2.1.1: the authentication method "MUST NOT change as a result of rekey
	 * operations" and GCAUTH is sent at registration only: members learn a new one by
	 * registering again */
	bool method_changed = grp->pol.rekey_transport == GK_REKEY_MULTICAST && was->pol.kek.present &&
			      grp->pol.kek.present && was->pol.kek.gcauth != grp->pol.kek.gcauth;
	/* a new key tree (lkh switched on or off, another degree or key wrap algorithm): members
	 * hold no leaf in it and get one by registering again (RFC 9838 A.2) */
	bool tree_changed = gk_keys_tree_changed(&was->pol, &grp->pol);
	if (gk_keys_change_excludes_all(&was->pol, &grp->pol)) { /* the rule policy load reports */
		p->ndel = 0;
		plan_exclude(&was->pol, p);
	}
	sent = announce_via(g, grp, &was->pol, p, old_kek,
			    tree_changed ? "key management changed: members re-register" :
			    method_changed ? "rekey authentication method changed: members re-register" :
			    p->exclude ? "rekey transport changed: members re-register" : "policy changed") == GK_OK;
out:
	OPENSSL_clear_free(p, sizeof(*p));
	return sent;
}

/* ---- scheduler ---- */

static bool due(const gk_gcks *g, const gcks_group *grp)
{
	return grp->nkeys && gcks_group_rekey_at(grp) <= gcks_wall(g);
}

void gcks_rekey_tick(gk_gcks *g, int64_t now)
{
	for (size_t i = 0; i < GCKS_MAX_PENDING; i++) {
		gcks_pending *pd = g->pending[i];
		if (!pd || now < pd->next_ms)
			continue;
		pending_send(g, pd);
		pd->next_ms = now + pd->interval_ms;
		if (--pd->copies_left == 0) {
			gk_dgrams_free(&pd->d);
			free(pd);
			g->pending[i] = NULL;
		}
	}
	for (size_t i = 0; i < g->ngroups; i++) {
		gcks_group *grp = &g->groups[i];
		if (!grp->rekey_due && !due(g, grp))
			continue;
		/* one server at a time rekeys a group (gcks_cluster.c); none without the store */
		if (!gcks_cluster_leads(g, grp)) {
			grp->rekey_due = false;
			continue;
		}
		gk_status st = gcks_rekey_group(g, grp, grp->rekey_due, NULL, grp->rekey_due ? "requested" : "lifetime");
		if (st)
			gk_err("group %s: rekey failed: %s", grp->pol.name, gk_status_str(st));
		grp->rekey_due = false;
	}
}

void gcks_pending_free(gk_gcks *g)
{
	for (size_t i = 0; i < GCKS_MAX_PENDING; i++)
		if (g->pending[i]) {
			gk_dgrams_free(&g->pending[i]->d);
			free(g->pending[i]);
			g->pending[i] = NULL;
		}
}

/* ---- exclusion ---- */

/* Excludes every member (RFC 9838 2.4.3): new keys for every SA, then a GSA_REKEY under the old
 * Rekey SA with Delete SPI 0 for the Data-Security SAs and for GIKE_UPDATE, carrying no keys:
 * members re-register and get the new ones, which only authorized members can. */
/* via, old_kek: the policy and Rekey SA members hold (after a reload, the old ones); NULL: the
 * group's own and the Rekey SA before this rotation. */
gk_status gcks_exclude_via(gk_gcks *g, gcks_group *grp, const gk_group_policy *via, const gk_sa_key *old_kek,
			  const char *why)
{
	rekey_plan *p = OPENSSL_zalloc(sizeof(*p));
	bool changed = false;
	gk_status st = GK_E_NOMEM;
	if (!p)
		return st;
	/* the SPIs promised in GSA_NEXT_SPI: a member that missed this message knows the next one
	 * for a lost rekey (RFC 9838 4.4.2.2.3) */
	st = gk_keys_group_rekey(g->env.store, &grp->pol, g->env.rnd, gcks_wall(g), 0, true,
				  (const uint8_t(*)[16])grp->next_spi, p->prev, p->keys, &p->n, &changed, &p->msgid);
	if (!st) {
		gcks_cluster_changed(g, grp);
		memcpy(grp->keys, p->keys, p->n * sizeof(p->keys[0]));
		grp->nkeys = p->n;
		gcks_next_spis(g, grp);
		plan_exclude(via ? via : &grp->pol, p);
		int ki = kek_index(p);
		if (!old_kek && ki >= 0)
			old_kek = &p->prev[ki];
		st = announce_via(g, grp, via ? via : &grp->pol, p, old_kek, why);
	}
	OPENSSL_clear_free(p, sizeof(*p));
	return st;
}

gk_status gcks_exclude_all(gk_gcks *g, gcks_group *grp, const char *why)
{
	return gcks_exclude_via(g, grp, NULL, NULL, why);
}

/* ---- eviction through the key tree (RFC 9838 Appendix A.4) ---- */

/* The GSA_REKEY of an eviction: the new Rekey SA only (new TEKs would reach the evicted
 * members, who can read this message: RFC 9838 3.2.1), its keying material under the top keys
 * of the tree, the replaced keys as WRAP_KEYs; sent under the Rekey SA members hold. */
static gk_status lkh_announce(gk_gcks *g, gcks_group *grp, const rekey_plan *p, int ki, const gk_lkh_evicted *e,
			      gk_arena *a)
{
	gk_group_state *gs = OPENSSL_zalloc(sizeof(*gs));
	gk_kh_wrapped *w, *s;
	size_t nw, ns;
	gk_status st = GK_E_NOMEM;
	if (!gs)
		return st;
	gcks_fill_kek(g, grp, &p->keys[ki], gcks_wall(g), &gs->sas[gs->nsas++]);
	gs->sas[0].initial_msgid = 0; /* a new Rekey SA starts at 0 */
	gs->atd = grp->pol.atd;
	gs->has_atd = grp->pol.atd != 0;
	gs->dtd = grp->pol.dtd;
	gs->has_dtd = grp->pol.dtd != 0;
	st = gk_lkh_evict_wraps(grp->lkh, e, grp->pol.kek.kwa, GK_CHUNK(p->keys[ki].keymat, p->keys[ki].keymat_len), a,
				&w, &nw, &s, &ns);
	if (!st) {
		gs->wrap_keys = w;
		gs->nwrap_keys = nw;
		gs->kh_sa_keys = s;
		gs->nkh_sa_keys = ns;
		st = send_multicast(g, grp, &grp->pol.kek, p, &p->prev[ki], gs);
	}
	OPENSSL_clear_free(gs, sizeof(*gs));
	return st;
}

/* One GSA_REKEY evicting a batch; *excluded when nobody was left in the tree. */
static gk_status lkh_evict_batch(gk_gcks *g, gcks_group *grp, const char *const *members, size_t n, const char *why,
				 bool *excluded)
{
	rekey_plan *p = OPENSSL_zalloc(sizeof(*p));
	gk_lkh_evicted e = { 0 };
	gk_arena a;
	gk_status st = GK_E_NOMEM;
	gk_arena_init(&a, 0);
	if (!p)
		goto out;
	st = GK_E_STATE;
	if (!grp->lkh || grp->pol.rekey_transport != GK_REKEY_MULTICAST || !grp->pol.kek.present)
		goto out;
	st = gk_keys_lkh_evict(g->env.store, &grp->pol, grp->lkh, g->env.rnd, gcks_wall(g), members, n,
			       grp->nkeys == grp->pol.nteks + 1 ? grp->next_spi[grp->pol.nteks] : NULL, &e, p->prev,
			       p->keys, &p->n, &p->msgid);
	if (st)
		goto out;
	gcks_cluster_changed(g, grp);
	memcpy(grp->keys, p->keys, p->n * sizeof(p->keys[0]));
	grp->nkeys = p->n;
	gcks_next_spis(g, grp);
	p->kek_changed = true;
	int ki = kek_index(p);
	if (ki < 0) {
		st = GK_E_STATE;
		goto out;
	}
	if (!e.ntops) {
		/* nobody is left in the tree: whoever still holds keys is excluded */
		*excluded = true;
		st = gcks_exclude_via(g, grp, NULL, &p->prev[ki], why);
		goto out;
	}
	st = lkh_announce(g, grp, p, ki, &e, &a);
	gk_info("group %s: %zu member%s evicted through the key tree (%s): GSA_REKEY message %u with a new Rekey SA "
		"under %zu key%s, %zu wrapped key%s: %s", grp->pol.name, e.removed, e.removed == 1 ? "" : "s", why,
		p->msgid, e.ntops, e.ntops == 1 ? "" : "s", e.nwraps, e.nwraps == 1 ? "" : "s", gk_status_str(st));
out:
	gk_lkh_evicted_free(&e);
	gk_arena_free(&a);
	OPENSSL_clear_free(p, sizeof(*p));
	return st;
}

/* Members one GSA_REKEY may evict. Each evicted leaf replaces at most depth-1 keys, each under
 * at most d children; keys made when the tree grew go under their d children once (at most d
 * per level), and the Rekey SA key under the d top keys. A member takes at most
 * GK_KH_MAX_WRAPPED wrapped keys from one message, and the message must fit GK_FRAG_MAX
 * fragments of the Rekey SA's fragment size (or one datagram when it is sent whole): a wrapped
 * key is an attribute header, the two IDs and the key with its RFC 5649 block; 1024 octets are
 * kept for the headers, the GSA payload, padding and the signature. */
static size_t lkh_batch(gk_gcks *g, const gcks_group *grp)
{
	size_t d = grp->lkh->degree, depth = grp->lkh->depth, extra = 2 * d * (depth + 1);
	size_t limit = kek_frag_len(&grp->pol.kek), room;
	if (limit && members_frag(g, grp))
		room = GK_FRAG_MAX * (limit > 100 ? limit - 100 : 1);
	else
		room = 65000; /* one UDP datagram */
	size_t wraps = room > 1024 ? (room - 1024) / (4 + 8 + grp->lkh->key_len + 8) : 0;
	if (wraps > GK_KH_MAX_WRAPPED)
		wraps = GK_KH_MAX_WRAPPED;
	size_t per = wraps > extra ? (wraps - extra) / (d * depth) : 0;
	return per ? per : 1;
}

gk_status gcks_lkh_evict(gk_gcks *g, gcks_group *grp, const char *const *members, size_t n, const char *why)
{
	bool excluded = false;
	gk_status st = gcks_group_lkh(g, grp);
	if (st)
		return st;
	size_t per = lkh_batch(g, grp), done = 0;
	while (!st && !excluded && done < n) {
		size_t k = n - done < per ? n - done : per;
		st = lkh_evict_batch(g, grp, members + done, k, why, &excluded);
		done += k;
	}
	if (!st && !excluded) /* the Data-Security SAs follow under the new Rekey SA (RFC 9838 3.2.1) */
		st = gcks_rekey_group(g, grp, true, NULL, "new Data-Security SA keys after an eviction");
	return st;
}
