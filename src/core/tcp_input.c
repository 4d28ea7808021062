/* "SEGMENT ARRIVES" (RFC 9293 3.10.7), one function per state group:
 * no connection (3.10.7.1), LISTEN (3.10.7.2), SYN_SENT (3.10.7.3) and the
 * synchronized states (3.10.7.4), with RFC 5961 for RST, SYN and ACK
 * checks and RFC 1337 for TIME_WAIT. Input only records what is owed
 * (ack_now, delayed ACK, data to send); tcp_output() decides what goes out. */
#include <errno.h>

#include "core/checksum.h"
#include "core/ipv4.h"
#include "core/tcp_conn.h"
#include "core/tcp_urgent.h"

static inline uint32_t min_u32(uint32_t a, uint32_t b) { return a < b ? a : b; }

/* ---- no connection (3.10.7.1) -------------------------------------------- */

static void rcv_closed(struct tapir_stack *s, uint32_t lip, uint32_t rip, const struct tcp_seg *g)
{
    stack_drop(s, TAPIR_DROP_TCP_NO_SOCKET);
    if (g->flags & TCP_RST)
        return;             /* an incoming RST is discarded */
    if (g->flags & TCP_ACK)
        tcp_send_rst_raw(s, lip, g->dport, rip, g->sport, g->ack, 0, TCP_RST);
    else
        tcp_send_rst_raw(s, lip, g->dport, rip, g->sport, 0, g->seq + tcp_seg_seqlen(g),
                         TCP_RST | TCP_ACK);
}

/* The MSS option (RFC 9293 3.7.1): send no more than the peer can take and
 * no more than our own MTU allows; 536 when the peer sent none. */
/* Window scale (RFC 7323 2.2, 2.3): on only if both SYNs carried it. */
static void apply_peer_wscale(struct tcp_conn *c, const struct tcp_seg *g)
{
    c->ws_ok = g->has_ws;
    c->snd_wscale = g->has_ws ? g->ws : 0;
    if (!g->has_ws)
        c->rcv_wscale = 0;
}

/* SEG.WND as a byte count: scaled, except on a SYN. */
static uint32_t seg_wnd(const struct tcp_conn *c, const struct tcp_seg *g)
{
    if (g->flags & TCP_SYN)
        return g->wnd;
    return (uint32_t)g->wnd << c->snd_wscale;
}

static void apply_peer_mss(struct tcp_conn *c, const struct tcp_seg *g)
{
    uint32_t peer = g->has_mss ? g->mss : 536;
    c->snd_mss = min_u32(peer, c->adv_mss);
    if (c->snd_mss < 64)
        c->snd_mss = 64;    /* a hostile tiny MSS must not make us spin on 1-byte segments */
    c->rcv_mss = min_u32(c->adv_mss, peer > 64 ? peer : 64);
}

/* The options of the peer's SYN (or SYN,ACK): MSS, window scale,
 * timestamps and SACK-permitted, each on only if both SYNs carried it.
 * With timestamps every segment carries 12 option bytes, so the payload
 * per segment shrinks by as much both ways (RFC 7323 3.2, RFC 9293 3.7.1). */
static void apply_peer_options(struct tcp_conn *c, const struct tcp_seg *g)
{
    apply_peer_mss(c, g);
    apply_peer_wscale(c, g);
    tcp_ts_negotiate(c, g);
    tcp_sack_negotiate(c, g);
    if (c->ts_ok) {
        c->snd_mss -= TCP_TS_OPT_LEN;
        c->rcv_mss -= TCP_TS_OPT_LEN;
    }
}

/* ---- LISTEN (3.10.7.2) --------------------------------------------------- */

