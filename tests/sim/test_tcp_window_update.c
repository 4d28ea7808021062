/* The send window update (RFC 9293 3.10.7.4 step 5) against a scripted
 * peer in virtual time:
 *  - a forged in-window pure ACK whose SEQ is ahead of the peer's real
 *    sequence numbers (it moves SND.WL1 there, with a zero window) does
 *    not freeze the window: the ACK of the next zero-window probe (it
 *    acknowledges new data) takes the window the peer really offers, and
 *    the data goes at once instead of one probe byte at a time;
 *  - reordering is still guarded: an older segment (SEQ below SND.WL1)
 *    that acknowledges nothing new does not change the window;
 *  - an ACK of new data from an older SEQ (a retransmission of the peer's
 *    while ours are acknowledged) takes its window and sets SND.WL1/WL2
 *    to its SEQ/ACK; a newer segment after it is taken as before;
 *  - once SND.WL1 went back so, a late segment the peer sent before that
 *    retransmission (SEQ above SND.WL1, ACK below SND.WL2) does not bring
 *    back its older window. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "core/stack.h"
#include "core/tcp.h"
#include "core/tcp_conn.h"
#include "harness.h"
#include "tcp_script.h"

#define PEER_ISS 0xfffffff0u        /* the peer's numbers cross 2^32 */
#define FORGED_AHEAD 1000u          /* in our receive window */

static struct tcp_script *sc;
static struct tcp_conn *conn;
static uint8_t payload[3000];

static void setup(void)
{
    sc = tcp_script_new(NULL);
    conn = tcp_script_passive_open(sc, PEER_ISS, NULL);
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (uint8_t)(i * 7 + 3);
}

static void teardown(void)
{
    tcp_script_finish(&sc, &conn);
}

/* The peer's pure ACK with window wnd (no scaling was negotiated). */
static void peer_ack(uint32_t seq, uint32_t ack, uint16_t wnd)
{
    sc->peer_wnd = wnd;
    tcp_script_send(sc, TCP_ACK, seq, ack, 0, NULL, 0);
}

START_TEST(forged_seq_ahead_ack_does_not_freeze_a_zero_window)
{
    /* The peer closes its window; then a forged pure ACK, SEQ ahead of
     * the peer's (in our window, so acceptable), window 0. */
    peer_ack(sc->peer_nxt, sc->our_nxt, 0);
    uint32_t forged = sc->peer_nxt + FORGED_AHEAD;
    peer_ack(forged, sc->our_nxt, 0);
    ck_assert_uint_eq(conn->snd_wl1, forged);   /* RFC 9293's rule took it */
    ck_assert_uint_eq(conn->snd_wnd, 0);
    tcp_script_expect_none(sc);

    tapir_time_t queued = sc->now;
    ck_assert_int_eq(tcp_send(conn, payload, sizeof payload), (long)sizeof payload);
    tcp_script_expect_none(sc);                 /* the window is zero */

    /* The peer, real SEQ, opens its window with a pure window update: it
     * is older than the forged SND.WL1 and acknowledges nothing new. */
    peer_ack(sc->peer_nxt, sc->our_nxt, 65535);

    /* The persist timer sends a probe byte (or, if the update above was
     * taken, the data goes without one). The peer takes the probe and
     * acknowledges it: that ACK of new data must bring the window. */
    struct tcp_script_out o;
    if (tcp_script_pending(sc) == 0) {
        tcp_script_advance_to_next(sc, sc->s->cfg.rto_max);
        tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt, &o);
        ck_assert_uint_eq(o.seg.len, 1);
        ck_assert_uint_eq(o.seg.data[0], payload[0]);
        tapir_time_t probe_at = o.when;
        /* Well within two probe intervals of queueing the data. */
        ck_assert_uint_le(probe_at - queued, 2 * sc->s->cfg.rto_max);
        sc->our_nxt += 1;
        peer_ack(sc->peer_nxt, sc->our_nxt, 65535);
        ck_assert_msg(tcp_script_next(sc, &o), "the probe's ACK opened no window: nothing sent");
        ck_assert_uint_eq(o.when, probe_at);    /* at once */
    } else {
        ck_assert(tcp_script_next(sc, &o));
    }
    uint32_t off = sc->our_nxt - (conn->iss + 1);
    ck_assert_uint_eq(o.seg.seq, sc->our_nxt);
    ck_assert_uint_gt(o.seg.len, 1);            /* data, not another probe */
    ck_assert_mem_eq(o.seg.data, payload + off, o.seg.len);
    ck_assert_uint_eq(conn->snd_wnd, 65535);
    ck_assert_uint_eq(conn->snd_wl1, sc->peer_nxt);  /* the forged WL1 is undone */
    ck_assert_uint_eq(conn->persist_at, TAPIR_TIME_NEVER);

    /* And the rest of it flows as the peer acknowledges it. */
    uint32_t end = conn->iss + 1 + (uint32_t)sizeof payload;
    uint32_t highest = o.seg.seq + o.seg.len;
    for (int round = 0; round < 8 && highest != end; round++) {
        while (tcp_script_next(sc, &o))
            highest = o.seg.seq + o.seg.len;
        peer_ack(sc->peer_nxt, highest, 65535);
        sc->our_nxt = highest;
        while (tcp_script_next(sc, &o))
            highest = o.seg.seq + o.seg.len;
        if (highest == end)
            break;
        tcp_script_advance(sc, TAPIR_MSEC(250));    /* Nagle's tail, if held */
    }
    ck_assert_uint_eq(highest, end);
    ck_assert_uint_le(sc->now - queued, 2 * sc->s->cfg.rto_max);
    peer_ack(sc->peer_nxt, end, 65535);
    ck_assert_uint_eq(conn->snd_una, end);
}
END_TEST

