/* The runtime's lifecycle (tapir_stack_start/stop), its lock and wake-up,
 * and the process-wide registry of running stacks (the socket layer's
 * "default stack" is the first one started, unless set otherwise).
 *
 * Globals are allowed here and only here (src/sock); each is guarded by
 * registry_lock.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/ether.h"
#include "core/stack.h"
#include "sock/loop.h"

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct runtime *registry_head;           /* running stacks, start order */
static tapir_stack *default_stack;              /* NULL: the first running one */
static struct runtime_hooks registry_hooks;     /* socket layer, may be empty */

/* ---- registry ------------------------------------------------------------ */

static void registry_add(struct runtime *rt)
{
    pthread_mutex_lock(&registry_lock);
    struct runtime **p = &registry_head;
    while (*p)
        p = &(*p)->next;
    *p = rt;
    rt->next = NULL;
    pthread_mutex_unlock(&registry_lock);
}

static void registry_remove(struct runtime *rt)
{
    pthread_mutex_lock(&registry_lock);
    for (struct runtime **p = &registry_head; *p; p = &(*p)->next) {
        if (*p == rt) {
            *p = rt->next;
            break;
        }
    }
    if (default_stack == rt->stack)
        default_stack = NULL;
    pthread_mutex_unlock(&registry_lock);
}

tapir_stack *runtime_default_stack(void)
{
    pthread_mutex_lock(&registry_lock);
    tapir_stack *s = default_stack ? default_stack : registry_head ? registry_head->stack : NULL;
    pthread_mutex_unlock(&registry_lock);
    return s;
}

void tapir_set_default_stack(tapir_stack *s)
{
    pthread_mutex_lock(&registry_lock);
    default_stack = s;
    pthread_mutex_unlock(&registry_lock);
}

void runtime_set_hooks(const struct runtime_hooks *hooks)
{
    pthread_mutex_lock(&registry_lock);
    if (hooks)
        registry_hooks = *hooks;
    else
        memset(&registry_hooks, 0, sizeof registry_hooks);
    pthread_mutex_unlock(&registry_lock);
}

static struct runtime_hooks current_hooks(void)
{
    pthread_mutex_lock(&registry_lock);
    struct runtime_hooks h = registry_hooks;
    pthread_mutex_unlock(&registry_lock);
    return h;
}

void runtime_call_attach(tapir_stack *s)
{
    struct runtime_hooks h = current_hooks();
    if (h.attach)
        h.attach(s);
}

void runtime_call_detach(tapir_stack *s)
{
    struct runtime_hooks h = current_hooks();
    if (h.detach)
        h.detach(s);
}

/* ---- the contract of runtime.h ------------------------------------------ */

struct runtime *runtime_of(tapir_stack *s)
{
    return s ? s->runtime : NULL;
}

void runtime_lock(tapir_stack *s)
{
    struct runtime *rt = runtime_of(s);
    if (rt) {
        pthread_mutex_lock(&rt->lock);
        writer_burst_begin(rt->writer);
    }
}

void runtime_unlock(tapir_stack *s)
{
    struct runtime *rt = runtime_of(s);
    if (rt)
        pthread_mutex_unlock(&rt->lock);
}

void runtime_kick(tapir_stack *s)
{
    struct runtime *rt = runtime_of(s);
    if (!rt)
        return;
    uint64_t one = 1;
    /* EAGAIN means the counter is saturated: a wake-up is pending anyway. */
    ssize_t n = write(rt->evfd, &one, sizeof one);
    (void)n;
}

tapir_time_t runtime_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (tapir_time_t)ts.tv_sec * 1000000u + (tapir_time_t)ts.tv_nsec / 1000u;
}

bool runtime_stopping(tapir_stack *s)
{
    struct runtime *rt = runtime_of(s);
    return rt ? atomic_load(&rt->stopping) : false;
}

void tapir_stack_snapshot_stats(tapir_stack *s, struct tapir_stats *out)
{
    runtime_lock(s);
    tapir_stack_get_stats(s, out);
    runtime_unlock(s);
}

