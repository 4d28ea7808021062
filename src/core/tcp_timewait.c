/* Compact TIME_WAIT records (see tcp_timewait.h): the slab they live in,
 * their 4-tuple table, the expiry FIFO, compaction of an orphan in
 * TIME_WAIT and the inverse, inflation for a segment. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/spare_poison.h"
#include "core/tcp_conn.h"

/* ---- the slab -------------------------------------------------------------- */

/* Records come in blocks of 64 KiB (one malloc per 545 records), so a
 * client closing tens of thousands of connections a second makes no
 * malloc per connection once the blocks are there. A block whose last
 * record goes is freed, unless it is the only one with room: a stack
 * whose TIME_WAIT population falls gives the memory back. */
#define TCP_TW_BLOCK_BYTES 65536u

struct tcp_tw_block {
    struct tcp_tw_block *next, *prev;       /* every block */
    struct tcp_tw_block *pnext, *pprev;     /* blocks with a free record */
    struct tcp_tw *free;                    /* chained by hnext */
    uint32_t used;
    bool partial;                           /* on the list of blocks with room */
    struct tcp_tw rec[];
};
#define TCP_TW_BLOCK_RECORDS \
    ((TCP_TW_BLOCK_BYTES - sizeof(struct tcp_tw_block)) / sizeof(struct tcp_tw))
#define TCP_TW_BLOCK_SIZE \
    (sizeof(struct tcp_tw_block) + TCP_TW_BLOCK_RECORDS * sizeof(struct tcp_tw))

static void partial_push(struct tcp_tw_state *w, struct tcp_tw_block *b)
{
    b->pprev = NULL;
    b->pnext = w->partial;
    if (w->partial)
        w->partial->pprev = b;
    w->partial = b;
    b->partial = true;
}

static void partial_remove(struct tcp_tw_state *w, struct tcp_tw_block *b)
{
    if (b->pprev)
        b->pprev->pnext = b->pnext;
    else
        w->partial = b->pnext;
    if (b->pnext)
        b->pnext->pprev = b->pprev;
    b->pnext = b->pprev = NULL;
    b->partial = false;
}

/* A free record: poisoned for AddressSanitizer (spare_poison.h) but its
 * link, so that a use after the record was freed is caught. */
static void rec_put_free(struct tcp_tw_block *b, struct tcp_tw *e)
{
    e->hnext = b->free;
    b->free = e;
    spare_poison(e, sizeof *e, offsetof(struct tcp_tw, hnext));
}

static struct tcp_tw_block *block_new(struct tcp_tw_state *w)
{
    struct tcp_tw_block *b = malloc(TCP_TW_BLOCK_SIZE);
    if (!b)
        return NULL;
    memset(b, 0, sizeof *b);
    for (size_t i = TCP_TW_BLOCK_RECORDS; i-- > 0;)
        rec_put_free(b, &b->rec[i]);
    b->next = w->blocks;
    if (w->blocks)
        w->blocks->prev = b;
    w->blocks = b;
    partial_push(w, b);
    w->bytes += TCP_TW_BLOCK_SIZE;
    return b;
}

static void block_free(struct tcp_tw_state *w, struct tcp_tw_block *b)
{
    if (b->partial)
        partial_remove(w, b);
    if (b->prev)
        b->prev->next = b->next;
    else
        w->blocks = b->next;
    if (b->next)
        b->next->prev = b->prev;
    w->bytes -= TCP_TW_BLOCK_SIZE;
    spare_unpoison(b, TCP_TW_BLOCK_SIZE);
    free(b);
}

/* A record, counted among the stack's connections (tcp_max_connections). */
static struct tcp_tw *rec_alloc(struct tcp_state *t)
{
    struct tcp_tw_state *w = &t->tw;
    struct tcp_tw_block *b = w->partial ? w->partial : block_new(w);
    if (!b)
        return NULL;
    struct tcp_tw *e = b->free;
    spare_unpoison(e, sizeof *e);
    b->free = e->hnext;
    if (!b->free)
        partial_remove(w, b);
    b->used++;
    memset(e, 0, sizeof *e);
    e->blk = b;
    w->n++;
    t->nconns++;
    return e;
}

static void rec_free(struct tcp_state *t, struct tcp_tw *e)
{
    struct tcp_tw_state *w = &t->tw;
    struct tcp_tw_block *b = e->blk;
    rec_put_free(b, e);
    b->used--;
    if (!b->partial)
        partial_push(w, b);
    w->n--;
    t->nconns--;
    if (b->used == 0 && (w->partial != b || b->pnext))
        block_free(w, b);
}

/* ---- the 4-tuple table ------------------------------------------------------- */

#define TCP_TW_BUCKETS_MIN 64u

