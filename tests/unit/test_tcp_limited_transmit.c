/* Limited Transmit (RFC 3042 2, RFC 5681 3.2, RFC 6675 5 step (3)) with a
 * scripted peer on a virtual clock.
 *
 * A fresh connection with MSS 1000 has an initial window of four segments
 * (RFC 5681 3.1: min(4*SMSS, max(2*SMSS, 4380))). The application queues
 * more than that; the first segment of the flight is lost and the others
 * bring duplicate ACKs. On the first and the second, one new segment each
 * goes beyond cwnd (cwnd itself unchanged); the third starts fast
 * retransmit with ssthresh computed from the flight as it was before those
 * two segments (RFC 5681 3.2 step 2). Nothing goes when there is no unsent
 * data, when the peer's window does not allow it, when only a sub-MSS tail
 * is left (Nagle, RFC 896), in recovery, or with SACK on a duplicate ACK
 * that brings no new SACK information (RFC 3042 2, the note); with SACK
 * the allowance is also bounded by cwnd - pipe (RFC 6675 (3.3)).
 *
 * Every test runs with and without SACK and with NewReno and CUBIC. */
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

#define PEER_ISS 0x7654321fu
#define MSS 1000u
#define IW_SEGS 4u                      /* the initial window for MSS 1000 */
#define STEP TAPIR_MSEC(20)             /* the scripted path's round trip */

/* Loop index _i: bit 0 SACK, bit 1 the algorithm. */
#define N_VARIANTS 4
static const char *const algorithms[] = {"newreno", "cubic"};

static struct tcp_script *sc;
static struct tcp_conn *conn;
static uint8_t pattern[32 * 1024];
static const char *algorithm;
static bool sack;
static uint32_t base;                   /* the first byte of the application's data */

static void tweak(struct tapir_config *cfg)
{
    snprintf(cfg->tcp_congestion, sizeof cfg->tcp_congestion, "%s", algorithm);
    cfg->tcp_sack = true;
    cfg->tcp_timestamps = false;
}

/* Passive open of variant i; the peer offers wnd_segs segments of window. */
static void open_connection(int i, uint32_t wnd_segs)
{
    sack = (i & 1) != 0;
    algorithm = algorithms[(i >> 1) & 1];
    for (size_t k = 0; k < sizeof pattern; k++)
        pattern[k] = (uint8_t)(k * 11 + (k >> 7));
    sc = tcp_script_new(tweak);
    sc->peer_wnd = (uint16_t)(wnd_segs * MSS);
    conn = tcp_script_passive_open_sack(sc, 80, PEER_ISS, MSS, sack);
    ck_assert(conn->sack_ok == sack && !conn->ts_ok);
    ck_assert_str_eq(conn->cc->name, algorithm);
    ck_assert_uint_eq(conn->snd_mss, MSS);
    ck_assert_uint_eq(conn->cwnd, IW_SEGS * MSS);
    base = sc->our_nxt;
}

static void teardown(void)
{
    tcp_script_finish(&sc, &conn);
}

/* The next segment must be [base + off, base + off + len) of the data. */
static void expect_data(uint32_t off, uint32_t len)
{
    tcp_script_expect_data(sc, base + off, pattern + off, len);
}

/* Queue bytes and expect the first IW_SEGS segments: cwnd is full. */
static void send_initial_window(uint32_t bytes)
{
    ck_assert_int_eq(tcp_send(conn, pattern, bytes), (long)bytes);
    for (uint32_t k = 0; k < IW_SEGS; k++)
        expect_data(k * MSS, MSS);
    tcp_script_expect_none(sc);
    tcp_script_advance(sc, STEP / 2);
}

/* A duplicate ACK for base (segment 0 is lost); with SACK it reports
 * [MSS, sacked_end) of the data as held. */
static void dupack(uint32_t sacked_end)
{
    uint8_t o[36];
    const struct tcp_script_block b[1] = {{MSS, sacked_end}};
    size_t olen = sack ? tcp_script_sack_option(o, base, 1, b) : 0;
    tcp_script_inject_raw(sc, sc->peer_port, sc->local_port, sc->peer_nxt, base, TCP_ACK, sc->peer_wnd,
                          olen ? o : NULL, olen, NULL, 0);
}

static uint64_t limited_transmits(void)
{
    return sc->s->stats.tcp_limited_transmits;
}

/* ssthresh after a fast retransmit with a flight of flight bytes: RFC 5681
 * eq. (4) for NewReno, beta_cubic = 0.7 for CUBIC (RFC 9438 4.6). */
static uint32_t ssthresh_for(uint32_t flight)
{
    uint32_t ss = strcmp(algorithm, "cubic") == 0 ? flight * 7 / 10 : flight / 2;
    return ss > 2 * MSS ? ss : 2 * MSS;
}

/* The third duplicate ACK: fast retransmit of segment 0, and nothing else
 * (cwnd after the reduction has no room beside the six segments out). */