/* ---- start / stop ------------------------------------------------------- */

/* The core's output callback: every frame it emits goes to the device. */
static int output_to_device(void *ctx, const uint8_t *frame, size_t len)
{
    struct runtime *rt = ctx;
    if (rt->writer)
        return writer_output(rt->writer, frame, len);
    return tapir_dev_send(rt->dev, frame, len);
}

/* The same with metadata, for a device with offloads (TSO, partial checksums). */
static int output_to_device_meta(void *ctx, const uint8_t *frame, size_t len,
                                 const struct tapir_frame_meta *meta)
{
    struct runtime *rt = ctx;
    return rt->dev->meta_ops->send_meta(rt->dev, frame, len, meta);
}

/* Which writer the device gets: the config, overridden by the environment
 * (TAPIR_TX_THREAD=off|auto|on, for tuning without a rebuild). AUTO keeps
 * a device with offloads, or one that cannot take a write from another
 * thread while it is read, without a writer; ON on such a device is an
 * error. */
static int tx_thread_mode(const struct tapir_config *c, const struct tapir_dev *dev,
                          enum tapir_tx_thread *out)
{
    enum tapir_tx_thread m = c->tx_thread;
    const char *env = getenv("TAPIR_TX_THREAD");
    if (env && strcmp(env, "off") == 0)
        m = TAPIR_TX_THREAD_OFF;
    else if (env && strcmp(env, "auto") == 0)
        m = TAPIR_TX_THREAD_AUTO;
    else if (env && strcmp(env, "on") == 0)
        m = TAPIR_TX_THREAD_ON;
    if (m != TAPIR_TX_THREAD_OFF && m != TAPIR_TX_THREAD_AUTO && m != TAPIR_TX_THREAD_ON)
        return -EINVAL;
    bool fits = dev->concurrent_send && !dev->offloads;
    if (m == TAPIR_TX_THREAD_ON && !fits)
        return -EOPNOTSUPP;
    /* The writer starts with its creator's CPU mask: confined to one CPU,
     * it would only add hand-offs to the stack's own CPU. */
    cpu_set_t cpus;
    if (m == TAPIR_TX_THREAD_AUTO && sched_getaffinity(0, sizeof cpus, &cpus) == 0 &&
        CPU_COUNT(&cpus) < 2)
        fits = false;
    *out = fits ? m : TAPIR_TX_THREAD_OFF;
    return 0;
}

int tapir_stack_tx_thread_stats(tapir_stack *s, struct tapir_tx_thread_stats *out)
{
    struct runtime *rt = runtime_of(s);
    if (!rt || !out)
        return -EINVAL;
    writer_stats(rt->writer, out);
    return 0;
}

static void runtime_free(struct runtime *rt)
{
    if (rt->epfd >= 0)
        close(rt->epfd);
    if (rt->evfd >= 0)
        close(rt->evfd);
    if (rt->drv_evfd >= 0)
        close(rt->drv_evfd);
    if (rt->check_tfd >= 0)
        close(rt->check_tfd);
    free(rt->rxbuf);
    pthread_mutex_destroy(&rt->lock);
    free(rt);
}

/* The stack thread must never take a process signal meant for main (SIGINT
 * handled with sigwait, ...): start it with every signal blocked. */
static int start_thread(struct runtime *rt)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&rt->thread, NULL, loop_thread_main, rt);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return -rc;
}

