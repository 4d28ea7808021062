/* A header-and-option mutation fuzzer on live connections: two stacks over
 * vlink (SACK, timestamps and window scaling negotiated: the defaults), a
 * bulk transfer both ways with loss, reordering and duplication on the
 * link, and a mutator (tests/support/fuzz_mutator.h) on each stack's
 * output that rewrites the TCP header or options of a few percent of the
 * segments (never the payload) and fixes the checksums, so the SACK
 * scoreboard and RFC 6675 recovery, PAWS, window scaling, urgent pointers
 * and reassembly meet hostile input while data is in flight.
 *
 * Per seeded run (the seed is printed; FUZZ_LIVE_SEED=n replays one run,
 * FUZZ_LIVE_PCAP=1 writes fuzz_live_<seed>.pcap, FUZZ_LIVE_RATE=x mutates
 * another fraction of the segments, FUZZ_VERBOSE=1 prints each mutation,
 * FUZZ_DEBUG=1 dumps both connections every 500 ms of virtual time):
 *  - after every instant: packet buffers and connections bounded, and each
 *    connection's variables sane (SND.UNA <= SND.NXT <= SND.MAX in sequence
 *    space, the scoreboard and out-of-order ranges ordered and inside the
 *    windows; SND.UNA, RCV.NXT and the announced right edge never go
 *    back);
 *  - every byte read is the byte sent at that stream offset (urgent bytes
 *    taken out of band, in the runs without SO_OOBINLINE, are checked too
 *    and are the only bytes a reader may step over);
 *  - the transfer completes within a bound of virtual time; only the runs
 *    that inject one RST (armed half-way) may end with a reset instead;
 *  - after close and TIME_WAIT: no connection, no packet buffer and no
 *    timer left in either stack;
 *  - every kind of mutation was applied at least once in the run.
 */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/stack.h"
#include "core/tcp.h"
#include "core/tcp_conn.h"
#include "core/tcp_urgent.h"
#include "fuzz_mutator.h"
#include "harness.h"
#include "tcpsim.h"

#define FUZZ_PORT 6001
#define FUZZ_RUNS 8
#define FUZZ_BYTES (2u * 1024u * 1024u)          /* each way, per run */
#define FUZZ_RATE 0.03                      /* fraction of TCP segments mutated */
#define FUZZ_TRANSFER_LIMIT TAPIR_SEC(1800) /* virtual time for the transfer */
#define FUZZ_LINK_MTU 1600                  /* room for options the mutator adds */
/* Packet buffers a stack may hold between instants: its output is handed
 * to the link synchronously and nothing here is fragmented, so none. */
#define FUZZ_BUFS_MAX 0u

/* One application end: sends a pattern, reads and checks the peer's. */
struct fuzz_end {
    const char *name;
    struct tcp_conn *c;             /* owned; NULL once closed */
    struct tcpsim_watched *w;       /* follows c until it is freed */
    /* Where c is found (set with w): once closed, c may be replaced by a
     * compact TIME_WAIT record (tcp_timewait.h) under the same 4-tuple. */
    tapir_stack *s;
    uint32_t lip, rip;
    uint16_t lport, rport;
    uint64_t send_key, recv_key;
    uint64_t sent;
    uint64_t recv_pos;              /* stream offset after the last byte read */
    uint64_t skipped;               /* bytes stepped over (urgent, out of band) */
    uint64_t oob_read;              /* urgent bytes read out of band */
    bool eof;
    int error;
    bool failed;
    char why[256];
    /* Last values seen, for the never-go-back checks. */
    bool seen;
    uint32_t last_snd_una, last_rcv_nxt, last_rcv_adv;
};

struct fuzz_run {
    uint64_t seed;
    bool inline_urg;                /* SO_OOBINLINE on both ends */
    bool inject_rst;
    struct tcpsim_pair p;
    struct tcp_conn *listener;
    struct fuzz_end a, b;
    struct fuzz_mutator mut;
    uint8_t frame[FUZZ_LINK_MTU + 64];
    bool invariant_broken;
    char why[512];
    unsigned max_sb, max_ooo;       /* largest scoreboard / out-of-order list seen */
};