static void third_dupack_retransmits(uint32_t flight_before_limited_transmit)
{
    dupack(4 * MSS);
    ck_assert_msg(conn->in_recovery, "no recovery on the third duplicate ACK");
    ck_assert_uint_eq(sc->s->stats.tcp_fast_retransmits, 1);
    expect_data(0, MSS);
    tcp_script_expect_none(sc);
    uint32_t ss = ssthresh_for(flight_before_limited_transmit);
    ck_assert_msg(conn->ssthresh == ss, "ssthresh %u, want %u: the Limited Transmit segments were counted",
                  conn->ssthresh, ss);
    /* RFC 6582 3.2 step 2 (ssthresh + 3*SMSS); RFC 6675 5 step 4.2. */
    ck_assert_uint_eq(conn->cwnd, sack ? ss : ss + 3 * MSS);
}

/* ---- the algorithm --------------------------------------------------------- */

START_TEST(first_and_second_dupack_each_send_one_new_segment_third_retransmits)
{
    open_connection(_i, 16);
    send_initial_window(10 * MSS);
    uint32_t cwnd = conn->cwnd;

    dupack(2 * MSS);
    expect_data(4 * MSS, MSS);          /* one previously unsent segment */
    tcp_script_expect_none(sc);
    ck_assert_uint_eq(limited_transmits(), 1);
    ck_assert_uint_eq(conn->cwnd, cwnd);    /* RFC 3042 2: cwnd MUST NOT change */

    dupack(3 * MSS);
    expect_data(5 * MSS, MSS);
    tcp_script_expect_none(sc);
    ck_assert_uint_eq(limited_transmits(), 2);
    ck_assert_uint_eq(conn->cwnd, cwnd);
    ck_assert_uint_eq(conn->snd_max - conn->snd_una, cwnd + 2 * MSS);     /* cwnd plus 2 segments */
    ck_assert(!conn->in_recovery);

    third_dupack_retransmits(IW_SEGS * MSS);
    ck_assert_uint_eq(limited_transmits(), 2);

    /* The retransmission arrives: everything sent is acknowledged, the
     * recovery ends and no timer expired. */
    tcp_script_advance(sc, STEP);
    tcp_script_send(sc, TCP_ACK, sc->peer_nxt, base + 6 * MSS, 0, NULL, 0);
    ck_assert(!conn->in_recovery);
    ck_assert_uint_eq(conn->snd_una, base + 6 * MSS);
    ck_assert_uint_eq(sc->s->stats.tcp_rto_expired, 0);
}
END_TEST

/* Duplicate ACKs during the recovery follow the recovery's rules (RFC 6582
 * 3.2 step 4 inflation without SACK, RFC 6675 step (C) with it), never
 * Limited Transmit's. */
START_TEST(dupacks_in_recovery_are_not_limited_transmit)
{
    open_connection(_i, 16);
    send_initial_window(16 * MSS);
    dupack(2 * MSS);
    dupack(3 * MSS);
    tcp_script_flush(sc);
    dupack(4 * MSS);
    ck_assert(conn->in_recovery);
    tcp_script_flush(sc);
    ck_assert_uint_eq(limited_transmits(), 2);
    for (uint32_t k = 5; k <= 6; k++) {
        dupack(k * MSS);                /* the Limited Transmit segments arrive */
        ck_assert(conn->in_recovery);
        ck_assert_uint_eq(tcp_cc_limited_transmit_room(conn), 0);
    }
    tcp_script_flush(sc);
    ck_assert_uint_eq(limited_transmits(), 2);
    ck_assert_uint_eq(sc->s->stats.tcp_fast_retransmits, 1);
}
END_TEST

/* ---- when nothing goes ----------------------------------------------------- */

/* RFC 3042 2: "When a TCP sender has previously unsent data queued". */
START_TEST(no_new_segment_without_unsent_data)
{
    open_connection(_i, 16);
    send_initial_window(IW_SEGS * MSS);
    dupack(2 * MSS);
    tcp_script_expect_none(sc);
    dupack(3 * MSS);
    tcp_script_expect_none(sc);
    ck_assert_uint_eq(limited_transmits(), 0);
    third_dupack_retransmits(IW_SEGS * MSS);
}
END_TEST

/* RFC 3042 2: "The receiver's advertised window allows the transmission of
 * the segment." A window of five segments lets one more go, not two. */
START_TEST(no_new_segment_beyond_the_peers_window)
{
    open_connection(_i, IW_SEGS + 1);
    send_initial_window(10 * MSS);
    dupack(2 * MSS);
    expect_data(4 * MSS, MSS);
    tcp_script_expect_none(sc);
    dupack(3 * MSS);
    tcp_script_expect_none(sc);         /* the window is full */
    ck_assert_uint_eq(limited_transmits(), 1);
    dupack(4 * MSS);
    ck_assert(conn->in_recovery);
    expect_data(0, MSS);
    ck_assert_uint_eq(conn->ssthresh, ssthresh_for(IW_SEGS * MSS));
}
END_TEST

