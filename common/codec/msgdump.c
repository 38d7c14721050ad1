#include <stdarg.h>
#include <stdio.h>
#include "msgdump.h"

typedef struct sbuf { char *p; size_t len, used; } sbuf;

static void put(sbuf *s, const char *fmt, ...)
{
	if (s->used + 1 >= s->len)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(s->p + s->used, s->len - s->used, fmt, ap);
	va_end(ap);
	if (n > 0)
		s->used += (size_t)n < s->len - s->used ? (size_t)n : s->len - s->used - 1;
}

static const char *short_name(uint8_t type)
{
	switch (type) {
	case GK_PL_NOTIFY: return "N";
	case GK_PL_DELETE: return "D";
	case GK_PL_VENDOR: return "V";
	default: return gk_iana_str(GK_REG_PAYLOAD, type);
	}
}

static void put_payload(sbuf *s, const gk_payload *p)
{
	put(s, " %s", short_name(p->type));
	if (p->type == GK_PL_NOTIFY)
		put(s, "(%s)", gk_iana_str(GK_REG_NOTIFY, p->body->notify.type));
}

char *gk_msg_summary(const gk_msg *m, char *buf, size_t len)
{
	sbuf s = { buf, len, 0 };
	if (len)
		buf[0] = 0;
	put(&s, "%s %s %u [", gk_iana_str(GK_REG_EXCHANGE, m->hdr.exchange),
	    m->hdr.flags & GK_FLAG_R ? "response" : "request", (unsigned)m->hdr.msg_id);
	for (size_t i = 0; i < m->pl.n; i++) {
		const gk_payload *p = &m->pl.items[i];
		if (p->encrypted)
			continue;
		if (i == m->sk_index) {
			put(&s, " %s{", p->type == GK_PL_SKF ? "SKF" : "SK");
			if (!m->decrypted)
				put(&s, " ?");
			for (size_t j = 0; j < m->pl.n; j++)
				if (m->pl.items[j].encrypted)
					put_payload(&s, &m->pl.items[j]);
			put(&s, " }");
			continue;
		}
		put_payload(&s, p);
	}
	put(&s, " ]");
	return buf;
}
