/* Long transfers: more than 2^31 bytes on one connection, so SND.UNA runs
 * more than half the sequence space past ISS and past every value set near
 * the handshake. Sequence numbers compare modulo 2^32 (RFC 9293 3.4), so a
 * test like SND.UNA > ISS stops meaning "our SYN was acknowledged" after
 * 2 GiB (a connection once stopped sending there), and a `recover` (one
 * past RecoveryPoint, RFC 6675; "recover", RFC 6582) left at ISS reads as
 * ahead of SND.UNA: the guards against re-entering recovery (RFC 6675 5.1,
 * RFC 6582 3.2 step 2) then refused every fast retransmit for the next
 * 2 GiB, and each loss waited for the timer.
 *
 * Two stacks over a vlink on a virtual clock, with SACK and with NewReno
 * alone: a clean transfer past the 2^31 mark (limited by the 256 KiB
 * receive window, so cwnd must have stayed near it: RFC 7661; it once
 * reached about 1 GB here on its way to wrapping), then a few MiB with
 * random loss, then clean again to the end. The first loss must be
 * repaired by fast retransmit before any timeout, and every byte arrive
 * exact. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/stack.h"
#include "harness.h"
#include "tcpsim.h"

#define PORT 5007
#define CYCLE 65521u                    /* prime: the content at an offset is pattern[off % CYCLE] */
#define LOSSY_FROM ((1ull << 31) + (4ull << 20))
#define LOSSY_TO (LOSSY_FROM + (4ull << 20))
#define TOTAL (LOSSY_TO + (4ull << 20))

/* Jumbo frames: the same 2^31 bytes in a sixth of the segments, so the
 * test takes seconds rather than a minute under the sanitizers. The window
 * (256 KiB) still holds about 29 segments, room for three duplicate ACKs. */
#define LINK_MTU 9000u

static uint8_t pattern[2 * CYCLE];
static bool with_sack;

struct run {
    struct tcpsim_pair p;
    struct tcp_conn *listener, *a, *b;
    uint64_t sent, received;
    bool mismatch, a_closed, b_closed, lossy, lossy_done;
    uint64_t fast_before, rto_before;   /* the sender's counts when the loss began */
    bool first_was_timeout, first_was_fast;
    uint32_t cwnd_before_loss;          /* the sender's, after the clean 2 GiB */
    uint32_t mss_before_loss;
    int error;
};

static void set_loss(struct run *r, double loss)
{
    struct tapir_vlink_params vp;
    tapir_vlink_params_init(&vp);
    vp.delay = TAPIR_MSEC(1);
    vp.mtu = LINK_MTU;
    vp.loss = loss;
    tapir_vlink_set_impairments(r->p.a.end, &vp);
}

static bool step(struct sim *sim, void *ctx)
{
    (void)sim;
    struct run *r = ctx;
    tcpsim_sync(&r->p);
    if (r->listener && tcp_accept(r->listener, &r->b) == 0) {
        tcp_close(r->listener);
        r->listener = NULL;
    }
    while (r->a && r->sent < TOTAL) {
        uint64_t left = TOTAL - r->sent;
        size_t n = left < CYCLE ? (size_t)left : CYCLE;
        long k = tcp_send(r->a, pattern + r->sent % CYCLE, n);
        if (k < 0) {
            if (k != -EAGAIN)
                r->error = (int)k;
            break;
        }
        r->sent += (uint64_t)k;
    }
    if (r->a && r->sent == TOTAL && !r->a_closed) {
        tcp_close(r->a);
        r->a_closed = true;
    }
    uint8_t chunk[CYCLE];
    while (r->b && !r->b_closed) {
        long k = tcp_recv(r->b, chunk, sizeof chunk, false);
        if (k == 0) {
            tcp_close(r->b);
            r->b_closed = true;
            break;
        }
        if (k < 0) {
            if (k != -EAGAIN)
                r->error = (int)k;
            break;
        }
        if (memcmp(chunk, pattern + r->received % CYCLE, (size_t)k) != 0)
            r->mismatch = true;
        r->received += (uint64_t)k;
    }
    const struct tapir_stack *s = r->p.a.s;
    if (!r->lossy && !r->lossy_done && r->received >= LOSSY_FROM) {
        r->fast_before = s->stats.tcp_fast_retransmits;
        r->rto_before = s->stats.tcp_rto_expired;
        struct tapir_tcp_info info;
        tcp_get_info(r->a, &info);
        r->cwnd_before_loss = info.cwnd;
        r->mss_before_loss = info.snd_mss;
        set_loss(r, 0.01);

        r->lossy = true;
    }
    if ((r->lossy || r->lossy_done) && !r->first_was_timeout && !r->first_was_fast) {
        /* A timeout in the same instant counts as first: the stricter reading. */
        if (s->stats.tcp_rto_expired > r->rto_before)
            r->first_was_timeout = true;
        else if (s->stats.tcp_fast_retransmits > r->fast_before)
            r->first_was_fast = true;
    }
    if (r->lossy && r->received >= LOSSY_TO) {
        set_loss(r, 0);
        r->lossy = false;
        r->lossy_done = true;
    }
    return r->error || r->mismatch || r->b_closed;
}

