/* The source address of GSA_REKEY as gcksd remembers it (gcks/rekey_source.c): a second
 * registration toward the same destination does not probe again, an answer older than
 * GK_RSRC_TTL_MS is probed again (a routing change is noticed), another destination, port or
 * interface is a probe of its own, a failed probe is not remembered, and the cache stays at
 * GK_RSRC_SLOTS entries. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include "testutil.h"
#include "rekey_source.h"

typedef struct probe_ctx {
	unsigned calls;
	gk_status st;
	uint8_t last;            /* the answer's last octet: 192.0.2.<last> */
} probe_ctx;

static gk_status probe(void *ctx, const struct sockaddr *dst, uint16_t sport, const char *iface,
		       struct sockaddr_storage *src)
{
	probe_ctx *p = ctx;
	(void)dst;
	(void)sport;
	ck_assert_ptr_nonnull(iface);
	p->calls++;
	if (p->st)
		return p->st;
	struct sockaddr_in *s = (struct sockaddr_in *)src;
	memset(src, 0, sizeof(*src));
	s->sin_family = AF_INET;
	s->sin_addr.s_addr = htonl(0xc0000200u | p->last);
	return GK_OK;
}

static struct sockaddr_storage v4(const char *a, uint16_t port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *s = (struct sockaddr_in *)&ss;
	memset(&ss, 0, sizeof(ss));
	s->sin_family = AF_INET;
	s->sin_port = htons(port);
	ck_assert_int_eq(inet_pton(AF_INET, a, &s->sin_addr), 1);
	return ss;
}

static uint8_t last_octet(const struct sockaddr_storage *ss)
{
	return (uint8_t)(ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) & 0xff);
}

START_TEST(second_lookup_no_probe_expired_probed_again)
{
	static gk_rsrc_cache c;
	probe_ctx p = { .last = 10 };
	struct sockaddr_storage dst = v4("239.192.0.1", 848), src;
	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(gk_rsrc_get(&c, 1000, (struct sockaddr *)&dst, 848, "", probe, &p, &src), GK_OK);
	ck_assert_uint_eq(p.calls, 1);
	ck_assert_uint_eq(last_octet(&src), 10);
	p.last = 11; /* the route changed: not seen until the entry expires */
	memset(&src, 0, sizeof(src));
	ck_assert_int_eq(gk_rsrc_get(&c, 1000 + GK_RSRC_TTL_MS - 1, (struct sockaddr *)&dst, 848, NULL, probe, &p, &src),
			 GK_OK);
	ck_assert_uint_eq(p.calls, 1);
	ck_assert_uint_eq(last_octet(&src), 10);
	ck_assert_int_eq(gk_rsrc_get(&c, 1000 + GK_RSRC_TTL_MS, (struct sockaddr *)&dst, 848, "", probe, &p, &src), GK_OK);
	ck_assert_uint_eq(p.calls, 2);
	ck_assert_uint_eq(last_octet(&src), 11);
	ck_assert_uint_eq(c.probes, 2);
	/* the new answer lives another GK_RSRC_TTL_MS, in the expired entry's slot */
	ck_assert_int_eq(gk_rsrc_get(&c, 1000 + 2 * GK_RSRC_TTL_MS - 1, (struct sockaddr *)&dst, 848, "", probe, &p, &src),
			 GK_OK);
	ck_assert_uint_eq(p.calls, 2);
	unsigned used = 0;
	for (size_t i = 0; i < GK_RSRC_SLOTS; i++)
		used += c.e[i].until != 0;
	ck_assert_uint_eq(used, 1);
}
END_TEST

