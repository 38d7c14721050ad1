#define GK_LOG_SUBSYS GK_SUB_REKEY /* log.h */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include "gm_groups.h"
#include "addr.h"
#include "algs.h"
#include "auth.h"
#include "iana.h"
#include "ikekeys.h"
#include "json.h"
#include "key_path.h"
#include "log.h"
#include "rekey_msg.h"

#define MAX_SAS 32
#define REREG_MIN_MS 1000
#define REREG_SPREAD_MS 4000
#define SOFT_LIFETIME_PCT 90   /* re-register when this share of an SA's lifetime passed */

typedef struct held_sa {
	gk_group_sa sa;
	unsigned dirs;
	bool installed, out_active;
	int64_t activate_at, delete_at, expires_at, soft_at;
} held_sa;

/* A Rekey SA replaced by a GSA_REKEY: it still opens messages until DEACTIVATION_TIME_DELAY
 * has passed (RFC 9838 2.4.1.4), with its own Message ID window and reassembly. */
typedef struct old_kek {
	gk_group_sa sa;
	uint32_t next_msgid;
	bool got_first;
	gk_frag_reasm reasm;
	int64_t until;                /* 0: none held */
} old_kek;

typedef struct mgroup {
	gk_ident id;
	char name[GK_IDENT_TEXT_MAX];
	bool registered, transport;
	held_sa sas[MAX_SAS];
	size_t nsas;
	bool have_kek, got_first;
	gk_group_sa kek;
	uint32_t next_msgid;          /* lowest Message ID still acceptable */
	old_kek old;
	int64_t kek_soft_at;
	int64_t kek_expires_at;       /* GSA_KEY_LIFETIME of the Rekey SA ends; 0 = none */
	size_t nsender_ids;           /* Sender-IDs of the current registration (RFC 9838 2.5.1) */
	EVP_PKEY *auth_key;
	gk_sig_scheme want;
	gk_frag_reasm reasm;
	bool joined;                  /* listening on mcast (env.mcast_join) */
	struct sockaddr_storage mcast;
	uint16_t atd, dtd;
	uint16_t gcauth;              /* GCAUTH method from registration: it decides for the group */
	gk_next_spi_guard next_spi;   /* once per Rekey SA and GK_GM_NEXT_SPI_INTERVAL_S */
	gk_key_path wkp;              /* Working Key Path (RFC 9838 3.3): in memory only (after a
				       * restart gmd registers again), wiped with the group */
	int64_t rereg_at;
	bool rereg_running;           /* a re-registration was started and has no answer yet */
	struct gk_gm_groups *owner;
	gk_gm_group_counters count;   /* for gmd status and metrics; survive re-registrations */
	int64_t registered_wall;      /* unix seconds of the last registration, 0 = none */
} mgroup;

struct gk_gm_groups {
	gk_gm_groups_env env;
	mgroup *g;
	size_t n;
};

static int64_t now_ms(const gk_gm_groups *m) { return gk_clock_now_ms(&m->env.clock); }

/* ---- events ---- */

static void ev_begin(gk_gm_groups *m, gk_json *j, const mgroup *g, const char *event)
{
	gk_json_init(j, m->env.events);
	gk_json_obj(j);
	gk_json_kstr(j, "event", event);
	gk_json_ktime(j, "time", gk_clock_wall_ms(&m->env.clock));
	gk_json_kstr(j, "group", g->name);
}

static void ev_end(gk_gm_groups *m, gk_json *j)
{
	gk_json_obj_end(j);
	fputc('\n', m->env.events);
	fflush(m->env.events);
}

static void ev_sa(gk_gm_groups *m, const mgroup *g, const char *event, const gk_group_sa *sa, unsigned dirs)
{
	char spi[40];
	for (size_t i = 0; i < sa->spi_len; i++)
		snprintf(spi + 2 * i, 3, "%02x", sa->spi[i]);
	gk_info("group %s: %s %s SPI %s", g->name, event, gk_iana_str(GK_REG_PROTO, sa->proto), spi);
	if (!m->env.events)
		return;
	gk_json j;
	uint8_t md[32];
	unsigned int mdlen = sizeof(md);
	ev_begin(m, &j, g, event);
	gk_json_kstr(&j, "protocol", gk_iana_str(GK_REG_PROTO, sa->proto));
	gk_json_kstr(&j, "spi", spi);
	if (sa->encr)
		gk_json_kstr(&j, "encryption", gk_iana_str(GK_REG_ENCR, sa->encr));
	if (sa->integ)
		gk_json_kstr(&j, "integrity", gk_iana_str(GK_REG_INTEG, sa->integ));
	if (dirs) {
		gk_json_key(&j, "directions");
		gk_json_arr(&j);
		if (dirs & GK_DIR_IN)
			gk_json_str(&j, "in");
		if (dirs & GK_DIR_OUT)
			gk_json_str(&j, "out");
		gk_json_arr_end(&j);
	}
	if (sa->keymat_len && EVP_Digest(sa->keymat, sa->keymat_len, md, &mdlen, EVP_sha256(), NULL) == 1) {
		gk_json_key(&j, "keymat_sha256");
		gk_json_hex(&j, md, mdlen);
	}
	ev_end(m, &j);
}

/* The counters behind `gmd status` and --metrics, from the events that move them. */
static void tally(mgroup *g, const char *event, const char *val, long long num)
{
	gk_gm_group_counters *c = &g->count;
	if (!strcmp(event, "rekey_accepted") || !strcmp(event, "inband_rekey")) {
		c->rekeys_accepted++;
		c->last_msgid = (uint32_t)num;
		c->have_msgid = true;
		if (event[0] == 'i')
			c->inband_rekeys++;
	} else if (!strcmp(event, "rekey_rejected") || !strcmp(event, "rekey_refused")) {
		c->rekeys_rejected++;
		/* per reason, in a bounded table: the last slot takes every reason beyond it */
		size_t i = 0;
		while (i < c->nreasons && strncmp(c->reasons[i].reason, val, sizeof(c->reasons[i].reason) - 1))
			i++;
		if (i == c->nreasons && i < GK_GM_MAX_REASONS) {
			snprintf(c->reasons[i].reason, sizeof(c->reasons[i].reason), "%s",
				 i == GK_GM_MAX_REASONS - 1 ? "other" : val);
			c->nreasons++;
		}
		c->reasons[i < GK_GM_MAX_REASONS ? i : GK_GM_MAX_REASONS - 1].count++;
	} else if (!strcmp(event, "reregistering")) {
		c->reregistrations++;
	} else if (!strcmp(event, "excluded")) {
		c->exclusions++;
	}
}

