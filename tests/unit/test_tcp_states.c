/* Scripted segment tests of the TCP state machine, grouped by state with a
 * fixture per state: every arc of RFC 9293 Figure 5 (and note 2) and the
 * RST/SYN/ACK rules of RFC 9293 3.10.7 and RFC 5961. The suite runs in one
 * process (CK_NOFORK) so that the last test can check that every arc of the
 * diagram was taken by some test. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/stack.h"
#include "core/tcp.h"
#include "core/tcp_seq.h"
#include <stdio.h>
#include "tcp_script.h"

#define PEER_ISS 0xfffffff0u        /* the peer's sequence numbers cross 2^32 */

static struct tcp_script *sc;
static struct tcp_conn *conn;       /* the connection under test (NULL once closed) */
static struct tcp_conn *lst;        /* a listener, if the test has one */
static uint32_t iss;                /* our ISS as seen on the wire */

static void teardown(void)
{
    if (lst)
        tcp_close(lst);
    lst = NULL;
    tcp_script_finish(&sc, &conn);
}

/* A listener on port 80 with SO_REUSEADDR (TIME_WAIT holds the port). */
static struct tcp_conn *listen_reuse(void)
{
    int err;
    struct tcp_conn *l = tcp_conn_new(sc->s, &err);
    ck_assert_ptr_nonnull(l);
    tcp_set_reuseaddr(l, true);
    ck_assert_int_eq(tcp_bind(l, 0, 80), 0);
    ck_assert_int_eq(tcp_listen(l, 4), 0);
    return l;
}

static void setup_closed(void)
{
    sc = tcp_script_new(NULL);
    conn = lst = NULL;
}

static void setup_listen(void)
{
    setup_closed();
    lst = tcp_script_listen(sc, 80, 16);
}

static void setup_syn_sent_real(void)
{
    setup_closed();
    int err;
    conn = tcp_conn_new(sc->s, &err);
    ck_assert_ptr_nonnull(conn);
    sc->peer_port = 40000;
    ck_assert_int_eq(tcp_connect(conn, TCP_SCRIPT_PEER_IP, sc->peer_port), -EINPROGRESS);
    uint32_t ip;
    tcp_local_addr(conn, &ip, &sc->local_port);
    struct tcp_script_out o;
    ck_assert(tcp_script_next(sc, &o));
    ck_assert_uint_eq(o.seg.flags, TCP_SYN);
    iss = o.seg.seq;
    sc->our_nxt = iss + 1;
}

static void setup_syn_received(void)
{
    setup_listen();
    tcp_script_send(sc, TCP_SYN, PEER_ISS, 0, 1460, NULL, 0);
    struct tcp_script_out o;
    ck_assert(tcp_script_next(sc, &o));
    ck_assert_uint_eq(o.seg.flags, TCP_SYN | TCP_ACK);
    iss = o.seg.seq;
    sc->peer_nxt = PEER_ISS + 1;
    sc->our_nxt = iss + 1;
}

static void setup_established(void)
{
    setup_closed();
    conn = tcp_script_passive_open(sc, PEER_ISS, NULL);
    iss = sc->our_nxt - 1;
}

/* ESTABLISHED, then close(): FIN_WAIT_1 with our FIN at our_nxt. */
static void setup_fin_wait_1(void)
{
    setup_established();
    tcp_close(conn);
    conn = NULL;
    tcp_script_expect(sc, TCP_FIN | TCP_ACK, sc->our_nxt, sc->peer_nxt, NULL);
}

static void setup_fin_wait_2(void)
{
    setup_established();
    ck_assert_int_eq(tcp_shutdown(conn, false, true), 0);
    tcp_script_expect(sc, TCP_FIN | TCP_ACK, sc->our_nxt, sc->peer_nxt, NULL);
    tcp_script_send(sc, TCP_ACK, sc->peer_nxt, sc->our_nxt + 1, 0, NULL, 0);
    sc->our_nxt++;
    ck_assert_int_eq(tcp_state(conn), TAPIR_TCP_FIN_WAIT_2);
}

static void setup_close_wait(void)
{
    setup_established();
    tcp_script_send(sc, TCP_FIN | TCP_ACK, sc->peer_nxt, sc->our_nxt, 0, NULL, 0);
    sc->peer_nxt++;
    tcp_script_advance(sc, sc->s->cfg.delack_timeout);     /* the delayed ACK of the FIN */
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt, NULL);
    ck_assert_int_eq(tcp_state(conn), TAPIR_TCP_CLOSE_WAIT);
}

static void setup_time_wait(void)
{
    setup_fin_wait_1();
    tcp_script_send(sc, TCP_FIN | TCP_ACK, sc->peer_nxt, sc->our_nxt + 1, 0, NULL, 0);
    sc->peer_nxt++;
    sc->our_nxt++;
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt, NULL);
    ck_assert(tcp_script_saw(sc, TAPIR_TCP_FIN_WAIT_1, TAPIR_TCP_TIME_WAIT));
}

/* ---- CLOSED ---------------------------------------------------------------- */

