/* Unit tests of least privilege: which accounts are shared, the directory rule, handing files
 * over without following links (all checked before any is changed), and who may use gcksd's
 * control socket. The privilege drop itself is tested as root by test/integration/privilege.sh. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "testutil.h"
#include "privdrop.h"
#include "gcks/control.h"

START_TEST(shared_accounts)
{
	ck_assert_ptr_nonnull(gk_priv_shared(0, 0, "root"));
	ck_assert_ptr_nonnull(gk_priv_shared(65534, 65534, "nobody"));
	ck_assert_ptr_nonnull(gk_priv_shared(65534, 1000, "renamed"));   /* by uid */
	ck_assert_ptr_nonnull(gk_priv_shared(1234, 1234, "nobody"));     /* by name */
	ck_assert_ptr_nonnull(gk_priv_shared(1, 1, "daemon"));
	ck_assert_ptr_nonnull(gk_priv_shared(33, 33, "www-data"));
	ck_assert_ptr_nonnull(gk_priv_shared(99, 99, "x"));
	ck_assert_ptr_nonnull(gk_priv_shared(1000, 0, "x"));             /* primary group root */
	ck_assert_ptr_nonnull(gk_priv_shared(1000, 65534, "x"));         /* primary group nogroup */
	ck_assert_ptr_null(gk_priv_shared(100, 100, "gikev2"));
	ck_assert_ptr_null(gk_priv_shared(999, 994, "gikev2"));
}
END_TEST

START_TEST(lookup_missing_and_shared)
{
	gk_priv_user u;
	char err[512];
	ck_assert_int_eq(gk_priv_user_lookup("gk-no-such-user-x", &u, err, sizeof(err)), GK_E_NOT_FOUND);
	ck_assert_ptr_nonnull(strstr(err, "user gk-no-such-user-x does not exist: create it with "
				      "`adduser --system --group gk-no-such-user-x`"));
	ck_assert_int_eq(gk_priv_user_lookup("root", &u, err, sizeof(err)), GK_E_STATE);
	ck_assert_ptr_nonnull(strstr(err, "user root (uid 0) is a shared account (it is root)"));
}
END_TEST

static char dir[64];

static void mkdir_tmp(void)
{
	snprintf(dir, sizeof(dir), "/tmp/gk-privdrop.XXXXXX");
	ck_assert_ptr_nonnull(tu_mkdtemp(dir));
}

