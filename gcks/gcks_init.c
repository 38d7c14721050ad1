/* IKE_SA_INIT as responder (RFC 7296 1.2, 2.6 cookies, 2.23 NAT detection), with the KWA
 * transform of G-IKEv2 (RFC 9838 2.3). */
#define GK_LOG_SUBSYS GK_SUB_IKE /* log.h */
#include <netinet/in.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include "gcks_init.h"
#include "gcks_dh_cache.h"
#include "intermediate.h"
#include "gcks_refusal.h"
#include "gcks_resp.h"
#include "gcks_sa_table.h"
#include "gcks_sources.h"
#include "addr.h"
#include "exchange_rules.h"
#include "log.h"
#include "prf.h"

#define NONCE_LEN 32

/* Sends an unprotected response that carries only notifies (errors, COOKIE). */
static void send_plain(gk_gcks *g, const gk_msg *m, uint64_t spi_r, const gk_pl_notify *n, size_t nn,
		       const struct sockaddr *peer, const struct sockaddr *local)
{
	gk_out_pl pl[2];
	for (size_t i = 0; i < nn && i < 2; i++)
		pl[i] = (gk_out_pl){ GK_PL_NOTIFY, false, &n[i] };
	gk_msg_out o = { .hdr = { .spi_i = m->hdr.spi_i, .spi_r = spi_r, .exchange = GK_EXCH_IKE_SA_INIT,
				  .flags = GK_FLAG_R, .msg_id = 0 },
			 .outer = pl, .nouter = nn };
	gk_wbuf w;
	gk_wbuf_init(&w, GK_MAX_MESSAGE);
	if (gk_msg_build(&o, NULL, NULL, &w) == GK_OK)
		gcks_send(g, g->in_path, local, peer, w.data, w.len);
	gk_wbuf_free(&w);
}

static void refuse(gk_gcks *g, const gk_msg *m, uint16_t type, gk_chunk data,
		   const struct sockaddr *peer, const struct sockaddr *local)
{
	gk_pl_notify n = { .type = type, .data = data };
	/* COOKIE and INVALID_KE_PAYLOAD ask the peer to try again (RFC 7296 2.6, 1.2): negotiation,
	 * not worth a warning */
	if (type == GK_N_COOKIE || type == GK_N_INVALID_KE_PAYLOAD) {
		gk_dbg("IKE_SA_INIT answered with %s", gk_iana_str(GK_REG_NOTIFY, type));
		g->stats.refusals++;
	} else {
		gcks_refusal(g, peer, "IKE_SA_INIT: %s", gk_iana_str(GK_REG_NOTIFY, type));
	}
	send_plain(g, m, 0, &n, 1, peer, local);
}

/* Cookie = HMAC-SHA256(secret, Ni | IPi | SPIi) (RFC 7296 2.6), with a version octet. *mac is
 * the secret's keyed PRF, made at first use: a cookie costs one HMAC run and no key setup. */
static bool make_cookie(gk_prf_keyed **mac, const uint8_t secret[32], gk_chunk ni, const struct sockaddr *peer,
			uint64_t spi_i, uint8_t out[33])
{
	uint8_t addr_spi[16 + 8];
	size_t n = 0;
	if (!*mac && gk_prf_keyed_new(GK_PRF_HMAC_SHA2_256, GK_CHUNK(secret, 32), mac) != GK_OK)
		return false;
	if (peer->sa_family == AF_INET) {
		memcpy(addr_spi, &((const struct sockaddr_in *)(const void *)peer)->sin_addr, 4);
		n += 4;
	} else {
		memcpy(addr_spi, &((const struct sockaddr_in6 *)(const void *)peer)->sin6_addr, 16);
		n += 16;
	}
	gk_put_u64(addr_spi + n, spi_i);
	n += 8;
	out[0] = 1;
	const gk_chunk parts[] = { ni, GK_CHUNK(addr_spi, n) };
	return gk_prf_keyed_run(*mac, parts, 2, out + 1) == GK_OK;
}

