/* Codec engine and payload rules: round trips for every payload type, bounds and malformed input. */
#include <stdlib.h>
#include <string.h>
#include "testutil.h"
#include "samples.h"
#include "exchange_rules.h"

/* build -> parse -> build gives identical bytes (the round-trip property of the codec). */
START_TEST(roundtrip_every_payload)
{
	gk_out_pl pls[64];
	size_t n = sample_payloads(pls, 64);
	bool seen[256] = { 0 };
	for (size_t i = 0; i < n; i++) {
		const gk_desc *d = gk_payload_desc(pls[i].type);
		ck_assert_ptr_nonnull(d);
		gk_wbuf a, b;
		gk_wbuf_init(&a, 0);
		gk_wbuf_init(&b, 0);
		ck_assert_int_eq(gk_codec_build(d, pls[i].body, &a), GK_OK);
		gk_arena ar;
		gk_arena_init(&ar, 0);
		gk_payload_body body;
		memset(&body, 0, sizeof(body));
		gk_codec_err err;
		gk_status st = gk_codec_parse(d, gk_wbuf_chunk(&a), &ar, &body, &err);
		ck_assert_msg(st == GK_OK, "payload %s: %s at %s.%s+%zu",
			      gk_iana_str(GK_REG_PAYLOAD, pls[i].type), gk_status_str(st),
			      err.where, err.field, err.offset);
		ck_assert_int_eq(gk_codec_build(d, &body, &b), GK_OK);
		ck_assert_uint_eq(a.len, b.len);
		ck_assert_mem_eq(a.data, b.data, a.len);
		seen[pls[i].type] = true;
		gk_arena_free(&ar);
		gk_wbuf_free(&a);
		gk_wbuf_free(&b);
	}
	const uint8_t every[] = { GK_PL_SA, GK_PL_KE, GK_PL_IDi, GK_PL_IDr, GK_PL_CERT, GK_PL_CERTREQ,
				  GK_PL_AUTH, GK_PL_NONCE, GK_PL_NOTIFY, GK_PL_DELETE, GK_PL_VENDOR,
				  GK_PL_TSi, GK_PL_TSr, GK_PL_SK, GK_PL_CP, GK_PL_EAP, GK_PL_IDg,
				  GK_PL_GSA, GK_PL_KD, GK_PL_SKF };
	for (size_t i = 0; i < sizeof(every); i++)
		ck_assert_msg(seen[every[i]], "no round trip for payload %u", every[i]);
}
END_TEST

/* Every prefix and every one-octet change of every sample parses or fails cleanly. */
START_TEST(truncations_and_mutations_never_overrun)
{
	gk_out_pl pls[64];
	size_t n = sample_payloads(pls, 64);
	for (size_t i = 0; i < n; i++) {
		const gk_desc *d = gk_payload_desc(pls[i].type);
		gk_wbuf a;
		gk_wbuf_init(&a, 0);
		ck_assert_int_eq(gk_codec_build(d, pls[i].body, &a), GK_OK);
		for (size_t cut = 0; cut <= a.len; cut++) {
			/* a heap copy of exactly `cut` octets lets ASan catch any overread */
			uint8_t *copy = malloc(cut ? cut : 1);
			memcpy(copy, a.data, cut);
			for (size_t pos = 0; pos <= cut; pos++) {
				for (int v = 0; v < 3; v++) {
					uint8_t saved = pos < cut ? copy[pos] : 0;
					if (pos < cut)
						copy[pos] = v == 0 ? 0 : v == 1 ? 0xff : (uint8_t)(saved + 1);
					gk_arena ar;
					gk_arena_init(&ar, 0);
					gk_payload_body body;
					memset(&body, 0, sizeof(body));
					gk_status st = gk_codec_parse(d, GK_CHUNK(copy, cut), &ar, &body, NULL);
					/* the whole encoding unchanged parses; anything else parses or is refused as
					 * input (truncated, malformed, unsupported), never as a caller or memory error */
					if (cut == a.len && pos == cut)
						ck_assert_msg(st == GK_OK, "payload %u: %s", pls[i].type, gk_status_str(st));
					else
						ck_assert_msg(st == GK_OK || st == GK_E_TRUNCATED || st == GK_E_MALFORMED ||
							      st == GK_E_UNSUPPORTED, "payload %u, %zu octets, octet %zu: %s",
							      pls[i].type, cut, pos, gk_status_str(st));
					gk_arena_free(&ar);
					if (pos < cut)
						copy[pos] = saved;
					if (pos == cut)
						break;
				}
				if (cut > 64 && pos > 8)
					break; /* keep the run short: headers are what matters */
			}
			free(copy);
		}
		gk_wbuf_free(&a);
	}
}
END_TEST

