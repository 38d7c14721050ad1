/* gmd: the G-IKEv2 member agent. Registers to groups at a GCKS and reports what it received.
 * Without --once it stays: a registration that fails is tried again with backoff (the member
 * core plans the attempts; a group refused while others registered is planned by the group
 * manager), and IKE SAs kept for inband rekeys are checked for liveness, so a GCKS restart
 * does not leave gmd holding SAs that are never rekeyed.
 * Settings come from the command line and a configuration file (gmd_conf.h). With several key
 * servers, each registration starts with the first and fails over in order (gm_core.c). SIGHUP
 * reads the file again: groups added are registered, groups removed are left, a new key server
 * list serves the next registration, the log level changes; what is installed stays. */
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
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <uv.h>
#include "addr.h"
#include "auth.h"
#include "gm.h"
#include "gm_groups.h"
#include "gm_uv.h"
#include "gm_control.h"
#include "gm_metrics.h"
#include "gm_json.h"
#include "gmd_conf.h"
#include "sasink.h"
#include "iana.h"
#include "log.h"
#include "privdrop.h"
#include "psk_file.h"
#include "tcp_encap.h"
#include "udp.h"

#define NAT_T_PORT 4500
/* Exit status when gmd would register but could not install what it receives (no XFRM access,
 * e.g. no CAP_NET_ADMIN), and --sa-backend none was not asked for. */
#define EXIT_NO_BACKEND 4

#define MAX_RUNS 16

struct gmd;

/* One registration run: the first one for every group, or a re-registration of one group.
 * map[] turns the run's group index into gmd's slot, gen[] the slot's generation when the run
 * began (a slot dropped and reused since belongs to another group). srv[] is the key server
 * list when the run began: a new list serves the next run. */
typedef struct gm_run {
	struct gmd *d;
	gk_gm *gm;
	size_t map[GK_GM_MAX_GROUPS];
	uint32_t gen[GK_GM_MAX_GROUPS];
	size_t n;
	struct sockaddr_storage srv[GMD_MAX_GCKS];
	size_t nsrv;
	uint16_t refused[GK_GM_MAX_GROUPS]; /* refusal notify per run group in this attempt ... */
	bool was_refused[GK_GM_MAX_GROUPS]; /* ... (a refusal may carry no notify) */
	bool finished;              /* failed or closed: freed on the next tick */
	bool first;
	bool busy;                  /* registering, or waiting to try again */
	uint8_t last_md[32];        /* --transport auto: digest of the last message sent over UDP ... */
	unsigned rtx;               /* ... and how often it was sent again without an answer */
} gm_run;

typedef struct gmd {
	uv_loop_t *loop;
	uv_timer_t timer;
	uv_signal_t sigterm, sigint, sighup;
	gk_udp *udp;
	gk_udp *nat;                 /* to the GCKS's 4500 with the non-ESP marker once a NAT is seen */
	gk_tcp_client *tcp[GMD_MAX_GCKS]; /* TCP encapsulation (RFC 9329): a connection per key server */
	bool use_tcp;                /* --transport tcp, or auto after UDP went unanswered */
	gm_run *runs[MAX_RUNS];
	const gm_run *holder[GK_GM_MAX_GROUPS]; /* the run whose IKE SA last registered each group */
	gk_gm_env env;
	gk_keylog *keylog;         /* --ike-keylog; NULL: off */
	gm_control *control;        /* --control; NULL: none */
	gm_metrics *metrics;        /* --metrics; NULL: none */
	char server_text[GK_GM_MAX_GROUPS][64]; /* key server per slot, for status answers */
	gk_gm_groups *groups;       /* without --once: what gmd holds and follows */
	gk_gm_uv *groups_uv;        /* its clock, timer and rekey listeners */
	gk_sasink *sink;
	gk_gm_config cfg;           /* cfg.groups: one slot per group, active[] says which are used */
	bool active[GK_GM_MAX_GROUPS];
	uint32_t gen[GK_GM_MAX_GROUPS]; /* bumped when a slot's group is dropped */
	gmd_conf conf;              /* the running settings */
	gmd_conf cli;               /* what the command line gave: it overrides the file on reload */
	const char *config;         /* --config FILE, NULL = none */
	bool once, json;
	int exit_code;
	gk_json j;                  /* --once --json: the document being written */
	bool json_open;
	bool handles;               /* timer and signal handles initialized */
	uint8_t *psk;                /* --psk-file, read by the rule gcksctl uses (psk_file.h) */
	size_t psk_len;
	uint8_t *ppk;                /* --ppk-file (RFC 8784), read by the same rule; wiped at exit */
	size_t ppk_len;
} gmd;

