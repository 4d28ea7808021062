/* bench_core: the sans-IO core alone. Two stacks over a vlink on a virtual
 * clock, in one process, with no system call on the data path: stack A
 * sends BYTES (default 1 GiB) to stack B through the core API
 * (src/core/tcp_api.h), B reads it all and checks the pattern.
 *
 *   bench_core [--bytes N] [--delay-us D] [--chunk B]
 *
 * Prints
 *   result core_bytes=...  result core_cpu_seconds=...
 *   result core_bytes_per_cpu_sec=...  result core_mb_per_cpu_sec=...
 *   result core_virtual_seconds=...  result core_segments=...
 * CPU time is CLOCK_PROCESS_CPUTIME_ID around the transfer only. The
 * transfer is one function, core_transfer(), so that tools/bench can count
 * its instructions alone with callgrind --toggle-collect=core_transfer
 * (hardware counters are often missing in VMs, so perf stat cannot).
 *
 * The vlink device (src/dev/vlink.c) copies each frame into a malloc'd
 * holder: that cost is included, as a real device's copy would be.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bench_net.h"
#include "core/tcp_api.h"
#include "tapir/vlink.h"

struct core_bench {
    tapir_stack *a, *b;
    struct tapir_dev *da, *db;
    struct tcp_conn *tx, *rx, *listener;
    uint64_t total, sent, received;
    tapir_time_t now;
    size_t chunk;
    uint8_t *txbuf, *rxbuf;
    uint8_t frame[65536];
    uint64_t frames;
    bool corrupt;                 /* a received byte broke the pattern */
    bool debug;                   /* BENCH_CORE_DEBUG set: trace to stderr */
};

static int to_dev(void *ctx, const uint8_t *frame, size_t len)
{
    return tapir_dev_send(ctx, frame, len);
}

/* The byte at stream offset off is off mod PATTERN_PERIOD (a prime, so it
 * never lines up with segment sizes): data is checked, not just counted, with
 * one memcmp against a pattern buffer, cheap next to the stack's own work. */
#define PATTERN_PERIOD 251u

static bool deliver(struct core_bench *cb, struct tapir_dev *d, tapir_stack *s)
{
    bool any = false;
    long len;
    while ((len = tapir_dev_recv(d, cb->frame, sizeof cb->frame)) >= 0) {
        tapir_stack_input(s, cb->frame, (size_t)len, cb->now);
        cb->frames++;
        any = true;
    }
    return any;
}

static bool app_work(struct core_bench *cb)
{
    bool any = false;
    while (cb->tx && cb->sent < cb->total) {
        size_t want = cb->total - cb->sent < cb->chunk ? (size_t)(cb->total - cb->sent) : cb->chunk;
        long n = tcp_send(cb->tx, cb->txbuf + cb->sent % PATTERN_PERIOD, want);
        if (n <= 0)
            break;
        cb->sent += (uint64_t)n;
        any = true;
        if (cb->sent == cb->total)
            tcp_shutdown(cb->tx, false, true);
    }
    while (cb->rx) {
        long n = tcp_recv(cb->rx, cb->rxbuf, cb->chunk, false);
        if (n <= 0)
            break;
        if (memcmp(cb->rxbuf, cb->txbuf + cb->received % PATTERN_PERIOD, (size_t)n) != 0)
            cb->corrupt = true;
        cb->received += (uint64_t)n;
        any = true;
    }
    return any;
}

/* Accept as soon as the listener reports a completed connection, as the
 * socket layer does, so the receiver reads from the first segment on. */
static void on_ready(void *owner, struct tcp_conn *c, unsigned events)
{
    struct core_bench *cb = owner;
    if (cb && c == cb->listener && (events & TCP_EV_ACCEPTABLE) && !cb->rx)
        tcp_accept(c, &cb->rx);
}

static tapir_time_t tmin(tapir_time_t x, tapir_time_t y) { return x < y ? x : y; }

