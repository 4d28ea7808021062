/* IPv4 reassembly: in order, reversed, overlapping (first data wins),
 * duplicated, timed out, over the memory and datagram bounds, malformed.
 * The datagrams are ICMP echo requests, so a completed datagram is visible
 * as an echo reply carrying the same data (itself fragmented on output,
 * which is checked by reassembling the reply here). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "core/checksum.h"
#include "core/ipv4.h"
#include "core/ipv4_reasm.h"
#include "core/stack.h"
#include "core/wire.h"
#include "harness.h"
#include "net_frames.h"

static tapir_stack *st;
static struct net_capture *cap;
static const tapir_time_t T0 = TAPIR_SEC(100);
static uint8_t echo[65536];
static size_t echo_len;
static uint8_t pkt[2048];

static void setup_with(uint32_t mem_limit, uint32_t max_dgrams)
{
    struct tapir_config cfg;
    harness_config(&cfg, "10.0.0.2", TAPIR_LINK_IP);
    if (mem_limit)
        cfg.ipfrag_mem_limit = mem_limit;
    if (max_dgrams)
        cfg.ipfrag_max_datagrams = max_dgrams;
    ck_assert_int_eq(tapir_stack_create(&cfg, &st), 0);
    cap = net_capture_new();
    tapir_stack_set_output(st, net_capture_output, cap);
}
static void setup(void) { setup_with(0, 0); }
static void setup_bounded(void) { setup_with(16 * 1024, 4); }

static void teardown(void)
{
    ck_assert_uint_eq(st->pool.in_use, 0);
    tapir_stack_destroy(st);
    net_capture_free(cap);
}

static uint64_t drops(enum tapir_drop_reason r) { return st->stats.drops[r]; }
static const struct ipv4_reasm *reasm(void) { return ipv4_reasm_of(st); }

/* An echo request with dlen data bytes, in echo[]. */
static void make_echo(size_t dlen, uint16_t seq)
{
    static uint8_t data[65536];
    for (size_t i = 0; i < dlen; i++)
        data[i] = (uint8_t)(i * 7 + seq);
    echo_len = net_icmp_echo(echo, 8, 0x4242, seq, data, dlen);
}

/* Send bytes [off, off+len) of echo[] as one fragment of datagram id. */
static void frag(uint16_t id, size_t off, size_t len, bool mf, tapir_time_t now)
{
    struct net_ip_spec sp;
    net_ipv4_defaults(&sp, net_ip("10.0.0.1"), net_ip("10.0.0.2"), 1);
    sp.id = id;
    sp.mf = mf;
    sp.frag_offset = (uint16_t)off;
    size_t n = net_ipv4_build(pkt, &sp, echo + off, len);
    tapir_stack_input(st, pkt, n, now);
}

/* Reassemble the captured reply fragments; returns the ICMP message length. */
static size_t reply_from_capture(uint8_t *out)
{
    size_t total = 0;
    ck_assert_uint_gt(cap->count, 0);
    for (size_t i = 0; i < cap->count; i++) {
        struct ipv4_repr ip;
        enum tapir_drop_reason why;
        ck_assert_int_eq(ipv4_parse(cap->frame[i], cap->len[i], &ip, &why), 0);
        ck_assert_uint_le(cap->len[i], 1500);
        ck_assert_uint_eq(ip.proto, 1);
        ck_assert_uint_eq(ip.dst, net_ip("10.0.0.1"));
        size_t plen = ip.total_len - ip.ihl;
        memcpy(out + ip.frag_offset, cap->frame[i] + ip.ihl, plen);
        if (!ip.mf)
            total = ip.frag_offset + plen;
        if (i + 1 < cap->count)
            ck_assert(ip.mf);
    }
    return total;
}

static void assert_echo_answered(void)
{
    static uint8_t reply[65536];
    size_t n = reply_from_capture(reply);
    ck_assert_uint_eq(n, echo_len);
    ck_assert_uint_eq(reply[0], 0);
    ck_assert_uint_eq(csum_compute(reply, n), 0);
    ck_assert_mem_eq(reply + 4, echo + 4, n - 4);
    ck_assert_uint_eq(st->stats.icmp_echo_replies, 1);
    ck_assert_uint_eq(ipv4_reasm_pending(reasm()), 0);
    ck_assert_uint_eq(ipv4_reasm_memory(reasm()), 0);
}

START_TEST(in_order)
{
    make_echo(3992, 1);                 /* 4000-byte ICMP message */
    frag(7, 0, 1480, true, T0);
    frag(7, 1480, 1480, true, T0);
    ck_assert_uint_eq(cap->count, 0);
    ck_assert_uint_eq(ipv4_reasm_pending(reasm()), 1);
    frag(7, 2960, echo_len - 2960, false, T0);
    ck_assert_uint_eq(st->stats.ip_frags_rx, 3);
    ck_assert_uint_eq(st->stats.ip_reassembled, 1);
    ck_assert_uint_eq(cap->count, 3);   /* the reply is fragmented too */
    assert_echo_answered();
}
END_TEST

