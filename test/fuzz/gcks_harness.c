/* The GCKS of fuzz_gcks and gen_gcks: see gcks_harness.h. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include "gcks_harness.h"
#include "fuzz.h"
#include "fuzz_keys.h"
#include "gcks/gcks_sa_table.h"
#include "gcks/policy.h"
#include "gcks/storage.h"
#include "gcks/gcks_keyrules.h"
#include "auth.h"
#include "dh.h"
#include "message.h"
#include "log.h"

#define WALL_BASE INT64_C(1700000000)
#define START_MS INT64_C(1000000)

static struct {
	char dir[64], template_db[96], work_db[96];
	uint8_t *image;                   /* the template store's file */
	size_t image_len;
	gk_store *store;
	gk_gcks *gcks;
	gk_rand_test rnd;
	int64_t now_ms;
	unsigned dh_count;
	fh_sent_fn sent;
	void *ctx;
} H;

/* ---- deterministic key exchange ---- */

gk_status __real_gk_dh_new(uint16_t group, gk_dh **out);
gk_status __wrap_gk_dh_new(uint16_t group, gk_dh **out);

void fh_dh_private(unsigned n, uint8_t out[32])
{
	uint8_t seed[16] = "fuzz-gcks-dh";
	seed[15] = (uint8_t)n;
	SHA256(seed, sizeof(seed), out);
	out[0] = 0x01; /* below every group's order, above 1 */
}

/* Curve448 takes 56 octets; every other group 32. */
gk_status __wrap_gk_dh_new(uint16_t group, gk_dh **out)
{
	uint8_t p[56];
	fh_dh_private(H.dh_count++, p);
	memcpy(p + 32, p, 24);
	gk_status st = gk_dh_new_from_private(group, GK_CHUNK(p, 32), out);
	if (st == GK_E_INVAL)
		st = gk_dh_new_from_private(group, GK_CHUNK(p, 56), out);
	return st == GK_E_INVAL ? __real_gk_dh_new(group, out) : st;
}

/* ---- the template store ---- */

static gk_ident ident(const char *text)
{
	gk_ident id;
	char why[GK_ERR_MAX] = "";
	FUZZ_ASSERT(gk_ident_parse(text, &id, why, sizeof(why)) == GK_OK);
	return id;
}

static char *sign_key_pem(void)
{
	const uint8_t *p = fk_p256_priv;
	EVP_PKEY *k = d2i_AutoPrivateKey(NULL, &p, sizeof(fk_p256_priv));
	BIO *b = BIO_new(BIO_s_mem());
	FUZZ_ASSERT(k && b && PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) == 1);
	char *data = NULL;
	long n = BIO_get_mem_data(b, &data);
	char *s = strndup(data, (size_t)n);
	BIO_free(b);
	EVP_PKEY_free(k);
	return s;
}

static gk_ts_spec ts4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint8_t last, uint8_t proto, uint16_t plo,
		      uint16_t phi)
{
	return (gk_ts_spec){ .family = 4, .start = { a, b, c, d }, .end = { a, b, c, last }, .ip_proto = proto,
			     .port_lo = plo, .port_hi = phi };
}

static void add_member(gk_group_policy *g, const char *id, gk_role role)
{
	gk_member_policy *m = realloc(g->members, (g->nmembers + 1) * sizeof(*m));
	FUZZ_ASSERT(m);
	g->members = m;
	m = &g->members[g->nmembers++];
	memset(m, 0, sizeof(*m));
	gk_ident mid = ident(id);
	FUZZ_ASSERT(gk_member_policy_set_id(m, &mid) == GK_OK);
	m->auth = GK_MAUTH_PSK;
	m->role = role;
	m->max_sender_ids = role == GK_ROLE_SENDER ? 4 : 0;
	m->psk_len = strlen(id);
	m->psk = malloc(m->psk_len);
	FUZZ_ASSERT(m->psk);
	memcpy(m->psk, id, m->psk_len);
}

