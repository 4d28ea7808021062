/* Urgent data and tapir_ioctl through the socket API, over two stacks on
 * a realtime vlink (no root): the MSG_OOB round trip, MSG_PEEK, POLLPRI,
 * the SIOCATMARK sequence, SO_OOBINLINE, Linux's errno for each case, and
 * FIONREAD / TIOCOUTQ / FIONBIO / unknown requests / bad arguments. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "harness.h"
#include "sock_env.h"

static struct sock_env env;

static void setup(void) { sockenv_start(&env, NULL); }
static void teardown(void) { sockenv_stop(&env); }

static int ioctl_int(int fd, unsigned long req)
{
    int v = -1;
    ck_assert_msg(tapir_ioctl(fd, req, &v) == 0, "ioctl %#lx: %s", req, strerror(errno));
    return v;
}

static void send_all(int fd, const char *s, int flags)
{
    size_t n = strlen(s);
    ck_assert_int_eq(tapir_send(fd, s, n, flags), (ssize_t)n);
}

/* recv(MSG_OOB) that must fail with err. */
static void oob_fails(int fd, int err)
{
    char c;
    errno = 0;
    ck_assert_int_eq(tapir_recv(fd, &c, 1, MSG_OOB), -1);
    ck_assert_msg(errno == err, "errno %s, want %s", strerror(errno), strerror(err));
}

/* Wait for POLLPRI on fd (the urgent byte arrived). */
/* Read until strlen(want) bytes have come (in as many reads as it takes)
 * and check they are want. */
static void expect_stream(int fd, const char *want)
{
    char buf[64];
    size_t got = 0, len = strlen(want);
    ck_assert_uint_le(len, sizeof buf);
    while (got < len) {
        ssize_t n = tapir_read(fd, buf + got, len - got);
        ck_assert_int_gt(n, 0);
        got += (size_t)n;
    }
    ck_assert_int_eq(memcmp(buf, want, len), 0);
}

static void wait_pri(int fd)
{
    short r = sockenv_wait(fd, POLLPRI, 3000);
    ck_assert_msg(r & POLLPRI, "no POLLPRI (revents %#x)", r);
}

START_TEST(oob_round_trip_and_the_atmark_sequence)
{
    int c, s;
    char buf[64], b = 0;
    sockenv_pair(&env, 7000, &c, &s, NULL);
    ck_assert_int_eq(ioctl_int(s, SIOCATMARK), 0);
    send_all(c, "abc", 0);
    send_all(c, "d", MSG_OOB);
    send_all(c, "ef", 0);
    wait_pri(s);
    ck_assert_int_eq(tapir_read(s, buf, sizeof buf), 3);     /* stops at the mark */
    ck_assert_int_eq(memcmp(buf, "abc", 3), 0);
    ck_assert_int_eq(ioctl_int(s, SIOCATMARK), 1);
    ck_assert_int_eq(tapir_recv(s, &b, 1, MSG_OOB | MSG_PEEK), 1);
    ck_assert_int_eq(b, 'd');
    ck_assert(sockenv_wait(s, POLLPRI, 0) & POLLPRI);          /* a peek leaves it */
    b = 0;
    ck_assert_int_eq(tapir_recv(s, &b, 1, MSG_OOB), 1);
    ck_assert_int_eq(b, 'd');
    ck_assert_int_eq(sockenv_wait(s, POLLPRI, 0) & POLLPRI, 0);
    oob_fails(s, EINVAL);                                      /* read already */
    ck_assert_int_eq(tapir_read(s, buf, sizeof buf), 2);
    ck_assert_int_eq(memcmp(buf, "ef", 2), 0);
    ck_assert_int_eq(ioctl_int(s, SIOCATMARK), 0);
    tapir_close(c);
    tapir_close(s);
}
END_TEST

/* readv and MSG_WAITALL stop at the mark too: a read that returned data
 * never crosses it. */
