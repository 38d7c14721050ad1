/* Unit tests of the store (gcks/storage.h, gcks/store/, gcks/gcks_keyrules.c): file modes, schema versions and migration, group
 * policy round trips and atomicity, group SA keys, counters, registrations, audit.
 * Every test works in its own temporary directory under /tmp.
 *
 * With GK_TEST_PG set to a PostgreSQL server (postgresql://USER@HOST:PORT, no database;
 * test/check_storage_pg.sh starts a throwaway one) the same tests run on the PostgreSQL backend,
 * each on a database of its own; the tests of SQLite files (modes, PRAGMAs, foreign files,
 * migrating an SQLite version 1 file) run on SQLite only. */
#include "config.h"
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sqlite3.h>
#include "testutil.h"
#include "tu_pg.h"
#include "gcks/storage.h"
#include "gcks/gcks_keyrules.h"
#include "gcks/gcks_lkh.h"
#include "rand.h"
#include "iana.h"
#include "rand.h"

#define NOW INT64_C(1700000000)

static char dir[64];
static char db[256];


/* The few statements of these tests that read SQLite's own catalog, in PostgreSQL's words. */
static const char *pg_sql(const char *sql)
{
	static const char *const map[][2] = {
		{ "PRAGMA user_version", "SELECT version FROM gikev2_schema" },
		{ "PRAGMA user_version = 99", "UPDATE gikev2_schema SET version = 99" },
		{ "SELECT count(*) FROM sqlite_master WHERE name = 'groups'",
		  "SELECT count(*) FROM pg_tables WHERE tablename = 'groups' AND schemaname = current_schema()" },
		{ "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'registrations_no_frag'",
		  "SELECT count(*) FROM pg_indexes WHERE indexname = 'registrations_no_frag'" },
	};
	static char buf[512];
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(sql, map[i][0]) == 0)
			return map[i][1];
	const char *b = strstr(sql, " AS BLOB)");
	if (b && strlen(sql) + 1 < sizeof(buf)) {
		snprintf(buf, sizeof(buf), "%.*s AS BYTEA)%s", (int)(b - sql), sql, b + strlen(" AS BLOB)"));
		return buf;
	}
	return sql;
}

static bool on_pg(void)
{
	return tu_pg_url() != NULL;
}

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/gk-store-XXXXXX");
	ck_assert_ptr_nonnull(tu_mkdtemp(dir));
	snprintf(db, sizeof(db), "%s/gcks.db", dir);
	tu_pg_db(db, sizeof(db)); /* on PostgreSQL: a database of this test's own */
}

static void teardown(void)
{
	if (on_pg()) {
		tu_pg_db_drop();
		rmdir(dir);
		return;
	}

	static const char *const suffixes[] = { "", "-wal", "-shm", "-journal" };
	char p[300];
	for (size_t i = 0; i < 4; i++) {
		snprintf(p, sizeof(p), "%s%s", db, suffixes[i]);
		unlink(p);
	}
	rmdir(dir);
}

static gk_store *open_ok(bool create)
{
	gk_store *s = NULL;
	char err[GK_STORE_ERR_MAX];
	gk_status st = gk_store_open(db, create, &s, err, sizeof(err));
	ck_assert_msg(st == GK_OK, "open: %s: %s", gk_status_str(st), err);
	ck_assert_ptr_nonnull(s);
	return s;
}

/* ---- raw SQLite access, to look behind the store's back ---- */

static sqlite3 *raw_open(void)
{
	sqlite3 *h = NULL;
	ck_assert_int_eq(sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
			 SQLITE_OK);
	return h;
}

static void raw_exec(const char *sql)
{
	if (on_pg()) {
		tu_pg_exec(pg_sql(sql));
		return;
	}
	sqlite3 *h = raw_open();
	char *msg = NULL;
	int rc = sqlite3_exec(h, sql, NULL, NULL, &msg);
	ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, msg ? msg : "?");
	sqlite3_free(msg);
	sqlite3_close(h);
}