START_TEST(reversed)
{
    make_echo(3992, 2);
    frag(8, 2960, echo_len - 2960, false, T0);
    frag(8, 1480, 1480, true, T0);
    frag(8, 0, 1480, true, T0);
    assert_echo_answered();
}
END_TEST

START_TEST(small_tail_shorter_than_a_block)
{
    make_echo(1480 - 8 + 3, 3);          /* last fragment carries 3 bytes */
    frag(9, 1480, echo_len - 1480, false, T0);
    frag(9, 0, 1480, true, T0);
    assert_echo_answered();
}
END_TEST

START_TEST(overlapping_first_data_wins)
{
    make_echo(2992, 4);                 /* 3000 bytes */
    frag(10, 0, 1480, true, T0);
    /* Overlaps [1000, 1480) with garbage: if it won, the ICMP checksum
     * would fail and no reply would come. */
    uint8_t saved[480];
    memcpy(saved, echo + 1000, sizeof saved);
    memset(echo + 1000, 0xee, sizeof saved);
    frag(10, 1000, 1480, true, T0);
    memcpy(echo + 1000, saved, sizeof saved);
    frag(10, 2480, echo_len - 2480, false, T0);
    ck_assert_uint_eq(drops(TAPIR_DROP_ICMP_BAD_CHECKSUM), 0);
    assert_echo_answered();
}
END_TEST

START_TEST(duplicates_ignored)
{
    make_echo(2992, 5);
    frag(11, 0, 1480, true, T0);
    frag(11, 0, 1480, true, T0);
    frag(11, 1480, echo_len - 1480, false, T0);
    ck_assert_uint_eq(st->stats.ip_reassembled, 1);
    assert_echo_answered();
    /* A late duplicate after completion starts a new datagram that can only
     * time out (silently: fragment 0 never comes); no second reply. */
    frag(11, 1480, echo_len - 1480, false, T0);
    ck_assert_uint_eq(ipv4_reasm_pending(reasm()), 1);
    tapir_stack_poll(st, T0 + TAPIR_SEC(30));
    ck_assert_uint_eq(ipv4_reasm_pending(reasm()), 0);
    ck_assert_uint_eq(st->stats.icmp_echo_replies, 1);
}
END_TEST

START_TEST(interleaved_datagrams_kept_apart)
{
    make_echo(2992, 6);
    frag(20, 0, 1480, true, T0);
    /* Same id from another protocol is another datagram. */
    struct net_ip_spec sp;
    net_ipv4_defaults(&sp, net_ip("10.0.0.1"), net_ip("10.0.0.2"), 6);
    sp.id = 20;
    sp.mf = true;
    size_t n = net_ipv4_build(pkt, &sp, echo, 16);
    tapir_stack_input(st, pkt, n, T0);
    ck_assert_uint_eq(ipv4_reasm_pending(reasm()), 2);
    frag(20, 1480, echo_len - 1480, false, T0);
    ck_assert_uint_eq(st->stats.icmp_echo_replies, 1);
    ck_assert_uint_eq(ipv4_reasm_pending(reasm()), 1);
}
END_TEST

START_TEST(timeout_drops_and_sends_time_exceeded)
{
    make_echo(3992, 7);
    frag(30, 0, 1480, true, T0);
    frag(30, 2960, echo_len - 2960, false, T0 + TAPIR_SEC(5));
    ck_assert_uint_eq(tapir_stack_next_deadline(st), T0 + TAPIR_SEC(30));
    tapir_stack_poll(st, T0 + TAPIR_SEC(30) - 1);
    ck_assert_uint_eq(ipv4_reasm_pending(reasm()), 1);
    tapir_stack_poll(st, T0 + TAPIR_SEC(30));
    ck_assert_uint_eq(drops(TAPIR_DROP_IP_FRAG_TIMEOUT), 1);
    ck_assert_uint_eq(ipv4_reasm_pending(reasm()), 0);
    ck_assert_uint_eq(ipv4_reasm_memory(reasm()), 0);
    ck_assert_uint_eq(tapir_stack_next_deadline(st), TAPIR_TIME_NEVER);
    ck_assert_uint_eq(cap->count, 1);
    const uint8_t *icmp = cap->frame[0] + 20;
    ck_assert_uint_eq(icmp[0], 11);
    ck_assert_uint_eq(icmp[1], 1);
    ck_assert_uint_eq(get_be16(icmp + 8 + 4), 30);   /* quotes datagram 30 */
    ck_assert_mem_eq(icmp + 8 + 20, echo, 8);
}
END_TEST

