/* Scripted segment tests of data transfer in ESTABLISHED: MSS, sliding
 * window and SWS avoidance on both sides, Nagle, reassembly, delayed ACK,
 * fast retransmit and NewReno recovery. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/stack.h"
#include "core/tcp.h"
#include "core/tcp_conn.h"
#include "tcp_script.h"
#include "harness.h"

#define PEER_ISS 0xfffffff0u

static struct tcp_script *sc;
static struct tcp_conn *conn;
static uint8_t pattern[256 * 1024];

static void small_rcvbuf(struct tapir_config *cfg) { cfg->tcp_rcvbuf = 4096; }
static void small_ooo(struct tapir_config *cfg) { cfg->tcp_ooo_max_bytes = 1000; }
/* The NewReno tests below predate CUBIC (now the default) and SACK. */
static void newreno(struct tapir_config *cfg) { strcpy(cfg->tcp_congestion, "newreno"); }
static void no_ts_sack(struct tapir_config *cfg) { cfg->tcp_timestamps = false; cfg->tcp_sack = false; }

static void fill_pattern(void)
{
    for (size_t i = 0; i < sizeof pattern; i++)
        pattern[i] = (uint8_t)(i * 131 + (i >> 8));
}

/* Passive open where the peer announces mss (0: no option) and window wnd. */
static void open_with(void (*tweak)(struct tapir_config *), uint16_t mss, uint16_t wnd)
{
    fill_pattern();
    sc = tcp_script_new(tweak);
    struct tcp_conn *l = tcp_script_listen(sc, 80, 4);
    sc->peer_wnd = wnd;
    tcp_script_send(sc, TCP_SYN, PEER_ISS, 0, mss, NULL, 0);
    struct tcp_script_out o;
    tcp_script_expect_anyseq(sc, TCP_SYN | TCP_ACK, PEER_ISS + 1, &o);
    sc->our_nxt = o.seg.seq + 1;
    sc->peer_nxt = PEER_ISS + 1;
    tcp_script_send(sc, TCP_ACK, sc->peer_nxt, sc->our_nxt, 0, NULL, 0);
    ck_assert_int_eq(tcp_accept(l, &conn), 0);
    tcp_close(l);
}

static void setup_default(void) { open_with(NULL, 1460, 65535); }

static void teardown(void)
{
    tcp_script_finish(&sc, &conn);
}

/* Peer acknowledges everything we sent so far. */
static void peer_ack(uint32_t ack)
{
    tcp_script_send(sc, TCP_ACK, sc->peer_nxt, ack, 0, NULL, 0);
}

START_TEST(segments_never_exceed_the_peers_mss)
{
    teardown();
    open_with(NULL, 500, 65535);
    ck_assert_int_eq(tcp_send(conn, pattern, 1800), 1800);
    struct tcp_script_out o;
    uint32_t seq = sc->our_nxt, total = 0;
    while (tcp_script_next(sc, &o)) {
        ck_assert_uint_le(o.seg.len, 500);
        ck_assert_uint_eq(o.seg.seq, seq);
        ck_assert_mem_eq(o.seg.data, pattern + total, o.seg.len);
        seq += o.seg.len;
        total += o.seg.len;
    }
    /* Three full segments; Nagle keeps the 300-byte tail until they are acked. */
    ck_assert_uint_eq(total, 1500);
    peer_ack(seq);
    tcp_script_expect(sc, TCP_ACK, seq, sc->peer_nxt, &o);
    ck_assert_uint_eq(o.seg.len, 300);
    ck_assert_mem_eq(o.seg.data, pattern + 1500, 300);
}
END_TEST

START_TEST(segments_never_exceed_our_mtu)
{
    teardown();
    open_with(NULL, 9000, 65535);
    ck_assert_int_eq(tcp_send(conn, pattern, 4000), 4000);
    struct tcp_script_out o;
    int n = 0;
    while (tcp_script_next(sc, &o)) {
        ck_assert_uint_le(o.seg.len, 1460);
        n++;
    }
    ck_assert_int_eq(n, 2);                            /* 2 full; Nagle holds the tail */
}
END_TEST

