#include "core/ether.h"

#include <errno.h>
#include <string.h>

#include "core/arp.h"
#include "core/ipv4.h"
#include "core/stack.h"
#include "core/wire.h"

const uint8_t ether_broadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

int ether_parse(const uint8_t *frame, size_t len, struct ether_repr *out)
{
    if (len < ETHER_HDR_LEN)
        return -EINVAL;
    memcpy(out->dst, frame, 6);
    memcpy(out->src, frame + 6, 6);
    out->ethertype = get_be16(frame + 12);
    return 0;
}

int ether_push(struct buf *b, const uint8_t dst[6], const uint8_t src[6], uint16_t ethertype)
{
    uint8_t *h = buf_push(b, ETHER_HDR_LEN);
    if (!h)
        return -ENOSPC;
    memcpy(h, dst, 6);
    memcpy(h + 6, src, 6);
    put_be16(h + 12, ethertype);
    return 0;
}

void ether_input(struct tapir_stack *s, const uint8_t *frame, size_t len)
{
    struct ether_repr eth;
    if (ether_parse(frame, len, &eth) < 0) {
        stack_drop(s, TAPIR_DROP_ETH_TOO_SHORT);
        return;
    }
    /* Accept our unicast address and broadcast; everything else on the
     * segment (a bridge floods unknown unicast) is someone else's. */
    if (memcmp(eth.dst, s->mac, 6) != 0 && memcmp(eth.dst, ether_broadcast, 6) != 0) {
        stack_drop(s, TAPIR_DROP_ETH_NOT_OURS);
        return;
    }
    const uint8_t *payload = frame + ETHER_HDR_LEN;
    size_t plen = len - ETHER_HDR_LEN;
    switch (eth.ethertype) {
    case ETHERTYPE_ARP:
        arp_input(s, &eth, payload, plen);
        break;
    case ETHERTYPE_IPV4:
        ipv4_input(s, payload, plen);
        break;
    default:
        stack_drop(s, TAPIR_DROP_ETH_UNKNOWN_TYPE);
        break;
    }
}
