/* Urgent data (RFC 9293 3.8.5, 3.10.7.4 step 6) with Linux's semantics:
 * the model is described in tcp_urgent.h. */
#include <errno.h>

#include "core/tcp_urgent.h"

/* ---- sending --------------------------------------------------------------- */

void tcp_urg_mark_sent(struct tcp_conn *c)
{
    /* MUST-62: SND.UP is the sequence number of the octet following the
     * data of this SEND. Sending happens only once the SYN is acknowledged,
     * so the send ring starts at SND.UNA. A later mark never recedes. */
    uint32_t end = c->snd_una + c->sndbuf.len;
    if (!tcp_urg_mode(c) || seq_gt(end, c->snd_up))
        c->snd_up = end;
    c->snd_urg = true;
}

void tcp_urg_fill(struct tcp_conn *c, struct tcp_seg *g)
{
    if (!tcp_urg_mode(c)) {
        c->snd_urg = false;     /* SND.UNA reached SND.UP: urgent mode is over */
        return;
    }
    if (!seq_lt(g->seq, c->snd_up))
        return;
    uint32_t dist = c->snd_up - g->seq;
    if (dist <= 0xFFFFu) {
        g->urp = (uint16_t)dist;
    } else if (seq_gt(g->seq + 0xFFFFu, c->snd_max)) {
        /* SND.UP is beyond what the 16-bit field reaches: point as far as
         * it goes, which is still data not yet sent, so the receiver knows
         * urgent data is coming without taking a byte it already has for
         * the urgent one (Linux does the same). */
        g->urp = 0xFFFFu;
    } else {
        return;                 /* 0xFFFF would name a byte already sent: no URG */
    }
    g->flags |= TCP_URG;
}

/* ---- receiving ------------------------------------------------------------- */

uint32_t tcp_urg_read_seq(const struct tcp_conn *c)
{
    /* rcv_nxt counts the FIN once it is consumed; the ring holds data only. */
    return c->rcv_nxt - c->rcvbuf.len - (c->fin_received ? 1u : 0u);
}

/* The sequence number of the urgent byte. */
static uint32_t urg_seq(const struct tcp_conn *c)
{
    return c->rcv_up - 1;
}

/* The byte has arrived (in order) and is still in the ring. */
static bool urg_in_ring(const struct tcp_conn *c)
{
    return c->urg_state == TCP_URG_HELD || c->urg_state == TCP_URG_READ;
}

/* Drop the urgent byte at the head of the ring (the reader stepped over it). */
static void drop_head_byte(struct tcp_conn *c)
{
    tcp_ring_consume(&c->rcvbuf, 1);
    if (c->rcvbuf.len == 0)
        tcp_ring_idle_check(c);
}

void tcp_urg_input(struct tcp_conn *c, const struct tcp_seg *g)
{
    /* Step 6 applies in ESTABLISHED and the FIN-WAIT states; after the
     * peer's FIN (CLOSE-WAIT ...) "this should not occur": ignore. Nobody
     * reads an orphan's data either. */
    if ((c->state != TAPIR_TCP_ESTABLISHED && c->state != TAPIR_TCP_FIN_WAIT_1 &&
         c->state != TAPIR_TCP_FIN_WAIT_2) || c->orphan)
        return;
    /* A zero pointer names no byte (the BSDs ignore it too). */
    if (g->urp == 0)
        return;
    uint32_t up = g->seq + g->urp;          /* RCV.UP candidate */
    uint32_t byte = up - 1;
    /* A byte already received (or read) cannot be taken out of the stream
     * any more: a retransmitted or stale URG segment changes nothing. */
    if (seq_lt(byte, c->rcv_nxt))
        return;
    /* Only a newer pointer replaces the current one (RFC 9293 3.10.7.4:
     * RCV.UP <- max(RCV.UP, SEG.UP)); duplicates are ignored. */
    if (c->urg_state != TCP_URG_NONE && !seq_gt(up, c->rcv_up))
        return;
    /* One urgent byte is held at a time. If the reader stands right at the
     * old byte (not inline), step over it now: once the mark moves, it
     * would otherwise be read as data (Linux does the same). */
    if (urg_in_ring(c) && !c->oob_inline && c->rcvbuf.len > 0 && urg_seq(c) == tcp_urg_read_seq(c))
        drop_head_byte(c);
    c->rcv_up = up;
    c->urg_state = TCP_URG_NOTYET;
}

void tcp_urg_check_arrival(struct tcp_conn *c)
{
    if (c->urg_state != TCP_URG_NOTYET || !seq_lt(urg_seq(c), c->rcv_nxt))
        return;
    uint32_t rd = tcp_urg_read_seq(c);
    uint32_t off = urg_seq(c) - rd;
    if (seq_lt(urg_seq(c), rd) || off >= c->rcvbuf.len) {
        /* The pointer names the FIN's place (everything before RCV.NXT
         * that is not in the ring): no data byte is urgent and none ever
         * will be. Keep the announcement, as for a pointer past the FIN:
         * no byte is invented, POLLPRI stays off, and MSG_OOB answers end
         * of file (0) as Linux does for urgent data announced but never
         * received once the peer has closed (its tcp_recv_urg). */
        return;
    }
    tcp_ring_read(&c->rcvbuf, off, &c->urg_byte, 1);
    c->urg_state = TCP_URG_HELD;
}

