/* Shared bench code (bench_net.h): kernel-or-tapir socket calls, pinning,
 * clocks, results. Bench programs are single-purpose processes, so the mode
 * lives in this file's state (src/core's no-globals rule is for the core). */
#include "common/bench_net.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "tapir/socket.h"

static struct {
    bool tapir;
    bool stats;
    tapir_stack *stack;
} bench_mode;

void bench_default_opts(struct bench_opts *o)
{
    memset(o, 0, sizeof *o);
    o->link.dev = "tap0";
    cli_parse_cidr("10.0.0.2/24", &o->link.ip, &o->link.prefix_len);
    o->link.have_ip = true;
    o->cpu = -1;
    o->stack_cpu = -1;
    o->max_time = 120;
}

const char *bench_opt_value(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        fprintf(stderr, "%s: option %s needs a value\n", argv[0], argv[*i]);
        return NULL;
    }
    *i += 1;
    return argv[*i];
}

static int parse_flag(int argc, char **argv, int *i, const struct bench_flag *f)
{
    if (f->kind == BENCH_FLAG_BOOL) {
        *(bool *)f->target = true;
        return 0;
    }
    const char *v = bench_opt_value(argc, argv, i);
    if (!v)
        return -1;
    switch (f->kind) {
    case BENCH_FLAG_UINT: {
        unsigned long n;
        if (bench_parse_uint(argv[0], f->name, v, (unsigned long)f->max, &n) < 0)
            return -1;
        if (n < (unsigned long)f->min) {
            fprintf(stderr, "%s: %s needs at least %.0f\n", argv[0], f->name, f->min);
            return -1;
        }
        *(unsigned long *)f->target = n;
        return 0;
    }
    case BENCH_FLAG_DOUBLE:
        return bench_parse_double(argv[0], f->name, v, f->min, f->max, f->target);
    case BENCH_FLAG_IPV4:
        if (inet_pton(AF_INET, v, f->target) != 1) {
            fprintf(stderr, "%s: %s needs an IPv4 address\n", argv[0], f->name);
            return -1;
        }
        return 0;
    default:
        return -1;
    }
}

int bench_parse_args(int argc, char **argv, struct bench_opts *o, const struct bench_flag *flags,
                     const char **pos, int max_pos, int *npos, void (*usage)(FILE *f, const char *prog))
{
    *npos = 0;
    for (int i = 1; i < argc;) {
        int rc = bench_parse_common_opt(argc, argv, &i, o);
        if (rc < 0)
            return -1;
        if (rc > 0)
            continue;
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout, argv[0]);
            return 1;
        }
        const struct bench_flag *f = flags;
        while (f->name && strcmp(f->name, a) != 0)
            f++;
        if (f->name) {
            if (parse_flag(argc, argv, &i, f) < 0)
                return -1;
        } else if (a[0] != '-' && *npos < max_pos) {
            pos[(*npos)++] = a;
        } else {
            usage(stderr, argv[0]);
            return -1;
        }
        i++;
    }
    return 0;
}

