/* The SQLite store: the GCKS identity (table gcks_identity) and group policies (groups,
 * group_teks, members). Whether a put writes anything and whether keys survive it is decided by
 * gk_keys_group_put (gcks/gcks_keyrules.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "store_sqlite_int.h"

gk_status sq_identity_get(gk_store *base, gk_gcks_identity *out)
{
	sq_store *s = sq(base);
	if (!out)
		return GK_E_INVAL;
	memset(out, 0, sizeof(*out));
	sqlite3_stmt *q = sq_stmt(s, Q_IDENT_GET);
	if (!q)
		return GK_E_IO;
	bool row = false;
	gk_status st = sq_step(s, q, &row);
	if (!st && !row)
		st = GK_E_NOT_FOUND;
	if (!st) {
		reader r = { q, 0, GK_OK };
		r_ident(&r, &out->id);
		out->sign_key_pem = r_text_dup(&r);
		out->cert_pem = r_text_dup(&r);
		out->ca_pem = r_text_dup(&r);
		out->next_sign_key_pem = r_text_dup(&r);
		st = r.st;
	}
	sq_done(q);
	if (st)
		gk_gcks_identity_free(out);
	return st;
}

gk_status sq_identity_set(gk_store *base, const gk_gcks_identity *id, const char *who, int64_t now)
{
	sq_store *s = sq(base);
	char text[GK_IDENT_TEXT_MAX];
	if (!id)
		return GK_E_INVAL;
	gk_status st = sq_begin(base, GK_TX_DURABLE);
	if (st)
		return st;
	sqlite3_stmt *q = sq_stmt(s, Q_IDENT_SET);
	if (!q) {
		st = GK_E_IO;
		goto out;
	}
	binder b = { q, 0, SQLITE_OK };
	b_int(&b, id->id.type);
	b_blob(&b, id->id.data, id->id.len);
	b_text(&b, id->sign_key_pem, SIZE_MAX);
	b_text(&b, id->cert_pem, SIZE_MAX);
	b_text(&b, id->ca_pem, SIZE_MAX);
	b_int(&b, now);
	b_text(&b, id->next_sign_key_pem, SIZE_MAX);
	st = b.rc ? sq_fail(s, b.rc) : sq_step(s, q, NULL);
	sq_done(q);
	if (!st)
		st = sq_audit_write(s, who, "identity set", gk_ident_text(&id->id, text), now);
out:
	return sq_end(base, st);
}

/* ---- group policy ---- */

/* addke: the caller's buffer for the additional-key-exchanges text, bound without copying: it
 * outlives the statement's step. */
static void group_bind(binder *b, const gk_group_policy *g, char addke[128])
{
	const gk_kek_policy *k = &g->kek;
	b_text(b, g->name, sizeof(g->name));
	b_int(b, g->id.type);
	b_blob(b, g->id.data, g->id.len);
	b_int(b, g->capacity);
	b_int(b, g->rekey_transport);
	b_int(b, g->transport_mode ? 1 : 0);
	b_int(b, g->atd);
	b_int(b, g->dtd);
	b_int(b, g->sender_id_bits);
	b_int(b, g->rekey_margin_pct);
	b_int(b, g->ike_idle_timeout);
	b_int(b, k->present ? 1 : 0);
	b_int(b, k->encr);
	b_int(b, k->encr_key_bits);
	b_int(b, k->integ);
	b_int(b, k->kwa);
	b_int(b, k->gcauth);
	b_int(b, k->sig_scheme);
	b_ts(b, &k->src);
	b_ts(b, &k->dst);
	b_int(b, k->lifetime);
	b_int(b, k->ttl);
	b_text(b, k->iface, sizeof(k->iface));
	b_int(b, k->copies);
	b_int(b, k->interval_ms);
	b_int(b, k->frag_mtu);
	b_int(b, g->max_packet_rate);
	b_int(b, k->key_mgmt);
	b_int(b, k->lkh_degree);
	b_int(b, g->ppk);
	gk_store_addke_text(g, addke, 128);
	b_text(b, addke, 128);
}

