/* vlink: delivery times, ordering, each impairment, bounds, replay from a
 * seed, and the realtime mode's pollable fd across two threads. */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tapir/vlink.h"
#include "harness.h"

static struct tapir_dev *a, *b;
static uint8_t frame[2048], got[2048];

static void make(const struct tapir_vlink_params *p)
{
    ck_assert_int_eq(tapir_vlink_create(p, &a, &b), 0);
}

static void destroy(void)
{
    tapir_dev_destroy(a);
    tapir_dev_destroy(b);
}

static struct tapir_vlink_params base(void)
{
    struct tapir_vlink_params p;
    tapir_vlink_params_init(&p);
    p.seed = 99;
    return p;
}

static void fill(size_t len, uint8_t tag)
{
    for (size_t i = 0; i < len; i++)
        frame[i] = (uint8_t)(tag + i);
}

START_TEST(delivers_after_delay_in_order)
{
    struct tapir_vlink_params p = base();
    p.delay = TAPIR_MSEC(5);
    make(&p);
    tapir_vlink_set_time(a, 1000);
    for (uint8_t i = 0; i < 3; i++) {
        fill(60, i);
        ck_assert_int_eq(tapir_dev_send(a, frame, 60), 0);
    }
    ck_assert_uint_eq(tapir_vlink_next_delivery(b), 1000 + TAPIR_MSEC(5));
    ck_assert_uint_eq(tapir_vlink_next_delivery(a), TAPIR_TIME_NEVER);
    ck_assert_int_eq(tapir_dev_recv(b, got, sizeof got), -EAGAIN);
    tapir_vlink_set_time(b, 1000 + TAPIR_MSEC(5) - 1);
    ck_assert_int_eq(tapir_dev_recv(b, got, sizeof got), -EAGAIN);
    tapir_vlink_set_time(b, 1000 + TAPIR_MSEC(5));
    for (uint8_t i = 0; i < 3; i++) {
        ck_assert_int_eq(tapir_dev_recv(b, got, sizeof got), 60);
        ck_assert_uint_eq(got[0], i);
    }
    ck_assert_int_eq(tapir_dev_recv(b, got, sizeof got), -EAGAIN);
    ck_assert_int_eq(tapir_dev_recv(a, got, sizeof got), -EAGAIN);
    struct tapir_vlink_stats st;
    tapir_vlink_get_stats(a, &st);
    ck_assert_uint_eq(st.sent, 3);
    ck_assert_uint_eq(st.delivered, 3);
    destroy();
}
END_TEST

START_TEST(refuses_over_mtu_and_truncates_to_buffer)
{
    struct tapir_vlink_params p = base();
    make(&p);
    ck_assert_int_eq(tapir_dev_send(a, frame, 1515), -EMSGSIZE);
    ck_assert_int_eq(tapir_dev_send(a, frame, 0), -EMSGSIZE);
    fill(1514, 0);
    ck_assert_int_eq(tapir_dev_send(a, frame, 1514), 0);
    ck_assert_int_eq(tapir_dev_recv(b, got, 100), 100);
    ck_assert_mem_eq(got, frame, 100);
    destroy();
}
END_TEST

START_TEST(loss_all_and_rate)
{
    struct tapir_vlink_params p = base();
    p.loss = 0.2;
    p.queue_limit = 20000;
    make(&p);
    fill(60, 0);
    for (int i = 0; i < 10000; i++)
        tapir_dev_send(a, frame, 60);
    struct tapir_vlink_stats st;
    tapir_vlink_get_stats(a, &st);
    ck_assert_uint_gt(st.lost, 1800);
    ck_assert_uint_lt(st.lost, 2200);
    ck_assert_uint_eq(tapir_vlink_pending(b), 10000 - st.lost);
    destroy();
}
END_TEST

