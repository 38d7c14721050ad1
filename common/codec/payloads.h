/* In-memory form of every IKEv2 and G-IKEv2 payload body, and the rules tables that encode them.
 * Parsed: chunks point into the message buffer and lists into the message arena (the gk_msg owns
 * both). Built: the caller owns everything the struct points to. */
#ifndef GK_PAYLOADS_H
#define GK_PAYLOADS_H

#include "codec.h"
#include "iana.h"

/* SA payload (RFC 7296 3.3); also SAg (RFC 9838 4.3). */
typedef struct gk_transform {
	uint8_t type;         /* GK_TT_* */
	uint16_t id;
	gk_attr_list attrs;   /* Key Length (14) TV; Signature Algorithm Identifier (18) TLV */
} gk_transform;
typedef GK_LIST(gk_transform) gk_transform_list;

typedef struct gk_proposal {
	uint8_t num, proto;   /* proposal number from 1; GK_PROTO_* */
	uint8_t spi_size;
	gk_chunk spi;
	gk_transform_list transforms;
} gk_proposal;

typedef struct gk_pl_sa {
	GK_LIST(gk_proposal) proposals;
} gk_pl_sa;

/* KE (3.4) */
typedef struct gk_pl_ke {
	uint16_t group;
	gk_chunk data;
} gk_pl_ke;

/* IDi, IDr (3.5) and IDg (RFC 9838 4.2) */
typedef struct gk_pl_id {
	uint8_t id_type;      /* GK_ID_* */
	gk_chunk data;
} gk_pl_id;

/* CERT (3.6) and CERTREQ (3.7) */
typedef struct gk_pl_cert {
	uint8_t encoding;     /* GK_CERT_* */
	gk_chunk data;
} gk_pl_cert;

/* AUTH (3.8) */
typedef struct gk_pl_auth {
	uint8_t method;       /* GK_AUTH_* */
	gk_chunk data;
} gk_pl_auth;

/* Nonce (3.9), Vendor ID (3.12), EAP (3.16) and any payload kept as bytes */
typedef struct gk_pl_bytes {
	gk_chunk data;
} gk_pl_bytes;

/* Notify (3.10) */
typedef struct gk_pl_notify {
	uint8_t proto, spi_size;
	uint16_t type;        /* GK_N_* */
	gk_chunk spi;
	gk_chunk data;
} gk_pl_notify;

/* Delete (3.11; RFC 9838 4.6 allows protocol 0 for a whole group) */
typedef struct gk_pl_delete {
	uint8_t proto, spi_size;
	GK_LIST(gk_chunk) spis;
} gk_pl_delete;

/* Traffic selector substructure (3.13.1) */
typedef struct gk_ts {
	uint8_t type;         /* GK_TS_IPV4_ADDR_RANGE / GK_TS_IPV6_ADDR_RANGE */
	uint8_t ip_proto;     /* 0 = any */
	uint16_t start_port, end_port;
	gk_chunk start_addr, end_addr;
} gk_ts;
typedef GK_LIST(gk_ts) gk_ts_list;

/* TSi, TSr (3.13) */
typedef struct gk_pl_ts {
	gk_ts_list ts;
} gk_pl_ts;

/* SK (3.14): the opaque protected body (IV | ciphertext | ICV) */
typedef struct gk_pl_sk {
	gk_chunk data;
} gk_pl_sk;

/* SKF (RFC 7383 2.5) */
typedef struct gk_pl_skf {
	uint16_t frag_num, frag_total;
	gk_chunk data;
} gk_pl_skf;

/* CP (3.15) */
typedef struct gk_pl_cp {
	uint8_t cfg_type;     /* GK_CP_* */
	gk_attr_list attrs;
} gk_pl_cp;

/* GSA payload (RFC 9838 4.4): a list of policies; proto 0 = Group-wide policy (4.4.3),
 * otherwise a GSA policy (4.4.2) for GIKE_UPDATE, AH or ESP. proto must stay the first member:
 * the engine reads it to pick the encoding when building. */
typedef struct gk_gsa_policy {
	uint8_t proto;
	uint8_t spi_size;
	gk_chunk spi;
	gk_ts src, dst;
	gk_transform_list transforms;
	gk_attr_list attrs;   /* GSA attributes (4.4.2.2) or GW policy attributes (4.4.3.1) */
} gk_gsa_policy;

typedef struct gk_pl_gsa {
	GK_LIST(gk_gsa_policy) policies;
} gk_pl_gsa;

/* KD payload (RFC 9838 4.5): key bags; proto 0 = Member Key Bag (4.5.3), otherwise a Group Key
 * Bag (4.5.2). proto stays the first member, as above. */
typedef struct gk_key_bag {
	uint8_t proto;
	uint8_t spi_size;
	gk_chunk spi;
	gk_attr_list attrs;
} gk_key_bag;

typedef struct gk_pl_kd {
	GK_LIST(gk_key_bag) bags;
} gk_pl_kd;

/* Any payload body, by type. */
typedef union gk_payload_body {
	gk_pl_sa sa;
	gk_pl_ke ke;
	gk_pl_id id;
	gk_pl_cert cert;
	gk_pl_auth auth;
	gk_pl_bytes bytes;
	gk_pl_notify notify;
	gk_pl_delete del;
	gk_pl_ts ts;
	gk_pl_sk sk;
	gk_pl_skf skf;
	gk_pl_cp cp;
	gk_pl_gsa gsa;
	gk_pl_kd kd;
} gk_payload_body;

/* The rules table of a payload type's body, NULL for unknown types. */
const gk_desc *gk_payload_desc(uint8_t type);

/* Substructure tables, exported for tests and for code that encodes pieces alone. */
extern const gk_desc gk_desc_transform, gk_desc_proposal, gk_desc_ts, gk_desc_gsa_item,
	gk_desc_key_bag;

#endif
