/* Regressions for what the live fuzzer (tests/sim/test_tcp_fuzz_live.c)
 * found, each as a small scripted test: one stack, a scripted peer. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "core/tcp_conn.h"
#include "harness.h"
#include "tcp_script.h"

#define PEER_ISS 0xfffff000u    /* the peer's sequence numbers cross 2^32 */

static void sack_on(struct tapir_config *cfg) { cfg->tcp_sack = true; }

/* close() with no unread in-order data frees the receive ring. Data held
 * out of order goes with it, so the ACKs the orphan sends afterwards must
 * not report it in SACK blocks any more (RFC 2018 3: a block reports data
 * the receiver holds; 8: a receiver that discards SACKed data reneges). The
 * fuzzer saw an orphan in FIN_WAIT_1 whose out-of-order ranges outlived
 * the ring that held them. */
START_TEST(close_forgets_out_of_order_data_it_discards)
{
    struct tcp_script *sc = tcp_script_new(sack_on);
    struct tcp_conn *c = tcp_script_passive_open_sack(sc, 80, PEER_ISS, 1000, true);
    ck_assert(c->sack_ok);
    uint8_t data[100];
    memset(data, 'o', sizeof data);
    /* A hole of 100 bytes, then 100 bytes out of order: a duplicate ACK
     * with one SACK block. */
    tcp_script_send(sc, TCP_ACK, sc->peer_nxt + 100, sc->our_nxt, 0, data, sizeof data);
    struct tcp_script_out o;
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt, &o);
    ck_assert_uint_eq(o.seg.nsack, 1);
    ck_assert_uint_eq(o.seg.sack[0].start, sc->peer_nxt + 100);

    tcp_close(c);           /* nothing readable: FIN, no RST */
    tcp_script_expect(sc, TCP_FIN | TCP_ACK, sc->our_nxt, sc->peer_nxt, &o);
    ck_assert_msg(o.seg.nsack == 0, "the FIN reports %u SACK block(s) for data close() discarded", o.seg.nsack);
    sc->our_nxt++;
    /* The peer acknowledges the FIN and closes too. */
    tcp_script_send(sc, TCP_ACK | TCP_FIN, sc->peer_nxt, sc->our_nxt, 0, NULL, 0);
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt + 1, &o);
    ck_assert_uint_eq(o.seg.nsack, 0);
    c = NULL;
    tcp_script_finish(&sc, &c);
}
END_TEST

/* A listener's SO_OOBINLINE holds for its connections from their SYN on,
 * not only from accept() (Linux clones the listener, SOCK_URGINLINE
 * included): urgent data that arrives before accept() stays in the stream
 * (RFC 9293 3.8.5, RFC 6093 5: urgent data in line, the mark the only
 * trace). The handshake fuzzer (test_tcp_fuzz_handshake) saw a connection
 * not accepted yet drop its held urgent byte when a newer urgent pointer
 * arrived (as an out-of-band reader standing at it would), so the
 * application, which had asked for urgent data in line, read the stream
 * with a byte missing. */
START_TEST(listener_oobinline_holds_before_accept)
{
    struct tcp_script *sc = tcp_script_new(NULL);
    struct tcp_conn *l = tcp_script_listen(sc, sc->local_port, 16);
    tcp_set_oobinline(l, true);
    tcp_script_send(sc, TCP_SYN, PEER_ISS, 0, 1460, NULL, 0);
    struct tcp_script_out o;
    tcp_script_expect_anyseq(sc, TCP_SYN | TCP_ACK, PEER_ISS + 1, &o);
    uint32_t iss = o.seg.seq;
    tcp_script_send(sc, TCP_ACK, PEER_ISS + 1, iss + 1, 0, NULL, 0);
    uint8_t data[200];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 7 + 1);
    /* Two segments before accept(): the first byte urgent, then a newer
     * urgent pointer inside the second. */
    tcp_script_send_urg(sc, TCP_ACK | TCP_URG, PEER_ISS + 1, iss + 1, 1, data, 100);
    tcp_script_send_urg(sc, TCP_ACK | TCP_URG, PEER_ISS + 101, iss + 1, 50, data + 100, 100);
    tcp_script_flush(sc);
    struct tcp_conn *c = NULL;
    ck_assert_int_eq(tcp_accept(l, &c), 0);
    tcp_close(l);
    ck_assert_msg(tcp_get_oobinline(c), "the accepted connection lost the listener's SO_OOBINLINE");
    uint8_t got[300];
    long n = 0, k;
    while ((k = tcp_recv(c, got + n, sizeof got - (size_t)n, false)) > 0)
        n += k;
    ck_assert_int_eq(n, (long)sizeof data);
    ck_assert_msg(memcmp(got, data, sizeof data) == 0, "the stream read in line differs from what was sent");
    sc->peer_nxt = PEER_ISS + 1 + sizeof data;
    sc->our_nxt = iss + 1;
    tcp_script_close_cleanly(sc, c);
    tcp_script_free_checked(sc);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tcp_fuzz_regress");
    TCase *tc = tcase_create("regress");
    tcase_add_test(tc, close_forgets_out_of_order_data_it_discards);
    tcase_add_test(tc, listener_oobinline_holds_before_accept);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
