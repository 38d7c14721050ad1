/* gmd: the G-IKEv2 member agent. Registers to groups at a GCKS and reports what it received.
 * Without --once it stays: a registration that fails is tried again with backoff (the member
 * core plans the attempts; a group refused while others registered is planned by the group
 * manager), and IKE SAs kept for inband rekeys are checked for liveness, so a GCKS restart
 * does not leave gmd holding SAs that are never rekeyed. */
#include <config.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <uv.h>
#include "addr.h"
#include "auth.h"
#include "gm.h"
#include "gm_groups.h"
#include "gm_uv.h"
#include "gm_json.h"
#include "sasink.h"
#include "iana.h"
#include "log.h"
#include "privdrop.h"
#include "udp.h"

#define GCKS_DEFAULT_PORT 500  /* RFC 9838 2.1.1: the IKEv2 ports; 848 with --gcks HOST:848 */
#define NAT_T_PORT 4500
/* Exit status when gmd would register but could not install what it receives (no XFRM access,
 * e.g. no CAP_NET_ADMIN), and --sa-backend none was not asked for. */
#define EXIT_NO_BACKEND 4

#define MAX_RUNS 16
#define RETRY_S 5               /* first wait after a failed registration ... */
#define RETRY_MAX_S 300         /* ... doubling up to this; also after a permanent refusal */
#define LIVENESS_S 60
#define IKE_LIFETIME_S 14400 /* 4 h: the kept IKE SA is rekeyed 10-20 % before */
#define MAX_ALLOW 16            /* --allow-selector prefixes */

struct gmd;

/* One registration run: the first one for every group, or a re-registration of one group.
 * map[] turns the run's group index into gmd's. */
typedef struct gm_run {
	struct gmd *d;
	gk_gm *gm;
	size_t map[GK_GM_MAX_GROUPS];
	size_t n;
	uint16_t refused[GK_GM_MAX_GROUPS]; /* refusal notify per run group in this attempt ... */
	bool was_refused[GK_GM_MAX_GROUPS]; /* ... (a refusal may carry no notify) */
	bool finished;              /* failed or closed: freed on the next tick */
	bool first;
	bool busy;                  /* registering, or waiting to try again */
} gm_run;

typedef struct gmd {
	uv_loop_t *loop;
	uv_timer_t timer;
	uv_signal_t sigterm, sigint;
	gk_udp *udp;
	struct sockaddr_storage gcks;
	gk_udp *nat;                 /* to the GCKS's 4500 with the non-ESP marker once a NAT is seen */
	struct sockaddr_storage gcks_nat;
	gm_run *runs[MAX_RUNS];
	const gm_run *holder[GK_GM_MAX_GROUPS]; /* the run whose IKE SA last registered each group */
	gk_gm_env env;
	gk_gm_groups *groups;       /* without --once: what gmd holds and follows */
	gk_gm_uv *groups_uv;        /* its clock, timer and rekey listeners */
	gk_sasink *sink;
	const char *backend, *mcast_iface;
	gk_gm_config cfg;
	bool once, json;
	bool initial_contact;        /* --initial-contact */
	int exit_code;
	gk_json j;                  /* --once --json: the document being written */
	bool json_open;
	bool handles;               /* timer and signal handles initialized */
	uint8_t psk[256];
	gk_prefix allow[MAX_ALLOW];
} gmd;

static void usage(FILE *f)
{
	fputs("usage: gmd --gcks HOST[:PORT] --id ID --group GROUP-ID [--group GROUP-ID]...\n"
	      "           (--psk-file FILE | --cert FILE --key FILE [--ca FILE] | --key FILE --gcks-pubkey FILE)\n"
	      "           [--sender [N]] [--once] [--json] [--local ADDR] [--log-level [SUBSYS=]LEVEL[,...]]\n"
	      "           [--sa-backend xfrm|none] [--mcast-iface IFNAME] [--sag-encr LIST]\n"
	      "           [--retry SECONDS[:MAX]] [--liveness SECONDS] [--retransmit MS[:TRIES]]\n"
	      "           [--rereg-delay SECONDS] [--gcks-id ID] [--allow-selector PREFIX]...\n"
	      "           [--user USER] [--initial-contact] [--no-nat-t] [--nat-keepalive SECONDS]\n"
	      "           [--ike-lifetime SECONDS] [--log-target stderr|syslog|journal]\n"
	      "       gmd --help | --version\n"
	      "--gcks: PORT defaults to 500 (the IKEv2 port, RFC 9838 2.1.1; 848 is the G-IKEv2/GDOI\n"
	      "         port); when the NAT_DETECTION hashes show a NAT, gmd moves to the GCKS's UDP\n"
	      "         4500 with the non-ESP marker after IKE_SA_INIT (RFC 7296 2.23); --no-nat-t: no\n"
	      "         NAT_DETECTION notifies, stay on PORT (a relay or port forward of that port only)\n"
	      "--nat-keepalive: behind a NAT, while an IKE SA is kept, a NAT-keepalive after SECONDS\n"
	      "         (less up to 1/4 jitter) without sending to the GCKS (default 20, 0 = off)\n"
	      "--initial-contact: this gmd is the only one using its ID with this GCKS: its first IKE SA\n"
	      "         replaces those the GCKS still holds for the ID (after a restart)\n"
	      "--gcks-id: the identity the GCKS must authenticate as (required with --ca; its\n"
	      "         certificate must also carry extendedKeyUsage serverAuth)\n"
	      "--allow-selector: a unicast prefix (192.0.2.0/24, 2001:db8::/64) Data-Security SAs may\n"
	      "         name as destination; without it only multicast (224.0.0.0/4, ff00::/8)\n"
	      "--retry: first wait before a failed registration is tried again (default 5), doubling up\n"
	      "         to MAX (default 300); --liveness: silence on an IKE SA kept for inband rekeys\n"
	      "         before it is checked (default 60, 0 = off); --retransmit: first retransmission\n"
	      "         timeout (default 500 ms, doubled each time) and retransmissions (default 6)\n"
	      "--ike-lifetime: an IKE SA kept for inband rekeys is rekeyed (CREATE_CHILD_SA) 10-20 %\n"
	      "         before this (default 14400, 0 = never; 60 to 2592000)\n"
	      "--rereg-delay: excluded by the GCKS, re-register after a random 1 s to SECONDS (default\n"
	      "         5; large groups want more, so that members do not all register at once)\n"
	      "--sa-backend: xfrm (default) installs the group SAs in the kernel; without XFRM access gmd\n"
	      "         refuses to start (exit 4) unless told `none` (received SAs are only reported)\n"
	      "--user: started as root, gmd runs as USER (default " GK_GMD_USER ") once its sockets are open,\n"
	      "         keeping only CAP_NET_ADMIN (xfrm) and CAP_NET_BIND_SERVICE (raised only to bind a\n"
	      "         GCKS-chosen rekey port below 1024); shared accounts such as nobody are refused (exit 5)\n"
	      "IDs: fqdn:host.example, email:user@example, ipv4:192.0.2.1, ipv6:2001:db8::1, keyid:text\n", f);
}

