/* The SQLite backend's base: the prepared statements, transactions, and binding and reading
 * values in column order (store_sqlite_int.h). Every file of the backend builds on it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "store_sqlite_int.h"

#define STMT_SQL_(n, sql) sql,
static const char *const stmt_sql[Q_COUNT] = { STMT_LIST(STMT_SQL_) };

gk_status sq_map_rc(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return GK_OK;
	case SQLITE_NOMEM:
		return GK_E_NOMEM;
	case SQLITE_CONSTRAINT:
	case SQLITE_MISMATCH:
	case SQLITE_RANGE:
		return GK_E_INVAL;
	case SQLITE_TOOBIG:
		return GK_E_TOO_BIG;
	case SQLITE_NOTFOUND:
		return GK_E_NOT_FOUND;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return GK_E_MALFORMED;
	default:
		return GK_E_IO;
	}
}

gk_status sq_fail(sq_store *s, int rc)
{
	snprintf(s->errmsg, sizeof(s->errmsg), "%s", sqlite3_errmsg(s->db));
	gk_status st = sq_map_rc(rc);
	return st ? st : GK_E_IO;
}

sqlite3_stmt *sq_stmt(sq_store *s, enum stmt_id id)
{
	if (!s->stmt[id]) {
		int rc = sqlite3_prepare_v3(s->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
					    &s->stmt[id], NULL);
		if (rc != SQLITE_OK) {
			sq_fail(s, rc);
			return NULL;
		}
	}
	return s->stmt[id];
}

void sq_done(sqlite3_stmt *q)
{
	if (q) {
		sqlite3_reset(q);
		sqlite3_clear_bindings(q);
	}
}

gk_status sq_step(sq_store *s, sqlite3_stmt *q, bool *row)
{
	int rc = sqlite3_step(q);
	if (row)
		*row = rc == SQLITE_ROW;
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return GK_OK;
	return sq_fail(s, rc);
}

/* Runs a parameterless statement to completion. */
static gk_status run(sq_store *s, enum stmt_id id)
{
	sqlite3_stmt *q = sq_stmt(s, id);
	if (!q)
		return GK_E_IO;
	gk_status st = sq_step(s, q, NULL);
	sq_done(q);
	return st;
}

/* GK_TX_DURABLE is GK_TX_WRITE synced to disk at COMMIT. With WAL and synchronous=NORMAL a
 * committed transaction can be lost on power failure; for Sender-IDs, Rekey Message IDs and
 * group keys that would hand the same value out twice (IV reuse under one key, replayable
 * GSA_REKEY) or keys members hold that the GCKS has forgotten. synchronous=FULL syncs the WAL on
 * every COMMIT; it must be set outside a transaction. GK_TX_WRITE is BEGIN IMMEDIATE: it takes
 * the write lock up front, so busy_timeout applies. */
static gk_status tx_begin(sq_store *s, gk_store_tx kind)
{
	gk_status st;
	if (kind == GK_TX_DURABLE && (st = run(s, Q_SYNC_FULL)))
		return st;
	st = run(s, kind == GK_TX_READ ? Q_BEGIN : Q_BEGIN_WRITE);
	if (st && kind == GK_TX_DURABLE)
		run(s, Q_SYNC_NORMAL);
	return st;
}

/* Commits when st is GK_OK, else rolls back; returns st or the COMMIT failure. */
static gk_status tx_end(sq_store *s, gk_store_tx kind, gk_status st)
{
	if (!st)
		st = run(s, Q_COMMIT);
	if (st && !sqlite3_get_autocommit(s->db))
		run(s, Q_ROLLBACK);
	if (kind == GK_TX_DURABLE)
		run(s, Q_SYNC_NORMAL);
	return st;
}

gk_status sq_begin(gk_store *base, gk_store_tx kind)
{
	sq_store *s = sq(base);
	if (kind == GK_TX_READ && base->batch_open && !s->in_batch) {
		s->in_batch = true; /* the batch's write transaction is the read's (storage.h) */
		return GK_OK;
	}
	gk_store_batch_close(base);
	if (!sqlite3_get_autocommit(s->db))
		return GK_E_STATE; /* no nesting */
	gk_status st = tx_begin(s, kind);
	if (!st)
		s->tx = kind;
	return st;
}

gk_status sq_end(gk_store *base, gk_status st)
{
	sq_store *s = sq(base);
	if (s->in_batch) {
		s->in_batch = false;
		if (base->batch_open)
			return st; /* the batch goes on */
	}
	return tx_end(s, s->tx, st);
}

