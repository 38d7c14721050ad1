/* GSA_REKEY messages (RFC 9838 2.4.1): built by the GCKS under the current Rekey SA (KEK), signed
 * over the A|P chunks exactly as 2.4.1.1 specifies, fragmented after signing when larger than
 * the threshold (2.4.1.2); opened and verified by members. */
#ifndef GK_REKEY_MSG_H
#define GK_REKEY_MSG_H

#include <openssl/evp.h>
#include "auth.h"
#include "frag.h"

typedef struct gk_rekey_out {
	uint8_t spi[16];              /* the Rekey SA's SPI: IKE SPIi | SPIr of the header */
	uint32_t msg_id;
	const gk_out_pl *pl;          /* GSA, KD, D, N: everything but AUTH */
	size_t npl;
	EVP_PKEY *sign_key;           /* Digital Signature GCAUTH; NULL for implicit (no AUTH) */
	gk_sig_scheme scheme;
	gk_sk_keys kek;               /* GSK_e (+ GSK_a) of the current Rekey SA */
	size_t frag_mtu;              /* IKE octets per datagram (UDP payload): fragment above
					 this size; 0 = never. See gk_rekey_frag_len. */
} gk_rekey_out;

#define GK_IPV4_HDR_LEN 20
#define GK_IPV6_HDR_LEN 40
#define GK_UDP_HDR_LEN 8
#define GK_NON_ESP_MARKER_LEN 4
#define GK_REKEY_NON_ESP_PORT 4500 /* IKE datagrams to this port carry the marker (RFC 3948 2.2) */

/* The IKE octets a GSA_REKEY datagram may hold so that the IP datagram carrying it stays
 * within mtu octets: the threshold counts the IP and UDP headers of the family (RFC 7383
 * 2.5.1; IPv4 20 + 8, IPv6 40 + 8) and the non-ESP marker on port 4500 (RFC 3948 2.2).
 * family is 4 or 6 (anything else is counted as IPv6, the larger header). 0 (never fragment)
 * when mtu is 0; 1 when mtu cannot even hold the headers (the build then fails). */
size_t gk_rekey_frag_len(size_t mtu, int family, bool non_esp_marker);

/* Builds the datagrams of one GSA_REKEY message (one, or its fragments). Sending the same
 * datagrams several times gives the bitwise identical copies 2.4.1.3 asks for. */
gk_status gk_rekey_build(const gk_rekey_out *r, const gk_rand *rnd, gk_dgrams *out);

/* A member's current Rekey SA, to open GSA_REKEY messages with. Does not own auth_key. */
typedef struct gk_rekey_in {
	uint8_t spi[16];
	gk_sk_keys kek;
	EVP_PKEY *auth_key;           /* from AUTH_KEY; NULL with implicit authentication */
	gk_sig_scheme want;           /* from the Signature Algorithm Identifier attribute */
	gk_frag_reasm *reasm;         /* caller's reassembly state for fragmented messages */
	uint32_t min_msg_id;          /* fragments of a lower Message ID (replays of old messages)
					 are dropped before they are kept: they must not displace a
					 new message's fragments (RFC 7383 2.6); 0 = no floor */
} gk_rekey_in;

/* Parses, decrypts (reassembling fragments) and authenticates one datagram. GK_E_NOT_FOUND when
 * the datagram is not a GSA_REKEY for this SPI; GK_OK with *complete false when a fragment was
 * kept; GK_E_STATE for a fragment below min_msg_id (dropped, reassembly untouched);
 * GK_E_INTEGRITY / GK_E_AUTH when it does not verify (nothing applied; a reassembled message
 * that fails leaves no fragment behind). Fails closed: with want set and no auth_key, nothing
 * verifies. On success m holds
 * the inner payloads (free with gk_msg_free). Message IDs are the caller's to check. */
gk_status gk_rekey_open(const gk_rekey_in *in, gk_chunk dgram, gk_msg *m, bool *complete);

/* A | P with the adjusted lengths and zeroed signature (exposed for tests). */
gk_status gk_rekey_signed_data(const uint8_t hdr[GK_HDR_LEN], uint8_t first_type, uint8_t sk_flags,
			       gk_chunk inner, size_t sig_off, size_t sig_len, gk_wbuf *out);

#endif
