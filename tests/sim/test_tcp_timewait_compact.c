/* Compact TIME_WAIT records (src/core/tcp_timewait.c): an orphan (closed by
 * its owner) in TIME_WAIT is replaced, once its ACK is out, by a record of
 * 120 bytes, and a segment for the record is processed by a connection
 * rebuilt from it.
 *
 * Most tests run a "twin": two stacks made alike (same seed, same clock)
 * that get the same segments from one scripted peer; the first compacts
 * its orphans, the second keeps them full connections (compaction off,
 * the behaviour before records existed). Every segment the two emit is
 * compared field by field (flags, SEQ, ACK, window, every option, payload,
 * the IP header's TOS and TTL, the time), and so are their counters and
 * their ladders of state changes: a record must behave exactly as the
 * connection it replaced (RFC 9293 3.10.7.4 in TIME_WAIT, RFC 1337, RFC
 * 7323 5.3 PAWS, RFC 5961, the out-of-window ACK limit, reopening by a SYN,
 * RFC 9293 3.6.1). The peer's sequence numbers cross 2^32. */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/stack.h"
#include "core/tcp.h"
#include "core/tcp_conn.h"
#include "core/wire.h"
#include "harness.h"
#include "tcp_script.h"

#define PEER_ISS 0xffffff00u        /* the peer's data crosses 2^32 */
#define PEER_TS0 0x7ffff000u        /* the peer's TSval clock crosses 2^31 */
#define PEER_PORT 40000u
#define SERVER_PORT 80u
#define MSL TAPIR_SEC(30)           /* the default: TIME_WAIT lasts 60 s */
#define OUR_TOS 0x28u               /* IP_TOS and IP_TTL the connections set */
#define OUR_TTL 33u

static const uint8_t peer_data[100] = "the peer's request, read by the application before it closes";

/* ---- the peer's options ---------------------------------------------------- */

static size_t opt_ts(uint8_t *o, uint32_t val, uint32_t ecr)
{
    o[0] = TCP_OPT_NOP;
    o[1] = TCP_OPT_NOP;
    o[2] = TCP_OPT_TS;
    o[3] = 10;
    put_be32(o + 4, val);
    put_be32(o + 8, ecr);
    return 12;
}

/* A SYN's options: MSS 1460, window scale 7, SACK-permitted, and
 * timestamps unless no_ts. */
static size_t opt_syn_ts(uint8_t *o, uint32_t val, uint32_t ecr, bool no_ts)
{
    const uint8_t head[12] = {TCP_OPT_MSS, 4, 0x05, 0xb4, TCP_OPT_NOP, TCP_OPT_WS, 3, 7,
                              TCP_OPT_NOP, TCP_OPT_NOP, TCP_OPT_SACK_PERM, 2};
    memcpy(o, head, sizeof head);
    return sizeof head + (no_ts ? 0 : opt_ts(o + sizeof head, val, ecr));
}

static size_t opt_syn(uint8_t *o, uint32_t val, uint32_t ecr) { return opt_syn_ts(o, val, ecr, false); }

/* ---- the twin --------------------------------------------------------------- */

struct twin {
    struct tcp_script *sc[2];       /* [0] compacts orphans in TIME_WAIT, [1] does not */
    struct tcp_conn *c[2];          /* the connection under test (owned until closed) */
    struct tcp_conn *lst[2];        /* a listener, if any */
    uint16_t lport, rport;          /* the connection's ports (ours, the peer's) */
    uint32_t peer_nxt, our_nxt;     /* next sequence numbers, as on the wire */
    uint32_t peer_ts;               /* the peer's TSval clock */
    uint32_t our_ts;                /* the last TSval we sent (the peer echoes it) */
    bool no_ts;                     /* the peer offers no timestamps */
};

static void twin_new(struct twin *tw, void (*tweak)(struct tapir_config *cfg))
{
    memset(tw, 0, sizeof *tw);
    for (int i = 0; i < 2; i++) {
        tw->sc[i] = tcp_script_new(tweak);
        tcp_timewait_set_enabled(tw->sc[i]->s, i == 0);
    }
    tw->peer_ts = PEER_TS0;
}

static bool same_block(const struct tcp_seg *a, const struct tcp_seg *b, int i)
{
    return a->sack[i].start == b->sack[i].start && a->sack[i].end == b->sack[i].end;
}

/* Every field the stacks built the segment from, and its IP header's. */
static void same_segment(const struct tcp_script_out *a, const struct tcp_script_out *b)
{
    const struct tcp_seg *x = &a->seg, *y = &b->seg;
    ck_assert_msg(x->sport == y->sport && x->dport == y->dport && x->seq == y->seq && x->ack == y->ack &&
                      x->flags == y->flags && x->wnd == y->wnd && x->urp == y->urp && x->hdr_len == y->hdr_len,
                  "segments differ: flags %#x/%#x seq %u/%u ack %u/%u wnd %u/%u hdr %u/%u", x->flags, y->flags,
                  x->seq, y->seq, x->ack, y->ack, x->wnd, y->wnd, x->hdr_len, y->hdr_len);
    ck_assert_msg(x->has_mss == y->has_mss && x->mss == y->mss && x->has_ws == y->has_ws && x->ws == y->ws &&
                      x->sack_perm == y->sack_perm,
                  "SYN options differ");
    ck_assert_msg(x->has_ts == y->has_ts && x->tsval == y->tsval && x->tsecr == y->tsecr,
                  "timestamps differ: %d %u %u / %d %u %u", x->has_ts, x->tsval, x->tsecr, y->has_ts, y->tsval,
                  y->tsecr);
    ck_assert_uint_eq(x->nsack, y->nsack);
    for (int i = 0; i < x->nsack; i++)
        ck_assert_msg(same_block(x, y, i), "SACK block %d differs", i);
    ck_assert_uint_eq(x->len, y->len);
    ck_assert_mem_eq(x->data, y->data, x->len);
    ck_assert_uint_eq(a->tos, b->tos);
    ck_assert_uint_eq(a->ttl, b->ttl);
    ck_assert_uint_eq(a->when, b->when);
    ck_assert_uint_eq(a->src, b->src);
    ck_assert_uint_eq(a->dst, b->dst);
}

#define TWIN_OUT_MAX 256

/* Take every segment one stack emitted, in order of time and, at one
 * time, of port (stably: a connection's own segments keep their order).
 * Which of two connections whose timers fall due at the same instant is
 * served first is not a protocol matter, and the timer heap's order among
 * equal deadlines depends on what else the heap holds (records are not in
 * it). */
static size_t take_sorted(struct tcp_script *sc, struct tcp_script_out *out)
{
    size_t n = 0;
    while (n < TWIN_OUT_MAX && tcp_script_next(sc, &out[n])) {
        struct tcp_script_out o = out[n];
        size_t j = n;
        for (; j > 0; j--) {
            const struct tcp_script_out *p = &out[j - 1];
            bool after = p->when < o.when || (p->when == o.when && (p->seg.dport < o.seg.dport ||
                         (p->seg.dport == o.seg.dport && p->seg.sport <= o.seg.sport)));
            if (after)
                break;
            out[j] = out[j - 1];
        }
        out[j] = o;
        n++;
    }
    for (size_t i = 0; i < n; i++)
        out[i].seg.data = out[i].payload;
    ck_assert_msg(tcp_script_pending(sc) == 0, "more than %d segments to compare", TWIN_OUT_MAX);
    return n;
}

/* Take what both stacks emitted: the same segments. Returns how many;
 * *last (if not NULL) gets the last one. */
