/* Scripted segment tests of urgent data (RFC 9293 3.8.5, 3.10.7.4 step 6)
 * with Linux's semantics: the URG flag and urgent pointer we send
 * (MUST-30, MUST-31, MUST-62) and what we make of the peer's (MUST-32,
 * MUST-33): the urgent byte taken out of the stream, reads stopping at the
 * mark, urgent data announced before it arrives, pointer updates, invalid
 * and duplicate pointers, the byte in a later or out-of-order segment. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/checksum.h"
#include "core/ipv4.h"
#include "core/stack.h"
#include "core/tcp_conn.h"
#include "core/tcp_urgent.h"
#include "core/wire.h"
#include "harness.h"
#include "tcp_script.h"

#define PEER_ISS 0xfffffff0u    /* the peer's data crosses the 2^32 wrap */

static struct tcp_script *sc;
static struct tcp_conn *conn;
static uint32_t seq0;           /* sequence number of our first data byte */

static void open_conn(uint16_t wnd)
{
    sc = tcp_script_new(NULL);
    struct tcp_conn *l = tcp_script_listen(sc, 80, 4);
    sc->peer_wnd = wnd;
    tcp_script_send(sc, TCP_SYN, PEER_ISS, 0, 1460, NULL, 0);
    struct tcp_script_out o;
    tcp_script_expect_anyseq(sc, TCP_SYN | TCP_ACK, PEER_ISS + 1, &o);
    sc->our_nxt = o.seg.seq + 1;
    sc->peer_nxt = PEER_ISS + 1;
    seq0 = sc->our_nxt;
    tcp_script_send(sc, TCP_ACK, sc->peer_nxt, sc->our_nxt, 0, NULL, 0);
    ck_assert_int_eq(tcp_accept(l, &conn), 0);
    tcp_close(l);
}

static void setup(void) { open_conn(65535); }

static void teardown(void)
{
    tcp_script_finish(&sc, &conn);
}

/* The peer sends data at seq with the given flags (ACK always) and urgent
 * pointer urp (the field as sent; meaningful with TCP_URG). */
static void peer_seg(uint32_t seq, uint8_t flags, uint16_t urp, const char *data)
{
    tcp_script_send_urg(sc, (uint8_t)(flags | TCP_ACK), seq, sc->our_nxt, urp, data,
                        data ? strlen(data) : 0);
}

/* Data at the peer's next sequence number; the peer's next moves on. */
static void peer_data(uint8_t flags, uint16_t urp, const char *data)
{
    peer_seg(sc->peer_nxt, flags, urp, data);
    sc->peer_nxt += (uint32_t)strlen(data);
}

static void peer_ack(uint32_t ack)
{
    uint32_t keep = sc->our_nxt;
    sc->our_nxt = ack;
    peer_seg(sc->peer_nxt, 0, 0, NULL);
    sc->our_nxt = keep;
}

/* An ordinary read into a NUL-terminated string; the count or -errno. */
static long read_str(char *buf, size_t cap)
{
    long n = tcp_recv(conn, buf, cap - 1, false);
    buf[n > 0 ? n : 0] = '\0';
    return n;
}

static long read_oob(char *c, bool peek)
{
    return tcp_recv_urgent(conn, c, 1, peek);
}

/* ---- sending -------------------------------------------------------------- */

START_TEST(oob_send_sets_urg_with_pointer_after_its_last_byte)
{
    struct tcp_script_out o;
    ck_assert_int_eq(tcp_send(conn, "abc", 3), 3);
    tcp_script_expect(sc, TCP_ACK | TCP_PSH, seq0, sc->peer_nxt, &o);
    ck_assert(!(o.seg.flags & TCP_URG));
    /* "abc" is unacknowledged: Nagle would hold a small segment, but not
     * urgent data. MUST-62: SND.UP = the octet after "d"; SEG.UP = 1. */
    ck_assert_int_eq(tcp_send_urgent(conn, "d", 1), 1);
    tcp_script_expect(sc, TCP_ACK | TCP_PSH | TCP_URG, seq0 + 3, sc->peer_nxt, &o);
    ck_assert_uint_eq(o.seg.len, 1);
    ck_assert_uint_eq(o.seg.urp, 1);
    ck_assert_int_eq(o.seg.data[0], 'd');
}
END_TEST

