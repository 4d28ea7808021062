/* Two stacks over vlink: 1 MiB each way at once, checked byte for byte,
 * over a clean link and at 1%, 5% and 20% loss, with reordering, with
 * duplication and with corruption, each for several seeds. Then A closes
 * first: A ends in TIME_WAIT, B in CLOSED, and A's TIME_WAIT expires 2*MSL
 * after its last (re)start; nothing leaks. Also a half-close: A sends FIN
 * first and then receives 1 MiB from B.
 *
 * A failing run prints its seed and is replayed with a pcap trace
 * (tcp_sim_bulk_<case>_<seed>.pcap in the working directory). */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/stack.h"
#include "core/tcp.h"
#include "tcpsim.h"
#include "harness.h"

#define MIB (1024u * 1024u)
#define BULK_PORT 5001

struct bulk_case {
    const char *name;
    double loss, duplicate, reorder, corrupt;
    tapir_time_t jitter;
    tapir_time_t limit;         /* virtual time allowed for the transfer */
};

struct bulk_result {
    bool ok;
    char why[512];
};

struct bulk_run {
    struct tcpsim_pair p;
    bool half_close;
    struct tcp_conn *listener;
    struct tcpsim_app a, b;
    bool a_shut, a_closed, b_closed;
    struct tcpsim_watched *wa, *wb;
};

static bool bulk_fail(struct bulk_result *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->why, sizeof r->why, fmt, ap);
    va_end(ap);
    r->ok = false;
    return false;
}

/* The applications of both ends, run after every instant of the sim. */
static bool bulk_step(struct sim *sim, void *ctx)
{
    (void)sim;
    struct bulk_run *r = ctx;
    tcpsim_sync(&r->p);
    if (r->listener) {
        struct tcp_conn *c;
        if (tcp_accept(r->listener, &c) == 0) {
            /* Half-close: B starts sending only once A's FIN has arrived. */
            tcpsim_app_init(&r->b, c, 2, r->half_close ? 0 : MIB, 1, MIB);
            r->wb = tcpsim_watch(&r->p.b, c);
            tcp_close(r->listener);
            r->listener = NULL;
        }
    }
    tcpsim_app_pump(&r->a);
    tcpsim_app_pump(&r->b);

    if (r->half_close) {
        if (r->a.c && !r->a_shut && tcpsim_app_sent_all(&r->a)) {
            tcp_shutdown(r->a.c, false, true);
            r->a_shut = true;
        }
        if (r->b.c && r->b.eof && r->b.to_send == 0) {
            r->b.to_send = MIB;
            tcpsim_app_pump(&r->b);
        }
        if (r->a.c && r->a.eof) {
            tcp_close(r->a.c);
            r->a.c = NULL;
        }
    } else if (r->a.c && tcpsim_app_sent_all(&r->a) && tcpsim_app_received_all(&r->a)) {
        /* A is the active closer: everything from B has been read. */
        tcp_close(r->a.c);
        r->a.c = NULL;
    }
    if (r->b.c && r->b.eof && tcpsim_app_sent_all(&r->b) && r->b.to_send) {
        tcp_close(r->b.c);
        r->b.c = NULL;
    }
    if (r->a.error || r->b.error || r->a.mismatch || r->b.mismatch)
        return true;
    return !r->a.c && !r->b.c && r->wa && r->wb && r->wa->state == TAPIR_TCP_TIME_WAIT &&
           r->wb->state == TAPIR_TCP_CLOSED;
}

static bool link_drained(struct sim *sim, void *ctx)
{
    (void)sim;
    struct bulk_run *r = ctx;
    return tapir_vlink_pending(r->p.a.end) == 0 && tapir_vlink_pending(r->p.b.end) == 0;
}

static bool a_has_no_connection(struct sim *sim, void *ctx)
{
    (void)sim;
    struct bulk_run *r = ctx;
    return tcpsim_conns(&r->p.a) == 0;
}

