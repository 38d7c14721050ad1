#include <string.h>
#include <openssl/crypto.h>
#include "key_path.h"
#include "ikekeys.h"
#include "keywrap.h"

/* Where a key was found: the default KWK, a key of the Working Key Path, or a WRAP_KEY of the
 * message (resolved once per Key ID and remembered, so that no WRAP_KEY is unwrapped twice and
 * a cycle is seen as a Key ID met again while it is being resolved). */
enum { END_GSK_W = -1 };
typedef enum { R_NEW, R_BUSY, R_OK, R_NONE } rstate;

typedef struct node {
	uint32_t id;
	rstate state;
	gk_kh_key key;
	uint32_t via;       /* the KWK ID it was opened with */
	size_t chain;       /* keys from this one to the end of its path, itself included */
	int end;            /* END_GSK_W or the index in the Working Key Path its path ends at */
} node;

typedef struct ctx {
	const gk_key_path_in *in;
	size_t wkp_n;
	node *nodes;        /* one per distinct Key ID among the WRAP_KEYs, at most nwrap */
	size_t nn;
	size_t key_len;     /* octets of an intermediate key: the Rekey SA's KWA key size */
	bool bad_unwrap;    /* some path reached a key that did not open its wrapped key */
	char *err;
	size_t errlen;
} ctx;

/* A key found: its octets, the KWA to use it with, and how its path ends. */
typedef struct found {
	gk_chunk key;
	uint16_t kwa;
	size_t chain;
	int end;
} found;

static node *node_for(ctx *c, uint32_t id)
{
	for (size_t i = 0; i < c->nn; i++)
		if (c->nodes[i].id == id)
			return &c->nodes[i];
	for (size_t i = 0; i < c->in->nwrap; i++)
		if (c->in->wrap_keys[i].key_id == id) {
			node *n = &c->nodes[c->nn++];
			n->id = id;
			return n;
		}
	return NULL;
}

/* Unwraps w under k into out (of want octets). GK_E_INTEGRITY when the key does not open it
 * (noted, the caller tries the next way), GK_E_MALFORMED when it opens to another size. */
static gk_status unwrap(ctx *c, const gk_kh_wrapped *w, const found *k, uint8_t *out, size_t want,
			const char *what)
{
	gk_wbuf b;
	gk_wbuf_init(&b, GK_WRAP_MAX_KEY + 16);
	gk_status st = gk_wrapped_key_open(k->kwa, k->key, w->value, NULL, NULL, &b);
	if (st == GK_E_INTEGRITY) {
		c->bad_unwrap = true;
	} else if (st) {
		gk_seterr(c->err, c->errlen, "%s %u under KWK ID %u cannot be unwrapped: %s", what, w->key_id,
			  w->kwk_id, gk_status_str(st));
		st = GK_E_MALFORMED;
	} else if (b.len != want) {
		gk_seterr(c->err, c->errlen, "%s %u under KWK ID %u unwraps to %zu octets, not %zu", what, w->key_id,
			  w->kwk_id, b.len, want);
		st = GK_E_MALFORMED;
	} else {
		memcpy(out, b.data, want);
	}
	gk_wbuf_free(&b);
	return st;
}

static gk_status resolve(ctx *c, uint32_t id, size_t depth, found *out);

/* Opens every WRAP_KEY carrying Key ID n->id whose KWK a path reaches: the first gives the key,
 * the others must give the same one (RFC 9838 3.3 sends a key under several KWKs: 6{15}, 16{15}
 * in Appendix A.4). */
