/* Offloads: the virtio-net header (parse/build), GSO input (a 64 KiB TCP
 * segment with a partial checksum is accepted and delivered intact; a bad
 * checksum without an offload flag is still dropped) and TSO output (one
 * large frame with gso_size = MSS and a partial checksum holding the
 * pseudo-header sum, which segmented in software gives valid wire
 * segments), with slow start counting the bytes a large frame covered. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/checksum.h"
#include "core/ipv4.h"
#include "core/stack.h"
#include "core/tcp_conn.h"
#include "core/tcp_wire.h"
#include "core/wire.h"
#include "dev/vnet_hdr.h"
#include "tcp_script.h"
#include "harness.h"

#define PEER_ISS 1000u

static uint8_t pattern[128 * 1024];

static void fill_pattern(void)
{
    for (size_t i = 0; i < sizeof pattern; i++)
        pattern[i] = (uint8_t)(i * 7 + (i >> 9));
}

/* ---- virtio-net header ---------------------------------------------------- */

START_TEST(vnet_header_build_then_parse_round_trips_gso_and_partial_checksum)
{
    uint8_t frame[14 + 20 + 32 + 100];
    memset(frame, 0, sizeof frame);
    frame[14 + 20 + 12] = 8 << 4;            /* TCP data offset: 32 bytes */
    struct tapir_frame_meta m = {.gso_size = 1448, .gso_type = TAPIR_GSO_TCPV4,
                                 .csum_partial = true, .csum_start = 34, .csum_offset = 16};
    uint8_t h[VNET_HDR_LEN];
    vnet_hdr_build(h, frame, sizeof frame, &m);
    /* struct virtio_net_hdr, little-endian fields. */
    ck_assert_uint_eq(h[0], VNET_F_NEEDS_CSUM);
    ck_assert_uint_eq(h[1], VNET_GSO_TCPV4);
    ck_assert_uint_eq(h[2] | (h[3] << 8), 14 + 20 + 32);    /* hdr_len */
    ck_assert_uint_eq(h[4] | (h[5] << 8), 1448);
    ck_assert_uint_eq(h[6] | (h[7] << 8), 34);
    ck_assert_uint_eq(h[8] | (h[9] << 8), 16);
    struct tapir_frame_meta back;
    ck_assert_int_eq(vnet_hdr_parse(h, sizeof frame, &back), 0);
    ck_assert_uint_eq(back.gso_size, 1448);
    ck_assert_uint_eq(back.gso_type, TAPIR_GSO_TCPV4);
    ck_assert(back.csum_partial);
    ck_assert_uint_eq(back.csum_start, 34);
    ck_assert_uint_eq(back.csum_offset, 16);
    ck_assert(!back.csum_valid);

    /* No metadata: an all-zero header. */
    vnet_hdr_build(h, frame, sizeof frame, NULL);
    for (int i = 0; i < VNET_HDR_LEN; i++)
        ck_assert_uint_eq(h[i], 0);
    ck_assert_int_eq(vnet_hdr_parse(h, sizeof frame, &back), 0);
    ck_assert(!back.csum_partial && back.gso_type == TAPIR_GSO_NONE && back.gso_size == 0);
}
END_TEST

START_TEST(vnet_header_parse_refuses_unrequested_gso_and_checksum_outside_frame)
{
    struct tapir_frame_meta m;
    uint8_t h[VNET_HDR_LEN] = {VNET_F_DATA_VALID, 0};
    ck_assert_int_eq(vnet_hdr_parse(h, 60, &m), 0);
    ck_assert(m.csum_valid);
    h[1] = 3;                                /* VIRTIO_NET_HDR_GSO_UDP */
    ck_assert_int_lt(vnet_hdr_parse(h, 60, &m), 0);
    h[1] = VNET_GSO_TCPV4 | VNET_GSO_ECN;    /* ECN was not asked for */
    ck_assert_int_lt(vnet_hdr_parse(h, 60, &m), 0);
    uint8_t h2[VNET_HDR_LEN] = {VNET_F_NEEDS_CSUM, 0, 0, 0, 0, 0, 50, 0, 16, 0};
    ck_assert_int_lt(vnet_hdr_parse(h2, 60, &m), 0);  /* 50 + 16 + 2 > 60 */
    ck_assert_int_eq(vnet_hdr_parse(h2, 68, &m), 0);
}
END_TEST

/* ---- GSO input ------------------------------------------------------------ */

