/* rekey_forge: builds a GSA_REKEY message for test/integration/rekey.sh the way the GCKS does
 * (gk_group_state_encode + gk_rekey_build), under a Rekey SA whose SPI and keying material the
 * test read from the GCKS database, but signed with a key of the forger's choosing. A member
 * holding that Rekey SA decrypts it fine; only the signature tells it is not the GCKS's.
 *
 *   rekey_forge --spi HEX32 --keymat HEX --msgid N [--encr NAME] [--key-bits N] [--integ NAME]
 *               [--kwa NAME] [--sign ecdsa-p256|ed25519|none|PEMFILE] [--tek-spi HEX8]
 *               [--frag-mtu N] [--tek-dst START-END]
 *
 * --sign: a fresh key of that type (the default, ecdsa-p256), none (no AUTH payload at all), or
 * a PEM private key file. The message carries one new ESP SA (SPI --tek-spi, default deadbeef,
 * AES-GCM-16/256 to 239.192.1.1, or the IPv4 range --tek-dst) with random keys. Prints each datagram as one hex line. */
#include <arpa/inet.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include "arena.h"
#include "auth.h"
#include "group_sa.h"
#include "iana.h"
#include "ikekeys.h"
#include "rand.h"
#include "rekey_msg.h"

static int hex_in(const char *s, uint8_t *out, size_t max, size_t *len)
{
	size_t n = strlen(s);
	if (n % 2 || n / 2 > max)
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	*len = n / 2;
	return 0;
}

static int iana(enum gk_registry reg, const char *name, uint16_t *out)
{
	char up[64];
	unsigned v;
	size_t i;
	if (!strcmp(name, "none")) {
		*out = 0;
		return 0;
	}
	for (i = 0; name[i] && i + 1 < sizeof(up); i++)
		up[i] = name[i] == '-' ? '_' : (char)(name[i] >= 'a' && name[i] <= 'z' ? name[i] - 32 : name[i]);
	up[i] = 0;
	if (gk_iana_value(reg, up, &v)) {
		fprintf(stderr, "rekey_forge: unknown transform %s\n", name);
		return -1;
	}
	*out = (uint16_t)v;
	return 0;
}

