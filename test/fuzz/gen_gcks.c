/* Writes the seeds of fuzz_gcks: test/fuzz/gen_gcks OUTDIR fills OUTDIR/gcks/ with exchanges a
 * member would have, made against the very GCKS the target runs (gcks_harness.h): the member
 * side here answers what that GCKS sent, so GSA_AUTH and later requests decrypt and
 * authenticate when the target replays them. `make fuzz-corpus` runs it into the source tree. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "gcks_harness.h"
#include "fuzz.h"
#include "auth.h"
#include "dh.h"
#include "ike_sa.h"
#include "intermediate.h"
#include "message.h"
#include "ppk.h"
#include "proposal.h"

static const char *outdir;
static int nfiles;

/* ---- the recording ---- */

static gk_wbuf rec;                 /* the fuzz input being made */
static uint8_t last[8][GK_MAX_MESSAGE]; /* the GCKS's last datagram to each peer */
static size_t last_len[8];
static unsigned nsent[8];

static void sent(void *ctx, unsigned peer, const uint8_t *data, size_t len)
{
	(void)ctx;
	memcpy(last[peer], data, len);
	last_len[peer] = len;
	nsent[peer]++;
}

static void begin(void)
{
	gk_wbuf_init(&rec, 1u << 20);
	memset(last_len, 0, sizeof(last_len));
	memset(nsent, 0, sizeof(nsent));
	fh_begin(sent, NULL);
}

/* Sends a datagram (recorded) and returns how many the GCKS sent back to that peer. */
static unsigned dgram(uint8_t ctl, const uint8_t *data, size_t len)
{
	unsigned peer = ctl & 7, before = nsent[peer];
	gk_wbuf_u8(&rec, ctl);
	gk_wbuf_u16(&rec, (uint16_t)len);
	gk_wbuf_put(&rec, data, len);
	fh_datagram(ctl, data, len);
	return nsent[peer] - before;
}

static void end(const char *name)
{
	char path[4096];
	fh_end();
	if (rec.err) {
		fprintf(stderr, "gen_gcks: %s: %s\n", name, gk_status_str(rec.err));
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/gcks/%s", outdir, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(rec.data, 1, rec.len, f) != rec.len || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
	gk_wbuf_free(&rec);
	nfiles++;
}

/* ---- a member's side of the exchanges ---- */

typedef struct member {
	uint8_t ctl;                     /* its peer address */
	gk_ike_sa ike;
	gk_ike_offer offer;
	gk_rand_test rnd;
	uint8_t ni[32];
	const char *id;
	uint16_t ke_group;               /* of the KE payload */
	bool sealed;                     /* requests recorded in the clear, for FH_SEAL */
	const char *ppk_id;              /* sends USE_PPK (and, seed_ppk, its PPK) when set */
	bool addke;                      /* offers ADDKE1 = ECP-384 with INTERMEDIATE_EXCHANGE_SUPPORTED */
} member;

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "gen_gcks: %s\n", what);
		exit(1);
	}
}

static void member_init(member *m, uint8_t ctl, const char *id, uint16_t ke)
{
	memset(m, 0, sizeof(*m));
	m->ctl = ctl;
	m->id = id;
	gk_ike_offer_default(&m->offer);
	m->offer.kwa_required = true;
	if (ke) {
		m->offer.ke[0] = ke;
		m->offer.nke = 1;
	}
	m->ke_group = m->offer.ke[0];
	gk_rand_test_init(&m->rnd, 100 + ctl);
	m->ike.initiator = true;
	gk_rand_bytes(&m->rnd.r, (uint8_t *)&m->ike.spi_i, 8);
	gk_rand_bytes(&m->rnd.r, m->ni, sizeof(m->ni));
	uint8_t p[56];
	fh_dh_private(200 + ctl, p);
	memcpy(p + 32, p, 24);
	gk_status st = gk_dh_new_from_private(m->offer.ke[0], GK_CHUNK(p, 32), &m->ike.dh);
	if (st == GK_E_INVAL)
		st = gk_dh_new_from_private(m->offer.ke[0], GK_CHUNK(p, 56), &m->ike.dh);
	check(st == GK_OK, "member key exchange value");
}