static void usage(FILE *f)
{
	fputs("usage: gmd [--config FILE] [--check-config] --gcks HOST[:PORT] [--gcks HOST[:PORT]]...\n"
	      "           --id ID --group GROUP-ID [--group GROUP-ID]...\n"
	      "           (--psk-file FILE | --cert FILE --key FILE [--ca FILE] | --key FILE --gcks-pubkey FILE)\n"
	      "           [--sender [N]] [--once] [--json] [--local ADDR] [--log-level [SUBSYS=]LEVEL[,...]]\n"
	      "           [--sa-backend xfrm|none] [--mcast-iface IFNAME] [--sag-encr LIST]\n"
	      "           [--retry SECONDS[:MAX]] [--liveness SECONDS] [--retransmit MS[:TRIES]]\n"
	      "           [--rereg-delay SECONDS] [--gcks-id ID] [--allow-selector PREFIX]...\n"
	      "           [--user USER] [--initial-contact] [--no-nat-t] [--nat-keepalive SECONDS]\n"
	      "           [--ike-lifetime SECONDS] [--log-target stderr|syslog|journal] [--ike-keylog FILE]\n"
	      "           [--ppk-file FILE --ppk-id PPK-ID [--ppk-required]] [--addke METHOD[,METHOD]...]\n"
	      "           [--control PATH] [--metrics [ADDR:]PORT] [--transport udp|tcp[:PORT]|auto[:PORT]]\n"
	      "       gmd status --control PATH [--json]\n"
	      "       gmd --help | --version\n"
	      "--config: settings from FILE (YAML, gmd.conf(5): every option as KEY: VALUE); options on\n"
	      "         the command line override it; SIGHUP reads it again. --check-config: check the\n"
	      "         settings and credentials, print `FILE: ok` and exit 0 (1 with the mistakes)\n"
	      "--gcks: a host name or address (IPv6 with a %SCOPE: fe80::1%eth0, [fe80::1%eth0]:848);\n"
	      "         several: tried in order, the next when one gives no answer or TEMPORARY_FAILURE;\n"
	      "         PORT defaults to 500 (the IKEv2 port, RFC 9838 2.1.1; 848 is the G-IKEv2/GDOI\n"
	      "         port); when the NAT_DETECTION hashes show a NAT, gmd moves to the GCKS's UDP\n"
	      "         4500 with the non-ESP marker after IKE_SA_INIT (RFC 7296 2.23); --no-nat-t: no\n"
	      "         NAT_DETECTION notifies, stay on PORT (a relay or port forward of that port only)\n"
	      "--transport: udp (default); tcp: IKE over TCP to the key servers' PORT (default 4500, RFC\n"
	      "         9329); auto: UDP, then TCP once 2 retransmissions of a request over UDP went unanswered\n"
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
	      "--addke: additional key exchanges to run in IKE_INTERMEDIATE after IKE_SA_INIT (RFC 9370),\n"
	      "         in this order, all required (x25519, x448, p256, p384, p521, modp2048, modp3072,\n"
	      "         modp4096; at most 7)\n"
	      "--ppk-file, --ppk-id: a post-quantum preshared key (RFC 8784; read as --psk-file) and its\n"
	      "         PPK_ID; without the GCKS using it, registration falls back to NO_PPK_AUTH unless\n"
	      "         --ppk-required\n"
	      "--ike-lifetime: an IKE SA kept for inband rekeys is rekeyed (CREATE_CHILD_SA) 10-20 %\n"
	      "         before this (default 14400, 0 = never; 60 to 2592000)\n"
	      "--rereg-delay: excluded by the GCKS, re-register after a random 1 s to SECONDS (default\n"
	      "         5; large groups want more, so that members do not all register at once)\n"
	      "--sa-backend: xfrm (default) installs the group SAs in the kernel; without XFRM access gmd\n"
	      "         refuses to start (exit 4) unless told `none` (received SAs are only reported)\n"
	      "--user: started as root, gmd runs as USER (default " GK_GMD_USER ") once its sockets are open,\n"
	      "         keeping only CAP_NET_ADMIN (xfrm) and CAP_NET_BIND_SERVICE (raised only to bind a\n"
	      "         GCKS-chosen rekey port below 1024); shared accounts such as nobody are refused (exit 5)\n"
	      "--control: a Unix socket (0660) where root and gmd's user ask `gmd status`\n"
	      "--metrics: Prometheus text on http://ADDR:PORT/metrics (PORT alone: 127.0.0.1)\n"
	      "--ike-keylog: appends IKE SA and Rekey SA keys to FILE (0600) for Wireshark's IKEv2\n"
	      "         decryption table: a debugging tool that writes secrets (command line only)\n"
	      "IDs: fqdn:host.example, email:user@example, ipv4:192.0.2.1, ipv6:2001:db8::1, keyid:text\n", f);
}

static int64_t clock_ms(void *ctx)
{
	return (int64_t)uv_now(((gmd *)ctx)->loop);
}

static void set_port(struct sockaddr *sa, unsigned port);

/* The key server the run talks to; after the move to NAT-T, its port 4500. */
static const struct sockaddr *run_peer(const gm_run *r, struct sockaddr_storage *buf)
{
	*buf = r->srv[r->gm ? gk_gm_server(r->gm) % r->nsrv : 0];
	if (r->d->nat)
		set_port((struct sockaddr *)buf, NAT_T_PORT);
	return (const struct sockaddr *)buf;
}

static void tcp_recv_cb(void *ctx, const uint8_t *data, size_t len, const struct sockaddr *peer);

/* The originator's connection closed (the key server's idle timeout, a reset): the next
 * message to that key server opens a new one (RFC 9329, Connection Establishment and
 * Teardown: only the originator opens connections). */
static void tcp_closed_cb(void *ctx, gk_tcp_client *c, const char *why)
{
	gmd *d = ctx;
	(void)why; /* logged by the transport */
	for (size_t i = 0; i < GMD_MAX_GCKS; i++)
		if (d->tcp[i] == c)
			d->tcp[i] = NULL;
}

