/* Scripted edge cases of urgent data (RFC 9293 3.8.5, 3.10.7.3,
 * 3.10.7.4 step 6), with Linux's semantics (the urgent byte is
 * SEG.SEQ + SEG.UP - 1):
 *  - an urgent pointer at the FIN's place, past it, or on a FIN-only
 *    segment: no byte is invented, the announcement waits for data that
 *    never comes, and MSG_OOB reports end-of-file (0) as Linux does;
 *  - URG on a SYN,ACK, on a SYN and on the ACK that completes a
 *    simultaneous open: the pointer counts from the segment's own
 *    sequence number, which is the SYN's when the SYN bit is set;
 *  - a pointer far beyond the receive window, the urgent byte lost and
 *    retransmitted, duplicate URG segments. */
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
static uint32_t iss;            /* our ISS (active opens) */

static void new_script(void) { sc = tcp_script_new(NULL); }

static void teardown(void)
{
    tcp_script_finish(&sc, &conn);
}

/* Any segment from the peer: flags as given (no ACK added), urgent pointer
 * field urp, payload len bytes of data. */
static void peer_raw(uint32_t seq, uint32_t ack, uint8_t flags, uint16_t urp, const void *data, size_t len)
{
    tcp_script_send_urg(sc, flags, seq, ack, urp, data, len);
}

/* An ACK-bearing segment carrying the string data at seq. */
static void peer_seg(uint32_t seq, uint8_t flags, uint16_t urp, const char *data)
{
    peer_raw(seq, sc->our_nxt, (uint8_t)(flags | TCP_ACK), urp, data, data ? strlen(data) : 0);
}

/* Data at the peer's next sequence number; a FIN in flags counts too. */
static void peer_data(uint8_t flags, uint16_t urp, const char *data)
{
    peer_seg(sc->peer_nxt, flags, urp, data);
    sc->peer_nxt += (uint32_t)(data ? strlen(data) : 0) + ((flags & TCP_FIN) ? 1u : 0u);
}

static long read_str(char *buf, size_t cap)
{
    long n = tcp_recv(conn, buf, cap - 1, false);
    buf[n > 0 ? n : 0] = '\0';
    return n;
}

static long read_oob(char *c)
{
    return tcp_recv_urgent(conn, c, 1, false);
}

/* ---- an established connection (passive open) ----------------------------- */

static void open_passive(uint32_t rcvbuf)
{
    new_script();
    struct tcp_conn *l = tcp_script_listen(sc, 80, 4);
    if (rcvbuf)
        ck_assert_int_eq(tcp_set_bufsizes(l, 0, rcvbuf), 0);
    sc->peer_wnd = 65535;
    tcp_script_send(sc, TCP_SYN, PEER_ISS, 0, 1460, NULL, 0);
    struct tcp_script_out o;
    tcp_script_expect_anyseq(sc, TCP_SYN | TCP_ACK, PEER_ISS + 1, &o);
    sc->our_nxt = o.seg.seq + 1;
    sc->peer_nxt = PEER_ISS + 1;
    tcp_script_send(sc, TCP_ACK, sc->peer_nxt, sc->our_nxt, 0, NULL, 0);
    ck_assert_int_eq(tcp_accept(l, &conn), 0);
    tcp_close(l);
}

static void setup_established(void) { open_passive(0); }

/* ---- 1. the urgent pointer and the FIN ------------------------------------- */

START_TEST(pointer_at_last_data_byte_with_fin_in_the_same_segment)
{
    char buf[64], c = 0;
    /* RFC 9293 3.8.5: SEG.UP = 3 is "one past" 'c' in the RFC's reading,
     * so 'c' (SEG.SEQ + 2) is the urgent byte; the FIN follows it. */
    peer_data(TCP_PSH | TCP_URG | TCP_FIN, 3, "abc");
    ck_assert_int_eq(conn->state, TAPIR_TCP_CLOSE_WAIT);
    ck_assert_int_eq(conn->urg_state, TCP_URG_HELD);
    ck_assert(tcp_events(conn) & TCP_EV_URGENT);
    ck_assert_int_eq(read_str(buf, sizeof buf), 2);
    ck_assert_str_eq(buf, "ab");
    ck_assert(tcp_at_mark(conn));
    ck_assert_int_eq(read_oob(&c), 1);
    ck_assert_int_eq(c, 'c');
    ck_assert_int_eq(read_str(buf, sizeof buf), 0);     /* EOF: 'c' was not data */
    ck_assert_int_eq(read_oob(&c), -EINVAL);            /* read already */
}
END_TEST

