/* Connection failures and listening through the socket API (two started
 * stacks on a realtime vlink, no root):
 *   TCP_USER_TIMEOUT (RFC 9293 MUST-21) aborts a connection whose data
 *   goes unacknowledged, and is inherited by accepted sockets;
 *   TCP_SYNCNT bounds one connect;
 *   MUST-42: a listener on the local port of a connection still in
 *   SYN-SENT takes other connections, and the SYN-SENT one completes. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "sock_env.h"
#include "harness.h"
#include "tapir/vlink.h"

static struct sock_env env;

static void tune(struct tapir_config *cfg)
{
    cfg->rto_initial = TAPIR_MSEC(100);
    cfg->rto_min = TAPIR_MSEC(50);
    cfg->arp_retry_interval = TAPIR_MSEC(100);
}

static void setup(void) { sockenv_start(&env, tune); }
static void teardown(void) { sockenv_stop(&env); }

static int get_int(int fd, int level, int name)
{
    int v = -1;
    socklen_t len = sizeof v;
    ck_assert_int_eq(tapir_getsockopt(fd, level, name, &v, &len), 0);
    return v;
}

static void set_int(int fd, int level, int name, int v)
{
    ck_assert_int_eq(tapir_setsockopt(fd, level, name, &v, sizeof v), 0);
}

START_TEST(user_timeout_aborts_with_etimedout)
{
    int c, s;
    sockenv_pair(&env, 6000, &c, &s, NULL);
    set_int(c, IPPROTO_TCP, TCP_USER_TIMEOUT, 400);
    ck_assert_int_eq(get_int(c, IPPROTO_TCP, TCP_USER_TIMEOUT), 400);
    sockenv_link_loss(&env, 1.0);
    uint64_t t0 = sockenv_ms();
    ck_assert_int_eq(tapir_write(c, "ping", 4), 4);
    /* The default R2 (15 retransmissions from a 50 ms RTO, doubling to
     * 60 s) would take many minutes; the user timeout ends it at 400 ms. */
    short ev = sockenv_wait(c, POLLIN, 5000);
    uint64_t took = sockenv_ms() - t0;
    ck_assert(ev & (POLLIN | POLLERR));
    char b[4];
    errno = 0;
    ck_assert_int_eq(tapir_read(c, b, sizeof b), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    ck_assert_uint_ge(took, 400);
    ck_assert_uint_lt(took, 4000);
    sockenv_link_loss(&env, 0);
}
END_TEST

