/* tapir — the BSD-like socket API.
 *
 * The calls take the same arguments as their POSIX namesakes and return -1
 * with errno set as Linux does in the same situation, so a program written
 * for the kernel's sockets ports by adding the tapir_ prefix:
 *
 *     int l = tapir_socket(AF_INET, SOCK_STREAM, 0);
 *     struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(7) };
 *     tapir_bind(l, (struct sockaddr *)&a, sizeof a);
 *     tapir_listen(l, 16);
 *     int c = tapir_accept(l, NULL, NULL);
 *     ... tapir_read(c, ...), tapir_write(c, ...), tapir_close(c) ...
 *
 * Descriptors. tapir descriptors are small integers like kernel ones but are
 * drawn from their own table starting at TAPIR_FD_BASE (1 << 20), far above
 * any kernel descriptor, so both kinds can sit in one struct pollfd array
 * (tapir_poll) and never collide. They are unique across all stacks of the
 * process; the lowest free one is handed out first. At the table's limit
 * (tapir_socket_set_limit, default 65536) tapir_socket/tapir_accept fail
 * with EMFILE (and tapir_socket with ENFILE at the stack's connection
 * limit, tcp_max_connections). An unknown descriptor gives EBADF. They are not kernel
 * descriptors: do not pass them to read(2)/close(2) and do not pass kernel
 * descriptors to tapir_read/tapir_close (EBADF).
 *
 * Stacks. tapir_socket() opens a socket on the process's default stack (the
 * first one started with tapir_stack_start, or the one given to
 * tapir_set_default_stack); tapir_socket_on() picks a stack explicitly. With
 * no stack running, tapir_socket() fails with ENETDOWN.
 *
 * Signals. tapir never raises SIGPIPE: writing to a connection that is shut
 * down or reset fails with EPIPE as if MSG_NOSIGNAL were always given.
 *
 * Blocking. Sockets block by default; SOCK_NONBLOCK, fcntl(O_NONBLOCK) or
 * MSG_DONTWAIT make a call fail with EAGAIN instead of waiting. Waits honour
 * SO_RCVTIMEO (read family, accept) and SO_SNDTIMEO (write family, connect):
 * a timed-out read/write/accept fails with EAGAIN, a timed-out connect with
 * EINPROGRESS (both as Linux). A blocking write returns once everything is
 * queued, or early with the count queued so far if an error or timeout
 * interrupts it.
 *
 * Threads. All calls are thread-safe; many threads may use different
 * sockets (or one socket) at once. A call blocked on a socket returns when
 * another thread closes it (EBADF), or when its stack is stopped
 * (ECONNABORTED; every later call but tapir_close gives ECONNABORTED too,
 * tapir_close frees the descriptor).
 *
 * Urgent data (RFC 9293 3.8.5) as Linux: tapir_send(fd, buf, len, MSG_OOB)
 * sends buf and marks its last byte urgent (the urgent pointer points after
 * it). On the receiving side the urgent byte is taken out of the stream
 * and held aside (one byte at a time; a newer urgent byte replaces an
 * unread older one, which then reads as data), ordinary reads stop at the
 * mark (tapir_ioctl SIOCATMARK tells when the reader is there), and
 * tapir_recv(fd, &c, 1, MSG_OOB) (MSG_PEEK to leave it) returns it: EINVAL
 * if there is none, it was read already (or read past) or SO_OOBINLINE is
 * set, EAGAIN if announced but not yet arrived (it never waits), ENOTCONN
 * on a listener. With SO_OOBINLINE the byte stays in the stream. tapir_poll
 * reports POLLPRI while an urgent byte is held unread; there is no SIGURG.
 *
 * Differences from Linux, all deliberate and small: only AF_INET
 * SOCK_STREAM (SOCK_DGRAM/SOCK_RAW give EPROTONOSUPPORT); SO_RCVBUF and
 * SO_SNDBUF are taken as given (Linux doubles them); no SIGURG;
 * O_ASYNC/signal-driven I/O is not offered.
 */
#ifndef TAPIR_SOCKET_H
#define TAPIR_SOCKET_H

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "tapir/tapir.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The first tapir descriptor. */
#define TAPIR_FD_BASE (1 << 20)

/* getsockopt(fd, IPPROTO_TCP, TAPIR_TCP_INFO, &struct tapir_tcp_info, &len):
 * the connection's state, RTT, RTO, window and retransmission counters
 * (struct tapir_tcp_info in tapir/tapir.h). A number of its own so that it
 * is never mistaken for the kernel's TCP_INFO and its struct tcp_info. */
#define TAPIR_TCP_INFO 0x7a01

int tapir_socket(int domain, int type, int protocol);
int tapir_socket_on(tapir_stack *stack, int domain, int type, int protocol);
int tapir_bind(int fd, const struct sockaddr *addr, socklen_t addrlen);
int tapir_listen(int fd, int backlog);
int tapir_accept(int fd, struct sockaddr *addr, socklen_t *addrlen);
/* flags: SOCK_NONBLOCK (and SOCK_CLOEXEC, accepted and meaningless). */
int tapir_accept4(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags);
int tapir_connect(int fd, const struct sockaddr *addr, socklen_t addrlen);

