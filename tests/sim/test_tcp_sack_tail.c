/* Loss at the tail of a transfer, two stacks over vlink (RFC 6675 4,
 * NextSeg rule 4). A sends a fixed amount (whole segments) and then has
 * nothing more; one segment in its last flight and the very last segment
 * are lost. The segments between them bring the SACKs that start a
 * recovery and repair the first hole, but nothing can ever SACK anything
 * above the last segment, so IsLost() never holds for it and, without the
 * rescue retransmission, SACK recovery waits for the retransmission timer
 * where NewReno alone (RFC 6582: the partial ACK resends the next hole)
 * does not. With the rescue, SACK ends without a timeout, with exactly one
 * retransmission per lost segment, and no later than NewReno. The
 * receiver's D-SACK blocks (RFC 2883) ride along and change nothing. */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "tcpext_run.h"

static void sack_on(struct tapir_config *cfg) { strcpy(cfg->tcp_congestion, "newreno"); }
static void sack_off(struct tapir_config *cfg)
{
    strcpy(cfg->tcp_congestion, "newreno");
    cfg->tcp_sack = false;
}
static void sack_cubic(struct tapir_config *cfg) { (void)cfg; }

static void print(const char *name, const struct tcpext_result *r)
{
    printf("%-16s %s: %8.3f s  RTOs %" PRIu64 "  retransmits %" PRIu64 "  fast %" PRIu64
           "  SACK recoveries %" PRIu64 "  dropped %" PRIu64 "\n",
           name, r->ok ? "ok  " : "FAIL", (double)r->elapsed / 1e6, r->rtos, r->retransmits,
           r->fast_retransmits, r->sack_recoveries, r->dropped);
}

/* The last byte of the transfer, and one segment five segments before it. */
static void tail_losses(struct tcpext_case *tc)
{
    tc->drops[tc->ndrops++] = tc->bytes - 6 * 1448;
    tc->drops[tc->ndrops++] = tc->bytes - 1;
}

static void run_tail_loss(void (*tweak)(struct tapir_config *), const char *name, struct tcpext_result *r)
{
    /* 181 whole segments of 1448 bytes (MSS 1460 less timestamps): no short
     * last segment held back by Nagle after the recovery. */
    struct tcpext_case tc = {.delay = TAPIR_MSEC(10), .bytes = 181 * 1448, .limit = TAPIR_SEC(600), .tweak = tweak};
    tail_losses(&tc);
    tcpext_run(&tc, r);
    print(name, r);
    ck_assert_msg(r->ok, "%s: %s", name, r->why);
    ck_assert_uint_eq(r->dropped, 2);
}

START_TEST(a_lost_tail_is_rescued_without_a_timeout)
{
    struct tcpext_result s, c, n;
    run_tail_loss(sack_on, "newreno SACK", &s);
    run_tail_loss(sack_cubic, "cubic SACK", &c);
    run_tail_loss(sack_off, "newreno no SACK", &n);
    ck_assert_uint_eq(n.sack_recoveries, 0);
    const struct tcpext_result *with[] = {&s, &c};
    for (int i = 0; i < 2; i++) {
        const char *name = i ? "cubic" : "newreno";
        ck_assert_uint_eq(with[i]->sack_recoveries, 1);
        ck_assert_msg(with[i]->rtos == 0, "%s: %" PRIu64 " RTOs with SACK (tail not rescued)", name, with[i]->rtos);
        ck_assert_uint_eq(with[i]->retransmits, 2);     /* the hole and the rescued tail */
        ck_assert_msg(with[i]->elapsed <= n.elapsed, "%s: SACK took %" PRIu64 " us, NewReno alone %" PRIu64 " us",
                      name, with[i]->elapsed, n.elapsed);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tcp_sack_tail");
    TCase *tc = tcase_create("rescue");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, a_lost_tail_is_rescued_without_a_timeout);
    suite_add_tcase(s, tc);
    return harness_run_nofork(s);
}