START_TEST(pointer_at_the_fin_invents_no_byte)
{
    char buf[64], c = 0;
    /* SEG.UP = 4 on "abc"+FIN names SEG.SEQ + 3: the FIN, not a data byte. */
    peer_data(TCP_PSH | TCP_URG | TCP_FIN, 4, "abc");
    ck_assert_int_eq(conn->state, TAPIR_TCP_CLOSE_WAIT);
    ck_assert_int_ne(conn->urg_state, TCP_URG_HELD);
    ck_assert_uint_eq(tcp_events(conn) & TCP_EV_URGENT, 0);
    ck_assert_int_eq(tcp_inq(conn), 3);                 /* no byte held out of the stream */
    ck_assert_int_eq(read_str(buf, sizeof buf), 3);
    ck_assert_str_eq(buf, "abc");
    /* Linux: the urgent data was announced and never arrived; at end of
     * file MSG_OOB returns 0 rather than waiting or inventing a byte. */
    ck_assert_int_eq(read_oob(&c), 0);
    ck_assert_int_eq(read_str(buf, sizeof buf), 0);
    ck_assert_uint_eq(conn->rcvbuf.len, 0);
    ck_assert_uint_eq(tcp_events(conn) & TCP_EV_URGENT, 0);
}
END_TEST

START_TEST(mark_at_the_fin_is_passed_once_end_of_file_is_read)
{
    char buf[64];
    peer_data(TCP_PSH | TCP_URG | TCP_FIN, 4, "abc");
    ck_assert(!tcp_at_mark(conn));                      /* "abc" comes first */
    ck_assert_int_eq(read_str(buf, sizeof buf), 3);
    ck_assert(tcp_at_mark(conn));                       /* the next thing is the mark */
    ck_assert_int_eq(tcp_recv(conn, buf, sizeof buf, true), 0);
    ck_assert(tcp_at_mark(conn));                       /* a peek reads nothing */
    ck_assert_int_eq(tcp_recv(conn, buf, 0, false), 0);
    ck_assert(tcp_at_mark(conn));                       /* nor does a read of 0 bytes */
    /* Linux: the read that returns end of file moves copied_seq past the
     * FIN, and SIOCATMARK is 0 from then on. */
    ck_assert_int_eq(read_str(buf, sizeof buf), 0);
    ck_assert(!tcp_at_mark(conn));
    ck_assert_int_eq(read_str(buf, sizeof buf), 0);
    ck_assert(!tcp_at_mark(conn));
}
END_TEST

START_TEST(pointer_at_the_fin_before_the_fin_arrives)
{
    char buf[64], c = 0;
    /* The pointer names the byte after "abc"; only data so far: announced,
     * the read does not wait for it (as Linux: -EAGAIN). */
    peer_data(TCP_PSH | TCP_URG, 4, "abc");
    ck_assert_int_eq(conn->urg_state, TCP_URG_NOTYET);
    ck_assert_int_eq(read_oob(&c), -EAGAIN);
    ck_assert_int_eq(read_str(buf, sizeof buf), 3);
    ck_assert_str_eq(buf, "abc");
    /* Then the FIN takes that sequence number: nothing was urgent, EOF. */
    peer_data(TCP_FIN, 0, NULL);
    ck_assert_int_eq(conn->state, TAPIR_TCP_CLOSE_WAIT);
    ck_assert_int_ne(conn->urg_state, TCP_URG_HELD);
    ck_assert_uint_eq(tcp_events(conn) & TCP_EV_URGENT, 0);
    ck_assert_int_eq(read_oob(&c), 0);
    ck_assert_int_eq(read_str(buf, sizeof buf), 0);
}
END_TEST

START_TEST(urg_on_a_fin_only_segment)
{
    char buf[64], c = 0;
    peer_data(TCP_PSH, 0, "xy");
    /* SEG.UP = 1 on a bare FIN names the FIN itself. */
    peer_data(TCP_URG | TCP_FIN, 1, NULL);
    ck_assert_int_eq(conn->state, TAPIR_TCP_CLOSE_WAIT);
    ck_assert_int_ne(conn->urg_state, TCP_URG_HELD);
    ck_assert_uint_eq(tcp_events(conn) & TCP_EV_URGENT, 0);
    ck_assert_int_eq(tcp_inq(conn), 2);
    ck_assert_int_eq(read_str(buf, sizeof buf), 2);
    ck_assert_str_eq(buf, "xy");
    ck_assert_int_eq(read_oob(&c), 0);
    ck_assert_int_eq(read_str(buf, sizeof buf), 0);
}
END_TEST

