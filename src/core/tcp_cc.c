/* Congestion control, the shared part: initial window, slow start (RFC
 * 5681), fast retransmit and NewReno fast recovery (RFC 6582) for
 * connections without SACK, the RTO response, and the NewReno algorithm
 * itself (congestion avoidance by appropriate byte counting, ssthresh =
 * FlightSize / 2). The algorithm in c->cc (this file's NewReno or CUBIC in
 * tcp_cc_cubic.c) decides growth in congestion avoidance and the reduction
 * on a loss; SACK-based recovery (RFC 6675) is in tcp_sack.c. A fast
 * retransmit and the first RTO of a series first call tcp_undo_begin(),
 * so that tcp_undo.c can put cwnd, ssthresh and the algorithm's state
 * (cc->undo) back if the retransmission proves spurious.
 * cwnd and ssthresh are in bytes. */
#include <string.h>

#include "core/tcp_conn.h"

uint32_t tcp_cc_flight_size(const struct tcp_conn *c)
{
    /* RFC 5681 3.2 step 2: "When [RFC3042] is in use, additional data
     * sent in limited transmit MUST NOT be included in this calculation."
     * The segments sent on the first two duplicate ACKs neither raise
     * cwnd nor the ssthresh computed on the third (nor that of a timeout
     * that comes before any ACK of new data: they were sent on no cwnd). */
    uint32_t flight = c->snd_max - c->snd_una;
    return flight > c->limited_tx_bytes ? flight - c->limited_tx_bytes : 0;
}

/* ---- Limited Transmit (RFC 3042) ---------------------------------------- */

uint32_t tcp_cc_limited_transmit_room(const struct tcp_conn *c)
{
    /* RFC 3042 2 / RFC 5681 3.2: on the first and second duplicate ACKs,
     * outside loss recovery (which has its own rules), a segment of
     * previously unsent data may go if the receiver's window allows (the
     * caller's bound) and "the amount of outstanding data would remain less
     * than or equal to the congestion window plus 2 segments". Allowing
     * cwnd + DupAcks * SMSS sends one segment per duplicate ACK when cwnd
     * is full. cwnd itself "MUST NOT be changed". Only new data: after a
     * timeout snd_nxt is below snd_max (go-back-N) and nothing is new. */
    if (!c->s->cfg.tcp_limited_transmit || c->in_recovery || c->dupacks == 0 || c->dupacks >= TCP_DUPTHRESH ||
        c->snd_nxt != c->snd_max || !c->syn_acked)
        return 0;
    uint32_t smss = c->snd_mss;
    uint32_t flight = c->snd_max - c->snd_una;
    uint64_t limit = (uint64_t)c->cwnd + (uint64_t)c->dupacks * smss;
    uint32_t room = limit > flight ? (uint32_t)(limit - flight) : 0;
    if (c->sack_ok) {
        /* RFC 6675 5 step (3): with SACK, "the number of octets which may
         * be sent is governed by pipe and cwnd": (3.3) while cwnd - pipe
         * >= 1 SMSS, up to 1 SMSS of new data. DupAcks only counts ACKs
         * that SACK new data (tcp_sack_on_ack), so an ACK without new SACK
         * information never opens this (RFC 3042 2, the note on SACK). */
        uint32_t pipe = tcp_sack_pipe(c);
        if (pipe >= c->cwnd || c->cwnd - pipe < smss)
            return 0;
        if (c->cwnd - pipe < room)
            room = c->cwnd - pipe;
    }
    return room;
}

void tcp_cc_limited_transmit_sent(struct tcp_conn *c, uint32_t bytes_beyond_cwnd, uint32_t segs)
{
    c->limited_tx_bytes += bytes_beyond_cwnd;
    c->s->stats.tcp_limited_transmits += segs;
}

/* ---- NewReno ------------------------------------------------------------- */

static void newreno_reset(struct tcp_conn *c)
{
    c->bytes_acked_ca = 0;
}

static void newreno_cong_avoid(struct tcp_conn *c, uint32_t acked)
{
    /* RFC 5681 3.1, appropriate byte counting: one SMSS per cwnd acked. */
    c->bytes_acked_ca += acked;
    if (c->bytes_acked_ca >= c->cwnd) {
        c->bytes_acked_ca -= c->cwnd;
        c->cwnd += c->snd_mss;
    }
}

