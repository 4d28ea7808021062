/* The retransmission timer during NewReno fast recovery (no SACK), with a
 * scripted peer on a virtual clock: RFC 6582 3.2 step 3 and section 4, the
 * "Impatient" variant. The first partial ACK restarts the timer, later
 * partial ACKs do not, so with many holes in one window the timer expires
 * at the deadline the first partial ACK set; the timeout then ends the
 * recovery (RFC 6582 3.2 step 4: recover = highest sequence number sent)
 * with ssthresh from RFC 5681 eq. (4), and the duplicate ACKs that
 * go-back-N provokes do not start another fast retransmit. The congestion
 * module (NewReno or CUBIC) changes nothing in this: it concerns recovery,
 * not growth. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/stack.h"
#include "core/tcp.h"
#include "core/tcp_conn.h"
#include "harness.h"
#include "tcp_script.h"

#define PEER_ISS 0x12345678u
#define MSS 1000u
#define FLIGHT_SEGS 12u                 /* the window the peer offers, in segments */
#define STEP TAPIR_MSEC(20)             /* the scripted path's round trip */

static const char *const algorithms[] = {"newreno", "cubic"};
static struct tcp_script *sc;
static struct tcp_conn *conn;
static uint8_t pattern[64 * 1024];
static const char *algorithm;

static void tweak(struct tapir_config *cfg)
{
    snprintf(cfg->tcp_congestion, sizeof cfg->tcp_congestion, "%s", algorithm);
}

/* Passive open; the peer's SYN carries only MSS: no SACK, no timestamps. */
static void open_connection(void)
{
    for (size_t i = 0; i < sizeof pattern; i++)
        pattern[i] = (uint8_t)(i * 7 + (i >> 9));
    sc = tcp_script_new(tweak);
    struct tcp_conn *l = tcp_script_listen(sc, 80, 4);
    sc->peer_wnd = FLIGHT_SEGS * MSS;
    tcp_script_send(sc, TCP_SYN, PEER_ISS, 0, MSS, NULL, 0);
    struct tcp_script_out o;
    tcp_script_expect_anyseq(sc, TCP_SYN | TCP_ACK, PEER_ISS + 1, &o);
    sc->our_nxt = o.seg.seq + 1;
    sc->peer_nxt = PEER_ISS + 1;
    tcp_script_send(sc, TCP_ACK, sc->peer_nxt, sc->our_nxt, 0, NULL, 0);
    ck_assert_int_eq(tcp_accept(l, &conn), 0);
    tcp_close(l);
    ck_assert(!conn->sack_ok && !conn->ts_ok);
    ck_assert_str_eq(conn->cc->name, algorithm);
}

static void peer_ack(uint32_t ack)
{
    tcp_script_send(sc, TCP_ACK, sc->peer_nxt, ack, 0, NULL, 0);
}

static void expect_resend(uint32_t seq, struct tcp_script_out *o)
{
    tcp_script_expect(sc, TCP_ACK, seq, sc->peer_nxt, o);
    ck_assert_uint_eq(o->seg.len, MSS);
}

