/* ICMP: malformed messages, echo replies (odd lengths, broadcast ignored),
 * incoming errors handed to TCP, the RFC 1122 3.2.2 rules on when an error
 * may be sent, and the token-bucket rate limit. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/checksum.h"
#include "core/icmp.h"
#include "core/ipv4.h"
#include "core/stack.h"
#include "core/wire.h"
#include "harness.h"
#include "net_frames.h"

static tapir_stack *st;
static struct net_capture *cap;
static const tapir_time_t T0 = TAPIR_SEC(10);
static uint8_t pkt[2048];

static void setup(void)
{
    struct tapir_config cfg;
    harness_config(&cfg, "10.0.0.2", TAPIR_LINK_IP);
    ck_assert_int_eq(tapir_stack_create(&cfg, &st), 0);
    cap = net_capture_new();
    tapir_stack_set_output(st, net_capture_output, cap);
    st->now = T0;
}

static void teardown(void)
{
    ck_assert_uint_eq(st->pool.in_use, 0);
    tapir_stack_destroy(st);
    net_capture_free(cap);
}

static uint64_t drops(enum tapir_drop_reason r) { return st->stats.drops[r]; }

static void feed(uint32_t src, uint32_t dst, uint8_t proto, const uint8_t *msg, size_t len, tapir_time_t now)
{
    struct net_ip_spec sp;
    net_ipv4_defaults(&sp, src, dst, proto);
    size_t n = net_ipv4_build(pkt, &sp, msg, len);
    tapir_stack_input(st, pkt, n, now);
}

static void feed_icmp(const uint8_t *msg, size_t len)
{
    feed(net_ip("10.0.0.1"), net_ip("10.0.0.2"), 1, msg, len, T0);
}

START_TEST(too_short)
{
    uint8_t m[8] = {8, 0, 0xf7, 0xff, 0, 0, 0, 0};
    for (size_t len = 0; len < 8; len++)
        feed_icmp(m, len);
    ck_assert_uint_eq(drops(TAPIR_DROP_ICMP_TOO_SHORT), 8);
    ck_assert_uint_eq(cap->count, 0);
}
END_TEST

START_TEST(bad_checksum)
{
    uint8_t m[64];
    size_t n = net_icmp_echo(m, 8, 1, 1, (const uint8_t *)"abcdef", 6);
    m[n - 1] ^= 0x20;
    feed_icmp(m, n);
    ck_assert_uint_eq(drops(TAPIR_DROP_ICMP_BAD_CHECKSUM), 1);
    ck_assert_uint_eq(cap->count, 0);
    ck_assert_uint_eq(st->stats.icmp_rx, 0);
}
END_TEST

START_TEST(echo_reply_odd_length)
{
    uint8_t m[64];
    size_t n = net_icmp_echo(m, 8, 0xabcd, 0x0102, (const uint8_t *)"odd", 3);
    feed_icmp(m, n);
    ck_assert_uint_eq(cap->count, 1);
    const uint8_t *r = cap->frame[0] + 20;
    ck_assert_uint_eq(cap->len[0], 20 + n);
    ck_assert_uint_eq(r[0], 0);
    ck_assert_uint_eq(r[1], 0);
    ck_assert_uint_eq(csum_compute(r, n), 0);
    ck_assert_mem_eq(r + 4, m + 4, n - 4);
    ck_assert_uint_eq(st->stats.icmp_rx, 1);
    ck_assert_uint_eq(st->stats.icmp_tx, 1);
}
END_TEST

START_TEST(echo_to_broadcast_ignored)
{
    uint8_t m[64];
    size_t n = net_icmp_echo(m, 8, 1, 1, NULL, 0);
    feed(net_ip("10.0.0.1"), net_ip("255.255.255.255"), 1, m, n, T0);
    feed(net_ip("10.0.0.1"), net_ip("10.0.0.255"), 1, m, n, T0);
    ck_assert_uint_eq(cap->count, 0);
    ck_assert_uint_eq(drops(TAPIR_DROP_ICMP_UNSUPPORTED), 2);
}
END_TEST

START_TEST(unsupported_types_dropped)
{
    uint8_t m[64], zeros[28] = {0};
    size_t n = net_icmp_echo(m, 0, 1, 1, NULL, 0);       /* echo reply: we never ping */
    feed_icmp(m, n);
    n = net_icmp_echo(m, 13, 1, 1, zeros, 12);            /* timestamp */
    feed_icmp(m, n);
    n = net_icmp_echo(m, 4, 0, 0, zeros, 28);             /* source quench (RFC 6633) */
    feed_icmp(m, n);
    ck_assert_uint_eq(drops(TAPIR_DROP_ICMP_UNSUPPORTED), 3);
    ck_assert_uint_eq(cap->count, 0);
}
END_TEST

