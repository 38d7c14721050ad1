/* Rules of the Key Download payload (RFC 9838 4.5): Group Key Bags and Member Key Bags,
 * told apart by their first octet (zero for a Member Key Bag). */
#include "payloads.h"

static const gk_rule group_bag_rules[] = {
	GK_R(GK_F_U8, 0, gk_key_bag, proto, NULL),
	GK_R(GK_F_SPI_SIZE, 0, gk_key_bag, spi_size, NULL),
	GK_R0(GK_F_LEN16, 0),
	GK_R(GK_F_SPI, 0, gk_key_bag, spi, NULL),
	GK_R(GK_F_ATTRS, 0, gk_key_bag, attrs, NULL),
};
static const gk_desc group_bag = { .name = "group key bag", .size = sizeof(gk_key_bag),
				   GK_RULES(group_bag_rules) };

static const gk_rule member_bag_rules[] = {
	GK_R(GK_F_U8, 0, gk_key_bag, proto, NULL),
	GK_R0(GK_F_RESERVED, 1),
	GK_R0(GK_F_LEN16, 0),
	GK_R(GK_F_ATTRS, 0, gk_key_bag, attrs, NULL),
};
static const gk_desc member_bag = { .name = "member key bag", .size = sizeof(gk_key_bag),
				    GK_RULES(member_bag_rules) };

static const gk_desc *bag_select(uint8_t first)
{
	return first == 0 ? &member_bag : &group_bag;
}

const gk_desc gk_desc_key_bag = { .name = "key bag", .size = sizeof(gk_key_bag),
				  .select = bag_select };

static const gk_rule pl_kd_rules[] = {
	GK_R(GK_F_LIST, 0, gk_pl_kd, bags, &gk_desc_key_bag),
};
const gk_desc gk_desc_pl_kd = { .name = "KD", .size = sizeof(gk_pl_kd), GK_RULES(pl_kd_rules) };