static int64_t raw_int(const char *sql)
{
	if (on_pg())
		return tu_pg_int(pg_sql(sql));
	sqlite3 *h = raw_open();
	sqlite3_stmt *q = NULL;
	ck_assert_int_eq(sqlite3_prepare_v2(h, sql, -1, &q, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(q), SQLITE_ROW);
	int64_t v = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	sqlite3_close(h);
	return v;
}

static mode_t file_mode(const char *suffix)
{
	char p[300];
	struct stat sb;
	snprintf(p, sizeof(p), "%s%s", db, suffix);
	ck_assert_msg(stat(p, &sb) == 0, "stat %s", p);
	return sb.st_mode & 07777;
}

/* ---- a rich policy ---- */

static void ident(const char *text, gk_ident *id)
{
	char why[GK_ERR_MAX] = "";
	ck_assert_msg(gk_ident_parse(text, id, why, sizeof(why)) == GK_OK, "%s: %s", text, why);
}

static void member_ident(gk_member_policy *m, const char *text)
{
	gk_ident id;
	ident(text, &id);
	ck_assert_int_eq(gk_member_policy_set_id(m, &id), GK_OK);
}

static void ts(gk_ts_spec *t, const char *lo, const char *hi, uint8_t proto, uint16_t plo,
	       uint16_t phi)
{
	memset(t, 0, sizeof(*t));
	int af = strchr(lo, ':') ? AF_INET6 : AF_INET;
	t->family = af == AF_INET6 ? 6 : 4;
	ck_assert_int_eq(inet_pton(af, lo, t->start), 1);
	ck_assert_int_eq(inet_pton(af, hi, t->end), 1);
	t->ip_proto = proto;
	t->port_lo = plo;
	t->port_hi = phi;
}

static uint8_t *bytes_of(const char *s, size_t *len)
{
	*len = strlen(s);
	uint8_t *p = malloc(*len);
	ck_assert_ptr_nonnull(p);
	memcpy(p, s, *len);
	return p;
}

/* Two TEKs (one IPv6), a Rekey SA with every field set, members of each auth kind. */
static void rich_policy(gk_group_policy *g)
{
	size_t len;
	memset(g, 0, sizeof(*g));
	snprintf(g->name, sizeof(g->name), "keyid:video-1");
	ident(g->name, &g->id);
	g->capacity = 100;
	g->rekey_transport = GK_REKEY_MULTICAST;
	g->transport_mode = true;
	g->atd = 30;
	g->dtd = 60;
	g->sender_id_bits = 8;
	g->rekey_margin_pct = 20;
	g->ike_idle_timeout = 300;
	g->max_packet_rate = 250000;

	gk_kek_policy *k = &g->kek;
	k->present = true;
	k->encr = GK_ENCR_AES_CBC;
	k->encr_key_bits = 256;
	k->integ = GK_INTEG_HMAC_SHA2_256_128;
	k->kwa = GK_KWA_KW_5649_256;
	k->gcauth = GK_GCAUTH_DIGITAL_SIGNATURE;
	k->sig_scheme = 5;
	ts(&k->src, "192.0.2.1", "192.0.2.1", 17, 848, 848);
	ts(&k->dst, "239.0.0.1", "239.0.0.1", 17, 848, 848);
	k->lifetime = 86400;
	k->ttl = 8;
	snprintf(k->iface, sizeof(k->iface), "eth0");
	k->copies = 2;
	k->interval_ms = 50;
	k->frag_mtu = 1200;
	k->key_mgmt = GK_KEYMGMT_LKH;
	k->lkh_degree = 3;

	g->nteks = 2;
	g->teks = calloc(2, sizeof(*g->teks));
	ck_assert_ptr_nonnull(g->teks);
	gk_tek_policy *t = &g->teks[0];
	snprintf(t->name, sizeof(t->name), "video");
	t->proto = GK_PROTO_ESP;
	t->encr = GK_ENCR_AES_GCM_16;
	t->encr_key_bits = 256;
	t->sn = GK_SN_UNSPEC32;
	ts(&t->src, "192.0.2.1", "192.0.2.1", 17, 5004, 5004);
	ts(&t->dst, "239.1.1.1", "239.1.1.1", 17, 5004, 5004);
	t->lifetime = 3600;
	t = &g->teks[1];
	snprintf(t->name, sizeof(t->name), "audio-v6");
	t->proto = GK_PROTO_ESP;
	t->encr = GK_ENCR_AES_CBC;
	t->encr_key_bits = 128;
	t->integ = GK_INTEG_HMAC_SHA2_256_128;
	ts(&t->src, "2001:db8::", "2001:db8::ffff:ffff:ffff:ffff", 0, 0, 65535);
	ts(&t->dst, "ff3e::8000:1", "ff3e::8000:1", 17, 6000, 6001);
	t->lifetime = 7200;

	g->nmembers = 3;
	g->members = calloc(3, sizeof(*g->members));
	ck_assert_ptr_nonnull(g->members);
	gk_member_policy *m = &g->members[0];
	member_ident(m, "fqdn:camera.example");
	m->auth = GK_MAUTH_PSK;
	m->psk = bytes_of("correct horse battery staple", &len);
	m->psk_len = (uint32_t)len;
	m->role = GK_ROLE_SENDER;
	m->max_sender_ids = 4;
	m = &g->members[1];
	member_ident(m, "email:viewer@example.org");
	m->auth = GK_MAUTH_PUBKEY;
	m->pubkey = bytes_of("\x30\x2a\x30\x05\x06\x03\x2b\x65\x70\x03\x21\x00 raw spki bytes", &len);
	m->pubkey_len = (uint32_t)len;
	m->role = GK_ROLE_RECEIVER;
	m = &g->members[2];
	member_ident(m, "ipv6:2001:db8::7");
	m->auth = GK_MAUTH_CERT;
	m->role = GK_ROLE_RECEIVER;
}

static void assert_ts_eq(const gk_ts_spec *a, const gk_ts_spec *b)
{
	size_t n = gk_ts_addr_len(a->family);
	ck_assert_uint_eq(a->family, b->family);
	ck_assert_mem_eq(a->start, b->start, n);
	ck_assert_mem_eq(a->end, b->end, n);
	ck_assert_uint_eq(a->ip_proto, b->ip_proto);
	ck_assert_uint_eq(a->port_lo, b->port_lo);
	ck_assert_uint_eq(a->port_hi, b->port_hi);
}

static void assert_policy_eq(const gk_group_policy *a, const gk_group_policy *b)
{
	ck_assert_str_eq(a->name, b->name);
	ck_assert_msg(gk_ident_eq(&a->id, &b->id), "group ident");
	ck_assert_uint_eq(a->capacity, b->capacity);
	ck_assert_int_eq(a->rekey_transport, b->rekey_transport);
	ck_assert_int_eq(a->transport_mode, b->transport_mode);
	ck_assert_uint_eq(a->atd, b->atd);
	ck_assert_uint_eq(a->dtd, b->dtd);
	ck_assert_uint_eq(a->sender_id_bits, b->sender_id_bits);
	ck_assert_uint_eq(a->rekey_margin_pct, b->rekey_margin_pct);
	ck_assert_uint_eq(a->ike_idle_timeout, b->ike_idle_timeout);
	ck_assert_uint_eq(a->max_packet_rate, b->max_packet_rate);
	const gk_kek_policy *x = &a->kek, *y = &b->kek;
	ck_assert_int_eq(x->present, y->present);
	ck_assert_uint_eq(x->encr, y->encr);
	ck_assert_uint_eq(x->encr_key_bits, y->encr_key_bits);
	ck_assert_uint_eq(x->integ, y->integ);
	ck_assert_uint_eq(x->kwa, y->kwa);
	ck_assert_uint_eq(x->gcauth, y->gcauth);
	ck_assert_int_eq(x->sig_scheme, y->sig_scheme);
	assert_ts_eq(&x->src, &y->src);
	assert_ts_eq(&x->dst, &y->dst);
	ck_assert_uint_eq(x->lifetime, y->lifetime);
	ck_assert_uint_eq(x->ttl, y->ttl);
	ck_assert_str_eq(x->iface, y->iface);
	ck_assert_uint_eq(x->copies, y->copies);
	ck_assert_uint_eq(x->interval_ms, y->interval_ms);
	ck_assert_uint_eq(x->frag_mtu, y->frag_mtu);
	ck_assert_uint_eq(x->key_mgmt, y->key_mgmt);
	ck_assert_uint_eq(x->lkh_degree, y->lkh_degree);
	ck_assert_uint_eq(a->nteks, b->nteks);
	for (size_t i = 0; i < a->nteks; i++) {
		const gk_tek_policy *t = &a->teks[i], *u = &b->teks[i];
		ck_assert_str_eq(t->name, u->name);
		ck_assert_uint_eq(t->proto, u->proto);
		ck_assert_uint_eq(t->encr, u->encr);
		ck_assert_uint_eq(t->encr_key_bits, u->encr_key_bits);
		ck_assert_uint_eq(t->integ, u->integ);
		ck_assert_uint_eq(t->sn, u->sn);
		assert_ts_eq(&t->src, &u->src);
		assert_ts_eq(&t->dst, &u->dst);
		ck_assert_uint_eq(t->lifetime, u->lifetime);
	}
	ck_assert_uint_eq(a->nmembers, b->nmembers);
	for (size_t i = 0; i < a->nmembers; i++) {
		const gk_member_policy *m = &a->members[i], *n = &b->members[i];
		gk_ident mi;
		ck_assert_msg(gk_member_policy_is(n, gk_member_policy_id(m, &mi)), "member %zu ident", i);
		ck_assert_int_eq(m->auth, n->auth);
		ck_assert_uint_eq(m->psk_len, n->psk_len);
		if (m->psk_len)
			ck_assert_mem_eq(m->psk, n->psk, m->psk_len);
		ck_assert_uint_eq(m->pubkey_len, n->pubkey_len);
		if (m->pubkey_len)
			ck_assert_mem_eq(m->pubkey, n->pubkey, m->pubkey_len);
		ck_assert_int_eq(m->role, n->role);
		ck_assert_uint_eq(m->max_sender_ids, n->max_sender_ids);
	}
}

static int64_t generation(gk_store *s, const char *name)
{
	int64_t gen = 0;
	ck_assert_int_eq(gk_store_group_generation(s, name, &gen), GK_OK);
	return gen;
}

static gk_store *store_with_policy(gk_group_policy *g)
{
	bool changed = false;
	gk_store *s = open_ok(true);
	rich_policy(g);
	ck_assert_int_eq(gk_keys_group_put(s, g, "tester", "video.yaml", (int64_t)time(NULL), &changed), GK_OK);
	ck_assert(changed);
	return s;
}

/* ---- opening, modes, versions ---- */

START_TEST(create_open_reopen)
{
	gk_store *s = open_ok(true);
	ck_assert_int_eq(gk_store_version(s), GK_SCHEMA_VERSION);
	gk_store_close(s);
	s = open_ok(false);
	ck_assert_int_eq(gk_store_version(s), GK_SCHEMA_VERSION);
	gk_store_close(s);
	s = open_ok(true); /* create on an existing database just opens it */
	gk_store_close(s);
	ck_assert_int_eq(raw_int("PRAGMA user_version"), GK_SCHEMA_VERSION);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM sqlite_master WHERE name = 'groups'"), 1);

	char err[GK_STORE_ERR_MAX];
	char missing[160];
	snprintf(missing, sizeof(missing), "%s/nope.db", dir);
	ck_assert_int_eq(gk_store_open(missing, false, &s, err, sizeof(err)), GK_E_NOT_FOUND);
	ck_assert_ptr_null(s);
	ck_assert_ptr_nonnull(strstr(err, missing));
}
END_TEST

START_TEST(created_0600_whatever_the_umask)
{
	mode_t old = umask(0377); /* would make 0400 without the explicit chmod */
	gk_store *s = open_ok(true);
	ck_assert_uint_eq(umask(old), 0377); /* restored */
	ck_assert_uint_eq(file_mode(""), 0600);
	gk_store_audit(s, "t", "x", "y", (int64_t)time(NULL)); /* WAL and shared memory files now exist */
	ck_assert_uint_eq(file_mode("-wal") & 077, 0);
	ck_assert_uint_eq(file_mode("-shm") & 077, 0);
	gk_store_close(s);
}
END_TEST

START_TEST(refuses_readable_file)
{
	gk_store *s = open_ok(true);
	gk_store_close(s);
	ck_assert_int_eq(chmod(db, 0644), 0);
	char err[GK_STORE_ERR_MAX];
	ck_assert_int_eq(gk_store_open(db, false, &s, err, sizeof(err)), GK_E_INVAL);
	ck_assert_ptr_null(s);
	ck_assert_msg(strstr(err, db) && strstr(err, "0644") && strstr(err, "chmod 600"),
		      "%s", err);
	ck_assert_int_eq(gk_store_open(db, true, &s, err, sizeof(err)), GK_E_INVAL);
	ck_assert_int_eq(chmod(db, 0600), 0);
	s = open_ok(false);
	gk_store_close(s);
	/* a write-ahead log others can read would leak the same secrets */
	char wal[300];
	snprintf(wal, sizeof(wal), "%s-wal", db);
	FILE *f = fopen(wal, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	ck_assert_int_eq(chmod(wal, 0640), 0);
	ck_assert_int_eq(gk_store_open(db, false, &s, err, sizeof(err)), GK_E_INVAL);
	ck_assert_msg(strstr(err, wal) && strstr(err, "0640"), "%s", err);
}
END_TEST

START_TEST(audit_list_last_n_oldest_first)
{
	gk_store *s = open_ok(true);
	char detail[32];
	for (int i = 0; i < 5; i++) {
		snprintf(detail, sizeof(detail), "d%d", i);
		ck_assert_int_eq(gk_store_audit(s, "alice", "rekey", detail, (int64_t)time(NULL)), GK_OK);
	}
	gk_audit_row *r = NULL;
	size_t n = 0;
	ck_assert_int_eq(gk_store_audit_list(s, 3, &r, &n), GK_OK);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(r[0].detail, "d2");
	ck_assert_str_eq(r[2].detail, "d4");
	ck_assert_str_eq(r[2].who, "alice");
	ck_assert_str_eq(r[2].action, "rekey");
	ck_assert_int_gt(r[2].at, 0);
	free(r);
	ck_assert_int_eq(gk_store_audit_list(s, 100, &r, &n), GK_OK);
	ck_assert_uint_ge(n, 5); /* and whatever creating the database wrote */
	ck_assert_str_eq(r[n - 1].detail, "d4");
	free(r);
	gk_store_close(s);
}
END_TEST

START_TEST(refuses_newer_schema)
{
	gk_store *s = open_ok(true);
	gk_store_close(s);
	raw_exec("PRAGMA user_version = 99");
	char err[GK_STORE_ERR_MAX];
	ck_assert_int_eq(gk_store_open(db, false, &s, err, sizeof(err)), GK_E_UNSUPPORTED);
	ck_assert_ptr_null(s);
	char want[200];
	snprintf(want, sizeof(want), "database schema version 99 is newer than this gcksd/gcksctl (%d); "
		 "upgrade gikev2", GK_SCHEMA_VERSION);
	ck_assert_msg(strstr(err, want), "%s", err);
	ck_assert_int_eq(raw_int("PRAGMA user_version"), 99); /* untouched */
}
END_TEST

START_TEST(refuses_foreign_files)
{
	gk_store *s = NULL;
	char err[GK_STORE_ERR_MAX];
	FILE *f = fopen(db, "w");
	ck_assert_ptr_nonnull(f);
	fputs("this is not a database, just some text that is long enough to look like a header\n", f);
	fclose(f);
	ck_assert_int_eq(chmod(db, 0600), 0);
	ck_assert_int_eq(gk_store_open(db, false, &s, err, sizeof(err)), GK_E_MALFORMED);
	ck_assert_ptr_null(s);
	ck_assert_ptr_nonnull(strstr(err, db));
	unlink(db);
	/* an SQLite database of something else */
	raw_exec("CREATE TABLE other (x)");
	ck_assert_int_eq(chmod(db, 0600), 0);
	ck_assert_int_eq(gk_store_open(db, false, &s, err, sizeof(err)), GK_E_INVAL); /* an SQLite database of something else */
	ck_assert_msg(strstr(err, "not a gikev2 database"), "%s", err);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM sqlite_master"), 1); /* untouched */
}
END_TEST

/* Reads a file of the source tree into a NUL-terminated buffer. */
static char *slurp(const char *rel)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", GK_SRCDIR, rel);
	FILE *f = fopen(p, "rb");
	ck_assert_msg(f != NULL, "open %s", p);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	long n = ftell(f);
	ck_assert_int_ge(n, 0);
	rewind(f);
	char *buf = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* A database made by schema version 1 exactly as shipped, filled with raw SQL, opens with the
 * current code and keeps its data. Only the public API reads it back, so this stays valid
 * when later versions migrate the tables. */
START_TEST(migrates_version_1_database)
{
	char *sql = slurp("schema/001_init.sql");
	raw_exec(sql);
	free(sql);
	raw_exec("PRAGMA user_version = 1;"
		 "INSERT INTO groups (id, name, id_type, id_data, capacity, rekey_transport, "
		 " transport_mode, atd, dtd, sender_id_bits, rekey_margin_pct, ike_idle_timeout, "
		 " kek_present, kek_src_start, kek_src_end, kek_dst_start, kek_dst_end, generation, "
		 " created, updated) VALUES (7, 'keyid:legacy', 11, CAST('legacy' AS BLOB), 50, 2, 1, "
		 " 10, 20, 8, 25, 300, 0, zeroblob(16), zeroblob(16), zeroblob(16), zeroblob(16), 4, "
		 " 1000, 1000);"
		 "INSERT INTO group_teks (group_id, position, name, proto, encr, encr_key_bits, integ, "
		 " sn, src_family, src_start, src_end, dst_family, dst_start, dst_end, dst_ip_proto, "
		 " lifetime) VALUES (7, 0, 'data', 3, 20, 128, 0, 2, 4, x'c0000201', x'c0000201', 4, "
		 " x'ef010101', x'ef010101', 17, 600);"
		 "INSERT INTO members (group_id, position, id_type, id_data, name, auth, psk, role, "
		 " max_sender_ids) VALUES (7, 0, 2, CAST('gm.example' AS BLOB), 'fqdn:gm.example', 1, "
		 " x'0102030405', 2, 3);"
		 "INSERT INTO counters (group_id, name, value) VALUES (7, 'sender_id', 40), "
		 " (7, 'rekey_msgid', 9);"
		 "INSERT INTO registrations (group_id, member, role, peer, registered_at, "
		 " sender_id_first, sender_id_count) VALUES (7, 'fqdn:gm.example', 2, "
		 " '192.0.2.9:500', 1234, 37, 3);"
		 "INSERT INTO audit (at, who, action, detail) VALUES (1000, 'admin', 'policy load', "
		 " 'keyid:legacy');"
		 "INSERT INTO gcks_identity (id, id_type, id_data, sign_key_pem, updated) VALUES "
		 " (1, 2, CAST('gcks.legacy' AS BLOB), 'PEM', 1000);");
	ck_assert_int_eq(chmod(db, 0600), 0);

	gk_store *s = open_ok(false);
	ck_assert_int_eq(gk_store_version(s), GK_SCHEMA_VERSION);
	/* version 2 added the signing key rollover column; the identity is intact */
	gk_gcks_identity gid;
	ck_assert_int_eq(gk_store_identity_get(s, &gid), GK_OK);
	ck_assert_str_eq(gid.sign_key_pem, "PEM");
	ck_assert_ptr_null(gid.next_sign_key_pem);
	ck_assert_uint_eq(gid.id.len, 11);
	gk_gcks_identity_free(&gid);
	gk_group_policy g;
	ck_assert_int_eq(gk_store_group_get(s, "keyid:legacy", &g), GK_OK);
	ck_assert_uint_eq(g.capacity, 50);
	ck_assert_int_eq(g.rekey_transport, GK_REKEY_INBAND);
	ck_assert(g.transport_mode);
	ck_assert_uint_eq(g.atd, 10);
	ck_assert_uint_eq(g.dtd, 20);
	ck_assert_uint_eq(g.sender_id_bits, 8);
	ck_assert_uint_eq(g.rekey_margin_pct, 25);
	ck_assert_uint_eq(g.ike_idle_timeout, 300);
	/* version 5: groups from before max-packet-rate get its default */
	ck_assert_uint_eq(g.max_packet_rate, 100000);
	/* version 6: groups from before key-management are simple (no key tree) */
	ck_assert_uint_eq(g.kek.key_mgmt, GK_KEYMGMT_SIMPLE);
	ck_assert_uint_eq(g.kek.lkh_degree, 0);
	ck_assert(!g.kek.present);
	ck_assert_uint_eq(g.nteks, 1);
	ck_assert_str_eq(g.teks[0].name, "data");
	ck_assert_uint_eq(g.teks[0].encr, GK_ENCR_AES_GCM_16);
	ck_assert_uint_eq(g.teks[0].encr_key_bits, 128);
	ck_assert_uint_eq(g.teks[0].dst.family, 4);
	ck_assert_mem_hex(g.teks[0].dst.start, 4, "ef010101");
	ck_assert_uint_eq(g.teks[0].dst.ip_proto, 17);
	ck_assert_uint_eq(g.teks[0].lifetime, 600);
	ck_assert_uint_eq(g.nmembers, 1);
	ck_assert_int_eq(g.members[0].auth, GK_MAUTH_PSK);
	ck_assert_mem_hex(g.members[0].psk, g.members[0].psk_len, "0102030405");
	ck_assert_int_eq(g.members[0].role, GK_ROLE_SENDER);
	ck_assert_uint_eq(g.members[0].max_sender_ids, 3);
	gk_ident id;
	ident("fqdn:gm.example", &id);
	ck_assert_msg(gk_member_policy_is(&g.members[0], &id), "member identity");
	gk_group_policy_free(&g);
	ck_assert_int_eq(generation(s, "keyid:legacy"), 4);

	/* counters continue where they were */
	uint32_t v = 0;
	ck_assert_int_eq(gk_keys_sender_ids_alloc(s, "keyid:legacy", 1, 8, &v), GK_OK);
	ck_assert_uint_eq(v, 40);
	ck_assert_int_eq(gk_keys_rekey_msgid_next(s, "keyid:legacy", &v), GK_OK);
	ck_assert_uint_eq(v, 9);
	ck_assert_int_eq(gk_store_registration_count(s, "keyid:legacy", &v), GK_OK);
	ck_assert_uint_eq(v, 1);
	gk_registration *regs = NULL;
	size_t n = 0;
	ck_assert_int_eq(gk_store_registrations(s, "keyid:legacy", &regs, &n), GK_OK);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(regs[0].member, "fqdn:gm.example");
	ck_assert_str_eq(regs[0].peer, "192.0.2.9:500");
	ck_assert_uint_eq(regs[0].sender_id_first, 37);
	ck_assert_uint_eq(regs[0].sender_id_count, 3);
	/* version 3: a member registered before it is not known to support IKE fragmentation, so
	 * the group's GSA_REKEY is sent whole (RFC 9838 2.4.1.2) */
	ck_assert(!regs[0].frag_ok);
	bool all = true;
	ck_assert_int_eq(gk_store_registrations_frag_ok(s, "keyid:legacy", &all), GK_OK);
	ck_assert(!all);
	free(regs);
	gk_store_close(s);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM audit WHERE who = 'admin'"), 1);
}
END_TEST

static void reg(gk_registration *r, const char *group, const char *member, const char *peer);

/* sql (one statement) is refused by a CHECK constraint, on either backend. */
static void raw_check_refuses(const char *sql)
{
	if (on_pg()) {
		/* succeeds only when the statement raised check_violation */
		char buf[1024];
		ck_assert_int_lt(snprintf(buf, sizeof(buf), "DO $$ BEGIN %s; RAISE EXCEPTION 'accepted'; "
					  "EXCEPTION WHEN check_violation THEN NULL; END $$", pg_sql(sql)),
				 (int)sizeof(buf));
		tu_pg_exec(buf);
		return;
	}
	sqlite3 *h = raw_open();
	int rc = sqlite3_exec(h, sql, NULL, NULL, NULL);
	int ext = sqlite3_extended_errcode(h);
	sqlite3_close(h);
	ck_assert_msg(ext == SQLITE_CONSTRAINT_CHECK, "%s: rc %d, extended %d", sql, rc, ext);
}

/* Schema version 11: a database made by versions 1-10 exactly as shipped (on this test's
 * backend), whose triggers kept a 'registrations' counter, opens at version 11 with every row
 * kept; the count comes from the registrations themselves, the triggers and the counter row are
 * gone, and counters still refuses a name it does not know. */
START_TEST(migrates_version_10_database)
{
	static const char *const steps[] = { "001_init", "002_next_sign_key", "003_reg_frag",
		"004_sender_teks", "005_max_packet_rate", "006_lkh", "007_cluster", "008_ppk",
		"009_server_instance", "010_addke" };
	char path[128];
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		snprintf(path, sizeof(path), "schema/%s%s.sql", on_pg() ? "pg/" : "", steps[i]);
		char *sql = slurp(path);
		raw_exec(sql);
		free(sql);
	}
	raw_exec(on_pg() ? "UPDATE gikev2_schema SET version = 10" : "PRAGMA user_version = 10");
	const char *z16 = on_pg() ? "'\\x00000000000000000000000000000000'::bytea" : "zeroblob(16)";
	char sql[1024];
	snprintf(sql, sizeof(sql), "INSERT INTO groups (id, name, id_type, id_data, rekey_transport, kek_src_start, "
		 "kek_src_end, kek_dst_start, kek_dst_end, created, updated) VALUES (7, 'keyid:legacy', 11, %s, 1, "
		 "%s, %s, %s, %s, 1000, 1000)", on_pg() ? "'\\x6c6567'::bytea" : "x'6c6567'", z16, z16, z16, z16);
	raw_exec(sql);
	raw_exec("INSERT INTO counters (group_id, name, value) VALUES (7, 'sender_id', 40)");
	raw_exec("INSERT INTO counters (group_id, name, value) VALUES (7, 'rekey_msgid', 9)");
	static const char *const regs[] = { "fqdn:a.example", "fqdn:b.example", "fqdn:c.example" };
	for (int i = 0; i < 3; i++) {
		snprintf(sql, sizeof(sql), "INSERT INTO registrations (group_id, member, role, peer, registered_at, "
			 "sender_id_first, sender_id_count, frag_ok) VALUES (7, '%s', %d, '192.0.2.%d:500', %d, %d, %d, %d)",
			 regs[i], i == 1 ? 2 : 1, i + 1, 1200 + i, i == 1 ? 37 : 0, i == 1 ? 3 : 0, i != 2);
		raw_exec(sql);
	}
	raw_exec("DELETE FROM registrations WHERE member = 'fqdn:c.example'");
	/* the triggers counted them; a count that drifted is what counting the rows repairs */
	ck_assert_int_eq(raw_int("SELECT value FROM counters WHERE name = 'registrations'"), 2);
	raw_exec("UPDATE counters SET value = 5 WHERE name = 'registrations'");
	if (!on_pg())
		ck_assert_int_eq(chmod(db, 0600), 0);

	gk_store *s = open_ok(false);
	ck_assert_int_eq(gk_store_version(s), GK_SCHEMA_VERSION);
	ck_assert_int_eq(raw_int("PRAGMA user_version"), 11);
	ck_assert_int_eq(raw_int(on_pg() ? "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal"
				 : "SELECT count(*) FROM sqlite_master WHERE type = 'trigger'"), 0);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM counters WHERE name = 'registrations'"), 0);
	uint32_t v = 0;
	ck_assert_int_eq(gk_store_registration_count(s, "keyid:legacy", &v), GK_OK);
	ck_assert_uint_eq(v, 2);
	gk_registration *list = NULL;
	size_t n = 0;
	ck_assert_int_eq(gk_store_registrations(s, "keyid:legacy", &list, &n), GK_OK);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(list[0].member, "fqdn:a.example");
	ck_assert_int_eq(list[0].role, GK_ROLE_RECEIVER);
	ck_assert_str_eq(list[0].peer, "192.0.2.1:500");
	ck_assert_int_eq(list[0].registered_at, 1200);
	ck_assert(list[0].frag_ok);
	ck_assert_str_eq(list[1].member, "fqdn:b.example");
	ck_assert_int_eq(list[1].role, GK_ROLE_SENDER);
	ck_assert_str_eq(list[1].peer, "192.0.2.2:500");
	ck_assert_int_eq(list[1].registered_at, 1201);
	ck_assert_uint_eq(list[1].sender_id_first, 37);
	ck_assert_uint_eq(list[1].sender_id_count, 3);
	free(list);
	/* the counters that must never repeat continue where they were */
	ck_assert_int_eq(gk_keys_sender_ids_alloc(s, "keyid:legacy", 1, 8, &v), GK_OK);
	ck_assert_uint_eq(v, 40);
	ck_assert_int_eq(gk_keys_rekey_msgid_next(s, "keyid:legacy", &v), GK_OK);
	ck_assert_uint_eq(v, 9);
	/* the count follows inserts, refreshes and deletes */
	gk_registration r;
	reg(&r, "keyid:legacy", "fqdn:d.example", "192.0.2.4:500");
	ck_assert_int_eq(gk_store_registration_put(s, &r, NULL), GK_OK);
	ck_assert_int_eq(gk_store_registration_put(s, &r, NULL), GK_OK);
	ck_assert_int_eq(gk_store_registration_count(s, "keyid:legacy", &v), GK_OK);
	ck_assert_uint_eq(v, 3);
	ck_assert_int_eq(gk_store_registration_delete(s, "keyid:legacy", "fqdn:a.example"), GK_OK);
	ck_assert_int_eq(gk_store_registration_count(s, "keyid:legacy", &v), GK_OK);
	ck_assert_uint_eq(v, 2);
	/* a registration row that breaks a rule is still refused */
	reg(&r, "keyid:legacy", "fqdn:e.example", "");
	r.role = (gk_role)3;
	ck_assert_int_eq(gk_store_registration_put(s, &r, NULL), GK_E_INVAL);
	gk_store_close(s);
	raw_check_refuses("INSERT INTO registrations (group_id, member, role, registered_at) "
			  "VALUES (7, 'fqdn:e.example', 3, 1)");
	/* counters refuses the retired name, an unknown one and a negative value */
	raw_check_refuses("INSERT INTO counters (group_id, name, value) VALUES (7, 'registrations', 1)");
	raw_check_refuses("INSERT INTO counters (group_id, name, value) VALUES (7, 'bogus', 1)");
	raw_check_refuses("UPDATE counters SET value = -1 WHERE name = 'sender_id'");
	ck_assert_int_eq(raw_int("SELECT count(*) FROM counters"), 2);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM registrations"), 2);
}
END_TEST

/* ---- group policy ---- */

START_TEST(policy_round_trip)
{
	gk_group_policy g, got;
	gk_store *s = store_with_policy(&g);
	ck_assert_int_eq(generation(s, g.name), 1);
	ck_assert_int_eq(gk_store_group_get(s, g.name, &got), GK_OK);
	assert_policy_eq(&g, &got);
	gk_group_policy_free(&got);
	ck_assert_int_eq(gk_store_group_get_by_ident(s, &g.id, &got), GK_OK);
	assert_policy_eq(&g, &got);
	gk_group_policy_free(&got);
	gk_store_close(s);
	s = open_ok(false); /* and from disk */
	ck_assert_int_eq(gk_store_group_get(s, g.name, &got), GK_OK);
	assert_policy_eq(&g, &got);
	gk_group_policy_free(&got);

	gk_ident other;
	ident("keyid:nope", &other);
	ck_assert_int_eq(gk_store_group_get(s, "keyid:nope", &got), GK_E_NOT_FOUND);
	ck_assert_int_eq(gk_store_group_get_by_ident(s, &other, &got), GK_E_NOT_FOUND);
	int64_t gen;
	ck_assert_int_eq(gk_store_group_generation(s, "keyid:nope", &gen), GK_E_NOT_FOUND);

	gk_group_policy h;
	rich_policy(&h);
	snprintf(h.name, sizeof(h.name), "keyid:audio");
	ident(h.name, &h.id);
	bool changed = false;
	ck_assert_int_eq(gk_keys_group_put(s, &h, "tester", NULL, (int64_t)time(NULL), &changed), GK_OK);
	char **names = NULL;
	size_t n = 0;
	ck_assert_int_eq(gk_store_group_names(s, &names, &n), GK_OK);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(names[0], "keyid:audio");
	ck_assert_str_eq(names[1], "keyid:video-1");
	gk_store_names_free(names, n);
	/* the secrets are in the members table, by identity text */
	ck_assert_int_eq(raw_int("SELECT count(*) FROM members WHERE name = 'fqdn:camera.example' "
				 "AND psk = CAST('correct horse battery staple' AS BLOB)"), 2);
	gk_group_policy_free(&h);
	gk_group_policy_free(&g);
	gk_store_close(s);
}
END_TEST

/* Identities of 1 and 255 octets come back at their length; members listed with one PSK
 * after another share one copy of it once loaded (and with copies of the policy), members with
 * their own keep theirs, and letting go of one holder leaves the key intact for the others. */
START_TEST(member_identity_lengths_and_shared_psks)
{
	gk_group_policy g, got, cp;
	/* gcksd holds one entry per listed member for as long as the policy is loaded */
	ck_assert_uint_le(sizeof(gk_member_policy), 72);
	rich_policy(&g);
	gk_member_policy *n = realloc(g.members, 6 * sizeof(*n));
	ck_assert_ptr_nonnull(n);
	g.members = n;
	memset(&g.members[3], 0, 3 * sizeof(*n));
	g.nmembers = 6;
	gk_ident one = { .type = GK_ID_KEY_ID, .len = 1, .data = { 'x' } }, longest = { .type = GK_ID_KEY_ID, .len = 255 };
	for (size_t i = 0; i < 255; i++)
		longest.data[i] = (uint8_t)i;
	ck_assert_int_eq(gk_member_policy_set_id(&g.members[3], &one), GK_OK);
	ck_assert_int_eq(gk_member_policy_set_id(&g.members[4], &longest), GK_OK);
	member_ident(&g.members[5], "fqdn:other.example");
	const char *psks[] = { "one key for two members", "one key for two members", "a key of its own" };
	for (size_t i = 3; i < 6; i++) {
		g.members[i].auth = GK_MAUTH_PSK;
		g.members[i].role = GK_ROLE_RECEIVER;
		size_t len;
		g.members[i].psk = bytes_of(psks[i - 3], &len);
		g.members[i].psk_len = (uint32_t)len;
	}
	bool changed = false;
	gk_store *s = open_ok(true);
	ck_assert_int_eq(gk_keys_group_put(s, &g, "tester", NULL, (int64_t)time(NULL), &changed), GK_OK);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM members WHERE length(id_data) = 255"), 1);
	ck_assert_int_eq(gk_store_group_get(s, g.name, &got), GK_OK);
	assert_policy_eq(&g, &got);
	ck_assert_uint_eq(got.members[3].id->len, 1);
	ck_assert_uint_eq(got.members[4].id->len, 255);
	ck_assert_mem_eq(got.members[4].id->data, longest.data, 255);
	ck_assert_ptr_null(got.members[0].psk_held); /* its own key */
	ck_assert_ptr_nonnull(got.members[3].psk_held);
	ck_assert_ptr_eq(got.members[3].psk_held, got.members[4].psk_held);
	ck_assert_ptr_eq(got.members[4].psk, got.members[3].psk);
	ck_assert_uint_eq(got.members[3].psk_held->refs, 2);
	ck_assert_ptr_null(got.members[5].psk_held);
	/* a copy shares the identities and the shared key by reference */
	ck_assert_int_eq(gk_group_policy_copy(&got, &cp), GK_OK);
	ck_assert_ptr_eq(cp.members[4].id, got.members[4].id);
	ck_assert_uint_eq(got.members[4].id->refs, 2);
	ck_assert_ptr_eq(cp.members[3].psk_held, got.members[3].psk_held);
	ck_assert_uint_eq(got.members[3].psk_held->refs, 4);
	gk_member_policy_wipe(&got.members[3]);
	ck_assert_ptr_null(got.members[3].psk);
	ck_assert_ptr_null(got.members[3].psk_held);
	ck_assert_ptr_null(got.members[3].id);
	ck_assert_uint_eq(cp.members[3].psk_held->refs, 3);
	ck_assert_uint_eq(cp.members[3].psk_len, strlen(psks[0]));
	ck_assert_mem_eq(cp.members[3].psk, psks[0], strlen(psks[0]));
	ck_assert_mem_eq(got.members[4].psk, psks[0], strlen(psks[0]));
	gk_group_policy_free(&got);
	ck_assert_uint_eq(cp.members[4].id->refs, 1);
	ck_assert_uint_eq(cp.members[4].psk_held->refs, 2);
	ck_assert(gk_member_policy_is(&cp.members[4], &longest));
	gk_group_policy_free(&cp);
	gk_group_policy_free(&g);
	gk_store_close(s);
}
END_TEST

START_TEST(put_same_is_no_change)
{
	gk_group_policy g;
	gk_store *s = store_with_policy(&g);
	int64_t audits = raw_int("SELECT count(*) FROM audit");
	bool changed = true;
	ck_assert_int_eq(gk_keys_group_put(s, &g, "tester", "video.yaml", (int64_t)time(NULL), &changed), GK_OK);
	ck_assert(!changed);
	ck_assert_int_eq(generation(s, g.name), 1);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM audit"), audits);
	/* a copy with garbage beyond the IPv4 address octets is still the same policy */
	gk_group_policy c;
	ck_assert_int_eq(gk_group_policy_copy(&g, &c), GK_OK);
	memset(c.teks[0].src.start + 4, 0xee, 12);
	ck_assert_int_eq(gk_keys_group_put(s, &c, "tester", NULL, (int64_t)time(NULL), &changed), GK_OK);
	ck_assert(!changed);
	gk_group_policy_free(&c);
	gk_group_policy_free(&g);
	gk_store_close(s);
}
END_TEST

START_TEST(put_modified_changes)
{
	gk_group_policy g, got;
	gk_store *s = store_with_policy(&g);
	bool changed = false;
	g.kek.frag_mtu = 1400;
	ck_assert_int_eq(gk_keys_group_put(s, &g, "alice", "video.yaml", (int64_t)time(NULL), &changed), GK_OK);
	ck_assert(changed);
	ck_assert_int_eq(generation(s, g.name), 2);
	g.members[1].pubkey[3] ^= 1;
	ck_assert_int_eq(gk_keys_group_put(s, &g, "alice", "video.yaml", (int64_t)time(NULL), &changed), GK_OK);
	ck_assert(changed);
	ck_assert_int_eq(generation(s, g.name), 3);
	g.nmembers = 2; /* drop one */
	ck_assert_int_eq(gk_keys_group_put(s, &g, "alice", "video.yaml", (int64_t)time(NULL), &changed), GK_OK);
	ck_assert(changed);
	ck_assert_int_eq(gk_store_group_get(s, g.name, &got), GK_OK);
	assert_policy_eq(&g, &got);
	gk_group_policy_free(&got);
	g.nmembers = 3;
	ck_assert_int_eq(raw_int("SELECT count(*) FROM audit WHERE who = 'alice' AND "
				 "action = 'policy load' AND detail LIKE 'keyid:video-1 from video.yaml%'"),
			 3);
	gk_group_policy_free(&g);
	gk_store_close(s);
}
END_TEST

static void reg(gk_registration *r, const char *group, const char *member, const char *peer);

/* What a put would do, then what it did: the same decision (gk_keys_group_plan is what
 * gcksctl policy load --dry-run prints; gk_keys_group_apply what a load does). */
static gk_group_plan plan_then_apply(gk_store *s, const gk_group_policy *g)
{
	gk_group_plan want, did;
	int64_t audits = raw_int("SELECT count(*) FROM audit"), gen = 0;
	bool had = gk_store_group_generation(s, g->name, &gen) == GK_OK;
	ck_assert_int_eq(gk_keys_group_plan(s, g, &want), GK_OK);
	/* the plan wrote nothing */
	ck_assert_int_eq(raw_int("SELECT count(*) FROM audit"), audits);
	if (had)
		ck_assert_int_eq(generation(s, g->name), gen);
	ck_assert_int_eq(gk_keys_group_apply(s, g, "alice", "t.yaml", (int64_t)time(NULL), &did), GK_OK);
	ck_assert_int_eq(did.keys, want.keys);
	ck_assert_int_eq(did.effect, want.effect);
	ck_assert_uint_eq(did.nadded, want.nadded);
	ck_assert_uint_eq(did.nremoved, want.nremoved);
	for (size_t i = 0; i < did.nadded; i++)
		ck_assert_int_eq(did.added[i].evicted, want.added[i].evicted);
	gk_group_plan_free(&want);
	return did;
}

START_TEST(plan_is_what_a_put_does)
{
	gk_group_policy g;
	gk_store *s = open_ok(true);
	rich_policy(&g);
	g.kek.key_mgmt = GK_KEYMGMT_SIMPLE; /* no key tree: a leaving member costs everyone */
	g.kek.lkh_degree = 0;
	gk_group_plan p = plan_then_apply(s, &g);
	ck_assert_int_eq(p.keys, GK_PUT_ADDED);
	ck_assert_int_eq(p.effect, GK_EFFECT_NONE);
	ck_assert_uint_eq(p.nadded, 3);
	gk_group_plan_free(&p);
	p = plan_then_apply(s, &g);
	ck_assert_int_eq(p.keys, GK_PUT_UNCHANGED);
	ck_assert_uint_eq(p.nadded + p.nremoved, 0);
	gk_group_plan_free(&p);

	/* a member nobody registered as leaves: keys kept, nothing sent */
	char gone[GK_IDENT_TEXT_MAX];
	gk_ident gone_id;
	gk_ident_text(gk_member_policy_id(&g.members[2], &gone_id), gone);
	g.nmembers = 2;
	p = plan_then_apply(s, &g);
	ck_assert_int_eq(p.keys, GK_PUT_KEEP_KEYS);
	ck_assert_int_eq(p.effect, GK_EFFECT_NONE);
	ck_assert_uint_eq(p.nremoved, 1);
	ck_assert_str_eq(p.removed[0].member, gone);
	ck_assert(!p.removed[0].registered);
	gk_group_plan_free(&p);

	/* back, then leaving while registered: a multicast group excludes everyone */
	g.nmembers = 3;
	p = plan_then_apply(s, &g);
	ck_assert_int_eq(p.keys, GK_PUT_KEEP_KEYS);
	ck_assert_uint_eq(p.nadded, 1);
	ck_assert(!p.added[0].evicted);
	gk_group_plan_free(&p);
	gk_registration r;
	reg(&r, g.name, gone, "192.0.2.10:500");
	ck_assert_int_eq(gk_store_registration_put(s, &r, NULL), GK_OK);
	g.nmembers = 2;
	p = plan_then_apply(s, &g);
	ck_assert_int_eq(p.effect, GK_EFFECT_EXCLUDE_ALL);
	ck_assert(p.removed[0].registered);
	gk_group_plan_free(&p);

	/* an SA change: new keys, a rekey; a rekey transport change: everyone excluded */
	g.teks[0].lifetime += 60;
	p = plan_then_apply(s, &g);
	ck_assert_int_eq(p.keys, GK_PUT_NEW_KEYS);
	ck_assert_int_eq(p.effect, GK_EFFECT_REKEY);
	gk_group_plan_free(&p);
	g.kek.gcauth = GK_GCAUTH_IMPLICIT;
	p = plan_then_apply(s, &g);
	ck_assert_int_eq(p.effect, GK_EFFECT_EXCLUDE_ALL);
	gk_group_plan_free(&p);
	g.nmembers = 3; /* the member dropped above is still the array's to free */
	gk_group_policy_free(&g);
	gk_store_close(s);
}
END_TEST

/* An lkh group: a registered member that leaves is evicted through the key tree (the others
 * stay registered); a new tree (degree, lkh off) excludes everyone. */
START_TEST(plan_lkh_evicts_through_the_tree)
{
	gk_group_policy g;
	gk_store *s = open_ok(true);
	rich_policy(&g);
	g.kek.key_mgmt = GK_KEYMGMT_LKH;
	g.kek.lkh_degree = 2;
	gk_group_plan p = plan_then_apply(s, &g);
	ck_assert_int_eq(p.keys, GK_PUT_ADDED);
	gk_group_plan_free(&p);
	char gone[GK_IDENT_TEXT_MAX];
	gk_ident gone_id;
	gk_ident_text(gk_member_policy_id(&g.members[2], &gone_id), gone);
	gk_registration r;
	reg(&r, g.name, gone, "192.0.2.10:500");
	ck_assert_int_eq(gk_store_registration_put(s, &r, NULL), GK_OK);
	g.nmembers = 2;
	p = plan_then_apply(s, &g);
	ck_assert_int_eq(p.keys, GK_PUT_KEEP_KEYS);
	ck_assert_int_eq(p.effect, GK_EFFECT_LKH_EVICT);
	ck_assert(p.removed[0].registered);
	gk_group_plan_free(&p);

	/* removal together with an SA change: new keys for everyone, everyone excluded */
	g.nmembers = 3;
	p = plan_then_apply(s, &g);
	gk_group_plan_free(&p);
	g.nmembers = 2;
	g.teks[0].lifetime += 60;
	p = plan_then_apply(s, &g);
	ck_assert_int_eq(p.keys, GK_PUT_NEW_KEYS);
	ck_assert_int_eq(p.effect, GK_EFFECT_EXCLUDE_ALL);
	gk_group_plan_free(&p);

	/* another degree or lkh switched off: a new tree, everyone excluded */
	gk_group_policy was = g;
	g.kek.lkh_degree = 4;
	ck_assert(gk_keys_tree_changed(&was, &g));
	ck_assert(gk_keys_change_excludes_all(&was, &g));
	g.kek.lkh_degree = 2;
	ck_assert(!gk_keys_tree_changed(&was, &g));
	g.kek.key_mgmt = GK_KEYMGMT_SIMPLE;
	ck_assert(gk_keys_tree_changed(&was, &g));
	ck_assert_int_eq(gk_keys_reload_effect(&was, &g, GK_PUT_KEEP_KEYS, true), GK_EFFECT_EXCLUDE_ALL);
	g.kek.key_mgmt = GK_KEYMGMT_LKH;
	ck_assert_int_eq(gk_keys_reload_effect(&was, &g, GK_PUT_KEEP_KEYS, true), GK_EFFECT_LKH_EVICT);
	g.nmembers = 3; /* the member dropped above is still the array's to free */
	gk_group_policy_free(&g);
	gk_store_close(s);
}
END_TEST

START_TEST(readding_an_evicted_member_is_known)
{
	gk_group_policy g;
	gk_store *s = store_with_policy(&g);
	char gone[GK_IDENT_TEXT_MAX], detail[2 * GK_IDENT_TEXT_MAX + 8];
	gk_ident gone_id;
	bool changed = false;
	gk_ident_text(gk_member_policy_id(&g.members[2], &gone_id), gone);
	g.nmembers = 2;
	ck_assert_int_eq(gk_keys_group_evict(s, &g, gone, "gcksctl evict", (int64_t)time(NULL), &changed), GK_OK);
	ck_assert(changed);
	/* the store's audit log holds the eviction */
	snprintf(detail, sizeof(detail), "%s in %s", gone, g.name);
	int64_t pos = 0;
	ck_assert_int_eq(gk_store_audit_find(s, "member evict", detail, &pos), GK_OK);
	ck_assert_int_gt(pos, 0);
	/* a load that lists it again says so, and records that it let it back */
	g.nmembers = 3;
	gk_group_plan p = plan_then_apply(s, &g);
	ck_assert_uint_eq(p.nadded, 1);
	ck_assert_str_eq(p.added[0].member, gone);
	ck_assert(p.added[0].evicted);
	gk_group_plan_free(&p);
	ck_assert_int_eq(gk_store_audit_find(s, "member readmit", detail, &pos), GK_OK);
	ck_assert_int_gt(pos, 0);
	/* removed and listed again by ordinary loads: no longer an evicted member */
	g.nmembers = 2;
	p = plan_then_apply(s, &g);
	gk_group_plan_free(&p);
	g.nmembers = 3;
	p = plan_then_apply(s, &g);
	ck_assert(!p.added[0].evicted);
	gk_group_plan_free(&p);
	gk_group_policy_free(&g);
	gk_store_close(s);
}
END_TEST

START_TEST(restore_epoch_skips_message_ids)
{
	gk_group_policy g;
	gk_store *s = store_with_policy(&g);
	uint32_t id = 0;
	size_t n = 0;
	bool pending = true;
	ck_assert_int_eq(gk_keys_rekey_msgid_next(s, g.name, &id), GK_OK);
	ck_assert_int_eq(gk_keys_rekey_msgid_next(s, g.name, &id), GK_OK);
	ck_assert_uint_eq(id, 1);
	ck_assert_int_eq(gk_keys_restore_pending(s, g.name, &pending), GK_OK);
	ck_assert(!pending);
	ck_assert_int_eq(gk_keys_restore_epoch(s, "alice", "b.bak", (int64_t)time(NULL), &n), GK_OK);
	ck_assert_uint_eq(n, 1);
	/* the next Message ID of the restored Rekey SA: 2 + 2^24, never one sent after the backup */
	ck_assert_int_eq(gk_keys_rekey_msgid_peek(s, g.name, &id), GK_OK);
	ck_assert_uint_eq(id, 2 + GK_RESTORE_MSGID_SKIP);
	ck_assert_int_eq(gk_keys_restore_pending(s, g.name, &pending), GK_OK);
	ck_assert(pending);
	ck_assert_int_eq(gk_keys_restore_done(s, g.name, (int64_t)time(NULL)), GK_OK);
	ck_assert_int_eq(gk_keys_restore_pending(s, g.name, &pending), GK_OK);
	ck_assert(!pending);
	/* near the end of the 32-bit space the last ID is kept for the exclusion */
	raw_exec("UPDATE counters SET value = 4294967000 WHERE name = 'rekey_msgid'");
	ck_assert_int_eq(gk_keys_restore_epoch(s, "alice", "b.bak", (int64_t)time(NULL), &n), GK_OK);
	ck_assert_int_eq(gk_keys_rekey_msgid_peek(s, g.name, &id), GK_OK);
	ck_assert_uint_eq(id, UINT32_MAX);
	gk_group_policy_free(&g);
	gk_store_close(s);
}
END_TEST

static void assert_still_original(gk_store *s, const gk_group_policy *orig)
{
	gk_group_policy got;
	ck_assert_int_eq(gk_store_group_get(s, orig->name, &got), GK_OK);
	assert_policy_eq(orig, &got);
	gk_group_policy_free(&got);
	ck_assert_int_eq(generation(s, orig->name), 1);
}

START_TEST(failed_put_rolls_back)
{
	gk_group_policy g, bad;
	gk_store *s = store_with_policy(&g);
	int64_t audits = raw_int("SELECT count(*) FROM audit");
	ck_assert_int_eq(gk_group_policy_copy(&g, &bad), GK_OK);
	/* the group row and TEKs are rewritten before the last member violates a CHECK */
	bad.capacity = 7;
	bad.teks[0].lifetime = 99;
	bad.members[2].role = (gk_role)7;
	bool changed = true;
	ck_assert_int_eq(gk_keys_group_put(s, &bad, "tester", NULL, (int64_t)time(NULL), &changed), GK_E_INVAL);
	ck_assert(!changed);
	ck_assert_msg(strstr(gk_store_errmsg(s), on_pg() ? "check constraint" : "CHECK"), "%s", gk_store_errmsg(s));
	assert_still_original(s, &g);
	/* a UNIQUE violation (the same member twice) */
	gk_member_policy_wipe(&bad.members[2]);
	bad.members[2] = bad.members[0]; /* shallow: the psk is shared, not freed twice below */
	gk_ident_held_ref(bad.members[2].id); /* the identity is shared by reference */
	bad.members[2].psk = NULL;
	bad.members[2].psk_len = 0;
	bad.members[2].auth = GK_MAUTH_CERT;
	ck_assert_int_eq(gk_keys_group_put(s, &bad, "tester", NULL, (int64_t)time(NULL), &changed), GK_E_INVAL);
	assert_still_original(s, &g);
	/* a new group failing half way leaves nothing behind */
	snprintf(bad.name, sizeof(bad.name), "keyid:new");
	ident(bad.name, &bad.id);
	ck_assert_int_eq(gk_keys_group_put(s, &bad, "tester", NULL, (int64_t)time(NULL), &changed), GK_E_INVAL);
	gk_group_policy got;
	ck_assert_int_eq(gk_store_group_get(s, "keyid:new", &got), GK_E_NOT_FOUND);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM group_teks"), 2);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM audit"), audits);
	/* the store still works afterwards */
	ck_assert_int_eq(gk_keys_group_put(s, &g, "tester", NULL, (int64_t)time(NULL), &changed), GK_OK);
	ck_assert(!changed);
	gk_group_policy_free(&bad);
	gk_group_policy_free(&g);
	gk_store_close(s);
}
END_TEST