gk_status sq_run_bound(sq_store *s, binder *b, bool *row)
{
	gk_status st = b->rc ? sq_fail(s, b->rc) : sq_step(s, b->q, row);
	sq_done(b->q);
	return st;
}

/* ---- binding and reading in column order ---- */

void b_int(binder *b, int64_t v)
{
	b->i++;
	if (b->rc == SQLITE_OK)
		b->rc = sqlite3_bind_int64(b->q, b->i, v);
}

void b_blob(binder *b, const void *p, size_t n)
{
	b->i++;
	if (b->rc != SQLITE_OK)
		return;
	if (n > INT32_MAX)
		b->rc = SQLITE_TOOBIG;
	else
		b->rc = p ? sqlite3_bind_blob(b->q, b->i, p, (int)n, SQLITE_STATIC)
			  : sqlite3_bind_null(b->q, b->i);
}

void b_text(binder *b, const char *t, size_t cap)
{
	b->i++;
	if (b->rc != SQLITE_OK)
		return;
	b->rc = t ? sqlite3_bind_text(b->q, b->i, t, (int)strnlen(t, cap), SQLITE_STATIC)
		  : sqlite3_bind_null(b->q, b->i);
}

void b_ts(binder *b, const gk_ts_spec *t)
{
	b_int(b, t->family);
	b_blob(b, t->start, gk_ts_addr_len(t->family));
	b_blob(b, t->end, gk_ts_addr_len(t->family));
	b_int(b, t->ip_proto);
	b_int(b, t->port_lo);
	b_int(b, t->port_hi);
}

int64_t r_int(reader *r)
{
	return sqlite3_column_int64(r->q, r->i++);
}

void r_blob_exact(reader *r, uint8_t *dst, size_t n)
{
	const void *p = sqlite3_column_blob(r->q, r->i);
	size_t len = (size_t)sqlite3_column_bytes(r->q, r->i);
	r->i++;
	if (len != n) {
		r->st = r->st ? r->st : GK_E_MALFORMED;
		return;
	}
	if (n)
		memcpy(dst, p, n);
}

void r_blob(reader *r, uint8_t *dst, size_t cap, size_t *len)
{
	*len = (size_t)sqlite3_column_bytes(r->q, r->i);
	if (*len > cap) {
		r->st = r->st ? r->st : GK_E_MALFORMED;
		*len = 0;
		r->i++;
		return;
	}
	r_blob_exact(r, dst, *len);
}

uint8_t *r_blob_dup(reader *r, size_t *len)
{
	const void *p = sqlite3_column_blob(r->q, r->i);
	*len = (size_t)sqlite3_column_bytes(r->q, r->i);
	r->i++;
	if (!p || !*len) {
		*len = 0;
		return NULL;
	}
	uint8_t *d = malloc(*len);
	if (!d) {
		r->st = r->st ? r->st : GK_E_NOMEM;
		*len = 0;
		return NULL;
	}
	memcpy(d, p, *len);
	return d;
}

void r_text(reader *r, char *dst, size_t cap)
{
	const unsigned char *t = sqlite3_column_text(r->q, r->i);
	size_t len = (size_t)sqlite3_column_bytes(r->q, r->i);
	r->i++;
	dst[0] = '\0';
	if (len >= cap) {
		r->st = r->st ? r->st : GK_E_MALFORMED;
		return;
	}
	if (t)
		memcpy(dst, t, len + 1);
}

char *r_text_dup(reader *r)
{
	const unsigned char *t = sqlite3_column_text(r->q, r->i);
	r->i++;
	if (!t)
		return NULL;
	char *d = strdup((const char *)t);
	if (!d)
		r->st = r->st ? r->st : GK_E_NOMEM;
	return d;
}

void r_ts(reader *r, gk_ts_spec *t)
{
	memset(t, 0, sizeof(*t));
	t->family = (uint8_t)r_int(r);
	r_blob_exact(r, t->start, gk_ts_addr_len(t->family));
	r_blob_exact(r, t->end, gk_ts_addr_len(t->family));
	t->ip_proto = (uint8_t)r_int(r);
	t->port_lo = (uint16_t)r_int(r);
	t->port_hi = (uint16_t)r_int(r);
}

void r_ident(reader *r, gk_ident *id)
{
	size_t len;
	memset(id, 0, sizeof(*id));
	id->type = (uint8_t)r_int(r);
	r_blob(r, id->data, sizeof(id->data), &len);
	id->len = (uint8_t)len;
}

/* ---- arrays of rows ---- */

