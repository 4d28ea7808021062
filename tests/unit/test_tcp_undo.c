/* Spurious retransmissions and the undo of the congestion response
 * (tcp_undo.c: RFC 3522 Eifel detection, RFC 3708 D-SACK detection, RFC
 * 4015 response, RFC 9438 4.9), with a scripted peer on a virtual clock.
 *
 * - Eifel and fast retransmit: four segments (the initial window) leave,
 *   the first is delayed, the three others bring duplicate ACKs (Limited
 *   Transmit sends two more segments on the first two), the third starts
 *   fast retransmit 5 ms later. The ACK that covers the retransmitted
 *   segment echoes the original's TSval: cwnd and ssthresh are back to
 *   their values before the recovery; echoing the retransmission's TSval
 *   (a genuine loss), nothing is undone.
 * - Eifel and a timeout: the first ACK after the RTO echoes the original's
 *   TSval: cwnd and ssthresh restored, the RTT estimate keeps the long
 *   sample (RFC 4015 3.2), and the next segment is new data, not the rest
 *   of the window again (go-back-N).
 * - D-SACK without timestamps: two holes of a window of ten are filled by
 *   retransmissions whose originals arrive after all; once the recovery is
 *   over, a D-SACK for each retransmission undoes it (with CUBIC, W_max, K
 *   and the epoch are the old ones and the next growth follows that
 *   curve); with one retransmission never D-SACKed, nothing is undone.
 *
 * Every test also runs with cfg.tcp_undo = false, where nothing is undone
 * and the same segments show the reduction kept (and go-back-N). */
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

#define PEER_ISS 0x2468ace1u
#define SYN_MSS 1000u
#define STEP TAPIR_MSEC(20)             /* the scripted path's round trip */
#define DELAY TAPIR_MSEC(5)             /* a delay that moves the clock's ms tick */

static struct tcp_script *sc;
static struct tcp_conn *conn;
static uint8_t pattern[64 * 1024];
static bool sack, timestamps, undo_on;
static const char *algorithm;
static uint32_t base, mss;
static uint32_t peer_tsval;

static void tweak(struct tapir_config *cfg)
{
    snprintf(cfg->tcp_congestion, sizeof cfg->tcp_congestion, "%s", algorithm);
    cfg->tcp_sack = true;
    cfg->tcp_timestamps = true;
    cfg->tcp_undo = undo_on;
}

/* Loop index i: bit 0 the peer offers SACK, bit 1 CUBIC (else NewReno),
 * bit 2 cfg.tcp_undo off. */
#define N_VARIANTS 8
static void set_variant(int i, bool ts)
{
    sack = (i & 1) != 0;
    algorithm = (i & 2) ? "cubic" : "newreno";
    undo_on = (i & 4) == 0;
    timestamps = ts;
}

/* A pure ACK from the peer: TSopt (TSecr tsecr) when timestamps are on,
 * and n SACK blocks at offsets from base. */
static void peer_ack(uint32_t ack, uint32_t tsecr, uint8_t n, const struct tcp_script_block *b)
{
    uint8_t o[40];
    size_t len = 0;
    if (timestamps) {
        o[len++] = TCP_OPT_NOP;
        o[len++] = TCP_OPT_NOP;
        o[len++] = TCP_OPT_TS;
        o[len++] = 10;
        put_be32(o + len, peer_tsval++);
        put_be32(o + len + 4, tsecr);
        len += 8;
    }
    len += tcp_script_sack_option(o + len, base, n, b);
    tcp_script_inject_raw(sc, sc->peer_port, sc->local_port, sc->peer_nxt, ack, TCP_ACK, sc->peer_wnd,
                          len ? o : NULL, len, NULL, 0);
}

/* Passive open: the peer's SYN offers MSS 1000, SACK-permitted (if sack)
 * and timestamps (if timestamps); no window scaling. */
