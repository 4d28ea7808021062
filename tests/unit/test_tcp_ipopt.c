/* IP-level options of a TCP connection, with a scripted peer and a virtual
 * clock (the socket layer's IP_TOS, IP_TTL, IP_RECVERR; tcp_api.h):
 *   MUST-48, SHLD-22 (RFC 9293 3.9.1.9): every segment of a connection --
 *            SYN, SYN,ACK, ACK, data, retransmission, FIN, RST, keepalive
 *            and window probes -- carries its TOS byte and TTL; RSTs for
 *            segments of no connection keep TOS 0 and the default TTL.
 *   SHLD-21  a change on an established connection applies from the next
 *            segment.
 *   MUST-47, SHLD-20 (3.9.1.8): with recverr a soft ICMP error is the
 *            pending error at once, reported once, and the connection goes
 *            on; without it nothing is reported before the timeout.
 *   SHLD-9   (3.8.3 (e)): with recverr, reaching R1 is reported once per
 *            crossing as ETIMEDOUT, and the connection continues. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/checksum.h"
#include "core/stack.h"
#include "core/tcp.h"
#include "core/wire.h"
#include "harness.h"
#include "net_frames.h"
#include "tcp_script.h"

#define PEER_ISS 0xfffffff0u
#define DEFAULT_TTL 64

static struct tcp_script *sc;
static struct tcp_conn *conn;

static void setup(void)
{
    sc = tcp_script_new(NULL);
    conn = NULL;
}

static void teardown(void)
{
    tcp_script_finish(&sc, &conn);
}

/* The next segment the stack sent, asserting its flags and IP TOS/TTL. */
static struct tcp_script_out expect_ip(uint8_t flags, uint8_t tos, uint8_t ttl, const char *what)
{
    struct tcp_script_out o;
    ck_assert_msg(tcp_script_next(sc, &o), "%s: nothing was sent", what);
    uint8_t mask = (uint8_t)~(flags & TCP_PSH ? 0 : TCP_PSH);
    ck_assert_msg((o.seg.flags & mask) == flags, "%s: flags 0x%02x, expected 0x%02x", what, o.seg.flags, flags);
    ck_assert_msg(o.tos == tos, "%s: TOS 0x%02x, expected 0x%02x", what, o.tos, tos);
    ck_assert_msg(o.ttl == ttl, "%s: TTL %u, expected %u", what, o.ttl, ttl);
    return o;
}

/* Run timers until the stack sends something (at most limit ahead). */
static void advance_until_sent(tapir_time_t limit)
{
    tapir_time_t end = sc->now + limit;
    while (tcp_script_pending(sc) == 0)
        tcp_script_advance_to_next(sc, end - sc->now);
}

/* An ICMP destination unreachable (code) from the peer quoting segment o. */
static void inject_icmp_unreach(uint8_t code, const struct tcp_script_out *o)
{
    uint8_t tcp8[8];
    put_be16(tcp8, o->seg.sport);
    put_be16(tcp8 + 2, o->seg.dport);
    put_be32(tcp8 + 4, o->seg.seq);
    struct net_ip_spec sp;
    net_ipv4_defaults(&sp, TCP_SCRIPT_US_IP, TCP_SCRIPT_PEER_IP, IPPROTO_TCP_NUM);
    uint8_t quoted[28];
    size_t qn = net_ipv4_build(quoted, &sp, tcp8, sizeof tcp8);
    uint8_t icmp[8 + 28] = {3, code, 0, 0, 0, 0, 0, 0};
    memcpy(icmp + 8, quoted, qn);
    put_be16(icmp + 2, csum_compute(icmp, 8 + qn));
    uint8_t pkt[128];
    net_ipv4_defaults(&sp, TCP_SCRIPT_PEER_IP, TCP_SCRIPT_US_IP, IPPROTO_ICMP_NUM);
    size_t n = net_ipv4_build(pkt, &sp, icmp, 8 + qn);
    tapir_stack_input(sc->s, pkt, n, sc->now);
}

static bool error_pending(struct tcp_conn *c)
{
    return (tcp_events(c) & TCP_EV_ERROR) != 0;
}

