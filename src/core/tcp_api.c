/* The calls the socket layer makes (tcp_api.h): OPEN, SEND, RECEIVE, CLOSE,
 * ABORT and STATUS of RFC 9293 3.10.1-3.10.6, with Linux's errno choices. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/ipv4.h"
#include "core/tcp_conn.h"
#include "core/tcp_urgent.h"

static inline uint32_t min_u32(uint32_t a, uint32_t b) { return a < b ? a : b; }

void tcp_clock(struct tapir_stack *s, tapir_time_t now)
{
    if (now > s->now)
        s->now = now;
}

struct tcp_conn *tcp_conn_new(struct tapir_stack *s, int *err)
{
    struct tcp_conn *c = tcp_conn_alloc(s, err);
    if (c)
        c->owned = true;
    return c;
}

/* The port rule. A port holds at most one listener. A port used by other
 * connections (in any state but LISTEN) is taken by a socket that sets
 * SO_REUSEADDR, which is how an application LISTENs on the local port of a
 * connection still in SYN-SENT or SYN-RECEIVED (RFC 9293 3.10.1, MUST-42):
 * the two never clash, since the connection is found by its full 4-tuple
 * first and the listener only gets SYNs from other remote sockets. Linux
 * asks for SO_REUSEADDR on both sockets; tapir only on the new one. */
int tcp_bind(struct tcp_conn *c, uint32_t ip, uint16_t port)
{
    struct tapir_stack *s = c->s;
    if (c->bound || c->state != TAPIR_TCP_CLOSED)
        return -EINVAL;
    if (ip != 0 && ip != s->ip)
        return -EADDRNOTAVAIL;
    if (port == 0) {
        int err = tcp_port_ephemeral(s, &port);
        if (err < 0)
            return err;
    } else {
        if (tcp_table_listener(s, s->ip, port))
            return -EADDRINUSE;
        if (tcp_port_in_use(s, port) && !c->reuseaddr)
            return -EADDRINUSE;
    }
    c->lip = ip;
    tcp_port_ref(c, port, false);
    return 0;
}

int tcp_listen(struct tcp_conn *c, int backlog)
{
    struct tapir_stack *s = c->s;
    uint32_t b = backlog < 1 ? 1u : (uint32_t)backlog;
    if (b > s->cfg.tcp_backlog_max)
        b = s->cfg.tcp_backlog_max;
    if (c->state == TAPIR_TCP_LISTEN) {
        c->backlog = b;
        return 0;
    }
    if (c->state != TAPIR_TCP_CLOSED || c->hashed)
        return -EINVAL;
    if (!c->bound) {
        int err = tcp_bind(c, 0, 0);
        if (err < 0)
            return err;
    } else if (tcp_table_listener(s, s->ip, c->lport)) {
        return -EADDRINUSE;
    }
    c->backlog = b;
    tcp_set_state(c, TAPIR_TCP_LISTEN, "listen() (passive OPEN)");
    tcp_table_listen(c);
    return 0;
}

int tcp_accept(struct tcp_conn *c, struct tcp_conn **out)
{
    if (c->state != TAPIR_TCP_LISTEN)
        return -EINVAL;
    struct tcp_conn *n = c->accq_head;
    if (!n)
        return -EAGAIN;
    c->accq_head = n->qnext;
    if (c->accq_head)
        c->accq_head->qprev = NULL;
    else
        c->accq_tail = NULL;
    c->accq_len--;
    n->qnext = n->qprev = NULL;
    n->in_accept_q = false;
    n->listener = NULL;
    n->owned = true;
    *out = n;
    return 0;
}

static void reset_for_open(struct tcp_conn *c)
{
    c->error = 0;
    c->soft_error = 0;
    c->fin_queued = c->fin_sent = c->fin_received = c->have_fin_seq = false;
    c->rd_shut = false;
    c->retries = c->backoff = 0;
}

