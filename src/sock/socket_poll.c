/* tapir_poll: poll(2) over tapir descriptors and kernel descriptors at once.
 *
 * Each tapir socket in the set gets a waiter (an eventfd shared by this
 * call) that the core's notify callback writes to; the real poll(2) then
 * sleeps on the kernel descriptors plus that eventfd, so a change on either
 * side wakes the call. Readiness of tapir sockets is recomputed under their
 * stack's lock after every wake-up.
 *
 * Cost per call: a server polls its descriptors in a loop, so the work per
 * call matters as much as the work per socket. The call's arrays live on
 * its own stack for small sets (one allocation above that); every socket is
 * taken from the table in one hold of the table lock and given back in one;
 * and each phase (look at readiness, hang the waiters, unhang them) holds
 * each stack's lock once for all of that stack's sockets, not once per
 * socket. Waiters are only hung when the call is about to wait: a call that
 * finds something ready, or has timeout 0, needs none.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "sock/runtime.h"
#include "sock/socket_internal.h"

short sock_poll_revents(struct tsock *so, short events)
{
    if (so->closed)
        return POLLNVAL;
    if (so->dead || !so->conn)
        return POLLERR | POLLHUP;
    unsigned ev = tcp_events(so->conn);
    short r = 0;
    if (so->listening) {
        if (so->acc_head || (ev & TCP_EV_ACCEPTABLE))
            r |= POLLIN | POLLRDNORM;
    } else {
        enum tapir_tcp_state st = tcp_state(so->conn);
        if (ev & TCP_EV_READABLE)
            r |= POLLIN | POLLRDNORM;
        if (ev & TCP_EV_WRITABLE)
            r |= POLLOUT | POLLWRNORM;
        if (ev & TCP_EV_RDHUP)
            r |= POLLIN | POLLRDNORM | POLLRDHUP;
        if (ev & TCP_EV_HUP)
            r |= POLLHUP;
        if (ev & TCP_EV_ERROR)
            r |= POLLERR;
        if (ev & TCP_EV_URGENT)
            r |= POLLPRI;       /* an urgent byte is held (MUST-32's report) */
        /* A socket that is not connected (never was, or is finished) polls
         * as writable and hung up, as on Linux, so a failed non-blocking
         * connect wakes a POLLOUT waiter. */
        if (st == TAPIR_TCP_CLOSED)
            r |= POLLOUT | POLLWRNORM | POLLHUP;
    }
    /* POLLERR, POLLHUP and POLLNVAL are reported whether asked or not. */
    return (short)(r & (events | POLLERR | POLLHUP));
}

/* Up to this many entries the call's arrays are on its own stack. */
#define POLL_INLINE_FDS 64
/* Distinct stacks whose sockets share one lock hold per phase; sockets of
 * any further stack (a rare set) are locked one at a time. */
#define POLL_GROUPS 4

struct poll_slot {
    struct tsock *so;      /* NULL: not a tapir socket, or not usable */
    unsigned group;        /* index in poll_call.stacks, POLL_GROUPS: none */
    struct poll_waiter w;
};

/* One tapir_poll call. */
struct poll_call {
    struct pollfd *fds;
    nfds_t nfds;
    struct poll_slot *slots;       /* one per entry of fds */
    /* fds[0], fds[1]: the runtime's when driving (drive.c); then the kernel
     * descriptors in order; then the eventfd */
    struct pollfd *kfds;
    nfds_t nk;
    nfds_t ntapir;                 /* usable tapir sockets (slots with so) */
    tapir_stack *stacks[POLL_GROUPS];
    unsigned ngroups;
    bool ungrouped;                /* some socket is on none of stacks[] */
    unsigned hits;                 /* wakes of stacks[0]'s sockets (its lock) */
};

/* What a phase does to each socket, with its stack's lock held. */
enum poll_phase { PHASE_LINK_SCAN, PHASE_SCAN, PHASE_EFD, PHASE_UNLINK };

static int ms_until(uint64_t deadline)
{
    if (deadline == SOCK_FOREVER)
        return -1;
    uint64_t now = sock_now_us();
    if (now >= deadline)
        return 0;
    uint64_t ms = (deadline - now + 999) / 1000;
    return ms > 1000000000u ? 1000000000 : (int)ms;
}

/* Lock for a phase. No phase needs the core's clock brought up to date
 * (sock_lock): they only look at readiness (tcp_events reads no time) and
 * hang or unhang waiters, starting nothing the core would stamp; the
 * driving wait takes it with sock_lock. */
static void phase_lock(tapir_stack *s, enum poll_phase ph)
{
    (void)ph;
    runtime_lock(s);
}

/* One socket's part of a phase (its stack's lock held): the number of
 * ready entries it adds (scans only). */
