#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "keylog.h"
#include "iana.h"
#include "log.h"

struct gk_keylog {
	int fd;
};

gk_status gk_keylog_open(const char *path, gk_keylog **out, char *err, size_t errlen)
{
	*out = NULL;
	/* O_NOFOLLOW: a link planted in a shared directory cannot redirect our secrets */
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		gk_seterr(err, errlen, "%s: %s", path, strerror(errno));
		return GK_E_IO;
	}
	struct stat st;
	gk_status rc = GK_E_INVAL;
	if (fstat(fd, &st) != 0)
		gk_seterr(err, errlen, "%s: %s", path, strerror(errno)), rc = GK_E_IO;
	else if (!S_ISREG(st.st_mode))
		gk_seterr(err, errlen, "%s: not a regular file", path);
	else if (st.st_uid != geteuid())
		gk_seterr(err, errlen, "%s: owned by uid %u, not by us", path, (unsigned)st.st_uid);
	else if (st.st_mode & 077)
		gk_seterr(err, errlen, "%s: mode %04o, group or others can access it (want 0600)", path,
			  (unsigned)(st.st_mode & 07777));
	else
		rc = GK_OK;
	gk_keylog *kl = rc ? NULL : calloc(1, sizeof(*kl));
	if (!rc && !kl)
		rc = GK_E_NOMEM;
	if (rc) {
		close(fd);
		return rc;
	}
	kl->fd = fd;
	*out = kl;
	return GK_OK;
}

gk_status gk_keylog_start(const char *prog, const char *path, gk_keylog **out)
{
	char err[GK_ERR_MAX + 64];
	gk_status st = gk_keylog_open(path, out, err, sizeof(err));
	if (st) {
		gk_err("--ike-keylog: %s", err);
		return st;
	}
	gk_warn("WARNING: --ike-keylog: %s writes the keys of every IKE SA to %s; anyone who reads it "
		"can decrypt the captured traffic. A debugging tool: never leave it on in production",
		prog, path);
	return GK_OK;
}

void gk_keylog_close(gk_keylog *kl)
{
	if (!kl)
		return;
	close(kl->fd);
	free(kl);
}

const char *gk_keylog_encr_name(uint16_t encr, uint16_t key_bits)
{
	static const char *const cbc[] = {"AES-CBC-128 [RFC3602]", "AES-CBC-192 [RFC3602]", "AES-CBC-256 [RFC3602]"};
	static const char *const ctr[] = {"AES-CTR-128 [RFC5930]", "AES-CTR-192 [RFC5930]", "AES-CTR-256 [RFC5930]"};
	static const char *const gcm[3][3] = {
		{"AES-GCM-128 with 8 octet ICV [RFC5282]", "AES-GCM-192 with 8 octet ICV [RFC5282]",
		 "AES-GCM-256 with 8 octet ICV [RFC5282]"},
		{"AES-GCM-128 with 12 octet ICV [RFC5282]", "AES-GCM-192 with 12 octet ICV [RFC5282]",
		 "AES-GCM-256 with 12 octet ICV [RFC5282]"},
		{"AES-GCM-128 with 16 octet ICV [RFC5282]", "AES-GCM-192 with 16 octet ICV [RFC5282]",
		 "AES-GCM-256 with 16 octet ICV [RFC5282]"}};
	static const char *const ccm[3][3] = {
		{"AES-CCM-128 with 8 octet ICV [RFC5282]", "AES-CCM-192 with 8 octet ICV [RFC5282]",
		 "AES-CCM-256 with 8 octet ICV [RFC5282]"},
		{"AES-CCM-128 with 12 octet ICV [RFC5282]", "AES-CCM-192 with 12 octet ICV [RFC5282]",
		 "AES-CCM-256 with 12 octet ICV [RFC5282]"},
		{"AES-CCM-128 with 16 octet ICV [RFC5282]", "AES-CCM-192 with 16 octet ICV [RFC5282]",
		 "AES-CCM-256 with 16 octet ICV [RFC5282]"}};
	int k = key_bits == 128 ? 0 : key_bits == 192 ? 1 : key_bits == 256 ? 2 : -1;
	switch (encr) {
	case GK_ENCR_NULL:
		return "NULL [RFC2410]";
	case GK_ENCR_3DES:
		return "3DES [RFC2451]";
	case GK_ENCR_AES_CBC:
		return k < 0 ? NULL : cbc[k];
	case GK_ENCR_AES_CTR:
		return k < 0 ? NULL : ctr[k];
	case GK_ENCR_AES_GCM_8:
	case GK_ENCR_AES_GCM_12:
	case GK_ENCR_AES_GCM_16:
		return k < 0 ? NULL : gcm[encr - GK_ENCR_AES_GCM_8][k];
	case GK_ENCR_AES_CCM_8:
	case GK_ENCR_AES_CCM_12:
	case GK_ENCR_AES_CCM_16:
		return k < 0 ? NULL : ccm[encr - GK_ENCR_AES_CCM_8][k];
	default:
		return NULL;
	}
}