static void ev_note(gk_gm_groups *m, mgroup *g, const char *event, const char *key, const char *val,
		    long long num)
{
	tally(g, event, val ? val : "", num);
	if (val || !key)
		gk_info("group %s: %s%s%s", g->name, event, val ? ": " : "", val ? val : "");
	else /* a number: the Message ID of a rekey */
		gk_info("group %s: %s: %s %lld", g->name, event, key, num);
	if (!m->env.events)
		return;
	gk_json j;
	ev_begin(m, &j, g, event);
	if (key && val)
		gk_json_kstr(&j, key, val);
	else if (key)
		gk_json_kint(&j, key, num);
	ev_end(m, &j);
}

/* ---- installed SAs ---- */

/* RFC 9838 2.3.3: a receiver installs an SA inbound only; a sender outbound only when it "is
 * not going to receive back the data it sends". It receives the SA's traffic when others send
 * on it too: the GCKS marks an SA with several senders by 32-bit Unspecified Numbers (4.4.2.1.3),
 * and the source selector then admits more than one address. A single-sender SA (sequential
 * numbers) or a source selector of one address carries only this sender's traffic. */
static bool sender_receives(const gk_group_sa *sa)
{
	size_t alen = sa->src.family == 6 ? 16 : 4;
	return sa->sn == GK_SN_UNSPEC32 && memcmp(sa->src.start, sa->src.end, alen) != 0;
}

static unsigned dirs_for(const gk_gm_groups *m, const gk_group_sa *sa)
{
	if (!m->env.sender)
		return GK_DIR_IN;
	return GK_DIR_OUT | (sender_receives(sa) ? GK_DIR_IN : 0u);
}

static bool install(gk_gm_groups *m, mgroup *g, held_sa *h)
{
	char err[512];
	if (!m->env.sink) {
		h->installed = true;
		return true;
	}
	const gk_encr_info *e = gk_encr_lookup(h->sa.encr);
	gk_sa_install in = { .group = &g->id, .sa = &h->sa, .dirs = h->dirs, .transport_mode = g->transport,
			     /* RFC 9838 4.4.2.1.3: the GCKS marks multi-sender SAs with 32-bit Unspecified
			      * Numbers; only then is a counter-mode key shared with other senders */
			     .shared_counter_key = e && e->counter_mode && h->sa.sn == GK_SN_UNSPEC32 };
	if (gk_sasink_add(m->env.sink, &in, err, sizeof(err)) != GK_OK) {
		gk_err("%s", err); /* the sink's text names the group */
		ev_note(m, g, "sa_install_failed", "error", err, 0);
		return false;
	}
	h->installed = true;
	return true;
}

static void uninstall(gk_gm_groups *m, mgroup *g, held_sa *h)
{
	char err[256];
	if (m->env.sink && h->installed &&
	    gk_sasink_del(m->env.sink, &g->id, h->sa.proto, h->sa.spi, h->sa.spi_len, err, sizeof(err)))
		gk_warn("group %s: %s", g->name, err);
	ev_sa(m, g, "sa_deleted", &h->sa, 0);
	OPENSSL_cleanse(h, sizeof(*h));
}

static void drop_old_kek(mgroup *g)
{
	gk_frag_reset(&g->old.reasm);
	OPENSSL_cleanse(&g->old.sa, sizeof(g->old.sa));
	g->old.until = 0;
	g->old.next_msgid = 0;
	g->old.got_first = false;
}

static void flush_group(gk_gm_groups *m, mgroup *g)
{
	char err[256];
	for (size_t i = 0; i < g->nsas; i++)
		uninstall(m, g, &g->sas[i]);
	g->nsas = 0;
	if (m->env.sink && gk_sasink_flush_group(m->env.sink, &g->id, err, sizeof(err)))
		gk_warn("group %s: %s", g->name, err);
	EVP_PKEY_free(g->auth_key);
	g->auth_key = NULL;
	gk_frag_reset(&g->reasm);
	OPENSSL_cleanse(&g->kek, sizeof(g->kek));
	g->have_kek = false;
	g->kek_expires_at = 0;
	g->nsender_ids = 0;
	gk_key_path_wipe(&g->wkp);
	drop_old_kek(g);
	g->registered = false;
}

static held_sa *find_sa(mgroup *g, uint8_t proto, const uint8_t *spi, size_t len)
{
	for (size_t i = 0; i < g->nsas; i++)
		if (g->sas[i].sa.proto == proto && g->sas[i].sa.spi_len == len && !memcmp(g->sas[i].sa.spi, spi, len))
			return &g->sas[i];
	return NULL;
}

/* Adds a Data-Security SA: inbound at once; outbound after ATD unless it is the first one. */
static void add_sa(gk_gm_groups *m, mgroup *g, const gk_group_sa *sa, bool at_registration)
{
	held_sa *h = find_sa(g, sa->proto, sa->spi, sa->spi_len);
	int64_t now = now_ms(m);
	if (h) {
		if (sa->lifetime) { /* the same SA again: only its lifetime may be news */
			h->expires_at = now + (int64_t)sa->lifetime * 1000;
			h->soft_at = now + (int64_t)sa->lifetime * 10 * SOFT_LIFETIME_PCT;
		}
		return;
	}
	if (g->nsas == MAX_SAS) {
		gk_warn("group %s: too many SAs held", g->name);
		return;
	}
	h = &g->sas[g->nsas];
	memset(h, 0, sizeof(*h));
	h->sa = *sa;
	h->dirs = dirs_for(m, sa);
	if (sa->lifetime) {
		h->expires_at = now + (int64_t)sa->lifetime * 1000;
		h->soft_at = now + (int64_t)sa->lifetime * 10 * SOFT_LIFETIME_PCT;
	}
	bool has_out = false;
	for (size_t i = 0; i < g->nsas; i++)
		has_out |= g->sas[i].out_active;
	if ((h->dirs & GK_DIR_OUT) && has_out && !at_registration)
		h->activate_at = now + (int64_t)g->atd * 1000;
	if (!install(m, g, h))
		return;
	h->out_active = (h->dirs & GK_DIR_OUT) && !h->activate_at;
	g->nsas++;
	ev_sa(m, g, "sa_added", &h->sa, h->dirs);
}

static void schedule_delete(gk_gm_groups *m, mgroup *g, uint8_t proto, const uint8_t *spi, size_t len)
{
	int64_t at = now_ms(m) + (int64_t)g->dtd * 1000;
	bool all = true;
	for (size_t i = 0; i < len; i++)
		all &= spi[i] == 0;
	for (size_t i = 0; i < g->nsas; i++) {
		held_sa *h = &g->sas[i];
		if (h->sa.proto == proto && (all || (h->sa.spi_len == len && !memcmp(h->sa.spi, spi, len))) &&
		    !h->delete_at)
			h->delete_at = at ? at : 1;
	}
}

