/* Test-only key and certificate factory (OpenSSL 3). Independent of Check so that integration
 * tests can use it too. Every function returns NULL / -1 on failure; callers assert. */
#ifndef GK_CERTGEN_H
#define GK_CERTGEN_H

#include <stdbool.h>
#include <time.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

/* Fresh keys: "RSA" (bits), "EC" (curve: "P-256", "P-384", "P-521"), "ED25519", "ED448". */
EVP_PKEY *cg_key_rsa(unsigned bits);
EVP_PKEY *cg_key_ec(const char *curve);
EVP_PKEY *cg_key_ed25519(void);
EVP_PKEY *cg_key_ed448(void);

typedef struct cg_cert_opts {
	const char *cn;       /* subject CN (also O=gikev2 test) */
	const char *san;      /* OpenSSL config syntax, e.g. "DNS:gm1.example,email:a@b,IP:192.0.2.1"; NULL = none */
	bool ca;              /* basicConstraints CA:TRUE and keyUsage keyCertSign, else a leaf */
	const char *eku;      /* extendedKeyUsage in OpenSSL config syntax ("serverAuth": a GCKS,
				 "clientAuth": a member); NULL = none */
	time_t base;          /* validity is relative to this; 0 = now */
	long not_before;      /* seconds from base (negative = in the past) */
	long not_after;       /* seconds from base */
	long serial;
} cg_cert_opts;

/* Issues a certificate for subject_key. issuer_cert NULL = self-signed with subject_key
 * (issuer_key is then ignored). Signed with SHA-256, or pure EdDSA for Ed25519/Ed448 issuers. */
X509 *cg_cert_issue(const cg_cert_opts *o, EVP_PKEY *subject_key, X509 *issuer_cert, EVP_PKEY *issuer_key);

/* PEM writers for files given to the daemons; append = add to an existing file. 0 on success. */
int cg_write_cert_pem(const char *path, X509 *x, bool append);
int cg_write_key_pem(const char *path, EVP_PKEY *key);

#endif