/* ---- IP_TOS / IP_TTL on the wire ----------------------------------------- */

START_TEST(active_open_segments_carry_tos_and_ttl_and_a_change_applies_next)
{
    int err;
    conn = tcp_conn_new(sc->s, &err);
    ck_assert_ptr_nonnull(conn);
    ck_assert_int_eq(tcp_set_tos(conn, 0xb8), 0);       /* DSCP EF */
    ck_assert_int_eq(tcp_set_ttl(conn, 7), 0);
    ck_assert_uint_eq(tcp_get_tos(conn), 0xb8);
    ck_assert_uint_eq(tcp_get_ttl(conn), 7);
    ck_assert_int_eq(tcp_connect(conn, TCP_SCRIPT_PEER_IP, sc->peer_port), -EINPROGRESS);
    uint32_t ip;
    uint16_t port;
    tcp_local_addr(conn, &ip, &port);
    sc->local_port = port;
    struct tcp_script_out o = expect_ip(TCP_SYN, 0xb8, 7, "SYN");
    uint32_t iss = o.seg.seq;
    /* The SYN's retransmission too. */
    advance_until_sent(TAPIR_SEC(5));
    expect_ip(TCP_SYN, 0xb8, 7, "SYN retransmission");
    tcp_script_send(sc, TCP_SYN | TCP_ACK, PEER_ISS, iss + 1, 1460, NULL, 0);
    expect_ip(TCP_ACK, 0xb8, 7, "ACK of the handshake");
    ck_assert_int_eq(tcp_state(conn), TAPIR_TCP_ESTABLISHED);
    sc->peer_nxt = PEER_ISS + 1;
    sc->our_nxt = iss + 1;

    ck_assert_int_eq(tcp_send(conn, "hello", 5), 5);
    o = expect_ip(TCP_ACK, 0xb8, 7, "data");
    ck_assert_uint_eq(o.seg.len, 5);
    advance_until_sent(TAPIR_SEC(5));
    o = expect_ip(TCP_ACK, 0xb8, 7, "data retransmission");
    ck_assert_uint_eq(o.seg.seq, sc->our_nxt);
    ck_assert_uint_eq(o.seg.len, 5);
    sc->our_nxt += 5;
    tcp_script_send(sc, TCP_ACK, sc->peer_nxt, sc->our_nxt, 0, "x", 1);
    sc->peer_nxt += 1;
    tcp_script_advance(sc, TAPIR_SEC(1));               /* the (delayed) ACK */
    o = expect_ip(TCP_ACK, 0xb8, 7, "pure ACK");
    ck_assert_uint_eq(o.seg.len, 0);
    ck_assert_uint_eq(o.seg.ack, sc->peer_nxt);
    tcp_script_expect_none(sc);

    /* SHLD-21: changed on the established connection, from the next
     * segment on; TTL 0 goes back to the stack's default. */
    ck_assert_int_eq(tcp_set_tos(conn, 0x28), 0);
    ck_assert_int_eq(tcp_set_ttl(conn, 0), 0);
    ck_assert_uint_eq(tcp_get_ttl(conn), DEFAULT_TTL);
    ck_assert_int_eq(tcp_send(conn, "more", 4), 4);
    o = expect_ip(TCP_ACK, 0x28, DEFAULT_TTL, "data after the change");
    ck_assert_uint_eq(o.seg.len, 4);
    ck_assert_int_eq(tcp_set_ttl(conn, 200), 0);
    ck_assert_int_eq(tcp_shutdown(conn, false, true), 0);
    expect_ip(TCP_ACK | TCP_FIN, 0x28, 200, "FIN");
    /* The RST of an abort is a segment of the connection as well. */
    tcp_abort(conn);
    conn = NULL;
    expect_ip(TCP_RST, 0x28, 200, "RST of an abort");
}
END_TEST