enum peer_csum { CSUM_FULL, CSUM_PARTIAL, CSUM_BAD };

/* An IPv4+TCP packet from the script's peer (IP link: no Ethernet header),
 * with the checksum complete, left partial (pseudo-header sum only) or wrong. */
static size_t build_peer_segment(struct tcp_script *sc, uint8_t *pkt, uint32_t seq, uint32_t ack,
                                 const uint8_t *data, size_t len, enum peer_csum how)
{
    size_t tcp_len = TCP_HDR_LEN + len;
    memset(pkt, 0, IPV4_HDR_LEN + TCP_HDR_LEN);
    pkt[0] = 0x45;
    put_be16(pkt + 2, (uint16_t)(IPV4_HDR_LEN + tcp_len));
    put_be16(pkt + 4, 0x1234);
    put_be16(pkt + 6, 0x4000);
    pkt[8] = 64;
    pkt[9] = IPPROTO_TCP_NUM;
    put_be32(pkt + 12, TCP_SCRIPT_PEER_IP);
    put_be32(pkt + 16, TCP_SCRIPT_US_IP);
    put_be16(pkt + 10, csum_compute(pkt, IPV4_HDR_LEN));
    uint8_t *t = pkt + IPV4_HDR_LEN;
    put_be16(t, sc->peer_port);
    put_be16(t + 2, sc->local_port);
    put_be32(t + 4, seq);
    put_be32(t + 8, ack);
    t[12] = 5 << 4;
    t[13] = TCP_ACK | TCP_PSH;
    put_be16(t + 14, 65535);
    memcpy(t + TCP_HDR_LEN, data, len);
    uint32_t pseudo = csum_pseudo_ipv4(TCP_SCRIPT_PEER_IP, TCP_SCRIPT_US_IP, IPPROTO_TCP_NUM,
                                       (uint16_t)tcp_len);
    if (how == CSUM_PARTIAL) {
        put_be16(t + 16, (uint16_t)~csum_fold(pseudo));
    } else {
        uint16_t c = csum_fold(csum_partial(t, tcp_len, pseudo));
        put_be16(t + 16, how == CSUM_BAD ? (uint16_t)(c ^ 0x0101) : c);
    }
    return IPV4_HDR_LEN + tcp_len;
}

START_TEST(core_accepts_a_64k_gso_segment_with_partial_checksum_and_delivers_it_intact)
{
    fill_pattern();
    struct tcp_script *sc = tcp_script_new(NULL);
    struct tcp_conn *c = tcp_script_passive_open(sc, PEER_ISS, NULL);
    tcp_script_flush(sc);
    /* The window the stack offered (unscaled, 65535) holds 65000 bytes:
     * far above its MSS (1460) and the MTU. */
    const size_t n = 65000;
    static uint8_t pkt[65535];
    size_t plen = build_peer_segment(sc, pkt, sc->peer_nxt, sc->our_nxt, pattern, n, CSUM_PARTIAL);
    ck_assert_uint_gt(plen, sc->s->mtu);
    struct tapir_frame_meta m = {.gso_size = 1448, .gso_type = TAPIR_GSO_TCPV4, .csum_partial = true,
                                 .csum_start = IPV4_HDR_LEN, .csum_offset = 16};
    tapir_stack_input_meta(sc->s, pkt, plen, sc->now, &m);
    struct tapir_stats st;
    tapir_stack_get_stats(sc->s, &st);
    ck_assert_uint_eq(st.tcp_gso_rx, 1);
    ck_assert_uint_eq(st.drops_total, 0);
    static uint8_t got[65535];
    ck_assert_int_eq(tcp_recv(c, got, sizeof got, false), (long)n);
    ck_assert_int_eq(memcmp(got, pattern, n), 0);
    /* And it is acknowledged whole at once (more than two segments). */
    struct tcp_script_out o;
    tcp_script_expect(sc, TCP_ACK, sc->our_nxt, sc->peer_nxt + (uint32_t)n, &o);
    sc->peer_nxt += (uint32_t)n;
    tcp_script_close_cleanly(sc, c);
    tcp_script_free_checked(sc);
}
END_TEST

