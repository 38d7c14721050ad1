/* Rules of the traffic selector substructure (RFC 7296 3.13.1) and the TSi/TSr payloads.
 * GSA policies (RFC 9838 4.4.2) embed the same substructure. */
#include "payloads.h"

static gk_status ts_check(const void *obj)
{
	const gk_ts *ts = obj;
	size_t alen;
	switch (ts->type) {
	case GK_TS_IPV4_ADDR_RANGE: alen = 4; break;
	case GK_TS_IPV6_ADDR_RANGE: alen = 16; break;
	default: return GK_E_UNSUPPORTED;
	}
	if (ts->start_addr.len != alen || ts->end_addr.len != alen)
		return GK_E_MALFORMED;
	return GK_OK;
}

static const gk_rule ts_rules[] = {
	GK_R(GK_F_U8, 0, gk_ts, type, NULL),
	GK_R(GK_F_U8, 0, gk_ts, ip_proto, NULL),
	GK_R0(GK_F_LEN16, 0),
	GK_R(GK_F_U16, 0, gk_ts, start_port, NULL),
	GK_R(GK_F_U16, 0, gk_ts, end_port, NULL),
	GK_R(GK_F_HALF, 0, gk_ts, start_addr, NULL),
	GK_R(GK_F_HALF, 1, gk_ts, end_addr, NULL),
};
const gk_desc gk_desc_ts = { .name = "traffic selector", .size = sizeof(gk_ts),
			     GK_RULES(ts_rules), .check = ts_check };

static const gk_rule pl_ts_rules[] = {
	GK_R0(GK_F_COUNT8, 0),
	GK_R0(GK_F_RESERVED, 3),
	GK_R(GK_F_LIST, 0, gk_pl_ts, ts, &gk_desc_ts),
};
const gk_desc gk_desc_pl_ts = { .name = "TS", .size = sizeof(gk_pl_ts), GK_RULES(pl_ts_rules) };
