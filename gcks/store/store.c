/* The store's front: gk_store_open() chooses a backend from the locator, and every other
 * gk_store_* call goes through the backend's table of operations (store_backend.h). A table
 * rather than a link-time choice because the backend is a run-time choice: the PostgreSQL store
 * (built with configure --with-postgresql) is named by a connection string where the SQLite one
 * is named by a path, and gcksctl must open either with the same binary. The front also does the group commit (end of
 * file): the registration rows of one event-loop turn share one write transaction, which every
 * other write, and every other transaction, commits first. */
#include "config.h"
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <openssl/crypto.h>
#include "store_backend.h"
#include "store_sqlite.h"
#include "store_pg.h"

static bool has_prefix(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

static bool is_pg(const char *locator)
{
	return locator && (has_prefix(locator, "postgres://") || has_prefix(locator, "postgresql://"));
}

gk_status gk_store_open(const char *locator, bool create, gk_store **out, char *err, size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
	if (is_pg(locator)) {
#ifdef HAVE_POSTGRESQL
		return gk_store_pg_open(locator, create, out, err, errlen);
#else
		if (out)
			*out = NULL;
		gk_seterr(err, errlen, "PostgreSQL stores are not supported by this build");
		return GK_E_UNSUPPORTED;
#endif
	}
	return gk_store_sqlite_open(locator, create, out, err, errlen);
}

bool gk_store_locator_shared(const char *locator)
{
	return is_pg(locator);
}

/* Copies locator into buf with any password of a connection string (user:PASSWORD@ or
 * password=PASSWORD) replaced by "***"; a path is copied as it is. */
const char *gk_store_locator_text(const char *locator, char *buf, size_t len)
{
	size_t o = 0;
	if (!buf || !len)
		return "";
	buf[0] = '\0';
	if (!locator)
		return buf;
	const char *p = locator, *at = NULL, *colon = NULL;
	if (is_pg(locator)) {
		const char *auth = strstr(locator, "://") + 3;
		size_t alen = strcspn(auth, "/?");
		for (const char *q = auth; q < auth + alen; q++)
			if (*q == '@')
				at = q;
		colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
	}
	while (*p && o + 1 < len) {
		if (p == colon) { /* user:PASSWORD@ */
			o += (size_t)snprintf(buf + o, len - o, ":***");
			p = at;
			continue;
		}
		if (is_pg(locator) && strncmp(p, "password=", 9) == 0 && (p == locator || p[-1] == '?' || p[-1] == '&')) {
			o += (size_t)snprintf(buf + o, len - o, "password=***");
			p += strcspn(p, "&");
			continue;
		}
		buf[o++] = *p++;
	}
	buf[o < len ? o : len - 1] = '\0';
	return buf;
}

void gk_store_close(gk_store *s)
{
	if (s) {
		gk_store_batch_close(s);
		gk_store_fences_free(s);
		s->ops->close(s);
	}
}

/* ---- dispatch ---- */

int gk_store_version(gk_store *s)
{
	return s ? s->ops->version(s) : 0;
}

const char *gk_store_errmsg(const gk_store *s)
{
	return s ? s->ops->errmsg(s) : "";
}

const double gk_store_tx_bounds[GK_STORE_TX_BUCKETS] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
							    0.1, 0.25, 0.5, 1 };

gk_status gk_store_begin(gk_store *s, gk_store_tx kind)
{
	if (!s)
		return GK_E_INVAL;
	if (kind == GK_TX_READ && s->batch_open) {
		/* a read inside the batch's write transaction (the backend knows): it sees the batch's
		 * rows, and leaves its timing alone */
		gk_status st = s->ops->begin(s, kind);
		s->batch_read = !st;
		return st;
	}
	gk_store_batch_close(s); /* before the clock: the batch's commit is timed as its own */
	s->tx_kind = kind;
	clock_gettime(CLOCK_MONOTONIC, &s->tx_start);
	return s->ops->begin(s, kind);
}

gk_status gk_store_end(gk_store *s, gk_status st)
{
	if (!s)
		return GK_E_INVAL;
	if (s->batch_read) {
		s->batch_read = false;
		return s->ops->end(s, st);
	}
	st = s->ops->end(s, st);
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	double d = (double)(now.tv_sec - s->tx_start.tv_sec) + (double)(now.tv_nsec - s->tx_start.tv_nsec) / 1e9;
	size_t i = 0, k = s->tx_kind <= GK_TX_DURABLE ? (size_t)s->tx_kind : GK_TX_WRITE;
	while (i < GK_STORE_TX_BUCKETS && d > gk_store_tx_bounds[i])
		i++;
	s->tx_stats.count[k][i]++;
	s->tx_stats.sum[k] += d;
	return st;
}

