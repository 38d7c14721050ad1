/* A writer of the Prometheus text exposition format (version 0.0.4): metric families with HELP
 * and TYPE lines, samples with labels escaped as the format requires (backslash, double quote,
 * line feed in label values; backslash and line feed in HELP text). Output only; what the
 * samples mean is the caller's (gcks/metrics.c, gmd's). */
#ifndef GK_PROM_H
#define GK_PROM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define GK_PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

typedef struct gk_prom_label {
	const char *name;           /* [a-zA-Z_][a-zA-Z0-9_]*, the caller's constant */
	const char *value;          /* any text; escaped */
} gk_prom_label;

/* # HELP name help / # TYPE name type (counter, gauge, histogram, summary, untyped) */
void gk_prom_family(FILE *f, const char *name, const char *type, const char *help);
/* name{labels} value: nl labels (0: none); integers exactly, others as %.17g, NaN and
 * +Inf/-Inf as the format spells them */
void gk_prom_u64(FILE *f, const char *name, const gk_prom_label *l, size_t nl, uint64_t v);
void gk_prom_i64(FILE *f, const char *name, const gk_prom_label *l, size_t nl, int64_t v);
void gk_prom_double(FILE *f, const char *name, const gk_prom_label *l, size_t nl, double v);

#endif
