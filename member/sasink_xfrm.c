/* The `xfrm` SA sink: group SAs and their policies in the Linux kernel, over NETLINK_XFRM with
 * libmnl (no iproute2).
 *
 * What gets installed, per Data-Security SA (RFC 9838):
 *   SA      XFRM_MSG_NEWSA: daddr = the group address (start of the destination selector),
 *           saddr = the source selector when it is one address (else 0 = any sender; an outbound
 *           tunnel SA then takes the local address the kernel would use towards the group),
 *           SPI, ESP or AH, keys split per RFC 9838 3.4 (GCM/ChaCha20/CTR/GMAC: the 4-octet
 *           salt follows the key, as the kernel expects), mode tunnel (address preservation,
 *           RFC 5374: the outer addresses are the SA's, i.e. the inner ones) or transport,
 *           replay window 0 for 32-bit Unspecified Numbers (RFC 9838 2.6) and for outbound-only
 *           SAs, else 32 (ESN: 128), soft lifetime at 90 % and hard at 100 % of
 *           GSA_KEY_LIFETIME.
 *   policy  XFRM_MSG_NEWPOLICY per selector block and direction (in + fwd for receivers, out for
 *           senders) with one template (proto, daddr, reqid; SPI for out only).
 *
 * Ownership marker: every SA and policy template gmd writes has a reqid in
 * 0x47490001..0x4749ffff (GK_SASINK_REQID_BASE, "GI"), and its policies have priority
 * GK_SASINK_PRIORITY (450000). gk_sasink_flush_stale dumps SAs and policies and deletes only
 * entries carrying the marker (policies: both), so SAs and policies of strongSwan, libreswan
 * or an admin are never touched. One gmd per network namespace: a second gmd in the same
 * namespace would take the first one's entries for stale ones. Priority 450000 places group
 * policies after the ordinary policies of strongSwan (at most 400000) and libreswan (below
 * 65536): a GCKS cannot take traffic away from the host's own IPsec daemon. */
#define GK_LOG_SUBSYS GK_SUB_KERNEL /* log.h */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <openssl/crypto.h>
#include "sasink_xfrm.h"
#include "algs.h"
#include "iana.h"
#include "ikekeys.h"
#include "log.h"
#include "status.h"

static uint16_t af_of(uint8_t family)
{
	return family == 6 ? AF_INET6 : AF_INET;
}

static uint8_t ipproto_of(uint8_t gk_proto)
{
	return gk_proto == GK_PROTO_AH ? IPPROTO_AH : IPPROTO_ESP;
}

/* ---- algorithms ---- */

gk_status gk_xfrm_algs_of(const gk_group_sa *sa, gk_xfrm_algs *out)
{
	memset(out, 0, sizeof(*out));
	if (sa->proto == GK_PROTO_ESP) {
		switch (sa->encr) {
		case GK_ENCR_AES_GCM_8:
		case GK_ENCR_AES_GCM_12:
		case GK_ENCR_AES_GCM_16:
			snprintf(out->aead, sizeof(out->aead), "rfc4106(gcm(aes))");
			out->icv_bits = (unsigned)gk_encr_lookup(sa->encr)->icv_len * 8;
			break;
		case GK_ENCR_CHACHA20_POLY1305:
			snprintf(out->aead, sizeof(out->aead), "rfc7539esp(chacha20,poly1305)");
			out->icv_bits = 128;
			break;
		case GK_ENCR_NULL_AUTH_AES_GMAC:
			snprintf(out->aead, sizeof(out->aead), "rfc4543(gcm(aes))");
			out->icv_bits = 128;
			break;
		case GK_ENCR_AES_CBC:
			snprintf(out->crypt, sizeof(out->crypt), "cbc(aes)");
			break;
		case GK_ENCR_AES_CTR:
			snprintf(out->crypt, sizeof(out->crypt), "rfc3686(ctr(aes))");
			break;
		default:
			return GK_E_UNSUPPORTED; /* incl. the implicit-IV transforms (RFC 9838 2.7) */
		}
		if (out->aead[0] && sa->integ)
			return GK_E_UNSUPPORTED;
		if (out->crypt[0] && !sa->integ)
			return GK_E_UNSUPPORTED;
	} else if (sa->proto == GK_PROTO_AH) {
		if (sa->encr || !sa->integ)
			return GK_E_UNSUPPORTED;
	} else {
		return GK_E_UNSUPPORTED;
	}
	if (!sa->integ)
		return GK_OK;
	static const struct { uint16_t id; const char *name; unsigned trunc; } auth[] = {
		{ GK_INTEG_HMAC_SHA1_96, "hmac(sha1)", 96 },
		{ GK_INTEG_AES_XCBC_96, "xcbc(aes)", 96 },
		{ GK_INTEG_AES_CMAC_96, "cmac(aes)", 96 },
		{ GK_INTEG_HMAC_SHA2_256_128, "hmac(sha256)", 128 },
		{ GK_INTEG_HMAC_SHA2_384_192, "hmac(sha384)", 192 },
		{ GK_INTEG_HMAC_SHA2_512_256, "hmac(sha512)", 256 },
	};
	for (size_t i = 0; i < sizeof(auth) / sizeof(auth[0]); i++) {
		if (auth[i].id == sa->integ) {
			snprintf(out->auth, sizeof(out->auth), "%s", auth[i].name);
			out->trunc_bits = auth[i].trunc;
			return GK_OK;
		}
	}
	return GK_E_UNSUPPORTED;
}

