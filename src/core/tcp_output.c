/* TCP output (RFC 9293 3.8, RFC 1122 4.2.3.4, RFC 896): the input path and
 * the API only record what is owed (ack_now, queued data, a FIN); one
 * function, tcp_output(), looks at the state and decides what to send:
 * the SYN, data segmented by the MSS within min(snd_wnd, cwnd) with Nagle and
 * sender-side SWS avoidance (on the first two duplicate ACKs cwnd plus the
 * Limited Transmit allowance, RFC 3042), the FIN, or a bare ACK / window
 * update. The retransmission queue is the send ring itself (bytes from
 * snd_una on). */
#include <errno.h>

#include "core/checksum.h"
#include "core/ipv4.h"
#include "core/tcp_conn.h"
#include "core/tcp_urgent.h"
#include "core/wire.h"

static inline uint32_t min_u32(uint32_t a, uint32_t b) { return a < b ? a : b; }

static bool syn_acked(const struct tcp_conn *c)
{
    return c->state != TAPIR_TCP_SYN_SENT && c->syn_acked;
}

/* Sequence number of send-ring byte 0. */
static uint32_t data_seq0(const struct tcp_conn *c)
{
    return syn_acked(c) ? c->snd_una : c->iss + 1;
}

uint32_t tcp_flight(const struct tcp_conn *c)
{
    return c->snd_nxt - c->snd_una;
}

uint32_t tcp_unsent(const struct tcp_conn *c)
{
    uint32_t off = c->snd_nxt - data_seq0(c);
    if (!syn_acked(c))
        return c->sndbuf.len;
    return off >= c->sndbuf.len ? 0 : c->sndbuf.len - off;
}

uint8_t tcp_wscale_for(uint32_t rcvbuf)
{
    uint8_t s = 0;
    while (s < TCP_WS_MAX && (65535u << s) < rcvbuf)
        s++;
    return s;
}

static uint8_t our_shift(const struct tcp_conn *c)
{
    return c->ws_ok ? c->rcv_wscale : 0;
}

static uint32_t rcv_space(const struct tcp_conn *c)
{
    uint32_t used = c->rcvbuf.len;
    uint32_t limit = tcp_rcv_window_limit(c);
    uint32_t space = limit > used ? limit - used : 0;
    return min_u32(space, 65535u << our_shift(c));
}

/* Receiver-side SWS avoidance (RFC 1122 4.2.3.3): the right edge moves only
 * by at least min(rcvbuf/2, MSS), and never to the left. */
uint16_t tcp_window_to_advertise(struct tcp_conn *c, bool syn)
{
    if (c->state == TAPIR_TCP_SYN_SENT || c->state == TAPIR_TCP_CLOSED)
        return (uint16_t)min_u32(rcv_space(c), 65535);
    /* The window of a SYN is never scaled (RFC 7323 2.2). */
    uint32_t space = syn ? min_u32(rcv_space(c), 65535) : rcv_space(c);
    uint32_t edge = c->rcv_nxt + space;
    if (seq_gt(edge, c->rcv_adv)) {
        uint32_t inc = edge - c->rcv_adv;
        if (inc >= min_u32(c->rcvbuf_max / 2, c->rcv_mss))
            c->rcv_adv = edge;
    }
    if (seq_leq(c->rcv_adv, c->rcv_nxt))
        return 0;
    uint32_t w = c->rcv_adv - c->rcv_nxt;
    return (uint16_t)min_u32(syn ? w : w >> our_shift(c), 65535);
}

/* Worth a window update of its own: the edge would move by two segments (or
 * by one when the window we announced is below a segment). */
bool tcp_window_update_due(const struct tcp_conn *c)
{
    if (!tcp_synchronized(c->state) || c->fin_received)
        return false;
    uint32_t edge = c->rcv_nxt + rcv_space(c);
    if (!seq_gt(edge, c->rcv_adv))
        return false;
    uint32_t inc = edge - c->rcv_adv;
    uint32_t cur = seq_gt(c->rcv_adv, c->rcv_nxt) ? c->rcv_adv - c->rcv_nxt : 0;
    uint32_t half = c->rcvbuf_max / 2;
    if (cur < c->rcv_mss)
        return inc >= min_u32(half, c->rcv_mss);
    return inc >= min_u32(half, 2 * c->rcv_mss);
}

