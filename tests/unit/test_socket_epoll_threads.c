/* tapir_epoll under threads (no root): two stacks over a realtime vlink
 * (sock_env). What test_socket_epoll.c checks from one thread, here with
 * other threads at work on the same instance and its sockets at once:
 * - a wait blocked forever is woken by a registration another thread adds;
 * - two threads waiting on one instance share every event, none is lost;
 * - registered sockets closed while a thread waits and another writes to
 *   their peers: nothing is reported for them once the close returned;
 * - the instance's descriptor closed under a wait: the wait runs to its
 *   timeout on the old instance, which is freed when it returns;
 * - the stack stopped under waiting threads: EPOLLERR|EPOLLHUP, no deadlock;
 * - 2000 connect/accept/ADD/echo/close cycles through a server's instance.
 * Most run twice: with every registration on one stack (the wait drives that
 * stack's device) and with registrations on both (it sleeps on its eventfd).
 * Threads other than the test's own record what went wrong; the test body
 * asserts. Every wait for another thread is bounded. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "sock/runtime.h"
#include "sock/socket_internal.h"
#include "sock_env.h"

static struct sock_env env;

static void setup(void) { sockenv_start(&env, NULL); }
static void teardown(void) { sockenv_stop(&env); }

/* How a test spreads its registrations: all on stack B (the wait drives
 * B's device), B and an idle one on A (no single stack: eventfd), or (where
 * it applies) none before the wait starts. */
enum ep_mode { MODE_ONE_STACK, MODE_TWO_STACKS, MODE_EMPTY };

static const char *mode_name(int mode)
{
    return mode == MODE_ONE_STACK ? "one stack" : mode == MODE_TWO_STACKS ? "two stacks" : "empty";
}

static void set_nonblock(int fd)
{
    ck_assert_int_eq(tapir_fcntl(fd, F_SETFL, O_NONBLOCK), 0);
}

/* Wait at most ms for *flag, true if it was set. */
static bool wait_flag(atomic_bool *flag, int ms)
{
    for (uint64_t end = sockenv_ms() + (uint64_t)ms; !atomic_load(flag); sockenv_sleep_ms(1))
        if (sockenv_ms() >= end)
            return false;
    return true;
}

/* Errors seen by helper threads, asserted by the test body. */
struct thread_errors {
    pthread_mutex_t mx;
    int count;
    char first[200];
};

static void terr_init(struct thread_errors *e)
{
    pthread_mutex_init(&e->mx, NULL);
    e->count = 0;
    e->first[0] = 0;
}

static void terr_add(struct thread_errors *e, const char *what, long a, long b)
{
    pthread_mutex_lock(&e->mx);
    if (e->count++ == 0)
        snprintf(e->first, sizeof e->first, "%s (%ld, %ld)", what, a, b);
    pthread_mutex_unlock(&e->mx);
}

static void terr_check(struct thread_errors *e)
{
    ck_assert_msg(e->count == 0, "%d errors in helper threads, first: %s", e->count, e->first);
    pthread_mutex_destroy(&e->mx);
}

/* ---- one wait on another thread ----------------------------------------- */

struct one_wait {
    int ep, timeout;
    pthread_t t;
    int n, err;
    uint64_t took_ms;
    struct epoll_event evs[8];
    atomic_bool done;
};

static void *one_wait_main(void *arg)
{
    struct one_wait *w = arg;
    uint64_t t0 = sockenv_ms();
    w->n = tapir_epoll_wait(w->ep, w->evs, 8, w->timeout);
    w->err = errno;
    w->took_ms = sockenv_ms() - t0;
    atomic_store(&w->done, true);
    return NULL;
}

static void one_wait_start(struct one_wait *w, int ep, int timeout)
{
    memset(w, 0, sizeof *w);
    w->ep = ep;
    w->timeout = timeout;
    atomic_init(&w->done, false);
    ck_assert_int_eq(pthread_create(&w->t, NULL, one_wait_main, w), 0);
}

/* The wait must return within ms; joined. */
static void one_wait_join(struct one_wait *w, int ms, const char *what)
{
    ck_assert_msg(wait_flag(&w->done, ms), "%s: the wait did not return within %d ms", what, ms);
    pthread_join(w->t, NULL);
}

/* The events w reported for data, 0 if none. */
static uint32_t one_wait_events_of(const struct one_wait *w, uint64_t data)
{
    for (int i = 0; i < w->n; i++)
        if (w->evs[i].data.u64 == data)
            return w->evs[i].events;
    return 0;
}