START_TEST(older_segment_acking_nothing_new_does_not_shrink_the_window)
{
    /* The peer's second segment arrives first (its first is late). */
    uint32_t s0 = sc->peer_nxt;
    sc->peer_wnd = 65535;
    tcp_script_send(sc, TCP_ACK, s0 + 100, sc->our_nxt, 0, payload + 100, 100);
    ck_assert_uint_eq(conn->snd_wl1, s0 + 100);
    ck_assert_uint_eq(conn->snd_wnd, 65535);
    tcp_script_flush(sc);                       /* the duplicate ACK */

    /* A pure ACK the peer sent before it, with a smaller window: older
     * SEQ, acknowledges nothing new. */
    peer_ack(s0, sc->our_nxt, 1000);
    ck_assert_uint_eq(conn->snd_wnd, 65535);
    ck_assert_uint_eq(conn->snd_wl1, s0 + 100);
    /* The late first segment, also with the small window. */
    sc->peer_wnd = 1000;
    tcp_script_send(sc, TCP_ACK, s0, sc->our_nxt, 0, payload, 100);
    ck_assert_uint_eq(conn->snd_wnd, 65535);
    ck_assert_uint_eq(conn->snd_wl1, s0 + 100);
    sc->peer_nxt = s0 + 200;
    tcp_script_flush(sc);

    /* What the window allows shows on the wire: more than 1000 bytes go. */
    ck_assert_int_eq(tcp_send(conn, payload, sizeof payload), (long)sizeof payload);
    uint32_t sent = 0;
    struct tcp_script_out o;
    while (tcp_script_next(sc, &o))
        sent += o.seg.len;
    ck_assert_uint_gt(sent, 1000);
}
END_TEST