static bool check_app(struct bulk_result *res, const char *who, const struct tcpsim_app *app, bool want_eof)
{
    if (app->error)
        return bulk_fail(res, "%s: error %d", who, app->error);
    if (app->mismatch)
        return bulk_fail(res, "%s: received byte %" PRIu64 " differs from what was sent", who, app->mismatch_at);
    if (app->received != app->to_recv || app->eof != want_eof)
        return bulk_fail(res, "%s: received %" PRIu64 " of %" PRIu64 " bytes, eof %d", who, app->received,
                    app->to_recv, app->eof);
    if (app->sent != app->to_send)
        return bulk_fail(res, "%s: queued %" PRIu64 " of %" PRIu64 " bytes", who, app->sent, app->to_send);
    return true;
}

static bool run_checks(struct bulk_run *r, const struct bulk_case *bc, struct bulk_result *res)
{
    struct tcpsim_pair *p = &r->p;
    bool done = sim_run_until(p->sim, bulk_step, r, sim_now(p->sim) + bc->limit);
    /* A closes as soon as it has read everything, before B's FIN (unless
     * A half-closed first and then waits for B's FIN to close). */
    if (!check_app(res, "A", &r->a, r->half_close) || !check_app(res, "B", &r->b, true))
        return false;
    if (!done)
        return bulk_fail(res, "not finished within the time limit: A %s, B %s",
                    r->wa ? tapir_tcp_state_name(r->wa->state) : "-",
                    r->wb ? tapir_tcp_state_name(r->wb->state) : "-");
    /* A closed first: FIN_WAIT_1 (-> FIN_WAIT_2 or CLOSING) -> TIME_WAIT;
     * B: CLOSE_WAIT -> LAST_ACK -> CLOSED. */
    if (p->a.arcs[TAPIR_TCP_ESTABLISHED][TAPIR_TCP_FIN_WAIT_1] != 1 || p->b.arcs[TAPIR_TCP_ESTABLISHED][TAPIR_TCP_CLOSE_WAIT] != 1 ||
        p->b.arcs[TAPIR_TCP_CLOSE_WAIT][TAPIR_TCP_LAST_ACK] != 1 || p->b.arcs[TAPIR_TCP_LAST_ACK][TAPIR_TCP_CLOSED] != 1)
        return bulk_fail(res, "unexpected close sequence");
    if (r->half_close && p->a.arcs[TAPIR_TCP_FIN_WAIT_2][TAPIR_TCP_TIME_WAIT] != 1)
        return bulk_fail(res, "half-close: A did not wait in FIN_WAIT_2 for B's data");
    if (tcpsim_conns(&p->b) != 0)
        return bulk_fail(res, "B still has %u connection(s) after CLOSED", tcpsim_conns(&p->b));

    /* TIME_WAIT: once nothing is in flight, nothing can restart it. */
    if (!sim_run_until(p->sim, link_drained, r, sim_now(p->sim) + TAPIR_SEC(10)))
        return bulk_fail(res, "link never drained");
    tapir_time_t drained = sim_now(p->sim);
    if (r->wa->state != TAPIR_TCP_TIME_WAIT)
        return bulk_fail(res, "A left TIME_WAIT early (%s)", tapir_tcp_state_name(r->wa->state));
    tapir_time_t entered = r->wa->entered_time_wait;
    tapir_time_t two_msl = 2 * tapir_stack_config(p->a.s)->msl;
    if (!sim_run_until(p->sim, a_has_no_connection, r, drained + two_msl + TAPIR_SEC(1)))
        return bulk_fail(res, "TIME_WAIT did not expire");
    if (r->wa->state != TAPIR_TCP_CLOSED)
        return bulk_fail(res, "A's connection was freed without reaching CLOSED");
    tapir_time_t started = r->wa->when - two_msl;   /* the last (re)start of the 2*MSL timer */
    bool clean = bc->loss == 0 && bc->duplicate == 0 && bc->reorder == 0 && bc->corrupt == 0;
    if (clean ? started != entered : (started < entered || started > drained))
        return bulk_fail(res, "TIME_WAIT expired at %" PRIu64 ": entered %" PRIu64 ", link drained %" PRIu64,
                    r->wa->when, entered, drained);

    /* Nothing leaked. */
    if (tcpsim_conns(&p->a) || tcpsim_conns(&p->b) || tcpsim_bufs_in_use(&p->a) || tcpsim_bufs_in_use(&p->b))
        return bulk_fail(res, "leak: connections %u/%u, buffers %u/%u", tcpsim_conns(&p->a), tcpsim_conns(&p->b),
                    tcpsim_bufs_in_use(&p->a), tcpsim_bufs_in_use(&p->b));

    /* The impairment really happened, and corrupted frames were caught. */
    struct tapir_vlink_stats ab, ba;
    tapir_vlink_get_stats(p->a.end, &ab);
    tapir_vlink_get_stats(p->b.end, &ba);
    if (bc->loss > 0 && (ab.lost == 0 || ba.lost == 0 || p->a.s->stats.tcp_retransmits == 0 ||
                         p->b.s->stats.tcp_retransmits == 0))
        return bulk_fail(res, "loss: no frame lost or retransmitted in one direction");
    if (bc->duplicate > 0 && (ab.duplicated == 0 || ba.duplicated == 0))
        return bulk_fail(res, "duplication: nothing duplicated");
    if (bc->reorder > 0 && (ab.reordered == 0 || ba.reordered == 0))
        return bulk_fail(res, "reordering: nothing reordered");
    if (bc->corrupt > 0) {
        uint64_t corrupted = ab.corrupted + ba.corrupted;
        uint64_t caught = tcpsim_corruption_drops(&p->a) + tcpsim_corruption_drops(&p->b);
        uint64_t tcp_sum = p->a.s->stats.drops[TAPIR_DROP_TCP_BAD_CHECKSUM] + p->b.s->stats.drops[TAPIR_DROP_TCP_BAD_CHECKSUM];
        if (corrupted == 0 || caught != corrupted || tcp_sum == 0)
            return bulk_fail(res, "corruption: %" PRIu64 " frames corrupted, %" PRIu64 " dropped as malformed (%" PRIu64
                        " by the TCP checksum)", corrupted, caught, tcp_sum);
    } else if (tcpsim_corruption_drops(&p->a) + tcpsim_corruption_drops(&p->b) != 0) {
        return bulk_fail(res, "malformed-frame drops on a link that corrupts nothing");
    }
    res->ok = true;
    return true;
}

