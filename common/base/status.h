/* Status codes shared by every module of gikev2.
 * A function that can fail returns gk_status; GK_OK is zero so `if (st)` tests failure. */
#ifndef GK_STATUS_H
#define GK_STATUS_H

#include <stddef.h>

typedef enum gk_status {
	GK_OK = 0,
	GK_E_TRUNCATED,        /* input ends before a length or field says it should */
	GK_E_MALFORMED,        /* input is structurally invalid (bad length, bad value) */
	GK_E_UNSUPPORTED_CRITICAL, /* unknown payload with the critical bit set */
	GK_E_UNSUPPORTED,      /* a valid value this implementation does not handle */
	GK_E_TOO_DEEP,         /* nesting bound exceeded */
	GK_E_TOO_BIG,          /* output or input exceeds a size bound */
	GK_E_NOMEM,
	GK_E_INVAL,            /* caller error: bad argument */
	GK_E_CRYPTO,           /* OpenSSL reported a failure */
	GK_E_INTEGRITY,        /* ICV / MAC / unwrap check failed */
	GK_E_AUTH,             /* signature or PSK MIC did not verify */
	GK_E_BAD_KE,           /* peer public value failed RFC 6989 checks */
	GK_E_NOT_FOUND,
	GK_E_IO,
	GK_E_STATE,            /* operation not valid in the current state */
	GK_E_RULES,            /* message broke its exchange's payload rules */
	GK_STATUS_COUNT
} gk_status;

/* Short stable name of a status ("truncated", ...), never NULL. */
const char *gk_status_str(gk_status st);

/* Room for any detail message a module writes into err/errlen. */
#define GK_ERR_MAX 256

/* Writes a detail message into a caller's err/errlen buffer (either may be NULL/0: no detail
 * wanted). The one convention for error details between modules. */
void gk_seterr(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
