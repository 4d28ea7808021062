/* CUBIC (RFC 9438) and NewReno on a long-delay vlink (50 ms one way, RTT
 * 100 ms). vlink has no rate limit, so the ceiling is the receive window:
 * both algorithms must finish a transfer near the window-limited ideal.
 * Then, with windows large enough not to bind, one loss after slow start
 * shows the shapes: CUBIC's ssthresh is 0.7 of the flight where NewReno's
 * is 0.5 (same flight: the runs are identical up to the loss), CUBIC then
 * grows concavely (fast first, flattening as it nears W_max, reached
 * about K seconds later), regaining W_max far sooner than NewReno's one
 * segment per RTT. */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "tcpext_run.h"

#define MIB (1024u * 1024u)
#define MAX_SAMPLES 4096

static void newreno(struct tapir_config *cfg) { strcpy(cfg->tcp_congestion, "newreno"); }
static void cubic(struct tapir_config *cfg) { strcpy(cfg->tcp_congestion, "cubic"); }
static void big_newreno(struct tapir_config *cfg)
{
    newreno(cfg);
    cfg->tcp_sndbuf = cfg->tcp_rcvbuf = 16 * MIB;
}
static void big_cubic(struct tapir_config *cfg)
{
    cubic(cfg);
    cfg->tcp_sndbuf = cfg->tcp_rcvbuf = 16 * MIB;
}

START_TEST(both_reach_the_window_limited_ideal_on_a_long_delay_link)
{
    /* 256 KiB window per 100 ms RTT: 2.62 MB/s at most. */
    const uint64_t bytes = 16 * MIB;
    double window = 256.0 * 1024, rtt = 0.1;
    double ideal = (double)bytes / (window / rtt);
    void (*algs[2])(struct tapir_config *) = {cubic, newreno};
    const char *names[2] = {"cubic", "newreno"};
    for (int i = 0; i < 2; i++) {
        struct tcpext_case tc = {.tweak = algs[i], .delay = TAPIR_MSEC(50), .bytes = bytes,
                                 .limit = TAPIR_SEC(120)};
        struct tcpext_result r;
        tcpext_run(&tc, &r);
        ck_assert_msg(r.ok, "%s: %s", names[i], r.why);
        double secs = (double)r.elapsed / 1e6;
        printf("%-8s 16 MiB over RTT 100 ms: %.3f s (%.2f MB/s), ideal %.3f s (%.0f%%), cwnd %u, RTOs %" PRIu64 "\n",
               names[i], secs, (double)bytes / secs / 1e6, ideal, 100.0 * ideal / secs, r.a_info.cwnd, r.rtos);
        ck_assert_str_eq(r.a_info.congestion, names[i]);
        ck_assert_uint_eq(r.rtos, 0);
        /* Slow start to the window takes ~6 RTTs; allow 10% on top. */
        ck_assert_msg(secs < ideal * 1.1 + 0.8, "%s took %.3f s, window-limited ideal %.3f s", names[i], secs, ideal);
    }
}
END_TEST

struct trace {
    size_t n;
    tapir_time_t t[MAX_SAMPLES];
    uint32_t cwnd[MAX_SAMPLES], ssthresh[MAX_SAMPLES], mss;
};

static void sample(void *ctx, tapir_time_t t, const struct tapir_tcp_info *info)
{
    struct trace *tr = ctx;
    if (tr->n < MAX_SAMPLES) {
        tr->t[tr->n] = t;
        tr->cwnd[tr->n] = info->cwnd;
        tr->ssthresh[tr->n] = info->ssthresh;
        tr->n++;
    }
    tr->mss = info->snd_mss;
}

/* The first sample after the loss set ssthresh. */
static size_t loss_index(const struct trace *tr)
{
    for (size_t i = 0; i < tr->n; i++)
        if (tr->ssthresh[i] < 0x7fffffffu)
            return i;
    return tr->n;
}

/* cwnd at time t (the last sample at or before t). */
static uint32_t cwnd_at(const struct trace *tr, tapir_time_t t)
{
    uint32_t w = 0;
    for (size_t i = 0; i < tr->n && tr->t[i] <= t; i++)
        w = tr->cwnd[i];
    return w;
}

/* Time from the loss (sample li) until cwnd first reaches w. */
static tapir_time_t reach(const struct trace *tr, size_t li, double w)
{
    for (size_t i = li; i < tr->n; i++)
        if (tr->cwnd[i] >= w)
            return tr->t[i] - tr->t[li];
    return TAPIR_TIME_NEVER;
}