static void end_fail(struct fuzz_end *e, const char *fmt, ...)
{
    if (e->failed)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->why, sizeof e->why, fmt, ap);
    va_end(ap);
    e->failed = true;
}

static void end_watch(struct fuzz_end *e, struct tcpsim_node *n, struct tcp_conn *c)
{
    e->w = tcpsim_watch(n, c);
    e->s = n->s;
    e->lip = c->lip;
    e->lport = c->lport;
    e->rip = c->rip;
    e->rport = c->rport;
}

/* The watched connection while it is a full one (not once it is freed or
 * held as a compact TIME_WAIT record, whose memory went back to the
 * spare pool: found through its 4-tuple, never through the pointer). */
static struct tcp_conn *watched(const struct fuzz_end *e)
{
    if (!e->w || !e->w->conn)
        return NULL;
    struct tcp_conn *c = tcp_table_lookup(e->s, e->lip, e->lport, e->rip, e->rport);
    return c == e->w->conn ? c : NULL;
}

/* The compact TIME_WAIT record of the watched connection, if it is one. */
static const struct tcp_tw *watched_record(const struct fuzz_end *e)
{
    if (!e->w || !e->w->conn)
        return NULL;
    return tcp_tw_lookup(e->s, e->lip, e->lport, e->rip, e->rport);
}

/* ---- the mutator between the stacks ---------------------------------------- */

static void view_of(const struct fuzz_end *e, struct fuzz_view *v)
{
    struct tcp_conn *c = watched(e);
    const struct tcp_tw *tw = watched_record(e);
    memset(v, 0, sizeof *v);
    if (tw) {
        /* What the full connection in TIME_WAIT would show. */
        v->valid = true;
        v->snd_una = v->snd_max = tw->snd_nxt;
        v->snd_end = tw->iss + 1 + FUZZ_BYTES + 1;
        v->rcv_nxt = tw->rcv_nxt;
        return;
    }
    if (!c || !tcp_synchronized(c->state))
        return;
    v->valid = true;
    v->snd_una = c->snd_una;
    v->snd_max = c->snd_max;
    v->snd_end = c->iss + 1 + FUZZ_BYTES + 1;
    v->rcv_nxt = c->rcv_nxt;
}

static int send_traced(struct fuzz_run *r, struct tcpsim_node *from, const uint8_t *f, size_t len)
{
    if (r->p.pcap)
        pcap_writer_frame(r->p.pcap, sim_now(r->p.sim), f, len);
    return tapir_dev_send(from->end, f, len);
}

static int mutate_and_send(struct fuzz_run *r, struct tcpsim_node *from, const struct fuzz_end *to,
                           const uint8_t *f, size_t len)
{
    if (len > sizeof r->frame)
        return send_traced(r, from, f, len);
    memcpy(r->frame, f, len);
    /* Only once both ends are established: the handshake is fuzzed by
     * test_tcp_hostile; here the point is live state. */
    struct fuzz_view v;
    view_of(to, &v);
    size_t n = len;
    r->mut.last_mutated = false;
    if (r->a.w && r->b.w && v.valid)
        n = fuzz_mutate(&r->mut, r->frame, len, FUZZ_LINK_MTU, &v);
    /* Half of the mutated segments travel beside the original (before or
     * after it), so a mutation acts on the state without also costing the
     * segment's data. */
    int order = r->mut.last_mutated ? (int)(fuzz_rand(&r->mut) % 4) : 0;
    if (order == 1)
        send_traced(r, from, f, len);
    int rc = send_traced(r, from, r->frame, n);
    if (order == 2)
        send_traced(r, from, f, len);
    if (r->mut.last_mutated && r->mut.last_kind == FUZZ_SACK && fuzz_rand(&r->mut) % 3 == 0) {
        /* A volley of copies with comb SACK blocks: duplicate ACKs that
         * SACK more distinct ranges than the scoreboard keeps. */
        for (int i = 0; i < 16; i++) {
            memcpy(r->frame, f, len);
            r->mut.force_kind = FUZZ_SACK;
            send_traced(r, from, r->frame, fuzz_mutate(&r->mut, r->frame, len, FUZZ_LINK_MTU, &v));
        }
    }
    return rc;
}

