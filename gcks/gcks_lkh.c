/* The logical key hierarchy of a multicast group (see gcks_lkh.h). */
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "gcks_lkh.h"
#include "keywrap.h"
#include "rand.h"

/* ---- positions ---- */

static uint32_t parent_of(const gk_lkh *t, uint32_t p)
{
	return p ? (p - 1) / t->degree : 0;
}

static uint64_t first_child(const gk_lkh *t, uint32_t p)
{
	return (uint64_t)p * t->degree + 1;
}

/* First position and width of level `depth` (the root is level 0). */
static uint64_t level_first(unsigned d, unsigned depth)
{
	uint64_t first = 0, width = 1;
	for (unsigned i = 0; i < depth; i++) {
		first += width;
		width *= d;
	}
	return first;
}

static uint64_t level_width(unsigned d, unsigned depth)
{
	uint64_t w = 1;
	for (unsigned i = 0; i < depth; i++)
		w *= d;
	return w;
}

static bool present(const gk_lkh *t, uint64_t p)
{
	return p < t->end && t->nodes[p].key_id != 0;
}

static bool is_leaf(const gk_lkh *t, uint32_t p)
{
	return present(t, p) && t->nodes[p].member != NULL;
}

static bool has_children(const gk_lkh *t, uint32_t p)
{
	uint64_t c = first_child(t, p);
	for (unsigned i = 0; i < t->degree; i++)
		if (present(t, c + i))
			return true;
	return false;
}

/* Room for positions below n (new ones empty); positions and their children stay below 2^32. */
static gk_status ensure_cap(gk_lkh *t, uint64_t n)
{
	if (n >= UINT32_MAX / GK_LKH_DEGREE_MAX)
		return GK_E_TOO_BIG;
	if (n <= t->cap)
		return GK_OK;
	size_t cap = t->cap ? t->cap : 64;
	while (cap < n)
		cap *= 2;
	gk_lkh_node *nn = realloc(t->nodes, cap * sizeof(*nn));
	if (!nn)
		return GK_E_NOMEM;
	memset(nn + t->cap, 0, (cap - t->cap) * sizeof(*nn));
	t->nodes = nn;
	t->cap = cap;
	return GK_OK;
}

static gk_status push_u32(uint32_t **arr, size_t *n, size_t *cap, uint32_t v)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 64;
		uint32_t *na = realloc(*arr, nc * sizeof(*na));
		if (!na)
			return GK_E_NOMEM;
		*arr = na;
		*cap = nc;
	}
	(*arr)[(*n)++] = v;
	return GK_OK;
}

static gk_status touch(gk_lkh *t, uint32_t p)
{
	if (t->nodes[p].touched)
		return GK_OK;
	t->nodes[p].touched = true;
	return push_u32(&t->touched, &t->ntouched, &t->touchcap, p);
}

void gk_lkh_touched_clear(gk_lkh *t)
{
	for (size_t i = 0; i < t->ntouched; i++)
		if (t->touched[i] < t->cap)
			t->nodes[t->touched[i]].touched = false;
	t->ntouched = 0;
	t->rewrite_all = false;
}

/* ---- free positions: a min-heap, so joins fill the shallowest hole first ---- */

static gk_status free_push(gk_lkh *t, uint32_t p)
{
	gk_status st = push_u32(&t->freepos, &t->nfree, &t->freecap, p);
	if (st)
		return st;
	for (size_t i = t->nfree - 1; i > 0;) {
		size_t up = (i - 1) / 2;
		if (t->freepos[up] <= t->freepos[i])
			break;
		uint32_t x = t->freepos[up];
		t->freepos[up] = t->freepos[i];
		t->freepos[i] = x;
		i = up;
	}
	return GK_OK;
}

static uint32_t free_pop(gk_lkh *t)
{
	uint32_t top = t->freepos[0];
	t->freepos[0] = t->freepos[--t->nfree];
	for (size_t i = 0;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < t->nfree && t->freepos[l] < t->freepos[m])
			m = l;
		if (r < t->nfree && t->freepos[r] < t->freepos[m])
			m = r;
		if (m == i)
			break;
		uint32_t x = t->freepos[m];
		t->freepos[m] = t->freepos[i];
		t->freepos[i] = x;
		i = m;
	}
	return top;
}

