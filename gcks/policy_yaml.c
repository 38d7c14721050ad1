/* Policy files: YAML (libyaml's document API) to gk_group_policy, with validation, and export.
 *
 * Each mapping of the format (group, rekey, SA, member) is described by one table of fields:
 * key, handler and, for the generic handlers, where the value goes and its bounds. A handler
 * checks what its value alone can tell (syntax, range, forbidden transforms); the finalize step
 * of each mapping then applies defaults and checks combinations. Every problem is reported,
 * with the position of the value concerned, and loading goes on so that one run shows them
 * all; a value that failed is left out of later combination checks so one mistake gives one
 * message. The format and every rule are documented in policies/README. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include "policy_yaml.h"
#include "group_sa.h"
#include "algs.h"
#include "auth.h"
#include "ke.h"
#include "iana.h"
#include "ikekeys.h"
#include "psk_file.h"
#include "ppk.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Bounds and defaults; policies/README documents each. */
#define LIFETIME_MIN 60u                  /* below this a rekey could not complete in time */
#define LIFETIME_MAX (30u * 86400u)
#define TEK_LIFETIME_DEFAULT 3600u
#define KEK_LIFETIME_DEFAULT 86400u
#define ATD_DEFAULT 5u
#define DTD_DEFAULT 30u
#define MARGIN_DEFAULT 20u
#define IKE_IDLE_DEFAULT 60u
#define MAX_PACKET_RATE_DEFAULT 100000u   /* packets/s: about 1.2 Gbit/s of 1500-octet packets */
#define SEQ_SPACE_USABLE_PCT 90u          /* of the 2^32 ESP/AH sequence numbers; the rest absorbs bursts */
#define REKEY_PORT_DEFAULT 848u           /* the G-IKEv2 port (RFC 9838 2.1.1) */
#define REKEY_SPORT_DEFAULT 848u          /* GSA_REKEY leaves from gcksd's socket on the G-IKEv2 port */
#define COPIES_DEFAULT 3u
/* Children per node of an LKH key tree: 2 (binary, RFC 2627 5.4) by default; a wider tree is
 * shallower (fewer keys per member) but an eviction sends d-1 more wrapped keys per level.
 * 16 keeps a million members within 5 levels. */
#define LKH_DEGREE_DEFAULT 2u
#define LKH_DEGREE_MIN 2u
#define LKH_DEGREE_MAX 16u
#define INTERVAL_MS_DEFAULT 1000u
#define TTL_DEFAULT 1u
#define FRAG_MTU_DEFAULT 1280u            /* IPv6 minimum MTU: no PMTU discovery on multicast */
#define FRAG_MTU_MIN 576u                 /* the IPv4 minimum reassembly size */
#define KEY_BITS_DEFAULT 256u
#define SENDER_ID_BITS_MAX 32u            /* leaves >= 32 counter bits of the 64-bit IV */
#define MAX_SENDER_IDS_MAX 256u
#define MAX_SAS (GK_GROUP_MAX_SAS - 1u)   /* gcksd keeps the TEKs and the Rekey SA in GK_GROUP_MAX_SAS */
#define POLICY_FILE_MAX (16u << 20)
#define KEY_FILE_MAX 65536u
#define IPPROTO_UDP_ 17u

/* ---- context, paths and messages ------------------------------------------------------ */

typedef struct ctx {
	const char *file;         /* as given, for messages */
	char dir[PATH_MAX];       /* relative psk-file / pubkey-file paths start here */
	yaml_document_t *doc;
	gk_diag *diag;
	char path[512];           /* dotted field path of the value being read */
	size_t plen;
	size_t visits, budget;    /* nodes visited; bound against alias expansion */
	bool stop;                /* budget exceeded: stop walking */
	bool nomem;
	char qbuf[4][72];         /* quoted user text for messages */
	unsigned qi;
} ctx;

static void path_set_len(ctx *c, size_t old, int n)
{
	if (n < 0 || (size_t)n >= sizeof(c->path) - old)
		c->plen = sizeof(c->path) - 1;
	else
		c->plen = old + (size_t)n;
}

/* Appends ".key" (or "key" at the top) and returns the length to restore with path_pop. */
static size_t path_key(ctx *c, const char *key)
{
	size_t old = c->plen;
	path_set_len(c, old, snprintf(c->path + old, sizeof(c->path) - old, "%s%.60s", old ? "." : "", key));
	return old;
}

static size_t path_index(ctx *c, size_t i)
{
	size_t old = c->plen;
	path_set_len(c, old, snprintf(c->path + old, sizeof(c->path) - old, "[%zu]", i));
	return old;
}

static void path_pop(ctx *c, size_t old)
{
	c->plen = old;
	c->path[old] = '\0';
}

/* User text made safe for a one-line message: printable, at most 60 characters. */
static const char *q(ctx *c, const char *s)
{
	char *b = c->qbuf[c->qi++ % ARRAY_LEN(c->qbuf)];
	size_t o = 0;
	for (; *s && o < 60; s++)
		b[o++] = isprint((unsigned char)*s) ? *s : '?';
	strcpy(b + o, *s ? "..." : "");
	return b;
}

static unsigned long line_of(const yaml_node_t *n)
{
	return n ? n->start_mark.line + 1 : 1;
}

__attribute__((format(printf, 4, 0)))
static void vreport(ctx *c, gk_diag_level lvl, const yaml_node_t *n, const char *fmt, va_list ap)
{
	char msg[1024];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	gk_diag_at(c->diag, lvl, c->file, line_of(n), n ? n->start_mark.column + 1 : 1,
		   c->plen ? c->path : "document", "%s", msg);
}

/* An error at node n, field = current path. Returns false so handlers can `return fail(...)`. */
__attribute__((format(printf, 3, 4)))
static bool fail(ctx *c, const yaml_node_t *n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(c, GK_DIAG_ERROR, n, fmt, ap);
	va_end(ap);
	return false;
}

static const char *kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_MAPPING_NODE: return "a mapping";
	case YAML_SEQUENCE_NODE: return "a list";
	default: return "a single value";
	}
}

/* Node by id, counting visits: a document whose aliases make the walk much longer than the
 * document itself is refused (billion laughs). */
static const yaml_node_t *node(ctx *c, int id)
{
	if (c->stop)
		return NULL;
	const yaml_node_t *n = yaml_document_get_node(c->doc, id);
	if (n && ++c->visits > c->budget) {
		fail(c, n, "too many values after expanding YAML aliases (more than %zu)", c->budget);
		c->stop = true;
		return NULL;
	}
	return n;
}

/* Text of a scalar value, or NULL after reporting why there is none. */
static const char *scalar(ctx *c, const yaml_node_t *n, const char *what)
{
	if (n->type != YAML_SCALAR_NODE) {
		fail(c, n, "expected %s, got %s", what, kind(n));
		return NULL;
	}
	const char *s = (const char *)n->data.scalar.value;
	if (strlen(s) != n->data.scalar.length) {
		fail(c, n, "value contains a NUL character");
		return NULL;
	}
	if (!*s && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
		fail(c, n, "missing value (expected %s)", what);
		return NULL;
	}
	return s;
}

/* ---- fields and mappings ---------------------------------------------------------------- */

typedef struct word { const char *name; unsigned value; } word;

struct field;
typedef bool (*field_fn)(ctx *c, const yaml_node_t *v, void *obj, const struct field *f);

typedef struct field {
	const char *key;
	field_fn fn;
	size_t off, size;         /* where generic handlers store the value in obj */
	uint64_t min, max;        /* bounds of generic handlers */
	const word *words;        /* keyword handler: accepted words, NULL-terminated */
	const char *hint;         /* appended to the keyword handler's message */
	bool required;
} field;

#define AT(type, member) .off = offsetof(type, member), .size = sizeof(((type *)0)->member)
#define MAXF 20

/* Which fields a mapping had, where, and whether their value was valid. */
typedef struct seen {
	const yaml_node_t *key[MAXF], *val[MAXF];
	bool ok[MAXF];
} seen;

static bool given(const seen *s, int f)
{
	return s->val[f] != NULL;
}

/* Absent (default applies) or valid: safe to use in combination checks. */
static bool usable(const seen *s, int f)
{
	return !s->val[f] || s->ok[f];
}

__attribute__((format(printf, 9, 0)))
static bool vfail_field(ctx *c, const char *list, size_t idx, const seen *s, const field *tab,
			int f, const yaml_node_t *fallback, gk_diag_level lvl, const char *fmt, va_list ap)
{
	size_t old = c->plen;
	if (list) {
		path_key(c, list);
		path_index(c, idx);
	}
	if (f >= 0)
		path_key(c, tab[f].key);
	vreport(c, lvl, f >= 0 && s->val[f] ? s->val[f] : fallback, fmt, ap);
	path_pop(c, old);
	return false;
}

/* An error about field f of the mapping at fallback (the current path): at f's value when
 * given, else at the mapping, field path extended by f's key. */
__attribute__((format(printf, 6, 7)))
static bool fail_f(ctx *c, const seen *s, const field *tab, int f, const yaml_node_t *fallback,
		   const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail_field(c, NULL, 0, s, tab, f, fallback, GK_DIAG_ERROR, fmt, ap);
	va_end(ap);
	return false;
}

/* A warning about field f, placed as fail_f places errors. */
__attribute__((format(printf, 6, 7)))
static void warn_f(ctx *c, const seen *s, const field *tab, int f, const yaml_node_t *fallback,
		   const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail_field(c, NULL, 0, s, tab, f, fallback, GK_DIAG_WARNING, fmt, ap);
	va_end(ap);
}

/* The same for item idx of list `list` under the current path (f < 0: the item itself). */
__attribute__((format(printf, 8, 9)))
static bool fail_item(ctx *c, const char *list, size_t idx, const seen *s, const field *tab,
		      int f, const yaml_node_t *fallback, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail_field(c, list, idx, s, tab, f, fallback, GK_DIAG_ERROR, fmt, ap);
	va_end(ap);
	return false;
}

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[33];
	if (la > 32 || lb > 32)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t sub = diag + (tolower((unsigned char)a[i - 1]) != b[j - 1]);
			size_t best = up + 1 < row[j - 1] + 1 ? up + 1 : row[j - 1] + 1;
			row[j] = sub < best ? sub : best;
			diag = up;
		}
	}
	return row[lb];
}

static void unknown_key(ctx *c, const yaml_node_t *k, const char *key, const field *tab, size_t nf)
{
	size_t best = SIZE_MAX, bi = 0;
	for (size_t i = 0; i < nf; i++) {
		size_t d = edit_distance(key, tab[i].key);
		if (d < best)
			best = d, bi = i;
	}
	if (best <= 2) {
		fail(c, k, "unknown key (did you mean '%s'?)", tab[bi].key);
		return;
	}
	char list[512];
	size_t o = 0;
	for (size_t i = 0; i < nf && o < sizeof(list); i++)
		o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", i ? ", " : "", tab[i].key);
	fail(c, k, "unknown key (expected one of: %s)", list);
}

static int find_field(const field *tab, size_t nf, const char *key)
{
	for (size_t i = 0; i < nf; i++)
		if (strcmp(tab[i].key, key) == 0)
			return (int)i;
	return -1;
}

/* Reads mapping `map` through table tab into obj, recording what was seen in s. False when map
 * is not a mapping (nothing read). Missing required fields are reported here. */
static bool walk_map(ctx *c, const yaml_node_t *map, const field *tab, size_t nf, void *obj, seen *s)
{
	memset(s, 0, sizeof(*s));
	if (map->type != YAML_MAPPING_NODE)
		return fail(c, map, "expected a mapping (key: value lines), got %s", kind(map));
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		const yaml_node_t *k = node(c, p->key), *v = node(c, p->value);
		if (!k || !v)
			return true;
		if (k->type != YAML_SCALAR_NODE) {
			fail(c, k, "a key must be a plain word, not %s", kind(k));
			continue;
		}
		const char *key = (const char *)k->data.scalar.value;
		if (strlen(key) != k->data.scalar.length) {
			fail(c, k, "key contains a NUL character");
			continue;
		}
		int i = find_field(tab, nf, key);
		size_t old = path_key(c, q(c, key));
		if (i < 0)
			unknown_key(c, k, key, tab, nf);
		else if (s->val[i])
			fail(c, k, "duplicate key (first at line %lu)", line_of(s->key[i]));
		else {
			s->key[i] = k;
			s->val[i] = v;
			s->ok[i] = tab[i].fn(c, v, obj, &tab[i]);
		}
		path_pop(c, old);
		if (c->stop)
			return true;
	}
	for (size_t i = 0; i < nf; i++)
		if (tab[i].required && !s->val[i])
			fail_f(c, s, tab, (int)i, map, "missing required field");
	return true;
}

/* ---- scalar syntax -------------------------------------------------------------------- */

static bool parse_u64(const char *s, uint64_t *v)
{
	uint64_t x = 0;
	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || x > (UINT64_MAX - 9) / 10)
			return false;
		x = x * 10 + (uint64_t)(*s - '0');
	}
	*v = x;
	return true;
}

/* "90", "90s", "10m", "1h", "1d", and "500ms"; in milliseconds. */
static bool parse_duration_ms(const char *s, uint64_t *ms)
{
	static const struct { const char *suffix; uint64_t ms; } units[] = {
		{ "", 1000 }, { "s", 1000 }, { "ms", 1 }, { "m", 60000 }, { "h", 3600000 },
		{ "d", 86400000 },
	};
	char digits[24];
	size_t n = strspn(s, "0123456789");
	if (n == 0 || n >= sizeof(digits))
		return false;
	memcpy(digits, s, n);
	digits[n] = '\0';
	uint64_t v;
	if (!parse_u64(digits, &v) || v > UINT32_MAX)
		return false;
	for (size_t i = 0; i < ARRAY_LEN(units); i++)
		if (strcmp(s + n, units[i].suffix) == 0) {
			*ms = v * units[i].ms;
			return true;
		}
	return false;
}

