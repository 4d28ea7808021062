/* IPv4: the parser against every malformed case, the input checks
 * (destination, source, protocol dispatch, padding) and output (header,
 * routing, MTU). Runs on an IP link so no ARP is involved. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/checksum.h"
#include "core/ipv4.h"
#include "core/stack.h"
#include "core/wire.h"
#include "harness.h"
#include "net_frames.h"

static uint8_t pkt[4096];
static const uint8_t payload8[8] = {1, 2, 3, 4, 5, 6, 7, 8};

static size_t valid_packet(void)
{
    struct net_ip_spec sp;
    net_ipv4_defaults(&sp, net_ip("10.0.0.1"), net_ip("10.0.0.2"), 200);
    return net_ipv4_build(pkt, &sp, payload8, sizeof payload8);
}

static enum tapir_drop_reason parse_fails(size_t len)
{
    struct ipv4_repr ip;
    enum tapir_drop_reason why = TAPIR_DROP__COUNT;
    ck_assert_int_eq(ipv4_parse(pkt, len, &ip, &why), -EINVAL);
    return why;
}

/* ---- parser --------------------------------------------------------------- */

START_TEST(parse_valid_fields)
{
    struct net_ip_spec sp;
    net_ipv4_defaults(&sp, net_ip("10.0.0.1"), net_ip("10.0.0.2"), 6);
    sp.id = 0xbeef;
    sp.ttl = 17;
    sp.tos = 0x10;
    sp.mf = true;
    sp.frag_offset = 1480;
    size_t n = net_ipv4_build(pkt, &sp, payload8, sizeof payload8);
    struct ipv4_repr ip;
    enum tapir_drop_reason why;
    ck_assert_int_eq(ipv4_parse(pkt, n, &ip, &why), 0);
    ck_assert_uint_eq(ip.ihl, 20);
    ck_assert_uint_eq(ip.total_len, 28);
    ck_assert_uint_eq(ip.id, 0xbeef);
    ck_assert_uint_eq(ip.ttl, 17);
    ck_assert_uint_eq(ip.tos, 0x10);
    ck_assert(ip.mf);
    ck_assert(!ip.df);
    ck_assert_uint_eq(ip.frag_offset, 1480);
    ck_assert_uint_eq(ip.proto, 6);
    ck_assert_uint_eq(ip.src, net_ip("10.0.0.1"));
    ck_assert_uint_eq(ip.dst, net_ip("10.0.0.2"));
}
END_TEST

START_TEST(parse_options_give_longer_ihl)
{
    static const uint8_t opts[8] = {1, 1, 1, 1, 1, 1, 1, 0};   /* NOPs, EOL */
    struct net_ip_spec sp;
    net_ipv4_defaults(&sp, net_ip("10.0.0.1"), net_ip("10.0.0.2"), 6);
    sp.options = opts;
    sp.optlen = sizeof opts;
    size_t n = net_ipv4_build(pkt, &sp, payload8, sizeof payload8);
    struct ipv4_repr ip;
    enum tapir_drop_reason why;
    ck_assert_int_eq(ipv4_parse(pkt, n, &ip, &why), 0);
    ck_assert_uint_eq(ip.ihl, 28);
    ck_assert_uint_eq(ip.total_len, 36);
}
END_TEST

START_TEST(parse_accepts_trailing_padding)
{
    size_t n = valid_packet();
    memset(pkt + n, 0xee, 18);
    struct ipv4_repr ip;
    enum tapir_drop_reason why;
    ck_assert_int_eq(ipv4_parse(pkt, n + 18, &ip, &why), 0);
    ck_assert_uint_eq(ip.total_len, n);
}
END_TEST

START_TEST(parse_too_short)
{
    valid_packet();
    for (size_t len = 0; len < 20; len++)
        ck_assert_int_eq(parse_fails(len), TAPIR_DROP_IP_TOO_SHORT);
}
END_TEST

START_TEST(parse_bad_version)
{
    size_t n = valid_packet();
    pkt[0] = (uint8_t)(0x60 | (pkt[0] & 0x0f));
    net_ipv4_fix_checksum(pkt);
    ck_assert_int_eq(parse_fails(n), TAPIR_DROP_IP_BAD_VERSION);
}
END_TEST

START_TEST(parse_ihl_below_five)
{
    size_t n = valid_packet();
    for (uint8_t ihl = 0; ihl < 5; ihl++) {
        pkt[0] = (uint8_t)(0x40 | ihl);
        ck_assert_int_eq(parse_fails(n), TAPIR_DROP_IP_BAD_IHL);
    }
}
END_TEST

