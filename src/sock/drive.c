/* Caller-driven mode: an application thread that blocks on a socket drives
 * the device itself.
 *
 * Without it a request/response round trip costs two thread hand-offs: the
 * reply wakes the stack thread (epoll on the device), which feeds the core,
 * whose notify callback signals the condition variable the application
 * sleeps on. Here the blocked application thread instead sleeps in ppoll on
 * the device's descriptor, and when a frame arrives reads it and runs the
 * core on its own thread (with the runtime lock held, as the stack thread
 * would): the reply is processed where it is wanted, with no hand-off.
 *
 * Rules (all state in struct runtime, guarded by its lock):
 * - One driver at a time (rt->driving). Other blocked threads sleep on their
 *   socket's condition variable as before; the driver's processing of frames
 *   signals them through the notify callback like the stack thread's did.
 * - The driver returns as soon as the counter it watches (its socket's gen)
 *   changes. A change made by another thread (close, a timer run by the
 *   stack thread, stop) wakes it through drv_evfd (runtime_wake_driver).
 * - The driver runs the core's timers when due and sleeps at most until the
 *   core's next deadline. The stack thread keeps running timers too, and
 *   serves the device whenever nobody drives it: while a driver is active it
 *   parks the device (loop_park_device) so it is not woken by every frame;
 *   a driver that leaves while others sleep on condition variables gives
 *   the device straight back to the stack thread.
 * - Stop: the driver gives up when rt->stopping is set (the stop path wakes
 *   every socket, and through drv_evfd the driver), or when the device fails.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/stack.h"
#include "core/tcp_api.h"
#include "sock/loop.h"
#include "sock/runtime.h"
#include "sock/spin_policy.h"

#define DRIVE_FOREVER UINT64_MAX
/* Default spin before sleeping (adaptive: spin_policy.h): about two
 * cross-CPU wake-ups on a small VM. */
#define DRIVE_SPIN_DEFAULT_US 50

int tapir_stack_set_caller_drive(tapir_stack *s, bool on, unsigned spin_us)
{
    struct runtime *rt = runtime_of(s);
    if (!rt)
        return -EINVAL;
    pthread_mutex_lock(&rt->lock);
    rt->caller_drive = on;
    rt->spin_us = spin_us > 1000000 ? 1000000 : spin_us;
    pthread_mutex_unlock(&rt->lock);
    return 0;
}

void runtime_drive_defaults(struct runtime *rt)
{
    rt->caller_drive = true;
    rt->spin_us = DRIVE_SPIN_DEFAULT_US;
    const char *v = getenv("TAPIR_CALLER_DRIVE");
    if (v && *v)
        rt->caller_drive = strcmp(v, "0") != 0;
    v = getenv("TAPIR_SPIN_US");
    if (v && *v) {
        unsigned long us = strtoul(v, NULL, 10);
        rt->spin_us = us > 1000000 ? 1000000 : (unsigned)us;
    }
}

void runtime_kick_if_earlier(tapir_stack *s)
{
    struct runtime *rt = runtime_of(s);
    if (rt && tapir_stack_next_deadline(s) < loop_wake_by(rt))
        runtime_kick(s);
}

/* One of the runtime's counters, read under its lock (tests). */
static unsigned long read_counter(struct runtime *rt, const unsigned long *counter)
{
    pthread_mutex_lock(&rt->lock);
    unsigned long n = *counter;
    pthread_mutex_unlock(&rt->lock);
    return n;
}

unsigned long runtime_drive_count(tapir_stack *s)
{
    struct runtime *rt = runtime_of(s);
    return rt ? read_counter(rt, &rt->drive_count) : 0;
}

unsigned long runtime_thread_wakes(tapir_stack *s)
{
    struct runtime *rt = runtime_of(s);
    return rt ? read_counter(rt, &rt->thread_wakes) : 0;
}

void runtime_first_frame_counts(tapir_stack *s, unsigned long *spun, unsigned long *woke)
{
    struct runtime *rt = runtime_of(s);
    *spun = *woke = 0;
    if (!rt)
        return;
    pthread_mutex_lock(&rt->lock);
    *spun = rt->spin_frames;
    *woke = rt->wake_frames;
    pthread_mutex_unlock(&rt->lock);
}

void runtime_cond_wait_begin(tapir_stack *s)
{
    struct runtime *rt = runtime_of(s);
    if (rt)
        rt->cond_waiters++;
}

