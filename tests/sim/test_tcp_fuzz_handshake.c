/* A mutation fuzzer for the three-way handshake and the close: two stacks
 * over vlink, many short overlapping connections per seeded run, each
 * connecting (now and then by simultaneous open), sending 0..3 segments
 * each way and closing (client first, server first, both at once, or one
 * end aborting with a RST), while a mutator (fuzz_mutate_hs in
 * tests/support/fuzz_mutator.h) rewrites a quarter of the SYN, SYN,ACK,
 * FIN and the segments around them (option lengths and values, SYN data,
 * SYN+FIN, SYN+RST, sequence and ACK numbers around ISS and IRS, SYNs
 * retransmitted with other options, FINs at other places) and a few
 * percent of the others.
 *
 * Per seeded run (FUZZ_HS_SEED=n replays one, FUZZ_HS_PCAP=1 writes
 * fuzz_hs_<seed>.pcap, FUZZ_VERBOSE=1 prints each mutation,
 * TCPSIM_TRACE=1 every state change, FUZZ_HS_DEBUG_PORT=p both ends of
 * the connection from A's port p, FUZZ_HS_RATE_SCALE=x mutates x times
 * as many segments, for exploration):
 *  - every byte read is the byte sent at that offset; a connection ends
 *    complete (every byte both ways, end of file at the end that closes
 *    second, no error), or failed
 *    with ECONNREFUSED, ECONNRESET or ETIMEDOUT (or, aborted, EPIPE), or
 *    with its server end never accepted while the client saw all it
 *    expected; anything else fails the run, as does a hang (virtual time
 *    bound), and at least HS_MIN_COMPLETE of the connections that were
 *    not aborted must complete;
 *  - after every instant, for every connection of both stacks: the MSS in
 *    [64, MTU - 40], window scales at most 14, timestamps, SACK and window
 *    scaling only when both stacks offer them; for the two ends of one
 *    connection, once both are established, the same decisions and each
 *    one's IRS the other's ISS;
 *  - after the run and TIME_WAIT: no connection, packet buffer or timer
 *    left; the listener's half-open and accept queues empty and its
 *    counters consistent (every SYN that made a child accounted for);
 *  - every handshake mutation kind was applied at least once.
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
#include "core/wire.h"
#include "fuzz_mutator.h"
#include "harness.h"
#include "tcpsim.h"

#define HS_RUNS 8
#define HS_CONNS 500                        /* connections per run */
#define HS_CONCURRENT 6                     /* at most this many in progress */
#define HS_PORT 7001                        /* the listener on B */
#define HS_SIMUL_PORT_A 20000               /* + index: simultaneous opens */
#define HS_SIMUL_PORT_B 30000
#define HS_RATE_HS 0.25                     /* SYN, FIN and segments of unsynchronized or closing ends */
#define HS_RATE_DATA 0.05                   /* the others */
#define HS_LINK_MTU 1600                    /* room for what the mutator adds */
#define HS_STACK_MTU 1500
#define HS_SEG 1400u                        /* "a segment" of application data */
#define HS_MIN_COMPLETE 0.85                /* of the connections not aborted (about 0.97 seen) */
#define HS_LIMIT TAPIR_SEC(4 * 3600)        /* virtual time for a run */
/* Virtual time one connection may take, start to both applications done:
 * above the slowest clean failure here (a SYN unanswered: ETIMEDOUT after
 * 243 s; keepalive ends an idle end whose peer is gone within 8 s); the
 * runs' longest connections take under 20 s. A stalled connection that
 * creeps on (a zero window probed byte by byte) fails it. */
#define HS_CONN_LIMIT TAPIR_SEC(600)

enum hs_close { HS_CLIENT_FIRST, HS_SERVER_FIRST, HS_BOTH, HS_ABORT_A, HS_ABORT_B, HS_CLOSE__COUNT };
static const char *const close_names[HS_CLOSE__COUNT] = {"client first", "server first", "simultaneous close",
                                                         "client aborts", "server aborts"};

enum hs_outcome { HS_COMPLETE, HS_REFUSED, HS_RESET, HS_TIMEDOUT, HS_ABORTED, HS_NEVER_ACCEPTED, HS_OUTCOME__COUNT };
static const char *const outcome_names[HS_OUTCOME__COUNT] = {"complete", "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT",
                                                             "aborted", "never accepted"};

struct hs_end {
    struct tcp_conn *c;             /* owned by the application; NULL before accept / after close */
    bool had_conn, closed;
    bool connected;                 /* its connection was established once */
    uint64_t send_key, recv_key;
    uint32_t to_send, sent, to_recv, received;
    bool eof;
    int error;                      /* first error other than -EAGAIN */
};

struct hs_conn {
    int idx;
    bool simul;                     /* simultaneous open */
    enum hs_close close;
    uint16_t a_port;
    struct hs_end a, b;
    tapir_time_t start, abort_at;
    bool started, done;
    bool nego_checked;
};

struct hs_run {
    uint64_t seed;
    struct tcpsim_pair p;
    struct tcp_conn *listener;
    struct fuzz_mutator mut;
    struct hs_conn *conns;
    int nconns, nstarted, ndone, in_progress;
    int32_t *by_port;               /* A's port -> latest connection using it, -1 */
    uint8_t frame[HS_LINK_MTU + 64];
    bool failed;
    char why[512];
    unsigned long outcomes[HS_OUTCOME__COUNT];
    unsigned long late_children;    /* accepted for a connection already given up */
    /* B's listener children, from the state hook. */
    tapir_state_hook tcpsim_hook;
    void *tcpsim_ctx;
    unsigned long born, back_to_listen, closed_synrcvd, established, died_unaccepted;
    unsigned long accepted;
    tapir_time_t longest;           /* the longest connection, start to done */
    int longest_idx;
    unsigned long reopened;         /* SYNs that reopened a TIME_WAIT connection on B */
    unsigned long port_reused;      /* connections that took the port of an earlier one */
    bool small_queues;              /* half-open queue 3, backlog 2, accept() now and then */
    double rate_scale;              /* env FUZZ_HS_RATE_SCALE (exploration), else 1 */
    int last_done_port;             /* A's port of the last connection done, -1 */
    bool a_ts, a_sack, b_ts, b_sack;    /* what each stack offers */
};