static gk_status parse_hex(uint8_t type, const char *hex, gk_arena *ar, gk_payload_body *body)
{
	memset(body, 0, sizeof(*body));
	return gk_codec_parse(gk_payload_desc(type), tu_hexc(hex), ar, body, NULL);
}

START_TEST(malformed_structures_are_refused)
{
	gk_arena ar;
	gk_payload_body b;
	gk_arena_init(&ar, 0);
	/* proposal length 9 runs past the SA payload (8 octets) */
	ck_assert_int_eq(parse_hex(GK_PL_SA, "0000 0009 0101 0000", &ar, &b), GK_E_TRUNCATED);
	/* proposal length 7 is below its own header */
	ck_assert_int_eq(parse_hex(GK_PL_SA, "0000 0007 0101 0000", &ar, &b), GK_E_TRUNCATED);
	/* transform count says 1 but no transform follows */
	ck_assert_int_eq(parse_hex(GK_PL_SA, "0000 0008 0101 0001", &ar, &b), GK_E_TRUNCATED);
	/* Last Substruc must be 0 or 2 for proposals */
	ck_assert_int_eq(parse_hex(GK_PL_SA, "0700 0008 0101 0000", &ar, &b), GK_E_MALFORMED);
	/* valid empty proposal */
	ck_assert_int_eq(parse_hex(GK_PL_SA, "0000 0008 0101 0000", &ar, &b), GK_OK);
	ck_assert_uint_eq(b.sa.proposals.n, 1);
	/* transform attribute TLV length 0xffff past the end */
	ck_assert_int_eq(parse_hex(GK_PL_SA,
		"0000 0014 0101 0001  0000 000c 0100 000c 000e ffff", &ar, &b), GK_E_TRUNCATED);
	/* a TLV attribute ending exactly at the end of its transform is taken; one octet more is
	 * past the end (the transform is 14 octets: 8 of header, 4 of attribute header, 2 of value) */
	ck_assert_int_eq(parse_hex(GK_PL_SA,
		"0000 0016 0101 0001  0000 000e 0100 000c 000e 0002 aabb", &ar, &b), GK_OK);
	ck_assert_uint_eq(b.sa.proposals.items[0].transforms.items[0].attrs.items[0].value.len, 2);
	ck_assert_int_eq(parse_hex(GK_PL_SA,
		"0000 0016 0101 0001  0000 000e 0100 000c 000e 0003 aabb", &ar, &b), GK_E_TRUNCATED);
	/* 3 octets left where an attribute header needs 4 */
	ck_assert_int_eq(parse_hex(GK_PL_SA,
		"0000 0013 0101 0001  0000 000b 0100 000c 000e 00", &ar, &b), GK_E_TRUNCATED);
	/* a proposal exactly as long as the SA payload is taken; one octet more is past the end */
	ck_assert_int_eq(parse_hex(GK_PL_SA, "0000 0009 0101 0100 aa", &ar, &b), GK_OK);
	ck_assert_int_eq(parse_hex(GK_PL_SA, "0000 000a 0101 0100 aa", &ar, &b), GK_E_TRUNCATED);
	/* SPI size 1 with the SPI octet missing: exactly one octet past the end */
	ck_assert_int_eq(parse_hex(GK_PL_SA, "0000 0008 0101 0100", &ar, &b), GK_E_TRUNCATED);
	/* key length TV attribute */
	ck_assert_int_eq(parse_hex(GK_PL_SA,
		"0000 0014 0101 0001  0000 000c 0100 000c 800e 0100", &ar, &b), GK_OK);
	ck_assert_int_eq(b.sa.proposals.items[0].transforms.items[0].attrs.items[0].tv_value, 256);
	/* SPI size larger than the proposal */
	ck_assert_int_eq(parse_hex(GK_PL_SA, "0000 0008 0103 0400", &ar, &b), GK_E_TRUNCATED);
	/* trailing octets after a proposal's transforms */
	ck_assert_int_eq(parse_hex(GK_PL_SA, "0000 0009 0101 0000 00", &ar, &b), GK_E_MALFORMED);
	/* TS: IPv4 selector with IPv6-sized addresses */
	ck_assert_int_eq(parse_hex(GK_PL_TSi,
		"0100 0000 0700 0028 0000 ffff" "00000000000000000000000000000000"
		"ffffffffffffffffffffffffffffffff", &ar, &b), GK_E_MALFORMED);
	/* TS: unknown type */
	ck_assert_int_eq(parse_hex(GK_PL_TSi, "0100 0000 0900 0010 0000 ffff 00000000 ffffffff",
				   &ar, &b), GK_E_UNSUPPORTED);
	/* TS count 2 but only one selector */
	ck_assert_int_eq(parse_hex(GK_PL_TSi, "0200 0000 0700 0010 0000 ffff 00000000 ffffffff",
				   &ar, &b), GK_E_TRUNCATED);
	/* Delete: 3 SPIs of 4 octets announced, 8 octets present */
	ck_assert_int_eq(parse_hex(GK_PL_DELETE, "0304 0003 00000001 00000002", &ar, &b), GK_E_TRUNCATED);
	ck_assert_int_eq(parse_hex(GK_PL_DELETE, "0304 0002 00000001 00000002", &ar, &b), GK_OK);
	ck_assert_uint_eq(b.del.spis.n, 2);
	/* Notify with SPI size beyond the payload */
	ck_assert_int_eq(parse_hex(GK_PL_NOTIFY, "03 08 4009 0000", &ar, &b), GK_E_TRUNCATED);
	/* GSA policy whose transform list never ends (Last Substruc 3 on the final transform) */
	ck_assert_int_eq(parse_hex(GK_PL_GSA,
		"03 04 0030 c001d00d"
		"0700 0010 0000 ffff 00000000 ffffffff"
		"0700 0010 0000 ffff ef010101 ef010101"
		"0300 0008 0100 0014", &ar, &b), GK_E_TRUNCATED);
	/* the same, properly terminated, with one GSA attribute after the transforms */
	ck_assert_int_eq(parse_hex(GK_PL_GSA,
		"03 04 0038 c001d00d"
		"0700 0010 0000 ffff 00000000 ffffffff"
		"0700 0010 0000 ffff ef010101 ef010101"
		"0000 0008 0100 0014"
		"0001 0004 00000e10", &ar, &b), GK_OK);
	ck_assert_uint_eq(b.gsa.policies.n, 1);
	ck_assert_uint_eq(b.gsa.policies.items[0].transforms.n, 1);
	ck_assert_uint_eq(b.gsa.policies.items[0].attrs.n, 1);
	/* GW policy (first octet 0) with TV attributes */
	ck_assert_int_eq(parse_hex(GK_PL_GSA, "00 00 000c 8001 000a 8002 001e", &ar, &b), GK_OK);
	ck_assert_uint_eq(b.gsa.policies.items[0].proto, 0);
	ck_assert_uint_eq(b.gsa.policies.items[0].attrs.items[1].tv_value, 30);
	/* KD: group key bag length beyond the payload */
	ck_assert_int_eq(parse_hex(GK_PL_KD, "03 04 0040 c001d00d", &ar, &b), GK_E_TRUNCATED);
	/* KD: member key bag with GM_SENDER_ID */
	ck_assert_int_eq(parse_hex(GK_PL_KD, "00 00 000c 0003 0004 00000001", &ar, &b), GK_OK);
	ck_assert_uint_eq(b.kd.bags.items[0].attrs.items[0].type, GK_MKBA_GM_SENDER_ID);
	/* SKF: fragment number 0 and number above total are refused */
	ck_assert_int_eq(parse_hex(GK_PL_SKF, "0000 0002 00", &ar, &b), GK_E_MALFORMED);
	ck_assert_int_eq(parse_hex(GK_PL_SKF, "0003 0002 00", &ar, &b), GK_E_MALFORMED);
	/* KE shorter than its fixed fields */
	ck_assert_int_eq(parse_hex(GK_PL_KE, "001f 00", &ar, &b), GK_E_TRUNCATED);
	gk_arena_free(&ar);
}
END_TEST

