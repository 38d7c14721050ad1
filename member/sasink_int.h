/* Inside the kernel SA sink: what sasink.c (dispatch and bookkeeping) hands to a backend
 * (sasink_xfrm.c, sasink_none.c). The bookkeeping decides which SAs and policies exist; a backend
 * only makes the kernel (or nothing) follow. Descriptions here are kernel-neutral: IANA protocol
 * numbers (GK_PROTO_ESP/AH), 4-octet SPIs in network order, addresses as in gk_ts_spec. */
#ifndef GK_SASINK_INT_H
#define GK_SASINK_INT_H

#include "sasink.h"

/* gmd's marker in the kernel: every SA it installs and every policy template it writes carries a
 * reqid in 0x47490001..0x4749ffff ("GI" in the upper half); policies also have priority
 * GK_SASINK_PRIORITY. Stale-entry removal touches only entries with both. */
#define GK_SASINK_REQID_BASE 0x47490000u
#define GK_SASINK_REQID_MASK 0xffff0000u
/* XFRM prefers the lowest number. strongSwan (kernel-netlink, PRIO_BASE 200000) gives its pass
 * policies 68541..200000, its ordinary and trap policies 268541..400000 and its fallback drop
 * policies 468541..600000; libreswan stays below 65536. Group policies come after every
 * ordinary policy of the host's own IPsec daemon, so a group can never take over traffic that
 * daemon protects, and before strongSwan's fallback drops. Fixed, because it is half of the
 * marker that finds a killed gmd's stale policies. */
#define GK_SASINK_PRIORITY 450000u
/* The priority gmd used before: its stale policies (a gmd killed before an upgrade) would
 * outrank the host daemon's, so they are found and removed too. */
#define GK_SASINK_PRIORITY_OLD 1743u
#define GK_SASINK_STRONGSWAN_MAX 400000u  /* strongSwan's largest ordinary policy priority */
#define GK_SASINK_STRONGSWAN_FALLBACK_MIN 468541u

/* One SA as the kernel sees it. */
typedef struct gk_ksa {
	const gk_sa_install *in;      /* what to install; NULL when only deleting */
	uint8_t proto;                /* GK_PROTO_ESP or GK_PROTO_AH */
	uint8_t spi[4];
	uint8_t family;               /* 4 or 6 */
	uint8_t saddr[16], daddr[16]; /* outer addresses (= the inner ones: RFC 5374 address
					 preservation); saddr all-zero: any sender */
	uint32_t reqid;               /* ties the SA to its policies' templates; gmd's marker */
	bool transport;
	unsigned dirs;                /* GK_DIR_* the SA serves (replay window off for OUT-only) */
} gk_ksa;

/* The policies of one selector set in one direction. */
typedef struct gk_kpol {
	gk_ts_spec src, dst;          /* traffic selectors */
	unsigned dir;                 /* exactly one of GK_DIR_IN, GK_DIR_OUT, GK_DIR_FWD */
	uint8_t proto;                /* template: GK_PROTO_ESP or GK_PROTO_AH */
	uint8_t spi[4];               /* template SPI; all-zero: any SA with reqid (inbound) */
	uint8_t family;
	uint8_t saddr[16], daddr[16]; /* template (tunnel endpoints) */
	uint32_t reqid;
	bool transport;
} gk_kpol;

typedef enum gk_kpol_op { GK_KPOL_NEW, GK_KPOL_UPDATE, GK_KPOL_DEL } gk_kpol_op;

typedef struct gk_sasink_ops {
	const char *name;
	gk_status (*open)(gk_sasink *s, char *err, size_t errlen);
	void (*close)(gk_sasink *s);
	gk_status (*flush_stale)(gk_sasink *s, char *err, size_t errlen);
	/* Resolves what the backend needs before installing (the xfrm backend fills an outbound
	 * tunnel SA's source address when the source selector is a range). May be NULL. */
	gk_status (*prepare)(gk_sasink *s, gk_ksa *k, char *err, size_t errlen);
	gk_status (*add_sa)(gk_sasink *s, const gk_ksa *k, char *err, size_t errlen);
	gk_status (*del_sa)(gk_sasink *s, const gk_ksa *k, char *err, size_t errlen);
	/* All kernel policies (one per selector block) of p. GK_KPOL_NEW installs them all or
	 * none; GK_KPOL_DEL removes what it can and reports the first failure. */
	gk_status (*policy)(gk_sasink *s, gk_kpol_op op, const gk_kpol *p, char *err, size_t errlen);
} gk_sasink_ops;

extern const gk_sasink_ops gk_sasink_none_ops;
extern const gk_sasink_ops gk_sasink_xfrm_ops;

/* The xfrm backend's probe for "auto": true when an XFRM netlink socket opens and a GETSA dump
 * is allowed (CAP_NET_ADMIN in this network namespace); else why says what failed. */
bool gk_sasink_xfrm_usable(char *why, size_t whylen);

/* Opens a sink on the given backend (gk_sasink_open picks one by name; tests pass their own). */
gk_status gk_sasink_open_ops(const gk_sasink_ops *ops, gk_sasink **out, char *err, size_t errlen);

/* The backend's private state, reachable from the sink. */
void *gk_sasink_backend(gk_sasink *s);
void gk_sasink_set_backend(gk_sasink *s, void *be);

/* "ESP SA spi 0x01020304 (AES_GCM_16/256) to 239.1.2.3" into buf, for error messages. */
const char *gk_ksa_text(const gk_ksa *k, char *buf, size_t len);

#endif
