/* The kernel SA sink: dispatch to a backend and the bookkeeping both backends share.
 *
 * Model. Every installed SA belongs to a "policy set": the SAs of one group with the same
 * traffic selectors, protocol and mode. A policy set owns one reqid and the kernel policies of
 * its selectors:
 *   - inbound (GK_DIR_IN): `in` and `fwd` policies whose template names no SPI, only the reqid,
 *     so every SA of the set is accepted (old and new SAs overlap during a rekey, RFC 9838 2.4);
 *   - outbound (GK_DIR_OUT): one `out` policy whose template names the SPI of the active SA;
 *     a newly added outbound SA stays inactive until gk_sasink_activate_out (after ATD), unless
 *     it is the first outbound SA of its set.
 * Policies are removed when the last SA of the set that needs their direction goes; deleting
 * the active outbound SA while another outbound SA of the set remains switches the template to
 * the newest remaining one. Order towards the kernel: SA before its policies when adding,
 * policies before their SA when removing, so no policy ever names a missing SA. */
#define GK_LOG_SUBSYS GK_SUB_KERNEL /* log.h */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "sasink_int.h"
#include "algs.h"
#include "iana.h"
#include "log.h"
#include "status.h"

#define MAX_RECS 256
#define MAX_SETS 256
#define REQID_SLOTS 0xffffu

typedef struct polset {
	bool used;
	gk_ident group;
	gk_ts_spec src, dst;
	uint8_t proto, family;
	bool transport;
	uint32_t reqid;               /* GK_SASINK_REQID_BASE + slot */
	unsigned installed;           /* GK_DIR_* whose policies are in the kernel */
	uint8_t out_spi[4];           /* template of the out policy */
	uint8_t out_saddr[16];
	uint8_t daddr[16];
} polset;

typedef struct rec {
	bool used;
	size_t set;
	gk_ksa k;                     /* k.in is NULL once installed */
	bool out_active;
	uint64_t order;
} rec;

struct gk_sasink {
	const gk_sasink_ops *ops;
	void *be;
	rec recs[MAX_RECS];
	polset sets[MAX_SETS];
	uint64_t order;
};

void *gk_sasink_backend(gk_sasink *s)
{
	return s->be;
}

void gk_sasink_set_backend(gk_sasink *s, void *be)
{
	s->be = be;
}

const char *gk_ksa_text(const gk_ksa *k, char *buf, size_t len)
{
	char alg[96] = "", dst[INET6_ADDRSTRLEN] = "?";
	inet_ntop(k->family == 6 ? AF_INET6 : AF_INET, k->daddr, dst, sizeof(dst));
	if (k->in && k->in->sa) {
		const gk_group_sa *sa = k->in->sa;
		size_t o = 0;
		if (sa->encr) {
			o += (size_t)snprintf(alg, sizeof(alg), "%s", gk_iana_str(GK_REG_ENCR, sa->encr));
			if (sa->encr_key_bits && o < sizeof(alg))
				o += (size_t)snprintf(alg + o, sizeof(alg) - o, "/%u", sa->encr_key_bits);
		}
		if (sa->integ && o < sizeof(alg))
			snprintf(alg + o, sizeof(alg) - o, "%s%s", o ? " + " : "", gk_iana_str(GK_REG_INTEG, sa->integ));
	}
	snprintf(buf, len, "%s SA spi 0x%02x%02x%02x%02x%s%s%s to %s", gk_iana_str(GK_REG_PROTO, k->proto),
		 k->spi[0], k->spi[1], k->spi[2], k->spi[3], alg[0] ? " (" : "", alg, alg[0] ? ")" : "", dst);
	return buf;
}

/* ---- open / close ---- */

