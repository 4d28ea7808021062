/* IPv4 reassembly (RFC 791 3.2): fragments are collected per
 * (src, dst, proto, id) until the datagram is whole, then handed to
 * ipv4_deliver() as one contiguous area.
 *
 * Policy, documented because RFC 791 leaves it open:
 *  - Overlapping fragments are accepted (RFC 5722 forbids them for IPv6 only);
 *    where they overlap, the data that arrived FIRST wins. Duplicates are
 *    therefore harmless.
 *  - A fragment other than the last must carry a non-zero multiple of 8
 *    bytes; a datagram whose end would pass 65535 bytes, two last fragments
 *    that disagree on the end, or data past a known end make the whole
 *    datagram IP_FRAG_BAD (it is dropped).
 *  - Each datagram lives cfg.ipfrag_timeout from its first fragment
 *    (IP_FRAG_TIMEOUT, plus ICMP time exceeded code 1 if fragment 0 came,
 *    RFC 792 / RFC 1122 3.2.1.4).
 *  - At most cfg.ipfrag_max_datagrams datagrams and cfg.ipfrag_mem_limit
 *    bytes (descriptors + data) are held; beyond that, IP_FRAG_NO_MEMORY.
 * Reassembly memory is malloc'd per datagram (bounded by those limits):
 * fragmented traffic is not the steady-state path.
 */
#ifndef TAPIR_CORE_IPV4_REASM_H
#define TAPIR_CORE_IPV4_REASM_H

#include <stddef.h>
#include <stdint.h>

#include "core/ipv4.h"

struct tapir_stack;
struct ipv4_reasm;

struct ipv4_reasm *ipv4_reasm_create(void);
/* Frees every datagram still held. */
void ipv4_reasm_destroy(struct ipv4_reasm *r);
/* A validated fragment addressed to us: ip its header, pkt[0..len) the
 * header and data (trimmed to total_len). Delivers the datagram when whole. */
void ipv4_reasm_input(struct tapir_stack *s, struct ipv4_reasm *r, const struct ipv4_repr *ip,
                      const uint8_t *pkt, size_t len);
void ipv4_reasm_poll(struct tapir_stack *s, struct ipv4_reasm *r, tapir_time_t now);
tapir_time_t ipv4_reasm_next_deadline(const struct ipv4_reasm *r);
/* Datagrams and bytes currently held (for tests and tools). */
uint32_t ipv4_reasm_pending(const struct ipv4_reasm *r);
size_t ipv4_reasm_memory(const struct ipv4_reasm *r);

#endif
