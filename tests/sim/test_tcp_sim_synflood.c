/* SYN flood: 100 000 SYNs from pseudo-random source addresses and ports hit
 * a listener on stack B while a connection from stack A to the same
 * listener transfers 1 MiB each way over vlink. The half-open queue never
 * exceeds cfg.tcp_syn_queue_max, packet buffers stay bounded, every SYN
 * that found the queue full is counted TCP_SYN_QUEUE_FULL, the established
 * connection is unharmed (data exact), and once the half-open entries
 * have expired a new connection from A is accepted and works. No leak. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/checksum.h"
#include "core/ipv4.h"
#include "core/stack.h"
#include "core/tcp.h"
#include "core/wire.h"
#include "net_frames.h"
#include "tcpsim.h"
#include "harness.h"

#define FLOOD_SYNS 100000u
#define FLOOD_BURST 1000u               /* SYNs per 10 ms: the flood lasts 1 s */
#define FLOOD_PORT 8080
#define QUEUE_MAX 512u
#define XFER (1024u * 1024u)

static void flood_cfg(struct tapir_config *cfg)
{
    cfg->tcp_syn_queue_max = QUEUE_MAX;
}

/* One SYN from src:sport to B's listener, as a bare IPv4 packet. */
static void inject_syn(tapir_stack *s, uint32_t src, uint16_t sport, uint32_t seq, tapir_time_t now)
{
    uint8_t seg[24] = {0};
    put_be16(seg, sport);
    put_be16(seg + 2, FLOOD_PORT);
    put_be32(seg + 4, seq);
    seg[12] = 6 << 4;
    seg[13] = 0x02;                     /* SYN */
    put_be16(seg + 14, 8192);
    seg[20] = 2;                        /* MSS 1460 */
    seg[21] = 4;
    put_be16(seg + 22, 1460);
    uint32_t sum = csum_pseudo_ipv4(src, TCPSIM_IP_B, IPPROTO_TCP_NUM, sizeof seg);
    put_be16(seg + 16, csum_fold(csum_partial(seg, sizeof seg, sum)));
    uint8_t pkt[64];
    struct net_ip_spec sp;
    net_ipv4_defaults(&sp, src, TCPSIM_IP_B, IPPROTO_TCP_NUM);
    size_t n = net_ipv4_build(pkt, &sp, seg, sizeof seg);
    tapir_stack_input(s, pkt, n, now);
}

struct flood_run {
    struct tcpsim_pair p;
    struct tcp_conn *listener;
    struct tcpsim_app a, b;
    struct tcp_conn *late_a, *late_b;
};

static bool pump_apps(struct sim *sim, void *ctx)
{
    (void)sim;
    struct flood_run *r = ctx;
    tcpsim_sync(&r->p);
    struct tcp_conn *c;
    if (!r->b.c && tcp_accept(r->listener, &c) == 0)
        tcpsim_app_init(&r->b, c, 22, XFER, 11, XFER);
    tcpsim_app_pump(&r->a);
    tcpsim_app_pump(&r->b);
    return false;
}

static bool transfer_done(struct sim *sim, void *ctx)
{
    struct flood_run *r = ctx;
    pump_apps(sim, ctx);
    return r->a.error || r->b.error || r->a.mismatch || r->b.mismatch ||
           (tcpsim_app_received_all(&r->a) && tcpsim_app_received_all(&r->b));
}

static bool half_open_expired(struct sim *sim, void *ctx)
{
    struct flood_run *r = ctx;
    pump_apps(sim, ctx);
    return tcpsim_conns(&r->p.b) == 2;      /* the listener and the accepted connection */
}

static bool late_accepted(struct sim *sim, void *ctx)
{
    (void)sim;
    struct flood_run *r = ctx;
    if (!r->late_b)
        tcp_accept(r->listener, &r->late_b);
    return r->late_b && tcp_state(r->late_a) == TAPIR_TCP_ESTABLISHED;
}

static bool nothing_left(struct sim *sim, void *ctx)
{
    (void)sim;
    struct flood_run *r = ctx;
    return tcpsim_conns(&r->p.a) == 0 && tcpsim_conns(&r->p.b) == 0;
}

