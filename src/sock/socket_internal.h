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
 * to efd so the real poll(2) over kernel descriptors wakes up. */
struct poll_waiter {
    int efd;               /* -1 until the tapir_poll call sleeps */
    unsigned *hits;        /* bumped at every wake (runtime lock); may be NULL */
    struct poll_waiter *next, **pprev;   /* in tsock.waiters; pprev NULL: unlinked */
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
    struct sock_opts opts;
    /* listener: connections taken from the core, oldest first */
    struct accepted *acc_head, **acc_tail;
    unsigned acc_len, backlog;
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
