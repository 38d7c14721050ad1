#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "ident.h"
#include "iana.h"

static const struct { const char *prefix; uint8_t type; } prefixes[] = {
	{ "fqdn", GK_ID_FQDN }, { "email", GK_ID_RFC822_ADDR }, { "ipv4", GK_ID_IPV4_ADDR },
	{ "ipv6", GK_ID_IPV6_ADDR }, { "keyid", GK_ID_KEY_ID },
};

static int hexv(int c)
{
	if (c >= '0' && c <= '9') return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static gk_status parse_keyid(const char *v, gk_ident *out, char *err, size_t errlen)
{
	size_t n = strlen(v);
	if (n > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X')) {
		v += 2;
		n -= 2;
		if (n % 2 || n / 2 > GK_IDENT_MAX)
			return gk_seterr(err, errlen, "hex key ID needs an even number of digits, at most 510"), GK_E_INVAL;
		for (size_t i = 0; i < n; i += 2) {
			int hi = hexv((unsigned char)v[i]), lo = hexv((unsigned char)v[i + 1]);
			if (hi < 0 || lo < 0)
				return gk_seterr(err, errlen, "bad hex digit in key ID"), GK_E_INVAL;
			out->data[i / 2] = (uint8_t)(hi << 4 | lo);
		}
		out->len = (uint8_t)(n / 2);
		return GK_OK;
	}
	if (n > GK_IDENT_MAX)
		return gk_seterr(err, errlen, "key ID longer than 255 octets"), GK_E_INVAL;
	memcpy(out->data, v, n);
	out->len = (uint8_t)n;
	return GK_OK;
}

gk_status gk_ident_parse(const char *text, gk_ident *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	const char *colon = text ? strchr(text, ':') : NULL;
	if (!colon)
		return gk_seterr(err, errlen, "identity must look like fqdn:NAME, email:ADDR, ipv4:ADDR, ipv6:ADDR or keyid:TEXT"), GK_E_INVAL;
	size_t plen = (size_t)(colon - text);
	const char *v = colon + 1;
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		if (strlen(prefixes[i].prefix) != plen || strncasecmp(text, prefixes[i].prefix, plen))
			continue;
		out->type = prefixes[i].type;
		if (!*v)
			return gk_seterr(err, errlen, "identity value is empty"), GK_E_INVAL;
		switch (out->type) {
		case GK_ID_IPV4_ADDR:
			if (inet_pton(AF_INET, v, out->data) != 1)
				return gk_seterr(err, errlen, "not an IPv4 address"), GK_E_INVAL;
			out->len = 4;
			return GK_OK;
		case GK_ID_IPV6_ADDR:
			if (inet_pton(AF_INET6, v, out->data) != 1)
				return gk_seterr(err, errlen, "not an IPv6 address"), GK_E_INVAL;
			out->len = 16;
			return GK_OK;
		case GK_ID_KEY_ID:
			return parse_keyid(v, out, err, errlen);
		default: {
			size_t n = strlen(v);
			if (n > GK_IDENT_MAX)
				return gk_seterr(err, errlen, "identity longer than 255 octets"), GK_E_INVAL;
			for (size_t j = 0; j < n; j++)
				if (!isgraph((unsigned char)v[j]) || v[j] == '\\')
					return gk_seterr(err, errlen, "identity contains spaces, control characters or a backslash"), GK_E_INVAL;
			if (out->type == GK_ID_RFC822_ADDR && !strchr(v, '@'))
				return gk_seterr(err, errlen, "email identity needs an @"), GK_E_INVAL;
			memcpy(out->data, v, n);
			out->len = (uint8_t)n;
			return GK_OK;
		}
		}
	}
	return gk_seterr(err, errlen, "unknown identity type (use fqdn, email, ipv4, ipv6 or keyid)"), GK_E_INVAL;
}