static int phase_one(struct poll_call *pc, nfds_t i, enum poll_phase ph, int efd)
{
    struct poll_slot *sl = &pc->slots[i];
    switch (ph) {
    case PHASE_LINK_SCAN:
    case PHASE_SCAN:
        if (ph == PHASE_LINK_SCAN)
            sock_waiter_hang(sl->so, &sl->w);     /* and look in the same hold */
        pc->fds[i].revents = sock_poll_revents(sl->so, pc->fds[i].events);
        return pc->fds[i].revents != 0;
    case PHASE_EFD:
        sl->w.efd = efd;
        return 0;
    case PHASE_UNLINK:
        sock_waiter_unhang(&sl->w);
        return 0;
    }
    return 0;
}

/* Run a phase over every tapir socket, one lock hold per stack group (and
 * one per socket outside the groups); *seen is read in stacks[0]'s hold
 * before any of its sockets is looked at, so a change after the look bumps
 * hits past it. The number of ready entries found (scans). */
static int phase_run(struct poll_call *pc, enum poll_phase ph, int efd, unsigned *seen)
{
    int ready = 0;
    for (unsigned g = 0; g < pc->ngroups; g++) {
        phase_lock(pc->stacks[g], ph);
        if (g == 0 && seen)
            *seen = pc->hits;
        for (nfds_t i = 0; i < pc->nfds; i++)
            if (pc->slots[i].so && pc->slots[i].group == g)
                ready += phase_one(pc, i, ph, efd);
        runtime_unlock(pc->stacks[g]);
    }
    if (!pc->ungrouped)
        return ready;
    for (nfds_t i = 0; i < pc->nfds; i++) {
        struct tsock *so = pc->slots[i].so;
        if (!so || pc->slots[i].group != POLL_GROUPS)
            continue;
        phase_lock(so->stack, ph);
        ready += phase_one(pc, i, ph, efd);
        runtime_unlock(so->stack);
    }
    return ready;
}

/* Take every tapir socket of the set in one hold of the table lock and
 * group them by stack: the entries that are not usable (POLLNVAL for an
 * unknown descriptor, POLLERR|POLLHUP on a stopped stack), which are ready
 * for good. */
static int poll_acquire(struct poll_call *pc)
{
    int bad = 0;
    sock_table_lock();
    for (nfds_t i = 0; i < pc->nfds; i++) {
        struct poll_slot *sl = &pc->slots[i];
        if (pc->fds[i].fd < TAPIR_FD_BASE)
            continue;
        int a = sock_acquire_held(pc->fds[i].fd, &sl->so);
        if (a < 0) {
            sl->so = NULL;
            pc->fds[i].revents = a == -EBADF ? POLLNVAL : POLLERR | POLLHUP;
            bad++;
            continue;
        }
        pc->ntapir++;
        sl->w = (struct poll_waiter){ .efd = -1,
                                      .want = (short)(pc->fds[i].events | POLLERR | POLLHUP) };
        unsigned g = 0;
        while (g < pc->ngroups && pc->stacks[g] != sl->so->stack)
            g++;
        if (g == pc->ngroups && g < POLL_GROUPS)
            pc->stacks[pc->ngroups++] = sl->so->stack;
        if (g == POLL_GROUPS)
            pc->ungrouped = true;
        sl->group = g;
        /* Only sockets of the first stack count in hits, so hits is only
         * ever written under that stack's lock. */
        if (g == 0)
            sl->w.hits = &pc->hits;
    }
    sock_table_unlock();
    return bad;
}

/* Give every socket back: its waiter unhung (if hung), its reference
 * dropped, in one hold of the table lock. */
static void poll_release(struct poll_call *pc, bool linked)
{
    if (pc->ntapir == 0)
        return;
    if (linked)
        phase_run(pc, PHASE_UNLINK, -1, NULL);
    sock_table_lock();
    for (nfds_t i = 0; i < pc->nfds; i++)
        if (pc->slots[i].so)
            sock_release_held(pc->slots[i].so);
    sock_table_unlock();
}

/* Make the call's eventfd and hang it on every waiter (under their
 * stacks' locks): the eventfd, or -errno. */
static int install_efd(struct poll_call *pc)
{
    int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (efd < 0)
        return -errno;
    phase_run(pc, PHASE_EFD, efd, NULL);
    return efd;
}