START_TEST(pointer_past_the_fin_waits_for_nothing)
{
    char buf[64], c = 0;
    peer_data(TCP_PSH | TCP_URG | TCP_FIN, 100, "abc");
    ck_assert_int_eq(conn->state, TAPIR_TCP_CLOSE_WAIT);
    ck_assert_int_eq(conn->urg_state, TCP_URG_NOTYET);
    ck_assert_uint_eq(tcp_events(conn) & TCP_EV_URGENT, 0);
    ck_assert(!tcp_at_mark(conn));
    ck_assert_int_eq(read_str(buf, sizeof buf), 3);
    ck_assert_str_eq(buf, "abc");
    ck_assert(!tcp_at_mark(conn));
    ck_assert_int_eq(read_oob(&c), 0);
    ck_assert_int_eq(read_str(buf, sizeof buf), 0);
}
END_TEST

/* The same in FIN-WAIT-2, where step 6 still applies: we closed first. */
START_TEST(pointer_at_the_fin_in_fin_wait_2)
{
    char buf[64], c = 0;
    ck_assert_int_eq(tcp_shutdown(conn, false, true), 0);
    tcp_script_expect(sc, TCP_FIN | TCP_ACK, sc->our_nxt, sc->peer_nxt, NULL);
    sc->our_nxt++;
    peer_seg(sc->peer_nxt, 0, 0, NULL);                 /* ACK of our FIN */
    ck_assert_int_eq(conn->state, TAPIR_TCP_FIN_WAIT_2);
    peer_data(TCP_PSH | TCP_URG | TCP_FIN, 3, "ab");    /* names the FIN */
    ck_assert_int_eq(conn->state, TAPIR_TCP_TIME_WAIT);
    ck_assert_int_ne(conn->urg_state, TCP_URG_HELD);
    ck_assert_int_eq(read_str(buf, sizeof buf), 2);
    ck_assert_str_eq(buf, "ab");
    ck_assert_int_eq(read_oob(&c), 0);
    ck_assert_int_eq(read_str(buf, sizeof buf), 0);
}
END_TEST

/* ---- 2. URG and the SYN ---------------------------------------------------- */

/* Our active open: SYN sent, the peer's answer not yet in. */
static void setup_syn_sent(void)
{
    new_script();
    conn = tcp_script_connect(sc, &iss);
    sc->our_nxt = iss + 1;
    sc->peer_wnd = 65535;
}

START_TEST(urg_on_a_syn_ack_counts_from_the_syn)
{
    char buf[64], c = 0;
    /* RFC 9293 3.10.7.3: text and controls on the SYN,ACK continue at step
     * 6. SEG.SEQ is the SYN's number and the text starts one later, so
     * SEG.UP = 4 names SEG.SEQ + 3, the third data byte 'c'. */
    peer_raw(PEER_ISS, iss + 1, TCP_SYN | TCP_ACK | TCP_PSH | TCP_URG, 4, "abcd", 4);
    sc->peer_nxt = PEER_ISS + 5;
    ck_assert_int_eq(conn->state, TAPIR_TCP_ESTABLISHED);
    ck_assert_int_eq(conn->urg_state, TCP_URG_HELD);
    ck_assert(tcp_events(conn) & TCP_EV_URGENT);
    ck_assert_int_eq(read_str(buf, sizeof buf), 2);
    ck_assert_str_eq(buf, "ab");
    ck_assert_int_eq(read_oob(&c), 1);
    ck_assert_int_eq(c, 'c');
    ck_assert_int_eq(read_str(buf, sizeof buf), 1);
    ck_assert_str_eq(buf, "d");
}
END_TEST

