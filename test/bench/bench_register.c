/* Registration benchmark (make bench): one process on libuv drives many member cores (gk_gm)
 * at once against a gcksd running as a separate process, and reports
 *   - registrations per second and gcksd's CPU time per registration (utime+stime from
 *     /proc/PID/stat) over the whole load, for the first 10,000 members and for the last 10,000
 *     (run.sh divides it by the floor bench_floor measures in the same run);
 *   - its resident memory (VmRSS) per registered member and its peak (VmHWM);
 *   - the latency of each registration (from when it was due to its answer), refusals and
 *     retransmissions.
 * By default each member starts as soon as one of --concurrency slots is free; with --spread
 * (the restart scenario: every member re-registering at a random time within gmd's
 * --rereg-delay) or --rate (a steady probe beside another load) members are due at set times.
 * Member i registers as the identity printf(--id-format, i); every one must be listed in the
 * group's policy (test/bench/run.sh generates it). Each in-flight slot has its own UDP socket,
 * so file descriptors stay at --concurrency + a few.
 * This is a load generator, not a member: to leave the CPU to gcksd (on 2 cores the generator
 * needs one), every simulated member uses the same X25519 key pair (made once; --fresh-dh: one
 * per member, as gmd does), so a member's IKE_SA_INIT costs a derivation only. gcksd sees the
 * same messages either way: its own key pair, nonces and SPIs are its own, and the members'
 * nonces and SPIs are still fresh. Likewise the GCKS's rekey authentication key that every
 * group state carries (the same SubjectPublicKeyInfo for all members) is decoded once and
 * shared, by its exact octets: decoding it through OpenSSL's decoders cost more than half the
 * generator's instructions. And the shared secret with gcksd's last public value is kept: with
 * gcksd --dh-reuse the members' derivations repeat. All this goes through the linker (--wrap
 * of gk_dh_new, gk_dh_free, gk_dh_derive and gk_pubkey_from_spki, mk/bench.am), so the member core is the one gmd runs,
 * unchanged, and still checks every group state it receives.
 * Exit status: 0 when every registration succeeded, 1 otherwise, 2 on usage errors. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <uv.h>
#include "psk_file.h"
#include "addr.h"
#include "member/gm.h"
#include "iana.h"
#include "log.h"
#include "udp.h"
#include "bench_util.h"
#include "auth.h"
#include "dh.h"

#define MAX_SLOTS 1024
#define SEGMENT 10000 /* members per measured segment (first and last) */
#define TRIM_SAS 4096 /* gcksd hands freed memory back once this many IKE SAs closed (gcksd.c) */

typedef struct bench bench;

typedef struct slot {
	bench *b;
	int idx;
	gk_udp *udp;
	gk_gm *gm;
	gk_gm_config cfg;
	uint32_t member;
	bool busy, registered, finished, refused;
	bool cookie_seen;      /* a COOKIE answer came for this member already */
	double started;        /* CLOCK_MONOTONIC when it was due (scheduled) or started */
	uint16_t notify;
	const char *why;
} slot;

/* One measurement of gcksd (and of ourselves) at a point of the run. */
typedef struct mark {
	uint64_t regs;         /* successful registrations so far (= members held) */
	double wall;           /* seconds since the run started */
	double gcksd_cpu;      /* seconds of utime+stime */
	long rss_kb;
	double self_cpu;
	double self_sys;       /* the system (kernel) part of self_cpu */
	long ike_sas;          /* IKE SAs open in gcksd (-1: unknown) */
	bool taken;
} mark;

struct bench {
	uv_loop_t *loop;
	uv_timer_t timer;
	struct sockaddr_storage gcks;
	slot slots[MAX_SLOTS];
	int nslots;
	uint8_t psk[GK_PSK_MAX];
	size_t psk_len;
	const char *id_format, *group, *control;
	gk_ident group_id;
	uint32_t first, total;     /* members first .. first+total-1 */
	uint32_t next;             /* next member index to start (relative) */
	uint64_t ok, failed, refused, done, inflight;
	int pid;
	double t0;
	/* checkpoints: 0 = before the load, then after SEGMENT, total - SEGMENT, total */
	uint64_t at[4];
	mark marks[6];         /* [4], [5]: at [3], [1] after the registration IKE SAs closed */
	/* sizes seen in the warm-up registration, for bench_floor */
	size_t init_req_len, init_resp_len, auth_req_len, auth_resp_len;
	/* --spread / --rate: member i (relative) is due at due[i] seconds after the load starts;
	 * NULL: each starts as soon as a slot is free */
	double *due;
	uv_timer_t sched;
	uint64_t waited;           /* members that found no free slot when due */
	double max_wait;           /* the longest such wait, s */
	double *lat;               /* registration latency per finished member, s (from due) */
	uint64_t nlat;
	FILE *latlog;              /* --latency-log: "due end ok" per member, CLOCK_MONOTONIC */
	const char *perf_ctl;      /* --perf-ctl: perf record's control FIFO */
	bool warmup;
	int fail_shown;
	uint64_t sent;             /* datagrams sent: beyond two per member, COOKIE rounds and
				    * retransmissions */
	uint64_t cookies;          /* COOKIE challenges received (RFC 7296 2.6) */
	uint64_t pause_at;         /* stop starting members once this many registered */
	long rss_empty;            /* --rss-empty: gcksd's VmRSS on an empty policy, kB (0: unknown) */
	double closed_cpu0;        /* gcksd's CPU time when the load ended, s */
	bool paused;
};