/* ---- the Rekey SA ---- */

/* Stops listening on the Rekey SA's destination (env.mcast_leave). */
static void leave_rekey_group(mgroup *g)
{
	gk_gm_groups *m = g->owner;
	if (g->joined && m->env.mcast_leave)
		m->env.mcast_leave(m->env.mcast_ctx, (size_t)(g - m->g));
	g->joined = false;
}

/* Listens on the Rekey SA's destination (a multicast group and port, RFC 9838 4.4.2). */
static void join_rekey_group(gk_gm_groups *m, mgroup *g)
{
	struct sockaddr_storage grp;
	char err[256], at[64];
	const gk_ts_spec *d = &g->kek.dst;
	memset(&grp, 0, sizeof(grp));
	if (d->family == 6) {
		struct sockaddr_in6 *b = (void *)&grp;
		b->sin6_family = AF_INET6;
		b->sin6_port = htons(d->port_lo);
		memcpy(&b->sin6_addr, d->start, 16);
	} else {
		struct sockaddr_in *b = (void *)&grp;
		b->sin_family = AF_INET;
		b->sin_port = htons(d->port_lo);
		memcpy(&b->sin_addr, d->start, 4);
	}
	if (g->joined && !memcmp(&grp, &g->mcast, sizeof(grp)))
		return;
	leave_rekey_group(g);
	g->mcast = grp;
	if (!m->env.mcast_join)
		return;
	err[0] = 0;
	if (m->env.mcast_join(m->env.mcast_ctx, (size_t)(g - m->g), (struct sockaddr *)&grp, err, sizeof(err))) {
		gk_err("group %s: %s", g->name, err);
		return;
	}
	g->joined = true;
	gk_info("group %s: listening for GSA_REKEY on %s", g->name, gk_addr_text((struct sockaddr *)&grp, at, sizeof(at)));
}

/* RFC 9838 2.4.1.4: the Rekey SA a GSA_REKEY replaced "MUST be silently deleted after waiting
 * DEACTIVATION_TIME_DELAY": until then a GSA_REKEY delayed in the network still opens under it.
 * Without GWP_DTD no delay is employed (4.4.3.1.1). */
static void keep_old_kek(gk_gm_groups *m, mgroup *g, const gk_group_sa *next)
{
	drop_old_kek(g);
	if (!g->have_kek || !g->dtd || !memcmp(g->kek.spi, next->spi, 16))
		return;
	g->old.sa = g->kek;
	g->old.next_msgid = g->next_msgid;
	g->old.got_first = g->got_first;
	g->old.until = now_ms(m) + (int64_t)g->dtd * 1000;
}

static void set_kek(gk_gm_groups *m, mgroup *g, const gk_group_sa *kek, bool at_registration)
{
	if (at_registration)
		drop_old_kek(g); /* a registration replaces everything (2.3.3) */
	else
		keep_old_kek(m, g, kek);
	g->kek = *kek;
	g->have_kek = true;
	gk_group_keys k; /* a debugging aid, off unless --ike-keylog */
	if (m->env.keylog && !gk_group_keys_split(GK_CHUNK(kek->keymat, kek->keymat_len), GK_PROTO_GIKE_UPDATE, kek->encr,
						  kek->encr_key_bits, kek->integ, kek->kwa, &k))
		gk_keylog_rekey_sa(m->env.keylog, GK_CHUNK(kek->spi, 16), kek->encr, kek->encr_key_bits, kek->integ,
				   k.enc, k.integ);
	/* RFC 9838 2.4.1.4: at registration the first ID is at least GSA_INITIAL_MESSAGE_ID;
	 * a Rekey SA received in a rekey starts at 0 */
	g->next_msgid = at_registration ? kek->initial_msgid : 0;
	g->got_first = false;
	g->kek_soft_at = kek->lifetime ? now_ms(m) + (int64_t)kek->lifetime * 10 * SOFT_LIFETIME_PCT : 0;
	g->kek_expires_at = kek->lifetime ? now_ms(m) + (int64_t)kek->lifetime * 1000 : 0;
	gk_frag_reset(&g->reasm);
	if (at_registration) {
		/* RFC 9838 4.4.2.1.2: GCAUTH comes only at registration and holds until the next */
		g->gcauth = kek->gcauth;
		g->want = GK_SIG_NONE;
		if (kek->sig_algid_len)
			gk_sig_scheme_from_algid(GK_CHUNK(kek->sig_algid, kek->sig_algid_len), &g->want);
	}
	join_rekey_group(m, g);
}

static void reregister_later(gk_gm_groups *m, mgroup *g, const char *why)
{
	uint32_t r = 0;
	if (g->rereg_at)
		return;
	gk_rand_bytes(m->env.rnd ? m->env.rnd : gk_rand_system(), (uint8_t *)&r, sizeof(r));
	/* a randomized delay of seconds keeps a whole group from registering at once (2.4.3) */
	int64_t spread = (m->env.rereg_max_ms > REREG_MIN_MS ? m->env.rereg_max_ms : REREG_MIN_MS + REREG_SPREAD_MS) -
			 REREG_MIN_MS;
	g->rereg_at = now_ms(m) + REREG_MIN_MS + (int64_t)(r % (uint64_t)spread);
	ev_note(m, g, "reregistering", "reason", why, 0);
}

/* Excluded (RFC 9838 2.4.3, 2.3.3): nothing of the group stays installed; register again. */
static void exclude(gk_gm_groups *m, mgroup *g, const char *why)
{
	ev_note(m, g, "excluded", "reason", why, 0);
	flush_group(m, g);
	leave_rekey_group(g);
	reregister_later(m, g, why);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	bool zero = true;
	for (size_t i = 0; i < n; i++)
		zero &= p[i] == 0;
	return zero;
}

/* The current Rekey SA goes with its keys and listener: no GSA_REKEY opens any more, and the
 * member registers again to learn how the group continues. */
static void drop_kek(gk_gm_groups *m, mgroup *g, const char *event, const char *why)
{
	ev_sa(m, g, event, &g->kek, 0);
	gk_frag_reset(&g->reasm);
	OPENSSL_cleanse(&g->kek, sizeof(g->kek));
	g->have_kek = false;
	g->kek_soft_at = 0;
	g->kek_expires_at = 0;
	leave_rekey_group(g);
	reregister_later(m, g, why);
}

/* A Delete of a Rekey SA by its SPI (RFC 9838 4.6, 2.4.3): one replaced within DTD goes now; the
 * current one goes too, and with no Rekey SA left the member cannot follow the group: it
 * registers again to learn how it continues. */