START_TEST(delete_cascades)
{
	gk_group_policy g;
	gk_store *s = store_with_policy(&g);
	gk_rand_test rt;
	gk_rand_test_init(&rt, 1);
	gk_sa_key keys[3];
	size_t n;
	uint32_t v;
	ck_assert_int_eq(gk_keys_group_keys(s, &g, &rt.r, NOW, keys, &n), GK_OK);
	ck_assert_int_eq(gk_keys_sender_ids_alloc(s, g.name, 2, 8, &v), GK_OK);
	ck_assert_int_eq(gk_keys_rekey_msgid_next(s, g.name, &v), GK_OK);
	gk_registration r = { .role = GK_ROLE_SENDER, .registered_at = NOW };
	snprintf(r.group, sizeof(r.group), "%s", g.name);
	snprintf(r.member, sizeof(r.member), "fqdn:camera.example");
	ck_assert_int_eq(gk_store_registration_put(s, &r, NULL), GK_OK);

	ck_assert_int_eq(gk_store_group_delete(s, g.name, "bob", (int64_t)time(NULL)), GK_OK);
	gk_group_policy got;
	ck_assert_int_eq(gk_store_group_get(s, g.name, &got), GK_E_NOT_FOUND);
	static const char *const tables[] = { "groups", "group_teks", "members", "sa_keys",
					      "counters", "registrations" };
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		char sql[80];
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", tables[i]);
		ck_assert_msg(raw_int(sql) == 0, "%s not empty", tables[i]);
	}
	ck_assert_int_eq(raw_int("SELECT count(*) FROM audit WHERE who = 'bob' AND "
				 "action = 'group delete' AND detail = 'keyid:video-1'"), 1);
	ck_assert_int_eq(gk_store_group_delete(s, g.name, "bob", (int64_t)time(NULL)), GK_E_NOT_FOUND);
	gk_group_policy_free(&g);
	gk_store_close(s);
}
END_TEST

