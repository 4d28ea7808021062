/* vlink: an in-memory link pair with seeded impairments (tapir/vlink.h).
 *
 * The link holds two directions. A direction is a list of frames in flight
 * sorted by delivery time (ties keep send order: new frames are inserted
 * after every frame due at the same time or earlier). Insertion searches
 * from the tail, where a new frame almost always belongs, so it is O(1) in
 * the common case.
 *
 * Frames are all of one size (the link's largest) and come from a list of
 * spares the receiving side gives back to, so a steady transfer allocates
 * nothing per frame: the pure-core benchmark (bench/bench_core.c) runs two
 * stacks over this link and would otherwise count glibc's malloc and free
 * of every frame as the stack's work. The spares are bounded (VLINK_SPARE_BYTES)
 * and, in the sanitizer build, poisoned while they wait. */
#include "tapir/vlink.h"

#include "core/spare_poison.h"

#include <errno.h>
#include <stddef.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

struct vframe {
    struct vframe *prev, *next;
    tapir_time_t due;
    uint32_t len;
    uint8_t data[];
};

struct vdir {
    struct vframe *head, *tail;
    uint32_t count;
    struct tapir_vlink_stats stats;
};

struct vlink;

struct vend {
    struct tapir_dev dev;       /* first: a struct tapir_dev * is a struct vend * */
    struct vlink *link;
    int side;                   /* 0 = a, 1 = b */
};

struct vlink {
    struct tapir_vlink_params p;
    struct vend ends[2];
    struct vdir dir[2];         /* dir[i]: frames sent by end i, toward end 1-i */
    int alive;                  /* ends not yet destroyed */
    tapir_time_t now;           /* virtual mode */
    uint64_t rng;
    pthread_mutex_t mu;         /* realtime mode only */
    size_t frame_cap;           /* bytes of data in every vframe */
    struct vframe *spares;      /* given back by recv, linked by next */
    uint32_t nspares, max_spares;
};

/* At most this much memory is kept in spare frames per link. */
#define VLINK_SPARE_BYTES (1u << 20)

static const struct tapir_dev_ops vlink_ops;

static struct vend *end_of(struct tapir_dev *d) { return (struct vend *)d; }

static void lock(struct vlink *l)
{
    if (l->p.realtime)
        pthread_mutex_lock(&l->mu);
}

static void unlock(struct vlink *l)
{
    if (l->p.realtime)
        pthread_mutex_unlock(&l->mu);
}

static tapir_time_t monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (tapir_time_t)ts.tv_sec * 1000000u + (tapir_time_t)ts.tv_nsec / 1000u;
}

static tapir_time_t link_now(struct vlink *l)
{
    return l->p.realtime ? monotonic_us() : l->now;
}

