/* The PostgreSQL backend's base: running statements, transactions, and parameters and result
 * columns in column order (store_pg_int.h, which also says how concurrent gcksd stay apart).
 * Every file of the backend builds on it. */
#include <arpa/inet.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "store_pg_int.h"

/* ---- parameters ---- */

static bool pp_slot(pgp *p)
{
	if (p->n >= PG_MAXP) {
		p->bad = true;
		return false;
	}
	return true;
}

void pp_int(pgp *p, int64_t v)
{
	if (!pp_slot(p))
		return;
	snprintf(p->num[p->n], sizeof(p->num[p->n]), "%lld", (long long)v);
	p->v[p->n] = p->num[p->n];
	p->len[p->n] = 0;
	p->fmt[p->n] = 0;
	p->n++;
}

void pp_blob(pgp *p, const void *d, size_t n)
{
	if (!pp_slot(p))
		return;
	if (n > INT_MAX)
		p->bad = true;
	p->v[p->n] = d ? (n ? d : "") : NULL;
	p->len[p->n] = d ? (int)(n > INT_MAX ? 0 : n) : 0;
	p->fmt[p->n] = 1;
	p->n++;
}

void pp_text(pgp *p, const char *t, size_t cap)
{
	pp_blob(p, t, t ? strnlen(t, cap) : 0);
}

void pp_ts(pgp *p, const gk_ts_spec *t)
{
	pp_int(p, t->family);
	pp_blob(p, t->start, gk_ts_addr_len(t->family));
	pp_blob(p, t->end, gk_ts_addr_len(t->family));
	pp_int(p, t->ip_proto);
	pp_int(p, t->port_lo);
	pp_int(p, t->port_hi);
}

/* ---- running statements ---- */

static gk_status map_state(const char *state)
{
	if (!state)
		return GK_E_IO;
	if (strncmp(state, "23", 2) == 0 || strncmp(state, "22", 2) == 0)
		return GK_E_INVAL; /* integrity constraint, data exception (a value out of range) */
	if (strcmp(state, "53200") == 0)
		return GK_E_NOMEM;
	return GK_E_IO;
}

static void set_msg(pg_store *s, const PGresult *r)
{
	const char *m = r ? PQresultErrorMessage(r) : "";
	if (!m || !*m)
		m = PQerrorMessage(s->conn);
	snprintf(s->errmsg, sizeof(s->errmsg), "%s", m && *m ? m : "PostgreSQL error");
	size_t n = strlen(s->errmsg);
	while (n && (s->errmsg[n - 1] == '\n' || s->errmsg[n - 1] == ' '))
		s->errmsg[--n] = '\0';
}

void pg_clear(PGresult *res)
{
	if (!res)
		return;
	for (int i = 0; i < PQntuples(res); i++)
		for (int j = 0; j < PQnfields(res); j++)
			if (!PQgetisnull(res, i, j))
				OPENSSL_cleanse(PQgetvalue(res, i, j), (size_t)PQgetlength(res, i, j));
	PQclear(res);
}

gk_status pg_run(pg_store *s, const char *sql, const pgp *p, PGresult **res, int64_t *changed)
{
	if (res)
		*res = NULL;
	if (p && p->bad) {
		snprintf(s->errmsg, sizeof(s->errmsg), "a value does not fit a statement parameter");
		return GK_E_INVAL;
	}
	for (int attempt = 0;; attempt++) {
		/* a lost connection is made again between transactions, never inside one */
		if (!s->in_tx && PQstatus(s->conn) == CONNECTION_BAD)
			PQreset(s->conn);
		PGresult *r = PQexecParams(s->conn, sql, p ? p->n : 0, NULL, p ? p->v : NULL, p ? p->len : NULL,
					   p ? p->fmt : NULL, 1);
		ExecStatusType es = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
		if (es == PGRES_COMMAND_OK || es == PGRES_TUPLES_OK) {
			if (changed)
				*changed = strtoll(PQcmdTuples(r), NULL, 10);
			if (res)
				*res = r;
			else
				pg_clear(r);
			return GK_OK;
		}
		const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
		bool retry = !s->in_tx && attempt < PG_RETRIES && state &&
			     (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0);
		gk_status st = map_state(state);
		set_msg(s, r);
		PQclear(r);
		if (!retry)
			return st;
	}
}

/* ---- transactions ---- */

gk_status pg_begin(gk_store *base, gk_store_tx kind)
{
	pg_store *s = pgs(base);
	if (s->in_tx || PQtransactionStatus(s->conn) != PQTRANS_IDLE) {
		if (!s->in_tx && PQstatus(s->conn) == CONNECTION_BAD)
			PQreset(s->conn);
		if (s->in_tx || PQtransactionStatus(s->conn) != PQTRANS_IDLE)
			return GK_E_STATE; /* no nesting */
	}
	gk_status st = pg_run(s, kind == GK_TX_READ ? "BEGIN ISOLATION LEVEL REPEATABLE READ"
						    : "BEGIN ISOLATION LEVEL READ COMMITTED", NULL, NULL, NULL);
	if (st)
		return st;
	s->in_tx = true;
	if (kind == GK_TX_DURABLE)
		st = pg_run(s, "SET LOCAL synchronous_commit = on", NULL, NULL, NULL);
	if (!st && kind != GK_TX_READ) {
		pgp p = { 0 };
		pp_int(&p, PG_WRITE_LOCK);
		st = pg_run(s, "SELECT pg_advisory_xact_lock($1::bigint)", &p, NULL, NULL);
	}
	if (st)
		pg_end(base, st);
	return st;
}

