/* ARP (RFC 826) for IPv4 over Ethernet.
 *
 * The cache is a fixed table of cfg.arp_cache_size entries allocated once,
 * indexed by a chained hash on the IPv4 address (bucket heads and chain links
 * are entry indexes), so a lookup on every sent packet costs one hash and a
 * short chain walk. An entry is
 *   PENDING   a request is out; packets wait in its queue (chained by
 *             buf->next); `deadline` is when to retry or give up;
 *   RESOLVED  the MAC is known; `deadline` is when it expires. An entry
 *             that expires while in use is not dropped at once (that would
 *             stall a live flow behind a fresh resolution): it keeps its MAC
 *             and is re-confirmed with up to cfg.arp_retries requests
 *             (`refreshing`), and only forgotten if none is answered.
 * Timers are absolute deadlines; `earliest` caches a lower bound of them all
 * so arp_next_deadline() is O(1) (recomputed exactly by arp_poll()).
 */
#include "core/arp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/ipv4.h"
#include "core/stack.h"
#include "core/wire.h"

#define ARP_PKT_LEN 28
#define ARP_OP_REQUEST 1
#define ARP_OP_REPLY 2
#define ARP_HTYPE_ETHERNET 1
#define NIL (-1)

enum arp_entry_state { ARP_FREE = 0, ARP_PENDING, ARP_RESOLVED };

struct arp_entry {
    uint32_t ip;
    uint8_t mac[6];
    uint8_t state;              /* enum arp_entry_state */
    uint8_t requests_sent;      /* while PENDING or refreshing */
    bool refreshing;            /* RESOLVED, expired while in use, being re-confirmed */
    bool used;                  /* a packet went out through it since the last confirmation */
    int32_t hash_next;          /* next entry in the bucket, or NIL; free list when FREE */
    tapir_time_t deadline;      /* PENDING: next retry/give-up; RESOLVED: expiry */
    tapir_time_t updated;       /* when last confirmed (eviction picks the oldest) */
    struct buf *queue_head, *queue_tail;
    uint32_t queue_len;
};

struct arp_table {
    struct arp_entry *entries;
    int32_t *buckets;           /* nbuckets heads */
    uint32_t size, nbuckets;    /* nbuckets: a power of two >= size */
    int32_t free_list;
    uint32_t used;
    tapir_time_t earliest;      /* <= every entry's deadline */
};

struct arp_repr {
    uint16_t op;
    uint8_t sha[6], tha[6];
    uint32_t spa, tpa;
};

static uint32_t hash_ip(const struct arp_table *t, uint32_t ip)
{
    /* Fibonacci hashing: the low bits of addresses on one subnet differ. */
    return (uint32_t)((ip * 2654435761u) >> 7) & (t->nbuckets - 1);
}

int arp_init(struct tapir_stack *s)
{
    uint32_t size = s->cfg.arp_cache_size ? s->cfg.arp_cache_size : 1;
    struct arp_table *t = calloc(1, sizeof *t);
    if (!t)
        return -ENOMEM;
    t->size = size;
    t->nbuckets = 1;
    while (t->nbuckets < size)
        t->nbuckets <<= 1;
    t->entries = calloc(size, sizeof *t->entries);
    t->buckets = malloc(t->nbuckets * sizeof *t->buckets);
    if (!t->entries || !t->buckets) {
        free(t->entries);
        free(t->buckets);
        free(t);
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < t->nbuckets; i++)
        t->buckets[i] = NIL;
    t->free_list = NIL;
    for (uint32_t i = size; i-- > 0;) {
        t->entries[i].hash_next = t->free_list;
        t->free_list = (int32_t)i;
    }
    t->earliest = TAPIR_TIME_NEVER;
    s->arp = t;
    return 0;
}

void arp_destroy(struct tapir_stack *s)
{
    struct arp_table *t = s->arp;
    if (!t)
        return;
    for (uint32_t i = 0; i < t->size; i++)
        buf_free_chain(&s->pool, t->entries[i].queue_head);
    free(t->entries);
    free(t->buckets);
    free(t);
    s->arp = NULL;
}

