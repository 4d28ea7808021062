/* Pure pieces of TCP: sequence arithmetic across the wrap, header and option
 * parsing with every malformed case, building, and SipHash-2-4 against the
 * reference vector of its paper. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include "core/checksum.h"
#include "core/stack.h"
#include "core/tcp_conn.h"
#include "core/tcp_seq.h"
#include "core/tcp_wire.h"
#include "core/wire.h"
#include "harness.h"

#define SRC 0x0a000003u
#define DST 0x0a000002u

START_TEST(seq_compare_across_wrap)
{
    ck_assert(seq_lt(0xfffffff0u, 0x10u));
    ck_assert(seq_gt(0x10u, 0xfffffff0u));
    ck_assert(seq_leq(5, 5));
    ck_assert(seq_geq(5, 5));
    ck_assert(!seq_lt(5, 5));
    ck_assert(seq_in(0x2u, 0xfffffffeu, 0x5u));
    ck_assert(!seq_in(0x5u, 0xfffffffeu, 0x5u));
    ck_assert(seq_between(0x5u, 0xfffffffeu, 0x5u));
    ck_assert_uint_eq(seq_max(0xffffffffu, 1), 1);
    ck_assert_uint_eq(seq_min(0xffffffffu, 1), 0xffffffffu);
    ck_assert_int_eq(seq_diff(1, 0xffffffffu), 2);
}
END_TEST

/* A 20-byte header plus opts and payload with a correct checksum. */
static size_t build(uint8_t *seg, uint8_t doff_words, const uint8_t *opts, size_t optlen,
                    const uint8_t *data, size_t dlen)
{
    memset(seg, 0, 20);
    put_be16(seg, 1234);
    put_be16(seg + 2, 80);
    put_be32(seg + 4, 0xdeadbeef);
    put_be32(seg + 8, 0x01020304);
    seg[12] = (uint8_t)(doff_words << 4);
    seg[13] = TCP_SYN | TCP_ACK;
    put_be16(seg + 14, 4096);
    if (optlen)
        memcpy(seg + 20, opts, optlen);
    if (dlen)
        memcpy(seg + 20 + optlen, data, dlen);
    size_t len = 20 + optlen + dlen;
    tcp_fill_checksum(seg, len, SRC, DST);
    return len;
}

START_TEST(parse_valid_header_with_mss_and_unknown_option)
{
    /* kind 8 len 10 (timestamps): unknown to us, skipped by its length */
    const uint8_t opts[16] = {TCP_OPT_NOP, TCP_OPT_MSS, 4, 0x05, 0xb4, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8, TCP_OPT_EOL};
    uint8_t seg[64];
    size_t len = build(seg, 9, opts, 16, (const uint8_t *)"hey", 3);
    struct tcp_seg g;
    enum tapir_drop_reason why;
    ck_assert_int_eq(tcp_parse(seg, len, SRC, DST, &g, &why), 0);
    ck_assert_uint_eq(g.sport, 1234);
    ck_assert_uint_eq(g.dport, 80);
    ck_assert_uint_eq(g.seq, 0xdeadbeef);
    ck_assert_uint_eq(g.ack, 0x01020304);
    ck_assert_uint_eq(g.flags, TCP_SYN | TCP_ACK);
    ck_assert_uint_eq(g.wnd, 4096);
    ck_assert(g.has_mss);
    ck_assert_uint_eq(g.mss, 1460);
    ck_assert_uint_eq(g.len, 3);
    ck_assert_mem_eq(g.data, "hey", 3);
    ck_assert_uint_eq(tcp_seg_seqlen(&g), 4);
}
END_TEST

static enum tapir_drop_reason parse_fail(const uint8_t *seg, size_t len)
{
    struct tcp_seg g;
    enum tapir_drop_reason why = TAPIR_DROP__COUNT;
    ck_assert_int_eq(tcp_parse(seg, len, SRC, DST, &g, &why), -EINVAL);
    return why;
}

START_TEST(parse_rejects_short_and_bad_offsets)
{
    uint8_t seg[64];
    size_t len = build(seg, 5, NULL, 0, NULL, 0);
    ck_assert_int_eq(parse_fail(seg, 19), TAPIR_DROP_TCP_TOO_SHORT);
    ck_assert_int_eq(parse_fail(seg, 0), TAPIR_DROP_TCP_TOO_SHORT);
    build(seg, 4, NULL, 0, NULL, 0);                   /* offset below 5 */
    ck_assert_int_eq(parse_fail(seg, 20), TAPIR_DROP_TCP_BAD_OFFSET);
    len = build(seg, 15, NULL, 0, NULL, 0);            /* 60 bytes claimed, 20 present */
    ck_assert_int_eq(parse_fail(seg, len), TAPIR_DROP_TCP_BAD_OFFSET);
}
END_TEST

START_TEST(parse_rejects_bad_checksum)
{
    uint8_t seg[64];
    size_t len = build(seg, 5, NULL, 0, (const uint8_t *)"abcd", 4);
    seg[21] ^= 1;
    ck_assert_int_eq(parse_fail(seg, len), TAPIR_DROP_TCP_BAD_CHECKSUM);
    seg[21] ^= 1;
    struct tcp_seg g;
    enum tapir_drop_reason why;
    /* The pseudo-header counts: another destination fails. */
    ck_assert_int_eq(tcp_parse(seg, len, SRC, DST + 1, &g, &why), -EINVAL);
    ck_assert_int_eq(why, TAPIR_DROP_TCP_BAD_CHECKSUM);
}
END_TEST