static int out_a(void *ctx, const uint8_t *f, size_t len)
{
    struct fuzz_run *r = ctx;
    return mutate_and_send(r, &r->p.a, &r->b, f, len);
}

static int out_b(void *ctx, const uint8_t *f, size_t len)
{
    struct fuzz_run *r = ctx;
    return mutate_and_send(r, &r->p.b, &r->a, f, len);
}

/* ---- the applications -------------------------------------------------------- */

/* Stream offset of the next byte the application reads. */
static uint64_t read_offset(const struct tcp_conn *c) { return (uint32_t)(tcp_urg_read_seq(c) - (c->irs + 1)); }

static void end_pump(struct fuzz_run *r, struct fuzz_end *e)
{
    uint8_t chunk[16384];
    struct tcp_conn *c = e->c;
    if (!c)
        return;
    while (e->sent < FUZZ_BYTES) {
        uint64_t left = FUZZ_BYTES - e->sent;
        size_t n = left < sizeof chunk ? (size_t)left : sizeof chunk;
        tcpsim_pattern_fill(e->send_key, e->sent, chunk, n);
        long k = tcp_send(c, chunk, n);
        if (k < 0) {
            if (k != -EAGAIN && !e->error)
                e->error = (int)k;
            break;
        }
        e->sent += (uint64_t)k;
        if ((size_t)k < n)
            break;
    }
    while (!e->eof && !e->failed) {
        if (!r->inline_urg && tcp_at_mark(c)) {
            uint8_t u;
            uint64_t at = read_offset(c);
            if (tcp_recv_urgent(c, &u, 1, false) == 1) {
                e->oob_read++;
                if (at >= FUZZ_BYTES || u != tcpsim_pattern_byte(e->recv_key, at))
                    end_fail(e, "%s: urgent byte at offset %" PRIu64 " differs from what was sent", e->name, at);
            }
        }
        long k = tcp_recv(c, chunk, sizeof chunk, false);
        if (k == 0) {
            e->eof = true;
            break;
        }
        if (k < 0) {
            if (k != -EAGAIN && !e->error)
                e->error = (int)k;
            break;
        }
        uint64_t end = read_offset(c);
        uint64_t start = end - (uint64_t)k;
        if (start != e->recv_pos) {
            /* Only an urgent byte read out of band (or announced and
             * stepped over) may be missing from an ordinary read. */
            if (r->inline_urg || start < e->recv_pos)
                end_fail(e, "%s: read %ld bytes at offset %" PRIu64 ", expected offset %" PRIu64, e->name, k, start,
                         e->recv_pos);
            else
                e->skipped += start - e->recv_pos;
        }
        for (long i = 0; i < k; i++) {
            uint64_t off = start + (uint64_t)i;
            if (off >= FUZZ_BYTES || chunk[i] != tcpsim_pattern_byte(e->recv_key, off)) {
                end_fail(e, "%s: received byte at offset %" PRIu64 " differs from what was sent", e->name, off);
                break;
            }
        }
        e->recv_pos = end;
    }
}

static bool end_received_all(const struct fuzz_end *e) { return e->recv_pos == FUZZ_BYTES; }

static void end_close(struct fuzz_end *e)
{
    if (e->c)
        tcp_close(e->c);
    e->c = NULL;
}

/* ---- invariants ---------------------------------------------------------------- */

