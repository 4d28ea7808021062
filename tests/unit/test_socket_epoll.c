/* tapir_epoll_create1 / tapir_epoll_ctl / tapir_epoll_wait (no root): two
 * stacks over a realtime vlink (sock_env). Covers the errors Linux gives,
 * level-triggered, edge-triggered and one-shot reporting, registrations
 * dropped when their socket is closed (and the number registered again),
 * kernel descriptors in the same instance, a blocking wait woken by the peer
 * (driving the device and not), maxevents smaller than the ready set, peer
 * close (EPOLLRDHUP/EPOLLHUP), a stack stopped under a registration, and a
 * wait over many idle registrations that reports exactly the ready one. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "sock/runtime.h"
#include "sock_env.h"

static struct sock_env env;

static void setup(void) { sockenv_start(&env, NULL); }
static void teardown(void) { sockenv_stop(&env); }

/* Wait up to ms for at least one event; the count (events in evs). */
static int ep_wait(int ep, struct epoll_event *evs, int max, int ms)
{
    int n = tapir_epoll_wait(ep, evs, max, ms);
    ck_assert_msg(n >= 0, "epoll_wait: %s", strerror(errno));
    return n;
}

/* The events reported for data within one wait of up to ms, 0 if none. */
static uint32_t ep_events_of(int ep, uint64_t data, int ms)
{
    struct epoll_event evs[16];
    int n = ep_wait(ep, evs, 16, ms);
    for (int i = 0; i < n; i++)
        if (evs[i].data.u64 == data)
            return evs[i].events;
    return 0;
}

static void write_byte(int fd, char b)
{
    ck_assert_int_eq(tapir_write(fd, &b, 1), 1);
}

START_TEST(create_and_ctl_errors)
{
    errno = 0;
    ck_assert_int_eq(tapir_epoll_create1(0x4), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(tapir_epoll_create(0), -1);
    ck_assert_int_eq(errno, EINVAL);
    int ep = tapir_epoll_create1(EPOLL_CLOEXEC);
    ck_assert_int_ge(ep, TAPIR_EPOLL_FD_BASE);
    int ep2 = tapir_epoll_create(1);
    ck_assert_int_ge(ep2, TAPIR_EPOLL_FD_BASE);
    ck_assert_int_ne(ep, ep2);

    int s = tapir_socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(s, TAPIR_FD_BASE);
    struct epoll_event ev = { .events = EPOLLIN };
    struct epoll_event out[4];
    struct { int epfd, op, fd; struct epoll_event *ev; int err; } cases[] = {
        { ep, EPOLL_CTL_ADD, s, NULL, EFAULT },
        { ep, 99, s, &ev, EINVAL },
        { ep, EPOLL_CTL_ADD, ep, &ev, EINVAL },             /* itself */
        { ep, EPOLL_CTL_ADD, ep2, &ev, EINVAL },            /* nesting */
        { ep, EPOLL_CTL_ADD, TAPIR_EPOLL_FD_BASE + 5000, &ev, EBADF },
        { ep, EPOLL_CTL_ADD, TAPIR_FD_BASE + 60000, &ev, EBADF },
        { ep, EPOLL_CTL_MOD, s, &ev, ENOENT },
        { ep, EPOLL_CTL_DEL, s, NULL, ENOENT },
        { s, EPOLL_CTL_ADD, s, &ev, EINVAL },               /* epfd a socket */
        { TAPIR_EPOLL_FD_BASE + 5000, EPOLL_CTL_ADD, s, &ev, EBADF },
        { 1 << 29, EPOLL_CTL_ADD, s, &ev, EBADF },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        errno = 0;
        ck_assert_msg(tapir_epoll_ctl(cases[i].epfd, cases[i].op, cases[i].fd, cases[i].ev) == -1 &&
                      errno == cases[i].err, "case %zu: errno %d, want %d", i, errno, cases[i].err);
    }
    ck_assert_int_eq(tapir_epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev), 0);
    errno = 0;
    ck_assert_int_eq(tapir_epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev), -1);
    ck_assert_int_eq(errno, EEXIST);
    /* A regular file cannot be watched: the kernel's EPERM passes through. */
    int f = open("/proc/self/stat", O_RDONLY);
    ck_assert_int_ge(f, 0);
    errno = 0;
    ck_assert_int_eq(tapir_epoll_ctl(ep, EPOLL_CTL_ADD, f, &ev), -1);
    ck_assert_int_eq(errno, EPERM);
    close(f);

    errno = 0;
    ck_assert_int_eq(tapir_epoll_wait(ep, out, 0, 0), -1);
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_int_eq(tapir_epoll_wait(ep, NULL, 4, 0), -1);
    ck_assert_int_eq(errno, EFAULT);
    errno = 0;
    ck_assert_int_eq(tapir_epoll_wait(s, out, 4, 0), -1);
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_int_eq(tapir_epoll_wait(TAPIR_EPOLL_FD_BASE + 5000, out, 4, 0), -1);
    ck_assert_int_eq(errno, EBADF);
    /* An epoll descriptor is not a socket and cannot be polled. */
    struct pollfd p = { .fd = ep, .events = POLLIN };
    ck_assert_int_eq(tapir_poll(&p, 1, 0), 1);
    ck_assert_int_eq(p.revents, POLLNVAL);

    ck_assert_int_eq(tapir_close(ep2), 0);
    errno = 0;
    ck_assert_int_eq(tapir_close(ep2), -1);
    ck_assert_int_eq(errno, EBADF);
    ck_assert_int_eq(tapir_close(s), 0);
    ck_assert_int_eq(tapir_close(ep), 0);
    errno = 0;
    ck_assert_int_eq(tapir_epoll_wait(ep, out, 4, 0), -1);
    ck_assert_int_eq(errno, EBADF);
}
END_TEST