static void rcv_listen(struct tcp_conn *l, uint32_t lip, uint32_t rip, const struct tcp_seg *g,
                       bool have_min_iss, uint32_t min_iss)
{
    struct tapir_stack *s = l->s;
    if (g->flags & TCP_RST) {
        stack_drop(s, TAPIR_DROP_TCP_RST_IGNORED);
        return;
    }
    if (g->flags & TCP_ACK) {
        stack_drop(s, TAPIR_DROP_TCP_BAD_ACK);
        tcp_send_rst_raw(s, lip, g->dport, rip, g->sport, g->ack, 0, TCP_RST);
        return;
    }
    if (!(g->flags & TCP_SYN)) {
        stack_drop(s, TAPIR_DROP_TCP_UNEXPECTED);
        return;
    }
    if (g->flags & TCP_FIN) {
        stack_drop(s, TAPIR_DROP_TCP_BAD_FLAGS);
        return;
    }
    if (l->synq_len >= s->cfg.tcp_syn_queue_max) {
        stack_drop(s, TAPIR_DROP_TCP_SYN_QUEUE_FULL);
        return;
    }
    if (l->accq_len >= l->backlog) {
        stack_drop(s, TAPIR_DROP_TCP_BACKLOG_FULL);
        return;
    }
    int err;
    struct tcp_conn *c = tcp_conn_alloc(s, &err);
    if (!c) {
        stack_drop(s, TAPIR_DROP_TCP_CONN_LIMIT);
        return;
    }
    c->lip = lip;
    c->rip = rip;
    c->rport = g->sport;
    tcp_port_ref(c, g->dport, false);
    c->passive = true;
    c->nodelay = l->nodelay;
    /* SO_OOBINLINE from the SYN on, as Linux's clone of the listener:
     * urgent data may arrive before accept() (RFC 9293 3.8.5, RFC 6093 5). */
    c->oob_inline = l->oob_inline;
    c->keepalive = l->keepalive;
    c->ka_idle = l->ka_idle;
    c->ka_intvl = l->ka_intvl;
    c->ka_cnt = l->ka_cnt;
    c->sndbuf_max = l->sndbuf_max;
    c->rcvbuf_max = l->rcvbuf_max;
    c->snd_locked = l->snd_locked;
    c->rcv_locked = l->rcv_locked;
    tcp_autotune_init(c);
    c->adv_mss = l->adv_mss;
    /* IP_TOS, IP_TTL, IP_RECVERR: the SYN,ACK already carries the
     * listener's TOS and TTL (SHLD-22: every segment of the connection). */
    c->ip_tos = l->ip_tos;
    c->ip_ttl = l->ip_ttl;
    c->recverr = l->recverr;
    c->cc = l->cc;
    c->cc->reset(c);
    if (tcp_table_hash(c) < 0) {
        tcp_conn_release(c);
        stack_drop(s, TAPIR_DROP_TCP_UNEXPECTED);
        return;
    }
    /* Join the listener's half-open queue. */
    c->listener = l;
    c->qnext = l->synq_head;
    if (l->synq_head)
        l->synq_head->qprev = c;
    l->synq_head = c;
    l->synq_len++;

    c->state = TAPIR_TCP_LISTEN;        /* the child starts as a copy of the listener */
    c->irs = g->seq;
    c->rcv_nxt = g->seq + 1;
    c->rcv_adv = c->rcv_nxt;
    c->iss = tcp_isn(s, lip, g->dport, rip, g->sport);
    if (have_min_iss && seq_leq(c->iss, min_iss))
        c->iss = min_iss + 1;           /* RFC 9293 3.6.1: above the old incarnation */
    c->snd_una = c->snd_nxt = c->snd_max = c->iss;
    c->snd_wnd = g->wnd;
    c->max_sndwnd = g->wnd;
    c->snd_wl1 = g->seq;
    c->snd_wl2 = c->iss;
    c->rcv_wscale = tcp_wscale_for(c->rcvbuf_max);
    tcp_ts_init(c);
    apply_peer_options(c, g);
    tcp_cc_init(c);
    s->stats.tcp_passive_opens++;
    tcp_set_state(c, TAPIR_TCP_SYN_RECEIVED, "rcv SYN, snd SYN,ACK");
    /* Data on the SYN is not kept: it is not acknowledged, so the peer sends
     * it again once the connection is synchronized. */
    tcp_output(c);
}

/* ---- SYN_SENT (3.10.7.3) ------------------------------------------------- */

static void rcv_text_and_fin(struct tcp_conn *c, uint32_t seq, const uint8_t *data, uint32_t dlen, bool fin);

static void enter_established(struct tcp_conn *c, const char *cause)
{
    tcp_set_state(c, TAPIR_TCP_ESTABLISHED, cause);
    c->ever_established = true;
    tcp_keepalive_reset(c);
    tcp_window_after_handshake(c);
}

static void rcv_syn_sent(struct tcp_conn *c, const struct tcp_seg *g)
{
    struct tapir_stack *s = c->s;
    bool ack_ok = false;
    if (g->flags & TCP_ACK) {
        if (seq_leq(g->ack, c->iss) || seq_gt(g->ack, c->snd_max)) {
            stack_drop(s, TAPIR_DROP_TCP_BAD_ACK);
            if (!(g->flags & TCP_RST))
                tcp_send_rst_reply(c, g->ack);
            return;
        }
        ack_ok = true;
    }
    if (g->flags & TCP_RST) {
        if (!ack_ok) {
            stack_drop(s, TAPIR_DROP_TCP_RST_IGNORED);
            return;
        }
        s->stats.tcp_rst_rx++;
        tcp_conn_closed(c, -ECONNREFUSED, "rcv RST (connection refused)");
        return;
    }
    if (!(g->flags & TCP_SYN)) {
        stack_drop(s, TAPIR_DROP_TCP_UNEXPECTED);
        return;
    }
    c->irs = g->seq;
    c->rcv_nxt = g->seq + 1;
    c->rcv_adv = c->rcv_nxt;
    apply_peer_options(c, g);
    c->snd_wnd = g->wnd;
    c->max_sndwnd = g->wnd;
    c->snd_wl1 = g->seq;
    if (ack_ok) {
        c->snd_una = g->ack;
        c->syn_acked = true;
        c->snd_wl2 = g->ack;
        if (c->rtt_timing && c->retries == 0)
            tcp_rtt_sample(c, s->now - c->rtt_start);
        c->rtt_timing = false;
        c->retries = 0;
        c->backoff = 0;
        c->rto_at = TAPIR_TIME_NEVER;
        tcp_timer_sync(c);
        tcp_cc_init(c);
        s->stats.tcp_active_opens++;
        enter_established(c, "rcv SYN,ACK, snd ACK");
        c->ack_now = true;
        /* Text or controls on the SYN,ACK continue at step 6, the URG bit
         * (3.10.7.3). SEG.UP counts from SEG.SEQ, the SYN's own number. */
        if (g->flags & TCP_URG)
            tcp_urg_input(c, g);
        if (g->len || (g->flags & TCP_FIN))
            rcv_text_and_fin(c, g->seq + 1, g->data, min_u32(g->len, 65535), (g->flags & TCP_FIN) != 0);
        if (!c->freed && c->state != TAPIR_TCP_CLOSED && c->urg_state == TCP_URG_NOTYET)
            tcp_urg_check_arrival(c);
        return;
    }
    /* Simultaneous open: SYN_RECEIVED, and send SYN,ACK <SEQ=ISS><ACK=RCV.NXT>. */
    tcp_cc_init(c);
    tcp_set_state(c, TAPIR_TCP_SYN_RECEIVED, "rcv SYN (simultaneous open), snd SYN,ACK");
    c->snd_nxt = c->iss;
    c->rtt_timing = false;
}

