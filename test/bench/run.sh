#!/usr/bin/env bash
# The registration benchmark behind `make bench` (README "Performance").
# Generates a group policy listing BENCH_MEMBERS members (PSK, one PSK file for all), loads it
# with gcksctl, starts gcksd on 127.0.0.1, and lets test/bench/bench_register register every
# member once, BENCH_CONCURRENCY at a time, from one libuv process, while perf samples gcksd.
# It prints registrations/s, gcksd's CPU time per registration over the whole load and for the
# first and the last 10,000 members, its resident memory per registered member; then
#   - the floor: test/bench/bench_floor, the GCKS side's irreducible crypto of one registration
#     with OpenSSL at its fastest, at the message sizes just seen, beside `openssl speed`'s own
#     figures for X25519, HMAC-SHA-256 and AES-256-GCM in the same run;
#   - gcksd CPU per registration / floor (target <= 1.3);
#   - where the rest goes: perf's samples of gcksd grouped by library and symbol (crypto,
#     SQLite, kernel network and storage I/O, allocation, logging, libuv, gcksd's own code),
#     in microseconds per registration.
#
#   make bench                          100,000 members (about 6 minutes on 2 cores, most of it
#                                       waiting for IKE SAs to time out), then the restart and
#                                       the inband scenarios (test/bench/restart.sh, inband.sh)
#   make bench BENCH_MEMBERS=20000 BENCH_SETTLE_SECONDS=0    a short run (under a minute)
#   make bench-register                 this script alone
# After the main run, two short ones: gcksd's default --cookie-rate (the cost of the COOKIE
# round) and gcksd --dh-reuse (below). The memory figures: gcksd's fixed part (VmRSS on an empty
# policy, measured first), per listed member at rest (the slope above the fixed part, and all
# in) and per open IKE SA (bench_register prints them and judges the targets on them).
#
# Knobs (environment or make variables): BENCH_MEMBERS (100000), BENCH_CONCURRENCY (128),
# BENCH_CRYPTO_SECONDS (3: bench_floor's loop; `openssl speed` runs 1 s per algorithm),
# BENCH_PERF (1: sample gcksd with perf when it works here; 0: not), BENCH_PERF_SYSCALLS (1:
# perf records call chains (frame pointers) and gcksd's kernel time is also given by system
# call; no difference in gcksd's CPU per registration was measurable, 0.295/0.307 ms without,
# 0.295/0.303 ms with, alternating; 0: no call chains),
# BENCH_SETTLE_SECONDS (140:
# after the first 10,000 members and at
# the end, wait up to this long for gcksd to close the registration IKE SAs: the policy's 60 s
# ike-idle-timeout, then the Delete, which the load generator's members (gone, like gmd --once)
# never answer, retransmitted for about 63 s before gcksd drops the SA; so the memory the members
# alone hold shows; 0 skips both waits),
# BENCH_LOG_LEVEL (gcksd --log-level, default info: one log line per registration, as in
# service), BENCH_GCKSD_ARGS (more gcksd options), BENCH_KEEP=1 keeps the work directory,
# BENCH_DB the store (default an SQLite file in the work directory),
# BENCH_COOKIE_RATE (1000000): gcksd's --cookie-rate in the main run, above the offered load, so
#   that no registration pays a COOKIE round (RFC 7296 2.6; printed, and the rounds seen are
#   counted); BENCH_COOKIE_MEMBERS (5000; 0 skips): a second, short run with gcksd's default
#   --cookie-rate, whose difference is the cost of the COOKIE defence in a registration burst;
# BENCH_DH_REUSE (64; 0 skips): a third, short run with gcksd --dh-reuse N (one X25519 private
#   value serves up to N IKE_SA_INIT responses, RFC 7296 2.12), against the floor of that
#   configuration (bench_floor --dh-reuse N); skipped with a line when gcksd has no --dh-reuse;
# BENCH_SHORT_MEMBERS (10000): the members of the DH reuse run.
# The load generator shares one X25519 key pair among its simulated members (bench_register
# --help): its CPU per registration is printed beside gcksd's.
set -euo pipefail
build=${1:?usage: run.sh BUILDDIR SRCDIR}
src=${2:?usage: run.sh BUILDDIR SRCDIR}
members=${BENCH_MEMBERS:-100000}
concurrency=${BENCH_CONCURRENCY:-128}
crypto_seconds=${BENCH_CRYPTO_SECONDS:-3}
use_perf=${BENCH_PERF:-1}
perf_syscalls=${BENCH_PERF_SYSCALLS:-1}
settle_seconds=${BENCH_SETTLE_SECONDS:-140}
log_level=${BENCH_LOG_LEVEL:-info}
cookie_rate=${BENCH_COOKIE_RATE:-1000000}
cookie_members=${BENCH_COOKIE_MEMBERS:-5000}
dh_reuse=${BENCH_DH_REUSE:-64}
short_members=${BENCH_SHORT_MEMBERS:-10000}
work=$(mktemp -d /tmp/gikev2-bench.XXXXXX)
gcksd_pid= perf_pid= perf_args=() short_pid=
cleanup() {
	if [ -n "$perf_pid" ]; then kill -INT "$perf_pid" 2>/dev/null || true; fi
	if [ -n "$gcksd_pid" ]; then kill "$gcksd_pid" 2>/dev/null || true; wait "$gcksd_pid" 2>/dev/null || true; fi
	if [ -n "$short_pid" ]; then kill "$short_pid" 2>/dev/null || true; wait "$short_pid" 2>/dev/null || true; fi
	if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "work directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
port=$(( 20000 + RANDOM % 20000 ))
# BENCH_DB: another store, e.g. an empty PostgreSQL database (postgresql://...; gcksctl init
# makes the schema there)
db=${BENCH_DB:-$work/gcks.db} ctl=$work/gcksd.sock

# One PSK for every member: a benchmark, not a deployment.
( umask 077; printf 'bench-%s\n' "$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')" > "$work/bench.psk" )
. "$src/test/bench/policy.sh"
# bench_policy FILE N: the benchmark's group listing members fqdn:gm-0 .. gm-N-1.bench.example
bench_policy() { policy "$1" keyid:bench-1 "$2" 0 multicast; }
bench_policy "$work/bench.yaml" "$members"

# wait_gone PID: bounded wait for a process this script started to end
wait_gone() {
	for _ in $(seq 300); do [ -d "/proc/$1" ] && [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" != Z ] || break; sleep 0.1; done
	kill -9 "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

# start_gcksd DB CTL LOG ARGS...: gcksd on 127.0.0.1:$port; sets short_pid; returns when its
# control socket is there
start_gcksd() {
	local sdb=$1 sctl=$2 slog=$3
	shift 3
	"$build/gcks/gcksd" --db "$sdb" --listen "127.0.0.1:$port" --control "$sctl" --log-level "$log_level" \
		--foreground "$@" ${BENCH_GCKSD_ARGS:-} 2>"$slog" &
	short_pid=$!
	for _ in $(seq 600); do [ -S "$sctl" ] && return 0; kill -0 "$short_pid" 2>/dev/null || break; sleep 0.1; done
	echo "gcksd did not start:"; tail -n 20 "$slog"; exit 1
}

# The main run's gcksd gets --cookie-rate above the offered load, unless BENCH_GCKSD_ARGS sets one
main_args=()
case " ${BENCH_GCKSD_ARGS:-} " in
*" --cookie-rate "*) cookie_note="BENCH_GCKSD_ARGS sets gcksd's --cookie-rate" ;;
*) main_args=(--cookie-rate "$cookie_rate")
   cookie_note="none expected (gcksd --cookie-rate $cookie_rate, above the offered load; the rounds seen are counted below)" ;;
esac

echo "== gcksctl init, policy load of $members members"
"$build/gcks/gcksctl" --db "$db" init --id fqdn:gcks.example >/dev/null
# the fixed part of gcksd's memory: gcksd on this store before any policy is loaded
start_gcksd "$db" "$ctl" "$work/gcksd-empty.log" "${main_args[@]}"
rss_empty=$(awk '/^VmRSS:/ { print $2 }' "/proc/$short_pid/status")
kill "$short_pid" 2>/dev/null || true
wait_gone "$short_pid"
short_pid=
rm -f "$ctl"
echo "gcksd on an empty policy: VmRSS $rss_empty kB (the fixed part)"
t0=$(date +%s.%N)
"$build/gcks/gcksctl" --db "$db" --control "$ctl" policy load "$work/bench.yaml" 2>&1 | grep -v 'not running' || true
t1=$(date +%s.%N)
awk -v a="$t0" -v b="$t1" -v n="$members" -v k="$(( $(stat -c %s "$work/bench.yaml") / 1024 ))" \
	'BEGIN { printf "policy load: %.2f s for %d members (%d KiB of YAML)\n", b - a, n, k }'

echo "== gcksd on 127.0.0.1:$port (log level $log_level${main_args[*]:+, ${main_args[*]}})"
echo "COOKIE rounds in this run: $cookie_note"
start_gcksd "$db" "$ctl" "$work/gcksd.log" "${main_args[@]}"
gcksd_pid=$short_pid short_pid=

# perf works here when it can sample a software clock of a process (no hardware counters
# needed: virtual machines often have none)
if [ "$use_perf" = 1 ] && command -v perf >/dev/null 2>&1 &&
	timeout 20 perf record -q -e cpu-clock -o "$work/perf.probe" -- true >/dev/null 2>&1; then
	# started with sampling off; bench_register switches it on for the load alone
	mkfifo "$work/perf.ctl"
	# BENCH_PERF_SYSCALLS=1: kernel call chains (frame pointers), to charge the kernel's time to
	# the system call that spent it
	callgraph=()
	[ "$perf_syscalls" = 1 ] && callgraph=(--call-graph fp)
	perf record -q -e cpu-clock -F 1999 "${callgraph[@]}" -D -1 --control "fifo:$work/perf.ctl" -p "$gcksd_pid" \
		-o "$work/perf.data" >"$work/perf.log" 2>&1 &
	perf_pid=$!
	perf_args=(--perf-ctl "$work/perf.ctl")
else
	[ "$use_perf" = 1 ] && echo "perf cannot sample here: no breakdown of gcksd's time (BENCH_PERF=0 to skip the try)"
fi

echo "== bench_register"
rc=0
"$build/test/bench/bench_register" --gcks "127.0.0.1:$port" --pid "$gcksd_pid" --control "$ctl" \
	--psk-file "$work/bench.psk" --members "$members" --concurrency "$concurrency" \
	--settle-seconds "$settle_seconds" --rss-empty "$rss_empty" "${perf_args[@]}" | tee "$work/register.out" || rc=$?
if [ -n "$perf_pid" ]; then
	kill -INT "$perf_pid" 2>/dev/null || true
	# perf writes its file on SIGINT; bounded: it never takes long for one process
	for _ in $(seq 300); do [ -d "/proc/$perf_pid" ] || break; sleep 0.1; done
	perf_pid=
fi
if [ "$rc" != 0 ]; then
	echo "== last lines of the gcksd log"
	tail -n 20 "$work/gcksd.log"
	exit "$rc"
fi
# the runs below (the floor, the short runs) have the CPU to themselves
kill "$gcksd_pid" 2>/dev/null || true
wait_gone "$gcksd_pid"
gcksd_pid=

# ---- the floor, measured now, at the sizes the registrations had ----
sizes=$(awk '/^message sizes:/ { gsub(/[^0-9 \/]/, " "); print; exit }' "$work/register.out")
read -r init_req init_resp auth_req auth_resp id_i psk_len <<<"$(echo "$sizes" | tr '/' ' ' | awk '{ print $1, $2, $3, $4, $5, $6 }')"
echo
echo "== the floor: bench_floor (OpenSSL at its fastest) and openssl speed, $crypto_seconds s"
"$build/test/bench/bench_floor" --seconds "$crypto_seconds" --init-req "$init_req" --init-resp "$init_resp" \
	--auth-req "$auth_req" --auth-resp "$auth_resp" --id-i "$id_i" --id-r 16 --psk "$psk_len" | tee "$work/floor.out"
gcm_len=$(awk '/^speed aes-256-gcm-/ { sub(/^speed aes-256-gcm-/, ""); sub(/:.*/, ""); print }' "$work/floor.out")
# openssl speed -mr: "+F5:...:OPS/S:S/OP" for ECDH, "+F:N:NAME:BYTES/S" per block size
speed_x=$(openssl speed -mr -seconds 1 ecdhx25519 2>/dev/null | awk -F: '/^\+F5:/ && $4 > 0 { printf "%.2f", 1e6 / $4 }')
speed_h=$(openssl speed -mr -seconds 1 -bytes 64 -hmac sha256 2>/dev/null | awk -F: '/^\+F:/ && $4 > 0 { printf "%.3f", 64e6 / $4 }')
speed_g=$(openssl speed -mr -seconds 1 -bytes "$gcm_len" -aead -evp aes-256-gcm 2>/dev/null |
	awk -F: -v n="$gcm_len" '/^\+F:/ && $4 > 0 { printf "%.3f", n * 1e6 / $4 }')
awk -v x="${speed_x:-?}" -v h="${speed_h:-?}" -v g="${speed_g:-?}" -v n="$gcm_len" '
	/^speed x25519:/ { printf "X25519 derivation:        bench_floor %8s us, openssl speed ecdhx25519 %8s us\n", $3, x }
	/^speed hmac-sha256-64:/ { printf "HMAC-SHA-256, 64 octets:  bench_floor %8s us, openssl speed -hmac sha256 %6s us\n", $3, h }
	/^speed aes-256-gcm-/ { printf "AES-256-GCM, %4d octets: bench_floor %8s us, openssl speed -aead %13s us\n", n, $3, g }' "$work/floor.out"

floor_us=$(awk '/^floor:/ { print $2; exit }' "$work/floor.out")
cpu_ms=$(awk '/^gcksd CPU per registration:/ { print $5; exit }' "$work/register.out")
echo
ratio() { # LABEL CPU_MS FLOOR_US
	awk -v l="$1" -v c="$2" -v f="$3" 'BEGIN {
		r = c * 1000 / f
		printf "gcksd CPU per registration / floor%s: %.1f us / %.1f us = %.2f (target <= 1.3)  %s\n", l, c * 1000, f, r,
			r <= 1.3 ? "met" : "MISSED" }'
}
ratio "" "$cpu_ms" "$floor_us"