START_TEST(every_segment_before_snd_up_carries_the_pointer)
{
    static uint8_t buf[3000];
    memset(buf, 'u', sizeof buf);
    ck_assert_int_eq(tcp_send_urgent(conn, buf, sizeof buf), 3000);
    struct tcp_script_out o;
    uint32_t off = 0;
    while (tcp_script_next(sc, &o)) {
        ck_assert_uint_eq(o.seg.seq, seq0 + off);
        ck_assert(o.seg.flags & TCP_URG);
        ck_assert_uint_eq(o.seg.urp, 3000 - off);          /* SND.UP - SEG.SEQ */
        ck_assert_uint_le(o.seg.len, 1460);                 /* no TSO frame: one pointer each */
        off += o.seg.len;
    }
    ck_assert_uint_eq(off, 3000);
}
END_TEST

START_TEST(pointer_beyond_64k_is_clamped_to_0xffff)
{
    static uint8_t buf[100000];
    memset(buf, 'z', sizeof buf);
    ck_assert_int_eq(tcp_set_bufsizes(conn, 256 * 1024, 0), 0);
    ck_assert_int_eq(tcp_send_urgent(conn, buf, sizeof buf), (long)sizeof buf);
    struct tcp_script_out o;
    uint32_t acked = 0, sent = 0;
    bool saw_clamp = false, saw_exact = false;
    for (int round = 0; round < 200 && acked < sizeof buf; round++) {
        while (tcp_script_next(sc, &o)) {
            if (o.seg.len == 0)
                continue;
            uint32_t off = o.seg.seq - seq0;
            uint32_t dist = (uint32_t)sizeof buf - off;
            ck_assert(o.seg.flags & TCP_URG);
            if (dist > 0xFFFF) {
                ck_assert_uint_eq(o.seg.urp, 0xFFFF);
                saw_clamp = true;
            } else {
                ck_assert_uint_eq(o.seg.urp, dist);
                saw_exact = true;
            }
            if (off + o.seg.len > sent)
                sent = off + o.seg.len;
        }
        acked = sent;
        peer_ack(seq0 + acked);
    }
    ck_assert_uint_eq(acked, sizeof buf);
    ck_assert(saw_clamp);
    ck_assert(saw_exact);
}
END_TEST

START_TEST(urgent_mode_ends_when_snd_up_is_acknowledged)
{
    struct tcp_script_out o;
    ck_assert_int_eq(tcp_send_urgent(conn, "ab", 2), 2);
    tcp_script_expect(sc, TCP_ACK | TCP_PSH | TCP_URG, seq0, sc->peer_nxt, &o);
    ck_assert_uint_eq(o.seg.urp, 2);
    /* Only part acknowledged: a retransmission still carries it. */
    peer_ack(seq0 + 1);
    tcp_script_flush(sc);
    tcp_script_advance_to_next(sc, TAPIR_SEC(5));
    tcp_script_expect(sc, TCP_ACK | TCP_PSH | TCP_URG, seq0 + 1, sc->peer_nxt, &o);
    ck_assert_uint_eq(o.seg.urp, 1);
    peer_ack(seq0 + 2);
    ck_assert(!tcp_urg_mode(conn));
    ck_assert_int_eq(tcp_send(conn, "cd", 2), 2);
    tcp_script_expect(sc, TCP_ACK | TCP_PSH, seq0 + 2, sc->peer_nxt, &o);
    ck_assert(!(o.seg.flags & TCP_URG));
    ck_assert_uint_eq(o.seg.urp, 0);
}
END_TEST