int tcp_tw_init(struct tcp_state *t)
{
    t->tw.nbuckets = TCP_TW_BUCKETS_MIN;
    t->tw.buckets = calloc(t->tw.nbuckets, sizeof *t->tw.buckets);
    return t->tw.buckets ? 0 : -ENOMEM;
}

void tcp_tw_destroy(struct tcp_state *t)
{
    while (t->tw.blocks)
        block_free(&t->tw, t->tw.blocks);
    free(t->tw.buckets);
    memset(&t->tw, 0, sizeof t->tw);
}

static struct tcp_tw **bucket_of(const struct tcp_state *t, uint32_t lip, uint16_t lport, uint32_t rip,
                                 uint16_t rport)
{
    uint32_t h = tcp_tuple_hash(t, lip, lport, rip, rport) & (t->tw.nbuckets - 1);
    return &t->tw.buckets[h];
}

/* A record's bucket: its local address is the stack's (compactable()). */
static struct tcp_tw **rec_bucket(const struct tapir_stack *s, const struct tcp_tw *e)
{
    return bucket_of(s->tcp, s->ip, e->lport, e->rip, e->rport);
}

struct tcp_tw *tcp_tw_lookup(const struct tapir_stack *s, uint32_t lip, uint16_t lport, uint32_t rip,
                             uint16_t rport)
{
    const struct tcp_state *t = s->tcp;
    if (t->tw.n == 0 || lip != s->ip)
        return NULL;
    for (struct tcp_tw *e = *bucket_of(t, lip, lport, rip, rport); e; e = e->hnext)
        if (e->lport == lport && e->rport == rport && e->rip == rip)
            return e;
    return NULL;
}

/* Keep chains short as the population grows: at most four records per
 * bucket on average, so that the table costs 2-4 bytes per record (the
 * table is looked at only when the connection table has no match: a
 * segment for a record, a new connection's SYN). A failed allocation
 * keeps the old table. */
static void grow_buckets(const struct tapir_stack *s)
{
    struct tcp_tw_state *w = &s->tcp->tw;
    uint32_t n = w->nbuckets * 2;
    struct tcp_tw **nb = calloc(n, sizeof *nb);
    if (!nb)
        return;
    struct tcp_tw **old = w->buckets;
    uint32_t nold = w->nbuckets;
    w->buckets = nb;
    w->nbuckets = n;
    for (uint32_t i = 0; i < nold; i++) {
        struct tcp_tw *e = old[i];
        while (e) {
            struct tcp_tw *next = e->hnext;
            struct tcp_tw **b = rec_bucket(s, e);
            e->hnext = *b;
            *b = e;
            e = next;
        }
    }
    free(old);
}

static void hash_insert(const struct tapir_stack *s, struct tcp_tw *e)
{
    if (s->tcp->tw.n > 4 * s->tcp->tw.nbuckets)
        grow_buckets(s);
    struct tcp_tw **b = rec_bucket(s, e);
    e->hnext = *b;
    *b = e;
}

static void hash_remove(const struct tapir_stack *s, struct tcp_tw *e)
{
    for (struct tcp_tw **pp = rec_bucket(s, e); *pp; pp = &(*pp)->hnext) {
        if (*pp == e) {
            *pp = e->hnext;
            break;
        }
    }
    e->hnext = NULL;
}

/* ---- the expiry FIFO ------------------------------------------------------------ */

/* Records are appended as they are made or restarted, at now + 2*MSL, so
 * the FIFO is in expiry order and an append is the whole insertion. A
 * record whose expiry is earlier than the tail's (a connection its owner
 * kept in TIME_WAIT for a while before closing it, a clock fed out of
 * order) is put in its place from the tail, looking at most this many
 * records back; beyond, the connection is not compacted (it stays a full
 * connection, whose timer heap has no such limit). */
#define TCP_TW_INSERT_WALK 64u

static void fifo_unlink(struct tcp_tw_state *w, struct tcp_tw *e)
{
    if (e->fprev)
        e->fprev->fnext = e->fnext;
    else
        w->head = e->fnext;
    if (e->fnext)
        e->fnext->fprev = e->fprev;
    else
        w->tail = e->fprev;
    e->fnext = e->fprev = NULL;
}

static bool fifo_insert(struct tcp_tw_state *w, struct tcp_tw *e)
{
    struct tcp_tw *after = w->tail;
    for (unsigned walked = 0; after && after->expire_at > e->expire_at; walked++) {
        if (walked == TCP_TW_INSERT_WALK)
            return false;
        after = after->fprev;
    }
    e->fprev = after;
    e->fnext = after ? after->fnext : w->head;
    if (e->fnext)
        e->fnext->fprev = e;
    else
        w->tail = e;
    if (after)
        after->fnext = e;
    else
        w->head = e;
    return true;
}