/* ---- selectors: ranges as CIDR prefixes and port blocks ---- */

typedef struct prefix {
	uint8_t addr[16];
	uint8_t plen;
} prefix;

static bool bit_set(const uint8_t *a, size_t n, unsigned k) /* k from the least significant */
{
	return (a[n - 1 - k / 8] >> (k % 8)) & 1;
}

/* a with its k low bits set */
static void low_bits_set(const uint8_t *a, size_t n, unsigned k, uint8_t *out)
{
	memcpy(out, a, n);
	for (unsigned i = 0; i < k; i++)
		out[n - 1 - i / 8] |= (uint8_t)(1u << (i % 8));
}

static void incr(uint8_t *a, size_t n)
{
	for (size_t i = n; i-- > 0;)
		if (++a[i])
			return;
}

/* Minimal list of prefixes covering [start, end] exactly. Returns the count (may exceed max). */
static size_t addr_blocks(const uint8_t *start, const uint8_t *end, size_t n, prefix *out, size_t max)
{
	uint8_t cur[16], hi[16];
	unsigned nbits = (unsigned)n * 8;
	size_t count = 0;
	if (memcmp(start, end, n) > 0)
		return 0;
	memcpy(cur, start, n);
	for (;;) {
		unsigned k = 0;
		while (k < nbits && !bit_set(cur, n, k)) {
			low_bits_set(cur, n, k + 1, hi);
			if (memcmp(hi, end, n) > 0)
				break;
			k++;
		}
		if (count < max) {
			memset(&out[count], 0, sizeof(out[count]));
			memcpy(out[count].addr, cur, n);
			out[count].plen = (uint8_t)(nbits - k);
		}
		count++;
		low_bits_set(cur, n, k, hi);
		if (!memcmp(hi, end, n))
			break;
		memcpy(cur, hi, n);
		incr(cur, n);
	}
	return count;
}

typedef struct portblk {
	uint16_t port, mask;
} portblk;

static size_t port_blocks(uint16_t lo, uint16_t hi, portblk *out, size_t max)
{
	size_t count = 0;
	uint32_t cur = lo;
	if (lo > hi)
		return 0;
	if (lo == 0 && hi == 0xffff) { /* any */
		if (max)
			out[0] = (portblk){ 0, 0 };
		return 1;
	}
	while (cur <= hi) {
		unsigned k = 0;
		while (k < 16 && !(cur & (1u << k)) && (cur | ((2u << k) - 1)) <= hi)
			k++;
		if (count < max)
			out[count] = (portblk){ (uint16_t)cur, (uint16_t)~((1u << k) - 1) };
		count++;
		cur = (cur | ((1u << k) - 1)) + 1;
	}
	return count;
}

size_t gk_xfrm_selectors(const gk_ts_spec *src, const gk_ts_spec *dst, struct xfrm_selector *out,
			 size_t max)
{
	enum { M = GK_XFRM_MAX_SELECTORS + 1 };
	prefix sp[M], dp[M];
	portblk spb[M], dpb[M];
	size_t n = gk_ts_addr_len(dst->family);
	uint8_t proto = dst->ip_proto ? dst->ip_proto : src->ip_proto;
	size_t ns = addr_blocks(src->start, src->end, n, sp, M);
	size_t nd = addr_blocks(dst->start, dst->end, n, dp, M);
	size_t nsp = 1, ndp = 1;
	spb[0] = dpb[0] = (portblk){ 0, 0 };
	if (proto) { /* ports mean nothing without a protocol */
		nsp = port_blocks(src->port_lo, src->port_hi, spb, M);
		ndp = port_blocks(dst->port_lo, dst->port_hi, dpb, M);
	}
	if (!ns || !nd || !nsp || !ndp)
		return 0;
	if (ns > M || nd > M || nsp > M || ndp > M || ns * nd * nsp * ndp > GK_XFRM_MAX_SELECTORS)
		return ns * nd * nsp * ndp; /* too many: the count only */
	size_t total = 0;
	for (size_t a = 0; a < ns; a++)
		for (size_t b = 0; b < nd; b++)
			for (size_t c = 0; c < nsp; c++)
				for (size_t d = 0; d < ndp; d++, total++) {
					if (total >= max)
						continue;
					struct xfrm_selector *s = &out[total];
					memset(s, 0, sizeof(*s));
					memcpy(&s->saddr, sp[a].addr, n);
					memcpy(&s->daddr, dp[b].addr, n);
					s->prefixlen_s = sp[a].plen;
					s->prefixlen_d = dp[b].plen;
					s->family = af_of(dst->family);
					s->proto = proto;
					s->sport = htons(spb[c].port);
					s->sport_mask = htons(spb[c].mask);
					s->dport = htons(dpb[d].port);
					s->dport_mask = htons(dpb[d].mask);
				}
	return total;
}