/* Lists are allocated once from a count of their items' length fields, and still grow past that
 * count (64 at most, so that a hostile chain of lengths makes the arena hold little ahead of the
 * parse): 100 traffic selectors and 1,000 attributes parse whole; 1,000 4-octet "proposals"
 * whose lengths chain are refused at the first with at most 64 items' room taken. */
START_TEST(list_room_counted_and_bounded)
{
	gk_arena ar;
	gk_payload_body b;
	gk_codec_err err;
	gk_wbuf w;
	gk_arena_init(&ar, 0);
	gk_wbuf_init(&w, 0);
	gk_wbuf_u8(&w, 100);
	gk_wbuf_zero(&w, 3);
	for (int i = 0; i < 100; i++) {
		static const uint8_t ts[] = { 7, 0, 0, 16, 0, 0, 0xff, 0xff, 192, 0, 2, 1, 192, 0, 2, 2 };
		gk_wbuf_put(&w, ts, sizeof(ts));
		w.data[w.len - 1] = (uint8_t)i;
	}
	memset(&b, 0, sizeof(b));
	ck_assert_int_eq(gk_codec_parse(gk_payload_desc(GK_PL_TSi), gk_wbuf_chunk(&w), &ar, &b, &err), GK_OK);
	ck_assert_uint_eq(b.ts.ts.n, 100);
	for (int i = 0; i < 100; i++)
		ck_assert_uint_eq(b.ts.ts.items[i].end_addr.ptr[3], (uint8_t)i);
	gk_arena_free(&ar);

	/* one transform with 1,000 Key Length attributes (TV) */
	w.len = 0;
	gk_wbuf_put(&w, (const uint8_t[]){ 0, 0, 0x0f, 0xb0, 1, 1, 0, 1 }, 8); /* proposal, 4016 octets */
	gk_wbuf_put(&w, (const uint8_t[]){ 0, 0, 0x0f, 0xa8, 1, 0, 0, 12 }, 8);   /* transform, 4008 */
	for (int i = 0; i < 1000; i++)
		gk_wbuf_put(&w, (const uint8_t[]){ 0x80, 14, 0, (uint8_t)i }, 4);
	memset(&b, 0, sizeof(b));
	ck_assert_int_eq(gk_codec_parse(gk_payload_desc(GK_PL_SA), gk_wbuf_chunk(&w), &ar, &b, &err), GK_OK);
	const gk_attr_list *al = &b.sa.proposals.items[0].transforms.items[0].attrs;
	ck_assert_uint_eq(al->n, 1000);
	ck_assert_uint_eq(al->items[999].tv_value, 999 & 0xff);
	gk_arena_free(&ar);

	w.len = 0;
	for (int i = 0; i < 1000; i++)
		gk_wbuf_put(&w, (const uint8_t[]){ i < 999 ? 2 : 0, 0, 0, 4 }, 4);
	memset(&b, 0, sizeof(b));
	ck_assert_int_eq(gk_codec_parse(gk_payload_desc(GK_PL_SA), gk_wbuf_chunk(&w), &ar, &b, &err),
			 GK_E_TRUNCATED);
	ck_assert_uint_le(ar.total, 64 * sizeof(gk_proposal));
	gk_arena_free(&ar);
	gk_wbuf_free(&w);
}
END_TEST