static void run_fail(struct hs_run *r, const char *fmt, ...)
{
    if (r->failed)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->why, sizeof r->why, fmt, ap);
    va_end(ap);
    r->failed = true;
}

static uint64_t rnd(struct hs_run *r) { return fuzz_rand(&r->mut); }
static uint32_t below(struct hs_run *r, uint32_t n) { return n ? (uint32_t)(rnd(r) % n) : 0; }

/* ---- B's listener children, counted from the state hook -------------------- */

static void hook_b(void *ctx, const struct tapir_state_change *ch)
{
    struct hs_run *r = ctx;
    r->tcpsim_hook(r->tcpsim_ctx, ch);
    if (ch->from == TAPIR_TCP_TIME_WAIT && ch->to == TAPIR_TCP_CLOSED && strstr(ch->cause, "reopens"))
        r->reopened++;
    if (ch->local_port != HS_PORT || ch->conn == r->listener)
        return;
    const struct tcp_conn *c = ch->conn;
    if (ch->from == TAPIR_TCP_LISTEN && ch->to == TAPIR_TCP_SYN_RECEIVED)
        r->born++;
    else if (ch->from == TAPIR_TCP_SYN_RECEIVED && ch->to == TAPIR_TCP_LISTEN)
        r->back_to_listen++;
    else if (ch->from == TAPIR_TCP_SYN_RECEIVED && ch->to == TAPIR_TCP_CLOSED)
        r->closed_synrcvd++;
    else if (ch->from == TAPIR_TCP_SYN_RECEIVED && ch->to == TAPIR_TCP_ESTABLISHED)
        r->established++;
    else if (ch->to == TAPIR_TCP_CLOSED && ch->from != TAPIR_TCP_TIME_WAIT && c->owner == NULL)
        r->died_unaccepted++;       /* established, then reset or timed out before accept() */
    /* (TIME_WAIT -> CLOSED: an accepted connection, and for an orphan held
     * as a compact record ch->conn is no tcp_conn any more, see tapir.h.) */
}

/* ---- the mutator between the stacks ------------------------------------------ */

static struct hs_conn *conn_of_port(struct hs_run *r, uint16_t a_port)
{
    int32_t i = r->by_port[a_port];
    return i >= 0 ? &r->conns[i] : NULL;
}

/* What the mutator may know of the connection receiving pkt at node to. */
static bool view_of(struct hs_run *r, const struct tcpsim_node *to, bool to_is_a, const uint8_t *pkt, size_t len,
                    struct fuzz_view *v, bool *hs_segment)
{
    memset(v, 0, sizeof *v);
    *hs_segment = true;
    if (len < 40 || pkt[9] != 6)
        return false;
    size_t ihl = (size_t)(pkt[0] & 15) * 4;
    if (len < ihl + 20)
        return false;
    uint32_t src = get_be32(pkt + 12), dst = get_be32(pkt + 16);
    uint16_t sport = get_be16(pkt + ihl), dport = get_be16(pkt + ihl + 2);
    uint8_t flags = pkt[ihl + 13];
    struct hs_conn *hc = conn_of_port(r, to_is_a ? dport : sport);
    struct tcp_conn *c = tcp_table_lookup(to->s, dst, dport, src, sport);
    const struct tcpsim_node *from = to_is_a ? &r->p.b : &r->p.a;
    struct tcp_conn *sender = tcp_table_lookup(from->s, src, sport, dst, dport);
    *hs_segment = (flags & (TCP_SYN | TCP_FIN)) || !c || c->state != TAPIR_TCP_ESTABLISHED || !sender ||
                  sender->state != TAPIR_TCP_ESTABLISHED;
    const struct tcp_tw *e = c ? NULL : tcp_tw_lookup(to->s, dst, dport, src, sport);
    if (e) {
        /* An orphan in TIME_WAIT held as a compact record: what the full
         * connection would show (tcp_timewait.h). */
        v->iss = e->iss;
        v->valid = true;
        v->snd_una = v->snd_max = e->snd_nxt;
        v->snd_end = e->iss + 1 + (hc ? (to_is_a ? hc->a.to_send : hc->b.to_send) : 1u << 20) + 1;
        v->rcv_nxt = e->rcv_nxt;
        return true;
    }
    if (!c) {
        v->rcv_listen = tcp_table_listener(to->s, dst, dport) != NULL;
        v->rcv_syn_sent = hc && hc->simul;      /* its SYN_SENT end may not be hashed yet */
        return true;
    }
    v->rcv_syn_sent = c->state == TAPIR_TCP_SYN_SENT || (hc && hc->simul && !tcp_synchronized(c->state));
    v->iss_known = !c->syn_acked && (c->state == TAPIR_TCP_SYN_SENT || c->state == TAPIR_TCP_SYN_RECEIVED);
    v->iss = c->iss;
    if (!tcp_synchronized(c->state))
        return true;
    v->valid = true;
    v->snd_una = c->snd_una;
    v->snd_max = c->snd_max;
    uint32_t will_send = hc ? (to_is_a ? hc->a.to_send : hc->b.to_send) : 1u << 20;
    v->snd_end = c->iss + 1 + will_send + 1;
    v->rcv_nxt = c->rcv_nxt;
    return true;
}