ssize_t tapir_read(int fd, void *buf, size_t count);
ssize_t tapir_write(int fd, const void *buf, size_t count);
/* flags: MSG_PEEK, MSG_DONTWAIT, MSG_WAITALL, MSG_OOB, MSG_ERRQUEUE (recv:
 * always EAGAIN, see IP_RECVERR); MSG_DONTWAIT,
 * MSG_NOSIGNAL, MSG_MORE, MSG_OOB (send; MSG_MORE is accepted and
 * ignored). See "Urgent data" above for MSG_OOB. */
ssize_t tapir_recv(int fd, void *buf, size_t len, int flags);
ssize_t tapir_send(int fd, const void *buf, size_t len, int flags);
ssize_t tapir_readv(int fd, const struct iovec *iov, int iovcnt);
ssize_t tapir_writev(int fd, const struct iovec *iov, int iovcnt);

int tapir_shutdown(int fd, int how);
int tapir_close(int fd);

int tapir_getsockname(int fd, struct sockaddr *addr, socklen_t *addrlen);
int tapir_getpeername(int fd, struct sockaddr *addr, socklen_t *addrlen);
/* SOL_SOCKET: SO_REUSEADDR, SO_KEEPALIVE, SO_RCVBUF, SO_SNDBUF, SO_LINGER,
 *   SO_RCVTIMEO, SO_SNDTIMEO, SO_OOBINLINE (inherited by accepted
 *   sockets); get only: SO_ERROR, SO_TYPE, SO_ACCEPTCONN,
 *   SO_DOMAIN, SO_PROTOCOL.
 * IPPROTO_TCP: TCP_NODELAY, TCP_MAXSEG (88..65535), TCP_KEEPIDLE (s),
 *   TCP_KEEPINTVL (s), TCP_KEEPCNT, TCP_CONGESTION ("cubic" (the default),
 *   "reno" or "newreno"; ENOENT for another name), TCP_USER_TIMEOUT (ms:
 *   the connection is aborted with ETIMEDOUT once sent data has waited that
 *   long for an acknowledgment or a zero window has been probed that long,
 *   checked when the retransmission/persist timer fires; 0 (the default):
 *   the retry counts decide; negative: EINVAL; RFC 9293 MUST-21),
 *   TCP_SYNCNT (SYN retransmissions, 1..127, else EINVAL; default
 *   tcp_syn_retries); get only: TAPIR_TCP_INFO.
 * IPPROTO_IP (an int, or as Linux a single byte; inherited by accepted
 *   sockets; any state, effective from the next segment sent):
 *   IP_TOS: the TOS (Differentiated Services) byte of every IPv4 header
 *   the connection sends (SYN, data, ACKs, FIN, its RSTs,
 *   retransmissions, probes; RFC 9293 MUST-48), default 0; the two ECN
 *   bits are kept clear (tapir does no ECN) and getsockopt shows them so.
 *   IP_TTL: 1..255, or -1 for the stack's ip_ttl (else EINVAL); getsockopt
 *   returns the TTL in use.
 *   IP_RECVERR (default 0): when set, a soft error is reported at once,
 *   not only when the connection later times out (RFC 9293 MUST-47,
 *   SHLD-9): an ICMP destination unreachable that does not abort (network
 *   or host unreachable: ENETUNREACH, EHOSTUNREACH) and ETIMEDOUT when a
 *   segment's retransmissions reach R1 (3). Once the connection is
 *   established the error becomes the pending one: the next read or write
 *   fails with it once (a blocking call that already moved bytes returns
 *   its count first), SO_ERROR returns and clears it, tapir_poll reports
 *   POLLERR while it is pending; the connection goes on. There is no
 *   error queue: recv(MSG_ERRQUEUE) always fails with EAGAIN.
 *   Another IPPROTO_IP option: ENOPROTOOPT.
 * SO_LINGER {1, 0}: close() resets the connection (RST). {1, n>0}: close()
 * waits up to n seconds for the queued data to be sent and acknowledged,
 * then returns 0 and the close goes on in the background (as Linux). */
int tapir_setsockopt(int fd, int level, int optname, const void *optval, socklen_t optlen);
int tapir_getsockopt(int fd, int level, int optname, void *optval, socklen_t *optlen);
/* F_GETFL / F_SETFL (O_NONBLOCK), F_GETFD / F_SETFD (accepted, no effect). */
int tapir_fcntl(int fd, int cmd, ...);
/* ioctl(2) on a tapir socket; the argument is an int * for every request:
 *   SIOCATMARK          1 if the next byte read is the urgent mark, else 0
 *   FIONREAD (SIOCINQ)  bytes readable now, up to the urgent mark (0 at the
 *                       mark, as Linux); EINVAL on a listener
 *   TIOCOUTQ (SIOCOUTQ) bytes sent or queued and not yet acknowledged
 *                       (a SYN or FIN waiting for its ACK counts one, as
 *                       Linux); EINVAL on a listener
 *   FIONBIO             non-zero: non-blocking; zero: blocking
 * Another request: ENOTTY. Unknown descriptor: EBADF. NULL argument: EFAULT. */
