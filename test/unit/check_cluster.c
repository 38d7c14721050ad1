/* Several key servers on one store (gcks/storage.h "several servers", gcks/gcks_cluster.c):
 *  - on SQLite, which one gcksd holds alone, the server leads every group and nothing changes;
 *  - the fence: only the holder of a group's lease takes Rekey SA Message IDs, in the same
 *    transaction, and the next leader continues the sequence;
 *  - the GCKS core on a shared store: the lifetime scheduler and GSA_REKEY only on the leader,
 *    takeover when the leader's lease expires, and fail closed (TEMPORARY_FAILURE, no rekeys)
 *    while the store is lost.
 * A shared backend is stood in for by the SQLite backend with the cluster operations of this
 * file: leases, heartbeats and notices in memory, judged by a "database clock" that follows the
 * fake network's clock, and a switch that makes the database unreachable. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "testutil.h"
#include "fakenet.h"
#include "regfix.h"
#include "gcks/control.h"
#include "gcks/storage.h"
#include "gcks/gcks_keyrules.h"
#include "gcks/store/store_backend.h"
#include "log.h"
#include "rand.h"

/* ---- a shared store, in memory ---- */

#define MAX_HANDLES 4
static struct {
	bool down;                            /* the database cannot be reached */
	struct {
		char holder[GK_SERVER_ID_MAX];
		int64_t epoch, expires;
	} l[2];                               /* the leases of G1 and G2 */
	char beat_id[4][GK_SERVER_ID_MAX];
	int64_t beat_at[4];
	size_t nbeats;
	char notices[16][256];
	size_t nnotices;
	/* per handle: the ops it was given, its own and what it took */
	gk_store *h[MAX_HANDLES];
	gk_store_ops ops[MAX_HANDLES];
	size_t nh;
} sh;

static int64_t db_now(void)
{
	return net.clock.now_ms / 1000;
}

static gk_status sh_beat(gk_store *s, const char *server, const char *instance, int64_t stale_ms, int64_t *age_ms)
{
	(void)s;
	(void)instance;
	(void)stale_ms;
	(void)age_ms;
	if (sh.down)
		return GK_E_IO;
	for (size_t i = 0; i < sh.nbeats; i++)
		if (!strcmp(sh.beat_id[i], server)) {
			sh.beat_at[i] = db_now();
			return GK_OK;
		}
	ck_assert_uint_lt(sh.nbeats, 4);
	snprintf(sh.beat_id[sh.nbeats], GK_SERVER_ID_MAX, "%s", server);
	sh.beat_at[sh.nbeats++] = db_now();
	return GK_OK;
}

static gk_status sh_servers(gk_store *s, gk_server_row **out, size_t *n)
{
	(void)s;
	if (sh.down)
		return GK_E_IO;
	*out = calloc(sh.nbeats + 1, sizeof(**out));
	ck_assert_ptr_nonnull(*out);
	for (size_t i = 0; i < sh.nbeats; i++) {
		snprintf((*out)[i].id, GK_SERVER_ID_MAX, "%s", sh.beat_id[i]);
		(*out)[i].age = db_now() - sh.beat_at[i];
	}
	*n = sh.nbeats;
	return GK_OK;
}

static int gi(const char *group)
{
	ck_assert(!strcmp(group, G1) || !strcmp(group, G2));
	return strcmp(group, G1) != 0;
}

static void lease_out(int g, gk_lease *l)
{
	snprintf(l->holder, sizeof(l->holder), "%s", sh.l[g].holder);
	l->epoch = sh.l[g].epoch;
	l->remaining = sh.l[g].expires - db_now();
}

static gk_status sh_lease_take(gk_store *s, const char *group, const char *server, int64_t lease_s, gk_lease *l,
			       bool *held)
{
	(void)s;
	if (sh.down)
		return GK_E_IO;
	int g = gi(group);
	bool mine = !strcmp(sh.l[g].holder, server);
	*held = mine || !sh.l[g].holder[0] || sh.l[g].expires <= db_now();
	if (*held) {
		if (!mine) {
			sh.l[g].epoch++;
			snprintf(sh.l[g].holder, sizeof(sh.l[g].holder), "%s", server);
		}
		sh.l[g].expires = db_now() + lease_s;
	}
	lease_out(g, l);
	return GK_OK;
}

