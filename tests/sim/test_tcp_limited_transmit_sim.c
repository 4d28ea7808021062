/* Limited Transmit (RFC 3042) between two stacks over vlink: the point of
 * it. A new connection's initial window is three segments of 1448 bytes
 * (RFC 5681 3.1: 4380 bytes; MSS 1460 less timestamps). The first data
 * segment is lost; the other two bring only two duplicate ACKs, one short
 * of the fast retransmit threshold, so without Limited Transmit the sender
 * waits for its retransmission timer (RFC 3042 1: "a timeout will be
 * required to resend the dropped packet"). With it, each of those two
 * duplicate ACKs sends one new segment, whose arrival brings the third and
 * fourth duplicate ACKs: fast retransmit repairs the loss and no timer
 * expires. The same losses (tcpext_run drops the first carrier of offset
 * 0) with and without SACK, with NewReno and CUBIC, with the option on and
 * off; the assertions are on A's counters, not on time.
 *
 * (A flight limited by the receiver's window cannot be helped this way:
 * the window does not open on a duplicate ACK, RFC 3042 2's first
 * condition. The small window here is cwnd.) */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "tcpext_run.h"

#define SEG 1448u

struct variant {
    const char *name;
    const char *cc;
    bool sack, limited_transmit;
};

static const struct variant variants[] = {
    {"newreno SACK LT", "newreno", true, true},
    {"newreno LT", "newreno", false, true},
    {"cubic SACK LT", "cubic", true, true},
    {"cubic LT", "cubic", false, true},
    {"newreno SACK no-LT", "newreno", true, false},
    {"newreno no-LT", "newreno", false, false},
    {"cubic SACK no-LT", "cubic", true, false},
    {"cubic no-LT", "cubic", false, false},
};
#define N_VARIANTS (int)(sizeof variants / sizeof variants[0])

static const struct variant *current;

static void tweak(struct tapir_config *cfg)
{
    snprintf(cfg->tcp_congestion, sizeof cfg->tcp_congestion, "%s", current->cc);
    cfg->tcp_sack = current->sack;
    cfg->tcp_limited_transmit = current->limited_transmit;
}

static void run(int i, struct tcpext_result *r)
{
    current = &variants[i];
    struct tcpext_case tc = {.delay = TAPIR_MSEC(10), .bytes = 40 * SEG, .limit = TAPIR_SEC(60), .tweak = tweak};
    tc.drops[tc.ndrops++] = 0;              /* the first data segment */
    tcpext_run(&tc, r);
    printf("%-20s %s: %8.3f s  RTOs %" PRIu64 "  retransmits %" PRIu64 "  fast %" PRIu64 "  limited %" PRIu64
           "  SACK recoveries %" PRIu64 "\n",
           current->name, r->ok ? "ok  " : "FAIL", (double)r->elapsed / 1e6, r->rtos, r->retransmits,
           r->fast_retransmits, r->limited_transmits, r->sack_recoveries);
    ck_assert_msg(r->ok, "%s: %s", current->name, r->why);
    ck_assert_uint_eq(r->dropped, 1);
}

START_TEST(a_loss_in_a_small_window_is_repaired_by_fast_retransmit_not_a_timeout)
{
    struct tcpext_result r;
    run(_i, &r);
    ck_assert_msg(r.rtos == 0, "%s: %" PRIu64 " retransmission timeouts", current->name, r.rtos);
    ck_assert_uint_eq(r.fast_retransmits, 1);
    ck_assert_uint_eq(r.limited_transmits, 2);
    ck_assert_uint_eq(r.retransmits, 1);            /* only the lost segment went twice */
    ck_assert_uint_eq(r.sack_recoveries, current->sack ? 1 : 0);
}
END_TEST

/* The control: the same loss without Limited Transmit needs the timer. */
START_TEST(without_limited_transmit_the_same_loss_needs_a_timeout)
{
    struct tcpext_result r;
    run(N_VARIANTS / 2 + _i, &r);
    ck_assert_uint_eq(r.limited_transmits, 0);
    ck_assert_uint_eq(r.fast_retransmits, 0);
    ck_assert_msg(r.rtos >= 1, "%s: the loss was repaired without a timeout", current->name);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tcp_limited_transmit_sim");
    TCase *tc = tcase_create("rfc3042");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, a_loss_in_a_small_window_is_repaired_by_fast_retransmit_not_a_timeout, 0,
                        N_VARIANTS / 2);
    tcase_add_loop_test(tc, without_limited_transmit_the_same_loss_needs_a_timeout, 0, N_VARIANTS / 2);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