static size_t twin_same_output(struct twin *tw, struct tcp_script_out *last)
{
    static struct tcp_script_out a[TWIN_OUT_MAX], b[TWIN_OUT_MAX];
    size_t na = take_sorted(tw->sc[0], a), nb = take_sorted(tw->sc[1], b);
    ck_assert_msg(na == nb, "the compacting stack sent %zu segments, the other %zu", na, nb);
    for (size_t i = 0; i < na; i++) {
        same_segment(&a[i], &b[i]);
        if (a[i].seg.has_ts)
            tw->our_ts = a[i].seg.tsval;
    }
    if (last && na) {
        *last = a[na - 1];
        last->seg.data = last->payload;
    }
    return na;
}

/* The same counters (but the records' own), drops and connection count. */
static void twin_same_stats(struct twin *tw)
{
    struct tapir_stats a, b;
    tapir_stack_get_stats(tw->sc[0]->s, &a);
    tapir_stack_get_stats(tw->sc[1]->s, &b);
    ck_assert_uint_eq(b.tcp_tw_compacted, 0);
    ck_assert_uint_eq(b.tcp_tw_inflated, 0);
    a.tcp_tw_compacted = a.tcp_tw_inflated = 0;
    for (size_t i = 0;; i++) {
        const char *name;
        uint64_t va, vb;
        if (!tapir_stats_counter(&a, i, &name, &va))
            break;
        tapir_stats_counter(&b, i, &name, &vb);
        ck_assert_msg(va == vb, "counter %s: %" PRIu64 " / %" PRIu64, name, va, vb);
    }
    for (int r = 0; r < TAPIR_DROP__COUNT; r++)
        ck_assert_msg(a.drops[r] == b.drops[r], "drops %s: %" PRIu64 " / %" PRIu64,
                      tapir_drop_reason_name((enum tapir_drop_reason)r), a.drops[r], b.drops[r]);
    ck_assert_uint_eq(tcp_conn_count(tw->sc[0]->s), tcp_conn_count(tw->sc[1]->s));
    ck_assert_uint_eq(tapir_stack_next_deadline(tw->sc[0]->s), tapir_stack_next_deadline(tw->sc[1]->s));
}

/* The same ladders of state changes. With identities: the events of one
 * connection carry one conn in both stacks (a record reports the conn its
 * connection had), as long as no connection was freed and another made. */
static void twin_same_ladder(const struct twin *tw, bool identities)
{
    const struct tcp_script *a = tw->sc[0], *b = tw->sc[1];
    ck_assert_uint_eq(a->nlog, b->nlog);
    for (size_t i = 0; i < a->nlog; i++) {
        ck_assert_msg(a->log[i].from == b->log[i].from && a->log[i].to == b->log[i].to &&
                          a->log[i].when == b->log[i].when && strcmp(a->log[i].cause, b->log[i].cause) == 0,
                      "state change %zu differs: %s -> %s (%s) / %s -> %s (%s)", i,
                      tapir_tcp_state_name(a->log[i].from), tapir_tcp_state_name(a->log[i].to), a->log[i].cause,
                      tapir_tcp_state_name(b->log[i].from), tapir_tcp_state_name(b->log[i].to), b->log[i].cause);
        for (size_t j = 0; identities && j < i; j++)
            ck_assert_msg((a->log[i].conn == a->log[j].conn) == (b->log[i].conn == b->log[j].conn),
                          "state changes %zu and %zu: conn identities differ", j, i);
    }
}

static void twin_check(struct twin *tw, bool identities)
{
    twin_same_stats(tw);
    twin_same_ladder(tw, identities);
}

/* A segment from the peer to both stacks, on the connection's ports. */
static void twin_send(struct twin *tw, uint8_t flags, uint32_t seq, uint32_t ack, const uint8_t *opts,
                      size_t optlen, const void *data, size_t len)
{
    for (int i = 0; i < 2; i++)
        tcp_script_inject_raw(tw->sc[i], tw->rport, tw->lport, seq, ack, flags, 65535, opts, optlen, data, len);
}

/* The same with a timestamp option: the peer's clock, which ticks first
 * (tick 0: an old TSval again), echoing ours. */
static void twin_send_ts(struct twin *tw, uint32_t tick, uint8_t flags, uint32_t seq, uint32_t ack,
                         const void *data, size_t len)
{
    uint8_t o[12];
    tw->peer_ts += tick;
    if (tw->no_ts)
        twin_send(tw, flags, seq, ack, NULL, 0, data, len);
    else
        twin_send(tw, flags, seq, ack, o, opt_ts(o, tw->peer_ts, tw->our_ts), data, len);
}

static void twin_advance(struct twin *tw, tapir_time_t dt)
{
    for (int i = 0; i < 2; i++)
        tcp_script_advance(tw->sc[i], dt);
}

static tapir_time_t twin_now(const struct twin *tw)
{
    ck_assert_uint_eq(tw->sc[0]->now, tw->sc[1]->now);
    return tw->sc[0]->now;
}

/* Records and full connections of the compacting stack. */
static uint32_t records(const struct twin *tw) { return tcp_timewait_count(tw->sc[0]->s); }
static uint32_t full_conns(const struct twin *tw)
{
    return tcp_conn_count(tw->sc[0]->s) - tcp_timewait_count(tw->sc[0]->s);
}

/* The peer's data, then its FIN acknowledging ours (our FIN at our_nxt):
 * TIME_WAIT from FIN_WAIT_1, the application having read the data and
 * closed (an orphan). */
static void twin_exchange_and_close(struct twin *tw)
{
    twin_send_ts(tw, 1, TCP_ACK | TCP_PSH, tw->peer_nxt, tw->our_nxt, peer_data, sizeof peer_data);
    tw->peer_nxt += sizeof peer_data;
    twin_advance(tw, TAPIR_MSEC(100));          /* the delayed ACK */
    ck_assert_uint_eq(twin_same_output(tw, NULL), 1);
    for (int i = 0; i < 2; i++) {
        uint8_t buf[sizeof peer_data];
        ck_assert_int_eq(tcp_recv(tw->c[i], buf, sizeof buf, false), (long)sizeof buf);
        tcp_close(tw->c[i]);
        tw->c[i] = NULL;
    }
    struct tcp_script_out o;
    ck_assert_uint_eq(twin_same_output(tw, &o), 1);
    ck_assert_uint_eq(o.seg.flags, TCP_FIN | TCP_ACK);
    ck_assert_uint_eq(o.seg.seq, tw->our_nxt);
    twin_advance(tw, TAPIR_MSEC(2));
    twin_send_ts(tw, 1, TCP_FIN | TCP_ACK, tw->peer_nxt, tw->our_nxt + 1, NULL, 0);
    tw->peer_nxt++;
    tw->our_nxt++;
    ck_assert_uint_eq(twin_same_output(tw, &o), 1);
    ck_assert_uint_eq(o.seg.flags, TCP_ACK);
    ck_assert_uint_eq(o.seg.seq, tw->our_nxt);
    ck_assert_uint_eq(o.seg.ack, tw->peer_nxt);
    ck_assert_int_eq(tw->sc[0]->log[tw->sc[0]->nlog - 1].to, TAPIR_TCP_TIME_WAIT);
}

/* We open (active OPEN, with TOS and TTL set) and close first: the client
 * that ends in TIME_WAIT. */