void gk_store_tx_stats_get(const gk_store *s, gk_store_tx_stats *out)
{
	if (s)
		*out = s->tx_stats;
	else
		memset(out, 0, sizeof(*out));
}

gk_status gk_store_identity_get(gk_store *s, gk_gcks_identity *out)
{
	return s ? s->ops->identity_get(s, out) : GK_E_INVAL;
}

gk_status gk_store_identity_set(gk_store *s, const gk_gcks_identity *id, const char *who, int64_t now)
{
	return s ? (gk_store_batch_close(s), s->ops->identity_set(s, id, who, now)) : GK_E_INVAL;
}

gk_status gk_store_group_get(gk_store *s, const char *name, gk_group_policy *out)
{
	return s ? s->ops->group_get(s, name, out) : GK_E_INVAL;
}

gk_status gk_store_group_get_by_ident(gk_store *s, const gk_ident *id, gk_group_policy *out)
{
	return s ? s->ops->group_get_by_ident(s, id, out) : GK_E_INVAL;
}

gk_status gk_store_group_delete(gk_store *s, const char *name, const char *who, int64_t now)
{
	return s ? (gk_store_batch_close(s), s->ops->group_delete(s, name, who, now)) : GK_E_INVAL;
}

gk_status gk_store_group_names(gk_store *s, char ***names, size_t *n)
{
	return s ? s->ops->group_names(s, names, n) : GK_E_INVAL;
}

gk_status gk_store_group_generation(gk_store *s, const char *name, int64_t *gen)
{
	return s ? s->ops->group_generation(s, name, gen) : GK_E_INVAL;
}

gk_status gk_store_group_find(gk_store *s, const char *name, gk_store_gid *gid, int64_t *gen)
{
	return s ? s->ops->group_find(s, name, gid, gen) : GK_E_INVAL;
}

gk_status gk_store_group_read(gk_store *s, gk_store_gid gid, gk_group_policy *out)
{
	return s ? s->ops->group_read(s, gid, out) : GK_E_INVAL;
}

gk_status gk_store_group_write(gk_store *s, const gk_group_policy *g, int64_t now, bool replace, gk_store_gid *gid)
{
	return s ? s->ops->group_write(s, g, now, replace, gid) : GK_E_INVAL;
}

gk_status gk_store_keys_carry(gk_store *s, gk_store_gid gid, int64_t gen)
{
	return s ? s->ops->keys_carry(s, gid, gen) : GK_E_INVAL;
}

gk_status gk_store_key_current(gk_store *s, gk_store_gid gid, int idx, gk_sa_key *k, bool *found)
{
	return s ? s->ops->key_current(s, gid, idx, k, found) : GK_E_INVAL;
}

gk_status gk_store_key_insert(gk_store *s, gk_store_gid gid, gk_sa_key *k)
{
	return s ? s->ops->key_insert(s, gid, k) : GK_E_INVAL;
}

gk_status gk_store_keys_retire_unused(gk_store *s, gk_store_gid gid, size_t nteks, bool kek)
{
	return s ? s->ops->keys_retire_unused(s, gid, nteks, kek) : GK_E_INVAL;
}

gk_status gk_store_keys_prune(gk_store *s, gk_store_gid gid, int64_t now)
{
	return s ? s->ops->keys_prune(s, gid, now) : GK_E_INVAL;
}

gk_status gk_store_spi_used(gk_store *s, const uint8_t *spi, size_t len, bool *used)
{
	return s ? s->ops->spi_used(s, spi, len, used) : GK_E_INVAL;
}

gk_status gk_store_counter_get(gk_store *s, gk_store_gid gid, gk_store_counter c, int64_t dflt, int64_t *v)
{
	return s ? s->ops->counter_get(s, gid, c, dflt, v) : GK_E_INVAL;
}

gk_status gk_store_counter_set(gk_store *s, gk_store_gid gid, gk_store_counter c, int64_t v)
{
	return s ? s->ops->counter_set(s, gid, c, v) : GK_E_INVAL;
}

gk_status gk_store_registration_put(gk_store *s, const gk_registration *r, bool *fresh)
{
	return s ? (gk_store_batch_close(s), s->ops->registration_put(s, r, fresh)) : GK_E_INVAL;
}

