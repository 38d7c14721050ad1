/* One-line summaries of messages for logs, in strongSwan's style:
 * "GSA_AUTH request 1 [ SK{ IDi AUTH IDg SA N(GROUP_SENDER) } ]". Never prints key material. */
#ifndef GK_MSGDUMP_H
#define GK_MSGDUMP_H

#include <stddef.h>
#include "message.h"

/* Writes at most len-1 characters and a NUL; returns buf. */
char *gk_msg_summary(const gk_msg *m, char *buf, size_t len);

#endif
