/* Ethernet II: parse/push, and the input filter (too short, not our MAC,
 * unknown ethertype). */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/checksum.h"
#include "core/ether.h"
#include "core/stack.h"
#include "harness.h"
#include "net_frames.h"

static tapir_stack *st;
static struct net_capture *cap;
static uint8_t our_mac[6];
static const uint8_t peer_mac[6] = {0x02, 0x11, 0x22, 0x33, 0x44, 0x55};
static uint8_t frame[128];

static void setup(void)
{
    struct tapir_config cfg;
    harness_config(&cfg, "10.0.0.2", TAPIR_LINK_ETHERNET);
    ck_assert_int_eq(tapir_stack_create(&cfg, &st), 0);
    cap = net_capture_new();
    tapir_stack_set_output(st, net_capture_output, cap);
    tapir_stack_mac(st, our_mac);
}

static void teardown(void)
{
    ck_assert_uint_eq(st->pool.in_use, 0);
    tapir_stack_destroy(st);
    net_capture_free(cap);
}

START_TEST(parse_fields_and_short)
{
    struct ether_repr e;
    size_t n = net_ether_wrap(frame, our_mac, peer_mac, 0x0800, NULL, 0);
    ck_assert_int_eq(ether_parse(frame, n, &e), 0);
    ck_assert_mem_eq(e.dst, our_mac, 6);
    ck_assert_mem_eq(e.src, peer_mac, 6);
    ck_assert_uint_eq(e.ethertype, 0x0800);
    for (size_t len = 0; len < 14; len++)
        ck_assert_int_eq(ether_parse(frame, len, &e), -EINVAL);
}
END_TEST

START_TEST(push_writes_header)
{
    struct buf *b = buf_alloc(&st->pool);
    memcpy(buf_put(b, 3), "abc", 3);
    ck_assert_int_eq(ether_push(b, peer_mac, our_mac, 0x0806), 0);
    ck_assert_uint_eq(b->len, 17);
    ck_assert_mem_eq(b->data, peer_mac, 6);
    ck_assert_mem_eq(b->data + 6, our_mac, 6);
    ck_assert_uint_eq(b->data[12], 0x08);
    ck_assert_uint_eq(b->data[13], 0x06);
    ck_assert_mem_eq(b->data + 14, "abc", 3);
    buf_free(&st->pool, b);
}
END_TEST

START_TEST(input_too_short_dropped)
{
    net_ether_wrap(frame, our_mac, peer_mac, 0x0800, NULL, 0);
    tapir_stack_input(st, frame, 13, 1);
    tapir_stack_input(st, frame, 0, 1);
    ck_assert_uint_eq(st->stats.drops[TAPIR_DROP_ETH_TOO_SHORT], 2);
    ck_assert_uint_eq(st->stats.eth_rx, 2);
}
END_TEST

START_TEST(input_other_mac_dropped)
{
    uint8_t other[6] = {0x02, 0, 0, 0, 0, 9};
    size_t n = net_ether_wrap(frame, other, peer_mac, 0x0800, NULL, 0);
    tapir_stack_input(st, frame, n, 1);
    /* A multicast MAC is not ours either. */
    uint8_t mcast[6] = {0x01, 0x00, 0x5e, 0, 0, 1};
    n = net_ether_wrap(frame, mcast, peer_mac, 0x0800, NULL, 0);
    tapir_stack_input(st, frame, n, 1);
    ck_assert_uint_eq(st->stats.drops[TAPIR_DROP_ETH_NOT_OURS], 2);
}
END_TEST

START_TEST(input_unknown_type_dropped)
{
    size_t n = net_ether_wrap(frame, our_mac, peer_mac, 0x86dd, NULL, 0);
    memset(frame + n, 0, 46);
    tapir_stack_input(st, frame, n + 46, 1);
    n = net_ether_wrap(frame, ether_broadcast, peer_mac, 0x88cc, NULL, 0);
    tapir_stack_input(st, frame, n + 46, 1);
    ck_assert_uint_eq(st->stats.drops[TAPIR_DROP_ETH_UNKNOWN_TYPE], 2);
}
END_TEST