START_TEST(later_oob_send_moves_snd_up_forward_never_back)
{
    struct tcp_script_out o;
    ck_assert_int_eq(tcp_send_urgent(conn, "abc", 3), 3);
    tcp_script_expect(sc, TCP_ACK | TCP_PSH | TCP_URG, seq0, sc->peer_nxt, &o);
    ck_assert_uint_eq(o.seg.urp, 3);
    /* Ordinary data after the mark: it is past SND.UP, so no URG. */
    ck_assert_int_eq(tcp_send(conn, "de", 2), 2);
    tcp_script_expect(sc, TCP_ACK | TCP_PSH, seq0 + 3, sc->peer_nxt, &o);
    ck_assert(!(o.seg.flags & TCP_URG));
    /* A second urgent send: SND.UP moves to after "f". */
    ck_assert_int_eq(tcp_send_urgent(conn, "f", 1), 1);
    tcp_script_expect(sc, TCP_ACK | TCP_PSH | TCP_URG, seq0 + 5, sc->peer_nxt, &o);
    ck_assert_uint_eq(o.seg.urp, 1);
    ck_assert_uint_eq(conn->snd_up, seq0 + 6);
    /* A retransmission from SND.UNA points at the new SND.UP, not the old. */
    tcp_script_advance_to_next(sc, TAPIR_SEC(5));
    tcp_script_expect(sc, TCP_ACK | TCP_PSH | TCP_URG, seq0, sc->peer_nxt, &o);
    ck_assert_uint_eq(o.seg.urp, 6);
}
END_TEST

START_TEST(urgent_notice_goes_out_while_the_window_is_closed)
{
    struct tcp_script_out o;
    sc->peer_wnd = 0;
    peer_ack(seq0);                                 /* the peer closes its window */
    tcp_script_flush(sc);
    ck_assert_int_eq(tcp_send_urgent(conn, "xyz", 3), 3);
    tcp_script_expect_none(sc);                     /* no room for the data */
    /* The peer sends data; our ACK (SEQ = SND.NXT) announces the urgent
     * data ahead: SEG.UP = SND.UP - SEG.SEQ = 3 (MUST-31: the sender
     * reports urgent data even when it cannot send it). */
    peer_data(TCP_PSH, 0, "hello");
    tcp_script_advance(sc, TAPIR_MSEC(500));
    bool found = false;
    while (tcp_script_next(sc, &o)) {
        if (o.seg.len == 0 && o.seg.ack == sc->peer_nxt) {
            ck_assert(o.seg.flags & TCP_URG);
            ck_assert_uint_eq(o.seg.seq, seq0);
            ck_assert_uint_eq(o.seg.urp, 3);
            found = true;
        }
    }
    ck_assert(found);
}
END_TEST

START_TEST(zero_length_oob_send_marks_nothing)
{
    ck_assert_int_eq(tcp_send_urgent(conn, "", 0), 0);
    ck_assert(!tcp_urg_mode(conn));
    ck_assert_int_eq(tcp_send(conn, "a", 1), 1);
    struct tcp_script_out o;
    tcp_script_expect(sc, TCP_ACK | TCP_PSH, seq0, sc->peer_nxt, &o);
    ck_assert(!(o.seg.flags & TCP_URG));
}
END_TEST

/* With TSO the device copies one header onto every wire segment, so one
 * urgent pointer would be wrong for all but the first: urgent data goes
 * out as separate segments. */
static unsigned meta_frames, meta_gso_frames;
static int count_meta(void *ctx, const uint8_t *f, size_t len, const struct tapir_frame_meta *m)
{
    (void)ctx;
    (void)f;
    (void)len;
    meta_frames++;
    if (m->gso_size)
        meta_gso_frames++;
    return 0;
}

START_TEST(urgent_data_is_not_sent_as_tso_frames)
{
    static uint8_t buf[4380];                       /* the initial window: 3 segments */
    memset(buf, 't', sizeof buf);
    ck_assert_int_eq(tapir_stack_set_output_meta(sc->s, count_meta, NULL,
                                                 TAPIR_OFFLOAD_CSUM | TAPIR_OFFLOAD_TSO4), 0);
    meta_frames = meta_gso_frames = 0;
    ck_assert_int_eq(tcp_send_urgent(conn, buf, sizeof buf), (long)sizeof buf);
    ck_assert_uint_eq(meta_gso_frames, 0);
    ck_assert_uint_eq(meta_frames, 3);                  /* MSS-sized pieces */
    /* Once acknowledged, ordinary data goes as a TSO frame again: the
     * device can segment here, so the check above means something. */
    peer_ack(seq0 + (uint32_t)sizeof buf);
    meta_frames = meta_gso_frames = 0;
    ck_assert_int_eq(tcp_send(conn, buf, sizeof buf), (long)sizeof buf);
    ck_assert_uint_ge(meta_gso_frames, 1);
}
END_TEST