/* Level-triggered: a listener with a connection to accept, then unread data,
 * reported on every wait until taken. */
START_TEST(level_triggered)
{
    int ep = sockenv_epoll_new();
    int l = sockenv_listen(env.b, 7001);
    sockenv_epoll_add(ep, l, EPOLLIN, 1);
    ck_assert_int_eq(ep_events_of(ep, 1, 0), 0);

    int c = tapir_socket_on(env.a, AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in to = sockenv_addr("10.0.0.3", 7001);
    ck_assert_int_eq(tapir_connect(c, (struct sockaddr *)&to, sizeof to), 0);
    ck_assert_uint_eq(ep_events_of(ep, 1, 2000), EPOLLIN);
    ck_assert_uint_eq(ep_events_of(ep, 1, 0), EPOLLIN);       /* still pending */
    int s = tapir_accept(l, NULL, NULL);
    ck_assert_int_ge(s, TAPIR_FD_BASE);
    ck_assert_uint_eq(ep_events_of(ep, 1, 0), 0);             /* taken */

    sockenv_epoll_add(ep, s, EPOLLIN | EPOLLOUT, 2);
    ck_assert_uint_eq(ep_events_of(ep, 2, 0), EPOLLOUT);
    struct epoll_event in_only = { .events = EPOLLIN, .data.u64 = 2 };
    ck_assert_int_eq(tapir_epoll_ctl(ep, EPOLL_CTL_MOD, s, &in_only), 0);
    ck_assert_uint_eq(ep_events_of(ep, 2, 0), 0);
    write_byte(c, 'x');
    ck_assert_uint_eq(ep_events_of(ep, 2, 2000), EPOLLIN);
    ck_assert_uint_eq(ep_events_of(ep, 2, 0), EPOLLIN);       /* unread: again */
    char b;
    ck_assert_int_eq(tapir_read(s, &b, 1), 1);
    ck_assert_uint_eq(ep_events_of(ep, 2, 0), 0);
    ck_assert_int_eq(tapir_epoll_ctl(ep, EPOLL_CTL_DEL, s, NULL), 0);
    write_byte(c, 'y');
    ck_assert_int_eq(sockenv_wait(s, POLLIN, 2000) & POLLIN, POLLIN);
    ck_assert_uint_eq(ep_events_of(ep, 2, 0), 0);             /* deleted */
    tapir_close(c);
    tapir_close(s);
    tapir_close(l);
    tapir_close(ep);
}
END_TEST

/* Edge-triggered: reported once per arrival, not again while unread. */
START_TEST(edge_triggered)
{
    int ep = sockenv_epoll_new();
    int c, s;
    sockenv_pair(&env, 7002, &c, &s, NULL);
    sockenv_epoll_add(ep, s, EPOLLIN | EPOLLET, 7);
    ck_assert_uint_eq(ep_events_of(ep, 7, 0), 0);
    write_byte(c, 'a');
    ck_assert_uint_eq(ep_events_of(ep, 7, 2000), EPOLLIN);
    ck_assert_uint_eq(ep_events_of(ep, 7, 50), 0);            /* no new edge */
    write_byte(c, 'b');
    ck_assert_uint_eq(ep_events_of(ep, 7, 2000), EPOLLIN);    /* a new one */
    char buf[4];
    ck_assert_int_eq(tapir_read(s, buf, sizeof buf), 2);
    ck_assert_uint_eq(ep_events_of(ep, 7, 0), 0);
    tapir_close(c);
    tapir_close(s);
    tapir_close(ep);
}
END_TEST

/* One-shot: reported once, then silent until EPOLL_CTL_MOD re-arms it. */
START_TEST(one_shot)
{
    int ep = sockenv_epoll_new();
    int c, s;
    sockenv_pair(&env, 7003, &c, &s, NULL);
    sockenv_epoll_add(ep, s, EPOLLIN | EPOLLONESHOT, 9);
    write_byte(c, 'a');
    ck_assert_uint_eq(ep_events_of(ep, 9, 2000), EPOLLIN);
    write_byte(c, 'b');
    ck_assert_uint_eq(ep_events_of(ep, 9, 100), 0);           /* disabled */
    struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT, .data.u64 = 10 };
    ck_assert_int_eq(tapir_epoll_ctl(ep, EPOLL_CTL_MOD, s, &ev), 0);
    ck_assert_uint_eq(ep_events_of(ep, 10, 0), EPOLLIN);      /* re-armed, still unread */
    ck_assert_uint_eq(ep_events_of(ep, 10, 0), 0);
    tapir_close(c);
    tapir_close(s);
    tapir_close(ep);
}
END_TEST

