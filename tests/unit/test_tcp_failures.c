/* Connection failures and listening, RFC 9293 3.8.3 and 3.10.1, with a
 * scripted peer and a virtual clock:
 *   MUST-21  R2 per connection: tcp_set_user_timeout (TCP_USER_TIMEOUT)
 *            aborts with ETIMEDOUT once data, a SYN or a zero window has
 *            waited that long; 0 keeps the default retry counts;
 *            tcp_set_syn_retries (TCP_SYNCNT) bounds one connect.
 *   MUST-23  a connect to a silent peer keeps retransmitting its SYN for
 *            at least 3 minutes by default.
 *   MUST-42  a LISTEN on a port whose other connection is in SYN-SENT or
 *            SYN-RECEIVED: both work side by side. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/stack.h"
#include "core/tcp.h"
#include "tcp_script.h"
#include "harness.h"

#define PEER_ISS 0xfffffff0u
#define OTHER_ISS 0x7ffffff0u

static struct tcp_script *sc;
static struct tcp_conn *conns[4];

static void setup(void)
{
    sc = tcp_script_new(NULL);
    memset(conns, 0, sizeof conns);
}

static void teardown(void)
{
    for (size_t i = 0; i < sizeof conns / sizeof conns[0]; i++)
        if (conns[i])
            tcp_abort(conns[i]);
    tcp_script_advance(sc, TAPIR_SEC(3600));
    tcp_script_flush(sc);
    tcp_script_free_checked(sc);
}

/* Run timers until c is CLOSED (at most limit of virtual time); every
 * segment emitted meanwhile is taken, *sent counts those that carried data
 * (or a SYN). Returns the time it closed. */
static tapir_time_t run_until_closed(struct tcp_conn *c, tapir_time_t limit, int *sent)
{
    tapir_time_t end = sc->now + limit;
    *sent = 0;
    while (tcp_state(c) != TAPIR_TCP_CLOSED) {
        tcp_script_advance_to_next(sc, end - sc->now);
        struct tcp_script_out o;
        while (tcp_script_next(sc, &o))
            if (o.seg.len || (o.seg.flags & TCP_SYN))
                (*sent)++;
    }
    return sc->now;
}

/* ---- MUST-21: TCP_USER_TIMEOUT ------------------------------------------ */

START_TEST(user_timeout_aborts_unacknowledged_data)
{
    struct tcp_conn *c = conns[0] = tcp_script_passive_open(sc, PEER_ISS, NULL);
    ck_assert_int_eq(tcp_set_user_timeout(c, TAPIR_MSEC(1500)), 0);
    ck_assert_uint_eq(tcp_get_user_timeout(c), TAPIR_MSEC(1500));
    tapir_time_t t0 = sc->now;
    ck_assert_int_eq(tcp_send(c, "data", 4), 4);
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt, NULL);
    /* The peer is silent: the RTO resends, then the user timeout ends it
     * when 1.5 s have passed without an acknowledgment -- the retransmission
     * timer's expiry is brought forward to that moment (as Linux), where
     * the default R2 (15 retransmissions) would take minutes. */
    int sent;
    tapir_time_t closed = run_until_closed(c, TAPIR_SEC(600), &sent);
    ck_assert_int_ge(sent, 1);                      /* retransmitted first */
    ck_assert_uint_eq(closed - t0, TAPIR_MSEC(1500));
    ck_assert_int_eq(tcp_take_error(c), -ETIMEDOUT);
    ck_assert_uint_eq(sc->s->stats.tcp_user_timeouts, 1);
    ck_assert_uint_eq(sc->s->stats.tcp_timeouts, 1);
    ck_assert_uint_lt(sc->s->stats.tcp_rto_expired, sc->s->cfg.tcp_max_retries);
}
END_TEST

