/* tapir_epoll: epoll(7) over tapir sockets and kernel descriptors.
 *
 * Why: tapir_poll looks at every descriptor of its set on every call, and
 * hangs and unhangs a waiter on each when it sleeps, so a server polling
 * many descriptors pays for all of them on every wake-up. An instance here
 * keeps its interest list between calls and a ready list that the stack's
 * notifications fill: a wait costs the registrations that became ready.
 *
 * An instance has
 * - items: one per registered tapir socket, in a hash table by descriptor.
 *   An item holds a reference to its tsock (not a user of its stack, so a
 *   stopping stack is not held up) and hangs on the socket's waiter list
 *   (poll_waiter.epi), so sock_wake puts it on the ready list when the
 *   socket has what the item asks for (sock_epoll_notify).
 * - kep: a kernel epoll instance with the registered kernel descriptors,
 *   under the caller's own events and data; a wait collects from it.
 * - efd: an eventfd that wakes a wait sleeping in poll(2).
 *
 * Closing a registered socket does not touch the instance (tapir_close
 * would have to take the instance's locks from under the stack's lock):
 * the registration is noticed as stale (its descriptor no longer refers to
 * its socket; the close woke it onto the ready list) and dropped by the
 * next wait or ctl that meets it.
 *
 * Locks, in this order and never the other way round:
 *   ep_table_mx  the instance table and instances' refs (alone, briefly);
 *   op_mx        one ctl, collection or close of this instance at a time
 *                (not held while the wait sleeps);
 *   a stack's runtime lock, then the socket table lock (socket_internal.h);
 *   mx           the ready list, items' `queued`, the sleeper counts.
 * sock_epoll_wake runs under the runtime lock (sometimes the table lock
 * too) and takes only mx.
 *
 * Waiting: with every registered socket on one stack (drive_ss), the wait
 * drives that stack's device itself (runtime_drive_wait_fds), watching
 * `hits`, which wakes of that stack's items bump under its runtime lock;
 * kep and efd are among the descriptors it polls. Otherwise it sleeps in
 * poll(2) on kep and efd, and wakes write efd while it is counted in
 * efd_sleepers; efd is read only once every sleeper has seen the wake
 * (efd_ring). A wait that leaves items on the ready list wakes the
 * sleepers again, as Linux's does after a scan.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "sock/runtime.h"
#include "sock/socket_internal.h"

struct tapir_epoll;

struct epoll_item {
    struct poll_waiter w;          /* on so->waiters (its runtime lock) */
    struct tapir_epoll *ep;
    struct tsock *so;              /* a reference held */
    int fd;
    uint32_t events;               /* op_mx */
    epoll_data_t data;             /* op_mx */
    bool disabled;                 /* EPOLLONESHOT fired (op_mx) */
    /* What a wake from the stack looks for (its runtime lock): events, or
     * 0 once a one-shot registration has fired (sock_epoll_notify). */
    uint32_t wake_mask;
    /* EPOLLET: what the last report saw (op_mx) */
    short et_revents;
    uint64_t et_progress;
    bool queued;                   /* on the ready list (mx) */
    struct epoll_item *rnext;      /* ready list (mx) */
    /* collect's list of closed items to drop (op_mx): not rnext, which a
     * wake from the stack may reuse meanwhile (a closed socket is still
     * woken while its connection closes) */
    struct epoll_item *gnext;
    bool gone;                     /* on that list (op_mx) */
    struct epoll_item *hnext;      /* hash chain (op_mx) */
};

struct tapir_epoll {
    int epfd;
    unsigned refs;                 /* ep_table_mx: the table's and each call's */
    pthread_mutex_t op_mx;
    pthread_mutex_t mx;
    int kep, efd;
    unsigned nkernel;              /* kernel descriptors in kep (op_mx) */

    struct epoll_item **buckets;   /* op_mx */
    unsigned nbuckets, nitems;

    /* the stack every item is on, when they all are (op_mx) */
    struct sock_stack *drive_ss;
    unsigned ndrive, nother;       /* items on drive_ss, on other stacks */
    unsigned hits;                 /* drive_ss's runtime lock */

