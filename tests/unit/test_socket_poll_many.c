/* tapir_poll over many descriptors at once (no root): a set of a few hundred
 * tapir sockets in every readiness state (readable, writable only, never
 * connected, listening with and without a pending connection, closed,
 * on a stopped stack) mixed with kernel pipe ends and ignored negative
 * descriptors, on one stack and on two; every revents is checked against
 * what that descriptor's state implies. Guards the batching of tapir_poll
 * (one lock hold per stack per phase, no heap for small sets). */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "sock_env.h"
#include "tapir/vlink.h"

static struct sock_env env;

static void setup(void) { sockenv_start(&env, NULL); }
static void teardown(void) { sockenv_stop(&env); }

/* How many connected pairs the tests make (2 sockets each). */
#define MANY_PAIRS 100

struct many_pairs {
    int client[MANY_PAIRS];     /* on stack A */
    int server[MANY_PAIRS];     /* on stack B */
    int listener;               /* on B, kept open */
};

/* MANY_PAIRS connected pairs from one listener on B at port. */
static void many_pairs_make(struct many_pairs *mp, uint16_t port)
{
    mp->listener = tapir_socket_on(env.b, AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(mp->listener, TAPIR_FD_BASE);
    int one = 1;
    ck_assert_int_eq(tapir_setsockopt(mp->listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one), 0);
    struct sockaddr_in any = sockenv_addr("0.0.0.0", port);
    ck_assert_int_eq(tapir_bind(mp->listener, (struct sockaddr *)&any, sizeof any), 0);
    ck_assert_int_eq(tapir_listen(mp->listener, 16), 0);
    struct sockaddr_in to = sockenv_addr("10.0.0.3", port);
    for (int i = 0; i < MANY_PAIRS; i++) {
        mp->client[i] = tapir_socket_on(env.a, AF_INET, SOCK_STREAM, 0);
        ck_assert_int_ge(mp->client[i], TAPIR_FD_BASE);
        ck_assert_msg(tapir_connect(mp->client[i], (struct sockaddr *)&to, sizeof to) == 0,
                      "connect %d: %s", i, strerror(errno));
        mp->server[i] = tapir_accept(mp->listener, NULL, NULL);
        ck_assert_msg(mp->server[i] >= TAPIR_FD_BASE, "accept %d: %s", i, strerror(errno));
    }
}

/* Wait until fd polls readable on its own (the data crossed the link). */
static void wait_readable(int fd)
{
    ck_assert_msg(sockenv_wait(fd, POLLIN, 5000) & POLLIN, "fd %d never became readable", fd);
}

/* The set and what each entry must report. */
#define SET_MAX 300
struct poll_case {
    struct pollfd p[SET_MAX];
    short want[SET_MAX];
    nfds_t n;
};

static void case_add(struct poll_case *pc, int fd, short events, short want)
{
    ck_assert_uint_lt(pc->n, SET_MAX);
    pc->p[pc->n] = (struct pollfd){ .fd = fd, .events = events, .revents = (short)0x7fff };
    pc->want[pc->n] = want;
    pc->n++;
}

/* Poll the set and check every revents and the count of ready entries. */
static void case_check(struct poll_case *pc, int timeout)
{
    int expect = 0;
    for (nfds_t i = 0; i < pc->n; i++)
        if (pc->want[i])
            expect++;
    int n = tapir_poll(pc->p, pc->n, timeout);
    ck_assert_msg(n >= 0, "tapir_poll: %s", strerror(errno));
    for (nfds_t i = 0; i < pc->n; i++)
        ck_assert_msg(pc->p[i].revents == pc->want[i],
                      "entry %lu (fd %d, events %#x): revents %#x, want %#x", (unsigned long)i,
                      pc->p[i].fd, (unsigned)pc->p[i].events, (unsigned)pc->p[i].revents,
                      (unsigned)pc->want[i]);
    ck_assert_int_eq(n, expect);
}

/* Every kind of entry, on both stacks, in one set of about 250. */
START_TEST(many_mixed_descriptors_each_report_their_state)
{
    struct many_pairs mp;
    many_pairs_make(&mp, 7000);
    /* Every third server has data to read. */
    for (int i = 0; i < MANY_PAIRS; i += 3)
        ck_assert_int_eq(tapir_write(mp.client[i], "d", 1), 1);
    for (int i = 0; i < MANY_PAIRS; i += 3)
        wait_readable(mp.server[i]);
    /* A second listener with one connection waiting, one with none. */
    int lq = sockenv_listen(env.b, 7001);
    int lidle = sockenv_listen(env.b, 7002);
    int cq = tapir_socket_on(env.a, AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in to = sockenv_addr("10.0.0.3", 7001);
    ck_assert_int_eq(tapir_connect(cq, (struct sockaddr *)&to, sizeof to), 0);
    ck_assert(sockenv_wait(lq, POLLIN, 5000) & POLLIN);
    /* Never-connected sockets poll writable and hung up (as Linux). */
    int fresh[10];
    for (int i = 0; i < 10; i++)
        fresh[i] = tapir_socket_on(i % 2 ? env.a : env.b, AF_INET, SOCK_STREAM, 0);
    /* Closed descriptors: POLLNVAL. */
    int gone[3];
    for (int i = 0; i < 3; i++) {
        gone[i] = tapir_socket_on(env.a, AF_INET, SOCK_STREAM, 0);
        ck_assert_int_eq(tapir_close(gone[i]), 0);
    }
    int full[2], empty[2];
    ck_assert_int_eq(pipe(full), 0);
    ck_assert_int_eq(pipe(empty), 0);
    ck_assert_int_eq(write(full[1], "k", 1), 1);

    static struct poll_case pc;
    memset(&pc, 0, sizeof pc);
    case_add(&pc, empty[0], POLLIN, 0);
    for (int i = 0; i < MANY_PAIRS; i++) {
        /* Server asks for input only: readable or nothing. */
        case_add(&pc, mp.server[i], POLLIN, i % 3 == 0 ? POLLIN : 0);
        /* Client asks for both: writable, never readable. */
        case_add(&pc, mp.client[i], POLLIN | POLLOUT, POLLOUT);
        if (i == 40)
            case_add(&pc, full[0], POLLIN, POLLIN);
        if (i == 50)
            case_add(&pc, -1, POLLIN, 0);          /* ignored, as poll(2) */
        if (i == 60)
            case_add(&pc, gone[0], POLLIN, POLLNVAL);
        if (i == 70)
            case_add(&pc, mp.server[i], POLLOUT, POLLOUT);   /* the same fd twice */
    }
    case_add(&pc, lq, POLLIN, POLLIN);
    case_add(&pc, lidle, POLLIN, 0);
    case_add(&pc, mp.listener, POLLIN, 0);
    for (int i = 0; i < 10; i++)
        case_add(&pc, fresh[i], POLLOUT, POLLOUT | POLLHUP);
    case_add(&pc, fresh[0], POLLIN, POLLHUP);      /* HUP even when not asked */
    case_add(&pc, gone[1], POLLOUT, POLLNVAL);
    case_add(&pc, gone[2], 0, POLLNVAL);
    case_add(&pc, TAPIR_FD_BASE + 60000, POLLIN, POLLNVAL);   /* never opened */
    case_add(&pc, empty[1], POLLOUT, POLLOUT);
    ck_assert_uint_gt(pc.n, 200);

    case_check(&pc, 0);          /* without waiting */
    case_check(&pc, 1000);       /* something is ready: returns at once */
    case_check(&pc, -1);

    close(full[0]);
    close(full[1]);
    close(empty[0]);
    close(empty[1]);
}
END_TEST

/* 200 sockets of one stack (the caller-driven path), nothing ready: a
 * timeout expires with 0; then a byte written from another thread to the
 * peer of one of them wakes an infinite poll with exactly that entry. */
struct delayed_write {
    int fd;
    long ms;
};

static void *write_later(void *arg)
{
    struct delayed_write *d = arg;
    sockenv_sleep_ms(d->ms);
    ssize_t n = tapir_write(d->fd, "w", 1);
    ck_assert_int_eq(n, 1);
    return NULL;
}

static void idle_set_wakes_on_one(struct poll_case *pc, int writer_fd, const nfds_t *woken,
                                  size_t nwoken)
{
    uint64_t t0 = sockenv_ms();
    case_check(pc, 50);
    ck_assert_uint_ge(sockenv_ms() - t0, 45);

    struct delayed_write d = { .fd = writer_fd, .ms = 100 };
    pthread_t t;
    pthread_create(&t, NULL, write_later, &d);
    for (size_t i = 0; i < nwoken; i++)
        pc->want[woken[i]] = POLLIN;
    t0 = sockenv_ms();
    case_check(pc, -1);
    ck_assert_uint_ge(sockenv_ms() - t0, 80);
    pthread_join(t, NULL);
}

START_TEST(many_sockets_of_one_stack_wake_on_one)
{
    struct many_pairs mp;
    many_pairs_make(&mp, 7100);
    static struct poll_case pc;
    memset(&pc, 0, sizeof pc);
    for (int i = 0; i < MANY_PAIRS; i++) {
        case_add(&pc, mp.server[i], POLLIN, 0);
        case_add(&pc, mp.server[i], POLLIN | POLLRDHUP, 0);
    }
    ck_assert_uint_eq(pc.n, 200);
    /* Entries 2*77 and 2*77+1 are both server 77 (the second with
     * POLLRDHUP asked too): both report the byte. */
    const nfds_t woken[] = { 2 * 77, 2 * 77 + 1 };
    idle_set_wakes_on_one(&pc, mp.client[77], woken, 2);
    case_check(&pc, 0);
}
END_TEST

/* The same over both stacks and a kernel pipe (no caller driving: the
 * eventfd and the kernel's poll(2) carry the wake-up). */
START_TEST(many_sockets_of_two_stacks_wake_on_one)
{
    struct many_pairs mp;
    many_pairs_make(&mp, 7200);
    int pfd[2];
    ck_assert_int_eq(pipe(pfd), 0);
    static struct poll_case pc;
    memset(&pc, 0, sizeof pc);
    for (int i = 0; i < MANY_PAIRS; i++) {
        case_add(&pc, mp.client[i], POLLIN, 0);
        case_add(&pc, mp.server[i], POLLIN, 0);
    }
    case_add(&pc, pfd[0], POLLIN, 0);
    /* Client 33 (stack A) gets a byte from its server. */
    const nfds_t woken[] = { 2 * 33 };
    idle_set_wakes_on_one(&pc, mp.server[33], woken, 1);
    char x;
    ck_assert_int_eq(tapir_read(mp.client[33], &x, 1), 1);
    pc.want[2 * 33] = 0;
    /* Then the pipe wakes it. */
    ck_assert_int_eq(write(pfd[1], "p", 1), 1);
    pc.want[pc.n - 1] = POLLIN;
    case_check(&pc, -1);
    close(pfd[0]);
    close(pfd[1]);
}
END_TEST

/* Sockets of a stopped stack report POLLERR|POLLHUP among live ones. */
START_TEST(many_sockets_some_on_a_stopped_stack)
{
    struct many_pairs mp;
    many_pairs_make(&mp, 7300);
    ck_assert_int_eq(tapir_write(mp.server[5], "s", 1), 1);
    wait_readable(mp.client[5]);
    tapir_stack_stop(env.b);
    env.b = NULL;
    static struct poll_case pc;
    memset(&pc, 0, sizeof pc);
    for (int i = 0; i < MANY_PAIRS; i++) {
        case_add(&pc, mp.server[i], POLLIN, POLLERR | POLLHUP);
        /* A's side has not heard of the stop: still connected, writable;
         * client 5 also has its byte. */
        case_add(&pc, mp.client[i], POLLIN | POLLOUT, i == 5 ? POLLIN | POLLOUT : POLLOUT);
    }
    case_add(&pc, mp.listener, POLLIN, POLLERR | POLLHUP);
    case_check(&pc, 0);
    case_check(&pc, 100);
}
END_TEST

/* Sockets on six stacks in one set: more stacks than tapir_poll groups
 * under one lock hold each, so some are looked at one by one. Stacks C..F
 * are two more vlink pairs (C-D, E-F) next to A-B. */
struct extra_stacks {
    tapir_stack *s[4];          /* C, D, E, F */
};

static void extra_start(struct extra_stacks *x)
{
    static const char *const ip[4] = { "10.0.0.4", "10.0.0.5", "10.0.0.6", "10.0.0.7" };
    for (int pair = 0; pair < 2; pair++) {
        struct tapir_vlink_params p;
        tapir_vlink_params_init(&p);
        p.realtime = true;
        p.seed = 11u + (unsigned)pair;
        struct tapir_dev *d[2];
        ck_assert_int_eq(tapir_vlink_create(&p, &d[0], &d[1]), 0);
        for (int j = 0; j < 2; j++) {
            struct tapir_config cfg;
            harness_config(&cfg, ip[2 * pair + j], TAPIR_LINK_ETHERNET);
            cfg.random_seed = 1000u + (unsigned)(2 * pair + j);
            ck_assert_int_eq(tapir_stack_start(&cfg, d[j], &x->s[2 * pair + j]), 0);
        }
    }
}

static void extra_stop(struct extra_stacks *x)
{
    for (int i = 3; i >= 0; i--)
        if (x->s[i])
            tapir_stack_stop(x->s[i]);
}

START_TEST(sockets_on_six_stacks)
{
    struct extra_stacks x = { { NULL } };
    extra_start(&x);
    tapir_stack *all[6] = { env.a, env.b, x.s[0], x.s[1], x.s[2], x.s[3] };
    int c, s;
    sockenv_pair(&env, 7400, &c, &s, NULL);
    /* A pair between E and F: client on E, server on F. */
    int lf = tapir_socket_on(x.s[3], AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in any = sockenv_addr("0.0.0.0", 7401), to = sockenv_addr("10.0.0.7", 7401);
    ck_assert_int_eq(tapir_bind(lf, (struct sockaddr *)&any, sizeof any), 0);
    ck_assert_int_eq(tapir_listen(lf, 4), 0);
    int ce = tapir_socket_on(x.s[2], AF_INET, SOCK_STREAM, 0);
    ck_assert_msg(tapir_connect(ce, (struct sockaddr *)&to, sizeof to) == 0, "connect: %s",
                  strerror(errno));
    int sf = tapir_accept(lf, NULL, NULL);
    ck_assert_int_ge(sf, TAPIR_FD_BASE);

    static struct poll_case pc;
    memset(&pc, 0, sizeof pc);
    /* Stacks in order A..F, so E and F come after the groups are full. */
    int fresh[6][5];
    for (int k = 0; k < 5; k++)
        for (int i = 0; i < 6; i++) {
            fresh[i][k] = tapir_socket_on(all[i], AF_INET, SOCK_STREAM, 0);
            ck_assert_int_ge(fresh[i][k], TAPIR_FD_BASE);
            case_add(&pc, fresh[i][k], POLLOUT, POLLOUT | POLLHUP);
        }
    /* Listeners on C and D, nothing pending: idle. */
    int lcd[2];
    for (int i = 0; i < 2; i++) {
        lcd[i] = sockenv_listen(x.s[i], 7402);
        ck_assert_int_ge(lcd[i], TAPIR_FD_BASE);
    }
    /* The idle ones, in stack order A..F, alone and after the fresh ones. */
    static struct poll_case idle;
    memset(&idle, 0, sizeof idle);
    const int idle_fd[] = { c, s, lcd[0], lcd[1], ce, sf, lf };
    enum { IDLE_CE = 4, IDLE_SF = 5 };
    nfds_t at_idle = pc.n;
    for (size_t i = 0; i < sizeof idle_fd / sizeof idle_fd[0]; i++) {
        case_add(&idle, idle_fd[i], POLLIN, 0);
        case_add(&pc, idle_fd[i], POLLIN, 0);
    }
    case_check(&pc, 0);
    case_check(&idle, 0);
    /* The socket on E (a stack outside the groups) wakes the call. */
    const nfds_t woken_e[] = { IDLE_CE };
    idle_set_wakes_on_one(&idle, sf, woken_e, 1);
    char b;
    ck_assert_int_eq(tapir_read(ce, &b, 1), 1);
    idle.want[IDLE_CE] = 0;
    /* Then the one on F. */
    const nfds_t woken_f[] = { IDLE_SF };
    idle_set_wakes_on_one(&idle, ce, woken_f, 1);
    ck_assert_int_eq(tapir_read(sf, &b, 1), 1);
    idle.want[IDLE_SF] = 0;
    case_check(&idle, 0);

    /* E stops: its sockets report POLLERR|POLLHUP, the rest as before. */
    tapir_stack_stop(x.s[2]);
    x.s[2] = NULL;
    for (int k = 0; k < 5; k++)
        pc.want[(nfds_t)(6 * k + 4)] = POLLERR | POLLHUP;
    pc.want[at_idle + IDLE_CE] = POLLERR | POLLHUP;
    case_check(&pc, 0);
    extra_stop(&x);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("socket_poll_many");
    TCase *t = tcase_create("many");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 60);
    tcase_add_test(t, many_mixed_descriptors_each_report_their_state);
    tcase_add_test(t, many_sockets_of_one_stack_wake_on_one);
    tcase_add_test(t, many_sockets_of_two_stacks_wake_on_one);
    tcase_add_test(t, many_sockets_some_on_a_stopped_stack);
    tcase_add_test(t, sockets_on_six_stacks);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return harness_run(suite());
}