static void delete_kek(gk_gm_groups *m, mgroup *g, const gk_gm_delete *d)
{
	if (d->spi_len != 16)
		return;
	if (g->old.until && !memcmp(g->old.sa.spi, d->spi, 16)) {
		ev_sa(m, g, "rekey_sa_deleted", &g->old.sa, 0);
		drop_old_kek(g);
	}
	if (!g->have_kek || memcmp(g->kek.spi, d->spi, 16))
		return;
	drop_kek(m, g, "rekey_sa_deleted", "the GCKS deleted the Rekey SA");
}

/* RFC 9838 2.4.1.4: a sender that "does not hold a current Sender-ID value (for example, when
 * no counter-mode is employed for other Data-Security SAs)" and is given a new counter-mode SA
 * "MUST NOT install the Data-Security SAs. It MUST initiate a re-registration". The Sender-IDs
 * of the last registration stay current for every counter-mode SA until the next one (2.5.1). */
static bool lacks_sender_id(const gk_gm_groups *m, mgroup *g, const gk_group_state *gs)
{
	if (!m->env.sender || g->nsender_ids)
		return false;
	for (size_t i = 0; i < gs->nsas; i++) {
		const gk_group_sa *sa = &gs->sas[i];
		const gk_encr_info *e = gk_encr_lookup(sa->encr);
		if (sa->proto != GK_PROTO_GIKE_UPDATE && e && e->counter_mode &&
		    !find_sa(g, sa->proto, sa->spi, sa->spi_len))
			return true;
	}
	return false;
}

/* New SAs and deletions, from GSA_REKEY or GSA_INBAND_REKEY. Delete with Protocol 0 is the whole
 * group SA, with GIKE_UPDATE and SPI 0 the member's exclusion (RFC 9838 4.6, 2.4.3): both
 * exclude. A Rekey SA deleted by SPI goes after the new SAs are in (the message may bring its
 * replacement). */
static void apply(gk_gm_groups *m, mgroup *g, const gk_group_state *gs, const gk_gm_delete *dels, size_t ndel)
{
	bool excluded = false;
	for (size_t i = 0; i < ndel; i++) {
		bool zero = all_zero(dels[i].spi, dels[i].spi_len);
		if (dels[i].proto == 0 || (dels[i].proto == GK_PROTO_GIKE_UPDATE && zero))
			excluded = true;
		else if (dels[i].proto == GK_PROTO_ESP || dels[i].proto == GK_PROTO_AH)
			schedule_delete(m, g, dels[i].proto, dels[i].spi, dels[i].spi_len);
	}
	if (excluded) {
		exclude(m, g, "excluded by the GCKS");
		return;
	}
	if (gs->auth_key_len) {
		/* a new key for the following GSA_REKEY messages (RFC 9838 2.4.1) */
		EVP_PKEY *k = NULL;
		if (gk_pubkey_from_spki(GK_CHUNK(gs->auth_key, gs->auth_key_len), &k) == GK_OK) {
			EVP_PKEY_free(g->auth_key);
			g->auth_key = k;
			ev_note(m, g, "auth_key_replaced", NULL, NULL, 0);
		}
	}
	if (gs->has_atd)
		g->atd = gs->atd;
	if (gs->has_dtd)
		g->dtd = gs->dtd;
	bool no_sid = lacks_sender_id(m, g, gs);
	if (no_sid) {
		ev_note(m, g, "rekey_sas_refused", "reason",
			"a counter-mode SA for a sender without a Sender-ID: nothing installed (RFC 9838 2.4.1.4)", 0);
		reregister_later(m, g, "a counter-mode SA needs a Sender-ID");
	}
	for (size_t i = 0; i < gs->nsas; i++) {
		const gk_group_sa *sa = &gs->sas[i];
		if (sa->proto == GK_PROTO_GIKE_UPDATE) {
			ev_sa(m, g, "rekey_sa_replaced", sa, 0);
			set_kek(m, g, sa, false);
		} else if (!no_sid) {
			add_sa(m, g, sa, false);
		}
	}
	for (size_t i = 0; i < ndel; i++)
		if (dels[i].proto == GK_PROTO_GIKE_UPDATE)
			delete_kek(m, g, &dels[i]);
}

/* A GSA_REKEY on a Rekey SA announced in GSA_NEXT_SPI: we missed the rekey that installed it
 * (RFC 9838 4.4.2.2.3). Nothing in it can be verified, so it re-registers once per current
 * Rekey SA and once per GK_GM_NEXT_SPI_INTERVAL_S at most. */
static void next_spi_seen(gk_gm_groups *m, mgroup *g, const uint8_t *data, size_t len)
{
	bool announced = false;
	if (len < GK_HDR_LEN || data[18] != GK_EXCH_GSA_REKEY || (data[19] & GK_FLAG_R))
		return;
	for (size_t i = 0; i < g->kek.n_next_spi; i++)
		announced |= !memcmp(data, g->kek.next_spi[i], 16);
	if (!announced)
		return;
	if (!gk_next_spi_allow(&g->next_spi, g->kek.spi, now_ms(m), (int64_t)GK_GM_NEXT_SPI_INTERVAL_S * 1000)) {
		gk_dbg("group %s: GSA_REKEY on an announced next Rekey SA ignored: the trigger was used", g->name);
		return;
	}
	reregister_later(m, g, "GSA_REKEY on the announced next Rekey SA: a rekey was lost");
}

/* The Rekey SA a datagram is tried under: the current one or the one replaced within DTD. */
typedef struct kek_view {
	const gk_group_sa *sa;
	gk_frag_reasm *reasm;
	uint32_t *next_msgid;
	bool *got_first;
} kek_view;

