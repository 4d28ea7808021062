/* The scripted peer for TCP tests (see tcp_script.h). */
#include "tcp_script.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/checksum.h"
#include "core/stack.h"
#include "core/tcp.h"
#include "core/wire.h"
#include "harness.h"
#include "net_frames.h"

unsigned long tcp_script_arcs[TAPIR_TCP__STATE_COUNT][TAPIR_TCP__STATE_COUNT];

/* Room for one more emitted segment: the ring starts small and doubles up
 * to TCP_SCRIPT_MAX_OUT (tests make thousands of scripts, most of which see
 * a handful of segments). */
static void out_grow(struct tcp_script *sc)
{
    if (sc->out_cap >= TCP_SCRIPT_MAX_OUT)
        ck_abort_msg("too many segments left unexamined");
    size_t cap = sc->out_cap ? sc->out_cap * 2 : 16;
    struct tcp_script_out *out = malloc(cap * sizeof *out);   /* written before read */
    ck_assert_ptr_nonnull(out);
    for (size_t i = 0; i < sc->out_len; i++) {
        out[i] = sc->out[(sc->out_head + i) % sc->out_cap];
        out[i].seg.data = out[i].payload;
    }
    free(sc->out);
    sc->out = out;
    sc->out_cap = cap;
    sc->out_head = 0;
}

static int capture(void *ctx, const uint8_t *frame, size_t len)
{
    struct tcp_script *sc = ctx;
    if (sc->drop_output)
        return 0;
    struct ipv4_repr ip;
    enum tapir_drop_reason why;
    if (ipv4_parse(frame, len, &ip, &why) < 0 || ip.proto != IPPROTO_TCP_NUM) {
        sc->non_tcp++;
        return 0;
    }
    if (sc->out_len == sc->out_cap)
        out_grow(sc);
    struct tcp_script_out *o = &sc->out[(sc->out_head + sc->out_len) % sc->out_cap];
    const uint8_t *seg = frame + ip.ihl;
    size_t slen = ip.total_len - ip.ihl;
    ck_assert_msg(slen <= sizeof o->payload + 60, "segment larger than any MTU we use");
    int rc = tcp_parse(seg, slen, ip.src, ip.dst, &o->seg, &why);
    ck_assert_msg(rc == 0, "stack emitted a malformed TCP segment (%s)", tapir_drop_reason_name(why));
    memcpy(o->payload, o->seg.data, o->seg.len);
    o->seg.data = o->payload;
    o->src = ip.src;
    o->dst = ip.dst;
    o->tos = ip.tos;
    o->ttl = ip.ttl;
    o->when = sc->now;
    sc->out_len++;
    return 0;
}

static void hook(void *ctx, const struct tapir_state_change *ch)
{
    struct tcp_script *sc = ctx;
    tcp_script_arcs[ch->from][ch->to]++;
    if (sc->nlog < TCP_SCRIPT_MAX_LOG)
        sc->log[sc->nlog++] = (struct tcp_script_change){ch->from, ch->to, ch->conn, ch->cause, ch->when};
}

struct tcp_script *tcp_script_new(void (*tweak)(struct tapir_config *cfg))
{
    struct tcp_script *sc = calloc(1, sizeof *sc);
    ck_assert_ptr_nonnull(sc);
    struct tapir_config cfg;
    harness_config(&cfg, "10.0.0.2", TAPIR_LINK_IP);
    if (tweak)
        tweak(&cfg);
    ck_assert_int_eq(tapir_stack_create(&cfg, &sc->s), 0);
    tapir_stack_set_output(sc->s, capture, sc);
    tapir_stack_set_state_hook(sc->s, hook, sc);
    sc->now = TAPIR_SEC(1000);
    sc->s->now = sc->now;
    sc->peer_port = 40000;
    sc->local_port = 80;
    sc->peer_wnd = 65535;
    return sc;
}

void tcp_script_free(struct tcp_script *sc)
{
    if (!sc)
        return;
    tapir_stack_destroy(sc->s);
    free(sc->out);
    free(sc);
}

