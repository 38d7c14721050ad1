/* Which payloads each exchange allows, requires or forbids, inside or outside SK
 * (RFC 7296 section 1, RFC 9838 2.3, 2.4, RFC 9242 3.3 IKE_INTERMEDIATE), and where the notifies
 * that must not stray go (the PPK notifies of RFC 8784 3, INTERMEDIATE_EXCHANGE_SUPPORTED). A handler never sees a message that broke its table. */
#ifndef GK_EXCHANGE_RULES_H
#define GK_EXCHANGE_RULES_H

#include "message.h"

#define GK_MANY 0xff

typedef struct gk_pl_rule {
	uint8_t type;
	uint8_t min, max;     /* occurrences; max GK_MANY = unbounded */
	bool encrypted;       /* must be inside SK (true) or outside (false) */
} gk_pl_rule;

typedef struct gk_exchange_rules {
	uint8_t exchange;
	bool response;
	bool protected_;      /* the message must carry SK */
	const gk_pl_rule *rules;
	size_t nrules;
	/* Cross-payload constraints the counts cannot say (e.g. GSA_REKEY: GSA+KD or Delete). */
	gk_status (*check)(const gk_msg *m);
} gk_exchange_rules;

/* The rules for a message, NULL for an exchange type we do not know. */
const gk_exchange_rules *gk_exchange_rules_for(uint8_t exchange, bool response);

/* Checks a parsed (and, if protected, decrypted) message against its exchange's table.
 * Payloads not in the table are forbidden. An error Notify in a response lifts the minimums
 * (RFC 7296 2.21: an error response carries only what explains the error).
 * On failure *bad_type names the offending payload type (0 when a cross check failed). */
gk_status gk_exchange_rules_check(const gk_msg *m, uint8_t *bad_type);

#endif