START_TEST(build_refuses_inconsistent_structs)
{
	gk_wbuf w;
	gk_wbuf_init(&w, 0);
	uint8_t spi[4] = { 1, 2, 3, 4 };
	gk_pl_notify n = { GK_PROTO_ESP, 4, GK_N_REKEY_SA, GK_CHUNK(spi, 3), { 0 } };
	ck_assert_int_eq(gk_codec_build(gk_payload_desc(GK_PL_NOTIFY), &n, &w), GK_E_INVAL);
	ck_assert_uint_eq(w.len, 0);
	gk_ts bad = { GK_TS_IPV4_ADDR_RANGE, 0, 0, 0, GK_CHUNK(spi, 3), GK_CHUNK(spi, 3) };
	gk_pl_ts ts = { { &bad, 1 } };
	ck_assert_int_eq(gk_codec_build(gk_payload_desc(GK_PL_TSi), &ts, &w), GK_E_MALFORMED);
	ck_assert_uint_eq(w.len, 0);
	gk_gsa_policy p = { .proto = GK_PROTO_ESP, .spi_size = 0 };
	p.src = p.dst = (gk_ts){ GK_TS_IPV4_ADDR_RANGE, 0, 0, 0, GK_CHUNK(spi, 4), GK_CHUNK(spi, 4) };
	gk_pl_gsa g = { { &p, 1 } }; /* a GSA policy without transforms cannot be encoded */
	ck_assert_int_eq(gk_codec_build(gk_payload_desc(GK_PL_GSA), &g, &w), GK_E_INVAL);
	gk_wbuf_free(&w);
}
END_TEST