static void put_group(gk_store *s, const char *name, gk_rekey_transport transport, uint8_t dst)
{
	gk_group_policy g;
	memset(&g, 0, sizeof(g));
	snprintf(g.name, sizeof(g.name), "%s", name);
	g.id = ident(name);
	g.rekey_transport = transport;
	g.atd = 30;
	g.dtd = 60;
	g.sender_id_bits = 8;
	g.rekey_margin_pct = 10;
	if (transport == GK_REKEY_MULTICAST) {
		gk_kek_policy *k = &g.kek;
		k->present = true;
		k->encr = GK_ENCR_AES_CBC;
		k->encr_key_bits = 256;
		k->integ = GK_INTEG_HMAC_SHA2_256_128;
		k->kwa = GK_KWA_KW_5649_256;
		k->gcauth = GK_GCAUTH_DIGITAL_SIGNATURE;
		k->sig_scheme = GK_SIG_ECDSA_SHA256;
		k->src = ts4(192, 0, 2, 1, 1, 17, 848, 848);
		k->dst = ts4(239, 0, 0, dst, dst, 17, 848, 848);
		k->lifetime = 86400;
		k->ttl = 8;
		k->copies = 1;
	}
	g.nteks = 1;
	g.teks = calloc(1, sizeof(*g.teks));
	FUZZ_ASSERT(g.teks);
	snprintf(g.teks[0].name, sizeof(g.teks[0].name), "video");
	g.teks[0].proto = GK_PROTO_ESP;
	g.teks[0].encr = GK_ENCR_AES_GCM_16;
	g.teks[0].encr_key_bits = 256;
	g.teks[0].sn = GK_SN_UNSPEC32;
	g.teks[0].src = ts4(192, 0, 2, 0, 255, 17, 0, 65535);
	g.teks[0].dst = ts4(239, 1, 1, dst, dst, 17, 5004, 5004);
	g.teks[0].lifetime = 3600;
	add_member(&g, FH_RECEIVER, GK_ROLE_RECEIVER);
	if (transport == GK_REKEY_MULTICAST) {
		add_member(&g, FH_SENDER, GK_ROLE_SENDER);
		gk_member_policy *m = &g.members[g.nmembers - 1];
		g.ppk = GK_PPK_OPTIONAL;
		m->ppk_len = strlen(FH_PPK);
		m->ppk = (uint8_t *)strdup(FH_PPK);
		m->ppk_id_len = strlen(FH_PPK_ID);
		m->ppk_id = (uint8_t *)strdup(FH_PPK_ID);
		FUZZ_ASSERT(m->ppk && m->ppk_id);
	}
	bool changed = false;
	FUZZ_ASSERT(gk_keys_group_put(s, &g, "fuzz", NULL, (int64_t)time(NULL), &changed) == GK_OK);
	gk_group_policy_free(&g);
}

static void unlink_db(const char *db)
{
	static const char *const suffixes[] = { "", "-wal", "-shm", "-journal" };
	char p[160];
	for (size_t i = 0; i < 4; i++) {
		snprintf(p, sizeof(p), "%s%s", db, suffixes[i]);
		unlink(p);
	}
}

/* Only the directory is left between runs (libFuzzer may end the process without exit()). */
static void cleanup(void)
{
	unlink_db(H.template_db);
	unlink_db(H.work_db);
	rmdir(H.dir);
	free(H.image);
}

static int64_t clock_ms(void *ctx)
{
	(void)ctx;
	return H.now_ms;
}

static int64_t clock_wall(void *ctx)
{
	(void)ctx;
	return WALL_BASE + H.now_ms / 1000;
}