START_TEST(parse_ihl_past_packet)
{
    size_t n = valid_packet();      /* 28 bytes */
    pkt[0] = 0x48;                  /* 32-byte header in a 28-byte packet */
    ck_assert_int_eq(parse_fails(n), TAPIR_DROP_IP_BAD_IHL);
}
END_TEST

START_TEST(parse_total_length_below_ihl)
{
    size_t n = valid_packet();
    put_be16(pkt + 2, 19);
    net_ipv4_fix_checksum(pkt);
    ck_assert_int_eq(parse_fails(n), TAPIR_DROP_IP_BAD_LENGTH);
}
END_TEST

START_TEST(parse_total_length_past_frame)
{
    size_t n = valid_packet();
    put_be16(pkt + 2, (uint16_t)(n + 1));
    net_ipv4_fix_checksum(pkt);
    ck_assert_int_eq(parse_fails(n), TAPIR_DROP_IP_BAD_LENGTH);
}
END_TEST

START_TEST(parse_bad_checksum)
{
    size_t n = valid_packet();
    pkt[10] ^= 0x01;
    ck_assert_int_eq(parse_fails(n), TAPIR_DROP_IP_BAD_CHECKSUM);
    valid_packet();
    pkt[8] ^= 0x40;                 /* TTL changed, checksum not updated */
    ck_assert_int_eq(parse_fails(n), TAPIR_DROP_IP_BAD_CHECKSUM);
}
END_TEST

/* ---- input through a stack ----------------------------------------------- */

static tapir_stack *st;
static struct net_capture *cap;
static const tapir_time_t T0 = TAPIR_SEC(1000);

static void stack_setup(void)
{
    struct tapir_config cfg;
    harness_config(&cfg, "10.0.0.2", TAPIR_LINK_IP);
    cfg.gateway.s_addr = htonl(net_ip("10.0.0.1"));
    ck_assert_int_eq(tapir_stack_create(&cfg, &st), 0);
    cap = net_capture_new();
    tapir_stack_set_output(st, net_capture_output, cap);
}

static void stack_teardown(void)
{
    ck_assert_uint_eq(st->pool.in_use, 0);   /* nothing leaked */
    tapir_stack_destroy(st);
    net_capture_free(cap);
}

static uint64_t drops(enum tapir_drop_reason r) { return st->stats.drops[r]; }

static void feed_from(uint32_t src, uint32_t dst, uint8_t proto, const uint8_t *pl, size_t plen)
{
    struct net_ip_spec sp;
    net_ipv4_defaults(&sp, src, dst, proto);
    size_t n = net_ipv4_build(pkt, &sp, pl, plen);
    tapir_stack_input(st, pkt, n, T0);
}

START_TEST(input_malformed_is_counted)
{
    size_t n = valid_packet();
    pkt[10] ^= 0xff;
    tapir_stack_input(st, pkt, n, T0);
    ck_assert_uint_eq(drops(TAPIR_DROP_IP_BAD_CHECKSUM), 1);
    tapir_stack_input(st, pkt, 10, T0);
    ck_assert_uint_eq(drops(TAPIR_DROP_IP_TOO_SHORT), 1);
    ck_assert_uint_eq(st->stats.ip_rx, 0);
    ck_assert_uint_eq(cap->count, 0);
}
END_TEST