const char *gk_keylog_integ_name(uint16_t integ)
{
	switch (integ) {
	case GK_INTEG_NONE:
		return "NONE [RFC4306]";
	case GK_INTEG_HMAC_SHA1_96:
		return "HMAC_SHA1_96 [RFC2404]";
	case GK_INTEG_HMAC_SHA2_256_128:
		return "HMAC_SHA2_256_128 [RFC4868]";
	case GK_INTEG_HMAC_SHA2_384_192:
		return "HMAC_SHA2_384_192 [RFC4868]";
	case GK_INTEG_HMAC_SHA2_512_256:
		return "HMAC_SHA2_512_256 [RFC4868]";
	default:
		return NULL;
	}
}

static size_t put_hex(char *o, const uint8_t *p, size_t n)
{
	static const char hx[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		o[2 * i] = hx[p[i] >> 4];
		o[2 * i + 1] = hx[p[i] & 15];
	}
	return 2 * n;
}

/* hex (a UAT byte field: no quotes), with a trailing comma unless last */
static size_t put_field(char *o, const uint8_t *p, size_t n, bool last)
{
	size_t w = put_hex(o, p, n);
	if (!last)
		o[w++] = ',';
	return w;
}

static size_t put_name(char *o, const char *name, bool last)
{
	size_t n = strlen(name);
	o[0] = '"';
	memcpy(o + 1, name, n);
	o[n + 1] = '"';
	if (!last)
		o[n + 2] = ',';
	return n + 2 + !last;
}

static void write_record(gk_keylog *kl, const uint8_t spi_i[8], const uint8_t spi_r[8], gk_chunk ei, gk_chunk er,
			 const char *encr, gk_chunk ai, gk_chunk ar, const char *integ)
{
	/* 8 fields; keys at most GK_MAX_KEY octets; names below 64 characters */
	char line[8 * 4 + 2 * 8 * 2 + 4 * 2 * GK_MAX_KEY + 2 * 64 + 2];
	if (ei.len > GK_MAX_KEY || er.len > GK_MAX_KEY || ai.len > GK_MAX_KEY || ar.len > GK_MAX_KEY ||
	    strlen(encr) > 60 || strlen(integ) > 60)
		return;
	size_t w = 0;
	w += put_field(line + w, spi_i, 8, false);
	w += put_field(line + w, spi_r, 8, false);
	w += put_field(line + w, ei.ptr, ei.len, false);
	w += put_field(line + w, er.ptr, er.len, false);
	w += put_name(line + w, encr, false);
	w += put_field(line + w, ai.ptr, ai.len, false);
	w += put_field(line + w, ar.ptr, ar.len, false);
	w += put_name(line + w, integ, true);
	line[w++] = '\n';
	/* one write per record: O_APPEND keeps records of two processes whole */
	ssize_t n = write(kl->fd, line, w);
	(void)n;
	OPENSSL_cleanse(line, sizeof(line));
}

static void be64(uint8_t o[8], uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		o[i] = (uint8_t)v;
}

void gk_keylog_ike_sa(gk_keylog *kl, uint64_t spi_i, uint64_t spi_r, const gk_ike_keys *k)
{
	if (!kl)
		return;
	const char *e = gk_keylog_encr_name(k->suite.encr, k->suite.encr_key_bits);
	const char *i = gk_keylog_integ_name(k->suite.integ);
	char eb[48], ib[48];
	if (!e)
		e = (snprintf(eb, sizeof(eb), "%s", gk_iana_str(GK_REG_ENCR, k->suite.encr)), eb);
	if (!i)
		i = (snprintf(ib, sizeof(ib), "%s", gk_iana_str(GK_REG_INTEG, k->suite.integ)), ib);
	uint8_t si[8], sr[8];
	be64(si, spi_i);
	be64(sr, spi_r);
	write_record(kl, si, sr, GK_CHUNK(k->sk_ei, k->e_len), GK_CHUNK(k->sk_er, k->e_len), e,
		     GK_CHUNK(k->sk_ai, k->a_len), GK_CHUNK(k->sk_ar, k->a_len), i);
}

void gk_keylog_rekey_sa(gk_keylog *kl, gk_chunk spi, uint16_t encr, uint16_t encr_key_bits, uint16_t integ,
			gk_chunk enc_key, gk_chunk integ_key)
{
	if (!kl || spi.len != 16)
		return;
	const char *e = gk_keylog_encr_name(encr, encr_key_bits);
	const char *i = gk_keylog_integ_name(integ);
	if (!e || !i)
		return;
	write_record(kl, spi.ptr, spi.ptr + 8, enc_key, enc_key, e, integ_key, integ_key, i);
}