/* Counts one IKE_SA_INIT request; true when this second or the last one saw more than
 * cookie_rate of them. */
static bool rate_high(gk_gcks *g)
{
	int64_t now = gcks_now(g);
	if (now - g->init_window_ms >= 1000) {
		g->init_count_prev = now - g->init_window_ms >= 2000 ? 0 : g->init_count;
		g->init_count = 0;
		g->init_window_ms = now;
	}
	g->init_count++;
	return g->init_count > g->cfg.cookie_rate || g->init_count_prev > g->cfg.cookie_rate;
}

/* Key exchanges that cost a responder several times Curve25519's 0.1 ms of CPU (OpenSSL 3.0,
 * measured by make bench: MODP 0.6-3 ms, ECP-384 2 ms, ECP-521 0.9 ms, Curve448 0.45 ms): only
 * a peer that showed it receives at its address gets them, and only costly_ke_rate a second,
 * so that many addresses answering cookies cannot spend our CPU on them. */
bool gcks_costly_ke(uint16_t group)
{
	return group == GK_KE_MODP_2048 || group == GK_KE_MODP_3072 || group == GK_KE_MODP_4096 ||
	       group == GK_KE_ECP_384 || group == GK_KE_ECP_521 || group == GK_KE_CURVE448;
}

/* Whether this second's budget of costly key exchanges has one left. */
static bool costly_left(gk_gcks *g)
{
	int64_t now = gcks_now(g);
	if (now - g->costly_window_ms >= 1000) {
		g->costly_window_ms = now;
		g->costly_count = 0;
	}
	return g->costly_count < g->cfg.costly_ke_rate;
}

/* Takes one costly key exchange from the source's budget, then from everyone's (the backstop
 * against many sources). Charged before the key exchange, since the cost is in trying it: a
 * request with an invalid KE value makes no SA and would otherwise cost its source nothing. */
bool gcks_costly_charge(gk_gcks *g, const struct sockaddr *peer)
{
	if (!costly_left(g) || !gcks_source_costly_take(g, peer))
		return false;
	g->costly_count++;
	return true;
}

/* RFC 7296 2.6: a COOKIE is asked for when many SAs are half-open, when requests come fast,
 * when this source already holds half-open SAs (so spoofed requests cannot use up a victim's
 * share, nor evict its SAs at the source's cap), and before a costly key exchange. */
static bool cookie_needed(gk_gcks *g, uint16_t ke_group, const struct sockaddr *peer)
{
	bool fast = rate_high(g);
	unsigned held = gcks_source_count(g, peer);
	return fast || g->nhalf >= g->cfg.cookie_threshold || gcks_costly_ke(ke_group) ||
	       held >= g->cfg.cookie_per_source || held >= g->cfg.half_open_per_source;
}

/* GK_OK when no cookie is needed or the request carries a valid one. */
static bool cookie_ok(gk_gcks *g, const gk_msg *m, gk_chunk ni, uint16_t ke_group, const struct sockaddr *peer,
		      uint8_t want[33])
{
	/* A failed HMAC (out of memory) accepts no cookie, not a wrong one. */
	bool made = make_cookie(&g->cookie_mac, g->cookie_secret, ni, peer, m->hdr.spi_i, want);
	if (!cookie_needed(g, ke_group, peer))
		return true;
	/* RFC 7296 2.6: the COOKIE notify must be the first payload */
	if (m->pl.n == 0 || m->pl.items[0].type != GK_PL_NOTIFY ||
	    m->pl.items[0].body->notify.type != GK_N_COOKIE)
		return false;
	gk_chunk c = m->pl.items[0].body->notify.data;
	if (c.len != 33)
		return false;
	if (made && CRYPTO_memcmp(c.ptr, want, 33) == 0)
		return true;
	/* only then the one made under the secret before the last rotation */
	uint8_t prev[33];
	return make_cookie(&g->cookie_mac_prev, g->cookie_prev, ni, peer, m->hdr.spi_i, prev) &&
	       CRYPTO_memcmp(c.ptr, prev, 33) == 0;
}