static void send_cb(void *ctx, const struct sockaddr *local, const struct sockaddr *peer, const uint8_t *data,
		    size_t len)
{
	(void)ctx;
	(void)local;
	FUZZ_ASSERT(len > 0 && len <= GK_MAX_MESSAGE);
	if (!H.sent)
		return;
	unsigned idx = 0;
	if (peer->sa_family == AF_INET6)
		idx = 4 + (((const uint8_t *)&((const struct sockaddr_in6 *)(const void *)peer)->sin6_addr)[15] & 3);
	else
		idx = ntohl(((const struct sockaddr_in *)(const void *)peer)->sin_addr.s_addr) & 3;
	H.sent(H.ctx, idx, data, len);
}

static gk_gcks *new_gcks(void)
{
	gk_gcks_config cfg;
	gk_gcks_config_default(&cfg);
	gk_gcks_env env = { .rnd = &H.rnd.r, .clock = { .now_ms = clock_ms, .wall = clock_wall },
			    .send = send_cb, .store = H.store };
	gk_gcks *g = NULL;
	char err[256] = "";
	gk_status st = gk_gcks_new(&cfg, &env, &g, err, sizeof(err));
	if (st) {
		fprintf(stderr, "fuzz_gcks: gk_gcks_new: %s: %s\n", gk_status_str(st), err);
		abort();
	}
	return g;
}

static void reset_run(void)
{
	H.now_ms = START_MS;
	H.dh_count = 0;
	gk_rand_test_init(&H.rnd, 1);
}

/* Makes the template once: identity, groups, and their keys (made by a first GCKS). */
static void make_template(void)
{
	gk_log_init("fuzz_gcks", getenv("GK_FUZZ_DEBUG") ? GK_LOG_DEBUG : GK_LOG_ERROR);
	/* in memory where there is a tmpfs: the store syncs every write */
	struct stat sb;
	snprintf(H.dir, sizeof(H.dir), "%s/gk-fuzz-gcks-XXXXXX",
		 stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) ? "/dev/shm" : "/tmp");
	FUZZ_ASSERT(mkdtemp(H.dir));
	snprintf(H.template_db, sizeof(H.template_db), "%s/template.db", H.dir);
	snprintf(H.work_db, sizeof(H.work_db), "%s/work.db", H.dir);
	atexit(cleanup);
	char err[GK_STORE_ERR_MAX];
	FUZZ_ASSERT(gk_store_open(H.template_db, true, &H.store, err, sizeof(err)) == GK_OK);
	gk_gcks_identity id = { .id = ident(FH_GCKS_ID), .sign_key_pem = sign_key_pem() };
	FUZZ_ASSERT(gk_store_identity_set(H.store, &id, "fuzz", (int64_t)time(NULL)) == GK_OK);
	free(id.sign_key_pem);
	put_group(H.store, FH_G1, GK_REKEY_MULTICAST, 1);
	put_group(H.store, FH_G2, GK_REKEY_INBAND, 2);
	reset_run();
	gk_gcks_free(new_gcks());
	gk_store_close(H.store);
	H.store = NULL;
	FILE *f = fopen(H.template_db, "rb");
	FUZZ_ASSERT(f && fseek(f, 0, SEEK_END) == 0);
	long n = ftell(f);
	FUZZ_ASSERT(n > 0 && fseek(f, 0, SEEK_SET) == 0);
	H.image = malloc((size_t)n);
	FUZZ_ASSERT(H.image && fread(H.image, 1, (size_t)n, f) == (size_t)n);
	H.image_len = (size_t)n;
	fclose(f);
	unlink_db(H.template_db);
}