/* Closing a registered socket drops its registration: nothing more is
 * reported for it, and the number can be registered again by the socket
 * that gets it next. */
START_TEST(close_drops_registration)
{
    int ep = sockenv_epoll_new();
    int c, s;
    sockenv_pair(&env, 7004, &c, &s, NULL);
    write_byte(c, 'a');
    ck_assert_int_eq(sockenv_wait(s, POLLIN, 2000) & POLLIN, POLLIN);
    sockenv_epoll_add(ep, s, EPOLLIN, 11);
    ck_assert_uint_eq(ep_events_of(ep, 11, 0), EPOLLIN);
    int old = s;
    ck_assert_int_eq(tapir_close(s), 0);
    ck_assert_uint_eq(ep_events_of(ep, 11, 0), 0);
    errno = 0;
    ck_assert_int_eq(tapir_epoll_ctl(ep, EPOLL_CTL_DEL, old, NULL), -1);
    ck_assert_int_eq(errno, EBADF);
    /* The lowest free number is handed out first: sockets until the old
     * number comes back, the same descriptor for a new socket. */
    int extra[8], nextra = 0, again;
    while ((again = tapir_socket_on(env.b, AF_INET, SOCK_STREAM, 0)) != old) {
        ck_assert_int_ge(again, TAPIR_FD_BASE);
        ck_assert_int_lt(nextra, 8);
        extra[nextra++] = again;
    }
    errno = 0;
    ck_assert_int_eq(tapir_epoll_ctl(ep, EPOLL_CTL_MOD, again, &(struct epoll_event){ .events = EPOLLIN }), -1);
    ck_assert_int_eq(errno, ENOENT);
    sockenv_epoll_add(ep, again, EPOLLOUT, 12);     /* no EEXIST from the old one */
    /* Never connected: writable and hung up, as tapir_poll says. */
    ck_assert_uint_eq(ep_events_of(ep, 12, 0), EPOLLOUT | EPOLLHUP);
    tapir_close(again);
    for (int i = 0; i < nextra; i++)
        tapir_close(extra[i]);
    tapir_close(c);
    tapir_close(ep);
}
END_TEST

