/* The socket API's behaviour over two stacks on a realtime vlink (no root):
 * blocking and non-blocking I/O, poll readiness transitions (tapir and
 * kernel descriptors together), wake-ups by close from another thread and
 * by stack shutdown, SO_LINGER, options, names, and the descriptor table. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sock_env.h"
#include "tapir/vlink.h"
#include "harness.h"

static struct sock_env env;

static void setup(void) { sockenv_start(&env, NULL); }
static void teardown(void) { sockenv_stop(&env); }

/* ---- blocking transfer -------------------------------------------------- */

struct xfer {
    int fd;
    size_t len;
    ssize_t result;
    int err;
};

static unsigned char pattern(size_t i) { return (unsigned char)((i * 7) ^ (i >> 9)); }

static void *blocking_writer(void *arg)
{
    struct xfer *x = arg;
    unsigned char *buf = malloc(x->len);
    for (size_t i = 0; i < x->len; i++)
        buf[i] = pattern(i);
    x->result = tapir_write(x->fd, buf, x->len);   /* one call: all of it */
    x->err = errno;
    tapir_shutdown(x->fd, SHUT_WR);
    free(buf);
    return NULL;
}

START_TEST(blocking_write_sends_everything)
{
    int c, s;
    sockenv_pair(&env, 6000, &c, &s, NULL);
    struct xfer x = { .fd = c, .len = 2u << 20 };    /* 2 MiB: several buffers' worth */
    pthread_t t;
    pthread_create(&t, NULL, blocking_writer, &x);
    size_t got = 0;
    unsigned char buf[8192];
    for (;;) {
        ssize_t n = tapir_read(s, buf, sizeof buf);
        ck_assert_msg(n >= 0, "read: %s", strerror(errno));
        if (n == 0)
            break;
        ssize_t bad = n;                 /* one assertion per read, not per byte */
        for (ssize_t i = 0; i < n && bad == n; i++)
            if (buf[i] != pattern(got + (size_t)i))
                bad = i;
        ck_assert_msg(bad == n, "byte %zu differs", got + (size_t)bad);
        got += (size_t)n;
    }
    pthread_join(t, NULL);
    ck_assert_msg(x.result == (ssize_t)x.len, "write returned %zd (%s)", x.result, strerror(x.err));
    ck_assert_uint_eq(got, x.len);
}
END_TEST

START_TEST(readv_writev_peek_waitall)
{
    int c, s;
    sockenv_pair(&env, 6010, &c, &s, NULL);
    char a[] = "hello ", b[] = "vectored ", d[] = "world";
    struct iovec out[3] = { { a, 6 }, { b, 9 }, { d, 5 } };
    ck_assert_int_eq(tapir_writev(c, out, 3), 20);
    ck_assert_int_eq(tapir_write(c, "!!!!!!", 6), 6);
    /* MSG_PEEK leaves the bytes; wait (bounded) until all 26 have arrived. */
    char peek[26];
    ssize_t n = 0;
    for (int i = 0; i < 200 && n < 26; i++) {
        sockenv_wait(s, POLLIN, 100);
        n = tapir_recv(s, peek, sizeof peek, MSG_PEEK | MSG_DONTWAIT);
        if (n < 26)
            sockenv_sleep_ms(5);
    }
    ck_assert_int_eq(n, 26);
    ck_assert_int_eq(memcmp(peek, "hello vectored world!!!!!!", 26), 0);
    /* MSG_WAITALL: exactly what was asked */
    char all[6];
    ck_assert_int_eq(tapir_recv(s, all, 6, MSG_WAITALL), 6);
    ck_assert_int_eq(memcmp(all, "hello ", 6), 0);
    /* readv scatters the rest over its buffers in order */
    char x[8], y[12];
    struct iovec in[2] = { { x, 8 }, { y, 12 } };
    ck_assert_int_eq(tapir_readv(s, in, 2), 20);
    ck_assert_int_eq(memcmp(x, "vectored", 8), 0);
    ck_assert_int_eq(memcmp(y, " world!!!!!!", 12), 0);
}
END_TEST