START_TEST(timeout_without_first_fragment_is_silent)
{
    make_echo(3992, 8);
    frag(31, 1480, 1480, true, T0);
    tapir_stack_poll(st, T0 + TAPIR_SEC(30));
    ck_assert_uint_eq(drops(TAPIR_DROP_IP_FRAG_TIMEOUT), 1);
    ck_assert_uint_eq(cap->count, 0);
}
END_TEST

START_TEST(malformed_fragments)
{
    make_echo(3992, 9);
    frag(40, 0, 1001, true, T0);                  /* not a multiple of 8 */
    ck_assert_uint_eq(drops(TAPIR_DROP_IP_FRAG_BAD), 1);
    ck_assert_uint_eq(ipv4_reasm_pending(reasm()), 0);
    /* Past 65535 bytes: offset 65528 + 8 bytes + 20-byte header. */
    struct net_ip_spec sp;
    net_ipv4_defaults(&sp, net_ip("10.0.0.1"), net_ip("10.0.0.2"), 1);
    sp.id = 41;
    sp.frag_offset = 65528;
    size_t n = net_ipv4_build(pkt, &sp, echo, 8);
    tapir_stack_input(st, pkt, n, T0);
    ck_assert_uint_eq(drops(TAPIR_DROP_IP_FRAG_BAD), 2);
    /* Two last fragments disagreeing on the end. */
    frag(42, 1480, 800, false, T0);
    frag(42, 1480, 808, false, T0);
    ck_assert_uint_eq(drops(TAPIR_DROP_IP_FRAG_BAD), 3);
    ck_assert_uint_eq(ipv4_reasm_pending(reasm()), 0);
    /* Data past the known end. */
    frag(43, 1480, 800, false, T0);
    frag(43, 1480, 1480, true, T0);
    ck_assert_uint_eq(drops(TAPIR_DROP_IP_FRAG_BAD), 4);
    /* A last fragment ending before data already received. */
    frag(44, 0, 1480, true, T0);
    frag(44, 800, 200, false, T0);
    ck_assert_uint_eq(drops(TAPIR_DROP_IP_FRAG_BAD), 5);
    ck_assert_uint_eq(ipv4_reasm_pending(reasm()), 0);
    ck_assert_uint_eq(cap->count, 0);
}
END_TEST

START_TEST(memory_bound)
{
    /* setup_bounded: 16 KiB, 4 datagrams. Each partial datagram holds its
     * descriptor and a data area; the bound must hold. */
    make_echo(60000, 10);
    uint64_t refused = 0;
    for (uint16_t id = 0; id < 4; id++)
        frag((uint16_t)(100 + id), 8 * 1480u * id, 1480, true, T0);
    refused = drops(TAPIR_DROP_IP_FRAG_NO_MEMORY);
    ck_assert_uint_gt(refused, 0);
    ck_assert_uint_le(ipv4_reasm_memory(reasm()), 16 * 1024);
    /* Timeouts free everything. */
    tapir_stack_poll(st, T0 + TAPIR_SEC(30));
    ck_assert_uint_eq(ipv4_reasm_memory(reasm()), 0);
}
END_TEST

START_TEST(datagram_count_bound)
{
    make_echo(2992, 11);
    for (uint16_t id = 0; id < 5; id++)
        frag((uint16_t)(200 + id), 0, 8, true, T0);
    ck_assert_uint_eq(ipv4_reasm_pending(reasm()), 4);
    ck_assert_uint_eq(drops(TAPIR_DROP_IP_FRAG_NO_MEMORY), 1);
    /* A fragment of a datagram already held is still taken. */
    frag(200, 8, 8, true, T0);
    ck_assert_uint_eq(drops(TAPIR_DROP_IP_FRAG_NO_MEMORY), 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ipv4_reasm");
    TCase *tc = tcase_create("reassembly");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, in_order);
    tcase_add_test(tc, reversed);
    tcase_add_test(tc, small_tail_shorter_than_a_block);
    tcase_add_test(tc, overlapping_first_data_wins);
    tcase_add_test(tc, duplicates_ignored);
    tcase_add_test(tc, interleaved_datagrams_kept_apart);
    tcase_add_test(tc, timeout_drops_and_sends_time_exceeded);
    tcase_add_test(tc, timeout_without_first_fragment_is_silent);
    tcase_add_test(tc, malformed_fragments);
    suite_add_tcase(s, tc);
    TCase *tb = tcase_create("bounds");
    tcase_add_checked_fixture(tb, setup_bounded, teardown);
    tcase_add_test(tb, memory_bound);
    tcase_add_test(tb, datagram_count_bound);
    suite_add_tcase(s, tb);
    return harness_run(s);
}