static struct arp_entry *find(const struct arp_table *t, uint32_t ip)
{
    for (int32_t i = t->buckets[hash_ip(t, ip)]; i != NIL; i = t->entries[i].hash_next)
        if (t->entries[i].ip == ip)
            return &t->entries[i];
    return NULL;
}

static void set_deadline(struct arp_table *t, struct arp_entry *e, tapir_time_t at)
{
    e->deadline = at;
    t->earliest = time_min(t->earliest, at);
}

/* Unlink e from its bucket and put it on the free list (its queue must be empty). */
static void release(struct arp_table *t, struct arp_entry *e)
{
    int32_t idx = (int32_t)(e - t->entries);
    int32_t *link = &t->buckets[hash_ip(t, e->ip)];
    while (*link != idx)
        link = &t->entries[*link].hash_next;
    *link = e->hash_next;
    memset(e, 0, sizeof *e);
    e->hash_next = t->free_list;
    t->free_list = idx;
    t->used--;
}

/* A free entry for ip; when the table is full, the resolved entry confirmed
 * longest ago is evicted. NULL if every entry is pending. */
static struct arp_entry *claim(struct arp_table *t, uint32_t ip)
{
    if (t->free_list == NIL) {
        struct arp_entry *oldest = NULL;
        for (uint32_t i = 0; i < t->size; i++) {
            struct arp_entry *e = &t->entries[i];
            if (e->state == ARP_RESOLVED && (!oldest || e->updated < oldest->updated))
                oldest = e;
        }
        if (!oldest)
            return NULL;
        release(t, oldest);
    }
    int32_t idx = t->free_list;
    struct arp_entry *e = &t->entries[idx];
    t->free_list = e->hash_next;
    memset(e, 0, sizeof *e);
    e->ip = ip;
    uint32_t h = hash_ip(t, ip);
    e->hash_next = t->buckets[h];
    t->buckets[h] = idx;
    t->used++;
    return e;
}

static void send_arp(struct tapir_stack *s, uint16_t op, const uint8_t eth_dst[6],
                     const uint8_t tha[6], uint32_t tpa, uint32_t spa)
{
    struct buf *b = buf_alloc(&s->pool);
    if (!b) {
        stack_drop(s, TAPIR_DROP_NO_BUFFER);
        return;
    }
    uint8_t *p = buf_put(b, ARP_PKT_LEN);
    put_be16(p, ARP_HTYPE_ETHERNET);
    put_be16(p + 2, ETHERTYPE_IPV4);
    p[4] = 6;
    p[5] = 4;
    put_be16(p + 6, op);
    memcpy(p + 8, s->mac, 6);
    put_be32(p + 14, spa);
    memcpy(p + 18, tha, 6);
    put_be32(p + 24, tpa);
    ether_push(b, eth_dst, s->mac, ETHERTYPE_ARP);
    stack_emit(s, b);
    buf_free(&s->pool, b);
    s->stats.arp_tx++;
}

static const uint8_t zero_mac[6];

static void send_request(struct tapir_stack *s, uint32_t ip)
{
    send_arp(s, ARP_OP_REQUEST, ether_broadcast, zero_mac, ip, s->ip);
    s->stats.arp_requests_sent++;
}

void arp_announce(struct tapir_stack *s)
{
    /* RFC 5227 2.3: an ARP Announcement is a request with sender and target
     * protocol address both ours, so peers update any stale entry. */
    send_arp(s, ARP_OP_REQUEST, ether_broadcast, zero_mac, s->ip, s->ip);
}

static void emit_to(struct tapir_stack *s, const uint8_t mac[6], struct buf *b)
{
    if (ether_push(b, mac, s->mac, ETHERTYPE_IPV4) < 0)
        stack_drop(s, TAPIR_DROP_NO_BUFFER);
    else
        stack_emit(s, b);
    buf_free(&s->pool, b);
}

/* The entry resolved: send what waited for it, in order. */
static void flush_queue(struct tapir_stack *s, struct arp_entry *e)
{
    struct buf *b = e->queue_head;
    e->queue_head = e->queue_tail = NULL;
    e->queue_len = 0;
    while (b) {
        struct buf *next = b->next;
        b->next = NULL;
        s->stats.arp_flushed++;
        emit_to(s, e->mac, b);
        b = next;
    }
}

