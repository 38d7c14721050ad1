/* Registration benchmark (make bench): one process on libuv drives many member cores (gk_gm)
 * at once against a gcksd running as a separate process, and reports
 *   - registrations per second, beside the crypto bound of this machine: the crypto one
 *     registration costs (X25519 key pairs and shared secrets on both sides, IKE key
 *     derivation on both sides, the four PSK AUTH computations, SK seal/open of GSA_AUTH and
 *     its response, KD key wrapping), timed with the project's own functions in a tight loop
 *     on one core, in the same run;
 *   - gcksd's CPU time per registration (utime+stime from /proc/PID/stat) for the first 10,000
 *     members and for the last 10,000, and its resident memory (VmRSS) per registered member.
 * Member i registers as the identity printf(--id-format, i); every one must be listed in the
 * group's policy (test/bench/run.sh generates it). Each in-flight slot has its own UDP socket,
 * so file descriptors stay at --concurrency + a few.
 * Exit status: 0 when every registration succeeded, 1 otherwise, 2 on usage errors. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <uv.h>
#include "psk_file.h"
#include "addr.h"
#include "auth.h"
#include "dh.h"
#include "member/gm.h"
#include "iana.h"
#include "ike_sa.h"
#include "ikekeys.h"
#include "keywrap.h"
#include "log.h"
#include "sk.h"
#include "udp.h"

#define MAX_SLOTS 1024
#define SEGMENT 10000 /* members per measured segment (first and last) */

typedef struct bench bench;

typedef struct slot {
	bench *b;
	int idx;
	gk_udp *udp;
	gk_gm *gm;
	gk_gm_config cfg;
	uint32_t member;
	bool busy, registered, finished;
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
	uint64_t ok, failed, done, inflight;
	int pid;
	double t0;
	/* checkpoints: 0 = before the load, then after SEGMENT, total - SEGMENT, total */
	uint64_t at[4];
	mark marks[6];         /* [4], [5]: at [3], [1] after the registration IKE SAs closed */
	/* sizes seen in the warm-up registration, for the crypto loop */
	size_t init_req_len, init_resp_len, auth_req_len, auth_resp_len;
	bool warmup;
	int fail_shown;
	uint64_t sent;             /* datagrams sent: beyond two per member, COOKIE rounds and
				    * retransmissions */
	uint64_t cookies;          /* COOKIE challenges received (RFC 7296 2.6) */
	uint64_t pause_at;         /* stop starting members once this many registered */
	bool paused;
};