START_TEST(nonblocking_write_fills_then_eagain)
{
    int c, s;
    sockenv_pair(&env, 6020, &c, &s, NULL);
    ck_assert_int_eq(tapir_fcntl(c, F_SETFL, O_NONBLOCK), 0);
    ck_assert_int_eq(tapir_fcntl(c, F_GETFL) & O_NONBLOCK, O_NONBLOCK);
    static char chunk[65536];
    size_t total = 0;
    ssize_t n = 0;
    /* The peer does not read: its window and then our buffer fill up.
     * Write until EAGAIN, and again while ACKs still make room. */
    bool full = false;
    for (int round = 0; round < 100 && !full; round++) {
        for (int i = 0; i < 1000; i++) {
            n = tapir_write(c, chunk, sizeof chunk);
            if (n < 0)
                break;
            total += (size_t)n;
        }
        ck_assert_int_eq(n, -1);
        ck_assert_int_eq(errno, EAGAIN);
        /* POLLOUT is not reported while full ... */
        full = (sockenv_wait(c, POLLOUT, 200) & POLLOUT) == 0;
    }
    ck_assert(full);
    ck_assert_uint_gt(total, 0);
    /* ... and comes back when the peer reads. */
    size_t drained = 0;
    char buf[65536];
    while (drained < total) {
        ssize_t r = tapir_read(s, buf, sizeof buf);
        ck_assert_int_gt(r, 0);
        drained += (size_t)r;
    }
    ck_assert(sockenv_wait(c, POLLOUT, 2000) & POLLOUT);
}
END_TEST

START_TEST(sndtimeo_gives_partial_count_or_eagain)
{
    int c, s;
    sockenv_pair(&env, 6030, &c, &s, NULL);
    struct timeval tv = { .tv_sec = 0, .tv_usec = 200000 };
    ck_assert_int_eq(tapir_setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv), 0);
    size_t big = 8u << 20;            /* more than buffer + window */
    char *buf = calloc(1, big);
    ssize_t n = tapir_write(c, buf, big);
    ck_assert_msg(n > 0 && (size_t)n < big, "write returned %zd", n);
    /* Once the peer's window and our buffer are full, a write that can
     * queue nothing before the timeout fails with EAGAIN (a few more bytes
     * may still fit while the last ACKs arrive). */
    for (int i = 0; i < 50; i++) {
        errno = 0;
        n = tapir_write(c, buf, big);
        if (n < 0)
            break;
    }
    ck_assert_int_eq(n, -1);
    ck_assert_int_eq(errno, EAGAIN);
    free(buf);
}
END_TEST

/* ---- poll ---------------------------------------------------------------- */

START_TEST(poll_transitions)
{
    /* A fresh socket is writable and hung up, as on Linux. */
    int fresh = tapir_socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_eq(sockenv_wait(fresh, POLLIN | POLLOUT, 0), POLLOUT | POLLHUP);

    int l = sockenv_listen(env.b, 6100);
    ck_assert_int_eq(sockenv_wait(l, POLLIN, 50), 0);         /* nothing to accept */
    int c = tapir_socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in to = sockenv_addr("10.0.0.3", 6100);
    ck_assert_int_eq(tapir_connect(c, (struct sockaddr *)&to, sizeof to), 0);
    ck_assert_int_eq(sockenv_wait(l, POLLIN, 2000), POLLIN);  /* now there is */
    int s = tapir_accept(l, NULL, NULL);
    ck_assert_int_ge(s, TAPIR_FD_BASE);

    ck_assert_int_eq(sockenv_wait(c, POLLIN | POLLOUT | POLLRDHUP, 0), POLLOUT);
    ck_assert_int_eq(tapir_write(s, "ping", 4), 4);
    ck_assert_int_eq(sockenv_wait(c, POLLIN, 2000), POLLIN);
    char b[8];
    ck_assert_int_eq(tapir_read(c, b, sizeof b), 4);
    ck_assert_int_eq(sockenv_wait(c, POLLIN, 0), 0);          /* drained */
    ck_assert_int_eq(tapir_shutdown(s, SHUT_WR), 0);          /* peer's FIN */
    ck_assert_int_eq(sockenv_wait(c, POLLIN | POLLRDHUP, 2000), POLLIN | POLLRDHUP);
    ck_assert_int_eq(tapir_read(c, b, sizeof b), 0);          /* EOF */
    ck_assert_int_eq(tapir_close(c), 0);                      /* our FIN too */
    ck_assert(sockenv_wait(s, POLLIN | POLLRDHUP, 2000) & POLLRDHUP);
    short r = sockenv_wait(s, 0, 2000);                        /* both done */
    ck_assert_msg(r & POLLHUP, "revents %#x", (unsigned)r);
    /* A closed or unknown descriptor: POLLNVAL. */
    struct pollfd p = { .fd = c, .events = POLLIN };
    ck_assert_int_eq(tapir_poll(&p, 1, 0), 1);
    ck_assert_int_eq(p.revents, POLLNVAL);
}
END_TEST

