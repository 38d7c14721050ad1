/* Inband rekey benchmark (make bench-inband, test/bench/inband.sh): one libuv process registers
 * --members member cores (gk_gm, the member library gmd runs) to an inband group of a gcksd
 * running as a separate process and keeps them, each holding its IKE SA as gmd does; then it
 * runs --rekey-cmd (gcksctl rekey GROUP), on SIGUSR1 with --wait-signal, else at once, and lets
 * the member cores answer the GSA_INBAND_REKEY requests (RFC 9838 2.4.3: each verified by
 * gk_gm_state_check before it is acknowledged). It prints
 *   - gcksd's CPU per registration and its resident memory per member held (IKE SA and all);
 *   - the time from the rekey command until every member has the new keys, and until gcksd
 *     counts every GSA_INBAND_REKEY acknowledged (its status counters);
 *   - gcksd's CPU time from the command until then, per member;
 *   - GSA_INBAND_REKEY datagrams received beyond one per member (gcksd's retransmissions);
 *   - the rekey window in CLOCK_MONOTONIC seconds, for inband.sh to pick out the registrations
 *     a second generator made meanwhile.
 * Members share --sockets UDP sockets (gk_gm_owns tells which core a datagram is for), each on
 * an address of its own (127.3.x.y against a loopback gcksd).
 * Exit status: 0 when every member registered and acknowledged the rekey, 1 otherwise, 2 on
 * usage errors. */
#include <arpa/inet.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <uv.h>
#include "addr.h"
#include "iana.h"
#include "log.h"
#include "member/gm.h"
#include "psk_file.h"
#include "udp.h"
#include "bench_util.h"

#define MAX_SOCKETS 4096

typedef struct bench bench;

typedef struct member {
	bench *b;
	uint32_t idx;
	int sock;
	gk_gm *gm;
	gk_gm_config cfg;
	bool started, registered, failed, rekeyed, closed;
	bool cookie_seen;      /* a COOKIE answer came already */
} member;

typedef struct sock {
	bench *b;
	int idx;
	gk_udp *udp;
} sock;

struct bench {
	uv_loop_t *loop;
	uv_timer_t tick, poll;
	uv_signal_t sig;
	uv_process_t proc;
	struct sockaddr_storage gcks;
	sock socks[MAX_SOCKETS];
	int nsocks;
	member *m;
	uint32_t total, first, next, concurrency, inflight;
	uint32_t registered, failed, rekeyed, closed;
	uint8_t psk[GK_PSK_MAX];
	size_t psk_len;
	const char *id_format, *group, *control, *rekey_cmd;
	gk_ident group_id;
	int pid;
	bool registering, triggered, done, members_done, cmd_exited;
	int cmd_status;
	double t_trigger, t_members, t_acked, cpu_trigger, cpu_acked, timeout;
	long acked0, failed0, acked, gfailed, sent0, sent;
	uint64_t rx_after;  /* datagrams from gcksd after the command */
};

static int64_t clock_ms(void *ctx)
{
	return (int64_t)uv_now(((member *)ctx)->b->loop);
}

static void send_cb(void *ctx, const uint8_t *data, size_t len)
{
	member *m = ctx;
	gk_udp_send(m->b->socks[m->sock].udp, (const struct sockaddr *)&m->b->gcks, data, len);
}

static void start_next(bench *b);

static void event_cb(void *ctx, const gk_gm_event *ev)
{
	member *m = ctx;
	bench *b = m->b;
	switch (ev->type) {
	case GK_GM_REGISTERED:
		if (!m->registered && !m->failed) {
			m->registered = true;
			b->registered++;
			b->inflight--;
		}
		break;
	case GK_GM_REFUSED:
	case GK_GM_FAILED:
		if (!m->registered && !m->failed) {
			m->failed = true;
			b->failed++;
			b->inflight--;
			if (b->failed <= 10) {
				char t[GK_IDENT_TEXT_MAX];
				fprintf(stderr, "bench_inband: member %s: %s%s%s\n", gk_ident_text(&m->cfg.id, t),
					ev->why ? ev->why : "failed", ev->notify ? ": " : "",
					ev->notify ? gk_iana_str(GK_REG_NOTIFY, ev->notify) : "");
			}
		}
		break;
	case GK_GM_REKEYED:
		if (b->triggered && !m->rekeyed) {
			m->rekeyed = true;
			if (++b->rekeyed == b->registered) {
				b->t_members = bench_now(CLOCK_MONOTONIC);
				b->members_done = true;
			}
		}
		break;
	case GK_GM_CLOSED:
	case GK_GM_DEAD:
	case GK_GM_EXCLUDED:
		if (!m->closed) {
			m->closed = true;
			b->closed++;
		}
		break;
	default:
		break;
	}
}