static gk_status group_read(reader *r, gk_group_policy *g)
{
	gk_kek_policy *k = &g->kek;
	r_text(r, g->name, sizeof(g->name));
	r_ident(r, &g->id);
	g->capacity = (uint32_t)r_int(r);
	g->rekey_transport = (gk_rekey_transport)r_int(r);
	g->transport_mode = r_int(r) != 0;
	g->atd = (uint16_t)r_int(r);
	g->dtd = (uint16_t)r_int(r);
	g->sender_id_bits = (uint16_t)r_int(r);
	g->rekey_margin_pct = (uint8_t)r_int(r);
	g->ike_idle_timeout = (uint32_t)r_int(r);
	k->present = r_int(r) != 0;
	k->encr = (uint16_t)r_int(r);
	k->encr_key_bits = (uint16_t)r_int(r);
	k->integ = (uint16_t)r_int(r);
	k->kwa = (uint16_t)r_int(r);
	k->gcauth = (uint16_t)r_int(r);
	k->sig_scheme = (int)r_int(r);
	r_ts(r, &k->src);
	r_ts(r, &k->dst);
	k->lifetime = (uint32_t)r_int(r);
	k->ttl = (uint8_t)r_int(r);
	r_text(r, k->iface, sizeof(k->iface));
	k->copies = (uint16_t)r_int(r);
	k->interval_ms = (uint32_t)r_int(r);
	k->frag_mtu = (uint16_t)r_int(r);
	g->max_packet_rate = (uint32_t)r_int(r);
	k->key_mgmt = (uint8_t)r_int(r);
	k->lkh_degree = (uint8_t)r_int(r);
	g->ppk = (uint8_t)r_int(r);
	char addke[128];
	r_text(r, addke, sizeof(addke));
	if (!r->st)
		r->st = gk_store_addke_parse(addke, g);
	return r->i == GROUP_NCOLS ? r->st : GK_E_STATE;
}

static void tek_bind(binder *b, size_t pos, const gk_tek_policy *t)
{
	b_int(b, (int64_t)pos);
	b_text(b, t->name, sizeof(t->name));
	b_int(b, t->proto);
	b_int(b, t->encr);
	b_int(b, t->encr_key_bits);
	b_int(b, t->integ);
	b_int(b, t->sn);
	b_ts(b, &t->src);
	b_ts(b, &t->dst);
	b_int(b, t->lifetime);
}

static gk_status tek_read(reader *r, gk_tek_policy *t)
{
	memset(t, 0, sizeof(*t));
	r_int(r); /* position: rows come ordered by it */
	r_text(r, t->name, sizeof(t->name));
	t->proto = (uint8_t)r_int(r);
	t->encr = (uint16_t)r_int(r);
	t->encr_key_bits = (uint16_t)r_int(r);
	t->integ = (uint16_t)r_int(r);
	t->sn = (uint16_t)r_int(r);
	r_ts(r, &t->src);
	r_ts(r, &t->dst);
	t->lifetime = (uint32_t)r_int(r);
	return r->i == TEK_NCOLS ? r->st : GK_E_STATE;
}

static void member_bind(binder *b, size_t pos, const gk_member_policy *m, char *text)
{
	b_int(b, (int64_t)pos);
	gk_ident id; /* the text only: the statement reads the bound octets when it runs */
	b_int(b, m->id ? m->id->type : 0);
	b_blob(b, m->id ? m->id->data : NULL, m->id ? m->id->len : 0);
	b_text(b, gk_ident_text(gk_member_policy_id(m, &id), text), GK_IDENT_TEXT_MAX);
	b_int(b, m->auth);
	b_blob(b, m->psk_len ? m->psk : NULL, m->psk_len);
	b_blob(b, m->pubkey_len ? m->pubkey : NULL, m->pubkey_len);
	b_int(b, m->role);
	b_int(b, m->max_sender_ids);
	b_blob(b, m->ppk_len ? m->ppk : NULL, m->ppk_len);
	b_blob(b, m->ppk_id_len ? m->ppk_id : NULL, m->ppk_id_len);
}

