/* Hostile input against one stack, checked against the response RFC 9293
 * 3.10.7 prescribes for each class of segment (the tcp branch's
 * test_tcp_hostile.c checks invariants; this file checks the answers):
 *
 *  - no connection (3.10.7.1): every flag combination; RST -> nothing,
 *    ACK -> <SEQ=SEG.ACK><CTL=RST>, else <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>;
 *  - LISTEN (3.10.7.2): RST ignored, ACK -> RST, SYN -> SYN,ACK, else dropped;
 *  - SYN_SENT (3.10.7.3): unacceptable ACK -> RST, RST with acceptable ACK
 *    -> CLOSED, SYN,ACK -> ESTABLISHED + ACK, bare SYN -> SYN_RECEIVED, else dropped;
 *  - the eight synchronized states (3.10.7.4): out of window -> ACK unless
 *    RST; exact RST -> reset (TIME_WAIT: ignored, RFC 1337); in-window
 *    inexact RST and any SYN -> challenge ACK (RFC 5961 3.2, 4.2), except
 *    that a passive SYN_RECEIVED returns to LISTEN on a SYN; no ACK ->
 *    dropped; ACK of unsent data -> ACK (SYN_RECEIVED: RST); ACK older than
 *    the window -> challenge ACK (RFC 5961 5.2);
 *  - malformed headers and options in every state: dropped, counted under
 *    their reason, nothing sent, state unchanged.
 *
 * Two deliberate deviations of the core are encoded (and counted): SYN+RST
 * is dropped as TCP_BAD_FLAGS everywhere, and SYN+FIN to a listener is
 * dropped as TCP_BAD_FLAGS (both never occur in legitimate traffic).
 * Every test ends by checking that no connection or buffer leaked. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/checksum.h"
#include "core/stack.h"
#include "core/tcp.h"
#include "core/wire.h"
#include "tcp_script.h"
#include "harness.h"

#define PEER_ISS 0xfffffff0u        /* the peer's sequence numbers wrap 2^32 */

/* ---- a stack brought to a given state ----------------------------------- */

struct hostile {
    struct tcp_script *sc;
    struct tcp_conn *owned;         /* the connection if the test still owns it */
    struct tcp_conn *lst;           /* a listener, if the state needs one */
    const void *target;             /* the connection under test (from the log) */
    enum tapir_tcp_state st;
    uint32_t snd_nxt, rcv_nxt;      /* the stack's SND.NXT and RCV.NXT */
    uint32_t snd_una;
    uint32_t iss;
};

static void small_pool(struct tapir_config *cfg)
{
    cfg->buf_count = 64;            /* thousands of stacks are made */
    /* Every segment's own answer is checked here; the rate limit on the
     * answers to unacceptable pure ACKs has its test (test_tcp_oow_ack). */
    cfg->tcp_oow_ack_interval = 0;
}

static enum tapir_tcp_state target_state(const struct hostile *h)
{
    enum tapir_tcp_state st = h->st;
    for (size_t i = 0; i < h->sc->nlog; i++)
        if (h->sc->log[i].conn == h->target)
            st = h->sc->log[i].to;
    return st;
}

static const void *last_logged_conn(const struct tcp_script *sc)
{
    return sc->nlog ? sc->log[sc->nlog - 1].conn : NULL;
}