START_TEST(no_mss_option_means_536)
{
    teardown();
    open_with(NULL, 0, 65535);
    ck_assert_int_eq(tcp_send(conn, pattern, 1000), 1000);
    struct tcp_script_out o;
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt, &o);
    ck_assert_uint_eq(o.seg.len, 536);
}
END_TEST

START_TEST(sender_respects_the_peers_window)
{
    teardown();
    open_with(NULL, 1460, 1000);
    ck_assert_int_eq(tcp_send(conn, pattern, 3000), 3000);
    struct tcp_script_out o;
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt, &o);
    ck_assert_uint_eq(o.seg.len, 1000);
    tcp_script_expect_none(sc);
    /* The peer takes it and opens its window to 2000. */
    sc->peer_wnd = 2000;
    peer_ack(sc->our_nxt + 1000);
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt + 1000, sc->peer_nxt, &o);
    ck_assert_uint_eq(o.seg.len, 1460);
    ck_assert_mem_eq(o.seg.data, pattern + 1000, 1460);
}
END_TEST

START_TEST(zero_and_maximum_windows_from_the_peer)
{
    sc->peer_wnd = 0;
    peer_ack(sc->our_nxt);
    ck_assert_int_eq(tcp_send(conn, pattern, 100), 100);
    tcp_script_expect_none(sc);                         /* window closed: persist later */
    sc->peer_wnd = 65535;
    peer_ack(sc->our_nxt);
    struct tcp_script_out o;
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt, &o);
    ck_assert_uint_eq(o.seg.len, 100);
}
END_TEST

START_TEST(receive_window_shrinks_with_unread_data_and_update_follows_read)
{
    teardown();
    open_with(small_rcvbuf, 1460, 65535);
    tcp_script_send(sc, TCP_ACK, sc->peer_nxt, sc->our_nxt, 0, pattern, 1460);
    tcp_script_send(sc, TCP_ACK, sc->peer_nxt + 1460, sc->our_nxt, 0, pattern + 1460, 1460);
    sc->peer_nxt += 2920;
    struct tcp_script_out o;
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt, &o);    /* every second segment */
    ck_assert_uint_eq(o.seg.wnd, 4096 - 2920);
    /* Fill the rest: window 0. */
    tcp_script_send(sc, TCP_ACK, sc->peer_nxt, sc->our_nxt, 0, pattern + 2920, 1176);
    sc->peer_nxt += 1176;
    tcp_script_advance(sc, TAPIR_MSEC(200));
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt, &o);
    ck_assert_uint_eq(o.seg.wnd, 0);
    /* Reading a little does not announce a silly window (RFC 1122 4.2.3.3). */
    uint8_t buf[4096];
    ck_assert_int_eq(tcp_recv(conn, buf, 100, false), 100);
    tcp_script_expect_none(sc);
    /* Reading more does: a window update. */
    ck_assert_int_eq(tcp_recv(conn, buf + 100, 3996, false), 3996);
    ck_assert_mem_eq(buf, pattern, 4096);
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt, &o);
    ck_assert_uint_eq(o.seg.wnd, 4096);
}
END_TEST

START_TEST(nagle_holds_small_segments_while_data_is_unacked)
{
    ck_assert_int_eq(tcp_send(conn, "aaaa", 4), 4);
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt, NULL);
    ck_assert_int_eq(tcp_send(conn, "bbbb", 4), 4);
    ck_assert_int_eq(tcp_send(conn, "cccc", 4), 4);
    tcp_script_expect_none(sc);
    peer_ack(sc->our_nxt + 4);
    struct tcp_script_out o;
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt + 4, sc->peer_nxt, &o);
    ck_assert_uint_eq(o.seg.len, 8);
    ck_assert_mem_eq(o.seg.data, "bbbbcccc", 8);
}
END_TEST