gk_status gk_sasink_open(const char *backend, gk_sasink **out, char *err, size_t errlen)
{
	char why[200] = "";
	const gk_sasink_ops *ops;
	if (!out)
		return GK_E_INVAL;
	*out = NULL;
	if (err && errlen)
		err[0] = 0;
	if (!backend || !strcmp(backend, "auto")) {
		if (gk_sasink_xfrm_usable(why, sizeof(why))) {
			ops = &gk_sasink_xfrm_ops;
		} else {
			ops = &gk_sasink_none_ops;
			gk_seterr(err, errlen, "kernel SAs not installed (no XFRM access: %s)", why);
		}
	} else if (!strcmp(backend, "xfrm")) {
		ops = &gk_sasink_xfrm_ops;
	} else if (!strcmp(backend, "none")) {
		ops = &gk_sasink_none_ops;
	} else {
		gk_seterr(err, errlen, "unknown SA backend \"%s\" (use xfrm or none)", backend);
		return GK_E_INVAL;
	}
	char e2[300] = "";
	gk_status st = gk_sasink_open_ops(ops, out, e2, sizeof(e2));
	if (st)
		gk_seterr(err, errlen, "%s", e2);
	return st;
}

gk_status gk_sasink_open_ops(const gk_sasink_ops *ops, gk_sasink **out, char *err, size_t errlen)
{
	char why[256] = "";
	if (!ops || !out)
		return GK_E_INVAL;
	*out = NULL;
	gk_sasink *s = calloc(1, sizeof(*s));
	if (!s) {
		gk_seterr(err, errlen, "out of memory");
		return GK_E_NOMEM;
	}
	s->ops = ops;
	gk_status st = ops->open ? ops->open(s, why, sizeof(why)) : GK_OK;
	if (st) {
		gk_seterr(err, errlen, "SA backend %s: %s", ops->name, why);
		free(s);
		return st;
	}
	*out = s;
	return GK_OK;
}

const char *gk_sasink_name(const gk_sasink *s)
{
	return s ? s->ops->name : "none";
}

void gk_sasink_close(gk_sasink *s)
{
	if (!s)
		return;
	if (s->ops->close)
		s->ops->close(s);
	OPENSSL_cleanse(s, sizeof(*s));
	free(s);
}

gk_status gk_sasink_flush_stale(gk_sasink *s, char *err, size_t errlen)
{
	if (!s)
		return GK_E_INVAL;
	return s->ops->flush_stale ? s->ops->flush_stale(s, err, errlen) : GK_OK;
}

/* ---- helpers ---- */

static bool ts_single(const gk_ts_spec *t)
{
	return !memcmp(t->start, t->end, gk_ts_addr_len(t->family));
}

static rec *find_rec(gk_sasink *s, const gk_ident *group, uint8_t proto, const uint8_t *spi)
{
	for (size_t i = 0; i < MAX_RECS; i++) {
		rec *r = &s->recs[i];
		if (r->used && r->k.proto == proto && !memcmp(r->k.spi, spi, 4) &&
		    gk_ident_eq(&s->sets[r->set].group, group))
			return r;
	}
	return NULL;
}

static uint32_t free_reqid(const gk_sasink *s)
{
	for (uint32_t slot = 1; slot <= REQID_SLOTS; slot++) {
		uint32_t reqid = GK_SASINK_REQID_BASE + slot;
		bool taken = false;
		for (size_t i = 0; i < MAX_SETS && !taken; i++)
			taken = s->sets[i].used && s->sets[i].reqid == reqid;
		if (!taken)
			return reqid;
	}
	return 0;
}

/* Directions whose policies the SAs of a set need: receivers get in and fwd. */
static unsigned policy_dirs(unsigned sa_dirs)
{
	unsigned d = sa_dirs & (GK_DIR_OUT | GK_DIR_FWD);
	if (sa_dirs & GK_DIR_IN)
		d |= GK_DIR_IN | GK_DIR_FWD;
	return d;
}

static void kpol_of(const polset *ps, unsigned dir, gk_kpol *p)
{
	memset(p, 0, sizeof(*p));
	p->src = ps->src;
	p->dst = ps->dst;
	p->dir = dir;
	p->proto = ps->proto;
	p->family = ps->family;
	p->reqid = ps->reqid;
	p->transport = ps->transport;
	memcpy(p->daddr, ps->daddr, sizeof(p->daddr));
	if (dir == GK_DIR_OUT) {
		memcpy(p->spi, ps->out_spi, 4);
		memcpy(p->saddr, ps->out_saddr, sizeof(p->saddr));
	} else if (ts_single(&ps->src)) {
		/* inbound: any SA of the set (no SPI); the sender's address when there is one */
		memcpy(p->saddr, ps->src.start, gk_ts_addr_len(ps->family));
	}
}

