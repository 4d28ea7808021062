/* Hostile input: every flag combination in every state, out-of-window
 * sequence and acknowledgment numbers, malformed headers and options, a
 * flood of 100 000 SYNs and the RST rate limit. The stack must never crash,
 * never hold memory without bound, never answer a RST with a RST, and answer
 * each segment with at most the one segment RFC 9293 calls for. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/stack.h"
#include "core/tcp.h"
#include "core/wire.h"
#include "tcp_script.h"
#include "harness.h"

#define PEER_ISS 0xfffffff0u

static struct tcp_script *sc;
static struct tcp_conn *conn, *lst;

/* Bring a fresh script to state st; conn is the connection (NULL when the
 * owner already closed it), lst a listener if one is needed. */
static void small_pool(struct tapir_config *cfg)
{
    cfg->buf_count = 128;       /* thousands of stacks are made: keep each small */
}

static void reach(enum tapir_tcp_state st)
{
    sc = tcp_script_new(small_pool);
    conn = lst = NULL;
    struct tcp_script_out o;
    int err;
    switch (st) {
    case TAPIR_TCP_LISTEN:
        lst = tcp_script_listen(sc, 80, 8);
        break;
    case TAPIR_TCP_SYN_SENT:
        conn = tcp_conn_new(sc->s, &err);
        ck_assert_int_eq(tcp_connect(conn, TCP_SCRIPT_PEER_IP, sc->peer_port), -EINPROGRESS);
        ck_assert(tcp_script_next(sc, &o));
        tcp_local_addr(conn, &(uint32_t){0}, &sc->local_port);
        sc->our_nxt = o.seg.seq + 1;
        sc->peer_nxt = PEER_ISS;
        break;
    case TAPIR_TCP_SYN_RECEIVED:
        lst = tcp_script_listen(sc, 80, 8);
        tcp_script_send(sc, TCP_SYN, PEER_ISS, 0, 1460, NULL, 0);
        ck_assert(tcp_script_next(sc, &o));
        sc->our_nxt = o.seg.seq + 1;
        sc->peer_nxt = PEER_ISS + 1;
        break;
    default:
        conn = tcp_script_passive_open(sc, PEER_ISS, NULL);
        break;
    }
    switch (st) {
    case TAPIR_TCP_FIN_WAIT_1:
    case TAPIR_TCP_FIN_WAIT_2:
    case TAPIR_TCP_CLOSING:
    case TAPIR_TCP_TIME_WAIT:
        ck_assert_int_eq(tcp_send(conn, "payload", 7), 7);
        ck_assert(tcp_script_next(sc, &o));
        tcp_script_send(sc, TCP_ACK, sc->peer_nxt, sc->our_nxt + 7, 0, NULL, 0);
        sc->our_nxt += 7;
        tcp_shutdown(conn, false, true);
        ck_assert(tcp_script_next(sc, &o));             /* our FIN */
        if (st == TAPIR_TCP_FIN_WAIT_2)
            tcp_script_send(sc, TCP_ACK, sc->peer_nxt, sc->our_nxt + 1, 0, NULL, 0);
        if (st == TAPIR_TCP_CLOSING)
            tcp_script_send(sc, TCP_FIN | TCP_ACK, sc->peer_nxt, sc->our_nxt, 0, NULL, 0);
        if (st == TAPIR_TCP_TIME_WAIT)
            tcp_script_send(sc, TCP_FIN | TCP_ACK, sc->peer_nxt, sc->our_nxt + 1, 0, NULL, 0);
        if (st == TAPIR_TCP_CLOSING || st == TAPIR_TCP_TIME_WAIT)
            sc->peer_nxt++;
        break;
    case TAPIR_TCP_CLOSE_WAIT:
    case TAPIR_TCP_LAST_ACK:
        tcp_script_send(sc, TCP_FIN | TCP_ACK, sc->peer_nxt, sc->our_nxt, 0, NULL, 0);
        sc->peer_nxt++;
        if (st == TAPIR_TCP_LAST_ACK)
            tcp_shutdown(conn, false, true);
        break;
    default:
        break;
    }
    tcp_script_flush(sc);
    if (conn)
        ck_assert_int_eq(tcp_state(conn), st);
}