/* splitmix64: small, good enough, and replayable from one seed. */
static uint64_t rng_next(struct vlink *l)
{
    uint64_t z = (l->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* True with probability prob. */
static bool chance(struct vlink *l, double prob)
{
    if (prob <= 0)
        return false;
    return (double)(rng_next(l) >> 11) * (1.0 / 9007199254740992.0) < prob;
}

static tapir_time_t jitter(struct vlink *l)
{
    return l->p.jitter ? rng_next(l) % (l->p.jitter + 1) : 0;
}

void tapir_vlink_params_init(struct tapir_vlink_params *p)
{
    memset(p, 0, sizeof *p);
    p->reorder_delay = TAPIR_MSEC(1);
    p->mtu = 1500;
    p->link = TAPIR_LINK_ETHERNET;
    p->queue_limit = 4096;
}

/* Realtime mode: make end's timerfd readable exactly while a frame is due
 * (armed for the earliest delivery; disarmed when nothing waits). Re-arming
 * also clears a pending expiration, which is how recv() "drains" it. */
static void rearm(struct vlink *l, int side)
{
    if (!l->p.realtime)
        return;
    struct vdir *d = &l->dir[1 - side];
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    if (d->head) {
        tapir_time_t due = d->head->due ? d->head->due : 1;
        its.it_value.tv_sec = (time_t)(due / 1000000u);
        its.it_value.tv_nsec = (long)(due % 1000000u) * 1000;
    }
    timerfd_settime(l->ends[side].dev.fd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void insert(struct vdir *d, struct vframe *f)
{
    struct vframe *after = d->tail;
    while (after && after->due > f->due)
        after = after->prev;
    f->prev = after;
    f->next = after ? after->next : d->head;
    if (f->next)
        f->next->prev = f;
    else
        d->tail = f;
    if (after)
        after->next = f;
    else
        d->head = f;
    d->count++;
}

static struct vframe *pop(struct vdir *d)
{
    struct vframe *f = d->head;
    d->head = f->next;
    if (d->head)
        d->head->prev = NULL;
    else
        d->tail = NULL;
    d->count--;
    return f;
}

/* A frame to fill: a spare if there is one (link lock held). */
static struct vframe *frame_take(struct vlink *l)
{
    struct vframe *f = l->spares;
    if (!f)
        return malloc(sizeof *f + l->frame_cap);
    spare_unpoison(f, sizeof *f + l->frame_cap);
    l->spares = f->next;
    l->nspares--;
    return f;
}

/* A delivered frame: kept as a spare, or freed past the bound (lock held). */
static void frame_give_back(struct vlink *l, struct vframe *f)
{
    if (l->nspares >= l->max_spares) {
        free(f);
        return;
    }
    f->next = l->spares;
    l->spares = f;
    l->nspares++;
    spare_poison(f, sizeof *f + l->frame_cap, offsetof(struct vframe, next));
}

/* Queue one copy of frame toward the peer; false if the queue was full. */
static bool enqueue_copy(struct vlink *l, struct vdir *d, const uint8_t *frame, size_t len,
                         tapir_time_t due, bool corrupt)
{
    if (d->count >= l->p.queue_limit) {
        d->stats.overflow++;
        return false;
    }
    struct vframe *f = frame_take(l);
    if (!f) {
        d->stats.overflow++;
        return false;
    }
    memcpy(f->data, frame, len);
    f->len = (uint32_t)len;
    f->due = due;
    if (corrupt) {
        size_t skip = l->p.link == TAPIR_LINK_ETHERNET && len > 14 ? 14 : 0;
        size_t at = skip + (size_t)(rng_next(l) % (len - skip));
        f->data[at] ^= (uint8_t)(1u << (rng_next(l) % 8));
        d->stats.corrupted++;
    }
    insert(d, f);
    return true;
}

static int vlink_send(struct tapir_dev *dev, const uint8_t *frame, size_t len)
{
    struct vend *e = end_of(dev);
    struct vlink *l = e->link;
    if (len == 0 || len > l->frame_cap)
        return -EMSGSIZE;
    lock(l);
    struct vdir *d = &l->dir[e->side];
    d->stats.sent++;
    if (chance(l, l->p.loss)) {
        d->stats.lost++;
        unlock(l);
        return 0;
    }
    tapir_time_t now = link_now(l);
    bool corrupt = chance(l, l->p.corrupt);
    tapir_time_t due = now + l->p.delay + jitter(l);
    if (chance(l, l->p.reorder)) {
        due += l->p.reorder_delay;
        d->stats.reordered++;
    }
    enqueue_copy(l, d, frame, len, due, corrupt);
    if (chance(l, l->p.duplicate) &&
        enqueue_copy(l, d, frame, len, now + l->p.delay + jitter(l), false))
        d->stats.duplicated++;
    rearm(l, 1 - e->side);
    unlock(l);
    return 0;
}

static long vlink_recv(struct tapir_dev *dev, uint8_t *buf, size_t cap)
{
    struct vend *e = end_of(dev);
    struct vlink *l = e->link;
    lock(l);
    struct vdir *d = &l->dir[1 - e->side];
    if (!d->head || d->head->due > link_now(l)) {
        rearm(l, e->side);
        unlock(l);
        return -EAGAIN;
    }
    struct vframe *f = pop(d);
    d->stats.delivered++;
    rearm(l, e->side);
    /* Like read() on a TAP fd, a frame longer than the buffer is truncated. */
    size_t n = f->len < cap ? f->len : cap;
    memcpy(buf, f->data, n);
    frame_give_back(l, f);
    unlock(l);
    return (long)n;
}

static void free_dir(struct vdir *d)
{
    while (d->head)
        free(pop(d));
}

static void vlink_destroy(struct tapir_dev *dev)
{
    struct vend *e = end_of(dev);
    struct vlink *l = e->link;
    lock(l);
    if (e->dev.fd >= 0) {
        close(e->dev.fd);
        e->dev.fd = -1;
    }
    int alive = --l->alive;
    unlock(l);
    if (alive > 0)
        return;
    free_dir(&l->dir[0]);
    free_dir(&l->dir[1]);
    while (l->spares) {
        struct vframe *f = l->spares;
        spare_unpoison(f, sizeof *f + l->frame_cap);
        l->spares = f->next;
        free(f);
    }
    if (l->p.realtime)
        pthread_mutex_destroy(&l->mu);
    free(l);
}

static const struct tapir_dev_ops vlink_ops = {
    .send = vlink_send,
    .recv = vlink_recv,
    .destroy = vlink_destroy,
};

int tapir_vlink_create(const struct tapir_vlink_params *p, struct tapir_dev **a, struct tapir_dev **b)
{
    *a = *b = NULL;
    if (!p || p->mtu < 68 || p->mtu > 65535 || p->loss < 0 || p->loss > 1 || p->duplicate < 0 ||
        p->duplicate > 1 || p->reorder < 0 || p->reorder > 1 || p->corrupt < 0 || p->corrupt > 1)
        return -EINVAL;
    struct vlink *l = calloc(1, sizeof *l);
    if (!l)
        return -ENOMEM;
    l->p = *p;
    if (l->p.queue_limit == 0)
        l->p.queue_limit = 4096;
    if (l->p.seed == 0) {
        uint64_t seed = 0;
        if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed || seed == 0)
            seed = monotonic_us() ^ 0x5851f42d4c957f2dull;
        l->p.seed = seed;
    }
    l->rng = l->p.seed;
    l->alive = 2;
    l->frame_cap = p->mtu + (p->link == TAPIR_LINK_ETHERNET ? 14u : 0u);
    l->max_spares = (uint32_t)(VLINK_SPARE_BYTES / (sizeof(struct vframe) + l->frame_cap));
    for (int i = 0; i < 2; i++) {
        struct vend *e = &l->ends[i];
        e->link = l;
        e->side = i;
        e->dev.ops = &vlink_ops;
        e->dev.link = p->link;
        e->dev.mtu = p->mtu;
        e->dev.fd = -1;
        e->dev.has_mac = false;
        /* In realtime mode send and recv take the link's mutex. */
        e->dev.concurrent_send = p->realtime;
        snprintf(e->dev.name, sizeof e->dev.name, "vlink-%c", i ? 'b' : 'a');
    }
    if (l->p.realtime) {
        pthread_mutex_init(&l->mu, NULL);
        for (int i = 0; i < 2; i++) {
            l->ends[i].dev.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
            if (l->ends[i].dev.fd < 0) {
                int err = -errno;
                if (i == 1)
                    close(l->ends[0].dev.fd);
                pthread_mutex_destroy(&l->mu);
                free(l);
                return err;
            }
        }
    }
    *a = &l->ends[0].dev;
    *b = &l->ends[1].dev;
    return 0;
}

bool tapir_dev_is_vlink(const struct tapir_dev *dev)
{
    return dev && dev->ops == &vlink_ops;
}

void tapir_vlink_set_time(struct tapir_dev *end, tapir_time_t now)
{
    struct vlink *l = end_of(end)->link;
    lock(l);
    if (now > l->now)
        l->now = now;
    unlock(l);
}

tapir_time_t tapir_vlink_now(struct tapir_dev *end)
{
    struct vlink *l = end_of(end)->link;
    lock(l);
    tapir_time_t t = link_now(l);
    unlock(l);
    return t;
}

tapir_time_t tapir_vlink_next_delivery(struct tapir_dev *end)
{
    struct vend *e = end_of(end);
    struct vlink *l = e->link;
    lock(l);
    const struct vdir *d = &l->dir[1 - e->side];
    tapir_time_t t = d->head ? d->head->due : TAPIR_TIME_NEVER;
    unlock(l);
    return t;
}

uint32_t tapir_vlink_pending(struct tapir_dev *end)
{
    struct vend *e = end_of(end);
    struct vlink *l = e->link;
    lock(l);
    uint32_t n = l->dir[1 - e->side].count;
    unlock(l);
    return n;
}

void tapir_vlink_get_stats(struct tapir_dev *end, struct tapir_vlink_stats *out)
{
    struct vend *e = end_of(end);
    struct vlink *l = e->link;
    lock(l);
    *out = l->dir[e->side].stats;
    unlock(l);
}

void tapir_vlink_set_impairments(struct tapir_dev *end, const struct tapir_vlink_params *p)
{
    struct vlink *l = end_of(end)->link;
    lock(l);
    l->p.loss = p->loss;
    l->p.duplicate = p->duplicate;
    l->p.reorder = p->reorder;
    l->p.corrupt = p->corrupt;
    l->p.delay = p->delay;
    l->p.jitter = p->jitter;
    l->p.reorder_delay = p->reorder_delay;
    unlock(l);
}

uint64_t tapir_vlink_seed(struct tapir_dev *end)
{
    return end_of(end)->link->p.seed;
}
