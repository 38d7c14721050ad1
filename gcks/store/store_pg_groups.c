/* The PostgreSQL store: the GCKS identity (table gcks_identity) and group policies (groups,
 * group_teks, members), as store_sqlite_groups.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "store_pg_int.h"

#define TS_COLS(p) p "_family, " p "_start, " p "_end, " p "_ip_proto, " p "_port_lo, " p "_port_hi"
/* The policy columns of groups, in the order group_bind() binds and group_read() reads them. */
#define GROUP_COLS \
	"name, id_type, id_data, capacity, rekey_transport, transport_mode, atd, dtd, " \
	"sender_id_bits, rekey_margin_pct, ike_idle_timeout, " \
	"kek_present, kek_encr, kek_encr_key_bits, kek_integ, kek_kwa, kek_gcauth, kek_sig_scheme, " \
	TS_COLS("kek_src") ", " TS_COLS("kek_dst") ", " \
	"kek_lifetime, kek_ttl, kek_iface, kek_copies, kek_interval_ms, kek_frag_mtu, max_packet_rate, " \
	"kek_key_mgmt, kek_lkh_degree, ppk, addke"
#define GROUP_NCOLS 41
#define GROUP_PS "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, " \
	"$20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, $35, $36, $37, $38, $39, $40, $41"
#define TEK_COLS \
	"position, name, proto, encr, encr_key_bits, integ, sn, " TS_COLS("src") ", " TS_COLS("dst") ", lifetime"
#define TEK_NCOLS 20
#define MEMBER_COLS "position, id_type, id_data, name, auth, psk, pubkey, role, max_sender_ids, ppk, ppk_id"
#define MEMBER_NCOLS 11

gk_status pg_identity_get(gk_store *base, gk_gcks_identity *out)
{
	pg_store *s = pgs(base);
	PGresult *res = NULL;
	if (!out)
		return GK_E_INVAL;
	memset(out, 0, sizeof(*out));
	gk_status st = pg_run(s, "SELECT id_type, id_data, sign_key_pem, cert_pem, ca_pem, next_sign_key_pem "
			      "FROM gcks_identity WHERE id = 1", NULL, &res, NULL);
	if (!st && PQntuples(res) == 0)
		st = GK_E_NOT_FOUND;
	if (!st) {
		pgr r = { res, 0, 0, GK_OK };
		pr_ident(&r, &out->id);
		out->sign_key_pem = pr_text_dup(&r);
		out->cert_pem = pr_text_dup(&r);
		out->ca_pem = pr_text_dup(&r);
		out->next_sign_key_pem = pr_text_dup(&r);
		st = r.st;
	}
	pg_clear(res);
	if (st)
		gk_gcks_identity_free(out);
	return st;
}

gk_status pg_identity_set(gk_store *base, const gk_gcks_identity *id, const char *who, int64_t now)
{
	pg_store *s = pgs(base);
	char text[GK_IDENT_TEXT_MAX];
	if (!id)
		return GK_E_INVAL;
	gk_status st = pg_begin(base, GK_TX_DURABLE);
	if (st)
		return st;
	pgp p = { 0 };
	pp_int(&p, id->id.type);
	pp_blob(&p, id->id.data, id->id.len);
	pp_text(&p, id->sign_key_pem, SIZE_MAX);
	pp_text(&p, id->cert_pem, SIZE_MAX);
	pp_text(&p, id->ca_pem, SIZE_MAX);
	pp_int(&p, now);
	pp_text(&p, id->next_sign_key_pem, SIZE_MAX);
	st = pg_run(s, "INSERT INTO gcks_identity (id, id_type, id_data, sign_key_pem, cert_pem, ca_pem, updated, "
		    "next_sign_key_pem) VALUES (1, $1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO UPDATE SET "
		    "id_type = excluded.id_type, id_data = excluded.id_data, sign_key_pem = excluded.sign_key_pem, "
		    "cert_pem = excluded.cert_pem, ca_pem = excluded.ca_pem, updated = excluded.updated, "
		    "next_sign_key_pem = excluded.next_sign_key_pem", &p, NULL, NULL);
	if (!st)
		st = pg_audit_write(s, who, "identity set", gk_ident_text(&id->id, text), now);
	return pg_end(base, st);
}

