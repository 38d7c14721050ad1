/* gmd's settings: one table for the command line and the configuration file (gmd_conf.h). */
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <net/if.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <yaml.h>
#include "gmd_conf.h"
#include "addr.h"
#include "iana.h"
#include "ke.h"
#include "log.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define SENDER_IDS_MAX 256u   /* the most a GCKS gives one member (gikev2-policy(5)) */

typedef struct opt_def {
	const char *name;
	gmd_opt_kind kind;
	size_t off, size;         /* the setting's part of gmd_conf: merged and compared whole */
} opt_def;

#define F(field) offsetof(gmd_conf, field), sizeof(((gmd_conf *)0)->field)

static const opt_def opts[GMD_NOPTS] = {
	[GMD_GCKS] = { "gcks", GMD_LIST, F(gcks) },
	[GMD_ID] = { "id", GMD_VALUE, F(id) },
	[GMD_GROUP] = { "group", GMD_LIST, F(groups) },
	[GMD_PSK_FILE] = { "psk-file", GMD_VALUE, F(psk_file) },
	[GMD_CERT] = { "cert", GMD_VALUE, F(cert) },
	[GMD_KEY] = { "key", GMD_VALUE, F(key) },
	[GMD_CA] = { "ca", GMD_VALUE, F(ca) },
	[GMD_GCKS_PUBKEY] = { "gcks-pubkey", GMD_VALUE, F(gcks_pubkey) },
	[GMD_SENDER] = { "sender", GMD_FLAG, F(sender) },
	[GMD_ONCE] = { "once", GMD_FLAG, F(once) },
	[GMD_JSON] = { "json", GMD_FLAG, F(json) },
	[GMD_LOCAL] = { "local", GMD_VALUE, F(local) },
	[GMD_NO_NAT_T] = { "no-nat-t", GMD_FLAG, F(no_nat_t) },
	[GMD_NAT_KEEPALIVE] = { "nat-keepalive", GMD_VALUE, F(nat_keepalive_s) },
	[GMD_LOG_LEVEL] = { "log-level", GMD_VALUE, F(log_level) },
	[GMD_SAG_ENCR] = { "sag-encr", GMD_LIST, F(sag_encr) },
	[GMD_SA_BACKEND] = { "sa-backend", GMD_VALUE, F(sa_backend) },
	[GMD_MCAST_IFACE] = { "mcast-iface", GMD_VALUE, F(mcast_iface) },
	[GMD_RETRY] = { "retry", GMD_VALUE, F(retry) },
	[GMD_LIVENESS] = { "liveness", GMD_VALUE, F(liveness_s) },
	[GMD_RETRANSMIT] = { "retransmit", GMD_VALUE, F(retransmit) },
	[GMD_REREG_DELAY] = { "rereg-delay", GMD_VALUE, F(rereg_s) },
	[GMD_GCKS_ID] = { "gcks-id", GMD_VALUE, F(gcks_id) },
	[GMD_ALLOW_SELECTOR] = { "allow-selector", GMD_LIST, F(allow) },
	[GMD_USER] = { "user", GMD_VALUE, F(user) },
	[GMD_INITIAL_CONTACT] = { "initial-contact", GMD_FLAG, F(initial_contact) },
	[GMD_IKE_LIFETIME] = { "ike-lifetime", GMD_VALUE, F(ike_lifetime_s) },
	[GMD_LOG_TARGET] = { "log-target", GMD_VALUE, F(log_target) },
	[GMD_PPK_FILE] = { "ppk-file", GMD_VALUE, F(ppk_file) },
	[GMD_PPK_ID] = { "ppk-id", GMD_VALUE, F(ppk_id) },
	[GMD_PPK_REQUIRED] = { "ppk-required", GMD_FLAG, F(ppk_required) },
	[GMD_TRANSPORT] = { "transport", GMD_VALUE, F(transport) },
	[GMD_ADDKE] = { "addke", GMD_VALUE, F(addke) },
};

