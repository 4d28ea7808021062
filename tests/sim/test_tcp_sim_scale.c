/* Scale: 10 000 concurrent connections between two simulated stacks,
 * opened (all ESTABLISHED at the same time), used (a few bytes each way,
 * checked) and closed (A: TIME_WAIT, B: CLOSED; TIME_WAIT expires; nothing
 * leaks). Applications are driven through the core's notify callback, so
 * the test itself does O(1) work per event: what the run costs is the
 * core's. Wall-clock time of each phase is printed to show where time goes
 * if the core turns O(n) per packet somewhere. */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/stack.h"
#include "core/tcp.h"
#include "tcpsim.h"
#include "harness.h"

#define NCONN 10000u
#define SCALE_PORT 7000
#define MSG 16u

struct scale_run;

/* One application end: which connection, and what it has done. */
struct scale_end {
    struct scale_run *run;
    struct tcp_conn *c;
    uint32_t idx;                   /* the A-side index of the connection */
    bool is_b;
    bool dirty;                     /* on the run's ready list */
    struct scale_end *next_ready;
    uint32_t got, sent;
    bool eof, closed, bad;
};

struct scale_run {
    struct tcpsim_pair p;
    struct tcp_conn *listener;
    struct scale_end listener_end;
    struct scale_end *a;            /* NCONN, indexed by A's connection */
    struct scale_end *b;            /* NCONN, in accept order */
    uint32_t *index_of_port;        /* A's local port -> index + 1 (0: unused) */
    uint32_t accepted;
    struct scale_end *ready;
    bool closing;
    uint32_t done_a, done_b;        /* ends that checked MSG bytes */
    uint32_t eof_b, closed_b;
    uint32_t bad;
};

static void on_ready(void *owner, struct tcp_conn *c, unsigned events)
{
    (void)c;
    (void)events;
    struct scale_end *e = owner;
    if (!e || e->dirty)
        return;
    e->dirty = true;
    e->next_ready = e->run->ready;
    e->run->ready = e;
}

/* Key of the bytes that travel A->B (key idx) and B->A (key NCONN + idx). */
static void end_send(struct scale_end *e)
{
    uint8_t msg[MSG];
    uint64_t key = e->is_b ? NCONN + e->idx : e->idx;
    tcpsim_pattern_fill(key, e->sent, msg, MSG - e->sent);
    long n = tcp_send(e->c, msg, MSG - e->sent);
    if (n > 0)
        e->sent += (uint32_t)n;
}

static void end_recv(struct scale_end *e)
{
    uint8_t buf[64];
    uint64_t key = e->is_b ? e->idx : NCONN + e->idx;
    for (;;) {
        long n = tcp_recv(e->c, buf, sizeof buf, false);
        if (n == 0) {
            if (!e->eof && e->is_b)
                e->run->eof_b++;
            e->eof = true;
            return;
        }
        if (n < 0) {
            if (n != -EAGAIN && !e->bad) {
                e->bad = true;
                e->run->bad++;
            }
            return;
        }
        for (long i = 0; i < n; i++) {
            if (e->got + i >= MSG || buf[i] != tcpsim_pattern_byte(key, e->got + (uint64_t)i)) {
                if (!e->bad)
                    e->run->bad++;
                e->bad = true;
            }
        }
        uint32_t before = e->got;
        e->got += (uint32_t)n;
        if (before < MSG && e->got >= MSG) {
            if (e->is_b)
                e->run->done_b++;
            else
                e->run->done_a++;
        }
    }
}

static void accept_all(struct scale_run *r)
{
    struct tcp_conn *c;
    while (r->accepted < NCONN && tcp_accept(r->listener, &c) == 0) {
        uint32_t ip;
        uint16_t port;
        tcp_peer_addr(c, &ip, &port);
        struct scale_end *e = &r->b[r->accepted++];
        e->run = r;
        e->c = c;
        e->is_b = true;
        e->idx = r->index_of_port[port] - 1;
        tcp_set_owner(c, e);
        on_ready(e, c, 0);
    }
}