int tapir_ioctl(int fd, unsigned long request, ...);

/* poll(2) over tapir descriptors and ordinary kernel descriptors at once.
 * For tapir descriptors: POLLIN (data, EOF, error, or a connection to
 * accept), POLLOUT, POLLPRI (an urgent byte waits for recv(MSG_OOB)),
 * POLLRDHUP (peer sent FIN), POLLHUP (both directions
 * done, reset, or never connected), POLLERR (SO_ERROR pending), POLLNVAL
 * (unknown descriptor); POLLRDNORM/POLLWRNORM mirror POLLIN/POLLOUT. */
int tapir_poll(struct pollfd *fds, nfds_t nfds, int timeout);

/* epoll(7) over tapir sockets and kernel descriptors at once.
 *
 * An instance keeps its interest list between calls and a ready list that
 * the stack fills as sockets change, so a wait costs what became ready, not
 * what is registered: the call for servers with many connections (tapir_poll
 * looks at every descriptor of its set on every call).
 *
 * - tapir_epoll_create1(flags): flags 0 or EPOLL_CLOEXEC (accepted, nothing
 *   to do), else EINVAL. The descriptor is a tapir one, from its own range
 *   (TAPIR_EPOLL_FD_BASE up); close it with tapir_close. tapir_epoll_create
 *   takes a size > 0 (EINVAL otherwise) and ignores it, as Linux does.
 * - tapir_epoll_ctl(epfd, op, fd, event): EPOLL_CTL_ADD/MOD/DEL of a tapir
 *   socket or a kernel descriptor (the latter go to a kernel epoll instance
 *   inside, with their errors: EPERM for a regular file, ...). Events:
 *   EPOLLIN, EPOLLOUT, EPOLLPRI, EPOLLRDHUP (and the RDNORM/WRNORM forms)
 *   with the meanings of tapir_poll; EPOLLERR and EPOLLHUP are always
 *   reported; EPOLLET (edge-triggered: reported once per change) and
 *   EPOLLONESHOT (reported once, then disabled until EPOLL_CTL_MOD).
 *   EPOLLEXCLUSIVE and EPOLLWAKEUP are accepted and have no effect.
 *   Errors as Linux: EBADF (epfd or fd unknown), EINVAL (epfd not an epoll
 *   instance, fd == epfd, fd another tapir epoll instance: nesting is not
 *   supported, unknown op), EEXIST (ADD of a registered fd), ENOENT (MOD or
 *   DEL of an unregistered one), EFAULT (event NULL for ADD or MOD), ENOMEM.
 * - tapir_epoll_wait(epfd, events, maxevents, timeout): as epoll_wait(2);
 *   EINVAL for maxevents <= 0, EFAULT for events NULL, EBADF/EINVAL for
 *   epfd. Level-triggered registrations that are still ready go to the back
 *   of the ready list when reported, so a maxevents smaller than the ready
 *   set serves them in turn. With every registered socket on one stack, the
 *   waiting thread drives that stack's device itself (as tapir_poll and
 *   blocking calls do; see README, caller-driven mode).
 * - Closing a registered socket (tapir_close) removes its registration, as
 *   closing a file does in Linux; its descriptor number may then be
 *   registered again for whatever socket gets it next.
 * - An epoll instance cannot itself be polled (tapir_poll reports POLLNVAL)
 *   or registered in another. */
#define TAPIR_EPOLL_FD_BASE (1 << 30)
int tapir_epoll_create1(int flags);
int tapir_epoll_create(int size);
int tapir_epoll_ctl(int epfd, int op, int fd, struct epoll_event *event);
int tapir_epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout);

/* The most tapir descriptors open at once in this process (default 65536).
 * Lowering it below the number open is allowed: new ones then fail with
 * EMFILE until enough are closed. Returns 0, or -EINVAL for 0 or a limit
 * above TAPIR_EPOLL_FD_BASE - TAPIR_FD_BASE. */
int tapir_socket_set_limit(unsigned limit);
/* True if fd is a tapir descriptor that is open. */
int tapir_is_socket(int fd);
/* tapir_stack_set_state_hook for a stack whose thread runs (takes the
 * stack's lock around the change). */
void tapir_stack_hook_states(tapir_stack *s, tapir_state_hook fn, void *ctx);
/* The stack a descriptor lives on, NULL (EBADF) if unknown. */
tapir_stack *tapir_socket_stack(int fd);

#ifdef __cplusplus
}
#endif
#endif
