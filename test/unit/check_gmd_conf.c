/* gmd's settings (member/gmd_conf.c): every key of the configuration file read into its field,
 * every mistake reported as FILE:LINE:COLUMN: key: message (exactly), the command line over the
 * file, the checks of what a running gmd needs, and key server names resolved (localhost, an
 * IPv6 address with a scope). */
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "testutil.h"
#include "iana.h"
#include "log.h"
#include "member/gmd_conf.h"

static gmd_conf c;
static gk_diag diag;

static gk_status load(const char *text)
{
	gk_diag_clear(&diag);
	return gmd_conf_load_buf(&c, "/etc/gmd/t.conf", text, strlen(text), "gikev2-gmd", &diag);
}

/* The only message is exactly `want`. */
static void one_error(const char *text, const char *want)
{
	ck_assert_int_eq(load(text), GK_E_INVAL);
	ck_assert_msg(diag.count == 1, "%zu messages for %s (first: %s)", diag.count, text,
		      diag.count ? gk_diag_text(&diag, 0) : "");
	ck_assert_str_eq(gk_diag_text(&diag, 0), want);
}

static void setup(void)
{
	gk_log_init("check_gmd_conf", GK_LOG_ERROR);
	gk_diag_init(&diag);
}

static void teardown(void)
{
	gk_diag_free(&diag);
}

static const char full[] =
	"# every setting\n"
	"gcks:\n"
	"  - 192.0.2.1\n"
	"  - \"[2001:db8::2]:848\"\n"
	"id: fqdn:m1.example\n"
	"group: [keyid:g1, keyid:g2]\n"
	"psk-file: keys/m1.psk\n"
	"cert: /k/c.pem\n"
	"key: k.pem\n"
	"ca: /k/ca.pem\n"
	"gcks-pubkey: /k/g.pub\n"
	"sender: 4\n"
	"once: true\n"
	"json: yes\n"
	"local: 192.0.2.9\n"
	"no-nat-t: true\n"
	"nat-keepalive: 30\n"
	"log-level: info,reg=debug\n"
	"sag-encr: [AES_GCM_16/256, aes_cbc/128]\n"
	"sa-backend: none\n"
	"mcast-iface: eth1\n"
	"retry: 7:70\n"
	"liveness: 0\n"
	"retransmit: 250:3\n"
	"rereg-delay: 60\n"
	"gcks-id: fqdn:gcks.example\n"
	"allow-selector: 192.0.2.0/24\n"
	"user: gm\n"
	"initial-contact: true\n"
	"ike-lifetime: 3600\n"
	"log-target: syslog\n"
	"ppk-file: keys/m1.ppk\n"
	"ppk-id: m1-ppk\n"
	"ppk-required: true\n"
	"transport: tcp:4501\n"
	"addke: p384,x25519\n";

