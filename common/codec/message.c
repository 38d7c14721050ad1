#include <string.h>
#include <openssl/crypto.h>
#include "message.h"

gk_status gk_hdr_parse(gk_chunk in, gk_hdr *h)
{
	if (in.len < GK_HDR_LEN)
		return GK_E_TRUNCATED;
	const uint8_t *p = in.ptr;
	h->spi_i = gk_get_u64(p);
	h->spi_r = gk_get_u64(p + 8);
	h->next_payload = p[16];
	h->version = p[17];
	h->exchange = p[18];
	h->flags = p[19];
	h->msg_id = gk_get_u32(p + 20);
	h->length = gk_get_u32(p + 24);
	if ((h->version >> 4) != 2)
		return GK_E_UNSUPPORTED;
	if (h->length < GK_HDR_LEN)
		return GK_E_MALFORMED;
	if (h->length > in.len)
		return GK_E_TRUNCATED;
	return GK_OK;
}

void gk_hdr_build(const gk_hdr *h, gk_wbuf *out)
{
	gk_wbuf_u64(out, h->spi_i);
	gk_wbuf_u64(out, h->spi_r);
	gk_wbuf_u8(out, h->next_payload);
	gk_wbuf_u8(out, h->version ? h->version : GK_IKE_VERSION);
	gk_wbuf_u8(out, h->exchange);
	gk_wbuf_u8(out, h->flags);
	gk_wbuf_u32(out, h->msg_id);
	gk_wbuf_u32(out, h->length);
}

/* Makes the payload array hold ncap entries (a new arena copy: the arena frees nothing). */
static bool payloads_room(gk_msg *m, size_t *cap, size_t ncap)
{
	gk_payload *n = gk_arena_calloc(&m->arena, ncap, sizeof(*n));
	if (!n)
		return false;
	if (m->pl.n)
		memcpy(n, m->pl.items, m->pl.n * sizeof(*n));
	m->pl.items = n;
	*cap = ncap;
	return true;
}

static gk_payload *push_payload(gk_msg *m, size_t *cap)
{
	if (m->pl.n == *cap && !payloads_room(m, cap, *cap ? *cap * 2 : 8))
		return NULL;
	return &m->pl.items[m->pl.n++];
}

/* How many payloads a chain holds, from their generic headers (RFC 7296 3.2), so that the array
 * is made once per chain instead of growing by copies the arena keeps. Like the codec's list
 * hints it checks nothing (parse_chain does), stops where the lengths stop chaining or after
 * SK/SKF, and counts at most 64 (beyond, the array grows). */
static size_t count_payloads(const uint8_t *p, size_t len, uint8_t type)
{
	size_t n = 0, pos = 0;
	while (type != GK_PL_NONE && n < 64 && len - pos >= GK_GENERIC_HDR_LEN) {
		size_t plen = gk_get_u16(p + pos + 2);
		if (plen < GK_GENERIC_HDR_LEN || plen > len - pos)
			break;
		n++;
		if (type == GK_PL_SK || type == GK_PL_SKF)
			break;
		type = p[pos];
		pos += plen;
	}
	return n;
}

/* Walks a payload chain in p[0..len). Stops after SK/SKF, which must be last. */
static gk_status parse_chain(gk_msg *m, const uint8_t *p, size_t len, uint8_t type, bool inner,
			     size_t base)
{
	size_t pos = 0, cap = m->pl.n, hint = count_payloads(p, len, type);
	if (hint && !payloads_room(m, &cap, m->pl.n + hint))
		return GK_E_NOMEM;
	while (type != GK_PL_NONE) {
		if (len - pos < GK_GENERIC_HDR_LEN)
			return GK_E_TRUNCATED;
		uint8_t next = p[pos];
		bool crit = p[pos + 1] & 0x80;
		size_t plen = gk_get_u16(p + pos + 2);
		if (plen < GK_GENERIC_HDR_LEN)
			return GK_E_MALFORMED;
		if (plen > len - pos)
			return GK_E_TRUNCATED;
		gk_chunk body = GK_CHUNK(p + pos + 4, plen - 4);
		const gk_desc *d = gk_payload_desc(type);
		bool is_sk = type == GK_PL_SK || type == GK_PL_SKF;
		if (!d) {
			/* RFC 7296 3.2: skip unknown payloads unless marked critical */
			if (crit) {
				m->bad_critical = type;
				return GK_E_UNSUPPORTED_CRITICAL;
			}
		} else {
			if (is_sk && inner)
				return GK_E_MALFORMED;
			/* the body is parsed before the payload is listed: a failure leaves no half entry */
			gk_payload_body *pb = gk_arena_alloc(&m->arena, sizeof(*pb));
			if (!pb)
				return GK_E_NOMEM;
			gk_status st = gk_codec_parse(d, body, &m->arena, pb, &m->err);
			if (st)
				return st;
			gk_payload *pl = push_payload(m, &cap);
			if (!pl)
				return GK_E_NOMEM;
			*pl = (gk_payload){ .type = type, .critical = crit, .encrypted = inner,
					    .offset = base + pos, .raw = body, .body = pb };
		}
		pos += plen;
		if (is_sk) {
			m->sk_index = m->pl.n - 1;
			m->sk_first = next;
			break;
		}
		type = next;
	}
	return pos == len ? GK_OK : GK_E_MALFORMED;
}

gk_status gk_msg_parse(gk_msg *m, gk_chunk datagram)
{
	memset(m, 0, sizeof(*m));
	gk_arena_init(&m->arena, 0);
	m->sk_index = SIZE_MAX;
	gk_status st = gk_hdr_parse(datagram, &m->hdr);
	if (st)
		return st;
	if (m->hdr.length != datagram.len)
		return GK_E_MALFORMED;
	uint8_t *copy = gk_arena_dup(&m->arena, datagram.ptr, datagram.len);
	if (!copy)
		return GK_E_NOMEM;
	m->data = GK_CHUNK(copy, datagram.len);
	return parse_chain(m, copy + GK_HDR_LEN, datagram.len - GK_HDR_LEN, m->hdr.next_payload,
			   false, GK_HDR_LEN);
}