/* ---- group SA keys ---- */

static void assert_keys_eq(const gk_sa_key *a, const gk_sa_key *b)
{
	ck_assert_int_eq(a->id, b->id);
	ck_assert_int_eq(a->tek_index, b->tek_index);
	ck_assert_uint_eq(a->spi_len, b->spi_len);
	ck_assert_mem_eq(a->spi, b->spi, a->spi_len);
	ck_assert_uint_eq(a->keymat_len, b->keymat_len);
	ck_assert_mem_eq(a->keymat, b->keymat, a->keymat_len);
	ck_assert_int_eq(a->created, b->created);
	ck_assert_int_eq(a->expires, b->expires);
	ck_assert_int_eq(a->generation, b->generation);
}

static bool keys_same(const gk_sa_key *a, const gk_sa_key *b)
{
	return a->spi_len == b->spi_len && !memcmp(a->spi, b->spi, a->spi_len) &&
	       a->keymat_len == b->keymat_len && !memcmp(a->keymat, b->keymat, a->keymat_len);
}

/* A generator that first offers the SPIs a GCKS must not use: 4-octet draws give 255, then 1,
 * then 256 and up; 16-octet draws give a zero initiator half, then a zero responder half, then
 * non-zero halves; other draws (keys) are 0xab. */
typedef struct bad_spi_rand {
	uint32_t n4, n16;
} bad_spi_rand;

