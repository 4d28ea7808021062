/* bench_idle: hold N idle established connections and report resident size.
 *
 *   bench_idle --server [--tapir ...] [--port P] --count N
 *   bench_idle [--tapir ...] --count N [--hold S] HOST PORT
 *
 * The server listens on P (default 5003), prints "ready" and its resident
 * size (VmRSS, /proc/self/status) with no connection yet, accepts N
 * connections, waits half a second for things to settle, then prints
 *   result idle_conns=N  result idle_rss_base_kib=...  result idle_rss_kib=...
 *   result idle_per_conn_bytes=...   ((rss - base) / N)
 * and holds them until the client goes away (or its watchdog ends it).
 * The client opens N connections one after another and holds them for S
 * seconds (default 3) before closing them all.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/bench_net.h"

static void usage(FILE *f, const char *prog)
{
    fprintf(f, "usage: %s --server [options] [--port P] --count N\n"
               "       %s [options] --count N [--hold S] HOST PORT\n"
               "Hold N idle connections; the server prints its resident size.\n"
               BENCH_COMMON_USAGE, prog, prog);
}

static void sleep_s(double s)
{
    struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

static int run_server(const char *prog, unsigned long port, unsigned long count)
{
    int *fds = calloc(count, sizeof *fds);
    if (!fds)
        return 1;
    int l = bench_listen_on(prog, (uint16_t)port, 4096);
    if (l < 0)
        return 1;
    uint64_t base = bench_rss_kib();
    bench_ready();
    for (unsigned long k = 0; k < count; k++) {
        fds[k] = bn_accept(l, false);
        if (fds[k] < 0) {
            fprintf(stderr, "%s: accept %lu: %s\n", prog, k, strerror(errno));
            return 1;
        }
    }
    sleep_s(0.5);
    uint64_t rss = bench_rss_kib();
    bench_result("idle_conns", "%lu", count);
    bench_result("idle_rss_base_kib", "%llu", (unsigned long long)base);
    bench_result("idle_rss_kib", "%llu", (unsigned long long)rss);
    bench_result("idle_per_conn_bytes", "%.0f",
                 count ? (double)(rss > base ? rss - base : 0) * 1024.0 / (double)count : 0.0);
    /* Hold until the client closes the first connection (it closes all). */
    char b;
    while (bn_read(fds[0], &b, 1) < 0 && errno == EINTR) {
    }
    for (unsigned long k = 0; k < count; k++)
        bn_close(fds[k]);
    bn_close(l);
    free(fds);
    return 0;
}

static int run_client(const char *prog, const struct sockaddr_in *to, unsigned long count,
                      double hold)
{
    int *fds = calloc(count, sizeof *fds);
    if (!fds)
        return 1;
    for (unsigned long k = 0; k < count; k++) {
        fds[k] = bn_socket();
        if (fds[k] < 0 || bn_connect(fds[k], to) < 0) {
            fprintf(stderr, "%s: connection %lu: %s\n", prog, k, strerror(errno));
            return 1;
        }
    }
    bench_result("idle_client_conns", "%lu", count);
    sleep_s(hold);
    for (unsigned long k = 0; k < count; k++)
        bn_close(fds[k]);
    free(fds);
    return 0;
}

int main(int argc, char **argv)
{
    struct bench_opts o;
    bench_default_opts(&o);
    bool server = false;
    double hold = 3;
    unsigned long port = 5003, count = 0;
    const char *pos[2];
    int npos = 0;
    const struct bench_flag flags[] = {
        {"--server", BENCH_FLAG_BOOL, &server, 0, 0},
        {"--hold", BENCH_FLAG_DOUBLE, &hold, 0, 3600},
        {"--port", BENCH_FLAG_UINT, &port, 0, 65535},
        {"--count", BENCH_FLAG_UINT, &count, 0, 1000000},
        {NULL, BENCH_FLAG_BOOL, NULL, 0, 0},
    };
    int parsed = bench_parse_args(argc, argv, &o, flags, pos, 2, &npos, usage);
    if (parsed != 0)
        return parsed > 0 ? 0 : 2;
    struct sockaddr_in to;
    if (count == 0 || port == 0 ||
        (!server && (npos != 2 || bench_parse_addr(argv[0], pos[0], pos[1], &to) < 0))) {
        usage(stderr, argv[0]);
        return 2;
    }
    bench_raise_nofile();
    if (bench_start(argv[0], &o) < 0)
        return 1;
    int status = server ? run_server(argv[0], port, count) : run_client(argv[0], &to, count, hold);
    bench_stop();
    return status;
}
