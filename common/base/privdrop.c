#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include "privdrop.h"
#include "status.h"

#define NOBODY_ID 65534         /* nobody / nogroup on Debian (and the kernel's overflow id) */
#define STATIC_SYSTEM_MAX 99    /* Debian base-passwd: uids 0-99 are fixed accounts (daemon, bin, www-data...) */

const char *gk_priv_shared(uid_t uid, gid_t gid, const char *name)
{
	if (uid == 0)
		return "it is root";
	if (uid == NOBODY_ID || (name && !strcmp(name, "nobody")))
		return "nobody is shared by every daemon that drops to it";
	if (uid <= STATIC_SYSTEM_MAX)
		return "uids 1-99 are the distribution's fixed system accounts, shared by packages";
	if (gid == 0)
		return "its primary group is root";
	if (gid == NOBODY_ID)
		return "its primary group is nogroup, shared by every daemon that drops to it";
	return NULL;
}

gk_status gk_priv_user_lookup(const char *name, gk_priv_user *out, char *err, size_t errlen)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	memset(out, 0, sizeof(*out));
	int e = getpwnam_r(name, &pw, buf, sizeof(buf), &res);
	if (e || !res) {
		gk_seterr(err, errlen, "user %s does not exist%s%s: create it with `adduser --system --group %s` "
		       "(or name another dedicated account with --user)", name, e ? ": " : "",
		       e ? strerror(e) : "", name);
		return GK_E_NOT_FOUND;
	}
	const char *why = gk_priv_shared(pw.pw_uid, pw.pw_gid, pw.pw_name);
	if (why) {
		gk_seterr(err, errlen, "user %s (uid %u) is a shared account (%s): use a dedicated one, e.g. "
		       "`adduser --system --group gikev2`", name, (unsigned)pw.pw_uid, why);
		return GK_E_STATE;
	}
	if (strlen(pw.pw_name) >= sizeof(out->name)) {
		gk_seterr(err, errlen, "user name %s is too long", name);
		return GK_E_INVAL;
	}
	out->uid = pw.pw_uid;
	out->gid = pw.pw_gid;
	snprintf(out->name, sizeof(out->name), "%s", pw.pw_name);
	return GK_OK;
}

gk_status gk_priv_dir_safe(const char *path, char *err, size_t errlen)
{
	char copy[4096];
	struct stat sb;
	if (strlen(path) >= sizeof(copy)) {
		gk_seterr(err, errlen, "%s: path too long", path);
		return GK_E_INVAL;
	}
	snprintf(copy, sizeof(copy), "%s", path);
	const char *dir = dirname(copy);
	if (stat(dir, &sb)) {
		gk_seterr(err, errlen, "%s: %s", dir, strerror(errno));
		return GK_E_IO;
	}
	if (sb.st_uid != 0 || (sb.st_mode & S_IWOTH) || ((sb.st_mode & S_IWGRP) && sb.st_gid != 0)) {
		gk_seterr(err, errlen, "%s (owner uid %u, mode %04o): a user other than root may write to this "
		       "directory and swap %s for a link to a file root would then hand over; use a directory "
		       "only root can write to (e.g. " GK_STATEDIR ", root:root 0755)", dir, (unsigned)sb.st_uid,
		       (unsigned)(sb.st_mode & 07777), path);
		return GK_E_STATE;
	}
	return GK_OK;
}

/* Opens `path` without following a link and checks what it is. *fd = -1 for a missing optional
 * file. */