static gk_status bad_spi_bytes(void *ctx, uint8_t *out, size_t n)
{
	bad_spi_rand *b = ctx;
	static const uint32_t first4[] = { 255, 1, 256 };
	if (n == 4) {
		gk_put_u32(out, b->n4 < 3 ? first4[b->n4] : 0x1000 + b->n4);
		b->n4++;
	} else if (n == 16) {
		memset(out, 0x11, 16);
		out[15] = (uint8_t)b->n16;
		if (b->n16 < 2)
			memset(out + 8 * b->n16, 0, 8);
		b->n16++;
	} else {
		memset(out, 0xab, n);
	}
	return GK_OK;
}

/* Reserved SPIs are never made nor taken from a GSA_NEXT_SPI promise: 1-255 for ESP and AH
 * (RFC 4303 2.1), a zero half of the IKE SPIs of the Rekey SA (RFC 7296 3.1). */
START_TEST(reserved_spis_never_used)
{
	gk_group_policy g;
	gk_store *s = store_with_policy(&g);
	bad_spi_rand b = { 0, 0 };
	gk_rand r = { bad_spi_bytes, &b };
	gk_sa_key a[3], prev[3];
	size_t n = 0;
	bool changed = false;
	uint32_t msgid;
	ck_assert_int_eq(gk_keys_group_keys(s, &g, &r, NOW, a, &n), GK_OK);
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(gk_get_u32(a[0].spi), 256);
	ck_assert_uint_eq(gk_get_u32(a[1].spi), 0x1003);
	ck_assert_uint_eq(b.n16, 3);
	ck_assert(gk_get_u64(a[2].spi) != 0 && gk_get_u64(a[2].spi + 8) != 0);
	ck_assert_uint_eq(a[2].spi[15], 2);
	/* promised SPIs that are reserved are not used either */
	uint8_t want[3][16];
	memset(want, 0, sizeof(want));
	gk_put_u32(want[0], 200);
	gk_put_u32(want[1], 0x7000);
	memset(want[2] + 8, 0x22, 8); /* zero initiator half */
	ck_assert_int_eq(gk_keys_group_rekey(s, &g, &r, NOW + 1, 0, true, (const uint8_t (*)[16])want, prev, a,
					     &n, &changed, &msgid), GK_OK);
	ck_assert(changed);
	ck_assert_uint_ne(gk_get_u32(a[0].spi), 200);
	ck_assert_uint_ge(gk_get_u32(a[0].spi), 256);
	ck_assert_uint_eq(gk_get_u32(a[1].spi), 0x7000); /* an allowed promise is kept */
	ck_assert(gk_get_u64(a[2].spi) != 0 && gk_get_u64(a[2].spi + 8) != 0);
	gk_group_policy_free(&g);
	gk_store_close(s);
}
END_TEST

START_TEST(keys_shapes_and_stability)
{
	gk_group_policy g;
	gk_store *s = store_with_policy(&g);
	gk_rand_test r1, r2;
	gk_rand_test_init(&r1, 1);
	gk_rand_test_init(&r2, 2);
	gk_sa_key a[3], b[3];
	size_t n = 0;
	ck_assert_int_eq(gk_keys_group_keys(s, &g, &r1.r, NOW, a, &n), GK_OK);
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(a[0].tek_index, 0);
	ck_assert_int_eq(a[1].tek_index, 1);
	ck_assert_int_eq(a[2].tek_index, -1);
	ck_assert_uint_eq(a[0].keymat_len, 36);      /* AES-GCM-16 256: key + 4 salt */
	ck_assert_uint_eq(a[1].keymat_len, 16 + 32); /* AES-CBC-128 + HMAC-SHA2-256 */
	ck_assert_uint_eq(a[2].keymat_len, 32 + 32 + 32); /* GSK_e | GSK_a | GSK_w (KW_5649_256) */
	ck_assert_uint_eq(a[0].spi_len, 4);
	ck_assert_uint_eq(a[1].spi_len, 4);
	ck_assert_uint_eq(a[2].spi_len, 16);
	ck_assert_uint_ge(gk_get_u32(a[0].spi), 256);
	ck_assert_uint_ge(gk_get_u32(a[1].spi), 256);
	ck_assert_mem_ne(a[0].spi, a[1].spi, 4);
	ck_assert(gk_get_u64(a[2].spi) != 0 && gk_get_u64(a[2].spi + 8) != 0);
	for (size_t i = 0; i < 3; i++) {
		ck_assert_int_eq(a[i].generation, 1);
		ck_assert_int_eq(a[i].created, NOW);
	}
	ck_assert_int_eq(a[0].expires, NOW + 3600);
	ck_assert_int_eq(a[2].expires, NOW + 86400);

	/* a second call, another generator, later: the same keys (what two members get) */
	ck_assert_int_eq(gk_keys_group_keys(s, &g, &r2.r, NOW + 100, b, &n), GK_OK);
	for (size_t i = 0; i < 3; i++)
		assert_keys_eq(&a[i], &b[i]);
	/* through another connection, as gcksctl would see them */
	gk_store *t = open_ok(false);
	ck_assert_int_eq(gk_keys_group_keys(t, &g, &r2.r, NOW + 200, b, &n), GK_OK);
	for (size_t i = 0; i < 3; i++)
		assert_keys_eq(&a[i], &b[i]);
	gk_store_close(t);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM sa_keys"), 3);

	/* without a Rekey SA only the TEKs */
	g.kek.present = false;
	bool changed;
	ck_assert_int_eq(gk_keys_group_put(s, &g, "tester", NULL, (int64_t)time(NULL), &changed), GK_OK);
	ck_assert_int_eq(gk_keys_group_keys(s, &g, &r2.r, NOW, b, &n), GK_OK);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM sa_keys WHERE state = 'current'"), 2);
	gk_group_policy_free(&g);
	gk_store_close(s);
}
END_TEST

START_TEST(keys_follow_policy_generation)
{
	gk_group_policy g;
	gk_store *s = store_with_policy(&g);
	gk_rand_test rt;
	gk_rand_test_init(&rt, 3);
	gk_sa_key a[3], b[3];
	size_t n;
	bool changed;
	ck_assert_int_eq(gk_keys_group_keys(s, &g, &rt.r, NOW, a, &n), GK_OK);

	/* a member change keeps the keys (new generation, same material) */
	g.members[0].max_sender_ids = 9;
	g.capacity = 5;
	ck_assert_int_eq(gk_keys_group_put(s, &g, "tester", NULL, (int64_t)time(NULL), &changed), GK_OK);
	ck_assert(changed);
	ck_assert_int_eq(gk_keys_group_keys(s, &g, &rt.r, NOW, b, &n), GK_OK);
	for (size_t i = 0; i < 3; i++) {
		ck_assert(keys_same(&a[i], &b[i]));
		ck_assert_int_eq(b[i].generation, 2);
	}

	/* an SA change gives every SA fresh keys and SPIs */
	g.teks[1].lifetime = 1800;
	ck_assert_int_eq(gk_keys_group_put(s, &g, "tester", NULL, (int64_t)time(NULL), &changed), GK_OK);
	ck_assert(changed);
	ck_assert_int_eq(gk_keys_group_keys(s, &g, &rt.r, NOW + 10, b, &n), GK_OK);
	ck_assert_uint_eq(n, 3);
	for (size_t i = 0; i < 3; i++) {
		ck_assert(!keys_same(&a[i], &b[i]));
		ck_assert_int_eq(b[i].generation, 3);
		ck_assert_int_eq(b[i].created, NOW + 10);
	}
	ck_assert_int_eq(b[1].expires, NOW + 10 + 1800);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM sa_keys WHERE state = 'old'"), 3);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM sa_keys WHERE state = 'current'"), 3);
	/* SPIs stay distinct from the old ones members may still use */
	ck_assert_int_eq(raw_int("SELECT count(DISTINCT spi) FROM sa_keys"), 6);
	gk_group_policy_free(&g);
	gk_store_close(s);
}
END_TEST

START_TEST(keys_replaced_on_expiry)
{
	gk_group_policy g;
	gk_store *s = store_with_policy(&g);
	gk_rand_test rt;
	gk_rand_test_init(&rt, 4);
	gk_sa_key a[3], b[3];
	size_t n;
	ck_assert_int_eq(gk_keys_group_keys(s, &g, &rt.r, NOW, a, &n), GK_OK);
	ck_assert_int_eq(gk_keys_group_keys(s, &g, &rt.r, NOW + 3599, b, &n), GK_OK);
	ck_assert(keys_same(&a[0], &b[0]));
	/* TEK 0 (3600 s) expires; TEK 1 (7200 s) and the Rekey SA do not */
	ck_assert_int_eq(gk_keys_group_keys(s, &g, &rt.r, NOW + 3600, b, &n), GK_OK);
	ck_assert(!keys_same(&a[0], &b[0]));
	ck_assert_int_eq(b[0].created, NOW + 3600);
	ck_assert_int_eq(b[0].expires, NOW + 7200);
	assert_keys_eq(&a[1], &b[1]);
	assert_keys_eq(&a[2], &b[2]);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM sa_keys WHERE state = 'old' AND tek_index = 0"),
			 1);
	/* expired old keys are dropped when the next key is made */
	ck_assert_int_eq(gk_keys_group_keys(s, &g, &rt.r, NOW + 7200, b, &n), GK_OK);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM sa_keys WHERE state = 'old'"), 2);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM sa_keys WHERE expires <= 1700007200 "
				 "AND state = 'old'"), 2);
	gk_group_policy_free(&g);
	gk_store_close(s);
}
END_TEST

/* Serves scripted bytes first, then a deterministic stream. */
typedef struct script_rand {
	const uint8_t *script;
	size_t len, off;
	gk_rand_test rest;
	gk_rand r;
} script_rand;

static gk_status script_bytes(void *ctx, uint8_t *out, size_t n)
{
	script_rand *sr = ctx;
	size_t take = sr->len - sr->off < n ? sr->len - sr->off : n;
	memcpy(out, sr->script + sr->off, take);
	sr->off += take;
	return take == n ? GK_OK : gk_rand_bytes(&sr->rest.r, out + take, n - take);
}

START_TEST(spis_avoid_reserved_and_used_values)
{
	gk_group_policy g;
	gk_store *s = store_with_policy(&g);
	/* SPI 5 (reserved, skipped), then 0x12345678 for TEK 0 */
	static const uint8_t script[] = { 0, 0, 0, 5, 0x12, 0x34, 0x56, 0x78 };
	script_rand sr = { .script = script, .len = sizeof(script) };
	gk_rand_test_init(&sr.rest, 5);
	sr.r.bytes = script_bytes;
	sr.r.ctx = &sr;
	gk_sa_key k[3];
	size_t n;
	ck_assert_int_eq(gk_keys_group_keys(s, &g, &sr.r, NOW, k, &n), GK_OK);
	ck_assert_mem_hex(k[0].spi, 4, "12345678");
	ck_assert_uint_ge(gk_get_u32(k[1].spi), 256);
	static const uint8_t script2[] = { 0x12, 0x34, 0x56, 0x78 };
	g.teks[1].lifetime = 60;
	bool changed;
	ck_assert_int_eq(gk_keys_group_put(s, &g, "tester", NULL, (int64_t)time(NULL), &changed), GK_OK);
	sr.script = script2;
	sr.len = sizeof(script2);
	sr.off = 0;
	ck_assert_int_eq(gk_keys_group_keys(s, &g, &sr.r, NOW, k, &n), GK_OK);
	ck_assert_mem_ne(k[0].spi, script2, 4); /* still held by the old TEK 0 key */
	ck_assert_uint_ge(gk_get_u32(k[0].spi), 256);
	gk_group_policy_free(&g);
	gk_store_close(s);
}
END_TEST

/* ---- counters ---- */

START_TEST(sender_ids)
{
	gk_group_policy g;
	gk_store *s = store_with_policy(&g);
	uint32_t first = 0;
	/* RFC 9838 2.5.1: allocated sequentially, zero first */
	ck_assert_int_eq(gk_keys_sender_ids_alloc(s, g.name, 1, 4, &first), GK_OK);
	ck_assert_uint_eq(first, 0);
	ck_assert_int_eq(gk_keys_sender_ids_alloc(s, g.name, 3, 4, &first), GK_OK);
	ck_assert_uint_eq(first, 1);
	gk_store_close(s);
	s = open_ok(false);
	ck_assert_int_eq(gk_keys_sender_ids_alloc(s, g.name, 1, 4, &first), GK_OK);
	ck_assert_uint_eq(first, 4);
	/* 4 bits: values up to 15 */
	ck_assert_int_eq(gk_keys_sender_ids_alloc(s, g.name, 12, 4, &first), GK_E_TOO_BIG);
	ck_assert_int_eq(gk_keys_sender_ids_alloc(s, g.name, 11, 4, &first), GK_OK);
	ck_assert_uint_eq(first, 5);
	ck_assert_int_eq(gk_keys_sender_ids_alloc(s, g.name, 1, 4, &first), GK_E_TOO_BIG);
	ck_assert_int_eq(gk_keys_sender_ids_alloc(s, g.name, 1, 5, &first), GK_OK);
	ck_assert_uint_eq(first, 16);
	ck_assert_int_eq(gk_keys_sender_ids_alloc(s, g.name, 0, 4, &first), GK_E_INVAL);
	ck_assert_int_eq(gk_keys_sender_ids_alloc(s, "keyid:nope", 1, 4, &first), GK_E_NOT_FOUND);

	/* bits 0 means 16 bits; another group has its own counter */
	gk_group_policy h;
	ck_assert_int_eq(gk_group_policy_copy(&g, &h), GK_OK);
	snprintf(h.name, sizeof(h.name), "keyid:other");
	ident(h.name, &h.id);
	bool changed;
	ck_assert_int_eq(gk_keys_group_put(s, &h, "tester", NULL, (int64_t)time(NULL), &changed), GK_OK);
	ck_assert_int_eq(gk_keys_sender_ids_alloc(s, h.name, 65536, 0, &first), GK_OK);
	ck_assert_uint_eq(first, 0);
	ck_assert_int_eq(gk_keys_sender_ids_alloc(s, h.name, 1, 0, &first), GK_E_TOO_BIG);
	ck_assert_int_eq(gk_keys_sender_ids_alloc(s, h.name, 1, 32, &first), GK_OK);
	ck_assert_uint_eq(first, 65536);
	gk_group_policy_free(&h);
	gk_group_policy_free(&g);
	gk_store_close(s);
}
END_TEST

START_TEST(rekey_message_ids)
{
	gk_group_policy g;
	gk_store *s = store_with_policy(&g);
	uint32_t v = 99;
	ck_assert_int_eq(gk_keys_rekey_msgid_peek(s, g.name, &v), GK_OK);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(gk_keys_rekey_msgid_next(s, g.name, &v), GK_OK);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(gk_keys_rekey_msgid_next(s, g.name, &v), GK_OK);
	ck_assert_uint_eq(v, 1);
	ck_assert_int_eq(gk_keys_rekey_msgid_peek(s, g.name, &v), GK_OK);
	ck_assert_uint_eq(v, 2);
	gk_store_close(s);
	s = open_ok(false);
	ck_assert_int_eq(gk_keys_rekey_msgid_peek(s, g.name, &v), GK_OK);
	ck_assert_uint_eq(v, 2);
	ck_assert_int_eq(gk_keys_rekey_msgid_next(s, g.name, &v), GK_OK);
	ck_assert_uint_eq(v, 2);
	ck_assert_int_eq(gk_keys_rekey_msgid_next(s, "keyid:nope", &v), GK_E_NOT_FOUND);
	ck_assert_int_eq(gk_keys_rekey_msgid_peek(s, "keyid:nope", &v), GK_E_NOT_FOUND);
	gk_group_policy_free(&g);
	gk_store_close(s);
}
END_TEST