static void open_connection(void)
{
    for (size_t k = 0; k < sizeof pattern; k++)
        pattern[k] = (uint8_t)(k * 13 + (k >> 8));
    peer_tsval = 70000;
    sc = tcp_script_new(tweak);
    sc->peer_wnd = 60000;
    struct tcp_conn *l = tcp_script_listen(sc, 80, 4);
    sc->local_port = 80;
    uint8_t o[20];
    size_t n = 0;
    o[n++] = TCP_OPT_MSS;
    o[n++] = 4;
    put_be16(o + n, SYN_MSS);
    n += 2;
    if (sack) {
        o[n++] = TCP_OPT_NOP;
        o[n++] = TCP_OPT_NOP;
        o[n++] = TCP_OPT_SACK_PERM;
        o[n++] = 2;
    }
    if (timestamps) {
        o[n++] = TCP_OPT_NOP;
        o[n++] = TCP_OPT_NOP;
        o[n++] = TCP_OPT_TS;
        o[n++] = 10;
        put_be32(o + n, peer_tsval++);
        put_be32(o + n + 4, 0);
        n += 8;
    }
    tcp_script_inject_raw(sc, sc->peer_port, sc->local_port, PEER_ISS, 0, TCP_SYN, sc->peer_wnd, o, n, NULL, 0);
    struct tcp_script_out syn_ack;
    tcp_script_expect_anyseq(sc, TCP_SYN | TCP_ACK, PEER_ISS + 1, &syn_ack);
    sc->our_nxt = syn_ack.seg.seq + 1;
    sc->peer_nxt = PEER_ISS + 1;
    peer_ack(sc->our_nxt, syn_ack.seg.tsval, 0, NULL);
    conn = NULL;
    ck_assert_int_eq(tcp_accept(l, &conn), 0);
    tcp_close(l);
    ck_assert(conn->ts_ok == timestamps && conn->sack_ok == sack);
    ck_assert_str_eq(conn->cc->name, algorithm);
    mss = conn->snd_mss;
    base = sc->our_nxt;
}

static void teardown(void)
{
    tcp_script_finish(&sc, &conn);
}

/* The next segment must be [base + off, base + off + len) of the data;
 * returns its TSval. */
static uint32_t expect_data(uint32_t off, uint32_t len)
{
    struct tcp_script_out o;
    ck_assert_msg(tcp_script_next(sc, &o), "expected data at offset %u, nothing was sent", off);
    ck_assert_msg(o.seg.seq == base + off && o.seg.len == len, "expected [%u, %u), got [%u, %u)", off,
                  off + len, o.seg.seq - base, o.seg.seq - base + o.seg.len);
    ck_assert(memcmp(o.seg.data, pattern + off, len) == 0);
    ck_assert(o.seg.has_ts == timestamps);
    return o.seg.tsval;
}

static uint64_t stat_undos(void) { return sc->s->stats.tcp_undos; }

/* ---- Eifel (RFC 3522) and fast retransmit -------------------------------- */

struct before {
    uint32_t cwnd, ssthresh;
    struct tcp_cubic cubic;
};

/* Six segments queued, the initial window of four leaves at once: *orig
 * the first one's TSval, *b the state before any loss. */
static void send_six_initial_window_of_four(uint32_t *orig, struct before *b)
{
    ck_assert_int_eq(tcp_send(conn, pattern, 6 * mss), (long)(6 * mss));
    *orig = expect_data(0, mss);
    for (uint32_t k = 1; k < 4; k++)
        expect_data(k * mss, mss);
    tcp_script_expect_none(sc);
    b->cwnd = conn->cwnd;
    b->ssthresh = conn->ssthresh;
    b->cubic = conn->cubic;
}

/* Six segments queued, the initial window of four leaves at once; the
 * first is delayed, the three others bring duplicate ACKs 5 ms later (with
 * SACK, each SACKs one more). Returns the TSval of the fast retransmission
 * of segment 0; *orig its original's, *b the state before recovery. */
static uint32_t delayed_first_segment_fast_retransmit(uint32_t *orig, struct before *b)
{
    send_six_initial_window_of_four(orig, b);
    tcp_script_advance(sc, DELAY);
    for (uint32_t d = 1; d <= 3; d++) {
        const struct tcp_script_block blk[1] = {{mss, (d + 1) * mss}};
        peer_ack(base, *orig, sack ? 1 : 0, blk);
        if (d < 3)
            expect_data((3 + d) * mss, mss);        /* Limited Transmit (RFC 3042) */
    }
    ck_assert_msg(conn->in_recovery, "no fast retransmit on the third duplicate ACK");
    ck_assert_uint_eq(sc->s->stats.tcp_fast_retransmits, 1);
    ck_assert_uint_lt(conn->ssthresh, b->cwnd);
    uint32_t rxt = expect_data(0, mss);
    tcp_script_expect_none(sc);
    ck_assert_msg(rxt != *orig, "the retransmission must carry a later TSval");
    tcp_script_advance(sc, DELAY);
    return rxt;
}

