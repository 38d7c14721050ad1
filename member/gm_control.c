#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "gm_control.h"
#include "log.h"

struct gm_control {
	uv_pipe_t server;
	gm_control_hooks hooks;
	char path[108];
	unsigned nclients;
};

/* One connection: its request line so far. */
typedef struct client {
	uv_pipe_t pipe;
	gm_control *ctl;
	char line[GM_CONTROL_LINE_MAX + 1];
	size_t len;
	bool answered;
} client;

typedef struct reply {
	uv_write_t w;
	client *c;
	char *buf;
} reply;

static void on_client_closed(uv_handle_t *h)
{
	client *c = h->data;
	c->ctl->nclients--;
	free(c);
}

static void close_client(client *c)
{
	if (!uv_is_closing((uv_handle_t *)&c->pipe))
		uv_close((uv_handle_t *)&c->pipe, on_client_closed);
}

static void on_written(uv_write_t *w, int status)
{
	(void)status;
	reply *r = w->data;
	close_client(r->c);
	free(r->buf);
	free(r);
}

static void answer(client *c, bool json)
{
	const char *servers[GK_GM_MAX_GROUPS] = { 0 };
	if (c->ctl->hooks.servers)
		c->ctl->hooks.servers(c->ctl->hooks.ctx, servers, GK_GM_MAX_GROUPS);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f) {
		close_client(c);
		return;
	}
	if (json) {
		gk_json j;
		gk_json_init(&j, f);
		gk_json_obj(&j);
		gk_json_key(&j, "ok");
		gk_json_bool(&j, true);
		gk_json_key(&j, "groups");
		if (c->ctl->hooks.groups)
			gk_gm_groups_status_json(c->ctl->hooks.groups, &j, servers);
		else
			gk_json_null(&j);
		gk_json_obj_end(&j);
		fputc('\n', f);
	} else if (c->ctl->hooks.groups) {
		gk_gm_groups_status_text(c->ctl->hooks.groups, f, servers);
	} else {
		fputs("no groups followed (--once)\n", f);
	}
	fclose(f);
	reply *r = calloc(1, sizeof(*r));
	if (!r) {
		free(buf);
		close_client(c);
		return;
	}
	r->c = c;
	r->buf = buf;
	r->w.data = r;
	uv_buf_t b = uv_buf_init(buf, (unsigned)len);
	c->answered = true;
	uv_read_stop((uv_stream_t *)&c->pipe);
	if (uv_write(&r->w, (uv_stream_t *)&c->pipe, &b, 1, on_written)) {
		free(buf);
		free(r);
		close_client(c);
	}
}

static void on_alloc(uv_handle_t *h, size_t want, uv_buf_t *buf)
{
	(void)want;
	client *c = h->data;
	/* never more than the room left in the line: a long request cannot grow our memory */
	*buf = uv_buf_init(c->line + c->len, (unsigned)(GM_CONTROL_LINE_MAX - c->len));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	(void)buf;
	client *c = s->data;
	if (n < 0 || c->answered) {
		close_client(c);
		return;
	}
	c->len += (size_t)n;
	c->line[c->len] = 0;
	char *nl = memchr(c->line, '\n', c->len);
	if (!nl) {
		if (c->len >= GM_CONTROL_LINE_MAX) {
			gk_logs(GK_SUB_DAEMON, GK_LOG_WARN, "control socket: request longer than %d octets: closed",
				GM_CONTROL_LINE_MAX);
			close_client(c);
		}
		return;
	}
	*nl = 0;
	if (!strcmp(c->line, "status") || !strcmp(c->line, "status json")) {
		answer(c, c->line[6] != 0);
		return;
	}
	static const char bad[] = "{\"ok\":false,\"error\":\"unknown request (status, status json)\"}\n";
	reply *r = calloc(1, sizeof(*r));
	char *copy = r ? strdup(bad) : NULL;
	if (!copy) {
		free(r);
		close_client(c);
		return;
	}
	r->c = c;
	r->buf = copy;
	r->w.data = r;
	c->answered = true;
	uv_buf_t b = uv_buf_init(copy, sizeof(bad) - 1);
	if (uv_write(&r->w, (uv_stream_t *)&c->pipe, &b, 1, on_written)) {
		free(copy);
		free(r);
		close_client(c);
	}
}

