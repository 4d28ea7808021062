/* TCP over an Ethernet link, where ARP stands between TCP and the wire.
 * One stack driven by hand on a virtual clock; the test plays the peer (or
 * gateway) frame by frame.
 * - RFC 9293 3.8.3 (b), MUST-20: after R1 = 3 retransmissions of the same
 *   segment TCP passes negative advice to IP (RFC 1122 3.3.1.4), which here
 *   makes ARP re-check the next hop of the connection (the peer on-link,
 *   the gateway off-link) with a fresh request -- once per series.
 * - A TSO frame (device offloads) for a next hop whose ARP entry expired
 *   cannot wait in ARP's queue (it lives in a scratch buffer): it is
 *   dropped and counted, resolution starts, and TCP's retransmission
 *   delivers every byte once the hop answers. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/arp.h"
#include "core/checksum.h"
#include "core/ipv4.h"
#include "core/stack.h"
#include "core/tcp.h"
#include "core/tcp_api.h"
#include "core/tcp_seq.h"
#include "core/tcp_wire.h"
#include "core/wire.h"
#include "net_frames.h"
#include "harness.h"

#define US_IP  0x0a000002u      /* 10.0.0.2 */
#define HOP_IP 0x0a000001u      /* 10.0.0.1: the peer, or the gateway */
#define FAR_IP 0x0a000105u      /* 10.0.1.5: off-link, behind the gateway */
#define PEER_ISS 0xfffff000u

static const uint8_t hop_mac[6] = {0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0x01};

struct rig {
    tapir_stack *s;
    uint8_t mac[6];
    tapir_time_t now;
    unsigned arp_requests;      /* ARP requests from the stack for HOP_IP */
    unsigned arp_other;         /* ARP requests for any other address */
    unsigned tcp_segs;          /* TCP segments sent */
    unsigned tcp_payload_segs;  /* ... with data or a SYN */
    unsigned tso_frames;        /* frames above one segment (output with TSO) */
    struct tcp_seg last;        /* the last TCP segment (data not kept) */
};

static struct rig rig;

static int on_frame(void *ctx, const uint8_t *f, size_t len)
{
    struct rig *r = ctx;
    if (len < 14)
        return 0;
    uint16_t type = get_be16(f + 12);
    if (type == 0x0806 && len >= 14 + 28) {
        const uint8_t *a = f + 14;
        uint32_t spa = get_be32(a + 14), tpa = get_be32(a + 24);
        if (get_be16(a + 6) == 1 && spa != tpa) {
            if (tpa == HOP_IP)
                r->arp_requests++;
            else
                r->arp_other++;
        }
        return 0;
    }
    if (type == 0x0800 && len >= 14 + 20) {
        const uint8_t *ip = f + 14;
        size_t ihl = (size_t)(ip[0] & 0x0f) * 4;
        size_t tot = get_be16(ip + 2);
        ck_assert_mem_eq(f, hop_mac, 6);     /* IPv4 goes to the next hop's MAC */
        if (ip[9] != 6 || tot > len - 14 || tot < ihl)
            return 0;
        struct tcp_seg g;
        enum tapir_drop_reason why;
        ck_assert_int_eq(tcp_parse(ip + ihl, tot - ihl, get_be32(ip + 12), get_be32(ip + 16), &g, &why), 0);
        r->tcp_segs++;
        if (g.len || (g.flags & TCP_SYN))
            r->tcp_payload_segs++;
        r->last = g;
        r->last.data = NULL;
    }
    return 0;
}

/* Output with offloads: complete a partial checksum the way the device
 * would (over the whole TCP length; the field holds the pseudo-header sum),
 * then look at the frame as above. */
static int on_frame_meta(void *ctx, const uint8_t *f, size_t len, const struct tapir_frame_meta *m)
{
    struct rig *r = ctx;
    static uint8_t copy[70000];
    ck_assert_uint_le(len, sizeof copy);
    memcpy(copy, f, len);
    if (m->csum_partial) {
        ck_assert_uint_lt((size_t)m->csum_start + m->csum_offset + 2, len);
        put_be16(copy + m->csum_start + m->csum_offset, csum_compute(copy + m->csum_start, len - m->csum_start));
    }
    if (m->gso_size && len > 14 + 1500)
        r->tso_frames++;
    return on_frame(ctx, copy, len);
}

