#!/usr/bin/env bash
# Integration test of least privilege: the real gcksd, gcksctl and gmd started as root, with
# throwaway accounts made here (useradd) and removed at exit.
#   - gcksd drops to its --user: uid/gid everywhere, no groups, no capabilities, no_new_privs,
#     not dumpable (another process of its user cannot read its /proc files); the database, its
#     -wal/-shm and the control socket belong to that user;
#   - attacks on the hand-over: a symbolic link planted at the socket path is removed, not
#     followed; links (symbolic or hard) at the database or its -wal/-shm make gcksd refuse to
#     start (exit 5) and leave their target alone; a database directory others may write to is
#     refused; shared accounts (nobody, root) and a missing account are refused (exit 5);
#   - the control socket answers root, gcksd's user and the admin group (primary or
#     supplementary); anyone else whom the file mode lets through gets "permission denied", no
#     rekey happens, the refusal is audited under the real account (not $USER), 10 a minute;
#   - gmd drops to its --user keeping CAP_NET_ADMIN (effective) and CAP_NET_BIND_SERVICE
#     (permitted only), not dumpable; --once keeps nothing; without CAP_NET_ADMIN and the xfrm
#     backend it refuses to start (exit 4) unless --sa-backend none; --user nobody exits 5.
# Needs root, useradd/userdel, setpriv, ip (network namespaces), python3, sqlite3. Skips (77)
# without them.
set -euo pipefail

B=${GK_BUILDDIR:-$(pwd)}
GCKSD=$B/gcks/gcksd GCKSCTL=$B/gcks/gcksctl GMD=$B/member/gmd
. "$(dirname "$0")/tap.sh"
[ "$(id -u)" = 0 ] || skip "needs root (accounts, privilege drop)"
for t in useradd userdel groupadd groupdel setpriv ip python3 sqlite3 timeout; do
	command -v "$t" >/dev/null || skip "$t is needed"
done
for p in "$GCKSD" "$GCKSCTL" "$GMD"; do
	[ -x "$p" ] || { echo "not ok - $p is not built"; exit 99; }
done
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
# what the environment claims must never become the audit actor
export USER=root LOGNAME=root SUDO_USER=root