START_TEST(input_dispatches_ours_and_broadcast)
{
    /* An empty IPv4 payload reaches the IPv4 parser (counted there), for our
     * MAC and for broadcast alike. */
    size_t n = net_ether_wrap(frame, our_mac, peer_mac, 0x0800, NULL, 0);
    tapir_stack_input(st, frame, n, 1);
    n = net_ether_wrap(frame, ether_broadcast, peer_mac, 0x0800, NULL, 0);
    tapir_stack_input(st, frame, n, 1);
    ck_assert_uint_eq(st->stats.drops[TAPIR_DROP_IP_TOO_SHORT], 2);
    ck_assert_uint_eq(st->stats.drops[TAPIR_DROP_ETH_NOT_OURS], 0);
}
END_TEST

/* Random frames through the whole input path (Ethernet, ARP, IPv4 with
 * fragments, ICMP): nothing crashes (run it under the sanitizer build),
 * every timer runs out and every buffer comes back (teardown checks the
 * pool), and the deeper layers were reached. Seeded, so a failure replays. */
START_TEST(random_frames_never_crash_or_leak)
{
    uint64_t x = 0x243f6a8885a308d3ull;
    uint8_t f[1514];
    for (int i = 0; i < 50000; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        size_t len = (size_t)(x % sizeof f);
        uint64_t y = x;
        for (size_t j = 0; j < len; j++) {
            y ^= y << 13; y ^= y >> 7; y ^= y << 17;
            f[j] = (uint8_t)y;
        }
        if (len >= 14) {
            memcpy(f, (x >> 8) & 1 ? our_mac : ether_broadcast, 6);
            f[12] = 0x08;
            f[13] = (x >> 9) & 1 ? 0x06 : 0x00;
        }
        if (len >= 34 && f[13] == 0x00 && ((x >> 10) & 3) != 0) {
            /* A plausible IPv4 header so the deeper layers get exercised. */
            uint8_t *ip = f + 14;
            size_t iplen = len - 14;
            ip[0] = 0x45;
            ip[2] = (uint8_t)(iplen >> 8);
            ip[3] = (uint8_t)iplen;
            ip[6] &= 0x3f;               /* random MF/offset kept, DF and reserved cleared */
            if ((x >> 12) & 1)
                ip[6] = ip[7] = 0;       /* half unfragmented */
            ip[9] = (x >> 13) & 1 ? 1 : (uint8_t)(x >> 20);
            ip[12] = 10; ip[13] = 0; ip[14] = 0; ip[15] = (uint8_t)(1 + ((x >> 24) % 200));
            ip[16] = 10; ip[17] = 0; ip[18] = 0; ip[19] = 2;
            net_ipv4_fix_checksum(ip);
            if ((x >> 14) & 1 && iplen >= 28 && ip[9] == 1 && (ip[6] | ip[7]) == 0) {
                ip[20] = 8;              /* echo request with a right checksum */
                ip[22] = ip[23] = 0;
                uint16_t c = csum_compute(ip + 20, iplen - 20);
                ip[22] = (uint8_t)(c >> 8);
                ip[23] = (uint8_t)c;
            }
        }
        tapir_stack_input(st, f, len, (tapir_time_t)i * 1000);
        if (i % 1000 == 0)
            tapir_stack_poll(st, (tapir_time_t)i * 1000);
    }
    /* Drain: let every ARP retry and reassembly timer run out. */
    for (int k = 0; k < 100000 && tapir_stack_next_deadline(st) != TAPIR_TIME_NEVER; k++)
        tapir_stack_poll(st, tapir_stack_next_deadline(st));
    ck_assert_uint_eq(tapir_stack_next_deadline(st), TAPIR_TIME_NEVER);
    ck_assert_uint_eq(st->stats.eth_rx, 50000);
    ck_assert_uint_gt(st->stats.icmp_echo_replies, 0);
    ck_assert_uint_gt(st->stats.arp_rx + st->stats.drops[TAPIR_DROP_ARP_MALFORMED], 0);
    ck_assert_uint_gt(st->stats.ip_frags_rx, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ether");
    TCase *tc = tcase_create("ether");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, parse_fields_and_short);
    tcase_add_test(tc, push_writes_header);
    tcase_add_test(tc, input_too_short_dropped);
    tcase_add_test(tc, input_other_mac_dropped);
    tcase_add_test(tc, input_unknown_type_dropped);
    tcase_add_test(tc, input_dispatches_ours_and_broadcast);
    tcase_add_test(tc, random_frames_never_crash_or_leak);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
