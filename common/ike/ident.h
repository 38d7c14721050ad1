/* Identities as admins and users write them: "fqdn:host.example", "email:user@example",
 * "ipv4:192.0.2.1", "ipv6:2001:db8::1", "keyid:text" (and "keyid:0x<hex>" for binary key IDs).
 * The same text names members and groups in policy files, the database, logs and JSON. */
#ifndef GK_IDENT_H
#define GK_IDENT_H

#include <stddef.h>
#include <stdint.h>
#include "chunk.h"

#define GK_IDENT_MAX 255      /* octets of identification data */
#define GK_IDENT_TEXT_MAX 600 /* longest canonical text, NUL included */

/* A parsed identity; owns its bytes. */
typedef struct gk_ident {
	uint8_t type;             /* GK_ID_* */
	uint8_t len;
	uint8_t data[GK_IDENT_MAX];
} gk_ident;

/* Parses the text form. GK_E_INVAL with the reason in err on bad input. */
gk_status gk_ident_parse(const char *text, gk_ident *out, char *err, size_t errlen);
/* Canonical text form (lower-case prefix; IP addresses in inet_ntop form; key IDs as text when
 * printable, else "keyid:0x..."; octets of a name that are not printable ASCII as \xNN, so the
 * text of an identity from the network is one line of plain characters). buf must hold
 * GK_IDENT_TEXT_MAX; names that long once escaped are cut. */
char *gk_ident_text(const gk_ident *id, char *buf);
/* From an ID payload's type and data. GK_E_MALFORMED for impossible lengths. */
gk_status gk_ident_from_payload(uint8_t type, gk_chunk data, gk_ident *out);
bool gk_ident_eq(const gk_ident *a, const gk_ident *b);

/* An identity held for long (by every open IKE SA of the GCKS): one allocation as long as its
 * data, where a gk_ident takes 257 octets, shared by reference count (an SA and the SA that
 * rekeys it hold one copy). Immutable once made. */
typedef struct gk_ident_held {
	uint32_t refs;
	uint8_t type, len;
	uint8_t data[];
} gk_ident_held;

/* A new held copy of id (refs 1); NULL out of memory. */
gk_ident_held *gk_ident_hold(const gk_ident *id);
/* One more holder of h (h may be NULL). */
gk_ident_held *gk_ident_held_ref(gk_ident_held *h);
/* Drops one holder; frees h with its last. NULL is ignored. */
void gk_ident_held_unref(gk_ident_held *h);
/* Expands h into *out and returns out; the empty identity (type 0) for NULL. */
const gk_ident *gk_ident_held_get(const gk_ident_held *h, gk_ident *out);
/* gk_ident_eq of h (NULL: the empty identity) and id. */
bool gk_ident_held_eq(const gk_ident_held *h, const gk_ident *id);

#endif