    /* mx */
    struct epoll_item *rhead, **rtail;
    unsigned nready;               /* items on the ready list */
    unsigned efd_sleepers;
    unsigned efd_rings;            /* wakes that wrote efd (efd_ring) */
    unsigned efd_unseen;           /* sleepers at the last ring still asleep */
    bool driving;
};

/* ---- the instance table -------------------------------------------------- */

static pthread_mutex_t ep_table_mx = PTHREAD_MUTEX_INITIALIZER;
static struct tapir_epoll **ep_slots;
static unsigned ep_cap;

/* The instance for epfd with a reference for the caller: 0, -EBADF (no such
 * descriptor) or -EINVAL (a descriptor, but not an epoll instance). */
static int ep_acquire(int epfd, struct tapir_epoll **out)
{
    if (epfd < TAPIR_EPOLL_FD_BASE) {
        /* An open descriptor of another kind is EINVAL, as in Linux. */
        if (epfd >= TAPIR_FD_BASE && tapir_is_socket(epfd))
            return -EINVAL;
        if (epfd >= 0 && epfd < TAPIR_FD_BASE && fcntl(epfd, F_GETFD) >= 0)
            return -EINVAL;
        return -EBADF;
    }
    unsigned i = (unsigned)(epfd - TAPIR_EPOLL_FD_BASE);
    pthread_mutex_lock(&ep_table_mx);
    struct tapir_epoll *ep = i < ep_cap ? ep_slots[i] : NULL;
    if (ep)
        ep->refs++;
    pthread_mutex_unlock(&ep_table_mx);
    if (!ep)
        return -EBADF;
    *out = ep;
    return 0;
}

static void ep_destroy(struct tapir_epoll *ep);

static void ep_release(struct tapir_epoll *ep)
{
    pthread_mutex_lock(&ep_table_mx);
    bool last = --ep->refs == 0;
    pthread_mutex_unlock(&ep_table_mx);
    if (last)
        ep_destroy(ep);
}

static bool ep_exists(int epfd)
{
    struct tapir_epoll *ep;
    if (ep_acquire(epfd, &ep) < 0)
        return false;
    ep_release(ep);
    return true;
}

/* ---- items ----------------------------------------------------------------- */

static struct epoll_item **bucket_of(struct tapir_epoll *ep, int fd)
{
    return &ep->buckets[(unsigned)fd & (ep->nbuckets - 1)];
}

static struct epoll_item *item_find(struct tapir_epoll *ep, int fd)
{
    if (!ep->nbuckets)
        return NULL;
    for (struct epoll_item *it = *bucket_of(ep, fd); it; it = it->hnext)
        if (it->fd == fd)
            return it;
    return NULL;
}

/* Room for one more item: 0 or -ENOMEM. */
static int items_grow(struct tapir_epoll *ep)
{
    if (ep->nitems < ep->nbuckets)
        return 0;
    unsigned n = ep->nbuckets ? ep->nbuckets * 2 : 16;
    struct epoll_item **b = calloc(n, sizeof *b);
    if (!b)
        return -ENOMEM;
    for (unsigned k = 0; k < ep->nbuckets; k++)
        while (ep->buckets[k]) {
            struct epoll_item *it = ep->buckets[k];
            ep->buckets[k] = it->hnext;
            it->hnext = b[(unsigned)it->fd & (n - 1)];
            b[(unsigned)it->fd & (n - 1)] = it;
        }
    free(ep->buckets);
    ep->buckets = b;
    ep->nbuckets = n;
    return 0;
}

/* Off the ready list (mx held). */
static void ready_remove(struct tapir_epoll *ep, struct epoll_item *it)
{
    if (!it->queued)
        return;
    struct epoll_item **pp = &ep->rhead;
    while (*pp != it)
        pp = &(*pp)->rnext;
    *pp = it->rnext;
    if (ep->rtail == &it->rnext)
        ep->rtail = pp;
    it->rnext = NULL;
    it->queued = false;
    ep->nready--;
}

/* On the ready list's tail unless there already (mx held). */
static void ready_append(struct tapir_epoll *ep, struct epoll_item *it)
{
    if (it->queued)
        return;
    it->rnext = NULL;
    *ep->rtail = it;
    ep->rtail = &it->rnext;
    it->queued = true;
    ep->nready++;
}