static const char *dir_name(unsigned dir)
{
	return dir == GK_DIR_IN ? "in" : dir == GK_DIR_OUT ? "out" : "fwd";
}

/* Removes the policies of `dirs` (installed ones only). First error to err. */
static gk_status del_policies(gk_sasink *s, polset *ps, unsigned dirs, char *err, size_t errlen)
{
	gk_status first = GK_OK;
	static const unsigned order[] = { GK_DIR_OUT, GK_DIR_FWD, GK_DIR_IN };
	for (size_t i = 0; i < 3; i++) {
		unsigned d = order[i];
		if (!(dirs & d & ps->installed))
			continue;
		gk_kpol p;
		char e[256] = "";
		kpol_of(ps, d, &p);
		gk_status st = s->ops->policy(s, GK_KPOL_DEL, &p, e, sizeof(e));
		if (st) {
			if (!first)
				gk_seterr(err, errlen, "%s", e);
			first = first ? first : st;
		}
		/* Forgotten either way: a policy the kernel no longer has (removed by an admin) must
		 * not block the rest. */
		ps->installed &= ~d;
	}
	return first;
}

static void drop_set_if_empty(gk_sasink *s, size_t idx)
{
	for (size_t i = 0; i < MAX_RECS; i++)
		if (s->recs[i].used && s->recs[i].set == idx)
			return;
	memset(&s->sets[idx], 0, sizeof(s->sets[idx]));
}

static bool is_counter_mode(const gk_group_sa *sa)
{
	const gk_encr_info *e = sa->encr ? gk_encr_lookup(sa->encr) : NULL;
	if (e && e->counter_mode)
		return true;
	/* AH with AES-GMAC (RFC 4543) is counter-based too. */
	return sa->integ == GK_INTEG_AES_128_GMAC || sa->integ == GK_INTEG_AES_192_GMAC ||
	       sa->integ == GK_INTEG_AES_256_GMAC;
}

/* ---- add ---- */