START_TEST(nodelay_sends_small_segments_at_once)
{
    tcp_set_nodelay(conn, true);
    ck_assert_int_eq(tcp_send(conn, "aaaa", 4), 4);
    ck_assert_int_eq(tcp_send(conn, "bbbb", 4), 4);
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt, NULL);
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt + 4, sc->peer_nxt, NULL);
}
END_TEST

START_TEST(out_of_order_segment_gets_immediate_dup_ack_then_delivered_in_order)
{
    uint32_t base = sc->peer_nxt;
    tcp_script_send(sc, TCP_ACK, base + 100, sc->our_nxt, 0, pattern + 100, 100);
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, base, NULL);            /* dup ACK */
    tcp_script_send(sc, TCP_ACK, base + 300, sc->our_nxt, 0, pattern + 300, 50);
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, base, NULL);
    uint8_t buf[512];
    ck_assert_int_eq(tcp_recv(conn, buf, sizeof buf, false), -EAGAIN);
    /* The hole is filled: one ACK up to the next hole, at once. */
    tcp_script_send(sc, TCP_ACK, base, sc->our_nxt, 0, pattern, 100);
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, base + 200, NULL);
    tcp_script_send(sc, TCP_ACK, base + 200, sc->our_nxt, 0, pattern + 200, 100);
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, base + 350, NULL);
    ck_assert_int_eq(tcp_recv(conn, buf, sizeof buf, false), 350);
    ck_assert_mem_eq(buf, pattern, 350);
    sc->peer_nxt = base + 350;
}
END_TEST

START_TEST(duplicates_and_overlaps_are_trimmed)
{
    uint32_t base = sc->peer_nxt;
    tcp_script_send(sc, TCP_ACK, base, sc->our_nxt, 0, pattern, 10);
    tcp_script_send(sc, TCP_ACK, base + 5, sc->our_nxt, 0, pattern + 5, 15);   /* overlap */
    tcp_script_send(sc, TCP_ACK, base, sc->our_nxt, 0, pattern, 20);          /* duplicate */
    tcp_script_send(sc, TCP_ACK, base + 30, sc->our_nxt, 0, pattern + 30, 10); /* ooo */
    tcp_script_send(sc, TCP_ACK, base + 25, sc->our_nxt, 0, pattern + 25, 10); /* ooo overlap */
    tcp_script_send(sc, TCP_ACK, base + 15, sc->our_nxt, 0, pattern + 15, 12); /* fills */
    uint8_t buf[64];
    ck_assert_int_eq(tcp_recv(conn, buf, sizeof buf, false), 40);
    ck_assert_mem_eq(buf, pattern, 40);
    tcp_script_flush(sc);
    sc->peer_nxt = base + 40;
}
END_TEST

START_TEST(out_of_order_memory_is_bounded)
{
    teardown();
    open_with(small_ooo, 1460, 65535);
    uint32_t base = sc->peer_nxt;
    tcp_script_send(sc, TCP_ACK, base + 100, sc->our_nxt, 0, pattern, 900);
    tcp_script_send(sc, TCP_ACK, base + 2000, sc->our_nxt, 0, pattern, 900);
    ck_assert_uint_eq(sc->s->stats.drops[TAPIR_DROP_TCP_OOO_FULL], 1);
    /* Many tiny disjoint pieces: the range list is bounded too. */
    for (int i = 0; i < 40; i++)
        tcp_script_send(sc, TCP_ACK, base + 5000 + 10 * (uint32_t)i, sc->our_nxt, 0, pattern, 1);
    ck_assert_uint_ge(sc->s->stats.drops[TAPIR_DROP_TCP_OOO_FULL], 2);
    tcp_script_flush(sc);
}
END_TEST

START_TEST(delayed_ack_after_the_configured_delay_for_one_segment)
{
    /* One segment alone is acknowledged exactly delack_timeout later
     * (the default, 40 ms), not before. */
    tapir_time_t delay = sc->s->cfg.delack_timeout;
    ck_assert_uint_eq(delay, TAPIR_MSEC(40));
    tapir_time_t t0 = sc->now;
    tcp_script_send(sc, TCP_ACK, sc->peer_nxt, sc->our_nxt, 0, pattern, 100);
    sc->peer_nxt += 100;
    tcp_script_expect_none(sc);
    tcp_script_advance(sc, delay - TAPIR_MSEC(1));
    tcp_script_expect_none(sc);
    tcp_script_advance(sc, TAPIR_MSEC(1));
    struct tcp_script_out o;
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt, &o);
    ck_assert_uint_eq(o.when - t0, delay);
}
END_TEST

