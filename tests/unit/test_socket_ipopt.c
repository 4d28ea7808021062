/* IPPROTO_IP socket options through the socket API (ip(7) as Linux):
 *   IP_TOS (ECN bits kept clear), IP_TTL (1..255, -1 for the default),
 *   IP_RECVERR; their errno cases; inheritance by accepted sockets;
 *   with IP_RECVERR, R1 (RFC 9293 SHLD-9) wakes a blocked reader with
 *   ETIMEDOUT once and the connection goes on; without it, nothing is
 *   reported (SHLD-20); recv(MSG_ERRQUEUE) fails with EAGAIN (no queue). */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "sock_env.h"
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

static int get_ip(int fd, int name)
{
    int v = -12345;
    socklen_t len = sizeof v;
    ck_assert_int_eq(tapir_getsockopt(fd, IPPROTO_IP, name, &v, &len), 0);
    ck_assert_uint_eq(len, sizeof v);
    return v;
}

static void set_ip(int fd, int name, int v)
{
    ck_assert_msg(tapir_setsockopt(fd, IPPROTO_IP, name, &v, sizeof v) == 0, "setsockopt(%d, %d): %s", name, v,
                  strerror(errno));
}

/* setsockopt(IPPROTO_IP, name) with v fails with errno want. */
static void set_ip_fails(int fd, int name, int v, int want)
{
    errno = 0;
    ck_assert_int_eq(tapir_setsockopt(fd, IPPROTO_IP, name, &v, sizeof v), -1);
    ck_assert_int_eq(errno, want);
}

START_TEST(ip_tos_ttl_recverr_set_and_get)
{
    int fd = tapir_socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, TAPIR_FD_BASE);
    const struct tapir_config *cfg = tapir_stack_config(env.a);
    ck_assert_int_eq(get_ip(fd, IP_TOS), 0);
    ck_assert_int_eq(get_ip(fd, IP_TTL), cfg->ip_ttl);
    ck_assert_int_eq(get_ip(fd, IP_RECVERR), 0);

    set_ip(fd, IP_TOS, 0xb8);
    ck_assert_int_eq(get_ip(fd, IP_TOS), 0xb8);
    set_ip(fd, IP_TOS, 0xff);                   /* the ECN bits stay clear */
    ck_assert_int_eq(get_ip(fd, IP_TOS), 0xfc);
    unsigned char byte = 0x21;                  /* as Linux: one byte will do */
    ck_assert_int_eq(tapir_setsockopt(fd, IPPROTO_IP, IP_TOS, &byte, 1), 0);
    ck_assert_int_eq(get_ip(fd, IP_TOS), 0x20);

    set_ip(fd, IP_TTL, 10);
    ck_assert_int_eq(get_ip(fd, IP_TTL), 10);
    set_ip(fd, IP_TTL, 255);
    ck_assert_int_eq(get_ip(fd, IP_TTL), 255);
    set_ip_fails(fd, IP_TTL, 0, EINVAL);
    set_ip_fails(fd, IP_TTL, 256, EINVAL);
    set_ip_fails(fd, IP_TTL, -2, EINVAL);
    ck_assert_int_eq(get_ip(fd, IP_TTL), 255);  /* a refused value changes nothing */
    set_ip(fd, IP_TTL, -1);                     /* back to the default */
    ck_assert_int_eq(get_ip(fd, IP_TTL), cfg->ip_ttl);

    set_ip(fd, IP_RECVERR, 1);
    ck_assert_int_eq(get_ip(fd, IP_RECVERR), 1);
    set_ip(fd, IP_RECVERR, 7);
    ck_assert_int_eq(get_ip(fd, IP_RECVERR), 1);
    set_ip(fd, IP_RECVERR, 0);
    ck_assert_int_eq(get_ip(fd, IP_RECVERR), 0);
    ck_assert_int_eq(tapir_close(fd), 0);
}
END_TEST

