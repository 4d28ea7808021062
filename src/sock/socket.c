/* The descriptor table, socket lifecycle, waiting and the stack hooks.
 * (Locking and lifetime rules: socket_internal.h.) */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/spare_poison.h"
#include "sock/runtime.h"
#include "sock/socket_internal.h"

/* The table is process-wide so that descriptors are unique across stacks. */
static pthread_mutex_t table_mx = PTHREAD_MUTEX_INITIALIZER;
static struct tsock **slots;          /* slots[i] is descriptor TAPIR_FD_BASE + i */
static unsigned slots_cap;
static unsigned slots_used;
static unsigned slots_limit = 65536;
static struct sock_stack *stacks;      /* stacks that have (had) sockets */
static pthread_once_t hooks_once = PTHREAD_ONCE_INIT;
/* tsocks nobody references any more, kept for reuse (tsock_new) */
#define TSOCK_SPARES_MAX 64
static struct tsock *tsock_spares;
static unsigned tsock_nspares;

uint64_t sock_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t sock_deadline(uint64_t timeout_us)
{
    return timeout_us ? sock_now_us() + timeout_us : SOCK_FOREVER;
}

/* ---- waking and waiting -------------------------------------------------- */

void sock_wake(struct tsock *so)
{
    /* Nobody in sock_wait's condition wait (cv_waiters is counted under the
     * runtime lock, which we hold): every reader of gen holds the runtime
     * lock too, so neither wait_mx nor a broadcast is needed. */
    if (so->cv_waiters == 0) {
        so->gen++;
    } else {
        pthread_mutex_lock(&so->wait_mx);
        so->gen++;
        pthread_cond_broadcast(&so->wait_cv);
        pthread_mutex_unlock(&so->wait_mx);
    }
    runtime_wake_driver(so->stack, &so->gen);
    const uint64_t one = 1;
    bool gone = sock_gone(so);
    for (struct poll_waiter *w = so->waiters; w; w = w->next) {
        if (w->epi) {
            sock_epoll_notify(w->epi);
            continue;
        }
        /* As for epoll (sock_epoll_notify): a segment that brings the call
         * nothing it waits for would end its driven wait only for it to
         * scan and drive again. */
        if (w->want && !gone && sock_poll_revents(so, w->want) == 0)
            continue;
        if (w->hits) {
            (*w->hits)++;
            /* The poll driving the device on this very thread sees it. */
            if (runtime_driver_is_self(so->stack, w->hits))
                continue;
            runtime_wake_driver(so->stack, w->hits);
        }
        if (w->efd < 0)
            continue;      /* that tapir_poll has not gone to sleep yet */
        /* A non-blocking eventfd: at worst the counter is already high. */
        ssize_t n = write(w->efd, &one, sizeof one);
        (void)n;
    }
}

void sock_waiter_hang(struct tsock *so, struct poll_waiter *w)
{
    w->next = so->waiters;
    if (w->next)
        w->next->pprev = &w->next;
    w->pprev = &so->waiters;
    so->waiters = w;
}

void sock_waiter_unhang(struct poll_waiter *w)
{
    if (!w->pprev)
        return;
    *w->pprev = w->next;
    if (w->next)
        w->next->pprev = w->pprev;
    w->pprev = NULL;
}

int sock_wait(struct tsock *so, uint64_t deadline)
{
    /* gen only changes with the runtime lock held, so reading it here and
     * waiting for a change after unlocking loses no wake-up. */
    unsigned gen = so->gen;
    /* First choice: drive the device on this thread (drive.c). */
    int rc = runtime_drive_wait(so->stack, &so->gen, gen, deadline);
    if (rc != -EBUSY)
        goto done;
    rc = 0;
    runtime_cond_wait_begin(so->stack);
    so->cv_waiters++;              /* from here sock_wake signals wait_cv */
    runtime_unlock(so->stack);
    pthread_mutex_lock(&so->wait_mx);
    while (so->gen == gen) {
        if (deadline == SOCK_FOREVER) {
            pthread_cond_wait(&so->wait_cv, &so->wait_mx);
            continue;
        }
        struct timespec ts = runtime_timespec(deadline);
        if (pthread_cond_timedwait(&so->wait_cv, &so->wait_mx, &ts) == ETIMEDOUT) {
            rc = -EAGAIN;
            break;
        }
    }
    pthread_mutex_unlock(&so->wait_mx);
    sock_lock(so->stack);
    so->cv_waiters--;
    runtime_cond_wait_end(so->stack);
done:
    if (so->closed)
        return -EBADF;
    if (so->dead)
        return -ECONNABORTED;
    return rc;
}

