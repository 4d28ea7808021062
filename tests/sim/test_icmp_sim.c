/* ICMP across a vlink with a virtual clock: echo after ARP, a 4000-byte
 * echo fragmented both ways, and corruption (every corrupted frame is
 * dropped and counted, every clean one answered). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "core/stack.h"
#include "net_frames.h"
#include "net_simsetup.h"
#include "harness.h"

static struct net_simsetup n;

static bool peer_got_arp_reply(struct sim *sim, void *ctx) { (void)sim; return ((struct net_peer *)ctx)->arp_replies_rx > 0; }

struct want { struct net_peer *peer; uint64_t replies; };
static bool peer_got_replies(struct sim *sim, void *ctx)
{
    (void)sim;
    struct want *w = ctx;
    return w->peer->echo_replies_ok >= w->replies;
}

static void resolve_stack(void)
{
    net_peer_send_arp_request(n.peer, n.peer_end, net_ip("10.0.0.2"));
    ck_assert(sim_run_until(n.sim, peer_got_arp_reply, n.peer, sim_now(n.sim) + TAPIR_SEC(1)));
}

START_TEST(ping_after_arp)
{
    net_simsetup_start(&n, NULL);
    resolve_stack();
    for (uint16_t i = 0; i < 5; i++)
        net_peer_send_echo(n.peer, n.peer_end, net_ip("10.0.0.2"), 3, i, 56);
    struct want w = {n.peer, 5};
    ck_assert(sim_run_until(n.sim, peer_got_replies, &w, sim_now(n.sim) + TAPIR_SEC(1)));
    ck_assert_uint_eq(n.peer->bad_rx, 0);
    ck_assert_uint_eq(n.stack->stats.icmp_echo_replies, 5);
    /* The stack learned the peer from its request: no ARP of its own. */
    ck_assert_uint_eq(n.peer->arp_requests_rx, 0);
    net_simsetup_finish(&n);
}
END_TEST

START_TEST(large_echo_fragmented_both_ways)
{
    net_simsetup_start(&n, NULL);
    resolve_stack();
    net_peer_send_echo(n.peer, n.peer_end, net_ip("10.0.0.2"), 3, 1, 4000);
    struct want w = {n.peer, 1};
    ck_assert(sim_run_until(n.sim, peer_got_replies, &w, sim_now(n.sim) + TAPIR_SEC(1)));
    ck_assert_uint_eq(n.stack->stats.ip_frags_rx, 3);
    ck_assert_uint_eq(n.stack->stats.ip_reassembled, 1);
    struct tapir_vlink_stats back;
    tapir_vlink_get_stats(n.stack_end, &back);
    ck_assert_uint_eq(back.sent, 1 + 3);     /* ARP reply + three reply fragments */
    ck_assert_uint_eq(n.peer->bad_rx, 0);
    net_simsetup_finish(&n);
}
END_TEST

START_TEST(corruption_dropped_and_counted)
{
    struct tapir_vlink_params p;
    tapir_vlink_params_init(&p);
    p.delay = TAPIR_MSEC(1);
    p.seed = 2024;
    net_simsetup_start(&n, &p);
    resolve_stack();
    /* ARP is done over a clean link; now a third of the frames get a bit flipped. */
    p.corrupt = 0.3;
    tapir_vlink_set_impairments(n.stack_end, &p);
    const uint16_t pings = 300;
    for (uint16_t i = 0; i < pings; i++) {
        net_peer_send_echo(n.peer, n.peer_end, net_ip("10.0.0.2"), 5, i, 64);
        sim_run_for(n.sim, TAPIR_MSEC(10));
    }
    sim_run_for(n.sim, TAPIR_SEC(1));
    struct tapir_vlink_stats to_stack, to_peer;
    tapir_vlink_get_stats(n.peer_end, &to_stack);
    tapir_vlink_get_stats(n.stack_end, &to_peer);
    ck_assert_uint_gt(to_stack.corrupted, 0);
    ck_assert_uint_gt(to_peer.corrupted, 0);
    const struct tapir_stats *st = &n.stack->stats;
    /* Every corrupted request was caught by a checksum (or a length or
     * version check it broke) and dropped; every clean one was answered. */
    ck_assert_uint_eq(st->drops_total, to_stack.corrupted);
    ck_assert_uint_eq(st->drops_total,
                      st->drops[TAPIR_DROP_IP_BAD_CHECKSUM] + st->drops[TAPIR_DROP_ICMP_BAD_CHECKSUM] +
                      st->drops[TAPIR_DROP_IP_BAD_LENGTH] + st->drops[TAPIR_DROP_IP_BAD_VERSION] +
                      st->drops[TAPIR_DROP_IP_BAD_IHL]);
    ck_assert_uint_gt(st->drops[TAPIR_DROP_ICMP_BAD_CHECKSUM], 0);
    ck_assert_uint_eq(st->icmp_echo_replies, pings - to_stack.corrupted);
    /* The peer catches the corrupted replies the same way. */
    ck_assert_uint_eq(n.peer->bad_rx, to_peer.corrupted);
    ck_assert_uint_eq(n.peer->echo_replies_ok, st->icmp_echo_replies - to_peer.corrupted);
    net_simsetup_finish(&n);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("icmp_sim");
    TCase *tc = tcase_create("icmp_sim");
    tcase_add_test(tc, ping_after_arp);
    tcase_add_test(tc, large_echo_fragmented_both_ways);
    tcase_add_test(tc, corruption_dropped_and_counted);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