static int start_active_open(struct tcp_conn *c, uint32_t ip, uint16_t port, const char *cause)
{
    struct tapir_stack *s = c->s;
    if (ip == 0 || port == 0)
        return -EINVAL;
    /* MUST-46: no OPEN to a broadcast or multicast address. */
    if (ip == 0xffffffffu || (ip & 0xf0000000u) == 0xe0000000u ||
        (s->netmask != 0xffffffffu && (ip & ~s->netmask) == ~s->netmask && (ip & s->netmask) == (s->ip & s->netmask)))
        return -ENETUNREACH;
    if (ipv4_route(s, ip) == 0)
        return -ENETUNREACH;
    if (!c->bound) {
        /* Never bound: a port shared with other destinations' connections
         * (tcp_port.c, RFC 6056). */
        uint16_t lport;
        int err = tcp_port_for_connect(s, s->ip, ip, port, &lport);
        if (err < 0)
            return err;
        tcp_port_ref(c, lport, true);
    }
    c->lip = s->ip;
    c->rip = ip;
    c->rport = port;
    if (tcp_table_hash(c) < 0)
        return -EADDRNOTAVAIL;
    reset_for_open(c);
    c->iss = tcp_isn(s, c->lip, c->lport, c->rip, c->rport);
    c->snd_una = c->snd_nxt = c->snd_max = c->iss;
    c->snd_wnd = 0;
    c->ws_ok = false;
    c->snd_wscale = 0;
    c->rcv_wscale = tcp_wscale_for(c->rcvbuf_max);
    tcp_ts_init(c);
    c->sack_ok = false;
    tcp_cc_init(c);
    tcp_set_state(c, TAPIR_TCP_SYN_SENT, cause);
    tcp_output(c);
    return -EINPROGRESS;
}

int tcp_connect(struct tcp_conn *c, uint32_t ip, uint16_t port)
{
    switch (c->state) {
    case TAPIR_TCP_LISTEN:
        return -EINVAL;
    case TAPIR_TCP_SYN_SENT:
    case TAPIR_TCP_SYN_RECEIVED:
        return -EALREADY;
    case TAPIR_TCP_CLOSED:
        if (c->ever_established || c->hashed)
            return -EISCONN;
        break;
    default:
        return -EISCONN;
    }
    return start_active_open(c, ip, port, "connect() (active OPEN), snd SYN");
}

int tcp_listen_connect(struct tcp_conn *c, uint32_t ip, uint16_t port)
{
    if (c->state != TAPIR_TCP_LISTEN || c->synq_len || c->accq_len)
        return -EINVAL;
    tcp_table_unlisten(c);
    int err = start_active_open(c, ip, port, "SEND in LISTEN, snd SYN");
    if (err != -EINPROGRESS)
        tcp_table_listen(c);
    return err;
}

static long send_queue(struct tcp_conn *c, const void *data, size_t len, bool urgent)
{
    if (c->error)
        return tcp_take_error(c);
    switch (c->state) {
    case TAPIR_TCP_ESTABLISHED:
    case TAPIR_TCP_CLOSE_WAIT:
        break;
    case TAPIR_TCP_SYN_SENT:
    case TAPIR_TCP_SYN_RECEIVED:
        return c->fin_queued ? -EPIPE : -EAGAIN;
    case TAPIR_TCP_CLOSED:
        return c->ever_established ? -EPIPE : -ENOTCONN;
    case TAPIR_TCP_LISTEN:
        return -ENOTCONN;
    default:
        return -EPIPE;
    }
    if (c->fin_queued)
        return -EPIPE;
    if (len == 0)
        return 0;
    uint32_t limit = tcp_sndbuf_limit(c);
    uint32_t space = limit > c->sndbuf.len ? limit - c->sndbuf.len : 0;
    if (space == 0)
        return -EAGAIN;
    uint32_t n = len > space ? space : (uint32_t)len;
    if (tcp_ring_reserve(&c->s->tcp->ring_spares, &c->sndbuf, c->sndbuf.len + n, c->sndbuf_max) < 0)
        return -ENOMEM;
    tcp_ring_write(&c->sndbuf, c->sndbuf.len, data, n);
    c->sndbuf.len += n;
    if (urgent)
        tcp_urg_mark_sent(c);
    tcp_output(c);
    tcp_reap(c->s);
    return n;
}

long tcp_send(struct tcp_conn *c, const void *data, size_t len)
{
    return send_queue(c, data, len, false);
}

long tcp_send_urgent(struct tcp_conn *c, const void *data, size_t len)
{
    return send_queue(c, data, len, true);
}

