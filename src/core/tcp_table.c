/* TCP demultiplexing: the 4-tuple hash table (grown as connections are
 * added, so lookup stays O(1) with tens of thousands of them), listeners by
 * port, local-port reference counts for ephemeral allocation, and the timer
 * heap ordered by each connection's earliest deadline. */
#include <errno.h>
#include <stdlib.h>

#include "core/tcp_conn.h"

#define TCP_LISTEN_BUCKETS 256u

uint32_t tcp_tuple_hash(const struct tcp_state *t, uint32_t lip, uint16_t lport, uint32_t rip, uint16_t rport)
{
    /* A keyed mix (the ISN key) so that a peer cannot choose ports that all
     * land in one chain. */
    uint64_t x = ((uint64_t)rip << 32 | (uint64_t)rport << 16 | lport) ^ t->isn_k0;
    x ^= (uint64_t)lip * 0x9e3779b97f4a7c15ull;
    x ^= x >> 31;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 29;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 32;
    return (uint32_t)x;
}

int tcp_table_init(struct tcp_state *t)
{
    t->nbuckets = 64;
    t->buckets = calloc(t->nbuckets, sizeof *t->buckets);
    t->nlbuckets = TCP_LISTEN_BUCKETS;
    t->lbuckets = calloc(t->nlbuckets, sizeof *t->lbuckets);
    t->port_refs = calloc(65536, sizeof *t->port_refs);
    t->port_shared = calloc(65536, sizeof *t->port_shared);
    t->heap_cap = 64;
    t->heap = malloc(t->heap_cap * sizeof *t->heap);
    if (!t->buckets || !t->lbuckets || !t->port_refs || !t->port_shared || !t->heap)
        return -ENOMEM;
    return 0;
}

void tcp_table_destroy(struct tcp_state *t)
{
    free(t->buckets);
    free(t->lbuckets);
    free(t->port_refs);
    free(t->port_shared);
    free(t->heap);
}

struct tcp_conn *tcp_table_lookup(struct tapir_stack *s, uint32_t lip, uint16_t lport, uint32_t rip, uint16_t rport)
{
    struct tcp_state *t = s->tcp;
    uint32_t h = tcp_tuple_hash(t, lip, lport, rip, rport) & (t->nbuckets - 1);
    for (struct tcp_conn *c = t->buckets[h]; c; c = c->hnext)
        if (c->lport == lport && c->rport == rport && c->rip == rip && c->lip == lip)
            return c;
    return NULL;
}

bool tcp_tuple_in_use(struct tapir_stack *s, uint32_t lip, uint16_t lport, uint32_t rip, uint16_t rport)
{
    return tcp_table_lookup(s, lip, lport, rip, rport) || tcp_tw_lookup(s, lip, lport, rip, rport);
}

static void grow_buckets(struct tcp_state *t)
{
    uint32_t n = t->nbuckets * 2;
    struct tcp_conn **nb = calloc(n, sizeof *nb);
    if (!nb)
        return;     /* keep the old table: slower, still correct */
    for (uint32_t i = 0; i < t->nbuckets; i++) {
        struct tcp_conn *c = t->buckets[i];
        while (c) {
            struct tcp_conn *next = c->hnext;
            uint32_t h = tcp_tuple_hash(t, c->lip, c->lport, c->rip, c->rport) & (n - 1);
            c->hnext = nb[h];
            nb[h] = c;
            c = next;
        }
    }
    free(t->buckets);
    t->buckets = nb;
    t->nbuckets = n;
}

int tcp_table_hash(struct tcp_conn *c)
{
    struct tcp_state *t = c->s->tcp;
    /* A compact TIME_WAIT record holds its 4-tuple as the connection did. */
    if (tcp_tuple_in_use(c->s, c->lip, c->lport, c->rip, c->rport))
        return -EADDRINUSE;
    if (t->nhashed >= t->nbuckets * 2)
        grow_buckets(t);
    uint32_t h = tcp_tuple_hash(t, c->lip, c->lport, c->rip, c->rport) & (t->nbuckets - 1);
    c->hnext = t->buckets[h];
    t->buckets[h] = c;
    c->hashed = true;
    t->nhashed++;
    return 0;
}

void tcp_table_unhash(struct tcp_conn *c)
{
    if (!c->hashed)
        return;
    struct tcp_state *t = c->s->tcp;
    uint32_t h = tcp_tuple_hash(t, c->lip, c->lport, c->rip, c->rport) & (t->nbuckets - 1);
    for (struct tcp_conn **pp = &t->buckets[h]; *pp; pp = &(*pp)->hnext) {
        if (*pp == c) {
            *pp = c->hnext;
            break;
        }
    }
    c->hnext = NULL;
    c->hashed = false;
    t->nhashed--;
}

