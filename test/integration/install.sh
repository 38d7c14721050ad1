#!/usr/bin/env bash
# Integration test of the installed programs: `make install DESTDIR=...` of this build, then the
# installed gcksctl, gcksd and gmd run from there as the service accounts (configure's
# --with-gcks-user and --with-gmd-user, created by tools/deps or the sysusers.d entry):
#   - the files land in configure's directories with their modes (programs 0755, units and
#     entries 0644, the gmd instance directory 0750), the units name configure's paths and
#     accounts, `systemd-analyze verify` accepts both units;
#   - gcksctl init as the service account makes a 0600 database; gcksd started as that account
#     with only the ambient CAP_NET_BIND_SERVICE systemd gives it binds UDP 848, says READY=1
#     (sd_notify, when built with libsystemd) and then holds no capability at all;
#   - a second gcksd on the same database, or on the same control socket, exits 6 with the lock
#     file and the holder's pid, and the first one's control socket still answers;
#   - the installed gmd registers (dropping to its account); SIGTERM: STOPPING=1, exit 0, and
#     the locks go with the process (gcksd starts again);
#   - make uninstall leaves no file behind.
# The paths compiled in point to the real prefix, so gcksd and gcksctl get --db and --control.
# Needs root, ip (a network namespace: port 848 of its own), setpriv, python3, systemd-analyze.
set -euo pipefail

B=${GK_BUILDDIR:-$(pwd)}
. "$(dirname "$0")/tap.sh"
[ "$(id -u)" = 0 ] || skip "needs root (service accounts, a network namespace)"
for t in ip setpriv python3 systemd-analyze timeout make groupadd groupdel; do
	command -v "$t" >/dev/null || skip "$t is needed"
done
# make of this build, outside the make check that runs this script
mk() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s --no-print-directory -C "$B" "$@"; }
eval "$(mk gk-print-dirs | tr ' ' '\n')"
for u in "$gcks_user" "$gmd_user"; do
	getent passwd "$u" >/dev/null || skip "the service account $u is missing (tools/deps creates it)"
done
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