static int send_traced(struct hs_run *r, struct tcpsim_node *from, const uint8_t *f, size_t len)
{
    if (r->p.pcap)
        pcap_writer_frame(r->p.pcap, sim_now(r->p.sim), f, len);
    return tapir_dev_send(from->end, f, len);
}

static int mutate_and_send(struct hs_run *r, struct tcpsim_node *from, struct tcpsim_node *to, bool to_is_a,
                           const uint8_t *f, size_t len)
{
    if (len > sizeof r->frame)
        return send_traced(r, from, f, len);
    memcpy(r->frame, f, len);
    struct fuzz_view v;
    bool hs_segment;
    if (!view_of(r, to, to_is_a, f, len, &v, &hs_segment))
        return send_traced(r, from, f, len);
    r->mut.rate = (hs_segment ? HS_RATE_HS : HS_RATE_DATA) * r->rate_scale;
    size_t n = fuzz_mutate_hs(&r->mut, r->frame, len, HS_LINK_MTU, &v);
    /* Half of the mutated segments travel beside the original (before or
     * after it); a SYN with rebuilt options always does (a retransmitted
     * SYN that differs from the first). */
    int order = 0;
    if (r->mut.last_mutated) {
        order = (int)below(r, 4);
        if (r->mut.last_hs && r->mut.last_hs_kind == FUZZ_HS_SYN_REOPT)
            order = 1 + (int)below(r, 2);
    }
    if (order == 1)
        send_traced(r, from, f, len);
    int rc = send_traced(r, from, r->frame, n);
    if (order == 2)
        send_traced(r, from, f, len);
    return rc;
}

static int out_a(void *ctx, const uint8_t *f, size_t len)
{
    struct hs_run *r = ctx;
    return mutate_and_send(r, &r->p.a, &r->p.b, false, f, len);
}

static int out_b(void *ctx, const uint8_t *f, size_t len)
{
    struct hs_run *r = ctx;
    return mutate_and_send(r, &r->p.b, &r->p.a, true, f, len);
}

/* ---- the applications ---------------------------------------------------------- */

static void end_take_error(struct hs_end *e, long rc)
{
    if (rc < 0 && rc != -EAGAIN && !e->error)
        e->error = (int)rc;
}

static void end_pump(struct hs_run *r, struct hs_conn *hc, struct hs_end *e, const char *who)
{
    uint8_t chunk[4096];
    struct tcp_conn *c = e->c;
    if (!c)
        return;
    if (c->ever_established)
        e->connected = true;
    while (e->sent < e->to_send && !e->error) {
        uint32_t n = e->to_send - e->sent < sizeof chunk ? e->to_send - e->sent : (uint32_t)sizeof chunk;
        tcpsim_pattern_fill(e->send_key, e->sent, chunk, n);
        long k = tcp_send(c, chunk, n);
        if (k <= 0) {
            end_take_error(e, k);
            break;
        }
        e->sent += (uint32_t)k;
    }
    while (!e->eof && !e->error) {
        long k = tcp_recv(c, chunk, sizeof chunk, false);
        if (k == 0) {
            e->eof = true;
            if (e->received != e->to_recv)
                run_fail(r, "connection %d (%s) %s: end of file after %u of %u bytes", hc->idx,
                         close_names[hc->close], who, e->received, e->to_recv);
            break;
        }
        if (k < 0) {
            if (k != -ENOTCONN)
                end_take_error(e, k);
            break;
        }
        for (long i = 0; i < k; i++) {
            uint64_t off = e->received + (uint64_t)i;
            if (off >= e->to_recv || chunk[i] != tcpsim_pattern_byte(e->recv_key, off)) {
                run_fail(r, "connection %d (%s, A port %u) %s: byte at offset %" PRIu64 " differs from what was sent (%u expected)",
                         hc->idx, close_names[hc->close], hc->a_port, who, off, e->to_recv);
                break;
            }
        }
        e->received += (uint32_t)k;
    }
}

static void end_close(struct hs_end *e, bool abort)
{
    if (!e->c)
        return;
    if (abort)
        tcp_abort(e->c);
    else
        tcp_close(e->c);
    e->c = NULL;
    e->closed = true;
}

static bool end_has_all(const struct hs_end *e)
{
    return e->connected && e->sent == e->to_send && e->received == e->to_recv;
}

/* Each end's part of the close, by the connection's plan. */
static void conn_close_logic(struct hs_run *r, struct hs_conn *hc)
{
    tapir_time_t now = sim_now(r->p.sim);
    struct hs_end *a = &hc->a, *b = &hc->b;
    /* An error (reset, refused, timeout): that application lets go. */
    if (a->error)
        end_close(a, false);
    if (b->error)
        end_close(b, false);
    switch (hc->close) {
    case HS_CLIENT_FIRST:
        if (a->c && end_has_all(a))
            end_close(a, false);
        if (b->c && b->sent == b->to_send && b->eof)
            end_close(b, false);
        break;
    case HS_SERVER_FIRST:
        if (b->c && end_has_all(b))
            end_close(b, false);
        if (a->c && a->sent == a->to_send && a->eof)
            end_close(a, false);
        break;
    case HS_BOTH:
        /* Both at the same instant, once all data arrived both ways: the
         * FINs cross. */
        if (a->c && b->c && end_has_all(a) && end_has_all(b)) {
            end_close(a, false);
            end_close(b, false);
        }
        /* One end gone by a failure: the other closes when it has all. */
        if (a->c && b->closed && end_has_all(a))
            end_close(a, false);
        if (b->c && a->closed && end_has_all(b))
            end_close(b, false);
        break;
    case HS_ABORT_A:
    case HS_ABORT_B: {
        struct hs_end *ab = hc->close == HS_ABORT_A ? a : b, *other = hc->close == HS_ABORT_A ? b : a;
        if (ab->c && now >= hc->abort_at)
            end_close(ab, true);
        /* The other end does not wait for an end of file that will not come. */
        if (other->c && (end_has_all(other) || other->eof))
            end_close(other, false);
        break;
    }
    default:
        break;
    }
}