gk_gcks *fh_begin(fh_sent_fn sent, void *ctx)
{
	if (!H.image)
		make_template();
	int fd = open(H.work_db, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	FUZZ_ASSERT(fd >= 0 && write(fd, H.image, H.image_len) == (ssize_t)H.image_len);
	close(fd);
	char err[GK_STORE_ERR_MAX];
	FUZZ_ASSERT(gk_store_open(H.work_db, false, &H.store, err, sizeof(err)) == GK_OK);
	H.sent = sent;
	H.ctx = ctx;
	reset_run();
	H.gcks = new_gcks();
	return H.gcks;
}

void fh_advance(int64_t ms)
{
	for (int64_t t = 0; t < ms; t += 1000) {
		H.now_ms += ms - t < 1000 ? ms - t : 1000;
		gk_gcks_tick(H.gcks);
	}
}

static void peer_addr(uint8_t ctl, struct sockaddr_storage *peer, struct sockaddr_storage *local)
{
	memset(peer, 0, sizeof(*peer));
	memset(local, 0, sizeof(*local));
	if (ctl & 4) {
		struct sockaddr_in6 *p = (void *)peer, *l = (void *)local;
		p->sin6_family = l->sin6_family = AF_INET6;
		p->sin6_port = htons(500);
		l->sin6_port = htons(848);
		inet_pton(AF_INET6, "2001:db8::10", &p->sin6_addr);
		p->sin6_addr.s6_addr[15] |= ctl & 3;
		inet_pton(AF_INET6, "2001:db8::1", &l->sin6_addr);
	} else {
		struct sockaddr_in *p = (void *)peer, *l = (void *)local;
		p->sin_family = l->sin_family = AF_INET;
		p->sin_port = htons(500);
		l->sin_port = htons(848);
		p->sin_addr.s_addr = htonl(0x7f000110u | (ctl & 3));
		l->sin_addr.s_addr = htonl(0x7f000001u);
	}
}

/* A request whose protected part the fuzzer wrote in the clear: IKE header | first payload
 * type | inner chain, sealed here with the keys the GCKS opens the SA's requests with. */
static bool seal(const uint8_t *data, size_t len, gk_dgrams *out)
{
	if (len < GK_HDR_LEN + 1)
		return false;
	gcks_sa *sa = gcks_sa_find(H.gcks, gk_get_u64(data + 8));
	if (!sa || sa->ike.state == GK_IKE_NONE)
		return false;
	gk_hdr h = { .spi_i = gk_get_u64(data), .spi_r = gk_get_u64(data + 8), .exchange = data[18],
		     .flags = data[19], .msg_id = gk_get_u32(data + 20) };
	gk_sk_keys k = gk_ike_sa_sk(&sa->ike, false);
	return gk_msg_build_raw_dgrams(&h, data[GK_HDR_LEN], GK_CHUNK(data + GK_HDR_LEN + 1, len - GK_HDR_LEN - 1), &k,
				       &H.rnd.r, 0, out) == GK_OK;
}

void fh_datagram(uint8_t ctl, const uint8_t *data, size_t len)
{
	struct sockaddr_storage peer, local;
	gk_dgrams sealed = { .n = 0 };
	fh_advance((int64_t)(ctl >> 4) * 1000);
	peer_addr(ctl, &peer, &local);
	if ((ctl & FH_SEAL) && seal(data, len, &sealed)) {
		data = sealed.d[0].data;
		len = sealed.d[0].len;
	}
	/* an exact-size heap copy, so that ASan sees reads past the datagram */
	uint8_t *copy = malloc(len ? len : 1);
	FUZZ_ASSERT(copy);
	memcpy(copy, data, len);
	gk_gcks_input(H.gcks, copy, len, (const struct sockaddr *)&peer, (const struct sockaddr *)&local);
	gk_gcks_flush(H.gcks);
	free(copy);
	gk_dgrams_free(&sealed);
}

void fh_feed(const uint8_t *data, size_t size)
{
	size_t off = 0;
	while (off + 3 <= size) {
		uint8_t ctl = data[off];
		size_t len = (size_t)data[off + 1] << 8 | data[off + 2];
		off += 3;
		if (len > size - off)
			len = size - off;
		fh_datagram(ctl, data + off, len);
		off += len;
	}
}

void fh_end(void)
{
	gk_gcks_free(H.gcks);
	H.gcks = NULL;
	gk_store_close(H.store);
	H.store = NULL;
	unlink_db(H.work_db);
}