/* Each rekey that keeps the Rekey SA announces its keys in a GSA_REKEY with the next Message
 * ID (RFC 9838 2.4.1.3): members drop a repeated ID as a replay, so two rekeys never share one. */
START_TEST(rekey_message_ids_follow_rekeys)
{
	gk_group_policy g;
	gk_store *s = store_with_policy(&g);
	gk_rand_test rt;
	gk_rand_test_init(&rt, 6);
	gk_sa_key a[3], prev[3], keys[3];
	size_t n;
	bool changed = false;
	uint32_t id = 99;
	ck_assert_int_eq(gk_keys_group_keys(s, &g, &rt.r, NOW, a, &n), GK_OK);
	/* TEK 0 (3600 s) is due within the horizon, TEK 1 and the Rekey SA are not */
	ck_assert_int_eq(gk_keys_group_rekey(s, &g, &rt.r, NOW, NOW + 3600, false, NULL, prev, keys, &n, &changed, &id),
			 GK_OK);
	ck_assert(changed);
	ck_assert(!keys_same(&a[0], &keys[0]));
	ck_assert(keys_same(&a[2], &keys[2]));
	ck_assert_uint_eq(id, 0);
	ck_assert_int_eq(gk_keys_group_rekey(s, &g, &rt.r, NOW + 1, NOW + 3601, false, NULL, prev, keys, &n, &changed,
					      &id), GK_OK);
	ck_assert(changed);
	ck_assert_uint_eq(id, 1);
	ck_assert_int_eq(gk_keys_rekey_msgid_peek(s, g.name, &id), GK_OK);
	ck_assert_uint_eq(id, 2);
	gk_group_policy_free(&g);
	gk_store_close(s);
}
END_TEST

/* ---- registrations, audit, identity ---- */

static void reg(gk_registration *r, const char *group, const char *member, const char *peer)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->group, sizeof(r->group), "%s", group);
	snprintf(r->member, sizeof(r->member), "%s", member);
	snprintf(r->peer, sizeof(r->peer), "%s", peer);
	r->role = GK_ROLE_RECEIVER;
	r->registered_at = NOW;
}

/* A put from another key server of a shared store, of a member whose first row a third
 * transaction inserted and commits while the put waits for it: the put finds the row and
 * refreshes it, and must say so, or that server counts one member twice against the group's
 * capacity. (PostgreSQL, READ COMMITTED: the statement's own snapshot predates the row.) */
typedef struct put_job {
	gk_store *s;
	gk_registration r;
	bool fresh;
	gk_status st;
} put_job;

static void *put_thread(void *a)
{
	put_job *j = a;
	j->st = gk_store_registration_put(j->s, &j->r, &j->fresh);
	return NULL;
}

START_TEST(registration_put_waits_for_a_concurrent_first_row)
{
	if (!on_pg())
		return; /* one SQLite store has one writer */
	gk_group_policy g;
	gk_store *s = store_with_policy(&g);
	gk_store *other = open_ok(false);
	char sql[1024];
	snprintf(sql, sizeof(sql), "BEGIN; INSERT INTO registrations (group_id, member, role, peer, registered_at, "
		 "sender_id_first, sender_id_count, frag_ok) SELECT id, 'keyid:twice', %d, '192.0.2.9:500', %d, 0, 0, 0 "
		 "FROM groups WHERE name = '%s'", GK_ROLE_RECEIVER, (int)NOW, g.name);
	tu_pg_hold(sql);
	put_job j = { .s = other, .fresh = true, .st = GK_E_IO };
	reg(&j.r, g.name, "keyid:twice", "192.0.2.10:500");
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, put_thread, &j), 0);
	/* the put waits on the uncommitted row (its unique index entry) until the commit */
	for (int i = 0; i < 200 && !tu_pg_int("SELECT count(*) FROM pg_locks WHERE NOT granted"); i++)
		usleep(10000);
	ck_assert_int_eq(tu_pg_int("SELECT count(*) FROM pg_locks WHERE NOT granted"), 1);
	tu_pg_release("COMMIT");
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_int_eq(j.st, GK_OK);
	ck_assert(!j.fresh);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM registrations WHERE member = 'keyid:twice' AND peer = "
		 "'192.0.2.10:500'");
	ck_assert_int_eq(tu_pg_int(sql), 1);
	gk_store_close(other);
	gk_store_close(s);
	gk_group_policy_free(&g);
}
END_TEST

START_TEST(registrations)
{
	gk_group_policy g;
	gk_store *s = store_with_policy(&g);
	gk_registration r;
	uint32_t n = 99;
	ck_assert_int_eq(gk_store_registration_count(s, g.name, &n), GK_OK);
	ck_assert_uint_eq(n, 0);
	bool fresh = false;
	reg(&r, g.name, "email:viewer@example.org", "192.0.2.10:500");
	ck_assert_int_eq(gk_store_registration_put(s, &r, &fresh), GK_OK);
	ck_assert(fresh);
	reg(&r, g.name, "fqdn:camera.example", "[2001:db8::1]:848");
	r.role = GK_ROLE_SENDER;
	r.sender_id_first = 1;
	r.sender_id_count = 2;
	ck_assert_int_eq(gk_store_registration_put(s, &r, NULL), GK_OK);
	ck_assert_int_eq(gk_store_registration_count(s, g.name, &n), GK_OK);
	ck_assert_uint_eq(n, 2);
	/* re-registration refreshes the row, and says it was there */
	r.registered_at = NOW + 60;
	r.sender_id_first = 3;
	snprintf(r.peer, sizeof(r.peer), "192.0.2.11:4500");
	ck_assert_int_eq(gk_store_registration_put(s, &r, &fresh), GK_OK);
	ck_assert(!fresh);
	ck_assert_int_eq(gk_store_registration_count(s, g.name, &n), GK_OK);
	ck_assert_uint_eq(n, 2);
	/* the same in a batch (group commit), also after other inserts: a refresh is not fresh
	 * whatever was inserted before it */
	uint64_t seq = 0;
	reg(&r, g.name, "keyid:batched", "192.0.2.12:500");
	fresh = false;
	ck_assert_int_eq(gk_store_registration_put_batched(s, &r, &seq, &fresh), GK_OK);
	ck_assert(fresh);
	fresh = true;
	ck_assert_int_eq(gk_store_registration_put_batched(s, &r, &seq, &fresh), GK_OK);
	ck_assert(!fresh);
	reg(&r, g.name, "email:viewer@example.org", "192.0.2.10:500");
	fresh = true;
	ck_assert_int_eq(gk_store_registration_put_batched(s, &r, &seq, &fresh), GK_OK);
	ck_assert(!fresh);
	ck_assert_int_eq(gk_store_batch_commit(s), GK_OK);
	ck_assert(gk_store_batch_committed(s, seq));
	gk_store_batch_reset(s);
	ck_assert_int_eq(gk_store_registration_delete(s, g.name, "keyid:batched"), GK_OK);
	/* a member registered again after its row went is fresh again */
	reg(&r, g.name, "keyid:batched", "192.0.2.12:500");
	fresh = false;
	ck_assert_int_eq(gk_store_registration_put(s, &r, &fresh), GK_OK);
	ck_assert(fresh);
	ck_assert_int_eq(gk_store_registration_delete(s, g.name, "keyid:batched"), GK_OK);
	reg(&r, g.name, "fqdn:camera.example", "192.0.2.11:4500");
	r.role = GK_ROLE_SENDER;
	r.registered_at = NOW + 60;
	r.sender_id_first = 3;
	r.sender_id_count = 2;
	gk_registration *list = NULL;
	size_t len = 0;
	ck_assert_int_eq(gk_store_registrations(s, g.name, &list, &len), GK_OK);
	ck_assert_uint_eq(len, 2);
	ck_assert_str_eq(list[0].member, "email:viewer@example.org");
	ck_assert_int_eq(list[0].role, GK_ROLE_RECEIVER);
	ck_assert_str_eq(list[1].group, g.name);
	ck_assert_str_eq(list[1].member, "fqdn:camera.example");
	ck_assert_str_eq(list[1].peer, "192.0.2.11:4500");
	ck_assert_int_eq(list[1].role, GK_ROLE_SENDER);
	ck_assert_int_eq(list[1].registered_at, NOW + 60);
	ck_assert_uint_eq(list[1].sender_id_first, 3);
	ck_assert_uint_eq(list[1].sender_id_count, 2);
	free(list);

	ck_assert_int_eq(gk_store_registration_delete(s, g.name, "fqdn:camera.example"), GK_OK);
	ck_assert_int_eq(gk_store_registration_delete(s, g.name, "fqdn:camera.example"),
			 GK_E_NOT_FOUND);
	ck_assert_int_eq(gk_store_registration_count(s, g.name, &n), GK_OK);
	ck_assert_uint_eq(n, 1);
	/* a policy reload does not drop registrations */
	g.capacity = 1;
	bool changed;
	ck_assert_int_eq(gk_keys_group_put(s, &g, "tester", NULL, (int64_t)time(NULL), &changed), GK_OK);
	ck_assert_int_eq(gk_store_registration_count(s, g.name, &n), GK_OK);
	ck_assert_uint_eq(n, 1);

	reg(&r, "keyid:nope", "fqdn:x.example", "");
	ck_assert_int_eq(gk_store_registration_put(s, &r, NULL), GK_E_NOT_FOUND);
	ck_assert_int_eq(gk_store_registration_count(s, "keyid:nope", &n), GK_E_NOT_FOUND);
	ck_assert_int_eq(gk_store_registrations(s, "keyid:nope", &list, &len), GK_E_NOT_FOUND);
	reg(&r, g.name, "fqdn:x.example", "");
	r.role = (gk_role)0;
	ck_assert_int_eq(gk_store_registration_put(s, &r, NULL), GK_E_INVAL);
	gk_group_policy_free(&g);
	gk_store_close(s);
}
END_TEST

/* RFC 9838 2.4.1.2: whether every registered member negotiated IKE fragmentation, kept with
 * the registrations; one member without it (or not known) is enough to send GSA_REKEY whole. */
START_TEST(registrations_frag)
{
	gk_group_policy g;
	gk_store *s = store_with_policy(&g);
	gk_registration r;
	bool all = false;
	ck_assert_int_eq(gk_store_registrations_frag_ok(s, g.name, &all), GK_OK);
	ck_assert(all); /* nobody registered: nobody to leave out */
	reg(&r, g.name, "fqdn:a.example", "192.0.2.10:500");
	r.frag_ok = true;
	ck_assert_int_eq(gk_store_registration_put(s, &r, NULL), GK_OK);
	ck_assert_int_eq(gk_store_registrations_frag_ok(s, g.name, &all), GK_OK);
	ck_assert(all);
	reg(&r, g.name, "fqdn:b.example", "192.0.2.11:500");
	ck_assert(!r.frag_ok);
	ck_assert_int_eq(gk_store_registration_put(s, &r, NULL), GK_OK);
	ck_assert_int_eq(gk_store_registrations_frag_ok(s, g.name, &all), GK_OK);
	ck_assert(!all);
	gk_registration *list = NULL;
	size_t len = 0;
	ck_assert_int_eq(gk_store_registrations(s, g.name, &list, &len), GK_OK);
	ck_assert_uint_eq(len, 2);
	ck_assert(list[0].frag_ok);
	ck_assert(!list[1].frag_ok);
	free(list);
	/* b registers again, now with fragmentation: the row is refreshed */
	r.frag_ok = true;
	ck_assert_int_eq(gk_store_registration_put(s, &r, NULL), GK_OK);
	ck_assert_int_eq(gk_store_registrations_frag_ok(s, g.name, &all), GK_OK);
	ck_assert(all);
	/* and again without: refreshed the other way too */
	r.frag_ok = false;
	ck_assert_int_eq(gk_store_registration_put(s, &r, NULL), GK_OK);
	ck_assert_int_eq(gk_store_registrations_frag_ok(s, g.name, &all), GK_OK);
	ck_assert(!all);
	/* the member without it leaves */
	ck_assert_int_eq(gk_store_registration_delete(s, g.name, "fqdn:b.example"), GK_OK);
	ck_assert_int_eq(gk_store_registrations_frag_ok(s, g.name, &all), GK_OK);
	ck_assert(all);
	/* the probe is one index lookup, not a scan of the group's registrations */
	ck_assert_int_eq(raw_int("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND "
				 "name = 'registrations_no_frag'"), 1);
	ck_assert_int_eq(gk_store_registrations_frag_ok(s, g.name, NULL), GK_E_INVAL);
	gk_group_policy_free(&g);
	gk_store_close(s);
}
END_TEST

/* Which senders may hold which single-sender counter-mode TEK, and when a sender last forced a
 * rekey: per identity and TEK, for every registered sender at once, forgotten when the group no
 * longer has the key, durable across a reopen; the rekey limit by interval. */
