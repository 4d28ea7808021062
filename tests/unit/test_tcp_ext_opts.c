/* Scripted tests of the TCP extensions against a peer whose options we
 * choose: negotiation of window scale, timestamps and SACK-permitted on
 * both kinds of open, fallback when the peer's SYN lacks each, the
 * effective MSS, TS.Recent and the echo rule, PAWS (RFC 7323 5) with the
 * 24-day rule, RTT samples from TSecr, SACK blocks generated for
 * out-of-order data (RFC 2018 4), and a SACK sender that retransmits only
 * the holes (RFC 6675). */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/stack.h"
#include "core/tcp.h"
#include "core/tcp_conn.h"
#include "core/wire.h"
#include "tcp_script.h"
#include "harness.h"

#define PEER_ISS 0xfffff000u

static struct tcp_script *sc;
static struct tcp_conn *conn;
static uint8_t pattern[64 * 1024];

/* What the peer puts in its segments. */
struct peer_opts {
    uint16_t mss;           /* 0: none */
    int ws;                 /* -1: none */
    bool sack_perm;
    bool ts;
    uint32_t tsval, tsecr;
    uint8_t nsack;
    uint32_t sack[4][2];
};

static size_t build_opts(const struct peer_opts *po, uint8_t *o)
{
    size_t n = 0;
    if (po->mss) {
        o[n++] = TCP_OPT_MSS;
        o[n++] = 4;
        put_be16(o + n, po->mss);
        n += 2;
    }
    if (po->ws >= 0) {
        o[n++] = TCP_OPT_NOP;
        o[n++] = TCP_OPT_WS;
        o[n++] = 3;
        o[n++] = (uint8_t)po->ws;
    }
    if (po->sack_perm) {
        o[n++] = TCP_OPT_NOP;
        o[n++] = TCP_OPT_NOP;
        o[n++] = TCP_OPT_SACK_PERM;
        o[n++] = 2;
    }
    if (po->ts) {
        o[n++] = TCP_OPT_NOP;
        o[n++] = TCP_OPT_NOP;
        o[n++] = TCP_OPT_TS;
        o[n++] = 10;
        put_be32(o + n, po->tsval);
        put_be32(o + n + 4, po->tsecr);
        n += 8;
    }
    if (po->nsack) {
        o[n++] = TCP_OPT_NOP;
        o[n++] = TCP_OPT_NOP;
        o[n++] = TCP_OPT_SACK;
        o[n++] = (uint8_t)(2 + 8 * po->nsack);
        for (int i = 0; i < po->nsack; i++) {
            put_be32(o + n, po->sack[i][0]);
            put_be32(o + n + 4, po->sack[i][1]);
            n += 8;
        }
    }
    ck_assert(n % 4 == 0 && n <= 40);
    return n;
}

static void inject(uint8_t flags, uint32_t seq, uint32_t ack, const struct peer_opts *po, const void *data, size_t len)
{
    uint8_t o[40];
    size_t n = po ? build_opts(po, o) : 0;
    tcp_script_inject_raw(sc, sc->peer_port, sc->local_port, seq, ack, flags, sc->peer_wnd, o, n, data, len);
}

static void fill_pattern(void)
{
    for (size_t i = 0; i < sizeof pattern; i++)
        pattern[i] = (uint8_t)(i * 7 + (i >> 9));
}

/* The next segment that carries data or flags other than ACK (window
 * updates after the handshake are skipped). */
static void expect_data(uint32_t seq, uint32_t ack, struct tcp_script_out *o)
{
    for (;;) {
        ck_assert_msg(tcp_script_next(sc, o), "expected data at seq %u, none was sent", seq);
        if (o->seg.len == 0 && o->seg.flags == TCP_ACK)
            continue;
        ck_assert_uint_eq(o->seg.seq, seq);
        ck_assert_uint_eq(o->seg.ack, ack);
        return;
    }
}

static void teardown(void)
{
    tcp_script_finish(&sc, &conn);
}

static void no_ts(struct tapir_config *cfg) { cfg->tcp_timestamps = false; }
static void no_sack(struct tapir_config *cfg) { cfg->tcp_sack = false; }

/* Passive open: the peer's SYN carries po; returns our SYN,ACK. The final
 * ACK carries ts (if po->ts) with TSecr echoing our TSval. */
