/* SACK-based loss recovery (RFC 6675) across a retransmission timeout,
 * with a scripted peer on a virtual clock.
 *
 * RFC 6675 5.1: an RTO during loss recovery sets RecoveryPoint to HighData
 * and ends the recovery; "a new recovery phase ... MUST NOT be initiated
 * until HighACK is greater than or equal to the new value of
 * RecoveryPoint". HighACK and HighData are both numbers of octets (the
 * highest acknowledged, the highest sent: RFC 6675 2), so in terms of the
 * ACK field the rule reads "no new recovery until the ACK reaches the
 * snd_max of the timeout" (conn->recover). The tests pin that boundary from
 * both sides, check that the duplicate ACKs that arrive before it start
 * nothing (no second reduction of cwnd/ssthresh) while the retransmission
 * goes on, that this retransmission fills the holes in order and never
 * resends what the peer SACKed after the timeout (5.1, last paragraphs),
 * and that a fresh loss past the boundary is recovered by fast retransmit,
 * a recovery that (A) ends with the ACK covering its own RecoveryPoint
 * octet and not with one a byte short.
 *
 * The window: twelve segments of 1000 bytes at base; segments 0, 4 and 8
 * are lost, and so is the fast retransmission of segment 0, so the timer
 * fires with RecoveryPoint = base + 12000 (one past HighData). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/stack.h"
#include "core/tcp.h"
#include "core/tcp_conn.h"
#include "core/wire.h"
#include "harness.h"
#include "tcp_script.h"

#define PEER_ISS 0x2468ace0u
#define MSS 1000u
#define WINDOW_SEGS 12u                 /* the window the peer offers, in segments */
#define STEP TAPIR_MSEC(20)             /* the scripted path's round trip */

static const char *const algorithms[] = {"newreno", "cubic"};
#define N_ALGORITHMS (int)(sizeof algorithms / sizeof algorithms[0])

static struct tcp_script *sc;
static struct tcp_conn *conn;
static uint8_t pattern[64 * 1024];
static const char *algorithm;
static uint32_t base;                   /* first byte of the window with losses */

static void tweak(struct tapir_config *cfg)
{
    snprintf(cfg->tcp_congestion, sizeof cfg->tcp_congestion, "%s", algorithm);
    cfg->tcp_sack = true;
    cfg->tcp_timestamps = false;
}

/* A pure ACK from the peer carrying n SACK blocks (n <= 4: no timestamps). */
static void peer_ack(uint32_t ack, uint8_t n, const struct tcp_script_block *b)
{
    uint8_t o[36];
    size_t len = tcp_script_sack_option(o, base, n, b);
    tcp_script_inject_raw(sc, sc->peer_port, sc->local_port, sc->peer_nxt, ack, TCP_ACK, sc->peer_wnd, o,
                          len, NULL, 0);
}

/* Passive open; the peer's SYN offers MSS 1000 and SACK-permitted. */
static void open_connection(void)
{
    for (size_t i = 0; i < sizeof pattern; i++)
        pattern[i] = (uint8_t)(i * 7 + (i >> 9));
    sc = tcp_script_new(tweak);
    sc->peer_wnd = WINDOW_SEGS * MSS;
    conn = tcp_script_passive_open_sack(sc, 80, PEER_ISS, MSS, true);
    ck_assert(conn->sack_ok && !conn->ts_ok);
    ck_assert_str_eq(conn->cc->name, algorithm);
}

/* The next segment must be [base + off, base + off + MSS) of the stream. */
static void expect_segment(uint32_t off)
{
    tcp_script_expect_data(sc, base + off, pattern + 24 * MSS + off, MSS);
}

/* Warm up, send the window (plus extra_segs that the window holds back),
 * lose segments 0, 4, 8, enter SACK recovery on the SACKs of 1..3, lose
 * the fast retransmission, and let the timer expire. The ACKs for 5..7 and
 * 9..11 are held up in the network until after the timeout. */
