/* The fused copy + checksum paths of TCP (csum_copy):
 *  - send: a segment's payload is summed while it is copied out of the send
 *    ring; when the ring wraps at an odd position inside a segment, the
 *    second part's sum must be byte-swapped (RFC 1071 2 (B)). Two stacks
 *    over a clean vlink: the receiver must count no checksum drop, nothing
 *    may be retransmitted, and the data must arrive exactly.
 *  - receive: in-order payload is summed while it is copied into the
 *    receive ring's free space; the same checks with a receive ring that
 *    wraps at odd positions.
 *  - receive, bad checksum: an in-order segment whose checksum is wrong is
 *    dropped and counted, the receive ring is unchanged (the application
 *    reads nothing of it), and the good retransmission is delivered. */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/checksum.h"
#include "core/ipv4.h"
#include "core/tcp_conn.h"
#include "core/wire.h"
#include "harness.h"
#include "tcp_script.h"
#include "tcpsim.h"

#define PORT 5003
#define SEND_KEY 17
#define RING 4096u              /* the smallest ring: it wraps often */

/* ---- two stacks ---------------------------------------------------------- */

struct wrap_run {
    struct tcpsim_pair p;
    struct tcp_conn *listener, *tx, *rx;
    uint64_t first_chunk;       /* phase 1: this many bytes, all acknowledged... */
    uint64_t total;             /* ...then the rest in even chunks */
    uint64_t sent;
    bool phase2;
    size_t read_chunk;          /* the receiver reads at most this much at once */
    uint64_t received;
    bool mismatch, eof;
    uint64_t odd_send_wraps;    /* instants with sent data across the send ring's end, odd split */
    uint64_t odd_recv_wraps;    /* the same in the receive ring */
    int error;
    uint64_t frames_out, bad_frames_out;  /* A's TCP frames, and those with a wrong checksum */
};

/* RFC 1071 4.1 word by word, independent of csum_partial / csum_copy. */
static uint16_t reference_tcp_checksum(const uint8_t *ip, size_t len)
{
    size_t ihl = (size_t)(ip[0] & 0x0f) * 4;
    size_t tot = ((size_t)ip[2] << 8) | ip[3];
    ck_assert_uint_le(tot, len);
    size_t tlen = tot - ihl;
    uint64_t acc = 0;
    for (size_t i = 0; i < 8; i += 2)           /* source and destination addresses */
        acc += ((uint32_t)ip[12 + i] << 8) | ip[13 + i];
    acc += ip[9];
    acc += tlen;
    const uint8_t *t = ip + ihl;
    for (size_t i = 0; i < tlen; i++)
        acc += (i & 1) ? t[i] : (uint32_t)t[i] << 8;
    while (acc >> 16)
        acc = (acc & 0xffff) + (acc >> 16);
    return (uint16_t)~acc;      /* 0 for a correct segment */
}

/* A's output: every TCP frame is checked by the reference before it goes
 * on the link, so a wrong sum is caught even if the receiver's own
 * verification made the same mistake. */
static int checked_output(void *ctx, const uint8_t *frame, size_t len)
{
    struct wrap_run *r = ctx;
    if (len >= 20 && frame[9] == IPPROTO_TCP_NUM) {
        r->frames_out++;
        if (reference_tcp_checksum(frame, len) != 0)
            r->bad_frames_out++;
    }
    return tapir_dev_send(r->p.a.end, frame, len);
}

static void send_some(struct wrap_run *r)
{
    uint8_t chunk[2048];
    uint64_t limit = r->phase2 ? r->total : r->first_chunk;
    while (r->sent < limit) {
        uint64_t left = limit - r->sent;
        size_t n = left < sizeof chunk ? (size_t)left : sizeof chunk;
        tcpsim_pattern_fill(SEND_KEY, r->sent, chunk, n);
        long k = tcp_send(r->tx, chunk, n);
        if (k < 0) {
            if (k != -EAGAIN)
                r->error = (int)k;
            return;
        }
        r->sent += (uint64_t)k;
        if ((size_t)k < n)
            return;
    }
}

static void read_some(struct wrap_run *r)
{
    uint8_t chunk[2048];
    for (;;) {
        long k = tcp_recv(r->rx, chunk, r->read_chunk, false);
        if (k == 0) {
            r->eof = true;
            return;
        }
        if (k < 0) {
            if (k != -EAGAIN)
                r->error = (int)k;
            return;
        }
        for (long i = 0; i < k; i++)
            if (chunk[i] != tcpsim_pattern_byte(SEND_KEY, r->received + (uint64_t)i))
                r->mismatch = true;
        r->received += (uint64_t)k;
    }
}