/* ---- 1. an ADD from another thread wakes a wait blocked forever ---------- */

START_TEST(add_from_other_thread_wakes_wait)
{
    for (int mode = MODE_ONE_STACK; mode <= MODE_EMPTY; mode++) {
        int c, s;
        sockenv_pair(&env, (uint16_t)(7100 + mode), &c, &s, NULL);
        int ep = sockenv_epoll_new();
        int idle_b = -1, idle_a = -1;
        if (mode != MODE_EMPTY) {
            idle_b = sockenv_listen(env.b, (uint16_t)(7110 + mode));
            sockenv_epoll_add(ep, idle_b, EPOLLIN, 1);
        }
        if (mode == MODE_TWO_STACKS) {
            idle_a = sockenv_listen(env.a, (uint16_t)(7120 + mode));
            sockenv_epoll_add(ep, idle_a, EPOLLIN, 2);
        }
        unsigned long drives0 = runtime_drive_count(env.b);
        struct one_wait w;
        one_wait_start(&w, ep, -1);
        sockenv_sleep_ms(50);
        ck_assert_msg(!atomic_load(&w.done), "%s: returned %d with nothing ready", mode_name(mode), w.n);
        sockenv_epoll_add(ep, s, EPOLLIN, 77);          /* this thread, while it waits */
        sockenv_sleep_ms(30);
        ck_assert_msg(!atomic_load(&w.done), "%s: an idle ADD woke the wait", mode_name(mode));
        ck_assert_int_eq(tapir_write(c, "q", 1), 1);
        one_wait_join(&w, 3000, mode_name(mode));
        ck_assert_msg(w.n == 1, "%s: n %d errno %d", mode_name(mode), w.n, w.err);
        ck_assert_uint_eq(w.evs[0].data.u64, 77);
        ck_assert_uint_eq(w.evs[0].events, EPOLLIN);
        if (mode == MODE_ONE_STACK)
            ck_assert_uint_ge(runtime_drive_count(env.b) - drives0, 1);
        tapir_close(ep);
        tapir_close(c);
        tapir_close(s);
        if (idle_a >= 0)
            tapir_close(idle_a);
        if (idle_b >= 0)
            tapir_close(idle_b);
    }
}
END_TEST

/* A wait driving stack B's device is woken by a socket of stack A added
 * while it drives, also after a second wait on the instance came and went
 * (it found the device driven and slept on the eventfd instead). */
START_TEST(driver_woken_by_other_stack_after_second_wait)
{
    int cb, sb, ca, sa;
    sockenv_pair(&env, 7130, &cb, &sb, NULL);     /* sb on B */
    sockenv_pair(&env, 7131, &ca, &sa, NULL);     /* ca on A */
    int ep = sockenv_epoll_new();
    sockenv_epoll_add(ep, sb, EPOLLIN, 1);
    struct one_wait driver, second;
    one_wait_start(&driver, ep, -1);
    sockenv_sleep_ms(50);
    one_wait_start(&second, ep, 100);
    one_wait_join(&second, 2000, "second wait");
    ck_assert_int_eq(second.n, 0);
    ck_assert(!atomic_load(&driver.done));
    sockenv_epoll_add(ep, ca, EPOLLIN, 2);
    sockenv_sleep_ms(20);
    ck_assert_int_eq(tapir_write(sa, "a", 1), 1);
    one_wait_join(&driver, 2000, "driving wait");
    ck_assert_int_eq(driver.n, 1);
    ck_assert_uint_eq(driver.evs[0].data.u64, 2);
    tapir_close(ep);
    tapir_close(ca);
    tapir_close(sa);
    tapir_close(cb);
    tapir_close(sb);
}
END_TEST

/* ---- 2. two waiters share the events of one instance --------------------- */

enum { SHARE_N = 8, SHARE_ROUNDS = 150, STOP_DATA = 1000, IDLE_A_DATA = 999 };

struct share {
    int ep;
    int s[SHARE_N];
    pthread_mutex_t sock_mx[SHARE_N];     /* one reader per socket at a time */
    unsigned char next[SHARE_N];          /* the byte expected next (sock_mx) */
    atomic_uint received;
    atomic_uint reports[2];
    struct thread_errors errs;
};

struct share_waiter {
    struct share *sh;
    int id;
    atomic_bool done;
};

