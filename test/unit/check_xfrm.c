/* Unit tests of the kernel SA sinks (member/sasink*.c): the XFRM netlink messages built for each
 * transform are decoded back with libmnl and checked field by field; the shared bookkeeping
 * (policy sets, outbound switch, rollback, counter-mode refusal) is checked through a recording
 * backend; and, when run as root, policies go into a fresh network namespace's kernel and back. */
#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <libmnl/libmnl.h>
#include "testutil.h"
#include "algs.h"
#include "iana.h"
#include "ikekeys.h"
#include "member/sasink_xfrm.h"
#include "member/gm_check.h"
#include "member/gm_groups.h"
#include "rekey_msg.h"
#include "auth.h"

/* ---- helpers ---- */

static void ts4(gk_ts_spec *t, const char *lo, const char *hi, uint8_t proto, uint16_t plo, uint16_t phi)
{
	memset(t, 0, sizeof(*t));
	t->family = 4;
	ck_assert_int_eq(inet_pton(AF_INET, lo, t->start), 1);
	ck_assert_int_eq(inet_pton(AF_INET, hi, t->end), 1);
	t->ip_proto = proto;
	t->port_lo = plo;
	t->port_hi = phi;
}

static void ts6(gk_ts_spec *t, const char *lo, const char *hi, uint8_t proto, uint16_t plo, uint16_t phi)
{
	memset(t, 0, sizeof(*t));
	t->family = 6;
	ck_assert_int_eq(inet_pton(AF_INET6, lo, t->start), 1);
	ck_assert_int_eq(inet_pton(AF_INET6, hi, t->end), 1);
	t->ip_proto = proto;
	t->port_lo = plo;
	t->port_hi = phi;
}

/* An SA 10.98.0.10 -> 239.1.2.3 udp/5004 with the given transforms and keymat 0x01 0x02 ... */
static void make_sa(gk_group_sa *sa, uint8_t proto, uint16_t encr, uint16_t bits, uint16_t integ, uint16_t sn)
{
	memset(sa, 0, sizeof(*sa));
	sa->proto = proto;
	sa->spi_len = 4;
	sa->spi[0] = 0x12, sa->spi[1] = 0x34, sa->spi[2] = 0x56, sa->spi[3] = 0x78;
	ts4(&sa->src, "10.98.0.10", "10.98.0.10", 17, 0, 65535);
	ts4(&sa->dst, "239.1.2.3", "239.1.2.3", 17, 5004, 5004);
	sa->encr = encr;
	sa->encr_key_bits = bits;
	sa->integ = integ;
	sa->sn = sn;
	sa->lifetime = 3600;
	sa->keymat_len = gk_group_keymat_len(proto, encr, bits, integ, 0);
	ck_assert_uint_gt(sa->keymat_len, 0);
	for (size_t i = 0; i < sa->keymat_len; i++)
		sa->keymat[i] = (uint8_t)(i + 1);
}

static gk_ident group_id(const char *text)
{
	gk_ident g;
	char why[GK_ERR_MAX] = "";
	ck_assert_int_eq(gk_ident_parse(text, &g, why, sizeof(why)), GK_OK);
	return g;
}

/* The gk_ksa sasink.c would make for this SA. */
static void make_ksa(gk_ksa *k, const gk_sa_install *in)
{
	memset(k, 0, sizeof(*k));
	k->in = in;
	k->proto = in->sa->proto;
	memcpy(k->spi, in->sa->spi, 4);
	k->family = in->sa->dst.family;
	memcpy(k->daddr, in->sa->dst.start, 16);
	if (!memcmp(in->sa->src.start, in->sa->src.end, 16))
		memcpy(k->saddr, in->sa->src.start, 16);
	k->reqid = GK_SASINK_REQID_BASE + 7;
	k->transport = in->transport_mode;
	k->dirs = in->dirs;
}

typedef struct decoded {
	const struct nlattr *tb[XFRMA_MAX + 1];
	int count[XFRMA_MAX + 1];
} decoded;

static int attr_cb(const struct nlattr *a, void *data)
{
	decoded *d = data;
	int t = mnl_attr_get_type(a);
	ck_assert_int_le(t, XFRMA_MAX);
	d->tb[t] = a;
	d->count[t]++;
	return MNL_CB_OK;
}

static void decode(const uint8_t *buf, size_t len, size_t hdr, decoded *d)
{
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
	memset(d, 0, sizeof(*d));
	ck_assert_uint_eq(nlh->nlmsg_len, len);
	ck_assert(mnl_nlmsg_ok(nlh, (int)len));
	ck_assert_uint_ge(mnl_nlmsg_get_payload_len(nlh), hdr);
	ck_assert_int_eq(mnl_attr_parse(nlh, (unsigned)hdr, attr_cb, d), MNL_CB_OK);
}

typedef struct sa_case {
	uint8_t proto;
	uint16_t encr, bits, integ, sn;
	const char *aead;   unsigned aead_key_bits, icv_bits;
	const char *crypt;  unsigned crypt_key_bits;
	const char *auth;   unsigned auth_key_bits, trunc_bits;
} sa_case;

static const sa_case sa_cases[] = {
	{ GK_PROTO_ESP, GK_ENCR_AES_GCM_16, 256, 0, GK_SN_SEQ32, "rfc4106(gcm(aes))", 288, 128, NULL, 0, NULL, 0, 0 },
	{ GK_PROTO_ESP, GK_ENCR_AES_GCM_16, 128, 0, GK_SN_SEQ32, "rfc4106(gcm(aes))", 160, 128, NULL, 0, NULL, 0, 0 },
	{ GK_PROTO_ESP, GK_ENCR_AES_GCM_12, 192, 0, GK_SN_SEQ32, "rfc4106(gcm(aes))", 224, 96, NULL, 0, NULL, 0, 0 },
	{ GK_PROTO_ESP, GK_ENCR_AES_GCM_8, 128, 0, GK_SN_SEQ32, "rfc4106(gcm(aes))", 160, 64, NULL, 0, NULL, 0, 0 },
	{ GK_PROTO_ESP, GK_ENCR_CHACHA20_POLY1305, 0, 0, GK_SN_UNSPEC32, "rfc7539esp(chacha20,poly1305)", 288, 128, NULL, 0, NULL, 0, 0 },
	{ GK_PROTO_ESP, GK_ENCR_NULL_AUTH_AES_GMAC, 128, 0, GK_SN_SEQ32, "rfc4543(gcm(aes))", 160, 128, NULL, 0, NULL, 0, 0 },
	{ GK_PROTO_ESP, GK_ENCR_AES_CBC, 128, GK_INTEG_HMAC_SHA2_256_128, GK_SN_SEQ32, NULL, 0, 0, "cbc(aes)", 128, "hmac(sha256)", 256, 128 },
	{ GK_PROTO_ESP, GK_ENCR_AES_CBC, 256, GK_INTEG_HMAC_SHA2_384_192, GK_SN_SEQ32, NULL, 0, 0, "cbc(aes)", 256, "hmac(sha384)", 384, 192 },
	{ GK_PROTO_ESP, GK_ENCR_AES_CBC, 192, GK_INTEG_HMAC_SHA2_512_256, GK_SN_ESN, NULL, 0, 0, "cbc(aes)", 192, "hmac(sha512)", 512, 256 },
	{ GK_PROTO_ESP, GK_ENCR_AES_CBC, 128, GK_INTEG_HMAC_SHA1_96, GK_SN_SEQ32, NULL, 0, 0, "cbc(aes)", 128, "hmac(sha1)", 160, 96 },
	{ GK_PROTO_ESP, GK_ENCR_AES_CBC, 128, GK_INTEG_AES_XCBC_96, GK_SN_SEQ32, NULL, 0, 0, "cbc(aes)", 128, "xcbc(aes)", 128, 96 },
	{ GK_PROTO_ESP, GK_ENCR_AES_CBC, 128, GK_INTEG_AES_CMAC_96, GK_SN_SEQ32, NULL, 0, 0, "cbc(aes)", 128, "cmac(aes)", 128, 96 },
	{ GK_PROTO_ESP, GK_ENCR_AES_CTR, 256, GK_INTEG_HMAC_SHA2_256_128, GK_SN_UNSPEC32, NULL, 0, 0, "rfc3686(ctr(aes))", 288, "hmac(sha256)", 256, 128 },
	{ GK_PROTO_AH, 0, 0, GK_INTEG_HMAC_SHA2_256_128, GK_SN_SEQ32, NULL, 0, 0, NULL, 0, "hmac(sha256)", 256, 128 },
	{ GK_PROTO_AH, 0, 0, GK_INTEG_HMAC_SHA2_512_256, GK_SN_UNSPEC32, NULL, 0, 0, NULL, 0, "hmac(sha512)", 512, 256 },
};

/* ---- NEWSA for every transform, both directions, both modes ---- */

START_TEST(newsa_fields)
{
	const sa_case *c = &sa_cases[_i / 4];
	bool out = _i & 1, transport = _i & 2;
	gk_group_sa sa;
	make_sa(&sa, c->proto, c->encr, c->bits, c->integ, c->sn);
	gk_ident g = group_id("keyid:video-1");
	gk_sa_install in = { .group = &g, .sa = &sa, .dirs = out ? GK_DIR_OUT : GK_DIR_IN, .transport_mode = transport };
	gk_ksa k;
	make_ksa(&k, &in);
	uint8_t buf[GK_XFRM_MSG_MAX];
	size_t len = 0;
	char err[200] = "";
	ck_assert_msg(gk_xfrm_build_newsa(&k, 77, buf, sizeof(buf), &len, err, sizeof(err)) == GK_OK, "%s", err);

	const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
	ck_assert_uint_eq(nlh->nlmsg_type, XFRM_MSG_NEWSA);
	ck_assert_uint_eq(nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK);
	ck_assert_uint_eq(nlh->nlmsg_seq, 77);
	decoded d;
	decode(buf, len, sizeof(struct xfrm_usersa_info), &d);
	const struct xfrm_usersa_info *u = mnl_nlmsg_get_payload(nlh);

	/* identity of the SA */
	ck_assert_uint_eq(ntohl(u->id.spi), 0x12345678);
	ck_assert_uint_eq(u->id.proto, c->proto == GK_PROTO_AH ? IPPROTO_AH : IPPROTO_ESP);
	ck_assert_uint_eq(ntohl(u->id.daddr.a4), 0xef010203);      /* the group address */
	ck_assert_uint_eq(ntohl(u->saddr.a4), 0x0a62000a);         /* the single sender */
	ck_assert_uint_eq(u->family, AF_INET);
	ck_assert_uint_eq(u->reqid, GK_SASINK_REQID_BASE + 7);
	ck_assert_uint_eq(u->mode, transport ? XFRM_MODE_TRANSPORT : XFRM_MODE_TUNNEL);

	/* its selector */
	ck_assert_uint_eq(u->sel.family, AF_INET);
	ck_assert_uint_eq(ntohl(u->sel.daddr.a4), 0xef010203);
	ck_assert_uint_eq(u->sel.prefixlen_d, 32);
	ck_assert_uint_eq(ntohl(u->sel.saddr.a4), 0x0a62000a);
	ck_assert_uint_eq(u->sel.prefixlen_s, 32);
	ck_assert_uint_eq(u->sel.proto, 17);
	ck_assert_uint_eq(ntohs(u->sel.dport), 5004);
	ck_assert_uint_eq(ntohs(u->sel.dport_mask), 0xffff);
	ck_assert_uint_eq(u->sel.sport_mask, 0);

	/* lifetimes: soft at 90 %, hard at 100 %; no byte or packet limits */
	ck_assert_uint_eq(u->lft.hard_add_expires_seconds, 3600);
	ck_assert_uint_eq(u->lft.soft_add_expires_seconds, 3240);
	ck_assert(u->lft.soft_byte_limit == XFRM_INF && u->lft.hard_byte_limit == XFRM_INF);
	ck_assert(u->lft.soft_packet_limit == XFRM_INF && u->lft.hard_packet_limit == XFRM_INF);
	ck_assert_uint_eq(u->lft.soft_use_expires_seconds, 0);

	/* replay: off for unspecified numbers and for outbound; ESN in its own attribute */
	bool replay = !out && c->sn != GK_SN_UNSPEC32;
	if (c->sn == GK_SN_ESN) {
		ck_assert(u->flags & XFRM_STATE_ESN);
		ck_assert_uint_eq(u->replay_window, 0);
		ck_assert_ptr_nonnull(d.tb[XFRMA_REPLAY_ESN_VAL]);
		const struct xfrm_replay_state_esn *rs = mnl_attr_get_payload(d.tb[XFRMA_REPLAY_ESN_VAL]);
		ck_assert_uint_eq(rs->bmp_len, 4);
		ck_assert_uint_eq(mnl_attr_get_payload_len(d.tb[XFRMA_REPLAY_ESN_VAL]), sizeof(*rs) + 16);
		ck_assert_uint_eq(rs->replay_window, replay ? 128 : 1);
	} else {
		ck_assert_uint_eq(u->flags & XFRM_STATE_ESN, 0);
		ck_assert_ptr_null(d.tb[XFRMA_REPLAY_ESN_VAL]);
		ck_assert_uint_eq(u->replay_window, replay ? 32 : 0);
	}

	/* algorithms and keys: encryption key (with salt) leftmost, integrity key after it */
	gk_group_keys keys;
	ck_assert_int_eq(gk_group_keys_split(GK_CHUNK(sa.keymat, sa.keymat_len), sa.proto, sa.encr, sa.encr_key_bits,
					     sa.integ, 0, &keys), GK_OK);
	if (c->aead) {
		ck_assert_int_eq(d.count[XFRMA_ALG_AEAD], 1);
		const struct xfrm_algo_aead *a = mnl_attr_get_payload(d.tb[XFRMA_ALG_AEAD]);
		ck_assert_str_eq(a->alg_name, c->aead);
		ck_assert_uint_eq(a->alg_key_len, c->aead_key_bits);
		ck_assert_uint_eq(a->alg_icv_len, c->icv_bits);
		ck_assert_uint_eq(mnl_attr_get_payload_len(d.tb[XFRMA_ALG_AEAD]), sizeof(*a) + c->aead_key_bits / 8);
		ck_assert_uint_eq(keys.enc.len * 8, c->aead_key_bits);
		ck_assert_mem_eq(a->alg_key, sa.keymat, c->aead_key_bits / 8);
	} else {
		ck_assert_ptr_null(d.tb[XFRMA_ALG_AEAD]);
	}
	if (c->crypt) {
		ck_assert_int_eq(d.count[XFRMA_ALG_CRYPT], 1);
		const struct xfrm_algo *a = mnl_attr_get_payload(d.tb[XFRMA_ALG_CRYPT]);
		ck_assert_str_eq(a->alg_name, c->crypt);
		ck_assert_uint_eq(a->alg_key_len, c->crypt_key_bits);
		ck_assert_uint_eq(mnl_attr_get_payload_len(d.tb[XFRMA_ALG_CRYPT]), sizeof(*a) + c->crypt_key_bits / 8);
		ck_assert_mem_eq(a->alg_key, sa.keymat, c->crypt_key_bits / 8);
	} else {
		ck_assert_ptr_null(d.tb[XFRMA_ALG_CRYPT]);
	}
	if (c->auth) {
		ck_assert_int_eq(d.count[XFRMA_ALG_AUTH_TRUNC], 1);
		const struct xfrm_algo_auth *a = mnl_attr_get_payload(d.tb[XFRMA_ALG_AUTH_TRUNC]);
		ck_assert_str_eq(a->alg_name, c->auth);
		ck_assert_uint_eq(a->alg_key_len, c->auth_key_bits);
		ck_assert_uint_eq(a->alg_trunc_len, c->trunc_bits);
		ck_assert_uint_eq(mnl_attr_get_payload_len(d.tb[XFRMA_ALG_AUTH_TRUNC]), sizeof(*a) + c->auth_key_bits / 8);
		size_t off = c->crypt ? c->crypt_key_bits / 8 : 0;
		ck_assert_uint_eq(off + c->auth_key_bits / 8, sa.keymat_len);
		ck_assert_mem_eq(a->alg_key, sa.keymat + off, c->auth_key_bits / 8);
		ck_assert_mem_eq(a->alg_key, keys.integ.ptr, keys.integ.len);
	} else {
		ck_assert_ptr_null(d.tb[XFRMA_ALG_AUTH_TRUNC]);
	}
	ck_assert_ptr_null(d.tb[XFRMA_ALG_AUTH]);  /* truncation is always explicit */
	ck_assert(gk_xfrm_sa_is_ours(nlh));
}
END_TEST

