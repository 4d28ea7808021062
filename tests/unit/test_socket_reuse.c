/* Socket objects are reused (socket.c keeps closed tsocks as spares, and a
 * listener keeps its accept-queue nodes): a reused one must start as a new
 * socket would, with nothing of its last life: options, non-blocking mode,
 * a pending error, unread data, a listener's queue. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <string.h>

#include "core/stack.h"
#include "core/tcp_conn.h"
#include "harness.h"
#include "sock/runtime.h"
#include "sock/socket_internal.h"
#include "sock_env.h"

static struct sock_env env;

/* Freed connections stack s keeps for reuse (read under its lock). */
static unsigned conn_spares(tapir_stack *s)
{
    runtime_lock(s);
    unsigned n = s->tcp->nconn_spares;
    runtime_unlock(s);
    return n;
}

static void setup(void) { sockenv_start(&env, NULL); }
static void teardown(void) { sockenv_stop(&env); }

/* The options a socket reports, to compare a fresh one with a reused one. */
struct opt_view {
    int nodelay, keepalive, reuseaddr, rcvbuf, sndbuf, error, flags;
    struct linger linger;
    struct timeval rcvtimeo, sndtimeo;
};

static void get_opt(int fd, int level, int name, void *v, socklen_t len)
{
    socklen_t l = len;
    ck_assert_msg(tapir_getsockopt(fd, level, name, v, &l) == 0, "getsockopt %d: %s", name,
                  strerror(errno));
}

static struct opt_view view_of(int fd)
{
    struct opt_view v;
    memset(&v, 0, sizeof v);
    get_opt(fd, IPPROTO_TCP, TCP_NODELAY, &v.nodelay, sizeof v.nodelay);
    get_opt(fd, SOL_SOCKET, SO_KEEPALIVE, &v.keepalive, sizeof v.keepalive);
    get_opt(fd, SOL_SOCKET, SO_REUSEADDR, &v.reuseaddr, sizeof v.reuseaddr);
    get_opt(fd, SOL_SOCKET, SO_RCVBUF, &v.rcvbuf, sizeof v.rcvbuf);
    get_opt(fd, SOL_SOCKET, SO_SNDBUF, &v.sndbuf, sizeof v.sndbuf);
    get_opt(fd, SOL_SOCKET, SO_ERROR, &v.error, sizeof v.error);
    get_opt(fd, SOL_SOCKET, SO_LINGER, &v.linger, sizeof v.linger);
    get_opt(fd, SOL_SOCKET, SO_RCVTIMEO, &v.rcvtimeo, sizeof v.rcvtimeo);
    get_opt(fd, SOL_SOCKET, SO_SNDTIMEO, &v.sndtimeo, sizeof v.sndtimeo);
    v.flags = tapir_fcntl(fd, F_GETFL);
    return v;
}

static void set_int(int fd, int level, int name, int value)
{
    ck_assert_int_eq(tapir_setsockopt(fd, level, name, &value, sizeof value), 0);
}

static void assert_same_view(const struct opt_view *a, const struct opt_view *b)
{
    ck_assert_int_eq(a->nodelay, b->nodelay);
    ck_assert_int_eq(a->keepalive, b->keepalive);
    ck_assert_int_eq(a->reuseaddr, b->reuseaddr);
    ck_assert_int_eq(a->rcvbuf, b->rcvbuf);
    ck_assert_int_eq(a->sndbuf, b->sndbuf);
    ck_assert_int_eq(a->error, b->error);
    ck_assert_int_eq(a->linger.l_onoff, b->linger.l_onoff);
    ck_assert_int_eq(a->linger.l_linger, b->linger.l_linger);
    ck_assert_int_eq(a->rcvtimeo.tv_sec, b->rcvtimeo.tv_sec);
    ck_assert_int_eq(a->rcvtimeo.tv_usec, b->rcvtimeo.tv_usec);
    ck_assert_int_eq(a->sndtimeo.tv_sec, b->sndtimeo.tv_sec);
    ck_assert_int_eq(a->flags, b->flags);
}

