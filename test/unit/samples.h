/* Sample payloads of every type, realistic G-IKEv2 content; used by the codec tests and to seed
 * the fuzz corpus. All memory is static: valid for the life of the process. */
#ifndef GK_SAMPLES_H
#define GK_SAMPLES_H

#include "message.h"

/* Fills out[] with one sample of each payload type (and a few variants); returns the count. */
size_t sample_payloads(gk_out_pl *out, size_t max);

/* Individual samples used by message tests. */
const gk_pl_sa *sample_sa_ike(void);
const gk_pl_gsa *sample_gsa(void);
const gk_pl_kd *sample_kd(void);

#endif
