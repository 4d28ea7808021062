/* Timers across two stacks in virtual time (the single-stack sequences are
 * in tests/unit/test_tcp_timers.c): keepalive against a live peer that
 * answers, keepalive abort when the peer vanishes (vlink loss 100%), and
 * the RTO backoff observed on the wire after a measured RTT, ending in
 * ETIMEDOUT after cfg.tcp_max_retries. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/stack.h"
#include "core/tcp.h"
#include "tcpsim.h"
#include "harness.h"

#define PORT 9000
#define MAX_SENDS 64

struct timer_run {
    struct tcpsim_pair p;
    struct tcp_conn *listener, *a, *b;
    /* Every segment A sent: time and sequence number and length. */
    tapir_time_t sent_at[MAX_SENDS];
    uint32_t sent_seq[MAX_SENDS], sent_len[MAX_SENDS];
    uint8_t sent_flags[MAX_SENDS];
    size_t nsent;
    bool recording;
    tapir_time_t got_pong_at;
};

static struct timer_run *cur;

static int record_a(void *ctx, const uint8_t *frame, size_t len)
{
    struct timer_run *r = ctx;
    size_t ihl = (size_t)(frame[0] & 15) * 4;
    if (r->recording && len >= ihl + 20 && r->nsent < MAX_SENDS) {
        const uint8_t *t = frame + ihl;
        size_t hl = (size_t)(t[12] >> 4) * 4;
        r->sent_at[r->nsent] = sim_now(r->p.sim);
        r->sent_seq[r->nsent] = (uint32_t)t[4] << 24 | (uint32_t)t[5] << 16 | (uint32_t)t[6] << 8 | t[7];
        r->sent_len[r->nsent] = (uint32_t)(len - ihl - hl);
        r->sent_flags[r->nsent] = t[13];
        r->nsent++;
    }
    return tapir_dev_send(r->p.a.end, frame, len);
}

static void few_retries(struct tapir_config *cfg)
{
    cfg->tcp_max_retries = 8;
}

static bool connected(struct sim *sim, void *ctx)
{
    (void)sim;
    struct timer_run *r = ctx;
    tcpsim_sync(&r->p);
    if (!r->b)
        tcp_accept(r->listener, &r->b);
    return r->b && tcp_state(r->a) == TAPIR_TCP_ESTABLISHED;
}

static void setup(struct timer_run *r, void (*tweak)(struct tapir_config *))
{
    struct tapir_vlink_params vp;
    tapir_vlink_params_init(&vp);
    vp.seed = 31;
    vp.delay = TAPIR_MSEC(5);
    tcpsim_pair_start(&r->p, &vp, 5, tweak, NULL);
    tapir_stack_set_output(r->p.a.s, record_a, r);
    int err;
    r->listener = tcp_conn_new(r->p.b.s, &err);
    ck_assert_int_eq(tcp_bind(r->listener, 0, PORT), 0);
    ck_assert_int_eq(tcp_listen(r->listener, 4), 0);
    r->a = tcp_conn_new(r->p.a.s, &err);
    ck_assert_int_eq(tcp_connect(r->a, TCPSIM_IP_B, PORT), -EINPROGRESS);
    ck_assert(sim_run_until(r->p.sim, connected, r, sim_now(r->p.sim) + TAPIR_SEC(2)));
    tcp_close(r->listener);
    r->listener = NULL;
}

static bool nothing_left(struct sim *sim, void *ctx)
{
    (void)sim;
    struct timer_run *r = ctx;
    return tcpsim_conns(&r->p.a) == 0 && tcpsim_conns(&r->p.b) == 0;
}

static void teardown_checked(struct timer_run *r)
{
    struct tapir_vlink_params clean;
    tapir_vlink_params_init(&clean);
    clean.delay = TAPIR_MSEC(5);
    tapir_vlink_set_impairments(r->p.a.end, &clean);
    tcpsim_sync(&r->p);
    if (r->a)
        tcp_abort(r->a);
    if (r->b)
        tcp_abort(r->b);
    ck_assert(sim_run_until(r->p.sim, nothing_left, r, sim_now(r->p.sim) + TAPIR_SEC(300)));
    ck_assert_uint_eq(tcpsim_bufs_in_use(&r->p.a), 0);
    ck_assert_uint_eq(tcpsim_bufs_in_use(&r->p.b), 0);
    tcpsim_pair_free(&r->p);
}

