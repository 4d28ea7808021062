/* ARP (RFC 826): replies, learning (merge flag), malformed packets, the
 * cache's expiry and bound, resolution with retries, the pending queue's
 * flush and drops. A scripted peer feeds frames; output is captured; time
 * is virtual. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/arp.h"
#include "core/ipv4.h"
#include "core/stack.h"
#include "core/wire.h"
#include "harness.h"
#include "net_frames.h"

static tapir_stack *st;
static struct net_capture *cap;
static uint8_t our_mac[6];
static const uint8_t peer_mac[6] = {0x02, 0x11, 0x22, 0x33, 0x44, 0x55};
static const uint8_t other_mac[6] = {0x02, 0x66, 0x77, 0x88, 0x99, 0xaa};
static const uint8_t zero_mac[6];
static const tapir_time_t T0 = TAPIR_SEC(500);
static uint8_t frame[2048];

static void setup_sized(uint32_t cache_size)
{
    struct tapir_config cfg;
    harness_config(&cfg, "10.0.0.2", TAPIR_LINK_ETHERNET);
    cfg.arp_cache_size = cache_size;
    ck_assert_int_eq(tapir_stack_create(&cfg, &st), 0);
    cap = net_capture_new();
    tapir_stack_set_output(st, net_capture_output, cap);
    tapir_stack_mac(st, our_mac);
    st->now = T0;
}
static void setup(void) { setup_sized(256); }
static void setup_small(void) { setup_sized(4); }

static void teardown(void)
{
    /* Let every retry and expiry run out: then no buffer may still be held. */
    for (int k = 0; k < 1000 && tapir_stack_next_deadline(st) != TAPIR_TIME_NEVER; k++)
        tapir_stack_poll(st, tapir_stack_next_deadline(st));
    ck_assert_uint_eq(tapir_stack_next_deadline(st), TAPIR_TIME_NEVER);
    ck_assert_uint_eq(st->pool.in_use, 0);
    tapir_stack_destroy(st);
    net_capture_free(cap);
}

static uint64_t drops(enum tapir_drop_reason r) { return st->stats.drops[r]; }

static void feed_arp(uint16_t op, const uint8_t sha[6], uint32_t spa, const uint8_t tha[6], uint32_t tpa,
                     const uint8_t eth_dst[6], tapir_time_t now)
{
    uint8_t arp[28];
    net_arp_build(arp, op, sha, spa, tha, tpa);
    size_t n = net_ether_wrap(frame, eth_dst, sha, 0x0806, arp, sizeof arp);
    tapir_stack_input(st, frame, n, now);
}

/* Send a 10-byte payload to dst through IPv4 (and so through ARP). */
static void send_ip(uint32_t dst, uint8_t marker)
{
    struct buf *b = buf_alloc(&st->pool);
    ck_assert_ptr_nonnull(b);
    memset(buf_put(b, 10), marker, 10);
    ck_assert_int_eq(ipv4_output(st, dst, 200, b), 0);
}

static void assert_arp_request_for(size_t i, uint32_t ip)
{
    const uint8_t *f = cap->frame[i];
    ck_assert_uint_eq(cap->len[i], 14 + 28);
    ck_assert_mem_eq(f, ether_broadcast, 6);
    ck_assert_mem_eq(f + 6, our_mac, 6);
    ck_assert_uint_eq(get_be16(f + 12), 0x0806);
    ck_assert_uint_eq(get_be16(f + 14 + 6), 1);
    ck_assert_mem_eq(f + 14 + 8, our_mac, 6);
    ck_assert_uint_eq(get_be32(f + 14 + 14), net_ip("10.0.0.2"));
    ck_assert_uint_eq(get_be32(f + 14 + 24), ip);
}

/* ---- replies and learning ------------------------------------------------- */

START_TEST(request_for_us_is_answered_and_sender_learned)
{
    feed_arp(1, peer_mac, net_ip("10.0.0.1"), zero_mac, net_ip("10.0.0.2"), ether_broadcast, T0);
    ck_assert_uint_eq(cap->count, 1);
    const uint8_t *f = cap->frame[0];
    ck_assert_mem_eq(f, peer_mac, 6);
    ck_assert_mem_eq(f + 6, our_mac, 6);
    ck_assert_uint_eq(get_be16(f + 12), 0x0806);
    ck_assert_uint_eq(get_be16(f + 14 + 6), 2);
    ck_assert_mem_eq(f + 14 + 8, our_mac, 6);
    ck_assert_uint_eq(get_be32(f + 14 + 14), net_ip("10.0.0.2"));
    ck_assert_mem_eq(f + 14 + 18, peer_mac, 6);
    ck_assert_uint_eq(get_be32(f + 14 + 24), net_ip("10.0.0.1"));
    uint8_t mac[6];
    ck_assert_int_eq(arp_cache_lookup(st, net_ip("10.0.0.1"), mac), 0);
    ck_assert_mem_eq(mac, peer_mac, 6);
    ck_assert_uint_eq(st->stats.arp_replies_sent, 1);
    ck_assert_uint_eq(st->stats.arp_rx, 1);
}
END_TEST