/* RFC 9370 2.2.1: the offer a request is matched against, without ADDKE when it did not announce
 * INTERMEDIATE_EXCHANGE_SUPPORTED; false then if gcksd --addke requires one (NO_PROPOSAL_CHOSEN). */
static bool int_offer(const gk_gcks *g, const gk_msg *m, gk_ike_offer *out)
{
	if (gk_msg_find_notify(m, GK_N_INTERMEDIATE_EXCHANGE_SUPPORTED)) {
		*out = g->cfg.offer;
		return true;
	}
	gk_ike_offer_no_addke(&g->cfg.offer, out);
	/* gcksd --addke: a request that cannot run them is not acceptable */
	for (size_t i = 0; i < GK_ADDKE_MAX; i++) {
		bool optional = false;
		for (size_t j = 0; j < g->cfg.offer.naddke[i]; j++)
			optional |= g->cfg.offer.addke[i][j] == GK_KE_NONE;
		if (g->cfg.offer.naddke[i] && !optional)
			return false;
	}
	return true;
}

/* The plan of additional exchanges on the new SA (gk_ike_int), when its suite has any. */
static gk_status int_setup(gcks_sa *sa)
{
	gk_ike_int ii = { 0 };
	if (!gk_ike_int_plan(&ii, sa->ike.suite.addke))
		return GK_E_UNSUPPORTED; /* the offer holds only methods of the table */
	if (!ii.naddke)
		return GK_OK;
	if (!(sa->ike.intermediate = calloc(1, sizeof(*sa->ike.intermediate))))
		return GK_E_NOMEM;
	*sa->ike.intermediate = ii;
	return GK_OK;
}

/* Prefers the group of the KE payload when the chosen proposal also offers it. */
static void prefer_ke_group(const gk_pl_sa *sa, uint8_t prop_num, const gk_ike_offer *offer,
			    uint16_t ke_group, gk_ike_suite *s)
{
	if (s->ke == ke_group || !gk_ike_offer_has_ke(offer, ke_group))
		return;
	for (size_t i = 0; i < sa->proposals.n; i++) {
		const gk_proposal *p = &sa->proposals.items[i];
		if (p->num != prop_num)
			continue;
		for (size_t j = 0; j < p->transforms.n; j++)
			if (p->transforms.items[j].type == GK_TT_KE && p->transforms.items[j].id == ke_group)
				s->ke = ke_group;
	}
}

/* RFC 9838 3.1: the KWK SHOULD NOT be shorter than any key it wraps. The group is not known
 * yet, so the strongest KWA of the chosen proposal is taken, not the peer's first. */
static void prefer_strong_kwa(const gk_pl_sa *sa, uint8_t prop_num, const gk_ike_offer *offer, gk_ike_suite *s)
{
	for (size_t i = 0; i < sa->proposals.n; i++) {
		const gk_proposal *p = &sa->proposals.items[i];
		if (p->num != prop_num || !s->kwa)
			continue;
		for (size_t j = 0; j < p->transforms.n; j++) {
			const gk_transform *t = &p->transforms.items[j];
			bool ours = false;
			for (size_t k = 0; k < offer->nkwa; k++)
				ours |= offer->kwa[k] == t->id;
			if (t->type == GK_TT_KWA && ours && gk_kwa_key_len(t->id) > gk_kwa_key_len(s->kwa))
				s->kwa = t->id;
		}
	}
}