/* One IKE message over TCP to `to` (a key server's address with the TCP port). */
static void tcp_send(gmd *d, const struct sockaddr *to, const uint8_t *data, size_t len)
{
	gk_tcp_client **free_slot = NULL;
	char at[64];
	for (size_t i = 0; i < GMD_MAX_GCKS; i++) {
		const struct sockaddr *p = d->tcp[i] ? gk_tcp_client_peer(d->tcp[i]) : NULL;
		if (p && p->sa_family == to->sa_family && !memcmp(p, to, gk_addr_len(to))) {
			gk_tcp_client_send(d->tcp[i], data, len);
			return;
		}
		if (!p && !free_slot)
			free_slot = &d->tcp[i];
	}
	if (!free_slot)
		return;
	gk_info("connecting to key server %s over TCP (RFC 9329)", gk_addr_text(to, at, sizeof(at)));
	if (gk_tcp_client_new(d->loop, to, GK_TCP_FRAME_MAX, tcp_recv_cb, tcp_closed_cb, d, free_slot) == GK_OK)
		gk_tcp_client_send(*free_slot, data, len);
}

/* --transport auto: is this a retransmission over UDP, the GMD_AUTO_UDP_TRIES-th without an
 * answer? (RFC 7296 2.1: a retransmission is the same message again.) */
static bool udp_unanswered(gm_run *r, const uint8_t *data, size_t len)
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL))
		return false;
	if (memcmp(md, r->last_md, sizeof(r->last_md))) {
		memcpy(r->last_md, md, sizeof(r->last_md));
		r->rtx = 0;
		return false;
	}
	return ++r->rtx >= GMD_AUTO_UDP_TRIES;
}

static void send_cb(void *ctx, const uint8_t *data, size_t len)
{
	gm_run *r = ctx;
	gmd *d = r->d;
	struct sockaddr_storage to;
	char at[64];
	if (d->conf.transport.mode == GMD_AUTO && !d->use_tcp && udp_unanswered(r, data, len)) {
		gk_notice("key server %s: no answer over UDP after %d retransmissions: using TCP from now on "
			  "(RFC 9329)", gk_addr_text(run_peer(r, &to), at, sizeof(at)), GMD_AUTO_UDP_TRIES);
		d->use_tcp = true;
	}
	if (d->use_tcp) {
		/* the key server's address with its TCP port; never the NAT-T move of UDP */
		to = r->srv[r->gm ? gk_gm_server(r->gm) % r->nsrv : 0];
		set_port((struct sockaddr *)&to, d->conf.transport.port);
		tcp_send(d, (const struct sockaddr *)&to, data, len);
		return;
	}
	gk_udp_send(d->nat ? d->nat : d->udp, run_peer(r, &to), data, len);
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
	gm_run *r = ctx;
	gmd *d = r->d;
	struct sockaddr_storage la, to;
	char err[256];
	const struct sockaddr *peer = run_peer(r, &to);
	if (d->nat || gk_addr_port(peer) == NAT_T_PORT || d->use_tcp)
		return; /* TCP traverses the NAT already (RFC 9329) */
	memcpy(&la, gk_udp_local(d->udp), sizeof(la));
	set_port((struct sockaddr *)&la, 0);
	if (gk_udp_open(d->loop, (struct sockaddr *)&la, recv_cb, d, &d->nat, err, sizeof(err))) {
		gk_warn("NAT-T: %s; staying on port %u", err, gk_addr_port(peer));
		return;
	}
	gk_udp_set_marker(d->nat, true);
}

/* RFC 3948 2.3: a NAT-keepalive is the single octet 0xFF, without the marker, on the socket
 * (and so the NAT mapping) IKE uses toward the GCKS's 4500. */
static void keepalive_cb(void *ctx)
{
	gm_run *r = ctx;
	gk_udp *u = r->d->nat ? r->d->nat : r->d->udp;
	struct sockaddr_storage buf;
	if (r->d->use_tcp)
		return; /* the TCP connection holds its NAT mapping: nothing sent on UDP */
	const struct sockaddr *to = run_peer(r, &buf);
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

/* NAT_DETECTION toward a key server (RFC 7296 2.23): our address toward it and its address,
 * or family 0 for none (no-nat-t, or no route yet). */
static void natd_for(const gmd *d, const struct sockaddr_storage *srv, struct sockaddr_storage *local,
		     struct sockaddr_storage *gcks)
{
	/* over TCP the connection's own addresses are not the UDP socket's: no hashes */
	if (d->conf.no_nat_t || d->use_tcp || !local_toward((const struct sockaddr *)srv, d->udp, local)) {
		memset(local, 0, sizeof(*local));
		memset(gcks, 0, sizeof(*gcks));
		return;
	}
	*gcks = *srv;
}

/* The member core moves a registration to another key server (failover, or back to the first). */
static void server_cb(void *ctx, size_t index, const char *why, struct sockaddr_storage *local,
		      struct sockaddr_storage *gcks)
{
	gm_run *r = ctx;
	char from[64], to[64];
	size_t cur = gk_gm_server(r->gm) % r->nsrv;
	if (index >= r->nsrv)
		return;
	gk_addr_text((const struct sockaddr *)&r->srv[cur], from, sizeof(from));
	gk_addr_text((const struct sockaddr *)&r->srv[index], to, sizeof(to));
	if (index)
		gk_warn("key server %s: %s: trying key server %s", from, why, to);
	else
		gk_info("key server %s: %s: the next attempt starts with key server %s", from, why, to);
	natd_for(r->d, &r->srv[index], local, gcks);
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

/* gmd's slot of the run's group i; SIZE_MAX when the configuration dropped that group since
 * the run began (what the run still reports of it is not for the group in the slot now). */
static size_t slot_of(const gm_run *r, size_t i)
{
	if (i >= r->n)
		return SIZE_MAX;
	size_t gi = r->map[i];
	return r->d->active[gi] && r->d->gen[gi] == r->gen[i] ? gi : SIZE_MAX;
}

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
		size_t gi = slot_of(r, i);
		r->was_refused[i] = false;
		if (gi == SIZE_MAX)
			continue;
		if (ev->notify)
			lost(d, gi, ev); /* a no-op for groups never registered */
		if (ev->retry_ms)
			gk_gm_groups_retrying(d->groups, gi, "registration_failed", why, ev->retry_ms, false);
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
		size_t gi = slot_of(r, i);
		if (gi == SIZE_MAX)
			continue;
		uint16_t n = r->refused[i];
		int64_t wait = gk_gm_retry_delay(&d->cfg, d->env.rnd, 0, n);
		if (wait)
			gk_gm_groups_retrying(d->groups, gi, "registration_failed",
					      n ? gk_iana_str(GK_REG_NOTIFY, n) : "the GCKS refused the registration",
					      wait, true);
	}
}