void runtime_cond_wait_end(tapir_stack *s)
{
    struct runtime *rt = runtime_of(s);
    if (rt)
        rt->cond_waiters--;
}

void runtime_wake_driver(tapir_stack *s, const unsigned *watch)
{
    struct runtime *rt = runtime_of(s);
    if (!rt || !rt->driving || rt->drive_watch != watch ||
        pthread_equal(rt->driver, pthread_self()))
        return;
    const uint64_t one = 1;
    /* Non-blocking: EAGAIN means a wake-up is pending anyway. */
    ssize_t n = write(rt->drv_evfd, &one, sizeof one);
    (void)n;
}

/* What ended a sleep. */
enum { DRIVE_SLEPT, DRIVE_SPIN_CAUGHT = 1, DRIVE_CALLER_FD = 2, DRIVE_WOKE_FRAME = 4 };

/* Busy-poll every descriptor until end: true when one is ready (revents). */
static bool spin_poll(struct pollfd *fds, nfds_t nfds, tapir_time_t end)
{
    struct timespec zero = {0, 0};
    while (runtime_now() < end)
        if (ppoll(fds, nfds, &zero, NULL) > 0)
            return true;
    return false;
}

/* While spinning, the device is read directly, and its readiness not asked
 * first: a frame found is then in hand one system call earlier, and one
 * round trip is one frame caught this way. The other descriptors (drv_evfd,
 * the caller's) are looked at once every DRIVE_SPIN_POLL_EVERY reads, which
 * delays them by a few microseconds at most. */
#define DRIVE_SPIN_POLL_EVERY 8

enum spin_end { SPIN_NOTHING, SPIN_DEVICE, SPIN_OTHER_FD };

/* Busy-read the device until end. SPIN_DEVICE: a frame (its length in
 * *frame), or an error the locked path reads again and reports (a failed
 * read takes no frame); SPIN_OTHER_FD: fds[1..nfds) has revents. */
static enum spin_end spin_read(struct runtime *rt, struct pollfd *fds, nfds_t nfds,
                               tapir_time_t end, long *frame, struct tapir_frame_meta *meta)
{
    struct timespec zero = {0, 0};
    for (unsigned k = 1; runtime_now() < end; k++) {
        long n = loop_recv_frame(rt, meta);
        if (n != -EAGAIN && n != -EINTR) {
            if (n > 0)
                *frame = n;
            return SPIN_DEVICE;
        }
        if (k % DRIVE_SPIN_POLL_EVERY == 0 && ppoll(fds + 1, nfds - 1, &zero, NULL) > 0)
            return SPIN_OTHER_FD;
    }
    return SPIN_NOTHING;
}

/* Sleep (lock NOT held) until the device is readable, drv_evfd is written,
 * one of the caller's fds[2..nfds) is ready, or `until` (monotonic us),
 * after busy-polling for at most spin us. The first frame, read while
 * spinning or on waking up, is left in rxbuf (the driver owns it, loop.h),
 * its length in *frame and what the device said of it in *meta; *frame
 * stays 0 when there is none. */
static int drive_sleep(struct runtime *rt, tapir_time_t until, unsigned spin,
                       struct pollfd *fds, nfds_t nfds, long *frame,
                       struct tapir_frame_meta *meta)
{
    fds[0] = (struct pollfd){ .fd = rt->dev->fd, .events = POLLIN };
    fds[1] = (struct pollfd){ .fd = rt->drv_evfd, .events = POLLIN };
    for (nfds_t i = 0; i < nfds; i++)
        fds[i].revents = 0;
    /* Reading here, without the lock, may meet a send by another thread
     * (the stack thread's timers, another caller's write): only a device
     * that allows that is read before the lock is taken again. */
    bool read_now = rt->dev->concurrent_send;
    int how = DRIVE_SLEPT;
    if (spin) {
        tapir_time_t end = runtime_now() + spin;
        if (end > until)
            end = until;
        if (!read_now && spin_poll(fds, nfds, end))
            goto spin_caught;
        if (read_now) {
            switch (spin_read(rt, fds, nfds, end, frame, meta)) {
            case SPIN_DEVICE:
                return DRIVE_SPIN_CAUGHT;
            case SPIN_OTHER_FD:
                goto spin_caught;
            case SPIN_NOTHING:
                break;
            }
        }
    }
    tapir_time_t now = runtime_now();
    if (until <= now)
        return how;
    struct timespec ts, *tsp = NULL;
    if (until != TAPIR_TIME_NEVER) {
        ts = runtime_timespec(until - now);
        tsp = &ts;
    }
    if (ppoll(fds, nfds, tsp, NULL) <= 0)
        return how;
    if (read_now && (fds[0].revents & POLLIN)) {
        long n = loop_recv_frame(rt, meta);
        if (n > 0)
            *frame = n;
        how |= DRIVE_WOKE_FRAME;
    }
    goto woken;
spin_caught:
    how = DRIVE_SPIN_CAUGHT;
woken:
    if (fds[1].revents & POLLIN) {
        uint64_t count;
        ssize_t n = read(rt->drv_evfd, &count, sizeof count);
        (void)n;        /* EAGAIN: someone else reset it; nothing lost */
    }
    for (nfds_t i = 2; i < nfds; i++)
        if (fds[i].revents)
            how |= DRIVE_CALLER_FD;
    return how;
}

