/* The libFuzzer entry point every test/fuzz/fuzz_*.c defines. Built two ways: with clang and
 * -fsanitize=fuzzer for `make fuzz`, and with the normal compiler plus replay_main.c for the
 * corpus replay tests of `make check`. */
#ifndef GK_FUZZ_H
#define GK_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A codec or crypto invariant broke: abort so libFuzzer saves the input (and replay fails). */
#define FUZZ_ASSERT(cond) do { if (!(cond)) fuzz_fail(#cond, __FILE__, __LINE__); } while (0)
__attribute__((noreturn)) static inline void fuzz_fail(const char *what, const char *file, int line)
{
	fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", file, line, what);
	abort();
}

/* Parsing may allocate a few dozen times its input (payload arrays, list items), never more:
 * a bound on the parse arena catches small inputs that make the receiver allocate megabytes. */
#define FUZZ_ARENA_BOUND(input_len) (128 * (size_t)(input_len) + 8192)

#endif