static void event_cb(void *ctx, const gk_gm_event *ev)
{
	gm_run *r = ctx;
	gmd *d = r->d;
	char gt[GK_IDENT_TEXT_MAX];
	size_t gi = slot_of(r, ev->group);
	const char *group = gi < GK_GM_MAX_GROUPS ? gk_ident_text(&d->cfg.groups[gi], gt) : "?";
	switch (ev->type) {
	case GK_GM_REGISTERED:
		if (gi == SIZE_MAX) {
			gk_logs(GK_SUB_REG, GK_LOG_INFO, "registered to a group since removed from the configuration: not installed");
			break;
		}
		gk_logs(GK_SUB_REG, GK_LOG_INFO, "registered to %s (%zu SAs)", group, ev->state->nsas);
		if (d->json && d->once)
			gk_gm_json_group(&d->j, &d->cfg.groups[gi], ev->state, d->cfg.sender, ev->transport_mode);
		if (d->json && !d->once) {
			gk_json j;
			gk_json_init(&j, stdout);
			gk_json_obj(&j);
			gk_json_kstr(&j, "event", "registered");
			gk_json_ktime(&j, "time", gk_clock_wall_ms(&d->env.clock));
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
			if (slot_of(r, i) != SIZE_MAX)
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
		r->gen[i] = d->gen[groups[i]];
	}
	/* every run starts with the first key server of the list as it is now */
	r->nsrv = d->conf.gcks.n;
	for (size_t i = 0; i < r->nsrv; i++)
		r->srv[i] = d->conf.gcks.v[i].addr;
	c.nservers = r->nsrv;
	natd_for(d, &r->srv[0], &c.local, &c.gcks);
	/* gmd's first IKE SA: SAs the GCKS holds for our identity are from before a restart. Only
	 * where this gmd is the one member agent of its identity (RFC 7296 2.4: the only IKE SA
	 * between the two identities), or it would close another gmd's SA. */
	c.initial_contact = first && d->conf.initial_contact;
	gk_gm_env env = d->env;
	env.event_ctx = r;
	env.send_ctx = r;
	env.server = server_cb;
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
		if (d->runs[i] && gk_gm_owns(d->runs[i]->gm, data, len)) {
			d->runs[i]->rtx = 0;
			gk_gm_input(d->runs[i]->gm, data, len);
		}
}

static void tcp_recv_cb(void *ctx, const uint8_t *data, size_t len, const struct sockaddr *peer)
{
	recv_cb(ctx, data, len, peer, NULL);
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
	const char *b = d->conf.sa_backend;
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

/* Every key server of one address family: gmd sends from one socket (that of the first, or
 * of --local). */
static gk_status check_families(const gmd_conf *c, const char *source, sa_family_t family, gk_diag *diag)
{
	size_t errors = diag->errors;
	for (size_t i = 0; i < c->gcks.n; i++)
		if (c->gcks.v[i].addr.ss_family != family)
			gk_diag_add(diag, GK_DIAG_ERROR, "%s: %sgcks: %s: not of the address family of %s",
				    source ? source : "gmd", source ? "" : "--", c->gcks.v[i].text,
				    c->local[0] ? "local" : "the first key server");
	return diag->errors > errors ? GK_E_INVAL : GK_OK;
}

/* Reads the file and merges the command line over it. false with every mistake in diag. */
static bool read_conf(const char *config, const gmd_conf *cli, gmd_conf *out, gk_diag *diag)
{
	gmd_conf file;
	gmd_conf_default(&file, GK_GMD_USER);
	if (config && gmd_conf_load(&file, config, GK_GMD_USER, diag))
		return false;
	gmd_conf_merge(out, &file, cli);
	return gmd_conf_check(out, config, diag) == GK_OK;
}

/* The group leaves the configuration: the IKE SA that registered it says so to the GCKS
 * (RFC 9838 2.3.2) when it can, and what is installed for it goes. */
static void drop_group(gmd *d, size_t gi)
{
	char gt[GK_IDENT_TEXT_MAX];
	const gm_run *h = d->holder[gi];
	gk_info("group %s: removed from the configuration: leaving it", gk_ident_text(&d->cfg.groups[gi], gt));
	for (size_t i = 0; h && !h->finished && i < h->n; i++)
		if (slot_of(h, i) == gi && gk_gm_leave(h->gm, i))
			gk_dbg("group %s: no leave sent (the IKE SA is busy)", gt);
	gk_gm_groups_drop(d->groups, gi);
	d->holder[gi] = NULL;
	d->active[gi] = false;
	d->gen[gi]++;
	memset(&d->cfg.groups[gi], 0, sizeof(d->cfg.groups[gi]));
	/* a run left with no group of the configuration (a re-registration of this one, say)
	 * would go on registering it: it ends (on the next tick) */
	for (size_t k = 0; k < MAX_RUNS; k++) {
		gm_run *r = d->runs[k];
		bool any = false;
		for (size_t i = 0; r && i < r->n && !any; i++)
			any = slot_of(r, i) != SIZE_MAX;
		if (r && !any) {
			r->finished = true;
			r->busy = false;
		}
	}
}

/* A new key server list: runs still looking for a key server (registering, or waiting to try
 * again) start over with it, at its first; runs that hold a registration keep their key server
 * until their next registration. */
static void restart_searching(gmd *d)
{
	gm_run *old[MAX_RUNS];
	size_t nold = 0;
	for (size_t k = 0; k < MAX_RUNS; k++) {
		gm_run *r = d->runs[k];
		bool holds = false;
		if (!r || r->finished || !r->busy)
			continue;
		for (size_t g = 0; g < GK_GM_MAX_GROUPS; g++)
			holds |= d->holder[g] == r;
		if (!holds)
			old[nold++] = r;
	}
	/* new runs take free slots: only those found above start over */
	for (size_t k = 0; k < nold; k++) {
		gm_run *r = old[k];
		size_t live[GK_GM_MAX_GROUPS], n = 0;
		for (size_t i = 0; i < r->n; i++)
			if (slot_of(r, i) != SIZE_MAX)
				live[n++] = slot_of(r, i);
		r->finished = true; /* freed on the next tick */
		r->busy = false;
		gm_run *nr = n ? run_new(d, live, n, r->first) : NULL;
		if (n && (!nr || gk_gm_start(nr->gm)))
			gk_err("cannot start a registration with the new key servers");
	}
}

static bool has_group(const gmd_conf *c, const gk_ident *g)
{
	for (size_t i = 0; i < c->groups.n; i++)
		if (gk_ident_eq(&c->groups.v[i], g))
			return true;
	return false;
}

/* SIGHUP: the configuration file again. Groups added are registered, groups removed are left,
 * a new key server list serves the next registration, the log level changes; other settings
 * need a restart (each changed one is named). A file with mistakes changes nothing. */
static void reload(gmd *d)
{
	gk_diag diag;
	gmd_conf next;
	const char *src = d->config ? d->config : "command line";
	gk_diag_init(&diag);
	if (!read_conf(d->config, &d->cli, &next, &diag) ||
	    check_families(&next, d->config, d->conf.local[0] ? gk_udp_local(d->udp)->sa_family : d->conf.gcks.v[0].addr.ss_family,
			   &diag)) {
		for (size_t i = 0; gk_diag_text(&diag, i); i++)
			gk_err("%s", gk_diag_text(&diag, i));
		gk_err("%s: not reloaded: the running configuration stays", src);
		gk_diag_free(&diag);
		return;
	}
	gk_diag_free(&diag);
	for (unsigned o = 0; o < GMD_NOPTS; o++)
		if (o != GMD_GCKS && o != GMD_GROUP && o != GMD_LOG_LEVEL && !gmd_conf_same(&d->conf, &next, o))
			gk_warn("%s: %s changed: takes effect when gmd restarts", src, gmd_opt_name(o));
	if (!gmd_conf_same(&d->conf, &next, GMD_LOG_LEVEL)) {
		char err[GK_ERR_MAX];
		if (gk_log_set_levels(next.log_level[0] ? next.log_level : "info", err, sizeof(err)))
			gk_err("%s: log-level: %s", src, err); /* checked when read: not expected */
		memcpy(d->conf.log_level, next.log_level, sizeof(d->conf.log_level));
	}
	bool servers_changed = !gmd_conf_same(&d->conf, &next, GMD_GCKS);
	if (servers_changed) {
		d->conf.gcks = next.gcks;
		gk_info("%s: %zu key server(s), first %s: from the next registration on", src, next.gcks.n,
			next.gcks.v[0].text);
	}
	for (size_t gi = 0; gi < GK_GM_MAX_GROUPS; gi++)
		if (d->active[gi] && !has_group(&next, &d->cfg.groups[gi]))
			drop_group(d, gi);
	if (servers_changed)
		restart_searching(d);
	size_t added[GK_GM_MAX_GROUPS], n = 0;
	for (size_t i = 0; i < next.groups.n; i++) {
		bool have = false;
		for (size_t gi = 0; gi < GK_GM_MAX_GROUPS && !have; gi++)
			have = d->active[gi] && gk_ident_eq(&d->cfg.groups[gi], &next.groups.v[i]);
		for (size_t gi = 0; gi < GK_GM_MAX_GROUPS && !have; gi++) {
			if (d->active[gi] || gk_gm_groups_set(d->groups, gi, &next.groups.v[i]))
				continue;
			char gt[GK_IDENT_TEXT_MAX];
			d->cfg.groups[gi] = next.groups.v[i];
			d->active[gi] = true;
			added[n++] = gi;
			have = true;
			gk_info("group %s: added to the configuration: registering", gk_ident_text(&next.groups.v[i], gt));
		}
	}
	d->conf.groups = next.groups;
	gm_run *r = n ? run_new(d, added, n, false) : NULL;
	if (n && (!r || gk_gm_start(r->gm)))
		gk_err("cannot start the registration of the groups added");
	gk_info("%s: reloaded", src);
}

static void on_sighup(uv_signal_t *s, int sig)
{
	(void)sig;
	reload(s->data);
}

static EVP_PKEY *load_pubkey_pem(const char *path)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *k = f ? PEM_read_PUBKEY(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	return k;
}

/* The key server each group was last registered with, for the control socket's answers. */
static void servers_cb(void *ctx, const char **out, size_t n)
{
	gmd *d = ctx;
	for (size_t i = 0; i < n && i < GK_GM_MAX_GROUPS; i++) {
		const gm_run *r = d->holder[i];
		size_t s = r && r->gm ? gk_gm_server(r->gm) : SIZE_MAX;
		out[i] = NULL;
		if (r && s < r->nsrv) {
			gk_addr_text((const struct sockaddr *)&r->srv[s], d->server_text[i], sizeof(d->server_text[i]));
			out[i] = d->server_text[i];
		}
	}
}

/* gmd status [--control PATH] [--json]: asks a running gmd (ikectl/swanctl habit: the daemon's
 * own name with a command word). */
static int status_command(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "control", required_argument, NULL, 'c' }, { "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' }, { 0 },
	};
	const char *path = NULL;
	bool json = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 'j': json = true; break;
		case 'h': puts("usage: gmd status --control PATH [--json]"); return 0;
		default: fputs("usage: gmd status --control PATH [--json]\n", stderr); return 1;
		}
	}
	if (!path || optind != argc) {
		fputs("usage: gmd status --control PATH [--json]\n", stderr);
		return 1;
	}
	char err[GK_ERR_MAX];
	if (gm_control_request(path, json ? "status json" : "status", stdout, err, sizeof(err))) {
		fprintf(stderr, "gmd status: %s\n", err);
		return 3;
	}
	return 0;
}