START_TEST(core_drops_a_bad_or_partial_checksum_unless_an_offload_flag_vouches)
{
    fill_pattern();
    struct tcp_script *sc = tcp_script_new(NULL);
    struct tcp_conn *c = tcp_script_passive_open(sc, PEER_ISS, NULL);
    tcp_script_flush(sc);
    uint8_t pkt[IPV4_HDR_LEN + TCP_HDR_LEN + 1000];
    struct tapir_stats st;

    /* Wrong checksum, no metadata; then with metadata that vouches for nothing. */
    size_t plen = build_peer_segment(sc, pkt, sc->peer_nxt, sc->our_nxt, pattern, 1000, CSUM_BAD);
    tapir_stack_input(sc->s, pkt, plen, sc->now);
    struct tapir_frame_meta none = {0};
    tapir_stack_input_meta(sc->s, pkt, plen, sc->now, &none);
    /* A partial checksum (pseudo-header only) without the flag saying so. */
    plen = build_peer_segment(sc, pkt, sc->peer_nxt, sc->our_nxt, pattern, 1000, CSUM_PARTIAL);
    tapir_stack_input(sc->s, pkt, plen, sc->now);
    tapir_stack_get_stats(sc->s, &st);
    ck_assert_uint_eq(st.drops[TAPIR_DROP_TCP_BAD_CHECKSUM], 3);
    uint8_t got[2000];
    ck_assert_int_eq(tcp_recv(c, got, sizeof got, false), -EAGAIN);

    /* DATA_VALID: the kernel verified it; the same bytes now count. */
    plen = build_peer_segment(sc, pkt, sc->peer_nxt, sc->our_nxt, pattern, 1000, CSUM_FULL);
    struct tapir_frame_meta valid = {.csum_valid = true};
    tapir_stack_input_meta(sc->s, pkt, plen, sc->now, &valid);
    ck_assert_int_eq(tcp_recv(c, got, sizeof got, false), 1000);
    ck_assert_int_eq(memcmp(got, pattern, 1000), 0);
    tapir_stack_get_stats(sc->s, &st);
    ck_assert_uint_eq(st.drops[TAPIR_DROP_TCP_BAD_CHECKSUM], 3);
    tcp_script_advance(sc, TAPIR_SEC(1));   /* the delayed ACK */
    sc->peer_nxt += 1000;
    tcp_script_close_cleanly(sc, c);
    tcp_script_free_checked(sc);
}
END_TEST

/* ---- TSO output ----------------------------------------------------------- */

#define MAX_FRAMES 16
struct captured {
    uint8_t *frame[MAX_FRAMES];
    size_t len[MAX_FRAMES];
    struct tapir_frame_meta meta[MAX_FRAMES];
    size_t n;
};

static int capture_meta(void *ctx, const uint8_t *frame, size_t len, const struct tapir_frame_meta *meta)
{
    struct captured *cap = ctx;
    ck_assert_uint_lt(cap->n, MAX_FRAMES);
    cap->frame[cap->n] = malloc(len);
    ck_assert_ptr_nonnull(cap->frame[cap->n]);
    memcpy(cap->frame[cap->n], frame, len);
    cap->len[cap->n] = len;
    cap->meta[cap->n] = *meta;
    cap->n++;
    return 0;
}

static void captured_free(struct captured *cap)
{
    for (size_t i = 0; i < cap->n; i++)
        free(cap->frame[i]);
    cap->n = 0;
}

/* Do what the device does with a TSO frame (IP link: it starts with the
 * IPv4 header): cut the payload into gso_size pieces, give each a copy of
 * the headers with its own total length, ID (+1 each), sequence number and
 * flags (FIN/PSH only on the last), and complete each checksum from the
 * pseudo-header sum for its length. Each segment must then parse as a valid
 * IPv4 packet and TCP segment (checksums verified) carrying pattern bytes
 * from stream offset *stream_off on. Returns the number of segments. */
