/* The Prometheus text exposition format, written. */
#include <math.h>
#include "prom.h"

static void escaped(FILE *f, const char *s, int quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else if (quote && *s == '"')
			fputs("\\\"", f);
		else
			fputc(*s, f);
	}
}

void gk_prom_family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s ", name);
	escaped(f, help, 0);
	fprintf(f, "\n# TYPE %s %s\n", name, type);
}

static void head(FILE *f, const char *name, const gk_prom_label *l, size_t nl)
{
	fputs(name, f);
	if (!nl)
		return;
	fputc('{', f);
	for (size_t i = 0; i < nl; i++) {
		fprintf(f, "%s%s=\"", i ? "," : "", l[i].name);
		escaped(f, l[i].value ? l[i].value : "", 1);
		fputc('"', f);
	}
	fputc('}', f);
}

void gk_prom_u64(FILE *f, const char *name, const gk_prom_label *l, size_t nl, uint64_t v)
{
	head(f, name, l, nl);
	fprintf(f, " %llu\n", (unsigned long long)v);
}

void gk_prom_i64(FILE *f, const char *name, const gk_prom_label *l, size_t nl, int64_t v)
{
	head(f, name, l, nl);
	fprintf(f, " %lld\n", (long long)v);
}

void gk_prom_double(FILE *f, const char *name, const gk_prom_label *l, size_t nl, double v)
{
	head(f, name, l, nl);
	if (isnan(v))
		fputs(" NaN\n", f);
	else if (isinf(v))
		fputs(v > 0 ? " +Inf\n" : " -Inf\n", f);
	else
		fprintf(f, " %.17g\n", v);
}