static bool conn_sane(const struct tcp_conn *c, char *why, size_t n)
{
    if (!tcp_synchronized(c->state))
        return true;
    const struct tapir_config *cfg = &c->s->cfg;
#define BAD(...) (snprintf(why, n, __VA_ARGS__), false)
    if (!seq_leq(c->snd_una, c->snd_nxt) || !seq_leq(c->snd_nxt, c->snd_max))
        return BAD("snd_una %u snd_nxt %u snd_max %u out of order", c->snd_una, c->snd_nxt, c->snd_max);
    if (c->snd_max - c->snd_una > c->sndbuf.len + 2)
        return BAD("%u bytes in flight but %u in the send buffer", c->snd_max - c->snd_una, c->sndbuf.len);
    if (c->sndbuf.len > c->sndbuf.cap || c->rcvbuf.len > c->rcvbuf.cap)
        return BAD("ring overfull: snd %u/%u rcv %u/%u", c->sndbuf.len, c->sndbuf.cap, c->rcvbuf.len, c->rcvbuf.cap);
    if (c->sb_n > TCP_SCOREBOARD_MAX || c->ooo_n > TCP_OOO_RANGES)
        return BAD("scoreboard %u / out-of-order ranges %u", c->sb_n, c->ooo_n);
    for (unsigned i = 0; i < c->sb_n; i++) {
        const struct tcp_range *b = &c->sb[i];
        if (!seq_lt(b->start, b->end) || seq_lt(b->start, c->snd_una) || seq_gt(b->end, c->snd_max))
            return BAD("scoreboard block %u [%u, %u) outside [snd_una %u, snd_max %u]", i, b->start, b->end,
                       c->snd_una, c->snd_max);
        if (i + 1 < c->sb_n && seq_gt(b->end, c->sb[i + 1].start))
            return BAD("scoreboard blocks %u and %u overlap or are unsorted", i, i + 1);
    }
    for (unsigned i = 0; i < c->ooo_n; i++) {
        const struct tcp_range *o = &c->ooo[i];
        if (!seq_lt(o->start, o->end) || !seq_gt(o->start, c->rcv_nxt))
            return BAD("out-of-order range [%u, %u) not above rcv_nxt %u", o->start, o->end, c->rcv_nxt);
        if (o->end - c->rcv_nxt > c->rcvbuf.cap)
            return BAD("out-of-order range [%u, %u) beyond the receive ring (%u; rcv_nxt %u irs %u)", o->start, o->end,
                       c->rcvbuf.cap, c->rcv_nxt, c->irs);
    }
    if (c->cwnd == 0 || c->cwnd > TCP_CWND_MAX)
        return BAD("cwnd %u", c->cwnd);
    if (c->rto > cfg->rto_max)
        return BAD("rto %u above rto_max", c->rto);
    if (c->in_recovery && c->sack_ok && seq_gt(c->high_rxt, c->snd_max))
        return BAD("HighRxt %u beyond snd_max %u", c->high_rxt, c->snd_max);
#undef BAD
    return true;
}

static bool check_invariants(struct fuzz_run *r)
{
    struct tcpsim_node *nodes[2] = {&r->p.a, &r->p.b};
    struct fuzz_end *ends[2] = {&r->a, &r->b};
    for (int i = 0; i < 2; i++) {
        const char *who = i ? "B" : "A";
        uint32_t bufs = tcpsim_bufs_in_use(nodes[i]);
        if (bufs > FUZZ_BUFS_MAX) {
            snprintf(r->why, sizeof r->why, "%s holds %u packet buffers between instants", who, bufs);
            return false;
        }
        if (tcpsim_conns(nodes[i]) > 2) {
            snprintf(r->why, sizeof r->why, "%s has %u connections", who, tcpsim_conns(nodes[i]));
            return false;
        }
        struct tcp_conn *c = watched(ends[i]);
        char why[256];
        if (c && !conn_sane(c, why, sizeof why)) {
            snprintf(r->why, sizeof r->why, "%s (%s): %s", who, tapir_tcp_state_name(c->state), why);
            return false;
        }
        if (c && c->sb_n > r->max_sb)
            r->max_sb = c->sb_n;
        if (c && c->ooo_n > r->max_ooo)
            r->max_ooo = c->ooo_n;
        const struct tcp_tw *tw = watched_record(ends[i]);
        if ((c && tcp_synchronized(c->state)) || tw) {
            /* SND.UNA and RCV.NXT only advance; the right edge we announced
             * never moves left (RFC 9293 3.8.6); a compact TIME_WAIT
             * record keeps them as its connection had them. */
            struct fuzz_end *e = ends[i];
            uint32_t snd_una = c ? c->snd_una : tw->snd_nxt;
            uint32_t rcv_nxt = c ? c->rcv_nxt : tw->rcv_nxt;
            uint32_t rcv_adv = c ? c->rcv_adv : tw->rcv_adv;
            const char *st = c ? tapir_tcp_state_name(c->state) : "TIME_WAIT, compact";
            if (e->seen && (seq_lt(snd_una, e->last_snd_una) || seq_lt(rcv_nxt, e->last_rcv_nxt) ||
                            seq_lt(rcv_adv, e->last_rcv_adv))) {
                snprintf(r->why, sizeof r->why,
                         "%s (%s) went back: snd_una %u -> %u, rcv_nxt %u -> %u, rcv_adv %u -> %u", who, st,
                         e->last_snd_una, snd_una, e->last_rcv_nxt, rcv_nxt, e->last_rcv_adv, rcv_adv);
                return false;
            }
            e->seen = true;
            e->last_snd_una = snd_una;
            e->last_rcv_nxt = rcv_nxt;
            e->last_rcv_adv = rcv_adv;
        }
    }
    return true;
}

