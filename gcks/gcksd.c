/* gcksd: the G-IKEv2 Group Controller/Key Server. */
#include <config.h>
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <malloc.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>
#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif
#include "addr.h"
#include "control.h"
#include "lockfile.h"
#include "metrics_http.h"
#include "privdrop.h"
#include "rekey_source.h"
#include "gcks.h"
#include "log.h"
#include "tcp_encap.h"
#include "udp.h"
#include "ke.h"

#define MAX_LISTEN 16
/* Datagrams read per system call (recvmmsg): a registration burst brings dozens per turn. */
#define RECV_BATCH 16
#define GK_ADMIN_DEFAULT_TEXT (GK_GCKS_ADMIN_GROUP[0] ? GK_GCKS_ADMIN_GROUP : "none")

/* Readiness and status for a Type=notify unit (sd_notify(3)); nothing outside systemd. */
#ifdef HAVE_LIBSYSTEMD
#define notify(...) sd_notifyf(0, __VA_ARGS__)
#else
#define notify(...) ((void)0)
#endif

typedef struct gcksd {
	uv_loop_t *loop;
	uv_timer_t tick;
	uv_prepare_t more;          /* before each poll: the core's work left (gk_gcks_busy) */
	uv_idle_t spin;             /* active while work is left, so the loop polls without waiting */
	uv_check_t flush;           /* the end of each turn: group commit (gk_gcks_flush) */
	uv_signal_t sigterm, sigint, sighup;
	gk_udp *udp[MAX_LISTEN];
	size_t nudp;
	gk_tcp_server *tcp;         /* --listen-tcp (RFC 9329), NULL when off */
	gk_store *store;
	gk_gcks *gcks;
	gk_control *control;
	gk_metrics_http *metrics;   /* --metrics, NULL when off */
	int mcast4, mcast6;         /* sockets that send GSA_REKEY to multicast groups */
	bool handles;
	unsigned sas_peak;          /* most IKE SAs open since memory was last given back */
	int lock_db, lock_control;  /* held for life: one gcksd per database and control socket */
	uv_poll_t *notices;         /* the shared store's notice socket (PQsocket), NULL if none */
	int notice_fd;
	uint64_t lost_seen;         /* gk_gcks_cluster.lost when the groups were last read */
	gk_rsrc_cache rsrc;         /* GSA_REKEY's source addresses, probed at most every 10 s */
} gcksd;

static void usage(FILE *f)
{
	fprintf(f, "usage: gcksd --db PATH [--listen ADDR:PORT]... [--control PATH]\n"
	      "             [--user USER] [--admin-group GROUP|none] [--foreground]\n"
	      "             [--half-open-max N] [--half-open-per-source N] [--cookie-threshold N]\n"
	      "             [--cookie-rate N] [--costly-ke-rate N] [--costly-ke-per-source N]\n"
	      "             [--require-kwa] [--max-sas-per-identity N] [--ike-rekey-interval SECONDS]\n"
	      "             [--ike-lifetime SECONDS] [--metrics [ADDR:]PORT] [--ike-keylog FILE] [--server-id ID]\n"
	      "             [--listen-tcp ADDR[:PORT]]... [--tcp-max-conns N] [--tcp-max-per-source N]\n"
	      "             [--tcp-idle-timeout SECONDS] [--tcp-max-frame OCTETS]\n"
	      "             [--addke METHOD[,METHOD]...] [--dh-reuse N [--dh-reuse-seconds SECONDS]]\n"
	      "             [--log-level [SUBSYS=]LEVEL[,...]] [--log-target stderr|syslog|journal]\n"
	      "       gcksd --help | --version\n"
	      "Listens on UDP 500, 4500 (non-ESP marker) and 848, IPv4 and IPv6, unless --listen is given.\n"
	      "--user: started as root, gcksd runs as USER (default " GK_GCKS_USER ") once its ports are\n"
	      "        bound; shared accounts (root, nobody, uids below 100) are refused\n"
	      "--admin-group: members may use the control socket besides root and USER (default %s)\n"
	      "--addke: require additional key exchanges in IKE_INTERMEDIATE (RFC 9370), in this order\n"
	      "        (x25519, x448, p256, p384, p521, modp2048, modp3072, modp4096; at most 7); other\n"
	      "        proposals get NO_PROPOSAL_CHOSEN. Default: what a member proposes is accepted\n"
	      "--require-kwa: IKE_SA_INIT without a Key Wrap Algorithm transform is refused\n"
	      "        (NO_PROPOSAL_CHOSEN, RFC 9838 4.5.4); for deployments without plain IKEv2 peers.\n"
	      "        Default: accepted, and GSA_AUTH on such an SA gets NO_PROPOSAL_CHOSEN\n"
	      "--ike-rekey-interval: an IKE SA is rekeyed by its member (CREATE_CHILD_SA) at most once in\n"
	      "        this many seconds (default 60); sooner rekeys get TEMPORARY_FAILURE\n"
	      "--ike-lifetime: an IKE SA kept for inband rekeys that its member has not rekeyed is\n"
	      "        rekeyed by gcksd 0-10 %% before this (default 14400, 0 = never; 60 to 2592000)\n"
	      "--listen-tcp: also IKE over TCP (RFC 9329, \"IKETCP\" prefix; PORT defaults to 4500); at most\n"
	      "        --tcp-max-conns connections (default 1000), --tcp-max-per-source per IPv4 address or\n"
	      "        IPv6 /64 (default 8); one that completes no IKE message in --tcp-idle-timeout seconds\n"
	      "        (default 120) or whose frame Length exceeds --tcp-max-frame (default 16384) is closed\n"
	      "--metrics: Prometheus metrics at http://ADDR:PORT/metrics (PORT alone: 127.0.0.1; default off)\n"
	      "--ike-keylog: appends every IKE SA's keys to FILE (0600) for Wireshark's IKEv2 decryption\n"
	      "        table: a debugging tool that writes secrets; never for production\n"
	      "--log-level: LEVEL error, warning, notice, info (default) or debug, for every subsystem\n"
	      "        or per SUBSYS daemon, net, ike, reg, rekey, store, ctl (all: every one)\n"
	      "--log-target: default the journal under systemd, stderr in the foreground, else syslog\n",
	      GK_ADMIN_DEFAULT_TEXT);
}