static void finish(void)
{
    if (conn)
        tcp_abort(conn);
    if (lst)
        tcp_close(lst);
    conn = lst = NULL;
    tcp_script_advance(sc, TAPIR_SEC(3600));
    tcp_script_flush(sc);
    tcp_script_free_checked(sc);
    sc = NULL;
}

static const enum tapir_tcp_state all_states[] = {
    TAPIR_TCP_LISTEN,     TAPIR_TCP_SYN_SENT,   TAPIR_TCP_SYN_RECEIVED, TAPIR_TCP_ESTABLISHED,
    TAPIR_TCP_FIN_WAIT_1, TAPIR_TCP_FIN_WAIT_2, TAPIR_TCP_CLOSE_WAIT,   TAPIR_TCP_CLOSING,
    TAPIR_TCP_LAST_ACK,   TAPIR_TCP_TIME_WAIT,
};

START_TEST(every_flag_combination_in_every_state)
{
    enum tapir_tcp_state st = all_states[_i];
    for (unsigned flags = 0; flags < 256; flags++) {
        reach(st);
        /* Exact, in-window, far out of window, and old sequence numbers,
         * with ACKs of old, current, future and absurd values. */
        const uint32_t seqs[] = {sc->peer_nxt, sc->peer_nxt + 100, sc->peer_nxt + 0x40000000u, sc->peer_nxt - 70000};
        const uint32_t acks[] = {sc->our_nxt, sc->our_nxt - 1, sc->our_nxt + 5000, sc->our_nxt - 0x30000000u};
        const uint16_t wnds[] = {0, 65535, 1, 300};
        for (int v = 0; v < 4; v++) {
            tcp_script_inject_raw(sc, sc->peer_port, sc->local_port, seqs[v], acks[v], (uint8_t)flags, wnds[v],
                                  NULL, 0, (const uint8_t *)"data!", (v & 1) ? 5 : 0);
            size_t n = 0;
            struct tcp_script_out o;
            while (tcp_script_next(sc, &o)) {
                n++;
                if (flags & TCP_RST)
                    ck_assert_msg(!(o.seg.flags & TCP_RST), "RST answered with RST in %s flags %02x",
                                  tapir_tcp_state_name(st), flags);
            }
            ck_assert_msg(n <= 2, "%zu segments answered one (state %s flags %02x)", n,
                          tapir_tcp_state_name(st), flags);
            ck_assert_uint_eq(sc->s->pool.in_use, 0);
            ck_assert_uint_le(tcp_conn_count(sc->s), 3);
        }
        finish();
    }
}
END_TEST

START_TEST(malformed_headers_are_dropped_silently_and_counted)
{
    reach(TAPIR_TCP_ESTABLISHED);
    const uint8_t opt_len0[4] = {8, 0, 1, 1};
    const uint8_t opt_past[4] = {8, 40, 1, 1};
    const uint8_t opt_mss0[4] = {TCP_OPT_MSS, 4, 0, 0};
    const uint8_t *bad[] = {opt_len0, opt_past, opt_mss0};
    for (int i = 0; i < 3; i++)
        tcp_script_inject_raw(sc, sc->peer_port, sc->local_port, sc->peer_nxt, sc->our_nxt, TCP_ACK, 1000,
                              bad[i], 4, (const uint8_t *)"x", 1);
    ck_assert_uint_eq(sc->s->stats.drops[TAPIR_DROP_TCP_BAD_OPTIONS], 3);
    /* Data offset beyond the segment, and below 5. */
    uint8_t seg[24] = {0};
    put_be16(seg, sc->peer_port);
    put_be16(seg + 2, sc->local_port);
    seg[12] = 0xf0;
    tcp_script_inject_ip_payload(sc, seg, sizeof seg);
    seg[12] = 0x30;
    tcp_script_inject_ip_payload(sc, seg, sizeof seg);
    ck_assert_uint_eq(sc->s->stats.drops[TAPIR_DROP_TCP_BAD_OFFSET], 2);
    tcp_script_inject_ip_payload(sc, seg, 7);
    ck_assert_uint_eq(sc->s->stats.drops[TAPIR_DROP_TCP_TOO_SHORT], 1);
    tcp_script_expect_none(sc);
    ck_assert_int_eq(tcp_state(conn), TAPIR_TCP_ESTABLISHED);
    char b[4];
    ck_assert_int_eq(tcp_recv(conn, b, sizeof b, false), -EAGAIN);
    finish();
}
END_TEST