long tcp_recv(struct tcp_conn *c, void *buf, size_t len, bool peek)
{
    if (c->state == TAPIR_TCP_LISTEN)
        return -ENOTCONN;
    uint32_t avail = c->rcvbuf.len, skip = 0;
    if (c->urg_state != TCP_URG_NONE && len > 0)
        avail = tcp_urg_read_window(c, peek, &skip);    /* stops at the urgent mark */
    if (avail > 0 && len > 0) {
        uint32_t n = min_u32(avail, len > UINT32_MAX ? UINT32_MAX : (uint32_t)len);
        tcp_ring_read(&c->rcvbuf, skip, buf, n);
        if (!peek) {
            tcp_ring_consume(&c->rcvbuf, n);
            if (c->urg_state != TCP_URG_NONE)
                tcp_urg_after_read(c);
            if (c->rcvbuf.len == 0)
                tcp_ring_idle_check(c);
            /* Reading opened the window: tell the peer if it moved enough
             * (RFC 1122 4.2.3.3). */
            if (tcp_window_update_due(c))
                tcp_output(c);
        }
        return n;
    }
    if (c->error)
        return tcp_take_error(c);
    if (c->fin_received && len > 0 && !peek)
        c->fin_read = true;     /* the reader is past the FIN now (tcp_at_mark) */
    if (c->fin_received || c->rd_shut)
        return 0;
    if (c->state == TAPIR_TCP_CLOSED)
        return c->ever_established ? 0 : -ENOTCONN;
    if (len == 0)
        return 0;
    return -EAGAIN;
}

int tcp_shutdown(struct tcp_conn *c, bool rd, bool wr)
{
    switch (c->state) {
    case TAPIR_TCP_CLOSED:
    case TAPIR_TCP_LISTEN:
    case TAPIR_TCP_SYN_SENT:
        return -ENOTCONN;
    default:
        break;
    }
    if (rd)
        c->rd_shut = true;
    if (wr && !c->fin_queued) {
        c->fin_queued = true;
        if (c->state == TAPIR_TCP_ESTABLISHED || c->state == TAPIR_TCP_SYN_RECEIVED)
            tcp_set_state(c, TAPIR_TCP_FIN_WAIT_1, "shutdown(WR), snd FIN");
        else if (c->state == TAPIR_TCP_CLOSE_WAIT)
            tcp_set_state(c, TAPIR_TCP_LAST_ACK, "shutdown(WR), snd FIN");
        tcp_output(c);
    }
    tcp_notify(c);
    tcp_reap(c->s);
    return 0;
}

static void reset_children(struct tcp_conn *l)
{
    struct tcp_conn *heads[2] = {l->synq_head, l->accq_head};
    for (int i = 0; i < 2; i++) {
        struct tcp_conn *c = heads[i];
        while (c) {
            struct tcp_conn *next = c->qnext;
            tcp_send_rst_for(c);
            l->s->stats.tcp_aborts++;
            tcp_conn_closed(c, -ECONNRESET, "listener closed, snd RST");
            c = next;
        }
    }
}

static void abort_conn(struct tcp_conn *c, const char *cause)
{
    struct tapir_stack *s = c->s;
    if (tcp_synchronized(c->state) && c->state != TAPIR_TCP_TIME_WAIT)
        tcp_send_rst_for(c);
    s->stats.tcp_aborts++;
    tcp_conn_closed(c, 0, cause);
}

void tcp_close(struct tcp_conn *c)
{
    struct tapir_stack *s = c->s;
    c->owned = false;
    c->orphan = true;
    c->rd_shut = true;
    switch (c->state) {
    case TAPIR_TCP_LISTEN:
        reset_children(c);
        tcp_set_state(c, TAPIR_TCP_CLOSED, "close() (delete TCB)");
        tcp_conn_release(c);
        break;
    case TAPIR_TCP_CLOSED:
        tcp_conn_release(c);
        break;
    case TAPIR_TCP_SYN_SENT:
        tcp_conn_closed(c, 0, "close() (delete TCB)");
        break;
    default:
        if (c->rcvbuf.len > 0) {
            /* Unread data is lost: tell the peer with a RST (RFC 2525 2.17, as Linux). */
            abort_conn(c, "close() with unread data, snd RST");
            break;
        }
        tcp_ring_free(&c->s->tcp->ring_spares, &c->rcvbuf);
        /* Out-of-order data went with the ring: stop reporting it in SACK
         * blocks (RFC 2018 3, 8). */
        c->ooo_n = 0;
        c->ooo_bytes = 0;
        if (!c->fin_queued) {
            c->fin_queued = true;
            if (c->state == TAPIR_TCP_ESTABLISHED || c->state == TAPIR_TCP_SYN_RECEIVED)
                tcp_set_state(c, TAPIR_TCP_FIN_WAIT_1, "close(), snd FIN");
            else if (c->state == TAPIR_TCP_CLOSE_WAIT)
                tcp_set_state(c, TAPIR_TCP_LAST_ACK, "close(), snd FIN");
        }
        if (c->state == TAPIR_TCP_FIN_WAIT_2) {
            c->timewait_at = s->now + 2 * s->cfg.msl;   /* orphan FIN_WAIT_2 bound */
            tcp_timer_sync(c);
        }
        tcp_output(c);
        /* Closed in TIME_WAIT (after shutdown(SHUT_WR)): now an orphan,
         * it needs no more than a compact record (tcp_timewait.c). */
        tcp_tw_try_compact(c);
        break;
    }
    tcp_reap(s);
}