# ---- where the rest goes ----
if [ -s "$work/perf.data" ]; then
	echo
	echo "== gcksd's time by category (perf, cpu-clock samples of gcksd during the load; us per registration at $cpu_ms ms)"
	perf report -i "$work/perf.data" --no-children --sort dso,sym --stdio -q -g none 2>/dev/null |
		awk -v c="$cpu_ms" -v f="$floor_us" -f "$src/test/bench/categories.awk" -f "$src/test/bench/perf_categories.awk"
	if [ "$perf_syscalls" = 1 ]; then
		echo
		echo "== gcksd's kernel time by system call (perf call chains: time inside each __x64_sys_ entry, us per registration)"
		# --children: a syscall entry's share holds everything the kernel did under it,
		# including the loopback receiver's softirq that a send runs
		perf report -i "$work/perf.data" --children --sort sym --stdio -q -g none 2>/dev/null |
			awk -v c="$cpu_ms" '
			# the entry of a call is __x64_sys_NAME, or, where the compiler made it a tail call,
			# __sys_NAME, __do_sys_NAME or ksys_NAME: the largest share of these
			$1 ~ /%$/ && $NF ~ /^(__x64_sys_|__ia32_sys_|__do_sys_|__sys_|ksys_)/ {
				p = $1; sub(/%/, "", p); s = $NF; sub(/^(__x64_sys_|__ia32_sys_|__do_sys_|__sys_|ksys_)/, "", s)
				if (p + 0 > pct[s] + 0) pct[s] = p
			}
			$NF == "do_syscall_64" && $1 ~ /%$/ { all = $1; sub(/%/, "", all) }
			END {
				printf "%f   %-20s %5.1f %%  %6.1f us\n", all, "(all system calls)", all, all / 100 * c * 1000
				for (s in pct) if (pct[s] >= 0.2) printf "%f   %-20s %5.1f %%  %6.1f us\n", pct[s], s, pct[s], pct[s] / 100 * c * 1000
			}' | sort -rn | cut -d' ' -f2-
	fi