START_TEST(ack_at_least_every_second_full_segment)
{
    tcp_script_send(sc, TCP_ACK, sc->peer_nxt, sc->our_nxt, 0, pattern, 1460);
    tcp_script_expect_none(sc);
    tcp_script_send(sc, TCP_ACK, sc->peer_nxt + 1460, sc->our_nxt, 0, pattern + 1460, 1460);
    sc->peer_nxt += 2920;
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt, NULL);
}
END_TEST

START_TEST(three_dup_acks_trigger_fast_retransmit)
{
    teardown();
    open_with(newreno, 1000, 65535);
    ck_assert_int_eq(tcp_send(conn, pattern, 4000), 4000);
    for (int i = 0; i < 4; i++)
        tcp_script_expect(sc, TCP_ACK, sc->our_nxt + 1000 * (uint32_t)i, sc->peer_nxt, NULL);
    /* Segment 1 lost; 2, 3, 4 arrive: three duplicate ACKs. */
    peer_ack(sc->our_nxt);
    peer_ack(sc->our_nxt);
    tcp_script_expect_none(sc);
    peer_ack(sc->our_nxt);
    struct tcp_script_out o;
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt, &o);
    ck_assert_uint_eq(o.seg.len, 1000);
    ck_assert_mem_eq(o.seg.data, pattern, 1000);
    struct tapir_tcp_info info;
    tcp_get_info(conn, &info);
    ck_assert_uint_eq(info.ssthresh, 2000);            /* flight 4000 / 2 */
    ck_assert_uint_eq(info.cwnd, 2000 + 3 * 1000);
    ck_assert_uint_eq(sc->s->stats.tcp_fast_retransmits, 1);
    /* Full ACK ends recovery: cwnd deflates to ssthresh. */
    peer_ack(sc->our_nxt + 4000);
    tcp_get_info(conn, &info);
    ck_assert_uint_le(info.cwnd, 2000);
    ck_assert_uint_eq(info.unacked, 0);
}
END_TEST

START_TEST(newreno_partial_ack_retransmits_the_next_hole)
{
    teardown();
    open_with(newreno, 1000, 65535);
    ck_assert_int_eq(tcp_send(conn, pattern, 4000), 4000);
    tcp_script_flush(sc);
    /* Segments 1 and 3 lost. */
    for (int i = 0; i < 3; i++)
        peer_ack(sc->our_nxt);
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt, NULL);  /* resend 1 */
    tcp_script_flush(sc);
    /* The retransmission fills hole 1; the peer now acks up to segment 3. */
    peer_ack(sc->our_nxt + 2000);
    struct tcp_script_out o;
    ck_assert(tcp_script_next(sc, &o));
    ck_assert_uint_eq(o.seg.seq, sc->our_nxt + 2000);  /* resend 3 at once (RFC 6582) */
    ck_assert_uint_eq(o.seg.len, 1000);
    ck_assert_mem_eq(o.seg.data, pattern + 2000, 1000);
    tcp_script_flush(sc);
    peer_ack(sc->our_nxt + 4000);
    struct tapir_tcp_info info;
    tcp_get_info(conn, &info);
    ck_assert_uint_eq(info.unacked, 0);
}
END_TEST