void tcp_abort(struct tcp_conn *c)
{
    c->owned = false;
    c->orphan = true;
    if (c->state == TAPIR_TCP_LISTEN) {
        tcp_close(c);
        return;
    }
    if (c->state == TAPIR_TCP_CLOSED)
        tcp_conn_release(c);
    else
        abort_conn(c, "abort(), snd RST");
    tcp_reap(c->s);
}

unsigned tcp_events(const struct tcp_conn *c)
{
    unsigned ev = 0;
    if (c->state == TAPIR_TCP_LISTEN)
        return c->accq_len ? TCP_EV_ACCEPTABLE : 0;
    if (c->error)
        ev |= TCP_EV_ERROR | TCP_EV_READABLE;
    if (tcp_urg_stream_len(c) > 0 || c->fin_received || c->rd_shut)
        ev |= TCP_EV_READABLE;
    ev |= tcp_urg_events(c);
    if (c->fin_received)
        ev |= TCP_EV_RDHUP;
    if (c->ever_established)
        ev |= TCP_EV_CONNECTED;
    if ((c->state == TAPIR_TCP_ESTABLISHED || c->state == TAPIR_TCP_CLOSE_WAIT) && !c->fin_queued &&
        c->sndbuf.len < tcp_sndbuf_limit(c))
        ev |= TCP_EV_WRITABLE;
    if (c->state == TAPIR_TCP_CLOSED && (c->ever_established || c->error))
        ev |= TCP_EV_HUP | TCP_EV_READABLE | TCP_EV_WRITABLE;
    if (c->fin_received && c->fin_queued)
        ev |= TCP_EV_HUP;
    return ev;
}

uint64_t tcp_progress(const struct tcp_conn *c)
{
    return c->bytes_received + (uint32_t)(c->snd_una - c->iss);
}

int tcp_take_error(struct tcp_conn *c)
{
    int e = c->error;
    c->error = 0;
    return e;
}

int tcp_local_addr(const struct tcp_conn *c, uint32_t *ip, uint16_t *port)
{
    *ip = c->lip;
    *port = c->bound ? c->lport : 0;
    return 0;
}

int tcp_peer_addr(const struct tcp_conn *c, uint32_t *ip, uint16_t *port)
{
    if (c->rip == 0 || c->state == TAPIR_TCP_LISTEN)
        return -ENOTCONN;
    *ip = c->rip;
    *port = c->rport;
    return 0;
}

enum tapir_tcp_state tcp_state(const struct tcp_conn *c)
{
    return c->state;
}

int tcp_set_nodelay(struct tcp_conn *c, bool on)
{
    c->nodelay = on;
    if (on)
        tcp_output(c);
    return 0;
}

int tcp_set_reuseaddr(struct tcp_conn *c, bool on)
{
    c->reuseaddr = on;
    return 0;
}

int tcp_set_keepalive(struct tcp_conn *c, bool on)
{
    c->keepalive = on;
    tcp_keepalive_reset(c);
    return 0;
}

int tcp_set_keepalive_params(struct tcp_conn *c, tapir_time_t idle, tapir_time_t intvl, uint32_t cnt)
{
    if ((idle && idle < TAPIR_SEC(1)) || (intvl && intvl < TAPIR_MSEC(1)))
        return -EINVAL;
    if (idle)
        c->ka_idle = idle;
    if (intvl)
        c->ka_intvl = intvl;
    if (cnt)
        c->ka_cnt = cnt;
    tcp_keepalive_reset(c);
    return 0;
}

int tcp_set_bufsizes(struct tcp_conn *c, uint32_t sndbuf, uint32_t rcvbuf)
{
    const uint32_t min = 2048, max = 64u << 20;
    if ((sndbuf && (sndbuf < min || sndbuf > max)) || (rcvbuf && (rcvbuf < min || rcvbuf > max)))
        return -EINVAL;
    if (sndbuf && sndbuf >= c->sndbuf.len) {
        c->sndbuf_max = sndbuf;
        c->snd_locked = true;       /* as Linux: a size set by hand is not tuned */
    }
    if (rcvbuf) {
        /* The receive buffer may only grow once a window was announced from it. */
        if (tcp_synchronized(c->state) && rcvbuf < c->rcvbuf_max)
            return -EINVAL;
        c->rcvbuf_max = rcvbuf;
        c->rcv_locked = true;
        c->rcv_target = rcvbuf;
    }
    return 0;
}