START_TEST(default_is_tos_0_and_the_stacks_ttl)
{
    int err;
    conn = tcp_conn_new(sc->s, &err);
    ck_assert_uint_eq(tcp_get_tos(conn), 0);
    ck_assert_uint_eq(tcp_get_ttl(conn), sc->s->cfg.ip_ttl);
    ck_assert(!tcp_get_recverr(conn));
    sc->s->cfg.ip_ttl = 33;                 /* the default follows the stack's */
    ck_assert_uint_eq(tcp_get_ttl(conn), 33);
    ck_assert_int_eq(tcp_connect(conn, TCP_SCRIPT_PEER_IP, sc->peer_port), -EINPROGRESS);
    expect_ip(TCP_SYN, 0, 33, "SYN");
}
END_TEST

START_TEST(ecn_bits_are_kept_clear_and_ttl_is_bounded)
{
    int err;
    conn = tcp_conn_new(sc->s, &err);
    ck_assert_int_eq(tcp_set_tos(conn, 0xff), 0);
    ck_assert_uint_eq(tcp_get_tos(conn), 0xfc);
    ck_assert_int_eq(tcp_set_tos(conn, 0x03), 0);
    ck_assert_uint_eq(tcp_get_tos(conn), 0);
    ck_assert_int_eq(tcp_set_tos(conn, 0xfe), 0);
    ck_assert_int_eq(tcp_set_ttl(conn, 256), -EINVAL);
    ck_assert_int_eq(tcp_set_ttl(conn, 255), 0);
    ck_assert_uint_eq(tcp_get_ttl(conn), 255);
    ck_assert_int_eq(tcp_connect(conn, TCP_SCRIPT_PEER_IP, sc->peer_port), -EINPROGRESS);
    expect_ip(TCP_SYN, 0xfc, 255, "SYN");
}
END_TEST

START_TEST(listener_passes_options_to_syn_ack_and_child)
{
    struct tcp_conn *l = tcp_script_listen(sc, sc->local_port, 4);
    ck_assert_int_eq(tcp_set_tos(l, 0x10), 0);
    ck_assert_int_eq(tcp_set_ttl(l, 5), 0);
    ck_assert_int_eq(tcp_set_recverr(l, true), 0);
    tcp_script_send(sc, TCP_SYN, PEER_ISS, 0, 1460, NULL, 0);
    struct tcp_script_out o = expect_ip(TCP_SYN | TCP_ACK, 0x10, 5, "SYN,ACK");
    uint32_t iss = o.seg.seq;
    /* Its retransmission too. */
    advance_until_sent(TAPIR_SEC(5));
    expect_ip(TCP_SYN | TCP_ACK, 0x10, 5, "SYN,ACK retransmission");
    tcp_script_send(sc, TCP_ACK, PEER_ISS + 1, iss + 1, 0, NULL, 0);
    ck_assert_int_eq(tcp_accept(l, &conn), 0);
    ck_assert_uint_eq(tcp_get_tos(conn), 0x10);
    ck_assert_uint_eq(tcp_get_ttl(conn), 5);
    ck_assert(tcp_get_recverr(conn));
    sc->peer_nxt = PEER_ISS + 1;
    sc->our_nxt = iss + 1;
    ck_assert_int_eq(tcp_send(conn, "hi", 2), 2);
    expect_ip(TCP_ACK, 0x10, 5, "data of the accepted connection");

    /* A RST for a segment of no connection is no segment of ours: an ACK
     * to the listener, a SYN to a closed port. */
    tcp_script_inject_raw(sc, 40001, sc->local_port, 1234, 5678, TCP_ACK, 1000, NULL, 0, NULL, 0);
    expect_ip(TCP_RST, 0, DEFAULT_TTL, "RST from the listener");
    tcp_script_inject_raw(sc, 40002, 81, 1234, 0, TCP_SYN, 1000, NULL, 0, NULL, 0);
    expect_ip(TCP_RST | TCP_ACK, 0, DEFAULT_TTL, "RST from a closed port");
    tcp_close(l);
}
END_TEST

