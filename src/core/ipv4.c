/* IPv4 (RFC 791, RFC 1122 3.2.1): validation, address checks, dispatch to
 * the protocols, routing on our one interface, and output.
 *
 * Input:  parse (ipv4_parse) -> destination/source checks -> trim link
 *         padding -> reassemble fragments (ipv4_reasm.c) -> deliver by
 *         protocol (ipv4_deliver).
 * Output: ipv4_output builds one header; nothing is fragmented on output
 *         except ICMP echo replies (ipv4_output_fragmented), see ipv4.h.
 */
#include "core/ipv4.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/checksum.h"
#include "core/icmp.h"
#include "core/ipv4_reasm.h"
#include "core/stack.h"
#include "core/tcp.h"
#include "core/wire.h"

struct ipv4_state {
    uint16_t next_id;       /* Identification of the next datagram we send */
    struct ipv4_reasm *reasm;
};

int ipv4_parse(const uint8_t *pkt, size_t len, struct ipv4_repr *out, enum tapir_drop_reason *why)
{
    if (len < IPV4_HDR_LEN) {
        *why = TAPIR_DROP_IP_TOO_SHORT;
        return -EINVAL;
    }
    if ((pkt[0] >> 4) != 4) {
        *why = TAPIR_DROP_IP_BAD_VERSION;
        return -EINVAL;
    }
    size_t ihl = (size_t)(pkt[0] & 0x0f) * 4;
    if (ihl < IPV4_HDR_LEN || ihl > len) {
        *why = TAPIR_DROP_IP_BAD_IHL;
        return -EINVAL;
    }
    size_t total_len = get_be16(pkt + 2);
    /* Bytes past total_len are link padding (Ethernet pads to 60 bytes) and
     * are trimmed by the caller; fewer bytes than total_len is a truncation. */
    if (total_len < ihl || total_len > len) {
        *why = TAPIR_DROP_IP_BAD_LENGTH;
        return -EINVAL;
    }
    if (csum_compute(pkt, ihl) != 0) {
        *why = TAPIR_DROP_IP_BAD_CHECKSUM;
        return -EINVAL;
    }
    uint16_t frag = get_be16(pkt + 6);
    out->ihl = (uint8_t)ihl;
    out->tos = pkt[1];
    out->total_len = (uint16_t)total_len;
    out->id = get_be16(pkt + 4);
    out->df = (frag & 0x4000) != 0;
    out->mf = (frag & 0x2000) != 0;
    out->frag_offset = (uint16_t)((frag & 0x1fff) * 8);
    out->ttl = pkt[8];
    out->proto = pkt[9];
    out->src = get_be32(pkt + 12);
    out->dst = get_be32(pkt + 16);
    return 0;
}

int ipv4_init(struct tapir_stack *s)
{
    s->ip4 = calloc(1, sizeof *s->ip4);
    if (!s->ip4)
        return -ENOMEM;
    /* Start the Identification counter at a random point so two runs (or
     * two stacks) do not emit the same sequence (RFC 6864 4.1 discusses why
     * IDs need only be unique per src/dst/proto within the MSL). */
    s->ip4->next_id = (uint16_t)stack_random(s);
    s->ip4->reasm = ipv4_reasm_create();
    if (!s->ip4->reasm) {
        free(s->ip4);
        s->ip4 = NULL;
        return -ENOMEM;
    }
    return 0;
}

void ipv4_destroy(struct tapir_stack *s)
{
    if (!s->ip4)
        return;
    ipv4_reasm_destroy(s->ip4->reasm);
    free(s->ip4);
    s->ip4 = NULL;
}

uint32_t ipv4_subnet_broadcast(const struct tapir_stack *s)
{
    return s->ip | ~s->netmask;
}

bool ipv4_is_broadcast(const struct tapir_stack *s, uint32_t addr)
{
    if (addr == 0xffffffffu)
        return true;
    /* A /31 or /32 has no directed broadcast address (RFC 3021). */
    return s->netmask < 0xfffffffeu && addr == ipv4_subnet_broadcast(s);
}

static bool is_multicast(uint32_t addr) { return (addr >> 28) == 0xe; }

/* RFC 1122 3.2.1.3: a source address must name one host. Drop broadcast,
 * multicast, class E, 0.0.0.0 (only legal while a host learns its address,
 * which we never do), loopback (127/8 must not appear on a wire) and our own
 * address (a reflected or spoofed packet). */
static bool source_is_sane(const struct tapir_stack *s, uint32_t src)
{
    if (src == 0 || ipv4_is_broadcast(s, src) || is_multicast(src))
        return false;
    if ((src >> 28) == 0xf || (src >> 24) == 127)
        return false;
    return src != s->ip;
}