static void build_plain(const gk_out_pl *pl, size_t n, uint8_t exch, uint8_t flags, gk_wbuf *w)
{
	gk_msg_out o = { .hdr = { .spi_i = 0x0102030405060708ull, .exchange = exch, .flags = flags },
			 .outer = pl, .nouter = n };
	gk_wbuf_init(w, 0);
	ck_assert_int_eq(gk_msg_build(&o, NULL, NULL, w), GK_OK);
}

START_TEST(message_unprotected_roundtrip_and_rules)
{
	static const uint8_t nonce[32] = { 1 };
	gk_pl_bytes nb = { GK_CHUNK(nonce, 32) };
	gk_pl_ke ke = { GK_KE_CURVE25519, GK_CHUNK(nonce, 32) };
	gk_pl_notify frag = { 0, 0, GK_N_IKEV2_FRAGMENTATION_SUPPORTED, { 0 }, { 0 } };
	gk_out_pl pl[] = { { GK_PL_SA, false, sample_sa_ike() }, { GK_PL_KE, false, &ke },
			   { GK_PL_NONCE, false, &nb }, { GK_PL_NOTIFY, false, &frag } };
	gk_wbuf w;
	build_plain(pl, 4, GK_EXCH_IKE_SA_INIT, GK_FLAG_I, &w);
	gk_msg m;
	ck_assert_int_eq(gk_msg_parse(&m, gk_wbuf_chunk(&w)), GK_OK);
	ck_assert_uint_eq(m.pl.n, 4);
	ck_assert_uint_eq(m.hdr.length, w.len);
	ck_assert_ptr_nonnull(gk_msg_find_notify(&m, GK_N_IKEV2_FRAGMENTATION_SUPPORTED));
	uint8_t bad;
	ck_assert_int_eq(gk_exchange_rules_check(&m, &bad), GK_OK);
	gk_msg_free(&m);
	gk_wbuf_free(&w);

	/* missing KE breaks the IKE_SA_INIT request table */
	gk_out_pl pl2[] = { pl[0], pl[2] };
	build_plain(pl2, 2, GK_EXCH_IKE_SA_INIT, GK_FLAG_I, &w);
	ck_assert_int_eq(gk_msg_parse(&m, gk_wbuf_chunk(&w)), GK_OK);
	ck_assert_int_eq(gk_exchange_rules_check(&m, &bad), GK_E_RULES);
	ck_assert_uint_eq(bad, GK_PL_KE);
	gk_msg_free(&m);
	gk_wbuf_free(&w);

	/* an IKE_SA_INIT error response (INVALID_KE_PAYLOAD) needs no SA/KE/Nonce */
	uint8_t grp[2] = { 0, 19 };
	gk_pl_notify inv = { 0, 0, GK_N_INVALID_KE_PAYLOAD, { 0 }, GK_CHUNK(grp, 2) };
	gk_out_pl pl3[] = { { GK_PL_NOTIFY, false, &inv } };
	build_plain(pl3, 1, GK_EXCH_IKE_SA_INIT, GK_FLAG_R, &w);
	ck_assert_int_eq(gk_msg_parse(&m, gk_wbuf_chunk(&w)), GK_OK);
	ck_assert_int_eq(gk_exchange_rules_check(&m, &bad), GK_OK);
	gk_msg_free(&m);
	gk_wbuf_free(&w);

	/* a payload type the table does not list (IDg in IKE_SA_INIT) is forbidden */
	gk_pl_id idg = { GK_ID_KEY_ID, GK_CHUNK("g", 1) };
	gk_out_pl pl4[] = { pl[0], pl[1], pl[2], { GK_PL_IDg, false, &idg } };
	build_plain(pl4, 4, GK_EXCH_IKE_SA_INIT, GK_FLAG_I, &w);
	ck_assert_int_eq(gk_msg_parse(&m, gk_wbuf_chunk(&w)), GK_OK);
	ck_assert_int_eq(gk_exchange_rules_check(&m, &bad), GK_E_RULES);
	ck_assert_uint_eq(bad, GK_PL_IDg);
	gk_msg_free(&m);
	gk_wbuf_free(&w);

	/* RFC 8784 3: USE_PPK once in IKE_SA_INIT (either direction); twice, or PPK_IDENTITY or
	 * NO_PPK_AUTH there, is malformed */
	gk_pl_notify use_ppk = { .type = GK_N_USE_PPK }, pid = { .type = GK_N_PPK_IDENTITY, .data = GK_CHUNK("\x02p", 2) };
	gk_pl_notify no_auth = { .type = GK_N_NO_PPK_AUTH, .data = GK_CHUNK("mac", 3) };
	static const struct { int n; uint8_t flags; gk_status want; } ppk_cases[] = {
		{ 1, GK_FLAG_I, GK_OK }, { 2, GK_FLAG_I, GK_E_RULES }, { 3, GK_FLAG_I, GK_E_RULES },
		{ 4, GK_FLAG_I, GK_E_RULES }, { 1, GK_FLAG_R, GK_OK },
	};
	for (size_t i = 0; i < sizeof(ppk_cases) / sizeof(ppk_cases[0]); i++) {
		gk_out_pl pl5[] = { pl[0], pl[1], pl[2], { GK_PL_NOTIFY, false, &use_ppk }, { GK_PL_NOTIFY, false, &use_ppk } };
		if (ppk_cases[i].n == 3)
			pl5[3].body = &pid;
		if (ppk_cases[i].n == 4)
			pl5[3].body = &no_auth;
		build_plain(pl5, ppk_cases[i].n == 2 ? 5 : 4, GK_EXCH_IKE_SA_INIT, ppk_cases[i].flags, &w);
		ck_assert_int_eq(gk_msg_parse(&m, gk_wbuf_chunk(&w)), GK_OK);
		bad = 0;
		ck_assert_msg(gk_exchange_rules_check(&m, &bad) == ppk_cases[i].want, "PPK case %zu", i);
		ck_assert_uint_eq(bad, ppk_cases[i].want ? GK_PL_NOTIFY : 0);
		gk_msg_free(&m);
		gk_wbuf_free(&w);
	}

	/* GSA_AUTH without SK breaks its table */
	build_plain(pl, 1, GK_EXCH_GSA_AUTH, GK_FLAG_I, &w);
	ck_assert_int_eq(gk_msg_parse(&m, gk_wbuf_chunk(&w)), GK_OK);
	ck_assert_int_eq(gk_exchange_rules_check(&m, &bad), GK_E_RULES);
	gk_msg_free(&m);
	gk_wbuf_free(&w);
}
END_TEST