static gk_status sh_lease_get(gk_store *s, const char *group, gk_lease *l, bool *found)
{
	(void)s;
	if (sh.down)
		return GK_E_IO;
	int g = gi(group);
	*found = sh.l[g].holder[0] != 0;
	lease_out(g, l);
	return GK_OK;
}

static gk_status sh_lease_check(gk_store *s, const char *group, const char *server, int64_t epoch, bool *held)
{
	(void)s;
	int g = gi(group);
	if (sh.down)
		return GK_E_IO;
	*held = !strcmp(sh.l[g].holder, server) && sh.l[g].epoch == epoch && sh.l[g].expires > db_now();
	return GK_OK;
}

static gk_status sh_notify(gk_store *s, const char *what)
{
	(void)s;
	if (sh.down)
		return GK_E_IO;
	if (sh.nnotices < 16)
		snprintf(sh.notices[sh.nnotices++], 256, "%s", what);
	return GK_OK;
}

/* Makes the SQLite store s a shared one: the same operations, with the cluster ones above. */
static void share(gk_store *s)
{
	ck_assert_uint_lt(sh.nh, MAX_HANDLES);
	sh.ops[sh.nh] = *s->ops;
	sh.ops[sh.nh].server_beat = sh_beat;
	sh.ops[sh.nh].servers = sh_servers;
	sh.ops[sh.nh].lease_take = sh_lease_take;
	sh.ops[sh.nh].lease_get = sh_lease_get;
	sh.ops[sh.nh].lease_check = sh_lease_check;
	sh.ops[sh.nh].notify = sh_notify;
	s->ops = &sh.ops[sh.nh];
	sh.h[sh.nh++] = s;
}

static gk_store *second_handle(void)
{
	char err[GK_STORE_ERR_MAX];
	gk_store *s = NULL;
	ck_assert_msg(gk_store_open(rf_db_path(), false, &s, err, sizeof(err)) == GK_OK, "%s", err);
	return s;
}

/* ---- multicast GSA_REKEY as the GCKS sends it ---- */

static unsigned mc_sent;
static uint32_t mc_msgid;            /* of the last one (IKE header, RFC 7296 3.1) */
static void mc_send(void *ctx, const struct sockaddr *dst, uint16_t sport, uint8_t ttl, const char *iface,
		    const uint8_t *data, size_t len)
{
	(void)ctx, (void)dst, (void)sport, (void)ttl, (void)iface;
	ck_assert_uint_ge(len, 28);
	mc_msgid = (uint32_t)data[20] << 24 | (uint32_t)data[21] << 16 | (uint32_t)data[22] << 8 | data[23];
	mc_sent++;
}

static void start(const char *server_id)
{
	char err[256] = "";
	snprintf(gcfg.server_id, sizeof(gcfg.server_id), "%s", server_id);
	gk_gcks_env env = fn_gcks_env(&net, store);
	env.send_multicast = mc_send;
	ck_assert_msg(gk_gcks_new(&gcfg, &env, &net.gcks, err, sizeof(err)) == GK_OK, "%s", err);
}

static char *status_json(void)
{
	gk_control_hooks h = { .gcks = net.gcks, .store = store, .started = 0 };
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	ck_assert_ptr_nonnull(f);
	gk_control_handle(&h, "root", "status", f);
	fclose(f);
	return buf;
}

/* Errors logged meanwhile (a follower that tried to rekey and was fenced off logs one a tick). */
static unsigned errors_logged;
static void count_errors(void *ctx, gk_log_level level, const char *msg)
{
	(void)ctx, (void)msg;
	errors_logged += level == GK_LOG_ERROR;
}

static void setup(void)
{
	rf_setup("check_cluster", "gk-cluster");
	memset(&sh, 0, sizeof(sh));
	mc_sent = 0;
}

static void teardown(void)
{
	rf_teardown();
}

/* ---- SQLite: one server, nothing changes ---- */

