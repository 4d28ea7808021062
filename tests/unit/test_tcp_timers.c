/* TCP timers in virtual time: RTO backoff 1 s, 2 s, 4 s ... (RFC 6298) for
 * SYN and data, ETIMEDOUT after the retry limit, delayed ACK at 200 ms,
 * persist probes, keepalive probes and abort, TIME_WAIT = 2*MSL, and ICMP
 * unreachable in SYN_SENT. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/checksum.h"
#include "core/stack.h"
#include "core/tcp.h"
#include "core/wire.h"
#include "net_frames.h"
#include "tcp_script.h"
#include "harness.h"

#define PEER_ISS 0xfffffff0u

static struct tcp_script *sc;
static struct tcp_conn *conn;

static void setup(void)
{
    sc = tcp_script_new(NULL);
    conn = NULL;
}

static void teardown(void)
{
    if (conn)
        tcp_abort(conn);
    conn = NULL;
    tcp_script_advance(sc, TAPIR_SEC(3600));
    tcp_script_flush(sc);
    tcp_script_free_checked(sc);
}

static void few_retries(struct tapir_config *cfg)
{
    cfg->tcp_max_retries = 3;
    cfg->msl = TAPIR_SEC(5);
}

START_TEST(syn_rto_backoff_is_1_2_4_8_then_etimedout)
{
    int err;
    conn = tcp_conn_new(sc->s, &err);
    ck_assert_int_eq(tcp_connect(conn, TCP_SCRIPT_PEER_IP, 40000), -EINPROGRESS);
    struct tcp_script_out o;
    ck_assert(tcp_script_next(sc, &o));
    uint32_t iss = o.seg.seq;
    tapir_time_t last = sc->now;
    tapir_time_t expect = TAPIR_SEC(1);
    for (uint32_t i = 0; i < sc->s->cfg.tcp_syn_retries; i++) {
        tcp_script_advance_to_next(sc, TAPIR_SEC(120));
        tcp_script_expect(sc, TCP_SYN, iss, 0, &o);
        ck_assert_uint_eq(o.when - last, expect);
        last = o.when;
        expect = expect * 2 > sc->s->cfg.rto_max ? sc->s->cfg.rto_max : expect * 2;
    }
    tcp_script_advance_to_next(sc, TAPIR_SEC(120));
    ck_assert_uint_eq(sc->now - last, expect);
    ck_assert_int_eq(tcp_state(conn), TAPIR_TCP_CLOSED);
    ck_assert_int_eq(tcp_take_error(conn), -ETIMEDOUT);
    tcp_script_expect_none(sc);
    ck_assert_uint_eq(sc->s->stats.tcp_timeouts, 1);
}
END_TEST

START_TEST(data_rto_doubles_and_aborts_with_etimedout)
{
    teardown();
    sc = tcp_script_new(few_retries);
    conn = tcp_script_passive_open(sc, PEER_ISS, NULL);
    ck_assert_int_eq(tcp_send(conn, "data", 4), 4);
    struct tcp_script_out o;
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt, &o);
    struct tapir_tcp_info info;
    tcp_get_info(conn, &info);
    tapir_time_t rto = info.rto_us;
    ck_assert_uint_ge(rto, sc->s->cfg.rto_min);
    tapir_time_t last = o.when;
    for (int i = 0; i < 3; i++) {
        tcp_script_advance_to_next(sc, TAPIR_SEC(120));
        tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt, &o);
        ck_assert_uint_eq(o.seg.len, 4);
        ck_assert_uint_eq(o.when - last, rto);
        last = o.when;
        rto *= 2;
    }
    ck_assert_uint_eq(sc->s->stats.tcp_retransmits, 3);
    tcp_script_advance_to_next(sc, TAPIR_SEC(120));
    ck_assert_uint_eq(sc->now - last, rto);
    tcp_script_expect(sc, TCP_RST, sc->our_nxt + 4, 0, NULL);
    ck_assert_int_eq(tcp_state(conn), TAPIR_TCP_CLOSED);
    char b[4];
    ck_assert_int_eq(tcp_recv(conn, b, 4, false), -ETIMEDOUT);
}
END_TEST

START_TEST(rtt_sample_sets_rto_and_karn_ignores_retransmissions)
{
    conn = tcp_script_passive_open(sc, PEER_ISS, NULL);
    ck_assert_int_eq(tcp_send(conn, "abcd", 4), 4);
    tcp_script_flush(sc);
    tcp_script_advance(sc, TAPIR_MSEC(100));
    tcp_script_send(sc, TCP_ACK, sc->peer_nxt, sc->our_nxt + 4, 0, NULL, 0);
    sc->our_nxt += 4;
    struct tapir_tcp_info info;
    tcp_get_info(conn, &info);
    ck_assert_uint_gt(info.rtt_us, 0);
    ck_assert_uint_ge(info.rto_us, sc->s->cfg.rto_min);
    uint32_t srtt = info.rtt_us;
    /* A segment that needed a retransmission gives no sample (Karn). */
    ck_assert_int_eq(tcp_send(conn, "efgh", 4), 4);
    tcp_script_advance_to_next(sc, TAPIR_SEC(5));
    tcp_script_advance(sc, TAPIR_SEC(3));
    tcp_script_flush(sc);
    tcp_script_send(sc, TCP_ACK, sc->peer_nxt, sc->our_nxt + 4, 0, NULL, 0);
    sc->our_nxt += 4;
    tcp_get_info(conn, &info);
    ck_assert_uint_eq(info.rtt_us, srtt);
}
END_TEST