/* ---- the run --------------------------------------------------------------------- */

static void on_accept(struct fuzz_run *r)
{
    struct tcp_conn *c;
    if (!r->listener || tcp_accept(r->listener, &c) != 0)
        return;
    r->b.c = c;
    end_watch(&r->b, &r->p.b, c);
    tcp_set_oobinline(c, r->inline_urg);
    tcp_close(r->listener);
    r->listener = NULL;
}

static void debug_dump(struct fuzz_run *r, tapir_time_t now)
{
    static tapir_time_t next;
    if (!getenv("FUZZ_DEBUG") || now < next)
        return;
    next = now + TAPIR_MSEC(500);
    struct fuzz_end *ends[2] = {&r->a, &r->b};
    for (int i = 0; i < 2; i++) {
        struct tcp_conn *c = watched(ends[i]);
        if (!c)
            continue;
        fprintf(stderr, "t=%.3f %s %s una %u nxt %u max %u wnd %u rcv_nxt %u adv %u cwnd %u ssth %u rto %u bo %u rec %d sb %u ooo %u tsr %u/%d now %u sndbuf %u rcvbuf %u read %" PRIu64 " rto_at %.3f persist_at %.3f\n",
                (double)now / 1e6, ends[i]->name, tapir_tcp_state_name(c->state), c->snd_una, c->snd_nxt, c->snd_max,
                c->snd_wnd, c->rcv_nxt, c->rcv_adv, c->cwnd, c->ssthresh, c->rto, c->backoff, c->in_recovery, c->sb_n,
                c->ooo_n, c->ts_recent, c->ts_recent_valid, tcp_ts_now(c), c->sndbuf.len, c->rcvbuf.len, ends[i]->recv_pos,
                c->rto_at == TAPIR_TIME_NEVER ? -1.0 : (double)c->rto_at / 1e6,
                c->persist_at == TAPIR_TIME_NEVER ? -1.0 : (double)c->persist_at / 1e6);
    }
}

static bool transfer_step(struct sim *sim, void *ctx)
{
    struct fuzz_run *r = ctx;
    debug_dump(r, sim_now(sim));
    tcpsim_sync(&r->p);
    on_accept(r);
    end_pump(r, &r->a);
    end_pump(r, &r->b);
    if (r->a.failed || r->b.failed)
        return true;
    if (!check_invariants(r)) {
        r->invariant_broken = true;
        return true;
    }
    if (r->inject_rst && r->b.recv_pos >= FUZZ_BYTES / 4 * 3 && r->mut.applied[FUZZ_RST] == 0 && !r->mut.rst_armed)
        fuzz_arm_rst(&r->mut);
    /* A reset or a timeout: both applications let go. */
    if (r->a.error || r->b.error) {
        end_close(&r->a);
        end_close(&r->b);
    }
    /* A closes once it has everything from B (the active closer); B once
     * it has A's FIN. */
    if (r->a.c && r->a.sent == FUZZ_BYTES && end_received_all(&r->a))
        end_close(&r->a);
    if (r->b.c && r->b.eof && r->b.sent == FUZZ_BYTES)
        end_close(&r->b);
    return !r->a.c && !r->b.c && !r->listener;
}

