/* The socket layer's private view: descriptors, the per-stack record, waits.
 *
 * Locks, in the only order they are ever nested:
 *   1. the stack's runtime lock (runtime_lock)   guards the core and every
 *      field of a tsock marked "runtime lock" below;
 *   2. the table lock (sock_table_lock)          guards the descriptor table,
 *      reference counts and the per-stack records;
 *   3. a socket's wait_mx                        guards gen (with 1) while
 *      a thread waits on wait_cv (cv_waiters > 0); with none waiting, the
 *      runtime lock alone guards gen.
 * An API call never takes 1 while holding 2 or 3.
 *
 * Lifetime: a tsock is referenced by its table slot and by every API call
 * using it (refs, table lock); it is freed when the last reference goes.
 * Holding a "user" of its stack (sock_acquire) guarantees the stack is not
 * destroyed, so the runtime lock may be taken until sock_release: when a
 * stack stops, the detach hook marks its sockets dead, wakes every waiter
 * and waits for its users to drain before the core is destroyed.
 */
#ifndef TAPIR_SOCK_SOCKET_INTERNAL_H
#define TAPIR_SOCK_SOCKET_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/tcp_api.h"
#include "sock/runtime.h"
#include "tapir/socket.h"
#include "tapir/tapir.h"

#define SOCK_FOREVER UINT64_MAX

/* What the socket layer knows about one stack that has sockets. */
struct sock_stack {
    tapir_stack *stack;
    unsigned users;            /* API calls that may take its runtime lock */
    unsigned nsocks;           /* tsocks (open or still referenced) on it */
    bool dead;                 /* the stack is stopping or stopped */
    pthread_cond_t users_cv;   /* signalled when users drops to 0 */
    struct sock_stack *next;
};

/* One tapir_poll() call waiting on one socket: the notify callback writes
 * to efd so the real poll(2) over kernel descriptors wakes up. An epoll
 * instance's registration is a waiter too (epi set): a wake puts it on the
 * instance's ready list instead (socket_epoll.c). */
struct epoll_item;
struct poll_waiter {
    int efd;               /* -1 until the tapir_poll call sleeps */
    unsigned *hits;        /* bumped at every wake (runtime lock); may be NULL */
    /* A tapir_poll call's: the events it waits for, with POLLERR|POLLHUP; a
     * wake that finds none of them is not passed on (sock_wake). */
    short want;
    struct epoll_item *epi;              /* NULL: a tapir_poll call's */
    struct poll_waiter *next, **pprev;   /* in tsock.waiters; pprev NULL: unlinked */
    struct poll_waiter *parked_next;     /* in tsock.parked (sock_park_waiter_held) */
};

/* Options kept by the socket, so getsockopt answers and accept() can pass
 * them on to the new connection (as Linux's accepted sockets inherit). */
struct sock_opts {
    bool reuseaddr, keepalive, nodelay;
    uint32_t rcvbuf, sndbuf;       /* 0: the stack's default */
    uint16_t maxseg;               /* 0: from the MTU */
    uint32_t keepidle, keepintvl, keepcnt;   /* seconds / count; 0: default */
    struct linger linger;
    uint64_t rcvtimeo_us, sndtimeo_us;       /* 0: wait forever */
    uint32_t user_timeout_ms;      /* TCP_USER_TIMEOUT; 0: the stack's retry counts */
    uint8_t syncnt;                /* TCP_SYNCNT; 0: cfg.tcp_syn_retries */
    bool oobinline;                /* SO_OOBINLINE */
    uint8_t ip_tos;                /* IP_TOS, ECN bits clear */
    uint8_t ip_ttl;                /* IP_TTL; 0: cfg.ip_ttl */
    bool recverr;                  /* IP_RECVERR */
};

/* A connection the listener took from the core at once (see sock_notify):
 * it waits here for tapir_accept. */
struct accepted {
    struct tcp_conn *conn;
    struct accepted *next;
};

struct tsock {
    int fd;
    struct sock_stack *ss;         /* immutable */
    tapir_stack *stack;            /* immutable */
    unsigned refs;                 /* table lock */
    struct tsock *spare_next;      /* table lock: in the spares once unreferenced */

    /* runtime lock */
    struct tcp_conn *conn;         /* NULL once closed or the stack stopped */
    bool nonblock;
    bool listening;
    bool connecting;               /* connect() started, not yet reported */
    bool closed;                   /* tapir_close() ran: waiters get EBADF */
    bool dead;                     /* the stack stopped: ECONNABORTED */
    struct poll_waiter *waiters;
    /* table lock: waiters left hung on a socket whose stack stopped, freed
     * with the tsock (sock_park_waiter_held) */
    struct poll_waiter *parked;
    struct sock_opts opts;
    /* listener: connections taken from the core, oldest first */
    struct accepted *acc_head, **acc_tail;
    unsigned acc_len, backlog;
    unsigned acc_taken;            /* connections ever taken (EPOLLET's edges) */
    /* listener: spare nodes for acc_* (at most as many as ever queued at
     * once, so no more than the backlog), sparing a malloc per connection */
    struct accepted *acc_spare;
    /* threads in sock_wait's condition-variable wait (between unlocking
     * the runtime lock and taking it back): sock_wake takes wait_mx and
     * signals wait_cv only when there are some */
    unsigned cv_waiters;

    /* wait_mx (written with the runtime lock held too; see cv_waiters) */
    pthread_mutex_t wait_mx;
    pthread_cond_t wait_cv;        /* CLOCK_MONOTONIC */
    unsigned gen;                  /* bumped at every possible readiness change */
};

/* Take the stack's lock for an API call, and bring the core's clock up to
 * date (tcp_clock): the core stamps what an API call starts (a SYN's RTT
 * sample, a FIN's retransmission timer, ...) with its clock, which the
 * stack thread only advances when it feeds frames or runs timers. */