/* ---- members by identity: open addressing, linear probing ---- */

static uint64_t name_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a: names come from the admin's policy */
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ULL;
	return h;
}

static size_t slot_of(const gk_lkh *t, const char *member, bool *found)
{
	size_t i = (size_t)name_hash(member) & t->mask;
	*found = false;
	for (; t->slots[i]; i = (i + 1) & t->mask)
		if (!strcmp(t->nodes[t->slots[i] - 1].member, member)) {
			*found = true;
			break;
		}
	return i;
}

static gk_status slots_grow(gk_lkh *t)
{
	size_t n = (t->mask + 1) * 2;
	uint32_t *old = t->slots;
	size_t oldn = t->mask + 1;
	t->slots = calloc(n, sizeof(*t->slots));
	if (!t->slots) {
		t->slots = old;
		return GK_E_NOMEM;
	}
	t->mask = n - 1;
	for (size_t i = 0; i < oldn; i++)
		if (old[i]) {
			bool f;
			t->slots[slot_of(t, t->nodes[old[i] - 1].member, &f)] = old[i];
		}
	free(old);
	return GK_OK;
}

/* Points the member's slot at position p (adding it when new). */
static gk_status slot_set(gk_lkh *t, const char *member, uint32_t p)
{
	bool f;
	if ((t->nmembers + 1) * 2 > t->mask + 1) {
		gk_status st = slots_grow(t);
		if (st)
			return st;
	}
	t->slots[slot_of(t, member, &f)] = p + 1;
	return GK_OK;
}

/* Removes the member's slot, shifting back the entries after it (no tombstones). */
static void slot_del(gk_lkh *t, const char *member)
{
	bool f;
	size_t i = slot_of(t, member, &f);
	if (!f)
		return;
	t->slots[i] = 0;
	for (size_t j = (i + 1) & t->mask; t->slots[j]; j = (j + 1) & t->mask) {
		size_t home = (size_t)name_hash(t->nodes[t->slots[j] - 1].member) & t->mask;
		/* the entry at j may move to the hole at i when i lies cyclically in [home, j) */
		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			t->slots[i] = t->slots[j];
			t->slots[j] = 0;
			i = j;
		}
	}
}

uint32_t gk_lkh_find(const gk_lkh *t, const char *member)
{
	bool f;
	if (!t->slots || !member)
		return 0;
	size_t i = slot_of(t, member, &f);
	return f ? t->slots[i] - 1 : 0;
}

/* ---- life cycle ---- */

gk_status gk_lkh_init(gk_lkh *t, unsigned degree, size_t key_len, size_t capacity)
{
	memset(t, 0, sizeof(*t));
	if (degree < GK_LKH_DEGREE_MIN || degree > GK_LKH_DEGREE_MAX || !key_len || key_len > GK_KH_KEY_MAX)
		return GK_E_INVAL;
	t->degree = degree;
	t->key_len = key_len;
	t->next_key_id = 1;
	t->end = 1; /* position 0, the root, is the Rekey SA */
	t->depth = 1;
	while (level_width(degree, t->depth) < capacity && t->depth < 24)
		t->depth++;
	t->next_leaf = (size_t)level_first(degree, t->depth);
	t->slots = calloc(64, sizeof(*t->slots));
	t->mask = 63;
	gk_status st = t->slots ? ensure_cap(t, 64) : GK_E_NOMEM;
	if (st)
		gk_lkh_free(t);
	return st;
}

void gk_lkh_free(gk_lkh *t)
{
	for (size_t p = 0; p < t->end && t->nodes; p++)
		free(t->nodes[p].member);
	if (t->nodes)
		OPENSSL_clear_free(t->nodes, t->cap * sizeof(*t->nodes));
	free(t->slots);
	free(t->freepos);
	free(t->touched);
	memset(t, 0, sizeof(*t));
}

