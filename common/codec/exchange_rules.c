#include "exchange_rules.h"

#define OUT false
#define IN true
#define RULES(...) (const gk_pl_rule[]){ __VA_ARGS__ }, \
	sizeof((const gk_pl_rule[]){ __VA_ARGS__ }) / sizeof(gk_pl_rule)

/* GSA_REKEY carries new policy and keys, or deletions, or both (RFC 9838 2.4.1, 2.4.3). */
static gk_status rekey_check(const gk_msg *m)
{
	bool gsa = gk_msg_find(m, GK_PL_GSA), kd = gk_msg_find(m, GK_PL_KD);
	bool del = gk_msg_find(m, GK_PL_DELETE);
	if (gsa != kd)
		return GK_E_RULES;
	return gsa || del ? GK_OK : GK_E_RULES;
}

/* A GSA_REGISTRATION response is GSA+KD, or an error, or empty (after a leave). */
static gk_status gsa_pair_check(const gk_msg *m)
{
	bool gsa = gk_msg_find(m, GK_PL_GSA), kd = gk_msg_find(m, GK_PL_KD);
	return gsa == kd ? GK_OK : GK_E_RULES;
}

/* Where the PPK notifies of RFC 8784 3 belong, each at most once in a message: USE_PPK in
 * IKE_SA_INIT, PPK_IDENTITY in the authenticating exchange (GSA_AUTH or IKE_AUTH), NO_PPK_AUTH
 * in its request only. A copy elsewhere, or a second one, is a malformed message. */
static const struct notify_place {
	uint16_t type;
	uint8_t exchanges[2];
	bool request, response;
} notify_places[] = {
	{ GK_N_USE_PPK, { GK_EXCH_IKE_SA_INIT, GK_EXCH_IKE_SA_INIT }, true, true },
	{ GK_N_PPK_IDENTITY, { GK_EXCH_IKE_AUTH, GK_EXCH_GSA_AUTH }, true, true },
	{ GK_N_NO_PPK_AUTH, { GK_EXCH_IKE_AUTH, GK_EXCH_GSA_AUTH }, true, false },
	/* RFC 9242 3.2: support is announced in IKE_SA_INIT, by both sides */
	{ GK_N_INTERMEDIATE_EXCHANGE_SUPPORTED, { GK_EXCH_IKE_SA_INIT, GK_EXCH_IKE_SA_INIT }, true, true },
};

static bool notifies_placed(const gk_msg *m)
{
	bool response = m->hdr.flags & GK_FLAG_R;
	for (size_t i = 0; i < sizeof(notify_places) / sizeof(notify_places[0]); i++) {
		const struct notify_place *np = &notify_places[i];
		unsigned n = 0;
		for (const gk_payload *p = NULL; (p = gk_msg_next(m, p, GK_PL_NOTIFY));)
			n += p->body->notify.type == np->type;
		if (!n)
			continue;
		bool here = (m->hdr.exchange == np->exchanges[0] || m->hdr.exchange == np->exchanges[1]) &&
			    (response ? np->response : np->request);
		if (!here || n > 1)
			return false;
	}
	return true;
}