static uint32_t newreno_on_loss(struct tcp_conn *c, bool timeout)
{
    (void)timeout;
    uint32_t f = tcp_cc_flight_size(c) / 2;
    return f > 2 * c->snd_mss ? f : 2 * c->snd_mss;   /* RFC 5681 eq. (4) */
}

static void newreno_undo(struct tcp_conn *c)
{
    /* NewReno has no state of its own beyond cwnd and ssthresh, which
     * tcp_undo.c restores; the byte counter starts afresh. */
    c->bytes_acked_ca = 0;
}

const struct tcp_cc_ops tcp_cc_newreno_ops = {
    .name = "newreno",
    .reset = newreno_reset,
    .cong_avoid = newreno_cong_avoid,
    .on_loss = newreno_on_loss,
    .undo = newreno_undo,
};

const struct tcp_cc_ops *tcp_cc_find(const char *name)
{
    if (!name)
        return NULL;
    if (strcmp(name, "cubic") == 0)
        return &tcp_cc_cubic_ops;
    if (strcmp(name, "newreno") == 0 || strcmp(name, "reno") == 0)
        return &tcp_cc_newreno_ops;
    return NULL;
}

/* ---- shared machinery ---------------------------------------------------- */

uint32_t tcp_cc_initial_window(const struct tcp_conn *c)
{
    /* RFC 5681 3.1 initial window: min(4*SMSS, max(2*SMSS, 4380)). */
    uint32_t smss = c->snd_mss;
    uint32_t iw = 2 * smss > 4380 ? 2 * smss : 4380;
    return iw > 4 * smss ? 4 * smss : iw;
}

void tcp_cc_init(struct tcp_conn *c)
{
    if (!c->cc)
        c->cc = &tcp_cc_cubic_ops;
    c->cwnd = tcp_cc_initial_window(c);
    c->ssthresh = 0x7fffffff;     /* "arbitrarily high" */
    c->dupacks = 0;
    c->limited_tx_bytes = 0;
    c->in_recovery = false;
    c->recover = c->iss;
    c->recovery_timer_reset = false;
    c->bytes_acked_ca = 0;
    c->high_rxt = c->iss;
    c->sb_n = 0;
    tcp_undo_cancel(c);
    c->cc->reset(c);
}

void tcp_cc_slow_start(struct tcp_conn *c, uint32_t acked)
{
    uint32_t smss = c->snd_mss;
    /* RFC 5681 eq. (2) counts at most one SMSS per ACK. A TSO frame of
     * tens of segments is acknowledged by one ACK (the receiver got it
     * whole), so cap by the segments it covered instead (RFC 3465 counts
     * bytes for such stretch ACKs), or slow start would grow linearly. */
    uint32_t cap = stack_tso_ok(c->s) ? acked : smss;
    c->cwnd += acked < cap ? acked : cap;
}

/* New data acknowledged (acked bytes). Returns true when the ACK is a
 * partial ACK during NewReno recovery and the next hole must be resent. */
