#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testutil.h"

static void **allocs;
static size_t nallocs;

static int hexval(int c)
{
	if (c >= '0' && c <= '9') return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	return -1;
}

uint8_t *tu_hex(const char *hex, size_t *len)
{
	size_t n = strlen(hex);
	uint8_t *out = malloc(n / 2 + 1);
	ck_assert_ptr_nonnull(out);
	size_t o = 0;
	int hi = -1;
	for (size_t i = 0; i < n; i++) {
		if (isspace((unsigned char)hex[i]))
			continue;
		int v = hexval((unsigned char)hex[i]);
		ck_assert_msg(v >= 0, "bad hex digit '%c'", hex[i]);
		if (hi < 0) {
			hi = v;
		} else {
			out[o++] = (uint8_t)(hi << 4 | v);
			hi = -1;
		}
	}
	ck_assert_msg(hi < 0, "odd number of hex digits");
	*len = o;
	return out;
}

gk_chunk tu_hexc(const char *hex)
{
	size_t len;
	uint8_t *p = tu_hex(hex, &len);
	void **n = realloc(allocs, (nallocs + 1) * sizeof(*n));
	ck_assert_ptr_nonnull(n);
	allocs = n;
	allocs[nallocs++] = p;
	return GK_CHUNK(p, len);
}

void tu_free_all(void)
{
	for (size_t i = 0; i < nallocs; i++)
		free(allocs[i]);
	free(allocs);
	allocs = NULL;
	nallocs = 0;
}

const char *tu_tohex(const uint8_t *p, size_t n)
{
	static char bufs[4][2049];
	static int which;
	char *b = bufs[which++ & 3];
	size_t o = 0;
	for (size_t i = 0; i < n && o + 2 < sizeof(bufs[0]); i++)
		o += (size_t)snprintf(b + o, 3, "%02x", p[i]);
	b[o] = 0;
	return b;
}

void tu_skip(const char *what, const char *why)
{
	const char *req = getenv("GK_REQUIRE_ALL");
	if (req && !strcmp(req, "1"))
		ck_abort_msg("%s cannot run here: %s (GK_REQUIRE_ALL=1: no test may skip)", what, why);
	printf("SKIP: %s: %s\n", what, why);
	fflush(stdout);
}

int tu_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	tu_free_all();
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
