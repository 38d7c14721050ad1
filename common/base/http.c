/* A minimal HTTP/1.1 request head parser and answer writer (RFC 9112), for scrapes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "http.h"

/* tchar of RFC 9110 5.6.2 */
static bool tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* The end of the line starting at p (its LF), or NULL when it is not complete. */
static const char *line_end(const char *p, const char *end)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	return nl;
}

/* Judges the request line [p, nl) (CR before nl stripped). */
static int request_line(const char *p, const char *nl, const char *path, gk_http_req *req)
{
	const char *e = nl > p && nl[-1] == '\r' ? nl - 1 : nl;
	const char *sp1 = memchr(p, ' ', (size_t)(e - p));
	if (!sp1 || sp1 == p)
		return 400;
	for (const char *c = p; c < sp1; c++)
		if (!tchar(*c))
			return 400;
	const char *t = sp1 + 1, *sp2 = memchr(t, ' ', (size_t)(e - t));
	if (!sp2 || sp2 == t)
		return 400;
	for (const char *c = t; c < sp2; c++)
		if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f)
			return 400;
	const char *v = sp2 + 1;
	size_t vl = (size_t)(e - v);
	if (vl != 8 || memcmp(v, "HTTP/", 5) || v[5] < '0' || v[5] > '9' || v[6] != '.' || v[7] < '0' || v[7] > '9')
		return 400;
	if (v[5] != '1')
		return 505;
	size_t ml = (size_t)(sp1 - p), tl = (size_t)(sp2 - t);
	if (tl > GK_HTTP_TARGET_MAX)
		return 414;
	bool get = ml == 3 && !memcmp(p, "GET", 3), head = ml == 4 && !memcmp(p, "HEAD", 4);
	if (!get && !head)
		return 405;
	req->head = head;
	const char *q = memchr(t, '?', tl);
	size_t pl = q ? (size_t)(q - t) : tl;
	if (pl != strlen(path) || memcmp(t, path, pl))
		return 404;
	return 200;
}

/* A header field line: name, colon, a value of visible characters, spaces and tabs (RFC 9110 5). */
static bool field_line(const char *p, const char *e)
{
	const char *c = p;
	while (c < e && tchar(*c))
		c++;
	if (c == p || c == e || *c != ':')
		return false;
	for (c++; c < e; c++)
		if (((unsigned char)*c < 0x20 && *c != '\t') || *c == 0x7f)
			return false;
	return true;
}

#define METHOD_MAX 16 /* octets of a method name: ours are GET and HEAD */

/* A request line still incomplete: judged as far as it goes, so that a slow sender of a bad
 * request is answered at once rather than when its line ends. */
static int partial_line(const char *buf, const char *end)
{
	const char *sp = memchr(buf, ' ', (size_t)(end - buf));
	for (const char *c = buf; c < (sp ? sp : end); c++)
		if (!tchar(*c))
			return 400;
	if (!sp)
		return end - buf > METHOD_MAX ? 400 : 0;
	const char *sp2 = memchr(sp + 1, ' ', (size_t)(end - sp - 1));
	if (!sp2 && end - sp - 1 > GK_HTTP_TARGET_MAX)
		return 414;
	return end - buf >= GK_HTTP_HEAD_MAX ? 400 : 0;
}

int gk_http_request(const char *buf, size_t len, const char *path, gk_http_req *req)
{
	const char *end = buf + len, *nl = line_end(buf, end);
	memset(req, 0, sizeof(*req));
	if (!nl)
		return partial_line(buf, end);
	int st = request_line(buf, nl, path, req);
	if (st != 200)
		return st;
	for (const char *p = nl + 1; p < end;) {
		const char *e = line_end(p, end);
		if (!e)
			break;
		const char *le = e > p && e[-1] == '\r' ? e - 1 : e;
		if (le == p) {
			req->head_len = (size_t)(e + 1 - buf);
			return 200;
		}
		if (!field_line(p, le))
			return 400;
		p = e + 1;
	}
	return len >= GK_HTTP_HEAD_MAX ? 431 : 0;
}

const char *gk_http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Error";
	}
}

size_t gk_http_answer(int status, const char *content_type, const char *body, size_t body_len, bool head,
		      char **out)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	*out = NULL;
	if (!f)
		return 0;
	fprintf(f, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%sConnection: close\r\n\r\n",
		status, gk_http_reason(status), content_type ? content_type : "text/plain; charset=utf-8", body_len,
		status == 405 ? "Allow: GET, HEAD\r\n" : "");
	if (!head && body_len)
		fwrite(body, 1, body_len, f);
	if (fclose(f) || !buf) {
		free(buf);
		return 0;
	}
	*out = buf;
	return len;
}