/* A limit option: a whole number from min to max (min 1 where 0 would refuse every peer). */
static bool parse_limit(const char *opt, const char *arg, unsigned long min, unsigned long max, unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(arg, &end, 10);
	if (errno || end == arg || *end || arg[0] == '-' || v < min || v > max) {
		fprintf(stderr, "gcksd: --%s: a number from %lu to %lu\n", opt, min, max);
		return false;
	}
	*out = (unsigned)v;
	return true;
}

static int64_t clock_ms(void *ctx)
{
	return (int64_t)uv_now(((gcksd *)ctx)->loop);
}

/* Sends from the socket the request came in on: the one bound to `local`, or to the wildcard
 * address of its family, on its port; from `local` itself, so that the answer leaves from the
 * address and port the request came to (RFC 7296 2.11). Without one (gcksd no longer listens
 * there), from the first socket of the peer's family. */
static void send_cb(void *ctx, const struct sockaddr *local, const struct sockaddr *peer,
		    const uint8_t *data, size_t len)
{
	gcksd *d = ctx;
	for (size_t i = 0; i < d->nudp; i++) {
		const struct sockaddr *l = gk_udp_local(d->udp[i]);
		if (l->sa_family == local->sa_family && gk_addr_port(l) == gk_addr_port(local) &&
		    (gk_addr_is_any(l) || !memcmp(l, local, gk_addr_len(l)))) {
			gk_udp_send_from(d->udp[i], local, peer, data, len);
			return;
		}
	}
	for (size_t i = 0; i < d->nudp; i++)
		if (gk_udp_local(d->udp[i])->sa_family == peer->sa_family) {
			gk_udp_send(d->udp[i], peer, data, len);
			return;
		}
}

/* An IKE message for a member that came over TCP: on its connection, if still open. The
 * responder cannot open one to the originator (RFC 9329, Connection Establishment and
 * Teardown): the message is dropped and the request's retransmission timer runs out as for a
 * member that does not answer. */
static void send_path_cb(void *ctx, uint64_t path, const uint8_t *data, size_t len)
{
	gcksd *d = ctx;
	if (!d->tcp || gk_tcp_server_send(d->tcp, path, data, len) == GK_E_NOT_FOUND)
		gk_logs(GK_SUB_NET, GK_LOG_DEBUG, "TCP connection %llu is closed: message dropped (RFC 9329: "
			"only the member connects)", (unsigned long long)path);
}

static void tcp_recv_cb(void *ctx, uint64_t conn, const uint8_t *data, size_t len, const struct sockaddr *peer,
			const struct sockaddr *local)
{
	gcksd *d = ctx;
	gk_gcks_input_path(d->gcks, data, len, peer, local, conn);
}

/* The listening socket of dst's family on port sport: GSA_REKEY leaves from it, so that its
 * source is the single address and port the Rekey SA's source selector names (RFC 9838 4.4.2).
 * NULL when gcksd does not listen there (or sport is 0, any port). */
static gk_udp *rekey_socket(const gcksd *d, const struct sockaddr *dst, uint16_t sport)
{
	for (size_t i = 0; sport && i < d->nudp; i++) {
		const struct sockaddr *l = gk_udp_local(d->udp[i]);
		if (l->sa_family == dst->sa_family && gk_addr_port(l) == sport)
			return d->udp[i];
	}
	return NULL;
}

/* TTL / hop limit, loopback (members on this host hear it too) and the outgoing interface
 * (index 0: the kernel's choice, also undoing another group's choice on a shared socket). */
static void mcast_opts(int fd, int family, uint8_t ttl, unsigned idx)
{
	int hops = ttl, one = 1;
	if (family == AF_INET6) {
		setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof(hops));
		setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &one, sizeof(one));
		setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &idx, sizeof(idx));
	} else {
		unsigned char t = ttl, loop = 1;
		struct ip_mreqn m = { .imr_ifindex = (int)idx };
		setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &t, sizeof(t));
		setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof(loop));
		setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &m, sizeof(m));
	}
}

/* GSA_REKEY to a group's multicast address, with its policy's TTL and interface, from the
 * listening socket on sport; from a socket of its own when gcksd does not listen there (then
 * the source port differs from what members were told: warned once per family). */
static void mcast_cb(void *ctx, const struct sockaddr *dst, uint16_t sport, uint8_t ttl, const char *iface,
		     const uint8_t *data, size_t len)
{
	static bool warned[2];
	gcksd *d = ctx;
	gk_udp *u = rekey_socket(d, dst, sport);
	int fd = u ? gk_udp_fd(u) : dst->sa_family == AF_INET6 ? d->mcast6 : d->mcast4;
	unsigned idx = iface && *iface ? if_nametoindex(iface) : 0;
	char at[64];
	if (fd < 0)
		return;
	if (!u && sport && !warned[dst->sa_family == AF_INET6]) {
		warned[dst->sa_family == AF_INET6] = true;
		gk_logs(GK_SUB_NET, GK_LOG_WARN, "GSA_REKEY to %s leaves from another port than %u, the one its Rekey SA's source selector "
			"names: gcksd does not listen on UDP %u for IPv%c (RFC 9838 4.4.2)", gk_addr_text(dst, at, sizeof(at)),
			sport, sport, dst->sa_family == AF_INET6 ? '6' : '4');
	}
	mcast_opts(fd, dst->sa_family, ttl, idx);
	if (sendto(fd, data, len, 0, dst, gk_addr_len(dst)) < 0)
		gk_logs(GK_SUB_NET, GK_LOG_WARN, "GSA_REKEY to %s: %s", gk_addr_text(dst, at, sizeof(at)), strerror(errno));
}