START_TEST(urg_on_a_syn_ack_announces_data_to_come)
{
    char buf[64], c = 0;
    /* No text: SEG.UP = 3 names PEER_ISS + 2, the second data byte. */
    peer_raw(PEER_ISS, iss + 1, TCP_SYN | TCP_ACK | TCP_URG, 3, NULL, 0);
    sc->peer_nxt = PEER_ISS + 1;
    ck_assert_int_eq(conn->state, TAPIR_TCP_ESTABLISHED);
    ck_assert_int_eq(conn->urg_state, TCP_URG_NOTYET);
    ck_assert_int_eq(read_oob(&c), -EAGAIN);
    peer_data(TCP_PSH, 0, "xyz");
    ck_assert_int_eq(conn->urg_state, TCP_URG_HELD);
    ck_assert_int_eq(read_str(buf, sizeof buf), 1);
    ck_assert_str_eq(buf, "x");
    ck_assert_int_eq(read_oob(&c), 1);
    ck_assert_int_eq(c, 'y');
    ck_assert_int_eq(read_str(buf, sizeof buf), 1);
    ck_assert_str_eq(buf, "z");
}
END_TEST

START_TEST(urg_on_a_syn_ack_naming_the_syn_is_ignored)
{
    char buf[64], c = 0;
    /* SEG.UP = 1 names SEG.SEQ itself: the SYN, no data byte. */
    peer_raw(PEER_ISS, iss + 1, TCP_SYN | TCP_ACK | TCP_PSH | TCP_URG, 1, "ab", 2);
    sc->peer_nxt = PEER_ISS + 3;
    ck_assert_int_eq(conn->state, TAPIR_TCP_ESTABLISHED);
    ck_assert_int_eq(conn->urg_state, TCP_URG_NONE);
    ck_assert_int_eq(read_oob(&c), -EINVAL);
    ck_assert_int_eq(read_str(buf, sizeof buf), 2);
    ck_assert_str_eq(buf, "ab");
}
END_TEST

/* Simultaneous open (RFC 9293 Figure 8): the peer's SYN crosses ours. Its
 * SYN may carry text and URG; 3.10.7.3 lets them be queued until
 * ESTABLISHED, but the SYN's text is not acknowledged (RCV.NXT = SEG.SEQ
 * + 1), so the peer sends it again and its URG with it: nothing is
 * recorded from the SYN. */
START_TEST(urg_on_a_simultaneous_open_syn_is_left_for_the_retransmission)
{
    char buf[64], c = 0;
    peer_raw(PEER_ISS, 0, TCP_SYN | TCP_URG, 2, "ab", 2);
    tcp_script_expect(sc, TCP_SYN | TCP_ACK, iss, PEER_ISS + 1, NULL);
    ck_assert_int_eq(conn->state, TAPIR_TCP_SYN_RECEIVED);
    ck_assert_int_eq(conn->urg_state, TCP_URG_NONE);
    /* The ACK that completes the open, no text. */
    peer_raw(PEER_ISS + 1, iss + 1, TCP_ACK, 0, NULL, 0);
    ck_assert_int_eq(conn->state, TAPIR_TCP_ESTABLISHED);
    ck_assert_int_eq(conn->urg_state, TCP_URG_NONE);
    ck_assert_int_eq(tcp_recv(conn, buf, sizeof buf, false), -EAGAIN);
    /* The text again, now without the SYN: SEG.UP = 1 names 'a'. */
    sc->peer_nxt = PEER_ISS + 1;
    peer_data(TCP_PSH | TCP_URG, 1, "ab");
    ck_assert_int_eq(conn->urg_state, TCP_URG_HELD);
    ck_assert_int_eq(read_oob(&c), 1);
    ck_assert_int_eq(c, 'a');
    ck_assert_int_eq(read_str(buf, sizeof buf), 1);
    ck_assert_str_eq(buf, "b");
}
END_TEST

