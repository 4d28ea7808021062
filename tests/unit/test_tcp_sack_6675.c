/* The parts of RFC 6675 and RFC 2883 beyond the basic SACK recovery, with a
 * scripted peer on a virtual clock:
 *
 * - DupAcks (RFC 6675 2, 5): an ACK that moves the cumulative
 *   acknowledgment point AND SACKs octets not SACKed before is DupAck 1
 *   ("even if it ... moves the cumulative acknowledgment point"); one that
 *   moves it without new SACK information resets the count to 0.
 * - The rescue retransmission (RFC 6675 4, NextSeg rule 4): with the loss
 *   at the tail of a flight and nothing new to send, one segment ending at
 *   the highest unSACKed octet goes once HighACK passes RescueRxt, and
 *   only one per recovery.
 * - D-SACK as receiver (RFC 2883 4): the ACK for a duplicate reports it as
 *   the first SACK block, followed by the range holding it; no SACK option
 *   without SACK negotiated. As sender, a D-SACK block changes neither the
 *   scoreboard nor DupAcks nor pipe.
 *
 * The window: twelve segments of 1000 bytes at base, no timestamps (four
 * SACK blocks fit). */
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

#define PEER_ISS 0x13579bdfu
#define MSS 1000u
#define WINDOW_SEGS 12u
#define WARMUP (24u * MSS)
#define STEP TAPIR_MSEC(20)             /* the scripted path's round trip */

static struct tcp_script *sc;
static struct tcp_conn *conn;
static uint8_t pattern[64 * 1024];
static uint32_t base;                   /* first byte of the window under test */
static bool peer_sack = true;           /* the peer's SYN offers SACK-permitted */

static void tweak(struct tapir_config *cfg)
{
    snprintf(cfg->tcp_congestion, sizeof cfg->tcp_congestion, "newreno");
    cfg->tcp_sack = true;
    cfg->tcp_timestamps = false;
}

/* A segment from the peer: payload [off, off + len) of the peer's stream
 * (offsets from PEER_ISS + 1) and n SACK blocks (offsets from base). */
static void peer_segment(uint32_t ack, uint8_t n, const struct tcp_script_block *b, uint32_t off, uint32_t len)
{
    uint8_t o[36];
    size_t olen = tcp_script_sack_option(o, base, n, b);
    tcp_script_inject_raw(sc, sc->peer_port, sc->local_port, PEER_ISS + 1 + off, ack, TCP_ACK, sc->peer_wnd, o,
                          olen, len ? pattern + off : NULL, len);
}

static void peer_ack(uint32_t ack, uint8_t n, const struct tcp_script_block *b)
{
    peer_segment(ack, n, b, sc->peer_nxt - PEER_ISS - 1, 0);
}

/* Passive open; the peer's SYN offers MSS 1000 and (if peer_sack)
 * SACK-permitted. */
static void open_connection(void)
{
    for (size_t i = 0; i < sizeof pattern; i++)
        pattern[i] = (uint8_t)(i * 13 + (i >> 8));
    sc = tcp_script_new(tweak);
    sc->peer_wnd = WINDOW_SEGS * MSS;
    conn = tcp_script_passive_open_sack(sc, 80, PEER_ISS, MSS, peer_sack);
    base = sc->our_nxt;
    ck_assert(conn->sack_ok == peer_sack && !conn->ts_ok);
}

/* The next segment must be [base + off, base + off + MSS) of the window. */
static void expect_segment(uint32_t off)
{
    tcp_script_expect_data(sc, base + off, pattern + WARMUP + off, MSS);
}

/* Warm up, then send one full window of twelve segments at base. */
static void send_window(void)
{
    open_connection();
    tcp_script_transfer_acked(sc, conn, pattern, WARMUP, STEP);
    struct tapir_tcp_info info;
    tcp_get_info(conn, &info);
    ck_assert_uint_ge(info.cwnd, WINDOW_SEGS * MSS);
    base = sc->our_nxt;
    ck_assert_int_eq(tcp_send(conn, pattern + WARMUP, WINDOW_SEGS * MSS), (long)(WINDOW_SEGS * MSS));
    for (uint32_t k = 0; k < WINDOW_SEGS; k++)
        expect_segment(k * MSS);
    tcp_script_expect_none(sc);
    tcp_script_advance(sc, STEP / 2);
}