gk_status gk_sasink_add(gk_sasink *s, const gk_sa_install *in, char *err, size_t errlen)
{
	char gt[GK_IDENT_TEXT_MAX], e[300] = "", what[200];
	if (err && errlen)
		err[0] = 0;
	if (!s || !in || !in->group || !in->sa) {
		gk_seterr(err, errlen, "invalid SA install request");
		return GK_E_INVAL;
	}
	const gk_group_sa *sa = in->sa;
	gk_ident_text(in->group, gt);
	if (sa->proto != GK_PROTO_ESP && sa->proto != GK_PROTO_AH) {
		gk_seterr(err, errlen, "group %s: %s SAs are not kernel SAs", gt, gk_iana_str(GK_REG_PROTO, sa->proto));
		return GK_E_INVAL;
	}
	if (sa->spi_len != 4) {
		gk_seterr(err, errlen, "group %s: %s SPI of %zu octets (must be 4)", gt,
		       gk_iana_str(GK_REG_PROTO, sa->proto), sa->spi_len);
		return GK_E_INVAL;
	}
	if (!in->dirs || (in->dirs & ~(unsigned)(GK_DIR_IN | GK_DIR_OUT | GK_DIR_FWD))) {
		gk_seterr(err, errlen, "group %s: invalid directions 0x%x", gt, in->dirs);
		return GK_E_INVAL;
	}
	if ((sa->src.family != 4 && sa->src.family != 6) || sa->dst.family != sa->src.family) {
		gk_seterr(err, errlen, "group %s: traffic selectors of different or unknown address families", gt);
		return GK_E_INVAL;
	}
	if ((in->dirs & GK_DIR_OUT) && in->shared_counter_key && is_counter_mode(sa)) {
		const char *alg = sa->encr ? gk_iana_str(GK_REG_ENCR, sa->encr) : gk_iana_str(GK_REG_INTEG, sa->integ);
		gk_seterr(err, errlen,
		       "group %s: the kernel cannot use Sender-IDs (RFC 6054) with counter-mode cipher %s shared by "
		       "several senders; give each sender its own SA or use a non-counter transform", gt, alg);
		return GK_E_UNSUPPORTED;
	}
	if (find_rec(s, in->group, sa->proto, sa->spi)) {
		gk_seterr(err, errlen, "group %s: %s SA spi 0x%02x%02x%02x%02x is already installed", gt,
		       gk_iana_str(GK_REG_PROTO, sa->proto), sa->spi[0], sa->spi[1], sa->spi[2], sa->spi[3]);
		return GK_E_STATE;
	}
	rec *r = NULL;
	for (size_t i = 0; i < MAX_RECS && !r; i++)
		if (!s->recs[i].used)
			r = &s->recs[i];
	if (!r) {
		gk_seterr(err, errlen, "group %s: too many installed SAs (%d)", gt, MAX_RECS);
		return GK_E_TOO_BIG;
	}

	/* the SA as the kernel sees it */
	gk_ksa k;
	memset(&k, 0, sizeof(k));
	k.in = in;
	k.proto = sa->proto;
	memcpy(k.spi, sa->spi, 4);
	k.family = sa->dst.family;
	memcpy(k.daddr, sa->dst.start, gk_ts_addr_len(k.family));   /* the group address */
	if (ts_single(&sa->src))
		memcpy(k.saddr, sa->src.start, gk_ts_addr_len(k.family));
	k.transport = in->transport_mode;
	k.dirs = in->dirs;

	/* its policy set */
	size_t si = MAX_SETS;
	bool new_set = false;
	for (size_t i = 0; i < MAX_SETS; i++) {
		polset *p = &s->sets[i];
		if (p->used && gk_ident_eq(&p->group, in->group) && p->proto == sa->proto &&
		    p->transport == in->transport_mode && gk_ts_eq(&p->src, &sa->src) && gk_ts_eq(&p->dst, &sa->dst)) {
			si = i;
			break;
		}
	}
	if (si == MAX_SETS) {
		for (size_t i = 0; i < MAX_SETS && si == MAX_SETS; i++)
			if (!s->sets[i].used)
				si = i;
		uint32_t reqid = free_reqid(s);
		if (si == MAX_SETS || !reqid) {
			gk_seterr(err, errlen, "group %s: too many selector sets", gt);
			return GK_E_TOO_BIG;
		}
		polset *p = &s->sets[si];
		memset(p, 0, sizeof(*p));
		p->used = true;
		p->group = *in->group;
		p->src = sa->src;
		p->dst = sa->dst;
		p->proto = sa->proto;
		p->family = k.family;
		p->transport = in->transport_mode;
		p->reqid = reqid;
		memcpy(p->daddr, k.daddr, sizeof(p->daddr));
		new_set = true;
	}
	polset *ps = &s->sets[si];
	k.reqid = ps->reqid;
	gk_status st = s->ops->prepare ? s->ops->prepare(s, &k, e, sizeof(e)) : GK_OK;
	if (st) {
		gk_seterr(err, errlen, "group %s: %s: %s", gt, gk_ksa_text(&k, what, sizeof(what)), e);
		goto fail_set;
	}
	st = s->ops->add_sa(s, &k, e, sizeof(e));
	if (st) {
		gk_seterr(err, errlen, "group %s: the kernel refused %s: %s", gt, gk_ksa_text(&k, what, sizeof(what)), e);
		goto fail_set;
	}

	/* the policies this SA's directions need and the set does not have yet */
	unsigned todo = policy_dirs(in->dirs) & ~ps->installed, done = 0;
	bool first_out = (todo & GK_DIR_OUT) != 0;
	if (first_out) {
		memcpy(ps->out_spi, k.spi, 4);
		memcpy(ps->out_saddr, k.saddr, sizeof(ps->out_saddr));
	}
	static const unsigned order[] = { GK_DIR_IN, GK_DIR_FWD, GK_DIR_OUT };
	for (size_t i = 0; i < 3; i++) {
		unsigned d = order[i];
		if (!(todo & d))
			continue;
		gk_kpol p;
		kpol_of(ps, d, &p);
		st = s->ops->policy(s, GK_KPOL_NEW, &p, e, sizeof(e));
		if (st) {
			gk_seterr(err, errlen, "group %s: the kernel refused the %s policy of %s: %s", gt, dir_name(d),
			       gk_ksa_text(&k, what, sizeof(what)), e);
			goto fail_policies;
		}
		ps->installed |= d;
		done |= d;
	}
	r->used = true;
	r->set = si;
	r->k = k;
	r->k.in = NULL;
	r->out_active = first_out;
	r->order = ++s->order;
	gk_dbg("sasink %s: group %s: installed %s, reqid 0x%08x, policies %s%s%s", s->ops->name, gt,
	       gk_ksa_text(&k, what, sizeof(what)), k.reqid, done & GK_DIR_IN ? "in " : "",
	       done & GK_DIR_FWD ? "fwd " : "", done & GK_DIR_OUT ? "out" : "");
	return GK_OK;

fail_policies:
	/* Roll back this SA: the policies installed just now, then the SA itself. */
	del_policies(s, ps, done, NULL, 0);
	{
		char e2[256] = "";
		gk_ksa kd = k;
		kd.in = NULL;
		if (s->ops->del_sa(s, &kd, e2, sizeof(e2)))
			gk_warn("group %s: rollback of %s failed: %s", gt, gk_ksa_text(&k, what, sizeof(what)), e2);
	}
	if (first_out)
		memset(ps->out_spi, 0, 4);
fail_set:
	if (new_set)
		drop_set_if_empty(s, si);
	return st;
}

