/* The ACK owed for an unacceptable segment (RFC 9293 3.10.7.4 step 1, RFC
 * 7323 5.3 R1) and its rate limit: a pure ACK outside the window is
 * answered at most once per cfg.tcp_oow_ack_interval (500 ms, as Linux's
 * tcp_invalid_ratelimit) on a connection, so that two ends that disagree
 * about the sequence space cannot keep an ACK storm going; a segment that
 * carries data or a FIN is answered every time. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "core/stack.h"
#include "core/tcp.h"
#include "core/tcp_conn.h"
#include "harness.h"
#include "tcp_script.h"

#define PEER_ISS 5000u

static struct tcp_script *sc;
static struct tcp_conn *conn;

static tapir_time_t interval_setting;
static void set_interval(struct tapir_config *cfg) { cfg->tcp_oow_ack_interval = interval_setting; }

static void open_with_interval(tapir_time_t interval)
{
    interval_setting = interval;
    sc = tcp_script_new(set_interval);
    conn = tcp_script_active_open(sc, PEER_ISS);
    tcp_script_flush(sc);
}

static void finish(void) { tcp_script_finish(&sc, &conn); }

/* A pure ACK far above the receive window. */
static void send_oow_ack(void) { tcp_script_send(sc, TCP_ACK, sc->peer_nxt + 0x40000000u, sc->our_nxt, 0, NULL, 0); }

static void expect_the_ack(void) { tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt, NULL); }

static uint64_t skipped(void) { return sc->s->stats.tcp_oow_acks_skipped; }

START_TEST(out_of_window_pure_acks_are_answered_once_per_interval)
{
    open_with_interval(TAPIR_MSEC(500));
    send_oow_ack();
    expect_the_ack();
    for (int i = 0; i < 50; i++)
        send_oow_ack();
    tcp_script_expect_none(sc);
    ck_assert_uint_eq(skipped(), 50);
    tcp_script_advance(sc, TAPIR_MSEC(499));
    send_oow_ack();
    tcp_script_expect_none(sc);
    tcp_script_advance(sc, TAPIR_MSEC(1));
    send_oow_ack();
    expect_the_ack();
    ck_assert_uint_eq(skipped(), 51);
    ck_assert_int_eq(tcp_state(conn), TAPIR_TCP_ESTABLISHED);
    finish();
}
END_TEST

START_TEST(out_of_window_data_and_fin_are_answered_every_time)
{
    open_with_interval(TAPIR_MSEC(500));
    send_oow_ack();
    expect_the_ack();
    /* An old retransmission (below RCV.NXT) and a segment above the window
     * both carry data: their senders need the ACK. */
    for (int i = 0; i < 5; i++) {
        tcp_script_send(sc, TCP_ACK | TCP_PSH, sc->peer_nxt - 100, sc->our_nxt, 0, "old data", 8);
        expect_the_ack();
        tcp_script_send(sc, TCP_ACK | TCP_FIN, sc->peer_nxt + 0x40000000u, sc->our_nxt, 0, NULL, 0);
        expect_the_ack();
    }
    ck_assert_uint_eq(skipped(), 0);
    finish();
}
END_TEST

START_TEST(the_limit_is_per_connection)
{
    open_with_interval(TAPIR_MSEC(500));
    /* A second connection to the same peer. */
    uint16_t first_port = sc->local_port;
    struct tcp_conn *first = conn;
    conn = tcp_script_active_open(sc, PEER_ISS + 77);
    ck_assert_uint_ne(sc->local_port, first_port);
    tcp_script_flush(sc);
    send_oow_ack();
    expect_the_ack();
    send_oow_ack();
    tcp_script_expect_none(sc);
    /* The first connection has used none of its allowance. */
    uint32_t first_snd = first->snd_max, first_rcv = first->rcv_nxt;
    tcp_script_inject_raw(sc, sc->peer_port, first_port, first_rcv + 0x40000000u, first_snd, TCP_ACK, 65535,
                          NULL, 0, NULL, 0);
    tcp_script_expect(sc, TCP_ACK, first_snd, first_rcv, NULL);
    ck_assert_uint_eq(skipped(), 1);
    tcp_abort(first);
    finish();
}
END_TEST