START_TEST(keepalive_and_window_probes_carry_tos)
{
    conn = tcp_script_passive_open(sc, PEER_ISS, NULL);
    ck_assert_int_eq(tcp_set_tos(conn, 0x48), 0);
    ck_assert_int_eq(tcp_set_ttl(conn, 9), 0);
    ck_assert_int_eq(tcp_set_keepalive_params(conn, TAPIR_SEC(10), TAPIR_SEC(2), 3), 0);
    ck_assert_int_eq(tcp_set_keepalive(conn, true), 0);
    advance_until_sent(TAPIR_SEC(20));
    struct tcp_script_out o = expect_ip(TCP_ACK, 0x48, 9, "keepalive probe");
    ck_assert_uint_eq(o.seg.seq, sc->our_nxt - 1);
    ck_assert_int_eq(tcp_set_keepalive(conn, false), 0);
    /* The peer's window closes: the data waits and the persist timer probes. */
    sc->peer_wnd = 0;
    tcp_script_send(sc, TCP_ACK, sc->peer_nxt, sc->our_nxt, 0, NULL, 0);
    ck_assert_int_eq(tcp_send(conn, "hello", 5), 5);
    tcp_script_expect_none(sc);
    advance_until_sent(TAPIR_SEC(20));
    o = expect_ip(TCP_ACK, 0x48, 9, "zero-window probe");
    ck_assert_uint_eq(o.seg.len, 1);
}
END_TEST

START_TEST(rst_answering_a_bad_syn_ack_carries_tos)
{
    int err;
    conn = tcp_conn_new(sc->s, &err);
    ck_assert_int_eq(tcp_set_tos(conn, 0x20), 0);
    ck_assert_int_eq(tcp_set_ttl(conn, 11), 0);
    ck_assert_int_eq(tcp_connect(conn, TCP_SCRIPT_PEER_IP, sc->peer_port), -EINPROGRESS);
    uint32_t ip;
    uint16_t port;
    tcp_local_addr(conn, &ip, &port);
    sc->local_port = port;
    struct tcp_script_out o = expect_ip(TCP_SYN, 0x20, 11, "SYN");
    /* RFC 9293 3.10.7.3: an unacceptable ACK in SYN-SENT is answered with
     * <SEQ=SEG.ACK><CTL=RST> on the connection's 4-tuple. */
    tcp_script_send(sc, TCP_SYN | TCP_ACK, PEER_ISS, o.seg.seq + 1000, 1460, NULL, 0);
    o = expect_ip(TCP_RST, 0x20, 11, "RST for an unacceptable ACK");
    ck_assert_int_eq(tcp_state(conn), TAPIR_TCP_SYN_SENT);
}
END_TEST

/* ---- IP_RECVERR: ICMP soft errors ---------------------------------------- */

struct notify_rec {
    int calls;
    int with_error;
};

static void record_notify(void *owner, struct tcp_conn *c, unsigned events)
{
    (void)c;
    struct notify_rec *r = owner;
    if (!r)
        return;
    r->calls++;
    if (events & TCP_EV_ERROR)
        r->with_error++;
}

START_TEST(icmp_soft_error_with_recverr_is_reported_once_and_data_flows)
{
    conn = tcp_script_passive_open(sc, PEER_ISS, NULL);
    struct notify_rec rec = {0};
    tcp_set_notify(sc->s, record_notify);
    tcp_set_owner(conn, &rec);
    ck_assert_int_eq(tcp_set_recverr(conn, true), 0);
    ck_assert_int_eq(tcp_send(conn, "abc", 3), 3);
    struct tcp_script_out o;
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt, &o);

    /* Host unreachable: the reader learns at once (the owner is told, so a
     * blocked reader wakes), once, and the connection stays. */
    inject_icmp_unreach(1, &o);
    ck_assert_int_eq(tcp_state(conn), TAPIR_TCP_ESTABLISHED);
    ck_assert(error_pending(conn));
    ck_assert_int_ge(rec.with_error, 1);
    char b[8];
    ck_assert_int_eq(tcp_recv(conn, b, sizeof b, false), -EHOSTUNREACH);
    ck_assert(!error_pending(conn));
    ck_assert_int_eq(tcp_recv(conn, b, sizeof b, false), -EAGAIN);
    ck_assert_int_eq(tcp_state(conn), TAPIR_TCP_ESTABLISHED);

    /* Data still flows both ways: nothing sent or received was lost. */
    tcp_script_send(sc, TCP_ACK, sc->peer_nxt, sc->our_nxt + 3, 0, "xyz", 3);
    sc->peer_nxt += 3;
    sc->our_nxt += 3;
    ck_assert_int_eq(tcp_recv(conn, b, sizeof b, false), 3);
    ck_assert_mem_eq(b, "xyz", 3);
    tcp_script_flush(sc);                   /* an ACK for it, if one went */
    ck_assert_int_eq(tcp_send(conn, "def", 3), 3);
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt, &o);
    ck_assert_uint_eq(o.seg.len, 3);
    ck_assert_mem_eq(o.seg.data, "def", 3);

    /* Network unreachable: a writer gets it once, then writes go on. */
    inject_icmp_unreach(0, &o);
    ck_assert_int_eq(tcp_send(conn, "g", 1), -ENETUNREACH);
    ck_assert_int_eq(tcp_send(conn, "g", 1), 1);
    /* SO_ERROR takes it too, and clears it. */
    inject_icmp_unreach(1, &o);
    ck_assert_int_eq(tcp_take_error(conn), -EHOSTUNREACH);
    ck_assert_int_eq(tcp_take_error(conn), 0);
    ck_assert_int_eq(tcp_state(conn), TAPIR_TCP_ESTABLISHED);
    tcp_script_flush(sc);
    tcp_set_owner(conn, NULL);
}
END_TEST