static struct bulk_result run_bulk(const struct bulk_case *bc, uint64_t seed, bool half_close, const char *pcap)
{
    struct bulk_result res = {.ok = false};
    struct tapir_vlink_params vp;
    tapir_vlink_params_init(&vp);
    vp.seed = seed;
    vp.delay = TAPIR_MSEC(2);
    vp.jitter = bc->jitter;
    vp.loss = bc->loss;
    vp.duplicate = bc->duplicate;
    vp.reorder = bc->reorder;
    vp.reorder_delay = TAPIR_MSEC(3);
    vp.corrupt = bc->corrupt;

    struct bulk_run *r = calloc(1, sizeof *r);
    if (!r) {
        bulk_fail(&res, "out of memory");
        return res;
    }
    r->half_close = half_close;
    tcpsim_pair_start(&r->p, &vp, seed * 7919u + 1, NULL, pcap);
    int err;
    r->listener = tcp_conn_new(r->p.b.s, &err);
    struct tcp_conn *c = tcp_conn_new(r->p.a.s, &err);
    if (!r->listener || !c || tcp_bind(r->listener, 0, BULK_PORT) < 0 || tcp_listen(r->listener, 4) < 0 ||
        tcp_connect(c, TCPSIM_IP_B, BULK_PORT) != -EINPROGRESS) {
        bulk_fail(&res, "cannot set up the connection");
    } else {
        tcpsim_app_init(&r->a, c, 1, MIB, 2, MIB);
        r->wa = tcpsim_watch(&r->p.a, c);
        run_checks(r, bc, &res);
    }
    tcpsim_pair_free(&r->p);
    free(r);
    return res;
}

