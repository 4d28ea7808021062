/* One tapir stack (10.0.0.2) and one scripted peer (10.0.0.1) on a vlink,
 * driven by the sim: the fixture of the network-layer simulations. */
#ifndef TAPIR_TEST_NET_SIMSETUP_H
#define TAPIR_TEST_NET_SIMSETUP_H

#include "net_peer.h"
#include "sim.h"
#include "tapir/vlink.h"

struct net_simsetup {
    tapir_stack *stack;
    struct net_peer *peer;
    struct sim *sim;
    struct tapir_dev *stack_end, *peer_end;
    struct tapir_vlink_params params;
};

/* params may be NULL (a clean link with 1 ms delay). */
void net_simsetup_start(struct net_simsetup *n, const struct tapir_vlink_params *params);
/* Runs the sim until every queue is drained, checks no buffer leaked, frees all. */
void net_simsetup_finish(struct net_simsetup *n);
/* The peer learns the stack's MAC without ARP (as if configured). */
void net_simsetup_peer_knows_stack(struct net_simsetup *n);

#endif
