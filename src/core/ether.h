/* Ethernet II framing. */
#ifndef TAPIR_CORE_ETHER_H
#define TAPIR_CORE_ETHER_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define ETHER_HDR_LEN 14
#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_ARP 0x0806

struct ether_repr {
    uint8_t dst[6];
    uint8_t src[6];
    uint16_t ethertype;
};

extern const uint8_t ether_broadcast[6];

/* Parse the header of frame; 0, or -EINVAL if it is too short. */
int ether_parse(const uint8_t *frame, size_t len, struct ether_repr *out);
/* Prepend an Ethernet header to b; 0 or -ENOSPC. */
int ether_push(struct buf *b, const uint8_t dst[6], const uint8_t src[6], uint16_t ethertype);

struct tapir_stack;
/* An Ethernet frame arrived: filter by destination MAC and dispatch. */
void ether_input(struct tapir_stack *s, const uint8_t *frame, size_t len);

#endif