static struct tcp_script_out passive(void (*tweak)(struct tapir_config *), struct peer_opts po)
{
    fill_pattern();
    sc = tcp_script_new(tweak);
    struct tcp_conn *l = tcp_script_listen(sc, 80, 4);
    inject(TCP_SYN, PEER_ISS, 0, &po, NULL, 0);
    struct tcp_script_out o;
    tcp_script_expect_anyseq(sc, TCP_SYN | TCP_ACK, PEER_ISS + 1, &o);
    sc->our_nxt = o.seg.seq + 1;
    sc->peer_nxt = PEER_ISS + 1;
    struct peer_opts ack = {.ws = -1, .ts = po.ts && o.seg.has_ts, .tsval = po.tsval + 1, .tsecr = o.seg.tsval};
    inject(TCP_ACK, sc->peer_nxt, sc->our_nxt, &ack, NULL, 0);
    ck_assert_int_eq(tcp_accept(l, &conn), 0);
    tcp_close(l);
    return o;
}

static const struct peer_opts ALL = {.mss = 1460, .ws = 7, .sack_perm = true, .ts = true, .tsval = 5000};

START_TEST(syn_ack_agrees_to_everything_the_peer_offers)
{
    struct tcp_script_out o = passive(NULL, ALL);
    ck_assert(o.seg.has_mss);
    ck_assert(o.seg.has_ws);
    ck_assert(o.seg.sack_perm);
    ck_assert(o.seg.has_ts);
    ck_assert_uint_eq(o.seg.tsecr, 5000);            /* echoes the SYN's TSval */
    ck_assert_uint_eq(o.seg.hdr_len, 40);
    struct tapir_tcp_info info;
    tcp_get_info(conn, &info);
    ck_assert_uint_eq(info.options, TAPIR_TCPI_OPT_TIMESTAMPS | TAPIR_TCPI_OPT_SACK | TAPIR_TCPI_OPT_WSCALE);
    ck_assert_uint_eq(info.snd_wscale, 7);
    ck_assert_uint_eq(info.snd_mss, 1460 - 12);     /* timestamps cost 12 bytes a segment */
    ck_assert_str_eq(info.congestion, "cubic");
    /* Data: full segments carry 1448 bytes plus the 12-byte TSopt. */
    ck_assert_int_eq(tcp_send(conn, pattern, 3000), 3000);
    struct tcp_script_out d;
    expect_data(sc->our_nxt, sc->peer_nxt, &d);
    ck_assert_uint_eq(d.seg.len, 1448);
    ck_assert_uint_eq(d.seg.hdr_len, 32);
    ck_assert(d.seg.has_ts);
    ck_assert_uint_eq(d.seg.tsecr, 5001);            /* TS.Recent from the handshake's ACK */
    ck_assert(!d.seg.sack_perm);
}
END_TEST

/* The handshake's unscaled 65535 (RFC 7323 2.2) grows to the scaled window
 * once established; that alone sends nothing (it used to cost a pure window
 * update per passive open), and the first ACK we owe announces it. */
START_TEST(no_window_update_of_its_own_after_the_handshake)
{
    struct tcp_script_out o = passive(NULL, ALL);
    ck_assert_uint_eq(o.seg.wnd, 65535);
    tcp_script_expect_none(sc);
    /* Two full segments from the peer: the ACK owed at once (RFC 5681 4.2). */
    struct peer_opts ts = {.ws = -1, .ts = true, .tsval = 5002, .tsecr = o.seg.tsval};
    inject(TCP_ACK, sc->peer_nxt, sc->our_nxt, &ts, pattern, 1448);
    inject(TCP_ACK, sc->peer_nxt + 1448, sc->our_nxt, &ts, pattern + 1448, 1448);
    struct tcp_script_out a;
    ck_assert(tcp_script_next(sc, &a));
    ck_assert_uint_eq(a.seg.flags, TCP_ACK);
    ck_assert_uint_eq(a.seg.ack, sc->peer_nxt + 2 * 1448);
    uint32_t shift = tcp_wscale_for(256 * 1024);
    ck_assert_uint_eq((uint32_t)a.seg.wnd << shift, TCP_BUF_INITIAL - 2 * 1448);
    tcp_script_expect_none(sc);
}
END_TEST

START_TEST(syn_ack_falls_back_when_the_peer_offers_nothing)
{
    struct peer_opts po = {.mss = 1460, .ws = -1};
    struct tcp_script_out o = passive(NULL, po);
    ck_assert(!o.seg.has_ws);
    ck_assert(!o.seg.sack_perm);
    ck_assert(!o.seg.has_ts);
    ck_assert_uint_eq(o.seg.hdr_len, 24);
    struct tapir_tcp_info info;
    tcp_get_info(conn, &info);
    ck_assert_uint_eq(info.options, 0);
    ck_assert_uint_eq(info.snd_mss, 1460);
    ck_assert_int_eq(tcp_send(conn, pattern, 100), 100);
    struct tcp_script_out d;
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt, &d);
    ck_assert(!d.seg.has_ts);
    ck_assert_uint_eq(d.seg.hdr_len, 20);
}
END_TEST