/* Root and gmd's own user only (SO_PEERCRED: the kernel's record, not anything the peer says). */
static bool peer_allowed(client *c)
{
	uv_os_fd_t fd;
	struct ucred cr;
	socklen_t crlen = sizeof(cr);
	if (uv_fileno((uv_handle_t *)&c->pipe, &fd) || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crlen))
		return false;
	if (cr.uid == 0 || cr.uid == geteuid())
		return true;
	gk_logs(GK_SUB_DAEMON, GK_LOG_WARN, "control socket: uid %u (pid %d) refused", (unsigned)cr.uid, (int)cr.pid);
	return false;
}

static void on_connection(uv_stream_t *server, int status)
{
	gm_control *ctl = server->data;
	if (status < 0)
		return;
	client *c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->ctl = ctl;
	ctl->nclients++;
	uv_pipe_init(server->loop, &c->pipe, 0);
	c->pipe.data = c;
	if (uv_accept(server, (uv_stream_t *)&c->pipe) || ctl->nclients > GM_CONTROL_CLIENTS || !peer_allowed(c) ||
	    uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read))
		close_client(c);
}

static void on_server_closed(uv_handle_t *h)
{
	free(h->data);
}

gk_status gm_control_open(uv_loop_t *loop, const char *path, const gm_control_hooks *hooks, gm_control **out,
			  char *err, size_t errlen)
{
	*out = NULL;
	if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		gk_seterr(err, errlen, "control socket %s: path too long", path);
		return GK_E_INVAL;
	}
	gm_control *c = calloc(1, sizeof(*c));
	if (!c)
		return GK_E_NOMEM;
	c->hooks = *hooks;
	snprintf(c->path, sizeof(c->path), "%s", path);
	uv_pipe_init(loop, &c->server, 0);
	c->server.data = c;
	unlink(path); /* a stale socket from a previous run (a link there goes, unfollowed) */
	/* bind() creates the socket 0660 under this umask: no chmod by path afterwards */
	mode_t old = umask(0117);
	int r = uv_pipe_bind(&c->server, path);
	umask(old);
	if (!r)
		r = uv_listen((uv_stream_t *)&c->server, GM_CONTROL_CLIENTS, on_connection);
	if (r) {
		gk_seterr(err, errlen, "control socket %s: %s", path, uv_strerror(r));
		uv_close((uv_handle_t *)&c->server, on_server_closed);
		return GK_E_IO;
	}
	*out = c;
	return GK_OK;
}

void gm_control_set_groups(gm_control *c, const gk_gm_groups *groups)
{
	if (c)
		c->hooks.groups = groups;
}

void gm_control_close(gm_control *c)
{
	if (!c)
		return;
	unlink(c->path);
	uv_close((uv_handle_t *)&c->server, on_server_closed);
}

gk_status gm_control_request(const char *path, const char *request, FILE *out, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path)) {
		gk_seterr(err, errlen, "%s: path too long", path);
		return GK_E_INVAL;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		gk_seterr(err, errlen, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return GK_E_IO;
	}
	char line[GM_CONTROL_LINE_MAX + 2];
	int n = snprintf(line, sizeof(line), "%s\n", request);
	gk_status st = GK_OK;
	/* MSG_NOSIGNAL: a gmd that closes on a refused caller must not kill us with SIGPIPE */
	if (n < 0 || (size_t)n >= sizeof(line) || send(fd, line, (size_t)n, MSG_NOSIGNAL) != n)
		st = GK_E_IO;
	char buf[4096];
	ssize_t got = 0, total = 0;
	while (!st && (got = read(fd, buf, sizeof(buf))) > 0) {
		fwrite(buf, 1, (size_t)got, out);
		total += got;
	}
	if (st || got < 0 || total == 0) {
		gk_seterr(err, errlen, "%s: no answer (is the caller root or gmd's user?)", path);
		st = GK_E_IO;
	}
	close(fd);
	return st;
}