void ipv4_deliver(struct tapir_stack *s, const struct ipv4_repr *ip, const uint8_t *hdr,
                  const uint8_t *payload, size_t plen)
{
    s->stats.ip_rx++;
    switch (ip->proto) {
    case IPPROTO_ICMP_NUM:
        icmp_input(s, ip, payload, plen);
        return;
    case IPPROTO_TCP_NUM:
        /* TCP is unicast only (RFC 1122 4.2.3.10: discard SYNs to broadcast). */
        if (ip->dst != s->ip) {
            stack_drop(s, TAPIR_DROP_IP_NOT_OURS);
            return;
        }
        tcp_input(s, ip, payload, plen);
        return;
    default: {
        /* RFC 1122 3.2.2.1: protocol unreachable (code 2). The quote is the
         * header plus the first 8 payload bytes, built here because a
         * reassembled datagram's header and payload are not adjacent. */
        uint8_t quote[60 + 8];
        size_t qlen = plen < 8 ? plen : 8;
        memcpy(quote, hdr, ip->ihl);
        memcpy(quote + ip->ihl, payload, qlen);
        icmp_send_unreachable(s, ICMP_UNREACH_PROTO, quote, ip->ihl + qlen);
        stack_drop(s, TAPIR_DROP_IP_UNKNOWN_PROTO);
        return;
    }
    }
}

void ipv4_input(struct tapir_stack *s, const uint8_t *pkt, size_t len)
{
    struct ipv4_repr ip;
    enum tapir_drop_reason why;
    if (ipv4_parse(pkt, len, &ip, &why) < 0) {
        stack_drop(s, why);
        return;
    }
    /* RFC 1122 3.2.1.3: accept our address, limited broadcast and the
     * directed broadcast of our subnet. We are not a router. */
    if (ip.dst != s->ip && !ipv4_is_broadcast(s, ip.dst)) {
        stack_drop(s, TAPIR_DROP_IP_NOT_OURS);
        return;
    }
    if (!source_is_sane(s, ip.src)) {
        stack_drop(s, TAPIR_DROP_IP_BAD_SOURCE);
        return;
    }
    /* Options (RFC 791 3.1) are skipped: none changes what a host does with
     * the datagram here (no source routing, no record route replies). */
    len = ip.total_len;
    if (ip.mf || ip.frag_offset != 0) {
        s->stats.ip_frags_rx++;
        ipv4_reasm_input(s, s->ip4->reasm, &ip, pkt, len);
        return;
    }
    ipv4_deliver(s, &ip, pkt, pkt + ip.ihl, len - ip.ihl);
}

uint32_t ipv4_route(const struct tapir_stack *s, uint32_t dst)
{
    if (dst == 0)
        return 0;
    if (ipv4_is_broadcast(s, dst))
        return dst;
    if ((dst & s->netmask) == (s->ip & s->netmask))
        return dst;
    return s->gateway;
}

uint32_t ipv4_max_payload(const struct tapir_stack *s)
{
    return s->mtu - IPV4_HDR_LEN;
}

static void write_header(uint8_t *h, const struct ipv4_repr *ip)
{
    h[0] = (uint8_t)(0x40 | (ip->ihl / 4));
    h[1] = ip->tos;
    put_be16(h + 2, ip->total_len);
    put_be16(h + 4, ip->id);
    uint16_t frag = (uint16_t)(ip->frag_offset / 8);
    if (ip->df)
        frag |= 0x4000;
    if (ip->mf)
        frag |= 0x2000;
    put_be16(h + 6, frag);
    h[8] = ip->ttl;
    h[9] = ip->proto;
    put_be16(h + 10, 0);
    put_be32(h + 12, ip->src);
    put_be32(h + 16, ip->dst);
    put_be16(h + 10, csum_compute(h, IPV4_HDR_LEN));
}

static void header_for(struct tapir_stack *s, uint32_t dst, uint8_t proto, struct ipv4_repr *ip)
{
    memset(ip, 0, sizeof *ip);
    ip->ihl = IPV4_HDR_LEN;
    ip->id = s->ip4->next_id++;
    ip->ttl = s->cfg.ip_ttl;
    ip->proto = proto;
    ip->src = s->ip;
    ip->dst = dst;
}

int ipv4_output(struct tapir_stack *s, uint32_t dst, uint8_t proto, struct buf *b)
{
    return ipv4_output_tos_ttl(s, dst, proto, 0, 0, b);
}