START_TEST(newsa_salt_follows_key)
{
	/* AES-GCM-16/128: 16 key octets then the 4-octet salt, as RFC 4106 / the kernel want */
	gk_group_sa sa;
	make_sa(&sa, GK_PROTO_ESP, GK_ENCR_AES_GCM_16, 128, 0, GK_SN_SEQ32);
	ck_assert_uint_eq(sa.keymat_len, 20);
	gk_ident g = group_id("keyid:video-1");
	gk_sa_install in = { .group = &g, .sa = &sa, .dirs = GK_DIR_IN };
	gk_ksa k;
	make_ksa(&k, &in);
	uint8_t buf[GK_XFRM_MSG_MAX];
	size_t len;
	ck_assert_int_eq(gk_xfrm_build_newsa(&k, 1, buf, sizeof(buf), &len, NULL, 0), GK_OK);
	decoded d;
	decode(buf, len, sizeof(struct xfrm_usersa_info), &d);
	const struct xfrm_algo_aead *a = mnl_attr_get_payload(d.tb[XFRMA_ALG_AEAD]);
	ck_assert_mem_hex((const uint8_t *)a->alg_key, a->alg_key_len / 8, "0102030405060708090a0b0c0d0e0f10 11121314");
}
END_TEST

START_TEST(newsa_lifetime_absent_and_ipv6)
{
	gk_group_sa sa;
	make_sa(&sa, GK_PROTO_ESP, GK_ENCR_AES_GCM_16, 256, 0, GK_SN_UNSPEC32);
	sa.lifetime = 0;
	ts6(&sa.src, "2001:db8::", "2001:db8::ffff:ffff:ffff:ffff", 0, 0, 65535);
	ts6(&sa.dst, "ff3e::1234", "ff3e::1234", 0, 0, 65535);
	gk_ident g = group_id("keyid:v6");
	gk_sa_install in = { .group = &g, .sa = &sa, .dirs = GK_DIR_IN };
	gk_ksa k;
	make_ksa(&k, &in);
	uint8_t buf[GK_XFRM_MSG_MAX];
	size_t len;
	ck_assert_int_eq(gk_xfrm_build_newsa(&k, 1, buf, sizeof(buf), &len, NULL, 0), GK_OK);
	decoded d;
	decode(buf, len, sizeof(struct xfrm_usersa_info), &d);
	const struct xfrm_usersa_info *u = mnl_nlmsg_get_payload((const struct nlmsghdr *)buf);
	ck_assert_uint_eq(u->family, AF_INET6);
	uint8_t grp[16], any[16] = { 0 };
	inet_pton(AF_INET6, "ff3e::1234", grp);
	ck_assert_mem_eq(&u->id.daddr, grp, 16);
	ck_assert_mem_eq(&u->saddr, any, 16);          /* a range of senders: any source */
	ck_assert_uint_eq(u->sel.prefixlen_s, 64);      /* covering prefix of the range */
	ck_assert_uint_eq(u->sel.prefixlen_d, 128);
	ck_assert_uint_eq(u->sel.proto, 0);
	ck_assert_uint_eq(u->lft.hard_add_expires_seconds, 0);
	ck_assert_uint_eq(u->lft.soft_add_expires_seconds, 0);
	ck_assert_uint_eq(u->replay_window, 0);
}
END_TEST

START_TEST(newsa_refuses_unsupported)
{
	gk_group_sa sa;
	gk_ident g = group_id("keyid:x");
	gk_sa_install in = { .group = &g, .sa = &sa, .dirs = GK_DIR_IN };
	gk_ksa k;
	uint8_t buf[GK_XFRM_MSG_MAX];
	size_t len;
	char err[200] = "";
	make_sa(&sa, GK_PROTO_ESP, GK_ENCR_AES_GCM_16, 256, 0, GK_SN_SEQ32);
	sa.encr = GK_ENCR_AES_GCM_16_IIV; /* RFC 8750 transforms are not for groups (2.7) */
	make_ksa(&k, &in);
	ck_assert_int_eq(gk_xfrm_build_newsa(&k, 1, buf, sizeof(buf), &len, err, sizeof(err)), GK_E_UNSUPPORTED);
	ck_assert_ptr_nonnull(strstr(err, "AES_GCM_16_IIV"));
	make_sa(&sa, GK_PROTO_ESP, GK_ENCR_AES_GCM_16, 256, 0, GK_SN_SEQ32);
	sa.keymat_len--; /* keying material not matching the transforms */
	ck_assert_int_eq(gk_xfrm_build_newsa(&k, 1, buf, sizeof(buf), &len, err, sizeof(err)), GK_E_MALFORMED);
	gk_xfrm_algs a;
	make_sa(&sa, GK_PROTO_ESP, GK_ENCR_AES_CBC, 128, GK_INTEG_HMAC_SHA1_96, GK_SN_SEQ32);
	sa.integ = 0; /* CBC without integrity */
	ck_assert_int_eq(gk_xfrm_algs_of(&sa, &a), GK_E_UNSUPPORTED);
	sa.proto = GK_PROTO_GIKE_UPDATE;
	ck_assert_int_eq(gk_xfrm_algs_of(&sa, &a), GK_E_UNSUPPORTED);
	/* too small a buffer */
	make_sa(&sa, GK_PROTO_ESP, GK_ENCR_AES_GCM_16, 256, 0, GK_SN_SEQ32);
	ck_assert_int_eq(gk_xfrm_build_newsa(&k, 1, buf, 300, &len, NULL, 0), GK_E_TOO_BIG); /* no room for the key */
	ck_assert_int_eq(gk_xfrm_build_newsa(&k, 1, buf, 100, &len, NULL, 0), GK_E_TOO_BIG);
}
END_TEST

/* ---- selectors ---- */

START_TEST(selectors_split)
{
	struct xfrm_selector s[GK_XFRM_MAX_SELECTORS];
	gk_ts_spec a, b;
	/* one address each, udp/5004 */
	ts4(&a, "10.98.0.10", "10.98.0.10", 17, 0, 65535);
	ts4(&b, "239.1.2.3", "239.1.2.3", 17, 5004, 5004);
	ck_assert_uint_eq(gk_xfrm_selectors(&a, &b, s, GK_XFRM_MAX_SELECTORS), 1);
	ck_assert_uint_eq(ntohl(s[0].saddr.a4), 0x0a62000a);
	ck_assert_uint_eq(s[0].prefixlen_s, 32);
	ck_assert_uint_eq(ntohl(s[0].daddr.a4), 0xef010203);
	ck_assert_uint_eq(s[0].prefixlen_d, 32);
	ck_assert_uint_eq(s[0].proto, 17);
	ck_assert_uint_eq(ntohs(s[0].dport), 5004);
	ck_assert_uint_eq(ntohs(s[0].dport_mask), 0xffff);
	ck_assert_uint_eq(s[0].sport, 0);
	ck_assert_uint_eq(s[0].sport_mask, 0);
	ck_assert_uint_eq(s[0].family, AF_INET);

	/* a CIDR block and any */
	ts4(&a, "10.98.0.0", "10.98.0.255", 0, 0, 65535);
	ts4(&b, "0.0.0.0", "255.255.255.255", 0, 0, 65535);
	ck_assert_uint_eq(gk_xfrm_selectors(&a, &b, s, GK_XFRM_MAX_SELECTORS), 1);
	ck_assert_uint_eq(s[0].prefixlen_s, 24);
	ck_assert_uint_eq(ntohl(s[0].saddr.a4), 0x0a620000);
	ck_assert_uint_eq(s[0].prefixlen_d, 0);
	ck_assert_uint_eq(s[0].proto, 0);

	/* 10.0.0.1-10.0.0.6 = .1/32 .2/31 .4/31 .6/32 */
	ts4(&a, "10.0.0.1", "10.0.0.6", 0, 0, 65535);
	ts4(&b, "239.1.2.3", "239.1.2.3", 0, 0, 65535);
	ck_assert_uint_eq(gk_xfrm_selectors(&a, &b, s, GK_XFRM_MAX_SELECTORS), 4);
	const uint32_t want_a[] = { 0x0a000001, 0x0a000002, 0x0a000004, 0x0a000006 };
	const uint8_t want_p[] = { 32, 31, 31, 32 };
	for (int i = 0; i < 4; i++) {
		ck_assert_uint_eq(ntohl(s[i].saddr.a4), want_a[i]);
		ck_assert_uint_eq(s[i].prefixlen_s, want_p[i]);
	}

	/* ports 1024-2047 is one block; 5000-5003 one; 5000-5004 two */
	ts4(&a, "10.0.0.1", "10.0.0.1", 6, 1024, 2047);
	ts4(&b, "239.1.2.3", "239.1.2.3", 6, 5000, 5004);
	ck_assert_uint_eq(gk_xfrm_selectors(&a, &b, s, GK_XFRM_MAX_SELECTORS), 2);
	ck_assert_uint_eq(ntohs(s[0].sport), 1024);
	ck_assert_uint_eq(ntohs(s[0].sport_mask), 0xfc00);
	ck_assert_uint_eq(ntohs(s[0].dport), 5000);
	ck_assert_uint_eq(ntohs(s[0].dport_mask), 0xfffc);
	ck_assert_uint_eq(ntohs(s[1].dport), 5004);
	ck_assert_uint_eq(ntohs(s[1].dport_mask), 0xffff);

	/* IPv6 */
	ts6(&a, "2001:db8::", "2001:db8::ffff:ffff:ffff:ffff", 17, 0, 65535);
	ts6(&b, "ff3e::1", "ff3e::1", 17, 5004, 5004);
	ck_assert_uint_eq(gk_xfrm_selectors(&a, &b, s, GK_XFRM_MAX_SELECTORS), 1);
	ck_assert_uint_eq(s[0].family, AF_INET6);
	ck_assert_uint_eq(s[0].prefixlen_s, 64);
	ck_assert_uint_eq(s[0].prefixlen_d, 128);
	uint8_t ff[16];
	inet_pton(AF_INET6, "ff3e::1", ff);
	ck_assert_mem_eq(&s[0].daddr, ff, 16);

	/* too many: 1-65534 needs 30 blocks, times 2 */
	ts4(&a, "0.0.0.1", "255.255.255.254", 0, 0, 65535);
	ts4(&b, "239.1.2.3", "239.1.2.4", 0, 0, 65535);
	ck_assert_uint_gt(gk_xfrm_selectors(&a, &b, s, GK_XFRM_MAX_SELECTORS), GK_XFRM_MAX_SELECTORS);
	/* inverted range */
	ts4(&a, "10.0.0.9", "10.0.0.1", 0, 0, 65535);
	ck_assert_uint_eq(gk_xfrm_selectors(&a, &b, s, GK_XFRM_MAX_SELECTORS), 0);
}
END_TEST

/* ---- policies ---- */

static void make_kpol(gk_kpol *p, unsigned dir)
{
	memset(p, 0, sizeof(*p));
	ts4(&p->src, "10.98.0.10", "10.98.0.10", 17, 0, 65535);
	ts4(&p->dst, "239.1.2.3", "239.1.2.3", 17, 5004, 5004);
	p->dir = dir;
	p->proto = GK_PROTO_ESP;
	if (dir == GK_DIR_OUT)
		p->spi[0] = 0xab, p->spi[1] = 0xcd, p->spi[2] = 0x00, p->spi[3] = 0x01;
	p->family = 4;
	memcpy(p->saddr, p->src.start, 4);
	memcpy(p->daddr, p->dst.start, 4);
	p->reqid = GK_SASINK_REQID_BASE + 3;
}

