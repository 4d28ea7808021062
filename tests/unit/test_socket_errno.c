/* Every errno the socket API promises (the list), each provoked the
 * way Linux produces it, over two stacks on a realtime vlink (no root). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sock_env.h"
#include "harness.h"

static struct sock_env env;

/* Short timers so that ETIMEDOUT and refused connects finish quickly. */
static void tune(struct tapir_config *cfg)
{
    cfg->rto_initial = TAPIR_MSEC(100);
    cfg->rto_min = TAPIR_MSEC(50);
    cfg->tcp_syn_retries = 2;
    cfg->arp_retry_interval = TAPIR_MSEC(100);
}

static void setup(void) { sockenv_start(&env, tune); }
static void teardown(void)
{
    sockenv_stop(&env);
    tapir_socket_set_limit(65536);
}

#define ck_errno(call, err)                                                      \
    do {                                                                         \
        errno = 0;                                                               \
        long r_ = (long)(call);                                                  \
        int e_ = errno;                                                          \
        ck_assert_msg(r_ == -1 && e_ == (err), "%s: got %ld errno %s, want %s",  \
                      #call, r_, strerror(e_), strerror(err));                   \
    } while (0)

static int new_socket(void)
{
    int fd = tapir_socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, TAPIR_FD_BASE);
    return fd;
}

START_TEST(ebadf)
{
    char b[4];
    ck_errno(tapir_read(TAPIR_FD_BASE + 4000, b, sizeof b), EBADF);
    ck_errno(tapir_write(0, b, 1), EBADF);           /* a kernel descriptor is not ours */
    ck_errno(tapir_close(-1), EBADF);
    int fd = new_socket();
    ck_assert_int_eq(tapir_close(fd), 0);
    ck_errno(tapir_close(fd), EBADF);                /* closed twice */
    ck_errno(tapir_listen(fd, 1), EBADF);
    ck_errno(tapir_fcntl(fd, F_GETFL), EBADF);
    int v;
    socklen_t len = sizeof v;
    ck_errno(tapir_getsockopt(fd, SOL_SOCKET, SO_ERROR, &v, &len), EBADF);
}
END_TEST

START_TEST(einval)
{
    ck_errno(tapir_socket(AF_INET, 99, 0), EINVAL);
    int fd = new_socket();
    struct sockaddr_in a = sockenv_addr("10.0.0.2", 4100);
    ck_errno(tapir_bind(fd, (struct sockaddr *)&a, sizeof a - 1), EINVAL);   /* short address */
    ck_assert_int_eq(tapir_bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    struct sockaddr_in b = sockenv_addr("10.0.0.2", 4101);
    ck_errno(tapir_bind(fd, (struct sockaddr *)&b, sizeof b), EINVAL);       /* bound already */
    ck_errno(tapir_accept(fd, NULL, NULL), EINVAL);                          /* not listening */
    ck_errno(tapir_shutdown(fd, 7), EINVAL);
    int one = 1;
    ck_errno(tapir_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, 2), EINVAL);  /* optlen */
    int tiny = 10;
    ck_errno(tapir_setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &tiny, sizeof tiny), EINVAL);
    int zero = 0;
    ck_errno(tapir_setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &zero, sizeof zero), EINVAL);
    ck_errno(tapir_fcntl(fd, F_DUPFD, 0), EINVAL);
    ck_errno(tapir_readv(fd, NULL, -1), EINVAL);

    int c, s;
    sockenv_pair(&env, 4102, &c, &s, NULL);
    ck_errno(tapir_listen(c, 1), EINVAL);            /* connected */
    ck_errno(tapir_bind(c, (struct sockaddr *)&b, sizeof b), EINVAL);
}
END_TEST

START_TEST(eafnosupport)
{
    ck_errno(tapir_socket(AF_INET6, SOCK_STREAM, 0), EAFNOSUPPORT);
    ck_errno(tapir_socket(12345, SOCK_STREAM, 0), EAFNOSUPPORT);
    int fd = new_socket();
    struct sockaddr_in a = sockenv_addr("10.0.0.3", 7);
    a.sin_family = AF_INET6;
    ck_errno(tapir_bind(fd, (struct sockaddr *)&a, sizeof a), EAFNOSUPPORT);
    ck_errno(tapir_connect(fd, (struct sockaddr *)&a, sizeof a), EAFNOSUPPORT);
}
END_TEST

START_TEST(eprotonosupport)
{
    ck_errno(tapir_socket(AF_INET, SOCK_STREAM, IPPROTO_UDP), EPROTONOSUPPORT);
    ck_errno(tapir_socket(AF_INET, SOCK_DGRAM, 0), EPROTONOSUPPORT);   /* no UDP in tapir */
    ck_errno(tapir_socket(AF_INET, SOCK_DGRAM, IPPROTO_TCP), EPROTONOSUPPORT);
}
END_TEST