/* ---- one key pair for every simulated member (see the header comment) ---- */

gk_status __real_gk_dh_new(uint16_t group, gk_dh **out);
void __real_gk_dh_free(gk_dh *dh);
gk_status __wrap_gk_dh_new(uint16_t group, gk_dh **out);
void __wrap_gk_dh_free(gk_dh *dh);

static bool g_share_dh = true;  /* --fresh-dh clears it */
static gk_dh *g_shared_dh;      /* made on first use, for one group; freed at exit */

gk_status __wrap_gk_dh_new(uint16_t group, gk_dh **out)
{
	if (!g_share_dh)
		return __real_gk_dh_new(group, out);
	if (!g_shared_dh) {
		gk_status st = __real_gk_dh_new(group, &g_shared_dh);
		if (st)
			return st;
	}
	if (gk_dh_group(g_shared_dh) != group)
		return __real_gk_dh_new(group, out); /* another group: not shared */
	*out = g_shared_dh;
	return GK_OK;
}

void __wrap_gk_dh_free(gk_dh *dh)
{
	if (dh != g_shared_dh)
		__real_gk_dh_free(dh);
}

gk_status __real_gk_dh_derive(const gk_dh *dh, gk_chunk peer_public, gk_wbuf *shared);
gk_status __wrap_gk_dh_derive(const gk_dh *dh, gk_chunk peer_public, gk_wbuf *shared);

/* With the key pair shared, the same public value of gcksd (gcksd --dh-reuse) gives the same
 * shared secret: the last one is kept, so a reused value costs gcksd's side alone. */
static uint8_t g_peer[512], g_secret[512];
static size_t g_peer_len, g_secret_len;

gk_status __wrap_gk_dh_derive(const gk_dh *dh, gk_chunk peer_public, gk_wbuf *shared)
{
	if (!g_share_dh || dh != g_shared_dh || peer_public.len > sizeof(g_peer))
		return __real_gk_dh_derive(dh, peer_public, shared);
	if (g_secret_len && peer_public.len == g_peer_len && !memcmp(peer_public.ptr, g_peer, g_peer_len)) {
		gk_wbuf_put(shared, g_secret, g_secret_len);
		return shared->err;
	}
	size_t at = shared->len;
	gk_status st = __real_gk_dh_derive(dh, peer_public, shared);
	if (st || shared->len - at > sizeof(g_secret))
		return st;
	g_secret_len = shared->len - at;
	memcpy(g_secret, shared->data + at, g_secret_len);
	memcpy(g_peer, peer_public.ptr, peer_public.len);
	g_peer_len = peer_public.len;
	return GK_OK;
}

gk_status __real_gk_pubkey_from_spki(gk_chunk der, EVP_PKEY **out);
gk_status __wrap_gk_pubkey_from_spki(gk_chunk der, EVP_PKEY **out);

static uint8_t g_spki[4096];    /* the last SubjectPublicKeyInfo decoded, and its key */
static size_t g_spki_len;
static EVP_PKEY *g_spki_key;

gk_status __wrap_gk_pubkey_from_spki(gk_chunk der, EVP_PKEY **out)
{
	if (!g_share_dh)
		return __real_gk_pubkey_from_spki(der, out);
	if (g_spki_key && der.len == g_spki_len && !memcmp(der.ptr, g_spki, der.len) && EVP_PKEY_up_ref(g_spki_key)) {
		*out = g_spki_key;
		return GK_OK;
	}
	gk_status st = __real_gk_pubkey_from_spki(der, out);
	if (st || der.len > sizeof(g_spki) || !EVP_PKEY_up_ref(*out))
		return st;
	EVP_PKEY_free(g_spki_key);
	g_spki_key = *out;
	memcpy(g_spki, der.ptr, der.len);
	g_spki_len = der.len;
	return GK_OK;
}

static double now_s(clockid_t c)
{
	return bench_now(c);
}

/* IKE SAs open in gcksd (established + half-open) from its status answer; -1 when there is no
 * control socket. */
static long control_established(const char *path)
{
	char buf[65536];
	if (bench_control(path, "status", buf, sizeof(buf)))
		return -1;
	long e = bench_json_long(buf, "ike_sas_established", -1), h = bench_json_long(buf, "ike_sas_half_open", -1);
	return e < 0 || h < 0 ? -1 : e + h;
}

/* This process's CPU time in seconds: user + system, and the system part in *sys. */
static double self_cpu_split(double *sys)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	*sys = (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + *sys;
}


static void take_mark(bench *b, int i)
{
	mark *m = &b->marks[i];
	m->regs = b->ok;
	m->wall = now_s(CLOCK_MONOTONIC) - b->t0;
	m->gcksd_cpu = bench_proc_cpu(b->pid);
	m->rss_kb = bench_proc_kb(b->pid, "VmRSS");
	m->self_cpu = self_cpu_split(&m->self_sys);
	m->ike_sas = control_established(b->control);
	m->taken = true;
}