static inline void sock_lock(tapir_stack *s)
{
    runtime_lock(s);
    tcp_clock(s, runtime_now());
}

/* ---- socket.c: table and lifecycle ---- */
/* Find fd, take a reference and a user of its stack: 0, -EBADF (unknown) or
 * -ECONNABORTED (its stack stopped; no user taken, reference released). */
int sock_acquire(int fd, struct tsock **out);
/* sock_acquire + runtime lock + the socket still usable (not closed by
 * another thread, stack alive). On error nothing is held. */
int sock_enter(int fd, struct tsock **out);
/* Unlock, kick the stack thread if asked, release. */
void sock_leave(struct tsock *so, bool kick);
/* Drop the user and reference taken by sock_acquire (runtime lock not held). */
void sock_release(struct tsock *so);
/* The same for many descriptors under one hold of the table lock
 * (tapir_poll): sock_acquire_held and sock_release_held between
 * sock_table_lock and sock_table_unlock, no runtime lock held. */
void sock_table_lock(void);
void sock_table_unlock(void);
int sock_acquire_held(int fd, struct tsock **out);
void sock_release_held(struct tsock *so);
/* Wait (runtime lock held on entry and on return) until the socket's
 * readiness may have changed, or deadline (monotonic us; SOCK_FOREVER).
 * 0, -EAGAIN at the deadline, -EBADF closed meanwhile, -ECONNABORTED stack
 * stopped meanwhile. */
int sock_wait(struct tsock *so, uint64_t deadline);
/* Hang w on so's waiter list / take it off again (no-op if not hung);
 * runtime lock held. */
void sock_waiter_hang(struct tsock *so, struct poll_waiter *w);
void sock_waiter_unhang(struct poll_waiter *w);
/* Wake every waiter of so (runtime lock held). */
void sock_wake(struct tsock *so);
/* A new socket in the table with a reference for the caller (who then owns
 * one user of its stack record too): -EMFILE, -ENOMEM, -ECONNABORTED (same,
 * the record to use when the caller already has one, is dead). */
int sock_alloc(tapir_stack *stack, struct sock_stack *same, struct tsock **out);
/* Undo sock_alloc before the descriptor was handed out (no runtime lock). */
void sock_unalloc(struct tsock *so);
/* Unreferenced tsocks kept for reuse by sock_alloc (a bounded number). */
unsigned sock_spare_count(void);
/* For holders of a tsock pointer rather than a descriptor (an epoll
 * registration keeps a reference, not a user, so a stopping stack is not
 * held up by it). All with the table lock held:
 *   sock_is_current  the descriptor so->fd still refers to so (not closed,
 *                    not reused by another socket);
 *   sock_ref_held / sock_unref_held   take / drop a reference;
 *   sock_user_held   take a user of the socket's stack (so its runtime lock
 *                    may be taken): 0, or -ECONNABORTED when it stopped;
 *   sock_user_put_held  drop it. */
bool sock_is_current(const struct tsock *so);
void sock_ref_held(struct tsock *so);
void sock_unref_held(struct tsock *so);
int sock_user_held(struct sock_stack *ss);
void sock_user_put_held(struct sock_stack *ss);
/* A waiter still hung on so whose stack stopped (its lock can no longer be
 * taken to unhang it, and a tapir_poll call that holds a user may still
 * unhang its own waiter beside it): so keeps it and frees it with itself.
 * w must be the start of a malloc'd block. Table lock held. */
void sock_park_waiter_held(struct tsock *so, struct poll_waiter *w);
/* Make sure the core tells us about readiness changes (runtime lock held). */
void sock_attach_conn(struct tsock *so, struct tcp_conn *c);
uint64_t sock_now_us(void);
/* now + timeout_us, or SOCK_FOREVER for 0. */
uint64_t sock_deadline(uint64_t timeout_us);

/* Listener: take completed connections from the core into acc_* (runtime
 * lock held). */
void sock_take_accepted(struct tsock *so);
/* Listener: pop the oldest taken connection, NULL if none. */
struct tcp_conn *sock_pop_accepted(struct tsock *so);
/* Listener: reset every taken connection (close) or forget them (the stack
 * stopped and frees them). */
void sock_drop_accepted(struct tsock *so, bool reset);

/* ---- socket_poll.c ---- */
/* Readiness of so as Linux's tcp_poll reports it, masked by events (POLLERR
 * and POLLHUP always pass; POLLNVAL for a closed socket). Runtime lock held. */
short sock_poll_revents(struct tsock *so, short events);

/* Closed, its stack gone, or without a connection: a wake a waiter must see
 * whatever it waits for (runtime lock held). */
static inline bool sock_gone(const struct tsock *so)
{
    return so->closed || so->dead || !so->conn;
}

/* ---- socket_epoll.c ---- */
/* A registered socket's readiness may have changed (sock_wake, runtime lock
 * held): put the registration on its instance's ready list and wake a wait
 * if a look would find what it asks for (or must see it go). */
void sock_epoll_notify(struct epoll_item *it);
/* The same without that check (runtime lock held). */
void sock_epoll_wake(struct epoll_item *it);
/* tapir_close of an epoll instance's descriptor. */
int sock_epoll_close(int epfd);

/* ---- socket_opt.c ---- */
/* Apply the options a connection inherits (runtime lock held). */
void sock_opts_apply(struct tcp_conn *c, const struct sock_opts *o);

/* ---- shared helpers ---- */
/* -err -> -1 with errno; non-negative passes through. */
static inline long sock_ret(long r)
{
    if (r < 0) {
        errno = (int)-r;
        return -1;
    }
    return r;
}

#endif