/* Logical offset at which the first n bytes of ring cross the end of its
 * storage (0: they do not). */
static uint32_t end_crossing(const struct tcp_ring *ring, uint32_t n)
{
    if (!ring->mem || n == 0)
        return 0;
    uint32_t first = ring->cap - ring->head;
    return n > first ? first : 0;
}

static bool wrap_step(struct sim *sim, void *ctx)
{
    (void)sim;
    struct wrap_run *r = ctx;
    tcpsim_sync(&r->p);
    if (r->listener && tcp_accept(r->listener, &r->rx) == 0) {
        tcp_close(r->listener);
        r->listener = NULL;
    }
    if (r->tx) {
        /* Phase 2 starts once phase 1 is acknowledged: the send ring's
         * head then sits at an odd position. */
        if (!r->phase2 && r->sent == r->first_chunk && r->tx->sndbuf.len == 0 && tcp_flight(r->tx) == 0)
            r->phase2 = true;
        send_some(r);
        /* In-flight bytes (sent in segments) that cross the ring's end at
         * an odd offset from snd_una. In phase 2 every segment boundary is
         * at an even offset from snd_una, so the wrap lies inside a
         * segment, whose first area then has an odd length. */
        uint32_t x = end_crossing(&r->tx->sndbuf, tcp_flight(r->tx));
        if (r->phase2 && (x & 1))
            r->odd_send_wraps++;
    }
    if (r->rx) {
        /* Received bytes crossing the ring's end at an even stream offset:
         * after the odd first chunk every segment starts at an odd stream
         * offset, so that segment was placed as two areas, the first of
         * odd length. */
        uint32_t x = end_crossing(&r->rx->rcvbuf, r->rx->rcvbuf.len);
        if (x && r->received >= r->first_chunk && ((r->received + x) & 1) == 0)
            r->odd_recv_wraps++;
        read_some(r);
    }
    if (r->tx && r->sent == r->total && r->phase2) {
        tcp_close(r->tx);
        r->tx = NULL;
    }
    return r->error || r->mismatch || r->eof;
}

static void small_rcvbuf(struct tapir_config *cfg)
{
    cfg->tcp_rcvbuf = RING;
}

/* Runs a transfer; send_ring: the sender's send ring is RING bytes. */
static void run_wrap(struct wrap_run *r, bool send_ring, void (*tweak)(struct tapir_config *))
{
    struct tapir_vlink_params vp;
    tapir_vlink_params_init(&vp);
    vp.seed = 5;
    vp.delay = TAPIR_MSEC(1);
    tcpsim_pair_start(&r->p, &vp, 77, tweak, NULL);
    tapir_stack_set_output(r->p.a.s, checked_output, r);
    int err;
    r->listener = tcp_conn_new(r->p.b.s, &err);
    r->tx = tcp_conn_new(r->p.a.s, &err);
    ck_assert_ptr_nonnull(r->listener);
    ck_assert_ptr_nonnull(r->tx);
    if (send_ring)
        ck_assert_int_eq(tcp_set_bufsizes(r->tx, RING, 0), 0);
    ck_assert_int_eq(tcp_bind(r->listener, 0, PORT), 0);
    ck_assert_int_eq(tcp_listen(r->listener, 4), 0);
    ck_assert_int_eq(tcp_connect(r->tx, TCPSIM_IP_B, PORT), -EINPROGRESS);
    bool done = sim_run_until(r->p.sim, wrap_step, r, sim_now(r->p.sim) + TAPIR_SEC(120));
    ck_assert_msg(done, "transfer did not finish: %" PRIu64 " of %" PRIu64 " received", r->received, r->total);
    ck_assert_int_eq(r->error, 0);
    ck_assert_msg(!r->mismatch, "received data differs from what was sent");
    ck_assert_uint_eq(r->received, r->total);
    ck_assert(r->eof);
    /* Every segment left with a right checksum (by the reference) and
     * was accepted at its first transmission. */
    ck_assert_uint_gt(r->frames_out, 0);
    ck_assert_uint_eq(r->bad_frames_out, 0);
    ck_assert_uint_eq(r->p.b.s->stats.drops[TAPIR_DROP_TCP_BAD_CHECKSUM], 0);
    ck_assert_uint_eq(r->p.a.s->stats.drops[TAPIR_DROP_TCP_BAD_CHECKSUM], 0);
    ck_assert_uint_eq(r->p.a.s->stats.tcp_retransmits, 0);
}

