/* Spurious retransmissions: detect them and undo the congestion response.
 *
 * A fast retransmit (RFC 5681 3.2, RFC 6582, RFC 6675) or a retransmission
 * timeout (RFC 6298 5.5, RFC 5681 3.1) reduces cwnd and ssthresh. When
 * the path only reordered segments by more than DupThresh, or an RTO fired
 * because the RTT jumped, the original segment arrives after all and the
 * reduction cost throughput for nothing. An "episode" starts where the
 * reduction is made (tcp_cc_dupack, tcp_sack_maybe_enter_recovery,
 * tcp_cc_timeout call tcp_undo_begin() first) and saves what it changes.
 *
 * Detection, two ways:
 * - Eifel (RFC 3522 3.2), with timestamps: the TSval of the episode's first
 *   retransmission is RetransmitTS (step (2)); the first acceptable ACK
 *   afterwards (one that acknowledges new data, step (3)) decides: if its
 *   TSecr is older than RetransmitTS (seq-style comparison of the 32-bit
 *   clock), it was sent for the original, and the retransmission was
 *   spurious (steps (4), (5)). Otherwise (or without TSopt, or with a TSecr
 *   of 0, which tcp_ts.c does not trust either) nothing is decided. With a
 *   1 ms clock a retransmission sent in the same tick as its original
 *   carries the same TSval and is never found spurious: Eifel errs on the
 *   safe side only.
 * - D-SACK (RFC 3708 3), with SACK: the episode keeps the ranges it
 *   retransmits (up to TCP_UNDO_RXT_MAX; beyond, it cannot be undone this
 *   way); each D-SACK block (RFC 2883 4.1, recognised in tcp_sack_update)
 *   that covers one not yet reported marks it, one retransmission per
 *   block, so that a repeated report does not count for another. Once the
 *   cumulative ACK has passed the recovery point (the recovery is over)
 *   and every retransmission came back as a duplicate, both copies of each
 *   reached the receiver: all were spurious. This also runs with
 *   timestamps when Eifel found nothing (a retransmission overtaking its
 *   reordered original, or the same clock tick). Only fast retransmits use
 *   it: an RTO's response (below) must come on the first ACK.
 *   Kept conservative (RFC 3708 3, 4): an episode with a retransmission
 *   that is never D-SACKed (a lost ACK, a receiver that sends no D-SACK,
 *   a D-SACK crowded out of a full segment) is never undone; an RTO cancels
 *   a pending one. A path that duplicates packets can still fake it (RFC
 *   3708 4 names the case): a D-SACK for an original that the network
 *   duplicated looks the same as one for the retransmission.
 *
 * Response:
 * - a spurious fast retransmit (RFC 9438 4.9.2, in the spirit of RFC 4015,
 *   whose own text covers timeouts): leave recovery; if cwnd (ssthresh
 *   while in recovery: its inflation is no window) is below the one saved,
 *   restore cwnd, ssthresh and the algorithm's own state (CUBIC's W_max, K,
 *   t_epoch, W_est: cc->undo), else keep the current ones ("when the
 *   detection happens long after ... continue to use the current ...
 *   values"). recover goes back to its old value so that a genuine loss
 *   among the outstanding data can start a recovery of its own.
 * - a spurious timeout (RFC 4015 3.2): resume with new data, SND.NXT =
 *   SND.MAX, instead of retransmitting the rest of the window (go-back-N);
 *   cwnd = FlightSize + min(bytes_acked, IW) (no burst); ssthresh =
 *   pipe_prev = max(FlightSize, ssthresh) before the timeout (3.1); the
 *   algorithm's state as before; and the RTT estimate is reinitialised
 *   from the sample of the ACK that revealed it, SRTT = max(SRTT_prev,
 *   RTT), RTTVAR = max(RTTVAR_prev, RTT / 2) with SRTT_prev = SRTT + 2G
 *   (3.1, G = 1 ms), so the next timeout does not fire early again. The
 *   backoff was cleared by the ACK already (RFC 6298 5.7 is not needed).
 *   Only the first RTO of a series is undone: a second one cancels.
 *
 * cfg.tcp_undo = false: tcp_undo_begin() records nothing and none of
 * this happens. A receiver can fake either signal (RFC 3522 6, RFC 3708
 * 5: echo an old TSval, send D-SACKs) to keep a larger window; it could
 * as well acknowledge data it never got, so nothing new is opened. */
#include "core/tcp_conn.h"

static inline uint32_t max_u32(uint32_t a, uint32_t b) { return a > b ? a : b; }

void tcp_undo_cancel(struct tcp_conn *c)
{
    c->undo_kind = TCP_UNDO_NONE;
    c->undo_eifel = false;
    c->undo_ts_set = false;
}

void tcp_undo_begin(struct tcp_conn *c, bool timeout)
{
    tcp_undo_cancel(c);
    if (!c->s->cfg.tcp_undo)
        return;
    c->undo_kind = timeout ? TCP_UNDO_RTO : TCP_UNDO_FAST;
    c->undo_eifel = c->ts_ok;
    c->undo_cwnd = c->cwnd;
    c->undo_ssthresh = c->ssthresh;
    c->undo_recover = c->recover;
    c->undo_pipe_prev = max_u32(tcp_cc_flight_size(c), c->ssthresh);
    c->undo_rtt_valid = c->rtt_valid;
    c->undo_srtt = c->srtt + 2000u;             /* + 2G, G = 1 ms (RFC 4015 3.1) */
    c->undo_rttvar = c->rttvar;
    c->undo_end = c->snd_max;
    c->undo_rxt_n = 0;
    c->undo_dsacked = 0;
    c->undo_rxt_overflow = false;
}