/* Kernel descriptors sit in the same instance with their own data. */
START_TEST(kernel_descriptors)
{
    int ep = sockenv_epoll_new();
    int pfd[2];
    ck_assert_int_eq(pipe(pfd), 0);
    sockenv_epoll_add(ep, pfd[0], EPOLLIN, 21);
    int c, s;
    sockenv_pair(&env, 7005, &c, &s, NULL);
    sockenv_epoll_add(ep, s, EPOLLIN, 22);
    ck_assert_int_eq(ep_wait(ep, (struct epoll_event[4]){0}, 4, 0), 0);
    ck_assert_int_eq(write(pfd[1], "k", 1), 1);
    ck_assert_uint_eq(ep_events_of(ep, 21, 1000), EPOLLIN);
    write_byte(c, 't');
    ck_assert_int_eq(sockenv_wait(s, POLLIN, 2000) & POLLIN, POLLIN);
    struct epoll_event evs[4];
    int n = ep_wait(ep, evs, 4, 0);
    ck_assert_int_eq(n, 2);
    ck_assert_uint_eq(evs[0].data.u64 + evs[1].data.u64, 21 + 22);
    ck_assert_int_eq(tapir_epoll_ctl(ep, EPOLL_CTL_DEL, pfd[0], NULL), 0);
    ck_assert_uint_eq(ep_events_of(ep, 21, 0), 0);
    errno = 0;
    ck_assert_int_eq(tapir_epoll_ctl(ep, EPOLL_CTL_DEL, pfd[0], NULL), -1);
    ck_assert_int_eq(errno, ENOENT);

    /* A blocking wait over only a tapir socket is woken by a pipe added
     * (and written) from another thread. */
    ck_assert_int_eq(tapir_epoll_ctl(ep, EPOLL_CTL_DEL, s, NULL), 0);
    int p2[2];
    ck_assert_int_eq(pipe(p2), 0);
    sockenv_epoll_add(ep, p2[0], EPOLLIN, 23);
    sockenv_epoll_add(ep, s, EPOLLIN | EPOLLET, 22);    /* its old byte: one edge */
    ck_assert_uint_eq(ep_events_of(ep, 22, 1000), EPOLLIN);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, sockenv_write_pipe_later, &p2[1]), 0);
    uint64_t t0 = sockenv_ms();
    ck_assert_uint_eq(ep_events_of(ep, 23, 5000), EPOLLIN);
    ck_assert_uint_lt(sockenv_ms() - t0, 4000);
    pthread_join(t, NULL);
    close(pfd[0]);
    close(pfd[1]);
    close(p2[0]);
    close(p2[1]);
    tapir_close(c);
    tapir_close(s);
    tapir_close(ep);
}
END_TEST

/* A blocking wait (timeout -1) wakes when the peer's byte arrives: once
 * driving the device itself (every registration on one stack), once not
 * (registrations on both stacks). */
START_TEST(blocking_wait_wakes)
{
    for (int mode = 0; mode < 2; mode++) {
        int ep = sockenv_epoll_new();
        int c, s;
        sockenv_pair(&env, (uint16_t)(7006 + mode), &c, &s, NULL);
        sockenv_epoll_add(ep, s, EPOLLIN, 31);
        if (mode == 1)
            sockenv_epoll_add(ep, c, EPOLLIN, 32);   /* on stack A: no single stack to drive */
        unsigned long drives0 = runtime_drive_count(env.b);
        struct sockenv_later_write lw = { .fd = c, .ms = 50, .len = 1 };
        pthread_t t;
        ck_assert_int_eq(pthread_create(&t, NULL, sockenv_write_later, &lw), 0);
        struct epoll_event ev;
        uint64_t t0 = sockenv_ms();
        int n = tapir_epoll_wait(ep, &ev, 1, -1);
        uint64_t took = sockenv_ms() - t0;
        pthread_join(t, NULL);
        ck_assert_int_eq(n, 1);
        ck_assert_uint_eq(ev.data.u64, 31);
        ck_assert_uint_eq(ev.events, EPOLLIN);
        ck_assert_uint_ge(took, 40);
        ck_assert_uint_lt(took, 3000);
        unsigned long drives = runtime_drive_count(env.b) - drives0;
        if (mode == 0)
            ck_assert_uint_ge(drives, 1);
        else
            ck_assert_uint_eq(drives, 0);
        tapir_close(c);
        tapir_close(s);
        tapir_close(ep);
    }
}
END_TEST