bool tcp_cc_newack(struct tcp_conn *c, uint32_t acked, uint32_t ack)
{
    uint32_t smss = c->snd_mss;
    c->dupacks = 0;
    c->limited_tx_bytes = 0;        /* acknowledged data: an episode ends */
    if (c->in_recovery) {
        /* recover is snd_max at the start: an ACK reaching it covers
         * everything outstanding then ("all of the data up to and
         * including recover", RFC 6582 3.2 step 3). */
        if (seq_geq(ack, c->recover)) {
            /* Full ACK: deflate and leave recovery (option 2 of step 3). */
            uint32_t f = tcp_flight(c);
            uint32_t w = (f > smss ? f : smss) + smss;
            c->cwnd = w < c->ssthresh ? w : c->ssthresh;
            c->in_recovery = false;
            c->bytes_acked_ca = 0;
            return false;
        }
        /* Partial ACK (also step 3): resend the next hole, deflate by what
         * was acknowledged, add back one segment if at least one was. */
        c->cwnd = c->cwnd > acked ? c->cwnd - acked : smss;
        if (acked >= smss)
            c->cwnd += smss;
        return true;
    }
    /* recover stays where the last recovery or timeout put it (ISS if none).
     * Sequence numbers compare modulo 2^32 (RFC 9293 3.4): 2^31 bytes later
     * an old recover reads as ahead of snd_una, and the guards against a
     * second reduction (RFC 6582 3.2 step 2, tcp_cc_dupack; RFC 6675 5.1,
     * tcp_sack_maybe_enter_recovery) would refuse fast retransmit for the
     * next 2^31 bytes. Drag it along once it is behind: ack - 1 passes both
     * guards as the old value did, and is never dragged past ack - 1. */
    if (seq_lt(c->recover, ack - 1))
        c->recover = ack - 1;
    /* Grow only while cwnd limits the sender (RFC 7661 section 4; Linux's
     * tcp_is_cwnd_limited): a window the sender does not fill says nothing
     * about what the path can carry. Without this, a connection limited by
     * the receive window grew cwnd without bound (1 GB after 3 GiB sent)
     * towards the wrap of its 32 bits. In slow start the window counts as
     * used when half of it was in flight, as cwnd doubles per round trip. */
    uint64_t flight_before = (uint64_t)tcp_cc_flight_size(c) + acked;
    bool cwnd_limited = c->cwnd < c->ssthresh ? 2 * flight_before >= c->cwnd
                                              : flight_before + smss >= c->cwnd;
    if (!cwnd_limited)
        return false;
    if (c->cwnd < c->ssthresh)
        tcp_cc_slow_start(c, acked);
    else
        c->cc->cong_avoid(c, acked);
    if (c->cwnd > TCP_CWND_MAX)
        c->cwnd = TCP_CWND_MAX;
    return false;
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
     * so that dupacks from an earlier episode do not start another. The
     * RFC's recover is the highest sequence number sent, and "covers more"
     * is ack - 1 > recover (section 4); ours is one past it (snd_max), so
     * an ACK equal to it does not cover more. That is the case after a
     * timeout: go-back-N resends segments the receiver already holds, and
     * once the ACK reaches the old snd_max each of them still in flight
     * returns a duplicate ACK for it; those must not halve ssthresh again. */
    if (seq_leq(c->snd_una, c->recover))
        return false;
    tcp_undo_begin(c, false);                   /* before the reduction: RFC 3522, RFC 4015 */
    c->ssthresh = c->cc->on_loss(c, false);     /* without Limited Transmit's bytes */
    c->limited_tx_bytes = 0;
    c->recover = c->snd_max;
    c->cwnd = c->ssthresh + 3 * smss;
    c->in_recovery = true;
    c->recovery_timer_reset = false;
    c->s->stats.tcp_fast_retransmits++;
    return true;
}

/* RFC 6582 3.2 step 3: "for the first partial ACK that arrives during fast
 * recovery, also reset the retransmit timer", and section 4: this is the
 * "Impatient" variant, which resets it for no later partial ACK. It
 * overrides RFC 6298 5.3 (restart the timer on every ACK of new data) while
 * NewReno recovers: without SACK one hole is repaired per round trip, so
 * with many losses in one window restarting on each partial ACK ("Slow-but-
 * Steady") crawls through them for as many round trips; letting the timer
 * run out instead ends recovery with an RTO and go-back-N after about one
 * RTO. SACK recovery (RFC 6675) repairs all holes in one round trip and is
 * not concerned. The full ACK that ends recovery restarts the timer as
 * usual. */
bool tcp_cc_partial_ack_restarts_timer(struct tcp_conn *c)
{
    if (c->recovery_timer_reset)
        return false;
    c->recovery_timer_reset = true;
    return true;
}

void tcp_cc_timeout(struct tcp_conn *c)
{
    /* RFC 5681 eq. (4) and 3.1 (RFC 9438 4.8 for CUBIC's ssthresh): loss
     * window of one segment. Only the first timeout of a series reduces
     * ssthresh (later ones would halve the already-collapsed flight). */
    if (c->backoff <= 1) {
        tcp_undo_begin(c, true);    /* RFC 4015 3.1: before cwnd and ssthresh change */
        c->ssthresh = c->cc->on_loss(c, true);
    } else {
        /* A second timeout in a row: the first was no spurious one that a
         * late ACK could reveal; stay conservative and undo nothing. */
        tcp_undo_cancel(c);
    }
    c->cwnd = c->snd_mss;
    c->bytes_acked_ca = 0;
    c->dupacks = 0;
    c->limited_tx_bytes = 0;
    c->in_recovery = false;
    c->recovery_timer_reset = false;
    /* RFC 6582 3.2 step 4, RFC 6675 5.1: no recovery for old data. */
    c->recover = c->snd_max;
    tcp_sack_timeout(c);
}