/* One datagram under the Rekey SA v; GK_E_NOT_FOUND when it is not for that SA. */
static gk_status rekey_input(gk_gm_groups *m, mgroup *g, const kek_view *v, const uint8_t *data, size_t len)
{
	gk_msg msg;
	gk_group_keys k;
	bool complete = false;
	if (gk_group_keys_split(GK_CHUNK(v->sa->keymat, v->sa->keymat_len), GK_PROTO_GIKE_UPDATE, v->sa->encr,
				v->sa->encr_key_bits, v->sa->integ, v->sa->kwa, &k))
		return GK_E_INVAL;
	uint16_t kwa = v->sa->kwa;
	gk_rekey_in in = { .kek = { .encr = v->sa->encr, .encr_key_bits = v->sa->encr_key_bits,
				    .integ = v->sa->integ, .enc = k.enc, .integ_key = k.integ },
			   .auth_key = g->auth_key, .want = g->want, .reasm = v->reasm,
			   .min_msg_id = *v->next_msgid };
	memcpy(in.spi, v->sa->spi, 16);
	memset(&msg, 0, sizeof(msg));
	gk_status st = gk_rekey_open(&in, GK_CHUNK(data, len), &msg, &complete);
	if (st == GK_E_NOT_FOUND)
		goto out;
	if ((st == GK_OK && !complete) || st == GK_E_STATE)
		goto out; /* a fragment kept, or one of an old message (a copy or a replay) dropped */
	if (st) {
		ev_note(m, g, "rekey_rejected", "reason", gk_status_str(st), 0);
		goto out;
	}
	/* replays: an ID below the next expected one, or a copy of the last accepted (2.4.1.4) */
	if (msg.hdr.msg_id < *v->next_msgid) {
		if (!*v->got_first || msg.hdr.msg_id + 1 != *v->next_msgid)
			ev_note(m, g, "rekey_rejected", "reason", "old Message ID (replay)", 0);
		goto out;
	}
	gk_gm_delete dels[32];
	size_t ndel = 0;
	for (const gk_payload *p = NULL; (p = gk_msg_next(&msg, p, GK_PL_DELETE));) {
		if (p->body->del.proto == 0 && ndel < 32) /* the whole group SA (RFC 9838 4.6): no SPIs */
			dels[ndel++] = (gk_gm_delete){ .proto = 0 };
		for (size_t i = 0; p->body->del.proto && i < p->body->del.spis.n && ndel < 32; i++)
			if (p->body->del.spis.items[i].len <= 16) {
				dels[ndel].proto = p->body->del.proto;
				dels[ndel].spi_len = p->body->del.spis.items[i].len;
				memcpy(dels[ndel].spi, p->body->del.spis.items[i].ptr, dels[ndel].spi_len);
				ndel++;
			}
	}
	gk_group_state *gs = OPENSSL_zalloc(sizeof(*gs));
	const gk_payload *gsa = gk_msg_find(&msg, GK_PL_GSA), *kd = gk_msg_find(&msg, GK_PL_KD);
	char why[GK_ERR_MAX] = "out of memory";
	gk_status kst = gs ? GK_OK : GK_E_NOMEM;
	gk_arena kh;
	gk_arena_init(&kh, 0);
	if (gs && gsa && kd) {
		kst = gk_group_state_decode_kh(&gsa->body->gsa, &kd->body->kd, GK_GSA_REKEY, kwa, k.wrap, &kh, gs,
					       why, sizeof(why));
		/* RFC 9838 3.3: the new Rekey SA key through a Key Path from the Working Key Path */
		if (!kst)
			kst = gk_key_path_open_state(gs, &g->wkp, k.wrap, kwa, kwa, false, why, sizeof(why));
	} else if (gs) {
		gs->wkp = g->wkp;
	}
	gk_arena_free(&kh);
	if (kst && kst != GK_E_NOT_FOUND) {
		ev_note(m, g, "rekey_rejected", "reason", why, 0);
		if (gs)
			gk_group_state_wipe(gs);
		OPENSSL_clear_free(gs, sizeof(*gs));
		goto out;
	}
	uint32_t id = msg.hdr.msg_id;
	*v->next_msgid = id + 1;
	*v->got_first = true;
	if (kst == GK_E_NOT_FOUND) {
		/* no Key Path to the new Rekey SA key: the GCKS left us out (RFC 9838 3.3) */
		exclude(m, g, why);
		gk_group_state_wipe(gs);
		OPENSSL_clear_free(gs, sizeof(*gs));
		goto out;
	}
	char bad[256];
	if (gk_gm_state_check(gs, GK_GSA_REKEY, m->env.allow, m->env.nallow, bad, sizeof(bad))) {
		gk_err("group %s: GSA_REKEY refused, nothing applied: %s", g->name, bad);
		ev_note(m, g, "rekey_refused", "reason", bad, 0);
		gk_group_state_wipe(gs);
		OPENSSL_clear_free(gs, sizeof(*gs));
		goto out;
	}
	ev_note(m, g, "rekey_accepted", "message_id", NULL, id);
	apply(m, g, gs, dels, ndel);
	if (g->registered)
		g->wkp = gs->wkp; /* not when the message excluded us */
	gk_group_state_wipe(gs);
	OPENSSL_clear_free(gs, sizeof(*gs));
out:
	gk_msg_free(&msg);
	return st;
}

static void on_rekey_datagram(gk_gm_groups *m, mgroup *g, const uint8_t *data, size_t len)
{
	if (!g->have_kek)
		return;
	if (g->gcauth != GK_GCAUTH_IMPLICIT && !g->auth_key)
		return; /* fail closed: a signed group without a key to check signatures with */
	kek_view cur = { &g->kek, &g->reasm, &g->next_msgid, &g->got_first };
	gk_status st = rekey_input(m, g, &cur, data, len);
	if (st == GK_E_NOT_FOUND && g->old.until) { /* until DTD: on_timer drops it then */
		kek_view old = { &g->old.sa, &g->old.reasm, &g->old.next_msgid, &g->old.got_first };
		st = rekey_input(m, g, &old, data, len);
	}
	if (st == GK_E_NOT_FOUND)
		next_spi_seen(m, g, data, len);
}

/* ---- entry points ---- */

static bool same_keys(const gk_group_sa *a, const gk_group_sa *b)
{
	return a->proto == b->proto && a->spi_len == b->spi_len && !memcmp(a->spi, b->spi, a->spi_len) &&
	       a->encr == b->encr && a->encr_key_bits == b->encr_key_bits && a->integ == b->integ &&
	       a->sn == b->sn && !memcmp(&a->src, &b->src, sizeof(a->src)) &&
	       !memcmp(&a->dst, &b->dst, sizeof(a->dst)) && a->keymat_len == b->keymat_len &&
	       CRYPTO_memcmp(a->keymat, b->keymat, a->keymat_len) == 0;
}

/* RFC 9838 2.3.3: a registration replaces all the member held for the group. An SA it carries
 * unchanged (a re-registration after a GCKS restart, say) stays installed, so traffic is not
 * dropped while it is taken out and put back; the rest goes. */