/* Fills m, which owns what it reads (psk, pubkey) even on failure. */
static gk_status member_read(reader *r, gk_member_policy *m)
{
	memset(m, 0, sizeof(*m));
	r_int(r); /* position */
	gk_ident id;
	r_ident(r, &id);
	gk_status st = gk_member_policy_set_id(m, &id);
	size_t len;
	r_int(r); /* name: derived from id */
	m->auth = (gk_member_auth)r_int(r);
	m->psk = r_blob_dup(r, &len);
	m->psk_len = (uint32_t)len;
	m->pubkey = r_blob_dup(r, &len);
	m->pubkey_len = (uint32_t)len;
	m->role = (gk_role)r_int(r);
	m->max_sender_ids = (uint32_t)r_int(r);
	m->ppk = r_blob_dup(r, &len);
	m->ppk_len = (uint32_t)len;
	m->ppk_id = r_blob_dup(r, &len);
	m->ppk_id_len = (uint32_t)len;
	return st ? st : r->i == MEMBER_NCOLS ? r->st : GK_E_STATE;
}

/* Row id and policy generation of a group; GK_E_NOT_FOUND when there is none. */
static gk_status group_lookup(sq_store *s, const char *name, int64_t *gid, int64_t *gen)
{
	/* the id alone is in the name's index (it is the rowid): no read of the group's row */
	sqlite3_stmt *q = sq_stmt(s, gen ? Q_GROUP_ID : Q_GROUP_ID_ONLY);
	if (!q)
		return GK_E_IO;
	binder b = { q, 0, SQLITE_OK };
	b_text(&b, name, GK_IDENT_TEXT_MAX);
	bool row = false;
	gk_status st = b.rc ? sq_fail(s, b.rc) : sq_step(s, q, &row);
	if (!st && !row)
		st = GK_E_NOT_FOUND;
	if (!st) {
		*gid = sqlite3_column_int64(q, 0);
		if (gen)
			*gen = sqlite3_column_int64(q, 1);
	}
	sq_done(q);
	return st;
}

static gk_status teks_load(sq_store *s, int64_t gid, gk_group_policy *g)
{
	sqlite3_stmt *q = sq_stmt(s, Q_TEK_LOAD);
	if (!q)
		return GK_E_IO;
	bool row = true;
	gk_status st = sqlite3_bind_int64(q, 1, gid) ? sq_fail(s, SQLITE_RANGE) : GK_OK;
	while (!st && !(st = sq_step(s, q, &row)) && row) {
		if ((st = gk_store_grow((void **)&g->teks, &g->nteks, sizeof(*g->teks))))
			break;
		reader r = { q, 0, GK_OK };
		st = tek_read(&r, &g->teks[g->nteks - 1]);
	}
	sq_done(q);
	return st;
}

static gk_status members_load(sq_store *s, int64_t gid, gk_group_policy *g)
{
	sqlite3_stmt *q = sq_stmt(s, Q_MEMBER_LOAD);
	if (!q)
		return GK_E_IO;
	bool row = true;
	gk_status st = sqlite3_bind_int64(q, 1, gid) ? sq_fail(s, SQLITE_RANGE) : GK_OK;
	while (!st && !(st = sq_step(s, q, &row)) && row) {
		if ((st = gk_store_grow((void **)&g->members, &g->nmembers, sizeof(*g->members))))
			break;
		reader r = { q, 0, GK_OK };
		st = member_read(&r, &g->members[g->nmembers - 1]);
		if (!st && g->nmembers > 1)
			st = gk_member_policy_share_psk(&g->members[g->nmembers - 1], &g->members[g->nmembers - 2]);
	}
	sq_done(q);
	gk_store_shrink((void **)&g->members, g->nmembers, sizeof(*g->members));
	return st;
}