/* The address the kernel picks toward dst on iface: a connected probe socket's own address. */
static gk_status probe_source(void *ctx, const struct sockaddr *dst, uint16_t sport, const char *iface,
			      struct sockaddr_storage *src)
{
	int fd = socket(dst->sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	socklen_t sl = sizeof(*src);
	gk_status st = GK_E_IO;
	(void)ctx;
	(void)sport;
	if (fd < 0)
		return st;
	mcast_opts(fd, dst->sa_family, 1, *iface ? if_nametoindex(iface) : 0);
	if (!connect(fd, dst, gk_addr_len(dst)) && !getsockname(fd, (struct sockaddr *)src, &sl))
		st = GK_OK;
	close(fd);
	return st;
}

/* The address GSA_REKEY to dst leaves from: the listening socket's own address when it is
 * bound to one, else the kernel's choice toward dst on iface (probed, remembered a while). */
static gk_status rekey_source_cb(void *ctx, const struct sockaddr *dst, uint16_t sport, const char *iface,
				 struct sockaddr_storage *src)
{
	gcksd *d = ctx;
	gk_udp *u = rekey_socket(d, dst, sport);
	if (u && !gk_addr_is_any(gk_udp_local(u))) {
		memcpy(src, gk_udp_local(u), gk_addr_len(gk_udp_local(u)));
		return GK_OK;
	}
	return gk_rsrc_get(&d->rsrc, (int64_t)uv_now(d->loop), dst, sport, iface, probe_source, d, src);
}

/* What the listening sockets could not send, for --metrics. */
static uint64_t udp_dropped(void *ctx)
{
	const gcksd *d = ctx;
	uint64_t n = 0;
	for (size_t i = 0; i < d->nudp; i++)
		n += gk_udp_get_stats(d->udp[i]).dropped;
	return n;
}

static void recv_cb(void *ctx, const uint8_t *data, size_t len, const struct sockaddr *peer,
		    const struct sockaddr *local)
{
	gk_gcks_input(((gcksd *)ctx)->gcks, data, len, peer, local);
}

/* ---- notices from the other servers on a shared store (LISTEN/NOTIFY) ---- */

static void on_poll_closed(uv_handle_t *h)
{
	free(h);
}

static void notices_stop(gcksd *d)
{
	if (d->notices)
		uv_close((uv_handle_t *)d->notices, on_poll_closed);
	d->notices = NULL;
	d->notice_fd = -1;
}

static void on_notice(uv_poll_t *p, int status, int events)
{
	gcksd *d = p->data;
	(void)events;
	if (status < 0 || gk_gcks_store_notices(d->gcks) == GK_E_IO)
		notices_stop(d); /* the tick watches the socket of the next connection */
}

/* Watches the store's notice socket; a reconnected store has another one. */
static void notices_watch(gcksd *d)
{
	int fd = gk_store_notice_fd(d->store);
	if (fd == d->notice_fd)
		return;
	notices_stop(d);
	if (fd < 0)
		return;
	uv_poll_t *p = malloc(sizeof(*p));
	if (!p || uv_poll_init(d->loop, p, fd)) {
		free(p);
		return;
	}
	p->data = d;
	uv_poll_start(p, UV_READABLE, on_notice);
	d->notices = p;
	d->notice_fd = fd;
}

static void on_spin(uv_idle_t *h)
{
	(void)h; /* on_more does the work: this only keeps the next poll from blocking */
}

/* One batch of the core's pending work per loop turn, before the poll for the turn's datagrams:
 * an inband rekey of a large group does not hold up registrations arriving meanwhile. Work left
 * keeps the idle handle on, so that the poll does not wait (for the tick) before the next. */
static void on_more(uv_prepare_t *h)
{
	gcksd *d = h->data;
	gk_gcks_continue(d->gcks);
	if (gk_gcks_busy(d->gcks))
		uv_idle_start(&d->spin, on_spin);
	else
		uv_idle_stop(&d->spin);
	/* after the batch, which leaves now: the poll may block (a backlog flag that no empty read
	 * cleared yet), and nothing may wait corked through it */
	for (size_t i = 0; i < d->nudp; i++)
		if (gk_udp_backlogged(d->udp[i]))
			gk_udp_cork(d->udp[i]); /* busy: until on_flush, the poll's answers leave together */
}

/* After the turn's I/O: one commit for the registrations it handled, then their answers, with
 * one sendmmsg per socket (per 64 datagrams). On a socket whose last read found more waiting
 * (gk_udp_backlogged), on_more corked the whole turn: the answers not held for the commit
 * (IKE_SA_INIT's) wait for the end of the turn too and leave in the same call. On a socket
 * that keeps up they leave at once: held back, a member's next request comes after the turn,
 * so fewer GSA_AUTH arrive per turn and group commits shrink (callgrind, 8 registrations in
 * flight: with every turn corked, 8 registrations a commit fell to 4.4, +2.7k instructions a
 * registration; corked only when backlogged, they stay at 8). strace, 5,000 registrations, 64
 * in flight: send calls 2.98 a registration before, 2.08 with only the commit's answers
 * batched, 0.11 with every turn corked, 0.25 as here. Timers run outside the
 * cork (before on_more), and what it holds leaves before the next turn's timers: datagrams
 * leave in the order they were sent. */
static void on_flush(uv_check_t *c)
{
	gcksd *d = c->data;
	for (size_t i = 0; i < d->nudp; i++)
		gk_udp_cork(d->udp[i]);
	gk_gcks_flush(d->gcks);
	for (size_t i = 0; i < d->nudp; i++)
		gk_udp_uncork(d->udp[i]);
}

static void on_tick(uv_timer_t *t)
{
	gcksd *d = t->data;
	gk_gcks_tick(d->gcks);
	gk_gcks_cluster c;
	gk_gcks_cluster_info(d->gcks, &c);
	if (c.store_ok && c.lost != d->lost_seen) {
		/* back after losing the shared store: the notices sent meanwhile are gone, so read
		 * the groups again (a policy load, another server's rekeys, which this server then
		 * tells the inband members whose IKE SAs it holds) */
		d->lost_seen = c.lost;
		gk_status st = gk_gcks_reload(d->gcks);
		gk_logs(GK_SUB_STORE, st ? GK_LOG_WARN : GK_LOG_INFO, "groups read again after the database came back: %s",
			gk_status_str(st));
	}
	notices_watch(d);
	/* notices libpq read while it waited for other answers wait in its queue, not the socket */
	if (d->notices && gk_gcks_store_notices(d->gcks) == GK_E_IO)
		notices_stop(d);
#ifdef M_TRIM_THRESHOLD
	/* After a registration burst the idle IKE SAs close (ike-idle-timeout) but their memory
	 * stays with the process, scattered through the heap; once most of them are gone, hand
	 * the free pages back (about 3.8 KB per SA: 100,000 SAs are 380 MB). */
	gk_gcks_stats st;
	gk_gcks_stats_get(d->gcks, &st);
	unsigned open = st.half_open + st.established;
	if (open > d->sas_peak) {
		d->sas_peak = open;
	} else if (d->sas_peak - open >= 4096 && open < d->sas_peak / 2) {
		malloc_trim(0);
		d->sas_peak = open;
	}
#endif
}

static void on_signal(uv_signal_t *s, int sig)
{
	gcksd *d = s->data;
	if (sig == SIGHUP) {
		notify("RELOADING=1");
		gk_status st = gk_gcks_reload(d->gcks);
		gk_info("SIGHUP: policies reloaded: %s", gk_status_str(st));
		notify("READY=1\nSTATUS=policies reloaded: %s", gk_status_str(st));
		return;
	}
	gk_notice("signal %d: stopping", sig);
	notify("STOPPING=1\nSTATUS=stopping (signal %d)", sig);
	uv_stop(d->loop);
}

/* Who gcksd runs as and who may use its control socket (the options --user, --admin-group). */
typedef struct gcksd_access {
	bool root;                  /* started as root: drop to `user` */
	gk_priv_user user;
	bool has_admin;
	gid_t admin_gid;
} gcksd_access;

/* Resolves --user and --admin-group. Not started as root, gcksd stays who it is, but never
 * as a shared account; an explicit --user it cannot switch to is an error. */
static int access_resolve(const char *user, bool user_given, const char *admin, gcksd_access *a)
{
	char err[512];
	memset(a, 0, sizeof(a[0]));
	a->root = geteuid() == 0;
	if (a->root) {
		if (gk_priv_user_lookup(user, &a->user, err, sizeof(err))) {
			gk_err("--user: %s", err);
			return -1;
		}
	} else {
		struct passwd *pw = getpwuid(geteuid());
		const char *name = pw ? pw->pw_name : "?";
		const char *why = gk_priv_shared(geteuid(), getegid(), name);
		if (why) {
			gk_err("running as %s (uid %u), a shared account (%s): start gcksd as root (it drops to "
			       "--user) or as a dedicated account", name, (unsigned)geteuid(), why);
			return -1;
		}
		if (user_given && strcmp(user, name)) {
			gk_err("--user %s: only root can switch users; gcksd runs as %s", user, name);
			return -1;
		}
		a->user.uid = geteuid();
		a->user.gid = getegid();
		snprintf(a->user.name, sizeof(a->user.name), "%s", name);
	}
	if (admin && *admin && strcmp(admin, "none")) {
		struct group *gr = getgrnam(admin);
		if (!gr) {
			gk_err("--admin-group %s: no such group: create it with `addgroup --system %s` and add "
			       "the administrators to it, or pass --admin-group none", admin, admin);
			return -1;
		}
		a->has_admin = true;
		a->admin_gid = gr->gr_gid;
	}
	return 0;
}

/* The database and its SQLite companions, each handed over through an O_NOFOLLOW descriptor. */
static int chown_db(const gcksd_access *a, const char *db)
{
	static const char *const suffixes[] = { "", "-wal", "-shm", "-journal" };
	char err[600], p[4][4096];
	const char *paths[4];
	for (size_t i = 0; i < 4; i++) {
		if ((size_t)snprintf(p[i], sizeof(p[i]), "%s%s", db, suffixes[i]) >= sizeof(p[i])) {
			gk_err("%s: path too long", db);
			return -1;
		}
		paths[i] = p[i];
	}
	if (gk_priv_chown(paths, 4, false, a->user.uid, a->user.gid, err, sizeof(err))) {
		gk_err("%s", err);
		return -1;
	}
	return 0;
}

/* Before anything runs as root on these paths: only root may write to their directories, and no
 * link sits where root's SQLite would open the database's files. The database is handed over
 * now, before SQLite opens it: SQLite running as root gives the -wal and -shm files it creates
 * the database file's owner through its own descriptors, and opening and closing the files
 * again after SQLite would drop its POSIX locks (they belong to the process, any close of the
 * file releases them) and let another connection delete the live WAL. */
static int prepare_paths(const gcksd_access *a, const char *db, const char *control)
{
	char err[600];
	if (!a->root)
		return 0;
	bool file = !gk_store_locator_shared(db); /* a PostgreSQL store is no file of ours */
	if ((file && gk_priv_dir_safe(db, err, sizeof(err))) ||
	    (control && gk_priv_dir_safe(control, err, sizeof(err)))) {
		gk_err("%s", err);
		return -1;
	}
	return file ? chown_db(a, db) : 0;
}

/* Started unprivileged (systemd's User= with AmbientCapabilities=CAP_NET_BIND_SERVICE): the
 * ports are bound, so keep no capability; the admin group, which gcksd's user must be in
 * (SupplementaryGroups=), gets the control socket. */
static int drop_capabilities(const gcksd_access *a, const char *control)
{
	char err[600];
	if (control && a->has_admin &&
	    gk_priv_chown(&control, 1, true, a->user.uid, a->admin_gid, err, sizeof(err))) {
		gk_err("control socket: %s (is %s in the admin group?)", err, a->user.name);
		return -1;
	}
	if (gk_priv_drop_caps(err, sizeof(err))) {
		gk_err("%s", err);
		return -1;
	}
	return 0;
}

/* One gcksd per database and per control socket: a second one would share the database's
 * keys and, worse, unlink the first one's live control socket. The lock files sit next to them.
 * The exit status: GK_EXIT_IN_USE when another gcksd holds one, 1 for any other failure. */
static int lock_paths(gcksd *d, const char *db, const char *control)
{
	char path[4096], err[4200];
	/* several gcksd share a PostgreSQL store: the database keeps them apart */
	const char *what[2] = { gk_store_locator_shared(db) ? NULL : db, control };
	int *fd[2] = { &d->lock_db, &d->lock_control };
	for (size_t i = 0; i < 2; i++) {
		if (!what[i])
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s.lock", what[i]) >= sizeof(path)) {
			gk_err("%s: path too long", what[i]);
			return 1;
		}
		gk_status st = gk_lockfile_take(path, fd[i], err, sizeof(err));
		if (st == GK_E_STATE) {
			gk_err("%s: one gcksd per database and control socket", err);
			return GK_EXIT_IN_USE;
		}
		if (st) {
			gk_err("%s", err);
			return 1;
		}
	}
	return 0;
}