START_TEST(ack_of_new_data_from_older_seq_updates_window_and_wl)
{
    /* Two full segments of ours in flight. */
    ck_assert_int_eq(tcp_send(conn, payload, 2920), 2920);
    uint32_t u = sc->our_nxt;
    struct tcp_script_out o;
    tcp_script_expect(sc, TCP_ACK, u, sc->peer_nxt, &o);
    ck_assert_uint_eq(o.seg.len, 1460);
    tcp_script_expect(sc, TCP_ACK, u + 1460, sc->peer_nxt, &o);
    ck_assert_uint_eq(o.seg.len, 1460);

    /* The peer's segments: its second (sent before our data arrived)
     * comes first, its first is lost. */
    uint32_t s0 = sc->peer_nxt;
    sc->peer_wnd = 65535;
    tcp_script_send(sc, TCP_ACK, s0 + 100, u, 0, payload + 100, 100);
    ck_assert_uint_eq(conn->snd_wl1, s0 + 100);
    ck_assert_uint_eq(conn->snd_wl2, u);
    tcp_script_flush(sc);

    /* The peer retransmits its first segment, now acknowledging our first
     * segment and offering a smaller window: an older SEQ than SND.WL1,
     * but an ACK of new data, so its window is the newest. */
    sc->peer_wnd = 30000;
    tcp_script_send(sc, TCP_ACK, s0, u + 1460, 0, payload, 100);
    ck_assert_uint_eq(conn->snd_una, u + 1460);
    ck_assert_uint_eq(conn->snd_wnd, 30000);
    ck_assert_uint_eq(conn->snd_wl1, s0);
    ck_assert_uint_eq(conn->snd_wl2, u + 1460);
    ck_assert_uint_eq(conn->max_sndwnd, 65535);
    tcp_script_flush(sc);

    /* A newer segment (the peer's next pure ACK) is taken as before. */
    peer_ack(s0 + 200, u + 2920, 40000);
    ck_assert_uint_eq(conn->snd_una, u + 2920);
    ck_assert_uint_eq(conn->snd_wnd, 40000);
    ck_assert_uint_eq(conn->snd_wl1, s0 + 200);
    ck_assert_uint_eq(conn->snd_wl2, u + 2920);
    sc->peer_nxt = s0 + 200;
    sc->our_nxt = u + 2920;
    tcp_script_flush(sc);
}
END_TEST

START_TEST(stale_segment_after_a_retransmission_does_not_bring_back_its_window)
{
    ck_assert_int_eq(tcp_send(conn, payload, 2920), 2920);
    uint32_t u = sc->our_nxt;
    tcp_script_flush(sc);

    /* The peer sent three segments before our data arrived; the third
     * comes first and sets SND.WL1 to its SEQ. */
    uint32_t s0 = sc->peer_nxt;
    sc->peer_wnd = 65535;
    tcp_script_send(sc, TCP_ACK, s0 + 200, u, 0, payload + 200, 100);
    ck_assert_uint_eq(conn->snd_wl1, s0 + 200);
    /* Its first, retransmitted later, acknowledges our first segment: an
     * ACK of new data, taken although its SEQ is older (SND.WL1 goes back). */
    sc->peer_wnd = 30000;
    tcp_script_send(sc, TCP_ACK, s0, u + 1460, 0, payload, 100);
    ck_assert_uint_eq(conn->snd_wnd, 30000);
    ck_assert_uint_eq(conn->snd_wl1, s0);
    ck_assert_uint_eq(conn->snd_wl2, u + 1460);
    /* Its second, late, sent before that retransmission: SEQ above
     * SND.WL1 now, but its ACK is below SND.WL2, so it is older and its
     * window stays out. */
    sc->peer_wnd = 5000;
    tcp_script_send(sc, TCP_ACK, s0 + 100, u, 0, payload + 100, 100);
    ck_assert_uint_eq(conn->snd_wnd, 30000);
    ck_assert_uint_eq(conn->snd_wl1, s0);
    ck_assert_uint_eq(conn->snd_wl2, u + 1460);
    /* The peer's next segment is taken. */
    peer_ack(s0 + 300, u + 2920, 40000);
    ck_assert_uint_eq(conn->snd_wnd, 40000);
    ck_assert_uint_eq(conn->snd_wl1, s0 + 300);
    sc->peer_nxt = s0 + 300;
    sc->our_nxt = u + 2920;
    tcp_script_flush(sc);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tcp_window_update");
    TCase *t = tcase_create("window_update");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, forged_seq_ahead_ack_does_not_freeze_a_zero_window);
    tcase_add_test(t, older_segment_acking_nothing_new_does_not_shrink_the_window);
    tcase_add_test(t, ack_of_new_data_from_older_seq_updates_window_and_wl);
    tcase_add_test(t, stale_segment_after_a_retransmission_does_not_bring_back_its_window);
    suite_add_tcase(s, t);
    return harness_run(s);
}
