#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "addr.h"

static gk_status parse_port(const char *s, unsigned *port, char *err, size_t errlen)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);
	if (!*s || *end || v == 0 || v > 65535)
		return gk_seterr(err, errlen, "port must be a number from 1 to 65535"), GK_E_INVAL;
	*port = (unsigned)v;
	return GK_OK;
}

gk_status gk_addr_parse(const char *text, unsigned default_port, struct sockaddr_storage *out,
			char *err, size_t errlen)
{
	char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 8];
	const char *port_s = NULL;
	unsigned port = default_port;
	memset(out, 0, sizeof(*out));
	if (!text || strlen(text) >= sizeof(host))
		return gk_seterr(err, errlen, "address too long"), GK_E_INVAL;
	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (!close)
			return gk_seterr(err, errlen, "missing ] in IPv6 address"), GK_E_INVAL;
		memcpy(host, text + 1, (size_t)(close - text - 1));
		host[close - text - 1] = 0;
		if (close[1] == ':')
			port_s = close + 2;
		else if (close[1])
			return gk_seterr(err, errlen, "unexpected text after ]"), GK_E_INVAL;
	} else {
		const char *colon = strchr(text, ':');
		if (colon && strchr(colon + 1, ':')) {
			strcpy(host, text); /* bare IPv6 address without port */
		} else {
			size_t n = colon ? (size_t)(colon - text) : strlen(text);
			memcpy(host, text, n);
			host[n] = 0;
			port_s = colon ? colon + 1 : NULL;
		}
	}
	if (port_s && parse_port(port_s, &port, err, errlen))
		return GK_E_INVAL;
	if (port == 0 || port > 65535)
		return gk_seterr(err, errlen, "no port given"), GK_E_INVAL;
	struct sockaddr_in *in = (struct sockaddr_in *)out;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)out;
	if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		return GK_OK;
	}
	/* An IPv6 zone (RFC 4007 11): "fe80::1%eth0" or "%2"; a link-local address needs it. */
	char *zone = strchr(host, '%');
	unsigned scope = 0;
	if (zone) {
		*zone++ = 0;
		char *end;
		unsigned long v = strtoul(zone, &end, 10);
		scope = *zone && !*end && v > 0 && v <= 0xffffffffUL ? (unsigned)v : if_nametoindex(zone);
		if (!scope)
			return gk_seterr(err, errlen, "unknown network interface \"%s\" after %%", zone), GK_E_INVAL;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		in6->sin6_scope_id = scope;
		return GK_OK;
	}
	if (zone)
		return gk_seterr(err, errlen, "a zone (%%) follows only an IPv6 address"), GK_E_INVAL;
	return gk_seterr(err, errlen, "not a numeric IPv4 or IPv6 address"), GK_E_INVAL;
}

char *gk_addr_text(const struct sockaddr *sa, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";
	if (sa->sa_family == AF_INET) {
		/* "%s:%u" put together by hand: snprintf's formatting cost more than inet_ntop */
		const struct sockaddr_in *in = (const void *)sa;
		char port[8], *p = port + sizeof(port);
		unsigned v = ntohs(in->sin_port);
		inet_ntop(AF_INET, &in->sin_addr, a, sizeof(a));
		*--p = 0;
		do
			*--p = (char)('0' + v % 10);
		while ((v /= 10) != 0);
		*--p = ':';
		size_t na = strlen(a), np = (size_t)(port + sizeof(port) - 1 - p);
		if (len && na + np < len) {
			memcpy(buf, a, na);
			memcpy(buf + na, p, np + 1);
		} else {
			snprintf(buf, len, "%s%s", a, p); /* cut as snprintf cuts */
		}
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, a, sizeof(a));
		char zone[IF_NAMESIZE + 12] = "";
		char name[IF_NAMESIZE];
		if (in6->sin6_scope_id && if_indextoname(in6->sin6_scope_id, name))
			snprintf(zone, sizeof(zone), "%%%s", name);
		else if (in6->sin6_scope_id)
			snprintf(zone, sizeof(zone), "%%%u", (unsigned)in6->sin6_scope_id);
		snprintf(buf, len, "[%s%s]:%u", a, zone, ntohs(in6->sin6_port));
	} else {
		snprintf(buf, len, "?");
	}
	return buf;
}

socklen_t gk_addr_len(const struct sockaddr *sa)
{
	return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

unsigned gk_addr_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)(const void *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)(const void *)sa)->sin6_port);
	return 0;
}

bool gk_addr_is_any(const struct sockaddr *sa)
{
	static const struct in6_addr any6 = IN6ADDR_ANY_INIT;
	if (sa->sa_family == AF_INET)
		return ((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr == htonl(INADDR_ANY);
	return sa->sa_family == AF_INET6 &&
	       !memcmp(&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, &any6, sizeof(any6));
}