START_TEST(eaddrinuse)
{
    int l = sockenv_listen(env.a, 4200);
    int fd = new_socket();
    struct sockaddr_in a = sockenv_addr("10.0.0.2", 4200);
    ck_errno(tapir_bind(fd, (struct sockaddr *)&a, sizeof a), EADDRINUSE);
    ck_assert_int_eq(tapir_close(l), 0);
}
END_TEST

START_TEST(eaddrnotavail)
{
    int fd = new_socket();
    struct sockaddr_in a = sockenv_addr("10.0.0.77", 4300);   /* not our address */
    ck_errno(tapir_bind(fd, (struct sockaddr *)&a, sizeof a), EADDRNOTAVAIL);
}
END_TEST

START_TEST(eisconn)
{
    int c, s, l;
    sockenv_pair(&env, 4400, &c, &s, &l);
    struct sockaddr_in to = sockenv_addr("10.0.0.3", 4400);
    ck_errno(tapir_connect(c, (struct sockaddr *)&to, sizeof to), EISCONN);
    ck_errno(tapir_connect(l, (struct sockaddr *)&to, sizeof to), EISCONN);  /* a listener, as Linux */
}
END_TEST

START_TEST(enotconn)
{
    int fd = new_socket();
    char b[4];
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    ck_errno(tapir_read(fd, b, sizeof b), ENOTCONN);
    ck_errno(tapir_getpeername(fd, (struct sockaddr *)&a, &len), ENOTCONN);
    ck_errno(tapir_shutdown(fd, SHUT_RDWR), ENOTCONN);
    int l = sockenv_listen(env.a, 4500);
    ck_errno(tapir_recv(l, b, sizeof b, 0), ENOTCONN);
}
END_TEST

START_TEST(einprogress_ealready)
{
    /* Nobody has 10.0.0.99: the SYN goes unanswered. */
    int fd = tapir_socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ck_assert_int_ge(fd, TAPIR_FD_BASE);
    struct sockaddr_in to = sockenv_addr("10.0.0.99", 4600);
    ck_errno(tapir_connect(fd, (struct sockaddr *)&to, sizeof to), EINPROGRESS);
    ck_errno(tapir_connect(fd, (struct sockaddr *)&to, sizeof to), EALREADY);
}
END_TEST