START_TEST(user_timeout_counts_from_the_last_acknowledgment)
{
    struct tcp_conn *c = conns[0] = tcp_script_passive_open(sc, PEER_ISS, NULL);
    ck_assert_int_eq(tcp_set_user_timeout(c, TAPIR_MSEC(1500)), 0);
    ck_assert_int_eq(tcp_send(c, "ab", 2), 2);
    tcp_script_flush(sc);
    /* 1 s later the peer acknowledges the first byte: the clock restarts. */
    tcp_script_advance(sc, TAPIR_SEC(1));
    tcp_script_flush(sc);
    tcp_script_send(sc, TCP_ACK, sc->peer_nxt, sc->our_nxt + 1, 0, NULL, 0);
    tapir_time_t acked = sc->now;
    int sent;
    tapir_time_t closed = run_until_closed(c, TAPIR_SEC(600), &sent);
    ck_assert_uint_eq(closed - acked, TAPIR_MSEC(1500));
    ck_assert_int_eq(tcp_take_error(c), -ETIMEDOUT);
}
END_TEST

START_TEST(user_timeout_zero_keeps_the_default_retries)
{
    struct tcp_conn *c = conns[0] = tcp_script_passive_open(sc, PEER_ISS, NULL);
    ck_assert_int_eq(tcp_set_user_timeout(c, TAPIR_MSEC(1500)), 0);
    ck_assert_int_eq(tcp_set_user_timeout(c, 0), 0);
    ck_assert_uint_eq(tcp_get_user_timeout(c), 0);
    ck_assert_int_eq(tcp_send(c, "data", 4), 4);
    tcp_script_flush(sc);
    /* A minute of silence: still retransmitting (R2 is the retry count). */
    tcp_script_advance(sc, TAPIR_SEC(60));
    tcp_script_flush(sc);
    ck_assert_int_eq(tcp_state(c), TAPIR_TCP_ESTABLISHED);
    ck_assert_uint_ge(sc->s->stats.tcp_rto_expired, 5);
    int sent;
    run_until_closed(c, TAPIR_SEC(3600), &sent);
    ck_assert_int_eq(tcp_take_error(c), -ETIMEDOUT);
    ck_assert_uint_eq(sc->s->stats.tcp_rto_expired, sc->s->cfg.tcp_max_retries);
    ck_assert_uint_eq(sc->s->stats.tcp_user_timeouts, 0);
}
END_TEST

START_TEST(user_timeout_longer_than_the_retry_count)
{
    /* R2 "infinity"-like (RFC 9293 3.8.3 (d)): a user timeout past what 15
     * retransmissions take keeps the connection trying until it runs out. */
    struct tcp_conn *c = conns[0] = tcp_script_passive_open(sc, PEER_ISS, NULL);
    ck_assert_int_eq(tcp_set_user_timeout(c, TAPIR_SEC(7200)), 0);
    tapir_time_t t0 = sc->now;
    ck_assert_int_eq(tcp_send(c, "data", 4), 4);
    int sent;
    tapir_time_t closed = run_until_closed(c, TAPIR_SEC(8000), &sent);
    ck_assert_uint_eq(closed - t0, TAPIR_SEC(7200));
    ck_assert_int_gt(sent, (int)sc->s->cfg.tcp_max_retries);
    ck_assert_int_eq(tcp_take_error(c), -ETIMEDOUT);
}
END_TEST

START_TEST(user_timeout_ends_zero_window_probing)
{
    struct tcp_conn *c = conns[0] = tcp_script_passive_open(sc, PEER_ISS, NULL);
    ck_assert_int_eq(tcp_set_user_timeout(c, TAPIR_SEC(5)), 0);
    sc->peer_wnd = 0;
    tcp_script_send(sc, TCP_ACK, sc->peer_nxt, sc->our_nxt, 0, NULL, 0);
    ck_assert_int_eq(tcp_send(c, "hello", 5), 5);
    tcp_script_expect_none(sc);
    /* The peer answers every probe, always with a zero window. */
    tapir_time_t first_probe = TAPIR_TIME_NEVER;
    int probes = 0;
    while (tcp_state(c) != TAPIR_TCP_CLOSED) {
        tcp_script_advance_to_next(sc, TAPIR_SEC(600));
        struct tcp_script_out o;
        while (tcp_script_next(sc, &o)) {
            if (o.seg.len != 1)
                continue;
            if (first_probe == TAPIR_TIME_NEVER)
                first_probe = o.when;
            probes++;
            tcp_script_send(sc, TCP_ACK, sc->peer_nxt, sc->our_nxt, 0, NULL, 0);
        }
    }
    ck_assert_int_ge(probes, 2);
    ck_assert_uint_eq(sc->now - first_probe, TAPIR_SEC(5));
    ck_assert_int_eq(tcp_take_error(c), -ETIMEDOUT);
    ck_assert_uint_eq(sc->s->stats.tcp_user_timeouts, 1);
}
END_TEST

