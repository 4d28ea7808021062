/* IPv4 reassembly; the policy is described in ipv4_reasm.h.
 *
 * Each datagram in progress has a data area grown to the highest byte seen
 * and a bitmap of the 8-byte blocks received (fragment offsets are in 8-byte
 * units, RFC 791), with a count of blocks filled so completion is O(1):
 * whole once the last fragment fixed the length, fragment 0 gave the header,
 * and every block up to the end is present. */
#include "core/ipv4_reasm.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/checksum.h"
#include "core/icmp.h"
#include "core/stack.h"
#include "core/wire.h"

#define IPV4_MAX_DATAGRAM 65535u
#define BLOCKS (65536u / 8)
#define DATA_GRANULE 1024u      /* the data area grows in steps of this */

struct reasm_dgram {
    struct reasm_dgram *next;
    uint32_t src, dst;
    uint16_t id;
    uint8_t proto;
    bool have_first, have_last;
    tapir_time_t expires;
    struct ipv4_repr first;     /* header of fragment 0 */
    uint8_t hdr[60];            /* its bytes (options included) */
    uint32_t end;               /* payload length, known once have_last */
    uint32_t max_end;           /* highest payload byte received + 1 */
    uint32_t blocks_filled;
    uint8_t *data;
    uint32_t cap;
    uint8_t map[BLOCKS / 8];    /* one bit per 8-byte block */
};

struct ipv4_reasm {
    struct reasm_dgram *list;
    uint32_t count;
    size_t mem;                 /* descriptors + data areas */
};

struct ipv4_reasm *ipv4_reasm_create(void)
{
    return calloc(1, sizeof(struct ipv4_reasm));
}

static void free_dgram(struct ipv4_reasm *r, struct reasm_dgram *d)
{
    struct reasm_dgram **link = &r->list;
    while (*link != d)
        link = &(*link)->next;
    *link = d->next;
    r->mem -= sizeof *d + d->cap;
    r->count--;
    free(d->data);
    free(d);
}

void ipv4_reasm_destroy(struct ipv4_reasm *r)
{
    if (!r)
        return;
    while (r->list)
        free_dgram(r, r->list);
    free(r);
}

uint32_t ipv4_reasm_pending(const struct ipv4_reasm *r) { return r->count; }
size_t ipv4_reasm_memory(const struct ipv4_reasm *r) { return r->mem; }

static struct reasm_dgram *find(struct ipv4_reasm *r, const struct ipv4_repr *ip)
{
    for (struct reasm_dgram *d = r->list; d; d = d->next)
        if (d->id == ip->id && d->src == ip->src && d->dst == ip->dst && d->proto == ip->proto)
            return d;
    return NULL;
}

static struct reasm_dgram *start(struct tapir_stack *s, struct ipv4_reasm *r, const struct ipv4_repr *ip)
{
    if (r->count >= s->cfg.ipfrag_max_datagrams || r->mem + sizeof(struct reasm_dgram) > s->cfg.ipfrag_mem_limit)
        return NULL;
    struct reasm_dgram *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->src = ip->src;
    d->dst = ip->dst;
    d->id = ip->id;
    d->proto = ip->proto;
    d->expires = s->now + s->cfg.ipfrag_timeout;
    d->next = r->list;
    r->list = d;
    r->count++;
    r->mem += sizeof *d;
    return d;
}

/* Grow d's data area to hold end bytes, within the memory bound. */
static int reserve(struct tapir_stack *s, struct ipv4_reasm *r, struct reasm_dgram *d, uint32_t end)
{
    if (end <= d->cap)
        return 0;
    uint32_t cap = (end + DATA_GRANULE - 1) / DATA_GRANULE * DATA_GRANULE;
    if (r->mem - d->cap + cap > s->cfg.ipfrag_mem_limit)
        return -ENOMEM;
    uint8_t *p = realloc(d->data, cap);
    if (!p)
        return -ENOMEM;
    r->mem = r->mem - d->cap + cap;
    d->data = p;
    d->cap = cap;
    return 0;
}

static bool block_has(const struct reasm_dgram *d, uint32_t b) { return (d->map[b / 8] >> (b % 8)) & 1; }
static void block_set(struct reasm_dgram *d, uint32_t b) { d->map[b / 8] |= (uint8_t)(1u << (b % 8)); }

/* Copy [off, end) of the payload into the blocks not yet filled: where
 * fragments overlap, the first data to arrive wins. */
static void fill(struct reasm_dgram *d, const uint8_t *payload, uint32_t off, uint32_t end)
{
    for (uint32_t b = off / 8; b * 8 < end; b++) {
        if (block_has(d, b))
            continue;
        uint32_t from = b * 8, to = from + 8 < end ? from + 8 : end;
        memcpy(d->data + from, payload + (from - off), to - from);
        block_set(d, b);
        d->blocks_filled++;
    }
    if (end > d->max_end)
        d->max_end = end;
}

