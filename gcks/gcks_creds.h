/* Our credentials and X.509 handling (gcks_creds.c). */
#ifndef GK_GCKS_CREDS_H
#define GK_GCKS_CREDS_H

#include "gcks_state.h"

/* our identity, key and certificate from the store and the CA */
gk_status gcks_creds_load(gk_gcks *g, char *err, size_t errlen);
void gcks_creds_free(gk_gcks *g);
/* The public key of the X.509 leaf certificate in cp (chain in further CERT payloads of m),
 * verified to our CA and matching id. */
gk_status gcks_creds_peer_key(const gk_gcks *g, const gk_msg *m, const gk_payload *cp, const gk_ident *id,
			      EVP_PKEY **out);

#endif