/* Why a listener takes connections from the core as soon as they complete:
 * the core treats a connection nobody owns yet as closed and answers its
 * data with a RST, so data that follows the handshake before the
 * application calls accept() would kill the connection. Taken at once, the
 * connection is owned and buffers that data, as a Linux child socket does.
 * At most `backlog` wait here; beyond that they stay in the core's queue. */
void sock_take_accepted(struct tsock *so)
{
    struct tcp_conn *n;
    while (so->acc_len < so->backlog && tcp_accept(so->conn, &n) == 0) {
        struct accepted *a = so->acc_spare;
        if (a)
            so->acc_spare = a->next;
        else
            a = malloc(sizeof *a);
        if (!a) {
            tcp_abort(n);
            break;
        }
        tcp_set_owner(n, NULL);     /* notifications ignored until accepted */
        a->conn = n;
        a->next = NULL;
        if (!so->acc_tail)
            so->acc_tail = &so->acc_head;
        *so->acc_tail = a;
        so->acc_tail = &a->next;
        so->acc_len++;
        so->acc_taken++;
    }
}

/* Free the listener's spare queue nodes. */
static void free_acc_spares(struct tsock *so)
{
    while (so->acc_spare) {
        struct accepted *a = so->acc_spare;
        so->acc_spare = a->next;
        free(a);
    }
}

struct tcp_conn *sock_pop_accepted(struct tsock *so)
{
    struct accepted *a = so->acc_head;
    if (!a) {
        struct tcp_conn *n;
        return tcp_accept(so->conn, &n) == 0 ? n : NULL;
    }
    so->acc_head = a->next;
    if (!so->acc_head)
        so->acc_tail = &so->acc_head;
    so->acc_len--;
    struct tcp_conn *c = a->conn;
    a->next = so->acc_spare;        /* kept for the next connection */
    so->acc_spare = a;
    sock_take_accepted(so);         /* room again: take what the core holds */
    return c;
}

void sock_drop_accepted(struct tsock *so, bool reset)
{
    while (so->acc_head) {
        struct accepted *a = so->acc_head;
        so->acc_head = a->next;
        if (reset)
            tcp_abort(a->conn);     /* as Linux: close(listener) resets them */
        free(a);
    }
    so->acc_tail = &so->acc_head;
    so->acc_len = 0;
    free_acc_spares(so);
}

/* The core's readiness callback (runtime lock held, from inside the core). */
static void sock_notify(void *owner, struct tcp_conn *c, unsigned events)
{
    (void)c;
    struct tsock *so = owner;
    if (!so)
        return;
    if (so->listening && (events & TCP_EV_ACCEPTABLE) && !so->closed && !so->dead)
        sock_take_accepted(so);
    sock_wake(so);
}

void sock_attach_conn(struct tsock *so, struct tcp_conn *c)
{
    so->conn = c;
    tcp_set_owner(c, so);
}

/* ---- the stack hooks ----------------------------------------------------- */

static void hook_attach(tapir_stack *s)
{
    tcp_set_notify(s, sock_notify);
}

/* The stack is stopping (runtime lock held, its thread already joined):
 * every socket on it becomes dead, every waiter wakes, and we wait until no
 * API call is inside the stack before letting the core be destroyed. */