START_TEST(only_the_first_partial_ack_restarts_the_retransmission_timer)
{
    algorithm = algorithms[_i];
    open_connection();
    tcp_script_transfer_acked(sc, conn, pattern, 24 * MSS, STEP);
    struct tapir_tcp_info info;
    tcp_get_info(conn, &info);
    ck_assert_uint_ge(info.cwnd, FLIGHT_SEGS * MSS);   /* the peer's window limits the flight */
    tapir_time_t rto = (tapir_time_t)info.rto_us;

    /* One window of twelve segments; the even ones (0, 2, ... 10) are lost. */
    uint32_t base = sc->our_nxt, sent_from = 24 * MSS;
    ck_assert_int_eq(tcp_send(conn, pattern + sent_from, FLIGHT_SEGS * MSS), (long)(FLIGHT_SEGS * MSS));
    struct tcp_script_out o;
    for (uint32_t k = 0; k < FLIGHT_SEGS; k++)
        tcp_script_expect(sc, TCP_ACK, base + k * MSS, sc->peer_nxt, NULL);
    tcp_script_advance(sc, STEP / 2);
    /* The odd ones arrive: a duplicate ACK each; the third starts fast
     * retransmit, which sends segment 0 again. */
    peer_ack(base);
    peer_ack(base);
    peer_ack(base);
    expect_resend(base, &o);
    ck_assert(conn->in_recovery);
    ck_assert_uint_eq(conn->recover, base + FLIGHT_SEGS * MSS);
    peer_ack(base);
    peer_ack(base);
    peer_ack(base);
    tcp_script_expect_none(sc);
    tapir_time_t at_fast_retransmit = conn->rto_at;

    /* Segment 0 arrives: the first partial ACK (up to the hole at 2). It
     * resends segment 2 and restarts the timer. */
    tcp_script_advance(sc, STEP);
    peer_ack(base + 2 * MSS);
    expect_resend(base + 2 * MSS, &o);
    tapir_time_t deadline = conn->rto_at;
    ck_assert_uint_eq(deadline, sc->now + rto);
    ck_assert_uint_gt(deadline, at_fast_retransmit);
    ck_assert(conn->in_recovery);

    /* The second and third partial ACKs resend the next holes but leave
     * the deadline where the first one put it. */
    for (uint32_t hole = 4; hole <= 6; hole += 2) {
        tcp_script_advance(sc, STEP);
        peer_ack(base + hole * MSS);
        expect_resend(base + hole * MSS, &o);
        ck_assert(conn->in_recovery);
        ck_assert_msg(conn->rto_at == deadline, "partial ACK up to hole %u moved the RTO deadline by %lld us",
                      hole, (long long)(conn->rto_at - deadline));
    }
    tcp_script_expect_none(sc);

    /* Nothing more arrives: the timer fires exactly at that deadline and
     * goes back to the first unacknowledged segment. */
    uint32_t una = base + 6 * MSS;
    ck_assert_uint_gt(deadline, sc->now);
    tcp_script_advance(sc, deadline - sc->now - 1);
    tcp_script_expect_none(sc);
    ck_assert_uint_eq(sc->s->stats.tcp_rto_expired, 0);
    tcp_script_advance(sc, 1);
    expect_resend(una, &o);
    ck_assert_uint_eq(o.when, deadline);
    ck_assert_uint_eq(sc->s->stats.tcp_rto_expired, 1);

    /* The timeout left recovery (RFC 6582 3.2 step 4, RFC 5681 3.1). */
    ck_assert(!conn->in_recovery);
    ck_assert_uint_eq(conn->recover, base + FLIGHT_SEGS * MSS);
    ck_assert_uint_eq(conn->cwnd, MSS);
    if (strcmp(algorithm, "newreno") == 0)
        ck_assert_uint_eq(conn->ssthresh, (base + FLIGHT_SEGS * MSS - una) / 2);   /* eq. (4) */

    /* Go-back-N: once the resent segments fill the holes, the peer's ACK
     * jumps to the old snd_max (recover), and resent copies of segments it
     * already held come back as duplicate ACKs for it. Those do not start
     * another fast retransmit: they do not cover more than recover (RFC
     * 6582 3.2 step 2; section 4: ack - 1 > recover). */
    uint32_t more = 4 * MSS;
    ck_assert_int_eq(tcp_send(conn, pattern + sent_from + FLIGHT_SEGS * MSS, more), (long)more);
    tcp_script_flush(sc);
    tcp_script_advance(sc, STEP);
    peer_ack(base + FLIGHT_SEGS * MSS);
    ck_assert_uint_eq(conn->snd_una, conn->recover);
    ck_assert(seq_gt(conn->snd_max, conn->snd_una));      /* new data went out */
    tcp_script_flush(sc);
    uint32_t high = conn->snd_max;
    uint64_t limited = sc->s->stats.tcp_limited_transmits;
    for (int i = 0; i < 4; i++)
        peer_ack(base + FLIGHT_SEGS * MSS);
    /* They are duplicate ACKs all the same: the first two send one new
     * segment each (Limited Transmit, RFC 3042 2; the application queued
     * more than cwnd let go), the others nothing. */
    for (uint32_t k = 0; k < 2; k++) {
        ck_assert(tcp_script_next(sc, &o));
        ck_assert_uint_eq(o.seg.seq, high + k * MSS);
        ck_assert_uint_eq(o.seg.len, MSS);
    }
    tcp_script_expect_none(sc);
    ck_assert_uint_eq(sc->s->stats.tcp_limited_transmits, limited + 2);
    ck_assert(!conn->in_recovery);
    ck_assert_uint_eq(sc->s->stats.tcp_fast_retransmits, 1);

    /* The rest is acknowledged. */
    tcp_script_advance(sc, STEP);
    for (int round = 0; round < 8 && conn->snd_una != base + FLIGHT_SEGS * MSS + more; round++) {
        peer_ack(conn->snd_max);
        tcp_script_flush(sc);
    }
    tcp_get_info(conn, &info);
    ck_assert_uint_eq(info.unacked, 0);
    ck_assert_uint_eq(conn->snd_una, base + FLIGHT_SEGS * MSS + more);
    ck_assert_uint_eq(sc->s->stats.tcp_rto_expired, 1);
    tcp_script_flush(sc);

    tcp_script_finish(&sc, &conn);
}
END_TEST