static void run_case(const struct bulk_case *bc, const uint64_t *seeds, size_t nseeds, bool half_close)
{
    /* TCPSIM_PCAP set: record every run, not only failing ones. */
    bool always = getenv("TCPSIM_PCAP") != NULL;
    for (size_t i = 0; i < nseeds; i++) {
        char path[128];
        snprintf(path, sizeof path, "tcp_sim_bulk_%s%s_%" PRIu64 ".pcap", bc->name,
                 half_close ? "_halfclose" : "", seeds[i]);
        struct bulk_result res = run_bulk(bc, seeds[i], half_close, always ? path : NULL);
        if (!res.ok) {
            run_bulk(bc, seeds[i], half_close, path);
            ck_abort_msg("%s%s, seed %" PRIu64 ": %s (trace of the replay: %s)", bc->name,
                         half_close ? " (half-close)" : "", seeds[i], res.why, path);
        }
    }
}

static const uint64_t seeds[] = {1, 2, 3, 4, 5};
#define NSEEDS (sizeof seeds / sizeof seeds[0])

START_TEST(one_mib_each_way_clean_link)
{
    const struct bulk_case bc = {.name = "clean", .limit = TAPIR_SEC(60)};
    run_case(&bc, seeds, 1, false);
}
END_TEST

START_TEST(one_mib_each_way_at_1_percent_loss)
{
    const struct bulk_case bc = {.name = "loss1", .loss = 0.01, .limit = TAPIR_SEC(600)};
    run_case(&bc, seeds, NSEEDS, false);
}
END_TEST

START_TEST(one_mib_each_way_at_5_percent_loss)
{
    const struct bulk_case bc = {.name = "loss5", .loss = 0.05, .limit = TAPIR_SEC(1200)};
    run_case(&bc, seeds, NSEEDS, false);
}
END_TEST

START_TEST(one_mib_each_way_at_20_percent_loss)
{
    const struct bulk_case bc = {.name = "loss20", .loss = 0.20, .limit = TAPIR_SEC(4 * 3600)};
    run_case(&bc, seeds, NSEEDS, false);
}
END_TEST

START_TEST(one_mib_each_way_with_reordering)
{
    const struct bulk_case bc = {.name = "reorder", .reorder = 0.10, .jitter = TAPIR_USEC(500),
                                 .limit = TAPIR_SEC(600)};
    run_case(&bc, seeds, NSEEDS, false);
}
END_TEST

START_TEST(one_mib_each_way_with_duplication)
{
    const struct bulk_case bc = {.name = "dup", .duplicate = 0.10, .limit = TAPIR_SEC(600)};
    run_case(&bc, seeds, NSEEDS, false);
}
END_TEST

START_TEST(one_mib_each_way_with_corruption_dropped_and_counted)
{
    const struct bulk_case bc = {.name = "corrupt", .corrupt = 0.05, .limit = TAPIR_SEC(1200)};
    run_case(&bc, seeds, NSEEDS, false);
}
END_TEST

START_TEST(one_mib_each_way_with_everything_at_once)
{
    const struct bulk_case bc = {.name = "mixed", .loss = 0.05, .duplicate = 0.05, .reorder = 0.05,
                                 .corrupt = 0.02, .jitter = TAPIR_USEC(300), .limit = TAPIR_SEC(1800)};
    run_case(&bc, seeds, 3, false);
}
END_TEST

START_TEST(half_close_data_flows_to_the_side_that_sent_fin_first)
{
    const struct bulk_case clean = {.name = "clean", .limit = TAPIR_SEC(60)};
    run_case(&clean, seeds, 1, true);
    const struct bulk_case lossy = {.name = "loss5", .loss = 0.05, .limit = TAPIR_SEC(1200)};
    run_case(&lossy, seeds, 3, true);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tcp_sim_bulk");
    TCase *tc = tcase_create("bulk");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, one_mib_each_way_clean_link);
    tcase_add_test(tc, one_mib_each_way_at_1_percent_loss);
    tcase_add_test(tc, one_mib_each_way_at_5_percent_loss);
    tcase_add_test(tc, one_mib_each_way_at_20_percent_loss);
    tcase_add_test(tc, one_mib_each_way_with_reordering);
    tcase_add_test(tc, one_mib_each_way_with_duplication);
    tcase_add_test(tc, one_mib_each_way_with_corruption_dropped_and_counted);
    tcase_add_test(tc, one_mib_each_way_with_everything_at_once);
    tcase_add_test(tc, half_close_data_flows_to_the_side_that_sent_fin_first);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