START_TEST(closed_to_listen_on_listen)
{
    lst = tcp_script_listen(sc, 80, 4);
    ck_assert_int_eq(tcp_state(lst), TAPIR_TCP_LISTEN);
    ck_assert(tcp_script_saw(sc, TAPIR_TCP_CLOSED, TAPIR_TCP_LISTEN));
    tcp_script_expect_none(sc);
}
END_TEST

START_TEST(closed_to_syn_sent_on_connect_sends_syn_with_mss)
{
    int err;
    conn = tcp_conn_new(sc->s, &err);
    ck_assert_int_eq(tcp_connect(conn, TCP_SCRIPT_PEER_IP, 40000), -EINPROGRESS);
    struct tcp_script_out o;
    ck_assert(tcp_script_next(sc, &o));
    ck_assert_uint_eq(o.seg.flags, TCP_SYN);
    ck_assert(o.seg.has_mss);
    ck_assert_uint_eq(o.seg.mss, 1460);               /* MTU 1500 - 40 */
    ck_assert_uint_gt(o.seg.wnd, 0);
    ck_assert_uint_eq(o.seg.dport, 40000);
    ck_assert_uint_ge(o.seg.sport, 49152);            /* ephemeral */
    ck_assert_int_eq(tcp_state(conn), TAPIR_TCP_SYN_SENT);
    ck_assert(tcp_script_saw(sc, TAPIR_TCP_CLOSED, TAPIR_TCP_SYN_SENT));
}
END_TEST

START_TEST(closed_port_ack_segment_gets_rst_with_seq_of_its_ack)
{
    sc->local_port = 81;
    tcp_script_send(sc, TCP_ACK, 1000, 0x12345678, 0, "xy", 2);
    /* RFC 9293 3.10.7.1: <SEQ=SEG.ACK><CTL=RST> */
    tcp_script_expect(sc, TCP_RST, 0x12345678, 0, NULL);
    tcp_script_expect_none(sc);
}
END_TEST

START_TEST(closed_port_syn_gets_rst_ack_of_seq_plus_len)
{
    sc->local_port = 81;
    tcp_script_send(sc, TCP_SYN | TCP_FIN, 0xfffffffeu, 0, 0, "abc", 3);
    /* <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>; SEG.LEN counts SYN and FIN */
    tcp_script_expect(sc, TCP_RST | TCP_ACK, 0, 0xfffffffeu + 5, NULL);
}
END_TEST

START_TEST(closed_port_rst_is_not_answered)
{
    sc->local_port = 81;
    tcp_script_send(sc, TCP_RST, 5, 0, 0, NULL, 0);
    tcp_script_send(sc, TCP_RST | TCP_ACK, 5, 6, 0, NULL, 0);
    tcp_script_expect_none(sc);
}
END_TEST

/* ---- LISTEN ---------------------------------------------------------------- */

START_TEST(listen_to_closed_on_close)
{
    tcp_close(lst);
    lst = NULL;
    ck_assert(tcp_script_saw(sc, TAPIR_TCP_LISTEN, TAPIR_TCP_CLOSED));
    tcp_script_expect_none(sc);
}
END_TEST

START_TEST(listen_to_syn_received_on_syn_sends_syn_ack)
{
    tcp_script_send(sc, TCP_SYN, PEER_ISS, 0, 1000, NULL, 0);
    struct tcp_script_out o;
    tcp_script_expect_anyseq(sc, TCP_SYN | TCP_ACK, PEER_ISS + 1, &o);
    ck_assert(o.seg.has_mss);
    ck_assert_uint_eq(o.seg.mss, 1460);
    ck_assert(tcp_script_saw(sc, TAPIR_TCP_LISTEN, TAPIR_TCP_SYN_RECEIVED));
    ck_assert_int_eq(tcp_state(lst), TAPIR_TCP_LISTEN);
}
END_TEST

START_TEST(listen_ack_gets_rst)
{
    tcp_script_send(sc, TCP_ACK, 7, 0xabcdef01u, 0, NULL, 0);
    tcp_script_expect(sc, TCP_RST, 0xabcdef01u, 0, NULL);
}
END_TEST

START_TEST(listen_rst_is_ignored)
{
    tcp_script_send(sc, TCP_RST, 7, 0, 0, NULL, 0);
    tcp_script_expect_none(sc);
    ck_assert_int_eq(tcp_state(lst), TAPIR_TCP_LISTEN);
}
END_TEST

START_TEST(listen_to_syn_sent_on_send)
{
    ck_assert_int_eq(tcp_listen_connect(lst, TCP_SCRIPT_PEER_IP, 40000), -EINPROGRESS);
    tcp_script_expect_anyseq(sc, TCP_SYN, 0, NULL);
    ck_assert(tcp_script_saw(sc, TAPIR_TCP_LISTEN, TAPIR_TCP_SYN_SENT));
    conn = lst;
    lst = NULL;
}
END_TEST