fi

# short_run NAME N ARGS...: N members (at most $members) registered against a fresh gcksd
# with ARGS, on a store of their own; its bench_register output in $work/NAME.out
short_run() {
	local name=$1 n=$2
	shift 2
	[ "$n" -le "$members" ] || n=$members
	local sdb=$work/$name.db sctl=$work/$name.sock
	bench_policy "$work/$name.yaml" "$n"
	"$build/gcks/gcksctl" --db "$sdb" init --id fqdn:gcks.example >/dev/null
	"$build/gcks/gcksctl" --db "$sdb" --control "$sctl" policy load "$work/$name.yaml" 2>&1 | grep -v 'not running' >/dev/null || true
	start_gcksd "$sdb" "$sctl" "$work/$name.log" "$@"
	local src_rc=0
	"$build/test/bench/bench_register" --gcks "127.0.0.1:$port" --pid "$short_pid" --control "$sctl" \
		--psk-file "$work/bench.psk" --members "$n" --concurrency "$concurrency" --settle-seconds 0 \
		>"$work/$name.out" || src_rc=$?
	kill "$short_pid" 2>/dev/null || true
	wait_gone "$short_pid"
	short_pid=
	grep -E '^(registrations|COOKIE|gcksd CPU per registration|load generator CPU)' "$work/$name.out" | sed 's/^/  /'
	return "$src_rc"
}
cpu_of() { awk '/^gcksd CPU per registration:/ { print $5; exit }' "$1"; }
rate_of() { awk '/^registrations\/s:/ { print $2; exit }' "$1"; }