static void recovery_ended_by_a_timeout(uint32_t extra_segs)
{
    open_connection();
    tcp_script_transfer_acked(sc, conn, pattern, 24 * MSS, STEP);
    struct tapir_tcp_info info;
    tcp_get_info(conn, &info);
    ck_assert_uint_ge(info.cwnd, WINDOW_SEGS * MSS);

    base = sc->our_nxt;
    uint32_t bytes = (WINDOW_SEGS + extra_segs) * MSS;
    ck_assert_int_eq(tcp_send(conn, pattern + 24 * MSS, bytes), (long)bytes);
    for (uint32_t k = 0; k < WINDOW_SEGS; k++)
        expect_segment(k * MSS);
    tcp_script_expect_none(sc);                 /* the window is full */
    tcp_script_advance(sc, STEP / 2);

    peer_ack(base, 1, (const struct tcp_script_block[]){{1000, 2000}});
    peer_ack(base, 1, (const struct tcp_script_block[]){{1000, 3000}});
    tcp_script_expect_none(sc);
    peer_ack(base, 1, (const struct tcp_script_block[]){{1000, 4000}});
    expect_segment(0);                          /* RFC 6675 5 step 4.3 */
    tcp_script_expect_none(sc);
    ck_assert(conn->in_recovery);
    ck_assert_uint_eq(sc->s->stats.tcp_sack_recoveries, 1);
    ck_assert_uint_eq(conn->recover, base + WINDOW_SEGS * MSS);     /* step 4.1 */

    /* Nothing more arrives before the timer fires: go back to segment 0. */
    ck_assert_uint_gt(conn->rto_at, sc->now);
    tcp_script_advance(sc, conn->rto_at - sc->now);
    ck_assert_uint_eq(sc->s->stats.tcp_rto_expired, 1);
    expect_segment(0);
    tcp_script_expect_none(sc);
    /* 5.1: the recovery is over, RecoveryPoint = HighData, the SACK
     * information is forgotten (RFC 2018 8), one segment of window. */
    ck_assert(!conn->in_recovery);
    ck_assert_uint_eq(conn->recover, base + WINDOW_SEGS * MSS);
    ck_assert_uint_eq(conn->sb_n, 0);
    ck_assert_uint_eq(conn->cwnd, MSS);
}

static void teardown(void)
{
    tcp_script_finish(&sc, &conn);
}

/* The held-up duplicate ACKs arrive after the timeout. Each SACKs data the
 * sender no longer counts as SACKed, so each is a DupAck (RFC 6675 2) and
 * IsLost(HighACK + 1) holds from the first: by both rules of RFC 6675 5 a
 * recovery would start, but HighACK is below RecoveryPoint (5.1). Then the
 * retransmission of the timeout goes on, hole by hole in order, and never
 * resends the SACKed segments, also when a cumulative ACK below
 * RecoveryPoint leaves IsLost(HighACK + 1) true. */
START_TEST(dupacks_below_recovery_point_after_a_timeout_start_no_new_recovery)
{
    algorithm = algorithms[_i];
    recovery_ended_by_a_timeout(0);
    uint32_t cwnd = conn->cwnd, ssthresh = conn->ssthresh;
    uint64_t fast = sc->s->stats.tcp_fast_retransmits, recoveries = sc->s->stats.tcp_sack_recoveries;

    peer_ack(base, 2, (const struct tcp_script_block[]){{5000, 6000}, {1000, 4000}});
    peer_ack(base, 2, (const struct tcp_script_block[]){{5000, 7000}, {1000, 4000}});
    peer_ack(base, 2, (const struct tcp_script_block[]){{5000, 8000}, {1000, 4000}});
    ck_assert_msg(!conn->in_recovery, "duplicate ACKs below RecoveryPoint started a recovery after the timeout");
    ck_assert_uint_ge(conn->dupacks, 3);
    ck_assert(tcp_sack_is_lost(conn, base));
    peer_ack(base, 3, (const struct tcp_script_block[]){{9000, 10000}, {5000, 8000}, {1000, 4000}});
    peer_ack(base, 3, (const struct tcp_script_block[]){{9000, 11000}, {5000, 8000}, {1000, 4000}});
    peer_ack(base, 3, (const struct tcp_script_block[]){{9000, 12000}, {5000, 8000}, {1000, 4000}});
    tcp_script_expect_none(sc);                 /* no fast retransmit of segment 0 */
    ck_assert(!conn->in_recovery);
    ck_assert_uint_eq(conn->cwnd, cwnd);
    ck_assert_uint_eq(conn->ssthresh, ssthresh);
    ck_assert_uint_eq(sc->s->stats.tcp_fast_retransmits, fast);
    ck_assert_uint_eq(sc->s->stats.tcp_sack_recoveries, recoveries);
    ck_assert_uint_eq(tcp_sack_sacked_bytes(conn), 9000);   /* the scoreboard learned them again */

    /* The resent segment 0 arrives: the ACK moves to the hole at 4; only
     * that hole goes (slow start: cwnd 2 segments), not 5..7. */
    tcp_script_advance(sc, STEP);
    peer_ack(base + 4000, 2, (const struct tcp_script_block[]){{5000, 8000}, {9000, 12000}});
    ck_assert(tcp_sack_is_lost(conn, base + 4000));
    expect_segment(4000);
    tcp_script_expect_none(sc);
    ck_assert(!conn->in_recovery);
    ck_assert_uint_eq(conn->ssthresh, ssthresh);

    tcp_script_advance(sc, STEP);
    peer_ack(base + 8000, 1, (const struct tcp_script_block[]){{9000, 12000}});
    expect_segment(8000);
    tcp_script_expect_none(sc);
    ck_assert(!conn->in_recovery);
    ck_assert_uint_eq(conn->ssthresh, ssthresh);

    tcp_script_advance(sc, STEP);
    peer_ack(base + WINDOW_SEGS * MSS, 0, NULL);
    ck_assert_uint_eq(conn->snd_una, conn->snd_max);
    ck_assert(!conn->in_recovery);
    ck_assert_uint_eq(sc->s->stats.tcp_sack_recoveries, recoveries);
    /* Four retransmissions in all: the fast one and the timeout's of
     * segment 0, then 4 and 8. No SACKed byte went twice. */
    ck_assert_uint_eq(sc->s->stats.tcp_retransmits, 4);
    ck_assert_uint_eq(sc->s->stats.tcp_rto_expired, 1);
}
END_TEST

