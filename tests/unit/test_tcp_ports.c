/* Local ports (src/core/tcp_port.c):
 *   - a connect() by a socket never bound takes a port shared with other
 *     destinations' connections (RFC 6056 3.3.4, Algorithm 4), so one stack
 *     holds more client connections than the ephemeral range has ports, and
 *     runs out only when one destination has used the whole range;
 *   - ports held by bind(), listen() or a listener's connections are never
 *     shared, and bind() with port 0 never takes a shared one;
 *   - a destination's connections walk the range (a freed port is not
 *     taken again at once), from an offset that depends on the destination.
 * The stack's SYNs go nowhere (drop_output): no peer answers, every
 * connection stays in SYN-SENT, which holds its port like any other state. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/stack.h"
#include "core/tcp.h"
#include "tcp_script.h"
#include "harness.h"

#define RANGE (65535u - 49152u + 1u)
#define DEST(k) (TCP_SCRIPT_PEER_IP + (uint32_t)(k))    /* 10.0.0.3, .4, ... */

static struct tcp_script *sc;
static struct tcp_conn **conns;
static size_t nconns;

static void setup(void)
{
    sc = tcp_script_new(NULL);
    sc->drop_output = true;
    conns = calloc(3 * RANGE, sizeof *conns);
    ck_assert_ptr_nonnull(conns);
    nconns = 0;
}

static void teardown(void)
{
    for (size_t i = 0; i < nconns; i++)
        if (conns[i])
            tcp_abort(conns[i]);
    free(conns);
    tcp_script_advance(sc, TAPIR_SEC(3600));
    tcp_script_flush(sc);
    tcp_script_free_checked(sc);
}

static struct tcp_conn *new_conn(void)
{
    int err = 0;
    struct tcp_conn *c = tcp_conn_new(sc->s, &err);
    ck_assert_msg(c != NULL, "tcp_conn_new: %d", err);
    conns[nconns++] = c;
    return c;
}

static uint16_t local_port(const struct tcp_conn *c)
{
    uint32_t ip;
    uint16_t p;
    ck_assert_int_eq(tcp_local_addr(c, &ip, &p), 0);
    return p;
}

/* connect() from a new socket; its port, or 0 when connect() failed with
 * *err. */
static uint16_t connect_to(uint32_t ip, uint16_t port, int *err)
{
    struct tcp_conn *c = new_conn();
    *err = tcp_connect(c, ip, port);
    return *err == -EINPROGRESS ? local_port(c) : 0;
}

START_TEST(more_client_connections_than_ports)
{
    /* Two destinations, 9000 each: 18000 connections, more than the 16384
     * ports of the range. With one range for the whole stack the last
     * 1616 connect()s would fail. */
    static uint32_t uses[65536];
    memset(uses, 0, sizeof uses);
    for (int d = 0; d < 2; d++) {
        for (int k = 0; k < 9000; k++) {
            int err;
            uint16_t p = connect_to(DEST(d), 80, &err);
            ck_assert_msg(err == -EINPROGRESS, "destination %d, connection %d: %d", d, k, err);
            ck_assert_uint_ge(p, 49152);
            uses[p]++;
        }
    }
    unsigned shared = 0, overused = 0;
    for (uint32_t p = 49152; p <= 65535; p++) {
        overused += uses[p] > 2;                /* at most once per destination */
        shared += uses[p] == 2;
    }
    ck_assert_uint_eq(overused, 0);
    ck_assert_uint_ge(shared, 18000 - RANGE);
}
END_TEST

START_TEST(one_destination_uses_the_whole_range_then_fails)
{
    for (uint32_t k = 0; k < RANGE; k++) {
        int err;
        connect_to(DEST(0), 80, &err);
        ck_assert_msg(err == -EINPROGRESS, "connection %u: %d", k, err);
    }
    int err;
    ck_assert_uint_eq(connect_to(DEST(0), 80, &err), 0);
    ck_assert_int_eq(err, -EADDRNOTAVAIL);
    /* Another port on the same host, or another host: new 4-tuples. */
    connect_to(DEST(0), 81, &err);
    ck_assert_int_eq(err, -EINPROGRESS);
    connect_to(DEST(1), 80, &err);
    ck_assert_int_eq(err, -EINPROGRESS);
}
END_TEST