void tcp_script_free_checked(struct tcp_script *sc)
{
    uint32_t conns = tcp_conn_count(sc->s);
    uint32_t bufs = sc->s->pool.in_use;
    if (conns)
        tcp_script_dump_log(sc);
    tcp_script_free(sc);
    ck_assert_msg(conns == 0, "%u connection(s) leaked", conns);
    ck_assert_msg(bufs == 0, "%u packet buffer(s) leaked", bufs);
}

void tcp_script_inject_ip_payload(struct tcp_script *sc, const uint8_t *tcp, size_t len)
{
    uint8_t *pkt = malloc(len + 60);
    ck_assert_ptr_nonnull(pkt);
    struct net_ip_spec sp;
    net_ipv4_defaults(&sp, TCP_SCRIPT_PEER_IP, TCP_SCRIPT_US_IP, IPPROTO_TCP_NUM);
    size_t n = net_ipv4_build(pkt, &sp, tcp, len);
    tapir_stack_input(sc->s, pkt, n, sc->now);
    free(pkt);
}

/* A TCP header (urgent pointer urp) and data from the peer, checksummed. */
static void inject_segment(struct tcp_script *sc, uint16_t sport, uint16_t dport, uint32_t seq,
                           uint32_t ack, uint8_t flags, uint16_t wnd, uint16_t urp,
                           const uint8_t *opts, size_t optlen, const uint8_t *data, size_t len)
{
    ck_assert(optlen % 4 == 0 && optlen <= 40);
    size_t hl = 20 + optlen;
    uint8_t *seg = calloc(1, hl + len + 1);
    ck_assert_ptr_nonnull(seg);
    put_be16(seg, sport);
    put_be16(seg + 2, dport);
    put_be32(seg + 4, seq);
    put_be32(seg + 8, ack);
    seg[12] = (uint8_t)((hl / 4) << 4);
    seg[13] = flags;
    put_be16(seg + 14, wnd);
    put_be16(seg + 18, urp);
    if (optlen)
        memcpy(seg + 20, opts, optlen);
    if (len)
        memcpy(seg + hl, data, len);
    uint32_t sum = csum_pseudo_ipv4(TCP_SCRIPT_PEER_IP, TCP_SCRIPT_US_IP, IPPROTO_TCP_NUM, (uint16_t)(hl + len));
    put_be16(seg + 16, csum_fold(csum_partial(seg, hl + len, sum)));
    tcp_script_inject_ip_payload(sc, seg, hl + len);
    free(seg);
}

void tcp_script_inject_raw(struct tcp_script *sc, uint16_t sport, uint16_t dport, uint32_t seq,
                           uint32_t ack, uint8_t flags, uint16_t wnd, const uint8_t *opts,
                           size_t optlen, const uint8_t *data, size_t len)
{
    inject_segment(sc, sport, dport, seq, ack, flags, wnd, 0, opts, optlen, data, len);
}

void tcp_script_send_urg(struct tcp_script *sc, uint8_t flags, uint32_t seq, uint32_t ack,
                         uint16_t urp, const void *data, size_t len)
{
    inject_segment(sc, sc->peer_port, sc->local_port, seq, ack, flags, sc->peer_wnd, urp, NULL, 0,
                   data, len);
}

void tcp_script_send(struct tcp_script *sc, uint8_t flags, uint32_t seq, uint32_t ack,
                     uint16_t mss, const void *data, size_t len)
{
    uint8_t opt[4] = {TCP_OPT_MSS, 4, (uint8_t)(mss >> 8), (uint8_t)mss};
    tcp_script_inject_raw(sc, sc->peer_port, sc->local_port, seq, ack, flags, sc->peer_wnd,
                          mss ? opt : NULL, mss ? 4 : 0, data, len);
}

void tcp_script_finish(struct tcp_script **sc, struct tcp_conn **c)
{
    if (c && *c) {
        tcp_abort(*c);
        *c = NULL;
    }
    if (*sc) {
        tcp_script_advance(*sc, TAPIR_SEC(1800));
        tcp_script_flush(*sc);
        tcp_script_free_checked(*sc);
        *sc = NULL;
    }
}

