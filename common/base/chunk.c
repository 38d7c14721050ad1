#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "chunk.h"

#define GK_WBUF_DEFAULT_MAX (1u << 20)

bool gk_chunk_eq(gk_chunk a, gk_chunk b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

void gk_wbuf_init(gk_wbuf *w, size_t max)
{
	memset(w, 0, sizeof(*w));
	w->max = max ? max : GK_WBUF_DEFAULT_MAX;
}

void gk_wbuf_free(gk_wbuf *w)
{
	if (w->data) {
		OPENSSL_cleanse(w->data, w->cap);
		free(w->data);
	}
	w->data = NULL;
	w->len = w->cap = 0;
}

gk_status gk_wbuf_reserve(gk_wbuf *w, size_t more)
{
	if (w->err)
		return w->err;
	if (more > w->max || w->len > w->max - more)
		return w->err = GK_E_TOO_BIG;
	if (w->len + more <= w->cap)
		return GK_OK;
	size_t ncap = w->cap ? w->cap : 256;
	while (ncap < w->len + more)
		ncap *= 2;
	if (ncap > w->max)
		ncap = w->max;
	/* Grow by copy so that a secret in the old block is wiped, never left behind by realloc. */
	uint8_t *n = malloc(ncap);
	if (!n)
		return w->err = GK_E_NOMEM;
	if (w->data) {
		memcpy(n, w->data, w->len);
		OPENSSL_cleanse(w->data, w->cap);
		free(w->data);
	}
	w->data = n;
	w->cap = ncap;
	return GK_OK;
}

void gk_wbuf_put_grow(gk_wbuf *w, const void *p, size_t n)
{
	if (n == 0 || gk_wbuf_reserve(w, n))
		return;
	memcpy(w->data + w->len, p, n);
	w->len += n;
}

void gk_wbuf_zero_grow(gk_wbuf *w, size_t n)
{
	if (n == 0 || gk_wbuf_reserve(w, n))
		return;
	memset(w->data + w->len, 0, n);
	w->len += n;
}

void gk_wbuf_set_u16(gk_wbuf *w, size_t off, uint16_t v)
{
	if (!w->err && off + 2 <= w->len)
		gk_put_u16(w->data + off, v);
}

void gk_wbuf_set_u32(gk_wbuf *w, size_t off, uint32_t v)
{
	if (!w->err && off + 4 <= w->len)
		gk_put_u32(w->data + off, v);
}