static gk_status resolve_node(ctx *c, node *n, size_t depth)
{
	uint8_t k[GK_KH_KEY_MAX];
	gk_status st = GK_OK;
	n->state = R_BUSY;
	for (size_t i = 0; i < c->in->nwrap && !st; i++) {
		const gk_kh_wrapped *w = &c->in->wrap_keys[i];
		found kw;
		if (w->key_id != n->id)
			continue;
		st = resolve(c, w->kwk_id, depth + 1, &kw);
		if (st == GK_E_NOT_FOUND) {
			st = GK_OK;
			continue;
		}
		if (!st)
			st = unwrap(c, w, &kw, k, c->key_len, "WRAP_KEY");
		if (st == GK_E_INTEGRITY) {
			st = GK_OK;
			continue;
		}
		if (st)
			break;
		if (n->key.len) {
			if (CRYPTO_memcmp(n->key.key, k, c->key_len)) {
				gk_seterr(c->err, c->errlen, "two different keys under Key ID %u", n->id);
				st = GK_E_MALFORMED;
			}
			continue;
		}
		if (kw.chain + 1 > GK_KH_MAX_DEPTH) {
			gk_seterr(c->err, c->errlen, "key path longer than %d keys", GK_KH_MAX_DEPTH);
			st = GK_E_TOO_DEEP;
			break;
		}
		memcpy(n->key.key, k, c->key_len);
		n->key.len = c->key_len;
		n->key.id = n->id;
		n->via = w->kwk_id;
		n->chain = kw.chain + 1;
		n->end = kw.end;
	}
	OPENSSL_cleanse(k, sizeof(k));
	n->state = n->key.len ? R_OK : R_NONE;
	return st;
}

/* The key with this ID: GSK_w (0), a key of the Working Key Path, or one the message's
 * WRAP_KEYs deliver. GK_E_NOT_FOUND when no path leads to it. */
static gk_status resolve(ctx *c, uint32_t id, size_t depth, found *out)
{
	if (id == GK_KWK_ID_DEFAULT) {
		*out = (found){ .key = c->in->gsk_w, .kwa = c->in->kwa_w, .chain = 0, .end = END_GSK_W };
		return GK_OK;
	}
	for (size_t j = 0; j < c->wkp_n; j++)
		if (c->in->wkp->keys[j].id == id) {
			const gk_kh_key *k = &c->in->wkp->keys[j];
			*out = (found){ .key = GK_CHUNK(k->key, k->len), .kwa = c->in->kwa, .chain = 0, .end = (int)j };
			return GK_OK;
		}
	node *n = node_for(c, id);
	if (!n)
		return GK_E_NOT_FOUND;
	if (n->state == R_BUSY) {
		gk_seterr(c->err, c->errlen, "WRAP_KEY attributes wrap each other in a cycle (Key ID %u)", id);
		return GK_E_MALFORMED;
	}
	if (n->state == R_NEW) {
		if (depth >= GK_KH_MAX_DEPTH) {
			gk_seterr(c->err, c->errlen, "key path longer than %d keys", GK_KH_MAX_DEPTH);
			return GK_E_TOO_DEEP;
		}
		gk_status st = resolve_node(c, n, depth);
		if (st)
			return st;
	}
	if (n->state != R_OK)
		return GK_E_NOT_FOUND;
	*out = (found){ .key = GK_CHUNK(n->key.key, n->key.len), .kwa = c->in->kwa, .chain = n->chain, .end = n->end };
	return GK_OK;
}

/* RFC 9838 3.3: the new Key Path (from the SA_KEY's KWK down to, not including, where it ends)
 * and what the Working Key Path becomes with it. */