size_t tcp_script_sack_option(uint8_t *o, uint32_t base, uint8_t n, const struct tcp_script_block *b)
{
    ck_assert_uint_le(n, 4);
    if (n == 0)
        return 0;
    size_t len = 0;
    o[len++] = TCP_OPT_NOP;
    o[len++] = TCP_OPT_NOP;
    o[len++] = TCP_OPT_SACK;
    o[len++] = (uint8_t)(2 + 8 * n);
    for (uint8_t i = 0; i < n; i++) {
        put_be32(o + len, base + b[i].start);
        put_be32(o + len + 4, base + b[i].end);
        len += 8;
    }
    return len;
}

void tcp_script_transfer_acked(struct tcp_script *sc, struct tcp_conn *c, const uint8_t *data,
                               uint32_t bytes, tapir_time_t rtt)
{
    ck_assert_int_eq(tcp_send(c, data, bytes), (long)bytes);
    uint32_t end = sc->our_nxt + bytes;
    uint32_t acks[64];
    for (int round = 0; round < 32 && sc->our_nxt != end; round++) {
        size_t n = 0;
        struct tcp_script_out o;
        while (n < 64 && tcp_script_next(sc, &o))
            acks[n++] = o.seg.seq + o.seg.len;
        tcp_script_advance(sc, rtt);
        for (size_t i = 0; i < n; i++) {
            tcp_script_send(sc, TCP_ACK, sc->peer_nxt, acks[i], 0, NULL, 0);
            sc->our_nxt = acks[i];
        }
    }
    ck_assert_uint_eq(sc->our_nxt, end);
    tcp_script_flush(sc);
}

bool tcp_script_next(struct tcp_script *sc, struct tcp_script_out *out)
{
    if (sc->out_len == 0)
        return false;
    struct tcp_script_out *o = &sc->out[sc->out_head];
    if (out) {
        *out = *o;
        out->seg.data = out->payload;
    }
    sc->out_head = (sc->out_head + 1) % sc->out_cap;
    sc->out_len--;
    return true;
}

static void flags_str(uint8_t f, char *buf, size_t n)
{
    snprintf(buf, n, "%s%s%s%s%s", f & TCP_SYN ? "S" : "", f & TCP_ACK ? "A" : "",
             f & TCP_FIN ? "F" : "", f & TCP_RST ? "R" : "", f & TCP_PSH ? "P" : "");
}

static void expect(struct tcp_script *sc, uint8_t flags, bool check_seq, uint32_t seq, uint32_t ack,
                   struct tcp_script_out *out);

void tcp_script_expect(struct tcp_script *sc, uint8_t flags, uint32_t seq, uint32_t ack,
                       struct tcp_script_out *out)
{
    expect(sc, flags, true, seq, ack, out);
}

void tcp_script_expect_anyseq(struct tcp_script *sc, uint8_t flags, uint32_t ack, struct tcp_script_out *out)
{
    expect(sc, flags, false, 0, ack, out);
}

static void expect(struct tcp_script *sc, uint8_t flags, bool check_seq, uint32_t seq, uint32_t ack,
                   struct tcp_script_out *out)
{
    struct tcp_script_out o;
    char want[8], got[8];
    flags_str(flags, want, sizeof want);
    ck_assert_msg(tcp_script_next(sc, &o), "expected a segment [%s] seq %u, none was sent", want, seq);
    flags_str(o.seg.flags, got, sizeof got);
    /* PSH is advisory: compare it only when the expectation asks for it. */
    uint8_t mask = (uint8_t)~(flags & TCP_PSH ? 0 : TCP_PSH);
    ck_assert_msg((o.seg.flags & mask) == flags, "flags [%s], expected [%s] (seq %u ack %u)", got, want,
                  o.seg.seq, o.seg.ack);
    if (check_seq)
        ck_assert_msg(o.seg.seq == seq, "seq %u, expected %u [%s]", o.seg.seq, seq, got);
    if (flags & TCP_ACK)
        ck_assert_msg(o.seg.ack == ack, "ack %u, expected %u [%s]", o.seg.ack, ack, got);
    ck_assert_uint_eq(o.src, TCP_SCRIPT_US_IP);
    if (out) {
        *out = o;
        out->seg.data = out->payload;
    }
}

