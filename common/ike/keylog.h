/* IKE SA key log for debugging: one line per IKE SA (and per Rekey SA on members) in the record
 * format of Wireshark's "IKEv2 Decryption Table" (UAT ikev2_decryption_table): SPIi, SPIr, SK_ei,
 * SK_er, encryption algorithm, SK_ai, SK_ar, integrity algorithm. It writes secrets on purpose:
 * never on by default (--ike-keylog), the file is created 0600 and an existing one is used only
 * when it is a regular file we own that nobody else can read or write.
 * A gk_keylog owns its file descriptor; gk_keylog_close() closes it. */
#ifndef GK_KEYLOG_H
#define GK_KEYLOG_H

#include <stddef.h>
#include <stdint.h>
#include "chunk.h"
#include "ikekeys.h"
#include "status.h"

typedef struct gk_keylog gk_keylog;

/* Opens (creating 0600, appending) path. Refuses a symbolic link, a file that is not regular,
 * not owned by our effective user, or readable / writable by group or others. */
gk_status gk_keylog_open(const char *path, gk_keylog **out, char *err, size_t errlen);
void gk_keylog_close(gk_keylog *kl);
/* gk_keylog_open for a daemon's --ike-keylog: logs the error, or a warning that secrets are
 * being written, with the path (prog names the program). */
gk_status gk_keylog_start(const char *prog, const char *path, gk_keylog **out);

/* Writes the keys of one IKE SA (RFC 7296 2.14). kl NULL: nothing. An algorithm Wireshark
 * cannot decrypt (ChaCha20, say) is written with its IANA name; Wireshark then ignores the
 * record. */
void gk_keylog_ike_sa(gk_keylog *kl, uint64_t spi_i, uint64_t spi_r, const gk_ike_keys *k);
/* Writes the keys of a Rekey SA (RFC 9838 4.4: its 16-octet SPI is the IKE header's SPIi and
 * SPIr of every GSA_REKEY): GSK_e and GSK_a for both directions. */
void gk_keylog_rekey_sa(gk_keylog *kl, gk_chunk spi, uint16_t encr, uint16_t encr_key_bits, uint16_t integ,
			gk_chunk enc_key, gk_chunk integ_key);

/* Wireshark's names (UAT enum values, Wireshark 4.0) of an IKEv2 encryption / integrity
 * transform; NULL when Wireshark has none. */
const char *gk_keylog_encr_name(uint16_t encr, uint16_t key_bits);
const char *gk_keylog_integ_name(uint16_t integ);

#endif
