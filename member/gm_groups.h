/* gmd's group manager: what the member holds for each group and how it follows rekeys
 * (RFC 9838 2.4.1.4, 2.4.2.2, 2.4.3): joins the Rekey SA's multicast group, opens and verifies
 * GSA_REKEY messages (replays and forgeries change nothing), installs new SAs (inbound at once,
 * outbound after ATD), deletes replaced ones after DTD, replaces the Rekey SA, and asks for a
 * re-registration when excluded or when SAs near their end without replacement. A rekey whose
 * selectors or AUTH_KEY gk_gm_state_check refuses is not applied at all. Every change
 * of installed SAs is logged and, with json, written as a JSON event line.
 * Like the member core it owns no socket, clock or randomness: gk_gm_groups_env carries them
 * (gmd's libuv adapter is member/gm_uv.c; tests use a fake clock and the fake network), the
 * caller hands in each datagram its multicast listener receives (gk_gm_groups_rekey_input)
 * and calls gk_gm_groups_tick for the timers (ATD, DTD, lifetimes, re-registration).
 * A gk_gm_groups owns the group states (wiped on free); it does not own the sink, the event
 * stream or what the env's contexts point to. */
#ifndef GK_GM_GROUPS_H
#define GK_GM_GROUPS_H

#include <stdio.h>
#include <sys/socket.h>
#include "gm.h"
#include "sasink.h"
#include "json.h"

typedef struct gk_gm_groups gk_gm_groups;

typedef struct gk_gm_groups_env {
	gk_clock clock;             /* monotonic milliseconds */
	const gk_rand *rnd;         /* re-registration delays; NULL = gk_rand_system() */
	/* Listen for group's GSA_REKEY datagrams on a Rekey SA's destination (a multicast group
	 * and port, RFC 9838 4.4.2), as from now until mcast_leave: every one that arrives goes to
	 * gk_gm_groups_rekey_input. A group listens on one destination at a time (a new one comes
	 * after a leave). On failure nothing is held, and err says why (without the group). */
	gk_status (*mcast_join)(void *ctx, size_t group, const struct sockaddr *dst, char *err, size_t errlen);
	void (*mcast_leave)(void *ctx, size_t group);
	void *mcast_ctx;
	gk_sasink *sink;            /* NULL: nothing is installed, only followed */
	FILE *events;               /* JSON event lines, NULL for none */
	bool sender;
	/* Asks gmd to register to group again (excluded, or SAs ending without replacement). */
	void (*reregister)(void *ctx, size_t group);
	void *ctx;
	/* Excluded: re-register after a random delay of 1 s to this (0: 5 s). A group of many
	 * thousands wants more, so that the GCKS is not asked by all at once. */
	int64_t rereg_max_ms;
	/* Unicast destinations a Data-Security SA of a rekey may name besides multicast
	 * (gk_gm_state_check); not owned. */
	const gk_prefix *allow;
	size_t nallow;
	gk_keylog *keylog;          /* --ike-keylog: Rekey SA keys (not owned); NULL: off */
} gk_gm_groups_env;

/* A GSA_REKEY seen on a Rekey SA announced in GSA_NEXT_SPI means a rekey was lost (RFC 9838
 * 4.4.2.2.3), but anyone who learnt the SPI can send one, unverified: it triggers a
 * re-registration at most once per Rekey SA, and at most once in this many seconds per group,
 * so that a forger cannot make the whole group register again and again. */
#define GK_GM_NEXT_SPI_INTERVAL_S 600

/* What `gmd status` and --metrics count per group, since gmd started. */
#define GK_GM_MAX_REASONS 8
typedef struct gk_gm_group_counters {
	unsigned long registrations, reregistrations, exclusions;
	unsigned long rekeys_accepted, inband_rekeys, rekeys_rejected;
	uint32_t last_msgid;       /* of the last rekey accepted */
	bool have_msgid;
	struct { char reason[64]; unsigned long count; } reasons[GK_GM_MAX_REASONS]; /* rejected by reason */
	size_t nreasons;
} gk_gm_group_counters;

gk_status gk_gm_groups_new(const gk_gm_groups_env *env, const gk_ident *groups, size_t n, gk_gm_groups **out);
/* A registration delivered the group's state: it replaces everything held for the group. */
void gk_gm_groups_registered(gk_gm_groups *m, size_t group, const gk_group_state *gs, bool transport_mode);
/* GSA_INBAND_REKEY from a member core (group unknown: matched by SPIs). */
void gk_gm_groups_inband(gk_gm_groups *m, const gk_gm_event *ev);
/* The IKE SA that carried the group's rekeys closed (RFC 9838 2.3.3): the member is excluded,
 * removes what it installed for the group and registers again after a randomized delay. */
void gk_gm_groups_excluded(gk_gm_groups *m, size_t group, const char *why);
/* The registration failed or the GCKS refused: nothing is held for the group any more. */
void gk_gm_groups_lost(gk_gm_groups *m, size_t group, const char *why);
/* A registration of the group failed, or its IKE SA died (event "registration_failed",
 * "ike_sa_dead"): reports why and when the next attempt comes. With schedule, the group manager
 * asks for that attempt itself (env.reregister after retry_ms); else the caller has one planned.
 * What is installed stays: it is valid until its lifetime ends or a registration replaces it. */
void gk_gm_groups_retrying(gk_gm_groups *m, size_t group, const char *event, const char *why, int64_t retry_ms,
			   bool schedule);
/* One datagram for group's Rekey SA, as its multicast listener (env.mcast_join) receives it. */
void gk_gm_groups_rekey_input(gk_gm_groups *m, size_t group, const uint8_t *data, size_t len,
			      const struct sockaddr *peer);
/* The timers: activations after ATD, deletions after DTD, lifetimes, re-registrations that
 * are due. Call every ~100 ms (or at gk_gm_groups_next_timeout). */
void gk_gm_groups_tick(gk_gm_groups *m);
/* Milliseconds until gk_gm_groups_tick has work, -1 when nothing is planned. */
int64_t gk_gm_groups_next_timeout(const gk_gm_groups *m);
/* Slot `group` follows `id` from now on (a group added to gmd's configuration); the slot
 * holds nothing (new, or after gk_gm_groups_drop), else GK_E_STATE. */
gk_status gk_gm_groups_set(gk_gm_groups *m, size_t group, const gk_ident *id);
/* The group is no longer followed (removed from gmd's configuration): what is installed for it
 * goes (event "group_left" if it was registered), its multicast listener closes, its timers
 * stop; the slot is empty until gk_gm_groups_set. */
void gk_gm_groups_drop(gk_gm_groups *m, size_t group);
/* The state of every followed group as one JSON value (an array) for `gmd status`: name,
 * key server (servers[group], NULL: unknown), registration time, SAs with SPI, state
 * (waiting_atd, active, draining_dtd) and seconds left, the Rekey SA and the last accepted
 * Message ID, the counters. */
void gk_gm_groups_status_json(const gk_gm_groups *m, gk_json *j, const char *const *servers);
/* The same for people: one block per group. */
void gk_gm_groups_status_text(const gk_gm_groups *m, FILE *out, const char *const *servers);
/* The counters of slot `group`, NULL when the slot follows no group. */
const gk_gm_group_counters *gk_gm_groups_counters(const gk_gm_groups *m, size_t group, const char **name,
						  bool *registered);
/* Removes everything installed, leaves the multicast groups (shutdown) and frees. */
void gk_gm_groups_free(gk_gm_groups *m);

#endif
