/* 10 000 concurrent connections between two simulated stacks over vlink:
 * all opened at once, each used for a small request and reply, then all
 * closed; afterwards (TIME_WAIT included) nothing is left on either side. */
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

#define NCONN 10000
#define REQ 100

struct slot {
    struct tcp_conn *c;
    size_t sent, got;
    bool queued, done;
    uint8_t buf[REQ];
};

struct side {
    tapir_stack *s;
    struct slot *slots;
    uint32_t nslots;
    uint32_t *dirty;
    uint32_t ndirty;
    uint32_t done;
};

struct world {
    struct side a, b;               /* a connects, b accepts and echoes */
    struct tcp_conn *listener;
    bool listener_ready;
};

static struct world *W;

static void mark(struct side *sd, uint32_t i)
{
    if (!sd->slots[i].queued) {
        sd->slots[i].queued = true;
        sd->dirty[sd->ndirty++] = i;
    }
}

static void notify(void *owner, struct tcp_conn *c, unsigned events)
{
    (void)c;
    (void)events;
    uintptr_t tag = (uintptr_t)owner;
    if (tag == 1) {
        W->listener_ready = true;
        return;
    }
    struct side *sd = (tag & 1) ? &W->b : &W->a;
    mark(sd, (uint32_t)(tag >> 1) - 1);
}

static void serve(struct side *sd, uint32_t i, bool client)
{
    struct slot *sl = &sd->slots[i];
    if (sl->done)
        return;
    if (client) {
        if (sl->sent < REQ && tcp_state(sl->c) == TAPIR_TCP_ESTABLISHED) {
            long n = tcp_send(sl->c, "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789", REQ - sl->sent);
            if (n > 0)
                sl->sent += (size_t)n;
        }
        long n;
        while ((n = tcp_recv(sl->c, sl->buf + sl->got, REQ - sl->got, false)) > 0)
            sl->got += (size_t)n;
        if (sl->got == REQ) {
            ck_assert(memcmp(sl->buf, "0123456789", 10) == 0);
            tcp_close(sl->c);       /* the client closes first: TIME_WAIT here */
            sl->done = true;
            sd->done++;
        }
        return;
    }
    long n;
    while ((n = tcp_recv(sl->c, sl->buf + sl->got, REQ - sl->got, false)) > 0)
        sl->got += (size_t)n;
    if (sl->got == REQ && sl->sent < REQ) {
        n = tcp_send(sl->c, sl->buf + sl->sent, REQ - sl->sent);
        if (n > 0)
            sl->sent += (size_t)n;
    }
    if (n == 0 || (sl->sent == REQ && (tcp_events(sl->c) & TCP_EV_RDHUP))) {
        tcp_close(sl->c);
        sl->done = true;
        sd->done++;
    }
}

static void drain(struct side *sd, bool client)
{
    while (sd->ndirty) {
        uint32_t i = sd->dirty[--sd->ndirty];
        sd->slots[i].queued = false;
        serve(sd, i, client);
    }
}

static bool drive(struct sim *sim, void *ctx)
{
    (void)sim;
    struct world *w = ctx;
    if (w->listener_ready) {
        w->listener_ready = false;
        struct tcp_conn *c;
        while (w->listener && tcp_accept(w->listener, &c) == 0) {
            uint32_t i = w->b.nslots++;
            w->b.slots[i].c = c;
            tcp_set_owner(c, (void *)(uintptr_t)(((i + 1) << 1) | 1));
            mark(&w->b, i);
        }
    }
    drain(&w->a, true);
    drain(&w->b, false);
    if (w->listener && w->b.done == NCONN) {
        tcp_close(w->listener);
        w->listener = NULL;
    }
    return w->a.done == NCONN && w->b.done == NCONN &&
           tcp_conn_count(w->a.s) == 0 && tcp_conn_count(w->b.s) == 0;
}

static void cfg_many(struct tapir_config *cfg, const char *ip)
{
    harness_config(cfg, ip, TAPIR_LINK_IP);
    cfg->tcp_backlog_max = 16384;
    cfg->tcp_syn_queue_max = 16384;
    cfg->buf_count = 1024;
}

START_TEST(ten_thousand_connections_open_exchange_and_close)
{
    struct world *w = calloc(1, sizeof *w);
    W = w;
    struct tapir_config ca, cb;
    cfg_many(&ca, "10.0.0.2");
    cfg_many(&cb, "10.0.0.3");
    ck_assert_int_eq(tapir_stack_create(&ca, &w->a.s), 0);
    ck_assert_int_eq(tapir_stack_create(&cb, &w->b.s), 0);
    tcp_set_notify(w->a.s, notify);
    tcp_set_notify(w->b.s, notify);
    w->a.slots = calloc(NCONN, sizeof *w->a.slots);
    w->b.slots = calloc(NCONN, sizeof *w->b.slots);
    w->a.dirty = calloc(NCONN, sizeof *w->a.dirty);
    w->b.dirty = calloc(NCONN, sizeof *w->b.dirty);

    struct tapir_vlink_params p;
    tapir_vlink_params_init(&p);
    p.link = TAPIR_LINK_IP;
    p.seed = 77;
    p.delay = TAPIR_MSEC(1);
    p.queue_limit = 1u << 16;
    struct tapir_dev *da, *db;
    ck_assert_int_eq(tapir_vlink_create(&p, &da, &db), 0);
    struct sim *sim = sim_new(TAPIR_SEC(1));
    sim_add_stack(sim, w->a.s, da);
    sim_add_stack(sim, w->b.s, db);

    int err;
    w->listener = tcp_conn_new(w->b.s, &err);
    tcp_set_owner(w->listener, (void *)(uintptr_t)1);
    ck_assert_int_eq(tcp_bind(w->listener, 0, 80), 0);
    ck_assert_int_eq(tcp_listen(w->listener, 16384), 0);
    w->a.s->now = sim_now(sim);
    for (uint32_t i = 0; i < NCONN; i++) {
        struct tcp_conn *c = tcp_conn_new(w->a.s, &err);
        ck_assert_ptr_nonnull(c);
        tcp_set_owner(c, (void *)(uintptr_t)((i + 1) << 1));
        ck_assert_int_eq(tcp_connect(c, 0x0a000003u, 80), -EINPROGRESS);
        w->a.slots[i].c = c;
    }
    w->a.nslots = NCONN;
    ck_assert_uint_eq(tcp_conn_count(w->a.s), NCONN);

    bool ok = sim_run_until(sim, drive, w, sim_now(sim) + TAPIR_SEC(600));
    if (!ok)
        fprintf(stderr, "done a %u b %u, conns a %u b %u\n", w->a.done, w->b.done,
                tcp_conn_count(w->a.s), tcp_conn_count(w->b.s));
    ck_assert(ok);
    ck_assert_uint_eq(w->a.s->pool.in_use, 0);
    ck_assert_uint_eq(w->b.s->pool.in_use, 0);
    sim_free(sim);
    tapir_stack_destroy(w->a.s);
    tapir_stack_destroy(w->b.s);
    free(w->a.slots);
    free(w->b.slots);
    free(w->a.dirty);
    free(w->b.dirty);
    free(w);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tcp_many");
    TCase *t = tcase_create("many");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, ten_thousand_connections_open_exchange_and_close);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