bool tcp_window_settled(const struct tcp_conn *c)
{
    /* tcp_window_to_advertise()'s rule for a segment other than a SYN. */
    uint32_t edge = c->rcv_nxt + rcv_space(c);
    if (!seq_gt(edge, c->rcv_adv))
        return true;
    return edge - c->rcv_adv < min_u32(c->rcvbuf_max / 2, c->rcv_mss);
}

/* A SYN's window is never scaled (RFC 7323 2.2), so the handshake leaves
 * the peer at most 65535 bytes; the scaled window takes effect with our next
 * segment. That growth alone is not worth a segment of its own (Linux sends
 * none either): a peer holding 64 KiB of window is not stalled, and the next
 * ACK or data we send announces the rest. Without this, every passive open
 * cost a pure window update right after the handshake's third segment. */
void tcp_window_after_handshake(struct tcp_conn *c)
{
    uint32_t edge = c->rcv_nxt + rcv_space(c);
    if (seq_gt(edge, c->rcv_adv))
        c->rcv_adv = edge;
}

/* Build and send one segment, in an IPv4 header with TOS tos and TTL ttl
 * (0: cfg.ip_ttl). gso_size > 0: a TSO frame (g->len above one
 * wire segment) built in the stack's scratch buffer, which the device cuts
 * into segments of gso_size payload bytes, copying our header (options
 * included) onto each. With checksum offload the checksum field holds only
 * the pseudo-header sum (over the whole TCP length, which the device's
 * segmentation adjusts per segment) and the device completes it. */
static int emit(struct tapir_stack *s, uint32_t rip, const struct tcp_seg *g,
                const struct tcp_ring *ring, uint32_t data_off, uint32_t gso_size,
                uint8_t tos, uint8_t ttl)
{
    struct buf *b;
    if (gso_size) {
        b = &s->tso_buf;
        buf_scratch_reset(b);
    } else {
        b = buf_alloc(&s->pool);
    }
    if (!b) {
        stack_drop(s, TAPIR_DROP_NO_BUFFER);
        return -ENOBUFS;
    }
    uint32_t hl = tcp_hdr_len_for(g);
    uint8_t *h = buf_put(b, hl + g->len);
    if (!h) {
        buf_free(&s->pool, b);
        stack_drop(s, TAPIR_DROP_IP_TOO_BIG);
        return -EMSGSIZE;
    }
    tcp_write_header(h, g);
    if (stack_csum_offload(s) || gso_size) {
        if (g->len)
            tcp_ring_read(ring, data_off, h + hl, g->len);
        uint32_t pseudo = csum_pseudo_ipv4(s->ip, rip, IPPROTO_TCP_NUM, (uint16_t)(hl + g->len));
        put_be16(h + 16, (uint16_t)~csum_fold(pseudo));
        b->csum_l4 = h;
    } else {
        /* Software checksum: sum the payload while copying it out of the
         * ring (one pass over the data instead of two). The header length
         * is a multiple of 4, so the payload starts on the 16-bit grid and
         * its partial simply adds to the header's (RFC 1071 2 (A), (B)). */
        uint32_t sum = csum_pseudo_ipv4(s->ip, rip, IPPROTO_TCP_NUM, (uint16_t)(hl + g->len));
        if (g->len)
            sum = csum_add_at(sum, tcp_ring_read_csum(ring, data_off, h + hl, g->len), 0);
        put_be16(h + 16, csum_fold(csum_partial(h, hl, sum)));
    }
    if (gso_size) {
        b->gso_size = (uint16_t)gso_size;
        s->stats.tcp_tso_tx++;
    }
    s->stats.tcp_tx++;
    return ipv4_output_tos_ttl(s, rip, IPPROTO_TCP_NUM, tos, ttl, b);
}

/* SACK blocks owed with an ACK: a D-SACK block (RFC 2883) and all the
 * out-of-order ranges, up to what fits beside the other options (RFC 2018
 * 3: 4 blocks, 3 with timestamps). */
static uint8_t sack_blocks_owed(const struct tcp_conn *c)
{
    uint32_t n = (uint32_t)c->ooo_n + (c->dsack_pending ? 1u : 0u);
    if (!c->sack_ok || n == 0 || !tcp_synchronized(c->state))
        return 0;
    uint8_t max = c->ts_ok ? 3 : TCP_SACK_MAX_BLOCKS;
    return n < max ? (uint8_t)n : max;
}

