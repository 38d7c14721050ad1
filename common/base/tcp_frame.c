#include <stdlib.h>
#include <string.h>
#include "tcp_frame.h"

void gk_tcp_deframer_init(gk_tcp_deframer *d, size_t max_frame, bool expect_prefix)
{
	memset(d, 0, sizeof(*d));
	if (max_frame < GK_TCP_FRAME_MIN)
		max_frame = GK_TCP_FRAME_MIN;
	d->max_frame = max_frame > GK_TCP_FRAME_MAX ? GK_TCP_FRAME_MAX : max_frame;
	d->prefix_done = !expect_prefix;
}

void gk_tcp_deframer_free(gk_tcp_deframer *d)
{
	free(d->buf);
	d->buf = NULL;
}

/* One complete frame body (after the Length). RFC 9329 3.1: IKE starts with the Non-ESP
 * Marker; 3.2: ESP starts with its non-zero SPI. */
static void frame_done(gk_tcp_deframer *d, const uint8_t *b, size_t n, gk_tcp_frame_cb cb, void *ctx)
{
	d->frames++;
	if (n < GK_TCP_MARKER_LEN) {
		d->short_dropped++;
		return;
	}
	if (b[0] || b[1] || b[2] || b[3]) {
		d->esp_dropped++;
		return;
	}
	cb(ctx, b + GK_TCP_MARKER_LEN, n - GK_TCP_MARKER_LEN);
}

gk_status gk_tcp_deframe(gk_tcp_deframer *d, const uint8_t *p, size_t n, gk_tcp_frame_cb cb, void *ctx,
			 char *err, size_t errlen)
{
	while (n) {
		if (!d->prefix_done) {
			/* RFC 9329 4: the responder waits for the whole prefix before reading frames */
			size_t k = GK_TCP_PREFIX_LEN - d->prefix_got;
			if (k > n)
				k = n;
			if (memcmp(p, &GK_TCP_PREFIX[d->prefix_got], k)) {
				gk_seterr(err, errlen, "stream does not start with the IKETCP prefix");
				return GK_E_MALFORMED;
			}
			d->prefix_got += k;
			d->prefix_done = d->prefix_got == GK_TCP_PREFIX_LEN;
			p += k;
			n -= k;
			continue;
		}
		if (d->hdr_got < GK_TCP_HDR_LEN) {
			d->hdr[d->hdr_got++] = *p++;
			n--;
			if (d->hdr_got < GK_TCP_HDR_LEN)
				continue;
			size_t len = (size_t)d->hdr[0] << 8 | d->hdr[1];
			/* RFC 9329 3: the Length counts its own two octets, so 0 and 1 cannot be */
			if (len < GK_TCP_HDR_LEN) {
				gk_seterr(err, errlen, "frame length %zu is below its own 2 octets", len);
				return GK_E_MALFORMED;
			}
			if (len > d->max_frame) {
				gk_seterr(err, errlen, "frame length %zu is above the limit %zu", len, d->max_frame);
				return GK_E_TOO_BIG;
			}
			d->need = len - GK_TCP_HDR_LEN;
			d->got = 0;
			if (!d->need) {
				frame_done(d, p, 0, cb, ctx);
				d->hdr_got = 0;
			}
			continue;
		}
		size_t want = d->need - d->got;
		if (!d->got && n >= want) {
			/* the whole body is in this read: no copy */
			frame_done(d, p, want, cb, ctx);
		} else {
			if (!d->buf && !(d->buf = malloc(d->max_frame))) {
				gk_seterr(err, errlen, "out of memory");
				return GK_E_NOMEM;
			}
			size_t k = n < want ? n : want;
			memcpy(d->buf + d->got, p, k);
			d->got += k;
			p += k;
			n -= k;
			if (d->got < d->need)
				continue;
			frame_done(d, d->buf, d->need, cb, ctx);
			want = 0;
		}
		p += want;
		n -= want;
		d->hdr_got = 0;
		d->need = d->got = 0;
	}
	return GK_OK;
}

gk_status gk_tcp_frame_header(size_t len, uint8_t hdr[GK_TCP_FRAME_MIN])
{
	if (len > GK_TCP_FRAME_MAX - GK_TCP_FRAME_MIN)
		return GK_E_TOO_BIG;
	size_t total = len + GK_TCP_FRAME_MIN;
	hdr[0] = (uint8_t)(total >> 8);
	hdr[1] = (uint8_t)total;
	memset(hdr + GK_TCP_HDR_LEN, 0, GK_TCP_MARKER_LEN);
	return GK_OK;
}
