/* What a member accepts from its GCKS before it installs anything. The GCKS is trusted to key
 * the group, not to steer the host's traffic: a Data-Security SA must name a multicast
 * destination (IPv4 224.0.0.0/4, IPv6 ff00::/8) or one inside a prefix the operator allowed
 * locally (gmd --allow-selector), so that no GCKS can install a policy that captures unrelated
 * unicast traffic. And rekey authentication fails closed: a Rekey SA with GCAUTH Digital
 * Signature (RFC 9838 4.4.2.1.2) must come with a Signature Algorithm Identifier and an
 * AUTH_KEY (4.5.3.2) this member can load, else GSA_REKEY could never be verified.
 * Pure functions, no state. */
#ifndef GK_GM_CHECK_H
#define GK_GM_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "group_sa.h"

/* An address prefix, as given to --allow-selector. */
typedef struct gk_prefix {
	uint8_t family;          /* 4 or 6 */
	uint8_t addr[16];
	uint8_t len;             /* prefix length in bits */
} gk_prefix;

/* "192.0.2.0/24", "2001:db8::/32", or one address (a /32 or /128). Host bits must be zero.
 * GK_E_INVAL with the reason in err on anything else. */
gk_status gk_prefix_parse(const char *text, gk_prefix *out, char *err, size_t errlen);

/* Is every address of the destination range multicast, or inside one of the allowed prefixes? */
bool gk_gm_dst_allowed(const gk_ts_spec *dst, const gk_prefix *allow, size_t nallow);

/* Checks a group state from a registration (ctx GK_GSA_REGISTRATION) or a rekey before any of
 * it is applied: every Data-Security SA's destination; an AUTH_KEY, when present, must load;
 * at registration a Rekey SA with GCAUTH Digital Signature needs a Signature Algorithm
 * Identifier we know and an AUTH_KEY. GK_E_UNSUPPORTED (selectors) or GK_E_AUTH (rekey
 * authentication) with a one-line reason in why. */
gk_status gk_gm_state_check(const gk_group_state *gs, gk_gsa_context ctx, const gk_prefix *allow,
			    size_t nallow, char *why, size_t whylen);

/* The Sender-IDs of a registration (RFC 9838 2.5.2): "If the Sender-ID value doesn't fit into the
 * number of bits from the GWP_SENDER_ID_BITS attributes, then the GM MUST treat this as a fatal
 * error and re-register". Without the attribute (a group with one sender, 4.4.3.1.2) there is
 * nothing to fit. A sender given a counter-mode SA without any GM_SENDER_ID (which the GCKS
 * MUST send then, 4.5.3.3) holds no current Sender-ID and must not install it (2.4.1.4): fatal
 * as well. GK_E_MALFORMED with a one-line reason. */
gk_status gk_gm_sender_ids_check(const gk_group_state *gs, bool sender, char *why, size_t whylen);

/* The GSA_NEXT_SPI re-registration trigger of one group (RFC 9838 4.4.2.2.3): it fires at most
 * once per Rekey SA (by its SPI) and at most once per interval_ms, so that whoever learnt an
 * announced SPI cannot make the group register again and again. Zero-initialized = never
 * fired. */
typedef struct gk_next_spi_guard {
	uint8_t fired_spi[16];   /* the Rekey SA under which it last fired */
	bool fired;
	int64_t at;              /* when it last fired */
} gk_next_spi_guard;

/* May the trigger fire now, under the Rekey SA kek_spi? Records it when it may. */
bool gk_next_spi_allow(gk_next_spi_guard *g, const uint8_t kek_spi[16], int64_t now_ms, int64_t interval_ms);

#endif