static gk_status add_natd(gk_arena *a, gk_out_pl *pl, size_t *n, uint16_t type, uint64_t spi_i,
			  uint64_t spi_r, const struct sockaddr *addr)
{
	uint8_t *h = gk_arena_alloc(a, 20);
	gk_pl_notify *nt = gk_arena_alloc(a, sizeof(*nt));
	if (!h || !nt || gk_natd_hash(spi_i, spi_r, addr, h))
		return GK_E_NOMEM;
	*nt = (gk_pl_notify){ .type = type, .data = GK_CHUNK(h, 20) };
	pl[(*n)++] = (gk_out_pl){ GK_PL_NOTIFY, false, nt };
	return GK_OK;
}

/* RFC 7296 2.23: the initiator's NAT_DETECTION_SOURCE_IP hashes (one per address it may send
 * from) must include the hash of the address we saw, its DESTINATION_IP that of the one it
 * reached; the responder SPI is zero in the request and in its hashes. A peer that sent none
 * says nothing about NATs. */
static bool natd_mismatch(const gk_msg *m, uint64_t spi_i, const struct sockaddr *peer,
			  const struct sockaddr *local)
{
	const struct sockaddr *seen[2] = { peer, local };
	const uint16_t types[2] = { GK_N_NAT_DETECTION_SOURCE_IP, GK_N_NAT_DETECTION_DESTINATION_IP };
	for (int k = 0; k < 2; k++) {
		uint8_t h[20];
		bool any = false, match = false;
		if (gk_natd_hash(spi_i, 0, seen[k], h))
			return false;
		for (size_t i = 0; i < m->pl.n; i++) {
			const gk_payload *p = &m->pl.items[i];
			if (p->type != GK_PL_NOTIFY || p->body->notify.type != types[k])
				continue;
			any = true;
			match |= p->body->notify.data.len == 20 && !CRYPTO_memcmp(p->body->notify.data.ptr, h, 20);
		}
		if (any && !match)
			return true;
	}
	return false;
}

/* Builds the response payloads: SA, KE, Nr, NAT-D, feature notifies (USE_PPK when asked, RFC
 * 8784 3), CERTREQ. */