const char *gmd_opt_name(gmd_opt o) { return o < GMD_NOPTS ? opts[o].name : "?"; }
gmd_opt_kind gmd_opt_kind_of(gmd_opt o) { return o < GMD_NOPTS ? opts[o].kind : GMD_VALUE; }

void gmd_conf_default(gmd_conf *c, const char *user)
{
	memset(c, 0, sizeof(*c));
	c->nat_keepalive_s = 20; /* RFC 3948 4 */
	snprintf(c->sa_backend, sizeof(c->sa_backend), "xfrm");
	c->retry.s = 5;
	c->retry.max_s = 300;
	c->liveness_s = 60;
	c->retransmit.ms = 500;
	c->retransmit.tries = 6;
	c->rereg_s = 5;
	c->ike_lifetime_s = 14400; /* 4 h */
	c->transport.port = GMD_TCP_PORT;
	snprintf(c->user, sizeof(c->user), "%s", user ? user : "");
}

/* ---- values ----------------------------------------------------------------------------- */

/* "A" or "A:B" as unsigned numbers; b untouched when absent (and refused when b is NULL). */
static int parse_pair(const char *s, unsigned *a, unsigned *b)
{
	char *end;
	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || v > 0xffffffffUL || (*end && (*end != ':' || !b)))
		return -1;
	*a = (unsigned)v;
	if (!*end)
		return 0;
	s = end + 1;
	if (!isdigit((unsigned char)*s))
		return -1;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > 0xffffffffUL)
		return -1;
	*b = (unsigned)v;
	return 0;
}

/* NULL (a flag on the command line), true/yes or false/no; -1 for anything else. */
static int parse_bool(const char *s)
{
	if (!s || !strcasecmp(s, "true") || !strcasecmp(s, "yes"))
		return 1;
	if (!strcasecmp(s, "false") || !strcasecmp(s, "no"))
		return 0;
	return -1;
}

static gk_status set_path(char *dst, const char *s, const char *base, char *err, size_t errlen)
{
	int n;
	if (!*s) {
		gk_seterr(err, errlen, "empty path");
		return GK_E_INVAL;
	}
	if (s[0] == '/' || !base)
		n = snprintf(dst, GMD_PATH_MAX, "%s", s);
	else
		n = snprintf(dst, GMD_PATH_MAX, "%s/%s", base, s);
	if (n < 0 || n >= GMD_PATH_MAX) {
		dst[0] = 0;
		gk_seterr(err, errlen, "path too long");
		return GK_E_INVAL;
	}
	return GK_OK;
}

static gk_status set_text(char *dst, size_t size, const char *s, const char *what, char *err, size_t errlen)
{
	if (!*s || strlen(s) >= size) {
		gk_seterr(err, errlen, "%s: 1 to %zu characters", what, size - 1);
		return GK_E_INVAL;
	}
	memcpy(dst, s, strlen(s) + 1);
	return GK_OK;
}