/* ---- synchronized states (3.10.7.4) -------------------------------------- */

/* An ACK is owed but may wait (RFC 1122 4.2.3.2): start the delayed-ACK
 * timer unless it runs already. */
static void delay_ack(struct tcp_conn *c)
{
    if (c->delack_at == TAPIR_TIME_NEVER) {
        c->delack_at = c->s->now + c->s->cfg.delack_timeout;
        tcp_timer_sync(c);
    }
}

static void process_fin(struct tcp_conn *c)
{
    c->rcv_nxt++;
    c->fin_received = true;
    c->have_fin_seq = false;
    switch (c->state) {
    case TAPIR_TCP_SYN_RECEIVED:
    case TAPIR_TCP_ESTABLISHED:
        /* The ACK of the FIN may be delayed like any other (RFC 1122
         * 4.2.3.2; RFC 9293 3.10.7.4 asks for an acknowledgment, not an
         * immediate one). The application usually answers end-of-file
         * with close(), and then our FIN carries the ACK: one segment
         * instead of two, as Linux does (it delays the ACK of a FIN too). */
        delay_ack(c);
        tcp_set_state(c, TAPIR_TCP_CLOSE_WAIT, "rcv FIN, snd ACK");
        tcp_keepalive_reset(c);
        break;
    case TAPIR_TCP_FIN_WAIT_1:
        c->ack_now = true;
        if (c->fin_sent && c->snd_una == c->snd_max)
            tcp_enter_time_wait(c, "rcv FIN and ACK of FIN, snd ACK");
        else
            tcp_set_state(c, TAPIR_TCP_CLOSING, "rcv FIN, snd ACK (simultaneous close)");
        break;
    case TAPIR_TCP_FIN_WAIT_2:
        c->ack_now = true;
        tcp_enter_time_wait(c, "rcv FIN, snd ACK");
        break;
    default:
        c->ack_now = true;
        break;
    }
}

static void rcv_text_and_fin(struct tcp_conn *c, uint32_t seq, const uint8_t *data, uint32_t dlen, bool fin)
{
    struct tapir_stack *s = c->s;
    uint32_t before = c->rcv_nxt;
    if (dlen > 0) {
        switch (c->state) {
        case TAPIR_TCP_ESTABLISHED:
        case TAPIR_TCP_FIN_WAIT_1:
        case TAPIR_TCP_FIN_WAIT_2:
            break;
        default:
            dlen = 0;       /* the peer already sent its FIN: ignore (3.10.7.4 step 7) */
            fin = false;
            break;
        }
    }
    if (dlen > 0) {
        if (c->orphan) {
            /* Nobody will ever read this: as Linux, answer with a RST
             * rather than acknowledge data into the void. */
            tcp_send_rst_for(c);
            s->stats.tcp_aborts++;
            tcp_conn_closed(c, -ECONNRESET, "data after close, snd RST");
            return;
        }
        if (seq != before)
            tcp_sack_dsack_note(c, seq, dlen);  /* RFC 2883: held out of order already? */
        long r = tcp_reass_insert(c, seq, data, dlen);
        if (r < 0) {
            stack_drop(s, TAPIR_DROP_TCP_OOO_FULL);
            c->ack_now = true;
            fin = false;
        } else if (seq != before) {
            c->ack_now = true;      /* out of order: duplicate ACK at once (RFC 5681 4.2) */
            tcp_sack_rcv_note(c, seq, seq + dlen);
        } else {
            c->bytes_received += (uint64_t)r;
            c->bytes_since_ack += (uint32_t)r;
            tcp_autotune_rcv(c);
            if ((uint32_t)r != dlen || c->bytes_since_ack >= 2 * c->rcv_mss)
                c->ack_now = true;  /* filled a hole, or a second full segment */
            else
                delay_ack(c);
        }
    }
    if (fin) {
        uint32_t fseq = seq + dlen;
        if (fseq == c->rcv_nxt) {
            process_fin(c);
        } else if (seq_gt(fseq, c->rcv_nxt)) {
            c->have_fin_seq = true;
            c->fin_seq = fseq;
            c->ack_now = true;
        }
    }
    if (c->have_fin_seq && c->rcv_nxt == c->fin_seq && !c->fin_received)
        process_fin(c);
}

/* Resend the first unacknowledged segment (fast retransmit, partial ACK);
 * restart_timer: restart the retransmission timer with it. */