static const gk_exchange_rules table[] = {
	{ GK_EXCH_IKE_SA_INIT, false, false, RULES(
		{ GK_PL_SA, 1, 1, OUT }, { GK_PL_KE, 1, 1, OUT }, { GK_PL_NONCE, 1, 1, OUT },
		{ GK_PL_NOTIFY, 0, GK_MANY, OUT }, { GK_PL_VENDOR, 0, GK_MANY, OUT }), NULL },
	{ GK_EXCH_IKE_SA_INIT, true, false, RULES(
		{ GK_PL_SA, 1, 1, OUT }, { GK_PL_KE, 1, 1, OUT }, { GK_PL_NONCE, 1, 1, OUT },
		{ GK_PL_CERTREQ, 0, GK_MANY, OUT },
		{ GK_PL_NOTIFY, 0, GK_MANY, OUT }, { GK_PL_VENDOR, 0, GK_MANY, OUT }), NULL },
	{ GK_EXCH_IKE_AUTH, false, true, RULES(
		{ GK_PL_IDi, 1, 1, IN }, { GK_PL_CERT, 0, GK_MANY, IN }, { GK_PL_CERTREQ, 0, GK_MANY, IN },
		{ GK_PL_IDr, 0, 1, IN }, { GK_PL_AUTH, 1, 1, IN }, { GK_PL_SA, 0, 1, IN },
		{ GK_PL_TSi, 0, 1, IN }, { GK_PL_TSr, 0, 1, IN }, { GK_PL_CP, 0, 1, IN },
		{ GK_PL_NOTIFY, 0, GK_MANY, IN }, { GK_PL_VENDOR, 0, GK_MANY, IN }), NULL },
	{ GK_EXCH_IKE_AUTH, true, true, RULES(
		{ GK_PL_IDr, 1, 1, IN }, { GK_PL_CERT, 0, GK_MANY, IN }, { GK_PL_AUTH, 1, 1, IN },
		{ GK_PL_SA, 0, 1, IN }, { GK_PL_TSi, 0, 1, IN }, { GK_PL_TSr, 0, 1, IN },
		{ GK_PL_CP, 0, 1, IN }, { GK_PL_NOTIFY, 0, GK_MANY, IN },
		{ GK_PL_VENDOR, 0, GK_MANY, IN }), NULL },
	{ GK_EXCH_GSA_AUTH, false, true, RULES(
		{ GK_PL_IDi, 1, 1, IN }, { GK_PL_CERT, 0, GK_MANY, IN }, { GK_PL_CERTREQ, 0, GK_MANY, IN },
		{ GK_PL_IDr, 0, 1, IN }, { GK_PL_AUTH, 1, 1, IN }, { GK_PL_IDg, 1, 1, IN },
		{ GK_PL_SAg, 0, 1, IN }, { GK_PL_NOTIFY, 0, GK_MANY, IN },
		{ GK_PL_VENDOR, 0, GK_MANY, IN }), NULL },
	{ GK_EXCH_GSA_AUTH, true, true, RULES(
		{ GK_PL_IDr, 1, 1, IN }, { GK_PL_CERT, 0, GK_MANY, IN }, { GK_PL_AUTH, 1, 1, IN },
		{ GK_PL_GSA, 1, 1, IN }, { GK_PL_KD, 1, 1, IN }, { GK_PL_NOTIFY, 0, GK_MANY, IN },
		{ GK_PL_VENDOR, 0, GK_MANY, IN }), gsa_pair_check },
	{ GK_EXCH_GSA_REGISTRATION, false, true, RULES(
		{ GK_PL_IDg, 1, 1, IN }, { GK_PL_SAg, 0, 1, IN }, { GK_PL_NOTIFY, 0, GK_MANY, IN },
		{ GK_PL_VENDOR, 0, GK_MANY, IN }), NULL },
	{ GK_EXCH_GSA_REGISTRATION, true, true, RULES(
		{ GK_PL_GSA, 0, 1, IN }, { GK_PL_KD, 0, 1, IN }, { GK_PL_NOTIFY, 0, GK_MANY, IN },
		{ GK_PL_VENDOR, 0, GK_MANY, IN }), gsa_pair_check },
	{ GK_EXCH_GSA_REKEY, false, true, RULES(
		{ GK_PL_GSA, 0, 1, IN }, { GK_PL_KD, 0, 1, IN }, { GK_PL_DELETE, 0, GK_MANY, IN },
		{ GK_PL_NOTIFY, 0, GK_MANY, IN }, { GK_PL_AUTH, 0, 1, IN }), rekey_check },
	{ GK_EXCH_GSA_INBAND_REKEY, false, true, RULES(
		{ GK_PL_GSA, 0, 1, IN }, { GK_PL_KD, 0, 1, IN }, { GK_PL_DELETE, 0, GK_MANY, IN },
		{ GK_PL_NOTIFY, 0, GK_MANY, IN }), rekey_check },
	{ GK_EXCH_GSA_INBAND_REKEY, true, true, RULES(
		{ GK_PL_NOTIFY, 0, GK_MANY, IN }), NULL },
	/* RFC 7296 1.3: KE is optional for a Child SA, mandatory for an IKE SA rekey (the handler
	 * checks); TS is allowed so that a Child SA request gets its precise refusal */
	{ GK_EXCH_CREATE_CHILD_SA, false, true, RULES(
		{ GK_PL_SA, 1, 1, IN }, { GK_PL_NONCE, 1, 1, IN }, { GK_PL_KE, 0, 1, IN },
		{ GK_PL_TSi, 0, 1, IN }, { GK_PL_TSr, 0, 1, IN },
		{ GK_PL_NOTIFY, 0, GK_MANY, IN }, { GK_PL_VENDOR, 0, GK_MANY, IN }), NULL },
	{ GK_EXCH_CREATE_CHILD_SA, true, true, RULES(
		{ GK_PL_SA, 1, 1, IN }, { GK_PL_NONCE, 1, 1, IN }, { GK_PL_KE, 0, 1, IN },
		{ GK_PL_TSi, 0, 1, IN }, { GK_PL_TSr, 0, 1, IN },
		{ GK_PL_NOTIFY, 0, GK_MANY, IN }, { GK_PL_VENDOR, 0, GK_MANY, IN }), NULL },
	/* RFC 9242 3.3.1: IKE_INTERMEDIATE is protected; RFC 9370 2.2.2: each carries the KE payload of
	 * one additional key exchange (KEi(n) / KEr(n)); an error response may carry only a Notify */
	{ GK_EXCH_IKE_INTERMEDIATE, false, true, RULES(
		{ GK_PL_KE, 0, 1, IN }, { GK_PL_NOTIFY, 0, GK_MANY, IN }, { GK_PL_VENDOR, 0, GK_MANY, IN }), NULL },
	{ GK_EXCH_IKE_INTERMEDIATE, true, true, RULES(
		{ GK_PL_KE, 0, 1, IN }, { GK_PL_NOTIFY, 0, GK_MANY, IN }, { GK_PL_VENDOR, 0, GK_MANY, IN }), NULL },
	{ GK_EXCH_INFORMATIONAL, false, true, RULES(
		{ GK_PL_NOTIFY, 0, GK_MANY, IN }, { GK_PL_DELETE, 0, GK_MANY, IN },
		{ GK_PL_CP, 0, GK_MANY, IN }, { GK_PL_VENDOR, 0, GK_MANY, IN }), NULL },
	{ GK_EXCH_INFORMATIONAL, true, true, RULES(
		{ GK_PL_NOTIFY, 0, GK_MANY, IN }, { GK_PL_DELETE, 0, GK_MANY, IN },
		{ GK_PL_CP, 0, GK_MANY, IN }, { GK_PL_VENDOR, 0, GK_MANY, IN }), NULL },
};