static bool all_gone(struct sim *sim, void *ctx)
{
    (void)sim;
    struct fuzz_run *r = ctx;
    if (!check_invariants(r)) {
        r->invariant_broken = true;
        return true;
    }
    return tcpsim_conns(&r->p.a) == 0 && tcpsim_conns(&r->p.b) == 0;
}

/* The stack configuration of a run, varied by seed so the runs between
 * them cover both congestion controls, connections without timestamps or
 * without SACK, small buffers (zero windows, a bounded out-of-order
 * queue) and a small MSS. Seeds 1..8 keep SACK and timestamps on. */
struct fuzz_profile {
    bool newreno, no_ts, no_sack, small_bufs, small_mss;
};

static struct fuzz_profile profile_for(uint64_t seed)
{
    return (struct fuzz_profile){
        .newreno = (seed >> 1) & 1,
        .no_ts = seed % 10 == 9,
        .no_sack = seed % 14 == 13,
        .small_bufs = seed % 3 == 0,
        .small_mss = seed % 5 == 4,
    };
}

/* tcpsim's tweak has no context: the profile of the run being set up. */
static struct fuzz_profile tweak_profile;

static void tweak(struct tapir_config *cfg)
{
    const struct fuzz_profile *f = &tweak_profile;
    if (f->newreno)
        strcpy(cfg->tcp_congestion, "newreno");
    cfg->tcp_timestamps = !f->no_ts;
    cfg->tcp_sack = !f->no_sack;
    if (f->small_bufs) {
        cfg->tcp_rcvbuf = 32 * 1024;
        cfg->tcp_sndbuf = 32 * 1024;
        cfg->tcp_ooo_max_bytes = 8 * 1024;
    }
    if (f->small_mss)
        cfg->tcp_mss = 536;
}

struct fuzz_outcome {
    bool ok;
    bool reset;             /* ended with an error (only allowed with inject_rst) */
    char why[768];
};

#define FAIL(...) do { snprintf(out->why, sizeof out->why, __VA_ARGS__); goto done; } while (0)