/* ---- changes ---- */

/* A fresh key and the next Key ID for position p. */
static gk_status new_key(gk_lkh *t, const gk_rand *rnd, uint32_t p)
{
	gk_lkh_node *nd = &t->nodes[p];
	if (t->next_key_id == 0 || t->next_key_id == UINT32_MAX)
		return GK_E_TOO_BIG; /* Key IDs never wrap: one would name two keys */
	gk_status st = gk_rand_bytes(rnd, nd->key, t->key_len);
	if (st)
		return st;
	nd->key_id = t->next_key_id++;
	if (p >= t->end)
		t->end = (size_t)p + 1;
	return touch(t, p);
}

static void clear_node(gk_lkh *t, uint32_t p)
{
	gk_lkh_node *nd = &t->nodes[p];
	if (nd->member) {
		slot_del(t, nd->member);
		free(nd->member);
		nd->member = NULL;
		t->nmembers--;
	}
	OPENSSL_cleanse(nd->key, sizeof(nd->key));
	nd->key_id = 0;
	nd->dirty = false;
}

/* Gives the empty ancestors of a leaf position fresh keys: only the joining member is below
 * them, so nobody else needs them. */
static gk_status make_ancestors(gk_lkh *t, const gk_rand *rnd, uint32_t leaf)
{
	gk_status st = GK_OK;
	for (uint32_t a = parent_of(t, leaf); a && !st && !present(t, a); a = parent_of(t, a))
		st = new_key(t, rnd, a);
	return st;
}

/* Every leaf position is taken: the tree grows one level at the top. The old tree becomes the
 * subtree of position 1 (a node at level k, index i moves from first(k)+i to first(k+1)+i), whose
 * new key no member holds yet: it is dirty, and the next eviction that needs it sends it under
 * its d children (d wrapped keys), so growing never makes a member register again. Every row
 * moves: the store rewrites the tree (rewrite_all). */
static gk_status grow(gk_lkh *t, const gk_rand *rnd)
{
	unsigned d = t->degree;
	uint64_t nfirst = level_first(d, t->depth + 1);
	gk_status st;
	if (t->depth + 1 >= GK_LKH_MAX_DEPTH)
		return GK_E_TOO_BIG;
	if ((st = ensure_cap(t, nfirst + level_width(d, t->depth + 1) + 1)))
		return st;
	for (uint64_t p = t->end; p-- > 1;) {
		if (!present(t, p))
			continue;
		unsigned k = 0;
		while (level_first(d, k + 1) <= p)
			k++;
		uint64_t np = p + level_width(d, k);
		t->nodes[np] = t->nodes[p];
		if (t->nodes[np].member && (st = slot_set(t, t->nodes[np].member, (uint32_t)np)))
			return st; /* while p still names it: the slot is found by the member at p */
		memset(&t->nodes[p], 0, sizeof(t->nodes[p]));
		if (np >= t->end)
			t->end = (size_t)np + 1;
	}
	uint64_t shift = level_width(d, t->depth);
	for (size_t i = 0; i < t->nfree; i++) /* leaf positions: one shift keeps the heap order */
		t->freepos[i] += (uint32_t)shift;
	t->next_leaf += shift;
	t->depth++;
	if ((st = new_key(t, rnd, 1)))
		return st;
	t->nodes[1].dirty = true;
	t->rewrite_all = true;
	return GK_OK;
}

gk_status gk_lkh_join(gk_lkh *t, const gk_rand *rnd, const char *member, uint32_t *pos)
{
	uint32_t p = gk_lkh_find(t, member);
	gk_status st;
	if (p) {
		*pos = p;
		return GK_OK;
	}
	p = 0;
	while (t->nfree && !p) {
		uint32_t f = free_pop(t);
		if (f < t->next_leaf && !present(t, f))
			p = f;
	}
	if (!p && t->next_leaf >= level_first(t->degree, t->depth) + level_width(t->degree, t->depth) &&
	    (st = grow(t, rnd)))
		return st;
	if (!p)
		p = (uint32_t)t->next_leaf++;
	if ((st = ensure_cap(t, (uint64_t)p + 1)) || (st = make_ancestors(t, rnd, p)))
		return st;
	char *m = strdup(member);
	if (!m)
		return GK_E_NOMEM;
	if ((st = new_key(t, rnd, p))) {
		free(m);
		return st;
	}
	t->nodes[p].member = m;
	t->nodes[p].dirty = false;
	if ((st = slot_set(t, m, p)))
		return st;
	t->nmembers++;
	*pos = p;
	return GK_OK;
}

