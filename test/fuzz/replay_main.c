/* Regression test for `make check`: feeds every saved corpus input and every crash reproducer
 * of one fuzz target to its LLVMFuzzerTestOneInput, built with the normal compiler (and so
 * under ASan/UBSan in the sanitizer build). The target name comes from -DREPLAY_NAME; the
 * inputs are read from GK_SRCDIR/test/fuzz/{corpus,crashes}/NAME. With arguments, replays just
 * those files instead (to reproduce one crash under a debugger). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz.h"

#ifndef REPLAY_NAME
#error "REPLAY_NAME must name the fuzz target"
#endif

#define REPLAY_MAX_INPUT (1u << 20) /* libFuzzer's default -max_len is far below this */

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "replay %s: %s: %s\n", REPLAY_NAME, path, strerror(errno));
		return -1;
	}
	uint8_t *buf = malloc(REPLAY_MAX_INPUT);
	size_t n = buf ? fread(buf, 1, REPLAY_MAX_INPUT, f) : 0;
	int bad = !buf || ferror(f) || !feof(f);
	fclose(f);
	if (bad) {
		fprintf(stderr, "replay %s: %s: cannot read (or larger than %u octets)\n",
			REPLAY_NAME, path, REPLAY_MAX_INPUT);
		free(buf);
		return -1;
	}
	/* An exact-size copy, so that ASan catches reads past the input as libFuzzer's does. */
	uint8_t *in = malloc(n ? n : 1);
	if (!in) {
		free(buf);
		return -1;
	}
	memcpy(in, buf, n);
	free(buf);
	LLVMFuzzerTestOneInput(in, n);
	free(in);
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Replays every regular file of dir (dot files such as .gitkeep excluded), in name order so
 * that a failure is reproducible. A missing directory counts as empty. */
static int replay_dir(const char *dir, size_t *count)
{
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : (fprintf(stderr, "replay %s: %s: %s\n", REPLAY_NAME,
						      dir, strerror(errno)), -1);
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	for (struct dirent *e; (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			char **nn = realloc(names, cap * sizeof(*names));
			if (!nn) {
				rc = -1;
				break;
			}
			names = nn;
		}
		if (!(names[n] = strdup(e->d_name))) {
			rc = -1;
			break;
		}
		n++;
	}
	closedir(d);
	if (names)
		qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n; i++) {
		char path[4096];
		if (rc == 0 && (size_t)snprintf(path, sizeof(path), "%s/%s", dir, names[i]) < sizeof(path)) {
			if (replay_file(path) != 0)
				rc = -1;
			else
				(*count)++;
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

int main(int argc, char **argv)
{
	size_t count = 0;
	int rc = 0;
	if (argc > 1) {
		for (int i = 1; i < argc && rc == 0; i++)
			if ((rc = replay_file(argv[i])) == 0)
				count++;
	} else {
		static const char *const kinds[] = { "corpus", "crashes" };
		for (size_t i = 0; i < 2 && rc == 0; i++) {
			char dir[4096];
			snprintf(dir, sizeof(dir), "%s/test/fuzz/%s/%s", GK_SRCDIR, kinds[i], REPLAY_NAME);
			rc = replay_dir(dir, &count);
			/* An empty corpus means a wrong path or a lost corpus, not a pass. */
			if (rc == 0 && i == 0 && count == 0) {
				fprintf(stderr, "replay %s: no inputs in %s\n", REPLAY_NAME, dir);
				rc = -1;
			}
		}
	}
	printf("replay %s: %zu inputs\n", REPLAY_NAME, count);
	return rc == 0 ? 0 : 1;
}