START_TEST(poll_nonblocking_connect)
{
    int l = sockenv_listen(env.b, 6110);
    int c = tapir_socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in to = sockenv_addr("10.0.0.3", 6110);
    errno = 0;
    ck_assert_int_eq(tapir_connect(c, (struct sockaddr *)&to, sizeof to), -1);
    ck_assert_int_eq(errno, EINPROGRESS);
    ck_assert_int_eq(sockenv_wait(c, POLLOUT, 2000), POLLOUT);
    int err = -1;
    socklen_t len = sizeof err;
    ck_assert_int_eq(tapir_getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &len), 0);
    ck_assert_int_eq(err, 0);
    /* Linux: the next connect reports the completed one (0), then EISCONN. */
    ck_assert_int_eq(tapir_connect(c, (struct sockaddr *)&to, sizeof to), 0);
    errno = 0;
    ck_assert_int_eq(tapir_connect(c, (struct sockaddr *)&to, sizeof to), -1);
    ck_assert_int_eq(errno, EISCONN);
    ck_assert_int_eq(tapir_close(l), 0);

    /* Refused: POLLOUT with POLLERR|POLLHUP, SO_ERROR says why, once. */
    int r = tapir_socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in closed = sockenv_addr("10.0.0.3", 6111);
    ck_assert_int_eq(tapir_connect(r, (struct sockaddr *)&closed, sizeof closed), -1);
    ck_assert_int_eq(errno, EINPROGRESS);
    short ev = sockenv_wait(r, POLLOUT, 2000);
    ck_assert_msg((ev & (POLLOUT | POLLERR | POLLHUP)) == (POLLOUT | POLLERR | POLLHUP), "revents %#x", (unsigned)ev);
    ck_assert_int_eq(tapir_getsockopt(r, SOL_SOCKET, SO_ERROR, &err, &len), 0);
    ck_assert_int_eq(err, ECONNREFUSED);
    ck_assert_int_eq(tapir_getsockopt(r, SOL_SOCKET, SO_ERROR, &err, &len), 0);
    ck_assert_int_eq(err, 0);
}
END_TEST

struct delayed_write {
    int fd;
    long ms;
};

static void *write_later(void *arg)
{
    struct delayed_write *d = arg;
    sockenv_sleep_ms(d->ms);
    ck_assert_int_eq(tapir_write(d->fd, "late", 4), 4);
    return NULL;
}

START_TEST(poll_mixes_kernel_and_tapir_descriptors)
{
    int c, s;
    sockenv_pair(&env, 6120, &c, &s, NULL);
    int pipefd[2];
    ck_assert_int_eq(pipe(pipefd), 0);
    struct pollfd p[3] = {
        { .fd = pipefd[0], .events = POLLIN },
        { .fd = c, .events = POLLIN },
        { .fd = -1, .events = POLLIN },             /* ignored, as poll(2) */
    };
    ck_assert_int_eq(tapir_poll(p, 3, 0), 0);
    /* A kernel descriptor becomes ready. */
    ck_assert_int_eq(write(pipefd[1], "k", 1), 1);
    ck_assert_int_eq(tapir_poll(p, 3, 1000), 1);
    ck_assert_int_eq(p[0].revents, POLLIN);
    ck_assert_int_eq(p[1].revents, 0);
    char k;
    ck_assert_int_eq(read(pipefd[0], &k, 1), 1);
    /* A tapir socket wakes an infinite poll that also waits on the pipe. */
    struct delayed_write d = { .fd = s, .ms = 100 };
    pthread_t t;
    pthread_create(&t, NULL, write_later, &d);
    uint64_t t0 = sockenv_ms();
    ck_assert_int_eq(tapir_poll(p, 3, -1), 1);
    ck_assert_uint_ge(sockenv_ms() - t0, 90);
    ck_assert_int_eq(p[0].revents, 0);
    ck_assert_int_eq(p[1].revents, POLLIN);
    pthread_join(t, NULL);
    close(pipefd[0]);
    close(pipefd[1]);
}
END_TEST