START_TEST(parse_rejects_malformed_options)
{
    uint8_t seg[64];
    const uint8_t zero_len[4] = {8, 0, 0, 0};
    const uint8_t one_len[4] = {8, 1, 0, 0};
    const uint8_t past_end[4] = {8, 6, 0, 0};
    const uint8_t mss_zero[4] = {TCP_OPT_MSS, 4, 0, 0};
    const uint8_t mss_bad_len[4] = {TCP_OPT_MSS, 3, 5, TCP_OPT_EOL};
    const uint8_t kind_only[4] = {TCP_OPT_NOP, TCP_OPT_NOP, TCP_OPT_NOP, 8};
    const uint8_t ws_bad_len[4] = {TCP_OPT_WS, 4, 1, 0};
    const uint8_t *cases[] = {zero_len, one_len, past_end, mss_zero, mss_bad_len, kind_only, ws_bad_len};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len = build(seg, 6, cases[i], 4, NULL, 0);
        ck_assert_int_eq(parse_fail(seg, len), TAPIR_DROP_TCP_BAD_OPTIONS);
    }
}
END_TEST

START_TEST(eol_ends_option_parsing)
{
    uint8_t seg[64];
    const uint8_t opts[8] = {TCP_OPT_EOL, 8, 0, 0, 0, 0, 0, 0};  /* garbage after EOL is ignored */
    size_t len = build(seg, 7, opts, 8, NULL, 0);
    struct tcp_seg g;
    enum tapir_drop_reason why;
    ck_assert_int_eq(tcp_parse(seg, len, SRC, DST, &g, &why), 0);
    ck_assert(!g.has_mss);
}
END_TEST

START_TEST(build_then_parse_round_trip)
{
    struct tcp_seg g = {.sport = 5, .dport = 6, .seq = 0xffffffff, .ack = 7, .flags = TCP_SYN,
                        .wnd = 65535, .has_mss = true, .mss = 536};
    uint8_t seg[64];
    uint32_t hl = tcp_hdr_len_for(&g);
    ck_assert_uint_eq(hl, 24);
    tcp_write_header(seg, &g);
    tcp_fill_checksum(seg, hl, SRC, DST);
    struct tcp_seg p;
    enum tapir_drop_reason why;
    ck_assert_int_eq(tcp_parse(seg, hl, SRC, DST, &p, &why), 0);
    ck_assert_uint_eq(p.seq, 0xffffffff);
    ck_assert_uint_eq(p.mss, 536);
    ck_assert_uint_eq(p.wnd, 65535);
    ck_assert_uint_eq(p.flags, TCP_SYN);
}
END_TEST

START_TEST(window_scale_option_is_parsed_and_capped_at_14)
{
    uint8_t seg[64];
    const uint8_t opts[4] = {TCP_OPT_NOP, TCP_OPT_WS, 3, 200};
    size_t len = build(seg, 6, opts, 4, NULL, 0);
    struct tcp_seg g;
    enum tapir_drop_reason why;
    ck_assert_int_eq(tcp_parse(seg, len, SRC, DST, &g, &why), 0);
    ck_assert(g.has_ws);
    ck_assert_uint_eq(g.ws, 14);
}
END_TEST

START_TEST(siphash24_reference_vector)
{
    /* SipHash paper, Appendix A: key 00..0f, message 00..0e. */
    uint8_t msg[15];
    for (int i = 0; i < 15; i++)
        msg[i] = (uint8_t)i;
    uint64_t k0 = 0x0706050403020100ull, k1 = 0x0f0e0d0c0b0a0908ull;
    ck_assert_uint_eq(tcp_siphash24(k0, k1, msg, 15), 0xa129ca6149be45e5ull);
}
END_TEST

START_TEST(isn_is_keyed_per_tuple_and_advances_with_a_4us_clock)
{
    struct tapir_config cfg;
    tapir_config_init(&cfg);
    cfg.link = TAPIR_LINK_IP;
    cfg.addr.s_addr = htonl(DST);
    cfg.random_seed = 99;
    tapir_stack *s1, *s2;
    ck_assert_int_eq(tapir_stack_create(&cfg, &s1), 0);
    cfg.random_seed = 100;
    ck_assert_int_eq(tapir_stack_create(&cfg, &s2), 0);
    s1->now = s2->now = TAPIR_SEC(5);
    uint32_t a = tcp_isn(s1, DST, 80, SRC, 1000);
    uint32_t b = tcp_isn(s1, DST, 80, SRC, 1001);
    uint32_t c = tcp_isn(s2, DST, 80, SRC, 1000);
    ck_assert_uint_ne(a, b);                /* another tuple */
    ck_assert_uint_ne(a, c);                /* another key */
    s1->now += 4000;                        /* 4 ms = 1000 ticks of 4 us */
    ck_assert_uint_eq(tcp_isn(s1, DST, 80, SRC, 1000) - a, 1000);
    tapir_stack_destroy(s1);
    tapir_stack_destroy(s2);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tcp_wire");
    TCase *t = tcase_create("wire");
    tcase_add_test(t, seq_compare_across_wrap);
    tcase_add_test(t, parse_valid_header_with_mss_and_unknown_option);
    tcase_add_test(t, parse_rejects_short_and_bad_offsets);
    tcase_add_test(t, parse_rejects_bad_checksum);
    tcase_add_test(t, parse_rejects_malformed_options);
    tcase_add_test(t, eol_ends_option_parsing);
    tcase_add_test(t, build_then_parse_round_trip);
    tcase_add_test(t, siphash24_reference_vector);
    tcase_add_test(t, window_scale_option_is_parsed_and_capped_at_14);
    tcase_add_test(t, isn_is_keyed_per_tuple_and_advances_with_a_4us_clock);
    suite_add_tcase(s, t);
    return harness_run(s);
}