/* A wake for the waits sleeping in poll(2) on efd (mx held; the caller
 * writes efd after unlocking). efd is one counter for all of them, and the
 * first to wake would empty it under the others before their poll(2)
 * looked: efd is left readable until every one asleep now has woken
 * (efd_unseen), and only then read (efd_drain). */
static void efd_ring(struct tapir_epoll *ep)
{
    ep->efd_rings++;
    ep->efd_unseen = ep->efd_sleepers;
}

/* The stack wakes a socket on every segment and timer that touches it, but
 * a look (item_look) reports only what the registration asks for: a pure
 * ACK to a socket polled for EPOLLIN would end a driven wait for nothing
 * (collect looks, finds it idle, and the wait drives again), once per
 * connection in an echo server. Only a wake a look would report, or one
 * that collect must see (the socket closed or its stack gone), queues the
 * registration. No change is missed: readiness that appears later comes
 * with a wake of its own. */
void sock_epoll_notify(struct epoll_item *it)
{
    struct tsock *so = it->so;
    if (!sock_gone(so) && (it->wake_mask == 0 ||
                      sock_poll_revents(so, (short)(it->wake_mask & 0xffffu)) == 0))
        return;
    sock_epoll_wake(it);
}

void sock_epoll_wake(struct epoll_item *it)
{
    struct tapir_epoll *ep = it->ep;
    bool same = it->so->ss == ep->drive_ss;
    pthread_mutex_lock(&ep->mx);
    ready_append(ep, it);
    bool write_efd = ep->efd_sleepers > 0 || (ep->driving && !same);
    if (write_efd)
        efd_ring(ep);
    pthread_mutex_unlock(&ep->mx);
    if (same) {
        ep->hits++;
        if (!runtime_driver_is_self(it->so->stack, &ep->hits))
            runtime_wake_driver(it->so->stack, &ep->hits);
    }
    if (write_efd) {
        const uint64_t one = 1;
        ssize_t n = write(ep->efd, &one, sizeof one);   /* non-blocking */
        (void)n;
    }
}

static void item_unlink_hash(struct tapir_epoll *ep, struct epoll_item *it)
{
    struct epoll_item **pp = bucket_of(ep, it->fd);
    while (*pp != it)
        pp = &(*pp)->hnext;
    *pp = it->hnext;
    ep->nitems--;
}

/* Part item it from its socket (op_mx held): unhung, off the ready list,
 * out of the per-stack counts, its reference dropped. It stays in the hash
 * table, to be freed (item_drop) or given another socket (item_add).
 * False when its memory now belongs to the socket instead (parked: see
 * below): it is then out of the table already and must not be touched. */
static bool item_unbind(struct tapir_epoll *ep, struct epoll_item *it)
{
    struct tsock *so = it->so;
    sock_table_lock();
    bool alive = sock_user_held(so->ss) == 0;
    sock_table_unlock();
    if (alive) {
        runtime_lock(so->stack);
        sock_waiter_unhang(&it->w);
    }
    pthread_mutex_lock(&ep->mx);
    ready_remove(ep, it);
    pthread_mutex_unlock(&ep->mx);
    if (alive)
        runtime_unlock(so->stack);

    if (so->ss == ep->drive_ss)
        ep->ndrive--;
    else
        ep->nother--;
    if (ep->ndrive == 0 && ep->nother == 0)
        ep->drive_ss = NULL;

    if (!alive)
        item_unlink_hash(ep, it);  /* before the memory may go, below */
    sock_table_lock();
    if (alive) {
        sock_user_put_held(so->ss);
    } else {
        /* A stopped stack's lock cannot be taken to unhang it, and a
         * tapir_poll call holding a user may still unhang its own waiter
         * beside it: the socket keeps the item and frees it with itself
         * (after the last reference, so after every such call). */
        it->w.epi = NULL;          /* a wake would find a plain waiter */
        sock_park_waiter_held(so, &it->w);
    }
    if (alive)
        it->so = NULL;
    sock_unref_held(so);           /* parked: may free it */
    sock_table_unlock();
    return alive;
}