/* Shortest exact text of a duration: "0", "90s", "10m", "1h", "2d"; "1500ms" below seconds. */
static char *fmt_duration_ms(uint64_t ms, char *buf, size_t len)
{
	static const struct { uint64_t ms; const char *suffix; } units[] = {
		{ 86400000, "d" }, { 3600000, "h" }, { 60000, "m" }, { 1000, "s" }, { 1, "ms" },
	};
	if (ms == 0) {
		snprintf(buf, len, "0");
		return buf;
	}
	for (size_t i = 0; i < ARRAY_LEN(units); i++)
		if (ms % units[i].ms == 0) {
			snprintf(buf, len, "%llu%s", (unsigned long long)(ms / units[i].ms), units[i].suffix);
			break;
		}
	return buf;
}

static char *fmt_secs(uint64_t s, char *buf, size_t len)
{
	return fmt_duration_ms(s * 1000, buf, len);
}

/* Registry name lookup accepting IANA names in any case and the friendly lower-case form with
 * '-' for '_' (aes-gcm-16 = AES_GCM_16). */
static bool iana_lookup(enum gk_registry reg, const char *s, unsigned *v)
{
	char up[64];
	size_t n = strlen(s);
	if (n >= sizeof(up))
		return false;
	for (size_t i = 0; i <= n; i++)
		up[i] = s[i] == '-' ? '_' : (char)toupper((unsigned char)s[i]);
	return gk_iana_value(reg, up, v) == 0;
}

/* The friendly form of an IANA name: AES_GCM_16 -> aes-gcm-16. */
static const char *friendly(enum gk_registry reg, unsigned v, char *buf, size_t len)
{
	const char *name = gk_iana_name(reg, v);
	if (!name)
		return NULL;
	size_t i = 0;
	for (; name[i] && i + 1 < len; i++)
		buf[i] = name[i] == '_' ? '-' : (char)tolower((unsigned char)name[i]);
	buf[i] = '\0';
	return buf;
}

/* Short names admins commonly write. */
static const struct alias { enum gk_registry reg; const char *name; unsigned value; } aliases[] = {
	{ GK_REG_ENCR, "aes-gcm", GK_ENCR_AES_GCM_16 },
	{ GK_REG_ENCR, "aes-gmac", GK_ENCR_NULL_AUTH_AES_GMAC },
	{ GK_REG_INTEG, "sha1", GK_INTEG_HMAC_SHA1_96 },
	{ GK_REG_INTEG, "sha256", GK_INTEG_HMAC_SHA2_256_128 },
	{ GK_REG_INTEG, "sha384", GK_INTEG_HMAC_SHA2_384_192 },
	{ GK_REG_INTEG, "sha512", GK_INTEG_HMAC_SHA2_512_256 },
};

static bool name_lookup(enum gk_registry reg, const char *s, unsigned *v)
{
	for (size_t i = 0; i < ARRAY_LEN(aliases); i++)
		if (aliases[i].reg == reg && strcasecmp(aliases[i].name, s) == 0) {
			*v = aliases[i].value;
			return true;
		}
	return iana_lookup(reg, s, v);
}

static bool encr_usable(unsigned v)
{
	const gk_encr_info *e = gk_encr_lookup((uint16_t)v);
	return e && !e->implicit_iv;
}

static bool integ_usable(unsigned v)
{
	return v == GK_INTEG_NONE || gk_integ_lookup((uint16_t)v);
}

static bool kwa_usable(unsigned v)
{
	/* RFC 5649 AES key wrap; KW_ARX is not implemented. */
	return v == GK_KWA_KW_5649_128 || v == GK_KWA_KW_5649_192 || v == GK_KWA_KW_5649_256;
}

/* "a, b or c" of the friendly names of a registry's values that `ok` accepts. */
static const char *supported_list(enum gk_registry reg, bool (*ok)(unsigned), char *buf, size_t len)
{
	size_t o = 0, count = 0, total = 0;
	char name[64];
	for (unsigned v = 0; v < 256; v++)
		total += gk_iana_name(reg, v) && ok(v);
	buf[0] = '\0';
	for (unsigned v = 0; v < 256 && o < len; v++) {
		if (!gk_iana_name(reg, v) || !ok(v))
			continue;
		count++;
		const char *sep = count == 1 ? "" : count == total ? " or " : ", ";
		o += (size_t)snprintf(buf + o, len - o, "%s%s", sep, friendly(reg, v, name, sizeof(name)));
	}
	return buf;
}

/* ---- addresses, ports, protocols ---------------------------------------------------------- */

typedef struct addr_range {
	uint8_t family;           /* 4 or 6; 0 = any (the family of the other side) */
	uint8_t start[16], end[16];
} addr_range;

typedef struct port_range { uint16_t lo, hi; } port_range;

static bool parse_ip(const char *s, uint8_t *family, uint8_t out[16])
{
	char tmp[INET6_ADDRSTRLEN + 1];
	size_t n = strlen(s);
	if (n == 0 || n >= sizeof(tmp))
		return false;
	memcpy(tmp, s, n + 1);
	memset(out, 0, 16);
	if (inet_pton(AF_INET, tmp, out) == 1) {
		*family = 4;
		return true;
	}
	if (inet_pton(AF_INET6, tmp, out) == 1) {
		*family = 6;
		return true;
	}
	return false;
}

static bool fail_addr(ctx *c, const yaml_node_t *n, const char *a)
{
	return fail(c, n, "'%s' is not an IPv4 or IPv6 address", q(c, a));
}

static bool parse_cidr(ctx *c, const yaml_node_t *n, const char *s, const char *slash, addr_range *r)
{
	char a[64];
	uint64_t plen;
	size_t alen = (size_t)(slash - s);
	if (alen >= sizeof(a))
		return fail_addr(c, n, s);
	memcpy(a, s, alen);
	a[alen] = '\0';
	if (!parse_ip(a, &r->family, r->start))
		return fail_addr(c, n, a);
	size_t bits = gk_ts_addr_len(r->family) * 8;
	if (!parse_u64(slash + 1, &plen) || plen > bits)
		return fail(c, n, "prefix length must be 0 to %zu, got '%s'", bits, q(c, slash + 1));
	memcpy(r->end, r->start, 16);
	bool host_bits = false;
	for (size_t i = 0; i < bits; i++) {
		if (i < plen)
			continue;
		uint8_t m = (uint8_t)(0x80u >> (i % 8));
		host_bits |= (r->start[i / 8] & m) != 0;
		r->start[i / 8] &= (uint8_t)~m;
		r->end[i / 8] |= m;
	}
	if (host_bits) {
		char net[INET6_ADDRSTRLEN];
		inet_ntop(r->family == 6 ? AF_INET6 : AF_INET, r->start, net, sizeof(net));
		return fail(c, n, "'%s' has host bits set (did you mean %s/%u?)", q(c, s), net, (unsigned)plen);
	}
	return true;
}

static bool parse_span(ctx *c, const yaml_node_t *n, const char *dash, const char *s, addr_range *r)
{
	char a[64];
	uint8_t fam2;
	size_t alen = (size_t)(dash - s);
	if (alen >= sizeof(a))
		return fail_addr(c, n, s);
	memcpy(a, s, alen);
	a[alen] = '\0';
	if (!parse_ip(a, &r->family, r->start))
		return fail_addr(c, n, a);
	if (!parse_ip(dash + 1, &fam2, r->end))
		return fail_addr(c, n, dash + 1);
	if (fam2 != r->family)
		return fail(c, n, "range start and end are of different address families (IPv%u, IPv%u)",
			    r->family, fam2);
	if (memcmp(r->start, r->end, gk_ts_addr_len(r->family)) > 0)
		return fail(c, n, "range start %s is after its end", q(c, a));
	return true;
}

/* "any", an address, a CIDR block "a/n" or a range "a-b". */
static bool parse_range(ctx *c, const yaml_node_t *n, const char *s, addr_range *r)
{
	memset(r, 0, sizeof(*r));
	if (strcasecmp(s, "any") == 0)
		return true;
	const char *slash = strchr(s, '/'), *dash = strchr(s, '-');
	if (slash)
		return parse_cidr(c, n, s, slash, r);
	if (dash)
		return parse_span(c, n, dash, s, r);
	if (!parse_ip(s, &r->family, r->start))
		return fail_addr(c, n, s);
	memcpy(r->end, r->start, 16);
	return true;
}

static bool parse_port(const char *s, uint16_t *p)
{
	uint64_t v;
	if (!parse_u64(s, &v) || v > 65535)
		return false;
	*p = (uint16_t)v;
	return true;
}

static bool parse_ports(ctx *c, const yaml_node_t *n, const char *s, port_range *p)
{
	char a[16];
	if (strcasecmp(s, "any") == 0) {
		*p = (port_range){ 0, 65535 };
		return true;
	}
	const char *dash = strchr(s, '-');
	size_t alen = dash ? (size_t)(dash - s) : strlen(s);
	if (alen >= sizeof(a) || (memcpy(a, s, alen), a[alen] = '\0', !parse_port(a, &p->lo)) ||
	    !parse_port(dash ? dash + 1 : a, &p->hi))
		return fail(c, n, "expected a port 0-65535, a range N-M or any, got '%s'", q(c, s));
	if (p->lo > p->hi)
		return fail(c, n, "port range %s is reversed (start after end)", q(c, s));
	return true;
}

static const word ip_protocols[] = {
	{ "any", 0 }, { "icmp", 1 }, { "tcp", 6 }, { "udp", 17 }, { "ipv6-icmp", 58 },
	{ "icmpv6", 58 }, { "sctp", 132 }, { NULL, 0 },
};

static const char *ipproto_name(uint8_t v, char *buf, size_t len)
{
	for (const word *w = ip_protocols; w->name; w++)
		if (w->value == v)
			return w->name;
	snprintf(buf, len, "%u", v);
	return buf;
}

static bool is_multicast(const addr_range *r)
{
	return r->family == 4 ? (r->start[0] & 0xf0) == 0xe0 : r->start[0] == 0xff;
}

/* ---- generic handlers ----------------------------------------------------------------- */

static void put_uint(void *obj, const field *f, uint64_t v)
{
	uint8_t *p = (uint8_t *)obj + f->off;
	uint8_t u8 = (uint8_t)v;
	uint16_t u16 = (uint16_t)v;
	uint32_t u32 = (uint32_t)v;
	switch (f->size) {
	case 1: memcpy(p, &u8, 1); break;
	case 2: memcpy(p, &u16, 2); break;
	case 4: memcpy(p, &u32, 4); break;
	default: memcpy(p, &v, sizeof(v)); break;
	}
}

static bool h_uint(ctx *c, const yaml_node_t *n, void *obj, const field *f)
{
	const char *s = scalar(c, n, "a whole number");
	uint64_t v;
	if (!s)
		return false;
	if (!parse_u64(s, &v))
		return fail(c, n, "expected a whole number, got '%s'", q(c, s));
	if (v < f->min || v > f->max)
		return fail(c, n, "must be between %llu and %llu, got %s", (unsigned long long)f->min,
			    (unsigned long long)f->max, q(c, s));
	put_uint(obj, f, v);
	return true;
}

/* Percent: a whole number with an optional '%'. */
static bool h_percent(ctx *c, const yaml_node_t *n, void *obj, const field *f)
{
	const char *s = scalar(c, n, "a percentage");
	char tmp[24];
	uint64_t v;
	if (!s)
		return false;
	size_t len = strlen(s);
	if (len && s[len - 1] == '%')
		len--;
	if (len >= sizeof(tmp) || (memcpy(tmp, s, len), tmp[len] = '\0', !parse_u64(tmp, &v)))
		return fail(c, n, "expected a percentage such as 20, got '%s'", q(c, s));
	if (v < f->min || v > f->max)
		return fail(c, n, "must be between %llu%% and %llu%%, got %s", (unsigned long long)f->min,
			    (unsigned long long)f->max, q(c, s));
	put_uint(obj, f, v);
	return true;
}

/* A duration; f->min/max are in milliseconds. Stored in milliseconds when ms_unit, else in
 * whole seconds. */
static bool duration(ctx *c, const yaml_node_t *n, void *obj, const field *f, bool ms_unit)
{
	const char *s = scalar(c, n, "a duration");
	uint64_t ms;
	char a[24], b[24];
	if (!s)
		return false;
	if (!parse_duration_ms(s, &ms))
		return fail(c, n, "expected a duration such as 90, 90s, 10m, 1h or 1d, got '%s'", q(c, s));
	if (!ms_unit && ms % 1000)
		return fail(c, n, "must be whole seconds, got %s", q(c, s));
	if (ms < f->min || ms > f->max)
		return fail(c, n, "must be between %s and %s, got %s", fmt_duration_ms(f->min, a, sizeof(a)),
			    fmt_duration_ms(f->max, b, sizeof(b)), q(c, s));
	put_uint(obj, f, ms_unit ? ms : ms / 1000);
	return true;
}

static bool h_secs(ctx *c, const yaml_node_t *n, void *obj, const field *f)
{
	return duration(c, n, obj, f, false);
}

static bool h_msecs(ctx *c, const yaml_node_t *n, void *obj, const field *f)
{
	return duration(c, n, obj, f, true);
}

static bool h_word(ctx *c, const yaml_node_t *n, void *obj, const field *f)
{
	const char *s = scalar(c, n, "a word");
	char list[256];
	size_t o = 0, total = 0;
	if (!s)
		return false;
	for (const word *w = f->words; w->name; w++) {
		if (strcasecmp(w->name, s) == 0) {
			put_uint(obj, f, w->value);
			return true;
		}
		total++;
	}
	for (size_t i = 0; i < total; i++)
		o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", i == 0 ? "" : i + 1 == total ? " or " : ", ",
				      f->words[i].name);
	return fail(c, n, "expected %s, got '%s'%s%s", list, q(c, s), f->hint ? "; " : "", f->hint ? f->hint : "");
}