static void hook_detach(tapir_stack *s)
{
    pthread_mutex_lock(&table_mx);
    struct sock_stack *ss = stacks;
    while (ss && (ss->stack != s || ss->dead))
        ss = ss->next;
    if (!ss) {
        pthread_mutex_unlock(&table_mx);
        return;
    }
    ss->dead = true;
    for (unsigned i = 0; i < slots_cap; i++) {
        struct tsock *so = slots[i];
        if (!so || so->ss != ss)
            continue;
        if (so->conn) {
            tcp_set_owner(so->conn, NULL);   /* the core frees it when destroyed */
            so->conn = NULL;
        }
        sock_drop_accepted(so, false);
        so->dead = true;
        sock_wake(so);
    }
    pthread_mutex_unlock(&table_mx);

    /* Let the woken callers take the lock, see `dead` and leave. */
    runtime_unlock(s);
    pthread_mutex_lock(&table_mx);
    while (ss->users > 0)
        pthread_cond_wait(&ss->users_cv, &table_mx);
    if (ss->nsocks == 0) {
        for (struct sock_stack **pp = &stacks; *pp; pp = &(*pp)->next)
            if (*pp == ss) {
                *pp = ss->next;
                break;
            }
        pthread_cond_destroy(&ss->users_cv);
        free(ss);
    }
    pthread_mutex_unlock(&table_mx);
    sock_lock(s);
}

static void register_hooks(void)
{
    static const struct runtime_hooks hooks = { .attach = hook_attach, .detach = hook_detach };
    runtime_set_hooks(&hooks);
}

void tapir_stack_hook_states(tapir_stack *s, tapir_state_hook fn, void *ctx)
{
    sock_lock(s);
    tapir_stack_set_state_hook(s, fn, ctx);
    runtime_unlock(s);
}

/* ---- the table ----------------------------------------------------------- */

int tapir_socket_set_limit(unsigned limit)
{
    /* Above that, socket descriptors would reach the epoll instances'. */
    if (limit == 0 || limit > (unsigned)(TAPIR_EPOLL_FD_BASE - TAPIR_FD_BASE))
        return -EINVAL;
    pthread_mutex_lock(&table_mx);
    slots_limit = limit;
    pthread_mutex_unlock(&table_mx);
    return 0;
}

static struct tsock *slot_lookup(int fd)
{
    if (fd < TAPIR_FD_BASE)
        return NULL;
    unsigned i = (unsigned)(fd - TAPIR_FD_BASE);
    return i < slots_cap ? slots[i] : NULL;
}

int tapir_is_socket(int fd)
{
    pthread_mutex_lock(&table_mx);
    int yes = slot_lookup(fd) != NULL;
    pthread_mutex_unlock(&table_mx);
    return yes;
}

tapir_stack *tapir_socket_stack(int fd)
{
    pthread_mutex_lock(&table_mx);
    struct tsock *so = slot_lookup(fd);
    tapir_stack *s = so && !so->ss->dead ? so->stack : NULL;
    pthread_mutex_unlock(&table_mx);
    if (!s)
        errno = EBADF;
    return s;
}

/* The lowest free slot, growing the table; -EMFILE at the limit. */
static int slot_take(struct tsock *so)
{
    if (slots_used >= slots_limit)
        return -EMFILE;
    unsigned i = 0;
    while (i < slots_cap && slots[i])
        i++;
    if (i == slots_cap) {
        unsigned cap = slots_cap ? slots_cap * 2 : 64;
        struct tsock **n = realloc(slots, cap * sizeof *n);
        if (!n)
            return -ENOMEM;
        memset(n + slots_cap, 0, (cap - slots_cap) * sizeof *n);
        slots = n;
        slots_cap = cap;
    }
    slots[i] = so;
    slots_used++;
    so->fd = TAPIR_FD_BASE + (int)i;
    return 0;
}

static void slot_clear(int fd)
{
    slots[fd - TAPIR_FD_BASE] = NULL;
    slots_used--;
}

/* A zeroed tsock with its wait_mx and wait_cv initialised: a spare one
 * when there is one, else a new allocation; NULL without memory. Spares
 * spare a server a calloc and a free per connection. Table lock held. */
