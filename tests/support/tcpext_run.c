/* One-way bulk transfers for the TCP extension simulations (tcpext_run.h). */
#include "tcpext_run.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/stack.h"
#include "core/tcp.h"
#include "core/tcp_conn.h"
#include "core/wire.h"
#include "tcpsim.h"

#define TCPEXT_PORT 5201

struct run {
    const struct tcpext_case *tc;
    struct tcpsim_pair p;
    struct tcp_conn *listener;
    struct tcpsim_app a, b;
    tapir_time_t start, next_sample;
    bool done;
    bool dropped[TCPEXT_MAX_DROPS];
    uint64_t ndropped;
};

static void fail(struct tcpext_result *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->why, sizeof r->why, fmt, ap);
    va_end(ap);
    r->ok = false;
}

/* A's output: drop the first segment carrying each listed offset. */
static int lossy_output(void *ctx, const uint8_t *f, size_t len)
{
    struct run *r = ctx;
    if (r->a.c && len >= 40 && (f[0] >> 4) == 4 && f[9] == 6) {
        size_t ihl = (size_t)(f[0] & 15) * 4;
        size_t total = get_be16(f + 2);
        const uint8_t *t = f + ihl;
        size_t hl = (size_t)(t[12] >> 4) * 4;
        if (total <= len && ihl + hl <= total) {
            uint32_t dlen = (uint32_t)(total - ihl - hl);
            uint32_t off = get_be32(t + 4) - (r->a.c->iss + 1);
            for (size_t i = 0; i < r->tc->ndrops && dlen; i++) {
                if (!r->dropped[i] && r->tc->drops[i] >= off && r->tc->drops[i] < (uint64_t)off + dlen) {
                    r->dropped[i] = true;
                    r->ndropped++;
                    return 0;
                }
            }
        }
    }
    return tapir_dev_send(r->p.a.end, f, len);
}

static bool step(struct sim *sim, void *ctx)
{
    struct run *r = ctx;
    tcpsim_sync(&r->p);
    if (r->listener) {
        struct tcp_conn *c;
        if (tcp_accept(r->listener, &c) == 0) {
            tcpsim_app_init(&r->b, c, 2, 0, 1, r->tc->bytes);
            tcp_close(r->listener);
            r->listener = NULL;
        }
    }
    tcpsim_app_pump(&r->a);
    tcpsim_app_pump(&r->b);
    tapir_time_t now = sim_now(sim);
    if (r->tc->sample_every && r->a.c && now >= r->next_sample) {
        struct tapir_tcp_info info;
        tcp_get_info(r->a.c, &info);
        r->tc->on_sample(r->tc->ctx, now - r->start, &info);
        r->next_sample = now + r->tc->sample_every;
    }
    if (r->a.error || r->b.error || r->a.mismatch || r->b.mismatch)
        return true;
    return r->b.c && tcpsim_app_received_all(&r->b);
}

static bool all_closed(struct sim *sim, void *ctx)
{
    (void)sim;
    struct run *r = ctx;
    return tcpsim_conns(&r->p.a) == 0 && tcpsim_conns(&r->p.b) == 0;
}

void tcpext_run(const struct tcpext_case *tc, struct tcpext_result *res)
{
    memset(res, 0, sizeof *res);
    struct run *r = calloc(1, sizeof *r);
    if (!r) {
        fail(res, "out of memory");
        return;
    }
    r->tc = tc;
    struct tapir_vlink_params vp;
    tapir_vlink_params_init(&vp);
    vp.seed = 1;
    vp.delay = tc->delay;
    tcpsim_pair_start(&r->p, &vp, 4242, tc->tweak, NULL);
    tapir_stack_set_output(r->p.a.s, lossy_output, r);
    int err;
    r->listener = tcp_conn_new(r->p.b.s, &err);
    struct tcp_conn *c = tcp_conn_new(r->p.a.s, &err);
    r->start = sim_now(r->p.sim);
    r->next_sample = r->start;
    if (!r->listener || !c || tcp_bind(r->listener, 0, TCPEXT_PORT) < 0 || tcp_listen(r->listener, 4) < 0 ||
        tcp_connect(c, TCPSIM_IP_B, TCPEXT_PORT) != -EINPROGRESS) {
        fail(res, "cannot set up the connection");
        goto out;
    }
    tcpsim_app_init(&r->a, c, 1, tc->bytes, 2, 0);
    bool done = sim_run_until(r->p.sim, step, r, r->start + tc->limit);
    res->elapsed = sim_now(r->p.sim) - r->start;
    struct tapir_stats *st = &r->p.a.s->stats;
    res->rtos = st->tcp_rto_expired;
    res->retransmits = st->tcp_retransmits;
    res->fast_retransmits = st->tcp_fast_retransmits;
    res->sack_recoveries = st->tcp_sack_recoveries;
    res->limited_transmits = st->tcp_limited_transmits;
    res->dropped = r->ndropped;
    if (r->a.error || r->b.error || r->a.mismatch || r->b.mismatch) {
        fail(res, "error %d/%d or mismatch at %llu", r->a.error, r->b.error,
             (unsigned long long)r->b.mismatch_at);
        goto out;
    }
    if (!done) {
        fail(res, "B received %llu of %llu bytes in time", (unsigned long long)r->b.received,
             (unsigned long long)tc->bytes);
        goto out;
    }
    tcp_get_info(r->a.c, &res->a_info);
    if (res->dropped != tc->ndrops) {
        fail(res, "only %llu of %zu planned losses happened", (unsigned long long)res->dropped, tc->ndrops);
        goto out;
    }
    /* Close both ends and let TIME_WAIT pass: nothing may be left. */
    tcp_close(r->a.c);
    r->a.c = NULL;
    tcpsim_sync(&r->p);
    tcpsim_app_pump(&r->b);
    tcp_close(r->b.c);
    r->b.c = NULL;
    if (!sim_run_until(r->p.sim, all_closed, r, sim_now(r->p.sim) + TAPIR_SEC(600))) {
        fail(res, "connections not closed");
        goto out;
    }
    if (tcpsim_bufs_in_use(&r->p.a) || tcpsim_bufs_in_use(&r->p.b)) {
        fail(res, "packet buffers leaked");
        goto out;
    }
    res->ok = true;
out:
    if (r->listener)
        tcp_close(r->listener);
    tcpsim_pair_free(&r->p);
    free(r);
}