int tapir_stack_start(const struct tapir_config *cfg, struct tapir_dev *dev, tapir_stack **out)
{
    if (out)
        *out = NULL;
    if (!cfg || !dev || !out)
        return -EINVAL;

    /* What the device knows wins over the defaults. */
    struct tapir_config c = *cfg;
    static const uint8_t zero_mac[6];
    c.link = dev->link;
    if (dev->mtu)
        c.mtu = dev->mtu;
    if (dev->has_mac && memcmp(c.mac, zero_mac, 6) == 0)
        memcpy(c.mac, dev->mac, 6);
    /* A device MTU above what the default buffers hold: grow the buffers. */
    uint32_t need = c.mtu + ETHER_HDR_LEN + BUF_HEADROOM;
    if (c.buf_size < need)
        c.buf_size = need;

    struct runtime *rt = calloc(1, sizeof *rt);
    if (!rt)
        return -ENOMEM;
    rt->epfd = rt->evfd = rt->drv_evfd = rt->check_tfd = -1;
    runtime_drive_defaults(rt);     /* drive.c */
    rt->dev = dev;
    atomic_init(&rt->stopping, false);
    pthread_mutex_init(&rt->lock, NULL);
    /* One frame: the MTU plus a link header and a VLAN tag, and never less
     * than 64 KiB so that an oversized frame is read whole and dropped by
     * the core instead of being truncated into something valid-looking. */
    rt->rxcap = c.mtu + ETHER_HDR_LEN + 4;
    if (rt->rxcap < 65536)
        rt->rxcap = 65536;
    /* An offloading device hands over GSO frames of up to 64 KiB + headers. */
    if (dev->max_frame && rt->rxcap < dev->max_frame + 4)
        rt->rxcap = dev->max_frame + 4;
    rt->rxbuf = malloc(rt->rxcap);

    enum tapir_tx_thread tx_mode = TAPIR_TX_THREAD_OFF;
    int err = rt->rxbuf ? 0 : -ENOMEM;
    if (err == 0)
        err = tx_thread_mode(&c, dev, &tx_mode);
    if (err == 0)
        err = tapir_stack_create(&c, &rt->stack);
    /* One slot: the MTU plus a link header and a VLAN tag. */
    if (err == 0)
        err = writer_start(dev, c.mtu + ETHER_HDR_LEN + 4, tx_mode, &rt->writer);
    if (err == 0) {
        rt->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        rt->epfd = epoll_create1(EPOLL_CLOEXEC);
        rt->drv_evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        rt->check_tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (rt->evfd < 0 || rt->epfd < 0 || rt->drv_evfd < 0 || rt->check_tfd < 0)
            err = -errno;
    }
    if (err == 0) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = LOOP_EV_KICK};
        if (epoll_ctl(rt->epfd, EPOLL_CTL_ADD, rt->evfd, &ev) < 0)
            err = -errno;
    }
    if (err == 0) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = LOOP_EV_CHECK};
        if (epoll_ctl(rt->epfd, EPOLL_CTL_ADD, rt->check_tfd, &ev) < 0)
            err = -errno;
    }
    if (err == 0 && dev->fd >= 0) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = LOOP_EV_DEVICE};
        if (epoll_ctl(rt->epfd, EPOLL_CTL_ADD, dev->fd, &ev) < 0)
            err = -errno;
    }
    if (err == 0) {
        if (dev->offloads && dev->meta_ops)
            err = tapir_stack_set_output_meta(rt->stack, output_to_device_meta, rt, dev->offloads);
        else
            tapir_stack_set_output(rt->stack, output_to_device, rt);
    }
    if (err == 0) {
        rt->stack->runtime = rt;
        registry_add(rt);
        err = start_thread(rt);
        if (err < 0)
            registry_remove(rt);
    }
    if (err < 0) {
        /* The device stays the caller's on failure. */
        tapir_stack_destroy(rt->stack);
        writer_stop(rt->writer);
        runtime_free(rt);
        return err;
    }
    *out = rt->stack;
    return 0;
}

void tapir_stack_stop(tapir_stack *s)
{
    struct runtime *rt = runtime_of(s);
    if (!rt) {
        /* Not started by tapir_stack_start: nothing drives it, just free. */
        tapir_stack_destroy(s);
        return;
    }
    atomic_store(&rt->stopping, true);
    runtime_kick(s);
    pthread_join(rt->thread, NULL);     /* the thread ran the detach hook */
    registry_remove(rt);
    s->runtime = NULL;
    tapir_stack_destroy(s);
    writer_stop(rt->writer);     /* writes out what is queued */
    tapir_dev_destroy(rt->dev);
    runtime_free(rt);
}