int tapir_poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
    if (nfds > 0 && !fds)
        return (int)sock_ret(-EFAULT);
    if (nfds > 1u << 20)
        return (int)sock_ret(-EINVAL);
    struct poll_slot inline_slots[POLL_INLINE_FDS];
    struct pollfd inline_kfds[POLL_INLINE_FDS + 3];
    void *heap = NULL;
    struct poll_call pc = { .fds = fds, .nfds = nfds, .slots = inline_slots, .kfds = inline_kfds };
    if (nfds > POLL_INLINE_FDS) {
        /* One block for both arrays: the slots first (the stricter alignment). */
        size_t slots_size = nfds * sizeof *pc.slots;
        heap = malloc(slots_size + (nfds + 3) * sizeof *pc.kfds);
        if (!heap)
            return (int)sock_ret(-ENOMEM);
        pc.slots = heap;
        pc.kfds = (struct pollfd *)((char *)heap + slots_size);
    }
    for (nfds_t i = 0; i < nfds; i++) {
        fds[i].revents = 0;
        pc.slots[i].so = NULL;
        if (fds[i].fd >= 0 && fds[i].fd < TAPIR_FD_BASE)
            pc.kfds[2 + pc.nk++] = (struct pollfd){ .fd = fds[i].fd, .events = fds[i].events };
    }
    int bad = poll_acquire(&pc);

    /* Caller-driven mode (drive.c): with every tapir socket on one stack,
     * this thread may wait on that stack's device itself. Our waiters then
     * count their wakes in `hits`, which the driving wait watches. */
    tapir_stack *drive_stack = pc.ngroups == 1 && !pc.ungrouped ? pc.stacks[0] : NULL;
    unsigned *hits = &pc.hits;
    struct pollfd *kfds = pc.kfds + 2;       /* what the kernel's poll(2) gets */
    nfds_t nk = pc.nk;
    int efd = -1, rc = 0;
    bool linked = false, link_now = false;

    uint64_t deadline = timeout < 0 ? SOCK_FOREVER : sock_now_us() + (uint64_t)timeout * 1000u;
    bool drove = false;
    for (;;) {
        unsigned seen = 0;
        int ready = bad;
        if (pc.ntapir > 0) {
            ready += phase_run(&pc, link_now ? PHASE_LINK_SCAN : PHASE_SCAN, -1, &seen);
            if (link_now)
                linked = true;
            link_now = false;
        }
        int wait_ms = ready > 0 ? 0 : ms_until(deadline);
        if (wait_ms != 0 && pc.ntapir > 0 && !linked) {
            /* About to wait: hang the waiters, and look again in the same
             * hold so no change between the look and the wait is lost. */
            link_now = true;
            continue;
        }
        if (drove) {
            wait_ms = 0;           /* only look at the kernel's side now */
        } else if (drive_stack && wait_ms != 0) {
            sock_lock(drive_stack);
            int d = runtime_drive_wait_fds(drive_stack, hits, seen, deadline, pc.kfds, nk + 2);
            runtime_unlock(drive_stack);
            if (d != -EBUSY) {
                drove = true;
                continue;          /* recompute readiness */
            }
        }
        bool after_drive = drove;
        drove = false;
        if (wait_ms != 0 && efd < 0 && pc.ntapir > 0) {
            /* About to sleep: from now on every wake writes the eventfd. */
            efd = install_efd(&pc);
            if (efd < 0) {
                rc = efd;
                goto out;
            }
            continue;              /* look again with it in place */
        }
        nfds_t n = nk;
        if (efd >= 0)
            kfds[n++] = (struct pollfd){ .fd = efd, .events = POLLIN };
        int kr = 0;
        if (n > 0 || wait_ms != 0) {
            /* Asleep here, not driving: if a driver leaves, the stack
             * thread must serve the device for us at once. */
            bool counted = drive_stack && wait_ms != 0;
            if (counted) {
                sock_lock(drive_stack);
                runtime_cond_wait_begin(drive_stack);
                runtime_unlock(drive_stack);
            }
            kr = poll(kfds, n, wait_ms);
            if (counted) {
                int e = errno;
                sock_lock(drive_stack);
                runtime_cond_wait_end(drive_stack);
                runtime_unlock(drive_stack);
                errno = e;
            }
        }
        if (kr < 0) {
            rc = -errno;
            goto out;
        }
        int kready = 0;
        if (nk > 0) {
            /* kfds holds the kernel entries in the order of fds */
            nfds_t k = 0;
            for (nfds_t i = 0; i < nfds && k < nk; i++) {
                if (fds[i].fd < 0 || fds[i].fd >= TAPIR_FD_BASE)
                    continue;
                fds[i].revents = kfds[k].revents;
                if (kfds[k++].revents)
                    kready++;
            }
        }
        if (efd >= 0 && kfds[nk].revents) {
            uint64_t v;
            ssize_t r = read(efd, &v, sizeof v);
            (void)r;
            if (ready == 0)
                continue;      /* a tapir socket changed: look again */
        }
        if (ready + kready > 0 || (wait_ms == 0 && (!after_drive || ms_until(deadline) == 0))) {
            rc = ready + kready;
            break;
        }
        if (after_drive)
            continue;          /* nothing yet: drive again */
        /* woken with nothing ready (EINTR is returned above): until the deadline */
        if (ms_until(deadline) == 0) {
            rc = 0;
            break;
        }
    }
out:
    poll_release(&pc, linked);
    if (efd >= 0)
        close(efd);
    free(heap);
    return (int)sock_ret(rc);
}
