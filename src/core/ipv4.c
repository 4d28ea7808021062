/* SCAFFOLD: replaced by the IPv4 implementation (issue 2). Drops everything. */
#include "core/ipv4.h"

#include <errno.h>

#include "core/stack.h"

int ipv4_parse(const uint8_t *pkt, size_t len, struct ipv4_repr *out, enum tapir_drop_reason *why)
{
    (void)pkt; (void)len; (void)out;
    *why = TAPIR_DROP_IP_TOO_SHORT;
    return -EINVAL;
}
int ipv4_init(struct tapir_stack *s) { (void)s; return 0; }
void ipv4_destroy(struct tapir_stack *s) { (void)s; }
void ipv4_input(struct tapir_stack *s, const uint8_t *pkt, size_t len) { (void)pkt; (void)len; stack_drop(s, TAPIR_DROP_IP_TOO_SHORT); }
int ipv4_output(struct tapir_stack *s, uint32_t dst, uint8_t proto, struct buf *b) { (void)dst; (void)proto; buf_free(&s->pool, b); return -EHOSTUNREACH; }
uint32_t ipv4_route(const struct tapir_stack *s, uint32_t dst) { (void)s; (void)dst; return 0; }
uint32_t ipv4_max_payload(const struct tapir_stack *s) { return s->mtu - IPV4_HDR_LEN; }
void ipv4_poll(struct tapir_stack *s, tapir_time_t now) { (void)s; (void)now; }
tapir_time_t ipv4_next_deadline(const struct tapir_stack *s) { (void)s; return TAPIR_TIME_NEVER; }