/* ---- the load ---- */

static void start_next(bench *b, slot *s);

static int64_t clock_ms(void *ctx)
{
	return (int64_t)uv_now(((slot *)ctx)->b->loop);
}

static void send_cb(void *ctx, const uint8_t *data, size_t len)
{
	slot *s = ctx;
	bench *b = s->b;
	b->sent++;
	if (b->warmup && len >= 28) {
		if (data[18] == GK_EXCH_IKE_SA_INIT)
			b->init_req_len = len;
		else if (data[18] == GK_EXCH_GSA_AUTH)
			b->auth_req_len += len;
	}
	gk_udp_send(s->udp, (const struct sockaddr *)&b->gcks, data, len);
}

static void event_cb(void *ctx, const gk_gm_event *ev)
{
	slot *s = ctx;
	switch (ev->type) {
	case GK_GM_REGISTERED:
		s->registered = true;
		break;
	case GK_GM_REFUSED:
		s->refused = true;
		/* fall through */
	case GK_GM_FAILED:
		if (!s->notify)
			s->notify = ev->notify;
		if (!s->why)
			s->why = ev->why;
		s->finished = true;
		break;
	case GK_GM_DONE:
		s->finished = true;
		break;
	default:
		break;
	}
}

/* Called outside the member core's own stack: frees it and starts the next member. */
static void finish(bench *b, slot *s)
{
	if (!s->busy || !s->finished)
		return;
	gk_gm_free(s->gm);
	s->gm = NULL;
	s->busy = false;
	b->inflight--;
	b->done++;
	if (!b->warmup) {
		double end = now_s(CLOCK_MONOTONIC);
		b->lat[b->nlat++] = end - s->started;
		if (b->latlog)
			fprintf(b->latlog, "%.6f %.6f %d\n", s->started, end, s->registered ? 1 : 0);
	}
	if (s->refused && !s->registered)
		b->refused++;
	if (s->registered) {
		b->ok++;
	} else {
		b->failed++;
		if (b->fail_shown++ < 10) {
			char t[GK_IDENT_TEXT_MAX];
			fprintf(stderr, "bench: member %s: %s%s%s\n", gk_ident_text(&s->cfg.id, t), s->why ? s->why : "failed",
				s->notify ? ": " : "", s->notify ? gk_iana_str(GK_REG_NOTIFY, s->notify) : "");
		}
	}
	for (int i = 1; i < 4; i++)
		if (!b->marks[i].taken && b->ok >= b->at[i])
			take_mark(b, i);
	if (b->warmup) {
		uv_stop(b->loop);
		return;
	}
	if (b->ok >= b->pause_at)
		b->paused = true;
	if (!b->paused)
		start_next(b, s);
	if (!b->inflight && (!b->due || b->next >= b->total || b->paused))
		uv_stop(b->loop);
}

static void recv_cb(void *ctx, const uint8_t *data, size_t len, const struct sockaddr *peer,
		    const struct sockaddr *local)
{
	slot *s = ctx;
	bench *b = s->b;
	(void)peer;
	(void)local;
	if (!s->gm)
		return; /* a late answer to a member that is gone */
	/* gcksd asks for a COOKIE above --cookie-rate requests a second: one more request each */
	if (len >= 36 && data[18] == GK_EXCH_IKE_SA_INIT && data[16] == GK_PL_NOTIFY &&
	    gk_get_u16(data + 34) == GK_N_COOKIE) {
		/* a second COOKIE (gcksd's answer to a retransmitted first request) is dropped here:
		 * the member core, holding a cookie already, dereferences the missing KE payload of
		 * such an answer (member/gm_core.c on_init_resp) */
		if (s->cookie_seen)
			return;
		s->cookie_seen = true;
		b->cookies++;
	}
	if (b->warmup && len >= 28) {
		if (data[18] == GK_EXCH_IKE_SA_INIT)
			b->init_resp_len = len;
		else if (data[18] == GK_EXCH_GSA_AUTH)
			b->auth_resp_len += len;
	}
	gk_gm_input(s->gm, data, len);
	finish(b, s);
}

static void on_timer(uv_timer_t *t)
{
	bench *b = t->data;
	for (int i = 0; i < b->nslots; i++) {
		slot *s = &b->slots[i];
		if (s->gm) {
			gk_gm_tick(s->gm);
			finish(b, s);
		}
	}
}