/* IKE_SA_INIT; with frag, announcing IKEV2_FRAGMENTATION_SUPPORTED. True once keys are made. */
static bool member_sa_init(member *m, bool frag)
{
	gk_arena a;
	gk_pl_sa sa;
	gk_wbuf pub, req, shared;
	gk_arena_init(&a, 0);
	gk_wbuf_init(&pub, 1024);
	gk_wbuf_init(&req, GK_MAX_MESSAGE);
	gk_wbuf_init(&shared, 1024);
	check(gk_dh_public(m->ike.dh, &pub) == GK_OK && gk_ike_offer_to_sa(&m->offer, &a, &sa) == GK_OK, "offer");
	gk_pl_ke ke = { .group = m->ke_group, .data = gk_wbuf_chunk(&pub) };
	gk_pl_bytes nonce = { GK_CHUNK(m->ni, sizeof(m->ni)) };
	gk_pl_notify fn = { .type = frag ? GK_N_IKEV2_FRAGMENTATION_SUPPORTED
				    : m->addke ? GK_N_INTERMEDIATE_EXCHANGE_SUPPORTED : GK_N_USE_PPK };
	gk_out_pl pl[] = { { GK_PL_SA, false, &sa }, { GK_PL_KE, false, &ke }, { GK_PL_NONCE, false, &nonce },
			   { GK_PL_NOTIFY, false, &fn } };
	gk_msg_out o = { .hdr = { .spi_i = m->ike.spi_i, .exchange = GK_EXCH_IKE_SA_INIT, .flags = GK_FLAG_I },
			 .outer = pl, .nouter = frag || m->ppk_id || m->addke ? 4 : 3 };
	check(gk_msg_build(&o, NULL, NULL, &req) == GK_OK, "IKE_SA_INIT request");
	bool ok = false;
	gk_msg r;
	memset(&r, 0, sizeof(r));
	unsigned peer = m->ctl & 7;
	if (dgram(m->ctl, req.data, req.len) != 1 ||
	    gk_msg_parse(&r, GK_CHUNK(last[peer], last_len[peer])) != GK_OK || gk_msg_find_error(&r))
		goto out;
	check(gk_ike_suite_from_sa(&gk_msg_find(&r, GK_PL_SA)->body->sa, &m->offer, &m->ike.suite) == GK_OK, "suite");
	m->ike.spi_r = r.hdr.spi_r;
	check(gk_dh_derive(m->ike.dh, gk_msg_find(&r, GK_PL_KE)->body->ke.data, &shared) == GK_OK, "derive");
	check(gk_ike_sa_set_nonces(&m->ike, GK_CHUNK(m->ni, sizeof(m->ni)),
				   gk_msg_find(&r, GK_PL_NONCE)->body->bytes.data) == GK_OK &&
	      gk_ike_sa_keep_init(&m->ike, gk_wbuf_chunk(&req), r.data) == GK_OK &&
	      gk_ike_sa_derive(&m->ike, gk_wbuf_chunk(&shared)) == GK_OK, "keys");
	m->ike.state = GK_IKE_INIT_DONE;
	m->ike.msgid_out = 1;
	ok = true;
out:
	gk_msg_free(&r);
	gk_wbuf_free(&pub);
	gk_wbuf_free(&req);
	gk_wbuf_free(&shared);
	gk_arena_free(&a);
	return ok;
}

/* Sends a protected request (fragmented at frag_len when non-zero); true when an answer that
 * decrypts came back. */