/* Root has bound the ports and opened the database: hand the socket over and become `user` for
 * good, with no capabilities left. */
static int drop_privileges(const gcksd_access *a, const char *control)
{
	char err[600];
	if (!a->root)
		return drop_capabilities(a, control);
	if (control && gk_priv_chown(&control, 1, true, a->user.uid, a->has_admin ? a->admin_gid : a->user.gid,
				     err, sizeof(err))) {
		gk_err("control socket: %s", err);
		return -1;
	}
	if (gk_priv_drop(&a->user, 0, 0, err, sizeof(err))) {
		gk_err("%s", err);
		return -1;
	}
	gk_info("running as %s (uid %u, gid %u)", a->user.name, (unsigned)a->user.uid, (unsigned)a->user.gid);
	return 0;
}

static int listen_all(gcksd *d, const char **addrs, size_t n)
{
	static const char *defaults[] = { "0.0.0.0:848", "[::]:848", "0.0.0.0:500", "[::]:500",
					  "0.0.0.0:4500", "[::]:4500" };
	if (n == 0) {
		/* RFC 9838 2.1.1: the IKEv2 ports, 4500 for members behind a NAT (RFC 7296 2.23) */
		addrs = defaults;
		n = sizeof(defaults) / sizeof(defaults[0]);
	}
	for (size_t i = 0; i < n && d->nudp < MAX_LISTEN; i++) {
		struct sockaddr_storage a;
		char why[GK_ERR_MAX] = "";
		char err[256];
		if (gk_addr_parse(addrs[i], 848, &a, why, sizeof(why))) {
			gk_err("--listen %s: %s", addrs[i], why);
			return -1;
		}
		if (gk_udp_open_batch(d->loop, (struct sockaddr *)&a, RECV_BATCH, recv_cb, d, &d->udp[d->nudp], err,
				      sizeof(err))) {
			gk_err("%s", err);
			return -1;
		}
		/* Registration bursts (every member coming back after an outage) queue requests here:
		 * the default buffer (about a hundred datagrams) overflowed with 128 members
		 * registering at once in `make bench`, and each drop costs a member a retransmission
		 * timeout. */
		gk_udp_set_rcvbuf(d->udp[d->nudp], 4 << 20);
		gk_logs(GK_SUB_NET, GK_LOG_INFO, "listening on %s", addrs[i]);
		d->nudp++;
	}
	return 0;
}

