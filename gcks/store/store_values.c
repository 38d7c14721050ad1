/* What the store hands out and the caller frees, whichever backend made it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "store_backend.h"
#include "ke.h"

void gk_store_names_free(char **names, size_t n)
{
	for (size_t i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
}

/* Wipes the private keys before freeing them. */
void gk_gcks_identity_free(gk_gcks_identity *id)
{
	if (!id)
		return;
	if (id->sign_key_pem) {
		OPENSSL_cleanse(id->sign_key_pem, strlen(id->sign_key_pem));
		free(id->sign_key_pem);
	}
	free(id->cert_pem);
	free(id->ca_pem);
	if (id->next_sign_key_pem) {
		OPENSSL_cleanse(id->next_sign_key_pem, strlen(id->next_sign_key_pem));
		free(id->next_sign_key_pem);
	}
	memset(id, 0, sizeof(*id));
}

/* Grows *arr by one zeroed element of size sz; the new element is at index *n - 1.
 * The arrays this builds start empty and only grow through here, so the capacity is the next
 * power of two: loading n rows copies O(n) elements, not O(n^2) (gcksd under AddressSanitizer,
 * whose realloc always copies, needed over a minute to load a group of 20,000 members). */
gk_status gk_store_grow(void **arr, size_t *n, size_t sz)
{
	if ((*n & (*n - 1)) == 0) { /* 0 or a power of two: full */
		size_t cap = *n ? *n * 2 : 1;
		if (cap > SIZE_MAX / sz)
			return GK_E_NOMEM;
		void *p = realloc(*arr, cap * sz);
		if (!p)
			return GK_E_NOMEM;
		*arr = p;
	}
	memset((uint8_t *)*arr + *n * sz, 0, sz);
	(*n)++;
	return GK_OK;
}

/* Gives back the capacity gk_store_grow() left unused (for arrays that are kept). */
void gk_store_shrink(void **arr, size_t n, size_t sz)
{
	void *p = n ? realloc(*arr, n * sz) : NULL;
	if (p)
		*arr = p;
}

void gk_store_addke_text(const gk_group_policy *g, char *buf, size_t len)
{
	if (!gk_ke_list_text(g->addke, g->naddke, buf, len) && len)
		buf[0] = 0; /* only methods of the table ever reach a policy (policy_yaml.c) */
}

gk_status gk_store_addke_parse(const char *text, gk_group_policy *g)
{
	size_t n = 0;
	char why[256];
	g->naddke = 0;
	if (!*text)
		return GK_OK;
	if (gk_ke_parse_list(text, g->addke, GK_ADDKE_MAX, &n, why, sizeof(why)))
		return GK_E_STATE;
	g->naddke = (uint8_t)n;
	return GK_OK;
}
