/* Payload type -> rules table. */
#include "payloads.h"

extern const gk_desc gk_desc_pl_sa, gk_desc_pl_ts, gk_desc_pl_gsa, gk_desc_pl_kd, gk_desc_pl_ke,
	gk_desc_pl_id, gk_desc_pl_cert, gk_desc_pl_auth, gk_desc_pl_bytes, gk_desc_pl_notify,
	gk_desc_pl_delete, gk_desc_pl_skf, gk_desc_pl_cp;

const gk_desc *gk_payload_desc(uint8_t type)
{
	switch (type) {
	case GK_PL_SA: return &gk_desc_pl_sa;
	case GK_PL_KE: return &gk_desc_pl_ke;
	case GK_PL_IDi: case GK_PL_IDr: case GK_PL_IDg: return &gk_desc_pl_id;
	case GK_PL_CERT: case GK_PL_CERTREQ: return &gk_desc_pl_cert;
	case GK_PL_AUTH: return &gk_desc_pl_auth;
	case GK_PL_NONCE: case GK_PL_VENDOR: case GK_PL_EAP: case GK_PL_SK: return &gk_desc_pl_bytes;
	case GK_PL_NOTIFY: return &gk_desc_pl_notify;
	case GK_PL_DELETE: return &gk_desc_pl_delete;
	case GK_PL_TSi: case GK_PL_TSr: return &gk_desc_pl_ts;
	case GK_PL_SKF: return &gk_desc_pl_skf;
	case GK_PL_CP: return &gk_desc_pl_cp;
	case GK_PL_GSA: return &gk_desc_pl_gsa;
	case GK_PL_KD: return &gk_desc_pl_kd;
	default: return NULL;
	}
}