static int listen_tcp(gcksd *d, const char **addrs, size_t n, const gk_tcp_limits *lim)
{
	char err[256];
	if (!n)
		return 0;
	if (gk_tcp_server_new(d->loop, lim, tcp_recv_cb, d, &d->tcp))
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct sockaddr_storage a;
		char why[GK_ERR_MAX] = "";
		/* RFC 9329 4 (and the IANA registry): TCP 4500 unless configured otherwise */
		if (gk_addr_parse(addrs[i], 4500, &a, why, sizeof(why))) {
			gk_err("--listen-tcp %s: %s", addrs[i], why);
			return -1;
		}
		if (gk_tcp_server_listen(d->tcp, (struct sockaddr *)&a, err, sizeof(err))) {
			gk_err("%s", err);
			return -1;
		}
		gk_logs(GK_SUB_NET, GK_LOG_INFO, "listening on TCP %s", addrs[i]);
	}
	gk_info("limits of IKE over TCP: %u connections, %u per source; closed after %u s without a complete "
		"IKE message or at a frame above %zu octets", lim->max_conns, lim->max_per_source, lim->idle_ms / 1000,
		lim->max_frame);
	return 0;
}

/* A server's name in the shared store's servers table and in its notices ("ID GROUP"). */
static bool server_id_ok(const char *id)
{
	size_t n = strlen(id);
	if (n == 0 || n >= GK_SERVER_ID_MAX || !strcmp(id, "gcksctl")) /* gcksctl's notices */
		return false;
	for (size_t i = 0; i < n; i++)
		if (id[i] <= ' ' || id[i] > '~')
			return false;
	return true;
}

/* The default server id: the host name and the port of the first --listen (500 without one). */
static void server_id_default(char *out, const char *listen)
{
	char host[64] = "localhost";
	const char *port = "500", *colon = listen ? strrchr(listen, ':') : NULL;
	if (gethostname(host, sizeof(host) - 1) || !host[0])
		strcpy(host, "localhost");
	host[sizeof(host) - 1] = 0;
	if (colon && colon[1])
		port = colon + 1;
	snprintf(out, GK_SERVER_ID_MAX, "%s:%.8s", host, port);
	if (!server_id_ok(out))
		snprintf(out, GK_SERVER_ID_MAX, "localhost:%.8s", port);
}

/* Claims the server id on a shared store with a nonce of this run (gk_store_server_beat):
 * 0, GK_EXIT_SERVER_ID when another live gcksd holds it (its heartbeat is renewed while we
 * wait, or stays fresh for a whole lease), 1 on a store error. A server restarted after a crash
 * finds its old heartbeat and waits for it to go stale (GK_CLUSTER_LEASE_S at most). */