START_TEST(readv_and_waitall_stop_at_the_mark)
{
    int c, s;
    char a[3], b[16], buf[16];
    sockenv_pair(&env, 7080, &c, &s, NULL);
    send_all(c, "abc", 0);
    send_all(c, "d", MSG_OOB);
    send_all(c, "ef", 0);
    wait_pri(s);
    struct iovec v[2] = { { .iov_base = a, .iov_len = 3 }, { .iov_base = b, .iov_len = sizeof b } };
    ck_assert_int_eq(tapir_readv(s, v, 2), 3);      /* the first buffer ends at the mark */
    ck_assert_int_eq(memcmp(a, "abc", 3), 0);
    ck_assert_int_eq(ioctl_int(s, SIOCATMARK), 1);
    expect_stream(s, "ef");
    /* MSG_WAITALL for more than lies before the mark: only that much. */
    send_all(c, "gh", 0);
    send_all(c, "i", MSG_OOB);
    wait_pri(s);
    send_all(c, "jk", 0);
    ck_assert_int_eq(tapir_recv(s, buf, 5, MSG_WAITALL), 2);
    ck_assert_int_eq(memcmp(buf, "gh", 2), 0);
    tapir_close(c);
    tapir_close(s);
}
END_TEST

START_TEST(poll_reports_pollpri_only_when_asked)
{
    int c, s;
    sockenv_pair(&env, 7010, &c, &s, NULL);
    send_all(c, "x", MSG_OOB);
    wait_pri(s);
    struct pollfd p = { .fd = s, .events = POLLIN };
    ck_assert_int_eq(tapir_poll(&p, 1, 0), 0);     /* the lone urgent byte is not data */
    p.events = POLLIN | POLLPRI;
    ck_assert_int_eq(tapir_poll(&p, 1, 0), 1);
    ck_assert_int_eq(p.revents, POLLPRI);
    tapir_close(c);
    tapir_close(s);
}
END_TEST

START_TEST(oobinline_is_inherited_and_keeps_the_byte_in_the_stream)
{
    int c, s, l;
    int one = 1, v = 0;
    socklen_t len = sizeof v;
    char buf[64];
    l = sockenv_listen(env.b, 7020);
    ck_assert_int_eq(tapir_setsockopt(l, SOL_SOCKET, SO_OOBINLINE, &one, sizeof one), 0);
    ck_assert_int_eq(tapir_getsockopt(l, SOL_SOCKET, SO_OOBINLINE, &v, &len), 0);
    ck_assert_int_eq(v, 1);
    c = tapir_socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = sockenv_addr("10.0.0.3", 7020);
    ck_assert_int_eq(tapir_connect(c, (struct sockaddr *)&a, sizeof a), 0);
    s = tapir_accept(l, NULL, NULL);
    ck_assert_int_ge(s, 0);
    v = 0;
    ck_assert_int_eq(tapir_getsockopt(s, SOL_SOCKET, SO_OOBINLINE, &v, &len), 0);
    ck_assert_int_eq(v, 1);
    send_all(c, "abc", 0);
    send_all(c, "d", MSG_OOB);
    send_all(c, "ef", 0);
    wait_pri(s);
    oob_fails(s, EINVAL);
    ck_assert_int_eq(tapir_read(s, buf, sizeof buf), 3);
    ck_assert_int_eq(memcmp(buf, "abc", 3), 0);
    ck_assert_int_eq(ioctl_int(s, SIOCATMARK), 1);
    expect_stream(s, "def");
    tapir_close(c);
    tapir_close(s);
    tapir_close(l);
}
END_TEST