/* B's end of hc has no connection yet and none can come any more: the
 * listener holds no child for the 4-tuple. */
static bool no_child_pending(struct hs_run *r, struct hs_conn *hc)
{
    struct tcp_conn *c = tcp_table_lookup(r->p.b.s, TCPSIM_IP_B, HS_PORT, TCPSIM_IP_A, hc->a_port);
    return !c || c->owner != NULL || (c->state != TAPIR_TCP_SYN_RECEIVED && !c->in_accept_q);
}

static void conn_classify(struct hs_run *r, struct hs_conn *hc)
{
    const struct hs_end *a = &hc->a, *b = &hc->b;
    int errs[2] = {a->error, b->error};
    for (int i = 0; i < 2; i++) {
        int e = errs[i];
        bool allowed = e == 0 || e == -ECONNREFUSED || e == -ECONNRESET || e == -ETIMEDOUT ||
                       (e == -EPIPE && (hc->close == HS_ABORT_A || hc->close == HS_ABORT_B));
        if (!allowed) {
            run_fail(r, "connection %d (%s): %s failed with errno %d", hc->idx, close_names[hc->close], i ? "B" : "A",
                     -e);
            return;
        }
    }
    enum hs_outcome o;
    /* The end that closes second saw the other's FIN first; in a
     * simultaneous close neither application waits for it. */
    bool eofs = hc->close == HS_CLIENT_FIRST ? b->eof : hc->close == HS_SERVER_FIRST ? a->eof : true;
    bool complete = end_has_all(a) && end_has_all(b) && eofs && !a->error && !b->error;
    if (hc->close == HS_ABORT_A || hc->close == HS_ABORT_B)
        o = HS_ABORTED;
    else if (complete)
        o = HS_COMPLETE;
    else if (a->error == -ECONNREFUSED || b->error == -ECONNREFUSED)
        o = HS_REFUSED;
    else if (a->error == -ECONNRESET || b->error == -ECONNRESET)
        o = HS_RESET;
    else if (a->error == -ETIMEDOUT || b->error == -ETIMEDOUT)
        o = HS_TIMEDOUT;
    else if (!hc->simul && !b->had_conn && end_has_all(a))
        o = HS_NEVER_ACCEPTED;
    else {
        run_fail(r, "connection %d (%s%s): ended neither complete nor with an error: A sent %u/%u read %u/%u eof %d, "
                    "B %s sent %u/%u read %u/%u eof %d",
                 hc->idx, close_names[hc->close], hc->simul ? ", simultaneous open" : "", a->sent, a->to_send,
                 a->received, a->to_recv, a->eof, b->had_conn ? "" : "(never accepted)", b->sent, b->to_send,
                 b->received, b->to_recv, b->eof);
        return;
    }
    r->outcomes[o]++;
    if (o == HS_NEVER_ACCEPTED && getenv("FUZZ_HS_SHOW_NEVER"))
        fprintf(stderr, "fuzz_hs: connection %d (A port %u) never accepted\n", hc->idx, hc->a_port);
}

/* Keepalive (short): an end waiting for data from a peer that is gone
 * (its RST lost) learns of it, as an application would set SO_KEEPALIVE.
 * SO_OOBINLINE: the mutator's urgent pointers leave the stream whole
 * (test_tcp_fuzz_live covers reads out of band). */
static void end_options(struct tcp_conn *c)
{
    tcp_set_keepalive_params(c, TAPIR_SEC(5), TAPIR_SEC(1), 3);
    tcp_set_keepalive(c, true);
    tcp_set_oobinline(c, true);
}

static void conn_start(struct hs_run *r, struct hs_conn *hc)
{
    int err;
    tapir_time_t now = sim_now(r->p.sim);
    hc->started = true;
    hc->start = now;
    hc->abort_at = now + below(r, 3) * TAPIR_MSEC(below(r, 12));
    hc->a.c = tcp_conn_new(r->p.a.s, &err);
    ck_assert_ptr_nonnull(hc->a.c);
    hc->a.had_conn = true;
    tcp_set_owner(hc->a.c, hc);
    if (hc->simul) {
        hc->b.c = tcp_conn_new(r->p.b.s, &err);
        ck_assert_ptr_nonnull(hc->b.c);
        hc->b.had_conn = true;
        tcp_set_owner(hc->b.c, hc);
        uint16_t pa = (uint16_t)(HS_SIMUL_PORT_A + hc->idx), pb = (uint16_t)(HS_SIMUL_PORT_B + hc->idx);
        ck_assert_int_eq(tcp_bind(hc->a.c, 0, pa), 0);
        ck_assert_int_eq(tcp_bind(hc->b.c, 0, pb), 0);
        hc->a_port = pa;
        r->by_port[pa] = hc->idx;
        ck_assert_int_eq(tcp_connect(hc->a.c, TCPSIM_IP_B, pb), -EINPROGRESS);
        ck_assert_int_eq(tcp_connect(hc->b.c, TCPSIM_IP_A, pa), -EINPROGRESS);
    } else {
        /* The port is known once connect() chose it, after the SYN went
         * out: map it first from a bind to an ephemeral port. Now and then
         * the port of the last connection done, whose end at B may still
         * be in TIME_WAIT (RFC 9293 3.6.1: a SYN above RCV.NXT reopens it). */
        bool reuse = r->last_done_port >= 0 && below(r, 4) == 0 &&
                     !tcp_tuple_in_use(r->p.a.s, TCPSIM_IP_A, (uint16_t)r->last_done_port, TCPSIM_IP_B, HS_PORT);
        if (reuse) {
            tcp_set_reuseaddr(hc->a.c, true);
            reuse = tcp_bind(hc->a.c, 0, (uint16_t)r->last_done_port) == 0;
            r->port_reused += reuse;
            if (reuse)
                r->last_done_port = -1;
        }
        if (!reuse)
            ck_assert_int_eq(tcp_bind(hc->a.c, 0, 0), 0);
        uint32_t ip;
        ck_assert_int_eq(tcp_local_addr(hc->a.c, &ip, &hc->a_port), 0);
        r->by_port[hc->a_port] = hc->idx;
        ck_assert_int_eq(tcp_connect(hc->a.c, TCPSIM_IP_B, HS_PORT), -EINPROGRESS);
    }
    end_options(hc->a.c);
    if (hc->b.c)
        end_options(hc->b.c);
    r->nstarted++;
    r->in_progress++;
}