/* The SA's own selector: the smallest prefix covering each side (policies do the exact match). */
static void cover_selector(const gk_ts_spec *src, const gk_ts_spec *dst, struct xfrm_selector *s)
{
	size_t n = gk_ts_addr_len(dst->family);
	const gk_ts_spec *side[2] = { src, dst };
	memset(s, 0, sizeof(*s));
	s->family = af_of(dst->family);
	for (int i = 0; i < 2; i++) {
		const gk_ts_spec *t = side[i];
		unsigned plen = 0;
		while (plen < n * 8 && bit_set(t->start, n, (unsigned)n * 8 - 1 - plen) ==
					       bit_set(t->end, n, (unsigned)n * 8 - 1 - plen))
			plen++;
		uint8_t a[16] = { 0 };
		for (unsigned b = 0; b < plen; b++)
			if (bit_set(t->start, n, (unsigned)n * 8 - 1 - b))
				a[b / 8] |= (uint8_t)(0x80u >> (b % 8));
		if (i == 0) {
			memcpy(&s->saddr, a, n);
			s->prefixlen_s = (uint8_t)plen;
		} else {
			memcpy(&s->daddr, a, n);
			s->prefixlen_d = (uint8_t)plen;
		}
	}
	s->proto = dst->ip_proto ? dst->ip_proto : src->ip_proto;
	if (s->proto) {
		portblk b;
		if (port_blocks(src->port_lo, src->port_hi, &b, 1) == 1) {
			s->sport = htons(b.port);
			s->sport_mask = htons(b.mask);
		}
		if (port_blocks(dst->port_lo, dst->port_hi, &b, 1) == 1) {
			s->dport = htons(b.port);
			s->dport_mask = htons(b.mask);
		}
	}
}

static void lifetime_inf(struct xfrm_lifetime_cfg *l)
{
	l->soft_byte_limit = l->hard_byte_limit = XFRM_INF;
	l->soft_packet_limit = l->hard_packet_limit = XFRM_INF;
}

/* ---- messages ---- */

static struct nlmsghdr *msg_start(uint8_t *buf, size_t cap, uint16_t type, uint16_t flags, uint32_t seq)
{
	if (cap < MNL_NLMSG_HDRLEN + sizeof(struct xfrm_usersa_info)) /* the largest fixed part */
		return NULL;
	memset(buf, 0, MNL_NLMSG_HDRLEN);
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = flags;
	nlh->nlmsg_seq = seq;
	return nlh;
}