static int claim_server_id(gk_store *store, gk_gcks_config *cfg)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t r[(GK_SERVER_INSTANCE_MAX - 1) / 2];
	if (gk_rand_bytes(gk_rand_system(), r, sizeof(r)))
		return 1;
	for (size_t i = 0; i < sizeof(r); i++) {
		cfg->server_instance[2 * i] = hex[r[i] >> 4];
		cfg->server_instance[2 * i + 1] = hex[r[i] & 15];
	}
	cfg->server_instance[2 * sizeof(r)] = '\0';
	int64_t last = -1;
	for (int waited = 0;; waited += 250) {
		int64_t age = 0;
		gk_status st = gk_store_server_beat(store, cfg->server_id, cfg->server_instance, GK_CLUSTER_LEASE_S * 1000,
						    &age);
		if (st == GK_OK)
			return 0;
		if (st != GK_E_STATE) {
			gk_err("server id %s: the database: %s", cfg->server_id, gk_store_errmsg(store));
			return 1;
		}
		if ((last >= 0 && age < last) || waited > (GK_CLUSTER_LEASE_S + 1) * 1000) {
			gk_err("server id %s is in use by another live gcksd on this database (its heartbeat %lld ms ago): "
			       "give each server its own --server-id", cfg->server_id, (long long)age);
			return GK_EXIT_SERVER_ID;
		}
		if (last < 0)
			gk_notice("server id %s: a gcksd under this id beat %lld ms ago; waiting for its heartbeat to stop "
				  "(%d s at most) in case it was this server's run before a crash", cfg->server_id,
				  (long long)age, GK_CLUSTER_LEASE_S);
		last = age;
		nanosleep(&(struct timespec){ .tv_nsec = 250000000 }, NULL);
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' }, { "listen", required_argument, NULL, 'l' },
		{ "control", required_argument, NULL, 'c' }, { "metrics", required_argument, NULL, 'M' }, { "log-level", required_argument, NULL, 'L' },
		{ "user", required_argument, NULL, 'u' }, { "admin-group", required_argument, NULL, 'A' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ "half-open-max", required_argument, NULL, 1 }, { "half-open-per-source", required_argument, NULL, 2 },
		{ "cookie-threshold", required_argument, NULL, 3 }, { "cookie-rate", required_argument, NULL, 4 },
		{ "costly-ke-rate", required_argument, NULL, 5 }, { "costly-ke-per-source", required_argument, NULL, 6 },
		{ "require-kwa", no_argument, NULL, 7 }, { "max-sas-per-identity", required_argument, NULL, 8 },
		{ "ike-rekey-interval", required_argument, NULL, 9 },
		{ "ike-lifetime", required_argument, NULL, 10 },
		{ "version", no_argument, NULL, 'V' },
		{ "log-target", required_argument, NULL, 11 },
		{ "ike-keylog", required_argument, NULL, 12 },
		{ "server-id", required_argument, NULL, 13 },
		{ "listen-tcp", required_argument, NULL, 14 }, { "tcp-max-conns", required_argument, NULL, 15 },
		{ "tcp-max-per-source", required_argument, NULL, 16 }, { "tcp-idle-timeout", required_argument, NULL, 17 },
		{ "tcp-max-frame", required_argument, NULL, 18 },
		{ "addke", required_argument, NULL, 19 },
		{ "dh-reuse", required_argument, NULL, 20 }, { "dh-reuse-seconds", required_argument, NULL, 21 },
		{ 0 },
	};
	/* A peer that closes before its answer (control socket, metrics scrape, IKE over TCP) or a
	 * log reader that went away must cost that write, not the key server: libuv writes with
	 * write(2), which raises SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	gk_gcks_config cfg;
	gk_gcks_config_default(&cfg);
	bool dh_reuse_s_set = false;
	const char *db = NULL, *control = NULL, *metrics = NULL, *listen[MAX_LISTEN];
	const char *user = GK_GCKS_USER, *admin = GK_GCKS_ADMIN_GROUP;
	bool user_given = false;
	gcksd_access acc;
	size_t nlisten = 0, nlisten_tcp = 0;
	const char *listen_tcp_at[MAX_LISTEN];
	gk_tcp_limits tlim = { .max_conns = GK_TCP_DEFAULT_MAX_CONNS, .max_per_source = GK_TCP_DEFAULT_PER_SOURCE,
			       .idle_ms = GK_TCP_DEFAULT_IDLE_S * 1000, .max_frame = GK_TCP_DEFAULT_MAX_FRAME,
			       .max_queued = GK_TCP_DEFAULT_MAX_QUEUED };
	unsigned tval;
	int c, rc = 1;
	const char *log_levels = NULL, *log_target = NULL; /* gk_log_configure */
	const char *keylog_path = NULL;
	gk_keylog *keylog = NULL;
	char lerr[GK_ERR_MAX];
	bool foreground = false;
	gcksd d;
	memset(&d, 0, sizeof(d));
	d.mcast4 = d.mcast6 = -1;
	d.lock_db = d.lock_control = -1;
	d.notice_fd = -1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': db = optarg; break;
		case 'l':
			if (nlisten == MAX_LISTEN) {
				fprintf(stderr, "gcksd: at most %d --listen\n", MAX_LISTEN);
				return 1;
			}
			listen[nlisten++] = optarg;
			break;
		case 'c': control = optarg; break;
		case 'M': metrics = optarg; break;
		case 'u': user = optarg; user_given = true; break;
		case 'A': admin = optarg; break;
		case 'f': foreground = true; break;
		case 'L': log_levels = optarg; break;
		case 11: log_target = optarg; break;
		case 12: keylog_path = optarg; break;
		case 1:
			if (!parse_limit("half-open-max", optarg, 1, 1000000, &cfg.half_open_max))
				return 1;
			break;
		case 2:
			if (!parse_limit("half-open-per-source", optarg, 1, 1000000, &cfg.half_open_per_source))
				return 1;
			break;
		case 3:
			if (!parse_limit("cookie-threshold", optarg, 0, 1000000, &cfg.cookie_threshold))
				return 1;
			break;
		case 4:
			if (!parse_limit("cookie-rate", optarg, 0, 1000000, &cfg.cookie_rate))
				return 1;
			break;
		case 5:
			if (!parse_limit("costly-ke-rate", optarg, 1, 1000000, &cfg.costly_ke_rate))
				return 1;
			break;
		case 6:
			if (!parse_limit("costly-ke-per-source", optarg, 1, 1000000, &cfg.costly_ke_per_source))
				return 1;
			break;
		case 7: cfg.offer.kwa_required = true; break;
		case 8:
			if (!parse_limit("max-sas-per-identity", optarg, 1, 1000000, &cfg.max_sas_per_identity))
				return 1;
			break;
		case 9:
			if (!parse_limit("ike-rekey-interval", optarg, 1, 86400, &cfg.ike_rekey_min_interval_s))
				return 1;
			break;
		case 10:
			if (!parse_limit("ike-lifetime", optarg, 0, 2592000, &cfg.ike_lifetime_s))
				return 1;
			if (cfg.ike_lifetime_s && cfg.ike_lifetime_s < 60) {
				fprintf(stderr, "gcksd: --ike-lifetime: 0 (never) or 60 to 2592000\n");
				return 1;
			}
			break;
		case 19: {
			uint16_t m[GK_ADDKE_MAX];
			size_t n;
			char why[256];
			if (gk_ke_parse_list(optarg, m, GK_ADDKE_MAX, &n, why, sizeof(why))) {
				fprintf(stderr, "gcksd: --addke: %s\n", why);
				return 1;
			}
			gk_ike_offer_require_addke(&cfg.offer, m, n);
			break;
		}
		case 20:
			if (!parse_limit("dh-reuse", optarg, 0, GK_GCKS_DH_REUSE_MAX, &cfg.dh_reuse))
				return 1;
			break;
		case 21:
			if (!parse_limit("dh-reuse-seconds", optarg, 1, GK_GCKS_DH_REUSE_S_MAX, &cfg.dh_reuse_s))
				return 1;
			dh_reuse_s_set = true;
			break;
		case 13:
			if (!server_id_ok(optarg)) {
				fprintf(stderr, "gcksd: --server-id: 1 to %d printable characters, no white space, not \"gcksctl\"\n",
					GK_SERVER_ID_MAX - 1);
				return 1;
			}
			strcpy(cfg.server_id, optarg);
			break;
		case 14:
			if (nlisten_tcp == MAX_LISTEN) {
				fprintf(stderr, "gcksd: at most %d --listen-tcp\n", MAX_LISTEN);
				return 1;
			}
			listen_tcp_at[nlisten_tcp++] = optarg;
			break;
		case 15:
			if (!parse_limit("tcp-max-conns", optarg, 1, 1000000, &tlim.max_conns))
				return 1;
			break;
		case 16:
			if (!parse_limit("tcp-max-per-source", optarg, 1, 1000000, &tlim.max_per_source))
				return 1;
			break;
		case 17:
			if (!parse_limit("tcp-idle-timeout", optarg, 1, 86400, &tval))
				return 1;
			tlim.idle_ms = tval * 1000;
			break;
		case 18:
			/* the least a frame with an IKE header needs, the most 16 bits say */
			if (!parse_limit("tcp-max-frame", optarg, 34, GK_TCP_FRAME_MAX, &tval))
				return 1;
			tlim.max_frame = tval;
			break;
		case 'h': usage(stdout); return 0;
		case 'V': puts("gcksd (" PACKAGE_NAME ") " PACKAGE_VERSION); return 0;
		default: usage(stderr); return 1;
		}
	}
	if (!db || optind != argc) {
		usage(stderr);
		return 1;
	}
	if (dh_reuse_s_set && !cfg.dh_reuse) {
		fprintf(stderr, "gcksd: --dh-reuse-seconds needs --dh-reuse N with N from 1 to %u\n", GK_GCKS_DH_REUSE_MAX);
		return 1;
	}
	if (!cfg.server_id[0])
		server_id_default(cfg.server_id, nlisten ? listen[0] : NULL);
	/* a source's share of the half-open table cannot be more than the table */
	if (cfg.half_open_max < cfg.half_open_per_source) {
		fprintf(stderr, "gcksd: --half-open-max (%u) must be at least --half-open-per-source (%u)\n",
			cfg.half_open_max, cfg.half_open_per_source);
		return 1;
	}
	/* until it detaches, gcksd tells the one who started it on stderr */
	if (gk_log_configure("gcksd", GK_SUBS_GCKSD, log_levels, log_target, false, lerr, sizeof(lerr))) {
		fprintf(stderr, "gcksd: %s\n", lerr);
		return 1;
	}
	gk_info("limits before authentication: %u half-open IKE SAs, %u per source; COOKIE above %u half-open or "
		"%u IKE_SA_INIT/s; %u costly key exchanges/s, %u per source; fragments %u octets per SA, %u per "
		"source, %u in all",
		cfg.half_open_max, cfg.half_open_per_source, cfg.cookie_threshold, cfg.cookie_rate, cfg.costly_ke_rate,
		cfg.costly_ke_per_source, cfg.frag_sa_max, cfg.frag_source_max, cfg.frag_total_max);
	gk_info("IKE SAs: %u in all, %u per member identity and credential", cfg.max_sas, cfg.max_sas_per_identity);
	gk_info("IKE SA rekeys (CREATE_CHILD_SA): at most one per %u s per SA; IKE SAs kept for inband rekeys "
		"rekeyed by gcksd when their member has not, 0-10 %% before %u s (0 = never)",
		cfg.ike_rekey_min_interval_s, cfg.ike_lifetime_s);
	if (cfg.dh_reuse) /* RFC 7296 2.12: the forward-secrecy cost, stated where it is chosen */
		gk_warn("--dh-reuse %u: one key-exchange private value answers up to %u IKE_SA_INIT requests "
			"within %u s; every IKE SA made under one value loses forward secrecy with it if it "
			"leaks before it is wiped", cfg.dh_reuse, cfg.dh_reuse, cfg.dh_reuse_s);
	gk_info("key wrap algorithm: %s", cfg.offer.kwa_required ?
		"required in IKE_SA_INIT (--require-kwa)" : "plain IKEv2 SAs accepted, GSA_AUTH on them refused");
	/* the signing key and every group key are in this process: no core files, no ptrace */
	if (gk_priv_nondumpable()) {
		gk_err("cannot make the process non-dumpable: %s", strerror(errno));
		return GK_EXIT_PRIVILEGE;
	}
	if (access_resolve(user, user_given, admin, &acc) || prepare_paths(&acc, db, control))
		return GK_EXIT_PRIVILEGE;
	if ((rc = lock_paths(&d, db, control)))
		goto out;
	rc = 1;