START_TEST(urg_on_the_syn_ack_that_completes_a_simultaneous_open)
{
    char buf[64], c = 0;
    peer_raw(PEER_ISS, 0, TCP_SYN, 0, NULL, 0);
    tcp_script_expect(sc, TCP_SYN | TCP_ACK, iss, PEER_ISS + 1, NULL);
    ck_assert_int_eq(conn->state, TAPIR_TCP_SYN_RECEIVED);
    /* The peer's SYN,ACK (same SEG.SEQ as its SYN) with text "abcd": the
     * pointer still counts from the SYN's number, so SEG.UP = 4 names 'c'
     * (PEER_ISS + 3), not 'd'. */
    peer_raw(PEER_ISS, iss + 1, TCP_SYN | TCP_ACK | TCP_PSH | TCP_URG, 4, "abcd", 4);
    sc->peer_nxt = PEER_ISS + 5;
    ck_assert_int_eq(conn->state, TAPIR_TCP_ESTABLISHED);
    ck_assert_int_eq(conn->urg_state, TCP_URG_HELD);
    ck_assert_uint_eq(conn->rcv_up, PEER_ISS + 4);
    ck_assert_int_eq(read_str(buf, sizeof buf), 2);
    ck_assert_str_eq(buf, "ab");
    ck_assert_int_eq(read_oob(&c), 1);
    ck_assert_int_eq(c, 'c');
    ck_assert_int_eq(read_str(buf, sizeof buf), 1);
    ck_assert_str_eq(buf, "d");
}
END_TEST

START_TEST(urg_naming_the_syn_of_a_simultaneous_open_syn_ack_is_ignored)
{
    char buf[64], c = 0;
    peer_raw(PEER_ISS, 0, TCP_SYN, 0, NULL, 0);
    tcp_script_expect(sc, TCP_SYN | TCP_ACK, iss, PEER_ISS + 1, NULL);
    /* SEG.UP = 1 names the SYN: not 'a'. */
    peer_raw(PEER_ISS, iss + 1, TCP_SYN | TCP_ACK | TCP_PSH | TCP_URG, 1, "ab", 2);
    sc->peer_nxt = PEER_ISS + 3;
    ck_assert_int_eq(conn->state, TAPIR_TCP_ESTABLISHED);
    ck_assert_int_eq(conn->urg_state, TCP_URG_NONE);
    ck_assert_int_eq(read_oob(&c), -EINVAL);
    ck_assert_int_eq(read_str(buf, sizeof buf), 2);
    ck_assert_str_eq(buf, "ab");
}
END_TEST

START_TEST(urg_on_the_ack_that_completes_a_simultaneous_open)
{
    char buf[64], c = 0;
    peer_raw(PEER_ISS, 0, TCP_SYN, 0, NULL, 0);
    tcp_script_expect(sc, TCP_SYN | TCP_ACK, iss, PEER_ISS + 1, NULL);
    /* A plain ACK with text (no SYN): SEG.SEQ is the first data byte, so
     * SEG.UP = 2 names 'b'. */
    peer_raw(PEER_ISS + 1, iss + 1, TCP_ACK | TCP_PSH | TCP_URG, 2, "abc", 3);
    sc->peer_nxt = PEER_ISS + 4;
    ck_assert_int_eq(conn->state, TAPIR_TCP_ESTABLISHED);
    ck_assert_int_eq(conn->urg_state, TCP_URG_HELD);
    ck_assert_int_eq(read_str(buf, sizeof buf), 1);
    ck_assert_str_eq(buf, "a");
    ck_assert_int_eq(read_oob(&c), 1);
    ck_assert_int_eq(c, 'b');
    ck_assert_int_eq(read_str(buf, sizeof buf), 1);
    ck_assert_str_eq(buf, "c");
}
END_TEST

/* Passive open: the SYN's URG (and text) is not kept (the text is not
 * acknowledged, see rcv_listen), the ACK that completes the handshake
 * carries it again and counts from its own SEG.SEQ, the first data byte. */
START_TEST(urg_on_a_passive_open_syn_and_on_the_completing_ack)
{
    char buf[64], c = 0;
    new_script();
    struct tcp_conn *l = tcp_script_listen(sc, 80, 4);
    sc->peer_wnd = 65535;
    peer_raw(PEER_ISS, 0, TCP_SYN | TCP_URG, 2, "ab", 2);
    struct tcp_script_out o;
    tcp_script_expect_anyseq(sc, TCP_SYN | TCP_ACK, PEER_ISS + 1, &o);
    sc->our_nxt = o.seg.seq + 1;
    peer_raw(PEER_ISS + 1, sc->our_nxt, TCP_ACK | TCP_PSH | TCP_URG, 2, "ab", 2);
    sc->peer_nxt = PEER_ISS + 3;
    ck_assert_int_eq(tcp_accept(l, &conn), 0);
    tcp_close(l);
    ck_assert_int_eq(conn->state, TAPIR_TCP_ESTABLISHED);
    ck_assert_int_eq(conn->urg_state, TCP_URG_HELD);
    ck_assert_uint_eq(conn->rcv_up, PEER_ISS + 3);
    ck_assert_int_eq(read_str(buf, sizeof buf), 1);
    ck_assert_str_eq(buf, "a");
    ck_assert_int_eq(read_oob(&c), 1);
    ck_assert_int_eq(c, 'b');
    ck_assert_int_eq(tcp_recv(conn, buf, sizeof buf, false), -EAGAIN);
}
END_TEST

