/* ICMP (RFC 792): echo reply, destination unreachable (rate limited), and
 * incoming errors handed up to the transport they are about. */
#ifndef TAPIR_CORE_ICMP_H
#define TAPIR_CORE_ICMP_H

#include <stddef.h>
#include <stdint.h>

#include "core/ipv4.h"

#define ICMP_ECHO_REPLY 0
#define ICMP_DEST_UNREACH 3
#define ICMP_ECHO_REQUEST 8
#define ICMP_TIME_EXCEEDED 11
#define ICMP_PARAM_PROBLEM 12
#define ICMP_UNREACH_NET 0
#define ICMP_UNREACH_HOST 1
#define ICMP_UNREACH_PROTO 2
#define ICMP_UNREACH_PORT 3
#define ICMP_UNREACH_NEEDFRAG 4

struct tapir_stack;
int  icmp_init(struct tapir_stack *s);
void icmp_destroy(struct tapir_stack *s);
/* An ICMP message arrived in the datagram described by ip. */
void icmp_input(struct tapir_stack *s, const struct ipv4_repr *ip, const uint8_t *msg, size_t len);
/* Send destination unreachable (code) about the datagram orig (its IPv4
 * header and at least 8 bytes after it), subject to the rate limit. */
void icmp_send_unreachable(struct tapir_stack *s, uint8_t code, const uint8_t *orig, size_t orig_len);
/* Send any ICMP error (type, code) quoting orig (header + 8 bytes), subject
 * to RFC 1122 3.2.2 (never about an ICMP error, a broadcast/multicast, a
 * non-first fragment) and the token bucket (cfg.icmp_error_burst,
 * cfg.icmp_errors_per_sec; ICMP_RATE_LIMITED). 0, -EINVAL when not allowed,
 * -ENOBUFS when rate limited or out of buffers, or ipv4_output's error. */
int icmp_send_error(struct tapir_stack *s, uint8_t type, uint8_t code, const uint8_t *orig, size_t orig_len);

#endif
