/* Buffer sizes that follow the bandwidth-delay product.
 *
 * tcp_rcvbuf and tcp_sndbuf (or SO_RCVBUF/SO_SNDBUF) are maxima. Memory is
 * taken on demand anyway (tcp_ring.c), but what bounds it is what the peer
 * may send (our window) and what the application may queue (the send
 * limit); both start at TCP_BUF_INITIAL and grow with what the path
 * carries, so a connection on a short or slow path never holds more than
 * it needs, and one on a long fat path gets the window it needs, up to the
 * maximum.
 *
 * Receive side ("dynamic right-sizing", as Linux's tcp_rcv_space_adjust):
 * the receiver estimates its RTT as the smallest of two kinds of sample:
 * the time it takes to receive one announced window of data (a segment
 * beyond the edge we announced cannot have been sent before the peer saw
 * that announcement, so this is at least about one RTT, and it needs no
 * timestamps), and, with timestamps (RFC 7323 4.1), the age of the TSval
 * the peer echoes, which is closer to the RTT when the sender does not
 * fill the window (its 1 ms ticks are too coarse for a LAN, where the
 * first kind rules). Once per such RTT it compares the in-order bytes that
 * arrived in that RTT with the window: a sender that used more than half
 * of it may be held back by it, so the window becomes twice that amount
 * plus a few segments (a slow-starting sender doubles its rate every RTT).
 * The window only grows: shrinking it would risk the "shrinking window"
 * RFC 9293 3.8.6 discourages, and the memory is released when idle anyway.
 *
 * Send side: the application may queue twice what the path carries per
 * RTT, min(cwnd, peer's window), so that a full window is in flight while
 * the next one waits (Linux's tcp_sndbuf_expand uses 2 x cwnd too). */
#include "core/tcp_conn.h"
#include "core/stack.h"

/* Adjust at most this often. An interval shorter than the true RTT counts
 * too few bytes per RTT and would hold the window below what the path
 * needs; on a LAN (RTTs of tens of microseconds, with queueing jitter of
 * the same size) counting over at least 1 ms errs on the generous side. */
#define TCP_AUTOTUNE_MIN_INTERVAL TAPIR_MSEC(1)

static uint32_t min32(uint32_t a, uint32_t b) { return a < b ? a : b; }
static uint32_t max32(uint32_t a, uint32_t b) { return a > b ? a : b; }

void tcp_autotune_init(struct tcp_conn *c)
{
    c->rcv_target = c->rcv_locked ? c->rcvbuf_max : min32(c->rcvbuf_max, TCP_BUF_INITIAL);
    c->rrtt_us = 0;
    c->rrtt_seq = 0;
    c->rrtt_start = TAPIR_TIME_NEVER;
    c->rwin_start = TAPIR_TIME_NEVER;
    c->rwin_bytes = 0;
}

uint32_t tcp_rcv_window_limit(const struct tcp_conn *c)
{
    return c->rcv_locked ? c->rcvbuf_max : min32(c->rcvbuf_max, c->rcv_target);
}

uint32_t tcp_sndbuf_limit(const struct tcp_conn *c)
{
    if (c->snd_locked)
        return c->sndbuf_max;
    uint32_t per_rtt = min32(c->cwnd, max32(c->snd_wnd, c->max_sndwnd));
    uint64_t want = 2 * (uint64_t)per_rtt;
    if (want < TCP_BUF_INITIAL)
        want = TCP_BUF_INITIAL;
    return want < c->sndbuf_max ? (uint32_t)want : c->sndbuf_max;
}

void tcp_autotune_rcv(struct tcp_conn *c)
{
    if (c->rcv_locked || c->rcv_target >= c->rcvbuf_max)
        return;
    tapir_time_t now = c->s->now;
    /* The RTT sample: the time until the edge announced at its start is
     * passed. The smallest sample is kept (queueing only adds). */
    if (c->rrtt_start == TAPIR_TIME_NEVER) {
        c->rrtt_start = now;
        c->rrtt_seq = c->rcv_adv;
    } else if (seq_geq(c->rcv_nxt, c->rrtt_seq)) {
        tapir_time_t sample = now - c->rrtt_start;
        if (sample > 0 && (c->rrtt_us == 0 || sample < c->rrtt_us))
            c->rrtt_us = sample > UINT32_MAX ? UINT32_MAX : (uint32_t)sample;
        c->rrtt_start = now;
        c->rrtt_seq = c->rcv_adv;
    }
    if (c->rcv_tsecr) {
        uint32_t ticks = tcp_ts_now(c) - c->rcv_tsecr;
        /* An echo from the future or older than any plausible RTT is no
         * sample; ticks of 1 ms, so 0 means "under a millisecond". */
        if (ticks < 0x7fffffffu && (tapir_time_t)ticks * 1000u <= c->s->cfg.rto_max) {
            uint32_t us = ticks ? ticks * 1000u : 1000u;
            if (c->rrtt_us == 0 || us < c->rrtt_us)
                c->rrtt_us = us;
        }
    }
    if (c->rrtt_us == 0)
        return;                 /* no RTT yet: keep the initial window */
    if (c->rwin_start == TAPIR_TIME_NEVER) {
        c->rwin_start = now;
        c->rwin_bytes = c->bytes_received;
        return;
    }
    tapir_time_t interval = c->rrtt_us > TCP_AUTOTUNE_MIN_INTERVAL ? c->rrtt_us : TCP_AUTOTUNE_MIN_INTERVAL;
    if (now - c->rwin_start < interval)
        return;
    uint64_t got = c->bytes_received - c->rwin_bytes;
    c->rwin_start = now;
    c->rwin_bytes = c->bytes_received;
    if (2 * got <= c->rcv_target)
        return;
    uint64_t want = 2 * got + 16 * (uint64_t)c->rcv_mss;
    c->rcv_target = want < c->rcvbuf_max ? (uint32_t)want : c->rcvbuf_max;
    c->s->stats.tcp_rcvwin_grown++;
}
