/* The device writer thread (src/sock/writer.c): every frame reaches the
 * device exactly once and in order; AUTO writes the first frames of a burst
 * on the caller's thread and the rest on the writer's; an inline frame never
 * overtakes a queued one; small frames stay inline; a full ring makes the producer wait rather than
 * drop; stop writes out what is queued; and the runtime picks the mode from
 * the config, the device and TAPIR_TX_THREAD. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "sock/writer.h"

#define REC_MAX 8192

/* A device that records each frame's number (its first 4 bytes), length and
 * writing thread; optionally slow, optionally refusing some frames. */
struct rec_dev {
    struct tapir_dev dev;
    pthread_mutex_t mx;
    unsigned n;
    uint32_t num[REC_MAX];
    uint32_t len[REC_MAX];
    pthread_t who[REC_MAX];
    unsigned delay_us;          /* per send */
    unsigned refuse_every;      /* refuse every k-th frame (0: none) */
};

static int rec_send(struct tapir_dev *d, const uint8_t *f, size_t n)
{
    struct rec_dev *r = (struct rec_dev *)d;
    if (r->delay_us)
        usleep(r->delay_us);
    uint32_t num;
    memcpy(&num, f, sizeof num);
    if (r->refuse_every && num % r->refuse_every == 0)
        return -EAGAIN;
    pthread_mutex_lock(&r->mx);
    ck_assert_uint_lt(r->n, REC_MAX);
    r->num[r->n] = num;
    r->len[r->n] = (uint32_t)n;
    r->who[r->n] = pthread_self();
    r->n++;
    pthread_mutex_unlock(&r->mx);
    return 0;
}

static long rec_recv(struct tapir_dev *d, uint8_t *b, size_t cap)
{
    (void)d, (void)b, (void)cap;
    return -EAGAIN;
}

static void rec_destroy(struct tapir_dev *d)
{
    struct rec_dev *r = (struct rec_dev *)d;
    pthread_mutex_destroy(&r->mx);
    free(r);
}

static const struct tapir_dev_ops rec_ops = {rec_send, rec_recv, rec_destroy};

static struct rec_dev *rec_new(void)
{
    struct rec_dev *r = calloc(1, sizeof *r);
    ck_assert_ptr_nonnull(r);
    r->dev.ops = &rec_ops;
    r->dev.link = TAPIR_LINK_ETHERNET;
    r->dev.fd = -1;
    r->dev.mtu = 1500;
    r->dev.concurrent_send = true;
    pthread_mutex_init(&r->mx, NULL);
    return r;
}

static unsigned rec_count(struct rec_dev *r)
{
    pthread_mutex_lock(&r->mx);
    unsigned n = r->n;
    pthread_mutex_unlock(&r->mx);
    return n;
}

#define SLOT 1518

/* Emit frame number num of len bytes (len 0: a length that varies with
 * num, 60..SLOT). */
static size_t frame_len(uint32_t num)
{
    return 60 + (num * 37u) % (SLOT - 60 + 1);
}

static int emit_len(struct writer *w, uint32_t num, size_t len)
{
    uint8_t f[SLOT];
    if (len == 0)
        len = frame_len(num);
    memset(f, (int)(num & 0xff), len);
    memcpy(f, &num, sizeof num);
    return writer_output(w, f, len);
}

static int emit(struct writer *w, uint32_t num)
{
    return emit_len(w, num, 0);
}

/* Every frame 0..n-1 arrived once, in order. */
static void check_numbers(struct rec_dev *r, unsigned n)
{
    ck_assert_uint_eq(r->n, n);
    for (unsigned i = 0; i < n; i++)
        ck_assert_uint_eq(r->num[i], i);
}

/* ... and with the length emit() gave it. */
static void check_in_order(struct rec_dev *r, unsigned n)
{
    check_numbers(r, n);
    for (unsigned i = 0; i < n; i++)
        ck_assert_uint_eq(r->len[i], frame_len(i));
}

static unsigned written_by(struct rec_dev *r, pthread_t t)
{
    unsigned k = 0;
    for (unsigned i = 0; i < r->n; i++)
        k += pthread_equal(r->who[i], t) != 0;
    return k;
}

START_TEST(off_starts_no_thread)
{
    struct rec_dev *r = rec_new();
    struct writer *w = (struct writer *)1;
    ck_assert_int_eq(writer_start(&r->dev, SLOT, TAPIR_TX_THREAD_OFF, &w), 0);
    ck_assert_ptr_null(w);
    rec_destroy(&r->dev);
}
END_TEST