# ---- the COOKIE defence: gcksd's default --cookie-rate ----
if [ "$cookie_members" -gt 0 ] && [ -z "${main_args[*]}" ]; then
	echo
	echo "== COOKIE defence: not measured (BENCH_GCKSD_ARGS sets --cookie-rate)"
elif [ "$cookie_members" -gt 0 ]; then
	echo
	echo "== COOKIE defence: $(( cookie_members < members ? cookie_members : members )) members against gcksd's default --cookie-rate"
	if short_run cookie "$cookie_members"; then
		awk -v c0="$cpu_ms" -v c1="$(cpu_of "$work/cookie.out")" -v r0="$(awk '/^registrations\/s:/ { print $2; exit }' "$work/register.out")" \
			-v r1="$(rate_of "$work/cookie.out")" 'BEGIN {
			printf "cost of the COOKIE round at the default --cookie-rate: %+.1f us of gcksd CPU per registration (%.1f us against %.1f us), %.0f registrations/s against %.0f\n",
				(c1 - c0) * 1000, c1 * 1000, c0 * 1000, r1, r0
			print "(timed, so noisy on a shared machine; in instructions: make bench-profile PROFILE_GCKSD_ARGS=\"--cookie-rate 0\")" }'
	else
		echo "COOKIE run: some registrations failed"
		rc=1
	fi
