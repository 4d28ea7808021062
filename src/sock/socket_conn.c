/* Connections: bind, listen, accept, connect, shutdown, and the names. */
#include <errno.h>
#include <string.h>

#include "sock/runtime.h"
#include "sock/socket_internal.h"

/* ---- addresses ----------------------------------------------------------- */

/* A sockaddr_in from the caller: -EFAULT, -EINVAL (short), -EAFNOSUPPORT. */
static int addr_in(const struct sockaddr *addr, socklen_t len, uint32_t *ip, uint16_t *port)
{
    if (!addr)
        return -EFAULT;
    if (len < sizeof(struct sockaddr_in))
        return -EINVAL;
    struct sockaddr_in a;
    memcpy(&a, addr, sizeof a);
    if (a.sin_family != AF_INET)
        return -EAFNOSUPPORT;
    *ip = ntohl(a.sin_addr.s_addr);
    *port = ntohs(a.sin_port);
    return 0;
}

/* Fill the caller's buffer, truncated to *len, and report the full size. */
static int addr_out(struct sockaddr *addr, socklen_t *len, uint32_t ip, uint16_t port)
{
    if (!len)
        return -EFAULT;
    if (!addr && *len > 0)
        return -EFAULT;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(ip);
    a.sin_port = htons(port);
    size_t n = *len < sizeof a ? *len : sizeof a;
    if (n)
        memcpy(addr, &a, n);
    *len = sizeof a;
    return 0;
}

int tapir_bind(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
    struct tsock *so;
    int rc = sock_enter(fd, &so);
    if (rc < 0)
        return (int)sock_ret(rc);
    uint32_t ip;
    uint16_t port;
    rc = addr_in(addr, addrlen, &ip, &port);
    if (rc == 0)
        rc = tcp_bind(so->conn, ip, port);
    sock_leave(so, false);
    return (int)sock_ret(rc);
}

int tapir_listen(int fd, int backlog)
{
    struct tsock *so;
    int rc = sock_enter(fd, &so);
    if (rc < 0)
        return (int)sock_ret(rc);
    if (backlog < 0)          /* Linux: a negative backlog means "the maximum" */
        backlog = (int)tapir_stack_config(so->stack)->tcp_backlog_max;
    rc = tcp_listen(so->conn, backlog);
    if (rc == 0) {
        so->listening = true;
        /* Linux lets backlog + 1 connections wait. */
        uint32_t max = tapir_stack_config(so->stack)->tcp_backlog_max;
        so->backlog = (uint32_t)backlog < max ? (uint32_t)backlog + 1 : max;
        sock_take_accepted(so);
    }
    sock_leave(so, true);
    return (int)sock_ret(rc);
}

/* getsockname (peer false) and getpeername (peer true). */
static int sock_name(int fd, struct sockaddr *addr, socklen_t *addrlen, bool peer)
{
    struct tsock *so;
    int rc = sock_enter(fd, &so);
    if (rc < 0)
        return (int)sock_ret(rc);
    uint32_t ip = 0;
    uint16_t port = 0;
    if (!peer) {
        rc = tcp_local_addr(so->conn, &ip, &port);
        if (rc == -ENOTCONN || rc == -EINVAL) {   /* unbound: 0.0.0.0:0 as Linux */
            ip = 0;
            port = 0;
            rc = 0;
        }
    } else {
        enum tapir_tcp_state st = tcp_state(so->conn);
        if (so->listening || st == TAPIR_TCP_CLOSED || st == TAPIR_TCP_SYN_SENT)
            rc = -ENOTCONN;
        else
            rc = tcp_peer_addr(so->conn, &ip, &port);
    }
    if (rc == 0)
        rc = addr_out(addr, addrlen, ip, port);
    sock_leave(so, false);
    return (int)sock_ret(rc);
}

int tapir_getsockname(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
    return sock_name(fd, addr, addrlen, false);
}

int tapir_getpeername(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
    return sock_name(fd, addr, addrlen, true);
}

/* ---- accept() ------------------------------------------------------------ */