START_TEST(same_seed_same_run)
{
    struct tapir_vlink_params p = base();
    p.loss = 0.3;
    p.duplicate = 0.1;
    p.corrupt = 0.1;
    p.jitter = 500;
    struct tapir_vlink_stats first;
    uint8_t digest1 = 0, digest2 = 0;
    for (int run = 0; run < 2; run++) {
        make(&p);
        fill(100, 1);
        for (int i = 0; i < 500; i++)
            tapir_dev_send(a, frame, 100);
        tapir_vlink_set_time(a, TAPIR_SEC(1));
        uint8_t d = 0;
        long len;
        while ((len = tapir_dev_recv(b, got, sizeof got)) > 0)
            for (long i = 0; i < len; i++)
                d = (uint8_t)(d * 31 + got[i]);
        struct tapir_vlink_stats st;
        tapir_vlink_get_stats(a, &st);
        if (run == 0) {
            first = st;
            digest1 = d;
        } else {
            ck_assert_mem_eq(&st, &first, sizeof st);
            digest2 = d;
        }
        ck_assert_uint_eq(tapir_vlink_seed(a), 99);
        destroy();
    }
    ck_assert_uint_eq(digest1, digest2);
}
END_TEST

START_TEST(duplicate_and_corrupt)
{
    struct tapir_vlink_params p = base();
    p.duplicate = 1.0;
    make(&p);
    fill(60, 0);
    tapir_dev_send(a, frame, 60);
    ck_assert_int_eq(tapir_dev_recv(b, got, sizeof got), 60);
    ck_assert_int_eq(tapir_dev_recv(b, got, sizeof got), 60);
    ck_assert_int_eq(tapir_dev_recv(b, got, sizeof got), -EAGAIN);
    destroy();

    p = base();
    p.corrupt = 1.0;
    make(&p);
    for (int i = 0; i < 200; i++) {
        fill(60, (uint8_t)i);
        tapir_dev_send(a, frame, 60);
        ck_assert_int_eq(tapir_dev_recv(b, got, sizeof got), 60);
        /* Exactly one bit differs, never in the Ethernet header. */
        int bits = 0;
        for (int j = 0; j < 60; j++)
            bits += __builtin_popcount((unsigned)(got[j] ^ frame[j]));
        ck_assert_int_eq(bits, 1);
        ck_assert_mem_eq(got, frame, 14);
    }
    struct tapir_vlink_stats st;
    tapir_vlink_get_stats(a, &st);
    ck_assert_uint_eq(st.corrupted, 200);
    destroy();
}
END_TEST

START_TEST(reorder_lets_later_frames_overtake)
{
    struct tapir_vlink_params p = base();
    p.reorder = 1.0;
    p.reorder_delay = 100;
    make(&p);
    fill(60, 1);
    tapir_dev_send(a, frame, 60);          /* held back 100 us */
    p.reorder = 0;
    tapir_vlink_set_impairments(a, &p);
    fill(60, 2);
    tapir_dev_send(a, frame, 60);
    tapir_vlink_set_time(a, 100);
    ck_assert_int_eq(tapir_dev_recv(b, got, sizeof got), 60);
    ck_assert_uint_eq(got[0], 2);
    ck_assert_int_eq(tapir_dev_recv(b, got, sizeof got), 60);
    ck_assert_uint_eq(got[0], 1);
    destroy();
}
END_TEST

START_TEST(queue_bound)
{
    struct tapir_vlink_params p = base();
    p.queue_limit = 10;
    make(&p);
    for (int i = 0; i < 15; i++)
        ck_assert_int_eq(tapir_dev_send(a, frame, 60), 0);
    struct tapir_vlink_stats st;
    tapir_vlink_get_stats(a, &st);
    ck_assert_uint_eq(st.overflow, 5);
    ck_assert_uint_eq(tapir_vlink_pending(b), 10);
    destroy();   /* frees the frames still in flight */
}
END_TEST

/* ---- realtime mode ------------------------------------------------------- */

