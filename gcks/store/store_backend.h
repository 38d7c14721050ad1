/* What a store backend implements: the table of operations behind gcks/storage.h. A backend's
 * object starts with a struct gk_store (its ops); gcks/store/store.c dispatches every
 * gk_store_* call through it and chooses the backend in gk_store_open(). Each operation has the
 * contract of the gk_store_* function of the same name (storage.h); s is never NULL. */
#ifndef GK_STORE_BACKEND_H
#define GK_STORE_BACKEND_H

#include "gcks/storage.h"

typedef struct gk_store_ops {
	void (*close)(gk_store *s);
	int (*version)(gk_store *s);
	const char *(*errmsg)(const gk_store *s);

	gk_status (*begin)(gk_store *s, gk_store_tx kind);
	gk_status (*end)(gk_store *s, gk_status st);

	gk_status (*identity_get)(gk_store *s, gk_gcks_identity *out);
	gk_status (*identity_set)(gk_store *s, const gk_gcks_identity *id, const char *who, int64_t now);

	gk_status (*group_get)(gk_store *s, const char *name, gk_group_policy *out);
	gk_status (*group_get_by_ident)(gk_store *s, const gk_ident *id, gk_group_policy *out);
	gk_status (*group_delete)(gk_store *s, const char *name, const char *who, int64_t now);
	gk_status (*group_names)(gk_store *s, char ***names, size_t *n);
	gk_status (*group_generation)(gk_store *s, const char *name, int64_t *gen);
	gk_status (*group_find)(gk_store *s, const char *name, gk_store_gid *gid, int64_t *gen);
	gk_status (*group_read)(gk_store *s, gk_store_gid gid, gk_group_policy *out);
	gk_status (*group_write)(gk_store *s, const gk_group_policy *g, int64_t now, bool replace,
				 gk_store_gid *gid);

	gk_status (*key_current)(gk_store *s, gk_store_gid gid, int idx, gk_sa_key *k, bool *found);
	gk_status (*key_insert)(gk_store *s, gk_store_gid gid, gk_sa_key *k);
	gk_status (*keys_retire_unused)(gk_store *s, gk_store_gid gid, size_t nteks, bool kek);
	gk_status (*keys_prune)(gk_store *s, gk_store_gid gid, int64_t now);
	gk_status (*keys_carry)(gk_store *s, gk_store_gid gid, int64_t gen);
	gk_status (*spi_used)(gk_store *s, const uint8_t *spi, size_t len, bool *used);

	gk_status (*counter_get)(gk_store *s, gk_store_gid gid, gk_store_counter c, int64_t dflt, int64_t *v);
	gk_status (*counter_set)(gk_store *s, gk_store_gid gid, gk_store_counter c, int64_t v);

	gk_status (*registration_put)(gk_store *s, const gk_registration *r, bool *fresh);
	gk_status (*registration_delete)(gk_store *s, const char *group, const char *member);
	gk_status (*registration_exists)(gk_store *s, const char *group, const char *member, bool *exists);
	gk_status (*registration_count)(gk_store *s, const char *group, uint32_t *n);
	gk_status (*registrations_frag_ok)(gk_store *s, const char *group, bool *all);
	gk_status (*registrations)(gk_store *s, const char *group, gk_registration **out, size_t *n);

	gk_status (*sender_tek_held)(gk_store *s, const char *group, const char *member, const uint8_t spi[4],
				     bool *held);
	gk_status (*sender_tek_add)(gk_store *s, const char *group, const char *member, const uint8_t spi[4]);
	gk_status (*sender_tek_add_role)(gk_store *s, const char *group, gk_role role, const uint8_t spi[4]);
	gk_status (*sender_teks_prune)(gk_store *s, const char *group);
	gk_status (*sender_rekey_get)(gk_store *s, const char *group, const char *member, int64_t *at,
				      bool *found);
	gk_status (*sender_rekey_set)(gk_store *s, const char *group, const char *member, int64_t at);

	gk_status (*lkh_meta_get)(gk_store *s, gk_store_gid gid, gk_lkh_meta *m, bool *found);
	gk_status (*lkh_meta_set)(gk_store *s, gk_store_gid gid, const gk_lkh_meta *m);
	gk_status (*lkh_rows)(gk_store *s, gk_store_gid gid, gk_status (*fn)(void *ctx, const gk_lkh_row *r),
			      void *ctx);
	gk_status (*lkh_put)(gk_store *s, gk_store_gid gid, const gk_lkh_row *r);
	gk_status (*lkh_del)(gk_store *s, gk_store_gid gid, uint32_t pos);
	gk_status (*lkh_clear)(gk_store *s, gk_store_gid gid);

	gk_status (*audit)(gk_store *s, const char *who, const char *action, const char *detail, int64_t now);
	gk_status (*audit_list)(gk_store *s, size_t last, gk_audit_row **out, size_t *n);
	gk_status (*audit_find)(gk_store *s, const char *action, const char *detail, int64_t *pos);

	gk_status (*backup)(gk_store *s, const char *path, char *err, size_t errlen);
	gk_status (*backup_bytes)(gk_store *s, uint8_t **out, size_t *len, char *err, size_t errlen);
	/* several servers (storage.h); NULL in a backend one gcksd holds alone */
	gk_status (*server_beat)(gk_store *s, const char *server, const char *instance, int64_t stale_ms,
				 int64_t *age_ms);
	gk_status (*servers)(gk_store *s, gk_server_row **out, size_t *n);
	gk_status (*lease_take)(gk_store *s, const char *group, const char *server, int64_t lease_s, gk_lease *l,
				bool *held);
	gk_status (*lease_get)(gk_store *s, const char *group, gk_lease *l, bool *found);
	/* (tx) is the group's lease server's, with this epoch, unexpired? (store_cluster.c keeps
	 * what this handle took) */
	gk_status (*lease_check)(gk_store *s, const char *group, const char *server, int64_t epoch, bool *held);
	gk_status (*notify)(gk_store *s, const char *what);
	int (*notice_fd)(gk_store *s);
	gk_status (*notices)(gk_store *s, void (*fn)(void *ctx, const char *what), void *ctx);
} gk_store_ops;