START_TEST(bound_and_listening_ports_are_not_shared)
{
    int err;
    /* A listener on 50000, a socket bound to 50001, one bound with port 0. */
    struct tcp_conn *l = new_conn();
    ck_assert_int_eq(tcp_bind(l, 0, 50000), 0);
    ck_assert_int_eq(tcp_listen(l, 4), 0);
    struct tcp_conn *b = new_conn();
    ck_assert_int_eq(tcp_bind(b, 0, 50001), 0);
    struct tcp_conn *z = new_conn();
    ck_assert_int_eq(tcp_bind(z, 0, 0), 0);
    uint16_t zp = local_port(z);
    /* Every other port of the range goes to connect()s to one destination,
     * and then none is left. */
    for (uint32_t k = 0; k < RANGE - 3; k++) {
        uint16_t p = connect_to(DEST(0), 80, &err);
        ck_assert_msg(err == -EINPROGRESS, "connection %u: %d", k, err);
        ck_assert_uint_ne(p, 50000);
        ck_assert_uint_ne(p, 50001);
        ck_assert_uint_ne(p, zp);
    }
    ck_assert_uint_eq(connect_to(DEST(0), 80, &err), 0);
    ck_assert_int_eq(err, -EADDRNOTAVAIL);
    /* bind() with port 0 takes no port a connect() holds: none is free. */
    struct tcp_conn *z2 = new_conn();
    ck_assert_int_eq(tcp_bind(z2, 0, 0), -EADDRNOTAVAIL);
    /* Nor does an explicit bind() without SO_REUSEADDR (tcp_bind's rule). */
    ck_assert_int_eq(tcp_bind(z2, 0, local_port(conns[nconns - 3])), -EADDRINUSE);
}
END_TEST

START_TEST(a_port_bound_after_connects_is_no_longer_shared)
{
    /* A connect() holds p for DEST(0); a listener then takes p with
     * SO_REUSEADDR (MUST-42). A connect() to DEST(1) must not take p: the
     * port is no longer only connect()s'. */
    int err;
    uint16_t p = connect_to(DEST(0), 80, &err);
    ck_assert_int_eq(err, -EINPROGRESS);
    struct tcp_conn *l = new_conn();
    ck_assert_int_eq(tcp_set_reuseaddr(l, true), 0);
    ck_assert_int_eq(tcp_bind(l, 0, p), 0);
    ck_assert_int_eq(tcp_listen(l, 4), 0);
    for (uint32_t k = 0; k < RANGE - 1; k++) {
        uint16_t q = connect_to(DEST(1), 80, &err);
        ck_assert_msg(err == -EINPROGRESS, "connection %u: %d", k, err);
        ck_assert_uint_ne(q, p);
    }
    ck_assert_uint_eq(connect_to(DEST(1), 80, &err), 0);
    ck_assert_int_eq(err, -EADDRNOTAVAIL);
}
END_TEST

START_TEST(a_freed_port_is_not_taken_again_at_once)
{
    /* RFC 6056 3.1: the next connection to the same destination gets the
     * next port of its sequence, not the one just given back. */
    int err;
    for (int k = 0; k < 100; k++) {
        uint16_t p = connect_to(DEST(0), 80, &err);
        ck_assert_int_eq(err, -EINPROGRESS);
        tcp_abort(conns[nconns - 1]);           /* SYN-SENT: the port is free again */
        conns[nconns - 1] = NULL;
        tcp_script_flush(sc);
        uint16_t q = connect_to(DEST(0), 80, &err);
        ck_assert_int_eq(err, -EINPROGRESS);
        ck_assert_uint_ne(p, q);
        tcp_abort(conns[nconns - 1]);
        conns[nconns - 1] = NULL;
        tcp_script_flush(sc);
    }
}
END_TEST

START_TEST(each_destination_starts_elsewhere)
{
    /* The first port for 16 different remote sockets (addresses, and ports
     * of one address): F of RFC 6056 depends on both, so they are not all
     * the same, nor all consecutive as one shared counter would make them. */
    uint16_t first[16];
    int err;
    for (int k = 0; k < 16; k++) {
        first[k] = connect_to(k < 8 ? DEST(k) : DEST(0), (uint16_t)(k < 8 ? 80 : 1000 + k), &err);
        ck_assert_int_eq(err, -EINPROGRESS);
    }
    unsigned consecutive = 0, distinct = 0;
    for (int k = 1; k < 16; k++) {
        consecutive += first[k] == (uint16_t)(first[k - 1] + 1);
        bool seen = false;
        for (int j = 0; j < k; j++)
            seen |= first[j] == first[k];
        distinct += !seen;
    }
    ck_assert_uint_lt(consecutive, 4);
    ck_assert_uint_ge(distinct, 12);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("tcp_ports");
    TCase *tc = tcase_create("ports");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, more_client_connections_than_ports);
    tcase_add_test(tc, one_destination_uses_the_whole_range_then_fails);
    tcase_add_test(tc, bound_and_listening_ports_are_not_shared);
    tcase_add_test(tc, a_port_bound_after_connects_is_no_longer_shared);
    tcase_add_test(tc, a_freed_port_is_not_taken_again_at_once);
    tcase_add_test(tc, each_destination_starts_elsewhere);
    suite_add_tcase(su, tc);
    return harness_run(su);
}
