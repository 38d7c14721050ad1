#!/usr/bin/env bash
# Integration test of gcksd's log, through the real programs on loopback:
#   - gcksctl log-level shows the levels of the running gcksd, sets one subsystem's or all, and
#     refuses bad names (exit 4, nothing changed); a level set at run time takes effect at once;
#   - the exact line of a refusal (group, member identity, peer address, notify), of each
#     multicast GSA_REKEY copy sent and resent, of a GSA_INBAND_REKEY sent and retransmitted to a
#     member that does not answer (group, identity, address), of an eviction (with the
#     member's address) and of the exclusion of every member of a multicast group;
#   - syslog: gcksd --log-target syslog, and gcksd with stderr on /dev/null without the option,
#     write to /dev/log with facility daemon, ident gcksd[PID], "[subsystem] text". /dev/log is a
#     socket this test binds, seen by gcksd in a mount namespace of its own (root; else that
#     part is skipped): the host's /dev is not touched.
# Needs python3 (tools/deps); finds the programs through GK_BUILDDIR.
set -euo pipefail

B=${GK_BUILDDIR:-$(pwd)}
GCKSD=$B/gcks/gcksd GCKSCTL=$B/gcks/gcksctl GMD=$B/member/gmd
for t in python3 timeout; do
	command -v "$t" >/dev/null || { echo "not ok - $t is needed (tools/deps installs it)"; exit 99; }
done
for p in "$GCKSD" "$GCKSCTL" "$GMD"; do
	[ -x "$p" ] || { echo "not ok - $p is not built"; exit 99; }
done
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
unset GIKEV2_DB GIKEV2_CONTROL JOURNAL_STREAM