START_TEST(user_timeout_bounds_a_connect)
{
    int err;
    struct tcp_conn *c = conns[0] = tcp_conn_new(sc->s, &err);
    ck_assert_int_eq(tcp_set_user_timeout(c, TAPIR_MSEC(2500)), 0);
    tapir_time_t t0 = sc->now;
    ck_assert_int_eq(tcp_connect(c, TCP_SCRIPT_PEER_IP, 40000), -EINPROGRESS);
    int sent;
    tapir_time_t closed = run_until_closed(c, TAPIR_SEC(600), &sent);
    ck_assert_int_eq(sent, 2);                      /* the SYN at 0 s and 1 s */
    ck_assert_uint_eq(closed - t0, TAPIR_MSEC(2500));
    ck_assert_int_eq(tcp_take_error(c), -ETIMEDOUT);
}
END_TEST

START_TEST(syn_retries_per_connection)
{
    int err;
    struct tcp_conn *c = conns[0] = tcp_conn_new(sc->s, &err);
    ck_assert_uint_eq(tcp_get_syn_retries(c), sc->s->cfg.tcp_syn_retries);
    ck_assert_int_eq(tcp_set_syn_retries(c, 256), -EINVAL);
    ck_assert_int_eq(tcp_set_syn_retries(c, 2), 0);
    ck_assert_uint_eq(tcp_get_syn_retries(c), 2);
    tapir_time_t t0 = sc->now;
    ck_assert_int_eq(tcp_connect(c, TCP_SCRIPT_PEER_IP, 40000), -EINPROGRESS);
    int sent;
    tapir_time_t closed = run_until_closed(c, TAPIR_SEC(600), &sent);
    ck_assert_int_eq(sent, 3);                      /* 0 s, 1 s, 3 s */
    ck_assert_uint_eq(closed - t0, TAPIR_SEC(7));
    ck_assert_int_eq(tcp_take_error(c), -ETIMEDOUT);
}
END_TEST

/* ---- MUST-23: 3 minutes of SYN retransmission ----------------------------- */

START_TEST(syn_is_retransmitted_for_over_3_minutes)
{
    int err;
    struct tcp_conn *c = conns[0] = tcp_conn_new(sc->s, &err);
    tapir_time_t t0 = sc->now;
    ck_assert_int_eq(tcp_connect(c, TCP_SCRIPT_PEER_IP, 40000), -EINPROGRESS);
    tapir_time_t last_syn = 0;
    int syns = 0;
    while (sc->now - t0 < TAPIR_SEC(180)) {
        struct tcp_script_out o;
        while (tcp_script_next(sc, &o)) {
            ck_assert_uint_eq(o.seg.flags, TCP_SYN);
            last_syn = o.when;
            syns++;
        }
        tapir_time_t next = tapir_stack_next_deadline(sc->s);
        if (next - t0 > TAPIR_SEC(180))
            break;
        tcp_script_advance_to_next(sc, TAPIR_SEC(300));
    }
    /* At 180 s the connect is still going (SYNs at 0 1 3 7 15 31 63 123 s,
     * the RTO capped at rto_max = 60 s) and a SYN is still to come. */
    tcp_script_advance(sc, t0 + TAPIR_SEC(180) - sc->now);
    tcp_script_expect_none(sc);
    ck_assert_int_eq(tcp_state(c), TAPIR_TCP_SYN_SENT);
    ck_assert_int_eq(syns, 8);
    ck_assert_uint_eq(last_syn - t0, TAPIR_SEC(123));
    /* It goes at 183 s: SYN retransmission over at least 3 minutes. */
    tcp_script_advance_to_next(sc, TAPIR_SEC(300));
    struct tcp_script_out o;
    ck_assert(tcp_script_next(sc, &o));
    ck_assert_uint_eq(o.seg.flags, TCP_SYN);
    ck_assert_uint_eq(o.when - t0, TAPIR_SEC(183));
    ck_assert_int_eq(tcp_state(c), TAPIR_TCP_SYN_SENT);
    /* ... and the attempt fails with ETIMEDOUT afterwards, at 243 s. */
    tcp_script_advance_to_next(sc, TAPIR_SEC(300));
    ck_assert_int_eq(tcp_state(c), TAPIR_TCP_CLOSED);
    ck_assert_uint_eq(sc->now - t0, TAPIR_SEC(243));
    ck_assert_int_eq(tcp_take_error(c), -ETIMEDOUT);
    tcp_script_expect_none(sc);
}
END_TEST