static void reach(struct hostile *h, enum tapir_tcp_state st)
{
    memset(h, 0, sizeof *h);
    h->st = st;
    struct tcp_script *sc = h->sc = tcp_script_new(small_pool);
    struct tcp_script_out o;
    int err;
    switch (st) {
    case TAPIR_TCP_CLOSED:
        sc->local_port = 81;        /* nothing there */
        return;
    case TAPIR_TCP_LISTEN:
        h->lst = tcp_script_listen(sc, sc->local_port, 1024);
        h->target = h->lst;
        return;
    case TAPIR_TCP_SYN_SENT:
        h->owned = tcp_conn_new(sc->s, &err);
        ck_assert_ptr_nonnull(h->owned);
        ck_assert_int_eq(tcp_connect(h->owned, TCP_SCRIPT_PEER_IP, sc->peer_port), -EINPROGRESS);
        ck_assert(tcp_script_next(sc, &o));
        tcp_local_addr(h->owned, &(uint32_t){0}, &sc->local_port);
        h->target = h->owned;
        h->iss = o.seg.seq;
        h->snd_una = h->iss;
        h->snd_nxt = h->iss + 1;
        sc->peer_nxt = PEER_ISS;
        return;
    case TAPIR_TCP_SYN_RECEIVED:
        h->lst = tcp_script_listen(sc, sc->local_port, 8);
        tcp_script_send(sc, TCP_SYN, PEER_ISS, 0, 1460, NULL, 0);
        tcp_script_expect_anyseq(sc, TCP_SYN | TCP_ACK, PEER_ISS + 1, &o);
        h->target = last_logged_conn(sc);
        h->iss = o.seg.seq;
        h->snd_una = h->iss;
        h->snd_nxt = h->iss + 1;
        h->rcv_nxt = sc->peer_nxt = PEER_ISS + 1;
        sc->our_nxt = h->iss + 1;
        ck_assert_int_eq(target_state(h), TAPIR_TCP_SYN_RECEIVED);
        return;
    default:
        break;
    }
    struct tcp_conn *c = h->owned = tcp_script_passive_open(sc, PEER_ISS, NULL);
    h->target = c;
    /* Some data each way first, so SND.UNA/RCV.NXT are not at the ISS. */
    ck_assert_int_eq(tcp_send(c, "0123456789", 10), 10);
    tcp_script_expect(sc, TCP_ACK | TCP_PSH, sc->our_nxt, sc->peer_nxt, NULL);
    tcp_script_send(sc, TCP_ACK, sc->peer_nxt, sc->our_nxt + 10, 0, "abcdef", 6);
    sc->our_nxt += 10;
    sc->peer_nxt += 6;
    char buf[8];
    ck_assert_int_eq(tcp_recv(c, buf, sizeof buf, false), 6);
    tcp_script_flush(sc);
    uint32_t our_fin = sc->our_nxt;
    switch (st) {
    case TAPIR_TCP_FIN_WAIT_1:
    case TAPIR_TCP_FIN_WAIT_2:
    case TAPIR_TCP_CLOSING:
    case TAPIR_TCP_TIME_WAIT:
        tcp_shutdown(c, false, true);
        tcp_script_expect(sc, TCP_FIN | TCP_ACK, our_fin, sc->peer_nxt, NULL);
        if (st == TAPIR_TCP_FIN_WAIT_2)
            tcp_script_send(sc, TCP_ACK, sc->peer_nxt, our_fin + 1, 0, NULL, 0);
        if (st == TAPIR_TCP_CLOSING)
            tcp_script_send(sc, TCP_FIN | TCP_ACK, sc->peer_nxt, our_fin, 0, NULL, 0);
        if (st == TAPIR_TCP_TIME_WAIT)
            tcp_script_send(sc, TCP_FIN | TCP_ACK, sc->peer_nxt, our_fin + 1, 0, NULL, 0);
        if (st == TAPIR_TCP_CLOSING || st == TAPIR_TCP_TIME_WAIT)
            sc->peer_nxt++;
        h->snd_nxt = our_fin + 1;
        h->snd_una = (st == TAPIR_TCP_FIN_WAIT_2 || st == TAPIR_TCP_TIME_WAIT) ? our_fin + 1 : our_fin;
        break;
    case TAPIR_TCP_CLOSE_WAIT:
    case TAPIR_TCP_LAST_ACK:
        tcp_script_send(sc, TCP_FIN | TCP_ACK, sc->peer_nxt, our_fin, 0, NULL, 0);
        sc->peer_nxt++;
        h->snd_nxt = h->snd_una = our_fin;
        if (st == TAPIR_TCP_LAST_ACK) {
            tcp_shutdown(c, false, true);
            h->snd_nxt = our_fin + 1;
        }
        break;
    default:
        h->snd_nxt = h->snd_una = our_fin;
        break;
    }
    tcp_script_flush(sc);
    h->rcv_nxt = sc->peer_nxt;
    ck_assert_int_eq(tcp_state(c), st);
}

static void finish(struct hostile *h)
{
    if (h->owned)
        tcp_abort(h->owned);
    if (h->lst)
        tcp_close(h->lst);
    h->sc->drop_output = true;
    tcp_script_advance(h->sc, TAPIR_SEC(3600));
    tcp_script_flush(h->sc);
    tcp_script_free_checked(h->sc);
    h->sc = NULL;
}