/* ---- group policy ---- */

/* addke: the caller's buffer for the additional-key-exchanges text, bound without copying: it
 * outlives the query. */
static void group_bind(pgp *b, const gk_group_policy *g, char addke[128])
{
	const gk_kek_policy *k = &g->kek;
	pp_text(b, g->name, sizeof(g->name));
	pp_int(b, g->id.type);
	pp_blob(b, g->id.data, g->id.len);
	pp_int(b, g->capacity);
	pp_int(b, g->rekey_transport);
	pp_int(b, g->transport_mode ? 1 : 0);
	pp_int(b, g->atd);
	pp_int(b, g->dtd);
	pp_int(b, g->sender_id_bits);
	pp_int(b, g->rekey_margin_pct);
	pp_int(b, g->ike_idle_timeout);
	pp_int(b, k->present ? 1 : 0);
	pp_int(b, k->encr);
	pp_int(b, k->encr_key_bits);
	pp_int(b, k->integ);
	pp_int(b, k->kwa);
	pp_int(b, k->gcauth);
	pp_int(b, k->sig_scheme);
	pp_ts(b, &k->src);
	pp_ts(b, &k->dst);
	pp_int(b, k->lifetime);
	pp_int(b, k->ttl);
	pp_text(b, k->iface, sizeof(k->iface));
	pp_int(b, k->copies);
	pp_int(b, k->interval_ms);
	pp_int(b, k->frag_mtu);
	pp_int(b, g->max_packet_rate);
	pp_int(b, k->key_mgmt);
	pp_int(b, k->lkh_degree);
	pp_int(b, g->ppk);
	gk_store_addke_text(g, addke, 128);
	pp_text(b, addke, 128);
}

static gk_status group_read(pgr *r, gk_group_policy *g)
{
	gk_kek_policy *k = &g->kek;
	pr_text(r, g->name, sizeof(g->name));
	pr_ident(r, &g->id);
	g->capacity = (uint32_t)pr_int(r);
	g->rekey_transport = (gk_rekey_transport)pr_int(r);
	g->transport_mode = pr_int(r) != 0;
	g->atd = (uint16_t)pr_int(r);
	g->dtd = (uint16_t)pr_int(r);
	g->sender_id_bits = (uint16_t)pr_int(r);
	g->rekey_margin_pct = (uint8_t)pr_int(r);
	g->ike_idle_timeout = (uint32_t)pr_int(r);
	k->present = pr_int(r) != 0;
	k->encr = (uint16_t)pr_int(r);
	k->encr_key_bits = (uint16_t)pr_int(r);
	k->integ = (uint16_t)pr_int(r);
	k->kwa = (uint16_t)pr_int(r);
	k->gcauth = (uint16_t)pr_int(r);
	k->sig_scheme = (int)pr_int(r);
	pr_ts(r, &k->src);
	pr_ts(r, &k->dst);
	k->lifetime = (uint32_t)pr_int(r);
	k->ttl = (uint8_t)pr_int(r);
	pr_text(r, k->iface, sizeof(k->iface));
	k->copies = (uint16_t)pr_int(r);
	k->interval_ms = (uint32_t)pr_int(r);
	k->frag_mtu = (uint16_t)pr_int(r);
	g->max_packet_rate = (uint32_t)pr_int(r);
	k->key_mgmt = (uint8_t)pr_int(r);
	k->lkh_degree = (uint8_t)pr_int(r);
	g->ppk = (uint8_t)pr_int(r);
	char addke[128];
	pr_text(r, addke, sizeof(addke));
	if (!r->st)
		r->st = gk_store_addke_parse(addke, g);
	return r->i == GROUP_NCOLS ? r->st : GK_E_STATE;
}

