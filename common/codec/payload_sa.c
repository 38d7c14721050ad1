/* Rules of the SA payload (RFC 7296 3.3) and its proposal and transform substructures;
 * the same encoding serves SAg (RFC 9838 4.3) and the transforms of a GSA policy. */
#include "payloads.h"

static const gk_rule transform_rules[] = {
	GK_R0(GK_F_LAST, 3),
	GK_R0(GK_F_RESERVED, 1),
	GK_R0(GK_F_LEN16, 0),
	GK_R(GK_F_U8, 0, gk_transform, type, NULL),
	GK_R0(GK_F_RESERVED, 1),
	GK_R(GK_F_U16, 0, gk_transform, id, NULL),
	GK_R(GK_F_ATTRS, 0, gk_transform, attrs, NULL),
};
const gk_desc gk_desc_transform = { .name = "transform", .size = sizeof(gk_transform),
				    GK_RULES(transform_rules) };

static const gk_rule proposal_rules[] = {
	GK_R0(GK_F_LAST, 2),
	GK_R0(GK_F_RESERVED, 1),
	GK_R0(GK_F_LEN16, 0),
	GK_R(GK_F_U8, 0, gk_proposal, num, NULL),
	GK_R(GK_F_U8, 0, gk_proposal, proto, NULL),
	GK_R(GK_F_SPI_SIZE, 0, gk_proposal, spi_size, NULL),
	GK_R0(GK_F_COUNT8, 0),
	GK_R(GK_F_SPI, 0, gk_proposal, spi, NULL),
	GK_R(GK_F_LIST, 0, gk_proposal, transforms, &gk_desc_transform),
};
const gk_desc gk_desc_proposal = { .name = "proposal", .size = sizeof(gk_proposal),
				   GK_RULES(proposal_rules) };

static const gk_rule sa_rules[] = {
	GK_R(GK_F_LIST, 0, gk_pl_sa, proposals, &gk_desc_proposal),
};
const gk_desc gk_desc_pl_sa = { .name = "SA", .size = sizeof(gk_pl_sa), GK_RULES(sa_rules) };
