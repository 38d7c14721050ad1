/* Half-open SAs and costly key exchanges per source (gcks_sources.c). */
#ifndef GK_GCKS_SOURCES_H
#define GK_GCKS_SOURCES_H

#include "gcks_state.h"

gk_status gcks_sources_init(gk_gcks *g);
void gcks_sources_free(gk_gcks *g);
/* The source's half-open count (0 if it has none). */
unsigned gcks_source_count(const gk_gcks *g, const struct sockaddr *peer);
/* Counts sa (half-open, not yet in the age list) against its source and appends it to the age
 * list; GK_E_NOMEM leaves everything as it was. */
gk_status gcks_source_add(gk_gcks *g, gcks_sa *sa, const struct sockaddr *peer);
/* Takes sa out of its source's count and the age list (when it is in them). */
void gcks_source_del(gk_gcks *g, gcks_sa *sa);
/* Number of sources held (with half-open SAs or a costly bucket not yet full), for tests. */
size_t gcks_source_entries(const gk_gcks *g);
/* The source's oldest half-open SA, NULL if it has none. */
gcks_sa *gcks_source_oldest(const gk_gcks *g, const struct sockaddr *peer);
/* Takes one costly key exchange from the source's bucket (cfg.costly_ke_per_source a second);
 * false when it is empty or no entry can be made. */
bool gcks_source_costly_take(gk_gcks *g, const struct sockaddr *peer);
/* Frees the entries that hold nothing any more (called about once a second). */
void gcks_sources_sweep(gk_gcks *g);

#endif
