/* TCP timers, all absolute deadlines in the connection: retransmission
 * (RFC 6298), delayed ACK (RFC 1122 4.2.3.2), persist (RFC 9293 3.8.6.1),
 * keepalive (RFC 1122 4.2.3.6) and TIME_WAIT (RFC 9293 3.4.2, 2*MSL). */
#include <errno.h>

#include "core/arp.h"
#include "core/ipv4.h"
#include "core/tcp_conn.h"

/* The RTO with the current exponential backoff (RFC 6298 5.5), bounded. */
tapir_time_t tcp_rto_current(const struct tcp_conn *c)
{
    tapir_time_t t = c->rto;
    for (uint32_t i = 0; i < c->backoff && t < c->s->cfg.rto_max; i++)
        t *= 2;
    if (t > c->s->cfg.rto_max)
        t = c->s->cfg.rto_max;
    return t;
}

void tcp_rto_arm(struct tcp_conn *c)
{
    /* Armed outside a retransmission series (first data in flight, or an
     * ACK made progress): the wait for an acknowledgment starts now. */
    if (c->retries == 0)
        c->unacked_since = c->s->now;
    c->rto_at = c->s->now + tcp_rto_current(c);
    tcp_timer_sync(c);
}

/* RFC 6298 2.3: RTO = SRTT + max(G, K*RTTVAR), K = 4, G = 1 ms, kept
 * within [rto_min, rto_max]. */
static void rto_from_estimate(struct tcp_conn *c)
{
    uint64_t var4 = 4ull * c->rttvar;
    uint64_t rto = c->srtt + (var4 > 1000 ? var4 : 1000);
    if (rto < c->s->cfg.rto_min)
        rto = c->s->cfg.rto_min;
    if (rto > c->s->cfg.rto_max)
        rto = c->s->cfg.rto_max;
    c->rto = (uint32_t)rto;
}

/* RFC 6298 2.2-2.4 with K = 4, alpha = 1/8, beta = 1/4 and a clock
 * granularity G of 1 ms; the result is kept within [rto_min, rto_max]. */
void tcp_rtt_sample(struct tcp_conn *c, tapir_time_t rtt64)
{
    uint32_t r = rtt64 > 0x7fffffff ? 0x7fffffff : (uint32_t)rtt64;
    if (!c->rtt_valid) {
        c->srtt = r;
        c->rttvar = r / 2;
        c->rtt_valid = true;
    } else {
        uint32_t delta = c->srtt > r ? c->srtt - r : r - c->srtt;
        c->rttvar = c->rttvar - c->rttvar / 4 + delta / 4;
        c->srtt = c->srtt - c->srtt / 8 + r / 8;
    }
    rto_from_estimate(c);
}

void tcp_rtt_reinit_spurious(struct tcp_conn *c, uint32_t srtt_prev, uint32_t rttvar_prev, tapir_time_t sample)
{
    uint32_t r = sample > 0x7fffffff ? 0x7fffffff : (uint32_t)sample;
    c->srtt = srtt_prev > r ? srtt_prev : r;
    c->rttvar = rttvar_prev > r / 2 ? rttvar_prev : r / 2;
    c->rtt_valid = true;
    rto_from_estimate(c);
}

void tcp_keepalive_reset(struct tcp_conn *c)
{
    c->keepalive_probes = 0;
    tapir_time_t at = TAPIR_TIME_NEVER;
    if (c->keepalive && (c->state == TAPIR_TCP_ESTABLISHED || c->state == TAPIR_TCP_CLOSE_WAIT))
        at = c->s->now + c->ka_idle;
    if (at != c->keepalive_at) {
        c->keepalive_at = at;
        tcp_timer_sync(c);
    }
}

#define TCP_RING_IDLE TAPIR_SEC(1)

static bool ring_releasable(const struct tcp_conn *c)
{
    return (c->sndbuf.mem && c->sndbuf.len == 0) ||
           (c->rcvbuf.mem && c->rcvbuf.len == 0 && c->ooo_n == 0);
}

void tcp_ring_idle_check(struct tcp_conn *c)
{
    if (c->idle_at == TAPIR_TIME_NEVER && ring_releasable(c)) {
        c->idle_at = c->s->now + TCP_RING_IDLE;
        tcp_timer_sync(c);
    }
}

static void idle_expired(struct tcp_conn *c)
{
    c->idle_at = TAPIR_TIME_NEVER;
    if (c->sndbuf.mem && c->sndbuf.len == 0)
        tcp_ring_free(&c->s->tcp->ring_spares, &c->sndbuf);
    if (c->rcvbuf.mem && c->rcvbuf.len == 0 && c->ooo_n == 0)
        tcp_ring_free(&c->s->tcp->ring_spares, &c->rcvbuf);
}