/* ---- activate / delete / flush ---- */

gk_status gk_sasink_activate_out(gk_sasink *s, const gk_ident *group, const gk_group_sa *sa,
				 char *err, size_t errlen)
{
	char gt[GK_IDENT_TEXT_MAX], e[256] = "";
	if (!s || !group || !sa || sa->spi_len != 4)
		return GK_E_INVAL;
	gk_ident_text(group, gt);
	rec *r = find_rec(s, group, sa->proto, sa->spi);
	if (!r || !(r->k.dirs & GK_DIR_OUT)) {
		gk_seterr(err, errlen, "group %s: no outbound %s SA spi 0x%02x%02x%02x%02x installed", gt,
		       gk_iana_str(GK_REG_PROTO, sa->proto), sa->spi[0], sa->spi[1], sa->spi[2], sa->spi[3]);
		return GK_E_NOT_FOUND;
	}
	if (r->out_active)
		return GK_OK;
	polset *ps = &s->sets[r->set];
	uint8_t old_spi[4], old_saddr[16];
	memcpy(old_spi, ps->out_spi, 4);
	memcpy(old_saddr, ps->out_saddr, 16);
	memcpy(ps->out_spi, r->k.spi, 4);
	memcpy(ps->out_saddr, r->k.saddr, 16);
	gk_kpol p;
	kpol_of(ps, GK_DIR_OUT, &p);
	bool had = (ps->installed & GK_DIR_OUT) != 0;
	gk_status st = s->ops->policy(s, had ? GK_KPOL_UPDATE : GK_KPOL_NEW, &p, e, sizeof(e));
	if (st) {
		memcpy(ps->out_spi, old_spi, 4);
		memcpy(ps->out_saddr, old_saddr, 16);
		gk_seterr(err, errlen, "group %s: the kernel refused to switch the out policy to spi 0x%02x%02x%02x%02x: %s",
		       gt, r->k.spi[0], r->k.spi[1], r->k.spi[2], r->k.spi[3], e);
		return st;
	}
	ps->installed |= GK_DIR_OUT;
	for (size_t i = 0; i < MAX_RECS; i++)
		if (s->recs[i].used && s->recs[i].set == r->set)
			s->recs[i].out_active = false;
	r->out_active = true;
	gk_dbg("sasink %s: group %s: outbound now spi 0x%02x%02x%02x%02x", s->ops->name, gt, r->k.spi[0],
	       r->k.spi[1], r->k.spi[2], r->k.spi[3]);
	return GK_OK;
}

