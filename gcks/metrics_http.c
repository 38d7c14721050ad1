/* The scrape endpoint of gcksd --metrics (metrics_http.h): gcksd's metrics written by
 * gk_metrics_write, served by the bounded responder of common/base/http_server.c. */
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include "metrics_http.h"
#include "http_server.h"
#include "metrics.h"
#include "prom.h"

struct gk_metrics_http {
	gk_http_server *srv;
	const gk_gcks *gcks;
	const gk_store *store;        /* its transaction latencies; not owned */
	int64_t started;
	gk_metrics_udp_dropped_fn udp_dropped; /* NULL: not known */
	void *udp_ctx;
};

/* The process's CPU time and resident set (Linux /proc/self/statm), for process_* metrics. */
static void measure(gk_metrics_proc *p, int64_t started)
{
	struct rusage ru;
	unsigned long pages = 0, resident = 0;
	p->cpu_seconds = -1;
	p->rss_bytes = -1;
	p->start_time = started;
	if (!getrusage(RUSAGE_SELF, &ru))
		p->cpu_seconds = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
				 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	FILE *f = fopen("/proc/self/statm", "re");
	if (f) {
		if (fscanf(f, "%lu %lu", &pages, &resident) == 2)
			p->rss_bytes = (double)resident * (double)sysconf(_SC_PAGESIZE);
		fclose(f);
	}
}

static void write_body(void *ctx, FILE *f)
{
	const gk_metrics_http *m = ctx;
	gk_metrics_proc p;
	measure(&p, m->started);
	p.udp_send_dropped = m->udp_dropped ? (int64_t)m->udp_dropped(m->udp_ctx) : -1;
	gk_metrics_write(m->gcks, m->store, &p, (int64_t)time(NULL), f);
}

gk_status gk_metrics_http_open(uv_loop_t *loop, const char *spec, const gk_gcks *g, const gk_store *store,
			       int64_t started, gk_metrics_udp_dropped_fn udp_dropped, void *udp_ctx,
			       gk_metrics_http **out, char *err, size_t errlen)
{
	gk_metrics_http *m = calloc(1, sizeof(*m));
	*out = NULL;
	if (!m)
		return GK_E_NOMEM;
	m->gcks = g;
	m->store = store;
	m->started = started;
	m->udp_dropped = udp_dropped;
	m->udp_ctx = udp_ctx;
	gk_status st = gk_http_server_open(loop, "--metrics", spec, "/metrics", GK_PROM_CONTENT_TYPE, write_body, m,
					   &m->srv, err, errlen);
	if (st) {
		free(m);
		return st;
	}
	*out = m;
	return GK_OK;
}

/* The server writes no body once closed: m goes at once. */
void gk_metrics_http_close(gk_metrics_http *m)
{
	if (!m)
		return;
	gk_http_server_close(m->srv);
	free(m);
}
