/* Selective acknowledgment (RFC 2018), duplicate SACK (RFC 2883, receiver
 * side) and the conservative SACK-based loss recovery of RFC 6675.
 *
 * Receiver: SACK-permitted rides on the SYN; when out-of-order data is held
 * (tcp_reass.c keeps up to 16 ranges), every ACK carries SACK blocks, the
 * first naming the range that holds the segment that triggered it, then the
 * ranges reported most recently (RFC 2018 4), as many as the option space
 * allows (3 beside timestamps, else 4). D-SACK (RFC 2883 4) follows SACK
 * (no switch of its own, as Linux's tcp_dsack is on by default): the ACK
 * sent for a duplicate segment (below rcv_nxt, its duplicate part when it
 * only starts there, or entirely inside a range held out of order) reports
 * the duplicate as its first block, then the usual blocks, the range
 * holding it first (4.1.3); one D-SACK block per ACK, only in that ACK
 * (never in a TSO frame, whose header every wire segment repeats:
 * send_data in tcp_output.c).
 *
 * Sender: a scoreboard of SACKed ranges above snd_una, sorted and bounded
 * (TCP_SCOREBOARD_MAX). From it, IsLost() and SetPipe() of RFC 6675 4, and
 * the recovery of RFC 6675 5: DupAcks counts ACKs that SACK octets not
 * SACKed before (section 2), also one that moves the cumulative ACK (which
 * resets the count first, so it is DupAck 1); recovery starts when DupAcks
 * >= DupThresh or IsLost(HighACK+1); cwnd = ssthresh (from the congestion
 * control algorithm); then, while cwnd - pipe >= SMSS, NextSeg(): lost
 * holes first (rule 1), then new data (2), then holes below the highest
 * SACKed byte (3), then one rescue retransmission per recovery (4; see
 * rescue_retransmit() for how "outstanding" is read). A D-SACK block (RFC
 * 2883 4.1: the first block, below the cumulative ACK or inside the second
 * block) never marks the scoreboard and never makes an ACK a DupAck.
 *
 * A D-SACK block is handed to tcp_undo.c, which uses it to detect
 * spurious retransmissions (RFC 3708) and undo the congestion reduction
 * (RFC 9438 4.9; with timestamps Eifel, RFC 3522, usually decides first).
 * Limited Transmit (RFC 6675 5 step (3), RFC 3042) is in tcp_cc.c. After
 * a timeout the scoreboard is cleared (RFC 2018 8, which RFC 6675 5.1
 * permits), also when the timeout proves spurious.
 *
 * RFC 6675 2 names octets: HighACK is the highest octet cumulatively
 * acknowledged (snd_una - 1), HighData the highest octet sent (snd_max - 1),
 * HighRxt the highest octet retransmitted. Here every such mark is kept one
 * past the octet, as TCP's own variables are: recover = RecoveryPoint + 1
 * (snd_max when it was set), high_rxt = HighRxt + 1, rescue_rxt =
 * RescueRxt + 1. A comparison of two octet numbers therefore keeps its
 * operator when both sides are shifted (HighACK >= RecoveryPoint is
 * snd_una >= recover), and one of an octet against a mark shifts it
 * (S <= HighRxt is seq_lt(S, high_rxt)). The comments at each comparison
 * below say which rule it is. */
#include <string.h>

#include "core/tcp_conn.h"

static inline uint32_t min_u32(uint32_t a, uint32_t b) { return a < b ? a : b; }

void tcp_sack_negotiate(struct tcp_conn *c, const struct tcp_seg *g)
{
    c->sack_ok = c->s->cfg.tcp_sack && g->sack_perm;
    c->sack_recent_n = 0;
    c->sb_n = 0;
    c->dsack_pending = false;
}

/* ---- receiver ------------------------------------------------------------ */

/* The out-of-order range that holds seq now (ranges only grow and merge,
 * and vanish once rcv_nxt reaches them), or -1. */
static int ooo_holding(const struct tcp_conn *c, uint32_t seq)
{
    for (int i = 0; i < c->ooo_n; i++)
        if (seq_in(seq, c->ooo[i].start, c->ooo[i].end))
            return i;
    return -1;
}

