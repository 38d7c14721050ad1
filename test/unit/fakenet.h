/* Test-only network for running a GCKS core and several member cores in one process, with no
 * sockets: a queue of datagrams with their addresses, a clock the test advances, deterministic
 * random generators, and impairments (drop, duplicate, corrupt, truncate, reorder) that a test
 * switches on. Members sit at 127.0.0.(10+i):(10000+i), raw endpoints (hand-made messages) at
 * 127.0.1.(10+i):(20000+i), the GCKS at 127.0.0.1:848.
 * Multicast (RFC 9838 2.4.1: GSA_REKEY goes to the Rekey SA's group address and port): the
 * GCKS sends through its env's send_multicast (with n->multicast set before fn_gcks_env), a test
 * with fn_mcast_send; each copy is delivered to every member group manager (fn_add_groups)
 * listening on that address and port when it arrives. Impairments see every multicast datagram
 * as one from the GCKS to the peer FN_MCAST.
 * Independent of Check: failures abort(). */
#ifndef GK_FAKENET_H
#define GK_FAKENET_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include "clock.h"
#include "gcks/gcks.h"
#include "member/gm.h"
#include "member/gm_groups.h"

#ifndef FN_MAX_MEMBERS /* a test with hundreds of members sets more (check_gcks_lkh) */
#define FN_MAX_MEMBERS 16
#endif
#define FN_MAX_RAW 8
#define FN_MAX_RULES 16

/* Endpoints other than the GCKS are numbered: member i is i, raw endpoint i is FN_RAW_BASE + i
 * (members stay below it, also with hundreds of them). */
#define FN_RAW_BASE 1000
/* Any other address (a flood from many sources, fn_send_from) is the sink. */
#define FN_SINK 3000
/* Datagrams to a multicast group (send_multicast, fn_mcast_send). */
#define FN_MCAST 4000

/* Receives what the GCKS sends to addresses that are no member's or raw endpoint's; it may send
 * (fn_send_from) from inside. */
typedef void (*fn_sink_fn)(void *ctx, const struct sockaddr_in *to, const uint8_t *data, size_t len);

/* Stands in for the GCKS core (a hand-made key server): receives what is sent to the GCKS's
 * address when no GCKS is set; it answers through fn_gcks_env's send. */
typedef void (*fn_server_fn)(void *ctx, const struct sockaddr_in *from, const uint8_t *data, size_t len);

typedef struct fn_dgram {
	bool to_gcks;
	int peer;                      /* the endpoint on the other side of the GCKS */
	struct sockaddr_in from, to;
	uint8_t *data;
	size_t len;
	int64_t release_ms;            /* held (reordered) datagrams: latest release time ... */
	int hold_dir, hold_peer, hold_exchange, hold_response; /* ... or after the next one like this */
} fn_dgram;

/* What the impairments did to a datagram that was sent (none: delivered as sent). */
typedef enum fn_fate { FN_DROPPED = 1, FN_DUPLICATED, FN_CORRUPTED, FN_TRUNCATED, FN_REORDERED } fn_fate;

/* One sent datagram as the sender sent it (before impairments), with the IKE header fields. */
typedef struct fn_trace {
	int64_t at_ms;
	bool to_gcks;
	int peer;
	uint8_t exchange, flags;
	uint32_t msg_id;
	uint64_t spi_i, spi_r;
	uint8_t *data;
	size_t len;
	unsigned fates;                /* bit (1 << fn_fate) per impairment applied, 0 = none */
	uint16_t from_port, to_port;   /* UDP ports, host order */
} fn_trace;

/* An impairment. Filters (-1 = any) select datagrams; of those, the first `skip` pass, then
 * `count` (0 = all) are impaired, while the clock is before until_ms (0 = no time limit). */
typedef enum fn_action { FN_DROP = 1, FN_DUP, FN_CORRUPT, FN_TRUNCATE, FN_REORDER } fn_action;
typedef enum fn_dir { FN_ANY_DIR, FN_TO_GCKS, FN_FROM_GCKS } fn_dir;
typedef struct fn_rule {
	fn_action action;
	fn_dir dir;
	int peer;                      /* endpoint (either direction), -1 any */
	int exchange;                  /* IKE exchange type, -1 any */
	int response;                  /* 1 responses, 0 requests, -1 both */
	unsigned skip, count;
	int64_t until_ms;
	long offset;                   /* FN_CORRUPT: octet to flip, negative from the end (-1 last) */
	size_t keep;                   /* FN_TRUNCATE: octets kept */
	int64_t hold_ms;               /* FN_REORDER: released at the latest after this (default 5000) */
	unsigned seen, hits;           /* state */
} fn_rule;
/* A rule that matches everything; set action and narrow the filters. */
fn_rule fn_rule_any(fn_action a);