static void rig_start(bool with_gateway)
{
    memset(&rig, 0, sizeof rig);
    struct tapir_config cfg;
    harness_config(&cfg, "10.0.0.2", TAPIR_LINK_ETHERNET);
    if (with_gateway)
        inet_pton(AF_INET, "10.0.0.1", &cfg.gateway);
    ck_assert_int_eq(tapir_stack_create(&cfg, &rig.s), 0);
    tapir_stack_set_output(rig.s, on_frame, &rig);
    tapir_stack_mac(rig.s, rig.mac);
    rig.now = TAPIR_SEC(1);
    tapir_stack_poll(rig.s, rig.now);     /* the stack's clock starts here */
}

static void rig_finish(struct tcp_conn *c)
{
    if (c)
        tcp_abort(c);
    for (int i = 0; i < 100 && tapir_stack_next_deadline(rig.s) != TAPIR_TIME_NEVER; i++) {
        rig.now += TAPIR_SEC(60);
        tapir_stack_poll(rig.s, rig.now);
    }
    ck_assert_uint_eq(rig.s->pool.in_use, 0);
    tapir_stack_destroy(rig.s);
}

static void inject(const uint8_t *frame, size_t len)
{
    tapir_stack_input(rig.s, frame, len, rig.now);
}

/* The next hop answers the stack's ARP request. */
static void hop_answers_arp(void)
{
    uint8_t arp[28], frame[64];
    net_arp_build(arp, 2, hop_mac, HOP_IP, rig.mac, US_IP);
    inject(frame, net_ether_wrap(frame, rig.mac, hop_mac, 0x0806, arp, sizeof arp));
}

/* A TCP segment from src:sport to us, through the next hop's MAC. */
static void send_tcp(uint32_t src, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags)
{
    uint8_t seg[20] = {0}, pkt[64], frame[96];
    put_be16(seg, sport);
    put_be16(seg + 2, dport);
    put_be32(seg + 4, seq);
    put_be32(seg + 8, ack);
    seg[12] = 5 << 4;
    seg[13] = flags;
    put_be16(seg + 14, 65535);
    put_be16(seg + 16, csum_fold(csum_partial(seg, sizeof seg, csum_pseudo_ipv4(src, US_IP, 6, sizeof seg))));
    struct net_ip_spec sp;
    net_ipv4_defaults(&sp, src, US_IP, 6);
    size_t n = net_ipv4_build(pkt, &sp, seg, sizeof seg);
    inject(frame, net_ether_wrap(frame, rig.mac, hop_mac, 0x0800, pkt, n));
}

/* Run timers up to the next retransmission timeout (and nothing past it). */
static void next_rto(void)
{
    uint64_t before = rig.s->stats.tcp_rto_expired;
    for (int i = 0; i < 100 && rig.s->stats.tcp_rto_expired == before; i++) {
        tapir_time_t d = tapir_stack_next_deadline(rig.s);
        ck_assert(d != TAPIR_TIME_NEVER);
        if (d > rig.now)
            rig.now = d;
        tapir_stack_poll(rig.s, rig.now);
    }
    ck_assert_uint_eq(rig.s->stats.tcp_rto_expired, before + 1);
}

/* An established connection to HOP_IP:80, the peer's MAC resolved. */
static struct tcp_conn *open_on_link(uint32_t *snd_nxt)
{
    int err;
    struct tcp_conn *c = tcp_conn_new(rig.s, &err);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(tcp_connect(c, HOP_IP, 80), -EINPROGRESS);
    ck_assert_uint_eq(rig.arp_requests, 1);
    hop_answers_arp();
    ck_assert_uint_eq(rig.tcp_segs, 1);
    ck_assert_uint_eq(rig.last.flags, TCP_SYN);
    uint32_t iss = rig.last.seq;
    uint16_t lport = rig.last.sport;
    rig.now += TAPIR_MSEC(10);
    send_tcp(HOP_IP, 80, lport, PEER_ISS, iss + 1, TCP_SYN | TCP_ACK);
    ck_assert_int_eq(tcp_state(c), TAPIR_TCP_ESTABLISHED);
    *snd_nxt = iss + 1;
    return c;
}