static gk_status open_checked(const char *path, bool socket, bool optional, uid_t uid, int *fd, char *err,
			      size_t errlen)
{
	int flags = O_NOFOLLOW | O_CLOEXEC | (socket ? O_PATH : O_RDONLY | O_NONBLOCK | O_NOCTTY);
	struct stat sb;
	*fd = open(path, flags);
	if (*fd < 0) {
		if (errno == ENOENT && optional)
			return GK_OK;
		if (errno == ELOOP)
			gk_seterr(err, errlen, "%s is a symbolic link: not handing it (or what it points to) to uid %u; "
			       "remove it", path, (unsigned)uid);
		else
			gk_seterr(err, errlen, "%s: %s", path, strerror(errno));
		return errno == ELOOP ? GK_E_STATE : GK_E_IO;
	}
	/* O_PATH with O_NOFOLLOW opens a link itself rather than failing */
	if (fstat(*fd, &sb) || S_ISLNK(sb.st_mode)) {
		gk_seterr(err, errlen, "%s is a symbolic link: not handing it (or what it points to) to uid %u; "
		       "remove it", path, (unsigned)uid);
	} else if (socket ? !S_ISSOCK(sb.st_mode) : !S_ISREG(sb.st_mode)) {
		gk_seterr(err, errlen, "%s: not a %s", path, socket ? "socket" : "regular file");
	} else if (!socket && sb.st_nlink != 1) {
		/* a hard link to another file (e.g. /etc/shadow) would hand that file over too */
		gk_seterr(err, errlen, "%s has %lu hard links: not handing it to uid %u", path,
		       (unsigned long)sb.st_nlink, (unsigned)uid);
	} else {
		return GK_OK;
	}
	close(*fd);
	*fd = -1;
	return GK_E_STATE;
}

gk_status gk_priv_chown(const char *const *paths, size_t n, bool socket, uid_t uid, gid_t gid, char *err,
			size_t errlen)
{
	int fds[GK_PRIV_CHOWN_MAX];
	gk_status st = GK_OK;
	size_t opened = 0;
	if (n > GK_PRIV_CHOWN_MAX)
		return GK_E_INVAL;
	/* every file checked before any is handed over: a refusal changes nothing */
	for (; opened < n && !st; opened++)
		st = open_checked(paths[opened], socket, opened > 0, uid, &fds[opened], err, errlen);
	for (size_t i = 0; i < opened && !st; i++) {
		if (fds[i] >= 0 && fchownat(fds[i], "", uid, gid, AT_EMPTY_PATH)) {
			gk_seterr(err, errlen, "%s: cannot hand it to uid %u: %s", paths[i], (unsigned)uid, strerror(errno));
			st = GK_E_IO;
		}
	}
	for (size_t i = 0; i < opened; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return st;
}

static size_t cap_list(unsigned set, cap_value_t *out)
{
	size_t n = 0;
	if (set & GK_CAP_NET_ADMIN)
		out[n++] = CAP_NET_ADMIN;
	if (set & GK_CAP_NET_BIND)
		out[n++] = CAP_NET_BIND_SERVICE;
	return n;
}

/* The capability state we want: keep effective and permitted, raisable permitted only. */
static cap_t wanted_caps(unsigned keep, unsigned raisable)
{
	cap_value_t k[2], r[2];
	size_t nk = cap_list(keep, k), nr = cap_list(raisable | keep, r);
	cap_t c = cap_init();
	if (!c)
		return NULL;
	if ((nr && cap_set_flag(c, CAP_PERMITTED, (int)nr, r, CAP_SET)) ||
	    (nk && cap_set_flag(c, CAP_EFFECTIVE, (int)nk, k, CAP_SET))) {
		cap_free(c);
		return NULL;
	}
	return c;
}

/* Everything outside keep | raisable leaves the bounding set (needs CAP_SETPCAP: still root). */
static int drop_bounding(unsigned keep_or_raisable)
{
	cap_value_t k[2];
	size_t nk = cap_list(keep_or_raisable, k);
	for (cap_value_t c = 0; c <= CAP_LAST_CAP; c++) {
		bool kept = false;
		for (size_t i = 0; i < nk; i++)
			kept = kept || k[i] == c;
		if (kept || !CAP_IS_SUPPORTED(c))
			continue;
		if (cap_drop_bound(c) && errno != EINVAL)
			return -1;
	}
	return 0;
}

/* After the drop: uid 0 is out of reach and the sets are exactly what we asked. */
static gk_status verify(const gk_priv_user *u, cap_t want, char *err, size_t errlen)
{
	uid_t r, e, s;
	gid_t rg, eg, sg;
	if (setuid(0) == 0 || seteuid(0) == 0 || setgid(0) == 0) {
		gk_seterr(err, errlen, "uid or gid 0 could be taken back after dropping to %s", u->name);
		return GK_E_STATE;
	}
	if (getresuid(&r, &e, &s) || getresgid(&rg, &eg, &sg) || r != u->uid || e != u->uid || s != u->uid ||
	    rg != u->gid || eg != u->gid || sg != u->gid || getgroups(0, NULL) != 0) {
		gk_seterr(err, errlen, "ids after dropping to %s are not %u/%u everywhere", u->name,
		       (unsigned)u->uid, (unsigned)u->gid);
		return GK_E_STATE;
	}
	cap_t now = cap_get_proc();
	int diff = now ? cap_compare(now, want) : -1;
	if (now)
		cap_free(now);
	if (diff) {
		gk_seterr(err, errlen, "capabilities after dropping to %s are not the ones asked for", u->name);
		return GK_E_STATE;
	}
	return GK_OK;
}

gk_status gk_priv_drop(const gk_priv_user *u, unsigned keep, unsigned raisable, char *err, size_t errlen)
{
	gk_status st = GK_E_STATE;
	cap_t want = wanted_caps(keep, raisable);
	if (!want) {
		gk_seterr(err, errlen, "capabilities: %s", strerror(errno));
		return GK_E_NOMEM;
	}
	const char *step = "PR_SET_KEEPCAPS";
	if (prctl(PR_SET_KEEPCAPS, keep | raisable ? 1 : 0, 0, 0, 0))
		goto fail;
	step = "bounding set";
	if (drop_bounding(keep | raisable))
		goto fail;
	step = "setgroups";
	if (setgroups(0, NULL))
		goto fail;
	step = "setresgid";
	if (setresgid(u->gid, u->gid, u->gid))
		goto fail;
	step = "setresuid";
	if (setresuid(u->uid, u->uid, u->uid))
		goto fail;
	step = "PR_SET_KEEPCAPS";
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0))
		goto fail;
	/* KEEPCAPS kept the permitted set whole and emptied the effective one: trim and raise */
	step = "capabilities";
	if (cap_set_proc(want))
		goto fail;
	step = "ambient capabilities";
	if (CAP_AMBIENT_SUPPORTED() && cap_reset_ambient())
		goto fail;
	step = "PR_SET_NO_NEW_PRIVS";
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		goto fail;
	/* a uid change resets dumpable to fs.suid_dumpable: set it again */
	step = "PR_SET_DUMPABLE";
	if (gk_priv_nondumpable())
		goto fail;
	st = verify(u, want, err, errlen);
	cap_free(want);
	return st;
