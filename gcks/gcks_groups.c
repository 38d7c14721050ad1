/* The group cache of the GCKS: policies and current SA keys, loaded from the store. */
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "gcks_int.h"
#include "log.h"

void gcks_groups_free(gk_gcks *g)
{
	for (size_t i = 0; i < g->ngroups; i++) {
		gk_group_policy_free(&g->groups[i].pol);
		OPENSSL_cleanse(g->groups[i].keys, sizeof(g->groups[i].keys));
	}
	free(g->groups);
	g->groups = NULL;
	g->ngroups = 0;
}

gk_status gcks_group_keys_fresh(gk_gcks *g, gcks_group *grp)
{
	int64_t now = gcks_wall(g);
	bool stale = grp->nkeys == 0;
	for (size_t i = 0; i < grp->nkeys; i++)
		stale |= grp->keys[i].expires <= now;
	if (!stale)
		return GK_OK;
	return gk_store_group_keys(g->env.store, &grp->pol, g->env.rnd, now, grp->keys, &grp->nkeys);
}

static gk_status load_one(gk_gcks *g, const char *name, gcks_group *grp)
{
	gk_status st = gk_store_group_get(g->env.store, name, &grp->pol);
	if (st)
		return st;
	if ((st = gk_store_group_generation(g->env.store, name, &grp->generation)) != GK_OK)
		return st;
	if ((st = gk_store_registration_count(g->env.store, name, &grp->registered)) != GK_OK)
		return st;
	grp->hash = gcks_name_hash(name);
	return gcks_group_keys_fresh(g, grp);
}

gk_status gcks_groups_load(gk_gcks *g)
{
	char **names = NULL;
	size_t n = 0;
	gk_status st = gk_store_group_names(g->env.store, &names, &n);
	if (st)
		return st;
	g->groups = calloc(n ? n : 1, sizeof(*g->groups));
	if (!g->groups) {
		st = GK_E_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		st = load_one(g, names[i], &g->groups[g->ngroups]);
		if (st) {
			gk_err("group %s: cannot load: %s", names[i], gk_status_str(st));
			gk_group_policy_free(&g->groups[g->ngroups].pol);
			goto out;
		}
		g->ngroups++;
	}
	gk_info("%zu group%s loaded", g->ngroups, g->ngroups == 1 ? "" : "s");
out:
	gk_store_names_free(names, n);
	if (st)
		gcks_groups_free(g);
	return st;
}

gcks_group *gcks_group_find(gk_gcks *g, const gk_ident *id)
{
	for (size_t i = 0; i < g->ngroups; i++)
		if (gk_ident_eq(&g->groups[i].pol.id, id))
			return &g->groups[i];
	return NULL;
}

const gk_member_policy *gcks_member_credentials(gk_gcks *g, const gk_ident *member)
{
	for (size_t i = 0; i < g->ngroups; i++) {
		const gk_member_policy *m = gk_group_policy_member(&g->groups[i].pol, member);
		if (m)
			return m;
	}
	return NULL;
}

size_t gk_gcks_groups(const gk_gcks *g, gk_gcks_group_info *out, size_t max)
{
	size_t n = 0;
	for (; n < g->ngroups && n < max; n++)
		out[n] = (gk_gcks_group_info){ &g->groups[n].pol, g->groups[n].registered, g->groups[n].keys,
					       g->groups[n].nkeys };
	return n;
}
