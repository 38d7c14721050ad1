/* IKEv2 messages (RFC 7296 3.1, 3.2): header, payload chains inside and outside SK, and the
 * protection of the SK payload. A message is parsed in two steps: gk_msg_parse() takes the
 * header and the unprotected payloads, gk_msg_decrypt() opens SK with the IKE SA's keys. */
#ifndef GK_MESSAGE_H
#define GK_MESSAGE_H

#include "payloads.h"
#include "sk.h"

#define GK_HDR_LEN 28
#define GK_GENERIC_HDR_LEN 4
#define GK_FLAG_I 0x08  /* sent by the original initiator */
#define GK_FLAG_V 0x10
#define GK_FLAG_R 0x20  /* response */
#define GK_IKE_VERSION 0x20 /* major 2, minor 0 */
#define GK_MAX_MESSAGE 65535

typedef struct gk_hdr {
	uint64_t spi_i, spi_r;
	uint8_t next_payload, version, exchange, flags;
	uint32_t msg_id, length;
} gk_hdr;

/* Parses the fixed header. GK_E_TRUNCATED if in is shorter than the header or than its length
 * field, GK_E_UNSUPPORTED for a major version other than 2 (the caller answers
 * INVALID_MAJOR_VERSION), GK_E_MALFORMED for a length field below 28. */
gk_status gk_hdr_parse(gk_chunk in, gk_hdr *h);
void gk_hdr_build(const gk_hdr *h, gk_wbuf *out);

/* One payload of a parsed message. body points into the message arena. */
typedef struct gk_payload {
	uint8_t type;
	bool critical;
	bool encrypted;         /* carried inside SK */
	size_t offset;          /* of the generic header, in the datagram or in the plaintext */
	gk_chunk raw;           /* the body, without generic header */
	gk_payload_body *body;
} gk_payload;

/* A parsed message. Owns its arena, which holds a copy of the datagram, the decrypted
 * plaintext, the payload array and all bodies. */
typedef struct gk_msg {
	gk_hdr hdr;
	gk_chunk data;          /* the whole datagram */
	GK_LIST(gk_payload) pl; /* outer payloads first, then (once decrypted) the inner ones */
	size_t sk_index;        /* index in pl of SK or SKF, SIZE_MAX if none */
	uint8_t sk_first;       /* first inner payload type, from the SK header */
	bool decrypted;         /* SK was verified and opened (inner parsing may still have failed) */
	gk_chunk plain;         /* the decrypted inner payloads (arena copy); offsets of inner payloads point here */
	uint8_t bad_critical;   /* type of an unsupported critical payload, if that failed parsing */
	gk_codec_err err;       /* where parsing failed, for logs */
	gk_arena arena;
} gk_msg;

gk_status gk_msg_parse(gk_msg *m, gk_chunk datagram);
/* Verifies and decrypts SK with the peer's keys and parses the inner payloads. */
gk_status gk_msg_decrypt(gk_msg *m, const gk_sk_keys *k);
/* Parses a payload chain that is already in the clear (the reassembled inner payloads of
 * fragments): appends to m->pl as encrypted payloads; the plaintext is copied into the arena. */
gk_status gk_msg_add_inner(gk_msg *m, uint8_t first_type, gk_chunk plain);
void gk_msg_free(gk_msg *m);

const gk_payload *gk_msg_find(const gk_msg *m, uint8_t type);
/* The next payload of `type` after `prev` (NULL = from the start). */
const gk_payload *gk_msg_next(const gk_msg *m, const gk_payload *prev, uint8_t type);
const gk_payload *gk_msg_find_notify(const gk_msg *m, uint16_t notify_type);
/* First error notify (type < 16384), NULL if none. */
const gk_payload *gk_msg_find_error(const gk_msg *m);

/* A payload to build: body is the struct for `type` (see payloads.h), owned by the caller. */
typedef struct gk_out_pl {
	uint8_t type;
	bool critical;
	const void *body;
} gk_out_pl;

typedef struct gk_msg_out {
	gk_hdr hdr;             /* next_payload and length are computed */
	const gk_out_pl *outer;
	size_t nouter;
	const gk_out_pl *inner; /* protected in SK */
	size_t ninner;
	bool protect;           /* add SK (even if ninner is 0) */
} gk_msg_out;

/* Builds and, if protect, encrypts with k. Appends the datagram to out. */
gk_status gk_msg_build(const gk_msg_out *o, const gk_sk_keys *k, const gk_rand *rnd, gk_wbuf *out);
/* Builds a chain of payloads alone (no header); next payload of the last one is `last_next`. */
gk_status gk_chain_build(const gk_out_pl *pl, size_t n, uint8_t last_next, gk_wbuf *out);

#endif