static void twin_active_time_wait(struct twin *tw)
{
    uint32_t iss[2];
    for (int i = 0; i < 2; i++) {
        tw->c[i] = tcp_script_connect(tw->sc[i], &iss[i]);
        tcp_set_tos(tw->c[i], OUR_TOS);
        tcp_set_ttl(tw->c[i], OUR_TTL);
    }
    ck_assert_uint_eq(iss[0], iss[1]);
    ck_assert_uint_eq(tw->sc[0]->local_port, tw->sc[1]->local_port);
    tw->lport = tw->sc[0]->local_port;
    tw->rport = tw->sc[0]->peer_port;
    tw->our_nxt = iss[0] + 1;
    twin_advance(tw, TAPIR_MSEC(1));
    uint8_t o[24];
    twin_send(tw, TCP_SYN | TCP_ACK, PEER_ISS, tw->our_nxt, o, opt_syn_ts(o, tw->peer_ts, tw->our_ts, tw->no_ts),
              NULL, 0);
    tw->peer_nxt = PEER_ISS + 1;
    ck_assert_uint_eq(twin_same_output(tw, NULL), 1);
    twin_exchange_and_close(tw);
}

/* A listener on port 80 accepts the peer's connection, and we close first:
 * the server that ends in TIME_WAIT, its listener still there. */
static void twin_passive_time_wait(struct twin *tw)
{
    tw->lport = SERVER_PORT;
    if (!tw->rport)
        tw->rport = PEER_PORT;
    if (!tw->lst[0])
        for (int i = 0; i < 2; i++)
            tw->lst[i] = tcp_script_listen(tw->sc[i], SERVER_PORT, 8);
    uint8_t o[24];
    twin_send(tw, TCP_SYN, PEER_ISS, 0, o, opt_syn_ts(o, tw->peer_ts, 0, tw->no_ts), NULL, 0);
    struct tcp_script_out syn_ack;
    ck_assert_uint_eq(twin_same_output(tw, &syn_ack), 1);
    tw->peer_nxt = PEER_ISS + 1;
    tw->our_nxt = syn_ack.seg.seq + 1;
    twin_advance(tw, TAPIR_MSEC(1));
    twin_send_ts(tw, 1, TCP_ACK, tw->peer_nxt, tw->our_nxt, NULL, 0);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(tcp_accept(tw->lst[i], &tw->c[i]), 0);
        tcp_set_tos(tw->c[i], OUR_TOS);
        tcp_set_ttl(tw->c[i], OUR_TTL);
    }
    twin_exchange_and_close(tw);
}

/* Both stacks: let every timer run out, close the listeners, and nothing
 * may be left (no connection, record or packet buffer). */
static void twin_finish(struct twin *tw)
{
    for (int i = 0; i < 2; i++) {
        if (tw->c[i])
            tcp_abort(tw->c[i]);
        if (tw->lst[i])
            tcp_close(tw->lst[i]);
    }
    twin_advance(tw, TAPIR_SEC(1800));
    twin_same_output(tw, NULL);
    twin_check(tw, false);
    ck_assert_uint_eq(records(tw), 0);
    for (int i = 0; i < 2; i++)
        tcp_script_free_checked(tw->sc[i]);
}

/* ---- tests ---------------------------------------------------------------------- */

START_TEST(orphan_in_time_wait_becomes_a_compact_record)
{
    fprintf(stderr, "sizeof(struct tcp_tw) = %zu, sizeof(struct tcp_conn) = %zu\n", sizeof(struct tcp_tw),
            sizeof(struct tcp_conn));
    ck_assert_uint_le(sizeof(struct tcp_tw), 128);
    struct twin tw;
    twin_new(&tw, NULL);
    twin_active_time_wait(&tw);
    /* The compacting stack holds a record and no connection; the other a
     * connection in TIME_WAIT. Both count one. */
    ck_assert_uint_eq(records(&tw), 1);
    ck_assert_uint_eq(full_conns(&tw), 0);
    ck_assert_ptr_null(tw.sc[0]->s->tcp->all);
    ck_assert_uint_eq(tw.sc[0]->s->stats.tcp_tw_compacted, 1);
    ck_assert_uint_eq(tcp_timewait_count(tw.sc[1]->s), 0);
    ck_assert_uint_eq(tcp_conn_count(tw.sc[1]->s), 1);
    /* The connection block went back to the spare pool. */
    ck_assert_uint_eq(tw.sc[0]->s->tcp->nconn_spares, tw.sc[1]->s->tcp->nconn_spares + 1);
    twin_check(&tw, true);
    twin_finish(&tw);
}
END_TEST

START_TEST(passive_close_in_time_wait_is_compacted_too)
{
    struct twin tw;
    twin_new(&tw, NULL);
    twin_passive_time_wait(&tw);
    ck_assert_uint_eq(records(&tw), 1);
    ck_assert_uint_eq(full_conns(&tw), 1);      /* the listener */
    twin_check(&tw, true);
    twin_finish(&tw);
}
END_TEST

/* RFC 9293 3.10.7.4, TIME_WAIT: "The only thing that can arrive in this
 * state is a retransmission of the remote FIN. Acknowledge it, and restart
 * the 2 MSL timeout." Also with the data before it (a duplicate: a D-SACK
 * block reports it, RFC 2883). */
START_TEST(retransmitted_fin_is_acked_as_before_and_restarts_2msl)
{
    struct twin tw;
    twin_new(&tw, NULL);
    twin_active_time_wait(&tw);
    tapir_time_t entered = twin_now(&tw);
    uint32_t ts_recent = tw.peer_ts;           /* the peer's FIN's TSval */
    struct tcp_script_out o;

    /* Both are below RCV.NXT, not acceptable: answered with an ACK that
     * echoes TS.Recent, not their TSval (RFC 7323 4.3). */
    twin_advance(&tw, TAPIR_SEC(10));
    twin_send_ts(&tw, 1000, TCP_FIN | TCP_ACK | TCP_PSH, tw.peer_nxt - 1 - sizeof peer_data, tw.our_nxt,
                 peer_data, sizeof peer_data);
    ck_assert_uint_eq(twin_same_output(&tw, &o), 1);
    ck_assert_uint_eq(o.seg.flags, TCP_ACK);
    ck_assert_uint_eq(o.seg.seq, tw.our_nxt);
    ck_assert_uint_eq(o.seg.ack, tw.peer_nxt);
    ck_assert_uint_eq(o.seg.nsack, 1);          /* D-SACK of the duplicate data */
    ck_assert_uint_eq(o.seg.sack[0].start, tw.peer_nxt - 1 - sizeof peer_data);
    ck_assert(o.seg.has_ts);
    ck_assert_uint_eq(o.seg.tsecr, ts_recent);
    ck_assert_uint_eq(o.tos, OUR_TOS);
    ck_assert_uint_eq(o.ttl, OUR_TTL);

    twin_advance(&tw, TAPIR_SEC(20));
    tapir_time_t restarted = twin_now(&tw);
    twin_send_ts(&tw, 2000, TCP_FIN | TCP_ACK, tw.peer_nxt - 1, tw.our_nxt, NULL, 0);
    ck_assert_uint_eq(twin_same_output(&tw, &o), 1);
    ck_assert_uint_eq(o.seg.seq, tw.our_nxt);
    ck_assert_uint_eq(o.seg.ack, tw.peer_nxt);
    ck_assert_uint_eq(o.seg.nsack, 0);
    ck_assert_uint_eq(o.seg.tsecr, ts_recent);
    /* Inflated twice, compacted once: the same record went back. */
    ck_assert_uint_eq(records(&tw), 1);
    ck_assert_uint_eq(full_conns(&tw), 0);
    ck_assert_uint_eq(tw.sc[0]->s->stats.tcp_tw_inflated, 2);
    ck_assert_uint_eq(tw.sc[0]->s->stats.tcp_tw_compacted, 1);
    twin_check(&tw, true);

    /* 2*MSL counts from the last FIN: still there 1 ms after the first
     * 2*MSL, gone exactly 2*MSL after the restart. */
    ck_assert_uint_eq(tapir_stack_next_deadline(tw.sc[0]->s), restarted + 2 * MSL);
    twin_advance(&tw, entered + 2 * MSL + TAPIR_MSEC(1) - twin_now(&tw));
    ck_assert_uint_eq(records(&tw), 1);
    twin_advance(&tw, restarted + 2 * MSL - 1 - twin_now(&tw));
    ck_assert_uint_eq(records(&tw), 1);
    twin_advance(&tw, 1);
    ck_assert_uint_eq(records(&tw), 0);
    ck_assert_uint_eq(tcp_conn_count(tw.sc[0]->s), 0);
    const struct tcp_script_change *last = &tw.sc[0]->log[tw.sc[0]->nlog - 1];
    ck_assert_int_eq(last->from, TAPIR_TCP_TIME_WAIT);
    ck_assert_int_eq(last->to, TAPIR_TCP_CLOSED);
    ck_assert_str_eq(last->cause, TCP_CAUSE_2MSL);
    ck_assert_uint_eq(last->when, restarted + 2 * MSL);
    twin_same_output(&tw, NULL);
    twin_check(&tw, true);
    twin_finish(&tw);
}
END_TEST