uint32_t tcp_seg_payload_max(const struct tcp_conn *c)
{
    /* snd_mss already leaves room for timestamps; SACK blocks, when an
     * ACK carries them, take from the payload so the segment still fits
     * the MSS (RFC 9293 3.7.1: options count against the segment). */
    uint8_t n = sack_blocks_owed(c);
    uint32_t opt = n ? 4u + 8u * n : 0u;
    return c->snd_mss > opt + 8 ? c->snd_mss - opt : 8;
}

int tcp_send_segment(struct tcp_conn *c, uint32_t seq, uint8_t flags, uint32_t len, bool with_mss)
{
    bool syn = (flags & TCP_SYN) != 0;
    struct tcp_seg g = {
        .sport = c->lport, .dport = c->rport, .seq = seq, .flags = flags,
        .has_mss = with_mss, .mss = (uint16_t)c->adv_mss, .len = len,
        /* Window scale rides on the SYN; on a SYN,ACK only if the peer's SYN had it. */
        .has_ws = with_mss && (c->state == TAPIR_TCP_SYN_SENT || c->ws_ok), .ws = c->rcv_wscale,
    };
    if (syn)
        g.sack_perm = c->state == TAPIR_TCP_SYN_SENT ? c->s->cfg.tcp_sack : c->sack_ok;
    if (flags & TCP_ACK) {
        g.ack = c->rcv_nxt;
        c->last_ack_sent = c->rcv_nxt;      /* RFC 7323 4.3 Last.ACK.sent */
        c->ack_now = false;
        c->bytes_since_ack = 0;
        if (c->delack_at != TAPIR_TIME_NEVER) {
            c->delack_at = TAPIR_TIME_NEVER;
            tcp_timer_sync(c);
        }
    }
    tcp_ts_fill(c, &g, syn);
    tcp_ts_sent(c, &g);
    if (c->snd_urg && !syn)
        tcp_urg_fill(c, &g);                /* RFC 9293 3.8.5: URG and SEG.UP */
    /* More than one segment's payload: a TSO frame (send_data makes these
     * only when the output offers TSO); each wire segment carries mss_pay. */
    uint32_t mss_pay = tcp_seg_payload_max(c);
    uint32_t gso_size = len > mss_pay ? mss_pay : 0;
    uint32_t wire_len = len > mss_pay ? mss_pay : len;
    if ((flags & TCP_ACK) && !syn) {
        /* Blocks that fit both the option space and the MTU with this
         * payload (per wire segment, for a TSO frame). */
        uint8_t n = sack_blocks_owed(c);
        uint32_t hl = tcp_hdr_len_for(&g);
        uint32_t room = c->s->mtu > 20 + hl + wire_len ? c->s->mtu - 20 - hl - wire_len : 0;
        if (room > TCP_MAX_HDR_LEN - hl)
            room = TCP_MAX_HDR_LEN - hl;
        uint8_t fit = room >= 12 ? (uint8_t)((room - 4) / 8) : 0;
        tcp_sack_fill(c, &g, n < fit ? n : fit);
    }
    g.wnd = tcp_window_to_advertise(c, syn);
    uint32_t off = 0;
    if (len)
        off = seq - data_seq0(c);
    /* SHLD-22: every segment of the connection (SYN, data, ACKs, FIN,
     * retransmissions, probes) carries its IP_TOS and IP_TTL. */
    return emit(c->s, c->rip, &g, &c->sndbuf, off, gso_size, c->ip_tos, c->ip_ttl);
}

void tcp_send_ack(struct tcp_conn *c)
{
    /* SEQ = SND.MAX, not SND.NXT: after a timeout snd_nxt went back to
     * snd_una, and a bare ACK carrying that old number would fail the
     * peer's sequence check (RFC 9293 3.10.7.4), which then ignores the
     * ACK field; two such peers can stall each other. */
    tcp_send_segment(c, c->snd_max, TCP_ACK, 0, false);
}