START_TEST(accepted_socket_inherits_user_timeout)
{
    int l = sockenv_listen(env.b, 6100);
    set_int(l, IPPROTO_TCP, TCP_USER_TIMEOUT, 700);
    set_int(l, IPPROTO_TCP, TCP_SYNCNT, 3);
    int c = tapir_socket_on(env.a, AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in to = sockenv_addr("10.0.0.3", 6100);
    ck_assert_int_eq(tapir_connect(c, (struct sockaddr *)&to, sizeof to), 0);
    int s = tapir_accept(l, NULL, NULL);
    ck_assert_int_ge(s, TAPIR_FD_BASE);
    ck_assert_int_eq(get_int(s, IPPROTO_TCP, TCP_USER_TIMEOUT), 700);
    ck_assert_int_eq(get_int(s, IPPROTO_TCP, TCP_SYNCNT), 3);
    ck_assert_int_eq(get_int(c, IPPROTO_TCP, TCP_USER_TIMEOUT), 0);
}
END_TEST

START_TEST(syncnt_bounds_a_connect)
{
    int fd = tapir_socket(AF_INET, SOCK_STREAM, 0);
    set_int(fd, IPPROTO_TCP, TCP_SYNCNT, 1);
    struct sockaddr_in to = sockenv_addr("10.0.0.99", 5000);
    uint64_t t0 = sockenv_ms();
    errno = 0;
    ck_assert_int_eq(tapir_connect(fd, (struct sockaddr *)&to, sizeof to), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    /* SYN and one retry: 100 + 200 ms (the default 8 retries: ~50 s). */
    ck_assert_uint_lt(sockenv_ms() - t0, 5000);
}
END_TEST

START_TEST(listen_beside_a_syn_sent_connection)
{
    int lb = sockenv_listen(env.b, 7000);
    /* A's connect to B stays in SYN-SENT while the link loses everything. */
    sockenv_link_loss(&env, 1.0);
    int c1 = tapir_socket_on(env.a, AF_INET, SOCK_STREAM, 0);
    int fl = tapir_fcntl(c1, F_GETFL);
    ck_assert_int_eq(tapir_fcntl(c1, F_SETFL, fl | O_NONBLOCK), 0);
    struct sockaddr_in to = sockenv_addr("10.0.0.3", 7000);
    errno = 0;
    ck_assert_int_eq(tapir_connect(c1, (struct sockaddr *)&to, sizeof to), -1);
    ck_assert_int_eq(errno, EINPROGRESS);
    struct sockaddr_in me;
    socklen_t mlen = sizeof me;
    ck_assert_int_eq(tapir_getsockname(c1, (struct sockaddr *)&me, &mlen), 0);
    uint16_t p = ntohs(me.sin_port);
    ck_assert_uint_ne(p, 0);

    /* MUST-42: LISTEN on p. As Linux, the port in use asks for SO_REUSEADDR. */
    int l = tapir_socket_on(env.a, AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in any = sockenv_addr("0.0.0.0", p);
    errno = 0;
    ck_assert_int_eq(tapir_bind(l, (struct sockaddr *)&any, sizeof any), -1);
    ck_assert_int_eq(errno, EADDRINUSE);
    set_int(l, SOL_SOCKET, SO_REUSEADDR, 1);
    ck_assert_int_eq(tapir_bind(l, (struct sockaddr *)&any, sizeof any), 0);
    ck_assert_int_eq(tapir_listen(l, 4), 0);
    struct tapir_tcp_info info;
    socklen_t ilen = sizeof info;
    ck_assert_int_eq(tapir_getsockopt(c1, IPPROTO_TCP, TAPIR_TCP_INFO, &info, &ilen), 0);
    ck_assert_int_eq(info.state, TAPIR_TCP_SYN_SENT);

    /* The link heals: B connects to A:p from another port; the listener
     * takes it. */
    sockenv_link_loss(&env, 0);
    int c2 = tapir_socket_on(env.b, AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in to_a = sockenv_addr("10.0.0.2", p);
    ck_assert_msg(tapir_connect(c2, (struct sockaddr *)&to_a, sizeof to_a) == 0, "connect: %s", strerror(errno));
    int a2 = tapir_accept(l, NULL, NULL);
    ck_assert_int_ge(a2, TAPIR_FD_BASE);
    ck_assert_int_eq(tapir_write(c2, "hi", 2), 2);
    char b[2];
    ck_assert_int_eq(tapir_read(a2, b, 2), 2);
    ck_assert_mem_eq(b, "hi", 2);

    /* The SYN-SENT connection completes at its next retransmission. */
    ck_assert(sockenv_wait(c1, POLLOUT, 10000) & POLLOUT);
    ck_assert_int_eq(get_int(c1, SOL_SOCKET, SO_ERROR), 0);
    int s1 = tapir_accept(lb, NULL, NULL);
    ck_assert_int_ge(s1, TAPIR_FD_BASE);
    ck_assert_int_eq(tapir_write(c1, "yo", 2), 2);
    ck_assert_int_eq(tapir_read(s1, b, 2), 2);
    ck_assert_mem_eq(b, "yo", 2);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("socket_failures");
    TCase *t = tcase_create("failures");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 30);
    tcase_add_test(t, user_timeout_aborts_with_etimedout);
    tcase_add_test(t, accepted_socket_inherits_user_timeout);
    tcase_add_test(t, syncnt_bounds_a_connect);
    tcase_add_test(t, listen_beside_a_syn_sent_connection);
    suite_add_tcase(s, t);
    return harness_run(s);
}
