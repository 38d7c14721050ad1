/* The SA table (gcks_sa_table.c): the only code that touches its buckets. */
#ifndef GK_GCKS_SA_TABLE_H
#define GK_GCKS_SA_TABLE_H

#include "gcks_state.h"

gk_status gcks_sa_table_init(gk_gcks *g);
/* Frees the buckets; the SAs are closed before. */
void gcks_sa_table_free(gk_gcks *g);
/* Calls fn on every SA in the table; fn may remove the SA it is given (no other). */
typedef void (*gcks_sa_fn)(gk_gcks *g, gcks_sa *sa, void *ctx);
void gcks_sa_foreach(gk_gcks *g, gcks_sa_fn fn, void *ctx);
/* A new SA (not in the table) with our SPI: spi, a random value the caller drew, when it is
 * not 0, free and its chain short enough (gcks_sa_table.c, bucket_r); else one drawn here
 * (g->env.rnd). NULL at max_sas, out of memory, or when no draw finds a short chain. */
gcks_sa *gcks_sa_new(gk_gcks *g, uint64_t spi);
/* Enters a new half-open SA (its peer set); GK_E_NOMEM leaves it out. */
gk_status gcks_sa_insert(gk_gcks *g, gcks_sa *sa);
/* The SA whose SPI on our side is spi. */
gcks_sa *gcks_sa_find(gk_gcks *g, uint64_t spi);
/* The SA a message with this header belongs to: our SPI is SPIr when the sender is the
 * original initiator (I flag), SPIi otherwise; the other SPI and our role must match. */
gcks_sa *gcks_sa_for(gk_gcks *g, const gk_hdr *h);
gcks_sa *gcks_sa_find_half_open(gk_gcks *g, uint64_t spi_i, const struct sockaddr *peer);
void gcks_sa_established(gk_gcks *g, gcks_sa *sa);
/* Enters an SA made established by a rekey (not half-open, no source). */
gk_status gcks_sa_insert_established(gk_gcks *g, gcks_sa *sa);
/* Takes sa out of the table, its source's count and the identity index, and frees it. Our
 * rekey must not be out on it (gcks_sa_close releases that first). */
void gcks_sa_remove(gk_gcks *g, gcks_sa *sa);
/* Frees an SA that is not (or no longer) in the table, wiping its keys. */
void gcks_sa_free(gcks_sa *sa);

/* Longest chain of the SA table by the peer's SPI (by_i) and by ours (by_r), for tests. */
size_t gcks_sa_chain_max(const gk_gcks *g, bool by_peer_spi);

#endif