START_TEST(eagain)
{
    int c, s, l;
    sockenv_pair(&env, 4700, &c, &s, &l);
    char b[16];
    ck_errno(tapir_recv(c, b, sizeof b, MSG_DONTWAIT), EAGAIN);
    ck_assert_int_eq(tapir_fcntl(l, F_SETFL, O_NONBLOCK), 0);
    ck_errno(tapir_accept(l, NULL, NULL), EAGAIN);
    /* SO_RCVTIMEO: a blocking read gives up with EAGAIN. */
    struct timeval tv = { .tv_sec = 0, .tv_usec = 150000 };
    ck_assert_int_eq(tapir_setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    uint64_t t0 = sockenv_ms();
    ck_errno(tapir_read(s, b, sizeof b), EAGAIN);
    uint64_t waited = sockenv_ms() - t0;
    ck_assert_msg(waited >= 140 && waited < 2000, "waited %llu ms", (unsigned long long)waited);
}
END_TEST

START_TEST(econnrefused)
{
    int fd = new_socket();
    struct sockaddr_in to = sockenv_addr("10.0.0.3", 4800);   /* B listens on nothing */
    uint64_t t0 = sockenv_ms();
    ck_errno(tapir_connect(fd, (struct sockaddr *)&to, sizeof to), ECONNREFUSED);
    ck_assert_uint_lt(sockenv_ms() - t0, 1000);                /* at once, not after retries */
}
END_TEST

START_TEST(econnreset)
{
    int c, s;
    sockenv_pair(&env, 4900, &c, &s, NULL);
    struct linger lg = { .l_onoff = 1, .l_linger = 0 };
    ck_assert_int_eq(tapir_setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    ck_assert_int_eq(tapir_close(s), 0);            /* RST */
    char b[4];
    ck_errno(tapir_read(c, b, sizeof b), ECONNRESET);
    ck_errno(tapir_write(c, "x", 1), EPIPE);        /* reported once, then EPIPE */
}
END_TEST

START_TEST(etimedout)
{
    int fd = new_socket();
    struct sockaddr_in to = sockenv_addr("10.0.0.99", 5000);
    uint64_t t0 = sockenv_ms();
    ck_errno(tapir_connect(fd, (struct sockaddr *)&to, sizeof to), ETIMEDOUT);
    /* SYN + 2 retries at 100/200/400 ms: well under 5 s. */
    ck_assert_uint_lt(sockenv_ms() - t0, 5000);
}
END_TEST

START_TEST(epipe)
{
    int fd = new_socket();
    ck_errno(tapir_write(fd, "x", 1), EPIPE);       /* unconnected: EPIPE on Linux */
    int c, s;
    sockenv_pair(&env, 5100, &c, &s, NULL);
    ck_assert_int_eq(tapir_shutdown(c, SHUT_WR), 0);
    ck_errno(tapir_send(c, "x", 1, MSG_NOSIGNAL), EPIPE);
    ck_errno(tapir_write(c, "x", 1), EPIPE);        /* no SIGPIPE either way */
}
END_TEST

START_TEST(emfile)
{
    /* Fill the table up to a small limit (whatever else is open counts). */
    ck_assert_int_eq(tapir_socket_set_limit(64), 0);
    int fds[64], n = 0, fd;
    while ((fd = tapir_socket(AF_INET, SOCK_STREAM, 0)) >= 0) {
        ck_assert_int_lt(n, 64);
        fds[n++] = fd;
    }
    ck_assert_int_eq(errno, EMFILE);
    ck_assert_int_ge(n, 3);
    ck_errno(tapir_socket_on(env.b, AF_INET, SOCK_STREAM, 0), EMFILE);   /* any stack */
    /* accept() too, and the connection stays queued until there is room */
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(tapir_close(fds[--n]), 0);
    int l = sockenv_listen(env.b, 5200);
    int c = new_socket();
    int filler = new_socket();
    struct sockaddr_in to = sockenv_addr("10.0.0.3", 5200);
    ck_assert_int_eq(tapir_connect(c, (struct sockaddr *)&to, sizeof to), 0);
    ck_errno(tapir_accept(l, NULL, NULL), EMFILE);
    ck_assert_int_eq(tapir_close(filler), 0);
    ck_assert_int_ge(tapir_accept(l, NULL, NULL), TAPIR_FD_BASE);
}
END_TEST

/* TCP_USER_TIMEOUT (RFC 9293 MUST-21) and TCP_SYNCNT: Linux's ranges. */
START_TEST(einval_user_timeout_syncnt)
{
    int fd = new_socket();
    int v = -1;
    ck_errno(tapir_setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &v, sizeof v), EINVAL);
    ck_errno(tapir_setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &v, 2), EINVAL);   /* optlen */
    v = 0;
    ck_errno(tapir_setsockopt(fd, IPPROTO_TCP, TCP_SYNCNT, &v, sizeof v), EINVAL);
    v = 128;
    ck_errno(tapir_setsockopt(fd, IPPROTO_TCP, TCP_SYNCNT, &v, sizeof v), EINVAL);
    v = -3;
    ck_errno(tapir_setsockopt(fd, IPPROTO_TCP, TCP_SYNCNT, &v, sizeof v), EINVAL);
    /* The defaults: no user timeout; the stack's SYN retries (here 2). */
    int got = -1;
    socklen_t len = sizeof got;
    ck_assert_int_eq(tapir_getsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &got, &len), 0);
    ck_assert_int_eq(got, 0);
    ck_assert_int_eq(tapir_getsockopt(fd, IPPROTO_TCP, TCP_SYNCNT, &got, &len), 0);
    ck_assert_int_eq(got, 2);
    /* Accepted values read back; 0 and INT_MAX ms are fine, as on Linux. */
    v = 1500;
    ck_assert_int_eq(tapir_setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &v, sizeof v), 0);
    ck_assert_int_eq(tapir_getsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &got, &len), 0);
    ck_assert_int_eq(got, 1500);
    v = 0x7fffffff;
    ck_assert_int_eq(tapir_setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &v, sizeof v), 0);
    v = 0;
    ck_assert_int_eq(tapir_setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &v, sizeof v), 0);
    ck_assert_int_eq(tapir_getsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &got, &len), 0);
    ck_assert_int_eq(got, 0);
    for (v = 1; v <= 127; v += 126) {
        ck_assert_int_eq(tapir_setsockopt(fd, IPPROTO_TCP, TCP_SYNCNT, &v, sizeof v), 0);
        ck_assert_int_eq(tapir_getsockopt(fd, IPPROTO_TCP, TCP_SYNCNT, &got, &len), 0);
        ck_assert_int_eq(got, v);
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("socket_errno");
    TCase *t = tcase_create("errno");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 30);
    tcase_add_test(t, ebadf);
    tcase_add_test(t, einval);
    tcase_add_test(t, eafnosupport);
    tcase_add_test(t, eprotonosupport);
    tcase_add_test(t, eaddrinuse);
    tcase_add_test(t, eaddrnotavail);
    tcase_add_test(t, eisconn);
    tcase_add_test(t, enotconn);
    tcase_add_test(t, einprogress_ealready);
    tcase_add_test(t, eagain);
    tcase_add_test(t, econnrefused);
    tcase_add_test(t, econnreset);
    tcase_add_test(t, etimedout);
    tcase_add_test(t, epipe);
    tcase_add_test(t, emfile);
    tcase_add_test(t, einval_user_timeout_syncnt);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return harness_run(suite());
}