void tcp_enter_time_wait(struct tcp_conn *c, const char *cause)
{
    tcp_set_state(c, TAPIR_TCP_TIME_WAIT, cause);
    /* TIME_WAIT keeps only the sequence state: no buffers, no other timers. */
    c->rto_at = c->persist_at = c->keepalive_at = c->delack_at = c->idle_at = TAPIR_TIME_NEVER;
    c->timewait_at = c->s->now + 2 * c->s->cfg.msl;
    tcp_ring_free(&c->s->tcp->ring_spares, &c->sndbuf);
    c->ooo_n = 0;
    c->ooo_bytes = 0;
    if (c->rcvbuf.len == 0 || c->orphan)
        tcp_ring_free(&c->s->tcp->ring_spares, &c->rcvbuf);
    tcp_timer_sync(c);
}

/* RFC 9293 3.8.3 (b), SHLD-10: after R1 = 3 retransmissions of the same
 * segment, pass negative advice to the IP layer. */
#define TCP_R1_RETRANSMISSIONS 3u

/* Negative advice (RFC 1122 3.3.1.4): the path to the peer may be dead, so
 * have the link layer re-check the next hop (the gateway when the peer is
 * off-link) instead of trusting its cached address. Once per series: the
 * caller runs it when retries reaches R1, and retries restarts from 0 only
 * when an ACK makes progress. */
static void negative_advice(struct tcp_conn *c)
{
    struct tapir_stack *s = c->s;
    uint32_t nexthop = ipv4_route(s, c->rip);
    if (nexthop == 0)
        return;
    s->stats.tcp_negative_advice++;
    arp_negative_advice(s, nexthop);
}

/* R2 (RFC 9293 3.8.3 (c), (d)): give up now? With a per-connection user
 * timeout (TCP_USER_TIMEOUT, MUST-21) R2 is a time: as Linux, the
 * connection is closed once its oldest unacknowledged data has waited that
 * long, whatever the count. Otherwise R2 is a count of retransmissions:
 * TCP_SYNCNT or cfg.tcp_syn_retries for a SYN (MUST-23: the default gives
 * well over 3 minutes), cfg.tcp_max_retries for data. */
static bool r2_reached(const struct tcp_conn *c, bool handshake)
{
    const struct tapir_stack *s = c->s;
    if (c->user_timeout)
        return s->now - c->unacked_since >= c->user_timeout;
    uint32_t limit = handshake ? (c->syn_retries ? c->syn_retries : s->cfg.tcp_syn_retries)
                               : s->cfg.tcp_max_retries;
    return c->retries >= limit;
}

/* With a user timeout the next expiry comes no later than the moment it
 * runs out, so the abort happens then and not up to an RTO later (as
 * Linux's tcp_clamp_rto_to_user_timeout). */
static void clamp_to_user_timeout(struct tcp_conn *c, tapir_time_t since, tapir_time_t *at)
{
    if (!c->user_timeout || *at == TAPIR_TIME_NEVER)
        return;
    tapir_time_t end = since + c->user_timeout;
    if (end < *at) {
        *at = end > c->s->now ? end : c->s->now + 1;
        tcp_timer_sync(c);
    }
}

static void user_timeout_abort(struct tcp_conn *c, const char *cause)
{
    struct tapir_stack *s = c->s;
    s->stats.tcp_user_timeouts++;
    s->stats.tcp_timeouts++;
    s->stats.tcp_aborts++;
    int err = c->soft_error ? c->soft_error : -ETIMEDOUT;
    if (c->state != TAPIR_TCP_SYN_SENT)
        tcp_send_rst_for(c);
    tcp_conn_closed(c, err, cause);
}

/* The retransmission timer expired (RFC 6298 5.4-5.7, RFC 5681 3.1). */
static void rto_expired(struct tcp_conn *c)
{
    struct tapir_stack *s = c->s;
    c->rto_at = TAPIR_TIME_NEVER;
    bool handshake = c->state == TAPIR_TCP_SYN_SENT || c->state == TAPIR_TCP_SYN_RECEIVED;
    if (!handshake && c->snd_wnd == 0 && c->sndbuf.len > 0 && c->syn_acked) {
        /* The peer closed its window while data was in flight: what is
         * left is probing, not loss, and a window may stay zero for ever
         * (MUST-37). Go back to snd_una and let the persist timer probe. */
        c->snd_nxt = c->snd_una;
        c->rtt_timing = false;
        tcp_timer_sync(c);
        tcp_output(c);
        return;
    }
    if (c->user_timeout && r2_reached(c, handshake)) {
        user_timeout_abort(c, "user timeout (TCP_USER_TIMEOUT)");
        return;
    }
    if (r2_reached(c, handshake)) {
        s->stats.tcp_timeouts++;
        s->stats.tcp_aborts++;
        int err = c->soft_error ? c->soft_error : -ETIMEDOUT;
        if (c->state != TAPIR_TCP_SYN_SENT)
            tcp_send_rst_for(c);
        tcp_conn_closed(c, err, "retransmission limit");
        return;
    }
    s->stats.tcp_rto_expired++;
    c->retries++;
    c->backoff++;
    c->rtt_timing = false;          /* Karn: never time a retransmitted segment */
    if (!handshake)
        tcp_cc_timeout(c);
    if (c->retries == TCP_R1_RETRANSMISSIONS) {
        negative_advice(c);         /* before the resend, which then goes to the re-checked hop */
        /* SHLD-9 (3.8.3 (e)): tell the application R1 is reached, as a
         * soft error (with IP_RECVERR; retries == R1 holds once per series,
         * so once per crossing). The connection goes on until R2. */
        tcp_report_soft_error(c, -ETIMEDOUT);
    }
    c->snd_nxt = c->snd_una;        /* go back: resend from the first unacknowledged */
    tcp_rto_arm(c);
    clamp_to_user_timeout(c, c->unacked_since, &c->rto_at);
    tcp_output(c);
}

