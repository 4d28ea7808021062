/* bench_source: the sending end of a bulk transfer, limited by time.
 *
 *   bench_source [--tapir ...] [--time S] [--max-bytes N] [--buf BYTES] HOST PORT
 *
 * Connects, writes BYTES-sized chunks (default 256 KiB) for S seconds
 * (default 10) or until N bytes are queued (--max-bytes; default no limit),
 * then shuts its side down and waits for the sink to close,
 * so everything counted has arrived. Prints
 *   result source_bytes=...  result source_seconds=...  result source_mbps=...
 * timed from the connection's establishment to the sink's close (MB = 10^6).
 * A transfer that makes no progress for 5 s is reported as stalled (with
 * tapir's view of the connection) and the program fails.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bench_net.h"

static void usage(FILE *f, const char *prog)
{
    fprintf(f, "usage: %s [options] [--time S] [--max-bytes N] [--buf BYTES] HOST PORT\n"
               "Send to HOST:PORT for S seconds (default 10); print MB/s.\n"
               BENCH_COMMON_USAGE, prog);
}

int main(int argc, char **argv)
{
    struct bench_opts o;
    bench_default_opts(&o);
    double duration = 10;
    unsigned long bufsize = 256 * 1024, max_bytes = 0;
    const char *pos[2];
    int npos = 0;
    const struct bench_flag flags[] = {
        {"--time", BENCH_FLAG_DOUBLE, &duration, 0.01, 3600},
        {"--max-bytes", BENCH_FLAG_UINT, &max_bytes, 0, (double)(1ul << 50)},
        {"--buf", BENCH_FLAG_UINT, &bufsize, 1, (double)(1ul << 30)},
        {NULL, BENCH_FLAG_BOOL, NULL, 0, 0},
    };
    int parsed = bench_parse_args(argc, argv, &o, flags, pos, 2, &npos, usage);
    if (parsed != 0)
        return parsed > 0 ? 0 : 2;
    struct sockaddr_in to;
    if (npos != 2 || bench_parse_addr(argv[0], pos[0], pos[1], &to) < 0) {
        usage(stderr, argv[0]);
        return 2;
    }
    if (bench_start(argv[0], &o) < 0)
        return 1;
    char *buf = malloc(bufsize);
    if (!buf)
        return 1;
    memset(buf, 'x', bufsize);
    int s = bn_socket();
    if (s < 0 || bn_connect(s, &to) < 0) {
        fprintf(stderr, "%s: connect to %s:%s: %s\n", argv[0], pos[0], pos[1], strerror(errno));
        return 1;
    }
    bn_set_timeouts(s, 5);
    uint64_t start = bench_now_ns();
    uint64_t stop = start + (uint64_t)(duration * 1e9);
    uint64_t bytes = 0;
    int status = 0;
    while (bench_now_ns() < stop && (max_bytes == 0 || bytes < max_bytes)) {
        size_t want = bufsize;
        if (max_bytes && max_bytes - bytes < want)
            want = (size_t)(max_bytes - bytes);
        ssize_t n = bn_write(s, buf, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fprintf(stderr, "%s: write: %s\n", argv[0],
                    errno == EAGAIN ? "no progress for 5 s (stalled)" : strerror(errno));
            bn_print_tcp_info(s, "connection");
            status = 1;
            break;
        }
        bytes += (uint64_t)n;
    }
    /* Wait for the sink's close: then every byte counted has been read. */
    if (status == 0 && bn_shutdown_wr(s) == 0) {
        for (;;) {
            ssize_t n = bn_read(s, buf, bufsize);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && errno == EAGAIN) {
                fprintf(stderr, "%s: the sink did not close within 5 s of the end\n", argv[0]);
                bn_print_tcp_info(s, "connection");
                status = 1;
            }
            if (n <= 0)
                break;
        }
    }
    uint64_t end = bench_now_ns();
    bn_close(s);
    double secs = (double)(end - start) / 1e9;
    /* A failed transfer gives no figure: its time includes the stall. */
    bench_result("source_bytes", "%llu", (unsigned long long)bytes);
    if (status == 0) {
        bench_result("source_seconds", "%.3f", secs);
        bench_result("source_mbps", "%.1f", (double)bytes / secs / 1e6);
    }
    free(buf);
    bench_stop();
    return status;
}
