/* The one engine that walks the rules tables of codec.h. */
#include <string.h>
#include "codec.h"

#define CODEC_MAX_DEPTH 8

typedef struct pctx {
	gk_arena *arena;
	const uint8_t *base;    /* start of the whole input, for error offsets */
	gk_codec_err *err;
	int depth;              /* of the structure being parsed; an error ends the parse, so only
				 * the successful paths step it back */
} pctx;

/* What a parsed structure tells the list that holds it. */
typedef struct pitem {
	size_t used;
	int last;               /* value of its GK_F_LAST field, -1 if none */
} pitem;

/* Out of line and cold: it runs once per rejected input, and keeping it out of the field loop
 * keeps that loop in one straight piece of code. */
__attribute__((cold, noinline))
static gk_status fail(pctx *c, gk_status st, const gk_desc *d, const gk_rule *r, const uint8_t *at)
{
	if (c->err && !c->err->where) {
		c->err->where = d ? d->name : "?";
		c->err->field = r && r->name ? r->name : "";
		c->err->offset = (size_t)(at - c->base);
	}
	return st;
}

static void *field(void *obj, const gk_rule *r) { return (uint8_t *)obj + r->offset; }
static const void *cfield(const void *obj, const gk_rule *r) { return (const uint8_t *)obj + r->offset; }

static gk_status parse_struct(pctx *c, const gk_desc *d, const uint8_t *p, size_t avail,
			      void *obj, pitem *it);

/* Appends one zeroed item to a list, growing it geometrically inside the arena. The room is
 * there as a rule (the hints below), so only the growth is out of line. */
__attribute__((noinline))
static void *list_grow(gk_arena *a, gk_list_any *l, size_t *cap, size_t size)
{
	size_t ncap = *cap ? *cap * 2 : 4;
	void *n = gk_arena_calloc(a, ncap, size);
	if (!n)
		return NULL;
	if (l->n)
		memcpy(n, l->items, l->n * size);
	l->items = n;
	*cap = ncap;
	return (uint8_t *)l->items + size * l->n++;
}

static inline void *list_push(gk_arena *a, gk_list_any *l, size_t *cap, size_t size)
{
	if (l->n < *cap)
		return (uint8_t *)l->items + size * l->n++;
	return list_grow(a, l, cap, size);
}

/* Capacity hints, so that a list is allocated once in the arena instead of growing by copies
 * that stay behind until the message is freed. Every substructure a list holds (proposal,
 * transform, traffic selector, GSA policy, key bag: RFC 7296 3.3, 3.13.1; RFC 9838 4.4, 4.5)
 * keeps its length in its octets 2-3, and an attribute its value length in octets 2-3 (TLV,
 * RFC 7296 3.3.5), so the items are counted before any is parsed. A hint checks nothing (each
 * item's parse does, and the list still grows if the parse finds more); it stops where the
 * lengths stop chaining, and at LIST_HINT_MAX items, so that a hostile length chain cannot make
 * the arena hold more than a few KB per list ahead of the parse. */
#define LIST_HINT_MAX 64

static size_t count_items(const uint8_t *p, size_t avail, int mode, size_t count)
{
	size_t n = 0, pos = 0;
	while (n < LIST_HINT_MAX && avail - pos >= 4 && !(mode == 1 && n == count)) {
		size_t len = gk_get_u16(p + pos + 2);
		if (len < 4 || len > avail - pos)
			break;
		n++;
		if (mode == 2 && p[pos] == 0)
			break;
		pos += len;
	}
	return n;
}

static size_t count_attrs(const uint8_t *p, size_t avail, bool cp)
{
	size_t n = 0, pos = 0;
	while (n < LIST_HINT_MAX && avail - pos >= 4) {
		size_t v = !cp && (p[pos] & 0x80) ? 0 : gk_get_u16(p + pos + 2);
		if (v > avail - pos - 4)
			break;
		n++;
		pos += 4 + v;
	}
	return n;
}