static bool member_request(member *m, uint8_t exchange, const gk_out_pl *pl, size_t n, size_t frag_len)
{
	gk_sk_keys k = gk_ike_sa_sk(&m->ike, true);
	gk_msg_out o = { .hdr = { .spi_i = m->ike.spi_i, .spi_r = m->ike.spi_r, .exchange = exchange,
				  .flags = GK_FLAG_I, .msg_id = m->ike.msgid_out },
			 .inner = pl, .ninner = n, .protect = true };
	gk_dgrams d;
	unsigned got = 0, peer = m->ctl & 7;
	if (m->sealed) {
		gk_wbuf w;
		gk_wbuf_init(&w, GK_MAX_MESSAGE);
		gk_hdr_build(&o.hdr, &w);
		gk_wbuf_u8(&w, n ? pl[0].type : GK_PL_NONE);
		check(gk_chain_build(pl, n, GK_PL_NONE, &w) == GK_OK, "clear request");
		got = dgram(peer | FH_SEAL, w.data, w.len);
		gk_wbuf_free(&w);
	} else {
		check(gk_msg_build_dgrams(&o, &k, &m->rnd.r, frag_len != 0, frag_len, &d) == GK_OK, "request");
		for (size_t i = 0; i < d.n; i++)
			got += dgram(m->ctl & 7, d.d[i].data, d.d[i].len);
		gk_dgrams_free(&d);
	}
	m->ike.msgid_out++;
	if (!got)
		return false;
	gk_msg r;
	bool complete = false;
	bool ok = gk_msg_parse(&r, GK_CHUNK(last[peer], last_len[peer])) == GK_OK &&
		  gk_ike_sa_open(&m->ike, &r, &complete) == GK_OK && complete;
	gk_msg_free(&r);
	return ok;
}

/* The PSK AUTH data of m's IDi body under the SA's current SK_pi, into mic. */
static void psk_auth(member *m, gk_chunk idbody, uint8_t mic[64], size_t *miclen)
{
	gk_wbuf octets;
	gk_wbuf_init(&octets, GK_MAX_MESSAGE * 2);
	*miclen = 64;
	check(gk_ike_sa_auth_octets(&m->ike, true, idbody, &octets) == GK_OK &&
	      gk_auth_psk_compute(m->ike.suite.prf, GK_CHUNK(m->id, strlen(m->id)), gk_wbuf_chunk(&octets), mic,
				  miclen) == GK_OK, "AUTH");
	gk_wbuf_free(&octets);
}

/* GSA_AUTH with a PPK (RFC 8784 3): PPK_IDENTITY for m->ppk_id, NO_PPK_AUTH under the keys
 * without it, AUTH under SK_pi' from FH_PPK. */
static bool member_gsa_auth_ppk(member *m, const char *group)
{
	gk_ident mid, gid;
	char why[GK_ERR_MAX] = "";
	check(gk_ident_parse(m->id, &mid, why, sizeof(why)) == GK_OK && gk_ident_parse(group, &gid, why, sizeof(why)) == GK_OK, "ids");
	gk_pl_id idi = { .id_type = mid.type, .data = GK_CHUNK(mid.data, mid.len) };
	gk_pl_id idg = { .id_type = gid.type, .data = GK_CHUNK(gid.data, gid.len) };
	gk_wbuf body, pid;
	uint8_t plain[64], mic[64];
	size_t plain_len, miclen;
	gk_wbuf_init(&body, 1024);
	gk_wbuf_init(&pid, 512);
	check(gk_codec_build(gk_payload_desc(GK_PL_IDi), &idi, &body) == GK_OK, "IDi");
	psk_auth(m, gk_wbuf_chunk(&body), plain, &plain_len);
	check(gk_ike_sa_ppk_update(&m->ike, GK_CHUNK(FH_PPK, strlen(FH_PPK))) == GK_OK &&
	      gk_ppk_identity_build(GK_CHUNK(m->ppk_id, strlen(m->ppk_id)), &pid) == GK_OK, "PPK");
	psk_auth(m, gk_wbuf_chunk(&body), mic, &miclen);
	gk_pl_auth auth = { .method = GK_AUTH_SHARED_KEY_MIC, .data = GK_CHUNK(mic, miclen) };
	gk_pl_notify npid = { .type = GK_N_PPK_IDENTITY, .data = gk_wbuf_chunk(&pid) };
	gk_pl_notify nno = { .type = GK_N_NO_PPK_AUTH, .data = GK_CHUNK(plain, plain_len) };
	gk_out_pl pl[] = { { GK_PL_IDi, false, &idi }, { GK_PL_AUTH, false, &auth }, { GK_PL_NOTIFY, false, &npid },
			   { GK_PL_NOTIFY, false, &nno }, { GK_PL_IDg, false, &idg } };
	bool ok = member_request(m, GK_EXCH_GSA_AUTH, pl, 5, 0);
	gk_wbuf_free(&body);
	gk_wbuf_free(&pid);
	if (ok)
		gk_ike_sa_auth_done(&m->ike);
	return ok;
}

