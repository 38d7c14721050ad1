/* Policy files (gcks/policy_yaml.c): the shipped examples load, export and reload identically;
 * each validation rule yields its exact message with position and field path; a file with
 * several errors reports all of them; defaults and accepted spellings are as documented in
 * policies/README; truncated and mutated files never crash the loader. */
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include "testutil.h"
#include "gcks/policy_yaml.h"
#include "auth.h"
#include "iana.h"

#define POLICIES GK_SRCDIR "/policies"

/* ---- helpers --------------------------------------------------------------------------- */

typedef struct loaded {
	gk_status st;
	gk_group_policy *g;
	size_t n;
	gk_diag d;
} loaded;

static void load_named(loaded *l, const char *name, const char *yaml)
{
	gk_diag_init(&l->d);
	l->st = gk_policy_yaml_load_buf(name, yaml, strlen(yaml), &l->g, &l->n, &l->d);
}

static void load_str(loaded *l, const char *yaml)
{
	load_named(l, "t.yaml", yaml);
}

static void load_path(loaded *l, const char *path)
{
	gk_diag_init(&l->d);
	l->st = gk_policy_yaml_load(path, &l->g, &l->n, &l->d);
}

static void unload(loaded *l)
{
	gk_policy_yaml_free(l->g, l->n);
	gk_diag_free(&l->d);
}

/* Every message, one per line (no trailing newline). */
static char *messages(const gk_diag *d)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	ck_assert_ptr_nonnull(f);
	for (size_t i = 0; i < d->count; i++)
		fprintf(f, "%s%s", i ? "\n" : "", gk_diag_text(d, i));
	fclose(f);
	return text;
}

static void assert_ok(const loaded *l, const char *what)
{
	if (l->st != GK_OK || l->d.errors) {
		char *m = messages(&l->d);
		ck_abort_msg("%s: status %s, messages:\n%s", what, gk_status_str(l->st), m);
	}
	ck_assert_uint_gt(l->n, 0);
}

static char *export_text(const gk_group_policy *g, size_t n)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(gk_policy_yaml_export(g, n, f), GK_OK);
	ck_assert_int_eq(fclose(f), 0);
	return text;
}

static void assert_ts_eq(const gk_ts_spec *a, const gk_ts_spec *b, const char *what)
{
	ck_assert_msg(a->family == b->family, "%s family", what);
	ck_assert_msg(memcmp(a->start, b->start, 16) == 0, "%s start", what);
	ck_assert_msg(memcmp(a->end, b->end, 16) == 0, "%s end", what);
	ck_assert_msg(a->ip_proto == b->ip_proto, "%s ip_proto", what);
	ck_assert_msg(a->port_lo == b->port_lo && a->port_hi == b->port_hi, "%s ports", what);
}

static void assert_bytes_eq(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, const char *what)
{
	ck_assert_msg(alen == blen, "%s length %zu != %zu", what, alen, blen);
	ck_assert_msg(alen == 0 || memcmp(a, b, alen) == 0, "%s differs", what);
}

static void assert_kek_eq(const gk_kek_policy *a, const gk_kek_policy *b)
{
	ck_assert(a->present == b->present);
	ck_assert_uint_eq(a->encr, b->encr);
	ck_assert_uint_eq(a->encr_key_bits, b->encr_key_bits);
	ck_assert_uint_eq(a->integ, b->integ);
	ck_assert_uint_eq(a->kwa, b->kwa);
	ck_assert_uint_eq(a->gcauth, b->gcauth);
	ck_assert_int_eq(a->sig_scheme, b->sig_scheme);
	assert_ts_eq(&a->src, &b->src, "kek src");
	assert_ts_eq(&a->dst, &b->dst, "kek dst");
	ck_assert_uint_eq(a->lifetime, b->lifetime);
	ck_assert_uint_eq(a->ttl, b->ttl);
	ck_assert_str_eq(a->iface, b->iface);
	ck_assert_uint_eq(a->copies, b->copies);
	ck_assert_uint_eq(a->interval_ms, b->interval_ms);
	ck_assert_uint_eq(a->frag_mtu, b->frag_mtu);
}

static void assert_tek_eq(const gk_tek_policy *a, const gk_tek_policy *b)
{
	ck_assert_str_eq(a->name, b->name);
	ck_assert_uint_eq(a->proto, b->proto);
	ck_assert_uint_eq(a->encr, b->encr);
	ck_assert_uint_eq(a->encr_key_bits, b->encr_key_bits);
	ck_assert_uint_eq(a->integ, b->integ);
	ck_assert_uint_eq(a->sn, b->sn);
	assert_ts_eq(&a->src, &b->src, a->name);
	assert_ts_eq(&a->dst, &b->dst, a->name);
	ck_assert_uint_eq(a->lifetime, b->lifetime);
}

static void assert_member_eq(const gk_member_policy *a, const gk_member_policy *b)
{
	gk_ident ai;
	ck_assert(gk_member_policy_is(b, gk_member_policy_id(a, &ai)));
	ck_assert_int_eq(a->auth, b->auth);
	assert_bytes_eq(a->psk, a->psk_len, b->psk, b->psk_len, "psk");
	assert_bytes_eq(a->pubkey, a->pubkey_len, b->pubkey, b->pubkey_len, "pubkey");
	ck_assert_int_eq(a->role, b->role);
	ck_assert_uint_eq(a->max_sender_ids, b->max_sender_ids);
}

/* Field by field: export -> load must not change anything. */
static void assert_policy_eq(const gk_group_policy *a, const gk_group_policy *b)
{
	ck_assert_str_eq(a->name, b->name);
	ck_assert(gk_ident_eq(&a->id, &b->id));
	ck_assert_uint_eq(a->capacity, b->capacity);
	ck_assert_int_eq(a->rekey_transport, b->rekey_transport);
	ck_assert(a->transport_mode == b->transport_mode);
	ck_assert_uint_eq(a->atd, b->atd);
	ck_assert_uint_eq(a->dtd, b->dtd);
	ck_assert_uint_eq(a->sender_id_bits, b->sender_id_bits);
	ck_assert_uint_eq(a->rekey_margin_pct, b->rekey_margin_pct);
	ck_assert_uint_eq(a->ike_idle_timeout, b->ike_idle_timeout);
	assert_kek_eq(&a->kek, &b->kek);
	ck_assert_uint_eq(a->nteks, b->nteks);
	for (size_t i = 0; i < a->nteks; i++)
		assert_tek_eq(&a->teks[i], &b->teks[i]);
	ck_assert_uint_eq(a->nmembers, b->nmembers);
	for (size_t i = 0; i < a->nmembers; i++)
		assert_member_eq(&a->members[i], &b->members[i]);
}

/* load(text) -> export -> load -> export: identical policies and identical exports. */
static void assert_round_trip(const gk_group_policy *g, size_t n)
{
	char *first = export_text(g, n);
	loaded l2;
	load_str(&l2, first);
	assert_ok(&l2, first);
	ck_assert_uint_eq(l2.n, n);
	for (size_t i = 0; i < n; i++)
		assert_policy_eq(&g[i], &l2.g[i]);
	char *second = export_text(l2.g, l2.n);
	ck_assert_str_eq(first, second);
	free(first);
	free(second);
	unload(&l2);
}

/* The shipped examples, copied with their key files made 0600 as an admin keeps them (git keeps
 * no modes, and a key file others may read is refused), for each test. */
static char examples[64];

static void examples_copy(void)
{
	char cmd[512];
	snprintf(examples, sizeof(examples), "/tmp/gk-examples-XXXXXX");
	ck_assert_ptr_nonnull(tu_mkdtemp(examples));
	snprintf(cmd, sizeof(cmd), "cp '%s'/*.yaml '%s'/ && cp -r '%s/keys' '%s/keys' && chmod 600 '%s'/keys/*.psk",
		 POLICIES, examples, POLICIES, examples, examples);
	ck_assert_int_eq(system(cmd), 0);
}

static void examples_remove(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", examples);
	ck_assert_int_eq(system(cmd), 0);
}

static const char *example(const char *name)
{
	static char path[128];
	snprintf(path, sizeof(path), "%s/%s", examples, name);
	return path;
}

static void example_paths(glob_t *gl)
{
	ck_assert_int_eq(glob(example("*.yaml"), 0, NULL, gl), 0);
	ck_assert_uint_ge(gl->gl_pathc, 3);
}

static const gk_tek_policy *tek(const gk_group_policy *g, const char *name)
{
	for (size_t i = 0; i < g->nteks; i++)
		if (strcmp(g->teks[i].name, name) == 0)
			return &g->teks[i];
	ck_abort_msg("no SA %s", name);
	return NULL;
}

/* ---- the shipped examples ------------------------------------------------------------------ */

START_TEST(examples_load)
{
	glob_t gl;
	example_paths(&gl);
	for (size_t i = 0; i < gl.gl_pathc; i++) {
		loaded l;
		load_path(&l, gl.gl_pathv[i]);
		assert_ok(&l, gl.gl_pathv[i]);
		ck_assert_uint_eq(l.d.count, 0);
		unload(&l);
	}
	globfree(&gl);
}
END_TEST