static void replace_group(gk_gm_groups *m, mgroup *g, const gk_group_state *gs, bool transport_mode)
{
	size_t kept = 0;
	for (size_t k = 0; k < g->nsas && g->transport == transport_mode; k++) {
		bool keep = false;
		for (size_t s = 0; s < gs->nsas && !keep; s++)
			keep = same_keys(&g->sas[k].sa, &gs->sas[s]);
		if (keep && kept != k) {
			held_sa t = g->sas[kept];
			g->sas[kept] = g->sas[k];
			g->sas[k] = t;
			OPENSSL_cleanse(&t, sizeof(t));
		}
		if (keep)
			g->sas[kept++].delete_at = 0; /* current again, whatever a rekey said before */
	}
	if (!kept || !g->registered) {
		flush_group(m, g);
		return;
	}
	/* an SA a rekey already replaced stays until its deactivation delay ends (RFC 9838 4.4.2.2.2),
	 * as it would have without the registration: one with another key server (the first one
	 * gone) must not cut traffic still protected by it */
	size_t n = kept;
	for (size_t k = kept; k < g->nsas; k++) {
		if (g->sas[k].delete_at <= 1) {
			uninstall(m, g, &g->sas[k]);
			continue;
		}
		if (n != k) {
			held_sa t = g->sas[n];
			g->sas[n] = g->sas[k];
			g->sas[k] = t;
			OPENSSL_cleanse(&t, sizeof(t));
		}
		n++;
	}
	g->nsas = n;
	EVP_PKEY_free(g->auth_key);
	g->auth_key = NULL;
	gk_frag_reset(&g->reasm);
	OPENSSL_cleanse(&g->kek, sizeof(g->kek));
	g->have_kek = false;
	g->kek_expires_at = 0;
	drop_old_kek(g);
	g->registered = false;
}

/* RFC 9838 2.3.3: GSA_INITIAL_MESSAGE_ID "MUST be checked by a GM against any previously
 * received Message ID for this group. If it is less than the previously received number, it
 * should be considered stale and MUST be ignored." Message IDs count per Rekey SA (one received
 * in a rekey starts at 0), so the floor carries over when the registration names the Rekey SA
 * messages were received on; a higher initial value raises it. */
static void keep_msgid_floor(mgroup *g, bool had_kek, const uint8_t old_spi[16], uint32_t old_next, bool had_first)
{
	if (!had_kek || memcmp(old_spi, g->kek.spi, 16) || old_next <= g->next_msgid)
		return;
	gk_dbg("group %s: stale GSA_INITIAL_MESSAGE_ID %u ignored, next Message ID stays %u", g->name,
	       g->next_msgid, old_next);
	g->next_msgid = old_next;
	g->got_first = had_first;
}

void gk_gm_groups_registered(gk_gm_groups *m, size_t i, const gk_group_state *gs, bool transport_mode)
{
	if (i >= m->n)
		return;
	mgroup *g = &m->g[i];
	/* the Message IDs already received on the Rekey SA outlive the registration that replaces it */
	bool had_kek = g->have_kek, had_first = g->got_first;
	uint8_t old_spi[16];
	uint32_t old_next = g->next_msgid;
	memcpy(old_spi, g->kek.spi, sizeof(old_spi));
	replace_group(m, g, gs, transport_mode);
	g->registered = true;
	g->registered_wall = gk_clock_wall(&m->env.clock);
	g->count.registrations++;
	g->rereg_at = 0;
	g->rereg_running = false;
	g->transport = transport_mode;
	g->atd = gs->has_atd ? gs->atd : 0;
	g->dtd = gs->has_dtd ? gs->dtd : 0;
	g->nsender_ids = gs->nsender_ids;
	g->wkp = gs->wkp; /* RFC 9838 3.3: the Key Path that ended at GSK_w, or none */
	if (gs->auth_key_len)
		gk_pubkey_from_spki(GK_CHUNK(gs->auth_key, gs->auth_key_len), &g->auth_key);
	bool ok = true;
	for (size_t k = 0; k < gs->nsas; k++) {
		if (gs->sas[k].proto == GK_PROTO_GIKE_UPDATE) {
			set_kek(m, g, &gs->sas[k], true);
			keep_msgid_floor(g, had_kek, old_spi, old_next, had_first);
			continue;
		}
		add_sa(m, g, &gs->sas[k], true);
		ok &= find_sa(g, gs->sas[k].proto, gs->sas[k].spi, gs->sas[k].spi_len) != NULL;
	}
	if (!ok) {
		/* what the kernel refused leaves nothing of the group behind */
		ev_note(m, g, "group_rolled_back", "reason", "the kernel refused an SA", 0);
		flush_group(m, g);
		leave_rekey_group(g);
	}
}

void gk_gm_groups_inband(gk_gm_groups *m, const gk_gm_event *ev)
{
	/* the message names no group: it is the one holding a deleted or a known SPI, else the
	 * first registered inband group */
	mgroup *g = NULL;
	for (size_t i = 0; i < m->n && !g; i++) {
		for (size_t d = 0; d < ev->ndel && !g; d++)
			if (find_sa(&m->g[i], ev->dels[d].proto, ev->dels[d].spi, ev->dels[d].spi_len))
				g = &m->g[i];
		for (size_t s = 0; ev->state && s < ev->state->nsas && !g; s++)
			if (find_sa(&m->g[i], ev->state->sas[s].proto, ev->state->sas[s].spi, ev->state->sas[s].spi_len))
				g = &m->g[i];
	}
	for (size_t i = 0; i < m->n && !g; i++)
		if (m->g[i].registered && !m->g[i].have_kek)
			g = &m->g[i];
	if (!g)
		return;
	ev_note(m, g, "inband_rekey", "message_id", NULL, ev->msg_id);
	apply(m, g, ev->state, ev->dels, ev->ndel);
}

void gk_gm_groups_excluded(gk_gm_groups *m, size_t i, const char *why)
{
	if (i < m->n && m->g[i].registered)
		exclude(m, &m->g[i], why);
}

void gk_gm_groups_lost(gk_gm_groups *m, size_t i, const char *why)
{
	/* also when a re-registration (after exclusion, say) is refused: the group is lost then */
	if (i >= m->n || (!m->g[i].registered && !m->g[i].rereg_running))
		return;
	m->g[i].rereg_running = false;
	ev_note(m, &m->g[i], "group_lost", "reason", why, 0);
	flush_group(m, &m->g[i]);
	leave_rekey_group(&m->g[i]);
}

void gk_gm_groups_retrying(gk_gm_groups *m, size_t i, const char *event, const char *why, int64_t retry_ms,
			   bool schedule)
{
	if (i >= m->n)
		return;
	mgroup *g = &m->g[i];
	long long secs = (long long)((retry_ms + 999) / 1000);
	gk_warn("group %s: %s: %s; next attempt in %lld s", g->name, event, why ? why : "", secs);
	if (schedule) {
		g->rereg_at = now_ms(m) + retry_ms;
		g->rereg_running = false;
	}
	if (!m->env.events)
		return;
	gk_json j;
	ev_begin(m, &j, g, event);
	gk_json_kstr(&j, "reason", why ? why : "");
	gk_json_kint(&j, "retry_in", secs);
	ev_end(m, &j);
}