gk_status gk_xfrm_build_newsa(const gk_ksa *k, uint32_t seq, uint8_t *buf, size_t cap, size_t *len,
			      char *err, size_t errlen)
{
	if (!k || !k->in || !k->in->sa || !buf || !len)
		return GK_E_INVAL;
	const gk_group_sa *sa = k->in->sa;
	gk_xfrm_algs algs;
	if (gk_xfrm_algs_of(sa, &algs)) {
		gk_seterr(err, errlen, "no kernel algorithm for %s%s%s", sa->encr ? gk_iana_str(GK_REG_ENCR, sa->encr) : "",
		       sa->encr && sa->integ ? " + " : "", sa->integ ? gk_iana_str(GK_REG_INTEG, sa->integ) : "");
		return GK_E_UNSUPPORTED;
	}
	gk_group_keys keys;
	if (gk_group_keys_split(GK_CHUNK(sa->keymat, sa->keymat_len), sa->proto, sa->encr, sa->encr_key_bits,
				sa->integ, 0, &keys)) {
		gk_seterr(err, errlen, "keying material of %zu octets does not fit the transforms", sa->keymat_len);
		return GK_E_MALFORMED;
	}
	struct nlmsghdr *nlh = msg_start(buf, cap, XFRM_MSG_NEWSA, NLM_F_REQUEST | NLM_F_ACK, seq);
	if (!nlh)
		return GK_E_TOO_BIG;
	struct xfrm_usersa_info *u = mnl_nlmsg_put_extra_header(nlh, sizeof(*u));
	size_t n = gk_ts_addr_len(k->family);
	cover_selector(&sa->src, &sa->dst, &u->sel);
	memcpy(&u->id.daddr, k->daddr, n);
	memcpy(&u->id.spi, k->spi, 4); /* network order as received */
	u->id.proto = ipproto_of(k->proto);
	memcpy(&u->saddr, k->saddr, n);
	lifetime_inf(&u->lft);
	if (sa->lifetime) {
		u->lft.hard_add_expires_seconds = sa->lifetime;
		u->lft.soft_add_expires_seconds = sa->lifetime - sa->lifetime / 10;
	}
	u->reqid = k->reqid;
	u->family = af_of(k->family);
	u->mode = k->transport ? XFRM_MODE_TRANSPORT : XFRM_MODE_TUNNEL;
	bool inbound = (k->dirs & (GK_DIR_IN | GK_DIR_FWD)) != 0;
	bool replay = inbound && sa->sn != GK_SN_UNSPEC32;
	if (sa->sn == GK_SN_ESN) {
		/* ESN needs the bitmap form; the kernel wants a window of at least 1 there even for
		 * an SA only used outbound (it never checks replays on output). */
		struct {
			struct xfrm_replay_state_esn rs;
			uint32_t bmp[4];
		} esn;
		memset(&esn, 0, sizeof(esn));
		esn.rs.bmp_len = 4;
		esn.rs.replay_window = replay ? 128 : 1;
		u->flags |= XFRM_STATE_ESN;
		u->replay_window = 0;
		if (!mnl_attr_put_check(nlh, cap, XFRMA_REPLAY_ESN_VAL, sizeof(esn), &esn))
			return GK_E_TOO_BIG;
	} else {
		u->replay_window = replay ? 32 : 0;
	}

	uint8_t tmp[sizeof(struct xfrm_algo_auth) + GK_MAX_KEY * 2];
	gk_status st = GK_OK;
	if (algs.aead[0]) {
		struct xfrm_algo_aead *a = (struct xfrm_algo_aead *)tmp;
		if (keys.enc.len > GK_MAX_KEY * 2)
			return GK_E_TOO_BIG;
		memset(tmp, 0, sizeof(tmp));
		snprintf(a->alg_name, sizeof(a->alg_name), "%s", algs.aead);
		a->alg_key_len = (unsigned)keys.enc.len * 8;   /* key | 4-octet salt */
		a->alg_icv_len = algs.icv_bits;
		memcpy(a->alg_key, keys.enc.ptr, keys.enc.len);
		if (!mnl_attr_put_check(nlh, cap, XFRMA_ALG_AEAD, sizeof(*a) + keys.enc.len, a))
			st = GK_E_TOO_BIG;
	}
	if (!st && algs.crypt[0]) {
		struct xfrm_algo *a = (struct xfrm_algo *)tmp;
		if (keys.enc.len > GK_MAX_KEY * 2)
			return GK_E_TOO_BIG;
		memset(tmp, 0, sizeof(tmp));
		snprintf(a->alg_name, sizeof(a->alg_name), "%s", algs.crypt);
		a->alg_key_len = (unsigned)keys.enc.len * 8;   /* AES-CTR: key | 4-octet nonce */
		memcpy(a->alg_key, keys.enc.ptr, keys.enc.len);
		if (!mnl_attr_put_check(nlh, cap, XFRMA_ALG_CRYPT, sizeof(*a) + keys.enc.len, a))
			st = GK_E_TOO_BIG;
	}
	if (!st && algs.auth[0]) {
		struct xfrm_algo_auth *a = (struct xfrm_algo_auth *)tmp;
		if (keys.integ.len > GK_MAX_KEY * 2)
			return GK_E_TOO_BIG;
		memset(tmp, 0, sizeof(tmp));
		snprintf(a->alg_name, sizeof(a->alg_name), "%s", algs.auth);
		a->alg_key_len = (unsigned)keys.integ.len * 8;
		a->alg_trunc_len = algs.trunc_bits;
		memcpy(a->alg_key, keys.integ.ptr, keys.integ.len);
		if (!mnl_attr_put_check(nlh, cap, XFRMA_ALG_AUTH_TRUNC, sizeof(*a) + keys.integ.len, a))
			st = GK_E_TOO_BIG;
	}
	OPENSSL_cleanse(tmp, sizeof(tmp));
	if (st)
		return st;
	*len = nlh->nlmsg_len;
	return GK_OK;
}

gk_status gk_xfrm_build_delsa(const gk_ksa *k, uint32_t seq, uint8_t *buf, size_t cap, size_t *len)
{
	if (!k || !buf || !len)
		return GK_E_INVAL;
	struct nlmsghdr *nlh = msg_start(buf, cap, XFRM_MSG_DELSA, NLM_F_REQUEST | NLM_F_ACK, seq);
	if (!nlh)
		return GK_E_TOO_BIG;
	struct xfrm_usersa_id *id = mnl_nlmsg_put_extra_header(nlh, sizeof(*id));
	memcpy(&id->daddr, k->daddr, gk_ts_addr_len(k->family));
	memcpy(&id->spi, k->spi, 4);
	id->family = af_of(k->family);
	id->proto = ipproto_of(k->proto);
	*len = nlh->nlmsg_len;
	return GK_OK;
}

static uint8_t xfrm_dir(unsigned dir)
{
	return dir == GK_DIR_OUT ? XFRM_POLICY_OUT : dir == GK_DIR_FWD ? XFRM_POLICY_FWD : XFRM_POLICY_IN;
}