START_TEST(every_setting)
{
	char t[GK_IDENT_TEXT_MAX], a[64];
	ck_assert_int_eq(load(full), GK_OK);
	ck_assert_uint_eq(diag.count, 0);
	ck_assert_uint_eq(c.given, ((uint64_t)1 << GMD_NOPTS) - 1); /* every key of the table is in `full` */
	ck_assert_int_eq(c.transport.mode, GMD_TCP);
	ck_assert_uint_eq(c.transport.port, 4501);
	ck_assert_uint_eq(c.gcks.n, 2);
	ck_assert_str_eq(c.gcks.v[0].text, "192.0.2.1");
	ck_assert_int_eq(c.gcks.v[0].addr.ss_family, AF_INET);
	ck_assert_uint_eq(ntohs(((struct sockaddr_in *)&c.gcks.v[0].addr)->sin_port), 500);
	ck_assert_int_eq(c.gcks.v[1].addr.ss_family, AF_INET6);
	ck_assert_uint_eq(ntohs(((struct sockaddr_in6 *)&c.gcks.v[1].addr)->sin6_port), 848);
	inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&c.gcks.v[1].addr)->sin6_addr, a, sizeof(a));
	ck_assert_str_eq(a, "2001:db8::2");
	ck_assert_str_eq(gk_ident_text(&c.id, t), "fqdn:m1.example");
	ck_assert_uint_eq(c.groups.n, 2);
	ck_assert_str_eq(gk_ident_text(&c.groups.v[1], t), "keyid:g2");
	ck_assert_str_eq(c.psk_file, "/etc/gmd/keys/m1.psk"); /* relative: from the file's directory */
	ck_assert_str_eq(c.cert, "/k/c.pem");
	ck_assert_str_eq(c.key, "/etc/gmd/k.pem");
	ck_assert_str_eq(c.ca, "/k/ca.pem");
	ck_assert_str_eq(c.gcks_pubkey, "/k/g.pub");
	ck_assert(c.sender.on);
	ck_assert_uint_eq(c.sender.ids, 4);
	ck_assert(c.once && c.json && c.no_nat_t && c.initial_contact);
	ck_assert_str_eq(c.local, "192.0.2.9");
	ck_assert_uint_eq(c.nat_keepalive_s, 30);
	ck_assert_str_eq(c.log_level, "info,reg=debug");
	ck_assert_int_eq(gk_log_get_level(GK_SUB_REG), GK_LOG_ERROR); /* checked, not applied */
	ck_assert_str_eq(c.log_target, "syslog");
	ck_assert_str_eq(c.ppk_file, "/etc/gmd/keys/m1.ppk");
	ck_assert_str_eq(c.ppk_id, "m1-ppk");
	ck_assert(c.ppk_required);
	ck_assert_uint_eq(c.addke.n, 2);
	ck_assert_uint_eq(c.addke.v[0], GK_KE_ECP_384);
	ck_assert_uint_eq(c.addke.v[1], GK_KE_CURVE25519);
	ck_assert_uint_eq(c.sag_encr.n, 2);
	ck_assert_uint_eq(c.sag_encr.v[0].id, GK_ENCR_AES_GCM_16);
	ck_assert_uint_eq(c.sag_encr.v[0].key_bits, 256);
	ck_assert_uint_eq(c.sag_encr.v[1].id, GK_ENCR_AES_CBC);
	ck_assert_uint_eq(c.sag_encr.v[1].key_bits, 128);
	ck_assert_str_eq(c.sa_backend, "none");
	ck_assert_str_eq(c.mcast_iface, "eth1");
	ck_assert_uint_eq(c.retry.s, 7);
	ck_assert_uint_eq(c.retry.max_s, 70);
	ck_assert_uint_eq(c.liveness_s, 0);
	ck_assert_uint_eq(c.retransmit.ms, 250);
	ck_assert_uint_eq(c.retransmit.tries, 3);
	ck_assert_uint_eq(c.rereg_s, 60);
	ck_assert_str_eq(gk_ident_text(&c.gcks_id, t), "fqdn:gcks.example");
	ck_assert_uint_eq(c.allow.n, 1);
	ck_assert_str_eq(c.user, "gm");
	ck_assert_uint_eq(c.ike_lifetime_s, 3600);
}
END_TEST