START_TEST(ip_option_errors)
{
    int fd = tapir_socket(AF_INET, SOCK_STREAM, 0);
    int v = 0x10;
    static const int names[] = {IP_TOS, IP_TTL, IP_RECVERR};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        errno = 0;
        ck_assert_int_eq(tapir_setsockopt(fd, IPPROTO_IP, names[i], &v, 0), -1);
        ck_assert_int_eq(errno, EINVAL);
        errno = 0;
        ck_assert_int_eq(tapir_setsockopt(fd, IPPROTO_IP, names[i], NULL, sizeof v), -1);
        ck_assert_int_eq(errno, EFAULT);
        errno = 0;
        ck_assert_int_eq(tapir_getsockopt(fd, IPPROTO_IP, names[i], &v, NULL), -1);
        ck_assert_int_eq(errno, EFAULT);
    }
    /* A one-byte TTL of 0 is still out of range. */
    unsigned char zero = 0;
    errno = 0;
    ck_assert_int_eq(tapir_setsockopt(fd, IPPROTO_IP, IP_TTL, &zero, 1), -1);
    ck_assert_int_eq(errno, EINVAL);
    /* An IPPROTO_IP option tapir does not have. */
    set_ip_fails(fd, IP_MTU_DISCOVER, 0, ENOPROTOOPT);
    socklen_t len = sizeof v;
    errno = 0;
    ck_assert_int_eq(tapir_getsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &v, &len), -1);
    ck_assert_int_eq(errno, ENOPROTOOPT);
    /* An unknown descriptor. */
    errno = 0;
    ck_assert_int_eq(tapir_setsockopt(TAPIR_FD_BASE + 4000, IPPROTO_IP, IP_TOS, &v, sizeof v), -1);
    ck_assert_int_eq(errno, EBADF);
    ck_assert_int_eq(tapir_close(fd), 0);
}
END_TEST

START_TEST(accepted_socket_inherits_ip_options)
{
    int l = sockenv_listen(env.b, 6200);
    set_ip(l, IP_TOS, 0x10);
    set_ip(l, IP_TTL, 5);
    set_ip(l, IP_RECVERR, 1);
    int c = tapir_socket_on(env.a, AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in to = sockenv_addr("10.0.0.3", 6200);
    ck_assert_int_eq(tapir_connect(c, (struct sockaddr *)&to, sizeof to), 0);
    int s = tapir_accept(l, NULL, NULL);
    ck_assert_int_ge(s, TAPIR_FD_BASE);
    ck_assert_int_eq(get_ip(s, IP_TOS), 0x10);
    ck_assert_int_eq(get_ip(s, IP_TTL), 5);
    ck_assert_int_eq(get_ip(s, IP_RECVERR), 1);
    ck_assert_int_eq(get_ip(c, IP_TOS), 0);
    ck_assert_int_eq(get_ip(c, IP_RECVERR), 0);
    /* A TTL of 5 and a TOS byte do not stop the data. */
    ck_assert_int_eq(tapir_write(s, "hi", 2), 2);
    char b[2];
    ck_assert_int_eq(tapir_read(c, b, 2), 2);
    ck_assert_mem_eq(b, "hi", 2);
}
END_TEST

/* A tapir_read on another thread. */
struct blocked_read {
    int fd;
    ssize_t n;
    int err;
    atomic_bool done;
};

static void *read_once(void *arg)
{
    struct blocked_read *r = arg;
    char b[16];
    errno = 0;
    r->n = tapir_read(r->fd, b, sizeof b);
    r->err = errno;
    atomic_store(&r->done, true);
    return NULL;
}

START_TEST(recverr_wakes_a_blocked_reader_at_r1_and_the_connection_goes_on)
{
    int c, s;
    sockenv_pair(&env, 6300, &c, &s, NULL);
    set_ip(c, IP_RECVERR, 1);
    struct blocked_read r = {.fd = c};
    atomic_init(&r.done, false);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, read_once, &r), 0);
    sockenv_sleep_ms(20);
    sockenv_link_loss(&env, 1.0);
    ck_assert_int_eq(tapir_write(c, "ping", 4), 4);
    /* R1: the third retransmission, some 50 + 100 + 200 ms from now. */
    uint64_t end = sockenv_ms() + 5000;
    while (!atomic_load(&r.done) && sockenv_ms() < end)
        sockenv_sleep_ms(5);
    ck_assert_msg(atomic_load(&r.done), "the reader was not woken by the R1 report");
    pthread_join(t, NULL);
    ck_assert_int_eq(r.n, -1);
    ck_assert_int_eq(r.err, ETIMEDOUT);
    /* Reported once: nothing pending any more, and the connection stays. */
    int err = -1;
    socklen_t len = sizeof err;
    ck_assert_int_eq(tapir_getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &len), 0);
    ck_assert_int_eq(err, 0);
    ck_assert_int_eq(sockenv_wait(c, POLLIN, 0) & (POLLERR | POLLHUP), 0);
    /* The link heals: the data arrives and the connection carries on. */
    sockenv_link_loss(&env, 0);
    char b[8];
    ck_assert_int_eq(sockenv_wait(s, POLLIN, 10000) & POLLIN, POLLIN);
    ck_assert_int_eq(tapir_read(s, b, sizeof b), 4);
    ck_assert_mem_eq(b, "ping", 4);
    ck_assert_int_eq(tapir_write(s, "pong", 4), 4);
    ck_assert_int_eq(tapir_read(c, b, sizeof b), 4);
    ck_assert_mem_eq(b, "pong", 4);
}
END_TEST

