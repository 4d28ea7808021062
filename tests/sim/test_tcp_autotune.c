/* Buffer sizes that follow the bandwidth-delay product (src/core/tcp_autotune.c),
 * two stacks over vlink with an 8 MiB maximum for both buffers:
 * - a greedy transfer on a long link (RTT 50 ms): the window starts at
 *   64 KiB and grows to megabytes within a few RTTs, so the transfer runs
 *   far faster than with the window held at its start;
 * - a sender that writes one segment every 10 ms on the same link: the
 *   window and the send limit stay at their initial 64 KiB, and the memory
 *   held at what a few segments need;
 * - sizes set by the application (as SO_RCVBUF/SO_SNDBUF) are used as
 *   they are, from the start. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/tcp_api.h"
#include "core/tcp_conn.h"
#include "harness.h"
#include "tcpsim.h"

#define MIB (1024u * 1024u)
#define KIB 1024u
#define PORT 5301
#define MAXBUF (8 * MIB)

static void big_buffers(struct tapir_config *cfg) { cfg->tcp_sndbuf = cfg->tcp_rcvbuf = MAXBUF; }

struct run {
    struct tcpsim_pair p;
    struct tcp_conn *a, *b, *listener;
    uint64_t to_send, sent, received;
    uint32_t peak_wnd;              /* largest window B announced, as A saw it */
    uint32_t first_wnd;             /* A's view of B's window once data flowed */
    uint32_t peak_sndlimit, peak_sndalloc, peak_rcvalloc, peak_rcvlimit;
    bool mismatch;
};

static void start(struct run *r, bool fixed_sizes)
{
    memset(r, 0, sizeof *r);
    struct tapir_vlink_params vp;
    tapir_vlink_params_init(&vp);
    vp.seed = 7;
    vp.delay = TAPIR_MSEC(25);
    tcpsim_pair_start(&r->p, &vp, 99, big_buffers, NULL);
    int err;
    r->listener = tcp_conn_new(r->p.b.s, &err);
    r->a = tcp_conn_new(r->p.a.s, &err);
    ck_assert_ptr_nonnull(r->listener);
    ck_assert_ptr_nonnull(r->a);
    if (fixed_sizes) {
        ck_assert_int_eq(tcp_set_bufsizes(r->listener, MAXBUF, MAXBUF), 0);
        ck_assert_int_eq(tcp_set_bufsizes(r->a, MAXBUF, MAXBUF), 0);
    }
    ck_assert_int_eq(tcp_bind(r->listener, 0, PORT), 0);
    ck_assert_int_eq(tcp_listen(r->listener, 4), 0);
    ck_assert_int_eq(tcp_connect(r->a, TCPSIM_IP_B, PORT), -EINPROGRESS);
}

static void finish(struct run *r)
{
    if (r->a)
        tcp_abort(r->a);
    if (r->b)
        tcp_abort(r->b);
    if (r->listener)
        tcp_close(r->listener);
    tcpsim_pair_free(&r->p);
}