uint32_t tcp_urg_read_window(struct tcp_conn *c, bool peek, uint32_t *skip)
{
    *skip = 0;
    if (!urg_in_ring(c))
        return c->rcvbuf.len;
    uint32_t rd = tcp_urg_read_seq(c);
    uint32_t u = urg_seq(c);
    if (seq_lt(u, rd)) {
        c->urg_state = TCP_URG_NONE;        /* passed already */
        return c->rcvbuf.len;
    }
    uint32_t off = u - rd;
    if (off > 0)
        return off < c->rcvbuf.len ? off : c->rcvbuf.len;    /* stop at the mark */
    if (c->oob_inline)
        return c->rcvbuf.len;               /* at the mark: the byte is data */
    /* At the mark, out of band: ordinary reads never return the byte. */
    if (peek) {
        *skip = 1;
        return c->rcvbuf.len - 1;
    }
    drop_head_byte(c);
    c->urg_state = TCP_URG_NONE;            /* read past: MSG_OOB has nothing more */
    return c->rcvbuf.len;
}

void tcp_urg_after_read(struct tcp_conn *c)
{
    if (urg_in_ring(c) && seq_lt(urg_seq(c), tcp_urg_read_seq(c)))
        c->urg_state = TCP_URG_NONE;
}

uint32_t tcp_urg_stream_len(const struct tcp_conn *c)
{
    uint32_t n = c->rcvbuf.len;
    if (n > 0 && urg_in_ring(c) && !c->oob_inline && urg_seq(c) == tcp_urg_read_seq(c))
        n--;
    return n;
}

unsigned tcp_urg_events(const struct tcp_conn *c)
{
    return c->urg_state == TCP_URG_HELD ? TCP_EV_URGENT : 0;
}

/* ---- the socket layer's calls (tcp_api.h) ---------------------------------- */

long tcp_recv_urgent(struct tcp_conn *c, void *buf, size_t len, bool peek)
{
    if (c->state == TAPIR_TCP_LISTEN)
        return -ENOTCONN;
    if (c->oob_inline || c->urg_state == TCP_URG_NONE || c->urg_state == TCP_URG_READ)
        return -EINVAL;
    if (c->urg_state == TCP_URG_HELD) {
        if (len == 0)
            return 0;           /* Linux: nothing copied, the byte stays */
        *(uint8_t *)buf = c->urg_byte;
        if (!peek)
            c->urg_state = TCP_URG_READ;
        return 1;
    }
    /* Announced, not arrived: never wait (as Linux and the BSDs). */
    if (c->state == TAPIR_TCP_CLOSED || c->fin_received || c->rd_shut)
        return 0;
    return -EAGAIN;
}

void tcp_set_oobinline(struct tcp_conn *c, bool on)
{
    c->oob_inline = on;
}

bool tcp_get_oobinline(const struct tcp_conn *c)
{
    return c->oob_inline;
}

bool tcp_at_mark(const struct tcp_conn *c)
{
    /* A mark at the FIN's place (announced, no byte) is passed once a read
     * has returned end of file: the FIN is read, as Linux counts it
     * (copied_seq moves past the FIN then, and SIOCATMARK turns 0). */
    return c->urg_state != TCP_URG_NONE && !c->fin_read && urg_seq(c) == tcp_urg_read_seq(c);
}

long tcp_inq(const struct tcp_conn *c)
{
    if (c->state == TAPIR_TCP_LISTEN)
        return -EINVAL;
    if (c->state == TAPIR_TCP_SYN_SENT || c->state == TAPIR_TCP_SYN_RECEIVED)
        return 0;
    /* As Linux: with an out-of-band byte ahead, only the bytes before it
     * (so 0 at the mark, though data follows it). */
    if (!c->oob_inline && urg_in_ring(c)) {
        uint32_t rd = tcp_urg_read_seq(c);
        if (seq_geq(urg_seq(c), rd))
            return (long)(urg_seq(c) - rd);
    }
    return (long)c->rcvbuf.len;
}

long tcp_outq(const struct tcp_conn *c)
{
    if (c->state == TAPIR_TCP_LISTEN)
        return -EINVAL;
    bool fin_unacked = c->fin_queued && !(c->fin_sent && c->snd_una == c->snd_max) &&
                       c->state != TAPIR_TCP_CLOSED && c->state != TAPIR_TCP_TIME_WAIT;
    /* Linux counts the sequence space not yet acknowledged (write_seq -
     * snd_una): our SYN too, while it waits for its ACK. */
    bool syn_unacked = c->state == TAPIR_TCP_SYN_SENT || c->state == TAPIR_TCP_SYN_RECEIVED;
    return (long)c->sndbuf.len + (fin_unacked ? 1 : 0) + (syn_unacked ? 1 : 0);
}