int ipv4_output_tos_ttl(struct tapir_stack *s, uint32_t dst, uint8_t proto, uint8_t tos, uint8_t ttl,
                        struct buf *b)
{
    uint32_t nexthop = ipv4_route(s, dst);
    if (nexthop == 0) {
        stack_drop(s, TAPIR_DROP_IP_NO_ROUTE);
        buf_free(&s->pool, b);
        return -EHOSTUNREACH;
    }
    /* A TSO frame (b->gso_size) goes to a device that cuts it to the MTU. */
    size_t limit = b->gso_size ? 65535u : s->mtu;
    if ((size_t)b->len + IPV4_HDR_LEN > limit) {
        stack_drop(s, TAPIR_DROP_IP_TOO_BIG);
        buf_free(&s->pool, b);
        return -EMSGSIZE;
    }
    uint8_t *h = buf_push(b, IPV4_HDR_LEN);
    if (!h) {
        /* Every sender reserves BUF_HEADROOM; reaching this is a bug upstream. */
        stack_drop(s, TAPIR_DROP_NO_BUFFER);
        buf_free(&s->pool, b);
        return -ENOSPC;
    }
    struct ipv4_repr ip;
    header_for(s, dst, proto, &ip);
    ip.tos = tos;
    if (ttl)
        ip.ttl = ttl;
    ip.total_len = (uint16_t)b->len;
    /* DF on everything we send: our packets fit the MTU, and PMTU discovery
     * (RFC 1191) needs it. */
    ip.df = true;
    if (b->gso_size) {
        /* The device gives each segment of a TSO frame the next ID in turn
         * (as Linux's GSO does for TCPV4): skip the ones it will use. */
        uint32_t payload = b->len - IPV4_HDR_LEN - (uint32_t)(b->csum_l4 ? ((b->csum_l4[12] >> 4) * 4) : 0);
        uint32_t segs = (payload + b->gso_size - 1) / b->gso_size;
        s->ip4->next_id = (uint16_t)(s->ip4->next_id + (segs > 1 ? segs - 1 : 0));
    }
    write_header(h, &ip);
    s->stats.ip_tx++;
    link_output_ipv4(s, nexthop, b);
    return 0;
}

/* Copy n bytes at offset off of the concatenation l4hdr ++ data. */
static void copy_concat(uint8_t *to, const uint8_t *l4hdr, size_t hlen, const uint8_t *data,
                        size_t off, size_t n)
{
    if (off < hlen) {
        size_t k = hlen - off < n ? hlen - off : n;
        memcpy(to, l4hdr + off, k);
        to += k;
        off += k;
        n -= k;
    }
    if (n)
        memcpy(to, data + (off - hlen), n);
}

int ipv4_output_fragmented(struct tapir_stack *s, uint32_t dst, uint8_t proto,
                           const uint8_t *l4hdr, size_t hlen, const uint8_t *data, size_t dlen)
{
    size_t total = hlen + dlen;
    if (total + IPV4_HDR_LEN > 65535) {
        stack_drop(s, TAPIR_DROP_IP_TOO_BIG);
        return -EMSGSIZE;
    }
    uint32_t nexthop = ipv4_route(s, dst);
    if (nexthop == 0) {
        stack_drop(s, TAPIR_DROP_IP_NO_ROUTE);
        return -EHOSTUNREACH;
    }
    struct ipv4_repr ip;
    header_for(s, dst, proto, &ip);
    /* Fragment payloads other than the last are multiples of 8 (RFC 791). */
    size_t per_frag = ((s->mtu - IPV4_HDR_LEN) / 8) * 8;
    size_t room = s->pool.size - BUF_HEADROOM;
    if (room < per_frag)
        per_frag = (room / 8) * 8;
    ip.df = total + IPV4_HDR_LEN <= s->mtu;
    s->stats.ip_tx++;   /* one datagram, however many fragments */
    for (size_t off = 0; off < total || off == 0;) {
        size_t n = total - off < per_frag ? total - off : per_frag;
        struct buf *b = buf_alloc(&s->pool);
        if (!b) {
            stack_drop(s, TAPIR_DROP_NO_BUFFER);
            return -ENOBUFS;
        }
        uint8_t *p = buf_put(b, (uint32_t)n);
        copy_concat(p, l4hdr, hlen, data, off, n);
        uint8_t *h = buf_push(b, IPV4_HDR_LEN);
        ip.frag_offset = (uint16_t)off;
        ip.mf = off + n < total;
        ip.total_len = (uint16_t)(n + IPV4_HDR_LEN);
        write_header(h, &ip);
        link_output_ipv4(s, nexthop, b);
        off += n;
        if (n == 0)
            break;
    }
    return 0;
}

void ipv4_poll(struct tapir_stack *s, tapir_time_t now)
{
    ipv4_reasm_poll(s, s->ip4->reasm, now);
}

tapir_time_t ipv4_next_deadline(const struct tapir_stack *s)
{
    return ipv4_reasm_next_deadline(s->ip4->reasm);
}

const struct ipv4_reasm *ipv4_reasm_of(const struct tapir_stack *s)
{
    return s->ip4->reasm;
}