static void few_retries(struct tapir_config *cfg)
{
    cfg->tcp_max_retries = 6;
}

START_TEST(icmp_soft_error_without_recverr_waits_for_the_timeout)
{
    tcp_script_free_checked(sc);
    sc = tcp_script_new(few_retries);
    conn = tcp_script_passive_open(sc, PEER_ISS, NULL);
    ck_assert(!tcp_get_recverr(conn));
    ck_assert_int_eq(tcp_send(conn, "abc", 3), 3);
    struct tcp_script_out o;
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt, &o);
    inject_icmp_unreach(1, &o);
    ck_assert(!error_pending(conn));
    char b[8];
    ck_assert_int_eq(tcp_recv(conn, b, sizeof b, false), -EAGAIN);
    /* Nothing either when R1 passes (SHLD-20: reports are off), until R2. */
    int rtx = 0;
    while (tcp_state(conn) != TAPIR_TCP_CLOSED) {
        ck_assert(!error_pending(conn));
        tcp_script_advance_to_next(sc, TAPIR_SEC(600));
        while (tcp_script_next(sc, &o))
            if (o.seg.len)
                rtx++;
    }
    ck_assert_int_ge(rtx, 3);
    ck_assert_int_eq(tcp_take_error(conn), -EHOSTUNREACH);
}
END_TEST

START_TEST(icmp_soft_error_during_handshake_does_not_fail_connect)
{
    int err;
    conn = tcp_conn_new(sc->s, &err);
    ck_assert_int_eq(tcp_set_recverr(conn, true), 0);
    ck_assert_int_eq(tcp_connect(conn, TCP_SCRIPT_PEER_IP, sc->peer_port), -EINPROGRESS);
    uint32_t ip;
    uint16_t port;
    tcp_local_addr(conn, &ip, &port);
    sc->local_port = port;
    struct tcp_script_out o;
    ck_assert(tcp_script_next(sc, &o));
    /* MUST-56: no abort; and the pending error is connect()'s outcome,
     * which a soft error must not decide. */
    inject_icmp_unreach(1, &o);
    ck_assert_int_eq(tcp_state(conn), TAPIR_TCP_SYN_SENT);
    ck_assert(!error_pending(conn));
    tcp_script_send(sc, TCP_SYN | TCP_ACK, PEER_ISS, o.seg.seq + 1, 1460, NULL, 0);
    ck_assert_int_eq(tcp_state(conn), TAPIR_TCP_ESTABLISHED);
    ck_assert_int_eq(tcp_take_error(conn), 0);
    tcp_script_flush(sc);
}
END_TEST

/* ---- IP_RECVERR: R1 (SHLD-9) --------------------------------------------- */

/* Run timers until n more retransmissions of data went out; after each
 * timer run, take a pending error (it must be ETIMEDOUT) and count it in
 * *reports. The connection must stay established throughout. */