START_TEST(each_option_falls_back_on_its_own)
{
    /* TS without SACK. */
    struct peer_opts po = ALL;
    po.sack_perm = false;
    struct tcp_script_out o = passive(NULL, po);
    ck_assert(o.seg.has_ts && !o.seg.sack_perm && o.seg.has_ws);
    ck_assert(conn->ts_ok && !conn->sack_ok);
    teardown();
    /* SACK without TS. */
    po = ALL;
    po.ts = false;
    o = passive(NULL, po);
    ck_assert(!o.seg.has_ts && o.seg.sack_perm && o.seg.has_ws);
    ck_assert(!conn->ts_ok && conn->sack_ok);
    ck_assert_uint_eq(o.seg.hdr_len, 32);
    teardown();
    /* Our side switched off: nothing agreed even though the peer offers. */
    o = passive(no_ts, ALL);
    ck_assert(!o.seg.has_ts && o.seg.sack_perm);
    teardown();
    o = passive(no_sack, ALL);
    ck_assert(o.seg.has_ts && !o.seg.sack_perm);
}
END_TEST

START_TEST(our_syn_offers_ts_sack_ws_and_uses_what_the_peer_echoes)
{
    fill_pattern();
    sc = tcp_script_new(NULL);
    int err;
    conn = tcp_conn_new(sc->s, &err);
    ck_assert_int_eq(tcp_connect(conn, TCP_SCRIPT_PEER_IP, sc->peer_port), -EINPROGRESS);
    uint32_t ip;
    tcp_local_addr(conn, &ip, &sc->local_port);
    struct tcp_script_out o;
    ck_assert(tcp_script_next(sc, &o));
    ck_assert_uint_eq(o.seg.flags, TCP_SYN);
    ck_assert(o.seg.has_mss && o.seg.has_ws && o.seg.sack_perm && o.seg.has_ts);
    ck_assert_uint_eq(o.seg.tsecr, 0);              /* RFC 7323 3.2: no ACK, TSecr 0 */
    ck_assert_uint_eq(o.seg.hdr_len, 40);
    uint32_t iss = o.seg.seq, our_ts = o.seg.tsval;
    tcp_script_advance(sc, TAPIR_MSEC(30));
    struct peer_opts po = {.mss = 1460, .ws = 2, .sack_perm = true, .ts = true, .tsval = 777, .tsecr = our_ts};
    inject(TCP_SYN | TCP_ACK, PEER_ISS, iss + 1, &po, NULL, 0);
    tcp_script_expect(sc, TCP_ACK, iss + 1, PEER_ISS + 1, &o);
    ck_assert(o.seg.has_ts);
    ck_assert_uint_eq(o.seg.tsecr, 777);
    ck_assert_uint_eq(o.seg.tsval - our_ts, 30);     /* a 1 ms clock */
    ck_assert(conn->ts_ok && conn->sack_ok && conn->ws_ok);
    ck_assert_uint_eq(conn->snd_wscale, 2);
}
END_TEST

START_TEST(syn_ack_without_options_means_none_are_used)
{
    fill_pattern();
    sc = tcp_script_new(NULL);
    conn = tcp_script_active_open(sc, PEER_ISS);    /* the peer's SYN,ACK has only MSS */
    ck_assert(!conn->ts_ok && !conn->sack_ok && !conn->ws_ok);
    ck_assert_int_eq(tcp_send(conn, pattern, 10), 10);
    struct tcp_script_out d;
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt, &d);
    ck_assert(!d.seg.has_ts && d.seg.nsack == 0);
    ck_assert_uint_eq(d.seg.hdr_len, 20);
}
END_TEST

/* ---- timestamps in ESTABLISHED -------------------------------------------- */

static uint32_t peer_ts;

static void open_ts(void)
{
    passive(NULL, ALL);
    peer_ts = 5001;
    tcp_script_flush(sc);
}

static void send_ts(uint32_t seq, uint32_t tsval, const void *data, size_t len)
{
    struct peer_opts po = {.ws = -1, .ts = true, .tsval = tsval, .tsecr = 1};
    inject(TCP_ACK, seq, sc->our_nxt, &po, data, len);
}