void tcp_send_challenge_ack(struct tcp_conn *c)
{
    /* RFC 5961 3.2, 4.2: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>, rate limited. */
    if (!tcp_rate_allow(c->s))
        return;
    c->s->stats.tcp_challenge_acks++;
    tcp_send_ack(c);
}

void tcp_ack_unacceptable(struct tcp_conn *c, const struct tcp_seg *g)
{
    /* RFC 9293 3.10.7.4 step 1 (and RFC 7323 5.3 R1 for PAWS): an
     * unacceptable segment is answered with an ACK. When it is a pure ACK
     * (nothing of the sequence space: no data, SYN or FIN), the answer goes
     * at most once per tcp_oow_ack_interval on this connection, as Linux
     * does (tcp_invalid_ratelimit): two ends that disagree about the
     * sequence space (a forged or corrupted segment, a middlebox that lost
     * its state) would otherwise answer each other's ACKs for as long as the
     * disagreement lasts, an ACK storm. A segment with data or a FIN is
     * answered every time: its sender retransmits it for want of that ACK. */
    struct tapir_stack *s = c->s;
    if (s->cfg.tcp_oow_ack_interval && tcp_seg_seqlen(g) == 0) {
        if (s->now < c->oow_ack_next) {
            s->stats.tcp_oow_acks_skipped++;
            return;
        }
        c->oow_ack_next = s->now + s->cfg.tcp_oow_ack_interval;
    }
    c->ack_now = true;
}

void tcp_send_rst_for(struct tcp_conn *c)
{
    /* RFC 9293 3.10.4 ABORT: <SEQ=SND.NXT><CTL=RST>. */
    struct tcp_seg g = {.sport = c->lport, .dport = c->rport, .seq = c->snd_max, .flags = TCP_RST};
    /* RFC 7323 3.2: TSopt SHOULD be sent in a RST on a connection that uses it. */
    if (tcp_synchronized(c->state))
        tcp_ts_fill(c, &g, false);
    c->s->stats.tcp_rst_tx++;
    emit(c->s, c->rip, &g, NULL, 0, 0, c->ip_tos, c->ip_ttl);
}

void tcp_send_rst_reply(struct tcp_conn *c, uint32_t seq)
{
    /* A reply on c's own 4-tuple: it is a segment of the connection, so
     * it carries c's TOS and TTL (SHLD-22). Rate limited as every RST that
     * answers a segment. */
    struct tapir_stack *s = c->s;
    if (!tcp_rate_allow(s))
        return;
    struct tcp_seg g = {.sport = c->lport, .dport = c->rport, .seq = seq, .flags = TCP_RST};
    s->stats.tcp_rst_tx++;
    emit(s, c->rip, &g, NULL, 0, 0, c->ip_tos, c->ip_ttl);
}

void tcp_send_rst_raw(struct tapir_stack *s, uint32_t lip, uint16_t lport, uint32_t rip, uint16_t rport,
                      uint32_t seq, uint32_t ack, uint8_t flags)
{
    (void)lip;
    if (!tcp_rate_allow(s))
        return;
    struct tcp_seg g = {.sport = lport, .dport = rport, .seq = seq, .ack = ack, .flags = flags};
    s->stats.tcp_rst_tx++;
    emit(s, rip, &g, NULL, 0, 0, 0, 0);     /* no connection: TOS 0, cfg.ip_ttl */
}

static void send_syn(struct tcp_conn *c)
{
    uint8_t flags = TCP_SYN;
    if (c->state != TAPIR_TCP_SYN_SENT)
        flags |= TCP_ACK;
    bool retrans = c->snd_max != c->iss;
    if (retrans) {
        c->s->stats.tcp_retransmits++;
        c->total_retrans++;
    } else {
        c->rtt_timing = true;
        c->rtt_seq = c->iss;
        c->rtt_start = c->s->now;
    }
    tcp_send_segment(c, c->iss, flags, 0, true);
    c->snd_nxt = c->iss + 1;
    c->snd_max = seq_max(c->snd_max, c->snd_nxt);
    if (c->rto_at == TAPIR_TIME_NEVER)
        tcp_rto_arm(c);
}

static bool fin_allowed(const struct tcp_conn *c)
{
    return c->fin_queued &&
           (c->state == TAPIR_TCP_FIN_WAIT_1 || c->state == TAPIR_TCP_CLOSING ||
            c->state == TAPIR_TCP_LAST_ACK);
}