static void start_member(bench *b, slot *s, uint32_t member)
{
	char text[GK_IDENT_TEXT_MAX];
	char why[GK_ERR_MAX] = "";
	/* --id-format holds one %u: the member number goes there */
	const char *u = strstr(b->id_format, "%u");
	snprintf(text, sizeof(text), "%.*s%u%s", (int)(u - b->id_format), b->id_format, member, u + 2);
	gk_gm_config_default(&s->cfg);
	s->cfg.retransmit_ms = 1000;
	s->cfg.retransmit_tries = 5;
	s->cfg.psk = b->psk;
	s->cfg.psk_len = b->psk_len;
	s->cfg.groups[0] = b->group_id;
	s->cfg.ngroups = 1;
	s->member = member;
	s->registered = s->finished = s->refused = s->cookie_seen = false;
	s->notify = 0;
	s->why = NULL;
	s->busy = true;
	b->inflight++;
	gk_gm_env env = { .rnd = gk_rand_system(), .clock = { .now_ms = clock_ms, .ctx = s }, .send = send_cb,
			  .send_ctx = s, .event = event_cb, .event_ctx = s };
	if (gk_ident_parse(text, &s->cfg.id, why, sizeof(why))) {
		s->why = "invalid member identity (--id-format)";
		s->finished = true;
	} else if (gk_gm_new(&s->cfg, &env, &s->gm) || gk_gm_start(s->gm)) {
		s->why = "cannot start the member core";
		s->finished = true;
	}
}

/* Starts the next member in slot s: at once, or when it is due (--spread, --rate). */
static void start_next(bench *b, slot *s)
{
	while (b->next < b->total && !s->busy) {
		double now = now_s(CLOCK_MONOTONIC), due = b->due ? b->t0 + b->due[b->next] : now;
		if (due > now)
			return;
		if (b->due && now - due > 0.010) {
			b->waited++;
			if (now - due > b->max_wait)
				b->max_wait = now - due;
		}
		start_member(b, s, b->first + b->next++);
		s->started = due;
		finish(b, s); /* only when it could not even start */
	}
}

/* --spread, --rate: starts the members that are due in free slots. */
static void on_sched(uv_timer_t *t)
{
	bench *b = t->data;
	for (int i = 0; i < b->nslots && b->next < b->total && !b->paused; i++)
		if (!b->slots[i].busy)
			start_next(b, &b->slots[i]);
	if (!b->inflight && (b->next >= b->total || b->paused))
		uv_stop(b->loop);
}

static int cmp_double(const void *a, const void *c)
{
	double x = *(const double *)a, y = *(const double *)c;
	return x < y ? -1 : x > y;
}