static gk_status new_wkp(ctx *c, uint32_t kwk_id, gk_key_path *out)
{
	gk_key_path *p = OPENSSL_zalloc(sizeof(*p));
	const gk_key_path *old = c->in->wkp;
	gk_status st = GK_OK;
	int end = END_GSK_W;
	if (!p)
		return GK_E_NOMEM;
	for (uint32_t id = kwk_id; id != GK_KWK_ID_DEFAULT;) {
		node *n = NULL;
		for (size_t i = 0; i < c->nn && !n; i++)
			if (c->nodes[i].id == id && c->nodes[i].state == R_OK)
				n = &c->nodes[i];
		if (!n) { /* a key of the Working Key Path */
			for (size_t j = 0; j < c->wkp_n; j++)
				if (old->keys[j].id == id)
					end = (int)j;
			break;
		}
		p->keys[p->n++] = n->key; /* n->chain <= GK_KH_MAX_DEPTH bounds the walk */
		id = n->via;
	}
	if (p->n == 0) {
		/* nothing from this message was used: the Working Key Path stays */
		if (old)
			*out = *old;
		else
			OPENSSL_cleanse(out, sizeof(*out));
	} else if (end == END_GSK_W && !c->in->registration) {
		gk_seterr(c->err, c->errlen, "a new key path ending at the default KWK outside registration "
			  "(RFC 9838 3.3)");
		st = GK_E_MALFORMED;
	} else if (end != END_GSK_W && p->n + (c->wkp_n - (size_t)end) > GK_KH_MAX_DEPTH) {
		gk_seterr(c->err, c->errlen, "Working Key Path longer than %d keys", GK_KH_MAX_DEPTH);
		st = GK_E_TOO_DEEP;
	} else {
		/* replace the beginning of the Working Key Path up to, not including, the key that
		 * opened the new path's last key */
		for (size_t j = end == END_GSK_W ? c->wkp_n : (size_t)end; j < c->wkp_n; j++)
			p->keys[p->n++] = old->keys[j];
		*out = *p;
	}
	OPENSSL_clear_free(p, sizeof(*p));
	return st;
}

gk_status gk_key_path_open(const gk_key_path_in *in, uint8_t *keymat, gk_key_path *wkp_out, char *err,
			   size_t errlen)
{
	ctx c = { .in = in, .wkp_n = in->wkp ? in->wkp->n : 0, .key_len = gk_kwa_key_len(in->kwa), .err = err,
		  .errlen = errlen };
	uint8_t *km = NULL;
	uint32_t used = 0;
	bool have = false;
	gk_status st = GK_OK;
	gk_seterr(err, errlen, "%s", "");
	if (!keymat || !wkp_out || in->keymat_len == 0 || in->keymat_len > GK_KEYMAT_MAX || c.wkp_n > GK_KH_MAX_DEPTH ||
	    in->nwrap > GK_KH_MAX_WRAPPED || in->nsa > GK_KH_MAX_WRAPPED || (in->nwrap && !in->wrap_keys) ||
	    (in->nsa && !in->sa_keys) || c.key_len == 0 || c.key_len > GK_KH_KEY_MAX)
		return GK_E_INVAL;
	c.nodes = OPENSSL_zalloc((in->nwrap ? in->nwrap : 1) * sizeof(*c.nodes));
	km = OPENSSL_zalloc(GK_KEYMAT_MAX);
	if (!c.nodes || !km)
		st = GK_E_NOMEM;
	for (size_t i = 0; i < in->nwrap && !st; i++)
		if (in->wrap_keys[i].key_id == GK_KEY_ID_SA) {
			gk_seterr(err, errlen, "WRAP_KEY with Key ID 0 (RFC 9838 4.5.3.1)");
			st = GK_E_MALFORMED;
		}
	for (size_t i = 0; i < in->nsa && !st; i++) {
		const gk_kh_wrapped *s = &in->sa_keys[i];
		found k;
		if (s->key_id != GK_KEY_ID_SA) {
			gk_seterr(err, errlen, "SA_KEY with a non-zero Key ID");
			st = GK_E_MALFORMED;
			break;
		}
		st = resolve(&c, s->kwk_id, 0, &k);
		if (!st)
			st = unwrap(&c, s, &k, have ? km : keymat, in->keymat_len, "SA_KEY");
		if (st == GK_E_NOT_FOUND || st == GK_E_INTEGRITY) {
			st = GK_OK;
			continue;
		}
		if (st)
			break;
		if (have && CRYPTO_memcmp(km, keymat, in->keymat_len)) {
			gk_seterr(err, errlen, "SA_KEY attributes carry different keying material (RFC 9838 3.3)");
			st = GK_E_MALFORMED;
		} else if (!have) {
			have = true;
			used = s->kwk_id;
		}
	}
	if (!st && !have) {
		gk_seterr(err, errlen, "%s", c.bad_unwrap ? "no key path opens an SA_KEY (a path was found but its "
			  "keys did not unwrap): excluded" : "no key path to any SA_KEY: excluded (RFC 9838 3.3)");
		st = GK_E_NOT_FOUND;
	}
	if (!st)
		st = new_wkp(&c, used, wkp_out);
	if (st) {
		if (keymat)
			OPENSSL_cleanse(keymat, in->keymat_len);
		if (wkp_out)
			gk_key_path_wipe(wkp_out);
	}
	OPENSSL_clear_free(km, GK_KEYMAT_MAX);
	OPENSSL_clear_free(c.nodes, (in->nwrap ? in->nwrap : 1) * sizeof(*c.nodes));
	return st;
}