static void tek_bind(pgp *b, size_t pos, const gk_tek_policy *t)
{
	pp_int(b, (int64_t)pos);
	pp_text(b, t->name, sizeof(t->name));
	pp_int(b, t->proto);
	pp_int(b, t->encr);
	pp_int(b, t->encr_key_bits);
	pp_int(b, t->integ);
	pp_int(b, t->sn);
	pp_ts(b, &t->src);
	pp_ts(b, &t->dst);
	pp_int(b, t->lifetime);
}

static gk_status tek_read(pgr *r, gk_tek_policy *t)
{
	memset(t, 0, sizeof(*t));
	pr_int(r); /* position: rows come ordered by it */
	pr_text(r, t->name, sizeof(t->name));
	t->proto = (uint8_t)pr_int(r);
	t->encr = (uint16_t)pr_int(r);
	t->encr_key_bits = (uint16_t)pr_int(r);
	t->integ = (uint16_t)pr_int(r);
	t->sn = (uint16_t)pr_int(r);
	pr_ts(r, &t->src);
	pr_ts(r, &t->dst);
	t->lifetime = (uint32_t)pr_int(r);
	return r->i == TEK_NCOLS ? r->st : GK_E_STATE;
}

static void member_bind(pgp *b, size_t pos, const gk_member_policy *m, char *text)
{
	pp_int(b, (int64_t)pos);
	gk_ident id; /* the text only: the statement reads the bound octets when it runs */
	pp_int(b, m->id ? m->id->type : 0);
	pp_blob(b, m->id ? m->id->data : NULL, m->id ? m->id->len : 0);
	pp_text(b, gk_ident_text(gk_member_policy_id(m, &id), text), GK_IDENT_TEXT_MAX);
	pp_int(b, m->auth);
	pp_blob(b, m->psk_len ? m->psk : NULL, m->psk_len);
	pp_blob(b, m->pubkey_len ? m->pubkey : NULL, m->pubkey_len);
	pp_int(b, m->role);
	pp_int(b, m->max_sender_ids);
	pp_blob(b, m->ppk_len ? m->ppk : NULL, m->ppk_len);
	pp_blob(b, m->ppk_id_len ? m->ppk_id : NULL, m->ppk_id_len);
}

static gk_status member_read(pgr *r, gk_member_policy *m)
{
	memset(m, 0, sizeof(*m));
	pr_int(r); /* position */
	gk_ident id;
	pr_ident(r, &id);
	gk_status st = gk_member_policy_set_id(m, &id);
	size_t len;
	r->i++; /* name: derived from id */
	m->auth = (gk_member_auth)pr_int(r);
	m->psk = pr_blob_dup(r, &len);
	m->psk_len = (uint32_t)len;
	m->pubkey = pr_blob_dup(r, &len);
	m->pubkey_len = (uint32_t)len;
	m->role = (gk_role)pr_int(r);
	m->max_sender_ids = (uint32_t)pr_int(r);
	m->ppk = pr_blob_dup(r, &len);
	m->ppk_len = (uint32_t)len;
	m->ppk_id = pr_blob_dup(r, &len);
	m->ppk_id_len = (uint32_t)len;
	return st ? st : r->i == MEMBER_NCOLS ? r->st : GK_E_STATE;
}

static gk_status group_lookup(pg_store *s, const char *name, int64_t *gid, int64_t *gen)
{
	PGresult *res = NULL;
	pgp p = { 0 };
	pp_text(&p, name, GK_IDENT_TEXT_MAX);
	gk_status st = pg_run(s, "SELECT id, generation FROM groups WHERE name = $1", &p, &res, NULL);
	if (!st && PQntuples(res) == 0)
		st = GK_E_NOT_FOUND;
	if (!st) {
		pgr r = { res, 0, 0, GK_OK };
		*gid = pr_int(&r);
		int64_t g = pr_int(&r);
		if (gen)
			*gen = g;
	}
	PQclear(res);
	return st;
}