const gk_exchange_rules *gk_exchange_rules_for(uint8_t exchange, bool response)
{
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (table[i].exchange == exchange && table[i].response == response)
			return &table[i];
	return NULL;
}

static const gk_pl_rule *rule_for(const gk_exchange_rules *x, uint8_t type)
{
	for (size_t i = 0; i < x->nrules; i++)
		if (x->rules[i].type == type)
			return &x->rules[i];
	return NULL;
}

gk_status gk_exchange_rules_check(const gk_msg *m, uint8_t *bad_type)
{
	bool response = m->hdr.flags & GK_FLAG_R;
	const gk_exchange_rules *x = gk_exchange_rules_for(m->hdr.exchange, response);
	unsigned count[256] = { 0 };

	*bad_type = 0;
	if (!x)
		return GK_E_UNSUPPORTED;
	if (x->protected_ && (m->sk_index == SIZE_MAX || !m->decrypted))
		return GK_E_RULES;
	if (!x->protected_ && m->sk_index != SIZE_MAX)
		return *bad_type = m->pl.items[m->sk_index].type, GK_E_RULES;
	for (size_t i = 0; i < m->pl.n; i++) {
		const gk_payload *p = &m->pl.items[i];
		if (p->type == GK_PL_SK || p->type == GK_PL_SKF)
			continue;
		const gk_pl_rule *r = rule_for(x, p->type);
		if (!r || r->encrypted != p->encrypted || ++count[p->type] > r->max) {
			*bad_type = p->type;
			return GK_E_RULES;
		}
	}
	if (!notifies_placed(m)) {
		*bad_type = GK_PL_NOTIFY;
		return GK_E_RULES;
	}
	bool relaxed = response && (gk_msg_find_error(m) ||
				    (m->hdr.exchange == GK_EXCH_IKE_SA_INIT &&
				     gk_msg_find_notify(m, GK_N_COOKIE)));
	for (size_t i = 0; i < x->nrules && !relaxed; i++)
		if (count[x->rules[i].type] < x->rules[i].min) {
			*bad_type = x->rules[i].type;
			return GK_E_RULES;
		}
	if (!relaxed && x->check)
		return x->check(m);
	return GK_OK;
}
