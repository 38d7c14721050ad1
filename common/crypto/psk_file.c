/* Pre-shared keys from text and from key files (see psk_file.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "psk_file.h"

/* A key file holds at most a 0x-hex key of GK_PSK_MAX octets and some white space. */
#define PSK_FILE_MAX 4096u

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
}

/* The white space a key file may have around its key (C locale isspace). */
static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

void gk_psk_free(uint8_t *psk, size_t len)
{
	if (psk)
		OPENSSL_cleanse(psk, len);
	free(psk);
}

gk_status gk_psk_decode(const char *s, size_t len, uint8_t **out, size_t *outlen, char *err, size_t errlen)
{
	bool hex = len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
	size_t n = hex ? (len - 2) / 2 : len;
	*out = NULL;
	*outlen = 0;
	if (hex) {
		bool ok = len % 2 == 0;
		for (size_t i = 2; ok && i < len; i++)
			ok = hexval((unsigned char)s[i]) >= 0;
		if (!ok) {
			gk_seterr(err, errlen, "PSK starts with 0x but is not hex (an even number of digits 0-9, a-f)");
			return GK_E_INVAL;
		}
	} else if (memchr(s, '\0', len)) {
		gk_seterr(err, errlen, "PSK contains a NUL byte; write the key as text or 0x-hex");
		return GK_E_INVAL;
	}
	if (n < GK_PSK_MIN) {
		gk_seterr(err, errlen, "PSK is %zu octets; at least %u are required", n, GK_PSK_MIN);
		return GK_E_INVAL;
	}
	if (n > GK_PSK_MAX) {
		gk_seterr(err, errlen, "PSK is %zu octets; at most %u are allowed", n, GK_PSK_MAX);
		return GK_E_INVAL;
	}
	uint8_t *p = malloc(n);
	if (!p) {
		gk_seterr(err, errlen, "out of memory");
		return GK_E_NOMEM;
	}
	for (size_t i = 0; i < n; i++)
		p[i] = hex ? (uint8_t)(hexval((unsigned char)s[2 + 2 * i]) << 4 | hexval((unsigned char)s[3 + 2 * i]))
			   : (uint8_t)s[i];
	*out = p;
	*outlen = n;
	return GK_OK;
}

/* The whole file (a regular file of at most PSK_FILE_MAX octets whose group and others have no
 * access) into buf; *len octets. */
static gk_status file_slurp(const char *path, char *buf, size_t *len, char *err, size_t errlen)
{
	struct stat st;
	gk_status rc = GK_E_IO;
	*len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		gk_seterr(err, errlen, "%s: cannot read the PSK file: %s", path, strerror(errno));
		return GK_E_IO;
	}
	if (fstat(fd, &st) != 0) {
		gk_seterr(err, errlen, "%s: cannot read the PSK file: %s", path, strerror(errno));
		goto out;
	}
	rc = GK_E_INVAL;
	if (!S_ISREG(st.st_mode)) {
		gk_seterr(err, errlen, "%s: the PSK file is not a regular file", path);
		goto out;
	}
	if (st.st_mode & 077) {
		gk_seterr(err, errlen, "%s: the PSK file is mode %04o: its group or others may access it "
			  "(chmod 600 it)", path, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	if ((uint64_t)st.st_size > PSK_FILE_MAX) {
		gk_seterr(err, errlen, "%s: the PSK file is %lld octets; a key file holds at most %u",
			  path, (long long)st.st_size, PSK_FILE_MAX);
		goto out;
	}
	rc = GK_OK;
	for (;;) {
		ssize_t r = read(fd, buf + *len, PSK_FILE_MAX + 1 - *len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			gk_seterr(err, errlen, "%s: cannot read the PSK file: %s", path, strerror(errno));
			rc = GK_E_IO;
			break;
		}
		if (r == 0)
			break;
		*len += (size_t)r;
		if (*len > PSK_FILE_MAX) { /* it grew since fstat */
			gk_seterr(err, errlen, "%s: the PSK file is over %u octets", path, PSK_FILE_MAX);
			rc = GK_E_INVAL;
			break;
		}
	}
out:
	close(fd);
	return rc;
}

gk_status gk_psk_file_read(const char *path, uint8_t **out, size_t *outlen, char *err, size_t errlen)
{
	char buf[PSK_FILE_MAX + 1], why[256];
	size_t len = 0, b = 0;
	*out = NULL;
	*outlen = 0;
	gk_status st = file_slurp(path, buf, &len, err, errlen);
	if (st)
		goto out;
	while (b < len && is_space(buf[b]))
		b++;
	while (len > b && is_space(buf[len - 1]))
		len--;
	if (len == b) {
		gk_seterr(err, errlen, "%s: the PSK file is empty", path);
		st = GK_E_INVAL;
	} else if ((st = gk_psk_decode(buf + b, len - b, out, outlen, why, sizeof(why)))) {
		gk_seterr(err, errlen, "%s: %s", path, why);
	}
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	return st;
}
