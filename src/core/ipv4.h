/* IPv4 (RFC 791, RFC 1122): validation, reassembly, routing on one
 * interface, output. Outgoing packets are never fragmented: every protocol
 * above keeps its packets within the MTU (TCP through its MSS). The one
 * exception is the ICMP echo reply to a large (reassembled) echo request,
 * which goes out through ipv4_output_fragmented(). */
#ifndef TAPIR_CORE_IPV4_H
#define TAPIR_CORE_IPV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "tapir/tapir.h"

#define IPV4_HDR_LEN 20
#define IPPROTO_ICMP_NUM 1
#define IPPROTO_TCP_NUM 6
#define IPPROTO_UDP_NUM 17

/* A parsed header, host order. */
struct ipv4_repr {
    uint8_t ihl;            /* header length in bytes (20..60) */
    uint8_t tos;
    uint16_t total_len;
    uint16_t id;
    bool df, mf;
    uint16_t frag_offset;   /* in bytes */
    uint8_t ttl;
    uint8_t proto;
    uint32_t src, dst;
};

/* Parse and validate (version, IHL, total length against len, checksum).
 * 0, or -EINVAL with *why set to the drop reason. */
int ipv4_parse(const uint8_t *pkt, size_t len, struct ipv4_repr *out, enum tapir_drop_reason *why);

struct tapir_stack;
int  ipv4_init(struct tapir_stack *s);
void ipv4_destroy(struct tapir_stack *s);
/* An IPv4 packet arrived (after any link header). */
void ipv4_input(struct tapir_stack *s, const uint8_t *pkt, size_t len);
/* b->data holds a transport header and payload: prepend an IPv4 header from
 * us to dst, route and send. Consumes b. 0, -EHOSTUNREACH (no route) or
 * -EMSGSIZE (over the MTU). */
int ipv4_output(struct tapir_stack *s, uint32_t dst, uint8_t proto, struct buf *b);
/* The same with the header's TOS byte and TTL chosen by the sender (a TCP
 * connection's IP_TOS / IP_TTL, RFC 9293 3.9.1.9); ttl 0 means the stack's
 * cfg.ip_ttl. ipv4_output() is this with tos 0 and ttl 0. */
int ipv4_output_tos_ttl(struct tapir_stack *s, uint32_t dst, uint8_t proto, uint8_t tos, uint8_t ttl,
                        struct buf *b);
/* The next hop for dst (dst itself when on-link, else the gateway), 0 if none. */
uint32_t ipv4_route(const struct tapir_stack *s, uint32_t dst);
/* Largest transport segment (header included) that fits the MTU unfragmented. */
uint32_t ipv4_max_payload(const struct tapir_stack *s);
/* Send l4hdr ++ data (a transport header and payload, not contiguous) to dst,
 * split into fragments when it exceeds the MTU (RFC 791 3.2). Used only for
 * ICMP echo replies; everything else respects the MTU. Copies; the caller
 * keeps its memory. 0, -EHOSTUNREACH, -EMSGSIZE (> 65535) or -ENOBUFS. */
int ipv4_output_fragmented(struct tapir_stack *s, uint32_t dst, uint8_t proto,
                           const uint8_t *l4hdr, size_t hlen, const uint8_t *data, size_t dlen);
/* Hand a whole (possibly reassembled) datagram to its protocol: hdr is its
 * IPv4 header (ip->ihl bytes), payload its ip->total_len - ihl data bytes. */
void ipv4_deliver(struct tapir_stack *s, const struct ipv4_repr *ip, const uint8_t *hdr,
                  const uint8_t *payload, size_t plen);
/* Our subnet's directed broadcast address (host order). */
uint32_t ipv4_subnet_broadcast(const struct tapir_stack *s);
/* True for 255.255.255.255 and our subnet's directed broadcast. */
bool ipv4_is_broadcast(const struct tapir_stack *s, uint32_t addr);
/* The reassembly state (ipv4_reasm.h), for tests and tools. */
struct ipv4_reasm;
const struct ipv4_reasm *ipv4_reasm_of(const struct tapir_stack *s);
void ipv4_poll(struct tapir_stack *s, tapir_time_t now);
tapir_time_t ipv4_next_deadline(const struct tapir_stack *s);

#endif