#ifdef M_TRIM_THRESHOLD
	/* Every registration makes SQLite open and free a temporary b-tree with its page cache.
	 * With glibc's default trim threshold each free gave the top of the heap back to the
	 * kernel and the next registration faulted it in again: brk and page faults were about
	 * 15% of gcksd's CPU time in `make bench`. Keep up to 32 MiB of free heap instead. */
	mallopt(M_TRIM_THRESHOLD, 32 << 20);
#endif
	char serr[GK_STORE_ERR_MAX];
	if (gk_store_open(db, false, &d.store, serr, sizeof(serr))) {
		gk_err("%s", serr);
		return 1;
	}
	if (gk_store_shared(d.store) && (rc = claim_server_id(d.store, &cfg)))
		goto out;
	rc = 1;
	d.loop = uv_default_loop();
	d.mcast4 = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	d.mcast6 = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	gk_gcks_env env = { .rnd = gk_rand_system(), .clock = { .now_ms = clock_ms, .ctx = &d }, .send = send_cb,
			    .send_ctx = &d, .store = d.store, .send_multicast = mcast_cb,
			    .rekey_source = rekey_source_cb, .send_path = send_path_cb };
	char err[512];
	if (keylog_path && gk_keylog_start("gcksd", keylog_path, &keylog))
		goto out;
	env.keylog = keylog;
	if (gk_gcks_new(&cfg, &env, &d.gcks, err, sizeof(err))) {
		gk_err("%s", err);
		goto out;
	}
	if (listen_all(&d, listen, nlisten) || listen_tcp(&d, listen_tcp_at, nlisten_tcp, &tlim))
		goto out;
	gk_gcks_after_restore(d.gcks); /* before the first input: see gcksctl restore */
	gk_control_hooks hooks = { .gcks = d.gcks, .store = d.store, .started = (int64_t)time(NULL),
				   .daemon_uid = acc.user.uid, .has_admin = acc.has_admin, .admin_gid = acc.admin_gid };
	if (control && gk_control_open(d.loop, control, &hooks, &d.control, err, sizeof(err))) {
		gk_err("%s", err);
		goto out;
	}
	if (metrics && gk_metrics_http_open(d.loop, metrics, d.gcks, d.store, hooks.started, udp_dropped, &d,
						 &d.metrics, err, sizeof(err))) {
		gk_err("%s", err);
		goto out;
	}
	if (drop_privileges(&acc, control)) {
		rc = GK_EXIT_PRIVILEGE;
		goto out;
	}
	if (!foreground && daemon(1, 1)) {
		gk_err("cannot detach: %s", strerror(errno));
		goto out;
	}
	if (!foreground && !log_target)
		gk_log_setup(NULL, true, NULL, 0); /* detached: syslog, or the journal under systemd */
	/* the child holds the locks now: its pid goes in the files */
	gk_lockfile_repid(d.lock_db);
	if (d.lock_control >= 0)
		gk_lockfile_repid(d.lock_control);
	uv_timer_init(d.loop, &d.tick);
	d.tick.data = &d;
	uv_timer_start(&d.tick, on_tick, 250, 250);
	uv_prepare_init(d.loop, &d.more);
	uv_idle_init(d.loop, &d.spin);
	d.more.data = d.spin.data = &d;
	uv_prepare_start(&d.more, on_more);
	uv_check_init(d.loop, &d.flush);
	d.flush.data = &d;
	uv_check_start(&d.flush, on_flush);
	uv_signal_init(d.loop, &d.sigterm);
	uv_signal_init(d.loop, &d.sigint);
	uv_signal_init(d.loop, &d.sighup);
	d.sigterm.data = d.sigint.data = d.sighup.data = &d;
	uv_signal_start(&d.sigterm, on_signal, SIGTERM);
	uv_signal_start(&d.sigint, on_signal, SIGINT);
	uv_signal_start(&d.sighup, on_signal, SIGHUP);
	d.handles = true;
	notices_watch(&d);
	if (gk_store_shared(d.store))
		gk_notice("server id %s on a shared database: rekey leases of %d s, renewed every %d s", cfg.server_id,
			  GK_CLUSTER_LEASE_S, GK_CLUSTER_RENEW_MS / 1000);
	gk_notice("gcksd ready");
	/* sockets bound, database open, privileges dropped (sd_notify(3)) */
	notify("READY=1\nSTATUS=ready: %zu UDP sockets, control socket %s", d.nudp, control ? control : "none");
	uv_run(d.loop, UV_RUN_DEFAULT);
	rc = 0;
