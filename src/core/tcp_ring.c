/* Lazily allocated, growing byte rings for send and receive buffers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/tcp_conn.h"

#define TCP_RING_MIN 4096u

int tcp_ring_reserve(struct tcp_ring *r, uint32_t need, uint32_t limit)
{
    if (need <= r->cap)
        return 0;
    if (need > limit)
        return -ENOBUFS;
    uint32_t ncap = r->cap ? r->cap : TCP_RING_MIN;
    while (ncap < need)
        ncap = ncap > UINT32_MAX / 2 ? UINT32_MAX : ncap * 2;
    if (ncap > limit)
        ncap = limit;
    uint8_t *m = malloc(ncap);
    if (!m)
        return -ENOMEM;
    /* Copy every byte position (out-of-order data lives past len too). */
    if (r->mem) {
        uint32_t first = r->cap - r->head;
        memcpy(m, r->mem + r->head, first);
        memcpy(m + first, r->mem, r->head);
        free(r->mem);
    }
    r->mem = m;
    r->cap = ncap;
    r->head = 0;
    return 0;
}

void tcp_ring_write(struct tcp_ring *r, uint32_t off, const uint8_t *src, uint32_t n)
{
    if (n == 0)
        return;
    uint32_t pos = (uint32_t)(((uint64_t)r->head + off) % r->cap);
    uint32_t first = r->cap - pos < n ? r->cap - pos : n;
    memcpy(r->mem + pos, src, first);
    memcpy(r->mem, src + first, n - first);
}

void tcp_ring_read(const struct tcp_ring *r, uint32_t off, uint8_t *dst, uint32_t n)
{
    if (n == 0)
        return;
    uint32_t pos = (uint32_t)(((uint64_t)r->head + off) % r->cap);
    uint32_t first = r->cap - pos < n ? r->cap - pos : n;
    memcpy(dst, r->mem + pos, first);
    memcpy(dst + first, r->mem, n - first);
}

void tcp_ring_consume(struct tcp_ring *r, uint32_t n)
{
    if (n > r->len)
        n = r->len;
    if (n == 0)
        return;
    r->head = (uint32_t)(((uint64_t)r->head + n) % r->cap);
    r->len -= n;
}

void tcp_ring_free(struct tcp_ring *r)
{
    free(r->mem);
    memset(r, 0, sizeof *r);
}
