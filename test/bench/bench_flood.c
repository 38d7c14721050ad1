/* Flood benchmark (make bench): a half-open flood against a running gcksd while listed members
 * register, all from loopback addresses on one libuv loop. The flood comes from --sources
 * addresses 127.3.x.y, --rate IKE_SA_INIT requests per second with fresh SPIs, each COOKIE
 * challenge answered from the same address (as a non-spoofing attacker can), never continuing
 * to GSA_AUTH. Three phases of --seconds each:
 *   B  the flood alone: gcksd's CPU time per flood datagram it received (requests and their
 *      cookie'd repeats), the half-open SAs it holds and the memory they take;
 *   A  members register, --concurrency at a time, each from its own address 127.1.x.y: the rate
 *      without a flood;
 *   C  the flood and the members together: the registration rate during the flood, as a
 *      fraction of A's (target >= 0.5).
 * Then gcksd's peak resident memory (VmHWM), and the CPU cost of the key exchange of one
 * IKE_SA_INIT per group (what the worst request an unauthenticated peer can ask for costs).
 * Members registering are printf(--id-format, i) for i in 0 .. --members-1, round robin; they
 * must be listed in the group's policy (test/bench/flood.sh generates it).
 * Exit status: 0 when the target was met, 1 when not (or nothing registered), 2 on usage errors. */
#include <arpa/inet.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <uv.h>
#include "psk_file.h"
#include "addr.h"
#include "dh.h"
#include "iana.h"
#include "ike_sa.h"
#include "ikekeys.h"
#include "log.h"
#include "member/gm.h"
#include "message.h"
#include "proposal.h"
#include "udp.h"

#define MAX_SLOTS 256
#define MAX_SOURCES 4000

typedef struct flood flood;

typedef struct slot {
	flood *f;
	gk_udp *udp;
	gk_gm *gm;
	gk_gm_config cfg;
	bool registered, finished;
} slot;

typedef struct source {
	flood *f;
	gk_udp *udp;
} source;

struct flood {
	uv_loop_t *loop;
	uv_timer_t tick, pace, phase;
	struct sockaddr_storage gcks;
	slot slots[MAX_SLOTS];
	int nslots;
	source *srcs;
	unsigned nsrc, rr, rate;
	double credit;                /* requests owed by the pacing timer */
	uint8_t psk[GK_PSK_MAX];
	size_t psk_len;
	const char *id_format, *control;
	gk_ident group_id;
	uint32_t members, next_member;
	bool registering, flooding;
	uint64_t ok, failed;          /* registrations finished in this phase */
	uint64_t sent, cookies, answers, others; /* flood datagrams */
	uint64_t next_spi;
	gk_wbuf ke_pub;
	gk_arena arena;
	gk_pl_sa sa;
	int pid;
};