gk_status gmd_resolve(const char *text, unsigned default_port, struct sockaddr_storage *out, char *err,
		      size_t errlen)
{
	char host[256], port[8];
	const char *colon = strrchr(text, ':');
	size_t hl;
	snprintf(port, sizeof(port), "%u", default_port);
	if (text[0] == '[') {
		/* [ADDR] or [ADDR]:PORT: an IPv6 address (with its scope) and a port */
		const char *close = strchr(text, ']');
		if (!close || (close[1] && (close[1] != ':' || !close[2]))) {
			gk_seterr(err, errlen, "use [ADDRESS]:PORT");
			return GK_E_INVAL;
		}
		hl = (size_t)(close - text - 1);
		if (close[1] && snprintf(port, sizeof(port), "%s", close + 2) >= (int)sizeof(port)) {
			gk_seterr(err, errlen, "bad port");
			return GK_E_INVAL;
		}
		text++;
	} else if (colon && strchr(text, ':') == colon) {
		/* one colon: HOST:PORT; several: an IPv6 address without a port */
		hl = (size_t)(colon - text);
		if (snprintf(port, sizeof(port), "%s", colon + 1) >= (int)sizeof(port)) {
			gk_seterr(err, errlen, "bad port");
			return GK_E_INVAL;
		}
	} else {
		hl = strlen(text);
	}
	if (!hl || hl >= sizeof(host)) {
		gk_seterr(err, errlen, "no host name or address");
		return GK_E_INVAL;
	}
	memcpy(host, text, hl);
	host[hl] = 0;
	char *end;
	unsigned long p = strtoul(port, &end, 10);
	if (!isdigit((unsigned char)port[0]) || *end || p == 0 || p > 65535) {
		gk_seterr(err, errlen, "bad port %s (1 to 65535)", port);
		return GK_E_INVAL;
	}
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM,
				  .ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG }, *res = NULL;
	int rc = getaddrinfo(host, port, &hints, &res);
	if (rc == EAI_NONAME || rc == EAI_ADDRFAMILY || rc == EAI_NODATA || rc == EAI_FAMILY) {
		hints.ai_flags = AI_NUMERICSERV; /* loopback only (no address configured): still usable */
		rc = getaddrinfo(host, port, &hints, &res);
	}
	if (rc) {
		gk_seterr(err, errlen, "cannot resolve %s: %s", host, gai_strerror(rc));
		return GK_E_INVAL;
	}
	memset(out, 0, sizeof(*out));
	memcpy(out, res->ai_addr, res->ai_addrlen <= sizeof(*out) ? res->ai_addrlen : sizeof(*out));
	freeaddrinfo(res);
	return GK_OK;
}

static gk_status add_encr(gmd_conf *c, const char *s, char *err, size_t errlen)
{
	char buf[256];
	if (snprintf(buf, sizeof(buf), "%s", s) >= (int)sizeof(buf)) {
		gk_seterr(err, errlen, "too long");
		return GK_E_INVAL;
	}
	size_t n = c->sag_encr.n;
	gk_encr_choice v[GK_OFFER_MAX];
	memcpy(v, c->sag_encr.v, sizeof(v));
	char *save = NULL;
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *slash = strchr(tok, '/');
		unsigned bits = 0, id;
		if (slash) {
			*slash = 0;
			if (parse_pair(slash + 1, &bits, NULL) || bits > 65535) {
				gk_seterr(err, errlen, "bad key length %s", slash + 1);
				return GK_E_INVAL;
			}
		}
		for (char *p = tok; *p; p++)
			*p = (char)toupper((unsigned char)*p);
		if (gk_iana_value(GK_REG_ENCR, tok, &id)) {
			gk_seterr(err, errlen, "unknown encryption transform %s", tok);
			return GK_E_INVAL;
		}
		if (n == GK_OFFER_MAX) {
			gk_seterr(err, errlen, "too many transforms (%d at most)", GK_OFFER_MAX);
			return GK_E_INVAL;
		}
		v[n++] = (gk_encr_choice){ (uint16_t)id, (uint16_t)bits };
	}
	memcpy(c->sag_encr.v, v, sizeof(v));
	c->sag_encr.n = n;
	return GK_OK;
}

static gk_status set_number(unsigned *dst, const char *s, unsigned lo, unsigned hi, const char *use, char *err,
			    size_t errlen)
{
	unsigned v;
	if (parse_pair(s, &v, NULL) || v < lo || v > hi) {
		gk_seterr(err, errlen, "%s", use);
		return GK_E_INVAL;
	}
	*dst = v;
	return GK_OK;
}

static gk_status set_ident(gk_ident *dst, const char *s, char *err, size_t errlen)
{
	gk_ident id;
	memset(&id, 0, sizeof(id)); /* compared whole (gmd_conf_same) */
	if (gk_ident_parse(s, &id, err, errlen))
		return GK_E_INVAL;
	*dst = id;
	return GK_OK;
}