static unsigned segment_and_check(const uint8_t *f, size_t len, const struct tapir_frame_meta *m,
                                  uint32_t seq0, size_t *stream_off)
{
    size_t ihl = (size_t)(f[0] & 0x0f) * 4;
    size_t thl = (size_t)(f[ihl + 12] >> 4) * 4;
    size_t hdrs = ihl + thl;
    size_t payload = len - hdrs;
    uint16_t id0 = get_be16(f + 4);
    uint32_t seq = get_be32(f + ihl + 4);
    ck_assert_uint_eq(seq, seq0 + (uint32_t)*stream_off);
    uint8_t flags = f[ihl + 13];
    unsigned nseg = 0;
    for (size_t off = 0; off < payload; off += m->gso_size, nseg++) {
        size_t n = payload - off < m->gso_size ? payload - off : m->gso_size;
        uint8_t seg[1600];
        ck_assert_uint_le(hdrs + n, sizeof seg);
        memcpy(seg, f, hdrs);
        memcpy(seg + hdrs, f + hdrs + off, n);
        put_be16(seg + 2, (uint16_t)(hdrs + n));
        put_be16(seg + 4, (uint16_t)(id0 + nseg));
        put_be16(seg + 10, 0);
        put_be16(seg + 10, csum_compute(seg, ihl));
        uint8_t *t = seg + ihl;
        put_be32(t + 4, seq + (uint32_t)off);
        if (off + n < payload)
            t[13] = (uint8_t)(flags & ~(TCP_FIN | TCP_PSH));
        uint32_t pseudo = csum_pseudo_ipv4(get_be32(seg + 12), get_be32(seg + 16), IPPROTO_TCP_NUM,
                                           (uint16_t)(thl + n));
        put_be16(t + 16, (uint16_t)~csum_fold(pseudo));
        put_be16(t + 16, csum_compute(t, thl + n));    /* the device completes it */

        struct ipv4_repr ip;
        enum tapir_drop_reason why;
        ck_assert_int_eq(ipv4_parse(seg, hdrs + n, &ip, &why), 0);
        ck_assert(ip.df);
        ck_assert_uint_le(ip.total_len, 1500);
        struct tcp_seg g;
        ck_assert_int_eq(tcp_parse(seg + ihl, thl + n, ip.src, ip.dst, &g, &why), 0);
        ck_assert_uint_eq(g.len, n);
        ck_assert_int_eq(memcmp(g.data, pattern + *stream_off, n), 0);
        *stream_off += n;
    }
    return nseg;
}

START_TEST(tso_output_is_one_large_frame_with_gso_size_and_partial_checksum_that_segments_validly)
{
    fill_pattern();
    struct tcp_script *sc = tcp_script_new(NULL);
    struct tcp_conn *c = tcp_script_passive_open(sc, PEER_ISS, NULL);
    tcp_script_flush(sc);
    /* A fixed send buffer (as SO_SNDBUF): 100000 bytes queue at once. */
    ck_assert_int_eq(tcp_set_bufsizes(c, 256 * 1024, 0), 0);
    struct captured cap = {.n = 0};
    ck_assert_int_eq(tapir_stack_set_output_meta(sc->s, capture_meta, &cap,
                                                 TAPIR_OFFLOAD_CSUM | TAPIR_OFFLOAD_TSO4), 0);
    struct tapir_tcp_info info;
    tcp_get_info(c, &info);
    uint32_t mss = info.snd_mss, cwnd0 = info.cwnd;
    ck_assert_uint_eq(mss, 1460);
    ck_assert_uint_ge(cwnd0, 2 * mss);        /* the initial window (RFC 5681 3.1) */

    ck_assert_int_eq(tcp_send(c, pattern, 100000), 100000);
    /* cwnd allows cwnd0 bytes: one TSO frame of whole segments. */
    ck_assert_uint_eq(cap.n, 1);
    const struct tapir_frame_meta *m = &cap.meta[0];
    ck_assert_uint_eq(m->gso_type, TAPIR_GSO_TCPV4);
    ck_assert_uint_eq(m->gso_size, mss);
    ck_assert(m->csum_partial);
    ck_assert_uint_eq(m->csum_start, IPV4_HDR_LEN);      /* IP link: the TCP header's offset */
    ck_assert_uint_eq(m->csum_offset, 16);
    size_t len = cap.len[0];
    const uint8_t *f = cap.frame[0];
    ck_assert_uint_eq(len, IPV4_HDR_LEN + TCP_HDR_LEN + (cwnd0 / mss) * mss);
    ck_assert_uint_eq(get_be16(f + 2), len);
    /* The checksum field holds the pseudo-header sum over the whole TCP
     * length: completing it over [csum_start, end) gives a valid segment. */
    static uint8_t whole[65535];
    memcpy(whole, f, len);
    uint8_t *t = whole + m->csum_start;
    uint32_t pseudo = csum_pseudo_ipv4(TCP_SCRIPT_US_IP, TCP_SCRIPT_PEER_IP, IPPROTO_TCP_NUM,
                                       (uint16_t)(len - IPV4_HDR_LEN));
    ck_assert_uint_eq(get_be16(t + m->csum_offset), (uint16_t)~csum_fold(pseudo));
    put_be16(t + m->csum_offset, csum_compute(t, len - m->csum_start));
    struct tcp_seg g;
    enum tapir_drop_reason why;
    ck_assert_int_eq(tcp_parse(t, len - IPV4_HDR_LEN, TCP_SCRIPT_US_IP, TCP_SCRIPT_PEER_IP, &g, &why), 0);

    size_t stream_off = 0;
    unsigned nseg = segment_and_check(f, len, m, sc->our_nxt, &stream_off);
    ck_assert_uint_eq(nseg, cwnd0 / mss);
    uint16_t id_first = get_be16(f + 4);
    struct tapir_stats st;
    tapir_stack_get_stats(sc->s, &st);
    ck_assert_uint_eq(st.tcp_tso_tx, 1);
    captured_free(&cap);

    /* One ACK for the whole frame: slow start counts the bytes it covered
     * (not one SMSS), so cwnd doubles and so does the next frame. */
    sc->now += TAPIR_MSEC(1);
    tcp_script_send(sc, TCP_ACK, sc->peer_nxt, sc->our_nxt + (uint32_t)stream_off, 0, NULL, 0);
    tcp_get_info(c, &info);
    ck_assert_uint_eq(info.cwnd, cwnd0 + (uint32_t)stream_off);
    ck_assert_uint_ge(cap.n, 1);
    ck_assert_uint_eq(cap.meta[0].gso_size, mss);
    /* The device used one ID per segment: the next frame's ID follows them. */
    ck_assert_uint_eq(get_be16(cap.frame[0] + 4), (uint16_t)(id_first + nseg));
    size_t off2 = stream_off;
    unsigned nseg2 = 0;
    for (size_t i = 0; i < cap.n; i++)
        nseg2 += segment_and_check(cap.frame[i], cap.len[i], &cap.meta[i], sc->our_nxt, &off2);
    uint32_t expect = ((cwnd0 + (uint32_t)stream_off) / mss) * mss;
    ck_assert_uint_ge(expect, 2 * stream_off);
    ck_assert_uint_eq(off2 - stream_off, expect);
    ck_assert_uint_eq(nseg2, expect / mss);
    tcp_abort(c);                            /* its RST is captured too */
    captured_free(&cap);
    tcp_script_free(sc);
}
END_TEST