static void recv_cb(void *ctx, const uint8_t *data, size_t len, const struct sockaddr *peer,
		    const struct sockaddr *local)
{
	sock *s = ctx;
	bench *b = s->b;
	(void)peer;
	(void)local;
	if (b->triggered)
		b->rx_after++;
	/* the members on this socket: s->idx, s->idx + nsocks, ... */
	for (uint32_t i = (uint32_t)s->idx; i < b->next; i += (uint32_t)b->nsocks) {
		member *m = &b->m[i];
		if (m->gm && gk_gm_owns(m->gm, data, len)) {
			/* a second COOKIE (the answer to a retransmitted first request) is dropped: the
			 * member core, holding a cookie already, dereferences the missing KE payload of
			 * such an answer (member/gm_core.c on_init_resp) */
			if (len >= 36 && data[18] == GK_EXCH_IKE_SA_INIT && data[16] == GK_PL_NOTIFY &&
			    gk_get_u16(data + 34) == GK_N_COOKIE) {
				if (m->cookie_seen)
					break;
				m->cookie_seen = true;
			}
			gk_gm_input(m->gm, data, len);
			break;
		}
	}
	start_next(b);
}

static void start_member(bench *b, member *m)
{
	char text[GK_IDENT_TEXT_MAX], why[GK_ERR_MAX] = "";
	const char *u = strstr(b->id_format, "%u");
	snprintf(text, sizeof(text), "%.*s%u%s", (int)(u - b->id_format), b->id_format, b->first + m->idx, u + 2);
	gk_gm_config_default(&m->cfg);
	m->cfg.retransmit_ms = 1000;
	m->cfg.retransmit_tries = 5;
	m->cfg.retry_ms = 0;         /* a failure is counted, not retried */
	m->cfg.liveness_ms = 0;      /* nothing but the rekey on the kept IKE SAs */
	m->cfg.ike_lifetime_s = 0;
	m->cfg.psk = b->psk;
	m->cfg.psk_len = b->psk_len;
	m->cfg.groups[0] = b->group_id;
	m->cfg.ngroups = 1;
	m->started = true;
	b->inflight++;
	gk_gm_env env = { .rnd = gk_rand_system(), .clock = { .now_ms = clock_ms, .ctx = m }, .send = send_cb,
			  .send_ctx = m, .event = event_cb, .event_ctx = m };
	if (gk_ident_parse(text, &m->cfg.id, why, sizeof(why)) || gk_gm_new(&m->cfg, &env, &m->gm) ||
	    gk_gm_start(m->gm)) {
		fprintf(stderr, "bench_inband: member %s: cannot start the member core %s\n", text, why);
		m->failed = true;
		b->failed++;
		b->inflight--;
	}
}

static void start_next(bench *b)
{
	while (b->next < b->total && b->inflight < b->concurrency)
		start_member(b, &b->m[b->next++]);
	if (b->registering && b->next >= b->total && !b->inflight) {
		b->registering = false;
		uv_stop(b->loop); /* every registration answered */
	}
}

static void on_tick(uv_timer_t *t)
{
	bench *b = t->data;
	for (uint32_t i = 0; i < b->next; i++)
		if (b->m[i].gm)
			gk_gm_tick(b->m[i].gm);
	start_next(b);
}