gk_status gmd_conf_set(gmd_conf *c, gmd_opt o, const char *s, const char *base, char *err, size_t errlen)
{
	int b;
	unsigned x, y;
	if (o >= GMD_NOPTS)
		return GK_E_INVAL;
	if (!s && opts[o].kind != GMD_FLAG) {
		gk_seterr(err, errlen, "needs a value");
		return GK_E_INVAL;
	}
	switch (o) {
	case GMD_GCKS: {
		if (c->gcks.n == GMD_MAX_GCKS) {
			gk_seterr(err, errlen, "too many key servers (%d at most)", GMD_MAX_GCKS);
			return GK_E_INVAL;
		}
		gmd_server *v = &c->gcks.v[c->gcks.n];
		gmd_server n;
		memset(&n, 0, sizeof(n));
		if (set_text(n.text, sizeof(n.text), s, "HOST[:PORT]", err, errlen) ||
		    gmd_resolve(s, GMD_DEFAULT_PORT, &n.addr, err, errlen))
			return GK_E_INVAL;
		*v = n;
		c->gcks.n++;
		break;
	}
	case GMD_ID:
		if (set_ident(&c->id, s, err, errlen))
			return GK_E_INVAL;
		break;
	case GMD_GCKS_ID:
		if (set_ident(&c->gcks_id, s, err, errlen))
			return GK_E_INVAL;
		break;
	case GMD_GROUP: {
		gk_ident g;
		if (c->groups.n == GK_GM_MAX_GROUPS) {
			gk_seterr(err, errlen, "too many groups (%d at most)", GK_GM_MAX_GROUPS);
			return GK_E_INVAL;
		}
		if (set_ident(&g, s, err, errlen))
			return GK_E_INVAL;
		for (size_t i = 0; i < c->groups.n; i++)
			if (gk_ident_eq(&c->groups.v[i], &g)) {
				gk_seterr(err, errlen, "%s is listed twice", s);
				return GK_E_INVAL;
			}
		c->groups.v[c->groups.n++] = g;
		break;
	}
	case GMD_PSK_FILE: return set_path(c->psk_file, s, base, err, errlen);
	case GMD_PPK_FILE: return set_path(c->ppk_file, s, base, err, errlen);
	case GMD_ADDKE:
		memset(&c->addke, 0, sizeof(c->addke)); /* compared whole (gmd_conf_same) */
		return gk_ke_parse_list(s, c->addke.v, GK_ADDKE_MAX, &c->addke.n, err, errlen);
	case GMD_PPK_ID:
		memset(c->ppk_id, 0, sizeof(c->ppk_id)); /* compared whole (gmd_conf_same) */
		return set_text(c->ppk_id, sizeof(c->ppk_id), s, "a PPK identity", err, errlen);
	case GMD_CERT: return set_path(c->cert, s, base, err, errlen);
	case GMD_KEY: return set_path(c->key, s, base, err, errlen);
	case GMD_CA: return set_path(c->ca, s, base, err, errlen);
	case GMD_GCKS_PUBKEY: return set_path(c->gcks_pubkey, s, base, err, errlen);
	case GMD_SENDER:
		if ((b = parse_bool(s)) >= 0) {
			c->sender.on = b;
			c->sender.ids = 0;
		} else if (!parse_pair(s, &x, NULL) && x >= 1 && x <= SENDER_IDS_MAX) {
			c->sender.on = true;
			c->sender.ids = x;
		} else {
			gk_seterr(err, errlen, "use true, false or a number of Sender-IDs (1 to %u)", SENDER_IDS_MAX);
			return GK_E_INVAL;
		}
		break;
	case GMD_ONCE:
	case GMD_JSON:
	case GMD_NO_NAT_T:
	case GMD_INITIAL_CONTACT:
	case GMD_PPK_REQUIRED:
		if ((b = parse_bool(s)) < 0) {
			gk_seterr(err, errlen, "use true or false");
			return GK_E_INVAL;
		}
		*(bool *)(void *)((char *)c + opts[o].off) = b;
		break;
	case GMD_LOCAL: {
		struct sockaddr_storage la;
		char why[GK_ERR_MAX];
		if (gk_addr_parse(s, 0, &la, why, sizeof(why)) && gk_addr_parse(s, 65535, &la, err, errlen))
			return GK_E_INVAL;
		return set_text(c->local, sizeof(c->local), s, "ADDRESS[:PORT]", err, errlen);
	}
	case GMD_NAT_KEEPALIVE:
		return set_number(&c->nat_keepalive_s, s, 0, 3600, "use SECONDS, 0 to 3600 (0 = off)", err, errlen);
	case GMD_LOG_LEVEL: {
		/* checked by log.c's own setter, then the levels put back: gmd applies its settings
		 * once they are all read (at start, or on SIGHUP) */
		char saved[256], why[GK_ERR_MAX];
		if (strlen(s) >= sizeof(c->log_level)) {
			gk_seterr(err, errlen, "too long");
			return GK_E_INVAL;
		}
		gk_log_levels_text(saved, sizeof(saved));
		if (gk_log_set_levels(s, err, errlen))
			return GK_E_INVAL;
		gk_log_set_levels(saved, why, sizeof(why));
		memset(c->log_level, 0, sizeof(c->log_level)); /* compared whole (gmd_conf_same) */
		memcpy(c->log_level, s, strlen(s) + 1);
		break;
	}
	case GMD_LOG_TARGET:
		if (gk_log_target_parse(s) < 0) {
			gk_seterr(err, errlen, "use stderr, syslog or journal");
			return GK_E_INVAL;
		}
		snprintf(c->log_target, sizeof(c->log_target), "%s", s);
		break;
	case GMD_SAG_ENCR:
		return add_encr(c, s, err, errlen);
	case GMD_TRANSPORT: {
		/* udp, tcp or auto; tcp and auto take the key servers' TCP port as tcp:PORT */
		size_t n = strcspn(s, ":");
		gmd_transport m = n == 3 && !strncmp(s, "udp", 3) ? GMD_UDP : n == 3 && !strncmp(s, "tcp", 3) ? GMD_TCP :
				  n == 4 && !strncmp(s, "auto", 4) ? GMD_AUTO : (gmd_transport)-1;
		x = GMD_TCP_PORT;
		if ((int)m < 0 || (s[n] && (m == GMD_UDP || parse_pair(s + n + 1, &x, NULL) || !x || x > 65535))) {
			gk_seterr(err, errlen, "use udp, tcp[:PORT] or auto[:PORT] (PORT 1 to 65535, default 4500)");
			return GK_E_INVAL;
		}
		c->transport.mode = m;
		c->transport.port = (uint16_t)x;
		break;
	}
	case GMD_SA_BACKEND:
		if (strcmp(s, "xfrm") && strcmp(s, "none")) {
			gk_seterr(err, errlen, "use xfrm or none");
			return GK_E_INVAL;
		}
		snprintf(c->sa_backend, sizeof(c->sa_backend), "%s", s);
		break;
	case GMD_MCAST_IFACE:
		return set_text(c->mcast_iface, IF_NAMESIZE, s, "an interface name", err, errlen);
	case GMD_RETRY:
		x = c->retry.s;
		y = c->retry.max_s;
		if (parse_pair(s, &x, &y) || !x || x > 86400 || y > 86400) {
			gk_seterr(err, errlen, "use SECONDS[:MAX], 1 to 86400");
			return GK_E_INVAL;
		}
		c->retry.s = x;
		c->retry.max_s = y;
		break;
	case GMD_LIVENESS:
		return set_number(&c->liveness_s, s, 0, 86400, "use SECONDS, 0 to 86400 (0 = off)", err, errlen);
	case GMD_RETRANSMIT:
		x = c->retransmit.ms;
		y = c->retransmit.tries;
		if (parse_pair(s, &x, &y) || x < 10 || x > 60000 || y > 20) {
			gk_seterr(err, errlen, "use MS[:TRIES], 10 to 60000 ms, up to 20 tries");
			return GK_E_INVAL;
		}
		c->retransmit.ms = x;
		c->retransmit.tries = y;
		break;
	case GMD_REREG_DELAY:
		return set_number(&c->rereg_s, s, 2, 3600, "use SECONDS, 2 to 3600", err, errlen);
	case GMD_ALLOW_SELECTOR: {
		gk_prefix p;
		if (c->allow.n == GMD_MAX_ALLOW) {
			gk_seterr(err, errlen, "too many prefixes (%d at most)", GMD_MAX_ALLOW);
			return GK_E_INVAL;
		}
		memset(&p, 0, sizeof(p));
		if (gk_prefix_parse(s, &p, err, errlen))
			return GK_E_INVAL;
		c->allow.v[c->allow.n++] = p;
		break;
	}
	case GMD_USER:
		return set_text(c->user, sizeof(c->user), s, "an account name", err, errlen);
	case GMD_IKE_LIFETIME:
		if (parse_pair(s, &x, NULL) || (x && (x < 60 || x > 2592000))) {
			gk_seterr(err, errlen, "use SECONDS, 60 to 2592000 (0 = never rekey)");
			return GK_E_INVAL;
		}
		c->ike_lifetime_s = x;
		break;
	case GMD_NOPTS:
		return GK_E_INVAL;
	}
	return GK_OK;
}