void tcp_sack_rcv_note(struct tcp_conn *c, uint32_t start, uint32_t end)
{
    if (!c->sack_ok)
        return;
    int newest = ooo_holding(c, start);
    if (newest < 0)
        return;
    /* Most recent first; an older entry now inside the same range goes. */
    struct tcp_range keep[TCP_SACK_MAX_BLOCKS];
    uint8_t n = 0;
    keep[n++] = (struct tcp_range){start, end};
    for (uint8_t i = 0; i < c->sack_recent_n && n < TCP_SACK_MAX_BLOCKS; i++) {
        int at = ooo_holding(c, c->sack_recent[i].start);
        if (at >= 0 && at != newest)
            keep[n++] = c->sack_recent[i];
    }
    memcpy(c->sack_recent, keep, n * sizeof keep[0]);
    c->sack_recent_n = n;
}

/* RFC 2883 4: a D-SACK block names "the contiguous sequence space of the
 * duplicate segment" that triggered the ACK. Data below rcv_nxt is
 * duplicate in whole or in part (the part below rcv_nxt is reported: RFC
 * 2883 4.1.1 with 4.2's partial duplicates); data above it only when it
 * lies entirely inside a range already held out of order (4.1.3), as a
 * partial overlap with several ranges has no one range to name. The last
 * duplicate before an ACK wins: "at most one D-SACK block" per ACK. */
void tcp_sack_dsack_note(struct tcp_conn *c, uint32_t seq, uint32_t len)
{
    if (!c->sack_ok || len == 0)
        return;
    uint32_t end = seq + len;
    /* Below rcv_nxt by at most the largest window (RFC 7323 2.3): a
     * segment further off is junk, not a duplicate worth reporting. */
    if (seq_lt(seq, c->rcv_nxt) && c->rcv_nxt - seq <= TCP_CWND_MAX) {
        c->dsack = (struct tcp_range){seq, seq_min(end, c->rcv_nxt)};
        c->dsack_pending = true;
        return;
    }
    int at = ooo_holding(c, seq);
    if (at >= 0 && seq_leq(end, c->ooo[at].end)) {
        c->dsack = (struct tcp_range){seq, end};
        c->dsack_pending = true;
    }
}

void tcp_sack_fill(struct tcp_conn *c, struct tcp_seg *g, uint8_t max)
{
    if (!c->sack_ok || max == 0)
        return;
    uint8_t n = 0;
    /* RFC 2883 4: the D-SACK block goes first, and only in this ACK: one
     * that has no room for it (a full segment at the MTU) loses it. */
    if (c->dsack_pending) {
        g->sack[n].start = c->dsack.start;
        g->sack[n].end = c->dsack.end;
        n++;
        c->dsack_pending = false;
    }
    g->nsack = n;
    if (c->ooo_n == 0)
        return;
    bool used[TCP_OOO_RANGES] = {false};
    uint8_t kept = 0;
    for (uint8_t i = 0; i < c->sack_recent_n; i++) {
        int at = ooo_holding(c, c->sack_recent[i].start);
        if (at < 0 || used[at])
            continue;       /* delivered in order by now, or merged */
        c->sack_recent[kept++] = c->sack_recent[i];
        used[at] = true;
        if (n < max) {
            g->sack[n].start = c->ooo[at].start;
            g->sack[n].end = c->ooo[at].end;
            n++;
        }
    }
    c->sack_recent_n = kept;
    /* Room left: the other ranges held, highest first, so the sender
     * learns about all of them over a few ACKs. */
    for (int i = c->ooo_n - 1; i >= 0 && n < max; i--) {
        if (used[i])
            continue;
        g->sack[n].start = c->ooo[i].start;
        g->sack[n].end = c->ooo[i].end;
        n++;
    }
    g->nsack = n;
}

/* ---- sender: the scoreboard --------------------------------------------- */