/* Gives a list the room its hint counted; 0 leaves it to list_push. */
static bool list_reserve(gk_arena *a, gk_list_any *l, size_t *cap, size_t hint, size_t size)
{
	if (hint == 0)
		return true;
	l->items = gk_arena_calloc(a, hint, size);
	*cap = hint;
	return l->items != NULL;
}

static const gk_desc *pick(const gk_desc *sub, const uint8_t *p, size_t avail)
{
	if (!sub->select)
		return sub;
	return avail ? sub->select(p[0]) : NULL;
}

/* Parses list items from p[0..avail). mode: 0 = until end, 1 = exactly count, 2 = until LAST==0 */
__attribute__((noinline))
static gk_status parse_list(pctx *c, const gk_desc *d, const gk_rule *r, const uint8_t *p,
			    size_t avail, void *obj, int mode, size_t count, size_t *used)
{
	gk_list_any *l = field(obj, r);
	const gk_desc *sub = r->sub;
	size_t cap = 0, pos = 0, size = sub->size;
	l->items = NULL;
	l->n = 0;
	if (!list_reserve(c->arena, l, &cap, count_items(p, avail, mode, count), size))
		return fail(c, GK_E_NOMEM, d, r, p);
	c->depth++;
	for (;;) {
		if (mode == 1 ? l->n == count : mode == 0 && pos == avail)
			break;
		if (pos == avail)
			return fail(c, GK_E_TRUNCATED, d, r, p + pos);
		const gk_desc *sd = pick(sub, p + pos, avail - pos);
		if (!sd)
			return fail(c, GK_E_MALFORMED, d, r, p + pos);
		void *item = list_push(c->arena, l, &cap, size);
		if (!item)
			return fail(c, GK_E_NOMEM, d, r, p + pos);
		pitem pi = { 0, -1 };
		gk_status st = parse_struct(c, sd, p + pos, avail - pos, item, &pi);
		if (st)
			return st;
		pos += pi.used;
		if (mode == 2 && pi.last == 0)
			break;
	}
	c->depth--;
	*used = pos;
	return GK_OK;
}

__attribute__((noinline))
static gk_status parse_attrs(pctx *c, const gk_desc *d, const gk_rule *r, const uint8_t *p,
			     size_t avail, void *obj, bool cp)
{
	gk_attr_list *l = field(obj, r);
	size_t cap = 0, pos = 0;
	l->items = NULL;
	l->n = 0;
	if (!list_reserve(c->arena, (gk_list_any *)l, &cap, count_attrs(p, avail, cp), sizeof(gk_attr)))
		return fail(c, GK_E_NOMEM, d, r, p);
	while (pos < avail) {
		if (avail - pos < 4)
			return fail(c, GK_E_TRUNCATED, d, r, p + pos);
		uint16_t t = gk_get_u16(p + pos), v = gk_get_u16(p + pos + 2);
		gk_attr *a = list_push(c->arena, (gk_list_any *)l, &cap, sizeof(gk_attr));
		if (!a)
			return fail(c, GK_E_NOMEM, d, r, p + pos);
		a->type = t & 0x7fff;
		pos += 4;
		if (!cp && (t & 0x8000)) {
			a->tv = true;
			a->tv_value = v;
			continue;
		}
		if (v > avail - pos)
			return fail(c, GK_E_TRUNCATED, d, r, p + pos);
		a->value = GK_CHUNK(p + pos, v);
		pos += v;
	}
	return GK_OK;
}

static const gk_rule *next_rule(const gk_desc *d, const gk_rule *r, int k1, int k2, int k3)
{
	for (const gk_rule *x = r + 1; x < d->rules + d->nrules; x++)
		if (x->kind == k1 || x->kind == k2 || x->kind == k3)
			return x;
	return NULL;
}

