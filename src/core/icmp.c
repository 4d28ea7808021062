/* SCAFFOLD: replaced by the ICMP implementation (issue 2). */
#include "core/icmp.h"

#include "core/stack.h"

int icmp_init(struct tapir_stack *s) { (void)s; return 0; }
void icmp_destroy(struct tapir_stack *s) { (void)s; }
void icmp_input(struct tapir_stack *s, const struct ipv4_repr *ip, const uint8_t *msg, size_t len) { (void)ip; (void)msg; (void)len; stack_drop(s, TAPIR_DROP_ICMP_UNSUPPORTED); }
void icmp_send_unreachable(struct tapir_stack *s, uint8_t code, const uint8_t *orig, size_t orig_len) { (void)s; (void)code; (void)orig; (void)orig_len; }
