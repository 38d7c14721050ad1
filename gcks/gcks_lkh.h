/* The logical key hierarchy of a multicast group (RFC 9838 3.2, Appendix A; RFC 2627 5.4): a
 * tree of intermediate key wrap keys whose root is the Rekey SA's key, whose leaves are the
 * members' own keys, and whose inner nodes are shared by the members below them. A member holds
 * the keys of its path (leaf to top); evicting members replaces every key on their paths, each new
 * key wrapped under the keys of the children that stay, so one GSA_REKEY with O(d log N) wrapped
 * keys reaches everyone else (Appendix A.4).
 *
 * The tree is kept in heap order: position 0 is the root (the Rekey SA, no intermediate key),
 * the children of position p are d*p+1 .. d*p+d. Every leaf is at the same level, `depth`, chosen
 * from the members the policy lists (d^depth >= N); joins take the lowest free leaf position
 * (holes left by evictions first) and make its missing ancestors. When every leaf position is
 * taken the tree grows one level at the top. Inner nodes are only ever made for the one member
 * joining below them, or (growth) above members who then get the key under its children with the
 * next eviction, so no member ever needs a key it was not sent. Key IDs come from a counter that
 * never goes back (the store keeps it), so an ID is never reused while a member may hold its key.
 *
 * Pure: no store, no clock; randomness from the caller. Owned by gcks_group (gcks_state.h);
 * gcks_keyrules.c runs its changes inside the store's transactions (gk_keys_lkh_*). */
#ifndef GK_GCKS_LKH_H
#define GK_GCKS_LKH_H

#include <stdint.h>
#include "group_sa.h"

struct gk_rand;

#define GK_LKH_DEGREE_MIN 2
#define GK_LKH_DEGREE_MAX 16
#define GK_LKH_MAX_DEPTH GK_KH_MAX_DEPTH /* the longest key path a member keeps (group_sa.h) */

/* One position of the tree. key_id 0: nothing there. */
typedef struct gk_lkh_node {
	uint32_t key_id;
	uint8_t key[GK_KH_KEY_MAX];
	char *member;            /* a leaf: the member's identity text, owned; NULL inside the tree */
	bool dirty;              /* inner node some member below does not hold (made when the tree
				  * grew a level): delivered under its children before use */
	bool touched;            /* changed since gk_lkh_touched_clear (rows for the store) */
} gk_lkh_node;

typedef struct gk_lkh {
	unsigned degree;
	size_t key_len;          /* of the Rekey SA's key wrap algorithm */
	gk_lkh_node *nodes;      /* by position; owned */
	size_t cap, end;         /* allocated positions; positions >= end are empty */
	unsigned depth;          /* the level of every leaf (>= 1) */
	size_t next_leaf;        /* leaf positions from here on were never taken */
	bool rewrite_all;        /* positions moved (growth, build): the store rewrites the tree */
	uint32_t next_key_id;    /* the next Key ID to hand out (>= 1) */
	size_t nmembers;
	uint32_t *slots;         /* member -> position + 1, open addressing; owned */
	size_t mask;
	uint32_t *freepos;       /* min-heap of positions emptied by evictions; owned */
	size_t nfree, freecap;
	uint32_t *touched;       /* positions changed since gk_lkh_touched_clear; owned */
	size_t ntouched, touchcap;
} gk_lkh;

/* One wrapped key of an eviction: the key at position key_pos under the key at kwk_pos. */
typedef struct gk_lkh_wrap {
	uint32_t key_pos, kwk_pos;
} gk_lkh_wrap;

/* What an eviction sends: WRAP_KEYs (a key under a child's key), then the positions under whose
 * keys the Rekey SA's new key goes (the top-level nodes). Owned; gk_lkh_evicted_free. */
typedef struct gk_lkh_evicted {
	gk_lkh_wrap *wraps;
	size_t nwraps;
	uint32_t tops[GK_LKH_DEGREE_MAX];
	size_t ntops;
	size_t removed;          /* members taken out */
} gk_lkh_evicted;

/* capacity: the members expected (those the policy lists): sets the depth. */
gk_status gk_lkh_init(gk_lkh *t, unsigned degree, size_t key_len, size_t capacity);
void gk_lkh_free(gk_lkh *t);

/* Position of the member's leaf, 0 when it has none. */
uint32_t gk_lkh_find(const gk_lkh *t, const char *member);
/* Gives the member a leaf, keys for the positions that need them (fresh from rnd) and Key IDs
 * from the counter; a member that has one keeps it (same leaf, same keys: gmd instances sharing
 * an identity stay in step, and it is the same principal). GK_E_TOO_BIG when Key IDs or
 * positions run out. On failure the tree
 * may be half changed: the caller reloads it (gk_keys_lkh_load). */
gk_status gk_lkh_join(gk_lkh *t, const struct gk_rand *rnd, const char *member, uint32_t *pos);
/* The positions of the member's path, leaf first, top-level node last; n <= GK_LKH_MAX_DEPTH. */
size_t gk_lkh_path(const gk_lkh *t, uint32_t leaf, uint32_t path[GK_LKH_MAX_DEPTH]);
/* Takes the members' leaves out and replaces every key on their paths (new Key IDs, fresh keys),
 * RFC 9838 A.4; out says what the GSA_REKEY carries. Members without a leaf are skipped. Same
 * failure rule as gk_lkh_join. */
gk_status gk_lkh_evict(gk_lkh *t, const struct gk_rand *rnd, const char *const *members, size_t n,
		       gk_lkh_evicted *out);
void gk_lkh_evicted_free(gk_lkh_evicted *e);

/* Puts a node as the store gives it back (loading); member may be NULL. */
gk_status gk_lkh_set(gk_lkh *t, uint32_t pos, uint32_t key_id, const uint8_t *key, size_t len,
		     const char *member, bool dirty);
/* After the last gk_lkh_set (depth set first): the empty leaf positions become free for joins. */
gk_status gk_lkh_loaded(gk_lkh *t);
/* Builds a complete tree over members directly (the benchmark, tests): leaves at the deepest
 * level, Key IDs in position order from next_key_id (Appendix A.2's numbering). */
gk_status gk_lkh_build(gk_lkh *t, const struct gk_rand *rnd, const char *const *members, size_t n);

void gk_lkh_touched_clear(gk_lkh *t);

/* The wrapped keys of a registration (RFC 9838 A.2): the leaf under kwk (GSK_w of the IKE SA,
 * ike_kwa), each ancestor under the key below it (rekey_kwa), as WRAP_KEY values; and the Rekey
 * SA's keymat under the top-level key as SA_KEY value. Memory from the arena. */
gk_status gk_lkh_reg_wraps(const gk_lkh *t, uint32_t leaf, uint16_t ike_kwa, gk_chunk gsk_w, uint16_t rekey_kwa,
			   gk_chunk sa_keymat, gk_arena *a, gk_kh_wrapped **wraps, size_t *nwraps,
			   gk_kh_wrapped **sa_keys, size_t *nsa_keys);
/* The same for an eviction (A.4): its WRAP_KEYs and the new Rekey SA keymat under each top. */
gk_status gk_lkh_evict_wraps(const gk_lkh *t, const gk_lkh_evicted *e, uint16_t rekey_kwa, gk_chunk sa_keymat,
			     gk_arena *a, gk_kh_wrapped **wraps, size_t *nwraps, gk_kh_wrapped **sa_keys,
			     size_t *nsa_keys);

#endif