static void learn(struct tapir_stack *s, struct arp_entry *e, const uint8_t mac[6])
{
    memcpy(e->mac, mac, 6);
    e->updated = s->now;
    e->refreshing = false;
    e->used = false;
    e->requests_sent = 0;
    set_deadline(s->arp, e, s->now + s->cfg.arp_entry_ttl);
    if (e->state == ARP_PENDING) {
        e->state = ARP_RESOLVED;
        flush_queue(s, e);
    }
    e->state = ARP_RESOLVED;
}

static int arp_parse(const uint8_t *pkt, size_t len, struct arp_repr *out)
{
    if (len < ARP_PKT_LEN)
        return -EINVAL;
    if (get_be16(pkt) != ARP_HTYPE_ETHERNET || get_be16(pkt + 2) != ETHERTYPE_IPV4 ||
        pkt[4] != 6 || pkt[5] != 4)
        return -EINVAL;
    out->op = get_be16(pkt + 6);
    if (out->op != ARP_OP_REQUEST && out->op != ARP_OP_REPLY)
        return -EINVAL;
    memcpy(out->sha, pkt + 8, 6);
    out->spa = get_be32(pkt + 14);
    memcpy(out->tha, pkt + 18, 6);
    out->tpa = get_be32(pkt + 24);
    /* A sender hardware address that is broadcast/multicast names no host. */
    if (out->sha[0] & 0x01)
        return -EINVAL;
    return 0;
}

void arp_input(struct tapir_stack *s, const struct ether_repr *eth, const uint8_t *pkt, size_t len)
{
    (void)eth;
    struct arp_repr a;
    if (arp_parse(pkt, len, &a) < 0) {
        stack_drop(s, TAPIR_DROP_ARP_MALFORMED);
        return;
    }
    /* Someone else claims our address (a conflict, RFC 5227 2.4): do not
     * learn it; defending is left to the administrator. A sender of 0.0.0.0
     * is an RFC 5227 probe: nothing to learn, but it may still be answered. */
    bool learnable = a.spa != 0 && a.spa != s->ip && !ipv4_is_broadcast(s, a.spa) &&
                     (a.spa >> 28) != 0xe;
    bool for_us = a.tpa == s->ip;
    /* RFC 826 "Packet Reception": merge the sender into an existing entry
     * whatever the target; add a new entry only if we are the target. */
    bool merged = false;
    if (learnable) {
        struct arp_entry *e = find(s->arp, a.spa);
        if (e) {
            learn(s, e, a.sha);
            merged = true;
        }
    }
    if (!for_us) {
        if (merged)
            s->stats.arp_rx++;
        else
            stack_drop(s, TAPIR_DROP_ARP_NOT_FOR_US);
        return;
    }
    s->stats.arp_rx++;
    if (learnable && !merged) {
        struct arp_entry *e = claim(s->arp, a.spa);
        if (e)
            learn(s, e, a.sha);   /* a full table of pending entries: learn later */
    }
    if (a.op == ARP_OP_REQUEST) {
        send_arp(s, ARP_OP_REPLY, a.sha, a.sha, a.spa, s->ip);
        s->stats.arp_replies_sent++;
    }
}

int arp_cache_lookup(const struct tapir_stack *s, uint32_t ip, uint8_t mac[6])
{
    const struct arp_entry *e = find(s->arp, ip);
    if (!e || e->state != ARP_RESOLVED)
        return -ENOENT;
    memcpy(mac, e->mac, 6);
    return 0;
}

static void enqueue(struct tapir_stack *s, struct arp_entry *e, struct buf *b)
{
    if (e->queue_len >= s->cfg.arp_queue_len) {
        stack_drop(s, TAPIR_DROP_ARP_QUEUE_FULL);
        buf_free(&s->pool, b);
        return;
    }
    b->next = NULL;
    if (e->queue_tail)
        e->queue_tail->next = b;
    else
        e->queue_head = b;
    e->queue_tail = b;
    e->queue_len++;
    s->stats.arp_queued++;
}