gk_status gk_xfrm_build_policy(gk_kpol_op op, const gk_kpol *p, const struct xfrm_selector *sel,
			       uint32_t seq, uint8_t *buf, size_t cap, size_t *len)
{
	if (!p || !sel || !buf || !len)
		return GK_E_INVAL;
	struct nlmsghdr *nlh;
	if (op == GK_KPOL_DEL) {
		nlh = msg_start(buf, cap, XFRM_MSG_DELPOLICY, NLM_F_REQUEST | NLM_F_ACK, seq);
		if (!nlh)
			return GK_E_TOO_BIG;
		struct xfrm_userpolicy_id *id = mnl_nlmsg_put_extra_header(nlh, sizeof(*id));
		id->sel = *sel;
		id->dir = xfrm_dir(p->dir);
		*len = nlh->nlmsg_len;
		return GK_OK;
	}
	/* NEWPOLICY fails with EEXIST on a policy with the same selector and direction (an admin's
	 * or another daemon's is never replaced); UPDPOLICY replaces ours atomically. */
	nlh = msg_start(buf, cap, op == GK_KPOL_NEW ? XFRM_MSG_NEWPOLICY : XFRM_MSG_UPDPOLICY,
			NLM_F_REQUEST | NLM_F_ACK, seq);
	if (!nlh)
		return GK_E_TOO_BIG;
	struct xfrm_userpolicy_info *pi = mnl_nlmsg_put_extra_header(nlh, sizeof(*pi));
	pi->sel = *sel;
	lifetime_inf(&pi->lft);
	pi->priority = GK_SASINK_PRIORITY;
	pi->dir = xfrm_dir(p->dir);
	pi->action = XFRM_POLICY_ALLOW;
	pi->share = XFRM_SHARE_ANY;
	struct xfrm_user_tmpl t;
	memset(&t, 0, sizeof(t));
	size_t n = gk_ts_addr_len(p->family);
	memcpy(&t.id.daddr, p->daddr, n);
	memcpy(&t.id.spi, p->spi, 4);
	t.id.proto = ipproto_of(p->proto);
	t.family = af_of(p->family);
	memcpy(&t.saddr, p->saddr, n);
	t.reqid = p->reqid;
	t.mode = p->transport ? XFRM_MODE_TRANSPORT : XFRM_MODE_TUNNEL;
	t.share = XFRM_SHARE_ANY;
	t.aalgos = t.ealgos = t.calgos = ~0u;
	if (!mnl_attr_put_check(nlh, cap, XFRMA_TMPL, sizeof(t), &t))
		return GK_E_TOO_BIG;
	*len = nlh->nlmsg_len;
	return GK_OK;
}

static bool reqid_ours(uint32_t reqid)
{
	return (reqid & GK_SASINK_REQID_MASK) == GK_SASINK_REQID_BASE && reqid != GK_SASINK_REQID_BASE;
}

bool gk_xfrm_sa_is_ours(const struct nlmsghdr *nlh)
{
	if (nlh->nlmsg_type != XFRM_MSG_NEWSA || mnl_nlmsg_get_payload_len(nlh) < sizeof(struct xfrm_usersa_info))
		return false;
	const struct xfrm_usersa_info *u = mnl_nlmsg_get_payload(nlh);
	return reqid_ours(u->reqid);
}

static int tmpl_cb(const struct nlattr *a, void *data)
{
	bool *ours = data;
	if (mnl_attr_get_type(a) != XFRMA_TMPL)
		return MNL_CB_OK;
	size_t n = mnl_attr_get_payload_len(a) / sizeof(struct xfrm_user_tmpl);
	const struct xfrm_user_tmpl *t = mnl_attr_get_payload(a);
	for (size_t i = 0; i < n; i++) {
		struct xfrm_user_tmpl c;
		memcpy(&c, &t[i], sizeof(c));
		if (reqid_ours(c.reqid))
			*ours = true;
	}
	return MNL_CB_OK;
}

bool gk_xfrm_policy_is_ours(const struct nlmsghdr *nlh)
{
	if (nlh->nlmsg_type != XFRM_MSG_NEWPOLICY && nlh->nlmsg_type != XFRM_MSG_UPDPOLICY)
		return false;
	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(struct xfrm_userpolicy_info))
		return false;
	const struct xfrm_userpolicy_info *pi = mnl_nlmsg_get_payload(nlh);
	if (pi->priority != GK_SASINK_PRIORITY && pi->priority != GK_SASINK_PRIORITY_OLD)
		return false;
	bool ours = false;
	mnl_attr_parse(nlh, sizeof(*pi), tmpl_cb, &ours);
	return ours;
}

/* ---- netlink I/O ---- */

typedef struct xfrm_be {
	struct mnl_socket *nl;
	uint32_t portid, seq;
	uint8_t buf[GK_XFRM_MSG_MAX];
	uint8_t rbuf[32768];         /* >= MNL_SOCKET_BUFFER_SIZE (8 KiB with 4 KiB pages) */
} xfrm_be;

static int ack_attr_cb(const struct nlattr *a, void *data)
{
	const char **msg = data;
	if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
		*msg = mnl_attr_get_str(a);
	return MNL_CB_OK;
}

/* Sends one request and waits for its ack. Returns the kernel's errno (0 = done); kmsg gets
 * "strerror (extended ack message)". */
