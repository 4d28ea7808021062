/* The stack thread: drives one stack's sans-IO core from a device.
 *
 * One thread per stack. It sleeps in epoll_wait on two descriptors, the
 * device's (readable when a frame waits) and an eventfd (runtime_kick), with
 * a timeout until the core's next deadline. Awake, it takes the stack's mutex,
 * reads frames until the device has none (in bounded batches, so timers still
 * run under a flood), runs the core's timers if one is due, reads the next
 * deadline, and lets go of the mutex before sleeping again.
 *
 * Timer precision: epoll_wait's timeout is in milliseconds, rounded UP, so a
 * timer fires at most ~1 ms late and never early (the core's timers are
 * >= 1 ms: delayed ACK 200 ms, RTO >= 200 ms). No timerfd is needed.
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
#include <unistd.h>

#include "core/stack.h"

/* Frames read per batch before timers get a turn. */
#define LOOP_RX_BATCH 256
/* How often the thread looks whether it must take the device back from
 * application threads, and how long nobody must have driven it before it
 * does (a frame nobody waits for waits at most about twice this long).
 * Each look wakes the thread and takes the runtime lock: pinned to the
 * caller's CPU (the same-CPU RTT figure) a look every 1 ms lands in more
 * than 1% of 70k round trips/s and sets their 99th percentile (about 40
 * us against the kernel's 23; 4 ms gave 24-33). 4 ms was tried and not
 * kept: a tapir sender relies on the stack thread taking the device back
 * to read ACKs on the other CPU while the application writes, and bulk
 * out with 4 ms was inconclusive (two sets of alternated runs disagreed,
 * and the full run with it had the median under 500 MB/s). */
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

    struct epoll_event events[2];
    int n = epoll_wait(rt->epfd, events, 2, timeout_ms);
    for (int i = 0; i < n; i++) {
        if (events[i].data.u32 == LOOP_EV_KICK) {
            uint64_t count;
            /* Reset the eventfd; a failed read only means another wake-up. */
            if (read(rt->evfd, &count, sizeof count) < 0 && errno != EAGAIN)
                continue;
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
         * contend for the lock. It looks again every LOOP_PARK_CHECK_US and
         * takes the device back once nobody has driven it for that long. */
        tapir_time_t now = runtime_now();
        if (rt->driving) {
            loop_park_device(rt, true);
        } else if (rt->dev_parked && now - rt->drive_left < LOOP_PARK_CHECK_US) {
            /* A caller drove a moment ago and is likely to come back (a
             * server between two polls): leave the device to it a while
             * longer rather than wake with each frame and fight it. */
        } else {
            loop_park_device(rt, false);
            loop_read_batch(rt);
        }
        now = runtime_now();
        if (tapir_stack_next_deadline(rt->stack) <= now)
            tapir_stack_poll(rt->stack, now);
        tapir_time_t deadline = tapir_stack_next_deadline(rt->stack);
        if (rt->dev_parked && deadline > now + LOOP_PARK_CHECK_US)
            deadline = now + LOOP_PARK_CHECK_US;
        rt->thread_deadline = deadline;
        pthread_mutex_unlock(&rt->lock);
        wait_until(rt, deadline);
        pthread_mutex_lock(&rt->lock);
    }
    /* Wake every waiter of the socket layer before the core goes away. */
    runtime_call_detach(rt->stack);
    pthread_mutex_unlock(&rt->lock);
    return NULL;
}