START_TEST(request_for_other_ignored_and_not_learned)
{
    feed_arp(1, peer_mac, net_ip("10.0.0.1"), zero_mac, net_ip("10.0.0.3"), ether_broadcast, T0);
    ck_assert_uint_eq(cap->count, 0);
    ck_assert_uint_eq(drops(TAPIR_DROP_ARP_NOT_FOR_US), 1);
    uint8_t mac[6];
    ck_assert_int_eq(arp_cache_lookup(st, net_ip("10.0.0.1"), mac), -ENOENT);
}
END_TEST

START_TEST(known_sender_merged_even_when_not_for_us)
{
    feed_arp(2, peer_mac, net_ip("10.0.0.1"), our_mac, net_ip("10.0.0.2"), our_mac, T0);
    /* The peer moved to a new MAC and tells another host: RFC 826 merge. */
    feed_arp(1, other_mac, net_ip("10.0.0.1"), zero_mac, net_ip("10.0.0.7"), ether_broadcast, T0 + 5);
    uint8_t mac[6];
    ck_assert_int_eq(arp_cache_lookup(st, net_ip("10.0.0.1"), mac), 0);
    ck_assert_mem_eq(mac, other_mac, 6);
    ck_assert_uint_eq(drops(TAPIR_DROP_ARP_NOT_FOR_US), 0);
    ck_assert_uint_eq(cap->count, 0);   /* a reply is no request: nothing answered */
}
END_TEST

START_TEST(claim_of_our_address_not_learned)
{
    feed_arp(1, peer_mac, net_ip("10.0.0.2"), zero_mac, net_ip("10.0.0.2"), ether_broadcast, T0);
    uint8_t mac[6];
    ck_assert_int_eq(arp_cache_lookup(st, net_ip("10.0.0.2"), mac), -ENOENT);
}
END_TEST

START_TEST(malformed_packets_dropped)
{
    uint8_t arp[28];
    struct { size_t at; uint8_t value; } edits[] = {
        {1, 6},        /* hardware type 6 */
        {2, 0x86},     /* protocol type 0x86dd */
        {4, 8},        /* hardware length */
        {5, 16},       /* protocol length */
        {7, 9},        /* opcode 9 */
        {8, 0x01},     /* multicast sender MAC */
    };
    size_t nedits = sizeof edits / sizeof edits[0];
    for (size_t i = 0; i < nedits; i++) {
        net_arp_build(arp, 1, peer_mac, net_ip("10.0.0.1"), zero_mac, net_ip("10.0.0.2"));
        arp[edits[i].at] = edits[i].value;
        size_t n = net_ether_wrap(frame, ether_broadcast, peer_mac, 0x0806, arp, sizeof arp);
        tapir_stack_input(st, frame, n, T0);
    }
    net_arp_build(arp, 1, peer_mac, net_ip("10.0.0.1"), zero_mac, net_ip("10.0.0.2"));
    for (size_t len = 0; len < 28; len++) {
        size_t n = net_ether_wrap(frame, ether_broadcast, peer_mac, 0x0806, arp, len);
        tapir_stack_input(st, frame, n, T0);
    }
    ck_assert_uint_eq(drops(TAPIR_DROP_ARP_MALFORMED), nedits + 28);
    ck_assert_uint_eq(cap->count, 0);
    ck_assert_uint_eq(st->stats.arp_rx, 0);
}
END_TEST

START_TEST(announce_is_gratuitous_request)
{
    tapir_stack_link_up(st, T0);
    ck_assert_uint_eq(cap->count, 1);
    assert_arp_request_for(0, net_ip("10.0.0.2"));
}
END_TEST