/* The full ACK that ends recovery restarts the timer for what was sent
 * during recovery (RFC 6298 5.3 applies again). */
START_TEST(the_full_ack_ending_recovery_restarts_the_timer)
{
    algorithm = "newreno";
    open_connection();
    tcp_script_transfer_acked(sc, conn, pattern, 24 * MSS, STEP);
    uint32_t base = sc->our_nxt;
    ck_assert_int_eq(tcp_send(conn, pattern + 24 * MSS, FLIGHT_SEGS * MSS), (long)(FLIGHT_SEGS * MSS));
    tcp_script_flush(sc);
    tcp_script_advance(sc, STEP / 2);
    /* Segments 0 and 2 lost. */
    for (int i = 0; i < 10; i++)
        peer_ack(base);
    struct tcp_script_out o;
    expect_resend(base, &o);
    tcp_script_advance(sc, STEP);
    peer_ack(base + 2 * MSS);
    expect_resend(base + 2 * MSS, &o);
    tapir_time_t first = conn->rto_at;
    /* More data, which the window the partial ACK opened lets out. */
    ck_assert_int_eq(tcp_send(conn, pattern + 36 * MSS, 4 * MSS), (long)(4 * MSS));
    tcp_script_flush(sc);
    tcp_script_advance(sc, STEP);
    peer_ack(base + FLIGHT_SEGS * MSS);
    ck_assert(!conn->in_recovery);
    ck_assert_uint_gt(tcp_flight(conn), 0);
    ck_assert_uint_eq(conn->rto_at, sc->now + (tapir_time_t)tcp_rto_current(conn));
    ck_assert_uint_gt(conn->rto_at, first);

    tcp_script_flush(sc);
    tcp_script_finish(&sc, &conn);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tcp_newreno_timer");
    TCase *t = tcase_create("impatient");
    tcase_add_loop_test(t, only_the_first_partial_ack_restarts_the_retransmission_timer, 0,
                        (int)(sizeof algorithms / sizeof algorithms[0]));
    tcase_add_test(t, the_full_ack_ending_recovery_restarts_the_timer);
    suite_add_tcase(s, t);
    return harness_run(s);
}
