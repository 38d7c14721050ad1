/* The `none` SA sink: records what would be installed (sasink.c keeps the records) and touches
 * nothing in the kernel. For unprivileged runs and tests that do not need the kernel. */
#include "sasink_int.h"

static gk_status none_add_sa(gk_sasink *s, const gk_ksa *k, char *err, size_t errlen)
{
	(void)s, (void)k, (void)err, (void)errlen;
	return GK_OK;
}

static gk_status none_del_sa(gk_sasink *s, const gk_ksa *k, char *err, size_t errlen)
{
	(void)s, (void)k, (void)err, (void)errlen;
	return GK_OK;
}

static gk_status none_policy(gk_sasink *s, gk_kpol_op op, const gk_kpol *p, char *err, size_t errlen)
{
	(void)s, (void)op, (void)p, (void)err, (void)errlen;
	return GK_OK;
}

const gk_sasink_ops gk_sasink_none_ops = {
	.name = "none",
	.add_sa = none_add_sa,
	.del_sa = none_del_sa,
	.policy = none_policy,
};