START_TEST(listen_backlog_full_drops_syn)
{
    tcp_close(lst);
    lst = tcp_script_listen(sc, 80, 1);
    /* One completed connection fills the backlog of 1. */
    tcp_script_send(sc, TCP_SYN, 100, 0, 0, NULL, 0);
    struct tcp_script_out o;
    ck_assert(tcp_script_next(sc, &o));
    tcp_script_send(sc, TCP_ACK, 101, o.seg.seq + 1, 0, NULL, 0);
    sc->peer_port++;
    tcp_script_send(sc, TCP_SYN, 200, 0, 0, NULL, 0);
    tcp_script_expect_none(sc);
    ck_assert_uint_eq(sc->s->stats.drops[TAPIR_DROP_TCP_BACKLOG_FULL], 1);
    struct tcp_conn *a;
    ck_assert_int_eq(tcp_accept(lst, &a), 0);
    ck_assert_int_eq(tcp_accept(lst, &a) == 0 ? 1 : 0, 0);
    conn = a;
}
END_TEST

/* ---- SYN_SENT -------------------------------------------------------------- */

START_TEST(syn_sent_to_established_on_syn_ack)
{
    tcp_script_send(sc, TCP_SYN | TCP_ACK, PEER_ISS, iss + 1, 1200, NULL, 0);
    tcp_script_expect(sc, TCP_ACK, iss + 1, PEER_ISS + 1, NULL);
    ck_assert_int_eq(tcp_state(conn), TAPIR_TCP_ESTABLISHED);
    ck_assert(tcp_events(conn) & TCP_EV_CONNECTED);
    ck_assert(tcp_script_saw(sc, TAPIR_TCP_SYN_SENT, TAPIR_TCP_ESTABLISHED));
    struct tapir_tcp_info info;
    tcp_get_info(conn, &info);
    ck_assert_uint_eq(info.snd_mss, 1200);            /* the peer's MSS is honoured */
}
END_TEST

START_TEST(syn_sent_to_syn_received_on_bare_syn_simultaneous_open)
{
    tcp_script_send(sc, TCP_SYN, PEER_ISS, 0, 1460, NULL, 0);
    tcp_script_expect(sc, TCP_SYN | TCP_ACK, iss, PEER_ISS + 1, NULL);
    ck_assert_int_eq(tcp_state(conn), TAPIR_TCP_SYN_RECEIVED);
    ck_assert(tcp_script_saw(sc, TAPIR_TCP_SYN_SENT, TAPIR_TCP_SYN_RECEIVED));
    /* The peer's SYN,ACK completes it (RFC 9293 Figure 8). */
    tcp_script_send(sc, TCP_SYN | TCP_ACK, PEER_ISS, iss + 1, 1460, NULL, 0);
    ck_assert_int_eq(tcp_state(conn), TAPIR_TCP_ESTABLISHED);
    ck_assert(tcp_script_saw(sc, TAPIR_TCP_SYN_RECEIVED, TAPIR_TCP_ESTABLISHED));
    tcp_script_flush(sc);
}
END_TEST

START_TEST(syn_sent_to_closed_on_close)
{
    tcp_close(conn);
    conn = NULL;
    ck_assert(tcp_script_saw(sc, TAPIR_TCP_SYN_SENT, TAPIR_TCP_CLOSED));
    tcp_script_expect_none(sc);
}
END_TEST

START_TEST(syn_sent_rst_with_acceptable_ack_refuses)
{
    tcp_script_send(sc, TCP_RST | TCP_ACK, 0, iss + 1, 0, NULL, 0);
    ck_assert_int_eq(tcp_state(conn), TAPIR_TCP_CLOSED);
    ck_assert_int_eq(tcp_take_error(conn), -ECONNREFUSED);
    tcp_script_expect_none(sc);
}
END_TEST

START_TEST(syn_sent_rst_without_ack_is_ignored)
{
    tcp_script_send(sc, TCP_RST, 0, 0, 0, NULL, 0);
    ck_assert_int_eq(tcp_state(conn), TAPIR_TCP_SYN_SENT);
    tcp_script_expect_none(sc);
}
END_TEST

START_TEST(syn_sent_unacceptable_ack_gets_rst)
{
    tcp_script_send(sc, TCP_SYN | TCP_ACK, PEER_ISS, iss + 77, 0, NULL, 0);
    tcp_script_expect(sc, TCP_RST, iss + 77, 0, NULL);
    ck_assert_int_eq(tcp_state(conn), TAPIR_TCP_SYN_SENT);
    tcp_script_send(sc, TCP_SYN | TCP_ACK, PEER_ISS, iss, 0, NULL, 0);   /* ack = ISS */
    tcp_script_expect(sc, TCP_RST, iss, 0, NULL);
}
END_TEST

START_TEST(syn_sent_data_on_syn_ack_is_delivered)
{
    tcp_script_send(sc, TCP_SYN | TCP_ACK, PEER_ISS, iss + 1, 1460, "hello", 5);
    tcp_script_expect(sc, TCP_ACK, iss + 1, PEER_ISS + 6, NULL);
    char buf[8];
    ck_assert_int_eq(tcp_recv(conn, buf, sizeof buf, false), 5);
    ck_assert_mem_eq(buf, "hello", 5);
}
END_TEST

/* ---- SYN_RECEIVED ---------------------------------------------------------- */