/* Send what the window, cwnd (or, in SACK recovery, the allowance cwnd -
 * pipe), Nagle and SWS avoidance allow. After a timeout snd_nxt went back
 * to snd_una (go-back-N); data SACKed since then is skipped. */
static bool send_data(struct tcp_conn *c, bool recovery, uint32_t allowance, bool one_segment)
{
    bool sent = false;
    for (;;) {
        uint32_t limit = UINT32_MAX;
        if (c->sb_n && seq_lt(c->snd_nxt, c->snd_max)) {
            uint32_t next = tcp_sack_skip(c, c->snd_nxt, &limit);
            if (next != c->snd_nxt) {
                c->snd_nxt = seq_min(next, c->snd_max);
                continue;
            }
        }
        uint32_t off = c->snd_nxt - c->snd_una;
        if (off > c->sndbuf.len)
            break;                          /* only the FIN is beyond: in flight */
        uint32_t avail = c->sndbuf.len - off;
        uint32_t inflight = tcp_flight(c);
        uint32_t usable;
        if (recovery) {
            uint32_t room = c->snd_wnd > inflight ? c->snd_wnd - inflight : 0;
            usable = min_u32(allowance, room);
        } else {
            /* The receiver's window always bounds; cwnd does, or on the
             * first two duplicate ACKs the Limited Transmit allowance
             * beyond it (RFC 3042 2), whichever is larger. */
            uint32_t rwnd_room = c->snd_wnd > inflight ? c->snd_wnd - inflight : 0;
            uint32_t cwnd_room = c->cwnd > inflight ? c->cwnd - inflight : 0;
            uint32_t lt_room = c->dupacks ? tcp_cc_limited_transmit_room(c) : 0;
            usable = min_u32(rwnd_room, cwnd_room > lt_room ? cwnd_room : lt_room);
        }
        uint32_t mss_pay = tcp_seg_payload_max(c);
        uint32_t seg_max = mss_pay;
        /* Not as TSO while a D-SACK block is owed: the device would copy
         * it onto every wire segment, and RFC 2883 4 reports a duplicate
         * in one ACK. The segment that carries it goes alone. */
        if (!recovery && stack_tso_ok(c->s) && !tcp_urg_mode(c) && !c->dsack_pending) {
            /* TSO: up to a 64 KiB datagram of whole segments (the header,
             * at most 60 bytes, rides on each). */
            uint32_t whole = (65535u - IPV4_HDR_LEN - TCP_MAX_HDR_LEN) / mss_pay;
            seg_max = whole * mss_pay;
        }
        uint32_t len = min_u32(min_u32(min_u32(avail, seg_max), usable), limit);
        if (len > mss_pay && len % mss_pay != 0 && (len < avail || !c->nodelay)) {
            /* Keep the frame to whole segments unless its tail is the last
             * of the data and Nagle is off: a short tail would otherwise go
             * out where Nagle (RFC 896) or the window would hold it. */
            len -= len % mss_pay;
        }
        bool fin = fin_allowed(c) && off + len == c->sndbuf.len;
        bool retrans = seq_lt(c->snd_nxt, c->snd_max);
        if (len == 0 && !fin)
            break;
        if (len == 0 && avail > 0)
            break;                          /* FIN must follow the data, which waits */
        if (len > 0 && len < mss_pay && !retrans && len < limit) {
            /* Nagle (RFC 896); urgent data is not held back (as Linux). */
            bool quiet = c->nodelay || inflight == 0 || tcp_urg_mode(c);
            bool ok = (len == avail && quiet) ||
                      (c->max_sndwnd > 0 && len >= c->max_sndwnd / 2 && quiet);
            if (!ok)
                break;
        }
        uint8_t flags = TCP_ACK;
        if (len > 0 && off + len == c->sndbuf.len)
            flags |= TCP_PSH;
        if (fin)
            flags |= TCP_FIN;
        if (retrans) {
            c->s->stats.tcp_retransmits++;
            c->total_retrans++;
            tcp_undo_retransmitted(c, c->snd_nxt, len);
        } else if (!c->rtt_timing && len > 0) {
            c->rtt_timing = true;
            c->rtt_seq = c->snd_nxt;
            c->rtt_start = c->s->now;
        }
        if (!retrans)
            c->bytes_sent += len;
        if (!recovery && !retrans && len > 0 && inflight + len > c->cwnd) {
            /* New data past cwnd: only the Limited Transmit allowance
             * lets it go. Count its wire segments; remember its bytes so
             * that ssthresh leaves them out (RFC 5681 3.2 step 2). */
            uint32_t beyond = inflight + len - (inflight > c->cwnd ? inflight : c->cwnd);
            tcp_cc_limited_transmit_sent(c, beyond, (beyond + mss_pay - 1) / mss_pay);
        }
        tcp_send_segment(c, c->snd_nxt, flags, len, false);
        c->probe_out = false;
        c->snd_nxt += len + (fin ? 1u : 0u);
        c->snd_max = seq_max(c->snd_max, c->snd_nxt);
        if (fin)
            c->fin_sent = true;
        sent = true;
        if (c->rto_at == TAPIR_TIME_NEVER)
            tcp_rto_arm(c);
        if (c->persist_at != TAPIR_TIME_NEVER) {
            c->persist_at = TAPIR_TIME_NEVER;
            c->persist_backoff = 0;
            tcp_timer_sync(c);
        }
        if (fin || one_segment)
            break;
        if (recovery)
            allowance = allowance > len ? allowance - len : 0;
    }
    return sent;
}