static void serve(struct scale_end *e)
{
    struct scale_run *r = e->run;
    if (e == &r->listener_end) {
        accept_all(r);
        return;
    }
    if (e->closed)
        return;
    end_recv(e);
    /* B answers once it has A's message; A speaks first. */
    if ((!e->is_b || e->got >= MSG) && e->sent < MSG)
        end_send(e);
    if (e->is_b && e->eof && r->closing) {
        tcp_close(e->c);
        e->closed = true;
        r->closed_b++;
    }
}

static bool drain_ready(struct scale_run *r)
{
    if (r->ready)
        tcpsim_sync(&r->p);
    while (r->ready) {
        struct scale_end *e = r->ready;
        r->ready = e->next_ready;
        e->dirty = false;
        serve(e);
    }
    return false;
}

static bool all_established(struct sim *sim, void *ctx)
{
    struct scale_run *r = ctx;
    drain_ready(r);
    (void)sim;
    return r->accepted == NCONN && r->p.a.in_state[TAPIR_TCP_ESTABLISHED] == NCONN &&
           r->p.b.in_state[TAPIR_TCP_ESTABLISHED] == NCONN;
}

static bool all_exchanged(struct sim *sim, void *ctx)
{
    struct scale_run *r = ctx;
    drain_ready(r);
    (void)sim;
    return r->done_a == NCONN && r->done_b == NCONN;
}

static bool all_closed(struct sim *sim, void *ctx)
{
    struct scale_run *r = ctx;
    drain_ready(r);
    (void)sim;
    return r->closed_b == NCONN && tcpsim_conns(&r->p.b) == 0 &&
           r->p.a.in_state[TAPIR_TCP_TIME_WAIT] == NCONN;
}

static bool a_empty(struct sim *sim, void *ctx)
{
    struct scale_run *r = ctx;
    (void)sim;
    return tcpsim_conns(&r->p.a) == 0;
}