static void retransmit_first(struct tcp_conn *c, bool restart_timer)
{
    if (!c->syn_acked)
        return;                 /* our SYN is not acknowledged: its own timer resends it */
    c->rtt_timing = false;
    tcp_retransmit(c, c->snd_una, c->snd_mss);
    if (restart_timer)
        tcp_rto_arm(c);
}

/* Step 5 for an ACK that is within bounds. Returns false if processing of
 * the segment must stop. */
static bool rcv_ack(struct tcp_conn *c, const struct tcp_seg *g, uint32_t seq)
{
    struct tapir_stack *s = c->s;
    const uint32_t una_before = c->snd_una;     /* for the window update below */
    if (c->probe_out && g->ack == c->snd_nxt + 1 && seq_gt(g->ack, c->snd_max)) {
        c->snd_max = g->ack;            /* the peer took our zero-window probe byte */
        c->probe_out = false;
    }
    if (seq_gt(g->ack, c->snd_max)) {
        /* Acknowledges something not yet sent: ACK and drop (3.10.7.4). */
        stack_drop(s, TAPIR_DROP_TCP_BAD_ACK);
        c->ack_now = true;
        return false;
    }
    uint32_t floor = c->snd_una - (c->max_sndwnd > 65535 ? c->max_sndwnd : 65535);
    if (seq_lt(g->ack, floor)) {
        /* RFC 5961 5.2: an ACK too old to be real. */
        stack_drop(s, TAPIR_DROP_TCP_BAD_ACK);
        tcp_send_challenge_ack(c);
        return false;
    }
    uint32_t wnd = seg_wnd(c, g);
    bool window_same = wnd == c->snd_wnd;
    /* RFC 2018 / 6675: the scoreboard learns from every acceptable ACK,
     * data-carrying ones included. */
    bool sack_new = tcp_sack_update(c, g);
    if (seq_gt(g->ack, c->snd_una)) {
        uint32_t acked = g->ack - c->snd_una;
        uint32_t consumed = acked;
        if (!c->syn_acked)
            consumed--;                     /* our SYN */
        if (consumed > c->sndbuf.len)
            consumed = c->sndbuf.len;       /* the rest is our FIN */
        tcp_ring_consume(&c->sndbuf, consumed);
        if (c->sndbuf.len == 0)
            tcp_ring_idle_check(c);
        /* RTT: the timed segment gives the finest sample; otherwise the
         * echoed timestamp gives one on every ACK of new data, also after
         * a retransmission (RFC 7323 4.1: Karn's rule is not needed). */
        if (c->rtt_timing && seq_gt(g->ack, c->rtt_seq)) {
            tcp_rtt_sample(c, s->now - c->rtt_start);
            tcp_ts_una_sent_at(c, c->rtt_start);
            c->rtt_timing = false;
        } else {
            tcp_ts_rtt(c, g);
        }
        c->snd_una = g->ack;
        c->syn_acked = true;
        tcp_sack_trim(c);
        if (seq_lt(c->snd_nxt, c->snd_una))
            c->snd_nxt = c->snd_una;
        c->retries = 0;
        c->backoff = 0;
        c->persist_backoff = 0;
        bool partial = false;
        bool restart_timer = true;          /* RFC 6298 5.3 */
        if (tcp_undo_on_ack(c, g, acked)) {
            /* The reduction was spurious and is undone (RFC 3522, RFC
             * 4015): the restored window stands for this ACK. */
        } else if (c->sack_ok && c->in_recovery) {
            tcp_sack_recovery_ack(c);       /* cwnd stays ssthresh; pipe decides */
        } else {
            partial = tcp_cc_newack(c, acked, g->ack);
            /* NewReno: only the first partial ACK restarts the timer (RFC
             * 6582 4, "Impatient"; see tcp_cc_partial_ack_restarts_timer). */
            if (partial)
                restart_timer = tcp_cc_partial_ack_restarts_timer(c);
        }
        if (c->snd_una == c->snd_max) {
            c->rto_at = TAPIR_TIME_NEVER;
            tcp_timer_sync(c);
        } else if (restart_timer) {
            tcp_rto_arm(c);
        }
        if (partial)
            retransmit_first(c, restart_timer);
        else if (c->sack_ok)
            tcp_sack_on_ack(c, sack_new);   /* a DupAck too if it SACKed new data (RFC 6675 2, 5) */
    } else if (c->sack_ok && g->ack == c->snd_una && tcp_flight(c) > 0) {
        /* RFC 6675 2: with SACK, a duplicate ACK is one that SACKs new data. */
        tcp_sack_on_ack(c, sack_new);
    } else if (g->ack == c->snd_una && tcp_flight(c) > 0 && g->len == 0 &&
               !(g->flags & (TCP_SYN | TCP_FIN)) && window_same) {
        if (tcp_cc_dupack(c))
            retransmit_first(c, true);
    }
    tcp_undo_after_ack(c);                  /* RFC 3708: all retransmissions D-SACKed? */
    /* Window update (RFC 9293 3.10.7.4 step 5): only from a segment the
     * peer sent no earlier than the one that set SND.WL1/WL2, so that an
     * old, reordered segment does not bring back an old window. The RFC
     * asks for SND.WL1 < SEG.SEQ, or SND.WL1 = SEG.SEQ and SND.WL2 =<
     * SEG.ACK; here SND.WL2 =< SEG.ACK in both cases (the peer's ACKs
     * never go back, so a segment acknowledging less than SND.WL2 is
     * older whatever its SEQ; see below for why that matters).
     * Also, as Linux does, from any ACK of new data (SEG.ACK beyond the
     * SND.UNA this segment found): the peer sent it after every segment
     * that acknowledged less, so its window is the newest we hold, even
     * if SND.WL1 says otherwise. Without that case one in-window pure ACK
     * whose SEQ was forged (or corrupted) ahead of the peer's real
     * sequence numbers moves SND.WL1 there, and every real window update
     * is ignored until the peer's SEQ passes it, which a peer with
     * nothing to send never does: a zero window would then open only one
     * probe byte at a time. With it, the next ACK of new data (of a
     * zero-window probe too) takes the window and pulls SND.WL1/WL2 back
     * to the peer's real numbers. An old segment that acknowledges
     * nothing new still cannot change the window. Since SND.WL1 can now
     * go back (to a retransmission's SEQ), a late segment sent before
     * that retransmission may have a SEQ above it: its ACK, below
     * SND.WL2, keeps its window out. */
    bool newer = seq_leq(c->snd_wl1, seq) && seq_leq(c->snd_wl2, g->ack);
    if (newer || seq_gt(g->ack, una_before)) {
        c->snd_wnd = wnd;
        c->snd_wl1 = seq;
        c->snd_wl2 = g->ack;
        if (wnd > c->max_sndwnd)
            c->max_sndwnd = wnd;
        if (wnd > 0 && c->persist_at != TAPIR_TIME_NEVER) {
            c->persist_at = TAPIR_TIME_NEVER;
            c->persist_backoff = 0;
            tcp_timer_sync(c);
        }
    }
    return true;
}