static bool member_gsa_auth(member *m, const char *group, size_t frag_len)
{
	gk_ident mid, gid;
	char why[GK_ERR_MAX] = "";
	check(gk_ident_parse(m->id, &mid, why, sizeof(why)) == GK_OK && gk_ident_parse(group, &gid, why, sizeof(why)) == GK_OK, "ids");
	gk_pl_id idi = { .id_type = mid.type, .data = GK_CHUNK(mid.data, mid.len) };
	gk_pl_id idg = { .id_type = gid.type, .data = GK_CHUNK(gid.data, gid.len) };
	gk_wbuf body, octets;
	uint8_t mic[64];
	size_t miclen = sizeof(mic);
	gk_wbuf_init(&body, 1024);
	gk_wbuf_init(&octets, GK_MAX_MESSAGE * 2);
	check(gk_codec_build(gk_payload_desc(GK_PL_IDi), &idi, &body) == GK_OK &&
	      gk_ike_sa_auth_octets(&m->ike, true, gk_wbuf_chunk(&body), &octets) == GK_OK &&
	      gk_auth_psk_compute(m->ike.suite.prf, GK_CHUNK(m->id, strlen(m->id)), gk_wbuf_chunk(&octets), mic,
				  &miclen) == GK_OK, "AUTH");
	gk_pl_auth auth = { .method = GK_AUTH_SHARED_KEY_MIC, .data = GK_CHUNK(mic, miclen) };
	gk_out_pl pl[] = { { GK_PL_IDi, false, &idi }, { GK_PL_AUTH, false, &auth }, { GK_PL_IDg, false, &idg } };
	bool ok = member_request(m, GK_EXCH_GSA_AUTH, pl, 3, frag_len);
	gk_wbuf_free(&body);
	gk_wbuf_free(&octets);
	if (ok)
		gk_ike_sa_auth_done(&m->ike);
	return ok;
}

static bool member_registration(member *m, const char *group)
{
	gk_ident gid;
	char why[GK_ERR_MAX] = "";
	check(gk_ident_parse(group, &gid, why, sizeof(why)) == GK_OK, "group id");
	gk_pl_id idg = { .id_type = gid.type, .data = GK_CHUNK(gid.data, gid.len) };
	gk_out_pl pl[] = { { GK_PL_IDg, false, &idg } };
	return member_request(m, GK_EXCH_GSA_REGISTRATION, pl, 1, 0);
}

static void member_free(member *m) { gk_ike_sa_free(&m->ike); }

/* A sender of G1 with its PPK (ppk_id FH_PPK_ID: registered on the PPK's keys) or with a
 * PPK_ID the GCKS does not know (registered through NO_PPK_AUTH). */
static void seed_ppk(const char *name, uint8_t ctl, const char *ppk_id)
{
	member m;
	begin();
	member_init(&m, ctl, FH_SENDER, 0);
	m.ppk_id = ppk_id;
	check(member_sa_init(&m, false), name);
	check(member_gsa_auth_ppk(&m, FH_G1), name);
	member_free(&m);
	end(name);
}

/* IKE_INTERMEDIATE with KEi(1) for ECP-384 (RFC 9370 2.2.2): IntAuth of both messages under the
 * current keys (RFC 9242 3.3.2), then the key update with SK(1). True once the keys are updated. */
