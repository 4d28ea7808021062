/* Frame builders and an output capture for tests of the network layers
 * (Ethernet, ARP, IPv4, ICMP). Builders write into a caller's buffer and
 * return the length written; addresses are host order uint32_t. */
#ifndef TAPIR_TEST_NET_FRAMES_H
#define TAPIR_TEST_NET_FRAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tapir/tapir.h"

/* "10.0.0.2" -> 0x0a000002 */
uint32_t net_ip(const char *dotted);

/* An IPv4 header to build. net_ipv4_defaults() gives ttl 64, DF clear, id 1. */
struct net_ip_spec {
    uint32_t src, dst;
    uint8_t proto, ttl, tos;
    uint16_t id;
    bool df, mf;
    uint16_t frag_offset;       /* bytes, multiple of 8 */
    const uint8_t *options;     /* optlen bytes, multiple of 4, <= 40 */
    size_t optlen;
};
void net_ipv4_defaults(struct net_ip_spec *sp, uint32_t src, uint32_t dst, uint8_t proto);
/* Header (correct checksum) + payload into out. */
size_t net_ipv4_build(uint8_t *out, const struct net_ip_spec *sp, const uint8_t *payload, size_t plen);
/* Recompute the header checksum after a test edited the header. */
void net_ipv4_fix_checksum(uint8_t *pkt);

/* ICMP echo request/reply (type) with data; correct checksum. */
size_t net_icmp_echo(uint8_t *out, uint8_t type, uint16_t ident, uint16_t seq, const uint8_t *data, size_t dlen);

/* Ethernet II header + payload. */
size_t net_ether_wrap(uint8_t *out, const uint8_t dst[6], const uint8_t src[6], uint16_t ethertype,
                      const uint8_t *payload, size_t plen);
/* ARP for IPv4 over Ethernet (28 bytes). */
size_t net_arp_build(uint8_t *out, uint16_t op, const uint8_t sha[6], uint32_t spa,
                     const uint8_t tha[6], uint32_t tpa);

/* Captures frames emitted by a stack: tapir_stack_set_output(s, net_capture_output, cap). */
#define NET_CAPTURE_MAX 256
#define NET_CAPTURE_FRAME 2048
struct net_capture {
    size_t count;               /* frames seen (only the first NET_CAPTURE_MAX are kept) */
    size_t len[NET_CAPTURE_MAX];
    uint8_t frame[NET_CAPTURE_MAX][NET_CAPTURE_FRAME];
    int fail_with;              /* if nonzero, refuse frames with this (negative) errno */
};
struct net_capture *net_capture_new(void);
void net_capture_free(struct net_capture *c);
void net_capture_clear(struct net_capture *c);
int net_capture_output(void *ctx, const uint8_t *frame, size_t len);

#endif