START_TEST(ack_far_below_snd_una_gets_challenge_ack)
{
    reach(TAPIR_TCP_ESTABLISHED);
    tcp_script_send(sc, TCP_ACK, sc->peer_nxt, sc->our_nxt - 200000, 0, NULL, 0);
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt, NULL);
    ck_assert_uint_eq(sc->s->stats.tcp_challenge_acks, 1);
    finish();
}
END_TEST

static void flood_cfg(struct tapir_config *cfg)
{
    cfg->tcp_syn_queue_max = 1024;
}

START_TEST(syn_flood_of_100000_is_bounded)
{
    sc = tcp_script_new(flood_cfg);
    conn = NULL;
    lst = tcp_script_listen(sc, 80, 128);
    sc->drop_output = true;
    for (uint32_t i = 0; i < 100000; i++) {
        uint16_t port = (uint16_t)(1024 + i % 60000);
        tcp_script_inject_raw(sc, port, 80, i * 2654435761u, 0, TCP_SYN, 8192, NULL, 0, NULL, 0);
        if (i % 10000 == 0)
            sc->now += TAPIR_MSEC(10);
    }
    ck_assert_uint_le(tcp_conn_count(sc->s), 1 + 1024);
    /* Source ports wrap after 60000 SYNs: the first 1024 ports then hit
     * their own half-open connections (challenge ACKs), all others the
     * full queue. */
    ck_assert_uint_ge(sc->s->stats.drops[TAPIR_DROP_TCP_SYN_QUEUE_FULL], 100000 - 2 * 1024);
    ck_assert_uint_eq(sc->s->pool.in_use, 0);
    /* The half-open connections give up after their SYN,ACK retries. */
    tcp_script_advance(sc, TAPIR_SEC(600));
    ck_assert_uint_eq(tcp_conn_count(sc->s), 1);
    sc->drop_output = false;
    /* And a real client gets in afterwards. */
    sc->peer_port = 777;
    tcp_script_send(sc, TCP_SYN, 5, 0, 1460, NULL, 0);
    struct tcp_script_out o;
    tcp_script_expect_anyseq(sc, TCP_SYN | TCP_ACK, 6, &o);
    tcp_script_send(sc, TCP_ACK, 6, o.seg.seq + 1, 0, NULL, 0);
    ck_assert_int_eq(tcp_accept(lst, &conn), 0);
    finish();
}
END_TEST

START_TEST(rsts_to_closed_ports_are_rate_limited)
{
    sc = tcp_script_new(NULL);
    conn = lst = NULL;
    sc->local_port = 9;
    for (int i = 0; i < 3000; i++)
        tcp_script_send(sc, TCP_ACK, 1, (uint32_t)i, 0, NULL, 0);
    ck_assert_uint_eq(tcp_script_pending(sc), sc->s->cfg.tcp_rst_per_sec);
    ck_assert_uint_eq(sc->s->stats.drops[TAPIR_DROP_TCP_RATE_LIMITED], 3000 - sc->s->cfg.tcp_rst_per_sec);
    tcp_script_flush(sc);
    tcp_script_advance(sc, TAPIR_SEC(1));
    tcp_script_send(sc, TCP_ACK, 1, 77, 0, NULL, 0);
    tcp_script_expect(sc, TCP_RST, 77, 0, NULL);
    finish();
}
END_TEST

