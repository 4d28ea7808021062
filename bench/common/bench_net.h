/* What every bench program shares: one set of socket calls that go either to
 * the Linux kernel (plain sockets) or to a tapir stack of the program's own
 * on a TAP device, chosen by --tapir, so both sides of a comparison run the
 * same code; CPU pinning; clocks; and the "result key=value" output that
 * tools/bench parses.
 *
 * Options every program accepts (bench_parse_common_opt):
 *   --tapir            use a tapir stack (with the link options of
 *                      examples/common/cli.h: --dev tap0 --ip 10.0.0.2/24 ...)
 *   --cpu N            pin the program's own thread to CPU N
 *   --stack-cpu N      pin tapir's stack thread to CPU N (default: --cpu)
 *   --sndbuf B --rcvbuf B   tapir's per-connection buffers (config defaults)
 *   --max-conns N      tapir's tcp_max_connections (TIME_WAIT included)
 *   --max-time S       a watchdog: the process ends after S seconds whatever
 *                      happens (default 120), so no run can hang a script
 *
 * Pinning tapir's stack thread: the runtime offers no call for it, but a
 * thread starts with its creator's CPU mask, so bench_start() pins the main
 * thread to --stack-cpu, starts the stack (its thread inherits the mask),
 * then pins the main thread to --cpu.
 */
#ifndef TAPIR_BENCH_NET_H
#define TAPIR_BENCH_NET_H

#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "common/cli.h"
#include "tapir/tapir.h"

struct bench_opts {
    bool tapir;
    struct cli_link_opts link;
    int cpu;                 /* -1: not pinned */
    int stack_cpu;           /* -1: as cpu */
    uint32_t sndbuf, rcvbuf; /* 0: config default */
    uint32_t max_conns;      /* 0: config default */
    double max_time;
    bool stats;              /* --stats: counters and context switches at the end */
};

#define BENCH_COMMON_USAGE \
    "  --tapir           use a tapir stack on a TAP device instead of the kernel\n" \
    CLI_LINK_USAGE \
    "  --cpu N           pin this program's thread to CPU N\n" \
    "  --stack-cpu N     pin tapir's stack thread to CPU N (default: --cpu)\n" \
    "  --sndbuf BYTES    tapir send buffer per connection\n" \
    "  --rcvbuf BYTES    tapir receive buffer per connection\n" \
    "  --max-conns N     tapir connections at most, TIME_WAIT included\n" \
    "  --max-time S      end the process after S seconds at most (default 120)\n" \
    "  --stats           at the end, print tapir's counters and each thread's\n" \
    "                    context switches to stderr (for diagnosis)\n"

void bench_default_opts(struct bench_opts *o);
/* 1 if argv[*i] was a common option (consumed), 0 if not, -1 on error. */
int bench_parse_common_opt(int argc, char **argv, int *i, struct bench_opts *o);
/* Arm the watchdog, open the device and start the stack (--tapir), pin.
 * 0, or -1 with a message. */
int bench_start(const char *prog, const struct bench_opts *o);
/* Print the --stats report (if asked), then stop the stack (if any). */
void bench_stop(void);
bool bench_is_tapir(void);
tapir_stack *bench_stack(void);

/* The socket calls, kernel or tapir. Same contract as POSIX (-1 + errno). */
int bn_socket(void);                           /* AF_INET, SOCK_STREAM */
int bn_bind_any(int fd, uint16_t port);        /* INADDR_ANY:port, SO_REUSEADDR */
int bn_listen(int fd, int backlog);
int bn_accept(int fd, bool nonblock);
int bn_connect(int fd, const struct sockaddr_in *to);
ssize_t bn_read(int fd, void *buf, size_t n);
ssize_t bn_write(int fd, const void *buf, size_t n);
int bn_shutdown_wr(int fd);
int bn_close(int fd);
int bn_nodelay(int fd);
int bn_set_nonblock(int fd, bool on);
/* SO_SNDTIMEO and SO_RCVTIMEO: a blocking call that makes no progress for
 * this long fails with EAGAIN (a stalled transfer is reported, not waited on). */
int bn_set_timeouts(int fd, double seconds);
/* Print what the stack knows of a tapir connection (TAPIR_TCP_INFO) to
 * stderr, after `why`; nothing for kernel sockets. */
void bn_print_tcp_info(int fd, const char *why);
int bn_poll(struct pollfd *fds, nfds_t n, int timeout_ms);
/* epoll(7) on the kernel's or tapir's descriptors (tapir_epoll_*). */
int bn_epoll_create(void);
int bn_epoll_ctl(int ep, int op, int fd, struct epoll_event *ev);
int bn_epoll_wait(int ep, struct epoll_event *evs, int max, int timeout_ms);
/* Write all n bytes (waiting on EAGAIN); 0 or -1. */
int bn_write_all(int fd, const void *buf, size_t n);
/* Read exactly n bytes; 0, or -1 (error or early EOF, errno ECONNRESET). */
int bn_read_exact(int fd, void *buf, size_t n);

/* A server socket listening on port with a backlog; -1 with a message. */
int bench_listen_on(const char *prog, uint16_t port, int backlog);
/* "10.0.0.1" + port into a sockaddr; -1 with a message. */
int bench_parse_addr(const char *prog, const char *host, const char *port, struct sockaddr_in *out);

/* Monotonic nanoseconds. */
uint64_t bench_now_ns(void);
/* Process CPU time in nanoseconds (CLOCK_PROCESS_CPUTIME_ID). */
uint64_t bench_cpu_ns(void);
/* VmRSS of this process in KiB from /proc/self/status; 0 if unknown. */
uint64_t bench_rss_kib(void);
/* Pin the calling thread to cpu (-1: no-op). 0 or -1 with a message. */
int bench_pin_self(const char *prog, int cpu);
/* Raise RLIMIT_NOFILE's soft limit to its hard limit (many kernel sockets). */
void bench_raise_nofile(void);

/* Numbers from the command line: -1 with a message when out of range. */
int bench_parse_double(const char *prog, const char *opt, const char *text, double min,
                       double max, double *out);
int bench_parse_uint(const char *prog, const char *opt, const char *text, unsigned long max,
                     unsigned long *out);
/* The value of option argv[*i] (advancing *i), or NULL with a message. */
const char *bench_opt_value(int argc, char **argv, int *i);

/* A program's own options, for bench_parse_args(). A table ends with a
 * NULL name. */
enum bench_flag_kind {
    BENCH_FLAG_BOOL,        /* bool *: set when present */
    BENCH_FLAG_UINT,        /* unsigned long *: in [min, max], K/M/G suffixes */
    BENCH_FLAG_DOUBLE,      /* double *: in [min, max] */
    BENCH_FLAG_IPV4,        /* struct in_addr * */
};
struct bench_flag {
    const char *name;
    enum bench_flag_kind kind;
    void *target;
    double min, max;
};
/* Parse the command line: the options every program takes
 * (bench_parse_common_opt), -h/--help, the program's flags, and at most
 * max_pos positional arguments into pos (*npos counts them). Returns 0 when
 * parsed, 1 after printing the help to stdout, -1 on an error (said on
 * stderr, with the usage for an unknown option). */
int bench_parse_args(int argc, char **argv, struct bench_opts *o, const struct bench_flag *flags,
                     const char **pos, int max_pos, int *npos, void (*usage)(FILE *f, const char *prog));

/* Print "result key=value" on stdout (flushed), the line tools/bench reads. */
void bench_result(const char *key, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print "ready" on stdout (flushed): a server listens. */
void bench_ready(void);

#endif