/* ---- MUST-42: LISTEN beside SYN-SENT / SYN-RECEIVED ------------------------- */

/* The peer (port from) opens a connection to the listener at port p; the
 * accepted connection. */
static struct tcp_conn *peer_connects(struct tcp_conn *listener, uint16_t from, uint16_t p)
{
    tcp_script_inject_raw(sc, from, p, OTHER_ISS, 0, TCP_SYN, 65535, NULL, 0, NULL, 0);
    struct tcp_script_out o;
    tcp_script_expect_anyseq(sc, TCP_SYN | TCP_ACK, OTHER_ISS + 1, &o);
    ck_assert_uint_eq(o.seg.sport, p);
    ck_assert_uint_eq(o.seg.dport, from);
    tcp_script_inject_raw(sc, from, p, OTHER_ISS + 1, o.seg.seq + 1, TCP_ACK, 65535, NULL, 0, NULL, 0);
    struct tcp_conn *child = NULL;
    ck_assert_int_eq(tcp_accept(listener, &child), 0);
    ck_assert_int_eq(tcp_state(child), TAPIR_TCP_ESTABLISHED);
    return child;
}

START_TEST(listen_beside_syn_sent)
{
    int err;
    struct tcp_conn *c = conns[0] = tcp_conn_new(sc->s, &err);
    ck_assert_int_eq(tcp_connect(c, TCP_SCRIPT_PEER_IP, 40000), -EINPROGRESS);
    uint32_t ip;
    uint16_t p;
    tcp_local_addr(c, &ip, &p);
    struct tcp_script_out syn;
    ck_assert(tcp_script_next(sc, &syn));
    ck_assert_int_eq(tcp_state(c), TAPIR_TCP_SYN_SENT);

    /* The rule (tcp_bind): a port in use by connections takes a listener
     * that asks for it with SO_REUSEADDR (as Linux), never a second one. */
    struct tcp_conn *l = conns[1] = tcp_conn_new(sc->s, &err);
    ck_assert_int_eq(tcp_bind(l, 0, p), -EADDRINUSE);
    ck_assert_int_eq(tcp_set_reuseaddr(l, true), 0);
    ck_assert_int_eq(tcp_bind(l, 0, p), 0);
    ck_assert_int_eq(tcp_listen(l, 4), 0);
    ck_assert_int_eq(tcp_state(c), TAPIR_TCP_SYN_SENT);     /* MUST-41: untouched */

    /* A SYN for p from another remote socket goes to the listener. */
    conns[2] = peer_connects(l, 40001, p);
    ck_assert_int_eq(tcp_state(c), TAPIR_TCP_SYN_SENT);

    /* The SYN-SENT connection still completes. */
    tcp_script_inject_raw(sc, 40000, p, PEER_ISS, syn.seg.seq + 1, TCP_SYN | TCP_ACK, 65535, NULL, 0, NULL, 0);
    tcp_script_expect(sc, TCP_ACK, syn.seg.seq + 1, PEER_ISS + 1, NULL);
    ck_assert_int_eq(tcp_state(c), TAPIR_TCP_ESTABLISHED);
    ck_assert_int_eq(tcp_state(conns[2]), TAPIR_TCP_ESTABLISHED);
    ck_assert_int_eq(tcp_state(l), TAPIR_TCP_LISTEN);
}
END_TEST