/* RFC 1337: a RST in TIME_WAIT is ignored, in the window or not. */
START_TEST(rst_is_ignored_rfc1337)
{
    struct twin tw;
    twin_new(&tw, NULL);
    twin_active_time_wait(&tw);
    tapir_time_t entered = twin_now(&tw);
    twin_advance(&tw, TAPIR_SEC(5));
    uint64_t ignored = tw.sc[0]->s->stats.drops[TAPIR_DROP_TCP_RST_IGNORED];
    twin_send(&tw, TCP_RST, tw.peer_nxt, 0, NULL, 0, NULL, 0);
    twin_send_ts(&tw, 1, TCP_RST | TCP_ACK, tw.peer_nxt, tw.our_nxt, NULL, 0);
    twin_send(&tw, TCP_RST, tw.peer_nxt + 12345, 0, NULL, 0, NULL, 0);
    ck_assert_uint_eq(twin_same_output(&tw, NULL), 0);
    ck_assert_uint_eq(tw.sc[0]->s->stats.drops[TAPIR_DROP_TCP_RST_IGNORED], ignored + 3);
    ck_assert_uint_eq(records(&tw), 1);
    ck_assert_uint_eq(full_conns(&tw), 0);
    /* Nothing restarted: it ends 2*MSL after it began. */
    ck_assert_uint_eq(tapir_stack_next_deadline(tw.sc[0]->s), entered + 2 * MSL);
    twin_check(&tw, true);
    twin_finish(&tw);
}
END_TEST

/* RFC 7323 5.3 R1: a segment whose TSval is older than TS.Recent is an old
 * duplicate: dropped, and answered with an ACK (a pure ACK at most once
 * per tcp_oow_ack_interval, whose state the record keeps; a FIN always). */
START_TEST(old_duplicate_fails_paws_and_is_acked)
{
    struct twin tw;
    twin_new(&tw, NULL);
    twin_active_time_wait(&tw);
    twin_advance(&tw, TAPIR_SEC(1));
    uint64_t paws = tw.sc[0]->s->stats.drops[TAPIR_DROP_TCP_PAWS];
    uint8_t o[12];
    struct tcp_script_out out;
    twin_send(&tw, TCP_ACK, tw.peer_nxt, tw.our_nxt, o, opt_ts(o, tw.peer_ts - 100, tw.our_ts), NULL, 0);
    ck_assert_uint_eq(twin_same_output(&tw, &out), 1);
    ck_assert_uint_eq(out.seg.ack, tw.peer_nxt);
    ck_assert_uint_eq(out.seg.tsecr, tw.peer_ts);       /* TS.Recent, not the old TSval */
    twin_send(&tw, TCP_ACK, tw.peer_nxt, tw.our_nxt, o, opt_ts(o, tw.peer_ts - 99, tw.our_ts), NULL, 0);
    ck_assert_uint_eq(twin_same_output(&tw, NULL), 0);  /* rate limited */
    twin_send(&tw, TCP_ACK | TCP_FIN, tw.peer_nxt - 1, tw.our_nxt, o, opt_ts(o, tw.peer_ts - 98, tw.our_ts),
              NULL, 0);
    ck_assert_uint_eq(twin_same_output(&tw, NULL), 1);  /* a FIN is answered every time */
    ck_assert_uint_eq(tw.sc[0]->s->stats.drops[TAPIR_DROP_TCP_PAWS], paws + 3);
    ck_assert_uint_eq(tw.sc[0]->s->stats.tcp_oow_acks_skipped, 1);
    twin_advance(&tw, TAPIR_MSEC(500));
    twin_send(&tw, TCP_ACK, tw.peer_nxt, tw.our_nxt, o, opt_ts(o, tw.peer_ts - 97, tw.our_ts), NULL, 0);
    ck_assert_uint_eq(twin_same_output(&tw, NULL), 1);
    /* A segment without the timestamps both sides agreed on: dropped
     * silently (RFC 7323 3.2). */
    twin_send(&tw, TCP_ACK | TCP_FIN, tw.peer_nxt - 1, tw.our_nxt, NULL, 0, NULL, 0);
    ck_assert_uint_eq(twin_same_output(&tw, NULL), 0);
    ck_assert_uint_eq(records(&tw), 1);
    twin_check(&tw, true);
    twin_finish(&tw);
}
END_TEST

/* RFC 9293 3.10.7.4 step 1: an unacceptable segment is answered with an
 * ACK; step 5: an ACK of something not yet sent gets an ACK; RFC 5961 5.2:
 * an ACK older than the window a challenge ACK; an in-window SYN a
 * challenge ACK (RFC 5961 4.2). */
START_TEST(unacceptable_segments_are_acked_as_before)
{
    struct twin tw;
    twin_new(&tw, NULL);
    twin_active_time_wait(&tw);
    twin_advance(&tw, TAPIR_SEC(1));
    struct tcp_script_out o;
    /* A pure ACK far beyond the window, three times: once per 500 ms. */
    for (int k = 0; k < 3; k++)
        twin_send_ts(&tw, 1, TCP_ACK, tw.peer_nxt + 0x40000000u, tw.our_nxt, NULL, 0);
    ck_assert_uint_eq(twin_same_output(&tw, &o), 1);
    ck_assert_uint_eq(o.seg.seq, tw.our_nxt);
    ck_assert_uint_eq(o.seg.ack, tw.peer_nxt);
    twin_advance(&tw, TAPIR_MSEC(499));
    twin_send_ts(&tw, 1, TCP_ACK, tw.peer_nxt + 0x40000000u, tw.our_nxt, NULL, 0);
    ck_assert_uint_eq(twin_same_output(&tw, NULL), 0);
    twin_advance(&tw, TAPIR_MSEC(1));
    twin_send_ts(&tw, 1, TCP_ACK, tw.peer_nxt + 0x40000000u, tw.our_nxt, NULL, 0);
    ck_assert_uint_eq(twin_same_output(&tw, NULL), 1);
    /* Data outside the window: answered every time. */
    for (int k = 0; k < 3; k++)
        twin_send_ts(&tw, 1, TCP_ACK | TCP_PSH, tw.peer_nxt + 0x40000000u, tw.our_nxt, "late", 4);
    ck_assert_uint_eq(twin_same_output(&tw, NULL), 3);
    /* In the window: an ACK of data we never sent, an ACK from before the
     * peer's largest window (RFC 5961 5.2: the record keeps that window,
     * 65535 << 7), a SYN (RFC 5961 4.2, no listener here), data (ignored:
     * the peer's FIN came before). */
    twin_send_ts(&tw, 1, TCP_ACK, tw.peer_nxt, tw.our_nxt + 5000, NULL, 0);
    ck_assert_uint_eq(twin_same_output(&tw, NULL), 1);
    twin_send_ts(&tw, 1, TCP_ACK, tw.peer_nxt, tw.our_nxt - 0x20000000u, NULL, 0);
    ck_assert_uint_eq(twin_same_output(&tw, NULL), 1);
    twin_send_ts(&tw, 1, TCP_SYN, tw.peer_nxt + 10, 0, NULL, 0);
    ck_assert_uint_eq(twin_same_output(&tw, NULL), 1);
    twin_send_ts(&tw, 1, TCP_ACK | TCP_PSH, tw.peer_nxt, tw.our_nxt, "more", 4);
    twin_send_ts(&tw, 1, TCP_ACK, tw.peer_nxt, tw.our_nxt, NULL, 0);
    twin_same_output(&tw, NULL);
    ck_assert_uint_eq(records(&tw), 1);
    ck_assert_uint_eq(full_conns(&tw), 0);
    twin_check(&tw, true);
    twin_finish(&tw);
}
END_TEST