/* ---- receiving ------------------------------------------------------------ */

START_TEST(urgent_byte_is_taken_out_of_the_stream_and_reads_stop_at_the_mark)
{
    char buf[64], c = 0;
    ck_assert_uint_eq(tcp_events(conn) & TCP_EV_URGENT, 0);
    /* "abcd" with the pointer after 'd' (Linux/BSD: 'd' is urgent). */
    peer_data(TCP_PSH | TCP_URG, 4, "abcd");
    peer_data(TCP_PSH, 0, "ef");
    ck_assert(tcp_events(conn) & TCP_EV_URGENT);
    ck_assert_int_eq(tcp_inq(conn), 3);
    ck_assert(!tcp_at_mark(conn));
    ck_assert_int_eq(read_str(buf, sizeof buf), 3);
    ck_assert_str_eq(buf, "abc");
    ck_assert(tcp_at_mark(conn));
    ck_assert_int_eq(tcp_inq(conn), 0);                 /* as Linux at the mark */
    ck_assert_int_eq(read_oob(&c, true), 1);            /* MSG_PEEK leaves it */
    ck_assert_int_eq(c, 'd');
    ck_assert_int_eq(read_oob(&c, false), 1);
    ck_assert_int_eq(c, 'd');
    ck_assert_uint_eq(tcp_events(conn) & TCP_EV_URGENT, 0);
    ck_assert_int_eq(read_oob(&c, false), -EINVAL);     /* read already */
    ck_assert_int_eq(read_str(buf, sizeof buf), 2);
    ck_assert_str_eq(buf, "ef");                        /* 'd' never in the stream */
    ck_assert(!tcp_at_mark(conn));
    ck_assert_int_eq(tcp_recv(conn, buf, sizeof buf, false), -EAGAIN);
}
END_TEST

START_TEST(reading_past_the_mark_loses_the_urgent_byte)
{
    char buf[64], c = 0;
    peer_data(TCP_PSH | TCP_URG, 4, "abcdef");
    ck_assert_int_eq(read_str(buf, sizeof buf), 3);
    ck_assert_str_eq(buf, "abc");
    /* A peek at the mark steps over the byte without taking anything. */
    ck_assert_int_eq(tcp_recv(conn, buf, sizeof buf, true), 2);
    ck_assert_int_eq(memcmp(buf, "ef", 2), 0);
    ck_assert(tcp_at_mark(conn));
    ck_assert_int_eq(read_str(buf, sizeof buf), 2);
    ck_assert_str_eq(buf, "ef");
    ck_assert_int_eq(read_oob(&c, false), -EINVAL);     /* as Linux */
    ck_assert_uint_eq(tcp_events(conn) & TCP_EV_URGENT, 0);
}
END_TEST

START_TEST(lone_urgent_byte_is_not_readable_data)
{
    char buf[8], c = 0;
    peer_data(TCP_PSH | TCP_URG, 1, "x");
    unsigned ev = tcp_events(conn);
    ck_assert(ev & TCP_EV_URGENT);
    ck_assert_uint_eq(ev & TCP_EV_READABLE, 0);
    ck_assert(tcp_at_mark(conn));
    ck_assert_int_eq(read_oob(&c, false), 1);
    ck_assert_int_eq(c, 'x');
    ck_assert_int_eq(tcp_recv(conn, buf, sizeof buf, false), -EAGAIN);
    ck_assert(!tcp_at_mark(conn));
    ck_assert_uint_eq(conn->rcvbuf.len, 0);
}
END_TEST