/* A member's events as the test sees them; group states are copies. */
typedef struct fn_event {
	gk_gm_event_type type;
	size_t group;
	uint16_t notify;
	char why[128];
	gk_group_state *state;         /* when the event carries one (REGISTERED, REKEYED); owned */
	bool transport_mode;
	gk_gm_delete dels[8];          /* REKEYED: its Deletes (the first 8) */
	size_t ndel;
	int64_t retry_ms;              /* FAILED, DEAD: the next attempt planned in */
	int64_t at_ms;
} fn_event;

struct fn_groups;

typedef struct fn_member {
	struct fakenet *net;
	int idx;
	struct sockaddr_in addr;
	gk_rand_test rnd;
	gk_gm *gm;
	fn_event *ev;
	size_t nev, cap;
	unsigned nat_t;                /* times the core asked to move to port 4500 (env.nat_t) */
	struct sockaddr_in nat_addr;   /* from then on it sends from here (a NAT mapping of its
					* NAT-T socket) to the GCKS's port 4500 */
	unsigned keepalives;           /* NAT-keepalives the core sent (env.keepalive) ... */
	int64_t keepalive_at[32];      /* ... and when (the first 32) */
	/* Non-zero: the member talks to the GCKS over a stream (TCP encapsulation, RFC 9329) with
	 * this id: its messages reach the core by gk_gcks_input_path, and a datagram from the GCKS
	 * to it aborts. A test changes it to model a new connection. */
	uint64_t stream;
	unsigned stream_rx;            /* messages the GCKS sent it on its stream */
	struct fn_groups *follow;      /* fn_follow: registrations, inband rekeys and exclusions */
	size_t follow_map[GK_GM_MAX_GROUPS]; /* go there, the core's group i as group follow_map[i] */
} fn_member;

/* A member's group manager (member/gm_groups.h) on the fake network: the clock, randomness and
 * multicast listeners are the network's, its JSON event lines go to ev_buf. */
typedef struct fn_groups {
	struct fakenet *net;
	int idx;
	gk_rand_test rnd;
	gk_gm_groups *m;
	size_t n;                                   /* groups */
	bool joined[GK_GM_MAX_GROUPS];              /* listening on mcast[i] */
	struct sockaddr_in mcast[GK_GM_MAX_GROUPS];
	unsigned joins, leaves;
	unsigned rereg[GK_GM_MAX_GROUPS];           /* re-registrations it asked for, per group */
	const gk_gm_config *rereg_cfg;              /* non-NULL: each such request starts a member
						     * with this config (for that group) that
						     * follows here (fn_follow) */
	FILE *events;
	char *ev_buf;
	size_t ev_len;
} fn_groups;

typedef struct fn_raw {
	struct fakenet *net;
	int idx;
	struct sockaddr_in addr;
	fn_dgram *inbox;
	size_t n, cap;
} fn_raw;

typedef struct fakenet {
	gk_clock_test clock;           /* the one clock of both roles; fn_advance moves it */
	int64_t step_ms;               /* clock step of fn_advance (default 100) */
	bool manual_turns;             /* the test calls gk_gcks_continue itself (else fn_flush does,
					* once the queue is empty, as gcksd's loop does after its I/O) */
	gk_rand_test gcks_rnd;
	struct sockaddr_in gcks_addr;
	gk_gcks *gcks;
	fn_member members[FN_MAX_MEMBERS];
	size_t nmembers;
	fn_raw raws[FN_MAX_RAW];
	size_t nraws;
	fn_dgram *q;                   /* queue in delivery order */
	size_t nq, capq;
	fn_dgram *held;                /* reordered datagrams waiting for the next one */
	size_t nheld, capheld;
	uint64_t stream_lost;          /* messages the GCKS sent on a stream no member has (closed) */
	fn_rule rules[FN_MAX_RULES];
	size_t nrules;
	fn_trace *trace;
	size_t ntrace, captrace;
	uint64_t delivered;
	fn_sink_fn sink;               /* fn_set_sink; its datagrams stay out of the trace */
	void *sink_ctx;
	fn_server_fn server;           /* fn_set_server */
	void *server_ctx;
	bool multicast;                /* fn_gcks_env gives the GCKS send_multicast */
	gk_keylog *member_keylog;      /* members added from now on log their IKE SA keys here */
	fn_groups groups[FN_MAX_MEMBERS];
	size_t ngroups;
} fakenet;