START_TEST(checksum_offload_without_tso_sends_mss_frames_with_partial_checksums)
{
    fill_pattern();
    struct tcp_script *sc = tcp_script_new(NULL);
    struct tcp_conn *c = tcp_script_passive_open(sc, PEER_ISS, NULL);
    tcp_script_flush(sc);
    struct captured cap = {.n = 0};
    ck_assert_int_eq(tapir_stack_set_output_meta(sc->s, capture_meta, &cap, TAPIR_OFFLOAD_CSUM), 0);
    ck_assert_int_eq(tcp_send(c, pattern, 2920), 2920);
    ck_assert_uint_eq(cap.n, 2);
    size_t off = 0;
    for (size_t i = 0; i < cap.n; i++) {
        ck_assert_uint_eq(cap.meta[i].gso_type, TAPIR_GSO_NONE);
        ck_assert(cap.meta[i].csum_partial);
        ck_assert_uint_le(cap.len[i], 1500);
        struct tapir_frame_meta as_one = cap.meta[i];
        as_one.gso_size = 1460;
        segment_and_check(cap.frame[i], cap.len[i], &as_one, sc->our_nxt, &off);
    }
    ck_assert_uint_eq(off, 2920);
    tcp_abort(c);                            /* its RST is captured too */
    captured_free(&cap);
    tcp_script_free(sc);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("vnet");
    TCase *t = tcase_create("vnet");
    tcase_add_test(t, vnet_header_build_then_parse_round_trips_gso_and_partial_checksum);
    tcase_add_test(t, vnet_header_parse_refuses_unrequested_gso_and_checksum_outside_frame);
    tcase_add_test(t, core_accepts_a_64k_gso_segment_with_partial_checksum_and_delivers_it_intact);
    tcase_add_test(t, core_drops_a_bad_or_partial_checksum_unless_an_offload_flag_vouches);
    tcase_add_test(t, tso_output_is_one_large_frame_with_gso_size_and_partial_checksum_that_segments_validly);
    tcase_add_test(t, checksum_offload_without_tso_sends_mss_frames_with_partial_checksums);
    suite_add_tcase(s, t);
    return harness_run(s);
}
