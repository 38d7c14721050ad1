/* The PostgreSQL backend of the store: connecting, migrating the schema (schema/pg/NNN_*.sql,
 * the same versions as schema/NNN_*.sql), and the backend's table of operations. Running
 * statements and transactions is store_pg_db.c, the operations on each table are in
 * store_pg_<table>.c; concurrency and durability are explained in store_pg_int.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "store_pg_int.h"
#include "store_pg.h"
#include "schema_sql.h"

/* ---- the schema version ---- */

static gk_status schema_version(pg_store *s, int *v)
{
	PGresult *r = NULL;
	*v = 0;
	gk_status st = pg_run(s, "SELECT to_regclass('gikev2_schema') IS NOT NULL", NULL, &r, NULL);
	bool has = false;
	if (!st && PQntuples(r) == 1) {
		pgr rd = { r, 0, 0, GK_OK };
		has = pr_int(&rd) != 0;
	}
	PQclear(r);
	if (st || !has)
		return st;
	if (!(st = pg_run(s, "SELECT version FROM gikev2_schema", NULL, &r, NULL))) {
		if (PQntuples(r) == 1) {
			pgr rd = { r, 0, 0, GK_OK };
			*v = (int)pr_int(&rd);
		} else {
			snprintf(s->errmsg, sizeof(s->errmsg), "gikev2_schema does not hold one row");
			st = GK_E_MALFORMED;
		}
	}
	PQclear(r);
	return st;
}

/* Does the connection's schema (search_path) hold no table yet? */
static gk_status schema_is_empty(pg_store *s, bool *empty)
{
	PGresult *r = NULL;
	gk_status st = pg_run(s, "SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
			      "ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind IN "
			      "('r', 'p', 'v', 'm', 'f')", NULL, &r, NULL);
	if (!st) {
		pgr rd = { r, 0, 0, GK_OK };
		*empty = pr_int(&rd) == 0;
	}
	PQclear(r);
	return st;
}

/* Applies one step in one write transaction: the writer lock keeps two gcksd starting at once
 * from both applying it, and the version is read again under it. */
static gk_status apply_step(pg_store *s, const char *db, const gk_schema_step *step, char *err, size_t errlen)
{
	int v = 0;
	bool empty = false;
	gk_status st = pg_begin(&s->base, GK_TX_WRITE);
	if (!st)
		st = schema_version(s, &v);
	if (st)
		goto fail;
	if (v >= step->version)
		return pg_end(&s->base, GK_OK);
	if (v == 0 && ((st = schema_is_empty(s, &empty)) || !empty)) {
		gk_seterr(err, errlen, "PostgreSQL database %s: not a gikev2 database (it has tables but no schema "
			  "version)", db);
		return pg_end(&s->base, st ? st : GK_E_INVAL);
	}
	if (v != step->version - 1) {
		gk_seterr(err, errlen, "PostgreSQL database %s: no migration from schema version %d to %d", db, v,
			  step->version);
		return pg_end(&s->base, GK_E_STATE);
	}
	/* the step's text is ours, built into the program: several statements, no parameters */
	PGresult *r = PQexec(s->conn, step->sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
		snprintf(s->errmsg, sizeof(s->errmsg), "%s", PQresultErrorMessage(r));
		st = GK_E_IO;
	}
	PQclear(r);
	if (!st) {
		pgp p = { 0 };
		pp_int(&p, step->version);
		st = pg_run(s, "UPDATE gikev2_schema SET version = $1::integer", &p, NULL, NULL);
	}
	if (!st)
		return pg_end(&s->base, GK_OK);
fail:
	gk_seterr(err, errlen, "PostgreSQL database %s: applying schema %s: %s", db, step->name, s->errmsg);
	return pg_end(&s->base, st ? st : GK_E_IO);
}

static gk_status migrate(pg_store *s, const char *db, bool create, char *err, size_t errlen)
{
	int v = 0;
	bool empty = true;
	gk_status st = schema_version(s, &v);
	if (!st && v == 0)
		st = schema_is_empty(s, &empty);
	if (st) {
		gk_seterr(err, errlen, "PostgreSQL database %s: %s", db, s->errmsg);
		return st;
	}
	if (v > GK_SCHEMA_VERSION) {
		gk_seterr(err, errlen, "PostgreSQL database %s: database schema version %d is newer than this gcksd/gcksctl "
			  "(%d); upgrade gikev2", db, v, GK_SCHEMA_VERSION);
		return GK_E_UNSUPPORTED;
	}
	if (v == 0 && !empty) {
		gk_seterr(err, errlen, "PostgreSQL database %s: not a gikev2 database (it has tables but no schema "
			  "version)", db);
		return GK_E_INVAL;
	}
	if (v == 0 && !create) {
		gk_seterr(err, errlen, "PostgreSQL database %s: no gikev2 store in it (create it with gcksctl init)",
			  db);
		return GK_E_NOT_FOUND;
	}
	for (size_t i = 0; i < gk_schema_pg_nsteps && !st; i++)
		if (gk_schema_pg_steps[i].version > v)
			st = apply_step(s, db, &gk_schema_pg_steps[i], err, errlen);
	if (!st && !(st = schema_version(s, &v)) && v != GK_SCHEMA_VERSION) {
		gk_seterr(err, errlen, "PostgreSQL database %s: schema is at version %d after migration, expected %d",
			  db, v, GK_SCHEMA_VERSION);
		st = GK_E_STATE;
	}
	if (!st)
		s->version = v;
	else if (err && errlen && !err[0])
		gk_seterr(err, errlen, "PostgreSQL database %s: %s", db, s->errmsg);
	return st;
}