W=$(mktemp -d "${TMPDIR:-/tmp}/gk-priv.XXXXXX")
[ -n "${GK_DEBUG:-}" ] && set -x
export W
chmod 755 "$W" # the test accounts reach the socket's directory through it
T=$$
# the accounts: gcksd's, the admin group and a member of it, an outsider, gmd's
UD=gkd$T UA=gka$T UO=gko$T UM=gkm$T GA=gkadm$T NS=gk-priv-$T
users=() groups=()
pids=()
fails=0
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	ip netns del "$NS" 2>/dev/null || true
	for p in "${users[@]}"; do userdel "$p" 2>/dev/null || true; done
	for p in "${groups[@]}"; do groupdel "$p" 2>/dev/null || true; done
	if [ "$fails" -ne 0 ]; then
		for f in "$W"/*.log; do
			[ -f "$f" ] || continue
			echo "# ---- $(basename "$f") (last 30 lines)"
			tail -n 30 "$f" | sed 's/^/# /'
		done
	fi
	rm -rf "$W"
}
trap cleanup EXIT

cat >"$W/ck.py" <<'EOF'
import json, os, pwd, grp, socket, stat, sys
W = os.environ['W']
def text(path):
    with open(path if path.startswith('/') else f'{W}/{path}') as f:
        return f.read()
def status(pid):
    """/proc/PID/status as a dict"""
    return dict(l.split(':', 1) for l in text(f'/proc/{pid}/status').splitlines())
def ids(pid, key):
    return [int(x) for x in status(pid)[key].split()]
def caps(pid, key):
    return int(status(pid)[key].strip(), 16)
CAP_NET_BIND_SERVICE, CAP_NET_ADMIN = 1 << 10, 1 << 12
def owner(path):
    st = os.lstat(path)
    return pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name, stat.S_IMODE(st.st_mode)
def answer(name):
    """ask.py's answer, or its error output"""
    try:
        return json.loads(text(f'{name}.json'))
    except ValueError:
        raise AssertionError(text(f'{name}.err'))
def audit():
    import sqlite3
    db = sqlite3.connect(f'file:{W}/db/gcks.db?mode=ro', uri=True)
    return [dict(zip(('who', 'action', 'detail'), r)) for r in db.execute('SELECT who, action, detail FROM audit ORDER BY id')]
exec(compile(sys.stdin.read(), 'check', 'exec'))
EOF
pyck() { check "$1" python3 "$W/ck.py"; }
wait_for() { # SECONDS COMMAND...
	local n=$(($1 * 10))
	shift
	while [ $n -gt 0 ]; do
		"$@" 2>/dev/null && return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}

# ---- accounts ----
groupadd --system "$GA" && groups+=("$GA")
useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$UD" && users+=("$UD")
useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin -G "$GA" "$UA" && users+=("$UA")
useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$UO" && users+=("$UO")
useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$UM" && users+=("$UM")
[ ${#users[@]} -eq 4 ] && [ ${#groups[@]} -eq 1 ] || { echo "not ok - cannot create the test accounts"; exit 99; }
export UD UA UO UM GA
# The test accounts run copies of the programs and a python3 they may execute (the build tree
# and a per-user python may be out of their reach).
mkdir -m 755 "$W/bin"
cp "$GCKSCTL" "$GMD" "$W/bin/"
chmod 755 "$W/bin/gcksctl" "$W/bin/gmd"
UPY=
for p in /usr/bin/python3 "$(command -v python3)"; do
	if setpriv --reuid="$UO" --regid="$UO" --clear-groups "$p" -c '' 2>/dev/null; then UPY=$p; break; fi
done
[ -n "$UPY" ] || skip "no python3 the test accounts may run"

# ---- gcksd: database, a directory only root writes to, a planted link at the socket path ----
mkdir -m 755 "$W/db" "$W/run"
DB=$W/db/gcks.db CTL=$W/run/gcksd.sock
"$GCKSCTL" --db "$DB" init --id fqdn:gcks.example >"$W/gcksctl.log" 2>&1
cat >"$W/g.yaml" <<'EOF'
id: keyid:priv-1
capacity: 10
rekey:
  transport: multicast
  key-wrap: kw-5649-256
  address: 239.97.1.1
  port: 848
sas:
  - name: video
    protocol: esp
    encryption: aes-gcm-16
    key-length: 256
    destination: 239.97.1.2
    ip-protocol: udp
    ports: 5004
members:
  - id: fqdn:m1.example
    psk: 0123456789abcdef0123456789abcdef
EOF
"$GCKSCTL" --db "$DB" policy load "$W/g.yaml" >>"$W/gcksctl.log" 2>&1 || { echo "not ok - policy load"; cat "$W/gcksctl.log"; exit 99; }
echo "root's file" >"$W/victim"
chmod 600 "$W/victim"
ln -s "$W/victim" "$CTL"

port=$(free_port)
"$GCKSD" --db "$DB" --listen "127.0.0.1:$port" --control "$CTL" --user "$UD" --admin-group "$GA" \
	--foreground 2>"$W/gcksd.log" &
gpid=$!
pids+=("$gpid")
export GPID=$gpid
wait_for 15 grep -q 'gcksd ready' "$W/gcksd.log" || { echo "not ok - gcksd did not start"; cat "$W/gcksd.log"; exit 1; }
ok "gcksd started as root with --user $UD --admin-group $GA"

pyck "gcksd runs as $UD: uid and gid (real, effective, saved, fs), no supplementary groups" <<'EOF'
u = pwd.getpwnam(os.environ['UD'])
assert ids(os.environ['GPID'], 'Uid') == [u.pw_uid] * 4, status(os.environ['GPID'])['Uid']
assert ids(os.environ['GPID'], 'Gid') == [u.pw_gid] * 4, status(os.environ['GPID'])['Gid']
assert status(os.environ['GPID'])['Groups'].split() == [], status(os.environ['GPID'])['Groups']
EOF
pyck "gcksd keeps no capability (effective, permitted, inheritable, ambient, bounding) and has no_new_privs" <<'EOF'
p = os.environ['GPID']
for k in ('CapEff', 'CapPrm', 'CapInh', 'CapAmb', 'CapBnd'):
    assert caps(p, k) == 0, (k, hex(caps(p, k)))
assert status(p)['NoNewPrivs'].strip() == '1', status(p)['NoNewPrivs']
EOF
pyck "gcksd is not dumpable: its /proc files belong to root, not to $UD" <<'EOF'
st = os.stat(f"/proc/{os.environ['GPID']}/environ")
assert st.st_uid == 0, st
EOF
check "another process of $UD cannot read gcksd's memory maps (/proc/PID/environ: permission denied)" \
	bash -c '! as_out=$(setpriv --reuid="$1" --regid="$1" --clear-groups cat /proc/"$2"/environ 2>&1) && echo "$as_out" | grep -q "Permission denied"' \
	_ "$UD" "$gpid"
pyck "the database, its -wal and -shm belong to $UD (mode 0600); the socket to $UD:$GA, mode 0660" <<'EOF'
ud, ga = os.environ['UD'], os.environ['GA']
for suffix in ('', '-wal', '-shm'):
    assert owner(f'{W}/db/gcks.db{suffix}') == (ud, ud, 0o600), (suffix, owner(f'{W}/db/gcks.db{suffix}'))
assert stat.S_ISSOCK(os.lstat(f'{W}/run/gcksd.sock').st_mode)
assert owner(f'{W}/run/gcksd.sock') == (ud, ga, 0o660), owner(f'{W}/run/gcksd.sock')
EOF
pyck "the link planted at the socket path was not followed: its target is still root's, mode 0600, unchanged" <<'EOF'
assert owner(f'{W}/victim') == ('root', 'root', 0o600), owner(f'{W}/victim')
assert text('victim') == "root's file\n"
EOF

# ---- the control socket ----
cat >"$W/ask.py" <<'EOF'
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print(json.dumps({'connect': e.strerror}))
    sys.exit(0)
s.sendall(sys.argv[2].encode() + b'\n')
buf = b''
while not buf.endswith(b'\n'):
    d = s.recv(65536)
    if not d:
        break
    buf += d
# after a refusal gcksd closes the connection: a second request gets nothing
try:
    s.sendall(b'status\n')
    more = s.recv(65536)
except OSError:
    more = b''
a = json.loads(buf)
a['_more'] = more.decode()
print(json.dumps(a))
EOF
chmod 644 "$W/ask.py"
ask() { # NAME ACCOUNT REQUEST [setpriv options]: the answer in $W/NAME.json
	local name=$1 u=$2 req=$3
	shift 3
	setpriv --reuid="$u" --regid="${REGID:-$u}" "${@:---init-groups}" "$UPY" "$W/ask.py" "$CTL" "$req" \
		>"$W/$name.json" 2>"$W/$name.err" || true
}
ask admin "$UA" status
pyck "a member of the admin group (supplementary) gets the status" <<'EOF'
a = answer('admin')
assert a['ok'] is True and [g['group'] for g in a['groups']] == ['keyid:priv-1'], a
EOF
ask self "$UD" status --clear-groups
pyck "gcksd's own user gets the status" <<'EOF'
a = answer('self')
assert a['ok'] is True and 'uptime' in a, a
EOF
ask outsider-mode "$UO" status
pyck "an outsider cannot even connect while the socket has its mode 0660 (permission denied)" <<'EOF'
assert answer('outsider-mode') == {'connect': 'Permission denied'}, text('outsider-mode.json')
EOF
# The file mode is one gate; SO_PEERCRED is the other. Open the first, as an operator's mistake would.
chmod 666 "$CTL"
ask outsider-status "$UO" status
ask outsider-rekey "$UO" "rekey keyid:priv-1"
pyck "an outsider through an open file mode: \"permission denied\" for status and rekey, then the connection is closed" <<'EOF'
for n in ('outsider-status', 'outsider-rekey'):
    a = answer(n)
    assert a['ok'] is False and a['error'] == ("permission denied: only root, gcksd's user and members of "
                                               "its admin group may use the control socket"), a
    assert a['_more'] == '', a
EOF
REGID=$GA ask primary "$UO" status --clear-groups
pyck "a user whose primary group is the admin group gets the status" <<'EOF'
a = answer('primary')
assert a['ok'] is True and 'uptime' in a, a
EOF
pyck "the refusals are audited under the outsider's real account (not \$USER=root); no rekey happened" <<'EOF'
rows = audit()
ref = [r for r in rows if r['action'] == 'refused']
uo = pwd.getpwnam(os.environ['UO'])
assert len(ref) == 2, rows
assert all(r['who'].startswith(f"{os.environ['UO']} (pid ") for r in ref), ref
assert ref[0]['detail'] == f'control request "status": uid {uo.pw_uid} is not root, gcksd\'s user or in the admin group', ref
assert ref[1]['detail'].startswith('control request "rekey": '), ref
assert not [r for r in rows if r['action'] == 'rekey'], rows
EOF
check "gcksctl as the outsider: exit 4, the refusal on stderr" \
	bash -c 'rc=0; setpriv --reuid="$1" --regid="$1" --init-groups "$2" --control "$3" status >"$4/o.out" 2>"$4/o.err" || rc=$?; cat "$4/o.err"; [ $rc -eq 4 ] && grep -q "^gcksctl: permission denied: only root" "$4/o.err"' \
	_ "$UO" "$W/bin/gcksctl" "$CTL" "$W"
for i in $(seq 12); do ask "flood-$i" "$UO" status; done
pyck "a refusal flood: 10 refusals a minute reach the audit log, every request is refused" <<'EOF'
assert len([r for r in audit() if r['action'] == 'refused']) == 10, audit()
for i in range(1, 13):
    assert answer(f'flood-{i}')['ok'] is False
EOF
check "root still gets answers (rekey by gcksctl: exit 0)" "$GCKSCTL" --control "$CTL" rekey keyid:priv-1
pyck "root's rekey is audited as root with its pid" <<'EOF'
(r,) = [r for r in audit() if r['action'] == 'rekey']
assert r['who'].startswith('root (pid '), r
EOF
kill -TERM "$gpid"
rc=0
wait "$gpid" || rc=$?
check "gcksd exits 0 on SIGTERM (got $rc)" test "$rc" -eq 0
sanitizer_check "no sanitizer report in gcksd's log" "$W/gcksd.log"
chmod 660 "$CTL"

# ---- gcksd refuses to start ----
# start_refused NAME ARGS...: gcksd with ARGS on $DB; exit code in $rc, stderr in $W/NAME.log
start_refused() {
	local name=$1
	shift
	rc=0
	timeout 20 "$GCKSD" --db "$DB" --listen "127.0.0.1:$(free_port)" --control "$CTL" --foreground "$@" \
		2>"$W/$name.log" || rc=$?
}
start_refused nobody --user nobody
check "gcksd --user nobody: exit 5, \"a shared account\"" \
	bash -c '[ "$1" -eq 5 ] && grep -q "user nobody (uid 65534) is a shared account" "$2"' _ "$rc" "$W/nobody.log"
start_refused root --user root
check "gcksd --user root: exit 5, \"a shared account (it is root)\"" \
	bash -c '[ "$1" -eq 5 ] && grep -q "user root (uid 0) is a shared account (it is root)" "$2"' _ "$rc" "$W/root.log"
start_refused missing --user "gkno$T"
check "gcksd --user of a missing account: exit 5, says how to create it" \
	bash -c '[ "$1" -eq 5 ] && grep -q "user $2 does not exist: create it with \`adduser --system --group $2\`" "$3"' \
	_ "$rc" "gkno$T" "$W/missing.log"
start_refused nogroup --user "$UD" --admin-group "gkno$T"
check "gcksd --admin-group of a missing group: exit 5" \
	bash -c '[ "$1" -eq 5 ] && grep -q "admin-group $2: no such group" "$3"' _ "$rc" "gkno$T" "$W/nogroup.log"

rm -f "$DB-wal" "$DB-shm"
chown root:root "$DB"
ln -s "$W/victim" "$DB-wal"
start_refused link-wal --user "$UD"
check "a symbolic link at the database's -wal: exit 5, \"is a symbolic link\"" \
	bash -c '[ "$1" -eq 5 ] && grep -q "$2-wal is a symbolic link" "$3"' _ "$rc" "$DB" "$W/link-wal.log"
rm -f "$DB-wal"
ln "$W/victim" "$DB-shm"
start_refused hard-shm --user "$UD"
check "a hard link at the database's -shm: exit 5, \"2 hard links\"" \
	bash -c '[ "$1" -eq 5 ] && grep -q "$2-shm has 2 hard links" "$3"' _ "$rc" "$DB" "$W/hard-shm.log"
rm -f "$DB-shm"
mv "$DB" "$DB.real"
ln -s "$W/victim" "$DB"
start_refused link-db --user "$UD"
check "a symbolic link at the database path: exit 5" \
	bash -c '[ "$1" -eq 5 ] && grep -q "$2 is a symbolic link" "$3"' _ "$rc" "$DB" "$W/link-db.log"
rm -f "$DB"
mv "$DB.real" "$DB"
pyck "after the three planted links, their target is still root's, mode 0600, unchanged" <<'EOF'
assert owner(f'{W}/victim') == ('root', 'root', 0o600), owner(f'{W}/victim')
assert text('victim') == "root's file\n"
EOF
check "the refused starts handed nothing over: the database is still root's" \
	test "$(stat -c %U "$DB")" = root
chmod 1777 "$W/db"
start_refused dir --user "$UD"
check "a database directory others may write to (1777): exit 5, and the database stays root's" \
	bash -c '[ "$1" -eq 5 ] && grep -q "a user other than root may write to this directory" "$2" && [ "$(stat -c %U "$3")" = root ]' \
	_ "$rc" "$W/dir.log" "$DB"
chmod 775 "$W/db"
chgrp "$GA" "$W/db"
start_refused dir-group --user "$UD"
check "a database directory its group (not root) may write to: exit 5" \
	bash -c '[ "$1" -eq 5 ] && grep -q "a user other than root may write to this directory" "$2"' _ "$rc" "$W/dir-group.log"
chgrp root "$W/db"
chmod 755 "$W/db"
chown "$UD" "$W/run"
start_refused run-owner --user "$UD"
check "a socket directory owned by $UD: exit 5" \
	bash -c '[ "$1" -eq 5 ] && grep -q "$2 (owner uid" "$3"' _ "$rc" "$W/run" "$W/run-owner.log"
chown root "$W/run"
rm -f "$DB-journal"
mkfifo "$DB-journal"
start_refused fifo --user "$UD"
check "a FIFO at the database's -journal: exit 5 at once (opened without blocking), \"not a regular file\"" \
	bash -c '[ "$1" -eq 5 ] && grep -q "$2-journal: not a regular file" "$3"' _ "$rc" "$DB" "$W/fifo.log"
rm -f "$DB-journal"

# ---- gmd ----
ip netns add "$NS"
ip -n "$NS" link set lo up
printf '0123456789abcdef0123456789abcdef' >"$W/m1.psk"
chmod 600 "$W/m1.psk"
gmd_args=(--gcks "127.0.0.1:$(free_port)" --id fqdn:m1.example --group keyid:priv-1 --psk-file "$W/m1.psk"
	--retry 60 --retransmit 1000:6)
ip netns exec "$NS" "$GMD" "${gmd_args[@]}" --user "$UM" --log-level debug 2>"$W/gmd.log" &
mpid=$!
pids+=("$mpid")
export MPID=$mpid
wait_for 15 grep -q "running as $UM" "$W/gmd.log" || { not_ok "gmd did not drop privileges"; cat "$W/gmd.log"; }
pyck "gmd (xfrm) runs as $UM: uid and gid everywhere, no supplementary groups, no_new_privs" <<'EOF'
u = pwd.getpwnam(os.environ['UM'])
p = os.environ['MPID']
assert ids(p, 'Uid') == [u.pw_uid] * 4 and ids(p, 'Gid') == [u.pw_gid] * 4, (status(p)['Uid'], status(p)['Gid'])
assert status(p)['Groups'].split() == [] and status(p)['NoNewPrivs'].strip() == '1', status(p)
EOF
pyck "gmd keeps CAP_NET_ADMIN alone effective; CAP_NET_BIND_SERVICE only permitted (for a rekey port below 1024); nothing else" <<'EOF'
p = os.environ['MPID']
assert caps(p, 'CapEff') == CAP_NET_ADMIN, hex(caps(p, 'CapEff'))
assert caps(p, 'CapPrm') == CAP_NET_ADMIN | CAP_NET_BIND_SERVICE, hex(caps(p, 'CapPrm'))
assert caps(p, 'CapBnd') == CAP_NET_ADMIN | CAP_NET_BIND_SERVICE, hex(caps(p, 'CapBnd'))
assert caps(p, 'CapInh') == 0 and caps(p, 'CapAmb') == 0, status(p)
EOF
pyck "gmd is not dumpable: its /proc files belong to root" <<'EOF'
assert os.stat(f"/proc/{os.environ['MPID']}/environ").st_uid == 0
EOF
check "another process of $UM cannot read gmd's /proc/PID/environ" \
	bash -c '! out=$(setpriv --reuid="$1" --regid="$1" --clear-groups cat /proc/"$2"/environ 2>&1) && echo "$out" | grep -q "Permission denied"' \
	_ "$UM" "$mpid"
kill -TERM "$mpid"
wait "$mpid" || true

ip netns exec "$NS" "$GMD" "${gmd_args[@]}" --once --user "$UM" --log-level debug 2>"$W/gmd-once.log" &
mpid=$!
pids+=("$mpid")
export MPID=$mpid
wait_for 15 grep -q "running as $UM" "$W/gmd-once.log" || not_ok "gmd --once did not drop privileges"
pyck "gmd --once (no SA backend) runs as $UM with no capability at all" <<'EOF'
p = os.environ['MPID']
assert ids(p, 'Uid') == [pwd.getpwnam(os.environ['UM']).pw_uid] * 4, status(p)['Uid']
for k in ('CapEff', 'CapPrm', 'CapBnd', 'CapInh', 'CapAmb'):
    assert caps(p, k) == 0, (k, hex(caps(p, k)))
EOF
kill -TERM "$mpid"
wait "$mpid" || true

rc=0
ip netns exec "$NS" setpriv --bounding-set=-net_admin --inh-caps=-net_admin "$GMD" "${gmd_args[@]}" --user "$UM" \
	>"$W/noadmin.out" 2>"$W/noadmin.log" || rc=$?
check "gmd as root without CAP_NET_ADMIN (xfrm backend): exit 4, \"could register but not install\", nothing registered" \
	bash -c '[ "$1" -eq 4 ] && grep -q "gmd could register but not install the group.s SAs" "$2" && ! grep -qi "registered" "$2" && [ ! -s "$3" ]' \
	_ "$rc" "$W/noadmin.log" "$W/noadmin.out"
rc=0
install -m 600 -o "$UM" "$W/m1.psk" "$W/m1-um.psk"
ip netns exec "$NS" setpriv --reuid="$UM" --regid="$UM" --clear-groups "$W/bin/gmd" "${gmd_args[@]}" \
	--psk-file "$W/m1-um.psk" --sa-backend xfrm 2>"$W/unpriv.log" || rc=$?
check "gmd as an unprivileged user with --sa-backend xfrm: exit 4, the kernel's refusal named" \
	bash -c '[ "$1" -eq 4 ] && grep -q "Operation not permitted" "$2"' _ "$rc" "$W/unpriv.log"
ip netns exec "$NS" setpriv --bounding-set=-net_admin --inh-caps=-net_admin "$GMD" "${gmd_args[@]}" --user "$UM" \
	--sa-backend none --log-level debug 2>"$W/none.log" &
mpid=$!
pids+=("$mpid")
check "gmd without CAP_NET_ADMIN but with --sa-backend none starts (SA backend: none) and drops to $UM" \
	wait_for 15 grep -q "running as $UM" "$W/none.log"
check "(and it said so: SA backend none)" grep -q "SA backend: none" "$W/none.log"
export MPID=$mpid
pyck "gmd with --sa-backend none keeps no effective capability; CAP_NET_BIND_SERVICE only permitted" <<'EOF'
p = os.environ['MPID']
assert caps(p, 'CapEff') == 0 and caps(p, 'CapPrm') == CAP_NET_BIND_SERVICE, (hex(caps(p, 'CapEff')), hex(caps(p, 'CapPrm')))
EOF
kill -TERM "$mpid"
wait "$mpid" || true
rc=0
ip netns exec "$NS" "$GMD" "${gmd_args[@]}" --user nobody 2>"$W/gmd-nobody.log" || rc=$?
check "gmd --user nobody: exit 5, \"a shared account\"" \
	bash -c '[ "$1" -eq 5 ] && grep -q "user nobody (uid 65534) is a shared account" "$2"' _ "$rc" "$W/gmd-nobody.log"
# A registration: the GCKS names rekey port 848 at registration, after gmd left root; gmd raises
# CAP_NET_BIND_SERVICE for that bind only. (--sa-backend none: what the kernel's crypto offers
# does not matter here.)
ip -n "$NS" link set lo multicast on
ip -n "$NS" route add 224.0.0.0/4 dev lo
ip netns exec "$NS" "$GCKSD" --db "$DB" --listen 127.0.0.1:849 --control "$CTL" --user "$UD" --foreground \
	2>"$W/gcksd-ns.log" &
pids+=($!)
wait_for 15 grep -q 'gcksd ready' "$W/gcksd-ns.log" || not_ok "gcksd in the namespace did not start"
ip netns exec "$NS" "$GMD" --gcks 127.0.0.1:849 --id fqdn:m1.example --group keyid:priv-1 --psk-file "$W/m1.psk" \
	--user "$UM" --sa-backend none --json >"$W/gmd-reg.out" 2>"$W/gmd-reg.log" &
mpid=$!
pids+=("$mpid")
export MPID=$mpid
check "gmd as $UM registers and binds the rekey port 848 after leaving root" \
	wait_for 20 grep -q "listening for GSA_REKEY on 239.97.1.1:848" "$W/gmd-reg.log"
pyck "after that bind, CAP_NET_BIND_SERVICE is out of the effective set again (only permitted)" <<'EOF'
p = os.environ['MPID']
assert caps(p, 'CapEff') == 0, hex(caps(p, 'CapEff'))
assert caps(p, 'CapPrm') == CAP_NET_BIND_SERVICE, hex(caps(p, 'CapPrm'))
EOF
check "no rekey listener error in gmd's log" bash -c '! grep -q "rekey listener" "$1"' _ "$W/gmd-reg.log"
kill -TERM "$mpid"
wait "$mpid" || true
sanitizer_check "no sanitizer report in gmd's logs" "$W"/gmd*.log "$W/none.log" "$W/gcksd-ns.log"

[ "$fails" -eq 0 ]