void gk_gm_groups_tick(gk_gm_groups *m)
{
	int64_t now = now_ms(m);
	char err[256];
	for (size_t i = 0; i < m->n; i++) {
		mgroup *g = &m->g[i];
		/* activations first: a sender switches to the new SA before the old one goes */
		for (size_t k = 0; k < g->nsas; k++) {
			held_sa *h = &g->sas[k];
			if (h->activate_at && now >= h->activate_at) {
				/* ATD passed: senders switch to the new SA (RFC 5374 4.2.1) */
				h->activate_at = 0;
				h->out_active = true;
				if (m->env.sink && gk_sasink_activate_out(m->env.sink, &g->id, &h->sa, err, sizeof(err)))
					gk_warn("%s", err);
				ev_sa(m, g, "sa_activated", &h->sa, GK_DIR_OUT);
			}
		}
		for (size_t k = 0; k < g->nsas;) {
			held_sa *h = &g->sas[k];
			bool gone = (h->delete_at && now >= h->delete_at) || (h->expires_at && now >= h->expires_at);
			if (gone) {
				uninstall(m, g, h);
				memmove(h, h + 1, (g->nsas - k - 1) * sizeof(*h));
				g->nsas--;
				continue;
			}
			if (h->soft_at && now >= h->soft_at && !h->delete_at) {
				h->soft_at = 0;
				reregister_later(m, g, "an SA nears its end without replacement");
			}
			k++;
		}
		if (g->old.until && now >= g->old.until) {
			/* DTD passed: the replaced Rekey SA goes, silently (RFC 9838 2.4.1.4) */
			ev_sa(m, g, "rekey_sa_deleted", &g->old.sa, 0);
			drop_old_kek(g);
		}
		if (g->kek_expires_at && now >= g->kek_expires_at) {
			/* RFC 9838 4.4.2.2.1: "When the lifetime expires, the group security association
			 * and all associated keys MUST be deleted"; one replaced within DTD goes too */
			if (g->old.until)
				ev_sa(m, g, "rekey_sa_deleted", &g->old.sa, 0);
			drop_old_kek(g);
			drop_kek(m, g, "rekey_sa_expired", "the Rekey SA's lifetime ended");
		}
		if (g->kek_soft_at && now >= g->kek_soft_at) {
			g->kek_soft_at = 0;
			reregister_later(m, g, "the Rekey SA nears its end without replacement");
		}
		if (g->rereg_at && now >= g->rereg_at) {
			g->rereg_at = 0;
			g->rereg_running = true;
			if (m->env.reregister)
				m->env.reregister(m->env.ctx, i);
		}
	}
}

gk_status gk_gm_groups_new(const gk_gm_groups_env *env, const gk_ident *groups, size_t n, gk_gm_groups **out)
{
	gk_gm_groups *m = calloc(1, sizeof(*m));
	if (!m)
		return GK_E_NOMEM;
	m->g = OPENSSL_zalloc(n * sizeof(*m->g));
	if (!m->g) {
		free(m);
		return GK_E_NOMEM;
	}
	m->env = *env;
	m->n = n;
	for (size_t i = 0; i < n; i++) {
		m->g[i].id = groups[i];
		m->g[i].owner = m;
		gk_ident_text(&groups[i], m->g[i].name);
	}
	*out = m;
	return GK_OK;
}

static void earliest(int64_t *at, int64_t t)
{
	if (t && (!*at || t < *at))
		*at = t;
}

int64_t gk_gm_groups_next_timeout(const gk_gm_groups *m)
{
	int64_t at = 0;
	for (size_t i = 0; i < m->n; i++) {
		const mgroup *g = &m->g[i];
		for (size_t k = 0; k < g->nsas; k++) {
			const held_sa *h = &g->sas[k];
			earliest(&at, h->activate_at);
			earliest(&at, h->delete_at);
			earliest(&at, h->expires_at);
			earliest(&at, h->delete_at ? 0 : h->soft_at);
		}
		earliest(&at, g->old.until);
		earliest(&at, g->kek_expires_at);
		earliest(&at, g->kek_soft_at);
		earliest(&at, g->rereg_at);
	}
	if (!at)
		return -1;
	int64_t now = now_ms(m);
	return at > now ? at - now : 0;
}

/* ---- status ---- */

static void spi_json(gk_json *j, const char *key, const gk_group_sa *sa)
{
	gk_json_key(j, key);
	gk_json_hex(j, sa->spi, sa->spi_len);
}

/* seconds from now to at (ms), rounded up; at 0: none */
static long long secs_to(int64_t now, int64_t at)
{
	return at > now ? (long long)((at - now + 999) / 1000) : 0;
}

static void sa_status(gk_json *j, const held_sa *h, int64_t now)
{
	gk_json_obj(j);
	gk_json_kstr(j, "protocol", gk_iana_str(GK_REG_PROTO, h->sa.proto));
	spi_json(j, "spi", &h->sa);
	/* RFC 9838 4.4.3.1: a sender's new SA waits ATD before use; a replaced SA stays DTD */
	const char *state = h->delete_at ? "draining_dtd" : h->activate_at ? "waiting_atd" : "active";
	gk_json_kstr(j, "state", state);
	if (h->delete_at || h->activate_at)
		gk_json_kint(j, "state_ends_in", secs_to(now, h->delete_at ? h->delete_at : h->activate_at));
	if (h->expires_at)
		gk_json_kint(j, "lifetime_remaining", secs_to(now, h->expires_at));
	gk_json_key(j, "directions");
	gk_json_arr(j);
	if (h->dirs & GK_DIR_IN)
		gk_json_str(j, "in");
	if (h->dirs & GK_DIR_OUT)
		gk_json_str(j, "out");
	gk_json_arr_end(j);
	gk_json_obj_end(j);
}

static void counters_json(gk_json *j, const gk_gm_group_counters *c)
{
	gk_json_kint(j, "registrations", (long long)c->registrations);
	gk_json_kint(j, "reregistrations", (long long)c->reregistrations);
	gk_json_kint(j, "exclusions", (long long)c->exclusions);
	gk_json_kint(j, "rekeys_accepted", (long long)c->rekeys_accepted);
	gk_json_kint(j, "inband_rekeys", (long long)c->inband_rekeys);
	gk_json_kint(j, "rekeys_rejected", (long long)c->rekeys_rejected);
	gk_json_key(j, "rejected_by_reason");
	gk_json_obj(j);
	for (size_t i = 0; i < c->nreasons; i++)
		gk_json_kint(j, c->reasons[i].reason, (long long)c->reasons[i].count);
	gk_json_obj_end(j);
}