/* Inject from the peer's usual port to the stack's. */
static void inject(struct hostile *h, uint8_t flags, uint32_t seq, uint32_t ack, uint16_t wnd, size_t dlen)
{
    tcp_script_inject_raw(h->sc, h->sc->peer_port, h->sc->local_port, seq, ack, flags, wnd, NULL, 0,
                          (const uint8_t *)"hostile!", dlen);
}

static void flags_text(uint8_t f, char *buf, size_t n)
{
    static const char names[8][4] = {"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"};
    buf[0] = 0;
    for (int i = 0; i < 8; i++)
        if (f & (1u << i)) {
            strncat(buf, names[i], n - strlen(buf) - 1);
            strncat(buf, " ", n - strlen(buf) - 1);
        }
}

/* Exactly one segment with these flags, seq and ack (ack checked if ACK). */
static void expect_one(struct hostile *h, uint8_t flags, uint32_t seq, uint32_t ack, const char *what, uint8_t sent)
{
    char f[48];
    flags_text(sent, f, sizeof f);
    struct tcp_script_out o;
    ck_assert_msg(tcp_script_next(h->sc, &o), "%s, state %s, flags %s: expected %s, nothing was sent",
                  tapir_tcp_state_name(h->st), tapir_tcp_state_name(h->st), f, what);
    ck_assert_msg(o.seg.flags == flags && o.seg.seq == seq && (!(flags & TCP_ACK) || o.seg.ack == ack) &&
                  o.seg.len == 0,
                  "state %s, flags %s: expected %s (flags %02x seq %u ack %u), got flags %02x seq %u ack %u len %u",
                  tapir_tcp_state_name(h->st), f, what, flags, seq, ack, o.seg.flags, o.seg.seq, o.seg.ack,
                  o.seg.len);
    ck_assert_msg(tcp_script_pending(h->sc) == 0, "state %s, flags %s: more than one segment in answer",
                  tapir_tcp_state_name(h->st), f);
}

static void expect_nothing(struct hostile *h, const char *why, uint8_t sent)
{
    char f[48];
    flags_text(sent, f, sizeof f);
    struct tcp_script_out o;
    ck_assert_msg(!tcp_script_next(h->sc, &o),
                  "state %s, flags %s: expected no answer (%s), got flags %02x seq %u ack %u",
                  tapir_tcp_state_name(h->st), f, why, o.seg.flags, o.seg.seq, o.seg.ack);
}

static void expect_state(struct hostile *h, enum tapir_tcp_state want, uint8_t sent)
{
    char f[48];
    flags_text(sent, f, sizeof f);
    enum tapir_tcp_state got = target_state(h);
    ck_assert_msg(got == want, "state %s, flags %s: now %s, expected %s", tapir_tcp_state_name(h->st), f,
                  tapir_tcp_state_name(got), tapir_tcp_state_name(want));
}

static void expect_ack(struct hostile *h, uint8_t sent)
{
    expect_one(h, TCP_ACK, h->snd_nxt, h->rcv_nxt, "<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>", sent);
}

static bool syn_rst(uint8_t f) { return (f & (TCP_SYN | TCP_RST)) == (TCP_SYN | TCP_RST); }

static const enum tapir_tcp_state synchronized[] = {
    TAPIR_TCP_SYN_RECEIVED, TAPIR_TCP_ESTABLISHED, TAPIR_TCP_FIN_WAIT_1, TAPIR_TCP_FIN_WAIT_2,
    TAPIR_TCP_CLOSE_WAIT,   TAPIR_TCP_CLOSING,     TAPIR_TCP_LAST_ACK,   TAPIR_TCP_TIME_WAIT,
};
#define NSYNC ((int)(sizeof synchronized / sizeof synchronized[0]))

/* ---- 3.10.7.1: no connection -------------------------------------------- */