START_TEST(syn_received_to_established_on_ack_of_syn)
{
    tcp_script_send(sc, TCP_ACK, PEER_ISS + 1, iss + 1, 0, NULL, 0);
    ck_assert(tcp_script_saw(sc, TAPIR_TCP_SYN_RECEIVED, TAPIR_TCP_ESTABLISHED));
    ck_assert(tcp_events(lst) & TCP_EV_ACCEPTABLE);
    ck_assert_int_eq(tcp_accept(lst, &conn), 0);
    ck_assert_int_eq(tcp_state(conn), TAPIR_TCP_ESTABLISHED);
    tcp_script_expect_none(sc);
}
END_TEST

START_TEST(syn_received_to_listen_on_rst)
{
    tcp_script_send(sc, TCP_RST, PEER_ISS + 1, 0, 0, NULL, 0);
    ck_assert(tcp_script_saw(sc, TAPIR_TCP_SYN_RECEIVED, TAPIR_TCP_LISTEN));
    ck_assert_uint_eq(tcp_conn_count(sc->s), 1);      /* only the listener */
    ck_assert_int_eq(tcp_accept(lst, &conn), -EAGAIN);
    conn = NULL;
    tcp_script_expect_none(sc);
}
END_TEST

START_TEST(syn_received_bad_ack_gets_rst)
{
    tcp_script_send(sc, TCP_ACK, PEER_ISS + 1, iss + 1000, 0, NULL, 0);
    tcp_script_expect(sc, TCP_RST, iss + 1000, 0, NULL);
}
END_TEST

START_TEST(syn_received_retransmitted_syn_gets_syn_ack_again)
{
    tcp_script_send(sc, TCP_SYN, PEER_ISS, 0, 1460, NULL, 0);
    tcp_script_expect(sc, TCP_SYN | TCP_ACK, iss, PEER_ISS + 1, NULL);
}
END_TEST

START_TEST(syn_received_new_syn_in_window_returns_to_listen)
{
    tcp_script_send(sc, TCP_SYN, PEER_ISS + 10, 0, 1460, NULL, 0);
    ck_assert(tcp_script_saw(sc, TAPIR_TCP_SYN_RECEIVED, TAPIR_TCP_LISTEN));
    ck_assert_uint_eq(tcp_conn_count(sc->s), 1);
    tcp_script_expect_none(sc);
}
END_TEST

START_TEST(syn_received_to_fin_wait_1_on_close)
{
    /* Reach SYN_RECEIVED through a simultaneous open, then close: start over
     * from a fresh stack. */
    teardown();
    setup_syn_sent_real();
    tcp_script_send(sc, TCP_SYN, PEER_ISS, 0, 1460, NULL, 0);
    tcp_script_expect(sc, TCP_SYN | TCP_ACK, iss, PEER_ISS + 1, NULL);
    tcp_close(conn);
    conn = NULL;
    ck_assert(tcp_script_saw(sc, TAPIR_TCP_SYN_RECEIVED, TAPIR_TCP_FIN_WAIT_1));
    /* The FIN goes once our SYN is acknowledged. */
    tcp_script_send(sc, TCP_ACK, PEER_ISS + 1, iss + 1, 0, NULL, 0);
    tcp_script_expect(sc, TCP_FIN | TCP_ACK, iss + 1, PEER_ISS + 1, NULL);
    tcp_script_send(sc, TCP_FIN | TCP_ACK, PEER_ISS + 1, iss + 2, 0, NULL, 0);
    tcp_script_expect(sc, TCP_ACK, iss + 2, PEER_ISS + 2, NULL);
}
END_TEST

/* ---- ESTABLISHED ----------------------------------------------------------- */

START_TEST(established_to_fin_wait_1_on_close_sends_fin)
{
    tcp_close(conn);
    conn = NULL;
    tcp_script_expect(sc, TCP_FIN | TCP_ACK, sc->our_nxt, sc->peer_nxt, NULL);
    ck_assert(tcp_script_saw(sc, TAPIR_TCP_ESTABLISHED, TAPIR_TCP_FIN_WAIT_1));
}
END_TEST

/* The ACK of the FIN is a delayed ACK (RFC 1122 4.2.3.2), so that the FIN
 * of an application that closes at end-of-file can carry it (next test). */
START_TEST(established_to_close_wait_on_fin)
{
    tcp_script_send(sc, TCP_FIN | TCP_ACK, sc->peer_nxt, sc->our_nxt, 0, NULL, 0);
    ck_assert(tcp_script_saw(sc, TAPIR_TCP_ESTABLISHED, TAPIR_TCP_CLOSE_WAIT));
    tcp_script_expect_none(sc);
    tcp_script_advance(sc, sc->s->cfg.delack_timeout - 1);
    tcp_script_expect_none(sc);
    tcp_script_advance(sc, 1);
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt + 1, NULL);
    char b[4];
    ck_assert_int_eq(tcp_recv(conn, b, sizeof b, false), 0);   /* EOF */
    ck_assert(tcp_events(conn) & TCP_EV_RDHUP);
}
END_TEST

