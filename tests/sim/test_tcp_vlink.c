/* Two stacks over vlink (IP link, virtual clock): 1 MiB each way, checked
 * byte for byte, on a clean link and with loss, reordering, duplication and
 * corruption, for several seeds. The side that closes first ends in
 * TIME_WAIT, the other in CLOSED, and TIME_WAIT then expires. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/stack.h"
#include "core/tcp.h"
#include "core/tcp_api.h"
#include "harness.h"
#include "sim.h"
#include "tapir/vlink.h"

#define XFER (1024 * 1024)

struct endpoint {
    tapir_stack *s;
    struct tcp_conn *c;
    uint8_t *out, *in;
    size_t sent, got;
    bool eof, closed;
    bool saw_time_wait, saw_closed;
    enum tapir_tcp_state last;
};

struct pair {
    struct sim *sim;
    struct endpoint a, b;           /* a connects, b is accepted */
    struct tcp_conn *listener;
};

static void hook(void *ctx, const struct tapir_state_change *ch)
{
    struct endpoint *e = ctx;
    if (getenv("TCP_VLINK_TRACE"))
        fprintf(stderr, "%p %s -> %s (%s) at %llu\n", (void *)e, tapir_tcp_state_name(ch->from), tapir_tcp_state_name(ch->to), ch->cause, (unsigned long long)ch->when);
    if (ch->to == TAPIR_TCP_TIME_WAIT)
        e->saw_time_wait = true;
    if (ch->to == TAPIR_TCP_CLOSED && ch->from != TAPIR_TCP_LISTEN)
        e->saw_closed = true;
    if (ch->from != TAPIR_TCP_LISTEN || ch->to != TAPIR_TCP_CLOSED)
        e->last = ch->to;
}

struct tracer {
    struct tapir_dev *dev;
    const char *name;
    tapir_stack *s;
};

/* TCP_VLINK_TRACE=2: print every segment sent (to replay a failure). */
static int trace_out(void *ctx, const uint8_t *f, size_t len)
{
    struct tracer *t = ctx;
    if (len >= 40) {
        const uint8_t *h = f + (f[0] & 15) * 4;
        size_t hl = (size_t)(h[12] >> 4) * 4;
        fprintf(stderr, "%llu %s seq %u ack %u flags %02x wnd %u len %zu\n",
                (unsigned long long)t->s->now, t->name,
                (unsigned)(h[4] << 24 | h[5] << 16 | h[6] << 8 | h[7]),
                (unsigned)(h[8] << 24 | h[9] << 16 | h[10] << 8 | h[11]), h[13],
                (unsigned)(h[14] << 8 | h[15]), len - (size_t)(h - f) - hl);
    }
    return tapir_dev_send(t->dev, f, len);
}

static void make_stack(struct endpoint *e, const char *ip, uint64_t seed)
{
    struct tapir_config cfg;
    harness_config(&cfg, ip, TAPIR_LINK_IP);
    cfg.random_seed = seed;
    ck_assert_int_eq(tapir_stack_create(&cfg, &e->s), 0);
    tapir_stack_set_state_hook(e->s, hook, e);
    e->out = malloc(XFER);
    e->in = malloc(XFER);
    for (size_t i = 0; i < XFER; i++)
        e->out[i] = (uint8_t)((i * 7919u + seed * 31u) >> 3);
}

static void pump(struct endpoint *e)
{
    if (!e->c || e->closed)
        return;
    while (e->sent < XFER) {
        long n = tcp_send(e->c, e->out + e->sent, XFER - e->sent);
        if (n <= 0)
            break;
        e->sent += (size_t)n;
    }
    for (;;) {
        long n = tcp_recv(e->c, e->in + e->got, XFER - e->got + 1, false);
        if (n > 0) {
            e->got += (size_t)n;
            continue;
        }
        if (n == 0)
            e->eof = true;
        break;
    }
}

static bool drive(struct sim *sim, void *ctx)
{
    (void)sim;
    struct pair *p = ctx;
    if (!p->b.c && tcp_accept(p->listener, &p->b.c) == 0) {
        tcp_close(p->listener);
        p->listener = NULL;
    }
    pump(&p->a);
    pump(&p->b);
    /* a closes first once it has everything; b closes on EOF. */
    if (!p->a.closed && p->a.c && p->a.sent == XFER && p->a.got == XFER) {
        tcp_close(p->a.c);
        p->a.closed = true;
    }
    if (!p->b.closed && p->b.c && p->b.eof && p->b.sent == XFER) {
        tcp_close(p->b.c);
        p->b.closed = true;
    }
    return p->a.closed && p->b.closed && tcp_conn_count(p->a.s) + tcp_conn_count(p->b.s) == 0;
}

