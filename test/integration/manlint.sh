#!/usr/bin/env bash
# The man pages (doc/man, mdoc): each passes `mandoc -T lint -W warning` with no message; every
# long option of gcksd, gcksctl and gmd (the getopt tables in their sources and the options
# their --help names) appears in the page's text as --NAME, and every field of a policy file
# (the field tables of gcks/policy_yaml.c and the field lists of policies/README) is an entry
# ".It Cm NAME" of its subsection of gikev2-policy(5); every setting of gmd's table
# (member/gmd_conf.c: each is a long option and a key of the configuration file) has an entry in
# gmd(8) and one ".It Cm NAME" in gmd.conf(5). A new option, field or setting without
# documentation fails here. Needs mandoc (configure finds it: GK_MANDOC) and python3.
# Finds the pages and programs through GK_BUILDDIR, the sources through GK_SRCDIR.
set -euo pipefail

B=${GK_BUILDDIR:-$(pwd)}
S=${GK_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
W=$(mktemp -d "${TMPDIR:-/tmp}/gk-manlint.XXXXXX")
fails=0
trap 'rm -rf "$W"' EXIT
. "$(dirname "$0")/tap.sh"

MANDOC=${GK_MANDOC:-$(command -v mandoc || true)}
[ -n "$MANDOC" ] && [ -x "$MANDOC" ] || skip "mandoc not found (Debian package mandoc; tools/deps installs it)"
command -v python3 >/dev/null || skip "python3 not found"
pages="gcksd.8 gcksctl.8 gmd.8 gikev2-policy.5 gmd.conf.5"
for p in $pages; do
	[ -f "$B/doc/man/$p" ] || { echo "not ok - $B/doc/man/$p is not built"; exit 99; }
done
for p in gcks/gcksd gcks/gcksctl member/gmd; do
	[ -x "$B/$p" ] || { echo "not ok - $B/$p is not built"; exit 99; }
done

# lint: no message at all at warning level or above, and exit 0
lint() {
	local out
	out=$("$MANDOC" -T lint -W warning "$1" 2>&1) || { echo "$out"; return 1; }
	[ -z "$out" ] || { echo "$out"; return 1; }
}
for p in $pages; do
	check "$p: mandoc -T lint -W warning is silent" lint "$B/doc/man/$p"
done
# man(1) renders with groff: no warning there either (a table too wide for 80 columns is one)
groff_clean() {
	local out
	out=$(groff -mandoc -ww -z -Tutf8 "$1" 2>&1) || { echo "$out"; return 1; }
	[ -z "$out" ] || { echo "$out"; return 1; }
}
for p in $pages; do
	if command -v groff >/dev/null; then
		check "$p: groff -mandoc -ww (what man(1) runs) is silent" groff_clean "$B/doc/man/$p"
	else
		echo "ok - $p: groff -mandoc -ww # SKIP groff not installed (Debian package groff-base)"
	fi
done
# the lint itself must catch a warning (else the check above proves nothing)
printf '.Dd December 7, 2026\n.Dt X 8\n.Os\n.Sh NAME\n.Nm x\n.Nd y\n.Sh DESCRIPTION\n.Xr\n' >"$W/bad.8"
if lint "$W/bad.8" >/dev/null 2>&1; then not_ok "the lint reports a broken page"; else ok "the lint reports a broken page"; fi

for p in gcksd.8 gcksctl.8 gmd.8; do
	cp "$B/doc/man/$p" "$W/$p"
done
for p in gcksd gcksctl gmd; do
	d=gcks
	[ $p = gmd ] && d=member
	"$B/$d/$p" --help >"$W/$p.help"
done

python3 - "$S" "$W" <<'PY' || fails=$((fails + 1))
import re, sys
src, w = sys.argv[1], sys.argv[2]
bad = 0
def result(ok, desc, detail=""):
    global bad
    print(("ok - " if ok else "not ok - ") + desc)
    if not ok:
        bad += 1
        if detail:
            print("#   " + detail)

def getopt_names(path):
    text = open(path).read()
    names = set(re.findall(r'\{\s*"([a-z][a-z0-9-]*)"\s*,\s*(?:no|required|optional)_argument', text))
    if path.endswith("member/gmd.c"):
        names |= gmd_settings()
    return names

# gmd's options of its settings table: getopt's table is made from it
def gmd_settings():
    text = open(f"{src}/member/gmd_conf.c").read()
    return set(re.findall(r'\[GMD_[A-Z_]+\] = \{ "([a-z][a-z0-9-]*)", GMD_(?:FLAG|VALUE|LIST)', text))

# an entry of its own: ".It Fl \-NAME" in the page, not only a mention in the synopsis
def has_option(text, name):
    return re.search(r'^\.It Fl \\-' + re.escape(name) + r'(?![A-Za-z0-9-])', text, re.M) is not None

for prog, source in (("gcksd", "gcks/gcksd.c"), ("gcksctl", "gcks/gcksctl.c"), ("gmd", "member/gmd.c")):
    opts = getopt_names(f"{src}/{source}")
    result(len(opts) >= 3, f"{prog}: options found in the getopt tables of {source} ({len(opts)})")
    page = open(f"{w}/{prog}.8").read()
    missing = sorted(o for o in opts if not has_option(page, o))
    result(not missing, f"{prog}: every option of its getopt tables has an entry in {prog}(8)", "missing: " + " ".join(missing))
    help_text = open(f"{w}/{prog}.help").read()
    named = set(re.findall(r'--([a-z][a-z0-9-]*)', help_text))
    missing = sorted(o for o in opts if o not in named)
    result(not missing, f"{prog}: every option of its getopt tables is in --help", "missing: " + " ".join(missing))
    unknown = sorted(named - opts)
    result(not unknown, f"{prog}: --help names only options it has", "unknown: " + " ".join(unknown))

# gmd's settings: each one a ".It Cm NAME" of gmd.conf(5), and nothing else there
settings = gmd_settings()
result(len(settings) >= 20, f"gmd: settings found in member/gmd_conf.c ({len(settings)})")
conf = open(f"{src}/doc/man/gmd.conf.5.in").read()
entries = set(re.findall(r'^\.It Cm ([a-z][a-z0-9-]*)\s*$', conf, re.M))
missing = sorted(settings - entries)
result(not missing, "gmd: every setting of member/gmd_conf.c is in gmd.conf(5)", "missing: " + " ".join(missing))
extra = sorted(entries - settings)
result(not extra, "gmd: gmd.conf(5) names only settings gmd has", "unknown: " + " ".join(extra))

# policy fields: the loader's tables and policies/README, each against its subsection
pol = open(f"{src}/doc/man/gikev2-policy.5.in").read()
sections = {}
cur = None
for line in pol.splitlines():
    m = re.match(r'^\.S[sh] (.*)$', line)
    if m:
        cur = m.group(1).strip()
        continue
    m = re.match(r'^\.It Cm ([a-z][a-z0-9-]*)\s*$', line)
    if m and cur:
        sections.setdefault(cur, set()).add(m.group(1))
loader = open(f"{src}/gcks/policy_yaml.c").read()
readme = open(f"{src}/policies/README").read()
for table, sub, head in (("group_fields", "Group fields", "GROUP FIELDS"), ("rekey_fields", "Rekey fields", "REKEY FIELDS"),
                         ("sa_fields", "SA fields", "SA FIELDS"), ("member_fields", "Member fields", "MEMBER FIELDS")):
    m = re.search(r'static const field ' + table + r'\[[A-Z_]*\] = \{(.*?)\n\};', loader, re.S)
    keys = set(re.findall(r'\.key = "([a-z][a-z0-9-]*)"', m.group(1))) if m else set()
    result(len(keys) >= 3, f"policy: {table} read from gcks/policy_yaml.c ({len(keys)} fields)")
    m = re.search(r'^' + head + r'[^\n]*\n-+\n(.*?)(?=\n[A-Z]{2})', readme, re.S | re.M)
    listed = set(re.findall(r'^  ([a-z][a-z0-9-]*) ', m.group(1), re.M)) if m else set()
    result(len(listed) >= 3, f"policy: {head} read from policies/README ({len(listed)} fields)")
    documented = sections.get(sub, set())
    missing = sorted((keys | listed) - documented)
    result(not missing, f"policy: every {sub.lower()[:-7]} field is in gikev2-policy(5) {sub}", "missing: " + " ".join(missing))
    extra = sorted(documented - keys)
    result(not extra, f"policy: gikev2-policy(5) {sub} names only fields the loader has", "unknown: " + " ".join(extra))
result("groups" in re.findall(r'Cm (groups)', pol), "policy: the top-level key groups is in gikev2-policy(5)")
sys.exit(1 if bad else 0)
PY
exit $(( fails ? 1 : 0 ))
