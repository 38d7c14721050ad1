/* A GCKS core on a fake network and clock, for the fuzz target fuzz_gcks and its seed generator
 * gen_gcks: every run starts from the same state (a copy of one template store with the fixed
 * identity of fuzz_keys.h and two groups, a seeded random generator, the clock at its start,
 * and deterministic key exchange values: gk_dh_new is wrapped at link time, -Wl,--wrap), so
 * that the datagrams the generator made from a run's answers are opened again by the target.
 *
 * Fuzz input: records of  ctl | len (2 octets, big endian) | datagram  where ctl's low two
 * bits pick the peer address (bit 2: IPv6) and its high four bits the seconds the clock
 * advances (with a tick each second) before the datagram arrives. With bit 3 (FH_SEAL) the
 * datagram is  IKE header | first payload type | inner payload chain  in the clear, and is
 * protected (SK) with the keys of the SA its header names before it arrives: so the fuzzer
 * reaches every handler with contents it chose, past the integrity check. */
#ifndef GK_FUZZ_GCKS_HARNESS_H
#define GK_FUZZ_GCKS_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include "gcks/gcks.h"

/* Groups of the template store: G1 rekeys by multicast, G2 inband. Members' PSKs are their
 * identity texts. */
#define FH_G1 "keyid:fuzz-grp-1"
#define FH_G2 "keyid:fuzz-grp-2"
#define FH_RECEIVER "fqdn:r1.example"   /* receiver of both groups */
#define FH_SENDER "fqdn:s1.example"     /* sender of G1 */
/* G1 uses PPKs (RFC 8784, ppk: optional): the sender's PPK and PPK_ID */
#define FH_PPK "a post-quantum preshared key of s1"
#define FH_PPK_ID "s1-ppk"
#define FH_GCKS_ID "fqdn:gcks.example"

#define FH_SEAL 0x08

/* Called for every datagram the GCKS sends, with the peer's index (ctl's low three bits). */
typedef void (*fh_sent_fn)(void *ctx, unsigned peer, const uint8_t *data, size_t len);

/* Starts a run: a fresh GCKS over a fresh copy of the template store. Aborts on failure. */
gk_gcks *fh_begin(fh_sent_fn sent, void *ctx);
/* One datagram from peer ctl & 7, after advancing the clock ctl >> 4 seconds (sealed first
 * with FH_SEAL). */
void fh_datagram(uint8_t ctl, const uint8_t *data, size_t len);
/* Advances the clock by ms, ticking the GCKS every second. */
void fh_advance(int64_t ms);
/* Feeds a whole fuzz input (records as above). */
void fh_feed(const uint8_t *data, size_t size);
/* Ends the run: frees the GCKS and closes the store. */
void fh_end(void);

/* The deterministic private value the wrapped gk_dh_new gives its n-th key of a run (an
 * initiator in the generator uses gk_dh_new_from_private with it too). */
void fh_dh_private(unsigned n, uint8_t out[32]);

#endif
