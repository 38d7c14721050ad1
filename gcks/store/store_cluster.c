/* The store's operations for several servers (gcks/storage.h, "several servers sharing one
 * store"), dispatched to a backend that has them; a backend one gcksd holds alone (no
 * server_beat) gets the answers of a single server: it is alive, it leads every group, and
 * notices go nowhere. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gcks/store/store_backend.h"

bool gk_store_shared(gk_store *s)
{
	return s && s->ops->server_beat;
}

static bool server_ok(const char *server)
{
	return server && *server && strlen(server) < GK_SERVER_ID_MAX;
}

gk_status gk_store_server_beat(gk_store *s, const char *server, const char *instance, int64_t stale_ms,
			       int64_t *age_ms)
{
	if (!s || !server_ok(server) || !instance || !*instance || strlen(instance) >= GK_SERVER_INSTANCE_MAX ||
	    stale_ms <= 0)
		return GK_E_INVAL;
	int64_t age = 0;
	return s->ops->server_beat ? s->ops->server_beat(s, server, instance, stale_ms, age_ms ? age_ms : &age) : GK_OK;
}

gk_status gk_store_servers(gk_store *s, gk_server_row **out, size_t *n)
{
	if (!s || !out || !n)
		return GK_E_INVAL;
	*out = NULL;
	*n = 0;
	return s->ops->servers ? s->ops->servers(s, out, n) : GK_OK;
}

void gk_store_fences_free(gk_store *s)
{
	for (size_t i = 0; i < s->nfences; i++)
		free(s->fences[i].group);
	free(s->fences);
	s->fences = NULL;
	s->nfences = 0;
}

static gk_store_fence *fence_of(gk_store *s, const char *group)
{
	for (size_t i = 0; i < s->nfences; i++)
		if (!strcmp(s->fences[i].group, group))
			return &s->fences[i];
	return NULL;
}

/* Remembers the lease this handle holds on group, for the fence. */
static gk_status fence_set(gk_store *s, const char *group, const char *server, int64_t epoch)
{
	gk_store_fence *f = fence_of(s, group);
	if (!f) {
		gk_store_fence *n = realloc(s->fences, (s->nfences + 1) * sizeof(*n));
		if (!n)
			return GK_E_NOMEM;
		s->fences = n;
		f = &n[s->nfences];
		if (!(f->group = strdup(group)))
			return GK_E_NOMEM;
		s->nfences++;
	}
	snprintf(f->server, sizeof(f->server), "%s", server);
	f->epoch = epoch;
	return GK_OK;
}

gk_status gk_store_lease_take(gk_store *s, const char *group, const char *server, int64_t lease_s, gk_lease *l,
			      bool *held)
{
	if (!s || !group || !server_ok(server) || lease_s <= 0 || !l || !held)
		return GK_E_INVAL;
	*held = false;
	if (s->ops->lease_take) {
		s->takes_leases = true;
		gk_status st = s->ops->lease_take(s, group, server, lease_s, l, held);
		if (!st && *held)
			st = fence_set(s, group, server, l->epoch);
		if (st)
			*held = false;
		return st;
	}
	memset(l, 0, sizeof(*l));
	strcpy(l->holder, server);
	l->epoch = 1;
	l->remaining = lease_s;
	*held = true;
	return GK_OK;
}

gk_status gk_store_lease_get(gk_store *s, const char *group, gk_lease *l, bool *found)
{
	if (!s || !group || !l || !found)
		return GK_E_INVAL;
	memset(l, 0, sizeof(*l));
	*found = false;
	return s->ops->lease_get ? s->ops->lease_get(s, group, l, found) : GK_OK;
}

gk_status gk_store_lease_check(gk_store *s, const char *group, bool *held)
{
	if (!s || !group || !held)
		return GK_E_INVAL;
	*held = false;
	if (!s->ops->lease_check) {
		*held = true;
		return GK_OK;
	}
	if (!s->takes_leases) {
		*held = true; /* a handle that never takes leases (gcksctl, tools) sends no GSA_REKEY */
		return GK_OK;
	}
	const gk_store_fence *f = fence_of(s, group);
	if (!f)
		return GK_OK; /* this handle takes leases, but never took this one */
	return s->ops->lease_check(s, group, f->server, f->epoch, held);
}

gk_status gk_store_notify(gk_store *s, const char *what)
{
	if (!s || !what)
		return GK_E_INVAL;
	return s->ops->notify ? s->ops->notify(s, what) : GK_OK;
}

int gk_store_notice_fd(gk_store *s)
{
	return s && s->ops->notice_fd ? s->ops->notice_fd(s) : -1;
}

gk_status gk_store_notices(gk_store *s, void (*fn)(void *ctx, const char *what), void *ctx)
{
	if (!s || !fn)
		return GK_E_INVAL;
	return s->ops->notices ? s->ops->notices(s, fn, ctx) : GK_OK;
}