fi

# ---- DH reuse (RFC 7296 2.12): gcksd --dh-reuse N against the floor of that configuration ----
if [ "$dh_reuse" -gt 0 ]; then
	echo
	if ! "$build/gcks/gcksd" --help 2>&1 | grep -q -- '--dh-reuse'; then
		echo "== DH reuse: skipped (this gcksd has no --dh-reuse)"
	else
		echo "== DH reuse: $(( short_members < members ? short_members : members )) members against gcksd --dh-reuse $dh_reuse"
		if short_run dhreuse "$short_members" "${main_args[@]}" --dh-reuse "$dh_reuse"; then
			"$build/test/bench/bench_floor" --seconds "$crypto_seconds" --init-req "$init_req" --init-resp "$init_resp" \
				--auth-req "$auth_req" --auth-resp "$auth_resp" --id-i "$id_i" --id-r 16 --psk "$psk_len" \
				--dh-reuse "$dh_reuse" > "$work/floor-dhreuse.out"
			grep -E '^floor: |^floor part: X25519 key pair' "$work/floor-dhreuse.out" | sed 's/^/  /'
			ratio " with --dh-reuse $dh_reuse" "$(cpu_of "$work/dhreuse.out")" "$(awk '/^floor:/ { print $2; exit }' "$work/floor-dhreuse.out")"
		else
			echo "DH reuse run: some registrations failed"
			rc=1
		fi
	fi
fi
exit "$rc"