void fn_init(fakenet *n);
/* Frees the GCKS, the members, the group managers, queues and the trace. */
void fn_free(fakenet *n);

/* An env for gk_gcks_new whose sends go into the queue; set n->gcks to the result. */
gk_gcks_env fn_gcks_env(fakenet *n, gk_store *store);
/* Creates member i (the next index) with gk_gm_new; NULL on failure. */
fn_member *fn_add_member(fakenet *n, const gk_gm_config *cfg);
fn_raw *fn_add_raw(fakenet *n);
/* Creates a group manager for groups ids[0..nids) with gk_gm_groups_new; from base (may be
 * NULL) it takes the sink, sender, rereg_max_ms and allowed prefixes. NULL on failure. */
fn_groups *fn_add_groups(fakenet *n, const gk_gm_groups_env *base, const gk_ident *ids, size_t nids);
/* What member m's core reports goes to g too, as gmd hands it on: a registration
 * (gk_gm_groups_registered), an inband rekey, an exclusion, a refusal of the group or of the
 * whole exchange (gk_gm_groups_lost). The core's groups are g's groups in the same order. */
void fn_follow(fn_member *m, fn_groups *g);
/* How many of g's event lines (since it was created) name this event and contain `with` (NULL:
 * any). */
size_t fn_groups_events(fn_groups *g, const char *event, const char *with);
/* A datagram from `from` to the multicast group `group` (impaired like the GCKS's). */
void fn_mcast_send(fakenet *n, const struct sockaddr_in *from, const struct sockaddr_in *group,
		   const uint8_t *data, size_t len);
void fn_raw_send(fn_raw *r, const uint8_t *data, size_t len);
/* Takes the oldest datagram from the raw endpoint's inbox (caller frees d->data); false if none. */
bool fn_raw_take(fn_raw *r, fn_dgram *d);

/* Many sources: a datagram to the GCKS from any address (not traced, not impaired), and where
 * the GCKS's datagrams to addresses no endpoint has go (without a sink they abort the test). */
void fn_send_from(fakenet *n, const struct sockaddr_in *from, const uint8_t *data, size_t len);
void fn_set_sink(fakenet *n, fn_sink_fn fn, void *ctx);
void fn_set_server(fakenet *n, fn_server_fn fn, void *ctx);

/* Adds an impairment; returns it so the test can read its counters. */
fn_rule *fn_impair(fakenet *n, const fn_rule *r);
void fn_impair_clear(fakenet *n);

/* Delivers queued datagrams until the queue is empty (each delivery may queue more). */
void fn_flush(fakenet *n);
/* Advances the clock by ms, in steps: at each step ticks every member, group manager and the
 * GCKS, and flushes. */
void fn_advance(fakenet *n, int64_t ms);
/* Flushes and advances until pred is true or limit_ms have passed; returns pred's value. */
bool fn_run_until(fakenet *n, bool (*pred)(fakenet *n, void *ctx), void *ctx, int64_t limit_ms);

/* Event helpers */
size_t fn_count(const fn_member *m, gk_gm_event_type t);
/* The i-th event of a type (0 = first), NULL if fewer. */
const fn_event *fn_find(const fn_member *m, gk_gm_event_type t, size_t i);
/* Has the member finished (DONE or FAILED)? */
bool fn_member_finished(const fn_member *m);
/* Predicate for fn_run_until: all members finished. */
bool fn_all_finished(fakenet *n, void *ctx);

/* Trace helpers: datagrams sent in direction dir, between the GCKS and peer, of this exchange
 * type, requests (0) or responses (1) (-1 = any). */
size_t fn_trace_count(const fakenet *n, fn_dir dir, int peer, int exchange, int response);
const fn_trace *fn_trace_find(const fakenet *n, fn_dir dir, int peer, int exchange, int response, size_t i);

#endif