int tcp_set_maxseg(struct tcp_conn *c, uint16_t mss)
{
    if (mss < 88 || (c->state != TAPIR_TCP_CLOSED && c->state != TAPIR_TCP_LISTEN))
        return -EINVAL;
    uint32_t mtu_mss = c->s->mtu - 40;
    c->adv_mss = mss < mtu_mss ? mss : mtu_mss;
    return 0;
}

void tcp_get_info(const struct tcp_conn *c, struct tapir_tcp_info *o)
{
    memset(o, 0, sizeof *o);
    o->state = c->state;
    o->rtt_us = c->srtt;
    o->rttvar_us = c->rttvar;
    o->rto_us = (uint32_t)tcp_rto_current(c);
    o->snd_mss = c->snd_mss;
    o->rcv_mss = c->rcv_mss;
    o->cwnd = c->cwnd;
    o->ssthresh = c->ssthresh;
    o->snd_wnd = c->snd_wnd;
    o->rcv_wnd = seq_gt(c->rcv_adv, c->rcv_nxt) ? c->rcv_adv - c->rcv_nxt : 0;
    o->unacked = tcp_flight(c);
    o->retransmits = c->retries;
    o->total_retrans = c->total_retrans;
    o->bytes_sent = c->bytes_sent;
    o->bytes_received = c->bytes_received;
    snprintf(o->congestion, sizeof o->congestion, "%s", c->cc->name);
    o->options = (uint8_t)((c->ts_ok ? TAPIR_TCPI_OPT_TIMESTAMPS : 0) | (c->sack_ok ? TAPIR_TCPI_OPT_SACK : 0) |
                           (c->ws_ok ? TAPIR_TCPI_OPT_WSCALE : 0));
    o->snd_wscale = c->ws_ok ? c->snd_wscale : 0;
    o->rcv_wscale = c->ws_ok ? c->rcv_wscale : 0;
    o->sacked_bytes = tcp_sack_sacked_bytes(c);
    o->sndbuf_limit = tcp_sndbuf_limit(c);
    o->rcvwnd_limit = tcp_rcv_window_limit(c);
    o->sndbuf_alloc = c->sndbuf.cap;
    o->rcvbuf_alloc = c->rcvbuf.cap;
}

int tcp_set_congestion(struct tcp_conn *c, const char *name)
{
    const struct tcp_cc_ops *ops = tcp_cc_find(name);
    if (!ops)
        return -ENOENT;         /* as Linux's TCP_CONGESTION for an unknown name */
    if (ops == c->cc)
        return 0;
    /* Like Linux: the window the connection has stays; only the new
     * algorithm's own state starts afresh. */
    c->cc = ops;
    c->cc->reset(c);
    return 0;
}

const char *tcp_get_congestion(const struct tcp_conn *c)
{
    return c->cc->name;
}

int tcp_set_user_timeout(struct tcp_conn *c, tapir_time_t timeout)
{
    c->user_timeout = timeout;
    return 0;
}

tapir_time_t tcp_get_user_timeout(const struct tcp_conn *c)
{
    return c->user_timeout;
}

int tcp_set_syn_retries(struct tcp_conn *c, uint32_t retries)
{
    if (retries > UINT8_MAX)
        return -EINVAL;
    c->syn_retries = (uint8_t)retries;
    return 0;
}

uint32_t tcp_get_syn_retries(const struct tcp_conn *c)
{
    return c->syn_retries ? c->syn_retries : c->s->cfg.tcp_syn_retries;
}

/* The two low bits of the TOS byte are the ECN field (RFC 3168 5). */
#define IP_TOS_ECN_MASK 0x03u

int tcp_set_tos(struct tcp_conn *c, uint8_t tos)
{
    c->ip_tos = (uint8_t)(tos & ~IP_TOS_ECN_MASK);
    return 0;
}

uint8_t tcp_get_tos(const struct tcp_conn *c)
{
    return c->ip_tos;
}

int tcp_set_ttl(struct tcp_conn *c, uint32_t ttl)
{
    if (ttl > UINT8_MAX)
        return -EINVAL;
    c->ip_ttl = (uint8_t)ttl;
    return 0;
}

uint8_t tcp_get_ttl(const struct tcp_conn *c)
{
    return c->ip_ttl ? c->ip_ttl : c->s->cfg.ip_ttl;
}

int tcp_set_recverr(struct tcp_conn *c, bool on)
{
    c->recverr = on;
    return 0;
}

bool tcp_get_recverr(const struct tcp_conn *c)
{
    return c->recverr;
}
