/* Diagnostics for files admins edit (policy files): every problem found in one run is kept,
 * so an admin fixes them all at once instead of one per attempt. Each message is one line,
 *   FILE:LINE:COLUMN: field: message
 *   FILE:LINE:COLUMN: field: warning: message
 * with LINE and COLUMN 1-based and field a dotted path such as groups[0].sas[1].encryption. */
#ifndef GK_DIAG_H
#define GK_DIAG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Messages kept at most; further ones are only counted (a broken or hostile file must not make
 * us allocate without bound). */
#define GK_DIAG_MAX 1000

typedef enum gk_diag_level { GK_DIAG_ERROR = 0, GK_DIAG_WARNING } gk_diag_level;

typedef struct gk_diag_msg {
	gk_diag_level level;
	char *text;               /* the whole line, without newline */
} gk_diag_msg;

typedef struct gk_diag {
	gk_diag_msg *msgs;
	size_t count, cap;
	size_t errors, warnings;  /* all reported, kept or not */
	size_t dropped;           /* reported beyond GK_DIAG_MAX or lost to allocation failure */
} gk_diag;

void gk_diag_init(gk_diag *d);
void gk_diag_free(gk_diag *d);
/* Drops every message and resets the counters. */
void gk_diag_clear(gk_diag *d);

/* A message of free form (no position), e.g. "FILE: cannot read: reason". */
void gk_diag_add(gk_diag *d, gk_diag_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void gk_diag_vadd(gk_diag *d, gk_diag_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
/* FILE:LINE:COLUMN: field: [warning: ]message. */
void gk_diag_at(gk_diag *d, gk_diag_level level, const char *file, unsigned long line,
		unsigned long col, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));

/* Text of message i, NULL past the end. */
const char *gk_diag_text(const gk_diag *d, size_t i);
/* Writes every kept message, one per line, then a count of those not kept (if any). */
void gk_diag_print(const gk_diag *d, FILE *out);

#endif