static gk_status build_response(gk_gcks *g, gcks_sa *sa, uint8_t prop_num, gk_arena *a,
				const struct sockaddr *peer, const struct sockaddr *local, gk_wbuf *out)
{
	static const uint8_t hash_algs[] = { 0, GK_HASH_SHA2_256, 0, GK_HASH_SHA2_384, 0, GK_HASH_SHA2_512,
					     0, GK_HASH_IDENTITY };
	gk_out_pl pl[12];
	size_t n = 0;
	gk_pl_sa *sap = gk_arena_alloc(a, sizeof(*sap));
	gk_pl_ke *ke = gk_arena_alloc(a, sizeof(*ke));
	gk_pl_bytes *nonce = gk_arena_alloc(a, sizeof(*nonce));
	gk_pl_notify *feat = gk_arena_calloc(a, 5, sizeof(*feat));
	gk_pl_cert *creq = gk_arena_alloc(a, sizeof(*creq));
	gk_wbuf pub;
	gk_status st;
	if (!sap || !ke || !nonce || !feat || !creq)
		return GK_E_NOMEM;
	if ((st = gk_ike_suite_to_sa(&sa->ike.suite, prop_num, a, sap)) != GK_OK)
		return st;
	gk_wbuf_init(&pub, 1024);
	st = gk_dh_public(sa->ike.dh, &pub);
	uint8_t *pubc = st ? NULL : gk_arena_dup(a, pub.data, pub.len);
	*ke = (gk_pl_ke){ .group = sa->ike.suite.ke, .data = GK_CHUNK(pubc, pub.len) };
	gk_wbuf_free(&pub);
	if (st || !pubc)
		return st ? st : GK_E_NOMEM;
	*nonce = (gk_pl_bytes){ gk_ike_sa_nr(&sa->ike) };
	pl[n++] = (gk_out_pl){ GK_PL_SA, false, sap };
	pl[n++] = (gk_out_pl){ GK_PL_KE, false, ke };
	pl[n++] = (gk_out_pl){ GK_PL_NONCE, false, nonce };
	if ((st = add_natd(a, pl, &n, GK_N_NAT_DETECTION_SOURCE_IP, sa->ike.spi_i, sa->ike.spi_r, local)) ||
	    (st = add_natd(a, pl, &n, GK_N_NAT_DETECTION_DESTINATION_IP, sa->ike.spi_i, sa->ike.spi_r, peer)))
		return st;
	feat[0] = (gk_pl_notify){ .type = GK_N_IKEV2_FRAGMENTATION_SUPPORTED };
	feat[1] = (gk_pl_notify){ .type = GK_N_CHILDLESS_IKEV2_SUPPORTED };
	feat[2] = (gk_pl_notify){ .type = GK_N_SIGNATURE_HASH_ALGORITHMS,
				  .data = GK_CHUNK(hash_algs, sizeof(hash_algs)) };
	feat[3] = (gk_pl_notify){ .type = GK_N_USE_PPK };
	feat[4] = (gk_pl_notify){ .type = GK_N_INTERMEDIATE_EXCHANGE_SUPPORTED };
	for (int i = 0; i < (sa->ppk_offered ? 4 : 3); i++)
		pl[n++] = (gk_out_pl){ GK_PL_NOTIFY, false, &feat[i] };
	if (sa->int_offered) /* RFC 9242 3.2: answered in kind */
		pl[n++] = (gk_out_pl){ GK_PL_NOTIFY, false, &feat[4] };
	if (g->have_ca_keyid) {
		*creq = (gk_pl_cert){ .encoding = GK_CERT_X509_SIGNATURE, .data = GK_CHUNK(g->ca_keyid, 20) };
		pl[n++] = (gk_out_pl){ GK_PL_CERTREQ, false, creq };
	}
	gk_msg_out o = { .hdr = { .spi_i = sa->ike.spi_i, .spi_r = sa->ike.spi_r,
				  .exchange = GK_EXCH_IKE_SA_INIT, .flags = GK_FLAG_R },
			 .outer = pl, .nouter = n };
	return gk_msg_build(&o, NULL, NULL, out);
}

/* RFC 7296 2.1 asks for the same answer to a retransmitted request; a replayed copy must not
 * make us a reflector, so each SA answers again at most init_resend_max times, and not more
 * often than every init_resend_interval_ms. */
static void resend(gk_gcks *g, gcks_sa *sa, const struct sockaddr *peer, const struct sockaddr *local)
{
	int64_t now = gcks_now(g);
	if (sa->init_resends >= g->cfg.init_resend_max || now - sa->init_resend_ms < g->cfg.init_resend_interval_ms) {
		g->stats.resends_limited++;
		return;
	}
	sa->init_resends++;
	sa->init_resend_ms = now;
	gk_chunk resp = gk_ike_sa_init_resp(&sa->ike);
	gcks_send(g, g->in_path, local, peer, resp.ptr, resp.len);
}

/* A source at its cap, or a full table, makes room by evicting its oldest half-open SA rather
 * than refusing the new one: refusing would let a flood that fills it (or a host sharing a
 * member's address) lock every member out, while the oldest SA has had all the time a member
 * needs to continue. Called only for a new SA that is ready to go in, so a request that makes
 * no SA evicts nothing. */
static void make_room(gk_gcks *g, const struct sockaddr *peer)
{
	gcks_sa *old;
	while (gcks_source_count(g, peer) >= g->cfg.half_open_per_source && (old = gcks_source_oldest(g, peer))) {
		g->stats.source_evicted++;
		gcks_sa_remove(g, old);
	}
	while (g->ho_oldest && (g->nhalf >= g->cfg.half_open_max || g->nsas >= g->cfg.max_sas)) {
		g->stats.half_open_evicted++;
		gcks_sa_remove(g, g->ho_oldest);
	}
}

