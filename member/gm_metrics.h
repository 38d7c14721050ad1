/* gmd --metrics: the member facts of `gmd status` (gm_groups.h counters) in the Prometheus text
 * format, GET /metrics over HTTP/1.1 on gmd's libuv loop (common/base/http_server.c, with its
 * bounds, as gcksd's endpoint). A gm_metrics owns its server; the group manager is the
 * caller's. */
#ifndef GK_GM_METRICS_H
#define GK_GM_METRICS_H

#include <uv.h>
#include "gm_groups.h"

typedef struct gm_metrics gm_metrics;

/* spec: ADDR:PORT ([ADDR]:PORT for IPv6) or PORT alone (127.0.0.1). */
gk_status gm_metrics_open(uv_loop_t *loop, const char *spec, const gk_gm_groups *groups, int64_t started,
			  gm_metrics **out, char *err, size_t errlen);
void gm_metrics_close(gm_metrics *m);

#endif