START_TEST(key_is_destination_ports_and_interface)
{
	static gk_rsrc_cache c;
	probe_ctx p = { .last = 1 };
	struct sockaddr_storage a = v4("239.192.0.1", 848), b = v4("239.192.0.2", 848), a2 = v4("239.192.0.1", 849), src;
	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(gk_rsrc_get(&c, 5, (struct sockaddr *)&a, 848, "", probe, &p, &src), GK_OK);
	ck_assert_int_eq(gk_rsrc_get(&c, 5, (struct sockaddr *)&b, 848, "", probe, &p, &src), GK_OK);
	ck_assert_uint_eq(p.calls, 2);
	ck_assert_int_eq(gk_rsrc_get(&c, 5, (struct sockaddr *)&a2, 848, "", probe, &p, &src), GK_OK);
	ck_assert_uint_eq(p.calls, 3);
	ck_assert_int_eq(gk_rsrc_get(&c, 5, (struct sockaddr *)&a, 4500, "", probe, &p, &src), GK_OK);
	ck_assert_uint_eq(p.calls, 4);
	ck_assert_int_eq(gk_rsrc_get(&c, 5, (struct sockaddr *)&a, 848, "eth1", probe, &p, &src), GK_OK);
	ck_assert_uint_eq(p.calls, 5);
	/* each of them answered from the cache now */
	ck_assert_int_eq(gk_rsrc_get(&c, 6, (struct sockaddr *)&a, 848, "", probe, &p, &src), GK_OK);
	ck_assert_int_eq(gk_rsrc_get(&c, 6, (struct sockaddr *)&b, 848, "", probe, &p, &src), GK_OK);
	ck_assert_int_eq(gk_rsrc_get(&c, 6, (struct sockaddr *)&a2, 848, "", probe, &p, &src), GK_OK);
	ck_assert_int_eq(gk_rsrc_get(&c, 6, (struct sockaddr *)&a, 4500, "", probe, &p, &src), GK_OK);
	ck_assert_int_eq(gk_rsrc_get(&c, 6, (struct sockaddr *)&a, 848, "eth1", probe, &p, &src), GK_OK);
	ck_assert_uint_eq(p.calls, 5);
}
END_TEST

/* A failed probe is the caller's error and is tried again next time; an interface name too
 * long for the key is probed every time, never cut short into another interface's entry. */
START_TEST(failures_and_long_names_not_remembered)
{
	static gk_rsrc_cache c;
	probe_ctx p = { .st = GK_E_IO };
	struct sockaddr_storage a = v4("239.192.0.1", 848), src;
	char longname[IF_NAMESIZE + 8];
	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(gk_rsrc_get(&c, 5, (struct sockaddr *)&a, 848, "", probe, &p, &src), GK_E_IO);
	p.st = GK_OK;
	ck_assert_int_eq(gk_rsrc_get(&c, 6, (struct sockaddr *)&a, 848, "", probe, &p, &src), GK_OK);
	ck_assert_uint_eq(p.calls, 2);
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	ck_assert_int_eq(gk_rsrc_get(&c, 7, (struct sockaddr *)&a, 848, longname, probe, &p, &src), GK_OK);
	ck_assert_int_eq(gk_rsrc_get(&c, 7, (struct sockaddr *)&a, 848, longname, probe, &p, &src), GK_OK);
	ck_assert_uint_eq(p.calls, 4);
}
END_TEST

/* More destinations than slots: the cache keeps GK_RSRC_SLOTS, the oldest goes first, and the
 * newest are still answered without a probe. */
START_TEST(bounded_oldest_evicted)
{
	static gk_rsrc_cache c;
	probe_ctx p = { .last = 1 };
	struct sockaddr_storage src;
	char a[32];
	memset(&c, 0, sizeof(c));
	for (unsigned i = 0; i < GK_RSRC_SLOTS + 4; i++) {
		snprintf(a, sizeof(a), "239.192.1.%u", i);
		struct sockaddr_storage d = v4(a, 848);
		ck_assert_int_eq(gk_rsrc_get(&c, 100 + i, (struct sockaddr *)&d, 848, "", probe, &p, &src), GK_OK);
	}
	ck_assert_uint_eq(p.calls, GK_RSRC_SLOTS + 4);
	snprintf(a, sizeof(a), "239.192.1.%u", GK_RSRC_SLOTS + 3);
	struct sockaddr_storage newest = v4(a, 848), oldest = v4("239.192.1.0", 848);
	ck_assert_int_eq(gk_rsrc_get(&c, 200, (struct sockaddr *)&newest, 848, "", probe, &p, &src), GK_OK);
	ck_assert_uint_eq(p.calls, GK_RSRC_SLOTS + 4);
	ck_assert_int_eq(gk_rsrc_get(&c, 200, (struct sockaddr *)&oldest, 848, "", probe, &p, &src), GK_OK);
	ck_assert_uint_eq(p.calls, GK_RSRC_SLOTS + 5);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("rekey_source");
	TCase *tc = tcase_create("rekey_source");
	tcase_add_test(tc, second_lookup_no_probe_expired_probed_again);
	tcase_add_test(tc, key_is_destination_ports_and_interface);
	tcase_add_test(tc, failures_and_long_names_not_remembered);
	tcase_add_test(tc, bounded_oldest_evicted);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
