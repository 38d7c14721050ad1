/* Post-quantum preshared keys (PPK, RFC 8784) as both roles use them: the key update of the IKE
 * SA once a PPK is agreed (RFC 8784 3) and the PPK_IDENTITY notify data (RFC 8784 5.1). PPKs are
 * read from files by the rule of pre-shared keys (psk_file.h): the same sizes and file modes. */
#ifndef GK_PPK_H
#define GK_PPK_H

#include "chunk.h"
#include "ikekeys.h"

#define GK_PPK_ID_MAX 255u /* octets of a PPK_ID (after its type octet): a bound of our own */

/* PPK_ID types (RFC 8784 5.1, IANA "IKEv2 PPK_ID Types"). We send and accept PPK_ID_FIXED
 * only, the form strongSwan uses too. */
enum gk_ppk_id_type { GK_PPK_ID_OPAQUE = 1, GK_PPK_ID_FIXED = 2 };

/* RFC 8784 3: SK_d' = prf+(PPK, SK_d), SK_pi' = prf+(PPK, SK_pi), SK_pr' = prf+(PPK, SK_pr),
 * each as long as the key it replaces, with the IKE SA's PRF (k->suite.prf); GSK_w, derived from
 * SK_d (RFC 9838 3.1.1), is derived again from SK_d' so that the group keys wrapped under it
 * depend on the PPK (RFC 9838 6.2). SK_e and SK_a stay. k is changed only on success. */
gk_status gk_ppk_update_keys(gk_ike_keys *k, gk_chunk ppk);

/* PPK_IDENTITY notify data for a PPK_ID: PPK_ID_FIXED, then the ID (1 .. GK_PPK_ID_MAX). */
gk_status gk_ppk_identity_build(gk_chunk ppk_id, gk_wbuf *out);
/* The PPK_ID in PPK_IDENTITY notify data (a view into data): GK_E_INVAL when empty, longer than
 * GK_PPK_ID_MAX or of a type other than PPK_ID_FIXED. */
gk_status gk_ppk_identity_parse(gk_chunk data, gk_chunk *ppk_id);

#endif
