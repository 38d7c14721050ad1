#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include "gm_uv.h"
#include "addr.h"
#include "privdrop.h"
#include "udp.h"

#define TIMER_MS 100

typedef struct listener {
	struct gk_gm_uv *owner;
	size_t group;
	gk_udp *sock;
} listener;

struct gk_gm_uv {
	uv_loop_t *loop;
	uv_timer_t timer;
	const char *mcast_iface;
	gk_gm_groups *m;
	listener *l;
	size_t n;
};

static int64_t clock_ms(void *ctx)
{
	return (int64_t)uv_now(((gk_gm_uv *)ctx)->loop);
}

static void on_datagram(void *ctx, const uint8_t *data, size_t len, const struct sockaddr *peer,
			const struct sockaddr *local)
{
	listener *l = ctx;
	(void)local;
	if (l->owner->m)
		gk_gm_groups_rekey_input(l->owner->m, l->group, data, len, peer);
}

static void mcast_leave(void *ctx, size_t group)
{
	gk_gm_uv *u = ctx;
	if (group >= u->n || !u->l[group].sock)
		return;
	gk_udp_close(u->l[group].sock);
	u->l[group].sock = NULL;
}

static gk_status mcast_join(void *ctx, size_t group, const struct sockaddr *dst, char *err, size_t errlen)
{
	gk_gm_uv *u = ctx;
	struct sockaddr_storage any;
	char why[200], at[64];
	if (group >= u->n)
		return GK_E_INVAL;
	mcast_leave(u, group);
	/* bound to the wildcard address and the port, shared with other listeners of the port */
	memset(&any, 0, sizeof(any));
	memcpy(&any, dst, gk_addr_len(dst));
	if (dst->sa_family == AF_INET6)
		memset(&((struct sockaddr_in6 *)&any)->sin6_addr, 0, 16);
	else
		memset(&((struct sockaddr_in *)&any)->sin_addr, 0, 4);
	uint16_t port = gk_addr_port(dst);
	bool low = port && port < 1024;
	if (low)
		gk_priv_raise(GK_CAP_NET_BIND, true);
	gk_status st = gk_udp_open_shared(u->loop, (struct sockaddr *)&any, on_datagram, &u->l[group],
					  &u->l[group].sock, why, sizeof(why));
	if (low)
		gk_priv_raise(GK_CAP_NET_BIND, false);
	if (st) {
		snprintf(err, errlen, "rekey listener: %s", why);
		return st;
	}
	unsigned idx = u->mcast_iface ? if_nametoindex(u->mcast_iface) : 0;
	st = gk_udp_join(u->l[group].sock, dst, idx);
	if (st) {
		snprintf(err, errlen, "cannot join %s for GSA_REKEY", gk_addr_text(dst, at, sizeof(at)));
		mcast_leave(u, group);
	}
	return st;
}

static void on_timer(uv_timer_t *t)
{
	gk_gm_uv *u = t->data;
	if (u->m)
		gk_gm_groups_tick(u->m);
}

gk_status gk_gm_uv_new(uv_loop_t *loop, const char *mcast_iface, size_t ngroups, gk_gm_groups_env *env,
		       gk_gm_uv **out)
{
	gk_gm_uv *u = calloc(1, sizeof(*u));
	if (!u || !(u->l = calloc(ngroups ? ngroups : 1, sizeof(*u->l)))) {
		free(u);
		return GK_E_NOMEM;
	}
	u->loop = loop;
	u->mcast_iface = mcast_iface;
	u->n = ngroups;
	for (size_t i = 0; i < ngroups; i++)
		u->l[i] = (listener){ .owner = u, .group = i };
	uv_timer_init(loop, &u->timer);
	u->timer.data = u;
	env->now_ms = clock_ms;
	env->clock_ctx = u;
	env->rnd = gk_rand_system();
	env->mcast_join = mcast_join;
	env->mcast_leave = mcast_leave;
	env->mcast_ctx = u;
	*out = u;
	return GK_OK;
}

void gk_gm_uv_start(gk_gm_uv *u, gk_gm_groups *m)
{
	u->m = m;
	uv_timer_start(&u->timer, on_timer, TIMER_MS, TIMER_MS);
}

static void on_closed(uv_handle_t *h)
{
	gk_gm_uv *u = h->data;
	free(u->l);
	free(u);
}

void gk_gm_uv_free(gk_gm_uv *u)
{
	if (!u)
		return;
	u->m = NULL;
	for (size_t i = 0; i < u->n; i++)
		mcast_leave(u, i);
	uv_close((uv_handle_t *)&u->timer, on_closed);
}