/* The command line into cli: options of the table (gmd_conf.h) and those of gmd alone. */
enum { OPT_CONFIG = 1000, OPT_CHECK, OPT_HELP, OPT_VERSION, OPT_KEYLOG, OPT_CONTROL, OPT_METRICS };

/* --ike-keylog is for the command line only: a configuration file left behind must not write
 * secrets to disk at the next start */
static int parse_args(int argc, char **argv, gmd_conf *cli, const char **config, bool *check, const char **keylog,
		      const char **control, const char **metrics)
{
	static const struct option own[] = {
		{ "config", required_argument, NULL, OPT_CONFIG }, { "check-config", no_argument, NULL, OPT_CHECK },
		{ "help", no_argument, NULL, OPT_HELP }, { "version", no_argument, NULL, OPT_VERSION },
		{ "ike-keylog", required_argument, NULL, OPT_KEYLOG }, { "control", required_argument, NULL, OPT_CONTROL },
		{ "metrics", required_argument, NULL, OPT_METRICS },
	};
	struct option opts[GMD_NOPTS + 8];
	char why[GK_ERR_MAX];
	int c;
	for (unsigned o = 0; o < GMD_NOPTS; o++)
		opts[o] = (struct option){ gmd_opt_name(o), gmd_opt_kind_of(o) == GMD_FLAG ? no_argument : required_argument,
					   NULL, (int)o };
	memcpy(&opts[GMD_NOPTS], own, sizeof(own));
	memset(&opts[GMD_NOPTS + 7], 0, sizeof(opts[0]));
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		const char *val = optarg;
		switch (c) {
		case OPT_CONFIG: *config = optarg; continue;
		case OPT_CHECK: *check = true; continue;
		case OPT_KEYLOG: *keylog = optarg; continue;
		case OPT_CONTROL: *control = optarg; continue;
		case OPT_METRICS: *metrics = optarg; continue;
		case 'h':
		case OPT_HELP: usage(stdout); return 0;
		case OPT_VERSION: puts("gmd (" PACKAGE_NAME ") " PACKAGE_VERSION); return 0;
		default:
			if (c < 0 || c >= GMD_NOPTS) {
				usage(stderr);
				return 1;
			}
		}
		/* --sender [N]: an optional count as the next word */
		if (c == GMD_SENDER && optind < argc && isdigit((unsigned char)argv[optind][0]))
			val = argv[optind++];
		if (gmd_conf_set(cli, (gmd_opt)c, val, NULL, why, sizeof(why))) {
			fprintf(stderr, "gmd: --%s%s%s: %s\n", gmd_opt_name(c), val ? " " : "", val ? val : "", why);
			return 1;
		}
		cli->given |= (uint64_t)1 << c;
	}
	if (optind != argc) {
		usage(stderr);
		return 1;
	}
	return -1;
}

