/* SCAFFOLD: replaced by the ARP implementation (issue 2). Drops everything. */
#include "core/arp.h"

#include <errno.h>

#include "core/stack.h"

int arp_init(struct tapir_stack *s) { (void)s; return 0; }
void arp_destroy(struct tapir_stack *s) { (void)s; }
void arp_input(struct tapir_stack *s, const struct ether_repr *eth, const uint8_t *pkt, size_t len)
{
    (void)eth; (void)pkt; (void)len;
    stack_drop(s, TAPIR_DROP_ARP_MALFORMED);
}
void arp_output_ipv4(struct tapir_stack *s, uint32_t nexthop, struct buf *b)
{
    (void)nexthop;
    stack_drop(s, TAPIR_DROP_ARP_UNRESOLVED);
    buf_free(&s->pool, b);
}
void arp_announce(struct tapir_stack *s) { (void)s; }
void arp_poll(struct tapir_stack *s, tapir_time_t now) { (void)s; (void)now; }
tapir_time_t arp_next_deadline(const struct tapir_stack *s) { (void)s; return TAPIR_TIME_NEVER; }
int arp_cache_lookup(const struct tapir_stack *s, uint32_t ip, uint8_t mac[6]) { (void)s; (void)ip; (void)mac; return -ENOENT; }