START_TEST(paws_drops_an_old_duplicate_and_acks)
{
    open_ts();
    send_ts(sc->peer_nxt, 6000, pattern, 100);
    sc->peer_nxt += 100;
    tcp_script_advance(sc, TAPIR_MSEC(300));
    tcp_script_flush(sc);
    /* An old duplicate whose sequence number happens to be in the window
     * (as after a wrap): its TSval is below TS.Recent. */
    uint64_t before = sc->s->stats.drops[TAPIR_DROP_TCP_PAWS];
    send_ts(sc->peer_nxt, 5999, pattern + 100, 100);
    ck_assert_uint_eq(sc->s->stats.drops[TAPIR_DROP_TCP_PAWS], before + 1);
    struct tcp_script_out o;
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt, &o);     /* R1: ACK, nothing taken */
    ck_assert_uint_eq(o.seg.tsecr, 6000);
    uint8_t buf[300];
    ck_assert_int_eq(tcp_recv(conn, buf, sizeof buf, false), 100);
    /* The same bytes with a current timestamp are accepted. */
    send_ts(sc->peer_nxt, 6001, pattern + 100, 100);
    ck_assert_int_eq(tcp_recv(conn, buf, sizeof buf, false), 100);
    ck_assert_mem_eq(buf, pattern + 100, 100);
    sc->peer_nxt += 100;
}
END_TEST

START_TEST(paws_forgets_ts_recent_after_24_days_idle)
{
    open_ts();
    send_ts(sc->peer_nxt, 0x70000000u, pattern, 10);
    sc->peer_nxt += 10;
    uint8_t buf[64];
    ck_assert_int_eq(tcp_recv(conn, buf, sizeof buf, false), 10);
    tcp_script_advance(sc, TAPIR_SEC(1));
    tcp_script_flush(sc);
    /* 23 days idle: still rejected. */
    tcp_script_advance(sc, TAPIR_SEC(23ull * 24 * 3600));
    send_ts(sc->peer_nxt, 0x10, pattern + 10, 10);
    ck_assert_int_eq(tcp_recv(conn, buf, sizeof buf, false), -EAGAIN);
    tcp_script_flush(sc);
    /* Past 24 days (RFC 7323 5.5): TS.Recent is invalid, the segment passes. */
    tcp_script_advance(sc, TAPIR_SEC(2ull * 24 * 3600));
    uint64_t paws = sc->s->stats.drops[TAPIR_DROP_TCP_PAWS];
    send_ts(sc->peer_nxt, 0x10, pattern + 10, 10);
    ck_assert_int_eq(tcp_recv(conn, buf, sizeof buf, false), 10);
    ck_assert_uint_eq(sc->s->stats.drops[TAPIR_DROP_TCP_PAWS], paws);
    sc->peer_nxt += 10;
    tcp_script_advance(sc, TAPIR_MSEC(300));
    struct tcp_script_out o;
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt, &o);
    ck_assert_uint_eq(o.seg.tsecr, 0x10);            /* the new reference */
}
END_TEST

START_TEST(segment_without_timestamp_is_dropped_silently)
{
    open_ts();
    uint64_t before = sc->s->stats.drops[TAPIR_DROP_TCP_NO_TIMESTAMP];
    inject(TCP_ACK, sc->peer_nxt, sc->our_nxt, NULL, pattern, 50);
    ck_assert_uint_eq(sc->s->stats.drops[TAPIR_DROP_TCP_NO_TIMESTAMP], before + 1);
    tcp_script_advance(sc, TAPIR_SEC(1));
    tcp_script_expect_none(sc);
    uint8_t buf[64];
    ck_assert_int_eq(tcp_recv(conn, buf, sizeof buf, false), -EAGAIN);
    /* A RST without TSopt still counts (RFC 7323 3.2). */
    inject(TCP_RST, sc->peer_nxt, 0, NULL, NULL, 0);
    ck_assert_int_eq(tcp_state(conn), TAPIR_TCP_CLOSED);
}
END_TEST

START_TEST(delayed_ack_echoes_the_earliest_unacknowledged_tsval)
{
    open_ts();
    /* RFC 7323 4.3 (A): two segments, one ACK: it echoes the first TSval. */
    send_ts(sc->peer_nxt, 7000, pattern, 1448);
    send_ts(sc->peer_nxt + 1448, 7001, pattern + 1448, 1448);
    sc->peer_nxt += 2896;
    struct tcp_script_out o;
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt, &o);
    ck_assert_uint_eq(o.seg.tsecr, 7000);
    /* (B)/(C): out of order data does not move TS.Recent; the segment that
     * fills the hole does. */
    send_ts(sc->peer_nxt + 1448, 7010, pattern + 2 * 1448 + 1448, 1448);
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt, &o);
    ck_assert_uint_eq(o.seg.tsecr, 7000);
    send_ts(sc->peer_nxt, 7005, pattern + 2 * 1448, 1448);
    sc->peer_nxt += 2 * 1448;
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt, &o);
    ck_assert_uint_eq(o.seg.tsecr, 7005);
}
END_TEST

