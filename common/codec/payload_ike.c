/* Rules of the IKEv2 payloads with flat bodies (RFC 7296 section 3; SKF from RFC 7383). */
#include "payloads.h"

#define DESC(var, label, type, rules) \
	const gk_desc var = { .name = label, .size = sizeof(type), GK_RULES(rules) }

static const gk_rule ke_rules[] = {
	GK_R(GK_F_U16, 0, gk_pl_ke, group, NULL),
	GK_R0(GK_F_RESERVED, 2),
	GK_R(GK_F_REST, 0, gk_pl_ke, data, NULL),
};
DESC(gk_desc_pl_ke, "KE", gk_pl_ke, ke_rules);

static const gk_rule id_rules[] = {
	GK_R(GK_F_U8, 0, gk_pl_id, id_type, NULL),
	GK_R0(GK_F_RESERVED, 3),
	GK_R(GK_F_REST, 0, gk_pl_id, data, NULL),
};
DESC(gk_desc_pl_id, "ID", gk_pl_id, id_rules);

static const gk_rule cert_rules[] = {
	GK_R(GK_F_U8, 0, gk_pl_cert, encoding, NULL),
	GK_R(GK_F_REST, 0, gk_pl_cert, data, NULL),
};
DESC(gk_desc_pl_cert, "CERT", gk_pl_cert, cert_rules);

static const gk_rule auth_rules[] = {
	GK_R(GK_F_U8, 0, gk_pl_auth, method, NULL),
	GK_R0(GK_F_RESERVED, 3),
	GK_R(GK_F_REST, 0, gk_pl_auth, data, NULL),
};
DESC(gk_desc_pl_auth, "AUTH", gk_pl_auth, auth_rules);

static const gk_rule bytes_rules[] = {
	GK_R(GK_F_REST, 0, gk_pl_bytes, data, NULL),
};
DESC(gk_desc_pl_bytes, "data", gk_pl_bytes, bytes_rules);

static const gk_rule notify_rules[] = {
	GK_R(GK_F_U8, 0, gk_pl_notify, proto, NULL),
	GK_R(GK_F_SPI_SIZE, 0, gk_pl_notify, spi_size, NULL),
	GK_R(GK_F_U16, 0, gk_pl_notify, type, NULL),
	GK_R(GK_F_SPI, 0, gk_pl_notify, spi, NULL),
	GK_R(GK_F_REST, 0, gk_pl_notify, data, NULL),
};
DESC(gk_desc_pl_notify, "Notify", gk_pl_notify, notify_rules);

static const gk_rule delete_rules[] = {
	GK_R(GK_F_U8, 0, gk_pl_delete, proto, NULL),
	GK_R(GK_F_SPI_SIZE, 0, gk_pl_delete, spi_size, NULL),
	GK_R0(GK_F_COUNT16, 0),
	GK_R(GK_F_SPI_LIST, 0, gk_pl_delete, spis, NULL),
};
DESC(gk_desc_pl_delete, "Delete", gk_pl_delete, delete_rules);

static const gk_rule skf_rules[] = {
	GK_R(GK_F_U16, 0, gk_pl_skf, frag_num, NULL),
	GK_R(GK_F_U16, 0, gk_pl_skf, frag_total, NULL),
	GK_R(GK_F_REST, 0, gk_pl_skf, data, NULL),
};
static gk_status skf_check(const void *obj)
{
	const gk_pl_skf *f = obj;
	/* RFC 7383 2.5: numbers start at 1 and never exceed the total */
	return f->frag_num >= 1 && f->frag_num <= f->frag_total ? GK_OK : GK_E_MALFORMED;
}
const gk_desc gk_desc_pl_skf = { .name = "SKF", .size = sizeof(gk_pl_skf), GK_RULES(skf_rules),
				 .check = skf_check };

static const gk_rule cp_rules[] = {
	GK_R(GK_F_U8, 0, gk_pl_cp, cfg_type, NULL),
	GK_R0(GK_F_RESERVED, 3),
	GK_R(GK_F_CP_ATTRS, 0, gk_pl_cp, attrs, NULL),
};
DESC(gk_desc_pl_cp, "CP", gk_pl_cp, cp_rules);