/* Run until B has received everything (true) or virtual time runs out. */
__attribute__((noinline)) bool core_transfer(struct core_bench *cb, tapir_time_t limit);
__attribute__((noinline)) bool core_transfer(struct core_bench *cb, tapir_time_t limit)
{
    unsigned steps = 0;
    while (cb->received < cb->total && !cb->corrupt) {
        tapir_vlink_set_time(cb->da, cb->now);
        bool any = deliver(cb, cb->da, cb->a);
        any |= deliver(cb, cb->db, cb->b);
        if (tapir_stack_next_deadline(cb->a) <= cb->now) {
            tapir_stack_poll(cb->a, cb->now);
            any = true;
        }
        if (tapir_stack_next_deadline(cb->b) <= cb->now) {
            tapir_stack_poll(cb->b, cb->now);
            any = true;
        }
        any |= app_work(cb);
        /* Bounded work per instant: a deadline that poll does not move would
         * otherwise spin here forever; nudge the clock instead. */
        if (any && ++steps < 1000000)
            continue;
        steps = 0;
        tapir_time_t next = tmin(tmin(tapir_vlink_next_delivery(cb->da), tapir_vlink_next_delivery(cb->db)),
                                 tmin(tapir_stack_next_deadline(cb->a), tapir_stack_next_deadline(cb->b)));
        if (cb->debug)
            fprintf(stderr, "now=%llu next=%llu tx=%s rx=%p\n", (unsigned long long)cb->now, (unsigned long long)next, tapir_tcp_state_name(tcp_state(cb->tx)), (void *)cb->rx);
        if (next == TAPIR_TIME_NEVER || next > limit)
            return false;
        cb->now = next > cb->now ? next : cb->now + 1;
    }
    return !cb->corrupt;
}

static void debug_state(void *ctx, const struct tapir_state_change *ch)
{
    fprintf(stderr, "[%s] port %u->%u %s -> %s (%s) t=%llu\n", (const char *)ctx, ch->local_port,
            ch->remote_port, tapir_tcp_state_name(ch->from), tapir_tcp_state_name(ch->to), ch->cause,
            (unsigned long long)ch->when);
}

static void print_conn(const char *who, const struct tcp_conn *c)
{
    if (!c)
        return;
    struct tapir_tcp_info ti;
    tcp_get_info(c, &ti);
    fprintf(stderr,
            "%s: state %s cwnd %u ssthresh %u snd_wnd %u rcv_wnd %u unacked %u rto %u us "
            "retransmits %u total_retrans %llu sent %llu received %llu\n",
            who, tapir_tcp_state_name(ti.state), ti.cwnd, ti.ssthresh, ti.snd_wnd, ti.rcv_wnd,
            ti.unacked, ti.rto_us, ti.retransmits, (unsigned long long)ti.total_retrans,
            (unsigned long long)ti.bytes_sent, (unsigned long long)ti.bytes_received);
}

static int make_stack(const char *ip, tapir_stack **out)
{
    struct tapir_config cfg;
    tapir_config_init(&cfg);
    cfg.random_seed = 42;
    cli_parse_cidr(ip, &cfg.addr, &cfg.prefix_len);
    return tapir_stack_create(&cfg, out);
}

static void usage(FILE *f, const char *prog)
{
    fprintf(f, "usage: %s [--bytes N] [--delay-us D] [--chunk B]\n"
               "Transfer N bytes (default 1G) between two stacks over a virtual vlink\n"
               "with one-way delay D us (default 10); print bytes per CPU-second.\n", prog);
}