START_TEST(example_video)
{
	loaded l;
	load_path(&l, example("video-multicast.yaml"));
	assert_ok(&l, "video-multicast.yaml");
	const gk_group_policy *g = &l.g[0];
	ck_assert_uint_eq(l.n, 1);
	ck_assert_str_eq(g->name, "keyid:video-1");
	ck_assert_int_eq(g->rekey_transport, GK_REKEY_MULTICAST);
	ck_assert(g->kek.present);
	ck_assert_uint_eq(g->kek.gcauth, GK_GCAUTH_DIGITAL_SIGNATURE);
	ck_assert_int_eq(g->kek.sig_scheme, GK_SIG_NONE); /* follows the GCKS key */
	ck_assert_uint_eq(g->kek.kwa, GK_KWA_KW_5649_256);
	ck_assert_uint_eq(g->kek.dst.family, 4);
	ck_assert_mem_hex(g->kek.dst.start, 4, "efc00001");
	ck_assert_mem_hex(g->kek.dst.end, 4, "efc00001");
	ck_assert_uint_eq(g->kek.dst.port_lo, 848);
	ck_assert_uint_eq(g->kek.dst.ip_proto, 17);
	ck_assert_uint_eq(g->atd, 5);
	ck_assert_uint_eq(g->dtd, 30);
	const gk_tek_policy *t = tek(g, "video");
	ck_assert_uint_eq(t->proto, GK_PROTO_ESP);
	ck_assert_uint_eq(t->encr, GK_ENCR_AES_GCM_16);
	ck_assert_uint_eq(t->encr_key_bits, 256);
	ck_assert_uint_eq(t->integ, GK_INTEG_NONE);
	ck_assert_uint_eq(t->sn, GK_SN_SEQ32);
	ck_assert_mem_hex(t->dst.start, 4, "efc00101");
	ck_assert_uint_eq(t->dst.port_lo, 5004);
	ck_assert_uint_eq(g->nmembers, 3);
	ck_assert_int_eq(g->members[0].role, GK_ROLE_SENDER);
	ck_assert_uint_eq(g->members[0].psk_len, 32);
	ck_assert_int_eq(g->members[1].role, GK_ROLE_RECEIVER);
	unload(&l);
}
END_TEST

START_TEST(example_inband_and_certificates)
{
	loaded l;
	load_path(&l, example("small-inband.yaml"));
	assert_ok(&l, "small-inband.yaml");
	const gk_group_policy *g = &l.g[0];
	ck_assert_int_eq(g->rekey_transport, GK_REKEY_INBAND);
	ck_assert(!g->kek.present);
	ck_assert(g->transport_mode);
	ck_assert_uint_eq(g->sender_id_bits, 16);
	ck_assert_uint_eq(tek(g, "chat")->sn, GK_SN_UNSPEC32);
	ck_assert_uint_eq(tek(g, "chat")->encr_key_bits, 0); /* ChaCha20: no Key Length attribute */
	ck_assert_uint_eq(g->members[0].max_sender_ids, 2);
	ck_assert_uint_eq(g->members[2].psk_len, strlen("demo-only passphrase for node-c of the control room"));
	ck_assert_mem_eq(g->members[2].psk, "demo-only", 9);
	unload(&l);

	load_path(&l, example("certificates.yaml"));
	assert_ok(&l, "certificates.yaml");
	g = &l.g[0];
	ck_assert_uint_eq(g->kek.dst.family, 6);
	ck_assert_str_eq(g->kek.iface, "eth0");
	ck_assert_uint_eq(tek(g, "alarms")->proto, GK_PROTO_AH);
	ck_assert_uint_eq(tek(g, "alarms")->encr, 0);
	ck_assert_uint_eq(tek(g, "telemetry")->src.family, 6);
	ck_assert_mem_hex(tek(g, "telemetry")->src.end, 16, "20010db800100000ffffffffffffffff");
	ck_assert_int_eq(g->members[0].auth, GK_MAUTH_CERT);
	ck_assert_int_eq(g->members[3].auth, GK_MAUTH_PUBKEY);
	EVP_PKEY *k = NULL;
	ck_assert_int_eq(gk_pubkey_from_spki(GK_CHUNK(g->members[3].pubkey, g->members[3].pubkey_len), &k), GK_OK);
	EVP_PKEY_free(k);
	unload(&l);
}
END_TEST

START_TEST(examples_round_trip)
{
	glob_t gl;
	example_paths(&gl);
	for (size_t i = 0; i < gl.gl_pathc; i++) {
		loaded l;
		load_path(&l, gl.gl_pathv[i]);
		assert_ok(&l, gl.gl_pathv[i]);
		assert_round_trip(l.g, l.n);
		unload(&l);
	}
	globfree(&gl);
}
END_TEST

/* Every field the format has, with non-default values, in the groups: form. */
static const char everything[] =
	"groups:\n"
	"  - id: fqdn:all.example\n"
	"    capacity: 7\n"
	"    mode: transport\n"
	"    activation-delay: 0\n"
	"    deactivation-delay: 2m\n"
	"    sender-id-bits: 12\n"
	"    rekey-margin: 33%\n"
	"    ike-idle-timeout: 90\n"
	"    max-packet-rate: 40000\n"
	"    rekey:\n"
	"      transport: multicast\n"
	"      encryption: AES_CBC\n"
	"      key-length: 192\n"
	"      integrity: HMAC_SHA2_512_256\n"
	"      key-wrap: KW_5649_192\n"
	"      authentication: signature\n"
	"      signature-algorithm: ECDSA-SHA384\n"
	"      address: ff15::1:2\n"
	"      port: 1848\n"
	"      source: 2001:db8::7-2001:db8::9\n"
	"      lifetime: 7200s\n"
	"      ttl: 3\n"
	"      interface: br-lan.7\n"
	"      copies: 5\n"
	"      interval: 250ms\n"
	"      fragment-mtu: 0\n"
	"      key-management: lkh\n"
	"      degree: 4\n"
	"    sas:\n"
	"      - name: ctr\n"
	"        encryption: aes-ctr\n"
	"        key-length: 128\n"
	"        integrity: sha1\n"
	"        sequence-numbers: unspecified-32\n"
	"        source: 2001:db8:1::/48\n"
	"        destination: ff15::10-ff15::1f\n"
	"        ip-protocol: 200\n"
	"        ports: 10-20\n"
	"        source-ports: 3\n"
	"        lifetime: 1d\n"
	"      - name: gmac\n"
	"        encryption: aes-gmac\n"
	"        destination: ff15::20\n"
	"        ip-protocol: tcp\n"
	"      - name: ah\n"
	"        protocol: AH\n"
	"        integrity: aes-cmac-96\n"
	"        destination: ff15::30\n"
	"    members:\n"
	"      - id: email:a@all.example\n"
	"        psk: 'a text pre-shared key with spaces'\n"
	"        role: sender\n"
	"        max-sender-ids: 256\n"
	"      - id: keyid:0x00ff10\n"
	"        psk: 0X00112233445566778899AABBCCDDEEFF\n"
	"        role: sender\n"
	"      - id: ipv6:2001:DB8::5\n"
	"        auth: pubkey\n"
	"        pubkey-file: " POLICIES "/keys/monitor-1.pem\n"
	"      - id: ipv4:192.0.2.5\n"
	"  - id: keyid:second\n"
	"    rekey:\n"
	"      transport: multicast\n"
	"      key-wrap: kw-5649-128\n"
	"      authentication: implicit\n"
	"      address: 224.1.2.3\n"
	"    sas:\n"
	"      - name: x\n"
	"        destination: 232.0.0.0/8\n"
	"        source: any\n";

START_TEST(everything_round_trip)
{
	loaded l;
	load_str(&l, everything);
	assert_ok(&l, "everything");
	ck_assert_uint_eq(l.n, 2);
	const gk_group_policy *g = &l.g[0];
	ck_assert_uint_eq(g->kek.sig_scheme, GK_SIG_ECDSA_SHA384);
	ck_assert_uint_eq(g->kek.interval_ms, 250);
	ck_assert_uint_eq(g->kek.lifetime, 7200);
	ck_assert_uint_eq(g->rekey_margin_pct, 33);
	ck_assert_uint_eq(g->max_packet_rate, 40000);
	ck_assert_uint_eq(g->kek.key_mgmt, GK_KEYMGMT_LKH);
	ck_assert_uint_eq(g->kek.lkh_degree, 4);
	ck_assert_uint_eq(l.g[1].kek.key_mgmt, GK_KEYMGMT_SIMPLE); /* the default */
	ck_assert_uint_eq(l.g[1].kek.lkh_degree, 0);
	ck_assert_uint_eq(tek(g, "ctr")->src.port_lo, 3);
	ck_assert_uint_eq(tek(g, "ctr")->dst.ip_proto, 200);
	ck_assert_uint_eq(tek(g, "gmac")->encr, GK_ENCR_NULL_AUTH_AES_GMAC);
	ck_assert_uint_eq(tek(g, "gmac")->sn, GK_SN_UNSPEC32); /* two senders */
	ck_assert_uint_eq(tek(g, "ah")->integ, GK_INTEG_AES_CMAC_96);
	ck_assert_uint_eq(g->members[0].psk_len, 33);
	ck_assert_mem_hex(g->members[1].psk, g->members[1].psk_len, "00112233445566778899aabbccddeeff");
	ck_assert_mem_hex(g->members[1].id->data, g->members[1].id->len, "00ff10");
	ck_assert_int_eq(g->members[3].auth, GK_MAUTH_CERT);
	ck_assert_uint_eq(l.g[1].kek.gcauth, GK_GCAUTH_IMPLICIT);
	assert_round_trip(l.g, l.n);
	unload(&l);
}
END_TEST

/* ---- defaults and spellings ---------------------------------------------------------------- */

