/* Fuzzes the identity text forms (what admins write in policy files and gcksctl takes) and
 * identities from ID payloads. A parsed text's canonical form must parse to the same identity. */
#include <string.h>
#include "fuzz.h"
#include "ident.h"
#include "iana.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	char *text = malloc(size + 1); /* NUL-terminated copy, exact size for ASan */
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;

	gk_ident id, id2;
	char buf[GK_IDENT_TEXT_MAX], buf2[GK_IDENT_TEXT_MAX];
	char why[GK_ERR_MAX] = "";
	if (gk_ident_parse(text, &id, why, sizeof(why)) == GK_OK) {
		gk_ident_text(&id, buf);
		FUZZ_ASSERT(strlen(buf) < GK_IDENT_TEXT_MAX);
		FUZZ_ASSERT(gk_ident_parse(buf, &id2, why, sizeof(why)) == GK_OK);
		FUZZ_ASSERT(gk_ident_eq(&id, &id2));
		FUZZ_ASSERT(strcmp(gk_ident_text(&id2, buf2), buf) == 0);
	} else {
		FUZZ_ASSERT(why != NULL);
	}

	/* The same octets as an ID payload: type octet, then identification data. */
	if (size >= 1 && gk_ident_from_payload(data[0], GK_CHUNK(text + 1, size - 1), &id) == GK_OK) {
		gk_ident_text(&id, buf);
		FUZZ_ASSERT(strlen(buf) < GK_IDENT_TEXT_MAX);
		FUZZ_ASSERT(gk_ident_eq(&id, &id));
	}
	free(text);
	return 0;
}