static void teardown(void)
{
    tcp_script_finish(&sc, &conn);
    peer_sack = true;
}

/* ---- DupAcks -------------------------------------------------------------- */

/* Segment 1 is lost. The first ACK acknowledges segment 0 and SACKs part
 * of segment 2: it moves HighACK and SACKs new octets, so it is DupAck 1.
 * Two more ACKs SACK a little more each; the SACKed bytes stay below
 * (DupThresh - 1) * SMSS in one range, so IsLost(HighACK + 1) is false and
 * only the count can start the recovery: on the third ACK, with the fast
 * retransmission of HighACK + 1 and no timeout. (The SACK blocks cut
 * segments, as a receiver behind a resegmenting middlebox may report.) */
START_TEST(a_cumulative_ack_with_new_sack_information_is_dupack_one)
{
    send_window();
    peer_ack(base + 1000, 1, (const struct tcp_script_block[]){{2000, 2600}});
    ck_assert_uint_eq(conn->snd_una, base + 1000);
    ck_assert_msg(conn->dupacks == 1, "an ACK that advanced snd_una and SACKed new data left DupAcks at %u",
                  conn->dupacks);
    tcp_script_expect_none(sc);
    peer_ack(base + 1000, 1, (const struct tcp_script_block[]){{2000, 3200}});
    ck_assert_uint_eq(conn->dupacks, 2);
    ck_assert(!conn->in_recovery);
    tcp_script_expect_none(sc);
    peer_ack(base + 1000, 1, (const struct tcp_script_block[]){{2000, 3800}});
    ck_assert(!tcp_sack_is_lost(conn, base + 1000));        /* only DupAcks decide */
    ck_assert_msg(conn->in_recovery, "no recovery on the third DupAck");
    ck_assert_uint_eq(sc->s->stats.tcp_sack_recoveries, 1);
    expect_segment(1000);                                   /* RFC 6675 5 step 4.3 */
    ck_assert_uint_eq(sc->s->stats.tcp_rto_expired, 0);

    /* The retransmission arrives: everything is acknowledged, no timeout. */
    tcp_script_advance(sc, STEP);
    tcp_script_flush(sc);
    peer_ack(base + WINDOW_SEGS * MSS, 0, NULL);
    ck_assert(!conn->in_recovery);
    ck_assert_uint_eq(conn->snd_una, conn->snd_max);
    ck_assert_uint_eq(sc->s->stats.tcp_rto_expired, 0);
}
END_TEST

/* Two DupAcks, then an ACK that advances snd_una but brings no new SACK
 * information: a cumulative ACK resets DupAcks (RFC 6675 5) and it is no
 * DupAck (2). The next SACK then counts from 1, so no recovery yet. */
START_TEST(a_cumulative_ack_without_new_sack_information_resets_dupacks)
{
    send_window();
    peer_ack(base, 1, (const struct tcp_script_block[]){{1000, 1500}});
    peer_ack(base, 1, (const struct tcp_script_block[]){{1000, 2000}});
    ck_assert_uint_eq(conn->dupacks, 2);
    peer_ack(base + 500, 1, (const struct tcp_script_block[]){{1000, 2000}});
    ck_assert_uint_eq(conn->snd_una, base + 500);
    ck_assert_msg(conn->dupacks == 0, "a cumulative ACK without new SACK information left DupAcks at %u",
                  conn->dupacks);
    peer_ack(base + 500, 1, (const struct tcp_script_block[]){{1000, 2500}});
    ck_assert_uint_eq(conn->dupacks, 1);
    ck_assert(!conn->in_recovery);
    tcp_script_expect_none(sc);
}
END_TEST

/* ---- rescue retransmission ------------------------------------------------ */

/* Segments 3 and 11 (the last of the flight) are lost; the application has
 * nothing more. The SACKs of 4..10 start a recovery that resends 3; the
 * ACK for it moves HighACK to 11, past RescueRxt (set to the end of the
 * first retransmission, step 4.3). No SACK can ever show 11 lost (nothing
 * is above it), the pipe has room and there is no new data: rule 4 resends
 * it at once. Before that ACK, no rescue ("premature", step 4.3). */