static bool our_fin_acked(const struct tcp_conn *c)
{
    return c->fin_sent && c->snd_una == c->snd_max;
}

static void rcv_synchronized(struct tcp_conn *c, const struct tcp_seg *g0)
{
    struct tapir_stack *s = c->s;
    struct tcp_seg gs = *g0;
    struct tcp_seg *g = &gs;

    if (c->state == TAPIR_TCP_TIME_WAIT && (g->flags & TCP_RST)) {
        stack_drop(s, TAPIR_DROP_TCP_RST_IGNORED);     /* RFC 1337 */
        return;
    }
    if (c->state == TAPIR_TCP_SYN_RECEIVED && (g->flags & TCP_SYN) && !(g->flags & TCP_RST) &&
        g->seq == c->irs) {
        if (!(g->flags & TCP_ACK)) {
            /* The peer's SYN again: our SYN,ACK was lost; send it again. */
            c->snd_nxt = c->iss;
            return;
        }
        /* Simultaneous open: the peer's SYN,ACK (RFC 9293 Figure 8 line 6).
         * Its SYN is old news; process the rest. */
        g->seq++;
        g->flags &= (uint8_t)~TCP_SYN;
    }

    /* RFC 7323 5.3 R1: PAWS (and the TSopt-required rule) before the
     * sequence number check. */
    if (!tcp_ts_accept(c, g))
        return;

    /* Step 1: sequence number check. */
    uint32_t seglen = tcp_seg_seqlen(g);
    uint32_t wnd = seq_gt(c->rcv_adv, c->rcv_nxt) ? c->rcv_adv - c->rcv_nxt : 0;
    bool acceptable;
    bool zero_window_strip = false;
    if (seglen == 0)
        acceptable = wnd == 0 ? g->seq == c->rcv_nxt : seq_in(g->seq, c->rcv_nxt, c->rcv_nxt + wnd);
    else if (wnd == 0) {
        /* Not acceptable, but ACK and RST are still processed (MUST-66):
         * a zero-window probe gets its ACK. */
        acceptable = g->seq == c->rcv_nxt;
        zero_window_strip = acceptable;
    } else
        acceptable = seq_in(g->seq, c->rcv_nxt, c->rcv_nxt + wnd) ||
                     seq_in(g->seq + seglen - 1, c->rcv_nxt, c->rcv_nxt + wnd);
    if (!acceptable) {
        stack_drop(s, TAPIR_DROP_TCP_OUT_OF_WINDOW);
        if (g->flags & TCP_RST)
            return;
        if (!(g->flags & TCP_SYN))
            tcp_sack_dsack_note(c, g->seq, g->len);     /* RFC 2883: a duplicate */
        if (c->state == TAPIR_TCP_TIME_WAIT && (g->flags & TCP_FIN) &&
            g->seq + g->len + 1 == c->rcv_nxt) {
            /* A retransmitted FIN: acknowledge it and restart 2*MSL. */
            c->timewait_at = s->now + 2 * s->cfg.msl;
            tcp_timer_sync(c);
        }
        tcp_ack_unacceptable(c, g);
        return;
    }

    /* RFC 7323 5.3 R3, 4.3: remember the timestamp to echo. */
    tcp_ts_update_recent(c, g);
    c->rcv_tsecr = c->ts_ok && g->has_ts ? g->tsecr : 0;    /* for tcp_autotune_rcv */

    /* Trim to the window: only the new part is processed. */
    uint32_t seq = g->seq;
    const uint8_t *data = g->data;
    uint32_t dlen = g->len;
    bool fin = (g->flags & TCP_FIN) != 0;
    if (zero_window_strip) {
        dlen = 0;
        fin = false;
        c->ack_now = true;
    }
    if (seq_lt(seq, c->rcv_nxt) && !(g->flags & TCP_SYN)) {
        if (!(g->flags & TCP_RST))
            tcp_sack_dsack_note(c, seq, dlen);  /* RFC 2883: its part below rcv_nxt */
        uint32_t cut = c->rcv_nxt - seq;
        if (cut > dlen) {
            fin = false;                /* the FIN itself is below rcv_nxt: old */
            dlen = 0;
        } else {
            data += cut;
            dlen -= cut;
        }
        seq = c->rcv_nxt;
        c->ack_now = true;              /* a (partial) duplicate */
    }
    if (dlen > 0 || fin) {
        uint32_t room = wnd - (seq - c->rcv_nxt);
        if (dlen > room) {
            dlen = room;
            fin = false;
        }
    }

    /* Step 2: RST (RFC 5961 3.2: only the exact sequence number resets). */
    if (g->flags & TCP_RST) {
        if (g->seq != c->rcv_nxt) {
            stack_drop(s, TAPIR_DROP_TCP_RST_IGNORED);
            tcp_send_challenge_ack(c);
            return;
        }
        s->stats.tcp_rst_rx++;
        switch (c->state) {
        case TAPIR_TCP_SYN_RECEIVED:
            if (c->passive && c->listener) {
                tcp_set_state(c, TAPIR_TCP_LISTEN, "rcv RST (back to LISTEN)");
                tcp_conn_release(c);
            } else {
                tcp_conn_closed(c, -ECONNREFUSED, "rcv RST");
            }
            return;
        case TAPIR_TCP_CLOSING:
        case TAPIR_TCP_LAST_ACK:
            tcp_conn_closed(c, 0, "rcv RST");
            return;
        default:
            tcp_conn_closed(c, -ECONNRESET, "rcv RST");
            return;
        }
    }

    /* Step 4: SYN. A passively opened SYN_RECEIVED connection goes back to
     * LISTEN; a synchronized one answers with a challenge ACK (RFC 5961 4.2). */
    if ((g->flags & TCP_SYN) && c->state == TAPIR_TCP_SYN_RECEIVED && c->passive && c->listener) {
        stack_drop(s, TAPIR_DROP_TCP_UNEXPECTED);
        tcp_set_state(c, TAPIR_TCP_LISTEN, "rcv SYN in window (back to LISTEN)");
        tcp_conn_release(c);
        return;
    }
    if (g->flags & TCP_SYN) {
        stack_drop(s, TAPIR_DROP_TCP_UNEXPECTED);
        tcp_send_challenge_ack(c);
        return;
    }

    /* Step 5: ACK. */
    if (!(g->flags & TCP_ACK)) {
        stack_drop(s, TAPIR_DROP_TCP_NO_ACK);
        return;
    }
    if (c->keepalive)
        tcp_keepalive_reset(c);
    if (c->state == TAPIR_TCP_SYN_RECEIVED) {
        if (!(seq_gt(g->ack, c->snd_una) && seq_leq(g->ack, c->snd_max))) {
            stack_drop(s, TAPIR_DROP_TCP_BAD_ACK);
            tcp_send_rst_reply(c, g->ack);
            return;
        }
        c->snd_wnd = seg_wnd(c, g);
        c->snd_wl1 = g->seq;
        c->snd_wl2 = g->ack;
        if (c->snd_wnd > c->max_sndwnd)
            c->max_sndwnd = c->snd_wnd;
        enter_established(c, "rcv ACK of SYN");
        struct tcp_conn *l = c->listener;
        if (l) {
            /* Move from the half-open queue to the accept queue. */
            if (c->qprev)
                c->qprev->qnext = c->qnext;
            else
                l->synq_head = c->qnext;
            if (c->qnext)
                c->qnext->qprev = c->qprev;
            l->synq_len--;
            c->qnext = NULL;
            c->qprev = l->accq_tail;
            if (l->accq_tail)
                l->accq_tail->qnext = c;
            else
                l->accq_head = c;
            l->accq_tail = c;
            l->accq_len++;
            c->in_accept_q = true;
            tcp_notify(l);
        }
    }
    if (!rcv_ack(c, g, seq))
        return;
    switch (c->state) {
    case TAPIR_TCP_CLOSING:
        if (our_fin_acked(c))
            tcp_enter_time_wait(c, "rcv ACK of FIN");
        return;
    case TAPIR_TCP_LAST_ACK:
        if (our_fin_acked(c))
            tcp_conn_closed(c, 0, "rcv ACK of FIN");
        return;
    case TAPIR_TCP_TIME_WAIT:
        if (fin && seq == c->rcv_nxt) {
            c->ack_now = true;
            c->timewait_at = s->now + 2 * s->cfg.msl;
            tcp_timer_sync(c);
        }
        return;
    default:
        break;
    }

    /* Step 6: URG (tcp_urgent.c), before the text is queued. SEG.UP is an
     * offset from SEG.SEQ as received (3.10.7.4): g0, since the SYN of a
     * simultaneous open's SYN,ACK was stripped from g above. */
    if (g->flags & TCP_URG)
        tcp_urg_input(c, g0);
    /* Steps 7 and 8: text and FIN. */
    rcv_text_and_fin(c, seq, data, dlen, fin);
    if (c->freed || c->state == TAPIR_TCP_CLOSED)
        return;
    if (c->urg_state == TCP_URG_NOTYET)
        tcp_urg_check_arrival(c);
    if (c->state == TAPIR_TCP_FIN_WAIT_1 && our_fin_acked(c)) {
        tcp_set_state(c, TAPIR_TCP_FIN_WAIT_2, "rcv ACK of FIN");
        if (c->orphan) {
            c->timewait_at = s->now + 2 * s->cfg.msl;   /* orphan FIN_WAIT_2 bound */
            tcp_timer_sync(c);
        }
    }
}