/* 1000 bytes sent (*o) and lost: the RTO (1 s initial) resends them (*r). */
static void send_lost_once(struct tcp_script_out *o, struct tcp_script_out *r)
{
    ck_assert_int_eq(tcp_send(conn, pattern, 1000), 1000);
    expect_data(sc->our_nxt, sc->peer_nxt, o);
    tcp_script_advance_to_next(sc, TAPIR_SEC(2));
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt, r);
    ck_assert_uint_eq(r->seg.len, 1000);
}

START_TEST(rtt_is_measured_from_tsecr_even_after_a_retransmission)
{
    open_ts();
    /* Karn forbids timing the retransmission, but the echo names it. */
    struct tcp_script_out o, r;
    send_lost_once(&o, &r);
    ck_assert_uint_ne(r.seg.tsval, o.seg.tsval);
    ck_assert(!conn->rtt_timing);
    uint32_t srtt0 = conn->srtt;            /* from the handshake: 0 */
    tcp_script_advance(sc, TAPIR_MSEC(40));
    uint64_t samples = sc->s->stats.tcp_rtt_ts_samples;
    struct peer_opts po = {.ws = -1, .ts = true, .tsval = 8000, .tsecr = r.seg.tsval};
    inject(TCP_ACK, sc->peer_nxt, sc->our_nxt + 1000, &po, NULL, 0);
    ck_assert_uint_eq(sc->s->stats.tcp_rtt_ts_samples, samples + 1);
    ck_assert(conn->rtt_valid);
    /* RFC 6298 2.3 with a 40 ms sample (from the retransmission, not the
     * 1040 ms since the original). */
    ck_assert_uint_eq(conn->srtt, srtt0 - srtt0 / 8 + 40000 / 8);
    sc->our_nxt += 1000;
}
END_TEST

START_TEST(every_ack_of_new_data_gives_a_sample)
{
    open_ts();
    ck_assert_int_eq(tcp_send(conn, pattern, 3 * 1448), 3 * 1448);
    struct tcp_script_out seg[3];
    for (int i = 0; i < 3; i++)
        expect_data(sc->our_nxt + 1448u * (uint32_t)i, sc->peer_nxt, &seg[i]);
    tcp_script_advance(sc, TAPIR_MSEC(20));
    uint64_t samples = sc->s->stats.tcp_rtt_ts_samples;
    /* Initial window 4380 bytes: three segments. The first ACK ends the
     * single-segment timer; the others, each for
     * new data, are timed by their echoes. */
    for (int i = 0; i < 3; i++) {
        struct peer_opts po = {.ws = -1, .ts = true, .tsval = 9000u + (uint32_t)i, .tsecr = seg[i].seg.tsval};
        inject(TCP_ACK, sc->peer_nxt, sc->our_nxt + 1448u * (uint32_t)(i + 1), &po, NULL, 0);
    }
    ck_assert_uint_eq(sc->s->stats.tcp_rtt_ts_samples, samples + 2);
    /* A duplicate ACK acknowledges nothing new: no sample (RFC 7323 4.2). */
    struct peer_opts dup = {.ws = -1, .ts = true, .tsval = 9010, .tsecr = seg[2].seg.tsval};
    inject(TCP_ACK, sc->peer_nxt, sc->our_nxt + 3 * 1448, &dup, NULL, 0);
    ck_assert_uint_eq(sc->s->stats.tcp_rtt_ts_samples, samples + 2);
    sc->our_nxt += 3 * 1448;
}
END_TEST

/* An echo older than the first sending of the data at snd_una names no
 * segment an ACK of new data can answer (RFC 7323 4.3: TS.Recent comes
 * from the segment that carried the receiver's next expected byte). A
 * forged one, within PAWS and under rto_max, would have made a sample of
 * seconds and raised the RTO with it. */