static bool printable(const uint8_t *p, size_t n)
{
	if (n == 0 || (n > 1 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isgraph(p[i]) || p[i] == '\\')
			return false;
	return true;
}

static const char hexdig[] = "0123456789abcdef";

char *gk_ident_text(const gk_ident *id, char *buf)
{
	char tmp[INET6_ADDRSTRLEN];
	size_t o = 0;
	switch (id->type) {
	case GK_ID_IPV4_ADDR:
	case GK_ID_IPV6_ADDR:
		if (inet_ntop(id->type == GK_ID_IPV4_ADDR ? AF_INET : AF_INET6, id->data, tmp, sizeof(tmp)))
			snprintf(buf, GK_IDENT_TEXT_MAX, "%s:%s", id->type == GK_ID_IPV4_ADDR ? "ipv4" : "ipv6", tmp);
		else
			snprintf(buf, GK_IDENT_TEXT_MAX, "invalid");
		return buf;
	case GK_ID_FQDN:
	case GK_ID_RFC822_ADDR:
		/* names from the wire may hold anything: what the text form cannot hold (spaces,
		 * control characters, the backslash that starts an escape; gk_ident_parse refuses
		 * them) is written as \xNN, so a name cannot pose as an escaped one */
		o = (size_t)snprintf(buf, GK_IDENT_TEXT_MAX, "%s:", id->type == GK_ID_FQDN ? "fqdn" : "email");
		/* by hand, not one snprintf per octet: this text is made for every registration */
		for (size_t i = 0; i < id->len && o + 5 <= GK_IDENT_TEXT_MAX; i++) {
			uint8_t c = id->data[i];
			if (isgraph(c) && c != '\\') {
				buf[o++] = (char)c;
				continue;
			}
			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = hexdig[c >> 4];
			buf[o++] = hexdig[c & 15];
		}
		buf[o] = 0;
		return buf;
	case GK_ID_KEY_ID:
		if (printable(id->data, id->len)) {
			snprintf(buf, GK_IDENT_TEXT_MAX, "keyid:%.*s", (int)id->len, (const char *)id->data);
			return buf;
		}
		o = (size_t)snprintf(buf, GK_IDENT_TEXT_MAX, "keyid:0x");
		break;
	default:
		o = (size_t)snprintf(buf, GK_IDENT_TEXT_MAX, "%s:0x", gk_iana_str(GK_REG_ID, id->type));
		break;
	}
	for (size_t i = 0; i < id->len && o + 3 < GK_IDENT_TEXT_MAX; i++) {
		buf[o++] = hexdig[id->data[i] >> 4];
		buf[o++] = hexdig[id->data[i] & 15];
	}
	buf[o] = 0;
	return buf;
}

gk_status gk_ident_from_payload(uint8_t type, gk_chunk data, gk_ident *out)
{
	memset(out, 0, sizeof(*out));
	if (data.len == 0 || data.len > GK_IDENT_MAX)
		return GK_E_MALFORMED;
	if ((type == GK_ID_IPV4_ADDR && data.len != 4) || (type == GK_ID_IPV6_ADDR && data.len != 16))
		return GK_E_MALFORMED;
	out->type = type;
	out->len = (uint8_t)data.len;
	memcpy(out->data, data.ptr, data.len);
	return GK_OK;
}

bool gk_ident_eq(const gk_ident *a, const gk_ident *b)
{
	if (a->type != b->type || a->len != b->len)
		return false;
	if (a->type != GK_ID_FQDN)
		return memcmp(a->data, b->data, a->len) == 0;
	for (size_t i = 0; i < a->len; i++) /* DNS names compare case-insensitively */
		if (tolower(a->data[i]) != tolower(b->data[i]))
			return false;
	return true;
}

gk_ident_held *gk_ident_hold(const gk_ident *id)
{
	gk_ident_held *h = malloc(sizeof(*h) + id->len);
	if (!h)
		return NULL;
	h->refs = 1;
	h->type = id->type;
	h->len = id->len;
	memcpy(h->data, id->data, id->len);
	return h;
}

gk_ident_held *gk_ident_held_ref(gk_ident_held *h)
{
	if (h)
		h->refs++;
	return h;
}

void gk_ident_held_unref(gk_ident_held *h)
{
	if (h && --h->refs == 0)
		free(h);
}

const gk_ident *gk_ident_held_get(const gk_ident_held *h, gk_ident *out)
{
	out->type = h ? h->type : 0;
	out->len = h ? h->len : 0;
	if (h)
		memcpy(out->data, h->data, h->len);
	return out;
}

bool gk_ident_held_eq(const gk_ident_held *h, const gk_ident *id)
{
	gk_ident x;
	return gk_ident_eq(gk_ident_held_get(h, &x), id);
}