out:
	for (size_t i = 0; i < d.nudp; i++)
		gk_udp_close(d.udp[i]);
	gk_tcp_server_free(d.tcp);
	gk_control_close(d.control);
	gk_metrics_http_close(d.metrics);
	notices_stop(&d);
	if (d.handles) {
		uv_close((uv_handle_t *)&d.tick, NULL);
		uv_close((uv_handle_t *)&d.more, NULL);
		uv_close((uv_handle_t *)&d.spin, NULL);
		uv_close((uv_handle_t *)&d.flush, NULL);
		uv_close((uv_handle_t *)&d.sigterm, NULL);
		uv_close((uv_handle_t *)&d.sigint, NULL);
		uv_close((uv_handle_t *)&d.sighup, NULL);
	}
	if (d.loop) {
		uv_run(d.loop, UV_RUN_NOWAIT);
		uv_loop_close(d.loop);
	}
	gk_gcks_free(d.gcks);
	gk_keylog_close(keylog);
	gk_store_close(d.store);
	if (d.mcast4 > 0)
		close(d.mcast4);
	if (d.mcast6 > 0)
		close(d.mcast6);
	if (d.lock_control >= 0)
		close(d.lock_control);
	if (d.lock_db >= 0)
		close(d.lock_db);
	return rc;
}