gk_status gk_msg_add_inner(gk_msg *m, uint8_t first_type, gk_chunk plain)
{
	uint8_t *copy = gk_arena_dup(&m->arena, plain.ptr, plain.len);
	if (!copy && plain.len)
		return GK_E_NOMEM;
	m->plain = GK_CHUNK(copy, plain.len);
	gk_status st = parse_chain(m, copy, plain.len, first_type, true, 0);
	if (st == GK_OK)
		m->decrypted = true;
	return st;
}

gk_status gk_msg_decrypt(gk_msg *m, const gk_sk_keys *k)
{
	if (m->sk_index == SIZE_MAX || m->decrypted)
		return GK_E_STATE;
	const gk_payload *sk = &m->pl.items[m->sk_index];
	size_t hdr_len = sk->type == GK_PL_SKF ? 8 : 4;
	gk_wbuf plain;
	gk_wbuf_init(&plain, GK_MAX_MESSAGE);
	gk_status st = gk_sk_open(k, m->data, sk->offset, hdr_len, &plain);
	if (st == GK_OK) {
		st = gk_msg_add_inner(m, m->sk_first, gk_wbuf_chunk(&plain));
		m->decrypted = true; /* authenticated, even if the inner payloads fail to parse */
	}
	gk_wbuf_free(&plain);
	return st;
}

void gk_msg_free(gk_msg *m)
{
	gk_arena_free(&m->arena);
	memset(m, 0, sizeof(*m));
	m->sk_index = SIZE_MAX;
}

const gk_payload *gk_msg_next(const gk_msg *m, const gk_payload *prev, uint8_t type)
{
	size_t i = prev ? (size_t)(prev - m->pl.items) + 1 : 0;
	for (; i < m->pl.n; i++)
		if (m->pl.items[i].type == type)
			return &m->pl.items[i];
	return NULL;
}

const gk_payload *gk_msg_find(const gk_msg *m, uint8_t type)
{
	return gk_msg_next(m, NULL, type);
}

const gk_payload *gk_msg_find_notify(const gk_msg *m, uint16_t notify_type)
{
	for (const gk_payload *p = NULL; (p = gk_msg_next(m, p, GK_PL_NOTIFY));)
		if (p->body->notify.type == notify_type)
			return p;
	return NULL;
}

const gk_payload *gk_msg_find_error(const gk_msg *m)
{
	for (const gk_payload *p = NULL; (p = gk_msg_next(m, p, GK_PL_NOTIFY));)
		if (GK_NOTIFY_IS_ERROR(p->body->notify.type))
			return p;
	return NULL;
}

gk_status gk_chain_build(const gk_out_pl *pl, size_t n, uint8_t last_next, gk_wbuf *out)
{
	for (size_t i = 0; i < n; i++) {
		const gk_desc *d = gk_payload_desc(pl[i].type);
		if (!d || pl[i].type == GK_PL_SK)
			return GK_E_INVAL;
		size_t start = out->len;
		gk_wbuf_u8(out, i + 1 < n ? pl[i + 1].type : last_next);
		gk_wbuf_u8(out, pl[i].critical ? 0x80 : 0);
		gk_wbuf_u16(out, 0);
		gk_status st = gk_codec_build(d, pl[i].body, out);
		if (st)
			return st;
		if (out->len - start > 0xffff)
			return GK_E_TOO_BIG;
		gk_wbuf_set_u16(out, start + 2, (uint16_t)(out->len - start));
	}
	return out->err;
}

gk_status gk_msg_build(const gk_msg_out *o, const gk_sk_keys *k, const gk_rand *rnd, gk_wbuf *out)
{
	bool protect = o->protect || o->ninner > 0;
	size_t start = out->len;
	gk_hdr h = o->hdr;
	gk_status st;
	gk_wbuf inner;

	if (protect && (!k || !rnd))
		return GK_E_INVAL;
	h.next_payload = o->nouter ? o->outer[0].type : protect ? GK_PL_SK : GK_PL_NONE;
	h.length = 0;
	gk_hdr_build(&h, out);
	st = gk_chain_build(o->outer, o->nouter, protect ? GK_PL_SK : GK_PL_NONE, out);
	if (st || !protect)
		goto out;
	gk_wbuf_init(&inner, GK_MAX_MESSAGE);
	st = gk_chain_build(o->inner, o->ninner, GK_PL_NONE, &inner);
	if (st == GK_OK) {
		size_t sk_off = out->len - start;
		gk_wbuf_u8(out, o->ninner ? o->inner[0].type : GK_PL_NONE);
		gk_wbuf_u8(out, 0);
		gk_wbuf_u16(out, 0);
		/* gk_sk_seal works on a buffer that starts with the IKE header */
		st = out->err;
		if (st == GK_OK && start != 0)
			st = GK_E_INVAL;
		if (st == GK_OK)
			st = gk_sk_seal(k, rnd, out, sk_off, gk_wbuf_chunk(&inner));
	}
	gk_wbuf_free(&inner);
out:
	if (st == GK_OK && !protect) {
		size_t len = out->len - start;
		if (len > GK_MAX_MESSAGE)
			st = GK_E_TOO_BIG;
		else
			gk_wbuf_set_u32(out, start + 24, (uint32_t)len);
	}
	if (st == GK_OK && out->len - start > GK_MAX_MESSAGE)
		st = GK_E_TOO_BIG;
	return st ? st : out->err;
}