static int64_t clock_ms(void *ctx)
{
	return (int64_t)uv_now(((gmd *)ctx)->loop);
}

static void send_cb(void *ctx, const uint8_t *data, size_t len)
{
	gmd *d = ctx;
	if (d->nat)
		gk_udp_send(d->nat, (const struct sockaddr *)&d->gcks_nat, data, len);
	else
		gk_udp_send(d->udp, (const struct sockaddr *)&d->gcks, data, len);
}

static void recv_cb(void *ctx, const uint8_t *data, size_t len, const struct sockaddr *peer,
		    const struct sockaddr *local);

static void set_port(struct sockaddr *sa, unsigned port)
{
	if (sa->sa_family == AF_INET)
		((struct sockaddr_in *)(void *)sa)->sin_port = htons((uint16_t)port);
	else if (sa->sa_family == AF_INET6)
		((struct sockaddr_in6 *)(void *)sa)->sin6_port = htons((uint16_t)port);
}

/* RFC 7296 2.23: a NAT between us and the GCKS. Every registration after this goes from a
 * socket of its own (an ephemeral port: the NAT rewrites it anyway) to the GCKS's 4500, with
 * the non-ESP marker. Already on 4500: nothing to change. */
static void nat_t_cb(void *ctx)
{
	gmd *d = ctx;
	struct sockaddr_storage la;
	char err[256];
	if (d->nat || gk_addr_port((struct sockaddr *)&d->gcks) == NAT_T_PORT)
		return;
	memcpy(&la, gk_udp_local(d->udp), sizeof(la));
	set_port((struct sockaddr *)&la, 0);
	if (gk_udp_open(d->loop, (struct sockaddr *)&la, recv_cb, d, &d->nat, err, sizeof(err))) {
		gk_warn("NAT-T: %s; staying on port %u", err, gk_addr_port((struct sockaddr *)&d->gcks));
		return;
	}
	gk_udp_set_marker(d->nat, true);
	d->gcks_nat = d->gcks;
	set_port((struct sockaddr *)&d->gcks_nat, NAT_T_PORT);
}

/* RFC 3948 2.3: a NAT-keepalive is the single octet 0xFF, without the marker, on the socket
 * (and so the NAT mapping) IKE uses toward the GCKS's 4500. */
static void keepalive_cb(void *ctx)
{
	gmd *d = ctx;
	gk_udp *u = d->nat ? d->nat : d->udp;
	const struct sockaddr *to = (const struct sockaddr *)(d->nat ? &d->gcks_nat : &d->gcks);
	char at[64];
	gk_dbg("NAT-keepalive to %s", gk_addr_text(to, at, sizeof(at)));
	gk_udp_send_keepalive(u, to);
}

/* The address the kernel sends from toward the GCKS (a connected probe socket asks the route),
 * with our socket's port: what the NAT_DETECTION_SOURCE_IP hash covers (RFC 7296 2.23). */