START_TEST(oob_errno_cases)
{
    int c, s, l;
    char b;
    sockenv_pair(&env, 7030, &c, &s, &l);
    oob_fails(s, EINVAL);                          /* nothing urgent */
    oob_fails(l, ENOTCONN);                        /* a listener */
    int u = tapir_socket(AF_INET, SOCK_STREAM, 0);
    oob_fails(u, EINVAL);                          /* never connected: nothing urgent (Linux) */
    oob_fails(TAPIR_FD_BASE + 4000, EBADF);
    ck_assert_int_eq(tapir_send(c, "", 0, MSG_OOB), 0);      /* marks nothing */
    sockenv_sleep_ms(50);
    oob_fails(s, EINVAL);
    errno = 0;
    ck_assert_int_eq(tapir_send(l, "x", 1, MSG_OOB), -1);
    ck_assert_int_eq(errno, EPIPE);
    /* Reading past the mark loses the byte, as Linux. */
    send_all(c, "ab", 0);
    send_all(c, "c", MSG_OOB);
    wait_pri(s);
    ck_assert_int_eq(tapir_recv(s, &b, 1, MSG_OOB | MSG_PEEK), 1);
    char buf[16];
    ck_assert_int_eq(tapir_read(s, buf, sizeof buf), 2);
    ck_assert_int_eq(tapir_recv(s, buf, sizeof buf, MSG_DONTWAIT), -1);   /* steps over 'c' */
    ck_assert_int_eq(errno, EAGAIN);
    oob_fails(s, EINVAL);
    /* A zero-length MSG_OOB read with a byte held: 0, the byte stays. */
    send_all(c, "z", MSG_OOB);
    wait_pri(s);
    ck_assert_int_eq(tapir_recv(s, &b, 0, MSG_OOB), 0);
    ck_assert_int_eq(tapir_recv(s, &b, 1, MSG_OOB), 1);
    ck_assert_int_eq(b, 'z');
    errno = 0;
    ck_assert_int_eq(tapir_recv(s, NULL, 1, MSG_OOB), -1);
    ck_assert_int_eq(errno, EINVAL);               /* read already, checked before the buffer */
    tapir_close(u);
    tapir_close(c);
    tapir_close(s);
    tapir_close(l);
}
END_TEST

/* A connection whose receiver (s, accepted from l on stack b) has a
 * 2048-byte receive buffer, so a few KiB sent fill its window. */
static void pair_with_small_window(uint16_t port, int *c, int *s, int *l)
{
    int rcv = 2048;
    *l = sockenv_listen(env.b, port);
    ck_assert_int_eq(tapir_setsockopt(*l, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv), 0);
    *c = tapir_socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = sockenv_addr("10.0.0.3", port);
    ck_assert_int_eq(tapir_connect(*c, (struct sockaddr *)&a, sizeof a), 0);
    *s = tapir_accept(*l, NULL, NULL);
    ck_assert_int_ge(*s, 0);
}

/* The receiver's window is full, so the urgent byte cannot come yet; the
 * sender's zero-window probes carry the urgent pointer, so the receiver
 * knows urgent data is coming: EAGAIN (not EINVAL) until it arrives. */
START_TEST(oob_announced_not_arrived_gives_eagain)
{
    int c, s, l;
    pair_with_small_window(7040, &c, &s, &l);
    static char fill[8192];
    memset(fill, 'f', sizeof fill);
    ck_assert_int_eq(tapir_send(c, fill, sizeof fill, MSG_DONTWAIT), (ssize_t)sizeof fill);
    ck_assert_int_eq(tapir_send(c, "U", 1, MSG_OOB | MSG_DONTWAIT), 1);
    char b;
    int err = 0;
    uint64_t end = sockenv_ms() + 8000;
    while (sockenv_ms() < end) {
        errno = 0;
        ck_assert_int_eq(tapir_recv(s, &b, 1, MSG_OOB), -1);
        err = errno;
        if (err == EAGAIN)
            break;
        ck_assert_int_eq(err, EINVAL);
        sockenv_sleep_ms(20);
    }
    ck_assert_msg(err == EAGAIN, "urgent data never announced");
    ck_assert_int_eq(sockenv_wait(s, POLLPRI, 0) & POLLPRI, 0);
    /* Read everything before the mark; then the byte comes. */
    size_t got = 0;
    char buf[4096];
    while (got < sizeof fill) {
        ssize_t n = tapir_read(s, buf, sizeof buf);
        ck_assert_int_gt(n, 0);
        got += (size_t)n;
    }
    ck_assert_uint_eq(got, sizeof fill);
    wait_pri(s);
    ck_assert_int_eq(ioctl_int(s, SIOCATMARK), 1);
    ck_assert_int_eq(tapir_recv(s, &b, 1, MSG_OOB), 1);
    ck_assert_int_eq(b, 'U');
    tapir_close(c);
    tapir_close(s);
    tapir_close(l);
}
END_TEST

