/* A scripted Ethernet peer for simulations of the network layers: it
 * answers ARP requests for its address, learns the stack's MAC from ARP
 * replies, sends echo requests (fragmented when larger than the MTU) and
 * checks the echo replies that come back (reassembling fragments).
 * Use net_peer_on_frame as the sim_frame_fn of sim_add_peer(). */
#ifndef TAPIR_TEST_NET_PEER_H
#define TAPIR_TEST_NET_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tapir/tapir.h"

struct net_peer {
    uint8_t mac[6];
    uint32_t ip;
    uint32_t mtu;
    bool answer_arp;            /* reply to ARP requests for ip (default true) */
    uint8_t stack_mac[6];       /* learned from ARP replies (or set by the test) */
    bool knows_stack_mac;

    uint64_t frames_rx;
    uint64_t arp_requests_rx;   /* for our ip */
    uint64_t arp_replies_rx;
    uint64_t echo_replies_ok;   /* whole, checksums right, data as sent */
    uint64_t bad_rx;            /* IPv4 or ICMP checksum wrong, or data differs */
    uint64_t other_rx;

    /* The echo request last sent, to compare replies with. */
    uint8_t sent[65536];
    size_t sent_len;
    /* Reassembly of one fragmented reply at a time. */
    uint8_t rbuf[65536];
    uint8_t rmap[65536 / 8];
    size_t rend;
    bool rhave_last;
    uint16_t rid;
};

void net_peer_init(struct net_peer *p, const char *ip, const uint8_t mac[6]);
void net_peer_on_frame(void *ctx, struct tapir_dev *dev, const uint8_t *frame, size_t len, tapir_time_t now);
/* Ask who has target_ip (broadcast). */
void net_peer_send_arp_request(struct net_peer *p, struct tapir_dev *dev, uint32_t target_ip);
/* An echo request of dlen data bytes (a pattern of seq) to dst, via the
 * stack's MAC (known or not: the test decides), fragmented to the MTU. */
void net_peer_send_echo(struct net_peer *p, struct tapir_dev *dev, uint32_t dst, uint16_t ident,
                        uint16_t seq, size_t dlen);

#endif