static void *share_waiter_main(void *arg)
{
    struct share_waiter *me = arg;
    struct share *sh = me->sh;
    struct epoll_event evs[4];
    for (;;) {
        int n = tapir_epoll_wait(sh->ep, evs, 4, -1);    /* a lost wake-up hangs */
        if (n < 0) {
            if (errno != EINTR) {
                terr_add(&sh->errs, "epoll_wait failed", errno, me->id);
                break;
            }
            continue;
        }
        if (n == 0)
            terr_add(&sh->errs, "a wait with no timeout returned 0", me->id, 0);
        bool stop = false;
        for (int k = 0; k < n; k++) {
            uint64_t d = evs[k].data.u64;
            if (d == STOP_DATA) {
                stop = true;
                continue;
            }
            if (d >= SHARE_N) {
                terr_add(&sh->errs, "unexpected data", (long)d, evs[k].events);
                continue;
            }
            atomic_fetch_add(&sh->reports[me->id], 1);
            unsigned char buf[64];
            pthread_mutex_lock(&sh->sock_mx[d]);
            ssize_t got = tapir_read(sh->s[d], buf, sizeof buf);
            if (got < 0 && errno != EAGAIN)
                terr_add(&sh->errs, "read", (long)d, errno);
            for (ssize_t b = 0; b < got; b++)
                if (buf[b] != sh->next[d]++)
                    terr_add(&sh->errs, "byte out of order", (long)d, buf[b]);
            pthread_mutex_unlock(&sh->sock_mx[d]);
            if (got > 0)
                atomic_fetch_add(&sh->received, (unsigned)got);
        }
        if (stop)
            break;
    }
    atomic_store(&me->done, true);
    return NULL;
}

START_TEST(two_waiters_share_events)
{
    for (int mode = MODE_ONE_STACK; mode <= MODE_TWO_STACKS; mode++) {
        struct share sh;
        memset(&sh, 0, sizeof sh);
        terr_init(&sh.errs);
        atomic_init(&sh.received, 0);
        sh.ep = sockenv_epoll_new();
        int c[SHARE_N];
        for (int i = 0; i < SHARE_N; i++) {
            sockenv_pair(&env, (uint16_t)(7200 + mode * 20 + i), &c[i], &sh.s[i], NULL);
            set_nonblock(sh.s[i]);
            pthread_mutex_init(&sh.sock_mx[i], NULL);
            sockenv_epoll_add(sh.ep, sh.s[i], EPOLLIN, (uint64_t)i);
        }
        int idle_a = -1;
        if (mode == MODE_TWO_STACKS) {
            idle_a = sockenv_listen(env.a, 7250);
            sockenv_epoll_add(sh.ep, idle_a, EPOLLIN, IDLE_A_DATA);
        }
        int stop_pipe[2];
        ck_assert_int_eq(pipe(stop_pipe), 0);

        struct share_waiter w[2];
        pthread_t t[2];
        for (int k = 0; k < 2; k++) {
            w[k] = (struct share_waiter){ .sh = &sh, .id = k };
            atomic_init(&w[k].done, false);
            ck_assert_int_eq(pthread_create(&t[k], NULL, share_waiter_main, &w[k]), 0);
        }
        sockenv_sleep_ms(20);
        for (int r = 0; r < SHARE_ROUNDS; r++) {
            for (int i = 0; i < SHARE_N; i++) {
                unsigned char b = (unsigned char)r;
                ck_assert_int_eq(tapir_write(c[i], &b, 1), 1);
            }
            /* Every byte of the round taken by one waiter or the other. */
            unsigned want = (unsigned)(r + 1) * SHARE_N;
            uint64_t end = sockenv_ms() + 5000;
            while (atomic_load(&sh.received) < want && sockenv_ms() < end)
                sockenv_sleep_ms(1);
            ck_assert_msg(atomic_load(&sh.received) == want, "%s round %d: %u of %u bytes taken",
                          mode_name(mode), r, atomic_load(&sh.received), want);
        }
        /* The pipe wakes both (level-triggered, unread). */
        sockenv_epoll_add(sh.ep, stop_pipe[0], EPOLLIN, STOP_DATA);
        ck_assert_int_eq(write(stop_pipe[1], "x", 1), 1);
        for (int k = 0; k < 2; k++) {
            ck_assert_msg(wait_flag(&w[k].done, 3000), "%s: waiter %d not stopped", mode_name(mode), k);
            pthread_join(t[k], NULL);
        }
        terr_check(&sh.errs);
        ck_assert_uint_ge(atomic_load(&sh.reports[0]) + atomic_load(&sh.reports[1]), SHARE_ROUNDS);
        tapir_close(sh.ep);
        for (int i = 0; i < SHARE_N; i++) {
            tapir_close(c[i]);
            tapir_close(sh.s[i]);
            pthread_mutex_destroy(&sh.sock_mx[i]);
        }
        if (idle_a >= 0)
            tapir_close(idle_a);
        close(stop_pipe[0]);
        close(stop_pipe[1]);
    }
}
END_TEST

