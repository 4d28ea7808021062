/* ARP across a vlink with a virtual clock: a stack answers a scripted
 * peer's requests, resolves the peer's address itself (the queued reply is
 * flushed when the ARP reply comes), and retries through loss. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "core/arp.h"
#include "core/stack.h"
#include "net_frames.h"
#include "net_simsetup.h"
#include "harness.h"

static struct net_simsetup n;

static bool peer_got_arp_reply(struct sim *sim, void *ctx) { (void)sim; return ((struct net_peer *)ctx)->arp_replies_rx > 0; }
static bool peer_got_echo(struct sim *sim, void *ctx) { (void)sim; return ((struct net_peer *)ctx)->echo_replies_ok > 0; }

START_TEST(stack_answers_arp)
{
    net_simsetup_start(&n, NULL);
    net_peer_send_arp_request(n.peer, n.peer_end, net_ip("10.0.0.2"));
    ck_assert(sim_run_until(n.sim, peer_got_arp_reply, n.peer, sim_now(n.sim) + TAPIR_SEC(1)));
    uint8_t mac[6];
    tapir_stack_mac(n.stack, mac);
    ck_assert_mem_eq(n.peer->stack_mac, mac, 6);
    /* The request taught the stack the peer's address (RFC 826). */
    ck_assert_int_eq(arp_cache_lookup(n.stack, net_ip("10.0.0.1"), mac), 0);
    ck_assert_mem_eq(mac, n.peer->mac, 6);
    /* Replies arrive after the link's 2 x 1 ms. */
    ck_assert_uint_eq(sim_now(n.sim), TAPIR_SEC(1) + TAPIR_MSEC(2));
    net_simsetup_finish(&n);
}
END_TEST

START_TEST(stack_resolves_peer_and_flushes)
{
    net_simsetup_start(&n, NULL);
    net_simsetup_peer_knows_stack(&n);
    net_peer_send_echo(n.peer, n.peer_end, net_ip("10.0.0.2"), 1, 1, 56);
    ck_assert(sim_run_until(n.sim, peer_got_echo, n.peer, sim_now(n.sim) + TAPIR_SEC(5)));
    ck_assert_uint_eq(n.peer->arp_requests_rx, 1);
    ck_assert_uint_eq(n.stack->stats.arp_queued, 1);
    ck_assert_uint_eq(n.stack->stats.arp_flushed, 1);
    ck_assert_uint_eq(n.peer->echo_replies_ok, 1);
    ck_assert_uint_eq(n.peer->bad_rx, 0);
    net_simsetup_finish(&n);
}
END_TEST

START_TEST(lost_request_is_retried)
{
    struct tapir_vlink_params p;
    tapir_vlink_params_init(&p);
    p.delay = TAPIR_MSEC(1);
    p.seed = 7;
    net_simsetup_start(&n, &p);
    net_simsetup_peer_knows_stack(&n);
    net_peer_send_echo(n.peer, n.peer_end, net_ip("10.0.0.2"), 1, 1, 56);
    /* The echo request is in flight; everything after it is lost ... */
    p.loss = 1.0;
    tapir_vlink_set_impairments(n.stack_end, &p);
    sim_run_for(n.sim, TAPIR_MSEC(500));
    ck_assert_uint_eq(n.stack->stats.arp_requests_sent, 1);
    ck_assert_uint_eq(n.peer->arp_requests_rx, 0);
    /* ... until the link heals; the retry at 1 s gets through. */
    p.loss = 0;
    tapir_vlink_set_impairments(n.stack_end, &p);
    ck_assert(sim_run_until(n.sim, peer_got_echo, n.peer, sim_now(n.sim) + TAPIR_SEC(5)));
    ck_assert_uint_eq(n.stack->stats.arp_requests_sent, 2);
    ck_assert_uint_eq(n.stack->stats.arp_flushed, 1);
    net_simsetup_finish(&n);
}
END_TEST

START_TEST(unanswered_resolution_drops_queued)
{
    net_simsetup_start(&n, NULL);
    net_simsetup_peer_knows_stack(&n);
    n.peer->answer_arp = false;
    net_peer_send_echo(n.peer, n.peer_end, net_ip("10.0.0.2"), 1, 1, 56);
    net_peer_send_echo(n.peer, n.peer_end, net_ip("10.0.0.2"), 1, 2, 56);
    sim_run_for(n.sim, TAPIR_SEC(10));
    ck_assert_uint_eq(n.peer->arp_requests_rx, 3);          /* cfg.arp_retries */
    ck_assert_uint_eq(n.stack->stats.drops[TAPIR_DROP_ARP_UNRESOLVED], 2);
    ck_assert_uint_eq(n.peer->echo_replies_ok, 0);
    net_simsetup_finish(&n);
}
END_TEST

START_TEST(twenty_percent_loss)
{
    /* Several seeds; each run pings every 2 s. With 20% loss per direction
     * some requests, replies and ARP exchanges are lost; ARP retries must
     * keep resolution working, and nothing may leak. */
    uint64_t total_ok = 0, total_retries = 0;
    for (uint64_t seed = 1; seed <= 10; seed++) {
        struct tapir_vlink_params p;
        tapir_vlink_params_init(&p);
        p.delay = TAPIR_MSEC(2);
        p.jitter = TAPIR_MSEC(1);
        p.loss = 0.2;
        p.seed = seed;
        net_simsetup_start(&n, &p);
        net_simsetup_peer_knows_stack(&n);
        for (uint16_t i = 0; i < 20; i++) {
            net_peer_send_echo(n.peer, n.peer_end, net_ip("10.0.0.2"), 9, i, 32);
            sim_run_for(n.sim, TAPIR_SEC(2));
        }
        struct tapir_vlink_stats ab;
        tapir_vlink_get_stats(n.peer_end, &ab);
        const struct tapir_stats *st = &n.stack->stats;
        ck_assert_msg(ab.lost > 0 && n.peer->echo_replies_ok <= 20 && n.peer->bad_rx == 0 &&
                      /* every queued packet was flushed or dropped for a reason */
                      st->arp_queued == st->arp_flushed + st->drops[TAPIR_DROP_ARP_UNRESOLVED],
                      "vlink seed %llu: lost %llu, replies %llu, bad %llu, queued %llu flushed %llu unresolved %llu",
                      (unsigned long long)seed, (unsigned long long)ab.lost,
                      (unsigned long long)n.peer->echo_replies_ok, (unsigned long long)n.peer->bad_rx,
                      (unsigned long long)st->arp_queued, (unsigned long long)st->arp_flushed,
                      (unsigned long long)st->drops[TAPIR_DROP_ARP_UNRESOLVED]);
        total_ok += n.peer->echo_replies_ok;
        total_retries += st->arp_requests_sent - n.peer->arp_requests_rx;
        net_simsetup_finish(&n);
    }
    /* 64% of pings survive both ways: expect about 128 of 200. */
    ck_assert_uint_ge(total_ok, 100);
    ck_assert_uint_gt(total_retries, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("arp_sim");
    TCase *tc = tcase_create("arp_sim");
    tcase_add_test(tc, stack_answers_arp);
    tcase_add_test(tc, stack_resolves_peer_and_flushes);
    tcase_add_test(tc, lost_request_is_retried);
    tcase_add_test(tc, unanswered_resolution_drops_queued);
    tcase_add_test(tc, twenty_percent_loss);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