/* Take item it out of the instance for good (op_mx held). */
static void item_drop(struct tapir_epoll *ep, struct epoll_item *it)
{
    if (item_unbind(ep, it)) {
        item_unlink_hash(ep, it);
        free(it);
    }
}

/* The registration for fd, dropping a stale one (its socket closed, the
 * number perhaps reused): NULL if none (op_mx held). */
static struct epoll_item *item_lookup(struct tapir_epoll *ep, int fd)
{
    struct epoll_item *it = item_find(ep, fd);
    if (!it)
        return NULL;
    sock_table_lock();
    bool current = sock_is_current(it->so);
    sock_table_unlock();
    if (current)
        return it;
    item_drop(ep, it);
    return NULL;
}

static int item_add(struct tapir_epoll *ep, int fd, const struct epoll_event *ev)
{
    struct tsock *so;
    int rc = sock_acquire(fd, &so);
    if (rc < 0)
        return rc == -ECONNABORTED ? -EBADF : rc;
    struct epoll_item *it = item_find(ep, fd);
    if (it) {
        sock_table_lock();
        bool current = sock_is_current(it->so);
        sock_table_unlock();
        if (current) {
            sock_release(so);
            return -EEXIST;
        }
        /* The number's last socket was closed: its registration, stale,
         * takes the new socket (a server's descriptors come back at once,
         * lowest first, so this spares a free and an allocation). */
        struct epoll_item *hnext = it->hnext;
        if (item_unbind(ep, it)) {
            memset(it, 0, sizeof *it);
            it->hnext = hnext;
        } else {
            it = NULL;                     /* parked: a new one below */
        }
    }
    if (!it) {
        it = calloc(1, sizeof *it);
        if (!it || items_grow(ep) < 0) {
            free(it);
            sock_release(so);
            return -ENOMEM;
        }
        struct epoll_item **b = bucket_of(ep, fd);
        it->hnext = *b;
        *b = it;
        ep->nitems++;
    }
    it->w = (struct poll_waiter){ .efd = -1, .epi = it };
    it->ep = ep;
    it->so = so;
    it->fd = fd;
    it->events = ev->events;
    it->data = ev->data;
    if (ep->ndrive == 0 && ep->nother == 0)
        ep->drive_ss = so->ss;
    if (so->ss == ep->drive_ss)
        ep->ndrive++;
    else
        ep->nother++;

    /* Closed or stopped meanwhile: dropped or reported by the next wait.
     * (Readiness needs no clock: runtime_lock, not sock_lock.) */
    runtime_lock(so->stack);
    it->wake_mask = it->events;
    sock_waiter_hang(so, &it->w);
    sock_epoll_notify(it);         /* ready already: on the list now */
    runtime_unlock(so->stack);
    /* sock_acquire's reference becomes the item's; only the user goes. */
    sock_table_lock();
    sock_user_put_held(so->ss);
    sock_table_unlock();
    return 0;
}

static int item_mod(struct epoll_item *it, const struct epoll_event *ev)
{
    struct tsock *so = it->so;
    sock_table_lock();
    int rc = sock_user_held(so->ss);
    sock_table_unlock();
    it->events = ev->events;
    it->data = ev->data;
    it->disabled = false;
    it->et_revents = 0;            /* re-armed: what is ready now is news */
    if (rc < 0)
        return 0;                  /* a stopped stack: reported by the wait */
    sock_lock(so->stack);
    it->wake_mask = it->events;
    sock_epoll_notify(it);         /* as item_add: on the list if ready */
    runtime_unlock(so->stack);
    sock_table_lock();
    sock_user_put_held(so->ss);
    sock_table_unlock();
    return 0;
}

/* ---- create, ctl, close -------------------------------------------------- */

/* Give ep the lowest free descriptor, growing the table: 0 or -ENOMEM. */
static int ep_slot_take(struct tapir_epoll *ep)
{
    pthread_mutex_lock(&ep_table_mx);
    unsigned i = 0;
    while (i < ep_cap && ep_slots[i])
        i++;
    if (i == ep_cap) {
        unsigned cap = ep_cap ? ep_cap * 2 : 16;
        struct tapir_epoll **n = realloc(ep_slots, cap * sizeof *n);
        if (!n) {
            pthread_mutex_unlock(&ep_table_mx);
            return -ENOMEM;
        }
        memset(n + ep_cap, 0, (cap - ep_cap) * sizeof *n);
        ep_slots = n;
        ep_cap = cap;
    }
    ep_slots[i] = ep;
    ep->epfd = TAPIR_EPOLL_FD_BASE + (int)i;
    pthread_mutex_unlock(&ep_table_mx);
    return 0;
}

