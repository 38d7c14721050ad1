# Groups `perf report --no-children --sort dso,sym --stdio -q` lines of gcksd into what a
# registration's time goes to (test/bench/run.sh). Input lines: "PCT%  DSO  [.|k]  SYMBOL".
# Variables: c = gcksd CPU per registration in ms, f = the floor in us (bench_floor).
# Each line is counted by its own samples (self time): what libcrypto does for SQLite, or the
# kernel for a write, is counted under libcrypto or the kernel.
function cat_of(dso, sym) {
	if (dso ~ /^libcrypto/) return "crypto: libcrypto"
	if (dso ~ /^libssl/) return "crypto: libcrypto"
	if (dso ~ /^libsqlite3/) return "storage: SQLite"
	if (dso ~ /^libpq/) return "storage: libpq"
	if (dso ~ /kernel/) {
		if (sym ~ /ext4|jbd2|fsync|pwrite|pread|vfs_|file|iomap|blk|block|page_cache|folio|generic_perform_write|xfs|btrfs|overlay/)
			return "kernel: storage I/O (pwrite, fsync)"
		if (sym ~ /udp|ip_|ip6|sock|skb|net_|netif|__dev|inet|loopback|napi|recv|send|csum|nf_|dst_/)
			return "kernel: UDP send/receive"
		if (sym ~ /finish_task_switch|schedule|irq|softirq|hrtimer|tick|rcu|idle/)
			return "kernel: scheduling, interrupts (shared machine)"
		return "kernel: syscalls, other"
	}
	if (dso ~ /^libc[.-]/ || dso ~ /^libc$/) {
		if (sym ~ /malloc|free|calloc|realloc|_int_|tcache|arena|unlink_chunk|brk|sysmalloc|mmap|munmap|memalign/)
			return "libc: allocation (malloc/free)"
		if (sym ~ /printf|_IO_|strftime|localtime|tz|__offtime|fputs|fwrite|fflush|__strchrnul|__printf_fp/)
			return "logging: formatting (libc stdio)"
		if (sym ~ /pthread_|rwlock|mutex|futex/)
			return "libc: locks (pthread; mostly OpenSSL's)"
		if (sym ~ /^__?mem|^mem|^__?str|^str/)
			return "libc: memset/memcpy/string"
		return "libc: other (syscall stubs, ...)"
	}
	if (dso ~ /^libsystemd|^liblzma|^libzstd|^liblz4|^libgcrypt/) return "logging: journal"
	if (dso ~ /^libuv/) return "event loop: libuv"
	if (dso ~ /^gcksd/) {
		if (sym ~ /^gk_v?logs?($|_)/ && sym !~ /keylog/) return "logging: gcksd's log functions"
		return "gcksd: its own code"
	}
	return "other: " dso
}
/%/ {
	pct = $1; sub(/%/, "", pct)
	sym = ""
	for (i = 4; i <= NF; i++) sym = sym (i > 4 ? " " : "") $i
	k = cat_of($2, sym)
	share[k] += pct; total += pct
	if (!(k in top) || pct > toppct[k]) { top[k] = sym; toppct[k] = pct }
}
END {
	if (total <= 0) { print "perf: no samples of gcksd"; exit }
	n = 0
	for (k in share) keys[++n] = k
	# by share, largest first
	for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (share[keys[j]] > share[keys[i]]) { t = keys[i]; keys[i] = keys[j]; keys[j] = t }
	for (i = 1; i <= n; i++) {
		k = keys[i]
		printf "  %-48s %5.1f %%  %6.1f us   (top: %s)\n", k, share[k], share[k] / total * c * 1000, substr(top[k], 1, 40)
	}
	crypto = share["crypto: libcrypto"] / total * c * 1000
	printf "  crypto overhead = libcrypto time - floor: %.1f us - %.1f us = %.1f us per registration\n", crypto, f, crypto - f
}