bool runtime_driver_is_self(tapir_stack *s, const unsigned *watch)
{
    struct runtime *rt = runtime_of(s);
    return rt && rt->driving && rt->drive_watch == watch &&
           pthread_equal(rt->driver, pthread_self());
}

int runtime_drive_wait(tapir_stack *s, const unsigned *watch, unsigned seen, uint64_t deadline)
{
    struct pollfd fds[2];
    return runtime_drive_wait_fds(s, watch, seen, deadline, fds, 2);
}

int runtime_drive_wait_fds(tapir_stack *s, const unsigned *watch, unsigned seen,
                           uint64_t deadline, struct pollfd *fds, unsigned long nfds)
{
    struct runtime *rt = runtime_of(s);
    if (!rt || !rt->caller_drive || rt->driving || rt->dev_failed || rt->dev->fd < 0 ||
        rt->drv_evfd < 0 || atomic_load(&rt->stopping) || nfds < 2)
        return -EBUSY;
    rt->driving = true;
    rt->drive_count++;
    rt->driver = pthread_self();
    rt->drive_watch = watch;
    int rc = 0;
    long caught = 0;                /* the first frame after a wait, in rxbuf */
    struct tapir_frame_meta meta;
    for (;;) {
        if (caught > 0) {
            /* Latency first: the frame that ended the wait is answered
             * before the device is drained (one read fewer before the
             * answer). If it gave our caller something to do, the rest
             * waits until the next wait; if not, the device is drained now
             * as usual. */
            loop_input_one(rt, (size_t)caught, &meta);
            caught = 0;
            if (*watch == seen)
                loop_read_batch(rt);
        } else {
            loop_read_batch(rt);
        }
        tapir_time_t now = runtime_now();
        if (tapir_stack_next_deadline(s) <= now)
            tapir_stack_poll(s, now);
        if (*watch != seen || atomic_load(&rt->stopping) || rt->dev_failed)
            break;
        if (deadline != DRIVE_FOREVER && now >= deadline) {
            rc = -EAGAIN;
            break;
        }
        tapir_time_t until = tapir_stack_next_deadline(s);
        if (deadline < until)
            until = deadline;
        unsigned spin = spin_policy_budget(&rt->spin, rt->spin_us);
        pthread_mutex_unlock(&rt->lock);
        int how = drive_sleep(rt, until, spin, fds, (nfds_t)nfds, &caught, &meta);
        pthread_mutex_lock(&rt->lock);
        spin_policy_result(&rt->spin, spin, how & DRIVE_SPIN_CAUGHT);
        if (caught > 0 && (how & DRIVE_WOKE_FRAME))
            rt->wake_frames++;
        else if (caught > 0)
            rt->spin_frames++;
        /* As sock_lock: API calls stamp with the core's clock. */
        tcp_clock(s, runtime_now());
        if (how & DRIVE_CALLER_FD) {
            /* Take what came with it, in order, then report. */
            if (caught > 0)
                loop_input_one(rt, (size_t)caught, &meta);
            caught = 0;
            loop_read_batch(rt);
            break;
        }
    }
    rt->driving = false;
    rt->drive_watch = NULL;
    rt->drive_left = runtime_now();
    /* Others sleep on condition variables and nobody drives now: the stack
     * thread must serve the device for them at once, not at its next check. */
    if (rt->cond_waiters > 0)
        loop_park_device(rt, false);
    loop_driver_left(rt, rt->drive_left);
    runtime_kick_if_earlier(s);
    return rc;
}