int tapir_epoll_create1(int flags)
{
    if (flags & ~EPOLL_CLOEXEC)
        return (int)sock_ret(-EINVAL);
    struct tapir_epoll *ep = calloc(1, sizeof *ep);
    if (!ep)
        return (int)sock_ret(-ENOMEM);
    ep->kep = epoll_create1(EPOLL_CLOEXEC);
    ep->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    int rc = ep->kep < 0 || ep->efd < 0 ? -errno : 0;
    if (rc == 0) {
        pthread_mutex_init(&ep->op_mx, NULL);
        pthread_mutex_init(&ep->mx, NULL);
        ep->rtail = &ep->rhead;
        ep->refs = 1;
        rc = ep_slot_take(ep);
        if (rc < 0) {
            pthread_mutex_destroy(&ep->op_mx);
            pthread_mutex_destroy(&ep->mx);
        }
    }
    if (rc < 0) {
        if (ep->kep >= 0)
            close(ep->kep);
        if (ep->efd >= 0)
            close(ep->efd);
        free(ep);
        return (int)sock_ret(rc);
    }
    return ep->epfd;
}

int tapir_epoll_create(int size)
{
    if (size <= 0)
        return (int)sock_ret(-EINVAL);
    return tapir_epoll_create1(0);
}

int tapir_epoll_ctl(int epfd, int op, int fd, struct epoll_event *event)
{
    struct tapir_epoll *ep;
    int rc = ep_acquire(epfd, &ep);
    if (rc < 0)
        return (int)sock_ret(rc);
    if (op != EPOLL_CTL_ADD && op != EPOLL_CTL_MOD && op != EPOLL_CTL_DEL)
        rc = -EINVAL;
    else if (op != EPOLL_CTL_DEL && !event)
        rc = -EFAULT;
    else if (fd == epfd || fd >= TAPIR_EPOLL_FD_BASE)
        rc = fd == epfd || ep_exists(fd) ? -EINVAL : -EBADF;
    if (rc < 0)
        goto out;

    pthread_mutex_lock(&ep->op_mx);
    if (fd < TAPIR_FD_BASE) {
        /* A kernel descriptor: the kernel's own instance answers. */
        rc = epoll_ctl(ep->kep, op, fd, event) < 0 ? -errno : 0;
        if (rc == 0 && op == EPOLL_CTL_ADD)
            ep->nkernel++;
        else if (rc == 0 && op == EPOLL_CTL_DEL)
            ep->nkernel--;
        if (rc == 0 && op != EPOLL_CTL_DEL) {
            /* A wait in progress polls kep anyway; wake one sleeping in
             * poll(2) so it looks at once (as a new ready entry would). */
            const uint64_t one = 1;
            ssize_t n = write(ep->efd, &one, sizeof one);
            (void)n;
        }
    } else if (op == EPOLL_CTL_ADD) {
        rc = item_add(ep, fd, event);
    } else {
        struct epoll_item *it = item_lookup(ep, fd);
        if (!it)
            rc = tapir_is_socket(fd) ? -ENOENT : -EBADF;
        else if (op == EPOLL_CTL_DEL)
            item_drop(ep, it);
        else
            rc = item_mod(it, event);
    }
    pthread_mutex_unlock(&ep->op_mx);
out:
    ep_release(ep);
    return (int)sock_ret(rc);
}

static void ep_destroy(struct tapir_epoll *ep)
{
    pthread_mutex_lock(&ep->op_mx);
    for (unsigned k = 0; k < ep->nbuckets; k++)
        while (ep->buckets[k])
            item_drop(ep, ep->buckets[k]);
    pthread_mutex_unlock(&ep->op_mx);
    free(ep->buckets);
    close(ep->kep);
    close(ep->efd);
    pthread_mutex_destroy(&ep->op_mx);
    pthread_mutex_destroy(&ep->mx);
    free(ep);
}