void gmd_conf_merge(gmd_conf *out, const gmd_conf *file, const gmd_conf *cli)
{
	gmd_conf m = *file;
	for (unsigned o = 0; o < GMD_NOPTS; o++)
		if (cli->given & ((uint64_t)1 << o)) {
			memcpy((char *)&m + opts[o].off, (const char *)cli + opts[o].off, opts[o].size);
			m.given |= (uint64_t)1 << o;
		}
	*out = m;
}

bool gmd_conf_same(const gmd_conf *a, const gmd_conf *b, gmd_opt o)
{
	return o < GMD_NOPTS && !memcmp((const char *)a + opts[o].off, (const char *)b + opts[o].off, opts[o].size);
}

gk_status gmd_conf_check(const gmd_conf *c, const char *source, gk_diag *diag)
{
	size_t errors = diag->errors;
	/* "FILE: key: ..." for a file, "gmd: --key: ..." for the command line alone */
	const char *p = source ? source : "gmd", *k = source ? "" : "--";
	if (!c->gcks.n)
		gk_diag_add(diag, GK_DIAG_ERROR, "%s: %sgcks: missing: the key server(s) to register with", p, k);
	if (!c->id.type)
		gk_diag_add(diag, GK_DIAG_ERROR, "%s: %sid: missing: this member's identity", p, k);
	if (!c->groups.n)
		gk_diag_add(diag, GK_DIAG_ERROR, "%s: %sgroup: missing: the group(s) to register to", p, k);
	if (!c->psk_file[0] && !c->key[0])
		gk_diag_add(diag, GK_DIAG_ERROR, "%s: %spsk-file: missing: %spsk-file, or %skey with %scert or %sgcks-pubkey",
			    p, k, k, k, k, k);
	if (c->psk_file[0] && c->key[0])
		gk_diag_add(diag, GK_DIAG_ERROR, "%s: %spsk-file: %spsk-file and %skey exclude each other", p, k, k, k);
	if (c->key[0] && !c->ca[0] && !c->gcks_pubkey[0])
		gk_diag_add(diag, GK_DIAG_ERROR, "%s: %skey: %sca or %sgcks-pubkey is needed to authenticate the GCKS",
			    p, k, k, k);
	/* RFC 8784 3: a PPK goes with its PPK_ID */
	if (c->ppk_file[0] && !c->ppk_id[0])
		gk_diag_add(diag, GK_DIAG_ERROR, "%s: %sppk-file: needs %sppk-id: the PPK's identity", p, k, k);
	if (c->ppk_id[0] && !c->ppk_file[0])
		gk_diag_add(diag, GK_DIAG_ERROR, "%s: %sppk-id: needs %sppk-file", p, k, k);
	if (c->ppk_required && !c->ppk_file[0])
		gk_diag_add(diag, GK_DIAG_ERROR, "%s: %sppk-required: needs %sppk-file and %sppk-id", p, k, k, k);
	if (c->ca[0] && !c->gcks_id.type)
		/* any certificate of the CA would do as the GCKS: members' too */
		gk_diag_add(diag, GK_DIAG_ERROR, "%s: %sca: needs %sgcks-id: the identity the GCKS must authenticate as",
			    p, k, k);
	return diag->errors > errors ? GK_E_INVAL : GK_OK;
}

