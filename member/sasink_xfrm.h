/* The XFRM netlink messages the xfrm SA sink sends, built apart from sending so that unit tests
 * decode them back (test/unit/check_xfrm.c). Buffers hold keys: callers wipe them. */
#ifndef GK_SASINK_XFRM_H
#define GK_SASINK_XFRM_H

#include <linux/xfrm.h>
#include "sasink_int.h"

/* At most this many kernel policies per direction for one traffic selector pair (ranges that
 * are not one CIDR block / one port block become several selectors). */
#define GK_XFRM_MAX_SELECTORS 32
#define GK_XFRM_MSG_MAX 4096

/* Kernel algorithm names of the SA's transforms and the truncation/ICV length in bits.
 * aead/crypt/auth are "" when not used. GK_E_UNSUPPORTED for transforms without a kernel name. */
typedef struct gk_xfrm_algs {
	char aead[64], crypt[64], auth[64];
	unsigned icv_bits;            /* AEAD */
	unsigned trunc_bits;          /* auth */
} gk_xfrm_algs;
gk_status gk_xfrm_algs_of(const gk_group_sa *sa, gk_xfrm_algs *out);

/* Splits the selector pair into XFRM selectors (CIDR prefixes x port blocks). Returns how many
 * are needed; fills out[0..min(n, max)). */
size_t gk_xfrm_selectors(const gk_ts_spec *src, const gk_ts_spec *dst, struct xfrm_selector *out,
			 size_t max);

/* XFRM_MSG_NEWSA for k (k->in set). */
gk_status gk_xfrm_build_newsa(const gk_ksa *k, uint32_t seq, uint8_t *buf, size_t cap, size_t *len,
			      char *err, size_t errlen);
/* XFRM_MSG_DELSA for k's (daddr, spi, proto). */
gk_status gk_xfrm_build_delsa(const gk_ksa *k, uint32_t seq, uint8_t *buf, size_t cap, size_t *len);
/* XFRM_MSG_NEWPOLICY / UPDPOLICY (with the template) or DELPOLICY (by selector) of p for one
 * selector. */
gk_status gk_xfrm_build_policy(gk_kpol_op op, const gk_kpol *p, const struct xfrm_selector *sel,
			       uint32_t seq, uint8_t *buf, size_t cap, size_t *len);

/* Is this XFRM_MSG_NEWSA / NEWPOLICY (as a dump returns them) one of gmd's (reqid range, and for
 * policies the priority too)? */
bool gk_xfrm_sa_is_ours(const struct nlmsghdr *nlh);
bool gk_xfrm_policy_is_ours(const struct nlmsghdr *nlh);

#endif
