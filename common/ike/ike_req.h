/* The IKE request engine shared by the GCKS and the member (RFC 7296 2.1, 2.2): per IKE SA, our
 * one outstanding request (window size 1) with its datagrams and retransmission schedule, the
 * Message ID window of the peer's requests with the cached answer to the last one, and what
 * makes a retransmission worth that answer again (byte-identical, rate-limited). It owns no
 * sockets and no clock: callers pass now_ms, send what it holds, and wake at
 * gk_ike_req_next(). */
#ifndef GK_IKE_REQ_H
#define GK_IKE_REQ_H

#include "frag.h"
#include "ike_sa.h"
#include "rand.h"

/* When to retransmit: first after first_ms, then each wait twice the one before (RFC 7296 2.1:
 * retransmissions back off); after `tries` retransmissions unanswered, give up. */
typedef struct gk_ike_req_sched {
	unsigned first_ms;
	unsigned tries;
} gk_ike_req_sched;

/* Our outstanding request. Owns d; gk_ike_req_clear frees it. Zero = nothing outstanding. */
typedef struct gk_ike_req {
	gk_dgrams d;            /* the request (or its fragments), n 0 = none */
	uint8_t exchange;
	uint32_t msg_id;
	gk_ike_req_sched sched;
	bool pending;           /* sent, not answered, stopped or given up */
	int64_t at;             /* next retransmission, 0 = not armed */
	unsigned wait_ms;       /* the wait that ends at `at` */
	unsigned sent;          /* retransmissions so far */
	uint64_t stream;        /* the stream (RFC 9329) d last went out on, 0 = none or datagrams */
} gk_ike_req;

typedef enum gk_ike_req_due {
	GK_REQ_IDLE,            /* nothing to do now */
	GK_REQ_RESEND,          /* send r->d again (already rearmed with the doubled wait) */
	GK_REQ_GIVE_UP,         /* unanswered through every retransmission: disarmed */
} gk_ike_req_due;

/* Builds a protected message on sa (fragmented when the peer allows it, RFC 7383); with a
 * counter-mode cipher each datagram takes its IV from sa->iv_next. */
gk_status gk_ike_req_build(gk_ike_sa *sa, uint8_t exchange, bool response, uint32_t msg_id,
			   const gk_out_pl *pl, size_t n, const gk_rand *rnd, gk_dgrams *out);
/* Takes the request *d over (emptied; a previous one is freed) and arms its first wait. The
 * caller sends r->d now. */
void gk_ike_req_start(gk_ike_req *r, gk_dgrams *d, uint8_t exchange, uint32_t msg_id,
		      gk_ike_req_sched sched, int64_t now_ms);
/* Whether r->d goes out (again) on `path` (a stream's id, 0 = datagrams), noted when it does.
 * RFC 9329 7.2: over TCP a request is not retransmitted, the stream is reliable; so never twice
 * on one stream. Datagrams always go (RFC 7296 2.1), and so does a new stream (the old one broke).
 * The schedule keeps running either way: an unanswered request is still given up in time. */
bool gk_ike_req_send_on(gk_ike_req *r, uint64_t path);
/* RFC 9329 7.2: a responder does not resend its answer on the stream that carried it. True when
 * a retransmitted request arrived on `path`, the stream the cached answer went out on. */
bool gk_ike_req_stream_answered(uint64_t path, uint64_t answered_on);
/* What the schedule asks for at now_ms. */
gk_ike_req_due gk_ike_req_tick(gk_ike_req *r, int64_t now_ms);
/* True when a response with this exchange and Message ID answers the request still pending (a
 * duplicate of an answer already taken, or one to an older request, answers nothing). */
bool gk_ike_req_answers(const gk_ike_req *r, uint8_t exchange, uint32_t msg_id);
/* Answered, or no longer wanted: no more retransmissions or answers. The datagrams stay. */
void gk_ike_req_stop(gk_ike_req *r);
/* Frees the datagrams: nothing outstanding any more. */
void gk_ike_req_clear(gk_ike_req *r);
/* When to call gk_ike_req_tick next, 0 = not armed. */
int64_t gk_ike_req_next(const gk_ike_req *r);

/* Where a request of the peer with msg_id falls in sa's window (RFC 7296 2.2). */
typedef enum gk_ike_in {
	GK_IN_NEW,              /* the next one expected: process it */
	GK_IN_RETRANSMIT,       /* the last one answered again: resend sa->last_resp */
	GK_IN_DROP,             /* older, or ahead of the window: drop */
} gk_ike_in;

gk_ike_in gk_ike_req_window(const gk_ike_sa *sa, uint32_t msg_id);
/* Our response to the peer's request msg_id was sent: the window moves on and resp (taken over,
 * emptied) is kept for its retransmissions. */
void gk_ike_req_answered(gk_ike_sa *sa, uint32_t msg_id, gk_dgrams *resp);

/* The peer's requests as we took them, to answer their retransmissions (RFC 7296 2.1) without
 * becoming a reflector: only a datagram identical to one of the last request's verified ones is
 * its retransmission, and the cached answer goes again at most `max` times in each window of
 * window_ms. Plain data; zero = nothing noted. */
typedef struct gk_ike_resend {
	uint8_t hash[4][16];    /* the last request's verified datagrams (its first 4 fragments) */
	uint8_t n;
	uint32_t msg_id;        /* that request's Message ID */
	int64_t window_ms;      /* start of the current window of resent answers */
	unsigned sent;          /* answers resent in it */
} gk_ike_resend;

typedef enum gk_ike_copy {
	GK_COPY_UNKNOWN,        /* the answered request was not noted: nothing to compare with */
	GK_COPY_SAME,           /* a copy of one of its datagrams: a retransmission */
	GK_COPY_OTHER,          /* anything else reusing its Message ID: drop */
} gk_ike_copy;

/* The key datagrams are noted under: AES-128-GMAC (RFC 4543) under a key drawn at random (from
 * rnd) for the process, with a fixed nonce, so the noted value of a datagram is its GHASH masked
 * by one AES block. GHASH under a key the peer never learns is almost-XOR-universal (NIST SP
 * 800-38D): a datagram other than a noted one has the same value with a probability of about
 * its length in blocks / 2^128, and nothing of the values leaves gcksd for a forger to learn
 * from. As strong here as a truncated SHA-256 (which anyone can compute), and a sixth of its
 * instructions on a 1 KB datagram (PCLMULQDQ). Freed (and its key schedule wiped) with
 * gk_ike_resend_key_free. */
typedef struct evp_cipher_ctx_st gk_ike_resend_key;
gk_status gk_ike_resend_key_new(const gk_rand *rnd, gk_ike_resend_key **out);
void gk_ike_resend_key_free(gk_ike_resend_key *k);
/* Notes a datagram of request msg_id that passed its integrity check. A datagram that cannot be
 * hashed is not noted (its copies are then no retransmission). */
void gk_ike_resend_note(gk_ike_resend *c, gk_ike_resend_key *k, uint32_t msg_id, gk_chunk d);
/* Whether d, with the Message ID of the request sa answered last, is a copy of it. */
gk_ike_copy gk_ike_resend_copy(const gk_ike_resend *c, gk_ike_resend_key *k, const gk_ike_sa *sa,
			       gk_chunk d);
/* True when the cached answer may go again now (counted); false when the window's `max` are
 * spent. */
bool gk_ike_resend_allowed(gk_ike_resend *c, int64_t now_ms, unsigned max, unsigned window_ms);

#endif