START_TEST(established_fin_then_close_sends_one_fin_ack)
{
    tcp_script_send(sc, TCP_FIN | TCP_ACK, sc->peer_nxt, sc->our_nxt, 0, NULL, 0);
    sc->peer_nxt++;
    tcp_close(conn);
    conn = NULL;
    tcp_script_expect(sc, TCP_FIN | TCP_ACK, sc->our_nxt, sc->peer_nxt, NULL);
    tcp_script_advance(sc, 2 * sc->s->cfg.delack_timeout);   /* past the delayed ACK, before the RTO */
    tcp_script_expect_none(sc);                     /* no second ACK of their FIN */
    ck_assert(tcp_script_saw(sc, TAPIR_TCP_CLOSE_WAIT, TAPIR_TCP_LAST_ACK));
    tcp_script_send(sc, TCP_ACK, sc->peer_nxt, sc->our_nxt + 1, 0, NULL, 0);
    ck_assert(tcp_script_saw(sc, TAPIR_TCP_LAST_ACK, TAPIR_TCP_CLOSED));
}
END_TEST

START_TEST(established_rst_with_exact_seq_resets)
{
    tcp_script_send(sc, TCP_RST, sc->peer_nxt, 0, 0, NULL, 0);
    ck_assert_int_eq(tcp_state(conn), TAPIR_TCP_CLOSED);
    char b[4];
    ck_assert_int_eq(tcp_recv(conn, b, sizeof b, false), -ECONNRESET);
    ck_assert_int_eq(tcp_send(conn, "x", 1), -EPIPE);
    tcp_script_expect_none(sc);
}
END_TEST

START_TEST(established_rst_in_window_not_exact_gets_challenge_ack)
{
    tcp_script_send(sc, TCP_RST, sc->peer_nxt + 100, 0, 0, NULL, 0);
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt, NULL);
    ck_assert_int_eq(tcp_state(conn), TAPIR_TCP_ESTABLISHED);
    ck_assert_uint_eq(sc->s->stats.tcp_challenge_acks, 1);
}
END_TEST

START_TEST(established_rst_out_of_window_is_ignored)
{
    tcp_script_send(sc, TCP_RST, sc->peer_nxt + 1000000, 0, 0, NULL, 0);
    tcp_script_send(sc, TCP_RST, sc->peer_nxt - 1, 0, 0, NULL, 0);
    tcp_script_expect_none(sc);
    ck_assert_int_eq(tcp_state(conn), TAPIR_TCP_ESTABLISHED);
}
END_TEST

START_TEST(established_syn_gets_challenge_ack)
{
    tcp_script_send(sc, TCP_SYN, sc->peer_nxt + 5, 0, 0, NULL, 0);
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt, NULL);
    tcp_script_send(sc, TCP_SYN, 12345, 0, 0, NULL, 0);          /* out of window too */
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt, NULL);
    ck_assert_int_eq(tcp_state(conn), TAPIR_TCP_ESTABLISHED);
}
END_TEST

START_TEST(established_out_of_window_data_gets_ack_and_is_dropped)
{
    tcp_script_send(sc, TCP_ACK, sc->peer_nxt + 200000, sc->our_nxt, 0, "zz", 2);
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt, NULL);
    char b[4];
    ck_assert_int_eq(tcp_recv(conn, b, sizeof b, false), -EAGAIN);
}
END_TEST

START_TEST(established_ack_of_unsent_data_gets_ack_and_is_dropped)
{
    tcp_script_send(sc, TCP_ACK, sc->peer_nxt, sc->our_nxt + 10, 0, "ab", 2);
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt, NULL);
    char b[4];
    ck_assert_int_eq(tcp_recv(conn, b, sizeof b, false), -EAGAIN);
}
END_TEST

START_TEST(established_segment_without_ack_is_dropped)
{
    tcp_script_send(sc, 0, sc->peer_nxt, 0, 0, "ab", 2);
    tcp_script_expect_none(sc);
    char b[4];
    ck_assert_int_eq(tcp_recv(conn, b, sizeof b, false), -EAGAIN);
}
END_TEST

/* ---- FIN_WAIT_1 ------------------------------------------------------------ */

START_TEST(fin_wait_1_to_fin_wait_2_on_ack_of_fin)
{
    tcp_script_send(sc, TCP_ACK, sc->peer_nxt, sc->our_nxt + 1, 0, NULL, 0);
    ck_assert(tcp_script_saw(sc, TAPIR_TCP_FIN_WAIT_1, TAPIR_TCP_FIN_WAIT_2));
    tcp_script_expect_none(sc);
    /* Finish: the peer's FIN takes it to TIME_WAIT. */
    tcp_script_send(sc, TCP_FIN | TCP_ACK, sc->peer_nxt, sc->our_nxt + 1, 0, NULL, 0);
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt + 1, sc->peer_nxt + 1, NULL);
    ck_assert(tcp_script_saw(sc, TAPIR_TCP_FIN_WAIT_2, TAPIR_TCP_TIME_WAIT));
}
END_TEST

START_TEST(fin_wait_1_to_closing_on_fin_simultaneous_close)
{
    /* The peer's FIN does not acknowledge ours. */
    tcp_script_send(sc, TCP_FIN | TCP_ACK, sc->peer_nxt, sc->our_nxt, 0, NULL, 0);
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt + 1, sc->peer_nxt + 1, NULL);
    ck_assert(tcp_script_saw(sc, TAPIR_TCP_FIN_WAIT_1, TAPIR_TCP_CLOSING));
    tcp_script_send(sc, TCP_ACK, sc->peer_nxt + 1, sc->our_nxt + 1, 0, NULL, 0);
    ck_assert(tcp_script_saw(sc, TAPIR_TCP_CLOSING, TAPIR_TCP_TIME_WAIT));
    tcp_script_expect_none(sc);
}
END_TEST