START_TEST(input_bad_sources_dropped)
{
    const char *bad[] = {"255.255.255.255", "10.0.0.255", "224.0.0.1", "0.0.0.0",
                         "127.0.0.1", "240.0.0.1", "10.0.0.2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        feed_from(net_ip(bad[i]), net_ip("10.0.0.2"), 200, payload8, 8);
    ck_assert_uint_eq(drops(TAPIR_DROP_IP_BAD_SOURCE), sizeof bad / sizeof bad[0]);
    ck_assert_uint_eq(st->stats.ip_rx, 0);
    ck_assert_uint_eq(cap->count, 0);
}
END_TEST

START_TEST(input_other_destination_dropped)
{
    feed_from(net_ip("10.0.0.1"), net_ip("10.0.0.3"), 1, payload8, 8);
    feed_from(net_ip("10.0.0.1"), net_ip("8.8.8.8"), 1, payload8, 8);
    ck_assert_uint_eq(drops(TAPIR_DROP_IP_NOT_OURS), 2);
    ck_assert_uint_eq(st->stats.ip_rx, 0);
}
END_TEST

START_TEST(input_broadcasts_accepted)
{
    feed_from(net_ip("10.0.0.1"), net_ip("255.255.255.255"), 200, payload8, 8);
    feed_from(net_ip("10.0.0.1"), net_ip("10.0.0.255"), 200, payload8, 8);
    ck_assert_uint_eq(st->stats.ip_rx, 2);
    ck_assert_uint_eq(drops(TAPIR_DROP_IP_UNKNOWN_PROTO), 2);
    /* RFC 1122 3.2.2: no ICMP error about a broadcast datagram. */
    ck_assert_uint_eq(cap->count, 0);
}
END_TEST

START_TEST(input_unknown_protocol_gets_unreachable)
{
    feed_from(net_ip("10.0.0.1"), net_ip("10.0.0.2"), 200, payload8, 8);
    ck_assert_uint_eq(drops(TAPIR_DROP_IP_UNKNOWN_PROTO), 1);
    ck_assert_uint_eq(cap->count, 1);
    const uint8_t *f = cap->frame[0];
    struct ipv4_repr ip;
    enum tapir_drop_reason why;
    ck_assert_int_eq(ipv4_parse(f, cap->len[0], &ip, &why), 0);
    ck_assert_uint_eq(ip.proto, 1);
    ck_assert_uint_eq(ip.src, net_ip("10.0.0.2"));
    ck_assert_uint_eq(ip.dst, net_ip("10.0.0.1"));
    ck_assert_uint_eq(ip.total_len, 20 + 8 + 28);
    const uint8_t *icmp = f + 20;
    ck_assert_uint_eq(icmp[0], 3);
    ck_assert_uint_eq(icmp[1], 2);
    ck_assert_uint_eq(csum_compute(icmp, 36), 0);
    /* The quote is the offending header and its first 8 data bytes. */
    struct net_ip_spec sp;
    net_ipv4_defaults(&sp, net_ip("10.0.0.1"), net_ip("10.0.0.2"), 200);
    uint8_t orig[64];
    net_ipv4_build(orig, &sp, payload8, 8);
    ck_assert_mem_eq(icmp + 8, orig, 28);
    ck_assert_uint_eq(st->stats.icmp_unreach_sent, 1);
}
END_TEST

START_TEST(input_echo_request_answered_with_padding_trimmed)
{
    uint8_t data[56], icmp[64];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 3);
    size_t ilen = net_icmp_echo(icmp, 8, 0x1234, 7, data, sizeof data);
    struct net_ip_spec sp;
    net_ipv4_defaults(&sp, net_ip("10.0.0.1"), net_ip("10.0.0.2"), 1);
    size_t n = net_ipv4_build(pkt, &sp, icmp, ilen);
    memset(pkt + n, 0xab, 6);                  /* link padding */
    tapir_stack_input(st, pkt, n + 6, T0);
    ck_assert_uint_eq(cap->count, 1);
    ck_assert_uint_eq(cap->len[0], n);
    const uint8_t *f = cap->frame[0];
    ck_assert_uint_eq(csum_compute(f, 20), 0);
    ck_assert_uint_eq(get_be32(f + 12), net_ip("10.0.0.2"));
    ck_assert_uint_eq(get_be32(f + 16), net_ip("10.0.0.1"));
    ck_assert_uint_eq(f[20], 0);               /* echo reply */
    ck_assert_uint_eq(get_be16(f + 24), 0x1234);
    ck_assert_uint_eq(get_be16(f + 26), 7);
    ck_assert_mem_eq(f + 28, data, sizeof data);
    ck_assert_uint_eq(csum_compute(f + 20, ilen), 0);
    ck_assert_uint_eq(st->stats.icmp_echo_replies, 1);
    ck_assert_uint_eq(st->stats.ip_rx, 1);
    ck_assert_uint_eq(st->stats.ip_tx, 1);
}
END_TEST

/* ---- output --------------------------------------------------------------- */

static struct buf *payload_buf(size_t n)
{
    struct buf *b = buf_alloc(&st->pool);
    ck_assert_ptr_nonnull(b);
    uint8_t *p = buf_put(b, (uint32_t)n);
    ck_assert_ptr_nonnull(p);
    memset(p, 0x5a, n);
    return b;
}