gk_status gk_store_registration_delete(gk_store *s, const char *group, const char *member)
{
	return s ? (gk_store_batch_close(s), s->ops->registration_delete(s, group, member)) : GK_E_INVAL;
}

gk_status gk_store_registration_exists(gk_store *s, const char *group, const char *member, bool *exists)
{
	return s ? s->ops->registration_exists(s, group, member, exists) : GK_E_INVAL;
}

gk_status gk_store_registration_count(gk_store *s, const char *group, uint32_t *n)
{
	return s ? s->ops->registration_count(s, group, n) : GK_E_INVAL;
}

gk_status gk_store_registrations_frag_ok(gk_store *s, const char *group, bool *all)
{
	return s ? s->ops->registrations_frag_ok(s, group, all) : GK_E_INVAL;
}

gk_status gk_store_registrations(gk_store *s, const char *group, gk_registration **out, size_t *n)
{
	return s ? s->ops->registrations(s, group, out, n) : GK_E_INVAL;
}

gk_status gk_store_sender_tek_held(gk_store *s, const char *group, const char *member, const uint8_t spi[4], bool *held)
{
	return s ? s->ops->sender_tek_held(s, group, member, spi, held) : GK_E_INVAL;
}

gk_status gk_store_sender_tek_add(gk_store *s, const char *group, const char *member, const uint8_t spi[4])
{
	return s ? s->ops->sender_tek_add(s, group, member, spi) : GK_E_INVAL;
}

gk_status gk_store_sender_tek_add_role(gk_store *s, const char *group, gk_role role, const uint8_t spi[4])
{
	return s ? s->ops->sender_tek_add_role(s, group, role, spi) : GK_E_INVAL;
}

gk_status gk_store_sender_teks_prune(gk_store *s, const char *group)
{
	return s ? s->ops->sender_teks_prune(s, group) : GK_E_INVAL;
}

gk_status gk_store_sender_rekey_get(gk_store *s, const char *group, const char *member, int64_t *at, bool *found)
{
	return s ? s->ops->sender_rekey_get(s, group, member, at, found) : GK_E_INVAL;
}

gk_status gk_store_sender_rekey_set(gk_store *s, const char *group, const char *member, int64_t at)
{
	return s ? s->ops->sender_rekey_set(s, group, member, at) : GK_E_INVAL;
}

gk_status gk_store_audit(gk_store *s, const char *who, const char *action, const char *detail, int64_t now)
{
	return s ? (gk_store_batch_close(s), s->ops->audit(s, who, action, detail, now)) : GK_E_INVAL;
}

gk_status gk_store_audit_list(gk_store *s, size_t last, gk_audit_row **out, size_t *n)
{
	return s ? s->ops->audit_list(s, last, out, n) : GK_E_INVAL;
}

/* Backups and restores are of SQLite files; a PostgreSQL store has pg_dump and pg_restore. */
static gk_status only_sqlite(const char *locator, char *err, size_t errlen)
{
	if (is_pg(locator)) {
#ifdef HAVE_POSTGRESQL
		gk_seterr(err, errlen, GK_STORE_PG_BACKUP_MSG);
#else
		gk_seterr(err, errlen, "PostgreSQL stores are not supported by this build");
#endif
		return GK_E_UNSUPPORTED;
	}
	return locator ? GK_OK : GK_E_INVAL;
}

gk_status gk_store_backup(gk_store *s, const char *path, char *err, size_t errlen)
{
	return s && path ? (gk_store_batch_close(s), s->ops->backup(s, path, err, errlen)) : GK_E_INVAL;
}

gk_status gk_store_backup_bytes(gk_store *s, uint8_t **out, size_t *len, char *err, size_t errlen)
{
	return s && out && len ? (gk_store_batch_close(s), s->ops->backup_bytes(s, out, len, err, errlen)) : GK_E_INVAL;
}

void gk_store_bytes_free(uint8_t *p, size_t len)
{
	if (p)
		OPENSSL_cleanse(p, len);
	free(p);
}

gk_status gk_store_backup_save(const char *locator, const uint8_t *bytes, size_t len, const char *path,
			       char *err, size_t errlen)
{
	gk_status st = only_sqlite(locator, err, errlen);
	return st ? st : !bytes || !path ? GK_E_INVAL : gk_store_sqlite_backup_save(bytes, len, path, err, errlen);
}