START_TEST(fin_wait_1_to_time_wait_on_fin_with_ack_of_fin)
{
    tcp_script_send(sc, TCP_FIN | TCP_ACK, sc->peer_nxt, sc->our_nxt + 1, 0, NULL, 0);
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt + 1, sc->peer_nxt + 1, NULL);
    ck_assert(tcp_script_saw(sc, TAPIR_TCP_FIN_WAIT_1, TAPIR_TCP_TIME_WAIT));
    ck_assert(!tcp_script_saw(sc, TAPIR_TCP_FIN_WAIT_1, TAPIR_TCP_FIN_WAIT_2));
}
END_TEST

/* ---- FIN_WAIT_2 ------------------------------------------------------------ */

START_TEST(fin_wait_2_to_time_wait_on_fin)
{
    tcp_script_send(sc, TCP_FIN | TCP_ACK, sc->peer_nxt, sc->our_nxt, 0, NULL, 0);
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt + 1, NULL);
    ck_assert_int_eq(tcp_state(conn), TAPIR_TCP_TIME_WAIT);
}
END_TEST

START_TEST(half_close_data_keeps_flowing_to_the_side_that_sent_fin)
{
    /* We sent FIN (shutdown WR); the peer goes on sending. */
    tcp_script_send(sc, TCP_ACK | TCP_PSH, sc->peer_nxt, sc->our_nxt, 0, "more data", 9);
    sc->peer_nxt += 9;
    tcp_script_advance(sc, TAPIR_MSEC(200));          /* delayed ACK */
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt, NULL);
    char b[16];
    ck_assert_int_eq(tcp_recv(conn, b, sizeof b, false), 9);
    ck_assert_mem_eq(b, "more data", 9);
    ck_assert_int_eq(tcp_send(conn, "x", 1), -EPIPE);
    tcp_script_send(sc, TCP_FIN | TCP_ACK, sc->peer_nxt, sc->our_nxt, 0, NULL, 0);
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt + 1, NULL);
    ck_assert_int_eq(tcp_recv(conn, b, sizeof b, false), 0);
    ck_assert_int_eq(tcp_state(conn), TAPIR_TCP_TIME_WAIT);
}
END_TEST

/* ---- CLOSE_WAIT / LAST_ACK ------------------------------------------------- */

START_TEST(close_wait_to_last_ack_on_close_then_closed_on_ack)
{
    tcp_close(conn);
    conn = NULL;
    tcp_script_expect(sc, TCP_FIN | TCP_ACK, sc->our_nxt, sc->peer_nxt, NULL);
    ck_assert(tcp_script_saw(sc, TAPIR_TCP_CLOSE_WAIT, TAPIR_TCP_LAST_ACK));
    tcp_script_send(sc, TCP_ACK, sc->peer_nxt, sc->our_nxt + 1, 0, NULL, 0);
    ck_assert(tcp_script_saw(sc, TAPIR_TCP_LAST_ACK, TAPIR_TCP_CLOSED));
    ck_assert_uint_eq(tcp_conn_count(sc->s), 0);
}
END_TEST

START_TEST(close_wait_half_close_we_still_send)
{
    ck_assert_int_eq(tcp_send(conn, "reply", 5), 5);
    struct tcp_script_out o;
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt, &o);
    ck_assert_uint_eq(o.seg.len, 5);
    ck_assert_mem_eq(o.seg.data, "reply", 5);
    tcp_script_send(sc, TCP_ACK, sc->peer_nxt, sc->our_nxt + 5, 0, NULL, 0);
    sc->our_nxt += 5;
    tcp_script_expect_none(sc);
}
END_TEST

/* ---- TIME_WAIT ------------------------------------------------------------- */

START_TEST(time_wait_to_closed_after_exactly_2msl)
{
    tapir_time_t entered = sc->now;
    tcp_script_advance(sc, 2 * sc->s->cfg.msl - 1);
    ck_assert_uint_eq(tcp_conn_count(sc->s), 1);
    tcp_script_advance(sc, 1);
    ck_assert_uint_eq(tcp_conn_count(sc->s), 0);
    ck_assert(tcp_script_saw(sc, TAPIR_TCP_TIME_WAIT, TAPIR_TCP_CLOSED));
    ck_assert_uint_eq(sc->log[sc->nlog - 1].when - entered, 2 * sc->s->cfg.msl);
}
END_TEST

START_TEST(time_wait_reacks_retransmitted_fin_and_restarts_timer)
{
    tcp_script_advance(sc, TAPIR_SEC(30));
    tapir_time_t t = sc->now;
    tcp_script_send(sc, TCP_FIN | TCP_ACK, sc->peer_nxt - 1, sc->our_nxt, 0, NULL, 0);
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt, NULL);
    tcp_script_advance(sc, 2 * sc->s->cfg.msl - 1);
    ck_assert_uint_eq(tcp_conn_count(sc->s), 1);      /* would have ended 30 s ago */
    tcp_script_advance(sc, 1);
    ck_assert_uint_eq(tcp_conn_count(sc->s), 0);
    ck_assert_uint_eq(sc->now - t, 2 * sc->s->cfg.msl);
}
END_TEST