/* RFC 9293 3.6.1 (MAY-2): a SYN with a sequence number above the old
 * connection's reopens it through the listener, with an ISS above the old
 * SND.NXT; the record's end is the connection's ("SYN reopens TIME_WAIT"). */
START_TEST(syn_with_higher_seq_reopens_through_the_listener)
{
    struct twin tw;
    twin_new(&tw, NULL);
    twin_passive_time_wait(&tw);
    const void *old_conn = tw.sc[0]->log[tw.sc[0]->nlog - 1].conn;
    uint32_t old_snd_nxt = tw.our_nxt;
    twin_advance(&tw, TAPIR_SEC(3));
    uint8_t o[24];
    uint32_t new_iss_peer = tw.peer_nxt + 100000;
    tw.peer_ts += 100;
    twin_send(&tw, TCP_SYN, new_iss_peer, 0, o, opt_syn(o, tw.peer_ts, 0), NULL, 0);
    struct tcp_script_out syn_ack;
    ck_assert_uint_eq(twin_same_output(&tw, &syn_ack), 1);
    ck_assert_uint_eq(syn_ack.seg.flags, TCP_SYN | TCP_ACK);
    ck_assert_uint_eq(syn_ack.seg.ack, new_iss_peer + 1);
    ck_assert(seq_gt(syn_ack.seg.seq, old_snd_nxt));
    ck_assert_uint_eq(records(&tw), 0);
    ck_assert_uint_eq(full_conns(&tw), 2);      /* the listener and its new child */
    /* The old connection's last event, with the identity it always had. */
    const struct tcp_script_change *closed = NULL;
    for (size_t i = 0; i < tw.sc[0]->nlog; i++)
        if (tw.sc[0]->log[i].from == TAPIR_TCP_TIME_WAIT)
            closed = &tw.sc[0]->log[i];
    ck_assert_ptr_nonnull(closed);
    ck_assert_str_eq(closed->cause, "SYN reopens TIME_WAIT");
    ck_assert_ptr_eq(closed->conn, old_conn);
    twin_check(&tw, true);
    /* The new incarnation completes and is accepted. */
    tw.our_nxt = syn_ack.seg.seq + 1;
    tw.peer_nxt = new_iss_peer + 1;
    twin_send_ts(&tw, 1, TCP_ACK, tw.peer_nxt, tw.our_nxt, NULL, 0);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(tcp_accept(tw.lst[i], &tw.c[i]), 0);
        ck_assert_int_eq(tcp_state(tw.c[i]), TAPIR_TCP_ESTABLISHED);
    }
    ck_assert_uint_eq(twin_same_output(&tw, NULL), 0);
    twin_check(&tw, false);
    twin_finish(&tw);
}
END_TEST

START_TEST(syn_with_lower_seq_does_not_reopen)
{
    struct twin tw;
    twin_new(&tw, NULL);
    twin_passive_time_wait(&tw);
    twin_advance(&tw, TAPIR_SEC(3));
    uint8_t o[24];
    tw.peer_ts += 100;
    twin_send(&tw, TCP_SYN, tw.peer_nxt - 50, 0, o, opt_syn(o, tw.peer_ts, 0), NULL, 0);
    struct tcp_script_out out;
    ck_assert_uint_eq(twin_same_output(&tw, &out), 1);
    ck_assert_uint_eq(out.seg.flags, TCP_ACK);
    ck_assert_uint_eq(out.seg.seq, tw.our_nxt);
    ck_assert_uint_eq(out.seg.ack, tw.peer_nxt);
    ck_assert_uint_eq(records(&tw), 1);
    struct tcp_conn *a;
    ck_assert_int_eq(tcp_accept(tw.lst[0], &a), -EAGAIN);
    /* A SYN,ACK is no new SYN either: the ACK of TIME_WAIT's sequence check. */
    twin_send_ts(&tw, 1, TCP_SYN | TCP_ACK, tw.peer_nxt + 100000, tw.our_nxt, NULL, 0);
    ck_assert_uint_eq(twin_same_output(&tw, NULL), 1);
    ck_assert_uint_eq(records(&tw), 1);
    twin_check(&tw, true);
    twin_finish(&tw);
}
END_TEST

START_TEST(expiry_is_exactly_2msl_and_next_deadline_says_so)
{
    struct twin tw;
    twin_new(&tw, NULL);
    twin_active_time_wait(&tw);
    tapir_time_t entered = twin_now(&tw);
    ck_assert_uint_eq(tapir_stack_next_deadline(tw.sc[0]->s), entered + 2 * MSL);
    twin_check(&tw, true);
    twin_advance(&tw, 2 * MSL - 1);
    ck_assert_uint_eq(records(&tw), 1);
    ck_assert_uint_eq(tcp_conn_count(tw.sc[0]->s), 1);
    twin_advance(&tw, 1);
    ck_assert_uint_eq(records(&tw), 0);
    ck_assert_uint_eq(tcp_conn_count(tw.sc[0]->s), 0);
    ck_assert_uint_eq(tapir_stack_next_deadline(tw.sc[0]->s), TAPIR_TIME_NEVER);
    const struct tcp_script_change *last = &tw.sc[0]->log[tw.sc[0]->nlog - 1];
    ck_assert_int_eq(last->from, TAPIR_TCP_TIME_WAIT);
    ck_assert_int_eq(last->to, TAPIR_TCP_CLOSED);
    ck_assert_str_eq(last->cause, TCP_CAUSE_2MSL);
    ck_assert_uint_eq(last->when, entered + 2 * MSL);
    twin_check(&tw, true);
    twin_finish(&tw);
}
END_TEST

/* An owner that shut its side down keeps a full connection in TIME_WAIT;
 * when it closes it, the connection becomes a record with the expiry it
 * had, placed before later records in the FIFO. */
