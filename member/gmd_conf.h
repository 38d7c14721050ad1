/* gmd's settings, from its configuration file (YAML, gmd.conf(5)) and its command line. One
 * table names every setting once: a long option of the command line and a key of the file are
 * the same word, and the same code checks both, so the two can never disagree. The command
 * line overrides the file setting by setting (a list given on the command line replaces the
 * file's list). Key server names are resolved (getaddrinfo) when read, so that a name that does
 * not resolve is reported where it is written.
 * Mistakes in the file are reported as FILE:LINE:COLUMN: key: message (gk_diag), all of them in
 * one run. A gmd_conf owns nothing outside itself (paths and names are copied in). */
#ifndef GK_GMD_CONF_H
#define GK_GMD_CONF_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include "diag.h"
#include "gm.h"
#include "gm_check.h"
#include "ident.h"
#include "proposal.h"

#define GMD_MAX_GCKS 8        /* key servers tried in order */
#define GMD_MAX_ALLOW 16      /* allow-selector prefixes */
#define GMD_PATH_MAX 1024
#define GMD_CONF_FILE_MAX (1u << 20)
#define GMD_DEFAULT_PORT 500  /* RFC 9838 2.1.1: the IKEv2 port; 848 with HOST:848 */

/* Every setting; the order is the table's in gmd_conf.c. */
typedef enum gmd_opt {
	GMD_GCKS, GMD_ID, GMD_GROUP, GMD_PSK_FILE, GMD_CERT, GMD_KEY, GMD_CA, GMD_GCKS_PUBKEY,
	GMD_SENDER, GMD_ONCE, GMD_JSON, GMD_LOCAL, GMD_NO_NAT_T, GMD_NAT_KEEPALIVE, GMD_LOG_LEVEL,
	GMD_SAG_ENCR, GMD_SA_BACKEND, GMD_MCAST_IFACE, GMD_RETRY, GMD_LIVENESS, GMD_RETRANSMIT,
	GMD_REREG_DELAY, GMD_GCKS_ID, GMD_ALLOW_SELECTOR, GMD_USER, GMD_INITIAL_CONTACT,
	GMD_IKE_LIFETIME, GMD_LOG_TARGET, GMD_PPK_FILE, GMD_PPK_ID, GMD_PPK_REQUIRED, GMD_TRANSPORT, GMD_ADDKE,
	GMD_NOPTS
} gmd_opt;

/* How gmd reaches its key servers: UDP, TCP encapsulation (RFC 9329), or UDP first and TCP
 * once GMD_AUTO_UDP_TRIES retransmissions of a request over UDP went unanswered. */
typedef enum gmd_transport { GMD_UDP, GMD_TCP, GMD_AUTO } gmd_transport;
#define GMD_AUTO_UDP_TRIES 2
#define GMD_TCP_PORT 4500

/* How a setting is written: a flag (true/false in the file), one value, or a list (a
 * repeated option; in the file a YAML sequence or a single value). */
typedef enum gmd_opt_kind { GMD_FLAG, GMD_VALUE, GMD_LIST } gmd_opt_kind;

typedef struct gmd_server {
	char text[256];                  /* as written: HOST, HOST:PORT, [V6]:PORT, V6%SCOPE */
	struct sockaddr_storage addr;    /* the first address getaddrinfo gives */
} gmd_server;

typedef struct gmd_conf {
	uint64_t given;                  /* bit per gmd_opt set in this source */
	struct { gmd_server v[GMD_MAX_GCKS]; size_t n; } gcks;
	gk_ident id;
	struct { gk_ident v[GK_GM_MAX_GROUPS]; size_t n; } groups;
	char psk_file[GMD_PATH_MAX], cert[GMD_PATH_MAX], key[GMD_PATH_MAX], ca[GMD_PATH_MAX],
	     gcks_pubkey[GMD_PATH_MAX];
	struct { bool on; uint32_t ids; } sender; /* ids 0: the GCKS's default */
	bool once, json, no_nat_t, initial_contact;
	char local[256];
	unsigned nat_keepalive_s;
	char log_level[256];             /* [SUBSYS=]LEVEL[,...] (gk_log_set_levels); "" = info */
	struct { gk_encr_choice v[GK_OFFER_MAX]; size_t n; } sag_encr;
	char sa_backend[8];              /* "xfrm" or "none" */
	char mcast_iface[64];
	struct { unsigned s, max_s; } retry;
	unsigned liveness_s;
	struct { unsigned ms, tries; } retransmit;
	unsigned rereg_s;
	gk_ident gcks_id;
	struct { gk_prefix v[GMD_MAX_ALLOW]; size_t n; } allow;
	char user[64];
	unsigned ike_lifetime_s;
	char log_target[16];             /* stderr, syslog, journal; "" = picked (gk_log_target_pick) */
	char ppk_file[GMD_PATH_MAX];     /* RFC 8784 PPK, read by the rule of psk-file */
	char ppk_id[256];                /* its PPK_ID (text, 1 to 255 octets) */
	bool ppk_required;               /* no NO_PPK_AUTH fallback */
	struct { gmd_transport mode; uint16_t port; } transport; /* TCP port: 4500 (RFC 9329) */
	struct { uint16_t v[GK_ADDKE_MAX]; size_t n; } addke; /* RFC 9370 methods, in order */
} gmd_conf;

/* The defaults (gmd(8)); user is the service account configure chose. */
void gmd_conf_default(gmd_conf *c, const char *user);
/* The setting's key (the long option without "--") and kind. */
const char *gmd_opt_name(gmd_opt o);
gmd_opt_kind gmd_opt_kind_of(gmd_opt o);
/* Sets o from text (a list appends; a flag takes NULL or true/false/yes/no). base: the
 * directory relative paths start from (NULL: as written). On failure c is unchanged for o and
 * err says why (without the key). */
gk_status gmd_conf_set(gmd_conf *c, gmd_opt o, const char *text, const char *base, char *err, size_t errlen);
/* Reads the file into c (defaults first), reporting every mistake in diag. Relative paths in
 * the file start from the file's directory. A file others than its owner may write is refused
 * (they would choose the key servers and the key files gmd reads as root). GK_E_IO: cannot
 * read or refused; GK_E_INVAL: mistakes. */
gk_status gmd_conf_load(gmd_conf *c, const char *path, const char *user, gk_diag *diag);
gk_status gmd_conf_load_buf(gmd_conf *c, const char *name, const char *buf, size_t len, const char *user,
			    gk_diag *diag);
/* out = file, with every setting cli gives taken from cli. */
void gmd_conf_merge(gmd_conf *out, const gmd_conf *file, const gmd_conf *cli);
/* What a running gmd needs: key servers, identity, groups, one way to authenticate (and to
 * authenticate the GCKS). Each problem goes to diag as "SOURCE: key: message", or with source
 * NULL (the command line alone) as "gmd: --key: message". */
gk_status gmd_conf_check(const gmd_conf *c, const char *source, gk_diag *diag);
/* Is setting o the same in a and b? */
bool gmd_conf_same(const gmd_conf *a, const gmd_conf *b, gmd_opt o);
/* Resolves a key server as written (HOST, HOST:PORT, [ADDR]:PORT, an IPv6 address with a
 * %SCOPE) to the first address getaddrinfo gives (UDP). */
gk_status gmd_resolve(const char *text, unsigned default_port, struct sockaddr_storage *out, char *err,
		      size_t errlen);

#endif