static bool h_name_of(ctx *c, const yaml_node_t *n, void *obj, const field *f, enum gk_registry reg,
		      const char *what, bool (*ok)(unsigned))
{
	const char *s = scalar(c, n, what);
	char list[512];
	unsigned v;
	if (!s)
		return false;
	if (!name_lookup(reg, s, &v))
		return fail(c, n, "unknown %s '%s' (supported: %s)", what, q(c, s),
			    supported_list(reg, ok, list, sizeof(list)));
	const gk_encr_info *e = reg == GK_REG_ENCR ? gk_encr_lookup((uint16_t)v) : NULL;
	if (e && e->implicit_iv)
		return fail(c, n, "%s uses an implicit IV, which RFC 9838 2.7 forbids for group SAs",
			    gk_iana_str(reg, v));
	if (!ok(v))
		return fail(c, n, "%s is not supported (supported: %s)", gk_iana_str(reg, v),
			    supported_list(reg, ok, list, sizeof(list)));
	put_uint(obj, f, v);
	return true;
}

static bool h_encr(ctx *c, const yaml_node_t *n, void *obj, const field *f)
{
	return h_name_of(c, n, obj, f, GK_REG_ENCR, "encryption transform", encr_usable);
}

static bool h_integ(ctx *c, const yaml_node_t *n, void *obj, const field *f)
{
	return h_name_of(c, n, obj, f, GK_REG_INTEG, "integrity transform", integ_usable);
}

static bool h_kwa(ctx *c, const yaml_node_t *n, void *obj, const field *f)
{
	return h_name_of(c, n, obj, f, GK_REG_KWA, "key wrap algorithm", kwa_usable);
}

static const word sn_words[] = {
	{ "sequential-32", GK_SN_SEQ32 }, { "unspecified-32", GK_SN_UNSPEC32 }, { "esn", GK_SN_ESN },
	{ "seq32", GK_SN_SEQ32 }, { "unspec32", GK_SN_UNSPEC32 }, { NULL, 0 },
};

static bool h_sn(ctx *c, const yaml_node_t *n, void *obj, const field *f)
{
	const char *s = scalar(c, n, "sequential-32 or unspecified-32");
	if (!s)
		return false;
	for (const word *w = sn_words; w->name; w++) {
		if (strcasecmp(w->name, s) != 0)
			continue;
		if (w->value == GK_SN_ESN)
			return fail(c, n, "esn must not be used for group SAs, which are multicast "
				    "(RFC 9838 4.4.2.1.3); use sequential-32 or unspecified-32");
		put_uint(obj, f, w->value);
		return true;
	}
	return fail(c, n, "expected sequential-32 or unspecified-32, got '%s'", q(c, s));
}

static bool h_sig(ctx *c, const yaml_node_t *n, void *obj, const field *f)
{
	const char *s = scalar(c, n, "a signature algorithm");
	char list[256];
	size_t o = 0;
	if (!s)
		return false;
	for (int i = GK_SIG_NONE + 1; i < GK_SIG_COUNT; i++) {
		const char *name = gk_sig_scheme_name((gk_sig_scheme)i);
		if (strcasecmp(name, s) != 0)
			continue;
		if (i == GK_SIG_RSA_PKCS1_SHA256)
			return fail(c, n, "%s is accepted from peers only; gikev2 does not sign with it", name);
		put_uint(obj, f, (uint64_t)i);
		return true;
	}
	for (int i = GK_SIG_NONE + 1; i < GK_SIG_COUNT; i++)
		if (i != GK_SIG_RSA_PKCS1_SHA256)
			o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", o ? ", " : "",
					      gk_sig_scheme_name((gk_sig_scheme)i));
	return fail(c, n, "unknown signature algorithm '%s' (supported: %s)", q(c, s), list);
}

static bool h_range(ctx *c, const yaml_node_t *n, void *obj, const field *f)
{
	const char *s = scalar(c, n, "an address, CIDR block, range or any");
	addr_range r;
	if (!s || !parse_range(c, n, s, &r))
		return false;
	memcpy((uint8_t *)obj + f->off, &r, sizeof(r));
	return true;
}

static bool h_ports(ctx *c, const yaml_node_t *n, void *obj, const field *f)
{
	const char *s = scalar(c, n, "a port, range or any");
	port_range p;
	if (!s || !parse_ports(c, n, s, &p))
		return false;
	memcpy((uint8_t *)obj + f->off, &p, sizeof(p));
	return true;
}

static bool h_ipproto(ctx *c, const yaml_node_t *n, void *obj, const field *f)
{
	const char *s = scalar(c, n, "an IP protocol");
	uint64_t v;
	if (!s)
		return false;
	for (const word *w = ip_protocols; w->name; w++)
		if (strcasecmp(w->name, s) == 0) {
			put_uint(obj, f, w->value);
			return true;
		}
	if (!parse_u64(s, &v) || v > 255)
		return fail(c, n, "expected any, udp, tcp, sctp, icmp, icmpv6 or a number 0-255, got '%s'", q(c, s));
	put_uint(obj, f, v);
	return true;
}

static bool h_ident(ctx *c, const yaml_node_t *n, void *obj, const field *f)
{
	const char *s = scalar(c, n, "an identity such as keyid:name or fqdn:host.example");
	char why[GK_ERR_MAX] = "";
	gk_ident id;
	if (!s)
		return false;
	if (gk_ident_parse(s, &id, why, sizeof(why)) != GK_OK)
		return fail(c, n, "invalid identity '%s': %s", q(c, s), why);
	memcpy((uint8_t *)obj + f->off, &id, sizeof(id));
	return true;
}

/* Short text of letters, digits and "-_." (SA names, interface names). */
static bool h_text(ctx *c, const yaml_node_t *n, void *obj, const field *f)
{
	const char *s = scalar(c, n, "a name");
	if (!s)
		return false;
	size_t len = strlen(s);
	bool ok = len > 0 && len < f->size;
	for (size_t i = 0; ok && i < len; i++)
		ok = isalnum((unsigned char)s[i]) || strchr("-_.", s[i]);
	if (!ok)
		return fail(c, n, "must be 1 to %zu letters, digits, '-', '_' or '.', got '%s'", f->size - 1, q(c, s));
	memset((uint8_t *)obj + f->off, 0, f->size);
	memcpy((uint8_t *)obj + f->off, s, len);
	return true;
}

/* ---- staging structures ------------------------------------------------------------------ */

enum { SA_NAME, SA_PROTOCOL, SA_ENCR, SA_KEYLEN, SA_INTEG, SA_SN, SA_SRC, SA_DST, SA_IPPROTO,
       SA_PORTS, SA_SRCPORTS, SA_LIFETIME, SA_NF };
enum { M_ID, M_AUTH, M_PSK, M_PSKFILE, M_PUBKEY, M_PUBKEYFILE, M_ROLE, M_MAXSID, M_PPK, M_PPKFILE, M_PPKID,
       M_NF };
enum { R_TRANSPORT, R_ENCR, R_KEYLEN, R_INTEG, R_KWA, R_AUTH, R_SIG, R_ADDRESS, R_PORT, R_SRC,
       R_SRCPORT, R_LIFETIME, R_TTL, R_IFACE, R_COPIES, R_INTERVAL, R_FRAGMTU, R_KEYMGMT, R_DEGREE, R_NF };
enum { G_ID, G_CAPACITY, G_MODE, G_ATD, G_DTD, G_SIDBITS, G_MARGIN, G_IDLE, G_MAXRATE, G_REKEY,
       G_SAS, G_MEMBERS, G_PPK, G_ADDKE, G_NF };

typedef struct sa_stage {
	gk_tek_policy t;
	addr_range src, dst;
	port_range dports, sports;
	const yaml_node_t *node;
	seen s;
	bool walked;
} sa_stage;

typedef struct member_stage {
	gk_member_policy m;       /* owns psk / pubkey until moved into the group */
	gk_ident id;              /* m.id once moved into the group */
	const yaml_node_t *node;
	seen s;
	bool walked;
} member_stage;

typedef struct group_stage {
	gk_group_policy g;        /* teks / members are built from the stages at the end */
	const yaml_node_t *node;
	seen s, rs;               /* group fields, rekey fields */
	addr_range kek_src, kek_addr;
	bool kek_src_gcks;        /* source: gcks (the default) */
	uint16_t kek_port;
	port_range kek_sports;
	sa_stage *sas;
	size_t nsas;
	member_stage *mems;
	size_t nmems;
} group_stage;

/* ---- members: keys from files and text --------------------------------------------------- */

static void resolve(ctx *c, const char *p, char *out, size_t len)
{
	if (p[0] == '/')
		snprintf(out, len, "%s", p);
	else
		snprintf(out, len, "%s/%s", c->dir, p);
}

/* Reads a small regular file (never a FIFO or device that could block). On failure returns a
 * reason (strerror text or ours) and leaves *buf NULL. */
static const char *read_file(const char *path, size_t max, char **buf, size_t *len, struct stat *st)
{
	*buf = NULL;
	*len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return strerror(errno);
	const char *why = NULL;
	if (fstat(fd, st) != 0)
		why = strerror(errno);
	else if (!S_ISREG(st->st_mode))
		why = "not a regular file";
	else if ((uint64_t)st->st_size > max)
		why = "file too large";
	else if (!(*buf = malloc((size_t)st->st_size + 1)))
		why = "out of memory";
	while (!why) {
		ssize_t r = read(fd, *buf + *len, (size_t)st->st_size - *len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			why = strerror(errno);
		else if (r == 0 || (*len += (size_t)r) == (size_t)st->st_size)
			break;
	}
	close(fd);
	if (why) {
		free(*buf);
		*buf = NULL;
		return why;
	}
	(*buf)[*len] = '\0';
	return NULL;
}

static void free_secret(char *p, size_t len)
{
	if (p)
		OPENSSL_cleanse(p, len);
	free(p);
}

/* The first PSK given for member m is its key (psk and psk-file both given: reported by the
 * member checks). */
static void psk_keep(gk_member_policy *m, uint8_t *p, size_t len)
{
	if (m->psk) {
		gk_psk_free(p, len);
		return;
	}
	m->psk = p;
	m->psk_len = len;
}

/* A PSK written as "0x" + hex digits, or as text (its octets), by the rule gmd uses too
 * (common/crypto/psk_file.h). */
static bool psk_decode(ctx *c, const yaml_node_t *n, const char *s, size_t len, gk_member_policy *m)
{
	char why[256];
	uint8_t *p = NULL;
	size_t plen = 0;
	gk_status st = gk_psk_decode(s, len, &p, &plen, why, sizeof(why));
	if (st == GK_E_NOMEM)
		c->nomem = true;
	if (st)
		return st == GK_E_NOMEM ? false : fail(c, n, "%s", why);
	psk_keep(m, p, plen);
	return true;
}

static bool h_psk(ctx *c, const yaml_node_t *n, void *obj, const field *f)
{
	(void)f;
	const char *s = scalar(c, n, "a pre-shared key (text or 0x-hex)");
	return s && psk_decode(c, n, s, strlen(s), &((member_stage *)obj)->m);
}

static bool h_psk_file(ctx *c, const yaml_node_t *n, void *obj, const field *f)
{
	(void)f;
	const char *s = scalar(c, n, "a file name");
	char path[PATH_MAX + 1], why[PATH_MAX + 300];
	uint8_t *p = NULL;
	size_t plen = 0;
	gk_member_policy *m = &((member_stage *)obj)->m;
	if (!s)
		return false;
	resolve(c, s, path, sizeof(path));
	/* the rule gmd --psk-file follows too: white space around the key, size, mode 0600 */
	gk_status st = gk_psk_file_read(path, &p, &plen, why, sizeof(why));
	if (st == GK_E_NOMEM)
		c->nomem = true;
	if (st)
		return st == GK_E_NOMEM ? false : fail(c, n, "%s", why);
	psk_keep(m, p, plen);
	return true;
}

/* A post-quantum preshared key (RFC 8784): read and decoded by the rule of PSKs (sizes, file
 * mode), as gmd --ppk-file reads it. The first one given is kept. */
static bool ppk_keep(ctx *c, const yaml_node_t *n, gk_status st, const char *why, uint8_t *p, size_t len,
		     gk_member_policy *m)
{
	if (st == GK_E_NOMEM)
		c->nomem = true;
	if (st)
		return st == GK_E_NOMEM ? false : fail(c, n, "%s", why);
	if (m->ppk) {
		gk_psk_free(p, len);
		return true;
	}
	m->ppk = p;
	m->ppk_len = len;
	return true;
}

static bool h_ppk(ctx *c, const yaml_node_t *n, void *obj, const field *f)
{
	(void)f;
	const char *s = scalar(c, n, "a post-quantum preshared key (text or 0x-hex)");
	char why[256];
	uint8_t *p = NULL;
	size_t plen = 0;
	if (!s)
		return false;
	gk_status st = gk_psk_decode(s, strlen(s), &p, &plen, why, sizeof(why));
	return ppk_keep(c, n, st, why, p, plen, &((member_stage *)obj)->m);
}

static bool h_ppk_file(ctx *c, const yaml_node_t *n, void *obj, const field *f)
{
	(void)f;
	const char *s = scalar(c, n, "a file name");
	char path[PATH_MAX + 1], why[PATH_MAX + 300];
	uint8_t *p = NULL;
	size_t plen = 0;
	if (!s)
		return false;
	resolve(c, s, path, sizeof(path));
	gk_status st = gk_psk_file_read(path, &p, &plen, why, sizeof(why));
	return ppk_keep(c, n, st, why, p, plen, &((member_stage *)obj)->m);
}

/* PPK_ID: the octets of the text (RFC 8784 5.1 PPK_ID_FIXED), 1 to GK_PPK_ID_MAX. */
static bool h_ppk_id(ctx *c, const yaml_node_t *n, void *obj, const field *f)
{
	(void)f;
	gk_member_policy *m = &((member_stage *)obj)->m;
	const char *s = scalar(c, n, "a PPK identity (text)");
	size_t len = s ? strlen(s) : 0;
	if (!s)
		return false;
	if (len == 0 || len > GK_PPK_ID_MAX)
		return fail(c, n, "a PPK identity has 1 to %u octets, this one %zu", GK_PPK_ID_MAX, len);
	free(m->ppk_id);
	if (!(m->ppk_id = (uint8_t *)strdup(s))) {
		c->nomem = true;
		return false;
	}
	m->ppk_id_len = len;
	return true;
}

static bool pubkey_decode(ctx *c, const yaml_node_t *n, const char *what, const char *pem, size_t len,
			  gk_member_policy *m)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	EVP_PKEY *key = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
	EVP_PKEY *check = NULL;
	gk_sig_scheme scheme;
	gk_wbuf w;
	bool ok = false;
	gk_wbuf_init(&w, 0);
	if (!key)
		fail(c, n, "%s holds no PEM public key (-----BEGIN PUBLIC KEY-----)", what);
	else if (gk_pubkey_to_spki(key, &w) != GK_OK || w.err)
		fail(c, n, "%s: cannot encode the public key", what);
	else if (gk_pubkey_from_spki(gk_wbuf_chunk(&w), &check) != GK_OK ||
		 gk_sig_scheme_for_key(check, &scheme) != GK_OK) /* members sign their AUTH */
		fail(c, n, "%s: unsupported public key type (RSA, EC P-256/384/521, Ed25519 or Ed448)", what);
	else
		ok = true;
	if (ok && !m->pubkey) {
		m->pubkey = malloc(w.len);
		if (m->pubkey) {
			memcpy(m->pubkey, w.data, w.len);
			m->pubkey_len = w.len;
		} else {
			c->nomem = true;
			ok = false;
		}
	}
	ERR_clear_error();
	EVP_PKEY_free(check);
	EVP_PKEY_free(key);
	BIO_free(bio);
	gk_wbuf_free(&w);
	return ok;
}

