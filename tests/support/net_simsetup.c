#include "net_simsetup.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "core/stack.h"
#include "harness.h"

void net_simsetup_start(struct net_simsetup *n, const struct tapir_vlink_params *params)
{
    memset(n, 0, sizeof *n);
    if (params) {
        n->params = *params;
    } else {
        tapir_vlink_params_init(&n->params);
        n->params.delay = TAPIR_MSEC(1);
        n->params.seed = 1;
    }
    ck_assert_int_eq(tapir_vlink_create(&n->params, &n->stack_end, &n->peer_end), 0);
    struct tapir_config cfg;
    harness_config(&cfg, "10.0.0.2", TAPIR_LINK_ETHERNET);
    ck_assert_int_eq(tapir_stack_create(&cfg, &n->stack), 0);
    n->peer = calloc(1, sizeof *n->peer);
    ck_assert_ptr_nonnull(n->peer);
    static const uint8_t peer_mac[6] = {0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0x01};
    net_peer_init(n->peer, "10.0.0.1", peer_mac);
    n->sim = sim_new(TAPIR_SEC(1));
    ck_assert_ptr_nonnull(n->sim);
    ck_assert_int_ge(sim_add_stack(n->sim, n->stack, n->stack_end), 0);
    ck_assert_int_ge(sim_add_peer(n->sim, n->peer_end, net_peer_on_frame, n->peer), 0);
}

void net_simsetup_peer_knows_stack(struct net_simsetup *n)
{
    tapir_stack_mac(n->stack, n->peer->stack_mac);
    n->peer->knows_stack_mac = true;
}

void net_simsetup_finish(struct net_simsetup *n)
{
    /* Let ARP retries and reassembly timers run out: then nothing may be held. */
    sim_run_for(n->sim, TAPIR_SEC(120));
    ck_assert_uint_eq(n->stack->pool.in_use, 0);
    sim_free(n->sim);
    tapir_stack_destroy(n->stack);
    free(n->peer);
}