START_TEST(no_connection_every_flag_combination_gets_the_rst_of_3_10_7_1)
{
    struct hostile h;
    reach(&h, TAPIR_TCP_CLOSED);
    uint64_t bad_flags = 0;
    for (unsigned f = 0; f < 256; f++) {
        for (size_t dlen = 0; dlen <= 5; dlen += 5) {
            uint8_t flags = (uint8_t)f;
            uint32_t seq = 0x7fff0000u + f, ack = 0xfffffff8u + f;
            inject(&h, flags, seq, ack, dlen ? 65535 : 0, dlen);
            if (syn_rst(flags)) {
                bad_flags++;
                expect_nothing(&h, "SYN+RST is never valid", flags);
            } else if (flags & TCP_RST) {
                expect_nothing(&h, "an incoming RST is discarded", flags);
            } else if (flags & TCP_ACK) {
                expect_one(&h, TCP_RST, ack, 0, "<SEQ=SEG.ACK><CTL=RST>", flags);
            } else {
                uint32_t seglen = (uint32_t)dlen + !!(flags & TCP_SYN) + !!(flags & TCP_FIN);
                expect_one(&h, TCP_RST | TCP_ACK, 0, seq + seglen, "<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>", flags);
            }
        }
        tcp_script_advance(h.sc, TAPIR_MSEC(10));   /* stay under the RST rate limit */
    }
    ck_assert_uint_eq(h.sc->s->stats.drops[TAPIR_DROP_TCP_BAD_FLAGS], bad_flags);
    ck_assert_uint_eq(h.sc->s->stats.drops[TAPIR_DROP_TCP_NO_SOCKET], 512 - bad_flags);
    finish(&h);
}
END_TEST

/* ---- 3.10.7.2: LISTEN ---------------------------------------------------- */

START_TEST(listen_every_flag_combination_gets_the_answer_of_3_10_7_2)
{
    struct hostile h;
    reach(&h, TAPIR_TCP_LISTEN);
    uint32_t children = 0;
    for (unsigned f = 0; f < 256; f++) {
        for (size_t dlen = 0; dlen <= 5; dlen += 5) {
            uint8_t flags = (uint8_t)f;
            h.sc->peer_port = (uint16_t)(20000 + f * 2 + dlen / 5);     /* a new 4-tuple each time */
            uint32_t seq = 0xffffff00u + f, ack = 0x12345678u + f;
            inject(&h, flags, seq, ack, dlen ? 0 : 65535, dlen);
            if (syn_rst(flags) || (flags & TCP_RST)) {
                expect_nothing(&h, "RST is ignored in LISTEN", flags);
            } else if (flags & TCP_ACK) {
                expect_one(&h, TCP_RST, ack, 0, "<SEQ=SEG.ACK><CTL=RST>", flags);
            } else if ((flags & TCP_SYN) && (flags & TCP_FIN)) {
                expect_nothing(&h, "SYN+FIN dropped as TCP_BAD_FLAGS (deviation)", flags);
            } else if (flags & TCP_SYN) {
                struct tcp_script_out o;
                ck_assert_msg(tcp_script_next(h.sc, &o) && o.seg.flags == (TCP_SYN | TCP_ACK) &&
                                  o.seg.ack == seq + 1 && o.seg.has_mss && tcp_script_pending(h.sc) == 0,
                              "LISTEN flags %02x: expected one SYN,ACK <ACK=SEG.SEQ+1> with MSS", flags);
                children++;
            } else {
                expect_nothing(&h, "neither SYN, ACK nor RST: dropped", flags);
            }
            expect_state(&h, TAPIR_TCP_LISTEN, flags);
        }
        /* No time passes: the children's SYN,ACKs are not retransmitted
         * and the 256 RSTs stay under the rate limit. */
    }
    /* 64 SYN combinations without RST/ACK/FIN, twice (with and without data). */
    ck_assert_uint_eq(children, 2 * 16);
    ck_assert_uint_eq(tcp_conn_count(h.sc->s), 1 + children);
    finish(&h);
}
END_TEST

/* ---- 3.10.7.3: SYN_SENT -------------------------------------------------- */