tapir_time_t tcp_tw_next_expiry(const struct tapir_stack *s)
{
    const struct tcp_tw *e = s->tcp->tw.head;
    return e ? e->expire_at : TAPIR_TIME_NEVER;
}

void tcp_tw_expire_head(struct tapir_stack *s)
{
    struct tcp_state *t = s->tcp;
    struct tcp_tw *e = t->tw.head;
    /* RFC 9293 3.4.2: 2*MSL have passed; the event is the one the full
     * connection gave (tcp_timer.c), then the tuple and the port go. */
    tcp_hook_report(s, s->ip, e->lport, e->rip, e->rport, TAPIR_TCP_TIME_WAIT, TAPIR_TCP_CLOSED,
                    TCP_CAUSE_2MSL, e->ident);
    fifo_unlink(&t->tw, e);
    hash_remove(s, e);
    if (e->flags & TCP_TW_BOUND)
        tcp_port_release(s, e->lport, (e->flags & TCP_TW_PORT_SHARED) != 0);
    rec_free(t, e);
}

/* ---- compaction and inflation ---------------------------------------------------- */

/* c holds nothing TIME_WAIT does not keep in a record, owes nothing, and
 * its next segment would be built from the record's fields alone. */
static bool compactable(const struct tcp_conn *c)
{
    if (c->state != TAPIR_TCP_TIME_WAIT || !c->orphan || c->owned || c->freed || !c->hashed ||
        c->listener || c->batched || c->lip != c->s->ip || c->s->tcp->tw.disabled)
        return false;
    /* The ACK it owes went out (RFC 9293 3.10.7.4: a FIN is acknowledged
     * before TIME_WAIT is left to the record), with any D-SACK block. */
    if (c->ack_now || c->dsack_pending || !c->fin_received)
        return false;
    /* Only the 2*MSL timer runs (idle_at only releases ring memory, which
     * goes with the connection anyway). */
    if (c->timewait_at == TAPIR_TIME_NEVER || c->rto_at != TAPIR_TIME_NEVER ||
        c->delack_at != TAPIR_TIME_NEVER || c->persist_at != TAPIR_TIME_NEVER ||
        c->keepalive_at != TAPIR_TIME_NEVER)
        return false;
    if (c->sndbuf.len || c->rcvbuf.len || c->ooo_n)
        return false;
    /* Our FIN is acknowledged: one number is SND.UNA, SND.NXT and SND.MAX. */
    if (c->snd_una != c->snd_max || c->snd_nxt != c->snd_max)
        return false;
    /* The window the next ACK announces is rcv_adv - rcv_nxt as it stands
     * (receiver SWS avoidance, RFC 1122 4.2.3.3, would not move the edge,
     * which is not behind RCV.NXT): the record keeps the edge, not what
     * would move it. */
    return seq_geq(c->rcv_adv, c->rcv_nxt) && tcp_window_settled(c);
}

static void rec_fill(struct tcp_tw *e, const struct tcp_conn *c)
{
    e->ident = c->hook_id ? c->hook_id : (const void *)c;
    e->expire_at = c->timewait_at;
    e->ts_recent_age = c->ts_recent_age;
    e->oow_ack_next = c->oow_ack_next;
    e->rip = c->rip;
    e->lport = c->lport;
    e->rport = c->rport;
    e->iss = c->iss;
    e->snd_nxt = c->snd_max;
    e->rcv_nxt = c->rcv_nxt;
    e->rcv_adv = c->rcv_adv;
    e->max_sndwnd = c->max_sndwnd;
    e->snd_wl1 = c->snd_wl1;
    e->snd_wl2 = c->snd_wl2;
    e->ts_offset = c->ts_offset;
    e->ts_recent = c->ts_recent;
    e->last_ack_sent = c->last_ack_sent;
    e->rcv_wscale = c->rcv_wscale;
    e->snd_wscale = c->snd_wscale;
    e->ip_tos = c->ip_tos;
    e->ip_ttl = c->ip_ttl;
    e->flags = (uint8_t)((c->bound ? TCP_TW_BOUND : 0) | (c->port_shared ? TCP_TW_PORT_SHARED : 0) |
                         (c->ws_ok ? TCP_TW_WS_OK : 0) | (c->ts_ok ? TCP_TW_TS_OK : 0) |
                         (c->ts_recent_valid ? TCP_TW_TS_RECENT_VALID : 0) | (c->sack_ok ? TCP_TW_SACK_OK : 0));
}

/* The record e (reserved for c) is not needed any more. */
static void drop_reserved(struct tcp_state *t, struct tcp_conn *c)
{
    struct tcp_tw *e = c->tw;
    c->tw = NULL;
    fifo_unlink(&t->tw, e);
    rec_free(t, e);
}