START_TEST(eifel_undoes_a_fast_retransmit_the_original_answered)
{
    set_variant(_i, true);
    open_connection();
    uint32_t orig;
    struct before b;
    delayed_first_segment_fast_retransmit(&orig, &b);
    uint32_t reduced = conn->ssthresh;
    /* The delayed original arrives: the ACK for segments 0-3 echoes its
     * TSval (RFC 7323 4.3: it filled the hole at Last.ACK.sent). */
    peer_ack(base + 4 * mss, orig, 0, NULL);
    if (undo_on) {
        ck_assert_uint_eq(sc->s->stats.tcp_spurious_fast_retransmits, 1);
        ck_assert_uint_eq(stat_undos(), 1);
        ck_assert_uint_eq(sc->s->stats.tcp_spurious_rtos, 0);
        ck_assert(!conn->in_recovery);
        ck_assert_uint_eq(conn->cwnd, b.cwnd);
        ck_assert_uint_eq(conn->ssthresh, b.ssthresh);
        ck_assert_uint_eq(conn->cubic.w_max, b.cubic.w_max);
        ck_assert_uint_eq(conn->cubic.k_ms, b.cubic.k_ms);
        ck_assert(conn->cubic.t_epoch == b.cubic.t_epoch);
    } else {
        ck_assert_uint_eq(sc->s->stats.tcp_spurious_fast_retransmits, 0);
        ck_assert_uint_eq(stat_undos(), 0);
        ck_assert_uint_eq(conn->ssthresh, reduced);
        ck_assert_uint_lt(conn->ssthresh, b.ssthresh);
    }
}
END_TEST

START_TEST(eifel_keeps_the_reduction_when_the_retransmission_answered)
{
    set_variant(_i, true);
    open_connection();
    uint32_t orig;
    struct before b;
    uint32_t rxt = delayed_first_segment_fast_retransmit(&orig, &b);
    uint32_t reduced = conn->ssthresh;
    /* A genuine loss: the retransmission filled the hole, the ACK echoes
     * its TSval. */
    peer_ack(base + 4 * mss, rxt, 0, NULL);
    ck_assert_uint_eq(sc->s->stats.tcp_spurious_fast_retransmits, 0);
    ck_assert_uint_eq(stat_undos(), 0);
    ck_assert_uint_eq(conn->ssthresh, reduced);
    ck_assert_uint_lt(conn->ssthresh, b.ssthresh);
}
END_TEST

/* ---- Eifel and a retransmission timeout (RFC 4015) ----------------------- */

/* Six segments queued, four leave and no ACK comes: the RTO resends
 * segment 0. Returns its TSval; *orig the original's, *b the state before. */
static uint32_t window_then_timeout(uint32_t *orig, struct before *b, tapir_time_t *sent_at)
{
    *sent_at = sc->now;
    send_six_initial_window_of_four(orig, b);
    tcp_script_advance_to_next(sc, TAPIR_SEC(2));
    ck_assert_uint_eq(sc->s->stats.tcp_rto_expired, 1);
    ck_assert_uint_eq(conn->cwnd, mss);
    uint32_t rxt = expect_data(0, mss);
    tcp_script_expect_none(sc);
    ck_assert(rxt != *orig);
    tcp_script_advance(sc, DELAY);
    return rxt;
}

START_TEST(eifel_undoes_a_spurious_timeout_and_sends_new_data)
{
    set_variant(_i, true);
    open_connection();
    uint32_t orig;
    struct before b;
    tapir_time_t sent_at;
    window_then_timeout(&orig, &b, &sent_at);
    uint64_t retransmits = sc->s->stats.tcp_retransmits;
    /* The ACK of the original segment 0 was only late. */
    peer_ack(base + mss, orig, 0, NULL);
    tapir_time_t rtt = sc->now - sent_at;
    if (undo_on) {
        ck_assert_uint_eq(sc->s->stats.tcp_spurious_rtos, 1);
        ck_assert_uint_eq(stat_undos(), 1);
        /* RFC 4015 3.2: cwnd = FlightSize + min(bytes_acked, IW): the
         * three segments out and the one acknowledged, the window before;
         * ssthresh = max(FlightSize, ssthresh) before the timeout. */
        ck_assert_uint_eq(conn->cwnd, b.cwnd);
        ck_assert_uint_eq(conn->ssthresh, b.ssthresh);
        ck_assert_uint_eq(conn->cubic.w_max, b.cubic.w_max);
        ck_assert(conn->cubic.t_epoch == b.cubic.t_epoch);
        ck_assert_uint_eq(conn->snd_nxt, conn->snd_max);
        /* No go-back-N: the one segment cwnd allows is new data. */
        expect_data(4 * mss, mss);
        tcp_script_expect_none(sc);
        ck_assert_uint_eq(sc->s->stats.tcp_retransmits, retransmits);
        /* The RTT estimate keeps the long sample (SRTT = max(SRTT_prev,
         * RTT), RTTVAR = max(RTTVAR_prev, RTT/2)); no backoff is left. */
        ck_assert_uint_ge(conn->srtt, rtt - TAPIR_MSEC(1));
        ck_assert_uint_ge(conn->rttvar, (rtt - TAPIR_MSEC(1)) / 2);
        ck_assert_uint_eq(conn->backoff, 0);
    } else {
        ck_assert_uint_eq(sc->s->stats.tcp_spurious_rtos, 0);
        ck_assert_uint_eq(stat_undos(), 0);
        ck_assert_uint_lt(conn->ssthresh, b.ssthresh);
        /* Go-back-N: segment 1 again. */
        expect_data(mss, mss);
        ck_assert_uint_lt(conn->srtt, rtt / 2);
    }
}
END_TEST