/* A level-triggered event nobody consumes wakes every thread waiting on
 * the instance (Linux wakes the next waiter after each scan that leaves
 * items on the ready list): not only the one that took the wake-up. */
START_TEST(level_triggered_wakes_every_waiter)
{
    for (int mode = MODE_ONE_STACK; mode <= MODE_TWO_STACKS; mode++) {
        int c, s;
        sockenv_pair(&env, (uint16_t)(7260 + mode), &c, &s, NULL);
        int ep = sockenv_epoll_new();
        sockenv_epoll_add(ep, s, EPOLLIN, 61);
        int idle_a = -1;
        if (mode == MODE_TWO_STACKS) {
            idle_a = sockenv_listen(env.a, 7270);
            sockenv_epoll_add(ep, idle_a, EPOLLIN, IDLE_A_DATA);
        }
        struct one_wait w[3];
        for (int k = 0; k < 3; k++)
            one_wait_start(&w[k], ep, -1);
        sockenv_sleep_ms(50);
        for (int k = 0; k < 3; k++)
            ck_assert(!atomic_load(&w[k].done));
        ck_assert_int_eq(tapir_write(c, "L", 1), 1);      /* never read */
        for (int k = 0; k < 3; k++) {
            one_wait_join(&w[k], 2000, mode_name(mode));
            ck_assert_msg(w[k].n == 1 && one_wait_events_of(&w[k], 61) == EPOLLIN,
                          "%s: waiter %d: n %d errno %d", mode_name(mode), k, w[k].n, w[k].err);
        }
        tapir_close(ep);
        tapir_close(c);
        tapir_close(s);
        if (idle_a >= 0)
            tapir_close(idle_a);
    }
}
END_TEST

/* ---- 3. registered sockets closed while a thread waits ------------------- */

enum { CLOSE_K = 16 };

struct close_race {
    int ep;
    int c[CLOSE_K], s[CLOSE_K];
    atomic_uint waits_started;
    /* waits_started read just after tapir_close(s[i]) returned; -1: open */
    atomic_int closed_at[CLOSE_K];
    atomic_bool stop;
    atomic_uint reports;
    struct thread_errors errs;
};

static void *close_race_writer(void *arg)
{
    struct close_race *cr = arg;
    while (!atomic_load(&cr->stop)) {
        for (int i = 0; i < CLOSE_K; i++) {
            ssize_t n = tapir_write(cr->c[i], "w", 1);   /* fails once reset: fine */
            (void)n;
        }
        sockenv_sleep_ms(1);
    }
    return NULL;
}

static void *close_race_waiter(void *arg)
{
    struct close_race *cr = arg;
    struct epoll_event evs[CLOSE_K + 1];
    while (!atomic_load(&cr->stop)) {
        int w = (int)atomic_fetch_add(&cr->waits_started, 1);
        int n = tapir_epoll_wait(cr->ep, evs, CLOSE_K + 1, 20);
        if (n < 0) {
            terr_add(&cr->errs, "epoll_wait failed", errno, w);
            break;
        }
        for (int k = 0; k < n; k++) {
            uint64_t d = evs[k].data.u64;
            if (d == IDLE_A_DATA)
                continue;
            if (d >= CLOSE_K) {
                terr_add(&cr->errs, "unexpected data", (long)d, evs[k].events);
                continue;
            }
            /* A report racing the close is fine; a wait that began after
             * the close returned and one more wait ran must not see it. */
            int closed_at = atomic_load(&cr->closed_at[d]);
            if (closed_at >= 0 && w > closed_at) {
                terr_add(&cr->errs, "reported after its close", (long)d, w - closed_at);
                continue;
            }
            atomic_fetch_add(&cr->reports, 1);
            char buf[256];
            ssize_t got = tapir_read(cr->s[d], buf, sizeof buf);   /* EBADF once closed */
            (void)got;
        }
    }
    return NULL;
}