/* ---- wake-ups ------------------------------------------------------------ */

struct blocked {
    int fd;
    ssize_t result;
    int err;
};

static void *blocked_read(void *arg)
{
    struct blocked *b = arg;
    char buf[16];
    b->result = tapir_read(b->fd, buf, sizeof buf);
    b->err = errno;
    return NULL;
}

static void *blocked_accept(void *arg)
{
    struct blocked *b = arg;
    b->result = tapir_accept(b->fd, NULL, NULL);
    b->err = errno;
    return NULL;
}

START_TEST(close_from_another_thread_wakes_reader)
{
    int c, s;
    sockenv_pair(&env, 6200, &c, &s, NULL);
    struct blocked b = { .fd = c };
    pthread_t t;
    pthread_create(&t, NULL, blocked_read, &b);
    sockenv_sleep_ms(100);                       /* let it block */
    ck_assert_int_eq(tapir_close(c), 0);
    pthread_join(t, NULL);               /* (the Check timeout catches a hang) */
    ck_assert_int_eq(b.result, -1);
    ck_assert_int_eq(b.err, EBADF);

    int l = sockenv_listen(env.a, 6201);
    struct blocked ba = { .fd = l };
    pthread_create(&t, NULL, blocked_accept, &ba);
    sockenv_sleep_ms(100);
    ck_assert_int_eq(tapir_close(l), 0);
    pthread_join(t, NULL);
    ck_assert_int_eq(ba.result, -1);
    ck_assert_int_eq(ba.err, EBADF);
}
END_TEST

START_TEST(stack_stop_wakes_reader)
{
    int c, s;
    sockenv_pair(&env, 6210, &c, &s, NULL);
    struct blocked b = { .fd = s };      /* on stack B */
    pthread_t t;
    pthread_create(&t, NULL, blocked_read, &b);
    sockenv_sleep_ms(100);
    tapir_stack_stop(env.b);
    env.b = NULL;
    pthread_join(t, NULL);
    ck_assert_int_eq(b.result, -1);
    ck_assert_int_eq(b.err, ECONNABORTED);
    char x;
    errno = 0;
    ck_assert_int_eq(tapir_read(s, &x, 1), -1);
    ck_assert_int_eq(errno, ECONNABORTED);
    struct pollfd p = { .fd = s, .events = POLLIN };
    ck_assert_int_eq(tapir_poll(&p, 1, 0), 1);
    ck_assert_int_eq(p.revents, POLLERR | POLLHUP);
    ck_assert_int_eq(tapir_close(s), 0); /* close still frees the descriptor */
    errno = 0;
    ck_assert_int_eq(tapir_close(s), -1);
    ck_assert_int_eq(errno, EBADF);
    /* Stack A goes on working. */
    ck_assert_int_eq(tapir_write(c, "x", 1), 1);
}
END_TEST

/* ---- close and linger ----------------------------------------------------- */

