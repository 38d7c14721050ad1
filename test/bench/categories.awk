# cat_of(DSO, SYMBOL): the category of gcksd's time a function belongs to, by the object it
# lives in and its name. Shared by perf_categories.awk (perf's samples, make bench) and
# profile.sh (callgrind's instruction counts, make bench-profile): awk -f categories.awk -f ...
function cat_of(dso, sym) {
	if (dso ~ /^libcrypto/) return "crypto: libcrypto"
	if (dso ~ /^libssl/) return "crypto: libcrypto"
	if (dso ~ /^libsqlite3/) return "storage: SQLite"
	if (dso ~ /^libpq/) return "storage: libpq"
	if (dso ~ /kernel/) {
		# SQLite takes and releases its POSIX advisory locks with fcntl around every
		# transaction (several per registration); getpid is OpenSSL's fork check (RAND,
		# once per call into the DRBG)
		if (sym ~ /fcntl|posix_lock|locks_|flock|lock_file|do_lock/)
			return "kernel: SQLite's file locks (fcntl)"
		if (sym ~ /getpid|task_pid/)
			return "kernel: getpid (OpenSSL's fork check)"
		if (sym ~ /entry_SYSCALL|do_syscall|syscall_exit|syscall_return|syscall_enter|exit_to_user|__x64_sys_|x64_sys_call/)
			return "kernel: syscall entry/exit"
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
		if (sym ~ /fcntl|pwrite|pread|fsync|fdatasync/)
			return "storage: libc stubs (SQLite's fcntl, pwrite)"
		if (sym ~ /getpid/)
			return "libc: getpid (OpenSSL's fork check)"
		return "libc: other (syscall stubs, ...)"
	}
	if (dso ~ /^libsystemd|^liblzma|^libzstd|^liblz4|^libgcrypt/) return "logging: journal"
	if (dso ~ /^libuv/) return "event loop: libuv"
	if (dso ~ /^gcksd/) {
		if (sym ~ /^gk_v?logs?($|_)/ && sym !~ /keylog/) return "logging: gcksd's log functions"
		return "gcksd: its own code"
	}
	if (dso ~ /^bench_register/) return "load generator: its own code, the member core"
	return "other: " dso
}
