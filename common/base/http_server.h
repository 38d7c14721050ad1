/* One GET path served over HTTP/1.1 on a libuv loop (gcksd --metrics, gmd --metrics; the
 * request parser is http.c). Bounded: GK_HTTP_HEAD_MAX octets of request,
 * GK_HTTP_SERVER_CONN_MAX connections at once, GK_HTTP_SERVER_TIMEOUT_MS from accept to the
 * answer sent; one answer per connection. A gk_http_server owns its handles and frees itself
 * once they are closed; ctx is the caller's. */
#ifndef GK_HTTP_SERVER_H
#define GK_HTTP_SERVER_H

#include <stdio.h>
#include <uv.h>
#include "status.h"

#define GK_HTTP_SERVER_CONN_MAX 8
#define GK_HTTP_SERVER_TIMEOUT_MS 5000

typedef struct gk_http_server gk_http_server;
/* Writes the body of a 200 answer (nothing written: 503). */
typedef void (*gk_http_body_fn)(void *ctx, FILE *f);

/* spec: ADDR:PORT ([ADDR]:PORT for IPv6) or PORT alone (127.0.0.1); option names the setting in
 * errors ("--metrics"). */
gk_status gk_http_server_open(uv_loop_t *loop, const char *option, const char *spec, const char *path,
			      const char *ctype, gk_http_body_fn body, void *ctx, gk_http_server **out, char *err,
			      size_t errlen);
void gk_http_server_close(gk_http_server *m);

#endif