static gk_status parse_struct(pctx *c, const gk_desc *d, const uint8_t *p, size_t avail,
			      void *obj, pitem *it)
{
	size_t pos = 0, end = avail, count = 0, half = 0;
	bool have_count = false;
	uint8_t spi_size = 0;
	gk_status st;

	if (c->depth > CODEC_MAX_DEPTH)
		return fail(c, GK_E_TOO_DEEP, d, NULL, p);
	for (const gk_rule *r = d->rules, *rend = d->rules + d->nrules; r < rend; r++) {
		size_t w = r->width, used = 0;
		if (w > end - pos)
			return fail(c, GK_E_TRUNCATED, d, r, p + pos);
		const uint8_t *q = p + pos;
		switch (r->kind) {
		case GK_F_U8: *(uint8_t *)field(obj, r) = q[0]; break;
		case GK_F_U16: *(uint16_t *)field(obj, r) = gk_get_u16(q); break;
		case GK_F_U32: *(uint32_t *)field(obj, r) = gk_get_u32(q); break;
		case GK_F_U64: *(uint64_t *)field(obj, r) = gk_get_u64(q); break;
		case GK_F_RESERVED: break;
		case GK_F_LEN16: {
			size_t len = gk_get_u16(q);
			if (len < pos + 2 || len > end)
				return fail(c, len > end ? GK_E_TRUNCATED : GK_E_MALFORMED, d, r, q);
			end = len;
			break;
		}
		case GK_F_LAST:
			if (q[0] != 0 && q[0] != r->arg)
				return fail(c, GK_E_MALFORMED, d, r, q);
			it->last = q[0];
			break;
		case GK_F_SPI_SIZE:
			spi_size = q[0];
			*(uint8_t *)field(obj, r) = spi_size;
			break;
		case GK_F_COUNT8: count = q[0]; have_count = true; break;
		case GK_F_COUNT16: count = gk_get_u16(q); have_count = true; break;
		case GK_F_SPI:
			w = spi_size;
			if (w > end - pos)
				return fail(c, GK_E_TRUNCATED, d, r, q);
			*(gk_chunk *)field(obj, r) = GK_CHUNK(q, w);
			break;
		case GK_F_REST:
			w = end - pos;
			*(gk_chunk *)field(obj, r) = GK_CHUNK(q, w);
			break;
		case GK_F_HALF:
			if (r->arg == 0) {
				if ((end - pos) % 2)
					return fail(c, GK_E_MALFORMED, d, r, q);
				half = (end - pos) / 2;
			}
			w = r->arg == 0 ? half : end - pos;
			*(gk_chunk *)field(obj, r) = GK_CHUNK(q, w);
			break;
		case GK_F_STRUCT: {
			pitem pi = { 0, -1 };
			c->depth++;
			st = parse_struct(c, r->sub, q, end - pos, field(obj, r), &pi);
			if (st)
				return st;
			c->depth--;
			w = pi.used;
			break;
		}
		case GK_F_LIST:
		case GK_F_LIST_LAST: {
			int mode = r->kind == GK_F_LIST_LAST ? 2 : have_count ? 1 : 0;
			st = parse_list(c, d, r, q, end - pos, obj, mode, count, &used);
			if (st)
				return st;
			w = used;
			have_count = false;
			break;
		}
		case GK_F_SPI_LIST: {
			gk_list_any *l = field(obj, r);
			if (!have_count || (spi_size && count > (end - pos) / spi_size) ||
			    count * spi_size > end - pos)
				return fail(c, GK_E_TRUNCATED, d, r, q);
			/* Zero-size SPIs carry nothing (RFC 7296 3.11: IKE deletes list none); a count
			 * of them would make 4 octets cost up to 1 MiB of list items. */
			if (spi_size == 0 && count != 0)
				return fail(c, GK_E_MALFORMED, d, r, q);
			l->n = count;
			l->items = count ? gk_arena_calloc(c->arena, count, sizeof(gk_chunk)) : NULL;
			if (count && !l->items)
				return fail(c, GK_E_NOMEM, d, r, q);
			for (size_t i = 0; i < count; i++)
				((gk_chunk *)l->items)[i] = GK_CHUNK(q + i * spi_size, spi_size);
			w = count * spi_size;
			have_count = false;
			break;
		}
		case GK_F_ATTRS:
		case GK_F_CP_ATTRS:
			if (pos == end) { /* most transforms have none */
				((gk_attr_list *)field(obj, r))->items = NULL;
				((gk_attr_list *)field(obj, r))->n = 0;
				break;
			}
			st = parse_attrs(c, d, r, q, end - pos, obj, r->kind == GK_F_CP_ATTRS);
			if (st)
				return st;
			w = end - pos;
			break;
		default:
			return fail(c, GK_E_INVAL, d, r, q);
		}
		pos += w;
	}
	if (pos != end)
		return fail(c, GK_E_MALFORMED, d, NULL, p + pos);
	it->used = end;
	if (d->check && (st = d->check(obj)) != GK_OK)
		return fail(c, st, d, NULL, p);
	return GK_OK;
}

