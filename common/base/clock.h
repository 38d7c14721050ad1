/* Time behind a narrow interface, shaped like gk_rand, so cores own no clock and unit tests
 * run on a fake one: monotonic milliseconds for timers and retransmission (RFC 7296 2.1), wall
 * seconds for key lifetimes and stored records. gk_clock does not own ctx. */
#ifndef GK_CLOCK_H
#define GK_CLOCK_H

#include <stdint.h>
#include <time.h>

typedef struct gk_clock {
	int64_t (*now_ms)(void *ctx);  /* monotonic milliseconds */
	int64_t (*wall)(void *ctx);    /* unix seconds; NULL = time() */
	void *ctx;
} gk_clock;

/* CLOCK_MONOTONIC and time(); for tools and benches (the daemons read their event loop's). */
gk_clock gk_clock_system(void);

/* A clock for tests: stands still until moved by gk_clock_test_advance; wall follows now_ms
 * from wall_start (unix seconds at now_ms = start_ms). */
typedef struct gk_clock_test {
	int64_t now_ms;
	int64_t wall_base;             /* unix seconds at now_ms = 0 */
} gk_clock_test;
void gk_clock_test_init(gk_clock_test *t, int64_t start_ms, int64_t wall_start);
gk_clock gk_clock_test_clock(gk_clock_test *t);
static inline void gk_clock_test_advance(gk_clock_test *t, int64_t ms) { t->now_ms += ms; }

static inline int64_t gk_clock_now_ms(const gk_clock *c)
{
	return c->now_ms(c->ctx);
}

static inline int64_t gk_clock_wall(const gk_clock *c)
{
	return c->wall ? c->wall(c->ctx) : (int64_t)time(NULL);
}

/* Unix time in milliseconds, for time stamps people read: with a wall function (a test clock)
 * its seconds, else CLOCK_REALTIME. */
int64_t gk_clock_wall_ms(const gk_clock *c);

#endif