START_TEST(linger_zero_resets_peer)
{
    int c, s;
    sockenv_pair(&env, 6300, &c, &s, NULL);
    struct linger lg = { .l_onoff = 1, .l_linger = 0 };
    ck_assert_int_eq(tapir_setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    struct linger got;
    socklen_t len = sizeof got;
    ck_assert_int_eq(tapir_getsockopt(c, SOL_SOCKET, SO_LINGER, &got, &len), 0);
    ck_assert_int_eq(got.l_onoff, 1);
    ck_assert_int_eq(got.l_linger, 0);
    ck_assert_int_eq(tapir_close(c), 0);
    char b[4];
    errno = 0;
    ck_assert_int_eq(tapir_read(s, b, sizeof b), -1);
    ck_assert_int_eq(errno, ECONNRESET);
}
END_TEST

START_TEST(graceful_close_delivers_queued_data)
{
    int c, s;
    sockenv_pair(&env, 6310, &c, &s, NULL);
    /* More than the receiver's initial window (64 KiB), which it does not
     * read before the close: data still queued at the sender then. */
    static char data[120000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (char)pattern(i);
    ck_assert_int_eq(tapir_write(c, data, sizeof data), (ssize_t)sizeof data);
    struct linger lg = { .l_onoff = 1, .l_linger = 5 };
    ck_assert_int_eq(tapir_setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    ck_assert_int_eq(tapir_close(c), 0);      /* FIN after the data */
    size_t got = 0;
    char buf[16384];
    for (;;) {
        ssize_t n = tapir_read(s, buf, sizeof buf);
        ck_assert_msg(n >= 0, "read: %s", strerror(errno));
        if (n == 0)
            break;
        ck_assert_int_eq(memcmp(buf, data + got, (size_t)n), 0);
        got += (size_t)n;
    }
    ck_assert_uint_eq(got, sizeof data);
}
END_TEST

START_TEST(listener_close_resets_pending)
{
    int l = sockenv_listen(env.b, 6320);
    int c = tapir_socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in to = sockenv_addr("10.0.0.3", 6320);
    ck_assert_int_eq(tapir_connect(c, (struct sockaddr *)&to, sizeof to), 0);
    ck_assert_int_eq(tapir_write(c, "early", 5), 5);   /* before accept: kept */
    ck_assert_int_eq(sockenv_wait(l, POLLIN, 2000), POLLIN);
    ck_assert_int_eq(tapir_close(l), 0);
    char b[4];
    errno = 0;
    ck_assert_int_eq(tapir_read(c, b, sizeof b), -1);
    ck_assert_int_eq(errno, ECONNRESET);
}
END_TEST

START_TEST(data_before_accept_is_kept)
{
    int l = sockenv_listen(env.b, 6330);
    int c = tapir_socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in to = sockenv_addr("10.0.0.3", 6330);
    ck_assert_int_eq(tapir_connect(c, (struct sockaddr *)&to, sizeof to), 0);
    ck_assert_int_eq(tapir_write(c, "early", 5), 5);
    sockenv_sleep_ms(100);
    int s = tapir_accept(l, NULL, NULL);
    char b[8];
    ck_assert_int_eq(tapir_read(s, b, sizeof b), 5);
    ck_assert_int_eq(memcmp(b, "early", 5), 0);
}
END_TEST

static enum tapir_tcp_state state_of(int fd)
{
    struct tapir_tcp_info info;
    socklen_t len = sizeof info;
    ck_assert_int_eq(tapir_getsockopt(fd, IPPROTO_TCP, TAPIR_TCP_INFO, &info, &len), 0);
    return info.state;
}

START_TEST(simultaneous_close_through_closing)
{
    int c, s;
    sockenv_pair(&env, 6340, &c, &s, NULL);
    /* Cut the link, let both ends send their FIN into the void, restore it:
     * the retransmitted FINs cross (RFC 9293 3.6, Figure 13). */
    struct tapir_vlink_params p;
    tapir_vlink_params_init(&p);
    p.loss = 1.0;
    tapir_vlink_set_impairments(env.link_a, &p);
    ck_assert_int_eq(tapir_shutdown(c, SHUT_WR), 0);
    ck_assert_int_eq(tapir_shutdown(s, SHUT_WR), 0);
    sockenv_sleep_ms(50);
    ck_assert_int_eq(state_of(c), TAPIR_TCP_FIN_WAIT_1);
    ck_assert_int_eq(state_of(s), TAPIR_TCP_FIN_WAIT_1);
    p.loss = 0;
    tapir_vlink_set_impairments(env.link_a, &p);
    char b;
    ck_assert_int_eq(tapir_read(c, &b, 1), 0);
    ck_assert_int_eq(tapir_read(s, &b, 1), 0);
    enum tapir_tcp_state sc = TAPIR_TCP_CLOSED, ss = TAPIR_TCP_CLOSED;
    for (int i = 0; i < 100; i++) {
        sc = state_of(c);
        ss = state_of(s);
        if (sc == TAPIR_TCP_TIME_WAIT && ss == TAPIR_TCP_TIME_WAIT)
            break;
        sockenv_sleep_ms(50);
    }
    ck_assert_msg(sc == TAPIR_TCP_TIME_WAIT && ss == TAPIR_TCP_TIME_WAIT,
                  "states %s / %s", tapir_tcp_state_name(sc), tapir_tcp_state_name(ss));
}
END_TEST

/* ---- names, options, info ------------------------------------------------- */

START_TEST(congestion_control_is_chosen_per_socket)
{
    /* A fresh socket uses the stack default (CUBIC); TCP_CONGESTION picks
     * NewReno for this socket only, and an unknown name is ENOENT as on Linux. */
    int fd = tapir_socket(AF_INET, SOCK_STREAM, 0);
    char name[16] = {0};
    socklen_t len = sizeof name;
    ck_assert_int_eq(tapir_getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, name, &len), 0);
    ck_assert_str_eq(name, "cubic");
    ck_assert_int_eq(tapir_setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, "reno", 4), 0);
    len = sizeof name;
    memset(name, 0, sizeof name);
    ck_assert_int_eq(tapir_getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, name, &len), 0);
    ck_assert_msg(strcmp(name, "reno") == 0 || strcmp(name, "newreno") == 0, "got %s", name);
    errno = 0;
    ck_assert_int_eq(tapir_setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, "vegas", 5), -1);
    ck_assert_int_eq(errno, ENOENT);
    int other = tapir_socket(AF_INET, SOCK_STREAM, 0);
    len = sizeof name;
    ck_assert_int_eq(tapir_getsockopt(other, IPPROTO_TCP, TCP_CONGESTION, name, &len), 0);
    ck_assert_str_eq(name, "cubic");
    ck_assert_int_eq(tapir_close(fd), 0);
    ck_assert_int_eq(tapir_close(other), 0);
}
END_TEST