START_TEST(eifel_keeps_a_genuine_timeout)
{
    set_variant(_i, true);
    open_connection();
    uint32_t orig;
    struct before b;
    tapir_time_t sent_at;
    uint32_t rxt = window_then_timeout(&orig, &b, &sent_at);
    peer_ack(base + mss, rxt, 0, NULL);
    ck_assert_uint_eq(sc->s->stats.tcp_spurious_rtos, 0);
    ck_assert_uint_eq(stat_undos(), 0);
    ck_assert_uint_lt(conn->ssthresh, b.ssthresh);
    expect_data(mss, mss);                  /* go-back-N goes on */
}
END_TEST

/* ---- D-SACK (RFC 3708), no timestamps ------------------------------------ */

#define DSACK_WINDOW 10u
struct rxt_seen {
    uint32_t seq[16], len[16];
    uint32_t n;
};

/* Take every emitted segment; remember the retransmissions (below end). */
static void collect_retransmissions(struct rxt_seen *r, uint32_t end)
{
    struct tcp_script_out o;
    while (tcp_script_next(sc, &o)) {
        if (o.seg.len > 0 && seq_lt(o.seg.seq, end)) {
            ck_assert_uint_lt(r->n, 16);
            r->seq[r->n] = o.seg.seq;
            r->len[r->n] = o.seg.len;
            r->n++;
        }
    }
}

/* The connection warmed up (in congestion avoidance for CUBIC to have an
 * epoch); ten segments leave; segments 0 and 2 are delayed, the peer SACKs
 * the eight others one by one; both holes are retransmitted; then both
 * originals arrive and the ACK covers the window, ending the recovery. */
static void two_holes_filled_by_late_originals(struct rxt_seen *r, struct before *b)
{
    tcp_script_transfer_acked(sc, conn, pattern, 16 * mss, STEP);
    conn->ssthresh = conn->cwnd;            /* congestion avoidance from here */
    tcp_script_transfer_acked(sc, conn, pattern, 16 * mss, STEP);
    ck_assert(strcmp(algorithm, "cubic") != 0 || conn->cubic.t_epoch != TAPIR_TIME_NEVER);
    base = sc->our_nxt;
    ck_assert_uint_ge(conn->cwnd, DSACK_WINDOW * mss);
    ck_assert_int_eq(tcp_send(conn, pattern, DSACK_WINDOW * mss), (long)(DSACK_WINDOW * mss));
    for (uint32_t k = 0; k < DSACK_WINDOW; k++)
        expect_data(k * mss, mss);
    tcp_script_expect_none(sc);
    b->cwnd = conn->cwnd;
    b->ssthresh = conn->ssthresh;
    b->cubic = conn->cubic;
    tcp_script_advance(sc, DELAY);
    memset(r, 0, sizeof *r);
    uint32_t end = base + DSACK_WINDOW * mss;
    for (uint32_t k = 1; k < DSACK_WINDOW; k++) {
        if (k == 2)
            continue;
        /* The range holding the newest segment first (RFC 2018 4). */
        struct tcp_script_block blk[2];
        uint8_t n = 0;
        if (k == 1) {
            blk[n++] = (struct tcp_script_block){mss, 2 * mss};
        } else {
            blk[n++] = (struct tcp_script_block){3 * mss, (k + 1) * mss};
            blk[n++] = (struct tcp_script_block){mss, 2 * mss};
        }
        peer_ack(base, 0, n, blk);
        collect_retransmissions(r, end);
    }
    ck_assert(conn->in_recovery);
    ck_assert_uint_eq(r->n, 2);
    ck_assert_uint_eq(r->seq[0], base);
    ck_assert_uint_eq(r->seq[1], base + 2 * mss);
    tcp_script_advance(sc, DELAY);
    peer_ack(end, 0, 0, NULL);              /* the originals of 0 and 2 */
    ck_assert(!conn->in_recovery);
    collect_retransmissions(r, end);
    ck_assert_uint_eq(r->n, 2);
    ck_assert_uint_eq(stat_undos(), 0);     /* no D-SACK yet */
}