START_TEST(an_echo_older_than_the_unacknowledged_data_gives_no_sample)
{
    open_ts();
    tcp_script_advance(sc, TAPIR_SEC(10));  /* idle: old TSvals are 10 s old */
    ck_assert_int_eq(tcp_send(conn, pattern, 3 * 1448), 3 * 1448);
    struct tcp_script_out seg[3];
    for (int i = 0; i < 3; i++)
        expect_data(sc->our_nxt + 1448u * (uint32_t)i, sc->peer_nxt, &seg[i]);
    tcp_script_advance(sc, TAPIR_MSEC(20));
    /* The first ACK ends the single-segment timer: a 20 ms sample. */
    struct peer_opts po = {.ws = -1, .ts = true, .tsval = 9000, .tsecr = seg[0].seg.tsval};
    inject(TCP_ACK, sc->peer_nxt, sc->our_nxt + 1448, &po, NULL, 0);
    uint32_t srtt = conn->srtt, rto = (uint32_t)conn->rto;
    uint64_t samples = sc->s->stats.tcp_rtt_ts_samples;
    uint64_t rejected = sc->s->stats.tcp_rtt_ts_rejected;
    /* The second, acknowledging new data, echoes a TSval of 5 s ago. */
    po = (struct peer_opts){.ws = -1, .ts = true, .tsval = 9001, .tsecr = seg[0].seg.tsval - 5000};
    inject(TCP_ACK, sc->peer_nxt, sc->our_nxt + 2 * 1448, &po, NULL, 0);
    ck_assert_uint_eq(sc->s->stats.tcp_rtt_ts_samples, samples);
    ck_assert_uint_eq(sc->s->stats.tcp_rtt_ts_rejected, rejected + 1);
    ck_assert_uint_eq(conn->srtt, srtt);
    ck_assert_uint_eq((uint32_t)conn->rto, rto);
    ck_assert_uint_eq(conn->snd_una, sc->our_nxt + 2 * 1448);  /* the ACK itself counts */
    /* The third echoes what it acknowledges: a sample again. */
    po = (struct peer_opts){.ws = -1, .ts = true, .tsval = 9002, .tsecr = seg[2].seg.tsval};
    inject(TCP_ACK, sc->peer_nxt, sc->our_nxt + 3 * 1448, &po, NULL, 0);
    ck_assert_uint_eq(sc->s->stats.tcp_rtt_ts_samples, samples + 1);
    ck_assert_uint_eq(sc->s->stats.tcp_rtt_ts_rejected, rejected + 1);
    sc->our_nxt += 3 * 1448;
}
END_TEST

/* After a timeout the receiver may echo the first sending of a segment,
 * not the retransmission (the original came late): older than the
 * retransmission, but not than the data, so still a sample. */
START_TEST(an_echo_of_the_original_sending_is_still_a_sample)
{
    open_ts();
    struct tcp_script_out o, r;
    send_lost_once(&o, &r);
    ck_assert_uint_gt(r.seg.tsval, o.seg.tsval);
    uint64_t samples = sc->s->stats.tcp_rtt_ts_samples;
    struct peer_opts po = {.ws = -1, .ts = true, .tsval = 8000, .tsecr = o.seg.tsval};
    inject(TCP_ACK, sc->peer_nxt, sc->our_nxt + 1000, &po, NULL, 0);
    ck_assert_uint_eq(sc->s->stats.tcp_rtt_ts_samples, samples + 1);
    ck_assert_uint_eq(sc->s->stats.tcp_rtt_ts_rejected, 0);
    sc->our_nxt += 1000;
}
END_TEST

/* ---- SACK ------------------------------------------------------------------ */

static void open_sack(bool with_ts)
{
    struct peer_opts po = ALL;
    po.ts = with_ts;
    po.mss = 1000;
    passive(NULL, po);
    peer_ts = 5001;
    tcp_script_flush(sc);
}

/* Peer data segment [off, off+len) of its stream, with a TS if negotiated. */
static void peer_data(uint32_t off, uint32_t len)
{
    struct peer_opts po = {.ws = -1, .ts = conn->ts_ok, .tsval = ++peer_ts, .tsecr = 1};
    inject(TCP_ACK, sc->peer_nxt + off, sc->our_nxt, &po, pattern + off, len);
}

static void expect_blocks(const struct tcp_script_out *o, uint8_t n, const uint32_t (*b)[2])
{
    ck_assert_uint_eq(o->seg.nsack, n);
    for (uint8_t i = 0; i < n; i++) {
        ck_assert_uint_eq(o->seg.sack[i].start, sc->peer_nxt + b[i][0]);
        ck_assert_uint_eq(o->seg.sack[i].end, sc->peer_nxt + b[i][1]);
    }
}