static void accept_all(struct hs_run *r)
{
    struct tcp_conn *c;
    /* Let the accept queue fill, while a timer promises another instant
     * (without one the sim would stop with children left unaccepted). */
    if (r->small_queues && below(r, 8) != 0 &&
        (tapir_stack_next_deadline(r->p.a.s) != TAPIR_TIME_NEVER ||
         tapir_stack_next_deadline(r->p.b.s) != TAPIR_TIME_NEVER))
        return;
    while (r->listener && tcp_accept(r->listener, &c) == 0) {
        r->accepted++;
        uint32_t ip;
        uint16_t port;
        tcp_peer_addr(c, &ip, &port);
        struct hs_conn *hc = conn_of_port(r, port);
        if (!hc || hc->simul || hc->done || hc->b.had_conn) {
            /* A child for a connection its client gave up on already (its
             * orphan's FIN completed the handshake): close it. */
            r->late_children++;
            tcp_set_owner(c, r);
            tcp_close(c);
            continue;
        }
        hc->b.c = c;
        hc->b.had_conn = true;
        tcp_set_owner(c, hc);
        end_options(c);
    }
}

/* ---- per-instant checks ------------------------------------------------------- */

static void check_negotiated(struct hs_run *r)
{
    struct tcpsim_node *nodes[2] = {&r->p.a, &r->p.b};
    for (int i = 0; i < 2; i++) {
        for (struct tcp_conn *c = nodes[i]->s->tcp->all; c; c = c->anext) {
            if (!tcp_synchronized(c->state))
                continue;
            const char *who = i ? "B" : "A";
            /* snd_mss is the payload per segment, less the timestamps'
             * 12 option bytes when they are on (RFC 9293 3.7.1: the
             * effective MSS counts the TCP options): the MSS itself is
             * that plus them. */
            uint32_t mss = c->snd_mss + (c->ts_ok ? TCP_TS_OPT_LEN : 0);
            if (mss < 64 || mss > HS_STACK_MTU - 40)
                run_fail(r, "%s %u->%u (%s): send MSS %u (snd_mss %u, timestamps %d) outside [64, %u]", who, c->lport,
                         c->rport, tapir_tcp_state_name(c->state), mss, c->snd_mss, c->ts_ok, HS_STACK_MTU - 40);
            if (c->snd_wscale > TCP_WS_MAX || c->rcv_wscale > TCP_WS_MAX)
                run_fail(r, "%s %u->%u: window scale %u/%u above %u", who, c->lport, c->rport, c->snd_wscale,
                         c->rcv_wscale, TCP_WS_MAX);
            if (!c->ws_ok && (c->snd_wscale || c->rcv_wscale))
                run_fail(r, "%s %u->%u: window scale off but shifts %u/%u", who, c->lport, c->rport, c->snd_wscale,
                         c->rcv_wscale);
            if (c->ts_ok && !(r->a_ts && r->b_ts))
                run_fail(r, "%s %u->%u: timestamps on, but A offers %d and B %d", who, c->lport, c->rport, r->a_ts,
                         r->b_ts);
            if (c->sack_ok && !(r->a_sack && r->b_sack))
                run_fail(r, "%s %u->%u: SACK on, but A offers %d and B %d", who, c->lport, c->rport, r->a_sack,
                         r->b_sack);
        }
    }
}

/* Both ends of one connection established: the same decisions. */
static void check_pair(struct hs_run *r, struct hs_conn *hc)
{
    struct tcp_conn *a = hc->a.c, *b = hc->b.c;
    if (hc->nego_checked || !a || !b || a->state != TAPIR_TCP_ESTABLISHED || b->state != TAPIR_TCP_ESTABLISHED)
        return;
    hc->nego_checked = true;
    if (a->ts_ok != b->ts_ok || a->sack_ok != b->sack_ok || a->ws_ok != b->ws_ok)
        run_fail(r, "connection %d%s: ends disagree: timestamps %d/%d, SACK %d/%d, window scale %d/%d", hc->idx,
                 hc->simul ? " (simultaneous open)" : "", a->ts_ok, b->ts_ok, a->sack_ok, b->sack_ok, a->ws_ok,
                 b->ws_ok);
    if (a->irs != b->iss || b->irs != a->iss)
        run_fail(r, "connection %d%s: established on other ISNs: A iss %u irs %u, B iss %u irs %u", hc->idx,
                 hc->simul ? " (simultaneous open)" : "", a->iss, a->irs, b->iss, b->irs);
}

/* FUZZ_HS_DEBUG_PORT=p: print both ends of the connections using A's
 * port p after every instant. */
