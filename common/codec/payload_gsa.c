/* Rules of the GSA payload (RFC 9838 4.4): GSA policy and Group-wide policy substructures,
 * told apart by their first octet (zero for GW policy). */
#include "payloads.h"

static const gk_rule gsa_policy_rules[] = {
	GK_R(GK_F_U8, 0, gk_gsa_policy, proto, NULL),
	GK_R(GK_F_SPI_SIZE, 0, gk_gsa_policy, spi_size, NULL),
	GK_R0(GK_F_LEN16, 0),
	GK_R(GK_F_SPI, 0, gk_gsa_policy, spi, NULL),
	GK_R(GK_F_STRUCT, 0, gk_gsa_policy, src, &gk_desc_ts),
	GK_R(GK_F_STRUCT, 0, gk_gsa_policy, dst, &gk_desc_ts),
	GK_R(GK_F_LIST_LAST, 0, gk_gsa_policy, transforms, &gk_desc_transform),
	GK_R(GK_F_ATTRS, 0, gk_gsa_policy, attrs, NULL),
};
static const gk_desc gsa_policy = { .name = "GSA policy", .size = sizeof(gk_gsa_policy),
				    GK_RULES(gsa_policy_rules) };

static const gk_rule gw_policy_rules[] = {
	GK_R(GK_F_U8, 0, gk_gsa_policy, proto, NULL),
	GK_R0(GK_F_RESERVED, 1),
	GK_R0(GK_F_LEN16, 0),
	GK_R(GK_F_ATTRS, 0, gk_gsa_policy, attrs, NULL),
};
static const gk_desc gw_policy = { .name = "GW policy", .size = sizeof(gk_gsa_policy),
				   GK_RULES(gw_policy_rules) };

static const gk_desc *gsa_select(uint8_t first)
{
	return first == 0 ? &gw_policy : &gsa_policy;
}

const gk_desc gk_desc_gsa_item = { .name = "GSA substructure", .size = sizeof(gk_gsa_policy),
				   .select = gsa_select };

static const gk_rule pl_gsa_rules[] = {
	GK_R(GK_F_LIST, 0, gk_pl_gsa, policies, &gk_desc_gsa_item),
};
const gk_desc gk_desc_pl_gsa = { .name = "GSA", .size = sizeof(gk_pl_gsa), GK_RULES(pl_gsa_rules) };