static bool readable(int fd, int timeout_ms)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    return poll(&pfd, 1, timeout_ms) == 1 && (pfd.revents & POLLIN);
}

START_TEST(realtime_fd_readable_while_frames_wait)
{
    struct tapir_vlink_params p = base();
    p.realtime = true;
    p.delay = TAPIR_MSEC(20);
    make(&p);
    ck_assert_int_ge(a->fd, 0);
    ck_assert_int_ge(b->fd, 0);
    ck_assert(!readable(b->fd, 0));
    fill(60, 0);
    tapir_dev_send(a, frame, 60);
    tapir_dev_send(a, frame, 60);
    struct timespec sent;
    clock_gettime(CLOCK_MONOTONIC, &sent);     /* both sent by now */
    ck_assert(!readable(b->fd, 0));            /* not due yet */
    ck_assert(readable(b->fd, 1000));          /* due after ~20 ms */
    ck_assert(!readable(a->fd, 0));
    /* The second frame may have been sent well after the first (a busy,
     * sanitized run was preempted between the two sends), so it is not
     * due yet when the first is. Wait until both surely are: then the
     * descriptor must stay readable after the first is taken. */
    struct timespec both_due = sent;
    both_due.tv_nsec += 25 * 1000 * 1000;
    if (both_due.tv_nsec >= 1000000000L) {
        both_due.tv_sec++;
        both_due.tv_nsec -= 1000000000L;
    }
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &both_due, NULL) == EINTR)
        ;
    ck_assert_int_eq(tapir_dev_recv(b, got, sizeof got), 60);
    ck_assert(readable(b->fd, 0));             /* one more waits */
    ck_assert_int_eq(tapir_dev_recv(b, got, sizeof got), 60);
    ck_assert_int_eq(tapir_dev_recv(b, got, sizeof got), -EAGAIN);
    ck_assert(!readable(b->fd, 0));            /* drained */
    destroy();
}
END_TEST

#define RT_FRAMES 2000
static void *echo_thread(void *arg)
{
    (void)arg;
    uint8_t buf[2048];
    int echoed = 0;
    while (echoed < RT_FRAMES) {
        if (!readable(b->fd, 2000))
            break;
        long n;
        while ((n = tapir_dev_recv(b, buf, sizeof buf)) > 0) {
            tapir_dev_send(b, buf, (size_t)n);
            echoed++;
        }
    }
    return NULL;
}

START_TEST(realtime_two_threads)
{
    struct tapir_vlink_params p = base();
    p.realtime = true;
    make(&p);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, echo_thread, NULL), 0);
    int back = 0;
    for (int i = 0; i < RT_FRAMES; i++) {
        fill(64, (uint8_t)i);
        ck_assert_int_eq(tapir_dev_send(a, frame, 64), 0);
        long n;
        while ((n = tapir_dev_recv(a, got, sizeof got)) > 0)
            back++;
    }
    while (back < RT_FRAMES && readable(a->fd, 2000)) {
        while (tapir_dev_recv(a, got, sizeof got) > 0)
            back++;
    }
    pthread_join(t, NULL);
    ck_assert_int_eq(back, RT_FRAMES);
    destroy();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("vlink");
    TCase *tv = tcase_create("virtual");
    tcase_add_test(tv, delivers_after_delay_in_order);
    tcase_add_test(tv, refuses_over_mtu_and_truncates_to_buffer);
    tcase_add_test(tv, loss_all_and_rate);
    tcase_add_test(tv, same_seed_same_run);
    tcase_add_test(tv, duplicate_and_corrupt);
    tcase_add_test(tv, reorder_lets_later_frames_overtake);
    tcase_add_test(tv, queue_bound);
    suite_add_tcase(s, tv);
    TCase *tr = tcase_create("realtime");
    tcase_add_test(tr, realtime_fd_readable_while_frames_wait);
    tcase_add_test(tr, realtime_two_threads);
    suite_add_tcase(s, tr);
    return harness_run(s);
}