START_TEST(syn_sent_every_flag_combination_gets_the_answer_of_3_10_7_3)
{
    for (unsigned f = 0; f < 256; f++) {
        for (int ack_class = 0; ack_class < 3; ack_class++) {
            struct hostile h;
            reach(&h, TAPIR_TCP_SYN_SENT);
            uint8_t flags = (uint8_t)f;
            /* 0: acceptable (ISS+1); 1: ISS (too old); 2: beyond SND.NXT. */
            uint32_t ack = ack_class == 0 ? h.iss + 1 : ack_class == 1 ? h.iss : h.iss + 5000;
            bool acceptable = (flags & TCP_ACK) && ack_class == 0;
            inject(&h, flags, PEER_ISS, ack, 65535, 0);
            if (syn_rst(flags)) {
                expect_nothing(&h, "SYN+RST is never valid", flags);
                expect_state(&h, TAPIR_TCP_SYN_SENT, flags);
            } else if ((flags & TCP_ACK) && !acceptable) {
                if (flags & TCP_RST)
                    expect_nothing(&h, "RST with an unacceptable ACK", flags);
                else
                    expect_one(&h, TCP_RST, ack, 0, "<SEQ=SEG.ACK><CTL=RST>", flags);
                expect_state(&h, TAPIR_TCP_SYN_SENT, flags);
            } else if (flags & TCP_RST) {
                expect_nothing(&h, "RST", flags);
                if (acceptable) {
                    expect_state(&h, TAPIR_TCP_CLOSED, flags);
                    ck_assert_int_eq(tcp_take_error(h.owned), -ECONNREFUSED);
                } else {
                    expect_state(&h, TAPIR_TCP_SYN_SENT, flags);
                }
            } else if ((flags & TCP_SYN) && acceptable) {
                /* ESTABLISHED, and a FIN on the SYN,ACK is processed too. */
                uint32_t fin = (flags & TCP_FIN) ? 1 : 0;
                expect_one(&h, TCP_ACK, h.iss + 1, PEER_ISS + 1 + fin, "<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>", flags);
                expect_state(&h, fin ? TAPIR_TCP_CLOSE_WAIT : TAPIR_TCP_ESTABLISHED, flags);
            } else if (flags & TCP_SYN) {
                /* Simultaneous open: SYN_RECEIVED, <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>. */
                struct tcp_script_out o;
                ck_assert_msg(tcp_script_next(h.sc, &o) && o.seg.flags == (TCP_SYN | TCP_ACK) &&
                                  o.seg.seq == h.iss && o.seg.ack == PEER_ISS + 1,
                              "SYN_SENT flags %02x: expected SYN,ACK <SEQ=ISS><ACK=SEG.SEQ+1>", flags);
                expect_state(&h, TAPIR_TCP_SYN_RECEIVED, flags);
            } else {
                expect_nothing(&h, "neither SYN nor RST: dropped", flags);
                expect_state(&h, TAPIR_TCP_SYN_SENT, flags);
            }
            finish(&h);
        }
    }
}
END_TEST

/* ---- 3.10.7.4: synchronized states --------------------------------------- */

START_TEST(synchronized_out_of_window_gets_ack_unless_rst)
{
    struct hostile h;
    reach(&h, synchronized[_i]);
    for (unsigned f = 0; f < 256; f++) {
        uint8_t flags = (uint8_t)f;
        for (int v = 0; v < 4; v++) {
            /* Far ahead, and older than anything the window allows. */
            uint32_t seq = (v & 1) ? h.rcv_nxt + 0x40000000u : h.rcv_nxt - 70000u;
            inject(&h, flags, seq, h.snd_nxt, (v & 2) ? 65535 : 0, (v & 2) ? 5 : 0);
            if (syn_rst(flags))
                expect_nothing(&h, "SYN+RST is never valid", flags);
            else if (flags & TCP_RST)
                expect_nothing(&h, "unacceptable RST: dropped", flags);
            else
                expect_ack(&h, flags);
            expect_state(&h, h.st, flags);
        }
    }
    finish(&h);
}
END_TEST

START_TEST(synchronized_rst_with_exact_seq_resets_except_time_wait)
{
    enum tapir_tcp_state st = synchronized[_i];
    for (unsigned other = 0; other < 256; other++) {
        uint8_t flags = (uint8_t)(other | TCP_RST);
        if ((other & TCP_RST) || (other & TCP_SYN))
            continue;
        struct hostile h;
        reach(&h, st);
        uint32_t conns = tcp_conn_count(h.sc->s);
        inject(&h, flags, h.rcv_nxt, h.snd_nxt + 12345, 1000, (other & TCP_PSH) ? 5 : 0);
        expect_nothing(&h, "a RST is never answered", flags);
        switch (st) {
        case TAPIR_TCP_TIME_WAIT:
            expect_state(&h, TAPIR_TCP_TIME_WAIT, flags);      /* RFC 1337 */
            break;
        case TAPIR_TCP_SYN_RECEIVED:
            /* A passive open goes back to LISTEN: the child is gone. */
            expect_state(&h, TAPIR_TCP_LISTEN, flags);
            ck_assert_uint_eq(tcp_conn_count(h.sc->s), conns - 1);
            break;
        default:
            expect_state(&h, TAPIR_TCP_CLOSED, flags);
            if (st != TAPIR_TCP_CLOSING && st != TAPIR_TCP_LAST_ACK) {
                char b[4];
                ck_assert_int_eq(tcp_recv(h.owned, b, sizeof b, false), -ECONNRESET);
            }
            break;
        }
        finish(&h);
    }
}
END_TEST