static double now_s(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double per(double a, double b) { return b > 0 ? a / b : 0; }

/* ---- gcksd figures ---- */

static double proc_cpu(int pid)
{
	char path[64], buf[2048];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	FILE *fp = fopen(path, "r");
	if (!fp)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	unsigned long ut = 0, st = 0;
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* A line "Name: N kB" of /proc/PID/status. */
static long proc_kb(int pid, const char *name)
{
	char path[64], line[256];
	long kb = -1;
	size_t n = strlen(name);
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	FILE *fp = fopen(path, "r");
	if (!fp)
		return -1;
	while (fgets(line, sizeof(line), fp))
		if (!strncmp(line, name, n) && line[n] == ':') {
			kb = strtol(line + n + 1, NULL, 10);
			break;
		}
	fclose(fp);
	return kb;
}

/* A number of gcksd's status answer on its control socket; -1 when unknown. */
static long control_field(const char *path, const char *field)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	if (!path || strlen(path) >= sizeof(sun.sun_path))
		return -1;
	strcpy(sun.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	long v = -1;
	char buf[8192], key[64];
	size_t got = 0;
	snprintf(key, sizeof(key), "\"%s\":", field);
	if (!connect(fd, (struct sockaddr *)&sun, sizeof(sun)) && write(fd, "status\n", 7) == 7) {
		ssize_t r;
		while (got < sizeof(buf) - 1 && (r = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0) {
			got += (size_t)r;
			if (memchr(buf, '\n', got))
				break;
		}
		buf[got] = 0;
		const char *p = strstr(buf, key);
		if (p)
			v = strtol(p + strlen(key), NULL, 10);
	}
	close(fd);
	return v;
}

/* ---- the members ---- */

static int64_t clock_ms(void *ctx) { return (int64_t)uv_now(((slot *)ctx)->f->loop); }

static void member_send(void *ctx, const uint8_t *data, size_t len)
{
	slot *s = ctx;
	gk_udp_send(s->udp, (const struct sockaddr *)&s->f->gcks, data, len);
}

static void member_event(void *ctx, const gk_gm_event *ev)
{
	slot *s = ctx;
	if (ev->type == GK_GM_REGISTERED)
		s->registered = true;
	else if (ev->type == GK_GM_REFUSED || ev->type == GK_GM_FAILED || ev->type == GK_GM_DONE)
		s->finished = true;
}

static void start_member(flood *f, slot *s)
{
	char text[GK_IDENT_TEXT_MAX];
	char why[GK_ERR_MAX] = "";
	const char *u = strstr(f->id_format, "%u");
	uint32_t i = f->next_member++ % f->members;
	snprintf(text, sizeof(text), "%.*s%u%s", (int)(u - f->id_format), f->id_format, i, u + 2);
	gk_gm_config_default(&s->cfg);
	s->cfg.retransmit_ms = 1000;
	s->cfg.psk = f->psk;
	s->cfg.psk_len = f->psk_len;
	s->cfg.groups[0] = f->group_id;
	s->cfg.ngroups = 1;
	s->registered = s->finished = false;
	gk_gm_env env = { .rnd = gk_rand_system(), .clock = { .now_ms = clock_ms, .ctx = s }, .send = member_send,
			  .send_ctx = s, .event = member_event, .event_ctx = s };
	if (gk_ident_parse(text, &s->cfg.id, why, sizeof(why)) || gk_gm_new(&s->cfg, &env, &s->gm) || gk_gm_start(s->gm)) {
		fprintf(stderr, "bench_flood: cannot start member %s\n", text);
		exit(1);
	}
}

/* Outside the member core's stack: counts a finished member and starts the next. */
static void settle_member(flood *f, slot *s)
{
	if (!s->gm || !s->finished)
		return;
	gk_gm_free(s->gm);
	s->gm = NULL;
	if (s->registered)
		f->ok++;
	else
		f->failed++;
	if (f->registering)
		start_member(f, s);
}

static void member_recv(void *ctx, const uint8_t *data, size_t len, const struct sockaddr *peer,
			const struct sockaddr *local)
{
	slot *s = ctx;
	(void)peer;
	(void)local;
	if (!s->gm)
		return;
	gk_gm_input(s->gm, data, len);
	settle_member(s->f, s);
}

static void on_tick(uv_timer_t *t)
{
	flood *f = t->data;
	for (int i = 0; i < f->nslots; i++)
		if (f->slots[i].gm) {
			gk_gm_tick(f->slots[i].gm);
			settle_member(f, &f->slots[i]);
		}
}

/* ---- the flood ---- */

/* An IKE_SA_INIT request whose nonce follows from its SPI, so answering a COOKIE needs no
 * memory. */
static void build_request(const flood *f, uint64_t spi, gk_chunk cookie, gk_wbuf *out)
{
	uint8_t ni[32];
	for (int i = 0; i < 4; i++)
		gk_put_u64(ni + 8 * i, spi ^ (uint64_t)i);
	gk_pl_notify cn = { .type = GK_N_COOKIE, .data = cookie };
	gk_pl_ke ke = { .group = GK_KE_CURVE25519, .data = GK_CHUNK(f->ke_pub.data, f->ke_pub.len) };
	gk_pl_bytes nonce = { GK_CHUNK(ni, sizeof(ni)) };
	gk_out_pl pl[4];
	size_t n = 0;
	if (cookie.len)
		pl[n++] = (gk_out_pl){ GK_PL_NOTIFY, false, &cn };
	pl[n++] = (gk_out_pl){ GK_PL_SA, false, &f->sa };
	pl[n++] = (gk_out_pl){ GK_PL_KE, false, &ke };
	pl[n++] = (gk_out_pl){ GK_PL_NONCE, false, &nonce };
	gk_msg_out o = { .hdr = { .spi_i = spi, .exchange = GK_EXCH_IKE_SA_INIT, .flags = GK_FLAG_I },
			 .outer = pl, .nouter = n };
	out->len = 0;
	if (gk_msg_build(&o, NULL, NULL, out) != GK_OK) {
		fprintf(stderr, "bench_flood: cannot build a request\n");
		exit(1);
	}
}

static void flood_send(flood *f, source *src, uint64_t spi, gk_chunk cookie)
{
	gk_wbuf w;
	gk_wbuf_init(&w, GK_MAX_MESSAGE);
	build_request(f, spi, cookie, &w);
	gk_udp_send(src->udp, (const struct sockaddr *)&f->gcks, w.data, w.len);
	f->sent++;
	gk_wbuf_free(&w);
}

static void flood_recv(void *ctx, const uint8_t *data, size_t len, const struct sockaddr *peer,
		       const struct sockaddr *local)
{
	source *src = ctx;
	flood *f = src->f;
	gk_msg m;
	(void)peer;
	(void)local;
	if (gk_msg_parse(&m, GK_CHUNK(data, len)) == GK_OK) {
		const gk_payload *c = gk_msg_find_notify(&m, GK_N_COOKIE);
		if (c) {
			f->cookies++;
			if (f->flooding)
				flood_send(f, src, m.hdr.spi_i, c->body->notify.data);
		} else if (gk_msg_find(&m, GK_PL_KE)) {
			f->answers++;
		} else {
			f->others++;
		}
	}
	gk_msg_free(&m);
}

static void on_pace(uv_timer_t *t)
{
	flood *f = t->data;
	if (!f->flooding)
		return;
	f->credit += f->rate / 100.0;
	for (; f->credit >= 1; f->credit -= 1)
		flood_send(f, &f->srcs[f->rr++ % f->nsrc], f->next_spi++, GK_CHUNK_EMPTY);
}

/* ---- phases ---- */

static void on_phase_end(uv_timer_t *t) { uv_stop(((flood *)t->data)->loop); }

typedef struct phase_result {
	uint64_t ok, failed, flood_sent, cookies, answers;
	double wall, gcksd_cpu;
	long half_open, rss_kb;
} phase_result;

static void run_phase(flood *f, bool members, bool flooding, double seconds, phase_result *r)
{
	uint64_t sent0 = f->sent, cookies0 = f->cookies, answers0 = f->answers;
	f->ok = f->failed = 0;
	f->registering = members;
	f->flooding = flooding;
	uv_update_time(f->loop);
	double cpu0 = proc_cpu(f->pid), t0 = now_s(CLOCK_MONOTONIC);
	for (int i = 0; members && i < f->nslots; i++)
		start_member(f, &f->slots[i]);
	uv_timer_start(&f->phase, on_phase_end, (uint64_t)(seconds * 1000), 0);
	uv_run(f->loop, UV_RUN_DEFAULT);
	r->wall = now_s(CLOCK_MONOTONIC) - t0;
	r->gcksd_cpu = proc_cpu(f->pid) - cpu0;
	r->ok = f->ok;
	r->failed = f->failed;
	r->flood_sent = f->sent - sent0;
	r->cookies = f->cookies - cookies0;
	r->answers = f->answers - answers0;
	r->half_open = control_field(f->control, "ike_sas_half_open");
	r->rss_kb = proc_kb(f->pid, "VmRSS");
	/* members still in flight are abandoned: only what finished within the phase counts */
	f->registering = f->flooding = false;
	for (int i = 0; i < f->nslots; i++) {
		gk_gm_free(f->slots[i].gm);
		f->slots[i].gm = NULL;
	}
}

/* ---- the cost of one IKE_SA_INIT's key exchange, per group ---- */

static double ke_cost_us(uint16_t group)
{
	const gk_ike_suite suite = { .encr = GK_ENCR_AES_GCM_16, .encr_key_bits = 256, .prf = GK_PRF_HMAC_SHA2_256,
				     .ke = group, .kwa = GK_KWA_KW_5649_256 };
	uint8_t n[64] = { 1 };
	gk_dh *peer = NULL;
	gk_wbuf pub;
	gk_wbuf_init(&pub, 1024);
	if (gk_dh_new(group, &peer) || gk_dh_public(peer, &pub))
		return -1;
	uint64_t iters = 0;
	double c0 = now_s(CLOCK_THREAD_CPUTIME_ID), c1;
	do {
		/* what gcksd does for one request: a key pair, its public value, the shared secret,
		 * the IKE SA keys */
		gk_dh *dh = NULL;
		gk_wbuf mine, shared;
		gk_ike_keys k;
		gk_wbuf_init(&mine, 1024);
		gk_wbuf_init(&shared, 1024);
		if (gk_dh_new(group, &dh) || gk_dh_public(dh, &mine) || gk_dh_derive(dh, gk_wbuf_chunk(&pub), &shared) ||
		    gk_ike_keys_derive(&k, &suite, GK_CHUNK(n, 32), GK_CHUNK(n + 32, 32), gk_wbuf_chunk(&shared), 1, 2))
			return -1;
		gk_ike_keys_wipe(&k);
		gk_dh_free(dh);
		gk_wbuf_free(&mine);
		gk_wbuf_free(&shared);
		iters++;
		c1 = now_s(CLOCK_THREAD_CPUTIME_ID);
	} while (c1 - c0 < 0.3 || iters < 5);
	gk_dh_free(peer);
	gk_wbuf_free(&pub);
	return (c1 - c0) / (double)iters * 1e6;
}

static void print_ke_costs(void)
{
	static const uint16_t groups[] = { GK_KE_CURVE25519, GK_KE_ECP_256, GK_KE_ECP_384, GK_KE_ECP_521,
					   GK_KE_CURVE448, GK_KE_MODP_2048, GK_KE_MODP_3072, GK_KE_MODP_4096 };
	gk_ike_offer def;
	gk_ike_offer_default(&def);
	printf("key exchange of one IKE_SA_INIT (key pair, shared secret, IKE keys), CPU on this core:\n");
	for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++) {
		double us = ke_cost_us(groups[i]);
		/* gcksd asks for a COOKIE, and budgets --costly-ke-rate a second, for all but the first two */
		printf("  %-12s %9.0f us  %s%s\n", gk_iana_str(GK_REG_KE, groups[i]), us,
		       gk_ike_offer_has_ke(&def, groups[i]) ? "default offer" : "not offered by default",
		       i < 2 ? "" : "; COOKIE first, --costly-ke-rate budget");
	}
}

/* ---- main ---- */

/* The key file as gcksctl and gmd read it (common/crypto/psk_file.h); out holds GK_PSK_MAX. */
static int read_psk(const char *path, uint8_t *out, size_t *len)
{
	char err[512];
	uint8_t *p = NULL;
	size_t n = 0;
	if (gk_psk_file_read(path, &p, &n, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	memcpy(out, p, n);
	*len = n;
	gk_psk_free(p, n);
	return 0;
}

static void usage(FILE *fp)
{
	fputs("usage: bench_flood --gcks 127.0.0.1:PORT --pid GCKSD_PID --control PATH --psk-file FILE\n"
	      "                   --members N [--group ID] [--id-format FMT] [--sources S] [--rate R]\n"
	      "                   [--seconds T] [--concurrency C]\n"
	      "Floods from S addresses 127.3.x.y (default 64) at R IKE_SA_INIT/s (default 2400) answering\n"
	      "cookies; members printf(FMT, i) register C at a time (default 32) from 127.1.x.y; three\n"
	      "phases of T seconds (default 10): flood alone, members alone, both.\n", fp);
}

static int open_sources(flood *f)
{
	f->srcs = calloc(f->nsrc, sizeof(*f->srcs));
	if (!f->srcs)
		return -1;
	for (unsigned i = 0; i < f->nsrc; i++) {
		struct sockaddr_in a = { .sin_family = AF_INET };
		char err[256];
		a.sin_addr.s_addr = htonl((127u << 24) | (3u << 16) | ((i / 250) << 8) | (i % 250 + 1));
		f->srcs[i].f = f;
		if (gk_udp_open(f->loop, (struct sockaddr *)&a, flood_recv, &f->srcs[i], &f->srcs[i].udp, err, sizeof(err))) {
			fprintf(stderr, "bench_flood: %s\n", err);
			return -1;
		}
	}
	for (int i = 0; i < f->nslots; i++) {
		struct sockaddr_in a = { .sin_family = AF_INET };
		char err[256];
		a.sin_addr.s_addr = htonl((127u << 24) | (1u << 16) | ((unsigned)(i / 250) << 8) | (unsigned)(i % 250 + 1));
		f->slots[i].f = f;
		if (gk_udp_open(f->loop, (struct sockaddr *)&a, member_recv, &f->slots[i], &f->slots[i].udp, err, sizeof(err))) {
			fprintf(stderr, "bench_flood: %s\n", err);
			return -1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "gcks", required_argument, NULL, 'g' }, { "pid", required_argument, NULL, 'p' },
		{ "control", required_argument, NULL, 'C' }, { "psk-file", required_argument, NULL, 'k' },
		{ "members", required_argument, NULL, 'n' }, { "group", required_argument, NULL, 'G' },
		{ "id-format", required_argument, NULL, 'i' }, { "sources", required_argument, NULL, 's' },
		{ "rate", required_argument, NULL, 'r' }, { "seconds", required_argument, NULL, 't' },
		{ "concurrency", required_argument, NULL, 'c' }, { "help", no_argument, NULL, 'h' }, { 0 },
	};
	static flood F;
	flood *f = &F;
	const char *gcks = NULL, *psk_file = NULL, *group = "keyid:bench-1";
	char why[GK_ERR_MAX] = "";
	double seconds = 10;
	int c;
	f->id_format = "fqdn:gm-%u.bench.example";
	f->nsrc = 64;
	f->rate = 2400;
	f->nslots = 32;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'g': gcks = optarg; break;
		case 'p': f->pid = atoi(optarg); break;
		case 'C': f->control = optarg; break;
		case 'k': psk_file = optarg; break;
		case 'n': f->members = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'G': group = optarg; break;
		case 'i': f->id_format = optarg; break;
		case 's': f->nsrc = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'r': f->rate = (unsigned)strtoul(optarg, NULL, 10); break;
		case 't': seconds = atof(optarg); break;
		case 'c': f->nslots = atoi(optarg); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!gcks || !psk_file || !f->control || f->pid <= 0 || !f->members || !strstr(f->id_format, "%u") ||
	    f->nsrc < 1 || f->nsrc > MAX_SOURCES || f->rate < 1 || f->rate > 100000 || seconds < 1 || seconds > 120 ||
	    f->nslots < 1 || f->nslots > MAX_SLOTS || optind != argc) {
		usage(stderr);
		return 2;
	}
	gk_log_init("bench_flood", GK_LOG_ERROR);
	if (gk_addr_parse(gcks, 848, &f->gcks, why, sizeof(why)) || gk_ident_parse(group, &f->group_id, why, sizeof(why))) {
		fprintf(stderr, "bench_flood: %s\n", why);
		return 2;
	}
	const struct sockaddr_in *g4 = (const struct sockaddr_in *)&f->gcks;
	if (f->gcks.ss_family != AF_INET || (ntohl(g4->sin_addr.s_addr) >> 24) != 127) {
		fprintf(stderr, "bench_flood: --gcks must be a loopback address (127.0.0.0/8)\n");
		return 2;
	}
	if (read_psk(psk_file, f->psk, &f->psk_len) || proc_cpu(f->pid) < 0) {
		fprintf(stderr, "bench_flood: cannot read the PSK or find gcksd\n");
		return 2;
	}
	/* one Curve25519 public value and one SA payload for every request: a cheap attacker */
	gk_ike_offer offer;
	gk_ike_offer_default(&offer);
	gk_arena_init(&f->arena, 0);
	gk_wbuf_init(&f->ke_pub, 64);
	gk_dh *dh = NULL;
	if (gk_dh_new(GK_KE_CURVE25519, &dh) || gk_dh_public(dh, &f->ke_pub) || gk_ike_offer_to_sa(&offer, &f->arena, &f->sa))
		return 1;
	gk_dh_free(dh);
	if (gk_rand_bytes(gk_rand_system(), (uint8_t *)&f->next_spi, sizeof(f->next_spi)))
		return 1;
	f->loop = uv_default_loop();
	if (open_sources(f))
		return 2;
	uv_timer_init(f->loop, &f->tick);
	uv_timer_init(f->loop, &f->pace);
	uv_timer_init(f->loop, &f->phase);
	f->tick.data = f->pace.data = f->phase.data = f;
	uv_timer_start(&f->tick, on_tick, 50, 50);
	uv_timer_start(&f->pace, on_pace, 10, 10);

	long rss0 = proc_kb(f->pid, "VmRSS");
	printf("flood: %u sources 127.3.x.y, %u IKE_SA_INIT/s answering cookies; members %d at a time from 127.1.x.y; "
	       "phases of %.0f s\n", f->nsrc, f->rate, f->nslots, seconds);
	fflush(stdout);
	phase_result warm, a, b, cc;
	/* the flood alone first, so the memory it costs is not mixed with members' IKE SAs */
	run_phase(f, false, true, seconds, &b);
	printf("B flood alone:     %llu datagrams sent (%llu COOKIE challenges answered), %llu half-open SAs made; "
	       "gcksd holds %ld half-open; gcksd CPU %.2f s = %.1f us per flood datagram; RSS %ld kB (+%ld kB)\n",
	       (unsigned long long)b.flood_sent, (unsigned long long)b.cookies, (unsigned long long)b.answers,
	       b.half_open, b.gcksd_cpu, per(b.gcksd_cpu, (double)b.flood_sent) * 1e6, b.rss_kb, b.rss_kb - rss0);
	fflush(stdout);
	run_phase(f, true, false, 2, &warm); /* caches and the database warm, not counted */
	run_phase(f, true, false, seconds, &a);
	printf("A members alone:   %llu registered (%llu failed) in %.1f s: %.0f/s; gcksd CPU %.2f s\n",
	       (unsigned long long)a.ok, (unsigned long long)a.failed, a.wall, per((double)a.ok, a.wall), a.gcksd_cpu);
	fflush(stdout);
	run_phase(f, true, true, seconds, &cc);
	printf("C members + flood: %llu registered (%llu failed) in %.1f s: %.0f/s; %llu flood datagrams, "
	       "%llu half-open SAs made; gcksd holds %ld half-open; gcksd CPU %.2f s\n",
	       (unsigned long long)cc.ok, (unsigned long long)cc.failed, cc.wall, per((double)cc.ok, cc.wall),
	       (unsigned long long)cc.flood_sent, (unsigned long long)cc.answers, cc.half_open, cc.gcksd_cpu);
	long hwm = proc_kb(f->pid, "VmHWM");
	double frac = per(per((double)cc.ok, cc.wall), per((double)a.ok, a.wall));
	printf("gcksd RSS %ld kB before, %ld kB after the flood alone, %ld kB after A (members' IKE SAs stay "
	       "open until ike-idle-timeout), peak (VmHWM) %ld kB\n", rss0, b.rss_kb, a.rss_kb, hwm);
	print_ke_costs();
	printf("\nregistrations/s during the flood / without it: %.2f (target >= 0.50)  %s\n", frac,
	       frac >= 0.5 ? "met" : "MISSED");
	printf("gcksd CPU per flood datagram: %.1f us; peak RSS %ld kB\n", per(b.gcksd_cpu, (double)b.flood_sent) * 1e6,
	       hwm);
	for (unsigned i = 0; i < f->nsrc; i++)
		gk_udp_close(f->srcs[i].udp);
	for (int i = 0; i < f->nslots; i++)
		gk_udp_close(f->slots[i].udp);
	uv_close((uv_handle_t *)&f->tick, NULL);
	uv_close((uv_handle_t *)&f->pace, NULL);
	uv_close((uv_handle_t *)&f->phase, NULL);
	uv_run(f->loop, UV_RUN_NOWAIT);
	uv_loop_close(f->loop);
	free(f->srcs);
	gk_wbuf_free(&f->ke_pub);
	gk_arena_free(&f->arena);
	OPENSSL_cleanse(f->psk, sizeof(f->psk));
	return a.ok && frac >= 0.5 ? 0 : 1;
}
