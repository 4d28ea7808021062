/* TCP (RFC 9293): module lifecycle, the one function every state change goes
 * through, connection allocation and release, timers dispatch and the RST
 * rate limit. Segment processing is in tcp_input.c, output in tcp_output.c. */
#include "core/tcp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/spare_poison.h"
#include "core/tcp_conn.h"

int tcp_init(struct tapir_stack *s)
{
    struct tcp_state *t = calloc(1, sizeof *t);
    if (!t)
        return -ENOMEM;
    s->tcp = t;
    /* The ISN key comes from the seeded random source (RFC 6528 3). */
    uint64_t seed = s->cfg.random_seed ^ 0x6a09e667f3bcc908ull;
    for (int i = 0; i < 2; i++) {
        seed += 0x9e3779b97f4a7c15ull;
        uint64_t z = seed;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        if (i == 0)
            t->isn_k0 = z;
        else
            t->isn_k1 = z;
    }
    t->rst_tokens = s->cfg.tcp_rst_per_sec;
    int err = tcp_table_init(t);
    if (err == 0)
        err = tcp_tw_init(t);
    if (err == 0 && (!memchr(s->cfg.tcp_congestion, 0, sizeof s->cfg.tcp_congestion) ||
                     (s->cfg.tcp_congestion[0] && !tcp_cc_find(s->cfg.tcp_congestion))))
        err = -EINVAL;      /* a congestion control we do not have (empty: the default) */
    if (err < 0) {
        tcp_tw_destroy(t);
        tcp_table_destroy(t);
        free(t);
        s->tcp = NULL;
    }
    return err;
}

/* At most this many freed connections are kept for reuse per stack: enough
 * for a server's churn, a bounded amount of idle memory. */
#define TCP_CONN_SPARES_MAX 64u

/* Free c's memory: kept as a spare (its buffers' storage too, as ring
 * spares) when keep and there is room, else given back to malloc. */
static void conn_free_memory(struct tcp_state *t, struct tcp_conn *c, bool keep)
{
    tcp_ring_free(&t->ring_spares, &c->sndbuf);
    tcp_ring_free(&t->ring_spares, &c->rcvbuf);
    if (!keep || t->nconn_spares >= TCP_CONN_SPARES_MAX) {
        free(c);
        return;
    }
    c->gnext = t->conn_spares;
    spare_poison(c, sizeof *c, offsetof(struct tcp_conn, gnext));
    t->conn_spares = c;
    t->nconn_spares++;
}

void tcp_destroy(struct tapir_stack *s)
{
    struct tcp_state *t = s->tcp;
    if (!t)
        return;
    tcp_reap(s);
    struct tcp_conn *c = t->all;
    while (c) {
        struct tcp_conn *next = c->anext;
        conn_free_memory(t, c, false);
        c = next;
    }
    while (t->conn_spares) {
        c = t->conn_spares;
        spare_unpoison(c, sizeof *c);
        t->conn_spares = c->gnext;
        free(c);
    }
    tcp_ring_spares_drain(&t->ring_spares);
    tcp_tw_destroy(t);
    tcp_table_destroy(t);
    free(t);
    s->tcp = NULL;
}

void tapir_stack_set_state_hook(tapir_stack *s, tapir_state_hook fn, void *ctx)
{
    s->tcp->hook = fn;
    s->tcp->hook_ctx = ctx;
}

void tcp_set_notify(struct tapir_stack *s, tcp_notify_fn fn)
{
    s->tcp->notify = fn;
}

void tcp_set_owner(struct tcp_conn *c, void *owner)
{
    c->owner = owner;
}

void tcp_hook_report(struct tapir_stack *s, uint32_t lip, uint16_t lport, uint32_t rip, uint16_t rport,
                     enum tapir_tcp_state from, enum tapir_tcp_state to, const char *cause, const void *ident)
{
    struct tcp_state *t = s->tcp;
    if (!t->hook)
        return;
    struct tapir_state_change ch = {
        .local_addr = {htonl(lip)}, .remote_addr = {htonl(rip)},
        .local_port = lport, .remote_port = rport,
        .from = from, .to = to, .cause = cause, .when = s->now, .conn = ident,
    };
    t->hook(t->hook_ctx, &ch);
}

/* Every state change goes through here: it is recorded and shown to the
 * hook (DESIGN.md), so the ladder of a connection can be printed. */
void tcp_set_state(struct tcp_conn *c, enum tapir_tcp_state to, const char *cause)
{
    enum tapir_tcp_state from = c->state;
    if (from == to)
        return;
    c->state = to;
    tcp_hook_report(c->s, c->lip, c->lport, c->rip, c->rport, from, to, cause, c->hook_id ? c->hook_id : c);
}