START_TEST(entry_in_use_is_reconfirmed_not_dropped)
{
    feed_arp(1, peer_mac, net_ip("10.0.0.1"), zero_mac, net_ip("10.0.0.2"), ether_broadcast, T0);
    send_ip(net_ip("10.0.0.1"), 1);
    net_capture_clear(cap);
    tapir_stack_poll(st, T0 + TAPIR_SEC(60));
    /* Expired while in use: a request goes out, the MAC stays usable. */
    ck_assert_uint_eq(cap->count, 1);
    assert_arp_request_for(0, net_ip("10.0.0.1"));
    st->now = T0 + TAPIR_SEC(60);
    send_ip(net_ip("10.0.0.1"), 2);
    ck_assert_uint_eq(cap->count, 2);
    ck_assert_mem_eq(cap->frame[1], peer_mac, 6);
    ck_assert_uint_eq(st->stats.arp_queued, 0);
    /* The answer confirms it for another TTL. */
    feed_arp(2, peer_mac, net_ip("10.0.0.1"), our_mac, net_ip("10.0.0.2"), our_mac, T0 + TAPIR_SEC(60) + 5);
    /* (next_deadline is a lower bound until the next poll recomputes it) */
    tapir_stack_poll(st, T0 + TAPIR_SEC(61));
    ck_assert_uint_eq(st->stats.arp_requests_sent, 1);
    ck_assert_uint_eq(tapir_stack_next_deadline(st), T0 + TAPIR_SEC(120) + 5);
}
END_TEST

START_TEST(entry_in_use_forgotten_when_reconfirmation_fails)
{
    feed_arp(1, peer_mac, net_ip("10.0.0.1"), zero_mac, net_ip("10.0.0.2"), ether_broadcast, T0);
    send_ip(net_ip("10.0.0.1"), 1);
    tapir_time_t t = T0 + TAPIR_SEC(60);
    for (int i = 0; i < 4; i++)
        tapir_stack_poll(st, t + TAPIR_SEC((unsigned)i));
    ck_assert_uint_eq(st->stats.arp_requests_sent, 3);
    uint8_t mac[6];
    ck_assert_int_eq(arp_cache_lookup(st, net_ip("10.0.0.1"), mac), -ENOENT);
    ck_assert_uint_eq(tapir_stack_next_deadline(st), TAPIR_TIME_NEVER);
}
END_TEST

/* ---- cache: expiry and bound ---------------------------------------------- */

START_TEST(entry_expires_after_ttl)
{
    feed_arp(1, peer_mac, net_ip("10.0.0.1"), zero_mac, net_ip("10.0.0.2"), ether_broadcast, T0);
    ck_assert_uint_eq(tapir_stack_next_deadline(st), T0 + TAPIR_SEC(60));
    uint8_t mac[6];
    tapir_stack_poll(st, T0 + TAPIR_SEC(60) - 1);
    ck_assert_int_eq(arp_cache_lookup(st, net_ip("10.0.0.1"), mac), 0);
    tapir_stack_poll(st, T0 + TAPIR_SEC(60));
    ck_assert_int_eq(arp_cache_lookup(st, net_ip("10.0.0.1"), mac), -ENOENT);
    ck_assert_uint_eq(tapir_stack_next_deadline(st), TAPIR_TIME_NEVER);
}
END_TEST

START_TEST(refresh_extends_entry)
{
    feed_arp(1, peer_mac, net_ip("10.0.0.1"), zero_mac, net_ip("10.0.0.2"), ether_broadcast, T0);
    feed_arp(1, peer_mac, net_ip("10.0.0.1"), zero_mac, net_ip("10.0.0.2"), ether_broadcast, T0 + TAPIR_SEC(30));
    tapir_stack_poll(st, T0 + TAPIR_SEC(60));
    uint8_t mac[6];
    ck_assert_int_eq(arp_cache_lookup(st, net_ip("10.0.0.1"), mac), 0);
    tapir_stack_poll(st, T0 + TAPIR_SEC(90));
    ck_assert_int_eq(arp_cache_lookup(st, net_ip("10.0.0.1"), mac), -ENOENT);
}
END_TEST

START_TEST(full_cache_evicts_oldest_resolved)
{
    /* setup_small: 4 entries. */
    for (int i = 0; i < 5; i++) {
        uint8_t mac[6] = {0x02, 0, 0, 0, 0, (uint8_t)(10 + i)};
        feed_arp(1, mac, net_ip("10.0.0.10") + (uint32_t)i, zero_mac, net_ip("10.0.0.2"),
                 ether_broadcast, T0 + (tapir_time_t)i);
    }
    uint8_t mac[6];
    ck_assert_int_eq(arp_cache_lookup(st, net_ip("10.0.0.10"), mac), -ENOENT);
    for (int i = 1; i < 5; i++)
        ck_assert_int_eq(arp_cache_lookup(st, net_ip("10.0.0.10") + (uint32_t)i, mac), 0);
    ck_assert_uint_eq(mac[5], 14);
}
END_TEST