START_TEST(ioctl_fionread_and_tiocoutq)
{
    int c, s, l;
    sockenv_pair(&env, 7050, &c, &s, &l);
    ck_assert_int_eq(ioctl_int(s, FIONREAD), 0);
    ck_assert_int_eq(ioctl_int(c, TIOCOUTQ), 0);
    send_all(c, "hello", 0);
    ck_assert(sockenv_wait(s, POLLIN, 3000) & POLLIN);
    ck_assert_int_eq(ioctl_int(s, FIONREAD), 5);
    /* Bytes before the urgent mark only (Linux's SIOCINQ). */
    send_all(c, "abc", 0);
    send_all(c, "d", MSG_OOB);
    wait_pri(s);
    ck_assert_int_eq(ioctl_int(s, FIONREAD), 8);
    int v;
    errno = 0;
    ck_assert_int_eq(tapir_ioctl(l, FIONREAD, &v), -1);
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_int_eq(tapir_ioctl(l, TIOCOUTQ, &v), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(ioctl_int(l, SIOCATMARK), 0);
    tapir_close(c);
    tapir_close(s);
    tapir_close(l);
}
END_TEST

/* Unacknowledged bytes: with the receiver's window full, what the sender
 * holds plus what the receiver holds is everything sent. */
START_TEST(ioctl_tiocoutq_counts_unacknowledged_bytes)
{
    int c, s, l;
    pair_with_small_window(7060, &c, &s, &l);
    static char fill[10000];
    memset(fill, 'q', sizeof fill);
    ck_assert_int_eq(tapir_send(c, fill, sizeof fill, MSG_DONTWAIT), (ssize_t)sizeof fill);
    int outq = 0, inq = 0;
    uint64_t end = sockenv_ms() + 3000;
    while (sockenv_ms() < end) {
        sockenv_sleep_ms(50);
        outq = ioctl_int(c, TIOCOUTQ);
        inq = ioctl_int(s, FIONREAD);
        if (inq > 0 && outq + inq == (int)sizeof fill)
            break;
    }
    ck_assert_int_gt(inq, 0);
    ck_assert_int_gt(outq, 0);
    ck_assert_int_eq(outq + inq, (int)sizeof fill);
    tapir_close(c);
    tapir_close(s);
    tapir_close(l);
}
END_TEST

START_TEST(ioctl_fionbio_and_errors)
{
    int c, s;
    sockenv_pair(&env, 7070, &c, &s, NULL);
    int on = 1, off = 0, v = 0;
    char buf[8];
    ck_assert_int_eq(tapir_ioctl(s, FIONBIO, &on), 0);
    ck_assert(tapir_fcntl(s, F_GETFL) & O_NONBLOCK);
    errno = 0;
    ck_assert_int_eq(tapir_read(s, buf, sizeof buf), -1);    /* does not block */
    ck_assert_int_eq(errno, EAGAIN);
    ck_assert_int_eq(tapir_ioctl(s, FIONBIO, &off), 0);
    ck_assert_int_eq(tapir_fcntl(s, F_GETFL) & O_NONBLOCK, 0);
    errno = 0;
    ck_assert_int_eq(tapir_ioctl(s, TCGETS, &v), -1);         /* not a socket request */
    ck_assert_int_eq(errno, ENOTTY);
    errno = 0;
    ck_assert_int_eq(tapir_ioctl(TAPIR_FD_BASE + 4000, FIONREAD, &v), -1);
    ck_assert_int_eq(errno, EBADF);
    unsigned long reqs[] = { FIONREAD, TIOCOUTQ, SIOCATMARK, FIONBIO };
    for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
        errno = 0;
        ck_assert_int_eq(tapir_ioctl(s, reqs[i], NULL), -1);
        ck_assert_msg(errno == EFAULT, "request %#lx: %s", reqs[i], strerror(errno));
    }
    tapir_close(c);
    tapir_close(s);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("socket_urgent");
    TCase *t = tcase_create("urgent");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 30);
    tcase_add_test(t, oob_round_trip_and_the_atmark_sequence);
    tcase_add_test(t, poll_reports_pollpri_only_when_asked);
    tcase_add_test(t, readv_and_waitall_stop_at_the_mark);
    tcase_add_test(t, oobinline_is_inherited_and_keeps_the_byte_in_the_stream);
    tcase_add_test(t, oob_errno_cases);
    tcase_add_test(t, oob_announced_not_arrived_gives_eagain);
    tcase_add_test(t, ioctl_fionread_and_tiocoutq);
    tcase_add_test(t, ioctl_tiocoutq_counts_unacknowledged_bytes);
    tcase_add_test(t, ioctl_fionbio_and_errors);
    suite_add_tcase(su, t);
    return harness_run(su);
}