/* ---- the backend ---- */

static void pg_close(gk_store *base)
{
	pg_store *s = pgs(base);
	pg_disconnect(s);
	free(s);
}

static int pg_version(gk_store *s)
{
	return pgs(s)->version;
}

static const char *pg_errmsg(const gk_store *s)
{
	return ((const pg_store *)s)->errmsg;
}

/* A consistent copy of a shared database is the database's own tool's job (pg_dump takes one
 * snapshot while every gcksd goes on writing); gcksctl backup and restore handle SQLite files. */
static gk_status pg_backup(gk_store *s, const char *path, char *err, size_t errlen)
{
	(void)s;
	(void)path;
	gk_seterr(err, errlen, GK_STORE_PG_BACKUP_MSG);
	return GK_E_UNSUPPORTED;
}

static gk_status pg_backup_bytes(gk_store *s, uint8_t **out, size_t *len, char *err, size_t errlen)
{
	*out = NULL;
	*len = 0;
	return pg_backup(s, NULL, err, errlen);
}

static const gk_store_ops pg_ops = {
	.close = pg_close, .version = pg_version, .errmsg = pg_errmsg,
	.begin = pg_begin, .end = pg_end,
	.identity_get = pg_identity_get, .identity_set = pg_identity_set,
	.group_write = pg_group_write, .group_get = pg_group_get, .group_get_by_ident = pg_group_get_by_ident,
	.group_delete = pg_group_delete, .group_names = pg_group_names,
	.group_generation = pg_group_generation, .group_find = pg_group_find, .group_read = pg_group_read,
	.key_current = pg_key_current, .key_insert = pg_key_insert,
	.keys_retire_unused = pg_keys_retire_unused, .keys_prune = pg_keys_prune, .keys_carry = pg_keys_carry,
	.spi_used = pg_spi_used,
	.counter_get = pg_counter_get, .counter_set = pg_counter_set,
	.registration_put = pg_registration_put, .registration_delete = pg_registration_delete,
	.registration_exists = pg_registration_exists, .registration_count = pg_registration_count,
	.registrations_frag_ok = pg_registrations_frag_ok, .registrations = pg_registrations,
	.sender_tek_held = pg_sender_tek_held, .sender_tek_add = pg_sender_tek_add,
	.sender_tek_add_role = pg_sender_tek_add_role, .sender_teks_prune = pg_sender_teks_prune,
	.sender_rekey_get = pg_sender_rekey_get, .sender_rekey_set = pg_sender_rekey_set,
	.lkh_meta_get = pg_lkh_meta_get, .lkh_meta_set = pg_lkh_meta_set, .lkh_rows = pg_lkh_rows,
	.lkh_put = pg_lkh_put, .lkh_del = pg_lkh_del, .lkh_clear = pg_lkh_clear,
	.audit = pg_audit, .audit_list = pg_audit_list, .audit_find = pg_audit_find,
	.backup = pg_backup, .backup_bytes = pg_backup_bytes,
	/* several gcksd on one database: store_pg_cluster.c */
	.server_beat = pg_server_beat, .servers = pg_servers, .lease_take = pg_lease_take,
	.lease_get = pg_lease_get, .lease_check = pg_lease_check, .notify = pg_notify,
	.notice_fd = pg_notice_fd, .notices = pg_notices,
};

gk_status gk_store_pg_open(const char *locator, bool create, gk_store **out, char *err, size_t errlen)
{
	gk_status st;
	if (err && errlen)
		err[0] = '\0';
	if (!out || !locator) {
		gk_seterr(err, errlen, "no database locator");
		return GK_E_INVAL;
	}
	*out = NULL;
	pg_store *s = calloc(1, sizeof(*s));
	if (!s)
		return GK_E_NOMEM;
	s->base.ops = &pg_ops;
	s->listen_fd = -1;
	if ((st = pg_connect(s, locator))) {
		/* the message names host and port, never the password a locator may carry */
		gk_seterr(err, errlen, "PostgreSQL: %s", st == GK_E_NOMEM ? "out of memory" : s->errmsg);
		goto out;
	}
	if ((st = migrate(s, PQdb(s->conn), create, err, errlen)))
		goto out;
	*out = &s->base;
	s = NULL;
out:
	if (s)
		pg_close(&s->base);
	return st;
}