int sock_epoll_close(int epfd)
{
    unsigned i = (unsigned)(epfd - TAPIR_EPOLL_FD_BASE);
    pthread_mutex_lock(&ep_table_mx);
    struct tapir_epoll *ep = i < ep_cap ? ep_slots[i] : NULL;
    if (ep)
        ep_slots[i] = NULL;        /* the table's reference passes to us */
    pthread_mutex_unlock(&ep_table_mx);
    if (!ep)
        return (int)sock_ret(-EBADF);
    /* A wait in progress keeps its reference and goes on until it returns,
     * as with a kernel epoll descriptor closed under epoll_wait. */
    ep_release(ep);
    return 0;
}

/* ---- wait ---------------------------------------------------------------- */

/* EPOLLET: is readiness r (stack's lock held) news since the last report?
 * A registration is woken on every segment and timer that finds what it
 * asks for ready (sock_epoll_notify), not only when that changes: a report
 * needs a readiness bit that was not there, bytes that arrived or were
 * acknowledged since, or (listener) another connection taken. */
static bool et_edge(struct epoll_item *it, short r)
{
    struct tsock *so = it->so;
    uint64_t progress = so->listening ? so->acc_taken : so->conn ? tcp_progress(so->conn) : 0;
    bool edge = r != 0 && ((r & ~it->et_revents) != 0 || progress != it->et_progress);
    it->et_revents = r;
    it->et_progress = progress;
    return edge;
}

/* What collect found of one item. */
enum item_seen { ITEM_GONE, ITEM_IDLE, ITEM_READY };

/* Look at one item on the ready list, its stack's lock held (and op_mx):
 * its events in *out when ready. Off the list first, under the stack's
 * lock, so a change after the look puts it back; a level-triggered item
 * that is still ready goes back to the list's tail (Linux does the same),
 * so the next wait looks again. */
static enum item_seen item_look(struct tapir_epoll *ep, struct epoll_item *it, uint32_t *out)
{
    pthread_mutex_lock(&ep->mx);
    ready_remove(ep, it);
    pthread_mutex_unlock(&ep->mx);
    if (it->so->closed)
        return ITEM_GONE;
    short r = it->disabled ? 0 : sock_poll_revents(it->so, (short)(it->events & 0xffffu));
    if ((it->events & EPOLLET) && !et_edge(it, r))
        r = 0;
    if (r && !(it->events & (EPOLLET | EPOLLONESHOT))) {
        pthread_mutex_lock(&ep->mx);
        ready_append(ep, it);
        pthread_mutex_unlock(&ep->mx);
    }
    if (!r)
        return ITEM_IDLE;
    if (it->events & EPOLLONESHOT) {
        it->disabled = true;
        it->wake_mask = 0;
    }
    *out = (uint16_t)r;
    return ITEM_READY;
}

/* item_look for an item whose stack the caller holds no user of (op_mx
 * held): takes one, or finds the stack stopped. */
static enum item_seen item_collect(struct tapir_epoll *ep, struct epoll_item *it, uint32_t *out)
{
    struct tsock *so = it->so;
    sock_table_lock();
    bool current = sock_is_current(so);
    int alive = current ? sock_user_held(so->ss) : -1;
    sock_table_unlock();
    if (!current) {
        pthread_mutex_lock(&ep->mx);
        ready_remove(ep, it);
        pthread_mutex_unlock(&ep->mx);
        return ITEM_GONE;
    }
    if (alive == 0) {
        runtime_lock(so->stack);
        enum item_seen seen = item_look(ep, it, out);
        runtime_unlock(so->stack);
        sock_table_lock();
        sock_user_put_held(so->ss);
        sock_table_unlock();
        return seen;
    }
    /* The stack stopped: as tapir_poll, an error and a hang-up. */
    pthread_mutex_lock(&ep->mx);
    ready_remove(ep, it);
    bool level = !(it->events & (EPOLLET | EPOLLONESHOT));
    if (!it->disabled && level)
        ready_append(ep, it);
    pthread_mutex_unlock(&ep->mx);
    if (it->disabled)
        return ITEM_IDLE;
    if (it->events & EPOLLONESHOT)
        it->disabled = true;
    *out = POLLERR | POLLHUP;
    return ITEM_READY;
}