START_TEST(on_writes_every_frame_in_order_on_the_writer_thread)
{
    struct rec_dev *r = rec_new();
    struct writer *w;
    ck_assert_int_eq(writer_start(&r->dev, SLOT, TAPIR_TX_THREAD_ON, &w), 0);
    ck_assert_ptr_nonnull(w);
    for (uint32_t i = 0; i < 5000; i++) {
        if (i % 7 == 0)
            writer_burst_begin(w);
        ck_assert_int_eq(emit(w, i), 0);
    }
    struct tapir_tx_thread_stats st;
    writer_stats(w, &st);
    ck_assert(st.running);
    ck_assert_uint_eq(st.frames_queued, 5000);
    ck_assert_uint_eq(st.frames_inline, 0);
    writer_stop(w);            /* writes out the rest */
    check_in_order(r, 5000);
    ck_assert_uint_eq(written_by(r, pthread_self()), 0);
    rec_destroy(&r->dev);
}
END_TEST

#define LARGE 1400
#define SMALL 100

START_TEST(auto_writes_a_short_burst_inline_and_hands_over_a_long_one)
{
    struct rec_dev *r = rec_new();
    struct writer *w;
    ck_assert_int_eq(writer_start(&r->dev, SLOT, TAPIR_TX_THREAD_AUTO, &w), 0);
    /* A large response per burst: written before the call returns. */
    for (uint32_t i = 0; i < 10; i++) {
        writer_burst_begin(w);
        ck_assert_int_eq(emit_len(w, i, LARGE), 0);
        ck_assert_uint_eq(rec_count(r), i + 1);
    }
    /* A burst of 200 large frames: the first two inline, then the writer's. */
    writer_burst_begin(w);
    for (uint32_t i = 10; i < 210; i++)
        ck_assert_int_eq(emit_len(w, i, LARGE), 0);
    writer_stop(w);
    check_numbers(r, 210);
    ck_assert_uint_eq(written_by(r, pthread_self()), 12);
    for (unsigned i = 0; i < 12; i++)
        ck_assert(pthread_equal(r->who[i], pthread_self()));
    ck_assert(!pthread_equal(r->who[12], pthread_self()));
    rec_destroy(&r->dev);
}
END_TEST

START_TEST(auto_writes_small_frames_inline_however_many)
{
    struct rec_dev *r = rec_new();
    struct writer *w;
    ck_assert_int_eq(writer_start(&r->dev, SLOT, TAPIR_TX_THREAD_AUTO, &w), 0);
    writer_burst_begin(w);      /* e.g. SYN,ACKs and ACKs of many connections */
    for (uint32_t i = 0; i < 200; i++) {
        ck_assert_int_eq(emit_len(w, i, SMALL), 0);
        ck_assert_uint_eq(rec_count(r), i + 1);
    }
    struct tapir_tx_thread_stats st;
    writer_stats(w, &st);
    ck_assert_uint_eq(st.frames_inline, 200);
    ck_assert_uint_eq(st.frames_queued, 0);
    writer_stop(w);
    check_numbers(r, 200);
    rec_destroy(&r->dev);
}
END_TEST

START_TEST(auto_never_writes_inline_past_queued_frames)
{
    struct rec_dev *r = rec_new();
    r->delay_us = 300;         /* the writer lags behind */
    struct writer *w;
    ck_assert_int_eq(writer_start(&r->dev, SLOT, TAPIR_TX_THREAD_AUTO, &w), 0);
    writer_burst_begin(w);
    for (uint32_t i = 0; i < 20; i++)
        ck_assert_int_eq(emit_len(w, i, LARGE), 0);
    /* New bursts, small frames, while frames are still queued: they queue
     * behind them. */
    for (uint32_t i = 20; i < 30; i++) {
        writer_burst_begin(w);
        ck_assert_int_eq(emit_len(w, i, SMALL), 0);
    }
    struct tapir_tx_thread_stats st;
    writer_stats(w, &st);
    ck_assert_uint_eq(st.frames_inline, 2);
    writer_stop(w);
    check_numbers(r, 30);
    rec_destroy(&r->dev);
}
END_TEST

START_TEST(a_full_ring_makes_the_producer_wait_not_drop)
{
    struct rec_dev *r = rec_new();
    r->delay_us = 20;
    struct writer *w;
    ck_assert_int_eq(writer_start(&r->dev, SLOT, TAPIR_TX_THREAD_ON, &w), 0);
    for (uint32_t i = 0; i < 3000; i++)
        ck_assert_int_eq(emit(w, i), 0);
    struct tapir_tx_thread_stats st;
    writer_stats(w, &st);
    ck_assert_uint_gt(st.ring_full_waits, 0);
    ck_assert_uint_eq(st.write_errors, 0);
    writer_stop(w);
    check_in_order(r, 3000);
    rec_destroy(&r->dev);
}
END_TEST