/* An ICMP error (type, code) quoting a TCP segment from src to dst. */
static size_t icmp_error_about(uint8_t *m, uint8_t type, uint8_t code, uint32_t src, uint32_t dst,
                               uint8_t proto, size_t quote_data)
{
    uint8_t inner[128], l4[8] = {0x30, 0x39, 0x00, 0x50, 0, 0, 0, 1};
    struct net_ip_spec sp;
    net_ipv4_defaults(&sp, src, dst, proto);
    size_t n = net_ipv4_build(inner, &sp, l4, quote_data);
    m[0] = type;
    m[1] = code;
    put_be16(m + 2, 0);
    put_be32(m + 4, 0);
    memcpy(m + 8, inner, n);
    put_be16(m + 2, csum_compute(m, 8 + n));
    return 8 + n;
}

START_TEST(errors_about_our_tcp_handed_up)
{
    uint8_t m[128];
    size_t n = icmp_error_about(m, 3, 3, net_ip("10.0.0.2"), net_ip("10.0.0.1"), 6, 8);
    feed_icmp(m, n);
    n = icmp_error_about(m, 11, 0, net_ip("10.0.0.2"), net_ip("10.0.0.1"), 6, 8);
    feed_icmp(m, n);
    n = icmp_error_about(m, 12, 0, net_ip("10.0.0.2"), net_ip("10.0.0.1"), 6, 8);
    feed_icmp(m, n);
    ck_assert_uint_eq(st->stats.icmp_errors_rx, 3);
    ck_assert_uint_eq(cap->count, 0);   /* never an error about an error */
}
END_TEST

START_TEST(errors_not_about_us_or_truncated_dropped)
{
    uint8_t m[128];
    size_t n = icmp_error_about(m, 3, 3, net_ip("10.0.0.9"), net_ip("10.0.0.1"), 6, 8);
    feed_icmp(m, n);       /* not our segment */
    n = icmp_error_about(m, 3, 3, net_ip("10.0.0.2"), net_ip("10.0.0.1"), 17, 8);
    feed_icmp(m, n);       /* about UDP, which we do not speak */
    ck_assert_uint_eq(drops(TAPIR_DROP_ICMP_UNSUPPORTED), 2);
    n = icmp_error_about(m, 3, 3, net_ip("10.0.0.2"), net_ip("10.0.0.1"), 6, 4);
    feed_icmp(m, n);       /* quote shorter than header + 8 */
    ck_assert_uint_eq(drops(TAPIR_DROP_ICMP_TOO_SHORT), 1);
    ck_assert_uint_eq(st->stats.icmp_errors_rx, 0);
}
END_TEST

/* ---- when an error may be sent (RFC 1122 3.2.2) -------------------------- */

static size_t orig_datagram(uint8_t *o, uint32_t src, uint32_t dst, uint8_t proto, uint16_t frag_off,
                            const uint8_t *l4, size_t l4len)
{
    struct net_ip_spec sp;
    net_ipv4_defaults(&sp, src, dst, proto);
    sp.frag_offset = frag_off;
    sp.mf = frag_off != 0;
    return net_ipv4_build(o, &sp, l4, l4len);
}