/* Queue up to `allowance` more pattern bytes at A; read and check all B has. */
static void pump(struct run *r, uint64_t allowance)
{
    tcpsim_sync(&r->p);
    if (!r->b && tcp_accept(r->listener, &r->b) == 0) {
        tcp_close(r->listener);
        r->listener = NULL;
    }
    static uint8_t buf[256 * KIB];
    uint64_t left = r->to_send - r->sent;
    uint64_t limit = r->sent + (allowance < left ? allowance : left);
    while (r->sent < limit) {
        size_t n = limit - r->sent < sizeof buf ? (size_t)(limit - r->sent) : sizeof buf;
        tcpsim_pattern_fill(1, r->sent, buf, n);
        long k = tcp_send(r->a, buf, n);
        if (k <= 0)
            break;
        r->sent += (uint64_t)k;
    }
    if (r->b) {
        for (;;) {
            long k = tcp_recv(r->b, buf, sizeof buf, false);
            if (k <= 0)
                break;
            for (long i = 0; i < k; i++)
                if (buf[i] != tcpsim_pattern_byte(1, r->received + (uint64_t)i))
                    r->mismatch = true;
            r->received += (uint64_t)k;
        }
    }
    struct tapir_tcp_info ia, ib;
    tcp_get_info(r->a, &ia);
    if (ia.snd_wnd > r->peak_wnd)
        r->peak_wnd = ia.snd_wnd;
    if (!r->first_wnd && ia.bytes_sent > 0)
        r->first_wnd = ia.snd_wnd;
    if (ia.sndbuf_limit > r->peak_sndlimit)
        r->peak_sndlimit = ia.sndbuf_limit;
    if (ia.sndbuf_alloc > r->peak_sndalloc)
        r->peak_sndalloc = ia.sndbuf_alloc;
    if (r->b) {
        tcp_get_info(r->b, &ib);
        if (ib.rcvbuf_alloc > r->peak_rcvalloc)
            r->peak_rcvalloc = ib.rcvbuf_alloc;
        if (ib.rcvwnd_limit > r->peak_rcvlimit)
            r->peak_rcvlimit = ib.rcvwnd_limit;
    }
}

static bool greedy_step(struct sim *sim, void *ctx)
{
    (void)sim;
    struct run *r = ctx;
    pump(r, UINT64_MAX);
    return r->mismatch || r->received == r->to_send;
}

/* Seconds of virtual time for a greedy transfer of `bytes`. */
static double greedy(struct run *r, uint64_t bytes, bool fixed_sizes)
{
    start(r, fixed_sizes);
    r->to_send = bytes;
    tapir_time_t t0 = sim_now(r->p.sim);
    ck_assert(sim_run_until(r->p.sim, greedy_step, r, t0 + TAPIR_SEC(600)));
    ck_assert(!r->mismatch);
    return (double)(sim_now(r->p.sim) - t0) / 1e6;
}

START_TEST(window_grows_with_the_bdp_on_a_long_link)
{
    struct run r;
    double t = greedy(&r, 64 * MIB, false);
    struct tapir_stats st;
    tapir_stack_get_stats(r.p.b.s, &st);
    printf("autotuned: 64 MiB over RTT 50 ms in %.2f s; first window %u, peak window %u, "
           "peak send limit %u, peak receive memory %u, windows grown %llu\n",
           t, r.first_wnd, r.peak_wnd, r.peak_sndlimit, r.peak_rcvalloc,
           (unsigned long long)st.tcp_rcvwin_grown);
    ck_assert_uint_le(r.first_wnd, TCP_BUF_INITIAL);    /* starts small */
    ck_assert_uint_ge(r.peak_wnd, 2 * MIB);             /* grows to megabytes */
    ck_assert_uint_le(r.peak_wnd, MAXBUF);              /* never past the maximum */
    ck_assert_uint_ge(r.peak_sndlimit, 2 * MIB);        /* the send side follows cwnd */
    ck_assert_uint_le(r.peak_sndlimit, MAXBUF);
    ck_assert_uint_gt(st.tcp_rcvwin_grown, 3);
    finish(&r);

    /* A window held at its initial 64 KiB moves at most 64 KiB per 50 ms
     * RTT (1.3 MB/s): over 51 s for 64 MiB. */
    double fixed_window_time = (64.0 * MIB) / (64.0 * KIB / 0.05);
    ck_assert_msg(t < fixed_window_time / 10, "autotuned took %.2f s; a 64 KiB window needs %.1f s", t,
                  fixed_window_time);
}
END_TEST

static bool paced_done(struct sim *sim, void *ctx)
{
    (void)sim;
    (void)ctx;
    return false;
}