static void sb_insert(struct tcp_conn *c, uint32_t start, uint32_t end)
{
    struct tcp_range tmp[TCP_SCOREBOARD_MAX + 1];
    uint32_t n = 0;
    bool placed = false;
    for (uint32_t i = 0; i < c->sb_n; i++) {
        if (!placed && seq_lt(start, c->sb[i].start)) {
            tmp[n++] = (struct tcp_range){start, end};
            placed = true;
        }
        tmp[n++] = c->sb[i];
    }
    if (!placed)
        tmp[n++] = (struct tcp_range){start, end};
    uint32_t m = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (m > 0 && seq_leq(tmp[i].start, tmp[m - 1].end)) {
            tmp[m - 1].end = seq_max(tmp[m - 1].end, tmp[i].end);
            continue;
        }
        tmp[m++] = tmp[i];
    }
    if (m > TCP_SCOREBOARD_MAX)
        m = TCP_SCOREBOARD_MAX;     /* forget the highest: see TCP_SCOREBOARD_MAX */
    memcpy(c->sb, tmp, m * sizeof tmp[0]);
    c->sb_n = (uint8_t)m;
}

uint32_t tcp_sack_sacked_bytes(const struct tcp_conn *c)
{
    uint32_t b = 0;
    for (uint8_t i = 0; i < c->sb_n; i++)
        b += c->sb[i].end - c->sb[i].start;
    return b;
}

bool tcp_sack_update(struct tcp_conn *c, const struct tcp_seg *g)
{
    if (!c->sack_ok || g->nsack == 0)
        return false;
    uint32_t before = tcp_sack_sacked_bytes(c);
    for (uint8_t i = 0; i < g->nsack; i++) {
        uint32_t s = g->sack[i].start, e = g->sack[i].end;
        /* RFC 2883 4.1: a first block below the cumulative ACK or inside
         * the second block is a D-SACK: it reports a duplicate the
         * receiver got, not data newly held, so it neither marks the
         * scoreboard nor makes the ACK a DupAck (RFC 6675 2). A D-SACK
         * inside a range SACKed earlier but not repeated as the second
         * block changes nothing either: sb_insert() of covered bytes is a
         * no-op and before == after. */
        if (i == 0 && (seq_leq(e, g->ack) ||
                       (g->nsack > 1 && seq_geq(s, g->sack[1].start) && seq_leq(e, g->sack[1].end)))) {
            tcp_undo_dsack(c, s, e);    /* RFC 3708: was it a retransmission's twin? */
            continue;
        }
        /* Only blocks within what we sent and above what is acknowledged
         * (a D-SACK or stale block below snd_una is ignored, RFC 2018 4).
         * e is one past the block's last octet: e == snd_max is a block
         * ending at HighData, which is valid. */
        if (!seq_lt(s, e) || seq_leq(e, c->snd_una) || seq_gt(e, c->snd_max) || seq_gt(g->ack, s) ||
            seq_lt(s, c->snd_una))
            continue;
        sb_insert(c, s, e);
    }
    return tcp_sack_sacked_bytes(c) > before;
}

void tcp_sack_trim(struct tcp_conn *c)
{
    uint8_t m = 0;
    for (uint8_t i = 0; i < c->sb_n; i++) {
        struct tcp_range r = c->sb[i];
        if (seq_leq(r.end, c->snd_una))
            continue;
        if (seq_lt(r.start, c->snd_una))
            r.start = c->snd_una;
        c->sb[m++] = r;
    }
    c->sb_n = m;
}

/* Hole i (0..sb_n): the unSACKed bytes below range i (the last hole runs
 * from the highest range to snd_max, i.e. up to and including HighData:
 * SetPipe() counts octets HighACK+1 .. HighData, RFC 6675 4). */
static void hole(const struct tcp_conn *c, uint8_t i, uint32_t *start, uint32_t *end)
{
    *start = i == 0 ? c->snd_una : c->sb[i - 1].end;
    *end = i == c->sb_n ? c->snd_max : c->sb[i].start;
}

/* RFC 6675 4 IsLost() for every byte of hole i: what is SACKed above it is
 * the same for all its bytes. IsLost is true when DupThresh discontiguous
 * SACKed sequences are above (>=), or "more than (DupThresh - 1) * SMSS"
 * bytes are (strictly >: RFC 6675 changed RFC 3517's DupThresh * SMSS). */