START_TEST(synchronized_rst_in_window_not_exact_gets_challenge_ack)
{
    struct hostile h;
    reach(&h, synchronized[_i]);
    uint64_t challenges = 0;
    for (unsigned other = 0; other < 256; other++) {
        if ((other & TCP_RST) || (other & TCP_SYN))
            continue;
        uint8_t flags = (uint8_t)(other | TCP_RST);
        inject(&h, flags, h.rcv_nxt + 100, h.snd_nxt, 1000, 0);
        if (h.st == TAPIR_TCP_TIME_WAIT) {
            expect_nothing(&h, "RST ignored in TIME_WAIT (RFC 1337)", flags);
        } else {
            expect_ack(&h, flags);
            challenges++;
        }
        expect_state(&h, h.st, flags);
    }
    ck_assert_uint_eq(h.sc->s->stats.tcp_challenge_acks, challenges);
    finish(&h);
}
END_TEST

START_TEST(synchronized_syn_gets_challenge_ack_or_returns_syn_received_to_listen)
{
    enum tapir_tcp_state st = synchronized[_i];
    struct hostile h;
    uint64_t n = 0;
    bool fresh_each = st == TAPIR_TCP_SYN_RECEIVED;
    if (!fresh_each)
        reach(&h, st);
    for (unsigned other = 0; other < 256; other++) {
        if ((other & TCP_RST) || (other & TCP_SYN))
            continue;
        if (fresh_each)
            reach(&h, st);
        uint32_t conns = tcp_conn_count(h.sc->s);
        uint8_t flags = (uint8_t)(other | TCP_SYN);
        /* In window (so step 1 passes), several offsets. */
        inject(&h, flags, h.rcv_nxt + (other & 3) * 7, h.snd_nxt, 65535, (other & TCP_PSH) ? 5 : 0);
        if (fresh_each) {
            /* 3.10.7.4 step 4: a passive open returns to LISTEN. */
            expect_nothing(&h, "SYN in a passive SYN_RECEIVED: back to LISTEN", flags);
            expect_state(&h, TAPIR_TCP_LISTEN, flags);
            ck_assert_uint_eq(tcp_conn_count(h.sc->s), conns - 1);
            finish(&h);
            continue;
        }
        /* Otherwise RFC 5961 4.2: challenge ACK, connection unchanged. */
        expect_ack(&h, flags);
        expect_state(&h, h.st, flags);
        n++;
    }
    if (!fresh_each) {
        ck_assert_uint_eq(h.sc->s->stats.tcp_challenge_acks, n);
        finish(&h);
    }
}
END_TEST

START_TEST(synchronized_segment_without_ack_is_dropped)
{
    struct hostile h;
    reach(&h, synchronized[_i]);
    uint64_t n = 0;
    for (unsigned f = 0; f < 256; f++) {
        uint8_t flags = (uint8_t)f;
        if (flags & (TCP_ACK | TCP_SYN | TCP_RST))
            continue;
        inject(&h, flags, h.rcv_nxt, 0, 65535, (f & 1) ? 0 : 5);
        expect_nothing(&h, "ACK off: drop", flags);
        expect_state(&h, h.st, flags);
        n++;
    }
    ck_assert_uint_eq(h.sc->s->stats.drops[TAPIR_DROP_TCP_NO_ACK], n);
    finish(&h);
}
END_TEST

START_TEST(synchronized_ack_of_unsent_data_gets_ack_or_rst_in_syn_received)
{
    struct hostile h;
    reach(&h, synchronized[_i]);
    uint8_t flags = TCP_ACK;
    uint32_t ack = h.snd_nxt + 5000;
    inject(&h, flags, h.rcv_nxt, ack, 65535, 0);
    if (h.st == TAPIR_TCP_SYN_RECEIVED) {
        expect_one(&h, TCP_RST, ack, 0, "<SEQ=SEG.ACK><CTL=RST>", flags);
    } else {
        expect_ack(&h, flags);
    }
    expect_state(&h, h.st, flags);
    finish(&h);
}
END_TEST