static void debug_dump(struct hs_run *r, tapir_time_t now)
{
    const char *env = getenv("FUZZ_HS_DEBUG_PORT");
    if (!env)
        return;
    uint16_t port = (uint16_t)atoi(env);
    struct tcpsim_node *nodes[2] = {&r->p.a, &r->p.b};
    for (int i = 0; i < 2; i++)
        for (struct tcp_conn *c = nodes[i]->s->tcp->all; c; c = c->anext) {
            if ((i == 0 ? c->lport : c->rport) != port)
                continue;
            fprintf(stderr, "t=%.6f %s %s una %u nxt %u max %u wnd %u wl1 %u wl2 %u rcv_nxt %u adv %u mss %u "
                            "ws %d/%u/%u sndbuf %u probe %d persist_at %.3f rto_at %.3f fin_sent %d\n",
                    (double)now / 1e6, i ? "B" : "A", tapir_tcp_state_name(c->state), c->snd_una - c->iss,
                    c->snd_nxt - c->iss, c->snd_max - c->iss, c->snd_wnd, c->snd_wl1, c->snd_wl2,
                    c->rcv_nxt - c->irs, c->rcv_adv - c->irs, c->snd_mss, c->ws_ok, c->snd_wscale, c->rcv_wscale,
                    c->sndbuf.len, c->probe_out,
                    c->persist_at == TAPIR_TIME_NEVER ? -1.0 : (double)c->persist_at / 1e6,
                    c->rto_at == TAPIR_TIME_NEVER ? -1.0 : (double)c->rto_at / 1e6, c->fin_sent);
        }
}

static bool step(struct sim *sim, void *ctx)
{
    struct hs_run *r = ctx;
    tcpsim_sync(&r->p);
    accept_all(r);
    for (int i = 0; i < r->nstarted; i++) {
        struct hs_conn *hc = &r->conns[i];
        if (hc->done)
            continue;
        end_pump(r, hc, &hc->a, "A");
        end_pump(r, hc, &hc->b, "B");
        check_pair(r, hc);
        conn_close_logic(r, hc);
        bool b_over = hc->b.closed || (!hc->b.had_conn && no_child_pending(r, hc));
        if (hc->a.closed && b_over) {
            hc->done = true;
            tapir_time_t took = sim_now(sim) - hc->start;
            if (took > r->longest) {
                r->longest = took;
                r->longest_idx = hc->idx;
            }
            /* More mutations (exploration) make slow connections slower: a
             * SYN,ACK's MSS of 1 leaves 52-byte segments, each a few RTOs
             * away at 3x the rate. */
            if (took > HS_CONN_LIMIT * (r->rate_scale > 1 ? r->rate_scale * r->rate_scale : 1))
                run_fail(r, "connection %d (%s%s, A port %u) took %.1f s of virtual time", hc->idx,
                         close_names[hc->close], hc->simul ? ", simultaneous open" : "", hc->a_port,
                         (double)took / 1e6);
            if (!hc->simul)
                r->last_done_port = hc->a_port;
            r->ndone++;
            r->in_progress--;
            conn_classify(r, hc);
        }
    }
    /* A new connection now and then while others are in progress (at
     * once when none is: with nothing in flight the sim would stop). */
    while (r->nstarted < r->nconns && r->in_progress < HS_CONCURRENT && (r->in_progress == 0 || below(r, 3) == 0)) {
        conn_start(r, &r->conns[r->nstarted]);
        if (r->nstarted % 50 == 25)
            fuzz_arm_syn_rst(&r->mut);
        if (r->nstarted % 50 == 40)
            fuzz_arm_rst(&r->mut);          /* a RST on an established connection's ACK */
    }
    check_negotiated(r);
    debug_dump(r, sim_now(sim));
    if (r->failed)
        return true;
    if (tcpsim_bufs_in_use(&r->p.a) || tcpsim_bufs_in_use(&r->p.b)) {
        run_fail(r, "packet buffers held between instants: A %u, B %u", tcpsim_bufs_in_use(&r->p.a),
                 tcpsim_bufs_in_use(&r->p.b));
        return true;
    }
    return r->ndone == r->nconns;
}

static bool all_gone(struct sim *sim, void *ctx)
{
    (void)sim;
    struct hs_run *r = ctx;
    accept_all(r);
    check_negotiated(r);
    return r->failed || (tcpsim_conns(&r->p.a) == 0 && tcpsim_conns(&r->p.b) == 1);
}

/* ---- the run ------------------------------------------------------------------ */

/* Stack configuration per seed and node: one end without timestamps or
 * without SACK in some runs, so "only when both offer" is put to work. */
struct hs_profile {
    bool a_ts, a_sack, b_ts, b_sack;
    bool small_queues;
};
static struct hs_profile tweak_profile;
static int tweak_node;                  /* tcpsim's tweak has no context: A first, then B */

static void tweak(struct tapir_config *cfg)
{
    bool a = tweak_node++ == 0;
    cfg->mtu = HS_STACK_MTU;
    cfg->msl = TAPIR_SEC(1);
    cfg->tcp_timestamps = a ? tweak_profile.a_ts : tweak_profile.b_ts;
    cfg->tcp_sack = a ? tweak_profile.a_sack : tweak_profile.b_sack;
    if (tweak_profile.small_queues)
        cfg->tcp_syn_queue_max = 3;
}

static void plan(struct hs_run *r, struct hs_conn *hc, int idx)
{
    memset(hc, 0, sizeof *hc);
    hc->idx = idx;
    hc->simul = below(r, 8) == 0;
    hc->close = (enum hs_close)(below(r, 10) < 8 ? below(r, 3) : 3 + below(r, 2));
    uint32_t sizes[2];
    for (int i = 0; i < 2; i++) {
        uint32_t segs = below(r, 4);       /* 0..3 segments */
        sizes[i] = segs == 0 ? 0 : (segs - 1) * HS_SEG + 1 + below(r, HS_SEG);
    }
    hc->a.to_send = hc->b.to_recv = sizes[0];
    hc->b.to_send = hc->a.to_recv = sizes[1];
    hc->a.send_key = hc->b.recv_key = r->seed * 1000003u + (uint64_t)idx * 2 + 1;
    hc->b.send_key = hc->a.recv_key = r->seed * 1000003u + (uint64_t)idx * 2 + 2;
}

