#include <stdio.h>
#include <string.h>
#include "iana.h"

struct iana_entry { unsigned value; const char *name; };
struct iana_table { const struct iana_entry *e; size_t n; };

#define ENTRY(n, v) { v, #n },
#define TABLE(var, LIST) static const struct iana_entry var[] = { LIST(ENTRY) };
TABLE(t_exch, GK_EXCHANGE_LIST)
TABLE(t_pl, GK_PAYLOAD_LIST)
TABLE(t_proto, GK_PROTO_LIST)
TABLE(t_tt, GK_TRANSFORM_TYPE_LIST)
TABLE(t_encr, GK_ENCR_LIST)
TABLE(t_prf, GK_PRF_LIST)
TABLE(t_integ, GK_INTEG_LIST)
TABLE(t_ke, GK_KE_LIST)
TABLE(t_sn, GK_SN_LIST)
TABLE(t_kwa, GK_KWA_LIST)
TABLE(t_gcauth, GK_GCAUTH_LIST)
TABLE(t_tattr, GK_TATTR_LIST)
TABLE(t_notify, GK_NOTIFY_LIST)
TABLE(t_id, GK_ID_LIST)
TABLE(t_auth, GK_AUTH_METHOD_LIST)
TABLE(t_ts, GK_TS_TYPE_LIST)
TABLE(t_cert, GK_CERT_ENC_LIST)
TABLE(t_hash, GK_HASH_LIST)
TABLE(t_cp, GK_CP_TYPE_LIST)
TABLE(t_gsaa, GK_GSA_ATTR_LIST)
TABLE(t_gwpa, GK_GWP_ATTR_LIST)
TABLE(t_gkba, GK_GKB_ATTR_LIST)
TABLE(t_mkba, GK_MKB_ATTR_LIST)

#define REG(r, t) [r] = { t, sizeof(t) / sizeof(t[0]) }
static const struct iana_table tables[GK_REG_COUNT] = {
	REG(GK_REG_EXCHANGE, t_exch), REG(GK_REG_PAYLOAD, t_pl), REG(GK_REG_PROTO, t_proto),
	REG(GK_REG_TRANSFORM_TYPE, t_tt), REG(GK_REG_ENCR, t_encr), REG(GK_REG_PRF, t_prf),
	REG(GK_REG_INTEG, t_integ), REG(GK_REG_KE, t_ke), REG(GK_REG_SN, t_sn),
	REG(GK_REG_KWA, t_kwa), REG(GK_REG_GCAUTH, t_gcauth), REG(GK_REG_TATTR, t_tattr),
	REG(GK_REG_NOTIFY, t_notify), REG(GK_REG_ID, t_id), REG(GK_REG_AUTH_METHOD, t_auth),
	REG(GK_REG_TS_TYPE, t_ts), REG(GK_REG_CERT_ENC, t_cert), REG(GK_REG_HASH, t_hash),
	REG(GK_REG_CP_TYPE, t_cp), REG(GK_REG_GSA_ATTR, t_gsaa), REG(GK_REG_GWP_ATTR, t_gwpa),
	REG(GK_REG_GKB_ATTR, t_gkba), REG(GK_REG_MKB_ATTR, t_mkba),
};

const char *gk_iana_name(enum gk_registry reg, unsigned value)
{
	if ((unsigned)reg >= GK_REG_COUNT)
		return NULL;
	const struct iana_table *t = &tables[reg];
	for (size_t i = 0; i < t->n; i++)
		if (t->e[i].value == value)
			return t->e[i].name;
	return NULL;
}

const char *gk_iana_str(enum gk_registry reg, unsigned value)
{
	static _Thread_local char buf[32];
	const char *n = gk_iana_name(reg, value);
	if (n)
		return n;
	snprintf(buf, sizeof(buf), "UNKNOWN(%u)", value);
	return buf;
}

int gk_iana_value(enum gk_registry reg, const char *name, unsigned *value)
{
	if ((unsigned)reg >= GK_REG_COUNT || !name)
		return -1;
	const struct iana_table *t = &tables[reg];
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->e[i].name, name) == 0) {
			*value = t->e[i].value;
			return 0;
		}
	return -1;
}

enum gk_registry gk_iana_transform_registry(unsigned transform_type)
{
	switch (transform_type) {
	case GK_TT_ENCR: return GK_REG_ENCR;
	case GK_TT_PRF: return GK_REG_PRF;
	case GK_TT_INTEG: return GK_REG_INTEG;
	case GK_TT_KE: return GK_REG_KE;
	case GK_TT_SN: return GK_REG_SN;
	case GK_TT_KWA: return GK_REG_KWA;
	case GK_TT_GCAUTH: return GK_REG_GCAUTH;
	default: return GK_REG_COUNT;
	}
}