START_TEST(sqlite_one_server_leads_everything)
{
	standard_policies(0);
	gk_lease l;
	bool held = false, found = true;
	ck_assert(!gk_store_shared(store));
	ck_assert_int_eq(gk_store_server_beat(store, "a:500", "n1", 6000, NULL), GK_OK);
	ck_assert_int_eq(gk_store_lease_take(store, G1, "a:500", 6, &l, &held), GK_OK);
	ck_assert(held);
	ck_assert_str_eq(l.holder, "a:500");
	ck_assert_int_eq(l.epoch, 1);
	ck_assert_int_eq(gk_store_lease_get(store, G1, &l, &found), GK_OK);
	ck_assert(!found);
	gk_server_row *rows = NULL;
	size_t n = 9;
	ck_assert_int_eq(gk_store_servers(store, &rows, &n), GK_OK);
	ck_assert_uint_eq(n, 0);
	free(rows);
	ck_assert_int_eq(gk_store_notify(store, "a:500 " G1), GK_OK);
	ck_assert_int_eq(gk_store_notice_fd(store), -1);
	/* Message IDs are taken as before, without a lease */
	uint32_t id = 99;
	ck_assert_int_eq(gk_keys_rekey_msgid_next(store, G1, &id), GK_OK);
	ck_assert_uint_eq(id, 0);
	ck_assert_int_eq(gk_keys_rekey_msgid_next(store, G1, &id), GK_OK);
	ck_assert_uint_eq(id, 1);
	/* the core leads its group, issues keys, and says so in its status */
	start("gcks-a:848");
	fn_advance(&net, 3000);
	ck_assert(gk_gcks_group_leads(net.gcks, G1));
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	fn_member *m = join(&c);
	run_member(m);
	registered(m, 0);
	char msg[256];
	ck_assert_int_eq(gk_gcks_rekey(net.gcks, G1, msg, sizeof(msg)), GK_OK);
	ck_assert_uint_eq(mc_sent > 0, 1);
	char *js = status_json();
	ck_assert_ptr_nonnull(strstr(js, "\"server\":\"gcks-a:848\",\"database\":\"ok\",\"servers\":[{\"id\":\"gcks-a:848\",\"alive\":true}]"));
	ck_assert_ptr_nonnull(strstr(js, "\"leader\":\"gcks-a:848\"},{\"group\":\"" G2 "\""));
	free(js);
}
END_TEST

/* ---- the fence ---- */

/* Two servers (two store handles) on one shared store: the one without the lease cannot take a
 * Message ID, nor can the one whose lease was taken over; the new leader continues the
 * sequence, so no Message ID is ever given twice. */
START_TEST(fence_msgid_only_for_the_lease_holder)
{
	standard_policies(0);
	gk_store *b = second_handle();
	share(store);
	share(b);
	ck_assert(gk_store_shared(store));
	gk_lease l;
	bool held = false;
	uint32_t id = 77, peek = 0;
	/* a server's store handle that never took G1's lease is fenced off */
	ck_assert_int_eq(gk_store_lease_take(store, G2, "a", 6, &l, &held), GK_OK);
	ck_assert(held);
	ck_assert_int_eq(gk_keys_rekey_msgid_next(store, G1, &id), GK_E_STATE);
	ck_assert_int_eq(gk_store_lease_take(store, G1, "a", 6, &l, &held), GK_OK);
	ck_assert(held);
	ck_assert_int_eq(l.epoch, 1);
	ck_assert_int_eq(gk_keys_rekey_msgid_next(store, G1, &id), GK_OK);
	ck_assert_uint_eq(id, 0);
	/* a handle of a tool (gcksctl), which takes no lease, is not fenced: it sends no GSA_REKEY */
	gk_store *tool = second_handle();
	share(tool);
	ck_assert_int_eq(gk_keys_rekey_msgid_next(tool, G1, &id), GK_OK);
	ck_assert_uint_eq(id, 1);
	gk_store_close(tool);
	/* b asks while a holds it */
	ck_assert_int_eq(gk_store_lease_take(b, G1, "b", 6, &l, &held), GK_OK);
	ck_assert(!held);
	ck_assert_str_eq(l.holder, "a");
	ck_assert_int_eq(gk_keys_rekey_msgid_next(b, G1, &id), GK_E_STATE);
	ck_assert_int_eq(gk_keys_rekey_msgid_peek(store, G1, &peek), GK_OK);
	ck_assert_uint_eq(peek, 2); /* nothing taken */
	/* a stops renewing; 6 s later b takes over with a new epoch */
	fn_advance(&net, 6000);
	ck_assert_int_eq(gk_store_lease_take(b, G1, "b", 6, &l, &held), GK_OK);
	ck_assert(held);
	ck_assert_int_eq(l.epoch, 2);
	ck_assert_int_eq(gk_keys_rekey_msgid_next(store, G1, &id), GK_E_STATE); /* a, too late */
	ck_assert_int_eq(gk_keys_rekey_msgid_next(b, G1, &id), GK_OK);
	ck_assert_uint_eq(id, 2); /* the sequence goes on */
	/* a takes it back only after b's lease ran out, as a new holder (epoch 3) */
	ck_assert_int_eq(gk_store_lease_take(store, G1, "a", 6, &l, &held), GK_OK);
	ck_assert(!held);
	fn_advance(&net, 7000);
	ck_assert_int_eq(gk_store_lease_take(store, G1, "a", 6, &l, &held), GK_OK);
	ck_assert(held);
	ck_assert_int_eq(l.epoch, 3);
	ck_assert_int_eq(gk_keys_rekey_msgid_next(b, G1, &id), GK_E_STATE);
	ck_assert_int_eq(gk_keys_rekey_msgid_next(store, G1, &id), GK_OK);
	ck_assert_uint_eq(id, 3);
	gk_store_close(b);
}
END_TEST