#define FAIL(...) do { run_fail(r, __VA_ARGS__); goto done; } while (0)

static bool hs_run(uint64_t seed, char *why, size_t whylen)
{
    struct hs_run *r = calloc(1, sizeof *r);
    ck_assert_ptr_nonnull(r);
    r->seed = seed;
    r->nconns = HS_CONNS;
    r->conns = calloc((size_t)r->nconns, sizeof *r->conns);
    r->by_port = malloc(65536 * sizeof *r->by_port);
    ck_assert(r->conns && r->by_port);
    memset(r->by_port, 0xff, 65536 * sizeof *r->by_port);
    fuzz_mutator_init(&r->mut, seed * 0x9e3779b97f4a7c15ull + 7, HS_RATE_HS);
    for (int i = 0; i < r->nconns; i++)
        plan(r, &r->conns[i], i);

    tweak_profile = (struct hs_profile){
        .a_ts = seed % 4 != 2, .a_sack = seed % 4 != 3, .b_ts = seed % 4 != 3, .b_sack = seed % 4 != 2,
        .small_queues = seed % 3 == 0};
    r->small_queues = tweak_profile.small_queues;
    const char *scale = getenv("FUZZ_HS_RATE_SCALE");
    r->rate_scale = scale ? strtod(scale, NULL) : 1.0;
    r->last_done_port = -1;
    r->a_ts = tweak_profile.a_ts;
    r->a_sack = tweak_profile.a_sack;
    r->b_ts = tweak_profile.b_ts;
    r->b_sack = tweak_profile.b_sack;
    tweak_node = 0;
    struct tapir_vlink_params vp;
    tapir_vlink_params_init(&vp);
    vp.seed = seed;
    vp.delay = TAPIR_MSEC(1);
    vp.jitter = TAPIR_USEC(300);
    vp.loss = 0.01;
    vp.reorder = 0.02;
    vp.reorder_delay = TAPIR_MSEC(2);
    vp.duplicate = 0.01;
    vp.mtu = HS_LINK_MTU;
    char pcap[64];
    snprintf(pcap, sizeof pcap, "fuzz_hs_%" PRIu64 ".pcap", seed);
    fprintf(stderr, "fuzz_hs seed %" PRIu64 ": %d connections; A offers timestamps %d SACK %d, B %d %d%s\n", seed,
            r->nconns, r->a_ts, r->a_sack, r->b_ts, r->b_sack,
            r->small_queues ? "; half-open queue 3, backlog 2" : "");
    tcpsim_pair_start(&r->p, &vp, seed * 104729, tweak, getenv("FUZZ_HS_PCAP") ? pcap : NULL);
    tapir_stack_set_output(r->p.a.s, out_a, r);
    tapir_stack_set_output(r->p.b.s, out_b, r);
    r->tcpsim_hook = r->p.b.s->tcp->hook;
    r->tcpsim_ctx = r->p.b.s->tcp->hook_ctx;
    tapir_stack_set_state_hook(r->p.b.s, hook_b, r);

    int err;
    r->listener = tcp_conn_new(r->p.b.s, &err);
    ck_assert_ptr_nonnull(r->listener);
    ck_assert_int_eq(tcp_bind(r->listener, 0, HS_PORT), 0);
    ck_assert_int_eq(tcp_listen(r->listener, r->small_queues ? 2 : 64), 0);
    tcp_set_oobinline(r->listener, true);   /* its children's from their SYN on (end_options) */

    tapir_time_t start = sim_now(r->p.sim);
    bool done = sim_run_until(r->p.sim, step, r, start + HS_LIMIT);
    tapir_time_t took = sim_now(r->p.sim) - start;
    if (r->failed)
        goto done;
    if (!done) {
        for (int i = 0; i < r->nstarted; i++) {
            struct hs_conn *hc = &r->conns[i];
            if (!hc->done)
                FAIL("hang: connection %d (%s%s, A port %u) not over after %.1f s of virtual time: A %s sent %u/%u read "
                     "%u/%u eof %d err %d, B %s sent %u/%u read %u/%u eof %d err %d",
                     hc->idx, close_names[hc->close], hc->simul ? ", simultaneous open" : "", hc->a_port,
                     (double)took / 1e6, hc->a.c ? tapir_tcp_state_name(tcp_state(hc->a.c)) : "closed",
                     hc->a.sent, hc->a.to_send, hc->a.received, hc->a.to_recv, hc->a.eof, hc->a.error,
                     hc->b.c ? tapir_tcp_state_name(tcp_state(hc->b.c)) : hc->b.had_conn ? "closed" : "none",
                     hc->b.sent, hc->b.to_send, hc->b.received, hc->b.to_recv, hc->b.eof, hc->b.error);
        }
        FAIL("hang: %d of %d connections started, all over, the sim stopped at %.1f s", r->nstarted, r->nconns,
             (double)took / 1e6);
    }

    /* TIME_WAIT, orphans and late children: every connection must go. */
    tapir_time_t retries = (tapir_time_t)(tapir_stack_config(r->p.a.s)->tcp_max_retries + 2) *
                           tapir_stack_config(r->p.a.s)->rto_max;
    if (!sim_run_until(r->p.sim, all_gone, r, sim_now(r->p.sim) + 2 * TAPIR_SEC(1) + retries) && !r->failed)
        FAIL("connections left after close and TIME_WAIT: A %u, B %u (one is the listener)", tcpsim_conns(&r->p.a),
             tcpsim_conns(&r->p.b));
    if (r->failed)
        goto done;
    struct tcp_conn *l = r->listener;
    if (l->synq_len || l->accq_len || l->synq_head || l->accq_head)
        FAIL("listener queues not empty: %u half-open, %u to accept", l->synq_len, l->accq_len);
    uint64_t passive = r->p.b.s->stats.tcp_passive_opens;
    if (passive != r->born)
        FAIL("listener: %" PRIu64 " passive opens counted, %lu children seen born", passive, r->born);
    if (r->born != r->back_to_listen + r->closed_synrcvd + r->established)
        FAIL("listener: %lu children born, but %lu went back to LISTEN, %lu closed in SYN_RECEIVED, %lu established",
             r->born, r->back_to_listen, r->closed_synrcvd, r->established);
    if (r->established != r->accepted + r->died_unaccepted)
        FAIL("listener: %lu children established, %lu accepted, %lu died before accept()", r->established,
             r->accepted, r->died_unaccepted);
    if (r->small_queues && r->rate_scale == 1.0 && (r->p.b.s->stats.drops[TAPIR_DROP_TCP_SYN_QUEUE_FULL] == 0 ||
                            r->p.b.s->stats.drops[TAPIR_DROP_TCP_BACKLOG_FULL] == 0))
        FAIL("small queues, but the listener never met their limits (half-open queue full %" PRIu64
             ", backlog full %" PRIu64 ")",
             r->p.b.s->stats.drops[TAPIR_DROP_TCP_SYN_QUEUE_FULL], r->p.b.s->stats.drops[TAPIR_DROP_TCP_BACKLOG_FULL]);
    tcp_close(r->listener);
    r->listener = NULL;
    sim_run_for(r->p.sim, TAPIR_MSEC(10));
    if (tcpsim_conns(&r->p.a) || tcpsim_conns(&r->p.b))
        FAIL("connections left after the listener closed: A %u, B %u", tcpsim_conns(&r->p.a), tcpsim_conns(&r->p.b));
    if (tcpsim_bufs_in_use(&r->p.a) || tcpsim_bufs_in_use(&r->p.b))
        FAIL("packet buffers leaked: A %u, B %u", tcpsim_bufs_in_use(&r->p.a), tcpsim_bufs_in_use(&r->p.b));
    if (tapir_stack_next_deadline(r->p.a.s) != TAPIR_TIME_NEVER ||
        tapir_stack_next_deadline(r->p.b.s) != TAPIR_TIME_NEVER)
        FAIL("a timer is left with no connection");

    unsigned long not_aborted = 0;
    for (int o = 0; o < HS_OUTCOME__COUNT; o++)
        if (o != HS_ABORTED)
            not_aborted += r->outcomes[o];
    if ((double)r->outcomes[HS_COMPLETE] < HS_MIN_COMPLETE * (double)not_aborted)
        FAIL("only %lu of %lu connections (not aborted) completed", r->outcomes[HS_COMPLETE], not_aborted);
    for (int k = 0; k < FUZZ_HS__COUNT; k++)
        if (r->mut.hs_applied[k] == 0 && !(k == FUZZ_HS_TS_ZERO && !r->a_ts))    /* no TSopt but on B's rare SYNs */
            FAIL("handshake mutation kind %s never applied", fuzz_hs_kind_name((enum fuzz_hs_kind)k));
    fprintf(stderr, "fuzz_hs seed %" PRIu64 ": ok in %.1f s virtual:", seed, (double)took / 1e6);
    for (int o = 0; o < HS_OUTCOME__COUNT; o++)
        fprintf(stderr, " %s %lu,", outcome_names[o], r->outcomes[o]);
    fprintf(stderr, " late children %lu; listener: %lu born, %lu back to LISTEN, %lu closed half-open, %lu accepted; "
            "%lu ports reused, %lu TIME_WAIT reopened; longest connection %.1f s (%d)\n",
            r->late_children, r->born, r->back_to_listen, r->closed_synrcvd, r->accepted, r->port_reused, r->reopened,
            (double)r->longest / 1e6, r->longest_idx);
done:
    {
        char prefix[64];
        snprintf(prefix, sizeof prefix, "fuzz_hs seed %" PRIu64 ":", seed);
        fuzz_mutator_print_hs(&r->mut, prefix);
        fprintf(stderr, "%s drops:", prefix);
        for (int d = 0; d < TAPIR_DROP__COUNT; d++) {
            uint64_t n = r->p.a.s->stats.drops[d] + r->p.b.s->stats.drops[d];
            if (n)
                fprintf(stderr, " %s=%" PRIu64, tapir_drop_reason_name((enum tapir_drop_reason)d), n);
        }
        fprintf(stderr, "\n");
    }
    bool ok = !r->failed;
    if (!ok) {
        snprintf(why, whylen, "%s", r->why);
        fprintf(stderr, "fuzz_hs seed %" PRIu64 " FAILED: %s (replay: FUZZ_HS_SEED=%" PRIu64 " FUZZ_HS_PCAP=1)\n", seed,
                r->why, seed);
    }
    for (int i = 0; i < r->nstarted; i++) {
        end_close(&r->conns[i].a, false);
        end_close(&r->conns[i].b, false);
    }
    if (r->listener)
        tcp_close(r->listener);
    tcpsim_pair_free(&r->p);
    free(r->conns);
    free(r->by_port);
    free(r);
    return ok;
}

START_TEST(mutated_handshakes_and_closes_end_cleanly)
{
    const char *env = getenv("FUZZ_HS_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 0) : (uint64_t)_i + 1;
    char why[512] = "";
    bool ok = hs_run(seed, why, sizeof why);
    ck_assert_msg(ok, "seed %" PRIu64 ": %s", seed, why);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tcp_fuzz_handshake");
    TCase *tc = tcase_create("handshake");
    tcase_set_timeout(tc, 240);
    tcase_add_loop_test(tc, mutated_handshakes_and_closes_end_cleanly, 0, getenv("FUZZ_HS_SEED") ? 1 : HS_RUNS);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