/* The retransmission k arrives at the peer as a duplicate: D-SACK. */
static void dsack_for(const struct rxt_seen *r, uint32_t k)
{
    const struct tcp_script_block blk[1] = {{r->seq[k] - base, r->seq[k] - base + r->len[k]}};
    peer_ack(base + DSACK_WINDOW * mss, 0, 1, blk);
}

/* The D-SACK tests' start (SACK on, no timestamps, variant v): two holes
 * retransmitted, then filled by their late originals; the reduced
 * ssthresh. */
static uint32_t dsack_episode(int v, struct rxt_seen *r, struct before *b)
{
    set_variant(v, false);
    sack = true;
    open_connection();
    two_holes_filled_by_late_originals(r, b);
    return conn->ssthresh;
}

START_TEST(dsack_of_every_retransmission_undoes)
{
    struct rxt_seen r;
    struct before b;
    uint32_t reduced = dsack_episode(_i, &r, &b);
    ck_assert_uint_lt(reduced, b.ssthresh);
    dsack_for(&r, 0);
    ck_assert_uint_eq(stat_undos(), 0);     /* one of two so far */
    dsack_for(&r, 1);
    if (!undo_on) {
        ck_assert_uint_eq(stat_undos(), 0);
        ck_assert_uint_eq(conn->ssthresh, reduced);
        return;
    }
    ck_assert_uint_eq(stat_undos(), 1);
    ck_assert_uint_eq(sc->s->stats.tcp_undos_dsack, 1);
    ck_assert_uint_eq(sc->s->stats.tcp_spurious_fast_retransmits, 1);
    ck_assert_uint_eq(conn->cwnd, b.cwnd);
    ck_assert_uint_eq(conn->ssthresh, b.ssthresh);
    /* RFC 9438 4.9: CUBIC's curve is the one before the episode ... */
    ck_assert_uint_eq(conn->cubic.w_max, b.cubic.w_max);
    ck_assert_uint_eq(conn->cubic.k_ms, b.cubic.k_ms);
    ck_assert_uint_eq(conn->cubic.w_est, b.cubic.w_est);
    ck_assert(conn->cubic.t_epoch == b.cubic.t_epoch);
    /* ... and the next growth follows it: no new epoch starts. */
    base = sc->our_nxt = base + DSACK_WINDOW * mss;
    tcp_script_transfer_acked(sc, conn, pattern, 8 * mss, STEP);
    ck_assert_uint_ge(conn->cwnd, b.cwnd);
    ck_assert(conn->cubic.t_epoch == b.cubic.t_epoch);
    ck_assert_uint_eq(conn->cubic.w_max, b.cubic.w_max);
}
END_TEST

START_TEST(dsack_missing_for_one_retransmission_keeps_the_reduction)
{
    struct rxt_seen r;
    struct before b;
    uint32_t reduced = dsack_episode(_i, &r, &b);
    /* Segment 2's retransmission comes back as a duplicate, twice (a
     * duplicated ACK); segment 0's never does. */
    dsack_for(&r, 1);
    dsack_for(&r, 1);
    ck_assert_uint_eq(stat_undos(), 0);
    ck_assert_uint_eq(conn->ssthresh, reduced);
    ck_assert(strcmp(algorithm, "cubic") != 0 || conn->cubic.t_epoch != b.cubic.t_epoch);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("tcp_undo");
    TCase *t = tcase_create("eifel");
    tcase_add_checked_fixture(t, NULL, teardown);
    tcase_add_loop_test(t, eifel_undoes_a_fast_retransmit_the_original_answered, 0, N_VARIANTS);
    tcase_add_loop_test(t, eifel_keeps_the_reduction_when_the_retransmission_answered, 0, N_VARIANTS);
    tcase_add_loop_test(t, eifel_undoes_a_spurious_timeout_and_sends_new_data, 0, N_VARIANTS);
    tcase_add_loop_test(t, eifel_keeps_a_genuine_timeout, 0, N_VARIANTS);
    suite_add_tcase(s, t);
    t = tcase_create("dsack");
    tcase_add_checked_fixture(t, NULL, teardown);
    tcase_add_loop_test(t, dsack_of_every_retransmission_undoes, 0, N_VARIANTS);
    tcase_add_loop_test(t, dsack_missing_for_one_retransmission_keeps_the_reduction, 0, N_VARIANTS);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