START_TEST(syn_flood_of_100000_is_bounded_and_a_legitimate_connection_survives)
{
    struct flood_run *r = calloc(1, sizeof *r);
    uint8_t *seen = calloc(1u << 24, 1);   /* (address octet, port) tuples used */
    ck_assert(r && seen);
    struct tapir_vlink_params vp;
    tapir_vlink_params_init(&vp);
    vp.seed = 4242;
    vp.delay = TAPIR_MSEC(2);
    tcpsim_pair_start(&r->p, &vp, 99, flood_cfg, NULL);
    tapir_stack *b = r->p.b.s;
    int err;
    r->listener = tcp_conn_new(b, &err);
    ck_assert_int_eq(tcp_bind(r->listener, 0, FLOOD_PORT), 0);
    ck_assert_int_eq(tcp_listen(r->listener, 64), 0);
    struct tcp_conn *c = tcp_conn_new(r->p.a.s, &err);
    ck_assert_int_eq(tcp_connect(c, TCPSIM_IP_B, FLOOD_PORT), -EINPROGRESS);
    tcpsim_app_init(&r->a, c, 11, XFER, 22, XFER);
    sim_run_for(r->p.sim, TAPIR_MSEC(20));       /* handshake done, transfer under way */
    pump_apps(r->p.sim, r);
    ck_assert_ptr_nonnull(r->b.c);

    /* The flood: sources 10.0.0.4 .. 10.0.0.254, any port, random ISNs. */
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    uint32_t unique = 0, to_half_open = 0, max_conns = 0, max_bufs = 0;
    for (uint32_t i = 0; i < FLOOD_SYNS; i++) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        uint8_t octet = (uint8_t)(4 + (rng >> 8) % 251);
        uint16_t port = (uint16_t)(1024 + (rng >> 24) % 64000);
        uint32_t key = (uint32_t)octet << 16 | port;
        /* The first QUEUE_MAX new tuples take the half-open queue (none
         * expires during the 1 s flood); every other SYN finds it full,
         * repeats of those first tuples reach their connection. */
        if (!seen[key]) {
            seen[key] = unique < QUEUE_MAX ? 2 : 1;
            unique++;
        }
        if (seen[key] == 2)
            to_half_open++;
        inject_syn(b, 0x0a000000u | octet, port, (uint32_t)(rng >> 32), sim_now(r->p.sim));
        if (i % FLOOD_BURST == FLOOD_BURST - 1) {
            sim_run_for(r->p.sim, TAPIR_MSEC(10));
            pump_apps(r->p.sim, r);
            uint32_t conns = tcpsim_conns(&r->p.b), bufs = tcpsim_bufs_in_use(&r->p.b);
            max_conns = conns > max_conns ? conns : max_conns;
            max_bufs = bufs > max_bufs ? bufs : max_bufs;
        }
    }
    /* Half-open queue bounded: listener + accepted connection + the queue. */
    ck_assert_uint_le(max_conns, 2 + QUEUE_MAX);
    ck_assert_uint_le(max_bufs, 16);
    /* Every SYN that did not belong to a half-open connection was dropped
     * and counted. */
    ck_assert_uint_gt(unique, QUEUE_MAX);
    ck_assert_uint_eq(b->stats.drops[TAPIR_DROP_TCP_SYN_QUEUE_FULL], FLOOD_SYNS - to_half_open);

    /* The established connection was not harmed. */
    ck_assert(sim_run_until(r->p.sim, transfer_done, r, sim_now(r->p.sim) + TAPIR_SEC(600)));
    ck_assert_int_eq(r->a.error, 0);
    ck_assert_int_eq(r->b.error, 0);
    ck_assert(!r->a.mismatch && !r->b.mismatch);
    ck_assert_uint_eq(r->a.received, XFER);
    ck_assert_uint_eq(r->b.received, XFER);

    /* The half-open connections give up after their SYN,ACK retries. */
    ck_assert(sim_run_until(r->p.sim, half_open_expired, r, sim_now(r->p.sim) + TAPIR_SEC(600)));

    /* A legitimate client gets in and talks. */
    tcpsim_sync(&r->p);
    r->late_a = tcp_conn_new(r->p.a.s, &err);
    ck_assert_int_eq(tcp_connect(r->late_a, TCPSIM_IP_B, FLOOD_PORT), -EINPROGRESS);
    ck_assert(sim_run_until(r->p.sim, late_accepted, r, sim_now(r->p.sim) + TAPIR_SEC(5)));
    tcpsim_sync(&r->p);
    ck_assert_int_eq(tcp_send(r->late_a, "hello", 5), 5);
    sim_run_for(r->p.sim, TAPIR_MSEC(50));
    char buf[8];
    ck_assert_int_eq(tcp_recv(r->late_b, buf, sizeof buf, false), 5);
    ck_assert(memcmp(buf, "hello", 5) == 0);

    /* Everything closes and nothing leaks. */
    tcpsim_sync(&r->p);
    tcp_close(r->listener);
    tcp_close(r->a.c);
    tcp_close(r->b.c);
    tcp_close(r->late_a);
    tcp_close(r->late_b);
    ck_assert(sim_run_until(r->p.sim, nothing_left, r, sim_now(r->p.sim) + TAPIR_SEC(300)));
    ck_assert_uint_eq(tcpsim_bufs_in_use(&r->p.a), 0);
    ck_assert_uint_eq(tcpsim_bufs_in_use(&r->p.b), 0);
    tcpsim_pair_free(&r->p);
    free(seen);
    free(r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tcp_sim_synflood");
    TCase *tc = tcase_create("synflood");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, syn_flood_of_100000_is_bounded_and_a_legitimate_connection_survives);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