void arp_output_ipv4(struct tapir_stack *s, uint32_t nexthop, struct buf *b)
{
    if (ipv4_is_broadcast(s, nexthop)) {
        emit_to(s, ether_broadcast, b);
        return;
    }
    struct arp_entry *e = find(s->arp, nexthop);
    if (e && e->state == ARP_RESOLVED) {
        e->used = true;
        emit_to(s, e->mac, b);
        return;
    }
    if (b->external) {
        /* The TSO scratch buffer cannot wait in a queue (the next frame
         * reuses it): drop it, TCP resends; start resolving meanwhile. */
        stack_drop(s, TAPIR_DROP_TSO_UNRESOLVED);
        if (!e && (e = claim(s->arp, nexthop)) != NULL) {
            e->state = ARP_PENDING;
            e->updated = s->now;
            send_request(s, nexthop);
            e->requests_sent = 1;
            set_deadline(s->arp, e, s->now + s->cfg.arp_retry_interval);
        }
        return;
    }
    if (e) {
        enqueue(s, e, b);
        return;
    }
    e = claim(s->arp, nexthop);
    if (!e) {
        stack_drop(s, TAPIR_DROP_ARP_CACHE_FULL);
        buf_free(&s->pool, b);
        return;
    }
    e->state = ARP_PENDING;
    e->updated = s->now;
    enqueue(s, e, b);
    send_request(s, nexthop);
    e->requests_sent = 1;
    set_deadline(s->arp, e, s->now + s->cfg.arp_retry_interval);
}

int arp_negative_advice(struct tapir_stack *s, uint32_t ip)
{
    if (s->cfg.link != TAPIR_LINK_ETHERNET)
        return -ENOENT;
    struct arp_entry *e = find(s->arp, ip);
    if (!e || e->state != ARP_RESOLVED)
        return -ENOENT;
    if (e->refreshing)
        return 0;                   /* already being re-confirmed */
    /* As an entry that expired while in use: keep the MAC (a live next hop
     * loses nothing) and ask again; retry_or_fail forgets it when nobody
     * answers, and the next packet then resolves afresh. */
    e->refreshing = true;
    e->used = true;
    send_request(s, ip);
    e->requests_sent = 1;
    set_deadline(s->arp, e, s->now + s->cfg.arp_retry_interval);
    return 0;
}

/* A pending (or refreshing) entry's time came: ask again, or give up on it. */
static void retry_or_fail(struct tapir_stack *s, struct arp_entry *e, tapir_time_t now)
{
    if (e->requests_sent < s->cfg.arp_retries) {
        send_request(s, e->ip);
        e->requests_sent++;
        set_deadline(s->arp, e, now + s->cfg.arp_retry_interval);
        return;
    }
    for (struct buf *b = e->queue_head; b; b = b->next)
        stack_drop(s, TAPIR_DROP_ARP_UNRESOLVED);
    buf_free_chain(&s->pool, e->queue_head);
    e->queue_head = e->queue_tail = NULL;
    release(s->arp, e);
}

void arp_poll(struct tapir_stack *s, tapir_time_t now)
{
    struct arp_table *t = s->arp;
    if (now < t->earliest)
        return;
    tapir_time_t earliest = TAPIR_TIME_NEVER;
    for (uint32_t i = 0; i < t->size; i++) {
        struct arp_entry *e = &t->entries[i];
        if (e->state == ARP_FREE)
            continue;
        if (e->deadline <= now) {
            if (e->state == ARP_RESOLVED && !e->refreshing && e->used) {
                /* Expired while in use: keep sending to the known MAC and
                 * ask again (retry_or_fail forgets it if nobody answers). */
                e->refreshing = true;
                e->requests_sent = 0;
            } else if (e->state == ARP_RESOLVED && !e->refreshing) {
                /* Expired unused: forget it; a later packet resolves afresh. */
                release(t, e);
                continue;
            }
            retry_or_fail(s, e, now);
            if (e->state == ARP_FREE)
                continue;
        }
        earliest = time_min(earliest, e->deadline);
    }
    t->earliest = earliest;
}

tapir_time_t arp_next_deadline(const struct tapir_stack *s)
{
    return s->arp->earliest;
}