START_TEST(recverr_pending_error_shows_as_pollerr_and_so_error)
{
    int c, s;
    sockenv_pair(&env, 6400, &c, &s, NULL);
    set_ip(c, IP_RECVERR, 1);
    sockenv_link_loss(&env, 1.0);
    ck_assert_int_eq(tapir_write(c, "ping", 4), 4);
    short ev = sockenv_wait(c, 0, 5000);        /* POLLERR comes unasked */
    ck_assert_msg(ev & POLLERR, "no POLLERR at R1 (revents 0x%x)", ev);
    ck_assert_int_eq(ev & POLLHUP, 0);
    int err = 0;
    socklen_t len = sizeof err;
    ck_assert_int_eq(tapir_getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &len), 0);
    ck_assert_int_eq(err, ETIMEDOUT);
    ck_assert_int_eq(tapir_getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &len), 0);
    ck_assert_int_eq(err, 0);
    /* Taken by SO_ERROR, so the next write just queues. */
    ck_assert_int_eq(tapir_write(c, "!", 1), 1);
    sockenv_link_loss(&env, 0);
    char b[8];
    size_t got = 0;
    while (got < 5 && sockenv_wait(s, POLLIN, 10000) & POLLIN) {
        ssize_t n = tapir_read(s, b + got, sizeof b - got);
        ck_assert_int_gt(n, 0);
        got += (size_t)n;
    }
    ck_assert_uint_eq(got, 5);
    ck_assert_mem_eq(b, "ping!", 5);
}
END_TEST

START_TEST(without_recverr_r1_is_not_reported)
{
    int c, s;
    sockenv_pair(&env, 6500, &c, &s, NULL);
    sockenv_link_loss(&env, 1.0);
    ck_assert_int_eq(tapir_write(c, "ping", 4), 4);
    /* Well past R1 (about 350 ms): nothing to report (SHLD-20). */
    ck_assert_int_eq(sockenv_wait(c, POLLIN, 1200), 0);
    int err = -1;
    socklen_t len = sizeof err;
    ck_assert_int_eq(tapir_getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &len), 0);
    ck_assert_int_eq(err, 0);
    sockenv_link_loss(&env, 0);
    char b[8];
    ck_assert_int_eq(sockenv_wait(s, POLLIN, 10000) & POLLIN, POLLIN);
    ck_assert_int_eq(tapir_read(s, b, sizeof b), 4);
}
END_TEST

START_TEST(msg_errqueue_is_eagain_and_leaves_the_data)
{
    int c, s;
    sockenv_pair(&env, 6600, &c, &s, NULL);
    set_ip(c, IP_RECVERR, 1);
    char b[8];
    /* Blocking socket, nothing queued anywhere: EAGAIN at once. */
    errno = 0;
    ck_assert_int_eq(tapir_recv(c, b, sizeof b, MSG_ERRQUEUE), -1);
    ck_assert_int_eq(errno, EAGAIN);
    ck_assert_int_eq(tapir_write(s, "x", 1), 1);
    ck_assert_int_eq(sockenv_wait(c, POLLIN, 5000) & POLLIN, POLLIN);
    errno = 0;
    ck_assert_int_eq(tapir_recv(c, b, sizeof b, MSG_ERRQUEUE), -1);
    ck_assert_int_eq(errno, EAGAIN);
    ck_assert_int_eq(tapir_recv(c, b, sizeof b, 0), 1);
    ck_assert_int_eq(b[0], 'x');
}
END_TEST

int main(void)
{
    Suite *s = suite_create("socket_ipopt");
    TCase *t = tcase_create("ipopt");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 30);
    tcase_add_test(t, ip_tos_ttl_recverr_set_and_get);
    tcase_add_test(t, ip_option_errors);
    tcase_add_test(t, accepted_socket_inherits_ip_options);
    tcase_add_test(t, recverr_wakes_a_blocked_reader_at_r1_and_the_connection_goes_on);
    tcase_add_test(t, recverr_pending_error_shows_as_pollerr_and_so_error);
    tcase_add_test(t, without_recverr_r1_is_not_reported);
    tcase_add_test(t, msg_errqueue_is_eagain_and_leaves_the_data);
    suite_add_tcase(s, t);
    return harness_run(s);
}