/* ---- 3. window, loss, duplicates -------------------------------------------- */

static void setup_small_window(void) { open_passive(4096); }

START_TEST(pointer_far_beyond_the_receive_window)
{
    char buf[1024], c = 0;
    uint32_t wnd = conn->rcv_adv - conn->rcv_nxt;
    ck_assert_uint_le(wnd, 4096);
    uint32_t base = sc->peer_nxt;
    /* SEG.UP = 0xFFFF names base + 0xFFFE, far past the window: announced
     * (Linux keeps any pointer ahead of RCV.NXT), the byte comes later. */
    peer_data(TCP_PSH | TCP_URG, 0xFFFF, "0123456789");
    ck_assert_int_eq(conn->urg_state, TCP_URG_NOTYET);
    ck_assert_uint_eq(conn->rcv_up, base + 0xFFFF);
    ck_assert_int_eq(read_oob(&c), -EAGAIN);
    /* Stream the rest up to and past the urgent byte through the small
     * window, reading as it comes; the byte at offset 0xFFFE is 'U'. */
    static char chunk[1001];
    uint32_t off = 10, got = 0;
    bool held = false;
    while (off < 0xFFFF + 100) {
        uint32_t n = 1000;
        if (off < 0xFFFE && off + n > 0xFFFE)
            n = 0xFFFE - off;                       /* end right before it */
        for (uint32_t i = 0; i < n; i++)
            chunk[i] = off + i == 0xFFFE ? 'U' : 'd';
        chunk[n] = '\0';
        peer_data(TCP_PSH, 0, chunk);
        ck_assert_uint_eq(conn->rcv_nxt, sc->peer_nxt);   /* all of it inside the window */
        off += n;
        if (conn->urg_state == TCP_URG_HELD)
            held = true;
        long r;
        while ((r = tcp_recv(conn, buf, sizeof buf, false)) > 0) {
            ck_assert_ptr_null(memchr(buf, 'U', (size_t)r));   /* never read as data */
            got += (uint32_t)r;
        }
        if (conn->urg_state == TCP_URG_HELD && tcp_at_mark(conn)) {
            ck_assert_int_eq(read_oob(&c), 1);
            ck_assert_int_eq(c, 'U');
        }
        tcp_script_advance(sc, TAPIR_MSEC(200));         /* let window updates go out */
        tcp_script_flush(sc);
    }
    ck_assert(held);
    ck_assert_uint_eq(got, off - 1);                /* every byte but the urgent one */
    ck_assert_uint_eq(sc->peer_nxt, conn->rcv_nxt);
}
END_TEST

/* Fill the receive window without reading; returns the bytes sent. */
static uint32_t fill_window(void)
{
    static char chunk[1001];
    memset(chunk, 'f', 1000);
    uint32_t sent = 0;
    for (int i = 0; i < 64; i++) {
        uint32_t wnd = conn->rcv_adv - conn->rcv_nxt;
        if (wnd == 0)
            break;
        uint32_t n = wnd < 1000 ? wnd : 1000;
        chunk[n] = '\0';
        peer_data(TCP_PSH, 0, chunk);
        chunk[n] = 'f';
        sent += n;
        tcp_script_advance(sc, TAPIR_MSEC(200));
        tcp_script_flush(sc);
    }
    ck_assert_uint_eq(conn->rcv_adv, conn->rcv_nxt);
    return sent;
}

/* RFC 9293 3.10.7.4: a segment that does not fit a zero window is not
 * acceptable, but "special allowance should be made to accept valid
 * ACKs, URGs, and RSTs": the probe's byte is dropped, its urgent pointer
 * is kept, and the byte is urgent when it comes again. */
