/* SCAFFOLD: replaced by the TCP core (issue 3). Drops everything. */
#include "core/tcp.h"

#include "core/stack.h"

int tcp_init(struct tapir_stack *s) { (void)s; return 0; }
void tcp_destroy(struct tapir_stack *s) { (void)s; }
void tcp_input(struct tapir_stack *s, const struct ipv4_repr *ip, const uint8_t *seg, size_t len) { (void)ip; (void)seg; (void)len; stack_drop(s, TAPIR_DROP_TCP_NO_SOCKET); }
void tcp_icmp_error(struct tapir_stack *s, uint8_t type, uint8_t code, const struct ipv4_repr *inner, const uint8_t *l4, size_t l4_len) { (void)s; (void)type; (void)code; (void)inner; (void)l4; (void)l4_len; }
void tcp_poll(struct tapir_stack *s, tapir_time_t now) { (void)s; (void)now; }
tapir_time_t tcp_next_deadline(const struct tapir_stack *s) { (void)s; return TAPIR_TIME_NEVER; }
void tapir_stack_set_state_hook(tapir_stack *s, tapir_state_hook fn, void *ctx) { (void)s; (void)fn; (void)ctx; }