static bool h_pubkey(ctx *c, const yaml_node_t *n, void *obj, const field *f)
{
	(void)f;
	const char *s = scalar(c, n, "a PEM public key");
	return s && pubkey_decode(c, n, "pubkey", s, strlen(s), &((member_stage *)obj)->m);
}

static bool h_pubkey_file(ctx *c, const yaml_node_t *n, void *obj, const field *f)
{
	(void)f;
	const char *s = scalar(c, n, "a file name");
	char path[PATH_MAX + 1], what[128], *buf;
	size_t len;
	struct stat st;
	if (!s)
		return false;
	resolve(c, s, path, sizeof(path));
	const char *why = read_file(path, KEY_FILE_MAX, &buf, &len, &st);
	if (why)
		return fail(c, n, "cannot read pubkey-file %s: %s", q(c, s), why);
	snprintf(what, sizeof(what), "pubkey-file %s", q(c, s));
	bool ok = pubkey_decode(c, n, what, buf, len, &((member_stage *)obj)->m);
	free(buf);
	return ok;
}

/* ---- tables --------------------------------------------------------------------------- */

static const word esp_ah[] = { { "esp", GK_PROTO_ESP }, { "ah", GK_PROTO_AH }, { NULL, 0 } };
static const word auth_words[] = {
	{ "psk", GK_MAUTH_PSK }, { "certificate", GK_MAUTH_CERT }, { "pubkey", GK_MAUTH_PUBKEY }, { NULL, 0 },
};
static const word role_words[] = { { "receiver", GK_ROLE_RECEIVER }, { "sender", GK_ROLE_SENDER }, { NULL, 0 } };
static const word mode_words[] = { { "tunnel", 0 }, { "transport", 1 }, { NULL, 0 } };
static const word transport_words[] = {
	{ "multicast", GK_REKEY_MULTICAST }, { "inband", GK_REKEY_INBAND }, { NULL, 0 },
};
static const word ppk_words[] = {
	{ "none", GK_PPK_NONE }, { "optional", GK_PPK_OPTIONAL }, { "required", GK_PPK_REQUIRED }, { NULL, 0 },
};
static const word keymgmt_words[] = { { "simple", GK_KEYMGMT_SIMPLE }, { "lkh", GK_KEYMGMT_LKH }, { NULL, 0 } };
static const word gcauth_words[] = {
	{ "signature", GK_GCAUTH_DIGITAL_SIGNATURE }, { "implicit", GK_GCAUTH_IMPLICIT }, { NULL, 0 },
};

#define SEC(x) ((uint64_t)(x) * 1000u)

static bool h_rekey_src(ctx *c, const yaml_node_t *n, void *obj, const field *f);

static const field sa_fields[SA_NF] = {
	[SA_NAME] = { .key = "name", .fn = h_text, AT(sa_stage, t.name), .required = true },
	[SA_PROTOCOL] = { .key = "protocol", .fn = h_word, AT(sa_stage, t.proto), .words = esp_ah,
			  .hint = "the protocol of the traffic goes in ip-protocol" },
	[SA_ENCR] = { .key = "encryption", .fn = h_encr, AT(sa_stage, t.encr) },
	[SA_KEYLEN] = { .key = "key-length", .fn = h_uint, AT(sa_stage, t.encr_key_bits), .min = 1, .max = 65535 },
	[SA_INTEG] = { .key = "integrity", .fn = h_integ, AT(sa_stage, t.integ) },
	[SA_SN] = { .key = "sequence-numbers", .fn = h_sn, AT(sa_stage, t.sn) },
	[SA_SRC] = { .key = "source", .fn = h_range, AT(sa_stage, src) },
	[SA_DST] = { .key = "destination", .fn = h_range, AT(sa_stage, dst), .required = true },
	[SA_IPPROTO] = { .key = "ip-protocol", .fn = h_ipproto, AT(sa_stage, t.dst.ip_proto) },
	[SA_PORTS] = { .key = "ports", .fn = h_ports, AT(sa_stage, dports) },
	[SA_SRCPORTS] = { .key = "source-ports", .fn = h_ports, AT(sa_stage, sports) },
	[SA_LIFETIME] = { .key = "lifetime", .fn = h_secs, AT(sa_stage, t.lifetime), .min = SEC(LIFETIME_MIN),
			  .max = SEC(LIFETIME_MAX) },
};

static const field member_fields[M_NF] = {
	[M_ID] = { .key = "id", .fn = h_ident, AT(member_stage, id), .required = true },
	[M_AUTH] = { .key = "auth", .fn = h_word, AT(member_stage, m.auth), .words = auth_words },
	[M_PSK] = { .key = "psk", .fn = h_psk },
	[M_PSKFILE] = { .key = "psk-file", .fn = h_psk_file },
	[M_PUBKEY] = { .key = "pubkey", .fn = h_pubkey },
	[M_PUBKEYFILE] = { .key = "pubkey-file", .fn = h_pubkey_file },
	[M_ROLE] = { .key = "role", .fn = h_word, AT(member_stage, m.role), .words = role_words },
	[M_MAXSID] = { .key = "max-sender-ids", .fn = h_uint, AT(member_stage, m.max_sender_ids), .min = 1,
		       .max = MAX_SENDER_IDS_MAX },
	[M_PPK] = { .key = "ppk", .fn = h_ppk },
	[M_PPKFILE] = { .key = "ppk-file", .fn = h_ppk_file },
	[M_PPKID] = { .key = "ppk-id", .fn = h_ppk_id },
};

static const field rekey_fields[R_NF] = {
	[R_TRANSPORT] = { .key = "transport", .fn = h_word, AT(group_stage, g.rekey_transport), .words = transport_words,
			  .required = true },
	[R_ENCR] = { .key = "encryption", .fn = h_encr, AT(group_stage, g.kek.encr) },
	[R_KEYLEN] = { .key = "key-length", .fn = h_uint, AT(group_stage, g.kek.encr_key_bits), .min = 1, .max = 65535 },
	[R_INTEG] = { .key = "integrity", .fn = h_integ, AT(group_stage, g.kek.integ) },
	[R_KWA] = { .key = "key-wrap", .fn = h_kwa, AT(group_stage, g.kek.kwa) },
	[R_AUTH] = { .key = "authentication", .fn = h_word, AT(group_stage, g.kek.gcauth), .words = gcauth_words },
	[R_SIG] = { .key = "signature-algorithm", .fn = h_sig, AT(group_stage, g.kek.sig_scheme) },
	[R_ADDRESS] = { .key = "address", .fn = h_range, AT(group_stage, kek_addr) },
	[R_PORT] = { .key = "port", .fn = h_uint, AT(group_stage, kek_port), .min = 1, .max = 65535 },
	[R_SRC] = { .key = "source", .fn = h_rekey_src, AT(group_stage, kek_src) },
	[R_SRCPORT] = { .key = "source-port", .fn = h_ports, AT(group_stage, kek_sports) },
	[R_LIFETIME] = { .key = "lifetime", .fn = h_secs, AT(group_stage, g.kek.lifetime), .min = SEC(LIFETIME_MIN),
			 .max = SEC(LIFETIME_MAX) },
	[R_TTL] = { .key = "ttl", .fn = h_uint, AT(group_stage, g.kek.ttl), .min = 1, .max = 255 },
	[R_IFACE] = { .key = "interface", .fn = h_text, AT(group_stage, g.kek.iface) },
	[R_COPIES] = { .key = "copies", .fn = h_uint, AT(group_stage, g.kek.copies), .min = 1, .max = 10 },
	[R_INTERVAL] = { .key = "interval", .fn = h_msecs, AT(group_stage, g.kek.interval_ms), .min = 10, .max = SEC(60) },
	[R_FRAGMTU] = { .key = "fragment-mtu", .fn = h_uint, AT(group_stage, g.kek.frag_mtu), .min = 0, .max = 65535 },
	[R_KEYMGMT] = { .key = "key-management", .fn = h_word, AT(group_stage, g.kek.key_mgmt), .words = keymgmt_words },
	[R_DEGREE] = { .key = "degree", .fn = h_uint, AT(group_stage, g.kek.lkh_degree), .min = LKH_DEGREE_MIN,
		       .max = LKH_DEGREE_MAX },
};

static bool h_rekey(ctx *c, const yaml_node_t *n, void *obj, const field *f);
static bool h_addke(ctx *c, const yaml_node_t *n, void *obj, const field *f);
static bool h_sas(ctx *c, const yaml_node_t *n, void *obj, const field *f);
static bool h_members(ctx *c, const yaml_node_t *n, void *obj, const field *f);

static const field group_fields[G_NF] = {
	[G_ID] = { .key = "id", .fn = h_ident, AT(group_stage, g.id), .required = true },
	[G_CAPACITY] = { .key = "capacity", .fn = h_uint, AT(group_stage, g.capacity), .min = 0, .max = UINT32_MAX },
	[G_MODE] = { .key = "mode", .fn = h_word, AT(group_stage, g.transport_mode), .words = mode_words },
	[G_ATD] = { .key = "activation-delay", .fn = h_secs, AT(group_stage, g.atd), .min = 0, .max = SEC(65535) },
	[G_DTD] = { .key = "deactivation-delay", .fn = h_secs, AT(group_stage, g.dtd), .min = 0, .max = SEC(65535) },
	[G_SIDBITS] = { .key = "sender-id-bits", .fn = h_uint, AT(group_stage, g.sender_id_bits), .min = 0,
			.max = SENDER_ID_BITS_MAX },
	[G_MARGIN] = { .key = "rekey-margin", .fn = h_percent, AT(group_stage, g.rekey_margin_pct), .min = 1, .max = 90 },
	[G_IDLE] = { .key = "ike-idle-timeout", .fn = h_secs, AT(group_stage, g.ike_idle_timeout), .min = SEC(10),
		     .max = SEC(86400) },
	[G_MAXRATE] = { .key = "max-packet-rate", .fn = h_uint, AT(group_stage, g.max_packet_rate), .min = 1,
			.max = UINT32_MAX },
	[G_REKEY] = { .key = "rekey", .fn = h_rekey },
	[G_SAS] = { .key = "sas", .fn = h_sas, .required = true },
	[G_MEMBERS] = { .key = "members", .fn = h_members },
	[G_PPK] = { .key = "ppk", .fn = h_word, AT(group_stage, g.ppk), .words = ppk_words },
	[G_ADDKE] = { .key = "additional-key-exchanges", .fn = h_addke },
};

/* RFC 9370: the methods of the additional key exchanges a member's IKE SA must have run, a list
 * of names (ke.h) of at most GK_ADDKE_MAX, each once. */
static bool h_addke(ctx *c, const yaml_node_t *n, void *obj, const field *f)
{
	(void)f;
	group_stage *gs = obj;
	if (n->type != YAML_SEQUENCE_NODE)
		return fail(c, n, "expected a list of key exchange methods ([p384]), got %s", kind(n));
	size_t count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	if (count > GK_ADDKE_MAX)
		return fail(c, n, "%zu additional key exchanges; RFC 9370 allows at most %d", count, GK_ADDKE_MAX);
	gs->g.naddke = 0;
	for (size_t i = 0; i < count && !c->stop; i++) {
		const yaml_node_t *x = node(c, n->data.sequence.items.start[i]);
		const char *s = x ? scalar(c, x, "a key exchange method") : NULL;
		const gk_ke_method *m = s ? gk_ke_by_name(s) : NULL;
		if (!s)
			return false;
		if (!m)
			return fail(c, x, "unknown key exchange method '%s' (x25519, x448, p256, p384, p521, modp2048, "
				    "modp3072, modp4096)", s);
		for (size_t j = 0; j < gs->g.naddke; j++)
			if (gs->g.addke[j] == m->id)
				return fail(c, x, "%s is listed twice", s);
		gs->g.addke[gs->g.naddke++] = m->id;
	}
	return true;
}

/* ---- transforms shared by Data-Security SAs and the Rekey SA ------------------------------- */

