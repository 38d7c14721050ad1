/* Socket addresses as users write them: "192.0.2.1:848", "[2001:db8::1]:848",
 * "[fe80::1%eth0]:848" (a zone, by interface name or index), "host" with a default port; and back
 * to text for logs and JSON (the zone by name). */
#ifndef GK_ADDR_H
#define GK_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include "status.h"

/* Parses numeric addresses only (no DNS: a key server must not depend on resolvers).
 * err gets the reason on failure. */
gk_status gk_addr_parse(const char *text, unsigned default_port, struct sockaddr_storage *out,
			char *err, size_t errlen);
char *gk_addr_text(const struct sockaddr *sa, char *buf, size_t len);
socklen_t gk_addr_len(const struct sockaddr *sa);
unsigned gk_addr_port(const struct sockaddr *sa);
/* Is it the wildcard address of its family (0.0.0.0, ::)? False for other families. */
bool gk_addr_is_any(const struct sockaddr *sa);

#endif