START_TEST(urg_on_a_zero_window_probe_is_announced)
{
    char buf[1024], c = 0;
    uint32_t filled = fill_window();
    uint32_t base = sc->peer_nxt;
    peer_seg(base, TCP_PSH | TCP_URG, 1, "!");           /* the probe */
    ck_assert_uint_eq(conn->rcv_nxt, base);             /* its byte not taken */
    ck_assert_int_eq(conn->urg_state, TCP_URG_NOTYET);
    ck_assert_uint_eq(conn->rcv_up, base + 1);
    ck_assert_int_eq(read_oob(&c), -EAGAIN);
    uint32_t got = 0;
    long r;
    while ((r = tcp_recv(conn, buf, sizeof buf, false)) > 0)
        got += (uint32_t)r;
    ck_assert_uint_eq(got, filled);
    tcp_script_advance(sc, TAPIR_MSEC(200));
    tcp_script_flush(sc);
    /* The window is open: the byte again, now without URG. */
    peer_seg(base, TCP_PSH, 0, "!");
    sc->peer_nxt = base + 1;
    ck_assert_int_eq(conn->urg_state, TCP_URG_HELD);
    ck_assert(tcp_at_mark(conn));
    ck_assert_int_eq(read_oob(&c), 1);
    ck_assert_int_eq(c, '!');
    ck_assert_int_eq(tcp_recv(conn, buf, sizeof buf, false), -EAGAIN);
}
END_TEST

/* A segment wholly outside the window is dropped before step 6: its URG
 * announces nothing. */
START_TEST(urg_on_a_segment_beyond_the_window_is_ignored)
{
    uint32_t wnd = conn->rcv_adv - conn->rcv_nxt;
    char c = 0;
    peer_seg(sc->peer_nxt + wnd + 10, TCP_PSH | TCP_URG, 1, "zz");
    ck_assert_int_eq(conn->urg_state, TCP_URG_NONE);
    ck_assert_int_eq(read_oob(&c), -EINVAL);
    ck_assert_uint_eq(conn->rcvbuf.len, 0);
}
END_TEST

START_TEST(urgent_byte_lost_and_retransmitted_keeps_the_mark)
{
    char buf[64], c = 0;
    uint32_t base = sc->peer_nxt;
    /* The sender's segments: "ab" URG SEG.UP=4, "cd" URG SEG.UP=2 (both
     * point after 'd', MUST-31), "ef" past SND.UP: no URG. "cd" is lost. */
    peer_seg(base, TCP_PSH | TCP_URG, 4, "ab");
    ck_assert_int_eq(conn->urg_state, TCP_URG_NOTYET);
    peer_seg(base + 4, TCP_PSH, 0, "ef");
    ck_assert_int_eq(conn->urg_state, TCP_URG_NOTYET);
    ck_assert_uint_eq(tcp_events(conn) & TCP_EV_URGENT, 0);
    /* The retransmission repacketizes "cdef": SEG.UP = 2 still names 'd'. */
    peer_seg(base + 2, TCP_PSH | TCP_URG, 2, "cdef");
    sc->peer_nxt = base + 6;
    ck_assert_int_eq(conn->urg_state, TCP_URG_HELD);
    ck_assert_uint_eq(conn->rcv_up, base + 4);
    ck_assert_int_eq(read_str(buf, sizeof buf), 3);
    ck_assert_str_eq(buf, "abc");
    ck_assert_int_eq(read_oob(&c), 1);
    ck_assert_int_eq(c, 'd');
    ck_assert_int_eq(read_str(buf, sizeof buf), 2);
    ck_assert_str_eq(buf, "ef");
}
END_TEST

START_TEST(urgent_byte_lost_and_retransmitted_without_urg)
{
    char buf[64], c = 0;
    uint32_t base = sc->peer_nxt;
    /* Announced by the first segment; the segment with 'd' is lost and
     * comes again without the flag (a middlebox that clears URG, as some
     * do): the mark stays where it was announced. */
    peer_seg(base, TCP_PSH | TCP_URG, 4, "ab");
    peer_seg(base + 2, TCP_PSH, 0, "cdef");
    sc->peer_nxt = base + 6;
    ck_assert_int_eq(conn->urg_state, TCP_URG_HELD);
    ck_assert_int_eq(read_str(buf, sizeof buf), 3);
    ck_assert_str_eq(buf, "abc");
    ck_assert_int_eq(read_oob(&c), 1);
    ck_assert_int_eq(c, 'd');
    ck_assert_int_eq(read_str(buf, sizeof buf), 2);
    ck_assert_str_eq(buf, "ef");
}
END_TEST