static struct tsock *tsock_new(void)
{
    struct tsock *so = tsock_spares;
    if (so) {
        spare_unpoison(so, sizeof *so);
        tsock_spares = so->spare_next;
        tsock_nspares--;
        memset(so, 0, sizeof *so);   /* nothing of its last life is kept */
    } else {
        so = calloc(1, sizeof *so);
        if (!so)
            return NULL;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&so->wait_cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&so->wait_mx, NULL);
    return so;
}

/* The end of a tsock nobody references: kept as a spare (at most
 * TSOCK_SPARES_MAX, so idle memory does not grow) or freed. Table lock held. */
static void tsock_delete(struct tsock *so)
{
    free_acc_spares(so);
    while (so->parked) {
        struct poll_waiter *w = so->parked;
        so->parked = w->parked_next;
        free(w);
    }
    pthread_mutex_destroy(&so->wait_mx);
    pthread_cond_destroy(&so->wait_cv);
    if (tsock_nspares >= TSOCK_SPARES_MAX) {
        free(so);
        return;
    }
    so->spare_next = tsock_spares;
    spare_poison(so, sizeof *so, offsetof(struct tsock, spare_next));
    tsock_spares = so;
    tsock_nspares++;
}

unsigned sock_spare_count(void)
{
    pthread_mutex_lock(&table_mx);
    unsigned n = tsock_nspares;
    pthread_mutex_unlock(&table_mx);
    return n;
}

/* table lock held */
static void tsock_unref(struct tsock *so)
{
    if (--so->refs > 0)
        return;
    struct sock_stack *ss = so->ss;
    tsock_delete(so);
    if (--ss->nsocks == 0 && ss->dead && ss->users == 0) {
        for (struct sock_stack **pp = &stacks; *pp; pp = &(*pp)->next)
            if (*pp == ss) {
                *pp = ss->next;
                break;
            }
        pthread_cond_destroy(&ss->users_cv);
        free(ss);
    }
}

/* table lock held */
static void user_put(struct sock_stack *ss)
{
    /* Only hook_detach waits for users to drain, and it marks the record
     * dead (table lock) before it waits. */
    if (--ss->users == 0 && ss->dead)
        pthread_cond_broadcast(&ss->users_cv);
}

bool sock_is_current(const struct tsock *so)
{
    return slot_lookup(so->fd) == so;
}

void sock_ref_held(struct tsock *so) { so->refs++; }
void sock_unref_held(struct tsock *so) { tsock_unref(so); }

int sock_user_held(struct sock_stack *ss)
{
    if (ss->dead)
        return -ECONNABORTED;
    ss->users++;
    return 0;
}

void sock_user_put_held(struct sock_stack *ss) { user_put(ss); }

void sock_park_waiter_held(struct tsock *so, struct poll_waiter *w)
{
    w->parked_next = so->parked;
    so->parked = w;
}

void sock_table_lock(void) { pthread_mutex_lock(&table_mx); }
void sock_table_unlock(void) { pthread_mutex_unlock(&table_mx); }

int sock_acquire_held(int fd, struct tsock **out)
{
    struct tsock *so = slot_lookup(fd);
    if (!so)
        return -EBADF;
    if (so->ss->dead)
        return -ECONNABORTED;
    so->refs++;
    so->ss->users++;
    *out = so;
    return 0;
}

void sock_release_held(struct tsock *so)
{
    user_put(so->ss);
    tsock_unref(so);
}

int sock_acquire(int fd, struct tsock **out)
{
    pthread_mutex_lock(&table_mx);
    int rc = sock_acquire_held(fd, out);
    pthread_mutex_unlock(&table_mx);
    return rc;
}

void sock_release(struct tsock *so)
{
    pthread_mutex_lock(&table_mx);
    sock_release_held(so);
    pthread_mutex_unlock(&table_mx);
}

