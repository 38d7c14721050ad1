#include "clock.h"

static int64_t system_ms(void *ctx)
{
	(void)ctx;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

gk_clock gk_clock_system(void)
{
	return (gk_clock){ .now_ms = system_ms, .wall = NULL, .ctx = NULL };
}

static int64_t test_ms(void *ctx)
{
	return ((const gk_clock_test *)ctx)->now_ms;
}

static int64_t test_wall(void *ctx)
{
	const gk_clock_test *t = ctx;
	return t->wall_base + t->now_ms / 1000;
}

void gk_clock_test_init(gk_clock_test *t, int64_t start_ms, int64_t wall_start)
{
	t->now_ms = start_ms;
	t->wall_base = wall_start - start_ms / 1000;
}

gk_clock gk_clock_test_clock(gk_clock_test *t)
{
	return (gk_clock){ .now_ms = test_ms, .wall = test_wall, .ctx = t };
}

int64_t gk_clock_wall_ms(const gk_clock *c)
{
	if (c->wall)
		return c->wall(c->ctx) * 1000;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