START_TEST(keepalive_probes_are_answered_by_a_live_peer)
{
    struct timer_run *r = cur = calloc(1, sizeof *r);
    setup(r, NULL);
    ck_assert_int_eq(tcp_set_keepalive_params(r->a, TAPIR_SEC(10), TAPIR_SEC(2), 3), 0);
    tcpsim_sync(&r->p);
    ck_assert_int_eq(tcp_set_keepalive(r->a, true), 0);
    r->recording = true;
    uint64_t b_tx = r->p.b.s->stats.tcp_tx;
    sim_run_for(r->p.sim, TAPIR_SEC(600));
    /* A probe every 10 s of silence (each answer restarts the idle time:
     * 10 s plus one round trip apart), each answered; nothing else. */
    ck_assert_uint_ge(r->nsent, 55);
    ck_assert_uint_le(r->nsent, 60);
    for (size_t i = 0; i < r->nsent; i++) {
        ck_assert_uint_eq(r->sent_flags[i], 0x10);          /* bare ACK ... */
        ck_assert_uint_le(r->sent_len[i], 1);               /* ... at SND.NXT-1 */
        if (i > 0) {
            tapir_time_t gap = r->sent_at[i] - r->sent_at[i - 1];
            ck_assert_uint_ge(gap, TAPIR_SEC(10));
            ck_assert_uint_le(gap, TAPIR_SEC(10) + TAPIR_MSEC(20));
        }
    }
    ck_assert_uint_eq(r->p.b.s->stats.tcp_tx - b_tx, r->nsent);
    ck_assert_int_eq(tcp_state(r->a), TAPIR_TCP_ESTABLISHED);
    ck_assert_int_eq(tcp_state(r->b), TAPIR_TCP_ESTABLISHED);
    teardown_checked(r);
    free(r);
}
END_TEST

static bool got_pong(struct sim *sim, void *ctx)
{
    struct timer_run *r = ctx;
    tcpsim_sync(&r->p);
    char buf[8];
    if (r->b && tcp_recv(r->b, buf, sizeof buf, false) == 4)
        ck_assert_int_eq(tcp_send(r->b, "pong", 4), 4);
    if (tcp_recv(r->a, buf, sizeof buf, false) == 4) {
        r->got_pong_at = sim_now(sim);
        return true;
    }
    return false;
}

static bool a_closed(struct sim *sim, void *ctx)
{
    (void)sim;
    struct timer_run *r = ctx;
    return tcp_state(r->a) == TAPIR_TCP_CLOSED;
}

START_TEST(keepalive_aborts_when_the_peer_vanishes)
{
    struct timer_run *r = cur = calloc(1, sizeof *r);
    setup(r, NULL);
    ck_assert_int_eq(tcp_set_keepalive_params(r->a, TAPIR_SEC(10), TAPIR_SEC(2), 3), 0);
    ck_assert_int_eq(tcp_set_keepalive(r->a, true), 0);
    ck_assert_int_eq(tcp_send(r->a, "ping", 4), 4);
    ck_assert(sim_run_until(r->p.sim, got_pong, r, sim_now(r->p.sim) + TAPIR_SEC(1)));
    /* The peer vanishes right after its last word. */
    struct tapir_vlink_params dead;
    tapir_vlink_params_init(&dead);
    dead.loss = 1.0;
    tapir_vlink_set_impairments(r->p.a.end, &dead);
    r->recording = true;
    struct tapir_vlink_stats before, after;
    tapir_vlink_get_stats(r->p.a.end, &before);
    ck_assert(sim_run_until(r->p.sim, a_closed, r, sim_now(r->p.sim) + TAPIR_SEC(60)));
    /* Idle 10 s after the last segment received, then 3 probes 2 s apart,
     * then the abort (RFC 1122 4.2.3.6). */
    ck_assert_uint_eq(sim_now(r->p.sim) - r->got_pong_at, TAPIR_SEC(10) + 3 * TAPIR_SEC(2));
    ck_assert_int_eq(tcp_take_error(r->a), -ETIMEDOUT);
    size_t probes = 0;
    for (size_t i = 0; i < r->nsent; i++)
        if (r->sent_flags[i] == 0x10 && r->sent_at[i] >= r->got_pong_at + TAPIR_SEC(10)) {
            ck_assert_uint_eq(r->sent_at[i], r->got_pong_at + TAPIR_SEC(10) + probes * TAPIR_SEC(2));
            probes++;
        }
    ck_assert_uint_eq(probes, 3);
    tapir_vlink_get_stats(r->p.a.end, &after);
    ck_assert_uint_eq(after.lost - before.lost, after.sent - before.sent);
    ck_assert_int_eq(tcp_state(r->b), TAPIR_TCP_ESTABLISHED);    /* B never heard */
    teardown_checked(r);
    free(r);
}
END_TEST