START_TEST(message_unknown_payloads)
{
	/* header + unknown non-critical payload 200 (skipped) followed by a Nonce */
	gk_chunk msg = tu_hexc("0102030405060708 0000000000000000 c8 20 22 08 00000000 00000028"
			       "28 00 0008 41424344" "00 00 0004");
	gk_msg m;
	ck_assert_int_eq(gk_msg_parse(&m, msg), GK_OK);
	ck_assert_uint_eq(m.pl.n, 1);
	ck_assert_uint_eq(m.pl.items[0].type, GK_PL_NONCE);
	gk_msg_free(&m);
	/* the same payload marked critical */
	msg = tu_hexc("0102030405060708 0000000000000000 c8 20 22 08 00000000 00000028"
		      "28 80 0008 41424344" "00 00 0004");
	ck_assert_int_eq(gk_msg_parse(&m, msg), GK_E_UNSUPPORTED_CRITICAL);
	ck_assert_uint_eq(m.bad_critical, 200);
	gk_msg_free(&m);
	/* major version 3 */
	msg = tu_hexc("0102030405060708 0000000000000000 00 30 22 08 00000000 0000001c");
	ck_assert_int_eq(gk_msg_parse(&m, msg), GK_E_UNSUPPORTED);
	gk_msg_free(&m);
	/* length field larger than the datagram */
	msg = tu_hexc("0102030405060708 0000000000000000 00 20 22 08 00000000 0000001d");
	ck_assert_int_eq(gk_msg_parse(&m, msg), GK_E_TRUNCATED);
	gk_msg_free(&m);
	/* payload length runs past the message */
	msg = tu_hexc("0102030405060708 0000000000000000 28 20 22 08 00000000 00000020 0000 0005");
	ck_assert_int_eq(gk_msg_parse(&m, msg), GK_E_TRUNCATED);
	gk_msg_free(&m);
	/* payload bytes after the end of the chain */
	msg = tu_hexc("0102030405060708 0000000000000000 28 20 22 08 00000000 00000024 0000 0004 0000 0004");
	ck_assert_int_eq(gk_msg_parse(&m, msg), GK_E_MALFORMED);
	gk_msg_free(&m);
	/* 1,000 empty Nonces: the payload array is counted ahead for 64 at most, then grows */
	gk_wbuf w;
	gk_wbuf_init(&w, 0);
	gk_wbuf_put(&w, tu_hexc("0102030405060708 0000000000000000 28 20 22 08 00000000").ptr, 24);
	gk_wbuf_u32(&w, 28 + 4000);
	for (int i = 0; i < 1000; i++)
		gk_wbuf_put(&w, (const uint8_t[]){ i < 999 ? GK_PL_NONCE : 0, 0, 0, 4 }, 4);
	ck_assert_int_eq(gk_msg_parse(&m, gk_wbuf_chunk(&w)), GK_OK);
	ck_assert_uint_eq(m.pl.n, 1000);
	gk_msg_free(&m);
	/* the same chain behind a KE payload too short for its header: refused at the first payload
	 * with 64 entries' room taken, not 1,000 */
	w.len = 16;
	gk_wbuf_put(&w, (const uint8_t[]){ GK_PL_KE, 0x20, 0x22, 0x08, 0, 0, 0, 0 }, 8);
	gk_wbuf_u32(&w, 28 + 6 + 4000);
	gk_wbuf_put(&w, (const uint8_t[]){ GK_PL_NONCE, 0, 0, 6, 0, 31 }, 6);
	for (int i = 0; i < 1000; i++)
		gk_wbuf_put(&w, (const uint8_t[]){ i < 999 ? GK_PL_NONCE : 0, 0, 0, 4 }, 4);
	ck_assert_int_eq(gk_msg_parse(&m, gk_wbuf_chunk(&w)), GK_E_TRUNCATED);
	ck_assert_uint_le(m.arena.total, 28 + 6 + 4000 + 16 + 64 * sizeof(gk_payload) + sizeof(gk_payload_body) + 16);
	gk_msg_free(&m);
	gk_wbuf_free(&w);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("codec");
	TCase *tc = tcase_create("codec");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, roundtrip_every_payload);
	tcase_add_test(tc, truncations_and_mutations_never_overrun);
	tcase_add_test(tc, malformed_structures_are_refused);
	tcase_add_test(tc, list_room_counted_and_bounded);
	tcase_add_test(tc, build_refuses_inconsistent_structs);
	tcase_add_test(tc, message_unprotected_roundtrip_and_rules);
	tcase_add_test(tc, message_unknown_payloads);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