START_TEST(send_ring_wrapping_at_odd_offset_sums_right)
{
    struct wrap_run *r = calloc(1, sizeof *r);
    ck_assert_ptr_nonnull(r);
    r->first_chunk = 1001;          /* odd: the ring's head ends up odd */
    r->total = 1001 + 512 * 1024;
    r->read_chunk = 2048;
    run_wrap(r, true, NULL);
    /* Phase 2 writes even amounts and the segments are even, so every wrap
     * of sent data falls inside a segment at an odd offset. */
    ck_assert_msg(r->odd_send_wraps > 0, "no segment crossed the send ring's end at an odd offset");
    if (r->rx)
        tcp_close(r->rx);
    tcpsim_pair_free(&r->p);
    free(r);
}
END_TEST

START_TEST(receive_ring_wrapping_at_odd_offset_sums_right)
{
    struct wrap_run *r = calloc(1, sizeof *r);
    ck_assert_ptr_nonnull(r);
    r->first_chunk = 1001;          /* odd: later segments start at odd stream offsets */
    r->total = 1001 + 512 * 1024;
    r->read_chunk = 777;
    run_wrap(r, false, small_rcvbuf);
    ck_assert_msg(r->odd_recv_wraps > 0, "no received data crossed the receive ring's end at an odd offset");
    if (r->rx)
        tcp_close(r->rx);
    tcpsim_pair_free(&r->p);
    free(r);
}
END_TEST

/* ---- a scripted peer: a bad checksum on in-order data ------------------- */

/* A data segment from the peer with a correct checksum, then (corrupt)
 * one payload bit flipped after the checksum was computed. */
static void inject_data(struct tcp_script *sc, uint32_t seq, const uint8_t *data, size_t len, bool corrupt)
{
    uint8_t seg[TCP_HDR_LEN + 1500];
    ck_assert_uint_le(len, 1500);
    memset(seg, 0, TCP_HDR_LEN);
    put_be16(seg, sc->peer_port);
    put_be16(seg + 2, sc->local_port);
    put_be32(seg + 4, seq);
    put_be32(seg + 8, sc->our_nxt);
    seg[12] = (TCP_HDR_LEN / 4) << 4;
    seg[13] = TCP_ACK | TCP_PSH;
    put_be16(seg + 14, sc->peer_wnd);
    memcpy(seg + TCP_HDR_LEN, data, len);
    uint32_t sum = csum_pseudo_ipv4(TCP_SCRIPT_PEER_IP, TCP_SCRIPT_US_IP, IPPROTO_TCP_NUM,
                                    (uint16_t)(TCP_HDR_LEN + len));
    put_be16(seg + 16, csum_fold(csum_partial(seg, TCP_HDR_LEN + len, sum)));
    if (corrupt)
        seg[TCP_HDR_LEN + len / 2] ^= 0x10;
    tcp_script_inject_ip_payload(sc, seg, TCP_HDR_LEN + len);
}

START_TEST(bad_checksum_on_in_order_data_leaves_ring_unchanged)
{
    struct tcp_script *sc = tcp_script_new(NULL);
    struct tcp_conn *c = tcp_script_passive_open(sc, 1000, NULL);
    tcp_script_flush(sc);

    /* Some data first, left unread: the ring is allocated and holds it. */
    static const uint8_t first[] = "unread bytes.";
    const uint32_t nfirst = sizeof first - 1;       /* odd: the free space starts at an odd offset */
    inject_data(sc, sc->peer_nxt, first, nfirst, false);
    sc->peer_nxt += nfirst;
    ck_assert_uint_eq(c->rcvbuf.len, nfirst);
    tcp_script_flush(sc);

    uint8_t payload[1001];
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (uint8_t)(i * 7 + 3);
    uint64_t bad_before = sc->s->stats.drops[TAPIR_DROP_TCP_BAD_CHECKSUM];
    uint64_t rx_before = sc->s->stats.tcp_rx;
    uint32_t rcv_nxt = c->rcv_nxt;
    inject_data(sc, sc->peer_nxt, payload, sizeof payload, true);

    /* Dropped and counted; nothing committed, nothing answered. */
    ck_assert_uint_eq(sc->s->stats.drops[TAPIR_DROP_TCP_BAD_CHECKSUM], bad_before + 1);
    ck_assert_uint_eq(sc->s->stats.tcp_rx, rx_before);
    ck_assert_uint_eq(c->rcvbuf.len, nfirst);
    ck_assert_uint_eq(c->rcv_nxt, rcv_nxt);
    ck_assert_uint_eq(c->ooo_n, 0);
    ck_assert_ptr_null(c->rcvbuf.placed_src);
    tcp_script_expect_none(sc);
    /* The fused path was the one taken: the bad payload was copied into
     * the free space past the committed bytes (and left there, unused). */
    ck_assert_uint_eq(c->rcvbuf.mem[(c->rcvbuf.head + nfirst) % c->rcvbuf.cap], payload[0]);

    /* The application reads only the first data. */
    uint8_t got[2048];
    ck_assert_int_eq(tcp_recv(c, got, sizeof got, false), (long)nfirst);
    ck_assert(memcmp(got, first, nfirst) == 0);
    ck_assert_int_eq(tcp_recv(c, got, sizeof got, false), -EAGAIN);

    /* The good retransmission is delivered exactly (and acknowledged). */
    inject_data(sc, sc->peer_nxt, payload, sizeof payload, false);
    sc->peer_nxt += (uint32_t)sizeof payload;
    ck_assert_uint_eq(sc->s->stats.drops[TAPIR_DROP_TCP_BAD_CHECKSUM], bad_before + 1);
    ck_assert_int_eq(tcp_recv(c, got, sizeof got, false), (long)sizeof payload);
    ck_assert(memcmp(got, payload, sizeof payload) == 0);
    tcp_script_advance(sc, TAPIR_SEC(1));
    struct tcp_script_out o;
    bool acked = false;
    while (tcp_script_next(sc, &o))
        acked |= (o.seg.flags & TCP_ACK) && o.seg.ack == sc->peer_nxt;
    ck_assert(acked);
    tcp_script_close_cleanly(sc, c);
    tcp_script_free_checked(sc);
}
END_TEST

