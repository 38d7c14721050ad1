/* Hashes for the GCKS tables (gcks_keyhash.c). */
#ifndef GK_GCKS_KEYHASH_H
#define GK_GCKS_KEYHASH_H

#include "gcks_state.h"

/* The longest key gcks_keyhash takes: one AES block less the length octet. */
#define GCKS_KEYHASH_MAX 15

/* keyed: one AES-128 block under a random key from env->rnd */
gk_status gcks_keyhash_init(gk_gcks *g);
void gcks_keyhash_free(gk_gcks *g);
/* len at most GCKS_KEYHASH_MAX */
uint64_t gcks_keyhash(const gk_gcks *g, const void *data, size_t len);
uint64_t gcks_ident_hash(const gk_ident *id);

#endif
