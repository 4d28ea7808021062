/* The stack object: everything one stack knows lives here (no globals), so
 * several stacks can live in one process. Modules keep their own state behind
 * a pointer they allocate in their *_init() and free in *_destroy().
 *
 * Addresses inside the core are host byte order uint32_t.
 */
#ifndef TAPIR_CORE_STACK_H
#define TAPIR_CORE_STACK_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "tapir/tapir.h"

struct arp_table;
struct ipv4_state;
struct icmp_state;
struct tcp_state;

struct tapir_stack {
    struct tapir_config cfg;
    uint32_t ip;            /* our address, host order */
    uint32_t netmask;       /* host order */
    uint32_t gateway;       /* host order, 0 = none */
    uint8_t mac[6];
    uint32_t mtu;

    tapir_output_fn output;
    void *output_ctx;
    /* Output with metadata (tapir_stack_set_output_meta), and what the
     * device does for us: TAPIR_OFFLOAD_* bits. */
    tapir_output_meta_fn output_meta;
    uint32_t offload_caps;
    struct buf tso_buf;     /* one scratch buffer for TSO frames (output is synchronous) */
    /* The frame being input: its checksums need no verification (the
     * device vouched for them or left them partial, tapir_stack_input_meta). */
    bool rx_csum_trusted;

    tapir_time_t now;       /* time of the input/poll/API call in progress */
    uint64_t rng;           /* xorshift state, from cfg.random_seed */

    struct tapir_stats stats;
    struct buf_pool pool;

    struct arp_table *arp;
    struct ipv4_state *ip4;
    struct icmp_state *icmp;
    struct tcp_state *tcp;

    void *runtime;          /* owned by src/sock when a thread drives the stack */
};

/* Count a drop with its reason. */
static inline void stack_drop(struct tapir_stack *s, enum tapir_drop_reason r)
{
    s->stats.drops[r]++;
    s->stats.drops_total++;
}

/* A 64-bit pseudo-random number (xorshift64*): ports, ARP jitter, not crypto. */
uint64_t stack_random(struct tapir_stack *s);

/* Hand a finished frame to the device; counts eth_tx or OUTPUT_FAILED.
 * Does not free b. */
void stack_emit(struct tapir_stack *s, const struct buf *b);

/* Send an IPv4 packet (header included, at b->data) to the next hop on our
 * link: on an Ethernet link through ARP (which may queue it), on an IP link
 * directly. Consumes b. */
void link_output_ipv4(struct tapir_stack *s, uint32_t nexthop, struct buf *b);

/* TCP may emit TSO frames: the output offers TSO4 and checksum offload
 * (a TSO frame's checksum is always left partial). */
static inline bool stack_tso_ok(const struct tapir_stack *s)
{
    return s->output_meta && s->tso_buf.head &&
           (s->offload_caps & (TAPIR_OFFLOAD_TSO4 | TAPIR_OFFLOAD_CSUM)) ==
               (TAPIR_OFFLOAD_TSO4 | TAPIR_OFFLOAD_CSUM);
}
static inline bool stack_csum_offload(const struct tapir_stack *s)
{
    return s->output_meta && (s->offload_caps & TAPIR_OFFLOAD_CSUM);
}
/* Size of the TSO scratch buffer: a 64 KiB IPv4 datagram plus headroom. */
#define STACK_TSO_BUF_SIZE (65535u + BUF_HEADROOM)

/* Earliest of a and b. */
static inline tapir_time_t time_min(tapir_time_t a, tapir_time_t b) { return a < b ? a : b; }

#endif