START_TEST(fin_is_retransmitted)
{
    conn = tcp_script_passive_open(sc, PEER_ISS, NULL);
    tcp_close(conn);
    conn = NULL;
    tcp_script_expect(sc, TCP_FIN | TCP_ACK, sc->our_nxt, sc->peer_nxt, NULL);
    tcp_script_advance_to_next(sc, TAPIR_SEC(5));
    tcp_script_expect(sc, TCP_FIN | TCP_ACK, sc->our_nxt, sc->peer_nxt, NULL);
}
END_TEST

/* The delay is a config field: at the 200 ms bound the issue names, the ACK
 * goes out at exactly 200 ms. */
static void delack_200ms(struct tapir_config *cfg) { cfg->delack_timeout = TAPIR_MSEC(200); }

START_TEST(delayed_ack_fires_at_200ms)
{
    tcp_script_free(sc);
    sc = tcp_script_new(delack_200ms);
    conn = tcp_script_passive_open(sc, PEER_ISS, NULL);
    tapir_time_t t0 = sc->now;
    tcp_script_send(sc, TCP_ACK, sc->peer_nxt, sc->our_nxt, 0, "x", 1);
    ck_assert_uint_eq(tapir_stack_next_deadline(sc->s), t0 + TAPIR_MSEC(200));
    tcp_script_advance_to_next(sc, TAPIR_SEC(1));
    struct tcp_script_out o;
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt + 1, &o);
    ck_assert_uint_eq(o.when, t0 + TAPIR_MSEC(200));
}
END_TEST

START_TEST(delayed_ack_default_stays_below_min_rto)
{
    /* With the defaults a delayed ACK (40 ms) always beats the sender's
     * shortest retransmission timeout (200 ms). */
    ck_assert_uint_lt(sc->s->cfg.delack_timeout, sc->s->cfg.rto_min);
    conn = tcp_script_passive_open(sc, PEER_ISS, NULL);
    tapir_time_t t0 = sc->now;
    tcp_script_send(sc, TCP_ACK, sc->peer_nxt, sc->our_nxt, 0, "x", 1);
    tcp_script_advance_to_next(sc, TAPIR_SEC(1));
    struct tcp_script_out o;
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt + 1, &o);
    ck_assert_uint_eq(o.when, t0 + TAPIR_MSEC(40));
}
END_TEST

START_TEST(persist_probes_a_zero_window_with_backoff)
{
    conn = tcp_script_passive_open(sc, PEER_ISS, NULL);
    sc->peer_wnd = 0;
    tcp_script_send(sc, TCP_ACK, sc->peer_nxt, sc->our_nxt, 0, NULL, 0);
    ck_assert_int_eq(tcp_send(conn, "hello", 5), 5);
    tcp_script_expect_none(sc);
    tapir_time_t gaps[3];
    tapir_time_t last = sc->now;
    for (int i = 0; i < 3; i++) {
        tcp_script_advance_to_next(sc, TAPIR_SEC(200));
        struct tcp_script_out o;
        tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt, &o);
        ck_assert_uint_eq(o.seg.len, 1);                /* one byte past the window */
        ck_assert_uint_eq(o.seg.data[0], 'h');
        gaps[i] = o.when - last;
        last = o.when;
        /* The peer still has no room: it acks nothing new. */
        tcp_script_send(sc, TCP_ACK, sc->peer_nxt, sc->our_nxt, 0, NULL, 0);
        tcp_script_expect_none(sc);
    }
    ck_assert_uint_eq(gaps[1], 2 * gaps[0]);
    ck_assert_uint_eq(gaps[2], 2 * gaps[1]);
    ck_assert_int_eq(tcp_state(conn), TAPIR_TCP_ESTABLISHED);  /* never gives up */
    /* The window opens: the data goes. */
    sc->peer_wnd = 1000;
    tcp_script_send(sc, TCP_ACK, sc->peer_nxt, sc->our_nxt, 0, NULL, 0);
    struct tcp_script_out o;
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt, &o);
    ck_assert_uint_eq(o.seg.len, 5);
}
END_TEST