/* A lease this store handle took (gk_store_lease_take), for the fence (gk_store_lease_check). */
typedef struct gk_store_fence {
	char *group;                    /* owned */
	char server[GK_SERVER_ID_MAX];
	int64_t epoch;
} gk_store_fence;

/* The head of every backend's store object. ops is static and not owned; fences are owned by
 * store_cluster.c (zero in a new object, freed by gk_store_close). */
struct gk_store {
	const gk_store_ops *ops;
	/* the front's (store.c): the open transaction's start, and the latency histogram */
	struct timespec tx_start;
	gk_store_tx tx_kind;
	gk_store_tx_stats tx_stats;
	gk_store_fence *fences;
	size_t nfences;
	bool takes_leases;              /* gk_store_lease_take was called: a server's handle */
	/* group commit (storage.h; store.c) */
	bool batch_open;                /* the batch's write transaction is open */
	uint64_t batch_seq;             /* number of the open (or last) batch */
	uint64_t batch_failed_from;     /* first batch of the turn whose commit failed, 0: none */
	bool batch_read;                /* a read transaction runs inside the open batch */
};

/* Commits the open batch, if any (group commit, storage.h): every write transaction and every
 * write outside one runs it first, so a write that returns is durable as before and batches
 * never nest. A read transaction runs inside the batch instead (a backend that batches, SQLite,
 * begins nothing for it and ends nothing). Inline: the front and the backend both run it, and
 * the backend calls nothing of the front. */
static inline void gk_store_batch_close(gk_store *s)
{
	if (s->batch_open) {
		s->batch_open = false;
		if (s->ops->end(s, GK_OK) != GK_OK && !s->batch_failed_from)
			s->batch_failed_from = s->batch_seq;
	}
}

/* Frees what store_cluster.c keeps in the head (gk_store_close calls it). */
void gk_store_fences_free(gk_store *s);

/* Row arrays the backends build (store_values.c): grows *arr by one zeroed element of size sz,
 * the new one at index *n - 1, capacity in powers of two; shrink gives back what grow left
 * unused (for arrays that are kept). */
gk_status gk_store_grow(void **arr, size_t *n, size_t sz);
/* A group's additional-key-exchanges as the groups.addke column holds them: method names
 * separated by commas, "" for none (ke.h). The reader fails with GK_E_STATE on a stored name this
 * build does not know. */
void gk_store_addke_text(const gk_group_policy *g, char *buf, size_t len);
gk_status gk_store_addke_parse(const char *text, gk_group_policy *g);
void gk_store_shrink(void **arr, size_t n, size_t sz);

#endif