static void rm_tmp(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static const char *in_dir(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", dir, name);
	return buf;
}

START_TEST(directories_only_root_writes)
{
	char err[512], p[128];
	ck_assert_int_eq(gk_priv_dir_safe("/tmp/gcks.db", err, sizeof(err)), GK_E_STATE); /* 1777 */
	ck_assert_ptr_nonnull(strstr(err, "a user other than root may write to this directory"));
	ck_assert_int_eq(gk_priv_dir_safe("/etc/gcks.db", err, sizeof(err)), GK_OK);
	mkdir_tmp();
	in_dir("gcks.db", p, sizeof(p));
	ck_assert_int_eq(chmod(dir, 0757), 0);
	ck_assert_int_eq(gk_priv_dir_safe(p, err, sizeof(err)), GK_E_STATE);
	ck_assert_int_eq(chmod(dir, 0755), 0);
	ck_assert_int_eq(gk_priv_dir_safe(p, err, sizeof(err)), getuid() == 0 ? GK_OK : GK_E_STATE);
	if (getuid() == 0) {
		ck_assert_int_eq(chmod(dir, 0775), 0);
		ck_assert_int_eq(gk_priv_dir_safe(p, err, sizeof(err)), GK_OK);   /* group root */
		ck_assert_int_eq(chown(dir, 0, 1), 0);
		ck_assert_int_eq(gk_priv_dir_safe(p, err, sizeof(err)), GK_E_STATE);
		ck_assert_int_eq(chmod(dir, 0755), 0);
		ck_assert_int_eq(gk_priv_dir_safe(p, err, sizeof(err)), GK_OK);   /* not group-writable */
		ck_assert_int_eq(chown(dir, 1, 0), 0);
		ck_assert_int_eq(gk_priv_dir_safe(p, err, sizeof(err)), GK_E_STATE); /* not root's */
		ck_assert_int_eq(chown(dir, 0, 0), 0);
	} else {
		tu_skip("check_privdrop directories_only_root_writes (directories of other owners)", "needs root");
	}
	rm_tmp();
}
END_TEST

START_TEST(chown_never_follows_links)
{
	char err[512], f[128], l[128], h[128], s[100], missing[128];
	struct stat sb;
	mkdir_tmp();
	FILE *fp = fopen(in_dir("file", f, sizeof(f)), "w");
	ck_assert_ptr_nonnull(fp);
	fclose(fp);
	ck_assert_int_eq(symlink(f, in_dir("link", l, sizeof(l))), 0);
	in_dir("missing", missing, sizeof(missing));
	const char *one[] = { f }, *with_missing[] = { f, missing }, *missing_first[] = { missing, f };
	ck_assert_int_eq(gk_priv_chown(one, 1, false, getuid(), getgid(), err, sizeof(err)), GK_OK);
	ck_assert_int_eq(gk_priv_chown(with_missing, 2, false, getuid(), getgid(), err, sizeof(err)), GK_OK);
	ck_assert_int_eq(gk_priv_chown(missing_first, 2, false, getuid(), getgid(), err, sizeof(err)), GK_E_IO);

	const char *link1[] = { l };
	ck_assert_int_eq(gk_priv_chown(link1, 1, false, getuid(), getgid(), err, sizeof(err)), GK_E_STATE);
	ck_assert_ptr_nonnull(strstr(err, "is a symbolic link"));
	/* a socket path is opened O_PATH, which opens the link itself: caught by fstat */
	ck_assert_int_eq(gk_priv_chown(link1, 1, true, getuid(), getgid(), err, sizeof(err)), GK_E_STATE);
	ck_assert_ptr_nonnull(strstr(err, "is a symbolic link"));
	ck_assert_int_eq(gk_priv_chown(one, 1, true, getuid(), getgid(), err, sizeof(err)), GK_E_STATE);
	ck_assert_ptr_nonnull(strstr(err, "not a socket"));

	ck_assert_int_eq(link(f, in_dir("hard", h, sizeof(h))), 0);
	ck_assert_int_eq(gk_priv_chown(one, 1, false, getuid(), getgid(), err, sizeof(err)), GK_E_STATE);
	ck_assert_ptr_nonnull(strstr(err, "has 2 hard links"));
	ck_assert_int_eq(unlink(h), 0);

	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", in_dir("sock", s, sizeof(s)));
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	const char *sock[] = { s };
	ck_assert_int_eq(gk_priv_chown(sock, 1, true, getuid(), getgid(), err, sizeof(err)), GK_OK);
	/* where a regular file belongs, a socket cannot even be opened (ENXIO) */
	ck_assert_int_eq(gk_priv_chown(sock, 1, false, getuid(), getgid(), err, sizeof(err)), GK_E_IO);
	close(fd);

	if (getuid() == 0) {
		/* every file is checked before any changes hands: a link second refuses the first too */
		const char *file_then_link[] = { f, l };
		ck_assert_int_eq(gk_priv_chown(file_then_link, 2, false, 1, 1, err, sizeof(err)), GK_E_STATE);
		ck_assert_int_eq(stat(f, &sb), 0);
		ck_assert_uint_eq(sb.st_uid, 0);
		ck_assert_int_eq(gk_priv_chown(one, 1, false, 1, 1, err, sizeof(err)), GK_OK);
		ck_assert_int_eq(stat(f, &sb), 0);
		ck_assert_uint_eq(sb.st_uid, 1);
		ck_assert_uint_eq(sb.st_gid, 1);
	} else {
		tu_skip("check_privdrop chown_never_follows_links (handing files to another account)", "needs root");
	}
	rm_tmp();
}
END_TEST

START_TEST(control_socket_peers)
{
	gk_control_hooks h = { .daemon_uid = 102 };
	gid_t sup[] = { 7, 5 }, other[] = { 7 };
	ck_assert(gk_control_authorized(&h, 0, 0, NULL, 0));
	ck_assert(gk_control_authorized(&h, 102, 999, NULL, 0));
	ck_assert(!gk_control_authorized(&h, 1000, 5, sup, 2));   /* no admin group configured */
	h.has_admin = true;
	h.admin_gid = 5;
	ck_assert(gk_control_authorized(&h, 1000, 5, NULL, 0));   /* primary group */
	ck_assert(gk_control_authorized(&h, 1000, 6, sup, 2));    /* supplementary */
	ck_assert(!gk_control_authorized(&h, 1000, 6, other, 1));
	ck_assert(!gk_control_authorized(&h, 1000, 6, NULL, 0));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("privdrop");
	TCase *tc = tcase_create("privdrop");
	tcase_add_test(tc, shared_accounts);
	tcase_add_test(tc, lookup_missing_and_shared);
	tcase_add_test(tc, directories_only_root_writes);
	tcase_add_test(tc, chown_never_follows_links);
	tcase_add_test(tc, control_socket_peers);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