/* A window of exactly the flight: no new segment at all. */
START_TEST(no_new_segment_when_the_peers_window_is_full)
{
    open_connection(_i, IW_SEGS);
    send_initial_window(10 * MSS);
    dupack(2 * MSS);
    dupack(3 * MSS);
    tcp_script_expect_none(sc);
    ck_assert_uint_eq(limited_transmits(), 0);
    third_dupack_retransmits(IW_SEGS * MSS);
}
END_TEST

/* Limited Transmit does not override Nagle (RFC 896; RFC 3042 says
 * nothing of segment sizes): with data in flight, a tail shorter than a
 * segment waits for the ACK. */
START_TEST(a_short_tail_waits_for_nagle)
{
    open_connection(_i, 16);
    send_initial_window(IW_SEGS * MSS + 500);
    dupack(2 * MSS);
    dupack(3 * MSS);
    tcp_script_expect_none(sc);
    ck_assert_uint_eq(limited_transmits(), 0);
}
END_TEST

/* With TCP_NODELAY the same tail goes on the first duplicate ACK. */
START_TEST(a_short_tail_goes_with_nodelay)
{
    open_connection(_i, 16);
    conn->nodelay = true;
    send_initial_window(IW_SEGS * MSS + 500);
    dupack(2 * MSS);
    expect_data(IW_SEGS * MSS, 500);
    tcp_script_expect_none(sc);
    ck_assert_uint_eq(limited_transmits(), 1);
}
END_TEST

/* ---- SACK ------------------------------------------------------------------- */

/* RFC 3042 2, the note: with SACK, "the data sender MUST NOT send new
 * segments in response to duplicate ACKs that contain no new SACK
 * information". The same ACK twice counts once (RFC 6675 2). */
START_TEST(a_sack_dupack_without_new_information_sends_nothing)
{
    open_connection(1 | (_i << 1), 16);
    send_initial_window(10 * MSS);
    dupack(2 * MSS);
    expect_data(4 * MSS, MSS);
    dupack(2 * MSS);
    tcp_script_expect_none(sc);
    ck_assert_uint_eq(conn->dupacks, 1);
    ck_assert_uint_eq(limited_transmits(), 1);
    dupack(3 * MSS);
    expect_data(5 * MSS, MSS);
    tcp_script_expect_none(sc);
    ck_assert_uint_eq(limited_transmits(), 2);
}
END_TEST

/* RFC 6675 5 (3.3): "If (cwnd - pipe) >= 1 SMSS ... transmit up to 1 SMSS".
 * A duplicate ACK that SACKs only half a segment leaves pipe at cwnd - 500:
 * no room, although it is the first DupAck. When the next SACKs a segment
 * more, cwnd - pipe is 1500 and one segment goes. */
START_TEST(with_sack_the_allowance_is_governed_by_pipe)
{
    open_connection(1 | (_i << 1), 16);
    send_initial_window(10 * MSS);
    dupack(MSS + 500);
    ck_assert_uint_eq(conn->dupacks, 1);
    ck_assert_uint_eq(tcp_sack_pipe(conn), IW_SEGS * MSS - 500);
    tcp_script_expect_none(sc);
    ck_assert_uint_eq(limited_transmits(), 0);
    dupack(2 * MSS + 500);
    ck_assert_uint_eq(conn->dupacks, 2);
    expect_data(4 * MSS, MSS);
    tcp_script_expect_none(sc);
    ck_assert_uint_eq(limited_transmits(), 1);
    ck_assert_uint_eq(tcp_sack_pipe(conn), IW_SEGS * MSS - 500);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tcp_limited_transmit");
    TCase *t = tcase_create("rfc3042");
    tcase_add_checked_fixture(t, NULL, teardown);
    tcase_add_loop_test(t, first_and_second_dupack_each_send_one_new_segment_third_retransmits, 0, N_VARIANTS);
    tcase_add_loop_test(t, dupacks_in_recovery_are_not_limited_transmit, 0, N_VARIANTS);
    tcase_add_loop_test(t, no_new_segment_without_unsent_data, 0, N_VARIANTS);
    tcase_add_loop_test(t, no_new_segment_beyond_the_peers_window, 0, N_VARIANTS);
    tcase_add_loop_test(t, no_new_segment_when_the_peers_window_is_full, 0, N_VARIANTS);
    tcase_add_loop_test(t, a_short_tail_waits_for_nagle, 0, N_VARIANTS);
    tcase_add_loop_test(t, a_short_tail_goes_with_nodelay, 0, N_VARIANTS);
    suite_add_tcase(s, t);
    TCase *k = tcase_create("rfc6675_step3");
    tcase_add_checked_fixture(k, NULL, teardown);
    tcase_add_loop_test(k, a_sack_dupack_without_new_information_sends_nothing, 0, 2);
    tcase_add_loop_test(k, with_sack_the_allowance_is_governed_by_pipe, 0, 2);
    suite_add_tcase(s, k);
    return harness_run(s);
}
