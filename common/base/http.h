/* The request side of a minimal HTTP/1.1 responder (RFC 9112) for one read-only resource, such as
 * a Prometheus scrape (gcksd --metrics, gmd --metrics): it parses a request head and names the
 * status to answer, and formats the answer. No sockets here; the caller reads into a buffer of
 * GK_HTTP_HEAD_MAX octets at most, calls gk_http_request after each read, and closes the
 * connection after the one answer (Connection: close). Bodies, chunked requests, pipelining
 * and keep-alive are not supported: a scraper needs none of them, and each is a way to hold a
 * connection open. Hand-written rather than libmicrohttpd, whose own threads or select loop
 * would sit beside libuv and take locks around the core, for one GET of one path. */
#ifndef GK_HTTP_H
#define GK_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#define GK_HTTP_HEAD_MAX 4096   /* octets of a request head: beyond it 431 */
#define GK_HTTP_TARGET_MAX 256  /* octets of the request target: beyond it 414 */

typedef struct gk_http_req {
	bool head;                  /* HEAD: the answer carries no body */
	size_t head_len;            /* octets of the request head (through the empty line) */
} gk_http_req;

/* Parses the request head in buf[0..len). Returns 0 while it is incomplete and may still be
 * valid (read more), else the status to answer: 200 for GET or HEAD of path (a query string is
 * ignored), 400 malformed, 404 another path, 405 another method, 414 target too long, 431 head
 * too long (len reached GK_HTTP_HEAD_MAX without its end), 505 an HTTP version other than 1.x.
 * A request line is judged as soon as it is complete, without waiting for header fields. */
int gk_http_request(const char *buf, size_t len, const char *path, gk_http_req *req);

/* The reason phrase of a status this responder sends ("Not Found"), "Error" for others. */
const char *gk_http_reason(int status);

/* Writes an answer: status line, Content-Type (NULL: text/plain), Content-Length, Connection:
 * close, Allow for 405, then the body unless head. Returns the octets written into a malloc'd
 * *out (the caller frees it), or 0 when out of memory. */
size_t gk_http_answer(int status, const char *content_type, const char *body, size_t body_len, bool head,
		      char **out);

#endif