START_TEST(time_wait_ignores_rst_rfc1337)
{
    tcp_script_send(sc, TCP_RST, sc->peer_nxt, 0, 0, NULL, 0);
    tcp_script_send(sc, TCP_RST | TCP_ACK, sc->peer_nxt, sc->our_nxt, 0, NULL, 0);
    tcp_script_expect_none(sc);
    ck_assert_uint_eq(tcp_conn_count(sc->s), 1);
    ck_assert(!tcp_script_saw(sc, TAPIR_TCP_TIME_WAIT, TAPIR_TCP_CLOSED));
}
END_TEST

START_TEST(time_wait_syn_with_higher_seq_reopens)
{
    lst = listen_reuse();
    uint32_t old_our = sc->our_nxt;
    tcp_script_send(sc, TCP_SYN, sc->peer_nxt + 100000, 0, 1460, NULL, 0);
    struct tcp_script_out o;
    tcp_script_expect_anyseq(sc, TCP_SYN | TCP_ACK, sc->peer_nxt + 100001, &o);
    ck_assert(seq_gt(o.seg.seq, old_our));             /* new ISS above the old sequence space */
    ck_assert(tcp_script_saw(sc, TAPIR_TCP_TIME_WAIT, TAPIR_TCP_CLOSED));
    tcp_script_send(sc, TCP_ACK, sc->peer_nxt + 100001, o.seg.seq + 1, 0, NULL, 0);
    ck_assert_int_eq(tcp_accept(lst, &conn), 0);
    ck_assert_int_eq(tcp_state(conn), TAPIR_TCP_ESTABLISHED);
}
END_TEST

START_TEST(time_wait_syn_with_old_seq_is_refused_with_ack)
{
    lst = listen_reuse();
    tcp_script_send(sc, TCP_SYN, sc->peer_nxt - 50, 0, 1460, NULL, 0);
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt, NULL);
    ck_assert_uint_eq(tcp_conn_count(sc->s), 2);      /* TIME_WAIT and the listener */
    struct tcp_conn *a;
    ck_assert_int_eq(tcp_accept(lst, &a), -EAGAIN);
}
END_TEST

/* ---- coverage of Figure 5 --------------------------------------------------- */

static const struct { enum tapir_tcp_state from, to; } figure5[] = {
    {TAPIR_TCP_CLOSED, TAPIR_TCP_LISTEN},           {TAPIR_TCP_CLOSED, TAPIR_TCP_SYN_SENT},
    {TAPIR_TCP_LISTEN, TAPIR_TCP_CLOSED},           {TAPIR_TCP_LISTEN, TAPIR_TCP_SYN_RECEIVED},
    {TAPIR_TCP_LISTEN, TAPIR_TCP_SYN_SENT},         {TAPIR_TCP_SYN_RECEIVED, TAPIR_TCP_LISTEN},
    {TAPIR_TCP_SYN_SENT, TAPIR_TCP_SYN_RECEIVED},   {TAPIR_TCP_SYN_SENT, TAPIR_TCP_CLOSED},
    {TAPIR_TCP_SYN_SENT, TAPIR_TCP_ESTABLISHED},    {TAPIR_TCP_SYN_RECEIVED, TAPIR_TCP_ESTABLISHED},
    {TAPIR_TCP_SYN_RECEIVED, TAPIR_TCP_FIN_WAIT_1}, {TAPIR_TCP_ESTABLISHED, TAPIR_TCP_FIN_WAIT_1},
    {TAPIR_TCP_ESTABLISHED, TAPIR_TCP_CLOSE_WAIT},  {TAPIR_TCP_FIN_WAIT_1, TAPIR_TCP_FIN_WAIT_2},
    {TAPIR_TCP_FIN_WAIT_1, TAPIR_TCP_CLOSING},      {TAPIR_TCP_FIN_WAIT_1, TAPIR_TCP_TIME_WAIT},
    {TAPIR_TCP_FIN_WAIT_2, TAPIR_TCP_TIME_WAIT},    {TAPIR_TCP_CLOSING, TAPIR_TCP_TIME_WAIT},
    {TAPIR_TCP_CLOSE_WAIT, TAPIR_TCP_LAST_ACK},     {TAPIR_TCP_LAST_ACK, TAPIR_TCP_CLOSED},
    {TAPIR_TCP_TIME_WAIT, TAPIR_TCP_CLOSED},
};

START_TEST(every_arc_of_figure_5_was_taken)
{
    size_t n = sizeof figure5 / sizeof figure5[0], covered = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned long k = tcp_script_arcs[figure5[i].from][figure5[i].to];
        if (k)
            covered++;
        else
            fprintf(stderr, "arc never taken: %s -> %s\n", tapir_tcp_state_name(figure5[i].from),
                    tapir_tcp_state_name(figure5[i].to));
    }
    fprintf(stderr, "Figure 5 arcs covered: %zu of %zu\n", covered, n);
    ck_assert_uint_eq(covered, n);
}
END_TEST