START_TEST(paws_rejected_pure_acks_share_the_limit)
{
    /* A connection with timestamps: build it by hand, as the script's
     * active open offers none. */
    interval_setting = TAPIR_MSEC(500);
    sc = tcp_script_new(set_interval);
    struct tcp_conn *l = tcp_script_listen(sc, 80, 4);
    /* MSS, then NOP NOP TSopt(TSval 0x1000, TSecr 0). */
    uint8_t syn_opts[16] = {TCP_OPT_MSS, 4, 0x05, 0xb4, 1, 1, TCP_OPT_TS, 10, 0, 0, 0x10, 0, 0, 0, 0, 0};
    tcp_script_inject_raw(sc, sc->peer_port, 80, PEER_ISS, 0, TCP_SYN, 65535, syn_opts, 16, NULL, 0);
    struct tcp_script_out o;
    tcp_script_expect_anyseq(sc, TCP_SYN | TCP_ACK, PEER_ISS + 1, &o);
    sc->our_nxt = o.seg.seq + 1;
    sc->peer_nxt = PEER_ISS + 1;
    ck_assert(o.seg.has_ts);
    uint32_t our_ts = o.seg.tsval;
    /* NOP NOP TSopt(TSval 0x2000, TSecr ours) completes the handshake;
     * later segments with an older TSval fail PAWS (RFC 7323 5.3 R1). */
    uint8_t ts_opts[12] = {1, 1, TCP_OPT_TS, 10, 0, 0, 0x20, 0, (uint8_t)(our_ts >> 24), (uint8_t)(our_ts >> 16),
                           (uint8_t)(our_ts >> 8), (uint8_t)our_ts};
    tcp_script_inject_raw(sc, sc->peer_port, 80, sc->peer_nxt, sc->our_nxt, TCP_ACK, 65535, ts_opts, 12, NULL, 0);
    ck_assert_int_eq(tcp_accept(l, &conn), 0);
    tcp_close(l);
    tcp_script_flush(sc);
    ts_opts[6] = 0x18;      /* TSval 0x1800 < 0x2000 */
    uint64_t paws_before = sc->s->stats.drops[TAPIR_DROP_TCP_PAWS];
    for (int i = 0; i < 10; i++)
        tcp_script_inject_raw(sc, sc->peer_port, 80, sc->peer_nxt, sc->our_nxt, TCP_ACK, 65535, ts_opts, 12,
                              NULL, 0);
    ck_assert_uint_eq(sc->s->stats.drops[TAPIR_DROP_TCP_PAWS], paws_before + 10);
    expect_the_ack();
    tcp_script_expect_none(sc);
    ck_assert_uint_eq(skipped(), 9);
    finish();
}
END_TEST

START_TEST(interval_zero_answers_every_one)
{
    open_with_interval(0);
    for (int i = 0; i < 20; i++) {
        send_oow_ack();
        expect_the_ack();
    }
    ck_assert_uint_eq(skipped(), 0);
    finish();
}
END_TEST

START_TEST(the_default_is_500_ms)
{
    struct tapir_config cfg;
    tapir_config_init(&cfg);
    ck_assert_uint_eq(cfg.tcp_oow_ack_interval, TAPIR_MSEC(500));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tcp_oow_ack");
    TCase *t = tcase_create("oow_ack");
    tcase_add_test(t, out_of_window_pure_acks_are_answered_once_per_interval);
    tcase_add_test(t, out_of_window_data_and_fin_are_answered_every_time);
    tcase_add_test(t, the_limit_is_per_connection);
    tcase_add_test(t, paws_rejected_pure_acks_share_the_limit);
    tcase_add_test(t, interval_zero_answers_every_one);
    tcase_add_test(t, the_default_is_500_ms);
    suite_add_tcase(s, t);
    return harness_run(s);
}