START_TEST(close_registered_while_waiting)
{
    for (int mode = MODE_ONE_STACK; mode <= MODE_TWO_STACKS; mode++) {
        struct close_race cr;
        memset(&cr, 0, sizeof cr);
        terr_init(&cr.errs);
        atomic_init(&cr.waits_started, 0);
        atomic_init(&cr.stop, false);
        atomic_init(&cr.reports, 0);
        cr.ep = sockenv_epoll_new();
        for (int i = 0; i < CLOSE_K; i++) {
            sockenv_pair(&env, (uint16_t)(7300 + mode * 20 + i), &cr.c[i], &cr.s[i], NULL);
            set_nonblock(cr.s[i]);
            set_nonblock(cr.c[i]);
            atomic_init(&cr.closed_at[i], -1);
            sockenv_epoll_add(cr.ep, cr.s[i], EPOLLIN, (uint64_t)i);
        }
        int idle_a = -1;
        if (mode == MODE_TWO_STACKS) {
            idle_a = sockenv_listen(env.a, 7350);
            sockenv_epoll_add(cr.ep, idle_a, EPOLLIN, IDLE_A_DATA);
        }
        pthread_t tw, tr;
        ck_assert_int_eq(pthread_create(&tr, NULL, close_race_waiter, &cr), 0);
        ck_assert_int_eq(pthread_create(&tw, NULL, close_race_writer, &cr), 0);
        sockenv_sleep_ms(40);
        for (int i = 0; i < CLOSE_K; i++) {
            ck_assert_int_eq(tapir_close(cr.s[i]), 0);
            atomic_store(&cr.closed_at[i], (int)atomic_load(&cr.waits_started));
            sockenv_sleep_ms(3);
        }
        sockenv_sleep_ms(60);         /* more waits over the closed ones */
        atomic_store(&cr.stop, true);
        pthread_join(tw, NULL);
        pthread_join(tr, NULL);
        terr_check(&cr.errs);
        ck_assert_msg(atomic_load(&cr.reports) > 0, "%s: nothing reported before the closes", mode_name(mode));
        /* Every registration left was dropped: nothing more to report. */
        struct epoll_event ev;
        ck_assert_int_eq(tapir_epoll_wait(cr.ep, &ev, 1, 0), 0);
        ck_assert_int_eq(tapir_close(cr.ep), 0);
        for (int i = 0; i < CLOSE_K; i++)
            tapir_close(cr.c[i]);
        if (idle_a >= 0)
            tapir_close(idle_a);
    }
}
END_TEST

/* ---- 4. the instance's descriptor closed under a wait -------------------- */

START_TEST(close_epfd_while_waiting)
{
    for (int mode = MODE_ONE_STACK; mode <= MODE_EMPTY; mode++) {
        int c, s;
        sockenv_pair(&env, (uint16_t)(7400 + mode), &c, &s, NULL);
        int ep = sockenv_epoll_new();
        if (mode != MODE_EMPTY)
            sockenv_epoll_add(ep, s, EPOLLIN, 5);
        if (mode == MODE_TWO_STACKS)
            sockenv_epoll_add(ep, c, EPOLLIN, 6);
        struct one_wait w;
        one_wait_start(&w, ep, 400);
        sockenv_sleep_ms(50);
        ck_assert(!atomic_load(&w.done));
        ck_assert_int_eq(tapir_close(ep), 0);
        struct epoll_event ev = { .events = EPOLLIN };
        errno = 0;
        ck_assert_int_eq(tapir_epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev), -1);
        ck_assert_int_eq(errno, EBADF);
        /* The number is free again: a new instance gets it, and what it
         * reports is not the old one's (which the wait still uses). */
        int ep2 = sockenv_epoll_new();
        ck_assert_int_eq(ep2, ep);
        sockenv_epoll_add(ep2, s, EPOLLIN, 8);
        ck_assert_int_eq(tapir_write(c, "d", 1), 1);
        struct epoll_event got[4];
        int n2 = tapir_epoll_wait(ep2, got, 4, 2000);
        ck_assert_int_eq(n2, 1);
        ck_assert_uint_eq(got[0].data.u64, 8);

        one_wait_join(&w, 3000, mode_name(mode));
        /* The old instance: s's byte counts for it too (mode with s
         * registered), else it times out. */
        if (mode == MODE_EMPTY) {
            ck_assert_msg(w.n == 0, "%s: n %d errno %d", mode_name(mode), w.n, w.err);
            ck_assert_uint_ge(w.took_ms, 350);
        } else {
            ck_assert_msg(w.n == 1 && one_wait_events_of(&w, 5) == EPOLLIN,
                          "%s: n %d errno %d", mode_name(mode), w.n, w.err);
        }
        ck_assert_int_eq(tapir_close(ep2), 0);
        /* Both instances are gone, and their references to s with them:
         * closing s frees its tsock (into the spares). */
        unsigned spares = sock_spare_count();
        ck_assert_int_eq(tapir_close(s), 0);
        ck_assert_uint_eq(sock_spare_count(), spares + 1);
        tapir_close(c);
    }
}
END_TEST