/* ---- the core on a shared store ---- */

/* Another server holds the lease: this one sends no GSA_REKEY, neither when the keys come due
 * nor when asked; when the other's lease runs out it leads within the bound (lease 6 s, renewed
 * every 2 s: 8 s) and its GSA_REKEY continues the Message ID sequence. */
START_TEST(follower_sends_nothing_then_takes_over)
{
	standard_policies(0);
	share(store);
	snprintf(sh.l[0].holder, sizeof(sh.l[0].holder), "gcks-b:848");
	sh.l[0].epoch = 4;
	sh.l[0].expires = db_now() + 3600; /* b renews for an hour, then dies */
	snprintf(sh.l[1].holder, sizeof(sh.l[1].holder), "gcks-b:848");
	sh.l[1].epoch = 1;
	sh.l[1].expires = db_now() + 7200; /* G2 stays b's */
	start("gcks-a:848");
	fn_advance(&net, 2500);
	ck_assert(!gk_gcks_group_leads(net.gcks, G1));
	char msg[256];
	ck_assert_int_eq(gk_gcks_rekey(net.gcks, G1, msg, sizeof(msg)), GK_E_STATE);
	ck_assert_str_eq(msg, "this server does not lead the rekeys of " G1 ": ask the one that does (gcksctl status "
			 "names it)");
	char *js = status_json();
	ck_assert_ptr_nonnull(strstr(js, "\"leader\":\"gcks-b:848\"},{\"group\":\"" G2 "\""));
	ck_assert_ptr_nonnull(strstr(js, "{\"id\":\"gcks-a:848\",\"alive\":true}"));
	free(js);
	/* registrations are served by every server */
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	fn_member *m = join(&c);
	run_member(m);
	registered(m, 0);
	/* the TEK comes due (lifetime 3600 s, margin 10 %): the leader's business, not this one's,
	 * which does not even try (the fence would stop it, with an error each time) */
	errors_logged = 0;
	gk_log_set_sink(count_errors, NULL);
	fn_advance(&net, 3300 * 1000);
	gk_log_set_sink(NULL, NULL);
	ck_assert(!gk_gcks_group_leads(net.gcks, G1));
	ck_assert_uint_eq(mc_sent, 0);
	ck_assert_uint_eq(errors_logged, 0);
	uint32_t before = 0;
	ck_assert_int_eq(gk_keys_rekey_msgid_peek(store, G1, &before), GK_OK);
	/* b dies: its lease ends; a leads at its next round and rekeys what is due at once */
	sh.l[0].expires = db_now();
	int64_t t0 = net.clock.now_ms;
	while (!mc_sent && net.clock.now_ms - t0 < 8000)
		fn_advance(&net, 250);
	ck_assert(gk_gcks_group_leads(net.gcks, G1));
	ck_assert_int_le(net.clock.now_ms - t0, 2250);
	ck_assert_int_eq(sh.l[0].epoch, 5);
	ck_assert_str_eq(sh.l[0].holder, "gcks-a:848");
	ck_assert_uint_gt(mc_sent, 0);
	ck_assert_uint_eq(mc_msgid, before); /* the Message ID the old leader would have sent next */
	/* the others were told the keys changed */
	ck_assert_uint_ge(sh.nnotices, 1);
	ck_assert_str_eq(sh.notices[sh.nnotices - 1], "gcks-a:848 " G1);
}
END_TEST

