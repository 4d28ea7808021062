/* setsockopt / getsockopt. Values and errors follow Linux (socket(7),
 * tcp(7), ip(7)); the socket keeps its own copy so that getsockopt answers
 * and an accepted connection inherits the listener's options. */
#include <errno.h>
#include <string.h>
#include <sys/time.h>

#include "sock/runtime.h"
#include "sock/socket_internal.h"

void sock_opts_apply(struct tcp_conn *c, const struct sock_opts *o)
{
    tcp_set_reuseaddr(c, o->reuseaddr);
    tcp_set_nodelay(c, o->nodelay);
    if (o->keepidle || o->keepintvl || o->keepcnt)
        tcp_set_keepalive_params(c, TAPIR_SEC(o->keepidle), TAPIR_SEC(o->keepintvl), o->keepcnt);
    tcp_set_keepalive(c, o->keepalive);
    if (o->rcvbuf || o->sndbuf)
        tcp_set_bufsizes(c, o->sndbuf, o->rcvbuf);
    if (o->maxseg)
        tcp_set_maxseg(c, o->maxseg);
    if (o->user_timeout_ms)
        tcp_set_user_timeout(c, TAPIR_MSEC(o->user_timeout_ms));
    if (o->syncnt)
        tcp_set_syn_retries(c, o->syncnt);
    tcp_set_oobinline(c, o->oobinline);
    tcp_set_tos(c, o->ip_tos);
    tcp_set_ttl(c, o->ip_ttl);
    tcp_set_recverr(c, o->recverr);
}

static int get_int(const void *optval, socklen_t optlen, int *out)
{
    if (optlen < sizeof(int))
        return -EINVAL;
    if (!optval)
        return -EFAULT;
    memcpy(out, optval, sizeof *out);
    return 0;
}