START_TEST(sack_blocks_report_out_of_order_data_most_recent_first)
{
    open_sack(true);
    struct tcp_script_out o;
    peer_data(1000, 500);
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt, &o);
    expect_blocks(&o, 1, (const uint32_t[][2]){{1000, 1500}});
    peer_data(3000, 500);
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt, &o);
    expect_blocks(&o, 2, (const uint32_t[][2]){{3000, 3500}, {1000, 1500}});
    /* Extending the first range puts it first again. */
    peer_data(1500, 500);
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt, &o);
    expect_blocks(&o, 2, (const uint32_t[][2]){{1000, 2000}, {3000, 3500}});
    peer_data(5000, 100);
    peer_data(7000, 100);
    tcp_script_flush(sc);
    /* Four ranges held; beside timestamps only three blocks fit. */
    peer_data(9000, 100);
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt, &o);
    expect_blocks(&o, 3, (const uint32_t[][2]){{9000, 9100}, {7000, 7100}, {5000, 5100}});
    ck_assert_uint_eq(o.seg.hdr_len, 60);
    /* The hole at 0 filled: the ACK moves to 2000 and the blocks above remain. */
    peer_data(0, 1000);
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt + 2000, &o);
    expect_blocks(&o, 3, (const uint32_t[][2]){{9000, 9100}, {7000, 7100}, {5000, 5100}});
    uint8_t buf[4096];
    ck_assert_int_eq(tcp_recv(conn, buf, sizeof buf, false), 2000);
    ck_assert_mem_eq(buf, pattern, 2000);
}
END_TEST

START_TEST(four_blocks_without_timestamps_and_none_once_in_order)
{
    open_sack(false);
    struct tcp_script_out o;
    for (uint32_t i = 1; i <= 5; i++)
        peer_data(i * 200, 100);
    tcp_script_flush(sc);
    peer_data(1200, 100);
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt, &o);
    expect_blocks(&o, 4, (const uint32_t[][2]){{1200, 1300}, {1000, 1100}, {800, 900}, {600, 700}});
    ck_assert_uint_eq(o.seg.hdr_len, 20 + 36);
    /* Everything in order: plain ACKs again. */
    for (uint32_t i = 0; i <= 6; i++)
        peer_data(i * 200 + (i ? 100 : 0), i ? 100 : 200);
    tcp_script_flush(sc);
    ck_assert_uint_eq(conn->ooo_n, 0);
    peer_data(1400, 100);       /* new data: [1300, 1400) again would be a D-SACK (RFC 2883) */
    tcp_script_advance(sc, TAPIR_MSEC(300));
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt + 1500, &o);
    ck_assert_uint_eq(o.seg.nsack, 0);
}
END_TEST

START_TEST(no_sack_blocks_unless_negotiated)
{
    struct peer_opts po = ALL;
    po.sack_perm = false;
    po.ts = false;
    passive(NULL, po);
    tcp_script_flush(sc);
    peer_data(1000, 500);
    struct tcp_script_out o;
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt, &o);
    ck_assert_uint_eq(o.seg.nsack, 0);
    ck_assert_uint_eq(o.seg.hdr_len, 20);
}
END_TEST

/* The peer ACKs cum with the given SACK blocks (offsets from our_nxt). */
static void peer_sack(uint32_t cum, uint8_t n, const uint32_t (*b)[2])
{
    struct peer_opts po = {.ws = -1, .nsack = n};
    for (uint8_t i = 0; i < n; i++) {
        po.sack[i][0] = sc->our_nxt + b[i][0];
        po.sack[i][1] = sc->our_nxt + b[i][1];
    }
    inject(TCP_ACK, sc->peer_nxt, sc->our_nxt + cum, &po, NULL, 0);
}