static bool local_toward(const struct sockaddr *gcks, const gk_udp *u, struct sockaddr_storage *out)
{
	static const struct in6_addr any6 = IN6ADDR_ANY_INIT;
	const struct sockaddr *l = gk_udp_local(u);
	/* bound to an address with --local: that one */
	if ((l->sa_family == AF_INET && ((const struct sockaddr_in *)(const void *)l)->sin_addr.s_addr != INADDR_ANY) ||
	    (l->sa_family == AF_INET6 &&
	     memcmp(&((const struct sockaddr_in6 *)(const void *)l)->sin6_addr, &any6, sizeof(any6)))) {
		memset(out, 0, sizeof(*out));
		memcpy(out, l, gk_addr_len(l));
		return true;
	}
	socklen_t len = sizeof(*out);
	int fd = socket(gcks->sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	bool ok = fd >= 0 && !connect(fd, gcks, gk_addr_len(gcks)) &&
		  !getsockname(fd, (struct sockaddr *)out, &len);
	if (fd >= 0)
		close(fd);
	if (ok)
		set_port((struct sockaddr *)out, gk_addr_port(gk_udp_local(u)));
	return ok;
}

static void stop(gmd *d)
{
	uv_stop(d->loop);
}

static void finish_json(gmd *d)
{
	if (!d->json_open)
		return;
	gk_json_arr_end(&d->j);
	gk_json_obj_end(&d->j);
	fputc('\n', stdout);
	fflush(stdout);
	d->json_open = false;
}

static gm_run *run_new(gmd *d, const size_t *groups, size_t n, bool first);

/* Re-registration of one group (asked for by the group manager). */
static void reregister_cb(void *ctx, size_t group)
{
	gmd *d = ctx;
	for (size_t i = 0; i < MAX_RUNS; i++) {
		const gm_run *o = d->runs[i];
		if (o && !o->finished && o->busy && o->n == 1 && o->map[0] == group)
			return; /* that run is registering the group already, or will try again */
	}
	gm_run *r = run_new(d, &group, 1, false);
	if (!r || gk_gm_start(r->gm))
		gk_err("cannot start a re-registration");
}

/* "NOTIFY: why" for group_lost events: tests and operators need the notify the GCKS sent. */
static void lost(gmd *d, size_t gi, const gk_gm_event *ev)
{
	char why[256];
	snprintf(why, sizeof(why), "%s%s%s", ev->notify ? gk_iana_str(GK_REG_NOTIFY, ev->notify) : "",
		 ev->notify && ev->why ? ": " : "", ev->why ? ev->why : "");
	gk_gm_groups_lost(d->groups, gi, why);
}

/* Without --once: a failed attempt. The core plans the next one (retry_ms). A refusal loses
 * the group (a policy said no); no answer keeps what is installed, valid until it expires. */
static void failed(gmd *d, gm_run *r, const gk_gm_event *ev)
{
	char why[256];
	snprintf(why, sizeof(why), "%s%s%s", ev->notify ? gk_iana_str(GK_REG_NOTIFY, ev->notify) : "",
		 ev->notify && ev->why ? ": " : "", ev->why ? ev->why : "");
	for (size_t i = 0; i < r->n && d->groups; i++) {
		if (ev->notify)
			lost(d, r->map[i], ev); /* a no-op for groups never registered */
		if (ev->retry_ms)
			gk_gm_groups_retrying(d->groups, r->map[i], "registration_failed", why, ev->retry_ms, false);
		r->was_refused[i] = false;
	}
	r->busy = ev->retry_ms > 0;
	r->finished = !r->busy;
}

/* Without --once: the attempt registered some groups. Those refused are tried again on their
 * own, planned by the group manager. */
static void done(gmd *d, gm_run *r)
{
	r->busy = false;
	for (size_t i = 0; i < r->n && d->groups; i++) {
		if (!r->was_refused[i])
			continue;
		r->was_refused[i] = false;
		uint16_t n = r->refused[i];
		int64_t wait = gk_gm_retry_delay(&d->cfg, d->env.rnd, 0, n);
		if (wait)
			gk_gm_groups_retrying(d->groups, r->map[i], "registration_failed",
					      n ? gk_iana_str(GK_REG_NOTIFY, n) : "the GCKS refused the registration",
					      wait, true);
	}
}

static void event_cb(void *ctx, const gk_gm_event *ev)
{
	gm_run *r = ctx;
	gmd *d = r->d;
	char gt[GK_IDENT_TEXT_MAX];
	size_t gi = ev->group < GK_GM_MAX_GROUPS ? r->map[ev->group] : SIZE_MAX;
	const char *group = gi < d->cfg.ngroups ? gk_ident_text(&d->cfg.groups[gi], gt) : "?";
	switch (ev->type) {
	case GK_GM_REGISTERED:
		gk_logs(GK_SUB_REG, GK_LOG_INFO, "registered to %s (%zu SAs)", group, ev->state->nsas);
		if (d->json && d->once)
			gk_gm_json_group(&d->j, &d->cfg.groups[gi], ev->state, d->cfg.sender, ev->transport_mode);
		if (d->json && !d->once) {
			gk_json j;
			gk_json_init(&j, stdout);
			gk_json_obj(&j);
			gk_json_kstr(&j, "event", "registered");
			gk_json_key(&j, "state");
			gk_gm_json_group(&j, &d->cfg.groups[gi], ev->state, d->cfg.sender, ev->transport_mode);
			gk_json_obj_end(&j);
			fputc('\n', stdout);
			fflush(stdout);
		}
		if (d->groups)
			gk_gm_groups_registered(d->groups, gi, ev->state, ev->transport_mode);
		if (gi < GK_GM_MAX_GROUPS)
			d->holder[gi] = r;
		if (ev->group < GK_GM_MAX_GROUPS)
			r->was_refused[ev->group] = false;
		break;
	case GK_GM_REKEYED:
		if (d->groups)
			gk_gm_groups_inband(d->groups, ev);
		break;
	case GK_GM_REFUSED:
		gk_logs(GK_SUB_REG, GK_LOG_ERROR, "registration to %s refused: %s%s%s", group,
		       ev->notify ? gk_iana_str(GK_REG_NOTIFY, ev->notify) : "",
		       ev->notify && ev->why ? ": " : "", ev->why ? ev->why : "");
		if (d->json && d->once) {
			gk_json_obj(&d->j);
			gk_json_kstr(&d->j, "group", group);
			gk_json_kstr(&d->j, "status", "refused");
			gk_json_kstr(&d->j, "error", ev->notify ? gk_iana_str(GK_REG_NOTIFY, ev->notify) : "INVALID_POLICY");
			gk_json_kstr(&d->j, "reason", ev->why);
			gk_json_obj_end(&d->j);
		}
		if (d->groups)
			lost(d, gi, ev);
		if (ev->group < GK_GM_MAX_GROUPS) {
			r->was_refused[ev->group] = true;
			r->refused[ev->group] = ev->notify;
		}
		d->exit_code = 2;
		break;
	case GK_GM_FAILED:
		gk_logs(GK_SUB_REG, GK_LOG_ERROR, "registration failed: %s%s%s", ev->why ? ev->why : "",
		       ev->notify ? ": " : "", ev->notify ? gk_iana_str(GK_REG_NOTIFY, ev->notify) : "");
		if (d->json && d->once && d->exit_code == 0) {
			gk_json_obj(&d->j);
			gk_json_kstr(&d->j, "group", group);
			gk_json_kstr(&d->j, "status", "failed");
			gk_json_kstr(&d->j, "error", ev->notify ? gk_iana_str(GK_REG_NOTIFY, ev->notify) : "NO_ANSWER");
			gk_json_kstr(&d->j, "reason", ev->why);
			gk_json_obj_end(&d->j);
		}
		/* a daemon reports refusals in its exit code; no answer is only a reason to retry */
		if (d->exit_code == 0 && (d->once || ev->notify))
			d->exit_code = ev->notify ? 2 : 3;
		if (d->once) {
			r->finished = true;
			finish_json(d);
			stop(d);
			break;
		}
		failed(d, r, ev);
		break;
	case GK_GM_DONE:
		if (d->once) {
			finish_json(d);
			stop(d);
			break;
		}
		done(d, r);
		break;
	case GK_GM_EXCLUDED:
		/* only the SA that holds the group's current registration: an older one closing
		 * after a re-registration on a new SA excludes nothing */
		if (gi >= GK_GM_MAX_GROUPS || d->holder[gi] != r)
			break;
		gk_logs(GK_SUB_REG, GK_LOG_WARN, "%s: %s: excluded, registering again", group, ev->why);
		if (d->groups)
			gk_gm_groups_excluded(d->groups, gi, ev->why);
		break;
	case GK_GM_CLOSED:
		gk_info("the GCKS closed the registration IKE SA");
		r->finished = true;
		r->busy = false;
		break;
	case GK_GM_DEAD:
		gk_warn("the GCKS did not answer a liveness check: the registration IKE SA is gone");
		for (size_t i = 0; i < r->n && d->groups; i++)
			gk_gm_groups_retrying(d->groups, r->map[i], "ike_sa_dead", ev->why, ev->retry_ms, false);
		r->busy = ev->retry_ms > 0;
		r->finished = !r->busy;
		break;
	}
}

static gm_run *run_new(gmd *d, const size_t *groups, size_t n, bool first)
{
	size_t slot = MAX_RUNS;
	for (size_t i = 0; i < MAX_RUNS; i++)
		if (!d->runs[i]) {
			slot = i;
			break;
		}
	if (slot == MAX_RUNS)
		return NULL;
	gm_run *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	gk_gm_config c = d->cfg;
	c.ngroups = n;
	for (size_t i = 0; i < n; i++) {
		c.groups[i] = d->cfg.groups[groups[i]];
		r->map[i] = groups[i];
	}
	/* gmd's first IKE SA: SAs the GCKS holds for our identity are from before a restart. Only
	 * where this gmd is the one member agent of its identity (RFC 7296 2.4: the only IKE SA
	 * between the two identities), or it would close another gmd's SA. */
	c.initial_contact = first && d->initial_contact;
	gk_gm_env env = d->env;
	env.event_ctx = r;
	r->d = d;
	r->first = first;
	r->n = n;
	r->busy = true;
	if (gk_gm_new(&c, &env, &r->gm)) {
		free(r);
		return NULL;
	}
	d->runs[slot] = r;
	return r;
}

static void run_free(gmd *d, size_t i)
{
	for (size_t g = 0; g < GK_GM_MAX_GROUPS; g++)
		if (d->holder[g] == d->runs[i])
			d->holder[g] = NULL;
	gk_gm_free(d->runs[i]->gm);
	free(d->runs[i]);
	d->runs[i] = NULL;
}

static void recv_cb(void *ctx, const uint8_t *data, size_t len, const struct sockaddr *peer,
		    const struct sockaddr *local)
{
	gmd *d = ctx;
	(void)peer;
	(void)local;
	for (size_t i = 0; i < MAX_RUNS; i++)
		if (d->runs[i] && gk_gm_owns(d->runs[i]->gm, data, len))
			gk_gm_input(d->runs[i]->gm, data, len);
}

static void on_timer(uv_timer_t *t)
{
	gmd *d = t->data;
	for (size_t i = 0; i < MAX_RUNS; i++) {
		if (!d->runs[i])
			continue;
		if (d->runs[i]->finished && !d->once) {
			run_free(d, i);
			continue;
		}
		gk_gm_tick(d->runs[i]->gm);
	}
}

/* The kernel SA sink: xfrm unless --sa-backend none. A gmd that registers but cannot install
 * protects nothing while saying "registered": it refuses to start instead. */
static int open_sink(gmd *d)
{
	char err[256] = "";
	const char *b = d->backend ? d->backend : "xfrm";
	if (gk_sasink_open(b, &d->sink, err, sizeof(err))) {
		fprintf(stderr, "gmd: %s: gmd could register but not install the group's SAs; run it as root "
			"(it keeps only CAP_NET_ADMIN) or with CAP_NET_ADMIN, or pass --sa-backend none to only "
			"report them\n", err);
		return -1;
	}
	if (gk_sasink_flush_stale(d->sink, err, sizeof(err)))
		gk_warn("removing stale entries: %s", err);
	gk_info("SA backend: %s", gk_sasink_name(d->sink));
	return 0;
}

/* Started as root, with every socket open: become `user`, keeping CAP_NET_ADMIN for the xfrm
 * sink and, without --once, CAP_NET_BIND_SERVICE in the permitted set only, raised for the bind
 * of a rekey port below 1024 (the GCKS chooses it at registration, default 848). */
static int leave_root(const gmd *d, const char *user)
{
	gk_priv_user u;
	char err[512];
	if (geteuid() != 0)
		return 0;
	if (gk_priv_user_lookup(user, &u, err, sizeof(err))) {
		fprintf(stderr, "gmd: --user: %s\n", err);
		return -1;
	}
	unsigned keep = d->sink && !strcmp(gk_sasink_name(d->sink), "xfrm") ? GK_CAP_NET_ADMIN : 0;
	if (gk_priv_drop(&u, keep, d->once ? 0 : GK_CAP_NET_BIND, err, sizeof(err))) {
		fprintf(stderr, "gmd: %s\n", err);
		return -1;
	}
	gk_info("running as %s (uid %u)%s", u.name, (unsigned)u.uid, keep ? " with CAP_NET_ADMIN" : "");
	return 0;
}

static void on_signal(uv_signal_t *s, int sig)
{
	gmd *d = s->data;
	gk_info("signal %d: stopping", sig);
	stop(d);
}

/* PSK file: the secret as text, or as hex after "0x"; a trailing newline is not part of it. */
static int read_psk(const char *path, uint8_t *out, size_t *len)
{
	FILE *f = fopen(path, "r");
	char buf[600];
	if (!f) {
		fprintf(stderr, "gmd: %s: cannot open PSK file\n", path);
		return -1;
	}
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = 0;
	size_t o = 0;
	if (n > 2 && buf[0] == '0' && (buf[1] == 'x' || buf[1] == 'X')) {
		for (size_t i = 2; i + 1 < n + 1 && o < 256; i += 2) {
			if (!isxdigit((unsigned char)buf[i]) || !isxdigit((unsigned char)buf[i + 1])) {
				fprintf(stderr, "gmd: %s: bad hex in PSK\n", path);
				return -1;
			}
			char h[3] = { buf[i], buf[i + 1], 0 };
			out[o++] = (uint8_t)strtoul(h, NULL, 16);
		}
	} else {
		o = n < 256 ? n : 256;
		memcpy(out, buf, o);
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	if (o == 0) {
		fprintf(stderr, "gmd: %s: empty PSK\n", path);
		return -1;
	}
	*len = o;
	return 0;
}

static int parse_encr_list(const char *s, gk_gm_config *c)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", s);
	for (char *tok = strtok(buf, ","); tok && c->nsag_encr < GK_OFFER_MAX; tok = strtok(NULL, ",")) {
		char *slash = strchr(tok, '/');
		unsigned bits = 0, id;
		if (slash) {
			*slash = 0;
			bits = (unsigned)atoi(slash + 1);
		}
		for (char *p = tok; *p; p++)
			*p = (char)toupper((unsigned char)*p);
		if (gk_iana_value(GK_REG_ENCR, tok, &id)) {
			fprintf(stderr, "gmd: --sag-encr: unknown encryption transform %s\n", tok);
			return -1;
		}
		c->sag_encr[c->nsag_encr++] = (gk_encr_choice){ (uint16_t)id, (uint16_t)bits };
	}
	return 0;
}

/* "A" or "A:B" as unsigned numbers; b untouched when absent. */
static int parse_pair(const char *s, unsigned *a, unsigned *b)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);
	if (end == s || v > 0xffffffffUL || (*end && (*end != ':' || !b)))
		return -1;
	*a = (unsigned)v;
	if (!*end)
		return 0;
	s = end + 1;
	v = strtoul(s, &end, 10);
	if (end == s || *end || v > 0xffffffffUL)
		return -1;
	*b = (unsigned)v;
	return 0;
}

