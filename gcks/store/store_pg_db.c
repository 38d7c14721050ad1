/* The PostgreSQL backend's base: running statements, transactions, and parameters and result
 * columns in column order (store_pg_int.h, which also says how concurrent gcksd stay apart).
 * Every file of the backend builds on it. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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

/* ---- results and errors ---- */

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

/* ---- the connection ---- */

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until fd is ready for events or deadline passes: the events that came, 0 on time out
 * (an error of poll itself counts as ready: libpq's next call reports it). */
static short wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - mono_ms();
		if (left <= 0)
			return 0;
		struct pollfd pfd = { .fd = fd, .events = events };
		int n = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (n > 0)
			return pfd.revents ? pfd.revents : events;
		if (n < 0 && errno != EINTR)
			return events;
	}
}

/* Server notices (e.g. of a migration step's statements) are not for the GCKS's output. */
static void quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

/* Closes the connection (a dead one, or one that did not answer in time): the server rolls
 * back its open transaction when it notices. The notice socket goes with it. */
static void drop(pg_store *s)
{
	if (s->conn) {
		PQfinish(s->conn);
		s->conn = NULL;
		s->fd_changed = true;
	}
	s->listen_fd = -1;
}

static void first_line(char *dst, size_t cap, const char *what, const char *msg)
{
	snprintf(dst, cap, "%s%s", what, msg && *msg ? msg : "unknown error");
	dst[strcspn(dst, "\n")] = '\0';
}

static PGresult *exec_bounded(pg_store *s, const char *sql, const pgp *p);

/* The attempt in s->connecting has connected: it becomes the connection, non-blocking (no
 * libpq call may wait, see PG_STATEMENT_MS), with the session's bounds set. */
static gk_status installed(pg_store *s)
{
	PGconn *c = s->connecting;
	s->connecting = NULL;
	drop(s);
	s->conn = c;
	PQsetNoticeProcessor(c, quiet, NULL);
	char set[96];
	snprintf(set, sizeof(set), "SET idle_in_transaction_session_timeout = %d", PG_IDLE_TX_MS);
	PGresult *r = PQsetnonblocking(c, 1) ? NULL : exec_bounded(s, set, NULL);
	bool ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
	if (!ok && (r || s->conn)) /* else exec_bounded said why */
		first_line(s->errmsg, sizeof(s->errmsg), "cannot set up the session: ",
			   r ? PQresultErrorMessage(r) : PQerrorMessage(c));
	PQclear(r);
	if (ok)
		return GK_OK;
	drop(s);
	s->retry_at = mono_ms() + PG_RETRY_MS;
	return GK_E_IO;
}

/* Carries the attempt on until it connects, fails, or until passes (then it is still under way
 * and the caller gets GK_E_IO "connecting"). */
static gk_status drive(pg_store *s, int64_t until)
{
	PGconn *c = s->connecting;
	for (;;) {
		if (s->poll == PGRES_POLLING_OK)
			return installed(s);
		int64_t now = mono_ms();
		if (s->poll == PGRES_POLLING_FAILED || now >= s->connect_deadline) {
			if (s->poll == PGRES_POLLING_FAILED)
				/* libpq's message names host and port, never the password a locator may carry */
				first_line(s->errmsg, sizeof(s->errmsg), "cannot connect: ", PQerrorMessage(c));
			else
				snprintf(s->errmsg, sizeof(s->errmsg), "cannot connect: no answer within %d ms",
					 PG_CONNECT_MS);
			PQfinish(c);
			s->connecting = NULL;
			s->retry_at = now + PG_RETRY_MS;
			return GK_E_IO;
		}
		if (now >= until) {
			snprintf(s->errmsg, sizeof(s->errmsg), "connecting (under way for %lld ms)",
				 (long long)(now - (s->connect_deadline - PG_CONNECT_MS)));
			return GK_E_IO;
		}
		int64_t end = until < s->connect_deadline ? until : s->connect_deadline;
		if (wait_fd(PQsocket(c), s->poll == PGRES_POLLING_READING ? POLLIN : POLLOUT, end))
			s->poll = PQconnectPoll(c);
	}
}

/* Starts an attempt at a connection (never waits: PQconnectStartParams; a host name in the
 * locator is resolved here, so give addresses where a resolver could hang). The locator comes
 * last, so its own keepalive settings win over these defaults, which let the kernel notice a
 * silent peer in seconds too (only the deadlines above bound gcksd's waits, whatever they are). */