bool tcp_send_new_data(struct tcp_conn *c, uint32_t allowance, bool one_segment)
{
    return send_data(c, true, allowance, one_segment);
}

void tcp_retransmit(struct tcp_conn *c, uint32_t seq, uint32_t len)
{
    if (!syn_acked(c))
        return;                 /* the SYN has its own timer */
    uint32_t data_end = c->snd_una + c->sndbuf.len;
    uint32_t dlen = seq_lt(seq, data_end) ? min_u32(len, data_end - seq) : 0;
    dlen = min_u32(dlen, tcp_seg_payload_max(c));
    /* The FIN is the byte after the data: it goes when the range reaches it. */
    bool fin = c->fin_sent && seq_geq(seq + len, data_end + 1) && seq + dlen == data_end;
    if (dlen == 0 && !fin)
        return;
    uint8_t flags = TCP_ACK | (fin ? TCP_FIN : 0);
    c->s->stats.tcp_retransmits++;
    c->total_retrans++;
    tcp_undo_retransmitted(c, seq, dlen);
    tcp_send_segment(c, seq, flags, dlen, false);
    if (c->rto_at == TAPIR_TIME_NEVER)
        tcp_rto_arm(c);
}

void tcp_output(struct tcp_conn *c)
{
    if (c->freed)
        return;
    switch (c->state) {
    case TAPIR_TCP_CLOSED:
    case TAPIR_TCP_LISTEN:
        return;
    case TAPIR_TCP_TIME_WAIT:
        if (c->ack_now)
            tcp_send_ack(c);
        return;
    default:
        break;
    }
    if (!syn_acked(c)) {
        if (c->snd_nxt == c->iss)
            send_syn(c);
        else if (c->ack_now && c->state != TAPIR_TCP_SYN_SENT)
            tcp_send_ack(c);
        return;
    }
    bool sent;
    if (c->in_recovery && c->sack_ok) {
        uint64_t before = c->s->stats.tcp_tx;
        tcp_sack_recovery_output(c);
        sent = c->s->stats.tcp_tx != before;
    } else {
        sent = send_data(c, false, 0, false);
    }
    if (!sent && (c->ack_now || tcp_window_update_due(c)))
        tcp_send_ack(c);
    /* Persist (RFC 9293 3.8.6.1): data waits, nothing is in flight to bring
     * an ACK, so probe the window (or override SWS) when the timer fires. */
    if (tcp_unsent(c) > 0 && tcp_flight(c) == 0 && c->rto_at == TAPIR_TIME_NEVER &&
        c->persist_at == TAPIR_TIME_NEVER) {
        tapir_time_t t = tcp_rto_current(c);
        for (uint32_t i = 0; i < c->persist_backoff && t < c->s->cfg.rto_max; i++)
            t *= 2;
        if (t > c->s->cfg.rto_max)
            t = c->s->cfg.rto_max;
        c->persist_at = c->s->now + t;
        tcp_timer_sync(c);
    }
}
