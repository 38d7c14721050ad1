/* Byte ranges and a growable output buffer.
 * gk_chunk never owns memory by itself: who owns ptr is stated where a chunk is stored. */
#ifndef GK_CHUNK_H
#define GK_CHUNK_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>
#include "status.h"

typedef struct gk_chunk {
	const uint8_t *ptr;
	size_t len;
} gk_chunk;

#define GK_CHUNK(p, l) ((gk_chunk){ .ptr = (const uint8_t *)(p), .len = (l) })
#define GK_CHUNK_EMPTY ((gk_chunk){ .ptr = NULL, .len = 0 })

bool gk_chunk_eq(gk_chunk a, gk_chunk b);

/* Growable buffer. Owns data; gk_wbuf_free() wipes it (it may hold secrets). */
typedef struct gk_wbuf {
	uint8_t *data;
	size_t len;
	size_t cap;
	size_t max;   /* hard bound on len, 0 = 1 MiB default */
	gk_status err; /* first error; once set every append is a no-op */
} gk_wbuf;

void gk_wbuf_init(gk_wbuf *w, size_t max);
void gk_wbuf_free(gk_wbuf *w);
gk_status gk_wbuf_reserve(gk_wbuf *w, size_t more);
/* Appends n octets, growing the buffer (the out-of-line part of gk_wbuf_put). */
void gk_wbuf_put_grow(gk_wbuf *w, const void *p, size_t n);
/* The out-of-line part of gk_wbuf_zero. */
void gk_wbuf_zero_grow(gk_wbuf *w, size_t n);
/* Overwrite a big-endian u16/u32 at an earlier offset (lengths known only after building). */
void gk_wbuf_set_u16(gk_wbuf *w, size_t off, uint16_t v);
void gk_wbuf_set_u32(gk_wbuf *w, size_t off, uint32_t v);
static inline gk_chunk gk_wbuf_chunk(const gk_wbuf *w) { return GK_CHUNK(w->data, w->len); }

static inline uint16_t gk_get_u16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t gk_get_u32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint64_t gk_get_u64(const uint8_t *p)
{
	return ((uint64_t)gk_get_u32(p) << 32) | gk_get_u32(p + 4);
}
static inline void gk_put_u16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void gk_put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static inline void gk_put_u64(uint8_t *p, uint64_t v) { gk_put_u32(p, (uint32_t)(v >> 32)); gk_put_u32(p + 4, (uint32_t)v); }

/* The codec appends field by field, so the common case (room already there) is inline; cap
 * never exceeds max (gk_wbuf_reserve), so it skips no bound. */
static inline bool gk_wbuf_has_room(const gk_wbuf *w, size_t n)
{
	return n && !w->err && n <= w->cap - w->len;
}

/* Appends n octets. */
static inline void gk_wbuf_put(gk_wbuf *w, const void *p, size_t n)
{
	if (gk_wbuf_has_room(w, n)) {
		memcpy(w->data + w->len, p, n);
		w->len += n;
		return;
	}
	gk_wbuf_put_grow(w, p, n);
}

/* Appends n zero octets (reserved fields). */
static inline void gk_wbuf_zero(gk_wbuf *w, size_t n)
{
	if (gk_wbuf_has_room(w, n)) {
		memset(w->data + w->len, 0, n);
		w->len += n;
		return;
	}
	gk_wbuf_zero_grow(w, n);
}
static inline void gk_wbuf_u8(gk_wbuf *w, uint8_t v) { gk_wbuf_put(w, &v, 1); }
static inline void gk_wbuf_u16(gk_wbuf *w, uint16_t v) { uint8_t b[2]; gk_put_u16(b, v); gk_wbuf_put(w, b, 2); }
static inline void gk_wbuf_u32(gk_wbuf *w, uint32_t v) { uint8_t b[4]; gk_put_u32(b, v); gk_wbuf_put(w, b, 4); }
static inline void gk_wbuf_u64(gk_wbuf *w, uint64_t v) { uint8_t b[8]; gk_put_u64(b, v); gk_wbuf_put(w, b, 8); }

#endif