static bool member_intermediate(member *m)
{
	uint8_t p[56];
	gk_dh *dh = NULL;
	gk_wbuf pub, plain, data, shared;
	gk_ike_int *ii = calloc(1, sizeof(*ii));
	gk_ike_keys k; /* the keys IKE_SA_INIT made, which IntAuth runs under */
	gk_ike_sa_keys_get(&m->ike, &k);
	gk_wbuf_init(&pub, 1024);
	gk_wbuf_init(&plain, GK_MAX_MESSAGE);
	gk_wbuf_init(&data, GK_MAX_MESSAGE);
	gk_wbuf_init(&shared, 1024);
	fh_dh_private(250 + m->ctl, p);
	check(ii && gk_dh_new_from_private(GK_KE_ECP_384, GK_CHUNK(p, 32), &dh) == GK_OK &&
	      gk_dh_public(dh, &pub) == GK_OK, "KEi(1)");
	gk_pl_ke ke = { .group = GK_KE_ECP_384, .data = gk_wbuf_chunk(&pub) };
	gk_out_pl pl[] = { { GK_PL_KE, false, &ke } };
	gk_hdr h = { .spi_i = m->ike.spi_i, .spi_r = m->ike.spi_r, .exchange = GK_EXCH_IKE_INTERMEDIATE,
		     .flags = GK_FLAG_I, .msg_id = m->ike.msgid_out };
	check(gk_chain_build(pl, 1, GK_PL_NONE, &plain) == GK_OK &&
	      gk_intauth_data(&h, GK_PL_KE, gk_wbuf_chunk(&plain), &data) == GK_OK &&
	      gk_intauth_add(ii, &k, true, gk_wbuf_chunk(&data)) == GK_OK, "IntAuth_i");
	bool ok = member_request(m, GK_EXCH_IKE_INTERMEDIATE, pl, 1, 0);
	gk_msg r;
	bool complete = false;
	unsigned peer = m->ctl & 7;
	memset(&r, 0, sizeof(r));
	if (ok && gk_msg_parse(&r, GK_CHUNK(last[peer], last_len[peer])) == GK_OK &&
	    gk_ike_sa_open(&m->ike, &r, &complete) == GK_OK && complete && gk_msg_find(&r, GK_PL_KE)) {
		check(gk_intauth_add_received(ii, &k, false, &r) == GK_OK &&
		      gk_dh_derive(dh, gk_msg_find(&r, GK_PL_KE)->body->ke.data, &shared) == GK_OK &&
		      gk_ike_sa_addke_update(&m->ike, gk_wbuf_chunk(&shared)) == GK_OK,
		      "key update");
		ii->naddke = ii->done = 1;
		ii->addke[0] = GK_KE_ECP_384;
		m->ike.intermediate = ii;
		ii = NULL;
	} else {
		ok = false;
	}
	gk_msg_free(&r);
	gk_ike_keys_wipe(&k);
	gk_ike_int_free(ii);
	gk_dh_free(dh);
	gk_wbuf_free(&pub);
	gk_wbuf_free(&plain);
	gk_wbuf_free(&data);
	gk_wbuf_free(&shared);
	return ok;
}

/* A receiver of G1 keyed with X25519 and ADDKE1 = ECP-384 in IKE_INTERMEDIATE, then GSA_AUTH whose
 * AUTH covers it; with stop, one that leaves after IKE_INTERMEDIATE (a half-open SA). */
static void seed_addke(const char *name, uint8_t ctl, bool stop)
{
	member m;
	const uint16_t p384 = GK_KE_ECP_384;
	begin();
	member_init(&m, ctl, FH_RECEIVER, GK_KE_CURVE25519);
	m.addke = true;
	gk_ike_offer_require_addke(&m.offer, &p384, 1);
	check(member_sa_init(&m, false), name);
	check(m.ike.suite.addke[0] == GK_KE_ECP_384, name);
	check(member_intermediate(&m), name);
	if (!stop) {
		check(member_gsa_auth(&m, FH_G1, 0), name);
		/* the GCKS verified the AUTH that covers IKE_INTERMEDIATE: GSA and KD came back */
		gk_msg r;
		bool complete = false;
		check(gk_msg_parse(&r, GK_CHUNK(last[ctl & 7], last_len[ctl & 7])) == GK_OK &&
		      gk_ike_sa_open(&m.ike, &r, &complete) == GK_OK && complete && !gk_msg_find_error(&r) &&
		      gk_msg_find(&r, GK_PL_KD), name);
		gk_msg_free(&r);
	}
	member_free(&m);
	end(name);
}

/* ---- the seeds ---- */

static void seed_init_only(void)
{
	member m;
	begin();
	member_init(&m, 0, FH_RECEIVER, 0);
	check(member_sa_init(&m, false), "init-only");
	member_free(&m);
	end("00-ike-sa-init");
}

