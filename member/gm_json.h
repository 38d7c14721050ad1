/* The received state of a group as JSON (gmd --json): SAs with SPI, directions, transforms by
 * IANA name, traffic selectors, lifetime and the SHA-256 of the keying material (never the key). */
#ifndef GK_GM_JSON_H
#define GK_GM_JSON_H

#include "group_sa.h"
#include "json.h"

void gk_gm_json_group(gk_json *j, const gk_ident *group, const gk_group_state *gs, bool sender,
		      bool transport_mode);

#endif