int main(int argc, char **argv)
{
    unsigned long bytes = 1ul << 30, delay = 10, chunk = 64 * 1024;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        unsigned long *target = strcmp(a, "--bytes") == 0      ? &bytes
                                : strcmp(a, "--delay-us") == 0 ? &delay
                                : strcmp(a, "--chunk") == 0    ? &chunk
                                                               : NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout, argv[0]);
            return 0;
        }
        if (!target) {
            usage(stderr, argv[0]);
            return 2;
        }
        const char *v = bench_opt_value(argc, argv, &i);
        if (!v || bench_parse_uint(argv[0], a, v, 1ul << 40, target) < 0)
            return 2;
    }
    if (bytes == 0 || chunk == 0 || chunk > (1ul << 24)) {
        usage(stderr, argv[0]);
        return 2;
    }
    static struct core_bench cb;
    cb.total = bytes;
    cb.chunk = chunk;
    cb.txbuf = malloc(chunk + PATTERN_PERIOD);
    cb.rxbuf = malloc(chunk);
    struct tapir_vlink_params p;
    tapir_vlink_params_init(&p);
    p.seed = 1;
    p.delay = delay;
    for (size_t k = 0; cb.txbuf && k < chunk + PATTERN_PERIOD; k++)
        cb.txbuf[k] = (uint8_t)(k % PATTERN_PERIOD);
    if (!cb.txbuf || !cb.rxbuf || tapir_vlink_create(&p, &cb.da, &cb.db) < 0 ||
        make_stack("10.0.0.2/24", &cb.a) < 0 || make_stack("10.0.0.3/24", &cb.b) < 0) {
        fprintf(stderr, "%s: setup failed\n", argv[0]);
        return 1;
    }
    cb.debug = getenv("BENCH_CORE_DEBUG") != NULL;
    if (cb.debug) {
        tapir_stack_set_state_hook(cb.a, debug_state, "a");
        tapir_stack_set_state_hook(cb.b, debug_state, "b");
    }
    tapir_stack_set_output(cb.a, to_dev, cb.da);
    tapir_stack_set_output(cb.b, to_dev, cb.db);
    tapir_vlink_set_time(cb.da, 0);
    tapir_stack_link_up(cb.a, 0);
    tapir_stack_link_up(cb.b, 0);

    int err = 0;
    cb.listener = tcp_conn_new(cb.b, &err);
    cb.tx = tcp_conn_new(cb.a, &err);
    tcp_set_notify(cb.b, on_ready);
    if (cb.listener)
        tcp_set_owner(cb.listener, &cb);
    struct in_addr bip;
    cli_parse_ipv4("10.0.0.3", &bip);
    if (!cb.listener || !cb.tx || tcp_bind(cb.listener, 0, 5001) < 0 ||
        tcp_listen(cb.listener, 1) < 0 || tcp_connect(cb.tx, ntohl(bip.s_addr), 5001) != -EINPROGRESS) {
        fprintf(stderr, "%s: cannot set up the connection (%d)\n", argv[0], err);
        return 1;
    }
    uint64_t cpu0 = bench_cpu_ns();
    bool ok = core_transfer(&cb, TAPIR_SEC(100000));
    uint64_t cpu = bench_cpu_ns() - cpu0;
    if (!ok) {
        fprintf(stderr, "%s: transfer failed: %llu of %llu bytes received%s\n", argv[0],
                (unsigned long long)cb.received, (unsigned long long)cb.total,
                cb.corrupt ? " (data corrupted)" : "");
        print_conn("sender", cb.tx);
        fprintf(stderr, "sender: one more tcp_send gives %ld; events 0x%x; app sent %llu\n",
                tcp_send(cb.tx, cb.txbuf, 1), tcp_events(cb.tx), (unsigned long long)cb.sent);
        print_conn("receiver", cb.rx);
        return 1;
    }
    double secs = (double)cpu / 1e9;
    bench_result("core_bytes", "%llu", (unsigned long long)cb.received);
    bench_result("core_cpu_seconds", "%.3f", secs);
    bench_result("core_bytes_per_cpu_sec", "%.0f", (double)cb.received / secs);
    bench_result("core_mb_per_cpu_sec", "%.1f", (double)cb.received / secs / 1e6);
    bench_result("core_virtual_seconds", "%.6f", (double)cb.now / 1e6);
    bench_result("core_frames", "%llu", (unsigned long long)cb.frames);
    tcp_close(cb.tx);
    if (cb.rx)
        tcp_close(cb.rx);
    tcp_close(cb.listener);
    tapir_stack_destroy(cb.a);
    tapir_stack_destroy(cb.b);
    tapir_dev_destroy(cb.da);
    tapir_dev_destroy(cb.db);
    free(cb.txbuf);
    free(cb.rxbuf);
    return 0;
}