START_TEST(connection_limit_is_enforced)
{
    sc = tcp_script_new(NULL);
    conn = NULL;
    lst = tcp_script_listen(sc, 80, 8);
    sc->s->cfg.tcp_max_connections = 3;
    int err;
    struct tcp_conn *c2 = tcp_conn_new(sc->s, &err);
    ck_assert_ptr_nonnull(c2);
    tcp_script_send(sc, TCP_SYN, 5, 0, 1460, NULL, 0);  /* third: a child */
    tcp_script_flush(sc);
    ck_assert_ptr_null(tcp_conn_new(sc->s, &err));
    ck_assert_int_eq(err, -EMFILE);
    sc->peer_port++;
    tcp_script_send(sc, TCP_SYN, 5, 0, 1460, NULL, 0);
    tcp_script_expect_none(sc);
    ck_assert_uint_eq(sc->s->stats.drops[TAPIR_DROP_TCP_CONN_LIMIT], 1);
    tcp_close(c2);
    finish();
}
END_TEST

static uint64_t rng_next(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

START_TEST(random_segments_near_the_window_never_break_invariants)
{
    uint64_t seed = 0x1234567ull + (uint64_t)_i;
    fprintf(stderr, "random segments: seed %llu\n", (unsigned long long)seed);
    reach(_i % 2 ? TAPIR_TCP_ESTABLISHED : TAPIR_TCP_FIN_WAIT_1);
    if (conn)
        tcp_send(conn, "outgoing data that may be in flight", 35);
    uint8_t payload[1400];
    memset(payload, 'r', sizeof payload);
    for (int i = 0; i < 20000 && tcp_conn_count(sc->s) > 0; i++) {
        uint64_t r = rng_next(&seed);
        uint32_t seq = sc->peer_nxt + (uint32_t)((int32_t)(r & 0x1ffff) - 0x10000);
        uint32_t ack = sc->our_nxt + (uint32_t)((int32_t)((r >> 17) & 0xfff) - 0x800);
        uint8_t flags = (uint8_t)(r >> 29);
        if ((r >> 37) & 3)
            flags = (uint8_t)(flags & ~(TCP_SYN | TCP_RST));   /* mostly data/ACK traffic */
        size_t len = (size_t)((r >> 40) % sizeof payload);
        uint8_t opts[4] = {TCP_OPT_MSS, 4, (uint8_t)(r >> 48), (uint8_t)(r >> 56)};
        bool with_opt = ((r >> 39) & 1) != 0;
        tcp_script_inject_raw(sc, sc->peer_port, sc->local_port, seq, ack, flags, (uint16_t)(r >> 44),
                              with_opt ? opts : NULL, with_opt ? 4 : 0, payload, len);
        if (conn && tcp_state(conn) != TAPIR_TCP_CLOSED) {
            uint8_t b[2048];
            while (tcp_recv(conn, b, sizeof b, false) > 0)
                ;
        }
        if ((i & 255) == 0)
            tcp_script_advance(sc, TAPIR_MSEC(100));
        tcp_script_flush(sc);
        ck_assert_uint_eq(sc->s->pool.in_use, 0);
        ck_assert_uint_le(tcp_conn_count(sc->s), 2);
    }
    finish();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tcp_hostile");
    TCase *t = tcase_create("hostile");
    tcase_set_timeout(t, 120);
    tcase_add_loop_test(t, every_flag_combination_in_every_state, 0,
                        (int)(sizeof all_states / sizeof all_states[0]));
    tcase_add_test(t, malformed_headers_are_dropped_silently_and_counted);
    tcase_add_test(t, ack_far_below_snd_una_gets_challenge_ack);
    tcase_add_test(t, syn_flood_of_100000_is_bounded);
    tcase_add_test(t, rsts_to_closed_ports_are_rate_limited);
    tcase_add_test(t, connection_limit_is_enforced);
    tcase_add_loop_test(t, random_segments_near_the_window_never_break_invariants, 0, 4);
    suite_add_tcase(s, t);
    return harness_run(s);
}
