/* Caller-driven mode with a spin (src/sock/drive.c): a driver that busy-
 * polls before it sleeps reads the device itself while it spins, answers a
 * frame it caught before draining the rest, and still sees in time what is
 * not a frame: its own wake-up (shutdown), a kernel descriptor in tapir_poll,
 * and its deadline. Each test spins far longer than what it waits for, so a
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

static void *echo_server(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[4096];
    for (;;) {
        ssize_t n = tapir_read(fd, buf, sizeof buf);
        if (n <= 0)
            break;
        if (tapir_write(fd, buf, (size_t)n) != n)
            break;
    }
    return NULL;
}

/* rounds round trips of size-byte messages; 0 if every byte came back. */
static int round_trips(int c, int rounds, size_t size)
{
    static unsigned char req[8192], rsp[8192];
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
    pthread_create(&t, NULL, echo_server, (void *)(intptr_t)s);
    unsigned long before = runtime_spin_frame_count(env.a);
    ck_assert_int_eq(round_trips(c, 200, 64), 0);
    unsigned long caught = runtime_spin_frame_count(env.a) - before;
    ck_assert_int_eq(round_trips(c, 50, 8000), 0);
    ck_assert_int_eq(tapir_close(c), 0);
    pthread_join(t, NULL);
    ck_assert_int_eq(tapir_close(s), 0);
    ck_assert_msg(caught >= 50, "only %lu of 200 answers were caught by a spinning read", caught);
}
END_TEST

struct blocked {
    int fd;
    ssize_t n;
    int err;
    atomic_bool done;
};

static void *read_once(void *arg)
{
    struct blocked *b = arg;
    char x;
    b->n = tapir_read(b->fd, &x, 1);
    b->err = errno;
    atomic_store(&b->done, true);
    return NULL;
}

/* shutdown(SHUT_RD) from another thread reaches a reader that is still
 * spinning. It sends nothing, so nothing arrives on the device: the driver
 * learns it from its wake-up (drv_evfd), or at the latest when its spin
 * stops at the core's next timer, never after the whole spin. */
START_TEST(shutdown_reaches_a_spinning_driver)
{
    ck_assert_int_eq(tapir_stack_set_caller_drive(env.a, true, LONG_SPIN_US), 0);
    int c, s;
    sockenv_pair(&env, 7301, &c, &s, NULL);
    struct blocked b = { .fd = c };
    atomic_init(&b.done, false);
    unsigned long before = runtime_drive_count(env.a);
    pthread_t t;
    pthread_create(&t, NULL, read_once, &b);
    for (int i = 0; i < 500 && runtime_drive_count(env.a) == before; i++)
        sockenv_sleep_ms(1);
    ck_assert_msg(runtime_drive_count(env.a) > before, "the reader never drove the device");
    sockenv_sleep_ms(20);
    ck_assert(!atomic_load(&b.done));
    uint64_t t0 = sockenv_ms();
    ck_assert_int_eq(tapir_shutdown(c, SHUT_RD), 0);
    while (!atomic_load(&b.done) && sockenv_ms() - t0 < 3000)
        sockenv_sleep_ms(1);
    uint64_t took = sockenv_ms() - t0;
    ck_assert_msg(atomic_load(&b.done), "the spinning reader was not woken");
    ck_assert_msg(took < 1000, "woken %llu ms after the shutdown (the spin lasts 2 s)",
                  (unsigned long long)took);
    pthread_join(t, NULL);
    ck_assert_int_eq(b.n, 0);
    tapir_close(c);
    tapir_close(s);
}
END_TEST

static void *write_pipe_later(void *arg)
{
    sockenv_sleep_ms(50);
    ssize_t n = write(*(int *)arg, "x", 1);
    (void)n;
    return NULL;
}

/* A kernel descriptor in the set ends a spinning tapir_poll at once. */
START_TEST(poll_spinning_sees_kernel_fd)
{
    ck_assert_int_eq(tapir_stack_set_caller_drive(env.a, true, LONG_SPIN_US), 0);
    int c, s;
    sockenv_pair(&env, 7302, &c, &s, NULL);
    int pp[2];
    ck_assert_int_eq(pipe(pp), 0);
    pthread_t t;
    pthread_create(&t, NULL, write_pipe_later, &pp[1]);
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
    suite_add_tcase(su, t);
    return su;
}

int main(void)
{
    return harness_run(suite());
}