/* Key length: AES takes 128/192/256 (default 256); fixed-key ciphers take none (stored 0). */
static void finalize_key_bits(ctx *c, const seen *s, const field *tab, int fk, const yaml_node_t *map,
			      uint16_t encr, uint16_t *bits)
{
	const gk_encr_info *e = gk_encr_lookup(encr);
	if (!e)
		return;
	if (!given(s, fk)) {
		*bits = e->key_length_attr ? KEY_BITS_DEFAULT : 0;
		return;
	}
	if (e->key_length_attr) {
		if (*bits != 128 && *bits != 192 && *bits != 256)
			fail_f(c, s, tab, fk, map, "must be 128, 192 or 256 for %s", gk_iana_str(GK_REG_ENCR, encr));
		return;
	}
	if (*bits != e->default_key_bits)
		fail_f(c, s, tab, fk, map, "%s has a fixed %u-bit key: remove key-length",
		       gk_iana_str(GK_REG_ENCR, encr), e->default_key_bits);
	*bits = 0;
}

/* AEAD (or GMAC, which carries its own ICV) must have no integrity; anything else needs one
 * (RFC 9838 4.4.2.1 table). */
static void check_integ(ctx *c, const seen *s, const field *tab, int fe, int fi, const yaml_node_t *map,
			uint16_t encr, uint16_t integ)
{
	const gk_encr_info *e = gk_encr_lookup(encr);
	if (!e || !usable(s, fe) || !usable(s, fi))
		return;
	const char *name = gk_iana_str(GK_REG_ENCR, encr);
	if ((e->aead || e->icv_len) && integ != GK_INTEG_NONE)
		fail_f(c, s, tab, fi, map, "%s is a combined-mode (AEAD) transform: integrity must be none or absent", name);
	else if (!e->aead && !e->icv_len && integ == GK_INTEG_NONE)
		fail_f(c, s, tab, fi, map, "%s is not an AEAD transform: an integrity transform is required", name);
}

static void ts_fill(gk_ts_spec *t, const addr_range *r, uint8_t family, uint8_t proto, port_range p)
{
	memset(t, 0, sizeof(*t));
	t->family = family;
	if (r->family) {
		memcpy(t->start, r->start, gk_ts_addr_len(family));
		memcpy(t->end, r->end, gk_ts_addr_len(family));
	} else {
		memset(t->end, 0xff, gk_ts_addr_len(family));
	}
	t->ip_proto = proto;
	t->port_lo = p.lo;
	t->port_hi = p.hi;
}

/* ---- Data-Security SAs --------------------------------------------------------------------- */

static void sa_selectors(ctx *c, sa_stage *x)
{
	const seen *s = &x->s;
	if (!given(s, SA_DST) || !usable(s, SA_DST) || !usable(s, SA_SRC) || !usable(s, SA_IPPROTO))
		return;
	uint8_t fam = x->dst.family ? x->dst.family : x->src.family;
	if (!fam) {
		fail_f(c, s, sa_fields, SA_DST, x->node, "source and destination cannot both be any: give the destination address");
		return;
	}
	if (x->src.family && x->dst.family && x->src.family != x->dst.family) {
		fail_f(c, s, sa_fields, SA_SRC, x->node, "source is IPv%u but destination is IPv%u", x->src.family,
		       x->dst.family);
		return;
	}
	uint8_t proto = x->t.dst.ip_proto;
	if (proto == 0 && given(s, SA_PORTS) && usable(s, SA_PORTS) && (x->dports.lo || x->dports.hi != 65535))
		fail_f(c, s, sa_fields, SA_PORTS, x->node, "ports need an ip-protocol (udp, tcp, sctp, ...)");
	if (proto == 0 && given(s, SA_SRCPORTS) && usable(s, SA_SRCPORTS) && (x->sports.lo || x->sports.hi != 65535))
		fail_f(c, s, sa_fields, SA_SRCPORTS, x->node, "source-ports need an ip-protocol (udp, tcp, sctp, ...)");
	ts_fill(&x->t.src, &x->src, fam, proto, x->sports);
	ts_fill(&x->t.dst, &x->dst, fam, proto, x->dports);
}

static void sa_finalize(ctx *c, sa_stage *x)
{
	gk_tek_policy *t = &x->t;
	const seen *s = &x->s;
	if (t->proto == GK_PROTO_AH) {
		if (given(s, SA_ENCR))
			fail_f(c, s, sa_fields, SA_ENCR, x->node, "AH provides no encryption: remove encryption or use protocol esp");
		else if (given(s, SA_KEYLEN))
			fail_f(c, s, sa_fields, SA_KEYLEN, x->node, "AH has no encryption transform to give a key length to");
		t->encr = 0;
		t->encr_key_bits = 0;
		if (usable(s, SA_INTEG) && t->integ == GK_INTEG_NONE)
			fail_f(c, s, sa_fields, SA_INTEG, x->node, "AH needs an integrity transform");
	} else if (usable(s, SA_ENCR)) {
		if (!given(s, SA_ENCR))
			t->encr = GK_ENCR_AES_GCM_16;
		if (usable(s, SA_KEYLEN))
			finalize_key_bits(c, s, sa_fields, SA_KEYLEN, x->node, t->encr, &t->encr_key_bits);
		check_integ(c, s, sa_fields, SA_ENCR, SA_INTEG, x->node, t->encr, t->integ);
	}
	sa_selectors(c, x);
}

static bool h_sas(ctx *c, const yaml_node_t *n, void *obj, const field *f)
{
	(void)f;
	group_stage *gs = obj;
	if (n->type != YAML_SEQUENCE_NODE)
		return fail(c, n, "expected a list of SAs (lines starting with '- '), got %s", kind(n));
	size_t count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	if (count == 0)
		return fail(c, n, "a group needs at least one SA");
	if (count > MAX_SAS)
		return fail(c, n, "%zu SAs; a group has at most %u", count, MAX_SAS);
	gs->sas = calloc(count, sizeof(*gs->sas));
	if (!gs->sas) {
		c->nomem = true;
		return false;
	}
	gs->nsas = count;
	for (size_t i = 0; i < count && !c->stop; i++) {
		sa_stage *x = &gs->sas[i];
		x->t.proto = GK_PROTO_ESP;
		x->t.lifetime = TEK_LIFETIME_DEFAULT;
		x->dports = x->sports = (port_range){ 0, 65535 };
		x->node = node(c, n->data.sequence.items.start[i]);
		if (!x->node)
			break;
		size_t old = path_index(c, i);
		x->walked = walk_map(c, x->node, sa_fields, SA_NF, x, &x->s);
		if (x->walked)
			sa_finalize(c, x);
		path_pop(c, old);
	}
	return true;
}

/* ---- members ------------------------------------------------------------------------------ */

static void member_finalize(ctx *c, member_stage *x)
{
	gk_member_policy *m = &x->m;
	const seen *s = &x->s;
	bool psk = given(s, M_PSK) || given(s, M_PSKFILE), pub = given(s, M_PUBKEY) || given(s, M_PUBKEYFILE);
	if (given(s, M_PSK) && given(s, M_PSKFILE))
		fail_f(c, s, member_fields, M_PSKFILE, x->node, "give psk or psk-file, not both");
	if (given(s, M_PUBKEY) && given(s, M_PUBKEYFILE))
		fail_f(c, s, member_fields, M_PUBKEYFILE, x->node, "give pubkey or pubkey-file, not both");
	if (!given(s, M_AUTH))
		m->auth = psk ? GK_MAUTH_PSK : pub ? GK_MAUTH_PUBKEY : GK_MAUTH_CERT;
	if (usable(s, M_AUTH)) {
		int fpsk = given(s, M_PSK) ? M_PSK : M_PSKFILE, fpub = given(s, M_PUBKEY) ? M_PUBKEY : M_PUBKEYFILE;
		if (m->auth == GK_MAUTH_PSK && !psk)
			fail_f(c, s, member_fields, M_PSK, x->node, "auth psk needs psk or psk-file");
		if (m->auth == GK_MAUTH_PUBKEY && !pub)
			fail_f(c, s, member_fields, M_PUBKEY, x->node, "auth pubkey needs pubkey or pubkey-file");
		if (m->auth != GK_MAUTH_PSK && psk)
			fail_f(c, s, member_fields, fpsk, x->node, "only used with auth: psk");
		if (m->auth != GK_MAUTH_PUBKEY && pub)
			fail_f(c, s, member_fields, fpub, x->node, "only used with auth: pubkey");
	}
	if (given(s, M_PPK) && given(s, M_PPKFILE))
		fail_f(c, s, member_fields, M_PPKFILE, x->node, "give ppk or ppk-file, not both");
	if ((given(s, M_PPK) || given(s, M_PPKFILE)) && !given(s, M_PPKID))
		fail_f(c, s, member_fields, given(s, M_PPK) ? M_PPK : M_PPKFILE, x->node,
		       "a PPK needs its ppk-id (RFC 8784 3)");
	if (given(s, M_PPKID) && !given(s, M_PPK) && !given(s, M_PPKFILE))
		fail_f(c, s, member_fields, M_PPKID, x->node, "ppk-id needs ppk or ppk-file");
	if (!given(s, M_ROLE))
		m->role = GK_ROLE_RECEIVER;
	if (usable(s, M_ROLE) && m->role == GK_ROLE_RECEIVER && given(s, M_MAXSID))
		fail_f(c, s, member_fields, M_MAXSID, x->node, "only used with role: sender");
	if (m->role == GK_ROLE_SENDER && !given(s, M_MAXSID))
		m->max_sender_ids = 1;
	if (m->role != GK_ROLE_SENDER)
		m->max_sender_ids = 0;
}

static bool h_members(ctx *c, const yaml_node_t *n, void *obj, const field *f)
{
	(void)f;
	group_stage *gs = obj;
	if (n->type != YAML_SEQUENCE_NODE)
		return fail(c, n, "expected a list of members (lines starting with '- '), got %s", kind(n));
	size_t count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	if (count == 0)
		return true;
	gs->mems = calloc(count, sizeof(*gs->mems));
	if (!gs->mems) {
		c->nomem = true;
		return false;
	}
	gs->nmems = count;
	for (size_t i = 0; i < count && !c->stop; i++) {
		member_stage *x = &gs->mems[i];
		x->node = node(c, n->data.sequence.items.start[i]);
		if (!x->node)
			break;
		size_t old = path_index(c, i);
		x->walked = walk_map(c, x->node, member_fields, M_NF, x, &x->s);
		if (x->walked)
			member_finalize(c, x);
		path_pop(c, old);
	}
	return true;
}

/* ---- the Rekey SA ---------------------------------------------------------------------- */

static bool h_rekey(ctx *c, const yaml_node_t *n, void *obj, const field *f)
{
	(void)f;
	group_stage *gs = obj;
	return walk_map(c, n, rekey_fields, R_NF, gs, &gs->rs);
}

/* The Rekey SA's source: `gcks` (the GCKS's own address, filled in by gcksd) or an address. */
static bool h_rekey_src(ctx *c, const yaml_node_t *n, void *obj, const field *f)
{
	group_stage *gs = obj;
	if (n->type == YAML_SCALAR_NODE && strcasecmp((const char *)n->data.scalar.value, "gcks") == 0) {
		gs->kek_src_gcks = true;
		return true;
	}
	gs->kek_src_gcks = false;
	return h_range(c, n, obj, f);
}

/* RFC 9838 4.4.2: the Rekey SA's source selector SHOULD be a single address and port (MAY be
 * wildcards): a wider one loads, with a warning at the field. */
static void rekey_source(ctx *c, group_stage *gs, const yaml_node_t *map, uint8_t family)
{
	gk_kek_policy *k = &gs->g.kek;
	const seen *s = &gs->rs;
	const addr_range *r = &gs->kek_src;
	if (!usable(s, R_SRCPORT))
		return;
	if (gs->kek_src_gcks) {
		memset(&k->src, 0, sizeof(k->src));
		k->src.family = family; /* gk_kek_src_is_gcks */
		k->src.ip_proto = IPPROTO_UDP_;
		k->src.port_lo = gs->kek_sports.lo;
		k->src.port_hi = gs->kek_sports.hi;
	} else {
		ts_fill(&k->src, r, family, IPPROTO_UDP_, gs->kek_sports);
		if (!r->family || memcmp(r->start, r->end, 16) != 0)
			warn_f(c, s, rekey_fields, R_SRC, map,
			       "GSA_REKEY leaves from one address: a source selector wider than one address "
			       "lets members accept it from others (RFC 9838 4.4.2 SHOULD); the default, gcks, "
			       "is the GCKS's own address");
	}
	if (gs->kek_sports.lo != gs->kek_sports.hi)
		warn_f(c, s, rekey_fields, R_SRCPORT, map,
		       "GSA_REKEY leaves from one port: a source selector wider than one port lets members "
		       "accept it from others (RFC 9838 4.4.2 SHOULD); the default is %u", REKEY_SPORT_DEFAULT);
}

static void rekey_inband(ctx *c, group_stage *gs)
{
	for (int i = 0; i < R_NF; i++)
		if (i != R_TRANSPORT && gs->rs.key[i]) {
			size_t old = path_key(c, rekey_fields[i].key);
			if (i == R_KEYMGMT && gs->g.kek.key_mgmt == GK_KEYMGMT_LKH)
				fail(c, gs->rs.key[i], "lkh needs transport: multicast: WRAP_KEY MUST NOT be used with "
				     "GSA_INBAND_REKEY (RFC 9838 4.5.3.1)");
			else
				fail(c, gs->rs.key[i], "only used with transport: multicast");
			path_pop(c, old);
		}
	memset(&gs->g.kek, 0, sizeof(gs->g.kek));
}