static gk_status start(pg_store *s)
{
	static const char *const keys[] = { "keepalives", "keepalives_idle", "keepalives_interval",
					    "keepalives_count", "tcp_user_timeout", "dbname", NULL };
	char tcp_user[16];
	snprintf(tcp_user, sizeof(tcp_user), "%d", PG_STATEMENT_MS);
	const char *vals[] = { "1", "2", "1", "3", tcp_user, s->locator, NULL };
	s->connecting = PQconnectStartParams(keys, vals, 1);
	if (!s->connecting)
		return GK_E_NOMEM;
	s->poll = PGRES_POLLING_WRITING;
	if (PQstatus(s->connecting) == CONNECTION_BAD)
		s->poll = PGRES_POLLING_FAILED;
	s->connect_deadline = mono_ms() + PG_CONNECT_MS;
	return GK_OK;
}

gk_status pg_connect(pg_store *s, const char *locator)
{
	if (!(s->locator = strdup(locator)))
		return GK_E_NOMEM;
	gk_status st = start(s);
	return st ? st : drive(s, s->connect_deadline);
}

void pg_disconnect(pg_store *s)
{
	drop(s);
	if (s->connecting)
		PQfinish(s->connecting);
	s->connecting = NULL;
	if (s->locator) {
		OPENSSL_cleanse(s->locator, strlen(s->locator));
		free(s->locator);
	}
	s->locator = NULL;
}

/* Makes the connection again after it was lost (between transactions only), blocking the caller
 * PG_CONNECT_SLICE_MS at most. */
static gk_status reconnect(pg_store *s)
{
	if (s->conn)
		drop(s);
	if (!s->connecting) {
		if (mono_ms() < s->retry_at)
			return GK_E_IO; /* errmsg keeps why the last attempt failed */
		gk_status st = start(s);
		if (st)
			return st;
	}
	return drive(s, mono_ms() + PG_CONNECT_SLICE_MS);
}

/* ---- running statements ---- */

/* PQexecParams with a deadline: sends sql and reads every result before PG_STATEMENT_MS has
 * passed (the last result is returned, or the first error), else drops the connection and
 * returns NULL with s->errmsg set. */
static PGresult *exec_bounded(pg_store *s, const char *sql, const pgp *p)
{
	int64_t deadline = mono_ms() + PG_STATEMENT_MS;
	PGconn *c = s->conn;
	PGresult *keep = NULL, *r;
	if (!PQsendQueryParams(c, sql, p ? p->n : 0, NULL, p ? p->v : NULL, p ? p->len : NULL, p ? p->fmt : NULL, 1))
		goto broken;
	int f;
	while ((f = PQflush(c)) == 1) {
		short ev = wait_fd(PQsocket(c), POLLIN | POLLOUT, deadline);
		if (!ev)
			goto late;
		if ((ev & POLLIN) && !PQconsumeInput(c))
			goto broken;
	}
	if (f < 0)
		goto broken;
	for (;;) {
		while (PQisBusy(c)) {
			if (!wait_fd(PQsocket(c), POLLIN, deadline))
				goto late;
			if (!PQconsumeInput(c))
				goto broken;
		}
		if (!(r = PQgetResult(c)))
			return keep;
		if (keep && PQresultStatus(keep) == PGRES_FATAL_ERROR) {
			pg_clear(r);
		} else {
			pg_clear(keep);
			keep = r;
		}
	}
late:
	snprintf(s->errmsg, sizeof(s->errmsg), "no answer within %d ms: connection dropped", PG_STATEMENT_MS);
	pg_clear(keep);
	drop(s);
	return NULL;
broken:
	first_line(s->errmsg, sizeof(s->errmsg), "", PQerrorMessage(c));
	pg_clear(keep);
	drop(s);
	return NULL;
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
		if (PQstatus(s->conn) != CONNECTION_OK) {
			if (s->in_tx) {
				snprintf(s->errmsg, sizeof(s->errmsg), "the connection was lost inside a transaction");
				return GK_E_IO;
			}
			gk_status st = reconnect(s);
			if (st)
				return st;
		}
		PGresult *r = exec_bounded(s, sql, p);
		if (!r)
			return GK_E_IO;
		ExecStatusType es = PQresultStatus(r);
		if (es == PGRES_COMMAND_OK || es == PGRES_TUPLES_OK) {
			if (changed)
				*changed = strtoll(PQcmdTuples(r), NULL, 10);
			if (res)
				*res = r;
			else
				pg_clear(r);
			return GK_OK;
		}
		const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
		bool retry = !s->in_tx && attempt < PG_RETRIES && state &&
			     (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0);
		gk_status st = map_state(state);
		set_msg(s, r);
		pg_clear(r);
		if (!retry)
			return st;
	}
}

/* ---- transactions ---- */

gk_status pg_begin(gk_store *base, gk_store_tx kind)
{
	pg_store *s = pgs(base);
	if (s->in_tx || (PQstatus(s->conn) == CONNECTION_OK && PQtransactionStatus(s->conn) != PQTRANS_IDLE))
		return GK_E_STATE; /* no nesting */
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

