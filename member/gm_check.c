#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include "gm_check.h"
#include "algs.h"
#include "auth.h"
#include "iana.h"

gk_status gk_prefix_parse(const char *text, gk_prefix *out, char *err, size_t errlen)
{
	char buf[64];
	const char *slash = strchr(text, '/');
	size_t alen = slash ? (size_t)(slash - text) : strlen(text);
	memset(out, 0, sizeof(*out));
	gk_seterr(err, errlen, "not an address or ADDRESS/LENGTH");
	if (alen == 0 || alen >= sizeof(buf))
		return GK_E_INVAL;
	memcpy(buf, text, alen);
	buf[alen] = 0;
	if (inet_pton(AF_INET, buf, out->addr) == 1)
		out->family = 4;
	else if (inet_pton(AF_INET6, buf, out->addr) == 1)
		out->family = 6;
	else
		return GK_E_INVAL;
	unsigned max = out->family == 4 ? 32 : 128;
	out->len = (uint8_t)max;
	if (slash) {
		char *end;
		unsigned long l = strtoul(slash + 1, &end, 10);
		if (!slash[1] || *end || l > max) {
			gk_seterr(err, errlen, "bad prefix length");
			return GK_E_INVAL;
		}
		out->len = (uint8_t)l;
	}
	for (unsigned b = out->len; b < max; b++)
		if (out->addr[b / 8] & (0x80 >> (b % 8))) {
			gk_seterr(err, errlen, "host bits set after the prefix length");
			return GK_E_INVAL;
		}
	gk_seterr(err, errlen, "%s", "");
	return GK_OK;
}

static bool in_prefix(const uint8_t *a, const uint8_t *p, unsigned len)
{
	size_t full = len / 8;
	if (memcmp(a, p, full))
		return false;
	if (len % 8 == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - len % 8));
	return (a[full] & mask) == (p[full] & mask);
}

bool gk_gm_dst_allowed(const gk_ts_spec *dst, const gk_prefix *allow, size_t nallow)
{
	/* a range is contiguous: both ends inside a prefix means all of it is */
	static const uint8_t mc4[4] = { 224 }, mc6[16] = { 0xff };
	if (dst->family != 4 && dst->family != 6)
		return false;
	const uint8_t *mc = dst->family == 4 ? mc4 : mc6;
	unsigned mclen = dst->family == 4 ? 4 : 8;
	if (in_prefix(dst->start, mc, mclen) && in_prefix(dst->end, mc, mclen))
		return true;
	for (size_t i = 0; i < nallow; i++)
		if (allow[i].family == dst->family && in_prefix(dst->start, allow[i].addr, allow[i].len) &&
		    in_prefix(dst->end, allow[i].addr, allow[i].len))
			return true;
	return false;
}

static gk_status check_auth(const gk_group_state *gs, gk_gsa_context ctx, char *why, size_t whylen)
{
	if (gs->auth_key_len) {
		EVP_PKEY *k = NULL;
		gk_status st = gk_pubkey_from_spki(GK_CHUNK(gs->auth_key, gs->auth_key_len), &k);
		EVP_PKEY_free(k);
		if (st) {
			snprintf(why, whylen, "the AUTH_KEY for GSA_REKEY signatures cannot be loaded");
			return GK_E_AUTH;
		}
	}
	for (size_t i = 0; ctx == GK_GSA_REGISTRATION && i < gs->nsas; i++) {
		const gk_group_sa *sa = &gs->sas[i];
		gk_sig_scheme s;
		if (sa->proto != GK_PROTO_GIKE_UPDATE || sa->gcauth == GK_GCAUTH_IMPLICIT)
			continue;
		if (sa->gcauth != GK_GCAUTH_DIGITAL_SIGNATURE) {
			snprintf(why, whylen, "Rekey SA with unknown GCAUTH method %u", sa->gcauth);
			return GK_E_AUTH;
		}
		if (gk_sig_scheme_from_algid(GK_CHUNK(sa->sig_algid, sa->sig_algid_len), &s) || s == GK_SIG_NONE) {
			snprintf(why, whylen, "GSA_REKEY signature algorithm not supported: GSA_REKEY could not be verified");
			return GK_E_AUTH;
		}
		if (!gs->auth_key_len) {
			snprintf(why, whylen, "GCAUTH Digital Signature without an AUTH_KEY: GSA_REKEY could not be verified");
			return GK_E_AUTH;
		}
	}
	return GK_OK;
}

gk_status gk_gm_state_check(const gk_group_state *gs, gk_gsa_context ctx, const gk_prefix *allow,
			    size_t nallow, char *why, size_t whylen)
{
	for (size_t i = 0; i < gs->nsas; i++) {
		const gk_group_sa *sa = &gs->sas[i];
		char t[96];
		if (sa->proto == GK_PROTO_GIKE_UPDATE || gk_gm_dst_allowed(&sa->dst, allow, nallow))
			continue;
		snprintf(why, whylen,
			 "%s SA destination %s is neither multicast nor inside a prefix allowed with --allow-selector",
			 gk_iana_str(GK_REG_PROTO, sa->proto), gk_ts_spec_text(&sa->dst, t, sizeof(t)));
		return GK_E_UNSUPPORTED;
	}
	return check_auth(gs, ctx, why, whylen);
}

static bool counter_mode_sa(const gk_group_state *gs)
{
	for (size_t i = 0; i < gs->nsas; i++) {
		const gk_encr_info *e = gk_encr_lookup(gs->sas[i].encr);
		if (gs->sas[i].proto != GK_PROTO_GIKE_UPDATE && e && e->counter_mode)
			return true;
	}
	return false;
}

gk_status gk_gm_sender_ids_check(const gk_group_state *gs, bool sender, char *why, size_t whylen)
{
	if (sender && !gs->nsender_ids && counter_mode_sa(gs)) {
		snprintf(why, whylen, "a counter-mode SA for a sender without GM_SENDER_ID (RFC 9838 4.5.3.3)");
		return GK_E_MALFORMED;
	}
	if (!gs->has_sender_id_bits || gs->sender_id_bits >= 32)
		return GK_OK;
	for (size_t i = 0; i < gs->nsender_ids; i++) {
		if (gs->sender_ids[i] >> gs->sender_id_bits == 0)
			continue;
		snprintf(why, whylen, "Sender-ID %u does not fit GWP_SENDER_ID_BITS %u (RFC 9838 2.5.2)",
			 gs->sender_ids[i], gs->sender_id_bits);
		return GK_E_MALFORMED;
	}
	return GK_OK;
}

bool gk_next_spi_allow(gk_next_spi_guard *g, const uint8_t kek_spi[16], int64_t now_ms, int64_t interval_ms)
{
	if (g->fired && (!memcmp(g->fired_spi, kek_spi, 16) || now_ms - g->at < interval_ms))
		return false;
	memcpy(g->fired_spi, kek_spi, 16);
	g->fired = true;
	g->at = now_ms;
	return true;
}