static void persist_expired(struct tcp_conn *c)
{
    c->persist_at = TAPIR_TIME_NEVER;
    tcp_timer_sync(c);
    if (tcp_unsent(c) == 0 || tcp_flight(c) != 0)
        return;
    if (c->snd_wnd == 0) {
        /* TCP_USER_TIMEOUT covers data held back by a zero window too (as
         * Linux): probing that has gone on that long ends the connection,
         * even though the probes are answered. Without one, a window may
         * stay zero for ever (MUST-37). */
        if (c->persist_backoff == 0)
            c->probe_since = c->s->now;
        else if (c->user_timeout && c->s->now - c->probe_since >= c->user_timeout) {
            user_timeout_abort(c, "user timeout (TCP_USER_TIMEOUT) while probing a zero window");
            return;
        }
        /* Zero-window probe: one byte past the window; its ACK (with a
         * window) is acceptable because snd_max covers it. */
        tcp_send_segment(c, c->snd_nxt, TCP_ACK, 1, false);
        c->probe_out = true;
        c->persist_backoff++;
    } else {
        /* SWS override (RFC 1122 4.2.3.4): send what the window allows. */
        uint32_t len = tcp_unsent(c);
        if (len > c->snd_wnd)
            len = c->snd_wnd;
        if (len > c->snd_mss)
            len = c->snd_mss;
        tcp_send_segment(c, c->snd_nxt, TCP_ACK | TCP_PSH, len, false);
        c->bytes_sent += len;
        c->snd_nxt += len;
        c->snd_max = seq_max(c->snd_max, c->snd_nxt);
        tcp_rto_arm(c);
        c->persist_backoff = 0;
    }
    tcp_output(c);
    if (c->snd_wnd == 0 && c->persist_backoff > 0)
        clamp_to_user_timeout(c, c->probe_since, &c->persist_at);
}

static void keepalive_expired(struct tcp_conn *c)
{
    c->keepalive_at = TAPIR_TIME_NEVER;
    if (c->keepalive_probes >= c->ka_cnt) {
        c->s->stats.tcp_aborts++;
        c->s->stats.tcp_timeouts++;
        tcp_send_rst_for(c);
        tcp_conn_closed(c, -ETIMEDOUT, "keepalive timeout");
        return;
    }
    /* RFC 1122 4.2.3.6: a segment with SEG.SEQ = SND.NXT-1 and no data
     * makes the peer answer with an ACK. */
    tcp_send_segment(c, c->snd_max - 1, TCP_ACK, 0, false);
    c->keepalive_probes++;
    c->keepalive_at = c->s->now + c->ka_intvl;
    tcp_timer_sync(c);
}

void tcp_timer_fire(struct tcp_conn *c, tapir_time_t now)
{
    if (c->timewait_at <= now) {
        c->timewait_at = TAPIR_TIME_NEVER;
        if (c->state == TAPIR_TCP_TIME_WAIT) {
            tcp_conn_closed(c, 0, TCP_CAUSE_2MSL);
            return;
        }
        if (c->state == TAPIR_TCP_FIN_WAIT_2 && c->orphan) {
            /* An orphan in FIN_WAIT_2 whose peer never closes. */
            tcp_conn_closed(c, 0, "FIN_WAIT_2 timer");
            return;
        }
    }
    if (c->rto_at <= now) {
        rto_expired(c);
        if (c->freed || c->state == TAPIR_TCP_CLOSED)
            return;
    }
    if (c->persist_at <= now) {
        persist_expired(c);
        if (c->freed || c->state == TAPIR_TCP_CLOSED)
            return;
    }
    if (c->keepalive_at <= now) {
        keepalive_expired(c);
        if (c->freed || c->state == TAPIR_TCP_CLOSED)
            return;
    }
    if (c->idle_at <= now)
        idle_expired(c);
    if (c->delack_at <= now) {
        c->delack_at = TAPIR_TIME_NEVER;
        c->ack_now = true;
        tcp_output(c);
    }
    tcp_timer_sync(c);
    tcp_notify(c);
}