/* The status counters of the group: acknowledged and failed GSA_INBAND_REKEY. */
static int group_counters(bench *b, long *acked, long *failed, long *sent)
{
	char req[512], buf[65536];
	snprintf(req, sizeof(req), "status %s", b->group);
	if (bench_control(b->control, req, buf, sizeof(buf)))
		return -1;
	*acked = bench_json_long(buf, "inband_rekeys_acknowledged", -1);
	*failed = bench_json_long(buf, "inband_rekeys_failed", -1);
	*sent = bench_json_long(buf, "inband_rekeys_sent", -1);
	return *acked < 0 || *failed < 0 ? -1 : 0;
}

static void on_poll(uv_timer_t *t)
{
	bench *b = t->data;
	long a, f, s;
	double now = bench_now(CLOCK_MONOTONIC);
	if (!group_counters(b, &a, &f, &s)) {
		b->acked = a - b->acked0;
		b->gfailed = f - b->failed0;
		b->sent = s - b->sent0;
		if (b->acked + b->gfailed >= (long)b->registered) {
			b->t_acked = now;
			b->cpu_acked = bench_proc_cpu(b->pid);
			b->done = true;
		}
	}
	if (b->done || now - b->t_trigger > b->timeout) {
		uv_timer_stop(&b->poll);
		uv_timer_stop(&b->tick);
		uv_stop(b->loop);
	}
}

static void on_exit_cb(uv_process_t *p, int64_t status, int sig)
{
	bench *b = p->data;
	b->cmd_exited = true;
	b->cmd_status = sig ? 128 + sig : (int)status;
	uv_close((uv_handle_t *)p, NULL);
}

static void trigger(bench *b)
{
	char *args[] = { (char *)"/bin/sh", (char *)"-c", (char *)b->rekey_cmd, NULL };
	uv_process_options_t o = { .file = "/bin/sh", .args = args, .exit_cb = on_exit_cb };
	uv_stdio_container_t io[3] = { { .flags = UV_IGNORE }, { .flags = UV_INHERIT_FD, .data.fd = 1 },
				       { .flags = UV_INHERIT_FD, .data.fd = 2 } };
	o.stdio = io;
	o.stdio_count = 3;
	if (group_counters(b, &b->acked0, &b->failed0, &b->sent0)) {
		fprintf(stderr, "bench_inband: no status of %s from %s\n", b->group, b->control);
		uv_stop(b->loop);
		return;
	}
	b->triggered = true;
	b->proc.data = b;
	uv_update_time(b->loop);
	b->t_trigger = bench_now(CLOCK_MONOTONIC);
	b->cpu_trigger = bench_proc_cpu(b->pid);
	int rc = uv_spawn(b->loop, &b->proc, &o);
	if (rc) {
		fprintf(stderr, "bench_inband: %s: %s\n", b->rekey_cmd, uv_strerror(rc));
		uv_stop(b->loop);
		return;
	}
	uv_timer_start(&b->poll, on_poll, 20, 20);
}

static void on_signal(uv_signal_t *s, int signum)
{
	(void)signum;
	uv_signal_stop(s);
	trigger(s->data);
}

static void usage(FILE *f)
{
	fputs("usage: bench_inband --gcks ADDR:PORT --pid GCKSD_PID --control PATH --psk-file FILE\n"
	      "                    --members N --rekey-cmd CMD [--group ID] [--id-format FMT] [--first I]\n"
	      "                    [--concurrency C] [--sockets S] [--wait-signal] [--timeout S]\n"
	      "Registers members FIRST .. FIRST+N-1 (printf(FMT, i), default fqdn:gm-%u.bench.example)\n"
	      "to the inband group ID (default keyid:inband-1), C at a time (default 128), keeps their\n"
	      "IKE SAs, then runs CMD with /bin/sh (at once, or on SIGUSR1 with --wait-signal) and\n"
	      "waits up to S seconds (default 300) until gcksd counts every GSA_INBAND_REKEY answered.\n", f);
}