int sock_enter(int fd, struct tsock **out)
{
    struct tsock *so;
    int rc = sock_acquire(fd, &so);
    if (rc < 0)
        return rc;
    sock_lock(so->stack);
    if (so->closed)
        rc = -EBADF;
    else if (so->dead || !so->conn)
        rc = -ECONNABORTED;
    if (rc < 0) {
        runtime_unlock(so->stack);
        sock_release(so);
        return rc;
    }
    *out = so;
    return 0;
}

void sock_leave(struct tsock *so, bool kick)
{
    tapir_stack *s = so->stack;
    if (kick)
        runtime_kick_if_earlier(s);
    runtime_unlock(s);
    sock_release(so);
}

int sock_alloc(tapir_stack *stack, struct sock_stack *same, struct tsock **out)
{
    pthread_once(&hooks_once, register_hooks);
    pthread_mutex_lock(&table_mx);
    struct tsock *so = tsock_new();
    if (!so) {
        pthread_mutex_unlock(&table_mx);
        return -ENOMEM;
    }
    so->stack = stack;
    so->acc_tail = &so->acc_head;
    so->refs = 2;              /* the table's and the caller's */

    struct sock_stack *ss = same;
    if (ss && ss->dead) {
        tsock_delete(so);
        pthread_mutex_unlock(&table_mx);
        return -ECONNABORTED;
    }
    if (!ss)
        ss = stacks;
    while (ss && (ss->stack != stack || ss->dead))
        ss = ss->next;
    if (!ss) {
        ss = calloc(1, sizeof *ss);
        if (!ss) {
            tsock_delete(so);
            pthread_mutex_unlock(&table_mx);
            return -ENOMEM;
        }
        ss->stack = stack;
        pthread_cond_init(&ss->users_cv, NULL);
        ss->next = stacks;
        stacks = ss;
    }
    int rc = slot_take(so);
    if (rc < 0) {
        tsock_delete(so);
        pthread_mutex_unlock(&table_mx);
        return rc;      /* an empty ss stays listed; it is reused */
    }
    so->ss = ss;
    ss->nsocks++;
    ss->users++;
    pthread_mutex_unlock(&table_mx);
    *out = so;
    return 0;
}

void sock_unalloc(struct tsock *so)
{
    pthread_mutex_lock(&table_mx);
    slot_clear(so->fd);
    user_put(so->ss);
    so->refs = 1;
    tsock_unref(so);
    pthread_mutex_unlock(&table_mx);
}

/* ---- socket() ------------------------------------------------------------ */

int tapir_socket_on(tapir_stack *stack, int domain, int type, int protocol)
{
    if (domain != AF_INET)
        return (int)sock_ret(-EAFNOSUPPORT);
    int flags = type & (SOCK_NONBLOCK | SOCK_CLOEXEC);
    int base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (base <= 0 || base > SOCK_PACKET)
        return (int)sock_ret(-EINVAL);
    if (base == SOCK_SEQPACKET)
        return (int)sock_ret(-ESOCKTNOSUPPORT);
    /* Only TCP: a datagram or raw socket is a protocol we do not have. */
    if (base != SOCK_STREAM || (protocol != 0 && protocol != IPPROTO_TCP))
        return (int)sock_ret(-EPROTONOSUPPORT);
    if (!stack || !runtime_of(stack))
        return (int)sock_ret(-ENETDOWN);

    struct tsock *so;
    int rc = sock_alloc(stack, NULL, &so);
    if (rc < 0)
        return (int)sock_ret(rc);
    sock_lock(stack);
    if (so->ss->dead || runtime_stopping(stack)) {
        rc = -ENETDOWN;
    } else {
        tcp_set_notify(stack, sock_notify);
        struct tcp_conn *c = tcp_conn_new(stack, &rc);
        if (c) {
            sock_attach_conn(so, c);
            so->nonblock = (flags & SOCK_NONBLOCK) != 0;
            rc = 0;
        } else if (rc == 0) {
            rc = -ENOMEM;
        }
    }
    runtime_unlock(stack);
    if (rc < 0) {
        sock_unalloc(so);
        return (int)sock_ret(rc == -EMFILE ? -ENFILE : rc);
    }
    int fd = so->fd;
    sock_release(so);
    return fd;
}