START_TEST(sack_sender_retransmits_only_the_holes)
{
    open_sack(false);
    ck_assert_int_eq(tcp_send(conn, pattern, 12000), 12000);
    /* Initial window: 4 segments of 1000. Each acknowledged: cwnd 8000. */
    tcp_script_flush(sc);
    for (uint32_t i = 1; i <= 4; i++)
        peer_sack(1000 * i, 0, NULL);
    struct tcp_script_out o;
    uint32_t sent = 0;
    while (tcp_script_next(sc, &o)) {
        ck_assert_uint_eq(o.seg.seq, sc->our_nxt + 4000 + sent);
        sent += o.seg.len;
    }
    ck_assert_uint_eq(sent, 8000);              /* segments 5..12: [4000, 12000) */
    /* Segments at 4000 and 7000 lost; the others arrive and are SACKed. */
    peer_sack(4000, 1, (const uint32_t[][2]){{5000, 6000}});
    peer_sack(4000, 1, (const uint32_t[][2]){{5000, 7000}});
    tcp_script_expect_none(sc);                 /* not yet lost by RFC 6675 rules */
    peer_sack(4000, 2, (const uint32_t[][2]){{8000, 9000}, {5000, 7000}});
    /* 3000 bytes SACKed above 4000 (> 2 SMSS): IsLost, recovery, resend it. */
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt + 4000, sc->peer_nxt, &o);
    ck_assert_uint_eq(o.seg.len, 1000);
    ck_assert_mem_eq(o.seg.data, pattern + 4000, 1000);
    ck_assert(conn->in_recovery);
    ck_assert_uint_eq(sc->s->stats.tcp_sack_recoveries, 1);
    peer_sack(4000, 2, (const uint32_t[][2]){{8000, 10000}, {5000, 7000}});
    peer_sack(4000, 2, (const uint32_t[][2]){{8000, 11000}, {5000, 7000}});
    peer_sack(4000, 2, (const uint32_t[][2]){{8000, 12000}, {5000, 7000}});
    /* Every retransmission is of a hole: 7000 (once), never SACKed data. */
    uint32_t resent_7000 = 0;
    while (tcp_script_next(sc, &o)) {
        ck_assert_msg(o.seg.seq == sc->our_nxt + 7000 && o.seg.len == 1000,
                      "resent seq +%u len %u", o.seg.seq - sc->our_nxt, o.seg.len);
        ck_assert_mem_eq(o.seg.data, pattern + 7000, 1000);
        resent_7000++;
    }
    ck_assert_uint_eq(resent_7000, 1);
    ck_assert_uint_eq(sc->s->stats.tcp_retransmits, 2);
    /* The holes filled: one cumulative ACK ends recovery. */
    peer_sack(12000, 0, NULL);
    ck_assert(!conn->in_recovery);
    struct tapir_tcp_info info;
    tcp_get_info(conn, &info);
    ck_assert_uint_eq(info.unacked, 0);
    ck_assert_uint_eq(info.sacked_bytes, 0);
    ck_assert_uint_eq(sc->s->stats.tcp_rto_expired, 0);
    sc->our_nxt += 12000;
}
END_TEST

START_TEST(congestion_control_is_selectable_per_connection)
{
    open_ts();
    ck_assert_str_eq(tcp_get_congestion(conn), "cubic");
    ck_assert_int_eq(tcp_set_congestion(conn, "reno"), 0);
    ck_assert_str_eq(tcp_get_congestion(conn), "newreno");
    ck_assert_int_eq(tcp_set_congestion(conn, "bbr"), -ENOENT);
    ck_assert_str_eq(tcp_get_congestion(conn), "newreno");
    ck_assert_int_eq(tcp_set_congestion(conn, "cubic"), 0);
    struct tapir_tcp_info info;
    tcp_get_info(conn, &info);
    ck_assert_str_eq(info.congestion, "cubic");
    /* An unknown stack-wide default is refused. */
    struct tapir_config cfg;
    tapir_config_init(&cfg);
    cfg.link = TAPIR_LINK_IP;
    cfg.addr.s_addr = htonl(0x0a000009u);
    strcpy(cfg.tcp_congestion, "vegas");
    tapir_stack *s2 = NULL;
    ck_assert_int_eq(tapir_stack_create(&cfg, &s2), -EINVAL);
    strcpy(cfg.tcp_congestion, "newreno");
    ck_assert_int_eq(tapir_stack_create(&cfg, &s2), 0);
    tapir_stack_destroy(s2);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tcp_ext_opts");
    TCase *tc = tcase_create("options");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, syn_ack_agrees_to_everything_the_peer_offers);
    tcase_add_test(tc, no_window_update_of_its_own_after_the_handshake);
    tcase_add_test(tc, syn_ack_falls_back_when_the_peer_offers_nothing);
    tcase_add_test(tc, each_option_falls_back_on_its_own);
    tcase_add_test(tc, our_syn_offers_ts_sack_ws_and_uses_what_the_peer_echoes);
    tcase_add_test(tc, syn_ack_without_options_means_none_are_used);
    tcase_add_test(tc, paws_drops_an_old_duplicate_and_acks);
    tcase_add_test(tc, paws_forgets_ts_recent_after_24_days_idle);
    tcase_add_test(tc, segment_without_timestamp_is_dropped_silently);
    tcase_add_test(tc, delayed_ack_echoes_the_earliest_unacknowledged_tsval);
    tcase_add_test(tc, rtt_is_measured_from_tsecr_even_after_a_retransmission);
    tcase_add_test(tc, an_echo_older_than_the_unacknowledged_data_gives_no_sample);
    tcase_add_test(tc, an_echo_of_the_original_sending_is_still_a_sample);
    tcase_add_test(tc, every_ack_of_new_data_gives_a_sample);
    tcase_add_test(tc, sack_blocks_report_out_of_order_data_most_recent_first);
    tcase_add_test(tc, four_blocks_without_timestamps_and_none_once_in_order);
    tcase_add_test(tc, no_sack_blocks_unless_negotiated);
    tcase_add_test(tc, sack_sender_retransmits_only_the_holes);
    tcase_add_test(tc, congestion_control_is_selectable_per_connection);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