static void seed_register(const char *name, uint8_t ctl, const char *id, size_t frag_len, bool more, bool sealed)
{
	member m;
	begin();
	member_init(&m, ctl, id, 0);
	m.sealed = sealed;
	check(member_sa_init(&m, frag_len != 0), name);
	check(member_gsa_auth(&m, FH_G1, frag_len), name);
	if (more) {
		check(member_registration(&m, FH_G2), name);
		check(member_request(&m, GK_EXCH_INFORMATIONAL, NULL, 0, 0), name); /* liveness */
		gk_pl_delete del = { .proto = GK_PROTO_IKE };
		gk_out_pl pl[] = { { GK_PL_DELETE, false, &del } };
		check(member_request(&m, GK_EXCH_INFORMATIONAL, pl, 1, 0), name);
	}
	member_free(&m);
	end(name);
}

/* A GSA_AUTH request sent twice: the second gets the cached answer. */
static void seed_retransmit(void)
{
	member m;
	begin();
	member_init(&m, 1, FH_RECEIVER, 0);
	check(member_sa_init(&m, false), "retransmit");
	check(member_gsa_auth(&m, FH_G2, 0), "retransmit");
	/* the datagram again, as recorded */
	size_t off = rec.len, n = 0;
	for (size_t p = 0; p < rec.len;) {
		n = (size_t)rec.data[p + 1] << 8 | rec.data[p + 2];
		off = p;
		p += 3 + n;
	}
	uint8_t *again = malloc(n);
	memcpy(again, rec.data + off + 3, n);
	check(dgram(1 | 0x10, again, n) == 1, "retransmit answered");
	free(again);
	member_free(&m);
	end("04-gsa-auth-retransmitted");
}

/* The GCKS asks for another group (INVALID_KE_PAYLOAD), the member tries again with it. */
static void seed_invalid_ke(void)
{
	member m;
	begin();
	member_init(&m, 2, FH_RECEIVER, GK_KE_ECP_256);
	m.offer.ke[0] = GK_KE_CURVE25519; /* a KE payload of a group the proposal does not offer */
	check(!member_sa_init(&m, false), "INVALID_KE_PAYLOAD expected");
	member_free(&m);
	member_init(&m, 2 | 0x10, FH_RECEIVER, GK_KE_ECP_256);
	check(member_sa_init(&m, false), "ECP-256");
	check(member_gsa_auth(&m, FH_G1, 0), "ECP-256 GSA_AUTH");
	member_free(&m);
	end("05-ecp256");
}

/* Two members at once, one of them a sender, and the first one's SA left half-open until the
 * GCKS drops it. */
static void seed_two_members(void)
{
	member a, b;
	begin();
	member_init(&a, 0, FH_RECEIVER, 0);
	member_init(&b, 3, FH_SENDER, 0);
	check(member_sa_init(&a, true), "two: a");
	check(member_sa_init(&b, true), "two: b");
	check(member_gsa_auth(&b, FH_G1, 0), "two: b auth");
	static const uint8_t nothing[1];
	dgram(0xf0, nothing, 0); /* fifteen seconds pass (an empty datagram is dropped) */
	check(member_registration(&b, FH_G1), "two: b again");
	member_free(&a);
	member_free(&b);
	end("06-two-members");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: gen_gcks OUTDIR\n");
		return 2;
	}
	outdir = argv[1];
	char path[4096];
	snprintf(path, sizeof(path), "%s/gcks", outdir);
	if (mkdir(path, 0777) != 0 && errno != EEXIST) {
		perror(path);
		return 1;
	}
	seed_init_only();
	seed_register("01-gsa-auth", 0, FH_RECEIVER, 0, false, false);
	seed_register("02-gsa-auth-registration-informational", 4, FH_RECEIVER, 0, true, false);
	seed_register("03-gsa-auth-fragmented", 1, FH_SENDER, 120, false, false);
	seed_register("07-sealed-gsa-auth-registration-informational", 1, FH_RECEIVER, 0, true, true);
	seed_retransmit();
	seed_invalid_ke();
	seed_two_members();
	seed_ppk("08-ppk-gsa-auth", 5, FH_PPK_ID);
	seed_ppk("09-ppk-unknown-id-no-ppk-auth", 6, "not-known-ppk");
	seed_addke("10-ike-intermediate-addke-gsa-auth", 2, false);
	seed_addke("11-ike-intermediate-then-silence", 3, true);
	printf("gen_gcks: %d files in %s/gcks\n", nfiles, outdir);
	return 0;
}