/* Loads the whole policy of group row gid; the caller runs the transaction. */
static gk_status group_load(sq_store *s, int64_t gid, gk_group_policy *out)
{
	memset(out, 0, sizeof(*out));
	sqlite3_stmt *q = sq_stmt(s, Q_GROUP_LOAD);
	if (!q)
		return GK_E_IO;
	bool row = false;
	gk_status st = sqlite3_bind_int64(q, 1, gid) ? sq_fail(s, SQLITE_RANGE) : sq_step(s, q, &row);
	if (!st && !row)
		st = GK_E_NOT_FOUND;
	if (!st) {
		reader r = { q, 0, GK_OK };
		st = group_read(&r, out);
	}
	sq_done(q);
	if (!st)
		st = teks_load(s, gid, out);
	if (!st)
		st = members_load(s, gid, out);
	if (st)
		gk_group_policy_free(out);
	return st;
}

/* Writes the group row: a new one (generation 1) or an update of *gid (generation + 1). */
static gk_status group_row_write(sq_store *s, const gk_group_policy *g, int64_t now, int64_t *gid)
{
	sqlite3_stmt *q = sq_stmt(s, *gid ? Q_GROUP_UPDATE : Q_GROUP_INSERT);
	if (!q)
		return GK_E_IO;
	binder b = { q, 0, SQLITE_OK };
	char addke[128];
	group_bind(&b, g, addke);
	b_int(&b, now);
	if (*gid)
		b_int(&b, *gid);
	gk_status st = b.rc ? sq_fail(s, b.rc) : sq_step(s, q, NULL);
	sq_done(q);
	if (!st && !*gid)
		*gid = sqlite3_last_insert_rowid(s->db);
	return st;
}

static gk_status delete_children(sq_store *s, int64_t gid)
{
	static const enum stmt_id dels[] = { Q_TEK_DELETE, Q_MEMBER_DELETE };
	gk_status st = GK_OK;
	for (size_t i = 0; i < 2 && !st; i++) {
		sqlite3_stmt *q = sq_stmt(s, dels[i]);
		if (!q)
			return GK_E_IO;
		st = sqlite3_bind_int64(q, 1, gid) ? sq_fail(s, SQLITE_RANGE) : sq_step(s, q, NULL);
		sq_done(q);
	}
	return st;
}

static gk_status children_insert(sq_store *s, int64_t gid, const gk_group_policy *g)
{
	char text[GK_IDENT_TEXT_MAX];
	gk_status st = GK_OK;
	for (size_t i = 0; i < g->nteks && !st; i++) {
		sqlite3_stmt *q = sq_stmt(s, Q_TEK_INSERT);
		if (!q)
			return GK_E_IO;
		binder b = { q, 0, SQLITE_OK };
		b_int(&b, gid);
		tek_bind(&b, i, &g->teks[i]);
		st = b.rc ? sq_fail(s, b.rc) : sq_step(s, q, NULL);
		sq_done(q);
	}
	for (size_t i = 0; i < g->nmembers && !st; i++) {
		sqlite3_stmt *q = sq_stmt(s, Q_MEMBER_INSERT);
		if (!q)
			return GK_E_IO;
		binder b = { q, 0, SQLITE_OK };
		b_int(&b, gid);
		member_bind(&b, i, &g->members[i], text);
		st = b.rc ? sq_fail(s, b.rc) : sq_step(s, q, NULL);
		sq_done(q);
	}
	return st;
}

gk_status sq_group_write(gk_store *base, const gk_group_policy *g, int64_t now, bool replace,
			 gk_store_gid *gid)
{
	sq_store *s = sq(base);
	if (!g || !gid)
		return GK_E_INVAL;
	if (!replace)
		*gid = 0;
	gk_status st = group_row_write(s, g, now, gid);
	if (!st && replace)
		st = delete_children(s, *gid);
	if (!st)
		st = children_insert(s, *gid, g);
	return st;
}

