/* Group policy files: the YAML format admins edit (documented in policies/README), its
 * validation, and export in the same format.
 *
 * A file holds either one group (a mapping with `id:`, `sas:`, ...) or several under a
 * top-level `groups:` list. Loading validates everything before returning: every problem of
 * the file goes to the diagnostics as "FILE:LINE:COLUMN: field: message", and no group is
 * returned unless there was none. Export writes the `groups:` form with every field spelled
 * out, so that export -> load gives the same policy and export -> load -> export the same text.
 * Exported text contains the members' pre-shared keys in clear. */
#ifndef GK_POLICY_YAML_H
#define GK_POLICY_YAML_H

#include <stddef.h>
#include <stdio.h>
#include "policy.h"
#include "diag.h"

/* Loads a policy file. On GK_OK, *groups is a malloc'd array of *ngroups policies (free with
 * gk_policy_yaml_free). GK_E_INVAL when the file has errors (all in diag), GK_E_IO when it
 * cannot be read, GK_E_NOMEM; then *groups is NULL and *ngroups 0. Warnings (e.g. a psk-file
 * readable by other users) go to diag without failing the load. */
gk_status gk_policy_yaml_load(const char *path, gk_group_policy **groups, size_t *ngroups,
			      gk_diag *diag);
/* The same from memory (tests, fuzzing, stdin). name appears in messages, and relative
 * psk-file / pubkey-file paths are taken relative to name's directory. */
gk_status gk_policy_yaml_load_buf(const char *name, const char *buf, size_t len,
				  gk_group_policy **groups, size_t *ngroups, gk_diag *diag);
void gk_policy_yaml_free(gk_group_policy *groups, size_t ngroups);

/* Writes n groups in the file format. GK_E_IO if writing fails, GK_E_INVAL if a policy holds
 * a value the format cannot express. */
gk_status gk_policy_yaml_export(const gk_group_policy *g, size_t n, FILE *out);

#endif