START_TEST(send_buffer_full_returns_eagain_and_short_counts)
{
    struct tapir_tcp_info info;
    sc->peer_wnd = 0;
    peer_ack(sc->our_nxt);
    long n = tcp_send(conn, pattern, sizeof pattern);
    /* The send limit starts at TCP_BUF_INITIAL and grows with the path's
     * bandwidth-delay product (tcp_autotune.c); nothing has flowed yet. */
    ck_assert_uint_lt(TCP_BUF_INITIAL, sc->s->cfg.tcp_sndbuf);
    ck_assert_int_eq(n, (long)TCP_BUF_INITIAL);
    ck_assert_int_eq(tcp_send(conn, pattern, 10), -EAGAIN);
    ck_assert(!(tcp_events(conn) & TCP_EV_WRITABLE));
    tcp_get_info(conn, &info);
    ck_assert_uint_eq(info.unacked, 0);
    tcp_script_flush(sc);
}
END_TEST

START_TEST(bulk_transfer_across_the_sequence_wrap_is_exact)
{
    /* The peer sends 100 KB starting just below 2^32; we read it all. */
    uint8_t *got = malloc(100000);
    size_t have = 0;
    uint32_t seq = sc->peer_nxt;
    for (uint32_t off = 0; off < 100000; off += 1000) {
        tcp_script_send(sc, TCP_ACK, seq + off, sc->our_nxt, 0, pattern + off, 1000);
        long r;
        while ((r = tcp_recv(conn, got + have, 100000 - have, false)) > 0)
            have += (size_t)r;
    }
    ck_assert_uint_eq(have, 100000);
    ck_assert_mem_eq(got, pattern, 100000);
    free(got);
    sc->peer_nxt = seq + 100000;
    tcp_script_flush(sc);
}
END_TEST

START_TEST(window_scale_is_negotiated_and_applied)
{
    teardown();
    fill_pattern();
    sc = tcp_script_new(NULL);
    struct tcp_conn *l = tcp_script_listen(sc, 80, 4);
    /* SYN with MSS 1000 and window scale 4 (RFC 7323). */
    const uint8_t opts[8] = {TCP_OPT_MSS, 4, 0x03, 0xe8, TCP_OPT_NOP, TCP_OPT_WS, 3, 4};
    tcp_script_inject_raw(sc, sc->peer_port, 80, PEER_ISS, 0, TCP_SYN, 65535, opts, 8, NULL, 0);
    struct tcp_script_out o;
    tcp_script_expect_anyseq(sc, TCP_SYN | TCP_ACK, PEER_ISS + 1, &o);
    ck_assert(o.seg.has_ws);
    uint8_t shift = o.seg.ws;
    ck_assert_uint_eq(shift, 3);                       /* 65535 << 3 covers 256 KiB */
    sc->our_nxt = o.seg.seq + 1;
    sc->peer_nxt = PEER_ISS + 1;
    /* The peer's windows are now scaled by 16: 250 means 4000 bytes. */
    sc->peer_wnd = 250;
    tcp_script_send(sc, TCP_ACK, sc->peer_nxt, sc->our_nxt, 0, NULL, 0);
    ck_assert_int_eq(tcp_accept(l, &conn), 0);
    tcp_close(l);
    ck_assert_int_eq(tcp_send(conn, pattern, 5000), 5000);
    uint32_t total = 0;
    while (tcp_script_next(sc, &o)) {
        if (o.seg.len == 0)
            continue;           /* the window update announcing the scaled window */
        ck_assert_uint_eq(o.seg.len, 1000);
        /* Our windows are scaled by 8: the field is the window / 8. The
         * window starts at TCP_BUF_INITIAL (it grows with the path's
         * bandwidth-delay product, up to tcp_rcvbuf). */
        ck_assert_uint_eq(o.seg.wnd, TCP_BUF_INITIAL >> shift);
        total += o.seg.len;
    }
    ck_assert_uint_eq(total, 4000);
}
END_TEST

START_TEST(no_window_scale_unless_the_peer_offers_it)
{
    /* setup_default's peer sent no WS: our SYN,ACK had none, windows are plain. */
    tcp_script_send(sc, TCP_ACK, sc->peer_nxt, sc->our_nxt, 0, pattern, 10);
    tcp_script_advance(sc, TAPIR_MSEC(200));
    struct tcp_script_out o;
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt + 10, &o);
    /* Unscaled; the right edge stays put for 10 bytes (receiver SWS). */
    ck_assert_uint_eq(o.seg.wnd, 65535 - 10);
    sc->peer_nxt += 10;
}
END_TEST