static void big_tables(struct tapir_config *cfg)
{
    /* A test of scale, not of queue limits: every SYN finds room. */
    cfg->tcp_syn_queue_max = 2 * NCONN;
    cfg->tcp_backlog_max = 2 * NCONN;
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

START_TEST(ten_thousand_connections_opened_used_and_closed)
{
    struct scale_run *r = calloc(1, sizeof *r);
    ck_assert_ptr_nonnull(r);
    r->a = calloc(NCONN, sizeof *r->a);
    r->b = calloc(NCONN, sizeof *r->b);
    r->index_of_port = calloc(65536, sizeof *r->index_of_port);
    ck_assert(r->a && r->b && r->index_of_port);

    struct tapir_vlink_params vp;
    tapir_vlink_params_init(&vp);
    vp.seed = 10000;
    vp.delay = TAPIR_MSEC(1);
    vp.queue_limit = 4 * NCONN;     /* every SYN of the burst is in flight at once */
    tcpsim_pair_start(&r->p, &vp, 77, big_tables, NULL);
    tcp_set_notify(r->p.a.s, on_ready);
    tcp_set_notify(r->p.b.s, on_ready);
    int err;
    r->listener = tcp_conn_new(r->p.b.s, &err);
    ck_assert_ptr_nonnull(r->listener);
    r->listener_end.run = r;
    tcp_set_owner(r->listener, &r->listener_end);
    ck_assert_int_eq(tcp_bind(r->listener, 0, SCALE_PORT), 0);
    ck_assert_int_eq(tcp_listen(r->listener, (int)NCONN), 0);

    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (uint32_t i = 0; i < NCONN; i++) {
        struct scale_end *e = &r->a[i];
        e->run = r;
        e->idx = i;
        e->c = tcp_conn_new(r->p.a.s, &err);
        ck_assert_msg(e->c, "tcp_conn_new #%u: %d", i, err);
        tcp_set_owner(e->c, e);
        ck_assert_int_eq(tcp_connect(e->c, TCPSIM_IP_B, SCALE_PORT), -EINPROGRESS);
        uint32_t ip;
        uint16_t port;
        tcp_local_addr(e->c, &ip, &port);
        ck_assert_msg(port != 0 && r->index_of_port[port] == 0, "ephemeral port %u given twice", port);
        r->index_of_port[port] = i + 1;
    }
    double t_connect = seconds_since(&t0);

    /* Open: all 10 000 ESTABLISHED at once on both sides. */
    bool ok = sim_run_until(r->p.sim, all_established, r, sim_now(r->p.sim) + TAPIR_SEC(30));
    double t_open = seconds_since(&t0);
    ck_assert_msg(ok, "established: A %ld, B %ld, accepted %u", r->p.a.in_state[TAPIR_TCP_ESTABLISHED],
                  r->p.b.in_state[TAPIR_TCP_ESTABLISHED], r->accepted);
    tcp_close(r->listener);
    r->listener = NULL;
    ck_assert_uint_eq(tcpsim_conns(&r->p.a), NCONN);
    ck_assert_uint_eq(tcpsim_conns(&r->p.b), NCONN);
    ck_assert_uint_eq(r->p.a.s->stats.tcp_retransmits + r->p.b.s->stats.tcp_retransmits, 0);

    /* Use: 16 bytes each way on every connection, checked. */
    tcpsim_sync(&r->p);
    for (uint32_t i = 0; i < NCONN; i++)
        on_ready(&r->a[i], r->a[i].c, 0);
    ok = sim_run_until(r->p.sim, all_exchanged, r, sim_now(r->p.sim) + TAPIR_SEC(30));
    double t_use = seconds_since(&t0);
    ck_assert_uint_eq(r->bad, 0);
    ck_assert_msg(ok, "exchanged: A %u, B %u", r->done_a, r->done_b);
    ck_assert_int_eq(r->p.a.in_state[TAPIR_TCP_ESTABLISHED], NCONN);

    /* Close: A first (TIME_WAIT), B on EOF (LAST_ACK -> CLOSED). */
    r->closing = true;
    tcpsim_sync(&r->p);
    for (uint32_t i = 0; i < NCONN; i++) {
        tcp_close(r->a[i].c);
        r->a[i].closed = true;
    }
    ok = sim_run_until(r->p.sim, all_closed, r, sim_now(r->p.sim) + TAPIR_SEC(30));
    double t_close = seconds_since(&t0);
    ck_assert_msg(ok, "closed: B closed %u (eof %u), B conns %u, A TIME_WAIT %ld", r->closed_b, r->eof_b,
                  tcpsim_conns(&r->p.b), r->p.a.in_state[TAPIR_TCP_TIME_WAIT]);
    ck_assert_uint_eq(r->bad, 0);
    ck_assert_uint_eq(r->p.b.arcs[TAPIR_TCP_LAST_ACK][TAPIR_TCP_CLOSED], NCONN);
    ck_assert_uint_eq(tcpsim_conns(&r->p.a), NCONN);

    /* TIME_WAIT expires: 2*MSL later, every connection is gone. */
    tapir_time_t before = sim_now(r->p.sim);
    tapir_time_t two_msl = 2 * tapir_stack_config(r->p.a.s)->msl;
    ck_assert(sim_run_until(r->p.sim, a_empty, r, before + two_msl + TAPIR_SEC(1)));
    double t_tw = seconds_since(&t0);
    ck_assert_uint_ge(sim_now(r->p.sim), before + two_msl - TAPIR_SEC(1));
    ck_assert_uint_eq(r->p.a.arcs[TAPIR_TCP_TIME_WAIT][TAPIR_TCP_CLOSED], NCONN);
    ck_assert_uint_eq(tcpsim_conns(&r->p.a), 0);
    ck_assert_uint_eq(tcpsim_conns(&r->p.b), 0);
    ck_assert_uint_eq(tcpsim_bufs_in_use(&r->p.a), 0);
    ck_assert_uint_eq(tcpsim_bufs_in_use(&r->p.b), 0);
    fprintf(stderr, "scale: %u connections: connect() calls %.2fs, open %.2fs, use %.2fs, close %.2fs, "
            "TIME_WAIT expiry %.2fs (cumulative wall clock)\n", NCONN, t_connect, t_open, t_use, t_close, t_tw);

    tcpsim_pair_free(&r->p);
    free(r->index_of_port);
    free(r->a);
    free(r->b);
    free(r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tcp_sim_scale");
    TCase *tc = tcase_create("scale");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, ten_thousand_connections_opened_used_and_closed);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
