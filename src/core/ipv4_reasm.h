/* IPv4 reassembly (RFC 791 3.2, RFC 815 ideas): fragments are collected per
 * (src, dst, proto, id) until the datagram is whole, then handed to
 * ipv4_deliver() as one contiguous area. Bounded by cfg.ipfrag_mem_limit and
 * cfg.ipfrag_max_datagrams; each datagram lives at most cfg.ipfrag_timeout. */
#ifndef TAPIR_CORE_IPV4_REASM_H
#define TAPIR_CORE_IPV4_REASM_H

#include <stddef.h>
#include <stdint.h>

#include "core/ipv4.h"

struct tapir_stack;
int  ipv4_reasm_init(struct tapir_stack *s);
void ipv4_reasm_destroy(struct tapir_stack *s);
/* A validated fragment (header ip, pkt[0..len) = header + data, trimmed to
 * total_len) of a datagram addressed to us. */
void ipv4_reasm_input(struct tapir_stack *s, const struct ipv4_repr *ip, const uint8_t *pkt, size_t len);
void ipv4_reasm_poll(struct tapir_stack *s, tapir_time_t now);
tapir_time_t ipv4_reasm_next_deadline(const struct tapir_stack *s);
/* Datagrams and bytes currently held (for tests and tools). */
uint32_t ipv4_reasm_pending(const struct tapir_stack *s);
size_t ipv4_reasm_memory(const struct tapir_stack *s);

#endif
