/* The read and write family: read/recv/readv, write/send/writev. */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "sock/runtime.h"
#include "sock/socket_internal.h"

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

static int check_iov(const struct iovec *iov, int iovcnt, size_t *total)
{
    if (iovcnt < 0 || iovcnt > IOV_MAX)
        return -EINVAL;
    if (iovcnt > 0 && !iov)
        return -EFAULT;
    size_t sum = 0;
    for (int i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len > (size_t)SSIZE_MAX - sum)
            return -EINVAL;
        sum += iov[i].iov_len;
    }
    *total = sum;
    return 0;
}

/* The part of iov entry v left after `*skip` bytes already done: false if
 * none (the entry is used up by skip, which shrinks by its length). */
static bool iov_rest(const struct iovec *v, size_t *skip, char **base, size_t *len)
{
    if (*skip >= v->iov_len) {
        *skip -= v->iov_len;
        return false;
    }
    *base = (char *)v->iov_base + *skip;
    *len = v->iov_len - *skip;
    *skip = 0;
    return true;
}

/* An error arrived while a blocking call that has already moved bytes
 * waited (runtime lock held): the call returns its count and leaves the
 * error pending for the next one, as Linux does (tcp_recvmsg,
 * tcp_sendmsg), rather than taking it and dropping it. Matters most for a
 * soft error (IP_RECVERR), after which the connection goes on. */
static bool error_pending(struct tsock *so)
{
    return (tcp_events(so->conn) & TCP_EV_ERROR) != 0;
}

/* Take what the core has into iov (runtime lock held): bytes taken, 0 at
 * EOF, or -errno (-EAGAIN: nothing yet). `skip` bytes were already taken by
 * an earlier round (MSG_WAITALL) and are passed over. */
static long recv_into(struct tsock *so, const struct iovec *iov, int iovcnt,
                      size_t skip, bool peek)
{
    long got = 0;
    for (int i = 0; i < iovcnt; i++) {
        char *base;
        size_t len;
        if (!iov_rest(&iov[i], &skip, &base, &len))
            continue;
        /* Peeking past the first buffer would return the same bytes again. */
        if (peek && got > 0)
            break;
        long n = tcp_recv(so->conn, base, len, peek);
        if (n < 0)
            return got > 0 ? got : n;
        got += n;
        if ((size_t)n < len || tcp_at_mark(so->conn))
            break;              /* a read that returned data stops at the urgent mark */
    }
    return got;
}

/* recv(MSG_OOB): the urgent byte, never waiting (as Linux). */
static long recv_oob(int fd, const struct iovec *iov, int iovcnt, int flags)
{
    struct tsock *so;
    int rc = sock_enter(fd, &so);
    if (rc < 0)
        return rc;
    void *buf = iovcnt > 0 ? iov[0].iov_base : NULL;
    size_t len = iovcnt > 0 ? iov[0].iov_len : 0;
    long r;
    if (len > 0 && !buf) {
        /* As Linux: the errors about the urgent byte come first. */
        char probe;
        r = tcp_recv_urgent(so->conn, &probe, 1, true);
        if (r > 0)
            r = -EFAULT;
    } else {
        r = tcp_recv_urgent(so->conn, buf, len, (flags & MSG_PEEK) != 0);
    }
    sock_leave(so, false);
    return r;
}

static long do_recv(int fd, const struct iovec *iov, int iovcnt, int flags)
{
    size_t total;
    int rc = check_iov(iov, iovcnt, &total);
    if (rc < 0)
        return rc;
    if (flags & MSG_OOB)
        return recv_oob(fd, iov, iovcnt, flags);
    struct tsock *so;
    rc = sock_enter(fd, &so);
    if (rc < 0)
        return rc;
    if (flags & MSG_ERRQUEUE) {
        /* The error queue (ip(7) IP_RECVERR) is not kept: tapir reports
         * soft errors as the pending error (SO_ERROR) instead. Linux
         * answers a read of an empty queue with EAGAIN, never waiting and
         * never touching the data. */
        sock_leave(so, false);
        return -EAGAIN;
    }
    bool peek = (flags & MSG_PEEK) != 0;
    bool dontwait = so->nonblock || (flags & MSG_DONTWAIT);
    bool waitall = (flags & MSG_WAITALL) && !peek && !dontwait;
    uint64_t deadline = sock_deadline(so->opts.rcvtimeo_us);
    long done = 0;
    long r;
    if (so->listening) {
        r = -ENOTCONN;
        goto out;
    }
    if (total == 0) {
        r = 0;
        goto out;
    }
    for (;;) {
        long n = recv_into(so, iov, iovcnt, (size_t)done, peek);
        if (n > 0) {
            done += n;
            if (!waitall || (size_t)done == total || tcp_at_mark(so->conn)) {
                r = done;
                break;
            }
            continue;
        }
        if (n == 0 || n != -EAGAIN || dontwait) {  /* EOF, error, or no wait */
            r = done > 0 ? done : n;
            break;
        }
        int w = sock_wait(so, deadline);
        if (w < 0) {
            r = done > 0 ? done : w;
            break;
        }
        if (done > 0 && error_pending(so)) {
            r = done;
            break;
        }
    }
out:
    /* Taking data opens the receive window: the thread may owe an update. */
    sock_leave(so, r > 0 && !peek);
    return r;
}