static void deliver(struct tapir_stack *s, struct ipv4_reasm *r, struct reasm_dgram *d)
{
    struct ipv4_repr ip = d->first;
    ip.total_len = (uint16_t)(ip.ihl + d->end);
    ip.mf = false;
    ip.frag_offset = 0;
    /* Make the kept header describe the whole datagram, so an ICMP error
     * quoting it (protocol unreachable) quotes what the sender sent. */
    put_be16(d->hdr + 2, ip.total_len);
    put_be16(d->hdr + 6, (uint16_t)(get_be16(d->hdr + 6) & 0x4000));
    put_be16(d->hdr + 10, 0);
    put_be16(d->hdr + 10, csum_compute(d->hdr, ip.ihl));
    s->stats.ip_reassembled++;
    ipv4_deliver(s, &ip, d->hdr, d->data, d->end);
    free_dgram(r, d);
}

static void drop_dgram(struct tapir_stack *s, struct ipv4_reasm *r, struct reasm_dgram *d,
                       enum tapir_drop_reason why)
{
    stack_drop(s, why);
    free_dgram(r, d);
}

void ipv4_reasm_input(struct tapir_stack *s, struct ipv4_reasm *r, const struct ipv4_repr *ip,
                      const uint8_t *pkt, size_t len)
{
    uint32_t plen = (uint32_t)(len - ip->ihl);
    uint32_t off = ip->frag_offset, end = off + plen;
    /* RFC 791: every fragment but the last carries a multiple of 8 bytes. */
    if ((ip->mf && (plen == 0 || plen % 8 != 0)) || ip->ihl + end > IPV4_MAX_DATAGRAM) {
        stack_drop(s, TAPIR_DROP_IP_FRAG_BAD);
        return;
    }
    struct reasm_dgram *d = find(r, ip);
    if (!d) {
        d = start(s, r, ip);
        if (!d) {
            stack_drop(s, TAPIR_DROP_IP_FRAG_NO_MEMORY);
            return;
        }
    }
    if (!ip->mf) {
        /* The last fragment fixes the end; it must agree with what came. */
        if ((d->have_last && d->end != end) || end < d->max_end) {
            drop_dgram(s, r, d, TAPIR_DROP_IP_FRAG_BAD);
            return;
        }
        d->have_last = true;
        d->end = end;
    } else if (d->have_last && end > d->end) {
        drop_dgram(s, r, d, TAPIR_DROP_IP_FRAG_BAD);
        return;
    }
    if (off == 0 && !d->have_first) {
        d->have_first = true;
        d->first = *ip;
        memcpy(d->hdr, pkt, ip->ihl);
    }
    if (d->have_first && d->first.ihl + (d->have_last ? d->end : d->max_end) > IPV4_MAX_DATAGRAM) {
        drop_dgram(s, r, d, TAPIR_DROP_IP_FRAG_BAD);
        return;
    }
    if (reserve(s, r, d, end) < 0) {
        /* Without this fragment the datagram can never complete: free it all. */
        drop_dgram(s, r, d, TAPIR_DROP_IP_FRAG_NO_MEMORY);
        return;
    }
    fill(d, pkt + ip->ihl, off, end);
    if (d->have_first && d->have_last && d->blocks_filled == (d->end + 7) / 8)
        deliver(s, r, d);
}

void ipv4_reasm_poll(struct tapir_stack *s, struct ipv4_reasm *r, tapir_time_t now)
{
    struct reasm_dgram *d = r->list;
    while (d) {
        struct reasm_dgram *next = d->next;
        if (d->expires <= now) {
            if (d->have_first) {
                /* RFC 792: time exceeded, code 1 (fragment reassembly time
                 * exceeded), only if fragment 0 arrived (RFC 1122 3.2.1.4).
                 * Fragment 0 carried at least 8 data bytes (a non-last
                 * fragment holds a non-zero multiple of 8). */
                uint8_t quote[60 + 8];
                uint32_t q = d->max_end < 8 ? d->max_end : 8;
                memcpy(quote, d->hdr, d->first.ihl);
                memcpy(quote + d->first.ihl, d->data, q);
                icmp_send_error(s, ICMP_TIME_EXCEEDED, 1, quote, d->first.ihl + q);
            }
            drop_dgram(s, r, d, TAPIR_DROP_IP_FRAG_TIMEOUT);
        }
        d = next;
    }
}

tapir_time_t ipv4_reasm_next_deadline(const struct ipv4_reasm *r)
{
    tapir_time_t t = TAPIR_TIME_NEVER;
    for (const struct reasm_dgram *d = r->list; d; d = d->next)
        t = time_min(t, d->expires);
    return t;
}