void tcp_notify(struct tcp_conn *c)
{
    struct tcp_state *t = c->s->tcp;
    if (t->notify && c->owned && !c->freed)
        t->notify(c->owner, c, tcp_events(c));
}

struct tcp_conn *tcp_conn_alloc(struct tapir_stack *s, int *err)
{
    /* Compact TIME_WAIT records count too (nconns): each still holds a
     * 4-tuple and a port for 2*MSL. */
    if (s->tcp->nconns >= s->cfg.tcp_max_connections) {
        *err = -EMFILE;
        return NULL;
    }
    return tcp_conn_alloc_unlimited(s, err);
}

struct tcp_conn *tcp_conn_alloc_unlimited(struct tapir_stack *s, int *err)
{
    struct tcp_state *t = s->tcp;
    struct tcp_conn *c = t->conn_spares;
    if (c) {
        spare_unpoison(c, sizeof *c);
        t->conn_spares = c->gnext;
        t->nconn_spares--;
        memset(c, 0, sizeof *c);    /* nothing of its last life is kept */
    } else {
        c = calloc(1, sizeof *c);
    }
    if (!c) {
        *err = -ENOMEM;
        return NULL;
    }
    c->s = s;
    c->state = TAPIR_TCP_CLOSED;
    c->heap_idx = UINT32_MAX;
    c->rto_at = c->delack_at = c->persist_at = c->keepalive_at = c->timewait_at = TAPIR_TIME_NEVER;
    c->idle_at = TAPIR_TIME_NEVER;
    c->deadline = TAPIR_TIME_NEVER;
    c->sndbuf_max = s->cfg.tcp_sndbuf;
    c->rcvbuf_max = s->cfg.tcp_rcvbuf;
    tcp_autotune_init(c);
    uint32_t mtu_mss = s->mtu - 40;
    c->adv_mss = s->cfg.tcp_mss && s->cfg.tcp_mss < mtu_mss ? s->cfg.tcp_mss : mtu_mss;
    c->snd_mss = 536;       /* RFC 9293 3.7.1: the default when no MSS option came */
    c->rcv_mss = 536;
    c->rto = (uint32_t)s->cfg.rto_initial;
    c->ka_idle = s->cfg.keepalive_idle;
    c->ka_intvl = s->cfg.keepalive_intvl;
    c->ka_cnt = s->cfg.keepalive_cnt;
    c->cc = tcp_cc_find(s->cfg.tcp_congestion);
    if (!c->cc)
        c->cc = &tcp_cc_cubic_ops;      /* an unknown name was refused at tcp_init */
    c->cc->reset(c);
    c->anext = t->all;
    if (t->all)
        t->all->aprev = c;
    t->all = c;
    t->nconns++;
    *err = 0;
    return c;
}

static void queue_unlink(struct tcp_conn *c)
{
    struct tcp_conn *l = c->listener;
    if (!l)
        return;
    if (c->qprev)
        c->qprev->qnext = c->qnext;
    else if (c->in_accept_q)
        l->accq_head = c->qnext;
    else
        l->synq_head = c->qnext;
    if (c->qnext)
        c->qnext->qprev = c->qprev;
    else if (c->in_accept_q)
        l->accq_tail = c->qprev;
    if (c->in_accept_q)
        l->accq_len--;
    else
        l->synq_len--;
    c->qnext = c->qprev = NULL;
    c->listener = NULL;
    c->in_accept_q = false;
}

void tcp_conn_release(struct tcp_conn *c)
{
    if (c->freed)
        return;
    struct tcp_state *t = c->s->tcp;
    if (c->tw)
        tcp_tw_drop_reserved(c);
    queue_unlink(c);
    tcp_table_unhash(c);
    tcp_table_unlisten(c);
    tcp_port_unref(c);
    c->freed = true;
    tcp_heap_remove(c);
    if (c->aprev)
        c->aprev->anext = c->anext;
    else
        t->all = c->anext;
    if (c->anext)
        c->anext->aprev = c->aprev;
    t->nconns--;
    c->gnext = t->graveyard;
    t->graveyard = c;
}

void tcp_reap(struct tapir_stack *s)
{
    struct tcp_state *t = s->tcp;
    /* Connections on the batch list may be on the graveyard too: they are
     * freed after tcp_batch_end has looked at them. */
    if (t->batching)
        return;
    while (t->graveyard) {
        struct tcp_conn *c = t->graveyard;
        t->graveyard = c->gnext;
        conn_free_memory(t, c, true);
    }
}

void tcp_batch_begin(struct tapir_stack *s)
{
    s->tcp->batching = true;
}