START_TEST(owner_held_time_wait_is_compacted_at_close)
{
    struct tcp_script *sc = tcp_script_new(NULL);
    struct tcp_conn *held = tcp_script_active_open(sc, PEER_ISS);
    uint16_t held_port = sc->local_port;
    ck_assert_int_eq(tcp_shutdown(held, false, true), 0);
    tcp_script_expect(sc, TCP_FIN | TCP_ACK, sc->our_nxt, sc->peer_nxt, NULL);
    tcp_script_send(sc, TCP_FIN | TCP_ACK, sc->peer_nxt, sc->our_nxt + 1, 0, NULL, 0);
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt + 1, sc->peer_nxt + 1, NULL);
    tapir_time_t held_entered = sc->now;
    ck_assert_int_eq(tcp_state(held), TAPIR_TCP_TIME_WAIT);
    ck_assert_uint_eq(tcp_timewait_count(sc->s), 0);        /* its owner holds it */

    /* Another connection, closed 5 s later by its owner: a record that
     * expires after the held one. */
    tcp_script_advance(sc, TAPIR_SEC(5));
    sc->peer_port = PEER_PORT + 1;
    struct tcp_conn *other = tcp_script_active_open(sc, PEER_ISS);
    tcp_close(other);
    tcp_script_expect(sc, TCP_FIN | TCP_ACK, sc->our_nxt, sc->peer_nxt, NULL);
    tcp_script_send(sc, TCP_FIN | TCP_ACK, sc->peer_nxt, sc->our_nxt + 1, 0, NULL, 0);
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt + 1, sc->peer_nxt + 1, NULL);
    tapir_time_t other_entered = sc->now;
    ck_assert_uint_eq(tcp_timewait_count(sc->s), 1);

    tcp_script_advance(sc, TAPIR_SEC(10));
    tcp_close(held);
    tcp_script_expect_none(sc);
    ck_assert_uint_eq(tcp_timewait_count(sc->s), 2);
    ck_assert_uint_eq(tcp_conn_count(sc->s), 2);
    ck_assert_ptr_null(sc->s->tcp->all);
    ck_assert_uint_eq(tapir_stack_next_deadline(sc->s), held_entered + 2 * MSL);

    tcp_script_advance(sc, held_entered + 2 * MSL - sc->now);
    ck_assert_uint_eq(tcp_timewait_count(sc->s), 1);
    const struct tcp_script_change *last = &sc->log[sc->nlog - 1];
    ck_assert_ptr_eq(last->conn, held);
    ck_assert_str_eq(last->cause, TCP_CAUSE_2MSL);
    ck_assert_uint_eq(last->when, held_entered + 2 * MSL);
    ck_assert(tcp_tw_lookup(sc->s, TCP_SCRIPT_US_IP, held_port, TCP_SCRIPT_PEER_IP, PEER_PORT) == NULL);
    ck_assert_uint_eq(tapir_stack_next_deadline(sc->s), other_entered + 2 * MSL);
    tcp_script_advance(sc, other_entered + 2 * MSL - sc->now);
    ck_assert_uint_eq(tcp_conn_count(sc->s), 0);
    ck_assert_ptr_eq(sc->log[sc->nlog - 1].conn, other);
    tcp_script_free_checked(sc);
}
END_TEST

/* The record keeps the local port and the 4-tuple: bind() finds the port
 * in use, and connect() from unbound sockets to the same destination gets
 * every other port of the range but not that one (tcp_port.c, RFC 6056)
 * until the record expires. */
static void short_msl(struct tapir_config *cfg)
{
    cfg->msl = TAPIR_SEC(1);
    cfg->rto_initial = TAPIR_SEC(10);      /* no SYN retransmissions while the test waits */
}

START_TEST(local_port_is_not_handed_out_while_the_record_lives)
{
    struct tcp_script *sc = tcp_script_new(short_msl);
    struct tcp_conn *c = tcp_script_active_open(sc, PEER_ISS);
    uint16_t port = sc->local_port;
    tcp_close(c);
    tcp_script_expect(sc, TCP_FIN | TCP_ACK, sc->our_nxt, sc->peer_nxt, NULL);
    tcp_script_send(sc, TCP_FIN | TCP_ACK, sc->peer_nxt, sc->our_nxt + 1, 0, NULL, 0);
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt + 1, sc->peer_nxt + 1, NULL);
    ck_assert_uint_eq(tcp_timewait_count(sc->s), 1);
    tapir_time_t expiry = tapir_stack_next_deadline(sc->s);
    ck_assert_uint_eq(expiry, sc->now + TAPIR_SEC(2));

    int err;
    struct tcp_conn *b = tcp_conn_new(sc->s, &err);
    ck_assert_int_eq(tcp_bind(b, 0, port), -EADDRINUSE);
    tcp_set_reuseaddr(b, true);
    ck_assert_int_eq(tcp_bind(b, 0, port), 0);                  /* allowed, but the 4-tuple is taken */
    ck_assert_int_eq(tcp_connect(b, TCP_SCRIPT_PEER_IP, PEER_PORT), -EADDRNOTAVAIL);
    tcp_abort(b);

    sc->drop_output = true;
    const uint32_t range = TCP_EPHEMERAL_HI - TCP_EPHEMERAL_LO + 1;
    struct tcp_conn **conns = calloc(range, sizeof *conns);
    ck_assert_ptr_nonnull(conns);
    for (uint32_t i = 0; i < range - 1; i++) {
        conns[i] = tcp_conn_new(sc->s, &err);
        ck_assert_ptr_nonnull(conns[i]);
        ck_assert_int_eq(tcp_connect(conns[i], TCP_SCRIPT_PEER_IP, PEER_PORT), -EINPROGRESS);
        uint32_t ip;
        uint16_t p;
        tcp_local_addr(conns[i], &ip, &p);
        ck_assert_uint_ne(p, port);
    }
    struct tcp_conn *last = conns[range - 1] = tcp_conn_new(sc->s, &err);
    ck_assert_ptr_nonnull(last);
    ck_assert_int_eq(tcp_connect(last, TCP_SCRIPT_PEER_IP, PEER_PORT), -EADDRNOTAVAIL);
    tcp_script_advance(sc, expiry - 1 - sc->now);
    ck_assert_int_eq(tcp_connect(last, TCP_SCRIPT_PEER_IP, PEER_PORT), -EADDRNOTAVAIL);
    tcp_script_advance(sc, 1);
    ck_assert_uint_eq(tcp_timewait_count(sc->s), 0);
    ck_assert_int_eq(tcp_connect(last, TCP_SCRIPT_PEER_IP, PEER_PORT), -EINPROGRESS);
    uint32_t ip;
    uint16_t p;
    tcp_local_addr(last, &ip, &p);
    ck_assert_uint_eq(p, port);

    for (uint32_t i = 0; i < range; i++)
        tcp_abort(conns[i]);
    free(conns);
    sc->drop_output = false;
    tcp_script_finish(&sc, NULL);
}
END_TEST

/* Client churn: n connections opened and closed first, each left as a
 * record. Returns the script with them alive. */
static struct tcp_script *many_records(uint32_t n)
{
    struct tcp_script *sc = tcp_script_new(NULL);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t iss;
        struct tcp_conn *c = tcp_script_connect(sc, &iss);
        uint8_t o[24];
        size_t ol = opt_syn(o, PEER_TS0 + i, 0);
        tcp_script_inject_raw(sc, sc->peer_port, sc->local_port, PEER_ISS, iss + 1, TCP_SYN | TCP_ACK, 65535, o, ol,
                              NULL, 0);
        tcp_close(c);
        ol = opt_ts(o, PEER_TS0 + i + 1, 0);
        tcp_script_inject_raw(sc, sc->peer_port, sc->local_port, PEER_ISS + 1, iss + 2, TCP_FIN | TCP_ACK, 65535, o,
                              ol, NULL, 0);
        tcp_script_flush(sc);
    }
    ck_assert_uint_eq(tcp_timewait_count(sc->s), n);
    ck_assert_uint_eq(tcp_conn_count(sc->s), n);
    ck_assert_ptr_null(sc->s->tcp->all);
    ck_assert_uint_le(sc->s->tcp->nconn_spares, 64);
    return sc;
}

