#include <string.h>
#include "frag.h"

void gk_dgrams_free(gk_dgrams *l)
{
	for (size_t i = 0; i < l->n; i++)
		gk_wbuf_free(&l->d[i]);
	l->n = 0;
}

/* Largest inner plaintext per fragment so the datagram stays within max_len. */
static size_t frag_capacity(const gk_sk_keys *k, size_t max_len)
{
	const size_t fixed = GK_HDR_LEN + 8;
	if (max_len <= fixed)
		return 0;
	size_t c = max_len - fixed;
	while (c > 0 && fixed + c + gk_sk_overhead(k, c) > max_len)
		c--;
	return c;
}

static gk_status build_fragment(const gk_msg_out *o, const gk_sk_keys *k, const gk_rand *rnd,
				uint8_t first, uint16_t num, uint16_t total, gk_chunk part, gk_wbuf *w)
{
	gk_hdr h = o->hdr;
	h.next_payload = GK_PL_SKF;
	h.length = 0;
	gk_hdr_build(&h, w);
	size_t sk_off = w->len;
	gk_wbuf_u8(w, num == 1 ? first : GK_PL_NONE); /* RFC 7383 2.5: only fragment 1 names it */
	gk_wbuf_u8(w, 0);
	gk_wbuf_u16(w, 0);
	gk_wbuf_u16(w, num);
	gk_wbuf_u16(w, total);
	if (w->err)
		return w->err;
	return gk_sk_seal(k, rnd, w, sk_off, part);
}

static gk_status build_whole(const gk_hdr *h0, uint8_t first, gk_chunk inner, const gk_sk_keys *k,
			     const gk_rand *rnd, gk_wbuf *w)
{
	gk_hdr h = *h0;
	h.next_payload = GK_PL_SK;
	h.length = 0;
	gk_hdr_build(&h, w);
	size_t sk_off = w->len;
	gk_wbuf_u8(w, first);
	gk_wbuf_u8(w, 0);
	gk_wbuf_u16(w, 0);
	return w->err ? w->err : gk_sk_seal(k, rnd, w, sk_off, inner);
}

gk_status gk_msg_build_raw_dgrams(const gk_hdr *h, uint8_t first_type, gk_chunk inner,
				  const gk_sk_keys *k, const gk_rand *rnd, size_t max_len, gk_dgrams *out)
{
	gk_status st = GK_OK;
	memset(out, 0, sizeof(*out));
	/* A message whose SK payload cannot fit goes as fragments at once, not sealed whole first
	 * (a seal, and with counter IVs an IV, spent on nothing) */
	size_t whole = GK_HDR_LEN + 4 + inner.len + gk_sk_overhead(k, inner.len);
	if (!max_len || whole <= max_len) {
		gk_wbuf_init(&out->d[0], GK_MAX_MESSAGE);
		out->n = 1;
		if ((st = build_whole(h, first_type, inner, k, rnd, &out->d[0])) != GK_OK)
			goto fail;
		if (!max_len || out->d[0].len <= max_len)
			return GK_OK;
		gk_dgrams_free(out);
	}
	gk_msg_out o = { .hdr = *h };
	size_t cap = frag_capacity(k, max_len);
	size_t total = cap ? (inner.len + cap - 1) / cap : 0;
	if (cap == 0 || total > GK_FRAG_MAX)
		return GK_E_TOO_BIG;
	for (size_t i = 0; !st && i < total; i++) {
		size_t off = i * cap, len = inner.len - off < cap ? inner.len - off : cap;
		gk_wbuf_init(&out->d[i], max_len + 64);
		out->n = i + 1;
		st = build_fragment(&o, k, rnd, first_type, (uint16_t)(i + 1), (uint16_t)total,
				    GK_CHUNK(inner.ptr + off, len), &out->d[i]);
	}
	if (!st)
		return GK_OK;
fail:
	gk_dgrams_free(out);
	return st;
}

gk_status gk_msg_build_dgrams(const gk_msg_out *o, const gk_sk_keys *k, const gk_rand *rnd,
			      bool frag, size_t max_len, gk_dgrams *out)
{
	gk_status st;
	if (o->nouter || !o->ninner) {
		/* unprotected or empty: never fragmented */
		memset(out, 0, sizeof(*out));
		gk_wbuf_init(&out->d[0], GK_MAX_MESSAGE);
		out->n = 1;
		st = gk_msg_build(o, k, rnd, &out->d[0]);
		if (st)
			gk_dgrams_free(out);
		return st;
	}
	gk_wbuf inner;
	gk_wbuf_init(&inner, GK_MAX_MESSAGE);
	st = gk_chain_build(o->inner, o->ninner, GK_PL_NONE, &inner);
	if (!st)
		st = gk_msg_build_raw_dgrams(&o->hdr, o->inner[0].type, gk_wbuf_chunk(&inner), k, rnd,
					     frag ? max_len : 0, out);
	gk_wbuf_free(&inner);
	return st;
}

static void pool_unlink(gk_frag_reasm *r)
{
	gk_frag_pool *p = r->pool;
	if (!p || !r->listed)
		return;
	if (r->pool_prev)
		r->pool_prev->pool_next = r->pool_next;
	else
		p->oldest = r->pool_next;
	if (r->pool_next)
		r->pool_next->pool_prev = r->pool_prev;
	else
		p->newest = r->pool_prev;
	r->pool_prev = r->pool_next = NULL;
	r->listed = false;
}