START_TEST(error_rules)
{
    uint8_t o[128], echo_req[8] = {8, 0, 0, 0, 0, 0, 0, 0}, unreach[8] = {3, 1, 0, 0, 0, 0, 0, 0};
    uint32_t peer = net_ip("10.0.0.1"), us = net_ip("10.0.0.2");
    size_t n = orig_datagram(o, peer, us, 200, 0, echo_req, 8);
    ck_assert_int_eq(icmp_send_error(st, 3, 2, o, n), 0);
    n = orig_datagram(o, peer, us, 1, 0, echo_req, 8);
    ck_assert_int_eq(icmp_send_error(st, 3, 2, o, n), 0);           /* about a query: fine */
    n = orig_datagram(o, peer, us, 1, 0, unreach, 8);
    ck_assert_int_eq(icmp_send_error(st, 3, 2, o, n), -EINVAL);     /* about an error */
    n = orig_datagram(o, peer, net_ip("10.0.0.255"), 200, 0, echo_req, 8);
    ck_assert_int_eq(icmp_send_error(st, 3, 2, o, n), -EINVAL);     /* to broadcast */
    n = orig_datagram(o, peer, net_ip("224.0.0.5"), 200, 0, echo_req, 8);
    ck_assert_int_eq(icmp_send_error(st, 3, 2, o, n), -EINVAL);     /* to multicast */
    n = orig_datagram(o, net_ip("0.0.0.0"), us, 200, 0, echo_req, 8);
    ck_assert_int_eq(icmp_send_error(st, 3, 2, o, n), -EINVAL);     /* source names no host */
    n = orig_datagram(o, peer, us, 200, 1480, echo_req, 8);
    ck_assert_int_eq(icmp_send_error(st, 3, 2, o, n), -EINVAL);     /* non-first fragment */
    ck_assert_uint_eq(cap->count, 2);
}
END_TEST

START_TEST(needfrag_carries_mtu)
{
    uint8_t o[128], l4[8] = {0};
    size_t n = orig_datagram(o, net_ip("10.0.0.1"), net_ip("10.0.0.2"), 6, 0, l4, 8);
    ck_assert_int_eq(icmp_send_error(st, 3, 4, o, n), 0);
    ck_assert_uint_eq(get_be16(cap->frame[0] + 20 + 6), 1500);
}
END_TEST

START_TEST(rate_limited_by_token_bucket)
{
    /* Defaults: burst 10, then 100 per second. Unknown protocols trigger
     * protocol unreachable. */
    uint8_t data[8] = {0};
    for (int i = 0; i < 15; i++)
        feed(net_ip("10.0.0.1"), net_ip("10.0.0.2"), 200, data, 8, T0);
    ck_assert_uint_eq(st->stats.icmp_unreach_sent, 10);
    ck_assert_uint_eq(drops(TAPIR_DROP_ICMP_RATE_LIMITED), 5);
    /* 10 ms later one token has come back. */
    feed(net_ip("10.0.0.1"), net_ip("10.0.0.2"), 200, data, 8, T0 + TAPIR_MSEC(10));
    feed(net_ip("10.0.0.1"), net_ip("10.0.0.2"), 200, data, 8, T0 + TAPIR_MSEC(10));
    ck_assert_uint_eq(st->stats.icmp_unreach_sent, 11);
    /* After a long quiet spell the bucket is full again, not fuller. */
    for (int i = 0; i < 15; i++)
        feed(net_ip("10.0.0.1"), net_ip("10.0.0.2"), 200, data, 8, T0 + TAPIR_SEC(3600));
    ck_assert_uint_eq(st->stats.icmp_unreach_sent, 21);
    ck_assert_uint_eq(cap->count, 21);
    ck_assert_uint_eq(drops(TAPIR_DROP_IP_UNKNOWN_PROTO), 32);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("icmp");
    TCase *tc = tcase_create("icmp");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, too_short);
    tcase_add_test(tc, bad_checksum);
    tcase_add_test(tc, echo_reply_odd_length);
    tcase_add_test(tc, echo_to_broadcast_ignored);
    tcase_add_test(tc, unsupported_types_dropped);
    tcase_add_test(tc, errors_about_our_tcp_handed_up);
    tcase_add_test(tc, errors_not_about_us_or_truncated_dropped);
    tcase_add_test(tc, error_rules);
    tcase_add_test(tc, needfrag_carries_mtu);
    tcase_add_test(tc, rate_limited_by_token_bucket);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