/* Loads the whole policy of group gid; the caller runs the transaction. */
static gk_status group_load(pg_store *s, int64_t gid, gk_group_policy *out)
{
	PGresult *res = NULL;
	pgp p = { 0 };
	memset(out, 0, sizeof(*out));
	pp_int(&p, gid);
	gk_status st = pg_run(s, "SELECT " GROUP_COLS " FROM groups WHERE id = $1", &p, &res, NULL);
	if (!st && PQntuples(res) == 0)
		st = GK_E_NOT_FOUND;
	if (!st) {
		pgr r = { res, 0, 0, GK_OK };
		st = group_read(&r, out);
	}
	PQclear(res);
	res = NULL;
	if (!st)
		st = pg_run(s, "SELECT " TEK_COLS " FROM group_teks WHERE group_id = $1 ORDER BY position", &p, &res,
			    NULL);
	for (int i = 0; !st && i < PQntuples(res); i++) {
		if ((st = gk_store_grow((void **)&out->teks, &out->nteks, sizeof(*out->teks))))
			break;
		pgr r = { res, i, 0, GK_OK };
		st = tek_read(&r, &out->teks[out->nteks - 1]);
	}
	PQclear(res);
	res = NULL;
	if (!st)
		st = pg_run(s, "SELECT " MEMBER_COLS " FROM members WHERE group_id = $1 ORDER BY position", &p,
			    &res, NULL);
	int n = st ? 0 : PQntuples(res);
	if (!st && n > 0 && !(out->members = calloc((size_t)n, sizeof(*out->members))))
		st = GK_E_NOMEM;
	for (int i = 0; !st && i < n; i++) {
		pgr r = { res, i, 0, GK_OK };
		out->nmembers++;
		st = member_read(&r, &out->members[i]);
		if (!st && i > 0)
			st = gk_member_policy_share_psk(&out->members[i], &out->members[i - 1]);
	}
	pg_clear(res); /* PSKs */
	if (st)
		gk_group_policy_free(out);
	return st;
}

static gk_status children_insert(pg_store *s, int64_t gid, const gk_group_policy *g)
{
	char text[GK_IDENT_TEXT_MAX];
	gk_status st = GK_OK;
	for (size_t i = 0; i < g->nteks && !st; i++) {
		pgp p = { 0 };
		pp_int(&p, gid);
		tek_bind(&p, i, &g->teks[i]);
		st = pg_run(s, "INSERT INTO group_teks (group_id, " TEK_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7, "
			    "$8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)", &p, NULL, NULL);
	}
	for (size_t i = 0; i < g->nmembers && !st; i++) {
		pgp p = { 0 };
		pp_int(&p, gid);
		member_bind(&p, i, &g->members[i], text);
		st = pg_run(s, "INSERT INTO members (group_id, " MEMBER_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7, "
			    "$8, $9, $10, $11, $12)", &p, NULL, NULL);
	}
	return st;
}

gk_status pg_group_write(gk_store *base, const gk_group_policy *g, int64_t now, bool replace, gk_store_gid *gid)
{
	pg_store *s = pgs(base);
	PGresult *res = NULL;
	if (!g || !gid)
		return GK_E_INVAL;
	if (!replace)
		*gid = 0;
	pgp p = { 0 };
	char addke[128];
	group_bind(&p, g, addke);
	pp_int(&p, now);
	gk_status st;
	if (replace) {
		pp_int(&p, *gid);
		st = pg_run(s, "UPDATE groups SET (" GROUP_COLS ") = (" GROUP_PS "), generation = generation + 1, "
			    "updated = $42 WHERE id = $43", &p, NULL, NULL);
		pgp q = { 0 };
		pp_int(&q, *gid);
		if (!st)
			st = pg_run(s, "DELETE FROM group_teks WHERE group_id = $1", &q, NULL, NULL);
		if (!st)
			st = pg_run(s, "DELETE FROM members WHERE group_id = $1", &q, NULL, NULL);
	} else {
		st = pg_run(s, "INSERT INTO groups (" GROUP_COLS ", generation, created, updated) VALUES (" GROUP_PS
			    ", 1, $42, $42) RETURNING id", &p, &res, NULL);
		if (!st) {
			pgr r = { res, 0, 0, GK_OK };
			*gid = pr_int(&r);
			st = r.st;
		}
		PQclear(res);
	}
	if (!st)
		st = children_insert(s, *gid, g);
	return st;
}

