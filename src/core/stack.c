/* The engine facade: create/destroy, input, poll, next_deadline.
 * Each layer keeps its own state; this file only wires them together. */
#include "core/stack.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/arp.h"
#include "core/ether.h"
#include "core/icmp.h"
#include "core/ipv4.h"
#include "core/tcp.h"

uint64_t stack_random(struct tapir_stack *s)
{
    /* xorshift64* (Vigna): small, fast, seedable for replayable tests. */
    uint64_t x = s->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    s->rng = x;
    return x * 0x2545f4914f6cdd1dull;
}

static uint32_t prefix_to_mask(uint8_t prefix)
{
    return prefix == 0 ? 0 : prefix >= 32 ? 0xffffffffu : ~((1u << (32 - prefix)) - 1);
}

int tapir_stack_create(const struct tapir_config *cfg, tapir_stack **out)
{
    *out = NULL;
    if (!cfg || cfg->prefix_len > 32 || cfg->mtu < 576 || cfg->addr.s_addr == 0 ||
        cfg->buf_size < cfg->mtu + ETHER_HDR_LEN + BUF_HEADROOM)
        return -EINVAL;
    struct tapir_stack *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->cfg = *cfg;
    s->ip = ntohl(cfg->addr.s_addr);
    s->netmask = prefix_to_mask(cfg->prefix_len);
    s->gateway = ntohl(cfg->gateway.s_addr);
    s->mtu = cfg->mtu;
    s->rng = cfg->random_seed ? cfg->random_seed : 0x853c49e6748fea9bull;
    static const uint8_t zero_mac[6];
    if (memcmp(cfg->mac, zero_mac, 6) == 0) {
        uint64_t r = stack_random(s);
        for (int i = 0; i < 6; i++)
            s->mac[i] = (uint8_t)(r >> (8 * i));
        s->mac[0] = (uint8_t)((s->mac[0] & 0xfe) | 0x02);   /* unicast, locally administered */
    } else {
        memcpy(s->mac, cfg->mac, 6);
    }

    int err = buf_pool_init(&s->pool, cfg->buf_count, cfg->buf_size, &s->stats.buf_alloc_fail);
    if (err == 0) err = arp_init(s);
    if (err == 0) err = ipv4_init(s);
    if (err == 0) err = icmp_init(s);
    if (err == 0) err = tcp_init(s);
    if (err < 0) {
        tapir_stack_destroy(s);
        return err;
    }
    *out = s;
    return 0;
}

void tapir_stack_destroy(tapir_stack *s)
{
    if (!s)
        return;
    tcp_destroy(s);
    icmp_destroy(s);
    ipv4_destroy(s);
    arp_destroy(s);
    buf_pool_destroy(&s->pool);
    free(s->tso_buf.head);
    free(s);
}

void tapir_stack_set_output(tapir_stack *s, tapir_output_fn fn, void *ctx)
{
    s->output = fn;
    s->output_ctx = ctx;
    s->output_meta = NULL;
    s->offload_caps = 0;
}

int tapir_stack_set_output_meta(tapir_stack *s, tapir_output_meta_fn fn, void *ctx, uint32_t caps)
{
    /* TSO frames do not fit the pool's buffers: one scratch buffer serves
     * them all, since a frame is handed to the output before the next is
     * built. Allocated once here, never per segment. */
    if ((caps & TAPIR_OFFLOAD_TSO4) && !s->tso_buf.head) {
        s->tso_buf.head = malloc(STACK_TSO_BUF_SIZE);
        if (!s->tso_buf.head)
            return -ENOMEM;
        s->tso_buf.cap = STACK_TSO_BUF_SIZE;
    }
    s->output = NULL;
    s->output_meta = fn;
    s->output_ctx = ctx;
    s->offload_caps = caps & (TAPIR_OFFLOAD_CSUM | TAPIR_OFFLOAD_TSO4);
    return 0;
}

void tapir_stack_link_up(tapir_stack *s, tapir_time_t now)
{
    s->now = now;
    if (s->cfg.link == TAPIR_LINK_ETHERNET)
        arp_announce(s);
}

void tapir_stack_input(tapir_stack *s, const uint8_t *frame, size_t len, tapir_time_t now)
{
    s->now = now;
    s->stats.eth_rx++;
    if (s->cfg.link == TAPIR_LINK_ETHERNET)
        ether_input(s, frame, len);
    else
        ipv4_input(s, frame, len);
}

void tapir_stack_batch_begin(tapir_stack *s)
{
    tcp_batch_begin(s);
}

void tapir_stack_batch_end(tapir_stack *s)
{
    tcp_batch_end(s);
}

void tapir_stack_input_meta(tapir_stack *s, const uint8_t *frame, size_t len, tapir_time_t now,
                            const struct tapir_frame_meta *meta)
{
    if (!meta) {
        tapir_stack_input(s, frame, len, now);
        return;
    }
    /* A frame from the local kernel over TAP never crossed a wire: when it
     * says the checksum is verified (DATA_VALID) or still to be completed
     * (NEEDS_CSUM, the field then holds only the pseudo-header sum), the
     * checksum is not ours to verify. A GSO frame may exceed the MTU. */
    s->rx_csum_trusted = meta->csum_valid || meta->csum_partial;
    if (meta->gso_type == TAPIR_GSO_TCPV4)
        s->stats.tcp_gso_rx++;
    tapir_stack_input(s, frame, len, now);
    s->rx_csum_trusted = false;
}

void tapir_stack_poll(tapir_stack *s, tapir_time_t now)
{
    s->now = now;
    arp_poll(s, now);
    ipv4_poll(s, now);
    tcp_poll(s, now);
}

tapir_time_t tapir_stack_next_deadline(const tapir_stack *s)
{
    tapir_time_t t = arp_next_deadline(s);
    t = time_min(t, ipv4_next_deadline(s));
    t = time_min(t, tcp_next_deadline(s));
    return t;
}

void tapir_stack_get_stats(const tapir_stack *s, struct tapir_stats *out)
{
    *out = s->stats;
}

const struct tapir_config *tapir_stack_config(const tapir_stack *s)
{
    return &s->cfg;
}

void tapir_stack_mac(const tapir_stack *s, uint8_t mac[6])
{
    memcpy(mac, s->mac, 6);
}

void stack_emit(struct tapir_stack *s, const struct buf *b)
{
    if (s->output_meta) {
        struct tapir_frame_meta m = {
            .gso_size = b->gso_size,
            .gso_type = b->gso_size ? TAPIR_GSO_TCPV4 : TAPIR_GSO_NONE,
            .csum_partial = b->csum_l4 != NULL,
            .csum_start = b->csum_l4 ? (uint16_t)(b->csum_l4 - b->data) : 0,
            .csum_offset = b->csum_l4 ? 16 : 0,     /* TCP checksum field (RFC 9293 3.1) */
        };
        if (s->output_meta(s->output_ctx, b->data, b->len, &m) < 0) {
            stack_drop(s, TAPIR_DROP_OUTPUT_FAILED);
            return;
        }
        s->stats.eth_tx++;
        return;
    }
    if (!s->output || s->output(s->output_ctx, b->data, b->len) < 0) {
        stack_drop(s, TAPIR_DROP_OUTPUT_FAILED);
        return;
    }
    s->stats.eth_tx++;
}

void link_output_ipv4(struct tapir_stack *s, uint32_t nexthop, struct buf *b)
{
    if (s->cfg.link == TAPIR_LINK_IP) {
        stack_emit(s, b);
        buf_free(&s->pool, b);
        return;
    }
    arp_output_ipv4(s, nexthop, b);
}