int bench_parse_double(const char *prog, const char *opt, const char *text, double min,
                       double max, double *out)
{
    char *end;
    double v = text ? strtod(text, &end) : 0;
    if (!text || end == text || *end || !(v >= min && v <= max)) {
        fprintf(stderr, "%s: %s needs a number from %g to %g\n", prog, opt, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

int bench_parse_uint(const char *prog, const char *opt, const char *text, unsigned long max,
                     unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = text ? strtoul(text, &end, 10) : 0;
    if (!text || end == text || errno || text[0] == '-' || v > max) {
        fprintf(stderr, "%s: %s needs a whole number up to %lu\n", prog, opt, max);
        return -1;
    }
    /* K/M/G suffixes for sizes. */
    if (*end == 'K' || *end == 'k') { v <<= 10; end++; }
    else if (*end == 'M') { v <<= 20; end++; }
    else if (*end == 'G') { v <<= 30; end++; }
    if (*end || v > max) {
        fprintf(stderr, "%s: %s needs a whole number up to %lu\n", prog, opt, max);
        return -1;
    }
    *out = v;
    return 0;
}

int bench_parse_common_opt(int argc, char **argv, int *i, struct bench_opts *o)
{
    const char *a = argv[*i];
    unsigned long v;
    if (strcmp(a, "--tapir") == 0 || strcmp(a, "--stats") == 0) {
        if (a[2] == 't')
            o->tapir = true;
        else
            o->stats = true;
        *i += 1;
        return 1;
    }
    if (strcmp(a, "--cpu") == 0 || strcmp(a, "--stack-cpu") == 0) {
        const char *t = bench_opt_value(argc, argv, i);
        if (!t || bench_parse_uint(argv[0], a, t, CPU_SETSIZE - 1, &v) < 0)
            return -1;
        if (a[2] == 'c')
            o->cpu = (int)v;
        else
            o->stack_cpu = (int)v;
        *i += 1;
        return 1;
    }
    if (strcmp(a, "--sndbuf") == 0 || strcmp(a, "--rcvbuf") == 0) {
        const char *t = bench_opt_value(argc, argv, i);
        if (!t || bench_parse_uint(argv[0], a, t, UINT32_MAX, &v) < 0)
            return -1;
        if (a[2] == 's')
            o->sndbuf = (uint32_t)v;
        else
            o->rcvbuf = (uint32_t)v;
        *i += 1;
        return 1;
    }
    if (strcmp(a, "--max-conns") == 0) {
        const char *t = bench_opt_value(argc, argv, i);
        if (!t || bench_parse_uint(argv[0], a, t, UINT32_MAX, &v) < 0)
            return -1;
        o->max_conns = (uint32_t)v;
        *i += 1;
        return 1;
    }
    if (strcmp(a, "--max-time") == 0) {
        const char *t = bench_opt_value(argc, argv, i);
        if (!t || bench_parse_double(argv[0], a, t, 1, 86400, &o->max_time) < 0)
            return -1;
        *i += 1;
        return 1;
    }
    return cli_parse_link_opt(argc, argv, i, &o->link);
}

int bench_pin_self(const char *prog, int cpu)
{
    if (cpu < 0)
        return 0;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) < 0) {
        fprintf(stderr, "%s: cannot pin to CPU %d: %s\n", prog, cpu, strerror(errno));
        return -1;
    }
    return 0;
}

int bench_start(const char *prog, const struct bench_opts *o)
{
    /* The watchdog: SIGALRM's default action ends the process. */
    alarm((unsigned)(o->max_time + 0.999));
    signal(SIGPIPE, SIG_IGN);
    bench_mode.tapir = o->tapir;
    bench_mode.stats = o->stats;
    if (o->tapir) {
        if (cli_check_link_opts(&o->link, prog) < 0)
            return -1;
        struct tapir_config cfg;
        tapir_config_init(&cfg);
        cli_apply_link_opts(&o->link, &cfg);
        if (o->sndbuf)
            cfg.tcp_sndbuf = o->sndbuf;
        if (o->rcvbuf)
            cfg.tcp_rcvbuf = o->rcvbuf;
        if (o->max_conns)
            cfg.tcp_max_connections = o->max_conns;
        struct tapir_dev *dev;
        if (cli_open_device(&o->link, &dev) < 0)
            return -1;
        /* The stack thread inherits the mask of the thread that starts it. */
        if (bench_pin_self(prog, o->stack_cpu >= 0 ? o->stack_cpu : o->cpu) < 0) {
            tapir_dev_destroy(dev);
            return -1;
        }
        int rc = tapir_stack_start(&cfg, dev, &bench_mode.stack);
        if (rc < 0) {
            fprintf(stderr, "%s: cannot start the stack: %s\n", prog, strerror(-rc));
            return -1;
        }
        if (o->cpu < 0 && o->stack_cpu >= 0) {
            /* Only the stack was to be pinned: free the main thread again. */
            cpu_set_t all;
            CPU_ZERO(&all);
            for (long c = 0; c < sysconf(_SC_NPROCESSORS_ONLN) && c < CPU_SETSIZE; c++)
                CPU_SET((int)c, &all);
            sched_setaffinity(0, sizeof all, &all);
        }
    }
    return bench_pin_self(prog, o->cpu);
}

/* Each thread's context switches, from /proc/self/task/TID/status. */
static void print_context_switches(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[300], line[256];
        snprintf(path, sizeof path, "/proc/self/task/%s/status", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        unsigned long long vol = 0, invol = 0;
        while (fgets(line, sizeof line, f)) {
            sscanf(line, "voluntary_ctxt_switches: %llu", &vol);
            sscanf(line, "nonvoluntary_ctxt_switches: %llu", &invol);
        }
        fclose(f);
        /* CPU time: utime and stime, fields 14 and 15 of stat, in ticks. */
        unsigned long long ut = 0, st = 0;
        snprintf(path, sizeof path, "/proc/self/task/%s/stat", e->d_name);
        f = fopen(path, "r");
        if (f) {
            char buf[1024];
            size_t n = fread(buf, 1, sizeof buf - 1, f);
            buf[n] = 0;
            const char *p = strrchr(buf, ')');   /* the name may hold spaces */
            if (p)
                sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st);
            fclose(f);
        }
        double hz = (double)sysconf(_SC_CLK_TCK);
        fprintf(stderr, "thread %s: %llu voluntary, %llu involuntary context switches, "
                "cpu %.2f s user %.2f s system\n",
                e->d_name, vol, invol, (double)ut / hz, (double)st / hz);
    }
    closedir(d);
}