gk_status gk_codec_parse(const gk_desc *desc, gk_chunk in, gk_arena *arena, void *obj,
			 gk_codec_err *err)
{
	/* An empty input may come as (NULL, 0), e.g. an empty gk_wbuf; the engine does pointer
	 * arithmetic on its input, which C does not define on NULL, so give it a real address. */
	static const uint8_t empty[1];
	pitem it = { 0, -1 };
	if (err)
		memset(err, 0, sizeof(*err));
	if (!in.ptr && in.len)
		return GK_E_INVAL;
	if (!in.ptr)
		in.ptr = empty;
	pctx c = { arena, in.ptr, err, 0 };
	return parse_struct(&c, desc, in.ptr, in.len, obj, &it);
}

/* ---- building ---- */

static gk_status build_struct(const gk_desc *d, const void *obj, gk_wbuf *out, bool is_last, int depth);

static gk_status build_list(const gk_rule *r, const void *obj, gk_wbuf *out, int depth)
{
	const gk_list_any *l = cfield(obj, r);
	for (size_t i = 0; i < l->n; i++) {
		const void *item = (const uint8_t *)l->items + i * r->sub->size;
		/* Union items keep their discriminator (protocol) in their first octet. */
		const gk_desc *sd = r->sub->select ? r->sub->select(*(const uint8_t *)item) : r->sub;
		if (!sd)
			return GK_E_INVAL;
		gk_status st = build_struct(sd, item, out, i + 1 == l->n, depth + 1);
		if (st)
			return st;
	}
	if (r->kind == GK_F_LIST_LAST && l->n == 0)
		return GK_E_INVAL; /* such a list is terminated by its last item: it cannot be empty */
	return GK_OK;
}

static gk_status build_attrs(const gk_rule *r, const void *obj, gk_wbuf *out, bool cp)
{
	const gk_attr_list *l = cfield(obj, r);
	for (size_t i = 0; i < l->n; i++) {
		const gk_attr *a = &l->items[i];
		if (a->type > 0x7fff || (cp && a->tv) || a->value.len > 0xffff)
			return GK_E_INVAL;
		if (a->tv) {
			gk_wbuf_u16(out, (uint16_t)(0x8000 | a->type));
			gk_wbuf_u16(out, a->tv_value);
			continue;
		}
		gk_wbuf_u16(out, a->type);
		gk_wbuf_u16(out, (uint16_t)a->value.len);
		gk_wbuf_put(out, a->value.ptr, a->value.len);
	}
	return GK_OK;
}

