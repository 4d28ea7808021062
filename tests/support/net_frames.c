#include "net_frames.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "core/checksum.h"
#include "core/wire.h"

uint32_t net_ip(const char *dotted)
{
    struct in_addr a;
    if (inet_pton(AF_INET, dotted, &a) != 1)
        abort();
    return ntohl(a.s_addr);
}

void net_ipv4_defaults(struct net_ip_spec *sp, uint32_t src, uint32_t dst, uint8_t proto)
{
    memset(sp, 0, sizeof *sp);
    sp->src = src;
    sp->dst = dst;
    sp->proto = proto;
    sp->ttl = 64;
    sp->id = 1;
}

void net_ipv4_fix_checksum(uint8_t *pkt)
{
    size_t ihl = (size_t)(pkt[0] & 0x0f) * 4;
    put_be16(pkt + 10, 0);
    put_be16(pkt + 10, csum_compute(pkt, ihl));
}

size_t net_ipv4_build(uint8_t *out, const struct net_ip_spec *sp, const uint8_t *payload, size_t plen)
{
    size_t ihl = 20 + sp->optlen;
    out[0] = (uint8_t)(0x40 | (ihl / 4));
    out[1] = sp->tos;
    put_be16(out + 2, (uint16_t)(ihl + plen));
    put_be16(out + 4, sp->id);
    uint16_t frag = (uint16_t)(sp->frag_offset / 8);
    if (sp->df)
        frag |= 0x4000;
    if (sp->mf)
        frag |= 0x2000;
    put_be16(out + 6, frag);
    out[8] = sp->ttl;
    out[9] = sp->proto;
    put_be32(out + 12, sp->src);
    put_be32(out + 16, sp->dst);
    if (sp->optlen)
        memcpy(out + 20, sp->options, sp->optlen);
    if (plen)
        memcpy(out + ihl, payload, plen);
    net_ipv4_fix_checksum(out);
    return ihl + plen;
}

size_t net_icmp_echo(uint8_t *out, uint8_t type, uint16_t ident, uint16_t seq, const uint8_t *data, size_t dlen)
{
    out[0] = type;
    out[1] = 0;
    put_be16(out + 2, 0);
    put_be16(out + 4, ident);
    put_be16(out + 6, seq);
    if (dlen)
        memcpy(out + 8, data, dlen);
    put_be16(out + 2, csum_compute(out, 8 + dlen));
    return 8 + dlen;
}

size_t net_ether_wrap(uint8_t *out, const uint8_t dst[6], const uint8_t src[6], uint16_t ethertype,
                      const uint8_t *payload, size_t plen)
{
    memcpy(out, dst, 6);
    memcpy(out + 6, src, 6);
    put_be16(out + 12, ethertype);
    if (plen)
        memmove(out + 14, payload, plen);
    return 14 + plen;
}

size_t net_arp_build(uint8_t *out, uint16_t op, const uint8_t sha[6], uint32_t spa,
                     const uint8_t tha[6], uint32_t tpa)
{
    put_be16(out, 1);
    put_be16(out + 2, 0x0800);
    out[4] = 6;
    out[5] = 4;
    put_be16(out + 6, op);
    memcpy(out + 8, sha, 6);
    put_be32(out + 14, spa);
    memcpy(out + 18, tha, 6);
    put_be32(out + 24, tpa);
    return 28;
}

struct net_capture *net_capture_new(void)
{
    struct net_capture *c = calloc(1, sizeof *c);
    if (!c)
        abort();
    return c;
}

void net_capture_free(struct net_capture *c) { free(c); }

void net_capture_clear(struct net_capture *c)
{
    c->count = 0;
}

int net_capture_output(void *ctx, const uint8_t *frame, size_t len)
{
    struct net_capture *c = ctx;
    if (c->fail_with)
        return c->fail_with;
    if (c->count < NET_CAPTURE_MAX && len <= NET_CAPTURE_FRAME) {
        memcpy(c->frame[c->count], frame, len);
        c->len[c->count] = len;
    }
    c->count++;
    return 0;
}