/* ---- entry ---------------------------------------------------------------- */

static void reopen_time_wait(struct tcp_conn *c, struct tcp_conn *l, uint32_t lip, uint32_t rip,
                             const struct tcp_seg *g)
{
    /* RFC 9293 3.6.1 (MAY-2): a SYN with a sequence number above the old
     * connection's may start a new incarnation; the new ISS is chosen above
     * the old SND.NXT. */
    uint32_t old_snd = c->snd_max;
    tcp_conn_closed(c, 0, "SYN reopens TIME_WAIT");
    rcv_listen(l, lip, rip, g, true, old_snd + 65536);
}

/* Everything after parsing and checksum; the caller reaps. looked_up: c is
 * the result of the connection lookup already made for the checksum. */
static void tcp_input_segment(struct tapir_stack *s, const struct ipv4_repr *ip, const struct tcp_seg *g,
                              bool looked_up, struct tcp_conn *c);
/* The segment g for the connection c (tcp_input_segment found it). */
static void rcv_conn(struct tapir_stack *s, const struct ipv4_repr *ip, const struct tcp_seg *g,
                     struct tcp_conn *c);

/* Verify the checksum of a parsed segment in software. Where the segment's
 * payload is the next in-order data of a connection that will take it
 * (nothing out of order queued, room in the ring as it is), the payload is
 * summed while it is copied into the receive ring's free space, past the
 * committed bytes: tcp_reass_insert() then finds it in place instead of
 * reading it a second time. The ring's length only grows when the segment
 * is accepted, so a bad checksum leaves it unchanged; this looks at the
 * connection but changes none of its protocol state. True if correct. */