static gk_status build_struct(const gk_desc *d, const void *obj, gk_wbuf *out, bool is_last, int depth)
{
	size_t start = out->len, len_at = SIZE_MAX;
	uint8_t spi_size = 0;
	gk_status st;

	if (depth > CODEC_MAX_DEPTH)
		return GK_E_TOO_DEEP;
	if (d->check && (st = d->check(obj)) != GK_OK)
		return st;
	for (const gk_rule *r = d->rules; r < d->rules + d->nrules; r++) {
		switch (r->kind) {
		case GK_F_U8: gk_wbuf_u8(out, *(const uint8_t *)cfield(obj, r)); break;
		case GK_F_U16: gk_wbuf_u16(out, *(const uint16_t *)cfield(obj, r)); break;
		case GK_F_U32: gk_wbuf_u32(out, *(const uint32_t *)cfield(obj, r)); break;
		case GK_F_U64: gk_wbuf_u64(out, *(const uint64_t *)cfield(obj, r)); break;
		case GK_F_RESERVED: gk_wbuf_zero(out, r->arg); break;
		case GK_F_LEN16: len_at = out->len; gk_wbuf_u16(out, 0); break;
		case GK_F_LAST: gk_wbuf_u8(out, is_last ? 0 : r->arg); break;
		case GK_F_SPI_SIZE:
			spi_size = *(const uint8_t *)cfield(obj, r);
			gk_wbuf_u8(out, spi_size);
			break;
		case GK_F_COUNT8:
		case GK_F_COUNT16: {
			const gk_rule *lr = next_rule(d, r, GK_F_LIST, GK_F_SPI_LIST, -1);
			size_t n = lr ? ((const gk_list_any *)cfield(obj, lr))->n : 0;
			if (!lr || n > (r->kind == GK_F_COUNT8 ? 0xffu : 0xffffu))
				return GK_E_INVAL;
			if (r->kind == GK_F_COUNT8)
				gk_wbuf_u8(out, (uint8_t)n);
			else
				gk_wbuf_u16(out, (uint16_t)n);
			break;
		}
		case GK_F_SPI: {
			const gk_chunk *ch = cfield(obj, r);
			if (ch->len != spi_size)
				return GK_E_INVAL;
			gk_wbuf_put(out, ch->ptr, ch->len);
			break;
		}
		case GK_F_REST:
		case GK_F_HALF: {
			const gk_chunk *ch = cfield(obj, r);
			gk_wbuf_put(out, ch->ptr, ch->len);
			break;
		}
		case GK_F_STRUCT:
			if ((st = build_struct(r->sub, cfield(obj, r), out, true, depth + 1)) != GK_OK)
				return st;
			break;
		case GK_F_LIST:
		case GK_F_LIST_LAST:
			if ((st = build_list(r, obj, out, depth)) != GK_OK)
				return st;
			break;
		case GK_F_SPI_LIST: {
			const gk_list_any *l = cfield(obj, r);
			if (spi_size == 0 && l->n != 0)
				return GK_E_INVAL; /* would not parse back (see above) */
			for (size_t i = 0; i < l->n; i++) {
				const gk_chunk *ch = (const gk_chunk *)l->items + i;
				if (ch->len != spi_size)
					return GK_E_INVAL;
				gk_wbuf_put(out, ch->ptr, ch->len);
			}
			break;
		}
		case GK_F_ATTRS:
		case GK_F_CP_ATTRS:
			if ((st = build_attrs(r, obj, out, r->kind == GK_F_CP_ATTRS)) != GK_OK)
				return st;
			break;
		default:
			return GK_E_INVAL;
		}
		if (out->err)
			return out->err;
	}
	if (len_at != SIZE_MAX) {
		size_t len = out->len - start;
		if (len > 0xffff)
			return GK_E_TOO_BIG;
		gk_wbuf_set_u16(out, len_at, (uint16_t)len);
	}
	return out->err;
}

gk_status gk_codec_build(const gk_desc *desc, const void *obj, gk_wbuf *out)
{
	size_t start = out->len;
	gk_status st = build_struct(desc, obj, out, true, 0);
	if (st && !out->err)
		out->len = start; /* leave no half-built structure behind */
	return st;
}

const gk_attr *gk_attr_find(const gk_attr_list *l, uint16_t type)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->items[i].type == type)
			return &l->items[i];
	return NULL;
}

size_t gk_attr_count(const gk_attr_list *l, uint16_t type)
{
	size_t n = 0;
	for (size_t i = 0; i < l->n; i++)
		n += l->items[i].type == type;
	return n;
}