START_TEST(reused_socket_has_default_options)
{
    int fresh = tapir_socket_on(env.a, AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fresh, TAPIR_FD_BASE);
    struct opt_view defaults = view_of(fresh);
    ck_assert_int_eq(tapir_close(fresh), 0);

    /* A socket with every option changed, then closed: kept as a spare. */
    int used = tapir_socket_on(env.a, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ck_assert_int_ge(used, TAPIR_FD_BASE);
    set_int(used, IPPROTO_TCP, TCP_NODELAY, 1);
    set_int(used, SOL_SOCKET, SO_KEEPALIVE, 1);
    set_int(used, SOL_SOCKET, SO_REUSEADDR, 1);
    set_int(used, SOL_SOCKET, SO_RCVBUF, 8192);
    set_int(used, SOL_SOCKET, SO_SNDBUF, 8192);
    struct linger lg = { .l_onoff = 1, .l_linger = 0 };
    ck_assert_int_eq(tapir_setsockopt(used, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    struct timeval tv = { .tv_sec = 3, .tv_usec = 5000 };
    ck_assert_int_eq(tapir_setsockopt(used, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    ck_assert_int_eq(tapir_setsockopt(used, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv), 0);
    struct opt_view changed = view_of(used);
    ck_assert_int_ne(changed.nodelay, defaults.nodelay);
    ck_assert_int_ne(changed.flags, defaults.flags);
    unsigned spares = sock_spare_count();
    ck_assert_int_eq(tapir_close(used), 0);
    ck_assert_uint_eq(sock_spare_count(), spares + 1);

    /* The next socket takes that spare and reports the defaults again. */
    int reused = tapir_socket_on(env.a, AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(reused, TAPIR_FD_BASE);
    ck_assert_uint_eq(sock_spare_count(), spares);
    struct opt_view now = view_of(reused);
    assert_same_view(&now, &defaults);
    ck_assert_int_eq(tapir_close(reused), 0);
}
END_TEST

START_TEST(reused_socket_has_no_pending_error_or_data)
{
    /* A refused connect leaves an error that nobody takes before close. */
    int c = tapir_socket_on(env.a, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ck_assert_int_ge(c, TAPIR_FD_BASE);
    struct sockaddr_in to = sockenv_addr("10.0.0.3", 6999);
    ck_assert_int_eq(tapir_connect(c, (struct sockaddr *)&to, sizeof to), -1);
    ck_assert_int_eq(errno, EINPROGRESS);
    ck_assert(sockenv_wait(c, POLLOUT, 2000) & POLLERR);
    ck_assert_int_eq(tapir_close(c), 0);
    /* Its connection (closed, so freed at once) is a spare; the next
     * socket's connection is that one. */
    unsigned spares = conn_spares(env.a);
    ck_assert_uint_ge(spares, 1);
    int n = tapir_socket_on(env.a, AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(n, TAPIR_FD_BASE);
    ck_assert_uint_eq(conn_spares(env.a), spares - 1);
    int err = -1;
    get_opt(n, SOL_SOCKET, SO_ERROR, &err, sizeof err);
    ck_assert_int_eq(err, 0);
    ck_assert_int_eq(tapir_close(n), 0);

    /* A connection closed with unread data; the next one on reused
     * sockets reads only its own bytes. */
    int cl, sv, l;
    sockenv_pair(&env, 6100, &cl, &sv, &l);
    ck_assert_int_eq(tapir_write(cl, "stale", 5), 5);
    ck_assert(sockenv_wait(sv, POLLIN, 2000) & POLLIN);
    ck_assert_int_eq(tapir_close(sv), 0);
    ck_assert_int_eq(tapir_close(cl), 0);
    cl = tapir_socket_on(env.a, AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(cl, TAPIR_FD_BASE);
    to = sockenv_addr("10.0.0.3", 6100);
    ck_assert_int_eq(tapir_connect(cl, (struct sockaddr *)&to, sizeof to), 0);
    sv = tapir_accept(l, NULL, NULL);
    ck_assert_int_ge(sv, TAPIR_FD_BASE);
    ck_assert_int_eq(tapir_write(cl, "new", 3), 3);
    char buf[16];
    ck_assert_int_eq(tapir_read(sv, buf, sizeof buf), 3);
    ck_assert_int_eq(memcmp(buf, "new", 3), 0);
    ck_assert_int_eq(tapir_close(sv), 0);
    ck_assert_int_eq(tapir_close(cl), 0);
    ck_assert_int_eq(tapir_close(l), 0);
}
END_TEST

/* Rounds of connections queued before accept: the listener's queue nodes
 * are reused, and each accepted socket is the connection of its client. */
START_TEST(listener_queue_reuse_keeps_connections_apart)
{
    int l = sockenv_listen(env.b, 6200);
    struct sockaddr_in to = sockenv_addr("10.0.0.3", 6200);
    for (int round = 0; round < 4; round++) {
        enum { N = 3 };
        int cl[N];
        for (int i = 0; i < N; i++) {
            cl[i] = tapir_socket_on(env.a, AF_INET, SOCK_STREAM, 0);
            ck_assert_int_ge(cl[i], TAPIR_FD_BASE);
            ck_assert_int_eq(tapir_connect(cl[i], (struct sockaddr *)&to, sizeof to), 0);
            char tag = (char)('a' + round * N + i);
            ck_assert_int_eq(tapir_write(cl[i], &tag, 1), 1);
        }
        for (int i = 0; i < N; i++) {
            struct sockaddr_in peer;
            socklen_t plen = sizeof peer;
            int sv = tapir_accept(l, (struct sockaddr *)&peer, &plen);
            ck_assert_int_ge(sv, TAPIR_FD_BASE);
            int k = -1;
            for (int j = 0; j < N; j++) {
                struct sockaddr_in mine;
                socklen_t mlen = sizeof mine;
                ck_assert_int_eq(tapir_getsockname(cl[j], (struct sockaddr *)&mine, &mlen), 0);
                if (mine.sin_port == peer.sin_port)
                    k = j;
            }
            ck_assert_int_ge(k, 0);
            char got = 0;
            ck_assert_int_eq(tapir_read(sv, &got, 1), 1);
            ck_assert_int_eq(got, (char)('a' + round * N + k));
            ck_assert_int_eq(tapir_close(sv), 0);
        }
        for (int i = 0; i < N; i++)
            ck_assert_int_eq(tapir_close(cl[i]), 0);
    }
    ck_assert_int_eq(tapir_close(l), 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("socket_reuse");
    TCase *t = tcase_create("reuse");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 20);
    tcase_add_test(t, reused_socket_has_default_options);
    tcase_add_test(t, reused_socket_has_no_pending_error_or_data);
    tcase_add_test(t, listener_queue_reuse_keeps_connections_apart);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return harness_run(suite());
}