static TCase *tc(const char *name, void (*setup)(void))
{
    TCase *t = tcase_create(name);
    tcase_add_checked_fixture(t, setup, teardown);
    return t;
}

int main(void)
{
    Suite *s = suite_create("tcp_states");
    TCase *t;

    t = tc("CLOSED", setup_closed);
    tcase_add_test(t, closed_to_listen_on_listen);
    tcase_add_test(t, closed_to_syn_sent_on_connect_sends_syn_with_mss);
    tcase_add_test(t, closed_port_ack_segment_gets_rst_with_seq_of_its_ack);
    tcase_add_test(t, closed_port_syn_gets_rst_ack_of_seq_plus_len);
    tcase_add_test(t, closed_port_rst_is_not_answered);
    suite_add_tcase(s, t);

    t = tc("LISTEN", setup_listen);
    tcase_add_test(t, listen_to_closed_on_close);
    tcase_add_test(t, listen_to_syn_received_on_syn_sends_syn_ack);
    tcase_add_test(t, listen_ack_gets_rst);
    tcase_add_test(t, listen_rst_is_ignored);
    tcase_add_test(t, listen_to_syn_sent_on_send);
    tcase_add_test(t, listen_backlog_full_drops_syn);
    suite_add_tcase(s, t);

    t = tc("SYN_SENT", setup_syn_sent_real);
    tcase_add_test(t, syn_sent_to_established_on_syn_ack);
    tcase_add_test(t, syn_sent_to_syn_received_on_bare_syn_simultaneous_open);
    tcase_add_test(t, syn_sent_to_closed_on_close);
    tcase_add_test(t, syn_sent_rst_with_acceptable_ack_refuses);
    tcase_add_test(t, syn_sent_rst_without_ack_is_ignored);
    tcase_add_test(t, syn_sent_unacceptable_ack_gets_rst);
    tcase_add_test(t, syn_sent_data_on_syn_ack_is_delivered);
    suite_add_tcase(s, t);

    t = tc("SYN_RECEIVED", setup_syn_received);
    tcase_add_test(t, syn_received_to_established_on_ack_of_syn);
    tcase_add_test(t, syn_received_to_listen_on_rst);
    tcase_add_test(t, syn_received_bad_ack_gets_rst);
    tcase_add_test(t, syn_received_retransmitted_syn_gets_syn_ack_again);
    tcase_add_test(t, syn_received_new_syn_in_window_returns_to_listen);
    tcase_add_test(t, syn_received_to_fin_wait_1_on_close);
    suite_add_tcase(s, t);

    t = tc("ESTABLISHED", setup_established);
    tcase_add_test(t, established_to_fin_wait_1_on_close_sends_fin);
    tcase_add_test(t, established_to_close_wait_on_fin);
    tcase_add_test(t, established_fin_then_close_sends_one_fin_ack);
    tcase_add_test(t, established_rst_with_exact_seq_resets);
    tcase_add_test(t, established_rst_in_window_not_exact_gets_challenge_ack);
    tcase_add_test(t, established_rst_out_of_window_is_ignored);
    tcase_add_test(t, established_syn_gets_challenge_ack);
    tcase_add_test(t, established_out_of_window_data_gets_ack_and_is_dropped);
    tcase_add_test(t, established_ack_of_unsent_data_gets_ack_and_is_dropped);
    tcase_add_test(t, established_segment_without_ack_is_dropped);
    suite_add_tcase(s, t);

    t = tc("FIN_WAIT_1", setup_fin_wait_1);
    tcase_add_test(t, fin_wait_1_to_fin_wait_2_on_ack_of_fin);
    tcase_add_test(t, fin_wait_1_to_closing_on_fin_simultaneous_close);
    tcase_add_test(t, fin_wait_1_to_time_wait_on_fin_with_ack_of_fin);
    suite_add_tcase(s, t);

    t = tc("FIN_WAIT_2", setup_fin_wait_2);
    tcase_add_test(t, fin_wait_2_to_time_wait_on_fin);
    tcase_add_test(t, half_close_data_keeps_flowing_to_the_side_that_sent_fin);
    suite_add_tcase(s, t);

    t = tc("CLOSE_WAIT", setup_close_wait);
    tcase_add_test(t, close_wait_to_last_ack_on_close_then_closed_on_ack);
    tcase_add_test(t, close_wait_half_close_we_still_send);
    suite_add_tcase(s, t);

    t = tc("TIME_WAIT", setup_time_wait);
    tcase_add_test(t, time_wait_to_closed_after_exactly_2msl);
    tcase_add_test(t, time_wait_reacks_retransmitted_fin_and_restarts_timer);
    tcase_add_test(t, time_wait_ignores_rst_rfc1337);
    tcase_add_test(t, time_wait_syn_with_higher_seq_reopens);
    tcase_add_test(t, time_wait_syn_with_old_seq_is_refused_with_ack);
    suite_add_tcase(s, t);

    Suite *cov = suite_create("figure5");
    t = tcase_create("coverage");
    tcase_add_test(t, every_arc_of_figure_5_was_taken);
    suite_add_tcase(cov, t);

    SRunner *sr = srunner_create(s);
    srunner_add_suite(sr, cov);
    /* One process: the arc counts of every test reach the coverage check. */
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
