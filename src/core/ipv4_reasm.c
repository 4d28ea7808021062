/* TEMPORARY: fragments are dropped until reassembly lands. */
#include "core/ipv4_reasm.h"

#include "core/stack.h"

int ipv4_reasm_init(struct tapir_stack *s) { (void)s; return 0; }
void ipv4_reasm_destroy(struct tapir_stack *s) { (void)s; }
void ipv4_reasm_input(struct tapir_stack *s, const struct ipv4_repr *ip, const uint8_t *pkt, size_t len)
{
    (void)ip; (void)pkt; (void)len;
    stack_drop(s, TAPIR_DROP_IP_FRAG_NO_MEMORY);
}
void ipv4_reasm_poll(struct tapir_stack *s, tapir_time_t now) { (void)s; (void)now; }
tapir_time_t ipv4_reasm_next_deadline(const struct tapir_stack *s) { (void)s; return TAPIR_TIME_NEVER; }
uint32_t ipv4_reasm_pending(const struct tapir_stack *s) { (void)s; return 0; }
size_t ipv4_reasm_memory(const struct tapir_stack *s) { (void)s; return 0; }