static int get_timeval(const void *optval, socklen_t optlen, uint64_t *us)
{
    struct timeval tv;
    if (optlen < sizeof tv)
        return -EINVAL;
    if (!optval)
        return -EFAULT;
    memcpy(&tv, optval, sizeof tv);
    if (tv.tv_usec < 0 || tv.tv_usec >= 1000000)
        return -EDOM;
    if (tv.tv_sec < 0) {
        /* Linux: a negative timeout means "do not wait" (it warns); the
         * shortest wait we express is 1 us. */
        *us = 1;
        return 0;
    }
    *us = (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
    return 0;
}

/* The keepalive parameters as seconds, in the ranges Linux accepts. */
static int keep_param(int v, int max, uint32_t *out)
{
    if (v < 1 || v > max)
        return -EINVAL;
    *out = (uint32_t)v;
    return 0;
}

static int set_socket_level(struct tsock *so, int optname, const void *optval, socklen_t optlen)
{
    struct sock_opts *o = &so->opts;
    struct tcp_conn *c = so->conn;
    int v = 0, rc;
    switch (optname) {
    case SO_LINGER: {
        struct linger l;
        if (optlen < sizeof l)
            return -EINVAL;
        if (!optval)
            return -EFAULT;
        memcpy(&l, optval, sizeof l);
        o->linger.l_onoff = l.l_onoff != 0;
        o->linger.l_linger = l.l_linger < 0 ? 0 : l.l_linger;
        return 0;
    }
    case SO_RCVTIMEO:
        return get_timeval(optval, optlen, &o->rcvtimeo_us);
    case SO_SNDTIMEO:
        return get_timeval(optval, optlen, &o->sndtimeo_us);
    case SO_REUSEADDR:
    case SO_KEEPALIVE:
    case SO_RCVBUF:
    case SO_SNDBUF:
    case SO_OOBINLINE:
        break;
    default:
        return -ENOPROTOOPT;   /* includes the read-only SO_ERROR, SO_TYPE ... */
    }
    if ((rc = get_int(optval, optlen, &v)) < 0)
        return rc;
    switch (optname) {
    case SO_REUSEADDR:
        o->reuseaddr = v != 0;
        return tcp_set_reuseaddr(c, o->reuseaddr);
    case SO_KEEPALIVE:
        o->keepalive = v != 0;
        return tcp_set_keepalive(c, o->keepalive);
    case SO_OOBINLINE:
        o->oobinline = v != 0;
        tcp_set_oobinline(c, o->oobinline);
        return 0;
    case SO_RCVBUF:
    case SO_SNDBUF: {
        /* Linux clamps rather than refuses, and never fails: a floor of a
         * few segments, a ceiling of 64 MiB. The core will not shrink a
         * receive buffer it has announced a window from; the value then
         * stays as it was (what getsockopt reports). */
        uint32_t n = v < 2048 ? 2048u : (uint32_t)v > (64u << 20) ? 64u << 20 : (uint32_t)v;
        bool rcv = optname == SO_RCVBUF;
        if (tcp_set_bufsizes(c, rcv ? 0 : n, rcv ? n : 0) == 0) {
            if (rcv)
                o->rcvbuf = n;
            else
                o->sndbuf = n;
        }
        return 0;
    }
    }
    return -ENOPROTOOPT;
}

/* TCP_CONGESTION takes a name, not an int: as Linux, at most 15 characters
 * are read and the buffer need not be NUL-terminated. */
static int set_congestion(struct tcp_conn *c, const void *optval, socklen_t optlen)
{
    char name[16];
    if (!optval || optlen == 0)
        return -EINVAL;
    size_t n = optlen < sizeof name - 1 ? optlen : sizeof name - 1;
    memcpy(name, optval, n);
    name[n] = '\0';
    return tcp_set_congestion(c, name);
}

static int set_tcp_level(struct tsock *so, int optname, const void *optval, socklen_t optlen)
{
    struct sock_opts *o = &so->opts;
    struct tcp_conn *c = so->conn;
    int v, rc;
    if (optname == TCP_CONGESTION)
        return set_congestion(c, optval, optlen);
    switch (optname) {
    case TCP_NODELAY:
    case TCP_MAXSEG:
    case TCP_KEEPIDLE:
    case TCP_KEEPINTVL:
    case TCP_KEEPCNT:
    case TCP_USER_TIMEOUT:
    case TCP_SYNCNT:
        break;
    default:
        return -ENOPROTOOPT;
    }
    if ((rc = get_int(optval, optlen, &v)) < 0)
        return rc;
    const struct tapir_config *cfg = tapir_stack_config(so->stack);
    switch (optname) {
    case TCP_NODELAY:
        o->nodelay = v != 0;
        return tcp_set_nodelay(c, o->nodelay);
    case TCP_MAXSEG:
        /* Linux: 0 restores the default; else 88 (TCP_MIN_MSS) .. 65535. */
        if (v != 0 && (v < 88 || v > 65535))
            return -EINVAL;
        /* As Linux, accepted in any state; it shapes the MSS we announce,
         * so after the handshake it has no effect. */
        o->maxseg = (uint16_t)v;
        if (v)
            tcp_set_maxseg(c, (uint16_t)v);
        return 0;
    case TCP_USER_TIMEOUT:
        /* RFC 9293 3.8.3 (d), MUST-21: the application sets R2 for this
         * connection, in milliseconds (0: the stack's retry counts). As
         * Linux: negative is EINVAL, any state is fine. */
        if (v < 0)
            return -EINVAL;
        o->user_timeout_ms = (uint32_t)v;
        return tcp_set_user_timeout(c, TAPIR_MSEC((uint32_t)v));
    case TCP_SYNCNT:
        /* As Linux: 1..127 (MAX_TCP_SYNCNT), else EINVAL. */
        if (v < 1 || v > 127)
            return -EINVAL;
        o->syncnt = (uint8_t)v;
        return tcp_set_syn_retries(c, (uint32_t)v);
    case TCP_KEEPIDLE:
        rc = keep_param(v, 32767, &o->keepidle);
        break;
    case TCP_KEEPINTVL:
        rc = keep_param(v, 32767, &o->keepintvl);
        break;
    case TCP_KEEPCNT:
        rc = keep_param(v, 127, &o->keepcnt);
        break;
    }
    if (rc < 0)
        return rc;
    uint32_t idle = o->keepidle ? o->keepidle : (uint32_t)(cfg->keepalive_idle / 1000000u);
    uint32_t intvl = o->keepintvl ? o->keepintvl : (uint32_t)(cfg->keepalive_intvl / 1000000u);
    uint32_t cnt = o->keepcnt ? o->keepcnt : cfg->keepalive_cnt;
    return tcp_set_keepalive_params(c, TAPIR_SEC(idle), TAPIR_SEC(intvl), cnt);
}

/* IPPROTO_IP options take an int or, as on Linux, a single byte (an
 * optlen of 1 to 3 reads one unsigned char). Nothing at all is EINVAL. */
static int get_ip_int(const void *optval, socklen_t optlen, int *out)
{
    if (optlen < 1)
        return -EINVAL;
    if (!optval)
        return -EFAULT;
    if (optlen >= sizeof(int)) {
        memcpy(out, optval, sizeof *out);
    } else {
        unsigned char b;
        memcpy(&b, optval, 1);
        *out = b;
    }
    return 0;
}

/* IPPROTO_IP (ip(7)): the TOS byte and TTL of what the connection sends
 * (RFC 9293 3.9.1.9, MUST-48, SHLD-21, SHLD-22), and IP_RECVERR, whether
 * soft errors are reported at once (3.9.1.8, MUST-47, SHLD-20). */
static int set_ip_level(struct tsock *so, int optname, const void *optval, socklen_t optlen)
{
    struct sock_opts *o = &so->opts;
    struct tcp_conn *c = so->conn;
    int v, rc;
    switch (optname) {
    case IP_TOS:
    case IP_TTL:
    case IP_RECVERR:
        break;
    default:
        return -ENOPROTOOPT;
    }
    if ((rc = get_ip_int(optval, optlen, &v)) < 0)
        return rc;
    switch (optname) {
    case IP_TOS:
        /* As Linux: the low byte; for TCP the ECN bits stay the stack's
         * (tcp_set_tos clears them), so getsockopt shows them clear. */
        tcp_set_tos(c, (uint8_t)v);
        o->ip_tos = tcp_get_tos(c);
        return 0;
    case IP_TTL:
        /* As Linux: 1..255, or -1 for the default. */
        if (v != -1 && (v < 1 || v > 255))
            return -EINVAL;
        o->ip_ttl = v == -1 ? 0 : (uint8_t)v;
        return tcp_set_ttl(c, o->ip_ttl);
    case IP_RECVERR:
        o->recverr = v != 0;
        return tcp_set_recverr(c, o->recverr);
    }
    return -ENOPROTOOPT;
}

int tapir_setsockopt(int fd, int level, int optname, const void *optval, socklen_t optlen)
{
    struct tsock *so;
    int rc = sock_enter(fd, &so);
    if (rc < 0)
        return (int)sock_ret(rc);
    if (level == SOL_SOCKET)
        rc = set_socket_level(so, optname, optval, optlen);
    else if (level == IPPROTO_TCP)
        rc = set_tcp_level(so, optname, optval, optlen);
    else if (level == IPPROTO_IP)
        rc = set_ip_level(so, optname, optval, optlen);
    else
        rc = -ENOPROTOOPT;
    sock_leave(so, true);
    return (int)sock_ret(rc);
}

/* Copy a value out, truncated to the caller's length (as Linux does). */
static int put_val(void *optval, socklen_t *optlen, const void *val, size_t size)
{
    if (!optlen)
        return -EFAULT;
    size_t n = *optlen < size ? *optlen : size;
    if (n && !optval)
        return -EFAULT;
    if (n)
        memcpy(optval, val, n);
    *optlen = (socklen_t)n;
    return 0;
}

static int put_int(void *optval, socklen_t *optlen, int v)
{
    return put_val(optval, optlen, &v, sizeof v);
}

static int put_timeval(void *optval, socklen_t *optlen, uint64_t us)
{
    struct timeval tv = { .tv_sec = (time_t)(us / 1000000u), .tv_usec = (suseconds_t)(us % 1000000u) };
    return put_val(optval, optlen, &tv, sizeof tv);
}

static int get_socket_level(struct tsock *so, int optname, void *optval, socklen_t *optlen)
{
    const struct sock_opts *o = &so->opts;
    const struct tapir_config *cfg = tapir_stack_config(so->stack);
    switch (optname) {
    case SO_REUSEADDR: return put_int(optval, optlen, o->reuseaddr);
    case SO_KEEPALIVE: return put_int(optval, optlen, o->keepalive);
    case SO_OOBINLINE: return put_int(optval, optlen, o->oobinline);
    case SO_RCVBUF: return put_int(optval, optlen, (int)(o->rcvbuf ? o->rcvbuf : cfg->tcp_rcvbuf));
    case SO_SNDBUF: return put_int(optval, optlen, (int)(o->sndbuf ? o->sndbuf : cfg->tcp_sndbuf));
    case SO_LINGER: return put_val(optval, optlen, &o->linger, sizeof o->linger);
    case SO_RCVTIMEO: return put_timeval(optval, optlen, o->rcvtimeo_us);
    case SO_SNDTIMEO: return put_timeval(optval, optlen, o->sndtimeo_us);
    case SO_ERROR: return put_int(optval, optlen, -tcp_take_error(so->conn));
    case SO_TYPE: return put_int(optval, optlen, SOCK_STREAM);
    case SO_ACCEPTCONN: return put_int(optval, optlen, so->listening);
    case SO_DOMAIN: return put_int(optval, optlen, AF_INET);
    case SO_PROTOCOL: return put_int(optval, optlen, IPPROTO_TCP);
    }
    return -ENOPROTOOPT;
}

static int get_tcp_level(struct tsock *so, int optname, void *optval, socklen_t *optlen)
{
    const struct sock_opts *o = &so->opts;
    const struct tapir_config *cfg = tapir_stack_config(so->stack);
    struct tapir_tcp_info info;
    switch (optname) {
    case TCP_NODELAY:
        return put_int(optval, optlen, o->nodelay);
    case TCP_MAXSEG: {
        tcp_get_info(so->conn, &info);
        int mss = (int)info.snd_mss;
        if (!mss)
            mss = o->maxseg ? o->maxseg : 536;   /* Linux before a connection */
        return put_int(optval, optlen, mss);
    }
    case TCP_KEEPIDLE:
        return put_int(optval, optlen, (int)(o->keepidle ? o->keepidle : cfg->keepalive_idle / 1000000u));
    case TCP_KEEPINTVL:
        return put_int(optval, optlen, (int)(o->keepintvl ? o->keepintvl : cfg->keepalive_intvl / 1000000u));
    case TCP_KEEPCNT:
        return put_int(optval, optlen, (int)(o->keepcnt ? o->keepcnt : cfg->keepalive_cnt));
    case TCP_USER_TIMEOUT:
        return put_int(optval, optlen, (int)o->user_timeout_ms);
    case TCP_SYNCNT:
        return put_int(optval, optlen, (int)(o->syncnt ? o->syncnt : cfg->tcp_syn_retries));
    case TAPIR_TCP_INFO:
        tcp_get_info(so->conn, &info);
        return put_val(optval, optlen, &info, sizeof info);
    case TCP_CONGESTION: {
        /* As Linux: the name, NUL-padded, truncated to the caller's length. */
        char name[16] = {0};
        const char *cc = tcp_get_congestion(so->conn);
        strncpy(name, cc, sizeof name - 1);
        return put_val(optval, optlen, name, sizeof name);
    }
    }
    return -ENOPROTOOPT;
}

static int get_ip_level(struct tsock *so, int optname, void *optval, socklen_t *optlen)
{
    const struct sock_opts *o = &so->opts;
    const struct tapir_config *cfg = tapir_stack_config(so->stack);
    switch (optname) {
    case IP_TOS:
        return put_int(optval, optlen, o->ip_tos);
    case IP_TTL:
        /* As Linux: the TTL in use, the default when none was set. */
        return put_int(optval, optlen, o->ip_ttl ? o->ip_ttl : cfg->ip_ttl);
    case IP_RECVERR:
        return put_int(optval, optlen, o->recverr);
    }
    return -ENOPROTOOPT;
}

int tapir_getsockopt(int fd, int level, int optname, void *optval, socklen_t *optlen)
{
    struct tsock *so;
    int rc = sock_enter(fd, &so);
    if (rc < 0)
        return (int)sock_ret(rc);
    if (level == SOL_SOCKET)
        rc = get_socket_level(so, optname, optval, optlen);
    else if (level == IPPROTO_TCP)
        rc = get_tcp_level(so, optname, optval, optlen);
    else if (level == IPPROTO_IP)
        rc = get_ip_level(so, optname, optval, optlen);
    else
        rc = -EOPNOTSUPP;      /* what Linux answers for an unknown level */
    sock_leave(so, false);
    return (int)sock_ret(rc);
}
