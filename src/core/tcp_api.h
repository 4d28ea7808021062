/* TCP: the calls the socket layer (src/sock) makes on connections.
 *
 * All calls run with the stack's lock held (src/sock) or from the caller's
 * own loop (tests); none blocks. They return 0 / a count, or a negative errno
 * chosen to be what Linux would report for the same situation, so the socket
 * layer can pass it through.
 *
 * Ownership: a connection created by tcp_conn_new() or returned by
 * tcp_accept() belongs to its owner until tcp_close()/tcp_abort(); after that
 * the core finishes the connection (FIN, TIME_WAIT ...) and frees it itself,
 * and the owner must not touch the pointer again.
 */
#ifndef TAPIR_CORE_TCP_API_H
#define TAPIR_CORE_TCP_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tapir/tapir.h"

struct tapir_stack;
struct tcp_conn;

/* Readiness bits reported by tcp_events() and to the notify callback. */
enum {
    TCP_EV_READABLE   = 1u << 0,  /* data, EOF (FIN received) or error to read */
    TCP_EV_WRITABLE   = 1u << 1,  /* send buffer has room (and connected) */
    TCP_EV_ACCEPTABLE = 1u << 2,  /* listener: a completed connection waits */
    TCP_EV_CONNECTED  = 1u << 3,  /* handshake completed */
    TCP_EV_RDHUP      = 1u << 4,  /* peer sent FIN */
    TCP_EV_HUP        = 1u << 5,  /* both directions finished, or reset */
    TCP_EV_ERROR      = 1u << 6,  /* an error is pending (tcp_take_error) */
    TCP_EV_URGENT     = 1u << 7,  /* an urgent byte is held, unread (POLLPRI) */
};

/* A count that moves whenever bytes arrive or bytes sent are acknowledged
 * (room to send): what an edge-triggered waiter (EPOLLET) must be told about
 * again even when the readiness bits stay the same. */
uint64_t tcp_progress(const struct tcp_conn *c);
/* Called (from inside input/poll/API calls) whenever a connection's readiness
 * may have changed; owner is what tcp_set_owner() stored. */
typedef void (*tcp_notify_fn)(void *owner, struct tcp_conn *c, unsigned events);
void tcp_set_notify(struct tapir_stack *s, tcp_notify_fn fn);
void tcp_set_owner(struct tcp_conn *c, void *owner);

/* The time of the API call about to be made (monotonic microseconds): the
 * socket layer calls between polls, so call this first (with the lock
 * held) or timers armed by the call would count from the last poll. Time
 * never goes back: an earlier value is ignored. */
void tcp_clock(struct tapir_stack *s, tapir_time_t now);

/* A new connection in CLOSED. NULL with *err = -EMFILE/-ENOMEM at the limit. */
struct tcp_conn *tcp_conn_new(struct tapir_stack *s, int *err);
/* ip 0 means our address; port 0 picks an ephemeral port.
 * -EINVAL already bound, -EADDRNOTAVAIL not our address, -EADDRINUSE. */
int tcp_bind(struct tcp_conn *c, uint32_t ip, uint16_t port);
/* -EINVAL if connected/connecting; binds an ephemeral port if unbound. */
int tcp_listen(struct tcp_conn *c, int backlog);
/* A completed connection: 0 and *out, -EAGAIN if none yet, -EINVAL if c is not listening. */
int tcp_accept(struct tcp_conn *c, struct tcp_conn **out);
/* Send a SYN: -EINPROGRESS on success (completion is reported by
 * TCP_EV_CONNECTED or an error). -EISCONN, -EALREADY, -ENETUNREACH,
 * -EADDRNOTAVAIL (no ephemeral port), -EINVAL (listening). */
int tcp_connect(struct tcp_conn *c, uint32_t ip, uint16_t port);
/* Queue up to len bytes: the count queued (maybe short), -EAGAIN if the
 * buffer is full, -EPIPE after shutdown(WR)/close or once the peer reset
 * (the reset itself is reported once as -ECONNRESET), -ENOTCONN before the
 * connection exists. SYN_SENT/SYN_RECEIVED: -EAGAIN (writers wait). */
long tcp_send(struct tcp_conn *c, const void *data, size_t len);
/* Take up to len bytes (peek leaves them): the count, 0 at EOF, -EAGAIN,
 * -ENOTCONN, or a pending error (-ECONNRESET, -ETIMEDOUT ...). */
long tcp_recv(struct tcp_conn *c, void *buf, size_t len, bool peek);

/* Urgent data (RFC 9293 3.8.5; tcp_urgent.h has the model), Linux's
 * semantics. tcp_send_urgent: tcp_send, then SND.UP is set after the last
 * byte queued (send(MSG_OOB); len 0 queues and marks nothing).
 * tcp_recv_urgent (recv(MSG_OOB), never blocks): 1 and the urgent byte
 * (peek leaves it), 0 if len is 0; -EINVAL if there is none, it was read
 * already or SO_OOBINLINE is on; -EAGAIN if announced but not arrived;
 * -ENOTCONN on a listener. Ordinary reads (tcp_recv) stop at the mark
 * and, without SO_OOBINLINE, step over the urgent byte. */
long tcp_send_urgent(struct tcp_conn *c, const void *data, size_t len);
long tcp_recv_urgent(struct tcp_conn *c, void *buf, size_t len, bool peek);
/* SO_OOBINLINE. */
void tcp_set_oobinline(struct tcp_conn *c, bool on);
bool tcp_get_oobinline(const struct tcp_conn *c);
/* SIOCATMARK: the next byte read is the urgent mark. */
bool tcp_at_mark(const struct tcp_conn *c);
/* SIOCINQ/FIONREAD: bytes readable up to the mark (Linux's tcp_inq);
 * -EINVAL on a listener. */