START_TEST(urgent_data_announced_before_it_arrives)
{
    char buf[64], c = 0;
    /* The pointer names the 5th byte; only 2 came: announced, not arrived. */
    peer_data(TCP_PSH | TCP_URG, 5, "ab");
    ck_assert_int_eq(conn->urg_state, TCP_URG_NOTYET);
    ck_assert_int_eq(read_oob(&c, false), -EAGAIN);
    ck_assert_uint_eq(tcp_events(conn) & TCP_EV_URGENT, 0);
    ck_assert_int_eq(read_str(buf, sizeof buf), 2);
    ck_assert_str_eq(buf, "ab");
    /* The rest arrives in a segment without URG: 'e' is the urgent byte. */
    peer_data(TCP_PSH, 0, "cdef");
    ck_assert(tcp_events(conn) & TCP_EV_URGENT);
    ck_assert_int_eq(read_str(buf, sizeof buf), 2);
    ck_assert_str_eq(buf, "cd");
    ck_assert_int_eq(read_oob(&c, false), 1);
    ck_assert_int_eq(c, 'e');
    ck_assert_int_eq(read_str(buf, sizeof buf), 1);
    ck_assert_str_eq(buf, "f");
}
END_TEST

START_TEST(urgent_byte_in_an_out_of_order_segment)
{
    char buf[64], c = 0;
    uint32_t base = sc->peer_nxt;
    /* "cde" (urgent 'e') arrives before "ab". */
    peer_seg(base + 2, TCP_PSH | TCP_URG, 3, "cde");
    ck_assert_int_eq(conn->urg_state, TCP_URG_NOTYET);
    ck_assert_int_eq(read_oob(&c, false), -EAGAIN);
    peer_seg(base, TCP_PSH, 0, "ab");
    sc->peer_nxt = base + 5;
    ck_assert(tcp_events(conn) & TCP_EV_URGENT);
    ck_assert_int_eq(read_str(buf, sizeof buf), 4);
    ck_assert_str_eq(buf, "abcd");
    ck_assert_int_eq(read_oob(&c, false), 1);
    ck_assert_int_eq(c, 'e');
}
END_TEST

START_TEST(newer_pointer_replaces_the_held_byte)
{
    char buf[64], c = 0;
    peer_data(TCP_PSH | TCP_URG, 3, "abc");         /* 'c' urgent */
    ck_assert_int_eq(conn->urg_state, TCP_URG_HELD);
    peer_data(TCP_PSH | TCP_URG, 2, "de");          /* now 'e' */
    /* One urgent byte at a time: 'c' becomes ordinary data (as Linux). */
    ck_assert_int_eq(read_str(buf, sizeof buf), 4);
    ck_assert_str_eq(buf, "abcd");
    ck_assert_int_eq(read_oob(&c, false), 1);
    ck_assert_int_eq(c, 'e');
}
END_TEST

START_TEST(newer_pointer_with_the_reader_at_the_old_mark)
{
    char buf[64], c = 0;
    peer_data(TCP_PSH | TCP_URG, 3, "abc");         /* 'c' urgent */
    ck_assert_int_eq(read_str(buf, sizeof buf), 2); /* "ab": at the mark */
    peer_data(TCP_PSH | TCP_URG, 2, "de");          /* 'e' urgent now */
    /* The old byte at the reader's position is stepped over, not turned
     * into data (Linux's rule). */
    ck_assert_int_eq(read_str(buf, sizeof buf), 1);
    ck_assert_str_eq(buf, "d");
    ck_assert_int_eq(read_oob(&c, false), 1);
    ck_assert_int_eq(c, 'e');
}
END_TEST