/* Segments that bring a registration nothing it asks for do not end a wait
 * that drives the device: s, polled for EPOLLIN only, sends 8 KiB during
 * the wait, and the peer's ACKs (and the send's own wake-ups) leave s
 * unreadable. The wait drives once, for its whole timeout, and reports
 * nothing. */
START_TEST(acks_do_not_end_a_driven_wait)
{
    int ep = sockenv_epoll_new();
    int c, s;
    sockenv_pair(&env, 7008, &c, &s, NULL);
    sockenv_epoll_add(ep, s, EPOLLIN, 33);
    struct tapir_stats st0, st1;
    tapir_stack_snapshot_stats(env.b, &st0);
    unsigned long drives0 = runtime_drive_count(env.b);
    struct sockenv_later_write lw = { .fd = s, .ms = 50, .len = 8192 };
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, sockenv_write_later, &lw), 0);
    struct epoll_event ev;
    uint64_t t0 = sockenv_ms();
    int n = tapir_epoll_wait(ep, &ev, 1, 400);
    uint64_t took = sockenv_ms() - t0;
    unsigned long drives = runtime_drive_count(env.b) - drives0;
    tapir_stack_snapshot_stats(env.b, &st1);
    pthread_join(t, NULL);
    ck_assert_int_eq(n, 0);
    ck_assert_uint_ge(took, 390);
    /* The peer did answer during the wait: ACKs reached s's stack. */
    ck_assert_uint_gt(st1.tcp_rx, st0.tcp_rx);
    ck_assert_msg(drives == 1, "the wait drove %lu times", drives);
    sockenv_read_exactly(c, lw.len);
    tapir_close(c);
    tapir_close(s);
    tapir_close(ep);
}
END_TEST

/* maxevents below the ready set: the level-triggered ones are served in
 * turn, every one within two calls. */
START_TEST(maxevents_round_robin)
{
    enum { N = 6 };
    int ep = sockenv_epoll_new();
    int c[N], s[N];
    for (int i = 0; i < N; i++) {
        sockenv_pair(&env, (uint16_t)(7010 + i), &c[i], &s[i], NULL);
        write_byte(c[i], 'r');
        ck_assert_int_eq(sockenv_wait(s[i], POLLIN, 2000) & POLLIN, POLLIN);
        sockenv_epoll_add(ep, s[i], EPOLLIN, (uint64_t)i);
    }
    bool seen[N] = {0};
    struct epoll_event evs[4];
    ck_assert_int_eq(ep_wait(ep, evs, 4, 0), 4);
    for (int k = 0; k < 4; k++)
        seen[evs[k].data.u64] = true;
    ck_assert_int_eq(ep_wait(ep, evs, 4, 0), 4);
    for (int k = 0; k < 4; k++)
        seen[evs[k].data.u64] = true;
    for (int i = 0; i < N; i++)
        ck_assert_msg(seen[i], "socket %d never reported", i);
    for (int i = 0; i < N; i++) {
        tapir_close(c[i]);
        tapir_close(s[i]);
    }
    tapir_close(ep);
}
END_TEST

