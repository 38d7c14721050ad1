/* Fuzzes the policy file loader (gcks/policy_yaml.c): any input must load or be refused with
 * diagnostics, never crash, leak or hang. Whatever loads must export, and the export must load
 * again and export to the same text (the round trip gcksctl policy export promises).
 * Standalone: needs only the loader's own headers. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gcks/policy_yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "%s:%d: policy_yaml fuzz invariant failed: %s\n", __FILE__, __LINE__, #cond); \
	abort(); } } while (0)

/* Exports n groups into a malloc'd string. */
static char *export_text(const gk_group_policy *g, size_t n)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	CHECK(f != NULL);
	CHECK(gk_policy_yaml_export(g, n, f) == GK_OK);
	CHECK(fclose(f) == 0);
	return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Relative psk-file / pubkey-file paths resolve under a directory that does not exist. */
	static const char name[] = "/nonexistent-gikev2-fuzz/policy.yaml";
	gk_group_policy *g = NULL, *g2 = NULL;
	size_t n = 0, n2 = 0;
	gk_diag d;

	if (size > 65536)
		return 0;
	gk_diag_init(&d);
	gk_status st = gk_policy_yaml_load_buf(name, (const char *)data, size, &g, &n, &d);
	CHECK(st == GK_OK || st == GK_E_INVAL || st == GK_E_NOMEM);
	CHECK(st != GK_E_INVAL || d.errors > 0);
	CHECK(st != GK_OK || (d.errors == 0 && n > 0 && g != NULL));
	if (st == GK_OK) {
		char *first = export_text(g, n);
		gk_diag_clear(&d);
		st = gk_policy_yaml_load_buf(name, first, strlen(first), &g2, &n2, &d);
		if (st != GK_OK)
			gk_diag_print(&d, stderr);
		CHECK(st == GK_OK && n2 == n);
		char *second = export_text(g2, n2);
		CHECK(strcmp(first, second) == 0);
		free(first);
		free(second);
	}
	gk_policy_yaml_free(g, n);
	gk_policy_yaml_free(g2, n2);
	gk_diag_free(&d);
	return 0;
}