static void run_transfer(const struct tapir_vlink_params *params, tapir_time_t limit)
{
    struct pair p;
    memset(&p, 0, sizeof p);
    make_stack(&p.a, "10.0.0.2", params->seed * 2 + 1);
    make_stack(&p.b, "10.0.0.3", params->seed * 2 + 2);
    struct tapir_dev *da, *db;
    ck_assert_int_eq(tapir_vlink_create(params, &da, &db), 0);
    p.sim = sim_new(TAPIR_SEC(1));
    sim_add_stack(p.sim, p.a.s, da);
    sim_add_stack(p.sim, p.b.s, db);
    struct tracer ta = {da, "a>", p.a.s}, tb = {db, "b>", p.b.s};
    const char *tr = getenv("TCP_VLINK_TRACE");
    if (tr && tr[0] == '2') {
        tapir_stack_set_output(p.a.s, trace_out, &ta);
        tapir_stack_set_output(p.b.s, trace_out, &tb);
    }
    int err;
    p.listener = tcp_conn_new(p.b.s, &err);
    ck_assert_int_eq(tcp_bind(p.listener, 0, 80), 0);
    ck_assert_int_eq(tcp_listen(p.listener, 4), 0);
    p.a.c = tcp_conn_new(p.a.s, &err);
    p.a.s->now = sim_now(p.sim);
    ck_assert_int_eq(tcp_connect(p.a.c, 0x0a000003u, 80), -EINPROGRESS);

    bool done = sim_run_until(p.sim, drive, &p, sim_now(p.sim) + limit);
    if (!done)
        fprintf(stderr, "seed %llu: a sent %zu got %zu, b sent %zu got %zu, states %s/%s\n",
                (unsigned long long)params->seed, p.a.sent, p.a.got, p.b.sent, p.b.got,
                tapir_tcp_state_name(p.a.last), tapir_tcp_state_name(p.b.last));
    if (!done) {
        for (int k = 0; k < TAPIR_DROP__COUNT; k++)
            if (p.a.s->stats.drops[k] || p.b.s->stats.drops[k])
                fprintf(stderr, "  drop %s: a %llu b %llu\n", tapir_drop_reason_name((enum tapir_drop_reason)k),
                        (unsigned long long)p.a.s->stats.drops[k], (unsigned long long)p.b.s->stats.drops[k]);
    }
    ck_assert_msg(done, "transfer did not finish (seed %llu)", (unsigned long long)params->seed);
    ck_assert_uint_eq(p.a.got, XFER);
    ck_assert_uint_eq(p.b.got, XFER);
    ck_assert(memcmp(p.a.in, p.b.out, XFER) == 0);
    ck_assert(memcmp(p.b.in, p.a.out, XFER) == 0);
    /* a closed first: TIME_WAIT, then it expired; b ended in CLOSED via LAST_ACK. */
    ck_assert(p.a.saw_time_wait);
    ck_assert(p.a.saw_closed);
    ck_assert(p.b.saw_closed);
    ck_assert_uint_eq(p.a.s->pool.in_use, 0);
    ck_assert_uint_eq(p.b.s->pool.in_use, 0);
    sim_free(p.sim);
    tapir_stack_destroy(p.a.s);
    tapir_stack_destroy(p.b.s);
    free(p.a.in);
    free(p.a.out);
    free(p.b.in);
    free(p.b.out);
}

static void params_for(struct tapir_vlink_params *p, uint64_t seed)
{
    tapir_vlink_params_init(p);
    p->link = TAPIR_LINK_IP;
    p->seed = seed;
    p->delay = TAPIR_MSEC(5);
}

START_TEST(clean_link_1mib_each_way)
{
    struct tapir_vlink_params p;
    params_for(&p, 100 + (uint64_t)_i);
    run_transfer(&p, TAPIR_SEC(600));
}
END_TEST

START_TEST(loss_1_percent)
{
    struct tapir_vlink_params p;
    params_for(&p, 200 + (uint64_t)_i);
    p.loss = 0.01;
    run_transfer(&p, TAPIR_SEC(3600));
}
END_TEST

START_TEST(loss_5_percent)
{
    struct tapir_vlink_params p;
    params_for(&p, 300 + (uint64_t)_i);
    p.loss = 0.05;
    run_transfer(&p, TAPIR_SEC(3600));
}
END_TEST

START_TEST(loss_20_percent)
{
    struct tapir_vlink_params p;
    params_for(&p, 400 + (uint64_t)_i);
    p.loss = 0.20;
    run_transfer(&p, TAPIR_SEC(4 * 3600));
}
END_TEST

START_TEST(reordering)
{
    struct tapir_vlink_params p;
    params_for(&p, 500 + (uint64_t)_i);
    p.reorder = 0.1;
    p.reorder_delay = TAPIR_MSEC(3);
    p.jitter = TAPIR_MSEC(2);
    run_transfer(&p, TAPIR_SEC(3600));
}
END_TEST

START_TEST(duplication)
{
    struct tapir_vlink_params p;
    params_for(&p, 600 + (uint64_t)_i);
    p.duplicate = 0.1;
    run_transfer(&p, TAPIR_SEC(3600));
}
END_TEST

START_TEST(corruption)
{
    struct tapir_vlink_params p;
    params_for(&p, 700 + (uint64_t)_i);
    p.corrupt = 0.05;
    run_transfer(&p, TAPIR_SEC(3600));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tcp_vlink");
    TCase *t = tcase_create("transfer");
    tcase_set_timeout(t, 120);
    tcase_add_loop_test(t, clean_link_1mib_each_way, 0, 2);
    tcase_add_loop_test(t, loss_1_percent, 0, 3);
    tcase_add_loop_test(t, loss_5_percent, 0, 3);
    tcase_add_loop_test(t, loss_20_percent, 0, 3);
    tcase_add_loop_test(t, reordering, 0, 3);
    tcase_add_loop_test(t, duplication, 0, 3);
    tcase_add_loop_test(t, corruption, 0, 3);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
