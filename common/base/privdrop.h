/* Least privilege for the daemons started as root: the dedicated account they run as, files
 * handed to it without following links, and the Linux capabilities they keep (libcap).
 *
 * A shared account (root, nobody, the static system accounts of uid 1-99, a primary group root
 * or nogroup) is refused: every other process of that account could ptrace the daemon or read
 * its keys. */
#ifndef GK_PRIVDROP_H
#define GK_PRIVDROP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include "status.h"

/* Exit status of gcksd and gmd when the account to run as is missing or shared, or privileges
 * could not be dropped for good. */
#define GK_EXIT_PRIVILEGE 5

typedef struct gk_priv_user {
	uid_t uid;
	gid_t gid;                    /* primary group */
	char name[64];
} gk_priv_user;

/* Capabilities a daemon may keep after leaving root. */
enum {
	GK_CAP_NET_ADMIN = 1 << 0,    /* XFRM SAs and policies over netlink */
	GK_CAP_NET_BIND = 1 << 1,     /* bind() of a UDP port below 1024 */
};

/* Why this account is a shared one, or NULL when it may be used. */
const char *gk_priv_shared(uid_t uid, gid_t gid, const char *name);

/* Looks up the account `name`. err names the account and, when it does not exist, how to create
 * it. GK_E_NOT_FOUND (missing) or GK_E_STATE (shared). */
gk_status gk_priv_user_lookup(const char *name, gk_priv_user *out, char *err, size_t errlen);

/* Refuses a directory that a user other than root may write to (or that is not root's): such a
 * user could swap a name in it for a link between our check and root's open or chown. */
gk_status gk_priv_dir_safe(const char *path, char *err, size_t errlen);

#define GK_PRIV_CHOWN_MAX 8

/* Hands the files at paths[] (the first required, the others optional) to uid/gid: each opened
 * with O_NOFOLLOW (O_PATH for a socket) and changed through that descriptor, so a link planted at
 * a path is never followed. Refuses a symbolic link, a file of the wrong type, and a regular
 * file with more than one hard link; all are checked before any is changed. */
gk_status gk_priv_chown(const char *const *paths, size_t n, bool socket, uid_t uid, gid_t gid, char *err,
			size_t errlen);

/* Leaves root for good: no supplementary groups, gid and uid (real, effective, saved) those of
 * `u`, a bounding set without the capabilities not in keep | raisable, keep in the effective
 * and permitted sets, raisable in the permitted set only (see gk_priv_raise), no_new_privs,
 * not dumpable. Then checks that uid 0 cannot be taken back and that the capability sets are
 * exactly these. */
gk_status gk_priv_drop(const gk_priv_user *u, unsigned keep, unsigned raisable, char *err, size_t errlen);

/* Started unprivileged with capabilities (systemd's AmbientCapabilities=CAP_NET_BIND_SERVICE):
 * once the ports are bound, gives up every capability (effective, permitted, inheritable,
 * ambient) and sets no_new_privs. Nothing to do without capabilities. */
gk_status gk_priv_drop_caps(char *err, size_t errlen);

/* Keys must not land in core files, and processes of the same user must not ptrace us. */
gk_status gk_priv_nondumpable(void);

/* Moves a permitted capability into the effective set (on) or out of it. Without it in the
 * permitted set (not started as root) this does nothing: the call it guards then fails on its
 * own with EACCES. */
gk_status gk_priv_raise(unsigned cap, bool on);

#endif