/* A wait on an instance with an idle registration, closed under it: the
 * wait runs to its timeout; the instance's reference to the socket goes
 * only when the wait returns. */
START_TEST(close_epfd_wait_times_out)
{
    for (int mode = MODE_ONE_STACK; mode <= MODE_TWO_STACKS; mode++) {
        int c, s;
        sockenv_pair(&env, (uint16_t)(7410 + mode), &c, &s, NULL);
        int ep = sockenv_epoll_new();
        sockenv_epoll_add(ep, s, EPOLLIN, 5);
        if (mode == MODE_TWO_STACKS)
            sockenv_epoll_add(ep, c, EPOLLIN, 6);
        struct one_wait w;
        one_wait_start(&w, ep, 300);
        sockenv_sleep_ms(50);
        ck_assert_int_eq(tapir_close(ep), 0);
        one_wait_join(&w, 3000, mode_name(mode));
        ck_assert_msg(w.n == 0, "%s: n %d errno %d", mode_name(mode), w.n, w.err);
        ck_assert_uint_ge(w.took_ms, 250);
        unsigned spares = sock_spare_count();
        ck_assert_int_eq(tapir_close(s), 0);
        ck_assert_uint_eq(sock_spare_count(), spares + 1);
        tapir_close(c);
    }
}
END_TEST

/* ---- 5. the stack stopped under waiting threads -------------------------- */

START_TEST(stack_stop_while_waiting)
{
    int mode = _i;                /* loop test: one stack, two stacks */
    int c, s;
    sockenv_pair(&env, (uint16_t)(7500 + mode), &c, &s, NULL);
    int ep = sockenv_epoll_new();
    sockenv_epoll_add(ep, s, EPOLLIN, 51);
    if (mode == MODE_TWO_STACKS)
        sockenv_epoll_add(ep, c, EPOLLIN, 52);  /* on A, which keeps running; idle */
    /* Two waiters: with one stack one drives the device, the other sleeps
     * on the eventfd. One waits forever: only the stop can end it. */
    struct one_wait w[2];
    one_wait_start(&w[0], ep, -1);
    one_wait_start(&w[1], ep, 3000);
    sockenv_sleep_ms(50);
    ck_assert(!atomic_load(&w[0].done) && !atomic_load(&w[1].done));
    uint64_t t0 = sockenv_ms();
    tapir_stack_stop(env.b);
    env.b = NULL;
    ck_assert_uint_lt(sockenv_ms() - t0, 2000);
    for (int k = 0; k < 2; k++) {
        ck_assert_msg(wait_flag(&w[k].done, 2000), "%s: waiter %d did not return", mode_name(mode), k);
        pthread_join(w[k].t, NULL);
        ck_assert_msg(w[k].n >= 1, "%s: waiter %d: n %d errno %d", mode_name(mode), k, w[k].n, w[k].err);
        ck_assert_uint_eq(one_wait_events_of(&w[k], 51), EPOLLERR | EPOLLHUP);
        ck_assert_uint_eq(one_wait_events_of(&w[k], 52), 0);
    }
    ck_assert_int_eq(tapir_close(s), 0);
    struct epoll_event ev;
    ck_assert_int_eq(tapir_epoll_wait(ep, &ev, 1, 0), 0);
    ck_assert_int_eq(tapir_close(ep), 0);
    tapir_close(c);
}
END_TEST

/* The same with edge-triggered registrations, so the stop's one report
 * goes to one waiter and the others sleep on: the stop must not wait for
 * them (a waiter that drives, or sleeps on the eventfd of an instance with
 * every registration on the stack, holds a user of it). The report is
 * given once; the waiter that does not get it times out. */