/* Creates the half-open SA: our key pair, the shared secret and all keys, with our nonce nr. */
static gk_status start_sa(gk_gcks *g, gcks_sa *sa, const gk_msg *m, const gk_pl_ke *ke, gk_chunk ni,
			  const uint8_t nr[NONCE_LEN])
{
	gk_wbuf shared;
	gk_status st = gcks_dh_for_init(g, sa->ike.suite.ke, &sa->ike.dh);
	if (st)
		return st;
	gk_wbuf_init(&shared, 1024);
	st = gk_dh_derive(sa->ike.dh, ke->data, &shared);
	if (!st)
		st = gk_ike_sa_set_nonces(&sa->ike, ni, GK_CHUNK(nr, NONCE_LEN));
	if (!st) {
		sa->ike.spi_i = m->hdr.spi_i;
		/* keys need only the secret and nonces; the DH key pair stays for the KE payload */
		st = gk_ike_sa_derive_keys(&sa->ike, ni, GK_CHUNK(nr, NONCE_LEN), gk_wbuf_chunk(&shared));
	}
	if (!st) /* a debugging aid, off unless --ike-keylog */
		gk_ike_sa_keylog(g->env.keylog, &sa->ike);
	gk_wbuf_free(&shared);
	return st;
}

void gcks_ike_sa_init(gk_gcks *g, gk_chunk data, const struct sockaddr *peer, const struct sockaddr *local)
{
	gk_msg m;
	uint8_t bad, cookie[33], fresh[8 + NONCE_LEN]; /* our SPI, then our nonce */
	gk_arena a;
	gk_wbuf resp;
	gk_arena_init(&a, 0);
	gk_wbuf_init(&resp, GK_MAX_MESSAGE);
	gk_status st = gk_msg_parse(&m, data);

	/* a retransmitted request gets the same answer */
	gcks_sa *old = gcks_sa_find_half_open(g, m.hdr.spi_i, peer);
	gk_chunk old_req = old ? gk_ike_sa_init_req(&old->ike) : GK_CHUNK_EMPTY;
	if (old_req.len && data.len == old_req.len && !memcmp(data.ptr, old_req.ptr, data.len)) {
		resend(g, old, peer, local);
		goto out;
	}
	if (st == GK_E_UNSUPPORTED_CRITICAL) {
		uint8_t t = m.bad_critical;
		refuse(g, &m, GK_N_UNSUPPORTED_CRITICAL_PAYLOAD, GK_CHUNK(&t, 1), peer, local);
		goto out;
	}
	if (st || gk_exchange_rules_check(&m, &bad)) {
		g->stats.dropped++;
		goto out;
	}
	gcks_log_msg(g, "received", &m, peer);
	const gk_pl_sa *sap = &gk_msg_find(&m, GK_PL_SA)->body->sa;
	const gk_pl_ke *ke = &gk_msg_find(&m, GK_PL_KE)->body->ke;
	gk_chunk ni = gk_msg_find(&m, GK_PL_NONCE)->body->bytes.data;
	if (ni.len < 16 || ni.len > 256) {
		refuse(g, &m, GK_N_INVALID_SYNTAX, GK_CHUNK_EMPTY, peer, local);
		goto out;
	}
	if (!cookie_ok(g, &m, ni, ke->group, peer, cookie)) {
		g->stats.cookies_sent++;
		refuse(g, &m, GK_N_COOKIE, GK_CHUNK(cookie, sizeof(cookie)), peer, local);
		goto out;
	}
	gk_ike_suite suite;
	uint8_t prop_num;
	gk_ike_offer offer;
	if (!int_offer(g, &m, &offer) || gk_ike_select(sap, &offer, &suite, &prop_num)) {
		refuse(g, &m, GK_N_NO_PROPOSAL_CHOSEN, GK_CHUNK_EMPTY, peer, local);
		goto out;
	}
	prefer_ke_group(sap, prop_num, &g->cfg.offer, ke->group, &suite);
	prefer_strong_kwa(sap, prop_num, &g->cfg.offer, &suite);
	if (ke->group != suite.ke) {
		uint8_t grp[2];
		gk_put_u16(grp, suite.ke);
		refuse(g, &m, GK_N_INVALID_KE_PAYLOAD, GK_CHUNK(grp, 2), peer, local);
		goto out;
	}
	if (gcks_costly_ke(suite.ke) && !gcks_costly_charge(g, peer)) {
		g->stats.costly_limited++;
		g->stats.dropped++;
		goto out;
	}
	/* our SPI and nonce (RFC 7296 2.6, 2.10) in one draw: each call into OpenSSL's generator
	 * costs as much as the octets of many */
	uint64_t spi;
	if (gk_rand_bytes(g->env.rnd, fresh, sizeof(fresh))) {
		g->stats.dropped++;
		goto out;
	}
	memcpy(&spi, fresh, sizeof(spi));
	gcks_sa *sa = gcks_sa_new(g, spi);
	if (!sa) {
		g->stats.dropped++;
		goto out;
	}
	sa->ike.suite = suite;
	sa->ike.frag_ok = gk_msg_find_notify(&m, GK_N_IKEV2_FRAGMENTATION_SUPPORTED) != NULL;
	sa->ppk_offered = gk_msg_find_notify(&m, GK_N_USE_PPK) != NULL; /* RFC 8784 3: answered in kind */
	sa->int_offered = gk_msg_find_notify(&m, GK_N_INTERMEDIATE_EXCHANGE_SUPPORTED) != NULL;
	memcpy(&sa->ike.peer, peer, peer->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
	memcpy(&sa->ike.local, local, local->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
	st = start_sa(g, sa, &m, ke, ni, fresh + 8);
	if (!st)
		st = int_setup(sa);
	if (st == GK_E_BAD_KE) {
		/* RFC 6989: an invalid public value ends the exchange */
		gk_ike_sa_free(&sa->ike);
		free(sa);
		refuse(g, &m, GK_N_INVALID_SYNTAX, GK_CHUNK_EMPTY, peer, local);
		goto out;
	}
	if (!st)
		st = build_response(g, sa, prop_num, &a, peer, local, &resp);
	if (!st)
		st = gk_ike_sa_keep_init(&sa->ike, data, gk_wbuf_chunk(&resp));
	if (st) {
		gk_err("IKE_SA_INIT: %s", gk_status_str(st));
		gk_ike_sa_free(&sa->ike);
		free(sa);
		goto out;
	}
	gk_dh_free(sa->ike.dh);
	sa->ike.dh = NULL;
	sa->ike.state = GK_IKE_INIT_DONE;
	sa->ike.msgid_in = 1;
	sa->init_resend_ms = gcks_now(g);
	/* the source proved its address (a COOKIE past its first cookie_per_source): it keeps no
	 * more than its share of half-open SAs */
	make_room(g, peer);
	if (g->nsas >= g->cfg.max_sas || gcks_sa_insert(g, sa) != GK_OK) {
		gk_ike_sa_free(&sa->ike);
		free(sa);
		g->stats.dropped++;
		goto out;
	}
	if (natd_mismatch(&m, sa->ike.spi_i, peer, local)) {
		char at[64];
		g->stats.nat_detected++;
		gk_info("a NAT lies between us and the initiator at %s (RFC 7296 2.23)",
			gk_addr_text(peer, at, sizeof(at)));
	}
	gcks_send(g, g->in_path, local, peer, resp.data, resp.len);
out:
	OPENSSL_cleanse(fresh, sizeof(fresh)); /* the nonce is a secret input of the keys */
	gk_wbuf_free(&resp);
	gk_arena_free(&a);
	gk_msg_free(&m);
}
