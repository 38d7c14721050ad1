/* A small JSON writer (output only: gmd --json, gcksctl --json and the control socket answers).
 * It tracks nesting to place commas; strings are escaped per RFC 8259. */
#ifndef GK_JSON_H
#define GK_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define GK_JSON_DEPTH 16

typedef struct gk_json {
	FILE *out;
	int depth;
	bool first[GK_JSON_DEPTH];
	bool after_key;
} gk_json;

void gk_json_init(gk_json *j, FILE *out);
void gk_json_obj(gk_json *j);      /* { */
void gk_json_obj_end(gk_json *j);  /* } */
void gk_json_arr(gk_json *j);      /* [ */
void gk_json_arr_end(gk_json *j);  /* ] */
void gk_json_key(gk_json *j, const char *k);
void gk_json_str(gk_json *j, const char *s);
void gk_json_hex(gk_json *j, const uint8_t *p, size_t n);
void gk_json_int(gk_json *j, long long v);
void gk_json_bool(gk_json *j, bool v);
void gk_json_null(gk_json *j);
/* key + value shorthands */
void gk_json_kstr(gk_json *j, const char *k, const char *s);
void gk_json_kint(gk_json *j, const char *k, long long v);
/* k: unix_ms as an RFC 3339 UTC time stamp with milliseconds ("2026-01-31T12:00:00.250Z"). */
void gk_json_ktime(gk_json *j, const char *k, int64_t unix_ms);
void gk_json_kbool(gk_json *j, const char *k, bool v);

#endif