static void recovery_with_a_lost_tail(void)
{
    send_window();
    peer_ack(base + 3000, 0, NULL);
    for (uint32_t k = 1; k <= 3; k++)
        peer_ack(base + 3000, 1, (const struct tcp_script_block[]){{4000, 4000 + k * MSS}});
    ck_assert(conn->in_recovery);
    expect_segment(3000);
    tcp_script_expect_none(sc);
    for (uint32_t k = 4; k <= 7; k++)
        peer_ack(base + 3000, 1, (const struct tcp_script_block[]){{4000, 4000 + k * MSS}});
    ck_assert_uint_eq(conn->snd_max, base + WINDOW_SEGS * MSS);
    tcp_script_expect_none(sc);         /* segment 11 is not resent before HighACK passes RescueRxt */

    tcp_script_advance(sc, STEP);
    peer_ack(base + 11000, 0, NULL);
    ck_assert(conn->in_recovery);       /* RecoveryPoint is the end of 11 */
    expect_segment(11000);
    tcp_script_expect_none(sc);
    ck_assert_uint_eq(sc->s->stats.tcp_retransmits, 2);
}

START_TEST(a_lost_tail_is_rescued_once_and_the_transfer_ends_without_a_timeout)
{
    recovery_with_a_lost_tail();
    /* More ACKs in the same recovery bring no second rescue. */
    peer_ack(base + 11000, 0, NULL);
    tcp_script_expect_none(sc);
    tcp_script_advance(sc, STEP);
    peer_ack(base + WINDOW_SEGS * MSS, 0, NULL);
    ck_assert(!conn->in_recovery);
    ck_assert_uint_eq(conn->snd_una, conn->snd_max);
    ck_assert_uint_eq(sc->s->stats.tcp_rto_expired, 0);
    ck_assert_uint_eq(sc->s->stats.tcp_retransmits, 2);
}
END_TEST

/* The rescue itself is lost. Whatever ACKs still arrive, the recovery
 * sends no second rescue; the retransmission timer repairs the tail. */
START_TEST(a_lost_rescue_is_not_repeated_in_the_same_recovery)
{
    recovery_with_a_lost_tail();
    for (int i = 0; i < 3; i++)
        peer_ack(base + 11000, 0, NULL);
    tcp_script_expect_none(sc);
    ck_assert(conn->in_recovery);
    tcp_script_advance(sc, conn->rto_at - sc->now);
    ck_assert_uint_eq(sc->s->stats.tcp_rto_expired, 1);
    expect_segment(11000);              /* the timeout's go-back-N */
    tcp_script_expect_none(sc);
    ck_assert_uint_eq(sc->s->stats.tcp_retransmits, 3);
    peer_ack(base + WINDOW_SEGS * MSS, 0, NULL);
    ck_assert_uint_eq(conn->snd_una, conn->snd_max);
}
END_TEST

/* ---- D-SACK, receiver ----------------------------------------------------- */

static void expect_ack_blocks(uint32_t ack, uint8_t n, const struct tcp_script_block *b)
{
    struct tcp_script_out o;
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, PEER_ISS + 1 + ack, &o);
    ck_assert_uint_eq(o.seg.len, 0);
    ck_assert_msg(o.seg.nsack == n, "expected %u SACK blocks, got %u", n, o.seg.nsack);
    for (uint8_t i = 0; i < n; i++) {
        ck_assert_uint_eq(o.seg.sack[i].start, PEER_ISS + 1 + b[i].start);
        ck_assert_uint_eq(o.seg.sack[i].end, PEER_ISS + 1 + b[i].end);
    }
}

/* Data from the peer at offset off of its stream (the ACK field is ours). */
static void peer_data(uint32_t off, uint32_t len)
{
    peer_segment(sc->our_nxt, 0, NULL, off, len);
}

/* RFC 2883 4.1.1: a duplicate of acknowledged data; its ACK carries it as
 * the only SACK block, and the next ACK no D-SACK at all. A duplicate that
 * only starts below rcv_nxt reports its duplicate part (4.2). */
START_TEST(a_duplicate_below_rcv_nxt_is_reported_as_the_first_sack_block)
{
    open_connection();
    peer_data(0, 1000);
    peer_data(1000, 1000);
    expect_ack_blocks(2000, 0, NULL);       /* the second full segment: ACK now */
    peer_data(0, 1000);
    expect_ack_blocks(2000, 1, (const struct tcp_script_block[]){{0, 1000}});
    tcp_script_expect_none(sc);
    peer_data(1500, 1000);                  /* [1500, 2000) again, then new data */
    expect_ack_blocks(2500, 1, (const struct tcp_script_block[]){{1500, 2000}});
    peer_data(2500, 1000);
    peer_data(3500, 1000);
    expect_ack_blocks(4500, 0, NULL);       /* only in the ACK for the duplicate */
}
END_TEST