START_TEST(negative_advice_after_three_data_retransmissions)
{
    rig_start(false);
    uint32_t nxt;
    struct tcp_conn *c = open_on_link(&nxt);
    ck_assert_int_eq(tcp_send(c, "hello", 5), 5);
    ck_assert_uint_eq(rig.last.len, 5);
    unsigned arp_before = rig.arp_requests;
    /* The peer went silent. Retransmissions 1 and 2: the cached MAC is
     * trusted, no ARP. */
    for (int i = 1; i <= 2; i++) {
        unsigned segs = rig.tcp_payload_segs;
        next_rto();
        ck_assert_uint_eq(rig.tcp_payload_segs, segs + 1);
        ck_assert_uint_eq(rig.arp_requests, arp_before);
        ck_assert_uint_eq(rig.s->stats.tcp_negative_advice, 0);
    }
    /* Retransmission 3 reaches R1: a fresh ARP request for the peer, and
     * the retransmission itself still goes out (to the MAC known so far). */
    unsigned segs = rig.tcp_payload_segs;
    next_rto();
    ck_assert_uint_eq(rig.arp_requests, arp_before + 1);
    ck_assert_uint_eq(rig.tcp_payload_segs, segs + 1);
    ck_assert_uint_eq(rig.last.seq, nxt);
    ck_assert_uint_eq(rig.s->stats.tcp_negative_advice, 1);
    /* The peer's host is still there and answers: the entry is confirmed. */
    hop_answers_arp();
    uint8_t mac[6];
    ck_assert_int_eq(arp_cache_lookup(rig.s, HOP_IP, mac), 0);
    ck_assert_mem_eq(mac, hop_mac, 6);
    /* Later timeouts of the same series give no more advice. */
    unsigned arp_after = rig.arp_requests;
    for (int i = 4; i <= 6; i++)
        next_rto();
    ck_assert_uint_eq(rig.arp_requests, arp_after);
    ck_assert_uint_eq(rig.s->stats.tcp_negative_advice, 1);
    ck_assert_uint_eq(rig.arp_other, 0);
    rig_finish(c);
}
END_TEST

START_TEST(progress_starts_a_new_series)
{
    rig_start(false);
    uint32_t nxt;
    struct tcp_conn *c = open_on_link(&nxt);
    uint16_t lport = rig.last.sport;
    ck_assert_int_eq(tcp_send(c, "a", 1), 1);
    for (int i = 0; i < 3; i++)
        next_rto();
    ck_assert_uint_eq(rig.s->stats.tcp_negative_advice, 1);
    hop_answers_arp();
    /* The peer acknowledges: the next loss is a new series, with its own
     * advice after its own three retransmissions. */
    send_tcp(HOP_IP, 80, lport, PEER_ISS + 1, nxt + 1, TCP_ACK);
    ck_assert_int_eq(tcp_send(c, "b", 1), 1);
    for (int i = 0; i < 2; i++)
        next_rto();
    ck_assert_uint_eq(rig.s->stats.tcp_negative_advice, 1);
    next_rto();
    ck_assert_uint_eq(rig.s->stats.tcp_negative_advice, 2);
    rig_finish(c);
}
END_TEST

START_TEST(unanswered_advice_forgets_the_hop)
{
    rig_start(false);
    uint32_t nxt;
    struct tcp_conn *c = open_on_link(&nxt);
    ck_assert_int_eq(tcp_send(c, "hello", 5), 5);
    for (int i = 0; i < 3; i++)
        next_rto();
    /* Nobody answers the re-check: after cfg.arp_retries requests the
     * entry is gone ... */
    uint8_t mac[6];
    for (int i = 0; i < 100 && arp_cache_lookup(rig.s, HOP_IP, mac) == 0; i++) {
        rig.now = tapir_stack_next_deadline(rig.s);
        tapir_stack_poll(rig.s, rig.now);
    }
    ck_assert_int_eq(arp_cache_lookup(rig.s, HOP_IP, mac), -ENOENT);
    ck_assert_uint_eq(rig.arp_requests, 1 + rig.s->cfg.arp_retries);
    /* ... and the next retransmission resolves the hop afresh. */
    next_rto();
    ck_assert_uint_eq(rig.arp_requests, 2 + rig.s->cfg.arp_retries);
    rig_finish(c);
}
END_TEST

START_TEST(negative_advice_for_the_gateway_of_a_syn)
{
    /* Off-link: the next hop is the gateway, and SYN retransmissions are
     * handled the same way (RFC 9293 3.8.3: "in the general way"). */
    rig_start(true);
    ck_assert_uint_eq(ipv4_route(rig.s, FAR_IP), HOP_IP);
    int err;
    struct tcp_conn *c = tcp_conn_new(rig.s, &err);
    ck_assert_int_eq(tcp_connect(c, FAR_IP, 80), -EINPROGRESS);
    ck_assert_uint_eq(rig.arp_requests, 1);          /* for the gateway */
    hop_answers_arp();
    ck_assert_uint_eq(rig.last.flags, TCP_SYN);
    tapir_time_t t0 = rig.now;
    next_rto();
    next_rto();
    ck_assert_uint_eq(rig.arp_requests, 1);
    next_rto();                                       /* SYN retransmission 3, at 7 s */
    ck_assert_uint_eq(rig.now - t0, TAPIR_SEC(7));
    ck_assert_uint_eq(rig.arp_requests, 2);
    ck_assert_uint_eq(rig.arp_other, 0);              /* never for 10.0.1.5 itself */
    ck_assert_uint_eq(rig.s->stats.tcp_negative_advice, 1);
    ck_assert_int_eq(tcp_state(c), TAPIR_TCP_SYN_SENT);
    rig_finish(c);
}
END_TEST

