/* The stack thread: drives one stack's sans-IO core from a device.
 *
 * One thread per stack. It sleeps in epoll_wait on three descriptors, the
 * device's (readable when a frame waits; ignored while an application
 * thread drives it), an eventfd (runtime_kick) and a timer that says when
 * to look at a device drivers have left (check_tfd), with a timeout until
 * the core's next deadline. Awake, it takes the stack's mutex,
 * reads frames until the device has none (in bounded batches, so timers still
 * run under a flood), runs the core's timers if one is due, reads the next
 * deadline, and lets go of the mutex before sleeping again.
 *
 * Timer precision: epoll_wait's timeout is in milliseconds, rounded UP, so a
 * timer fires at most ~1 ms late and never early (the core's timers are
 * >= 1 ms: delayed ACK 200 ms, RTO >= 200 ms). No timerfd is needed for
 * them.
 *
 * The lifecycle (tapir_stack_start/stop) and the process-wide registry of
 * running stacks live in runtime.c.
 */
#include "sock/loop.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "core/stack.h"

/* Frames read per batch before timers get a turn. */
#define LOOP_RX_BATCH 256
/* How long nobody must have driven the device before the stack thread
 * takes it back from application threads (a frame nobody waits for waits
 * about this long). A tapir sender relies on that to have its ACKs read on
 * the other CPU while the application writes.
 *
 * The thread learns when to look from a timer (check_tfd) that drivers
 * push forward as they leave, not from waking every interval: pinned to
 * the driver's CPU (the same-CPU RTT figure) a look every 1 ms landed in
 * more than 1% of 70k round trips/s and set their 99th percentile (about
 * 44 us against the kernel's 26; with no looks, 27-28). While drivers come
 * and go the timer never expires; a driver re-arms it only when it would
 * expire within half an interval, so that costs one timerfd_settime per
 * half interval, not one per round trip. */
#define LOOP_PARK_CHECK_US 1000

static void wait_until(struct runtime *rt, tapir_time_t deadline)
{
    int timeout_ms = -1;
    if (deadline != TAPIR_TIME_NEVER) {
        tapir_time_t now = runtime_now();
        if (deadline <= now) {
            timeout_ms = 0;
        } else {
            tapir_time_t ms = (deadline - now + 999) / 1000;
            timeout_ms = ms > INT32_MAX ? INT32_MAX : (int)ms;
        }
    }
    /* A device without a descriptor (an in-memory link) is polled each ms. */
    if (rt->dev->fd < 0 && (timeout_ms < 0 || timeout_ms > 1))
        timeout_ms = 1;

    struct epoll_event events[3];
    int n = epoll_wait(rt->epfd, events, 3, timeout_ms);
    for (int i = 0; i < n; i++) {
        /* Reset the eventfd or the timer; a failed read only means another
         * wake-up. */
        int fd = events[i].data.u32 == LOOP_EV_KICK ? rt->evfd
               : events[i].data.u32 == LOOP_EV_CHECK ? rt->check_tfd : -1;
        uint64_t count;
        if (fd >= 0) {
            ssize_t r = read(fd, &count, sizeof count);
            (void)r;
        }
    }
}

/* The device failed for good (not "no frame now"): stop watching it so the
 * loop does not spin on it; timers and API calls keep working. */
static void device_failed(struct runtime *rt, long err)
{
    if (rt->dev_failed)
        return;
    rt->dev_failed = true;
    if (rt->dev->fd >= 0)
        epoll_ctl(rt->epfd, EPOLL_CTL_DEL, rt->dev->fd, NULL);
    fprintf(stderr, "tapir: device %s failed: %s; no more frames will be received\n",
            rt->dev->name, strerror((int)-err));
}

long loop_recv_frame(struct runtime *rt, struct tapir_frame_meta *meta)
{
    /* A device with offloads says what it knows of each frame (GSO,
     * checksums); the core needs it to accept 64 KiB segments. */
    if (rt->dev->meta_ops)
        return rt->dev->meta_ops->recv_meta(rt->dev, rt->rxbuf, rt->rxcap, meta);
    return tapir_dev_recv(rt->dev, rt->rxbuf, rt->rxcap);
}

static void input_frame(struct runtime *rt, size_t len, const struct tapir_frame_meta *meta)
{
    tapir_stack_input_meta(rt->stack, rt->rxbuf, len, runtime_now(),
                           rt->dev->meta_ops ? meta : NULL);
}