/* The credentials the settings name, into d->cfg. */
static int load_credentials(gmd *d)
{
	const gmd_conf *c = &d->conf;
	if (c->ppk_file[0]) {
		char why[GK_ERR_MAX];
		if (gk_psk_file_read(c->ppk_file, &d->ppk, &d->ppk_len, why, sizeof(why))) {
			fprintf(stderr, "gmd: --ppk-file %s\n", why);
			return -1;
		}
		d->cfg.ppk = d->ppk;
		d->cfg.ppk_len = d->ppk_len;
	}
	if (c->psk_file[0]) {
		char why[GK_ERR_MAX];
		if (gk_psk_file_read(c->psk_file, &d->psk, &d->psk_len, why, sizeof(why))) {
			fprintf(stderr, "gmd: --psk-file %s\n", why);
			return -1;
		}
		d->cfg.psk = d->psk;
		d->cfg.psk_len = d->psk_len;
		return 0;
	}
	if (gk_privkey_load_pem(c->key, &d->cfg.key)) {
		fprintf(stderr, "gmd: --key %s: cannot read the private key\n", c->key);
		return -1;
	}
	if (c->cert[0] && gk_cert_load_pem(c->cert, &d->cfg.cert)) {
		fprintf(stderr, "gmd: --cert %s: cannot read the certificate\n", c->cert);
		return -1;
	}
	if (c->ca[0] && gk_trust_load_pem(c->ca, &d->cfg.ca)) {
		fprintf(stderr, "gmd: --ca %s: cannot read the CA certificates\n", c->ca);
		return -1;
	}
	if (c->gcks_pubkey[0] && !(d->cfg.gcks_pubkey = load_pubkey_pem(c->gcks_pubkey))) {
		fprintf(stderr, "gmd: --gcks-pubkey %s: cannot read the public key\n", c->gcks_pubkey);
		return -1;
	}
	return 0;
}

