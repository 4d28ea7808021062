/* Two started stacks over a realtime vlink, for the socket API tests. */
#include "sock_env.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "sock/runtime.h"
#include "tapir/vlink.h"

void sockenv_start(struct sock_env *e, void (*tune)(struct tapir_config *cfg))
{
    struct tapir_vlink_params p;
    tapir_vlink_params_init(&p);
    p.realtime = true;
    p.seed = 7;
    struct tapir_dev *da, *db;
    ck_assert_int_eq(tapir_vlink_create(&p, &da, &db), 0);
    struct tapir_config ca, cb;
    harness_config(&ca, "10.0.0.2", TAPIR_LINK_ETHERNET);
    harness_config(&cb, "10.0.0.3", TAPIR_LINK_ETHERNET);
    cb.random_seed = 54321;
    if (tune) {
        tune(&ca);
        tune(&cb);
    }
    ck_assert_int_eq(tapir_stack_start(&ca, da, &e->a), 0);
    ck_assert_int_eq(tapir_stack_start(&cb, db, &e->b), 0);
    e->link_a = da;
    e->link_b = db;
}

void sockenv_stop(struct sock_env *e)
{
    if (e->b)
        tapir_stack_stop(e->b);
    if (e->a)
        tapir_stack_stop(e->a);
    e->a = e->b = NULL;
}

struct sockaddr_in sockenv_addr(const char *ip, uint16_t port)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

int sockenv_listen(tapir_stack *s, uint16_t port)
{
    int fd = tapir_socket_on(s, AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, TAPIR_FD_BASE);
    int one = 1;
    ck_assert_int_eq(tapir_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one), 0);
    struct sockaddr_in a = sockenv_addr("0.0.0.0", port);
    ck_assert_int_eq(tapir_bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(tapir_listen(fd, 16), 0);
    return fd;
}

void sockenv_pair(struct sock_env *e, uint16_t port, int *client, int *server, int *listener)
{
    int l = sockenv_listen(e->b, port);
    int c = tapir_socket_on(e->a, AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(c, TAPIR_FD_BASE);
    struct sockaddr_in to = sockenv_addr("10.0.0.3", port);
    ck_assert_msg(tapir_connect(c, (struct sockaddr *)&to, sizeof to) == 0, "connect: %s", strerror(errno));
    int s = tapir_accept(l, NULL, NULL);
    ck_assert_msg(s >= TAPIR_FD_BASE, "accept: %s", strerror(errno));
    if (listener)
        *listener = l;
    else
        ck_assert_int_eq(tapir_close(l), 0);
    *client = c;
    *server = s;
}

short sockenv_wait(int fd, short want, int ms)
{
    struct pollfd p = { .fd = fd, .events = want };
    uint64_t end = sockenv_ms() + (uint64_t)ms;
    for (;;) {
        uint64_t now = sockenv_ms();
        int left = now >= end ? 0 : (int)(end - now);
        int n = tapir_poll(&p, 1, left);
        if (n != 0 || left == 0)
            return n > 0 ? p.revents : 0;
    }
}

uint64_t sockenv_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void sockenv_sleep_ms(long ms)
{
    struct timespec t = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };
    nanosleep(&t, NULL);
}

void sockenv_echo(int fd)
{
    char buf[8192];
    for (;;) {
        ssize_t n = tapir_read(fd, buf, sizeof buf);
        if (n <= 0)
            break;
        if (tapir_write(fd, buf, (size_t)n) != n)
            break;
    }
}

void *sockenv_echo_thread(void *arg)
{
    sockenv_echo((int)(intptr_t)arg);
    return NULL;
}

int sockenv_round_trips(int c, int rounds, size_t size)
{
    unsigned char req[8192], rsp[8192];
    if (size > sizeof req)
        return -4;
    for (int i = 0; i < rounds; i++) {
        for (size_t k = 0; k < size; k++)
            req[k] = (unsigned char)(i * 131 + k * 7);
        if (tapir_write(c, req, size) != (ssize_t)size)
            return -1;
        size_t got = 0;
        while (got < size) {
            ssize_t n = tapir_read(c, rsp + got, size - got);
            if (n <= 0)
                return -2;
            got += (size_t)n;
        }
        if (memcmp(req, rsp, size) != 0)
            return -3;
    }
    return 0;
}

static void *reader_main(void *arg)
{
    struct sockenv_reader *r = arg;
    char x;
    r->n = tapir_read(r->fd, &x, 1);
    r->err = errno;
    atomic_store(&r->done, true);
    return NULL;
}

void sockenv_start_driving_reader(struct sockenv_reader *r, int fd, tapir_stack *s, pthread_t *t)
{
    unsigned long before = runtime_drive_count(s);
    r->fd = fd;
    atomic_init(&r->done, false);
    pthread_create(t, NULL, reader_main, r);
    for (int i = 0; i < 500 && runtime_drive_count(s) == before; i++)
        sockenv_sleep_ms(1);
    ck_assert_msg(runtime_drive_count(s) > before, "the reader never drove the device");
    sockenv_sleep_ms(20);
    ck_assert(!atomic_load(&r->done));
}

void sockenv_join_reader(struct sockenv_reader *r, pthread_t t, int ms)
{
    for (int i = 0; i < ms && !atomic_load(&r->done); i++)
        sockenv_sleep_ms(1);
    ck_assert_msg(atomic_load(&r->done), "the driving reader was not woken");
    pthread_join(t, NULL);
}

void *sockenv_write_pipe_later(void *arg)
{
    sockenv_sleep_ms(50);
    ssize_t n = write(*(int *)arg, "x", 1);
    (void)n;
    return NULL;
}

void *sockenv_write_later(void *arg)
{
    const struct sockenv_later_write *lw = arg;
    char bytes[16384];
    ck_assert_uint_le(lw->len, sizeof bytes);
    sockenv_sleep_ms(lw->ms);
    memset(bytes, 'w', lw->len);
    ck_assert_int_eq(tapir_write(lw->fd, bytes, lw->len), (ssize_t)lw->len);
    return NULL;
}

void sockenv_read_exactly(int fd, size_t n)
{
    char buf[4096];
    while (n > 0) {
        ssize_t k = tapir_read(fd, buf, n < sizeof buf ? n : sizeof buf);
        ck_assert_int_gt(k, 0);
        n -= (size_t)k;
    }
}

void sockenv_link_loss(struct sock_env *e, double loss)
{
    struct tapir_vlink_params p;
    tapir_vlink_params_init(&p);
    p.loss = loss;
    tapir_vlink_set_impairments(e->link_a, &p);
}

int sockenv_epoll_new(void)
{
    int ep = tapir_epoll_create1(0);
    ck_assert_msg(ep >= TAPIR_EPOLL_FD_BASE, "epoll_create1: %s", strerror(errno));
    return ep;
}

void sockenv_epoll_add(int ep, int fd, uint32_t events, uint64_t data)
{
    struct epoll_event ev = { .events = events, .data.u64 = data };
    ck_assert_msg(tapir_epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0, "ADD %d: %s", fd, strerror(errno));
}