START_TEST(our_syn_offers_window_scale)
{
    teardown();
    sc = tcp_script_new(no_ts_sack);
    int err;
    conn = tcp_conn_new(sc->s, &err);
    ck_assert_int_eq(tcp_connect(conn, TCP_SCRIPT_PEER_IP, 40000), -EINPROGRESS);
    struct tcp_script_out o;
    ck_assert(tcp_script_next(sc, &o));
    ck_assert(o.seg.has_ws);
    ck_assert(o.seg.has_mss);
    ck_assert_uint_eq(o.seg.hdr_len, 28);
}
END_TEST

START_TEST(idle_connections_release_their_buffers)
{
    /* No buffer before any data. */
    ck_assert_ptr_null(conn->sndbuf.mem);
    ck_assert_ptr_null(conn->rcvbuf.mem);
    ck_assert_int_eq(tcp_send(conn, "ping", 4), 4);
    tcp_script_send(sc, TCP_ACK, sc->peer_nxt, sc->our_nxt + 4, 0, "pong", 4);
    sc->our_nxt += 4;
    sc->peer_nxt += 4;
    ck_assert_ptr_nonnull(conn->sndbuf.mem);
    ck_assert_ptr_nonnull(conn->rcvbuf.mem);
    char b[8];
    ck_assert_int_eq(tcp_recv(conn, b, sizeof b, false), 4);
    /* Still there right away (no free/malloc per packet)... */
    ck_assert_ptr_nonnull(conn->rcvbuf.mem);
    /* ... released once idle. */
    tcp_script_advance(sc, TAPIR_SEC(2));
    ck_assert_ptr_null(conn->sndbuf.mem);
    ck_assert_ptr_null(conn->rcvbuf.mem);
    tcp_script_flush(sc);
    /* And they come back when needed. */
    ck_assert_int_eq(tcp_send(conn, "again", 5), 5);
    struct tcp_script_out o;
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt, &o);
    ck_assert_mem_eq(o.seg.data, "again", 5);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tcp_data");
    TCase *t = tcase_create("ESTABLISHED");
    tcase_add_checked_fixture(t, setup_default, teardown);
    tcase_add_test(t, segments_never_exceed_the_peers_mss);
    tcase_add_test(t, segments_never_exceed_our_mtu);
    tcase_add_test(t, no_mss_option_means_536);
    tcase_add_test(t, sender_respects_the_peers_window);
    tcase_add_test(t, zero_and_maximum_windows_from_the_peer);
    tcase_add_test(t, receive_window_shrinks_with_unread_data_and_update_follows_read);
    tcase_add_test(t, nagle_holds_small_segments_while_data_is_unacked);
    tcase_add_test(t, nodelay_sends_small_segments_at_once);
    tcase_add_test(t, out_of_order_segment_gets_immediate_dup_ack_then_delivered_in_order);
    tcase_add_test(t, duplicates_and_overlaps_are_trimmed);
    tcase_add_test(t, out_of_order_memory_is_bounded);
    tcase_add_test(t, delayed_ack_after_the_configured_delay_for_one_segment);
    tcase_add_test(t, ack_at_least_every_second_full_segment);
    tcase_add_test(t, three_dup_acks_trigger_fast_retransmit);
    tcase_add_test(t, newreno_partial_ack_retransmits_the_next_hole);
    tcase_add_test(t, send_buffer_full_returns_eagain_and_short_counts);
    tcase_add_test(t, bulk_transfer_across_the_sequence_wrap_is_exact);
    tcase_add_test(t, window_scale_is_negotiated_and_applied);
    tcase_add_test(t, no_window_scale_unless_the_peer_offers_it);
    tcase_add_test(t, our_syn_offers_window_scale);
    tcase_add_test(t, idle_connections_release_their_buffers);
    suite_add_tcase(s, t);
    return harness_run(s);
}