static void rekey_multicast(ctx *c, group_stage *gs, const yaml_node_t *map)
{
	gk_kek_policy *k = &gs->g.kek;
	const seen *s = &gs->rs;
	k->present = true;
	if (usable(s, R_ENCR) && k->encr == GK_ENCR_NULL_AUTH_AES_GMAC)
		fail_f(c, s, rekey_fields, R_ENCR, map, "NULL_AUTH_AES_GMAC gives no confidentiality; the Rekey SA must encrypt");
	else if (usable(s, R_ENCR)) {
		if (usable(s, R_KEYLEN))
			finalize_key_bits(c, s, rekey_fields, R_KEYLEN, map, k->encr, &k->encr_key_bits);
		check_integ(c, s, rekey_fields, R_ENCR, R_INTEG, map, k->encr, k->integ);
	}
	if (usable(s, R_FRAGMTU) && k->frag_mtu && k->frag_mtu < FRAG_MTU_MIN)
		fail_f(c, s, rekey_fields, R_FRAGMTU, map, "must be 0 (never fragment) or at least %u", FRAG_MTU_MIN);
	if (!given(s, R_KWA))
		fail_f(c, s, rekey_fields, R_KWA, map, "required with transport multicast (kw-5649-128, kw-5649-192 or kw-5649-256)");
	if (given(s, R_DEGREE) && k->key_mgmt != GK_KEYMGMT_LKH && usable(s, R_KEYMGMT))
		fail_f(c, s, rekey_fields, R_DEGREE, map, "only used with key-management: lkh");
	if (k->key_mgmt != GK_KEYMGMT_LKH)
		k->lkh_degree = 0;
	if (usable(s, R_AUTH) && k->gcauth == GK_GCAUTH_IMPLICIT && given(s, R_SIG))
		fail_f(c, s, rekey_fields, R_SIG, map, "only used with authentication: signature");
	if (k->gcauth == GK_GCAUTH_IMPLICIT) {
		k->sig_scheme = GK_SIG_NONE;
		if (given(s, R_AUTH))
			warn_f(c, s, rekey_fields, R_AUTH, map,
			       "implicit: every group member holds the Rekey SA key and can forge GSA_REKEY messages "
			       "(RFC 9838 2.4.1.1); use signature unless all members are trusted alike");
	}
	if (!given(s, R_ADDRESS)) {
		fail_f(c, s, rekey_fields, R_ADDRESS, map, "required with transport multicast: the group address GSA_REKEY is sent to");
		return;
	}
	if (!s->ok[R_ADDRESS] || !usable(s, R_SRC))
		return;
	const addr_range *a = &gs->kek_addr;
	if (!a->family || memcmp(a->start, a->end, 16) != 0) {
		fail_f(c, s, rekey_fields, R_ADDRESS, map, "must be a single multicast address");
		return;
	}
	if (!is_multicast(a)) {
		char t[INET6_ADDRSTRLEN];
		inet_ntop(a->family == 6 ? AF_INET6 : AF_INET, a->start, t, sizeof(t));
		fail_f(c, s, rekey_fields, R_ADDRESS, map, "%s is not a multicast address (IPv4 224.0.0.0/4, IPv6 ff00::/8)", t);
		return;
	}
	if (gs->kek_src.family && gs->kek_src.family != a->family) {
		fail_f(c, s, rekey_fields, R_SRC, map, "source is IPv%u but address is IPv%u", gs->kek_src.family, a->family);
		return;
	}
	ts_fill(&k->dst, a, a->family, IPPROTO_UDP_, (port_range){ gs->kek_port, gs->kek_port });
	rekey_source(c, gs, map, a->family);
}

static void rekey_finalize(ctx *c, group_stage *gs)
{
	const yaml_node_t *map = gs->s.val[G_REKEY];
	if (!given(&gs->s, G_REKEY)) {
		gs->g.rekey_transport = GK_REKEY_INBAND;
		memset(&gs->g.kek, 0, sizeof(gs->g.kek));
		return;
	}
	if (!gs->s.ok[G_REKEY] || !gs->rs.ok[R_TRANSPORT])
		return;
	size_t old = path_key(c, "rekey");
	if (gs->g.rekey_transport == GK_REKEY_INBAND)
		rekey_inband(c, gs);
	else
		rekey_multicast(c, gs, map);
	path_pop(c, old);
}

/* ---- group-wide checks ------------------------------------------------------------------ */

static int ident_cmp(const gk_ident *a, const gk_ident *b)
{
	if (a->type != b->type)
		return a->type < b->type ? -1 : 1;
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	return memcmp(a->data, b->data, a->len);
}

typedef struct id_ref { const gk_ident *id; size_t idx; } id_ref;