START_TEST(policy_fields)
{
	static const unsigned dirs[] = { GK_DIR_IN, GK_DIR_OUT, GK_DIR_FWD };
	static const uint8_t kdirs[] = { XFRM_POLICY_IN, XFRM_POLICY_OUT, XFRM_POLICY_FWD };
	for (int t = 0; t < 2; t++) {
		for (int i = 0; i < 3; i++) {
			gk_kpol p;
			make_kpol(&p, dirs[i]);
			p.transport = t;
			struct xfrm_selector sel[GK_XFRM_MAX_SELECTORS];
			ck_assert_uint_eq(gk_xfrm_selectors(&p.src, &p.dst, sel, GK_XFRM_MAX_SELECTORS), 1);
			uint8_t buf[GK_XFRM_MSG_MAX];
			size_t len;
			for (int op = GK_KPOL_NEW; op <= GK_KPOL_UPDATE; op++) {
				ck_assert_int_eq(gk_xfrm_build_policy((gk_kpol_op)op, &p, &sel[0], 9, buf, sizeof(buf), &len), GK_OK);
				const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
				ck_assert_uint_eq(nlh->nlmsg_type, op == GK_KPOL_NEW ? XFRM_MSG_NEWPOLICY : XFRM_MSG_UPDPOLICY);
				ck_assert_uint_eq(nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK);
				decoded d;
				decode(buf, len, sizeof(struct xfrm_userpolicy_info), &d);
				const struct xfrm_userpolicy_info *pi = mnl_nlmsg_get_payload(nlh);
				ck_assert_uint_eq(pi->dir, kdirs[i]);
				ck_assert_uint_eq(pi->action, XFRM_POLICY_ALLOW);
				ck_assert_uint_eq(pi->priority, GK_SASINK_PRIORITY);
				/* after every ordinary strongSwan policy, before its fallback drops */
				ck_assert_uint_eq(pi->priority, 450000);
				ck_assert_uint_gt(pi->priority, GK_SASINK_STRONGSWAN_MAX);
				ck_assert_uint_lt(pi->priority, GK_SASINK_STRONGSWAN_FALLBACK_MIN);
				ck_assert_uint_eq(pi->index, 0);
				ck_assert_mem_eq(&pi->sel, &sel[0], sizeof(sel[0]));
				ck_assert(pi->lft.hard_byte_limit == XFRM_INF);
				ck_assert_int_eq(d.count[XFRMA_TMPL], 1);
				ck_assert_uint_eq(mnl_attr_get_payload_len(d.tb[XFRMA_TMPL]), sizeof(struct xfrm_user_tmpl));
				struct xfrm_user_tmpl tm;
				memcpy(&tm, mnl_attr_get_payload(d.tb[XFRMA_TMPL]), sizeof(tm));
				ck_assert_uint_eq(tm.id.proto, IPPROTO_ESP);
				ck_assert_uint_eq(ntohl(tm.id.daddr.a4), 0xef010203);
				ck_assert_uint_eq(ntohl(tm.saddr.a4), 0x0a62000a);
				ck_assert_uint_eq(ntohl(tm.id.spi), dirs[i] == GK_DIR_OUT ? 0xabcd0001 : 0);
				ck_assert_uint_eq(tm.reqid, GK_SASINK_REQID_BASE + 3);
				ck_assert_uint_eq(tm.family, AF_INET);
				ck_assert_uint_eq(tm.mode, t ? XFRM_MODE_TRANSPORT : XFRM_MODE_TUNNEL);
				ck_assert_uint_eq(tm.optional, 0);
				ck_assert_uint_eq(tm.aalgos, ~0u);
				ck_assert_uint_eq(tm.ealgos, ~0u);
				ck_assert(gk_xfrm_policy_is_ours(nlh));
			}
			ck_assert_int_eq(gk_xfrm_build_policy(GK_KPOL_DEL, &p, &sel[0], 10, buf, sizeof(buf), &len), GK_OK);
			const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
			ck_assert_uint_eq(nlh->nlmsg_type, XFRM_MSG_DELPOLICY);
			ck_assert_uint_eq(len, MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(struct xfrm_userpolicy_id)));
			const struct xfrm_userpolicy_id *id = mnl_nlmsg_get_payload(nlh);
			ck_assert_uint_eq(id->dir, kdirs[i]);
			ck_assert_uint_eq(id->index, 0);
			ck_assert_mem_eq(&id->sel, &sel[0], sizeof(sel[0]));
		}
	}
}
END_TEST

START_TEST(ownership_marker)
{
	gk_kpol p;
	make_kpol(&p, GK_DIR_IN);
	struct xfrm_selector sel[GK_XFRM_MAX_SELECTORS];
	gk_xfrm_selectors(&p.src, &p.dst, sel, GK_XFRM_MAX_SELECTORS);
	uint8_t buf[GK_XFRM_MSG_MAX];
	size_t len;
	ck_assert_int_eq(gk_xfrm_build_policy(GK_KPOL_NEW, &p, &sel[0], 1, buf, sizeof(buf), &len), GK_OK);
	struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
	ck_assert(gk_xfrm_policy_is_ours(nlh));
	struct xfrm_userpolicy_info *pi = mnl_nlmsg_get_payload(nlh);
	pi->priority = 0; /* same reqid, other priority: not ours */
	ck_assert(!gk_xfrm_policy_is_ours(nlh));
	pi->priority = GK_SASINK_PRIORITY_OLD; /* left by a gmd of the previous priority: ours */
	ck_assert(gk_xfrm_policy_is_ours(nlh));
	p.reqid = 1;      /* strongSwan-like reqid with our priority: not ours */
	ck_assert_int_eq(gk_xfrm_build_policy(GK_KPOL_NEW, &p, &sel[0], 1, buf, sizeof(buf), &len), GK_OK);
	ck_assert(!gk_xfrm_policy_is_ours(nlh));
	p.reqid = GK_SASINK_REQID_BASE; /* the base itself is never allocated */
	ck_assert_int_eq(gk_xfrm_build_policy(GK_KPOL_NEW, &p, &sel[0], 1, buf, sizeof(buf), &len), GK_OK);
	ck_assert(!gk_xfrm_policy_is_ours(nlh));

	gk_group_sa sa;
	make_sa(&sa, GK_PROTO_ESP, GK_ENCR_AES_GCM_16, 256, 0, GK_SN_SEQ32);
	gk_ident g = group_id("keyid:x");
	gk_sa_install in = { .group = &g, .sa = &sa, .dirs = GK_DIR_IN };
	gk_ksa k;
	make_ksa(&k, &in);
	ck_assert_int_eq(gk_xfrm_build_newsa(&k, 1, buf, sizeof(buf), &len, NULL, 0), GK_OK);
	ck_assert(gk_xfrm_sa_is_ours(nlh));
	k.reqid = 0x4748ffff;
	ck_assert_int_eq(gk_xfrm_build_newsa(&k, 1, buf, sizeof(buf), &len, NULL, 0), GK_OK);
	ck_assert(!gk_xfrm_sa_is_ours(nlh));

	/* DELSA */
	k.reqid = GK_SASINK_REQID_BASE + 1;
	ck_assert_int_eq(gk_xfrm_build_delsa(&k, 5, buf, sizeof(buf), &len), GK_OK);
	ck_assert_uint_eq(nlh->nlmsg_type, XFRM_MSG_DELSA);
	const struct xfrm_usersa_id *id = mnl_nlmsg_get_payload(nlh);
	ck_assert_uint_eq(ntohl(id->spi), 0x12345678);
	ck_assert_uint_eq(ntohl(id->daddr.a4), 0xef010203);
	ck_assert_uint_eq(id->family, AF_INET);
	ck_assert_uint_eq(id->proto, IPPROTO_ESP);
}
END_TEST

/* ---- bookkeeping through a recording backend ---- */

typedef struct rec_op {
	char what[16];       /* "add", "del", "pol-new", "pol-upd", "pol-del" */
	uint8_t spi[4];
	unsigned dir;
	uint32_t reqid;
	uint8_t saddr[16];
} rec_op;

static rec_op ops_log[64];
static size_t nops;
static int fail_policy_dir; /* make NEWPOLICY of this direction fail */
static bool fail_add;
static uint8_t fail_add_spi0; /* make NEWSA fail for the SA whose SPI starts with this (0: none) */

static void log_op(const char *what, const uint8_t *spi, unsigned dir, uint32_t reqid, const uint8_t *saddr)
{
	ck_assert_uint_lt(nops, 64);
	rec_op *o = &ops_log[nops++];
	memset(o, 0, sizeof(*o));
	snprintf(o->what, sizeof(o->what), "%s", what);
	memcpy(o->spi, spi, 4);
	o->dir = dir;
	o->reqid = reqid;
	memcpy(o->saddr, saddr, 16);
}

static gk_status r_add(gk_sasink *s, const gk_ksa *k, char *err, size_t errlen)
{
	(void)s;
	ck_assert_ptr_nonnull(k->in);
	if (fail_add || (fail_add_spi0 && k->spi[0] == fail_add_spi0)) {
		snprintf(err, errlen, "Protocol not supported (Requested type not found)");
		return GK_E_UNSUPPORTED;
	}
	log_op("add", k->spi, k->dirs, k->reqid, k->saddr);
	return GK_OK;
}

static gk_status r_del(gk_sasink *s, const gk_ksa *k, char *err, size_t errlen)
{
	(void)s, (void)err, (void)errlen;
	log_op("del", k->spi, k->dirs, k->reqid, k->saddr);
	return GK_OK;
}

static gk_status r_policy(gk_sasink *s, gk_kpol_op op, const gk_kpol *p, char *err, size_t errlen)
{
	(void)s;
	if (op == GK_KPOL_NEW && (int)p->dir == fail_policy_dir) {
		snprintf(err, errlen, "File exists");
		return GK_E_STATE;
	}
	log_op(op == GK_KPOL_NEW ? "pol-new" : op == GK_KPOL_UPDATE ? "pol-upd" : "pol-del", p->spi, p->dir,
	       p->reqid, p->saddr);
	return GK_OK;
}

static const gk_sasink_ops rec_ops = {
	.name = "record", .add_sa = r_add, .del_sa = r_del, .policy = r_policy,
};

static void expect(size_t i, const char *what, uint8_t spi0, unsigned dir)
{
	ck_assert_uint_lt(i, nops);
	ck_assert_msg(!strcmp(ops_log[i].what, what), "op %zu is %s, expected %s", i, ops_log[i].what, what);
	ck_assert_msg(ops_log[i].spi[0] == spi0, "op %zu (%s) spi %02x, expected %02x", i, what, ops_log[i].spi[0], spi0);
	if (dir)
		ck_assert_msg(ops_log[i].dir == dir, "op %zu (%s) dir %u, expected %u", i, what, ops_log[i].dir, dir);
}

static gk_sasink *rec_sink(void)
{
	gk_sasink *s;
	nops = 0;
	fail_policy_dir = -1;
	fail_add = false;
	fail_add_spi0 = 0;
	ck_assert_int_eq(gk_sasink_open_ops(&rec_ops, &s, NULL, 0), GK_OK);
	ck_assert_str_eq(gk_sasink_name(s), "record");
	return s;
}

START_TEST(book_receiver_rekey)
{
	gk_sasink *s = rec_sink();
	gk_ident g = group_id("keyid:video-1");
	gk_group_sa a, b;
	make_sa(&a, GK_PROTO_ESP, GK_ENCR_AES_GCM_16, 256, 0, GK_SN_SEQ32);
	make_sa(&b, GK_PROTO_ESP, GK_ENCR_AES_GCM_16, 256, 0, GK_SN_SEQ32);
	a.spi[0] = 0xa1, b.spi[0] = 0xb2;
	gk_sa_install in = { .group = &g, .sa = &a, .dirs = GK_DIR_IN };
	char err[400] = "";
	ck_assert_msg(gk_sasink_add(s, &in, err, sizeof(err)) == GK_OK, "%s", err);
	/* SA first, then in and fwd policies with no SPI in the template */
	ck_assert_uint_eq(nops, 3);
	expect(0, "add", 0xa1, GK_DIR_IN);
	expect(1, "pol-new", 0, GK_DIR_IN);
	expect(2, "pol-new", 0, GK_DIR_FWD);
	uint32_t reqid = ops_log[0].reqid;
	ck_assert_uint_eq(reqid & GK_SASINK_REQID_MASK, GK_SASINK_REQID_BASE);
	ck_assert_uint_eq(ops_log[1].reqid, reqid);
	ck_assert_uint_eq(ops_log[1].saddr[0], 10); /* the single sender */
	/* rekey: the new SA joins the same policy set, no new policy */
	in.sa = &b;
	ck_assert_int_eq(gk_sasink_add(s, &in, err, sizeof(err)), GK_OK);
	ck_assert_uint_eq(nops, 4);
	expect(3, "add", 0xb2, GK_DIR_IN);
	ck_assert_uint_eq(ops_log[3].reqid, reqid);
	gk_sasink_entry e[4];
	ck_assert_uint_eq(gk_sasink_entries(s, e, 4), 2);
	ck_assert(gk_ident_eq(&e[0].group, &g));
	ck_assert_uint_eq(e[0].dirs, GK_DIR_IN);
	ck_assert(!e[0].out_active);
	/* the same SA again is refused */
	ck_assert_int_eq(gk_sasink_add(s, &in, err, sizeof(err)), GK_E_STATE);
	ck_assert_ptr_nonnull(strstr(err, "already installed"));
	/* old SA deleted after DTD: only the SA goes */
	ck_assert_int_eq(gk_sasink_del(s, &g, GK_PROTO_ESP, a.spi, 4, err, sizeof(err)), GK_OK);
	ck_assert_uint_eq(nops, 5);
	expect(4, "del", 0xa1, 0);
	ck_assert_int_eq(gk_sasink_del(s, &g, GK_PROTO_ESP, a.spi, 4, err, sizeof(err)), GK_E_NOT_FOUND);
	/* the last one: policies first, then the SA */
	ck_assert_int_eq(gk_sasink_del(s, &g, GK_PROTO_ESP, b.spi, 4, err, sizeof(err)), GK_OK);
	ck_assert_uint_eq(nops, 8);
	expect(5, "pol-del", 0, GK_DIR_FWD);
	expect(6, "pol-del", 0, GK_DIR_IN);
	expect(7, "del", 0xb2, 0);
	ck_assert_uint_eq(gk_sasink_entries(s, NULL, 0), 0);
	gk_sasink_close(s);
}
END_TEST