void tcp_batch_end(struct tapir_stack *s)
{
    struct tcp_state *t = s->tcp;
    if (!t->batching)
        return;
    /* Still batching while the list is walked: nothing is reaped under us
     * (a notify callback may close or abort connections). */
    while (t->batch) {
        struct tcp_conn *c = t->batch;
        t->batch = c->bnext;
        c->bnext = NULL;
        c->batched = false;
        if (!c->freed && c->state != TAPIR_TCP_CLOSED)
            tcp_output(c);
        if (!c->freed)
            tcp_notify(c);
        if (!c->freed)
            tcp_tw_try_compact(c);      /* an orphan whose ACK went out just now */
    }
    t->batching = false;
    tcp_reap(s);
}

void tcp_conn_closed(struct tcp_conn *c, int err, const char *cause)
{
    if (err)
        c->error = err;
    tcp_set_state(c, TAPIR_TCP_CLOSED, cause);
    c->rto_at = c->delack_at = c->persist_at = c->keepalive_at = c->timewait_at = TAPIR_TIME_NEVER;
    c->idle_at = TAPIR_TIME_NEVER;
    tcp_timer_sync(c);
    tcp_ring_free(&c->s->tcp->ring_spares, &c->sndbuf);
    c->ooo_n = 0;
    c->ooo_bytes = 0;
    tcp_table_unhash(c);
    if (!c->owned) {
        tcp_conn_release(c);
        return;
    }
    tcp_notify(c);
}

void tcp_report_soft_error(struct tcp_conn *c, int err)
{
    /* RFC 9293 3.9.1.8 (MUST-47, SHLD-20): soft errors reach the
     * application asynchronously when it asked for them (IP_RECVERR), as
     * Linux's tcp_v4_err does: the error becomes the pending one, which the
     * next read or write returns once (or SO_ERROR takes), and poll shows
     * POLLERR meanwhile; the connection itself goes on. Only once the
     * handshake is done: before that the pending error is the outcome of
     * connect(), which a soft error must not decide (MUST-56), so it stays
     * in soft_error for a timeout as without IP_RECVERR. An orphan has
     * nobody to tell. */
    if (!c->recverr || !c->owned || c->freed)
        return;
    if (c->state < TAPIR_TCP_ESTABLISHED || c->state == TAPIR_TCP_TIME_WAIT)
        return;
    c->error = err;
    tcp_notify(c);
}

bool tcp_rate_allow(struct tapir_stack *s)
{
    struct tcp_state *t = s->tcp;
    if (s->now >= t->rst_refill_at) {
        t->rst_tokens = s->cfg.tcp_rst_per_sec;
        t->rst_refill_at = s->now + TAPIR_SEC(1);
    }
    if (t->rst_tokens == 0) {
        stack_drop(s, TAPIR_DROP_TCP_RATE_LIMITED);
        return false;
    }
    t->rst_tokens--;
    return true;
}

void tcp_poll(struct tapir_stack *s, tapir_time_t now)
{
    s->now = now;
    /* Each connection is fired at most once per call; a timer that re-arms
     * itself in the past cannot spin here. Connections and compact
     * TIME_WAIT records are served in the order of their deadlines, so the
     * hook sees the same sequence of events as if every record were still
     * a connection in the heap. */
    uint32_t budget = s->tcp->heap_len;
    for (;;) {
        struct tcp_conn *c = budget > 0 ? tcp_heap_top(s) : NULL;
        tapir_time_t conn_at = c ? c->deadline : TAPIR_TIME_NEVER;
        tapir_time_t tw_at = tcp_tw_next_expiry(s);
        if (tw_at <= now && tw_at <= conn_at) {
            tcp_tw_expire_head(s);
        } else if (conn_at <= now) {
            budget--;
            tcp_timer_fire(c, now);
        } else {
            break;
        }
    }
    tcp_reap(s);
}

tapir_time_t tcp_next_deadline(const struct tapir_stack *s)
{
    const struct tcp_conn *c = tcp_heap_top(s);
    return time_min(c ? c->deadline : TAPIR_TIME_NEVER, tcp_tw_next_expiry(s));
}

uint32_t tcp_conn_count(const struct tapir_stack *s)
{
    return s->tcp->nconns;
}

uint32_t tcp_timewait_count(const struct tapir_stack *s)
{
    return s->tcp->tw.n;
}

size_t tcp_timewait_memory(const struct tapir_stack *s)
{
    return s->tcp->tw.bytes + s->tcp->tw.nbuckets * sizeof *s->tcp->tw.buckets;
}

void tcp_timewait_set_enabled(struct tapir_stack *s, bool on)
{
    s->tcp->tw.disabled = !on;
}
