/* ARP (RFC 826) for IPv4 over Ethernet: answer requests for our address,
 * keep a bounded cache with expiry, resolve on demand with retries, and hold a
 * bounded queue of packets per address being resolved. */
#ifndef TAPIR_CORE_ARP_H
#define TAPIR_CORE_ARP_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/ether.h"
#include "tapir/tapir.h"

struct tapir_stack;

int  arp_init(struct tapir_stack *s);
void arp_destroy(struct tapir_stack *s);
/* An ARP packet (after the Ethernet header) arrived. */
void arp_input(struct tapir_stack *s, const struct ether_repr *eth, const uint8_t *pkt, size_t len);
/* Send the IPv4 packet at b->data to nexthop: now if its MAC is known,
 * otherwise queue it and resolve. Consumes b. */
void arp_output_ipv4(struct tapir_stack *s, uint32_t nexthop, struct buf *b);
/* Gratuitous ARP announcing our address (RFC 5227 2.3). */
void arp_announce(struct tapir_stack *s);
void arp_poll(struct tapir_stack *s, tapir_time_t now);
/* When arp_poll must run next: never later than needed, but possibly earlier
 * (a cached lower bound, made exact by the next arp_poll). */
tapir_time_t arp_next_deadline(const struct tapir_stack *s);
/* Negative advice from a transport (RFC 1122 3.3.1.4, RFC 9293 3.8.3 (b)):
 * traffic through next hop ip gets no answer, so its cached MAC is no
 * longer trusted: a resolved entry is re-confirmed at once with a fresh
 * request (packets keep using the old MAC meanwhile) and forgotten if no
 * reply comes after cfg.arp_retries requests. 0, or -ENOENT if ip has no
 * resolved entry (nothing cached, or being resolved already) or the link
 * has no ARP. */
int arp_negative_advice(struct tapir_stack *s, uint32_t ip);
/* The cached MAC of ip (host order): 0, or -ENOENT if none is resolved. */
int arp_cache_lookup(const struct tapir_stack *s, uint32_t ip, uint8_t mac[6]);

#endif