gk_status gk_store_backup_check(const char *locator, const char *path, int *version, char *err, size_t errlen)
{
	gk_status st = only_sqlite(locator, err, errlen);
	return st ? st : !path ? GK_E_INVAL : gk_store_sqlite_check_file(path, version, err, errlen);
}

gk_status gk_store_restore_stage(const char *backup, const char *locator, char *staged, size_t len,
				 int *version, char *err, size_t errlen)
{
	gk_status st = only_sqlite(locator, err, errlen);
	return st ? st : !backup || !staged ? GK_E_INVAL
		       : gk_store_sqlite_restore_stage(backup, locator, staged, len, version, err, errlen);
}

gk_status gk_store_restore_install(const char *staged, const char *locator, char *err, size_t errlen)
{
	gk_status st = only_sqlite(locator, err, errlen);
	return st ? st : !staged ? GK_E_INVAL : gk_store_sqlite_restore_install(staged, locator, err, errlen);
}

gk_status gk_store_audit_find(gk_store *s, const char *action, const char *detail, int64_t *pos)
{
	return s ? s->ops->audit_find(s, action, detail, pos) : GK_E_INVAL;
}

/* ---- the key tree of an lkh group ---- */

gk_status gk_store_lkh_meta_get(gk_store *s, gk_store_gid gid, gk_lkh_meta *m, bool *found)
{
	return s ? s->ops->lkh_meta_get(s, gid, m, found) : GK_E_INVAL;
}

gk_status gk_store_lkh_meta_set(gk_store *s, gk_store_gid gid, const gk_lkh_meta *m)
{
	return s ? s->ops->lkh_meta_set(s, gid, m) : GK_E_INVAL;
}

gk_status gk_store_lkh_rows(gk_store *s, gk_store_gid gid, gk_status (*fn)(void *ctx, const gk_lkh_row *r),
			    void *ctx)
{
	return s ? s->ops->lkh_rows(s, gid, fn, ctx) : GK_E_INVAL;
}

gk_status gk_store_lkh_put(gk_store *s, gk_store_gid gid, const gk_lkh_row *r)
{
	return s ? s->ops->lkh_put(s, gid, r) : GK_E_INVAL;
}

gk_status gk_store_lkh_del(gk_store *s, gk_store_gid gid, uint32_t pos)
{
	return s ? s->ops->lkh_del(s, gid, pos) : GK_E_INVAL;
}

gk_status gk_store_lkh_clear(gk_store *s, gk_store_gid gid)
{
	return s ? s->ops->lkh_clear(s, gid) : GK_E_INVAL;
}

/* ---- group commit: the registrations that one turn of gcksd's event loop records go into one
 * write transaction, committed once at the end of the turn (storage.h). ---- */

gk_status gk_store_registration_put_batched(gk_store *s, const gk_registration *r, uint64_t *seq, bool *fresh)
{
	if (!s || !r || !seq)
		return GK_E_INVAL;
	*seq = 0;
	if (gk_store_shared(s))
		return gk_store_registration_put(s, r, fresh);
	if (s->batch_failed_from)
		return GK_E_IO; /* a batch of this turn was lost: nothing more is recorded in it */
	if (!s->batch_open) {
		gk_status st = gk_store_begin(s, GK_TX_WRITE);
		if (st)
			return st;
		s->batch_open = true;
		s->batch_seq++;
	}
	gk_status st = s->ops->registration_put(s, r, fresh);
	if (st) {
		/* what the batch holds so far is still good: commit it, and fail this one alone */
		gk_store_batch_commit(s);
		return st;
	}
	*seq = s->batch_seq;
	return GK_OK;
}

gk_status gk_store_batch_commit(gk_store *s)
{
	if (!s)
		return GK_E_INVAL;
	gk_status st = GK_OK;
	if (s->batch_open) { /* as gk_store_batch_close, timed like every transaction */
		s->batch_open = false;
		st = gk_store_end(s, GK_OK); /* rolls back when COMMIT fails */
		if (st && !s->batch_failed_from)
			s->batch_failed_from = s->batch_seq;
	}
	return s->batch_failed_from ? (st ? st : GK_E_IO) : GK_OK;
}

bool gk_store_batch_committed(const gk_store *s, uint64_t seq)
{
	if (!s || (s->batch_open && seq == s->batch_seq))
		return false;
	return !seq || !s->batch_failed_from || seq < s->batch_failed_from;
}

void gk_store_batch_reset(gk_store *s)
{
	if (s)
		s->batch_failed_from = 0;
}