W=$(mktemp -d "${TMPDIR:-/tmp}/gk-install.XXXXXX")
chmod 755 "$W" # the service accounts reach their files through it
[ -n "${GK_DEBUG:-}" ] && set -x
D=$W/root NS=gk-inst-$$
pids=() groups=()
fails=0
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	ip netns del "$NS" 2>/dev/null || true
	for p in "${groups[@]}"; do groupdel "$p" 2>/dev/null || true; done
	if [ "$fails" -ne 0 ]; then
		for f in "$W"/*.log; do
			[ -f "$f" ] || continue
			echo "# ---- $(basename "$f") (last 20 lines)"
			tail -n 20 "$f" | sed 's/^/# /'
		done
	fi
	rm -rf "$W"
}
trap cleanup EXIT

# 1. make install into a DESTDIR
check "make install DESTDIR=... exits 0" mk install DESTDIR="$D"
GCKSD=$D$sbindir/gcksd GCKSCTL=$D$bindir/gcksctl GMD=$D$sbindir/gmd
mode() { stat -c %a "$1"; }
check "gcksd, gmd in sbindir and gcksctl in bindir, mode 0755" \
	test "$(mode "$GCKSD") $(mode "$GMD") $(mode "$GCKSCTL")" = "755 755 755"
check "units, sysusers.d and tmpfiles.d entries installed 0644" test "$(mode "$D$unitdir/gcksd.service") \
$(mode "$D$unitdir/gmd@.service") $(mode "$D$sysusersdir/gikev2.conf") $(mode "$D$sysusersdir/gikev2-gmd.conf") \
$(mode "$D$tmpfilesdir/gikev2.conf") $(mode "$D$tmpfilesdir/gikev2-gmd.conf")" = "644 644 644 644 644 644"
check "docs: README.md, CONTROL.md, the example policies and their keys" test -f "$D$docdir/README.md" -a \
	-f "$D$docdir/CONTROL.md" -a -f "$D$docdir/examples/policies/video-multicast.yaml" -a \
	-f "$D$docdir/examples/policies/keys/node-a.psk" -a -f "$D$docdir/examples/gmd.conf"
check "docs: gmd's event reference and the Wireshark dissector" \
	test -f "$D$docdir/gmd-events.md" -a -f "$D$docdir/contrib/wireshark/gikev2.lua"
check "man pages: gcksd(8), gcksctl(8), gmd(8), gikev2-policy(5), gmd.conf(5)" test -f "$D$mandir/man8/gcksd.8" -a \
	-f "$D$mandir/man8/gcksctl.8" -a -f "$D$mandir/man8/gmd.8" -a -f "$D$mandir/man5/gikev2-policy.5" -a \
	-f "$D$mandir/man5/gmd.conf.5"
check "gmd@.service's instance directory $gk_sysconfdir/gmd is 0750, gcksd.env installed" \
	test "$(mode "$D$gk_sysconfdir/gmd")" = 750 -a -f "$D$gk_sysconfdir/gcksd.env"
check "gcksd.service runs $sbindir/gcksd on configure's state and runtime directories as $gcks_user" \
	grep -qx "ExecStart=$sbindir/gcksd --foreground --db $gk_statedir/gcks.db --control $gk_runstatedir/gcksd.sock \$GCKSD_OPTS" \
	"$D$unitdir/gcksd.service"
check "gcksd.service: Type=notify, User=$gcks_user, only CAP_NET_BIND_SERVICE" python3 - "$D$unitdir/gcksd.service" "$gcks_user" <<'EOF'
import sys
lines = set(open(sys.argv[1]).read().splitlines())
for want in ('Type=notify', 'User=' + sys.argv[2], 'AmbientCapabilities=CAP_NET_BIND_SERVICE',
             'CapabilityBoundingSet=CAP_NET_BIND_SERVICE', 'NoNewPrivileges=yes', 'ProtectSystem=strict'):
    assert want in lines, want
EOF
check "gmd@.service runs gmd with $gk_sysconfdir/gmd/%i.conf, GMD_OPTS over it" grep -qx \
	"ExecStart=$sbindir/gmd --config $gk_sysconfdir/gmd/%i.conf \$GMD_OPTS" "$D$unitdir/gmd@.service"
check "gmd@.service: reload checks the file, then SIGHUP" test "$(grep '^ExecReload=' "$D$unitdir/gmd@.service")" = \
	"ExecReload=$sbindir/gmd --config $gk_sysconfdir/gmd/%i.conf --check-config \$GMD_OPTS
ExecReload=/bin/kill -HUP \$MAINPID"
check "sysusers.d: gikev2.conf makes $gcks_user" grep -q "^u $gcks_user " "$D$sysusersdir/gikev2.conf"
check "sysusers.d: gikev2-gmd.conf makes $gmd_user" grep -q "^u $gmd_user " "$D$sysusersdir/gikev2-gmd.conf"
check "tmpfiles.d: gikev2-gmd.conf gives $gk_sysconfdir/gmd to root and group $gmd_user, 0750 (reload as $gmd_user)" \
	grep -qx "z $gk_sysconfdir/gmd 0750 root $gmd_user -" "$D$tmpfilesdir/gikev2-gmd.conf"
check "tmpfiles.d: $gk_statedir 0700 and $gk_runstatedir 0755, both $gcks_user's" test \
	"$(grep -c -e "^d $gk_statedir 0700 $gcks_user $gcks_user" -e "^d $gk_runstatedir 0755 $gcks_user $gcks_user" \
	"$D$tmpfilesdir/gikev2.conf")" = 2

# 2. systemd-analyze verify: the units as installed, with ExecStart pointing into the DESTDIR
# (verify wants the program to exist); silence is success (it warns on unknown settings).
mkdir "$W/units"
sed "s|^ExecStart=$sbindir|ExecStart=$D$sbindir|" "$D$unitdir/gcksd.service" >"$W/units/gcksd.service"
sed -E "s#^(Exec[A-Za-z]+=)$sbindir#\\1$D$sbindir#" "$D$unitdir/gmd@.service" >"$W/units/gmd@test.service"
verify_quiet() { systemd-analyze verify --man=no "$@" >"$W/verify.log" 2>&1 && ! [ -s "$W/verify.log" ] ||
	{ cat "$W/verify.log"; return 1; }; }
check "systemd-analyze verify gcksd.service gmd@.service: no complaint" \
	verify_quiet "$W/units/gcksd.service" "$W/units/gmd@test.service"
printf 'ProtectSystem=stricter\n' >>"$W/units/gcksd.service"
check "systemd-analyze verify reports a wrong setting (the check above can fail)" \
	bash -c "systemd-analyze verify --man=no '$W/units/gcksd.service' 2>&1 | grep -q 'ProtectSystem'"

# 3. the database, made by the installed gcksctl as gcksd's account
S=$W/state R=$W/run
mkdir -m 0700 "$S" && mkdir -m 0755 "$R" && chown "$gcks_user:$gcks_user" "$S" "$R"
cp -r "$D$docdir/examples/policies" "$W/policies"
chmod 600 "$W"/policies/keys/*
chown -R "$gcks_user:$gcks_user" "$W/policies"
as_gcks() { setpriv --reuid="$gcks_user" --regid="$gcks_user" --init-groups "$@"; }
check "installed gcksctl init as $gcks_user" as_gcks "$GCKSCTL" --db "$S/gcks.db" init --id fqdn:gcks.example
check "installed gcksctl policy load (the installed small-inband example)" \
	as_gcks "$GCKSCTL" --db "$S/gcks.db" policy load "$W/policies/small-inband.yaml"
check "database 0600, $gcks_user's; its directory 0700" \
	test "$(stat -c '%a %U' "$S/gcks.db") $(mode "$S")" = "600 $gcks_user 700"

# 4. gcksd as systemd starts it: the account, ambient CAP_NET_BIND_SERVICE, NOTIFY_SOCKET
ip netns add "$NS"
ip -n "$NS" link set lo up
python3 - "$W/notify" "$W/notify.log" <<'EOF' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
import os
os.chmod(sys.argv[1], 0o666)
with open(sys.argv[2], 'a', buffering=1) as f:
    while True:
        f.write(s.recv(4096).decode() + '\n--\n')
EOF
pids+=($!)
for _ in $(seq 50); do [ -S "$W/notify" ] && break; sleep 0.1; done
# start_gcksd LOG ARGS...: gcksd in the namespace as $gcks_user, pid in $gpid
start_gcksd() {
	local log=$1
	shift
	NOTIFY_SOCKET=$W/notify ip netns exec "$NS" setpriv --reuid="$gcks_user" --regid="$gcks_user" --init-groups \
		--inh-caps +net_bind_service --ambient-caps +net_bind_service \
		"$GCKSD" --foreground --log-level debug "$@" >"$W/$log" 2>&1 &
	gpid=$!
	pids+=("$gpid")
}
# ready N: the Nth READY=1 arrived
ready() { for _ in $(seq 100); do [ "$(grep -c '^READY=1' "$W/notify.log" 2>/dev/null)" -ge "$1" ] && return 0; sleep 0.1; done; return 1; }
start_gcksd gcksd.log --db "$S/gcks.db" --control "$R/gcksd.sock" --listen 127.0.0.1:848
G1=$gpid
if grep -q '^#define HAVE_LIBSYSTEMD 1' "$B/config.h"; then
	check "gcksd says READY=1 with a STATUS line (sd_notify)" ready 1
	check "the READY message carries STATUS=ready" grep -q '^STATUS=ready: 1 UDP sockets, control socket' "$W/notify.log"
else
	for _ in $(seq 100); do [ -S "$R/gcksd.sock" ] && break; sleep 0.1; done
	echo "ok - gcksd says READY=1 # SKIP built without libsystemd"
fi
check "gcksd bound UDP 127.0.0.1:848 as $gcks_user" grep -q 'listening on 127.0.0.1:848' "$W/gcksd.log"
caps() { awk '/^(Uid|CapInh|CapPrm|CapEff|CapAmb|NoNewPrivs):/ { printf "%s %s ", $1, $2 }' "/proc/$G1/status"; }
check "then holds no capability (inheritable, permitted, effective, ambient), no_new_privs" \
	test "$(caps)" = "Uid: $(id -u "$gcks_user") CapInh: 0000000000000000 CapPrm: 0000000000000000 CapEff: 0000000000000000 CapAmb: 0000000000000000 NoNewPrivs: 1 "
check "installed gcksctl status over the control socket" "$GCKSCTL" --control "$R/gcksd.sock" status

# 5. one gcksd per database and per control socket
rc=0
ip netns exec "$NS" setpriv --reuid="$gcks_user" --regid="$gcks_user" --init-groups "$GCKSD" --foreground \
	--db "$S/gcks.db" --control "$R/other.sock" --listen 127.0.0.1:10848 >"$W/second.log" 2>&1 || rc=$?
check "a second gcksd on the same database exits 6" test "$rc" = 6
check "... saying which lock file and which gcksd holds it" grep -q \
	"gcksd error \[daemon\]: $S/gcks.db.lock is held by another gcksd (pid $G1): one gcksd per database and control socket" \
	"$W/second.log"
check "... and never touched the first one's control socket: status still answers" \
	"$GCKSCTL" --control "$R/gcksd.sock" status
as_gcks "$GCKSCTL" --db "$S/other.db" init --id fqdn:gcks.example >/dev/null 2>&1
rc=0
ip netns exec "$NS" setpriv --reuid="$gcks_user" --regid="$gcks_user" --init-groups "$GCKSD" --foreground \
	--db "$S/other.db" --control "$R/gcksd.sock" --listen 127.0.0.1:10848 >"$W/third.log" 2>&1 || rc=$?
check "a second gcksd on the same control socket (another database) exits 6" test "$rc" = 6
check "... naming $R/gcksd.sock.lock and the holder" grep -q \
	"gcksd error \[daemon\]: $R/gcksd.sock.lock is held by another gcksd (pid $G1)" "$W/third.log"
check "... and the socket still answers" "$GCKSCTL" --control "$R/gcksd.sock" status
mkdir -m 0755 "$W/rootonly"
rc=0
ip netns exec "$NS" setpriv --reuid="$gcks_user" --regid="$gcks_user" --init-groups "$GCKSD" --foreground \
	--db "$S/other.db" --control "$W/rootonly/gcksd.sock" --listen 127.0.0.1:10848 >"$W/nolock.log" 2>&1 || rc=$?
check "a lock file gcksd cannot create (a directory it may not write to): exit 1, not 6" test "$rc" = 1
check "... saying why" grep -q \
	"gcksd error \[daemon\]: $W/rootonly/gcksd.sock.lock: cannot open the lock file: Permission denied" "$W/nolock.log"
check "lock files are 0600, $gcks_user's, next to the database and the socket" \
	test "$(stat -c '%a %U' "$S/gcks.db.lock" "$R/gcksd.sock.lock" | tr '\n' ' ')" = "600 $gcks_user 600 $gcks_user "

# 5b. started unprivileged, gcksd gives the control socket to the admin group its account is in
# (systemd: SupplementaryGroups=); a group it is not in is refused (exit 5)
GA=gkadm$$
groupadd "$GA" && groups+=("$GA")
rc=0
ip netns exec "$NS" setpriv --reuid="$gcks_user" --regid="$gcks_user" --groups "$(getent group "$GA" | cut -d: -f3)" \
	"$GCKSD" --foreground --db "$S/other.db" --control "$R/admin.sock" --listen 127.0.0.1:10848 \
	--admin-group "$GA" >"$W/admin.log" 2>&1 &
pids+=($!)
GPA=$!
for _ in $(seq 100); do grep -q 'gcksd ready' "$W/admin.log" && break; sleep 0.1; done
check "unprivileged gcksd --admin-group $GA (a group of its account): the control socket is $gcks_user:$GA 0660" \
	test "$(stat -c '%U:%G %a' "$R/admin.sock")" = "$gcks_user:$GA 660"
kill -TERM "$GPA"
wait "$GPA" 2>/dev/null || true
rc=0
ip netns exec "$NS" setpriv --reuid="$gcks_user" --regid="$gcks_user" --init-groups \
	"$GCKSD" --foreground --db "$S/other.db" --control "$R/admin.sock" --listen 127.0.0.1:10848 \
	--admin-group "$GA" >"$W/admin2.log" 2>&1 || rc=$?
check "unprivileged gcksd --admin-group of a group its account is not in: exit 5" test "$rc" = 5
check "... saying so" grep -q "control socket: .*(is $gcks_user in the admin group?)" "$W/admin2.log"

# 6. the installed gmd registers, dropping to its account
rc=0
timeout 30 ip netns exec "$NS" "$GMD" --gcks 127.0.0.1:848 --id keyid:node-a --group keyid:control-room \
	--psk-file "$W/policies/keys/node-a.psk" --once --json >"$W/gmd.json" 2>"$W/gmd.log" || rc=$?
check "installed gmd --once registers (exit 0)" test "$rc" = 0
check "... running as $gmd_user" grep -q "running as $gmd_user" "$W/gmd.log"
# the installed example as an instance file, as gmd@.service runs it (the account is the default)
mkdir -m 0750 "$W/gmdconf"
sed -e 's|^  - gcks.example.net$|  - 127.0.0.1:848|' -e '/^  - gcks-2.example.net:848$/d' \
	-e 's|^id: .*|id: keyid:node-a|' -e 's|^  - keyid:video-1$|  - keyid:control-room|' \
	-e 's|^psk-file: .*|psk-file: node-a.psk|' "$D$docdir/examples/gmd.conf" >"$W/gmdconf/node-a.conf"
cp "$W/policies/keys/node-a.psk" "$W/gmdconf/" && chmod 600 "$W/gmdconf/node-a.psk"
check "installed gmd --check-config on the edited example: 'FILE: ok', exit 0" \
	test "$("$GMD" --config "$W/gmdconf/node-a.conf" --check-config)" = "$W/gmdconf/node-a.conf: ok"
rc=0
timeout 30 ip netns exec "$NS" "$GMD" --config "$W/gmdconf/node-a.conf" --once --json >"$W/gmd-conf.json" \
	2>"$W/gmd-conf.log" || rc=$?
check "installed gmd --config (the example) --once registers as $gmd_user (exit 0)" \
	bash -c '[ "$1" = 0 ] && grep -q "running as $2" "$3" && grep -Eq "\"status\": ?\"registered\"" "$4"' \
	_ "$rc" "$gmd_user" "$W/gmd-conf.log" "$W/gmd-conf.json"

# 7. SIGTERM: STOPPING=1, exit 0, the locks go with the process
kill -TERM "$G1"
rc=0
wait "$G1" || rc=$?
check "gcksd exits 0 on SIGTERM" test "$rc" = 0
if grep -q '^#define HAVE_LIBSYSTEMD 1' "$B/config.h"; then
	check "... after STOPPING=1" grep -q '^STOPPING=1' "$W/notify.log"
	start_gcksd gcksd2.log --db "$S/gcks.db" --control "$R/gcksd.sock" --listen 127.0.0.1:848
	check "gcksd starts again on the same database and socket (no stale lock)" ready 2
	kill -TERM "$gpid"
	wait "$gpid" 2>/dev/null || true
fi

# 8. make uninstall
check "make uninstall DESTDIR=... exits 0" mk uninstall DESTDIR="$D"
left=$(find "$D" -type f | sed "s|^$D||")
check "make uninstall leaves no file (left: ${left:-none})" test -z "$left"

sanitizer_check "no sanitizer report from the installed programs" "$W"/*.log
[ "$fails" -eq 0 ]
