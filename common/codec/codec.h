/* The codec engine: every payload and substructure is described by a rules table
 * (field, width, kind, where it lives in the C struct); one engine parses and builds from it.
 * Parsed chunks point into the input buffer, lists live in the caller's arena. */
#ifndef GK_CODEC_H
#define GK_CODEC_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "arena.h"
#include "chunk.h"

/* A list inside a parsed struct; items are allocated in the arena of the parse, or owned by
 * whoever fills the struct for building. Layout shared by every GK_LIST(T). */
#define GK_LIST(T) struct { T *items; size_t n; }
typedef GK_LIST(void) gk_list_any;

enum gk_field_kind {
	GK_F_U8, GK_F_U16, GK_F_U32, GK_F_U64, /* unsigned big-endian into uintN_t */
	GK_F_RESERVED,   /* arg octets: zero when built, ignored when parsed */
	GK_F_LEN16,      /* length of the enclosing structure, header included */
	GK_F_LAST,       /* "Last Substruc": 0 for the last item, arg for the others */
	GK_F_SPI_SIZE,   /* 1 octet: size of the next GK_F_SPI or GK_F_SPI_LIST items */
	GK_F_COUNT8,     /* item count of the next list field */
	GK_F_COUNT16,
	GK_F_SPI,        /* gk_chunk, size from GK_F_SPI_SIZE */
	GK_F_REST,       /* gk_chunk: all remaining octets of the structure */
	GK_F_HALF,       /* gk_chunk: half of the remaining octets (TS start/end address) */
	GK_F_STRUCT,     /* one embedded sub struct (bounded by its own GK_F_LEN16) */
	GK_F_LIST,       /* list of sub structs: by count if a count preceded, else to the end */
	GK_F_LIST_LAST,  /* list of sub structs ending with the item whose GK_F_LAST is 0 */
	GK_F_SPI_LIST,   /* GK_LIST(gk_chunk) of SPI-size items, count from GK_F_COUNT* */
	GK_F_ATTRS,      /* GK_LIST(gk_attr) data attributes (RFC 7296 3.3.5), to the end */
	GK_F_CP_ATTRS,   /* GK_LIST(gk_attr) configuration attributes (RFC 7296 3.15.1), to the end */
};

typedef struct gk_attr {
	uint16_t type;   /* without the AF / R bit */
	bool tv;         /* TV format: the value is `tv_value` */
	uint16_t tv_value;
	gk_chunk value;  /* TLV value */
} gk_attr;
typedef GK_LIST(gk_attr) gk_attr_list;

struct gk_desc;

typedef struct gk_rule {
	uint8_t kind;
	uint8_t arg;
	uint8_t width;                /* octets of a fixed-size kind (GK_FIXED_WIDTH), 0 for the others */
	uint16_t offset;              /* offsetof the field in the struct */
	const struct gk_desc *sub;    /* for lists */
	const char *name;             /* field name, for errors */
} gk_rule;

/* Description of one payload body or substructure. */
typedef struct gk_desc {
	const char *name;
	size_t size;                  /* sizeof the C struct */
	const gk_rule *rules;
	size_t nrules;
	/* For a union substructure (GSA policy/GW policy, group/member key bag): picks the
	 * description by the first octet. NULL for plain structures. */
	const struct gk_desc *(*select)(uint8_t first_octet);
	/* Semantic check after parsing and before building (e.g. TS address sizes). */
	gk_status (*check)(const void *obj);
} gk_desc;

#define GK_RULES(r) .rules = (r), .nrules = sizeof(r) / sizeof((r)[0])
/* The octets a field takes when its kind fixes them (GK_F_RESERVED: arg), 0 when the input
 * gives its size: a constant the rules tables carry, so the engine's field loop looks up nothing. */
#define GK_FIXED_WIDTH(kind, arg) \
	((kind) == GK_F_U8 || (kind) == GK_F_LAST || (kind) == GK_F_SPI_SIZE || (kind) == GK_F_COUNT8 ? 1 : \
	 (kind) == GK_F_U16 || (kind) == GK_F_LEN16 || (kind) == GK_F_COUNT16 ? 2 : \
	 (kind) == GK_F_U32 ? 4 : (kind) == GK_F_U64 ? 8 : (kind) == GK_F_RESERVED ? (arg) : 0)
#define GK_R(kind, arg, type, field, sub) \
	{ (kind), (arg), GK_FIXED_WIDTH(kind, arg), (uint16_t)offsetof(type, field), (sub), #field }
#define GK_R0(kind, arg) { (kind), (arg), GK_FIXED_WIDTH(kind, arg), 0, NULL, NULL }

/* Where a parse failed: the innermost structure and field, and the offset in the input. */
typedef struct gk_codec_err {
	const char *where;
	const char *field;
	size_t offset;
} gk_codec_err;

/* Parses `in` (exactly one structure of desc, whose LEN16 if any must equal in.len)
 * into obj (desc->size octets, zeroed by the caller). */
gk_status gk_codec_parse(const gk_desc *desc, gk_chunk in, gk_arena *arena, void *obj,
			 gk_codec_err *err);
/* Appends the encoding of obj. */
gk_status gk_codec_build(const gk_desc *desc, const void *obj, gk_wbuf *out);

/* Finds the first attribute of a type, NULL if none. */
const gk_attr *gk_attr_find(const gk_attr_list *l, uint16_t type);
size_t gk_attr_count(const gk_attr_list *l, uint16_t type);

#endif