static void pool_append(gk_frag_reasm *r)
{
	gk_frag_pool *p = r->pool;
	if (!p || r->listed)
		return;
	r->pool_next = NULL;
	r->pool_prev = p->newest;
	if (p->newest)
		p->newest->pool_next = r;
	else
		p->oldest = r;
	p->newest = r;
	r->listed = true;
}

/* Frees the parts and returns their octets; the set's identity and age stay. */
static void drop_parts(gk_frag_reasm *r)
{
	for (size_t i = 0; i < GK_FRAG_MAX; i++)
		gk_wbuf_free(&r->part[i]);
	memset(r->got, 0, sizeof(r->got));
	if (r->pool)
		r->pool->used -= r->bytes;
	if (r->acct)
		r->acct->used -= r->bytes;
	r->bytes = 0;
	r->have = 0;
}

void gk_frag_reset(gk_frag_reasm *r)
{
	size_t max_bytes = r->max_bytes;
	gk_frag_pool *pool = r->pool;
	gk_frag_account *acct = r->acct;
	uint32_t sets = r->sets;
	drop_parts(r);
	pool_unlink(r);
	memset(r, 0, sizeof(*r));
	r->max_bytes = max_bytes;
	r->pool = pool;
	r->acct = acct;
	r->sets = sets;
}

void gk_frag_set_account(gk_frag_reasm *r, gk_frag_account *acct)
{
	if (r->acct)
		r->acct->used -= r->bytes;
	r->acct = acct;
	if (acct)
		acct->used += r->bytes;
}

/* The oldest set other than r's that holds octets: of r's account (same) or of any other. */
static gk_frag_reasm *oldest_victim(gk_frag_reasm *r, bool same)
{
	for (gk_frag_reasm *v = r->pool->oldest; v; v = v->pool_next) {
		if (v == r || !v->bytes)
			continue;
		if (same ? v->acct == r->acct : !r->acct || v->acct != r->acct)
			return v;
	}
	return NULL;
}

/* Charges a verified fragment's buffer to the bounds, making room by dropping older sets; an
 * error when it must not be kept. */
static gk_status frag_charge(gk_frag_reasm *r, size_t cost)
{
	gk_frag_reasm *v;
	if (r->max_bytes && r->bytes + cost > r->max_bytes) {
		gk_frag_reset(r);
		return GK_E_TOO_BIG;
	}
	while (r->acct && r->acct->max && r->acct->used + cost > r->acct->max) {
		if (!r->pool || !(v = oldest_victim(r, true)))
			return GK_E_NOMEM;
		gk_frag_reset(v);
		r->pool->evicted++;
	}
	while (r->pool && r->pool->used + cost > r->pool->max) {
		if (!(v = oldest_victim(r, false)))
			return GK_E_NOMEM;
		gk_frag_reset(v);
		r->pool->evicted++;
	}
	r->bytes += cost;
	if (r->pool)
		r->pool->used += cost;
	if (r->acct)
		r->acct->used += cost;
	return GK_OK;
}

gk_status gk_frag_add(gk_frag_reasm *r, const gk_msg *m, const gk_sk_keys *k, bool *done,
		      gk_wbuf *plain, uint8_t *first_type)
{
	*done = false;
	if (m->sk_index == SIZE_MAX || m->pl.items[m->sk_index].type != GK_PL_SKF)
		return GK_E_INVAL;
	const gk_payload *p = &m->pl.items[m->sk_index];
	uint16_t num = p->body->skf.frag_num, total = p->body->skf.frag_total;
	if (total > GK_FRAG_MAX || num == 0 || num > total)
		return GK_E_MALFORMED;
	gk_wbuf part;
	gk_wbuf_init(&part, GK_MAX_MESSAGE);
	/* verify before anything is kept: unauthenticated fragments must not disturb reassembly */
	gk_status st = gk_sk_open(k, m->data, p->offset, 8, &part);
	if (st) {
		gk_wbuf_free(&part);
		return st;
	}
	if (r->active && r->msg_id == m->hdr.msg_id && r->total != total) {
		/* RFC 7383 2.6: a different total means the sender started over; the new set keeps
		 * the old one's age, so starting over cannot hold fragments past the timeout */
		drop_parts(r);
		r->total = total;
	} else if (!r->active || r->msg_id != m->hdr.msg_id) {
		gk_frag_reset(r);
		r->active = true;
		r->msg_id = m->hdr.msg_id;
		r->total = total;
		r->sets++;
		pool_append(r);
	}
	if (r->got[num - 1]) {
		gk_wbuf_free(&part);
		return GK_OK; /* duplicate */
	}
	if ((st = frag_charge(r, part.cap)) != GK_OK) {
		gk_wbuf_free(&part);
		if (st == GK_E_NOMEM && !r->bytes)
			gk_frag_reset(r); /* nothing parked: no set to age */
		return st;
	}
	r->part[num - 1] = part;
	r->got[num - 1] = true;
	r->have++;
	if (num == 1) {
		r->first_type = m->sk_first;
		r->first_flags = m->data.ptr[p->offset + 1];
	}
	if (r->have < r->total)
		return GK_OK;
	for (size_t i = 0; i < r->total; i++)
		gk_wbuf_put(plain, r->part[i].data, r->part[i].len);
	*first_type = r->first_type;
	st = plain->err;
	uint8_t flags = r->first_flags;
	gk_frag_reset(r);
	r->first_flags = flags;
	*done = st == GK_OK;
	return st;
}

uint8_t gk_frag_first_flags(const gk_frag_reasm *r)
{
	return r->first_flags;
}