void tcp_tw_drop_reserved(struct tcp_conn *c)
{
    drop_reserved(c->s->tcp, c);
}

bool tcp_tw_try_compact(struct tcp_conn *c)
{
    if (!c->tw && (c->state != TAPIR_TCP_TIME_WAIT || !c->orphan))
        return false;                   /* the common case, at once */
    struct tapir_stack *s = c->s;
    struct tcp_state *t = s->tcp;
    struct tcp_tw *e = c->tw;
    if (!compactable(c)) {
        if (e)
            drop_reserved(t, c);    /* stays a full connection, with its own timer */
        return false;
    }
    bool fresh = e == NULL;
    if (fresh) {
        e = rec_alloc(t);
        if (!e)
            return false;
    }
    /* An inflated record keeps its place in the FIFO unless the segment
     * restarted 2*MSL (a retransmitted FIN, RFC 9293 3.10.7.4): then it
     * moves to its new place, the tail. */
    if (fresh || e->expire_at != c->timewait_at) {
        if (!fresh)
            fifo_unlink(&t->tw, e);
        e->expire_at = c->timewait_at;
        if (!fifo_insert(&t->tw, e)) {
            c->tw = NULL;
            rec_free(t, e);
            return false;
        }
    }
    rec_fill(e, c);
    hash_insert(s, e);
    /* The record takes over the local-port reference as it is: the port
     * never looks free while its 4-tuple is in TIME_WAIT (tcp_port.c). */
    c->bound = false;
    c->port_shared = false;
    c->tw = NULL;
    tcp_conn_release(c);
    if (fresh)
        s->stats.tcp_tw_compacted++;
    return true;
}

struct tcp_conn *tcp_tw_inflate(struct tapir_stack *s, struct tcp_tw *e)
{
    int err;
    struct tcp_conn *c = tcp_conn_alloc_unlimited(s, &err);   /* e is counted already */
    if (!c)
        return NULL;
    hash_remove(s, e);
    c->tw = e;
    c->hook_id = e->ident;
    c->lip = s->ip;
    c->rip = e->rip;
    c->lport = e->lport;
    c->rport = e->rport;
    c->bound = (e->flags & TCP_TW_BOUND) != 0;
    c->port_shared = (e->flags & TCP_TW_PORT_SHARED) != 0;
    /* TIME_WAIT as the connection had it when it was compacted: set
     * directly, without a state change (it never left the state). */
    c->state = TAPIR_TCP_TIME_WAIT;
    c->orphan = true;
    c->rd_shut = true;
    c->fin_queued = c->fin_sent = c->syn_acked = true;
    c->fin_received = true;
    c->snd_una = c->snd_nxt = c->snd_max = e->snd_nxt;
    c->iss = e->iss;
    c->max_sndwnd = e->max_sndwnd;
    c->snd_wl1 = e->snd_wl1;
    c->snd_wl2 = e->snd_wl2;
    c->snd_wscale = e->snd_wscale;
    c->rcv_nxt = e->rcv_nxt;
    c->irs = e->rcv_nxt;            /* not kept either */
    c->rcv_adv = e->rcv_adv;
    c->ws_ok = (e->flags & TCP_TW_WS_OK) != 0;
    c->rcv_wscale = e->rcv_wscale;
    /* The receive space equals the window announced, so the edge stays
     * where it is (it was settled at compaction, see compactable()) and
     * every ACK announces the window the connection would have. */
    uint32_t wnd = seq_gt(e->rcv_adv, e->rcv_nxt) ? e->rcv_adv - e->rcv_nxt : 0;
    c->rcv_locked = true;
    c->rcvbuf_max = c->rcv_target = wnd;
    c->ts_ok = (e->flags & TCP_TW_TS_OK) != 0;
    c->ts_offset = e->ts_offset;
    c->ts_una_floor = tcp_ts_now(c);    /* everything sent is acknowledged */
    c->ts_recent = e->ts_recent;
    c->ts_recent_valid = (e->flags & TCP_TW_TS_RECENT_VALID) != 0;
    c->ts_recent_age = e->ts_recent_age;
    c->last_ack_sent = e->last_ack_sent;
    c->sack_ok = (e->flags & TCP_TW_SACK_OK) != 0;
    c->ip_tos = e->ip_tos;
    c->ip_ttl = e->ip_ttl;
    c->oow_ack_next = e->oow_ack_next;
    c->timewait_at = e->expire_at;
    /* Not expected to fail: the record's tuple was just taken out. */
    if (tcp_table_hash(c) < 0) {
        hash_insert(s, e);
        c->tw = NULL;
        c->bound = false;
        tcp_conn_release(c);
        return NULL;
    }
    tcp_timer_sync(c);
    s->stats.tcp_tw_inflated++;
    return c;
}