START_TEST(sender_teks)
{
	gk_group_policy g;
	gk_store *s = store_with_policy(&g);
	gk_rand_test r1;
	gk_rand_test_init(&r1, 1);
	gk_sa_key k[3];
	size_t n = 0;
	ck_assert_int_eq(gk_keys_group_keys(s, &g, &r1.r, NOW, k, &n), GK_OK);
	const uint8_t *t0 = k[0].spi, *t1 = k[1].spi;
	static const uint8_t gone[4] = { 0xde, 0xad, 0xbe, 0xef };
	bool held = true;
	ck_assert_int_eq(gk_store_sender_tek_held(s, g.name, "fqdn:s1.example", t0, &held), GK_OK);
	ck_assert(!held);
	ck_assert_int_eq(gk_keys_sender_tek_add(s, g.name, "fqdn:s1.example", t0), GK_OK);
	ck_assert_int_eq(gk_keys_sender_tek_add(s, g.name, "fqdn:s1.example", t0), GK_OK); /* again: one row */
	ck_assert_int_eq(gk_store_sender_tek_held(s, g.name, "fqdn:s1.example", t0, &held), GK_OK);
	ck_assert(held);
	ck_assert_int_eq(gk_store_sender_tek_held(s, g.name, "fqdn:s2.example", t0, &held), GK_OK);
	ck_assert(!held);
	ck_assert_int_eq(gk_store_sender_tek_held(s, g.name, "fqdn:s1.example", t1, &held), GK_OK);
	ck_assert(!held);
	/* every registered sender, not receivers */
	gk_registration r;
	reg(&r, g.name, "fqdn:s2.example", "192.0.2.10:500");
	r.role = GK_ROLE_SENDER;
	ck_assert_int_eq(gk_store_registration_put(s, &r, NULL), GK_OK);
	reg(&r, g.name, "fqdn:r1.example", "192.0.2.11:500");
	r.role = GK_ROLE_RECEIVER;
	ck_assert_int_eq(gk_store_registration_put(s, &r, NULL), GK_OK);
	ck_assert_int_eq(gk_keys_sender_tek_add(s, g.name, NULL, t1), GK_OK);
	ck_assert_int_eq(gk_store_sender_tek_held(s, g.name, "fqdn:s2.example", t1, &held), GK_OK);
	ck_assert(held);
	ck_assert_int_eq(gk_store_sender_tek_held(s, g.name, "fqdn:r1.example", t1, &held), GK_OK);
	ck_assert(!held);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM sender_teks"), 2);
	/* a key the group does not have is forgotten at the next addition */
	ck_assert_int_eq(gk_keys_sender_tek_add(s, g.name, "fqdn:s1.example", gone), GK_OK);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM sender_teks"), 2);
	ck_assert_int_eq(gk_store_sender_tek_held(s, g.name, "fqdn:s1.example", gone, &held), GK_OK);
	ck_assert(!held);
	/* durable */
	gk_store_close(s);
	s = open_ok(false);
	ck_assert_int_eq(gk_store_sender_tek_held(s, g.name, "fqdn:s1.example", t0, &held), GK_OK);
	ck_assert(held);
	/* the rekey limit: once per interval, measured from the last allowed one */
	bool ok = false;
	ck_assert_int_eq(gk_keys_sender_rekey_take(s, g.name, "fqdn:s1.example", 1000, 60, &ok), GK_OK);
	ck_assert(ok);
	ck_assert_int_eq(gk_keys_sender_rekey_take(s, g.name, "fqdn:s1.example", 1059, 60, &ok), GK_OK);
	ck_assert(!ok);
	ck_assert_int_eq(gk_keys_sender_rekey_take(s, g.name, "fqdn:s2.example", 1059, 60, &ok), GK_OK);
	ck_assert(ok); /* per identity */
	ck_assert_int_eq(gk_keys_sender_rekey_take(s, g.name, "fqdn:s1.example", 1060, 60, &ok), GK_OK);
	ck_assert(ok);
	ck_assert_int_eq(gk_keys_sender_rekey_take(s, g.name, "fqdn:s1.example", 900, 60, &ok), GK_OK);
	ck_assert(!ok); /* the clock went back */
	ck_assert_int_eq(gk_keys_sender_rekey_take(s, "keyid:nope", "fqdn:s1.example", 5000, 60, &ok),
			 GK_E_NOT_FOUND);
	ck_assert(!ok);
	ck_assert_int_eq(gk_store_sender_tek_held(s, g.name, NULL, t0, &held), GK_E_INVAL);
	gk_group_policy_free(&g);
	gk_store_close(s);
}
END_TEST

START_TEST(audit_rows)
{
	gk_store *s = open_ok(true);
	ck_assert_int_eq(gk_store_audit(s, "root", "rekey", "keyid:video-1", (int64_t)time(NULL)), GK_OK);
	ck_assert_int_eq(gk_store_audit(s, NULL, "evict", NULL, (int64_t)time(NULL)), GK_OK);
	gk_store_close(s);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM audit WHERE who = 'root' AND action = 'rekey' "
				 "AND detail = 'keyid:video-1' AND at > 1600000000"), 1);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM audit WHERE who = '-' AND action = 'evict'"), 1);
}
END_TEST

/* Every time the store records comes from the caller's clock (the GCKS env's wall clock, or
 * gcksctl's time(NULL) at its edge): the store reads none. */
START_TEST(writes_take_the_callers_clock)
{
	gk_group_policy g;
	gk_gcks_identity id;
	bool changed = false;
	gk_store *s = open_ok(true);
	rich_policy(&g);
	ck_assert_int_eq(gk_keys_group_put(s, &g, "tester", NULL, 1000001, &changed), GK_OK);
	g.capacity++;
	ck_assert_int_eq(gk_keys_group_put(s, &g, "tester", NULL, 1000002, &changed), GK_OK);
	memset(&id, 0, sizeof(id));
	ident("fqdn:gcks.example", &id.id);
	id.sign_key_pem = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI...\n-----END PRIVATE KEY-----\n";
	ck_assert_int_eq(gk_store_identity_set(s, &id, "init", 1000003), GK_OK);
	ck_assert_int_eq(gk_store_audit(s, "root", "rekey", "x", 1000004), GK_OK);
	ck_assert_int_eq(gk_store_group_delete(s, g.name, "bob", 1000005), GK_OK);
	gk_store_close(s);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM audit WHERE action = 'policy load' AND at = 1000001"), 1);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM audit WHERE action = 'policy load' AND at = 1000002"), 1);
	ck_assert_int_eq(raw_int("SELECT updated FROM gcks_identity"), 1000003);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM audit WHERE action = 'identity set' AND at = 1000003"), 1);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM audit WHERE action = 'rekey' AND at = 1000004"), 1);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM audit WHERE action = 'group delete' AND at = 1000005"), 1);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM audit WHERE at < 1000001 OR at > 1000005"), 0);
	gk_group_policy_free(&g);
}
END_TEST

/* The group row's created and updated times are the caller's too. */
START_TEST(group_times_take_the_callers_clock)
{
	gk_group_policy g;
	bool changed = false;
	gk_store *s = open_ok(true);
	rich_policy(&g);
	ck_assert_int_eq(gk_keys_group_put(s, &g, "tester", NULL, 2000001, &changed), GK_OK);
	g.capacity++;
	ck_assert_int_eq(gk_keys_group_put(s, &g, "tester", NULL, 2000002, &changed), GK_OK);
	gk_store_close(s);
	ck_assert_int_eq(raw_int("SELECT created FROM groups"), 2000001);
	ck_assert_int_eq(raw_int("SELECT updated FROM groups"), 2000002);
	gk_group_policy_free(&g);
}
END_TEST

/* The backend is chosen by the locator: a PostgreSQL connection string is refused (no such
 * backend in this build), clearly, and creates no file. */
START_TEST(open_postgres_locator_refused)
{
	gk_store *s = (gk_store *)&s;
	char err[GK_STORE_ERR_MAX];
	int v = 0;
#ifdef HAVE_POSTGRESQL
	/* built with the backend: a server that is not there is an I/O failure whose message names
	 * it but never the password in the locator (nothing listens on port 1) */
	ck_assert_int_eq(gk_store_open("postgresql://gcks:s3cr3t-pw@127.0.0.1:1/gikev2?connect_timeout=5", true, &s,
				       err, sizeof(err)), GK_E_IO);
	ck_assert_ptr_null(s);
	ck_assert_msg(strstr(err, "PostgreSQL") && !strstr(err, "s3cr3t"), "%s", err);
	/* backups of a PostgreSQL store are pg_dump's */
	ck_assert_int_eq(gk_store_backup_check("postgresql://127.0.0.1:1/gikev2", db, &v, err, sizeof(err)),
			 GK_E_UNSUPPORTED);
	ck_assert_msg(strstr(err, "pg_dump") && strstr(err, "pg_restore"), "%s", err);
#else
	ck_assert_int_eq(gk_store_open("postgresql://gcks@db.example/gikev2", true, &s, err, sizeof(err)), GK_E_UNSUPPORTED);
	ck_assert_ptr_null(s);
	ck_assert_ptr_nonnull(strstr(err, "PostgreSQL"));
	ck_assert_int_eq(gk_store_open("postgres://db.example/gikev2", false, &s, err, sizeof(err)), GK_E_UNSUPPORTED);
	ck_assert_int_eq(gk_store_backup_check("postgresql://db.example/gikev2", db, &v, err, sizeof(err)),
			 GK_E_UNSUPPORTED);
#endif
	ck_assert_int_eq(access("postgresql:", F_OK), -1);
	/* the locator as messages show it: no password */
	char t[128];
	ck_assert_str_eq(gk_store_locator_text("postgresql://gcks:s3cr3t@db.example:5432/gikev2?sslmode=verify-full", t,
					       sizeof(t)), "postgresql://gcks:***@db.example:5432/gikev2?sslmode=verify-full");
	ck_assert_str_eq(gk_store_locator_text("postgres://db.example/gk?user=g&password=pw&sslmode=require", t, sizeof(t)),
			 "postgres://db.example/gk?user=g&password=***&sslmode=require");
	ck_assert_str_eq(gk_store_locator_text("postgres://db.example/gk?password=pw", t, sizeof(t)),
			 "postgres://db.example/gk?password=***");
	ck_assert_str_eq(gk_store_locator_text("postgresql://gcks@db.example/gk", t, sizeof(t)), "postgresql://gcks@db.example/gk");
	ck_assert_str_eq(gk_store_locator_text("/var/lib/gikev2/a:b@c.db", t, sizeof(t)), "/var/lib/gikev2/a:b@c.db");
	ck_assert_str_eq(gk_store_locator_text("postgresql://u:pw@h/d", t, 12), "postgresql:");
	ck_assert_str_eq(gk_store_locator_text("postgresql://u:pw@h/d", t, 17), "postgresql://u:*");
	ck_assert_str_eq(gk_store_locator_text(NULL, t, sizeof(t)), "");
}
END_TEST

/* The transactions the key rules run in: no nesting, and a failure rolls back every write. */
START_TEST(transactions)
{
	gk_group_policy g;
	gk_store_gid gid;
	int64_t gen, v = -1;
	gk_store *s = store_with_policy(&g);
	ck_assert_int_eq(gk_store_begin(s, GK_TX_DURABLE), GK_OK);
	ck_assert_int_eq(gk_store_begin(s, GK_TX_READ), GK_E_STATE);
	ck_assert_int_eq(gk_store_group_find(s, g.name, &gid, &gen), GK_OK);
	ck_assert_int_eq(gen, 1);
	ck_assert_int_eq(gk_store_counter_set(s, gid, GK_COUNTER_SENDER_ID, 41), GK_OK);
	ck_assert_int_eq(gk_store_end(s, GK_OK), GK_OK);
	ck_assert_int_eq(gk_store_begin(s, GK_TX_WRITE), GK_OK);
	ck_assert_int_eq(gk_store_counter_set(s, gid, GK_COUNTER_SENDER_ID, 99), GK_OK);
	ck_assert_int_eq(gk_store_end(s, GK_E_TOO_BIG), GK_E_TOO_BIG);
	ck_assert_int_eq(gk_store_begin(s, GK_TX_READ), GK_OK);
	ck_assert_int_eq(gk_store_counter_get(s, gid, GK_COUNTER_SENDER_ID, 0, &v), GK_OK);
	ck_assert_int_eq(gk_store_counter_get(s, gid, GK_COUNTER_REKEY_MSGID, 7, &gen), GK_OK);
	ck_assert_int_eq(gk_store_end(s, GK_OK), GK_OK);
	ck_assert_int_eq(v, 41);
	ck_assert_int_eq(gen, 7); /* never set: the default */
	ck_assert_int_eq(gk_store_group_find(s, "no-such-group", &gid, NULL), GK_E_NOT_FOUND);
	if (on_pg()) {
		/* PostgreSQL aborts a transaction at its first failed statement: committing it anyway
		 * is a failure, and what came before the failed statement is not stored */
		ck_assert_int_eq(gk_store_begin(s, GK_TX_WRITE), GK_OK);
		ck_assert_int_eq(gk_store_counter_set(s, gid, GK_COUNTER_SENDER_ID, 50), GK_OK);
		ck_assert_int_eq(gk_store_counter_set(s, gid, GK_COUNTER_SENDER_ID, -1), GK_E_INVAL); /* CHECK */
		ck_assert_int_eq(gk_store_end(s, GK_OK), GK_E_IO);
		ck_assert_int_eq(gk_store_begin(s, GK_TX_READ), GK_OK);
		ck_assert_int_eq(gk_store_counter_get(s, gid, GK_COUNTER_SENDER_ID, 0, &v), GK_OK);
		ck_assert_int_eq(gk_store_end(s, GK_OK), GK_OK);
		ck_assert_int_eq(v, 41);
	}
	gk_group_policy_free(&g);
	gk_store_close(s);
}
END_TEST

START_TEST(identity)
{
	gk_store *s = open_ok(true);
	gk_gcks_identity id, got;
	ck_assert_int_eq(gk_store_identity_get(s, &got), GK_E_NOT_FOUND);
	memset(&id, 0, sizeof(id));
	ident("fqdn:gcks.example", &id.id);
	id.sign_key_pem = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI...\n-----END PRIVATE KEY-----\n";
	id.ca_pem = "-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n";
	ck_assert_int_eq(gk_store_identity_set(s, &id, "init", (int64_t)time(NULL)), GK_OK);
	ck_assert_int_eq(gk_store_identity_get(s, &got), GK_OK);
	ck_assert(gk_ident_eq(&got.id, &id.id));
	ck_assert_str_eq(got.sign_key_pem, id.sign_key_pem);
	ck_assert_ptr_null(got.cert_pem);
	ck_assert_str_eq(got.ca_pem, id.ca_pem);
	gk_gcks_identity_free(&got);
	/* replaced, not added */
	id.cert_pem = "-----BEGIN CERTIFICATE-----\ngcks\n-----END CERTIFICATE-----\n";
	ck_assert_int_eq(gk_store_identity_set(s, &id, "init", (int64_t)time(NULL)), GK_OK);
	ck_assert_int_eq(gk_store_identity_get(s, &got), GK_OK);
	ck_assert_str_eq(got.cert_pem, id.cert_pem);
	gk_gcks_identity_free(&got);
	gk_store_close(s);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM gcks_identity"), 1);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM audit WHERE action = 'identity set' AND "
				 "detail = 'fqdn:gcks.example'"), 2);
}
END_TEST

/* The key tree of an lkh group (schema 6) as gcksd keeps it: written whole, changed by a join
 * and an eviction, read back node for node with its shape and Key ID counter; another degree
 * in the policy starts a new tree whose Key IDs go on. */
