#include <ctype.h>
#include <ftw.h>
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

#define TU_MAX_TMPDIRS 16
static char tmpdirs[TU_MAX_TMPDIRS][128];
static size_t ntmpdirs;

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	remove(path);
	return 0;
}

static void rm_tmpdirs(void)
{
	for (size_t i = 0; i < ntmpdirs; i++)
		nftw(tmpdirs[i], rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	ntmpdirs = 0;
}

char *tu_mkdtemp(char *tmpl)
{
	static int registered;
	if (!mkdtemp(tmpl))
		return NULL;
	if (!registered)
		registered = !atexit(rm_tmpdirs);
	if (ntmpdirs < TU_MAX_TMPDIRS && strlen(tmpl) < sizeof(tmpdirs[0]))
		strcpy(tmpdirs[ntmpdirs++], tmpl);
	return tmpl;
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
