#include <stdlib.h>
#include <string.h>
#include "diag.h"

void gk_diag_init(gk_diag *d)
{
	memset(d, 0, sizeof(*d));
}

void gk_diag_clear(gk_diag *d)
{
	for (size_t i = 0; i < d->count; i++)
		free(d->msgs[i].text);
	d->count = d->errors = d->warnings = d->dropped = 0;
}

void gk_diag_free(gk_diag *d)
{
	gk_diag_clear(d);
	free(d->msgs);
	memset(d, 0, sizeof(*d));
}

static void keep(gk_diag *d, gk_diag_level level, char *text)
{
	if (!text || d->count >= GK_DIAG_MAX)
		goto drop;
	if (d->count == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 16;
		gk_diag_msg *m = realloc(d->msgs, cap * sizeof(*m));
		if (!m)
			goto drop;
		d->msgs = m;
		d->cap = cap;
	}
	d->msgs[d->count++] = (gk_diag_msg){ .level = level, .text = text };
	return;
drop:
	free(text);
	d->dropped++;
}

static void count(gk_diag *d, gk_diag_level level)
{
	if (level == GK_DIAG_ERROR)
		d->errors++;
	else
		d->warnings++;
}

void gk_diag_vadd(gk_diag *d, gk_diag_level level, const char *fmt, va_list ap)
{
	char *text = NULL;
	count(d, level);
	if (vasprintf(&text, fmt, ap) < 0)
		text = NULL;
	keep(d, level, text);
}

void gk_diag_add(gk_diag *d, gk_diag_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	gk_diag_vadd(d, level, fmt, ap);
	va_end(ap);
}

void gk_diag_at(gk_diag *d, gk_diag_level level, const char *file, unsigned long line,
		unsigned long col, const char *field, const char *fmt, ...)
{
	char *msg = NULL;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (!msg) {
		count(d, level);
		keep(d, level, NULL);
		return;
	}
	gk_diag_add(d, level, "%s:%lu:%lu: %s: %s%s", file, line, col, field,
		    level == GK_DIAG_WARNING ? "warning: " : "", msg);
	free(msg);
}

const char *gk_diag_text(const gk_diag *d, size_t i)
{
	return i < d->count ? d->msgs[i].text : NULL;
}

void gk_diag_print(const gk_diag *d, FILE *out)
{
	for (size_t i = 0; i < d->count; i++)
		fprintf(out, "%s\n", d->msgs[i].text);
	if (d->dropped)
		fprintf(out, "(%zu more messages not shown)\n", d->dropped);
}