START_TEST(book_sender_switch)
{
	gk_sasink *s = rec_sink();
	gk_ident g = group_id("keyid:video-1");
	gk_group_sa a, b, c;
	make_sa(&a, GK_PROTO_ESP, GK_ENCR_AES_CBC, 256, GK_INTEG_HMAC_SHA2_256_128, GK_SN_SEQ32);
	b = a, c = a;
	a.spi[0] = 0xa1, b.spi[0] = 0xb2, c.spi[0] = 0xc3;
	gk_sa_install in = { .group = &g, .sa = &a, .dirs = GK_DIR_OUT, .shared_counter_key = true };
	char err[400] = "";
	/* CBC is not a counter mode: a shared key is fine outbound */
	ck_assert_msg(gk_sasink_add(s, &in, err, sizeof(err)) == GK_OK, "%s", err);
	expect(0, "add", 0xa1, GK_DIR_OUT);
	expect(1, "pol-new", 0xa1, GK_DIR_OUT);
	ck_assert_uint_eq(nops, 2);
	/* the new SA waits for ATD */
	in.sa = &b;
	ck_assert_int_eq(gk_sasink_add(s, &in, err, sizeof(err)), GK_OK);
	ck_assert_uint_eq(nops, 3);
	gk_sasink_entry e[4];
	ck_assert_uint_eq(gk_sasink_entries(s, e, 4), 2);
	ck_assert(e[0].out_active && !e[1].out_active);
	ck_assert_int_eq(gk_sasink_activate_out(s, &g, &b, err, sizeof(err)), GK_OK);
	expect(3, "pol-upd", 0xb2, GK_DIR_OUT);
	gk_sasink_entries(s, e, 4);
	ck_assert(!e[0].out_active && e[1].out_active);
	ck_assert_int_eq(gk_sasink_activate_out(s, &g, &b, err, sizeof(err)), GK_OK); /* no-op */
	ck_assert_uint_eq(nops, 4);
	ck_assert_int_eq(gk_sasink_activate_out(s, &g, &c, err, sizeof(err)), GK_E_NOT_FOUND);
	/* deleting the inactive old one leaves the policy alone */
	ck_assert_int_eq(gk_sasink_del(s, &g, GK_PROTO_ESP, a.spi, 4, err, sizeof(err)), GK_OK);
	ck_assert_uint_eq(nops, 5);
	expect(4, "del", 0xa1, 0);
	/* a third; deleting the active one switches to the newest remaining */
	in.sa = &c;
	ck_assert_int_eq(gk_sasink_add(s, &in, err, sizeof(err)), GK_OK);
	ck_assert_int_eq(gk_sasink_del(s, &g, GK_PROTO_ESP, b.spi, 4, err, sizeof(err)), GK_OK);
	expect(5, "add", 0xc3, GK_DIR_OUT);
	expect(6, "pol-upd", 0xc3, GK_DIR_OUT);
	expect(7, "del", 0xb2, 0);
	gk_sasink_entries(s, e, 4);
	ck_assert(e[0].out_active);
	/* flush: policies, then SAs */
	ck_assert_int_eq(gk_sasink_flush_group(s, &g, err, sizeof(err)), GK_OK);
	expect(8, "pol-del", 0xc3, GK_DIR_OUT);
	expect(9, "del", 0xc3, 0);
	ck_assert_uint_eq(nops, 10);
	ck_assert_uint_eq(gk_sasink_entries(s, NULL, 0), 0);
	gk_sasink_close(s);
}
END_TEST

START_TEST(book_counter_mode_refused)
{
	gk_sasink *s = rec_sink();
	gk_ident g = group_id("keyid:x");
	gk_group_sa a;
	make_sa(&a, GK_PROTO_ESP, GK_ENCR_AES_GCM_16, 256, 0, GK_SN_UNSPEC32);
	gk_sa_install in = { .group = &g, .sa = &a, .dirs = GK_DIR_OUT, .shared_counter_key = true };
	char err[400] = "";
	ck_assert_int_eq(gk_sasink_add(s, &in, err, sizeof(err)), GK_E_UNSUPPORTED);
	ck_assert_str_eq(err, "group keyid:x: the kernel cannot use Sender-IDs (RFC 6054) with counter-mode cipher "
			      "AES_GCM_16 shared by several senders; give each sender its own SA or use a non-counter transform");
	ck_assert_uint_eq(nops, 0);
	/* the same SA inbound is fine (receivers do not build IVs) */
	in.dirs = GK_DIR_IN;
	ck_assert_int_eq(gk_sasink_add(s, &in, err, sizeof(err)), GK_OK);
	/* a sender's own counter-mode SA too */
	a.spi[0] = 0x77;
	in.dirs = GK_DIR_OUT;
	in.shared_counter_key = false;
	ck_assert_int_eq(gk_sasink_add(s, &in, err, sizeof(err)), GK_OK);
	/* ChaCha20 and CTR are counter modes as well */
	make_sa(&a, GK_PROTO_ESP, GK_ENCR_CHACHA20_POLY1305, 0, 0, GK_SN_UNSPEC32);
	a.spi[0] = 0x99;
	in.shared_counter_key = true;
	ck_assert_int_eq(gk_sasink_add(s, &in, err, sizeof(err)), GK_E_UNSUPPORTED);
	ck_assert_ptr_nonnull(strstr(err, "CHACHA20_POLY1305"));
	make_sa(&a, GK_PROTO_ESP, GK_ENCR_AES_CTR, 128, GK_INTEG_HMAC_SHA2_256_128, GK_SN_UNSPEC32);
	ck_assert_int_eq(gk_sasink_add(s, &in, err, sizeof(err)), GK_E_UNSUPPORTED);
	ck_assert_ptr_nonnull(strstr(err, "AES_CTR"));
	gk_sasink_close(s);
}
END_TEST

START_TEST(book_rollback)
{
	gk_sasink *s = rec_sink();
	gk_ident g = group_id("keyid:x");
	gk_group_sa a;
	make_sa(&a, GK_PROTO_ESP, GK_ENCR_AES_GCM_16, 256, 0, GK_SN_SEQ32);
	gk_sa_install in = { .group = &g, .sa = &a, .dirs = GK_DIR_IN };
	char err[400] = "";
	/* the kernel refuses the SA: nothing installed, the error names the SA and the reason */
	fail_add = true;
	ck_assert_int_eq(gk_sasink_add(s, &in, err, sizeof(err)), GK_E_UNSUPPORTED);
	ck_assert_str_eq(err, "group keyid:x: the kernel refused ESP SA spi 0x12345678 (AES_GCM_16/256) to 239.1.2.3: "
			      "Protocol not supported (Requested type not found)");
	ck_assert_uint_eq(nops, 0);
	ck_assert_uint_eq(gk_sasink_entries(s, NULL, 0), 0);
	/* the fwd policy fails: the in policy and the SA are taken back */
	fail_add = false;
	fail_policy_dir = GK_DIR_FWD;
	ck_assert_int_eq(gk_sasink_add(s, &in, err, sizeof(err)), GK_E_STATE);
	ck_assert_ptr_nonnull(strstr(err, "fwd policy"));
	ck_assert_uint_eq(nops, 4);
	expect(0, "add", 0x12, 0);
	expect(1, "pol-new", 0, GK_DIR_IN);
	expect(2, "pol-del", 0, GK_DIR_IN);
	expect(3, "del", 0x12, 0);
	ck_assert_uint_eq(gk_sasink_entries(s, NULL, 0), 0);
	/* and works once the kernel agrees */
	fail_policy_dir = -1;
	ck_assert_int_eq(gk_sasink_add(s, &in, err, sizeof(err)), GK_OK);
	ck_assert_uint_eq(gk_sasink_entries(s, NULL, 0), 1);
	/* a Rekey SA is not a kernel SA; wrong SPI sizes are refused */
	gk_group_sa k = a;
	k.proto = GK_PROTO_GIKE_UPDATE;
	in.sa = &k;
	ck_assert_int_eq(gk_sasink_add(s, &in, err, sizeof(err)), GK_E_INVAL);
	k.proto = GK_PROTO_ESP;
	k.spi_len = 16;
	ck_assert_int_eq(gk_sasink_add(s, &in, err, sizeof(err)), GK_E_INVAL);
	gk_sasink_close(s);
}
END_TEST

START_TEST(book_groups_apart)
{
	gk_sasink *s = rec_sink();
	gk_ident g1 = group_id("keyid:one"), g2 = group_id("keyid:two");
	gk_group_sa a, b;
	make_sa(&a, GK_PROTO_ESP, GK_ENCR_AES_GCM_16, 256, 0, GK_SN_SEQ32);
	make_sa(&b, GK_PROTO_ESP, GK_ENCR_AES_GCM_16, 256, 0, GK_SN_SEQ32);
	b.spi[0] = 0x55;
	ts4(&b.dst, "239.1.2.4", "239.1.2.4", 17, 5004, 5004);
	gk_sa_install in1 = { .group = &g1, .sa = &a, .dirs = GK_DIR_IN };
	gk_sa_install in2 = { .group = &g2, .sa = &b, .dirs = GK_DIR_IN | GK_DIR_OUT };
	char err[400];
	ck_assert_int_eq(gk_sasink_add(s, &in1, err, sizeof(err)), GK_OK);
	ck_assert_int_eq(gk_sasink_add(s, &in2, err, sizeof(err)), GK_OK);
	ck_assert_uint_ne(ops_log[0].reqid, ops_log[3].reqid); /* own reqid per set */
	ck_assert_uint_eq(nops, 7);                           /* 1+2 and 1+3 */
	size_t before = nops;
	ck_assert_int_eq(gk_sasink_flush_group(s, &g1, err, sizeof(err)), GK_OK);
	ck_assert_uint_eq(nops, before + 3);
	for (size_t i = before; i < nops; i++)
		ck_assert_uint_eq(ops_log[i].reqid, ops_log[0].reqid);
	gk_sasink_entry e[2];
	ck_assert_uint_eq(gk_sasink_entries(s, e, 2), 1);
	ck_assert(gk_ident_eq(&e[0].group, &g2));
	ck_assert_uint_eq(e[0].dirs, GK_DIR_IN | GK_DIR_OUT);
	ck_assert(e[0].out_active);
	gk_sasink_close(s);
}
END_TEST

START_TEST(none_backend)
{
	gk_sasink *s;
	char err[300] = "";
	ck_assert_int_eq(gk_sasink_open("none", &s, err, sizeof(err)), GK_OK);
	ck_assert_str_eq(gk_sasink_name(s), "none");
	ck_assert_int_eq(gk_sasink_flush_stale(s, err, sizeof(err)), GK_OK);
	gk_ident g = group_id("keyid:video-1");
	gk_group_sa a;
	make_sa(&a, GK_PROTO_ESP, GK_ENCR_AES_GCM_16, 256, 0, GK_SN_SEQ32);
	gk_sa_install in = { .group = &g, .sa = &a, .dirs = GK_DIR_OUT };
	ck_assert_int_eq(gk_sasink_add(s, &in, err, sizeof(err)), GK_OK);
	gk_sasink_entry e[1];
	ck_assert_uint_eq(gk_sasink_entries(s, e, 1), 1);
	ck_assert_mem_hex(e[0].spi, 4, "12345678");
	ck_assert_uint_eq(e[0].proto, GK_PROTO_ESP);
	ck_assert(e[0].out_active);
	ck_assert_int_eq(gk_sasink_flush_group(s, &g, err, sizeof(err)), GK_OK);
	ck_assert_uint_eq(gk_sasink_entries(s, e, 1), 0);
	gk_sasink_close(s);
	ck_assert_int_eq(gk_sasink_open("ipsec", &s, err, sizeof(err)), GK_E_INVAL);
	ck_assert_ptr_nonnull(strstr(err, "xfrm or none"));
}
END_TEST

/* ---- what a member accepts before installing (member/gm_check.c) ---- */

static gk_prefix prefix(const char *text)
{
	gk_prefix p;
	char why[GK_ERR_MAX] = "stale"; /* success leaves no reason behind */
	ck_assert_int_eq(gk_prefix_parse(text, &p, why, sizeof(why)), GK_OK);
	ck_assert_str_eq(why, "");
	return p;
}