gk_status gk_key_path_open_state(gk_group_state *gs, const gk_key_path *wkp, gk_chunk gsk_w, uint16_t kwa_w,
				 uint16_t kwa, bool registration, char *err, size_t errlen)
{
	gk_group_sa *kek = NULL;
	gk_status st = GK_OK;
	gk_seterr(err, errlen, "%s", "");
	for (size_t i = 0; i < gs->nsas && !kek; i++)
		if (gs->sas[i].proto == GK_PROTO_GIKE_UPDATE)
			kek = &gs->sas[i];
	if (!kek || !gs->nkh_sa_keys) {
		/* no SA_KEY under an intermediate key: nothing from a hierarchy is used, and WRAP_KEYs
		 * without one are of no use (gk_group_state_decode_kh refuses them without a
		 * Rekey SA) */
		gk_key_path keep = { .n = 0 };
		if (wkp)
			keep = *wkp;
		gs->wkp = keep;
		OPENSSL_cleanse(&keep, sizeof(keep));
	} else {
		gk_key_path_in in = { .wkp = wkp, .gsk_w = gsk_w, .kwa_w = kwa_w, .kwa = kwa ? kwa : kek->kwa,
				      .wrap_keys = gs->wrap_keys, .nwrap = gs->nwrap_keys, .sa_keys = gs->kh_sa_keys,
				      .nsa = gs->nkh_sa_keys, .registration = registration,
				      .keymat_len = gk_group_keymat_len(kek->proto, kek->encr, kek->encr_key_bits,
									kek->integ, kek->kwa) };
		uint8_t km[GK_KEYMAT_MAX];
		st = gk_key_path_open(&in, km, &gs->wkp, err, errlen);
		if (kek->keymat_len) {
			/* opened under GSK_w by the decoder: the path is empty, and any SA_KEY also
			 * opened here must carry the same keying material (RFC 9838 3.3) */
			if (st == GK_E_NOT_FOUND) {
				st = GK_OK;
				gk_seterr(err, errlen, "%s", "");
			} else if (!st && (kek->keymat_len != in.keymat_len ||
					   CRYPTO_memcmp(km, kek->keymat, in.keymat_len))) {
				gk_seterr(err, errlen, "SA_KEY attributes carry different keying material (RFC 9838 3.3)");
				st = GK_E_MALFORMED;
			}
			gk_key_path keep = { .n = 0 };
			if (!st && wkp)
				keep = *wkp;
			gs->wkp = keep;
			OPENSSL_cleanse(&keep, sizeof(keep));
		} else if (!st) {
			memcpy(kek->keymat, km, in.keymat_len);
			kek->keymat_len = in.keymat_len;
		}
		OPENSSL_cleanse(km, sizeof(km));
	}
	gs->wrap_keys = gs->kh_sa_keys = NULL;
	gs->nwrap_keys = gs->nkh_sa_keys = 0;
	if (st)
		gk_key_path_wipe(&gs->wkp);
	return st;
}

void gk_key_path_wipe(gk_key_path *p)
{
	if (p)
		OPENSSL_cleanse(p, sizeof(*p));
}