static void retransmit_n(int n, int *reports)
{
    int seen = 0;
    while (seen < n) {
        tcp_script_advance_to_next(sc, TAPIR_SEC(600));
        struct tcp_script_out o;
        while (tcp_script_next(sc, &o))
            if (o.seg.len)
                seen++;
        int e = tcp_take_error(conn);
        if (e) {
            ck_assert_int_eq(e, -ETIMEDOUT);
            (*reports)++;
        }
        ck_assert_int_eq(tcp_state(conn), TAPIR_TCP_ESTABLISHED);
    }
}

START_TEST(r1_is_reported_once_per_crossing_with_recverr)
{
    conn = tcp_script_passive_open(sc, PEER_ISS, NULL);
    ck_assert_int_eq(tcp_set_recverr(conn, true), 0);
    ck_assert_int_eq(tcp_send(conn, "data", 4), 4);
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt, NULL);
    /* Two retransmissions: below R1, nothing. */
    int reports = 0;
    retransmit_n(2, &reports);
    ck_assert_int_eq(reports, 0);
    /* The third reaches R1: one ETIMEDOUT, the connection goes on. */
    retransmit_n(1, &reports);
    ck_assert_int_eq(reports, 1);
    /* Further retransmissions of the same series: no more reports. */
    retransmit_n(3, &reports);
    ck_assert_int_eq(reports, 1);
    ck_assert_int_eq(tcp_state(conn), TAPIR_TCP_ESTABLISHED);

    /* The peer answers: progress ends the series, the data is delivered. */
    sc->our_nxt += 4;
    tcp_script_send(sc, TCP_ACK, sc->peer_nxt, sc->our_nxt, 0, NULL, 0);
    ck_assert(!error_pending(conn));
    ck_assert_int_eq(tcp_send(conn, "more", 4), 4);
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt, NULL);
    /* A new series crosses R1 again: reported again, once. */
    retransmit_n(5, &reports);
    ck_assert_int_eq(reports, 2);
    ck_assert_int_eq(tcp_state(conn), TAPIR_TCP_ESTABLISHED);
    sc->our_nxt += 4;
    tcp_script_send(sc, TCP_ACK, sc->peer_nxt, sc->our_nxt, 0, NULL, 0);
    tcp_script_expect_none(sc);
}
END_TEST

START_TEST(r1_is_not_reported_without_recverr)
{
    conn = tcp_script_passive_open(sc, PEER_ISS, NULL);
    ck_assert_int_eq(tcp_send(conn, "data", 4), 4);
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt, NULL);
    int reports = 0;
    retransmit_n(5, &reports);
    ck_assert_int_eq(reports, 0);
    /* Switched on in the middle of a series past R1: still nothing until
     * the next crossing. */
    ck_assert_int_eq(tcp_set_recverr(conn, true), 0);
    retransmit_n(2, &reports);
    ck_assert_int_eq(reports, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tcp_ipopt");
    TCase *t = tcase_create("tos_ttl");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, active_open_segments_carry_tos_and_ttl_and_a_change_applies_next);
    tcase_add_test(t, default_is_tos_0_and_the_stacks_ttl);
    tcase_add_test(t, ecn_bits_are_kept_clear_and_ttl_is_bounded);
    tcase_add_test(t, listener_passes_options_to_syn_ack_and_child);
    tcase_add_test(t, keepalive_and_window_probes_carry_tos);
    tcase_add_test(t, rst_answering_a_bad_syn_ack_carries_tos);
    suite_add_tcase(s, t);
    TCase *e = tcase_create("recverr");
    tcase_add_checked_fixture(e, setup, teardown);
    tcase_add_test(e, icmp_soft_error_with_recverr_is_reported_once_and_data_flows);
    tcase_add_test(e, icmp_soft_error_without_recverr_waits_for_the_timeout);
    tcase_add_test(e, icmp_soft_error_during_handshake_does_not_fail_connect);
    tcase_add_test(e, r1_is_reported_once_per_crossing_with_recverr);
    tcase_add_test(e, r1_is_not_reported_without_recverr);
    suite_add_tcase(s, e);
    return harness_run(s);
}