/* ---- the file --------------------------------------------------------------------------- */

typedef struct ctx {
	const char *file;
	char dir[GMD_PATH_MAX];   /* relative paths in the file start here */
	yaml_document_t *doc;
	gk_diag *diag;
	gmd_conf *c;
} ctx;

static const char *kind_name(const yaml_node_t *n)
{
	return n->type == YAML_MAPPING_NODE ? "a mapping" : n->type == YAML_SEQUENCE_NODE ? "a list" : "a value";
}

__attribute__((format(printf, 4, 5)))
static void report(ctx *c, const yaml_node_t *n, const char *key, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	gk_diag_at(c->diag, GK_DIAG_ERROR, c->file, n->start_mark.line + 1, n->start_mark.column + 1, key, "%s", msg);
}

static void set_at(ctx *c, gmd_opt o, const yaml_node_t *v)
{
	char err[GK_ERR_MAX] = "";
	const char *s = (const char *)v->data.scalar.value;
	if (strlen(s) != v->data.scalar.length) {
		report(c, v, opts[o].name, "a NUL character in the value");
		return;
	}
	if (gmd_conf_set(c->c, o, s, c->dir, err, sizeof(err)))
		report(c, v, opts[o].name, "%s", err);
}

static void load_setting(ctx *c, gmd_opt o, const yaml_node_t *v)
{
	c->c->given |= (uint64_t)1 << o;
	if (v->type == YAML_SCALAR_NODE) {
		set_at(c, o, v);
		return;
	}
	if (v->type != YAML_SEQUENCE_NODE || opts[o].kind != GMD_LIST) {
		report(c, v, opts[o].name, "expected %s, found %s", opts[o].kind == GMD_LIST ? "a value or a list" :
		       "a value", kind_name(v));
		return;
	}
	for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
		const yaml_node_t *e = yaml_document_get_node(c->doc, *it);
		if (!e)
			continue;
		if (e->type != YAML_SCALAR_NODE)
			report(c, e, opts[o].name, "expected a value, found %s", kind_name(e));
		else
			set_at(c, o, e);
	}
}