/* Registration latency percentiles, from the member's due time to its answer. */
static void print_latency(bench *b, const char *what)
{
	if (!b->nlat)
		return;
	qsort(b->lat, b->nlat, sizeof(*b->lat), cmp_double);
	double sum = 0;
	for (uint64_t i = 0; i < b->nlat; i++)
		sum += b->lat[i];
	printf("latency%s: mean %.1f ms, p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms (%llu registrations)\n", what,
	       sum / (double)b->nlat * 1e3, b->lat[b->nlat / 2] * 1e3, b->lat[b->nlat * 9 / 10] * 1e3,
	       b->lat[b->nlat * 99 / 100] * 1e3, b->lat[b->nlat - 1] * 1e3, (unsigned long long)b->nlat);
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

static void usage(FILE *f)
{
	fputs("usage: bench_register --gcks ADDR:PORT --pid GCKSD_PID --psk-file FILE --members N\n"
	      "                      [--group ID] [--id-format FMT] [--first I] [--concurrency C]\n"
	      "                      [--control PATH] [--settle-seconds S] [--spread S | --rate R]\n"
	      "                      [--latency-log FILE] [--perf-ctl FIFO] [--fresh-dh] [--rss-empty KB]\n"
	      "A load generator, not a member: every simulated member uses one X25519 key pair, made\n"
	      "once, derives again only for a new public value of gcksd, and decodes the GCKS's rekey\n"
	      "authentication key once (--fresh-dh: all of it per member, as gmd does); gcksd sees\n"
	      "the same exchanges.\n"
	      "Member i registers as printf(FMT, i) (default fqdn:gm-%u.bench.example) to the group\n"
	      "(default keyid:bench-1); members FIRST .. FIRST+N-1 must be listed in its policy.\n"
	      "--settle-seconds: after the load, wait up to S seconds for gcksd to close the\n"
	      "registration IKE SAs (policy ike-idle-timeout; needs --control) and measure again.\n"
	      "--spread: each member is due at a random time 1 s to S s after the start, as gmd's\n"
	      "--rereg-delay spreads them; --rate: R members a second. Due members wait for a free slot\n"
	      "(at most C in flight). --latency-log: one line \"due end ok\" per member (CLOCK_MONOTONIC s).\n"
	      "--perf-ctl: perf record's --control FIFO, sent enable/disable around the load.\n"
	      "--rss-empty: gcksd's VmRSS on an empty policy (kB), the fixed part of its memory.\n", f);
}

static double per(double a, double b) { return b > 0 ? a / b : 0; }

/* Waits until gcksd holds no IKE SA (it closes them after the policy's ike-idle-timeout), then
 * takes mark i. Returns the number of SAs that were open. */
static long settle(bench *b, int i, double seconds)
{
	long open0 = control_established(b->control), open = open0;
	if (open0 <= 0)
		return open0;
	printf("waiting up to %.0f s for gcksd to close %ld registration IKE SAs (ike-idle-timeout, then their Deletes unanswered) ...\n",
	       seconds, open0);
	fflush(stdout);
	double until = now_s(CLOCK_MONOTONIC) + seconds;
	while ((open = control_established(b->control)) > 0 && now_s(CLOCK_MONOTONIC) < until)
		usleep(250000);
	if (open == 0)
		take_mark(b, i);
	else
		printf("gcksd still holds %ld IKE SAs after %.0f s\n", open, seconds);
	return open0;
}

/* Switches perf record's sampling on or off (its --control FIFO): only the load is sampled,
 * not the warm-up nor the waits for idle IKE SAs to close. */
static void perf_ctl(const bench *b, const char *cmd)
{
	if (!b->perf_ctl)
		return;
	FILE *f = fopen(b->perf_ctl, "w");
	if (!f) {
		fprintf(stderr, "bench: %s: %s\n", b->perf_ctl, strerror(errno));
		return;
	}
	fprintf(f, "%s\n", cmd);
	fclose(f);
}

/* gcksd's memory as the targets define it (VmRSS): the fixed part (--rss-empty: gcksd on an
 * empty policy), per listed member at rest (members registered, their IKE SAs closed: mark 4,
 * or mark 5 after the first segment) as the slope above the fixed part and all in, and per open
 * IKE SA (the RSS with the last IKE SAs open minus the RSS once they closed, per SA). */
static void print_memory(const bench *b, long open_at_end)
{
	const mark *m0 = &b->marks[0], *m1 = &b->marks[1], *m3 = &b->marks[3], *m4 = &b->marks[4];
	printf("\nmemory (gcksd VmRSS):\n");
	if (b->rss_empty > 0)
		printf("  fixed part, gcksd on an empty policy: %ld kB\n", b->rss_empty);
	printf("  policy of %u members loaded, before the load: %ld kB", b->total, m0->rss_kb);
	if (b->rss_empty > 0)
		printf(" = %.0f B per listed member above the fixed part", per((m0->rss_kb - b->rss_empty) * 1024.0, (double)b->total));
	printf("\n");
	static const int order[] = { 1, 5, 3, 4 };
	for (size_t k = 0; k < 4; k++) {
		const mark *m = &b->marks[order[k]];
		if (!m->taken)
			continue;
		printf("  at %llu members registered, %ld IKE SAs open: %ld kB = %.0f B/member all in", (unsigned long long)m->regs,
		       m->ike_sas, m->rss_kb, per(m->rss_kb * 1024.0, (double)m->regs));
		if (b->rss_empty > 0)
			printf(", %.0f B/member above the fixed part", per((m->rss_kb - b->rss_empty) * 1024.0, (double)m->regs));
		printf("\n");
	}
	if (m1->taken && m1->regs > m0->regs)
		printf("  added per registration in the first %llu, each member holding an open IKE SA: %.0f B\n",
		       (unsigned long long)(m1->regs - m0->regs), per((m1->rss_kb - m0->rss_kb) * 1024.0, (double)(m1->regs - m0->regs)));
	if (m4->taken && m3->ike_sas > 0)
		printf("  per open IKE SA: %.0f B (%ld IKE SAs open at the end, then closed)\n",
		       per((m3->rss_kb - m4->rss_kb) * 1024.0, (double)m3->ike_sas), m3->ike_sas);
	else if (m3->regs > m1->regs)
		printf("  per registered member holding an open IKE SA (slope from %llu to %llu members, no settling): %.0f B\n",
		       (unsigned long long)m1->regs, (unsigned long long)m3->regs,
		       per((m3->rss_kb - m1->rss_kb) * 1024.0, (double)(m3->regs - m1->regs)));
	if ((m4->taken && m3->ike_sas < TRIM_SAS) || (b->marks[5].taken && m1->ike_sas < TRIM_SAS))
		printf("  note: gcksd gives the memory of closed IKE SAs back only once %d of them closed (malloc_trim in\n"
		       "  gcksd.c); below that the figures at rest keep its peak: use more members\n", TRIM_SAS);
	if (m4->taken && open_at_end > 0)
		printf("gcksd CPU closing idle IKE SAs: %.3f ms per SA\n", per(m4->gcksd_cpu - b->closed_cpu0, (double)open_at_end) * 1e3);
}

/* Each target of the issue, judged on the figure it names; "n/a" when this run did not measure
 * it (BENCH_SETTLE_SECONDS=0 leaves the IKE SAs open: nothing is at rest). */
static void print_targets(const bench *b, double rate, double cpu_reg, double flat)
{
	const mark *m1 = &b->marks[1], *m3 = &b->marks[3], *m4 = &b->marks[4], *m5 = &b->marks[5];
	printf("\ntargets:\n");
	printf("  registrations/s >= 8000 (2 cores, generator on the same machine): %.0f  %s\n", rate,
	       rate >= 8000 ? "met" : "MISSED");
	printf("  gcksd CPU/registration <= 0.100 ms:               %.3f  %s\n", cpu_reg, cpu_reg <= 0.1 ? "met" : "MISSED");
	printf("  gcksd CPU/registration flat (last/first <= 1.10): %.2f  %s\n", flat, flat <= 1.10 ? "met" : "MISSED");
	if (m4->taken && m3->ike_sas >= TRIM_SAS) {
		double sa = per((m3->rss_kb - m4->rss_kb) * 1024.0, (double)m3->ike_sas);
		printf("  gcksd RSS per open IKE SA <= 1536 B:              %.0f B  %s\n", sa, sa <= 1536 ? "met" : "MISSED");
	} else {
		double bound = per((m3->rss_kb - m1->rss_kb) * 1024.0, (double)(m3->regs - m1->regs));
		printf("  gcksd RSS per open IKE SA <= 1536 B:              n/a (%s); member + SA together %.0f B%s\n",
		       m4->taken ? "too few IKE SAs closed" : "no settling", bound, bound <= 1536 ? ": met" : "");
	}
	const mark *rest = m4->taken && m3->ike_sas >= TRIM_SAS ? m4 : m5->taken && m1->ike_sas >= TRIM_SAS ? m5 : NULL;
	if (rest && b->rss_empty > 0) {
		double slope = per((rest->rss_kb - b->rss_empty) * 1024.0, (double)rest->regs);
		printf("  gcksd RSS per listed member at rest <= 500 B:     %.0f B above the fixed %ld kB (%llu members, IKE SAs closed; "
		       "%.0f B all in)  %s\n", slope, b->rss_empty, (unsigned long long)rest->regs,
		       per(rest->rss_kb * 1024.0, (double)rest->regs), slope <= 500 ? "met" : "MISSED");
	} else if (rest) {
		double all = per(rest->rss_kb * 1024.0, (double)rest->regs);
		printf("  gcksd RSS per listed member at rest <= 500 B:     %.0f B all in (no --rss-empty)  %s\n", all,
		       all <= 500 ? "met" : "MISSED");
	} else {
		printf("  gcksd RSS per listed member at rest <= 500 B:     n/a (%s)\n",
		       m4->taken || m5->taken ? "too few IKE SAs closed for gcksd to give memory back" : "no settling: the IKE SAs are still open");
	}
}

static void run_load(bench *b)
{
	perf_ctl(b, "enable");
	uv_update_time(b->loop); /* the warm-up (or a pause) took seconds: timers start now */
	for (int i = 0; i < b->nslots; i++)
		start_next(b, &b->slots[i]);
	if (b->due)
		uv_timer_start(&b->sched, on_sched, 2, 2);
	if (b->inflight || (b->due && b->next < b->total))
		uv_run(b->loop, UV_RUN_DEFAULT);
	if (b->due)
		uv_timer_stop(&b->sched);
	perf_ctl(b, "disable");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "gcks", required_argument, NULL, 'g' }, { "pid", required_argument, NULL, 'p' },
		{ "psk-file", required_argument, NULL, 'k' }, { "members", required_argument, NULL, 'n' },
		{ "group", required_argument, NULL, 'G' }, { "id-format", required_argument, NULL, 'i' },
		{ "first", required_argument, NULL, 'f' }, { "concurrency", required_argument, NULL, 'c' },
		{ "control", required_argument, NULL, 'C' }, { "settle-seconds", required_argument, NULL, 'S' },
		{ "spread", required_argument, NULL, 'w' }, { "rate", required_argument, NULL, 'r' },
		{ "latency-log", required_argument, NULL, 'L' }, { "perf-ctl", required_argument, NULL, 'P' },
		{ "fresh-dh", no_argument, NULL, 'F' }, { "rss-empty", required_argument, NULL, 'E' },
		{ "help", no_argument, NULL, 'h' }, { 0 },
	};
	static bench B;
	bench *b = &B;
	const char *gcks = NULL, *psk_file = NULL, *latlog = NULL;
	char why[GK_ERR_MAX] = "";
	double settle_seconds = 0, spread = 0, rate = 0;
	int c;
	b->id_format = "fqdn:gm-%u.bench.example";
	b->group = "keyid:bench-1";
	b->nslots = 128;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'g': gcks = optarg; break;
		case 'p': b->pid = atoi(optarg); break;
		case 'k': psk_file = optarg; break;
		case 'n': b->total = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'G': b->group = optarg; break;
		case 'i': b->id_format = optarg; break;
		case 'f': b->first = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'c': b->nslots = atoi(optarg); break;
		case 'C': b->control = optarg; break;
		case 'S': settle_seconds = atof(optarg); break;
		case 'w': spread = atof(optarg); break;
		case 'r': rate = atof(optarg); break;
		case 'L': latlog = optarg; break;
		case 'P': b->perf_ctl = optarg; break;
		case 'F': g_share_dh = false; break;
		case 'E': b->rss_empty = atol(optarg); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!gcks || !psk_file || !strstr(b->id_format, "%u") || b->pid <= 0 || b->total < 2 || b->nslots < 1 || b->nslots > MAX_SLOTS ||
	    optind != argc || spread < 0 || rate < 0 || (spread > 0 && spread < 1) || (spread > 0 && rate > 0)) {
		usage(stderr);
		return 2;
	}
	gk_log_init("bench", GK_LOG_ERROR);
	if (gk_addr_parse(gcks, 848, &b->gcks, why, sizeof(why)) || gk_ident_parse(b->group, &b->group_id, why, sizeof(why))) {
		fprintf(stderr, "bench: %s\n", why);
		return 2;
	}
	if (read_psk(psk_file, b->psk, &b->psk_len)) {
		fprintf(stderr, "bench: %s: cannot read the PSK\n", psk_file);
		return 2;
	}
	if (bench_proc_cpu(b->pid) < 0) {
		fprintf(stderr, "bench: no process %d to measure\n", b->pid);
		return 2;
	}
	if (latlog && !(b->latlog = fopen(latlog, "w"))) {
		fprintf(stderr, "bench: %s: %s\n", latlog, strerror(errno));
		return 2;
	}
	b->lat = calloc(b->total, sizeof(*b->lat));
	if (!b->lat) {
		fprintf(stderr, "bench: out of memory\n");
		return 2;
	}
	if (spread > 0 || rate > 0) {
		b->due = calloc(b->total, sizeof(*b->due));
		if (!b->due) {
			fprintf(stderr, "bench: out of memory\n");
			return 2;
		}
		/* gmd --rereg-delay: a random 1 s to S s (the warm-up member, 0, registers first) */
		for (uint32_t i = 1; i < b->total; i++)
			b->due[i] = spread > 0 ? 1 + (spread - 1) * ((double)random() / (double)RAND_MAX) : (double)(i - 1) / rate;
		qsort(b->due + 1, b->total - 1, sizeof(*b->due), cmp_double);
	}
	b->loop = uv_default_loop();
	struct sockaddr_storage la;
	memset(&la, 0, sizeof(la));
	la.ss_family = b->gcks.ss_family;
	for (int i = 0; i < b->nslots; i++) {
		char err[256];
		b->slots[i] = (slot){ .b = b, .idx = i };
		/* against a loopback gcksd each slot is a host of its own (127.1.x.y, 127.2.x.y with
		 * --first, so that two generators do not share addresses), as members are in service:
		 * from one address they would meet gcksd's half-open cap per source */
		struct sockaddr_in *la4 = (struct sockaddr_in *)&la;
		const struct sockaddr_in *g4 = (const struct sockaddr_in *)&b->gcks;
		unsigned net = b->first ? 2 : 1;
		if (b->gcks.ss_family == AF_INET && (ntohl(g4->sin_addr.s_addr) >> 24) == 127)
			la4->sin_addr.s_addr = htonl((127u << 24) | (net << 16) | ((unsigned)(i / 250) << 8) | (unsigned)(i % 250 + 1));
		if (gk_udp_open(b->loop, (struct sockaddr *)&la, recv_cb, &b->slots[i], &b->slots[i].udp, err, sizeof(err))) {
			fprintf(stderr, "bench: %s\n", err);
			return 2;
		}
	}
	uv_timer_init(b->loop, &b->timer);
	b->timer.data = b;
	uv_timer_start(&b->timer, on_timer, 50, 50);
	uv_timer_init(b->loop, &b->sched);
	b->sched.data = b;

	/* warm-up: one member alone, for the message sizes bench_floor uses */
	b->t0 = now_s(CLOCK_MONOTONIC);
	b->at[1] = b->at[2] = b->at[3] = UINT64_MAX;
	b->warmup = true;
	start_member(b, &b->slots[0], b->first + b->next++);
	finish(b, &b->slots[0]);
	if (b->slots[0].busy)
		uv_run(b->loop, UV_RUN_DEFAULT);
	b->warmup = false;
	if (!b->ok) {
		fprintf(stderr, "bench: the first member could not register; is gcksd up and the policy loaded?\n");
		return 1;
	}
	printf("message sizes: IKE_SA_INIT %zu/%zu octets, GSA_AUTH %zu/%zu octets (request/response), "
	       "member ID payload %zu octets, PSK %zu octets\n",
	       b->init_req_len, b->init_resp_len, b->auth_req_len, b->auth_resp_len, (size_t)b->slots[0].cfg.id.len + 4,
	       b->psk_len);

	/* the load */
	uint64_t seg = b->total >= 2 * SEGMENT ? SEGMENT : b->total / 2;
	b->at[1] = seg;
	b->at[2] = b->total - seg;
	b->at[3] = b->total;
	b->t0 = now_s(CLOCK_MONOTONIC);
	take_mark(b, 0);
	uint64_t sent0 = b->sent, cookies0 = b->cookies;
	long drops0 = bench_udp_rcvbuf_errors();
	printf("load: %u members, %d in flight, gcksd pid %d: RSS %ld kB before (policy loaded), %ld IKE SAs open",
	       b->total, b->nslots, b->pid, b->marks[0].rss_kb, b->marks[0].ike_sas);
	if (spread > 0)
		printf(", each due at a random 1 s to %.0f s", spread);
	if (rate > 0)
		printf(", %.0f due a second", rate);
	printf("\n");
	fflush(stdout);
	/* with --settle-seconds the load pauses after the first segment until gcksd has closed the
	 * registration IKE SAs, to see the memory members alone hold; the pause is not counted */
	double paused = 0;
	b->pause_at = settle_seconds > 0 && b->control && !b->due ? b->at[1] : UINT64_MAX;
	run_load(b);
	if (b->paused) {
		double p0 = now_s(CLOCK_MONOTONIC);
		long d0 = bench_udp_rcvbuf_errors();
		settle(b, 5, settle_seconds);
		drops0 += bench_udp_rcvbuf_errors() - d0; /* Deletes of idle SAs to sockets not read meanwhile */
		if (b->at[2] <= b->ok)
			take_mark(b, 2); /* a short run: the last segment starts after the pause */
		b->paused = false;
		b->pause_at = UINT64_MAX;
		paused = now_s(CLOCK_MONOTONIC) - p0;
		run_load(b);
	}
	double wall = now_s(CLOCK_MONOTONIC) - b->t0 - paused;
	double cpu_end = bench_proc_cpu(b->pid);
	double self_sys_end;
	double self_end = self_cpu_split(&self_sys_end);
	b->closed_cpu0 = cpu_end;
	/* read before settling: gcksd's Deletes of idle SAs then go to sockets nobody reads */
	long drops = bench_udp_rcvbuf_errors() - drops0;
	uint64_t retransmissions = b->sent - sent0 - 2 * (b->done - 1) - (b->cookies - cookies0);
	long hwm = bench_proc_kb(b->pid, "VmHWM");
	long open_at_end = settle_seconds > 0 ? settle(b, 4, settle_seconds) : 0;

	const mark *m0 = &b->marks[0], *m1 = &b->marks[1], *m2 = &b->marks[2], *m3 = &b->marks[3];
	uint64_t regs = b->ok;
	double rate_seen = per((double)(regs - m0->regs), wall);
	double cpu_reg = per(cpu_end - m0->gcksd_cpu, (double)(regs - m0->regs)) * 1e3;
	printf("\nregistrations: %llu ok, %llu failed (%llu refused), in %.1f s\n", (unsigned long long)regs,
	       (unsigned long long)b->failed, (unsigned long long)b->refused, wall);
	printf("COOKIE rounds: %llu; retransmissions: %llu; UDP datagrams dropped for full receive buffers (whole system): %ld\n",
	       (unsigned long long)b->cookies, (unsigned long long)retransmissions, drops);
	printf("registrations/s: %.0f overall (target >= 8000)\n", rate_seen);
	printf("gcksd CPU per registration: %.4f ms over the whole load (target <= 0.100)\n", cpu_reg);
	printf("load generator CPU per registration: %.4f ms over the whole load, %.4f ms of it in the kernel (%s)\n",
	       per(self_end - m0->self_cpu, (double)(regs - m0->regs)) * 1e3,
	       per(self_sys_end - m0->self_sys, (double)(regs - m0->regs)) * 1e3,
	       g_share_dh ? "one X25519 key pair for all members; --fresh-dh: one each" : "--fresh-dh: one X25519 key pair per member");
	printf("gcksd peak memory (VmHWM): %ld kB\n", hwm);
	if (b->due)
		printf("members started more than 10 ms after they were due (every slot busy, or this loop behind): %llu "
		       "(longest wait %.0f ms)\n", (unsigned long long)b->waited, b->max_wait * 1e3);
	print_latency(b, "");
	if (m1->taken && m2->taken && m3->taken && !b->due) {
		double r1 = per((double)(m1->regs - m0->regs), m1->wall - m0->wall);
		double r2 = per((double)(m3->regs - m2->regs), m3->wall - m2->wall);
		double c1 = per(m1->gcksd_cpu - m0->gcksd_cpu, (double)(m1->regs - m0->regs)) * 1e3;
		double c2 = per(m3->gcksd_cpu - m2->gcksd_cpu, (double)(m3->regs - m2->regs)) * 1e3;
		double l1 = per(m1->self_cpu - m0->self_cpu, (double)(m1->regs - m0->regs)) * 1e3;
		double l2 = per(m3->self_cpu - m2->self_cpu, (double)(m3->regs - m2->regs)) * 1e3;
		printf("first %llu members:  %.0f registrations/s, gcksd CPU %.3f ms/registration, load generator %.3f ms\n",
		       (unsigned long long)seg, r1, c1, l1);
		printf("last %llu (to %llu): %.0f registrations/s, gcksd CPU %.3f ms/registration, load generator %.3f ms\n",
		       (unsigned long long)seg, (unsigned long long)m3->regs, r2, c2, l2);
		printf("gcksd CPU per registration, last/first: %.2f (flat = 1.00)\n", per(c2, c1));
		print_memory(b, open_at_end);
		print_targets(b, rate_seen, cpu_reg, per(c2, c1));
	}
	if (b->latlog)
		fclose(b->latlog);
	for (int i = 0; i < b->nslots; i++)
		gk_udp_close(b->slots[i].udp);
	uv_close((uv_handle_t *)&b->timer, NULL);
	uv_close((uv_handle_t *)&b->sched, NULL);
	uv_run(b->loop, UV_RUN_NOWAIT);
	uv_loop_close(b->loop);
	OPENSSL_cleanse(b->psk, sizeof(b->psk));
	free(b->due);
	free(b->lat);
	__real_gk_dh_free(g_shared_dh);
	EVP_PKEY_free(g_spki_key);
	OPENSSL_cleanse(g_secret, sizeof(g_secret));
	return b->failed ? 1 : 0;
}
