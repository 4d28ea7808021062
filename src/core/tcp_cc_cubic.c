/* CUBIC congestion control (RFC 9438), in integer arithmetic.
 *
 * Window in congestion avoidance (4.2):  W_cubic(t) = C*(t-K)^3 + W_max
 * with C = 0.4 segments/s^3, t the time since the epoch (the start of the
 * current congestion avoidance stage), K = cbrt((W_max - cwnd_epoch)/C).
 * Each ACK moves cwnd toward target = W_cubic(t + RTT), bounded to
 * [cwnd, 1.5*cwnd] (4.4, 4.5). The Reno-friendly estimate W_est grows by
 * alpha = 3(1-beta)/(1+beta) segments per window (1 once W_est reaches
 * cwnd_prior) and wins where it is larger (4.3). On a loss cwnd falls to
 * beta = 0.7 of the flight (4.6), with fast convergence (4.7); an RTO
 * starts the next epoch with K = 0 and W_max = cwnd then (4.8). A loss
 * found spurious afterwards (tcp_undo.c) restores the state on_loss found
 * (4.9). Slow start is RFC 5681's (tcp_cc.c). Windows are bytes; times
 * microseconds or ms. */
#include "core/tcp_conn.h"

#define CUBIC_BETA_NUM 7u               /* beta_cubic = 0.7 */
#define CUBIC_BETA_DEN 10u
#define CUBIC_ALPHA_1024 542u           /* 3 * 0.3 / 1.7 = 0.5294 in 1/1024 */
/* C = 0.4 segments per s^3: with t in ms, C*t^3 = t^3 / 2.5e9 segments;
 * in 1/1024 segment units, t^3 / (2.5e9 / 1024). */
#define CUBIC_T3_PER_SEG_1024 2441406ull
#define CUBIC_MAX_T_MS (1u << 20)       /* clamp |t - K| (17 min) against overflow */

uint32_t tcp_cube_root(uint64_t x)
{
    /* Bit by bit: the largest r with r^3 <= x. cbrt(2^64) < 2642246, so
     * a candidate above that is too large (and its cube would overflow). */
    uint64_t r = 0;
    for (int bit = 21; bit >= 0; bit--) {
        uint64_t t = r | (1ull << bit);
        if (t <= 2642245u && t * t * t <= x)
            r = t;
    }
    return (uint32_t)r;
}

/* W_cubic(t) in bytes for t (ms since the epoch). */
static uint32_t w_cubic(const struct tcp_conn *c, uint64_t t_ms)
{
    const struct tcp_cubic *cu = &c->cubic;
    int64_t d = (int64_t)t_ms - (int64_t)cu->k_ms;
    if (d > (int64_t)CUBIC_MAX_T_MS)
        d = CUBIC_MAX_T_MS;
    if (d < -(int64_t)CUBIC_MAX_T_MS)
        d = -(int64_t)CUBIC_MAX_T_MS;
    int64_t segs_1024 = d * d * d / (int64_t)CUBIC_T3_PER_SEG_1024;
    int64_t bytes = segs_1024 * (int64_t)c->snd_mss / 1024;
    int64_t w = (int64_t)cu->w_max + bytes;
    if (w < (int64_t)c->snd_mss)
        w = c->snd_mss;
    if (w > 0x7fffffff)
        w = 0x7fffffff;
    return (uint32_t)w;
}

static void cubic_reset(struct tcp_conn *c)
{
    struct tcp_cubic *cu = &c->cubic;
    cu->w_max = 0;
    cu->cwnd_prior = 0;
    cu->cwnd_epoch = 0;
    cu->w_est = 0;
    cu->k_ms = 0;
    cu->t_epoch = TAPIR_TIME_NEVER;
    cu->acc_cwnd = cu->acc_west = 0;
    c->bytes_acked_ca = 0;
}

static void start_epoch(struct tcp_conn *c)
{
    struct tcp_cubic *cu = &c->cubic;
    cu->t_epoch = c->s->now;
    cu->cwnd_epoch = c->cwnd;
    cu->w_est = c->cwnd;
    cu->acc_cwnd = cu->acc_west = 0;
    if (cu->w_max > c->cwnd) {
        /* Eq. (2): K = cbrt((W_max - cwnd_epoch) / C), in ms:
         * cbrt(segments * 2.5 * 10^9). */
        uint64_t diff = cu->w_max - c->cwnd;
        uint64_t x = diff * 2500000000ull / c->snd_mss;
        cu->k_ms = tcp_cube_root(x);
    } else {
        /* Past W_max already (or after an RTO, 4.8): the curve starts
         * here, K = 0, W_max = cwnd. */
        cu->k_ms = 0;
        cu->w_max = c->cwnd;
    }
}