/* RFC 2883 4.1.3: a duplicate of data held out of order: the first block is
 * the duplicate, the second the range that holds it, then the others. */
START_TEST(a_duplicate_inside_an_out_of_order_range_is_first_then_its_range)
{
    open_connection();
    peer_data(2000, 1000);
    expect_ack_blocks(0, 1, (const struct tcp_script_block[]){{2000, 3000}});
    peer_data(3000, 1000);
    expect_ack_blocks(0, 1, (const struct tcp_script_block[]){{2000, 4000}});
    peer_data(6000, 1000);
    expect_ack_blocks(0, 2, (const struct tcp_script_block[]){{6000, 7000}, {2000, 4000}});
    peer_data(3000, 1000);
    expect_ack_blocks(0, 3, (const struct tcp_script_block[]){{3000, 4000}, {2000, 4000}, {6000, 7000}});
    peer_data(0, 1000);                     /* in order (delayed ACK), a hole left at 1000 */
    tcp_script_advance(sc, TAPIR_MSEC(500));
    expect_ack_blocks(1000, 2, (const struct tcp_script_block[]){{2000, 4000}, {6000, 7000}});
}
END_TEST

/* A TSO frame's header is copied onto each of its wire segments, so a
 * D-SACK block in it would be reported once per segment, not once (RFC 2883
 * 4): the segment that carries it goes alone, the rest may be TSO. */
struct tso_capture {
    unsigned frames, gso_frames, dsack_frames, dsack_gso_frames;
};
static int capture_tso(void *ctx, const uint8_t *f, size_t len, const struct tapir_frame_meta *m)
{
    struct tso_capture *cap = ctx;
    cap->frames++;
    if (m->gso_size)
        cap->gso_frames++;
    ck_assert_uint_ge(len, 20);
    size_t ihl = (size_t)(f[0] & 0x0f) * 4;
    struct tcp_seg g;
    enum tapir_drop_reason why;
    ck_assert_int_eq(tcp_parse_csum(f + ihl, len - ihl, 0, 0, false, &g, &why), 0);
    /* A D-SACK block lies below the ACK (RFC 2883 4.1.1). */
    if (g.nsack > 0 && seq_lt(g.sack[0].start, g.ack)) {
        cap->dsack_frames++;
        if (m->gso_size)
            cap->dsack_gso_frames++;
    }
    return 0;
}

START_TEST(a_dsack_block_never_rides_in_a_tso_frame)
{
    open_connection();
    peer_data(0, 1000);
    peer_data(1000, 1000);
    expect_ack_blocks(2000, 0, NULL);
    struct tso_capture cap = {0};
    ck_assert_int_eq(tapir_stack_set_output_meta(sc->s, capture_tso, &cap,
                                                 TAPIR_OFFLOAD_CSUM | TAPIR_OFFLOAD_TSO4), 0);
    /* Data waits behind a closed window. */
    sc->peer_nxt = PEER_ISS + 1 + 2000;
    sc->peer_wnd = 0;
    peer_ack(sc->our_nxt, 0, NULL);
    ck_assert_int_eq(tcp_send(conn, pattern, 6 * MSS), (long)(6 * MSS));
    ck_assert_uint_eq(cap.frames, 0);
    /* In one batch: a duplicate (a D-SACK is owed), then the window opens;
     * the answer at the end of the batch is data carrying the ACK. */
    tapir_stack_batch_begin(sc->s);
    peer_data(0, 1000);
    sc->peer_wnd = WINDOW_SEGS * MSS;
    peer_ack(sc->our_nxt, 0, NULL);
    tapir_stack_batch_end(sc->s);
    ck_assert_uint_eq(cap.dsack_frames, 1);             /* reported once */
    ck_assert_uint_eq(cap.dsack_gso_frames, 0);         /* and not in a TSO frame */
    ck_assert_uint_ge(cap.gso_frames, 1);               /* the rest still went as TSO */
}
END_TEST