W=$(mktemp -d "${TMPDIR:-/tmp}/gk-log.XXXXXX")
pids=()
fails=0
cleanup() {
	local p
	for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null || true; kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	if [ "$fails" -ne 0 ]; then
		show_logs "$W"/*.log
	fi
	rm -rf "$W"
}
trap cleanup EXIT
. "$(dirname "$0")/tap.sh"

# line FILE TEXT: FILE has a line that ends with exactly TEXT after "gcksd LEVEL [SUBSYS]: "
line() { grep -qxF -- "$2" <(sed -E 's/^[^ ]+ gcksd //' "$1"); }

mkdir -p "$W/keys"
for m in m1 m2 m3; do
	(umask 077 && python3 -c 'import os; print("0x" + os.urandom(32).hex())' >"$W/keys/$m.psk")
done
cat >"$W/groups.yaml" <<EOF
groups:
  - id: keyid:log-mc
    rekey:
      transport: multicast
      key-wrap: kw-5649-256
      address: 239.192.0.77
      port: 848
      copies: 2
      interval: 200ms
    sas:
      - name: video
        destination: 239.192.77.1
    members:
      - id: keyid:m1
        psk-file: keys/m1.psk
      - id: keyid:m3
        psk-file: keys/m3.psk
  - id: keyid:log-in
    rekey:
      transport: inband
    sas:
      - name: chat
        destination: 239.192.78.1
    members:
      - id: keyid:m1
        psk-file: keys/m1.psk
      - id: keyid:m2
        psk-file: keys/m2.psk
EOF
DB=$W/gcks.db CTL=$W/gcksd.sock
"$GCKSCTL" --db "$DB" init --id fqdn:gcks.example >/dev/null
"$GCKSCTL" --db "$DB" policy load "$W/groups.yaml" >/dev/null
port=$(free_port)
"$GCKSD" --db "$DB" --listen "127.0.0.1:$port" --control "$CTL" --foreground --log-level all=info,net=warning \
	2>"$W/gcksd.log" &
gpid=$!
pids+=("$gpid")
if ! wait_for 15 grep -q 'gcksd ready' "$W/gcksd.log"; then
	not_ok "gcksd starts"
	exit 1
fi
ok "gcksd starts with --log-level all=info,net=warning"
check "its start line: time stamp, program, level, [subsystem]" \
	grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{3}Z gcksd notice \[daemon\]: gcksd ready$' "$W/gcksd.log"

# --- gcksctl log-level ---
ctl() { "$GCKSCTL" --control "$CTL" "$@"; }
check "gcksctl log-level: the levels from --log-level" \
	test "$(ctl log-level)" = "daemon=info,net=warning,ike=info,reg=info,rekey=info,store=info,ctl=info"
check "gcksctl log-level reg debug: the levels then in force" \
	test "$(ctl log-level reg debug)" = "daemon=info,net=warning,ike=info,reg=debug,rekey=info,store=info,ctl=info"
check "... logged as a notice naming who set it" \
	wait_for 5 grep -qE "gcksd notice \[ctl\]: log level reg=debug, set by $(id -un) \(pid [0-9]+\)$" "$W/gcksd.log"
check "gcksctl --json log-level: the levels as an object" \
	test "$(ctl --json log-level)" = '{"ok":true,"levels":{"daemon":"info","net":"warning","ike":"info","reg":"debug","rekey":"info","store":"info","ctl":"info"},"message":"daemon=info,net=warning,ike=info,reg=debug,rekey=info,store=info,ctl=info"}'
rc=0
ctl log-level reg loud >"$W/bad1.out" 2>&1 || rc=$?
check "an unknown level: exit 4 and why" \
	test "$rc:$(cat "$W/bad1.out")" = "4:gcksctl: loud: not a level (error, warning, notice, info, debug)"
rc=0
ctl log-level kernel debug >"$W/bad2.out" 2>&1 || rc=$?
check "a subsystem gcksd does not have (gmd's kernel): exit 4 and the ones it has" \
	test "$rc:$(cat "$W/bad2.out")" = "4:gcksctl: kernel: not a subsystem (all, daemon, net, ike, reg, rekey, store, ctl)"
rc=0
ctl log-level all=debug,reg info >"$W/bad3.out" 2>&1 || rc=$?
check "a list where one subsystem is expected: exit 4" test "$rc" = 4
check "... and nothing changed" \
	test "$(ctl log-level)" = "daemon=info,net=warning,ike=info,reg=debug,rekey=info,store=info,ctl=info"
rc=0
ctl log-level reg >/dev/null 2>&1 || rc=$?
check "gcksctl log-level with one word: usage error, exit 1" test "$rc" = 1
check "the change is audited" bash -c '"$1" --db "$2" audit 5 | grep -q "log-level.*reg=debug"' _ "$GCKSCTL" "$DB"

# --- a refusal: m3 authenticates (listed in log-mc) but asks for log-in ---
rc=0
timeout 40 "$GMD" --gcks "127.0.0.1:$port" --once --id keyid:m3 --psk-file "$W/keys/m3.psk" \
	--group keyid:log-in --sa-backend none 2>"$W/gmd-m3.log" || rc=$?
check "gmd m3 to log-in is refused (exit 2)" test "$rc" = 2
m3port=$(grep -oE 'refused 127\.0\.0\.1:[0-9]+: registration of keyid:m3' "$W/gcksd.log" | head -1 | sed -E 's/.*:([0-9]+): .*/\1/')
check "the refusal: one warning with the address, member, group and notify" \
	line "$W/gcksd.log" "warning [reg]: refused 127.0.0.1:$m3port: registration of keyid:m3 to keyid:log-in (AUTHORIZATION_FAILED): identity not listed for the group"
check "... exactly one" test "$(grep -c 'registration of keyid:m3 to keyid:log-in' "$W/gcksd.log")" = 1
check "net at warning (--log-level): its info lines are left out (listening on ...)" \
	bash -c '! grep -q "listening on" "$1"' _ "$W/gcksd.log"

# --- multicast GSA_REKEY: the copies sent and resent ---
ctl rekey keyid:log-mc >/dev/null
check "a multicast rekey: the first copy sent (group, Message ID, destination)" \
	wait_for 5 line "$W/gcksd.log" "info [rekey]: group keyid:log-mc: GSA_REKEY message 0 sent to 239.192.0.77:848 (copy 1 of 2)"
check "... the second copy resent" \
	wait_for 5 line "$W/gcksd.log" "info [rekey]: group keyid:log-mc: GSA_REKEY message 0 resent to 239.192.0.77:848 (copy 2 of 2)"
check "... one line each" test "$(grep -cE 'GSA_REKEY message 0 (sent|resent) to' "$W/gcksd.log")" = 2
# rekey at warning: no line for a rekey (the inband group has no member yet: no copies follow
# later); back at info: its line again. gcksd logs before it answers gcksctl.
ctl log-level rekey warning >/dev/null
ctl rekey keyid:log-in >/dev/null
ctl log-level all info >/dev/null
check "gcksctl log-level all info sets every subsystem" \
	test "$(ctl log-level)" = "daemon=info,net=info,ike=info,reg=info,rekey=info,store=info,ctl=info"
ctl rekey keyid:log-in >/dev/null
check "with rekey at warning a rekey logs nothing; at info again it does" \
	test "$(grep -c 'group keyid:log-in rekeyed (requested): GSA_INBAND_REKEY to 0 members$' "$W/gcksd.log")" = 1

# --- GSA_INBAND_REKEY sent and retransmitted to a member that does not answer ---
"$GMD" --gcks "127.0.0.1:$port" --id keyid:m2 --psk-file "$W/keys/m2.psk" --group keyid:log-in \
	--sa-backend none --json >"$W/gmd-m2.json" 2>"$W/gmd-m2.log" &
m2pid=$!
pids+=("$m2pid")
if wait_for 20 grep -q '"event":"registered"' "$W/gmd-m2.json"; then
	ok "gmd m2 registers to the inband group and stays"
else
	not_ok "gmd m2 registers to the inband group and stays"
fi
kill -STOP "$m2pid"
ctl rekey keyid:log-in >/dev/null
check "an inband rekey: GSA_INBAND_REKEY sent, with the group, member and address" \
	wait_for 5 bash -c 'grep -qE "gcksd info \[rekey\]: group keyid:log-in: GSA_INBAND_REKEY message [0-9]+ sent to keyid:m2 at 127\.0\.0\.1:[0-9]+$" "$1"' _ "$W/gcksd.log"
check "... retransmitted after 1 s without an answer: one line per retransmission" \
	wait_for 5 bash -c 'grep -qE "gcksd info \[rekey\]: group keyid:log-in: GSA_INBAND_REKEY message [0-9]+ resent to keyid:m2 at 127\.0\.0\.1:[0-9]+ \(retransmission 1 of 5\)$" "$1"' _ "$W/gcksd.log"
sent=$(grep -E 'GSA_INBAND_REKEY message [0-9]+ sent to keyid:m2' "$W/gcksd.log" | tail -1 | sed -E 's/.* at ([^ ]+)$/\1/')
resent=$(grep -E 'GSA_INBAND_REKEY message [0-9]+ resent to keyid:m2' "$W/gcksd.log" | tail -1 | sed -E 's/.* at ([^ ]+) \(.*/\1/')
check "... both name the member's address ($sent)" test -n "$sent" -a "$sent" = "$resent"
kill -CONT "$m2pid"
check "the member answers once it runs again: it takes the rekey" \
	wait_for 10 grep -q '"event":"inband_rekey"' "$W/gmd-m2.json"

# --- eviction: the member's address ---
check "gcksctl evict keyid:log-in keyid:m2" ctl evict keyid:log-in keyid:m2
check "the eviction: one notice with the member, the group and the member's address" \
	wait_for 5 line "$W/gcksd.log" "notice [rekey]: keyid:m2 evicted from keyid:log-in; new keys went to the remaining members over GSA_INBAND_REKEY (the member at $sent)"
check "an eviction from a multicast group: every member excluded, a notice" \
	ctl evict keyid:log-mc keyid:m3
check "... the eviction line, with the address of the IKE SA m3 still holds" \
	wait_for 5 bash -c 'grep -qE "gcksd notice \[rekey\]: keyid:m3 evicted from keyid:log-mc; every member was excluded .* \(the member at 127\.0\.0\.1:$2\)$" "$1"' _ "$W/gcksd.log" "$m3port"
check "... the exclusion of every member" \
	wait_for 5 bash -c 'grep -qE "gcksd notice \[rekey\]: group keyid:log-mc excluded every member \(eviction\): GSA_REKEY message [0-9]+, 2 SAs deleted: ok$" "$1"' _ "$W/gcksd.log"
# gmd's side: one line per registration result, rekey applied, exclusion, re-registration
gline() { grep -qxF -- "$2" <(sed -E 's/^[^ ]+ gmd //' "$1"); }
check "gmd: the registration result" gline "$W/gmd-m2.log" "info [reg]: registered to keyid:log-in (1 SAs)"
check "gmd: the inband rekey applied, with its Message ID" \
	gline "$W/gmd-m2.log" "info [rekey]: group keyid:log-in: inband_rekey: message_id 0"
check "gmd: the exclusion (its IKE SA closed after the eviction)" \
	wait_for 10 gline "$W/gmd-m2.log" "warning [reg]: keyid:log-in: the GCKS closed the IKE SA that carried its rekeys: excluded, registering again"
check "gmd: registering again" \
	wait_for 10 gline "$W/gmd-m2.log" "info [rekey]: group keyid:log-in: reregistering: the GCKS closed the IKE SA that carried its rekeys"
kill "$m2pid" 2>/dev/null || true
wait "$m2pid" 2>/dev/null || true
rc=0
"$GMD" --gcks 127.0.0.1:1 --id keyid:m2 --psk-file "$W/keys/m2.psk" --group keyid:log-in --once \
	--log-level kernel=debug,ctl=info >"$W/gmdbad.out" 2>&1 || rc=$?
check "gmd --log-level: gcksd's ctl is not one of gmd's subsystems (exit 1, which are)" \
	test "$rc:$(cat "$W/gmdbad.out")" = "1:gmd: --log-level kernel=debug,ctl=info: ctl: not a subsystem (all, daemon, net, ike, reg, rekey, kernel)"
kill "$gpid"
wait "$gpid" 2>/dev/null || true
check "no secret in the log (the PSKs)" \
	bash -c 'for m in m1 m2 m3; do k=$(cut -c3- "$1/keys/$m.psk"); ! grep -qi "$k" "$1/gcksd.log" || exit 1; done' _ "$W"

# --- syslog, in a mount namespace with /dev/log of ours ---
if [ "$(id -u)" != 0 ] || ! unshare -m --propagation private true 2>/dev/null; then
	echo "ok - syslog target # SKIP needs root and mount namespaces"
else
	D=$W/dev
	mkdir -p "$D"
	touch "$D/null" "$D/urandom" "$D/random"
	python3 - "$D/log" "$W/syslog.out" <<'EOF' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], 'w') as out:
    while True:
        out.write(s.recv(4096).decode() + '\n')
        out.flush()