/* The same with the corrupt segment arriving while the ring is empty but
 * allocated, and a bad checksum in the header rather than the payload. */
START_TEST(bad_header_checksum_with_empty_ring_is_dropped)
{
    struct tcp_script *sc = tcp_script_new(NULL);
    struct tcp_conn *c = tcp_script_passive_open(sc, 5000, NULL);
    static const uint8_t warm[] = "xy";
    inject_data(sc, sc->peer_nxt, warm, 2, false);
    sc->peer_nxt += 2;
    uint8_t got[1500];
    ck_assert_int_eq(tcp_recv(c, got, sizeof got, false), 2);
    ck_assert_ptr_nonnull(c->rcvbuf.mem);
    tcp_script_flush(sc);

    uint8_t payload[1400];
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (uint8_t)(i ^ 0x5a);
    /* A wrong window field after the checksum was computed. */
    uint8_t seg[TCP_HDR_LEN + sizeof payload];
    memset(seg, 0, TCP_HDR_LEN);
    put_be16(seg, sc->peer_port);
    put_be16(seg + 2, sc->local_port);
    put_be32(seg + 4, sc->peer_nxt);
    put_be32(seg + 8, sc->our_nxt);
    seg[12] = (TCP_HDR_LEN / 4) << 4;
    seg[13] = TCP_ACK;
    put_be16(seg + 14, sc->peer_wnd);
    memcpy(seg + TCP_HDR_LEN, payload, sizeof payload);
    uint32_t sum = csum_pseudo_ipv4(TCP_SCRIPT_PEER_IP, TCP_SCRIPT_US_IP, IPPROTO_TCP_NUM, (uint16_t)sizeof seg);
    put_be16(seg + 16, csum_fold(csum_partial(seg, sizeof seg, sum)));
    seg[15] ^= 0x01;
    uint64_t bad_before = sc->s->stats.drops[TAPIR_DROP_TCP_BAD_CHECKSUM];
    tcp_script_inject_ip_payload(sc, seg, sizeof seg);
    ck_assert_uint_eq(sc->s->stats.drops[TAPIR_DROP_TCP_BAD_CHECKSUM], bad_before + 1);
    ck_assert_uint_eq(c->rcvbuf.len, 0);
    ck_assert_int_eq(tcp_recv(c, got, sizeof got, false), -EAGAIN);
    tcp_script_expect_none(sc);

    inject_data(sc, sc->peer_nxt, payload, sizeof payload, false);
    sc->peer_nxt += (uint32_t)sizeof payload;
    ck_assert_int_eq(tcp_recv(c, got, sizeof got, false), (long)sizeof payload);
    ck_assert(memcmp(got, payload, sizeof payload) == 0);
    tcp_script_advance(sc, TAPIR_SEC(1));
    tcp_script_flush(sc);
    tcp_script_close_cleanly(sc, c);
    tcp_script_free_checked(sc);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tcp_csum_fused");
    TCase *t = tcase_create("fused");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, send_ring_wrapping_at_odd_offset_sums_right);
    tcase_add_test(t, receive_ring_wrapping_at_odd_offset_sums_right);
    tcase_add_test(t, bad_checksum_on_in_order_data_leaves_ring_unchanged);
    tcase_add_test(t, bad_header_checksum_with_empty_ring_is_dropped);
    suite_add_tcase(s, t);
    return harness_run(s);
}