START_TEST(all_pending_refuses_new_resolution)
{
    for (uint32_t i = 0; i < 4; i++)
        send_ip(net_ip("10.0.0.20") + i, 1);
    ck_assert_uint_eq(st->stats.arp_requests_sent, 4);
    send_ip(net_ip("10.0.0.30"), 1);
    ck_assert_uint_eq(drops(TAPIR_DROP_ARP_CACHE_FULL), 1);
    ck_assert_uint_eq(st->stats.arp_requests_sent, 4);
    ck_assert_uint_eq(st->pool.in_use, 4);   /* the four queued packets */
}
END_TEST

/* ---- resolution ----------------------------------------------------------- */

START_TEST(miss_queues_and_reply_flushes_in_order)
{
    send_ip(net_ip("10.0.0.1"), 0xa1);
    send_ip(net_ip("10.0.0.1"), 0xa2);
    send_ip(net_ip("10.0.0.1"), 0xa3);
    ck_assert_uint_eq(cap->count, 1);             /* one request, not three */
    assert_arp_request_for(0, net_ip("10.0.0.1"));
    ck_assert_uint_eq(st->stats.arp_queued, 3);
    ck_assert_uint_eq(st->pool.in_use, 3);
    feed_arp(2, peer_mac, net_ip("10.0.0.1"), our_mac, net_ip("10.0.0.2"), our_mac, T0 + 100);
    ck_assert_uint_eq(cap->count, 4);
    for (int i = 0; i < 3; i++) {
        const uint8_t *f = cap->frame[1 + i];
        ck_assert_mem_eq(f, peer_mac, 6);
        ck_assert_mem_eq(f + 6, our_mac, 6);
        ck_assert_uint_eq(get_be16(f + 12), 0x0800);
        ck_assert_uint_eq(f[14 + 20], 0xa1 + i);
    }
    ck_assert_uint_eq(st->stats.arp_flushed, 3);
    ck_assert_uint_eq(st->pool.in_use, 0);
    /* Now resolved: sent at once. */
    send_ip(net_ip("10.0.0.1"), 0xa4);
    ck_assert_uint_eq(cap->count, 5);
    ck_assert_mem_eq(cap->frame[4], peer_mac, 6);
}
END_TEST

START_TEST(retries_then_drops_unresolved)
{
    send_ip(net_ip("10.0.0.1"), 1);
    send_ip(net_ip("10.0.0.1"), 2);
    ck_assert_uint_eq(tapir_stack_next_deadline(st), T0 + TAPIR_SEC(1));
    tapir_stack_poll(st, T0 + TAPIR_SEC(1) - 1);
    ck_assert_uint_eq(st->stats.arp_requests_sent, 1);
    tapir_stack_poll(st, T0 + TAPIR_SEC(1));
    ck_assert_uint_eq(st->stats.arp_requests_sent, 2);
    tapir_stack_poll(st, T0 + TAPIR_SEC(2));
    ck_assert_uint_eq(st->stats.arp_requests_sent, 3);   /* cfg.arp_retries = 3 */
    ck_assert_uint_eq(cap->count, 3);
    for (size_t i = 0; i < 3; i++)
        assert_arp_request_for(i, net_ip("10.0.0.1"));
    ck_assert_uint_eq(st->pool.in_use, 2);
    tapir_stack_poll(st, T0 + TAPIR_SEC(3));
    ck_assert_uint_eq(st->stats.arp_requests_sent, 3);
    ck_assert_uint_eq(drops(TAPIR_DROP_ARP_UNRESOLVED), 2);
    ck_assert_uint_eq(st->pool.in_use, 0);
    ck_assert_uint_eq(tapir_stack_next_deadline(st), TAPIR_TIME_NEVER);
}
END_TEST

START_TEST(queue_full_drops_excess)
{
    uint32_t qlen = st->cfg.arp_queue_len;
    for (uint32_t i = 0; i < qlen + 2; i++)
        send_ip(net_ip("10.0.0.1"), (uint8_t)i);
    ck_assert_uint_eq(drops(TAPIR_DROP_ARP_QUEUE_FULL), 2);
    ck_assert_uint_eq(st->pool.in_use, qlen);
    feed_arp(2, peer_mac, net_ip("10.0.0.1"), our_mac, net_ip("10.0.0.2"), our_mac, T0 + 1);
    ck_assert_uint_eq(st->stats.arp_flushed, qlen);
    ck_assert_uint_eq(st->pool.in_use, 0);
}
END_TEST