START_TEST(buffers_stay_small_for_a_slow_sender)
{
    struct run r;
    start(&r, false);
    r.to_send = UINT64_MAX;
    /* One 1448-byte segment every 10 ms for 5 s: 145 KB/s, 7.2 KB per 50 ms
     * RTT, which even the initial congestion window carries. */
    for (uint64_t ms = 0; ms < 5000; ms++) {
        pump(&r, ms % 10 == 0 ? 1448 * (ms / 10 + 1) - r.sent : 0);
        sim_run_until(r.p.sim, paced_done, &r, sim_now(r.p.sim) + TAPIR_MSEC(1));
    }
    pump(&r, 0);
    printf("paced: sent %llu, received %llu; peak window %u, receive limit %u, send limit %u, "
           "send memory %u, receive memory %u (maximum %u)\n",
           (unsigned long long)r.sent, (unsigned long long)r.received, r.peak_wnd, r.peak_rcvlimit,
           r.peak_sndlimit, r.peak_sndalloc, r.peak_rcvalloc, MAXBUF);
    fflush(stdout);
    ck_assert(!r.mismatch);
    ck_assert_uint_eq(r.sent, 500u * 1448);
    ck_assert_uint_ge(r.received, r.sent - 4 * 1448);      /* what is still on the wire */
    /* Nothing grew: the window and the send limit stay at their initial
     * 64 KiB, 128 times below the maximum, and the memory held is what a
     * few segments need. */
    ck_assert_uint_eq(r.peak_rcvlimit, TCP_BUF_INITIAL);
    ck_assert_uint_le(r.peak_wnd, TCP_BUF_INITIAL);
    ck_assert_uint_eq(r.peak_sndlimit, TCP_BUF_INITIAL);
    ck_assert_uint_le(r.peak_sndalloc, 32 * KIB);
    ck_assert_uint_le(r.peak_rcvalloc, 16 * KIB);
    finish(&r);
}
END_TEST

/* Connect, send one segment, and run until well after B acknowledged it. */
static void first_segment_acknowledged(struct run *r)
{
    r->to_send = 16 * MIB;
    tapir_time_t t0 = sim_now(r->p.sim);
    while (r->received < 1448 && sim_now(r->p.sim) < t0 + TAPIR_SEC(2)) {
        pump(r, r->sent ? 0 : 1448);
        sim_run_until(r->p.sim, paced_done, r, sim_now(r->p.sim) + TAPIR_MSEC(1));
    }
    sim_run_until(r->p.sim, paced_done, r, sim_now(r->p.sim) + TAPIR_MSEC(200));
    pump(r, 0);
    ck_assert_uint_eq(r->received, 1448);
}

START_TEST(sizes_set_by_the_application_are_used_from_the_start)
{
    struct run r;
    start(&r, true);
    first_segment_acknowledged(&r);
    struct tapir_tcp_info ia, ib;
    tcp_get_info(r.a, &ia);
    ck_assert_uint_eq(ia.sndbuf_limit, MAXBUF);
    ck_assert_uint_ge(ia.snd_wnd, MAXBUF - 64 * KIB);      /* B announced it all */
    tcp_get_info(r.b, &ib);
    ck_assert_uint_eq(ib.rcvwnd_limit, MAXBUF);
    finish(&r);
    /* Without them the same moment shows the initial 64 KiB. */
    start(&r, false);
    first_segment_acknowledged(&r);
    tcp_get_info(r.a, &ia);
    ck_assert_uint_le(ia.snd_wnd, TCP_BUF_INITIAL);
    ck_assert_uint_eq(ia.sndbuf_limit, TCP_BUF_INITIAL);
    finish(&r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tcp_autotune");
    TCase *t = tcase_create("autotune");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, window_grows_with_the_bdp_on_a_long_link);
    tcase_add_test(t, buffers_stay_small_for_a_slow_sender);
    tcase_add_test(t, sizes_set_by_the_application_are_used_from_the_start);
    suite_add_tcase(s, t);
    return harness_run(s);
}
