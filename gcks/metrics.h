/* gcksd's metrics in the Prometheus text exposition format (doc/metrics.md lists every one):
 * the core's counters (gk_gcks_stats, each group's gk_group_counters) and the process's own,
 * which the daemon measures. No sockets here: gcksd serves the text over HTTP
 * (gcks/metrics_http.c), a unit test reads it from a FILE. */
#ifndef GK_METRICS_H
#define GK_METRICS_H

#include <stdio.h>
#include "gcks.h"

/* What the process measured (getrusage, /proc/self/statm); negative: not known, left out. */
typedef struct gk_metrics_proc {
	double cpu_seconds;
	double rss_bytes;
	int64_t start_time;           /* unix seconds gcksd started */
	int64_t udp_send_dropped;     /* datagrams its UDP sockets could not send; negative: not known */
} gk_metrics_proc;

/* Writes every metric (store: its transaction latencies, NULL: none); now is the wall clock (unix seconds) the rekey ages are measured at. */
void gk_metrics_write(const gk_gcks *g, const gk_store *store, const gk_metrics_proc *proc, int64_t now, FILE *f);

#endif
