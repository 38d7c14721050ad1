/* gcksd --metrics: the Prometheus scrape endpoint, GET /metrics over HTTP/1.1 on gcksd's libuv
 * loop (common/base/http_server.c, with its bounds). A gk_metrics_http owns its server; the
 * gcks and store are the caller's. */
#ifndef GK_METRICS_HTTP_H
#define GK_METRICS_HTTP_H

#include <uv.h>
#include "gcks.h"

typedef struct gk_metrics_http gk_metrics_http;

/* spec: ADDR:PORT ([ADDR]:PORT for IPv6) or PORT alone (127.0.0.1). */
/* Counts what the daemon's own sockets could not send (gk_metrics_proc.udp_send_dropped). */
typedef uint64_t (*gk_metrics_udp_dropped_fn)(void *ctx);

gk_status gk_metrics_http_open(uv_loop_t *loop, const char *spec, const gk_gcks *g, const gk_store *store,
			       int64_t started, gk_metrics_udp_dropped_fn udp_dropped, void *udp_ctx,
			       gk_metrics_http **out, char *err, size_t errlen);
void gk_metrics_http_close(gk_metrics_http *m);

#endif
