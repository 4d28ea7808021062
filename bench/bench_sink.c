/* bench_sink: the receiving end of a bulk transfer.
 *
 *   bench_sink [--tapir ...] [--port P] [--count N] [--buf BYTES]
 *              [--idle N --idle-port Q]
 *
 * Listens on P (default 5001), prints "ready", then for each of N
 * connections (default 1) reads until EOF with reads of BYTES (default
 * 256 KiB) and closes. For each it prints
 *   result sink_bytes=...   result sink_seconds=...   result sink_mbps=...
 * timed from the first byte to EOF (MB = 10^6 bytes). A connection that
 * brings nothing for 5 s is reported as stalled and the program fails.
 *
 * With --idle N it first accepts N connections on port Q (from bench_idle's
 * client) and keeps them open, idle, during the bulk transfers: the cost of
 * a packet should not grow with the number of connections a stack holds.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bench_net.h"

static void usage(FILE *f, const char *prog)
{
    fprintf(f, "usage: %s [options] [--port P] [--count N] [--buf BYTES] [--idle N --idle-port Q]\n"
               "Accept N bulk connections and read each to EOF; print MB/s.\n"
               "--idle: first accept N connections on port Q and hold them, idle.\n"
               BENCH_COMMON_USAGE, prog);
}

int main(int argc, char **argv)
{
    struct bench_opts o;
    bench_default_opts(&o);
    unsigned long port = 5001, count = 1, bufsize = 256 * 1024, idle = 0, idle_port = 5004;
    int npos;
    const struct bench_flag flags[] = {
        {"--port", BENCH_FLAG_UINT, &port, 0, (double)(1ul << 30)},
        {"--count", BENCH_FLAG_UINT, &count, 0, (double)(1ul << 30)},
        {"--buf", BENCH_FLAG_UINT, &bufsize, 0, (double)(1ul << 30)},
        {"--idle", BENCH_FLAG_UINT, &idle, 0, (double)(1ul << 30)},
        {"--idle-port", BENCH_FLAG_UINT, &idle_port, 0, (double)(1ul << 30)},
        {NULL, BENCH_FLAG_BOOL, NULL, 0, 0},
    };
    int parsed = bench_parse_args(argc, argv, &o, flags, NULL, 0, &npos, usage);
    if (parsed != 0)
        return parsed > 0 ? 0 : 2;
    if (port == 0 || port > 65535 || bufsize == 0 || idle_port == 0 || idle_port > 65535 ||
        idle_port == port) {
        usage(stderr, argv[0]);
        return 2;
    }
    if (bench_start(argv[0], &o) < 0)
        return 1;
    char *buf = malloc(bufsize);
    bench_raise_nofile();
    int l = bench_listen_on(argv[0], (uint16_t)port, 16);
    int il = idle ? bench_listen_on(argv[0], (uint16_t)idle_port, 4096) : -1;
    int *idle_fds = idle ? calloc(idle, sizeof *idle_fds) : NULL;
    if (!buf || l < 0 || (idle && (il < 0 || !idle_fds)))
        return 1;
    bench_ready();
    for (unsigned long k = 0; k < idle; k++) {
        idle_fds[k] = bn_accept(il, false);
        if (idle_fds[k] < 0) {
            fprintf(stderr, "%s: accept idle %lu: %s\n", argv[0], k, strerror(errno));
            return 1;
        }
    }
    if (idle)
        bench_result("sink_idle_conns", "%lu", idle);
    int status = 0;
    for (unsigned long k = 0; k < count; k++) {
        int c = bn_accept(l, false);
        if (c < 0) {
            fprintf(stderr, "%s: accept: %s\n", argv[0], strerror(errno));
            status = 1;
            break;
        }
        bn_set_timeouts(c, 5);
        uint64_t bytes = 0, first = 0;
        for (;;) {
            ssize_t n = bn_read(c, buf, bufsize);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                fprintf(stderr, "%s: read: %s\n", argv[0],
                        errno == EAGAIN ? "nothing for 5 s (stalled)" : strerror(errno));
                bn_print_tcp_info(c, "connection");
                status = 1;
                break;
            }
            if (n == 0)
                break;
            if (bytes == 0)
                first = bench_now_ns();
            bytes += (uint64_t)n;
        }
        uint64_t end = bench_now_ns();
        bn_close(c);
        double secs = bytes ? (double)(end - first) / 1e9 : 0;
        bench_result("sink_bytes", "%llu", (unsigned long long)bytes);
        if (status != 0)
            break;          /* no figure: its time would include the stall */
        bench_result("sink_seconds", "%.3f", secs);
        bench_result("sink_mbps", "%.1f", secs > 0 ? (double)bytes / secs / 1e6 : 0.0);
    }
    for (unsigned long k = 0; k < idle; k++)
        bn_close(idle_fds[k]);
    if (il >= 0)
        bn_close(il);
    free(idle_fds);
    bn_close(l);
    free(buf);
    bench_stop();
    return status;
}