START_TEST(an_oversized_frame_goes_inline_after_the_queue)
{
    struct rec_dev *r = rec_new();
    r->delay_us = 200;
    struct writer *w;
    ck_assert_int_eq(writer_start(&r->dev, 200, TAPIR_TX_THREAD_ON, &w), 0);
    uint8_t f[1000] = {0};
    for (uint32_t i = 0; i < 10; i++) {
        memcpy(f, &i, sizeof i);
        ck_assert_int_eq(writer_output(w, f, 100), 0);
    }
    uint32_t big = 10;
    memcpy(f, &big, sizeof big);
    ck_assert_int_eq(writer_output(w, f, sizeof f), 0);   /* > the 200-byte slot */
    ck_assert_uint_eq(rec_count(r), 11);                   /* the queue went first */
    ck_assert_uint_eq(r->num[10], 10);
    ck_assert_uint_eq(r->len[10], sizeof f);
    ck_assert(pthread_equal(r->who[10], pthread_self()));
    writer_stop(w);
    rec_destroy(&r->dev);
}
END_TEST

START_TEST(refused_frames_are_counted)
{
    struct rec_dev *r = rec_new();
    r->refuse_every = 10;
    struct writer *w;
    ck_assert_int_eq(writer_start(&r->dev, SLOT, TAPIR_TX_THREAD_ON, &w), 0);
    for (uint32_t i = 1; i <= 100; i++)
        ck_assert_int_eq(emit(w, i), 0);
    struct tapir_tx_thread_stats st;
    for (int k = 0; k < 2000; k++) {          /* until the writer caught up */
        writer_stats(w, &st);
        if (st.write_errors == 10 && rec_count(r) == 90)
            break;
        usleep(1000);
    }
    ck_assert_uint_eq(st.write_errors, 10);
    writer_stop(w);
    ck_assert_uint_eq(r->n, 90);
    for (unsigned i = 0; i < r->n; i++)
        ck_assert_uint_ne(r->num[i] % 10, 0);
    rec_destroy(&r->dev);
}
END_TEST

static void busy_wait_us(unsigned us)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do
        clock_gettime(CLOCK_MONOTONIC, &t1);
    while ((t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000 < us);
}

/* The writer sleeps and wakes thousands of times, with the producer's
 * frames arriving just before, during and after its spin: every time the
 * producer stops, everything queued must be written within a second (a
 * lost wake-up leaves frames in the ring until the next frame comes, which
 * in TCP may be never: a flaw of this kind stalled a bulk transfer once in
 * ten runs). A rare race, so this is a stress, not a proof. */
START_TEST(the_writer_never_sleeps_on_queued_frames)
{
    struct rec_dev *r = rec_new();
    struct writer *w;
    ck_assert_int_eq(writer_start(&r->dev, SLOT, TAPIR_TX_THREAD_ON, &w), 0);
    unsigned seed = 12345;
    uint32_t sent = 0;
    while (sent < REC_MAX - 16) {
        unsigned burst = 1 + (seed = seed * 1103515245u + 12345u) % 8;
        for (unsigned k = 0; k < burst; k++)
            ck_assert_int_eq(emit(w, sent++), 0);
        /* a pause around the writer's 20 us spin */
        busy_wait_us((seed >> 8) % 40);
        if ((seed >> 16) % 4 == 0) {
            struct timespec t0, t1;
            clock_gettime(CLOCK_MONOTONIC, &t0);
            while (rec_count(r) != sent) {
                clock_gettime(CLOCK_MONOTONIC, &t1);
                ck_assert_msg(t1.tv_sec - t0.tv_sec < 2, "frames %u..%u stuck in the ring",
                              rec_count(r), sent - 1);
                sched_yield();
            }
        }
    }
    writer_stop(w);
    check_in_order(r, sent);
    rec_destroy(&r->dev);
}
END_TEST

/* ---- the runtime's choice ---- */

static int start_with(struct rec_dev *r, enum tapir_tx_thread mode, tapir_stack **s)
{
    struct tapir_config cfg;
    harness_config(&cfg, "10.0.0.2", TAPIR_LINK_ETHERNET);
    cfg.tx_thread = mode;
    return tapir_stack_start(&cfg, &r->dev, s);
}

static bool runs_writer(tapir_stack *s)
{
    struct tapir_tx_thread_stats st;
    ck_assert_int_eq(tapir_stack_tx_thread_stats(s, &st), 0);
    return st.running;
}