START_TEST(invalid_urgent_pointers_are_ignored)
{
    char buf[64], c = 0;
    /* A zero pointer names no byte. */
    peer_data(TCP_PSH | TCP_URG, 0, "abc");
    ck_assert_int_eq(conn->urg_state, TCP_URG_NONE);
    ck_assert_int_eq(read_oob(&c, false), -EINVAL);
    /* A pointer at data already received: a retransmission of "abc" plus
     * new "def", pointing at 'b'. */
    peer_seg(sc->peer_nxt - 3, TCP_PSH | TCP_URG, 2, "abcdef");
    sc->peer_nxt += 3;
    ck_assert_int_eq(conn->urg_state, TCP_URG_NONE);
    ck_assert_uint_eq(tcp_events(conn) & TCP_EV_URGENT, 0);
    ck_assert_int_eq(read_str(buf, sizeof buf), 6);
    ck_assert_str_eq(buf, "abcdef");
    /* A zero pointer on an out-of-order segment (it would name the byte
     * before the segment, which has not arrived). */
    peer_seg(sc->peer_nxt + 2, TCP_PSH | TCP_URG, 0, "xy");
    ck_assert_int_eq(conn->urg_state, TCP_URG_NONE);
    /* A pointer at data already read. */
    peer_seg(sc->peer_nxt - 6, TCP_PSH | TCP_URG, 1, "abcdef");
    ck_assert_int_eq(conn->urg_state, TCP_URG_NONE);
    ck_assert_int_eq(tcp_recv(conn, buf, sizeof buf, false), -EAGAIN);
    ck_assert_int_eq(conn->state, TAPIR_TCP_ESTABLISHED);
}
END_TEST

START_TEST(duplicate_urg_segments_change_nothing)
{
    char buf[64], c = 0;
    uint32_t base = sc->peer_nxt;
    peer_seg(base, TCP_PSH | TCP_URG, 6, "ab");     /* announces the 6th byte */
    peer_seg(base, TCP_PSH | TCP_URG, 6, "ab");
    ck_assert_int_eq(conn->urg_state, TCP_URG_NOTYET);
    ck_assert_uint_eq(conn->rcv_up, base + 6);
    /* An older pointer (still ahead of the data) does not move RCV.UP back. */
    peer_seg(base + 2, TCP_PSH | TCP_URG, 2, "c");
    ck_assert_uint_eq(conn->rcv_up, base + 6);
    ck_assert_int_eq(conn->urg_state, TCP_URG_NOTYET);
    peer_seg(base + 2, TCP_PSH | TCP_URG, 4, "cdef");
    sc->peer_nxt = base + 6;
    ck_assert_int_eq(conn->urg_state, TCP_URG_HELD);
    ck_assert_int_eq(read_str(buf, sizeof buf), 5);
    ck_assert_str_eq(buf, "abcde");
    ck_assert_int_eq(read_oob(&c, false), 1);
    ck_assert_int_eq(c, 'f');
    /* The whole thing again: old, ignored; the byte is not offered twice. */
    peer_seg(base + 2, TCP_PSH | TCP_URG, 4, "cdef");
    ck_assert_int_eq(read_oob(&c, false), -EINVAL);
    ck_assert_uint_eq(tcp_events(conn) & TCP_EV_URGENT, 0);
    ck_assert_int_eq(tcp_recv(conn, buf, sizeof buf, false), -EAGAIN);
}
END_TEST

START_TEST(oobinline_keeps_the_byte_in_the_stream)
{
    char buf[64], c = 0;
    tcp_set_oobinline(conn, true);
    peer_data(TCP_PSH | TCP_URG, 4, "abcdef");
    ck_assert(tcp_events(conn) & TCP_EV_URGENT);        /* Linux reports POLLPRI inline too */
    ck_assert_int_eq(tcp_inq(conn), 6);
    ck_assert_int_eq(read_oob(&c, false), -EINVAL);
    ck_assert_int_eq(read_str(buf, sizeof buf), 3);     /* still stops at the mark */
    ck_assert_str_eq(buf, "abc");
    ck_assert(tcp_at_mark(conn));
    ck_assert_int_eq(read_str(buf, sizeof buf), 3);
    ck_assert_str_eq(buf, "def");
    ck_assert(!tcp_at_mark(conn));
    ck_assert_uint_eq(tcp_events(conn) & TCP_EV_URGENT, 0);
}
END_TEST