struct tcp_conn *tcp_table_listener(struct tapir_stack *s, uint32_t lip, uint16_t lport)
{
    struct tcp_state *t = s->tcp;
    struct tcp_conn *wild = NULL;
    for (struct tcp_conn *c = t->lbuckets[lport % t->nlbuckets]; c; c = c->lnext) {
        if (c->lport != lport)
            continue;
        if (c->lip == lip)
            return c;
        if (c->lip == 0)
            wild = c;
    }
    return wild;
}

void tcp_table_listen(struct tcp_conn *c)
{
    struct tcp_state *t = c->s->tcp;
    uint32_t h = c->lport % t->nlbuckets;
    c->lnext = t->lbuckets[h];
    t->lbuckets[h] = c;
    c->listening_hashed = true;
}

void tcp_table_unlisten(struct tcp_conn *c)
{
    if (!c->listening_hashed)
        return;
    struct tcp_state *t = c->s->tcp;
    for (struct tcp_conn **pp = &t->lbuckets[c->lport % t->nlbuckets]; *pp; pp = &(*pp)->lnext) {
        if (*pp == c) {
            *pp = c->lnext;
            break;
        }
    }
    c->lnext = NULL;
    c->listening_hashed = false;
}

/* ---- timer heap --------------------------------------------------------- */

static void heap_set(struct tcp_state *t, uint32_t i, struct tcp_conn *c)
{
    t->heap[i] = c;
    c->heap_idx = i;
}

static void heap_up(struct tcp_state *t, uint32_t i)
{
    struct tcp_conn *c = t->heap[i];
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (t->heap[p]->deadline <= c->deadline)
            break;
        heap_set(t, i, t->heap[p]);
        i = p;
    }
    heap_set(t, i, c);
}

static void heap_down(struct tcp_state *t, uint32_t i)
{
    struct tcp_conn *c = t->heap[i];
    for (;;) {
        uint32_t l = 2 * i + 1, r = l + 1, m = i;
        tapir_time_t best = c->deadline;
        if (l < t->heap_len && t->heap[l]->deadline < best) {
            m = l;
            best = t->heap[l]->deadline;
        }
        if (r < t->heap_len && t->heap[r]->deadline < best)
            m = r;
        if (m == i)
            break;
        heap_set(t, i, t->heap[m]);
        i = m;
    }
    heap_set(t, i, c);
}

void tcp_heap_remove(struct tcp_conn *c)
{
    struct tcp_state *t = c->s->tcp;
    uint32_t i = c->heap_idx;
    if (i == UINT32_MAX)
        return;
    c->heap_idx = UINT32_MAX;
    t->heap_len--;
    if (i == t->heap_len)
        return;
    heap_set(t, i, t->heap[t->heap_len]);
    heap_up(t, i);
    heap_down(t, t->heap[i] == c ? i : t->heap[i]->heap_idx);
}

void tcp_timer_sync(struct tcp_conn *c)
{
    struct tcp_state *t = c->s->tcp;
    tapir_time_t d = c->rto_at;
    d = time_min(d, c->delack_at);
    d = time_min(d, c->persist_at);
    d = time_min(d, c->keepalive_at);
    d = time_min(d, c->timewait_at);
    d = time_min(d, c->idle_at);
    if (c->freed)
        d = TAPIR_TIME_NEVER;
    /* Most calls leave the earliest timer as it was (a segment that moved
     * no timer, one re-armed at the same time): the heap is already right. */
    bool in_heap = c->heap_idx != UINT32_MAX;
    if (d == c->deadline && in_heap == (d != TAPIR_TIME_NEVER))
        return;
    c->deadline = d;
    if (d == TAPIR_TIME_NEVER) {
        tcp_heap_remove(c);
        return;
    }
    if (c->heap_idx == UINT32_MAX) {
        if (t->heap_len == t->heap_cap) {
            uint32_t ncap = t->heap_cap * 2;
            struct tcp_conn **nh = realloc(t->heap, ncap * sizeof *nh);
            if (!nh)
                return;     /* cannot happen in practice; timer lost rather than crash */
            t->heap = nh;
            t->heap_cap = ncap;
        }
        heap_set(t, t->heap_len++, c);
        heap_up(t, c->heap_idx);
        return;
    }
    heap_up(t, c->heap_idx);
    heap_down(t, c->heap_idx);
}

struct tcp_conn *tcp_heap_top(const struct tapir_stack *s)
{
    return s->tcp->heap_len ? s->tcp->heap[0] : NULL;
}