EOF
	pids+=($!)
	wait_for 5 test -S "$D/log" || not_ok "the syslog socket is bound"
	# syslog_gcksd LOG ARGS...: gcksd in its own mount namespace where /dev is $D
	syslog_gcksd() {
		local log=$1
		shift
		unshare -m --propagation private sh -c 'for f in null urandom random; do mount --bind /dev/$f "$0/$f"; done &&
			mount --rbind "$0" /dev && exec "$@"' "$D" "$GCKSD" --db "$DB" --listen "127.0.0.1:$(free_port)" \
			--foreground "$@" 2>"$W/$log" &
		spid=$!
		pids+=("$spid")
	}
	syslog_gcksd syslog1.log --log-target syslog
	check "gcksd --log-target syslog: 'gcksd ready' in syslog, facility daemon, notice, ident gcksd[PID]" \
		wait_for 15 grep -qE "^<29>.* gcksd\[$spid\]: \[daemon\] gcksd ready$" "$W/syslog.out"
	check "... an info line has priority <30> (LOG_DAEMON | LOG_INFO), [net]" \
		grep -qE "^<30>.* gcksd\[$spid\]: \[net\] listening on 127\.0\.0\.1:[0-9]+$" "$W/syslog.out"
	check "... and nothing on stderr" test ! -s "$W/syslog1.log"
	kill "$spid"
	wait "$spid" 2>/dev/null || true
	# without --log-target, stderr on /dev/null: syslog
	unshare -m --propagation private sh -c 'for f in null urandom random; do mount --bind /dev/$f "$0/$f"; done &&
		mount --rbind "$0" /dev && exec "$@" 2>/dev/null' "$D" "$GCKSD" --db "$DB" \
		--listen "127.0.0.1:$(free_port)" --foreground --log-level daemon=notice &
	spid=$!
	pids+=("$spid")
	check "gcksd with stderr on /dev/null and no --log-target: syslog" \
		wait_for 15 grep -qE "^<29>.* gcksd\[$spid\]: \[daemon\] gcksd ready$" "$W/syslog.out"
	kill "$spid"
	wait "$spid" 2>/dev/null || true
fi

sanitizer_check "no sanitizer report (gcksd, gmd)" "$W"/*.log
exit $((fails ? 1 : 0))