START_TEST(window_closing_with_data_in_flight_never_times_out)
{
    conn = tcp_script_passive_open(sc, PEER_ISS, NULL);
    ck_assert_int_eq(tcp_send(conn, "0123456789", 10), 10);
    tcp_script_flush(sc);
    /* The peer takes 4 bytes and closes its window. */
    sc->peer_wnd = 0;
    tcp_script_send(sc, TCP_ACK, sc->peer_nxt, sc->our_nxt + 4, 0, NULL, 0);
    sc->our_nxt += 4;
    /* For an hour it answers every probe with a zero window. */
    struct tcp_script_out o;
    tapir_time_t end = sc->now + TAPIR_SEC(3600);
    int probes = 0;
    while (sc->now < end) {
        tcp_script_advance_to_next(sc, TAPIR_SEC(3600));
        while (tcp_script_next(sc, &o)) {
            ck_assert_uint_le(o.seg.len, 1);
            probes++;
            tcp_script_send(sc, TCP_ACK, sc->peer_nxt, sc->our_nxt, 0, NULL, 0);
        }
    }
    ck_assert_int_ge(probes, 10);
    ck_assert_int_eq(tcp_state(conn), TAPIR_TCP_ESTABLISHED);
    sc->peer_wnd = 65535;
    tcp_script_send(sc, TCP_ACK, sc->peer_nxt, sc->our_nxt, 0, NULL, 0);
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt, &o);
    ck_assert_uint_eq(o.seg.len, 6);
    ck_assert_mem_eq(o.seg.data, "456789", 6);
}
END_TEST

START_TEST(keepalive_probes_then_abort)
{
    conn = tcp_script_passive_open(sc, PEER_ISS, NULL);
    ck_assert_int_eq(tcp_set_keepalive_params(conn, TAPIR_SEC(10), TAPIR_SEC(2), 3), 0);
    ck_assert_int_eq(tcp_set_keepalive(conn, true), 0);
    tapir_time_t t0 = sc->now;
    struct tcp_script_out o;
    tcp_script_advance_to_next(sc, TAPIR_SEC(20));
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt - 1, sc->peer_nxt, &o);
    ck_assert_uint_eq(o.when - t0, TAPIR_SEC(10));
    /* An answer resets the idle timer. */
    tcp_script_send(sc, TCP_ACK, sc->peer_nxt, sc->our_nxt, 0, NULL, 0);
    t0 = sc->now;
    for (int i = 0; i < 3; i++) {
        tcp_script_advance_to_next(sc, TAPIR_SEC(20));
        tcp_script_expect(sc, TCP_ACK, sc->our_nxt - 1, sc->peer_nxt, &o);
        ck_assert_uint_eq(o.when - t0, TAPIR_SEC(10) + (tapir_time_t)i * TAPIR_SEC(2));
    }
    tcp_script_advance_to_next(sc, TAPIR_SEC(20));
    tcp_script_expect(sc, TCP_RST, sc->our_nxt, 0, NULL);
    ck_assert_int_eq(tcp_state(conn), TAPIR_TCP_CLOSED);
    ck_assert_int_eq(tcp_take_error(conn), -ETIMEDOUT);
}
END_TEST

START_TEST(keepalive_is_off_by_default)
{
    conn = tcp_script_passive_open(sc, PEER_ISS, NULL);
    ck_assert_uint_eq(tapir_stack_next_deadline(sc->s), TAPIR_TIME_NEVER);
    tcp_script_advance(sc, TAPIR_SEC(3 * 3600));
    tcp_script_expect_none(sc);
}
END_TEST

START_TEST(time_wait_lasts_exactly_2msl)
{
    teardown();
    sc = tcp_script_new(few_retries);          /* MSL 5 s */
    conn = tcp_script_passive_open(sc, PEER_ISS, NULL);
    tcp_close(conn);
    conn = NULL;
    tcp_script_expect(sc, TCP_FIN | TCP_ACK, sc->our_nxt, sc->peer_nxt, NULL);
    tcp_script_send(sc, TCP_FIN | TCP_ACK, sc->peer_nxt, sc->our_nxt + 1, 0, NULL, 0);
    tcp_script_flush(sc);
    tapir_time_t t0 = sc->now;
    ck_assert_uint_eq(tapir_stack_next_deadline(sc->s), t0 + TAPIR_SEC(10));
    tcp_script_advance_to_next(sc, TAPIR_SEC(20));
    ck_assert_uint_eq(sc->now - t0, TAPIR_SEC(10));
    ck_assert_uint_eq(tcp_conn_count(sc->s), 0);
}
END_TEST

