/* Signing key rollover (gcks_keyroll.c). */
#ifndef GK_GCKS_KEYROLL_H
#define GK_GCKS_KEYROLL_H

#include "gcks_state.h"

/* Completes a rollover a crash interrupted. */
gk_status gcks_keyroll_resume(gk_gcks *g);

#endif
