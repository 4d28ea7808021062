/* tapir_poll: poll(2) over tapir descriptors and kernel descriptors at once.
 *
 * Each tapir socket in the set gets a waiter (an eventfd shared by this
 * call) that the core's notify callback writes to; the real poll(2) then
 * sleeps on the kernel descriptors plus that eventfd, so a change on either
 * side wakes the call. Readiness of tapir sockets is recomputed under their
 * stack's lock after every wake-up.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "sock/runtime.h"
#include "sock/socket_internal.h"

/* Readiness of one socket as Linux's tcp_poll reports it (runtime lock held). */
static short sock_revents(struct tsock *so, short events)
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
        /* A socket that is not connected (never was, or is finished) polls
         * as writable and hung up, as on Linux, so a failed non-blocking
         * connect wakes a POLLOUT waiter. */
        if (st == TAPIR_TCP_CLOSED)
            r |= POLLOUT | POLLWRNORM | POLLHUP;
    }
    /* POLLERR, POLLHUP and POLLNVAL are reported whether asked or not. */
    return (short)(r & (events | POLLERR | POLLHUP));
}

struct poll_slot {
    struct tsock *so;      /* NULL: not a tapir socket, or not usable */
    struct poll_waiter w;
};

static void waiter_link(struct tsock *so, struct poll_waiter *w)
{
    w->next = so->waiters;
    if (w->next)
        w->next->pprev = &w->next;
    w->pprev = &so->waiters;
    so->waiters = w;
}

static void waiter_unlink(struct poll_waiter *w)
{
    if (!w->pprev)
        return;
    *w->pprev = w->next;
    if (w->next)
        w->next->pprev = w->pprev;
    w->pprev = NULL;
}

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

int tapir_poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
    if (nfds > 0 && !fds)
        return (int)sock_ret(-EFAULT);
    if (nfds > 1u << 20)
        return (int)sock_ret(-EINVAL);
    struct poll_slot *slots = calloc(nfds ? nfds : 1, sizeof *slots);
    /* kernel descriptors (in order) and the eventfd last */
    struct pollfd *kfds = calloc(nfds + 1, sizeof *kfds);
    nfds_t *kidx = calloc(nfds + 1, sizeof *kidx);
    int efd = -1, rc = 0;
    if (!slots || !kfds || !kidx) {
        rc = -ENOMEM;
        goto out;
    }
    nfds_t nk = 0, nt = 0;
    for (nfds_t i = 0; i < nfds; i++) {
        fds[i].revents = 0;
        if (fds[i].fd >= TAPIR_FD_BASE) {
            nt++;
        } else if (fds[i].fd >= 0) {
            kfds[nk] = (struct pollfd){ .fd = fds[i].fd, .events = fds[i].events };
            kidx[nk++] = i;
        }
    }
    if (nt > 0) {
        efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (efd < 0) {
            rc = -errno;
            goto out;
        }
    }
    /* Take each tapir socket and hang our waiter on it. */
    for (nfds_t i = 0; i < nfds; i++) {
        if (fds[i].fd < TAPIR_FD_BASE)
            continue;
        struct tsock *so;
        int a = sock_acquire(fds[i].fd, &so);
        if (a == -EBADF) {
            fds[i].revents = POLLNVAL;
            continue;
        }
        if (a < 0) {                      /* its stack stopped */
            fds[i].revents = POLLERR | POLLHUP;
            continue;
        }
        slots[i].so = so;
        slots[i].w.efd = efd;
        sock_lock(so->stack);
        waiter_link(so, &slots[i].w);
        runtime_unlock(so->stack);
    }

    uint64_t deadline = timeout < 0 ? SOCK_FOREVER : sock_now_us() + (uint64_t)timeout * 1000u;
    for (;;) {
        int ready = 0;
        for (nfds_t i = 0; i < nfds; i++) {
            struct tsock *so = slots[i].so;
            if (so) {
                sock_lock(so->stack);
                fds[i].revents = sock_revents(so, fds[i].events);
                runtime_unlock(so->stack);
            }
            if (fds[i].fd >= TAPIR_FD_BASE && fds[i].revents)
                ready++;
        }
        int wait_ms = ready > 0 ? 0 : ms_until(deadline);
        nfds_t n = nk;
        if (efd >= 0)
            kfds[n++] = (struct pollfd){ .fd = efd, .events = POLLIN };
        int kr = 0;
        if (n > 0 || wait_ms != 0)
            kr = poll(kfds, n, wait_ms);
        if (kr < 0) {
            rc = -errno;
            goto out;
        }
        int kready = 0;
        for (nfds_t k = 0; k < nk; k++) {
            fds[kidx[k]].revents = kfds[k].revents;
            if (kfds[k].revents)
                kready++;
        }
        if (efd >= 0 && kfds[nk].revents) {
            uint64_t v;
            ssize_t r = read(efd, &v, sizeof v);
            (void)r;
            if (ready == 0)
                continue;      /* a tapir socket changed: look again */
        }
        if (ready + kready > 0 || wait_ms == 0) {
            rc = ready + kready;
            break;
        }
        /* woken with nothing ready (EINTR is returned above): until the deadline */
        if (ms_until(deadline) == 0) {
            rc = 0;
            break;
        }
    }
out:
    for (nfds_t i = 0; slots && i < nfds; i++) {
        struct tsock *so = slots[i].so;
        if (!so)
            continue;
        sock_lock(so->stack);
        waiter_unlink(&slots[i].w);
        runtime_unlock(so->stack);
        sock_release(so);
    }
    if (efd >= 0)
        close(efd);
    free(slots);
    free(kfds);
    free(kidx);
    return (int)sock_ret(rc);
}