/* A group's capacity holds for the servers of a shared store together: members another server
 * registered count (their rows are in the store), not only this server's own. */
START_TEST(capacity_counts_other_servers_registrations)
{
	standard_policies(2);
	share(store);
	start("gcks-a:848");
	fn_advance(&net, 2500);
	/* another server registered r2 (its row, as that server's put leaves it) */
	gk_registration r = { .role = GK_ROLE_RECEIVER, .registered_at = db_now() };
	snprintf(r.group, sizeof(r.group), "%s", G1);
	snprintf(r.member, sizeof(r.member), "fqdn:r2.example");
	snprintf(r.peer, sizeof(r.peer), "192.0.2.77:500");
	gk_store *other = second_handle();
	ck_assert_int_eq(gk_store_registration_put(other, &r, NULL), GK_OK);
	gk_store_close(other);
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	fn_member *m1 = join(&c);
	run_member(m1);
	registered(m1, 0);
	/* two registered: full, for this server too */
	c = gm_psk("fqdn:s1.example", G1);
	c.sender = true;
	fn_member *s1 = join(&c);
	run_member(s1);
	refused(s1, GK_N_REGISTRATION_FAILED);
	/* a place freed on another server is free here too */
	other = second_handle();
	ck_assert_int_eq(gk_store_registration_delete(other, G1, "fqdn:r2.example"), GK_OK);
	gk_store_close(other);
	c = gm_psk("fqdn:s1.example", G1);
	c.sender = true;
	fn_member *s1b = join(&c);
	run_member(s1b);
	registered(s1b, 0);
}
END_TEST

/* The leader loses the database: it stops leading before its lease could have been taken over,
 * registrations get TEMPORARY_FAILURE (the member asks its next key server), no rekey goes out;
 * when the database is back, it issues keys again. */
START_TEST(lost_database_fails_closed)
{
	standard_policies(0);
	share(store);
	start("gcks-a:848");
	fn_advance(&net, 2500);
	ck_assert(gk_gcks_group_leads(net.gcks, G1));
	sh.down = true;
	fn_advance(&net, 2500);
	ck_assert(!gk_gcks_group_leads(net.gcks, G1));
	char msg[256];
	ck_assert_int_eq(gk_gcks_rekey(net.gcks, G1, msg, sizeof(msg)), GK_E_STATE);
	ck_assert_str_eq(msg, "this server lost its database: " G1 " cannot be changed here");
	ck_assert_uint_eq(mc_sent, 0);
	char *js = status_json();
	ck_assert_ptr_nonnull(strstr(js, "\"database\":\"lost\""));
	ck_assert_ptr_nonnull(strstr(js, "\"leader\":null"));
	free(js);
	sh.down = false; /* keys could be read, but the server is still in its lost state */
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	fn_member *m = join(&c);
	run_member(m);
	refused(m, GK_N_TEMPORARY_FAILURE);
	fn_advance(&net, 2500);
	ck_assert(gk_gcks_group_leads(net.gcks, G1));
	c = gm_psk("fqdn:r2.example", G1);
	m = join(&c);
	run_member(m);
	registered(m, 0);
}
END_TEST

/* A leader that cannot renew stops leading on its own clock one second before its lease ends,
 * even when nothing else told it (its rounds do not run: a stalled process). */
START_TEST(lease_runs_out_without_renewal)
{
	standard_policies(0);
	share(store);
	start("gcks-a:848");
	fn_advance(&net, 2500);
	ck_assert(gk_gcks_group_leads(net.gcks, G1));
	int64_t t = net.clock.now_ms;
	/* its last renewal was at most 2 s ago: it leads 2.9 s on, and not 5 s on */
	net.clock.now_ms = t + 2900; /* the clock moves, no tick runs */
	ck_assert(gk_gcks_group_leads(net.gcks, G1));
	net.clock.now_ms = t + 5000;
	ck_assert(!gk_gcks_group_leads(net.gcks, G1));
}
END_TEST

static const gk_group_sa *kek_of(const gk_group_state *gs)
{
	for (size_t i = 0; i < gs->nsas; i++)
		if (gs->sas[i].proto == GK_PROTO_GIKE_UPDATE)
			return &gs->sas[i];
	ck_abort_msg("no Rekey SA");
	return NULL;
}

