/* bench_connrate: connections per second against an echo server (bench_rr
 * --server).
 *
 *   bench_connrate [--tapir ...] [--time S] [--echo] [--batch N]
 *                  [--ports N] [--src-base A.B.C.D --srcs M]
 *                  [--first-batch K] [--parallel P] HOST PORT
 *
 * One connection after another for S seconds (default 2): connect, then
 * close (or, with --echo, write 1 byte, read the 1-byte echo, then close).
 * The client closes first, so each connection leaves a TIME_WAIT entry on
 * the client's side. So that those do not distort the figure (a client runs
 * out of ephemeral ports for one destination, or its lookups slow down), the
 * connections go in batches of at most N (default and maximum 5000), and
 * each batch uses a 4-tuple space of its own: batch b goes to port
 * PORT + (K + b) mod NPORTS (the server listening on NPORTS ports) and, with
 * --src-base, from source address A.B.C.D + (K + b) mod M (addresses the
 * client's interface must have; kernel mode only). A TIME_WAIT entry blocks
 * only its own 4-tuple. Source addresses are the cheaper way: a server
 * polling many listeners pays for each of them on every wake-up. Prints
 *   result conn_count=...  result conn_seconds=...  result conn_per_sec=...
 *   result conn_batches=... (the caller adds it to K for the next run)
 *   result conn_client_rss_kib=... (this process's resident size at the end)
 *
 * --parallel P (kernel sockets only): keep P connections in progress at
 * once (non-blocking connect, epoll), as a load generator does, instead of
 * one after another. One after another, each connection waits for its
 * round trips, so the figure is mostly the client's wake-up latency; with
 * several in progress it is the server's capacity.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bench_net.h"

#define CONNRATE_MAX_BATCH 5000

static void usage(FILE *f, const char *prog)
{
    fprintf(f, "usage: %s [options] [--time S] [--echo] [--batch N] [--ports N]\n"
               "          [--src-base A.B.C.D --srcs M] [--first-batch K] HOST PORT\n"
               "Open and close connections for S seconds; print connections per second.\n"
               BENCH_COMMON_USAGE, prog);
}

/* One connection: 0, or -1 with errno. */
static int one_connection(const struct sockaddr_in *from, const struct sockaddr_in *to, bool echo)
{
    int s = bn_socket();
    if (s < 0)
        return -1;
    int rc = 0;
    if (from) {
        /* Pick the port at connect(), per 4-tuple, not at bind(). */
        int one = 1;
        setsockopt(s, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        rc = bind(s, (const struct sockaddr *)from, sizeof *from);
    }
    if (rc == 0)
        rc = bn_connect(s, to);
    if (rc == 0 && echo) {
        char b = 'e';
        rc = bn_write_all(s, &b, 1);
        if (rc == 0)
            rc = bn_read_exact(s, &b, 1);
    }
    int saved = errno;
    bn_close(s);
    errno = saved;
    return rc;
}

/* ---- --parallel: P connections in progress at once (kernel sockets) ---- */
struct conn_slot {
    int fd;
    bool echoing;                   /* connected, 1 byte written, awaiting it */
};

struct parallel_run {
    int ep;
    bool echo;
    struct sockaddr_in to, from;
    bool use_from;
    unsigned long started, done;
};

/* Start a connection in slot k: 0, or -1 with errno. */
static int slot_start(struct parallel_run *r, struct conn_slot *sl, uint32_t k)
{
    sl->echoing = false;
    sl->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (sl->fd < 0)
        return -1;
    if (r->use_from) {
        int one = 1;
        setsockopt(sl->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(sl->fd, (const struct sockaddr *)&r->from, sizeof r->from) < 0)
            return -1;
    }
    if (connect(sl->fd, (const struct sockaddr *)&r->to, sizeof r->to) < 0 && errno != EINPROGRESS)
        return -1;
    struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = k};
    if (epoll_ctl(r->ep, EPOLL_CTL_ADD, sl->fd, &ev) < 0)
        return -1;
    r->started++;
    return 0;
}

/* An event on slot sl: 1 when the connection is over (closed), 0 when it
 * goes on, -1 with errno on failure. */
static int slot_event(struct parallel_run *r, struct conn_slot *sl, uint32_t k)
{
    if (!sl->echoing) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(sl->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
            errno = err ? err : errno;
            return -1;
        }
        if (!r->echo) {
            close(sl->fd);
            return 1;
        }
        char b = 'e';
        if (write(sl->fd, &b, 1) != 1)
            return -1;
        sl->echoing = true;
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = k};
        return epoll_ctl(r->ep, EPOLL_CTL_MOD, sl->fd, &ev) < 0 ? -1 : 0;
    }
    char b;
    ssize_t n = read(sl->fd, &b, 1);
    if (n < 0 && errno == EAGAIN)
        return 0;
    if (n != 1) {
        if (n == 0)
            errno = ECONNRESET;
        return -1;
    }
    close(sl->fd);
    return 1;
}

/* Connections completed in --parallel mode until `stop`; *batches counts the
 * batches begun. -1 with errno on a failed connection. */