size_t gk_lkh_path(const gk_lkh *t, uint32_t leaf, uint32_t path[GK_LKH_MAX_DEPTH])
{
	size_t n = 0;
	for (uint32_t p = leaf; p && n < GK_LKH_MAX_DEPTH && present(t, p); p = parent_of(t, p))
		path[n++] = p;
	return n;
}

void gk_lkh_evicted_free(gk_lkh_evicted *e)
{
	free(e->wraps);
	memset(e, 0, sizeof(*e));
}

static gk_status add_wrap(gk_lkh_evicted *e, size_t *cap, uint32_t key, uint32_t kwk)
{
	if (e->nwraps == *cap) {
		size_t nc = *cap ? *cap * 2 : 32;
		gk_lkh_wrap *nw = realloc(e->wraps, nc * sizeof(*nw));
		if (!nw)
			return GK_E_NOMEM;
		e->wraps = nw;
		*cap = nc;
	}
	e->wraps[e->nwraps++] = (gk_lkh_wrap){ key, kwk };
	return GK_OK;
}

/* A dirty node's key goes out under each of its children's keys before anything is wrapped
 * under it, so every member below can follow (children first when they are dirty too). */
static gk_status announce(gk_lkh *t, uint32_t p, gk_lkh_evicted *e, size_t *cap, unsigned depth)
{
	gk_status st = GK_OK;
	if (!t->nodes[p].dirty)
		return GK_OK;
	if (depth >= GK_LKH_MAX_DEPTH)
		return GK_E_TOO_BIG;
	uint64_t c = first_child(t, p);
	for (unsigned i = 0; i < t->degree && !st; i++)
		if (present(t, c + i) && !(st = announce(t, (uint32_t)(c + i), e, cap, depth + 1)))
			st = add_wrap(e, cap, p, (uint32_t)(c + i));
	if (!st) {
		t->nodes[p].dirty = false;
		st = touch(t, p);
	}
	return st;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

gk_status gk_lkh_evict(gk_lkh *t, const gk_rand *rnd, const char *const *members, size_t n, gk_lkh_evicted *out)
{
	uint32_t *rep = NULL;
	size_t nrep = 0, repcap = 0, wcap = 0, k = 0;
	gk_status st = GK_OK;
	memset(out, 0, sizeof(*out));
	/* the leaves go; their ancestors are to be replaced */
	for (size_t i = 0; i < n && !st; i++) {
		uint32_t p = gk_lkh_find(t, members[i]);
		if (!p)
			continue;
		clear_node(t, p);
		if ((st = touch(t, p)) || (st = free_push(t, p)))
			break;
		out->removed++;
		for (uint32_t a = parent_of(t, p); a && !st; a = parent_of(t, a))
			st = push_u32(&rep, &nrep, &repcap, a);
	}
	if (st)
		goto out;
	qsort(rep, nrep, sizeof(*rep), cmp_u32);
	for (size_t i = 0; i < nrep; i++)
		if (!k || rep[k - 1] != rep[i])
			rep[k++] = rep[i];
	nrep = k;
	/* bottom up: an inner node left without children goes too */
	for (size_t i = nrep; i-- > 0 && !st;)
		if (!has_children(t, rep[i])) {
			clear_node(t, rep[i]);
			st = touch(t, rep[i]);
		}
	/* top down: new keys and Key IDs (Appendix A.4 numbers them so), then each new key under
	 * the keys of the children that stay */
	for (size_t i = 0; i < nrep && !st; i++)
		if (present(t, rep[i])) {
			st = new_key(t, rnd, rep[i]);
			t->nodes[rep[i]].dirty = false;
		}
	for (size_t i = 0; i < nrep && !st; i++) {
		if (!present(t, rep[i]))
			continue;
		uint64_t c = first_child(t, rep[i]);
		for (unsigned j = 0; j < t->degree && !st; j++)
			if (present(t, c + j) && !(st = announce(t, (uint32_t)(c + j), out, &wcap, 0)))
				st = add_wrap(out, &wcap, rep[i], (uint32_t)(c + j));
	}
	/* the new Rekey SA key under every top-level key */
	for (unsigned j = 0; j < t->degree && !st; j++)
		if (present(t, 1 + j) && !(st = announce(t, 1 + j, out, &wcap, 0)))
			out->tops[out->ntops++] = 1 + j;
out:
	free(rep);
	if (st)
		gk_lkh_evicted_free(out);
	return st;
}

gk_status gk_lkh_set(gk_lkh *t, uint32_t pos, uint32_t key_id, const uint8_t *key, size_t len,
		     const char *member, bool dirty)
{
	gk_status st;
	if (!pos || !key_id || len != t->key_len || present(t, pos))
		return GK_E_INVAL;
	if ((st = ensure_cap(t, first_child(t, pos) + t->degree)))
		return st;
	if (member) {
		if (gk_lkh_find(t, member))
			return GK_E_INVAL;
		if (!(t->nodes[pos].member = strdup(member)))
			return GK_E_NOMEM;
		if ((st = slot_set(t, member, pos)))
			return st;
		t->nmembers++;
	}
	memcpy(t->nodes[pos].key, key, len);
	t->nodes[pos].key_id = key_id;
	t->nodes[pos].dirty = dirty;
	if (pos >= t->end)
		t->end = (size_t)pos + 1;
	if (key_id >= t->next_key_id)
		t->next_key_id = key_id + 1;
	return GK_OK;
}

gk_status gk_lkh_loaded(gk_lkh *t)
{
	gk_status st = GK_OK;
	uint64_t first = level_first(t->degree, t->depth);
	t->nfree = 0;
	t->next_leaf = (size_t)first;
	for (size_t p = (size_t)first; p < t->end; p++)
		if (present(t, p))
			t->next_leaf = p + 1;
	for (size_t p = (size_t)first; p < t->next_leaf && !st; p++)
		if (!present(t, p))
			st = free_push(t, (uint32_t)p);
	return st;
}

gk_status gk_lkh_build(gk_lkh *t, const gk_rand *rnd, const char *const *members, size_t n)
{
	gk_status st;
	if (t->end > 1 || !n)
		return GK_E_STATE;
	while (level_width(t->degree, t->depth) < n)
		t->depth++;
	uint64_t first = level_first(t->degree, t->depth);
	if ((st = ensure_cap(t, first + n + 1)))
		return st;
	for (size_t i = 0; i < n; i++) /* mark leaves and their ancestors */
		for (uint32_t p = (uint32_t)(first + i); p && !t->nodes[p].key_id; p = parent_of(t, p))
			t->nodes[p].key_id = UINT32_MAX;
	t->end = (size_t)(first + n);
	t->next_leaf = t->end;
	for (size_t p = 1; p < t->end; p++)
		if (t->nodes[p].key_id) {
			t->nodes[p].key_id = 0;
			if ((st = new_key(t, rnd, (uint32_t)p)))
				return st;
		}
	for (size_t i = 0; i < n; i++) {
		uint32_t p = (uint32_t)(first + i);
		if (!(t->nodes[p].member = strdup(members[i])))
			return GK_E_NOMEM;
		if ((st = slot_set(t, members[i], p)))
			return st;
		t->nmembers++;
	}
	t->rewrite_all = true;
	return GK_OK;
}

/* ---- wrapped keys as they travel ---- */

static gk_status wrap_one(gk_arena *a, uint16_t kwa, gk_chunk kwk, uint32_t key_id, uint32_t kwk_id, gk_chunk key,
			  gk_kh_wrapped *out)
{
	gk_wbuf w;
	gk_wbuf_init(&w, 0);
	gk_status st = gk_wrapped_key_build(kwa, kwk, key_id, kwk_id, key, &w);
	uint8_t *v = st ? NULL : gk_arena_dup(a, w.data, w.len);
	if (!st && !v)
		st = GK_E_NOMEM;
	if (!st)
		*out = (gk_kh_wrapped){ .key_id = key_id, .kwk_id = kwk_id, .value = GK_CHUNK(v, w.len) };
	gk_wbuf_free(&w);
	return st;
}

static gk_chunk key_of(const gk_lkh *t, uint32_t p)
{
	return GK_CHUNK(t->nodes[p].key, t->key_len);
}

gk_status gk_lkh_reg_wraps(const gk_lkh *t, uint32_t leaf, uint16_t ike_kwa, gk_chunk gsk_w, uint16_t rekey_kwa,
			   gk_chunk sa_keymat, gk_arena *a, gk_kh_wrapped **wraps, size_t *nwraps,
			   gk_kh_wrapped **sa_keys, size_t *nsa_keys)
{
	uint32_t path[GK_LKH_MAX_DEPTH];
	size_t n = gk_lkh_path(t, leaf, path);
	if (!n || !is_leaf(t, leaf))
		return GK_E_NOT_FOUND;
	gk_kh_wrapped *w = gk_arena_calloc(a, n, sizeof(*w)), *s = gk_arena_calloc(a, 1, sizeof(*s));
	if (!w || !s)
		return GK_E_NOMEM;
	gk_status st = GK_OK;
	/* top down, as Appendix A.2 writes them: 3{1}, 7{3}, GSK_w{7} */
	for (size_t i = n - 1; i > 0 && !st; i--)
		st = wrap_one(a, rekey_kwa, key_of(t, path[i - 1]), t->nodes[path[i]].key_id,
			      t->nodes[path[i - 1]].key_id, key_of(t, path[i]), &w[n - 1 - i]);
	if (!st)
		st = wrap_one(a, ike_kwa, gsk_w, t->nodes[leaf].key_id, 0, key_of(t, leaf), &w[n - 1]);
	if (!st)
		st = wrap_one(a, rekey_kwa, key_of(t, path[n - 1]), 0, t->nodes[path[n - 1]].key_id, sa_keymat, s);
	if (st)
		return st;
	*wraps = w;
	*nwraps = n;
	*sa_keys = s;
	*nsa_keys = 1;
	return GK_OK;
}

gk_status gk_lkh_evict_wraps(const gk_lkh *t, const gk_lkh_evicted *e, uint16_t rekey_kwa, gk_chunk sa_keymat,
			     gk_arena *a, gk_kh_wrapped **wraps, size_t *nwraps, gk_kh_wrapped **sa_keys,
			     size_t *nsa_keys)
{
	gk_kh_wrapped *w = e->nwraps ? gk_arena_calloc(a, e->nwraps, sizeof(*w)) : NULL;
	gk_kh_wrapped *s = e->ntops ? gk_arena_calloc(a, e->ntops, sizeof(*s)) : NULL;
	gk_status st = GK_OK;
	if ((e->nwraps && !w) || (e->ntops && !s))
		return GK_E_NOMEM;
	for (size_t i = 0; i < e->nwraps && !st; i++) {
		uint32_t k = e->wraps[i].key_pos, kw = e->wraps[i].kwk_pos;
		st = wrap_one(a, rekey_kwa, key_of(t, kw), t->nodes[k].key_id, t->nodes[kw].key_id, key_of(t, k), &w[i]);
	}
	for (size_t i = 0; i < e->ntops && !st; i++)
		st = wrap_one(a, rekey_kwa, key_of(t, e->tops[i]), 0, t->nodes[e->tops[i]].key_id, sa_keymat, &s[i]);
	if (st)
		return st;
	*wraps = w;
	*nwraps = e->nwraps;
	*sa_keys = s;
	*nsa_keys = e->ntops;
	return GK_OK;
}