static void run_shape(void (*tweak)(struct tapir_config *), struct trace *tr)
{
    struct tcpext_case tc = {.tweak = tweak, .delay = TAPIR_MSEC(50), .bytes = 48 * MIB,
                             .limit = TAPIR_SEC(300), .sample_every = TAPIR_MSEC(10), .on_sample = sample,
                             .ctx = tr};
    tc.drops[tc.ndrops++] = 400 * 1024;    /* one loss, late in slow start */
    struct tcpext_result r;
    tcpext_run(&tc, &r);
    ck_assert_msg(r.ok, "%s", r.why);
    ck_assert_uint_eq(r.rtos, 0);
}

START_TEST(cwnd_shapes_after_one_loss)
{
    static struct trace c, n;
    memset(&c, 0, sizeof c);
    memset(&n, 0, sizeof n);
    run_shape(big_cubic, &c);
    run_shape(big_newreno, &n);
    size_t lc = loss_index(&c), ln = loss_index(&n);
    ck_assert(lc < c.n && ln < n.n);
    /* Identical runs up to the loss: same flight, so the reductions compare. */
    ck_assert_uint_eq(c.t[lc], n.t[ln]);
    double ratio = (double)c.ssthresh[lc] / (double)n.ssthresh[ln];
    printf("loss at %.2f s: ssthresh cubic %u, newreno %u (ratio %.3f, beta 0.7 vs 0.5 -> 1.4)\n",
           (double)c.t[lc] / 1e6, c.ssthresh[lc], n.ssthresh[ln], ratio);
    ck_assert_msg(ratio > 1.38 && ratio < 1.42, "ssthresh ratio %.3f", ratio);

    /* W_max is the cwnd just before the loss; K = cbrt(W_max * 0.3 / 0.4)
     * seconds with W_max in segments (RFC 9438 eq. (2)). */
    uint32_t wmax = c.cwnd[lc - 1];
    double wmax_seg = (double)wmax / c.mss;
    double k = 0;
    while ((k + 0.001) * (k + 0.001) * (k + 0.001) <= wmax_seg * 0.3 / 0.4)
        k += 0.001;
    tapir_time_t t0 = c.t[lc] + TAPIR_MSEC(200);    /* recovery over (a couple of RTTs) */
    tapir_time_t tk = c.t[lc] + (tapir_time_t)(k * 1e6);
    tapir_time_t half = t0 + (tk - t0) / 2;
    uint32_t c0 = cwnd_at(&c, t0), ch = cwnd_at(&c, half), ck = cwnd_at(&c, tk);
    uint32_t n0 = cwnd_at(&n, t0), nk = cwnd_at(&n, tk);
    printf("W_max %.0f segs, K %.2f s; cubic cwnd %.0f -> %.0f (K/2) -> %.0f (K) segs; newreno %.0f -> %.0f segs\n",
           wmax_seg, k, (double)c0 / c.mss, (double)ch / c.mss, (double)ck / c.mss, (double)n0 / n.mss,
           (double)nk / n.mss);
    /* Concave: more growth in the first half of the way to K than the second. */
    ck_assert_uint_gt(ch - c0, ck - ch);
    /* Back near W_max at K (within 10%). */
    ck_assert_msg(ck > wmax * 0.9 && ck < wmax * 1.1, "cwnd %u at K, W_max %u", ck, wmax);
    /* NewReno: about one segment per RTT over the same time. */
    double rtts = (double)(tk - t0) / 1e5;
    double n_growth = (double)(nk - n0) / n.mss;
    ck_assert_msg(n_growth > rtts * 0.8 && n_growth < rtts * 1.2, "newreno grew %.1f segs in %.1f RTTs", n_growth, rtts);
    /* Back to 95% of W_max: CUBIC in a fraction of K, NewReno only after
     * ~0.45 W_max RTTs. */
    tapir_time_t ct = reach(&c, lc, wmax * 0.95), nt = reach(&n, ln, wmax * 0.95);
    printf("95%% of W_max regained after: cubic %.2f s, newreno %.2f s\n", (double)ct / 1e6, (double)nt / 1e6);
    ck_assert_uint_lt(ct, (tapir_time_t)(k * 1e6));
    ck_assert_uint_lt(2 * ct, nt);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tcp_ext_cubic");
    TCase *tc = tcase_create("cubic");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, both_reach_the_window_limited_ideal_on_a_long_delay_link);
    tcase_add_test(tc, cwnd_shapes_after_one_loss);
    suite_add_tcase(s, tc);
    return harness_run_nofork(s);
}
