/* IKE message fragmentation (RFC 7383): building a protected message as several SKF datagrams
 * when it would exceed the path's size, and reassembling received fragments, each verified
 * before it is kept. */
#ifndef GK_FRAG_H
#define GK_FRAG_H

#include "message.h"

#define GK_FRAG_MAX 32           /* fragments per message we accept or send */
#define GK_FRAG_DEFAULT_SIZE 1232 /* IKE octets per datagram: fits IPv6's minimum MTU */

/* A list of datagrams (one message, or its fragments). Owns the buffers. */
typedef struct gk_dgrams {
	gk_wbuf d[GK_FRAG_MAX];
	size_t n;
} gk_dgrams;

void gk_dgrams_free(gk_dgrams *l);

/* Builds a protected message; if it exceeds max_len octets and frag is allowed, as SKF
 * fragments of at most max_len octets each (RFC 7383 2.5). Without frag, one datagram. */
gk_status gk_msg_build_dgrams(const gk_msg_out *o, const gk_sk_keys *k, const gk_rand *rnd,
			      bool frag, size_t max_len, gk_dgrams *out);

/* The same from an already encoded inner payload chain (first payload type first_type), under
 * header h (next_payload and length are set here). max_len 0 never fragments. */
gk_status gk_msg_build_raw_dgrams(const gk_hdr *h, uint8_t first_type, gk_chunk inner,
				  const gk_sk_keys *k, const gk_rand *rnd, size_t max_len, gk_dgrams *out);

/* Octets parked by the reassemblies of one source (an address the caller groups them by), and
 * its bound (0 = none): one source must not hold the whole pool. Owned by the caller. */
typedef struct gk_frag_account {
	size_t used;
	size_t max;
} gk_frag_account;

/* A memory budget shared by several reassemblies (all IKE SAs of a GCKS): RFC 7383 2.6 leaves
 * the receiver's limits to the implementation, and fragments of a peer that has not
 * authenticated must not grow without bound. When it is full, the oldest incomplete set of
 * another source makes room, so a peer holding the pool cannot lock out everyone else's
 * fragments. Owned by whoever makes the reassemblies; outlives them. */
typedef struct gk_frag_pool {
	size_t used;             /* octets held by parked fragments now */
	size_t max;              /* bound on used */
	struct gk_frag_reasm *oldest, *newest; /* reassemblies with a set begun, oldest set first */
	uint64_t evicted;        /* sets dropped to make room for a fragment of another */
} gk_frag_pool;

/* Reassembly of one message at a time. Owns its buffers; does not own pool or acct. max_bytes,
 * pool, acct and sets survive gk_frag_reset. */
typedef struct gk_frag_reasm {
	uint32_t msg_id;
	uint16_t total;
	uint16_t have;
	uint8_t first_type;
	uint8_t first_flags;     /* octet 1 of fragment 1's SKF header (C bit, RESERVED) */
	bool active;
	gk_wbuf part[GK_FRAG_MAX];
	bool got[GK_FRAG_MAX];
	size_t bytes;            /* octets held by part[] (allocated sizes), charged to pool, acct */
	size_t max_bytes;        /* bound on bytes, 0 = none */
	gk_frag_pool *pool;      /* NULL = none */
	gk_frag_account *acct;   /* the source's account, NULL = none */
	uint32_t sets;           /* sets begun so far: a caller can time each from its start. A set
				  * replacing an incomplete one of the same message (another
				  * Fragment Total) is not counted: it keeps the first one's age */
	struct gk_frag_reasm *pool_prev, *pool_next; /* in pool's age list while active */
	bool listed;
} gk_frag_reasm;

/* Takes a parsed message whose protected payload is SKF: verifies and decrypts the fragment
 * with k and keeps it. When the last one arrives, *done is set and the whole plaintext is
 * appended to plain with *first_type the first inner payload type. Fragments of another
 * Message ID start over (RFC 7383 2.6). GK_E_INTEGRITY for a fragment that does not verify
 * (drop it), GK_E_MALFORMED for inconsistent numbering. A fragment that would hold more than
 * max_bytes drops the whole set (GK_E_TOO_BIG: it could never complete). One that would exceed
 * the account first drops the oldest other set of the same account, one that would exceed the
 * pool the oldest set of another account (or of none); when there is none to drop, the
 * fragment is dropped alone (GK_E_NOMEM). */
gk_status gk_frag_add(gk_frag_reasm *r, const gk_msg *m, const gk_sk_keys *k, bool *done,
		      gk_wbuf *plain, uint8_t *first_type);
/* Octet 1 of the SKF header of fragment 1 of the last reassembled message. */
uint8_t gk_frag_first_flags(const gk_frag_reasm *r);
/* Drops the parked fragments (returning their octets to the pool and the account). */
void gk_frag_reset(gk_frag_reasm *r);
/* Moves the reassembly, with what it holds parked, to another account (NULL = none). */
void gk_frag_set_account(gk_frag_reasm *r, gk_frag_account *acct);

#endif