static bool hole_lost(const struct tcp_conn *c, uint8_t i)
{
    uint32_t bytes = 0, ranges = 0;
    for (uint8_t k = i; k < c->sb_n; k++) {
        bytes += c->sb[k].end - c->sb[k].start;
        ranges++;
    }
    return ranges >= TCP_DUPTHRESH || bytes > (TCP_DUPTHRESH - 1) * c->snd_mss;
}

bool tcp_sack_is_lost(const struct tcp_conn *c, uint32_t seq)
{
    for (uint8_t i = 0; i <= c->sb_n; i++) {
        uint32_t s, e;
        hole(c, i, &s, &e);
        if (seq_in(seq, s, e))
            return hole_lost(c, i);
    }
    return false;           /* SACKed, or not in flight */
}

uint32_t tcp_sack_pipe(const struct tcp_conn *c)
{
    uint32_t pipe = 0;
    uint32_t hr = seq_max(c->high_rxt, c->snd_una);
    for (uint8_t i = 0; i <= c->sb_n; i++) {
        uint32_t s, e;
        hole(c, i, &s, &e);
        if (!seq_lt(s, e))
            continue;
        if (!hole_lost(c, i))
            pipe += e - s;                      /* (a) still in the network */
        /* (b) "If S1 <= HighRxt": octets below the mark high_rxt
         * (= HighRxt + 1), so seq_lt; HighRxt belongs to "the current loss
         * recovery phase" (RFC 6675 2), hence only in recovery. */
        if (c->in_recovery && seq_lt(s, hr))
            pipe += seq_min(e, hr) - s;         /* (b) retransmitted */
    }
    return pipe;
}

/* ---- sender: recovery ---------------------------------------------------- */

/* NextSeg() rules 1 and 3: the first unSACKed byte at or above the mark
 * high_rxt in a hole that is lost (want_lost) or, for rule 3, in any hole
 * below the highest SACKed byte. (1.a) "S2 is greater than HighRxt": with
 * high_rxt = HighRxt + 1 that is S2 >= high_rxt (and >= snd_una, as HighRxt
 * may be stale below HighACK). (1.b) "S2 is less than the highest octet
 * covered by any received SACK": rule 1 may look at the last hole too (up
 * to snd_max) because hole_lost() is never true there (nothing is SACKed
 * above it); rule 3 stops at the hole below the highest range. */
static bool next_hole(const struct tcp_conn *c, bool want_lost, uint32_t *seq, uint32_t *len)
{
    uint32_t from = seq_max(c->high_rxt, c->snd_una);
    uint8_t last = want_lost ? c->sb_n : (c->sb_n ? (uint8_t)(c->sb_n - 1) : 0);
    if (!want_lost && c->sb_n == 0)
        return false;
    for (uint8_t i = 0; i <= last; i++) {
        uint32_t s, e;
        hole(c, i, &s, &e);
        if (seq_leq(e, from))
            continue;
        if (seq_lt(s, from))
            s = from;
        if (!seq_lt(s, e))
            continue;
        if (want_lost && !hole_lost(c, i))
            return false;   /* holes only get less lost going up */
        *seq = s;
        *len = min_u32(e - s, c->snd_mss);
        return true;
    }
    return false;
}

/* (C.2), and step 4.3 for the first: HighRxt becomes the highest octet of
 * the retransmitted segment, so the mark is one past it. */
static void retransmit_hole(struct tcp_conn *c, uint32_t seq, uint32_t len)
{
    c->s->stats.tcp_sack_retransmits++;
    tcp_retransmit(c, seq, len);
    c->high_rxt = seq + len;
}