gk_status pg_end(gk_store *base, gk_status st)
{
	pg_store *s = pgs(base);
	if (!s->in_tx)
		return st ? st : GK_E_STATE;
	if (!st) {
		PGresult *r = NULL;
		st = pg_run(s, "COMMIT", NULL, &r, NULL);
		/* a failed statement aborted the transaction: COMMIT then rolls back and says so only
		 * in its tag (s->errmsg keeps the failed statement's message) */
		if (!st && strcmp(PQcmdStatus(r), "COMMIT") != 0)
			st = GK_E_IO;
		PQclear(r);
	} else if (PQstatus(s->conn) == CONNECTION_OK) {
		char keep[sizeof(s->errmsg)];
		memcpy(keep, s->errmsg, sizeof(keep));
		pg_run(s, "ROLLBACK", NULL, NULL, NULL);
		memcpy(s->errmsg, keep, sizeof(keep));
	}
	s->in_tx = false;
	return st;
}

/* ---- result columns (binary) ---- */

static void pr_bad(pgr *r, gk_status st)
{
	if (!r->st)
		r->st = st;
}

bool pr_null(const pgr *r)
{
	return r->i >= PQnfields(r->res) || PQgetisnull(r->res, r->row, r->i);
}

int64_t pr_int(pgr *r)
{
	if (r->i >= PQnfields(r->res)) {
		pr_bad(r, GK_E_STATE);
		r->i++;
		return 0;
	}
	const uint8_t *v = (const uint8_t *)PQgetvalue(r->res, r->row, r->i);
	int len = PQgetisnull(r->res, r->row, r->i) ? 0 : PQgetlength(r->res, r->row, r->i);
	r->i++;
	uint64_t u = 0;
	for (int k = 0; k < len; k++)
		u = u << 8 | v[k];
	switch (len) {
	case 0:
		return 0;
	case 1:
		return (int64_t)u; /* bool */
	case 2:
		return (int16_t)u;
	case 4:
		return (int32_t)u;
	case 8:
		return (int64_t)u;
	default:
		pr_bad(r, GK_E_MALFORMED);
		return 0;
	}
}

void pr_blob_exact(pgr *r, uint8_t *dst, size_t n)
{
	size_t len = pr_null(r) ? 0 : (size_t)PQgetlength(r->res, r->row, r->i);
	const char *v = r->i < PQnfields(r->res) ? PQgetvalue(r->res, r->row, r->i) : "";
	r->i++;
	if (len != n) {
		pr_bad(r, GK_E_MALFORMED);
		return;
	}
	if (n)
		memcpy(dst, v, n);
}

void pr_blob(pgr *r, uint8_t *dst, size_t cap, size_t *len)
{
	*len = pr_null(r) ? 0 : (size_t)PQgetlength(r->res, r->row, r->i);
	if (*len > cap) {
		pr_bad(r, GK_E_MALFORMED);
		*len = 0;
		r->i++;
		return;
	}
	pr_blob_exact(r, dst, *len);
}

uint8_t *pr_blob_dup(pgr *r, size_t *len)
{
	*len = pr_null(r) ? 0 : (size_t)PQgetlength(r->res, r->row, r->i);
	const char *v = *len ? PQgetvalue(r->res, r->row, r->i) : NULL;
	r->i++;
	if (!*len)
		return NULL;
	uint8_t *d = malloc(*len);
	if (!d) {
		pr_bad(r, GK_E_NOMEM);
		*len = 0;
		return NULL;
	}
	memcpy(d, v, *len);
	return d;
}

void pr_text(pgr *r, char *dst, size_t cap)
{
	size_t len = pr_null(r) ? 0 : (size_t)PQgetlength(r->res, r->row, r->i);
	const char *v = len ? PQgetvalue(r->res, r->row, r->i) : "";
	r->i++;
	dst[0] = '\0';
	if (len >= cap || memchr(v, '\0', len)) {
		pr_bad(r, GK_E_MALFORMED);
		return;
	}
	memcpy(dst, v, len);
	dst[len] = '\0';
}

char *pr_text_dup(pgr *r)
{
	if (pr_null(r)) {
		r->i++;
		return NULL;
	}
	size_t len = (size_t)PQgetlength(r->res, r->row, r->i);
	char *d = malloc(len + 1);
	if (!d) {
		pr_bad(r, GK_E_NOMEM);
		r->i++;
		return NULL;
	}
	pr_text(r, d, len + 1);
	return d;
}

void pr_ts(pgr *r, gk_ts_spec *t)
{
	memset(t, 0, sizeof(*t));
	t->family = (uint8_t)pr_int(r);
	pr_blob_exact(r, t->start, gk_ts_addr_len(t->family));
	pr_blob_exact(r, t->end, gk_ts_addr_len(t->family));
	t->ip_proto = (uint8_t)pr_int(r);
	t->port_lo = (uint16_t)pr_int(r);
	t->port_hi = (uint16_t)pr_int(r);
}

void pr_ident(pgr *r, gk_ident *id)
{
	size_t len;
	memset(id, 0, sizeof(*id));
	id->type = (uint8_t)pr_int(r);
	pr_blob(r, id->data, sizeof(id->data), &len);
	id->len = (uint8_t)len;
}

