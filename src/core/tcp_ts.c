/* TCP timestamps (RFC 7323 sections 3-5): the option is offered on our SYN
 * and used only when both SYNs carry it (3.2); TSval is a 1 ms clock (the
 * stack clock, s->now in microseconds, divided by 1000) plus a
 * per-connection offset (5.4: the clock must tick between 1 ms and 1 s for
 * PAWS; the offset keeps connections' clocks unrelated); TS.Recent and
 * Last.ACK.sent decide which TSval is echoed (4.3); RTT samples come from
 * TSecr on every ACK of new data (4.1, RFC 6298), also after a
 * retransmission, since the echo names the transmission that was acked;
 * PAWS (5.3) drops old duplicates and answers with an ACK. */
#include "core/tcp_conn.h"

/* 5.5: TS.Recent older than 24 days is not trusted any more (a 1 ms clock
 * wraps its sign bit in 24.8 days). */
#define TCP_PAWS_IDLE TAPIR_SEC(24ull * 24 * 3600)

void tcp_ts_init(struct tcp_conn *c)
{
    struct tcp_state *t = c->s->tcp;
    uint8_t msg[13];
    uint32_t a[3] = {c->lip, c->rip, (uint32_t)c->lport << 16 | c->rport};
    for (int i = 0; i < 3; i++) {
        msg[4 * i] = (uint8_t)(a[i] >> 24);
        msg[4 * i + 1] = (uint8_t)(a[i] >> 16);
        msg[4 * i + 2] = (uint8_t)(a[i] >> 8);
        msg[4 * i + 3] = (uint8_t)a[i];
    }
    msg[12] = 'T';      /* a different input than the ISN's */
    c->ts_offset = (uint32_t)tcp_siphash24(t->isn_k0, t->isn_k1, msg, sizeof msg);
    c->ts_ok = false;
    c->ts_recent_valid = false;
    c->ts_recent = 0;
    c->last_ack_sent = 0;
    c->ts_una_floor = tcp_ts_now(c);    /* nothing was sent before now */
}

/* Our timestamp clock (ms ticks plus the connection's offset) at time t. */
static uint32_t ts_at(const struct tcp_conn *c, tapir_time_t t)
{
    return (uint32_t)(t / 1000u) + c->ts_offset;
}

uint32_t tcp_ts_now(const struct tcp_conn *c)
{
    return ts_at(c, c->s->now);
}

static void set_recent(struct tcp_conn *c, uint32_t tsval)
{
    c->ts_recent = tsval;
    c->ts_recent_valid = true;
    c->ts_recent_age = c->s->now;
}

void tcp_ts_negotiate(struct tcp_conn *c, const struct tcp_seg *g)
{
    c->ts_ok = c->s->cfg.tcp_timestamps && g->has_ts;
    c->ts_recent_valid = false;
    if (c->ts_ok)
        set_recent(c, g->tsval);        /* 4.3 (2): the SYN's TSval is echoed first */
}

bool tcp_ts_accept(struct tcp_conn *c, const struct tcp_seg *g)
{
    struct tapir_stack *s = c->s;
    if (!c->ts_ok || (g->flags & TCP_RST))
        return true;        /* 3.2: a RST without TSopt is accepted; R1 skips RSTs */
    if (!g->has_ts) {
        /* 3.2: "If a non-<RST> segment is received without a TSopt, a TCP
         * SHOULD silently drop the segment." */
        stack_drop(s, TAPIR_DROP_TCP_NO_TIMESTAMP);
        return false;
    }
    if (c->ts_recent_valid && seq_lt(g->tsval, c->ts_recent)) {
        if (s->now - c->ts_recent_age > TCP_PAWS_IDLE) {
            /* 5.5: idle for more than 24 days: TS.Recent is invalid, the
             * segment passes and its timestamp becomes the new reference. */
            c->ts_recent_valid = false;
            return true;
        }
        /* R1: not acceptable: send an ACK and drop it. */
        stack_drop(s, TAPIR_DROP_TCP_PAWS);
        tcp_ack_unacceptable(c, g);
        return false;
    }
    return true;
}

void tcp_ts_update_recent(struct tcp_conn *c, const struct tcp_seg *g)
{
    if (!c->ts_ok || !g->has_ts)
        return;
    /* R3 / 4.3 (2): only a segment at or below Last.ACK.sent may set
     * TS.Recent, so a delayed ACK echoes the earliest unacknowledged
     * segment and out-of-order data does not advance it. */
    if ((!c->ts_recent_valid || seq_geq(g->tsval, c->ts_recent)) && seq_leq(g->seq, c->last_ack_sent))
        set_recent(c, g->tsval);
}

bool tcp_ts_rtt(struct tcp_conn *c, const struct tcp_seg *g)
{
    if (!c->ts_ok || !g->has_ts || g->tsecr == 0)
        return false;
    uint32_t ticks = tcp_ts_now(c) - g->tsecr;
    /* An echo from the future or older than the longest plausible RTT is
     * not ours (a forged or confused peer): no sample. */
    if (ticks > 0x7fffffffu || (tapir_time_t)ticks * 1000u > c->s->cfg.rto_max)
        return false;
    /* Nor is one older than the first sending of the byte at snd_una. The
     * receiver echoes TS.Recent, which to acknowledge anything past
     * snd_una it must have taken from a segment that carried its next
     * expected byte, itself at or past snd_una (4.3): sent no earlier than
     * that byte was first. A forged old echo would otherwise pass as an
     * RTT of seconds and raise the RTO with it. */
    if ((int32_t)(g->tsecr - c->ts_una_floor) < 0) {
        c->s->stats.tcp_rtt_ts_rejected++;
        return false;
    }
    c->s->stats.tcp_rtt_ts_samples++;
    /* With 1 ms ticks a sample of 0 means "under a millisecond"; RFC 6298's
     * clock granularity G = 1 ms in the RTO covers the rounding. */
    tcp_rtt_sample(c, (tapir_time_t)ticks * 1000u);
    return true;
}

void tcp_ts_sent(struct tcp_conn *c, const struct tcp_seg *g)
{
    /* Nothing outstanding and this segment opens new sequence space: it is
     * the first sending of the byte that will be at snd_una. */
    bool takes_space = g->len > 0 || (g->flags & (TCP_SYN | TCP_FIN));
    if (g->has_ts && takes_space && g->seq == c->snd_una && g->seq == c->snd_max)
        c->ts_una_floor = g->tsval;
}

void tcp_ts_una_sent_at(struct tcp_conn *c, tapir_time_t sent)
{
    uint32_t ts = ts_at(c, sent);
    if ((int32_t)(ts - c->ts_una_floor) > 0)
        c->ts_una_floor = ts;
}

void tcp_ts_fill(struct tcp_conn *c, struct tcp_seg *g, bool syn)
{
    bool send;
    if (syn)
        send = c->state == TAPIR_TCP_SYN_SENT ? c->s->cfg.tcp_timestamps : c->ts_ok;
    else
        send = c->ts_ok;
    if (!send)
        return;
    g->has_ts = true;
    g->tsval = tcp_ts_now(c);
    /* 3.2: TSecr is zero on a SYN (no ACK); otherwise TS.Recent. */
    g->tsecr = (g->flags & TCP_ACK) && c->ts_recent_valid ? c->ts_recent : 0;
}