START_TEST(names_and_options)
{
    int c, s;
    sockenv_pair(&env, 6400, &c, &s, NULL);
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    ck_assert_int_eq(tapir_getsockname(s, (struct sockaddr *)&a, &len), 0);
    ck_assert_uint_eq(len, sizeof a);
    ck_assert_uint_eq(ntohs(a.sin_port), 6400);
    ck_assert_uint_eq(ntohl(a.sin_addr.s_addr), 0x0a000003u);
    ck_assert_int_eq(tapir_getpeername(s, (struct sockaddr *)&a, &len), 0);
    ck_assert_uint_eq(ntohl(a.sin_addr.s_addr), 0x0a000002u);
    uint16_t cport = ntohs(a.sin_port);
    ck_assert_int_eq(tapir_getsockname(c, (struct sockaddr *)&a, &len), 0);
    ck_assert_uint_eq(ntohs(a.sin_port), cport);

    int v = 1;
    socklen_t vl = sizeof v;
    ck_assert_int_eq(tapir_setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &v, sizeof v), 0);
    v = 0;
    ck_assert_int_eq(tapir_getsockopt(c, IPPROTO_TCP, TCP_NODELAY, &v, &vl), 0);
    ck_assert_int_eq(v, 1);
    ck_assert_int_eq(tapir_getsockopt(c, SOL_SOCKET, SO_TYPE, &v, &vl), 0);
    ck_assert_int_eq(v, SOCK_STREAM);
    v = 1;
    ck_assert_int_eq(tapir_setsockopt(c, SOL_SOCKET, SO_KEEPALIVE, &v, sizeof v), 0);
    v = 30;
    ck_assert_int_eq(tapir_setsockopt(c, IPPROTO_TCP, TCP_KEEPIDLE, &v, sizeof v), 0);
    v = 5;
    ck_assert_int_eq(tapir_setsockopt(c, IPPROTO_TCP, TCP_KEEPINTVL, &v, sizeof v), 0);
    ck_assert_int_eq(tapir_setsockopt(c, IPPROTO_TCP, TCP_KEEPCNT, &v, sizeof v), 0);
    ck_assert_int_eq(tapir_getsockopt(c, IPPROTO_TCP, TCP_KEEPIDLE, &v, &vl), 0);
    ck_assert_int_eq(v, 30);
    int fresh = tapir_socket(AF_INET, SOCK_STREAM, 0);
    v = 100000;
    ck_assert_int_eq(tapir_setsockopt(fresh, SOL_SOCKET, SO_RCVBUF, &v, sizeof v), 0);
    ck_assert_int_eq(tapir_getsockopt(fresh, SOL_SOCKET, SO_RCVBUF, &v, &vl), 0);
    ck_assert_int_eq(v, 100000);
    v = 4096;                             /* shrinking after the handshake: ignored, no error */
    ck_assert_int_eq(tapir_setsockopt(c, SOL_SOCKET, SO_RCVBUF, &v, sizeof v), 0);
    ck_assert_int_eq(tapir_getsockopt(c, IPPROTO_TCP, TCP_MAXSEG, &v, &vl), 0);
    ck_assert_int_eq(v, 1460 - 12);       /* timestamps negotiated: 12 bytes a segment (as Linux reports) */
    errno = 0;
    ck_assert_int_eq(tapir_getsockopt(c, SOL_SOCKET, 9999, &v, &vl), -1);
    ck_assert_int_eq(errno, ENOPROTOOPT);

    struct tapir_tcp_info info;
    socklen_t il = sizeof info;
    ck_assert_int_eq(tapir_write(c, "abc", 3), 3);
    ck_assert_int_eq(tapir_getsockopt(c, IPPROTO_TCP, TAPIR_TCP_INFO, &info, &il), 0);
    ck_assert_uint_eq(il, sizeof info);
    ck_assert_int_eq(info.state, TAPIR_TCP_ESTABLISHED);
    ck_assert_uint_gt(info.rto_us, 0);
    ck_assert_uint_gt(info.cwnd, 0);
}
END_TEST

