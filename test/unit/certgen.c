#include <stdio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include "certgen.h"

EVP_PKEY *cg_key_rsa(unsigned bits)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
}

EVP_PKEY *cg_key_ec(const char *curve)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
}

EVP_PKEY *cg_key_ed25519(void)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
}

EVP_PKEY *cg_key_ed448(void)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "ED448");
}

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	if (!ext)
		return -1;
	int ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok == 1 ? 0 : -1;
}

static int set_names(X509 *x, const cg_cert_opts *o, X509 *issuer_cert)
{
	X509_NAME *name = X509_get_subject_name(x);
	if (!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"gikev2 test", -1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)o->cn, -1, -1, 0))
		return -1;
	X509_NAME *issuer = issuer_cert ? X509_get_subject_name(issuer_cert) : name;
	return X509_set_issuer_name(x, issuer) == 1 ? 0 : -1;
}

static int set_validity(X509 *x, const cg_cert_opts *o)
{
	time_t base = o->base ? o->base : time(NULL);
	if (!X509_time_adj_ex(X509_getm_notBefore(x), 0, o->not_before, &base) ||
	    !X509_time_adj_ex(X509_getm_notAfter(x), 0, o->not_after, &base))
		return -1;
	return 0;
}

static int add_exts(X509 *x, const cg_cert_opts *o, X509 *issuer_cert)
{
	X509V3_CTX ctx;
	X509V3_set_ctx(&ctx, issuer_cert ? issuer_cert : x, x, NULL, NULL, 0);
	if (add_ext(x, &ctx, NID_basic_constraints, o->ca ? "critical,CA:TRUE" : "critical,CA:FALSE") ||
	    add_ext(x, &ctx, NID_key_usage, o->ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature") ||
	    add_ext(x, &ctx, NID_subject_key_identifier, "hash"))
		return -1;
	if (issuer_cert && add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always"))
		return -1;
	if (o->san && add_ext(x, &ctx, NID_subject_alt_name, o->san))
		return -1;
	if (o->eku && add_ext(x, &ctx, NID_ext_key_usage, o->eku))
		return -1;
	return 0;
}

/* EdDSA signs the message itself: X509_sign wants no digest for it. */
static const EVP_MD *sign_md(EVP_PKEY *key)
{
	return (EVP_PKEY_is_a(key, "ED25519") || EVP_PKEY_is_a(key, "ED448")) ? NULL : EVP_sha256();
}

X509 *cg_cert_issue(const cg_cert_opts *o, EVP_PKEY *subject_key, X509 *issuer_cert, EVP_PKEY *issuer_key)
{
	EVP_PKEY *signer = issuer_cert ? issuer_key : subject_key;
	X509 *x = X509_new();
	if (!x || !o || !o->cn || !subject_key || !signer)
		goto fail;
	if (X509_set_version(x, X509_VERSION_3) != 1 ||
	    ASN1_INTEGER_set(X509_get_serialNumber(x), o->serial ? o->serial : 1) != 1 ||
	    X509_set_pubkey(x, subject_key) != 1)
		goto fail;
	if (set_names(x, o, issuer_cert) || set_validity(x, o) || add_exts(x, o, issuer_cert))
		goto fail;
	if (X509_sign(x, signer, sign_md(signer)) <= 0)
		goto fail;
	return x;
fail:
	X509_free(x);
	ERR_clear_error();
	return NULL;
}

int cg_write_cert_pem(const char *path, X509 *x, bool append)
{
	FILE *fp = fopen(path, append ? "a" : "w");
	if (!fp)
		return -1;
	int ok = PEM_write_X509(fp, x);
	return (fclose(fp) == 0 && ok == 1) ? 0 : -1;
}

int cg_write_key_pem(const char *path, EVP_PKEY *key)
{
	FILE *fp = fopen(path, "w");
	if (!fp)
		return -1;
	int ok = PEM_write_PrivateKey(fp, key, NULL, NULL, 0, NULL, NULL);
	return (fclose(fp) == 0 && ok == 1) ? 0 : -1;
}