START_TEST(stack_stop_edge_triggered_waiters)
{
    int mode = _i;
    enum { WAITERS = 3, WAIT_MS = 1500 };
    int c, s;
    sockenv_pair(&env, (uint16_t)(7510 + mode), &c, &s, NULL);
    int ep = sockenv_epoll_new();
    sockenv_epoll_add(ep, s, EPOLLIN | EPOLLET, 51);
    if (mode == MODE_TWO_STACKS)
        sockenv_epoll_add(ep, c, EPOLLIN | EPOLLET, 52);
    struct one_wait w[WAITERS];
    for (int k = 0; k < WAITERS; k++)
        one_wait_start(&w[k], ep, WAIT_MS);
    sockenv_sleep_ms(50);
    uint64_t t0 = sockenv_ms();
    tapir_stack_stop(env.b);
    env.b = NULL;
    uint64_t stop_ms = sockenv_ms() - t0;
    ck_assert_msg(stop_ms < 500, "%s: the stop took %llu ms (held up by a waiter)",
                  mode_name(mode), (unsigned long long)stop_ms);
    int reports = 0;
    for (int k = 0; k < WAITERS; k++) {
        one_wait_join(&w[k], WAIT_MS + 1000, mode_name(mode));
        ck_assert_msg(w[k].n >= 0, "%s: waiter %d: errno %d", mode_name(mode), k, w[k].err);
        uint32_t r = one_wait_events_of(&w[k], 51);
        ck_assert_msg(r == 0 || r == (EPOLLERR | EPOLLHUP), "waiter %d: events %#x", k, r);
        reports += r != 0;
        ck_assert_uint_eq(one_wait_events_of(&w[k], 52), 0);
    }
    ck_assert_int_eq(reports, 1);
    ck_assert_int_eq(tapir_close(s), 0);
    ck_assert_int_eq(tapir_close(ep), 0);
    tapir_close(c);
}
END_TEST

/* ---- 6. churn: connections through a server's instance ------------------- */

enum { CHURN_CYCLES = 2000, CHURN_MAX_MSG = 300, LISTENER_DATA = 1 << 30 };

struct churn_server {
    int ep, listener;
    unsigned accepted, echoed_bytes;     /* read after the join */
    atomic_uint closed;                  /* read while it runs */
    struct thread_errors errs;
    atomic_bool done;
};

/* Echo what is readable on fd; at EOF (or a reset) drop it: by DEL then
 * close, or close alone (the instance drops it lazily), alternately. */
static void churn_serve_conn(struct churn_server *sv, int fd)
{
    unsigned char buf[512];
    for (;;) {
        ssize_t n = tapir_read(fd, buf, sizeof buf);
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            if (n < 0 && errno != ECONNRESET)
                terr_add(&sv->errs, "server read", fd, errno);
            if (atomic_load(&sv->closed) % 2 == 0 && tapir_epoll_ctl(sv->ep, EPOLL_CTL_DEL, fd, NULL) < 0)
                terr_add(&sv->errs, "DEL", fd, errno);
            if (tapir_close(fd) < 0)
                terr_add(&sv->errs, "server close", fd, errno);
            atomic_fetch_add(&sv->closed, 1);
            return;
        }
        /* Messages are small, the send buffer empty: all of it goes. */
        if (tapir_write(fd, buf, (size_t)n) != n)
            terr_add(&sv->errs, "server write", fd, errno);
        else
            sv->echoed_bytes += (unsigned)n;
    }
}