static double per(double a, double b) { return b > 0 ? a / b : 0; }

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "gcks", required_argument, NULL, 'g' },        { "pid", required_argument, NULL, 'p' },
		{ "control", required_argument, NULL, 'C' },     { "psk-file", required_argument, NULL, 'k' },
		{ "members", required_argument, NULL, 'n' },     { "rekey-cmd", required_argument, NULL, 'R' },
		{ "group", required_argument, NULL, 'G' },       { "id-format", required_argument, NULL, 'i' },
		{ "first", required_argument, NULL, 'f' },       { "concurrency", required_argument, NULL, 'c' },
		{ "sockets", required_argument, NULL, 's' },     { "wait-signal", no_argument, NULL, 'W' },
		{ "timeout", required_argument, NULL, 'T' },     { "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static bench B;
	bench *b = &B;
	const char *gcks = NULL, *psk_file = NULL;
	char why[GK_ERR_MAX] = "";
	bool wait_signal = false;
	int c;
	b->id_format = "fqdn:gm-%u.bench.example";
	b->group = "keyid:inband-1";
	b->concurrency = 128;
	b->nsocks = 500;
	b->timeout = 300;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'g': gcks = optarg; break;
		case 'p': b->pid = atoi(optarg); break;
		case 'C': b->control = optarg; break;
		case 'k': psk_file = optarg; break;
		case 'n': b->total = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'R': b->rekey_cmd = optarg; break;
		case 'G': b->group = optarg; break;
		case 'i': b->id_format = optarg; break;
		case 'f': b->first = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'c': b->concurrency = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 's': b->nsocks = atoi(optarg); break;
		case 'W': wait_signal = true; break;
		case 'T': b->timeout = atof(optarg); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!gcks || !psk_file || !b->control || !b->rekey_cmd || !strstr(b->id_format, "%u") || b->pid <= 0 ||
	    b->total < 1 || b->concurrency < 1 || b->nsocks < 1 || b->nsocks > MAX_SOCKETS || b->timeout <= 0 ||
	    optind != argc) {
		usage(stderr);
		return 2;
	}
	gk_log_init("bench_inband", GK_LOG_ERROR);
	if (gk_addr_parse(gcks, 848, &b->gcks, why, sizeof(why)) || gk_ident_parse(b->group, &b->group_id, why, sizeof(why))) {
		fprintf(stderr, "bench_inband: %s\n", why);
		return 2;
	}
	uint8_t *p = NULL;
	if (gk_psk_file_read(psk_file, &p, &b->psk_len, why, sizeof(why))) {
		fprintf(stderr, "bench_inband: %s\n", why);
		return 2;
	}
	memcpy(b->psk, p, b->psk_len);
	gk_psk_free(p, b->psk_len);
	if (bench_proc_cpu(b->pid) < 0) {
		fprintf(stderr, "bench_inband: no process %d to measure\n", b->pid);
		return 2;
	}
	if (!(b->m = calloc(b->total, sizeof(*b->m)))) {
		fprintf(stderr, "bench_inband: out of memory\n");
		return 2;
	}
	/* SIGUSR1 is ours from here on, before anyone is told we are ready */
	b->loop = uv_default_loop();
	uv_signal_init(b->loop, &b->sig);
	b->sig.data = b;
	if (wait_signal)
		uv_signal_start(&b->sig, on_signal, SIGUSR1);
	struct sockaddr_storage la;
	memset(&la, 0, sizeof(la));
	la.ss_family = b->gcks.ss_family;
	for (int i = 0; i < b->nsocks; i++) {
		char err[256];
		b->socks[i] = (sock){ .b = b, .idx = i };
		struct sockaddr_in *la4 = (struct sockaddr_in *)&la;
		const struct sockaddr_in *g4 = (const struct sockaddr_in *)&b->gcks;
		if (b->gcks.ss_family == AF_INET && (ntohl(g4->sin_addr.s_addr) >> 24) == 127)
			la4->sin_addr.s_addr = htonl((127u << 24) | (3u << 16) | ((unsigned)(i / 250) << 8) | (unsigned)(i % 250 + 1));
		if (gk_udp_open(b->loop, (struct sockaddr *)&la, recv_cb, &b->socks[i], &b->socks[i].udp, err, sizeof(err))) {
			fprintf(stderr, "bench_inband: %s\n", err);
			return 2;
		}
	}
	for (uint32_t i = 0; i < b->total; i++)
		b->m[i] = (member){ .b = b, .idx = i, .sock = (int)(i % (uint32_t)b->nsocks) };
	uv_timer_init(b->loop, &b->tick);
	b->tick.data = b;
	uv_timer_init(b->loop, &b->poll);
	b->poll.data = b;
	uv_timer_start(&b->tick, on_tick, 100, 100);

	/* registrations */
	long rss0 = bench_proc_kb(b->pid, "VmRSS");
	double cpu0 = bench_proc_cpu(b->pid), t0 = bench_now(CLOCK_MONOTONIC);
	printf("inband: %u members register to %s, %u in flight, over %d sockets; gcksd RSS %ld kB before\n", b->total,
	       b->group, b->concurrency, b->nsocks, rss0);
	fflush(stdout);
	b->registering = true;
	start_next(b);
	if (b->registering)
		uv_run(b->loop, UV_RUN_DEFAULT);
	double t1 = bench_now(CLOCK_MONOTONIC), cpu1 = bench_proc_cpu(b->pid);
	long rss1 = bench_proc_kb(b->pid, "VmRSS");
	printf("registered: %u, failed %u, in %.1f s (%.0f/s); gcksd CPU %.3f ms per registration\n", b->registered,
	       b->failed, t1 - t0, per(b->registered, t1 - t0), per(cpu1 - cpu0, b->registered) * 1e3);
	printf("holding %u IKE SAs: gcksd RSS %ld kB, %.0f B per member held (IKE SA and registration; target <= 1536 per IKE SA)\n",
	       b->registered, rss1, per((rss1 - rss0) * 1024.0, b->registered));
	fflush(stdout);
	int rc = 1;
	if (!b->registered)
		goto out;

	/* the rekey */
	if (!wait_signal)
		trigger(b);
	uv_run(b->loop, UV_RUN_DEFAULT);
	if (!b->triggered)
		goto out;
	if (b->cmd_exited && b->cmd_status)
		printf("rekey command exited with %d\n", b->cmd_status);
	printf("rekey window (CLOCK_MONOTONIC): %.6f %.6f\n", b->t_trigger, b->done ? b->t_acked : bench_now(CLOCK_MONOTONIC));
	printf("GSA_INBAND_REKEY: %ld sent, %ld acknowledged, %ld failed (gcksd's counters); %u of %u members rekeyed, "
	       "%u IKE SAs closed\n", b->sent, b->acked, b->gfailed, b->rekeyed, b->registered, b->closed);
	if (b->members_done)
		printf("every member had the new keys %.3f s after the rekey command\n", b->t_members - b->t_trigger);
	if (b->done) {
		printf("gcksd counted every GSA_INBAND_REKEY answered %.3f s after the rekey command\n", b->t_acked - b->t_trigger);
		printf("gcksd CPU for the rekey: %.3f s, %.1f us per member\n", b->cpu_acked - b->cpu_trigger,
		       per(b->cpu_acked - b->cpu_trigger, b->registered) * 1e6);
	} else {
		printf("gcksd did not count every GSA_INBAND_REKEY answered within %.0f s\n", b->timeout);
	}
	printf("datagrams from gcksd after the command: %llu, %lld beyond one per member (retransmissions)\n",
	       (unsigned long long)b->rx_after, (long long)b->rx_after - (long long)b->registered);
	rc = b->done && !b->failed && b->acked == (long)b->registered ? 0 : 1;
out:
	for (uint32_t i = 0; i < b->total; i++)
		gk_gm_free(b->m[i].gm);
	for (int i = 0; i < b->nsocks; i++)
		gk_udp_close(b->socks[i].udp);
	uv_close((uv_handle_t *)&b->tick, NULL);
	uv_close((uv_handle_t *)&b->poll, NULL);
	uv_close((uv_handle_t *)&b->sig, NULL);
	uv_run(b->loop, UV_RUN_NOWAIT);
	uv_loop_close(b->loop);
	free(b->m);
	OPENSSL_cleanse(b->psk, sizeof(b->psk));
	return rc;
}
