/* The fixture shared by the end-to-end tests of the GCKS on the fake network (fakenet.h):
 * check_registration.c, check_authz.c, check_flood.c and check_preauth.c. It holds
 *  - one store in a fresh temporary directory with the GCKS identity (rf_setup/rf_teardown),
 *  - the fake network and the GCKS configuration the tests change before start_gcks(),
 *  - group policies built in C (pol_*; every PSK member's key is its own identity text),
 *  - PSK and certificate members, running them, and asserting their outcome,
 *  - a small test PKI (make_pki, member_cert).
 * Ownership: everything declared here belongs to the fixture, lives from rf_setup() to
 * rf_teardown() of one test, and is freed there (also the PKI and the member certificates);
 * tests borrow it and free only what a helper says the caller frees (key_pem, cert_pem).
 * One test program links one fixture: the state is global, tests run one at a time. */
#ifndef GK_TEST_REGFIX_H
#define GK_TEST_REGFIX_H

#include <stdbool.h>
#include <stdint.h>
#include <openssl/x509.h>
#include "fakenet.h"
#include "gcks/storage.h"

#define G1 "keyid:grp-1"
#define G2 "keyid:grp-2"
#define GCKS_ID "fqdn:gcks.example"

extern gk_store *store;
extern fakenet net;
extern gk_gcks_config gcfg;
extern EVP_PKEY *gcks_key;

/* certificates of the certificate tests (make_pki) */
extern EVP_PKEY *ca_key, *rogue_key;
extern X509 *ca_cert, *rogue_cert, *gcks_cert;
extern X509_STORE *ca_store, *rogue_store;

/* Opens the log as `prog`, a store in a fresh /tmp/<tmp_prefix>-XXXXXX, the fake network and
 * the default GCKS configuration, and sets the GCKS identity GCKS_ID with a new P-256 key. */
void rf_setup(const char *prog, const char *tmp_prefix);
void rf_teardown(void);
/* The store's path (to open a second handle on it). */
const char *rf_db_path(void);

/* ---- identities, PEM (caller frees the strings) ---- */
gk_ident ident(const char *text);
char *key_pem(EVP_PKEY *k);
char *cert_pem(X509 *x);
/* The GCKS identity: its ID and signing key, and optionally its certificate and the CA of
 * members. */
void set_identity_as(const char *gid, EVP_PKEY *key, X509 *cert, X509 *ca);
void set_identity(X509 *cert, X509 *ca);

/* ---- group policies ---- */
void ts(gk_ts_spec *t, const char *lo, const char *hi, uint8_t proto, uint16_t plo, uint16_t phi);
/* One ESP TEK in a counter mode (AES-GCM-16/256, multi-sender SN) and a multicast Rekey SA. */
void pol_init(gk_group_policy *g, const char *name);
gk_member_policy *pol_member(gk_group_policy *g, const char *id, gk_member_auth auth, gk_role role);
/* Stores g and frees it. */
void pol_put(gk_group_policy *g);
/* G1 with receivers r1, r2 and senders s1, s2; G2 with other and r1. */
void standard_policies(uint32_t g1_capacity);
/* G1 with the one PSK receiver `member`. */
void single_member_policy(const char *member);

/* ---- the GCKS ---- */
void start_gcks(void);
gk_gcks_stats stats(void);
uint32_t reg_count(const char *group);

/* ---- members ---- */
/* A PSK member of one group; its PSK is its identity text (see pol_member). */
gk_gm_config gm_psk(const char *id, const char *group);
gk_gm_config gm_cert(const char *id, const char *group, EVP_PKEY *key, X509 *cert, X509_STORE *trust);
fn_member *join(const gk_gm_config *c);
void run_member(fn_member *m);
void run_all(void);
void describe(const fn_member *m, char *buf, size_t len);
/* The member registered to group index gi exactly once, and finished without failure. */
const gk_group_state *registered(const fn_member *m, size_t gi);
/* The member was refused with this notify and registered nowhere. */
void refused(const fn_member *m, uint16_t notify);
/* The member failed as a whole with this notify (0: no answer). */
void failed(const fn_member *m, uint16_t notify);

/* ---- certificates ---- */
/* CAs and members (clientAuth); the GCKS's certificate carries serverAuth, which members
 * require of a key server. */
X509 *issue(const char *cn, const char *san, bool ca, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key,
	    long serial);
/* The test CA, a rogue CA, the GCKS certificate (of gcks_key) and a trust store for each CA. */
void make_pki(void);
/* A member key and certificate of the test CA (or the rogue one); kept until rf_teardown. */
void member_cert(const char *san, bool rogue, EVP_PKEY **key, X509 **cert);

#endif