START_TEST(synchronized_ack_older_than_the_window_gets_challenge_ack)
{
    struct hostile h;
    reach(&h, synchronized[_i]);
    uint8_t flags = TCP_ACK;
    uint32_t ack = h.snd_una - 200000;
    inject(&h, flags, h.rcv_nxt, ack, 65535, 0);
    if (h.st == TAPIR_TCP_SYN_RECEIVED) {
        /* Not SND.UNA < SEG.ACK =< SND.NXT: <SEQ=SEG.ACK><CTL=RST>. */
        expect_one(&h, TCP_RST, ack, 0, "<SEQ=SEG.ACK><CTL=RST>", flags);
    } else {
        expect_ack(&h, flags);
        ck_assert_uint_eq(h.sc->s->stats.tcp_challenge_acks, 1);
    }
    expect_state(&h, h.st, flags);
    finish(&h);
}
END_TEST

/* ---- malformed headers, in every state ---------------------------------- */

static const enum tapir_tcp_state every_state[] = {
    TAPIR_TCP_CLOSED,     TAPIR_TCP_LISTEN,      TAPIR_TCP_SYN_SENT,    TAPIR_TCP_SYN_RECEIVED,
    TAPIR_TCP_ESTABLISHED, TAPIR_TCP_FIN_WAIT_1, TAPIR_TCP_FIN_WAIT_2,  TAPIR_TCP_CLOSE_WAIT,
    TAPIR_TCP_CLOSING,    TAPIR_TCP_LAST_ACK,    TAPIR_TCP_TIME_WAIT,
};

static void inject_opts(struct hostile *h, uint8_t flags, const uint8_t *opts, size_t optlen)
{
    tcp_script_inject_raw(h->sc, h->sc->peer_port, h->sc->local_port, h->rcv_nxt, h->snd_nxt, flags, 65535,
                          opts, optlen, (const uint8_t *)"x", 1);
}

/* A raw header: data offset field doff, total length len, checksum right. */
static void inject_offset(struct hostile *h, uint8_t doff, size_t len)
{
    uint8_t seg[64] = {0};
    put_be16(seg, h->sc->peer_port);
    put_be16(seg + 2, h->sc->local_port);
    put_be32(seg + 4, h->rcv_nxt);
    put_be32(seg + 8, h->snd_nxt);
    seg[12] = (uint8_t)(doff << 4);
    seg[13] = TCP_ACK;
    put_be16(seg + 14, 65535);
    if (len >= 18) {
        uint32_t sum = csum_pseudo_ipv4(TCP_SCRIPT_PEER_IP, TCP_SCRIPT_US_IP, IPPROTO_TCP_NUM, (uint16_t)len);
        put_be16(seg + 16, csum_fold(csum_partial(seg, len, sum)));
    }
    tcp_script_inject_ip_payload(h->sc, seg, len);
}

START_TEST(malformed_headers_are_dropped_and_counted_in_every_state)
{
    struct hostile h;
    reach(&h, every_state[_i]);
    const struct tapir_stats *st = &h.sc->s->stats;
    uint64_t drops_before = st->drops_total;
    /* Options: unknown kind with length 0 (would loop forever), length
     * past the header, MSS of 0, MSS with the wrong length, an option
     * truncated by the end of the header. */
    const uint8_t len0[4] = {30, 0, 1, 1};
    const uint8_t past[4] = {30, 40, 1, 1};
    const uint8_t mss0[4] = {TCP_OPT_MSS, 4, 0, 0};
    const uint8_t mss_len[4] = {TCP_OPT_MSS, 3, 5, 0};
    const uint8_t truncated[4] = {TCP_OPT_NOP, TCP_OPT_NOP, TCP_OPT_NOP, TCP_OPT_MSS};
    const uint8_t len1[4] = {30, 1, 1, 1};
    const uint8_t *bad[] = {len0, past, mss0, mss_len, truncated, len1};
    const uint8_t flags[] = {TCP_SYN, TCP_ACK, TCP_ACK | TCP_PSH, TCP_RST, TCP_FIN | TCP_ACK};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        for (size_t k = 0; k < sizeof flags; k++) {
            inject_opts(&h, flags[k], bad[i], 4);
            expect_nothing(&h, "bad options: dropped", flags[k]);
        }
    uint64_t n_opts = (sizeof bad / sizeof bad[0]) * sizeof flags;
    ck_assert_uint_eq(st->drops[TAPIR_DROP_TCP_BAD_OPTIONS], n_opts);
    /* Data offset beyond the segment (15 words in 24 bytes, 6 in 20), below 5. */
    inject_offset(&h, 15, 24);
    inject_offset(&h, 6, 20);
    for (uint8_t d = 0; d < 5; d++)
        inject_offset(&h, d, 24);
    ck_assert_uint_eq(st->drops[TAPIR_DROP_TCP_BAD_OFFSET], 7);
    /* Shorter than any header. */
    inject_offset(&h, 5, 19);
    inject_offset(&h, 5, 0);
    ck_assert_uint_eq(st->drops[TAPIR_DROP_TCP_TOO_SHORT], 2);
    /* A wrong checksum. */
    uint8_t seg[20] = {0};
    put_be16(seg, h.sc->peer_port);
    put_be16(seg + 2, h.sc->local_port);
    seg[12] = 5 << 4;
    seg[13] = TCP_SYN;
    put_be16(seg + 16, 0x1234);
    tcp_script_inject_ip_payload(h.sc, seg, sizeof seg);
    ck_assert_uint_eq(st->drops[TAPIR_DROP_TCP_BAD_CHECKSUM], 1);
    expect_nothing(&h, "malformed: dropped", 0);
    ck_assert_uint_eq(st->drops_total - drops_before, n_opts + 7 + 2 + 1);
    if (h.st != TAPIR_TCP_CLOSED)
        expect_state(&h, h.st, 0);
    ck_assert_uint_eq(h.sc->s->pool.in_use, 0);
    finish(&h);
}
END_TEST