START_TEST(output_builds_header)
{
    st->now = T0;
    ck_assert_int_eq(ipv4_output(st, net_ip("10.0.0.9"), 6, payload_buf(100)), 0);
    ck_assert_int_eq(ipv4_output(st, net_ip("10.0.0.9"), 6, payload_buf(10)), 0);
    ck_assert_uint_eq(cap->count, 2);
    struct ipv4_repr a, b;
    enum tapir_drop_reason why;
    ck_assert_int_eq(ipv4_parse(cap->frame[0], cap->len[0], &a, &why), 0);
    ck_assert_int_eq(ipv4_parse(cap->frame[1], cap->len[1], &b, &why), 0);
    ck_assert_uint_eq(a.total_len, 120);
    ck_assert(a.df);
    ck_assert(!a.mf);
    ck_assert_uint_eq(a.frag_offset, 0);
    ck_assert_uint_eq(a.ttl, 64);
    ck_assert_uint_eq(a.proto, 6);
    ck_assert_uint_eq(a.src, net_ip("10.0.0.2"));
    ck_assert_uint_eq(a.dst, net_ip("10.0.0.9"));
    ck_assert_uint_eq((uint16_t)(a.id + 1), b.id);
    ck_assert_uint_eq(st->stats.ip_tx, 2);
}
END_TEST

START_TEST(output_routes)
{
    ck_assert_uint_eq(ipv4_route(st, net_ip("10.0.0.77")), net_ip("10.0.0.77"));
    ck_assert_uint_eq(ipv4_route(st, net_ip("192.0.2.1")), net_ip("10.0.0.1"));
    ck_assert_uint_eq(ipv4_route(st, net_ip("255.255.255.255")), net_ip("255.255.255.255"));
    st->gateway = 0;
    ck_assert_uint_eq(ipv4_route(st, net_ip("192.0.2.1")), 0);
    ck_assert_int_eq(ipv4_output(st, net_ip("192.0.2.1"), 6, payload_buf(10)), -EHOSTUNREACH);
    ck_assert_uint_eq(drops(TAPIR_DROP_IP_NO_ROUTE), 1);
    ck_assert_uint_eq(cap->count, 0);
}
END_TEST

START_TEST(output_refuses_over_mtu)
{
    ck_assert_uint_eq(ipv4_max_payload(st), 1480);
    ck_assert_int_eq(ipv4_output(st, net_ip("10.0.0.9"), 6, payload_buf(1481)), -EMSGSIZE);
    ck_assert_uint_eq(drops(TAPIR_DROP_IP_TOO_BIG), 1);
    ck_assert_int_eq(ipv4_output(st, net_ip("10.0.0.9"), 6, payload_buf(1480)), 0);
    ck_assert_uint_eq(cap->count, 1);
    ck_assert_uint_eq(cap->len[0], 1500);
}
END_TEST

START_TEST(output_failure_counted)
{
    cap->fail_with = -EIO;
    ck_assert_int_eq(ipv4_output(st, net_ip("10.0.0.9"), 6, payload_buf(10)), 0);
    ck_assert_uint_eq(drops(TAPIR_DROP_OUTPUT_FAILED), 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ipv4");
    TCase *tp = tcase_create("parse");
    tcase_add_test(tp, parse_valid_fields);
    tcase_add_test(tp, parse_options_give_longer_ihl);
    tcase_add_test(tp, parse_accepts_trailing_padding);
    tcase_add_test(tp, parse_too_short);
    tcase_add_test(tp, parse_bad_version);
    tcase_add_test(tp, parse_ihl_below_five);
    tcase_add_test(tp, parse_ihl_past_packet);
    tcase_add_test(tp, parse_total_length_below_ihl);
    tcase_add_test(tp, parse_total_length_past_frame);
    tcase_add_test(tp, parse_bad_checksum);
    suite_add_tcase(s, tp);
    TCase *ti = tcase_create("input");
    tcase_add_checked_fixture(ti, stack_setup, stack_teardown);
    tcase_add_test(ti, input_malformed_is_counted);
    tcase_add_test(ti, input_bad_sources_dropped);
    tcase_add_test(ti, input_other_destination_dropped);
    tcase_add_test(ti, input_broadcasts_accepted);
    tcase_add_test(ti, input_unknown_protocol_gets_unreachable);
    tcase_add_test(ti, input_echo_request_answered_with_padding_trimmed);
    suite_add_tcase(s, ti);
    TCase *to = tcase_create("output");
    tcase_add_checked_fixture(to, stack_setup, stack_teardown);
    tcase_add_test(to, output_builds_header);
    tcase_add_test(to, output_routes);
    tcase_add_test(to, output_refuses_over_mtu);
    tcase_add_test(to, output_failure_counted);
    suite_add_tcase(s, to);
    return harness_run(s);
}
