/* Caller-driven mode (src/sock/drive.c): an application thread blocked on a
 * socket drives the device itself. Correctness under threads: round trips
 * driven by the caller (and the same with the mode off), many threads
 * blocked at once (one drives, the others are woken by its processing),
 * close and stop waking a driving reader, a receive timeout while driving,
 * and frames nobody waits for (plus the delayed-ACK timer) still handled by
 * the stack thread after a driver has left. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sock/runtime.h"
#include "sock_env.h"
#include "harness.h"

static struct sock_env env;
static void setup(void) { sockenv_start(&env, NULL); }
static void teardown(void) { sockenv_stop(&env); }

static void rr_with_mode(bool caller_drive)
{
    ck_assert_int_eq(tapir_stack_set_caller_drive(env.a, caller_drive, 0), 0);
    ck_assert_int_eq(tapir_stack_set_caller_drive(env.b, caller_drive, 0), 0);
    int c, s;
    sockenv_pair(&env, 7200, &c, &s, NULL);
    pthread_t t;
    pthread_create(&t, NULL, sockenv_echo_thread, (void *)(intptr_t)s);
    unsigned long before = runtime_drive_count(env.a);
    ck_assert_int_eq(sockenv_round_trips(c, 300, 64), 0);
    unsigned long drove = runtime_drive_count(env.a) - before;
    ck_assert_int_eq(tapir_close(c), 0);
    pthread_join(t, NULL);
    ck_assert_int_eq(tapir_close(s), 0);
    if (caller_drive)
        /* Every read waits for the echo: nearly all of them drive. */
        ck_assert_msg(drove >= 150, "only %lu of 300 waits drove the device", drove);
    else
        ck_assert_msg(drove == 0, "%lu waits drove with the mode off", drove);
}

START_TEST(round_trips_driven_by_the_caller)
{
    rr_with_mode(true);
}
END_TEST

START_TEST(round_trips_with_caller_drive_off)
{
    rr_with_mode(false);
}
END_TEST

/* ---- many blocked readers ---- */

#define READERS 6
#define ROUNDS 40

struct reader {
    int fd;
    int ok;
    char why[96];
};

/* Read ROUNDS messages of 32 bytes, each filled with its round number. */
static void *blocked_reader(void *arg)
{
    struct reader *r = arg;
    r->ok = 0;
    for (int i = 0; i < ROUNDS; i++) {
        unsigned char buf[32];
        size_t got = 0;
        while (got < sizeof buf) {
            ssize_t n = tapir_read(r->fd, buf + got, sizeof buf - got);
            if (n <= 0) {
                snprintf(r->why, sizeof r->why, "round %d: read %zd (%s)", i, n, strerror(errno));
                return NULL;
            }
            got += (size_t)n;
        }
        for (size_t k = 0; k < sizeof buf; k++)
            if (buf[k] != (unsigned char)i) {
                snprintf(r->why, sizeof r->why, "round %d: byte %zu is %u", i, k, buf[k]);
                return NULL;
            }
    }
    r->ok = 1;
    return NULL;
}