static void *churn_server_main(void *arg)
{
    struct churn_server *sv = arg;
    struct epoll_event evs[16];
    for (;;) {
        int n = tapir_epoll_wait(sv->ep, evs, 16, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            terr_add(&sv->errs, "epoll_wait failed", errno, 0);
            break;
        }
        bool stop = false;
        for (int k = 0; k < n; k++) {
            uint64_t d = evs[k].data.u64;
            if (d == STOP_DATA) {
                stop = true;
            } else if (d == LISTENER_DATA) {
                int fd;
                while ((fd = tapir_accept4(sv->listener, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    sv->accepted++;
                    struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.u64 = (uint64_t)fd };
                    if (tapir_epoll_ctl(sv->ep, EPOLL_CTL_ADD, fd, &ev) < 0)
                        terr_add(&sv->errs, "ADD", fd, errno);
                }
                if (errno != EAGAIN)
                    terr_add(&sv->errs, "accept", errno, 0);
            } else {
                churn_serve_conn(sv, (int)d);
            }
        }
        if (stop)
            break;
    }
    atomic_store(&sv->done, true);
    return NULL;
}

START_TEST(churn_echo_through_one_instance)
{
    struct churn_server sv;
    memset(&sv, 0, sizeof sv);
    terr_init(&sv.errs);
    atomic_init(&sv.done, false);
    atomic_init(&sv.closed, 0);
    sv.ep = sockenv_epoll_new();
    sv.listener = sockenv_listen(env.b, 7600);
    set_nonblock(sv.listener);
    sockenv_epoll_add(sv.ep, sv.listener, EPOLLIN, LISTENER_DATA);
    int stop_pipe[2];
    ck_assert_int_eq(pipe(stop_pipe), 0);
    sockenv_epoll_add(sv.ep, stop_pipe[0], EPOLLIN, STOP_DATA);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, churn_server_main, &sv), 0);

    struct sockaddr_in to = sockenv_addr("10.0.0.3", 7600);
    struct timeval rcvtimeo = { .tv_sec = 5 };     /* a lost echo fails, not hangs */
    unsigned char msg[CHURN_MAX_MSG], back[CHURN_MAX_MSG];
    unsigned sent_bytes = 0;
    uint64_t t0 = sockenv_ms();
    for (int i = 0; i < CHURN_CYCLES; i++) {
        int c = tapir_socket_on(env.a, AF_INET, SOCK_STREAM, 0);
        ck_assert_int_ge(c, TAPIR_FD_BASE);
        ck_assert_int_eq(tapir_setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &rcvtimeo, sizeof rcvtimeo), 0);
        ck_assert_msg(tapir_connect(c, (struct sockaddr *)&to, sizeof to) == 0,
                      "cycle %d: connect: %s", i, strerror(errno));
        size_t len = 1 + (size_t)(i * 37) % CHURN_MAX_MSG;
        for (size_t k = 0; k < len; k++)
            msg[k] = (unsigned char)(i * 7 + k * 13);
        ck_assert_int_eq(tapir_write(c, msg, len), (ssize_t)len);
        size_t got = 0;
        while (got < len) {
            ssize_t n = tapir_read(c, back + got, len - got);
            ck_assert_msg(n > 0, "cycle %d: read %zd after %zu of %zu: %s", i, n, got, len, strerror(errno));
            got += (size_t)n;
        }
        ck_assert_msg(memcmp(msg, back, len) == 0, "cycle %d: echo differs", i);
        sent_bytes += (unsigned)len;
        ck_assert_int_eq(tapir_close(c), 0);
    }
    uint64_t took = sockenv_ms() - t0;

    /* The server has seen every EOF (its closes follow ours). */
    for (uint64_t end = sockenv_ms() + 5000; sockenv_ms() < end; sockenv_sleep_ms(2))
        if (atomic_load(&sv.closed) == CHURN_CYCLES)
            break;
    ck_assert_int_eq(write(stop_pipe[1], "x", 1), 1);
    ck_assert_msg(wait_flag(&sv.done, 3000), "the server did not stop");
    pthread_join(t, NULL);
    terr_check(&sv.errs);
    ck_assert_uint_eq(sv.accepted, CHURN_CYCLES);
    ck_assert_uint_eq(atomic_load(&sv.closed), CHURN_CYCLES);
    ck_assert_uint_eq(sv.echoed_bytes, sent_bytes);
    /* Only the listener and the pipe are left, neither ready. */
    ck_assert_int_eq(tapir_epoll_ctl(sv.ep, EPOLL_CTL_DEL, stop_pipe[0], NULL), 0);
    struct epoll_event ev;
    ck_assert_int_eq(tapir_epoll_wait(sv.ep, &ev, 1, 0), 0);
    fprintf(stderr, "churn: %d cycles in %llu ms\n", CHURN_CYCLES, (unsigned long long)took);
    ck_assert_int_eq(tapir_close(sv.ep), 0);
    tapir_close(sv.listener);
    close(stop_pipe[0]);
    close(stop_pipe[1]);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("socket_epoll_threads");
    TCase *tc = tcase_create("threads");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 100);
    tcase_add_test(tc, add_from_other_thread_wakes_wait);
    tcase_add_test(tc, driver_woken_by_other_stack_after_second_wait);
    tcase_add_test(tc, two_waiters_share_events);
    tcase_add_test(tc, level_triggered_wakes_every_waiter);
    tcase_add_test(tc, close_registered_while_waiting);
    tcase_add_test(tc, close_epfd_while_waiting);
    tcase_add_test(tc, close_epfd_wait_times_out);
    tcase_add_loop_test(tc, stack_stop_while_waiting, MODE_ONE_STACK, MODE_TWO_STACKS + 1);
    tcase_add_loop_test(tc, stack_stop_edge_triggered_waiters, MODE_ONE_STACK, MODE_TWO_STACKS + 1);
    tcase_add_test(tc, churn_echo_through_one_instance);
    suite_add_tcase(su, tc);
    return harness_run(su);
}
