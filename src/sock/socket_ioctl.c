/* tapir_ioctl: the socket ioctls programs use on TCP sockets, with Linux's
 * answers and errors (tcp(7) "Ioctls", socket(7), ioctl_list(2)):
 *   SIOCATMARK           int: 1 when the next byte read is the urgent mark
 *   FIONREAD / SIOCINQ   int: bytes readable (up to the urgent mark); a
 *                        listener gives EINVAL
 *   TIOCOUTQ / SIOCOUTQ  int: bytes queued and not yet acknowledged; a
 *                        listener gives EINVAL
 *   FIONBIO              int: non-zero sets non-blocking, zero clears it
 * Unknown requests give ENOTTY (Linux turns its ENOIOCTLCMD into ENOTTY
 * for sockets), an unknown descriptor EBADF, a NULL argument EFAULT. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <sys/ioctl.h>

#include "sock/runtime.h"
#include "sock/socket_internal.h"

/* Linux's numbers, also when a libc header lacks the socket names. */
#ifndef SIOCATMARK
#define SIOCATMARK 0x8905
#endif

static int put_answer(void *arg, long v)
{
    if (v < 0)
        return (int)v;          /* as Linux: the error before the argument is looked at */
    if (!arg)
        return -EFAULT;
    int out = v > INT_MAX ? INT_MAX : (int)v;
    memcpy(arg, &out, sizeof out);
    return 0;
}

static int ioctl_locked(struct tsock *so, unsigned long request, void *arg)
{
    switch (request) {
    case SIOCATMARK:
        return put_answer(arg, tcp_at_mark(so->conn) ? 1 : 0);
    case FIONREAD:              /* == SIOCINQ */
        return put_answer(arg, so->listening ? -EINVAL : tcp_inq(so->conn));
    case TIOCOUTQ:              /* == SIOCOUTQ */
        return put_answer(arg, so->listening ? -EINVAL : tcp_outq(so->conn));
    case FIONBIO: {
        int on;
        if (!arg)
            return -EFAULT;
        memcpy(&on, arg, sizeof on);
        so->nonblock = on != 0;
        return 0;
    }
    }
    return -ENOTTY;
}

int tapir_ioctl(int fd, unsigned long request, ...)
{
    va_list ap;
    va_start(ap, request);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    struct tsock *so;
    int rc = sock_enter(fd, &so);
    if (rc < 0)
        return (int)sock_ret(rc);
    rc = ioctl_locked(so, request, arg);
    sock_leave(so, false);
    return (int)sock_ret(rc);
}