int tapir_accept4(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags)
{
    if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC))
        return (int)sock_ret(-EINVAL);
    if (addr && !addrlen)
        return (int)sock_ret(-EFAULT);
    struct tsock *so;
    int rc = sock_enter(fd, &so);
    if (rc < 0)
        return (int)sock_ret(rc);
    uint64_t deadline = sock_deadline(so->opts.rcvtimeo_us);
    tapir_stack *stack = so->stack;
    struct tsock *nso = NULL;
    for (;;) {
        if (!so->listening) {
            rc = -EINVAL;
            break;
        }
        if (!so->acc_head && !(tcp_events(so->conn) & TCP_EV_ACCEPTABLE)) {
            if (so->nonblock) {
                rc = -EAGAIN;
                break;
            }
            rc = sock_wait(so, deadline);
            if (rc < 0)
                break;
            continue;
        }
        /* A descriptor first (EMFILE leaves the connection queued, as
         * Linux). The table lock nests inside the runtime lock (the order
         * of socket_internal.h), so the runtime lock stays held: nobody can
         * take the connection or close the listener meanwhile. */
        rc = sock_alloc(stack, so->ss, &nso);
        if (rc < 0)
            break;
        struct tcp_conn *c = sock_pop_accepted(so);
        if (!c) {                  /* (not expected: the core said acceptable) */
            sock_unalloc(nso);
            nso = NULL;
            rc = -EAGAIN;
            break;
        }
        sock_attach_conn(nso, c);
        nso->opts = so->opts;
        nso->nonblock = (flags & SOCK_NONBLOCK) != 0;
        sock_opts_apply(c, &nso->opts);
        uint32_t ip = 0;
        uint16_t port = 0;
        tcp_peer_addr(c, &ip, &port);
        if (addr)
            addr_out(addr, addrlen, ip, port);
        break;
    }
    runtime_kick_if_earlier(stack);
    runtime_unlock(stack);
    if (rc < 0 && nso) {
        sock_unalloc(nso);
        nso = NULL;
    }
    if (rc < 0) {
        sock_release(so);
        return (int)sock_ret(rc);
    }
    int nfd = nso->fd;
    /* Both references in one hold of the table lock. */
    sock_table_lock();
    sock_release_held(so);
    sock_release_held(nso);
    sock_table_unlock();
    return nfd;
}

int tapir_accept(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
    return tapir_accept4(fd, addr, addrlen, 0);
}

/* ---- connect() ----------------------------------------------------------- */

int tapir_connect(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
    struct tsock *so;
    int rc = sock_enter(fd, &so);
    if (rc < 0)
        return (int)sock_ret(rc);
    uint32_t ip;
    uint16_t port;
    rc = addr_in(addr, addrlen, &ip, &port);
    if (rc < 0)
        goto out;
    if (so->listening) {           /* Linux: a listener "is connected" */
        rc = -EISCONN;
        goto out;
    }
    if (so->connecting) {
        /* A connect() started earlier (non-blocking, or timed out) is
         * reported once, as Linux: 0 when it has completed, its error if it
         * failed, EALREADY while under way (a blocking call waits for it). */
        enum tapir_tcp_state st = tcp_state(so->conn);
        if (st == TAPIR_TCP_CLOSED) {
            so->connecting = false;
            int err = tcp_take_error(so->conn);
            rc = err < 0 ? err : -ECONNABORTED;
            goto out;
        }
        if (st != TAPIR_TCP_SYN_SENT && st != TAPIR_TCP_SYN_RECEIVED) {
            so->connecting = false;
            rc = 0;
            goto out;
        }
        rc = so->nonblock ? -EALREADY : -EINPROGRESS;
    } else {
        rc = tcp_connect(so->conn, ip, port);
    }
    if (rc != -EINPROGRESS)
        goto out;
    so->connecting = true;
    runtime_kick_if_earlier(so->stack);
    if (so->nonblock)
        goto out;
    uint64_t deadline = sock_deadline(so->opts.sndtimeo_us);
    for (;;) {
        enum tapir_tcp_state st = tcp_state(so->conn);
        if (st != TAPIR_TCP_SYN_SENT && st != TAPIR_TCP_SYN_RECEIVED) {
            so->connecting = false;
            int err = tcp_take_error(so->conn);
            rc = err < 0 ? err : (st == TAPIR_TCP_CLOSED ? -ECONNABORTED : 0);
            break;
        }
        int w = sock_wait(so, deadline);
        if (w == -EAGAIN) {        /* SO_SNDTIMEO: still in progress (Linux) */
            rc = -EINPROGRESS;
            break;
        }
        if (w < 0) {
            rc = w;
            break;
        }
    }
out:
    sock_leave(so, true);
    return (int)sock_ret(rc);
}

int tapir_shutdown(int fd, int how)
{
    struct tsock *so;
    int rc = sock_enter(fd, &so);
    if (rc < 0)
        return (int)sock_ret(rc);
    if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
        rc = -EINVAL;
    else
        rc = tcp_shutdown(so->conn, how != SHUT_WR, how != SHUT_RD);
    sock_wake(so);     /* blocked readers see EOF, writers EPIPE */
    sock_leave(so, true);
    return (int)sock_ret(rc);
}