START_TEST(defaults)
{
	ck_assert_int_eq(load(""), GK_OK); /* an empty file: the command line says it all */
	ck_assert_uint_eq(c.given, 0);
	ck_assert_uint_eq(c.gcks.n, 0);
	ck_assert(!c.sender.on && !c.once && !c.json && !c.no_nat_t && !c.initial_contact);
	ck_assert_uint_eq(c.nat_keepalive_s, 20);
	ck_assert_int_eq(c.transport.mode, GMD_UDP);
	ck_assert_uint_eq(c.transport.port, 4500); /* RFC 9329 */
	ck_assert_str_eq(c.log_level, "");
	ck_assert_str_eq(c.log_target, "");
	ck_assert_str_eq(c.sa_backend, "xfrm");
	ck_assert_uint_eq(c.retry.s, 5);
	ck_assert_uint_eq(c.retry.max_s, 300);
	ck_assert_uint_eq(c.liveness_s, 60);
	ck_assert_uint_eq(c.retransmit.ms, 500);
	ck_assert_uint_eq(c.retransmit.tries, 6);
	ck_assert_uint_eq(c.rereg_s, 5);
	ck_assert_uint_eq(c.ike_lifetime_s, 14400);
	ck_assert_str_eq(c.user, "gikev2-gmd");
	/* a single value where a list may be; booleans false; sender true without a count */
	ck_assert_int_eq(load("gcks: 192.0.2.1:4500\ngroup: keyid:g\nsender: true\njson: false\nretry: 9\n"), GK_OK);
	ck_assert_uint_eq(c.gcks.n, 1);
	ck_assert_uint_eq(c.groups.n, 1);
	ck_assert(c.sender.on);
	ck_assert_uint_eq(c.sender.ids, 0);
	ck_assert(!c.json);
	ck_assert_uint_eq(c.retry.s, 9);
	ck_assert_uint_eq(c.retry.max_s, 300);
}
END_TEST