START_TEST(ten_thousand_records_hold_at_most_128_bytes_each)
{
    const uint32_t n = 10000;
    unsigned long expired_before = tcp_script_arcs[TAPIR_TCP_TIME_WAIT][TAPIR_TCP_CLOSED];
    struct tcp_script *sc = many_records(n);
    size_t mem = tcp_timewait_memory(sc->s);
    fprintf(stderr, "%u records hold %zu bytes (slab and 4-tuple table): %.1f bytes each; a tcp_conn is %zu\n", n,
            mem, (double)mem / n, sizeof(struct tcp_conn));
    ck_assert_uint_le(mem, (size_t)n * 128);
    /* They all expire 2*MSL later, each with its event, and the slab
     * gives its blocks back but one. */
    tcp_script_advance(sc, 2 * MSL);
    ck_assert_uint_eq(tcp_timewait_count(sc->s), 0);
    ck_assert_uint_eq(tcp_conn_count(sc->s), 0);
    ck_assert_uint_eq(tcp_script_arcs[TAPIR_TCP_TIME_WAIT][TAPIR_TCP_CLOSED] - expired_before, n);
    ck_assert_uint_le(tcp_timewait_memory(sc->s), 65536 + sc->s->tcp->tw.nbuckets * sizeof(void *));
    tcp_script_free_checked(sc);
}
END_TEST

/* tcp_destroy with records alive, a part of them inflated and compacted
 * again: nothing leaks (LeakSanitizer checks it in the sanitizer build). */
START_TEST(destroy_with_records_alive_frees_them)
{
    const uint32_t n = 2000;
    struct tcp_script *sc = many_records(n);
    struct { uint16_t lport, rport; uint32_t snd_nxt; } *to = calloc(n, sizeof *to);
    ck_assert_ptr_nonnull(to);
    uint32_t k = 0;
    for (const struct tcp_tw *e = sc->s->tcp->tw.head; e; e = e->fnext, k++) {
        to[k].lport = e->lport;
        to[k].rport = e->rport;
        to[k].snd_nxt = e->snd_nxt;
    }
    ck_assert_uint_eq(k, n);
    /* The peer's FIN again on every 7th: acknowledged, 2*MSL restarted. */
    uint32_t resent = 0;
    for (uint32_t i = 0; i < n; i += 7, resent++) {
        uint8_t o[12];
        size_t ol = opt_ts(o, PEER_TS0 + n + 10, 0);
        tcp_script_inject_raw(sc, to[i].rport, to[i].lport, PEER_ISS + 1, to[i].snd_nxt, TCP_FIN | TCP_ACK, 65535,
                              o, ol, NULL, 0);
    }
    free(to);
    ck_assert_uint_eq(tcp_script_pending(sc), resent);
    tcp_script_flush(sc);
    ck_assert_uint_eq(sc->s->stats.tcp_tw_inflated, resent);
    ck_assert_uint_eq(sc->s->stats.tcp_tw_compacted, n);
    ck_assert_uint_eq(tcp_timewait_count(sc->s), n);
    ck_assert_uint_eq(sc->s->pool.in_use, 0);
    tcp_script_free(sc);
}
END_TEST

/* ---- rebuild without memory -------------------------------------------------- */

#if defined(__SANITIZE_ADDRESS__)
#define NO_CALLOC_INTERPOSITION 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NO_CALLOC_INTERPOSITION 1
#endif
#endif

#ifndef NO_CALLOC_INTERPOSITION
/* In the normal build this program's calloc (which the tapir library in
 * it calls too) can refuse a connection block on demand; under
 * AddressSanitizer, which owns malloc, the test is skipped. */
static bool refuse_conn_calloc;
extern void *__libc_calloc(size_t n, size_t size);
void *calloc(size_t n, size_t size);
void *calloc(size_t n, size_t size)
{
    if (refuse_conn_calloc && n == 1 && size == sizeof(struct tcp_conn))
        return NULL;
    return __libc_calloc(n, size);
}
#endif

/* No memory to rebuild the connection: the segment is dropped (a named
 * drop), the record stays as it was. */
START_TEST(segment_for_a_record_without_memory_is_dropped)
{
#ifdef NO_CALLOC_INTERPOSITION
    fprintf(stderr, "skipped under AddressSanitizer (calloc cannot be interposed)\n");
#else
    struct twin tw;
    twin_new(&tw, NULL);
    twin_active_time_wait(&tw);
    struct tapir_stack *s = tw.sc[0]->s;
    tapir_time_t expiry = tapir_stack_next_deadline(s);
    /* Empty the spare pool, so the rebuild has to call calloc. */
    struct tcp_conn *held[64];
    uint32_t nheld = 0;
    int err;
    while (s->tcp->nconn_spares > 0) {
        ck_assert_uint_lt(nheld, 64);
        held[nheld++] = tcp_conn_new(s, &err);
    }
    twin_advance(&tw, TAPIR_SEC(1));
    refuse_conn_calloc = true;
    tcp_script_inject_raw(tw.sc[0], tw.rport, tw.lport, tw.peer_nxt - 1, tw.our_nxt, TCP_FIN | TCP_ACK, 65535, NULL,
                          0, NULL, 0);
    refuse_conn_calloc = false;
    tcp_script_expect_none(tw.sc[0]);
    ck_assert_uint_eq(s->stats.drops[TAPIR_DROP_TCP_TIME_WAIT_NO_MEMORY], 1);
    ck_assert_uint_eq(tcp_timewait_count(s), 1);
    ck_assert_uint_eq(tapir_stack_next_deadline(s), expiry);   /* not restarted */
    /* With memory again, the retransmitted FIN gets its ACK. */
    uint8_t o[12];
    tcp_script_inject_raw(tw.sc[0], tw.rport, tw.lport, tw.peer_nxt - 1, tw.our_nxt, TCP_FIN | TCP_ACK, 65535, o,
                          opt_ts(o, tw.peer_ts + 5, tw.our_ts), NULL, 0);
    tcp_script_expect(tw.sc[0], TCP_ACK, tw.our_nxt, tw.peer_nxt, NULL);
    ck_assert_uint_eq(tcp_timewait_count(s), 1);
    for (uint32_t i = 0; i < nheld; i++)
        tcp_abort(held[i]);
    for (int i = 0; i < 2; i++)
        tcp_script_free(tw.sc[i]);
#endif
}
END_TEST

/* ---- hostile input ---------------------------------------------------------------- */

#define HOSTILE_CONNS 12
#define HOSTILE_SEGMENTS 3000

struct hostile_conn {
    uint16_t lport, rport;
    uint32_t peer_nxt, our_nxt, peer_ts, our_ts;
    bool no_ts;
};

static uint64_t rnd(uint64_t *x)
{
    *x ^= *x >> 12;
    *x ^= *x << 25;
    *x ^= *x >> 27;
    return *x * 0x2545f4914f6cdd1dull;
}
static uint32_t below(uint64_t *x, uint32_t n) { return (uint32_t)(rnd(x) % n); }

/* Random options: none, timestamps (near the peer's clock or anywhere),
 * SACK blocks, an MSS, window scale, or bytes that may not parse. */