void tcp_script_expect_none(struct tcp_script *sc)
{
    struct tcp_script_out o;
    if (tcp_script_next(sc, &o)) {
        char got[8];
        flags_str(o.seg.flags, got, sizeof got);
        ck_abort_msg("unexpected segment [%s] seq %u ack %u len %u", got, o.seg.seq, o.seg.ack, o.seg.len);
    }
}

void tcp_script_flush(struct tcp_script *sc)
{
    sc->out_head = 0;
    sc->out_len = 0;
}

size_t tcp_script_pending(const struct tcp_script *sc)
{
    return sc->out_len;
}

void tcp_script_advance(struct tcp_script *sc, tapir_time_t dt)
{
    tapir_time_t end = sc->now + dt;
    for (int guard = 0; guard < 1000000; guard++) {
        tapir_time_t d = tapir_stack_next_deadline(sc->s);
        if (d > end)
            break;
        if (d > sc->now)
            sc->now = d;
        tapir_stack_poll(sc->s, sc->now);
    }
    sc->now = end;
    sc->s->now = end;
}

tapir_time_t tcp_script_advance_to_next(struct tcp_script *sc, tapir_time_t limit)
{
    tapir_time_t d = tapir_stack_next_deadline(sc->s);
    ck_assert_msg(d != TAPIR_TIME_NEVER && d <= sc->now + limit, "no timer due within the limit");
    if (d > sc->now)
        sc->now = d;
    tapir_stack_poll(sc->s, sc->now);
    return sc->now;
}

struct tcp_conn *tcp_script_listen(struct tcp_script *sc, uint16_t port, int backlog)
{
    int err;
    struct tcp_conn *l = tcp_conn_new(sc->s, &err);
    ck_assert_ptr_nonnull(l);
    ck_assert_int_eq(tcp_bind(l, 0, port), 0);
    ck_assert_int_eq(tcp_listen(l, backlog), 0);
    return l;
}

struct tcp_conn *tcp_script_passive_open_sack(struct tcp_script *sc, uint16_t port, uint32_t peer_iss,
                                              uint16_t mss, bool sack)
{
    struct tcp_conn *l = tcp_script_listen(sc, port, 4);
    sc->local_port = port;
    const uint8_t syn_opts[8] = {TCP_OPT_MSS, 4, (uint8_t)(mss >> 8), (uint8_t)mss, TCP_OPT_NOP, TCP_OPT_NOP,
                                 sack ? TCP_OPT_SACK_PERM : TCP_OPT_NOP, sack ? 2 : TCP_OPT_NOP};
    tcp_script_inject_raw(sc, sc->peer_port, sc->local_port, peer_iss, 0, TCP_SYN, sc->peer_wnd, syn_opts,
                          sizeof syn_opts, NULL, 0);
    struct tcp_script_out o;
    tcp_script_expect_anyseq(sc, TCP_SYN | TCP_ACK, peer_iss + 1, &o);
    ck_assert(o.seg.sack_perm == sack);
    sc->our_nxt = o.seg.seq + 1;
    sc->peer_nxt = peer_iss + 1;
    tcp_script_send(sc, TCP_ACK, sc->peer_nxt, sc->our_nxt, 0, NULL, 0);
    struct tcp_conn *c = NULL;
    ck_assert_int_eq(tcp_accept(l, &c), 0);
    tcp_close(l);
    return c;
}

void tcp_script_expect_data(struct tcp_script *sc, uint32_t seq, const uint8_t *data, uint32_t len)
{
    struct tcp_script_out o;
    ck_assert_msg(tcp_script_next(sc, &o), "expected a segment at %u, nothing was sent", seq);
    ck_assert_msg(o.seg.seq == seq, "expected the segment at %u, got %u (len %u)", seq, o.seg.seq, o.seg.len);
    ck_assert_uint_eq(o.seg.len, len);
    ck_assert_mem_eq(o.seg.data, data, len);
}