START_TEST(no_sack_option_for_a_duplicate_without_sack_negotiated)
{
    peer_sack = false;
    open_connection();
    peer_data(0, 1000);
    peer_data(1000, 1000);
    expect_ack_blocks(2000, 0, NULL);
    peer_data(0, 1000);
    struct tcp_script_out o;
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, PEER_ISS + 1 + 2000, &o);
    ck_assert_uint_eq(o.seg.nsack, 0);
    ck_assert_uint_eq(o.seg.hdr_len, 20);   /* no option at all */
}
END_TEST

/* ---- D-SACK, sender ------------------------------------------------------- */

static void expect_scoreboard(uint8_t n, const struct tcp_script_block *b)
{
    ck_assert_uint_eq(conn->sb_n, n);
    for (uint8_t i = 0; i < n; i++) {
        ck_assert_uint_eq(conn->sb[i].start, base + b[i].start);
        ck_assert_uint_eq(conn->sb[i].end, base + b[i].end);
    }
}

/* Segment 1 is lost, 2 SACKed. D-SACK blocks (RFC 2883 4.1) for segment 0
 * (below the cumulative ACK) and for part of segment 2 (inside the second
 * block, or inside the scoreboard alone) change nothing: scoreboard,
 * DupAcks and pipe stay, nothing is sent. New SACK information still
 * counts afterwards. */
START_TEST(an_incoming_dsack_block_changes_neither_scoreboard_nor_dupacks_nor_pipe)
{
    send_window();
    peer_ack(base + 1000, 1, (const struct tcp_script_block[]){{2000, 3000}});
    const struct tcp_script_block sb[] = {{2000, 3000}};
    expect_scoreboard(1, sb);
    uint32_t dupacks = conn->dupacks, pipe = tcp_sack_pipe(conn);
    ck_assert_uint_ge(dupacks, 1);

    peer_ack(base + 1000, 2, (const struct tcp_script_block[]){{0, 1000}, {2000, 3000}});
    peer_ack(base + 1000, 2, (const struct tcp_script_block[]){{2200, 2800}, {2000, 3000}});
    peer_ack(base + 1000, 1, (const struct tcp_script_block[]){{2000, 2500}});
    peer_ack(base + 1000, 3, (const struct tcp_script_block[]){{500, 1000}, {2000, 3000}, {2000, 3000}});
    expect_scoreboard(1, sb);
    ck_assert_uint_eq(conn->dupacks, dupacks);
    ck_assert_uint_eq(tcp_sack_pipe(conn), pipe);
    ck_assert(!conn->in_recovery);
    tcp_script_expect_none(sc);

    peer_ack(base + 1000, 2, (const struct tcp_script_block[]){{2000, 2500}, {2000, 4000}});
    expect_scoreboard(1, (const struct tcp_script_block[]){{2000, 4000}});
    ck_assert_uint_eq(conn->dupacks, dupacks + 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tcp_sack_6675");
    TCase *t = tcase_create("dupacks");
    tcase_add_checked_fixture(t, NULL, teardown);
    tcase_add_test(t, a_cumulative_ack_with_new_sack_information_is_dupack_one);
    tcase_add_test(t, a_cumulative_ack_without_new_sack_information_resets_dupacks);
    suite_add_tcase(s, t);
    t = tcase_create("rescue");
    tcase_add_checked_fixture(t, NULL, teardown);
    tcase_add_test(t, a_lost_tail_is_rescued_once_and_the_transfer_ends_without_a_timeout);
    tcase_add_test(t, a_lost_rescue_is_not_repeated_in_the_same_recovery);
    suite_add_tcase(s, t);
    t = tcase_create("dsack");
    tcase_add_checked_fixture(t, NULL, teardown);
    tcase_add_test(t, a_duplicate_below_rcv_nxt_is_reported_as_the_first_sack_block);
    tcase_add_test(t, a_duplicate_inside_an_out_of_order_range_is_first_then_its_range);
    tcase_add_test(t, no_sack_option_for_a_duplicate_without_sack_negotiated);
    tcase_add_test(t, a_dsack_block_never_rides_in_a_tso_frame);
    tcase_add_test(t, an_incoming_dsack_block_changes_neither_scoreboard_nor_dupacks_nor_pipe);
    suite_add_tcase(s, t);
    return harness_run(s);
}