/* Feed waiting frames to the core; with the lock held. */
void loop_read_frames(struct runtime *rt)
{
    if (rt->dev_failed)
        return;
    for (int i = 0; i < LOOP_RX_BATCH; i++) {
        struct tapir_frame_meta meta;
        long n = loop_recv_frame(rt, &meta);
        if (n == -EAGAIN || n == -EINTR)
            return;
        if (n < 0) {
            device_failed(rt, n);
            return;
        }
        input_frame(rt, (size_t)n, &meta);
    }
}

void loop_input_one(struct runtime *rt, size_t len, const struct tapir_frame_meta *meta)
{
    writer_burst_begin(rt->writer);
    tapir_stack_batch_begin(rt->stack);
    input_frame(rt, len, meta);
    tapir_stack_batch_end(rt->stack);
}

void loop_read_batch(struct runtime *rt)
{
    /* Read the device until it is empty, then send the ACKs owed once. */
    writer_burst_begin(rt->writer);
    tapir_stack_batch_begin(rt->stack);
    loop_read_frames(rt);
    tapir_stack_batch_end(rt->stack);
}

/* The thread is to look at the parked device at `at` (lock held). */
static void arm_check(struct runtime *rt, tapir_time_t at)
{
    struct itimerspec its = {.it_value = runtime_timespec(at)};
    if (timerfd_settime(rt->check_tfd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
        rt->check_at = at;
}

tapir_time_t loop_wake_by(const struct runtime *rt)
{
    /* A parked device's check still to come wakes the thread too, and it
     * then sleeps until the core's next deadline as it stands: a timer due
     * after that check needs no kick. Without this every round trip's new
     * RTO or delayed ACK would kick a thread that sleeps until a later one
     * (a system call and a wake-up per round trip). A check that has
     * expired is set back to 0 by the thread as it wakes for it; until
     * then the thread is waking anyway. */
    tapir_time_t by = rt->thread_deadline;
    if (rt->dev_parked && rt->check_at != 0 && rt->check_at < by)
        by = rt->check_at;
    return by;
}

void loop_driver_left(struct runtime *rt, tapir_time_t left)
{
    if (rt->dev_parked && rt->check_at < left + LOOP_PARK_CHECK_US / 2)
        arm_check(rt, left + LOOP_PARK_CHECK_US);
}

void loop_park_device(struct runtime *rt, bool park)
{
    if (rt->dev_parked == park || rt->dev_failed || rt->dev->fd < 0)
        return;
    /* Level-triggered: re-watching a readable device wakes the thread at once. */
    struct epoll_event ev = {.events = park ? 0 : EPOLLIN, .data.u32 = LOOP_EV_DEVICE};
    if (epoll_ctl(rt->epfd, EPOLL_CTL_MOD, rt->dev->fd, &ev) == 0)
        rt->dev_parked = park;
}

void *loop_thread_main(void *arg)
{
    struct runtime *rt = arg;
    pthread_mutex_lock(&rt->lock);
    runtime_call_attach(rt->stack);
    tapir_stack_link_up(rt->stack, runtime_now());
    for (;;) {
        if (atomic_load(&rt->stopping))
            break;
        /* While an application thread drives the device (drive.c) this
         * thread leaves it alone: it would only wake up with every frame and
         * contend for the lock. It takes the device back once nobody has
         * driven it for LOOP_PARK_CHECK_US (check_tfd wakes it then). */
        tapir_time_t now = runtime_now();
        if (rt->check_at != 0 && rt->check_at <= now)
            rt->check_at = 0;           /* expired: no longer to come */
        if (rt->driving) {
            loop_park_device(rt, true);
        } else if (rt->dev_parked && now - rt->drive_left < LOOP_PARK_CHECK_US) {
            /* A caller drove a moment ago and is likely to come back (a
             * server between two polls): leave the device to it a while
             * longer rather than wake with each frame and fight it, and
             * look again when that while is over. */
            if (rt->check_at < rt->drive_left + LOOP_PARK_CHECK_US)
                arm_check(rt, rt->drive_left + LOOP_PARK_CHECK_US);
        } else {
            loop_park_device(rt, false);
            loop_read_batch(rt);
        }
        now = runtime_now();
        if (tapir_stack_next_deadline(rt->stack) <= now)
            tapir_stack_poll(rt->stack, now);
        tapir_time_t deadline = tapir_stack_next_deadline(rt->stack);
        rt->thread_deadline = deadline;
        pthread_mutex_unlock(&rt->lock);
        wait_until(rt, deadline);
        pthread_mutex_lock(&rt->lock);
        rt->thread_wakes++;
    }
    /* Wake every waiter of the socket layer before the core goes away. */
    runtime_call_detach(rt->stack);
    pthread_mutex_unlock(&rt->lock);
    return NULL;
}