/* The settings into the member core's configuration. */
static void apply_conf(gmd *d)
{
	const gmd_conf *c = &d->conf;
	d->once = c->once;
	d->json = c->json;
	d->cfg.id = c->id;
	for (size_t i = 0; i < c->groups.n; i++) {
		d->cfg.groups[i] = c->groups.v[i];
		d->active[i] = true;
	}
	d->cfg.ngroups = c->groups.n;
	d->cfg.sender = c->sender.on;
	d->cfg.sender_ids = c->sender.ids;
	memcpy(d->cfg.sag_encr, c->sag_encr.v, sizeof(d->cfg.sag_encr));
	d->cfg.nsag_encr = c->sag_encr.n;
	d->cfg.retransmit_ms = c->retransmit.ms;
	d->cfg.retransmit_tries = c->retransmit.tries;
	d->cfg.gcks_id = c->gcks_id;
	d->cfg.ppk_id = (const uint8_t *)c->ppk_id;
	d->cfg.ppk_id_len = strlen(c->ppk_id);
	d->cfg.ppk_required = c->ppk_required;
	gk_ike_offer_require_addke(&d->cfg.offer, c->addke.v, c->addke.n); /* RFC 9370 */
	d->cfg.allow = c->allow.v;
	d->cfg.nallow = c->allow.n;
	if (!d->once) {
		/* a daemon keeps trying; --once reports the first outcome */
		d->cfg.retry_ms = c->retry.s * 1000;
		d->cfg.retry_max_ms = (c->retry.max_s > c->retry.s ? c->retry.max_s : c->retry.s) * 1000;
		d->cfg.liveness_ms = c->liveness_s * 1000;
		d->cfg.ike_lifetime_s = c->ike_lifetime_s;
		d->cfg.keepalive_ms = c->nat_keepalive_s * 1000;
	}
}

