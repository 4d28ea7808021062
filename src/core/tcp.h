/* TCP (RFC 9293): what the rest of the core calls. The connection block,
 * states and sequence arithmetic live in tcp_*.h beside this file; the
 * application-facing calls are in tcp_api.h. */
#ifndef TAPIR_CORE_TCP_H
#define TAPIR_CORE_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/ipv4.h"

struct tapir_stack;
int  tcp_init(struct tapir_stack *s);
void tcp_destroy(struct tapir_stack *s);
/* A TCP segment (header + data) arrived in the datagram described by ip. */
void tcp_input(struct tapir_stack *s, const struct ipv4_repr *ip, const uint8_t *seg, size_t len);
/* An ICMP error (type, code) arrived quoting a datagram we sent: inner is its
 * header, l4 the first bytes of its TCP header (at least 8). */
void tcp_icmp_error(struct tapir_stack *s, uint8_t type, uint8_t code,
                    const struct ipv4_repr *inner, const uint8_t *l4, size_t l4_len);
void tcp_poll(struct tapir_stack *s, tapir_time_t now);
/* A batch of input frames: in-order segments of established connections
 * have their output (ACK, data the ACK releases) and notification deferred
 * to tcp_batch_end, once per connection (tapir_stack_batch_begin). */
void tcp_batch_begin(struct tapir_stack *s);
void tcp_batch_end(struct tapir_stack *s);
tapir_time_t tcp_next_deadline(const struct tapir_stack *s);
/* Connections alive (any state, TIME_WAIT included, compact TIME_WAIT
 * records too): for tests and tools. */
uint32_t tcp_conn_count(const struct tapir_stack *s);
/* Of those, the orphans in TIME_WAIT held as compact records
 * (tcp_timewait.h), and the memory the records hold, in bytes: their slab
 * blocks and their 4-tuple table. */
uint32_t tcp_timewait_count(const struct tapir_stack *s);
size_t tcp_timewait_memory(const struct tapir_stack *s);
/* For tests: off, orphans in TIME_WAIT stay full connections (as before
 * compact records existed), so the two can be compared; on by default. */
void tcp_timewait_set_enabled(struct tapir_stack *s, bool on);

#endif