/* The peer's FIN: EPOLLIN|EPOLLRDHUP; its RST after that: EPOLLHUP|EPOLLERR. */
START_TEST(peer_close_and_reset)
{
    int ep = sockenv_epoll_new();
    int c, s;
    sockenv_pair(&env, 7020, &c, &s, NULL);
    sockenv_epoll_add(ep, s, EPOLLIN | EPOLLRDHUP, 41);
    ck_assert_int_eq(tapir_shutdown(c, SHUT_WR), 0);
    ck_assert_uint_eq(ep_events_of(ep, 41, 2000), EPOLLIN | EPOLLRDHUP);
    struct linger lg = { .l_onoff = 1, .l_linger = 0 };
    ck_assert_int_eq(tapir_setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    ck_assert_int_eq(tapir_close(c), 0);      /* RST */
    /* Readable (EOF) all along, so each wait returns at once: until the
     * RST has crossed, within 3 s. */
    uint32_t r = 0;
    for (uint64_t t0 = sockenv_ms(); !(r & EPOLLHUP) && sockenv_ms() - t0 < 3000; sockenv_sleep_ms(5))
        r = ep_events_of(ep, 41, 50);
    ck_assert_uint_eq(r & (EPOLLHUP | EPOLLERR), EPOLLHUP | EPOLLERR);
    tapir_close(s);
    tapir_close(ep);
}
END_TEST

/* A stack stopped under a registration: EPOLLERR|EPOLLHUP, no crash or
 * leak, and the instance and descriptor close cleanly. */
START_TEST(stack_stopped)
{
    int ep = sockenv_epoll_new();
    int c, s;
    sockenv_pair(&env, 7021, &c, &s, NULL);
    sockenv_epoll_add(ep, s, EPOLLIN, 51);
    tapir_stack_stop(env.b);
    env.b = NULL;
    ck_assert_uint_eq(ep_events_of(ep, 51, 1000), EPOLLERR | EPOLLHUP);
    ck_assert_int_eq(tapir_close(s), 0);
    ck_assert_uint_eq(ep_events_of(ep, 51, 0), 0);
    tapir_close(c);
    tapir_close(ep);
}
END_TEST

/* Many idle registrations and one busy connection: each wait reports the
 * busy one alone, and its byte, every round. */
START_TEST(many_idle_one_ready)
{
    enum { IDLE = 300, ROUNDS = 50 };
    int ep = sockenv_epoll_new();
    int idle[IDLE];
    for (int i = 0; i < IDLE; i++) {
        idle[i] = tapir_socket_on(env.b, AF_INET, SOCK_STREAM, 0);
        ck_assert_int_ge(idle[i], TAPIR_FD_BASE);
    }
    for (int i = 0; i < IDLE; i++) {     /* listeners nobody connects to */
        ck_assert_int_eq(tapir_listen(idle[i], 4), 0);
        sockenv_epoll_add(ep, idle[i], EPOLLIN, 1000 + (uint64_t)i);
    }
    int l = sockenv_listen(env.b, 7022);
    int c = tapir_socket_on(env.a, AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in to = sockenv_addr("10.0.0.3", 7022);
    ck_assert_int_eq(tapir_connect(c, (struct sockaddr *)&to, sizeof to), 0);
    int s = tapir_accept(l, NULL, NULL);
    ck_assert_int_ge(s, TAPIR_FD_BASE);
    sockenv_epoll_add(ep, s, EPOLLIN, 5);
    struct epoll_event evs[64];
    ck_assert_int_eq(ep_wait(ep, evs, 64, 0), 0);
    int n;
    for (int r = 0; r < ROUNDS; r++) {
        write_byte(c, (char)r);
        n = ep_wait(ep, evs, 64, 2000);
        ck_assert_int_eq(n, 1);
        ck_assert_uint_eq(evs[0].data.u64, 5);
        char b;
        ck_assert_int_eq(tapir_read(s, &b, 1), 1);
        ck_assert_int_eq(b, (char)r);
    }
    for (int i = 0; i < IDLE; i++)
        tapir_close(idle[i]);
    tapir_close(c);
    tapir_close(s);
    tapir_close(l);
    tapir_close(ep);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("socket_epoll");
    TCase *tc = tcase_create("epoll");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, create_and_ctl_errors);
    tcase_add_test(tc, level_triggered);
    tcase_add_test(tc, edge_triggered);
    tcase_add_test(tc, one_shot);
    tcase_add_test(tc, close_drops_registration);
    tcase_add_test(tc, kernel_descriptors);
    tcase_add_test(tc, blocking_wait_wakes);
    tcase_add_test(tc, acks_do_not_end_a_driven_wait);
    tcase_add_test(tc, maxevents_round_robin);
    tcase_add_test(tc, peer_close_and_reset);
    tcase_add_test(tc, stack_stopped);
    tcase_add_test(tc, many_idle_one_ready);
    suite_add_tcase(su, tc);
    return harness_run(su);
}
