/* Lazily allocated, growing byte rings for send and receive buffers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/checksum.h"
#include "core/spare_poison.h"
#include "core/tcp_conn.h"

/* Storage for a ring of cap bytes: a spare block when cap is the size
 * spares have, else malloc. */
static uint8_t *storage_take(struct tcp_ring_spares *sp, uint32_t cap)
{
    if (cap == TCP_RING_MIN && sp->head) {
        uint8_t *m = sp->head;
        spare_unpoison(m, TCP_RING_MIN);
        memcpy(&sp->head, m, sizeof sp->head);
        sp->n--;
        return m;
    }
    return malloc(cap);
}

/* Give back the storage of a ring of cap bytes (mem may be NULL). */
static void storage_give(struct tcp_ring_spares *sp, uint8_t *mem, uint32_t cap)
{
    if (!mem)
        return;
    if (cap != TCP_RING_MIN || sp->n >= TCP_RING_SPARES_MAX) {
        free(mem);
        return;
    }
    memcpy(mem, &sp->head, sizeof sp->head);
    spare_poison(mem, TCP_RING_MIN, 0);
    sp->head = mem;
    sp->n++;
}

void tcp_ring_spares_drain(struct tcp_ring_spares *sp)
{
    while (sp->head) {
        uint8_t *m = sp->head;
        spare_unpoison(m, TCP_RING_MIN);
        memcpy(&sp->head, m, sizeof sp->head);
        free(m);
    }
    sp->n = 0;
}

int tcp_ring_reserve(struct tcp_ring_spares *sp, struct tcp_ring *r, uint32_t need, uint32_t limit)
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
    uint8_t *m = storage_take(sp, ncap);
    if (!m)
        return -ENOMEM;
    /* Copy every byte position (out-of-order data lives past len too). */
    if (r->mem) {
        uint32_t first = r->cap - r->head;
        memcpy(m, r->mem + r->head, first);
        memcpy(m + first, r->mem, r->head);
        storage_give(sp, r->mem, r->cap);
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
    if (src == r->placed_src && off == r->placed_off && n <= r->placed_len)
        return;                     /* tcp_ring_place_csum() put them there */
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

/* Ring position of logical offset off, and how many of n bytes from there
 * lie before the end of the storage (the rest wraps to its start). */
static uint32_t ring_pos(const struct tcp_ring *r, uint32_t off, uint32_t n, uint32_t *first)
{
    uint32_t pos = (uint32_t)(((uint64_t)r->head + off) % r->cap);
    *first = r->cap - pos < n ? r->cap - pos : n;
    return pos;
}

/* Copy and sum two areas that form one run of data: the second starts at
 * byte `first` of the run, an odd offset when the first area has an odd
 * length (a wrap at an odd ring position), so its sum goes through
 * csum_add_at() (RFC 1071 2 (B)). */
static uint32_t copy_two_csum(uint8_t *d1, const uint8_t *s1, uint32_t first,
                              uint8_t *d2, const uint8_t *s2, uint32_t rest)
{
    uint32_t sum = csum_copy(d1, s1, first, 0);
    if (rest)
        sum = csum_add_at(sum, csum_copy(d2, s2, rest, 0), first);
    return sum;
}

uint32_t tcp_ring_read_csum(const struct tcp_ring *r, uint32_t off, uint8_t *dst, uint32_t n)
{
    if (n == 0)
        return 0;
    uint32_t first;
    uint32_t pos = ring_pos(r, off, n, &first);
    return copy_two_csum(dst, r->mem + pos, first, dst + first, r->mem, n - first);
}

int tcp_ring_place_csum(struct tcp_ring *r, const uint8_t *src, uint32_t n, uint32_t *sum)
{
    if (!r->mem || n > r->cap - r->len)
        return -ENOSPC;
    uint32_t first;
    uint32_t pos = ring_pos(r, r->len, n, &first);
    *sum = n ? copy_two_csum(r->mem + pos, src, first, r->mem, src + first, n - first) : 0;
    r->placed_src = src;
    r->placed_off = r->len;
    r->placed_len = n;
    return 0;
}

void tcp_ring_place_forget(struct tcp_ring *r)
{
    r->placed_src = NULL;
    r->placed_len = 0;
}

void tcp_ring_consume(struct tcp_ring *r, uint32_t n)
{
    if (n > r->len)
        n = r->len;
    if (n == 0)
        return;
    r->head = (uint32_t)(((uint64_t)r->head + n) % r->cap);
    r->len -= n;
    tcp_ring_place_forget(r);       /* its offset was relative to the old head */
}

void tcp_ring_free(struct tcp_ring_spares *sp, struct tcp_ring *r)
{
    storage_give(sp, r->mem, r->cap);
    memset(r, 0, sizeof *r);
}