/* Ready events into events[0..max) (op_mx held): the number found. held,
 * when not NULL, is a stack the caller holds a user of: its items are
 * looked at under one hold of its lock. */
static int collect(struct tapir_epoll *ep, struct epoll_event *events, int max,
                   struct sock_stack *held)
{
    int n = 0;
    struct epoll_item *gone = NULL;    /* closed: dropped once unlocked */
    tapir_stack *locked = NULL;
    /* Each item is looked at once per call: the ones on the list now (a
     * level-triggered one re-queued behind them waits for the next call). */
    pthread_mutex_lock(&ep->mx);
    unsigned todo = ep->nready;
    pthread_mutex_unlock(&ep->mx);
    for (; todo > 0 && n < max; todo--) {
        pthread_mutex_lock(&ep->mx);
        struct epoll_item *it = ep->rhead;
        pthread_mutex_unlock(&ep->mx);
        if (!it)
            break;
        uint32_t r = 0;
        enum item_seen seen;
        if (held && it->so->ss == held) {
            if (!locked) {
                locked = held->stack;
                runtime_lock(locked);
            }
            seen = item_look(ep, it, &r);
        } else {
            if (locked)
                runtime_unlock(locked);
            locked = NULL;
            seen = item_collect(ep, it, &r);
        }
        switch (seen) {
        case ITEM_GONE:
            if (!it->gone) {       /* a wake may have queued it again */
                it->gone = true;
                it->gnext = gone;
                gone = it;
            }
            break;
        case ITEM_IDLE:
            break;
        case ITEM_READY:
            events[n].events = r;
            events[n].data = it->data;
            n++;
            break;
        }
    }
    if (locked)
        runtime_unlock(locked);
    while (gone) {
        struct epoll_item *it = gone;
        gone = it->gnext;
        item_drop(ep, it);         /* off the ready list again if queued */
    }
    if (n < max && ep->nkernel > 0) {
        int k = epoll_wait(ep->kep, events + n, max - n, 0);
        if (k > 0)
            n += k;
    }
    /* Items left on the list (level-triggered ones put back, or more than
     * max): wake the waits that sleep meanwhile, as Linux's epoll does
     * after a scan. One may have looked at the list while an item was off
     * it above, and nothing else would wake it (a stopped stack, say,
     * never again). */
    pthread_mutex_lock(&ep->mx);
    bool more = ep->rhead != NULL && (ep->efd_sleepers > 0 || ep->driving);
    if (more)
        efd_ring(ep);
    pthread_mutex_unlock(&ep->mx);
    if (more) {
        const uint64_t one = 1;
        ssize_t w = write(ep->efd, &one, sizeof one);   /* non-blocking */
        (void)w;
    }
    return n;
}

/* Read efd's wake-ups if no sleeper still has to see them (mx held: a
 * ring after this check is not read away). readable: poll(2) said so. */
static void efd_drain(struct tapir_epoll *ep, bool readable)
{
    if (!readable || ep->efd_unseen > 0)
        return;
    uint64_t v;
    ssize_t r = read(ep->efd, &v, sizeof v);
    (void)r;
}

/* Sleep until something may be ready or the deadline (op_mx NOT held;
 * ss, when not NULL, is the instance's only stack, a user of it held):
 * 0, or -errno (EINTR) from poll(2). */