START_TEST(descriptors_unique_across_stacks)
{
    int fds[40];
    for (int i = 0; i < 40; i++) {
        fds[i] = tapir_socket_on(i % 2 ? env.b : env.a, AF_INET, SOCK_STREAM, 0);
        ck_assert_int_ge(fds[i], TAPIR_FD_BASE);
        for (int j = 0; j < i; j++)
            ck_assert_int_ne(fds[i], fds[j]);
        ck_assert_ptr_eq(tapir_socket_stack(fds[i]), i % 2 ? env.b : env.a);
    }
    /* The default stack is the first started. */
    int d = tapir_socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_ptr_eq(tapir_socket_stack(d), env.a);
    tapir_set_default_stack(env.b);
    int e = tapir_socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_ptr_eq(tapir_socket_stack(e), env.b);
    tapir_set_default_stack(NULL);
    /* The lowest free descriptor is reused first, as the kernel does. */
    int freed = fds[7];
    ck_assert_int_eq(tapir_close(freed), 0);
    ck_assert_int_eq(tapir_socket_on(env.a, AF_INET, SOCK_STREAM, 0), freed);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("socket_api");
    TCase *t = tcase_create("api");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 60);
    tcase_add_test(t, blocking_write_sends_everything);
    tcase_add_test(t, readv_writev_peek_waitall);
    tcase_add_test(t, nonblocking_write_fills_then_eagain);
    tcase_add_test(t, sndtimeo_gives_partial_count_or_eagain);
    tcase_add_test(t, poll_transitions);
    tcase_add_test(t, poll_nonblocking_connect);
    tcase_add_test(t, poll_mixes_kernel_and_tapir_descriptors);
    tcase_add_test(t, close_from_another_thread_wakes_reader);
    tcase_add_test(t, stack_stop_wakes_reader);
    tcase_add_test(t, linger_zero_resets_peer);
    tcase_add_test(t, graceful_close_delivers_queued_data);
    tcase_add_test(t, listener_close_resets_pending);
    tcase_add_test(t, data_before_accept_is_kept);
    tcase_add_test(t, simultaneous_close_through_closing);
    tcase_add_test(t, names_and_options);
    tcase_add_test(t, congestion_control_is_chosen_per_socket);
    tcase_add_test(t, descriptors_unique_across_stacks);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return harness_run(suite());
}
