/* What the benchmarks read about gcksd from outside: /proc (CPU time, memory), the system's UDP
 * counters and gcksd's control socket (gcks/CONTROL.md). None of it is in the protocol path. */
#ifndef GK_BENCH_UTIL_H
#define GK_BENCH_UTIL_H
#include <stddef.h>
#include <time.h>

/* Seconds on clock c (CLOCK_MONOTONIC, CLOCK_THREAD_CPUTIME_ID, ...). */
double bench_now(clockid_t c);
/* utime + stime of process pid in seconds, -1 when it is gone. */
double bench_proc_cpu(int pid);
/* A "Vm...:" line of /proc/PID/status (field "VmRSS", "VmHWM"), in kB; -1 when absent. */
long bench_proc_kb(int pid, const char *field);
/* The system's UDP RcvbufErrors counter (datagrams dropped for a full receive buffer), -1 if
 * unknown. */
long bench_udp_rcvbuf_errors(void);
/* Sends one request line (without "\n") to the control socket at path and reads the one-line
 * answer into buf; 0 on success, -1 when there is no answer. */
int bench_control(const char *path, const char *request, char *buf, size_t len);
/* The first integer after "KEY": in a JSON text, or dflt. */
long bench_json_long(const char *json, const char *key, long dflt);
#endif