START_TEST(duplicate_urg_segment_while_the_byte_is_held)
{
    char buf[64], c = 0;
    uint32_t base = sc->peer_nxt;
    peer_data(TCP_PSH | TCP_URG, 3, "abcd");            /* 'c' urgent */
    ck_assert_int_eq(conn->urg_state, TCP_URG_HELD);
    /* The same segment again (already received): nothing changes, no
     * second urgent byte, no byte taken twice. */
    peer_seg(base, TCP_PSH | TCP_URG, 3, "abcd");
    ck_assert_int_eq(conn->urg_state, TCP_URG_HELD);
    ck_assert_uint_eq(conn->rcv_up, base + 3);
    ck_assert_uint_eq(conn->rcvbuf.len, 4);
    ck_assert_int_eq(read_str(buf, sizeof buf), 2);
    ck_assert_str_eq(buf, "ab");
    /* Once more with the reader at the mark: the held byte stays. */
    peer_seg(base, TCP_PSH | TCP_URG, 3, "abcd");
    ck_assert(tcp_at_mark(conn));
    ck_assert_int_eq(read_oob(&c), 1);
    ck_assert_int_eq(c, 'c');
    /* And after it was read with MSG_OOB: not offered again. */
    peer_seg(base, TCP_PSH | TCP_URG, 3, "abcd");
    ck_assert_int_eq(read_oob(&c), -EINVAL);
    ck_assert_int_eq(read_str(buf, sizeof buf), 1);
    ck_assert_str_eq(buf, "d");
    ck_assert_int_eq(tcp_recv(conn, buf, sizeof buf, false), -EAGAIN);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tcp_urgent_edges");
    TCase *f = tcase_create("fin");
    tcase_add_checked_fixture(f, setup_established, teardown);
    tcase_add_test(f, pointer_at_last_data_byte_with_fin_in_the_same_segment);
    tcase_add_test(f, pointer_at_the_fin_invents_no_byte);
    tcase_add_test(f, mark_at_the_fin_is_passed_once_end_of_file_is_read);
    tcase_add_test(f, pointer_at_the_fin_before_the_fin_arrives);
    tcase_add_test(f, urg_on_a_fin_only_segment);
    tcase_add_test(f, pointer_past_the_fin_waits_for_nothing);
    tcase_add_test(f, pointer_at_the_fin_in_fin_wait_2);
    suite_add_tcase(s, f);
    TCase *y = tcase_create("syn");
    tcase_add_checked_fixture(y, setup_syn_sent, teardown);
    tcase_add_test(y, urg_on_a_syn_ack_counts_from_the_syn);
    tcase_add_test(y, urg_on_a_syn_ack_announces_data_to_come);
    tcase_add_test(y, urg_on_a_syn_ack_naming_the_syn_is_ignored);
    tcase_add_test(y, urg_on_a_simultaneous_open_syn_is_left_for_the_retransmission);
    tcase_add_test(y, urg_on_the_syn_ack_that_completes_a_simultaneous_open);
    tcase_add_test(y, urg_naming_the_syn_of_a_simultaneous_open_syn_ack_is_ignored);
    tcase_add_test(y, urg_on_the_ack_that_completes_a_simultaneous_open);
    suite_add_tcase(s, y);
    TCase *p = tcase_create("passive");
    tcase_add_checked_fixture(p, NULL, teardown);
    tcase_add_test(p, urg_on_a_passive_open_syn_and_on_the_completing_ack);
    suite_add_tcase(s, p);
    TCase *w = tcase_create("window_loss_duplicates");
    tcase_add_checked_fixture(w, setup_established, teardown);
    tcase_add_test(w, urgent_byte_lost_and_retransmitted_keeps_the_mark);
    tcase_add_test(w, urgent_byte_lost_and_retransmitted_without_urg);
    tcase_add_test(w, duplicate_urg_segment_while_the_byte_is_held);
    suite_add_tcase(s, w);
    TCase *sw = tcase_create("small_window");
    tcase_add_checked_fixture(sw, setup_small_window, teardown);
    tcase_add_test(sw, pointer_far_beyond_the_receive_window);
    tcase_add_test(sw, urg_on_a_zero_window_probe_is_announced);
    tcase_add_test(sw, urg_on_a_segment_beyond_the_window_is_ignored);
    suite_add_tcase(s, sw);
    return harness_run(s);
}