static void fuzz_run(uint64_t seed, struct fuzz_outcome *out)
{
    memset(out, 0, sizeof *out);
    struct fuzz_run *r = calloc(1, sizeof *r);
    ck_assert_ptr_nonnull(r);
    r->seed = seed;
    r->inline_urg = seed % 2 == 0;
    r->inject_rst = seed % 4 == 3;
    r->a.name = "A";
    r->b.name = "B";
    r->a.send_key = r->b.recv_key = seed * 2 + 1;
    r->b.send_key = r->a.recv_key = seed * 2 + 2;

    struct tapir_vlink_params vp;
    tapir_vlink_params_init(&vp);
    vp.seed = seed;
    vp.delay = TAPIR_MSEC(2);
    vp.jitter = TAPIR_USEC(200);
    vp.loss = 0.01;
    vp.reorder = 0.01;
    vp.reorder_delay = TAPIR_MSEC(3);
    vp.duplicate = 0.005;
    vp.mtu = FUZZ_LINK_MTU;
    char pcap[64];
    snprintf(pcap, sizeof pcap, "fuzz_live_%" PRIu64 ".pcap", seed);
    tweak_profile = profile_for(seed);
    const struct fuzz_profile *prof = &tweak_profile;
    fprintf(stderr, "fuzz_live seed %" PRIu64 ": %s%s%s%s%s, %s urgent data%s\n", seed,
            prof->newreno ? "newreno" : "cubic", prof->no_ts ? ", no timestamps" : "",
            prof->no_sack ? ", no SACK" : "", prof->small_bufs ? ", 32 KiB buffers" : "",
            prof->small_mss ? ", MSS 536" : "", r->inline_urg ? "inline" : "out-of-band",
            r->inject_rst ? ", one RST injected" : "");
    tcpsim_pair_start(&r->p, &vp, seed * 7919, tweak, getenv("FUZZ_LIVE_PCAP") ? pcap : NULL);
    tapir_stack_set_output(r->p.a.s, out_a, r);
    tapir_stack_set_output(r->p.b.s, out_b, r);
    const char *rate = getenv("FUZZ_LIVE_RATE");      /* exploration: another rate */
    fuzz_mutator_init(&r->mut, seed * 0x9e3779b97f4a7c15ull, rate ? strtod(rate, NULL) : FUZZ_RATE);

    int err;
    r->listener = tcp_conn_new(r->p.b.s, &err);
    r->a.c = tcp_conn_new(r->p.a.s, &err);
    ck_assert_ptr_nonnull(r->listener);
    ck_assert_ptr_nonnull(r->a.c);
    ck_assert_int_eq(tcp_bind(r->listener, 0, FUZZ_PORT), 0);
    ck_assert_int_eq(tcp_listen(r->listener, 4), 0);
    tcp_set_oobinline(r->a.c, r->inline_urg);
    ck_assert_int_eq(tcp_connect(r->a.c, TCPSIM_IP_B, FUZZ_PORT), -EINPROGRESS);
    end_watch(&r->a, &r->p.a, r->a.c);

    tapir_time_t start = sim_now(r->p.sim);
    bool done = sim_run_until(r->p.sim, transfer_step, r, start + FUZZ_TRANSFER_LIMIT);
    tapir_time_t took = sim_now(r->p.sim) - start;
    if (r->a.failed || r->b.failed)
        FAIL("%s", r->a.failed ? r->a.why : r->b.why);
    if (r->invariant_broken)
        FAIL("invariant broken at t=%" PRIu64 " us: %s", took, r->why);
    if (!done)
        FAIL("hang: not finished in %" PRIu64 " s of virtual time: A sent %" PRIu64 " read %" PRIu64
             " (%s), B sent %" PRIu64 " read %" PRIu64 " (%s)",
             (uint64_t)(FUZZ_TRANSFER_LIMIT / TAPIR_SEC(1)), r->a.sent, r->a.recv_pos,
             r->a.w && r->a.w->conn ? tapir_tcp_state_name(r->a.w->state) : "freed", r->b.sent, r->b.recv_pos,
             r->b.w && r->b.w->conn ? tapir_tcp_state_name(r->b.w->state) : "freed");
    out->reset = r->a.error || r->b.error;
    if (out->reset && !r->inject_rst)
        FAIL("connection failed without an injected RST: A error %d, B error %d", r->a.error, r->b.error);
    if (!out->reset) {
        if (!end_received_all(&r->a) || !end_received_all(&r->b) || !r->b.eof)
            FAIL("finished without all data: A read %" PRIu64 ", B read %" PRIu64 " eof %d", r->a.recv_pos,
                 r->b.recv_pos, r->b.eof);
    }
    uint64_t skipped = r->a.skipped + r->b.skipped;
    if (skipped > r->mut.urg_applied)
        FAIL("%" PRIu64 " bytes missing from the streams, only %lu urgent pointers injected", skipped,
             r->mut.urg_applied);

    /* Close, TIME_WAIT: nothing may be left. The FIN exchange and
     * TIME_WAIT meet ten times the mutation rate (still bounded by the
     * retry limits: 15 retransmissions at up to rto_max each). */
    r->mut.rate *= 10;
    tapir_time_t two_msl = 2 * tapir_stack_config(r->p.a.s)->msl;
    tapir_time_t retries = (tapir_time_t)(tapir_stack_config(r->p.a.s)->tcp_max_retries + 1) *
                           tapir_stack_config(r->p.a.s)->rto_max;
    if (!sim_run_until(r->p.sim, all_gone, r, sim_now(r->p.sim) + two_msl + retries))
        FAIL("connections left after close and TIME_WAIT: A %u, B %u", tcpsim_conns(&r->p.a), tcpsim_conns(&r->p.b));
    if (r->invariant_broken)
        FAIL("invariant broken while closing: %s", r->why);
    if (tcpsim_bufs_in_use(&r->p.a) || tcpsim_bufs_in_use(&r->p.b))
        FAIL("packet buffers leaked: A %u, B %u", tcpsim_bufs_in_use(&r->p.a), tcpsim_bufs_in_use(&r->p.b));
    if (tapir_stack_next_deadline(r->p.a.s) != TAPIR_TIME_NEVER || tapir_stack_next_deadline(r->p.b.s) != TAPIR_TIME_NEVER)
        FAIL("a timer is left with no connection");
    for (int k = 0; k < FUZZ__COUNT; k++) {
        bool ts_kind = k == FUZZ_TS_PAST || k == FUZZ_TS_FUTURE || k == FUZZ_TSECR;
        bool opt_kind = k == FUZZ_FLIP_OPT || k == FUZZ_STRIP_OPTS;
        if ((ts_kind && prof->no_ts) || (opt_kind && prof->no_ts && prof->no_sack))
            continue;           /* no TSopt / no options at all to change */
        if (k == FUZZ_RST ? r->inject_rst && r->mut.applied[k] == 0 : r->mut.applied[k] == 0)
            FAIL("mutation kind %s never applied", fuzz_kind_name((enum fuzz_kind)k));
        if (k == FUZZ_RST && !r->inject_rst && r->mut.applied[k])
            FAIL("an RST was injected in a run without inject_rst");
    }
    out->ok = true;
    fprintf(stderr, "fuzz_live seed %" PRIu64 ": %s in %.1f s virtual (%" PRIu64 " urgent bytes out of band, %"
            PRIu64 " skipped; scoreboard up to %u ranges, out-of-order list up to %u); A retransmits %" PRIu64
            ", B %" PRIu64 "\n",
            seed, out->reset ? "ended by the injected RST" : "complete, every byte intact", (double)took / 1e6,
            r->a.oob_read + r->b.oob_read, skipped, r->max_sb, r->max_ooo,
            r->p.a.s->stats.tcp_retransmits, r->p.b.s->stats.tcp_retransmits);
done:
    {
        char prefix[64];
        snprintf(prefix, sizeof prefix, "fuzz_live seed %" PRIu64 ":", seed);
        fuzz_mutator_print(&r->mut, prefix);
        /* What the mutations turned into at the receivers. */
        fprintf(stderr, "%s drops:", prefix);
        for (int d = 0; d < TAPIR_DROP__COUNT; d++) {
            uint64_t n = r->p.a.s->stats.drops[d] + r->p.b.s->stats.drops[d];
            if (n)
                fprintf(stderr, " %s=%" PRIu64, tapir_drop_reason_name((enum tapir_drop_reason)d), n);
        }
        fprintf(stderr, "; challenge ACKs %" PRIu64 "\n",
                r->p.a.s->stats.tcp_challenge_acks + r->p.b.s->stats.tcp_challenge_acks);
    }
    if (!out->ok)
        fprintf(stderr, "fuzz_live seed %" PRIu64 " FAILED: %s (replay: FUZZ_LIVE_SEED=%" PRIu64
                " FUZZ_LIVE_PCAP=1)\n", seed, out->why, seed);
    if (r->listener)
        tcp_close(r->listener);
    end_close(&r->a);
    end_close(&r->b);
    tcpsim_pair_free(&r->p);
    free(r);
}

START_TEST(mutated_headers_and_options_never_break_a_live_transfer)
{
    const char *env = getenv("FUZZ_LIVE_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 0) : (uint64_t)_i + 1;
    struct fuzz_outcome out;
    fuzz_run(seed, &out);
    ck_assert_msg(out.ok, "seed %" PRIu64 ": %s", seed, out.why);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tcp_fuzz_live");
    TCase *tc = tcase_create("live");
    tcase_set_timeout(tc, 240);
    tcase_add_loop_test(tc, mutated_headers_and_options_never_break_a_live_transfer, 0,
                        getenv("FUZZ_LIVE_SEED") ? 1 : FUZZ_RUNS);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