START_TEST(urg_after_the_peers_fin_is_ignored)
{
    char c = 0;
    peer_seg(sc->peer_nxt, TCP_FIN, 0, NULL);
    sc->peer_nxt++;
    ck_assert_int_eq(conn->state, TAPIR_TCP_CLOSE_WAIT);
    peer_seg(sc->peer_nxt, TCP_URG, 1, NULL);
    ck_assert_int_eq(conn->urg_state, TCP_URG_NONE);
    ck_assert_int_eq(read_oob(&c, false), -EINVAL);
}
END_TEST

START_TEST(outq_counts_unacknowledged_bytes)
{
    ck_assert_int_eq(tcp_outq(conn), 0);
    ck_assert_int_eq(tcp_send(conn, "abcdef", 6), 6);
    ck_assert_int_eq(tcp_outq(conn), 6);
    peer_ack(seq0 + 4);
    ck_assert_int_eq(tcp_outq(conn), 2);
    peer_ack(seq0 + 6);
    ck_assert_int_eq(tcp_outq(conn), 0);
    /* Linux counts an unacknowledged FIN as one. */
    ck_assert_int_eq(tcp_shutdown(conn, false, true), 0);
    ck_assert_int_eq(tcp_outq(conn), 1);
    peer_ack(seq0 + 7);
    ck_assert_int_eq(conn->state, TAPIR_TCP_FIN_WAIT_2);
    ck_assert_int_eq(tcp_outq(conn), 0);
}
END_TEST

/* While connecting, our SYN is the one unacknowledged octet (as Linux). */
START_TEST(outq_counts_a_syn_waiting_for_its_ack)
{
    int err;
    struct tcp_conn *c = tcp_conn_new(sc->s, &err);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(tcp_outq(c), 0);
    ck_assert_int_eq(tcp_connect(c, TCP_SCRIPT_PEER_IP, sc->peer_port), -EINPROGRESS);
    ck_assert_int_eq(tcp_state(c), TAPIR_TCP_SYN_SENT);
    ck_assert_int_eq(tcp_outq(c), 1);
    tcp_abort(c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tcp_urgent");
    TCase *t = tcase_create("send");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, oob_send_sets_urg_with_pointer_after_its_last_byte);
    tcase_add_test(t, every_segment_before_snd_up_carries_the_pointer);
    tcase_add_test(t, pointer_beyond_64k_is_clamped_to_0xffff);
    tcase_add_test(t, urgent_mode_ends_when_snd_up_is_acknowledged);
    tcase_add_test(t, later_oob_send_moves_snd_up_forward_never_back);
    tcase_add_test(t, urgent_notice_goes_out_while_the_window_is_closed);
    tcase_add_test(t, zero_length_oob_send_marks_nothing);
    tcase_add_test(t, outq_counts_unacknowledged_bytes);
    tcase_add_test(t, outq_counts_a_syn_waiting_for_its_ack);
    tcase_add_test(t, urgent_data_is_not_sent_as_tso_frames);
    suite_add_tcase(s, t);
    TCase *r = tcase_create("receive");
    tcase_add_checked_fixture(r, setup, teardown);
    tcase_add_test(r, urgent_byte_is_taken_out_of_the_stream_and_reads_stop_at_the_mark);
    tcase_add_test(r, reading_past_the_mark_loses_the_urgent_byte);
    tcase_add_test(r, lone_urgent_byte_is_not_readable_data);
    tcase_add_test(r, urgent_data_announced_before_it_arrives);
    tcase_add_test(r, urgent_byte_in_an_out_of_order_segment);
    tcase_add_test(r, newer_pointer_replaces_the_held_byte);
    tcase_add_test(r, newer_pointer_with_the_reader_at_the_old_mark);
    tcase_add_test(r, invalid_urgent_pointers_are_ignored);
    tcase_add_test(r, duplicate_urg_segments_change_nothing);
    tcase_add_test(r, oobinline_keeps_the_byte_in_the_stream);
    tcase_add_test(r, urg_after_the_peers_fin_is_ignored);
    suite_add_tcase(s, r);
    return harness_run(s);
}