bool tcp_sack_maybe_enter_recovery(struct tcp_conn *c)
{
    if (!c->sack_ok || c->in_recovery || !c->syn_acked || c->snd_una == c->snd_max)
        return false;
    /* RFC 6675 5.1: after an RTO (tcp_cc_timeout() set recover to snd_max,
     * "RecoveryPoint MUST be set to HighData"), "a new recovery phase ...
     * MUST NOT be initiated until HighACK is greater than or equal to the
     * new value of RecoveryPoint". HighACK >= RecoveryPoint is snd_una - 1
     * >= recover - 1: an ACK that reaches recover may start one. Unlike
     * NewReno (RFC 6582 3.2 step 2 wants ack - 1 > recover, tcp_cc_dupack),
     * an ACK at exactly recover is not ambiguous here: the go-back-N copies
     * of segments the receiver already held bring back no new SACK
     * information, so they are not DupAcks (RFC 6675 2) and do not count.
     * After a recovery that ended normally, snd_una >= recover holds
     * already ((A) below), and tcp_cc_newack() drags an old recover along
     * so that it cannot turn "ahead" 2^31 bytes later: this only ever holds
     * back after an RTO. */
    if (seq_lt(c->snd_una, c->recover))
        return false;
    /* Steps (1) "DupAcks >= DupThresh" and (2) IsLost(HighACK + 1), the
     * first unacknowledged octet being snd_una. */
    if (c->dupacks < TCP_DUPTHRESH && !tcp_sack_is_lost(c, c->snd_una))
        return false;
    /* Step 4.1: RecoveryPoint = HighData, kept as recover = snd_max (one
     * past it); 4.2: ssthresh and cwnd from the algorithm (RFC 5681 eq. (4)
     * for NewReno, beta for CUBIC). */
    tcp_undo_begin(c, false);       /* before the reduction: RFC 3522, RFC 3708 */
    c->in_recovery = true;
    c->recover = c->snd_max;
    c->snd_nxt = c->snd_max;
    c->ssthresh = c->cc->on_loss(c, false);     /* FlightSize without Limited Transmit's bytes */
    c->limited_tx_bytes = 0;
    c->cwnd = c->ssthresh;
    c->high_rxt = c->snd_una;
    c->rtt_timing = false;          /* Karn for the one timed segment */
    c->s->stats.tcp_fast_retransmits++;
    c->s->stats.tcp_sack_recoveries++;
    /* Step 4.3: the first segment presumed dropped goes now, whatever pipe;
     * "to prevent repeated retransmission of the same data or a premature
     * rescue retransmission, set both HighRxt and RescueRxt to the highest
     * sequence number in the retransmitted segment". This is also where
     * RescueRxt of an earlier recovery is forgotten. */
    uint32_t s, e;
    hole(c, 0, &s, &e);
    if (seq_lt(s, e))
        retransmit_hole(c, s, min_u32(e - s, c->snd_mss));
    c->rescue_rxt = c->high_rxt;
    return true;
}

bool tcp_sack_on_ack(struct tcp_conn *c, bool sack_new)
{
    /* RFC 6675 5: "If the incoming ACK is a cumulative acknowledgment, the
     * TCP MUST reset DupAcks to zero" (the caller did, tcp_cc_newack() or
     * tcp_sack_recovery_ack()). Then: "If the incoming ACK is a duplicate
     * acknowledgment per the definition in Section 2 (regardless of its
     * status as a cumulative acknowledgment), and the TCP is not currently
     * in loss recovery, the TCP MUST increase DupAcks by one". Section 2:
     * an ACK that SACKs octets not SACKed before counts "even if it carries
     * new data, changes the advertised window, or moves the cumulative
     * acknowledgment point". So an ACK that advances snd_una and SACKs new
     * data is DupAck 1, not 0. */
    if (!c->sack_ok)
        return false;
    if (sack_new && !c->in_recovery)
        c->dupacks++;
    return tcp_sack_maybe_enter_recovery(c);
}

void tcp_sack_recovery_ack(struct tcp_conn *c)
{
    c->dupacks = 0;
    /* (A): "a cumulative ACK for a sequence number greater than
     * RecoveryPoint" ends recovery, i.e. one that acknowledges the octet
     * RecoveryPoint (step 4.1: "a cumulative ACK for this data octet"):
     * snd_una > RecoveryPoint, snd_una >= recover. */
    if (seq_geq(c->snd_una, c->recover)) {
        c->in_recovery = false;
        c->cwnd = c->ssthresh;
        c->bytes_acked_ca = 0;
        return;
    }
    /* (B): not at RecoveryPoint yet. A HighRxt below HighACK says nothing
     * (those octets arrived): NextSeg() and SetPipe() start at snd_una. */
    if (seq_lt(c->high_rxt, c->snd_una))
        c->high_rxt = c->snd_una;
}