START_TEST(allow_selector_parse)
{
	gk_prefix p = prefix("192.0.2.0/24");
	ck_assert_uint_eq(p.family, 4);
	ck_assert_uint_eq(p.len, 24);
	ck_assert_mem_hex(p.addr, 4, "c0000200");
	p = prefix("2001:db8::/32");
	ck_assert_uint_eq(p.family, 6);
	ck_assert_uint_eq(p.len, 32);
	p = prefix("198.51.100.7");
	ck_assert_uint_eq(p.len, 32);
	p = prefix("::1");
	ck_assert_uint_eq(p.len, 128);
	static const struct { const char *text, *why; } bad[] = {
		{ "192.0.2.1/24", "host bits set after the prefix length" },
		{ "192.0.2.0/33", "bad prefix length" },
		{ "192.0.2.0/", "bad prefix length" },
		{ "192.0.2.0/24x", "bad prefix length" },
		{ "2001:db8::/129", "bad prefix length" },
		{ "example.org/24", "not an address or ADDRESS/LENGTH" },
		{ "", "not an address or ADDRESS/LENGTH" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char why[GK_ERR_MAX] = "";
		ck_assert_int_eq(gk_prefix_parse(bad[i].text, &p, why, sizeof(why)), GK_E_INVAL);
		ck_assert_str_eq(why, bad[i].why);
	}
}
END_TEST

START_TEST(selector_destinations)
{
	gk_ts_spec t;
	gk_prefix allow[2] = { prefix("192.0.2.0/24"), prefix("2001:db8:1::/48") };
	/* multicast needs no permission, both families, and ranges inside 224/4 or ff00::/8 */
	ts4(&t, "239.1.2.3", "239.1.2.3", 17, 5004, 5004);
	ck_assert(gk_gm_dst_allowed(&t, NULL, 0));
	ts4(&t, "224.0.0.0", "239.255.255.255", 0, 0, 65535);
	ck_assert(gk_gm_dst_allowed(&t, NULL, 0));
	ts6(&t, "ff3e::1", "ff3e::1", 0, 0, 65535);
	ck_assert(gk_gm_dst_allowed(&t, NULL, 0));
	/* wider than multicast, or unicast: refused unless allowed */
	ts4(&t, "0.0.0.0", "255.255.255.255", 0, 0, 65535);
	ck_assert(!gk_gm_dst_allowed(&t, allow, 2));
	ts4(&t, "223.255.255.255", "239.1.1.1", 0, 0, 65535);
	ck_assert(!gk_gm_dst_allowed(&t, NULL, 0));
	ts4(&t, "239.1.1.1", "240.0.0.0", 0, 0, 65535);
	ck_assert(!gk_gm_dst_allowed(&t, NULL, 0));
	ts6(&t, "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 0, 0, 65535);
	ck_assert(!gk_gm_dst_allowed(&t, allow, 2));
	ts6(&t, "fe80::1", "fe80::1", 0, 0, 65535);
	ck_assert(!gk_gm_dst_allowed(&t, NULL, 0));
	ts4(&t, "192.0.2.10", "192.0.2.20", 0, 0, 65535);
	ck_assert(!gk_gm_dst_allowed(&t, NULL, 0));
	ck_assert(gk_gm_dst_allowed(&t, allow, 2));
	ts4(&t, "192.0.2.10", "192.0.3.1", 0, 0, 65535);   /* runs past the allowed prefix */
	ck_assert(!gk_gm_dst_allowed(&t, allow, 2));
	ts4(&t, "192.0.1.255", "192.0.2.1", 0, 0, 65535);  /* starts before it */
	ck_assert(!gk_gm_dst_allowed(&t, allow, 2));
	ts6(&t, "2001:db8:1::5", "2001:db8:1:ffff::1", 0, 0, 65535);
	ck_assert(gk_gm_dst_allowed(&t, allow, 2));
	ts6(&t, "2001:db8:2::5", "2001:db8:2::5", 0, 0, 65535);
	ck_assert(!gk_gm_dst_allowed(&t, allow, 2));
	gk_prefix v4in6 = prefix("192.0.2.0/24");          /* a prefix of the other family */
	ts6(&t, "::c000:20a", "::c000:20a", 0, 0, 65535);
	ck_assert(!gk_gm_dst_allowed(&t, &v4in6, 1));
	gk_prefix odd = prefix("10.64.0.0/10");             /* a length that is not a whole octet */
	ts4(&t, "10.127.255.255", "10.127.255.255", 0, 0, 65535);
	ck_assert(gk_gm_dst_allowed(&t, &odd, 1));
	ts4(&t, "10.128.0.0", "10.128.0.0", 0, 0, 65535);
	ck_assert(!gk_gm_dst_allowed(&t, &odd, 1));
}
END_TEST

/* A group state as a registration delivers it: one ESP SA and, when kek, a Rekey SA. */
static void state_with(gk_group_state *gs, bool kek, uint16_t gcauth)
{
	memset(gs, 0, sizeof(*gs));
	make_sa(&gs->sas[0], GK_PROTO_ESP, GK_ENCR_AES_GCM_16, 256, 0, GK_SN_SEQ32);
	gs->nsas = 1;
	if (!kek)
		return;
	gk_group_sa *k = &gs->sas[gs->nsas++];
	k->proto = GK_PROTO_GIKE_UPDATE;
	k->gcauth = gcauth;
	if (gcauth == GK_GCAUTH_DIGITAL_SIGNATURE) {
		gk_chunk alg = gk_sig_algid(GK_SIG_ED25519);
		memcpy(k->sig_algid, alg.ptr, alg.len);
		k->sig_algid_len = alg.len;
		EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
		gk_wbuf w;
		gk_wbuf_init(&w, sizeof(gs->auth_key));
		ck_assert_int_eq(gk_pubkey_to_spki(key, &w), GK_OK);
		memcpy(gs->auth_key, w.data, w.len);
		gs->auth_key_len = w.len;
		gk_wbuf_free(&w);
		EVP_PKEY_free(key);
	}
}

START_TEST(state_check)
{
	gk_group_state gs;
	char why[256] = "";
	gk_prefix allow = prefix("192.0.2.0/24");
	state_with(&gs, true, GK_GCAUTH_DIGITAL_SIGNATURE);
	ck_assert_int_eq(gk_gm_state_check(&gs, GK_GSA_REGISTRATION, NULL, 0, why, sizeof(why)), GK_OK);
	/* a unicast destination: refused without the prefix, accepted with it */
	ts4(&gs.sas[0].dst, "192.0.2.7", "192.0.2.7", 0, 0, 65535);
	ck_assert_int_eq(gk_gm_state_check(&gs, GK_GSA_REGISTRATION, NULL, 0, why, sizeof(why)), GK_E_UNSUPPORTED);
	ck_assert_str_eq(why, "ESP SA destination 192.0.2.7/32 is neither multicast nor inside a prefix allowed "
			      "with --allow-selector");
	ck_assert_int_eq(gk_gm_state_check(&gs, GK_GSA_REGISTRATION, &allow, 1, why, sizeof(why)), GK_OK);
	/* everything: refused also in a rekey, also for a second SA behind a good one */
	gs.sas[2] = gs.sas[1];
	gs.sas[1] = gs.sas[0];
	gs.nsas = 3;
	ts4(&gs.sas[0].dst, "239.1.2.3", "239.1.2.3", 0, 0, 65535);
	ts4(&gs.sas[1].dst, "0.0.0.0", "255.255.255.255", 0, 0, 65535);
	ck_assert_int_eq(gk_gm_state_check(&gs, GK_GSA_REKEY, &allow, 1, why, sizeof(why)), GK_E_UNSUPPORTED);
	ck_assert_str_eq(why, "ESP SA destination 0.0.0.0/0 is neither multicast nor inside a prefix allowed "
			      "with --allow-selector");

	/* GCAUTH Digital Signature fails closed */
	state_with(&gs, true, GK_GCAUTH_DIGITAL_SIGNATURE);
	gs.auth_key_len = 0;
	ck_assert_int_eq(gk_gm_state_check(&gs, GK_GSA_REGISTRATION, NULL, 0, why, sizeof(why)), GK_E_AUTH);
	ck_assert_str_eq(why, "GCAUTH Digital Signature without an AUTH_KEY: GSA_REKEY could not be verified");
	state_with(&gs, true, GK_GCAUTH_DIGITAL_SIGNATURE);
	gs.auth_key_len = 20;                      /* truncated DER: cannot load */
	ck_assert_int_eq(gk_gm_state_check(&gs, GK_GSA_REGISTRATION, NULL, 0, why, sizeof(why)), GK_E_AUTH);
	ck_assert_str_eq(why, "the AUTH_KEY for GSA_REKEY signatures cannot be loaded");
	ck_assert_int_eq(gk_gm_state_check(&gs, GK_GSA_REKEY, NULL, 0, why, sizeof(why)), GK_E_AUTH);
	state_with(&gs, true, GK_GCAUTH_DIGITAL_SIGNATURE);
	gs.sas[1].sig_algid[0] = 0x31; /* an AlgorithmIdentifier we do not know (a SET, not a SEQUENCE) */
	ck_assert_int_eq(gk_gm_state_check(&gs, GK_GSA_REGISTRATION, NULL, 0, why, sizeof(why)), GK_E_AUTH);
	ck_assert_str_eq(why, "GSA_REKEY signature algorithm not supported: GSA_REKEY could not be verified");
	state_with(&gs, true, 7);
	ck_assert_int_eq(gk_gm_state_check(&gs, GK_GSA_REGISTRATION, NULL, 0, why, sizeof(why)), GK_E_AUTH);
	ck_assert_str_eq(why, "Rekey SA with unknown GCAUTH method 7");
	/* implicit, when the group policy says so, and groups without a Rekey SA are fine */
	state_with(&gs, true, GK_GCAUTH_IMPLICIT);
	ck_assert_int_eq(gk_gm_state_check(&gs, GK_GSA_REGISTRATION, NULL, 0, why, sizeof(why)), GK_OK);
	state_with(&gs, false, 0);
	ck_assert_int_eq(gk_gm_state_check(&gs, GK_GSA_REGISTRATION, NULL, 0, why, sizeof(why)), GK_OK);
	gk_group_state_wipe(&gs);
}
END_TEST

/* The GSA_NEXT_SPI trigger: once per Rekey SA, and once per interval whatever the Rekey SA. */
START_TEST(next_spi_guard)
{
	gk_next_spi_guard g;
	memset(&g, 0, sizeof(g));
	uint8_t kek1[16] = { 1 }, kek2[16] = { 2 }, kek3[16] = { 3 };
	const int64_t iv = 600000;
	ck_assert(gk_next_spi_allow(&g, kek1, 1000, iv));
	ck_assert(!gk_next_spi_allow(&g, kek1, 1001, iv));          /* the same Rekey SA */
	ck_assert(!gk_next_spi_allow(&g, kek1, 1000 + 10 * iv, iv)); /* ... however much later */
	ck_assert(!gk_next_spi_allow(&g, kek2, 1000 + iv - 1, iv));  /* a new one, within the interval */
	ck_assert(gk_next_spi_allow(&g, kek2, 1000 + iv, iv));       /* a new one, after it */
	ck_assert(!gk_next_spi_allow(&g, kek2, 1000 + 3 * iv, iv));
	ck_assert(!gk_next_spi_allow(&g, kek3, 1000 + 2 * iv - 1, iv));
	ck_assert(gk_next_spi_allow(&g, kek3, 1000 + 2 * iv, iv));
	/* a group that never fired may fire at once, also at time 0 */
	memset(&g, 0, sizeof(g));
	ck_assert(gk_next_spi_allow(&g, kek1, 0, iv));
}
END_TEST

/* ---- the real kernel, in a network namespace of our own (root only) ---- */

static int count_cb(const struct nlmsghdr *nlh, void *data)
{
	size_t *n = data;
	(void)nlh;
	(*n)++;
	return MNL_CB_OK;
}

/* Number of policies (or SAs) in this namespace's kernel, ours or not. */
static size_t kernel_count(uint16_t type)
{
	struct mnl_socket *nl = mnl_socket_open(NETLINK_XFRM);
	ck_assert_ptr_nonnull(nl);
	ck_assert_int_eq(mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID), 0);
	uint8_t buf[16384];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = 1;
	mnl_nlmsg_put_extra_header(nlh, type == XFRM_MSG_GETSA ? sizeof(struct xfrm_usersa_info)
							       : sizeof(struct xfrm_userpolicy_info));
	ck_assert_int_ge(mnl_socket_sendto(nl, nlh, nlh->nlmsg_len), 0);
	size_t n = 0;
	for (;;) {
		ssize_t r = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		ck_assert_int_gt(r, 0);
		int res = mnl_cb_run(buf, (size_t)r, 1, mnl_socket_get_portid(nl), count_cb, &n);
		ck_assert_int_ge(res, 0);
		if (res == MNL_CB_STOP)
			break;
	}
	mnl_socket_close(nl);
	return n;
}

START_TEST(kernel_namespace)
{
	if (geteuid() != 0 || unshare(CLONE_NEWNET) != 0) {
		tu_skip("check_xfrm kernel_namespace", "needs root for a network namespace of its own");
		return;
	}
	gk_sasink *s;
	char err[400] = "";
	ck_assert_msg(gk_sasink_open("xfrm", &s, err, sizeof(err)) == GK_OK, "%s", err);
	ck_assert_str_eq(gk_sasink_name(s), "xfrm");
	ck_assert_uint_eq(kernel_count(XFRM_MSG_GETPOLICY), 0);

	/* our policies go in exactly as built, and flush_stale finds them by the marker */
	const gk_sasink_ops *x = &gk_sasink_xfrm_ops;
	gk_kpol p;
	make_kpol(&p, GK_DIR_IN);
	ts4(&p.src, "10.0.0.1", "10.0.0.6", 17, 0, 65535); /* four selector blocks */
	memset(p.saddr, 0, sizeof(p.saddr));
	ck_assert_msg(x->policy(s, GK_KPOL_NEW, &p, err, sizeof(err)) == GK_OK, "%s", err);
	make_kpol(&p, GK_DIR_OUT);
	ck_assert_msg(x->policy(s, GK_KPOL_NEW, &p, err, sizeof(err)) == GK_OK, "%s", err);
	ck_assert_uint_eq(kernel_count(XFRM_MSG_GETPOLICY), 5);
	/* the same again: EEXIST, and what was already there stays */
	ck_assert_int_eq(x->policy(s, GK_KPOL_NEW, &p, err, sizeof(err)), GK_E_STATE);
	ck_assert_ptr_nonnull(strstr(err, "already exists"));
	p.spi[3] = 2;
	ck_assert_msg(x->policy(s, GK_KPOL_UPDATE, &p, err, sizeof(err)) == GK_OK, "%s", err);
	ck_assert_uint_eq(kernel_count(XFRM_MSG_GETPOLICY), 5);
	/* someone else's policy with the same priority but not our reqid */
	gk_kpol other;
	make_kpol(&other, GK_DIR_OUT);
	ts4(&other.dst, "239.9.9.9", "239.9.9.9", 17, 5004, 5004);
	other.reqid = 1;
	ck_assert_msg(x->policy(s, GK_KPOL_NEW, &other, err, sizeof(err)) == GK_OK, "%s", err);
	ck_assert_uint_eq(kernel_count(XFRM_MSG_GETPOLICY), 6);
	ck_assert_msg(gk_sasink_flush_stale(s, err, sizeof(err)) == GK_OK, "%s", err);
	ck_assert_uint_eq(kernel_count(XFRM_MSG_GETPOLICY), 1);
	ck_assert_msg(x->policy(s, GK_KPOL_DEL, &other, err, sizeof(err)) == GK_OK, "%s", err);
	ck_assert_uint_eq(kernel_count(XFRM_MSG_GETPOLICY), 0);

	/* a whole SA: installed where the kernel has ESP and AES-GCM, else refused cleanly with
	 * nothing left behind */
	gk_ident g = group_id("keyid:kernel-test");
	gk_group_sa a;
	make_sa(&a, GK_PROTO_ESP, GK_ENCR_AES_GCM_16, 256, 0, GK_SN_SEQ32);
	gk_sa_install in = { .group = &g, .sa = &a, .dirs = GK_DIR_IN };
	gk_status st = gk_sasink_add(s, &in, err, sizeof(err));
	if (st == GK_OK) {
		ck_assert_uint_eq(kernel_count(XFRM_MSG_GETSA), 1);
		ck_assert_uint_eq(kernel_count(XFRM_MSG_GETPOLICY), 2);
		ck_assert_int_eq(gk_sasink_flush_group(s, &g, err, sizeof(err)), GK_OK);
		printf("check_xfrm: this kernel accepted an ESP AES-GCM SA\n");
	} else {
		ck_assert_ptr_nonnull(strstr(err, "group keyid:kernel-test: the kernel refused ESP SA spi 0x12345678 (AES_GCM_16/256)"));
		ck_assert_ptr_nonnull(strstr(err, "rfc4106(gcm(aes))"));
		ck_assert_uint_eq(gk_sasink_entries(s, NULL, 0), 0);
		printf("check_xfrm: this kernel refused an ESP SA: %s\n", err);
	}
	ck_assert_uint_eq(kernel_count(XFRM_MSG_GETSA), 0);
	ck_assert_uint_eq(kernel_count(XFRM_MSG_GETPOLICY), 0);

	/* the same with AES-CBC + HMAC-SHA-256 outbound (algorithms most kernels have) */
	make_sa(&a, GK_PROTO_ESP, GK_ENCR_AES_CBC, 128, GK_INTEG_HMAC_SHA2_256_128, GK_SN_SEQ32);
	in.dirs = GK_DIR_OUT;
	st = gk_sasink_add(s, &in, err, sizeof(err));
	if (st == GK_OK) {
		ck_assert_uint_eq(kernel_count(XFRM_MSG_GETSA), 1);
		ck_assert_uint_eq(kernel_count(XFRM_MSG_GETPOLICY), 1);
		ck_assert_int_eq(gk_sasink_flush_group(s, &g, err, sizeof(err)), GK_OK);
		printf("check_xfrm: this kernel accepted an ESP AES-CBC/HMAC-SHA-256 SA\n");
	} else {
		ck_assert_ptr_nonnull(strstr(err, "the kernel refused ESP SA spi 0x12345678 (AES_CBC/128 + HMAC_SHA2_256_128)"));
		ck_assert_ptr_nonnull(strstr(err, "cbc(aes) + hmac(sha256)"));
		printf("check_xfrm: this kernel refused an ESP SA: %s\n", err);
	}
	ck_assert_uint_eq(kernel_count(XFRM_MSG_GETSA), 0);
	ck_assert_uint_eq(kernel_count(XFRM_MSG_GETPOLICY), 0);

	/* Refusals any kernel makes, ESP or not. All or none: an admin's policy (reqid 7) holds the
	 * third of the four selector blocks of an in policy; the kernel refuses that one (EEXIST)
	 * and the two added before it are taken back, the admin's stays. */
	gk_kpol q, admin;
	make_kpol(&q, GK_DIR_IN);
	ts4(&q.src, "10.0.0.1", "10.0.0.6", 17, 0, 65535); /* .1/32 .2/31 .4/31 .6/32 */
	memset(q.saddr, 0, sizeof(q.saddr));
	admin = q;
	ts4(&admin.src, "10.0.0.4", "10.0.0.5", 17, 0, 65535);
	admin.reqid = 7;
	ck_assert_msg(x->policy(s, GK_KPOL_NEW, &admin, err, sizeof(err)) == GK_OK, "%s", err);
	ck_assert_int_eq(x->policy(s, GK_KPOL_NEW, &q, err, sizeof(err)), GK_E_STATE);
	ck_assert_str_eq(err, "File exists: a policy with these selectors already exists");
	ck_assert_uint_eq(kernel_count(XFRM_MSG_GETPOLICY), 1);
	printf("# ran: check_xfrm kernel: a policy refused at its third selector block, the first two taken back\n");

	/* A whole SA whose fwd policy the kernel refuses (the admin's fwd policy has its selectors):
	 * with ESP the SA and its in policy went in first and are rolled back; without ESP the SA
	 * itself is refused. Either way nothing of it stays, and the admin's policy does. */
	gk_kpol afwd;
	make_kpol(&afwd, GK_DIR_FWD);
	afwd.reqid = 7;
	ck_assert_msg(x->policy(s, GK_KPOL_NEW, &afwd, err, sizeof(err)) == GK_OK, "%s", err);
	make_sa(&a, GK_PROTO_ESP, GK_ENCR_AES_GCM_16, 256, 0, GK_SN_SEQ32);
	in.dirs = GK_DIR_IN;
	st = gk_sasink_add(s, &in, err, sizeof(err));
	if (strstr(err, "fwd policy")) {
		ck_assert_int_eq(st, GK_E_STATE);
		ck_assert_str_eq(err, "group keyid:kernel-test: the kernel refused the fwd policy of ESP SA spi 0x12345678 "
				      "(AES_GCM_16/256) to 239.1.2.3: File exists: a policy with these selectors already exists");
		printf("# ran: check_xfrm kernel: an SA and its in policy installed, its fwd policy refused, both rolled back\n");
	} else {
		ck_assert_int_eq(st, GK_E_UNSUPPORTED);
		ck_assert_ptr_nonnull(strstr(err, "the kernel refused ESP SA spi 0x12345678 (AES_GCM_16/256)"));
		printf("ok - check_xfrm kernel: the rollback of an installed SA whose policy is refused # SKIP this kernel "
		       "has no ESP (checked on the recording backend: book_rollback, groups_registration_rolled_back)\n");
	}
	ck_assert_uint_eq(gk_sasink_entries(s, NULL, 0), 0);
	ck_assert_uint_eq(kernel_count(XFRM_MSG_GETSA), 0);
	ck_assert_uint_eq(kernel_count(XFRM_MSG_GETPOLICY), 2);
	ck_assert_msg(gk_sasink_flush_stale(s, err, sizeof(err)) == GK_OK, "%s", err);
	ck_assert_uint_eq(kernel_count(XFRM_MSG_GETPOLICY), 2); /* not gmd's: they stay */
	gk_sasink_close(s);
}
END_TEST

/* ---- the group manager (member/gm_groups.c) following GSA_REKEY ---- */

typedef struct gm_rig {
	int64_t now_ms;             /* the group manager's clock, moved by rig_advance */
	gk_gm_groups *m;
	gk_sasink *sink;
	FILE *events;
	char *ev_buf;
	size_t ev_len;
	gk_rand_test rnd;
} gm_rig;

/* A Rekey SA with implicit authentication, SPI and keys filled from seed. Its destination port
 * is 0: the listener binds an ephemeral port and nothing reaches it but what the test feeds. */
static void make_kek(gk_group_sa *k, uint8_t seed)
{
	memset(k, 0, sizeof(*k));
	k->proto = GK_PROTO_GIKE_UPDATE;
	k->spi_len = 16;
	memset(k->spi, seed, 16);
	ts4(&k->src, "10.98.0.1", "10.98.0.1", 17, 0, 65535);
	ts4(&k->dst, "239.1.2.9", "239.1.2.9", 17, 0, 0);
	k->encr = GK_ENCR_AES_CBC;
	k->encr_key_bits = 256;
	k->integ = GK_INTEG_HMAC_SHA2_256_128;
	k->kwa = GK_KWA_KW_5649_256;
	k->gcauth = GK_GCAUTH_IMPLICIT;
	k->lifetime = 3600;
	k->keymat_len = gk_group_keymat_len(k->proto, k->encr, k->encr_key_bits, k->integ, k->kwa);
	ck_assert_uint_gt(k->keymat_len, 0);
	for (size_t i = 0; i < k->keymat_len; i++)
		k->keymat[i] = (uint8_t)(seed + 3 * i);
}

static int64_t rig_now(void *ctx)
{
	return ((gm_rig *)ctx)->now_ms;
}

/* Moves the clock by ms and lets the group manager's timers run. */
static void rig_advance(gm_rig *r, int64_t ms)
{
	r->now_ms += ms;
	gk_gm_groups_tick(r->m);
}

/* The group manager of a receiver or a sender of keyid:video-1, not registered yet. */
static void rig_open(gm_rig *r, bool sender)
{
	memset(r, 0, sizeof(*r));
	r->sink = rec_sink();
	r->events = open_memstream(&r->ev_buf, &r->ev_len);
	ck_assert_ptr_nonnull(r->events);
	gk_rand_test_init(&r->rnd, 7);
	gk_gm_groups_env env = { .clock = { .now_ms = rig_now, .ctx = r }, .sink = r->sink, .events = r->events, .sender = sender };
	gk_ident g = group_id("keyid:video-1");
	ck_assert_int_eq(gk_gm_groups_new(&env, &g, 1, &r->m), GK_OK);
}

/* Registered to keyid:video-1 with an ESP SA (SPI 12345678) and the Rekey SA kek; dtd seconds
 * of GWP_DTD (0: none sent). */
static void rig_start(gm_rig *r, const gk_group_sa *kek, uint16_t dtd)
{
	rig_open(r, false);
	gk_group_state gs;
	memset(&gs, 0, sizeof(gs));
	make_sa(&gs.sas[0], GK_PROTO_ESP, GK_ENCR_AES_GCM_16, 256, 0, GK_SN_SEQ32);
	gs.sas[1] = *kek;
	gs.nsas = 2;
	gs.dtd = dtd;
	gs.has_dtd = dtd != 0;
	gk_gm_groups_registered(r->m, 0, &gs, false);
	gk_group_state_wipe(&gs);
	ck_assert_uint_eq(nops, 3); /* the ESP SA and its in and fwd policies */
}

static void rig_stop(gm_rig *r)
{
	gk_gm_groups_free(r->m);
	gk_sasink_close(r->sink);
	fclose(r->events);
	free(r->ev_buf);
}

/* How many event lines name this event. */
static size_t rig_events(gm_rig *r, const char *event)
{
	char key[64];
	size_t n = 0;
	fflush(r->events);
	snprintf(key, sizeof(key), "\"event\":\"%s\"", event);
	for (const char *p = r->ev_buf; p && (p = strstr(p, key)); p += strlen(key))
		n++;
	return n;
}

/* A GSA_REKEY under kek with Message ID id carrying gs (NULL: none) and the Delete payloads,
 * fed to the group manager as its listener would receive it. */
static void rig_feed(gm_rig *r, const gk_group_sa *kek, uint32_t id, const gk_group_state *gs,
		     const gk_pl_delete *del, size_t ndel)
{
	gk_group_keys k;
	gk_arena a;
	gk_out_pl pl[8];
	size_t n = 0;
	gk_dgrams d;
	ck_assert_int_eq(gk_group_keys_split(GK_CHUNK(kek->keymat, kek->keymat_len), kek->proto, kek->encr,
					     kek->encr_key_bits, kek->integ, kek->kwa, &k), GK_OK);
	gk_arena_init(&a, 0);
	gk_pl_gsa gsa;
	gk_pl_kd kd;
	if (gs) {
		ck_assert_int_eq(gk_group_state_encode(gs, GK_GSA_REKEY, kek->kwa, k.wrap, &a, &gsa, &kd), GK_OK);
		pl[n++] = (gk_out_pl){ GK_PL_GSA, false, &gsa };
		pl[n++] = (gk_out_pl){ GK_PL_KD, false, &kd };
	}
	for (size_t i = 0; i < ndel; i++)
		pl[n++] = (gk_out_pl){ GK_PL_DELETE, false, &del[i] };
	gk_rekey_out o = { .msg_id = id, .pl = pl, .npl = n,
			   .kek = { .encr = kek->encr, .encr_key_bits = kek->encr_key_bits, .integ = kek->integ,
				    .enc = k.enc, .integ_key = k.integ } };
	memcpy(o.spi, kek->spi, 16);
	ck_assert_int_eq(gk_rekey_build(&o, &r->rnd.r, &d), GK_OK);
	struct sockaddr_in from = { .sin_family = AF_INET };
	for (size_t i = 0; i < d.n; i++)
		gk_gm_groups_rekey_input(r->m, 0, d.d[i].data, d.d[i].len, (const struct sockaddr *)&from);
	gk_dgrams_free(&d);
	gk_arena_free(&a);
}

/* A state carrying one ESP SA whose SPI starts with spi0. */
static void esp_state(gk_group_state *gs, uint8_t spi0)
{
	memset(gs, 0, sizeof(*gs));
	make_sa(&gs->sas[0], GK_PROTO_ESP, GK_ENCR_AES_GCM_16, 256, 0, GK_SN_SEQ32);
	gs->sas[0].spi[0] = spi0;
	gs->nsas = 1;
}

static size_t adds_of(uint8_t spi0)
{
	size_t n = 0;
	for (size_t i = 0; i < nops; i++)
		n += !strcmp(ops_log[i].what, "add") && ops_log[i].spi[0] == spi0;
	return n;
}

static size_t dels_of(uint8_t spi0)
{
	size_t n = 0;
	for (size_t i = 0; i < nops; i++)
		n += !strcmp(ops_log[i].what, "del") && ops_log[i].spi[0] == spi0;
	return n;
}

/* RFC 9838 2.4.3, 4.4.3.1.1: an SA a GSA_REKEY deletes stays installed until
 * DEACTIVATION_TIME_DELAY has passed (traffic protected with it may still be in flight), then
 * goes; its replacement stays. */
START_TEST(groups_delete_after_dtd)
{
	gm_rig r;
	gk_group_sa kek;
	gk_group_state gs;
	make_kek(&kek, 0x11);
	rig_start(&r, &kek, 2);
	esp_state(&gs, 0xb2);
	static const uint8_t old_spi[4] = { 0x12, 0x34, 0x56, 0x78 };
	gk_chunk spis[1] = { GK_CHUNK(old_spi, 4) };
	gk_pl_delete del = { GK_PROTO_ESP, 4, { spis, 1 } };
	rig_feed(&r, &kek, 1, &gs, &del, 1);
	ck_assert_uint_eq(rig_events(&r, "rekey_accepted"), 1);
	ck_assert_uint_eq(adds_of(0xb2), 1);
	/* within DTD (2 s) both are installed, also after the group manager's timer ran */
	rig_advance(&r, 1150);
	ck_assert_uint_eq(dels_of(0x12), 0);
	ck_assert_uint_eq(gk_sasink_entries(r.sink, NULL, 0), 2);
	ck_assert_uint_eq(rig_events(&r, "sa_deleted"), 0);
	/* DTD passes: the deleted SA goes, its replacement stays */
	rig_advance(&r, 1000);
	ck_assert_uint_eq(dels_of(0x12), 1);
	ck_assert_uint_eq(dels_of(0xb2), 0);
	ck_assert_uint_eq(gk_sasink_entries(r.sink, NULL, 0), 1);
	ck_assert_uint_eq(rig_events(&r, "sa_deleted"), 1);
	gk_group_state_wipe(&gs);
	rig_stop(&r);
}
END_TEST

/* A registration whose second SA the kernel refuses leaves nothing of the group installed: the
 * SA that went in first is taken out again (sasink.h: the group manager installs all or none). */
START_TEST(groups_rollback_flushes_group)
{
	gm_rig r;
	memset(&r, 0, sizeof(r));
	r.sink = rec_sink();
	r.events = open_memstream(&r.ev_buf, &r.ev_len);
	ck_assert_ptr_nonnull(r.events);
	gk_gm_groups_env env = { .clock = { .now_ms = rig_now, .ctx = &r }, .sink = r.sink, .events = r.events };
	gk_ident g = group_id("keyid:video-1");
	ck_assert_int_eq(gk_gm_groups_new(&env, &g, 1, &r.m), GK_OK);
	gk_group_state gs;
	memset(&gs, 0, sizeof(gs));
	make_sa(&gs.sas[0], GK_PROTO_ESP, GK_ENCR_AES_GCM_16, 256, 0, GK_SN_SEQ32);
	gs.sas[1] = gs.sas[0];
	gs.sas[1].spi[0] = 0x34;
	gs.nsas = 2;
	fail_add_spi0 = 0x34;
	gk_gm_groups_registered(r.m, 0, &gs, false);
	gk_group_state_wipe(&gs);
	ck_assert_uint_eq(rig_events(&r, "sa_install_failed"), 1);
	ck_assert_uint_eq(rig_events(&r, "group_rolled_back"), 1);
	ck_assert_uint_eq(adds_of(0x12), 1);
	ck_assert_uint_eq(adds_of(0x34), 0);
	/* the first SA and its policies were installed, and all of it is gone again */
	ck_assert_uint_eq(gk_sasink_entries(r.sink, NULL, 0), 0);
	ck_assert_uint_eq(dels_of(0x12), 1);
	rig_stop(&r);
}
END_TEST

/* RFC 9838 2.4.1.4: the Rekey SA a GSA_REKEY replaced is deleted silently only after
 * DEACTIVATION_TIME_DELAY: a GSA_REKEY sent under it and delayed in the network is still taken
 * until then (in its own Message ID window: a copy of the replacing message changes nothing),
 * and not after. */
START_TEST(groups_old_kek_until_dtd)
{
	gm_rig r;
	gk_group_sa kek1, kek2;
	gk_group_state gs;
	make_kek(&kek1, 0x11);
	make_kek(&kek2, 0x22);
	rig_start(&r, &kek1, 1);
	/* message 1 under KEK1 brings KEK2 */
	memset(&gs, 0, sizeof(gs));
	gs.sas[0] = kek2;
	gs.nsas = 1;
	gs.dtd = 1;
	gs.has_dtd = true;
	rig_feed(&r, &kek1, 1, &gs, NULL, 0);
	ck_assert_uint_eq(rig_events(&r, "rekey_sa_replaced"), 1);
	ck_assert_uint_eq(rig_events(&r, "rekey_accepted"), 1);
	/* message 2, sent under KEK1 and delayed: taken */
	esp_state(&gs, 0xb2);
	rig_feed(&r, &kek1, 2, &gs, NULL, 0);
	ck_assert_uint_eq(adds_of(0xb2), 1);
	ck_assert_uint_eq(rig_events(&r, "rekey_accepted"), 2);
	/* a copy of it, and an older one under KEK1: nothing */
	rig_feed(&r, &kek1, 2, &gs, NULL, 0);
	esp_state(&gs, 0xb3);
	rig_feed(&r, &kek1, 1, &gs, NULL, 0);
	ck_assert_uint_eq(adds_of(0xb3), 0);
	ck_assert_uint_eq(rig_events(&r, "rekey_accepted"), 2);
	/* KEK2 works meanwhile, from Message ID 0 */
	esp_state(&gs, 0xc3);
	rig_feed(&r, &kek2, 0, &gs, NULL, 0);
	ck_assert_uint_eq(adds_of(0xc3), 1);
	ck_assert_uint_eq(rig_events(&r, "rekey_sa_deleted"), 0);
	/* DTD (1 s) passes: KEK1 goes, silently, and opens nothing more */
	rig_advance(&r, 1150);
	ck_assert_uint_eq(rig_events(&r, "rekey_sa_deleted"), 1);
	esp_state(&gs, 0xd4);
	rig_feed(&r, &kek1, 3, &gs, NULL, 0);
	ck_assert_uint_eq(adds_of(0xd4), 0);
	ck_assert_uint_eq(rig_events(&r, "rekey_accepted"), 3);
	gk_group_state_wipe(&gs);
	rig_stop(&r);
}
END_TEST

/* Without GWP_DTD no delay is employed (RFC 9838 4.4.3.1.1): the replaced Rekey SA goes at once. */
START_TEST(groups_old_kek_no_dtd)
{
	gm_rig r;
	gk_group_sa kek1, kek2;
	gk_group_state gs;
	make_kek(&kek1, 0x11);
	make_kek(&kek2, 0x22);
	rig_start(&r, &kek1, 0);
	memset(&gs, 0, sizeof(gs));
	gs.sas[0] = kek2;
	gs.nsas = 1;
	rig_feed(&r, &kek1, 1, &gs, NULL, 0);
	ck_assert_uint_eq(rig_events(&r, "rekey_sa_replaced"), 1);
	esp_state(&gs, 0xb2);
	rig_feed(&r, &kek1, 2, &gs, NULL, 0);
	ck_assert_uint_eq(adds_of(0xb2), 0);
	ck_assert_uint_eq(rig_events(&r, "rekey_accepted"), 1);
	gk_group_state_wipe(&gs);
	rig_stop(&r);
}
END_TEST

/* RFC 9838 4.6: a Delete with Protocol 0 (no SPI) is the whole group SA: every Data-Security SA
 * and the Rekey SA go, the member is excluded and registers again. */
START_TEST(groups_delete_protocol_zero)
{
	gm_rig r;
	gk_group_sa kek1;
	make_kek(&kek1, 0x11);
	rig_start(&r, &kek1, 5);
	gk_pl_delete del = { .proto = 0, .spi_size = 0 };
	rig_feed(&r, &kek1, 1, NULL, &del, 1);
	ck_assert_uint_eq(rig_events(&r, "rekey_accepted"), 1);
	ck_assert_uint_eq(rig_events(&r, "excluded"), 1);
	ck_assert_uint_eq(rig_events(&r, "reregistering"), 1);
	/* at once, DTD or not: the policies, then the SA */
	ck_assert_uint_eq(nops, 6);
	expect(3, "pol-del", 0, GK_DIR_FWD);
	expect(4, "pol-del", 0, GK_DIR_IN);
	expect(5, "del", 0x12, 0);
	ck_assert_uint_eq(gk_sasink_entries(r.sink, NULL, 0), 0);
	/* the Rekey SA went too */
	gk_group_state gs;
	esp_state(&gs, 0xb2);
	rig_feed(&r, &kek1, 2, &gs, NULL, 0);
	ck_assert_uint_eq(adds_of(0xb2), 0);
	ck_assert_uint_eq(rig_events(&r, "rekey_accepted"), 1);
	gk_group_state_wipe(&gs);
	rig_stop(&r);
}
END_TEST

/* RFC 9838 4.6, 2.4.3: a Delete of GIKE_UPDATE with the SPI of the current Rekey SA deletes it:
 * nothing opens under it any more, and with no Rekey SA left the member registers again. The
 * Data-Security SAs stay until then. A Delete of the Rekey SA that the same message replaces
 * takes the old one at once (no DTD) and keeps the new one. */
START_TEST(groups_delete_rekey_sa)
{
	gm_rig r;
	gk_group_sa kek1, kek2;
	gk_group_state gs;
	make_kek(&kek1, 0x11);
	make_kek(&kek2, 0x22);
	rig_start(&r, &kek1, 5);
	gk_chunk spi1 = GK_CHUNK(kek1.spi, 16);
	gk_pl_delete del = { .proto = GK_PROTO_GIKE_UPDATE, .spi_size = 16, .spis = { &spi1, 1 } };
	rig_feed(&r, &kek1, 1, NULL, &del, 1);
	ck_assert_uint_eq(rig_events(&r, "rekey_sa_deleted"), 1);
	ck_assert_uint_eq(rig_events(&r, "reregistering"), 1);
	ck_assert_uint_eq(rig_events(&r, "excluded"), 0);
	ck_assert_uint_eq(nops, 3);
	esp_state(&gs, 0xb2);
	rig_feed(&r, &kek1, 2, &gs, NULL, 0);
	ck_assert_uint_eq(adds_of(0xb2), 0);
	ck_assert_uint_eq(rig_events(&r, "rekey_accepted"), 1);
	rig_stop(&r);

	/* replaced and deleted in one message */
	rig_start(&r, &kek1, 5);
	memset(&gs, 0, sizeof(gs));
	gs.sas[0] = kek2;
	gs.nsas = 1;
	rig_feed(&r, &kek1, 1, &gs, &del, 1);
	ck_assert_uint_eq(rig_events(&r, "rekey_sa_replaced"), 1);
	ck_assert_uint_eq(rig_events(&r, "rekey_sa_deleted"), 1);
	ck_assert_uint_eq(rig_events(&r, "reregistering"), 0);
	esp_state(&gs, 0xb2);
	rig_feed(&r, &kek1, 2, &gs, NULL, 0); /* the old one is gone at once */
	ck_assert_uint_eq(adds_of(0xb2), 0);
	rig_feed(&r, &kek2, 0, &gs, NULL, 0); /* the new one works */
	ck_assert_uint_eq(adds_of(0xb2), 1);
	gk_group_state_wipe(&gs);
	rig_stop(&r);
}
END_TEST

/* RFC 9838 2.3.3: the IKE SA that carried an inband group's rekeys closed (gmd calls
 * gk_gm_groups_excluded on GK_GM_EXCLUDED): what was installed for the group goes at once and
 * the member registers again; a group not registered is left alone. */
START_TEST(groups_excluded_when_sa_closes)
{
	gm_rig r;
	memset(&r, 0, sizeof(r));
	r.sink = rec_sink();
	r.events = open_memstream(&r.ev_buf, &r.ev_len);
	gk_gm_groups_env env = { .clock = { .now_ms = rig_now, .ctx = &r }, .sink = r.sink, .events = r.events };
	gk_ident g[2] = { group_id("keyid:video-1"), group_id("keyid:video-2") };
	ck_assert_int_eq(gk_gm_groups_new(&env, g, 2, &r.m), GK_OK);
	gk_group_state gs;
	esp_state(&gs, 0x12); /* inband: no Rekey SA */
	gk_gm_groups_registered(r.m, 0, &gs, false);
	ck_assert_uint_eq(nops, 3);
	gk_gm_groups_excluded(r.m, 1, "the GCKS closed the IKE SA that carried its rekeys");
	ck_assert_uint_eq(rig_events(&r, "excluded"), 0);
	gk_gm_groups_excluded(r.m, 0, "the GCKS closed the IKE SA that carried its rekeys");
	ck_assert_uint_eq(rig_events(&r, "excluded"), 1);
	ck_assert_uint_eq(rig_events(&r, "reregistering"), 1);
	/* "time" comes between: the wall clock's time stamp (doc/gmd-events.md) */
	ck_assert_ptr_nonnull(strstr(r.ev_buf, "\"event\":\"excluded\",\"time\":\""));
	ck_assert_ptr_nonnull(strstr(r.ev_buf, "Z\",\"group\":\"keyid:video-1\",\"reason\":"
					       "\"the GCKS closed the IKE SA that carried its rekeys\""));
	ck_assert_uint_eq(nops, 6);
	expect(3, "pol-del", 0, GK_DIR_FWD);
	expect(4, "pol-del", 0, GK_DIR_IN);
	expect(5, "del", 0x12, 0);
	ck_assert_uint_eq(gk_sasink_entries(r.sink, NULL, 0), 0);
	/* once: the group is no longer registered */
	gk_gm_groups_excluded(r.m, 0, "again");
	ck_assert_uint_eq(rig_events(&r, "excluded"), 1);
	gk_group_state_wipe(&gs);
	rig_stop(&r);
}
END_TEST

/* The directions the sink holds the SA whose SPI starts with spi0 in (0: not installed). */
static unsigned sink_dirs(const gm_rig *r, uint8_t spi0)
{
	gk_sasink_entry e[8];
	size_t n = gk_sasink_entries(r->sink, e, 8);
	for (size_t i = 0; i < n && i < 8; i++)
		if (e[i].spi[0] == spi0)
			return e[i].dirs;
	return 0;
}

/* Three SAs to udp/5004, 5006, 5008: a single-sender AES-GCM one (sequential numbers, one
 * source), and two multi-sender AES-CBC ones (unspecified numbers), the first with a source
 * range, the second with one source address. */
static void direction_state(gk_group_state *gs)
{
	memset(gs, 0, sizeof(*gs));
	make_sa(&gs->sas[0], GK_PROTO_ESP, GK_ENCR_AES_GCM_16, 256, 0, GK_SN_SEQ32);
	gs->sas[0].spi[0] = 0xa1;
	make_sa(&gs->sas[1], GK_PROTO_ESP, GK_ENCR_AES_CBC, 128, GK_INTEG_HMAC_SHA2_256_128, GK_SN_UNSPEC32);
	gs->sas[1].spi[0] = 0xb2;
	ts4(&gs->sas[1].src, "10.98.0.0", "10.98.0.255", 17, 0, 65535);
	gs->sas[1].dst.port_lo = gs->sas[1].dst.port_hi = 5006;
	make_sa(&gs->sas[2], GK_PROTO_ESP, GK_ENCR_AES_CBC, 128, GK_INTEG_HMAC_SHA2_256_128, GK_SN_UNSPEC32);
	gs->sas[2].spi[0] = 0xc3;
	gs->sas[2].dst.port_lo = gs->sas[2].dst.port_hi = 5008;
	gs->nsas = 3;
}

/* RFC 9838 2.3.3: a sender installs an SA outbound only when it "is not going to receive back
 * the data it sends". An SA with several senders (32-bit Unspecified Numbers) whose source
 * selector admits more than one address carries other senders' traffic to it: inbound as well.
 * A single-sender SA, or one whose source is a single address, stays outbound only; a
 * receiver installs all of them inbound only. */
START_TEST(groups_sender_also_receives)
{
	gk_group_state gs;
	direction_state(&gs);
	gm_rig r;
	rig_open(&r, true);
	gk_gm_groups_registered(r.m, 0, &gs, false);
	ck_assert_uint_eq(rig_events(&r, "sa_added"), 3);
	ck_assert_uint_eq(sink_dirs(&r, 0xa1), GK_DIR_OUT);
	ck_assert_uint_eq(sink_dirs(&r, 0xb2), GK_DIR_IN | GK_DIR_OUT);
	ck_assert_uint_eq(sink_dirs(&r, 0xc3), GK_DIR_OUT);
	ck_assert_ptr_nonnull(strstr(r.ev_buf, "\"directions\":[\"in\",\"out\"]"));
	rig_stop(&r);
	rig_open(&r, false);
	gk_gm_groups_registered(r.m, 0, &gs, false);
	ck_assert_uint_eq(sink_dirs(&r, 0xa1), GK_DIR_IN);
	ck_assert_uint_eq(sink_dirs(&r, 0xb2), GK_DIR_IN);
	ck_assert_uint_eq(sink_dirs(&r, 0xc3), GK_DIR_IN);
	rig_stop(&r);
	gk_group_state_wipe(&gs);
}
END_TEST

/* Registered with an AES-CBC SA and the Rekey SA kek, with n Sender-IDs. */
static void register_cbc(gm_rig *r, const gk_group_sa *kek, size_t n)
{
	gk_group_state gs;
	memset(&gs, 0, sizeof(gs));
	make_sa(&gs.sas[0], GK_PROTO_ESP, GK_ENCR_AES_CBC, 128, GK_INTEG_HMAC_SHA2_256_128, GK_SN_SEQ32);
	gs.sas[1] = *kek;
	gs.nsas = 2;
	for (size_t i = 0; i < n; i++)
		gs.sender_ids[gs.nsender_ids++] = (uint32_t)(3 + i);
	gs.sender_id_bits = 8;
	gs.has_sender_id_bits = n > 0;
	gk_gm_groups_registered(r->m, 0, &gs, false);
	gk_group_state_wipe(&gs);
	ck_assert_uint_eq(rig_events(r, "sa_added"), 1);
}

/* RFC 9838 2.4.1.4: a sender that "does not hold a current Sender-ID value (for example, when
 * no counter-mode is employed for other Data-Security SAs) ... MUST NOT install the
 * Data-Security SAs. It MUST initiate a re-registration". The same GSA_REKEY with an AES-GCM SA
 * goes to a sender registered without Sender-IDs (nothing installed, it re-registers), a sender
 * holding one and a receiver (both install it); a non-counter SA is installed by all. */
START_TEST(groups_sender_without_sender_id)
{
	gk_group_sa kek;
	gk_group_state gs;
	make_kek(&kek, 0x11);
	gm_rig r;
	rig_open(&r, true);
	register_cbc(&r, &kek, 0);
	size_t before = nops;
	esp_state(&gs, 0xb2);
	rig_feed(&r, &kek, 1, &gs, NULL, 0);
	ck_assert_uint_eq(rig_events(&r, "rekey_accepted"), 1);
	ck_assert_uint_eq(rig_events(&r, "rekey_sas_refused"), 1);
	ck_assert_uint_eq(rig_events(&r, "reregistering"), 1);
	ck_assert_uint_eq(adds_of(0xb2), 0);
	ck_assert_uint_eq(nops, before);
	ck_assert_uint_eq(sink_dirs(&r, 0xb2), 0);
	/* an SA not in a counter mode needs no Sender-ID */
	make_sa(&gs.sas[0], GK_PROTO_ESP, GK_ENCR_AES_CBC, 128, GK_INTEG_HMAC_SHA2_256_128, GK_SN_SEQ32);
	gs.sas[0].spi[0] = 0xd4;
	gs.sas[0].dst.port_lo = gs.sas[0].dst.port_hi = 5010;
	rig_feed(&r, &kek, 2, &gs, NULL, 0);
	ck_assert_uint_eq(adds_of(0xd4), 1);
	ck_assert_uint_eq(rig_events(&r, "rekey_sas_refused"), 1);
	rig_stop(&r);

	/* the re-registration brought a Sender-ID: the same SA is installed */
	rig_open(&r, true);
	register_cbc(&r, &kek, 1);
	esp_state(&gs, 0xb2);
	rig_feed(&r, &kek, 1, &gs, NULL, 0);
	ck_assert_uint_eq(adds_of(0xb2), 1);
	ck_assert_uint_eq(sink_dirs(&r, 0xb2), GK_DIR_OUT);
	ck_assert_uint_eq(rig_events(&r, "rekey_sas_refused"), 0);
	ck_assert_uint_eq(rig_events(&r, "reregistering"), 0);
	rig_stop(&r);

	/* a receiver needs none */
	rig_open(&r, false);
	register_cbc(&r, &kek, 0);
	rig_feed(&r, &kek, 1, &gs, NULL, 0);
	ck_assert_uint_eq(adds_of(0xb2), 1);
	ck_assert_uint_eq(sink_dirs(&r, 0xb2), GK_DIR_IN);
	ck_assert_uint_eq(rig_events(&r, "rekey_sas_refused"), 0);
	rig_stop(&r);
	gk_group_state_wipe(&gs);
}
END_TEST

/* RFC 9838 4.4.2.2.1: "When the lifetime expires, the group security association and all
 * associated keys MUST be deleted": at the end of its GSA_KEY_LIFETIME the Rekey SA goes (its
 * keys wiped, its listener closed), no GSA_REKEY opens under it any more, and the member
 * registers again; the Data-Security SA, with a lifetime of its own, stays. */
START_TEST(groups_rekey_sa_lifetime_ends)
{
	gk_group_sa kek;
	gk_group_state gs;
	make_kek(&kek, 0x11);
	kek.lifetime = 1;
	gm_rig r;
	rig_start(&r, &kek, 0);
	esp_state(&gs, 0xb2);
	rig_feed(&r, &kek, 1, &gs, NULL, 0);
	ck_assert_uint_eq(adds_of(0xb2), 1);
	ck_assert_uint_eq(rig_events(&r, "rekey_sa_expired"), 0);
	rig_advance(&r, 1150);
	ck_assert_uint_eq(rig_events(&r, "rekey_sa_expired"), 1);
	ck_assert_uint_ge(rig_events(&r, "reregistering"), 1);
	esp_state(&gs, 0xc3);
	rig_feed(&r, &kek, 2, &gs, NULL, 0);
	ck_assert_uint_eq(adds_of(0xc3), 0);
	ck_assert_uint_eq(rig_events(&r, "rekey_accepted"), 1);
	for (size_t i = 0; i < nops; i++)
		ck_assert_str_ne(ops_log[i].what, "del");
	ck_assert_uint_eq(sink_dirs(&r, 0x12), GK_DIR_IN);
	gk_group_state_wipe(&gs);
	rig_stop(&r);
}
END_TEST

/* A registration whose second SA the kernel refuses: the first one, installed with its policies,
 * is taken out again (policies first), and gmd reports the refusal and the rollback; nothing of
 * the group stays in the kernel. */
START_TEST(groups_registration_rolled_back)
{
	gm_rig r;
	gk_group_sa kek;
	gk_group_state gs;
	make_kek(&kek, 0x11);
	memset(&r, 0, sizeof(r));
	r.sink = rec_sink();
	fail_add_spi0 = 0x34;
	r.events = open_memstream(&r.ev_buf, &r.ev_len);
	ck_assert_ptr_nonnull(r.events);
	gk_rand_test_init(&r.rnd, 7);
	gk_gm_groups_env env = { .clock = { .now_ms = rig_now, .ctx = &r }, .sink = r.sink, .events = r.events };
	gk_ident g = group_id("keyid:video-1");
	ck_assert_int_eq(gk_gm_groups_new(&env, &g, 1, &r.m), GK_OK);
	memset(&gs, 0, sizeof(gs));
	make_sa(&gs.sas[0], GK_PROTO_ESP, GK_ENCR_AES_GCM_16, 256, 0, GK_SN_SEQ32);
	make_sa(&gs.sas[1], GK_PROTO_ESP, GK_ENCR_AES_GCM_16, 256, 0, GK_SN_SEQ32);
	gs.sas[1].spi[0] = 0x34;
	ts4(&gs.sas[1].dst, "239.1.2.4", "239.1.2.4", 17, 5004, 5004);
	gs.sas[2] = kek;
	gs.nsas = 3;
	gk_gm_groups_registered(r.m, 0, &gs, false);
	gk_group_state_wipe(&gs);
	ck_assert_uint_eq(nops, 6);
	expect(0, "add", 0x12, GK_DIR_IN);
	expect(1, "pol-new", 0, GK_DIR_IN);
	expect(2, "pol-new", 0, GK_DIR_FWD);
	expect(3, "pol-del", 0, GK_DIR_FWD);
	expect(4, "pol-del", 0, GK_DIR_IN);
	expect(5, "del", 0x12, 0);
	ck_assert_uint_eq(gk_sasink_entries(r.sink, NULL, 0), 0);
	ck_assert_uint_eq(rig_events(&r, "sa_install_failed"), 1);
	ck_assert_uint_eq(rig_events(&r, "group_rolled_back"), 1);
	/* a GSA_REKEY under the Rekey SA of the rolled-back registration is not taken */
	gk_group_state next;
	esp_state(&next, 0x56);
	rig_feed(&r, &kek, 1, &next, NULL, 0);
	ck_assert_uint_eq(nops, 6);
	ck_assert_uint_eq(rig_events(&r, "rekey_accepted"), 0);
	gk_group_state_wipe(&next);
	rig_stop(&r);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("xfrm");
	TCase *tc = tcase_create("messages");
	tcase_add_loop_test(tc, newsa_fields, 0, (int)(sizeof(sa_cases) / sizeof(sa_cases[0])) * 4);
	tcase_add_test(tc, newsa_salt_follows_key);
	tcase_add_test(tc, newsa_lifetime_absent_and_ipv6);
	tcase_add_test(tc, newsa_refuses_unsupported);
	tcase_add_test(tc, selectors_split);
	tcase_add_test(tc, policy_fields);
	tcase_add_test(tc, ownership_marker);
	suite_add_tcase(s, tc);
	tc = tcase_create("bookkeeping");
	tcase_add_test(tc, book_receiver_rekey);
	tcase_add_test(tc, book_sender_switch);
	tcase_add_test(tc, book_counter_mode_refused);
	tcase_add_test(tc, book_rollback);
	tcase_add_test(tc, book_groups_apart);
	tcase_add_test(tc, none_backend);
	suite_add_tcase(s, tc);
	tc = tcase_create("member checks");
	tcase_add_test(tc, allow_selector_parse);
	tcase_add_test(tc, selector_destinations);
	tcase_add_test(tc, state_check);
	tcase_add_test(tc, next_spi_guard);
	suite_add_tcase(s, tc);
	tc = tcase_create("group manager");
	tcase_add_test(tc, groups_old_kek_until_dtd);
	tcase_add_test(tc, groups_old_kek_no_dtd);
	tcase_add_test(tc, groups_delete_protocol_zero);
	tcase_add_test(tc, groups_delete_rekey_sa);
	tcase_add_test(tc, groups_excluded_when_sa_closes);
	tcase_add_test(tc, groups_sender_also_receives);
	tcase_add_test(tc, groups_sender_without_sender_id);
	tcase_add_test(tc, groups_rekey_sa_lifetime_ends);
	tcase_add_test(tc, groups_registration_rolled_back);
	tcase_add_test(tc, groups_rollback_flushes_group);
	tcase_add_test(tc, groups_delete_after_dtd);
	suite_add_tcase(s, tc);
	tc = tcase_create("kernel");
	tcase_add_test(tc, kernel_namespace);
	tcase_set_timeout(tc, 20);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