static int transact(xfrm_be *b, uint8_t *msg, size_t len, char *kmsg, size_t kmsglen)
{
	struct nlmsghdr *req = (struct nlmsghdr *)msg;
	uint32_t seq = req->nlmsg_seq;
	ssize_t r = mnl_socket_sendto(b->nl, msg, len);
	OPENSSL_cleanse(msg, len);
	if (r < 0) {
		int e = errno;
		gk_seterr(kmsg, kmsglen, "netlink send: %s", strerror(e));
		return e ? e : EIO;
	}
	for (;;) {
		r = mnl_socket_recvfrom(b->nl, b->rbuf, sizeof(b->rbuf));
		if (r < 0) {
			int e = errno;
			gk_seterr(kmsg, kmsglen, "netlink receive: %s", e == EAGAIN ? "no answer from the kernel" : strerror(e));
			return e ? e : EIO;
		}
		int res = -1;
		int left = (int)r;
		for (const struct nlmsghdr *nlh = (const struct nlmsghdr *)b->rbuf; mnl_nlmsg_ok(nlh, left);
		     nlh = mnl_nlmsg_next(nlh, &left)) {
			if (nlh->nlmsg_seq != seq || nlh->nlmsg_type != NLMSG_ERROR)
				continue;
			const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
			res = -e->error;
			if (res) {
				const char *ext = NULL;
				if (nlh->nlmsg_flags & NLM_F_ACK_TLVS) {
					size_t off = sizeof(*e);
					if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
						off += e->msg.nlmsg_len - sizeof(struct nlmsghdr);
					if (off <= mnl_nlmsg_get_payload_len(nlh))
						mnl_attr_parse(nlh, (unsigned)off, ack_attr_cb, &ext);
				}
				if (ext && *ext)
					gk_seterr(kmsg, kmsglen, "%s (%s)", strerror(res), ext);
				else
					gk_seterr(kmsg, kmsglen, "%s", strerror(res));
			}
			break;
		}
		OPENSSL_cleanse(b->rbuf, (size_t)r);
		if (res >= 0)
			return res;
	}
}

typedef struct dump_ctx {
	bool policies;
	struct { struct xfrm_usersa_id sa; struct xfrm_userpolicy_id pol; } *items;
	size_t n, cap;
	bool oom;
} dump_ctx;

static int dump_cb(const struct nlmsghdr *nlh, void *data)
{
	dump_ctx *c = data;
	bool ours = c->policies ? gk_xfrm_policy_is_ours(nlh) : gk_xfrm_sa_is_ours(nlh);
	if (!ours)
		return MNL_CB_OK;
	if (c->n == c->cap) {
		size_t nc = c->cap ? c->cap * 2 : 16;
		void *p = realloc(c->items, nc * sizeof(*c->items));
		if (!p) {
			c->oom = true;
			return MNL_CB_OK;
		}
		c->items = p;
		c->cap = nc;
	}
	memset(&c->items[c->n], 0, sizeof(c->items[c->n]));
	if (c->policies) {
		const struct xfrm_userpolicy_info *pi = mnl_nlmsg_get_payload(nlh);
		c->items[c->n].pol.sel = pi->sel;
		c->items[c->n].pol.index = pi->index;
		c->items[c->n].pol.dir = pi->dir;
	} else {
		const struct xfrm_usersa_info *u = mnl_nlmsg_get_payload(nlh);
		c->items[c->n].sa.daddr = u->id.daddr;
		c->items[c->n].sa.spi = u->id.spi;
		c->items[c->n].sa.family = u->family;
		c->items[c->n].sa.proto = u->id.proto;
	}
	c->n++;
	return MNL_CB_OK;
}

/* Dumps SAs or policies and collects gmd's. Returns errno. */
static int dump(xfrm_be *b, uint16_t type, dump_ctx *c, char *kmsg, size_t kmsglen)
{
	uint32_t seq = ++b->seq;
	struct nlmsghdr *nlh = msg_start(b->buf, sizeof(b->buf), type, NLM_F_REQUEST | NLM_F_DUMP, seq);
	if (type == XFRM_MSG_GETSA)
		mnl_nlmsg_put_extra_header(nlh, sizeof(struct xfrm_usersa_info));
	else
		mnl_nlmsg_put_extra_header(nlh, sizeof(struct xfrm_userpolicy_info));
	if (mnl_socket_sendto(b->nl, nlh, nlh->nlmsg_len) < 0) {
		int e = errno;
		gk_seterr(kmsg, kmsglen, "netlink send: %s", strerror(e));
		return e;
	}
	for (;;) {
		ssize_t r = mnl_socket_recvfrom(b->nl, b->rbuf, sizeof(b->rbuf));
		if (r < 0) {
			int e = errno;
			gk_seterr(kmsg, kmsglen, "netlink receive: %s", strerror(e));
			return e ? e : EIO;
		}
		errno = 0;
		int res = mnl_cb_run(b->rbuf, (size_t)r, seq, b->portid, dump_cb, c);
		int e = errno;
		OPENSSL_cleanse(b->rbuf, (size_t)r); /* SA dumps carry keys */
		if (res == MNL_CB_STOP)
			return 0;
		if (res < 0) {
			gk_seterr(kmsg, kmsglen, "%s", strerror(e ? e : EIO));
			return e ? e : EIO;
		}
	}
}

static gk_status status_of(int e)
{
	switch (e) {
	case 0: return GK_OK;
	case EEXIST: return GK_E_STATE;
	case ENOENT: case ESRCH: return GK_E_NOT_FOUND;
	case EPROTONOSUPPORT: case EAFNOSUPPORT: case EOPNOTSUPP: case ENOPROTOOPT: case ENOSYS:
		return GK_E_UNSUPPORTED;
	case ENOMEM: case ENOBUFS: return GK_E_NOMEM;
	case EINVAL: return GK_E_INVAL;
	default: return GK_E_IO;
	}
}

static void be_free(xfrm_be *b)
{
	if (!b)
		return;
	if (b->nl)
		mnl_socket_close(b->nl);
	OPENSSL_cleanse(b, sizeof(*b));
	free(b);
}