gk_status sq_group_get(gk_store *base, const char *name, gk_group_policy *out)
{
	sq_store *s = sq(base);
	int64_t gid;
	if (!name || !out)
		return GK_E_INVAL;
	memset(out, 0, sizeof(*out));
	gk_status st = sq_begin(base, GK_TX_READ);
	if (st)
		return st;
	st = group_lookup(s, name, &gid, NULL);
	if (!st)
		st = group_load(s, gid, out);
	return sq_end(base, st);
}

gk_status sq_group_get_by_ident(gk_store *base, const gk_ident *id, gk_group_policy *out)
{
	sq_store *s = sq(base);
	if (!id || !out)
		return GK_E_INVAL;
	memset(out, 0, sizeof(*out));
	gk_status st = sq_begin(base, GK_TX_READ);
	if (st)
		return st;
	sqlite3_stmt *q = sq_stmt(s, Q_GROUP_ID_BY_IDENT);
	if (!q) {
		st = GK_E_IO;
		goto out;
	}
	binder b = { q, 0, SQLITE_OK };
	b_int(&b, id->type);
	b_blob(&b, id->data, id->len);
	bool row = false;
	st = b.rc ? sq_fail(s, b.rc) : sq_step(s, q, &row);
	if (!st && !row)
		st = GK_E_NOT_FOUND;
	int64_t gid = st ? 0 : sqlite3_column_int64(q, 0);
	sq_done(q);
	if (!st)
		st = group_load(s, gid, out);
out:
	return sq_end(base, st);
}

gk_status sq_group_delete(gk_store *base, const char *name, const char *who, int64_t now)
{
	sq_store *s = sq(base);
	if (!name)
		return GK_E_INVAL;
	gk_status st = sq_begin(base, GK_TX_WRITE);
	if (st)
		return st;
	sqlite3_stmt *q = sq_stmt(s, Q_GROUP_DELETE);
	if (!q) {
		st = GK_E_IO;
		goto out;
	}
	binder b = { q, 0, SQLITE_OK };
	b_text(&b, name, GK_IDENT_TEXT_MAX);
	st = b.rc ? sq_fail(s, b.rc) : sq_step(s, q, NULL);
	sq_done(q);
	if (!st && sqlite3_changes(s->db) == 0)
		st = GK_E_NOT_FOUND;
	if (!st)
		st = sq_audit_write(s, who, "group delete", name, now);
out:
	return sq_end(base, st);
}

gk_status sq_group_names(gk_store *base, char ***names, size_t *n)
{
	sq_store *s = sq(base);
	if (!names || !n)
		return GK_E_INVAL;
	*names = NULL;
	*n = 0;
	sqlite3_stmt *q = sq_stmt(s, Q_GROUP_NAMES);
	if (!q)
		return GK_E_IO;
	bool row = true;
	gk_status st;
	while (!(st = sq_step(s, q, &row)) && row) {
		if ((st = gk_store_grow((void **)names, n, sizeof(**names))))
			break;
		reader r = { q, 0, GK_OK };
		(*names)[*n - 1] = r_text_dup(&r);
		if ((st = r.st))
			break;
	}
	sq_done(q);
	if (st) {
		gk_store_names_free(*names, *n);
		*names = NULL;
		*n = 0;
	}
	return st;
}

gk_status sq_group_generation(gk_store *base, const char *name, int64_t *gen)
{
	sq_store *s = sq(base);
	int64_t gid;
	if (!name || !gen)
		return GK_E_INVAL;
	return group_lookup(s, name, &gid, gen);
}


gk_status sq_group_find(gk_store *s, const char *name, gk_store_gid *gid, int64_t *gen)
{
	if (!name || !gid)
		return GK_E_INVAL;
	return group_lookup(sq(s), name, gid, gen);
}

gk_status sq_group_read(gk_store *s, gk_store_gid gid, gk_group_policy *out)
{
	if (!out)
		return GK_E_INVAL;
	return group_load(sq(s), gid, out);
}