/* Where the ACK ends up relative to RecoveryPoint (conn->recover = one past
 * HighData at the timeout) before a fresh loss among the new data. */
enum ack_at {
    ONE_BYTE_SHORT,     /* HighACK = RecoveryPoint - 1: still no recovery */
    AT_RECOVERY_POINT,  /* HighACK = RecoveryPoint: "greater than or equal", allowed */
    PAST_IT,            /* a segment beyond: allowed */
    ACK_AT_COUNT
};
static const char *const ack_at_names[] = {"one byte short of", "at", "past"};

/* After the timeout's retransmission, new data goes out; one segment of it
 * is lost and the next three are SACKed, one per duplicate ACK. Fast
 * recovery starts (a second reduction) exactly when the ACK has reached
 * RecoveryPoint. */
START_TEST(a_fresh_loss_starts_a_recovery_once_the_ack_reaches_recovery_point)
{
    algorithm = algorithms[_i / ACK_AT_COUNT];
    enum ack_at at = (enum ack_at)(_i % ACK_AT_COUNT);
    recovery_ended_by_a_timeout(8);
    uint32_t recovery_point = conn->recover;

    /* The timeout's retransmission fills the holes at 4 and 8. For the
     * ACK one byte short, the peer kept segment 11 without its last byte
     * (a receiver may trim a segment, RFC 9293 3.10.7.4), so its SACKs
     * stop there and its cumulative ACK then stops at RecoveryPoint - 1. */
    uint32_t held_end = at == ONE_BYTE_SHORT ? WINDOW_SEGS * MSS - 1 : WINDOW_SEGS * MSS;
    tcp_script_advance(sc, STEP);
    peer_ack(base + 4000, 2, (const struct tcp_script_block[]){{5000, 8000}, {9000, held_end}});
    expect_segment(4000);
    tcp_script_expect_none(sc);
    tcp_script_advance(sc, STEP);
    peer_ack(base + 8000, 1, (const struct tcp_script_block[]){{9000, held_end}});
    expect_segment(8000);
    tcp_script_expect_none(sc);             /* the new data waits for room in cwnd */
    ck_assert_uint_eq(conn->snd_max, recovery_point);

    uint32_t ack = base + held_end;
    if (at == PAST_IT) {
        tcp_script_advance(sc, STEP);
        peer_ack(recovery_point, 0, NULL);
        tcp_script_flush(sc);
        ack = recovery_point + MSS;
    }
    tcp_script_advance(sc, STEP);
    peer_ack(ack, 0, NULL);
    ck_assert(!conn->in_recovery);
    ck_assert_uint_eq(conn->snd_una, ack);
    static const int32_t from_recovery_point[ACK_AT_COUNT] = {-1, 0, (int32_t)MSS};
    ck_assert_int_eq((int32_t)(conn->snd_una - recovery_point), from_recovery_point[at]);
    tcp_script_flush(sc);                   /* new data (for one byte short, the byte 11999 leads it) */

    /* A fresh loss: the segment that starts at ack; the next three arrive
     * and each duplicate ACK SACKs one more of them. */
    uint32_t sacked_from = ack - base + MSS;
    ck_assert_msg(seq_leq(base + sacked_from + 3 * MSS, conn->snd_max), "%s RecoveryPoint: only %u new bytes sent",
                  ack_at_names[at], conn->snd_max - recovery_point);
    uint32_t cwnd = conn->cwnd, ssthresh = conn->ssthresh, high_data_end = conn->snd_max;
    uint64_t recoveries = sc->s->stats.tcp_sack_recoveries;
    uint64_t limited_before = sc->s->stats.tcp_limited_transmits;
    for (uint32_t k = 1; k <= 3; k++)
        peer_ack(ack, 1, (const struct tcp_script_block[]){{sacked_from, sacked_from + k * MSS}});
    ck_assert(tcp_sack_is_lost(conn, ack));
    ck_assert_uint_ge(conn->dupacks, 3);
    /* The first two DupAcks may each send one new segment (Limited
     * Transmit, RFC 6675 5 step (3), as cwnd - pipe allows): HighData
     * moves by them before the third, and RecoveryPoint with it. */
    uint32_t limited = (uint32_t)(sc->s->stats.tcp_limited_transmits - limited_before);
    ck_assert_uint_le(limited, 2);
    uint32_t limited_end = high_data_end + limited * MSS;

    if (at == ONE_BYTE_SHORT) {
        ck_assert_msg(!conn->in_recovery, "a recovery started with HighACK one byte below RecoveryPoint");
        for (uint32_t k = 0; k < limited; k++)
            expect_segment(high_data_end - base + k * MSS);     /* new data, not a fast retransmit */
        tcp_script_expect_none(sc);
        ck_assert_uint_eq(conn->cwnd, cwnd);
        ck_assert_uint_eq(conn->ssthresh, ssthresh);
        ck_assert_uint_eq(sc->s->stats.tcp_sack_recoveries, recoveries);
        return;
    }
    ck_assert_msg(conn->in_recovery, "no recovery with the ACK %s RecoveryPoint", ack_at_names[at]);
    ck_assert_uint_eq(sc->s->stats.tcp_sack_recoveries, recoveries + 1);
    ck_assert_uint_eq(conn->recover, limited_end);     /* a new RecoveryPoint (step 4.1) */
    if (strcmp(algorithm, "newreno") == 0) {
        /* Step 4.2, RFC 5681 eq. (4); the Limited Transmit segments are
         * not part of FlightSize (RFC 5681 3.2 step 2). */
        uint32_t half = (high_data_end - ack) / 2;
        ck_assert_uint_eq(conn->ssthresh, half > 2 * MSS ? half : 2 * MSS);
    }
    /* Step 4.3: the first segment presumed lost goes at once (after the
     * Limited Transmit segments of the first two DupAcks). */
    for (uint32_t k = 0; k < limited; k++)
        expect_segment(high_data_end - base + k * MSS);
    expect_segment(ack - base);
    tcp_script_flush(sc);

    /* (A): this recovery ends with the cumulative ACK that covers its
     * RecoveryPoint octet (limited_end - 1), not with one a byte short. */
    tcp_script_advance(sc, STEP);
    peer_ack(limited_end - 1, 0, NULL);
    ck_assert_msg(conn->in_recovery, "the recovery ended one byte short of its RecoveryPoint");
    peer_ack(limited_end, 0, NULL);
    ck_assert_msg(!conn->in_recovery, "an ACK covering RecoveryPoint did not end the recovery");
    ck_assert_uint_eq(sc->s->stats.tcp_sack_recoveries, recoveries + 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tcp_sack_rto");
    TCase *t = tcase_create("rfc6675_5_1");
    tcase_add_checked_fixture(t, NULL, teardown);
    tcase_add_loop_test(t, dupacks_below_recovery_point_after_a_timeout_start_no_new_recovery, 0, N_ALGORITHMS);
    tcase_add_loop_test(t, a_fresh_loss_starts_a_recovery_once_the_ack_reaches_recovery_point, 0,
                        N_ALGORITHMS * ACK_AT_COUNT);
    suite_add_tcase(s, t);
    return harness_run(s);
}
