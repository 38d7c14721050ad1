/* gcksd --metrics: the Prometheus scrape endpoint, GET /metrics over HTTP/1.1 on gcksd's libuv
 * loop (common/base/http.c parses the request). Bounded: GK_HTTP_HEAD_MAX octets of request,
 * METRICS_CONN_MAX connections at once, METRICS_TIMEOUT_MS from accept to the answer sent;
 * one answer per connection. A gk_metrics_http owns its handles; the gcks is the caller's. */
#ifndef GK_METRICS_HTTP_H
#define GK_METRICS_HTTP_H

#include <uv.h>
#include "gcks.h"

typedef struct gk_metrics_http gk_metrics_http;

/* spec: ADDR:PORT ([ADDR]:PORT for IPv6) or PORT alone (127.0.0.1). */
gk_status gk_metrics_http_open(uv_loop_t *loop, const char *spec, const gk_gcks *g, const gk_store *store,
			       int64_t started, gk_metrics_http **out, char *err, size_t errlen);
void gk_metrics_http_close(gk_metrics_http *m);

#endif