/* Opens the socket and checks that the kernel lets us read XFRM state (CAP_NET_ADMIN). */
static int be_new(xfrm_be **out, char *why, size_t whylen)
{
	xfrm_be *b = calloc(1, sizeof(*b));
	*out = NULL;
	if (!b) {
		gk_seterr(why, whylen, "out of memory");
		return ENOMEM;
	}
	b->nl = mnl_socket_open(NETLINK_XFRM);
	if (!b->nl) {
		int e = errno;
		gk_seterr(why, whylen, "cannot open a NETLINK_XFRM socket: %s", strerror(e));
		be_free(b);
		return e ? e : EIO;
	}
	if (mnl_socket_bind(b->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		int e = errno;
		gk_seterr(why, whylen, "cannot bind the NETLINK_XFRM socket: %s", strerror(e));
		be_free(b);
		return e ? e : EIO;
	}
	b->portid = mnl_socket_get_portid(b->nl);
	b->seq = (uint32_t)getpid() << 8;
	int one = 1;
	/* Errors carry the kernel's explanation; acks do not echo our request (it holds keys). */
	mnl_socket_setsockopt(b->nl, NETLINK_EXT_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(b->nl, NETLINK_CAP_ACK, &one, sizeof(one));
	struct timeval tv = { .tv_sec = 5 };
	setsockopt(mnl_socket_get_fd(b->nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	dump_ctx c = { .policies = false };
	char k[200] = "";
	int e = dump(b, XFRM_MSG_GETSA, &c, k, sizeof(k));
	free(c.items);
	if (e) {
		gk_seterr(why, whylen, "the kernel refused an XFRM state dump: %s%s", k,
		       e == EPERM ? " (gmd needs CAP_NET_ADMIN)" : "");
		be_free(b);
		return e;
	}
	*out = b;
	return 0;
}

bool gk_sasink_xfrm_usable(char *why, size_t whylen)
{
	xfrm_be *b;
	if (be_new(&b, why, whylen))
		return false;
	be_free(b);
	return true;
}

/* ---- backend ops ---- */

static gk_status x_open(gk_sasink *s, char *err, size_t errlen)
{
	xfrm_be *b;
	int e = be_new(&b, err, errlen);
	if (e)
		return e == EPERM || e == EACCES ? GK_E_STATE : GK_E_IO;
	gk_sasink_set_backend(s, b);
	return GK_OK;
}

static void x_close(gk_sasink *s)
{
	be_free(gk_sasink_backend(s));
	gk_sasink_set_backend(s, NULL);
}

static gk_status x_prepare(gk_sasink *s, gk_ksa *k, char *err, size_t errlen)
{
	(void)s;
	static const uint8_t zero[16];
	if (!(k->dirs & GK_DIR_OUT) || k->transport || memcmp(k->saddr, zero, gk_ts_addr_len(k->family)))
		return GK_OK;
	/* An outbound tunnel SA whose source selector is a range: the outer source is the address
	 * this host sends to the group from (address preservation keeps it equal to the inner). */
	struct sockaddr_storage ss;
	socklen_t sl;
	memset(&ss, 0, sizeof(ss));
	if (k->family == 6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(9);
		memcpy(&a->sin6_addr, k->daddr, 16);
		sl = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_port = htons(9);
		memcpy(&a->sin_addr, k->daddr, 4);
		sl = sizeof(*a);
	}
	int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&ss, sl) < 0 || getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		gk_seterr(err, errlen, "no local source address towards the group for the outbound tunnel SA "
		       "(the source selector is a range): %s", strerror(e));
		return GK_E_IO;
	}
	close(fd);
	if (k->family == 6)
		memcpy(k->saddr, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
	else
		memcpy(k->saddr, &((struct sockaddr_in *)&ss)->sin_addr, 4);
	return GK_OK;
}

static gk_status x_add_sa(gk_sasink *s, const gk_ksa *k, char *err, size_t errlen)
{
	xfrm_be *b = gk_sasink_backend(s);
	size_t len;
	gk_status st = gk_xfrm_build_newsa(k, ++b->seq, b->buf, sizeof(b->buf), &len, err, errlen);
	if (st) {
		OPENSSL_cleanse(b->buf, sizeof(b->buf));
		return st;
	}
	gk_xfrm_algs algs;
	gk_xfrm_algs_of(k->in->sa, &algs);
	char km[200] = "";
	int e = transact(b, b->buf, len, km, sizeof(km));
	if (e) {
		gk_seterr(err, errlen, "%s [kernel algorithms: %s%s%s%s%s]", km, algs.aead, algs.crypt,
		       algs.crypt[0] && algs.auth[0] ? " + " : "", algs.auth,
		       e == ENOPROTOOPT || e == EPROTONOSUPPORT ? "; is ESP/AH (CONFIG_INET_ESP) in this kernel?" : "");
		return status_of(e);
	}
	return GK_OK;
}

static gk_status x_del_sa(gk_sasink *s, const gk_ksa *k, char *err, size_t errlen)
{
	xfrm_be *b = gk_sasink_backend(s);
	size_t len;
	gk_status st = gk_xfrm_build_delsa(k, ++b->seq, b->buf, sizeof(b->buf), &len);
	if (st)
		return st;
	int e = transact(b, b->buf, len, err, errlen);
	/* gone already (hard lifetime expired, removed by an admin): that is what we wanted */
	if (e == ESRCH || e == ENOENT)
		return GK_OK;
	return status_of(e);
}

static gk_status x_policy(gk_sasink *s, gk_kpol_op op, const gk_kpol *p, char *err, size_t errlen)
{
	xfrm_be *b = gk_sasink_backend(s);
	struct xfrm_selector sel[GK_XFRM_MAX_SELECTORS];
	size_t n = gk_xfrm_selectors(&p->src, &p->dst, sel, GK_XFRM_MAX_SELECTORS);
	if (n == 0 || n > GK_XFRM_MAX_SELECTORS) {
		char a[128], c[128];
		gk_seterr(err, errlen, "traffic selectors %s -> %s need %zu kernel policies (at most %d: use CIDR "
		       "blocks and aligned port ranges)", gk_ts_spec_text(&p->src, a, sizeof(a)),
		       gk_ts_spec_text(&p->dst, c, sizeof(c)), n, GK_XFRM_MAX_SELECTORS);
		return n ? GK_E_TOO_BIG : GK_E_INVAL;
	}
	gk_status first = GK_OK;
	for (size_t i = 0; i < n; i++) {
		size_t len;
		char km[200] = "";
		gk_status st = gk_xfrm_build_policy(op, p, &sel[i], ++b->seq, b->buf, sizeof(b->buf), &len);
		int e = st ? 0 : transact(b, b->buf, len, km, sizeof(km));
		if (op == GK_KPOL_DEL && (e == ENOENT || e == ESRCH))
			e = 0;
		if (!st && e) {
			st = status_of(e);
			if (op == GK_KPOL_NEW && e == EEXIST)
				snprintf(km + strlen(km), sizeof(km) - strlen(km), ": a policy with these selectors already exists");
		}
		if (!st)
			continue;
		if (!first) {
			first = st;
			gk_seterr(err, errlen, "%s", km[0] ? km : gk_status_str(st));
		}
		if (op == GK_KPOL_NEW) {
			/* all or none: remove the ones added so far */
			for (size_t j = 0; j < i; j++) {
				if (gk_xfrm_build_policy(GK_KPOL_DEL, p, &sel[j], ++b->seq, b->buf, sizeof(b->buf), &len) == GK_OK)
					transact(b, b->buf, len, NULL, 0);
			}
			return first;
		}
	}
	return first;
}

static gk_status x_flush_stale(gk_sasink *s, char *err, size_t errlen)
{
	xfrm_be *b = gk_sasink_backend(s);
	char km[200] = "";
	size_t npol = 0, nsa = 0;
	gk_status first = GK_OK;
	/* policies first, so none is left naming a removed SA */
	dump_ctx c = { .policies = true };
	int e = dump(b, XFRM_MSG_GETPOLICY, &c, km, sizeof(km));
	if (e) {
		gk_seterr(err, errlen, "dumping XFRM policies: %s", km);
		free(c.items);
		return status_of(e);
	}
	for (size_t i = 0; i < c.n; i++) {
		struct nlmsghdr *nlh = msg_start(b->buf, sizeof(b->buf), XFRM_MSG_DELPOLICY, NLM_F_REQUEST | NLM_F_ACK, ++b->seq);
		struct xfrm_userpolicy_id *id = mnl_nlmsg_put_extra_header(nlh, sizeof(*id));
		*id = c.items[i].pol;
		e = transact(b, b->buf, nlh->nlmsg_len, km, sizeof(km));
		if (e && e != ENOENT) {
			if (!first)
				gk_seterr(err, errlen, "deleting a stale policy (index %u): %s", c.items[i].pol.index, km);
			first = first ? first : status_of(e);
		} else {
			npol++;
		}
	}
	free(c.items);
	dump_ctx d = { .policies = false };
	e = dump(b, XFRM_MSG_GETSA, &d, km, sizeof(km));
	if (e) {
		gk_seterr(err, errlen, "dumping XFRM states: %s", km);
		free(d.items);
		return status_of(e);
	}
	for (size_t i = 0; i < d.n; i++) {
		struct nlmsghdr *nlh = msg_start(b->buf, sizeof(b->buf), XFRM_MSG_DELSA, NLM_F_REQUEST | NLM_F_ACK, ++b->seq);
		struct xfrm_usersa_id *id = mnl_nlmsg_put_extra_header(nlh, sizeof(*id));
		*id = d.items[i].sa;
		e = transact(b, b->buf, nlh->nlmsg_len, km, sizeof(km));
		if (e && e != ESRCH && e != ENOENT) {
			if (!first)
				gk_seterr(err, errlen, "deleting a stale SA (spi 0x%08x): %s", ntohl(d.items[i].sa.spi), km);
			first = first ? first : status_of(e);
		} else {
			nsa++;
		}
	}
	free(d.items);
	if (npol || nsa)
		gk_info("removed %zu stale SAs and %zu stale policies a previous gmd left in the kernel", nsa, npol);
	return first;
}

const gk_sasink_ops gk_sasink_xfrm_ops = {
	.name = "xfrm",
	.open = x_open,
	.close = x_close,
	.flush_stale = x_flush_stale,
	.prepare = x_prepare,
	.add_sa = x_add_sa,
	.del_sa = x_del_sa,
	.policy = x_policy,
};