static EVP_PKEY *signing_key(const char *how)
{
	if (!strcmp(how, "ecdsa-p256"))
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (!strcmp(how, "ed25519"))
		return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	FILE *f = fopen(how, "r");
	EVP_PKEY *k = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	return k;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "spi", required_argument, NULL, 's' }, { "keymat", required_argument, NULL, 'k' },
		{ "msgid", required_argument, NULL, 'm' }, { "encr", required_argument, NULL, 'e' },
		{ "key-bits", required_argument, NULL, 'b' }, { "integ", required_argument, NULL, 'i' },
		{ "kwa", required_argument, NULL, 'w' }, { "sign", required_argument, NULL, 'S' },
		{ "tek-spi", required_argument, NULL, 't' }, { "frag-mtu", required_argument, NULL, 'f' },
		{ "tek-dst", required_argument, NULL, 'd' },
		{ 0 },
	};
	const char *spi_hex = NULL, *keymat_hex = NULL, *sign = "ecdsa-p256", *encr_s = "aes-gcm-16";
	const char *integ_s = "none", *kwa_s = "kw-5649-256", *tek_spi = "deadbeef", *tek_dst = NULL;
	unsigned long msgid = 0, bits = 256, mtu = 0;
	bool have_msgid = false;
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's': spi_hex = optarg; break;
		case 'k': keymat_hex = optarg; break;
		case 'm': msgid = strtoul(optarg, NULL, 0); have_msgid = true; break;
		case 'e': encr_s = optarg; break;
		case 'b': bits = strtoul(optarg, NULL, 0); break;
		case 'i': integ_s = optarg; break;
		case 'w': kwa_s = optarg; break;
		case 'S': sign = optarg; break;
		case 't': tek_spi = optarg; break;
		case 'f': mtu = strtoul(optarg, NULL, 0); break;
		case 'd': tek_dst = optarg; break;
		default: return 2;
		}
	}
	uint8_t spi[16], keymat[256];
	size_t spi_len = 0, keymat_len = 0, tek_len = 0;
	uint16_t encr, integ, kwa;
	if (!spi_hex || !keymat_hex || !have_msgid || hex_in(spi_hex, spi, sizeof(spi), &spi_len) || spi_len != 16 ||
	    hex_in(keymat_hex, keymat, sizeof(keymat), &keymat_len) || iana(GK_REG_ENCR, encr_s, &encr) ||
	    iana(GK_REG_INTEG, integ_s, &integ) || iana(GK_REG_KWA, kwa_s, &kwa)) {
		fprintf(stderr, "usage: rekey_forge --spi HEX32 --keymat HEX --msgid N [--encr NAME] [--key-bits N]\n"
				"       [--integ NAME] [--kwa NAME] [--sign ecdsa-p256|ed25519|none|PEMFILE]\n"
				"       [--tek-spi HEX8] [--frag-mtu N] [--tek-dst START-END]\n");
		return 2;
	}
	gk_group_keys gk;
	if (gk_group_keys_split(GK_CHUNK(keymat, keymat_len), GK_PROTO_GIKE_UPDATE, encr, (uint16_t)bits, integ, kwa,
				&gk)) {
		fprintf(stderr, "rekey_forge: the keying material does not fit the Rekey SA transforms\n");
		return 2;
	}

	/* one new ESP SA, as a GCKS would announce it */
	gk_group_state *gs = OPENSSL_zalloc(sizeof(*gs));
	if (!gs)
		return 1;
	gk_group_sa *sa = &gs->sas[gs->nsas++];
	sa->proto = GK_PROTO_ESP;
	if (hex_in(tek_spi, sa->spi, 4, &tek_len) || tek_len != 4) {
		fprintf(stderr, "rekey_forge: --tek-spi takes 8 hex digits\n");
		return 2;
	}
	sa->spi_len = 4;
	sa->src = (gk_ts_spec){ .family = 4, .start = { 0 }, .end = { 255, 255, 255, 255 }, .port_hi = 65535 };
	sa->dst = (gk_ts_spec){ .family = 4, .start = { 239, 192, 1, 1 }, .end = { 239, 192, 1, 1 }, .port_hi = 65535 };
	if (tek_dst) {
		char lo[32], *dash;
		snprintf(lo, sizeof(lo), "%s", tek_dst);
		dash = strchr(lo, '-');
		if (!dash || (*dash = 0, inet_pton(AF_INET, lo, sa->dst.start) != 1) ||
		    inet_pton(AF_INET, dash + 1, sa->dst.end) != 1) {
			fprintf(stderr, "rekey_forge: --tek-dst takes START-END (IPv4)\n");
			return 2;
		}
	}
	sa->encr = GK_ENCR_AES_GCM_16;
	sa->encr_key_bits = 256;
	sa->sn = GK_SN_SEQ32;
	sa->lifetime = 3600;
	sa->keymat_len = gk_group_keymat_len(GK_PROTO_ESP, sa->encr, sa->encr_key_bits, 0, 0);
	gk_rand_bytes(gk_rand_system(), sa->keymat, sa->keymat_len);

	gk_arena a;
	gk_arena_init(&a, 0);
	gk_pl_gsa gsa;
	gk_pl_kd kd;
	gk_status st = gk_group_state_encode(gs, GK_GSA_REKEY, kwa, gk.wrap, &a, &gsa, &kd);
	EVP_PKEY *key = NULL;
	gk_rekey_out o = {
		.msg_id = (uint32_t)msgid, .frag_mtu = mtu,
		.kek = { .encr = encr, .encr_key_bits = (uint16_t)bits, .integ = integ, .enc = gk.enc,
			 .integ_key = gk.integ },
	};
	memcpy(o.spi, spi, 16);
	if (strcmp(sign, "none")) {
		if (!(key = signing_key(sign)) || gk_sig_scheme_for_key(key, &o.scheme)) {
			fprintf(stderr, "rekey_forge: --sign %s: no usable signing key\n", sign);
			return 2;
		}
		o.sign_key = key;
	}
	gk_out_pl pl[2] = { { GK_PL_GSA, false, &gsa }, { GK_PL_KD, false, &kd } };
	o.pl = pl;
	o.npl = 2;
	gk_dgrams d = { 0 };
	if (!st)
		st = gk_rekey_build(&o, gk_rand_system(), &d);
	if (st) {
		fprintf(stderr, "rekey_forge: %s\n", gk_status_str(st));
		return 1;
	}
	for (size_t i = 0; i < d.n; i++) {
		for (size_t j = 0; j < d.d[i].len; j++)
			printf("%02x", d.d[i].data[j]);
		putchar('\n');
	}
	gk_dgrams_free(&d);
	gk_arena_free(&a);
	EVP_PKEY_free(key);
	OPENSSL_clear_free(gs, sizeof(*gs));
	OPENSSL_cleanse(keymat, sizeof(keymat));
	return 0;
}