gk_status gk_sasink_del(gk_sasink *s, const gk_ident *group, uint8_t proto, const uint8_t *spi,
			size_t spi_len, char *err, size_t errlen)
{
	char gt[GK_IDENT_TEXT_MAX], e[256] = "", what[200];
	if (!s || !group || !spi || spi_len != 4)
		return GK_E_INVAL;
	gk_ident_text(group, gt);
	rec *r = find_rec(s, group, proto, spi);
	if (!r) {
		gk_seterr(err, errlen, "group %s: no %s SA spi 0x%02x%02x%02x%02x installed", gt,
		       gk_iana_str(GK_REG_PROTO, proto), spi[0], spi[1], spi[2], spi[3]);
		return GK_E_NOT_FOUND;
	}
	size_t si = r->set;
	polset *ps = &s->sets[si];
	unsigned remaining = 0;
	rec *next_out = NULL;
	for (size_t i = 0; i < MAX_RECS; i++) {
		rec *o = &s->recs[i];
		if (!o->used || o == r || o->set != si)
			continue;
		remaining |= o->k.dirs;
		if ((o->k.dirs & GK_DIR_OUT) && (!next_out || o->order > next_out->order))
			next_out = o;
	}
	gk_status first = GK_OK;
	if (r->out_active && next_out) {
		/* The active outbound SA goes while another remains: switch to the newest one. */
		memcpy(ps->out_spi, next_out->k.spi, 4);
		memcpy(ps->out_saddr, next_out->k.saddr, 16);
		gk_kpol p;
		kpol_of(ps, GK_DIR_OUT, &p);
		first = s->ops->policy(s, GK_KPOL_UPDATE, &p, e, sizeof(e));
		if (first) {
			gk_seterr(err, errlen, "group %s: switching the out policy away from %s: %s", gt,
			       gk_ksa_text(&r->k, what, sizeof(what)), e);
			/* no policy may keep naming the SA we delete */
			del_policies(s, ps, GK_DIR_OUT, NULL, 0);
		} else {
			next_out->out_active = true;
		}
	}
	gk_status st = del_policies(s, ps, ps->installed & ~policy_dirs(remaining), e, sizeof(e));
	if (st && !first) {
		first = st;
		gk_seterr(err, errlen, "group %s: removing policies of %s: %s", gt, gk_ksa_text(&r->k, what, sizeof(what)), e);
	}
	st = s->ops->del_sa(s, &r->k, e, sizeof(e));
	if (st && !first) {
		first = st;
		gk_seterr(err, errlen, "group %s: the kernel refused to delete %s: %s", gt,
		       gk_ksa_text(&r->k, what, sizeof(what)), e);
	}
	gk_dbg("sasink %s: group %s: removed %s", s->ops->name, gt, gk_ksa_text(&r->k, what, sizeof(what)));
	memset(r, 0, sizeof(*r));
	drop_set_if_empty(s, si);
	return first;
}

gk_status gk_sasink_flush_group(gk_sasink *s, const gk_ident *group, char *err, size_t errlen)
{
	char gt[GK_IDENT_TEXT_MAX], e[256] = "", what[200];
	if (!s || !group)
		return GK_E_INVAL;
	gk_ident_text(group, gt);
	gk_status first = GK_OK;
	for (size_t si = 0; si < MAX_SETS; si++) {
		polset *ps = &s->sets[si];
		if (!ps->used || !gk_ident_eq(&ps->group, group))
			continue;
		gk_status st = del_policies(s, ps, ps->installed, e, sizeof(e));
		if (st && !first) {
			first = st;
			gk_seterr(err, errlen, "group %s: removing policies: %s", gt, e);
		}
		for (size_t i = 0; i < MAX_RECS; i++) {
			rec *r = &s->recs[i];
			if (!r->used || r->set != si)
				continue;
			st = s->ops->del_sa(s, &r->k, e, sizeof(e));
			if (st && !first) {
				first = st;
				gk_seterr(err, errlen, "group %s: the kernel refused to delete %s: %s", gt,
				       gk_ksa_text(&r->k, what, sizeof(what)), e);
			}
			memset(r, 0, sizeof(*r));
		}
		memset(ps, 0, sizeof(*ps));
	}
	return first;
}

size_t gk_sasink_entries(const gk_sasink *s, gk_sasink_entry *out, size_t max)
{
	size_t n = 0;
	if (!s)
		return 0;
	for (size_t i = 0; i < MAX_RECS; i++) {
		const rec *r = &s->recs[i];
		if (!r->used)
			continue;
		if (out && n < max) {
			gk_sasink_entry *e = &out[n];
			memset(e, 0, sizeof(*e));
			e->group = s->sets[r->set].group;
			e->proto = r->k.proto;
			memcpy(e->spi, r->k.spi, 4);
			e->dirs = r->k.dirs;
			e->out_active = r->out_active;
		}
		n++;
	}
	return n;
}
