#!/usr/bin/env bash
# Builds the Debian packages (dpkg-buildpackage -us -uc -b) from a copy of the tree, installs
# them on this machine (apt-get install ./*.deb), checks what they installed and runs the
# programs, then purges them. Run as root on Debian 12 with tools/deps installed (.ci/run does).
set -euo pipefail
cd "$(dirname "$0")/.."
T=$(mktemp -d "${TMPDIR:-/tmp}/gk-deb.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail() { echo "deb-check: $*" >&2; exit 1; }
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
mkdir "$T/src"
# the source tree without build directories (CI builds in ./build)
tar --exclude=./build --exclude=./.git -cf - . | tar -C "$T/src" -xf -
(cd "$T/src" && dpkg-buildpackage -us -uc -b >"$T/build.log" 2>&1) || { tail -40 "$T/build.log"; fail "dpkg-buildpackage failed"; }
V=$(dpkg-parsechangelog -l debian/changelog -S Version)
A=$(dpkg --print-architecture)
debs=("$T/gikev2-gcks_${V}_$A.deb" "$T/gikev2-member_${V}_$A.deb" "$T/gikev2-common_${V}_all.deb")
for d in "${debs[@]}"; do [ -f "$d" ] || fail "$d was not built"; done
# the split: the server, the member agent, the documents
for i in 0 1 2; do dpkg -c "${debs[$i]}" >"$T/list$i"; done
grep -q ' ./usr/sbin/gcksd$' "$T/list0" || fail "gikev2-gcks lacks gcksd"
grep -q ' ./usr/bin/gcksctl$' "$T/list0" || fail "gikev2-gcks lacks gcksctl"
grep -q ' ./lib/systemd/system/gcksd.service$' "$T/list0" || fail "gikev2-gcks lacks gcksd.service"
grep -q ' ./usr/lib/sysusers.d/gikev2-gcks.conf$' "$T/list0" || fail "gikev2-gcks lacks its sysusers.d entry"
grep -q ' ./usr/sbin/gmd$' "$T/list1" || fail "gikev2-member lacks gmd"
grep -q ' ./lib/systemd/system/gmd@.service$' "$T/list1" || fail "gikev2-member lacks gmd@.service"
! grep -q 'gcksd' "$T/list1" || fail "gikev2-member holds parts of the server"
grep -q 'examples/policies/video-multicast.yaml$' "$T/list2" || fail "gikev2-common lacks the example policies"
grep -q ' ./usr/share/man/man8/gcksd.8.gz$' "$T/list0" || fail "gikev2-gcks lacks gcksd(8)"
grep -q ' ./usr/share/man/man8/gmd.8.gz$' "$T/list1" || fail "gikev2-member lacks gmd(8)"
grep -q ' ./usr/share/man/man5/gmd.conf.5.gz$' "$T/list1" || fail "gikev2-member lacks gmd.conf(5)"
grep -q ' ./usr/lib/tmpfiles.d/gikev2-member.conf$' "$T/list1" || fail "gikev2-member lacks its tmpfiles.d entry"
grep -q 'examples/gmd.conf$' "$T/list2" || fail "gikev2-common lacks the example gmd.conf"
grep -q ' ./usr/share/man/man5/gikev2-policy.5.gz$' "$T/list2" || fail "gikev2-common lacks gikev2-policy(5)"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y -qq "${debs[@]}" >"$T/install.log" 2>&1 || { cat "$T/install.log"; fail "apt-get install failed"; }
trap '$SUDO apt-get purge -y -qq gikev2-gcks gikev2-member gikev2-common >/dev/null 2>&1 || true; rm -rf "$T"' EXIT
for u in gikev2 gikev2-gmd; do getent passwd "$u" >/dev/null || fail "account $u missing after install"; done
[ -d /var/lib/gikev2 ] || fail "/var/lib/gikev2 not created (tmpfiles.d)"
grep -qx 'ExecStart=/usr/sbin/gcksd --foreground --db /var/lib/gikev2/gcks.db --control /run/gikev2/gcksd.sock $GCKSD_OPTS' \
	/lib/systemd/system/gcksd.service || fail "gcksd.service does not use /var/lib/gikev2 and /run/gikev2"
out=$(systemd-analyze verify --man=no /lib/systemd/system/gcksd.service /lib/systemd/system/gmd@.service 2>&1) ||
	fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify: $out"
for p in /usr/sbin/gcksd /usr/bin/gcksctl /usr/sbin/gmd; do
	want="$(basename "$p") (gikev2) $(echo "$V" | sed 's/-.*//')"
	got=$("$p" --version) || fail "$p --version exits $?"
	[ "$got" = "$want" ] || fail "$p --version printed '$got', not '$want'"
done
echo "deb-check: built, installed and ran gikev2-gcks, gikev2-member, gikev2-common $V"
$SUDO apt-get purge -y -qq gikev2-gcks gikev2-member gikev2-common >"$T/purge.log" 2>&1 || { cat "$T/purge.log"; fail "apt-get purge failed"; }
trap 'rm -rf "$T"' EXIT
for f in /usr/sbin/gcksd /usr/bin/gcksctl /usr/sbin/gmd /lib/systemd/system/gcksd.service /etc/gikev2/gcksd.env; do
	[ ! -e "$f" ] || fail "$f is left after apt-get purge"
done
echo "deb-check: purged"