static int id_ref_cmp(const void *pa, const void *pb)
{
	const id_ref *a = pa, *b = pb;
	int r = ident_cmp(a->id, b->id);
	return r ? r : a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* first[i] = index of the first entry with the same identity as entry i (i when it is the
 * first); entries with a NULL id are never duplicates. Sorting keeps large member lists fast. */
static bool find_dups(ctx *c, const gk_ident *const *ids, size_t n, size_t *first)
{
	id_ref *refs = calloc(n ? n : 1, sizeof(*refs));
	size_t m = 0;
	if (!refs) {
		c->nomem = true;
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		first[i] = i;
		if (ids[i])
			refs[m++] = (id_ref){ ids[i], i };
	}
	qsort(refs, m, sizeof(*refs), id_ref_cmp);
	for (size_t i = 1; i < m; i++)
		if (ident_cmp(refs[i].id, refs[i - 1].id) == 0)
			first[refs[i].idx] = first[refs[i - 1].idx];
	free(refs);
	return true;
}

static void check_member_dups(ctx *c, group_stage *gs)
{
	const gk_ident **ids = calloc(gs->nmems ? gs->nmems : 1, sizeof(*ids));
	size_t *first = calloc(gs->nmems ? gs->nmems : 1, sizeof(*first));
	char text[GK_IDENT_TEXT_MAX];
	if (!ids || !first) {
		c->nomem = true;
		goto out;
	}
	for (size_t i = 0; i < gs->nmems; i++)
		if (gs->mems[i].walked && given(&gs->mems[i].s, M_ID) && gs->mems[i].s.ok[M_ID])
			ids[i] = &gs->mems[i].id;
	if (!find_dups(c, ids, gs->nmems, first))
		goto out;
	for (size_t i = 0; i < gs->nmems; i++)
		if (first[i] != i)
			fail_item(c, "members", i, &gs->mems[i].s, member_fields, M_ID, gs->mems[i].node,
				  "duplicate member id %s (first at line %lu)", gk_ident_text(ids[i], text),
				  line_of(gs->mems[first[i]].s.val[M_ID]));
out:
	free(ids);
	free(first);
}

/* RFC 8784: a group's `ppk` says whether members use PPKs; `required` leaves no member without
 * one, and a member's PPK in a group that uses none would never be used. */
static void check_member_ppks(ctx *c, group_stage *gs)
{
	for (size_t i = 0; i < gs->nmems; i++) {
		const member_stage *x = &gs->mems[i];
		bool has = given(&x->s, M_PPK) || given(&x->s, M_PPKFILE);
		if (!x->walked)
			continue;
		if (gs->g.ppk == GK_PPK_NONE && has)
			fail_item(c, "members", i, &x->s, member_fields, given(&x->s, M_PPK) ? M_PPK : M_PPKFILE,
				  x->node, "only used when the group sets ppk: optional or required");
		else if (gs->g.ppk == GK_PPK_REQUIRED && !has)
			fail_item(c, "members", i, &x->s, member_fields, M_ID, x->node,
				  "the group sets ppk: required: give this member ppk-file and ppk-id");
	}
}

static void check_sa_names(ctx *c, group_stage *gs)
{
	for (size_t j = 0; j < gs->nsas; j++) {
		const sa_stage *b = &gs->sas[j];
		if (!b->walked || !given(&b->s, SA_NAME) || !b->s.ok[SA_NAME])
			continue;
		for (size_t i = 0; i < j; i++) {
			const sa_stage *a = &gs->sas[i];
			if (a->walked && given(&a->s, SA_NAME) && a->s.ok[SA_NAME] && strcmp(a->t.name, b->t.name) == 0) {
				fail_item(c, "sas", j, &b->s, sa_fields, SA_NAME, b->node,
					  "duplicate SA name '%s' (first at line %lu)", b->t.name, line_of(a->s.val[SA_NAME]));
				break;
			}
		}
	}
}

static bool ts_overlap(const gk_ts_spec *a, const gk_ts_spec *b)
{
	size_t n = gk_ts_addr_len(a->family);
	return a->family == b->family && memcmp(a->start, b->end, n) <= 0 && memcmp(b->start, a->end, n) <= 0 &&
	       a->port_lo <= b->port_hi && b->port_lo <= a->port_hi &&
	       (a->ip_proto == 0 || b->ip_proto == 0 || a->ip_proto == b->ip_proto);
}

static bool sa_complete(const sa_stage *x)
{
	for (int f = 0; f < SA_NF; f++)
		if (!usable(&x->s, f))
			return false;
	return x->walked && x->t.dst.family != 0;
}

/* RFC 9838 4.4.2: the GCKS MUST NOT distribute both ESP and AH policies for the same traffic. */
static void check_esp_ah(ctx *c, group_stage *gs)
{
	for (size_t j = 0; j < gs->nsas; j++) {
		const sa_stage *b = &gs->sas[j];
		if (!sa_complete(b))
			continue;
		for (size_t i = 0; i < j; i++) {
			const sa_stage *a = &gs->sas[i];
			if (!sa_complete(a) || a->t.proto == b->t.proto || !ts_overlap(&a->t.src, &b->t.src) ||
			    !ts_overlap(&a->t.dst, &b->t.dst))
				continue;
			fail_item(c, "sas", j, &b->s, sa_fields, -1, b->node,
				  "%s SA overlaps the traffic selectors of %s SA sas[%zu] '%s': RFC 9838 4.4.2 forbids ESP and AH for the same traffic",
				  b->t.proto == GK_PROTO_AH ? "AH" : "ESP", a->t.proto == GK_PROTO_AH ? "AH" : "ESP", i, a->t.name);
			break;
		}
	}
}

/* Sequence numbers default to sequential-32 with one sender at most, else unspecified-32,
 * which multi-sender SAs MUST use (RFC 9838 4.4.2.1.3). */
static void check_sn(ctx *c, group_stage *gs, size_t nsenders)
{
	for (size_t i = 0; i < gs->nsas; i++) {
		sa_stage *x = &gs->sas[i];
		if (!x->walked || !usable(&x->s, SA_SN))
			continue;
		if (!given(&x->s, SA_SN))
			x->t.sn = nsenders > 1 ? GK_SN_UNSPEC32 : GK_SN_SEQ32;
		else if (x->t.sn == GK_SN_SEQ32 && nsenders > 1)
			fail_item(c, "sas", i, &x->s, sa_fields, SA_SN, x->node,
				  "sequential-32 needs a single sender but %zu members have role sender; use unspecified-32",
				  nsenders);
	}
}

/* Counter modes need Sender-IDs as soon as two IV spaces could meet (RFC 9838 2.5, 4.4.3.1.2). */
static void check_sender_ids(ctx *c, group_stage *gs, size_t nsenders, uint64_t sids)
{
	if (!usable(&gs->s, G_SIDBITS) || gs->g.sender_id_bits != 0 || (nsenders < 2 && sids < 2))
		return;
	for (size_t i = 0; i < gs->nsas; i++) {
		const sa_stage *x = &gs->sas[i];
		const gk_encr_info *e = gk_encr_lookup(x->t.encr);
		if (!x->walked || !e || !e->counter_mode)
			continue;
		const char *name = gk_iana_str(GK_REG_ENCR, x->t.encr);
		if (nsenders > 1)
			fail_f(c, &gs->s, group_fields, G_SIDBITS, gs->node,
			       "required: sas[%zu] uses counter-mode %s and %zu members have role sender (RFC 9838 2.5)",
			       i, name, nsenders);
		else
			fail_f(c, &gs->s, group_fields, G_SIDBITS, gs->node,
			       "required: sas[%zu] uses counter-mode %s and its sender may get %llu Sender-IDs (RFC 9838 2.5)",
			       i, name, (unsigned long long)sids);
		return;
	}
}

/* Senders move to new SAs ATD after receiving them; the old SAs must still be alive then. */
static void check_atd(ctx *c, group_stage *gs)
{
	const gk_group_policy *g = &gs->g;
	if (!usable(&gs->s, G_ATD) || !usable(&gs->s, G_MARGIN) || g->atd == 0)
		return;
	for (size_t i = 0; i < gs->nsas; i++) {
		const sa_stage *x = &gs->sas[i];
		if (!x->walked || !usable(&x->s, SA_LIFETIME))
			continue;
		uint64_t margin = (uint64_t)x->t.lifetime * g->rekey_margin_pct / 100;
		if (g->atd < margin)
			continue;
		char a[24], l[24], m[24];
		fail_f(c, &gs->s, group_fields, G_ATD, gs->node,
		       "%s is not shorter than the rekey margin of sas[%zu] (%u%% of %s = %s): senders would use the old SA after it expired",
		       fmt_secs(g->atd, a, sizeof(a)), i, g->rekey_margin_pct, fmt_secs(x->t.lifetime, l, sizeof(l)),
		       fmt_duration_ms(margin * 1000, m, sizeof(m)));
		return;
	}
}

/* Key bits of an ENCR transform as the policy gives it (0: none, as with AH). */
static size_t encr_bits(uint16_t encr, uint16_t key_bits)
{
	const gk_encr_info *e = gk_encr_lookup(encr);
	return !e ? 0 : key_bits ? key_bits : e->default_key_bits;
}

/* RFC 9838 3.1: the KWK SHOULD NOT be shorter than the Rekey SA's key or any Data-Security
 * SA's key. The Rekey SA's KWK (GSK_w) wraps all of them in GSA_REKEY, so a shorter one makes
 * every key only as strong as the wrap. A SHOULD NOT: the policy loads, with a warning at
 * rekey.key-wrap naming the longest key and the key wrap algorithm that would match it. */
static void check_rekey_kwk(ctx *c, group_stage *gs)
{
	const gk_kek_policy *k = &gs->g.kek;
	const seen *s = &gs->rs;
	if (!k->present || !given(s, R_KWA) || !s->ok[R_KWA] || !usable(s, R_ENCR) || !usable(s, R_KEYLEN))
		return;
	size_t kwk = gk_kwa_key_len(k->kwa) * 8, longest = encr_bits(k->encr, k->encr_key_bits);
	char what[128] = "the Rekey SA's encryption key";
	for (size_t i = 0; i < gs->nsas; i++) {
		const sa_stage *x = &gs->sas[i];
		size_t bits = x->walked && usable(&x->s, SA_ENCR) && usable(&x->s, SA_KEYLEN) ?
				      encr_bits(x->t.encr, x->t.encr_key_bits) : 0;
		if (bits > longest) {
			longest = bits;
			snprintf(what, sizeof(what), "the key of sas[%zu] '%s'", i, x->t.name);
		}
	}
	if (kwk >= longest)
		return;
	unsigned better = longest <= 128 ? GK_KWA_KW_5649_128 : longest <= 192 ? GK_KWA_KW_5649_192 : GK_KWA_KW_5649_256;
	char a[32], b[32];
	size_t old = path_key(c, "rekey");
	warn_f(c, s, rekey_fields, R_KWA, gs->s.val[G_REKEY],
	       "%s wraps keys with a %zu-bit key, shorter than %s (%zu bits): use %s (RFC 9838 3.1)",
	       friendly(GK_REG_KWA, k->kwa, a, sizeof(a)), kwk, what, longest,
	       friendly(GK_REG_KWA, better, b, sizeof(b)));
	path_pop(c, old);
}

/* A sender's 32-bit sequence numbers must not wrap within an SA's lifetime: RFC 9838 2.6
 * requires it for single-sender SAs, and the kernel (xfrm without ESN) stops sending on any
 * outbound SA whose counter would wrap. At max-packet-rate an SA carries lifetime x rate
 * packets per sender; that must stay within SEQ_SPACE_USABLE_PCT of 2^32. */
static void check_seq_wrap(ctx *c, group_stage *gs)
{
	uint64_t rate = gs->g.max_packet_rate, usable_seq = ((uint64_t)1 << 32) * SEQ_SPACE_USABLE_PCT / 100;
	if (!usable(&gs->s, G_MAXRATE))
		return;
	for (size_t i = 0; i < gs->nsas; i++) {
		const sa_stage *x = &gs->sas[i];
		if (!x->walked || !usable(&x->s, SA_LIFETIME) || (uint64_t)x->t.lifetime * rate <= usable_seq)
			continue;
		char l[24], m[24];
		fail_item(c, "sas", i, &x->s, sa_fields, SA_LIFETIME, x->node,
			  "%s at max-packet-rate %llu/s is %llu packets per sender, more than %u%% of the 2^32 "
			  "sequence numbers, which must not wrap (RFC 9838 2.6): at most %s, or a lower max-packet-rate",
			  fmt_secs(x->t.lifetime, l, sizeof(l)), (unsigned long long)rate,
			  (unsigned long long)x->t.lifetime * rate, SEQ_SPACE_USABLE_PCT,
			  fmt_secs(usable_seq / rate, m, sizeof(m)));
	}
}

static void group_finalize(ctx *c, group_stage *gs)
{
	size_t nsenders = 0;
	uint64_t sids = 0;
	if (given(&gs->s, G_ID) && gs->s.ok[G_ID])
		gk_ident_text(&gs->g.id, gs->g.name);
	rekey_finalize(c, gs);
	check_rekey_kwk(c, gs);
	for (size_t i = 0; i < gs->nmems; i++)
		if (gs->mems[i].walked && gs->mems[i].m.role == GK_ROLE_SENDER) {
			nsenders++;
			sids += gs->mems[i].m.max_sender_ids;
		}
	check_sn(c, gs, nsenders);
	check_sender_ids(c, gs, nsenders, sids);
	check_atd(c, gs);
	check_seq_wrap(c, gs);
	check_esp_ah(c, gs);
	check_sa_names(c, gs);
	check_member_dups(c, gs);
	check_member_ppks(c, gs);
}

/* ---- groups and files ---------------------------------------------------------------------- */

static void stage_init(group_stage *gs)
{
	memset(gs, 0, sizeof(*gs));
	gk_group_policy *g = &gs->g;
	g->atd = ATD_DEFAULT;
	g->dtd = DTD_DEFAULT;
	g->rekey_margin_pct = MARGIN_DEFAULT;
	g->ike_idle_timeout = IKE_IDLE_DEFAULT;
	g->max_packet_rate = MAX_PACKET_RATE_DEFAULT;
	g->kek.encr = GK_ENCR_AES_GCM_16;
	g->kek.gcauth = GK_GCAUTH_DIGITAL_SIGNATURE;
	g->kek.lifetime = KEK_LIFETIME_DEFAULT;
	g->kek.ttl = TTL_DEFAULT;
	g->kek.copies = COPIES_DEFAULT;
	g->kek.interval_ms = INTERVAL_MS_DEFAULT;
	g->kek.frag_mtu = FRAG_MTU_DEFAULT;
	g->kek.lkh_degree = LKH_DEGREE_DEFAULT;
	gs->kek_port = REKEY_PORT_DEFAULT;
	gs->kek_src_gcks = true;
	gs->kek_sports = (port_range){ REKEY_SPORT_DEFAULT, REKEY_SPORT_DEFAULT };
}

/* Moves the staged SAs and members into the policy; the stages are released. */
static void stage_finish(ctx *c, group_stage *gs, gk_group_policy *out)
{
	gk_group_policy *g = &gs->g;
	if (gs->nsas && (g->teks = calloc(gs->nsas, sizeof(*g->teks))) != NULL) {
		for (size_t i = 0; i < gs->nsas; i++)
			g->teks[i] = gs->sas[i].t;
		g->nteks = gs->nsas;
	}
	if (gs->nmems && (g->members = calloc(gs->nmems, sizeof(*g->members))) != NULL) {
		for (size_t i = 0; i < gs->nmems; i++) {
			g->members[i] = gs->mems[i].m;
			memset(&gs->mems[i].m, 0, sizeof(gs->mems[i].m));
			if (gk_member_policy_set_id(&g->members[i], &gs->mems[i].id))
				c->nomem = true;
		}
		g->nmembers = gs->nmems;
	}
	if ((gs->nsas && !g->teks) || (gs->nmems && !g->members))
		c->nomem = true;
	for (size_t i = 0; i < gs->nmems; i++) {
		free_secret((char *)gs->mems[i].m.psk, gs->mems[i].m.psk_len);
		free_secret((char *)gs->mems[i].m.ppk, gs->mems[i].m.ppk_len);
		free(gs->mems[i].m.ppk_id);
		free(gs->mems[i].m.pubkey);
	}
	free(gs->sas);
	free(gs->mems);
	*out = *g;
}

typedef struct gvec {
	gk_group_policy *g;
	const yaml_node_t **idnode;
	size_t n, cap;
} gvec;

static bool gvec_grow(gvec *v)
{
	if (v->n < v->cap)
		return true;
	size_t cap = v->cap ? v->cap * 2 : 4;
	gk_group_policy *g = realloc(v->g, cap * sizeof(*g));
	if (!g)
		return false;
	v->g = g;
	const yaml_node_t **idn = realloc(v->idnode, cap * sizeof(*idn));
	if (!idn)
		return false;
	v->idnode = idn;
	v->cap = cap;
	return true;
}

static void load_group(ctx *c, const yaml_node_t *n, gvec *v)
{
	group_stage gs;
	if (!gvec_grow(v)) {
		c->nomem = true;
		return;
	}
	stage_init(&gs);
	gs.node = n;
	if (walk_map(c, n, group_fields, G_NF, &gs, &gs.s) && !c->stop)
		group_finalize(c, &gs);
	v->idnode[v->n] = gs.s.ok[G_ID] ? gs.s.val[G_ID] : NULL;
	stage_finish(c, &gs, &v->g[v->n++]);
}

/* Only the groups: form can repeat a group, so paths start with groups[i]. */
static void check_group_dups(ctx *c, gvec *v)
{
	const gk_ident **ids = calloc(v->n ? v->n : 1, sizeof(*ids));
	size_t *first = calloc(v->n ? v->n : 1, sizeof(*first));
	if (!ids || !first) {
		c->nomem = true;
		goto out;
	}
	for (size_t i = 0; i < v->n; i++)
		ids[i] = v->idnode[i] ? &v->g[i].id : NULL;
	if (!find_dups(c, ids, v->n, first))
		goto out;
	for (size_t i = 0; i < v->n; i++) {
		if (first[i] == i)
			continue;
		size_t old = path_key(c, "groups");
		path_index(c, i);
		path_key(c, "id");
		fail(c, v->idnode[i], "duplicate group id %s (first at line %lu)", v->g[i].name, line_of(v->idnode[first[i]]));
		path_pop(c, old);
	}
out:
	free(ids);
	free(first);
}

static void load_root(ctx *c, const yaml_node_t *root, gvec *v)
{
	if (root->type != YAML_MAPPING_NODE) {
		fail(c, root, "expected a mapping: one group (id:, sas:, ...) or groups: with a list of groups");
		return;
	}
	const yaml_node_t *list = NULL, *list_key = NULL;
	for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
		const yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
		if (k && k->type == YAML_SCALAR_NODE && strcmp((const char *)k->data.scalar.value, "groups") == 0) {
			if (list_key) {
				size_t old = path_key(c, "groups");
				fail(c, k, "duplicate key (first at line %lu)", line_of(list_key));
				path_pop(c, old);
				continue;
			}
			list_key = k;
			list = yaml_document_get_node(c->doc, p->value);
		}
	}
	if (!list) {
		load_group(c, root, v);
		return;
	}
	for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
		const yaml_node_t *k = node(c, p->key);
		if (k && k != list_key && k->type == YAML_SCALAR_NODE &&
		    strcmp((const char *)k->data.scalar.value, "groups") != 0) {
			size_t old = path_key(c, q(c, (const char *)k->data.scalar.value));
			fail(c, k, "unknown key: with groups:, every group field goes inside a list item");
			path_pop(c, old);
		} else if (k && k->type != YAML_SCALAR_NODE) {
			fail(c, k, "a key must be a plain word, not %s", kind(k));
		}
	}
	size_t old = path_key(c, "groups");
	if (list->type != YAML_SEQUENCE_NODE)
		fail(c, list, "expected a list of groups (lines starting with '- '), got %s", kind(list));
	else if (list->data.sequence.items.top == list->data.sequence.items.start)
		fail(c, list, "no groups defined");
	for (size_t i = 0; list->type == YAML_SEQUENCE_NODE &&
	     i < (size_t)(list->data.sequence.items.top - list->data.sequence.items.start) && !c->stop && !c->nomem; i++) {
		const yaml_node_t *g = node(c, list->data.sequence.items.start[i]);
		if (!g)
			break;
		size_t o2 = path_index(c, i);
		load_group(c, g, v);
		path_pop(c, o2);
	}
	path_pop(c, old);
}

static void syntax_error(ctx *c, const yaml_parser_t *p)
{
	const yaml_mark_t *m = &p->problem_mark;
	const char *problem = p->problem ? p->problem : "error";
	if (p->error == YAML_MEMORY_ERROR)
		c->nomem = true;
	else if (p->error == YAML_READER_ERROR)
		gk_diag_at(c->diag, GK_DIAG_ERROR, c->file, 1, 1, "syntax", "%s at byte %zu", problem, p->problem_offset);
	else if (p->context)
		gk_diag_at(c->diag, GK_DIAG_ERROR, c->file, m->line + 1, m->column + 1, "syntax", "%s (%s at line %zu)",
			   problem, p->context, p->context_mark.line + 1);
	else
		gk_diag_at(c->diag, GK_DIAG_ERROR, c->file, m->line + 1, m->column + 1, "syntax", "%s", problem);
}

static void set_dir(ctx *c, const char *name)
{
	const char *slash = strrchr(name, '/');
	if (!slash)
		snprintf(c->dir, sizeof(c->dir), ".");
	else if (slash == name)
		snprintf(c->dir, sizeof(c->dir), "/");
	else
		snprintf(c->dir, sizeof(c->dir), "%.*s", (int)(slash - name), name);
}

void gk_policy_yaml_free(gk_group_policy *groups, size_t ngroups)
{
	for (size_t i = 0; groups && i < ngroups; i++)
		gk_group_policy_free(&groups[i]);
	free(groups);
}

/* Parses the one document of the stream; a second document is an error. */
static void load_stream(ctx *c, yaml_parser_t *p, gvec *v)
{
	yaml_document_t doc;
	if (!yaml_parser_load(p, &doc)) {
		syntax_error(c, p);
		return;
	}
	c->doc = &doc;
	c->budget = 2 * (size_t)(doc.nodes.top - doc.nodes.start) + 64;
	const yaml_node_t *root = yaml_document_get_root_node(&doc);
	if (!root)
		gk_diag_at(c->diag, GK_DIAG_ERROR, c->file, 1, 1, "document",
			   "the file is empty: it needs a group (id:, sas:, ...) or groups: with a list of groups");
	else
		load_root(c, root, v);
	if (root && !c->nomem && !c->stop)
		check_group_dups(c, v); /* needs the document for positions */
	yaml_document_delete(&doc);
	c->doc = NULL;
	if (!root)
		return;
	if (!yaml_parser_load(p, &doc)) {
		syntax_error(c, p);
		return;
	}
	root = yaml_document_get_root_node(&doc);
	if (root)
		gk_diag_at(c->diag, GK_DIAG_ERROR, c->file, root->start_mark.line + 1, root->start_mark.column + 1,
			   "document", "a policy file holds one YAML document; put several groups under groups:");
	yaml_document_delete(&doc);
}

gk_status gk_policy_yaml_load_buf(const char *name, const char *buf, size_t len,
				  gk_group_policy **groups, size_t *ngroups, gk_diag *diag)
{
	if (!groups || !ngroups)
		return GK_E_INVAL;
	*groups = NULL;
	*ngroups = 0;
	if (!name || (!buf && len) || !diag)
		return GK_E_INVAL;
	ctx *c = calloc(1, sizeof(*c));
	yaml_parser_t p;
	gvec v = { 0 };
	size_t errors = diag->errors;
	if (!c)
		return GK_E_NOMEM;
	c->file = name;
	c->diag = diag;
	set_dir(c, name);
	if (!yaml_parser_initialize(&p)) {
		free(c);
		return GK_E_NOMEM;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)(buf ? buf : ""), len);
	load_stream(c, &p, &v);
	yaml_parser_delete(&p);
	gk_status st = c->nomem ? GK_E_NOMEM : diag->errors > errors ? GK_E_INVAL : GK_OK;
	free(c);
	free(v.idnode);
	if (st) {
		gk_policy_yaml_free(v.g, v.n);
		return st;
	}
	*groups = v.g;
	*ngroups = v.n;
	return GK_OK;
}

