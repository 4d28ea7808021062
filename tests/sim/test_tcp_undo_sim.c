/* Undo of spurious fast retransmits (tcp_undo.c) between two stacks over
 * vlink: a path that reorders (a few frames each way held back by 4 ms, so
 * that the segments sent after one overtake it and bring DupThresh
 * duplicate ACKs) and loses nothing. Each reordering episode starts a fast
 * retransmit that the delayed original then shows spurious: with
 * timestamps by Eifel (RFC 3522: the ACK echoes the original's TSval),
 * without them by D-SACK (RFC 3708: the receiver reports the retransmission
 * as a duplicate). With cfg.tcp_undo the reductions are undone (RFC 4015,
 * RFC 9438 4.9): fewer of them are kept, and the same transfer takes less
 * virtual time than with the switch off, on the same seeded link. The
 * assertions are on A's counters and the virtual time of the same runs,
 * never on wall-clock time. */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/stack.h"
#include "core/tcp.h"
#include "core/tcp_conn.h"
#include "harness.h"
#include "tcpsim.h"

#define PORT 5202
#define BYTES (4u * 1024 * 1024)

struct variant {
    const char *cc;
    bool timestamps;
};
static const struct variant variants[] = {
    {"cubic", true}, {"newreno", true}, {"cubic", false}, {"newreno", false},
};
#define N_VARIANTS (int)(sizeof variants / sizeof variants[0])

static const struct variant *current;
static bool undo_on;

static void tweak(struct tapir_config *cfg)
{
    snprintf(cfg->tcp_congestion, sizeof cfg->tcp_congestion, "%s", current->cc);
    cfg->tcp_timestamps = current->timestamps;
    cfg->tcp_sack = true;
    cfg->tcp_undo = undo_on;
}

struct run {
    struct tcpsim_pair p;
    struct tcp_conn *listener;
    struct tcpsim_app a, b;
};

struct outcome {
    tapir_time_t elapsed;
    uint64_t fast_retransmits, undos, undos_dsack, spurious_rtos, rtos, reordered;
};

static bool step(struct sim *sim, void *ctx)
{
    (void)sim;
    struct run *r = ctx;
    tcpsim_sync(&r->p);
    struct tcp_conn *c;
    if (r->listener && tcp_accept(r->listener, &c) == 0) {
        tcpsim_app_init(&r->b, c, 2, 0, 1, BYTES);
        tcp_close(r->listener);
        r->listener = NULL;
    }
    tcpsim_app_pump(&r->a);
    tcpsim_app_pump(&r->b);
    if (r->a.error || r->b.error || r->a.mismatch || r->b.mismatch)
        return true;
    return r->b.c && tcpsim_app_received_all(&r->b);
}

static void transfer(bool undo, struct outcome *o)
{
    undo_on = undo;
    struct run *r = calloc(1, sizeof *r);
    ck_assert_ptr_nonnull(r);
    struct tapir_vlink_params vp;
    tapir_vlink_params_init(&vp);
    vp.seed = 7;
    vp.delay = TAPIR_MSEC(10);
    vp.reorder = 0.004;
    vp.reorder_delay = TAPIR_MSEC(4);
    tcpsim_pair_start(&r->p, &vp, 99, tweak, NULL);
    int err;
    r->listener = tcp_conn_new(r->p.b.s, &err);
    ck_assert_ptr_nonnull(r->listener);
    ck_assert_int_eq(tcp_bind(r->listener, 0, PORT), 0);
    ck_assert_int_eq(tcp_listen(r->listener, 4), 0);
    struct tcp_conn *c = tcp_conn_new(r->p.a.s, &err);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(tcp_connect(c, TCPSIM_IP_B, PORT), -EINPROGRESS);
    tcpsim_app_init(&r->a, c, 1, BYTES, 2, 0);
    tapir_time_t start = sim_now(r->p.sim);
    bool done = sim_run_until(r->p.sim, step, r, start + TAPIR_SEC(600));
    ck_assert_msg(done && !r->a.error && !r->b.error && !r->a.mismatch && !r->b.mismatch,
                  "transfer failed: received %" PRIu64 " of %u", r->b.received, BYTES);
    const struct tapir_stats *st = &r->p.a.s->stats;
    o->elapsed = sim_now(r->p.sim) - start;
    o->fast_retransmits = st->tcp_fast_retransmits;
    o->undos = st->tcp_undos;
    o->undos_dsack = st->tcp_undos_dsack;
    o->spurious_rtos = st->tcp_spurious_rtos;
    o->rtos = st->tcp_rto_expired;
    struct tapir_vlink_stats ls;
    tapir_vlink_get_stats(r->p.a.end, &ls);
    o->reordered = ls.reordered;
    printf("%-8s %-5s undo %-3s: %8.3f s  fast retransmits %3" PRIu64 "  undone %3" PRIu64 " (D-SACK %" PRIu64
           ")  RTOs %" PRIu64 " (spurious %" PRIu64 ")  data frames held back %" PRIu64 "\n",
           current->cc, current->timestamps ? "ts" : "no-ts", undo ? "on" : "off", (double)o->elapsed / 1e6,
           o->fast_retransmits, o->undos, o->undos_dsack, o->rtos, o->spurious_rtos, o->reordered);
    if (r->listener)
        tcp_close(r->listener);
    tcp_abort(r->a.c);
    tcp_abort(r->b.c);
    tcpsim_pair_free(&r->p);
    free(r);
}

START_TEST(reordering_without_loss_keeps_fewer_reductions_and_ends_sooner)
{
    current = &variants[_i];
    struct outcome on, off;
    transfer(true, &on);
    transfer(false, &off);
    ck_assert_msg(on.reordered > 0 && off.reordered > 0, "the link reordered nothing");
    ck_assert_msg(off.fast_retransmits > 0, "reordering started no fast retransmit");
    ck_assert_uint_eq(off.undos, 0);
    ck_assert_msg(on.undos > 0, "no reduction undone");
    if (current->timestamps) {
        ck_assert_msg(on.undos > on.undos_dsack, "Eifel found nothing");
    } else {
        ck_assert_uint_eq(on.undos, on.undos_dsack);
    }
    uint64_t kept_on = on.fast_retransmits + on.rtos - on.undos;
    uint64_t kept_off = off.fast_retransmits + off.rtos;
    ck_assert_msg(kept_on < kept_off, "reductions kept: %" PRIu64 " with undo, %" PRIu64 " without", kept_on,
                  kept_off);
    ck_assert_msg(on.elapsed < off.elapsed, "undo on %.3f s, off %.3f s", (double)on.elapsed / 1e6,
                  (double)off.elapsed / 1e6);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tcp_undo_sim");
    TCase *tc = tcase_create("reorder");
    tcase_set_timeout(tc, 240);
    tcase_add_loop_test(tc, reordering_without_loss_keeps_fewer_reductions_and_ends_sooner, 0, N_VARIANTS);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
