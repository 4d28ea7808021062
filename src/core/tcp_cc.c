/* Congestion control: slow start and congestion avoidance (RFC 5681),
 * fast retransmit and NewReno fast recovery (RFC 6582). cwnd and ssthresh
 * are in bytes. */
#include "core/tcp_conn.h"

static uint32_t half_flight(const struct tcp_conn *c)
{
    uint32_t f = tcp_flight(c) / 2;
    return f > 2 * c->snd_mss ? f : 2 * c->snd_mss;   /* RFC 5681 eq. (4) */
}

void tcp_cc_init(struct tcp_conn *c)
{
    /* RFC 5681 3.1 initial window: min(4*SMSS, max(2*SMSS, 4380)). */
    uint32_t smss = c->snd_mss;
    uint32_t iw = 2 * smss > 4380 ? 2 * smss : 4380;
    if (iw > 4 * smss)
        iw = 4 * smss;
    c->cwnd = iw;
    c->ssthresh = 0x7fffffff;     /* "arbitrarily high" */
    c->dupacks = 0;
    c->in_recovery = false;
    c->recover = c->iss;
    c->bytes_acked_ca = 0;
}

/* New data acknowledged (acked bytes). Returns true when the ACK is a
 * partial ACK during recovery and the next hole must be resent now. */

bool tcp_cc_newack(struct tcp_conn *c, uint32_t acked, uint32_t ack)
{
    uint32_t smss = c->snd_mss;
    c->dupacks = 0;
    if (c->in_recovery) {
        if (seq_gt(ack, c->recover)) {
            /* Full ACK (RFC 6582 3.2 step 3): deflate and leave recovery. */
            uint32_t f = tcp_flight(c);
            uint32_t w = (f > smss ? f : smss) + smss;
            c->cwnd = w < c->ssthresh ? w : c->ssthresh;
            c->in_recovery = false;
            return false;
        }
        /* Partial ACK (step 4): resend the next hole, deflate by what was
         * acknowledged, add back one segment if at least one was. */
        c->cwnd = c->cwnd > acked ? c->cwnd - acked : smss;
        if (acked >= smss)
            c->cwnd += smss;
        return true;
    }
    if (c->cwnd < c->ssthresh) {
        c->cwnd += acked < smss ? acked : smss;      /* slow start, RFC 5681 eq. (2) */
    } else {
        c->bytes_acked_ca += acked;                  /* appropriate byte counting */
        if (c->bytes_acked_ca >= c->cwnd) {
            c->bytes_acked_ca -= c->cwnd;
            c->cwnd += smss;
        }
    }
    return false;
}

void tcp_cc_ack(struct tcp_conn *c, uint32_t acked)
{
    (void)tcp_cc_newack(c, acked, c->snd_una);
}

bool tcp_cc_dupack(struct tcp_conn *c)
{
    uint32_t smss = c->snd_mss;
    c->dupacks++;
    if (c->in_recovery) {
        c->cwnd += smss;           /* inflate for each segment that left the network */
        return false;
    }
    if (c->dupacks != 3)
        return false;
    /* RFC 6582 3.2 step 2: enter only when the ACK covers more than recover,
     * so that dupacks from an earlier episode do not start another. */
    if (!seq_gt(c->snd_una, c->recover) && c->recover != c->iss)
        return false;
    c->ssthresh = half_flight(c);
    c->recover = c->snd_max;
    c->cwnd = c->ssthresh + 3 * smss;
    c->in_recovery = true;
    c->s->stats.tcp_fast_retransmits++;
    return true;
}

void tcp_cc_timeout(struct tcp_conn *c)
{
    /* RFC 5681 eq. (4) and 3.1: loss window of one segment. */
    if (c->backoff <= 1)
        c->ssthresh = half_flight(c);
    c->cwnd = c->snd_mss;
    c->bytes_acked_ca = 0;
    c->dupacks = 0;
    c->in_recovery = false;
    c->recover = c->snd_max;       /* RFC 6582 4: no fast retransmit for old dupacks */
}