START_TEST(listen_beside_syn_received)
{
    int err;
    struct tcp_conn *c = conns[0] = tcp_conn_new(sc->s, &err);
    ck_assert_int_eq(tcp_connect(c, TCP_SCRIPT_PEER_IP, 40000), -EINPROGRESS);
    uint32_t ip;
    uint16_t p;
    tcp_local_addr(c, &ip, &p);
    struct tcp_script_out syn;
    ck_assert(tcp_script_next(sc, &syn));
    /* Simultaneous open: the peer's own SYN crosses ours (SYN-RECEIVED). */
    tcp_script_inject_raw(sc, 40000, p, PEER_ISS, 0, TCP_SYN, 65535, NULL, 0, NULL, 0);
    tcp_script_expect(sc, TCP_SYN | TCP_ACK, syn.seg.seq, PEER_ISS + 1, NULL);
    ck_assert_int_eq(tcp_state(c), TAPIR_TCP_SYN_RECEIVED);

    struct tcp_conn *l = conns[1] = tcp_conn_new(sc->s, &err);
    ck_assert_int_eq(tcp_set_reuseaddr(l, true), 0);
    ck_assert_int_eq(tcp_bind(l, 0, p), 0);
    ck_assert_int_eq(tcp_listen(l, 4), 0);
    ck_assert_int_eq(tcp_state(c), TAPIR_TCP_SYN_RECEIVED);

    conns[2] = peer_connects(l, 40002, p);

    /* The peer's SYN,ACK finishes the simultaneous open. */
    tcp_script_inject_raw(sc, 40000, p, PEER_ISS, syn.seg.seq + 1, TCP_SYN | TCP_ACK, 65535, NULL, 0, NULL, 0);
    ck_assert_int_eq(tcp_state(c), TAPIR_TCP_ESTABLISHED);
    tcp_script_flush(sc);
}
END_TEST

START_TEST(second_listener_on_a_port_is_refused)
{
    int err;
    struct tcp_conn *l1 = conns[0] = tcp_conn_new(sc->s, &err);
    ck_assert_int_eq(tcp_set_reuseaddr(l1, true), 0);
    ck_assert_int_eq(tcp_bind(l1, 0, 8080), 0);
    ck_assert_int_eq(tcp_listen(l1, 4), 0);
    struct tcp_conn *l2 = conns[1] = tcp_conn_new(sc->s, &err);
    ck_assert_int_eq(tcp_set_reuseaddr(l2, true), 0);
    ck_assert_int_eq(tcp_bind(l2, 0, 8080), -EADDRINUSE);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tcp_failures");
    TCase *t = tcase_create("must21_user_timeout");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, user_timeout_aborts_unacknowledged_data);
    tcase_add_test(t, user_timeout_counts_from_the_last_acknowledgment);
    tcase_add_test(t, user_timeout_zero_keeps_the_default_retries);
    tcase_add_test(t, user_timeout_longer_than_the_retry_count);
    tcase_add_test(t, user_timeout_ends_zero_window_probing);
    tcase_add_test(t, user_timeout_bounds_a_connect);
    tcase_add_test(t, syn_retries_per_connection);
    suite_add_tcase(s, t);
    t = tcase_create("must23_syn_3_minutes");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, syn_is_retransmitted_for_over_3_minutes);
    suite_add_tcase(s, t);
    t = tcase_create("must42_listen_beside_handshake");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, listen_beside_syn_sent);
    tcase_add_test(t, listen_beside_syn_received);
    tcase_add_test(t, second_listener_on_a_port_is_refused);
    suite_add_tcase(s, t);
    return harness_run(s);
}