fail:
	gk_seterr(err, errlen, "cannot drop privileges to %s (%s): %s", u->name, step, strerror(errno));
	cap_free(want);
	return st;
}

gk_status gk_priv_drop_caps(char *err, size_t errlen)
{
	cap_t none = cap_init(), now = NULL;
	gk_status st = GK_E_STATE;
	const char *step = "capabilities";
	if (!none) {
		gk_seterr(err, errlen, "capabilities: %s", strerror(errno));
		return GK_E_NOMEM;
	}
	if (cap_set_proc(none))
		goto fail;
	step = "ambient capabilities";
	if (CAP_AMBIENT_SUPPORTED() && cap_reset_ambient())
		goto fail;
	step = "PR_SET_NO_NEW_PRIVS";
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		goto fail;
	now = cap_get_proc();
	if (!now || cap_compare(now, none)) {
		gk_seterr(err, errlen, "capabilities remain after dropping them");
		goto out;
	}
	st = GK_OK;
	goto out;
fail:
	gk_seterr(err, errlen, "cannot drop capabilities (%s): %s", step, strerror(errno));
out:
	if (now)
		cap_free(now);
	cap_free(none);
	return st;
}

gk_status gk_priv_nondumpable(void)
{
	return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) ? GK_E_IO : GK_OK;
}

gk_status gk_priv_raise(unsigned cap, bool on)
{
	cap_value_t v[2];
	cap_flag_value_t have = CAP_CLEAR;
	if (cap_list(cap, v) != 1)
		return GK_E_INVAL;
	cap_t c = cap_get_proc();
	if (!c)
		return GK_E_NOMEM;
	gk_status st = GK_OK;
	if (!cap_get_flag(c, v[0], CAP_PERMITTED, &have) && have == CAP_SET &&
	    (cap_set_flag(c, CAP_EFFECTIVE, 1, v, on ? CAP_SET : CAP_CLEAR) || cap_set_proc(c)))
		st = GK_E_IO;
	cap_free(c);
	return st;
}