/* Each mistake, alone in its file, with its exact position and text. */
START_TEST(errors)
{
	static const struct { const char *text, *want; } cases[] = {
		{ "nope: 1\n", "/etc/gmd/t.conf:1:1: nope: unknown setting (gmd.conf(5) lists them)" },
		{ "id: fqdn:a\nid: fqdn:b\n", "/etc/gmd/t.conf:2:1: id: given twice (first at line 1)" },
		{ "- a\n", "/etc/gmd/t.conf:1:1: document: expected settings (key: value), found a list" },
		{ "x\n", "/etc/gmd/t.conf:1:1: document: expected settings (key: value), found a value" },
		{ "? [a]\n: b\n", "/etc/gmd/t.conf:1:3: document: a key must be a setting name, found a list" },
		{ "id: [fqdn:a]\n", "/etc/gmd/t.conf:1:5: id: expected a value, found a list" },
		{ "gcks: {a: b}\n", "/etc/gmd/t.conf:1:7: gcks: expected a value or a list, found a mapping" },
		{ "group:\n  - keyid:a\n  - [x]\n", "/etc/gmd/t.conf:3:5: group: expected a value, found a list" },
		{ "id: nothing\n", "/etc/gmd/t.conf:1:5: id: identity must look like fqdn:NAME, email:ADDR, ipv4:ADDR, ipv6:ADDR or keyid:TEXT" },
		{ "gcks-id: 'fqdn:'\n", NULL },
		{ "group: [keyid:a, keyid:a]\n", "/etc/gmd/t.conf:1:18: group: keyid:a is listed twice" },
		{ "group: [keyid:1, keyid:2, keyid:3, keyid:4, keyid:5, keyid:6, keyid:7, keyid:8, keyid:9]\n",
		  "/etc/gmd/t.conf:1:81: group: too many groups (8 at most)" },
		{ "gcks: [192.0.2.1, 192.0.2.2, 192.0.2.3, 192.0.2.4, 192.0.2.5, 192.0.2.6, 192.0.2.7, 192.0.2.8, 192.0.2.9]\n",
		  "/etc/gmd/t.conf:1:96: gcks: too many key servers (8 at most)" },
		{ "gcks: 192.0.2.1:0\n", "/etc/gmd/t.conf:1:7: gcks: bad port 0 (1 to 65535)" },
		{ "gcks: 192.0.2.1:x\n", "/etc/gmd/t.conf:1:7: gcks: bad port x (1 to 65535)" },
		{ "gcks: \"[::1\"\n", "/etc/gmd/t.conf:1:7: gcks: use [ADDRESS]:PORT" },
		{ "gcks: \":848\"\n", "/etc/gmd/t.conf:1:7: gcks: no host name or address" },
		{ "gcks: no-such-host.invalid\n", NULL },
		{ "psk-file: \"\"\n", "/etc/gmd/t.conf:1:11: psk-file: empty path" },
		{ "sender: 0\n", "/etc/gmd/t.conf:1:9: sender: use true, false or a number of Sender-IDs (1 to 256)" },
		{ "sender: 257\n", "/etc/gmd/t.conf:1:9: sender: use true, false or a number of Sender-IDs (1 to 256)" },
		{ "once: maybe\n", "/etc/gmd/t.conf:1:7: once: use true or false" },
		{ "json: 1\n", "/etc/gmd/t.conf:1:7: json: use true or false" },
		{ "no-nat-t: on\n", "/etc/gmd/t.conf:1:11: no-nat-t: use true or false" },
		{ "initial-contact: \"\"\n", "/etc/gmd/t.conf:1:18: initial-contact: use true or false" },
		{ "local: somewhere\n", NULL },
		{ "nat-keepalive: 3601\n", "/etc/gmd/t.conf:1:16: nat-keepalive: use SECONDS, 0 to 3600 (0 = off)" },
		{ "log-level: loud\n", "/etc/gmd/t.conf:1:12: log-level: loud: not a level (error, warning, notice, info, debug)" },
		{ "log-level: info,disk=debug\n", NULL },
		{ "log-target: printer\n", "/etc/gmd/t.conf:1:13: log-target: use stderr, syslog or journal" },
		{ "sag-encr: NOPE\n", "/etc/gmd/t.conf:1:11: sag-encr: unknown encryption transform NOPE" },
		{ "sag-encr: AES_CBC/x\n", "/etc/gmd/t.conf:1:11: sag-encr: bad key length x" },
		{ "sag-encr: [AES_CBC, AES_CBC, AES_CBC, AES_CBC, AES_CBC, AES_CBC, AES_CBC, AES_CBC, AES_CBC]\n",
		  "/etc/gmd/t.conf:1:84: sag-encr: too many transforms (8 at most)" },
		{ "sa-backend: pfkey\n", "/etc/gmd/t.conf:1:13: sa-backend: use xfrm or none" },
		{ "transport: quic\n", "/etc/gmd/t.conf:1:12: transport: use udp, tcp[:PORT] or auto[:PORT] (PORT 1 to 65535, default 4500)" },
		{ "transport: udp:4500\n", "/etc/gmd/t.conf:1:12: transport: use udp, tcp[:PORT] or auto[:PORT] (PORT 1 to 65535, default 4500)" },
		{ "transport: tcp:0\n", "/etc/gmd/t.conf:1:12: transport: use udp, tcp[:PORT] or auto[:PORT] (PORT 1 to 65535, default 4500)" },
		{ "transport: auto:65536\n", "/etc/gmd/t.conf:1:12: transport: use udp, tcp[:PORT] or auto[:PORT] (PORT 1 to 65535, default 4500)" },
		{ "transport: tcpx\n", "/etc/gmd/t.conf:1:12: transport: use udp, tcp[:PORT] or auto[:PORT] (PORT 1 to 65535, default 4500)" },
		{ "addke: p384,kyber\n", "/etc/gmd/t.conf:1:8: addke: unknown key exchange method 'kyber' (x25519, x448, "
					 "p256, p384, p521, modp2048, modp3072, modp4096)" },
		{ "mcast-iface: a-very-long-interface-name\n",
		  "/etc/gmd/t.conf:1:14: mcast-iface: an interface name: 1 to 15 characters" },
		{ "retry: 0\n", "/etc/gmd/t.conf:1:8: retry: use SECONDS[:MAX], 1 to 86400" },
		{ "retry: 5:86401\n", "/etc/gmd/t.conf:1:8: retry: use SECONDS[:MAX], 1 to 86400" },
		{ "retry: '5:'\n", "/etc/gmd/t.conf:1:8: retry: use SECONDS[:MAX], 1 to 86400" },
		{ "liveness: 86401\n", "/etc/gmd/t.conf:1:11: liveness: use SECONDS, 0 to 86400 (0 = off)" },
		{ "liveness: -1\n", "/etc/gmd/t.conf:1:11: liveness: use SECONDS, 0 to 86400 (0 = off)" },
		{ "retransmit: 9\n", "/etc/gmd/t.conf:1:13: retransmit: use MS[:TRIES], 10 to 60000 ms, up to 20 tries" },
		{ "retransmit: 100:21\n", "/etc/gmd/t.conf:1:13: retransmit: use MS[:TRIES], 10 to 60000 ms, up to 20 tries" },
		{ "rereg-delay: 1\n", "/etc/gmd/t.conf:1:14: rereg-delay: use SECONDS, 2 to 3600" },
		{ "allow-selector: 224.0.0.0/33\n", NULL },
		{ "user: \"\"\n", "/etc/gmd/t.conf:1:7: user: an account name: 1 to 63 characters" },
		{ "ike-lifetime: 59\n", "/etc/gmd/t.conf:1:15: ike-lifetime: use SECONDS, 60 to 2592000 (0 = never rekey)" },
		{ "ike-lifetime: 2592001\n", "/etc/gmd/t.conf:1:15: ike-lifetime: use SECONDS, 60 to 2592000 (0 = never rekey)" },
		{ "id: fqdn:a\n---\nid: fqdn:b\n", "/etc/gmd/t.conf:3:1: document: a configuration file holds one YAML document" },
		{ "id: [a\n", NULL },
		{ "id: \"a\\0b\"\n", "/etc/gmd/t.conf:1:5: id: a NUL character in the value" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (cases[i].want) {
			one_error(cases[i].text, cases[i].want);
			continue;
		}
		/* the message comes from elsewhere (ident, prefix, resolver, libyaml): its position */
		ck_assert_int_eq(load(cases[i].text), GK_E_INVAL);
		ck_assert_msg(diag.count == 1, "%s: %zu messages", cases[i].text, diag.count);
	}
	ck_assert_int_eq(load("gcks-id: 'fqdn:'\n"), GK_E_INVAL);
	ck_assert_msg(!strncmp(gk_diag_text(&diag, 0), "/etc/gmd/t.conf:1:10: gcks-id: ", 31), "%s", gk_diag_text(&diag, 0));
	ck_assert_int_eq(load("gcks: no-such-host.invalid\n"), GK_E_INVAL);
	ck_assert_msg(!strncmp(gk_diag_text(&diag, 0), "/etc/gmd/t.conf:1:7: gcks: cannot resolve no-such-host.invalid: ", 64),
		      "%s", gk_diag_text(&diag, 0));
	ck_assert_int_eq(load("local: somewhere\n"), GK_E_INVAL);
	ck_assert_msg(!strncmp(gk_diag_text(&diag, 0), "/etc/gmd/t.conf:1:8: local: ", 28), "%s", gk_diag_text(&diag, 0));
	ck_assert_int_eq(load("allow-selector: 224.0.0.0/33\n"), GK_E_INVAL);
	ck_assert_msg(!strncmp(gk_diag_text(&diag, 0), "/etc/gmd/t.conf:1:17: allow-selector: ", 38), "%s",
		      gk_diag_text(&diag, 0));
	ck_assert_int_eq(load("id: [a\n"), GK_E_INVAL);
	ck_assert_msg(!strncmp(gk_diag_text(&diag, 0), "/etc/gmd/t.conf:2:1: syntax: ", 29), "%s", gk_diag_text(&diag, 0));
}
END_TEST

/* Every mistake of a file in one run, in file order; nothing of a bad file is kept. */
START_TEST(all_mistakes)
{
	gmd_conf before;
	ck_assert_int_eq(load("id: fqdn:keep\n"), GK_OK);
	before = c;
	ck_assert_int_eq(load("retry: x\nid: fqdn:new\nfoo: 1\nlog-level: 3\n"), GK_E_INVAL);
	ck_assert_uint_eq(diag.count, 3);
	ck_assert_str_eq(gk_diag_text(&diag, 0), "/etc/gmd/t.conf:1:8: retry: use SECONDS[:MAX], 1 to 86400");
	ck_assert_str_eq(gk_diag_text(&diag, 1), "/etc/gmd/t.conf:3:1: foo: unknown setting (gmd.conf(5) lists them)");
	ck_assert_str_eq(gk_diag_text(&diag, 2), "/etc/gmd/t.conf:4:12: log-level: 3: not a level (error, warning, notice, info, debug)");
	ck_assert(!memcmp(&c, &before, sizeof(c)));
}
END_TEST

START_TEST(file_io)
{
	char dir[] = "/tmp/gk-gmdconf.XXXXXX", path[64];
	ck_assert_ptr_nonnull(tu_mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/none.conf", dir);
	gk_diag_clear(&diag);
	ck_assert_int_eq(gmd_conf_load(&c, path, "u", &diag), GK_E_IO);
	char want[128];
	snprintf(want, sizeof(want), "%s: cannot read: No such file or directory", path);
	ck_assert_str_eq(gk_diag_text(&diag, 0), want);
	gk_diag_clear(&diag);
	ck_assert_int_eq(gmd_conf_load(&c, dir, "u", &diag), GK_E_IO);
	snprintf(want, sizeof(want), "%s: cannot read: not a regular file", dir);
	ck_assert_str_eq(gk_diag_text(&diag, 0), want);
	snprintf(path, sizeof(path), "%s/a.conf", dir);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("psk-file: p\nsa-backend: none\n", f);
	fclose(f);
	gk_diag_clear(&diag);
	ck_assert_int_eq(gmd_conf_load(&c, path, "u", &diag), GK_OK);
	snprintf(want, sizeof(want), "%s/p", dir);
	ck_assert_str_eq(c.psk_file, want);
	/* writable by group or others: refused, whatever it holds */
	ck_assert_int_eq(chmod(path, 0664), 0);
	gk_diag_clear(&diag);
	ck_assert_int_eq(gmd_conf_load(&c, path, "u", &diag), GK_E_IO);
	snprintf(want, sizeof(want), "%s: writable by group or others (mode 0664): chmod go-w", path);
	ck_assert_str_eq(gk_diag_text(&diag, 0), want);
	ck_assert_int_eq(chmod(path, 0602), 0);
	gk_diag_clear(&diag);
	ck_assert_int_eq(gmd_conf_load(&c, path, "u", &diag), GK_E_IO);
	ck_assert_int_eq(chmod(path, 0640), 0);
	/* larger than GMD_CONF_FILE_MAX */
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fseek(f, GMD_CONF_FILE_MAX, SEEK_SET), 0);
	fputc('\n', f);
	fclose(f);
	gk_diag_clear(&diag);
	ck_assert_int_eq(gmd_conf_load(&c, path, "u", &diag), GK_E_IO);
	snprintf(want, sizeof(want), "%s: cannot read: larger than %u octets", path, GMD_CONF_FILE_MAX);
	ck_assert_str_eq(gk_diag_text(&diag, 0), want);
}
END_TEST

/* The command line overrides the file setting by setting; a list replaces the file's list. */
START_TEST(merge)
{
	gmd_conf cli, m;
	char err[GK_ERR_MAX];
	ck_assert_int_eq(load("gcks: [192.0.2.1, 192.0.2.2]\ngroup: keyid:f\nretry: 7\nliveness: 9\n"), GK_OK);
	gmd_conf_default(&cli, "gikev2-gmd");
	ck_assert_int_eq(gmd_conf_set(&cli, GMD_GCKS, "192.0.2.3", NULL, err, sizeof(err)), GK_OK);
	cli.given |= (uint64_t)1 << GMD_GCKS;
	ck_assert_int_eq(gmd_conf_set(&cli, GMD_RETRY, "11:12", NULL, err, sizeof(err)), GK_OK);
	cli.given |= (uint64_t)1 << GMD_RETRY;
	ck_assert_int_eq(gmd_conf_set(&cli, GMD_PSK_FILE, "rel.psk", NULL, err, sizeof(err)), GK_OK);
	cli.given |= (uint64_t)1 << GMD_PSK_FILE;
	gmd_conf_merge(&m, &c, &cli);
	ck_assert_uint_eq(m.gcks.n, 1);
	ck_assert_str_eq(m.gcks.v[0].text, "192.0.2.3");
	ck_assert_uint_eq(m.retry.s, 11);
	ck_assert_uint_eq(m.retry.max_s, 12);
	ck_assert_uint_eq(m.liveness_s, 9);          /* from the file */
	ck_assert_uint_eq(m.groups.n, 1);            /* from the file */
	ck_assert_str_eq(m.psk_file, "rel.psk");     /* the command line's, from the working directory */
	ck_assert(!gmd_conf_same(&m, &c, GMD_GCKS));
	ck_assert(gmd_conf_same(&m, &c, GMD_GROUP));
	/* a flag on the command line is true without a value */
	ck_assert_int_eq(gmd_conf_set(&cli, GMD_ONCE, NULL, NULL, err, sizeof(err)), GK_OK);
	ck_assert(cli.once);
	ck_assert_int_eq(gmd_conf_set(&cli, GMD_RETRY, NULL, NULL, err, sizeof(err)), GK_E_INVAL);
	ck_assert_str_eq(err, "needs a value");
	/* a failed set leaves the setting as it was */
	ck_assert_int_eq(gmd_conf_set(&cli, GMD_RETRY, "3:x", NULL, err, sizeof(err)), GK_E_INVAL);
	ck_assert_uint_eq(cli.retry.s, 11);
	ck_assert_int_eq(gmd_conf_set(&cli, GMD_SAG_ENCR, "AES_CBC,NOPE", NULL, err, sizeof(err)), GK_E_INVAL);
	ck_assert_uint_eq(cli.sag_encr.n, 0);
}
END_TEST

/* What a running gmd needs, each missing piece named. */
START_TEST(check)
{
	gk_diag_clear(&diag);
	ck_assert_int_eq(load(""), GK_OK);
	ck_assert_int_eq(gmd_conf_check(&c, "f.conf", &diag), GK_E_INVAL);
	ck_assert_uint_eq(diag.count, 4);
	ck_assert_str_eq(gk_diag_text(&diag, 0), "f.conf: gcks: missing: the key server(s) to register with");
	ck_assert_str_eq(gk_diag_text(&diag, 1), "f.conf: id: missing: this member's identity");
	ck_assert_str_eq(gk_diag_text(&diag, 2), "f.conf: group: missing: the group(s) to register to");
	ck_assert_str_eq(gk_diag_text(&diag, 3), "f.conf: psk-file: missing: psk-file, or key with cert or gcks-pubkey");
	static const char base[] = "gcks: 192.0.2.1\nid: fqdn:m\ngroup: keyid:g\n";
	static const struct { const char *more, *want; } cases[] = {
		{ "psk-file: /p\n", NULL },
		{ "psk-file: /p\nkey: /k\ngcks-pubkey: /g\n", "f.conf: psk-file: psk-file and key exclude each other" },
		{ "key: /k\n", "f.conf: key: ca or gcks-pubkey is needed to authenticate the GCKS" },
		{ "key: /k\ncert: /c\nca: /ca\n", "f.conf: ca: needs gcks-id: the identity the GCKS must authenticate as" },
		{ "key: /k\ncert: /c\nca: /ca\ngcks-id: fqdn:g\n", NULL },
		{ "key: /k\ngcks-pubkey: /g\n", NULL },
		{ "psk-file: /p\nppk-file: /q\nppk-id: q-1\nppk-required: true\n", NULL },
		{ "psk-file: /p\nppk-file: /q\n", "f.conf: ppk-file: needs ppk-id: the PPK's identity" },
		{ "psk-file: /p\nppk-id: q-1\n", "f.conf: ppk-id: needs ppk-file" },
		{ "psk-file: /p\nppk-required: true\n", "f.conf: ppk-required: needs ppk-file and ppk-id" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[256];
		snprintf(text, sizeof(text), "%s%s", base, cases[i].more);
		ck_assert_int_eq(load(text), GK_OK);
		gk_diag_clear(&diag);
		ck_assert_int_eq(gmd_conf_check(&c, "f.conf", &diag), cases[i].want ? GK_E_INVAL : GK_OK);
		if (cases[i].want) {
			ck_assert_uint_eq(diag.count, 1);
			ck_assert_str_eq(gk_diag_text(&diag, 0), cases[i].want);
		}
	}
}
END_TEST

/* Key servers by name (getaddrinfo) and IPv6 addresses with a scope, with and without port. */
START_TEST(resolve)
{
	struct sockaddr_storage a;
	char err[GK_ERR_MAX];
	ck_assert_int_eq(gmd_resolve("localhost:848", 500, &a, err, sizeof(err)), GK_OK);
	ck_assert(a.ss_family == AF_INET || a.ss_family == AF_INET6);
	unsigned port = a.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&a)->sin_port)
					       : ntohs(((struct sockaddr_in6 *)&a)->sin6_port);
	ck_assert_uint_eq(port, 848);
	ck_assert_int_eq(gmd_resolve("fe80::1%lo", 500, &a, err, sizeof(err)), GK_OK);
	ck_assert_int_eq(a.ss_family, AF_INET6);
	ck_assert_uint_eq(((struct sockaddr_in6 *)&a)->sin6_scope_id, if_nametoindex("lo"));
	ck_assert_uint_eq(ntohs(((struct sockaddr_in6 *)&a)->sin6_port), 500);
	ck_assert_int_eq(gmd_resolve("[fe80::1%lo]:4500", 500, &a, err, sizeof(err)), GK_OK);
	ck_assert_uint_eq(((struct sockaddr_in6 *)&a)->sin6_scope_id, if_nametoindex("lo"));
	ck_assert_uint_eq(ntohs(((struct sockaddr_in6 *)&a)->sin6_port), 4500);
	ck_assert_int_eq(gmd_resolve("[::1]", 848, &a, err, sizeof(err)), GK_OK);
	ck_assert_uint_eq(ntohs(((struct sockaddr_in6 *)&a)->sin6_port), 848);
	ck_assert_int_eq(gmd_resolve("fe80::1%no-such-if0", 500, &a, err, sizeof(err)), GK_E_INVAL);
	ck_assert_int_eq(gmd_resolve("[::1]x", 500, &a, err, sizeof(err)), GK_E_INVAL);
	ck_assert_str_eq(err, "use [ADDRESS]:PORT");
	ck_assert_int_eq(gmd_resolve("[::1]:", 500, &a, err, sizeof(err)), GK_E_INVAL);
	ck_assert_int_eq(gmd_resolve("h:123456", 500, &a, err, sizeof(err)), GK_E_INVAL);
	ck_assert_str_eq(err, "bad port 123456 (1 to 65535)");
	ck_assert_int_eq(gmd_resolve("h:12345678", 500, &a, err, sizeof(err)), GK_E_INVAL);
	ck_assert_str_eq(err, "bad port");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("gmd_conf");
	TCase *t = tcase_create("conf");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, every_setting);
	tcase_add_test(t, defaults);
	tcase_add_test(t, errors);
	tcase_add_test(t, all_mistakes);
	tcase_add_test(t, file_io);
	tcase_add_test(t, merge);
	tcase_add_test(t, check);
	tcase_add_test(t, resolve);
	suite_add_tcase(s, t);
	return tu_run(s);
}