/* Window extremes: a zero window stops data (the persist timer probes it),
 * the maximum window lets a full window out at once. */
START_TEST(zero_then_maximum_window_from_the_peer)
{
    struct hostile h;
    reach(&h, TAPIR_TCP_ESTABLISHED);
    inject(&h, TCP_ACK, h.rcv_nxt, h.snd_nxt, 0, 0);
    static uint8_t data[8000];
    ck_assert_int_eq(tcp_send(h.owned, data, sizeof data), (long)sizeof data);
    expect_nothing(&h, "zero window: nothing may be sent", 0);
    ck_assert_uint_ne(tapir_stack_next_deadline(h.sc->s), TAPIR_TIME_NEVER);   /* persist timer */
    inject(&h, TCP_ACK, h.rcv_nxt, h.snd_nxt, 65535, 0);
    uint32_t bytes = 0;
    struct tcp_script_out o;
    while (tcp_script_next(h.sc, &o)) {
        ck_assert_uint_eq(o.seg.seq, h.snd_nxt + bytes);
        ck_assert_uint_le(o.seg.len, 1460);
        bytes += o.seg.len;
    }
    /* Slow start limits the first flight; it is all within the window. */
    ck_assert_uint_gt(bytes, 0);
    ck_assert_uint_le(bytes, 65535);
    finish(&h);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tcp_sim_hostile");
    TCase *tc = tcase_create("rfc9293_3_10_7");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, no_connection_every_flag_combination_gets_the_rst_of_3_10_7_1);
    tcase_add_test(tc, listen_every_flag_combination_gets_the_answer_of_3_10_7_2);
    tcase_add_test(tc, syn_sent_every_flag_combination_gets_the_answer_of_3_10_7_3);
    tcase_add_loop_test(tc, synchronized_out_of_window_gets_ack_unless_rst, 0, NSYNC);
    tcase_add_loop_test(tc, synchronized_rst_with_exact_seq_resets_except_time_wait, 0, NSYNC);
    tcase_add_loop_test(tc, synchronized_rst_in_window_not_exact_gets_challenge_ack, 0, NSYNC);
    tcase_add_loop_test(tc, synchronized_syn_gets_challenge_ack_or_returns_syn_received_to_listen, 0, NSYNC);
    tcase_add_loop_test(tc, synchronized_segment_without_ack_is_dropped, 0, NSYNC);
    tcase_add_loop_test(tc, synchronized_ack_of_unsent_data_gets_ack_or_rst_in_syn_received, 0, NSYNC);
    tcase_add_loop_test(tc, synchronized_ack_older_than_the_window_gets_challenge_ack, 0, NSYNC);
    tcase_add_loop_test(tc, malformed_headers_are_dropped_and_counted_in_every_state, 0,
                        (int)(sizeof every_state / sizeof every_state[0]));
    tcase_add_test(tc, zero_then_maximum_window_from_the_peer);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