START_TEST(defaults)
{
	loaded l;
	load_str(&l, "id: keyid:g\nsas:\n  - name: a\n    destination: 239.1.1.1\n");
	assert_ok(&l, "minimal group");
	const gk_group_policy *g = &l.g[0];
	ck_assert_str_eq(g->name, "keyid:g");
	ck_assert_uint_eq(g->capacity, 0);
	ck_assert(!g->transport_mode);
	ck_assert_uint_eq(g->atd, 5);
	ck_assert_uint_eq(g->dtd, 30);
	ck_assert_uint_eq(g->sender_id_bits, 0);
	ck_assert_uint_eq(g->rekey_margin_pct, 20);
	ck_assert_uint_eq(g->ike_idle_timeout, 60);
	ck_assert_uint_eq(g->max_packet_rate, 100000);
	ck_assert_int_eq(g->rekey_transport, GK_REKEY_INBAND);
	ck_assert(!g->kek.present);
	ck_assert_uint_eq(g->nmembers, 0);
	const gk_tek_policy *t = &g->teks[0];
	ck_assert_uint_eq(t->proto, GK_PROTO_ESP);
	ck_assert_uint_eq(t->encr, GK_ENCR_AES_GCM_16);
	ck_assert_uint_eq(t->encr_key_bits, 256);
	ck_assert_uint_eq(t->integ, 0);
	ck_assert_uint_eq(t->sn, GK_SN_SEQ32);
	ck_assert_uint_eq(t->lifetime, 3600);
	ck_assert_uint_eq(t->src.family, 4);
	ck_assert_mem_hex(t->src.start, 4, "00000000");
	ck_assert_mem_hex(t->src.end, 4, "ffffffff");
	ck_assert_uint_eq(t->dst.ip_proto, 0);
	ck_assert_uint_eq(t->dst.port_lo, 0);
	ck_assert_uint_eq(t->dst.port_hi, 65535);
	unload(&l);

	load_str(&l, "id: keyid:g\nsas:\n  - name: a\n    destination: ff02::5\n"
		     "rekey:\n  transport: multicast\n  key-wrap: kw-5649-128\n  address: ff02::6\n"
		     "members:\n  - id: keyid:r\n  - id: keyid:s\n    role: sender\n"
		     "  - id: keyid:t\n    role: sender\n    psk: 0123456789abcdef\nsender-id-bits: 4\n");
	assert_ok(&l, "multicast defaults");
	g = &l.g[0];
	const gk_kek_policy *k = &g->kek;
	ck_assert(k->present);
	ck_assert_uint_eq(k->encr, GK_ENCR_AES_GCM_16);
	ck_assert_uint_eq(k->encr_key_bits, 256);
	ck_assert_uint_eq(k->integ, 0);
	ck_assert_uint_eq(k->gcauth, GK_GCAUTH_DIGITAL_SIGNATURE);
	ck_assert_int_eq(k->sig_scheme, GK_SIG_NONE);
	ck_assert_uint_eq(k->lifetime, 86400);
	ck_assert_uint_eq(k->ttl, 1);
	ck_assert_uint_eq(k->copies, 3);
	ck_assert_uint_eq(k->interval_ms, 1000);
	ck_assert_uint_eq(k->frag_mtu, 1280);
	ck_assert_str_eq(k->iface, "");
	ck_assert_uint_eq(k->dst.port_lo, 848);
	ck_assert_uint_eq(k->dst.port_hi, 848);
	/* RFC 9838 4.4.2: GSA_REKEY's source is one address (the GCKS's own, filled in by gcksd),
	 * UDP, one port (848, where gcksd sends it from) */
	ck_assert_uint_eq(k->src.family, 6);
	ck_assert(gk_kek_src_is_gcks(&k->src));
	ck_assert_mem_hex(k->src.start, 16, "00000000000000000000000000000000");
	ck_assert_mem_hex(k->src.end, 16, "00000000000000000000000000000000");
	ck_assert_uint_eq(k->src.ip_proto, 17);
	ck_assert_uint_eq(k->src.port_lo, 848);
	ck_assert_uint_eq(k->src.port_hi, 848);
	ck_assert_uint_eq(g->teks[0].sn, GK_SN_UNSPEC32); /* two senders */
	ck_assert_int_eq(g->members[0].auth, GK_MAUTH_CERT);
	ck_assert_int_eq(g->members[0].role, GK_ROLE_RECEIVER);
	ck_assert_uint_eq(g->members[0].max_sender_ids, 0);
	ck_assert_uint_eq(g->members[1].max_sender_ids, 1);
	ck_assert_int_eq(g->members[2].auth, GK_MAUTH_PSK);
	unload(&l);
}
END_TEST

START_TEST(spellings)
{
	static const struct { const char *value; uint16_t encr; } encrs[] = {
		{ "AES_GCM_16", GK_ENCR_AES_GCM_16 }, { "aes_gcm_16", GK_ENCR_AES_GCM_16 },
		{ "Aes-Gcm-16", GK_ENCR_AES_GCM_16 }, { "aes-gcm", GK_ENCR_AES_GCM_16 },
		{ "aes-gcm-8", GK_ENCR_AES_GCM_8 }, { "CHACHA20_POLY1305", GK_ENCR_CHACHA20_POLY1305 },
	};
	for (size_t i = 0; i < sizeof(encrs) / sizeof(encrs[0]); i++) {
		char yaml[256];
		loaded l;
		snprintf(yaml, sizeof(yaml), "id: keyid:g\nsas:\n  - name: a\n    destination: 239.1.1.1\n"
			 "    encryption: %s\n", encrs[i].value);
		load_str(&l, yaml);
		assert_ok(&l, encrs[i].value);
		ck_assert_uint_eq(l.g[0].teks[0].encr, encrs[i].encr);
		unload(&l);
	}
	static const struct { const char *value; uint32_t secs; } durations[] = {
		{ "90", 90 }, { "90s", 90 }, { "2m", 120 }, { "1h", 3600 }, { "1d", 86400 }, { "60000ms", 60 },
	};
	for (size_t i = 0; i < sizeof(durations) / sizeof(durations[0]); i++) {
		char yaml[256];
		loaded l;
		snprintf(yaml, sizeof(yaml), "id: keyid:g\nmax-packet-rate: 1000\nsas:\n  - name: a\n"
			 "    destination: 239.1.1.1\n    lifetime: %s\n", durations[i].value);
		load_str(&l, yaml);
		assert_ok(&l, durations[i].value);
		ck_assert_uint_eq(l.g[0].teks[0].lifetime, durations[i].secs);
		unload(&l);
	}
	loaded l;
	load_str(&l, "id: keyid:g\nsas:\n  - name: a\n    destination: 239.1.1.1\n    encryption: aes-cbc\n"
		     "    integrity: HMAC_SHA2_256_128\n    sequence-numbers: UNSPECIFIED-32\n"
		     "rekey:\n  transport: MULTICAST\n  key-wrap: kw_5649_256\n  address: 239.9.9.9\n"
		     "  signature-algorithm: Ed25519\n");
	assert_ok(&l, "case-insensitive words");
	ck_assert_uint_eq(l.g[0].teks[0].integ, GK_INTEG_HMAC_SHA2_256_128);
	ck_assert_uint_eq(l.g[0].teks[0].sn, GK_SN_UNSPEC32);
	ck_assert_uint_eq(l.g[0].kek.kwa, GK_KWA_KW_5649_256);
	ck_assert_int_eq(l.g[0].kek.sig_scheme, GK_SIG_ED25519);
	unload(&l);
}
END_TEST

/* ---- one bad policy per rule ------------------------------------------------------------ */

#define BASE "id: keyid:g\nsas:\n  - name: a\n    destination: 239.1.1.1\n"
#define REKEY "rekey:\n  transport: multicast\n  key-wrap: kw-5649-256\n  address: 239.0.0.1\n"
#define REKEY_AT(addr) "rekey:\n  transport: multicast\n  key-wrap: kw-5649-256\n  address: " addr "\n"
#define SENDERS "members:\n  - id: keyid:s1\n    role: sender\n  - id: keyid:s2\n    role: sender\n"
#define MEMBER "members:\n  - id: keyid:m\n"
#define IMPLICIT_WARNING "t.yaml:9:19: rekey.authentication: warning: implicit: every group member holds the Rekey SA key and can forge GSA_REKEY messages (RFC 9838 2.4.1.1); use signature unless all members are trusted alike"
#define MONITOR_PEM "-----BEGIN PUBLIC KEY-----\n" \
	"      MCowBQYDK2VwAyEAsJJiNKmWDJPLKBRonSyxfY+iik9p8sXLEfh+cWKYE28=\n" \
	"      -----END PUBLIC KEY-----\n"
#define ALIAS10 ", *m, *m, *m, *m, *m, *m, *m, *m, *m, *m"

/* authentication: implicit loads (the policy may choose it) but is flagged: any member can
 * forge rekeys then. signature, the default, says nothing. */
START_TEST(implicit_authentication_warns)
{
	loaded l;
	load_str(&l, BASE REKEY "  authentication: implicit\n");
	ck_assert_int_eq(l.st, GK_OK);
	ck_assert_uint_eq(l.d.errors, 0);
	ck_assert_uint_eq(l.d.warnings, 1);
	ck_assert_str_eq(gk_diag_text(&l.d, 0), IMPLICIT_WARNING);
	ck_assert_uint_eq(l.g[0].kek.gcauth, GK_GCAUTH_IMPLICIT);
	unload(&l);
	load_str(&l, BASE REKEY "  authentication: signature\n");
	ck_assert_int_eq(l.st, GK_OK);
	ck_assert_uint_eq(l.d.errors + l.d.warnings, 0);
	unload(&l);
	load_str(&l, BASE REKEY);
	ck_assert_int_eq(l.st, GK_OK);
	ck_assert_uint_eq(l.d.errors + l.d.warnings, 0);
	ck_assert_uint_eq(l.g[0].kek.gcauth, GK_GCAUTH_DIGITAL_SIGNATURE);
	unload(&l);
}
END_TEST

/* RFC 9838 3.1: the Rekey SA's KWK wraps every key of the group in GSA_REKEY; a shorter one
 * loads (SHOULD NOT) with a warning at rekey.key-wrap naming the longest key. */