struct tcp_conn *tcp_script_connect(struct tcp_script *sc, uint32_t *iss)
{
    int err;
    struct tcp_conn *c = tcp_conn_new(sc->s, &err);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(tcp_connect(c, TCP_SCRIPT_PEER_IP, sc->peer_port), -EINPROGRESS);
    uint32_t ip;
    uint16_t port;
    tcp_local_addr(c, &ip, &port);
    sc->local_port = port;
    struct tcp_script_out o;
    ck_assert(tcp_script_next(sc, &o));
    ck_assert_uint_eq(o.seg.flags, TCP_SYN);
    ck_assert(o.seg.has_mss);
    *iss = o.seg.seq;
    return c;
}

struct tcp_conn *tcp_script_active_open(struct tcp_script *sc, uint32_t peer_iss)
{
    uint32_t iss;
    struct tcp_conn *c = tcp_script_connect(sc, &iss);
    tcp_script_send(sc, TCP_SYN | TCP_ACK, peer_iss, iss + 1, 1460, NULL, 0);
    tcp_script_expect(sc, TCP_ACK, iss + 1, peer_iss + 1, NULL);
    ck_assert_int_eq(tcp_state(c), TAPIR_TCP_ESTABLISHED);
    sc->peer_nxt = peer_iss + 1;
    sc->our_nxt = iss + 1;
    return c;
}

struct tcp_conn *tcp_script_passive_open(struct tcp_script *sc, uint32_t peer_iss, struct tcp_conn **listener)
{
    struct tcp_conn *l = tcp_script_listen(sc, sc->local_port, 16);
    tcp_script_send(sc, TCP_SYN, peer_iss, 0, 1460, NULL, 0);
    struct tcp_script_out o;
    tcp_script_expect_anyseq(sc, TCP_SYN | TCP_ACK, peer_iss + 1, &o);
    uint32_t iss = o.seg.seq;
    ck_assert(o.seg.has_mss);
    tcp_script_send(sc, TCP_ACK, peer_iss + 1, iss + 1, 0, NULL, 0);
    struct tcp_conn *c = NULL;
    ck_assert_int_eq(tcp_accept(l, &c), 0);
    ck_assert_int_eq(tcp_state(c), TAPIR_TCP_ESTABLISHED);
    sc->peer_nxt = peer_iss + 1;
    sc->our_nxt = iss + 1;
    if (listener)
        *listener = l;
    else
        tcp_close(l);
    return c;
}

void tcp_script_close_cleanly(struct tcp_script *sc, struct tcp_conn *c)
{
    tcp_close(c);
    struct tcp_script_out o;
    while (tcp_script_next(sc, &o)) {
        if (o.seg.flags & TCP_FIN) {
            uint32_t fin_seq = o.seg.seq + o.seg.len;
            tcp_script_send(sc, TCP_FIN | TCP_ACK, sc->peer_nxt, fin_seq + 1, 0, NULL, 0);
            sc->peer_nxt++;
        }
    }
    tcp_script_flush(sc);
    tcp_script_advance(sc, 2 * sc->s->cfg.msl + TAPIR_SEC(1));
    tcp_script_flush(sc);
}

bool tcp_script_saw(const struct tcp_script *sc, enum tapir_tcp_state from, enum tapir_tcp_state to)
{
    for (size_t i = 0; i < sc->nlog; i++)
        if (sc->log[i].from == from && sc->log[i].to == to)
            return true;
    return false;
}

void tcp_script_dump_log(const struct tcp_script *sc)
{
    for (size_t i = 0; i < sc->nlog; i++)
        fprintf(stderr, "  %p %-12s -> %-12s (%s) at %llu\n", sc->log[i].conn,
                tapir_tcp_state_name(sc->log[i].from), tapir_tcp_state_name(sc->log[i].to),
                sc->log[i].cause, (unsigned long long)sc->log[i].when);
}