/* A server that missed another's rekeys (its notices were lost) reads the group's keys again
 * when its own have expired, at a registration. What it then promises in GSA_NEXT_SPI for the
 * Rekey SA it hands out derives from that Rekey SA, as a restarted server's promise does
 * (RFC 9838 4.4.2.2.3): every server must promise the SPI the next rotation will use, or a
 * member that misses that rotation never notices the loss. */
START_TEST(keys_read_again_promise_their_own_next_spi)
{
	standard_policies(0);
	gk_store *b = second_handle();
	share(store);
	share(b);
	for (int i = 0; i < 2; i++) { /* b leads both groups for two hours */
		snprintf(sh.l[i].holder, sizeof(sh.l[i].holder), "gcks-b:848");
		sh.l[i].epoch = 1;
		sh.l[i].expires = db_now() + 7200;
	}
	start("gcks-a:848");
	fn_advance(&net, 2500);
	ck_assert(!gk_gcks_group_leads(net.gcks, G1));
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	fn_member *m = join(&c);
	run_member(m);
	const gk_group_sa *k1 = kek_of(registered(m, 0));
	ck_assert_uint_eq(k1->n_next_spi, 1);
	uint8_t promised[16];
	memcpy(promised, k1->next_spi[0], 16);
	/* an hour less 100 s later b rotates every key, its new Rekey SA on the SPI promised; a is
	 * not told (no notice reaches it here) */
	fn_advance(&net, 3500 * 1000);
	gk_lease l;
	bool held = false;
	ck_assert_int_eq(gk_store_lease_take(b, G1, "gcks-b:848", 7200, &l, &held), GK_OK);
	ck_assert(held);
	int64_t wall = net.clock.wall_base + net.clock.now_ms / 1000, gen = 0;
	gk_group_policy pol;
	gk_sa_key prev[2], keys[2];
	size_t n = 0;
	ck_assert_int_eq(gk_keys_group_load(b, G1, gk_rand_system(), wall, &pol, &gen, keys, 2, &n), GK_OK);
	ck_assert_uint_eq(n, 2);
	uint8_t want[2][16] = { { 0 } };
	memcpy(want[1], promised, 16);
	bool changed = false;
	uint32_t msgid = 0;
	ck_assert_int_eq(gk_keys_group_rekey(b, &pol, gk_rand_system(), wall, wall, true, (const uint8_t(*)[16])want,
					     prev, keys, &n, &changed, &msgid), GK_OK);
	ck_assert(changed);
	ck_assert_int_eq(keys[1].tek_index, -1);
	ck_assert_mem_eq(keys[1].spi, promised, 16);
	gk_group_policy_free(&pol);
	/* a's TEK expires (3600 s): the next registration there reads b's keys */
	fn_advance(&net, 200 * 1000);
	c = gm_psk("fqdn:r2.example", G1);
	m = join(&c);
	run_member(m);
	const gk_group_sa *k2 = kek_of(registered(m, 0));
	ck_assert_mem_eq(k2->spi, promised, 16);
	ck_assert_uint_eq(k2->n_next_spi, 1);
	uint8_t next[16];
	memcpy(next, k2->next_spi[0], 16);
	ck_assert_mem_ne(next, k2->spi, 16); /* not the promise of the Rekey SA before: its own SPI */
	/* the promise of a server that reads the group from the start (a restart) */
	gk_gcks_free(net.gcks);
	net.gcks = NULL;
	start("gcks-a:848");
	c = gm_psk("fqdn:r1.example", G1);
	m = join(&c);
	run_member(m);
	const gk_group_sa *k3 = kek_of(registered(m, 0));
	ck_assert_mem_eq(k3->spi, promised, 16);
	ck_assert_uint_eq(k3->n_next_spi, 1);
	ck_assert_mem_eq(k3->next_spi[0], next, 16);
	OPENSSL_cleanse(prev, sizeof(prev));
	OPENSSL_cleanse(keys, sizeof(keys));
	gk_store_close(b);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("cluster");
	TCase *tc = tcase_create("cluster");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, sqlite_one_server_leads_everything);
	tcase_add_test(tc, fence_msgid_only_for_the_lease_holder);
	tcase_add_test(tc, follower_sends_nothing_then_takes_over);
	tcase_add_test(tc, lost_database_fails_closed);
	tcase_add_test(tc, capacity_counts_other_servers_registrations);
	tcase_add_test(tc, lease_runs_out_without_renewal);
	tcase_add_test(tc, keys_read_again_promise_their_own_next_spi);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
