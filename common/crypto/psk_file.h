/* Pre-shared keys as gcksctl (policy `psk`, `psk-file`) and gmd (--psk-file) read them: one
 * rule on both sides, so a key file authenticates on both or on neither.
 *
 * A key is text (its octets) or "0x" followed by an even number of hex digits. In a file, white
 * space (space, tab, CR, LF, VT, FF) at the start and at the end is not part of the key: an
 * editor's trailing newline or a stray blank never changes it (a key that begins or ends with
 * white space is written as 0x-hex). The key is GK_PSK_MIN to GK_PSK_MAX octets after
 * decoding. The file must be a regular file that neither its group nor others may read or
 * write (mode 0600 or 0400): it is refused otherwise, whoever reads it. */
#ifndef GK_PSK_FILE_H
#define GK_PSK_FILE_H

#include <stddef.h>
#include <stdint.h>
#include "status.h"

#define GK_PSK_MIN 16u   /* octets: 128 bits, the strength of the weakest transform offered */
#define GK_PSK_MAX 1024u /* octets */

/* Decodes a key written as text or 0x-hex (len octets at s; no white space is removed) into
 * *out (malloc'd, *outlen octets; free with gk_psk_free). GK_E_INVAL with the reason in err. */
gk_status gk_psk_decode(const char *s, size_t len, uint8_t **out, size_t *outlen, char *err, size_t errlen);

/* Reads and decodes the key file at path. Failures (GK_E_INVAL for the file's content or
 * mode, GK_E_IO when it cannot be read, GK_E_NOMEM) put a message naming the file in err. */
gk_status gk_psk_file_read(const char *path, uint8_t **out, size_t *outlen, char *err, size_t errlen);

/* Wipes and frees a key of len octets. */
void gk_psk_free(uint8_t *psk, size_t len);

#endif