static double now_s(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- gcksd figures from /proc and its control socket ---- */

static double proc_cpu(int pid)
{
	char path[64], buf[2048];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')'); /* the command name may hold spaces */
	if (!p)
		return -1;
	unsigned long ut = 0, st = 0;
	/* after ")": state(3) ... utime is field 14, stime 15 */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static long proc_rss_kb(int pid)
{
	char path[64], line[256];
	long kb = -1;
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* The system's UDP RcvbufErrors counter (datagrams dropped for a full receive buffer). */
static long udp_rcvbuf_errors(void)
{
	FILE *f = fopen("/proc/net/snmp", "r");
	char names[1024], values[1024];
	long v = -1;
	if (!f)
		return -1;
	while (fgets(names, sizeof(names), f) && fgets(values, sizeof(values), f)) {
		if (strncmp(names, "Udp:", 4) || strncmp(values, "Udp:", 4))
			continue;
		char *sn, *sv, *n = strtok_r(names + 4, " \n", &sn), *val = strtok_r(values + 4, " \n", &sv);
		for (; n && val; n = strtok_r(NULL, " \n", &sn), val = strtok_r(NULL, " \n", &sv))
			if (!strcmp(n, "RcvbufErrors"))
				v = atol(val);
		break;
	}
	fclose(f);
	return v;
}

/* IKE SAs open in gcksd (established + half-open) from its status answer; -1 when there is no
 * control socket. */
static long control_established(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	if (!path || strlen(path) >= sizeof(sun.sun_path))
		return -1;
	strcpy(sun.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	long v = -1;
	char buf[8192];
	size_t got = 0;
	if (!connect(fd, (struct sockaddr *)&sun, sizeof(sun)) && write(fd, "status\n", 7) == 7) {
		ssize_t r;
		while (got < sizeof(buf) - 1 && (r = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0) {
			got += (size_t)r;
			if (memchr(buf, '\n', got))
				break;
		}
		buf[got] = 0;
		const char *p = strstr(buf, "\"ike_sas_established\":"), *h = strstr(buf, "\"ike_sas_half_open\":");
		if (p && h)
			v = strtol(p + strlen("\"ike_sas_established\":"), NULL, 10) +
			    strtol(h + strlen("\"ike_sas_half_open\":"), NULL, 10);
	}
	close(fd);
	return v;
}

static void take_mark(bench *b, int i)
{
	mark *m = &b->marks[i];
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	m->regs = b->ok;
	m->wall = now_s(CLOCK_MONOTONIC) - b->t0;
	m->gcksd_cpu = proc_cpu(b->pid);
	m->rss_kb = proc_rss_kb(b->pid);
	m->self_cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
		      ru.ru_stime.tv_usec / 1e6;
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
	if (!b->inflight)
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
	    gk_get_u16(data + 34) == GK_N_COOKIE)
		b->cookies++;
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
	s->registered = s->finished = false;
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

static void start_next(bench *b, slot *s)
{
	while (b->next < b->total && !s->busy) {
		start_member(b, s, b->first + b->next++);
		finish(b, s); /* only when it could not even start */
	}
}

/* ---- the crypto bound ---- */

typedef struct crypto_sizes {
	size_t init_req, init_resp, auth_req_inner, auth_resp_inner;
} crypto_sizes;

/* SK-protects `inner` octets under k in a fresh message, then opens it again with k. */
static gk_status seal_open(const gk_sk_keys *k, const uint8_t *inner, size_t len, gk_wbuf *msg, gk_wbuf *out)
{
	msg->len = 0;
	out->len = 0;
	gk_wbuf_zero(msg, 28 + 4);
	gk_status st = gk_sk_seal(k, gk_rand_system(), msg, 28, GK_CHUNK(inner, len));
	return st ? st : gk_sk_open(k, gk_wbuf_chunk(msg), 28, 4, out);
}

/* PSK AUTH as one side computes or checks it: signed octets (with prf(SK_p, IDx')) and
 * prf(prf(PSK, "Key Pad for IKEv2"), octets). */
static gk_status psk_auth(uint16_t prf, gk_chunk psk, gk_chunk real_msg, gk_chunk nonce, gk_chunk skp,
			  gk_chunk id, gk_wbuf *oct, uint8_t *mic, size_t *mic_len)
{
	oct->len = 0;
	*mic_len = 64;
	gk_status st = gk_auth_signed_octets(prf, real_msg, nonce, skp, id, oct);
	return st ? st : gk_auth_psk_compute(prf, psk, gk_wbuf_chunk(oct), mic, mic_len);
}

/* The crypto of one registration, both sides. */
static gk_status one_registration(const bench *b, const crypto_sizes *z, const uint8_t *junk)
{
	const gk_ike_suite suite = { .encr = GK_ENCR_AES_GCM_16, .encr_key_bits = 256,
				     .prf = GK_PRF_HMAC_SHA2_256, .integ = 0, .ke = GK_KE_CURVE25519,
				     .kwa = GK_KWA_KW_5649_256 };
	gk_dh *gm = NULL, *gc = NULL;
	gk_wbuf pg, pc, sg, sc, oct, msg, out;
	gk_ike_sa sag = { .initiator = true, .suite = suite }, sac = { .initiator = false, .suite = suite };
	uint8_t mic[64], mic2[64];
	size_t mic_len;
	gk_chunk ni = GK_CHUNK(junk, 32), nr = GK_CHUNK(junk + 32, 32), psk = GK_CHUNK(b->psk, b->psk_len);
	gk_chunk id = GK_CHUNK(junk + 64, 32);
	gk_wbuf_init(&pg, 256);
	gk_wbuf_init(&pc, 256);
	gk_wbuf_init(&sg, 256);
	gk_wbuf_init(&sc, 256);
	gk_wbuf_init(&oct, GK_MAX_MESSAGE * 2);
	gk_wbuf_init(&msg, GK_MAX_MESSAGE);
	gk_wbuf_init(&out, GK_MAX_MESSAGE);
	/* IKE_SA_INIT: both key pairs, both shared secrets, both sets of IKE SA keys */
	gk_status st = gk_dh_new(GK_KE_CURVE25519, &gm);
	if (!st)
		st = gk_dh_public(gm, &pg);
	if (!st)
		st = gk_dh_new(GK_KE_CURVE25519, &gc);
	if (!st)
		st = gk_dh_public(gc, &pc);
	if (!st)
		st = gk_dh_derive(gc, gk_wbuf_chunk(&pg), &sc);
	if (!st)
		st = gk_ike_keys_derive(&sac.keys, &suite, ni, nr, gk_wbuf_chunk(&sc), 1, 2);
	if (!st)
		st = gk_dh_derive(gm, gk_wbuf_chunk(&pc), &sg);
	if (!st)
		st = gk_ike_keys_derive(&sag.keys, &suite, ni, nr, gk_wbuf_chunk(&sg), 1, 2);
	gk_chunk init_req = GK_CHUNK(junk, z->init_req), init_resp = GK_CHUNK(junk, z->init_resp);
	/* GSA_AUTH request: the member's AUTH, sealed; the GCKS opens it and checks the AUTH */
	if (!st)
		st = psk_auth(suite.prf, psk, init_req, nr, GK_CHUNK(sag.keys.sk_pi, sag.keys.p_len), id, &oct, mic, &mic_len);
	gk_sk_keys kg = gk_ike_sa_sk(&sag, true), kc = gk_ike_sa_sk(&sac, true);
	if (!st)
		st = seal_open(&kg, junk, z->auth_req_inner, &msg, &out);
	if (!st)
		st = psk_auth(suite.prf, psk, init_req, nr, GK_CHUNK(sac.keys.sk_pi, sac.keys.p_len), id, &oct, mic2, &mic_len);
	if (!st && CRYPTO_memcmp(mic, mic2, mic_len))
		st = GK_E_AUTH;
	/* the response: the GCKS's AUTH, the group keys wrapped under GSK_w, sealed; the member
	 * opens it, checks the AUTH and unwraps the keys */
	if (!st)
		st = psk_auth(suite.prf, psk, init_resp, ni, GK_CHUNK(sac.keys.sk_pr, sac.keys.p_len), id, &oct, mic, &mic_len);
	size_t tek_len = gk_group_keymat_len(GK_PROTO_ESP, GK_ENCR_AES_GCM_16, 256, 0, 0);
	size_t kek_len = gk_group_keymat_len(GK_PROTO_GIKE_UPDATE, GK_ENCR_AES_GCM_16, 256, 0, GK_KWA_KW_5649_256);
	gk_chunk wc = GK_CHUNK(sac.keys.gsk_w, sac.keys.w_len), wg = GK_CHUNK(sag.keys.gsk_w, sag.keys.w_len);
	gk_wbuf wr;
	gk_wbuf_init(&wr, 4096);
	if (!st)
		st = gk_wrapped_key_build(suite.kwa, wc, 1, 0, GK_CHUNK(junk, tek_len), &wr);
	size_t w1 = wr.len;
	if (!st)
		st = gk_wrapped_key_build(suite.kwa, wc, 2, 0, GK_CHUNK(junk, kek_len), &wr);
	if (!st)
		st = seal_open(&kc, junk, z->auth_resp_inner, &msg, &out);
	uint32_t kid, kwkid;
	if (!st) {
		out.len = 0;
		st = gk_wrapped_key_open(suite.kwa, wg, GK_CHUNK(wr.data, w1), &kid, &kwkid, &out);
	}
	if (!st)
		st = gk_wrapped_key_open(suite.kwa, wg, GK_CHUNK(wr.data + w1, wr.len - w1), &kid, &kwkid, &out);
	if (!st)
		st = psk_auth(suite.prf, psk, init_resp, ni, GK_CHUNK(sag.keys.sk_pr, sag.keys.p_len), id, &oct, mic2, &mic_len);
	if (!st && CRYPTO_memcmp(mic, mic2, mic_len))
		st = GK_E_AUTH;
	gk_wbuf_free(&wr);
	gk_wbuf_free(&pg);
	gk_wbuf_free(&pc);
	gk_wbuf_free(&sg);
	gk_wbuf_free(&sc);
	gk_wbuf_free(&oct);
	gk_wbuf_free(&msg);
	gk_wbuf_free(&out);
	gk_dh_free(gm);
	gk_dh_free(gc);
	gk_ike_keys_wipe(&sag.keys);
	gk_ike_keys_wipe(&sac.keys);
	return st;
}

/* Registrations' worth of crypto per CPU second on this core. */
static double crypto_bound(const bench *b, double seconds, uint64_t *iters)
{
	static uint8_t junk[GK_MAX_MESSAGE];
	crypto_sizes z = {
		.init_req = b->init_req_len ? b->init_req_len : 500,
		.init_resp = b->init_resp_len ? b->init_resp_len : 400,
		/* inner = datagram - header(28) - SK header(4) - IV(8) - ICV(16) - pad length(1) */
		.auth_req_inner = b->auth_req_len > 57 ? b->auth_req_len - 57 : 400,
		.auth_resp_inner = b->auth_resp_len > 57 ? b->auth_resp_len - 57 : 700,
	};
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 131 + 7);
	uint64_t n = 0;
	double c0 = now_s(CLOCK_THREAD_CPUTIME_ID), c1;
	do {
		for (int i = 0; i < 50; i++, n++)
			if (one_registration(b, &z, junk) != GK_OK) {
				fprintf(stderr, "bench: the crypto loop failed\n");
				return 0;
			}
		c1 = now_s(CLOCK_THREAD_CPUTIME_ID);
	} while (c1 - c0 < seconds);
	*iters = n;
	return (double)n / (c1 - c0);
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
	      "                      [--control PATH] [--crypto-seconds S] [--settle-seconds S]\n"
	      "Member i registers as printf(FMT, i) (default fqdn:gm-%u.bench.example) to the group\n"
	      "(default keyid:bench-1); members FIRST .. FIRST+N-1 must be listed in its policy.\n"
	      "--settle-seconds: after the load, wait up to S seconds for gcksd to close the\n"
	      "registration IKE SAs (policy ike-idle-timeout; needs --control) and measure again.\n", f);
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

static void run_load(bench *b)
{
	uv_update_time(b->loop); /* the crypto loop (or a pause) took seconds: timers start now */
	for (int i = 0; i < b->nslots; i++)
		start_next(b, &b->slots[i]);
	if (b->inflight)
		uv_run(b->loop, UV_RUN_DEFAULT);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "gcks", required_argument, NULL, 'g' }, { "pid", required_argument, NULL, 'p' },
		{ "psk-file", required_argument, NULL, 'k' }, { "members", required_argument, NULL, 'n' },
		{ "group", required_argument, NULL, 'G' }, { "id-format", required_argument, NULL, 'i' },
		{ "first", required_argument, NULL, 'f' }, { "concurrency", required_argument, NULL, 'c' },
		{ "control", required_argument, NULL, 'C' }, { "crypto-seconds", required_argument, NULL, 's' },
		{ "settle-seconds", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' }, { 0 },
	};
	static bench B;
	bench *b = &B;
	const char *gcks = NULL, *psk_file = NULL;
	char why[GK_ERR_MAX] = "";
	double crypto_seconds = 3, settle_seconds = 0;
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
		case 's': crypto_seconds = atof(optarg); break;
		case 'S': settle_seconds = atof(optarg); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!gcks || !psk_file || !strstr(b->id_format, "%u") || b->pid <= 0 || b->total < 2 || b->nslots < 1 || b->nslots > MAX_SLOTS ||
	    optind != argc) {
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
	if (proc_cpu(b->pid) < 0) {
		fprintf(stderr, "bench: no process %d to measure\n", b->pid);
		return 2;
	}
	b->loop = uv_default_loop();
	struct sockaddr_storage la;
	memset(&la, 0, sizeof(la));
	la.ss_family = b->gcks.ss_family;
	for (int i = 0; i < b->nslots; i++) {
		char err[256];
		b->slots[i] = (slot){ .b = b, .idx = i };
		/* against a loopback gcksd each slot is a host of its own (127.1.x.y), as members are
		 * in service: from one address they would meet gcksd's half-open cap per source */
		struct sockaddr_in *la4 = (struct sockaddr_in *)&la;
		const struct sockaddr_in *g4 = (const struct sockaddr_in *)&b->gcks;
		if (b->gcks.ss_family == AF_INET && (ntohl(g4->sin_addr.s_addr) >> 24) == 127)
			la4->sin_addr.s_addr = htonl((127u << 24) | (1u << 16) | ((unsigned)(i / 250) << 8) | (unsigned)(i % 250 + 1));
		if (gk_udp_open(b->loop, (struct sockaddr *)&la, recv_cb, &b->slots[i], &b->slots[i].udp, err, sizeof(err))) {
			fprintf(stderr, "bench: %s\n", err);
			return 2;
		}
	}
	uv_timer_init(b->loop, &b->timer);
	b->timer.data = b;
	uv_timer_start(&b->timer, on_timer, 50, 50);

	/* warm-up: one member alone, for the message sizes the crypto loop uses */
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
	printf("message sizes: IKE_SA_INIT %zu/%zu octets, GSA_AUTH %zu/%zu octets (request/response)\n",
	       b->init_req_len, b->init_resp_len, b->auth_req_len, b->auth_resp_len);

	uint64_t citers = 0;
	printf("crypto bound: %.1f s of the crypto of one registration in a loop on one core ...\n", crypto_seconds);
	fflush(stdout);
	double bound = crypto_bound(b, crypto_seconds, &citers);
	if (bound <= 0)
		return 1;
	printf("crypto bound: %.0f registrations/s (%llu iterations, %.1f us each: X25519 x2 keygen + x2 derive,\n"
	       "              IKE keys x2, PSK AUTH x4, SK seal+open x2, key wrap+unwrap x2)\n",
	       bound, (unsigned long long)citers, 1e6 / bound);

	/* the load */
	uint64_t seg = b->total >= 2 * SEGMENT ? SEGMENT : b->total / 2;
	b->at[1] = seg;
	b->at[2] = b->total - seg;
	b->at[3] = b->total;
	b->t0 = now_s(CLOCK_MONOTONIC);
	take_mark(b, 0);
	uint64_t sent0 = b->sent;
	long drops0 = udp_rcvbuf_errors();
	printf("load: %u members, %d in flight, gcksd pid %d: RSS %ld kB before (policy loaded), %ld IKE SAs open\n",
	       b->total, b->nslots, b->pid, b->marks[0].rss_kb, b->marks[0].ike_sas);
	fflush(stdout);
	/* with --settle-seconds the load pauses after the first segment until gcksd has closed the
	 * registration IKE SAs, to see the memory members alone hold; the pause is not counted */
	double paused = 0;
	long closed_at_pause = 0;
	b->pause_at = settle_seconds > 0 && b->control ? b->at[1] : UINT64_MAX;
	run_load(b);
	if (b->paused) {
		double p0 = now_s(CLOCK_MONOTONIC);
		long d0 = udp_rcvbuf_errors();
		closed_at_pause = settle(b, 5, settle_seconds);
		drops0 += udp_rcvbuf_errors() - d0; /* Deletes of idle SAs to sockets not read meanwhile */
		if (b->at[2] <= b->ok)
			take_mark(b, 2); /* a short run: the last segment starts after the pause */
		b->paused = false;
		b->pause_at = UINT64_MAX;
		paused = now_s(CLOCK_MONOTONIC) - p0;
		run_load(b);
	}
	double wall = now_s(CLOCK_MONOTONIC) - b->t0 - paused;
	double cpu_end = proc_cpu(b->pid);
	/* read before settling: gcksd's Deletes of idle SAs then go to sockets nobody reads */
	long drops = udp_rcvbuf_errors() - drops0;
	uint64_t retransmissions = b->sent - sent0 - 2 * (b->done - 1) - b->cookies;
	long open_at_end = settle_seconds > 0 ? settle(b, 4, settle_seconds) : 0;

	const mark *m0 = &b->marks[0], *m1 = &b->marks[1], *m2 = &b->marks[2], *m3 = &b->marks[3];
	uint64_t regs = b->ok;
	double rate = per((double)(regs - m0->regs), wall);
	printf("\nregistrations: %llu ok, %llu failed, in %.1f s\n", (unsigned long long)regs,
	       (unsigned long long)b->failed, wall);
	printf("COOKIE rounds: %llu; retransmissions: %llu; UDP datagrams dropped for full receive buffers (whole system): %ld\n",
	       (unsigned long long)b->cookies, (unsigned long long)retransmissions, drops);
	printf("registrations/s: %.0f overall; crypto bound %.0f/s; ratio %.2f (target >= 0.50)\n", rate, bound,
	       per(rate, bound));
	if (m1->taken && m2->taken && m3->taken) {
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
		printf("gcksd CPU per registration vs crypto bound: first %.2f, last %.2f (x the whole crypto of one registration)\n",
		       c1 / 1e3 * bound, c2 / 1e3 * bound);
		printf("gcksd RSS before the load, policy of %u members loaded: %ld kB = %.0f B per listed member\n",
		       b->total, m0->rss_kb, per(m0->rss_kb * 1024.0, (double)b->total));
		static const int order[] = { 1, 5, 3, 4 };
		for (size_t k = 0; k < 4; k++) {
			const mark *m = &b->marks[order[k]];
			if (!m->taken)
				continue;
			printf("gcksd RSS at %llu members held, %ld IKE SAs open: %ld kB = %.0f B/member in all "
			       "(%.0f B/member added since the start)\n",
			       (unsigned long long)m->regs, m->ike_sas, m->rss_kb, per(m->rss_kb * 1024.0, (double)m->regs),
			       per((m->rss_kb - m0->rss_kb) * 1024.0, (double)(m->regs - m0->regs)));
		}
		if (b->marks[4].taken && open_at_end > 0)
			printf("gcksd CPU closing idle IKE SAs: %.3f ms per SA\n",
			       per(b->marks[4].gcksd_cpu - cpu_end, (double)open_at_end) * 1e3);
		(void)closed_at_pause;
		const mark *mm = b->marks[4].taken ? &b->marks[4] : m3;
		double bpm = per(mm->rss_kb * 1024.0, (double)mm->regs);
		printf("\ntargets:\n");
		printf("  registrations/s >= 0.50 x crypto bound:          %.2f  %s\n", per(rate, bound),
		       per(rate, bound) >= 0.5 ? "met" : "MISSED");
		printf("  gcksd CPU/registration flat (last/first <= 1.10): %.2f  %s\n", per(c2, c1),
		       per(c2, c1) <= 1.10 ? "met" : "MISSED");
		printf("  gcksd RSS < 2048 B per member held (%llu, %s): %.0f B  %s\n", (unsigned long long)mm->regs,
		       b->marks[4].taken ? "IKE SAs closed" : "IKE SAs still open", bpm, bpm < 2048 ? "met" : "MISSED");
	}
	for (int i = 0; i < b->nslots; i++)
		gk_udp_close(b->slots[i].udp);
	uv_close((uv_handle_t *)&b->timer, NULL);
	uv_run(b->loop, UV_RUN_NOWAIT);
	uv_loop_close(b->loop);
	OPENSSL_cleanse(b->psk, sizeof(b->psk));
	return b->failed ? 1 : 0;
}