START_TEST(many_blocked_readers_all_woken)
{
    int l = sockenv_listen(env.b, 7201);
    int cl[READERS], sv[READERS];
    struct reader rd[READERS];
    pthread_t t[READERS];
    for (int i = 0; i < READERS; i++) {
        cl[i] = tapir_socket_on(env.a, AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in to = sockenv_addr("10.0.0.3", 7201);
        ck_assert_int_eq(tapir_connect(cl[i], (struct sockaddr *)&to, sizeof to), 0);
        sv[i] = tapir_accept(l, NULL, NULL);
        ck_assert_int_ge(sv[i], TAPIR_FD_BASE);
        rd[i].fd = cl[i];
        pthread_create(&t[i], NULL, blocked_reader, &rd[i]);
    }
    /* Each round, write to the connections in a shifting order, so the one
     * whose data comes first is sometimes the driver and sometimes not. */
    for (int i = 0; i < ROUNDS; i++) {
        unsigned char msg[32];
        memset(msg, i, sizeof msg);
        for (int k = 0; k < READERS; k++) {
            int j = (k + i) % READERS;
            ck_assert_int_eq(tapir_write(sv[j], msg, sizeof msg), (ssize_t)sizeof msg);
        }
        if (i % 8 == 0)
            sockenv_sleep_ms(2);      /* let every reader block again now and then */
    }
    for (int i = 0; i < READERS; i++) {
        pthread_join(t[i], NULL);
        ck_assert_msg(rd[i].ok, "reader %d: %s", i, rd[i].why);
        tapir_close(cl[i]);
        tapir_close(sv[i]);
    }
    tapir_close(l);
    ck_assert_uint_gt(runtime_drive_count(env.a), 0);
}
END_TEST

/* ---- close, stop and timeouts wake a driving reader ---- */

START_TEST(close_wakes_the_driver)
{
    int c, s;
    sockenv_pair(&env, 7202, &c, &s, NULL);
    struct sockenv_reader b;
    pthread_t t;
    sockenv_start_driving_reader(&b, c, env.a, &t);
    ck_assert_int_eq(tapir_close(c), 0);
    sockenv_join_reader(&b, t, 2000);
    ck_assert_int_eq(b.n, -1);
    ck_assert_int_eq(b.err, EBADF);
    tapir_close(s);
}
END_TEST

START_TEST(stop_wakes_the_driver)
{
    int c, s;
    sockenv_pair(&env, 7203, &c, &s, NULL);
    struct sockenv_reader b;
    pthread_t t;
    sockenv_start_driving_reader(&b, c, env.a, &t);
    tapir_stack_stop(env.a);
    env.a = NULL;
    sockenv_join_reader(&b, t, 2000);
    ck_assert_int_eq(b.n, -1);
    ck_assert_int_eq(b.err, ECONNABORTED);
    tapir_close(c);
    tapir_close(s);
}
END_TEST

START_TEST(receive_timeout_while_driving)
{
    int c, s;
    sockenv_pair(&env, 7204, &c, &s, NULL);
    struct timeval tv = { .tv_sec = 0, .tv_usec = 150000 };
    ck_assert_int_eq(tapir_setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    unsigned long before = runtime_drive_count(env.a);
    uint64_t t0 = sockenv_ms();
    char x;
    ck_assert_int_eq(tapir_read(c, &x, 1), -1);
    ck_assert_int_eq(errno, EAGAIN);
    uint64_t took = sockenv_ms() - t0;
    ck_assert_msg(took >= 145 && took < 1000, "timed out after %llu ms", (unsigned long long)took);
    ck_assert_uint_gt(runtime_drive_count(env.a), before);
    tapir_close(c);
    tapir_close(s);
}
END_TEST

/* After a driver leaves, nobody waits: the stack thread must take the device
 * back (within its park check) and handle what arrives, including the delayed
 * ACK timer for it. Seen from B: its data is acknowledged with nobody on A
 * reading, and A has the bytes queued. */
START_TEST(frames_nobody_waits_for_are_handled)
{
    int c, s;
    sockenv_pair(&env, 7205, &c, &s, NULL);
    pthread_t t;
    pthread_create(&t, NULL, sockenv_echo_thread, (void *)(intptr_t)s);
    ck_assert_int_eq(sockenv_round_trips(c, 20, 64), 0);    /* A's reader drove, then left */
    /* Now B's echo server sends without anyone on A reading. */
    char big[3000];
    memset(big, 'z', sizeof big);
    ck_assert_int_eq(tapir_write(c, big, sizeof big), (ssize_t)sizeof big);  /* echoed back */
    sockenv_sleep_ms(300);       /* > park check (1 ms) + delayed ACK (40 ms) */
    struct tapir_tcp_info info;
    socklen_t len = sizeof info;
    ck_assert_int_eq(tapir_getsockopt(s, IPPROTO_TCP, TAPIR_TCP_INFO, &info, &len), 0);
    ck_assert_msg(info.unacked == 0, "B still has %u bytes unacknowledged", info.unacked);
    char got[3000];
    ck_assert_int_eq(tapir_recv(c, got, sizeof got, MSG_DONTWAIT), (ssize_t)sizeof big);
    tapir_close(c);
    pthread_join(t, NULL);
    tapir_close(s);
}
END_TEST

/* While callers keep driving the device, the stack thread has nothing to do
 * and must not wake for it: pinned to the caller's CPU each of its wake-ups
 * lands in a round trip. It used to look every millisecond; now it wakes
 * only for the core's timers (a delayed ACK set and then cancelled by the
 * next request, an RTO pushed forward) and when a driver has been gone
 * for a while. 300 ms of round trips, A's reader driving: about 300 wakes
 * before, a handful now. */
START_TEST(stack_thread_sleeps_while_callers_drive)
{
    int c, s;
    sockenv_pair(&env, 7207, &c, &s, NULL);
    pthread_t t;
    pthread_create(&t, NULL, sockenv_echo_thread, (void *)(intptr_t)s);
    ck_assert_int_eq(sockenv_round_trips(c, 20, 64), 0);
    unsigned long wakes = runtime_thread_wakes(env.a);
    unsigned long drove = runtime_drive_count(env.a);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long ms = 0;
    while (ms < 300) {
        ck_assert_int_eq(sockenv_round_trips(c, 20, 64), 0);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    }
    wakes = runtime_thread_wakes(env.a) - wakes;
    drove = runtime_drive_count(env.a) - drove;
    ck_assert_msg(drove >= 100, "only %lu waits drove the device", drove);
    ck_assert_msg(wakes < 60, "the stack thread woke %lu times in %ld ms of driven round trips",
                  wakes, ms);
    tapir_close(c);
    pthread_join(t, NULL);
    tapir_close(s);
}
END_TEST

/* tapir_poll drives too: round trips that wait in tapir_poll (with a kernel
 * pipe in the set) before reading. */
static void poll_round_trips(bool caller_drive)
{
    ck_assert_int_eq(tapir_stack_set_caller_drive(env.a, caller_drive, 0), 0);
    int c, s;
    sockenv_pair(&env, 7206, &c, &s, NULL);
    pthread_t t;
    pthread_create(&t, NULL, sockenv_echo_thread, (void *)(intptr_t)s);
    int pp[2];
    ck_assert_int_eq(pipe(pp), 0);
    unsigned long before = runtime_drive_count(env.a);
    for (int i = 0; i < 100; i++) {
        unsigned char req[64], rsp[64];
        memset(req, i, sizeof req);
        ck_assert_int_eq(tapir_write(c, req, sizeof req), (ssize_t)sizeof req);
        size_t got = 0;
        while (got < sizeof rsp) {
            struct pollfd p[2] = { { .fd = pp[0], .events = POLLIN }, { .fd = c, .events = POLLIN } };
            ck_assert_int_eq(tapir_poll(p, 2, 5000), 1);
            ck_assert_int_eq(p[0].revents, 0);
            ck_assert(p[1].revents & POLLIN);
            ssize_t n = tapir_recv(c, rsp + got, sizeof rsp - got, MSG_DONTWAIT);
            ck_assert_int_gt(n, 0);
            got += (size_t)n;
        }
        ck_assert(memcmp(req, rsp, sizeof req) == 0);
    }
    unsigned long drove = runtime_drive_count(env.a) - before;
    if (caller_drive)
        ck_assert_msg(drove >= 50, "only %lu of 100 polls drove the device", drove);
    else
        ck_assert_msg(drove == 0, "%lu polls drove with the mode off", drove);
    tapir_close(c);
    pthread_join(t, NULL);
    tapir_close(s);
    close(pp[0]);
    close(pp[1]);
}

START_TEST(poll_driven_by_the_caller)
{
    poll_round_trips(true);
}
END_TEST

/* The same sleeping in poll(2) on the call's eventfd (made on demand). */
START_TEST(poll_with_caller_drive_off)
{
    poll_round_trips(false);
}
END_TEST

/* A kernel descriptor that becomes ready ends a poll that drives. */
START_TEST(poll_driving_sees_kernel_fd)
{
    int c, s;
    sockenv_pair(&env, 7207, &c, &s, NULL);
    int pp[2];
    ck_assert_int_eq(pipe(pp), 0);
    pthread_t t;
    pthread_create(&t, NULL, sockenv_write_pipe_later, &pp[1]);
    unsigned long before = runtime_drive_count(env.a);
    struct pollfd p[2] = { { .fd = c, .events = POLLIN }, { .fd = pp[0], .events = POLLIN } };
    uint64_t t0 = sockenv_ms();
    ck_assert_int_eq(tapir_poll(p, 2, 3000), 1);
    ck_assert_uint_lt(sockenv_ms() - t0, 2000);
    ck_assert_int_eq(p[0].revents, 0);
    ck_assert(p[1].revents & POLLIN);
    ck_assert_uint_gt(runtime_drive_count(env.a), before);
    pthread_join(t, NULL);
    /* And the timeout of a driving poll. */
    char x;
    ck_assert_int_eq(read(pp[0], &x, 1), 1);
    t0 = sockenv_ms();
    ck_assert_int_eq(tapir_poll(p, 2, 120), 0);
    uint64_t took = sockenv_ms() - t0;
    ck_assert_msg(took >= 115 && took < 1000, "poll timed out after %llu ms", (unsigned long long)took);
    tapir_close(c);
    tapir_close(s);
    close(pp[0]);
    close(pp[1]);
}
END_TEST

/* Segments that bring a tapir_poll call nothing it waits for do not end
 * its driven wait: c, polled for POLLIN, sends 8 KiB from another thread
 * during the wait, and the peer's ACKs leave it unreadable. */
START_TEST(acks_do_not_end_a_driven_poll)
{
    int c, s;
    sockenv_pair(&env, 7208, &c, &s, NULL);
    struct tapir_stats st0, st1;
    tapir_stack_snapshot_stats(env.a, &st0);
    unsigned long before = runtime_drive_count(env.a);
    struct sockenv_later_write lw = { .fd = c, .ms = 50, .len = 8192 };
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, sockenv_write_later, &lw), 0);
    struct pollfd p = { .fd = c, .events = POLLIN };
    uint64_t t0 = sockenv_ms();
    int n = tapir_poll(&p, 1, 400);
    uint64_t took = sockenv_ms() - t0;
    unsigned long drove = runtime_drive_count(env.a) - before;
    tapir_stack_snapshot_stats(env.a, &st1);
    pthread_join(t, NULL);
    ck_assert_int_eq(n, 0);
    ck_assert_uint_ge(took, 390);
    ck_assert_uint_gt(st1.tcp_rx, st0.tcp_rx);   /* the ACKs came during the wait */
    ck_assert_msg(drove == 1, "the poll drove %lu times", drove);
    sockenv_read_exactly(s, lw.len);
    tapir_close(c);
    tapir_close(s);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("socket_inline");
    TCase *t = tcase_create("inline");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 60);
    tcase_add_test(t, round_trips_driven_by_the_caller);
    tcase_add_test(t, round_trips_with_caller_drive_off);
    tcase_add_test(t, many_blocked_readers_all_woken);
    tcase_add_test(t, close_wakes_the_driver);
    tcase_add_test(t, stop_wakes_the_driver);
    tcase_add_test(t, receive_timeout_while_driving);
    tcase_add_test(t, frames_nobody_waits_for_are_handled);
    tcase_add_test(t, stack_thread_sleeps_while_callers_drive);
    tcase_add_test(t, poll_driven_by_the_caller);
    tcase_add_test(t, poll_with_caller_drive_off);
    tcase_add_test(t, poll_driving_sees_kernel_fd);
    tcase_add_test(t, acks_do_not_end_a_driven_poll);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return harness_run(suite());
}