static void tweak(struct tapir_config *cfg)
{
    cfg->tcp_sack = with_sack;
    cfg->mtu = LINK_MTU;
    cfg->buf_size = LINK_MTU + 256;     /* frame, link header and headroom */
}

START_TEST(losses_past_2gib_are_repaired_by_fast_retransmit)
{
    with_sack = _i == 0;
    for (size_t i = 0; i < sizeof pattern; i++)
        pattern[i] = (uint8_t)((i % CYCLE) * 2654435761u >> 11);
    struct tapir_vlink_params vp;
    tapir_vlink_params_init(&vp);
    vp.seed = 11;
    vp.delay = TAPIR_MSEC(1);
    vp.mtu = LINK_MTU;
    struct run *r = calloc(1, sizeof *r);
    ck_assert_ptr_nonnull(r);
    tcpsim_pair_start(&r->p, &vp, 77, tweak, NULL);
    int err;
    r->listener = tcp_conn_new(r->p.b.s, &err);
    r->a = tcp_conn_new(r->p.a.s, &err);
    ck_assert_int_eq(tcp_bind(r->listener, 0, PORT), 0);
    ck_assert_int_eq(tcp_listen(r->listener, 4), 0);
    ck_assert_int_eq(tcp_connect(r->a, TCPSIM_IP_B, PORT), -EINPROGRESS);

    bool done = sim_run_until(r->p.sim, step, r, sim_now(r->p.sim) + TAPIR_SEC(900));
    ck_assert_msg(done, "stalled: sent %llu, received %llu of %llu", (unsigned long long)r->sent,
                  (unsigned long long)r->received, (unsigned long long)TOTAL);
    ck_assert_int_eq(r->error, 0);
    ck_assert(!r->mismatch);
    ck_assert_uint_eq(r->received, TOTAL);
    ck_assert(r->lossy_done);
    ck_assert_uint_gt(r->mss_before_loss, 1460);    /* the jumbo MTU took effect */

    const struct tapir_stack *s = r->p.a.s;
    /* The first 2 GiB were clean: nothing to recover from, and the receive
     * window, not cwnd, limited the sender. */
    ck_assert_uint_eq(r->fast_before, 0);
    ck_assert_uint_eq(r->rto_before, 0);
    uint32_t rcvbuf = tapir_stack_config(r->p.b.s)->tcp_rcvbuf;
    ck_assert_msg(r->cwnd_before_loss <= 4 * rcvbuf, "cwnd %u after 2 GiB with a %u-byte receive window",
                  r->cwnd_before_loss, rcvbuf);
    uint64_t fast = s->stats.tcp_fast_retransmits - r->fast_before;
    uint64_t rto = s->stats.tcp_rto_expired - r->rto_before;
    ck_assert_msg(r->first_was_fast && !r->first_was_timeout,
                  "%s: the first loss past 2^31 bytes waited for the timer (%llu fast retransmits, %llu timeouts)",
                  with_sack ? "SACK" : "NewReno", (unsigned long long)fast, (unsigned long long)rto);
    ck_assert_uint_gt(fast, 0);
    if (with_sack)
        ck_assert_uint_eq(s->stats.tcp_sack_recoveries, s->stats.tcp_fast_retransmits);
    else
        ck_assert_uint_eq(s->stats.tcp_sack_recoveries, 0);
    tcpsim_pair_free(&r->p);
    free(r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tcp_sim_long");
    TCase *tc = tcase_create("past_2gib");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, losses_past_2gib_are_repaired_by_fast_retransmit, 0, 2);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