void bench_stop(void)
{
    if (bench_mode.stats) {
        if (bench_mode.stack) {
            struct tapir_stats st;
            tapir_stack_snapshot_stats(bench_mode.stack, &st);
            cli_print_stats(stderr, &st);
            struct tapir_tx_thread_stats tx;
            if (tapir_stack_tx_thread_stats(bench_mode.stack, &tx) == 0)
                cli_print_tx_thread_stats(stderr, &tx);
        }
        print_context_switches();
    }
    if (bench_mode.stack)
        tapir_stack_stop(bench_mode.stack);
    bench_mode.stack = NULL;
}

bool bench_is_tapir(void) { return bench_mode.tapir; }
tapir_stack *bench_stack(void) { return bench_mode.stack; }

int bn_socket(void)
{
    return bench_mode.tapir ? tapir_socket(AF_INET, SOCK_STREAM, 0)
                            : socket(AF_INET, SOCK_STREAM, 0);
}

int bn_bind_any(int fd, uint16_t port)
{
    int one = 1;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    if (bench_mode.tapir) {
        tapir_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        return tapir_bind(fd, (struct sockaddr *)&a, sizeof a);
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    return bind(fd, (struct sockaddr *)&a, sizeof a);
}

int bn_listen(int fd, int backlog)
{
    return bench_mode.tapir ? tapir_listen(fd, backlog) : listen(fd, backlog);
}

int bn_accept(int fd, bool nonblock)
{
    int flags = nonblock ? SOCK_NONBLOCK : 0;
    return bench_mode.tapir ? tapir_accept4(fd, NULL, NULL, flags) : accept4(fd, NULL, NULL, flags);
}

int bn_connect(int fd, const struct sockaddr_in *to)
{
    return bench_mode.tapir ? tapir_connect(fd, (const struct sockaddr *)to, sizeof *to)
                            : connect(fd, (const struct sockaddr *)to, sizeof *to);
}

ssize_t bn_read(int fd, void *buf, size_t n)
{
    return bench_mode.tapir ? tapir_read(fd, buf, n) : read(fd, buf, n);
}

ssize_t bn_write(int fd, const void *buf, size_t n)
{
    return bench_mode.tapir ? tapir_write(fd, buf, n) : send(fd, buf, n, MSG_NOSIGNAL);
}

int bn_shutdown_wr(int fd)
{
    return bench_mode.tapir ? tapir_shutdown(fd, SHUT_WR) : shutdown(fd, SHUT_WR);
}

int bn_close(int fd)
{
    return bench_mode.tapir ? tapir_close(fd) : close(fd);
}

int bn_nodelay(int fd)
{
    int one = 1;
    return bench_mode.tapir ? tapir_setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one)
                            : setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

int bn_set_nonblock(int fd, bool on)
{
    int fl = bench_mode.tapir ? tapir_fcntl(fd, F_GETFL) : fcntl(fd, F_GETFL);
    if (fl < 0)
        return -1;
    fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
    return bench_mode.tapir ? tapir_fcntl(fd, F_SETFL, fl) : fcntl(fd, F_SETFL, fl);
}

int bn_set_timeouts(int fd, double seconds)
{
    struct timeval tv = { (time_t)seconds, (suseconds_t)((seconds - (double)(time_t)seconds) * 1e6) };
    for (int opt = 0; opt < 2; opt++) {
        int name = opt ? SO_RCVTIMEO : SO_SNDTIMEO;
        int rc = bench_mode.tapir ? tapir_setsockopt(fd, SOL_SOCKET, name, &tv, sizeof tv)
                                  : setsockopt(fd, SOL_SOCKET, name, &tv, sizeof tv);
        if (rc < 0)
            return -1;
    }
    return 0;
}

void bn_print_tcp_info(int fd, const char *why)
{
    if (!bench_mode.tapir)
        return;
    struct tapir_tcp_info ti;
    socklen_t len = sizeof ti;
    if (tapir_getsockopt(fd, IPPROTO_TCP, TAPIR_TCP_INFO, &ti, &len) < 0)
        return;
    fprintf(stderr,
            "%s: state %s rtt %u us rto %u us cwnd %u ssthresh %u snd_wnd %u rcv_wnd %u "
            "unacked %u retransmits %u total_retrans %llu sent %llu received %llu\n",
            why, tapir_tcp_state_name(ti.state), ti.rtt_us, ti.rto_us, ti.cwnd, ti.ssthresh,
            ti.snd_wnd, ti.rcv_wnd, ti.unacked, ti.retransmits,
            (unsigned long long)ti.total_retrans, (unsigned long long)ti.bytes_sent,
            (unsigned long long)ti.bytes_received);
}

int bn_poll(struct pollfd *fds, nfds_t n, int timeout_ms)
{
    return bench_mode.tapir ? tapir_poll(fds, n, timeout_ms) : poll(fds, n, timeout_ms);
}

int bn_epoll_create(void)
{
    return bench_mode.tapir ? tapir_epoll_create1(0) : epoll_create1(0);
}

int bn_epoll_ctl(int ep, int op, int fd, struct epoll_event *ev)
{
    return bench_mode.tapir ? tapir_epoll_ctl(ep, op, fd, ev) : epoll_ctl(ep, op, fd, ev);
}

int bn_epoll_wait(int ep, struct epoll_event *evs, int max, int timeout_ms)
{
    return bench_mode.tapir ? tapir_epoll_wait(ep, evs, max, timeout_ms)
                            : epoll_wait(ep, evs, max, timeout_ms);
}

int bn_write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = bn_write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN) {
            struct pollfd pf = { .fd = fd, .events = POLLOUT };
            bn_poll(&pf, 1, 1000);
            continue;
        }
        if (w < 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int bn_read_exact(int fd, void *buf, size_t n)
{
    char *p = buf;
    while (n > 0) {
        ssize_t r = bn_read(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno == EAGAIN) {
            struct pollfd pf = { .fd = fd, .events = POLLIN };
            bn_poll(&pf, 1, 1000);
            continue;
        }
        if (r == 0)
            errno = ECONNRESET;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

int bench_listen_on(const char *prog, uint16_t port, int backlog)
{
    int fd = bn_socket();
    if (fd < 0 || bn_bind_any(fd, port) < 0 || bn_listen(fd, backlog) < 0) {
        fprintf(stderr, "%s: cannot listen on port %u: %s\n", prog, port, strerror(errno));
        if (fd >= 0)
            bn_close(fd);
        return -1;
    }
    return fd;
}

int bench_parse_addr(const char *prog, const char *host, const char *port, struct sockaddr_in *out)
{
    unsigned long p;
    memset(out, 0, sizeof *out);
    out->sin_family = AF_INET;
    if (inet_pton(AF_INET, host, &out->sin_addr) != 1) {
        fprintf(stderr, "%s: '%s' is not an IPv4 address\n", prog, host);
        return -1;
    }
    if (bench_parse_uint(prog, "PORT", port, 65535, &p) < 0 || p == 0)
        return -1;
    out->sin_port = htons((uint16_t)p);
    return 0;
}

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t bench_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t bench_rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return 0;
    char line[256];
    unsigned long long kib = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %llu kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

void bench_raise_nofile(void)
{
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
        r.rlim_cur = r.rlim_max;
        setrlimit(RLIMIT_NOFILE, &r);
    }
}

void bench_result(const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("result %s=", key);
    vprintf(fmt, ap);
    printf("\n");
    fflush(stdout);
    va_end(ap);
}

void bench_ready(void)
{
    printf("ready\n");
    fflush(stdout);
}