START_TEST(lkh_tree_round_trip)
{
	gk_group_policy g;
	gk_store *s = store_with_policy(&g);
	gk_rand_test rt;
	gk_rand_test_init(&rt, 6);
	const char *names[] = { "fqdn:a.example", "fqdn:b.example", "fqdn:c.example", "fqdn:d.example",
				"fqdn:e.example" };
	gk_lkh t, back;
	ck_assert_int_eq(gk_keys_lkh_load(s, &g, &t), GK_OK); /* none yet: an empty one, stored */
	ck_assert_uint_eq(t.nmembers, 0);
	ck_assert_uint_eq(t.degree, 3);
	gk_lkh_free(&t);
	ck_assert_int_eq(gk_lkh_init(&t, 3, 32, 5), GK_OK);
	ck_assert_int_eq(gk_lkh_build(&t, &rt.r, names, 5), GK_OK);
	ck_assert_int_eq(gk_keys_lkh_store_all(s, &g, &t), GK_OK);
	uint32_t pos;
	ck_assert_int_eq(gk_keys_lkh_join(s, &g, &t, &rt.r, "fqdn:f.example", &pos), GK_OK);
	gk_lkh_evicted e;
	gk_sa_key prev[3], keys[3];
	size_t nk;
	uint32_t msgid;
	const char *who[1] = { "fqdn:b.example" };
	ck_assert_int_eq(gk_keys_lkh_evict(s, &g, &t, &rt.r, (int64_t)time(NULL), who, 1, NULL, &e, prev, keys, &nk, &msgid),
			 GK_OK);
	ck_assert_uint_eq(nk, 3);
	ck_assert_int_eq(keys[2].tek_index, -1); /* only the Rekey SA changed */
	ck_assert(memcmp(keys[2].spi, prev[2].spi, 16) != 0);
	ck_assert(!memcmp(keys[0].spi, prev[0].spi, 4));
	gk_lkh_evicted_free(&e);
	bool current = false;
	ck_assert_int_eq(gk_keys_lkh_current(s, &g, &t, &current), GK_OK);
	ck_assert(current);
	ck_assert_int_eq(gk_keys_lkh_load(s, &g, &back), GK_OK);
	ck_assert_uint_eq(back.nmembers, 5);
	ck_assert_uint_eq(back.next_key_id, t.next_key_id);
	ck_assert_uint_eq(back.depth, t.depth);
	ck_assert_uint_eq(back.end, t.end);
	for (size_t p = 1; p < t.end; p++) {
		ck_assert_uint_eq(back.nodes[p].key_id, t.nodes[p].key_id);
		ck_assert(!memcmp(back.nodes[p].key, t.nodes[p].key, 32));
		ck_assert_int_eq(!back.nodes[p].member, !t.nodes[p].member);
		if (t.nodes[p].member)
			ck_assert_str_eq(back.nodes[p].member, t.nodes[p].member);
	}
	ck_assert_uint_eq(gk_lkh_find(&back, "fqdn:b.example"), 0);
	ck_assert_uint_eq(gk_lkh_find(&back, "fqdn:f.example"), pos);
	gk_lkh_free(&back);
	/* another degree: a new, empty tree; Key IDs never go back */
	g.kek.lkh_degree = 2;
	ck_assert_int_eq(gk_keys_lkh_load(s, &g, &back), GK_OK);
	ck_assert_uint_eq(back.nmembers, 0);
	ck_assert_uint_eq(back.degree, 2);
	ck_assert_uint_eq(back.next_key_id, t.next_key_id);
	ck_assert_int_eq(gk_keys_lkh_current(s, &g, &t, &current), GK_OK);
	ck_assert(!current);
	gk_lkh_free(&back);
	gk_lkh_free(&t);
	gk_group_policy_free(&g);
	gk_store_close(s);
}
END_TEST


/* Two servers on one store, each with the tree it loaded: the second's change is made on the
 * tree as committed (it is loaded again inside the transaction), so no Key ID is taken twice and
 * no leaf is lost. */
START_TEST(lkh_two_servers)
{
	gk_group_policy g;
	gk_store *s1 = store_with_policy(&g), *s2 = open_ok(false);
	gk_rand_test r1, r2;
	gk_rand_test_init(&r1, 7);
	gk_rand_test_init(&r2, 8);
	gk_lkh t1, t2, back;
	uint32_t pa, pb, again;
	ck_assert_int_eq(gk_keys_lkh_load(s1, &g, &t1), GK_OK);
	ck_assert_int_eq(gk_keys_lkh_load(s2, &g, &t2), GK_OK);
	ck_assert_int_eq(gk_keys_lkh_join(s1, &g, &t1, &r1.r, "fqdn:a.example", &pa), GK_OK);
	ck_assert_int_eq(gk_keys_lkh_join(s2, &g, &t2, &r2.r, "fqdn:b.example", &pb), GK_OK); /* t2 was stale */
	ck_assert_uint_ne(pa, pb);
	ck_assert_uint_eq(gk_lkh_find(&t2, "fqdn:a.example"), pa);
	/* a joins again through the first: it keeps its leaf, seen in the store */
	ck_assert_int_eq(gk_keys_lkh_join(s1, &g, &t1, &r1.r, "fqdn:a.example", &again), GK_OK);
	ck_assert_uint_eq(again, pa);
	ck_assert_int_eq(gk_keys_lkh_load(s1, &g, &back), GK_OK);
	ck_assert_uint_eq(back.nmembers, 2);
	ck_assert_uint_eq(back.next_key_id, t2.next_key_id);
	for (size_t p = 1; p < back.end; p++)
		for (size_t q = p + 1; q < back.end; q++)
			ck_assert_msg(!back.nodes[p].key_id || back.nodes[p].key_id != back.nodes[q].key_id,
				      "Key ID %u at %zu and %zu", back.nodes[p].key_id, p, q);
	gk_lkh_free(&back);
	gk_lkh_free(&t1);
	gk_lkh_free(&t2);
	gk_group_policy_free(&g);
	gk_store_close(s1);
	gk_store_close(s2);
}
END_TEST

/* ---- several servers allocating at once ---- */

#define CC_PROCS 4
#define CC_ROUNDS 12
#define CC_JOINS 3
/* What a child took: a Sender-ID, a Message ID, an SPI, or a GSA_REKEY's (old Rekey SA SPI,
 * Message ID). */
enum { CC_SENDER = 1, CC_MSGID, CC_SPI, CC_REKEY };
typedef struct cc_rec {
	uint8_t type, len;
	uint8_t v[22];
} cc_rec;

static bool cc_put(int fd, uint8_t type, const void *v, size_t len)
{
	cc_rec r = { .type = type, .len = (uint8_t)len };
	memcpy(r.v, v, len);
	return write(fd, &r, sizeof(r)) == (ssize_t)sizeof(r);
}

/* One server: its own connection; every child draws the same "random" SPIs (one seed), so only
 * the store's transaction keeps them apart. */
static int cc_child(int fd, int i, const gk_group_policy *g, bool rekeys)
{
	gk_store *s = NULL;
	char err[GK_STORE_ERR_MAX];
	gk_rand_test rt;
	gk_rand_test_init(&rt, 42);
	if (gk_store_open(db, false, &s, err, sizeof(err)) != GK_OK)
		return 2;
	for (int j = 0; j < CC_ROUNDS && !rekeys; j++) {
		uint32_t v;
		if (gk_keys_sender_ids_alloc(s, g->name, 1, 16, &v) || !cc_put(fd, CC_SENDER, &v, 4))
			return 3;
		if (gk_keys_rekey_msgid_next(s, g->name, &v) || !cc_put(fd, CC_MSGID, &v, 4))
			return 4;
	}
	if (!rekeys) {
		gk_lkh t;
		if (gk_keys_lkh_load(s, g, &t))
			return 5;
		for (int j = 0; j < CC_JOINS; j++) {
			char name[64];
			uint32_t pos;
			snprintf(name, sizeof(name), "fqdn:m%d-%d.example", i, j);
			if (gk_keys_lkh_join(s, g, &t, &rt.r, name, &pos))
				return 6;
		}
		gk_lkh_free(&t);
	}
	for (int j = 0; j < CC_ROUNDS && rekeys; j++) {
		gk_sa_key prev[8], keys[8];
		size_t nk = 0;
		bool changed = false;
		uint32_t msgid = 0;
		if (gk_keys_group_rekey(s, g, &rt.r, NOW, NOW, true, NULL, prev, keys, &nk, &changed, &msgid) || !changed)
			return 7;
		for (size_t k = 0; k < nk; k++)
			if (!cc_put(fd, CC_SPI, keys[k].spi, keys[k].spi_len))
				return 8;
		uint8_t rk[20];
		memcpy(rk, prev[nk - 1].spi, 16);
		memcpy(rk + 16, &msgid, 4);
		if (!cc_put(fd, CC_REKEY, rk, 20))
			return 9;
	}
	gk_store_close(s);
	return 0;
}

static int cc_cmp(const void *a, const void *b)
{
	const cc_rec *x = a, *y = b;
	return x->type != y->type ? x->type - y->type : x->len != y->len ? x->len - y->len : memcmp(x->v, y->v, x->len);
}

/* Runs CC_PROCS children at once; returns how many records of each type they sent, none twice. */
static void cc_run(const gk_group_policy *g, bool rekeys, size_t count[5])
{
	int fds[2];
	pid_t pids[CC_PROCS];
	ck_assert_int_eq(pipe(fds), 0);
	for (int i = 0; i < CC_PROCS; i++) {
		pids[i] = fork();
		ck_assert_int_ge(pids[i], 0);
		if (pids[i] == 0) {
			close(fds[0]);
			_exit(cc_child(fds[1], i, g, rekeys));
		}
	}
	close(fds[1]);
	size_t n = 0, cap = 1024;
	cc_rec *recs = calloc(cap, sizeof(*recs));
	ck_assert_ptr_nonnull(recs);
	while (n < cap && read(fds[0], &recs[n], sizeof(*recs)) == (ssize_t)sizeof(*recs))
		n++;
	close(fds[0]);
	for (int i = 0; i < CC_PROCS; i++) {
		int status = 0;
		ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d: status %d", i, status);
	}
	qsort(recs, n, sizeof(*recs), cc_cmp);
	memset(count, 0, 5 * sizeof(*count));
	for (size_t i = 0; i < n; i++) {
		ck_assert_msg(i == 0 || cc_cmp(&recs[i - 1], &recs[i]) != 0, "type %d value %s issued twice",
			      recs[i].type, tu_tohex(recs[i].v, recs[i].len));
		count[recs[i].type]++;
	}
	free(recs);
}

/* Several gcksd on one store (processes with a connection each) take Sender-IDs, Rekey SA
 * Message IDs, LKH leaves and Key IDs, and rekey (fresh SPIs) at the same time: no value is
 * handed out twice, none is lost. */
/* PostgreSQL: a server cut off inside a write transaction holds the store-wide writer lock
 * until the database ends its session, idle_in_transaction_session_timeout (2 s) after its last
 * statement: another server's write transaction gets the lock before its own statement's
 * 5 s deadline. The cut-off handle's transaction fails, nothing of it is stored, and its next
 * transaction connects again. */
START_TEST(pg_idle_transaction_ended)
{
	gk_group_policy g;
	gk_store_gid gid;
	int64_t v = -1;
	gk_status st;
	gk_store *s = store_with_policy(&g);
	gk_store *b = open_ok(false);
	ck_assert_int_eq(gk_store_group_find(s, g.name, &gid, NULL), GK_OK);
	ck_assert_int_eq(gk_store_begin(s, GK_TX_WRITE), GK_OK);
	ck_assert_int_eq(gk_store_counter_set(s, gid, GK_COUNTER_SENDER_ID, 77), GK_OK);
	ck_assert_int_eq(gk_store_begin(b, GK_TX_WRITE), GK_OK); /* waited for s's session to end */
	ck_assert_int_eq(gk_store_end(b, GK_OK), GK_OK);
	ck_assert_int_ne(gk_store_counter_set(s, gid, GK_COUNTER_SENDER_ID, 78), GK_OK);
	ck_assert_int_ne(gk_store_end(s, GK_OK), GK_OK);
	for (int i = 0; i < 50 && (st = gk_store_begin(s, GK_TX_READ)); i++)
		usleep(100000); /* a reconnection goes on in steps of 250 ms */
	ck_assert_int_eq(st, GK_OK);
	ck_assert_int_eq(gk_store_counter_get(s, gid, GK_COUNTER_SENDER_ID, 0, &v), GK_OK);
	ck_assert_int_eq(gk_store_end(s, GK_OK), GK_OK);
	ck_assert_int_ne(v, 77);
	gk_store_close(b);
	gk_group_policy_free(&g);
	gk_store_close(s);
}
END_TEST

START_TEST(concurrent_allocations)
{
	gk_group_policy g;
	gk_store *s = store_with_policy(&g);
	gk_rand_test rt;
	gk_rand_test_init(&rt, 42);
	gk_sa_key keys[8];
	size_t nk = 0, count[5];
	ck_assert_uint_le(g.nteks + 1, 8);
	ck_assert_int_eq(gk_keys_group_keys(s, &g, &rt.r, NOW, keys, &nk), GK_OK);
	gk_store_close(s); /* no connection crosses a fork */

	cc_run(&g, false, count);
	ck_assert_uint_eq(count[CC_SENDER], CC_PROCS * CC_ROUNDS);
	ck_assert_uint_eq(count[CC_MSGID], CC_PROCS * CC_ROUNDS);
	s = open_ok(false);
	gk_lkh t;
	ck_assert_int_eq(gk_keys_lkh_load(s, &g, &t), GK_OK);
	ck_assert_uint_eq(t.nmembers, CC_PROCS * CC_JOINS);
	for (size_t p = 1; p < t.end; p++)
		for (size_t q = p + 1; q < t.end; q++)
			ck_assert_msg(!t.nodes[p].key_id || t.nodes[p].key_id != t.nodes[q].key_id, "Key ID %u twice",
				      t.nodes[p].key_id);
	gk_lkh_free(&t);
	gk_store_close(s);

	cc_run(&g, true, count);
	ck_assert_uint_eq(count[CC_SPI], CC_PROCS * CC_ROUNDS * nk);
	ck_assert_uint_eq(count[CC_REKEY], CC_PROCS * CC_ROUNDS);
	ck_assert_int_eq(raw_int("SELECT count(*) - count(DISTINCT spi) FROM sa_keys"), 0);
	gk_group_policy_free(&g);
}
END_TEST

int main(void)
{
	Suite *su = suite_create(on_pg() ? "storage (PostgreSQL)" : "storage");
	TCase *tc = tcase_create("storage");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	if (!on_pg()) {
		tcase_add_test(tc, created_0600_whatever_the_umask);
		tcase_add_test(tc, refuses_readable_file);
		tcase_add_test(tc, refuses_foreign_files);
		tcase_add_test(tc, migrates_version_1_database);
		tcase_add_test(tc, open_postgres_locator_refused);
	}
	tcase_add_test(tc, create_open_reopen);
	tcase_add_test(tc, migrates_version_10_database);
	tcase_add_test(tc, refuses_newer_schema);
	tcase_add_test(tc, registrations_frag);
	tcase_add_test(tc, audit_list_last_n_oldest_first);
	tcase_add_test(tc, lkh_tree_round_trip);
	tcase_add_test(tc, policy_round_trip);
	tcase_add_test(tc, member_identity_lengths_and_shared_psks);
	tcase_add_test(tc, put_same_is_no_change);
	tcase_add_test(tc, put_modified_changes);
	tcase_add_test(tc, plan_is_what_a_put_does);
	tcase_add_test(tc, plan_lkh_evicts_through_the_tree);
	tcase_add_test(tc, readding_an_evicted_member_is_known);
	tcase_add_test(tc, restore_epoch_skips_message_ids);
	tcase_add_test(tc, failed_put_rolls_back);
	tcase_add_test(tc, delete_cascades);
	tcase_add_test(tc, keys_shapes_and_stability);
	tcase_add_test(tc, keys_follow_policy_generation);
	tcase_add_test(tc, keys_replaced_on_expiry);
	tcase_add_test(tc, spis_avoid_reserved_and_used_values);
	tcase_add_test(tc, sender_ids);
	tcase_add_test(tc, rekey_message_ids);
	tcase_add_test(tc, rekey_message_ids_follow_rekeys);
	tcase_add_test(tc, registrations);
	tcase_add_test(tc, registration_put_waits_for_a_concurrent_first_row);
	tcase_add_test(tc, sender_teks);
	tcase_add_test(tc, audit_rows);
	tcase_add_test(tc, identity);
	tcase_add_test(tc, writes_take_the_callers_clock);
	tcase_add_test(tc, group_times_take_the_callers_clock);
	tcase_add_test(tc, transactions);
	tcase_add_test(tc, reserved_spis_never_used);
	tcase_add_test(tc, lkh_two_servers);
	tcase_add_test(tc, concurrent_allocations);
	if (on_pg())
		tcase_add_test(tc, pg_idle_transaction_ended);
	suite_add_tcase(su, tc);
	return tu_run(su);
}