/* Queue iov (runtime lock held) after the first `skip` bytes: the count
 * queued, or -errno (-EAGAIN: no room). */
static long send_from(struct tsock *so, const struct iovec *iov, int iovcnt, size_t skip, bool urgent)
{
    long sent = 0;
    for (int i = 0; i < iovcnt; i++) {
        char *base;
        size_t len;
        if (!iov_rest(&iov[i], &skip, &base, &len))
            continue;
        long n = urgent ? tcp_send_urgent(so->conn, base, len) : tcp_send(so->conn, base, len);
        if (n < 0)
            return sent > 0 ? sent : n;
        sent += n;
        if ((size_t)n < len)
            break;
    }
    return sent;
}

static long do_send(int fd, const struct iovec *iov, int iovcnt, int flags)
{
    size_t total;
    int rc = check_iov(iov, iovcnt, &total);
    if (rc < 0)
        return rc;
    struct tsock *so;
    rc = sock_enter(fd, &so);
    if (rc < 0)
        return rc;
    bool dontwait = so->nonblock || (flags & MSG_DONTWAIT);
    uint64_t deadline = sock_deadline(so->opts.sndtimeo_us);
    long done = 0;
    long r;
    if (so->listening) {
        r = -EPIPE;              /* Linux: sending on a listener is EPIPE */
        goto out;
    }
    for (;;) {
        long n = send_from(so, iov, iovcnt, (size_t)done, (flags & MSG_OOB) != 0);
        if (n == -ENOTCONN)
            n = -EPIPE;          /* Linux: not connected (yet or any more) */
        if (n >= 0) {
            done += n;
            if ((size_t)done == total) {
                r = done;
                break;
            }
            if (n > 0 && dontwait) {
                r = done;
                break;
            }
            n = -EAGAIN;         /* a short count: wait for room */
        }
        if (n != -EAGAIN || dontwait) {
            r = done > 0 ? done : n;
            break;
        }
        /* Let the thread send what is queued while we wait for room. */
        if (done > 0)
            runtime_kick_if_earlier(so->stack);
        int w = sock_wait(so, deadline);
        if (w < 0) {
            r = done > 0 ? done : w;
            break;
        }
        if (done > 0 && error_pending(so)) {
            r = done;
            break;
        }
    }
out:
    sock_leave(so, done > 0);
    return r;
}

ssize_t tapir_recv(int fd, void *buf, size_t len, int flags)
{
    struct iovec v = { .iov_base = buf, .iov_len = len };
    if (len > (size_t)SSIZE_MAX)
        v.iov_len = (size_t)SSIZE_MAX;
    return sock_ret(do_recv(fd, &v, 1, flags));
}

ssize_t tapir_read(int fd, void *buf, size_t count)
{
    return tapir_recv(fd, buf, count, 0);
}

ssize_t tapir_readv(int fd, const struct iovec *iov, int iovcnt)
{
    return sock_ret(do_recv(fd, iov, iovcnt, 0));
}

ssize_t tapir_send(int fd, const void *buf, size_t len, int flags)
{
    struct iovec v = { .iov_base = (void *)buf, .iov_len = len };
    if (len > (size_t)SSIZE_MAX)
        v.iov_len = (size_t)SSIZE_MAX;
    return sock_ret(do_send(fd, &v, 1, flags));
}

ssize_t tapir_write(int fd, const void *buf, size_t count)
{
    return tapir_send(fd, buf, count, 0);
}

ssize_t tapir_writev(int fd, const struct iovec *iov, int iovcnt)
{
    return sock_ret(do_send(fd, iov, iovcnt, 0));
}