long tcp_inq(const struct tcp_conn *c);
/* SIOCOUTQ/TIOCOUTQ: bytes queued and not yet acknowledged (an unacked FIN
 * counts one, as Linux); -EINVAL on a listener. */
long tcp_outq(const struct tcp_conn *c);
/* shutdown(2): rd stops reading, wr sends FIN once queued data is out. -ENOTCONN. */
int tcp_shutdown(struct tcp_conn *c, bool rd, bool wr);
/* The owner lets go: graceful close (RFC 9293 3.10.4); if unread data
 * remains, a RST instead (as Linux). A listener resets its pending
 * connections. */
void tcp_close(struct tcp_conn *c);
/* The owner lets go with a RST (SO_LINGER with zero linger). */
void tcp_abort(struct tcp_conn *c);
/* The current readiness bits. */
unsigned tcp_events(const struct tcp_conn *c);
/* The pending error (negative errno), cleared: SO_ERROR. 0 if none. */
int tcp_take_error(struct tcp_conn *c);
int tcp_local_addr(const struct tcp_conn *c, uint32_t *ip, uint16_t *port);
int tcp_peer_addr(const struct tcp_conn *c, uint32_t *ip, uint16_t *port);
enum tapir_tcp_state tcp_state(const struct tcp_conn *c);

/* RFC 9293 3.10.2 SEND in LISTEN with a foreign socket given: the listener
 * becomes an active opener (LISTEN -> SYN_SENT). Not reachable through the
 * BSD API (connect() on a listener is EINVAL there); kept so the core has
 * every arc of Figure 5. -EINVAL if c is not an idle listener. */
int tcp_listen_connect(struct tcp_conn *c, uint32_t ip, uint16_t port);

/* Per-connection options (sockets' setsockopt). 0 or -EINVAL. */
int tcp_set_nodelay(struct tcp_conn *c, bool on);
int tcp_set_reuseaddr(struct tcp_conn *c, bool on);
int tcp_set_keepalive(struct tcp_conn *c, bool on);
int tcp_set_keepalive_params(struct tcp_conn *c, tapir_time_t idle, tapir_time_t intvl, uint32_t cnt);
int tcp_set_bufsizes(struct tcp_conn *c, uint32_t sndbuf, uint32_t rcvbuf);  /* 0 leaves one as is */
int tcp_set_maxseg(struct tcp_conn *c, uint16_t mss);
void tcp_get_info(const struct tcp_conn *c, struct tapir_tcp_info *out);
/* Congestion control of one connection (TCP_CONGESTION): "cubic" (RFC 9438,
 * the default of tapir_config.tcp_congestion) or "reno"/"newreno" (RFC
 * 5681, RFC 6582). Any state; a change keeps cwnd and ssthresh. 0, or
 * -ENOENT for an unknown name. A listener passes its choice to the
 * connections it accepts. */
int tcp_set_congestion(struct tcp_conn *c, const char *name);
/* The name of the algorithm in use ("cubic", "newreno"). */
const char *tcp_get_congestion(const struct tcp_conn *c);

/* R2 of one connection as a time (RFC 9293 3.8.3 (d), MUST-21; Linux's
 * TCP_USER_TIMEOUT): once transmitted data (or a SYN) has waited that long
 * for an acknowledgment, or a zero window has been probed that long, the
 * connection is aborted with ETIMEDOUT, checked when the retransmission
 * or persist timer fires. 0 restores the stack's retry counts. Any state. */
int tcp_set_user_timeout(struct tcp_conn *c, tapir_time_t timeout);
tapir_time_t tcp_get_user_timeout(const struct tcp_conn *c);
/* SYN retransmissions before ETIMEDOUT for this connection (TCP_SYNCNT),
 * 1..255; 0 restores cfg.tcp_syn_retries. -EINVAL above 255. */
int tcp_set_syn_retries(struct tcp_conn *c, uint32_t retries);
/* The count in use (cfg.tcp_syn_retries unless set). */
uint32_t tcp_get_syn_retries(const struct tcp_conn *c);

/* IP-level options of one connection (the socket layer's IPPROTO_IP
 * options; a listener passes them to the connections it creates, so the
 * SYN,ACK carries them too). Any state; a change applies from the next
 * segment sent (RFC 9293 3.9.1.9, SHLD-21).
 * tcp_set_tos: the Differentiated Services field (TOS byte) of every IPv4
 * header the connection sends (MUST-48, SHLD-22), RSTs included. tapir does
 * no ECN, so the two ECN bits (RFC 3168 5) are cleared, as Linux keeps
 * them out of a TCP application's hands; tcp_get_tos returns what is kept.
 * tcp_set_ttl: their TTL, 1..255, 0 for cfg.ip_ttl (-EINVAL above 255);
 * tcp_get_ttl: the TTL in use.
 * tcp_set_recverr: soft errors (ICMP destination unreachable that does not
 * abort, and R1 reached: ETIMEDOUT) become the pending error at once, once
 * the handshake is done (MUST-47, SHLD-9); off (the default, SHLD-20's
 * switch) they are kept only for a timeout. */
int tcp_set_tos(struct tcp_conn *c, uint8_t tos);
uint8_t tcp_get_tos(const struct tcp_conn *c);
int tcp_set_ttl(struct tcp_conn *c, uint32_t ttl);
uint8_t tcp_get_ttl(const struct tcp_conn *c);
int tcp_set_recverr(struct tcp_conn *c, bool on);
bool tcp_get_recverr(const struct tcp_conn *c);

#endif