#define REKEY_KW(kw) "rekey:\n  transport: multicast\n  key-wrap: " kw "\n  address: 239.0.0.1\n"
START_TEST(weak_rekey_kwk_warns)
{
	static const struct {
		const char *yaml, *expect; /* expect NULL: no message at all */
	} cases[] = {
		{ BASE REKEY_KW("kw-5649-128"),
		  "t.yaml:7:13: rekey.key-wrap: warning: kw-5649-128 wraps keys with a 128-bit key, shorter than the "
		  "Rekey SA's encryption key (256 bits): use kw-5649-256 (RFC 9838 3.1)" },
		{ BASE REKEY_KW("kw-5649-128") "  key-length: 128\n",
		  "t.yaml:7:13: rekey.key-wrap: warning: kw-5649-128 wraps keys with a 128-bit key, shorter than the "
		  "key of sas[0] 'a' (256 bits): use kw-5649-256 (RFC 9838 3.1)" },
		{ BASE "    key-length: 192\n" REKEY_KW("kw-5649-128") "  key-length: 128\n",
		  "t.yaml:8:13: rekey.key-wrap: warning: kw-5649-128 wraps keys with a 128-bit key, shorter than the "
		  "key of sas[0] 'a' (192 bits): use kw-5649-192 (RFC 9838 3.1)" },
		{ BASE "    encryption: chacha20-poly1305\n" REKEY_KW("kw-5649-192") "  key-length: 192\n",
		  "t.yaml:8:13: rekey.key-wrap: warning: kw-5649-192 wraps keys with a 192-bit key, shorter than the "
		  "key of sas[0] 'a' (256 bits): use kw-5649-256 (RFC 9838 3.1)" },
		{ BASE "    key-length: 128\n" REKEY_KW("kw-5649-128") "  key-length: 128\n", NULL },
		{ BASE "    protocol: ah\n    integrity: sha256\n" REKEY_KW("kw-5649-128") "  key-length: 128\n", NULL },
		{ BASE REKEY_KW("kw-5649-256"), NULL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		loaded l;
		load_str(&l, cases[i].yaml);
		ck_assert_int_eq(l.st, GK_OK);
		ck_assert_uint_eq(l.d.errors, 0);
		if (cases[i].expect) {
			ck_assert_uint_eq(l.d.warnings, 1);
			ck_assert_str_eq(gk_diag_text(&l.d, 0), cases[i].expect);
		} else {
			ck_assert_uint_eq(l.d.warnings, 0);
		}
		unload(&l);
	}
}
END_TEST

/* RFC 9838 2.6: an SA's lifetime x max-packet-rate must stay within 90% of 2^32 sequence
 * numbers (3865470566): 38654 s at the default 100000/s is the longest lifetime. */
#define WRAP_MSG(at, life, rate, pkts, max) \
	"t.yaml:" at ": sas[0].lifetime: " life " at max-packet-rate " rate "/s is " pkts " packets per sender, " \
	"more than 90% of the 2^32 sequence numbers, which must not wrap (RFC 9838 2.6): at most " max \
	", or a lower max-packet-rate"
START_TEST(sequence_numbers_do_not_wrap)
{
	static const struct {
		const char *yaml, *expect; /* expect NULL: loads without a message */
	} cases[] = {
		{ BASE "    lifetime: 38654s\n", NULL },
		{ BASE "    lifetime: 38655s\n", WRAP_MSG("5:15", "38655s", "100000", "3865500000", "38654s") },
		{ BASE "    lifetime: 12h\n", WRAP_MSG("5:15", "12h", "100000", "4320000000", "38654s") },
		{ BASE "max-packet-rate: 2000000\n", WRAP_MSG("3:5", "1h", "2000000", "7200000000", "1932s") },
		{ BASE "max-packet-rate: 1073741\n", NULL }, /* 1h: 3865467600 packets */
		{ BASE "max-packet-rate: 1073742\n", WRAP_MSG("3:5", "1h", "1073742", "3865471200", "3599s") },
		{ BASE "    lifetime: 30d\nmax-packet-rate: 1491\n", NULL },
		{ BASE "max-packet-rate: 0\n", "t.yaml:5:18: max-packet-rate: must be between 1 and 4294967295, got 0" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		loaded l;
		load_str(&l, cases[i].yaml);
		if (!cases[i].expect) {
			assert_ok(&l, cases[i].yaml);
			ck_assert_uint_eq(l.d.warnings, 0);
		} else {
			ck_assert_int_eq(l.st, GK_E_INVAL);
			ck_assert_uint_eq(l.d.count, 1);
			ck_assert_str_eq(gk_diag_text(&l.d, 0), cases[i].expect);
		}
		unload(&l);
	}
}
END_TEST

/* RFC 9838 4.4.2: the Rekey SA's source selector SHOULD be one address and one port: the
 * default (source: gcks, source-port: 848) is; a policy that widens it loads with a warning at
 * the field. */
START_TEST(rekey_source_selector)
{
	static const struct {
		const char *extra, *expect; /* expect NULL: no message */
		bool gcks;
		const char *start, *end;    /* hex of the IPv4 range when not gcks */
		uint16_t lo, hi;
	} cases[] = {
		{ "", NULL, true, NULL, NULL, 848, 848 },
		{ "  source: gcks\n  source-port: 5000\n", NULL, true, NULL, NULL, 5000, 5000 },
		{ "  source: 192.0.2.10\n", NULL, false, "c000020a", "c000020a", 848, 848 },
		{ "  source: any\n",
		  "t.yaml:9:11: rekey.source: warning: GSA_REKEY leaves from one address: a source selector wider than one "
		  "address lets members accept it from others (RFC 9838 4.4.2 SHOULD); the default, gcks, is the GCKS's own address",
		  false, "00000000", "ffffffff", 848, 848 },
		{ "  source: 192.0.2.0/24\n",
		  "t.yaml:9:11: rekey.source: warning: GSA_REKEY leaves from one address: a source selector wider than one "
		  "address lets members accept it from others (RFC 9838 4.4.2 SHOULD); the default, gcks, is the GCKS's own address",
		  false, "c0000200", "c00002ff", 848, 848 },
		{ "  source-port: any\n",
		  "t.yaml:9:16: rekey.source-port: warning: GSA_REKEY leaves from one port: a source selector wider than one "
		  "port lets members accept it from others (RFC 9838 4.4.2 SHOULD); the default is 848",
		  true, NULL, NULL, 0, 65535 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char yaml[512];
		loaded l;
		snprintf(yaml, sizeof(yaml), "%s%s", BASE REKEY, cases[i].extra);
		load_str(&l, yaml);
		assert_ok(&l, yaml);
		if (cases[i].expect) {
			ck_assert_uint_eq(l.d.warnings, 1);
			ck_assert_str_eq(gk_diag_text(&l.d, 0), cases[i].expect);
		} else {
			ck_assert_uint_eq(l.d.warnings, 0);
		}
		const gk_ts_spec *src = &l.g[0].kek.src;
		ck_assert_uint_eq(src->family, 4);
		ck_assert_uint_eq(src->ip_proto, 17);
		ck_assert_uint_eq(src->port_lo, cases[i].lo);
		ck_assert_uint_eq(src->port_hi, cases[i].hi);
		ck_assert_int_eq(gk_kek_src_is_gcks(src), cases[i].gcks);
		if (!cases[i].gcks) {
			ck_assert_mem_hex(src->start, 4, cases[i].start);
			ck_assert_mem_hex(src->end, 4, cases[i].end);
		}
		assert_round_trip(l.g, l.n);
		unload(&l);
	}
}
END_TEST

static const struct bad {
	const char *yaml;
	const char *expect;   /* every message, newline-separated */
} bad[] = {
	/* unknown keys, types, required fields, duplicates */
	{ BASE "    lifetim: 1h\n",
	  "t.yaml:5:5: sas[0].lifetim: unknown key (did you mean 'lifetime'?)" },
	{ BASE "colour: red\n",
	  "t.yaml:5:1: colour: unknown key (expected one of: id, capacity, mode, activation-delay, "
	  "deactivation-delay, sender-id-bits, rekey-margin, ike-idle-timeout, max-packet-rate, rekey, sas, members, ppk, "
	  "additional-key-exchanges)" },
	{ BASE "capacity: lots\n", "t.yaml:5:11: capacity: expected a whole number, got 'lots'" },
	{ BASE "rekey: [multicast]\n", "t.yaml:5:8: rekey: expected a mapping (key: value lines), got a list" },
	{ "id: {type: keyid}\nsas:\n  - name: a\n    destination: 239.1.1.1\n",
	  "t.yaml:1:5: id: expected an identity such as keyid:name or fqdn:host.example, got a mapping" },
	{ "id: keyid:g\nsas: a\n", "t.yaml:2:6: sas: expected a list of SAs (lines starting with '- '), got a single value" },
	{ "sas:\n  - name: a\n    destination: 239.1.1.1\n", "t.yaml:1:1: id: missing required field" },
	{ "id: keyid:g\nsas:\n  - name: a\n", "t.yaml:3:5: sas[0].destination: missing required field" },
	{ "id: keyid:g\nsas: []\n", "t.yaml:2:6: sas: a group needs at least one SA" },
	{ BASE "capacity: 1\ncapacity: 2\n", "t.yaml:6:1: capacity: duplicate key (first at line 5)" },
	{ "groups:\n  - id: keyid:x\n    sas: [{name: a, destination: 239.1.1.1}]\n"
	  "  - id: KEYID:x\n    sas: [{name: a, destination: 239.1.1.2}]\n",
	  "t.yaml:4:9: groups[1].id: duplicate group id keyid:x (first at line 2)" },
	{ BASE "members:\n  - id: keyid:m\n  - id: keyid:n\n  - id: keyid:m\n",
	  "t.yaml:8:9: members[2].id: duplicate member id keyid:m (first at line 6)" },
	{ BASE "  - name: a\n    destination: 239.1.1.2\n",
	  "t.yaml:5:11: sas[1].name: duplicate SA name 'a' (first at line 3)" },
	/* transforms */
	{ BASE "    encryption: aes-gcm-16\n    integrity: hmac-sha2-256-128\n",
	  "t.yaml:6:16: sas[0].integrity: AES_GCM_16 is a combined-mode (AEAD) transform: integrity must be none or absent" },
	{ BASE "    encryption: aes-cbc\n",
	  "t.yaml:3:5: sas[0].integrity: AES_CBC is not an AEAD transform: an integrity transform is required" },
	{ BASE "    encryption: aes-cbc\n    integrity: none\n",
	  "t.yaml:6:16: sas[0].integrity: AES_CBC is not an AEAD transform: an integrity transform is required" },
	{ BASE "    protocol: ah\n    integrity: sha256\n    encryption: aes-cbc\n",
	  "t.yaml:7:17: sas[0].encryption: AH provides no encryption: remove encryption or use protocol esp" },
	{ BASE "    protocol: ah\n", "t.yaml:3:5: sas[0].integrity: AH needs an integrity transform" },
	{ BASE "    sequence-numbers: esn\n",
	  "t.yaml:5:23: sas[0].sequence-numbers: esn must not be used for group SAs, which are multicast "
	  "(RFC 9838 4.4.2.1.3); use sequential-32 or unspecified-32" },
	{ BASE "    encryption: AES_GCM_16_IIV\n",
	  "t.yaml:5:17: sas[0].encryption: AES_GCM_16_IIV uses an implicit IV, which RFC 9838 2.7 forbids for group SAs" },
	{ BASE "    encryption: chacha20-poly1305-iiv\n",
	  "t.yaml:5:17: sas[0].encryption: CHACHA20_POLY1305_IIV uses an implicit IV, which RFC 9838 2.7 forbids for group SAs" },
	{ BASE "    encryption: aes-gmc-16\n",
	  "t.yaml:5:17: sas[0].encryption: unknown encryption transform 'aes-gmc-16' (supported: aes-cbc, aes-ctr, "
	  "aes-gcm-8, aes-gcm-12, aes-gcm-16, null-auth-aes-gmac or chacha20-poly1305)" },
	{ BASE "    encryption: 3des\n    integrity: sha1\n",
	  "t.yaml:5:17: sas[0].encryption: 3DES is not supported (supported: aes-cbc, aes-ctr, aes-gcm-8, aes-gcm-12, "
	  "aes-gcm-16, null-auth-aes-gmac or chacha20-poly1305)" },
	{ BASE "    key-length: 100\n", "t.yaml:5:17: sas[0].key-length: must be 128, 192 or 256 for AES_GCM_16" },
	{ BASE "    encryption: chacha20-poly1305\n    key-length: 128\n",
	  "t.yaml:6:17: sas[0].key-length: CHACHA20_POLY1305 has a fixed 256-bit key: remove key-length" },
	/* senders, Sender-IDs, sequence numbers */
	{ BASE SENDERS,
	  "t.yaml:1:1: sender-id-bits: required: sas[0] uses counter-mode AES_GCM_16 and 2 members have role sender (RFC 9838 2.5)" },
	{ BASE "members:\n  - id: keyid:s1\n    role: sender\n    max-sender-ids: 4\n",
	  "t.yaml:1:1: sender-id-bits: required: sas[0] uses counter-mode AES_GCM_16 and its sender may get 4 Sender-IDs (RFC 9838 2.5)" },
	{ BASE "sender-id-bits: 33\n", "t.yaml:5:17: sender-id-bits: must be between 0 and 32, got 33" },
	{ BASE "    sequence-numbers: sequential-32\nsender-id-bits: 8\n" SENDERS,
	  "t.yaml:5:23: sas[0].sequence-numbers: sequential-32 needs a single sender but 2 members have role sender; use unspecified-32" },
	/* lifetimes and timing */
	{ BASE "    lifetime: 30s\n", "t.yaml:5:15: sas[0].lifetime: must be between 1m and 30d, got 30s" },
	{ BASE "    lifetime: 31d\n", "t.yaml:5:15: sas[0].lifetime: must be between 1m and 30d, got 31d" },
	{ BASE "    lifetime: 1500ms\n", "t.yaml:5:15: sas[0].lifetime: must be whole seconds, got 1500ms" },
	{ BASE "ike-idle-timeout: 1 hour\n",
	  "t.yaml:5:19: ike-idle-timeout: expected a duration such as 90, 90s, 10m, 1h or 1d, got '1 hour'" },
	{ BASE "rekey-margin: 95%\n", "t.yaml:5:15: rekey-margin: must be between 1% and 90%, got 95%" },
	{ BASE "rekey-margin: 0\n", "t.yaml:5:15: rekey-margin: must be between 1% and 90%, got 0" },
	{ BASE "    lifetime: 1m\nrekey-margin: 10\nactivation-delay: 6s\n",
	  "t.yaml:7:19: activation-delay: 6s is not shorter than the rekey margin of sas[0] (10% of 1m = 6s): "
	  "senders would use the old SA after it expired" },
	/* traffic selectors */
	{ "id: keyid:g\nsas:\n  - name: esp\n    destination: 239.1.1.0/24\n    ip-protocol: udp\n"
	  "  - name: auth\n    protocol: ah\n    integrity: sha256\n    destination: 239.1.1.7\n",
	  "t.yaml:6:5: sas[1]: AH SA overlaps the traffic selectors of ESP SA sas[0] 'esp': RFC 9838 4.4.2 forbids "
	  "ESP and AH for the same traffic" },
	{ BASE "    ip-protocol: udp\n    ports: 2000-1000\n",
	  "t.yaml:6:12: sas[0].ports: port range 2000-1000 is reversed (start after end)" },
	{ BASE "    ip-protocol: udp\n    ports: 70000\n",
	  "t.yaml:6:12: sas[0].ports: expected a port 0-65535, a range N-M or any, got '70000'" },
	{ BASE "    ports: 5004\n", "t.yaml:5:12: sas[0].ports: ports need an ip-protocol (udp, tcp, sctp, ...)" },
	{ BASE "    source: 10.0.0.1-fe80::1\n",
	  "t.yaml:5:13: sas[0].source: range start and end are of different address families (IPv4, IPv6)" },
	{ "id: keyid:g\nsas:\n  - name: a\n    destination: 239.1.1.9-239.1.1.3\n",
	  "t.yaml:4:18: sas[0].destination: range start 239.1.1.9 is after its end" },
	{ BASE "    source: 10.0.0.1/24\n",
	  "t.yaml:5:13: sas[0].source: '10.0.0.1/24' has host bits set (did you mean 10.0.0.0/24?)" },
	{ BASE "    source: 10.0.0.0/33\n", "t.yaml:5:13: sas[0].source: prefix length must be 0 to 32, got '33'" },
	{ BASE "    source: gateway.example\n",
	  "t.yaml:5:13: sas[0].source: 'gateway.example' is not an IPv4 or IPv6 address" },
	{ BASE "    source: 2001:db8::/32\n", "t.yaml:5:13: sas[0].source: source is IPv6 but destination is IPv4" },
	{ "id: keyid:g\nsas:\n  - name: a\n    destination: any\n",
	  "t.yaml:4:18: sas[0].destination: source and destination cannot both be any: give the destination address" },
	{ BASE "    protocol: udp\n",
	  "t.yaml:5:15: sas[0].protocol: expected esp or ah, got 'udp'; the protocol of the traffic goes in ip-protocol" },
	{ BASE "    ip-protocol: 300\n",
	  "t.yaml:5:18: sas[0].ip-protocol: expected any, udp, tcp, sctp, icmp, icmpv6 or a number 0-255, got '300'" },
	{ "id: keyid:g\nsas:\n  - name: my sa\n    destination: 239.1.1.1\n",
	  "t.yaml:3:11: sas[0].name: must be 1 to 63 letters, digits, '-', '_' or '.', got 'my sa'" },
	/* the Rekey SA */
	{ BASE REKEY_AT("192.0.2.1"),
	  "t.yaml:8:12: rekey.address: 192.0.2.1 is not a multicast address (IPv4 224.0.0.0/4, IPv6 ff00::/8)" },
	{ BASE REKEY_AT("2001:db8::1"),
	  "t.yaml:8:12: rekey.address: 2001:db8::1 is not a multicast address (IPv4 224.0.0.0/4, IPv6 ff00::/8)" },
	{ BASE REKEY_AT("239.0.0.0/24"), "t.yaml:8:12: rekey.address: must be a single multicast address" },
	{ BASE "rekey:\n  transport: multicast\n  key-wrap: kw-5649-256\n",
	  "t.yaml:6:3: rekey.address: required with transport multicast: the group address GSA_REKEY is sent to" },
	{ BASE "rekey:\n  address: 239.0.0.1\n", "t.yaml:6:3: rekey.transport: missing required field" },
	{ BASE REKEY "  integrity: hmac-sha2-256-128\n",
	  "t.yaml:9:14: rekey.integrity: AES_GCM_16 is a combined-mode (AEAD) transform: integrity must be none or absent" },
	{ BASE REKEY "  encryption: aes-cbc\n",
	  "t.yaml:6:3: rekey.integrity: AES_CBC is not an AEAD transform: an integrity transform is required" },
	{ BASE REKEY "  encryption: aes-gmac\n",
	  "t.yaml:9:15: rekey.encryption: NULL_AUTH_AES_GMAC gives no confidentiality; the Rekey SA must encrypt" },
	{ BASE "rekey:\n  transport: multicast\n  address: 239.0.0.1\n",
	  "t.yaml:6:3: rekey.key-wrap: required with transport multicast (kw-5649-128, kw-5649-192 or kw-5649-256)" },
	{ BASE "rekey:\n  transport: multicast\n  key-wrap: KW_ARX\n  address: 239.0.0.1\n",
	  "t.yaml:7:13: rekey.key-wrap: KW_ARX is not supported (supported: kw-5649-128, kw-5649-192 or kw-5649-256)" },
	{ BASE REKEY "  authentication: implicit\n  signature-algorithm: ed25519\n",
	  "t.yaml:10:24: rekey.signature-algorithm: only used with authentication: signature\n"
	  IMPLICIT_WARNING },
	{ BASE REKEY "  signature-algorithm: rsa-pkcs1-sha256\n",
	  "t.yaml:9:24: rekey.signature-algorithm: rsa-pkcs1-sha256 is accepted from peers only; gikev2 does not sign with it" },
	{ BASE REKEY "  signature-algorithm: dsa\n",
	  "t.yaml:9:24: rekey.signature-algorithm: unknown signature algorithm 'dsa' (supported: rsa-pss-sha256, "
	  "rsa-pss-sha384, rsa-pss-sha512, ecdsa-sha256, ecdsa-sha384, ecdsa-sha512, ed25519, ed448)" },
	{ BASE REKEY "  source: 2001:db8::1\n", "t.yaml:9:11: rekey.source: source is IPv6 but address is IPv4" },
	{ BASE REKEY "  fragment-mtu: 100\n", "t.yaml:9:17: rekey.fragment-mtu: must be 0 (never fragment) or at least 576" },
	{ BASE REKEY "  interval: 5ms\n", "t.yaml:9:13: rekey.interval: must be between 10ms and 1m, got 5ms" },
	{ BASE REKEY "  interface: eth0/1\n",
	  "t.yaml:9:14: rekey.interface: must be 1 to 15 letters, digits, '-', '_' or '.', got 'eth0/1'" },
	{ BASE REKEY "  key-management: lkh\n  degree: 17\n",
	  "t.yaml:10:11: rekey.degree: must be between 2 and 16, got 17" },
	{ BASE REKEY "  key-management: lkh\n  degree: 1\n",
	  "t.yaml:10:11: rekey.degree: must be between 2 and 16, got 1" },
	{ BASE REKEY "  degree: 4\n", "t.yaml:9:11: rekey.degree: only used with key-management: lkh" },
	{ BASE REKEY "  key-management: oft\n",
	  "t.yaml:9:19: rekey.key-management: expected simple or lkh, got 'oft'" },
	{ BASE "rekey:\n  transport: inband\n  key-management: lkh\n",
	  "t.yaml:7:3: rekey.key-management: lkh needs transport: multicast: WRAP_KEY MUST NOT be used with "
	  "GSA_INBAND_REKEY (RFC 9838 4.5.3.1)" },
	{ BASE "rekey:\n  transport: inband\n  address: 239.0.0.1\n  ttl: 4\n",
	  "t.yaml:7:3: rekey.address: only used with transport: multicast\n"
	  "t.yaml:8:3: rekey.ttl: only used with transport: multicast" },
	/* PPKs (RFC 8784) */
	{ BASE MEMBER "    psk: 0123456789abcdef0123\n    ppk: 0123456789abcdef0123\n    ppk-id: x\n",
	  "t.yaml:8:10: members[0].ppk: only used when the group sets ppk: optional or required" },
	{ BASE "ppk: required\n" MEMBER "    psk: 0123456789abcdef0123\n",
	  "t.yaml:7:9: members[0].id: the group sets ppk: required: give this member ppk-file and ppk-id" },
	{ BASE "ppk: optional\n" MEMBER "    psk: 0123456789abcdef0123\n    ppk: 0123456789abcdef0123\n",
	  "t.yaml:9:10: members[0].ppk: a PPK needs its ppk-id (RFC 8784 3)" },
	{ BASE "ppk: optional\n" MEMBER "    psk: 0123456789abcdef0123\n    ppk-id: x\n",
	  "t.yaml:9:13: members[0].ppk-id: ppk-id needs ppk or ppk-file" },
	{ BASE "ppk: optional\n" MEMBER "    psk: 0123456789abcdef0123\n    ppk: 0123456789abcdef0123\n"
	  "    ppk-file: x.ppk\n    ppk-id: x\n",
	  "t.yaml:10:15: members[0].ppk-file: ./x.ppk: cannot read the PSK file: No such file or directory\n"
	  "t.yaml:10:15: members[0].ppk-file: give ppk or ppk-file, not both" },
	/* additional key exchanges (RFC 9370) */
	{ BASE "additional-key-exchanges: [p384, kyber]\n", "t.yaml:5:34: additional-key-exchanges: unknown key exchange method 'kyber' (x25519, x448, p256, p384, "
	  "p521, modp2048, modp3072, modp4096)" },
	{ BASE "additional-key-exchanges: [p384, p384]\n", "t.yaml:5:34: additional-key-exchanges: p384 is listed twice" },
	{ BASE "additional-key-exchanges: p384\n", "t.yaml:5:27: additional-key-exchanges: expected a list of key exchange methods ([p384]), got a single value" },
	{ BASE "additional-key-exchanges: [p256, p256, p256, p256, p256, p256, p256, p256]\n", "t.yaml:5:27: additional-key-exchanges: 8 additional key exchanges; RFC 9370 allows at most 7" },
	{ BASE "ppk: always\n",
	  "t.yaml:5:6: ppk: expected none, optional or required, got 'always'" },
	{ BASE "ppk: optional\n" MEMBER "    psk: 0123456789abcdef0123\n    ppk: 0123456789abcdef0123\n    ppk-id: \"\"\n",
	  "t.yaml:10:13: members[0].ppk-id: a PPK identity has 1 to 255 octets, this one 0" },
	/* members */
	{ BASE MEMBER "    psk: short-secret\n", "t.yaml:7:10: members[0].psk: PSK is 12 octets; at least 16 are required" },
	{ BASE MEMBER "    psk: 0x00112233445566778899aabbccddee\n",
	  "t.yaml:7:10: members[0].psk: PSK is 15 octets; at least 16 are required" },
	{ BASE MEMBER "    psk: 0x0011223344556677889900aabbccddeeffx\n",
	  "t.yaml:7:10: members[0].psk: PSK starts with 0x but is not hex (an even number of digits 0-9, a-f)" },
	{ BASE MEMBER "    auth: psk\n", "t.yaml:6:5: members[0].psk: auth psk needs psk or psk-file" },
	{ BASE MEMBER "    auth: certificate\n    psk: 0123456789abcdef0123\n",
	  "t.yaml:8:10: members[0].psk: only used with auth: psk" },
	{ BASE MEMBER "    psk-file: no-such.psk\n",
	  "t.yaml:7:15: members[0].psk-file: ./no-such.psk: cannot read the PSK file: No such file or directory" },
	{ BASE MEMBER "    auth: pubkey\n    pubkey-file: no-such.pem\n",
	  "t.yaml:8:18: members[0].pubkey-file: cannot read pubkey-file no-such.pem: No such file or directory" },
	{ BASE MEMBER "    pubkey: not a key\n",
	  "t.yaml:7:13: members[0].pubkey: pubkey holds no PEM public key (-----BEGIN PUBLIC KEY-----)" },
	{ BASE MEMBER "    pubkey: |\n      " MONITOR_PEM "    pubkey-file: " POLICIES "/keys/monitor-1.pem\n",
	  "t.yaml:11:18: members[0].pubkey-file: give pubkey or pubkey-file, not both" },
	{ BASE MEMBER "    auth: pubkey\n", "t.yaml:6:5: members[0].pubkey: auth pubkey needs pubkey or pubkey-file" },
	{ BASE MEMBER "    max-sender-ids: 2\n", "t.yaml:7:21: members[0].max-sender-ids: only used with role: sender" },
	{ BASE MEMBER "    role: admin\n", "t.yaml:7:11: members[0].role: expected receiver or sender, got 'admin'" },
	{ BASE "members:\n  - id: host.example\n",
	  "t.yaml:6:9: members[0].id: invalid identity 'host.example': identity must look like fqdn:NAME, "
	  "email:ADDR, ipv4:ADDR, ipv6:ADDR or keyid:TEXT" },
	{ "id: ipv4:1.2.3\nsas:\n  - name: a\n    destination: 239.1.1.1\n",
	  "t.yaml:1:5: id: invalid identity 'ipv4:1.2.3': not an IPv4 address" },
	/* the file as a whole */
	{ "id: \"keyid:a\\0b\"\nsas:\n  - name: a\n    destination: 239.1.1.1\n",
	  "t.yaml:1:5: id: value contains a NUL character" },
	{ "groups:\n  - id: keyid:x\n    sas: [{name: a, destination: 239.1.1.1}]\nextra: 1\n",
	  "t.yaml:4:1: extra: unknown key: with groups:, every group field goes inside a list item" },
	{ "groups: {id: keyid:x}\n",
	  "t.yaml:1:9: groups: expected a list of groups (lines starting with '- '), got a mapping" },
	{ "groups: []\n", "t.yaml:1:9: groups: no groups defined" },
	{ "- id: keyid:x\n",
	  "t.yaml:1:1: document: expected a mapping: one group (id:, sas:, ...) or groups: with a list of groups" },
	{ "id: keyid:g\nsas: [a\n",
	  "t.yaml:3:1: syntax: did not find expected ',' or ']' (while parsing a flow sequence at line 2)" },
	{ "", "t.yaml:1:1: document: the file is empty: it needs a group (id:, sas:, ...) or groups: with a list of groups" },
	{ BASE "---\n" BASE,
	  "t.yaml:6:1: document: a policy file holds one YAML document; put several groups under groups:" },
	/* 201 references to one member mapping: the walk would be far longer than the file */
	{ "id: keyid:g\nsas: [{name: a, destination: 239.1.1.1}]\nmembers: [&m {id: keyid:m, role: receiver}"
	  ALIAS10 ALIAS10 ALIAS10 ALIAS10 ALIAS10 ALIAS10 ALIAS10 ALIAS10 ALIAS10 ALIAS10
	  ALIAS10 ALIAS10 ALIAS10 ALIAS10 ALIAS10 ALIAS10 ALIAS10 ALIAS10 ALIAS10 ALIAS10 "]\n",
	  "t.yaml:3:19: members[17]: too many values after expanding YAML aliases (more than 98)" },
};

START_TEST(bad_policy)
{
	const struct bad *b = &bad[_i];
	loaded l;
	load_str(&l, b->yaml);
	char *got = messages(&l.d);
	ck_assert_msg(strcmp(got, b->expect) == 0, "case %d:\n%s\ngot:\n%s\nexpected:\n%s", _i, b->yaml, got, b->expect);
	ck_assert_int_eq(l.st, GK_E_INVAL);
	ck_assert_ptr_null(l.g);
	ck_assert_uint_eq(l.n, 0);
	ck_assert_uint_gt(l.d.errors, 0); /* warnings may come with the errors */
	ck_assert_uint_eq(l.d.errors + l.d.warnings, l.d.count);
	free(got);
	unload(&l);
}
END_TEST

START_TEST(several_errors_in_one_run)
{
	static const char yaml[] =
		"groups:\n"
		"  - id: keyid:cams\n"
		"    capacity: -1\n"
		"    rekey-margin: 20\n"
		"    rekey:\n"
		"      transport: multicast\n"
		"      address: 10.1.1.1\n"
		"      integrity: sha256\n"
		"    sas:\n"
		"      - name: video\n"
		"        encryption: aes-gcm-16-iiv\n"
		"        destination: 239.1.1.1\n"
		"        sequence-numbers: esn\n"
		"      - name: video\n"
		"        protocol: ah\n"
		"        destination: 239.1.1.300\n"
		"        lifetime: 10s\n"
		"    members:\n"
		"      - id: fqdn:cam-1\n"
		"        psk: tooshort\n"
		"        role: sender\n"
		"      - id: fqdn:cam-1\n"
		"        role: sender\n"
		"        colour: blue\n"
		"  - id: keyid:cams\n"
		"    sas:\n"
		"      - name: x\n"
		"        destination: 239.2.2.2\n"
		"        encryption: aes-cbc\n";
	static const char expect[] =
		"t.yaml:3:15: groups[0].capacity: expected a whole number, got '-1'\n"
		"t.yaml:11:21: groups[0].sas[0].encryption: AES_GCM_16_IIV uses an implicit IV, which RFC 9838 2.7 forbids for group SAs\n"
		"t.yaml:13:27: groups[0].sas[0].sequence-numbers: esn must not be used for group SAs, which are multicast (RFC 9838 4.4.2.1.3); use sequential-32 or unspecified-32\n"
		"t.yaml:16:22: groups[0].sas[1].destination: '239.1.1.300' is not an IPv4 or IPv6 address\n"
		"t.yaml:17:19: groups[0].sas[1].lifetime: must be between 1m and 30d, got 10s\n"
		"t.yaml:14:9: groups[0].sas[1].integrity: AH needs an integrity transform\n"
		"t.yaml:20:14: groups[0].members[0].psk: PSK is 8 octets; at least 16 are required\n"
		"t.yaml:24:9: groups[0].members[1].colour: unknown key (expected one of: id, auth, psk, psk-file, pubkey, pubkey-file, role, max-sender-ids, ppk, ppk-file, ppk-id)\n"
		"t.yaml:8:18: groups[0].rekey.integrity: AES_GCM_16 is a combined-mode (AEAD) transform: integrity must be none or absent\n"
		"t.yaml:6:7: groups[0].rekey.key-wrap: required with transport multicast (kw-5649-128, kw-5649-192 or kw-5649-256)\n"
		"t.yaml:7:16: groups[0].rekey.address: 10.1.1.1 is not a multicast address (IPv4 224.0.0.0/4, IPv6 ff00::/8)\n"
		"t.yaml:14:15: groups[0].sas[1].name: duplicate SA name 'video' (first at line 10)\n"
		"t.yaml:22:13: groups[0].members[1].id: duplicate member id fqdn:cam-1 (first at line 19)\n"
		"t.yaml:27:9: groups[1].sas[0].integrity: AES_CBC is not an AEAD transform: an integrity transform is required\n"
		"t.yaml:25:9: groups[1].id: duplicate group id keyid:cams (first at line 2)";
	loaded l;
	load_str(&l, yaml);
	char *got = messages(&l.d);
	ck_assert_msg(strcmp(got, expect) == 0, "got:\n%s", got);
	ck_assert_int_eq(l.st, GK_E_INVAL);
	ck_assert_uint_eq(l.d.errors, 15);
	free(got);
	unload(&l);
}
END_TEST

/* ---- key files ------------------------------------------------------------------------- */

static char tmpdir[64];

static void make_tmpdir(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/gk-policy-XXXXXX");
	ck_assert_ptr_nonnull(tu_mkdtemp(tmpdir));
}

static void write_file(const char *name, const char *content, mode_t mode)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(content, f);
	fclose(f);
	ck_assert_int_eq(chmod(path, mode), 0);
}

static void remove_tmpdir(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

/* Loads BASE with one member whose extra lines are `member` from tmpdir/t.yaml and checks the
 * messages (with "@" standing for tmpdir). */
static void check_member_file(loaded *l, const char *member, const char *expect)
{
	char name[128], yaml[1024], want[1024];
	snprintf(name, sizeof(name), "%s/t.yaml", tmpdir);
	snprintf(yaml, sizeof(yaml), BASE MEMBER "%s", member);
	size_t o = 0;
	for (const char *p = expect; *p && o + sizeof(tmpdir) < sizeof(want); p++)
		o += (size_t)(*p == '@' ? snprintf(want + o, sizeof(want) - o, "%s", tmpdir)
					 : snprintf(want + o, sizeof(want) - o, "%c", *p));
	want[o] = '\0';
	load_named(l, name, yaml);
	char *got = messages(&l->d);
	ck_assert_msg(strcmp(got, want) == 0, "%s\ngot:\n%s\nexpected:\n%s", member, got, want);
	free(got);
}

START_TEST(psk_files)
{
	loaded l;
	make_tmpdir();
	write_file("k.psk", "  0x000102030405060708090a0b0c0d0e0f10\n\n", 0600);
	check_member_file(&l, "    psk-file: k.psk\n", "");
	ck_assert_int_eq(l.st, GK_OK);
	ck_assert_int_eq(l.g[0].members[0].auth, GK_MAUTH_PSK);
	ck_assert_mem_hex(l.g[0].members[0].psk, l.g[0].members[0].psk_len, "000102030405060708090a0b0c0d0e0f10");
	unload(&l);

	write_file("text.psk", "a passphrase of some length\r\n", 0600);
	check_member_file(&l, "    psk-file: text.psk\n", "");
	ck_assert_int_eq(l.st, GK_OK);
	ck_assert_uint_eq(l.g[0].members[0].psk_len, strlen("a passphrase of some length"));
	ck_assert_mem_eq(l.g[0].members[0].psk, "a passphrase of some length", l.g[0].members[0].psk_len);
	unload(&l);

	/* readable or writable by its group or others: refused (gmd refuses it too: check_psk_file) */
	write_file("open.psk", "0x000102030405060708090a0b0c0d0e0f\n", 0644);
	check_member_file(&l, "    psk-file: open.psk\n",
			  "@/t.yaml:7:15: members[0].psk-file: @/open.psk: the PSK file is mode 0644: its group or others may access it (chmod 600 it)");
	ck_assert_int_eq(l.st, GK_E_INVAL);
	unload(&l);
	write_file("group.psk", "0x000102030405060708090a0b0c0d0e0f\n", 0640);
	check_member_file(&l, "    psk-file: group.psk\n",
			  "@/t.yaml:7:15: members[0].psk-file: @/group.psk: the PSK file is mode 0640: its group or others may access it (chmod 600 it)");
	ck_assert_int_eq(l.st, GK_E_INVAL);
	unload(&l);

	write_file("shared.psk", "0x000102030405060708090a0b0c0d0e0f\n", 0666);
	check_member_file(&l, "    psk-file: shared.psk\n",
			  "@/t.yaml:7:15: members[0].psk-file: @/shared.psk: the PSK file is mode 0666: its group or others may access it (chmod 600 it)");
	ck_assert_int_eq(l.st, GK_E_INVAL);
	unload(&l);

	write_file("empty.psk", " \n", 0600);
	check_member_file(&l, "    psk-file: empty.psk\n", "@/t.yaml:7:15: members[0].psk-file: @/empty.psk: the PSK file is empty");
	unload(&l);

	write_file("short.psk", "0x0011\n", 0600);
	check_member_file(&l, "    psk-file: short.psk\n",
			  "@/t.yaml:7:15: members[0].psk-file: @/short.psk: PSK is 2 octets; at least 16 are required");
	unload(&l);

	/* 1,024 octets is the most a PSK may have: exactly that is taken, one more refused */
	char big[2 + 2 * 1025 + 2];
	memset(big, 'k', 1024);
	big[1024] = '\0';
	write_file("max.psk", big, 0600);
	check_member_file(&l, "    psk-file: max.psk\n", "");
	ck_assert_int_eq(l.st, GK_OK);
	ck_assert_uint_eq(l.g[0].members[0].psk_len, 1024);
	unload(&l);
	memset(big, 'k', 1025);
	big[1025] = '\0';
	write_file("over.psk", big, 0600);
	check_member_file(&l, "    psk-file: over.psk\n",
			  "@/t.yaml:7:15: members[0].psk-file: @/over.psk: PSK is 1025 octets; at most 1024 are allowed");
	ck_assert_int_eq(l.st, GK_E_INVAL);
	ck_assert_ptr_null(l.g);
	unload(&l);
	big[0] = '0';
	big[1] = 'x';
	memset(big + 2, 'a', 2 * 1025);
	big[2 + 2 * 1025] = '\0';
	write_file("overhex.psk", big, 0600);
	check_member_file(&l, "    psk-file: overhex.psk\n",
			  "@/t.yaml:7:15: members[0].psk-file: @/overhex.psk: PSK is 1025 octets; at most 1024 are allowed");
	ck_assert_ptr_null(l.g);
	unload(&l);

	char sub[128];
	snprintf(sub, sizeof(sub), "%s/dir", tmpdir);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	check_member_file(&l, "    psk-file: dir\n",
			  "@/t.yaml:7:15: members[0].psk-file: @/dir: the PSK file is not a regular file");
	unload(&l);

	check_member_file(&l, "    psk: 0123456789abcdef0123\n    psk-file: k.psk\n",
			  "@/t.yaml:8:15: members[0].psk-file: give psk or psk-file, not both");
	ck_assert_int_eq(l.st, GK_E_INVAL);
	unload(&l);
	remove_tmpdir();
}
END_TEST

/* Post-quantum preshared keys (RFC 8784): the group's ppk, a member's ppk / ppk-file / ppk-id,
 * their checks, and the export of all of them. */
/* additional-key-exchanges: methods in order, kept through the store */
START_TEST(addke_field)
{
	loaded l;
	load_named(&l, "t.yaml", BASE "additional-key-exchanges: [p384, x25519]\n");
	assert_ok(&l, "addke");
	ck_assert_uint_eq(l.g[0].naddke, 2);
	ck_assert_uint_eq(l.g[0].addke[0], GK_KE_ECP_384);
	ck_assert_uint_eq(l.g[0].addke[1], GK_KE_CURVE25519);
	assert_round_trip(l.g, l.n);
	unload(&l);
}
END_TEST

START_TEST(ppk_fields)
{
	loaded l;
	char name[128];
	make_tmpdir();
	snprintf(name, sizeof(name), "%s/t.yaml", tmpdir);
	write_file("m.ppk", "  a post-quantum key of member m\n", 0600);
	load_named(&l, name, BASE "ppk: required\n" MEMBER "    psk: 0123456789abcdef0123\n"
		   "    ppk-file: m.ppk\n    ppk-id: m-ppk\n");
	assert_ok(&l, "ppk");
	ck_assert_uint_eq(l.g[0].ppk, GK_PPK_REQUIRED);
	ck_assert_mem_eq(l.g[0].members[0].ppk, "a post-quantum key of member m", l.g[0].members[0].ppk_len);
	ck_assert_uint_eq(l.g[0].members[0].ppk_id_len, 5);
	ck_assert_mem_eq(l.g[0].members[0].ppk_id, "m-ppk", 5);
	assert_round_trip(l.g, l.n);
	unload(&l);
	/* a PPK file its group may read is refused, as a PSK file */
	write_file("open.ppk", "a post-quantum key of member m\n", 0640);
	load_named(&l, name, BASE "ppk: optional\n" MEMBER "    psk: 0123456789abcdef0123\n"
		   "    ppk-file: open.ppk\n    ppk-id: m-ppk\n");
	ck_assert_int_eq(l.st, GK_E_INVAL);
	char *got = messages(&l.d);
	ck_assert_msg(strstr(got, "members[0].ppk-file: ") && strstr(got, "open.ppk: the PSK file is mode 0640"), "%s", got);
	free(got);
	unload(&l);
	remove_tmpdir();
}
END_TEST

static void write_pubkey(const char *name, EVP_PKEY *key)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(PEM_write_PUBKEY(f, key), 1);
	fclose(f);
}

START_TEST(pubkey_files)
{
	loaded l;
	make_tmpdir();
	EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *x = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
	ck_assert_ptr_nonnull(ec);
	ck_assert_ptr_nonnull(x);
	write_pubkey("ec.pem", ec);
	write_pubkey("x25519.pem", x);
	write_file("junk.pem", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", 0644);

	check_member_file(&l, "    pubkey-file: ec.pem\n", "");
	ck_assert_int_eq(l.st, GK_OK);
	const gk_member_policy *m = &l.g[0].members[0];
	ck_assert_int_eq(m->auth, GK_MAUTH_PUBKEY);
	unsigned char *der = NULL;
	int n = i2d_PUBKEY(ec, &der);
	ck_assert_int_gt(n, 0);
	assert_bytes_eq(m->pubkey, m->pubkey_len, der, (size_t)n, "SPKI");
	OPENSSL_free(der);
	assert_round_trip(l.g, l.n);
	unload(&l);

	check_member_file(&l, "    pubkey-file: x25519.pem\n",
			  "@/t.yaml:7:18: members[0].pubkey-file: pubkey-file x25519.pem: unsupported public key type "
			  "(RSA, EC P-256/384/521, Ed25519 or Ed448)");
	unload(&l);
	check_member_file(&l, "    pubkey-file: junk.pem\n",
			  "@/t.yaml:7:18: members[0].pubkey-file: pubkey-file junk.pem holds no PEM public key "
			  "(-----BEGIN PUBLIC KEY-----)");
	unload(&l);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(x);
	remove_tmpdir();
}
END_TEST

/* ---- files, export limits, diagnostics -------------------------------------------------- */

START_TEST(unreadable_policy_file)
{
	loaded l;
	load_path(&l, "/nonexistent/policy.yaml");
	ck_assert_int_eq(l.st, GK_E_IO);
	ck_assert_ptr_null(l.g);
	char *got = messages(&l.d);
	ck_assert_str_eq(got, "/nonexistent/policy.yaml: cannot read: No such file or directory");
	free(got);
	unload(&l);
}
END_TEST

START_TEST(export_refuses_what_it_cannot_write)
{
	loaded l;
	load_str(&l, BASE);
	assert_ok(&l, "base");
	gk_group_policy g = l.g[0];
	g.id.type = GK_ID_DER_ASN1_DN; /* no text form in policy files */
	FILE *f = fopen("/dev/null", "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(gk_policy_yaml_export(&g, 1, f), GK_E_INVAL);
	g = l.g[0];
	g.kek.kwa = 0;
	g.rekey_transport = GK_REKEY_MULTICAST; /* no Rekey SA to write */
	ck_assert_int_eq(gk_policy_yaml_export(&g, 1, f), GK_E_INVAL);
	fclose(f);
	unload(&l);
}
END_TEST

START_TEST(diag_bounded)
{
	gk_diag d;
	gk_diag_init(&d);
	for (int i = 0; i < GK_DIAG_MAX + 5; i++)
		gk_diag_at(&d, i % 2 ? GK_DIAG_WARNING : GK_DIAG_ERROR, "f.yaml", 1, (unsigned long)i + 1, "x", "m%d", i);
	ck_assert_uint_eq(d.count, GK_DIAG_MAX);
	ck_assert_uint_eq(d.dropped, 5);
	ck_assert_uint_eq(d.errors + d.warnings, GK_DIAG_MAX + 5);
	ck_assert_str_eq(gk_diag_text(&d, 0), "f.yaml:1:1: x: m0");
	ck_assert_str_eq(gk_diag_text(&d, 1), "f.yaml:1:2: x: warning: m1");
	ck_assert_ptr_null(gk_diag_text(&d, GK_DIAG_MAX));
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	gk_diag_print(&d, f);
	fclose(f);
	ck_assert_ptr_nonnull(strstr(text, "f.yaml:1:1000: x: warning: m999\n(5 more messages not shown)\n"));
	free(text);
	gk_diag_free(&d);
}
END_TEST

/* ---- robustness ---------------------------------------------------------------------------- */

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	ck_assert_ptr_nonnull(f);
	char *buf = malloc(1 << 16);
	ck_assert_ptr_nonnull(buf);
	*len = fread(buf, 1, 1 << 16, f);
	fclose(f);
	return buf;
}

static void load_bytes(const char *name, const char *data, size_t len)
{
	gk_group_policy *g = NULL;
	size_t n = 0;
	gk_diag d;
	gk_diag_init(&d);
	char *copy = malloc(len ? len : 1); /* exact size, so ASan sees any over-read */
	ck_assert_ptr_nonnull(copy);
	memcpy(copy, data, len);
	gk_status st = gk_policy_yaml_load_buf(name, copy, len, &g, &n, &d);
	ck_assert_msg(st == GK_OK || st == GK_E_INVAL, "status %s", gk_status_str(st));
	ck_assert(st == GK_OK ? d.errors == 0 && n > 0 : d.errors > 0 && n == 0 && !g);
	gk_policy_yaml_free(g, n);
	gk_diag_free(&d);
	free(copy);
}

START_TEST(truncations_and_mutations)
{
	static const char alphabet[] = " \n:-[]{}&*!|>'\"#%@`,?0123456789abcxyz\t\\";
	glob_t gl;
	example_paths(&gl);
	srand(9838);
	for (size_t i = 0; i < gl.gl_pathc; i++) {
		size_t len;
		char *buf = read_all(gl.gl_pathv[i], &len);
		for (size_t cut = 0; cut <= len; cut++)
			load_bytes(gl.gl_pathv[i], buf, cut);
		char *m = malloc(len);
		ck_assert_ptr_nonnull(m);
		for (int round = 0; round < 400; round++) {
			memcpy(m, buf, len);
			for (int k = 0; k < 1 + rand() % 4; k++) {
				size_t at = (size_t)rand() % len;
				m[at] = rand() % 8 ? alphabet[rand() % (int)(sizeof(alphabet) - 1)] : (char)rand();
			}
			load_bytes(gl.gl_pathv[i], m, (size_t)rand() % (len + 1));
		}
		free(m);
		free(buf);
	}
	globfree(&gl);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("policy_yaml");
	TCase *tc = tcase_create("policy_yaml");
	tcase_add_checked_fixture(tc, examples_copy, examples_remove);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, examples_load);
	tcase_add_test(tc, example_video);
	tcase_add_test(tc, example_inband_and_certificates);
	tcase_add_test(tc, examples_round_trip);
	tcase_add_test(tc, everything_round_trip);
	tcase_add_test(tc, implicit_authentication_warns);
	tcase_add_test(tc, weak_rekey_kwk_warns);
	tcase_add_test(tc, sequence_numbers_do_not_wrap);
	tcase_add_test(tc, rekey_source_selector);
	tcase_add_test(tc, defaults);
	tcase_add_test(tc, spellings);
	tcase_add_loop_test(tc, bad_policy, 0, (int)(sizeof(bad) / sizeof(bad[0])));
	tcase_add_test(tc, several_errors_in_one_run);
	tcase_add_test(tc, psk_files);
	tcase_add_test(tc, ppk_fields);
	tcase_add_test(tc, addke_field);
	tcase_add_test(tc, pubkey_files);
	tcase_add_test(tc, unreadable_policy_file);
	tcase_add_test(tc, export_refuses_what_it_cannot_write);
	tcase_add_test(tc, diag_bounded);
	tcase_add_test(tc, truncations_and_mutations);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