static EVP_PKEY *load_pubkey_pem(const char *path)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *k = f ? PEM_read_PUBKEY(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	return k;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "gcks", required_argument, NULL, 'g' }, { "id", required_argument, NULL, 'i' },
		{ "group", required_argument, NULL, 'G' }, { "psk-file", required_argument, NULL, 'p' },
		{ "cert", required_argument, NULL, 'c' }, { "key", required_argument, NULL, 'k' },
		{ "ca", required_argument, NULL, 'a' }, { "gcks-pubkey", required_argument, NULL, 'P' },
		{ "sender", no_argument, NULL, 's' }, { "once", no_argument, NULL, 'o' },
		{ "json", no_argument, NULL, 'j' }, { "local", required_argument, NULL, 'l' },
		{ "no-nat-t", no_argument, NULL, 'N' }, { "nat-keepalive", required_argument, NULL, 'K' },
		{ "log-level", required_argument, NULL, 'L' }, { "sag-encr", required_argument, NULL, 'E' },
		{ "sa-backend", required_argument, NULL, 'B' }, { "mcast-iface", required_argument, NULL, 'M' },
		{ "retry", required_argument, NULL, 'R' }, { "liveness", required_argument, NULL, 'V' },
		{ "retransmit", required_argument, NULL, 'T' }, { "rereg-delay", required_argument, NULL, 'D' },
		{ "gcks-id", required_argument, NULL, 'I' }, { "allow-selector", required_argument, NULL, 'A' },
		{ "user", required_argument, NULL, 'U' }, { "initial-contact", no_argument, NULL, 'C' },
		{ "ike-lifetime", required_argument, NULL, 'X' },
		{ "log-target", required_argument, NULL, 0x100 },
		{ "help", no_argument, NULL, 'h' }, { "version", no_argument, NULL, 'v' }, { 0 },
	};
	gmd d;
	memset(&d, 0, sizeof(d));
	gk_gm_config_default(&d.cfg);
	const char *gcks = NULL, *psk_file = NULL, *cert = NULL, *key = NULL, *ca = NULL, *gpub = NULL;
	const char *local = NULL, *user = GK_GMD_USER;
	char why[GK_ERR_MAX] = "";
	int c, rc = 1;
	const char *log_levels = NULL, *log_target = NULL; /* gk_log_configure */
	unsigned retry_s = RETRY_S, retry_max_s = RETRY_MAX_S, liveness_s = LIVENESS_S, rereg_s = 5;
	unsigned ike_lifetime_s = IKE_LIFETIME_S;
	unsigned keepalive_s = d.cfg.keepalive_ms / 1000;
	bool have_id = false, no_nat_t = false;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'g': gcks = optarg; break;
		case 'i':
			if (gk_ident_parse(optarg, &d.cfg.id, why, sizeof(why))) {
				fprintf(stderr, "gmd: --id %s: %s\n", optarg, why);
				return 1;
			}
			have_id = true;
			break;
		case 'G':
			if (d.cfg.ngroups == GK_GM_MAX_GROUPS ||
			    gk_ident_parse(optarg, &d.cfg.groups[d.cfg.ngroups], why, sizeof(why))) {
				fprintf(stderr, "gmd: --group %s: %s\n", optarg,
					d.cfg.ngroups == GK_GM_MAX_GROUPS ? "too many groups" : why);
				return 1;
			}
			d.cfg.ngroups++;
			break;
		case 'p': psk_file = optarg; break;
		case 'c': cert = optarg; break;
		case 'k': key = optarg; break;
		case 'a': ca = optarg; break;
		case 'P': gpub = optarg; break;
		case 's':
			d.cfg.sender = true;
			/* --sender [N]: an optional count as the next word */
			if (optind < argc && isdigit((unsigned char)argv[optind][0]))
				d.cfg.sender_ids = (uint32_t)strtoul(argv[optind++], NULL, 10);
			break;
		case 'o': d.once = true; break;
		case 'N': no_nat_t = true; break;
		case 'j': d.json = true; break;
		case 'l': local = optarg; break;
		case 'L': log_levels = optarg; break;
		case 0x100: log_target = optarg; break;
		case 'E':
			if (parse_encr_list(optarg, &d.cfg))
				return 1;
			break;
		case 'B':
			if (strcmp(optarg, "xfrm") && strcmp(optarg, "none")) {
				fprintf(stderr, "gmd: --sa-backend: use xfrm or none\n");
				return 1;
			}
			d.backend = optarg;
			break;
		case 'M': d.mcast_iface = optarg; break;
		case 'R':
			if (parse_pair(optarg, &retry_s, &retry_max_s) || !retry_s || retry_s > 86400 ||
			    retry_max_s > 86400) {
				fprintf(stderr, "gmd: --retry: use SECONDS[:MAX], 1 to 86400\n");
				return 1;
			}
			break;
		case 'V':
			if (parse_pair(optarg, &liveness_s, NULL) || liveness_s > 86400) {
				fprintf(stderr, "gmd: --liveness: use SECONDS, 0 to 86400 (0 = off)\n");
				return 1;
			}
			break;
		case 'T':
			if (parse_pair(optarg, &d.cfg.retransmit_ms, &d.cfg.retransmit_tries) ||
			    d.cfg.retransmit_ms < 10 || d.cfg.retransmit_ms > 60000 || d.cfg.retransmit_tries > 20) {
				fprintf(stderr, "gmd: --retransmit: use MS[:TRIES], 10 to 60000 ms, up to 20 tries\n");
				return 1;
			}
			break;
		case 'K':
			if (parse_pair(optarg, &keepalive_s, NULL) || keepalive_s > 3600) {
				fprintf(stderr, "gmd: --nat-keepalive: use SECONDS, 0 to 3600 (0 = off)\n");
				return 1;
			}
			break;
		case 'D':
			if (parse_pair(optarg, &rereg_s, NULL) || rereg_s < 2 || rereg_s > 3600) {
				fprintf(stderr, "gmd: --rereg-delay: use SECONDS, 2 to 3600\n");
				return 1;
			}
			break;
		case 'I':
			if (gk_ident_parse(optarg, &d.cfg.gcks_id, why, sizeof(why))) {
				fprintf(stderr, "gmd: --gcks-id %s: %s\n", optarg, why);
				return 1;
			}
			break;
		case 'A':
			if (d.cfg.nallow == MAX_ALLOW || gk_prefix_parse(optarg, &d.allow[d.cfg.nallow], why, sizeof(why))) {
				fprintf(stderr, "gmd: --allow-selector %s: %s\n", optarg,
					d.cfg.nallow == MAX_ALLOW ? "too many prefixes (16 at most)" : why);
				return 1;
			}
			d.cfg.nallow++;
			break;
		case 'X':
			if (parse_pair(optarg, &ike_lifetime_s, NULL) ||
			    (ike_lifetime_s && (ike_lifetime_s < 60 || ike_lifetime_s > 2592000))) {
				fprintf(stderr, "gmd: --ike-lifetime: use SECONDS, 60 to 2592000 (0 = never rekey)\n");
				return 1;
			}
			break;
		case 'U': user = optarg; break;
		case 'C': d.initial_contact = true; break;
		case 'h': usage(stdout); return 0;
		case 'v': puts("gmd (" PACKAGE_NAME ") " PACKAGE_VERSION); return 0;
		default: usage(stderr); return 1;
		}
	}
	if (gk_log_configure("gmd", GK_SUBS_GMD, log_levels, log_target, false, why, sizeof(why))) {
		fprintf(stderr, "gmd: %s\n", why);
		return 1;
	}
	/* before any key is read: keys must not land in core files */
	if (gk_priv_nondumpable()) {
		fprintf(stderr, "gmd: cannot make the process non-dumpable: %s\n", strerror(errno));
		return GK_EXIT_PRIVILEGE;
	}
	if (!d.once) {
		/* a daemon keeps trying; --once reports the first outcome */
		d.cfg.retry_ms = retry_s * 1000;
		d.cfg.retry_max_ms = (retry_max_s > retry_s ? retry_max_s : retry_s) * 1000;
		d.cfg.liveness_ms = liveness_s * 1000;
		d.cfg.ike_lifetime_s = ike_lifetime_s;
		d.cfg.keepalive_ms = keepalive_s * 1000;
	}
	if (!gcks || !have_id || !d.cfg.ngroups || (!psk_file && !key) || (psk_file && key) || optind != argc) {
		usage(stderr);
		return 1;
	}
	d.cfg.allow = d.allow;
	if (ca && !d.cfg.gcks_id.type) {
		/* any certificate of the CA would do as the GCKS: members' too */
		fprintf(stderr, "gmd: --ca needs --gcks-id: the identity the GCKS must authenticate as\n");
		return 1;
	}
	if (gk_addr_parse(gcks, GCKS_DEFAULT_PORT, &d.gcks, why, sizeof(why))) {
		fprintf(stderr, "gmd: --gcks %s: %s\n", gcks, why);
		return 1;
	}
	size_t psk_len = 0;
	if (psk_file) {
		if (read_psk(psk_file, d.psk, &psk_len))
			return 1;
		d.cfg.psk = d.psk;
		d.cfg.psk_len = psk_len;
	} else {
		if (gk_privkey_load_pem(key, &d.cfg.key)) {
			fprintf(stderr, "gmd: --key %s: cannot read the private key\n", key);
			return 1;
		}
		if (cert && gk_cert_load_pem(cert, &d.cfg.cert)) {
			fprintf(stderr, "gmd: --cert %s: cannot read the certificate\n", cert);
			goto out;
		}
		if (ca && gk_trust_load_pem(ca, &d.cfg.ca)) {
			fprintf(stderr, "gmd: --ca %s: cannot read the CA certificates\n", ca);
			goto out;
		}
		if (gpub && !(d.cfg.gcks_pubkey = load_pubkey_pem(gpub))) {
			fprintf(stderr, "gmd: --gcks-pubkey %s: cannot read the public key\n", gpub);
			goto out;
		}
		if (!d.cfg.ca && !d.cfg.gcks_pubkey) {
			fprintf(stderr, "gmd: --ca or --gcks-pubkey is needed to authenticate the GCKS\n");
			goto out;
		}
	}
	struct sockaddr_storage la;
	if (local) {
		if (gk_addr_parse(local, 0, &la, why, sizeof(why)) && gk_addr_parse(local, 65535, &la, why, sizeof(why))) {
			fprintf(stderr, "gmd: --local %s: %s\n", local, why);
			goto out;
		}
	} else {
		memset(&la, 0, sizeof(la));
		la.ss_family = d.gcks.ss_family;
	}
	d.loop = uv_default_loop();
	char err[256];
	if (gk_udp_open(d.loop, (struct sockaddr *)&la, recv_cb, &d, &d.udp, err, sizeof(err))) {
		fprintf(stderr, "gmd: %s\n", err);
		goto out;
	}
	/* IKE on 4500 from the start carries the marker (RFC 7296 2.23) */
	if (gk_addr_port((struct sockaddr *)&d.gcks) == NAT_T_PORT)
		gk_udp_set_marker(d.udp, true);
	if (no_nat_t || !local_toward((struct sockaddr *)&d.gcks, d.udp, &d.cfg.local))
		memset(&d.cfg.local, 0, sizeof(d.cfg.local)); /* no route yet: no NAT-D, no NAT-T */
	else
		d.cfg.gcks = d.gcks;
	d.env = (gk_gm_env){ .rnd = gk_rand_system(), .clock = { .now_ms = clock_ms, .ctx = &d }, .send = send_cb,
			     .send_ctx = &d, .event = event_cb, .nat_t = nat_t_cb,
			     .keepalive = keepalive_cb };
	size_t all[GK_GM_MAX_GROUPS];
	for (size_t i = 0; i < d.cfg.ngroups; i++)
		all[i] = i;
	gm_run *first = run_new(&d, all, d.cfg.ngroups, true);
	if (!first) {
		fprintf(stderr, "gmd: cannot start\n");
		goto out;
	}
	if (!d.once) {
		if (open_sink(&d)) {
			rc = EXIT_NO_BACKEND;
			goto out;
		}
		gk_gm_groups_env genv = { .sink = d.sink, .events = d.json ? stdout : NULL,
					  .sender = d.cfg.sender,
					  .reregister = reregister_cb, .ctx = &d, .rereg_max_ms = rereg_s * 1000,
					  .allow = d.allow, .nallow = d.cfg.nallow };
		if (gk_gm_uv_new(d.loop, d.mcast_iface, d.cfg.ngroups, &genv, &d.groups_uv) ||
		    gk_gm_groups_new(&genv, d.cfg.groups, d.cfg.ngroups, &d.groups)) {
			fprintf(stderr, "gmd: cannot start\n");
			goto out;
		}
		gk_gm_uv_start(d.groups_uv, d.groups);
	}
	if (leave_root(&d, user)) {
		rc = GK_EXIT_PRIVILEGE;
		goto out;
	}
	if (d.json && d.once) {
		char mt[GK_IDENT_TEXT_MAX], at[64];
		gk_json_init(&d.j, stdout);
		gk_json_obj(&d.j);
		gk_json_kstr(&d.j, "member", gk_ident_text(&d.cfg.id, mt));
		gk_json_kstr(&d.j, "gcks", gk_addr_text((struct sockaddr *)&d.gcks, at, sizeof(at)));
		gk_json_key(&d.j, "groups");
		gk_json_arr(&d.j);
		d.json_open = true;
	}
	uv_timer_init(d.loop, &d.timer);
	d.timer.data = &d;
	uv_timer_start(&d.timer, on_timer, 100, 100);
	uv_signal_init(d.loop, &d.sigterm);
	uv_signal_init(d.loop, &d.sigint);
	d.sigterm.data = d.sigint.data = &d;
	uv_signal_start(&d.sigterm, on_signal, SIGTERM);
	uv_signal_start(&d.sigint, on_signal, SIGINT);
	d.handles = true;
	if (gk_gm_start(first->gm)) {
		fprintf(stderr, "gmd: cannot start registration\n");
		goto out;
	}
	uv_run(d.loop, UV_RUN_DEFAULT);
	finish_json(&d);
	rc = d.exit_code;
out:
	/* what gmd installed goes with it: SIGTERM cleans up */
	gk_gm_groups_free(d.groups);
	gk_gm_uv_free(d.groups_uv);
	gk_sasink_close(d.sink);
	for (size_t i = 0; i < MAX_RUNS; i++)
		if (d.runs[i])
			run_free(&d, i);
	if (d.loop) {
		gk_udp_close(d.udp);
		gk_udp_close(d.nat);
		if (d.handles) {
			uv_close((uv_handle_t *)&d.timer, NULL);
			uv_close((uv_handle_t *)&d.sigterm, NULL);
			uv_close((uv_handle_t *)&d.sigint, NULL);
		}
		uv_run(d.loop, UV_RUN_NOWAIT);
		uv_loop_close(d.loop);
	}
	EVP_PKEY_free(d.cfg.key);
	EVP_PKEY_free(d.cfg.gcks_pubkey);
	X509_free(d.cfg.cert);
	X509_STORE_free(d.cfg.ca);
	OPENSSL_cleanse(d.psk, sizeof(d.psk));
	return rc;
}