static void load_root(ctx *c, const yaml_node_t *root)
{
	const yaml_node_t *seen[GMD_NOPTS] = { 0 };
	if (root->type != YAML_MAPPING_NODE) {
		report(c, root, "document", "expected settings (key: value), found %s", kind_name(root));
		return;
	}
	for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
		const yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
		const yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
		if (!k || !v)
			continue;
		if (k->type != YAML_SCALAR_NODE) {
			report(c, k, "document", "a key must be a setting name, found %s", kind_name(k));
			continue;
		}
		const char *key = (const char *)k->data.scalar.value;
		unsigned o = 0;
		while (o < GMD_NOPTS && strcmp(opts[o].name, key))
			o++;
		if (o == GMD_NOPTS) {
			char safe[64];
			size_t n = 0;
			for (const char *s = key; *s && n < sizeof(safe) - 1; s++)
				safe[n++] = isprint((unsigned char)*s) ? *s : '?';
			safe[n] = 0;
			report(c, k, safe, "unknown setting (gmd.conf(5) lists them)");
			continue;
		}
		if (seen[o]) {
			report(c, k, key, "given twice (first at line %zu)", seen[o]->start_mark.line + 1);
			continue;
		}
		seen[o] = k;
		load_setting(c, (gmd_opt)o, v);
	}
}