static size_t hostile_options(uint64_t *x, const struct hostile_conn *h, uint8_t *o)
{
    size_t n = 0;
    switch (below(x, 6)) {
    case 0:
        return 0;
    case 1:
    case 2: {
        uint32_t val = below(x, 4) ? h->peer_ts + below(x, 2000) - 500 : (uint32_t)rnd(x);
        n = opt_ts(o, val, below(x, 2) ? h->our_ts : (uint32_t)rnd(x));
        break;
    }
    case 3: {
        n = opt_ts(o, h->peer_ts + below(x, 50), h->our_ts);
        uint8_t blocks = (uint8_t)(1 + below(x, 3));
        o[n++] = TCP_OPT_NOP;
        o[n++] = TCP_OPT_NOP;
        o[n++] = TCP_OPT_SACK;
        o[n++] = (uint8_t)(2 + 8 * blocks);
        for (uint8_t b = 0; b < blocks; b++) {
            uint32_t start = h->our_nxt - below(x, 3000) + (below(x, 2) ? 0 : 1000);
            put_be32(o + n, start);
            put_be32(o + n + 4, start + below(x, 2000));
            n += 8;
        }
        break;
    }
    case 4: {
        const uint8_t syn[8] = {TCP_OPT_MSS, 4, (uint8_t)below(x, 256), (uint8_t)below(x, 256),
                                TCP_OPT_NOP, TCP_OPT_WS, 3, (uint8_t)below(x, 20)};
        memcpy(o, syn, sizeof syn);
        n = sizeof syn;
        break;
    }
    default:
        n = 4 * (1 + below(x, 10));
        for (size_t i = 0; i < n; i++)
            o[i] = (uint8_t)(below(x, 3) ? below(x, 10) : rnd(x));
        break;
    }
    return n;
}

static uint32_t hostile_seq(uint64_t *x, const struct hostile_conn *h)
{
    if (below(x, 40) == 0)
        return h->peer_nxt + 65536 + below(x, 1u << 20);    /* a new incarnation's SYN? */
    switch (below(x, 7)) {
    case 0: return h->peer_nxt;
    case 1: return h->peer_nxt - 1;
    case 2: return h->peer_nxt - 1 - below(x, 300);
    case 3: return h->peer_nxt + below(x, 70000);
    case 4: return h->peer_nxt - below(x, 1u << 30);
    default: return (uint32_t)rnd(x);
    }
}

static uint32_t hostile_ack(uint64_t *x, const struct hostile_conn *h)
{
    switch (below(x, 6)) {
    case 0: return h->our_nxt;
    case 1: return h->our_nxt - below(x, 100);
    case 2: return h->our_nxt + below(x, 100);
    case 3: return h->our_nxt - 70000 - below(x, 1u << 20);
    default: return (uint32_t)rnd(x);
    }
}

static void hostile_run(uint64_t seed)
{
    fprintf(stderr, "hostile seed %" PRIu64 ": %d connections, %d segments\n", seed, HOSTILE_CONNS,
            HOSTILE_SEGMENTS);
    uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
    struct twin tw;
    twin_new(&tw, NULL);
    struct hostile_conn h[HOSTILE_CONNS];
    /* Records of both kinds, with and without timestamps: servers on port
     * 80 (whose listener stays, so a SYN may reopen them) and clients. */
    for (int k = 0; k < HOSTILE_CONNS; k++) {
        tw.no_ts = k % 3 == 2;
        tw.peer_ts = PEER_TS0 + (uint32_t)k * 1000;
        tw.our_ts = 0;
        if (k % 2 == 0) {
            tw.rport = (uint16_t)(PEER_PORT + k);
            twin_passive_time_wait(&tw);
        } else {
            for (int i = 0; i < 2; i++)
                tw.sc[i]->peer_port = (uint16_t)(PEER_PORT + 100 + k);
            twin_active_time_wait(&tw);
        }
        h[k] = (struct hostile_conn){tw.lport, tw.rport, tw.peer_nxt, tw.our_nxt, tw.peer_ts, tw.our_ts, tw.no_ts};
        twin_advance(&tw, TAPIR_MSEC(below(&x, 3000)));
        twin_same_output(&tw, NULL);
    }
    ck_assert_uint_eq(records(&tw), HOSTILE_CONNS);
    /* Not the identities: the compacting stack reused the blocks of the
     * first connections for the next ones (see tapir.h). */
    twin_check(&tw, false);

    static const uint8_t junk[40] = "hostile payload in TIME_WAIT";
    for (int i = 0; i < HOSTILE_SEGMENTS; i++) {
        struct hostile_conn *c = &h[below(&x, HOSTILE_CONNS)];
        uint8_t flags = (uint8_t)(below(&x, 5) ? TCP_ACK : 0);
        static const uint8_t more[] = {TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_URG};
        for (size_t f = 0; f < sizeof more; f++)
            if (below(&x, 6) == 0)
                flags |= more[f];
        if (below(&x, 10) == 0)
            flags = (uint8_t)rnd(&x);
        uint8_t o[40];
        size_t ol = hostile_options(&x, c, o);
        size_t len = below(&x, 3) ? 0 : below(&x, sizeof junk);
        tw.lport = c->lport;
        tw.rport = c->rport;
        if (below(&x, 4) == 0)
            c->peer_ts += below(&x, 100);
        twin_send(&tw, flags, hostile_seq(&x, c), hostile_ack(&x, c), o, ol, junk, len);
        struct tcp_script_out last;
        if (twin_same_output(&tw, &last) && last.seg.has_ts && last.seg.dport == c->rport)
            c->our_ts = last.seg.tsval;
        uint32_t r = below(&x, 1000);
        if (r < 30)
            twin_advance(&tw, TAPIR_MSEC(below(&x, 300)));
        else if (r < 40 && i > HOSTILE_SEGMENTS * 4 / 5)
            twin_advance(&tw, TAPIR_SEC(5 + below(&x, 20)));       /* towards the end, they expire */
        twin_same_output(&tw, NULL);
        if (i % 100 == 0)
            twin_check(&tw, false);
        ck_assert_uint_le(records(&tw), HOSTILE_CONNS);
    }
    twin_check(&tw, false);
    fprintf(stderr, "hostile seed %" PRIu64 ": %" PRIu64 " inflated, %" PRIu64 " compacted, %u records left\n", seed,
            tw.sc[0]->s->stats.tcp_tw_inflated, tw.sc[0]->s->stats.tcp_tw_compacted, records(&tw));
    /* Most segments found a record (some reopened, or expired, on the way). */
    ck_assert_uint_gt(tw.sc[0]->s->stats.tcp_tw_inflated, HOSTILE_SEGMENTS / 3);
    twin_finish(&tw);
}

START_TEST(hostile_segments_at_records_behave_as_at_full_connections)
{
    hostile_run((uint64_t)_i + 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tcp_timewait_compact");
    TCase *t = tcase_create("records");
    tcase_add_test(t, orphan_in_time_wait_becomes_a_compact_record);
    tcase_add_test(t, passive_close_in_time_wait_is_compacted_too);
    tcase_add_test(t, retransmitted_fin_is_acked_as_before_and_restarts_2msl);
    tcase_add_test(t, rst_is_ignored_rfc1337);
    tcase_add_test(t, old_duplicate_fails_paws_and_is_acked);
    tcase_add_test(t, unacceptable_segments_are_acked_as_before);
    tcase_add_test(t, syn_with_higher_seq_reopens_through_the_listener);
    tcase_add_test(t, syn_with_lower_seq_does_not_reopen);
    tcase_add_test(t, expiry_is_exactly_2msl_and_next_deadline_says_so);
    tcase_add_test(t, owner_held_time_wait_is_compacted_at_close);
    tcase_add_test(t, local_port_is_not_handed_out_while_the_record_lives);
    tcase_add_test(t, segment_for_a_record_without_memory_is_dropped);
    suite_add_tcase(s, t);
    t = tcase_create("memory");
    tcase_add_test(t, ten_thousand_records_hold_at_most_128_bytes_each);
    tcase_add_test(t, destroy_with_records_alive_frees_them);
    suite_add_tcase(s, t);
    t = tcase_create("hostile");
    tcase_add_loop_test(t, hostile_segments_at_records_behave_as_at_full_connections, 0, 4);
    suite_add_tcase(s, t);
    return harness_run(s);
}
