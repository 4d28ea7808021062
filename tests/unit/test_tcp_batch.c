/* Batched input (tapir_stack_batch_begin/end): the in-order segments of a
 * batch are acknowledged once, after the batch; a segment that leaves a
 * hole still gets its duplicate ACK at once (RFC 5681 4.2), as does one
 * that changes the state (a FIN); without a batch, every second full
 * segment is acknowledged as before. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "core/stack.h"
#include "core/tcp.h"
#include "core/tcp_conn.h"
#include "tcp_script.h"
#include "harness.h"

#define PEER_ISS 0x1000u
#define SEG 1460u     /* full-sized: the MSS both sides announce */

static struct tcp_script *sc;
static struct tcp_conn *conn;
static uint8_t data[8 * SEG];

static void no_ts_sack(struct tapir_config *cfg) { cfg->tcp_timestamps = false; cfg->tcp_sack = false; }

static void setup(void)
{
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 7);
    sc = tcp_script_new(no_ts_sack);
    struct tcp_conn *l = tcp_script_listen(sc, 80, 4);
    tcp_script_send(sc, TCP_SYN, PEER_ISS, 0, 1460, NULL, 0);
    struct tcp_script_out o;
    tcp_script_expect_anyseq(sc, TCP_SYN | TCP_ACK, PEER_ISS + 1, &o);
    sc->our_nxt = o.seg.seq + 1;
    sc->peer_nxt = PEER_ISS + 1;
    tcp_script_send(sc, TCP_ACK, sc->peer_nxt, sc->our_nxt, 0, NULL, 0);
    ck_assert_int_eq(tcp_accept(l, &conn), 0);
    tcp_close(l);
}

static void teardown(void)
{
    tcp_script_finish(&sc, &conn);
}

/* The peer's segment number k (SEG bytes of data). */
static void send_seg(unsigned k)
{
    tcp_script_send(sc, TCP_ACK, sc->peer_nxt + k * SEG, sc->our_nxt, 0, data + k * SEG, SEG);
}

START_TEST(in_order_batch_is_acknowledged_once_at_the_end)
{
    tapir_stack_batch_begin(sc->s);
    for (unsigned k = 0; k < 6; k++)
        send_seg(k);
    tcp_script_expect_none(sc);          /* nothing while the batch runs */
    tapir_stack_batch_end(sc->s);
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt + 6 * SEG, NULL);
    tcp_script_expect_none(sc);
    uint8_t got[6 * SEG];
    ck_assert_int_eq(tcp_recv(conn, got, sizeof got, false), (long)sizeof got);
    ck_assert(memcmp(got, data, sizeof got) == 0);
}
END_TEST

START_TEST(without_a_batch_every_second_segment_is_acknowledged)
{
    for (unsigned k = 0; k < 4; k++)
        send_seg(k);
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt + 2 * SEG, NULL);
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt + 4 * SEG, NULL);
    tcp_script_expect_none(sc);
}
END_TEST

START_TEST(a_hole_in_a_batch_gets_its_duplicate_ack_at_once)
{
    tapir_stack_batch_begin(sc->s);
    send_seg(0);
    tcp_script_expect_none(sc);
    send_seg(2);                         /* segment 1 missing */
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt + SEG, NULL);
    send_seg(3);
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt + SEG, NULL);
    send_seg(1);                         /* fills the hole */
    tapir_stack_batch_end(sc->s);
    struct tcp_script_out o;
    bool any = false;
    while (tcp_script_next(sc, &o)) {
        any = true;
        ck_assert_uint_eq(o.seg.ack, sc->peer_nxt + 4 * SEG);
    }
    ck_assert(any);
}
END_TEST

/* A FIN ends the batch's deferral (the connection leaves ESTABLISHED);
 * data and FIN are then acknowledged together by one delayed ACK, unless
 * the application closes first and its FIN carries it. */
START_TEST(a_fin_in_a_batch_gets_one_delayed_ack)
{
    tapir_stack_batch_begin(sc->s);
    send_seg(0);
    tcp_script_expect_none(sc);
    tcp_script_send(sc, TCP_ACK | TCP_FIN, sc->peer_nxt + SEG, sc->our_nxt, 0, NULL, 0);
    tapir_stack_batch_end(sc->s);
    tcp_script_expect_none(sc);
    ck_assert_int_eq(tcp_state(conn), TAPIR_TCP_CLOSE_WAIT);
    tcp_script_advance(sc, sc->s->cfg.delack_timeout);
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt + SEG + 1, NULL);
    tcp_script_expect_none(sc);
}
END_TEST

/* A connection reset inside the batch, after it was deferred: it is freed
 * only after the batch's end has looked at it (the sanitizer build checks
 * the memory). */
START_TEST(a_connection_reset_inside_the_batch)
{
    tapir_stack_batch_begin(sc->s);
    send_seg(0);
    tcp_script_send(sc, TCP_RST, sc->peer_nxt + SEG, 0, 0, NULL, 0);
    tcp_abort(conn);                     /* the application lets go at once */
    conn = NULL;
    tapir_stack_batch_end(sc->s);
    tcp_script_flush(sc);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tcp_batch");
    TCase *t = tcase_create("batch");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, in_order_batch_is_acknowledged_once_at_the_end);
    tcase_add_test(t, without_a_batch_every_second_segment_is_acknowledged);
    tcase_add_test(t, a_hole_in_a_batch_gets_its_duplicate_ack_at_once);
    tcase_add_test(t, a_fin_in_a_batch_gets_one_delayed_ack);
    tcase_add_test(t, a_connection_reset_inside_the_batch);
    suite_add_tcase(s, t);
    return harness_run(s);
}