static int sleep_once(struct tapir_epoll *ep, struct sock_stack *ss, uint64_t deadline)
{
    struct pollfd fds[4];
    bool stopping = false;
    if (ss) {
        /* Drive the device on this thread (drive.c): fds[0..1] are the
         * runtime's, then kep and efd. */
        tapir_stack *s = ss->stack;
        sock_lock(s);
        unsigned seen = ep->hits;
        pthread_mutex_lock(&ep->mx);
        bool empty = ep->rhead == NULL;
        bool was_driving = ep->driving;
        if (empty)
            ep->driving = true;
        pthread_mutex_unlock(&ep->mx);
        int d = 0;
        if (empty) {
            fds[2] = (struct pollfd){ .fd = ep->kep, .events = POLLIN };
            fds[3] = (struct pollfd){ .fd = ep->efd, .events = POLLIN };
            d = runtime_drive_wait_fds(s, &ep->hits, seen, deadline, fds, 4);
            pthread_mutex_lock(&ep->mx);
            /* -EBUSY: maybe another wait of ours drives (under this same
             * runtime lock, which we held throughout): its flag stays. */
            ep->driving = d == -EBUSY ? was_driving : false;
            if (d != -EBUSY)
                efd_drain(ep, fds[3].revents & POLLIN);
            pthread_mutex_unlock(&ep->mx);
        }
        if (d != -EBUSY) {
            runtime_unlock(s);
            return 0;
        }
        /* The stack stops (or another thread drives it): a stop wakes the
         * registrations once, maybe before we came here, and then waits
         * for our user: sleep briefly, so the caller comes round to find
         * the stack dead and sleeps without the user. */
        stopping = runtime_stopping(s);
        /* Somebody else drives: sleep in poll(2), counted so a driver that
         * leaves hands the device straight back to the stack thread. */
        runtime_cond_wait_begin(s);
        runtime_unlock(s);
    }
    pthread_mutex_lock(&ep->mx);
    bool empty = ep->rhead == NULL;
    unsigned rings0 = ep->efd_rings;
    if (empty)
        ep->efd_sleepers++;
    pthread_mutex_unlock(&ep->mx);
    int rc = 0;
    if (empty) {
        int ms = -1;
        if (deadline != SOCK_FOREVER) {
            uint64_t now = sock_now_us();
            ms = now >= deadline ? 0 : (int)((deadline - now + 999) / 1000 > 1000000000u
                                             ? 1000000000u : (deadline - now + 999) / 1000);
        }
        if (stopping && (ms < 0 || ms > 1))
            ms = 1;
        fds[0] = (struct pollfd){ .fd = ep->kep, .events = POLLIN };
        fds[1] = (struct pollfd){ .fd = ep->efd, .events = POLLIN };
        if (poll(fds, 2, ms) < 0)
            rc = -errno;
        pthread_mutex_lock(&ep->mx);
        ep->efd_sleepers--;
        if (ep->efd_rings != rings0 && ep->efd_unseen > 0)
            ep->efd_unseen--;      /* asleep at the last ring: seen it */
        efd_drain(ep, rc == 0 && (fds[1].revents & POLLIN));
        pthread_mutex_unlock(&ep->mx);
    }
    if (ss) {
        sock_lock(ss->stack);
        runtime_cond_wait_end(ss->stack);
        runtime_unlock(ss->stack);
    }
    return rc;
}

int tapir_epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout)
{
    struct tapir_epoll *ep;
    int rc = ep_acquire(epfd, &ep);
    if (rc < 0)
        return (int)sock_ret(rc);
    if (maxevents <= 0 || maxevents > INT32_MAX / (int)sizeof *events) {
        ep_release(ep);
        return (int)sock_ret(-EINVAL);
    }
    if (!events) {
        ep_release(ep);
        return (int)sock_ret(-EFAULT);
    }
    uint64_t deadline = timeout < 0 ? SOCK_FOREVER : sock_now_us() + (uint64_t)timeout * 1000u;
    for (;;) {
        pthread_mutex_lock(&ep->op_mx);
        /* The stack to drive: every registered socket is on it. A user of
         * it, held through the collection and the sleep, lets both take
         * its lock. */
        struct sock_stack *ss = ep->ndrive > 0 && ep->nother == 0 ? ep->drive_ss : NULL;
        if (ss) {
            sock_table_lock();
            if (sock_user_held(ss) < 0)
                ss = NULL;
            sock_table_unlock();
        }
        rc = collect(ep, events, maxevents, ss);
        pthread_mutex_unlock(&ep->op_mx);
        if (rc == 0 && (deadline == SOCK_FOREVER || sock_now_us() < deadline))
            rc = sleep_once(ep, ss, deadline) < 0 ? -EINTR : -EAGAIN;
        if (ss) {
            sock_table_lock();
            sock_user_put_held(ss);
            sock_table_unlock();
        }
        if (rc != -EAGAIN)
            break;         /* events, nothing by the deadline (0), or EINTR */
    }
    ep_release(ep);
    return (int)sock_ret(rc);
}
