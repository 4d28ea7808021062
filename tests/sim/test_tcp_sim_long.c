/* A long transfer: more than 2^31 bytes on one connection, so SND.UNA runs
 * more than half the sequence space past ISS (RFC 9293 3.4: sequence
 * numbers are compared modulo 2^32, so a test like SND.UNA > ISS stops
 * meaning "our SYN was acknowledged" after 2 GiB). Every byte is checked,
 * and cwnd must stay near the receive window that limits the transfer.
 * Two stacks over a clean vlink, virtual clock. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "tcpsim.h"

#define LONG_PORT 5003
#define CYCLE 65521u                    /* prime: the content at an offset is base[off % CYCLE] */
#define TOTAL ((1ull << 31) + (16ull << 20))

static uint8_t base[2 * CYCLE];

struct long_run {
    struct tcpsim_pair p;
    struct tcp_conn *listener, *a, *b;
    uint64_t sent, received;
    bool mismatch, a_closed, b_closed;
    uint32_t cwnd_at_end;               /* the sender's, when the last byte was queued */
    int error;
};

static bool long_step(struct sim *sim, void *ctx)
{
    (void)sim;
    struct long_run *r = ctx;
    tcpsim_sync(&r->p);
    if (r->listener && tcp_accept(r->listener, &r->b) == 0) {
        tcp_close(r->listener);
        r->listener = NULL;
    }
    while (r->a && r->sent < TOTAL) {
        uint64_t left = TOTAL - r->sent;
        size_t n = left < CYCLE ? (size_t)left : CYCLE;
        long k = tcp_send(r->a, base + r->sent % CYCLE, n);
        if (k < 0) {
            if (k != -EAGAIN)
                r->error = (int)k;
            break;
        }
        r->sent += (uint64_t)k;
    }
    if (r->a && r->sent == TOTAL && !r->a_closed) {
        struct tapir_tcp_info info;
        tcp_get_info(r->a, &info);
        r->cwnd_at_end = info.cwnd;
        tcp_close(r->a);                /* FIN after the last byte */
        r->a_closed = true;
    }
    uint8_t chunk[CYCLE];             /* base + off % CYCLE then holds the whole compare */
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
        if (memcmp(chunk, base + r->received % CYCLE, (size_t)k) != 0)
            r->mismatch = true;
        r->received += (uint64_t)k;
    }
    return r->error || r->mismatch || r->b_closed;
}

START_TEST(transfer_past_2gib_is_complete_and_exact)
{
    for (size_t i = 0; i < sizeof base; i++)
        base[i] = (uint8_t)((i % CYCLE) * 2654435761u >> 13);
    struct tapir_vlink_params vp;
    tapir_vlink_params_init(&vp);
    vp.seed = 7;
    vp.delay = TAPIR_MSEC(1);
    struct long_run *r = calloc(1, sizeof *r);
    ck_assert_ptr_nonnull(r);
    tcpsim_pair_start(&r->p, &vp, 99, NULL, NULL);
    int err;
    r->listener = tcp_conn_new(r->p.b.s, &err);
    r->a = tcp_conn_new(r->p.a.s, &err);
    ck_assert_int_eq(tcp_bind(r->listener, 0, LONG_PORT), 0);
    ck_assert_int_eq(tcp_listen(r->listener, 4), 0);
    ck_assert_int_eq(tcp_connect(r->a, TCPSIM_IP_B, LONG_PORT), -EINPROGRESS);

    bool done = sim_run_until(r->p.sim, long_step, r, sim_now(r->p.sim) + TAPIR_SEC(600));
    ck_assert_msg(done, "stalled: sent %llu, received %llu of %llu", (unsigned long long)r->sent,
                  (unsigned long long)r->received, (unsigned long long)TOTAL);
    ck_assert_int_eq(r->error, 0);
    ck_assert(!r->mismatch);
    ck_assert_uint_eq(r->received, TOTAL);
    /* The receive window (256 KiB), not cwnd, limited this clean transfer:
     * cwnd must not have kept growing past what the sender could use
     * (RFC 7661); it once reached about 1 GB here, on its way to wrapping. */
    uint32_t rcvbuf = tapir_stack_config(r->p.b.s)->tcp_rcvbuf;
    ck_assert_msg(r->cwnd_at_end <= 4 * rcvbuf, "cwnd %u after 2 GiB with a %u-byte receive window",
                  r->cwnd_at_end, rcvbuf);
    tcpsim_pair_free(&r->p);
    free(r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tcp_sim_long");
    TCase *tc = tcase_create("long");
    tcase_set_timeout(tc, 280);
    tcase_add_test(tc, transfer_past_2gib_is_complete_and_exact);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