int main(int argc, char **argv)
{
	gmd d;
	/* a status caller that closes before its answer (or a TCP key server that went away) must
	 * cost that write, not the member: libuv writes with write(2), which raises SIGPIPE */
	signal(SIGPIPE, SIG_IGN);
	memset(&d, 0, sizeof(d));
	gk_gm_config_default(&d.cfg);
	gmd_conf_default(&d.cli, GK_GMD_USER);
	/* the settings name gmd's log subsystems (log-level) before the log is configured */
	gk_log_init("gmd", GK_LOG_INFO);
	gk_log_subsystems(GK_SUBS_GMD);
	char why[GK_ERR_MAX] = "";
	bool check = false;
	const char *keylog_path = NULL, *control_path = NULL, *metrics_spec = NULL;
	if (argc > 1 && !strcmp(argv[1], "status"))
		return status_command(argc - 1, argv + 1);
	int rc = parse_args(argc, argv, &d.cli, &d.config, &check, &keylog_path, &control_path, &metrics_spec);
	if (rc >= 0)
		return rc;
	rc = 1;
	gk_diag diag;
	gk_diag_init(&diag);
	bool ok = read_conf(d.config, &d.cli, &d.conf, &diag);
	if (!ok && !d.config && !check && !diag.count) {
		usage(stderr);
		return 1;
	}
	struct sockaddr_storage la;
	memset(&la, 0, sizeof(la));
	if (ok && d.conf.local[0] && gk_addr_parse(d.conf.local, 0, &la, why, sizeof(why)))
		gk_addr_parse(d.conf.local, 65535, &la, why, sizeof(why));
	if (ok && !d.conf.local[0])
		la.ss_family = d.conf.gcks.v[0].addr.ss_family;
	if (ok)
		ok = !check_families(&d.conf, d.config, la.ss_family, &diag);
	if (!ok) {
		gk_diag_print(&diag, stderr);
		gk_diag_free(&diag);
		return 1;
	}
	gk_diag_free(&diag);
	apply_conf(&d);
	if (gk_log_configure("gmd", GK_SUBS_GMD, d.conf.log_level[0] ? d.conf.log_level : NULL,
			     d.conf.log_target[0] ? d.conf.log_target : NULL, false, why, sizeof(why))) {
		fprintf(stderr, "gmd: %s\n", why);
		return 1;
	}
	/* before any key is read: keys must not land in core files */
	if (gk_priv_nondumpable()) {
		fprintf(stderr, "gmd: cannot make the process non-dumpable: %s\n", strerror(errno));
		return GK_EXIT_PRIVILEGE;
	}
	if (load_credentials(&d))
		goto out;
	if (keylog_path && !check && gk_keylog_start("gmd", keylog_path, &d.keylog))
		goto out;
	if (check) {
		printf("%s: ok\n", d.config ? d.config : "command line");
		rc = 0;
		goto out;
	}
	d.loop = uv_default_loop();
	char err[256];
	if (gk_udp_open(d.loop, (struct sockaddr *)&la, recv_cb, &d, &d.udp, err, sizeof(err))) {
		fprintf(stderr, "gmd: %s\n", err);
		goto out;
	}
	/* IKE on 4500 from the start carries the marker (RFC 7296 2.23) */
	if (gk_addr_port((struct sockaddr *)&d.conf.gcks.v[0].addr) == NAT_T_PORT)
		gk_udp_set_marker(d.udp, true);
	d.use_tcp = d.conf.transport.mode == GMD_TCP;
	d.env = (gk_gm_env){ .rnd = gk_rand_system(), .clock = { .now_ms = clock_ms, .ctx = &d }, .send = send_cb,
			     .event = event_cb, .nat_t = nat_t_cb, .keepalive = keepalive_cb, .keylog = d.keylog };
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
		/* a slot for every group the configuration may come to hold (SIGHUP) */
		gk_gm_groups_env genv = { .sink = d.sink, .events = d.json ? stdout : NULL,
					  .sender = d.cfg.sender,
					  .reregister = reregister_cb, .ctx = &d, .rereg_max_ms = d.conf.rereg_s * 1000,
					  .allow = d.conf.allow.v, .nallow = d.conf.allow.n, .keylog = d.keylog };
		if (gk_gm_uv_new(d.loop, d.conf.mcast_iface[0] ? d.conf.mcast_iface : NULL, GK_GM_MAX_GROUPS, &genv,
				 &d.groups_uv) ||
		    gk_gm_groups_new(&genv, d.cfg.groups, GK_GM_MAX_GROUPS, &d.groups)) {
			fprintf(stderr, "gmd: cannot start\n");
			goto out;
		}
		gk_gm_uv_start(d.groups_uv, d.groups);
	}
	gm_control_hooks ch = { .groups = d.groups, .servers = servers_cb, .ctx = &d };
	if (control_path && gm_control_open(d.loop, control_path, &ch, &d.control, err, sizeof(err))) {
		fprintf(stderr, "gmd: %s\n", err);
		goto out;
	}
	if (metrics_spec && gm_metrics_open(d.loop, metrics_spec, d.groups, (int64_t)time(NULL), &d.metrics, err,
					    sizeof(err))) {
		fprintf(stderr, "gmd: %s\n", err);
		goto out;
	}
	if (leave_root(&d, d.conf.user)) {
		rc = GK_EXIT_PRIVILEGE;
		goto out;
	}
	if (!d.once && d.config && access(d.config, R_OK))
		gk_warn("%s: %s: SIGHUP cannot read it again (as gmd's account: make the file 0640 with the "
			"account's group, in a directory the account may search)", d.config, strerror(errno));
	if (d.json && d.once) {
		char mt[GK_IDENT_TEXT_MAX], at[64];
		gk_json_init(&d.j, stdout);
		gk_json_obj(&d.j);
		gk_json_kstr(&d.j, "member", gk_ident_text(&d.cfg.id, mt));
		gk_json_kstr(&d.j, "gcks", gk_addr_text((struct sockaddr *)&d.conf.gcks.v[0].addr, at, sizeof(at)));
		gk_json_key(&d.j, "groups");
		gk_json_arr(&d.j);
		d.json_open = true;
	}
	uv_timer_init(d.loop, &d.timer);
	d.timer.data = &d;
	uv_timer_start(&d.timer, on_timer, 100, 100);
	uv_signal_init(d.loop, &d.sigterm);
	uv_signal_init(d.loop, &d.sigint);
	uv_signal_init(d.loop, &d.sighup);
	d.sigterm.data = d.sigint.data = d.sighup.data = &d;
	uv_signal_start(&d.sigterm, on_signal, SIGTERM);
	uv_signal_start(&d.sigint, on_signal, SIGINT);
	if (!d.once)
		uv_signal_start(&d.sighup, on_sighup, SIGHUP);
	d.handles = true;
	if (gk_gm_start(first->gm)) {
		fprintf(stderr, "gmd: cannot start registration\n");
		goto out;
	}
	gk_info("started: %zu group(s), %zu key server(s), first %s%s%s", d.cfg.ngroups, d.conf.gcks.n,
		d.conf.gcks.v[0].text, d.config ? ", settings from " : "", d.config ? d.config : "");
	uv_run(d.loop, UV_RUN_DEFAULT);
	finish_json(&d);
	rc = d.exit_code;
out:
	/* what gmd installed goes with it: SIGTERM cleans up */
	gm_control_close(d.control);
	gm_metrics_close(d.metrics);
	gk_gm_groups_free(d.groups);
	gk_gm_uv_free(d.groups_uv);
	gk_sasink_close(d.sink);
	for (size_t i = 0; i < MAX_RUNS; i++)
		if (d.runs[i])
			run_free(&d, i);
	if (d.loop) {
		gk_udp_close(d.udp);
		gk_udp_close(d.nat);
		for (size_t i = 0; i < GMD_MAX_GCKS; i++)
			gk_tcp_client_free(d.tcp[i]);
		if (d.handles) {
			uv_close((uv_handle_t *)&d.timer, NULL);
			uv_close((uv_handle_t *)&d.sigterm, NULL);
			uv_close((uv_handle_t *)&d.sigint, NULL);
			uv_close((uv_handle_t *)&d.sighup, NULL);
		}
		uv_run(d.loop, UV_RUN_NOWAIT);
		uv_loop_close(d.loop);
	}
	EVP_PKEY_free(d.cfg.key);
	EVP_PKEY_free(d.cfg.gcks_pubkey);
	X509_free(d.cfg.cert);
	X509_STORE_free(d.cfg.ca);
	gk_psk_free(d.psk, d.psk_len);
	gk_psk_free(d.ppk, d.ppk_len);
	gk_keylog_close(d.keylog);
	return rc;
}