static void cubic_cong_avoid(struct tcp_conn *c, uint32_t acked)
{
    struct tcp_cubic *cu = &c->cubic;
    uint32_t smss = c->snd_mss;
    if (cu->t_epoch == TAPIR_TIME_NEVER)
        start_epoch(c);
    uint64_t t_ms = (c->s->now - cu->t_epoch) / 1000u;
    uint64_t rtt_ms = c->rtt_valid ? c->srtt / 1000u : 0;

    /* 4.3: the Reno-friendly estimate, alpha segments per window. */
    uint64_t alpha = cu->w_est >= cu->cwnd_prior ? 1024u : CUBIC_ALPHA_1024;
    cu->acc_west += alpha * acked * smss;
    uint64_t add = cu->acc_west / ((uint64_t)c->cwnd * 1024u);
    cu->acc_west -= add * (uint64_t)c->cwnd * 1024u;
    cu->w_est = (uint32_t)(cu->w_est + add > 0x7fffffff ? 0x7fffffff : cu->w_est + add);

    uint32_t cubic_now = w_cubic(c, t_ms);
    if (cubic_now < cu->w_est) {
        /* Reno-friendly region: follow the estimate. */
        if (cu->w_est > c->cwnd)
            c->cwnd = cu->w_est;
        return;
    }
    /* 4.4, 4.5: concave and convex regions, toward W_cubic(t + RTT). */
    uint32_t target = w_cubic(c, t_ms + rtt_ms);
    uint32_t cap = c->cwnd + c->cwnd / 2;
    if (target > cap)
        target = cap;
    if (target <= c->cwnd)
        return;
    cu->acc_cwnd += (uint64_t)(target - c->cwnd) * acked;
    uint64_t inc = cu->acc_cwnd / c->cwnd;
    cu->acc_cwnd -= inc * c->cwnd;
    c->cwnd += (uint32_t)inc;
}

static uint32_t cubic_on_loss(struct tcp_conn *c, bool timeout)
{
    struct tcp_cubic *cu = &c->cubic;
    uint32_t cwnd = c->cwnd;
    /* 4.9: keep W_max, K, t_epoch, W_est (the whole state) as they were
     * before this reduction, for cubic_undo() should it prove spurious. */
    c->undo_cubic = *cu;
    /* 4.7 fast convergence: a window that did not reach the last W_max
     * releases bandwidth by aiming lower. */
    if (cwnd < cu->w_max)
        cu->w_max = (uint32_t)((uint64_t)cwnd * (CUBIC_BETA_DEN + CUBIC_BETA_NUM) / (2 * CUBIC_BETA_DEN));
    else
        cu->w_max = cwnd;
    cu->cwnd_prior = cwnd;
    cu->t_epoch = TAPIR_TIME_NEVER;
    /* 4.6: ssthresh = flight_size * beta, at least 2 segments. */
    uint64_t ss = (uint64_t)tcp_cc_flight_size(c) * CUBIC_BETA_NUM / CUBIC_BETA_DEN;
    if (ss < 2ull * c->snd_mss)
        ss = 2ull * c->snd_mss;
    if (timeout) {
        /* 4.8: the first epoch after an RTO uses K = 0 and W_max = the
         * cwnd at its start (start_epoch does both when w_max is 0). */
        cu->w_max = 0;
    }
    return (uint32_t)ss;
}

/* 4.9 (4.9.2 for a fast retransmit; 4.9.1 defers to RFC 4015 for a
 * timeout, which knows no CUBIC state): the reduction was spurious, so
 * the curve goes on as if it had not happened: the same W_max, K, epoch
 * start and Reno-friendly estimate (cwnd and ssthresh: tcp_undo.c). */
static void cubic_undo(struct tcp_conn *c)
{
    c->cubic = c->undo_cubic;
    c->bytes_acked_ca = 0;
}

const struct tcp_cc_ops tcp_cc_cubic_ops = {
    .name = "cubic",
    .reset = cubic_reset,
    .cong_avoid = cubic_cong_avoid,
    .on_loss = cubic_on_loss,
    .undo = cubic_undo,
};