void gk_gm_groups_status_json(const gk_gm_groups *m, gk_json *j, const char *const *servers)
{
	int64_t now = now_ms(m);
	gk_json_arr(j);
	for (size_t i = 0; i < m->n; i++) {
		const mgroup *g = &m->g[i];
		if (!g->id.type)
			continue; /* an empty slot */
		gk_json_obj(j);
		gk_json_kstr(j, "group", g->name);
		gk_json_kstr(j, "status", g->registered ? "registered" : g->rereg_at || g->rereg_running ? "reregistering"
											       : "not registered");
		if (servers && servers[i])
			gk_json_kstr(j, "key_server", servers[i]);
		if (g->registered_wall)
			gk_json_ktime(j, "registered_at", g->registered_wall * 1000);
		gk_json_key(j, "sas");
		gk_json_arr(j);
		for (size_t k = 0; k < g->nsas; k++)
			sa_status(j, &g->sas[k], now);
		gk_json_arr_end(j);
		gk_json_key(j, "rekey_sa");
		if (g->have_kek) {
			gk_json_obj(j);
			spi_json(j, "spi", &g->kek);
			if (g->kek_expires_at)
				gk_json_kint(j, "lifetime_remaining", secs_to(now, g->kek_expires_at));
			if (g->got_first)
				gk_json_kint(j, "last_message_id", (long long)g->next_msgid - 1);
			else
				gk_json_kint(j, "next_message_id", (long long)g->next_msgid);
			gk_json_obj_end(j);
		} else {
			gk_json_null(j);
		}
		if (g->old.until) {
			/* the replaced Rekey SA still opens messages until DTD (RFC 9838 2.4.1.4) */
			gk_json_key(j, "old_rekey_sa");
			gk_json_obj(j);
			spi_json(j, "spi", &g->old.sa);
			gk_json_kstr(j, "state", "draining_dtd");
			gk_json_kint(j, "state_ends_in", secs_to(now, g->old.until));
			gk_json_obj_end(j);
		}
		if (g->count.have_msgid)
			gk_json_kint(j, "last_accepted_message_id", (long long)g->count.last_msgid);
		counters_json(j, &g->count);
		gk_json_obj_end(j);
	}
	gk_json_arr_end(j);
}

void gk_gm_groups_status_text(const gk_gm_groups *m, FILE *out, const char *const *servers)
{
	int64_t now = now_ms(m);
	char t[40];
	for (size_t i = 0; i < m->n; i++) {
		const mgroup *g = &m->g[i];
		if (!g->id.type)
			continue;
		const gk_gm_group_counters *c = &g->count;
		fprintf(out, "%s: %s", g->name, g->registered ? "registered" : "not registered");
		if (servers && servers[i])
			fprintf(out, " with %s", servers[i]);
		if (g->registered_wall) {
			time_t w = (time_t)g->registered_wall;
			struct tm tm;
			gmtime_r(&w, &tm);
			strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%SZ", &tm);
			fprintf(out, " since %s", t);
		}
		fputc('\n', out);
		for (size_t k = 0; k < g->nsas; k++) {
			const held_sa *h = &g->sas[k];
			fprintf(out, "  %s SPI ", gk_iana_str(GK_REG_PROTO, h->sa.proto));
			for (size_t b = 0; b < h->sa.spi_len; b++)
				fprintf(out, "%02x", h->sa.spi[b]);
			if (h->delete_at)
				fprintf(out, " draining (DTD) %llds", secs_to(now, h->delete_at));
			else if (h->activate_at)
				fprintf(out, " waiting for ATD %llds", secs_to(now, h->activate_at));
			else
				fprintf(out, " active");
			if (h->expires_at)
				fprintf(out, ", lifetime %llds left", secs_to(now, h->expires_at));
			fputc('\n', out);
		}
		if (g->have_kek) {
			fprintf(out, "  Rekey SA SPI ");
			for (size_t b = 0; b < g->kek.spi_len; b++)
				fprintf(out, "%02x", g->kek.spi[b]);
			if (g->kek_expires_at)
				fprintf(out, ", lifetime %llds left", secs_to(now, g->kek_expires_at));
			if (g->got_first)
				fprintf(out, ", last Message ID %lld", (long long)g->next_msgid - 1);
			fputc('\n', out);
		}
		fprintf(out, "  rekeys accepted %lu (inband %lu), rejected %lu", c->rekeys_accepted, c->inband_rekeys,
			c->rekeys_rejected);
		for (size_t r = 0; r < c->nreasons; r++)
			fprintf(out, "%s%s: %lu", r ? ", " : " (", c->reasons[r].reason, c->reasons[r].count);
		fprintf(out, "%s; registrations %lu, re-registrations %lu, exclusions %lu\n", c->nreasons ? ")" : "",
			c->registrations, c->reregistrations, c->exclusions);
	}
}

const gk_gm_group_counters *gk_gm_groups_counters(const gk_gm_groups *m, size_t i, const char **name,
						  bool *registered)
{
	if (i >= m->n || !m->g[i].id.type)
		return NULL;
	*name = m->g[i].name;
	*registered = m->g[i].registered;
	return &m->g[i].count;
}

void gk_gm_groups_free(gk_gm_groups *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++) {
		flush_group(m, &m->g[i]);
		leave_rekey_group(&m->g[i]);
	}
	OPENSSL_clear_free(m->g, m->n * sizeof(*m->g));
	free(m);
}

void gk_gm_groups_rekey_input(gk_gm_groups *m, size_t group, const uint8_t *data, size_t len,
			      const struct sockaddr *peer)
{
	(void)peer; /* anyone may send to a multicast group: only the Rekey SA's keys count */
	if (group < m->n)
		on_rekey_datagram(m, &m->g[group], data, len);
}

gk_status gk_gm_groups_set(gk_gm_groups *m, size_t i, const gk_ident *id)
{
	if (i >= m->n || m->g[i].registered || m->g[i].joined)
		return GK_E_STATE;
	m->g[i].id = *id;
	gk_ident_text(id, m->g[i].name);
	return GK_OK;
}

void gk_gm_groups_drop(gk_gm_groups *m, size_t i)
{
	if (i >= m->n)
		return;
	mgroup *g = &m->g[i];
	if (g->registered)
		ev_note(m, g, "group_left", "reason", "removed from the configuration", 0);
	flush_group(m, g);
	leave_rekey_group(g);
	gk_frag_reset(&g->reasm);
	OPENSSL_cleanse(g, sizeof(*g));
	g->owner = m;
}