gk_status pg_group_get(gk_store *base, const char *name, gk_group_policy *out)
{
	pg_store *s = pgs(base);
	int64_t gid;
	if (!name || !out)
		return GK_E_INVAL;
	memset(out, 0, sizeof(*out));
	gk_status st = pg_begin(base, GK_TX_READ);
	if (st)
		return st;
	st = group_lookup(s, name, &gid, NULL);
	if (!st)
		st = group_load(s, gid, out);
	return pg_end(base, st);
}

gk_status pg_group_get_by_ident(gk_store *base, const gk_ident *id, gk_group_policy *out)
{
	pg_store *s = pgs(base);
	PGresult *res = NULL;
	if (!id || !out)
		return GK_E_INVAL;
	memset(out, 0, sizeof(*out));
	gk_status st = pg_begin(base, GK_TX_READ);
	if (st)
		return st;
	pgp p = { 0 };
	pp_int(&p, id->type);
	pp_blob(&p, id->data, id->len);
	st = pg_run(s, "SELECT id FROM groups WHERE id_type = $1 AND id_data = $2", &p, &res, NULL);
	if (!st && PQntuples(res) == 0)
		st = GK_E_NOT_FOUND;
	int64_t gid = 0;
	if (!st) {
		pgr r = { res, 0, 0, GK_OK };
		gid = pr_int(&r);
	}
	PQclear(res);
	if (!st)
		st = group_load(s, gid, out);
	return pg_end(base, st);
}

gk_status pg_group_delete(gk_store *base, const char *name, const char *who, int64_t now)
{
	pg_store *s = pgs(base);
	if (!name)
		return GK_E_INVAL;
	gk_status st = pg_begin(base, GK_TX_WRITE);
	if (st)
		return st;
	pgp p = { 0 };
	int64_t n = 0;
	pp_text(&p, name, GK_IDENT_TEXT_MAX);
	st = pg_run(s, "DELETE FROM groups WHERE name = $1", &p, NULL, &n);
	if (!st && n == 0)
		st = GK_E_NOT_FOUND;
	if (!st)
		st = pg_audit_write(s, who, "group delete", name, now);
	return pg_end(base, st);
}

gk_status pg_group_names(gk_store *base, char ***names, size_t *n)
{
	pg_store *s = pgs(base);
	PGresult *res = NULL;
	if (!names || !n)
		return GK_E_INVAL;
	*names = NULL;
	*n = 0;
	/* byte order, as SQLite's */
	gk_status st = pg_run(s, "SELECT name FROM groups ORDER BY name COLLATE \"C\"", NULL, &res, NULL);
	for (int i = 0; !st && i < PQntuples(res); i++) {
		if ((st = gk_store_grow((void **)names, n, sizeof(**names))))
			break;
		pgr r = { res, i, 0, GK_OK };
		(*names)[*n - 1] = pr_text_dup(&r);
		st = r.st;
	}
	PQclear(res);
	if (st) {
		gk_store_names_free(*names, *n);
		*names = NULL;
		*n = 0;
	}
	return st;
}

gk_status pg_group_generation(gk_store *base, const char *name, int64_t *gen)
{
	int64_t gid;
	if (!name || !gen)
		return GK_E_INVAL;
	return group_lookup(pgs(base), name, &gid, gen);
}

gk_status pg_group_find(gk_store *s, const char *name, gk_store_gid *gid, int64_t *gen)
{
	if (!name || !gid)
		return GK_E_INVAL;
	return group_lookup(pgs(s), name, gid, gen);
}

gk_status pg_group_read(gk_store *s, gk_store_gid gid, gk_group_policy *out)
{
	if (!out)
		return GK_E_INVAL;
	return group_load(pgs(s), gid, out);
}