START_TEST(the_runtime_starts_a_writer_by_config_and_device)
{
    unsetenv("TAPIR_TX_THREAD");
    tapir_stack *s;
    struct rec_dev *r = rec_new();
    ck_assert_int_eq(start_with(r, TAPIR_TX_THREAD_AUTO, &s), 0);
    ck_assert(runs_writer(s));
    tapir_stack_stop(s);

    r = rec_new();
    ck_assert_int_eq(start_with(r, TAPIR_TX_THREAD_OFF, &s), 0);
    ck_assert(!runs_writer(s));
    tapir_stack_stop(s);

    /* A device that cannot be written from another thread (a pcap recorder). */
    r = rec_new();
    r->dev.concurrent_send = false;
    ck_assert_int_eq(start_with(r, TAPIR_TX_THREAD_AUTO, &s), 0);
    ck_assert(!runs_writer(s));
    tapir_stack_stop(s);
    r = rec_new();
    r->dev.concurrent_send = false;
    ck_assert_int_eq(start_with(r, TAPIR_TX_THREAD_ON, &s), -EOPNOTSUPP);
    rec_destroy(&r->dev);      /* the device stays the caller's on failure */

    /* Offloads: one write already carries tens of frames. */
    r = rec_new();
    r->dev.offloads = TAPIR_OFFLOAD_CSUM;
    ck_assert_int_eq(start_with(r, TAPIR_TX_THREAD_AUTO, &s), 0);
    ck_assert(!runs_writer(s));
    tapir_stack_stop(s);

    r = rec_new();
    ck_assert_int_eq(start_with(r, (enum tapir_tx_thread)7, &s), -EINVAL);
    rec_destroy(&r->dev);

    struct tapir_tx_thread_stats st;
    ck_assert_int_eq(tapir_stack_tx_thread_stats(NULL, &st), -EINVAL);
}
END_TEST

/* AUTO: a writer confined to the stack's one CPU would only add hand-offs. */
START_TEST(auto_starts_no_writer_when_confined_to_one_cpu)
{
    unsetenv("TAPIR_TX_THREAD");
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(sched_getcpu() < 0 ? 0 : sched_getcpu(), &one);
    ck_assert_int_eq(sched_setaffinity(0, sizeof one, &one), 0);   /* this forked test only */
    tapir_stack *s;
    struct rec_dev *r = rec_new();
    ck_assert_int_eq(start_with(r, TAPIR_TX_THREAD_AUTO, &s), 0);
    ck_assert(!runs_writer(s));
    tapir_stack_stop(s);
    r = rec_new();
    ck_assert_int_eq(start_with(r, TAPIR_TX_THREAD_ON, &s), 0);    /* asked for: given */
    ck_assert(runs_writer(s));
    tapir_stack_stop(s);
}
END_TEST

START_TEST(the_environment_overrides_the_config)
{
    tapir_stack *s;
    struct rec_dev *r = rec_new();
    setenv("TAPIR_TX_THREAD", "off", 1);
    ck_assert_int_eq(start_with(r, TAPIR_TX_THREAD_ON, &s), 0);
    ck_assert(!runs_writer(s));
    tapir_stack_stop(s);
    r = rec_new();
    setenv("TAPIR_TX_THREAD", "on", 1);
    ck_assert_int_eq(start_with(r, TAPIR_TX_THREAD_OFF, &s), 0);
    ck_assert(runs_writer(s));
    tapir_stack_stop(s);
    unsetenv("TAPIR_TX_THREAD");
}
END_TEST

static Suite *writer_suite(void)
{
    Suite *s = suite_create("writer");
    TCase *t = tcase_create("ring");
    tcase_add_test(t, off_starts_no_thread);
    tcase_add_test(t, on_writes_every_frame_in_order_on_the_writer_thread);
    tcase_add_test(t, auto_writes_a_short_burst_inline_and_hands_over_a_long_one);
    tcase_add_test(t, auto_writes_small_frames_inline_however_many);
    tcase_add_test(t, auto_never_writes_inline_past_queued_frames);
    tcase_add_test(t, a_full_ring_makes_the_producer_wait_not_drop);
    tcase_add_test(t, an_oversized_frame_goes_inline_after_the_queue);
    tcase_add_test(t, refused_frames_are_counted);
    tcase_add_test(t, the_writer_never_sleeps_on_queued_frames);
    suite_add_tcase(s, t);
    TCase *rt = tcase_create("runtime");
    tcase_add_test(rt, the_runtime_starts_a_writer_by_config_and_device);
    tcase_add_test(rt, auto_starts_no_writer_when_confined_to_one_cpu);
    tcase_add_test(rt, the_environment_overrides_the_config);
    suite_add_tcase(s, rt);
    return s;
}

int main(void)
{
    return harness_run(writer_suite());
}
