/* The kernel SA sink: where gmd installs the group SAs it holds. Two implementations:
 * `xfrm` (Linux XFRM over netlink with libmnl; needs CAP_NET_ADMIN) and `none` (records only,
 * for unprivileged runs and tests). gmd's group manager (gm_groups.c) is the only caller.
 * A gk_sasink owns its netlink socket and records; it never touches SAs or policies it did not
 * create (they are marked as gmd's, so a restarted gmd can remove its own stale entries). */
#ifndef GK_SASINK_H
#define GK_SASINK_H

#include <stdbool.h>
#include <stddef.h>
#include "group_sa.h"

enum { GK_DIR_IN = 1, GK_DIR_OUT = 2, GK_DIR_FWD = 4 };

/* One Data-Security SA to install, with the policies its directions need (RFC 9838 2.3.3:
 * receivers inbound, senders outbound). */
typedef struct gk_sa_install {
	const gk_ident *group;
	const gk_group_sa *sa;        /* SPI, traffic selectors, transforms, keying material */
	unsigned dirs;                /* GK_DIR_* */
	bool transport_mode;          /* else tunnel mode with address preservation (RFC 5374) */
	bool shared_counter_key;      /* counter-mode key that other senders share: the kernel cannot
					 apply RFC 6054 Sender-IDs, so outbound must be refused */
} gk_sa_install;

typedef struct gk_sasink gk_sasink;

/* backend: "xfrm" or "none". err gets a one-line reason. */
gk_status gk_sasink_open(const char *backend, gk_sasink **out, char *err, size_t errlen);
const char *gk_sasink_name(const gk_sasink *s);
/* Removes SAs and policies a previous gmd left behind (never others'). */
gk_status gk_sasink_flush_stale(gk_sasink *s, char *err, size_t errlen);
/* Installs the SA and, for each direction, its policy. On failure nothing of this SA stays
 * installed and err names the kernel's reason and the SA. */
gk_status gk_sasink_add(gk_sasink *s, const gk_sa_install *in, char *err, size_t errlen);
/* Makes `spi` the SA that outbound traffic of the group's selector uses (after ATD). */
gk_status gk_sasink_activate_out(gk_sasink *s, const gk_ident *group, const gk_group_sa *sa,
				 char *err, size_t errlen);
/* Removes one SA (and policies no other SA of the group still needs). */
gk_status gk_sasink_del(gk_sasink *s, const gk_ident *group, uint8_t proto, const uint8_t *spi,
			size_t spi_len, char *err, size_t errlen);
/* Removes everything installed for a group (exclusion, leave, shutdown). */
gk_status gk_sasink_flush_group(gk_sasink *s, const gk_ident *group, char *err, size_t errlen);
void gk_sasink_close(gk_sasink *s);

/* What the `none` sink (and tests) can see: the SAs currently recorded. */
typedef struct gk_sasink_entry {
	gk_ident group;
	uint8_t proto;
	uint8_t spi[4];
	unsigned dirs;
	bool out_active;
} gk_sasink_entry;
size_t gk_sasink_entries(const gk_sasink *s, gk_sasink_entry *out, size_t max);

#endif
