/* Caller-driven mode (src/sock/drive.c): the frame that ends a driver's
 * wait, caught while it busy-polls or read when it wakes from its sleep, is
 * answered before the rest is drained, and nothing is lost or reordered on
 * the way. While it spins, the driver still sees in time what is not a
 * frame: its own wake-up (shutdown), a kernel descriptor in tapir_poll, and
 * its deadline; those tests spin far longer than what they wait for, so a
 * spin that looked at nothing but the device would show. */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "sock/runtime.h"
#include "sock_env.h"
#include "harness.h"

/* Longer than anything a test waits for: 2 s. */
#define LONG_SPIN_US 2000000u

static struct sock_env env;
static void setup(void) { sockenv_start(&env, NULL); }
static void teardown(void) { sockenv_stop(&env); }

/* Both sides spin; the echo comes from another thread, so most answers
 * arrive while the reader spins and are caught by its read. Small messages
 * (one frame each way) and larger ones (several frames: the one caught
 * first, then the rest drained) all arrive intact. */
START_TEST(round_trips_caught_while_spinning)
{
    ck_assert_int_eq(tapir_stack_set_caller_drive(env.a, true, LONG_SPIN_US), 0);
    ck_assert_int_eq(tapir_stack_set_caller_drive(env.b, true, LONG_SPIN_US), 0);
    int c, s;
    sockenv_pair(&env, 7300, &c, &s, NULL);
    pthread_t t;
    pthread_create(&t, NULL, sockenv_echo_thread, (void *)(intptr_t)s);
    unsigned long spun0, woke0, spun1, woke1;
    runtime_first_frame_counts(env.a, &spun0, &woke0);
    ck_assert_int_eq(sockenv_round_trips(c, 200, 64), 0);
    runtime_first_frame_counts(env.a, &spun1, &woke1);
    unsigned long caught = spun1 - spun0;
    ck_assert_int_eq(sockenv_round_trips(c, 50, 8000), 0);
    ck_assert_int_eq(tapir_close(c), 0);
    pthread_join(t, NULL);
    ck_assert_int_eq(tapir_close(s), 0);
    ck_assert_msg(caught >= 50, "only %lu of 200 answers were caught by a spinning read", caught);
}
END_TEST

/* shutdown(SHUT_RD) from another thread reaches a reader that is still
 * spinning. It sends nothing, so nothing arrives on the device: the driver
 * learns it from its wake-up (drv_evfd), or at the latest when its spin
 * stops at the core's next timer, never after the whole spin. */
START_TEST(shutdown_reaches_a_spinning_driver)
{
    ck_assert_int_eq(tapir_stack_set_caller_drive(env.a, true, LONG_SPIN_US), 0);
    int c, s;
    sockenv_pair(&env, 7301, &c, &s, NULL);
    struct sockenv_reader b;
    pthread_t t;
    sockenv_start_driving_reader(&b, c, env.a, &t);
    uint64_t t0 = sockenv_ms();
    ck_assert_int_eq(tapir_shutdown(c, SHUT_RD), 0);
    sockenv_join_reader(&b, t, 3000);
    uint64_t took = sockenv_ms() - t0;
    ck_assert_msg(took < 1000, "woken %llu ms after the shutdown (the spin lasts 2 s)",
                  (unsigned long long)took);
    ck_assert_int_eq(b.n, 0);
    tapir_close(c);
    tapir_close(s);
}
END_TEST