/* NextSeg() rule 4, the rescue retransmission: "If the conditions for
 * (1), (2), and (3) fail, but there exists outstanding unSACKed data, we
 * provide the opportunity for a single "rescue" retransmission per entry
 * into loss recovery. If HighACK is greater than RescueRxt (or RescueRxt is
 * undefined), then one segment of up to SMSS octets that MUST include the
 * highest outstanding unSACKed sequence number SHOULD be returned, and
 * RescueRxt set to RecoveryPoint. HighRxt MUST NOT be updated."
 * HighACK > RescueRxt is snd_una - 1 > rescue_rxt - 1, i.e. snd_una >
 * rescue_rxt. RescueRxt = RecoveryPoint makes that false until the
 * recovery ends (snd_una >= recover ends it, (A)): one per recovery.
 *
 * "Outstanding" is read as the flight this recovery repairs, HighACK+1 ..
 * RecoveryPoint, less what it retransmitted already (at or below HighRxt):
 * the rescue exists for a loss "at the end of the window" that no later
 * SACK can reveal (RFC 6675 2, RescueRxt). Data sent as new data during the
 * recovery (rule 2, above RecoveryPoint) has just left and a retransmitted
 * hole is in flight again (SetPipe counts it twice): resending either is
 * spurious, and was, at the end of each bulk transfer of the SACK sims. The
 * segment is the last SMSS below the highest such unSACKed octet (the FIN
 * goes with it when it is that octet). */
static bool rescue_retransmit(struct tcp_conn *c)
{
    if (!seq_gt(c->snd_una, c->rescue_rxt))
        return false;
    uint32_t floor = seq_max(c->high_rxt, c->snd_una);
    for (int i = c->sb_n; i >= 0; i--) {
        uint32_t s, e;
        hole(c, (uint8_t)i, &s, &e);
        s = seq_max(s, floor);
        e = seq_min(e, c->recover);
        if (!seq_lt(s, e))
            continue;
        uint32_t len = min_u32(e - s, tcp_seg_payload_max(c));
        c->rescue_rxt = c->recover;
        c->s->stats.tcp_sack_retransmits++;
        tcp_retransmit(c, e - len, len);
        return true;
    }
    return false;
}

void tcp_sack_recovery_output(struct tcp_conn *c)
{
    /* Step (C): while cwnd - pipe >= 1 SMSS, send NextSeg(). Each pass
     * sends one segment or stops, and the window bounds them. */
    for (uint32_t guard = 0; guard < 4096; guard++) {
        uint32_t pipe = tcp_sack_pipe(c);
        if (pipe >= c->cwnd || c->cwnd - pipe < c->snd_mss)
            break;
        uint32_t seq, len;
        if (next_hole(c, true, &seq, &len)) {
            retransmit_hole(c, seq, len);
            continue;
        }
        if (tcp_send_new_data(c, c->cwnd - pipe, true))
            continue;
        if (next_hole(c, false, &seq, &len)) {
            retransmit_hole(c, seq, len);
            continue;
        }
        if (rescue_retransmit(c))
            continue;
        break;
    }
}

void tcp_sack_timeout(struct tcp_conn *c)
{
    /* RFC 2018 8: after a timeout the receiver may have reneged, so the
     * SACKed marks are forgotten; SACKs arriving afterwards count again and
     * steer the go-back-N retransmission past what they name (RFC 6675 5.1;
     * tcp_sack_skip()). HighRxt belongs to the recovery that just ended.
     * RecoveryPoint was set by tcp_cc_timeout(). */
    c->sb_n = 0;
    c->high_rxt = c->snd_una;
}

uint32_t tcp_sack_skip(const struct tcp_conn *c, uint32_t seq, uint32_t *limit)
{
    *limit = UINT32_MAX;
    for (uint8_t i = 0; i < c->sb_n; i++) {
        if (seq_lt(seq, c->sb[i].start)) {
            *limit = c->sb[i].start - seq;
            return seq;
        }
        if (seq_lt(seq, c->sb[i].end))
            seq = c->sb[i].end;
    }
    return seq;
}
