#include <time.h>
#include "json.h"

void gk_json_init(gk_json *j, FILE *out)
{
	j->out = out;
	j->depth = 0;
	j->first[0] = true;
	j->after_key = false;
}

static void sep(gk_json *j)
{
	if (j->after_key) {
		j->after_key = false;
		return;
	}
	if (!j->first[j->depth])
		fputc(',', j->out);
	j->first[j->depth] = false;
}

static void open(gk_json *j, char c)
{
	sep(j);
	fputc(c, j->out);
	if (j->depth + 1 < GK_JSON_DEPTH)
		j->depth++;
	j->first[j->depth] = true;
}

static void close_(gk_json *j, char c)
{
	fputc(c, j->out);
	if (j->depth > 0)
		j->depth--;
}

void gk_json_obj(gk_json *j) { open(j, '{'); }
void gk_json_obj_end(gk_json *j) { close_(j, '}'); }
void gk_json_arr(gk_json *j) { open(j, '['); }
void gk_json_arr_end(gk_json *j) { close_(j, ']'); }

static void raw_str(gk_json *j, const char *s)
{
	fputc('"', j->out);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"': fputs("\\\"", j->out); break;
		case '\\': fputs("\\\\", j->out); break;
		case '\n': fputs("\\n", j->out); break;
		case '\r': fputs("\\r", j->out); break;
		case '\t': fputs("\\t", j->out); break;
		default:
			if (*p < 0x20)
				fprintf(j->out, "\\u%04x", *p);
			else
				fputc(*p, j->out);
		}
	}
	fputc('"', j->out);
}

void gk_json_key(gk_json *j, const char *k)
{
	sep(j);
	raw_str(j, k);
	fputc(':', j->out);
	j->after_key = true;
}

void gk_json_str(gk_json *j, const char *s)
{
	sep(j);
	if (s)
		raw_str(j, s);
	else
		fputs("null", j->out);
}

void gk_json_hex(gk_json *j, const uint8_t *p, size_t n)
{
	sep(j);
	fputc('"', j->out);
	for (size_t i = 0; i < n; i++)
		fprintf(j->out, "%02x", p[i]);
	fputc('"', j->out);
}

void gk_json_int(gk_json *j, long long v) { sep(j); fprintf(j->out, "%lld", v); }
void gk_json_bool(gk_json *j, bool v) { sep(j); fputs(v ? "true" : "false", j->out); }
void gk_json_null(gk_json *j) { sep(j); fputs("null", j->out); }
void gk_json_kstr(gk_json *j, const char *k, const char *s) { gk_json_key(j, k); gk_json_str(j, s); }
void gk_json_kint(gk_json *j, const char *k, long long v) { gk_json_key(j, k); gk_json_int(j, v); }
void gk_json_kbool(gk_json *j, const char *k, bool v) { gk_json_key(j, k); gk_json_bool(j, v); }

void gk_json_ktime(gk_json *j, const char *k, int64_t unix_ms)
{
	char buf[40], ts[32];
	struct tm tm;
	time_t secs = (time_t)(unix_ms / 1000);
	int ms = (int)(unix_ms % 1000);
	if (ms < 0) {
		secs--;
		ms += 1000;
	}
	if (!gmtime_r(&secs, &tm) || !strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm))
		snprintf(ts, sizeof(ts), "1970-01-01T00:00:00");
	snprintf(buf, sizeof(buf), "%s.%03dZ", ts, ms);
	gk_json_kstr(j, k, buf);
}