int tapir_socket(int domain, int type, int protocol)
{
    return tapir_socket_on(runtime_default_stack(), domain, type, protocol);
}

/* ---- close() ------------------------------------------------------------ */

/* SO_LINGER with a timeout: send FIN and wait (at most l_linger seconds)
 * until it is acknowledged. Runtime lock held. */
static void close_linger(struct tsock *so)
{
    enum tapir_tcp_state st = tcp_state(so->conn);
    if (so->listening || (st != TAPIR_TCP_ESTABLISHED && st != TAPIR_TCP_CLOSE_WAIT))
        return;
    char b;
    if (tcp_recv(so->conn, &b, 1, true) > 0)
        return;                    /* unread data: close() resets anyway */
    if (tcp_shutdown(so->conn, false, true) < 0)
        return;
    runtime_kick(so->stack);
    uint64_t deadline = sock_now_us() + (uint64_t)so->opts.linger.l_linger * 1000000u;
    for (;;) {
        st = tcp_state(so->conn);
        if (st == TAPIR_TCP_FIN_WAIT_2 || st == TAPIR_TCP_TIME_WAIT || st == TAPIR_TCP_CLOSED)
            return;
        uint64_t now = sock_now_us();
        if (now >= deadline)
            return;
        /* The core need not notify when our FIN is acknowledged: re-check. */
        uint64_t slice = now + 20000;
        if (sock_wait(so, slice < deadline ? slice : deadline) < 0 && so->dead)
            return;
    }
}

int tapir_close(int fd)
{
    if (fd >= TAPIR_EPOLL_FD_BASE)
        return sock_epoll_close(fd);
    pthread_mutex_lock(&table_mx);
    struct tsock *so = slot_lookup(fd);
    if (!so) {
        pthread_mutex_unlock(&table_mx);
        return (int)sock_ret(-EBADF);
    }
    slot_clear(fd);                /* the table's reference passes to us */
    bool alive = !so->ss->dead;
    if (alive)
        so->ss->users++;
    pthread_mutex_unlock(&table_mx);

    if (alive) {
        tapir_stack *s = so->stack;
        sock_lock(s);
        if (so->conn && !so->dead) {
            struct tcp_conn *c = so->conn;
            bool abort_ = so->opts.linger.l_onoff && so->opts.linger.l_linger == 0;
            if (so->opts.linger.l_onoff && so->opts.linger.l_linger > 0)
                close_linger(so);
            if (so->conn) {        /* (the stack may have stopped meanwhile) */
                sock_drop_accepted(so, true);
                tcp_set_owner(c, NULL);
                so->conn = NULL;
                if (abort_)
                    tcp_abort(c);
                else
                    tcp_close(c);
            }
        }
        so->closed = true;
        sock_wake(so);             /* other threads blocked on it: EBADF */
        runtime_kick_if_earlier(s);
        runtime_unlock(s);
    }
    pthread_mutex_lock(&table_mx);
    if (alive)
        user_put(so->ss);
    tsock_unref(so);
    pthread_mutex_unlock(&table_mx);
    return 0;
}

/* ---- fcntl() ------------------------------------------------------------- */

int tapir_fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    int arg = (cmd == F_SETFL || cmd == F_SETFD) ? va_arg(ap, int) : 0;
    va_end(ap);
    struct tsock *so;
    int rc = sock_enter(fd, &so);
    if (rc < 0)
        return (int)sock_ret(rc);
    switch (cmd) {
    case F_GETFL:
        rc = O_RDWR | (so->nonblock ? O_NONBLOCK : 0);
        break;
    case F_SETFL:
        so->nonblock = (arg & O_NONBLOCK) != 0;
        rc = 0;
        break;
    case F_GETFD:
    case F_SETFD:
        rc = 0;
        break;
    default:
        rc = -EINVAL;
        break;
    }
    sock_leave(so, false);
    return (int)sock_ret(rc);
}
