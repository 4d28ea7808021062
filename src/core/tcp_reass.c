/* Receive-side reassembly: out-of-order data is written straight into the
 * receive ring at its offset from rcv_nxt (it always fits: the window we
 * announce never exceeds the free ring space), and only its ranges are
 * remembered, in a small fixed array. Memory is therefore bounded by the
 * receive buffer, and by tcp_ooo_max_bytes when set. */
#include <errno.h>
#include <string.h>

#include "core/tcp_conn.h"

static uint32_t ooo_limit(const struct tcp_conn *c)
{
    uint32_t lim = c->s->cfg.tcp_ooo_max_bytes;
    return lim && lim < c->rcvbuf_max ? lim : c->rcvbuf_max;
}

/* Insert [start, end) into the sorted range list, merging overlaps and
 * neighbours. -ENOBUFS if the list is full and nothing merges. */
static int ranges_add(struct tcp_conn *c, uint32_t start, uint32_t end)
{
    struct tcp_range tmp[TCP_OOO_RANGES + 1];
    uint32_t n = 0;
    bool placed = false;
    for (uint32_t i = 0; i < c->ooo_n; i++) {
        struct tcp_range r = c->ooo[i];
        if (!placed && seq_lt(start, r.start)) {
            tmp[n++] = (struct tcp_range){start, end};
            placed = true;
        }
        tmp[n++] = r;
    }
    if (!placed)
        tmp[n++] = (struct tcp_range){start, end};
    /* Coalesce. */
    uint32_t m = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (m > 0 && seq_leq(tmp[i].start, tmp[m - 1].end)) {
            tmp[m - 1].end = seq_max(tmp[m - 1].end, tmp[i].end);
            continue;
        }
        tmp[m++] = tmp[i];
    }
    if (m > TCP_OOO_RANGES)
        return -ENOBUFS;
    uint32_t bytes = 0;
    for (uint32_t i = 0; i < m; i++)
        bytes += tmp[i].end - tmp[i].start;
    if (bytes > ooo_limit(c))
        return -ENOBUFS;
    memcpy(c->ooo, tmp, m * sizeof tmp[0]);
    c->ooo_n = (uint8_t)m;
    c->ooo_bytes = bytes;
    return 0;
}

long tcp_reass_insert(struct tcp_conn *c, uint32_t seq, const uint8_t *data, uint32_t len)
{
    if (len == 0)
        return 0;
    uint32_t gap = seq - c->rcv_nxt;
    uint64_t need = (uint64_t)c->rcvbuf.len + gap + len;
    if (need > c->rcvbuf_max || tcp_ring_reserve(&c->s->tcp->ring_spares, &c->rcvbuf, (uint32_t)need, c->rcvbuf_max) < 0)
        return -ENOBUFS;
    if (gap != 0) {
        if (ranges_add(c, seq, seq + len) < 0)
            return -ENOBUFS;
        tcp_ring_write(&c->rcvbuf, c->rcvbuf.len + gap, data, len);
        c->s->stats.tcp_ooo_queued++;
        return 0;
    }
    tcp_ring_write(&c->rcvbuf, c->rcvbuf.len, data, len);
    c->rcvbuf.len += len;
    c->rcv_nxt += len;
    long readable = len;
    /* Pull in whatever the new bytes made contiguous. */
    uint32_t drop = 0;
    while (drop < c->ooo_n && seq_leq(c->ooo[drop].start, c->rcv_nxt)) {
        struct tcp_range r = c->ooo[drop];
        if (seq_gt(r.end, c->rcv_nxt)) {
            uint32_t add = r.end - c->rcv_nxt;
            c->rcvbuf.len += add;
            c->rcv_nxt = r.end;
            readable += add;
        }
        c->ooo_bytes -= r.end - r.start;
        drop++;
    }
    if (drop) {
        memmove(c->ooo, c->ooo + drop, (c->ooo_n - drop) * sizeof c->ooo[0]);
        c->ooo_n = (uint8_t)(c->ooo_n - drop);
    }
    return readable;
}