START_TEST(off_link_goes_to_gateway_mac)
{
    st->gateway = net_ip("10.0.0.1");
    feed_arp(1, peer_mac, net_ip("10.0.0.1"), zero_mac, net_ip("10.0.0.2"), ether_broadcast, T0);
    net_capture_clear(cap);
    send_ip(net_ip("192.0.2.9"), 7);
    ck_assert_uint_eq(cap->count, 1);
    ck_assert_mem_eq(cap->frame[0], peer_mac, 6);
    ck_assert_uint_eq(get_be32(cap->frame[0] + 14 + 16), net_ip("192.0.2.9"));
}
END_TEST

START_TEST(broadcast_needs_no_resolution)
{
    send_ip(net_ip("10.0.0.255"), 7);
    send_ip(net_ip("255.255.255.255"), 7);
    ck_assert_uint_eq(cap->count, 2);
    ck_assert_mem_eq(cap->frame[0], ether_broadcast, 6);
    ck_assert_mem_eq(cap->frame[1], ether_broadcast, 6);
    ck_assert_uint_eq(st->stats.arp_requests_sent, 0);
}
END_TEST

START_TEST(echo_over_ethernet_after_learning)
{
    /* The request teaches us the peer; the echo reply then goes out at once. */
    feed_arp(1, peer_mac, net_ip("10.0.0.1"), zero_mac, net_ip("10.0.0.2"), ether_broadcast, T0);
    uint8_t icmp[64], ip[128];
    size_t ilen = net_icmp_echo(icmp, 8, 1, 1, (const uint8_t *)"hello", 5);
    struct net_ip_spec sp;
    net_ipv4_defaults(&sp, net_ip("10.0.0.1"), net_ip("10.0.0.2"), 1);
    size_t n = net_ipv4_build(ip, &sp, icmp, ilen);
    size_t fl = net_ether_wrap(frame, our_mac, peer_mac, 0x0800, ip, n);
    memset(frame + fl, 0, 60 - fl);      /* Ethernet minimum frame padding */
    tapir_stack_input(st, frame, 60, T0 + 1);
    ck_assert_uint_eq(cap->count, 2);
    ck_assert_mem_eq(cap->frame[1], peer_mac, 6);
    ck_assert_uint_eq(cap->len[1], 14 + n);
    ck_assert_uint_eq(cap->frame[1][14 + 20], 0);
    ck_assert_mem_eq(cap->frame[1] + 14 + 28, "hello", 5);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("arp");
    TCase *tr = tcase_create("reply");
    tcase_add_checked_fixture(tr, setup, teardown);
    tcase_add_test(tr, request_for_us_is_answered_and_sender_learned);
    tcase_add_test(tr, request_for_other_ignored_and_not_learned);
    tcase_add_test(tr, known_sender_merged_even_when_not_for_us);
    tcase_add_test(tr, claim_of_our_address_not_learned);
    tcase_add_test(tr, malformed_packets_dropped);
    tcase_add_test(tr, announce_is_gratuitous_request);
    suite_add_tcase(s, tr);
    TCase *tc = tcase_create("cache");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, entry_expires_after_ttl);
    tcase_add_test(tc, refresh_extends_entry);
    tcase_add_test(tc, entry_in_use_is_reconfirmed_not_dropped);
    tcase_add_test(tc, entry_in_use_forgotten_when_reconfirmation_fails);
    suite_add_tcase(s, tc);
    TCase *tb = tcase_create("bound");
    tcase_add_checked_fixture(tb, setup_small, teardown);
    tcase_add_test(tb, full_cache_evicts_oldest_resolved);
    tcase_add_test(tb, all_pending_refuses_new_resolution);
    suite_add_tcase(s, tb);
    TCase *tq = tcase_create("resolve");
    tcase_add_checked_fixture(tq, setup, teardown);
    tcase_add_test(tq, miss_queues_and_reply_flushes_in_order);
    tcase_add_test(tq, retries_then_drops_unresolved);
    tcase_add_test(tq, queue_full_drops_excess);
    tcase_add_test(tq, off_link_goes_to_gateway_mac);
    tcase_add_test(tq, broadcast_needs_no_resolution);
    tcase_add_test(tq, echo_over_ethernet_after_learning);
    suite_add_tcase(s, tq);
    return harness_run(s);
}
