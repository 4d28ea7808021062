/* bench_rr: request/response round-trip time, client and echo server.
 *
 *   bench_rr --server [--tapir ...] [--port P] [--ports N] [--max-conns N]
 *   bench_rr [--tapir ...] [--time S] [--size B] HOST PORT
 *
 * The server listens on ports P .. P+N-1 (default 5002, N 1), prints
 * "ready", and echoes whatever arrives on any number of connections (one
 * thread, epoll over all of them: a wake-up costs what is ready, not what is
 * open, in the kernel and in tapir alike), closing each at EOF. bench_connrate uses
 * it too. It runs until its --max-time watchdog or SIGTERM.
 *
 * The client connects (TCP_NODELAY), then for S seconds (default 2) writes a
 * B-byte request (default 64) and reads the B-byte answer, timing each
 * exchange; the first 1% (at most 1000) are a warm-up and not counted.
 * Prints result rr_count, rr_median_us, rr_p99_us, rr_mean_us.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bench_net.h"

#define RR_MAX_SAMPLES (4u << 20)

static void usage(FILE *f, const char *prog)
{
    fprintf(f, "usage: %s --server [options] [--port P] [--ports N] [--max-conns N]\n"
               "       %s [options] [--time S] [--size B] HOST PORT\n"
               "Echo server, or a request/response client that prints median/p99 RTT.\n"
               BENCH_COMMON_USAGE, prog, prog);
}

static volatile sig_atomic_t server_stop;
static void on_term(int sig) { (void)sig; server_stop = 1; }

/* Echo what c sent; false once c is finished (EOF or error). */
static bool echo_some(int c, char *buf, size_t cap)
{
    for (;;) {
        ssize_t n = bn_read(c, buf, cap);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return true;
        if (n <= 0)
            return false;
        if (bn_write_all(c, buf, (size_t)n) < 0)
            return false;
        if ((size_t)n < cap)
            return true;
    }
}

/* epoll data of a registration: the descriptor, and whether it listens. */
static uint64_t srv_key(int fd, bool listener) { return ((uint64_t)(uint32_t)fd << 1) | listener; }

static int run_server(const char *prog, unsigned long port, unsigned long ports,
                      unsigned long max_conns)
{
    static char buf[64 * 1024];
    int ep = bn_epoll_create();
    if (ep < 0) {
        fprintf(stderr, "%s: epoll_create: %s\n", prog, strerror(errno));
        return 1;
    }
    for (unsigned long k = 0; k < ports; k++) {
        int l = bench_listen_on(prog, (uint16_t)(port + k), 4096);
        if (l < 0)
            return 1;
        bn_set_nonblock(l, true);
        struct epoll_event ev = { .events = EPOLLIN, .data.u64 = srv_key(l, true) };
        if (bn_epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev) < 0) {
            fprintf(stderr, "%s: epoll_ctl: %s\n", prog, strerror(errno));
            return 1;
        }
    }
    unsigned long nconns = 0;
    signal(SIGTERM, on_term);
    bench_ready();
    struct epoll_event evs[64];
    while (!server_stop) {
        int r = bn_epoll_wait(ep, evs, 64, 200);
        if (r < 0 && errno != EINTR) {
            fprintf(stderr, "%s: epoll_wait: %s\n", prog, strerror(errno));
            return 1;
        }
        for (int i = 0; i < r; i++) {
            int fd = (int)(uint32_t)(evs[i].data.u64 >> 1);
            if (evs[i].data.u64 & 1) {
                int c;
                while (nconns < max_conns && (c = bn_accept(fd, true)) >= 0) {
                    bn_nodelay(c);
                    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = srv_key(c, false) };
                    if (bn_epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev) < 0) {
                        bn_close(c);
                        continue;
                    }
                    nconns++;
                }
                continue;
            }
            if (!echo_some(fd, buf, sizeof buf)) {
                bn_close(fd);          /* closing takes it out of the epoll set */
                nconns--;
            }
        }
    }
    /* The connections still open go with the process. */
    bn_close(ep);
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int run_client(const char *prog, const struct sockaddr_in *to, double duration,
                      unsigned long size)
{
    uint64_t *samples = malloc(RR_MAX_SAMPLES * sizeof *samples);
    char *req = malloc(size), *resp = malloc(size);
    if (!samples || !req || !resp)
        return 1;
    memset(req, 'r', size);
    int s = bn_socket();
    if (s < 0 || bn_connect(s, to) < 0) {
        fprintf(stderr, "%s: connect: %s\n", prog, strerror(errno));
        return 1;
    }
    bn_nodelay(s);
    uint64_t start = bench_now_ns(), stop = start + (uint64_t)(duration * 1e9);
    size_t count = 0;
    uint64_t now = start;
    while (now < stop && count < RR_MAX_SAMPLES) {
        if (bn_write_all(s, req, size) < 0 || bn_read_exact(s, resp, size) < 0) {
            fprintf(stderr, "%s: exchange %zu: %s\n", prog, count, strerror(errno));
            return 1;
        }
        uint64_t t = bench_now_ns();
        samples[count++] = t - now;
        now = t;
    }
    bn_close(s);
    size_t warm = count / 100 < 1000 ? count / 100 : 1000;
    size_t m = count - warm;
    if (m == 0) {
        fprintf(stderr, "%s: no exchange completed\n", prog);
        return 1;
    }
    uint64_t *v = samples + warm;
    double sum = 0;
    for (size_t k = 0; k < m; k++)
        sum += (double)v[k];
    qsort(v, m, sizeof *v, cmp_u64);
    bench_result("rr_count", "%zu", m);
    bench_result("rr_median_us", "%.2f", (double)v[m / 2] / 1e3);
    bench_result("rr_p99_us", "%.2f", (double)v[(m * 99) / 100] / 1e3);
    bench_result("rr_mean_us", "%.2f", sum / (double)m / 1e3);
    free(samples);
    free(req);
    free(resp);
    return 0;
}

int main(int argc, char **argv)
{
    struct bench_opts o;
    bench_default_opts(&o);
    bool server = false;
    double duration = 2;
    unsigned long port = 5002, ports = 1, max_conns = 20000, size = 64;
    const char *pos[2];
    int npos = 0;
    const struct bench_flag flags[] = {
        {"--server", BENCH_FLAG_BOOL, &server, 0, 0},
        {"--time", BENCH_FLAG_DOUBLE, &duration, 0.01, 3600},
        {"--port", BENCH_FLAG_UINT, &port, 0, 1000000},
        {"--ports", BENCH_FLAG_UINT, &ports, 0, 1000000},
        {"--max-conns", BENCH_FLAG_UINT, &max_conns, 0, 1000000},
        {"--size", BENCH_FLAG_UINT, &size, 0, 1000000},
        {NULL, BENCH_FLAG_BOOL, NULL, 0, 0},
    };
    int parsed = bench_parse_args(argc, argv, &o, flags, pos, 2, &npos, usage);
    if (parsed != 0)
        return parsed > 0 ? 0 : 2;
    if (port == 0 || ports == 0 || port + ports - 1 > 65535 || size == 0) {
        usage(stderr, argv[0]);
        return 2;
    }
    struct sockaddr_in to;
    if (!server && (npos != 2 || bench_parse_addr(argv[0], pos[0], pos[1], &to) < 0)) {
        usage(stderr, argv[0]);
        return 2;
    }
    bench_raise_nofile();
    if (bench_start(argv[0], &o) < 0)
        return 1;
    int status = server ? run_server(argv[0], port, ports, max_conns)
                        : run_client(argv[0], &to, duration, size);
    bench_stop();
    return status;
}
