#include <stdarg.h>
#include <stdio.h>
#include "status.h"

static const char *const names[GK_STATUS_COUNT] = {
	[GK_OK] = "ok",
	[GK_E_TRUNCATED] = "truncated",
	[GK_E_MALFORMED] = "malformed",
	[GK_E_UNSUPPORTED_CRITICAL] = "unsupported critical payload",
	[GK_E_UNSUPPORTED] = "unsupported",
	[GK_E_TOO_DEEP] = "nesting too deep",
	[GK_E_TOO_BIG] = "too big",
	[GK_E_NOMEM] = "out of memory",
	[GK_E_INVAL] = "invalid argument",
	[GK_E_CRYPTO] = "crypto failure",
	[GK_E_INTEGRITY] = "integrity check failed",
	[GK_E_AUTH] = "authentication failed",
	[GK_E_BAD_KE] = "invalid key exchange value",
	[GK_E_NOT_FOUND] = "not found",
	[GK_E_IO] = "i/o error",
	[GK_E_STATE] = "invalid state",
	[GK_E_RULES] = "payload rules violated",
};

const char *gk_status_str(gk_status st)
{
	if ((unsigned)st >= GK_STATUS_COUNT || !names[st])
		return "unknown status";
	return names[st];
}

void gk_seterr(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || !errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}