gk_status gk_policy_yaml_load(const char *path, gk_group_policy **groups, size_t *ngroups, gk_diag *diag)
{
	char *buf;
	size_t len;
	struct stat st;
	if (!groups || !ngroups)
		return GK_E_INVAL;
	*groups = NULL;
	*ngroups = 0;
	if (!path || !diag)
		return GK_E_INVAL;
	const char *why = read_file(path, POLICY_FILE_MAX, &buf, &len, &st);
	if (why) {
		gk_diag_add(diag, GK_DIAG_ERROR, "%s: cannot read: %s", path, why);
		return GK_E_IO;
	}
	gk_status s = gk_policy_yaml_load_buf(path, buf, len, groups, ngroups, diag);
	free_secret(buf, len); /* may hold inline PSKs */
	return s;
}

/* ---- export ----------------------------------------------------------------------------- */

typedef struct emitter {
	yaml_emitter_t e;
	bool ok;
} emitter;

static void em_emit(emitter *m, yaml_event_t *ev, int init_ok)
{
	if (!init_ok)
		m->ok = false;
	else if (!m->ok)
		yaml_event_delete(ev);
	else if (!yaml_emitter_emit(&m->e, ev))
		m->ok = false;
}

static void em_scalar(emitter *m, const char *s, yaml_scalar_style_t style)
{
	yaml_event_t ev;
	int r = yaml_scalar_event_initialize(&ev, NULL, NULL, (const yaml_char_t *)s, (int)strlen(s), 1, 1, style);
	em_emit(m, &ev, r);
}

static void em_map(emitter *m, bool start)
{
	yaml_event_t ev;
	int r = start ? yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE)
		      : yaml_mapping_end_event_initialize(&ev);
	em_emit(m, &ev, r);
}

static void em_seq(emitter *m, bool start)
{
	yaml_event_t ev;
	int r = start ? yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE)
		      : yaml_sequence_end_event_initialize(&ev);
	em_emit(m, &ev, r);
}

static void em_kv(emitter *m, const char *k, const char *v)
{
	em_scalar(m, k, YAML_PLAIN_SCALAR_STYLE);
	em_scalar(m, v, YAML_ANY_SCALAR_STYLE);
}

static void em_kv_u(emitter *m, const char *k, unsigned long long v)
{
	char buf[24];
	snprintf(buf, sizeof(buf), "%llu", v);
	em_kv(m, k, buf);
}

static void em_kv_secs(emitter *m, const char *k, uint64_t secs)
{
	char buf[24];
	em_kv(m, k, fmt_secs(secs, buf, sizeof(buf)));
}

static void em_kv_name(emitter *m, const char *k, enum gk_registry reg, unsigned v)
{
	char buf[64];
	const char *s = friendly(reg, v, buf, sizeof(buf));
	if (!s)
		m->ok = false;
	else
		em_kv(m, k, s);
}

static const char *word_of(const word *w, unsigned v)
{
	for (; w->name; w++)
		if (w->value == v)
			return w->name;
	return NULL;
}

static void em_kv_word(emitter *m, const char *k, const word *w, unsigned v)
{
	const char *s = word_of(w, v);
	if (!s)
		m->ok = false;
	else
		em_kv(m, k, s);
}

static void em_kv_ident(emitter *m, const char *k, const gk_ident *id)
{
	char text[GK_IDENT_TEXT_MAX];
	gk_ident back;
	gk_ident_text(id, text);
	/* Only identities whose text parses back to them can be exported. */
	if (gk_ident_parse(text, &back, NULL, 0) != GK_OK || !gk_ident_eq(&back, id))
		m->ok = false;
	else
		em_kv(m, k, text);
}

/* An address, or a CIDR block / range in gk_ts_spec_text form. */
static const char *ts_addr_text(const gk_ts_spec *t, char *buf, size_t len)
{
	if (memcmp(t->start, t->end, gk_ts_addr_len(t->family)) == 0)
		inet_ntop(t->family == 6 ? AF_INET6 : AF_INET, t->start, buf, (socklen_t)len);
	else
		gk_ts_spec_text(t, buf, len);
	return buf;
}

static const char *ports_text(uint16_t lo, uint16_t hi, char *buf, size_t len)
{
	if (lo == 0 && hi == 65535)
		snprintf(buf, len, "any");
	else if (lo == hi)
		snprintf(buf, len, "%u", lo);
	else
		snprintf(buf, len, "%u-%u", lo, hi);
	return buf;
}

static void em_transforms(emitter *m, uint16_t encr, uint16_t bits, uint16_t integ)
{
	if (encr)
		em_kv_name(m, "encryption", GK_REG_ENCR, encr);
	if (bits)
		em_kv_u(m, "key-length", bits);
	if (integ)
		em_kv_name(m, "integrity", GK_REG_INTEG, integ);
}

static void export_rekey(emitter *m, const gk_group_policy *g)
{
	const gk_kek_policy *k = &g->kek;
	char buf[INET6_ADDRSTRLEN * 2 + 8];
	em_scalar(m, "rekey", YAML_PLAIN_SCALAR_STYLE);
	em_map(m, true);
	em_kv_word(m, "transport", transport_words, g->rekey_transport);
	if (g->rekey_transport == GK_REKEY_MULTICAST) {
		if (!k->present || k->dst.port_lo != k->dst.port_hi)
			m->ok = false;
		em_transforms(m, k->encr, k->encr_key_bits, k->integ);
		em_kv_name(m, "key-wrap", GK_REG_KWA, k->kwa);
		em_kv_word(m, "authentication", gcauth_words, k->gcauth);
		if (k->sig_scheme != GK_SIG_NONE)
			em_kv(m, "signature-algorithm", gk_sig_scheme_name((gk_sig_scheme)k->sig_scheme));
		em_kv(m, "address", ts_addr_text(&k->dst, buf, sizeof(buf)));
		em_kv_u(m, "port", k->dst.port_lo);
		em_kv(m, "source", gk_kek_src_is_gcks(&k->src) ? "gcks" : ts_addr_text(&k->src, buf, sizeof(buf)));
		em_kv(m, "source-port", ports_text(k->src.port_lo, k->src.port_hi, buf, sizeof(buf)));
		em_kv_secs(m, "lifetime", k->lifetime);
		em_kv_u(m, "ttl", k->ttl);
		if (k->iface[0])
			em_kv(m, "interface", k->iface);
		em_kv_u(m, "copies", k->copies);
		em_kv(m, "interval", fmt_duration_ms(k->interval_ms, buf, sizeof(buf)));
		em_kv_u(m, "fragment-mtu", k->frag_mtu);
		em_kv_word(m, "key-management", keymgmt_words, k->key_mgmt);
		if (k->key_mgmt == GK_KEYMGMT_LKH)
			em_kv_u(m, "degree", k->lkh_degree);
	}
	em_map(m, false);
}

static void export_sa(emitter *m, const gk_tek_policy *t)
{
	char buf[INET6_ADDRSTRLEN * 2 + 8];
	if (t->src.ip_proto != t->dst.ip_proto || t->src.family != t->dst.family)
		m->ok = false;
	em_map(m, true);
	em_kv(m, "name", t->name);
	em_kv_word(m, "protocol", esp_ah, t->proto);
	em_transforms(m, t->encr, t->encr_key_bits, t->integ);
	em_kv(m, "sequence-numbers", t->sn == GK_SN_UNSPEC32 ? "unspecified-32" : "sequential-32");
	em_kv(m, "source", ts_addr_text(&t->src, buf, sizeof(buf)));
	em_kv(m, "destination", ts_addr_text(&t->dst, buf, sizeof(buf)));
	em_kv(m, "ip-protocol", ipproto_name(t->dst.ip_proto, buf, sizeof(buf)));
	em_kv(m, "ports", ports_text(t->dst.port_lo, t->dst.port_hi, buf, sizeof(buf)));
	em_kv(m, "source-ports", ports_text(t->src.port_lo, t->src.port_hi, buf, sizeof(buf)));
	em_kv_secs(m, "lifetime", t->lifetime);
	em_map(m, false);
}

static void em_kv_pem(emitter *m, const char *k, const uint8_t *der, size_t len)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *p = NULL;
	long n = 0;
	if (bio && PEM_write_bio(bio, "PUBLIC KEY", "", der, (long)len) > 0)
		n = BIO_get_mem_data(bio, &p);
	if (n > 0) {
		char *s = strndup(p, (size_t)n);
		if (s) {
			em_scalar(m, k, YAML_PLAIN_SCALAR_STYLE);
			em_scalar(m, s, YAML_LITERAL_SCALAR_STYLE);
		} else {
			m->ok = false;
		}
		free(s);
	} else {
		m->ok = false;
	}
	ERR_clear_error();
	BIO_free(bio);
}

/* A secret as 0x-hex (the form psk and ppk take), the text wiped after use. */
static void em_kv_secret_hex(emitter *m, const char *k, const uint8_t *p, size_t len)
{
	char *hex = malloc(2 * len + 3);
	if (!hex) {
		m->ok = false;
		return;
	}
	strcpy(hex, "0x");
	for (size_t i = 0; i < len; i++)
		snprintf(hex + 2 + 2 * i, 3, "%02x", p[i]);
	em_kv(m, k, hex);
	free_secret(hex, 2 * len + 3);
}

static void export_member(emitter *m, const gk_member_policy *mp)
{
	em_map(m, true);
	gk_ident mid;
	em_kv_ident(m, "id", gk_member_policy_id(mp, &mid));
	em_kv_word(m, "auth", auth_words, mp->auth);
	if (mp->psk_len) {
		char *hex = malloc(2 * mp->psk_len + 3);
		if (hex) {
			strcpy(hex, "0x");
			for (size_t i = 0; i < mp->psk_len; i++)
				snprintf(hex + 2 + 2 * i, 3, "%02x", mp->psk[i]);
			em_kv(m, "psk", hex);
			free_secret(hex, 2 * mp->psk_len + 3);
		} else {
			m->ok = false;
		}
	}
	if (mp->pubkey_len)
		em_kv_pem(m, "pubkey", mp->pubkey, mp->pubkey_len);
	if (mp->ppk_len)
		em_kv_secret_hex(m, "ppk", mp->ppk, mp->ppk_len);
	if (mp->ppk_id_len) {
		char *id = strndup((const char *)mp->ppk_id, mp->ppk_id_len);
		if (id)
			em_kv(m, "ppk-id", id);
		else
			m->ok = false;
		free(id);
	}
	em_kv_word(m, "role", role_words, mp->role);
	if (mp->role == GK_ROLE_SENDER)
		em_kv_u(m, "max-sender-ids", mp->max_sender_ids);
	em_map(m, false);
}

static void export_group(emitter *m, const gk_group_policy *g)
{
	em_map(m, true);
	em_kv_ident(m, "id", &g->id);
	em_kv_u(m, "capacity", g->capacity);
	em_kv_word(m, "mode", mode_words, g->transport_mode);
	em_kv_secs(m, "activation-delay", g->atd);
	em_kv_secs(m, "deactivation-delay", g->dtd);
	em_kv_u(m, "sender-id-bits", g->sender_id_bits);
	em_kv_u(m, "rekey-margin", g->rekey_margin_pct);
	em_kv_secs(m, "ike-idle-timeout", g->ike_idle_timeout);
	em_kv_u(m, "max-packet-rate", g->max_packet_rate ? g->max_packet_rate : MAX_PACKET_RATE_DEFAULT);
	if (g->ppk)
		em_kv_word(m, "ppk", ppk_words, g->ppk);
	export_rekey(m, g);
	em_scalar(m, "sas", YAML_PLAIN_SCALAR_STYLE);
	em_seq(m, true);
	for (size_t i = 0; i < g->nteks; i++)
		export_sa(m, &g->teks[i]);
	em_seq(m, false);
	if (g->nmembers) {
		em_scalar(m, "members", YAML_PLAIN_SCALAR_STYLE);
		em_seq(m, true);
		for (size_t i = 0; i < g->nmembers; i++)
			export_member(m, &g->members[i]);
		em_seq(m, false);
	}
	em_map(m, false);
}

gk_status gk_policy_yaml_export(const gk_group_policy *g, size_t n, FILE *out)
{
	emitter m = { .ok = true };
	yaml_event_t ev;
	if ((!g && n) || !out)
		return GK_E_INVAL;
	if (!yaml_emitter_initialize(&m.e))
		return GK_E_NOMEM;
	yaml_emitter_set_output_file(&m.e, out);
	yaml_emitter_set_unicode(&m.e, 1);
	yaml_emitter_set_width(&m.e, -1);
	if (fputs("# gikev2 group policy export (format: policies/README).\n"
		  "# It contains the members' pre-shared keys: keep it private (mode 0600).\n", out) < 0)
		m.ok = false;
	em_emit(&m, &ev, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING));
	em_emit(&m, &ev, yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1));
	em_map(&m, true);
	em_scalar(&m, "groups", YAML_PLAIN_SCALAR_STYLE);
	em_seq(&m, true);
	for (size_t i = 0; i < n; i++)
		export_group(&m, &g[i]);
	em_seq(&m, false);
	em_map(&m, false);
	em_emit(&m, &ev, yaml_document_end_event_initialize(&ev, 1));
	em_emit(&m, &ev, yaml_stream_end_event_initialize(&ev));
	if (m.ok && !yaml_emitter_flush(&m.e))
		m.ok = false;
	bool emit_error = m.e.error != YAML_NO_ERROR;
	yaml_emitter_delete(&m.e);
	if (!m.ok)
		return emit_error || ferror(out) ? GK_E_IO : GK_E_INVAL;
	return fflush(out) == 0 ? GK_OK : GK_E_IO;
}