void tcp_undo_retransmitted(struct tcp_conn *c, uint32_t seq, uint32_t len)
{
    if (c->undo_kind == TCP_UNDO_NONE)
        return;
    if (!c->undo_ts_set) {
        /* RFC 3522 3.2 (2): the TSval this retransmission carries
         * (tcp_ts_fill stamps it with the same clock reading). */
        c->undo_retrans_ts = tcp_ts_now(c);
        c->undo_ts_set = true;
    }
    if (len == 0)
        return;                 /* a FIN alone: the receiver reports no D-SACK for it */
    if (c->undo_rxt_n < TCP_UNDO_RXT_MAX)
        c->undo_rxt[c->undo_rxt_n++] = (struct tcp_range){seq, seq + len};
    else
        c->undo_rxt_overflow = true;
}

/* The reduction of a fast retransmit was spurious (RFC 9438 4.9.2). */
static void undo_fast(struct tcp_conn *c)
{
    uint32_t now_wnd = c->in_recovery ? c->ssthresh : c->cwnd;
    c->in_recovery = false;
    c->recovery_timer_reset = false;
    c->dupacks = 0;
    c->limited_tx_bytes = 0;
    if (seq_lt(c->high_rxt, c->snd_una))
        c->high_rxt = c->snd_una;
    if (now_wnd < c->undo_cwnd) {
        c->cwnd = c->undo_cwnd;
        c->ssthresh = max_u32(c->ssthresh, c->undo_ssthresh);
        c->cc->undo(c);
    } else {
        c->cwnd = now_wnd;
    }
    /* Fast retransmit may start again for data sent before the episode;
     * an old recover behind snd_una is dragged along by tcp_cc_newack. */
    if (seq_lt(c->undo_recover, c->recover))
        c->recover = c->undo_recover;
}

/* The timeout was spurious (RFC 4015 3.2). */
static void undo_rto(struct tcp_conn *c, const struct tcp_seg *g, uint32_t acked)
{
    c->snd_nxt = c->snd_max;                    /* no go-back-N: new data next */
    uint32_t iw = tcp_cc_initial_window(c);
    uint64_t w = (uint64_t)tcp_cc_flight_size(c) + (acked < iw ? acked : iw);
    if (w > TCP_CWND_MAX)
        w = TCP_CWND_MAX;
    c->cwnd = max_u32(c->cwnd, (uint32_t)w);
    c->ssthresh = c->undo_pipe_prev;
    c->cc->undo(c);
    if (seq_lt(c->undo_recover, c->recover))
        c->recover = c->undo_recover;
    /* The RTT of the original, from the echo (tcp_ts_rtt took it as an
     * RFC 6298 sample already; it is in range if that one was). */
    uint32_t ticks = tcp_ts_now(c) - g->tsecr;
    if (c->undo_rtt_valid && ticks <= 0x7fffffffu && (tapir_time_t)ticks * 1000u <= c->s->cfg.rto_max)
        tcp_rtt_reinit_spurious(c, c->undo_srtt, c->undo_rttvar, (tapir_time_t)ticks * 1000u);
}

bool tcp_undo_on_ack(struct tcp_conn *c, const struct tcp_seg *g, uint32_t acked)
{
    if (c->undo_kind == TCP_UNDO_NONE || !c->undo_eifel)
        return false;
    /* RFC 3522 3.2 (3): only the first acceptable ACK decides. */
    c->undo_eifel = false;
    if (!c->undo_ts_set || !c->ts_ok || !g->has_ts || g->tsecr == 0 || !seq_lt(g->tsecr, c->undo_retrans_ts))
        return false;           /* (4) -> (DONE): not shown spurious; D-SACK may still show it */
    struct tapir_stack *s = c->s;
    if (c->undo_kind == TCP_UNDO_RTO) {
        s->stats.tcp_spurious_rtos++;
        undo_rto(c, g, acked);
    } else {
        s->stats.tcp_spurious_fast_retransmits++;
        undo_fast(c);
    }
    s->stats.tcp_undos++;
    tcp_undo_cancel(c);
    return true;
}

void tcp_undo_dsack(struct tcp_conn *c, uint32_t start, uint32_t end)
{
    if (c->undo_kind != TCP_UNDO_FAST || !seq_lt(start, end))
        return;
    /* The first retransmission the block covers whole that was not
     * reported yet: the receiver got it twice. */
    for (uint8_t i = 0; i < c->undo_rxt_n; i++) {
        const struct tcp_range *r = &c->undo_rxt[i];
        if ((c->undo_dsacked & (1u << i)) == 0 && seq_leq(start, r->start) && seq_leq(r->end, end)) {
            c->undo_dsacked |= (uint8_t)(1u << i);
            return;
        }
    }
}

void tcp_undo_after_ack(struct tcp_conn *c)
{
    /* RFC 3708 3: the recovery is over (the cumulative ACK passed the
     * recovery point) and every byte it retransmitted was D-SACKed. */
    if (c->undo_kind != TCP_UNDO_FAST || c->in_recovery || c->undo_rxt_n == 0 || c->undo_rxt_overflow ||
        c->undo_dsacked != (uint8_t)((1u << c->undo_rxt_n) - 1) || seq_lt(c->snd_una, c->undo_end))
        return;
    struct tapir_stack *s = c->s;
    s->stats.tcp_spurious_fast_retransmits++;
    s->stats.tcp_undos++;
    s->stats.tcp_undos_dsack++;
    undo_fast(c);
    tcp_undo_cancel(c);
}