static void syntax_error(ctx *c, const yaml_parser_t *p)
{
	const yaml_mark_t *m = &p->problem_mark;
	const char *problem = p->problem ? p->problem : "error";
	if (p->error == YAML_READER_ERROR)
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

gk_status gmd_conf_load_buf(gmd_conf *out, const char *name, const char *buf, size_t len, const char *user,
			    gk_diag *diag)
{
	gmd_conf *conf = malloc(sizeof(*conf));
	yaml_parser_t p;
	yaml_document_t doc;
	ctx c = { .file = name, .diag = diag, .c = conf };
	size_t errors = diag->errors;
	if (!conf)
		return GK_E_NOMEM;
	gmd_conf_default(conf, user);
	set_dir(&c, name);
	if (!yaml_parser_initialize(&p)) {
		free(conf);
		return GK_E_NOMEM;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)(buf ? buf : ""), len);
	if (!yaml_parser_load(&p, &doc)) {
		syntax_error(&c, &p);
		goto out;
	}
	c.doc = &doc;
	const yaml_node_t *root = yaml_document_get_root_node(&doc);
	if (root)
		load_root(&c, root); /* an empty file sets nothing: the command line says it all */
	yaml_document_delete(&doc);
	if (!root)
		goto out;
	if (!yaml_parser_load(&p, &doc)) {
		syntax_error(&c, &p);
		goto out;
	}
	root = yaml_document_get_root_node(&doc);
	if (root)
		report(&c, root, "document", "a configuration file holds one YAML document");
	yaml_document_delete(&doc);
out:
	yaml_parser_delete(&p);
	gk_status st = diag->errors > errors ? GK_E_INVAL : GK_OK;
	if (!st)
		*out = *conf;
	free(conf);
	return st;
}

gk_status gmd_conf_load(gmd_conf *c, const char *path, const char *user, gk_diag *diag)
{
	FILE *f = fopen(path, "re");
	struct stat st;
	char *buf = NULL;
	size_t n = 0;
	gk_status s = GK_E_IO;
	if (!f) {
		gk_diag_add(diag, GK_DIAG_ERROR, "%s: cannot read: %s", path, strerror(errno));
		return GK_E_IO;
	}
	if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) {
		gk_diag_add(diag, GK_DIAG_ERROR, "%s: cannot read: not a regular file", path);
		goto out;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		/* whoever may write it chooses gmd's key servers and the key files root reads */
		gk_diag_add(diag, GK_DIAG_ERROR, "%s: writable by group or others (mode %04o): chmod go-w", path,
			    (unsigned)(st.st_mode & 07777));
		goto out;
	}
	if ((uint64_t)st.st_size > GMD_CONF_FILE_MAX) {
		gk_diag_add(diag, GK_DIAG_ERROR, "%s: cannot read: larger than %u octets", path, GMD_CONF_FILE_MAX);
		goto out;
	}
	if (!(buf = malloc((size_t)st.st_size + 1))) {
		s = GK_E_NOMEM;
		goto out;
	}
	n = fread(buf, 1, (size_t)st.st_size, f);
	if (ferror(f)) {
		gk_diag_add(diag, GK_DIAG_ERROR, "%s: cannot read: %s", path, strerror(errno));
		goto out;
	}
	s = gmd_conf_load_buf(c, path, buf, n, user, diag);
out:
	free(buf);
	fclose(f);
	return s;
}