/* A kernel descriptor in the set ends a spinning tapir_poll at once. */
START_TEST(poll_spinning_sees_kernel_fd)
{
    ck_assert_int_eq(tapir_stack_set_caller_drive(env.a, true, LONG_SPIN_US), 0);
    int c, s;
    sockenv_pair(&env, 7302, &c, &s, NULL);
    int pp[2];
    ck_assert_int_eq(pipe(pp), 0);
    pthread_t t;
    pthread_create(&t, NULL, sockenv_write_pipe_later, &pp[1]);
    struct pollfd p[2] = { { .fd = c, .events = POLLIN }, { .fd = pp[0], .events = POLLIN } };
    uint64_t t0 = sockenv_ms();
    ck_assert_int_eq(tapir_poll(p, 2, 3000), 1);
    uint64_t took = sockenv_ms() - t0;
    ck_assert_msg(took < 1000, "poll saw the pipe after %llu ms", (unsigned long long)took);
    ck_assert_int_eq(p[0].revents, 0);
    ck_assert(p[1].revents & POLLIN);
    pthread_join(t, NULL);
    tapir_close(c);
    tapir_close(s);
    close(pp[0]);
    close(pp[1]);
}
END_TEST

/* The spin ends at the caller's deadline, not after its own length. */
START_TEST(receive_timeout_cuts_the_spin)
{
    ck_assert_int_eq(tapir_stack_set_caller_drive(env.a, true, LONG_SPIN_US), 0);
    int c, s;
    sockenv_pair(&env, 7303, &c, &s, NULL);
    struct timeval tv = { .tv_sec = 0, .tv_usec = 150000 };
    ck_assert_int_eq(tapir_setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    uint64_t t0 = sockenv_ms();
    char x;
    ck_assert_int_eq(tapir_read(c, &x, 1), -1);
    ck_assert_int_eq(errno, EAGAIN);
    uint64_t took = sockenv_ms() - t0;
    ck_assert_msg(took >= 145 && took < 1000, "timed out after %llu ms", (unsigned long long)took);
    tapir_close(c);
    tapir_close(s);
}
END_TEST

/* Without a spin the driver sleeps; the frame that wakes it is read and
 * answered before the device is drained. Answers of one frame and of
 * several arrive intact. */
START_TEST(round_trips_read_on_waking)
{
    ck_assert_int_eq(tapir_stack_set_caller_drive(env.a, true, 0), 0);
    ck_assert_int_eq(tapir_stack_set_caller_drive(env.b, true, 0), 0);
    int c, s;
    sockenv_pair(&env, 7304, &c, &s, NULL);
    pthread_t t;
    pthread_create(&t, NULL, sockenv_echo_thread, (void *)(intptr_t)s);
    unsigned long spun0, woke0, spun1, woke1;
    runtime_first_frame_counts(env.a, &spun0, &woke0);
    ck_assert_int_eq(sockenv_round_trips(c, 200, 64), 0);
    ck_assert_int_eq(sockenv_round_trips(c, 50, 8000), 0);
    runtime_first_frame_counts(env.a, &spun1, &woke1);
    ck_assert_int_eq(tapir_close(c), 0);
    pthread_join(t, NULL);
    ck_assert_int_eq(tapir_close(s), 0);
    ck_assert_uint_eq(spun1, spun0);
    ck_assert_msg(woke1 - woke0 >= 100, "only %lu of 250 answers were read on waking",
                  woke1 - woke0);
}
END_TEST

struct both_later {
    int s, pipe_w, round;
};

/* From another thread while the poller sleeps: a byte in the pipe and B's
 * data (a frame to A's device), back to back: the frame often lands while
 * the poller is still waking up, so its wake-up finds both ready. */
static void *write_both_later(void *arg)
{
    struct both_later *w = arg;
    char msg[100];
    memset(msg, 'a' + w->round % 26, sizeof msg);
    sockenv_sleep_ms(2);
    ssize_t n = write(w->pipe_w, "x", 1);
    (void)n;
    tapir_write(w->s, msg, sizeof msg);
    return NULL;
}

/* A kernel descriptor and a frame ready at the same wake-up: the poll
 * reports the descriptor, and the frame read on waking is not lost. Over
 * this lossless link a lost frame would only show as a retransmission by
 * B (TCP repairs it), so that is what is checked. */
START_TEST(frame_and_kernel_fd_at_once)
{
    ck_assert_int_eq(tapir_stack_set_caller_drive(env.a, true, 0), 0);
    int c, s;
    sockenv_pair(&env, 7305, &c, &s, NULL);
    int pp[2];
    ck_assert_int_eq(pipe(pp), 0);
    for (int i = 0; i < 40; i++) {
        struct both_later w = { .s = s, .pipe_w = pp[1], .round = i };
        pthread_t t;
        pthread_create(&t, NULL, write_both_later, &w);
        struct pollfd p[2] = { { .fd = c, .events = POLLIN }, { .fd = pp[0], .events = POLLIN } };
        ck_assert_int_ge(tapir_poll(p, 2, 3000), 1);
        pthread_join(t, NULL);
        char x;
        ck_assert_int_eq(read(pp[0], &x, 1), 1);
        char got[100], want[100];
        memset(want, 'a' + i % 26, sizeof want);
        size_t have = 0;
        while (have < sizeof got) {
            ck_assert_int_eq(sockenv_wait(c, POLLIN, 3000) & POLLIN, POLLIN);
            ssize_t n = tapir_recv(c, got + have, sizeof got - have, MSG_DONTWAIT);
            ck_assert_int_gt(n, 0);
            have += (size_t)n;
        }
        ck_assert_int_eq(memcmp(want, got, sizeof got), 0);
    }
    struct tapir_tcp_info info;
    socklen_t len = sizeof info;
    ck_assert_int_eq(tapir_getsockopt(s, IPPROTO_TCP, TAPIR_TCP_INFO, &info, &len), 0);
    ck_assert_msg(info.total_retrans == 0, "B retransmitted %llu segments: a frame was lost",
                  (unsigned long long)info.total_retrans);
    tapir_close(c);
    tapir_close(s);
    close(pp[0]);
    close(pp[1]);
}
END_TEST

/* A device that cannot take a send while a recv runs on another thread (a
 * pcap decorator, say) is never read outside the runtime lock: the driver
 * then spins on its readiness and reads it with the lock held, as before. */
START_TEST(device_without_concurrent_send_read_under_lock)
{
    env.link_a->concurrent_send = false;
    ck_assert_int_eq(tapir_stack_set_caller_drive(env.a, true, LONG_SPIN_US), 0);
    int c, s;
    sockenv_pair(&env, 7306, &c, &s, NULL);
    pthread_t t;
    pthread_create(&t, NULL, sockenv_echo_thread, (void *)(intptr_t)s);
    unsigned long spun0, woke0, spun1, woke1;
    runtime_first_frame_counts(env.a, &spun0, &woke0);
    ck_assert_int_eq(sockenv_round_trips(c, 100, 64), 0);
    ck_assert_int_eq(tapir_stack_set_caller_drive(env.a, true, 0), 0);
    ck_assert_int_eq(sockenv_round_trips(c, 100, 64), 0);
    runtime_first_frame_counts(env.a, &spun1, &woke1);
    ck_assert_int_eq(tapir_close(c), 0);
    pthread_join(t, NULL);
    ck_assert_int_eq(tapir_close(s), 0);
    ck_assert_uint_eq(spun1, spun0);
    ck_assert_uint_eq(woke1, woke0);
}
END_TEST

static Suite *suite(void)
{
    Suite *su = suite_create("socket_spin");
    TCase *t = tcase_create("spin");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 30);
    tcase_add_test(t, round_trips_caught_while_spinning);
    tcase_add_test(t, shutdown_reaches_a_spinning_driver);
    tcase_add_test(t, poll_spinning_sees_kernel_fd);
    tcase_add_test(t, receive_timeout_cuts_the_spin);
    tcase_add_test(t, round_trips_read_on_waking);
    tcase_add_test(t, frame_and_kernel_fd_at_once);
    tcase_add_test(t, device_without_concurrent_send_read_under_lock);
    suite_add_tcase(su, t);
    return su;
}

int main(void)
{
    return harness_run(suite());
}