/* An ICMP port unreachable quoting our SYN. */
static void inject_icmp_unreach(uint8_t code, const struct tcp_script_out *syn)
{
    uint8_t quoted[28];
    struct net_ip_spec sp;
    uint8_t tcp8[8];
    put_be16(tcp8, syn->seg.sport);
    put_be16(tcp8 + 2, syn->seg.dport);
    put_be32(tcp8 + 4, syn->seg.seq);
    net_ipv4_defaults(&sp, TCP_SCRIPT_US_IP, TCP_SCRIPT_PEER_IP, IPPROTO_TCP_NUM);
    size_t qn = net_ipv4_build(quoted, &sp, tcp8, 8);
    uint8_t icmp[8 + 28] = {3, code, 0, 0, 0, 0, 0, 0};
    memcpy(icmp + 8, quoted, qn);
    put_be16(icmp + 2, csum_compute(icmp, 8 + qn));
    uint8_t pkt[128];
    net_ipv4_defaults(&sp, TCP_SCRIPT_PEER_IP, TCP_SCRIPT_US_IP, IPPROTO_ICMP_NUM);
    size_t n = net_ipv4_build(pkt, &sp, icmp, 8 + qn);
    tapir_stack_input(sc->s, pkt, n, sc->now);
}

START_TEST(icmp_unreachable_aborts_syn_sent)
{
    int err;
    conn = tcp_conn_new(sc->s, &err);
    ck_assert_int_eq(tcp_connect(conn, TCP_SCRIPT_PEER_IP, 40000), -EINPROGRESS);
    struct tcp_script_out o;
    ck_assert(tcp_script_next(sc, &o));
    inject_icmp_unreach(3, &o);
    ck_assert_int_eq(tcp_state(conn), TAPIR_TCP_CLOSED);
    ck_assert_int_eq(tcp_take_error(conn), -ECONNREFUSED);
}
END_TEST

START_TEST(icmp_host_unreachable_is_soft_and_reported_at_timeout)
{
    int err;
    conn = tcp_conn_new(sc->s, &err);
    ck_assert_int_eq(tcp_connect(conn, TCP_SCRIPT_PEER_IP, 40000), -EINPROGRESS);
    struct tcp_script_out o;
    ck_assert(tcp_script_next(sc, &o));
    inject_icmp_unreach(1, &o);                         /* MUST-56: no abort */
    ck_assert_int_eq(tcp_state(conn), TAPIR_TCP_SYN_SENT);
    tcp_script_advance(sc, TAPIR_SEC(600));
    ck_assert_int_eq(tcp_state(conn), TAPIR_TCP_CLOSED);
    ck_assert_int_eq(tcp_take_error(conn), -EHOSTUNREACH);
    tcp_script_flush(sc);
}
END_TEST

START_TEST(connect_to_broadcast_or_multicast_is_refused)
{
    int err;
    conn = tcp_conn_new(sc->s, &err);
    ck_assert_int_eq(tcp_connect(conn, 0x0a0000ffu, 80), -ENETUNREACH);
    ck_assert_int_eq(tcp_connect(conn, 0xe0000001u, 80), -ENETUNREACH);
    ck_assert_int_eq(tcp_connect(conn, 0xffffffffu, 80), -ENETUNREACH);
    tcp_script_expect_none(sc);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tcp_timers");
    TCase *t = tcase_create("timers");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, syn_rto_backoff_is_1_2_4_8_then_etimedout);
    tcase_add_test(t, data_rto_doubles_and_aborts_with_etimedout);
    tcase_add_test(t, rtt_sample_sets_rto_and_karn_ignores_retransmissions);
    tcase_add_test(t, fin_is_retransmitted);
    tcase_add_test(t, delayed_ack_fires_at_200ms);
    tcase_add_test(t, delayed_ack_default_stays_below_min_rto);
    tcase_add_test(t, persist_probes_a_zero_window_with_backoff);
    tcase_add_test(t, window_closing_with_data_in_flight_never_times_out);
    tcase_add_test(t, keepalive_probes_then_abort);
    tcase_add_test(t, keepalive_is_off_by_default);
    tcase_add_test(t, time_wait_lasts_exactly_2msl);
    tcase_add_test(t, icmp_unreachable_aborts_syn_sent);
    tcase_add_test(t, icmp_host_unreachable_is_soft_and_reported_at_timeout);
    tcase_add_test(t, connect_to_broadcast_or_multicast_is_refused);
    suite_add_tcase(s, t);
    return harness_run(s);
}
