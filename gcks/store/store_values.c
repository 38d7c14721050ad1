/* What the store hands out and the caller frees, whichever backend made it. */
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "gcks/storage.h"

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