static bool rcv_checksum_ok(struct tcp_conn *c, const struct ipv4_repr *ip, const uint8_t *seg,
                            size_t len, const struct tcp_seg *g)
{
    uint32_t sum = csum_pseudo_ipv4(ip->src, ip->dst, IPPROTO_TCP_NUM, (uint16_t)len);
    bool takes_data = c && g->len > 0 && g->seq == c->rcv_nxt && c->ooo_n == 0 && !c->orphan &&
                      !(g->flags & (TCP_SYN | TCP_RST)) &&
                      (c->state == TAPIR_TCP_ESTABLISHED || c->state == TAPIR_TCP_FIN_WAIT_1 ||
                       c->state == TAPIR_TCP_FIN_WAIT_2);
    uint32_t data_sum;
    if (!takes_data || tcp_ring_place_csum(&c->rcvbuf, g->data, g->len, &data_sum) < 0)
        return csum_fold(csum_partial(seg, len, sum)) == 0;
    /* The header length is a multiple of 4: the payload's partial adds on. */
    sum = csum_add_at(csum_partial(seg, g->hdr_len, sum), data_sum, 0);
    if (csum_fold(sum) != 0) {
        tcp_ring_place_forget(&c->rcvbuf);
        return false;
    }
    return true;
}

void tcp_input(struct tapir_stack *s, const struct ipv4_repr *ip, const uint8_t *seg, size_t len)
{
    struct tcp_seg g;
    enum tapir_drop_reason why;
    bool verify = !s->rx_csum_trusted;
    if (tcp_parse_csum(seg, len, ip->src, ip->dst, false, &g, &why) < 0) {
        /* Report what the checking parser reports (a bad checksum comes
         * before bad options). */
        if (verify)
            tcp_parse_csum(seg, len, ip->src, ip->dst, true, &g, &why);
        stack_drop(s, why);
        return;
    }
    struct tcp_conn *c = NULL;
    bool looked_up = verify && ip->dst == s->ip;
    if (looked_up)
        c = tcp_table_lookup(s, ip->dst, g.dport, ip->src, g.sport);
    if (verify && !rcv_checksum_ok(c, ip, seg, len, &g)) {
        stack_drop(s, TAPIR_DROP_TCP_BAD_CHECKSUM);
        return;
    }
    tcp_input_segment(s, ip, &g, looked_up, c);
    /* A placement not taken by tcp_reass_insert() (trimmed away, a
     * duplicate...) must not match a later write from a reused buffer. The
     * connection's memory lasts until tcp_reap(). */
    if (c)
        tcp_ring_place_forget(&c->rcvbuf);
    tcp_reap(s);
}

