/* Helpers shared by the Check unit tests. */
#ifndef GK_TESTUTIL_H
#define GK_TESTUTIL_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>
#include "chunk.h"

/* Decodes a hex string (whitespace ignored) into a malloc'd buffer; aborts the test on bad hex. */
uint8_t *tu_hex(const char *hex, size_t *len);
/* The same as a chunk whose memory lives until tu_free_all(). */
gk_chunk tu_hexc(const char *hex);
void tu_free_all(void);
/* Lower-case hex of a buffer in a static rotating buffer (for messages). */
const char *tu_tohex(const uint8_t *p, size_t n);
/* Runs a suite and returns the process exit status (0 when all pass). */
int tu_run(Suite *s);
/* A test (or part of one) that cannot run here, say without root: prints "SKIP: what: why" and
 * returns, and the caller leaves that part out. With GK_REQUIRE_ALL=1 in the environment (CI,
 * which runs as root with every package) the test fails instead: nothing may skip there. */
void tu_skip(const char *what, const char *why);
/* mkdtemp, and the directory with everything in it is removed when the test process exits, also
 * after a failed assertion (Check ends a failed test's process with exit): test databases and
 * PEM files hold private keys. Returns tmpl, or NULL as mkdtemp does. */
char *tu_mkdtemp(char *tmpl);

#define ck_assert_mem_hex(ptr, len, hex) do { \
	size_t tu_len_; uint8_t *tu_exp_ = tu_hex(hex, &tu_len_); \
	ck_assert_msg((size_t)(len) == tu_len_, "length %zu, expected %zu", (size_t)(len), tu_len_); \
	ck_assert_msg(memcmp((ptr), tu_exp_, tu_len_) == 0, "got %s", tu_tohex((ptr), (len))); \
	free(tu_exp_); } while (0)

#endif
