/* Group commit: the registrations that one turn of gcksd's event loop records go into one write
 * transaction, committed once at the end of the turn (gk_store_batch_commit) instead of once
 * each. The caller sends nothing that depends on a batched row before that commit succeeded.
 * A backend several servers share (PostgreSQL) commits each registration at once, as before. */
#include "store_backend.h"

void gk_store_batch_close(gk_store *s)
{
	if (s && s->batch_open)
		gk_store_batch_commit(s);
}

gk_status gk_store_registration_put_batched(gk_store *s, const gk_registration *r, uint64_t *seq)
{
	if (!s || !r || !seq)
		return GK_E_INVAL;
	*seq = 0;
	if (gk_store_shared(s))
		return gk_store_registration_put(s, r);
	if (s->batch_failed_from)
		return GK_E_IO; /* a batch of this turn was lost: nothing more is recorded in it */
	if (!s->batch_open) {
		gk_status st = gk_store_begin(s, GK_TX_WRITE);
		if (st)
			return st;
		s->batch_open = true;
		s->batch_seq++;
	}
	gk_status st = s->ops->registration_put(s, r);
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
	if (s->batch_open) {
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