static void tcp_input_segment(struct tapir_stack *s, const struct ipv4_repr *ip, const struct tcp_seg *g,
                              bool looked_up, struct tcp_conn *c)
{
    if (ip->dst != s->ip || g->dport == 0 || g->sport == 0) {
        stack_drop(s, TAPIR_DROP_TCP_NO_SOCKET);     /* never answer broadcast or port 0 */
        return;
    }
    if ((g->flags & (TCP_SYN | TCP_RST)) == (TCP_SYN | TCP_RST)) {
        stack_drop(s, TAPIR_DROP_TCP_BAD_FLAGS);
        return;
    }
    s->stats.tcp_rx++;
    if (!looked_up)
        c = tcp_table_lookup(s, ip->dst, g->dport, ip->src, g->sport);
    if (!c) {
        struct tcp_tw *e = tcp_tw_lookup(s, ip->dst, g->dport, ip->src, g->sport);
        if (e) {
            /* An orphan in TIME_WAIT held as a compact record: the segment
             * gets the full TIME_WAIT processing (RFC 9293 3.10.7.4, RFC
             * 1337, RFC 7323 5.3, RFC 9293 3.6.1) from the connection the
             * record stands for, rebuilt in its place. */
            c = tcp_tw_inflate(s, e);
            if (!c) {
                stack_drop(s, TAPIR_DROP_TCP_TIME_WAIT_NO_MEMORY);
                return;
            }
        }
    }
    if (!c) {
        struct tcp_conn *l = tcp_table_listener(s, ip->dst, g->dport);
        if (l)
            rcv_listen(l, ip->dst, ip->src, g, false, 0);
        else
            rcv_closed(s, ip->dst, ip->src, g);
        return;
    }
    rcv_conn(s, ip, g, c);
    /* An orphan that reached TIME_WAIT with this segment, or an inflated
     * record still in TIME_WAIT, has sent what it owed: compact it. */
    if (!c->freed)
        tcp_tw_try_compact(c);
}

static void rcv_conn(struct tapir_stack *s, const struct ipv4_repr *ip, const struct tcp_seg *g,
                     struct tcp_conn *c)
{
    if (c->state == TAPIR_TCP_TIME_WAIT && (g->flags & (TCP_SYN | TCP_ACK | TCP_RST)) == TCP_SYN &&
        seq_gt(g->seq, c->rcv_nxt) && c->orphan) {
        struct tcp_conn *l = tcp_table_listener(s, ip->dst, g->dport);
        if (l) {
            reopen_time_wait(c, l, ip->dst, ip->src, g);
            return;
        }
    }
    if (c->state == TAPIR_TCP_SYN_SENT)
        rcv_syn_sent(c, g);
    else
        rcv_synchronized(c, g);
    /* In a batch (tcp_batch_begin), an established connection with no
     * hole in its receive queue answers once at the end: one ACK for the
     * in-order segments of the batch (the every-second-segment rule of RFC
     * 5681 4.2 still sets ack_now; the ACK just goes out after the batch's
     * last frame). With a hole, the duplicate ACK goes at once (4.2). */
    if (s->tcp->batching && !c->freed && c->state == TAPIR_TCP_ESTABLISHED && c->ooo_n == 0) {
        if (!c->batched) {
            c->batched = true;
            c->bnext = s->tcp->batch;
            s->tcp->batch = c;
        }
        return;
    }
    if (!c->freed && c->state != TAPIR_TCP_CLOSED)
        tcp_output(c);
    if (!c->freed)
        tcp_notify(c);
}

/* ICMP errors about our segments (RFC 1122 4.2.3.9, RFC 5927): only for a
 * connection whose unacknowledged sequence range contains the quoted one.
 * Protocol and port unreachable (codes 2, 3) are hard errors and abort the
 * connection (SHLD-26); every other code is soft (MUST-56: never abort on
 * codes 0, 1, 5) and is kept as the error to report if the connection
 * later times out; with IP_RECVERR it is also reported at once
 * (tcp_report_soft_error, MUST-47). Fragmentation needed (4) would feed
 * PMTUD, which is not implemented. */
void tcp_icmp_error(struct tapir_stack *s, uint8_t type, uint8_t code,
                    const struct ipv4_repr *inner, const uint8_t *l4, size_t l4_len)
{
    if (l4_len < 8 || type != 3 /* destination unreachable */ || code == 4)
        return;
    uint16_t sport = (uint16_t)(l4[0] << 8 | l4[1]);
    uint16_t dport = (uint16_t)(l4[2] << 8 | l4[3]);
    uint32_t seq = (uint32_t)l4[4] << 24 | (uint32_t)l4[5] << 16 | (uint32_t)l4[6] << 8 | l4[7];
    /* A compact TIME_WAIT record is not looked at: in TIME_WAIT an ICMP
     * error changes nothing (a hard one does not abort it, below; a soft
     * one reaches no owner). */
    struct tcp_conn *c = tcp_table_lookup(s, inner->src, sport, inner->dst, dport);
    if (!c || !seq_in(seq, c->snd_una, c->snd_max + 1))
        return;
    bool hard = code == 2 || code == 3;
    int err = code == 3 ? -ECONNREFUSED : code == 2 ? -ENOPROTOOPT : code == 0 ? -ENETUNREACH : -EHOSTUNREACH;
    if (hard && c->state != TAPIR_TCP_TIME_WAIT) {
        s->stats.tcp_aborts++;
        tcp_conn_closed(c, err, "ICMP unreachable (hard error)");
        tcp_reap(s);
        return;
    }
    c->soft_error = err;
    tcp_report_soft_error(c, err);
}