static long run_parallel(struct sockaddr_in to, uint16_t base, unsigned long ports, struct in_addr src_base,
                         unsigned long srcs, unsigned long first, unsigned long batch, unsigned long parallel,
                         bool echo, uint64_t stop, unsigned long *batches)
{
    struct parallel_run r = {.echo = echo, .use_from = srcs > 0, .to = to};
    r.from.sin_family = AF_INET;
    r.ep = epoll_create1(0);
    struct conn_slot *slots = calloc(parallel, sizeof *slots);
    uint32_t *free_slots = calloc(parallel, sizeof *free_slots);
    long rc = -1;
    if (r.ep < 0 || !slots || !free_slots)
        goto out;
    unsigned long in_batch = batch, count = 0;
    uint32_t nfree = (uint32_t)parallel;
    for (uint32_t k = 0; k < parallel; k++) {
        slots[k].fd = -1;
        free_slots[k] = (uint32_t)parallel - 1 - k;
    }
    for (;;) {
        /* Start connections in the free slots while there is time. */
        while (nfree > 0 && bench_now_ns() < stop) {
            if (in_batch == batch) {
                r.to.sin_port = htons((uint16_t)(base + (first + *batches) % ports));
                if (srcs)
                    r.from.sin_addr.s_addr = htonl(ntohl(src_base.s_addr) + (uint32_t)((first + *batches) % srcs));
                (*batches)++;
                in_batch = 0;
            }
            uint32_t k = free_slots[--nfree];
            if (slot_start(&r, &slots[k], k) < 0)
                goto out;
            in_batch++;
        }
        if (bench_now_ns() >= stop)
            break;
        struct epoll_event evs[64];
        int n = epoll_wait(r.ep, evs, 64, 100);
        if (n < 0 && errno != EINTR)
            goto out;
        for (int i = 0; i < n; i++) {
            uint32_t k = evs[i].data.u32;
            int e = slot_event(&r, &slots[k], k);
            if (e < 0)
                goto out;
            if (e == 1) {               /* over, its descriptor closed */
                count++;
                slots[k].fd = -1;
                free_slots[nfree++] = k;
            }
        }
    }
    rc = (long)count;
out:;
    int saved = errno;
    for (uint32_t k = 0; slots && k < parallel; k++)
        if (slots[k].fd >= 0)
            close(slots[k].fd);
    if (r.ep >= 0)
        close(r.ep);
    free(slots);
    free(free_slots);
    errno = saved;
    return rc;
}

int main(int argc, char **argv)
{
    struct bench_opts o;
    bench_default_opts(&o);
    double duration = 2;
    bool echo = false;
    unsigned long batch = CONNRATE_MAX_BATCH, ports = 1, first = 0, srcs = 0, parallel = 1;
    struct in_addr src_base = { 0 };
    const char *pos[2];
    int npos = 0;
    const struct bench_flag flags[] = {
        {"--src-base", BENCH_FLAG_IPV4, &src_base, 0, 0},
        {"--echo", BENCH_FLAG_BOOL, &echo, 0, 0},
        {"--time", BENCH_FLAG_DOUBLE, &duration, 0.01, 3600},
        {"--batch", BENCH_FLAG_UINT, &batch, 0, 100000000},
        {"--ports", BENCH_FLAG_UINT, &ports, 0, 100000000},
        {"--first-batch", BENCH_FLAG_UINT, &first, 0, 100000000},
        {"--srcs", BENCH_FLAG_UINT, &srcs, 0, 100000000},
        {"--parallel", BENCH_FLAG_UINT, &parallel, 1, 1024},
        {NULL, BENCH_FLAG_BOOL, NULL, 0, 0},
    };
    int parsed = bench_parse_args(argc, argv, &o, flags, pos, 2, &npos, usage);
    if (parsed != 0)
        return parsed > 0 ? 0 : 2;
    struct sockaddr_in to;
    if (npos != 2 || bench_parse_addr(argv[0], pos[0], pos[1], &to) < 0 || batch == 0 ||
        batch > CONNRATE_MAX_BATCH || ports == 0 || ntohs(to.sin_port) + ports - 1 > 65535 ||
        (srcs > 0) != (src_base.s_addr != 0) || (srcs > 0 && o.tapir) || srcs > 65536 ||
        (parallel > 1 && o.tapir)) {
        usage(stderr, argv[0]);
        return 2;
    }
    if (bench_start(argv[0], &o) < 0)
        return 1;
    uint16_t base = ntohs(to.sin_port);
    uint64_t start = bench_now_ns(), stop = start + (uint64_t)(duration * 1e9);
    unsigned long count = 0, batches = 0;
    int status = 0;
    if (parallel > 1) {
        long n = run_parallel(to, base, ports, src_base, srcs, first, batch, parallel, echo, stop, &batches);
        if (n < 0) {
            fprintf(stderr, "%s: a connection failed: %s\n", argv[0], strerror(errno));
            status = 1;
        } else {
            count = (unsigned long)n;
        }
    }
    while (status == 0 && parallel == 1 && bench_now_ns() < stop) {
        to.sin_port = htons((uint16_t)(base + (first + batches) % ports));
        struct sockaddr_in from = { .sin_family = AF_INET };
        if (srcs)
            from.sin_addr.s_addr = htonl(ntohl(src_base.s_addr) + (uint32_t)((first + batches) % srcs));
        batches++;
        for (unsigned long k = 0; k < batch; k++) {
            if (one_connection(srcs ? &from : NULL, &to, echo) < 0) {
                fprintf(stderr, "%s: connection %lu: %s\n", argv[0], count, strerror(errno));
                status = 1;
                break;
            }
            count++;
            /* The clock is read every 64 connections: cheap, and precise enough. */
            if ((count & 63) == 0 && bench_now_ns() >= stop)
                break;
        }
    }
    double secs = (double)(bench_now_ns() - start) / 1e9;
    bench_result("conn_count", "%lu", count);
    bench_result("conn_seconds", "%.3f", secs);
    bench_result("conn_per_sec", "%.0f", (double)count / secs);
    bench_result("conn_batches", "%lu", batches);
    /* For a tapir client this includes its TIME_WAIT entries (one per
     * connection it closed in the last 2*MSL). */
    bench_result("conn_client_rss_kib", "%llu", (unsigned long long)bench_rss_kib());
    bench_stop();
    return status;
}