START_TEST(rto_backoff_on_the_wire_after_a_measured_rtt_then_etimedout)
{
    struct timer_run *r = cur = calloc(1, sizeof *r);
    setup(r, few_retries);
    /* A few round trips so the RTO comes from measured RTTs. */
    for (int i = 0; i < 5; i++) {
        tcpsim_sync(&r->p);
        ck_assert_int_eq(tcp_send(r->a, "ping", 4), 4);
        ck_assert(sim_run_until(r->p.sim, got_pong, r, sim_now(r->p.sim) + TAPIR_SEC(1)));
        sim_run_for(r->p.sim, TAPIR_MSEC(300));
    }
    struct tapir_tcp_info info;
    tcp_get_info(r->a, &info);
    /* Measured (RFC 6298 2.3), no longer the initial 1 s, not below the minimum. */
    ck_assert_uint_lt(info.rto_us, tapir_stack_config(r->p.a.s)->rto_initial);
    ck_assert_uint_ge(info.rto_us, tapir_stack_config(r->p.a.s)->rto_min);
    struct tapir_vlink_params dead;
    tapir_vlink_params_init(&dead);
    dead.loss = 1.0;
    tapir_vlink_set_impairments(r->p.a.end, &dead);
    r->recording = true;
    tcpsim_sync(&r->p);
    ck_assert_int_eq(tcp_send(r->a, "lost", 4), 4);
    ck_assert(sim_run_until(r->p.sim, a_closed, r, sim_now(r->p.sim) + TAPIR_SEC(3600)));
    ck_assert_int_eq(tcp_take_error(r->a), -ETIMEDOUT);
    /* The original, then 8 retransmissions of the same bytes, each after
     * twice the previous wait; then the RST of the abort. */
    const struct tapir_config *cfg = tapir_stack_config(r->p.a.s);
    for (size_t i = 0; getenv("TCPSIM_TRACE") && i < r->nsent; i++)
        fprintf(stderr, "sent %zu at %llu seq %u len %u flags %02x\n", i, (unsigned long long)r->sent_at[i], r->sent_seq[i], r->sent_len[i], r->sent_flags[i]);
    ck_assert_uint_ge(r->nsent, 1 + cfg->tcp_max_retries);
    tapir_time_t rto = info.rto_us;
    for (size_t i = 1; i <= cfg->tcp_max_retries; i++) {
        ck_assert_uint_eq(r->sent_seq[i], r->sent_seq[0]);
        ck_assert_uint_eq(r->sent_len[i], 4);
        ck_assert_msg(r->sent_at[i] - r->sent_at[i - 1] == rto, "retransmission %zu after %llu us, expected %llu",
                      i, (unsigned long long)(r->sent_at[i] - r->sent_at[i - 1]), (unsigned long long)rto);
        rto = rto * 2 > cfg->rto_max ? cfg->rto_max : rto * 2;
    }
    teardown_checked(r);
    free(r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tcp_sim_timers");
    TCase *tc = tcase_create("timers");
    tcase_add_test(tc, keepalive_probes_are_answered_by_a_live_peer);
    tcase_add_test(tc, keepalive_aborts_when_the_peer_vanishes);
    tcase_add_test(tc, rto_backoff_on_the_wire_after_a_measured_rtt_then_etimedout);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