START_TEST(no_advice_without_arp)
{
    /* An IP link (TUN) has no next-hop cache: the advice is counted, and
     * nothing else happens. */
    struct tapir_config cfg;
    harness_config(&cfg, "10.0.0.2", TAPIR_LINK_IP);
    tapir_stack *s;
    ck_assert_int_eq(tapir_stack_create(&cfg, &s), 0);
    ck_assert_int_eq(arp_negative_advice(s, HOP_IP), -ENOENT);
    tapir_stack_destroy(s);
}
END_TEST

START_TEST(tso_frame_for_an_expired_hop_is_dropped_then_resent)
{
    rig_start(false);
    ck_assert_int_eq(tapir_stack_set_output_meta(rig.s, on_frame_meta, &rig,
                                                 TAPIR_OFFLOAD_CSUM | TAPIR_OFFLOAD_TSO4), 0);
    uint32_t nxt;
    struct tcp_conn *c = open_on_link(&nxt);
    uint16_t lport = rig.last.sport;
    /* Idle past the ARP entry's lifetime, and the peer no longer answers
     * the re-check of an entry that was in use: the entry is gone. */
    tapir_time_t until = rig.now + rig.s->cfg.arp_entry_ttl + TAPIR_SEC(30);
    uint8_t mac[6];
    while (arp_cache_lookup(rig.s, HOP_IP, mac) == 0 && rig.now < until) {
        tapir_time_t d = tapir_stack_next_deadline(rig.s);
        rig.now = d < until ? d : until;
        tapir_stack_poll(rig.s, rig.now);
    }
    ck_assert_int_ne(arp_cache_lookup(rig.s, HOP_IP, mac), 0);
    unsigned arp_before = rig.arp_requests, segs_before = rig.tcp_segs;
    /* 60 000 bytes (within the initial send limit): the first flight is one
     * TSO frame, which finds no MAC. */
    static uint8_t data[60000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 13);
    ck_assert_int_eq(tcp_send(c, data, sizeof data), (long)sizeof data);
    ck_assert_uint_eq(rig.s->stats.drops[TAPIR_DROP_TSO_UNRESOLVED], 1);
    ck_assert_uint_eq(rig.tcp_segs, segs_before);          /* nothing reached the wire */
    ck_assert_uint_eq(rig.arp_requests, arp_before + 1);   /* resolution started */
    rig.now += TAPIR_MSEC(1);
    hop_answers_arp();
    /* The retransmission timer resends from the first byte; the peer then
     * acknowledges whatever arrives, in order, until all of it did. */
    next_rto();
    ck_assert_uint_eq(rig.last.seq, nxt);
    uint32_t acked = nxt;
    for (int round = 0; round < 200 && acked != nxt + (uint32_t)sizeof data; round++) {
        /* The stack sends in order and nothing is lost: acknowledging the
         * end of the last segment acknowledges all it sent. */
        uint32_t end = rig.last.seq + rig.last.len;
        ck_assert_msg(!seq_lt(end, acked), "sent up to %u, acknowledged %u", end, acked);
        acked = end;
        rig.now += TAPIR_MSEC(1);
        send_tcp(HOP_IP, 80, lport, PEER_ISS + 1, acked, TCP_ACK);
    }
    ck_assert_uint_eq(acked, nxt + (uint32_t)sizeof data);
    struct tapir_tcp_info info;
    tcp_get_info(c, &info);
    ck_assert_uint_eq(info.unacked, 0);
    ck_assert_uint_gt(rig.tso_frames, 0);                   /* TSO resumed once resolved */
    ck_assert_uint_eq(rig.s->stats.drops[TAPIR_DROP_TSO_UNRESOLVED], 1);
    rig_finish(c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tcp_ethernet");
    TCase *t = tcase_create("must20");
    tcase_add_test(t, negative_advice_after_three_data_retransmissions);
    tcase_add_test(t, progress_starts_a_new_series);
    tcase_add_test(t, unanswered_advice_forgets_the_hop);
    tcase_add_test(t, negative_advice_for_the_gateway_of_a_syn);
    tcase_add_test(t, no_advice_without_arp);
    tcase_add_test(t, tso_frame_for_an_expired_hop_is_dropped_then_resent);
    suite_add_tcase(s, t);
    return harness_run(s);
}
